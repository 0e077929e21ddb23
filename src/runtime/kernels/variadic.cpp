// Variadic element-wise ops: Max, Min, Sum, Mean over any number of inputs with numpy
// broadcasting, folded left to right (as numpy.maximum.reduce / the ONNX reference do).
// Max and Min propagate NaN like numpy.maximum / numpy.minimum.
#include <cmath>
#include <type_traits>

#include "runtime/kernels/elementwise.h"

namespace transfix {
namespace {


// Folds op over all inputs (at least one); every input must share the first one's dtype.
template <typename Op>
void fold(KernelContext& ctx, const char* name, bool floats_only, Op op, bool mean = false) {
  if (ctx.num_inputs() == 0) ctx.fail("needs at least one input");
  const Tensor& first = ctx.input(0);
  for (size_t i = 1; i < ctx.num_inputs(); ++i) elementwise::require_same_dtype(ctx, first, ctx.input(i));
  auto run = [&](auto tag) {
    using T = decltype(tag);
    Tensor acc = first;
    for (size_t i = 1; i < ctx.num_inputs(); ++i) acc = elementwise::map_binary<T, T>(acc, ctx.input(i), op);
    if (mean) {
      const T n = static_cast<T>(ctx.num_inputs());
      acc = elementwise::map_unary<T, T>(acc, [n](T v) { return static_cast<T>(v / n); });
    }
    return acc;
  };
  ctx.set_output(0, floats_only ? dispatch_float(first.dtype(), name, run) : dispatch_numeric(first.dtype(), name, run));
}

void max_op(KernelContext& ctx) {
  fold(ctx, "Max", false, [](auto a, auto b) { return (a > b || is_nan(a)) ? a : b; });
}
void min_op(KernelContext& ctx) {
  fold(ctx, "Min", false, [](auto a, auto b) { return (a < b || is_nan(a)) ? a : b; });
}
void sum_op(KernelContext& ctx) {
  fold(ctx, "Sum", true, [](auto a, auto b) { return static_cast<decltype(a)>(a + b); });
}
void mean_op(KernelContext& ctx) {
  fold(ctx, "Mean", true, [](auto a, auto b) { return static_cast<decltype(a)>(a + b); }, true);
}

TRANSFIX_KERNEL("Max", max_op);
TRANSFIX_KERNEL("Min", min_op);
TRANSFIX_KERNEL("Sum", sum_op);
TRANSFIX_KERNEL("Mean", mean_op);

}  // namespace
}  // namespace transfix
