// A model run by its deployment runtime instead of transfix's interpreter, so compare can check what
// users ship (and the interpreter is checked against independent implementations):
//   ort       ONNX Runtime (PyPI onnxruntime, tools/python/ort_run.py), ONNX models
//   litert    the TFLite / LiteRT interpreter with its default kernels, XNNPACK included (PyPI
//             ai-edge-litert, tools/python/litert_run.py), TFLite models
//   armnn     Arm NN's TFLite parser on the CpuRef backend (tools/armnn_run), TFLite models
//   libtorch  libtorch running forward() (tools/torch_run), TorchScript models
// Each runs in a child process that loads the model once and answers one request per sample
// (tools/serve.h); tensors travel as .npy files in a private temp folder.
#pragma once
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace transfix {

// Throws InputError unless `kind` is "transfix" or a native runtime that takes models of `path`'s
// format and is available (its runner was built). `option` names the flag in messages.
void check_runtime(const std::string& kind, const std::string& path, const std::string& option);

class NativeRuntime {
 public:
  // Starts the runtime on the model; returns once the model is loaded. `input_names` and
  // `output_names` are the model's inputs and outputs as transfix names them, in order (for runtimes
  // that take or return them by position). Throws InputError when the runtime refuses the model.
  static std::unique_ptr<NativeRuntime> start(const std::string& kind, const std::string& model_path,
                                              const std::vector<std::string>& input_names,
                                              const std::vector<std::string>& output_names, int threads);
  virtual ~NativeRuntime() = default;
  // Outputs by name. Throws InputError with the runtime's message when it fails on these inputs.
  virtual std::map<std::string, Tensor> run(const std::map<std::string, Tensor>& inputs) = 0;
  // What ran, as the runtime reports it: "onnxruntime 1.31.1", "1.13.0, 2 threads" (libtorch).
  virtual std::string version() const = 0;
};

}  // namespace transfix
