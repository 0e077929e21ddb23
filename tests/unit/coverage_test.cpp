// Operator-sequence coverage on hand-built graphs whose paths are counted by hand: chains, branches
// that merge, several inputs, shape arithmetic that is not data, folded no-ops, node signatures, the
// Fisher test, reading conversion evidence, and failure association end to end on saved models.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>

#include "coverage/coverage.h"
#include "coverage/coverage_evidence.h"
#include "coverage/coverage_report.h"
#include "core/errors.h"
#include "formats/model_io.h"
#include "onnx_test_util.h"

using namespace transfix;
using transfix::testing::ScratchDir;

namespace {

// A model built op by op: add("Relu", {"x"}, "a") makes node "a" with output "a".
struct Builder {
  Model m;
  Builder(std::vector<std::string> inputs = {"x"}) {
    m.meta.format = "onnx", m.meta.opsets[""] = 13, m.meta.ir_version = 8;
    m.path = "hand-built";
    for (auto& name : inputs) {
      ValueInfo vi;
      vi.name = name, vi.dtype = DType::kF32, vi.shape = {1, 4, 8, 8}, vi.has_shape = true;
      m.graph.inputs.push_back(vi);
    }
  }
  Node& add(const std::string& op, std::vector<std::string> inputs, const std::string& out) {
    Node n;
    n.op_type = op, n.name = out, n.inputs = std::move(inputs), n.outputs = {out};
    m.graph.nodes.push_back(n);
    return m.graph.nodes.back();
  }
  void output(const std::string& name) {
    ValueInfo vi;
    vi.name = name, vi.dtype = DType::kF32;
    m.graph.outputs.push_back(vi);
  }
  void initializer(const std::string& name, Tensor t) { m.graph.initializers[name] = std::move(t); }
};

// Sequence text -> paths, for a model.
std::map<std::string, uint64_t> counted(const Model& m, int n, CoverageFold fold = {}) {
  SequenceTable table;
  const ModelSequences ms = model_sequences(m, n, fold, table);
  std::map<std::string, uint64_t> out;
  for (const auto& [seq, paths] : ms.all) out[table.describe(seq)] = paths;
  return out;
}

using Counts = std::map<std::string, uint64_t>;

// x -> Conv a -> {Relu b, Relu c} -> Add d -> Sigmoid e: two branches of the same op that merge.
Builder diamond() {
  Builder b;
  b.initializer("w", Tensor(DType::kF32, {4, 4, 1, 1}));
  b.add("Conv", {"x", "w"}, "a");
  b.add("Relu", {"a"}, "b");
  b.add("Relu", {"a"}, "c");
  b.add("Add", {"b", "c"}, "d");
  b.add("Sigmoid", {"d"}, "e");
  b.output("e");
  return b;
}

}  // namespace

// ---------------------------------------------------------------- counting

TEST(Coverage, ChainCountsEveryLength) {
  Builder b;
  b.add("Relu", {"x"}, "a");
  b.add("Sigmoid", {"a"}, "b");
  b.add("Tanh", {"b"}, "c");
  b.add("Relu", {"c"}, "d");
  b.output("d");
  EXPECT_EQ(counted(b.m, 1), (Counts{{"Relu", 2}, {"Sigmoid", 1}, {"Tanh", 1}}));
  EXPECT_EQ(counted(b.m, 2), (Counts{{"Relu -> Sigmoid", 1}, {"Sigmoid -> Tanh", 1}, {"Tanh -> Relu", 1}}));
  EXPECT_EQ(counted(b.m, 3), (Counts{{"Relu -> Sigmoid -> Tanh", 1}, {"Sigmoid -> Tanh -> Relu", 1}}));
  EXPECT_EQ(counted(b.m, 4), (Counts{{"Relu -> Sigmoid -> Tanh -> Relu", 1}}));
  EXPECT_TRUE(counted(b.m, 5).empty());  // no path is that long
}

