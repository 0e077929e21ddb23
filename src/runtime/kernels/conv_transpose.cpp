// ConvTranspose (opsets 1-11+): the adjoint of Conv. Every input position i scatters
//   Y[n, m, i * s + k * d - pad_begin] += X[n, c, i] * W[c, m - group_offset, k]
// then Y += B[m]. Computed as col = W_g^T * X_g (a [M/group * K, in] matrix) followed by col2im,
// which adds each column's kernel taps into the output. Output size per spatial dim:
//   natural = s * (in - 1) + output_padding + (k - 1) * d + 1
//   out = natural - pad_begin - pad_end                      (explicit pads)
//   out = output_shape, or in * s for SAME_UPPER/SAME_LOWER,  with total padding natural - out split
//         as in the ONNX spec (SAME_UPPER: extra unit at the end; otherwise at the beginning).
// When output_shape asks for more than `natural`, the extra trailing positions receive only the bias.
#include <Eigen/Core>
#include <algorithm>
#include <memory>

#include "runtime/gemm.h"
#include "runtime/kernel.h"
#include "runtime/kernel_util.h"
#include "runtime/kernels/window.h"
#include "core/thread_pool.h"

namespace transfix {
namespace {

constexpr int64_t kColBytes = int64_t{32} << 20;

// y[i * stride] += x[i], i in [0, n).
template <typename T>
void add_strided(int64_t n, const T* x, T* y, int64_t stride) {
  using Vec = Eigen::Array<T, Eigen::Dynamic, 1>;
  if (n <= 0) return;
  if (stride == 1) Eigen::Map<Vec>(y, n) += Eigen::Map<const Vec>(x, n);
  else Eigen::Map<Vec, 0, Eigen::InnerStride<>>(y, n, Eigen::InnerStride<>(stride)) += Eigen::Map<const Vec>(x, n);
}

// The geometry seen from the output: `in` is ConvTranspose's input, `out` its output, `p` pad_begin.
WindowGeometry transpose_geometry(const KernelContext& ctx, const std::vector<int64_t>& in,
                                  const std::vector<int64_t>& kernel) {
  const size_t rank = in.size();
  WindowGeometry g;
  g.in = in;
  g.kernel = kernel;
  for (int64_t k : kernel)
    if (k < 1 || k >= (int64_t{1} << 31)) ctx.fail("kernel size " + std::to_string(k) + " is out of range");
  g.strides = spatial_attr(ctx, "strides", rank, 1);
  g.dilations = spatial_attr(ctx, "dilations", rank, 1);
  std::vector<int64_t> output_padding = ctx.node.attr_ints("output_padding", std::vector<int64_t>(rank, 0));
  if (output_padding.size() != rank) ctx.fail("output_padding must have one value per spatial dim");
  for (size_t i = 0; i < rank; ++i)
    if (output_padding[i] < 0 || output_padding[i] >= std::max(g.strides[i], g.dilations[i]))
      ctx.fail("output_padding " + std::to_string(output_padding[i]) + " must be below the stride or dilation");
  std::vector<int64_t> output_shape = ctx.node.attr_ints("output_shape", {});
  if (output_shape.size() == rank + 2) output_shape.erase(output_shape.begin(), output_shape.begin() + 2);  // [N, C, ...]
  if (!output_shape.empty() && output_shape.size() != rank) ctx.fail("output_shape must have one value per spatial dim");
  const std::string auto_pad = ctx.node.attr_string("auto_pad", "NOTSET");
  if (auto_pad != "NOTSET" && auto_pad != "VALID" && auto_pad != "SAME_UPPER" && auto_pad != "SAME_LOWER")
    ctx.fail("unknown auto_pad '" + auto_pad + "'");
  std::vector<int64_t> pads = ctx.node.attr_ints("pads", std::vector<int64_t>(2 * rank, 0));
  if (auto_pad != "NOTSET" || !output_shape.empty()) pads.assign(2 * rank, 0);  // pads are derived instead
  if (pads.size() != 2 * rank) ctx.fail("pads must have two values per spatial dim");
  g.pad_begin.assign(rank, 0);
  g.pad_end.assign(rank, 0);
  g.out.assign(rank, 0);
  for (size_t i = 0; i < rank; ++i) {
    if (pads[i] < 0 || pads[i + rank] < 0 || pads[i] >= (int64_t{1} << 31) || pads[i + rank] >= (int64_t{1} << 31))
      ctx.fail("pads must be in [0, 2^31)");
    const int64_t natural = g.strides[i] * (in[i] - 1) + output_padding[i] + (kernel[i] - 1) * g.dilations[i] + 1;
    const bool same = auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER";
    if (!output_shape.empty() || same) {
      g.out[i] = !output_shape.empty() ? output_shape[i] : in[i] * g.strides[i];
      if (g.out[i] < 0) ctx.fail("output_shape must not be negative");
      const int64_t total = std::max<int64_t>(0, natural - g.out[i]);
      g.pad_begin[i] = auto_pad == "SAME_UPPER" ? total / 2 : total - total / 2;
      g.pad_end[i] = total - g.pad_begin[i];
    } else {
      g.pad_begin[i] = pads[i];
      g.pad_end[i] = pads[i + rank];
      g.out[i] = natural - pads[i] - pads[i + rank];
      if (g.out[i] < 0) ctx.fail("pads exceed the output size");
    }
  }
  return g;
}

// Adds columns [j0, j1) (input positions) of col, rows (m, kd, kh, kw), into y's `channels` planes.
// Each output channel owns its plane, so channels run in parallel without races.
template <typename T>
void col2im(const T* col, int64_t channels, const Window3D& w, int64_t j0, int64_t j1, T* y) {
  const int64_t kernel = w.kernel_size(), ncols = j1 - j0;
  parallel_for(channels, [&](int64_t c0, int64_t c1) {
    for (int64_t m = c0; m < c1; ++m) {
      T* ym = y + m * w.out_size();
      for (int64_t kk = 0; kk < kernel; ++kk) {
        const int64_t kw = kk % w.k[2], kh = (kk / w.k[2]) % w.k[1], kd = kk / (w.k[2] * w.k[1]);
        const T* src = col + (m * kernel + kk) * ncols - j0;  // src[j] for j in [j0, j1)
        const int64_t ow_offset = kw * w.d[2] - w.p[2];
        for (int64_t line = j0 / w.in[2]; line * w.in[2] < j1; ++line) {
          const int64_t id = line / w.in[1], ih = line % w.in[1];
          const int64_t od = id * w.s[0] + kd * w.d[0] - w.p[0], oh = ih * w.s[1] + kh * w.d[1] - w.p[1];
          if (od < 0 || od >= w.out[0] || oh < 0 || oh >= w.out[1]) continue;
          int64_t lo, hi;
          valid_range(w.in[2], w.out[2], w.s[2], ow_offset, lo, hi);
          lo = std::clamp(lo, std::max<int64_t>(0, j0 - line * w.in[2]), std::min(w.in[2], j1 - line * w.in[2]));
          hi = std::clamp(hi, lo, std::min(w.in[2], j1 - line * w.in[2]));
          T* yrow = ym + (od * w.out[1] + oh) * w.out[2];
          add_strided(hi - lo, src + line * w.in[2] + lo, yrow + lo * w.s[2] + ow_offset, w.s[2]);
        }
      }
    }
  }, 1);
}

template <typename T>
void conv_transpose_typed(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  const Tensor& weights = ctx.input(1);
  const Tensor* bias = ctx.optional_input(2);
  if (x.rank() < 3) ctx.fail("input must be [N, C, D1, ...], got " + shape_str(x.shape()));
  if (weights.rank() != x.rank())
    ctx.fail("weight shape " + shape_str(weights.shape()) + " does not match input rank " + std::to_string(x.rank()));
  if (weights.dtype() != x.dtype() || (bias && bias->dtype() != x.dtype())) ctx.fail("inputs must share one dtype");
  const int64_t batch = x.dim(0), channels = x.dim(1);
  const int64_t group = ctx.node.attr_int("group", 1);
  if (group < 1 || channels % group != 0) ctx.fail("group " + std::to_string(group) + " must divide the input channels");
  if (weights.dim(0) != channels)
    ctx.fail("weight shape " + shape_str(weights.shape()) + " must start with the input channels " + std::to_string(channels));
  const int64_t group_in = channels / group, group_out = weights.dim(1), out_channels = group_out * group;
  if (bias && (bias->rank() != 1 || bias->dim(0) != out_channels))
    ctx.fail("bias shape " + shape_str(bias->shape()) + " must be [" + std::to_string(out_channels) + "]");
  std::vector<int64_t> kernel(weights.shape().begin() + 2, weights.shape().end());
  if (ctx.node.has_attr("kernel_shape") && ctx.node.attr_ints("kernel_shape") != kernel)
    ctx.fail("kernel_shape attribute does not match weight shape " + shape_str(weights.shape()));

  const WindowGeometry geo = transpose_geometry(ctx, std::vector<int64_t>(x.shape().begin() + 2, x.shape().end()), kernel);
  // Window3D's in/out are from Conv's point of view; here `in` is our input and `out` our output.
  const Window3D w = to_3d(geo, "ConvTranspose");
  Shape out_shape{batch, out_channels};
  out_shape.insert(out_shape.end(), geo.out.begin(), geo.out.end());
  Tensor y(x.dtype(), out_shape);
  if (y.numel() == 0 || x.numel() == 0) return ctx.set_output(0, y);  // (bias only when x is empty: rare)
  const T* xd = x.data<T>();
  const T* wd = weights.data<T>();
  T* yd = y.mutable_data<T>();
  const int64_t in_plane = w.in_size(), out_plane = w.out_size(), col_rows = group_out * w.kernel_size();
  if (bias) {
    const T* bd = bias->data<T>();
    for (int64_t nm = 0; nm < batch * out_channels; ++nm) std::fill_n(yd + nm * out_plane, out_plane, bd[nm % out_channels]);
  }
  const int64_t tile = std::clamp<int64_t>(kColBytes / static_cast<int64_t>(sizeof(T)) / col_rows,
                                           std::min<int64_t>(in_plane, 64), in_plane);
  std::unique_ptr<T[]> col(new T[static_cast<size_t>(col_rows * tile)]);
  for (int64_t n = 0; n < batch; ++n)
    for (int64_t g = 0; g < group; ++g) {
      const T* xg = xd + (n * channels + g * group_in) * in_plane;
      const T* wg = wd + g * group_in * col_rows;  // [group_in, group_out * K]
      T* yg = yd + (n * out_channels + g * group_out) * out_plane;
      for (int64_t j0 = 0; j0 < in_plane; j0 += tile) {
        const int64_t j1 = std::min(in_plane, j0 + tile);
        gemm(true, false, col_rows, j1 - j0, group_in, T(1), wg, col_rows, xg + j0, in_plane, T(0), col.get(), j1 - j0);
        col2im(col.get(), group_out, w, j0, j1, yg);
      }
    }
  ctx.set_output(0, y);
}

// layout = "NHWC", weight_layout = "OHWI" (TFLite TRANSPOSE_CONV): X [N, H, W, I], W [O, KH, KW, I],
// Y [N, OH, OW, O]:  Y[n, ih * sh + kh * dh - ph, iw * sw + kw * dw - pw, o] += sum_i W[o, kh, kw, i] * X[n, ih, iw, i]
// (no kernel flip), then Y += B[o]. Same output-size and padding rules as above; group 1 only.
// A direct scatter; output channels are split over threads so no two threads add into one value.
template <typename T>
void conv_transpose_nhwc_typed(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  const Tensor& weights = ctx.input(1);
  const Tensor* bias = ctx.optional_input(2);
  const std::string weight_layout = ctx.node.attr_string("weight_layout", "OHWI");
  if (weight_layout != "OHWI")
    throw UnsupportedError("ConvTranspose: weight_layout '" + weight_layout + "' is not supported (OHWI)", "ConvTranspose");
  if (x.rank() != 4) ctx.fail("NHWC input must be [N, H, W, C], got " + shape_str(x.shape()));
  if (weights.rank() != 4 || weights.dim(3) != x.dim(3))
    ctx.fail("OHWI weights " + shape_str(weights.shape()) + " do not fit input " + shape_str(x.shape()));
  if (weights.dtype() != x.dtype() || (bias && bias->dtype() != x.dtype())) ctx.fail("inputs must share one dtype");
  if (ctx.node.attr_int("group", 1) != 1) throw UnsupportedError("ConvTranspose: group > 1 with layout NHWC", "ConvTranspose");
  const int64_t batch = x.dim(0), in_h = x.dim(1), in_w = x.dim(2), in_c = x.dim(3), out_c = weights.dim(0);
  const int64_t kh_n = weights.dim(1), kw_n = weights.dim(2);
  if (bias && (bias->rank() != 1 || bias->dim(0) != out_c))
    ctx.fail("bias shape " + shape_str(bias->shape()) + " must be [" + std::to_string(out_c) + "]");
  if (ctx.node.has_attr("kernel_shape") && ctx.node.attr_ints("kernel_shape") != std::vector<int64_t>{kh_n, kw_n})
    ctx.fail("kernel_shape attribute does not match weight shape " + shape_str(weights.shape()));
  const WindowGeometry g = transpose_geometry(ctx, {in_h, in_w}, {kh_n, kw_n});
  const int64_t out_h = g.out[0], out_w = g.out[1];
  Tensor y(x.dtype(), {batch, out_h, out_w, out_c});
  if (y.numel() == 0) return ctx.set_output(0, y);
  const T* xd = x.data<T>();
  const T* wd = weights.data<T>();
  T* yd = y.mutable_data<T>();
  if (bias)
    for (int64_t p = 0; p < batch * out_h * out_w; ++p) std::copy_n(bias->data<T>(), out_c, yd + p * out_c);
  parallel_for(out_c, [&](int64_t o0, int64_t o1) {
    for (int64_t n = 0; n < batch; ++n)
      for (int64_t ih = 0; ih < in_h; ++ih)
        for (int64_t iw = 0; iw < in_w; ++iw) {
          const T* xp = xd + ((n * in_h + ih) * in_w + iw) * in_c;
          for (int64_t kh = 0; kh < kh_n; ++kh) {
            const int64_t oh = ih * g.strides[0] + kh * g.dilations[0] - g.pad_begin[0];
            if (oh < 0 || oh >= out_h) continue;
            for (int64_t kw = 0; kw < kw_n; ++kw) {
              const int64_t ow = iw * g.strides[1] + kw * g.dilations[1] - g.pad_begin[1];
              if (ow < 0 || ow >= out_w) continue;
              T* yp = yd + ((n * out_h + oh) * out_w + ow) * out_c;
              for (int64_t o = o0; o < o1; ++o) {
                const T* wp = wd + ((o * kh_n + kh) * kw_n + kw) * in_c;
                T sum = T(0);
                for (int64_t i = 0; i < in_c; ++i) sum += wp[i] * xp[i];
                yp[o] += sum;
              }
            }
          }
        }
  }, 1);
  ctx.set_output(0, y);
}

void conv_transpose(KernelContext& ctx) {
  const std::string layout = ctx.node.attr_string("layout", "NCHW");
  if (layout == "NHWC")
    return dispatch_float(ctx.input(0).dtype(), "ConvTranspose",
                          [&](auto t) { conv_transpose_nhwc_typed<decltype(t)>(ctx); });
  if (layout != "NCHW") ctx.fail("unknown layout '" + layout + "'");
  dispatch_float(ctx.input(0).dtype(), "ConvTranspose", [&](auto t) { conv_transpose_typed<decltype(t)>(ctx); });
}

TRANSFIX_KERNEL("ConvTranspose", conv_transpose);

}  // namespace
}  // namespace transfix
