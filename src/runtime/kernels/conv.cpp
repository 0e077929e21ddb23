// Conv (opsets 1-11+): Y[n, m] = B[m] + sum_{c in group(m), k} W[m, c, k] * X[n, c, o * s + k * d - p]
// for 1-D, 2-D and 3-D inputs, with group, dilations, strides, pads and auto_pad.
//
// Three paths, all computing the same sum:
//  - pointwise (1x1 kernel, stride 1, no pad): per group, Y = W * X is a plain matrix product;
//  - one input channel per group (depthwise, MobileNet's 3x3 layers): a direct loop per output
//    channel, since im2col would turn it into many skinny products;
//  - otherwise im2col: unfold the input windows into a [C/group * K, out] matrix (zeros where the
//    window hangs into the padding) and multiply W [M/group, C/group * K] by it. Large outputs are
//    unfolded in column tiles to bound the scratch memory.
#include <Eigen/Core>
#include <algorithm>
#include <memory>
#include <type_traits>
#include <vector>

#include "runtime/gemm.h"
#include "runtime/kernel.h"
#include "runtime/kernel_util.h"
#include "runtime/kernels/conv_dnnl.h"
#include "runtime/kernels/window.h"
#include "core/thread_pool.h"

namespace transfix {
namespace {

// Unfolded input per tile: small enough to stay in cache between unfolding and multiplying.
constexpr int64_t kTileBytes = int64_t{1} << 20;
constexpr int64_t kMinTileColumns = 128;

// y[i] += w * x[i * stride], i in [0, n). Eigen vectorizes the unit-stride case.
template <typename T>
void axpy(int64_t n, T w, const T* x, int64_t stride, T* y) {
  using Vec = Eigen::Array<T, Eigen::Dynamic, 1>;
  if (n <= 0) return;
  Eigen::Map<Vec> out(y, n);
  if (stride == 1) out += w * Eigen::Map<const Vec>(x, n);
  else out += w * Eigen::Map<const Vec, 0, Eigen::InnerStride<>>(x, n, Eigen::InnerStride<>(stride));
}

// Columns [j0, j1) of the unfolded matrix of `channels` channels of x: row r = (c, kd, kh, kw),
// column j = output position (od, oh, ow) in row-major order. Rows in parallel.
template <typename T>
void im2col(const T* x, int64_t channels, const Window3D& w, int64_t j0, int64_t j1, T* col) {
  const int64_t kernel = w.kernel_size(), in_plane = w.in_size(), ncols = j1 - j0;
  parallel_for(channels * kernel, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t c = r / kernel, kk = r % kernel;
      const int64_t kw = kk % w.k[2], kh = (kk / w.k[2]) % w.k[1], kd = kk / (w.k[2] * w.k[1]);
      const T* xc = x + c * in_plane;
      T* dst = col + r * ncols - j0;  // dst[j] for j in [j0, j1)
      const int64_t iw_offset = kw * w.d[2] - w.p[2];
      for (int64_t line = j0 / w.out[2]; line * w.out[2] < j1; ++line) {
        const int64_t od = line / w.out[1], oh = line % w.out[1];
        const int64_t ow_begin = std::max<int64_t>(0, j0 - line * w.out[2]);
        const int64_t ow_end = std::min<int64_t>(w.out[2], j1 - line * w.out[2]);
        T* out = dst + line * w.out[2];
        const int64_t id = od * w.s[0] + kd * w.d[0] - w.p[0], ih = oh * w.s[1] + kh * w.d[1] - w.p[1];
        if (id < 0 || id >= w.in[0] || ih < 0 || ih >= w.in[1]) {
          std::fill(out + ow_begin, out + ow_end, T(0));
          continue;
        }
        const T* row = xc + (id * w.in[1] + ih) * w.in[2];
        int64_t lo, hi;
        valid_range(w.out[2], w.in[2], w.s[2], iw_offset, lo, hi);
        lo = std::clamp(lo, ow_begin, ow_end);
        hi = std::clamp(hi, lo, ow_end);
        std::fill(out + ow_begin, out + lo, T(0));
        if (w.s[2] == 1) std::copy(row + lo + iw_offset, row + hi + iw_offset, out + lo);
        else
          for (int64_t ow = lo; ow < hi; ++ow) out[ow] = row[ow * w.s[2] + iw_offset];
        std::fill(out + hi, out + ow_end, T(0));
      }
    }
  }, std::max<int64_t>(1, 4096 / std::max<int64_t>(1, ncols)));
}

