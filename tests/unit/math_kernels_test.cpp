// Unit tests of the math kernels (element-wise, activations, comparisons, variadic, softmax,
// reductions, arg min/max, Cast, Where). Expected values are computed by hand (or by an independent
// naive loop for the large-tensor fast paths); the ONNX conformance data covers the rest.
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <limits>

#include "core/errors.h"
#include "core/graph.h"
#include "core/tensor.h"
#include "runtime/kernel.h"

using namespace transfix;

namespace {

// Runs one kernel on the given inputs (an undefined Tensor marks an omitted optional input).
Tensor run(const std::string& op, const std::vector<Tensor>& inputs, const std::map<std::string, Attribute>& attrs = {},
           int64_t opset = 17, Precision precision = Precision::kF32) {
  Node node;
  node.op_type = op;
  node.name = "n";
  node.outputs = {"y"};
  node.attrs = attrs;
  std::vector<const Tensor*> ptrs;
  for (size_t i = 0; i < inputs.size(); ++i) {
    node.inputs.push_back(inputs[i].defined() ? "x" + std::to_string(i) : "");
    ptrs.push_back(inputs[i].defined() ? &inputs[i] : nullptr);
  }
  const KernelInfo* k = find_kernel(op);
  if (!k) throw std::runtime_error("no kernel for " + op);
  KernelContext ctx(node, opset, precision, ptrs);
  k->fn(ctx);
  return ctx.outputs().at(0);
}

Attribute ai(int64_t v) { return Attribute{v}; }
Attribute af(double v) { return Attribute{v}; }
Attribute ais(std::vector<int64_t> v) { return Attribute{std::move(v)}; }
Attribute as(std::string v) { return Attribute{std::move(v)}; }

Tensor f32(std::vector<float> v, Shape s) { return Tensor::from_vector<float>(v, std::move(s)); }
Tensor i32(std::vector<int32_t> v, Shape s) { return Tensor::from_vector<int32_t>(v, std::move(s)); }

template <typename T>
std::vector<T> values(const Tensor& t) {
  const T* p = t.data<T>();
  return std::vector<T>(p, p + t.numel());
}

void expect_near(const Tensor& t, const std::vector<double>& expected, double tol = 1e-6) {
  auto got = t.to_f64_vector();
  ASSERT_EQ(got.size(), expected.size());
  for (size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], expected[i], tol) << "at " << i;
}

}  // namespace

TEST(MathKernels, AddBroadcastsPerChannelAndOuterProduct) {
  // [1, 2, 2, 2] + [2, 1, 1]: one value per channel.
  Tensor x = f32({1, 2, 3, 4, 5, 6, 7, 8}, {1, 2, 2, 2});
  Tensor b = f32({10, 100}, {2, 1, 1});
  Tensor y = run("Add", {x, b});
  EXPECT_EQ(y.shape(), (Shape{1, 2, 2, 2}));
  expect_near(y, {11, 12, 13, 14, 105, 106, 107, 108});
  // [3, 1] * [1, 4] broadcasts both ways.
  Tensor col = f32({1, 2, 3}, {3, 1});
  Tensor row = f32({1, 10, 100, 1000}, {1, 4});
  Tensor outer = run("Mul", {col, row});
  EXPECT_EQ(outer.shape(), (Shape{3, 4}));
  expect_near(outer, {1, 10, 100, 1000, 2, 20, 200, 2000, 3, 30, 300, 3000});
  // scalar on the left, and a trailing-dim vector
  expect_near(run("Sub", {Tensor::scalar<float>(1), f32({1, 2, 3}, {3})}), {0, -1, -2});
  Tensor y2 = run("Add", {f32({0, 0, 0, 0, 0, 0}, {2, 3}), f32({1, 2, 3}, {3})});
  expect_near(y2, {1, 2, 3, 1, 2, 3});
}

