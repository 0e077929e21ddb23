#include "runtime/quant_simulation.h"

#include <cmath>
#include <set>
#include <variant>

#include "core/errors.h"

namespace transfix {
namespace {

bool is_quantized_integer(DType t, const std::optional<QuantParams>& q) { return is_integer(t) && q && !q->scale.empty(); }

// (q - zp) * scale along the quantization axis, as float32.
Tensor dequantize_constant(const std::string& name, const Tensor& t) {
  const QuantParams& q = *t.quant();
  const int64_t count = static_cast<int64_t>(q.scale.size());
  int64_t inner = 1;
  if (q.per_axis()) {
    if (q.axis < 0 || q.axis >= static_cast<int64_t>(t.rank()) || t.dim(q.axis) != count)
      throw InputError("constant '" + name + "': " + std::to_string(count) + " scales do not fit its shape " +
                       shape_str(t.shape()) + " along axis " + std::to_string(q.axis));
    for (size_t d = static_cast<size_t>(q.axis) + 1; d < static_cast<size_t>(t.rank()); ++d) inner *= t.dim(d);
  }
  const std::vector<double> values = t.to_f64_vector();
  std::vector<float> out(values.size());
  for (size_t i = 0; i < values.size(); ++i) {
    const size_t p = count == 1 ? 0 : static_cast<size_t>((static_cast<int64_t>(i) / inner) % count);
    const double zero = q.zero_point.empty() ? 0.0 : static_cast<double>(q.zero_point[std::min(p, q.zero_point.size() - 1)]);
    out[i] = static_cast<float>((values[i] - zero) * static_cast<double>(q.scale[p]));
  }
  return Tensor::from_vector<float>(out, t.shape());
}

class Rewriter {
 public:
  Rewriter(const Model& model, bool round_activations)
      : in_(model), out_(model), round_activations_(round_activations) {}

  Model run() {
    Graph& g = out_.graph;
    g.nodes.clear();
    dequantize_initializers();
    for (const ValueInfo& v : in_.graph.inputs)
      if (is_quantized_integer(v.dtype, v.quant)) dequantize_input(v);
    for (const Node& n : in_.graph.nodes) rewrite(n);
    auto to_float = [&](ValueInfo& v) {
      if (is_quantized_integer(v.dtype, v.quant)) v.dtype = DType::kF32;
    };
    for (auto& [name, v] : g.value_info) to_float(v);
    for (ValueInfo& v : g.outputs) to_float(v);
    return std::move(out_);
  }

 private:
  // The (original) static type of a value when it is a quantized integer tensor.
  const ValueInfo* quantized_value(const std::string& name) const {
    const ValueInfo* v = in_.graph.find_value_info(name);
    return v && is_quantized_integer(v->dtype, v->quant) ? v : nullptr;
  }
  // Whether `name` is float in the rewritten graph although it was a quantized integer before.
  bool became_float(const std::string& name) const { return quantized_value(name) || dequantized_.count(name); }

  void dequantize_initializers() {
    for (auto& [name, t] : out_.graph.initializers)
      if (is_quantized_integer(t.dtype(), t.quant())) {
        t = dequantize_constant(name, t);
        dequantized_.insert(name);
      }
  }

  std::string constant(const std::string& name, Tensor t) {
    out_.graph.initializers[name] = std::move(t);
    return name;
  }

  Node& emit(const Node& origin, const std::string& op_type, std::vector<std::string> inputs, std::string output) {
    Node n;
    n.op_type = op_type;
    n.name = output;
    n.inputs = std::move(inputs);
    n.outputs = {std::move(output)};
    n.prov = origin.prov;
    out_.graph.nodes.push_back(std::move(n));
    return out_.graph.nodes.back();
  }

  std::string rename(const std::string& name) const {
    auto it = renamed_.find(name);
    return it == renamed_.end() ? name : it->second;
  }

  // Scale and zero point constants of a quantized value ("<name>/sim_scale", "<name>/sim_zero_point").
  std::pair<std::string, std::string> grid_constants(const ValueInfo& v) {
    const QuantParams& q = *v.quant;
    const Shape shape = q.per_axis() ? Shape{static_cast<int64_t>(q.scale.size())} : Shape{};
    std::vector<double> zp(q.zero_point.begin(), q.zero_point.end());
    if (zp.empty()) zp.assign(q.scale.size(), 0.0);
    return {constant(v.name + "/sim_scale", Tensor::from_vector<float>(q.scale, shape)),
            constant(v.name + "/sim_zero_point", Tensor::from_vector<double>(zp, shape).cast(v.dtype))};
  }

