// Quantized TFLite convolutions and fully connected layers (domain "tflite.quantized"), uint8 or
// int8 activations with int32 bias, or 16x8 (int16 activations, int8 weights, int64 or int32 bias);
// weights per tensor or per output channel:
//   acc[o] = bias[o] + sum (x - x_zp) * (w - w_zp[o])          (padding taps contribute 0)
//   y[o]   = clamp(acc[o] * M[o] + y_zp, activation range)     M[o] = x_scale * w_scale[o] / y_scale
// 8-bit: acc in int32 (wrapping as TFLite's), the fixed-point multiply of fixed_point.h.
// 16x8: acc in int64 and TFLite's int64 multiply (the multiplier rounded to Q0.15, one rounding
// shift), as its reference_integer_ops kernels for int16 inputs do; with an int32 bias, TFLite
// accumulates in int32 and uses the 8-bit multiply (checked: the int64 one is 1 step off on 1 of
// 144 outputs of tests' q16_conv_int32_bias).
// Conv: NHWC, weight_layout "OHWI" ([O, KH, KW, C / group]) or "1HWO" (depthwise, [1, KH, KW, C * M]).
// Gemm: x [N, I] (any shape read as [numel / I, I]), weights [O, I] (transB = 1, FULLY_CONNECTED).
#include <cmath>
#include <vector>

#include "core/errors.h"
#include "runtime/kernels/fixed_point.h"
#include "runtime/kernels/window.h"
#include "core/thread_pool.h"

