// Quantized TFLite PAD / PADV2 and CONCATENATION (domain "tflite.quantized"), uint8, int8 or int16. They
// move values, so they run the default-domain kernels on the integer data, except:
//  - PAD fills with the output's zero point (the quantized 0.0); PADV2's constant is used as given;
//  - CONCATENATION rescales inputs whose scale / zero point differ from the output's, in float as
//    TFLite does: y = round_half_away(x * (s_i / s_y) - zp_i * (s_i / s_y)) + zp_y, clamped; int16
//    inputs are copied as they are, whatever their scales, as the TFLite interpreter does (checked:
//    an input on 1/4096 concatenated into an output on 0.0005 keeps its integers). The dequantized
//    mode rescales them, so a converter that gives int16 inputs other scales shows up there.
#include <cmath>

#include "runtime/kernels/fixed_point.h"

namespace transfix {
namespace {

using namespace qfixed;

Tensor scalar_of(DType t, int32_t v) {
  Tensor s = Tensor::uninitialized(t, {});
  store_q(s, 0, v);
  return s;
}

void quantized_pad(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  require_u8_i8_or_i16(ctx, x, "input");
  const TensorQuant out = same_quantization_in_and_out(ctx, x);
  if (ctx.node.attr_string("mode", "constant") != "constant")
    throw UnsupportedError("quantized Pad supports constant padding only", "Pad");
  const Tensor zero = scalar_of(x.dtype(), out.zero_point);
  const Tensor* value = ctx.optional_input(2);
  run_default_kernel(ctx, {&x, &ctx.input(1), value ? value : &zero});
}

// Input i rescaled to the output's quantization (a copy only when its parameters differ).
Tensor rescaled_to(const KernelContext& ctx, const Tensor& x, const TensorQuant& out) {
  const TensorQuant in = per_tensor_quant(ctx, x, "input");
  if (in.scale == out.scale && in.zero_point == out.zero_point) return x;
  const float scale = static_cast<float>(in.scale) * (1.0f / static_cast<float>(out.scale));
  const float bias = -static_cast<float>(in.zero_point) * scale;
  const Range range = dtype_range(ctx, x.dtype());
  Tensor y = Tensor::uninitialized(x.dtype(), x.shape());
  for (int64_t i = 0; i < x.numel(); ++i) {
    const int32_t v = saturating_int(std::round(static_cast<float>(load_q(x, i)) * scale + bias)) + out.zero_point;
    store_q(y, i, std::min(range.hi, std::max(range.lo, v)));
  }
  return y;
}

void quantized_concat(KernelContext& ctx) {
  if (ctx.node.attr_string("fused_activation", "NONE") != "NONE")
    throw UnsupportedError("quantized Concat with a fused activation is not supported", "Concat");
  const TensorQuant out = output_quant(ctx, 0);
  std::vector<Tensor> parts;
  parts.reserve(ctx.num_inputs());
  for (size_t i = 0; i < ctx.num_inputs(); ++i) {
    require_u8_i8_or_i16(ctx, ctx.input(i), "input");
    parts.push_back(ctx.input(i).dtype() == DType::kI16 ? ctx.input(i) : rescaled_to(ctx, ctx.input(i), out));
  }
  std::vector<const Tensor*> inputs;
  for (const Tensor& t : parts) inputs.push_back(&t);
  run_default_kernel(ctx, inputs);
}

[[maybe_unused]] const bool kRegistered = [] {
  register_kernel("Pad", KernelInfo{quantized_pad, true}, kTfliteQuantizedDomain);
  register_kernel("Concat", KernelInfo{quantized_concat, true}, kTfliteQuantizedDomain);
  return true;
}();

}  // namespace
}  // namespace transfix