// One input channel per group: output channel m reads input channel m / multiplier only.
// y must hold the bias (or zeros) on entry. Output channels in parallel.
template <typename T>
void conv_depthwise(const T* x, const T* weights, int64_t batch, int64_t out_channels, int64_t multiplier,
                    const Window3D& w, T* y) {
  const int64_t in_channels = out_channels / multiplier, kernel = w.kernel_size();
  // Along the innermost dim, tap kw reads x[ow * s + offset[kw]]; valid for ow in [lo[kw], hi[kw]).
  std::vector<int64_t> offset(static_cast<size_t>(w.k[2])), lo(offset.size()), hi(offset.size());
  for (size_t kw = 0; kw < offset.size(); ++kw) {
    offset[kw] = static_cast<int64_t>(kw) * w.d[2] - w.p[2];
    valid_range(w.out[2], w.in[2], w.s[2], offset[kw], lo[kw], hi[kw]);
  }
  parallel_for(batch * out_channels, [&](int64_t b, int64_t e) {
    for (int64_t nm = b; nm < e; ++nm) {
      const int64_t n = nm / out_channels, m = nm % out_channels;
      const T* xc = x + (n * in_channels + m / multiplier) * w.in_size();
      const T* wm = weights + m * kernel;
      T* ym = y + nm * w.out_size();
      for (int64_t od = 0; od < w.out[0]; ++od)
        for (int64_t oh = 0; oh < w.out[1]; ++oh) {
          T* yrow = ym + (od * w.out[1] + oh) * w.out[2];
          for (int64_t kd = 0; kd < w.k[0]; ++kd) {
            const int64_t id = od * w.s[0] + kd * w.d[0] - w.p[0];
            if (id < 0 || id >= w.in[0]) continue;
            for (int64_t kh = 0; kh < w.k[1]; ++kh) {
              const int64_t ih = oh * w.s[1] + kh * w.d[1] - w.p[1];
              if (ih < 0 || ih >= w.in[1]) continue;
              const T* xrow = xc + (id * w.in[1] + ih) * w.in[2];
              const T* wk = wm + (kd * w.k[1] + kh) * w.k[2];
              for (size_t kw = 0; kw < offset.size(); ++kw)
                axpy(hi[kw] - lo[kw], wk[kw], xrow + lo[kw] * w.s[2] + offset[kw], w.s[2], yrow + lo[kw]);
            }
          }
        }
    }
  }, 1);
}

// One group of one image: Y [group_out, out] (+)= W [group_out, rows] * unfolded X [rows, out].
// The output columns are cut into cache-sized tiles. With enough tiles each thread unfolds and
// multiplies its own tiles (nested parallel_for calls run inline), so the unfolded tile is still
// in cache when the product reads it; small outputs instead unfold once and let gemm() split.
template <typename T>
void conv_im2col(const T* x, const T* weights, int64_t group_in, int64_t group_out, const Window3D& w, T beta, T* y) {
  const int64_t rows = group_in * w.kernel_size(), out_plane = w.out_size();
  const int64_t threads = num_threads();
  int64_t tile = std::clamp<int64_t>(kTileBytes / static_cast<int64_t>(sizeof(T)) / rows, kMinTileColumns, out_plane);
  int64_t tiles = (out_plane + tile - 1) / tile;
  if (tiles >= threads || out_plane >= threads * kMinTileColumns) {
    tiles = (tiles + threads - 1) / threads * threads;  // whole rounds, so no thread idles at the end
    tile = (out_plane + tiles - 1) / tiles;
    tiles = (out_plane + tile - 1) / tile;
    parallel_for(tiles, [&](int64_t t0, int64_t t1) {
      std::unique_ptr<T[]> col(new T[static_cast<size_t>(rows * tile)]);
      for (int64_t t = t0; t < t1; ++t) {
        const int64_t j0 = t * tile, j1 = std::min(out_plane, j0 + tile);
        im2col(x, group_in, w, j0, j1, col.get());
        gemm(false, false, group_out, j1 - j0, rows, T(1), weights, rows, col.get(), j1 - j0, beta, y + j0, out_plane);
      }
    }, 1);
    return;
  }
  std::unique_ptr<T[]> col(new T[static_cast<size_t>(rows * out_plane)]);
  im2col(x, group_in, w, 0, out_plane, col.get());
  gemm(false, false, group_out, out_plane, rows, T(1), weights, rows, col.get(), out_plane, beta, y, out_plane);
}

