// Quantized TFLite RESIZE_NEAREST_NEIGHBOR and RESIZE_BILINEAR (Resize in domain "tflite.quantized"),
// NHWC, uint8 / int8 / int16. Input and output share their quantization (TFLite requires it), so
// no requantization:
//  - nearest: the default-domain kernel on the integers (it only picks elements);
//  - bilinear, as TFLite's integer kernel (ResizeBilinearInteger), in 10-bit fixed point:
//      scale = ((2^10 in + out / 2) / out)   (align_corners: (2^10 (in - 1) + (out - 1) / 2) / (out - 1))
//      p     = o * scale (+ scale / 2 - 2^9 with half_pixel_centers),  p0 = max(p / 2^10, 0),
//      p1    = min((p + 2^10 - 1) / 2^10, in - 1),  f = p - 2^10 p0       (per axis, C++ division)
//      y     = (sum of the 4 taps x * (2^10 - f or f) * (2^10 - g or g) + 2^19 sign) / 2^20  (int64)
//  - bilinear with requantize = "fp32" (QuantMode::kIntegerXnnpack; the XNNPACK delegate takes uint8 and
//    int8 bilinear resizes, seen in the interpreter's profile): float positions and Q11 weights,
//      scale = float(in - a) / float(out - a)   (a = 1 with align_corners and out > 1, else 0)
//      p = o * scale  (legacy: no half_pixel_centers; or align_corners),
//      p = clamp(o * scale + 0.5 scale - 0.5, 0, in - 1)                    (half_pixel_centers)
//      p0 = int(p), p1 = min(p0 + 1, in - 1), w = lrintf((p - p0) * 2^11)   (per axis)
//      top = (x00 << 11) + (x01 - x00) w_x, bottom likewise, y = ((top << 11) + (bottom - top) w_y + 2^21) >> 22
#include <cmath>

#include "runtime/kernels/fixed_point.h"

