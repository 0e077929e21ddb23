// Lowering a TorchScript graph (ts::Graph from the libtorch plugin) to the IR: walks the inlined
// forward() in order, tracks what each TorchScript value became (an IR tensor, a constant known at
// import time, a list of values) and asks the op's lowering (torchscript_ops.cpp) to emit IR nodes.
//
// TorchScript graphs carry no shapes, so nothing here assumes the input's shape: shape arithmetic
// a traced graph recorded (aten::size feeding aten::view) becomes Shape/Gather/Concat nodes that
// compute it at run time, exactly as the model does.
#include "formats/torchscript/torchscript_lower.h"

#include <cstring>

#include "core/errors.h"
#include "formats/torchscript/torchscript_reader.h"

namespace transfix {
namespace tsl {

Attribute attr(int64_t v) { return Attribute{v}; }
Attribute attr(double v) { return Attribute{v}; }
Attribute attr(const std::string& v) { return Attribute{v}; }
Attribute attr(std::vector<int64_t> v) { return Attribute{std::move(v)}; }

namespace {

DType dtype_of(ts::ElemType t) {
  switch (t) {
    case ts::ElemType::kF32: return DType::kF32;
    case ts::ElemType::kF64: return DType::kF64;
    case ts::ElemType::kF16: return DType::kF16;
    case ts::ElemType::kBF16: return DType::kBF16;
    case ts::ElemType::kI64: return DType::kI64;
    case ts::ElemType::kI32: return DType::kI32;
    case ts::ElemType::kI16: return DType::kI16;
    case ts::ElemType::kI8: return DType::kI8;
    case ts::ElemType::kU8: return DType::kU8;
    case ts::ElemType::kBool: return DType::kBool;
  }
  return DType::kUndefined;
}

// Wraps libtorch's memory (no copy); the storage's owner keeps the at::Tensor alive.
Tensor to_tensor(const ts::TensorData& d) {
  DType dt = dtype_of(d.type);
  auto storage = Storage::wrap(const_cast<void*>(d.data), d.bytes, d.owner);
  return Tensor(dt, d.shape, storage);
}

// A TorchScript in-place op ("aten::relu_") mutates its first input; later uses of that input see
// the result.
bool is_in_place(const std::string& kind) {
  return kind.size() > 2 && kind.back() == '_' && kind[kind.size() - 2] != '_';
}

// TorchScript debug names are unique; "x.3" reads better as "x" for a graph input.
std::string strip_suffix(const std::string& name) {
  size_t dot = name.rfind('.');
  if (dot == std::string::npos || dot + 1 == name.size()) return name;
  for (size_t i = dot + 1; i < name.size(); ++i)
    if (name[i] < '0' || name[i] > '9') return name;
  return name.substr(0, dot);
}

// Traced graphs record Python numbers in tensor arithmetic (`x / 6.0`) as 0-d tensor constants. Torch
// treats those like numbers in type promotion (float32 / 0-d double stays float32), so they become numbers.
ts::Const number_of_scalar_tensor(const ts::TensorData& d) {
  const void* p = d.data;
  switch (d.type) {
    case ts::ElemType::kF32: return static_cast<double>(*static_cast<const float*>(p));
    case ts::ElemType::kF64: return *static_cast<const double*>(p);
    case ts::ElemType::kI64: return *static_cast<const int64_t*>(p);
    case ts::ElemType::kI32: return static_cast<int64_t>(*static_cast<const int32_t*>(p));
    case ts::ElemType::kBool: return *static_cast<const bool*>(p);
    default: return d;
  }
}

}  // namespace

Lowering::Lowering(const ts::Graph& graph, std::string path) : graph_(graph), path_(std::move(path)) {
  syms_.resize(graph.values.size());
  for (size_t i = 0; i < graph.values.size(); ++i) {
    const ts::Value& v = graph.values[i];
    if (v.is_module) syms_[i].kind = Sym::Kind::kModule;
    else if (v.is_const) {
      syms_[i].kind = Sym::Kind::kConst;
      syms_[i].value = v.value;
      auto* t = std::get_if<ts::TensorData>(&v.value);
      if (t && !v.is_param && t->shape.empty() && t->bytes > 0) syms_[i].value = number_of_scalar_tensor(*t);
    }
  }
}

Model Lowering::run() {
  model_.path = path_;
  model_.meta.format = "torchscript";
  model_.meta.producer_name = "torchscript";
  model_.meta.opsets[""] = 17;
  model_.graph.name = "forward";
  bind_inputs();
  for (const ts::Node& n : graph_.nodes) {
    node_ = &n;
    lower_node();
  }
  node_ = nullptr;
  bind_outputs();
  return std::move(model_);
}

// TorchScript records no shapes, but a graph input whose size() is unpacked into k values has rank k,
// and one that reaches a convolution (directly or through ops that keep the rank: padding,
// normalization, element-wise ops) has the weight's rank (the IR's Conv requires exactly that).
// Knowing the rank lets transpose, padding, repeat etc. be lowered.
int64_t Lowering::input_rank_hint(int input_id) const {
  static const std::set<std::string> keeps_rank = {
      "aten::pad", "aten::constant_pad_nd", "aten::reflection_pad1d", "aten::reflection_pad2d",
      "aten::reflection_pad3d", "aten::replication_pad1d", "aten::replication_pad2d", "aten::replication_pad3d",
      "aten::batch_norm", "aten::relu", "aten::relu_", "aten::add", "aten::sub", "aten::mul", "aten::div",
      "aten::contiguous", "aten::clone", "aten::dropout", "aten::to"};
  // `n, c, h, w = x.size()` unpacks exactly rank-many values (TorchScript raises otherwise).
  for (const ts::Node& size : graph_.nodes) {
    if (size.kind != "aten::size" || size.inputs.size() != 1 || size.inputs[0] != input_id) continue;
    for (const ts::Node& unpack : graph_.nodes)
      if (unpack.kind == "prim::ListUnpack" && unpack.inputs.size() == 1 && unpack.inputs[0] == size.outputs.at(0))
        return static_cast<int64_t>(unpack.outputs.size());
  }
  int value = input_id;
  for (int depth = 0; depth < 16; ++depth) {
    const ts::Node* consumer = nullptr;
    for (const ts::Node& n : graph_.nodes)
      if (!n.inputs.empty() && n.inputs[0] == value) {
        consumer = &n;
        break;
      }
    if (!consumer || consumer->outputs.empty()) return -1;
    const std::string& k = consumer->kind;
    if (k == "aten::_convolution" || k == "aten::conv1d" || k == "aten::conv2d" || k == "aten::conv3d") {
      const ts::Value& w = graph_.values.at(static_cast<size_t>(consumer->inputs.at(1)));
      auto* t = w.is_const ? std::get_if<ts::TensorData>(&w.value) : nullptr;
      return t ? static_cast<int64_t>(t->shape.size()) : -1;
    }
    if (!keeps_rank.count(k)) return -1;
    value = consumer->outputs[0];
  }
  return -1;
}

void Lowering::bind_inputs() {
  for (int id : graph_.inputs) {
    const ts::Value& v = graph_.values.at(static_cast<size_t>(id));
    if (v.type != "Tensor")
      throw UnsupportedError(path_ + ": forward() argument '" + v.name + "' has type " + v.type +
                             " (only tensor inputs are supported)", "TorchScript");
    ValueInfo info;
    info.name = unique(strip_suffix(v.name));
    info.dtype = DType::kF32;  // TorchScript does not record it; image models take float32
    info.prov = {"torchscript", "input", v.name, -1};
    Sym& s = syms_[static_cast<size_t>(id)];
    s.kind = Sym::Kind::kTensor;
    s.name = info.name;
    s.rank = input_rank_hint(id);
    model_.graph.inputs.push_back(std::move(info));
  }
}

void Lowering::lower_node() {
  const ts::Node& n = *node_;
  if (n.has_blocks) unsupported("control flow is not supported (script the model without data-dependent branches, or trace it)");
  std::string kind = n.kind;
  if (is_in_place(kind)) kind.pop_back();
  const OpLowering* fn = find_op_lowering(kind);
  if (!fn) unsupported("no lowering for this op");
  (*fn)(*this);
  if (is_in_place(n.kind) && !n.inputs.empty() && !n.outputs.empty())
    syms_[static_cast<size_t>(n.inputs[0])] = syms_[static_cast<size_t>(n.outputs[0])];
}

void Lowering::bind_outputs() {
  std::vector<int> flat;
  for (int id : graph_.outputs) {
    const Sym& s = syms_[static_cast<size_t>(id)];
    if (s.kind == Sym::Kind::kList) flat.insert(flat.end(), s.items.begin(), s.items.end());
    else flat.push_back(id);
  }
  std::map<std::string, std::string> rename;
  std::set<std::string> fixed;  // graph inputs and initializers keep their names
  for (const ValueInfo& in : model_.graph.inputs) fixed.insert(in.name);
  for (const auto& kv : model_.graph.initializers) fixed.insert(kv.first);
  for (size_t i = 0; i < flat.size(); ++i) {
    const Sym& s = syms_[static_cast<size_t>(flat[i])];
    if (s.kind != Sym::Kind::kTensor)
      throw UnsupportedError(path_ + ": forward() returns a value that is not a tensor", "TorchScript");
    std::string out_name = flat.size() == 1 ? "output" : "output_" + std::to_string(i);
    if (used_names_.count(out_name) && !rename.count(s.name)) out_name = unique(out_name);
    if (fixed.count(s.name) || rename.count(s.name)) {
      Node id_node;
      id_node.op_type = "Identity";
      id_node.name = out_name;
      id_node.inputs = {s.name};
      id_node.outputs = {out_name};
      id_node.prov = {"torchscript", "return", "", -1};
      model_.graph.nodes.push_back(std::move(id_node));
    } else {
      rename[s.name] = out_name;
    }
    used_names_.insert(out_name);
    ValueInfo info;
    info.name = out_name;
    info.dtype = s.dtype;
    info.prov = {"torchscript", "output", s.name, -1};
    model_.graph.outputs.push_back(std::move(info));
  }
  for (Node& n : model_.graph.nodes) {
    for (auto& in : n.inputs)
      if (auto it = rename.find(in); it != rename.end()) in = it->second;
    for (auto& out : n.outputs)
      if (auto it = rename.find(out); it != rename.end()) out = it->second;
  }
}

std::string Lowering::unique(const std::string& base) {
  std::string name = base.empty() ? "v" : base;
  for (int k = 1; used_names_.count(name); ++k) name = base + "_" + std::to_string(k);
  used_names_.insert(name);
  return name;
}

std::string Lowering::where() const {
  if (!node_) return "";
  return node_->kind + " at module '" + (node_->module_path.empty() ? "<top>" : node_->module_path) + "' (node " +
         std::to_string(node_->index) + ")";
}

void Lowering::unsupported(const std::string& why) const {
  throw UnsupportedError(path_ + ": " + where() + ": " + why, node_ ? node_->kind : "");
}

const Sym& Lowering::sym(size_t i) const {
  if (i >= node_->inputs.size()) unsupported("expected at least " + std::to_string(i + 1) + " inputs");
  return syms_[static_cast<size_t>(node_->inputs[i])];
}

bool Lowering::is_none(size_t i) const {
  if (i >= node_->inputs.size()) return true;
  const Sym& s = sym(i);
  return s.kind == Sym::Kind::kConst && std::holds_alternative<ts::None>(s.value);
}

bool Lowering::is_number(size_t i) const {
  const Sym& s = sym(i);
  return s.kind == Sym::Kind::kConst && (std::holds_alternative<bool>(s.value) || std::holds_alternative<int64_t>(s.value) ||
                                         std::holds_alternative<double>(s.value));
}

int64_t Lowering::get_int(size_t i) const {
  const Sym& s = sym(i);
  if (s.kind == Sym::Kind::kConst) {
    if (auto* v = std::get_if<int64_t>(&s.value)) return *v;
    if (auto* b = std::get_if<bool>(&s.value)) return *b;
  }
  unsupported("input " + std::to_string(i) + " must be an integer known when the model is read");
}

double Lowering::get_double(size_t i) const {
  const Sym& s = sym(i);
  if (s.kind == Sym::Kind::kConst) {
    if (auto* v = std::get_if<double>(&s.value)) return *v;
    if (auto* n = std::get_if<int64_t>(&s.value)) return static_cast<double>(*n);
    if (auto* b = std::get_if<bool>(&s.value)) return *b;
  }
  unsupported("input " + std::to_string(i) + " must be a number known when the model is read");
}

bool Lowering::get_bool(size_t i) const { return get_int(i) != 0; }

std::string Lowering::get_string(size_t i) const {
  const Sym& s = sym(i);
  if (s.kind == Sym::Kind::kConst)
    if (auto* v = std::get_if<std::string>(&s.value)) return *v;
  unsupported("input " + std::to_string(i) + " must be a string constant");
}

std::vector<int64_t> Lowering::get_ints(size_t i) const {
  const Sym& s = sym(i);
  if (s.kind == Sym::Kind::kConst) {
    if (auto* v = std::get_if<std::vector<int64_t>>(&s.value)) return *v;
    if (auto* n = std::get_if<int64_t>(&s.value)) return {*n};
  }
  if (s.kind == Sym::Kind::kList) {
    std::vector<int64_t> out;
    for (int item : s.items) {
      const Sym& e = syms_[static_cast<size_t>(item)];
      auto* n = e.kind == Sym::Kind::kConst ? std::get_if<int64_t>(&e.value) : nullptr;
      if (!n) unsupported("input " + std::to_string(i) + " must be a list of integers known when the model is read");
      out.push_back(*n);
    }
    return out;
  }
  unsupported("input " + std::to_string(i) + " must be a list of integers known when the model is read");
}

std::vector<double> Lowering::get_doubles(size_t i) const {
  const Sym& s = sym(i);
  if (s.kind == Sym::Kind::kConst) {
    if (auto* v = std::get_if<std::vector<double>>(&s.value)) return *v;
    if (auto* d = std::get_if<double>(&s.value)) return {*d};
  }
  if (s.kind == Sym::Kind::kList) {
    std::vector<double> out;
    for (int item : s.items) {
      const Sym& e = syms_[static_cast<size_t>(item)];
      auto* d = e.kind == Sym::Kind::kConst ? std::get_if<double>(&e.value) : nullptr;
      if (!d) unsupported("input " + std::to_string(i) + " must be a list of floats known when the model is read");
      out.push_back(*d);
    }
    return out;
  }
  unsupported("input " + std::to_string(i) + " must be a list of floats known when the model is read");
}

const ts::TensorData* Lowering::const_tensor(size_t i) const {
  const Sym& s = sym(i);
  return s.kind == Sym::Kind::kConst ? std::get_if<ts::TensorData>(&s.value) : nullptr;
}

std::vector<int> Lowering::list_items(size_t i) const {
  const Sym& s = sym(i);
  if (s.kind != Sym::Kind::kList) unsupported("input " + std::to_string(i) + " must be a list");
  return s.items;
}

std::string Lowering::tensor(size_t i, DType like) {
  if (i >= node_->inputs.size()) unsupported("missing input " + std::to_string(i));
  return tensor_of(node_->inputs[i], like);
}

// Constants are turned into initializers the first time an op needs them as tensors.
std::string Lowering::tensor_of(int id, DType like) {
  Sym& s = syms_.at(static_cast<size_t>(id));
  if (s.kind == Sym::Kind::kTensor) return s.name;
  if (static_cast<size_t>(id) >= graph_.values.size()) unsupported("internal: unbound value");
  const ts::Value& v = graph_.values[static_cast<size_t>(id)];
  if (s.kind == Sym::Kind::kUnset) unsupported("value '" + v.name + "' is used but no op produced it");
  if (s.kind == Sym::Kind::kConst) {
    if (auto* td = std::get_if<ts::TensorData>(&s.value)) {
      Tensor t = to_tensor(*td);
      std::string name = unique(v.name);
      model_.graph.initializers[name] = t;
      if (v.is_param) model_.graph.value_prov[name] = {"torchscript", "parameter", v.name, -1};
      s = Sym{Sym::Kind::kTensor, {}, name, t.dtype(), t.rank(), {}};
      return name;
    }
    if (is_float(like) || like == DType::kI64 || like == DType::kI32) {
      if (auto* d = std::get_if<double>(&s.value)) return scalar(*d, like);
      if (auto* n = std::get_if<int64_t>(&s.value)) return scalar(static_cast<double>(*n), like);
      if (auto* b = std::get_if<bool>(&s.value)) return scalar(*b ? 1.0 : 0.0, like);
    }
    if (auto* ints = std::get_if<std::vector<int64_t>>(&s.value)) return int64s(*ints);
  }
  unsupported("value '" + v.name + "' (" + v.type + ") is used as a tensor");
}

// Float32 scalars are stored in double and cast: the fp64 oracle then computes with the exact
// constant (0.044715, 1/sqrt(2), eps...), as libtorch's double run does.
std::string Lowering::scalar(double v, DType dtype) {
  if (dtype == DType::kF32 || dtype == DType::kUndefined)
    return emit1("Cast", {constant(Tensor::scalar<double>(v), "scalar")}, {{"to", attr(int64_t{onnx_from_dtype(DType::kF32)})}});
  switch (dtype) {
    case DType::kF64: return constant(Tensor::scalar<double>(v), "scalar");
    case DType::kI64: return constant(Tensor::scalar<int64_t>(static_cast<int64_t>(v)), "scalar");
    case DType::kI32: return constant(Tensor::scalar<int32_t>(static_cast<int32_t>(v)), "scalar");
    default: return constant(Tensor::scalar<float>(static_cast<float>(v)), "scalar");
  }
}

std::string Lowering::int_list_tensor(size_t i) {
  const Sym& s = sym(i);
  if (s.kind == Sym::Kind::kTensor) return s.name;  // aten::size(x) without a dim: already a 1-D tensor
  if (s.kind == Sym::Kind::kConst) return int64s(get_ints(i));
  std::vector<int> items = list_items(i);
  bool all_const = true;
  for (int item : items) all_const = all_const && syms_[static_cast<size_t>(item)].kind == Sym::Kind::kConst;
  if (all_const) return int64s(get_ints(i));
  std::vector<std::string> parts;
  const std::string axes0 = int64s({0});
  for (int item : items) {
    const Sym& e = syms_[static_cast<size_t>(item)];
    if (e.kind == Sym::Kind::kConst) {
      auto* n = std::get_if<int64_t>(&e.value);
      if (!n) unsupported("list element is not an integer");
      parts.push_back(int64s({*n}));
    } else {
      std::string v = tensor_of(item, DType::kI64);
      if (e.dtype != DType::kI64) v = emit1("Cast", {v}, {{"to", attr(int64_t{onnx_from_dtype(DType::kI64)})}});
      parts.push_back(emit1("Unsqueeze", {v, axes0}));
    }
  }
  return emit1("Concat", parts, {{"axis", attr(int64_t{0})}});
}

std::string Lowering::constant(Tensor t, const std::string& hint) {
  std::string base = node_ ? graph_.values[static_cast<size_t>(node_->outputs.empty() ? 0 : node_->outputs[0])].name + "/" + hint : hint;
  std::string name = unique(base);
  model_.graph.initializers[name] = std::move(t);
  return name;
}

std::string Lowering::shape_of(const std::string& x) {
  auto it = shapes_.find(x);
  if (it != shapes_.end()) return it->second;
  std::string s = emit1("Shape", {x});
  shapes_[x] = s;
  return s;
}

std::vector<std::string> Lowering::emit(const std::string& op, std::vector<std::string> inputs,
                                        std::map<std::string, Attribute> attrs, size_t num_outputs) {
  Node n;
  n.op_type = op;
  n.inputs = std::move(inputs);
  n.attrs = std::move(attrs);
  std::string base = node_->outputs.empty() ? std::string("node") : graph_.values[static_cast<size_t>(node_->outputs[0])].name;
  for (size_t k = 0; k < num_outputs; ++k) n.outputs.push_back(unique(base + "/" + op + std::to_string(temp_counter_++)));
  n.name = (node_->module_path.empty() ? std::string() : node_->module_path + "/") + op + "_" + std::to_string(node_->index) +
           "_" + std::to_string(temp_counter_);
  n.prov = {"torchscript", node_->kind, node_->module_path, node_->index};
  std::vector<std::string> outs = n.outputs;
  model_.graph.nodes.push_back(std::move(n));
  return outs;
}

std::string Lowering::result(const std::string& op, std::vector<std::string> inputs,
                             std::map<std::string, Attribute> attrs, DType dtype, int64_t rank, size_t i) {
  emit(op, std::move(inputs), std::move(attrs), 1);
  std::string name = unique(graph_.values[static_cast<size_t>(node_->outputs.at(i))].name);
  model_.graph.nodes.back().outputs[0] = name;
  set_tensor(i, name, dtype, rank);
  return name;
}

void Lowering::set_tensor(size_t i, const std::string& name, DType dtype, int64_t rank) {
  Sym& s = syms_.at(static_cast<size_t>(node_->outputs.at(i)));
  s = Sym{Sym::Kind::kTensor, {}, name, dtype, rank, {}};
}

void Lowering::set_const(size_t i, ts::Const value) {
  Sym& s = syms_.at(static_cast<size_t>(node_->outputs.at(i)));
  s = Sym{Sym::Kind::kConst, std::move(value), {}, DType::kUndefined, -1, {}};
}

void Lowering::set_list(size_t i, std::vector<int> items) {
  Sym& s = syms_.at(static_cast<size_t>(node_->outputs.at(i)));
  s = Sym{Sym::Kind::kList, {}, {}, DType::kUndefined, -1, std::move(items)};
}

int Lowering::new_tensor_value(const std::string& name, DType dtype, int64_t rank) {
  syms_.push_back(Sym{Sym::Kind::kTensor, {}, name, dtype, rank, {}});
  return static_cast<int>(syms_.size() - 1);
}

void Lowering::alias(size_t out, size_t in) {
  syms_.at(static_cast<size_t>(node_->outputs.at(out))) = sym(in);
}

}  // namespace tsl

Model lower_torchscript(const ts::Graph& graph, const std::string& path) { return tsl::Lowering(graph, path).run(); }

}  // namespace transfix