// The activation the interpreter fused into this Conv, on the finished output (paths without a post-op).
void apply_fused_activation(KernelContext& ctx, Tensor& y) {
  const FusedActivation& f = ctx.fused_activation();
  if (f.kind == FusedActivation::Kind::kNone || y.numel() == 0) return;
  dispatch_float(y.dtype(), "Conv", [&](auto t) {
    using T = decltype(t);
    T* data = y.mutable_data<T>();
    parallel_for(y.numel(), [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) {
        if (f.kind == FusedActivation::Kind::kRelu) data[i] = data[i] < T(0) ? T(0) : data[i];
        else data[i] = data[i] < T(f.lo) ? T(f.lo) : (data[i] > T(f.hi) ? T(f.hi) : data[i]);
      }
    }, 16384);
  });
}

template <typename T>
void conv_typed(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  const Tensor& weights = ctx.input(1);
  const Tensor* bias = ctx.optional_input(2);
  if (x.rank() < 3) ctx.fail("input must be [N, C, D1, ...], got " + shape_str(x.shape()));
  if (weights.rank() != x.rank())
    ctx.fail("weight shape " + shape_str(weights.shape()) + " does not match input rank " + std::to_string(x.rank()));
  if (weights.dtype() != x.dtype() || (bias && bias->dtype() != x.dtype())) ctx.fail("inputs must share one dtype");
  const int64_t batch = x.dim(0), channels = x.dim(1), out_channels = weights.dim(0);
  const int64_t group = ctx.node.attr_int("group", 1);
  if (group < 1 || channels % group != 0 || out_channels % group != 0)
    ctx.fail("group " + std::to_string(group) + " must divide input channels " + std::to_string(channels) +
             " and output channels " + std::to_string(out_channels));
  const int64_t group_in = channels / group, group_out = out_channels / group;
  if (weights.dim(1) != group_in)
    ctx.fail("weight shape " + shape_str(weights.shape()) + " expects " + std::to_string(weights.dim(1) * group) +
             " input channels, input has " + std::to_string(channels));
  if (bias && (bias->rank() != 1 || bias->dim(0) != out_channels))
    ctx.fail("bias shape " + shape_str(bias->shape()) + " must be [" + std::to_string(out_channels) + "]");

  std::vector<int64_t> kernel(weights.shape().begin() + 2, weights.shape().end());
  if (ctx.node.has_attr("kernel_shape") && ctx.node.attr_ints("kernel_shape") != kernel)
    ctx.fail("kernel_shape attribute does not match weight shape " + shape_str(weights.shape()));
  const WindowGeometry geo =
      window_geometry(ctx, std::vector<int64_t>(x.shape().begin() + 2, x.shape().end()), kernel, false);
  const Window3D w = to_3d(geo, "Conv");

  Shape out_shape{batch, out_channels};
  out_shape.insert(out_shape.end(), geo.out.begin(), geo.out.end());
  if constexpr (std::is_same_v<T, float>) {
    Tensor y = Tensor::uninitialized(x.dtype(), out_shape);
    const DnnlConvRequest request{&geo, group, false, ConvWeightLayout::kOIHW, ctx.fused_activation()};
    if (y.numel() > 0 && conv_dnnl(ctx, x, weights, bias, request, y)) return ctx.set_output(0, y);
  }
  Tensor y(x.dtype(), out_shape);
  if (y.numel() == 0) return ctx.set_output(0, y);
  const T* xd = x.data<T>();
  const T* wd = weights.data<T>();
  T* yd = y.mutable_data<T>();
  const int64_t in_plane = w.in_size(), out_plane = w.out_size(), unfolded_rows = group_in * w.kernel_size();

  // Start from the bias so the products can accumulate onto it.
  if (bias) {
    const T* bd = bias->data<T>();
    for (int64_t nm = 0; nm < batch * out_channels; ++nm)
      std::fill_n(yd + nm * out_plane, out_plane, bd[nm % out_channels]);
  }
  const T beta = bias ? T(1) : T(0);

  if (group_in == 1) {
    conv_depthwise(xd, wd, batch, out_channels, group_out, w, yd);
    apply_fused_activation(ctx, y);
    return ctx.set_output(0, y);
  }

  const bool pointwise = w.kernel_size() == 1 && w.s == std::array<int64_t, 3>{1, 1, 1} &&
                         w.p == std::array<int64_t, 3>{0, 0, 0} && in_plane == out_plane;
  for (int64_t n = 0; n < batch; ++n)
    for (int64_t g = 0; g < group; ++g) {
      const T* xg = xd + (n * channels + g * group_in) * in_plane;
      const T* wg = wd + g * group_out * unfolded_rows;
      T* yg = yd + (n * out_channels + g * group_out) * out_plane;
      if (pointwise)
        gemm(false, false, group_out, out_plane, group_in, T(1), wg, group_in, xg, in_plane, beta, yg, out_plane);
      else
        conv_im2col(xg, wg, group_in, group_out, w, beta, yg);
    }
  apply_fused_activation(ctx, y);
  ctx.set_output(0, y);
}