TEST(Coverage, BranchesThatMergeCountEachPath) {
  const Builder b = diamond();
  // Two paths share the sequence Conv -> Relu -> Add (through b and through c).
  EXPECT_EQ(counted(b.m, 3), (Counts{{"Conv[1x1] -> Relu -> Add", 2}, {"Relu -> Add -> Sigmoid", 2}}));
  EXPECT_EQ(counted(b.m, 4), (Counts{{"Conv[1x1] -> Relu -> Add -> Sigmoid", 2}}));
  EXPECT_EQ(counted(b.m, 2), (Counts{{"Conv[1x1] -> Relu", 2}, {"Relu -> Add", 2}, {"Add -> Sigmoid", 1}}));
}

TEST(Coverage, SeveralInputsAndAValueUsedTwice) {
  Builder b({"x", "y"});
  b.add("Relu", {"x"}, "a");
  b.add("Tanh", {"y"}, "b");
  b.add("Mul", {"a", "b"}, "c");
  b.add("Mul", {"c", "c"}, "d");  // one edge, one path, although the value is read twice
  b.output("d");
  EXPECT_EQ(counted(b.m, 2), (Counts{{"Relu -> Mul", 1}, {"Tanh -> Mul", 1}, {"Mul -> Mul", 1}}));
  EXPECT_EQ(counted(b.m, 3), (Counts{{"Relu -> Mul -> Mul", 1}, {"Tanh -> Mul -> Mul", 1}}));
}

TEST(Coverage, ShapeArithmeticAndConstantsAreNotDataEdges) {
  Builder b;
  b.add("Relu", {"x"}, "a");
  b.add("Shape", {"a"}, "s");                 // depends on a's shape only
  b.add("Constant", {}, "k");
  b.add("Gather", {"s", "k"}, "g");
  b.add("Concat", {"g", "k"}, "shape");       // shape arithmetic: not data
  b.add("Reshape", {"a", "shape"}, "r");
  b.add("Add", {"r", "k"}, "o");              // k is a constant: the edge from Reshape only
  b.output("o");
  EXPECT_EQ(counted(b.m, 1), (Counts{{"Relu", 1}, {"Reshape", 1}, {"Add", 1}}));
  EXPECT_EQ(counted(b.m, 3), (Counts{{"Relu -> Reshape -> Add", 1}}));
  // Folding layout ops sees through the Reshape.
  EXPECT_EQ(counted(b.m, 2, parse_coverage_fold("noops,layout")), (Counts{{"Relu -> Add", 1}}));
}

TEST(Coverage, FoldedNoOpsAreSeenThrough) {
  Builder b;
  b.add("Relu", {"x"}, "a");
  b.add("Identity", {"a"}, "i");
  b.add("Dropout", {"i"}, "d");
  b.add("Transpose", {"d"}, "t");
  b.add("Sigmoid", {"t"}, "s");
  b.add("Sigmoid", {"a"}, "s2");  // a second consumer of a, not through the no-ops
  b.output("s"), b.output("s2");
  b.initializer("zeros", Tensor::from_vector<int64_t>({0, 0, 0, 0, 0, 0, 0, 0}, {8}));
  b.initializer("ones", Tensor::from_vector<int64_t>({0, 0, 1, 1, 0, 0, 1, 1}, {8}));
  b.add("Pad", {"s", "zeros"}, "p0");   // pads nothing: a no-op
  b.add("Pad", {"p0", "ones"}, "p1");   // pads: an op
  b.output("p1");
  EXPECT_EQ(counted(b.m, 2, parse_coverage_fold("none")),
            (Counts{{"Relu -> Identity", 1}, {"Identity -> Dropout", 1}, {"Dropout -> Transpose", 1},
                    {"Transpose -> Sigmoid", 1}, {"Relu -> Sigmoid", 1}, {"Sigmoid -> Pad", 1}, {"Pad -> Pad", 1}}));
  EXPECT_EQ(counted(b.m, 2, CoverageFold{}), (Counts{{"Relu -> Transpose", 1}, {"Transpose -> Sigmoid", 1},
                                                            {"Relu -> Sigmoid", 1}, {"Sigmoid -> Pad", 1}}));
  // Both Sigmoids now follow Relu directly: one sequence, two paths.
  EXPECT_EQ(counted(b.m, 2, parse_coverage_fold("noops,layout")), (Counts{{"Relu -> Sigmoid", 2}, {"Sigmoid -> Pad", 1}}));
  EXPECT_THROW(parse_coverage_fold("all"), InputError);
  EXPECT_EQ(coverage_fold_name(parse_coverage_fold("layout,noops")), "noops,layout");
  EXPECT_EQ(coverage_fold_name(CoverageFold{}), "noops,bn");
}

