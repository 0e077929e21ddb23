// Quantized TFLite MEAN (ReduceMean), SUM (ReduceSum) and REDUCE_MAX, domain "tflite.quantized", uint8, int8 or int16 (output of the input's type),
// keep_dims either way. With n reduced elements per output, sum = their integer sum:
//  - 4-D input, axes {1, 2} (global average over H, W), keep_dims (TFLite's optimized Mean; the
//    TFLite interpreter's XNNPACK delegate takes this case, see below):
//      bias = zp_y - round_half_away(float(zp_x * s_x / s_y))                    (float, truncated)
//      y    = clamp(sum * M + bias),  M = float(s_x / (n * s_y))   (fixed-point multiply)
//  - any other axes, different input and output quantization (TFLite's QuantizedMeanOrSum):
//      y = clamp(round_half_away(float(sum) / n * (s_x / s_y) - zp_x * (s_x / s_y)) + zp_y)   (float)
//  - any other axes, same quantization: y = sum / n (integer division, truncating).
//  - int16: the last two cases for any axes (TFLite's QuantizedMeanOrSum; the interpreter takes no
//    int16 SUM).
// requantize = "fp32" (QuantMode::kIntegerXnnpack): the XNNPACK delegate runs MEAN over H, W of a 4-D
// input (keep_dims either way; its profile shows the delegate; not when s_x / s_y lies outside
// [2^-8, 2^8)) as a global average pooling that requantizes in float, rounding half to even:
//      y = clamp(nearbyint(float(sum - n * zp_x) * (s_x / (s_y * float(n)))) + zp_y)
#include <cmath>
#include <functional>
#include <limits>

#include "runtime/kernel_util.h"
#include "runtime/kernels/fixed_point.h"