TEST(MathKernels, LegacyBroadcastAlignsAtAxis) {
  // Opset 6 Add with broadcast = 1, axis = 1: B [3] lines up with A's dim 1, not the last dim.
  Tensor a = f32({0, 0, 0, 0, 0, 0}, {1, 3, 2});
  Tensor y = run("Add", {a, f32({1, 2, 3}, {3})}, {{"broadcast", ai(1)}, {"axis", ai(1)}}, 6);
  expect_near(y, {1, 1, 2, 2, 3, 3});
  EXPECT_THROW(run("Add", {a, f32({1, 2, 3}, {3})}, {{"broadcast", ai(1)}, {"axis", ai(3)}}, 6), InputError);
}

TEST(MathKernels, LargeTensorFastPathsMatchNaiveLoops) {
  // Big enough to take the parallel paths: [2, 8, 96, 96] = 147456 elements.
  const int64_t N = 2, C = 8, HW = 96 * 96;
  std::vector<float> xv(static_cast<size_t>(N * C * HW)), bv(static_cast<size_t>(C));
  for (size_t i = 0; i < xv.size(); ++i) xv[i] = static_cast<float>(static_cast<int64_t>(i % 1000) - 500) * 0.01f;
  for (size_t c = 0; c < bv.size(); ++c) bv[c] = static_cast<float>(c) + 0.5f;
  Tensor x = f32(xv, {N, C, 96, 96});
  Tensor same = run("Mul", {x, x});
  Tensor per_channel = run("Add", {x, f32(bv, {C, 1, 1})});
  Tensor scalar = run("Div", {x, Tensor::scalar<float>(4)});
  Tensor relu = run("Relu", {x});
  const float* s = same.data<float>();
  const float* p = per_channel.data<float>();
  const float* q = scalar.data<float>();
  const float* r = relu.data<float>();
  for (int64_t i = 0; i < N * C * HW; ++i) {
    const float v = xv[static_cast<size_t>(i)];
    const int64_t c = (i / HW) % C;
    ASSERT_EQ(s[i], v * v) << i;
    ASSERT_EQ(p[i], v + bv[static_cast<size_t>(c)]) << i;
    ASSERT_EQ(q[i], v / 4.0f) << i;
    ASSERT_EQ(r[i], v < 0 ? 0.0f : v) << i;
  }
}

TEST(MathKernels, RejectsBadShapesAndMixedTypes) {
  EXPECT_THROW((run("Add", {f32({1, 2, 3}, {3}), f32({1, 2}, {2})})), InputError);
  EXPECT_THROW((run("Add", {f32({1}, {1}), i32({1}, {1})})), InputError);
  EXPECT_THROW((run("Where", {f32({1}, {1}), f32({1}, {1}), f32({1}, {1})})), InputError);  // cond not bool
  EXPECT_THROW((run("Softmax", {f32({1, 2}, {2})}, {{"axis", ai(3)}})), InputError);
}

TEST(MathKernels, IntegerArithmeticTruncatesAndNeverTraps) {
  Tensor a = i32({-7, 7, std::numeric_limits<int32_t>::min(), 5}, {4});
  Tensor b = i32({2, -2, -1, 0}, {4});
  EXPECT_EQ(values<int32_t>(run("Div", {a, b})), (std::vector<int32_t>{-3, -3, std::numeric_limits<int32_t>::min(), 0}));
  // Mod: fmod=0 takes the divisor's sign, fmod=1 the dividend's.
  Tensor m0 = run("Mod", {i32({-7, 7, -7}, {3}), i32({3, -3, -3}, {3})});
  EXPECT_EQ(values<int32_t>(m0), (std::vector<int32_t>{2, -2, -1}));
  Tensor m1 = run("Mod", {i32({-7, 7, -7}, {3}), i32({3, -3, -3}, {3})}, {{"fmod", ai(1)}});
  EXPECT_EQ(values<int32_t>(m1), (std::vector<int32_t>{-1, 1, -1}));
  expect_near(run("Mod", {f32({-7.5f, 7.5f}, {2}), f32({2, 2}, {2})}, {{"fmod", ai(1)}}), {-1.5, 1.5});
  // Overflow wraps like numpy.
  Tensor big = i32({std::numeric_limits<int32_t>::max()}, {1});
  EXPECT_EQ(values<int32_t>(run("Add", {big, i32({1}, {1})}))[0], std::numeric_limits<int32_t>::min());
}

