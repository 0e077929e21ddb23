// Internal to the TorchScript importer: the state of lowering one ts::Graph into a Model, and the
// helpers op lowerings (torchscript_ops.cpp) use to read their inputs and emit IR nodes.
#pragma once
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "core/graph.h"
#include "formats/torchscript/ts_graph.h"

namespace transfix::tsl {

// What a TorchScript value became.
struct Sym {
  enum class Kind { kUnset, kConst, kTensor, kList, kModule };
  Kind kind = Kind::kUnset;
  ts::Const value;          // kConst
  std::string name;         // kTensor: IR value name
  DType dtype = DType::kF32;
  int64_t rank = -1;        // kTensor: -1 when unknown (TorchScript graphs carry no shapes)
  std::vector<int> items;   // kList: ts value ids of the elements
};

class Lowering {
 public:
  Lowering(const ts::Graph& graph, std::string path);
  Model run();

  // --- for op lowerings: the current node's inputs (by position) ---
  const ts::Node& node() const { return *node_; }
  size_t num_inputs() const { return node_->inputs.size(); }
  size_t num_outputs() const { return node_->outputs.size(); }
  const Sym& sym(size_t i) const;
  const Sym& sym_at(int id) const { return syms_.at(static_cast<size_t>(id)); }  // a list item's symbol
  // A value that exists only in the lowering (e.g. one piece of an aten::chunk list); returns its id.
  int new_tensor_value(const std::string& name, DType dtype, int64_t rank = -1);
  bool is_none(size_t i) const;
  bool is_const(size_t i) const { return sym(i).kind == Sym::Kind::kConst; }
  bool is_number(size_t i) const;  // constant bool / int / float
  int64_t get_int(size_t i) const;
  double get_double(size_t i) const;
  bool get_bool(size_t i) const;
  std::string get_string(size_t i) const;
  std::vector<int64_t> get_ints(size_t i) const;    // constant int list (or one int)
  std::vector<double> get_doubles(size_t i) const;  // constant float list
  const ts::TensorData* const_tensor(size_t i) const;  // constant tensor (parameter), else nullptr
  std::vector<int> list_items(size_t i) const;      // elements of a list input

  // IR name of input i as a tensor; numbers become scalar constants of dtype `like`.
  std::string tensor(size_t i, DType like = DType::kF32);
  std::string tensor_of(int id, DType like = DType::kF32);
  DType dtype(size_t i) const { return sym(i).kind == Sym::Kind::kTensor ? sym(i).dtype : DType::kUndefined; }
  int64_t rank(size_t i) const { return sym(i).kind == Sym::Kind::kTensor ? sym(i).rank : -1; }
  // 1-D int64 tensor of an int list whose elements may be computed (aten::size results).
  std::string int_list_tensor(size_t i);

  // New initializer; returns its (unique) name.
  std::string constant(Tensor t, const std::string& hint);
  std::string int64s(const std::vector<int64_t>& v) { return constant(Tensor::from_vector(v, {static_cast<int64_t>(v.size())}), "ints"); }
  std::string scalar(double v, DType dtype);
  // Shape(x), emitted once per value.
  std::string shape_of(const std::string& x);

  // Emits an IR node with the current node's provenance. Outputs are named after the node's
  // TorchScript outputs when `final`, after a temporary otherwise.
  std::vector<std::string> emit(const std::string& op, std::vector<std::string> inputs,
                                std::map<std::string, Attribute> attrs = {}, size_t num_outputs = 1);
  std::string emit1(const std::string& op, std::vector<std::string> inputs, std::map<std::string, Attribute> attrs = {}) {
    return emit(op, std::move(inputs), std::move(attrs), 1)[0];
  }
  // Emits the node that computes TorchScript output `i` (named after it) and binds it.
  std::string result(const std::string& op, std::vector<std::string> inputs, std::map<std::string, Attribute> attrs,
                     DType dtype, int64_t rank = -1, size_t i = 0);
  // Binds TorchScript output i to an IR tensor / a constant / a list / another value.
  void set_tensor(size_t i, const std::string& name, DType dtype, int64_t rank = -1);
  void set_const(size_t i, ts::Const value);
  void set_list(size_t i, std::vector<int> items);
  void alias(size_t out, size_t in);
  void bind(size_t out, int id) { syms_.at(static_cast<size_t>(node_->outputs.at(out))) = syms_.at(static_cast<size_t>(id)); }
  const Sym& value_sym_of(int id) const { return syms_.at(static_cast<size_t>(id)); }

  [[noreturn]] void unsupported(const std::string& why) const;
  std::string where() const;  // "aten::foo at module features.3 (node 12)"

 private:
  void lower_node();
  void bind_inputs();
  int64_t input_rank_hint(int input_id) const;
  void bind_outputs();
  std::string unique(const std::string& base);

  const ts::Graph& graph_;
  std::string path_;
  Model model_;
  std::vector<Sym> syms_;
  std::set<std::string> used_names_;
  std::map<std::string, std::string> shapes_;  // value -> its Shape node output
  const ts::Node* node_ = nullptr;
  int temp_counter_ = 0;
};

// One lowering per aten/prim op (torchscript_ops.cpp).
using OpLowering = std::function<void(Lowering&)>;
const OpLowering* find_op_lowering(const std::string& kind);

Attribute attr(int64_t v);
Attribute attr(double v);
Attribute attr(const std::string& v);
Attribute attr(std::vector<int64_t> v);

}  // namespace transfix::tsl
