#include "formats/keras/keras_reader.h"

#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "core/errors.h"
#include "formats/keras/keras_h5_contents.h"
#include "formats/keras/keras_lowering.h"

namespace fs = std::filesystem;

namespace transfix {

namespace {

using keras_lowering::json;
using keras_lowering::Value;

// Canonical ops follow this ONNX opset's forms (as the TFLite reader's).
constexpr int64_t kLoweringOpset = 17;
// Models nested deeper than this are refused (the config is untrusted; recursion must stay bounded).
constexpr int kMaxNesting = 32;
// An architecture JSON file larger than this is not a Keras config.
constexpr uintmax_t kMaxJsonBytes = 256u << 20;

// One weight of a layer as listed in weight_names: its basename ("kernel") and dataset path.
struct WeightEntry {
  std::string role;
  std::string path;
};

std::vector<std::string> split_path(const std::string& p) {
  std::vector<std::string> parts;
  std::stringstream ss(p);
  std::string part;
  while (std::getline(ss, part, '/'))
    if (!part.empty()) parts.push_back(part);
  return parts;
}

// "conv2d/kernel:0" -> "kernel".
std::string weight_role(const std::string& name) {
  std::vector<std::string> parts = split_path(name);
  std::string base = parts.empty() ? name : parts.back();
  if (auto colon = base.rfind(':'); colon != std::string::npos) base.resize(colon);
  return base;
}

DType dtype_from_keras(const std::string& name) {
  static const std::map<std::string, DType> table{
      {"float32", DType::kF32}, {"float16", DType::kF16}, {"float64", DType::kF64}, {"uint8", DType::kU8},
      {"int8", DType::kI8},     {"int16", DType::kI16},   {"int32", DType::kI32},   {"int64", DType::kI64}};
  auto it = table.find(name);
  return it == table.end() ? DType::kUndefined : it->second;
}

// A reference to a Keras tensor: output `tensor` of call `node` of layer `layer`.
struct TensorRef {
  std::string layer;
  int64_t node = 0, tensor = 0;
  std::string key() const { return layer + "\x1f" + std::to_string(node) + "\x1f" + std::to_string(tensor); }
};

// Keras 2: ["name", node, tensor(, kwargs)]; Keras 3: {"class_name": "__keras_tensor__",
// "config": {"keras_history": ["name", node, tensor]}}. nullopt when `j` is neither.
std::optional<TensorRef> as_tensor_ref(const json& j) {
  const json* h = &j;
  if (j.is_object() && j.value("class_name", "") == "__keras_tensor__" && j.contains("config") && j["config"].is_object() &&
      j["config"].contains("keras_history"))
    h = &j["config"]["keras_history"];
  if (!h->is_array() || h->size() < 3 || h->size() > 4 || !(*h)[0].is_string() || !(*h)[1].is_number_integer() ||
      !(*h)[2].is_number_integer())
    return std::nullopt;
  return TensorRef{(*h)[0].get<std::string>(), (*h)[1].get<int64_t>(), (*h)[2].get<int64_t>()};
}

class KerasReader;

// One call of a layer (LayerCall for keras_layers.cpp).
class Call final : public keras_lowering::LayerCall {
 public:
  Call(KerasReader& r, const json& layer, std::string name, std::string value_prefix, int64_t node_index, int64_t layer_index,
       std::vector<WeightEntry> weights)
      : r_(r), layer_(layer), name_(std::move(name)), prefix_(std::move(value_prefix)), node_(node_index),
        index_(layer_index), weights_(std::move(weights)) {
    class_ = layer.value("class_name", "");
    static const json kEmpty = json::object();
    config_ = layer.contains("config") && layer["config"].is_object() ? &layer["config"] : &kEmpty;
  }

