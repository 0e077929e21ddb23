// Quantized TFLite LOGISTIC (Sigmoid), TANH, ELU and EXP, domain "tflite.quantized", uint8 -> uint8 or
// int8 -> int8. TFLite's built-in kernels (generic optimized, the default registration) build a
// 256-entry table in float32 for every input integer q and look each element up:
//   x_q = s_x * (q - zp_x)                                   (float)
//   y_q = clamp(round_half_away(f(x_q) * (1 / s_y)) + zp_y)   f = 1 / (1 + expf(-x)), tanhf(x),
//                                                            x < 0 ? expf(x) - 1 : x, expf(x)
// (The reference kernels use gemmlowp fixed-point exp / tanh instead; the interpreter the results
// are checked against runs the table.) TFLite requires s_y = 1/256 with zp_y = 0 (uint8) / -128
// (int8) for LOGISTIC, 1/128 with 128 / 0 for TANH; other output parameters work here too.
//
// LOGISTIC with requantize = "fp32" (QuantMode::kIntegerXnnpack): TFLite's XNNPACK delegate takes
// the op and builds its own table: f(x) = signbit(x) ? 1 / (1 + expf(-x)) : 1 - 1 / (1 + expf(x)),
// x_q = (q - zp_x) * s_x, rounded half to even (lrintf). TANH stays in the built-in kernel, and so
// does a LOGISTIC on more dims than XNNPACK tensors have (6).
#include <cmath>

#include "formats/tflite/tflite_reader.h"
#include "runtime/kernels/fixed_point.h"

namespace transfix {
namespace {

using namespace qfixed;

constexpr int64_t kXnnpackMaxRank = 6;  // XNN_MAX_TENSOR_DIMS

template <typename F>
void table_op(KernelContext& ctx, F f, bool round_half_even) {
  const Tensor& x = ctx.input(0);
  require_u8_or_i8(ctx, x, "input");
  const TensorQuant in = per_tensor_quant(ctx, x, "input"), out = output_quant(ctx, 0);
  const float in_scale = static_cast<float>(in.scale), inverse_out_scale = 1.0f / static_cast<float>(out.scale);
  ctx.set_output(0, map_through_table(ctx, x, [&](int32_t q) {
    const float real = in_scale * static_cast<float>(q - in.zero_point);
    const float steps = f(real) * inverse_out_scale;
    return saturating_int(round_half_even ? std::nearbyint(steps) : std::round(steps)) + out.zero_point;
  }));
}

void quantized_sigmoid(KernelContext& ctx) {
  if (ctx.node.attr_string("requantize", "tflite") == "fp32" && ctx.input(0).rank() <= kXnnpackMaxRank) {
    table_op(ctx, [](float v) { return std::signbit(v) ? 1.0f / (1.0f + std::exp(-v)) : 1.0f - 1.0f / (1.0f + std::exp(v)); },
             true);
    return;
  }
  table_op(ctx, [](float v) { return 1.0f / (1.0f + std::exp(-v)); }, false);
}

void quantized_tanh(KernelContext& ctx) {
  table_op(ctx, [](float v) { return std::tanh(v); }, false);
}

// ELU (alpha 1) and EXP: the same float32 table, f = x < 0 ? expf(x) - 1 : x, and expf(x).
// ELU with requantize = "fp32": XNNPACK's table, x < 0 ? expm1f(x) : x, rounded half to even.
void quantized_elu(KernelContext& ctx) {
  if (ctx.node.attr_string("requantize", "tflite") == "fp32" && ctx.input(0).rank() <= kXnnpackMaxRank) {
    table_op(ctx, [](float v) { return v < 0.0f ? std::expm1(v) : v; }, true);
    return;
  }
  table_op(ctx, [](float v) { return v < 0.0f ? std::exp(v) - 1.0f : v; }, false);
}

void quantized_exp(KernelContext& ctx) {
  table_op(ctx, [](float v) { return std::exp(v); }, false);
}

[[maybe_unused]] const bool kRegistered = [] {
  register_kernel("Sigmoid", KernelInfo{quantized_sigmoid, true}, kTfliteQuantizedDomain);
  register_kernel("Tanh", KernelInfo{quantized_tanh, true}, kTfliteQuantizedDomain);
  register_kernel("Elu", KernelInfo{quantized_elu, true}, kTfliteQuantizedDomain);
  register_kernel("Exp", KernelInfo{quantized_exp, true}, kTfliteQuantizedDomain);
  return true;
}();

}  // namespace
}  // namespace transfix
