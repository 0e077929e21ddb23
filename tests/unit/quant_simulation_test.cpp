// quant_simulation on a hand-built quantized graph: the dequantized model rounds every quantized
// value to its grid (and matches the integer kernels where they agree), the float twin rounds nothing,
// and the float16 twin widens every float16 value. Expected values are computed by hand in the comments.
#include <gtest/gtest.h>

#include "core/graph.h"
#include "core/tensor_math.h"
#include "runtime/interpreter.h"
#include "runtime/quant_simulation.h"

namespace transfix {
namespace {

ValueInfo int8_value(const std::string& name, float scale, int64_t zero) {
  ValueInfo v;
  v.name = name, v.dtype = DType::kI8, v.shape = {1, 4}, v.has_shape = true;
  v.quant = QuantParams{{scale}, {zero}, 0};
  return v;
}

// x (int8, scale 0.3, zero 0) -> quantized Relu -> y (int8, scale 0.25, zero -10).
Model quantized_relu() {
  Model m;
  m.meta.format = "tflite";
  m.meta.opsets[""] = 13;
  m.graph.inputs.push_back(int8_value("x", 0.3f, 0));
  m.graph.outputs.push_back(int8_value("y", 0.25f, -10));
  m.graph.value_info["y"] = m.graph.outputs[0];
  Node relu;
  relu.op_type = "Relu", relu.domain = kTfliteQuantizedDomain, relu.name = "relu";
  relu.inputs = {"x"}, relu.outputs = {"y"};
  relu.prov = Provenance{"tflite", "RELU", "relu", 0};
  m.graph.nodes.push_back(relu);
  return m;
}

Tensor x_int8() {
  Tensor x = Tensor::from_vector<int8_t>({-4, -1, 0, 3}, {1, 4});  // real -1.2, -0.3, 0, 0.9
  x.set_quant(QuantParams{{0.3f}, {0}, 0});
  return x;
}

std::vector<double> real_output(const Model& m) {
  Interpreter interpreter(m);
  auto out = interpreter.run({{"x", x_int8()}});
  return real_f64(out.at("y")).to_f64_vector();
}

TEST(QuantSimulation, DequantizedModelRoundsToTheOutputGrid) {
  const Model m = quantized_relu();
  ASSERT_TRUE(has_quantized_ops(m));
  const Model dq = dequantized_model(m);
  EXPECT_FALSE(has_quantized_ops(dq));
  for (const auto& n : dq.graph.nodes) EXPECT_NE(n.domain, kTfliteQuantizedDomain) << n.op_type;
  // relu(0.9) = 0.9 -> 0.9 / 0.25 = 3.6 -> 4 steps -> 1.0 on y's grid; the rest 0.
  const std::vector<double> y = real_output(dq);
  ASSERT_EQ(y.size(), 4u);
  EXPECT_DOUBLE_EQ(y[0], 0.0);
  EXPECT_DOUBLE_EQ(y[1], 0.0);
  EXPECT_DOUBLE_EQ(y[2], 0.0);
  EXPECT_NEAR(y[3], 1.0, 1e-7);
  // The integer kernel computes the same: q = round(0.9 / 0.25) + (-10) = -6, real (−6 + 10) x 0.25.
  const std::vector<double> yi = real_output(m);
  for (size_t i = 0; i < 4; ++i) EXPECT_NEAR(yi[i], y[i], 1e-7) << i;
}

TEST(QuantSimulation, FloatTwinRoundsNoActivation) {
  const Model twin = float_twin_model(quantized_relu());
  EXPECT_FALSE(has_quantized_ops(twin));
  const std::vector<double> y = real_output(twin);
  ASSERT_EQ(y.size(), 4u);
  EXPECT_DOUBLE_EQ(y[0], 0.0);
  EXPECT_NEAR(y[3], 0.9, 1e-6);  // relu of the input's real value, not rounded to y's grid (1.0)
}

TEST(QuantSimulation, Float32TwinOfFp16WidensEveryFloat16Value) {
  // y = x + c, c a float16 constant, computed in float16.
  Model m;
  m.meta.format = "onnx";
  m.meta.opsets[""] = 13;
  ValueInfo x;
  x.name = "x", x.dtype = DType::kF16, x.shape = {3}, x.has_shape = true;
  m.graph.inputs.push_back(x);
  ValueInfo y = x;
  y.name = "y";
  m.graph.outputs.push_back(y);
  m.graph.initializers["c"] = Tensor::from_vector<float>({0.1f, 1000.1f, -2.0f}, {3}).cast(DType::kF16);
  Node add;
  add.op_type = "Add", add.name = "add", add.inputs = {"x", "c"}, add.outputs = {"y"};
  m.graph.nodes.push_back(add);
  const Model twin = float32_twin_of_fp16(m);
  EXPECT_EQ(twin.graph.initializers.at("c").dtype(), DType::kF32);
  for (const auto& v : twin.graph.outputs) EXPECT_NE(v.dtype, DType::kF16);
  // The twin keeps the constant's float16 values (0.1 -> 0.0999755859375, 1000.1 -> 1000) but adds in
  // float32: 0.25 + 0.0999755859375 = 0.3499755859375, where float16 arithmetic would give 0.349853515625.
  Interpreter interpreter(twin);
  const Tensor in = Tensor::from_vector<float>({0.25f, 0.5f, 1.0f}, {3});
  auto out = interpreter.run({{"x", twin.graph.inputs[0].dtype == DType::kF16 ? in.cast(DType::kF16) : in}});
  const std::vector<double> r = out.at("y").to_f64_vector();
  const double c0 = static_cast<double>(Tensor::from_vector<float>({0.1f}, {1}).cast(DType::kF16).to_f64_vector()[0]);
  EXPECT_NEAR(r[0], 0.25 + c0, 1e-7);
  EXPECT_NEAR(r[1], 1000.5, 1e-4);
  EXPECT_NEAR(r[2], -1.0, 1e-7);
}

}  // namespace
}  // namespace transfix
