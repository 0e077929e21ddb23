// Normalizations (inference):
//   BatchNormalization:   Y = (X - mean[c]) / sqrt(var[c] + eps) * scale[c] + B[c]
//                         (opset < 9 with spatial = 0: the statistics are per element of X[n])
//   InstanceNormalization: per (n, c): Y = (X - mean) / sqrt(var + eps) * scale[c] + B[c]
//   LayerNormalization:   per row of the dims from `axis` on: Y = (X - mean) / sqrt(var + eps) * Scale + B;
//                         optional outputs Mean and InvStdDev (1 / sqrt(var + eps)), dims from axis kept as 1
//   MeanVarianceNormalization: over `axes` (default N, H, W): Y = (X - mean) / (sqrt(var) + 1e-9)
// Means and variances accumulate in double (var = E[(x - mean)^2], not the cancellation-prone E[x^2] - mean^2).
#include <cmath>
#include <string>

#include "runtime/kernel.h"
#include "runtime/kernel_util.h"
#include "core/thread_pool.h"

namespace transfix {
namespace {

struct Moments {
  double mean = 0, var = 0;
};

// Mean and (biased) variance of n values spaced `stride` apart.
template <typename T>
Moments moments(const T* x, int64_t n, int64_t stride = 1) {
  Moments m;
  if (n <= 0) return m;
  double sum = 0;
  for (int64_t i = 0; i < n; ++i) sum += x[i * stride];
  m.mean = sum / static_cast<double>(n);
  double sq = 0;
  for (int64_t i = 0; i < n; ++i) {
    const double d = x[i * stride] - m.mean;
    sq += d * d;
  }
  m.var = sq / static_cast<double>(n);
  return m;
}

// A per-channel parameter vector: 1-D of length `channels`.
const Tensor& channel_param(const KernelContext& ctx, size_t index, const char* name, int64_t channels, DType dtype) {
  const Tensor& t = ctx.input(index);
  if (t.numel() != channels || t.rank() != 1)
    ctx.fail(std::string(name) + " shape " + shape_str(t.shape()) + " must be [" + std::to_string(channels) + "]");
  if (t.dtype() != dtype) ctx.fail(std::string(name) + " dtype differs from X");
  return t;
}

template <typename T>
void batch_norm_typed(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  if (x.rank() < 2) ctx.fail("X must be [N, C, ...], got " + shape_str(x.shape()));
  if (ctx.opset >= 14 && ctx.node.attr_int("training_mode", 0) != 0)
    throw UnsupportedError("BatchNormalization with training_mode=1 is not supported (inference only)", "BatchNormalization");
  for (size_t i = 3; i < ctx.num_outputs(); ++i)
    if (ctx.wants_output(i)) throw UnsupportedError("BatchNormalization training outputs are not supported", "BatchNormalization");
  // spatial = 0 (opset < 9): the parameters have X's shape without the batch dim, so every element
  // of X[n] is its own "channel".
  const bool per_element = ctx.opset < 9 && ctx.node.attr_int("spatial", 1) == 0;
  const int64_t batch = x.dim(0);
  const int64_t channels = per_element ? x.numel() / std::max<int64_t>(1, batch) : x.dim(1);
  const int64_t plane = per_element ? 1 : (channels == 0 ? 0 : x.numel() / std::max<int64_t>(1, batch * channels));
  const double eps = ctx.node.attr_float("epsilon", 1e-5);
  const T* scale = channel_param(ctx, 1, "scale", channels, x.dtype()).template data<T>();
  const T* bias = channel_param(ctx, 2, "B", channels, x.dtype()).template data<T>();
  const T* mean = channel_param(ctx, 3, "mean", channels, x.dtype()).template data<T>();
  const T* var = channel_param(ctx, 4, "var", channels, x.dtype()).template data<T>();

  // y = x * a + b with a = scale / sqrt(var + eps), b = B - mean * a.
  std::vector<T> a(static_cast<size_t>(channels)), b(static_cast<size_t>(channels));
  for (int64_t c = 0; c < channels; ++c) {
    a[c] = static_cast<T>(scale[c] / std::sqrt(var[c] + static_cast<T>(eps)));
    b[c] = static_cast<T>(bias[c] - mean[c] * a[c]);
  }
  Tensor y(x.dtype(), x.shape());
  const T* xd = x.data<T>();
  T* yd = y.mutable_data<T>();
  parallel_for(batch * channels, [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      const T ac = a[p % channels], bc = b[p % channels];
      const T* xp = xd + p * plane;
      T* yp = yd + p * plane;
      for (int64_t i = 0; i < plane; ++i) yp[i] = xp[i] * ac + bc;
    }
  }, std::max<int64_t>(1, 16384 / std::max<int64_t>(1, plane)));
  ctx.set_output(0, y);
  // Opset < 14 inference may name running mean/var outputs: in inference they are the inputs.
  if (ctx.wants_output(1)) ctx.set_output(1, ctx.input(3));
  if (ctx.wants_output(2)) ctx.set_output(2, ctx.input(4));
}

template <typename T>
void instance_norm_typed(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  if (x.rank() < 3) ctx.fail("X must be [N, C, D1, ...], got " + shape_str(x.shape()));
  const int64_t batch = x.dim(0), channels = x.dim(1), plane = x.numel() / std::max<int64_t>(1, batch * channels);
  const T* scale = channel_param(ctx, 1, "scale", channels, x.dtype()).template data<T>();
  const T* bias = channel_param(ctx, 2, "B", channels, x.dtype()).template data<T>();
  const double eps = ctx.node.attr_float("epsilon", 1e-5);
  Tensor y(x.dtype(), x.shape());
  const T* xd = x.data<T>();
  T* yd = y.mutable_data<T>();
  parallel_for(batch * channels, [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      const T* xp = xd + p * plane;
      T* yp = yd + p * plane;
      const Moments mv = moments(xp, plane);
      const double a = scale[p % channels] / std::sqrt(mv.var + eps), b = bias[p % channels] - mv.mean * a;
      for (int64_t i = 0; i < plane; ++i) yp[i] = static_cast<T>(xp[i] * a + b);
    }
  });
  ctx.set_output(0, y);
}

