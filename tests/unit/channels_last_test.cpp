// The channels-last plan (runtime/channels_last.h) must compute what the model says: each test
// builds a small NCHW graph, runs it with and without the plan and against the fp64 oracle, and
// checks which ops the plan moved and how many layout conversions it needed.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "runtime/channels_last.h"
#include "runtime/interpreter.h"

using namespace transfix;

namespace {

using Ints = std::vector<int64_t>;

Tensor random_tensor(Shape shape, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  Tensor t(DType::kF32, std::move(shape));
  float* d = t.mutable_data<float>();
  for (int64_t i = 0; i < t.numel(); ++i) d[i] = u(rng);
  return t;
}

struct Builder {
  Model model;
  uint32_t seed = 1;
  Builder() {
    model.meta.format = "onnx";
    model.meta.opsets[""] = 17;
  }
  void input(const std::string& name, Shape shape) {
    ValueInfo v;
    v.name = name, v.dtype = DType::kF32, v.shape = std::move(shape), v.has_shape = true;
    model.graph.inputs.push_back(v);
  }
  void output(const std::string& name) {
    ValueInfo v;
    v.name = name, v.dtype = DType::kF32;
    model.graph.outputs.push_back(v);
  }
  std::string weight(const std::string& name, Shape shape) {
    model.graph.initializers[name] = random_tensor(std::move(shape), seed++);
    return name;
  }
  Node& node(const std::string& op, std::vector<std::string> ins, std::vector<std::string> outs,
             std::map<std::string, AttrValue> attrs = {}) {
    Node n;
    n.op_type = op, n.name = outs.empty() ? op : outs[0], n.inputs = std::move(ins), n.outputs = std::move(outs);
    for (auto& [k, v] : attrs) n.attrs[k] = Attribute{v};
    model.graph.nodes.push_back(std::move(n));
    return model.graph.nodes.back();
  }
  std::string conv(const std::string& x, const std::string& y, int64_t in, int64_t out, int64_t k,
                   std::map<std::string, AttrValue> attrs = {}, int64_t group = 1) {
    const std::string w = weight(y + ".w", {out, in / group, k, k}), b = weight(y + ".b", {out});
    attrs["group"] = group;
    node("Conv", {x, w, b}, {y}, attrs);
    return y;
  }
};

double max_rel(const Tensor& a, const Tensor& b) {
  auto x = a.to_f64_vector(), y = b.to_f64_vector();
  EXPECT_EQ(x.size(), y.size());
  double err = 0, scale = 1e-30;
  for (size_t i = 0; i < x.size() && i < y.size(); ++i) err = std::max(err, std::fabs(x[i] - y[i])), scale = std::max(scale, std::fabs(y[i]));
  return err / scale;
}

// Plan vs model, both fp32 and against fp64; returns the plan's stats.
ChannelsLastStats check_plan(const Model& model, const std::map<std::string, Tensor>& inputs) {
  ChannelsLastStats stats;
  auto plan = channels_last_model(model, &stats);
  EXPECT_TRUE(plan != nullptr);
  if (!plan) return stats;
  InterpreterOptions plain;
  plain.channels_last = false;
  InterpreterOptions f64 = plain;
  f64.precision = Precision::kF64;
  const auto expected = Interpreter(model, plain).run(inputs);
  const auto oracle = Interpreter(model, f64).run(inputs);
  const auto got = Interpreter(*plan, plain).run(inputs);
  const auto via_default = Interpreter(model).run(inputs);  // the interpreter picks the plan itself
  for (const auto& out : model.graph.outputs) {
    const Tensor& e = expected.at(out.name);
    const Tensor& g = got.at(out.name);
    EXPECT_EQ(g.shape(), e.shape()) << out.name;
    EXPECT_LT(max_rel(g, e), 1e-5) << out.name;
    EXPECT_LT(max_rel(g, oracle.at(out.name)), 1e-5) << out.name;
    EXPECT_LT(max_rel(via_default.at(out.name), e), 1e-5) << out.name;
  }
  return stats;
}

TEST(ChannelsLast, ConvChainStaysChannelsLastBetweenTwoConversions) {
  Builder b;
  b.input("x", {1, 3, 17, 15});
  b.conv("x", "c1", 3, 8, 3, {{"strides", Ints{2, 2}}, {"pads", Ints{1, 1, 1, 1}}});
  b.node("Relu", {"c1"}, {"r1"});
  b.conv("r1", "c2", 8, 8, 3, {{"pads", Ints{1, 0, 2, 1}}}, 8);  // depthwise, asymmetric pads
  b.model.graph.initializers["six"] = Tensor::scalar<float>(6.0f);
  b.model.graph.initializers["zero"] = Tensor::scalar<float>(0.0f);
  b.node("Clip", {"c2", "zero", "six"}, {"r2"});
  b.conv("r2", "c3", 8, 16, 1);                                     // pointwise
  b.conv("c3", "c4", 16, 4, 1, {{"strides", Ints{2, 2}}});          // strided 1x1
  b.node("Add", {"c3", "c3"}, {"sum"});
  b.output("c4");
  b.output("sum");
  const ChannelsLastStats s = check_plan(b.model, {{"x", random_tensor({1, 3, 17, 15}, 99)}});
  EXPECT_EQ(s.convs, 4);
  EXPECT_EQ(s.others, 3);      // Relu, Clip, Add
  EXPECT_EQ(s.transposes, 3);  // x in; c4 and sum out
}

TEST(ChannelsLast, PoolsConcatPadBatchNormAndGlobalPool) {
  Builder b;
  b.input("x", {2, 4, 12, 12});
  b.conv("x", "a", 4, 6, 3, {{"pads", Ints{1, 1, 1, 1}}});
  b.conv("x", "c", 4, 5, 1);
  b.node("Concat", {"a", "c"}, {"cat"}, {{"axis", int64_t{-3}}});
  const std::string s = b.weight("bn.s", {11}), bb = b.weight("bn.b", {11}), m = b.weight("bn.m", {11});
  b.model.graph.initializers["bn.v"] = Tensor::from_vector<float>(std::vector<float>(11, 0.7f), {11});
  b.node("BatchNormalization", {"cat", s, bb, m, "bn.v"}, {"bn"}, {{"epsilon", 1e-3}});
  b.model.graph.initializers["pads"] = Tensor::from_vector<int64_t>({0, 0, 1, 2, 0, 0, 2, 1}, {8});
  b.node("Pad", {"bn", "pads"}, {"padded"});
  b.node("MaxPool", {"padded"}, {"mp"}, {{"kernel_shape", Ints{3, 3}}, {"strides", Ints{2, 2}}, {"ceil_mode", int64_t{1}}});
  b.node("AveragePool", {"mp"}, {"ap"},
         {{"kernel_shape", Ints{2, 2}}, {"pads", Ints{1, 1, 0, 0}}, {"count_include_pad", int64_t{0}}});
  b.node("GlobalAveragePool", {"ap"}, {"gap"});
  b.node("Flatten", {"gap"}, {"flat"});
  b.output("flat");
  b.output("cat");
  const ChannelsLastStats st = check_plan(b.model, {{"x", random_tensor({2, 4, 12, 12}, 7)}});
  EXPECT_EQ(st.convs, 2);
  EXPECT_EQ(st.others, 6);      // Concat, BatchNormalization, Pad, MaxPool, AveragePool, GlobalAveragePool
  EXPECT_EQ(st.transposes, 3);  // x in; gap (for Flatten) and cat out
}

TEST(ChannelsLast, OpsOutsideTheRegionGetTheModelLayout) {
  Builder b;
  b.input("x", {1, 2, 6, 6});
  b.conv("x", "c", 2, 4, 3);
  b.model.graph.initializers["shape"] = Tensor::from_vector<int64_t>({1, 4, 16}, {3});
  b.node("Reshape", {"c", "shape"}, {"r"});  // reads NCHW order: needs the model layout back
  b.model.graph.initializers["per_channel"] = random_tensor({4, 1, 1}, 3);
  b.node("Mul", {"c", "per_channel"}, {"scaled"});  // a [C, 1, 1] constant does not broadcast alike in NHWC
  b.output("r");
  b.output("scaled");
  const ChannelsLastStats st = check_plan(b.model, {{"x", random_tensor({1, 2, 6, 6}, 5)}});
  EXPECT_EQ(st.convs, 1);
  EXPECT_EQ(st.others, 0);
  EXPECT_EQ(st.transposes, 2);  // x in, c out (once, shared by Reshape and Mul)
}

TEST(ChannelsLast, NothingToDoWithoutFloat2DConvolutions) {
  Builder b;
  b.input("x", {1, 3, 8});
  b.conv("x", "c", 3, 3, 1);  // weights [3, 3, 1, 1] are rank 4: make it a 1-D conv instead
  b.model.graph.initializers["c.w"] = random_tensor({3, 3, 1}, 1);
  b.output("c");
  EXPECT_EQ(channels_last_model(b.model), nullptr);
}

// Interpreter::owning: a 3x3 convolution's weights go to oneDNN's packed copy and the model's copy
// is freed; results stay those of an interpreter that keeps everything, run after run.
Builder two_conv_model() {
  Builder b;
  b.input("x", {1, 8, 10, 10});
  b.conv("x", "c1", 8, 16, 3, {{"pads", Ints{1, 1, 1, 1}}});
  b.node("Relu", {"c1"}, {"r1"});
  b.conv("r1", "c2", 16, 8, 3, {{"pads", Ints{1, 1, 1, 1}}});
  b.output("c2");
  return b;
}

TEST(OwningInterpreter, FreesPackedWeightsAndComputesTheSame) {
  Builder b = two_conv_model();
  const Interpreter keeper(b.model);
  Builder mine = two_conv_model();  // the same seeds: the same weights in buffers of its own
  std::vector<std::weak_ptr<Storage>> weights;
  for (const char* w : {"c1.w", "c2.w"}) weights.push_back(mine.model.graph.initializers.at(w).storage());
  auto owner = Interpreter::owning(std::move(mine.model));
  EXPECT_FALSE(weights[0].expired());  // nothing packed before the first run
  const std::map<std::string, Tensor> in{{"x", random_tensor({1, 8, 10, 10}, 9)}};
  const Tensor expected = keeper.run(in).at("c2");
  for (int run = 0; run < 3; ++run) EXPECT_EQ(max_rel(owner->run(in).at("c2"), expected), 0.0) << "run " << run;
  // Each weight is held once, packed: the model's buffers are gone, their shapes stay.
  for (const auto& w : weights) EXPECT_TRUE(w.expired());
  EXPECT_EQ(owner->model().graph.initializers.at("c1.w").shape(), (Shape{16, 8, 3, 3}));
  EXPECT_FALSE(owner->model().graph.initializers.at("c1.w").has_data());
}

TEST(OwningInterpreter, RefusesObservedRunsAndOtherShapes) {
  Builder b = two_conv_model();
  b.model.graph.inputs[0].shape = {1, 8, -1, -1};
  auto owner = Interpreter::owning(Model(b.model));
  owner->run({{"x", random_tensor({1, 8, 10, 10}, 9)}});
  struct Nothing : Observer {
    void on_value(const std::string&, const Tensor&, const Node*) override {}
  } observer;
  EXPECT_THROW(owner->run({{"x", random_tensor({1, 8, 10, 10}, 9)}}, &observer), InputError);
  EXPECT_THROW(owner->run({{"x", random_tensor({1, 8, 12, 12}, 9)}}), InputError);
}

}  // namespace
