// Cast (to = ONNX TensorProto element type) and CastLike (to = the second input's type).
// Float -> integer truncates toward zero (saturating where C++ would be undefined), anything -> bool
// is "!= 0", float16/bfloat16 round to nearest even. Registered with handles_low_precision so
// float16 data is converted exactly once. Float targets go through ctx.float_out, so in fp64 mode a
// cast to float32/float16 stays float64 (the oracle does not round).
#include "runtime/kernel.h"

namespace transfix {
namespace {


Tensor cast_to(const KernelContext& ctx, const Tensor& x, DType target) {
  const DType to = ctx.float_out(target);
  return x.dtype() == to ? x : x.cast(to);
}

void cast(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  if (!ctx.node.has_attr("to")) ctx.fail("missing attribute 'to'");
  const int64_t to = ctx.node.attr_int("to", 0);
  const DType target = dtype_from_onnx(to);
  if (target == DType::kUndefined) {
    if (to == 8 || to == 14 || to == 15 || (to >= 17 && to <= 23))  // string, complex, float8, int4...
      throw UnsupportedError("Cast to ONNX type " + std::to_string(to) + " is not supported", "Cast");
    ctx.fail("'to' = " + std::to_string(to) + " is not an ONNX tensor type");
  }
  ctx.set_output(0, cast_to(ctx, x, target));
}

void cast_like(KernelContext& ctx) {
  ctx.set_output(0, cast_to(ctx, ctx.input(0), ctx.input(1).dtype()));
}

TRANSFIX_KERNEL_INFO("Cast", (KernelInfo{cast, true}));
TRANSFIX_KERNEL_INFO("CastLike", (KernelInfo{cast_like, true}));

}  // namespace
}  // namespace transfix
