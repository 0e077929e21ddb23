// Each repair strategy on a small hand-built graph: set-attributes, restore-weights, splice-source.
// The repaired model must give the source's outputs (checked independently with the interpreter
// against the source run in fp64) and the fix must be recorded as kept.
#include <gtest/gtest.h>

#include "graph_builder.h"
#include "repair/repair.h"

using namespace transfix;
using namespace transfix::testing;

namespace {

// Relative max error of `m`'s output y against the source's fp64 output on the probe.
double output_error(const Model& source, const Model& m, const ProbeInputs& p) {
  const Tensor ref = run(source, p.source, Precision::kF64).at("y");
  const Tensor out = run(m, p.target).at(m.graph.outputs.at(0).name);
  return max_diff(ref, out) / max_abs_value(ref);
}

const AppliedFix* kept_fix(const RepairResult& r) {
  for (const auto& f : r.fixes)
    if (f.kept) return &f;
  return nullptr;
}

RepairResult repair_pair(const Model& s, const Model& t, const ProbeInputs& p) {
  RepairOptions opt;
  opt.max_seconds = 30;
  return repair_model(s, t, {p}, opt);
}

}  // namespace

TEST(RepairUnit, SetAttributesRestoresConvPads) {
  Model s = small_cnn();
  Model t = s;
  node_named(t, "conv2").attrs["pads"] = ints_attr({0, 0, 2, 2});
  ProbeInputs p = probe_for(s, t);
  ASSERT_GT(output_error(s, t, p), 1e-2);  // the fault shows
  RepairResult r = repair_pair(s, t, p);
  const AppliedFix* fix = kept_fix(r);
  ASSERT_NE(fix, nullptr);
  EXPECT_EQ(fix->action, RepairAction::kSetAttributes);
  EXPECT_EQ(r.fixes.size(), 1u);
  EXPECT_EQ(node_named(r.repaired, "conv2").attr_ints("pads"), (std::vector<int64_t>{1, 1, 1, 1}));
  EXPECT_GT(r.initial.max_rel, 1e-2);
  EXPECT_LT(r.final_score.max_rel, 1e-5);
  EXPECT_EQ(r.final_score.flips, 0);
  EXPECT_LT(output_error(s, r.repaired, p), 1e-5);
  EXPECT_TRUE(r.last.diagnosis.faults.empty());
}

TEST(RepairUnit, ApplyFixSetsOnlyThePlannedAttribute) {
  Model s = small_cnn();
  Model t = s;
  node_named(t, "pool").attrs["ceil_mode"] = int_attr(1);
  GraphBuilder::fill_shapes(t);
  ProbeInputs p = probe_for(s, t);
  LocalizeResult loc = localize_with_probe(s, t, p, LocalizeOptions{});
  ASSERT_FALSE(loc.diagnosis.faults.empty());
  const Fault& f = loc.diagnosis.faults[0];
  ASSERT_EQ(f.repair.action, RepairAction::kSetAttributes);
  Model fixed = apply_fix(s, t, f, RepairOptions{});
  EXPECT_EQ(node_named(fixed, "pool").attr_int("ceil_mode", -1), 0);
  EXPECT_EQ(node_named(fixed, "pool").attr_ints("kernel_shape"), (std::vector<int64_t>{3, 3}));
  EXPECT_LT(output_error(s, fixed, p), 1e-5);
}

TEST(RepairUnit, RestoreWeightsUndoesFloat16Rounding) {
  Model s = small_cnn();
  Model t = s;
  const std::string wname = node_named(t, "conv2").inputs[1];
  t.graph.initializers.at(wname) = t.graph.initializers.at(wname).cast(DType::kF16).cast(DType::kF32);
  ProbeInputs p = probe_for(s, t);
  RepairResult r = repair_pair(s, t, p);
  const AppliedFix* fix = kept_fix(r);
  ASSERT_NE(fix, nullptr);
  EXPECT_EQ(fix->action, RepairAction::kRestoreWeights);
  EXPECT_TRUE(fix->after.better_than(fix->before));
  const Node& conv = node_named(r.repaired, "conv2");
  EXPECT_EQ(max_diff(r.repaired.graph.initializers.at(conv.inputs[1]), s.graph.initializers.at(wname)), 0.0);
  EXPECT_LT(r.final_score.max_rel, 1e-5);
  EXPECT_LT(output_error(s, r.repaired, p), 1e-5);
}

TEST(RepairUnit, RestoreWeightsBringsBackADroppedBias) {
  Model s = small_cnn();
  Model t = s;
  node_named(t, "conv1").inputs.resize(2);
  ProbeInputs p = probe_for(s, t);
  RepairResult r = repair_pair(s, t, p);
  const AppliedFix* fix = kept_fix(r);
  ASSERT_NE(fix, nullptr);
  EXPECT_EQ(fix->action, RepairAction::kRestoreWeights);
  const Node& conv = node_named(r.repaired, "conv1");
  ASSERT_TRUE(conv.has_input(2));
  EXPECT_EQ(max_diff(r.repaired.graph.initializers.at(conv.inputs[2]), s.graph.initializers.at("conv1.bias")), 0.0);
  EXPECT_LT(output_error(s, r.repaired, p), 1e-5);
}

TEST(RepairUnit, SpliceSourceRestoresADroppedActivation) {
  Model s = small_cnn();
  Model t = without_relu2(s);
  ProbeInputs p = probe_for(s, t);
  ASSERT_GT(output_error(s, t, p), 1e-2);
  RepairResult r = repair_pair(s, t, p);
  const AppliedFix* fix = kept_fix(r);
  ASSERT_NE(fix, nullptr);
  EXPECT_EQ(fix->action, RepairAction::kSpliceSource);
  int relus = 0;
  for (const auto& n : r.repaired.graph.nodes) relus += n.op_type == "Relu";
  EXPECT_EQ(relus, 2);
  EXPECT_LT(r.final_score.max_rel, 1e-5);
  EXPECT_LT(output_error(s, r.repaired, p), 1e-5);
  // A different input than the probe: the repair is structural, not fitted to one sample.
  ProbeInputs other = probe_for(s, r.repaired, 99);
  EXPECT_LT(output_error(s, r.repaired, other), 1e-5);
}

TEST(RepairUnit, CleanPairNeedsNoFix) {
  Model s = small_cnn();
  ProbeInputs p = probe_for(s, s);
  RepairResult r = repair_pair(s, s, p);
  EXPECT_TRUE(r.fixes.empty());
  EXPECT_LT(r.final_score.max_rel, 1e-5);
  EXPECT_EQ(r.rounds, 1);
}
