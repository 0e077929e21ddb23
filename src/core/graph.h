// Graph IR. One canonical op set with ONNX semantics (op_type + domain + attributes), extended by
// attributes where another format needs it (e.g. layout = "NHWC" on TFLite convolutions). Values are
// identified by name, as in ONNX; the empty name marks an omitted optional input.
// Every node and value carries Provenance so reports can use the model's own names and writers can
// write the model back.
#pragma once
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <variant>
#include <vector>

#include "core/tensor.h"

namespace transfix {

// Canonical-IR domain of TFLite operators on quantized integer tensors: the canonical op_type with
// TFLite's integer semantics (src/runtime/kernels/quantized_*.cpp; scales and zero points from the
// tensors' quantization). A fused activation is the attribute fused_activation = "RELU" | "RELU6" |
// "RELU_N1_TO_1" on the node itself (it clamps in the quantized domain), SOFTMAX's beta an attribute.
inline constexpr const char* kTfliteQuantizedDomain = "tflite.quantized";

// Where something came from in the original file.
struct Provenance {
  std::string format;    // "onnx", "tflite", "torchscript", "keras"
  std::string op_type;   // original op ("CONV_2D", "aten::_convolution", "Conv2D", "Conv")
  std::string name;      // original name (node name, tensor name, module path, layer name)
  int64_t index = -1;    // original index (node position, TFLite operator/tensor index)
};

// A typed attribute. Floats are stored as double (ONNX stores float32; the value round-trips).
using AttrValue = std::variant<int64_t, double, std::string, Tensor, std::vector<int64_t>,
                               std::vector<double>, std::vector<std::string>>;

struct Attribute {
  AttrValue value;
  // ONNX-style type name, for messages: "INT", "FLOAT", "STRING", "TENSOR", "INTS", "FLOATS", "STRINGS".
  const char* type_name() const;
};

// Static type of a value. Unknown dims are -1 (with a symbolic name in dim_params when known);
// an unknown rank is has_shape == false.
struct ValueInfo {
  std::string name;
  DType dtype = DType::kUndefined;
  Shape shape;
  std::vector<std::string> dim_params;  // same length as shape when present; "" for concrete dims
  bool has_shape = false;
  std::string doc;
  Provenance prov;
  // Quantization of the value (TFLite activations and weights); kernels producing it read this.
  std::optional<QuantParams> quant;
};

struct Node {
  std::string op_type;  // canonical op ("Conv", "Relu", ...)
  std::string domain;   // "" for the default ONNX domain
  std::string name;
  std::vector<std::string> inputs;   // "" = omitted optional input
  std::vector<std::string> outputs;
  std::map<std::string, Attribute> attrs;
  Provenance prov;

  bool has_attr(const std::string& key) const { return attrs.count(key) != 0; }
  // Typed getters with defaults; throw InputError when the attribute has the wrong type.
  int64_t attr_int(const std::string& key, int64_t def) const;
  double attr_float(const std::string& key, double def) const;
  std::string attr_string(const std::string& key, const std::string& def) const;
  std::vector<int64_t> attr_ints(const std::string& key, const std::vector<int64_t>& def = {}) const;
  std::vector<double> attr_floats(const std::string& key, const std::vector<double>& def = {}) const;
  const Tensor* attr_tensor(const std::string& key) const;  // nullptr when absent
  // Input i if present and non-empty.
  bool has_input(size_t i) const { return i < inputs.size() && !inputs[i].empty(); }
};

// Sets (or replaces) one attribute: set_attr(node, "pads", std::vector<int64_t>{1, 1, 1, 1}).
inline void set_attr(Node& n, const std::string& key, AttrValue v) { n.attrs[key] = Attribute{std::move(v)}; }
inline void set_attr(Node& n, const std::string& key, std::vector<int64_t> v) { n.attrs[key] = Attribute{std::move(v)}; }

struct Graph {
  std::string name;
  std::vector<Node> nodes;                       // in file order (not necessarily topological)
  std::map<std::string, Tensor> initializers;    // constant tensors by value name
  std::vector<ValueInfo> inputs;                 // graph inputs (excluding initializers)
  std::vector<ValueInfo> outputs;
  std::unordered_map<std::string, ValueInfo> value_info;  // types of intermediates, when known
  std::map<std::string, Provenance> value_prov;  // provenance of values whose origin differs from their name

  // The inputs data feeds: graph inputs that no initializer gives (old ONNX files list initializers
  // among the inputs).
  std::vector<ValueInfo> data_inputs() const;

  // Index of the node that makes `value`; -1 for graph inputs, initializers and unknown names. (A scan:
  // for occasional lookups; a pass over every value builds its own map.)
  int producer_index(const std::string& value) const;
  const Node* producer(const std::string& value) const;
  // How many node inputs read `value` (graph outputs not counted).
  int reader_count(const std::string& value) const;

  // Values known without any input data: initializers and what nodes make of them alone (an
  // importer's BatchNorm scale from its statistics, a Cast of a constant).
  std::set<std::string> constant_value_names() const;

  // Static type of a value: graph input/output or value_info entry; nullptr when unknown.
  const ValueInfo* find_value_info(const std::string& name) const;

  // Indices of nodes in an order where each node follows its producers. Throws InputError on a
  // cycle or on an input that nothing produces (naming the value).
  std::vector<size_t> topological_order() const;

  // `base`, or `base_1`, `base_2`... : the first that names no value of the graph yet (for values
  // that an edit adds).
  std::string unused_name(const std::string& base) const;
};

// A named entry point of a model (TFLite SignatureDef): signature names -> graph value names.
struct Signature {
  std::string key;
  std::vector<std::pair<std::string, std::string>> inputs, outputs;
};

struct ModelMeta {
  std::string format;            // "onnx", "tflite", ...
  std::string producer_name;
  std::string producer_version;
  std::string domain;
  std::string doc;
  int64_t ir_version = 0;
  int64_t model_version = 0;
  std::map<std::string, int64_t> opsets;         // domain ("" = ai.onnx) -> version
  std::map<std::string, std::string> props;     // metadata_props / TFLite metadata / ...
  std::map<std::string, std::string> metadata_bytes;  // raw TFLite metadata buffers (props shows them as text)
  std::vector<Signature> signatures;            // TFLite SignatureDefs of subgraph 0
};

struct Model {
  ModelMeta meta;
  Graph graph;
  std::string path;  // file it was read from, for messages
  int64_t opset() const;  // default-domain opset (0 when unknown)
};

}  // namespace transfix