TEST(MathKernels, PowKeepsBaseType) {
  Tensor ip = run("Pow", {i32({2, 3, -2}, {3}), f32({3, 2, 3}, {3})});
  EXPECT_EQ(ip.dtype(), DType::kI32);
  EXPECT_EQ(values<int32_t>(ip), (std::vector<int32_t>{8, 9, -8}));
  Tensor fp = run("Pow", {f32({4, 9}, {2}), Tensor::from_vector<int64_t>({2}, {1})});
  EXPECT_EQ(fp.dtype(), DType::kF32);
  expect_near(fp, {16, 81});
  expect_near(run("Pow", {f32({4, 9}, {2}), Tensor::scalar<float>(0.5f)}), {2, 3});
}

TEST(MathKernels, BitShiftShiftsOutEverythingAtFullWidth) {
  Tensor x = Tensor::from_vector<uint8_t>({1, 128, 255}, {3});
  Tensor s = Tensor::from_vector<uint8_t>({3, 1, 8}, {3});
  EXPECT_EQ(values<uint8_t>(run("BitShift", {x, s}, {{"direction", as("LEFT")}})), (std::vector<uint8_t>{8, 0, 0}));
  EXPECT_EQ(values<uint8_t>(run("BitShift", {x, s}, {{"direction", as("RIGHT")}})), (std::vector<uint8_t>{0, 64, 0}));
  EXPECT_THROW((run("BitShift", {x, s}, {{"direction", as("UP")}})), InputError);
}

TEST(MathKernels, UnaryMath) {
  expect_near(run("Round", {f32({0.5f, 1.5f, 2.5f, -0.5f, -1.5f, 2.4f}, {6})}), {0, 2, 2, 0, -2, 2});
  expect_near(run("Sign", {f32({-3, 0, 2}, {3})}), {-1, 0, 1});
  EXPECT_EQ(values<int32_t>(run("Abs", {i32({-3, 4}, {2})})), (std::vector<int32_t>{3, 4}));
  expect_near(run("Reciprocal", {f32({4, -0.5f}, {2})}), {0.25, -2});
  expect_near(run("Erf", {f32({0, 1}, {2})}), {0, 0.8427007929}, 1e-6);
  const float inf = std::numeric_limits<float>::infinity();
  Tensor x = f32({-inf, inf, 1, std::nanf("")}, {4});
  EXPECT_EQ(values<bool>(run("IsInf", {x})), (std::vector<bool>{true, true, false, false}));
  EXPECT_EQ(values<bool>(run("IsInf", {x}, {{"detect_negative", ai(0)}})), (std::vector<bool>{false, true, false, false}));
  EXPECT_EQ(values<bool>(run("IsNaN", {x})), (std::vector<bool>{false, false, false, true}));
}

TEST(MathKernels, ClipAttributeAndInputForms) {
  Tensor x = f32({-2, 0.5f, 3, std::nanf("")}, {4});
  Tensor old = run("Clip", {x}, {{"min", af(-1)}, {"max", af(1)}}, 6);
  auto v = old.to_f64_vector();
  EXPECT_EQ(v[0], -1);
  EXPECT_EQ(v[1], 0.5);
  EXPECT_EQ(v[2], 1);
  EXPECT_TRUE(std::isnan(v[3]));  // NaN passes through
  // opset 11+: optional inputs; only max given.
  expect_near(run("Clip", {f32({-2, 3}, {2}), Tensor(), Tensor::scalar<float>(1)}, {}, 13), {-2, 1});
  Tensor ints = run("Clip", {Tensor::from_vector<int8_t>({-100, 5, 100}, {3}), Tensor::scalar<int8_t>(-10),
                               Tensor::scalar<int8_t>(10)}, {}, 13);
  EXPECT_EQ(values<int8_t>(ints), (std::vector<int8_t>{-10, 5, 10}));
}

