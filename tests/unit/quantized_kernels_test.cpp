// Integer kernels of the tflite.quantized domain on small cases computed by hand (comments show the
// arithmetic), the fixed-point primitives, and dequantized mode vs integer mode on a shared model.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>

#include "formats/model_io.h"
#include "formats/tflite/tflite_reader.h"
#include "runtime/interpreter.h"
#include "runtime/kernels/fixed_point.h"

using namespace transfix;
using namespace transfix::qfixed;

namespace {

template <typename T>
Tensor q(std::vector<T> v, Shape s, float scale, int64_t zero) {
  Tensor t = Tensor::from_vector<T>(v, std::move(s));
  t.set_quant(QuantParams{{scale}, {zero}, 0});
  return t;
}

// Runs one tflite.quantized kernel whose output has dtype `out_type` and the given quantization.
Tensor run_quantized(const std::string& op, const std::vector<Tensor>& inputs, DType out_type, float scale, int64_t zero,
                     const std::map<std::string, AttrValue>& attrs = {}) {
  Node node;
  node.op_type = op;
  node.domain = kTfliteQuantizedDomain;
  node.name = "n";
  for (size_t i = 0; i < inputs.size(); ++i) node.inputs.push_back("in" + std::to_string(i));
  node.outputs = {"out"};
  for (const auto& [k, v] : attrs) node.attrs[k] = Attribute{v};
  ValueInfo out;
  out.name = "out";
  out.dtype = out_type;
  out.quant = QuantParams{{scale}, {zero}, 0};
  std::vector<const Tensor*> ptrs;
  for (const Tensor& t : inputs) ptrs.push_back(&t);
  const KernelInfo* kernel = find_kernel(op, kTfliteQuantizedDomain);
  if (!kernel) throw std::runtime_error("no quantized kernel " + op);
  KernelContext ctx(node, 17, Precision::kF32, ptrs, {&out});
  kernel->fn(ctx);
  return ctx.outputs()[0];
}

std::vector<int64_t> ints(const Tensor& t) { return t.to_i64_vector(); }

}  // namespace

TEST(FixedPoint, QuantizeMultiplier) {
  // 0.5 = 0.5 * 2^0 -> significand 2^30, exponent 0; 0.2 = 0.8 * 2^-2 -> round(0.8 * 2^31) = 1717986918.
  EXPECT_EQ(quantize_multiplier(0.5).significand, 1 << 30);
  EXPECT_EQ(quantize_multiplier(0.5).exponent, 0);
  EXPECT_EQ(quantize_multiplier(0.2).significand, 1717986918);
  EXPECT_EQ(quantize_multiplier(0.2).exponent, -2);
  EXPECT_EQ(quantize_multiplier(3.0).exponent, 2);  // 0.75 * 2^2
  EXPECT_EQ(quantize_multiplier(0.0).significand, 0);
  EXPECT_EQ(quantize_multiplier(1e-12).significand, 0);  // exponent < -31 flushes to zero
}