TEST(Coverage, BatchNormFoldsOnlyIntoAConvolution) {
  // Conv -> BN -> Relu (BN folded: torch.onnx exports it inside the Conv), Relu -> BN -> Sigmoid (kept).
  Builder b;
  b.initializer("w", Tensor(DType::kF32, {4, 4, 1, 1}));
  b.add("Conv", {"x", "w"}, "c");
  b.add("BatchNormalization", {"c", "s", "b", "m", "v"}, "bn1");
  b.add("Relu", {"bn1"}, "r");
  b.add("BatchNormalization", {"r", "s", "b", "m", "v"}, "bn2");
  b.add("Sigmoid", {"bn2"}, "o");
  b.output("o");
  for (const char* p : {"s", "b", "m", "v"}) b.initializer(p, Tensor(DType::kF32, {4}));
  EXPECT_EQ(counted(b.m, 3), (Counts{{"Conv[1x1] -> Relu -> BatchNormalization", 1}, {"Relu -> BatchNormalization -> Sigmoid", 1}}));
  EXPECT_EQ(counted(b.m, 3, parse_coverage_fold("noops")),
            (Counts{{"Conv[1x1] -> BatchNormalization -> Relu", 1}, {"BatchNormalization -> Relu -> BatchNormalization", 1},
                    {"Relu -> BatchNormalization -> Sigmoid", 1}}));
}

TEST(Coverage, ManyBranchesCountedWithoutEnumeratingPaths) {
  // 200 layers of 10 Relu nodes, each node fed by all 10 of the previous layer: paths of 5 nodes in
  // consecutive layers = (200 - 4) start layers x 10 start nodes x 10^4 choices = 19.6 million,
  // one sequence. Enumerating them one by one would take seconds; the count is per distinct sequence.
  const int layers = 200, width = 10;
  Builder b;
  std::vector<std::string> prev = {"x"};
  for (int l = 0; l < layers; ++l) {
    std::vector<std::string> cur;
    for (int w = 0; w < width; ++w) {
      const std::string name = std::to_string(l * width + w);
      b.add(l == 0 ? "Relu" : "Sum", prev, name);
      cur.push_back(name);
    }
    prev = cur;
  }
  for (auto& p : prev) b.output(p);
  const auto t0 = std::chrono::steady_clock::now();
  const Counts c = counted(b.m, 5);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_EQ(c, (Counts{{"Relu -> Sum -> Sum -> Sum -> Sum", 10ull * 10 * 10 * 10 * 10},
                       {"Sum -> Sum -> Sum -> Sum -> Sum", 195ull * 100000}}));
  EXPECT_LT(seconds, 1.0);
}

TEST(Coverage, PathsThroughMarkedNodes) {
  const Builder b = diamond();
  SequenceTable table;
  const ModelSequences ms = model_sequences(b.m, 3, CoverageFold{}, table);
  // Node 2 is the second Relu (c): one path of each sequence goes through it.
  std::map<std::string, uint64_t> through;
  for (const auto& [seq, paths] : touching(ms, {2}, 3, table)) through[table.describe(seq)] = paths;
  EXPECT_EQ(through, (Counts{{"Conv[1x1] -> Relu -> Add", 1}, {"Relu -> Add -> Sigmoid", 1}}));
  // Through the Conv (node 0): only the paths that start there.
  through.clear();
  for (const auto& [seq, paths] : touching(ms, {0}, 3, table)) through[table.describe(seq)] = paths;
  EXPECT_EQ(through, (Counts{{"Conv[1x1] -> Relu -> Add", 2}}));
  // An example path through node 2 uses it; without a mark, any path of the sequence.
  const uint32_t conv = table.signature_id("Conv[1x1]"), relu = table.signature_id("Relu"), add = table.signature_id("Add");
  EXPECT_EQ(example_path(ms, {conv, relu, add}, {2}), (std::vector<size_t>{0, 2, 3}));
  EXPECT_EQ(example_path(ms, {conv, relu, add}).size(), 3u);
  EXPECT_TRUE(example_path(ms, {relu, conv}).empty());
}

