// Attribution and each diagnosis stage on small hand-built graphs: a copy of the source with one
// fault each; the top fault must have the right category and kind and be pinned to the faulty op.
#include <gtest/gtest.h>

#include "graph_builder.h"
#include "localize/diagnose.h"
#include "localize/localize.h"
#include "mutate/mutate.h"

using namespace transfix;
using namespace transfix::testing;

namespace {

LocalizeResult localize_pair(const Model& s, const Model& t) {
  return localize_with_probe(s, t, probe_for(s, t), LocalizeOptions{});
}

bool has_finding(const Fault& f, Stage stage, const std::string& kind) {
  for (const auto& x : f.findings)
    if (x.stage == stage && x.kind.find(kind) != std::string::npos) return true;
  return false;
}

// The top fault: its category, kind (substring), the target op it is pinned to and a finding of `stage`.
void expect_top(const LocalizeResult& r, const Model& t, FaultCategory category, const std::string& kind,
                const std::string& target_node, Stage stage) {
  ASSERT_FALSE(r.diagnosis.faults.empty()) << "no fault found";
  const Fault& f = r.diagnosis.faults[0];
  EXPECT_EQ(to_string(f.category), to_string(category)) << f.summary;
  EXPECT_NE(f.kind.find(kind), std::string::npos) << "kind '" << f.kind << "', expected '" << kind << "'";
  EXPECT_EQ(node_name_at(t, f.target_node), target_node) << f.summary;
  EXPECT_TRUE(has_finding(f, stage, kind)) << f.summary;
}

Tensor& init_of(Model& m, const std::string& node, size_t input) {
  return m.graph.initializers.at(node_named(m, node).inputs.at(input));
}

// small_cnn with relu1 replaced by `op` (extra constant inputs and attributes as given).
Model with_activation(const std::string& op, std::vector<float> constants, std::map<std::string, Attribute> attrs) {
  Model m = small_cnn();
  Node& n = node_named(m, "relu1");
  n.op_type = op;
  n.attrs = std::move(attrs);
  for (size_t i = 0; i < constants.size(); ++i) {
    const std::string name = "relu1_c" + std::to_string(i);
    m.graph.initializers[name] = Tensor::scalar<float>(constants[i]);
    n.inputs.push_back(name);
  }
  GraphBuilder::fill_shapes(m);
  return m;
}

// x -> conv1 -> bn1 (small variances: epsilon matters) -> relu1 -> gap -> flatten -> fc -> y
Model bn_model() {
  GraphBuilder b;
  std::string x = b.input("x", {1, 3, 8, 8});
  x = b.conv("conv1", x, 3, 4, 3, 1);
  const std::string scale = b.initializer("bn1.scale", uniform_tensor(b.rng(), {4}, 0.5f, 1.5f));
  const std::string bias = b.weight("bn1.bias", {4}, 0.2f);
  const std::string mean = b.weight("bn1.mean", {4}, 0.1f);
  const std::string var = b.initializer("bn1.var", uniform_tensor(b.rng(), {4}, 0.002f, 0.01f));
  x = b.node("BatchNormalization", "bn1", {x, scale, bias, mean, var}, {{"epsilon", float_attr(1e-5)}});
  x = b.node("Relu", "relu1", {x});
  x = b.node("GlobalAveragePool", "gap", {x});
  x = b.node("Flatten", "flatten", {x});
  x = b.node("Gemm", "fc", {x, b.weight("fc.weight", {5, 4}, 0.5f), b.weight("fc.bias", {5}, 0.1f)},
             {{"transB", int_attr(1)}}, {"y"});
  b.output(x);
  return b.finish();
}

// x -> conv_a, conv_b -> sub = conv_a - conv_b -> relu -> gap -> flatten -> y
Model sub_model() {
  GraphBuilder b;
  std::string x = b.input("x", {1, 3, 8, 8});
  const std::string a = b.conv("conv_a", x, 3, 4, 3, 1), c = b.conv("conv_b", x, 3, 4, 3, 1);
  x = b.node("Sub", "sub", {a, c});
  x = b.node("Relu", "relu", {x});
  x = b.node("GlobalAveragePool", "gap", {x});
  x = b.node("Flatten", "flatten", {x}, {}, {"y"});
  b.output(x);
  return b.finish();
}

}  // namespace

