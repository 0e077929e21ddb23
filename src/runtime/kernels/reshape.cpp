// Reshape, Flatten, Squeeze, Unsqueeze: new shape, same buffer (no copy).
#include <algorithm>

#include "runtime/kernel_util.h"
#include "runtime/kernels/copy_util.h"

namespace transfix {
namespace {

// Reshape: 0 copies the input dim (unless allowzero, opset 14), one -1 is inferred.
void reshape(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  Shape target;
  if (ctx.opset < 5 && ctx.node.has_attr("shape")) target = ctx.node.attr_ints("shape");
  else target = int_list_input(ctx, ctx.input(1), "shape");
  const bool allowzero = ctx.node.attr_int("allowzero", 0) != 0;
  int64_t infer_at = -1, known = 1;
  for (size_t i = 0; i < target.size(); ++i) {
    int64_t& d = target[i];
    if (d == 0 && !allowzero) {
      if (i >= x.shape().size()) ctx.fail("shape " + shape_str(target) + " copies dim " + std::to_string(i) + " that input " + shape_str(x.shape()) + " lacks");
      d = x.shape()[i];
    }
    if (d == -1) {
      if (infer_at >= 0) ctx.fail("shape " + shape_str(target) + " has more than one -1");
      infer_at = static_cast<int64_t>(i);
      continue;
    }
    if (d < 0) ctx.fail("invalid dimension in shape " + shape_str(target));
    if (d != 0 && known > (int64_t{1} << 62) / d) ctx.fail("shape " + shape_str(target) + " is too large");
    known *= d;
  }
  if (infer_at >= 0) {
    if (known == 0 || x.numel() % known != 0)
      ctx.fail("cannot infer -1 in shape " + shape_str(target) + " for input " + shape_str(x.shape()));
    target[static_cast<size_t>(infer_at)] = x.numel() / known;
  } else if (known != x.numel()) {
    ctx.fail("cannot reshape " + shape_str(x.shape()) + " to " + shape_str(target));
  }
  ctx.set_output(0, x.reshaped(target));
}

// Flatten: [d0..d(axis-1)] x [d(axis)..], axis in [-r, r].
void flatten(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  const int64_t r = x.rank();
  int64_t axis = ctx.node.attr_int("axis", 1);
  if (axis < 0) axis += r;
  if (axis < 0 || axis > r) ctx.fail("axis out of range for rank " + std::to_string(r));
  int64_t outer = 1, inner = 1;
  for (int64_t i = 0; i < r; ++i) (i < axis ? outer : inner) *= x.shape()[static_cast<size_t>(i)];
  ctx.set_output(0, x.reshaped({outer, inner}));
}

// Axes from the attribute (before `input_since`) or from input #1 (from `input_since`).
std::vector<int64_t> axes_of(KernelContext& ctx, int64_t input_since) {
  if (ctx.opset < input_since || ctx.node.has_attr("axes")) return ctx.node.attr_ints("axes");
  if (const Tensor* a = ctx.optional_input(1)) return int_list_input(ctx, *a, "axes");
  return {};
}

// Normalizes axes against `rank` and rejects duplicates.
std::vector<bool> axis_mask(KernelContext& ctx, const std::vector<int64_t>& axes, int64_t rank) {
  std::vector<bool> mask(static_cast<size_t>(rank), false);
  for (int64_t a : axes) {
    if (a < -rank || a >= rank) ctx.fail("axis " + std::to_string(a) + " out of range for rank " + std::to_string(rank));
    size_t u = static_cast<size_t>(a < 0 ? a + rank : a);
    if (mask[u]) ctx.fail("duplicate axis " + std::to_string(a));
    mask[u] = true;
  }
  return mask;
}

// Squeeze: drop the listed size-1 dims (all size-1 dims when no axes are given).
void squeeze(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  auto axes = axes_of(ctx, 13);
  std::vector<bool> drop;
  if (axes.empty()) {
    for (int64_t d : x.shape()) drop.push_back(d == 1);
  } else {
    drop = axis_mask(ctx, axes, x.rank());
  }
  Shape out;
  for (size_t i = 0; i < x.shape().size(); ++i) {
    if (!drop[i]) { out.push_back(x.shape()[i]); continue; }
    if (x.shape()[i] != 1) ctx.fail("cannot squeeze dim " + std::to_string(i) + " of size " + std::to_string(x.shape()[i]));
  }
  ctx.set_output(0, x.reshaped(out));
}

// Unsqueeze: insert size-1 dims at the listed positions of the output.
void unsqueeze(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  auto axes = axes_of(ctx, 13);
  if (axes.empty()) ctx.fail("axes are required");
  const int64_t out_rank = x.rank() + static_cast<int64_t>(axes.size());
  auto ones = axis_mask(ctx, axes, out_rank);
  Shape out;
  size_t next = 0;
  for (size_t i = 0; i < ones.size(); ++i) out.push_back(ones[i] ? 1 : x.shape()[next++]);
  ctx.set_output(0, x.reshaped(out));
}

TRANSFIX_KERNEL_INFO("Reshape", (KernelInfo{reshape, true}));
TRANSFIX_KERNEL_INFO("Flatten", (KernelInfo{flatten, true}));
TRANSFIX_KERNEL_INFO("Squeeze", (KernelInfo{squeeze, true}));
TRANSFIX_KERNEL_INFO("Unsqueeze", (KernelInfo{unsqueeze, true}));

}  // namespace
}  // namespace transfix
