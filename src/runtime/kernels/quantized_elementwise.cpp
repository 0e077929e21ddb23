// Quantized TFLite element-wise binary ops (domain "tflite.quantized"), uint8 or int8 (ADD, SUB and
// MUL also int16), numpy broadcasting, fused activation clamp. Integer arithmetic as TFLite's
// reference kernels:
//  ADD: both inputs are brought to a common fixed-point scale first. With s = 2 * max(s1, s2) and
//       a headroom shift h of 20 bits (15 for int16):
//         a_i = (x_i - zp_i) * 2^h * (s_i / s)                   (fixed-point multiply, < 1)
//         y   = clamp((a_1 + a_2) * (s / (2^h * s_y)) + zp_y)
//       int16 with every zero point 0 and every scale a power of two (TFLite's "POT" case): the
//       input whose scale differs from the output's is divided by 2^k (rounding half away), the
//       other is already on the output's scale, and the two are added with int16 saturation.
//  SUB: as ADD with a_1 - a_2.
//  MUL: y = clamp((x_1 - zp_1) * (x_2 - zp_2) * (s1 * s2 / s_y) + zp_y)
//  DIV (uint8 only, as the interpreter): a = x_1 - zp_1, b = x_2 - zp_2 (b > 0 after moving its sign
//       to a; b = 0 is an error), 1/b as a Q0.31 reciprocal of b normalized to [1, 2) (gemmlowp's
//       Newton-Raphson, 3 steps) with the shift it took, a shifted left by its headroom, then
//       y = clamp(a * (1/b) * (s1 / (s2 * s_y)) + zp_y) with the shifts summed into one rounding shift.
#include <cmath>
#include <functional>
#include <optional>

#include "runtime/kernel_util.h"
#include "runtime/kernels/fixed_point.h"

