// Expand (numpy broadcast to a shape) and Tile (repeat along each axis). Both are strided views of
// the input -- stride 0 along repeated dims -- copied with strided_copy.
#include "runtime/kernel_util.h"
#include "runtime/kernels/copy_util.h"

namespace transfix {
namespace {

void expand(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  if (ctx.input(1).rank() > 1) ctx.fail("shape must be 1-D");
  Shape target = int_list_input(ctx, ctx.input(1), "shape");
  for (int64_t d : target)
    if (d < 0) ctx.fail("negative dimension in shape " + shape_str(target));
  Shape out_shape = broadcast_shapes(x.shape(), target);
  Tensor out(x.dtype(), out_shape);
  strided_copy(x.raw(), out.raw_mutable(), out_shape, broadcast_strides(x.shape(), out_shape), 0, dtype_size(x.dtype()));
  ctx.set_output(0, out);
}

// Tile: output dim i is repeats[i] * d_i. Seen as the row-major view [r_0, d_0, r_1, d_1, ...] with
// strides [0, s_0, 0, s_1, ...]: index t_i * d_i + j_i reads input index j_i.
void tile(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  auto repeats = int_list_input(ctx, ctx.input(1), "repeats");
  if (static_cast<int64_t>(repeats.size()) != x.rank())
    ctx.fail("repeats has " + std::to_string(repeats.size()) + " entries for rank " + std::to_string(x.rank()));
  const auto strides = contiguous_strides(x.shape());
  Shape out_shape, view_shape;
  std::vector<int64_t> view_strides;
  for (size_t i = 0; i < repeats.size(); ++i) {
    if (repeats[i] < 0) ctx.fail("negative repeat count");
    const int64_t d = x.shape()[i];
    if (d != 0 && repeats[i] > (int64_t{1} << 40) / d) ctx.fail("tiled shape is too large");
    out_shape.push_back(repeats[i] * d);
    view_shape.insert(view_shape.end(), {repeats[i], d});
    view_strides.insert(view_strides.end(), {0, strides[i]});
  }
  Tensor out(x.dtype(), out_shape);
  strided_copy(x.raw(), out.raw_mutable(), view_shape, view_strides, 0, dtype_size(x.dtype()));
  ctx.set_output(0, out);
}

TRANSFIX_KERNEL_INFO("Expand", (KernelInfo{expand, true}));
TRANSFIX_KERNEL_INFO("Tile", (KernelInfo{tile, true}));

}  // namespace
}  // namespace transfix
