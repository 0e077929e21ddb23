// Mapping (align_models) on small hand-built graphs: identical models, a target that computes part of
// the network channels-last, a target whose every value and node is renamed.
#include <gtest/gtest.h>

#include "graph_builder.h"
#include "localize/align.h"
#include "localize/diagnose.h"

using namespace transfix;
using namespace transfix::testing;

namespace {

const TensorPair* pair_of(const Alignment& al, const std::string& target) {
  for (const auto& p : al.pairs)
    if (p.target == target) return &p;
  return nullptr;
}

// relu1 of small_cnn computed in NHWC: conv1 -> Transpose(0,2,3,1) -> Relu -> Transpose(0,3,1,2) -> pool.
Model nhwc_relu_target(const Model& source) {
  Model t = source;
  auto& nodes = t.graph.nodes;
  auto it = std::find_if(nodes.begin(), nodes.end(), [](const Node& n) { return n.name == "relu1"; });
  Node& relu = *it;
  relu.inputs = {"conv1_nhwc"};
  relu.outputs = {"relu1_nhwc"};
  Node to_nhwc, to_nchw;
  to_nhwc.op_type = to_nchw.op_type = "Transpose";
  to_nhwc.name = "to_nhwc", to_nchw.name = "to_nchw";
  to_nhwc.inputs = {"conv1_out"}, to_nhwc.outputs = {"conv1_nhwc"};
  to_nchw.inputs = {"relu1_nhwc"}, to_nchw.outputs = {"relu1_out"};
  to_nhwc.attrs["perm"] = ints_attr({0, 2, 3, 1});
  to_nchw.attrs["perm"] = ints_attr({0, 3, 1, 2});
  const auto at = it - nodes.begin();
  nodes.insert(nodes.begin() + at + 1, to_nchw);
  nodes.insert(nodes.begin() + at, to_nhwc);
  GraphBuilder::fill_shapes(t);
  return t;
}

}  // namespace

TEST(AlignUnit, IdenticalModelsMapEveryValueCleanly) {
  Model s = small_cnn();
  auto in = random_input(s);
  SourceTrace trace = trace_source(s, in);
  Alignment al = align_models(s, s, trace, in);
  EXPECT_TRUE(al.crash.empty());
  // The input and every node output of the target are paired with the source value of the same name.
  ASSERT_EQ(al.pairs.size(), s.graph.nodes.size() + 1);
  EXPECT_EQ(al.pairs.front().target, "x");
  for (const auto& p : al.pairs) {
    EXPECT_EQ(p.target, p.source);
    EXPECT_TRUE(p.clean) << p.target << " error " << p.error << " threshold " << p.threshold;
    EXPECT_TRUE(p.transform.identity()) << p.target << ": " << p.transform.describe();
    EXPECT_LE(p.error, p.threshold);
  }
  EXPECT_EQ(al.source_tensors_mapped, al.source_tensors);
  EXPECT_EQ(al.source_nodes_covered, al.source_nodes);
  Diagnosis d = diagnose(s, s, trace, al);
  EXPECT_TRUE(d.faults.empty());
  EXPECT_TRUE(d.root_causes.empty());
}

TEST(AlignUnit, TraceHoldsTheFp64ValuesOfTheSource) {
  Model s = small_cnn();
  auto in = random_input(s);
  SourceTrace trace = trace_source(s, in);
  auto ref = run(s, in, Precision::kF64);
  ASSERT_TRUE(trace.index.count("y"));
  const Tensor& y = trace.value[static_cast<size_t>(trace.index.at("y"))];
  EXPECT_EQ(y.dtype(), DType::kF64);
  EXPECT_EQ(max_diff(y, ref.at("y")), 0.0);
  // The fp32 run's noise is measured and small but not zero at the output.
  const size_t yi = static_cast<size_t>(trace.index.at("y"));
  EXPECT_GT(trace.noise[yi], 0.0);
  EXPECT_LT(trace.noise[yi], 1e-5 * trace.scale[yi]);
  EXPECT_EQ(trace.producer[static_cast<size_t>(trace.index.at("x"))], -1);
  EXPECT_TRUE(trace.is_ancestor(trace.index.at("conv1_out"), trace.index.at("y")));
  EXPECT_FALSE(trace.is_ancestor(trace.index.at("y"), trace.index.at("conv1_out")));
}

