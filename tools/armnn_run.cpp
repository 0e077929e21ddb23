// armnn_run: runs a .tflite model with Arm NN's TFLite parser on the CpuRef backend (Arm's
// reference kernels), an independent TFLite implementation to compare transfix against.
//
//   armnn_run MODEL.tflite --input [NAME=]in.npy [...] --output-dir DIR [--repeat N]
//
// Each output is written as DIR/<name>.npy (characters outside [A-Za-z0-9._-] become "_"), the
// same naming as tools/node/tflite_run.js. Inputs are matched by tensor name; an input without
// NAME= feeds the model's only input. --repeat N runs N more times and prints the mean latency.
// Exit codes: 0 ok, 2 bad usage or input file, 1 Arm NN could not parse or run the model.
#include <armnn/ArmNN.hpp>
#include <armnnTfLiteParser/ITfLiteParser.hpp>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include "core/errors.h"
#include "data/npy.h"

namespace {

struct Args {
  std::string model, output_dir;
  std::vector<std::pair<std::string, std::string>> inputs;  // name ("" = the only input), file
  int repeat = 0;
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
    } else if (s == "--repeat") {
      a.repeat = std::stoi(value());
    } else if (!s.empty() && s[0] == '-') {
      throw transfix::InputError("unknown option " + s);
    } else {
      a.model = s;
    }
  }
  if (a.model.empty() || a.output_dir.empty())
    throw transfix::InputError("usage: armnn_run MODEL.tflite --input [NAME=]FILE.npy ... --output-dir DIR [--repeat N]");
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

std::string file_safe(const std::string& name) {
  std::string s = name;
  for (char& c : s)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' && c != '-') c = '_';
  return s;
}

int run(const Args& a) {
  auto parser = armnnTfLiteParser::ITfLiteParser::Create();
  armnn::INetworkPtr network = parser->CreateNetworkFromBinaryFile(a.model.c_str());
  armnn::IRuntime::CreationOptions options;
  armnn::IRuntimePtr runtime = armnn::IRuntime::Create(options);
  std::vector<std::string> errors;
  armnn::IOptimizedNetworkPtr optimized = armnn::Optimize(*network, {armnn::Compute::CpuRef}, runtime->GetDeviceSpec(),
                                                          armnn::OptimizerOptions(), armnn::Optional<std::vector<std::string>&>(errors));
  if (!optimized) {
    std::string all;
    for (const auto& e : errors) all += " " + e;
    if (all.empty()) all = " no CpuRef backend (Debian package libarmnn-cpuref-backend22)";
    throw std::runtime_error("Optimize (CpuRef) failed:" + all);
  }
  armnn::NetworkId id = 0;
  std::string message;
  if (runtime->LoadNetwork(id, std::move(optimized), message, armnn::INetworkProperties()) != armnn::Status::Success)
    throw std::runtime_error("LoadNetwork: " + message);

  const auto input_names = parser->GetSubgraphInputTensorNames(0);
  std::vector<transfix::Tensor> input_data;
  armnn::InputTensors inputs;
  for (const auto& [name, file] : a.inputs) {
    std::string tensor = name;
    if (tensor.empty()) {
      if (input_names.size() != 1) throw transfix::InputError("the model has several inputs: give NAME=FILE");
      tensor = input_names[0];
    }
    auto binding = parser->GetNetworkInputBindingInfo(0, tensor);
    transfix::Tensor t = transfix::read_npy(file);
    const transfix::DType want = dtype_of(binding.second.GetDataType());
    if (t.dtype() != want) t = t.cast(want);
    if (t.nbytes() != binding.second.GetNumBytes())
      throw transfix::InputError(file + ": " + std::to_string(t.nbytes()) + " bytes, input '" + tensor + "' needs " +
                                 std::to_string(binding.second.GetNumBytes()));
    input_data.push_back(t);
    inputs.emplace_back(binding.first, armnn::ConstTensor(binding.second, input_data.back().raw()));
  }
  const auto output_names = parser->GetSubgraphOutputTensorNames(0);
  std::vector<transfix::Tensor> output_data;
  armnn::OutputTensors outputs;
  for (const auto& name : output_names) {
    auto binding = parser->GetNetworkOutputBindingInfo(0, name);
    transfix::Shape shape;
    for (unsigned d = 0; d < binding.second.GetNumDimensions(); ++d) shape.push_back(binding.second.GetShape()[d]);
    output_data.emplace_back(dtype_of(binding.second.GetDataType()), shape);
    outputs.emplace_back(binding.first, armnn::Tensor(binding.second, output_data.back().raw_mutable()));
  }
  if (runtime->EnqueueWorkload(id, inputs, outputs) != armnn::Status::Success) throw std::runtime_error("EnqueueWorkload failed");
  if (a.repeat > 0) {
    const auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < a.repeat; ++i) runtime->EnqueueWorkload(id, inputs, outputs);
    const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count() / a.repeat;
    std::cout << "latency_ms " << ms << "\n";
  }
  std::filesystem::create_directories(a.output_dir);
  for (size_t i = 0; i < output_names.size(); ++i)
    transfix::write_npy(a.output_dir + "/" + file_safe(output_names[i]) + ".npy", output_data[i]);
  std::cout << "wrote " << output_names.size() << " outputs to " << a.output_dir << "\n";
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
