// Internal to the TFLite writer: canonical IR nodes -> TFLite operators (tflite_write_ops.cpp).
#pragma once
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "core/graph.h"
#include "tflite_schema_generated.h"

namespace transfix::tflite_writing {

// One TFLite operator to write. Options are built at the end (a later fusion may still change the
// activation or keep_num_dims).
struct TfOp {
  tflite::BuiltinOperator code = tflite::BuiltinOperator::ADD;
  std::vector<std::string> inputs, outputs;  // IR value names; "" = omitted optional input
  tflite::ActivationFunctionType act = tflite::ActivationFunctionType::NONE;
  bool fusable = false;                      // the options carry a fused activation
  bool keep_num_dims = false;                // FULLY_CONNECTED
  tflite::BuiltinOptions options_type = tflite::BuiltinOptions::NONE;
  std::function<flatbuffers::Offset<void>(flatbuffers::FlatBufferBuilder&, const TfOp&)> options;
  int64_t group = -1;      // TFLite operator index it came from; -1 for nodes of other formats
  std::string group_op;    // that operator's name ("CONV_2D"); "" for other formats
  std::string where;       // the node, for messages
};

// The TFLite tensor type of a dtype; nullopt when TFLite has none.
std::optional<tflite::TensorType> tflite_tensor_type(DType t);

// What the op mapping needs from the writer.
class WriteContext {
 public:
  virtual ~WriteContext() = default;
  virtual const Tensor* constant(const std::string& name) const = 0;  // nullptr when computed
  virtual Shape shape_of(const std::string& name) = 0;                // static shape (throws when unknown)
  virtual DType dtype_of(const std::string& name) = 0;
  // Adds a constant for a TFLite input (e.g. an int32 copy of an int64 shape); returns its name.
  virtual std::string add_constant(const std::string& name_hint, Tensor value) = 0;
  // Number of nodes reading the value (graph outputs count as one more).
  virtual int consumers(const std::string& name) const = 0;
};

// Maps the nodes of one group (the lowering of one TFLite operator, or a single node of another
// format) to TFLite operators. UnsupportedError names the node and says why.
std::vector<TfOp> map_group(WriteContext& ctx, const std::vector<const Node*>& group);

}  // namespace transfix::tflite_writing