TEST(AlignUnit, ChannelsLastSegmentMapsThroughTheLayoutTransform) {
  Model s = small_cnn();
  Model t = nhwc_relu_target(s);
  auto in = random_input(s);
  SourceTrace trace = trace_source(s, in);
  Alignment al = align_models(s, t, trace, in);
  EXPECT_TRUE(al.crash.empty());
  const TensorPair* relu = pair_of(al, "relu1_nhwc");
  ASSERT_NE(relu, nullptr);
  EXPECT_EQ(relu->source, "relu1_out");
  EXPECT_EQ(relu->transform.describe(), "NCHW->NHWC");
  EXPECT_TRUE(relu->clean);
  const TensorPair* back = pair_of(al, "relu1_out");
  ASSERT_NE(back, nullptr);
  EXPECT_EQ(back->source, "relu1_out");
  EXPECT_TRUE(back->transform.identity());
  for (const auto& p : al.pairs) EXPECT_TRUE(p.clean) << p.target;
  EXPECT_TRUE(diagnose(s, t, trace, al).faults.empty());
}

TEST(AlignUnit, RenamedValuesAndNodesStillMap) {
  Model s = small_cnn();
  Model t = s;
  auto rename = [](const std::string& v) { return v.empty() || v == "x" ? v : "converted/" + v; };
  for (auto& n : t.graph.nodes) {
    n.name = "op_" + n.name;
    for (auto& i : n.inputs) i = rename(i);
    for (auto& o : n.outputs) o = rename(o);
  }
  std::map<std::string, Tensor> inits;
  for (auto& [k, v] : t.graph.initializers) inits[rename(k)] = v;
  t.graph.initializers = inits;
  for (auto& o : t.graph.outputs) o.name = rename(o.name);
  GraphBuilder::fill_shapes(t);
  auto in = random_input(s);
  SourceTrace trace = trace_source(s, in);
  Alignment al = align_models(s, t, trace, in);
  ASSERT_EQ(al.pairs.size(), t.graph.nodes.size() + 1);
  for (const auto& p : al.pairs) {
    // Flatten holds exactly the values of the pooling before it: either is a correct counterpart
    // once names no longer tell them apart.
    if (p.target == "converted/flatten_out")
      EXPECT_TRUE(p.source == "flatten_out" || p.source == "gap_out") << p.source;
    else
      EXPECT_EQ(p.target, p.source == "x" ? "x" : "converted/" + p.source);
    EXPECT_TRUE(p.clean) << p.target;
  }
  EXPECT_EQ(al.target_to_source.at("converted/relu2_out"), "relu2_out");
}

TEST(AlignUnit, FaultyValueIsAnchoredAndItsSuccessorsAreForcedClean) {
  // conv2's pads moved to the end: conv2_out is the only unclean pair; relu2 after it, fed the
  // source's conv2 value, is clean again.
  Model s = small_cnn();
  Model t = s;
  node_named(t, "conv2").attrs["pads"] = ints_attr({0, 0, 2, 2});
  auto in = random_input(s);
  SourceTrace trace = trace_source(s, in);
  Alignment al = align_models(s, t, trace, in);
  std::vector<std::string> unclean;
  for (const auto& p : al.pairs)
    if (!p.clean) unclean.push_back(p.target);
  EXPECT_EQ(unclean, std::vector<std::string>{"conv2_out"});
  const TensorPair* c2 = pair_of(al, "conv2_out");
  ASSERT_NE(c2, nullptr);
  EXPECT_EQ(c2->source, "conv2_out");
  EXPECT_GT(c2->error, 100 * c2->threshold);
  ASSERT_EQ(c2->target_nodes.size(), 1u);
  EXPECT_EQ(node_name_at(t, c2->target_nodes[0]), "conv2");
  const TensorPair* r2 = pair_of(al, "relu2_out");
  ASSERT_NE(r2, nullptr);
  EXPECT_TRUE(r2->clean);
}
