// Quantized TFLite SOFTMAX (domain "tflite.quantized") over the last axis, uint8 -> uint8 and
// int8 -> int8, computed as TFLite's built-in (optimized) kernel does, in float32 with a table:
//   table[255 - d] = expf(-s_x * beta * d)  for d = 0..255     (d = row max - x, in quantized steps)
//   sum = sum_j table[255 - d_j]                                (float, in order)
//   p_j = table[255 - d_j] * (1 / (sum * s_y))                  (float)
//   y_j = clamp(int(p_j + 0.5))                   (uint8: the kernel truncates p + 0.5, zp is 0)
//   y_j = clamp(round_half_away(p_j) + zp_y)      (int8)
// (TFLite's reference kernel uses a gemmlowp fixed-point exp instead; the interpreter's default
// kernels, which transfix's results are checked against, use this table.)
//
// int16 -> int16 (zero points 0, output scale 1/32768), in fixed point with two interpolated tables
// (make_int16_lut): exp over [-10, 0] and 1 / (1 + x) over [0, 1]. Per row:
//   d_j   = MultiplyByQuantizedMultiplier(x_j - max, s_x * beta / (10 / 65535)) + 32767, clamped to
//           int16 (the row's [max - 10, max] spans the table's inputs)
//   e_j   = exp_lut(d_j) (Q0.15);  S = sum e_j (Q16.15)
//   r     = 1/(1+x)_lut(clamp16(((S << (h - 1)) + 2^13 >> 14) - 3 * 2^15)), h = clz(S)
//           (S normalized to [1, 2) then recentred; r is 1/S's mantissa as Q0.15)
//   y_j   = clamp((e_j * r + 2^(30 - h)) >> (31 - h), 0, 32767)
#include <algorithm>
#include <cmath>
#include <vector>

#include "runtime/kernels/fixed_point.h"

namespace transfix {
namespace {

using namespace qfixed;

double exp_of(double v) { return std::exp(v); }
double one_over_one_plus(double v) { return 1.0 / (1.0 + v); }

void softmax_int16(KernelContext& ctx, const Tensor& x, const TensorQuant& in, const TensorQuant& out) {
  if (in.zero_point != 0 || out.zero_point != 0) ctx.fail("int16 SOFTMAX needs zero points 0");
  static const std::vector<int16_t> exp_lut = make_int16_lut(exp_of, -10.0, 0.0);
  static const std::vector<int16_t> reciprocal_lut = make_int16_lut(one_over_one_plus, 0.0, 1.0);
  const double beta = ctx.node.attr_float("beta", 1.0);
  const Multiplier m = quantize_multiplier(in.scale * beta / (10.0 / 65535.0));
  const int64_t depth = x.dim(x.rank() - 1), rows = depth == 0 ? 0 : x.numel() / depth;
  const int16_t* xs = x.data<int16_t>();
  Tensor y = Tensor::uninitialized(DType::kI16, x.shape());
  int16_t* ys = y.mutable_data<int16_t>();
  std::vector<int16_t> e(static_cast<size_t>(depth));
  auto clamp16 = [](int64_t v) { return static_cast<int16_t>(std::min<int64_t>(32767, std::max<int64_t>(-32768, v))); };
  for (int64_t r = 0; r < rows; ++r) {
    const int16_t* row = xs + r * depth;
    const int32_t max_value = *std::max_element(row, row + depth);
    int64_t wide_sum = 0;  // Q16.15; TFLite's int32 sum wraps beyond 65536 elements, this one saturates
    for (int64_t j = 0; j < depth; ++j) {
      const int32_t scaled = multiply_by_quantized_multiplier(row[j] - max_value, m) + 32767;
      e[static_cast<size_t>(j)] = int16_lut_lookup(clamp16(scaled), exp_lut.data());
      wide_sum += e[static_cast<size_t>(j)];
    }
    const int32_t sum = static_cast<int32_t>(std::min<int64_t>(wide_sum, INT32_MAX));
    // The row's maximum contributes exp(0) ~ 1, so sum >= 1 (as Q16.15: >= 2^15) and 1 <= h <= 16.
    const int headroom_plus_one = __builtin_clz(static_cast<uint32_t>(std::max(sum, 1)));
    const int64_t shifted = ((static_cast<int64_t>(sum) << (headroom_plus_one - 1)) + (1 << 13)) >> 14;
    const int16_t reciprocal = int16_lut_lookup(clamp16(shifted - (1 << 15) - (1 << 16)), reciprocal_lut.data());
    const int right_shift = 31 - headroom_plus_one;
    for (int64_t j = 0; j < depth; ++j) {
      const int64_t p = (static_cast<int64_t>(e[static_cast<size_t>(j)]) * reciprocal + (int64_t{1} << (right_shift - 1))) >> right_shift;
      ys[r * depth + j] = static_cast<int16_t>(std::min<int64_t>(32767, std::max<int64_t>(0, p)));
    }
  }
  ctx.set_output(0, y);
}

void quantized_softmax(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  require_u8_i8_or_i16(ctx, x, "input");
  if (x.rank() < 1) ctx.fail("input must have rank >= 1");
  const int64_t axis = ctx.node.attr_int("axis", -1);
  if (axis != -1 && axis != static_cast<int64_t>(x.rank()) - 1)
    throw UnsupportedError("quantized Softmax runs over the last axis only", "Softmax");
  const TensorQuant in = per_tensor_quant(ctx, x, "input"), out = output_quant(ctx, 0);
  if (x.dtype() == DType::kI16) return softmax_int16(ctx, x, in, out);
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
      store_q(y, base + j, std::min(range.hi, std::max(range.lo, q)));
    }
  }
  ctx.set_output(0, y);
}

[[maybe_unused]] const bool kRegistered =
    register_kernel("Softmax", KernelInfo{quantized_softmax, true}, kTfliteQuantizedDomain);

}  // namespace
}  // namespace transfix