namespace transfix {
namespace {

using namespace qfixed;

// Walks the broadcast of the two inputs; `combine(a, b)` maps centered inputs to the output
// before the zero point is added and the range clamp applied.
void quantized_binary(KernelContext& ctx, const std::function<int32_t(int32_t, int32_t)>& combine, int32_t out_zero) {
  const Tensor& a = ctx.input(0);
  const Tensor& b = ctx.input(1);
  require_u8_i8_or_i16(ctx, a, "input 0");
  require_u8_i8_or_i16(ctx, b, "input 1");
  if (a.dtype() != b.dtype()) ctx.fail("inputs must share one dtype");
  const int32_t za = per_tensor_quant(ctx, a, "input 0").zero_point, zb = per_tensor_quant(ctx, b, "input 1").zero_point;
  const Range range = activation_range(ctx, a.dtype(), output_quant(ctx, 0));
  const Shape shape = broadcast_shapes(a.shape(), b.shape());
  Tensor y = Tensor::uninitialized(a.dtype(), shape);
  for_each_broadcast(shape, broadcast_strides(a.shape(), shape), broadcast_strides(b.shape(), shape),
                     [&](int64_t o, int64_t ia, int64_t ib) {
                       int32_t v = combine(load_q(a, ia) - za, load_q(b, ib) - zb) + out_zero;
                       store_q(y, o, std::min(range.hi, std::max(range.lo, v)));
                     });
  ctx.set_output(0, y);
}

// log2(scale) when it is within 1e-3 of an integer (TFLite's CheckedLog2, in float).
std::optional<int> power_of_two_exponent(double scale) {
  const float log2 = std::log(static_cast<float>(scale)) * (1.0f / std::log(2.0f));
  const float rounded = std::round(log2);
  if (std::abs(log2 - rounded) >= 1e-3f) return std::nullopt;
  return static_cast<int>(rounded);
}

// int16 ADD / SUB with power-of-two scales and zero points 0 (see the header), or false when the
// quantization is not of that kind.
bool add_or_sub_power_of_two(KernelContext& ctx, const TensorQuant& q1, const TensorQuant& q2, const TensorQuant& out,
                             int32_t sign) {
  if (q1.zero_point != 0 || q2.zero_point != 0 || out.zero_point != 0) return false;
  const auto e1 = power_of_two_exponent(q1.scale), e2 = power_of_two_exponent(q2.scale);
  const auto eo = power_of_two_exponent(out.scale);
  if (!e1 || !e2 || !eo) return false;
  const int shift1 = *e1 - *eo, shift2 = *e2 - *eo;
  if ((shift1 != 0 && shift2 != 0) || shift1 > 0 || shift2 > 0)
    ctx.fail("int16 inputs with power-of-two scales: one must be on the output's scale and the other finer "
             "(TFLite refuses other shifts)");
  quantized_binary(ctx, [&](int32_t a, int32_t b) {
    a = rounding_divide_by_pot(a, -shift1);
    b = rounding_divide_by_pot(b, -shift2);
    return std::min<int32_t>(INT16_MAX, std::max<int32_t>(INT16_MIN, a + sign * b));
  }, 0);
  return true;
}

// ADD (sign +1) and SUB (sign -1): TFLite's SUB is ADD's arithmetic with the scaled second input
// subtracted (the fixed-point multiply rounds half away from zero, so negating after scaling is exact).
void quantized_add_or_sub(KernelContext& ctx, int32_t sign) {
  const TensorQuant q1 = per_tensor_quant(ctx, ctx.input(0), "input 0");
  const TensorQuant q2 = per_tensor_quant(ctx, ctx.input(1), "input 1");
  const TensorQuant out = output_quant(ctx, 0);
  const bool int16 = ctx.input(0).dtype() == DType::kI16;
  if (int16 && add_or_sub_power_of_two(ctx, q1, q2, out, sign)) return;
  const int kLeftShift = int16 ? 15 : 20;  // headroom of the inputs in int32
  const double s1 = q1.scale, s2 = q2.scale;
  const double twice_max = 2 * std::max(s1, s2);
  const Multiplier m1 = quantize_multiplier(s1 / twice_max), m2 = quantize_multiplier(s2 / twice_max);
  const Multiplier mo = quantize_multiplier(twice_max / (static_cast<double>(1 << kLeftShift) * out.scale));
  quantized_binary(ctx, [&](int32_t a, int32_t b) {
    // int32 as in TFLite; with the zero points a hostile file may declare, the shifts and the sum
    // wrap (defined here) instead of overflowing.
    const int32_t sa = multiply_by_quantized_multiplier(wrapping_shift_left(a, kLeftShift), m1);
    const int32_t sb = multiply_by_quantized_multiplier(wrapping_shift_left(b, kLeftShift), m2);
    return multiply_by_quantized_multiplier(static_cast<int32_t>(int64_t{sa} + sign * int64_t{sb}), mo);
  }, out.zero_point);
}

void quantized_add(KernelContext& ctx) { quantized_add_or_sub(ctx, 1); }
void quantized_sub(KernelContext& ctx) { quantized_add_or_sub(ctx, -1); }

void quantized_mul(KernelContext& ctx) {
  const double s1 = per_tensor_quant(ctx, ctx.input(0), "input 0").scale;
  const double s2 = per_tensor_quant(ctx, ctx.input(1), "input 1").scale;
  const TensorQuant out = output_quant(ctx, 0);
  const Multiplier m = quantize_multiplier(s1 * s2 / out.scale);
  quantized_binary(ctx, [&](int32_t a, int32_t b) {
    return multiply_by_quantized_multiplier(static_cast<int32_t>(int64_t{a} * b), m);  // int32 product, wrapping
  }, out.zero_point);
}

// gemmlowp fixed point, raw int32 with `integer bits` noted: F0 (Q0.31) and F2 (Q2.29).
int32_t rounding_half_sum(int32_t a, int32_t b) {
  const int64_t sum = int64_t{a} + int64_t{b};
  return static_cast<int32_t>((sum + (sum >= 0 ? 1 : -1)) / 2);
}
int32_t saturating_shift_left(int32_t x, int shift) {
  const int64_t r = int64_t{x} * (int64_t{1} << shift);
  return static_cast<int32_t>(std::min<int64_t>(INT32_MAX, std::max<int64_t>(INT32_MIN, r)));
}

// 1 / (1 + x) for x in [0, 1) given as Q0.31: Newton-Raphson on the half denominator d = (1 + x) / 2
// from 48/17 - 32/17 d, three steps, in Q2.29; the result (in (1/2, 1]) as Q0.31.
int32_t one_over_one_plus_x(int32_t x_q031) {
  const int32_t half_denominator = rounding_half_sum(x_q031, INT32_MAX);  // F0: (x + 1) / 2
  const int32_t k48_over_17 = 1515870810, kneg32_over_17 = -1010580540;  // F2
  const int32_t one_f2 = 1 << 29;
  int32_t x = k48_over_17 + saturating_rounding_doubling_high_mul(half_denominator, kneg32_over_17);  // F2
  for (int i = 0; i < 3; ++i) {
    const int32_t half_denominator_times_x = saturating_rounding_doubling_high_mul(half_denominator, x);  // F2
    const int32_t one_minus = one_f2 - half_denominator_times_x;                                        // F2
    x = x + saturating_shift_left(saturating_rounding_doubling_high_mul(x, one_minus), 2);  // F4 -> F2
  }
  return saturating_shift_left(x, 1);  // x / 2 as F1 (the same raw), then F1 -> F0
}

// 1 / b for b > 0: b = 2^k (1 + f), f in [0, 1); returns 1 / (1 + f) as Q0.31 and k + 1 - 31 + 31...
// (TFLite's GetReciprocal with 31 integer digits): the reciprocal is raw * 2^-(31 + shift_over_unit).
int32_t reciprocal(int32_t b, int* bits_over_unit) {
  const int headroom_plus_one = __builtin_clz(static_cast<uint32_t>(b));
  *bits_over_unit = 31 - headroom_plus_one;
  const int32_t f = static_cast<int32_t>((static_cast<uint32_t>(b) << headroom_plus_one) - (uint32_t{1} << 31));
  return one_over_one_plus_x(f);
}

int count_leading_sign_bits(int32_t x) {
  if (x >= 0) return (x == 0 ? 32 : __builtin_clz(static_cast<uint32_t>(x))) - 1;
  if (x == INT32_MIN) return 0;
  return __builtin_clz(2 * static_cast<uint32_t>(-x) - 1);
}

// RoundingDivideByPOT as the interpreter computes it in DIV, where the shift can reach 32 or more: a
// dividend of magnitude 1 or 2 is shifted left by its headroom, 30 bits, and with a divisor of 128 or
// more the right shift that undoes it (plus the divisor's) passes 31. Its int32 shift then takes the count modulo 32 (x86 and
// WebAssembly do; in C++ it is undefined, so it is spelled out here) and its mask is all ones: the
// result is x (+1 when x > 0) instead of about 0. TFLite's output for such elements is that value,
// clamped: uint8 DIV of -2 by 193 steps (scales 0.05 / 0.03, output 0.07) gives 0, not the zero point
// (tests/tflite_quant_ops_test.sh, q_div_uint8).
int32_t divide_by_pot_as_tflite(int32_t x, int exponent) {
  if (exponent < 32) return rounding_divide_by_pot(x, exponent);
  const int32_t threshold = -1 + (x < 0 ? 1 : 0);  // (mask >> 1) + (x < 0) with mask = -1
  return (x >> (exponent & 31)) + (x > threshold ? 1 : 0);  // remainder = x & mask = x
}

void quantized_div(KernelContext& ctx) {
  if (ctx.input(0).dtype() != DType::kU8) ctx.fail("quantized DIV takes uint8 (TFLite's kernel has no int8 form)");
  const double s1 = per_tensor_quant(ctx, ctx.input(0), "input 0").scale;
  const double s2 = per_tensor_quant(ctx, ctx.input(1), "input 1").scale;
  const TensorQuant out = output_quant(ctx, 0);
  const Multiplier m = quantize_multiplier(s1 / (s2 * out.scale));
  quantized_binary(ctx, [&](int32_t a, int32_t b) {
    if (b == 0) ctx.fail("division by a value equal to the divisor's zero point");
    if (b < 0) a = -a, b = -b;
    int recip_shift = 0;
    const int32_t b_inv = reciprocal(b, &recip_shift);
    const int headroom = count_leading_sign_bits(a);
    const int32_t unscaled = saturating_rounding_doubling_high_mul(static_cast<int32_t>(static_cast<uint32_t>(a) << headroom), b_inv);
    const int total_shift = m.exponent - recip_shift - headroom;  // < 0: a right shift
    return divide_by_pot_as_tflite(saturating_rounding_doubling_high_mul(unscaled, m.significand), -total_shift);
  }, out.zero_point);
}

[[maybe_unused]] const bool kRegistered = [] {
  register_kernel("Div", KernelInfo{quantized_div, true}, kTfliteQuantizedDomain);
  register_kernel("Add", KernelInfo{quantized_add, true}, kTfliteQuantizedDomain);
  register_kernel("Mul", KernelInfo{quantized_mul, true}, kTfliteQuantizedDomain);
  register_kernel("Sub", KernelInfo{quantized_sub, true}, kTfliteQuantizedDomain);
  return true;
}();

}  // namespace
}  // namespace transfix
