// ONNX reader: .onnx file (protobuf ModelProto) -> Model. Untrusted input: every size, index and
// path is checked; failures are InputError naming the file and the problem.
#pragma once
#include <string>

#include "core/graph.h"

namespace onnx { class ModelProto; class TensorProto; }

namespace transfix {

struct OnnxReadOptions {
  bool infer_shapes = true;  // run ONNX shape inference to fill value_info (ignored on failure)
};

Model read_onnx(const std::string& path, const OnnxReadOptions& options = {});
// Parses an in-memory ModelProto; `dir` resolves external data ("" forbids it), `label` names it in errors.
Model read_onnx_bytes(const std::string& bytes, const std::string& dir, const std::string& label,
                      const OnnxReadOptions& options = {});
// Converts one ModelProto (already parsed) into a Model.
Model onnx_to_model(const onnx::ModelProto& proto, const std::string& dir, const std::string& label);
// TensorProto -> Tensor (external data resolved inside `dir`). Used for test data .pb files too.
Tensor tensor_from_onnx(const onnx::TensorProto& proto, const std::string& dir);
// Reads a serialized TensorProto file (the ONNX test data input_0.pb format).
Tensor read_onnx_tensor_file(const std::string& path);

// Element type codes: dtype_from_onnx / onnx_from_dtype in core/dtype.h.

}  // namespace transfix
