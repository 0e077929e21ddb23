// Quantized TFLite HARD_SWISH (HardSwish: x * relu6(x + 3) / 6), domain "tflite.quantized", uint8 ->
// uint8 or int8 -> int8, in TFLite's int16 fixed-point arithmetic (reference_ops::HardSwish; the
// TFLite interpreter runs it in its built-in kernel, not in XNNPACK, so every QuantMode uses it).
// Parameters, computed in float as TFLite's Prepare does, then as Q0.15 multipliers (the Q0.31
// significand of QuantizeMultiplier rounded to 16 bits, (m + 2^15) >> 16, saturating at 2^15 - 1):
//   hires = s_x / 128,  output multiplier = hires / s_y (exponent must be <= 0),
//   reluish multiplier = hires / (3 / 32768)     (the scale on which 3.0 is 32768)
// Per element, in int16:
//   v = (x - zp_x) * 128
//   o = SRDHM(v, output multiplier)                          (v on the output scale, before its shift)
//   r = v rescaled by the reluish multiplier: a left exponent is applied as a saturating shift by
//       e - 1, SRDHM, then a saturating shift by 1; a right one as SRDHM then RoundingDivideByPOT
//   r = (r + 2^15) >> 1                                      (relu6(x + 3) / 6 in Q0.15, [0, 1])
//   y = clamp(RoundingDivideByPOT(SDHM(r, o), -output exponent) + zp_y)
// SDHM is the doubling high multiply without rounding (truncating), which TFLite uses here to
// cancel the bias of the rounding ones.
#include "runtime/kernels/fixed_point.h"

namespace transfix {
namespace {

using namespace qfixed;

struct Q15Multiplier {
  int16_t significand = 0;
  int exponent = 0;
};

// QuantizeMultiplier, then TFLite's DownScaleInt32ToInt16Multiplier.
Q15Multiplier q15_multiplier(float real) {
  const Multiplier m = quantize_multiplier(real);
  constexpr int32_t kRoundingOffset = 1 << 15;
  const int32_t significand = m.significand >= INT32_MAX - kRoundingOffset ? INT16_MAX : (m.significand + kRoundingOffset) >> 16;
  return {static_cast<int16_t>(significand), m.exponent};
}

int16_t reluish_value(int16_t hires, const Q15Multiplier& m) {
  int16_t r = hires;
  if (m.exponent > 0) r = saturating_left_shift16(r, m.exponent - 1);
  r = saturating_rounding_doubling_high_mul16(r, m.significand);
  if (m.exponent > 0) r = saturating_left_shift16(r, 1);
  if (m.exponent < 0) r = static_cast<int16_t>(rounding_divide_by_pot(r, -m.exponent));
  return static_cast<int16_t>((r + (1 << 15)) >> 1);
}

void quantized_hard_swish(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  require_u8_or_i8(ctx, x, "input");
  const TensorQuant in = per_tensor_quant(ctx, x, "input"), out = output_quant(ctx, 0);
  const float hires_scale = (1.0f / 128.0f) * static_cast<float>(in.scale);
  const Q15Multiplier output = q15_multiplier(hires_scale / static_cast<float>(out.scale));
  const Q15Multiplier reluish = q15_multiplier(hires_scale / (3.0f / 32768.0f));
  if (output.exponent > 0)
    throw UnsupportedError("quantized HardSwish with an output scale below input scale / 128 is not supported", "HardSwish");
  ctx.set_output(0, map_through_table(ctx, x, [&](int32_t q) {
    const int16_t hires = static_cast<int16_t>((q - in.zero_point) * 128);
    const int16_t on_output_scale = saturating_rounding_doubling_high_mul16(hires, output.significand);
    const int16_t product = saturating_doubling_high_mul16(reluish_value(hires, reluish), on_output_scale);
    return rounding_divide_by_pot(product, -output.exponent) + out.zero_point;
  }));
}

[[maybe_unused]] const bool kRegistered =
    register_kernel("HardSwish", KernelInfo{quantized_hard_swish, true}, kTfliteQuantizedDomain);

}  // namespace
}  // namespace transfix