// Expands a parameter that broadcasts (unidirectionally) to `shape` into a dense vector of its numel.
template <typename T>
std::vector<T> expand_to(const KernelContext& ctx, const Tensor& p, const Shape& shape, const char* name) {
  if (p.rank() > static_cast<int64_t>(shape.size()) || broadcast_shapes(p.shape(), shape) != shape)
    ctx.fail(std::string(name) + " shape " + shape_str(p.shape()) + " does not broadcast to " + shape_str(shape));
  std::vector<T> out(static_cast<size_t>(shape_numel(shape)));
  const T* pd = p.data<T>();
  const auto strides = broadcast_strides(p.shape(), shape);
  for_each_broadcast(shape, strides, strides, [&](int64_t o, int64_t i, int64_t) { out[o] = pd[i]; });
  return out;
}

template <typename T>
void layer_norm_typed(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  if (x.rank() < 1) ctx.fail("X must have rank >= 1");
  const int64_t axis = normalize_axis(ctx.node.attr_int("axis", -1), x.rank());
  const double eps = ctx.node.attr_float("epsilon", 1e-5);
  const Shape norm_shape(x.shape().begin() + axis, x.shape().end());
  const int64_t row = shape_numel(norm_shape), rows = row == 0 ? 0 : x.numel() / row;
  for (size_t i = 1; i < 3; ++i)
    if (ctx.optional_input(i) && ctx.optional_input(i)->dtype() != x.dtype()) ctx.fail("Scale and B must have X's dtype");
  const std::vector<T> scale = expand_to<T>(ctx, ctx.input(1), norm_shape, "Scale");
  const std::vector<T> bias = ctx.optional_input(2) ? expand_to<T>(ctx, *ctx.optional_input(2), norm_shape, "B")
                                                    : std::vector<T>(static_cast<size_t>(row), T(0));
  // Mean and InvStdDev keep X's leading dims and have 1 for the normalized ones; their dtype is stash_type's.
  Shape stat_shape(x.shape().begin(), x.shape().begin() + axis);
  stat_shape.resize(static_cast<size_t>(x.rank()), 1);
  const DType stash = ctx.float_out(ctx.node.attr_int("stash_type", 1) == 11 ? DType::kF64 : DType::kF32);
  Tensor y(x.dtype(), x.shape()), mean_t(stash, stat_shape), inv_std_t(stash, stat_shape);
  const T* xd = x.data<T>();
  T* yd = y.mutable_data<T>();
  std::vector<double> means(static_cast<size_t>(rows)), inv_stds(static_cast<size_t>(rows));
  parallel_for(rows, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const T* xr = xd + r * row;
      T* yr = yd + r * row;
      const Moments mv = moments(xr, row);
      const double inv_std = 1.0 / std::sqrt(mv.var + eps);
      means[r] = mv.mean;
      inv_stds[r] = inv_std;
      for (int64_t i = 0; i < row; ++i) yr[i] = static_cast<T>((xr[i] - mv.mean) * inv_std * scale[i] + bias[i]);
    }
  }, std::max<int64_t>(1, 4096 / std::max<int64_t>(1, row)));
  ctx.set_output(0, y);
  auto store = [&](Tensor& t, const std::vector<double>& v) {
    dispatch_float(t.dtype(), "LayerNormalization", [&](auto s) {
      using S = decltype(s);
      S* d = t.mutable_data<S>();
      for (size_t i = 0; i < v.size(); ++i) d[i] = static_cast<S>(v[i]);
    });
  };
  if (ctx.wants_output(1)) { store(mean_t, means); ctx.set_output(1, mean_t); }
  if (ctx.wants_output(2)) { store(inv_std_t, inv_stds); ctx.set_output(2, inv_std_t); }
}

