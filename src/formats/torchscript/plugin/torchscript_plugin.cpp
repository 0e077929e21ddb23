// The only libtorch-linked code of the transfix library, built as a separate shared object that the
// TorchScript reader loads on demand (libtorch's static initialization costs ~0.5 s of CPU and
// ~160 MB of memory per process: runs of ONNX or TFLite models should not pay for it).
//
// It loads a TorchScript archive with torch::jit::load, inlines every submodule call into forward(),
// resolves module attributes (prim::GetAttr chains from `self`) into named constants and hands the
// graph over as plain ts::Graph data. Lowering to the IR happens in torchscript_lower.cpp.
#include <torch/csrc/jit/api/module.h>
#include <torch/csrc/jit/ir/ir.h>
#include <torch/csrc/jit/passes/dead_code_elimination.h>
#include <torch/csrc/jit/passes/freeze_module.h>
#include <torch/csrc/jit/passes/inliner.h>
#include <torch/csrc/jit/runtime/graph_executor.h>
#include <torch/csrc/jit/serialization/import.h>

#include <unordered_map>

#include "formats/torchscript/ts_graph.h"

namespace transfix::ts {
namespace {

class UnsupportedInput : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// First line of a libtorch message (the rest is a C++ stack trace or source excerpt).
// The first line of a message that says something (libtorch's may start with a blank line).
std::string first_line(const char* what) {
  std::string s(what ? what : "");
  size_t start = 0;
  while (start < s.size()) {
    size_t nl = s.find('\n', start);
    std::string line = s.substr(start, nl == std::string::npos ? std::string::npos : nl - start);
    if (line.find_first_not_of(" \t\r") != std::string::npos) return line;
    if (nl == std::string::npos) break;
    start = nl + 1;
  }
  return "libtorch gave no message";
}

ElemType elem_type(at::ScalarType t) {
  switch (t) {
    case at::kFloat: return ElemType::kF32;
    case at::kDouble: return ElemType::kF64;
    case at::kHalf: return ElemType::kF16;
    case at::kBFloat16: return ElemType::kBF16;
    case at::kLong: return ElemType::kI64;
    case at::kInt: return ElemType::kI32;
    case at::kShort: return ElemType::kI16;
    case at::kChar: return ElemType::kI8;
    case at::kByte: return ElemType::kU8;
    case at::kBool: return ElemType::kBool;
    default: throw UnsupportedInput(std::string("tensors of type ") + c10::toString(t) + " are not supported");
  }
}

// Shares the tensor's memory (made contiguous first); the TensorData keeps the at::Tensor alive.
TensorData tensor_data(const at::Tensor& tensor) {
  if (tensor.is_quantized()) throw UnsupportedInput("quantized tensors are not supported");
  if (!tensor.device().is_cpu()) throw UnsupportedInput("tensors on " + tensor.device().str() + " are not supported");
  auto held = std::make_shared<at::Tensor>(tensor.detach().contiguous());
  TensorData d;
  d.type = elem_type(held->scalar_type());
  d.shape.assign(held->sizes().begin(), held->sizes().end());
  d.data = held->data_ptr();
  d.bytes = held->numel() * held->element_size();
  d.owner = held;
  return d;
}

// A constant or attribute value. Returns false for values with no ts::Const form (objects, tuples, ...).
bool to_const(const c10::IValue& v, Const* out) {
  if (v.isNone()) *out = None{};
  else if (v.isBool()) *out = v.toBool();
  else if (v.isInt()) *out = v.toInt();
  else if (v.isDouble()) *out = v.toDouble();
  else if (v.isString()) *out = v.toStringRef();
  else if (v.isDevice()) *out = v.toDevice().str();
  else if (v.isIntList()) *out = v.toIntVector();
  else if (v.isDoubleList()) *out = v.toDoubleVector();
  else if (v.isBoolList()) {
    std::vector<int64_t> ints;
    for (bool b : v.toBoolList()) ints.push_back(b);
    *out = ints;
  } else if (v.isTensor()) *out = tensor_data(v.toTensor());
  else return false;
  return true;
}

std::string module_path(const torch::jit::Node* n) {
  std::string path;
  if (auto cs = n->callstack()) {
    for (const auto& entry : (*cs)->vec()) {
      const auto& instance = std::get<2>(entry);
      if (!instance) continue;
      const std::string& name = instance->instance_name();
      if (name == "SELF" || name == "INSTANCE_NAME_UNKNOWN") continue;
      path += (path.empty() ? "" : ".") + name;
    }
  }
  return path;
}

class Exporter {
 public:
  explicit Exporter(Graph* out) : out_(out) {}

  void run(const torch::jit::Module& module, torch::jit::Graph& graph) {
    auto inputs = graph.inputs();
    if (inputs.empty()) throw UnsupportedInput("forward() has no `self` argument");
    objects_[inputs[0]] = {module._ivalue(), ""};
    add_value(inputs[0]).is_module = true;
    for (size_t i = 1; i < inputs.size(); ++i) out_->inputs.push_back(id(inputs[i]));
    int64_t index = 0;
    for (torch::jit::Node* n : graph.nodes()) export_node(n, index++);
    for (torch::jit::Value* v : graph.outputs()) out_->outputs.push_back(id(v));
  }

 private:
  struct Object {
    c10::IValue value;
    std::string path;
  };

  Value& add_value(const torch::jit::Value* v) {
    ids_[v] = static_cast<int>(out_->values.size());
    Value& val = out_->values.emplace_back();
    val.name = v->debugName();
    val.type = v->type()->str();
    return val;
  }
  int id(const torch::jit::Value* v) {
    auto it = ids_.find(v);
    if (it != ids_.end()) return it->second;
    add_value(v);
    return ids_.at(v);
  }

