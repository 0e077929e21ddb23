#include "runtime/kernels/fixed_point.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace transfix::qfixed {

Multiplier quantize_multiplier(double real_multiplier) {
  if (!(real_multiplier > 0) || !std::isfinite(real_multiplier)) return {};
  int exponent = 0;
  const double fraction = std::frexp(real_multiplier, &exponent);  // in [0.5, 1)
  int64_t significand = static_cast<int64_t>(std::round(fraction * static_cast<double>(int64_t{1} << 31)));
  if (significand == (int64_t{1} << 31)) {
    significand /= 2;
    ++exponent;
  }
  if (exponent < -31) return {};  // every bit would be shifted out
  // Multipliers >= 2^31 do not occur in converted models; saturate rather than overflow.
  if (exponent > 30) return {INT32_MAX, 30};
  return {static_cast<int32_t>(significand), exponent};
}

namespace {

// Scale > 0 and a zero point an 8/16-bit tensor can hold: the integer arithmetic stays in range.
TensorQuant checked(const KernelContext& ctx, const QuantParams* q, const std::string& what) {
  if (!q || q->scale.empty()) ctx.fail(what + " has no quantization parameters");
  if (q->per_axis()) ctx.fail(what + " must be quantized per tensor");
  const double scale = q->scale[0];
  const int64_t zero = q->zero_point.empty() ? 0 : q->zero_point[0];
  if (!(scale > 0) || !std::isfinite(scale)) ctx.fail(what + ": scale must be positive, got " + std::to_string(scale));
  if (zero < -32768 || zero > 65535) ctx.fail(what + ": zero point " + std::to_string(zero) + " is out of range");
  return {scale, static_cast<int32_t>(zero)};
}

}  // namespace

TensorQuant per_tensor_quant(const KernelContext& ctx, const Tensor& t, const char* what) {
  return checked(ctx, t.quant() ? &*t.quant() : nullptr, what);
}

TensorQuant output_quant(const KernelContext& ctx, size_t i) {
  return checked(ctx, ctx.output_quant(i), "output " + std::to_string(i));
}

TensorQuant same_quantization_in_and_out(const KernelContext& ctx, const Tensor& x) {
  const TensorQuant in = per_tensor_quant(ctx, x, "input"), out = output_quant(ctx, 0);
  if (in.scale != out.scale || in.zero_point != out.zero_point)
    throw UnsupportedError("quantized " + ctx.node.op_type + " with different input and output quantization is not supported",
                           ctx.node.op_type);
  return out;
}

void run_default_kernel(KernelContext& ctx, const std::vector<const Tensor*>& inputs) {
  const KernelInfo* kernel = find_kernel(ctx.node.op_type);
  if (!kernel) throw UnsupportedError("no kernel for " + ctx.node.op_type, ctx.node.op_type);
  Node node = ctx.node;
  node.domain.clear();
  node.inputs.resize(inputs.size(), "value");
  std::vector<const ValueInfo*> infos;
  for (size_t i = 0; i < ctx.num_outputs(); ++i) infos.push_back(ctx.output_info(i));
  KernelContext inner(node, ctx.opset, ctx.precision, inputs, infos);
  kernel->fn(inner);
  for (size_t i = 0; i < ctx.num_outputs(); ++i) ctx.set_output(i, inner.outputs()[i]);
}

Range dtype_range(const KernelContext& ctx, DType t) {
  switch (t) {
    case DType::kU8: return {0, 255};
    case DType::kI8: return {-128, 127};
    case DType::kI16: return {-32768, 32767};
    default: ctx.fail(std::string("quantized tensors of type ") + dtype_name(t) + " are not supported");
  }
}

Range activation_range(const KernelContext& ctx, DType out_type, const TensorQuant& out) {
  const Range full = dtype_range(ctx, out_type);
  const std::string act = ctx.node.attr_string("fused_activation", "NONE");
  // TFLite quantizes the bounds in float with round-half-away-from-zero.
  auto quantize = [&](float v) {
    return out.zero_point + saturating_int(std::round(v / static_cast<float>(out.scale)));
  };
  if (act == "NONE") return full;
  if (act == "RELU") return {std::max(full.lo, quantize(0.0f)), full.hi};
  if (act == "RELU6") return {std::max(full.lo, quantize(0.0f)), std::min(full.hi, quantize(6.0f))};
  if (act == "RELU_N1_TO_1") return {std::max(full.lo, quantize(-1.0f)), std::min(full.hi, quantize(1.0f))};
  throw UnsupportedError("fused activation " + act + " on a quantized op is not supported", ctx.node.op_type);
}

