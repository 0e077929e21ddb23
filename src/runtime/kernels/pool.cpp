// Pooling over the spatial dims of [N, C, D1, ..., Dr] (r = 1..3):
//   MaxPool:     Y = max of the window (padding never wins); optional Indices = flat index of the max
//                in X (row-major, or column-major over the spatial dims when storage_order = 1)
//   AveragePool: Y = sum of the window / count, count = taps inside X, or with count_include_pad
//                the taps inside the padded extent [-pad_begin, in + pad_end)
//   LpPool:      Y = (sum |x|^p)^(1/p) over the window (padding counts as 0)
//   Global{Average,Max,Lp}Pool: the same over the whole spatial extent, Y is [N, C, 1, ..., 1].
// Window geometry (kernel_shape, strides, dilations, pads, auto_pad, ceil_mode) is in window.h.
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "runtime/kernel.h"
#include "runtime/kernel_util.h"
#include "runtime/kernels/window.h"
#include "core/thread_pool.h"

namespace transfix {
namespace {

// The taps of one output window: along dim i, kernel taps [lo, hi) are inside X at start + t * d;
// padded_taps[i] of them lie inside the padded extent [-pad_begin, in + pad_end) (AveragePool's
// count_include_pad divisor).
struct Window {
  std::array<int64_t, 3> start, lo, hi, padded_taps;
};

// Calls fn(plane, out_index, window) for every output position of every [N * C] plane, planes in
// parallel. The per-dim tap ranges depend only on the output coordinate, so they are tabulated once.
template <typename F>
void for_each_window(int64_t planes, const Window3D& w, const std::array<int64_t, 3>& pad_end, F&& fn) {
  struct Span { int64_t start, lo, hi, padded_taps; };
  std::array<std::vector<Span>, 3> spans;
  for (int i = 0; i < 3; ++i)
    for (int64_t o = 0; o < w.out[i]; ++o) {
      Span sp{o * w.s[i] - w.p[i], 0, 0, 0};
      valid_range(w.k[i], w.in[i], w.d[i], sp.start, sp.lo, sp.hi);
      int64_t lo, hi;
      valid_range(w.k[i], w.p[i] + w.in[i] + pad_end[i], w.d[i], sp.start + w.p[i], lo, hi);
      sp.padded_taps = hi - lo;
      spans[i].push_back(sp);
    }
  parallel_for(planes, [&](int64_t p0, int64_t p1) {
    Window win;
    for (int64_t p = p0; p < p1; ++p) {
      int64_t o = 0;
      for (const Span& a : spans[0])
        for (const Span& b : spans[1])
          for (const Span& c : spans[2]) {
            win.start = {a.start, b.start, c.start};
            win.lo = {a.lo, b.lo, c.lo};
            win.hi = {a.hi, b.hi, c.hi};
            win.padded_taps = {a.padded_taps, b.padded_taps, c.padded_taps};
            fn(p, o++, win);
          }
    }
  }, std::max<int64_t>(1, 2048 / std::max<int64_t>(1, w.out_size() * w.kernel_size())));
}

struct PoolSetup {
  WindowGeometry geo;
  Window3D w;
  std::array<int64_t, 3> pad_end{0, 0, 0};  // canonical 3-D, like w.p
  Shape out_shape;
  int64_t planes = 0;
};

PoolSetup pool_setup(const KernelContext& ctx, const Tensor& x, const char* op) {
  if (x.rank() < 3) ctx.fail("input must be [N, C, D1, ...], got " + shape_str(x.shape()));
  if (!ctx.node.has_attr("kernel_shape")) ctx.fail("kernel_shape is required");
  PoolSetup s;
  const size_t rank = static_cast<size_t>(x.rank() - 2);
  s.geo = window_geometry(ctx, std::vector<int64_t>(x.shape().begin() + 2, x.shape().end()),
                          spatial_attr(ctx, "kernel_shape", rank, 1), ctx.node.attr_int("ceil_mode", 0) != 0);
  s.w = to_3d(s.geo, op);
  for (size_t i = 0; i < rank; ++i) s.pad_end[3 - rank + i] = s.geo.pad_end[i];
  s.out_shape = {x.dim(0), x.dim(1)};
  s.out_shape.insert(s.out_shape.end(), s.geo.out.begin(), s.geo.out.end());
  s.planes = x.dim(0) * x.dim(1);
  return s;
}

// Max of one window; with kIndices also where it is (spatial offset in `index_stride` order).
// NaN propagates (as in numpy): once best is NaN nothing compares greater, and a NaN replaces any best.
template <typename T, bool kIndices>
T window_max(const T* plane, const Window3D& w, const Window& win, const std::array<int64_t, 3>& index_stride,
             int64_t& best_at) {
  T best = std::numeric_limits<T>::has_infinity ? -std::numeric_limits<T>::infinity() : std::numeric_limits<T>::lowest();
  best_at = -1;
  bool saw_nan = false;
  for (int64_t a = win.lo[0]; a < win.hi[0]; ++a)
    for (int64_t b = win.lo[1]; b < win.hi[1]; ++b) {
      const int64_t i0 = win.start[0] + a * w.d[0], i1 = win.start[1] + b * w.d[1];
      const T* row = plane + (i0 * w.in[1] + i1) * w.in[2] + win.start[2];
      for (int64_t c = win.lo[2]; c < win.hi[2]; ++c) {
        const T v = row[c * w.d[2]];
        if constexpr (kIndices) {
          if (v > best || best_at < 0 || v != v) {
            best = v;
            best_at = i0 * index_stride[0] + i1 * index_stride[1] + (win.start[2] + c * w.d[2]) * index_stride[2];
          }
        } else {
          // Branch-free (random data makes a compare-and-branch mispredict half the time).
          best = std::max(best, v);
          saw_nan |= v != v;
        }
      }
    }
  if constexpr (!kIndices)
    if (saw_nan) return std::numeric_limits<T>::quiet_NaN();
  return best;
}

template <typename T>
void max_pool_typed(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  const PoolSetup s = pool_setup(ctx, x, "MaxPool");
  const Window3D& w = s.w;
  const int64_t storage_order = ctx.node.attr_int("storage_order", 0);
  if (storage_order != 0 && storage_order != 1) ctx.fail("storage_order must be 0 or 1");
  // Spatial strides of the flat index reported in Indices: row-major, or column-major for storage_order 1.
  const std::array<int64_t, 3> index_stride = storage_order == 0 ? std::array<int64_t, 3>{w.in[1] * w.in[2], w.in[2], 1}
                                                                 : std::array<int64_t, 3>{1, w.in[0], w.in[0] * w.in[1]};
  Tensor y(x.dtype(), s.out_shape);
  const bool want_indices = ctx.wants_output(1);
  Tensor indices = want_indices ? Tensor(DType::kI64, s.out_shape) : Tensor();
  const T* xd = x.data<T>();
  T* yd = y.mutable_data<T>();
  int64_t* id = want_indices ? indices.mutable_data<int64_t>() : nullptr;
  const int64_t in_plane = w.in_size(), out_plane = w.out_size();
  if (want_indices) {
    for_each_window(s.planes, w, s.pad_end, [&](int64_t p, int64_t o, const Window& win) {
      int64_t at;
      yd[p * out_plane + o] = window_max<T, true>(xd + p * in_plane, w, win, index_stride, at);
      id[p * out_plane + o] = at < 0 ? -1 : p * in_plane + at;  // -1: a window entirely in padding
    });
    ctx.set_output(0, y);
    ctx.set_output(1, indices);
  } else {
    for_each_window(s.planes, w, s.pad_end, [&](int64_t p, int64_t o, const Window& win) {
      int64_t at;
      yd[p * out_plane + o] = window_max<T, false>(xd + p * in_plane, w, win, index_stride, at);
    });
    ctx.set_output(0, y);
  }
}

// Sum of f(x) over the taps of one window that fall inside the input (padding contributes nothing),
// accumulated in double. Shared by average and Lp pooling.
template <typename T, typename F>
double window_sum(const T* xp, const Window3D& w, const Window& win, F f) {
  double sum = 0;
  for (int64_t a = win.lo[0]; a < win.hi[0]; ++a)
    for (int64_t b = win.lo[1]; b < win.hi[1]; ++b) {
      const T* row = xp + ((win.start[0] + a * w.d[0]) * w.in[1] + win.start[1] + b * w.d[1]) * w.in[2] + win.start[2];
      for (int64_t c = win.lo[2]; c < win.hi[2]; ++c) sum += f(static_cast<double>(row[c * w.d[2]]));
    }
  return sum;
}

template <typename T>
void average_pool_typed(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  const PoolSetup s = pool_setup(ctx, x, "AveragePool");
  const Window3D& w = s.w;
  const bool include_pad = ctx.node.attr_int("count_include_pad", 0) != 0;
  Tensor y(x.dtype(), s.out_shape);
  const T* xd = x.data<T>();
  T* yd = y.mutable_data<T>();
  const int64_t in_plane = w.in_size(), out_plane = w.out_size();
  for_each_window(s.planes, w, s.pad_end, [&](int64_t p, int64_t o, const Window& win) {
    const double sum = window_sum(xd + p * in_plane, w, win, [](double v) { return v; });
    const int64_t count = include_pad ? win.padded_taps[0] * win.padded_taps[1] * win.padded_taps[2]
                                      : (win.hi[0] - win.lo[0]) * (win.hi[1] - win.lo[1]) * (win.hi[2] - win.lo[2]);
    yd[p * out_plane + o] = count > 0 ? static_cast<T>(sum / static_cast<double>(count)) : T(0);
  });
  ctx.set_output(0, y);
}

template <typename T>
void lp_pool_typed(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  const PoolSetup s = pool_setup(ctx, x, "LpPool");
  const Window3D& w = s.w;
  const double p_norm = ctx.node.attr_float("p", 2.0);
  if (!(p_norm > 0)) ctx.fail("p must be positive");
  Tensor y(x.dtype(), s.out_shape);
  const T* xd = x.data<T>();
  T* yd = y.mutable_data<T>();
  const int64_t in_plane = w.in_size(), out_plane = w.out_size();
  for_each_window(s.planes, w, s.pad_end, [&](int64_t p, int64_t o, const Window& win) {
    const double sum =
        window_sum(xd + p * in_plane, w, win, [p_norm](double v) { return std::pow(std::fabs(v), p_norm); });
    yd[p * out_plane + o] = static_cast<T>(std::pow(sum, 1.0 / p_norm));
  });
  ctx.set_output(0, y);
}

enum class Global { kAverage, kMax, kLp };

template <typename T>
void global_pool_typed(KernelContext& ctx, Global kind) {
  const Tensor& x = ctx.input(0);
  if (x.rank() < 3) ctx.fail("input must be [N, C, D1, ...], got " + shape_str(x.shape()));
  Shape out_shape(static_cast<size_t>(x.rank()), 1);
  out_shape[0] = x.dim(0);
  out_shape[1] = x.dim(1);
  const int64_t planes = x.dim(0) * x.dim(1), plane = planes == 0 ? 0 : x.numel() / planes;
  if (plane == 0 && kind == Global::kMax) ctx.fail("global max over an empty spatial extent");
  const double p_norm = kind == Global::kLp ? ctx.node.attr_float("p", 2.0) : 1.0;
  if (!(p_norm > 0)) ctx.fail("p must be positive");
  Tensor y(x.dtype(), out_shape);
  const T* xd = x.data<T>();
  T* yd = y.mutable_data<T>();
  parallel_for(planes, [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      const T* xp = xd + p * plane;
      if (kind == Global::kMax) {
        T best = xp[0];
        for (int64_t i = 1; i < plane; ++i)
          if (xp[i] > best || xp[i] != xp[i]) best = xp[i];
        yd[p] = best;
      } else if (kind == Global::kAverage) {
        double sum = 0;
        for (int64_t i = 0; i < plane; ++i) sum += xp[i];
        yd[p] = static_cast<T>(sum / static_cast<double>(plane));
      } else {
        double sum = 0;
        for (int64_t i = 0; i < plane; ++i) sum += std::pow(std::fabs(static_cast<double>(xp[i])), p_norm);
        yd[p] = static_cast<T>(std::pow(sum, 1.0 / p_norm));
      }
    }
  }, std::max<int64_t>(1, 4096 / std::max<int64_t>(1, plane)));
  ctx.set_output(0, y);
}

// layout = "NHWC" (TFLite): X [N, H, W, C] -> Y [N, OH, OW, C], 2-D windows only, channels innermost.
// Same window rules as above (padding never wins a max; the average divides by the taps inside X,
// or by the taps inside the padded extent with count_include_pad).
template <typename T, bool kMax>
void pool_nhwc_typed(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  if (x.rank() != 4) ctx.fail("NHWC input must be [N, H, W, C], got " + shape_str(x.shape()));
  if (!ctx.node.has_attr("kernel_shape")) ctx.fail("kernel_shape is required");
  if (kMax && ctx.wants_output(1)) throw UnsupportedError("MaxPool: Indices output with layout NHWC is not supported", "MaxPool");
  const int64_t batch = x.dim(0), in_h = x.dim(1), in_w = x.dim(2), channels = x.dim(3);
  const WindowGeometry geo = window_geometry(ctx, {in_h, in_w}, spatial_attr(ctx, "kernel_shape", 2, 1),
                                             ctx.node.attr_int("ceil_mode", 0) != 0);
  const Window3D w = to_3d(geo, kMax ? "MaxPool" : "AveragePool");
  const bool include_pad = ctx.node.attr_int("count_include_pad", 0) != 0;
  const int64_t out_h = w.out[1], out_w = w.out[2];
  Tensor y(x.dtype(), {batch, out_h, out_w, channels});
  if (y.numel() == 0) return ctx.set_output(0, y);
  const T* xd = x.data<T>();
  T* yd = y.mutable_data<T>();
  parallel_for(batch * out_h, [&](int64_t b, int64_t e) {
    std::vector<T> acc(static_cast<size_t>(channels));
    for (int64_t nh = b; nh < e; ++nh) {
      const int64_t n = nh / out_h, oh = nh % out_h;
      int64_t h_lo, h_hi, ph_lo, ph_hi;
      valid_range(w.k[1], in_h, w.d[1], oh * w.s[1] - w.p[1], h_lo, h_hi);
      valid_range(w.k[1], in_h + w.p[1] + geo.pad_end[0], w.d[1], oh * w.s[1], ph_lo, ph_hi);
      for (int64_t ow = 0; ow < out_w; ++ow) {
        int64_t w_lo, w_hi, pw_lo, pw_hi;
        valid_range(w.k[2], in_w, w.d[2], ow * w.s[2] - w.p[2], w_lo, w_hi);
        valid_range(w.k[2], in_w + w.p[2] + geo.pad_end[1], w.d[2], ow * w.s[2], pw_lo, pw_hi);
        std::fill(acc.begin(), acc.end(), kMax ? std::numeric_limits<T>::lowest() : T(0));
        for (int64_t kh = h_lo; kh < h_hi; ++kh) {
          const int64_t ih = oh * w.s[1] - w.p[1] + kh * w.d[1];
          for (int64_t kw = w_lo; kw < w_hi; ++kw) {
            const int64_t iw = ow * w.s[2] - w.p[2] + kw * w.d[2];
            const T* xp = xd + ((n * in_h + ih) * in_w + iw) * channels;
            for (int64_t c = 0; c < channels; ++c) {
              if constexpr (kMax) acc[static_cast<size_t>(c)] = std::max(acc[static_cast<size_t>(c)], xp[c]);
              else acc[static_cast<size_t>(c)] += xp[c];
            }
          }
        }
        T* yp = yd + (nh * out_w + ow) * channels;
        if constexpr (kMax) {
          std::copy(acc.begin(), acc.end(), yp);
        } else {
          const int64_t count = include_pad ? (ph_hi - ph_lo) * (pw_hi - pw_lo) : (h_hi - h_lo) * (w_hi - w_lo);
          for (int64_t c = 0; c < channels; ++c)
            yp[c] = count > 0 ? acc[static_cast<size_t>(c)] / static_cast<T>(count) : T(0);
        }
      }
    }
  }, 1);
  ctx.set_output(0, y);
}

bool nhwc_layout(const KernelContext& ctx) {
  const std::string layout = ctx.node.attr_string("layout", "NCHW");
  if (layout != "NCHW" && layout != "NHWC") ctx.fail("unknown layout '" + layout + "'");
  return layout == "NHWC";
}

void max_pool(KernelContext& ctx) {
  if (nhwc_layout(ctx))
    return dispatch_float(ctx.input(0).dtype(), "MaxPool", [&](auto t) { pool_nhwc_typed<decltype(t), true>(ctx); });
  dispatch_numeric(ctx.input(0).dtype(), "MaxPool", [&](auto t) { max_pool_typed<decltype(t)>(ctx); });
}
void average_pool(KernelContext& ctx) {
  if (nhwc_layout(ctx))
    return dispatch_float(ctx.input(0).dtype(), "AveragePool", [&](auto t) { pool_nhwc_typed<decltype(t), false>(ctx); });
  dispatch_float(ctx.input(0).dtype(), "AveragePool", [&](auto t) { average_pool_typed<decltype(t)>(ctx); });
}
void lp_pool(KernelContext& ctx) {
  dispatch_float(ctx.input(0).dtype(), "LpPool", [&](auto t) { lp_pool_typed<decltype(t)>(ctx); });
}
void global_average_pool(KernelContext& ctx) {
  dispatch_float(ctx.input(0).dtype(), "GlobalAveragePool", [&](auto t) { global_pool_typed<decltype(t)>(ctx, Global::kAverage); });
}
void global_max_pool(KernelContext& ctx) {
  dispatch_numeric(ctx.input(0).dtype(), "GlobalMaxPool", [&](auto t) { global_pool_typed<decltype(t)>(ctx, Global::kMax); });
}
void global_lp_pool(KernelContext& ctx) {
  dispatch_float(ctx.input(0).dtype(), "GlobalLpPool", [&](auto t) { global_pool_typed<decltype(t)>(ctx, Global::kLp); });
}

TRANSFIX_KERNEL("MaxPool", max_pool);
TRANSFIX_KERNEL("AveragePool", average_pool);
TRANSFIX_KERNEL("LpPool", lp_pool);
TRANSFIX_KERNEL("GlobalAveragePool", global_average_pool);
TRANSFIX_KERNEL("GlobalMaxPool", global_max_pool);
TRANSFIX_KERNEL("GlobalLpPool", global_lp_pool);

}  // namespace
}  // namespace transfix