  // value (float) -> rounded to v's grid and clamped -> dequantized, written to v.name.
  // (The float twin skips the rounding: v.name is the float value itself.)
  void round_to_grid(const Node& origin, const std::string& value, const ValueInfo& v) {
    if (!round_activations_) {
      emit(origin, "Identity", {value}, v.name);
      return;
    }
    if (v.dtype != DType::kU8 && v.dtype != DType::kI8 && v.dtype != DType::kI16)
      throw UnsupportedError(std::string("dequantized mode: ") + dtype_name(v.dtype) + " tensor '" + v.name +
                             "' (only uint8 / int8 / int16 are simulated)", origin.prov.op_type);
    auto [scale, zero] = grid_constants(v);
    Node& q = emit(origin, "QuantizeLinear", {value, scale, zero}, v.name + "/sim_quantized");
    if (v.quant->per_axis()) q.attrs["axis"] = Attribute{v.quant->axis};
    Node& d = emit(origin, "DequantizeLinear", {v.name + "/sim_quantized", scale, zero}, v.name);
    if (v.quant->per_axis()) d.attrs["axis"] = Attribute{v.quant->axis};
  }

  void dequantize_input(const ValueInfo& v) {
    auto [scale, zero] = grid_constants(v);
    Node origin;
    origin.prov = v.prov;
    Node& d = emit(origin, "DequantizeLinear", {v.name, scale, zero}, v.name + "/dequantized");
    if (v.quant->per_axis()) d.attrs["axis"] = Attribute{v.quant->axis};
    renamed_[v.name] = v.name + "/dequantized";
  }

  void rewrite(const Node& n) {
    Node copy = n;
    for (auto& in : copy.inputs) in = rename(in);
    if (n.domain == kTfliteQuantizedDomain) return rewrite_quantized(copy, n);
    if (n.domain.empty() && n.op_type == "DequantizeLinear" && !n.inputs.empty() && became_float(n.inputs[0])) {
      emit(n, "Identity", {copy.inputs[0]}, n.outputs.at(0));
      return;
    }
    if (n.domain.empty() && n.op_type == "QuantizeLinear" && n.outputs.size() == 1) {
      if (const ValueInfo* v = quantized_value(n.outputs[0])) {
        copy.outputs[0] = v->name + "/sim_float";
        copy.inputs.resize(1);  // float in; rounding to the grid follows
        copy.op_type = "Identity";
        copy.attrs.clear();
        out_.graph.nodes.push_back(copy);
        round_to_grid(n, v->name + "/sim_float", *v);
        return;
      }
    }
    out_.graph.nodes.push_back(std::move(copy));
  }

  // A tflite.quantized node -> its float counterpart, the fused activation, rounding of the outputs.
  // `n` reads the rewritten values; `original` is the node as the model has it.
  void rewrite_quantized(Node n, const Node& original) {
    const Node origin = n;
    const std::string activation = n.attr_string("fused_activation", "NONE");
    const double beta = n.attr_float("beta", 1.0);
    const bool keep_num_dims = n.attr_int("keep_num_dims", 0) != 0;
    for (const char* key : {"fused_activation", "beta", "keep_num_dims"}) n.attrs.erase(key);
    n.domain.clear();
    if (n.op_type == "Softmax" && beta != 1.0) {
      const std::string scaled = n.outputs.at(0) + "/sim_scaled";
      emit(origin, "Mul", {n.inputs.at(0), constant(scaled + "_beta", Tensor::scalar<float>(static_cast<float>(beta)))}, scaled);
      n.inputs[0] = scaled;
    }
    if (n.op_type == "Gemm") flatten_gemm_input(original, n, keep_num_dims);
    if (n.op_type == "QuantizeLinear") n.op_type = "Identity";  // requantize: the rounding below is all it does
    std::vector<std::pair<std::string, const ValueInfo*>> rounded;
    for (auto& out : n.outputs) {
      const ValueInfo* v = quantized_value(out);
      if (!v) continue;
      rounded.push_back({out + "/sim_float", v});
      out = out + "/sim_float";
    }
    const std::string main_out = n.outputs.at(0);
    out_.graph.nodes.push_back(std::move(n));
    if (keep_num_dims_shape_) restore_gemm_shape(origin, main_out, rounded);
    const std::string applied = activation != "NONE" || round_activations_ || rounded.empty()
                                    ? activation : activation_implied_by_range(*rounded.front().second);
    if (applied != "NONE") float_activation(origin, applied, rounded);
    for (const auto& [value, v] : rounded) round_to_grid(origin, value, *v);
  }

