#include "compare/weight_precision.h"

#include <algorithm>
#include <cmath>
#include <set>

#include "core/tensor_math.h"

namespace transfix {
namespace {

// Ops that hand a constant on unchanged in value (a reader's or converter's plumbing).
bool passes_values_on(const std::string& op) {
  return op == "Identity" || op == "Reshape" || op == "Transpose" || op == "Squeeze" || op == "Unsqueeze";
}

// A few float32 ulps of every weight and of the bias: what rewriting weights in float32 (BatchNorm
// folded in, scales multiplied through) leaves. A faithful fp32 TFLite conversion of a Keras
// MobileNetV2 showed 2.1e-5 on a 6.0-scale tensor (44 ulps of the output), where the fold alone gives 1.5e-5.
constexpr double kFoldUlps = 16;
constexpr double kFloat32HalfUlp = 1.0 / (1 << 24);  // relative
constexpr double kFloat16HalfUlp = 1.0 / (1 << 11);  // relative

}  // namespace

std::string StoredWeight::describe() const {
  switch (storage) {
    case WeightStorage::kFloat32: return "float32";
    case WeightStorage::kFloat16: return "float16";
    case WeightStorage::kInteger: return std::string(dtype_name(stored_dtype)) + (per_channel ? " (per channel)" : " (per tensor)");
  }
  return "?";
}

std::optional<StoredWeight> stored_weight(const Graph& g, const std::string& name) {
  std::string v = name;
  std::set<std::string> seen;
  while (seen.insert(v).second) {
    if (auto it = g.initializers.find(v); it != g.initializers.end()) {
      const Tensor& t = it->second;
      StoredWeight sw;
      sw.initializer = v;
      sw.stored_dtype = t.dtype();
      if (t.dtype() == DType::kF16) {
        sw.storage = WeightStorage::kFloat16;
      } else if (is_integer(t.dtype()) && t.quant() && !t.quant()->scale.empty()) {
        sw.storage = WeightStorage::kInteger;
        for (float x : t.quant()->scale) sw.steps.push_back(std::fabs(static_cast<double>(x)));
        for (double x : sw.steps) sw.step = std::max(sw.step, x);
        sw.per_channel = sw.steps.size() > 1;
      } else if (t.dtype() != DType::kF32 && t.dtype() != DType::kF64) {
        return std::nullopt;  // integer data, not weights
      }
      return sw;
    }
    const Node* p = g.producer(v);
    if (!p || p->inputs.empty()) return std::nullopt;
    if (p->op_type == "DequantizeLinear" && p->domain.empty()) {
      auto q = g.initializers.find(p->inputs[0]);
      if (q == g.initializers.end() || !is_integer(q->second.dtype())) return std::nullopt;
      StoredWeight sw;
      sw.storage = WeightStorage::kInteger;
      sw.initializer = p->inputs[0];
      sw.stored_dtype = q->second.dtype();
      if (p->has_input(1))
        if (auto s = g.initializers.find(p->inputs[1]); s != g.initializers.end()) {
          for (double x : s->second.to_f64_vector()) sw.steps.push_back(std::fabs(x));
          sw.per_channel = sw.steps.size() > 1;
        }
      if (sw.steps.empty() && q->second.quant()) {
        for (float x : q->second.quant()->scale) sw.steps.push_back(std::fabs(static_cast<double>(x)));
        sw.per_channel = q->second.quant()->per_axis();
      }
      for (double x : sw.steps) sw.step = std::max(sw.step, x);
      return sw;
    }
    if (p->op_type == "Cast" || passes_values_on(p->op_type)) {
      v = p->inputs[0];
      continue;
    }
    return std::nullopt;
  }
  return std::nullopt;
}

std::optional<Tensor> stored_weight_real(const Graph& g, const std::string& name) {
  std::string v = name;
  std::set<std::string> seen;
  while (seen.insert(v).second) {
    if (auto it = g.initializers.find(v); it != g.initializers.end()) return real_f64(it->second);
    const Node* p = g.producer(v);
    if (!p || p->inputs.empty() || !p->domain.empty()) return std::nullopt;
    if (p->op_type == "Cast" || p->op_type == "Identity") {
      v = p->inputs[0];
      continue;
    }
    if (p->op_type != "DequantizeLinear" || !p->has_input(1)) return std::nullopt;
    auto q = g.initializers.find(p->inputs[0]);
    auto scale = g.initializers.find(p->inputs[1]);
    if (q == g.initializers.end() || scale == g.initializers.end() || !is_integer(q->second.dtype())) return std::nullopt;
    QuantParams params;
    for (double x : scale->second.to_f64_vector()) params.scale.push_back(static_cast<float>(x));
    if (p->has_input(2))
      if (auto zp = g.initializers.find(p->inputs[2]); zp != g.initializers.end())
        for (double x : zp->second.to_f64_vector()) params.zero_point.push_back(static_cast<int64_t>(x));
    params.axis = params.per_axis() ? p->attr_int("axis", 1) : 0;
    if (params.axis < 0) params.axis += static_cast<int64_t>(q->second.rank());
    if (params.per_axis() && (params.axis < 0 || params.axis >= static_cast<int64_t>(q->second.rank()) ||
                              q->second.dim(params.axis) != static_cast<int64_t>(params.scale.size())))
      return std::nullopt;
    Tensor stored = q->second;
    stored.set_quant(params);
    return real_f64(stored);
  }
  return std::nullopt;
}

int64_t weight_output_axis(const Node& op, int64_t rank) {
  if (op.op_type == "Gemm") return op.attr_int("transB", 0) ? 0 : rank - 1;
  if (op.op_type == "MatMul") return rank - 1;
  if (op.op_type == "ConvTranspose") return 1;
  return op.attr_string("weight_layout", "") == "1HWO" ? rank - 1 : 0;
}

WeightSummary summarize_weight(const Tensor& w, bool channel_last) {
  const Tensor real = real_f64(w);
  const int64_t out_channels = std::max<int64_t>(real.rank() == 0 ? 1 : (channel_last ? real.dim(-1) : real.dim(0)), 1);
  const int64_t per = real.numel() / out_channels;
  std::vector<double> l1(static_cast<size_t>(out_channels), 0.0);
  const double* v = real.data<double>();
  for (int64_t i = 0; i < real.numel(); ++i) l1[static_cast<size_t>(channel_last ? i % out_channels : i / per)] += std::fabs(v[i]);
  return {static_cast<double>(per), *std::max_element(l1.begin(), l1.end())};
}

double weight_rounding_sigma(const StoredWeight& sw, const WeightSummary& ws, double input_rms) {
  if (sw.storage != WeightStorage::kInteger) return 0.0;
  return std::sqrt(ws.fan_in / 12.0) * sw.step * input_rms;
}

double weight_storage_bound(const StoredWeight& sw, const WeightSummary& ws, double input_max, double bias_max) {
  const double sensitivity = input_max * ws.max_channel_l1 + bias_max;
  double bound = kFoldUlps * kFloat32HalfUlp * sensitivity;
  if (sw.storage == WeightStorage::kFloat16) bound += kFloat16HalfUlp * sensitivity;
  if (sw.storage == WeightStorage::kInteger) bound += 6.0 * weight_rounding_sigma(sw, ws, input_max);
  return bound;
}

}  // namespace transfix