TEST(FixedPoint, RoundingHalfAwayFromZero) {
  // x / 2: 5/2 = 2.5 -> 3, -5/2 -> -3, 3/2 = 1.5 -> 2, -3/2 -> -2, -1/2 -> -1, 1/4 -> 0.
  EXPECT_EQ(rounding_divide_by_pot(5, 1), 3);
  EXPECT_EQ(rounding_divide_by_pot(-5, 1), -3);
  EXPECT_EQ(rounding_divide_by_pot(3, 1), 2);
  EXPECT_EQ(rounding_divide_by_pot(-3, 1), -2);
  EXPECT_EQ(rounding_divide_by_pot(-1, 1), -1);
  EXPECT_EQ(rounding_divide_by_pot(1, 2), 0);
  // a * b / 2^31 with a nudge of +-(2^30 - [negative]) and truncation: ties go up (towards +inf).
  // a = 2^30 (0.5 in Q0.31): b = 3 -> 1.5 -> 2; b = -3 -> -1.5 -> -1; b = -5 -> -2.5 -> -2; b = -7 -> -3.
  EXPECT_EQ(saturating_rounding_doubling_high_mul(1 << 30, 3), 2);
  EXPECT_EQ(saturating_rounding_doubling_high_mul(1 << 30, -3), -1);
  EXPECT_EQ(saturating_rounding_doubling_high_mul(1 << 30, -5), -2);
  EXPECT_EQ(saturating_rounding_doubling_high_mul(1 << 30, -6), -3);
  EXPECT_EQ(saturating_rounding_doubling_high_mul(INT32_MIN, INT32_MIN), INT32_MAX);
  // 120 * 0.2 = 24 exactly; 7 * 0.5 = 3.5 -> 4; -7 * 0.5 = -3.5 -> -3 (the high mul's tie rule);
  // -7 * 0.25 = -1.75: high mul -3.5 -> -3, then / 2 -> -1.5 -> -2 (the shift's ties away from zero).
  EXPECT_EQ(multiply_by_quantized_multiplier(120, quantize_multiplier(0.2)), 24);
  EXPECT_EQ(multiply_by_quantized_multiplier(7, quantize_multiplier(0.5)), 4);
  EXPECT_EQ(multiply_by_quantized_multiplier(-7, quantize_multiplier(0.5)), -3);
  EXPECT_EQ(multiply_by_quantized_multiplier(-7, quantize_multiplier(0.25)), -2);
  EXPECT_EQ(multiply_by_quantized_multiplier(5, quantize_multiplier(3.0)), 15);
}

TEST(FixedPoint, WideMultiplyRoundsTheMultiplierToQ15First) {
  // 0.3 = 0.6 * 2^-1: significand round(0.6 * 2^31) = 1288490189, exponent -1; rounded to Q0.15:
  // (1288490189 + 2^15) >> 16 = 19661 (19660.8); shift 15 + 1 = 16. x = 1000: 1000 * 19661 = 19661000,
  // + 2^15, >> 16 = 300.5 floored -> 300. x = 10^9 (x * 0.3 fits, the product does not): 19661 * 10^9 / 2^16
  // = 300003051.8 -> 300003052.
  const Multiplier m = quantize_multiplier(0.3);
  EXPECT_EQ(multiply_by_quantized_multiplier_wide(1000, m), 300);
  EXPECT_EQ(multiply_by_quantized_multiplier_wide(1000000000, m), 300003052);
  // Ties go towards +inf (one added half, arithmetic shift): 0.5 = Q0.15 16384, shift 15;
  // 3 * 0.5 = 1.5 -> 2, -3 * 0.5 = -1.5 -> -1.
  EXPECT_EQ(multiply_by_quantized_multiplier_wide(3, quantize_multiplier(0.5)), 2);
  EXPECT_EQ(multiply_by_quantized_multiplier_wide(-3, quantize_multiplier(0.5)), -1);
  // A result beyond int32 saturates instead of wrapping.
  EXPECT_EQ(multiply_by_quantized_multiplier_wide(int64_t{1} << 46, quantize_multiplier(0.9)), INT32_MAX);
}

TEST(FixedPoint, Int16TableInterpolatesBetweenEntries) {
  // The identity over [-1, 1]: entries are exact, so lookups reproduce the input (within a step):
  // lut[i] = round((-1 + i / 256) * 2^15) = 128 i - 32768; v = 1000: index 256 + 7, offset 104,
  // base 128 * 263 - 32768 = 896, slope 128 -> 896 + (128 * 104 + 64) >> 7 = 896 + 104 = 1000.
  const std::vector<int16_t> lut = make_int16_lut([](double v) { return v; }, -1.0, 1.0);
  ASSERT_EQ(lut.size(), 513u);
  EXPECT_EQ(lut[0], -32768);
  EXPECT_EQ(lut[512], 32767);  // 1.0 * 2^15 saturates
  EXPECT_EQ(int16_lut_lookup(1000, lut.data()), 1000);
  EXPECT_EQ(int16_lut_lookup(-32768, lut.data()), -32768);
}