// ---------------------------------------------------------------------------------------------
// layout = "NHWC" (TFLite): X [N, H, W, C], Y [N, OH, OW, O], and the weights
//   weight_layout "OHWI" [O, KH, KW, C / group]:  Y[n, oh, ow, o] = B[o] + sum_{kh, kw, i} W[o, kh, kw, i] *
//                                                 X[n, oh * sh + kh * dh - ph, ow * sw + kw * dw - pw, g(o) * C/group + i]
//   weight_layout "1HWO" [1, KH, KW, C * M] (depthwise, group = C): Y[..., o] = B[o] + sum_{kh, kw} W[0, kh, kw, o] *
//                                                 X[..., o / M]
// An NHWC patch (kh, kw, i) is laid out exactly like an OHWI weight row, so im2col gives
// patches [N * OH * OW, KH * KW * C/group] and per group Y = patches x W^T, with no transposes.

struct NhwcConv {
  int64_t batch, in_h, in_w, channels, out_channels, kh, kw, group;
  Window3D w;  // spatial geometry in the canonical 3-D form (leading unit dim)
  int64_t out_h() const { return w.out[1]; }
  int64_t out_w() const { return w.out[2]; }
};

NhwcConv nhwc_setup(KernelContext& ctx, const Tensor& x, const Tensor& weights, const Tensor* bias, bool depthwise) {
  if (x.rank() != 4) ctx.fail("NHWC input must be [N, H, W, C], got " + shape_str(x.shape()));
  if (weights.rank() != 4) ctx.fail("weights must have rank 4, got " + shape_str(weights.shape()));
  if (weights.dtype() != x.dtype() || (bias && bias->dtype() != x.dtype())) ctx.fail("inputs must share one dtype");
  NhwcConv c{};
  c.batch = x.dim(0), c.in_h = x.dim(1), c.in_w = x.dim(2), c.channels = x.dim(3);
  c.kh = weights.dim(1), c.kw = weights.dim(2), c.out_channels = weights.dim(depthwise ? 3 : 0);
  c.group = ctx.node.attr_int("group", 1);
  if (depthwise) {
    if (weights.dim(0) != 1 || c.group != c.channels || c.channels < 1 || c.out_channels % c.channels != 0)
      ctx.fail("1HWO weights " + shape_str(weights.shape()) + " need group = input channels (" +
               std::to_string(c.channels) + ") and a multiple of them as output channels");
  } else {
    if (c.group < 1 || c.channels % c.group != 0 || c.out_channels % c.group != 0 || weights.dim(3) != c.channels / c.group)
      ctx.fail("OHWI weights " + shape_str(weights.shape()) + " do not fit input " + shape_str(x.shape()) + " with group " +
               std::to_string(c.group));
  }
  if (bias && (bias->rank() != 1 || bias->dim(0) != c.out_channels))
    ctx.fail("bias shape " + shape_str(bias->shape()) + " must be [" + std::to_string(c.out_channels) + "]");
  if (ctx.node.has_attr("kernel_shape") && ctx.node.attr_ints("kernel_shape") != std::vector<int64_t>{c.kh, c.kw})
    ctx.fail("kernel_shape attribute does not match weight shape " + shape_str(weights.shape()));
  const WindowGeometry geo = window_geometry(ctx, {c.in_h, c.in_w}, {c.kh, c.kw}, false);
  c.w = to_3d(geo, "Conv");
  return c;
}

