// Resize (opset 10, 11, 13; the opset-18 default behaviour) and Upsample (opset 7, 9).
//
// Every axis is resized independently. For output coordinate x the coordinate transformation gives
// x_original in input space (scale = output/input length, or the given scale):
//   half_pixel            (x + 0.5) / scale - 0.5
//   half_pixel_symmetric  offset + (x + 0.5) / scale - 0.5, offset = L_in / 2 * (1 - L_resized / (scale * L_in))
//   pytorch_half_pixel    L_out > 1 ? (x + 0.5) / scale - 0.5 : 0
//   align_corners         L_resized == 1 ? 0 : x * (L_in - 1) / (L_resized - 1)
//   asymmetric            x / scale
//   tf_half_pixel_for_nearest  (x + 0.5) / scale
//   tf_crop_and_resize    L_resized > 1 ? roi_start * (L_in - 1) + x * (roi_end - roi_start) * (L_in - 1) / (L_resized - 1)
//                                       : 0.5 * (roi_start + roi_end) * (L_in - 1)
//                         and x_original outside [0, L_in - 1] gives extrapolation_value.
// L_resized is the output length when `sizes` is given and scale * L_in when `scales` is: the ONNX
// reference (and its conformance data, e.g. resize_downsample_scales_linear_align_corners) uses the
// unfloored length. Coordinates are computed in double in both precisions, as the reference does.
//
// Then, with i0 = floor(x_original) and r = x_original - i0, the taps (input index, weight) are
//   nearest  one index chosen by nearest_mode (an integral x_original is itself)
//   linear   (i0, 1 - r), (i0 + 1, r)
//   cubic    (i0 - 1 + k, c_k(r)) for k = 0..3 with Keys' kernel of parameter A = cubic_coeff_a
// exclude_outside zeroes the taps outside [0, L_in) and renormalizes; remaining indices are clamped
// to the edge (the reference pads the input in 'edge' mode).
//
// Before opset 11 (Upsample, Resize-10) there is no coordinate attribute: the transform is asymmetric
// and nearest picks floor(x_original) when upsampling and ceil(x_original) when downsampling, as
// onnxruntime does for those opsets.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "runtime/kernel_util.h"
#include "runtime/kernels/copy_util.h"
#include "core/thread_pool.h"