TEST(QuantizedKernels, Int16ConvAccumulatesIn64Bits) {
  // 16x8: x = 30000 (scale 2^-12), w = 100 and 127 (scale 0.01), int64 bias 5e9 on scale
  // 2^-12 * 0.01. acc = 30000 * 100 + 30000 * 127 + 5e9 = 5006810000 (beyond int32: an int32
  // accumulator would wrap); M = 2^-12 * 0.01 / 1 = 2.44140625e-6 -> Q0.15 significand 20972 (0.64),
  // exponent -18; 5006810000 * 20972 / 2^33 = 12223.9 -> 12224 (real 12223.66), within int16.
  const Tensor x = q<int16_t>({30000, 30000}, {1, 1, 1, 2}, 1.0f / 4096, 0);
  const Tensor w = q<int8_t>({100, 127}, {1, 1, 1, 2}, 0.01f, 0);
  const std::map<std::string, AttrValue> attrs{{"layout", std::string("NHWC")}, {"weight_layout", std::string("OHWI")},
                                               {"kernel_shape", std::vector<int64_t>{1, 1}}, {"auto_pad", std::string("VALID")}};
  EXPECT_EQ(ints(run_quantized("Conv", {x, w, Tensor::from_vector<int64_t>({5000000000}, {1})}, DType::kI16, 1.0f, 0, attrs)),
            (std::vector<int64_t>{12224}));
}

TEST(QuantizedKernels, Int16AddWithPowerOfTwoScales) {
  // Zero points 0, scales 2^-10 (a), 2^-12 (b), 2^-10 (out): b is divided by 4 rounding half away,
  // then added with int16 saturation: 100 + 6/4 (1.5 -> 2) = 102; 32767 + 400/4 saturates; -1 + -2/4 -> -2.
  const Tensor a = q<int16_t>({100, 32767, -1}, {3}, 1.0f / 1024, 0), b = q<int16_t>({6, 400, -2}, {3}, 1.0f / 4096, 0);
  EXPECT_EQ(ints(run_quantized("Add", {a, b}, DType::kI16, 1.0f / 1024, 0)), (std::vector<int64_t>{102, 32767, -2}));
}

TEST(QuantizedKernels, PointwiseConvWithBiasAndRelu6) {
  // x (scale 0.5, zp 128): 130, 120 -> 1, -4. w (scale 0.1, zp 128): 138, 118 -> 1, -1.
  // acc = bias + 2 * 10 + (-8) * (-10) = bias + 100; M = 0.5 * 0.1 / 0.25 = 0.2; y = acc * 0.2 + 10.
  const Tensor x = q<uint8_t>({130, 120}, {1, 1, 1, 2}, 0.5f, 128);
  const Tensor w = q<uint8_t>({138, 118}, {1, 1, 1, 2}, 0.1f, 128);
  const std::map<std::string, AttrValue> attrs{{"layout", std::string("NHWC")}, {"weight_layout", std::string("OHWI")},
                                               {"kernel_shape", std::vector<int64_t>{1, 1}}, {"auto_pad", std::string("VALID")}};
  // bias 20: acc 120 -> 24 -> 34 (real 6.0).
  EXPECT_EQ(ints(run_quantized("Conv", {x, w, Tensor::from_vector<int32_t>({20}, {1})}, DType::kU8, 0.25f, 10, attrs)),
            (std::vector<int64_t>{34}));
  // bias 40: acc 140 -> 28 -> 38 (real 7.0); RELU6 clamps at 10 + round(6 / 0.25) = 34.
  auto relu6 = attrs;
  relu6["fused_activation"] = std::string("RELU6");
  EXPECT_EQ(ints(run_quantized("Conv", {x, w, Tensor::from_vector<int32_t>({40}, {1})}, DType::kU8, 0.25f, 10, relu6)),
            (std::vector<int64_t>{34}));
}

