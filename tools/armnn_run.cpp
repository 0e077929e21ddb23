// armnn_run: runs a .tflite model with Arm NN's TFLite parser on the CpuRef backend (Arm's
// reference kernels), an independent TFLite implementation to compare transfix against.
//
//   armnn_run MODEL.tflite --input [NAME=]in.npy [...] --output-dir DIR [--repeat N]
//   armnn_run MODEL.tflite --serve     (load once, answer requests on stdin: tools/serve.h)
//
// Each output is written as DIR/<name>.npy (characters outside [A-Za-z0-9._-] become "_"), the
// same naming as tools/python/litert_run.py. Inputs are matched by tensor name; an input without
// NAME= feeds the model's only input. --repeat N runs N more times and prints the mean latency.
// Exit codes: 0 ok, 2 bad usage or input file, 1 Arm NN could not parse or run the model.
#include <armnn/ArmNN.hpp>
#include <armnnTfLiteParser/ITfLiteParser.hpp>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include "core/errors.h"
#include "data/npy.h"
#include "serve.h"

namespace {

struct Args {
  std::string model, output_dir;
  std::vector<std::pair<std::string, std::string>> inputs;  // name ("" = the only input), file
  int repeat = 0;
  bool serve = false;
};

Args parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    std::string s = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) throw transfix::InputError(s + " needs a value");
      return argv[++i];
    };
    if (s == "--input") {
      std::string v = value();
      const size_t eq = v.find('=');
      if (eq != std::string::npos && eq > 0) a.inputs.emplace_back(v.substr(0, eq), v.substr(eq + 1));
      else a.inputs.emplace_back("", v);
    } else if (s == "--output-dir") {
      a.output_dir = value();
    } else if (s == "--serve") {
      a.serve = true;
    } else if (s == "--repeat") {
      a.repeat = std::stoi(value());
    } else if (!s.empty() && s[0] == '-') {
      throw transfix::InputError("unknown option " + s);
    } else {
      a.model = s;
    }
  }
  if (a.model.empty() || (a.output_dir.empty() && !a.serve))
    throw transfix::InputError("usage: armnn_run MODEL.tflite (--input [NAME=]FILE.npy ... --output-dir DIR [--repeat N] | --serve)");
  return a;
}

transfix::DType dtype_of(armnn::DataType t) {
  switch (t) {
    case armnn::DataType::Float32: return transfix::DType::kF32;
    case armnn::DataType::QAsymmU8: return transfix::DType::kU8;
    case armnn::DataType::QAsymmS8: return transfix::DType::kI8;
    case armnn::DataType::QSymmS8: return transfix::DType::kI8;
    case armnn::DataType::QSymmS16: return transfix::DType::kI16;
    case armnn::DataType::Signed32: return transfix::DType::kI32;
    case armnn::DataType::Boolean: return transfix::DType::kBool;
    default: throw transfix::UnsupportedError("Arm NN tensor type " + std::to_string(static_cast<int>(t)), "armnn");
  }
}

// A network parsed, optimized for CpuRef and loaded once; run() may be called many times.
class ArmnnModel {
 public:
  explicit ArmnnModel(const std::string& path) : parser_(armnnTfLiteParser::ITfLiteParser::Create()) {
    armnn::INetworkPtr network = parser_->CreateNetworkFromBinaryFile(path.c_str());
    runtime_ = armnn::IRuntime::Create(armnn::IRuntime::CreationOptions());
    std::vector<std::string> errors;
    armnn::IOptimizedNetworkPtr optimized = armnn::Optimize(*network, {armnn::Compute::CpuRef}, runtime_->GetDeviceSpec(),
                                                            armnn::OptimizerOptions(), armnn::Optional<std::vector<std::string>&>(errors));
    if (!optimized) {
      std::string all;
      for (const auto& e : errors) all += " " + e;
      if (all.empty()) all = " no CpuRef backend (Debian package libarmnn-cpuref-backend22)";
      throw std::runtime_error("Optimize (CpuRef) failed:" + all);
    }
    std::string message;
    if (runtime_->LoadNetwork(id_, std::move(optimized), message, armnn::INetworkProperties()) != armnn::Status::Success)
      throw std::runtime_error("LoadNetwork: " + message);
    input_names_ = parser_->GetSubgraphInputTensorNames(0);
    output_names_ = parser_->GetSubgraphOutputTensorNames(0);
  }