void require_u8_or_i8(const KernelContext& ctx, const Tensor& t, const char* what) {
  if (t.dtype() != DType::kU8 && t.dtype() != DType::kI8)
    throw UnsupportedError(std::string(what) + " of type " + dtype_name(t.dtype()) +
                           ": only uint8 and int8 quantized tensors are supported", ctx.node.op_type);
}

void require_u8_i8_or_i16(const KernelContext& ctx, const Tensor& t, const char* what) {
  if (t.dtype() != DType::kU8 && t.dtype() != DType::kI8 && t.dtype() != DType::kI16)
    throw UnsupportedError(std::string(what) + " of type " + dtype_name(t.dtype()) +
                           ": only uint8, int8 and int16 quantized tensors are supported", ctx.node.op_type);
}

namespace {

Tensor map_int16(const KernelContext& ctx, const Tensor& x, const std::function<int32_t(int32_t)>& value) {
  const Range range = dtype_range(ctx, x.dtype());
  auto clamped = [&](int32_t q) { return static_cast<int16_t>(std::min(range.hi, std::max(range.lo, value(q)))); };
  Tensor y = Tensor::uninitialized(x.dtype(), x.shape());
  const int16_t* in = x.data<int16_t>();
  int16_t* out = y.mutable_data<int16_t>();
  constexpr int64_t kValues = 65536;
  if (x.numel() <= kValues) {
    for (int64_t i = 0; i < x.numel(); ++i) out[i] = clamped(in[i]);
    return y;
  }
  std::vector<int16_t> table(kValues);  // indexed by q + 32768
  for (int32_t q = range.lo; q <= range.hi; ++q) table[static_cast<size_t>(q + 32768)] = clamped(q);
  for (int64_t i = 0; i < x.numel(); ++i) out[i] = table[static_cast<size_t>(in[i] + 32768)];
  return y;
}

}  // namespace

std::vector<int16_t> make_int16_lut(double (*f)(double), double in_min, double in_max) {
  constexpr int kSteps = 512;
  constexpr double kScale = 32768.0;  // 2^16 output values over the range [-1, 1]
  const double step = (in_max - in_min) / kSteps, half_step = step / 2;
  auto clamp16 = [](double v) { return static_cast<int16_t>(std::min(32767.0, std::max(-32768.0, v))); };
  std::vector<int16_t> lut(kSteps + 1);
  for (int i = 0; i < kSteps; ++i) {
    const double at = f(in_min + i * step), midpoint = f(in_min + i * step + half_step), next = f(in_min + (i + 1) * step);
    const double sample = std::round(at * kScale);
    const double interpolated = std::round((next * kScale + std::round(at * kScale)) / 2);
    const double bias = std::round((interpolated - std::round(midpoint * kScale)) / 2);
    lut[static_cast<size_t>(i)] = clamp16(sample - bias);
  }
  lut[kSteps] = clamp16(std::round(f(in_max) * kScale));
  return lut;
}

Tensor map_through_table(const KernelContext& ctx, const Tensor& x, const std::function<int32_t(int32_t)>& value) {
  require_u8_i8_or_i16(ctx, x, "input");
  if (x.dtype() == DType::kI16) return map_int16(ctx, x, value);
  const Range range = dtype_range(ctx, x.dtype());
  uint8_t table[256];  // indexed by the element's byte
  for (int32_t q = range.lo; q <= range.hi; ++q) {
    const int32_t v = std::min(range.hi, std::max(range.lo, value(q)));
    table[static_cast<uint8_t>(q)] = static_cast<uint8_t>(v);
  }
  Tensor y = Tensor::uninitialized(x.dtype(), x.shape());
  const auto* in = static_cast<const uint8_t*>(x.raw());
  auto* out = static_cast<uint8_t*>(y.raw_mutable());
  for (int64_t i = 0; i < x.numel(); ++i) out[i] = table[in[i]];
  return y;
}

}  // namespace transfix::qfixed