TEST(DiagnoseUnit, CleanPairHasNoFault) {
  Model s = small_cnn();
  LocalizeResult r = localize_pair(s, s);
  EXPECT_TRUE(r.diagnosis.faults.empty());
  EXPECT_TRUE(r.diagnosis.root_causes.empty());
  for (const auto& p : r.alignment.pairs) EXPECT_TRUE(p.clean) << p.target;
}

// ---------------------------------------------------------------- hyperparameters

TEST(DiagnoseUnit, ConvPadsArePinnedToTheConvNotTheNextOp) {
  Model s = small_cnn();
  Model t = s;
  node_named(t, "conv2").attrs["pads"] = ints_attr({0, 0, 2, 2});
  LocalizeResult r = localize_pair(s, t);
  ASSERT_NO_FATAL_FAILURE(expect_top(r, t, FaultCategory::kHyperparameters, "pads", "conv2", Stage::kHyperparameters));
  ASSERT_EQ(r.diagnosis.faults.size(), 1u);
  const Fault& f = r.diagnosis.faults[0];
  EXPECT_EQ(node_name_at(s, f.source_node), "conv2");
  EXPECT_EQ(f.repair.action, RepairAction::kSetAttributes);
  EXPECT_EQ(f.repair.attributes.at("pads"), "[1,1,1,1]");
  EXPECT_EQ(f.target_attributes.at("pads"), "[0,0,2,2]");
}

TEST(DiagnoseUnit, MaxPoolCeilMode) {
  Model s = small_cnn();
  Model t = s;
  node_named(t, "pool").attrs["ceil_mode"] = int_attr(1);
  GraphBuilder::fill_shapes(t);  // 3x3 -> 4x4 downstream
  LocalizeResult r = localize_pair(s, t);
  ASSERT_NO_FATAL_FAILURE(expect_top(r, t, FaultCategory::kHyperparameters, "ceil_mode", "pool", Stage::kHyperparameters));
  EXPECT_EQ(r.diagnosis.faults[0].repair.attributes.at("ceil_mode"), "0");
}

TEST(DiagnoseUnit, BatchNormEpsilon) {
  Model s = bn_model();
  Model t = s;
  node_named(t, "bn1").attrs["epsilon"] = float_attr(1e-2);
  LocalizeResult r = localize_pair(s, t);
  ASSERT_NO_FATAL_FAILURE(expect_top(r, t, FaultCategory::kHyperparameters, "epsilon", "bn1", Stage::kHyperparameters));
  EXPECT_EQ(r.diagnosis.faults[0].repair.action, RepairAction::kSetAttributes);
}

TEST(DiagnoseUnit, ClipBounds) {
  Model s = with_activation("Clip", {-0.5f, 0.5f}, {});
  Model t = s;
  t.graph.initializers.at("relu1_c1") = Tensor::scalar<float>(0.25f);
  LocalizeResult r = localize_pair(s, t);
  ASSERT_NO_FATAL_FAILURE(expect_top(r, t, FaultCategory::kHyperparameters, "activation bounds", "relu1", Stage::kHyperparameters));
  EXPECT_EQ(r.diagnosis.faults[0].repair.attributes.at("activation"), "clip(-0.5, 0.5)");
}

TEST(DiagnoseUnit, LeakyReluAlpha) {
  Model s = with_activation("LeakyRelu", {}, {{"alpha", float_attr(0.1)}});
  Model t = s;
  node_named(t, "relu1").attrs["alpha"] = float_attr(0.3);
  LocalizeResult r = localize_pair(s, t);
  ASSERT_NO_FATAL_FAILURE(expect_top(r, t, FaultCategory::kHyperparameters, "activation bounds", "relu1", Stage::kHyperparameters));
}