TEST(QuantizedKernels, DepthwiseConvSamePadding) {
  // int8, scales 1, zero points 0, 3x3 ones filter on a 2x2 input, SAME: every output sums all 4
  // inputs (1 + 2 + 3 + 4 = 10) since the window covers the whole input; output scale 2 -> 5.
  const Tensor x = q<int8_t>({1, 2, 3, 4}, {1, 2, 2, 1}, 1.0f, 0);
  const Tensor w = q<int8_t>(std::vector<int8_t>(9, 1), {1, 3, 3, 1}, 1.0f, 0);
  const std::map<std::string, AttrValue> attrs{{"layout", std::string("NHWC")}, {"weight_layout", std::string("1HWO")},
                                               {"kernel_shape", std::vector<int64_t>{3, 3}}, {"auto_pad", std::string("SAME_UPPER")},
                                               {"group", int64_t{1}}};
  EXPECT_EQ(ints(run_quantized("Conv", {x, w}, DType::kI8, 2.0f, 0, attrs)), (std::vector<int64_t>{5, 5, 5, 5}));
}

TEST(QuantizedKernels, AddRescalesBothInputs) {
  // a scale 0.5, b scale 0.25, out scale 1: 3 * 0.5 + 6 * 0.25 = 3; 1 * 0.5 + 0 = 0.5 -> 1 (half away).
  const Tensor a = q<uint8_t>({3, 1}, {2}, 0.5f, 0), b = q<uint8_t>({6, 0}, {2}, 0.25f, 0);
  EXPECT_EQ(ints(run_quantized("Add", {a, b}, DType::kU8, 1.0f, 0)), (std::vector<int64_t>{3, 1}));
  // int8 with zero points and broadcasting: a (zp -10) + scalar b (zp 5): (20 - -10) * 0.5 + (7 - 5) * 0.25
  // = 15.5, output zp 3 -> 19 (15.5 rounds away from zero to 16).
  const Tensor c = q<int8_t>({20}, {1}, 0.5f, -10), d = q<int8_t>({7}, {}, 0.25f, 5);
  EXPECT_EQ(ints(run_quantized("Add", {c, d}, DType::kI8, 1.0f, 3)), (std::vector<int64_t>{19}));
}

TEST(QuantizedKernels, AveragePoolRoundsHalfAwayFromZero) {
  // 1x2 windows over [-3, -2 | 3, 2]: -2.5 -> -3, 2.5 -> 3.
  const Tensor x = q<int8_t>({-3, -2, 3, 2}, {1, 2, 2, 1}, 0.1f, 0);
  const std::map<std::string, AttrValue> attrs{{"layout", std::string("NHWC")}, {"kernel_shape", std::vector<int64_t>{1, 2}},
                                               {"strides", std::vector<int64_t>{1, 2}}, {"auto_pad", std::string("VALID")}};
  EXPECT_EQ(ints(run_quantized("AveragePool", {x}, DType::kI8, 0.1f, 0, attrs)), (std::vector<int64_t>{-3, 3}));
}

TEST(QuantizedKernels, SoftmaxOfEqualLogits) {
  // Four equal logits: p = 0.25 each; int8 output (scale 1/256, zp -128): 64 - 128 = -64; uint8: 64.
  EXPECT_EQ(ints(run_quantized("Softmax", {q<int8_t>({5, 5, 5, 5}, {1, 4}, 0.1f, 0)}, DType::kI8, 1.0f / 256, -128)),
            (std::vector<int64_t>{-64, -64, -64, -64}));
  EXPECT_EQ(ints(run_quantized("Softmax", {q<uint8_t>({9, 9, 9, 9}, {1, 4}, 0.1f, 0)}, DType::kU8, 1.0f / 256, 0)),
            (std::vector<int64_t>{64, 64, 64, 64}));
}

TEST(QuantizedKernels, PadFillsWithTheZeroPoint) {
  // int8 zero point -5 stands for 0.0: PAD [1, 1] on a [2] tensor -> [-5, 7, 8, -5].
  const Tensor x = q<int8_t>({7, 8}, {2}, 0.5f, -5);
  EXPECT_EQ(ints(run_quantized("Pad", {x, Tensor::from_vector<int64_t>({1, 1}, {2})}, DType::kI8, 0.5f, -5)),
            (std::vector<int64_t>{-5, 7, 8, -5}));
}