// Rows [r0, r1) of the NHWC patch matrix for channels [c0, c0 + cg): row = (n, oh, ow), column = (kh, kw, i).
template <typename T>
void im2col_nhwc(const T* x, const NhwcConv& c, int64_t c0, int64_t cg, int64_t r0, int64_t r1, T* col) {
  const Window3D& w = c.w;
  const int64_t cols = c.kh * c.kw * cg;
  for (int64_t r = r0; r < r1; ++r) {
    const int64_t ow = r % c.out_w(), oh = (r / c.out_w()) % c.out_h(), n = r / (c.out_w() * c.out_h());
    T* dst = col + (r - r0) * cols;
    for (int64_t kh = 0; kh < c.kh; ++kh) {
      const int64_t ih = oh * w.s[1] + kh * w.d[1] - w.p[1];
      for (int64_t kw = 0; kw < c.kw; ++kw, dst += cg) {
        const int64_t iw = ow * w.s[2] + kw * w.d[2] - w.p[2];
        if (ih < 0 || ih >= c.in_h || iw < 0 || iw >= c.in_w) {
          std::fill(dst, dst + cg, T(0));
          continue;
        }
        const T* src = x + ((n * c.in_h + ih) * c.in_w + iw) * c.channels + c0;
        std::copy(src, src + cg, dst);
      }
    }
  }
}

template <typename T>
void conv_nhwc_ohwi(const T* x, const T* weights, const NhwcConv& c, T beta, T* y) {
  const int64_t rows = c.batch * c.out_h() * c.out_w();
  const int64_t group_in = c.channels / c.group, group_out = c.out_channels / c.group;
  const int64_t cols = c.kh * c.kw * group_in;
  const bool pointwise = c.kh == 1 && c.kw == 1 && c.w.s == std::array<int64_t, 3>{1, 1, 1} &&
                         c.w.p == std::array<int64_t, 3>{0, 0, 0} && c.in_h == c.out_h() && c.in_w == c.out_w();
  for (int64_t g = 0; g < c.group; ++g) {
    const T* wg = weights + g * group_out * cols;
    T* yg = y + g * group_out;
    if (pointwise) {  // X itself is the patch matrix (row stride C)
      gemm(false, true, rows, group_out, group_in, T(1), x + g * group_in, c.channels, wg, cols, beta, yg, c.out_channels);
      continue;
    }
    // Row tiles of the patch matrix, each unfolded and multiplied by one thread while in cache.
    const int64_t tile = std::clamp<int64_t>(kTileBytes / static_cast<int64_t>(sizeof(T)) / std::max<int64_t>(1, cols),
                                             kMinTileColumns, std::max<int64_t>(rows, 1));
    const int64_t tiles = (rows + tile - 1) / tile;
    parallel_for(tiles, [&](int64_t t0, int64_t t1) {
      std::unique_ptr<T[]> col(new T[static_cast<size_t>(tile * cols)]);
      for (int64_t t = t0; t < t1; ++t) {
        const int64_t r0 = t * tile, r1 = std::min(rows, r0 + tile);
        im2col_nhwc(x, c, g * group_in, group_in, r0, r1, col.get());
        gemm(false, true, r1 - r0, group_out, cols, T(1), col.get(), cols, wg, cols, beta, yg + r0 * c.out_channels,
             c.out_channels);
      }
    }, 1);
  }
}

// Depthwise 1HWO: a direct loop with channels innermost (contiguous in X, W and Y). y holds the bias.
template <typename T>
void conv_nhwc_depthwise(const T* x, const T* weights, const NhwcConv& c, T* y) {
  const Window3D& w = c.w;
  const int64_t multiplier = c.out_channels / c.channels, oc = c.out_channels;
  parallel_for(c.batch * c.out_h(), [&](int64_t b, int64_t e) {
    for (int64_t nh = b; nh < e; ++nh) {
      const int64_t n = nh / c.out_h(), oh = nh % c.out_h();
      for (int64_t ow = 0; ow < c.out_w(); ++ow) {
        T* yp = y + (nh * c.out_w() + ow) * oc;
        for (int64_t kh = 0; kh < c.kh; ++kh) {
          const int64_t ih = oh * w.s[1] + kh * w.d[1] - w.p[1];
          if (ih < 0 || ih >= c.in_h) continue;
          for (int64_t kw = 0; kw < c.kw; ++kw) {
            const int64_t iw = ow * w.s[2] + kw * w.d[2] - w.p[2];
            if (iw < 0 || iw >= c.in_w) continue;
            const T* xp = x + ((n * c.in_h + ih) * c.in_w + iw) * c.channels;
            const T* wp = weights + (kh * c.kw + kw) * oc;
            if (multiplier == 1)
              for (int64_t o = 0; o < oc; ++o) yp[o] += xp[o] * wp[o];
            else
              for (int64_t o = 0; o < oc; ++o) yp[o] += xp[o / multiplier] * wp[o];
          }
        }
      }
    }
  }, 1);
}