namespace transfix {
namespace {

enum class Mode { kNearest, kLinear, kCubic };
enum class Coord { kHalfPixel, kHalfPixelSymmetric, kPytorchHalfPixel, kAlignCorners, kAsymmetric, kTfHalfPixelForNearest, kTfCropAndResize };
enum class Nearest { kRoundPreferFloor, kRoundPreferCeil, kFloor, kCeil, kLegacy };

struct ResizeSpec {
  Mode mode = Mode::kNearest;
  Coord coord = Coord::kHalfPixel;
  Nearest nearest = Nearest::kRoundPreferFloor;
  double cubic_a = -0.75;
  bool exclude_outside = false;
  double extrapolation_value = 0.0;
  std::vector<double> roi;        // [starts..., ends...] (tf_crop_and_resize)
  std::vector<double> scales;     // per axis
  std::vector<double> resized;    // L_resized per axis
  Shape out_shape;
};

struct Tap {
  int64_t index;
  double weight;
};

// Taps of every output coordinate of one axis.
struct AxisPlan {
  std::vector<std::vector<Tap>> taps;  // empty list = extrapolation_value
  bool identity = false;               // output o reads exactly input o
};

Mode parse_mode(const KernelContext& ctx) {
  std::string m = ctx.node.attr_string("mode", "nearest");
  if (m == "nearest") return Mode::kNearest;
  if (m == "linear" || m == "bilinear") return Mode::kLinear;
  if (m == "cubic" && ctx.node.op_type == "Resize" && ctx.opset >= 11) return Mode::kCubic;
  ctx.fail("unknown mode '" + m + "'");
}

Coord parse_coord(const KernelContext& ctx) {
  std::string c = ctx.node.attr_string("coordinate_transformation_mode", "half_pixel");
  if (c == "half_pixel") return Coord::kHalfPixel;
  if (c == "half_pixel_symmetric") return Coord::kHalfPixelSymmetric;
  if (c == "pytorch_half_pixel") return Coord::kPytorchHalfPixel;
  if (c == "align_corners") return Coord::kAlignCorners;
  if (c == "asymmetric") return Coord::kAsymmetric;
  // "tf_half_pixel_for_nn" is the name in early opset-11 files (and ONNX test data).
  if (c == "tf_half_pixel_for_nearest" || c == "tf_half_pixel_for_nn") return Coord::kTfHalfPixelForNearest;
  if (c == "tf_crop_and_resize") return Coord::kTfCropAndResize;
  ctx.fail("unknown coordinate_transformation_mode '" + c + "'");
}

Nearest parse_nearest(const KernelContext& ctx) {
  std::string n = ctx.node.attr_string("nearest_mode", "round_prefer_floor");
  if (n == "round_prefer_floor") return Nearest::kRoundPreferFloor;
  if (n == "round_prefer_ceil") return Nearest::kRoundPreferCeil;
  if (n == "floor") return Nearest::kFloor;
  if (n == "ceil") return Nearest::kCeil;
  ctx.fail("unknown nearest_mode '" + n + "'");
}

// Reads the attributes and the scales / sizes / roi inputs of any Resize / Upsample version.
ResizeSpec parse_spec(const KernelContext& ctx, const Tensor& x) {
  ResizeSpec s;
  const Node& n = ctx.node;
  const size_t rank = x.shape().size();
  const bool legacy = n.op_type == "Upsample" || ctx.opset < 11;
  s.mode = parse_mode(ctx);
  std::vector<double> scales;
  std::vector<int64_t> sizes;
  if (legacy) {
    s.coord = Coord::kAsymmetric;
    s.nearest = Nearest::kLegacy;
    if (n.op_type == "Upsample" && ctx.opset < 9) scales = n.attr_floats("scales");
    else scales = ctx.input(1).to_f64_vector();
  } else {
    if (n.attr_int("antialias", 0) != 0) throw UnsupportedError("Resize with antialias is not supported", "Resize");
    if (n.has_attr("axes")) throw UnsupportedError("Resize with axes (opset 18) is not supported", "Resize");
    if (n.attr_string("keep_aspect_ratio_policy", "stretch") != "stretch")
      throw UnsupportedError("Resize keep_aspect_ratio_policy other than stretch is not supported", "Resize");
    s.coord = parse_coord(ctx);
    s.nearest = parse_nearest(ctx);
    s.cubic_a = n.attr_float("cubic_coeff_a", -0.75);
    s.exclude_outside = n.attr_int("exclude_outside", 0) != 0;
    s.extrapolation_value = n.attr_float("extrapolation_value", 0.0);
    if (const Tensor* roi = ctx.optional_input(1)) s.roi = roi->to_f64_vector();
    if (const Tensor* sc = ctx.optional_input(2)) scales = sc->to_f64_vector();
    if (const Tensor* sz = ctx.optional_input(3)) sizes = int_list_input(ctx, *sz, "sizes");
  }
  if (!scales.empty() && !sizes.empty()) ctx.fail("only one of scales and sizes may be given");
  if (scales.empty() && sizes.empty()) ctx.fail("one of scales and sizes is required");
  if (s.coord == Coord::kTfCropAndResize && s.roi.size() != 2 * rank)
    ctx.fail("tf_crop_and_resize needs roi with " + std::to_string(2 * rank) + " values");
  if (!sizes.empty()) {
    if (sizes.size() != rank) ctx.fail("sizes has " + std::to_string(sizes.size()) + " values for rank " + std::to_string(rank));
    for (size_t d = 0; d < rank; ++d) {
      if (sizes[d] < 0) ctx.fail("negative output size");
      const int64_t in = x.shape()[d];
      if (in == 0 && sizes[d] > 0) ctx.fail("cannot resize an empty axis to a non-empty one");
      s.out_shape.push_back(sizes[d]);
      s.scales.push_back(in == 0 ? 1.0 : static_cast<double>(sizes[d]) / static_cast<double>(in));
      s.resized.push_back(static_cast<double>(sizes[d]));
    }
  } else {
    if (scales.size() != rank) ctx.fail("scales has " + std::to_string(scales.size()) + " values for rank " + std::to_string(rank));
    for (size_t d = 0; d < rank; ++d) {
      const double sc = scales[d];
      const double len = sc * static_cast<double>(x.shape()[d]);
      if (!(sc > 0) || !(len < 1e12)) ctx.fail("scales must be positive and finite");
      s.out_shape.push_back(static_cast<int64_t>(std::floor(len)));
      s.scales.push_back(sc);
      s.resized.push_back(len);
    }
  }
  return s;
}

double original_coordinate(const ResizeSpec& s, size_t axis, int64_t x_out, int64_t len_in) {
  const double x = static_cast<double>(x_out), scale = s.scales[axis], lr = s.resized[axis];
  const double lin = static_cast<double>(len_in);
  switch (s.coord) {
    case Coord::kHalfPixel: return (x + 0.5) / scale - 0.5;
    case Coord::kHalfPixelSymmetric: {
      const double adjustment = lr / (scale * lin);
      const double offset = lin / 2 * (1 - adjustment);
      return offset + (x + 0.5) / scale - 0.5;
    }
    case Coord::kPytorchHalfPixel: return s.out_shape[axis] > 1 ? (x + 0.5) / scale - 0.5 : 0.0;
    case Coord::kAlignCorners: return lr == 1 ? 0.0 : x * (lin - 1) / (lr - 1);
    case Coord::kAsymmetric: return x / scale;
    case Coord::kTfHalfPixelForNearest: return (x + 0.5) / scale;
    case Coord::kTfCropAndResize: {
      const double start = s.roi[axis], end = s.roi[axis + s.scales.size()];
      if (lr > 1) return start * (lin - 1) + x * (end - start) * (lin - 1) / (lr - 1);
      return 0.5 * (start + end) * (lin - 1);
    }
  }
  return 0.0;
}

int64_t nearest_index(Nearest mode, double x, bool downsampling) {
  const double fl = std::floor(x);
  if (x == fl) return static_cast<int64_t>(fl);
  const double frac = x - fl;
  switch (mode) {
    case Nearest::kRoundPreferFloor: return static_cast<int64_t>(frac <= 0.5 ? fl : fl + 1);
    case Nearest::kRoundPreferCeil: return static_cast<int64_t>(frac < 0.5 ? fl : fl + 1);
    case Nearest::kFloor: return static_cast<int64_t>(fl);
    case Nearest::kCeil: return static_cast<int64_t>(fl + 1);
    case Nearest::kLegacy: return static_cast<int64_t>(downsampling ? fl + 1 : fl);
  }
  return 0;
}

// Keys' cubic convolution weights for the four neighbours i0-1, i0, i0+1, i0+2 at fraction r.
void cubic_weights(double r, double a, double w[4]) {
  const double t0 = r + 1, t1 = r, t2 = 1 - r, t3 = 2 - r;
  w[0] = ((a * t0 - 5 * a) * t0 + 8 * a) * t0 - 4 * a;
  w[1] = ((a + 2) * t1 - (a + 3)) * t1 * t1 + 1;
  w[2] = ((a + 2) * t2 - (a + 3)) * t2 * t2 + 1;
  w[3] = ((a * t3 - 5 * a) * t3 + 8 * a) * t3 - 4 * a;
}

AxisPlan plan_axis(const ResizeSpec& s, size_t axis, int64_t len_in) {
  const int64_t len_out = s.out_shape[axis];
  AxisPlan plan;
  plan.taps.resize(static_cast<size_t>(len_out));
  for (int64_t o = 0; o < len_out; ++o) {
    const double x = original_coordinate(s, axis, o, len_in);
    if (s.coord == Coord::kTfCropAndResize && (x < 0 || x > static_cast<double>(len_in - 1))) continue;
    if (!std::isfinite(x)) continue;  // only from degenerate roi values
    std::vector<Tap> taps;
    if (s.mode == Mode::kNearest) {
      taps.push_back({nearest_index(s.nearest, x, s.scales[axis] < 1), 1.0});
    } else {
      const double fl = std::floor(x), r = x - fl;
      const int64_t i0 = static_cast<int64_t>(fl);
      if (s.mode == Mode::kLinear) {
        taps = {{i0, 1 - r}, {i0 + 1, r}};
      } else {
        double w[4];
        cubic_weights(r, s.cubic_a, w);
        for (int k = 0; k < 4; ++k) taps.push_back({i0 - 1 + k, w[k]});
      }
      if (s.exclude_outside) {
        double sum = 0;
        for (Tap& t : taps) {
          if (t.index < 0 || t.index >= len_in) t.weight = 0;
          sum += t.weight;
        }
        if (sum != 0)
          for (Tap& t : taps) t.weight /= sum;
      }
    }
    std::vector<Tap> kept;
    for (Tap t : taps) {
      if (t.weight == 0) continue;  // exact zeros (integral coordinates) add nothing
      t.index = std::clamp<int64_t>(t.index, 0, len_in - 1);
      kept.push_back(t);
    }
    plan.taps[static_cast<size_t>(o)] = std::move(kept);
  }
  plan.identity = len_out == len_in;
  for (int64_t o = 0; plan.identity && o < len_out; ++o) {
    const auto& t = plan.taps[static_cast<size_t>(o)];
    plan.identity = t.size() == 1 && t[0].index == o && t[0].weight == 1.0;
  }
  return plan;
}

// Nearest: a gather along every axis; copies elements of any dtype exactly.
Tensor resize_nearest(const Tensor& x, const ResizeSpec& s, const std::vector<AxisPlan>& plans) {
  Tensor out(x.dtype(), s.out_shape);
  const size_t r = s.out_shape.size();
  if (out.numel() == 0) return out;
  const Tensor fill = Tensor::scalar<double>(s.extrapolation_value).cast(x.dtype());
  std::vector<std::vector<int64_t>> index(r);  // input index per output coordinate; -1 = extrapolate
  for (size_t d = 0; d < r; ++d)
    for (const auto& t : plans[d].taps) index[d].push_back(t.empty() ? -1 : t[0].index);
  if (r == 0) return x.clone();
  const auto in_strides = contiguous_strides(x.shape());
  const int64_t row_len = s.out_shape.back(), rows = out.numel() / row_len;
  dispatch_any(x.dtype(), "Resize", [&](auto tag) {
    using T = decltype(tag);
    const T* src = static_cast<const T*>(x.raw());
    T* dst = static_cast<T*>(out.raw_mutable());
    const T fill_v = *static_cast<const T*>(fill.raw());
    const auto& last = index.back();
    parallel_for(rows, [&](int64_t begin, int64_t end) {
      for (int64_t row = begin; row < end; ++row) {
        int64_t off = 0, rem = row;
        bool outside = false;
        for (int64_t d = static_cast<int64_t>(r) - 2; d >= 0; --d) {
          const size_t u = static_cast<size_t>(d);
          const int64_t c = index[u][static_cast<size_t>(rem % s.out_shape[u])];
          rem /= s.out_shape[u];
          outside |= c < 0;
          off += c * in_strides[u];
        }
        T* o = dst + row * row_len;
        for (int64_t j = 0; j < row_len; ++j) {
          const int64_t c = last[static_cast<size_t>(j)];
          o[j] = (outside || c < 0) ? fill_v : src[off + c];
        }
      }
    }, std::max<int64_t>(1, 4096 / row_len));
  });
  return out;
}

// Linear / cubic: one weighted pass per resized axis (last axis first, like the reference's
// recursion), accumulating in double.
Tensor resize_interpolate(const KernelContext& ctx, const Tensor& x, const ResizeSpec& s, const std::vector<AxisPlan>& plans) {
  Tensor out(x.dtype(), s.out_shape);  // checks the output size first
  Shape cur_shape = x.shape();
  // Intermediate buffers hold at most max(in, out) along every axis.
  double bound = 8;
  for (size_t d = 0; d < cur_shape.size(); ++d) bound *= static_cast<double>(std::max(cur_shape[d], s.out_shape[d]));
  if (bound > static_cast<double>(max_tensor_bytes())) ctx.fail("resize needs too much memory");
  std::vector<double> cur = x.to_f64_vector();
  for (int64_t d = static_cast<int64_t>(cur_shape.size()) - 1; d >= 0; --d) {
    const size_t u = static_cast<size_t>(d);
    if (plans[u].identity) continue;
    int64_t outer = 1, inner = 1;
    for (size_t i = 0; i < u; ++i) outer *= cur_shape[i];
    for (size_t i = u + 1; i < cur_shape.size(); ++i) inner *= cur_shape[i];
    const int64_t len_in = cur_shape[u], len_out = s.out_shape[u];
    std::vector<double> next(static_cast<size_t>(outer * len_out * inner));
    parallel_for(outer, [&](int64_t begin, int64_t end) {
      for (int64_t o = begin; o < end; ++o)
        for (int64_t j = 0; j < len_out; ++j) {
          double* dst = next.data() + (o * len_out + j) * inner;
          const auto& taps = plans[u].taps[static_cast<size_t>(j)];
          if (inner == 1) {  // last axis: one dot product per output element
            double acc = taps.empty() ? s.extrapolation_value : 0.0;
            const double* src = cur.data() + o * len_in;
            for (const Tap& t : taps) acc += t.weight * src[t.index];
            *dst = acc;
            continue;
          }
          if (taps.empty()) {
            std::fill(dst, dst + inner, s.extrapolation_value);
            continue;
          }
          std::fill(dst, dst + inner, 0.0);
          for (const Tap& t : taps) {
            const double* src = cur.data() + (o * len_in + t.index) * inner;
            for (int64_t i = 0; i < inner; ++i) dst[i] += t.weight * src[i];
          }
        }
    }, std::max<int64_t>(1, 4096 / std::max<int64_t>(len_out * inner, 1)));
    cur.swap(next);
    cur_shape[u] = len_out;
  }
  dispatch_numeric(x.dtype(), "Resize", [&](auto tag) {
    using T = decltype(tag);
    T* dst = out.mutable_data<T>();
    for (size_t i = 0; i < cur.size(); ++i) {
      if constexpr (std::is_floating_point_v<T>) {
        dst[i] = static_cast<T>(cur[i]);
      } else {  // quantized images: round to nearest even, saturate
        double v = std::nearbyint(cur[i]);
        v = std::clamp(v, static_cast<double>(std::numeric_limits<T>::lowest()), static_cast<double>(std::numeric_limits<T>::max()));
        dst[i] = static_cast<T>(v);
      }
    }
  });
  return out;
}

void resize(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  const ResizeSpec spec = parse_spec(ctx, x);
  // Size check before building per-axis tables; an empty output needs no tables at all.
  const int64_t out_numel = shape_numel(spec.out_shape);
  if (static_cast<double>(out_numel) * static_cast<double>(dtype_size(x.dtype())) > static_cast<double>(max_tensor_bytes()))
    ctx.fail("output shape " + shape_str(spec.out_shape) + " is too large");
  if (out_numel == 0) { ctx.set_output(0, Tensor(x.dtype(), spec.out_shape)); return; }
  std::vector<AxisPlan> plans;
  for (size_t d = 0; d < spec.out_shape.size(); ++d) plans.push_back(plan_axis(spec, d, x.shape()[d]));
  if (spec.mode == Mode::kNearest) ctx.set_output(0, resize_nearest(x, spec, plans));
  else ctx.set_output(0, resize_interpolate(ctx, x, spec, plans));
}

// float16 runs widened to float32 (exact for nearest, which only copies).
TRANSFIX_KERNEL("Resize", resize);
TRANSFIX_KERNEL("Upsample", resize);

}  // namespace
}  // namespace transfix
