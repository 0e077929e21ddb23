// TFLite reader: .tflite file (FlatBuffers, identifier "TFL3") -> Model.
//
// The file is memory-mapped and constant tensors view the mapping (weights are not copied). The
// FlatBuffers verifier runs before anything is read; then every index (buffer, tensor, opcode),
// every constant's size against its shape, and every quantization array is checked. Failures are
// InputError naming the file; features outside this slice are UnsupportedError.
//
// Lowering (tflite_ops.cpp) turns each operator into canonical IR nodes with ONNX semantics,
// extended by attributes: tensors keep TFLite's NHWC shapes, layout-sensitive nodes carry
// layout = "NHWC" and convolution weights weight_layout = "OHWI" / "1HWO". See docs/tflite.md.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/graph.h"

namespace tflite { struct Operator; }

namespace transfix {

// Reads a .tflite file (memory-mapped).
Model read_tflite(const std::string& path);
// Reads a .tflite image held in `file` (e.g. a test's buffer); `label` names it in errors.
Model read_tflite_storage(std::shared_ptr<Storage> file, const std::string& label);

namespace tflite_lowering {

// One TFLite operator being lowered: its inputs/outputs as IR value names, constant inputs, and
// helpers that emit nodes sharing the operator's provenance. Implemented by the reader.
class OpLowering {
 public:
  virtual ~OpLowering() = default;
  virtual const tflite::Operator& op() const = 0;
  virtual const std::string& op_name() const = 0;   // "CONV_2D"
  virtual int64_t index() const = 0;                // operator index in subgraph 0
  virtual size_t num_inputs() const = 0;
  virtual size_t num_outputs() const = 0;
  // IR value name of input/output i; "" for an omitted optional input (tensor index -1).
  virtual std::string input(size_t i) const = 0;
  virtual std::string output(size_t i) const = 0;
  // Static type of input/output i (dtype, shape, quantization); nullptr when omitted.
  virtual const ValueInfo* input_info(size_t i) const = 0;
  virtual const ValueInfo* output_info(size_t i) const = 0;
  // Constant data of input i; nullptr when the input is computed at run time.
  virtual const Tensor* constant_input(size_t i) const = 0;
  // Adds a constant named "<first output>/<suffix>" and returns its name.
  virtual std::string add_constant(const std::string& suffix, Tensor value) = 0;
  // Appends a node (domain "" unless given) with this operator's provenance; returns it for attributes.
  virtual Node& emit(const std::string& op_type, std::vector<std::string> inputs, std::vector<std::string> outputs) = 0;
  // Makes input i read `value` from now on (e.g. a dequantized copy of a constant).
  virtual void replace_input(size_t i, const std::string& value) = 0;
  // Domain of the nodes emitted from now on ("" = default ONNX domain).
  virtual void set_domain(const std::string& domain) = 0;
  virtual const std::string& domain() const = 0;
  // Fails with InputError naming the operator.
  [[noreturn]] virtual void fail(const std::string& message) const = 0;
};

// Lowers one operator into IR nodes. UnsupportedError for operators (or options) outside this slice.
void lower_operator(OpLowering& op);

}  // namespace tflite_lowering
}  // namespace transfix
