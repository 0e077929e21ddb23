// Internal interface between the Keras reader (config graph, weights, naming) and the per-layer
// lowering (keras_layers.cpp). One LayerCall is one call of a Keras layer (a layer called twice,
// e.g. a shared layer, is lowered twice with the same weights).
#pragma once
#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "core/graph.h"

namespace transfix {
namespace keras_lowering {

using json = nlohmann::json;

// A Keras tensor: IR value name and static shape (batch and other unknown dims are -1).
struct Value {
  std::string name;
  Shape shape;
};

class LayerCall {
 public:
  virtual ~LayerCall() = default;
  virtual const std::string& class_name() const = 0;  // "Conv2D"
  virtual const std::string& layer_name() const = 0;
  virtual const json& config() const = 0;             // the layer's "config" object
  // Keyword arguments of this call (TFOpLambda's constants). A tensor argument is replaced by
  // {"__input__": i}: inputs()[i] holds it.
  virtual const json& call_kwargs() const = 0;
  virtual const std::vector<Value>& inputs() const = 0;
  // IR value name of output i of this call; intermediates use "<output_name(0)>/<what>".
  virtual std::string output_name(size_t i) const = 0;
  // The layer's weight `role` ("kernel", "bias", "gamma", ...): found by its name in weight_names,
  // else by `index` (its position in Keras' weight order). Fails when missing or when its shape
  // differs from `expected`.
  virtual Tensor weight(const std::string& role, size_t index, const Shape& expected) = 0;
  virtual size_t num_weights() const = 0;
  // Adds a constant "<output_name(0)>/<suffix>"; returns its name.
  virtual std::string add_constant(const std::string& suffix, Tensor value) = 0;
  // Appends a node carrying this layer's provenance.
  virtual Node& emit(const std::string& op_type, std::vector<std::string> inputs, std::vector<std::string> outputs) = 0;
  virtual void set_outputs(std::vector<Value> outputs) = 0;
  // Records a fact about the model's input contract (e.g. "value_range") when this layer reads a
  // graph input directly: becomes meta.props["input_contract.<input>.<key>"].
  virtual void describe_input(const std::string& key, const std::string& value) = 0;
  // Keras version that wrote the file ("2.4.0"), for version-dependent defaults.
  virtual const std::string& keras_version() const = 0;
  [[noreturn]] virtual void fail(const std::string& message) const = 0;         // InputError
  [[noreturn]] virtual void unsupported(const std::string& message) const = 0;  // UnsupportedError
};

// Lowers one layer call. UnsupportedError for unknown layer classes.
void lower_layer(LayerCall& call);

}  // namespace keras_lowering
}  // namespace transfix