  void export_node(torch::jit::Node* n, int64_t index) {
    if (n->kind() == c10::prim::Constant) return export_constant(n);
    if (n->kind() == c10::prim::GetAttr) return export_attribute(n);
    Node& node = out_->nodes.emplace_back();
    node.kind = n->kind().toQualString();
    node.module_path = module_path(n);
    node.index = index;
    node.has_blocks = !n->blocks().empty();
    for (torch::jit::Value* v : n->inputs()) node.inputs.push_back(id(v));
    for (torch::jit::Value* v : n->outputs()) node.outputs.push_back(id(v));
  }

  // Frozen modules hold their parameters as constants named "self.<attribute path>".
  void export_constant(torch::jit::Node* n) {
    Value& val = add_value(n->output());
    auto iv = torch::jit::toIValue(n->output());
    val.is_const = iv && to_const(*iv, &val.value);
    if (val.is_const && iv->isTensor() && val.name.rfind("self.", 0) == 0) {
      val.is_param = true;
      val.name = val.name.substr(5);
    }
  }

  // self.features.3.weight: submodules are followed, anything else becomes a named constant.
  void export_attribute(torch::jit::Node* n) {
    auto owner = objects_.find(n->input());
    if (owner == objects_.end())
      throw UnsupportedInput("prim::GetAttr on a value that is not a module (" + n->input()->debugName() + ")");
    const std::string& attr = n->s(c10::attr::name);
    std::string path = owner->second.path.empty() ? attr : owner->second.path + "." + attr;
    c10::IValue v = owner->second.value.toObject()->getAttr(attr);
    Value& val = add_value(n->output());
    if (v.isObject()) {
      val.is_module = true;
      objects_[n->output()] = {v, path};
      return;
    }
    val.is_const = to_const(v, &val.value);
    val.is_param = val.is_const && v.isTensor();
    if (val.is_param) val.name = path;
  }

  Graph* out_;
  std::unordered_map<const torch::jit::Value*, int> ids_;
  std::unordered_map<const torch::jit::Value*, Object> objects_;
};

bool has_control_flow(const torch::jit::Graph& graph) {
  for (const torch::jit::Node* n : graph.nodes())
    if (!n->blocks().empty()) return true;
  return false;
}

// An input check that scripted library code makes (`if x.dim() != 4: raise ...`): a prim::If without
// outputs whose branches do nothing but possibly raise. It never changes a result, so it is dropped
// (with the shape arithmetic feeding it, by dead code elimination).
bool is_guard(const torch::jit::Node* n) {
  if (n->kind() != c10::prim::If || n->outputs().size() != 0) return false;
  for (const torch::jit::Block* b : n->blocks())
    for (const torch::jit::Node* inner : b->nodes())
      if (inner->kind() != c10::prim::RaiseException && inner->kind() != c10::prim::Constant) return false;
  return true;
}

void drop_guards(torch::jit::Graph& graph) {
  for (auto it = graph.nodes().begin(); it != graph.nodes().end();) {
    torch::jit::Node* n = *it++;
    if (is_guard(n)) n->destroy();
  }
  torch::jit::EliminateDeadCode(graph.block());
}

// forward() with every call inlined. Scripted modules branch on attributes (`if self.training`);
// freezing turns attributes into constants and folds those branches away (without the numerical
// rewrites of torch.jit.freeze's optimizations: weights stay exactly as stored).
std::shared_ptr<torch::jit::Graph> forward_graph(torch::jit::Module& module) {
  // Inlining follows the process-wide "graph executor optimize" switch; a host that turned it off
  // (as the benchmark does for libtorch's own runs) would otherwise get calls left un-inlined.
  torch::jit::GraphOptimizerEnabledGuard inline_everything(true);
  std::shared_ptr<torch::jit::Graph> graph = module.get_method("forward").graph()->copy();
  torch::jit::Inline(*graph);
  if (!has_control_flow(*graph)) return graph;
  module = torch::jit::freeze_module(module);
  graph = module.get_method("forward").graph()->copy();
  drop_guards(*graph);
  return graph;
}

Status read(const std::string& path, Graph* out, std::string* error) {
  torch::jit::Module module;
  try {
    module = torch::jit::load(path);
  } catch (const c10::Error& e) {
    *error = path + ": not a readable TorchScript archive (torch.jit.load: " + first_line(e.what()) + ")";
    return Status::kInputError;
  }
  try {
    module.eval();
    if (!module.find_method("forward")) {
      *error = path + ": the TorchScript module has no forward() method";
      return Status::kInputError;
    }
    std::shared_ptr<torch::jit::Graph> graph = forward_graph(module);
    Exporter(out).run(module, *graph);
  } catch (const UnsupportedInput& e) {
    *error = path + ": " + e.what();
    return Status::kUnsupported;
  } catch (const c10::Error& e) {
    *error = path + ": cannot read the TorchScript graph (" + first_line(e.what()) + ")";
    return Status::kInputError;
  }
  return Status::kOk;
}

}  // namespace
}  // namespace transfix::ts

extern "C" __attribute__((visibility("default"))) int transfix_torchscript_abi_version() { return transfix::ts::kAbiVersion; }

extern "C" __attribute__((visibility("default"))) int transfix_torchscript_read(const char* path, transfix::ts::Graph* out,
                                                                               std::string* error) {
  try {
    return static_cast<int>(transfix::ts::read(path, out, error));
  } catch (const std::exception& e) {  // never let an exception cross the dlopen boundary
    *error = std::string(path) + ": " + transfix::ts::first_line(e.what());
    return static_cast<int>(transfix::ts::Status::kInputError);
  }
}
