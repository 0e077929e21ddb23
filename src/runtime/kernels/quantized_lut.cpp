// Quantized TFLite LOGISTIC (Sigmoid), TANH, ELU and EXP, domain "tflite.quantized", uint8 -> uint8 or
// int8 -> int8. TFLite's built-in kernels (generic optimized, the default registration) build a
// 256-entry table in float32 for every input integer q and look each element up:
//   x_q = s_x * (q - zp_x)                                   (float)
//   y_q = clamp(round_half_away(f(x_q) * (1 / s_y)) + zp_y)   f = 1 / (1 + expf(-x)), tanhf(x),
//                                                            x < 0 ? expf(x) - 1 : x, expf(x)
// (The reference kernels use gemmlowp fixed-point exp / tanh instead; the interpreter the results
// are checked against runs the table.) TFLite requires s_y = 1/256 with zp_y = 0 (uint8) / -128
// (int8) for LOGISTIC, 1/128 with 128 / 0 for TANH; other output parameters work here too.
//
// LOGISTIC with requantize = "fp32" (QuantMode::kIntegerXnnpack): TFLite's XNNPACK delegate takes
// the op and builds its own table: f(x) = signbit(x) ? 1 / (1 + expf(-x)) : 1 - 1 / (1 + expf(x)),
// x_q = (q - zp_x) * s_x, rounded half to even (lrintf). TANH stays in the built-in kernel, and so
// does a LOGISTIC on more dims than XNNPACK tensors have (6).
//
// int16 LOGISTIC and TANH (zero points 0, output scale 2^-15), as TFLite's reference int16 kernels:
// the input is rescaled so that 3 * 2^12 steps are 1.0, v = (x * m + 2^(k-1)) >> k (m, k: the input
// scale times 3 * 4096 doubled until above 16383.5, truncated; a power-of-two input scale of 2^-12
// gives m = 3, k = 0), then one table T of sigmoid(i / 24) in Q0.16 for i = 0..255, each entry
// raised by half the error linear interpolation makes at its segment's midpoint (sigmoid is concave
// there), and interpolated:
//   LOGISTIC: a = |v|, t = a >> 9 (a >= 255 * 2^9: saturated, 0x7FFF << 10), else
//             r = (T[t] << 9) + (a & 511) * (T[t+1] - T[t]);
//             y = (v >= 0 ? r + 2^9 : 2^25 - r + 2^9 - 1) >> 10
//   TANH:     a = |v|, t = a >> 8, r = (T[t] << 8) + (a & 255) * (T[t+1] - T[t])  (0xFFFF << 8 when t >= 255);
//             y = (v >= 0 ? r - 2^23 + 2^7 : 2^23 - r + 2^7 - 1) >> 8   (tanh(x) = 2 sigmoid(2x) - 1)
// The table was recovered from the interpreter's outputs on all 65536 int16 inputs (the formula
// below gives every entry but the last, which it has as 65535); with it both ops are bit-exact
// with the interpreter on every input. For an input scale of exactly 2^-12 (LOGISTIC; TANH also
// 2^-11) the interpreter runs gemmlowp's fixed-point functions instead: there these results are
// up to 6 (LOGISTIC) and 10 (TANH) steps of 2^-15 from its results on the test's inputs.
#include <array>
#include <cmath>
#include <cstdlib>
#include <utility>

#include "runtime/kernels/fixed_point.h"