template <typename T>
void mean_variance_norm_typed(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  const int64_t rank = x.rank();
  std::vector<int64_t> axes = ctx.node.attr_ints("axes", {0, 2, 3});
  std::vector<bool> reduced(static_cast<size_t>(rank), false);
  for (int64_t a : axes) reduced[static_cast<size_t>(normalize_axis(a, rank))] = true;
  // Statistics shape: X with the reduced dims set to 1; broadcasting maps each element to its group.
  Shape stat_shape = x.shape();
  for (int64_t d = 0; d < rank; ++d)
    if (reduced[static_cast<size_t>(d)]) stat_shape[static_cast<size_t>(d)] = 1;
  const auto stat_strides = broadcast_strides(stat_shape, x.shape());
  const int64_t groups = shape_numel(stat_shape);
  const int64_t count = groups == 0 ? 0 : x.numel() / groups;
  const T* xd = x.data<T>();
  std::vector<double> sum(static_cast<size_t>(groups), 0.0), sq(static_cast<size_t>(groups), 0.0);
  for_each_broadcast(x.shape(), stat_strides, stat_strides, [&](int64_t i, int64_t g, int64_t) { sum[g] += xd[i]; });
  for (double& s : sum) s /= static_cast<double>(std::max<int64_t>(1, count));
  for_each_broadcast(x.shape(), stat_strides, stat_strides, [&](int64_t i, int64_t g, int64_t) {
    const double d = xd[i] - sum[g];
    sq[g] += d * d;
  });
  for (double& s : sq) s = std::sqrt(s / static_cast<double>(std::max<int64_t>(1, count))) + 1e-9;  // std + eps
  Tensor y(x.dtype(), x.shape());
  T* yd = y.mutable_data<T>();
  for_each_broadcast(x.shape(), stat_strides, stat_strides,
                     [&](int64_t i, int64_t g, int64_t) { yd[i] = static_cast<T>((xd[i] - sum[g]) / sq[g]); });
  ctx.set_output(0, y);
}

template <template <typename> class Fn>
KernelFn float_kernel(const char* op) {
  return [op](KernelContext& ctx) {
    dispatch_float(ctx.input(0).dtype(), op, [&](auto t) { Fn<decltype(t)>::run(ctx); });
  };
}
template <typename T> struct BatchNorm { static void run(KernelContext& c) { batch_norm_typed<T>(c); } };
template <typename T> struct InstanceNorm { static void run(KernelContext& c) { instance_norm_typed<T>(c); } };
template <typename T> struct LayerNorm { static void run(KernelContext& c) { layer_norm_typed<T>(c); } };
template <typename T> struct MeanVarianceNorm { static void run(KernelContext& c) { mean_variance_norm_typed<T>(c); } };

TRANSFIX_KERNEL("BatchNormalization", float_kernel<BatchNorm>("BatchNormalization"));
TRANSFIX_KERNEL("InstanceNormalization", float_kernel<InstanceNorm>("InstanceNormalization"));
TRANSFIX_KERNEL("LayerNormalization", float_kernel<LayerNorm>("LayerNormalization"));
TRANSFIX_KERNEL("MeanVarianceNormalization", float_kernel<MeanVarianceNorm>("MeanVarianceNormalization"));

}  // namespace
}  // namespace transfix