// ---------------------------------------------------------------- parameters

TEST(DiagnoseUnit, WeightsRoundedToFloat16) {
  Model s = small_cnn();
  Model t = s;
  Tensor& w = init_of(t, "conv2", 1);
  w = w.cast(DType::kF16).cast(DType::kF32);
  LocalizeResult r = localize_pair(s, t);
  ASSERT_NO_FATAL_FAILURE(expect_top(r, t, FaultCategory::kParameters, "weights rounded to float16", "conv2", Stage::kParameters));
  EXPECT_EQ(r.diagnosis.faults[0].repair.action, RepairAction::kRestoreWeights);
}

TEST(DiagnoseUnit, BiasDropped) {
  Model s = small_cnn();
  Model t = s;
  node_named(t, "conv1").inputs.resize(2);
  LocalizeResult r = localize_pair(s, t);
  ASSERT_NO_FATAL_FAILURE(expect_top(r, t, FaultCategory::kParameters, "bias dropped", "conv1", Stage::kParameters));
}

TEST(DiagnoseUnit, KernelTransposed) {
  Model s = small_cnn();
  Model t = s;
  Tensor& w = init_of(t, "conv2", 1);
  Tensor nw = w.clone();
  const float* a = w.data<float>();
  float* b = nw.mutable_data<float>();
  for (int64_t oi = 0; oi < w.dim(0) * w.dim(1); ++oi)
    for (int64_t y = 0; y < 3; ++y)
      for (int64_t x = 0; x < 3; ++x) b[(oi * 3 + y) * 3 + x] = a[(oi * 3 + x) * 3 + y];
  w = nw;
  LocalizeResult r = localize_pair(s, t);
  ASSERT_NO_FATAL_FAILURE(expect_top(r, t, FaultCategory::kParameters, "kernel transposed", "conv2", Stage::kParameters));
}

TEST(DiagnoseUnit, WeightsRescaledPerOutputChannel) {
  Model s = small_cnn();
  Model t = s;
  Tensor& w = init_of(t, "conv2", 1);
  Tensor& bias = init_of(t, "conv2", 2);
  Tensor nw = w.clone(), nb = bias.clone();
  const int64_t per = w.numel() / w.dim(0);
  const float factors[] = {0.7f, 1.3f, 1.1f, 0.8f, 1.25f, 0.9f};
  for (int64_t o = 0; o < w.dim(0); ++o) {
    for (int64_t j = 0; j < per; ++j) nw.mutable_data<float>()[o * per + j] *= factors[o];
    nb.mutable_data<float>()[o] *= factors[o];
  }
  w = nw, bias = nb;
  LocalizeResult r = localize_pair(s, t);
  ASSERT_NO_FATAL_FAILURE(expect_top(r, t, FaultCategory::kParameters, "weights rescaled per output channel", "conv2", Stage::kParameters));
}

// ---------------------------------------------------------------- graph

TEST(DiagnoseUnit, DroppedActivationIsPinnedToTheOpBeforeIt) {
  Model s = small_cnn();
  // (relu2, not relu1: a ReLU before a max pooling changes nothing where no window is all negative.)
  Model t = without_relu2(s);
  LocalizeResult r = localize_pair(s, t);
  ASSERT_NO_FATAL_FAILURE(expect_top(r, t, FaultCategory::kGraph, "op missing in the target", "conv2", Stage::kGraph));
  const Fault& f = r.diagnosis.faults[0];
  EXPECT_EQ(node_name_at(s, f.source_node), "relu2");
  EXPECT_EQ(f.repair.action, RepairAction::kSpliceSource);
}

