// Integer arithmetic of TFLite's quantized kernels (the "tflite.quantized" domain), written from the
// published reference semantics so results match TFLite bit for bit:
//  - a real multiplier M > 0 is stored as a Q0.31 significand m in [2^30, 2^31) and an exponent e
//    (M = m * 2^(e - 31)), m = round(frexp(M) * 2^31) (a significand rounding up to 2^31 halves and
//    bumps e; e < -31 flushes to zero);
//  - x * M is SaturatingRoundingDoublingHighMul(x * 2^max(e, 0), m) (x * m / 2^31 rounded to
//    nearest, ties towards +inf: -1.5 -> -1) followed by RoundingDivideByPOT(., max(-e, 0)) (ties away
//    from zero: -1.5 -> -2);
//  - fused activations clamp in the quantized domain: [max(qmin, zp + round(lo / s)), min(qmax, zp + round(hi / s))].
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "runtime/kernel.h"

namespace transfix::qfixed {

struct Multiplier {
  int32_t significand = 0;  // Q0.31, 0 for a zero multiplier
  int exponent = 0;         // > 0 shifts left before the multiplication, < 0 right after it
};

Multiplier quantize_multiplier(double real_multiplier);

// a * b / 2^31 rounded to nearest (ties towards +inf, from the nudge and C++'s truncating division);
// the only overflowing case (a == b == INT32_MIN) saturates.
inline int32_t saturating_rounding_doubling_high_mul(int32_t a, int32_t b) {
  if (a == b && a == INT32_MIN) return INT32_MAX;
  const int64_t ab = static_cast<int64_t>(a) * static_cast<int64_t>(b);
  const int64_t nudge = ab >= 0 ? (int64_t{1} << 30) : (1 - (int64_t{1} << 30));
  return static_cast<int32_t>((ab + nudge) / (int64_t{1} << 31));  // C++ division truncates toward zero
}

// x / 2^exponent rounded to nearest, ties away from zero.
inline int32_t rounding_divide_by_pot(int32_t x, int exponent) {
  if (exponent <= 0) return x;
  const int32_t mask = static_cast<int32_t>((int64_t{1} << exponent) - 1);
  const int32_t remainder = x & mask;
  const int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
  return (x >> exponent) + (remainder > threshold ? 1 : 0);
}

// x * 2^shift in int32, wrapping where it does not fit (TFLite shifts in int32 too).
inline int32_t wrapping_shift_left(int32_t x, int shift) { return static_cast<int32_t>(static_cast<uint32_t>(x) << shift); }

inline int32_t multiply_by_quantized_multiplier(int32_t x, Multiplier m) {
  const int left = m.exponent > 0 ? m.exponent : 0, right = m.exponent > 0 ? 0 : -m.exponent;
  // Like TFLite, x * 2^left wraps in int32 only for inputs the converter never produces.
  const int32_t shifted = static_cast<int32_t>(static_cast<uint32_t>(x) << left);
  return rounding_divide_by_pot(saturating_rounding_doubling_high_mul(shifted, m.significand), right);
}

// TFLite's int64 variant, for 16x8 models (int16 activations, int8 weights, 64-bit accumulators):
// the significand rounded to Q0.15 first (0x7FFF at most), then one multiply and one rounding right
// shift by 15 - exponent (ties towards +inf). TFLite assumes |x| < 2^47 and a result that fits in
// int32; the product is taken in 128 bits and the result saturated, so other inputs stay defined.
inline int32_t multiply_by_quantized_multiplier_wide(int64_t x, Multiplier m) {
  const int64_t reduced = m.significand < 0x7FFF0000 ? (int64_t{m.significand} + (1 << 15)) >> 16 : 0x7FFF;
  const int total_shift = 15 - m.exponent;
  __int128 r = static_cast<__int128>(x) * reduced;
  if (total_shift > 0) r = (r + (static_cast<__int128>(1) << (total_shift - 1))) >> total_shift;
  else r *= static_cast<__int128>(int64_t{1} << std::min(-total_shift, 40));  // multipliers >= 2^15: not in real models
  return static_cast<int32_t>(std::min<__int128>(INT32_MAX, std::max<__int128>(INT32_MIN, r)));
}

// A float that the kernel converts to an integer (already rounded, or truncated on purpose), held
// to +-2^30 first: extreme scales in a model must not make the conversion undefined.
inline int32_t saturating_int(float v) {
  constexpr float kLimit = 1073741824.0f;
  return static_cast<int32_t>(std::isnan(v) ? 0.0f : std::min(kLimit, std::max(-kLimit, v)));
}

// Quantization of a tensor the kernel needs per tensor (one scale, one zero point).
struct TensorQuant {
  double scale = 1;
  int32_t zero_point = 0;
};

// Per-tensor parameters of `t` (or of output i's declared type); fails naming `what` when the
// tensor is not quantized or is quantized per axis.
TensorQuant per_tensor_quant(const KernelContext& ctx, const Tensor& t, const char* what);
TensorQuant output_quant(const KernelContext& ctx, size_t i);

// Ops that move values without requantizing (pooling, PAD, RESIZE): input and output must share
// their quantization; returns it, or throws UnsupportedError naming the op.
TensorQuant same_quantization_in_and_out(const KernelContext& ctx, const Tensor& x);

// Runs the default-domain kernel of this node's op on `inputs` (an op that only moves elements
// gives the same integers); its outputs become this node's.
void run_default_kernel(KernelContext& ctx, const std::vector<const Tensor*>& inputs);

// Range of the integer type of a quantized tensor (uint8, int8, int16).
struct Range {
  int32_t lo = 0, hi = 0;
};
Range dtype_range(const KernelContext& ctx, DType t);

// Clamp range of the node's output: its dtype's range narrowed by the "fused_activation" attribute
// (NONE, RELU, RELU6, RELU_N1_TO_1), quantized with the output's scale and zero point.
Range activation_range(const KernelContext& ctx, DType out_type, const TensorQuant& out);

// Quantized integer tensors handled by these kernels: uint8 or int8 activations, and int16 for the
// kernels that implement TFLite's 16x8 arithmetic.
void require_u8_or_i8(const KernelContext& ctx, const Tensor& t, const char* what);
void require_u8_i8_or_i16(const KernelContext& ctx, const Tensor& t, const char* what);

// Reads element i of a uint8 / int8 / int16 tensor as int32.
inline int32_t load_q(const Tensor& t, int64_t i) {
  switch (t.dtype()) {
    case DType::kU8: return t.data<uint8_t>()[i];
    case DType::kI16: return t.data<int16_t>()[i];
    default: return t.data<int8_t>()[i];
  }
}

// Writes v (already clamped to the dtype's range) to element i of a uint8 / int8 / int16 tensor.
inline void store_q(Tensor& t, int64_t i, int32_t v) {
  switch (t.dtype()) {
    case DType::kU8: t.mutable_data<uint8_t>()[i] = static_cast<uint8_t>(v); break;
    case DType::kI16: t.mutable_data<int16_t>()[i] = static_cast<int16_t>(v); break;
    default: t.mutable_data<int8_t>()[i] = static_cast<int8_t>(v); break;
  }
}

// Element-wise ops on uint8 / int8 / int16: y[i] = value(x[i]) clamped to the dtype's range (y has x's
// dtype and shape). For 8-bit types `value` is computed once for each of the 256 integers, and looked
// up (TFLite's LOGISTIC / TANH kernels work this way; for the others it gives the same results as
// computing every element); int16 tensors are computed per element up to 65536 of them, through a
// table of all 65536 values beyond.
Tensor map_through_table(const KernelContext& ctx, const Tensor& x, const std::function<int32_t(int32_t)>& value);

// gemmlowp's int16 fixed-point helpers (TFLite's HARD_SWISH works in Q0.15):
// a * b / 2^15 rounded to nearest (ties towards +inf), INT16_MIN * INT16_MIN saturating.
inline int16_t saturating_rounding_doubling_high_mul16(int16_t a, int16_t b) {
  if (a == b && a == INT16_MIN) return INT16_MAX;
  const int32_t ab = static_cast<int32_t>(a) * static_cast<int32_t>(b);
  const int32_t nudge = ab >= 0 ? (1 << 14) : (1 - (1 << 14));
  return static_cast<int16_t>((ab + nudge) / (1 << 15));
}
// The same without the rounding nudge: truncates towards zero.
inline int16_t saturating_doubling_high_mul16(int16_t a, int16_t b) {
  if (a == b && a == INT16_MIN) return INT16_MAX;
  return static_cast<int16_t>(static_cast<int32_t>(a) * static_cast<int32_t>(b) / (1 << 15));
}
inline int16_t saturating_left_shift16(int16_t v, int amount) {
  const int64_t r = static_cast<int64_t>(v) * (int64_t{1} << amount);
  return static_cast<int16_t>(std::min<int64_t>(INT16_MAX, std::max<int64_t>(INT16_MIN, r)));
}

// TFLite's interpolated int16 tables (SOFTMAX on int16): f sampled at 512 steps over [in_min, in_max]
// (the int16 range mapped onto it), outputs in [-1, 1] as Q0.15, each sample biased by half the
// error of linear interpolation at the step's midpoint, plus f(in_max) as entry 512 for the last slope:
//   lut[i] = clamp(round(f(a_i) 2^15) - round((round((f(a_i+1) 2^15 + round(f(a_i) 2^15)) / 2)
//                                               - round(f(a_i + h) 2^15)) / 2))    (double; round: half away)
std::vector<int16_t> make_int16_lut(double (*f)(double), double in_min, double in_max);
// v in Q0.15 (index: its top 9 bits + 256, offset: its low 7) -> base + round(slope * offset / 128).
inline int16_t int16_lut_lookup(int16_t v, const int16_t* lut) {
  const int index = 256 + (v >> 7);
  const int32_t offset = v & 0x7f;
  const int32_t base = lut[index], slope = lut[index + 1] - lut[index];
  return static_cast<int16_t>(base + ((slope * offset + 64) >> 7));
}

}  // namespace transfix::qfixed
