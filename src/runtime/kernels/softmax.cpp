// Softmax, LogSoftmax, Hardmax.
// Opset < 13: the input is coerced to 2D [prod(dims[:axis]), prod(dims[axis:])] (default axis 1)
// and the op runs over each row. Opset >= 13: the op runs along the single dim `axis` (default -1).
// Both forms become [outer, n, inner] with the op over n (inner = 1 for the 2D form).
// Numerically stable: the max along the reduced dim is subtracted before exp.
#include <cmath>
#include <limits>

#include "runtime/kernels/elementwise.h"

namespace transfix {
namespace {

struct SoftmaxLayout {
  int64_t outer = 1, n = 1, inner = 1;
};

SoftmaxLayout layout_of(const KernelContext& ctx, const Tensor& x) {
  const bool legacy = ctx.opset < 13;
  const int64_t rank = x.rank();
  int64_t axis = ctx.node.attr_int("axis", legacy ? 1 : -1);
  if (rank == 0) ctx.fail("input must have rank >= 1");
  axis = normalize_axis(axis, rank);
  SoftmaxLayout l;
  for (int64_t d = 0; d < axis; ++d) l.outer *= x.dim(d);
  if (legacy) {
    for (int64_t d = axis; d < rank; ++d) l.n *= x.dim(d);
  } else {
    l.n = x.dim(axis);
    for (int64_t d = axis + 1; d < rank; ++d) l.inner *= x.dim(d);
  }
  return l;
}

enum class Kind { kSoftmax, kLogSoftmax, kHardmax };

// One line of n elements at stride `inner`.
template <typename T>
void run_line(Kind kind, const T* x, T* y, int64_t n, int64_t inner) {
  T max_v = x[0];
  int64_t arg = 0;  // first index of the maximum
  for (int64_t k = 1; k < n; ++k) {
    if (x[k * inner] > max_v) {
      max_v = x[k * inner];
      arg = k;
    }
  }
  if (kind == Kind::kHardmax) {  // one-hot of the first maximum
    for (int64_t k = 0; k < n; ++k) y[k * inner] = k == arg ? T(1) : T(0);
    return;
  }
  T sum = 0;
  for (int64_t k = 0; k < n; ++k) {
    T e = std::exp(x[k * inner] - max_v);
    if (kind == Kind::kSoftmax) y[k * inner] = e;
    sum += e;
  }
  if (kind == Kind::kSoftmax) {
    const T scale = T(1) / sum;
    for (int64_t k = 0; k < n; ++k) y[k * inner] *= scale;
  } else {
    const T log_sum = std::log(sum);
    for (int64_t k = 0; k < n; ++k) y[k * inner] = x[k * inner] - max_v - log_sum;
  }
}

void softmax_family(KernelContext& ctx, Kind kind, const char* name) {
  const Tensor& x = ctx.input(0);
  const SoftmaxLayout l = layout_of(ctx, x);
  ctx.set_output(0, dispatch_float(x.dtype(), name, [&](auto tag) {
    using T = decltype(tag);
    Tensor out(x.dtype(), x.shape());
    if (out.numel() == 0) return out;
    const T* in = x.data<T>();
    T* o = out.mutable_data<T>();
    const int64_t lines = l.outer * l.inner;
    auto run = [&](int64_t b, int64_t e) {
      for (int64_t line = b; line < e; ++line) {
        const int64_t base = (line / l.inner) * l.n * l.inner + line % l.inner;
        run_line<T>(kind, in + base, o + base, l.n, l.inner);
      }
    };
    if (out.numel() > elementwise::kParallelThreshold)
      parallel_for(lines, run, std::max<int64_t>(1, elementwise::kMinChunk / l.n));
    else
      run(0, lines);
    return out;
  }));
}

void softmax(KernelContext& ctx) { softmax_family(ctx, Kind::kSoftmax, "Softmax"); }
void log_softmax(KernelContext& ctx) { softmax_family(ctx, Kind::kLogSoftmax, "LogSoftmax"); }
void hardmax(KernelContext& ctx) { softmax_family(ctx, Kind::kHardmax, "Hardmax"); }

TRANSFIX_KERNEL("Softmax", softmax);
TRANSFIX_KERNEL("LogSoftmax", log_softmax);
TRANSFIX_KERNEL("Hardmax", hardmax);

}  // namespace
}  // namespace transfix
