// A model run by its deployment runtime instead of transfix's interpreter, so compare can check what
// users ship (and the interpreter is checked against an independent implementation). Today: ONNX
// Runtime (onnxruntime-node, tools/node/ort_run.js --serve) in a child process that loads the model
// once and answers one request per sample; tensors travel as .npy files in a private temp folder.
#pragma once
#include <map>
#include <memory>
#include <string>

#include "core/tensor.h"

namespace transfix {

class NativeRuntime {
 public:
  // kind "ort". Throws InputError (unknown kind, Node or the runner missing, the model refused).
  static std::unique_ptr<NativeRuntime> start(const std::string& kind, const std::string& model_path, int threads);
  virtual ~NativeRuntime() = default;
  // Outputs by name. Throws InputError with the runtime's message when it fails on these inputs.
  virtual std::map<std::string, Tensor> run(const std::map<std::string, Tensor>& inputs) = 0;
  virtual std::string description() const = 0;  // "onnxruntime-node (tools/node/ort_run.js)"
};

}  // namespace transfix
