// Transpose: out[i_0, ..., i_{r-1}] = in[j] with j[perm[k]] = i_k. Implemented as a strided view of
// the input (output dim k walks input dim perm[k]) copied by strided_copy, which merges dims that stay
// adjacent and moves contiguous inner runs with memcpy.
#include <algorithm>
#include <cstring>

#include "runtime/kernel_util.h"
#include "runtime/kernels/copy_util.h"
#include "core/thread_pool.h"

namespace transfix {
namespace {

// out [batch, cols, rows] = in [batch, rows, cols] transposed per batch, in square tiles so that
// both the reads and the writes stay within a few cache lines (the NCHW <-> NHWC conversions of
// a channels-last plan: rows = C, cols = H*W or the other way round).
template <typename T>
void batched_transpose_2d(const T* in, T* out, int64_t batch, int64_t rows, int64_t cols) {
  constexpr int64_t kTile = 32;
  const int64_t row_tiles = (rows + kTile - 1) / kTile;
  parallel_for(batch * row_tiles, [&](int64_t b0, int64_t b1) {
    for (int64_t bt = b0; bt < b1; ++bt) {
      const int64_t n = bt / row_tiles, r0 = (bt % row_tiles) * kTile, r1 = std::min(rows, r0 + kTile);
      const T* src = in + n * rows * cols;
      T* dst = out + n * rows * cols;
      for (int64_t c0 = 0; c0 < cols; c0 += kTile) {
        const int64_t c1 = std::min(cols, c0 + kTile);
        for (int64_t r = r0; r < r1; ++r)
          for (int64_t c = c0; c < c1; ++c) dst[c * rows + r] = src[r * cols + c];
      }
    }
  }, std::max<int64_t>(1, 4096 / (kTile * std::max<int64_t>(1, cols))));
}

// perm (0, 2, 3, 1) or (0, 3, 1, 2) on 4-byte elements: one 2-D transpose per image.
bool channels_transpose(const Tensor& x, const std::vector<int64_t>& perm, Tensor& out) {
  if (x.rank() != 4 || dtype_size(x.dtype()) != 4) return false;
  const Shape& s = x.shape();
  int64_t rows, cols;
  if (perm == std::vector<int64_t>{0, 2, 3, 1}) rows = s[1], cols = s[2] * s[3];
  else if (perm == std::vector<int64_t>{0, 3, 1, 2}) rows = s[1] * s[2], cols = s[3];
  else return false;
  if (rows == 1 || cols == 1) {
    std::memcpy(out.raw_mutable(), x.raw(), x.nbytes());  // nothing moves
    return true;
  }
  batched_transpose_2d(static_cast<const uint32_t*>(x.raw()), static_cast<uint32_t*>(out.raw_mutable()), s[0], rows, cols);
  return true;
}

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
  Tensor out = Tensor::uninitialized(x.dtype(), out_shape);
  if (x.numel() > 0 && channels_transpose(x, perm, out)) return ctx.set_output(0, out);
  strided_copy(x.raw(), out.raw_mutable(), out_shape, view_strides, 0, dtype_size(x.dtype()));
  ctx.set_output(0, out);
}

TRANSFIX_KERNEL_INFO("Transpose", (KernelInfo{transpose, true}));

}  // namespace
}  // namespace transfix
