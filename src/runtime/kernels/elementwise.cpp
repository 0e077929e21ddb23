#include "runtime/kernels/elementwise.h"

namespace transfix {
namespace elementwise {

BroadcastPlan plan_broadcast_to(const Shape& a, const Shape& b, const Shape& out) {
  BroadcastPlan p;
  p.out_shape = out;
  const auto sa = broadcast_strides(a, out);
  const auto sb = broadcast_strides(b, out);
  // Walk from the innermost dim outwards; dim d joins the current collapsed dim when, for both
  // inputs, stepping d is the same as stepping past the whole collapsed dim (contiguous, or both 0).
  std::vector<int64_t> dims, ca, cb;  // innermost first
  for (int64_t d = static_cast<int64_t>(out.size()) - 1; d >= 0; --d) {
    size_t u = static_cast<size_t>(d);
    if (out[u] == 1) continue;
    if (!dims.empty() && sa[u] == ca.back() * dims.back() && sb[u] == cb.back() * dims.back()) {
      dims.back() *= out[u];
    } else {
      dims.push_back(out[u]);
      ca.push_back(sa[u]);
      cb.push_back(sb[u]);
    }
  }
  if (dims.empty()) {  // every dim is 1: a single element
    dims = {1};
    ca = {0};
    cb = {0};
  }
  p.dims.assign(dims.rbegin(), dims.rend());
  p.sa.assign(ca.rbegin(), ca.rend());
  p.sb.assign(cb.rbegin(), cb.rend());
  return p;
}

BroadcastPlan plan_broadcast(const Shape& a, const Shape& b) {
  return plan_broadcast_to(a, b, broadcast_shapes(a, b));
}

Tensor legacy_broadcast_operand(const KernelContext& ctx, const Tensor& a, const Tensor& b) {
  if (ctx.opset >= 7 || ctx.node.attr_int("broadcast", 0) == 0 || !ctx.node.has_attr("axis")) return b;
  const int64_t rank = a.rank();
  int64_t axis = ctx.node.attr_int("axis", 0);
  if (axis < 0) axis += rank;
  if (axis < 0 || axis + b.rank() > rank)
    ctx.fail("legacy broadcast axis " + std::to_string(ctx.node.attr_int("axis", 0)) + " does not fit B " +
             shape_str(b.shape()) + " into A " + shape_str(a.shape()));
  Shape s = b.shape();
  s.resize(static_cast<size_t>(rank - axis), 1);  // trailing 1s after B's dims
  return b.reshaped(s);
}

void require_same_dtype(const KernelContext& ctx, const Tensor& a, const Tensor& b) {
  if (a.dtype() != b.dtype())
    ctx.fail(std::string("inputs must have the same type, got ") + dtype_name(a.dtype()) + " and " +
             dtype_name(b.dtype()));
}

}  // namespace elementwise
}  // namespace transfix