TEST(MathKernels, ActivationsAtTheirEdges) {
  // Sigmoid saturates without NaN at extreme inputs.
  expect_near(run("Sigmoid", {f32({-1000, 0, 1000}, {3})}), {0, 0.5, 1});
  // HardSwish: x * clamp(x / 6 + 0.5, 0, 1).
  expect_near(run("HardSwish", {f32({-4, 1, 4}, {3})}), {0, 1.0 * (1.0 / 6 + 0.5), 4}, 1e-6);
  expect_near(run("HardSigmoid", {f32({-10, 0, 10}, {3})}), {0, 0.5, 1});
  expect_near(run("LeakyRelu", {f32({-10, 2}, {2})}, {{"alpha", af(0.1)}}), {-1, 2}, 1e-6);
  expect_near(run("Softplus", {f32({-1000, 0, 1000}, {3})}), {0, std::log(2.0), 1000}, 1e-4);
  expect_near(run("Elu", {f32({-1, 1}, {2})}), {std::exp(-1.0) - 1, 1}, 1e-6);
  expect_near(run("Shrink", {f32({-2, 0.3f, 2}, {3})}, {{"lambd", af(1)}, {"bias", af(0.5)}}), {-1.5, 0, 1.5});
  expect_near(run("ThresholdedRelu", {f32({0.5f, 1, 2}, {3})}), {0, 0, 2});
  // PRelu with the pre-opset-7 per-channel slope [C] against [N, C, H, W] (not numpy-broadcastable
  // here, since the last dim is 1) ...
  Tensor x = f32({-1, -1, -1, -1}, {1, 2, 2, 1});
  expect_near(run("PRelu", {x, f32({0.5f, 2}, {2})}), {-0.5, -0.5, -2, -2});
  // ... while a slope that numpy-broadcasts follows numpy: [2] applies along the last dim.
  expect_near(run("PRelu", {x.reshaped({1, 2, 1, 2}), f32({0.5f, 2}, {2})}), {-0.5, -2, -0.5, -2});
}

TEST(MathKernels, ComparisonsLogicAndWhere) {
  Tensor a = i32({1, 2, 3}, {3});
  EXPECT_EQ(values<bool>(run("Equal", {a, Tensor::scalar<int32_t>(2)})), (std::vector<bool>{false, true, false}));
  EXPECT_EQ(values<bool>(run("GreaterOrEqual", {a, Tensor::scalar<int32_t>(2)})), (std::vector<bool>{false, true, true}));
  Tensor t = Tensor::from_vector<bool>({true, false}, {2, 1});
  Tensor u = Tensor::from_vector<bool>({true, false}, {1, 2});
  EXPECT_EQ(values<bool>(run("Xor", {t, u})), (std::vector<bool>{false, true, true, false}));
  // Where with a [2, 1] condition, [2] X and scalar Y -> [2, 2].
  Tensor y = run("Where", {t, f32({1, 2}, {2}), Tensor::scalar<float>(-1)});
  EXPECT_EQ(y.shape(), (Shape{2, 2}));
  expect_near(y, {1, 2, -1, -1});
}

TEST(MathKernels, VariadicMinMaxSumMean) {
  Tensor a = f32({1, 5, std::nanf("")}, {3});
  Tensor b = f32({3, 2, 0}, {3});
  auto mx = run("Max", {a, b, Tensor::scalar<float>(4)}).to_f64_vector();
  EXPECT_EQ(mx[0], 4);
  EXPECT_EQ(mx[1], 5);
  EXPECT_TRUE(std::isnan(mx[2]));
  expect_near(run("Min", {f32({1, 5}, {2}), f32({3, 2}, {2})}), {1, 2});
  expect_near(run("Sum", {f32({1, 2}, {2}), f32({10}, {1}), f32({100, 200}, {2})}), {111, 212});
  expect_near(run("Mean", {f32({1, 2}, {2}), f32({3, 4}, {2}), f32({5, 0}, {2})}), {3, 2});
}