namespace transfix {
namespace {

using namespace qfixed;

constexpr int64_t kXnnpackMaxRank = 6;  // XNN_MAX_TENSOR_DIMS

template <typename F>
void table_op(KernelContext& ctx, F f, bool round_half_even) {
  const Tensor& x = ctx.input(0);
  require_u8_or_i8(ctx, x, "input");
  const TensorQuant in = per_tensor_quant(ctx, x, "input"), out = output_quant(ctx, 0);
  const float in_scale = static_cast<float>(in.scale), inverse_out_scale = 1.0f / static_cast<float>(out.scale);
  ctx.set_output(0, map_through_table(ctx, x, [&](int32_t q) {
    const float real = in_scale * static_cast<float>(q - in.zero_point);
    const float steps = f(real) * inverse_out_scale;
    return saturating_int(round_half_even ? std::nearbyint(steps) : std::round(steps)) + out.zero_point;
  }));
}

double sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }

// T[i] = round(2^16 (s(a) - ((s(a) + s(b)) / 2 - s((a + b) / 2)) / 2)), a = i / 24, b = (i + 1) / 24,
// at most 65535 (see the header).
const std::array<uint32_t, 256>& sigmoid_table() {
  static const std::array<uint32_t, 256> table = [] {
    std::array<uint32_t, 256> t{};
    for (int i = 0; i < 256; ++i) {
      const double a = sigmoid(i / 24.0), b = sigmoid((i + 1) / 24.0), mid = sigmoid((i + 0.5) / 24.0);
      const double biased = a - ((a + b) / 2 - mid) / 2;
      t[static_cast<size_t>(i)] = static_cast<uint32_t>(std::min(65535.0, std::round(65536.0 * biased)));
    }
    t[255] = 65535;
    return t;
  }();
  return table;
}

// The input multiplier and shift that bring x to the table's 3 * 4096 steps per unit.
std::pair<int32_t, int> int16_input_rescale(const KernelContext& ctx, const TensorQuant& in) {
  double multiplier = in.scale * 4096.0 * 3.0;
  int shift = 0;
  while (multiplier <= 32767.0 / 2.0 && shift <= 30) {
    ++shift;
    multiplier *= 2.0;
  }
  if (!(multiplier < 2147483647.0)) ctx.fail("input scale " + std::to_string(in.scale) + " is too large for int16 LOGISTIC / TANH");
  return {static_cast<int32_t>(multiplier), shift};
}

template <typename F>
void int16_sigmoid_family(KernelContext& ctx, F from_rescaled) {
  const Tensor& x = ctx.input(0);
  const TensorQuant in = per_tensor_quant(ctx, x, "input"), out = output_quant(ctx, 0);
  if (in.zero_point != 0 || out.zero_point != 0) ctx.fail("int16 " + ctx.node.op_type + " needs zero points 0");
  if (out.scale != 1.0 / 32768) ctx.fail("int16 " + ctx.node.op_type + " needs the output scale 2^-15");
  auto [multiplier, shift] = int16_input_rescale(ctx, in);
  const int64_t round = shift > 0 ? int64_t{1} << (shift - 1) : 0;
  const auto& table = sigmoid_table();
  Tensor y = Tensor::uninitialized(DType::kI16, x.shape());
  const int16_t* xs = x.data<int16_t>();
  int16_t* ys = y.mutable_data<int16_t>();
  for (int64_t i = 0; i < x.numel(); ++i) {
    // Beyond +-2^30 the table saturates anyway; the bound keeps |v| defined for any input scale.
    const int64_t wide = (int64_t{xs[i]} * multiplier + round) >> shift;
    const int32_t v = static_cast<int32_t>(std::min<int64_t>(1 << 30, std::max<int64_t>(-(1 << 30), wide)));
    ys[i] = static_cast<int16_t>(from_rescaled(v, table));
  }
  ctx.set_output(0, y);
}

int32_t logistic16(int32_t v, const std::array<uint32_t, 256>& table) {
  const uint32_t a = static_cast<uint32_t>(std::abs(v)), t = a >> 9;
  uint32_t r = 0x7FFFu << 10;
  if (t < 255) r = (table[t] << 9) + (a & 0x1ff) * (table[t + 1] - table[t]);
  r = v >= 0 ? r + (1u << 9) : (1u << 25) - r + (1u << 9) - 1;
  return static_cast<int32_t>(r >> 10);
}

int32_t tanh16(int32_t v, const std::array<uint32_t, 256>& table) {
  const uint32_t a = static_cast<uint32_t>(std::abs(v)), t = a >> 8;
  int32_t r = static_cast<int32_t>(0xFFFFu << 8);
  if (t < 255) r = static_cast<int32_t>((table[t] << 8) + (a & 0xff) * (table[t + 1] - table[t]));
  r = v >= 0 ? r - (1 << 23) + (1 << 7) : -r + (1 << 23) + (1 << 7) - 1;
  return r >> 8;
}

void quantized_sigmoid(KernelContext& ctx) {
  if (ctx.input(0).dtype() == DType::kI16) return int16_sigmoid_family(ctx, logistic16);
  if (ctx.node.attr_string("requantize", "tflite") == "fp32" && ctx.input(0).rank() <= kXnnpackMaxRank) {
    table_op(ctx, [](float v) { return std::signbit(v) ? 1.0f / (1.0f + std::exp(-v)) : 1.0f - 1.0f / (1.0f + std::exp(v)); },
             true);
    return;
  }
  table_op(ctx, [](float v) { return 1.0f / (1.0f + std::exp(-v)); }, false);
}

void quantized_tanh(KernelContext& ctx) {
  if (ctx.input(0).dtype() == DType::kI16) return int16_sigmoid_family(ctx, tanh16);
  table_op(ctx, [](float v) { return std::tanh(v); }, false);
}

// ELU (alpha 1) and EXP: the same float32 table, f = x < 0 ? expf(x) - 1 : x, and expf(x).
// ELU with requantize = "fp32": XNNPACK's table, x < 0 ? expm1f(x) : x, rounded half to even.
void quantized_elu(KernelContext& ctx) {
  if (ctx.node.attr_string("requantize", "tflite") == "fp32" && ctx.input(0).rank() <= kXnnpackMaxRank) {
    table_op(ctx, [](float v) { return v < 0.0f ? std::expm1(v) : v; }, true);
    return;
  }
  table_op(ctx, [](float v) { return v < 0.0f ? std::exp(v) - 1.0f : v; }, false);
}

void quantized_exp(KernelContext& ctx) {
  table_op(ctx, [](float v) { return std::exp(v); }, false);
}

[[maybe_unused]] const bool kRegistered = [] {
  register_kernel("Sigmoid", KernelInfo{quantized_sigmoid, true}, kTfliteQuantizedDomain);
  register_kernel("Tanh", KernelInfo{quantized_tanh, true}, kTfliteQuantizedDomain);
  register_kernel("Elu", KernelInfo{quantized_elu, true}, kTfliteQuantizedDomain);
  register_kernel("Exp", KernelInfo{quantized_exp, true}, kTfliteQuantizedDomain);
  return true;
}();

}  // namespace
}  // namespace transfix