TEST(Coverage, CyclicGraphIsAnInputError) {
  Builder b;
  b.add("Relu", {"b"}, "a");
  b.add("Relu", {"a"}, "b");
  b.output("b");
  SequenceTable table;
  EXPECT_THROW(model_sequences(b.m, 2, CoverageFold{}, table), InputError);
}

// ---------------------------------------------------------------- signatures

TEST(CoverageSignature, ConvolutionFlags) {
  Builder b;
  b.initializer("dw", Tensor(DType::kF32, {4, 1, 3, 3}));
  b.initializer("gw", Tensor(DType::kF32, {4, 2, 3, 3}));
  auto& dw = b.add("Conv", {"x", "dw"}, "a");
  dw.attrs["group"] = {int64_t{4}};
  dw.attrs["strides"] = {std::vector<int64_t>{2, 2}};
  dw.attrs["pads"] = {std::vector<int64_t>{0, 0, 1, 1}};
  auto& g = b.add("Conv", {"x", "gw"}, "b");
  g.attrs["group"] = {int64_t{2}};
  g.attrs["pads"] = {std::vector<int64_t>{1, 1, 1, 1}};
  g.attrs["dilations"] = {std::vector<int64_t>{2, 2}};
  auto& plain = b.add("Conv", {"x", "gw"}, "c");
  plain.attrs["auto_pad"] = {std::string("SAME_UPPER")};  // input shape known: resolved, symmetric for 3x3 stride 1
  EXPECT_EQ(node_signature(b.m, b.m.graph.nodes[0]), "Conv[dw,stride,pads=asym]");
  EXPECT_EQ(node_signature(b.m, b.m.graph.nodes[1]), "Conv[grouped,dilated]");
  EXPECT_EQ(node_signature(b.m, b.m.graph.nodes[2]), "Conv");
  b.initializer("pw", Tensor(DType::kF32, {8, 4, 1, 1}));
  b.add("Conv", {"x", "pw"}, "d");
  EXPECT_EQ(node_signature(b.m, b.m.graph.nodes[3]), "Conv[1x1]");
}

