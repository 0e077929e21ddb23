// Quantized TFLite element-wise binary ops (domain "tflite.quantized"), uint8 or int8, numpy
// broadcasting, fused activation clamp. Integer arithmetic as TFLite's reference kernels:
//  ADD: both inputs are brought to a common fixed-point scale first. With s = 2 * max(s1, s2) and
//       a headroom shift of 20 bits:
//         a_i = (x_i - zp_i) * 2^20 * (s_i / s)                  (fixed-point multiply, < 1)
//         y   = clamp((a_1 + a_2) * (s / (2^20 * s_y)) + zp_y)
//  SUB: as ADD with a_1 - a_2.
//  MUL: y = clamp((x_1 - zp_1) * (x_2 - zp_2) * (s1 * s2 / s_y) + zp_y)
#include <functional>

#include "formats/tflite/tflite_reader.h"
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
  require_u8_or_i8(ctx, a, "input 0");
  require_u8_or_i8(ctx, b, "input 1");
  if (a.dtype() != b.dtype()) ctx.fail("inputs must share one dtype");
  const int32_t za = per_tensor_quant(ctx, a, "input 0").zero_point, zb = per_tensor_quant(ctx, b, "input 1").zero_point;
  const Range range = activation_range(ctx, a.dtype(), output_quant(ctx, 0));
  const Shape shape = broadcast_shapes(a.shape(), b.shape());
  Tensor y = Tensor::uninitialized(a.dtype(), shape);
  for_each_broadcast(shape, broadcast_strides(a.shape(), shape), broadcast_strides(b.shape(), shape),
                     [&](int64_t o, int64_t ia, int64_t ib) {
                       int32_t v = combine(load_q(a, ia) - za, load_q(b, ib) - zb) + out_zero;
                       v = std::min(range.hi, std::max(range.lo, v));
                       if (y.dtype() == DType::kU8) y.mutable_data<uint8_t>()[o] = static_cast<uint8_t>(v);
                       else y.mutable_data<int8_t>()[o] = static_cast<int8_t>(v);
                     });
  ctx.set_output(0, y);
}

// ADD (sign +1) and SUB (sign -1): TFLite's SUB is ADD's arithmetic with the scaled second input
// subtracted (the fixed-point multiply rounds half away from zero, so negating after scaling is exact).
void quantized_add_or_sub(KernelContext& ctx, int32_t sign) {
  constexpr int kLeftShift = 20;  // headroom of 8-bit inputs in int32
  const double s1 = per_tensor_quant(ctx, ctx.input(0), "input 0").scale;
  const double s2 = per_tensor_quant(ctx, ctx.input(1), "input 1").scale;
  const TensorQuant out = output_quant(ctx, 0);
  const double twice_max = 2 * std::max(s1, s2);
  const Multiplier m1 = quantize_multiplier(s1 / twice_max), m2 = quantize_multiplier(s2 / twice_max);
  const Multiplier mo = quantize_multiplier(twice_max / (static_cast<double>(1 << kLeftShift) * out.scale));
  quantized_binary(ctx, [&](int32_t a, int32_t b) {
    const int32_t sa = multiply_by_quantized_multiplier(a * (1 << kLeftShift), m1);
    const int32_t sb = multiply_by_quantized_multiplier(b * (1 << kLeftShift), m2);
    return multiply_by_quantized_multiplier(sa + sign * sb, mo);
  }, out.zero_point);
}

void quantized_add(KernelContext& ctx) { quantized_add_or_sub(ctx, 1); }
void quantized_sub(KernelContext& ctx) { quantized_add_or_sub(ctx, -1); }

void quantized_mul(KernelContext& ctx) {
  const double s1 = per_tensor_quant(ctx, ctx.input(0), "input 0").scale;
  const double s2 = per_tensor_quant(ctx, ctx.input(1), "input 1").scale;
  const TensorQuant out = output_quant(ctx, 0);
  const Multiplier m = quantize_multiplier(s1 * s2 / out.scale);
  quantized_binary(ctx, [&](int32_t a, int32_t b) { return multiply_by_quantized_multiplier(a * b, m); }, out.zero_point);
}

[[maybe_unused]] const bool kRegistered = [] {
  register_kernel("Add", KernelInfo{quantized_add, true}, kTfliteQuantizedDomain);
  register_kernel("Mul", KernelInfo{quantized_mul, true}, kTfliteQuantizedDomain);
  register_kernel("Sub", KernelInfo{quantized_sub, true}, kTfliteQuantizedDomain);
  return true;
}();

}  // namespace
}  // namespace transfix