TEST(DiagnoseUnit, ExtraOpInTheTarget) {
  Model s = small_cnn();
  Model t = s;
  auto& nodes = t.graph.nodes;
  auto it = std::find_if(nodes.begin(), nodes.end(), [](const Node& n) { return n.name == "relu2"; });
  Node extra;
  extra.op_type = "Sigmoid", extra.name = "extra_sigmoid";
  extra.inputs = {"relu2_out"}, extra.outputs = {"extra_out"};
  nodes.insert(it + 1, extra);
  node_named(t, "gap").inputs[0] = "extra_out";
  GraphBuilder::fill_shapes(t);
  LocalizeResult r = localize_pair(s, t);
  ASSERT_NO_FATAL_FAILURE(expect_top(r, t, FaultCategory::kGraph, "extra op in the target", "extra_sigmoid", Stage::kGraph));
}

TEST(DiagnoseUnit, SwappedSubOperands) {
  Model s = sub_model();
  Model t = s;
  auto& in = node_named(t, "sub").inputs;
  std::swap(in[0], in[1]);
  LocalizeResult r = localize_pair(s, t);
  ASSERT_NO_FATAL_FAILURE(expect_top(r, t, FaultCategory::kGraph, "operands swapped", "sub", Stage::kGraph));
  EXPECT_EQ(node_name_at(s, r.diagnosis.faults[0].source_node), "sub");
}

// ---------------------------------------------------------------- input contract, grouping

TEST(DiagnoseUnit, NormalizationInsertedAtTheInputIsAnInputFault) {
  Model s = small_cnn();
  Model t = s;
  Mutation m = mutate_model(t, "input-normalization", std::nullopt, 1);
  GraphBuilder::fill_shapes(t);
  LocalizeResult r = localize_pair(s, t);
  ASSERT_FALSE(r.diagnosis.faults.empty());
  const Fault& f = r.diagnosis.faults[0];
  EXPECT_EQ(f.category, FaultCategory::kInput) << f.summary;
  EXPECT_EQ(f.kind, "input normalization");
  bool lists_inserted_op = false;
  for (const auto& op : f.target_ops) lists_inserted_op |= op.find(m.node) != std::string::npos;
  EXPECT_TRUE(lists_inserted_op) << m.node;
}

TEST(DiagnoseUnit, OneCauseAtTwoOpsIsOneRootCause) {
  Model s = small_cnn();
  Model t = s;
  node_named(t, "conv1").attrs["pads"] = ints_attr({0, 0, 2, 2});
  node_named(t, "conv2").attrs["pads"] = ints_attr({0, 0, 2, 2});
  LocalizeResult r = localize_pair(s, t);
  ASSERT_EQ(r.diagnosis.faults.size(), 2u);
  std::set<std::string> nodes;
  for (const auto& f : r.diagnosis.faults) {
    EXPECT_EQ(f.category, FaultCategory::kHyperparameters);
    EXPECT_EQ(f.kind, "pads");
    nodes.insert(node_name_at(t, f.target_node));
  }
  EXPECT_EQ(nodes, (std::set<std::string>{"conv1", "conv2"}));
  ASSERT_EQ(r.diagnosis.root_causes.size(), 1u);
  const RootCause& c = r.diagnosis.root_causes[0];
  EXPECT_EQ(c.kind, "pads");
  EXPECT_EQ(c.faults.size(), 2u);
  EXPECT_NE(c.summary.find("at 2 ops"), std::string::npos) << c.summary;
}

TEST(DiagnoseUnit, DifferentCausesAreSeparateRootCauses) {
  Model s = small_cnn();
  Model t = s;
  node_named(t, "conv1").attrs["pads"] = ints_attr({0, 0, 2, 2});
  node_named(t, "conv2").inputs.resize(2);  // bias dropped
  LocalizeResult r = localize_pair(s, t);
  ASSERT_EQ(r.diagnosis.faults.size(), 2u);
  ASSERT_EQ(r.diagnosis.root_causes.size(), 2u);
  std::set<std::string> kinds;
  for (const auto& c : r.diagnosis.root_causes) {
    EXPECT_EQ(c.faults.size(), 1u);
    kinds.insert(c.kind);
  }
  EXPECT_EQ(kinds, (std::set<std::string>{"pads", "bias dropped"}));
}
