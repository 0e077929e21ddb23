// Quantized TFLite RELU, RELU6, RELU_N1_TO_1, RELU_0_TO_1 (Relu / Clip) and LEAKY_RELU (LeakyRelu),
// domain "tflite.quantized", uint8 -> uint8, int8 -> int8 or int16 -> int16. Input and output may have different
// quantization, so the input is requantized first, as TFLite's built-in kernels do:
//   RELU family: y = clamp(zp_y + (x - zp_x) * M, lo, hi)       M = float(s_x) / float(s_y) (a float
//                division, as TFLite's Prepare), lo / hi = the clip bounds quantized with the output's
//                parameters, zp_y + round_half_away(bound / s_y) (RELU: no upper bound), within the dtype.
//   LEAKY_RELU:  y = clamp(zp_y + (x - zp_x) * (x >= zp_x ? M : M_alpha))   M_alpha = s_x * alpha / s_y
// with the fixed-point multiply of fixed_point.h. The TFLite interpreter runs RELU* itself.
//
// LEAKY_RELU with requantize = "fp32" (QuantMode::kIntegerXnnpack): TFLite's XNNPACK delegate takes
// the op (seen in the interpreter's profile) and multiplies by 8-bit multipliers instead:
//   y = clamp(floor(((x - zp_x) * m + 128) / 256) + zp_y),  m = lrintf(256 * M) or lrintf(256 * M * alpha)
// (its qs8/qu8 vlrelu kernels: a Q8 multiplier, rounding half up), on tensors of up to 6 dims.
#include <cmath>

#include "runtime/kernels/fixed_point.h"

namespace transfix {
namespace {

using namespace qfixed;

constexpr int64_t kXnnpackMaxRank = 6;  // XNN_MAX_TENSOR_DIMS: larger tensors stay in built-in kernels

// What the quantized ReLU-like kernels share: the output's parameters and the input-to-output
// multiplier computed in float (TFLite divides the float scales).
struct Rescale {
  TensorQuant in, out;
  float ratio = 1;  // s_x / s_y in float
};

Rescale rescale_of(const KernelContext& ctx, const Tensor& x) {
  require_u8_i8_or_i16(ctx, x, "input");
  Rescale r{per_tensor_quant(ctx, x, "input"), output_quant(ctx, 0)};
  r.ratio = static_cast<float>(r.in.scale) / static_cast<float>(r.out.scale);
  return r;
}

// zp_y + round_half_away(bound / s_y), as TFLite's QuantizedReluX (roundf on the float quotient).
int32_t quantized_bound(float bound, const TensorQuant& out) {
  return out.zero_point + saturating_int(std::round(bound / static_cast<float>(out.scale)));
}

// y = clamp(zp_y + (x - zp_x) * M, [lo, hi] in real values, hi = +inf for RELU).
void relu_x(KernelContext& ctx, float lo, float hi) {
  const Tensor& x = ctx.input(0);
  const Rescale r = rescale_of(ctx, x);
  const Range full = dtype_range(ctx, x.dtype());
  const int32_t q_lo = std::max(full.lo, quantized_bound(lo, r.out));
  const int32_t q_hi = std::isinf(hi) ? full.hi : std::min(full.hi, quantized_bound(hi, r.out));
  const Multiplier m = quantize_multiplier(r.ratio);
  ctx.set_output(0, map_through_table(ctx, x, [&](int32_t q) {
    const int32_t v = r.out.zero_point + multiply_by_quantized_multiplier(q - r.in.zero_point, m);
    return std::min(q_hi, std::max(q_lo, v));
  }));
}

void quantized_relu(KernelContext& ctx) { relu_x(ctx, 0.0f, INFINITY); }

// Clip's bounds are the float constants the reader emitted for RELU6 / RELU_N1_TO_1 / RELU_0_TO_1.
void quantized_clip(KernelContext& ctx) {
  auto bound = [&](size_t i, float missing) {
    const Tensor* t = ctx.optional_input(i);
    if (!t) return missing;
    if (t->numel() != 1) ctx.fail("Clip bounds must be scalars");
    return static_cast<float>(t->to_f64_vector()[0]);
  };
  relu_x(ctx, bound(1, -INFINITY), bound(2, INFINITY));
}

void quantized_leaky_relu(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  const Rescale r = rescale_of(ctx, x);
  const float alpha = static_cast<float>(ctx.node.attr_float("alpha", 0.01));
  const float alpha_ratio = static_cast<float>(r.in.scale) * alpha / static_cast<float>(r.out.scale);
  if (ctx.node.attr_string("requantize", "tflite") == "fp32" && x.rank() <= kXnnpackMaxRank) {
    const int32_t positive = static_cast<int32_t>(std::lrintf(256.0f * r.ratio));
    const int32_t negative = static_cast<int32_t>(std::lrintf(256.0f * r.ratio * alpha));
    ctx.set_output(0, map_through_table(ctx, x, [&](int32_t q) {
      const int32_t centered = q - r.in.zero_point;
      const int32_t scaled = centered * (centered >= 0 ? positive : negative) + 128;
      return r.out.zero_point + (scaled >> 8);  // arithmetic shift: floor
    }));
    return;
  }
  const Multiplier identity = quantize_multiplier(r.ratio), negative = quantize_multiplier(alpha_ratio);
  ctx.set_output(0, map_through_table(ctx, x, [&](int32_t q) {
    const int32_t centered = q - r.in.zero_point;
    return r.out.zero_point + multiply_by_quantized_multiplier(centered, centered >= 0 ? identity : negative);
  }));
}

[[maybe_unused]] const bool kRegistered = [] {
  register_kernel("Relu", KernelInfo{quantized_relu, true}, kTfliteQuantizedDomain);
  register_kernel("Clip", KernelInfo{quantized_clip, true}, kTfliteQuantizedDomain);
  register_kernel("LeakyRelu", KernelInfo{quantized_leaky_relu, true}, kTfliteQuantizedDomain);
  return true;
}();

}  // namespace
}  // namespace transfix