TEST(CoverageSignature, ResizePoolClipPad) {
  Builder b;
  auto& r = b.add("Resize", {"x", "", "scales"}, "r");
  r.attrs["mode"] = {std::string("linear")};
  r.attrs["coordinate_transformation_mode"] = {std::string("align_corners")};
  b.add("Resize", {"x", "", "scales"}, "r2");  // defaults at opset 13: nearest, half_pixel, round_prefer_floor
  auto& p = b.add("MaxPool", {"x"}, "p");
  p.attrs["kernel_shape"] = {std::vector<int64_t>{3, 3}};
  p.attrs["ceil_mode"] = {int64_t{1}};
  auto& ap = b.add("AveragePool", {"x"}, "ap");
  ap.attrs["kernel_shape"] = {std::vector<int64_t>{3, 3}};
  ap.attrs["pads"] = {std::vector<int64_t>{1, 1, 1, 1}};
  ap.attrs["count_include_pad"] = {int64_t{1}};
  b.initializer("lo", Tensor::scalar<float>(0.f));
  b.initializer("hi", Tensor::scalar<float>(6.f));
  b.add("Clip", {"x", "lo", "hi"}, "c");
  auto& pad = b.add("Pad", {"x", "pads"}, "pd");
  pad.attrs["mode"] = {std::string("reflect")};
  b.add("Pad", {"x", "pads"}, "pd2");
  auto& custom = b.add("Gelu", {"x"}, "gelu");
  custom.domain = "com.microsoft";
  const auto sig = [&](size_t i) { return node_signature(b.m, b.m.graph.nodes[i]); };
  EXPECT_EQ(sig(0), "Resize[linear,align_corners]");
  EXPECT_EQ(sig(1), "Resize[nearest,half_pixel,round_prefer_floor]");
  EXPECT_EQ(sig(2), "MaxPool[ceil]");
  EXPECT_EQ(sig(3), "AveragePool[count_pad]");
  EXPECT_EQ(sig(4), "Clip[0,6]");
  EXPECT_EQ(sig(5), "Pad[reflect]");
  EXPECT_EQ(sig(6), "Pad");
  EXPECT_EQ(sig(7), "com.microsoft.Gelu");
  // Without padding, counting it changes nothing: the same op as count_include_pad = 0.
  auto& ap0 = b.add("AveragePool", {"x"}, "ap0");
  ap0.attrs["kernel_shape"] = {std::vector<int64_t>{2, 2}};
  ap0.attrs["count_include_pad"] = {int64_t{1}};
  EXPECT_EQ(sig(8), "AveragePool");
  // Bounds from a Constant node and from a Cast of a double initializer (TorchScript's float constants);
  // a bound computed at run time is "?".
  auto& k = b.add("Constant", {}, "k0");
  k.attrs["value"] = {Tensor::scalar<float>(-1.f)};
  b.initializer("six64", Tensor::scalar<double>(6.0));
  b.add("Cast", {"six64"}, "six");
  b.add("Clip", {"x", "k0", "six"}, "c2");
  b.add("Clip", {"x", "", "x"}, "c3");
  EXPECT_EQ(sig(11), "Clip[-1,6]");
  EXPECT_EQ(sig(12), "Clip[-inf,?]");
  // Opset 9: Upsample and Clip's bounds as attributes, legacy resize semantics.
  b.m.meta.opsets[""] = 9;
  auto& up = b.add("Upsample", {"x", "scales"}, "up");
  up.attrs["mode"] = {std::string("linear")};
  auto& clip9 = b.add("Clip", {"x"}, "c9");
  clip9.attrs["min"] = {0.0};
  EXPECT_EQ(sig(13), "Upsample[linear,asymmetric]");
  EXPECT_EQ(sig(14), "Clip[0,inf]");
}

// ---------------------------------------------------------------- association statistic

TEST(Coverage, FisherTailByHand) {
  // 10 paths, 3 failing; a sequence with 3 paths. P(all 3 failing) = C(3,3) C(7,0) / C(10,3) = 1/120.
  EXPECT_NEAR(fisher_right_tail(3, 3, 3, 10), 1.0 / 120, 1e-12);
  // P(X >= 2) = (C(3,2) C(7,1) + 1) / 120 = 22/120.
  EXPECT_NEAR(fisher_right_tail(2, 3, 3, 10), 22.0 / 120, 1e-12);
  EXPECT_EQ(fisher_right_tail(0, 3, 3, 10), 1.0);
  // Every path failing: a sequence that is always failing is certain under any split.
  EXPECT_NEAR(fisher_right_tail(4, 4, 10, 10), 1.0, 1e-12);
}

// ---------------------------------------------------------------- evidence

namespace {

void write_text(const std::string& path, const std::string& text) { std::ofstream(path) << text; }

}  // namespace

