// Transpose: out[i_0, ..., i_{r-1}] = in[j] with j[perm[k]] = i_k. Implemented as a strided view of
// the input (output dim k walks input dim perm[k]) copied by strided_copy, which merges dims that stay
// adjacent and moves contiguous inner runs with memcpy.
#include "runtime/kernel_util.h"
#include "runtime/kernels/copy_util.h"

namespace transfix {
namespace {

void transpose(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  const int64_t r = x.rank();
  std::vector<int64_t> perm = ctx.node.attr_ints("perm");
  if (perm.empty())
    for (int64_t i = r - 1; i >= 0; --i) perm.push_back(i);  // default: reverse the dims
  if (static_cast<int64_t>(perm.size()) != r) ctx.fail("perm has " + std::to_string(perm.size()) + " entries for rank " + std::to_string(r));
  std::vector<bool> seen(static_cast<size_t>(r), false);
  for (int64_t& p : perm) {
    if (p < -r || p >= r) ctx.fail("perm entry " + std::to_string(p) + " out of range");
    if (p < 0) p += r;
    if (seen[static_cast<size_t>(p)]) ctx.fail("perm repeats axis " + std::to_string(p));
    seen[static_cast<size_t>(p)] = true;
  }
  const auto in_strides = contiguous_strides(x.shape());
  Shape out_shape;
  std::vector<int64_t> view_strides;
  for (int64_t p : perm) {
    out_shape.push_back(x.shape()[static_cast<size_t>(p)]);
    view_strides.push_back(in_strides[static_cast<size_t>(p)]);
  }
  Tensor out(x.dtype(), out_shape);
  strided_copy(x.raw(), out.raw_mutable(), out_shape, view_strides, 0, dtype_size(x.dtype()));
  ctx.set_output(0, out);
}

TRANSFIX_KERNEL_INFO("Transpose", (KernelInfo{transpose, true}));

}  // namespace
}  // namespace transfix
