// Geometry of sliding-window ops (Conv, ConvTranspose, MaxPool, AveragePool, LpPool) over the
// spatial dims of an [N, C, D1, ..., Dr] tensor, read from the node's ONNX attributes
// (strides, dilations, pads, auto_pad) and checked, plus a 3-D canonical form so kernels need a
// single loop nest for 1-D, 2-D and 3-D data.
#pragma once
#include <algorithm>
#include <array>
#include <cstdint>
#include <vector>

#include "runtime/kernel.h"

namespace transfix {

struct WindowGeometry {
  std::vector<int64_t> in, kernel, strides, dilations, pad_begin, pad_end, out;
  size_t rank() const { return in.size(); }
};

// Reads a per-spatial-dim INTS attribute ("strides", "dilations", "kernel_shape"): `def` for every
// dim when absent; fails unless it has `rank` values, each in [1, 2^31).
std::vector<int64_t> spatial_attr(const KernelContext& ctx, const char* name, size_t rank, int64_t def);

// Convolution/pooling output size per dim, with ONNX's rules:
//   NOTSET: out = floor((in + pad_begin + pad_end - ((k - 1) * d + 1)) / s) + 1   (ceil with ceil_mode,
//           dropping a last window that would start inside the end padding, as PyTorch does)
//   VALID:  same with zero pads
//   SAME_UPPER / SAME_LOWER: out = ceil(in / s); total pad = max(0, (out - 1) * s + (k - 1) * d + 1 - in),
//           the odd unit at the end (UPPER) or the beginning (LOWER).
// Fails when a window does not fit in the padded input.
WindowGeometry window_geometry(const KernelContext& ctx, const std::vector<int64_t>& in_spatial,
                               const std::vector<int64_t>& kernel, bool ceil_mode);

// Spatial rank 1..3 padded to 3 with leading unit dims (kernel 1, stride 1, no pad).
struct Window3D {
  std::array<int64_t, 3> in{1, 1, 1}, k{1, 1, 1}, s{1, 1, 1}, d{1, 1, 1}, p{0, 0, 0}, out{1, 1, 1};
  int64_t in_size() const { return in[0] * in[1] * in[2]; }
  int64_t out_size() const { return out[0] * out[1] * out[2]; }
  int64_t kernel_size() const { return k[0] * k[1] * k[2]; }
};
// Throws UnsupportedError for more than 3 spatial dims.
Window3D to_3d(const WindowGeometry& g, const char* op);

// ceil(a / b) for b > 0 and any sign of a.
inline int64_t ceil_div(int64_t a, int64_t b) { return a >= 0 ? (a + b - 1) / b : -((-a) / b); }

// The output positions o in [0, n_out) whose input position o * stride + offset lies in [0, n_in):
// [first, last). Lets inner loops run without bounds checks.
inline void valid_range(int64_t n_out, int64_t n_in, int64_t stride, int64_t offset, int64_t& first, int64_t& last) {
  first = std::min(n_out, std::max<int64_t>(0, ceil_div(-offset, stride)));
  last = std::max(first, std::min(n_out, ceil_div(n_in - offset, stride)));
}

}  // namespace transfix
