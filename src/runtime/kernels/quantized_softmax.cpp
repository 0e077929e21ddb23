// Quantized TFLite SOFTMAX (domain "tflite.quantized") over the last axis, uint8 -> uint8 and
// int8 -> int8, computed as TFLite's built-in (optimized) kernel does, in float32 with a table:
//   table[255 - d] = expf(-s_x * beta * d)  for d = 0..255     (d = row max - x, in quantized steps)
//   sum = sum_j table[255 - d_j]                                (float, in order)
//   p_j = table[255 - d_j] * (1 / (sum * s_y))                  (float)
//   y_j = clamp(int(p_j + 0.5))                   (uint8: the kernel truncates p + 0.5, zp is 0)
//   y_j = clamp(round_half_away(p_j) + zp_y)      (int8)
// (TFLite's reference kernel uses a gemmlowp fixed-point exp instead; the interpreter's default
// kernels, which transfix's results are checked against, use this table.)
#include <cmath>

#include "formats/tflite/tflite_reader.h"
#include "runtime/kernels/fixed_point.h"

namespace transfix {
namespace {

using namespace qfixed;

void quantized_softmax(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  require_u8_or_i8(ctx, x, "input");
  if (x.rank() < 1) ctx.fail("input must have rank >= 1");
  const int64_t axis = ctx.node.attr_int("axis", -1);
  if (axis != -1 && axis != static_cast<int64_t>(x.rank()) - 1)
    throw UnsupportedError("quantized Softmax runs over the last axis only", "Softmax");
  const TensorQuant in = per_tensor_quant(ctx, x, "input"), out = output_quant(ctx, 0);
  const float beta = static_cast<float>(ctx.node.attr_float("beta", 1.0));
  const float table_scale = -static_cast<float>(in.scale) * beta;
  float table[256];
  for (int32_t d = 0; d <= 255; ++d) table[255 - d] = std::exp(table_scale * static_cast<float>(d));
  const Range range = dtype_range(ctx, x.dtype());
  const int64_t depth = x.dim(x.rank() - 1), rows = depth == 0 ? 0 : x.numel() / depth;
  const float out_scale = static_cast<float>(out.scale);
  Tensor y = Tensor::uninitialized(x.dtype(), x.shape());
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t base = r * depth;
    int32_t max_value = INT32_MIN;
    for (int64_t j = 0; j < depth; ++j) max_value = std::max(max_value, load_q(x, base + j));
    auto exp_of = [&](int32_t v) { return table[255 - max_value + v]; };  // exp(-s_x * beta * (max - v))
    float sum = 0.0f;
    for (int64_t j = 0; j < depth; ++j) sum += exp_of(load_q(x, base + j));
    const float inverse = 1.0f / (sum * out_scale);
    for (int64_t j = 0; j < depth; ++j) {
      const float p = exp_of(load_q(x, base + j)) * inverse;
      int32_t q = x.dtype() == DType::kU8 ? saturating_int(p + 0.5f) : saturating_int(std::round(p)) + out.zero_point;
      q = std::min(range.hi, std::max(range.lo, q));
      if (y.dtype() == DType::kU8) y.mutable_data<uint8_t>()[base + j] = static_cast<uint8_t>(q);
      else y.mutable_data<int8_t>()[base + j] = static_cast<int8_t>(q);
    }
  }
  ctx.set_output(0, y);
}

[[maybe_unused]] const bool kRegistered =
    register_kernel("Softmax", KernelInfo{quantized_softmax, true}, kTfliteQuantizedDomain);

}  // namespace
}  // namespace transfix