// A 1x1 convolution with stride 1 and no padding on NHWC input is one matrix product,
// Y [pixels, O] = X [pixels, C] * W [O, C]^T, with no unfolding and no layout change.
// fp32 products over few channels go to oneDNN instead: OpenBLAS is slow on such thin products
// (MobileNet's 16 -> 96 expansion at 112x112 took 8x oneDNN's time). From 512 channels on, BLAS
// is nearly as fast and drifted less from the fp64 oracle on resnet101's fixture images (3.6e-4 of
// the output scale vs 4.9e-4 with oneDNN for every 1x1; PyTorch fp32: 2.2e-4).
constexpr int64_t kBlasMinChannels = 512;
template <typename T>
bool pointwise_nhwc(KernelContext& ctx, const Tensor& x, const Tensor& weights, const Tensor* bias) {
  // OIHW [O, C, 1, 1] and OHWI [O, 1, 1, C] hold a 1x1 kernel in the same order.
  if (x.rank() != 4 || weights.rank() != 4 || weights.numel() != weights.dim(0) * x.dim(3)) return false;
  if (ctx.node.attr_int("group", 1) != 1 || (weights.dim(1) != 1 && weights.dim(3) != 1)) return false;
  if (weights.dim(1) * weights.dim(2) * weights.dim(3) != x.dim(3) || weights.dim(2) != 1) return false;
  const WindowGeometry geo = window_geometry(ctx, {x.dim(1), x.dim(2)}, {1, 1}, false);
  for (size_t j = 0; j < 2; ++j)
    if (geo.strides[j] != 1 || geo.pad_begin[j] != 0 || geo.out[j] != geo.in[j]) return false;
  if (weights.dtype() != x.dtype() || (bias && (bias->dtype() != x.dtype() || bias->numel() != weights.dim(0))))
    return false;
  const int64_t pixels = x.dim(0) * x.dim(1) * x.dim(2), channels = x.dim(3), out_channels = weights.dim(0);
  if (std::is_same_v<T, float> && channels < kBlasMinChannels) return false;  // oneDNN's turn
  Tensor y = Tensor::uninitialized(x.dtype(), {x.dim(0), x.dim(1), x.dim(2), out_channels});
  T* yd = y.mutable_data<T>();
  if (bias)
    parallel_for(pixels, [&](int64_t b, int64_t e) {
      for (int64_t p = b; p < e; ++p) std::copy_n(bias->data<T>(), out_channels, yd + p * out_channels);
    }, 256);
  gemm(false, true, pixels, out_channels, channels, T(1), x.data<T>(), channels, weights.data<T>(), channels,
       bias ? T(1) : T(0), yd, out_channels);
  apply_fused_activation(ctx, y);
  ctx.set_output(0, y);
  return true;
}

template <typename T>
Tensor oihw_to_ohwi(const Tensor& w);
template <typename T>
void conv_nhwc_loops(KernelContext& ctx, const Tensor& x, const Tensor& weights, const Tensor* bias, bool depthwise);

