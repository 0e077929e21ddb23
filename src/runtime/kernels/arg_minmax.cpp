// ArgMax, ArgMin: int64 index of the largest / smallest element along `axis` (default 0).
// keepdims (default 1) keeps the axis as size 1; select_last_index picks the last of equal
// extremes instead of the first. A NaN counts as the extreme (numpy.argmax's rule).
#include <cmath>
#include <type_traits>

#include "runtime/kernels/elementwise.h"

namespace transfix {
namespace {


// Index (0..n) of the extreme of n elements at stride `inner`.
template <typename T>
int64_t arg_extreme(const T* x, int64_t n, int64_t inner, bool is_max, bool last) {
  int64_t best = 0;
  T best_v = x[0];
  if (is_nan(best_v)) return 0;
  for (int64_t k = 1; k < n; ++k) {
    T v = x[k * inner];
    if (is_nan(v)) return k;
    bool better = is_max ? (last ? v >= best_v : v > best_v) : (last ? v <= best_v : v < best_v);
    if (better) {
      best = k;
      best_v = v;
    }
  }
  return best;
}

void arg_extreme_op(KernelContext& ctx, bool is_max, const char* name) {
  const Tensor& x = ctx.input(0);
  if (x.rank() == 0) ctx.fail("input must have rank >= 1");
  const int64_t axis = normalize_axis(ctx.node.attr_int("axis", 0), x.rank());
  const bool keepdims = ctx.node.attr_int("keepdims", 1) != 0;
  const bool last = ctx.node.attr_int("select_last_index", 0) != 0;
  const int64_t n = x.dim(axis);
  int64_t outer = 1, inner = 1;
  for (int64_t d = 0; d < axis; ++d) outer *= x.dim(d);
  for (int64_t d = axis + 1; d < x.rank(); ++d) inner *= x.dim(d);
  Shape out_shape = x.shape();
  if (keepdims) out_shape[static_cast<size_t>(axis)] = 1;
  else out_shape.erase(out_shape.begin() + axis);
  Tensor out(DType::kI64, out_shape);
  if (out.numel() == 0) {
    ctx.set_output(0, out);
    return;
  }
  if (n == 0) ctx.fail(std::string(name) + " over an empty axis has no answer");
  int64_t* o = out.mutable_data<int64_t>();
  dispatch_numeric(x.dtype(), name, [&](auto tag) {
    using T = decltype(tag);
    const T* in = x.data<T>();
    for (int64_t i = 0; i < outer; ++i)
      for (int64_t j = 0; j < inner; ++j)
        o[i * inner + j] = arg_extreme<T>(in + i * n * inner + j, n, inner, is_max, last);
    return 0;
  });
  ctx.set_output(0, out);
}

void argmax(KernelContext& ctx) { arg_extreme_op(ctx, true, "ArgMax"); }
void argmin(KernelContext& ctx) { arg_extreme_op(ctx, false, "ArgMin"); }

TRANSFIX_KERNEL("ArgMax", argmax);
TRANSFIX_KERNEL("ArgMin", argmin);

}  // namespace
}  // namespace transfix
