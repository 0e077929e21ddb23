#include "compare/intended_precision.h"

#include <algorithm>
#include <cmath>
#include <set>

#include "compare/weight_precision.h"
#include "runtime/quant_simulation.h"

namespace transfix {

bool computes_in_fp16(const Model& model) {
  for (const auto& [name, v] : model.graph.value_info)
    if (v.dtype == DType::kF16 && !model.graph.initializers.count(name)) return true;
  for (const auto& v : model.graph.outputs)
    if (v.dtype == DType::kF16) return true;
  for (const auto& n : model.graph.nodes)
    if (n.op_type == "Cast" && n.attr_int("to", 0) == 10) return true;  // 10: ONNX FLOAT16
  return false;
}
namespace {

bool reads_weights(const std::string& op) { return op == "Conv" || op == "ConvTranspose" || op == "Gemm" || op == "MatMul"; }

std::string count_str(int n, const std::string& what) { return std::to_string(n) + " " + what; }

IntendedPrecision precision(PrecisionKind kind, const std::string& name, const std::string& evidence,
                            bool activations_in_graph) {
  return IntendedPrecision{kind, name, evidence, activations_in_graph};
}

// Integer ops of a TFLite model: int16 activations mean 16x8, uint8 ones uint8, else int8.
IntendedPrecision integer_model_precision(const Model& m) {
  bool int16 = false, uint8 = false;
  for (const auto& [name, v] : m.graph.value_info) {
    if (m.graph.initializers.count(name) || !v.quant || v.quant->scale.empty()) continue;
    int16 |= v.dtype == DType::kI16;
    uint8 |= v.dtype == DType::kU8;
  }
  int ops = 0;
  for (const auto& n : m.graph.nodes) ops += n.domain == "tflite.quantized";
  const std::string evidence = count_str(ops, "integer ops");
  if (int16) return precision(PrecisionKind::kInt16x8, "16x8", evidence + " on int16 activations", true);
  return precision(PrecisionKind::kInt8, uint8 ? "uint8" : "int8", evidence, true);
}

// w rounded to a symmetric int8 grid per channel along `axis`: scale max|w_c| / 127.
Tensor int8_rounded(const Tensor& w, int64_t axis) {
  Tensor real = w.cast(DType::kF64).clone();
  double* v = real.mutable_data<double>();
  const int64_t channels = std::max<int64_t>(real.dim(axis), 1);
  int64_t inner = 1;
  for (int64_t d = axis + 1; d < real.rank(); ++d) inner *= real.dim(d);
  std::vector<double> scale(static_cast<size_t>(channels), 0.0);
  for (int64_t i = 0; i < real.numel(); ++i) {
    auto& s = scale[static_cast<size_t>((i / inner) % channels)];
    s = std::max(s, std::fabs(v[i]) / 127.0);
  }
  for (int64_t i = 0; i < real.numel(); ++i) {
    const double s = scale[static_cast<size_t>((i / inner) % channels)];
    if (s > 0) v[i] = std::nearbyint(v[i] / s) * s;
  }
  return real.cast(w.dtype());
}

// x on an 8-bit grid over [lo, hi] (0 included), as an asymmetric uint8 quantization puts it.
void round_to_8bit(Tensor& x, double lo, double hi) {
  lo = std::min(lo, 0.0), hi = std::max(hi, 0.0);
  if (hi <= lo) return;
  const double scale = (hi - lo) / 255.0, zero = std::nearbyint(-lo / scale);
  float* v = x.mutable_data<float>();
  for (int64_t i = 0; i < x.numel(); ++i)
    v[i] = static_cast<float>((std::clamp(std::nearbyint(v[i] / scale) + zero, 0.0, 255.0) - zero) * scale);
}

// x on a symmetric int16 grid over [-m, m].
void round_to_16bit(Tensor& x, double m) {
  if (m <= 0) return;
  const double scale = m / 32767.0;
  float* v = x.mutable_data<float>();
  for (int64_t i = 0; i < x.numel(); ++i) v[i] = static_cast<float>(std::nearbyint(v[i] / scale) * scale);
}

std::pair<double, double> range_of(const Tensor& x) {
  const float* v = x.data<float>();
  double lo = 0, hi = 0;
  for (int64_t i = 0; i < x.numel(); ++i)
    if (std::isfinite(v[i])) lo = std::min(lo, static_cast<double>(v[i])), hi = std::max(hi, static_cast<double>(v[i]));
  return {lo, hi};
}

// Rounds values to the simulated precision as the interpreter makes them.
class Rounder : public Observer {
 public:
  Rounder(PrecisionKind kind, const std::set<std::string>& constant, const std::set<std::string>& weight_inputs)
      : kind_(kind), constant_(constant), weight_inputs_(weight_inputs) {}
  void on_value(const std::string&, const Tensor&, const Node*) override {}
  bool substitute(const std::string& name, const Tensor& value, const Node*, Tensor* replacement) override {
    if (value.dtype() != DType::kF32 || constant_.count(name)) return false;
    if (kind_ == PrecisionKind::kDynamicInt8 && !weight_inputs_.count(name)) return false;
    Tensor x = value.clone();
    if (kind_ == PrecisionKind::kFloat16) {
      x = value.cast(DType::kF16).cast(DType::kF32);
    } else if (kind_ == PrecisionKind::kDynamicInt8) {
      const auto [lo, hi] = range_of(x);
      round_to_8bit(x, lo, hi);
    } else {
      auto [lo, hi] = range_of(x);
      auto& seen = ranges_.try_emplace(name, lo, hi).first->second;
      seen.first = std::min(seen.first, lo), seen.second = std::max(seen.second, hi);
      if (kind_ == PrecisionKind::kInt16x8) round_to_16bit(x, std::max(-seen.first, seen.second));
      else round_to_8bit(x, seen.first, seen.second);
    }
    *replacement = std::move(x);
    return true;
  }