template <typename T>
void conv_nhwc_typed(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  const Tensor& weights = ctx.input(1);
  const Tensor* bias = ctx.optional_input(2);
  const std::string weight_layout = ctx.node.attr_string("weight_layout", "OHWI");
  if (weight_layout != "OHWI" && weight_layout != "1HWO" && weight_layout != "OIHW")
    throw UnsupportedError("Conv: weight_layout '" + weight_layout + "' is not supported (OHWI, 1HWO, OIHW)", "Conv");
  const bool depthwise = weight_layout == "1HWO";
  if (weight_layout == "OIHW") {
    // ONNX weights in a channels-last plan (runtime/channels_last.h): oneDNN reads them as they are;
    // the loops below want OHWI.
    if (weights.rank() != 4) ctx.fail("weights must have rank 4, got " + shape_str(weights.shape()));
    if (pointwise_nhwc<T>(ctx, x, weights, bias)) return;
    if constexpr (std::is_same_v<T, float>) {
      const Shape ohwi{weights.dim(0), weights.dim(2), weights.dim(3), weights.dim(1)};
      if (x.rank() != 4) ctx.fail("NHWC input must be [N, H, W, C], got " + shape_str(x.shape()));
      const WindowGeometry geo = window_geometry(ctx, {x.dim(1), x.dim(2)}, {ohwi[1], ohwi[2]}, false);
      Tensor y = Tensor::uninitialized(x.dtype(), {x.dim(0), geo.out[0], geo.out[1], weights.dim(0)});
      const DnnlConvRequest request{&geo, ctx.node.attr_int("group", 1), true, ConvWeightLayout::kOIHW,
                                    ctx.fused_activation()};
      if (y.numel() > 0 && conv_dnnl(ctx, x, weights, bias, request, y)) return ctx.set_output(0, y);
    }
    return conv_nhwc_loops<T>(ctx, x, oihw_to_ohwi<T>(weights), bias, false);
  }
  const NhwcConv c = nhwc_setup(ctx, x, weights, bias, depthwise);
  if (!depthwise && pointwise_nhwc<T>(ctx, x, weights, bias)) return;
  if constexpr (std::is_same_v<T, float>) {
    Tensor y = Tensor::uninitialized(x.dtype(), {c.batch, c.out_h(), c.out_w(), c.out_channels});
    const WindowGeometry geo = window_geometry(ctx, {c.in_h, c.in_w}, {c.kh, c.kw}, false);
    const DnnlConvRequest request{&geo, c.group, true, depthwise ? ConvWeightLayout::k1HWO : ConvWeightLayout::kOHWI,
                                  ctx.fused_activation()};
    if (y.numel() > 0 && conv_dnnl(ctx, x, weights, bias, request, y)) return ctx.set_output(0, y);
  }
  conv_nhwc_loops<T>(ctx, x, weights, bias, depthwise);
}

// [O, I, KH, KW] -> [O, KH, KW, I].
template <typename T>
Tensor oihw_to_ohwi(const Tensor& w) {
  Tensor out(w.dtype(), {w.dim(0), w.dim(2), w.dim(3), w.dim(1)});
  const T* src = w.data<T>();
  T* dst = out.mutable_data<T>();
  const int64_t o_n = w.dim(0), i_n = w.dim(1), k_n = w.dim(2) * w.dim(3);
  for (int64_t o = 0; o < o_n; ++o)
    for (int64_t i = 0; i < i_n; ++i)
      for (int64_t k = 0; k < k_n; ++k) dst[(o * k_n + k) * i_n + i] = src[(o * i_n + i) * k_n + k];
  return out;
}

// The NHWC convolution with our own loops (fp64, or what oneDNN does not implement).
template <typename T>
void conv_nhwc_loops(KernelContext& ctx, const Tensor& x, const Tensor& weights, const Tensor* bias, bool depthwise) {
  const NhwcConv c = nhwc_setup(ctx, x, weights, bias, depthwise);
  Tensor y(x.dtype(), {c.batch, c.out_h(), c.out_w(), c.out_channels});
  if (y.numel() == 0) return ctx.set_output(0, y);
  T* yd = y.mutable_data<T>();
  const int64_t positions = c.batch * c.out_h() * c.out_w();
  if (bias)
    for (int64_t p = 0; p < positions; ++p) std::copy_n(bias->data<T>(), c.out_channels, yd + p * c.out_channels);
  if (depthwise) conv_nhwc_depthwise(x.data<T>(), weights.data<T>(), c, yd);
  else conv_nhwc_ohwi(x.data<T>(), weights.data<T>(), c, bias ? T(1) : T(0), yd);
  apply_fused_activation(ctx, y);
  ctx.set_output(0, y);
}

void conv(KernelContext& ctx) {
  const std::string layout = ctx.node.attr_string("layout", "NCHW");
  if (layout == "NHWC")
    return dispatch_float(ctx.input(0).dtype(), "Conv", [&](auto t) { conv_nhwc_typed<decltype(t)>(ctx); });
  if (layout != "NCHW") ctx.fail("unknown layout '" + layout + "'");
  if (ctx.node.has_attr("weight_layout")) ctx.fail("weight_layout needs layout = \"NHWC\"");
  dispatch_float(ctx.input(0).dtype(), "Conv", [&](auto t) { conv_typed<decltype(t)>(ctx); });
}

TRANSFIX_KERNEL("Conv", conv);

}  // namespace
}  // namespace transfix