TEST(CoverageEvidence, ReadsLocalizeCompareAndPairLists) {
  ScratchDir dir;
  write_text(dir.file("a.onnx"), "x");
  write_text(dir.file("b.onnx"), "x");
  // Localize: model paths relative to the report's folder; fault ops per side.
  write_text(dir.file("loc.json"), R"({"schema": "transfix.localize/1", "source": "a.onnx", "target": "b.onnx",
    "faults": [{"source": {"ops": ["Conv 'c1'"]}, "target": {"ops": ["Conv 'c1'", "Relu 'r'"]}}]})");
  auto e = read_conversion_evidence(dir.file("loc.json"));
  ASSERT_EQ(e.size(), 1u);
  EXPECT_FALSE(e[0].passed);
  EXPECT_EQ(e[0].source, dir.file("a.onnx"));
  EXPECT_EQ(e[0].source_fault_ops, (std::vector<std::string>{"Conv 'c1'"}));
  EXPECT_EQ(e[0].target_fault_ops.size(), 2u);
  write_text(dir.file("cmp.json"), R"({"schema": "transfix.compare/1", "verdict": "EQUIVALENT", "exit_code": 0,
    "source": {"path": ")" + dir.file("a.onnx") + R"("}, "target": {"path": "b.onnx"}})");
  e = read_conversion_evidence(dir.file("cmp.json"));
  ASSERT_EQ(e.size(), 1u);
  EXPECT_TRUE(e[0].passed);
  EXPECT_EQ(e[0].kind, "compare");
  // A compare that tested nothing says nothing.
  write_text(dir.file("cmp2.json"), R"({"schema": "transfix.compare/1", "verdict": "CRASH", "exit_code": 2,
    "source": {"path": "a.onnx"}, "target": {"path": "b.onnx"}})");
  EXPECT_TRUE(read_conversion_evidence(dir.file("cmp2.json")).empty());
  write_text(dir.file("pairs.json"), R"({"pairs": [{"source": "a.onnx", "target": "b.onnx", "verdict": "pass"},
    {"source": "a.onnx", "target": "b.onnx", "verdict": "DIVERGENT"}]})");
  e = read_conversion_evidence(dir.file("pairs.json"));
  ASSERT_EQ(e.size(), 2u);
  EXPECT_TRUE(e[0].passed);
  EXPECT_FALSE(e[1].passed);
}

TEST(CoverageEvidence, BadFilesAreInputErrorsNamingTheFile) {
  ScratchDir dir;
  write_text(dir.file("junk.json"), "{not json");
  write_text(dir.file("other.json"), R"({"schema": "something/1"})");
  write_text(dir.file("missing_model.json"), R"([{"source": "nope.onnx", "target": "nope.onnx", "verdict": "pass"}])");
  write_text(dir.file("a.onnx"), "x");
  write_text(dir.file("bad_verdict.json"), R"([{"source": "a.onnx", "target": "a.onnx", "verdict": "maybe"}])");
  for (const char* f : {"junk.json", "other.json", "missing_model.json", "bad_verdict.json", "absent.json"}) {
    try {
      read_conversion_evidence(dir.file(f));
      ADD_FAILURE() << f << " was accepted";
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find(f), std::string::npos) << e.what();
    }
  }
}

// ---------------------------------------------------------------- builder, end to end on saved models