TEST(MathKernels, SoftmaxOpsetFormsDiffer) {
  // Logs of 1..4: softmax over all four is [1, 2, 3, 4] / 10; over pairs [1, 2] / 3 and [3, 4] / 7.
  Tensor x = f32({0, std::log(2.0f), std::log(3.0f), std::log(4.0f)}, {1, 2, 2});
  expect_near(run("Softmax", {x}, {}, 11), {0.1, 0.2, 0.3, 0.4});
  expect_near(run("Softmax", {x}, {}, 13), {1.0 / 3, 2.0 / 3, 3.0 / 7, 4.0 / 7});
  // opset 13 along axis 1 (the middle dim): columns [0, log 3] and [log 2, log 4].
  expect_near(run("Softmax", {x}, {{"axis", ai(1)}}, 13), {0.25, 2.0 / 6, 0.75, 4.0 / 6});
  // Large inputs stay finite (max is subtracted first).
  expect_near(run("LogSoftmax", {f32({1000, 1000}, {1, 2})}), {-std::log(2.0), -std::log(2.0)});
  expect_near(run("Hardmax", {f32({3, 7, 7, 1}, {1, 4})}), {0, 1, 0, 0});
}

TEST(MathKernels, Reductions) {
  Tensor x = f32({1, 2, 3, 4, 5, 6}, {2, 3});
  Tensor s = run("ReduceSum", {x, Tensor::from_vector<int64_t>({1}, {1})}, {{"keepdims", ai(0)}}, 13);
  EXPECT_EQ(s.shape(), (Shape{2}));
  expect_near(s, {6, 15});
  Tensor all = run("ReduceMean", {x});  // no axes: every axis, keepdims
  EXPECT_EQ(all.shape(), (Shape{1, 1}));
  expect_near(all, {3.5});
  Tensor noop = run("ReduceSum", {x, Tensor::from_vector<int64_t>({}, {0})}, {{"noop_with_empty_axes", ai(1)}}, 13);
  EXPECT_EQ(noop.shape(), (Shape{2, 3}));
  expect_near(run("ReduceMax", {x}, {{"axes", ais({0})}}), {4, 5, 6});
  expect_near(run("ReduceMin", {x}, {{"axes", ais({-1})}, {"keepdims", ai(0)}}), {1, 4});
  expect_near(run("ReduceProd", {x}, {{"axes", ais({1})}}), {6, 120});
  expect_near(run("ReduceL1", {f32({-1, 2, -3}, {3})}), {6});
  expect_near(run("ReduceL2", {f32({3, -4}, {2})}), {5});
  expect_near(run("ReduceSumSquare", {f32({3, -4}, {2})}), {25});
  expect_near(run("ReduceLogSum", {f32({1, 2}, {2})}), {std::log(3.0)});
  expect_near(run("ReduceLogSumExp", {f32({1000, 1000}, {2})}), {1000 + std::log(2.0)}, 1e-3);
  // axes over the middle dim of [2, 2, 2]
  Tensor cube = f32({1, 2, 3, 4, 5, 6, 7, 8}, {2, 2, 2});
  expect_near(run("ReduceSum", {cube}, {{"axes", ais({1})}, {"keepdims", ai(0)}}, 11), {4, 6, 12, 14});
  EXPECT_THROW((run("ReduceSum", {x}, {{"axes", ais({1, -1})}}, 11)), InputError);  // duplicate
  EXPECT_THROW((run("ReduceMean", {x}, {{"axes", ais({2})}})), InputError);        // out of range
}

