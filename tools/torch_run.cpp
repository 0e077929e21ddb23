// torch_run: runs a TorchScript module's forward() in libtorch (CPU, eval mode, no grad): the
// deployment runtime of TorchScript models, for transfix compare --source-runtime/--target-runtime
// libtorch. A separate process so that transfix itself never links libtorch (see the reader's plugin).
//
//   torch_run MODEL.pt --input in.npy [...] --output-dir DIR [--threads N]
//   torch_run MODEL.pt --serve [--threads N]     (load once, answer requests on stdin: tools/serve.h)
//
// Inputs are forward()'s arguments in order. Outputs are the returned tensors, tuples and lists
// flattened in order (the order of the TorchScript reader's "output" or output_0, output_1, ...),
// written as DIR/output_I.npy. Exit codes: 0 ok, 2 bad usage or input file, 1 libtorch could not load or run it.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/csrc/jit/api/module.h>
#include <torch/csrc/jit/serialization/import.h>
#include <torch/version.h>

#include <cstring>
#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

#include "core/errors.h"
#include "data/npy.h"
#include "serve.h"

namespace {

using transfix::DType;
using transfix::Tensor;

struct Args {
  std::string model, output_dir;
  std::vector<std::string> inputs;
  int threads = 0;
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
    if (s == "--input") a.inputs.push_back(value());
    else if (s == "--output-dir") a.output_dir = value();
    else if (s == "--threads") a.threads = std::stoi(value());
    else if (s == "--serve") a.serve = true;
    else if (!s.empty() && s[0] == '-') throw transfix::InputError("unknown option " + s);
    else a.model = s;
  }
  if (a.model.empty() || (a.output_dir.empty() && !a.serve))
    throw transfix::InputError("usage: torch_run MODEL.pt (--input FILE.npy ... --output-dir DIR | --serve) [--threads N]");
  return a;
}

at::ScalarType scalar_type(DType t) {
  switch (t) {
    case DType::kF32: return at::kFloat;
    case DType::kF64: return at::kDouble;
    case DType::kI64: return at::kLong;
    case DType::kI32: return at::kInt;
    case DType::kI16: return at::kShort;
    case DType::kI8: return at::kChar;
    case DType::kU8: return at::kByte;
    case DType::kBool: return at::kBool;
    default: throw transfix::InputError(std::string("inputs of type ") + transfix::dtype_name(t) + " are not supported");
  }
}

DType dtype_of(at::ScalarType t) {
  switch (t) {
    case at::kFloat: return DType::kF32;
    case at::kDouble: return DType::kF64;
    case at::kLong: return DType::kI64;
    case at::kInt: return DType::kI32;
    case at::kShort: return DType::kI16;
    case at::kChar: return DType::kI8;
    case at::kByte: return DType::kU8;
    case at::kBool: return DType::kBool;
    default: throw std::runtime_error(std::string("forward() returned a tensor of type ") + c10::toString(t));
  }
}

at::Tensor to_torch(const Tensor& t) {
  std::vector<int64_t> shape(t.shape().begin(), t.shape().end());
  return at::from_blob(const_cast<void*>(t.raw()), shape, scalar_type(t.dtype())).clone();
}

Tensor from_torch(const at::Tensor& x) {
  at::Tensor c = x.detach().contiguous();
  Tensor t(dtype_of(c.scalar_type()), transfix::Shape(c.sizes().begin(), c.sizes().end()));
  std::memcpy(t.raw_mutable(), c.data_ptr(), t.nbytes());
  return t;
}

// forward()'s result as a flat list of tensors: tuples and lists in order.
void flatten(const c10::IValue& v, std::vector<Tensor>& out) {
  if (v.isTensor()) out.push_back(from_torch(v.toTensor()));
  else if (v.isTuple())
    for (const auto& e : v.toTupleRef().elements()) flatten(e, out);
  else if (v.isTensorList())
    for (const at::Tensor& t : v.toTensorVector()) out.push_back(from_torch(t));
  else if (v.isList())
    for (const auto& e : v.toListRef()) flatten(e, out);
  else throw std::runtime_error("forward() returned a " + v.tagKind() + ", not tensors");
}

class TorchModel {
 public:
  explicit TorchModel(const std::string& path) {
    try {
      module_ = torch::jit::load(path);
    } catch (const c10::Error& e) {
      throw transfix::InputError(path + ": not a readable TorchScript archive (" +
                                 transfix::serve::first_line(e.what()) + ")");
    }
    module_.eval();
  }

  // Positional inputs (names are ignored); outputs unnamed, in order.
  transfix::serve::Named run(const transfix::serve::Named& inputs) {
    at::NoGradGuard no_grad;
    std::vector<c10::IValue> args;
    for (const auto& [name, t] : inputs) args.emplace_back(to_torch(t));
    std::vector<Tensor> flat;
    try {
      flatten(module_.forward(args), flat);
    } catch (const c10::Error& e) {
      throw std::runtime_error("forward(): " + transfix::serve::first_line(e.what()));
    }
    transfix::serve::Named out;
    for (Tensor& t : flat) out.emplace_back("", std::move(t));
    return out;
  }

 private:
  torch::jit::Module module_;
};

int run(const Args& a) {
  if (a.threads > 0) at::set_num_threads(a.threads);
  TorchModel model(a.model);
  if (a.serve) {
    const std::string ready = std::string(TORCH_VERSION) + ", " + std::to_string(at::get_num_threads()) + " threads";
    return transfix::serve::serve_requests(ready, [&](const auto& in) { return model.run(in); });
  }
  transfix::serve::Named inputs;
  for (const auto& file : a.inputs) inputs.emplace_back("", transfix::read_npy(file));
  transfix::serve::Named outputs = model.run(inputs);
  std::filesystem::create_directories(a.output_dir);
  for (size_t i = 0; i < outputs.size(); ++i)
    transfix::write_npy(a.output_dir + "/output_" + std::to_string(i) + ".npy", outputs[i].second);
  std::cout << "wrote " << outputs.size() << " outputs to " << a.output_dir << "\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Args a;
  try {
    a = parse(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "torch_run: " << e.what() << "\n";
    return 2;
  }
  try {
    return run(a);
  } catch (const transfix::InputError& e) {
    std::cerr << "torch_run: " << e.what() << "\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "torch_run: libtorch: " << transfix::serve::first_line(e.what()) << "\n";
    return 1;
  }
}
