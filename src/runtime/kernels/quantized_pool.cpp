// Quantized TFLite pooling (domain "tflite.quantized"), NHWC, uint8, int8 or int16. Input and output share
// scale and zero point (TFLite requires it), so no requantization:
//   MaxPool:     y = clamp(max over the window's in-bounds taps, activation range)
//   AveragePool: y = clamp(round(sum / count), activation range), count = in-bounds taps, rounding
//                half away from zero in integers: (sum +- count / 2) / count, truncating.
#include <algorithm>

#include "runtime/kernels/fixed_point.h"
#include "runtime/kernels/window.h"
#include "core/thread_pool.h"

namespace transfix {
namespace {

using namespace qfixed;

template <typename Reduce>
void quantized_pool(KernelContext& ctx, Reduce reduce) {
  if (ctx.node.attr_string("layout", "NHWC") != "NHWC")
    throw UnsupportedError("quantized pooling needs layout NHWC", ctx.node.op_type);
  const Tensor& x = ctx.input(0);
  require_u8_i8_or_i16(ctx, x, "input");
  if (x.rank() != 4) ctx.fail("NHWC input must be [N, H, W, C], got " + shape_str(x.shape()));
  const TensorQuant out = same_quantization_in_and_out(ctx, x);
  const Range range = activation_range(ctx, x.dtype(), out);
  const std::vector<int64_t> kernel = ctx.node.attr_ints("kernel_shape");
  if (kernel.size() != 2) ctx.fail("kernel_shape must have 2 values");
  const int64_t N = x.dim(0), H = x.dim(1), W = x.dim(2), C = x.dim(3);
  const Window3D g = to_3d(window_geometry(ctx, {H, W}, kernel, false), ctx.node.op_type.c_str());
  const int64_t OH = g.out[1], OW = g.out[2];
  Tensor y = Tensor::uninitialized(x.dtype(), {N, OH, OW, C});
  parallel_for(N * OH * OW, [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      const int64_t n = p / (OH * OW), oy = (p / OW) % OH, ox = p % OW;
      const int64_t y0 = std::max<int64_t>(0, oy * g.s[1] - g.p[1]), y1 = std::min(H, oy * g.s[1] - g.p[1] + g.k[1]);
      const int64_t x0 = std::max<int64_t>(0, ox * g.s[2] - g.p[2]), x1 = std::min(W, ox * g.s[2] - g.p[2] + g.k[2]);
      for (int64_t c = 0; c < C; ++c) {
        int32_t v = reduce(x, ((n * H + y0) * W + x0) * C + c, y1 - y0, x1 - x0, W * C, C);
        store_q(y, p * C + c, std::min(range.hi, std::max(range.lo, v)));
      }
    }
  }, 8);
  ctx.set_output(0, y);
}

// `first`: flat index of the window's first in-bounds tap; rows x cols taps, strides row / col.
int32_t window_max(const Tensor& x, int64_t first, int64_t rows, int64_t cols, int64_t row, int64_t col) {
  int32_t m = INT32_MIN;
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t j = 0; j < cols; ++j) m = std::max(m, load_q(x, first + i * row + j * col));
  return m;
}

int32_t window_average(const Tensor& x, int64_t first, int64_t rows, int64_t cols, int64_t row, int64_t col) {
  int64_t sum = 0;
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t j = 0; j < cols; ++j) sum += load_q(x, first + i * row + j * col);
  const int64_t count = rows * cols;
  if (count == 0) return 0;
  return static_cast<int32_t>(sum > 0 ? (sum + count / 2) / count : (sum - count / 2) / count);
}

void quantized_max_pool(KernelContext& ctx) { quantized_pool(ctx, window_max); }
void quantized_average_pool(KernelContext& ctx) { quantized_pool(ctx, window_average); }

[[maybe_unused]] const bool kRegistered = [] {
  register_kernel("MaxPool", KernelInfo{quantized_max_pool, true}, kTfliteQuantizedDomain);
  register_kernel("AveragePool", KernelInfo{quantized_average_pool, true}, kTfliteQuantizedDomain);
  return true;
}();

}  // namespace
}  // namespace transfix