  const std::string& class_name() const override { return class_; }
  const std::string& layer_name() const override { return name_; }
  const json& config() const override { return *config_; }
  const json& call_kwargs() const override { return kwargs_; }
  const std::vector<Value>& inputs() const override { return inputs_; }
  std::string output_name(size_t i) const override {
    std::string n = prefix_ + name_;
    if (node_ > 0) n += "@" + std::to_string(node_);
    if (i > 0) n += ":" + std::to_string(i);
    return n;
  }
  Tensor weight(const std::string& role, size_t index, const Shape& expected) override;
  size_t num_weights() const override { return weights_.size(); }
  std::string add_constant(const std::string& suffix, Tensor value) override;
  Node& emit(const std::string& op_type, std::vector<std::string> inputs, std::vector<std::string> outputs) override;
  void set_outputs(std::vector<Value> outputs) override { outputs_ = std::move(outputs); }
  void describe_input(const std::string& key, const std::string& value) override;
  const std::string& keras_version() const override;
  [[noreturn]] void fail(const std::string& message) const override;
  [[noreturn]] void unsupported(const std::string& message) const override;

  std::string where() const { return "layer '" + prefix_ + name_ + "' (" + class_ + ")"; }
  std::vector<Value> inputs_;
  json kwargs_ = json::object();
  std::vector<Value> outputs_;

 private:
  KerasReader& r_;
  const json& layer_;
  std::string name_, class_, prefix_;
  int64_t node_, index_;
  const json* config_;
  std::vector<WeightEntry> weights_;
};

// Where a (possibly nested) model's layers find their weights: top-level layers in the group named
// after them; layers of a nested model among the nested model's weights, by their layer name.
struct WeightScope {
  bool top_level = true;
  std::vector<WeightEntry> entries;  // nested: all weights of the outermost nested model
};

class KerasReader {
 public:
  KerasReader(const std::string& path, const std::string& architecture_json, bool in_process = false)
      : h5_(in_process ? read_keras_h5_in_process(path) : read_keras_h5(path)), label_(path), arch_(architecture_json) {}

  Model read() {
    const json model = load_config();
    read_meta(model);
    weights_root_ = h5_.groups.count("model_weights") ? "model_weights" : "";
    if (!h5_.has_list(weights_root_, "layer_names"))
      fail("no weights: neither /model_weights nor the root group has a layer_names attribute");
    weight_layers_ = h5_.list(weights_root_, "layer_names");
    std::vector<Value> outs = lower_model(model, "", WeightScope{}, nullptr, 0);
    for (const Value& v : outs) {
      ValueInfo info = value_info(v);
      out_.graph.value_info.erase(v.name);
      out_.graph.outputs.push_back(info);
    }
    out_.graph.name = model.contains("config") && model["config"].is_object() ? model["config"].value("name", "") : "";
    out_.path = label_;
    return std::move(out_);
  }

  [[noreturn]] void fail(const std::string& message) const { throw InputError(error_label() + ": " + message); }
  // With an architecture JSON given beside the weights (ARCH.json+WEIGHTS.h5), errors name both files.
  std::string error_label() const { return label_ + (arch_.empty() ? "" : " (architecture " + arch_ + ")"); }

  // Used by Call.
  Model out_;
  std::string keras_version_;
  std::map<std::string, std::string> graph_input_of_;  // value -> graph input it is (or is a cast of)
  std::set<std::string> produced_;                     // values written by a node or graph inputs
  const KerasH5Contents& h5() const { return h5_; }
  const std::string& label() const { return label_; }

 private:
  json load_config();
  void read_meta(const json& model);
  std::vector<Value> lower_model(const json& model, const std::string& prefix, const WeightScope& scope,
                                 const std::vector<Value>* outer_inputs, int depth);
  std::vector<Value> lower_functional(const json& config, const std::string& prefix, const WeightScope& scope,
                                      const std::vector<Value>* outer_inputs, int depth);
  std::vector<Value> lower_sequential(const json& layers, const std::string& prefix, const WeightScope& scope,
                                      const std::vector<Value>* outer_inputs, int depth);
  Value graph_input(const json& layer, const std::string& name);
  std::vector<WeightEntry> weights_of(const std::string& layer, const WeightScope& scope) const;
  std::vector<Value> call_layer(const json& layer, int64_t layer_index, int64_t node_index, const std::string& prefix,
                                const WeightScope& scope, std::vector<Value> inputs, json kwargs, int depth);
  ValueInfo value_info(const Value& v) const {
    ValueInfo info;
    info.name = v.name;
    info.dtype = DType::kF32;
    info.shape = v.shape;
    info.has_shape = true;
    if (!v.shape.empty() && v.shape[0] < 0) {
      info.dim_params.assign(v.shape.size(), "");
      info.dim_params[0] = "batch";
    }
    return info;
  }