  // Gemm needs a 2-D input: TFLite reads x as [numel / I, I]. Shapes are looked up under the
  // model's own names (`origin`): a quantized graph input is read through its dequantized copy.
  void flatten_gemm_input(const Node& origin, Node& n, bool keep_num_dims) {
    keep_num_dims_shape_.reset();
    const ValueInfo* x = in_.graph.find_value_info(origin.inputs.at(0));
    const auto w = in_.graph.initializers.find(origin.inputs.at(1));
    if (!x || !x->has_shape || w == in_.graph.initializers.end() || w->second.rank() != 2)
      throw UnsupportedError("dequantized mode: FULLY_CONNECTED needs a known input shape and constant weights", "Gemm");
    if (x->shape.size() == 2 && x->shape[1] == w->second.dim(1)) return;
    const std::string flat = origin.outputs.at(0) + "/sim_flattened";
    emit(origin, "Reshape", {n.inputs[0], constant(flat + "_shape", Tensor::from_vector<int64_t>({-1, w->second.dim(1)}, {2}))}, flat);
    n.inputs[0] = flat;
    if (keep_num_dims && x->shape.size() != 2) {
      Shape s(x->shape.begin(), x->shape.end() - 1);
      s.push_back(w->second.dim(0));
      keep_num_dims_shape_ = s;
    }
  }

  void restore_gemm_shape(const Node& origin, const std::string& value,
                          std::vector<std::pair<std::string, const ValueInfo*>>& rounded) {
    const std::string restored = value + "_restored";
    emit(origin, "Reshape", {value, constant(restored + "_shape", Tensor::from_vector<int64_t>(*keep_num_dims_shape_,
                                                                                                {static_cast<int64_t>(keep_num_dims_shape_->size())}))},
         restored);
    for (auto& r : rounded)
      if (r.first == value) r.first = restored;
    keep_num_dims_shape_.reset();
  }

  // Converters (TOCO's uint8 models among them) often write a ReLU / ReLU6 only as the output's
  // range, with no fused activation: [0, 6] on the grid is the ReLU6. The integer model clamps there
  // on every output, so the float twin must too, or it is a different, unbounded network. Only a
  // range that starts exactly at 0 (zero point = the type's minimum) is read as an activation; its top
  // counts as the ReLU6 bound when within one step of 6. Other range limits stay quantization's.
  static std::string activation_implied_by_range(const ValueInfo& v) {
    if (!v.quant || v.quant->per_axis() || v.quant->scale.size() != 1) return "NONE";
    const double scale = v.quant->scale[0];
    const int64_t zp = v.quant->zero_point.empty() ? 0 : v.quant->zero_point[0];
    int64_t qmin = 0, qmax = 0;
    if (v.dtype == DType::kU8) qmin = 0, qmax = 255;
    else if (v.dtype == DType::kI8) qmin = -128, qmax = 127;
    else return "NONE";
    if (zp != qmin || !(scale > 0)) return "NONE";
    const double top = scale * static_cast<double>(qmax - zp);
    return std::abs(top - 6.0) <= scale ? "RELU6" : "RELU";
  }