 private:
  PrecisionKind kind_;
  const std::set<std::string>& constant_;
  const std::set<std::string>& weight_inputs_;
  std::map<std::string, std::pair<double, double>> ranges_;  // min and max seen so far, per value
};

}  // namespace

IntendedPrecision intended_precision(const Model& target) {
  if (has_quantized_ops(target)) return integer_model_precision(target);
  const Graph& g = target.graph;
  const std::set<std::string> constant = g.constant_value_names();
  int quantized_data = 0, dynamic = 0, int_weights = 0, half_weights = 0;
  bool uint8 = false, int16 = false;
  for (const Node& n : g.nodes) {
    if (!n.domain.empty()) continue;
    if (n.op_type == "DynamicQuantizeLinear") ++dynamic;
    if (n.op_type == "QuantizeLinear" && !n.inputs.empty() && !constant.count(n.inputs[0])) {
      ++quantized_data;
      if (n.has_input(2))
        if (auto zp = g.initializers.find(n.inputs[2]); zp != g.initializers.end()) {
          uint8 |= zp->second.dtype() == DType::kU8;
          int16 |= zp->second.dtype() == DType::kI16;
        }
    }
    if (reads_weights(n.op_type) && n.inputs.size() > 1)
      if (auto sw = stored_weight(g, n.inputs[1])) {
        int_weights += sw->storage == WeightStorage::kInteger;
        half_weights += sw->storage == WeightStorage::kFloat16;
      }
  }
  if (quantized_data > 0) {
    const std::string evidence = count_str(quantized_data, "activations quantized (QuantizeLinear)");
    if (int16) return precision(PrecisionKind::kInt16x8, "16x8", evidence, true);
    return precision(PrecisionKind::kInt8, uint8 ? "uint8" : "int8", evidence, true);
  }
  if (dynamic > 0 || int_weights > 0)
    return precision(PrecisionKind::kDynamicInt8, "dynamic-range int8",
                     count_str(int_weights, "weights stored as integers") +
                         (dynamic ? ", " + count_str(dynamic, "activations quantized at run time") : ""),
                     dynamic > 0);
  if (computes_in_fp16(target)) return precision(PrecisionKind::kFloat16, "float16", "float16 values computed", true);
  if (half_weights > 0)
    return precision(PrecisionKind::kFloat16Weights, "float16 weights", count_str(half_weights, "weights stored as float16"), false);
  return {};
}

struct PrecisionSimulator::State {
  Model model;
  std::set<std::string> constant, weight_inputs;
  std::unique_ptr<Interpreter> interpreter;
  std::unique_ptr<Rounder> rounder;
};

PrecisionSimulator::PrecisionSimulator(const Model& source, const IntendedPrecision& precision, bool activations)
    : state_(std::make_unique<State>()) {
  State& s = *state_;
  s.model = source;
  Graph& g = s.model.graph;
  const bool half = precision.kind == PrecisionKind::kFloat16Weights || precision.kind == PrecisionKind::kFloat16;
  if (half) {
    for (auto& [name, t] : g.initializers)
      if (t.dtype() == DType::kF32) t = t.cast(DType::kF16).cast(DType::kF32);
  } else {
    for (const Node& n : g.nodes) {
      if (!n.domain.empty() || !reads_weights(n.op_type) || n.inputs.size() < 2) continue;
      s.weight_inputs.insert(n.inputs[0]);
      auto w = g.initializers.find(n.inputs[1]);
      if (w != g.initializers.end() && is_float(w->second.dtype()) && w->second.rank() >= 2)
        w->second = int8_rounded(w->second, weight_output_axis(n, w->second.rank()));
    }
  }
  s.constant = g.constant_value_names();
  s.interpreter = std::make_unique<Interpreter>(s.model, InterpreterOptions{Precision::kF32});
  if (activations && precision.kind != PrecisionKind::kFloat16Weights)
    s.rounder = std::make_unique<Rounder>(precision.kind, s.constant, s.weight_inputs);
}

PrecisionSimulator::~PrecisionSimulator() = default;

std::map<std::string, Tensor> PrecisionSimulator::run(const std::map<std::string, Tensor>& inputs) {
  return state_->interpreter->run(inputs, state_->rounder.get());
}

}  // namespace transfix