TEST(QuantizedKernels, ConcatRescalesInputsWithOtherParameters) {
  // a is on the output's grid (scale 1, zp 0); b (scale 0.5, zp 4): 8 -> 2.0 -> 2, 3 -> -0.5 -> -1 -> clamp 0.
  const Tensor a = q<uint8_t>({10}, {1}, 1.0f, 0), b = q<uint8_t>({8, 3}, {2}, 0.5f, 4);
  EXPECT_EQ(ints(run_quantized("Concat", {a, b}, DType::kU8, 1.0f, 0, {{"axis", int64_t{0}}})),
            (std::vector<int64_t>{10, 2, 0}));
}

TEST(QuantizedKernels, HardSwishInQ15) {
  // s_x = s_y = 1/16, zp 0: output multiplier (1/2048) / (1/16) = 2^-7 -> Q0.15 16384, exponent -6;
  // reluish multiplier (1/2048) / (3/32768) = 16/3 -> 0.6667 * 2^3 -> Q0.15 21845, exponent 3.
  // x = 16 (1.0): v = 2048, o = SRDHM(2048, 16384) = 1024; r: 2048 << 2 = 8192, SRDHM -> 5461, << 1 ->
  //   10922, (10922 + 32768) >> 1 = 21845; SDHM(21845, 1024) = 682; 682 / 64 = 10.66 -> 11 (1.0 * 4 / 6 = 0.667).
  // x = -16 (-1.0): o = -1024, r = (-10922 + 32768) >> 1 = 10923, SDHM = -341 (truncated), / 64 -> -5.
  // x = 64 (4.0): r saturates at 32767, SDHM(32767, 4096) = 4095, / 64 -> 64. x = -64 (-4.0): r = 0 -> 0.
  const Tensor x = q<int8_t>({16, -16, 64, -64}, {4}, 1.0f / 16, 0);
  EXPECT_EQ(ints(run_quantized("HardSwish", {x}, DType::kI8, 1.0f / 16, 0)), (std::vector<int64_t>{11, -5, 64, 0}));
}

TEST(QuantizedKernels, ReluRequantizesThenClamps) {
  // s_x 0.5 (zp -10) -> s_y 0.25 (zp -128): y = -128 + 2 * (x + 10), at least -128 (real 0).
  const Tensor x = q<int8_t>({-10, -5, -20, 60}, {4}, 0.5f, -10);
  EXPECT_EQ(ints(run_quantized("Relu", {x}, DType::kI8, 0.25f, -128)), (std::vector<int64_t>{-128, -118, -128, 12}));
  // Clip(-1, 1) (RELU_N1_TO_1) on the same grid: bounds -128 - 4 (clamped to -128) and -128 + 4.
  EXPECT_EQ(ints(run_quantized("Clip", {x, Tensor::scalar<float>(-1.0f), Tensor::scalar<float>(1.0f)}, DType::kI8, 0.25f, -128)),
            (std::vector<int64_t>{-128, -124, -128, -124}));
}

TEST(QuantizedKernels, MeanOverHeightAndWidth) {
  // x {1, 2, 3, 3} (s 0.5, zp 1) -> s_y 0.25, zp 3: real mean (0 + 1 + 2 + 2) * 0.5 / 4 = 0.625 = 2.5 steps.
  // Built-in, keep_dims: bias = 3 - trunc(1 * 0.5 / 0.25 + 0.5) = 1; sum 9 * M (0.5) = 4.5 -> 5 (SRDHM
  // rounds up); 5 + 1 = 6. Without keep_dims (float): round(9 / 4 * 2 - 1 * 2) = round(2.5) = 3 -> 6.
  // XNNPACK (requantize fp32): (9 - 4 * 1) * 0.5 = 2.5 -> 2 (half to even) -> 5.
  const Tensor x = q<int8_t>({1, 2, 3, 3}, {1, 2, 2, 1}, 0.5f, 1);
  const std::map<std::string, AttrValue> keep{{"axes", std::vector<int64_t>{1, 2}}, {"keepdims", int64_t{1}}};
  EXPECT_EQ(ints(run_quantized("ReduceMean", {x}, DType::kI8, 0.25f, 3, keep)), (std::vector<int64_t>{6}));
  const std::map<std::string, AttrValue> drop{{"axes", std::vector<int64_t>{1, 2}}, {"keepdims", int64_t{0}}};
  EXPECT_EQ(ints(run_quantized("ReduceMean", {x}, DType::kI8, 0.25f, 3, drop)), (std::vector<int64_t>{6}));
  auto xnnpack = keep;
  xnnpack["requantize"] = std::string("fp32");
  EXPECT_EQ(ints(run_quantized("ReduceMean", {x}, DType::kI8, 0.25f, 3, xnnpack)), (std::vector<int64_t>{5}));
}