namespace transfix {
namespace {

using namespace qfixed;

// Per-output-channel requantization: weight offsets and multipliers, bias, output range.
// requantize = "fp32" (set by QuantMode::kIntegerXnnpack) scales as TFLite's XNNPACK delegate does
// instead: float(acc) * float(x_scale * w_scale[o] / y_scale), rounded half to even.
struct Requantizer {
  std::vector<int32_t> weight_zero;
  std::vector<int64_t> bias;
  std::vector<Multiplier> multiplier;
  std::vector<float> float_scale;  // only for requantize = "fp32"
  int32_t out_zero = 0;
  Range range;
  bool wide_accumulator = false;  // 16x8 without an int32 bias
  // `wide` is the accumulator. For 8-bit activations TFLite keeps it in int32, so it wraps the same
  // way (only models with enormous reductions get there; wrapping keeps them defined).
  int32_t apply(int64_t o, int64_t wide) const {
    const size_t c = static_cast<size_t>(o);
    if (wide_accumulator) {
      const int32_t scaled = multiply_by_quantized_multiplier_wide(wide, multiplier[c]);
      return clamp_to_range(scaled);
    }
    const int32_t acc = static_cast<int32_t>(wide);
    const int32_t scaled = float_scale.empty()
                               ? multiply_by_quantized_multiplier(acc, multiplier[c])
                               : saturating_int(std::nearbyint(static_cast<float>(acc) * float_scale[c]));
    return clamp_to_range(scaled);
  }
  // scaled + out_zero clamped to the output range, added in 64 bits: a saturated `scaled` (a hostile
  // multiplier or scale) plus a negative zero point overflowed int32 (UB; found by tools/fuzz).
  int32_t clamp_to_range(int32_t scaled) const {
    const int64_t v = int64_t{scaled} + out_zero;
    return static_cast<int32_t>(std::min<int64_t>(range.hi, std::max<int64_t>(range.lo, v)));
  }
};

// `channel_axis`: the weights' output-channel axis (where per-channel scales must lie).
Requantizer make_requantizer(const KernelContext& ctx, const Tensor& x, const Tensor& w, const Tensor* bias,
                             int64_t out_channels, int64_t channel_axis) {
  const TensorQuant in = per_tensor_quant(ctx, x, "input");
  const TensorQuant out = output_quant(ctx, 0);
  const auto& wq = w.quant();
  if (!wq || wq->scale.empty()) ctx.fail("weights have no quantization parameters");
  if (wq->per_axis() && (static_cast<int64_t>(wq->scale.size()) != out_channels || wq->axis != channel_axis))
    ctx.fail("weights are quantized along axis " + std::to_string(wq->axis) + " with " + std::to_string(wq->scale.size()) +
             " scales; expected one per output channel (axis " + std::to_string(channel_axis) + ")");
  const std::string requantize = ctx.node.attr_string("requantize", "tflite");
  if (requantize != "tflite" && requantize != "fp32") ctx.fail("requantize must be tflite or fp32, not " + requantize);
  Requantizer r;
  const bool int16 = x.dtype() == DType::kI16;
  r.wide_accumulator = int16 && !(bias && bias->dtype() == DType::kI32);
  const bool fp32 = requantize == "fp32";
  r.out_zero = out.zero_point;
  r.range = activation_range(ctx, x.dtype(), out);
  for (int64_t o = 0; o < out_channels; ++o) {
    const size_t p = wq->per_axis() ? static_cast<size_t>(o) : 0;
    if (!(wq->scale[p] >= 0) || !std::isfinite(wq->scale[p])) ctx.fail("weight scales must be finite and >= 0");
    const int64_t zero = wq->zero_point.empty() ? 0 : wq->zero_point[std::min(p, wq->zero_point.size() - 1)];
    if (zero < -32768 || zero > 65535) ctx.fail("weight zero point " + std::to_string(zero) + " is out of range");
    r.weight_zero.push_back(static_cast<int32_t>(zero));
    r.multiplier.push_back(quantize_multiplier(in.scale * static_cast<double>(wq->scale[p]) / out.scale));
    if (fp32) r.float_scale.push_back(static_cast<float>(in.scale) * wq->scale[p] / static_cast<float>(out.scale));
  }
  r.bias.assign(static_cast<size_t>(out_channels), 0);
  if (bias) {
    if (bias->dtype() != DType::kI32 && !(int16 && bias->dtype() == DType::kI64))
      ctx.fail(std::string("bias must be int32") + (int16 ? " or int64" : "") + ", got " + dtype_name(bias->dtype()));
    if (bias->numel() != out_channels) ctx.fail("bias has " + std::to_string(bias->numel()) + " values for " +
                                                std::to_string(out_channels) + " output channels");
    if (bias->dtype() == DType::kI64) std::copy_n(bias->data<int64_t>(), out_channels, r.bias.begin());
    else std::copy_n(bias->data<int32_t>(), out_channels, r.bias.begin());
  }
  return r;
}

// Input minus its zero point, as int32 (so inner loops do no conversions).
std::vector<int32_t> centered(const KernelContext& ctx, const Tensor& x, const char* what) {
  const int32_t zero = per_tensor_quant(ctx, x, what).zero_point;
  std::vector<int32_t> v(static_cast<size_t>(x.numel()));
  for (int64_t i = 0; i < x.numel(); ++i) v[static_cast<size_t>(i)] = load_q(x, i) - zero;
  return v;
}

// Weights minus their per-output-channel zero point; `channel_of(i)` gives element i's channel.
template <typename ChannelOf>
std::vector<int32_t> centered_weights(const Tensor& w, const Requantizer& r, ChannelOf channel_of) {
  std::vector<int32_t> v(static_cast<size_t>(w.numel()));
  for (int64_t i = 0; i < w.numel(); ++i) v[static_cast<size_t>(i)] = load_q(w, i) - r.weight_zero[static_cast<size_t>(channel_of(i))];
  return v;
}

// uint8 / int8 activations with weights of their kind, or int16 activations with int8 weights.
void require_operand_types(const KernelContext& ctx, const Tensor& x, const Tensor& w) {
  require_u8_i8_or_i16(ctx, x, "input");
  require_u8_or_i8(ctx, w, "weights");
  if (x.dtype() == DType::kI16 && w.dtype() != DType::kI8)
    throw UnsupportedError(std::string("int16 input needs int8 weights (16x8), got ") + dtype_name(w.dtype()),
                           ctx.node.op_type);
}

struct ConvShape {
  int64_t batch, in_h, in_w, channels, out_channels, kh, kw, group;
  Window3D win;
};

ConvShape conv_shape(KernelContext& ctx, const Tensor& x, const Tensor& w, bool depthwise) {
  if (x.rank() != 4) ctx.fail("NHWC input must be [N, H, W, C], got " + shape_str(x.shape()));
  if (w.rank() != 4) ctx.fail("weights must have rank 4, got " + shape_str(w.shape()));
  ConvShape c{x.dim(0), x.dim(1), x.dim(2), x.dim(3), w.dim(depthwise ? 3 : 0), w.dim(1), w.dim(2),
              ctx.node.attr_int("group", 1), {}};
  const bool ok = depthwise ? w.dim(0) == 1 && c.group == c.channels && c.channels > 0 && c.out_channels % c.channels == 0
                            : c.group > 0 && c.channels % c.group == 0 && c.out_channels % c.group == 0 &&
                                  w.dim(3) == c.channels / c.group;
  if (!ok) ctx.fail("weights " + shape_str(w.shape()) + " do not fit input " + shape_str(x.shape()) + " with group " +
                    std::to_string(c.group));
  c.win = to_3d(window_geometry(ctx, {c.in_h, c.in_w}, {c.kh, c.kw}, false), "Conv");
  return c;
}

void quantized_conv(KernelContext& ctx) {
  const std::string layout = ctx.node.attr_string("layout", "NHWC");
  const std::string weight_layout = ctx.node.attr_string("weight_layout", "OHWI");
  if (layout != "NHWC" || (weight_layout != "OHWI" && weight_layout != "1HWO"))
    throw UnsupportedError("quantized Conv needs layout NHWC and weights OHWI or 1HWO", "Conv");
  const Tensor& x = ctx.input(0);
  const Tensor& w = ctx.input(1);
  require_operand_types(ctx, x, w);
  const bool depthwise = weight_layout == "1HWO";
  const ConvShape c = conv_shape(ctx, x, w, depthwise);
  const Requantizer r = make_requantizer(ctx, x, w, ctx.optional_input(2), c.out_channels, depthwise ? 3 : 0);
  const std::vector<int32_t> xs = centered(ctx, x, "input");
  const int64_t per_o = depthwise ? 1 : c.kh * c.kw * (c.channels / c.group);
  const std::vector<int32_t> ws = centered_weights(w, r, [&](int64_t i) { return depthwise ? i % c.out_channels : i / per_o; });
  const int64_t oh = c.win.out[1], ow = c.win.out[2], O = c.out_channels, C = c.channels;
  const int64_t cin_g = C / c.group, cout_g = O / c.group, mult = depthwise ? O / C : 1;
  Tensor y = Tensor::uninitialized(x.dtype(), {c.batch, oh, ow, O});
  parallel_for(c.batch * oh * ow, [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      const int64_t n = p / (oh * ow), yy = (p / ow) % oh, xx = p % ow;
      for (int64_t o = 0; o < O; ++o) {
        int64_t acc = r.bias[static_cast<size_t>(o)];
        for (int64_t ky = 0; ky < c.kh; ++ky) {
          const int64_t iy = yy * c.win.s[1] + ky * c.win.d[1] - c.win.p[1];
          if (iy < 0 || iy >= c.in_h) continue;
          for (int64_t kx = 0; kx < c.kw; ++kx) {
            const int64_t ix = xx * c.win.s[2] + kx * c.win.d[2] - c.win.p[2];
            if (ix < 0 || ix >= c.in_w) continue;
            const int32_t* xp = xs.data() + ((n * c.in_h + iy) * c.in_w + ix) * C;
            if (depthwise) {
              acc += xp[o / mult] * ws[static_cast<size_t>((ky * c.kw + kx) * O + o)];
            } else {
              const int32_t* wp = ws.data() + ((o * c.kh + ky) * c.kw + kx) * cin_g;
              const int32_t* xg = xp + (o / cout_g) * cin_g;
              for (int64_t i = 0; i < cin_g; ++i) acc += xg[i] * wp[i];
            }
          }
        }
        store_q(y, p * O + o, r.apply(o, acc));
      }
    }
  }, 4);
  ctx.set_output(0, y);
}

// FULLY_CONNECTED: x [N, I] x weights [O, I]^T.
void quantized_gemm(KernelContext& ctx) {
  if (ctx.node.attr_int("transA", 0) != 0 || ctx.node.attr_int("transB", 0) != 1)
    throw UnsupportedError("quantized Gemm needs transA = 0 and transB = 1 (FULLY_CONNECTED)", "Gemm");
  const Tensor& x = ctx.input(0);
  const Tensor& w = ctx.input(1);
  require_operand_types(ctx, x, w);
  // TFLite reads any input as [numel / I, I]; keep_num_dims keeps its leading dims in the output.
  if (x.rank() < 1 || w.rank() != 2 || w.dim(1) < 1 || x.numel() % w.dim(1) != 0)
    ctx.fail("input " + shape_str(x.shape()) + " and weights " + shape_str(w.shape()) + " do not fit [N, I] x [O, I]^T");
  const int64_t I = w.dim(1), N = x.numel() / I, O = w.dim(0);
  Shape out_shape{N, O};
  if (ctx.node.attr_int("keep_num_dims", 0) != 0) {
    if (x.dim(x.rank() - 1) != I) ctx.fail("keep_num_dims needs the input's last dim to be " + std::to_string(I));
    out_shape.assign(x.shape().begin(), x.shape().end() - 1);
    out_shape.push_back(O);
  }
  const Requantizer r = make_requantizer(ctx, x, w, ctx.optional_input(2), O, 0);
  const std::vector<int32_t> xs = centered(ctx, x, "input");
  const std::vector<int32_t> ws = centered_weights(w, r, [&](int64_t i) { return i / I; });
  Tensor y = Tensor::uninitialized(x.dtype(), out_shape);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t o = 0; o < O; ++o) {
      int64_t acc = r.bias[static_cast<size_t>(o)];
      for (int64_t i = 0; i < I; ++i) acc += xs[static_cast<size_t>(n * I + i)] * ws[static_cast<size_t>(o * I + i)];
      store_q(y, n * O + o, r.apply(o, acc));
    }
  ctx.set_output(0, y);
}

[[maybe_unused]] const bool kRegistered = [] {
  register_kernel("Conv", KernelInfo{quantized_conv, true}, kTfliteQuantizedDomain);
  register_kernel("Gemm", KernelInfo{quantized_gemm, true}, kTfliteQuantizedDomain);
  return true;
}();

}  // namespace
}  // namespace transfix
