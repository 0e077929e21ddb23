// TFLite QUANTIZE from an integer tensor ("requantize"; domain "tflite.quantized", input 0 only: both
// sides' parameters are their tensors'), uint8 / int8 / int16 to uint8 / int8 / int16, as TFLite's
// Requantize:
//   y = clamp(zp_y + (x - zp_x) * M),  M = s_x / s_y (from the double ratio, fixed-point multiply)
// (Its int8 <-> uint8 shortcut for equal scales and zero points 128 apart, flipping the sign bit, gives
// the same integers.) Checked against the interpreter: int16 -> int16 and int16 -> int8; an earlier
// float path (dequantize, then quantize) was 1 step off on 1 of 1024 random int16 inputs.
//
// requantize = "fp32" (QuantMode::kIntegerXnnpack): the XNNPACK delegate takes int8 -> int8 and
// uint8 -> uint8 (its convert op, seen in the interpreter's profile) when s_x / s_y lies in
// [2^-8, 2^7], and multiplies by a Q8 multiplier as its LEAKY_RELU does:
//   y = clamp(floor(((x - zp_x) * m + 128) / 256) + zp_y),  m = lrintf(256 * float(s_x / s_y))
// (checked: bit-exact with the interpreter at four ratios from 0.29 to 4.1, where the fixed-point
// formula above is off by one step on 2 to 81 of 256 inputs).
#include <cmath>

#include "runtime/kernels/fixed_point.h"

namespace transfix {
namespace {

using namespace qfixed;

void quantized_requantize(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  require_u8_i8_or_i16(ctx, x, "input");
  const ValueInfo* out_info = ctx.output_info(0);
  if (!out_info) ctx.fail("output 0 has no declared type");
  const DType out_type = out_info->dtype;
  const TensorQuant in = per_tensor_quant(ctx, x, "input"), out = output_quant(ctx, 0);
  const Range range = dtype_range(ctx, out_type);
  const Multiplier m = quantize_multiplier(in.scale / out.scale);
  Tensor y = Tensor::uninitialized(out_type, x.shape());
  const float ratio = static_cast<float>(in.scale / out.scale);
  if (ctx.node.attr_string("requantize", "tflite") == "fp32" && x.dtype() == out_type &&
      ratio >= 0x1.0p-8f && ratio <= 0x1.0p+7f) {
    const int32_t q8 = static_cast<int32_t>(std::lrintf(256.0f * ratio));
    for (int64_t i = 0; i < x.numel(); ++i) {
      const int32_t v = out.zero_point + (((load_q(x, i) - in.zero_point) * q8 + 128) >> 8);  // arithmetic shift: floor
      store_q(y, i, std::min(range.hi, std::max(range.lo, v)));
    }
    ctx.set_output(0, y);
    return;
  }
  for (int64_t i = 0; i < x.numel(); ++i) {
    const int32_t v = out.zero_point + multiply_by_quantized_multiplier(load_q(x, i) - in.zero_point, m);
    store_q(y, i, std::min(range.hi, std::max(range.lo, v)));
  }
  ctx.set_output(0, y);
}

[[maybe_unused]] const bool kRegistered = [] {
  register_kernel("QuantizeLinear", KernelInfo{quantized_requantize, true}, kTfliteQuantizedDomain);
  return true;
}();

}  // namespace
}  // namespace transfix