namespace transfix {
namespace {

using namespace qfixed;

// Integer sums of the reduced elements, one per output element, and their count.
struct Sums {
  Shape out_shape;
  std::vector<int64_t> sum;
  int64_t count = 1;
};

// Folds the reduced elements of each output with `fold(acc, x)` from `init` (integer values).
template <typename Fold>
Sums reduce_ints(const Tensor& x, const std::vector<bool>& reduced, bool keepdims, int64_t init, Fold fold) {
  Sums s;
  const Shape& in = x.shape();
  std::vector<int64_t> out_stride(in.size(), 0);  // per input dim: its output stride (0 if reduced)
  int64_t outputs = 1;
  for (size_t d = in.size(); d-- > 0;) {
    if (reduced[d]) { s.count *= in[d]; continue; }
    out_stride[d] = outputs;
    outputs *= in[d];
  }
  for (size_t d = 0; d < in.size(); ++d) {
    if (!reduced[d]) s.out_shape.push_back(in[d]);
    else if (keepdims) s.out_shape.push_back(1);
  }
  s.sum.assign(static_cast<size_t>(outputs), init);
  std::vector<int64_t> idx(in.size(), 0);
  int64_t o = 0;
  for (int64_t i = 0; i < x.numel(); ++i) {
    int64_t& acc = s.sum[static_cast<size_t>(o)];
    acc = fold(acc, static_cast<int64_t>(load_q(x, i)));
    for (size_t d = in.size(); d-- > 0;) {  // next input index, moving the output offset along
      if (++idx[d] < in[d]) { o += out_stride[d]; break; }
      o -= out_stride[d] * (in[d] - 1);
      idx[d] = 0;
    }
  }
  return s;
}

Sums reduce_sums(const Tensor& x, const std::vector<bool>& reduced, bool keepdims) {
  return reduce_ints(x, reduced, keepdims, 0, [](int64_t a, int64_t v) { return a + v; });
}

// The reduced dims: the "axes" attribute, or the constant second input (ReduceSum), or all dims.
std::vector<bool> reduced_dims(const KernelContext& ctx, int64_t rank) {
  std::vector<int64_t> axes = ctx.node.attr_ints("axes");
  if (axes.empty() && ctx.has_input(1)) axes = ctx.input(1).to_i64_vector();
  if (axes.empty() && ctx.node.attr_int("noop_with_empty_axes", 0) == 0)
    for (int64_t d = 0; d < rank; ++d) axes.push_back(d);
  std::vector<bool> reduced(static_cast<size_t>(rank), false);
  for (int64_t a : axes) reduced[static_cast<size_t>(normalize_axis(a, rank))] = true;
  return reduced;
}

// Writes value(sum) per output, saturated to the type's range or (saturate = false) cast as is.
void store_ints(KernelContext& ctx, const Tensor& x, const Sums& s, const std::function<int32_t(int64_t)>& value,
                bool saturate = true) {
  const Range range = dtype_range(ctx, x.dtype());
  Tensor y = Tensor::uninitialized(x.dtype(), s.out_shape);
  for (size_t i = 0; i < s.sum.size(); ++i) {
    int32_t v = value(s.sum[i]);
    if (saturate) v = std::min(range.hi, std::max(range.lo, v));
    store_q(y, static_cast<int64_t>(i), v);
  }
  ctx.set_output(0, y);
}

// REDUCE_MAX: the largest integer, not requantized (TFLite's kernel copies it: input and output
// share their quantization).
void quantized_reduce_max(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  require_u8_i8_or_i16(ctx, x, "input");
  const TensorQuant in = per_tensor_quant(ctx, x, "input"), out = output_quant(ctx, 0);
  if (in.scale != out.scale || in.zero_point != out.zero_point)
    ctx.fail("input and output quantization differ (TFLite's REDUCE_MAX does not requantize)");
  const Sums s = reduce_ints(x, reduced_dims(ctx, x.rank()), ctx.node.attr_int("keepdims", 1) != 0,
                             std::numeric_limits<int64_t>::min(), [](int64_t a, int64_t v) { return std::max(a, v); });
  store_ints(ctx, x, s, [](int64_t m) { return static_cast<int32_t>(m); });
}

// SUM (TFLite's QuantizedMeanOrSum, compute_sum): in float, scale = s_x / s_y,
//   y = round_half_away(float(sum) * scale - zp_x * scale * n) + zp_y
// TFLite casts that int32 to the output type without saturating: a sum beyond the output's range
// wraps around (seen in the TFLite interpreter: 241 steps off on an output scale too small), and so
// it does here.
void quantized_reduce_sum(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  require_u8_i8_or_i16(ctx, x, "input");
  const TensorQuant in = per_tensor_quant(ctx, x, "input"), out = output_quant(ctx, 0);
  const Sums s = reduce_sums(x, reduced_dims(ctx, x.rank()), ctx.node.attr_int("keepdims", 1) != 0);
  const float scale = static_cast<float>(in.scale) / static_cast<float>(out.scale);
  const float bias = static_cast<float>(-in.zero_point) * scale * static_cast<float>(s.count);
  store_ints(ctx, x, s, [&](int64_t sum) {
    return saturating_int(std::round(static_cast<float>(sum) * scale + bias)) + out.zero_point;
  }, /*saturate=*/false);  // wraps, as TFLite
}

void quantized_reduce_mean(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  require_u8_i8_or_i16(ctx, x, "input");
  const TensorQuant in = per_tensor_quant(ctx, x, "input"), out = output_quant(ctx, 0);
  const bool keepdims = ctx.node.attr_int("keepdims", 1) != 0;
  const std::vector<bool> reduced = reduced_dims(ctx, x.rank());
  const Sums s = reduce_sums(x, reduced, keepdims);
  const bool spatial = x.rank() == 4 && !reduced[0] && reduced[1] && reduced[2] && !reduced[3];
  const float s_x = static_cast<float>(in.scale), s_y = static_cast<float>(out.scale);
  const float n = static_cast<float>(s.count);
  std::function<int32_t(int64_t)> mean;
  const float ratio = s_x / s_y;  // XNNPACK refuses ratios outside [2^-8, 2^8): built-in kernel
  // int16: TFLite's int16 MEAN is its QuantizedMeanOrSum (the last two cases).
  const bool int16 = x.dtype() == DType::kI16;
  const bool xnnpack = ratio >= 0x1.0p-8f && ratio < 0x1.0p+8f && ctx.node.attr_string("requantize", "tflite") == "fp32";
  if (spatial && xnnpack) {
    const float scale = s_x / (s_y * n);
    mean = [&, scale](int64_t sum) {
      const int32_t centered = static_cast<int32_t>(sum - s.count * in.zero_point);
      return saturating_int(std::nearbyint(static_cast<float>(centered) * scale)) + out.zero_point;
    };
  } else if (spatial && keepdims && !int16) {
    float offset = static_cast<float>(in.zero_point) * s_x / s_y;
    offset = offset > 0 ? offset + 0.5f : offset - 0.5f;
    const int32_t bias = out.zero_point - saturating_int(offset);
    const Multiplier m = quantize_multiplier(s_x / (n * s_y));
    mean = [&, bias, m](int64_t sum) { return multiply_by_quantized_multiplier(static_cast<int32_t>(sum), m) + bias; };
  } else if (in.scale == out.scale && in.zero_point == out.zero_point) {
    mean = [&](int64_t sum) { return static_cast<int32_t>(sum / s.count); };
  } else {
    const float scale = s_x / s_y, bias = static_cast<float>(-in.zero_point) * scale;
    mean = [&, scale, bias](int64_t sum) {
      return saturating_int(std::round(static_cast<float>(sum) / n * scale + bias)) + out.zero_point;
    };
  }
  store_ints(ctx, x, s, [&](int64_t sum) { return s.count == 0 ? out.zero_point : mean(sum); });
}

[[maybe_unused]] const bool kRegistered = [] {
  register_kernel("ReduceMean", KernelInfo{quantized_reduce_mean, true}, kTfliteQuantizedDomain);
  register_kernel("ReduceMax", KernelInfo{quantized_reduce_max, true}, kTfliteQuantizedDomain);
  register_kernel("ReduceSum", KernelInfo{quantized_reduce_sum, true}, kTfliteQuantizedDomain);
  return true;
}();

}  // namespace
}  // namespace transfix