TEST(MathKernels, ArgMaxArgMin) {
  Tensor x = f32({1, 3, 3, 0, 2, 0}, {2, 3});
  Tensor first = run("ArgMax", {x}, {{"axis", ai(1)}});
  EXPECT_EQ(first.shape(), (Shape{2, 1}));
  EXPECT_EQ(values<int64_t>(first), (std::vector<int64_t>{1, 1}));
  Tensor last = run("ArgMax", {x}, {{"axis", ai(1)}, {"select_last_index", ai(1)}, {"keepdims", ai(0)}});
  EXPECT_EQ(last.shape(), (Shape{2}));
  EXPECT_EQ(values<int64_t>(last), (std::vector<int64_t>{2, 1}));
  EXPECT_EQ(values<int64_t>(run("ArgMin", {x}, {{"axis", ai(1)}, {"select_last_index", ai(1)}})),
            (std::vector<int64_t>{0, 2}));
  EXPECT_THROW((run("ArgMax", {x}, {{"axis", ai(2)}})), InputError);
}

TEST(MathKernels, CastFollowsWorkingPrecision) {
  Tensor x = f32({-1.7f, 2.9f, 0}, {3});
  Tensor i = run("Cast", {x}, {{"to", ai(6)}});  // INT32 truncates toward zero
  EXPECT_EQ(values<int32_t>(i), (std::vector<int32_t>{-1, 2, 0}));
  EXPECT_EQ(values<bool>(run("Cast", {x}, {{"to", ai(9)}})), (std::vector<bool>{true, true, false}));
  Tensor h = run("Cast", {f32({1.0f + 1.0f / 4096}, {1})}, {{"to", ai(10)}});  // FLOAT16 rounds to even
  EXPECT_EQ(h.dtype(), DType::kF16);
  EXPECT_EQ(h.to_f64_vector()[0], 1.0);
  // fp64 mode: a cast to float32 keeps double.
  Tensor d = run("Cast", {i32({3}, {1})}, {{"to", ai(1)}}, 17, Precision::kF64);
  EXPECT_EQ(d.dtype(), DType::kF64);
  Tensor like = run("CastLike", {i32({3}, {1}), f32({0}, {1})});
  EXPECT_EQ(like.dtype(), DType::kF32);
  EXPECT_THROW((run("Cast", {x}, {{"to", ai(8)}})), UnsupportedError);  // STRING
  EXPECT_THROW((run("Cast", {x}, {{"to", ai(99)}})), InputError);
}

TEST(MathKernels, Fp64ModeComputesInDouble) {
  Tensor a = Tensor::from_vector<double>({1e-17, 1}, {2});
  Tensor y = run("Add", {a, Tensor::scalar<double>(1)}, {}, 17, Precision::kF64);
  EXPECT_EQ(y.dtype(), DType::kF64);
  EXPECT_EQ(values<double>(y)[1], 2.0);
  Tensor s = run("Softmax", {Tensor::from_vector<double>({0, 0}, {1, 2})}, {}, 13, Precision::kF64);
  EXPECT_EQ(values<double>(s), (std::vector<double>{0.5, 0.5}));
}

// Timing of the hot ops on a mobilenet-sized activation. Run with --gtest_also_run_disabled_tests.
TEST(MathKernels, DISABLED_Throughput) {
  Tensor x = Tensor(DType::kF32, {1, 96, 112, 112});
  Tensor b = Tensor(DType::kF32, {96, 1, 1});
  auto time = [](const char* name, const std::function<void()>& fn) {
    fn();
    auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < 20; ++i) fn();
    double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count() / 20;
    std::printf("%-20s %.3f ms\n", name, ms);
  };
  time("Add same", [&] { run("Add", {x, x}); });
  time("Add per-channel", [&] { run("Add", {x, b}); });
  time("Mul per-channel", [&] { run("Mul", {x, b}); });
  time("Relu", [&] { run("Relu", {x}); });
  time("Clip", [&] { run("Clip", {x, Tensor::scalar<float>(0), Tensor::scalar<float>(6)}); });
  time("Sigmoid", [&] { run("Sigmoid", {x}); });
  time("HardSwish", [&] { run("HardSwish", {x}); });
  time("ReduceMean HW", [&] { run("ReduceMean", {x}, {{"axes", ais({2, 3})}}); });
}
