// Shared machinery of the element-wise kernel files (unary, binary, activations, comparisons,
// variadic, Where): map a function over one tensor, or over two numpy-broadcast tensors, with
// fast paths for the shapes that dominate real models and parallel_for for large tensors.
//
// Binary broadcasting collapses the output shape into the fewest dims where both inputs are
// either contiguous or constant, so "same shape", "scalar" and "per-channel" ([N,C,H,W] op [C,1,1])
// all become an outer loop over rows and an inner loop that is a plain, vectorizable loop.
#pragma once
#include <cmath>
#include <type_traits>
#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "runtime/kernel.h"
#include "runtime/kernel_util.h"
#include "core/thread_pool.h"

namespace transfix {

// NaN test that also compiles for integer element types (always false there).
template <typename T>
bool is_nan(T v) {
  if constexpr (std::is_floating_point_v<T>) return std::isnan(v);
  else return false;
}

namespace elementwise {

// Tensors above this many elements are split across threads.
constexpr int64_t kParallelThreshold = 64 * 1024;
// Smallest chunk a thread takes (elements), so small tensors stay on one thread.
constexpr int64_t kMinChunk = 32 * 1024;

// Runs fn(begin, end) over [0, n), in parallel when n is large.
template <typename F>
void for_range(int64_t n, F&& fn) {
  if (n <= kParallelThreshold) {
    fn(int64_t{0}, n);
    return;
  }
  parallel_for(n, [&](int64_t b, int64_t e) { fn(b, e); }, kMinChunk);
}

// out[i] = f(x[i]); out has x's shape and dtype DTypeOf<R>.
template <typename T, typename R, typename F>
Tensor map_unary(const Tensor& x, F f) {
  Tensor out = Tensor::uninitialized(DTypeOf<R>::value, x.shape());  // every element is written below
  const T* in = x.data<T>();
  R* o = out.mutable_data<R>();
  for_range(x.numel(), [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) o[i] = f(in[i]);
  });
  return out;
}

// Broadcast layout of two inputs against an output, collapsed to the fewest dims.
struct BroadcastPlan {
  Shape out_shape;                  // the real (uncollapsed) output shape
  std::vector<int64_t> dims;        // collapsed dims; the last is the inner row
  std::vector<int64_t> sa, sb;      // collapsed element strides of a and b (0 = broadcast)
  int64_t inner() const { return dims.empty() ? 1 : dims.back(); }
  int64_t rows() const {
    int64_t r = 1;
    for (size_t i = 0; i + 1 < dims.size(); ++i) r *= dims[i];
    return r;
  }
};

// Throws InputError when the shapes cannot be broadcast.
BroadcastPlan plan_broadcast(const Shape& a, const Shape& b);
// Same plan when `out` is already known (e.g. a unidirectional broadcast of b onto a).
BroadcastPlan plan_broadcast_to(const Shape& a, const Shape& b, const Shape& out);

// Flat offsets of row `row` (index over all collapsed dims but the last) into a and b.
inline void row_offsets(const BroadcastPlan& p, int64_t row, int64_t& oa, int64_t& ob) {
  oa = 0;
  ob = 0;
  for (int64_t d = static_cast<int64_t>(p.dims.size()) - 2; d >= 0 && row > 0; --d) {
    size_t u = static_cast<size_t>(d);
    int64_t i = row % p.dims[u];
    row /= p.dims[u];
    oa += i * p.sa[u];
    ob += i * p.sb[u];
  }
}

// out = f(a, b) with numpy broadcasting, out dtype DTypeOf<R>. Inner loops are specialized on
// whether each input moves (stride 1) or stays (stride 0) so the common cases vectorize.
template <typename T, typename R, typename F>
Tensor map_binary_planned(const Tensor& a, const Tensor& b, const BroadcastPlan& p, F f) {
  Tensor out = Tensor::uninitialized(DTypeOf<R>::value, p.out_shape);  // every element is written below
  if (out.numel() == 0) return out;
  const T* pa = a.data<T>();
  const T* pb = b.data<T>();
  R* po = out.mutable_data<R>();
  const int64_t inner = p.inner();
  const int64_t ia = p.sa.empty() ? 0 : p.sa.back();
  const int64_t ib = p.sb.empty() ? 0 : p.sb.back();
  // Computes outputs [b0, e0) of one row whose inputs start at x and y.
  auto run_span = [&](const T* x, const T* y, R* o, int64_t b0, int64_t e0) {
    if (ia == 1 && ib == 1) {
      for (int64_t k = b0; k < e0; ++k) o[k] = f(x[k], y[k]);
    } else if (ia == 1) {
      const T yv = *y;
      for (int64_t k = b0; k < e0; ++k) o[k] = f(x[k], yv);
    } else if (ib == 1) {
      const T xv = *x;
      for (int64_t k = b0; k < e0; ++k) o[k] = f(xv, y[k]);
    } else {
      const R v = f(*x, *y);  // both constant along the row
      for (int64_t k = b0; k < e0; ++k) o[k] = v;
    }
  };
  auto run_row = [&](int64_t row) {
    int64_t oa, ob;
    row_offsets(p, row, oa, ob);
    run_span(pa + oa, pb + ob, po + row * inner, 0, inner);
  };
  const int64_t rows = p.rows();
  if (rows == 1) {  // same shapes, or one side a scalar: one long row, split across threads
    for_range(inner, [&](int64_t b0, int64_t e0) { run_span(pa, pb, po, b0, e0); });
    return out;
  }
  if (out.numel() > kParallelThreshold) {
    int64_t min_rows = std::max<int64_t>(1, kMinChunk / std::max<int64_t>(inner, 1));
    parallel_for(rows, [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) run_row(r);
    }, min_rows);
  } else {
    for (int64_t r = 0; r < rows; ++r) run_row(r);
  }
  return out;
}

template <typename T, typename R, typename F>
Tensor map_binary(const Tensor& a, const Tensor& b, F f) {
  return map_binary_planned<T, R>(a, b, plan_broadcast(a.shape(), b.shape()), f);
}

// Calls f(T{}) for the numeric types and bool.
template <typename F>
decltype(auto) dispatch_numeric_or_bool(DType t, const std::string& what, F&& f) {
  if (t == DType::kBool) return f(bool{});
  return dispatch_numeric(t, what, std::forward<F>(f));
}

// Before opset 7, binary ops broadcast only B onto A, and only with broadcast = 1, aligning B's dims
// at `axis` (default: trailing alignment, which numpy broadcasting already does). Returns B
// reshaped so numpy broadcasting gives that legacy result.
Tensor legacy_broadcast_operand(const KernelContext& ctx, const Tensor& a, const Tensor& b);

// Throws InputError naming the node when two inputs that must share a type do not.
void require_same_dtype(const KernelContext& ctx, const Tensor& a, const Tensor& b);

}  // namespace elementwise
}  // namespace transfix
