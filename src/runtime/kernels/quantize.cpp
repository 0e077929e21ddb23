// QuantizeLinear and DequantizeLinear, per tensor or per axis (opset 13 `axis`, default 1):
//   Quantize:   y = saturate(round_half_to_even(x / scale) + zero_point)   (uint8 unless zero_point says int8, int16 or uint16)
//   Dequantize: y = (x - zero_point) * scale                               (in the scale's float type)
// float16 scales and inputs run widened to float32 (the interpreter rounds float outputs back).
// IR extension: rounding = "half_away_from_zero" (TFLite's QUANTIZE, set by its reader) instead of
// ONNX's half to even; they differ only where x / scale is exactly halfway, which in float32 is
// common for int16 (about 1 element in 1000 of a random input at 2^13 steps and more).
#include <algorithm>
#include <cmath>
#include <limits>

#include "runtime/kernel_util.h"
#include "runtime/kernels/copy_util.h"

namespace transfix {
namespace {

// Broadcast layout of scale / zero_point over x: `count` parameters along `axis` (count 1 = per tensor).
struct ParamLayout {
  int64_t count = 1, inner = 1;
  int64_t param_index(int64_t flat) const { return count == 1 ? 0 : (flat / inner) % count; }
};

ParamLayout layout_of(const KernelContext& ctx, const Tensor& x, const Tensor& scale, const Tensor* zero_point) {
  ParamLayout l;
  // One value each is per-tensor whatever its rank: ONNX Runtime's quantizer writes a [1] scale beside a
  // scalar zero point (ONNX Runtime runs it).
  const bool per_tensor = scale.numel() == 1 && scale.rank() <= 1 && (!zero_point || (zero_point->numel() == 1 && zero_point->rank() <= 1));
  if (per_tensor) return l;
  if (zero_point && zero_point->shape() != scale.shape()) ctx.fail("scale and zero_point shapes differ");
  if (scale.rank() != 1 || ctx.opset < 13) ctx.fail("scale must be a scalar" + std::string(ctx.opset >= 13 ? " or 1-D" : ""));
  const size_t axis = static_cast<size_t>(normalize_axis(ctx.node.attr_int("axis", 1), x.rank()));
  if (scale.numel() != x.shape()[axis])
    ctx.fail("scale has " + std::to_string(scale.numel()) + " values for axis dim " + std::to_string(x.shape()[axis]));
  l.count = scale.numel();
  for (size_t d = axis + 1; d < x.shape().size(); ++d) l.inner *= x.shape()[d];
  return l;
}

template <typename Q, typename T>
Q saturate_round(T v) {
  double r = std::nearbyint(static_cast<double>(v));  // default rounding mode: half to even
  r = std::clamp(r, static_cast<double>(std::numeric_limits<Q>::lowest()), static_cast<double>(std::numeric_limits<Q>::max()));
  return static_cast<Q>(r);
}

void quantize_linear(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  const Tensor& scale = ctx.input(1);
  const Tensor* zp = ctx.optional_input(2);
  const ParamLayout l = layout_of(ctx, x, scale, zp);
  const DType qt = zp ? zp->dtype() : DType::kU8;
  if (qt != DType::kU8 && qt != DType::kI8 && qt != DType::kI16 && qt != DType::kU16) throw UnsupportedError(std::string("QuantizeLinear to ") + dtype_name(qt) + " is not supported", "QuantizeLinear");
  if (!is_float(x.dtype()) || scale.dtype() != x.dtype()) ctx.fail("x and scale must share one float dtype");
  const std::string rounding = ctx.node.attr_string("rounding", "half_to_even");
  if (rounding != "half_to_even" && rounding != "half_away_from_zero")
    ctx.fail("rounding must be half_to_even or half_away_from_zero, not " + rounding);
  const bool half_away = rounding == "half_away_from_zero";
  const auto zero = zp ? zp->to_i64_vector() : std::vector<int64_t>(1, 0);
  Tensor out(qt, x.shape());
  dispatch_float(x.dtype(), "QuantizeLinear", [&](auto tag) {
    using T = decltype(tag);
    const T* xs = x.data<T>();
    const T* s = scale.data<T>();
    auto run = [&](auto* y) {
      using Q = std::remove_pointer_t<decltype(y)>;
      for (int64_t i = 0; i < x.numel(); ++i) {
        const int64_t p = l.param_index(i);
        const T q = xs[i] / s[p];
        y[i] = saturate_round<Q>((half_away ? std::round(q) : std::nearbyint(q)) + static_cast<T>(zero[static_cast<size_t>(p)]));
      }
    };
    switch (qt) {
      case DType::kU8: run(out.mutable_data<uint8_t>()); break;
      case DType::kI8: run(out.mutable_data<int8_t>()); break;
      case DType::kI16: run(out.mutable_data<int16_t>()); break;
      default: run(out.mutable_data<uint16_t>()); break;
    }
  });
  ctx.set_output(0, out);
}

void dequantize_linear(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  const Tensor& scale = ctx.input(1);
  const Tensor* zp = ctx.optional_input(2);
  const ParamLayout l = layout_of(ctx, x, scale, zp);
  if (zp && zp->dtype() != x.dtype()) ctx.fail("x and zero_point dtypes differ");
  if (!is_integer(x.dtype())) ctx.fail(std::string("x must be an integer tensor, got ") + dtype_name(x.dtype()));
  if (!is_float(scale.dtype())) ctx.fail("scale must be a float tensor");
  const auto zero = zp ? zp->to_i64_vector() : std::vector<int64_t>(1, 0);
  const auto q = x.to_i64_vector();
  const DType out_type = ctx.float_out(scale.dtype());
  const Tensor s_work = scale.cast(out_type);
  Tensor out(out_type, x.shape());
  dispatch_float(out_type, "DequantizeLinear", [&](auto tag) {
    using T = decltype(tag);
    const T* s = s_work.data<T>();
    T* y = out.mutable_data<T>();
    for (int64_t i = 0; i < x.numel(); ++i) {
      const int64_t p = l.param_index(i);
      y[i] = static_cast<T>(q[static_cast<size_t>(i)] - zero[static_cast<size_t>(p)]) * s[p];
    }
  });
  ctx.set_output(0, out);
}

// DynamicQuantizeLinear: uint8 quantization with the range of x (widened to include 0):
//   scale = (max(0, max x) - min(0, min x)) / 255, zero_point = saturate(round(-min(0, min x) / scale)).
void dynamic_quantize_linear(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  dispatch_float(x.dtype(), "DynamicQuantizeLinear", [&](auto tag) {
    using T = decltype(tag);
    const T* xs = x.data<T>();
    T lo = 0, hi = 0;
    for (int64_t i = 0; i < x.numel(); ++i) {
      lo = std::min(lo, xs[i]);
      hi = std::max(hi, xs[i]);
    }
    // y_scale is a float32 by definition of the op: round it so fp64 runs quantize with the same step.
    T scale = static_cast<T>(static_cast<float>((hi - lo) / T(255)));
    if (scale == T(0)) scale = T(1);  // all-zero input: any scale represents it; avoid 0 / 0
    const uint8_t zero = saturate_round<uint8_t>(std::nearbyint(-lo / scale));
    Tensor y(DType::kU8, x.shape());
    uint8_t* ys = y.mutable_data<uint8_t>();
    for (int64_t i = 0; i < x.numel(); ++i) ys[i] = saturate_round<uint8_t>(std::nearbyint(xs[i] / scale) + T(zero));
    ctx.set_output(0, y);
    ctx.set_output(1, Tensor::scalar<T>(scale));
    ctx.set_output(2, Tensor::scalar<uint8_t>(zero));
  });
}

TRANSFIX_KERNEL("QuantizeLinear", quantize_linear);
TRANSFIX_KERNEL("DynamicQuantizeLinear", dynamic_quantize_linear);
TRANSFIX_KERNEL("DequantizeLinear", dequantize_linear);

}  // namespace
}  // namespace transfix
