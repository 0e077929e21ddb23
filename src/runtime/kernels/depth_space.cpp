// DepthToSpace (DCR / CRD) and SpaceToDepth: reshape to 6-D, transpose, reshape back -- done as
// one strided view of the input copied with strided_copy.
#include "runtime/kernel_util.h"
#include "runtime/kernels/copy_util.h"

namespace transfix {
namespace {

// Copies `x` viewed as `shape6` (row-major), permuted by `perm`, into a tensor of shape `out_shape`.
Tensor permuted_copy(const Tensor& x, const Shape& shape6, const std::vector<size_t>& perm, const Shape& out_shape) {
  const auto strides6 = contiguous_strides(shape6);
  Shape view_shape;
  std::vector<int64_t> view_strides;
  for (size_t p : perm) {
    view_shape.push_back(shape6[p]);
    view_strides.push_back(strides6[p]);
  }
  Tensor out(x.dtype(), out_shape);
  strided_copy(x.raw(), out.raw_mutable(), view_shape, view_strides, 0, dtype_size(x.dtype()));
  return out;
}

int64_t checked_blocksize(KernelContext& ctx, const Tensor& x) {
  if (x.rank() != 4) ctx.fail("input must be 4-D (NCHW), got " + shape_str(x.shape()));
  const int64_t b = ctx.node.attr_int("blocksize", 0);
  if (b < 1 || b > (int64_t{1} << 20)) ctx.fail("blocksize must be positive");
  return b;
}

void depth_to_space(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  const int64_t b = checked_blocksize(ctx, x);
  const int64_t n = x.dim(0), c = x.dim(1), h = x.dim(2), w = x.dim(3);
  if (c % (b * b) != 0) ctx.fail("channels " + std::to_string(c) + " not divisible by blocksize^2");
  const int64_t oc = c / (b * b);
  const std::string mode = ctx.node.attr_string("mode", "DCR");
  const Shape out_shape{n, oc, h * b, w * b};
  if (mode == "DCR")  // [N, b, b, C', H, W] -> [N, C', H, b, W, b]
    ctx.set_output(0, permuted_copy(x, {n, b, b, oc, h, w}, {0, 3, 4, 1, 5, 2}, out_shape));
  else if (mode == "CRD")  // [N, C', b, b, H, W] -> [N, C', H, b, W, b]
    ctx.set_output(0, permuted_copy(x, {n, oc, b, b, h, w}, {0, 1, 4, 2, 5, 3}, out_shape));
  else
    ctx.fail("unknown mode '" + mode + "'");
}

void space_to_depth(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  const int64_t b = checked_blocksize(ctx, x);
  const int64_t n = x.dim(0), c = x.dim(1), h = x.dim(2), w = x.dim(3);
  if (h % b != 0 || w % b != 0) ctx.fail("spatial dims not divisible by blocksize");
  // [N, C, H/b, b, W/b, b] -> [N, b, b, C, H/b, W/b]
  ctx.set_output(0, permuted_copy(x, {n, c, h / b, b, w / b, b}, {0, 3, 5, 1, 2, 4}, {n, c * b * b, h / b, w / b}));
}

TRANSFIX_KERNEL_INFO("DepthToSpace", (KernelInfo{depth_to_space, true}));
TRANSFIX_KERNEL_INFO("SpaceToDepth", (KernelInfo{space_to_depth, true}));

}  // namespace
}  // namespace transfix
