// LRN (local response normalization across channels), for [N, C, D1, ...]:
//   square_sum[n, c] = sum of X[n, c']^2 for c' in [c - floor((size - 1) / 2), c + ceil((size - 1) / 2)] ∩ [0, C)
//   Y[n, c] = X[n, c] / (bias + alpha / size * square_sum[n, c]) ^ beta
#include <cmath>
#include <vector>

#include "runtime/kernel.h"
#include "runtime/kernel_util.h"
#include "core/thread_pool.h"

namespace transfix {
namespace {

template <typename T>
void lrn_typed(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  if (x.rank() < 2) ctx.fail("input must be [N, C, ...], got " + shape_str(x.shape()));
  if (!ctx.node.has_attr("size")) ctx.fail("size is required");
  const int64_t size = ctx.node.attr_int("size", 1);
  if (size < 1) ctx.fail("size must be positive");
  const double alpha = ctx.node.attr_float("alpha", 1e-4), beta = ctx.node.attr_float("beta", 0.75),
               bias = ctx.node.attr_float("bias", 1.0);
  const int64_t batch = x.dim(0), channels = x.dim(1);
  const int64_t plane = batch * channels == 0 ? 0 : x.numel() / (batch * channels);
  const int64_t before = (size - 1) / 2, after = size - 1 - before;  // floor and ceil of (size - 1) / 2
  Tensor y(x.dtype(), x.shape());
  const T* xd = x.data<T>();
  T* yd = y.mutable_data<T>();
  parallel_for(batch * channels, [&](int64_t p0, int64_t p1) {
    std::vector<double> square_sum(static_cast<size_t>(plane));
    for (int64_t p = p0; p < p1; ++p) {
      const int64_t n = p / channels, c = p % channels;
      std::fill(square_sum.begin(), square_sum.end(), 0.0);
      for (int64_t k = std::max<int64_t>(0, c - before); k <= std::min(channels - 1, c + after); ++k) {
        const T* xk = xd + (n * channels + k) * plane;
        for (int64_t i = 0; i < plane; ++i) square_sum[i] += static_cast<double>(xk[i]) * xk[i];
      }
      const T* xp = xd + p * plane;
      T* yp = yd + p * plane;
      for (int64_t i = 0; i < plane; ++i)
        yp[i] = static_cast<T>(xp[i] / std::pow(bias + alpha / static_cast<double>(size) * square_sum[i], beta));
    }
  });
  ctx.set_output(0, y);
}

void lrn(KernelContext& ctx) {
  dispatch_float(ctx.input(0).dtype(), "LRN", [&](auto t) { lrn_typed<decltype(t)>(ctx); });
}

TRANSFIX_KERNEL("LRN", lrn);

}  // namespace
}  // namespace transfix
