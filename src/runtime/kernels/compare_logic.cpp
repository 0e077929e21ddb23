// Comparisons (Equal, Greater, Less, GreaterOrEqual, LessOrEqual) and logical ops (And, Or, Xor),
// all with numpy broadcasting and a bool output.
#include "runtime/kernels/elementwise.h"

namespace transfix {
namespace {

using elementwise::map_binary;
using elementwise::require_same_dtype;

template <typename Cmp>
void compare(KernelContext& ctx, const char* name, Cmp cmp) {
  const Tensor& a = ctx.input(0);
  const Tensor b = elementwise::legacy_broadcast_operand(ctx, a, ctx.input(1));
  require_same_dtype(ctx, a, b);
  ctx.set_output(0, elementwise::dispatch_numeric_or_bool(a.dtype(), name, [&](auto tag) {
    using T = decltype(tag);
    return map_binary<T, bool>(a, b, [cmp](T x, T y) -> bool { return cmp(x, y); });
  }));
}

template <typename Op>
void logical(KernelContext& ctx, Op op) {
  const Tensor& a = ctx.input(0);
  const Tensor b = elementwise::legacy_broadcast_operand(ctx, a, ctx.input(1));
  if (a.dtype() != DType::kBool || b.dtype() != DType::kBool)
    ctx.fail(std::string("expects bool inputs, got ") + dtype_name(a.dtype()) + " and " + dtype_name(b.dtype()));
  ctx.set_output(0, map_binary<bool, bool>(a, b, op));
}

void equal(KernelContext& ctx) { compare(ctx, "Equal", [](auto x, auto y) { return x == y; }); }
void greater(KernelContext& ctx) { compare(ctx, "Greater", [](auto x, auto y) { return x > y; }); }
void less(KernelContext& ctx) { compare(ctx, "Less", [](auto x, auto y) { return x < y; }); }
void greater_or_equal(KernelContext& ctx) { compare(ctx, "GreaterOrEqual", [](auto x, auto y) { return x >= y; }); }
void less_or_equal(KernelContext& ctx) { compare(ctx, "LessOrEqual", [](auto x, auto y) { return x <= y; }); }

void and_op(KernelContext& ctx) { logical(ctx, [](bool x, bool y) { return x && y; }); }
void or_op(KernelContext& ctx) { logical(ctx, [](bool x, bool y) { return x || y; }); }
void xor_op(KernelContext& ctx) { logical(ctx, [](bool x, bool y) { return x != y; }); }

TRANSFIX_KERNEL("Equal", equal);
TRANSFIX_KERNEL("Greater", greater);
TRANSFIX_KERNEL("Less", less);
TRANSFIX_KERNEL("GreaterOrEqual", greater_or_equal);
TRANSFIX_KERNEL("LessOrEqual", less_or_equal);
TRANSFIX_KERNEL("And", and_op);
TRANSFIX_KERNEL("Or", or_op);
TRANSFIX_KERNEL("Xor", xor_op);

}  // namespace
}  // namespace transfix