  // RELU / RELU6 / RELU_N1_TO_1 in float on every rounded output.
  void float_activation(const Node& origin, const std::string& activation,
                        std::vector<std::pair<std::string, const ValueInfo*>>& rounded) {
    for (auto& r : rounded) {
      const std::string activated = r.first + "_activated";
      if (activation == "RELU") {
        emit(origin, "Relu", {r.first}, activated);
      } else if (activation == "RELU6" || activation == "RELU_N1_TO_1") {
        const float lo = activation == "RELU6" ? 0.0f : -1.0f, hi = activation == "RELU6" ? 6.0f : 1.0f;
        emit(origin, "Clip", {r.first, constant(activated + "_min", Tensor::scalar<float>(lo)),
                              constant(activated + "_max", Tensor::scalar<float>(hi))}, activated);
      } else {
        throw UnsupportedError("dequantized mode: fused activation " + activation, origin.op_type);
      }
      r.first = activated;
    }
  }

  const Model& in_;
  Model out_;
  const bool round_activations_;
  std::set<std::string> dequantized_;                  // initializers turned float
  std::map<std::string, std::string> renamed_;         // quantized graph inputs -> their dequantized value
  std::optional<Shape> keep_num_dims_shape_;
};

}  // namespace

bool has_quantized_ops(const Model& model) {
  for (const Node& n : model.graph.nodes)
    if (n.domain == kTfliteQuantizedDomain) return true;
  return false;
}

Model dequantized_model(const Model& model) { return Rewriter(model, true).run(); }

Model float_twin_model(const Model& model) { return Rewriter(model, false).run(); }

Model float32_twin_of_fp16(const Model& model) {
  constexpr int64_t kOnnxFloat = 1, kOnnxFloat16 = 10;
  Model out = model;
  Graph& g = out.graph;
  for (auto& [name, t] : g.initializers)
    if (t.dtype() == DType::kF16) t = t.cast(DType::kF32);
  for (Node& n : g.nodes) {
    if (n.op_type == "Cast" && n.attr_int("to", 0) == kOnnxFloat16) n.attrs["to"] = Attribute{kOnnxFloat};
    for (auto& [key, a] : n.attrs)
      if (auto* t = std::get_if<Tensor>(&a.value); t && t->dtype() == DType::kF16) *t = t->cast(DType::kF32);
  }
  for (auto& [name, v] : g.value_info)
    if (v.dtype == DType::kF16) v.dtype = DType::kF32;
  for (ValueInfo& v : g.outputs)
    if (v.dtype == DType::kF16) v.dtype = DType::kF32;
  // float16 graph inputs keep their type (the caller feeds the target's inputs) and are widened on entry.
  std::vector<Node> entry;
  for (const ValueInfo& in : g.inputs) {
    if (in.dtype != DType::kF16 || g.initializers.count(in.name)) continue;
    const std::string wide = g.unused_name(in.name + "/fp32");
    for (Node& n : g.nodes)
      for (auto& x : n.inputs)
        if (x == in.name) x = wide;
    for (ValueInfo& o : g.outputs)
      if (o.name == in.name) o.name = wide;
    Node cast;
    cast.op_type = "Cast";
    cast.name = wide;
    cast.inputs = {in.name};
    cast.outputs = {wide};
    cast.attrs["to"] = Attribute{kOnnxFloat};
    entry.push_back(std::move(cast));
  }
  g.nodes.insert(g.nodes.begin(), entry.begin(), entry.end());
  return out;
}

// Quantized ops the TFLite interpreter's XNNPACK delegate takes and computes differently from the
// built-in kernels (its profile on the one-op models of tests/tflite_ops shows the delegate for these;
// HARD_SWISH, TANH, RELU* stay in built-in kernels; SUB it takes but computes as the built-in kernel
// does). ReduceMean decides itself (only H, W of 4-D). XNNPACK takes no int16 tensor: 16x8 ops stay in
// the built-in kernels.
const std::set<std::string> kXnnpackRequantized{"Conv", "Gemm", "Sigmoid", "LeakyRelu", "ReduceMean", "Elu",
                                                 "QuantizeLinear", "Resize"};

Model xnnpack_requantized_model(const Model& model) {
  Model out = model;
  for (Node& n : out.graph.nodes) {
    if (n.domain != kTfliteQuantizedDomain || !kXnnpackRequantized.count(n.op_type) || n.inputs.empty()) continue;
    const ValueInfo* x = out.graph.find_value_info(n.inputs[0]);
    if (x && x->dtype == DType::kI16) continue;
    n.attrs["requantize"] = Attribute{std::string("fp32")};
  }
  return out;
}

}  // namespace transfix
