// Where(condition, X, Y): out = condition ? X : Y with three-way numpy broadcasting. Elements are
// copied, never interpreted, so every dtype (float16 included) works bit-exactly.
#include "runtime/kernels/elementwise.h"

namespace transfix {
namespace {

template <typename T>
Tensor select(const Tensor& cond, const Tensor& x, const Tensor& y, const Shape& out_shape) {
  Tensor out(x.dtype(), out_shape);
  const int64_t n = out.numel();
  if (n == 0) return out;
  const bool* c = cond.data<bool>();
  const T* px = static_cast<const T*>(x.raw());
  const T* py = static_cast<const T*>(y.raw());
  T* po = static_cast<T*>(out.raw_mutable());
  if (cond.shape() == out_shape && x.shape() == out_shape && y.shape() == out_shape) {
    elementwise::for_range(n, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) po[i] = c[i] ? px[i] : py[i];
    });
    return out;
  }
  // General case: an odometer over the output with one stride set per input.
  const auto sc = broadcast_strides(cond.shape(), out_shape);
  const auto sx = broadcast_strides(x.shape(), out_shape);
  const auto sy = broadcast_strides(y.shape(), out_shape);
  const size_t rank = out_shape.size();
  std::vector<int64_t> idx(rank, 0);
  int64_t oc = 0, ox = 0, oy = 0;
  for (int64_t i = 0; i < n; ++i) {
    po[i] = c[oc] ? px[ox] : py[oy];
    for (size_t d = rank; d-- > 0;) {
      if (++idx[d] < out_shape[d]) {
        oc += sc[d];
        ox += sx[d];
        oy += sy[d];
        break;
      }
      oc -= sc[d] * (out_shape[d] - 1);
      ox -= sx[d] * (out_shape[d] - 1);
      oy -= sy[d] * (out_shape[d] - 1);
      idx[d] = 0;
    }
  }
  return out;
}

void where(KernelContext& ctx) {
  const Tensor& cond = ctx.input(0);
  const Tensor& x = ctx.input(1);
  const Tensor& y = ctx.input(2);
  if (cond.dtype() != DType::kBool) ctx.fail(std::string("condition must be bool, got ") + dtype_name(cond.dtype()));
  elementwise::require_same_dtype(ctx, x, y);
  const Shape out_shape = broadcast_shapes(cond.shape(), broadcast_shapes(x.shape(), y.shape()));
  ctx.set_output(0, dispatch_any(x.dtype(), "Where", [&](auto tag) {
    return select<decltype(tag)>(cond, x, y, out_shape);
  }));
}

TRANSFIX_KERNEL_INFO("Where", (KernelInfo{where, true}));

}  // namespace
}  // namespace transfix