  // Inputs by tensor name ("" feeds the only input); outputs by tensor name, in the model's order.
  transfix::serve::Named run(const transfix::serve::Named& named_inputs) {
    std::vector<transfix::Tensor> input_data;
    input_data.reserve(named_inputs.size());  // ConstTensors point into these
    armnn::InputTensors inputs;
    for (const auto& [name, given] : named_inputs) {
      std::string tensor = name;
      if (tensor.empty()) {
        if (input_names_.size() != 1) throw transfix::InputError("the model has several inputs: give NAME=FILE");
        tensor = input_names_[0];
      }
      if (std::find(input_names_.begin(), input_names_.end(), tensor) == input_names_.end())
        throw transfix::InputError("the model has no input '" + tensor + "'");
      auto binding = parser_->GetNetworkInputBindingInfo(0, tensor);
      transfix::Tensor t = given;
      const transfix::DType want = dtype_of(binding.second.GetDataType());
      if (t.dtype() != want) t = t.cast(want);
      if (t.nbytes() != binding.second.GetNumBytes())
        throw transfix::InputError("input '" + tensor + "': " + std::to_string(t.nbytes()) + " bytes, the model needs " +
                                   std::to_string(binding.second.GetNumBytes()));
      input_data.push_back(t);
      inputs.emplace_back(binding.first, armnn::ConstTensor(binding.second, input_data.back().raw()));
    }
    transfix::serve::Named results;
    armnn::OutputTensors outputs;
    for (const auto& name : output_names_) {
      auto binding = parser_->GetNetworkOutputBindingInfo(0, name);
      transfix::Shape shape;
      for (unsigned d = 0; d < binding.second.GetNumDimensions(); ++d) shape.push_back(binding.second.GetShape()[d]);
      results.emplace_back(name, transfix::Tensor(dtype_of(binding.second.GetDataType()), shape));
    }
    for (size_t i = 0; i < results.size(); ++i) {
      auto binding = parser_->GetNetworkOutputBindingInfo(0, output_names_[i]);
      outputs.emplace_back(binding.first, armnn::Tensor(binding.second, results[i].second.raw_mutable()));
    }
    if (runtime_->EnqueueWorkload(id_, inputs, outputs) != armnn::Status::Success) throw std::runtime_error("EnqueueWorkload failed");
    return results;
  }

 private:
  armnnTfLiteParser::ITfLiteParserPtr parser_;
  armnn::IRuntimePtr runtime_{nullptr, nullptr};
  armnn::NetworkId id_ = 0;
  std::vector<std::string> input_names_, output_names_;
};

// The library's ABI version (Debian's Arm NN 20.08 is libarmnn 22.0.0).
std::string version() { return std::string("CpuRef backend, libarmnn ") + ARMNN_VERSION; }

int run(const Args& a) {
  ArmnnModel model(a.model);
  if (a.serve) return transfix::serve::serve_requests(version(), [&](const auto& in) { return model.run(in); });
  transfix::serve::Named inputs;
  for (const auto& [name, file] : a.inputs) inputs.emplace_back(name, transfix::read_npy(file));
  transfix::serve::Named outputs = model.run(inputs);
  if (a.repeat > 0) {
    const auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < a.repeat; ++i) model.run(inputs);
    const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count() / a.repeat;
    std::cout << "latency_ms " << ms << "\n";
  }
  std::filesystem::create_directories(a.output_dir);
  for (const auto& [name, t] : outputs) transfix::write_npy(a.output_dir + "/" + transfix::serve::file_safe(name) + ".npy", t);
  std::cout << "wrote " << outputs.size() << " outputs to " << a.output_dir << "\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  armnn::ConfigureLogging(false, false, armnn::LogSeverity::Fatal);
  Args a;
  try {
    a = parse(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "armnn_run: " << e.what() << "\n";
    return 2;
  }
  try {
    return run(a);
  } catch (const transfix::InputError& e) {
    std::cerr << "armnn_run: " << e.what() << "\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "armnn_run: Arm NN: " << e.what() << "\n";
    return 1;
  }
}