TEST(CoverageReport, UntestedSequencesAndFailureAssociation) {
  ScratchDir dir;
  // The model under study: x -> Conv -> Relu -> MaxPool[ceil] -> Sigmoid.
  Builder study;
  study.initializer("w", Tensor(DType::kF32, {4, 4, 1, 1}));
  study.add("Conv", {"x", "w"}, "a");
  study.add("Relu", {"a"}, "b");
  auto& pool = study.add("MaxPool", {"b"}, "c");
  pool.attrs["kernel_shape"] = {std::vector<int64_t>{2, 2}}, pool.attrs["ceil_mode"] = {int64_t{1}};
  study.add("Sigmoid", {"c"}, "d");
  study.output("d");
  // Tested conversions: a passing one of the diamond; a failing one of a chain Conv -> Relu -> Tanh ->
  // Sigmoid whose localize report blames the Tanh.
  Builder chain;
  chain.initializer("w", Tensor(DType::kF32, {4, 4, 1, 1}));
  chain.add("Conv", {"x", "w"}, "a");
  chain.add("Relu", {"a"}, "b");
  chain.add("Tanh", {"b"}, "t");
  chain.add("Sigmoid", {"t"}, "s");
  chain.output("s");
  save_model(diamond().m, dir.file("diamond.onnx"));
  save_model(chain.m, dir.file("chain.onnx"));
  ConversionEvidence pass{"pairs.json", "pairs", dir.file("diamond.onnx"), dir.file("diamond.onnx"), true, "pass", {}, {}};
  ConversionEvidence fail{"loc.json", "localize", dir.file("chain.onnx"), dir.file("chain.onnx"), false, "faults: 1",
                          {"Tanh 't'"}, {}};
  CoverageOptions opt;
  opt.n = 2;
  CoverageBuilder builder(opt);
  builder.add_conversion(pass);
  builder.add_conversion(fail);
  builder.add_model(study.m);
  const CoverageResult r = builder.finish();
  // Study sequences: Conv[1x1]->Relu (exercised by the diamond), Relu->MaxPool[ceil], MaxPool[ceil]->Sigmoid (never).
  std::vector<std::string> untested;
  for (const auto* s : r.untested(2)) untested.push_back(r.describe(s->sequence));
  std::sort(untested.begin(), untested.end());
  EXPECT_EQ(untested, (std::vector<std::string>{"MaxPool[ceil] -> Sigmoid", "Relu -> MaxPool[ceil]"}));
  ASSERT_EQ(r.models.size(), 1u);
  EXPECT_EQ(r.models[0].untested_sequences, 2u);
  EXPECT_EQ(r.models[0].untested_paths, 2u);
  EXPECT_EQ(r.models[0].untested_ops, 1u);  // MaxPool[ceil]
  // Paths of length 2 in the evidence: diamond 5 clean; chain 3, of which Relu->Tanh and Tanh->Sigmoid
  // go through the Tanh. Failing 2 of 8.
  EXPECT_EQ(r.failing_total.at(2), 2u);
  EXPECT_EQ(r.clean_total.at(2), 6u);
  const auto ranked = r.failure_ranked(2);
  ASSERT_EQ(ranked.size(), 2u);
  for (const auto* s : ranked) {
    EXPECT_EQ(s->failing, 1u);
    EXPECT_EQ(s->clean, 0u);
    EXPECT_NEAR(s->p_value, 2.0 / 8.0, 1e-12);  // one path drawn from 8 with 2 failing
    EXPECT_NEAR(s->lift, 4.0, 1e-12);
    EXPECT_NE(std::find(s->failing_example.begin(), s->failing_example.end(), "Tanh 't'"), s->failing_example.end());
  }
  // Conv[1x1] -> Relu: clean in both conversions, never failing.
  const auto* conv_relu = r.in_models(2).front();
  EXPECT_EQ(r.describe(conv_relu->sequence), "Conv[1x1] -> Relu");
  EXPECT_EQ(conv_relu->passing_conversions, 1);
  EXPECT_EQ(conv_relu->clean, 3u);  // 2 in the diamond + 1 in the chain
  const nlohmann::json j = coverage_json(r);
  EXPECT_EQ(j["schema"], "transfix.coverage/1");
  EXPECT_EQ(j["summary"]["untested_sequences"], 2);
  EXPECT_EQ(j["failure_associated"].size(), 2u);
}

TEST(CoverageReport, UnlocalizedFailureCountsTheWholeModel) {
  ScratchDir dir;
  save_model(diamond().m, dir.file("diamond.onnx"));
  ConversionEvidence fail{"cmp.json", "compare", dir.file("diamond.onnx"), dir.file("diamond.onnx"), false, "DIVERGENT", {}, {}};
  CoverageOptions opt;
  opt.n = 3;
  CoverageBuilder builder(opt);
  builder.add_conversion(fail);
  builder.add_model(diamond().m);
  const CoverageResult r = builder.finish();
  ASSERT_EQ(r.conversions.size(), 1u);
  EXPECT_FALSE(r.conversions[0].localized);
  EXPECT_EQ(r.conversions[0].failing_paths, 4u);
  EXPECT_EQ(r.untested(3).size(), 2u);  // nothing passed
  CoverageOptions too_long;
  too_long.n = 6;
  EXPECT_THROW(CoverageBuilder{too_long}, InputError);
}