  KerasH5Contents h5_;
  std::string label_, arch_;
  std::string weights_root_;
  std::vector<std::string> weight_layers_;
};

// ---------------------------------------------------------------------------------------------
// Call.

Tensor Call::weight(const std::string& role, size_t index, const Shape& expected) {
  const WeightEntry* entry = nullptr;
  for (const WeightEntry& e : weights_)
    if (e.role == role) entry = &e;
  if (!entry && index < weights_.size()) entry = &weights_[index];
  if (!entry)
    fail("weight '" + role + "' is missing (the file lists " + std::to_string(weights_.size()) + " weights for this layer)");
  if (auto err = r_.h5().dataset_errors.find(entry->path); err != r_.h5().dataset_errors.end())
    fail("weight '" + role + "': " + err->second);
  auto data = r_.h5().datasets.find(entry->path);
  if (data == r_.h5().datasets.end()) fail("weight '" + role + "': dataset '" + entry->path + "' is missing");
  const Tensor& t = data->second;
  bool ok = t.shape().size() == expected.size();
  for (size_t i = 0; ok && i < expected.size(); ++i) ok = expected[i] < 0 || expected[i] == t.shape()[i];
  if (!ok) fail("weight '" + role + "' has shape " + shape_str(t.shape()) + ", expected " + shape_str(expected));
  return t;
}

std::string Call::add_constant(const std::string& suffix, Tensor value) {
  auto& inits = r_.out_.graph.initializers;
  std::string name = output_name(0) + "/" + suffix;
  for (int k = 2; inits.count(name); ++k) name = output_name(0) + "/" + suffix + "_" + std::to_string(k);
  inits[name] = std::move(value);
  return name;
}

Node& Call::emit(const std::string& op_type, std::vector<std::string> inputs, std::vector<std::string> outputs) {
  // Layer names come from the file: two layers must not end up writing one value.
  for (const std::string& o : outputs)
    if (!r_.produced_.insert(o).second) fail("value name '" + o + "' is produced twice (clashing layer names)");
  Node n;
  n.op_type = op_type;
  n.name = outputs.empty() ? output_name(0) : outputs[0];
  n.inputs = std::move(inputs);
  n.outputs = std::move(outputs);
  n.prov = {"keras", class_, prefix_ + name_, index_};
  r_.out_.graph.nodes.push_back(std::move(n));
  return r_.out_.graph.nodes.back();
}

void Call::describe_input(const std::string& key, const std::string& value) {
  if (inputs_.empty()) return;
  auto it = r_.graph_input_of_.find(inputs_[0].name);
  if (it != r_.graph_input_of_.end()) r_.out_.meta.props["input_contract." + it->second + "." + key] = value;
}

const std::string& Call::keras_version() const { return r_.keras_version_; }

void Call::fail(const std::string& message) const { throw InputError(r_.error_label() + ": " + where() + ": " + message); }
void Call::unsupported(const std::string& message) const {
  throw UnsupportedError(r_.error_label() + ": " + where() + ": " + message, class_);
}

// ---------------------------------------------------------------------------------------------
// Reader.

json KerasReader::load_config() {
  std::string text, source;
  if (arch_.empty() && h5_.has_attribute("", "model_config")) {
    text = h5_.attribute("", "model_config");
    source = "model_config attribute";
  } else {
    std::string json_path = arch_;
    std::error_code ec;
    if (json_path.empty()) {  // X.json beside X.h5, X_weights.h5 or X.weights.h5
      std::string stem = fs::path(label_).stem().string();
      const fs::path dir = fs::path(label_).parent_path();
      json_path = (dir / (stem + ".json")).string();
      for (const std::string suffix : {"_weights", ".weights"})
        if (!fs::is_regular_file(json_path, ec) && stem.size() > suffix.size() &&
            stem.compare(stem.size() - suffix.size(), suffix.size(), suffix) == 0)
          json_path = (dir / (stem.substr(0, stem.size() - suffix.size()) + ".json")).string();
    }
    if (!fs::is_regular_file(json_path, ec))
      fail("no model_config attribute (a weights-only file?) and no architecture JSON " + json_path +
           " (save model.to_json() there)");
    if (fs::file_size(json_path, ec) > kMaxJsonBytes) fail(json_path + ": architecture JSON is too large");
    std::ifstream in(json_path, std::ios::binary);
    text.assign(std::istreambuf_iterator<char>(in), {});
    source = json_path;
  }
  json model = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (model.is_discarded()) fail(source + " is not valid JSON");
  if (!model.is_object() || !model.contains("class_name") || !model["class_name"].is_string() || !model.contains("config"))
    fail(source + " is not a Keras model config (needs class_name and config)");
  return model;
}

void KerasReader::read_meta(const json& model) {
  ModelMeta& m = out_.meta;
  m.format = "keras";
  m.producer_name = "keras";
  m.opsets[""] = kLoweringOpset;
  for (const char* key : {"keras_version", "backend"})
    if (h5_.has_attribute("", key)) {
      std::string v = h5_.attribute("", key);
      m.props[key] = v;
      if (std::string(key) == "keras_version") keras_version_ = v;
    }
  if (keras_version_.empty() && model.contains("keras_version") && model["keras_version"].is_string())
    keras_version_ = m.props["keras_version"] = model["keras_version"].get<std::string>();
  m.producer_version = keras_version_;
  m.props["keras_model_class"] = model["class_name"].get<std::string>();
}

std::vector<Value> KerasReader::lower_model(const json& model, const std::string& prefix, const WeightScope& scope,
                                            const std::vector<Value>* outer_inputs, int depth) {
  if (depth > kMaxNesting) fail("models nested more than " + std::to_string(kMaxNesting) + " deep");
  if (!model.is_object() || !model.contains("config"))  // const operator[] on a missing key is undefined
    fail("model '" + prefix + "' has no config");
  const std::string cls = model.value("class_name", "");
  const json& config = model["config"];
  if (cls == "Sequential") {
    if (config.is_array()) return lower_sequential(config, prefix, scope, outer_inputs, depth);
    if (config.is_object() && config.contains("layers") && config["layers"].is_array())
      return lower_sequential(config["layers"], prefix, scope, outer_inputs, depth);
    fail("Sequential model '" + prefix + "' has no layer list");
  }
  if (cls == "Functional" || cls == "Model") {
    if (!config.is_object() || !config.contains("layers") || !config["layers"].is_array())
      fail("model '" + prefix + "' has no layer list");
    return lower_functional(config, prefix, scope, outer_inputs, depth);
  }
  throw UnsupportedError(label_ + ": model class '" + cls + "' is not supported (Sequential, Functional)", cls);
}

// A graph input from an InputLayer config (batch_input_shape in Keras 2, batch_shape in Keras 3).
Value KerasReader::graph_input(const json& layer, const std::string& name) {
  const json& cfg = layer.contains("config") && layer["config"].is_object() ? layer["config"] : json::object();
  const json* shape = nullptr;
  for (const char* key : {"batch_input_shape", "batch_shape"})
    if (cfg.contains(key) && cfg[key].is_array()) shape = &cfg[key];
  if (!shape) fail("input layer '" + name + "' has no batch_input_shape");
  Shape s;
  for (const json& d : *shape) {
    if (d.is_null()) s.push_back(-1);
    else if (d.is_number_integer() && d.get<int64_t>() >= 0 && d.get<int64_t>() < (int64_t{1} << 31)) s.push_back(d.get<int64_t>());
    else fail("input layer '" + name + "': bad dimension in batch_input_shape");
  }
  if (s.empty() || s.size() > 8) fail("input layer '" + name + "': batch_input_shape must have rank 1 to 8");
  const std::string dt = cfg.contains("dtype") && cfg["dtype"].is_string() ? cfg["dtype"].get<std::string>() : "float32";
  const DType dtype = dtype_from_keras(dt);
  if (dtype == DType::kUndefined) throw UnsupportedError(label_ + ": input layer '" + name + "': dtype " + dt + " is not supported", dt);
  ValueInfo info = value_info({name, s});
  info.dtype = dtype;
  info.prov = {"keras", "InputLayer", name, -1};
  if (!produced_.insert(name).second) fail("input name '" + name + "' clashes with another value");
  out_.graph.inputs.push_back(info);
  graph_input_of_[name] = name;
  auto& props = out_.meta.props;
  props["input_contract." + name + ".dtype"] = dtype_name(dtype);
  if (dtype == DType::kU8) props["input_contract." + name + ".value_range"] = "0,255";
  if (s.size() == 4) props["input_contract." + name + ".layout"] = "NHWC";
  if (s.size() == 3) props["input_contract." + name + ".layout"] = "NWC";
  if (dtype == DType::kF32) return {name, s};
  // Keras layers compute in float32: an integer (or other float) input is cast first.
  const std::string cast = name + "/float32";
  Node n;
  n.op_type = "Cast";
  n.name = cast;
  n.inputs = {name};
  n.outputs = {cast};
  n.attrs["to"] = Attribute{int64_t{1}};  // ONNX FLOAT
  n.prov = info.prov;
  produced_.insert(cast);
  out_.graph.nodes.push_back(std::move(n));
  graph_input_of_[cast] = name;
  return {cast, s};
}

std::vector<WeightEntry> KerasReader::weights_of(const std::string& layer, const WeightScope& scope) const {
  if (!scope.top_level) {
    std::vector<WeightEntry> mine;
    for (const WeightEntry& e : scope.entries) {
      std::vector<std::string> parts = split_path(e.path);
      if (parts.size() >= 2 && parts[parts.size() - 2] == layer) mine.push_back(e);
    }
    return mine;
  }
  const std::string group = weights_root_.empty() ? layer : weights_root_ + "/" + layer;
  if (std::find(weight_layers_.begin(), weight_layers_.end(), layer) == weight_layers_.end() || !h5_.groups.count(group)) return {};
  std::vector<WeightEntry> out;
  if (!h5_.has_list(group, "weight_names")) return out;
  for (const std::string& n : h5_.list(group, "weight_names")) out.push_back({weight_role(n), group + "/" + n});
  return out;
}

std::vector<Value> KerasReader::call_layer(const json& layer, int64_t layer_index, int64_t node_index, const std::string& prefix,
                                           const WeightScope& scope, std::vector<Value> inputs, json kwargs, int depth) {
  const std::string name = layer.value("name", layer.contains("config") && layer["config"].is_object() ? layer["config"].value("name", "") : "");
  const std::string cls = layer.value("class_name", "");
  if (cls == "Sequential" || cls == "Functional" || cls == "Model") {
    // A nested model: its layers' values are prefixed by its name, its weights are in its group.
    WeightScope inner{false, scope.top_level ? weights_of(name, scope) : scope.entries};
    std::string inner_prefix = prefix + name + (node_index > 0 ? "@" + std::to_string(node_index) : "") + "/";
    return lower_model(layer, inner_prefix, inner, &inputs, depth + 1);
  }
  Call call(*this, layer, name, prefix, node_index, layer_index, weights_of(name, scope));
  call.inputs_ = std::move(inputs);
  call.kwargs_ = std::move(kwargs);
  try {
    keras_lowering::lower_layer(call);
  } catch (const json::exception& e) {
    call.fail(std::string("malformed config: ") + e.what());
  }
  if (call.outputs_.empty()) call.fail("produced no output");
  for (const Value& v : call.outputs_) out_.graph.value_info[v.name] = value_info(v);
  // Preprocessing layers in a row at the input: later ones still describe the input contract.
  if ((cls == "Rescaling" || cls == "Normalization") && !call.inputs_.empty())
    if (auto it = graph_input_of_.find(call.inputs_[0].name); it != graph_input_of_.end())
      graph_input_of_[call.outputs_[0].name] = it->second;
  return call.outputs_;
}

std::vector<Value> KerasReader::lower_sequential(const json& layers, const std::string& prefix, const WeightScope& scope,
                                                 const std::vector<Value>* outer_inputs, int depth) {
  if (layers.empty()) fail("Sequential model '" + prefix + "' has no layers");
  Value current;
  size_t first = 0;
  const json& l0 = layers[0];
  if (!l0.is_object()) fail("Sequential model '" + prefix + "': layer 0 is not an object");
  const std::string name0 = l0.contains("config") && l0["config"].is_object() ? l0["config"].value("name", "layer_0") : "layer_0";
  if (outer_inputs) {
    if (outer_inputs->size() != 1) fail("Sequential model '" + prefix + "' called on " + std::to_string(outer_inputs->size()) + " inputs");
    current = (*outer_inputs)[0];
    if (l0.value("class_name", "") == "InputLayer") first = 1;
  } else if (l0.value("class_name", "") == "InputLayer") {
    current = graph_input(l0, prefix + name0);
    first = 1;
  } else {
    current = graph_input(l0, prefix + name0 + "_input");  // Keras' name for the implicit input
  }
  for (size_t i = first; i < layers.size(); ++i) {
    if (!layers[i].is_object()) fail("Sequential model '" + prefix + "': layer " + std::to_string(i) + " is not an object");
    json layer = layers[i];
    if (!layer.contains("name") && layer.contains("config") && layer["config"].is_object())
      layer["name"] = layer["config"].value("name", "layer_" + std::to_string(i));
    std::vector<Value> outs = call_layer(layer, static_cast<int64_t>(i), 0, prefix, scope, {current}, json::object(), depth);
    current = outs[0];
  }
  return {current};
}

// Tensor references of one inbound node, and its keyword arguments with tensor references
// replaced by {"__input__": i} (i indexes the returned references).
std::pair<std::vector<TensorRef>, json> parse_inbound_node(const json& node, const std::set<std::string>& layer_names) {
  std::vector<TensorRef> refs;
  json kwargs = json::object();
  if (node.is_array()) {  // Keras 2: [[name, node, tensor, kwargs], ...]
    for (const json& entry : node) {
      auto ref = as_tensor_ref(entry);
      if (!ref) throw InputError("malformed inbound node entry (expected [layer, node, tensor, kwargs])");
      refs.push_back(*ref);
      if (entry.size() == 4 && entry[3].is_object() && kwargs.empty()) kwargs = entry[3];
    }
  } else if (node.is_object()) {  // Keras 3: {"args": [...], "kwargs": {...}}
    // Tensors may sit in nested lists (e.g. Concatenate's one list argument); the depth is bounded
    // because the config is untrusted.
    std::function<void(const json&, int)> collect = [&](const json& j, int depth) {
      if (depth > 8) throw InputError("inbound node arguments nested too deeply");
      if (auto ref = as_tensor_ref(j); ref && j.is_object()) refs.push_back(*ref);
      else if (j.is_array()) for (const json& e : j) collect(e, depth + 1);
    };
    if (node.contains("args")) collect(node["args"], 0);
    if (node.contains("kwargs") && node["kwargs"].is_object()) kwargs = node["kwargs"];
  } else {
    throw InputError("malformed inbound node");
  }
  for (auto& [key, value] : kwargs.items()) {
    auto ref = as_tensor_ref(value);
    if (ref && layer_names.count(ref->layer)) {
      value = json{{"__input__", refs.size()}};
      refs.push_back(*ref);
    }
  }
  return {refs, kwargs};
}

std::vector<Value> KerasReader::lower_functional(const json& config, const std::string& prefix, const WeightScope& scope,
                                                 const std::vector<Value>* outer_inputs, int depth) {
  const json& layers = config["layers"];
  std::set<std::string> names;
  for (const json& l : layers) {
    if (!l.is_object() || !l.contains("name") || !l["name"].is_string()) fail("model '" + prefix + "': a layer has no name");
    if (!names.insert(l["name"].get<std::string>()).second) fail("model '" + prefix + "': layer name '" + l["name"].get<std::string>() + "' is used twice");
  }
  auto refs_of = [&](const char* key) {
    std::vector<TensorRef> refs;
    if (!config.contains(key) || !config[key].is_array()) fail("model '" + prefix + "' has no " + key);
    const json& list = config[key];
    if (auto single = as_tensor_ref(list)) return std::vector<TensorRef>{*single};  // one ref, not nested
    for (const json& e : list) {
      auto ref = as_tensor_ref(e);
      if (!ref) fail("model '" + prefix + "': malformed " + key);
      refs.push_back(*ref);
    }
    return refs;
  };
  const std::vector<TensorRef> input_refs = refs_of("input_layers"), output_refs = refs_of("output_layers");
  std::map<std::string, Value> values;  // TensorRef key -> value
  for (size_t i = 0; i < input_refs.size(); ++i) {
    const TensorRef& ref = input_refs[i];
    const json* layer = nullptr;
    for (const json& l : layers) if (l["name"] == ref.layer) layer = &l;
    if (!layer) fail("model '" + prefix + "': input layer '" + ref.layer + "' does not exist");
    if (outer_inputs) {
      if (outer_inputs->size() != input_refs.size())
        fail("model '" + prefix + "' takes " + std::to_string(input_refs.size()) + " inputs, called with " + std::to_string(outer_inputs->size()));
      values[ref.key()] = (*outer_inputs)[i];
    } else {
      values[ref.key()] = graph_input(*layer, prefix + ref.layer);
    }
  }
  // Calls in dependency order: repeat passes until every call whose inputs exist has run.
  struct Pending { size_t layer; int64_t node; };
  std::vector<Pending> pending;
  for (size_t i = 0; i < layers.size(); ++i) {
    const json& l = layers[i];
    if (l.value("class_name", "") == "InputLayer") continue;
    if (!l.contains("inbound_nodes") || !l["inbound_nodes"].is_array()) fail("layer '" + prefix + l["name"].get<std::string>() + "' has no inbound_nodes");
    for (size_t k = 0; k < l["inbound_nodes"].size(); ++k) pending.push_back({i, static_cast<int64_t>(k)});
  }
  while (!pending.empty()) {
    std::vector<Pending> waiting;
    for (const Pending& p : pending) {
      const json& l = layers[p.layer];
      const std::string lname = l["name"].get<std::string>();
      std::pair<std::vector<TensorRef>, json> parsed;
      try {
        parsed = parse_inbound_node(l["inbound_nodes"][static_cast<size_t>(p.node)], names);
      } catch (const InputError& e) {
        fail("layer '" + prefix + lname + "': " + e.what());
      }
      std::vector<Value> inputs;
      for (const TensorRef& r : parsed.first) {
        auto it = values.find(r.key());
        if (it == values.end()) break;
        inputs.push_back(it->second);
      }
      if (inputs.size() != parsed.first.size()) {
        waiting.push_back(p);
        continue;
      }
      std::vector<Value> outs = call_layer(l, static_cast<int64_t>(p.layer), p.node, prefix, scope, inputs, parsed.second, depth);
      for (size_t t = 0; t < outs.size(); ++t) values[TensorRef{lname, p.node, static_cast<int64_t>(t)}.key()] = outs[t];
    }
    if (waiting.size() == pending.size()) {
      const json& l = layers[waiting[0].layer];
      fail("layer '" + prefix + l["name"].get<std::string>() + "': its inputs are never computed (missing layer or cycle)");
    }
    pending = std::move(waiting);
  }
  std::vector<Value> outs;
  for (const TensorRef& r : output_refs) {
    auto it = values.find(r.key());
    if (it == values.end()) fail("model '" + prefix + "': output '" + r.layer + "' is never computed");
    outs.push_back(it->second);
  }
  return outs;
}

}  // namespace

Model read_keras(const std::string& path, const std::string& architecture_json) {
  try {
    KerasReader reader(path, architecture_json);
    return reader.read();
  } catch (const json::exception& e) {
    throw InputError(path + ": malformed Keras config: " + e.what());
  }
}

Model read_keras_in_process(const std::string& path, const std::string& architecture_json) {
  try {
    KerasReader reader(path, architecture_json, /*in_process=*/true);
    return reader.read();
  } catch (const json::exception& e) {
    throw InputError(path + ": malformed Keras config: " + e.what());
  }
}

}  // namespace transfix