TEST(QuantizedKernels, LeakyReluXnnpackQ8Multipliers) {
  // uint8 s 0.1, zp 100 both sides, alpha 0.3: XNNPACK multipliers lrintf(256) = 256, lrintf(76.8) = 77;
  // y = 100 + floor(((x - 100) * m + 128) / 256): x 95 -> floor(-257 / 256) = -2 -> 98; 90 -> -3 -> 97; 120 -> 120.
  const Tensor x = q<uint8_t>({95, 90, 120}, {3}, 0.1f, 100);
  EXPECT_EQ(ints(run_quantized("LeakyRelu", {x}, DType::kU8, 0.1f, 100, {{"alpha", 0.3}, {"requantize", std::string("fp32")}})),
            (std::vector<int64_t>{98, 97, 120}));
}

// Dequantized mode (float, every quantized tensor rounded to its grid) vs the integer modes on
// ic_resnet8: it computes what int-xnnpack does (float requantization, one rounding) up to float
// near-ties, while the built-in kernels' fixed-point multiplier rounds twice (a step here and there).
TEST(QuantizedKernels, DequantizedModeMatchesXnnpackRequantization) {
  namespace fs = std::filesystem;
  const char* env = std::getenv("TRANSFIX_SHARED_MODELS");
  const fs::path path = fs::path(env ? env : TRANSFIX_SOURCE_DIR "/../shared/models") / "mlcommons_tiny/ic_resnet8_cifar10_int8.tflite";
  if (!fs::exists(path)) GTEST_SKIP() << path << " not found (third-party models live beside the repo)";
  Model m = load_model(path.string());
  const ValueInfo& in = m.graph.inputs.at(0);
  Tensor x(DType::kI8, in.shape);
  int8_t* xs = x.mutable_data<int8_t>();
  for (int64_t i = 0; i < x.numel(); ++i) xs[i] = static_cast<int8_t>((i * 37) % 256 - 128);
  auto run = [&](QuantMode mode) { return Interpreter(m, {.quant_mode = mode}).run({{in.name, x}}); };
  const auto integer = run(QuantMode::kInteger), xnnpack = run(QuantMode::kIntegerXnnpack), dequantized = run(QuantMode::kDequantized);
  const ValueInfo& out = m.graph.outputs.at(0);
  const Tensor& fd = dequantized.at(out.name);
  EXPECT_EQ(integer.at(out.name).dtype(), DType::kI8);
  ASSERT_EQ(fd.dtype(), DType::kF32);
  const auto a = integer.at(out.name).to_f64_vector(), b = xnnpack.at(out.name).to_f64_vector(), f = fd.to_f64_vector();
  ASSERT_EQ(a.size(), f.size());
  double worst_xnnpack = 0, worst_integer = 0;
  for (size_t i = 0; i < f.size(); ++i) {
    const double steps = f[i] / out.quant->scale[0] + static_cast<double>(out.quant->zero_point[0]);
    EXPECT_NEAR(steps, std::round(steps), 1e-3) << "dequantized output must lie on the output grid";
    worst_xnnpack = std::max(worst_xnnpack, std::abs(steps - b[i]));
    worst_integer = std::max(worst_integer, std::abs(steps - a[i]));
  }
  // Measured 3 steps for both on this input: int-xnnpack and dequantized agree on every tensor up to
  // a float near-tie in one convolution (1 element of 4096 one step apart), which later layers spread.
  EXPECT_LE(worst_xnnpack, 6.0);
  EXPECT_LE(worst_integer, 8.0);
}