namespace transfix {
namespace {

using namespace qfixed;

struct Taps {
  int32_t lo = 0, hi = 0, frac = 0;  // input indices and the weight of `hi` in 1/1024
};

std::vector<Taps> axis_taps(int64_t in, int64_t out, const std::string& coord) {
  const bool align = coord == "align_corners", half = coord == "half_pixel";
  int64_t scale = ((int64_t{1} << 10) * in + out / 2) / out;
  if (align && out > 1) scale = ((int64_t{1} << 10) * (in - 1) + (out - 1) / 2) / (out - 1);
  std::vector<Taps> taps(static_cast<size_t>(out));
  for (int64_t o = 0; o < out; ++o) {
    const int64_t p = half ? o * scale + scale / 2 - (1 << 9) : o * scale;
    const int64_t lo = std::max<int64_t>(p / (1 << 10), 0), hi = std::min<int64_t>((p + (1 << 10) - 1) / (1 << 10), in - 1);
    taps[static_cast<size_t>(o)] = {static_cast<int32_t>(lo), static_cast<int32_t>(hi), static_cast<int32_t>(p - (lo << 10))};
  }
  return taps;
}

// XNNPACK's per-axis positions and Q11 weights (see the header).
std::vector<Taps> xnnpack_axis_taps(int64_t in, int64_t out, const std::string& coord) {
  const bool align = coord == "align_corners", half = coord == "half_pixel";
  const int32_t adjust = align && out != 1 ? 1 : 0;
  const float scale = static_cast<float>(in - adjust) / static_cast<float>(out - adjust);
  std::vector<Taps> taps(static_cast<size_t>(out));
  for (int64_t o = 0; o < out; ++o) {
    float p = static_cast<float>(o) * scale;
    if (half) p = std::min(std::max(p + (0.5f * scale - 0.5f), 0.0f), static_cast<float>(in - 1));
    const int32_t lo = static_cast<int32_t>(p);
    taps[static_cast<size_t>(o)] = {lo, static_cast<int32_t>(std::min<int64_t>(lo + 1, in - 1)),
                                    static_cast<int32_t>(std::lrintf((p - static_cast<float>(lo)) * 2048.0f))};
  }
  return taps;
}

void xnnpack_bilinear(KernelContext& ctx, const Tensor& x, const Shape& out_shape, const std::string& coord) {
  const int64_t N = x.dim(0), H = x.dim(1), W = x.dim(2), C = x.dim(3), OH = out_shape[1], OW = out_shape[2];
  const std::vector<Taps> ty = xnnpack_axis_taps(H, OH, coord), tx = xnnpack_axis_taps(W, OW, coord);
  Tensor y = Tensor::uninitialized(x.dtype(), out_shape);
  auto at = [&](int64_t n, int64_t r, int64_t c, int64_t ch) { return load_q(x, ((n * H + r) * W + c) * C + ch); };
  for (int64_t n = 0; n < N; ++n)
    for (int64_t oy = 0; oy < OH; ++oy)
      for (int64_t ox = 0; ox < OW; ++ox) {
        const Taps& a = ty[static_cast<size_t>(oy)];
        const Taps& b = tx[static_cast<size_t>(ox)];
        for (int64_t ch = 0; ch < C; ++ch) {
          const int64_t tl = at(n, a.lo, b.lo, ch), tr = at(n, a.lo, b.hi, ch), bl = at(n, a.hi, b.lo, ch), br = at(n, a.hi, b.hi, ch);
          // XNNPACK's int32 arithmetic, exact for 8-bit values; int64 keeps other inputs defined.
          const int64_t top = tl * 2048 + (tr - tl) * b.frac, bottom = bl * 2048 + (br - bl) * b.frac;
          const int64_t acc = top * 2048 + (bottom - top) * a.frac;
          store_q(y, ((n * OH + oy) * OW + ox) * C + ch, static_cast<int32_t>((acc + (1 << 21)) >> 22));
        }
      }
  ctx.set_output(0, y);
}

void bilinear(KernelContext& ctx, const Tensor& x, const Shape& out_shape) {
  const std::string coord = ctx.node.attr_string("coordinate_transformation_mode", "half_pixel");
  if (coord != "align_corners" && coord != "half_pixel" && coord != "asymmetric")
    throw UnsupportedError("quantized bilinear Resize with coordinate_transformation_mode " + coord, "Resize");
  if (ctx.node.attr_string("requantize", "tflite") == "fp32") return xnnpack_bilinear(ctx, x, out_shape, coord);
  const int64_t N = x.dim(0), H = x.dim(1), W = x.dim(2), C = x.dim(3), OH = out_shape[1], OW = out_shape[2];
  const std::vector<Taps> ty = axis_taps(H, OH, coord), tx = axis_taps(W, OW, coord);
  Tensor y = Tensor::uninitialized(x.dtype(), out_shape);
  const Range range = dtype_range(ctx, x.dtype());
  auto at = [&](int64_t n, int64_t r, int64_t c, int64_t ch) { return int64_t{load_q(x, ((n * H + r) * W + c) * C + ch)}; };
  for (int64_t n = 0; n < N; ++n)
    for (int64_t oy = 0; oy < OH; ++oy)
      for (int64_t ox = 0; ox < OW; ++ox) {
        const Taps& a = ty[static_cast<size_t>(oy)];
        const Taps& b = tx[static_cast<size_t>(ox)];
        const int64_t fy = a.frac, fx = b.frac;
        for (int64_t ch = 0; ch < C; ++ch) {
          const int64_t sum = at(n, a.lo, b.lo, ch) * (1024 - fy) * (1024 - fx) + at(n, a.hi, b.lo, ch) * fy * (1024 - fx) +
                              at(n, a.lo, b.hi, ch) * (1024 - fy) * fx + at(n, a.hi, b.hi, ch) * fy * fx;
          const int64_t v = (sum + (sum > 0 ? (1 << 19) : -(1 << 19))) / (1 << 20);
          store_q(y, ((n * OH + oy) * OW + ox) * C + ch, static_cast<int32_t>(std::min<int64_t>(range.hi, std::max<int64_t>(range.lo, v))));
        }
      }
  ctx.set_output(0, y);
}

void quantized_resize(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  require_u8_i8_or_i16(ctx, x, "input");
  same_quantization_in_and_out(ctx, x);
  const std::string mode = ctx.node.attr_string("mode", "nearest");
  if (mode == "nearest") {
    std::vector<const Tensor*> inputs;
    for (size_t i = 0; i < ctx.num_inputs(); ++i) inputs.push_back(ctx.optional_input(i));
    return run_default_kernel(ctx, inputs);
  }
  if (mode != "linear") throw UnsupportedError("quantized Resize with mode " + mode, "Resize");
  const Tensor* sizes = ctx.optional_input(3);
  if (x.rank() != 4 || !sizes || sizes->numel() != 4) ctx.fail("quantized bilinear Resize needs an NHWC input and 4 sizes");
  const std::vector<int64_t> s = sizes->to_i64_vector();
  if (s[0] != x.dim(0) || s[3] != x.dim(3) || s[1] < 1 || s[2] < 1 || x.dim(1) < 1 || x.dim(2) < 1)
    ctx.fail("sizes " + shape_str(s) + " must keep N and C of " + shape_str(x.shape()) + " and be positive");
  if (static_cast<double>(s[0]) * static_cast<double>(s[1]) * static_cast<double>(s[2]) * static_cast<double>(s[3]) *
          static_cast<double>(dtype_size(x.dtype())) > static_cast<double>(max_tensor_bytes()))
    ctx.fail("output shape " + shape_str(s) + " is too large");
  bilinear(ctx, x, Shape(s.begin(), s.end()));
}

[[maybe_unused]] const bool kRegistered =
    register_kernel("Resize", KernelInfo{quantized_resize, true}, kTfliteQuantizedDomain);

}  // namespace
}  // namespace transfix
