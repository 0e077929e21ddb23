#include "formats/tflite/tflite_writer.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <limits>
#include <map>
#include <set>
#include <stdexcept>
#include <unordered_map>

#include "core/errors.h"
#include "data/atomic_file.h"
#include "formats/tflite/tflite_write_ops.h"
#include "runtime/interpreter.h"
#include "tflite_schema_generated.h"

namespace transfix {

namespace {

using tflite_writing::TfOp;
using FBB = flatbuffers::FlatBufferBuilder;

constexpr uint32_t kSchemaVersion = 3;
// Constant buffers start at multiples of this, so readers can view them in a memory map with any
// element type (TFLite's own converter aligns to 16 as well).
constexpr size_t kBufferAlignment = 16;
// A FlatBuffer addresses at most 2 GiB (32-bit offsets).
constexpr size_t kMaxFlatbufferBytes = (size_t{1} << 31) - 1;
// Largest total input size for the interpreter run that learns intermediate shapes.
constexpr int64_t kMaxShapeRunInputBytes = int64_t{256} << 20;

tflite::TensorType tensor_type(DType t, const std::string& value) {
  if (auto tt = tflite_writing::tflite_tensor_type(t)) return *tt;
  throw UnsupportedError("TFLite writer: value '" + value + "' has type " + dtype_name(t) +
                         ", which TFLite cannot hold", dtype_name(t));
}

bool static_shape(const ValueInfo* v) {
  if (!v || !v->has_shape) return false;
  for (int64_t d : v->shape)
    if (d < 0) return false;
  return true;
}

class Writer final : public tflite_writing::WriteContext {
 public:
  explicit Writer(const Model& model) : m_(model), g_(model.graph) {
    for (const Node& n : g_.nodes) {
      for (const auto& in : n.inputs)
        if (!in.empty()) ++consumers_[in];
      for (const auto& out : n.outputs) producer_[out] = &n;
    }
    for (const auto& o : g_.outputs) ++consumers_[o.name];
  }

  std::string build() {
    map_nodes();
    fuse_activations();
    if (constant_bytes() <= external_buffers_above()) return serialize(nullptr);
    // Too big for one FlatBuffer: the weights go after it, each Buffer holding the offset (from the
    // start of the file, 16-aligned) and size of its bytes. Offsets depend on the FlatBuffer's size,
    // which does not depend on them (every offset is stored, nonzero): build once with placeholders,
    // then again with the real offsets.
    std::vector<uint64_t> offsets(constants_in_order().size(), 1);
    const size_t size = serialize(&offsets).size();
    uint64_t pos = align(size);
    const auto constants = constants_in_order();
    for (size_t k = 0; k < constants.size(); ++k) {
      offsets[k] = pos;
      pos = align(pos + constants[k]->nbytes());
    }
    std::string bytes = serialize(&offsets);
    if (bytes.size() != size) throw std::logic_error("TFLite writer: the FlatBuffer changed size with the buffer offsets");
    bytes.reserve(static_cast<size_t>(pos));
    for (size_t k = 0; k < constants.size(); ++k) {
      bytes.resize(static_cast<size_t>(offsets[k]), '\0');
      bytes.append(static_cast<const char*>(constants[k]->raw()), constants[k]->nbytes());
    }
    bytes.resize(static_cast<size_t>(pos), '\0');
    return bytes;
  }

  static uint64_t align(uint64_t n) { return (n + kBufferAlignment - 1) / kBufferAlignment * kBufferAlignment; }

  // Constant bytes above which they go after the FlatBuffer: what leaves the rest of the model 64 MiB
  // under the 2 GiB limit. TRANSFIX_TFLITE_EXTERNAL_ABOVE=N (bytes) lowers it, to test the layout on
  // small models.
  static uint64_t external_buffers_above() {
    if (const char* v = std::getenv("TRANSFIX_TFLITE_EXTERNAL_ABOVE")) return std::strtoull(v, nullptr, 10);
    return kMaxFlatbufferBytes - (uint64_t{64} << 20);
  }

  // The constants written as buffers, in buffer order.
  std::vector<const Tensor*> constants_in_order() {
    std::vector<const Tensor*> out;
    for (const auto& name : tensor_order_)
      if (const Tensor* c = constant(name)) out.push_back(c);
    return out;
  }
  uint64_t constant_bytes() {
    register_tensors();
    uint64_t n = 0;
    for (const Tensor* c : constants_in_order()) n += c->nbytes();
    return n;
  }

  // --- WriteContext
  const Tensor* constant(const std::string& name) const override {
    if (auto it = extra_.find(name); it != extra_.end()) return &it->second;
    auto it = g_.initializers.find(name);
    return it == g_.initializers.end() ? nullptr : &it->second;
  }
  Shape shape_of(const std::string& name) override {
    if (const Tensor* c = constant(name)) return c->shape();
    const ValueInfo* v = g_.find_value_info(name);
    if (static_shape(v)) return v->shape;
    // A value read by an activation of the same operator (e.g. "<out>/pre_activation") has its shape.
    if (auto it = producer_.find(name); it != producer_.end() && is_shape_preserving(*it->second) && it->second->inputs[0] != name) {
      const ValueInfo* in = g_.find_value_info(it->second->inputs[0]);
      if (static_shape(in)) return in->shape;
    }
    for (const Node& n : g_.nodes)
      if (is_shape_preserving(n) && !n.inputs.empty() && n.inputs[0] == name) {
        const ValueInfo* out = g_.find_value_info(n.outputs[0]);
        if (static_shape(out)) return out->shape;
      }
    return inferred(name).second;
  }
  DType dtype_of(const std::string& name) override {
    if (const Tensor* c = constant(name)) return c->dtype();
    const ValueInfo* v = g_.find_value_info(name);
    if (v && v->dtype != DType::kUndefined) return v->dtype;
    if (auto it = producer_.find(name); it != producer_.end() && is_shape_preserving(*it->second))
      return dtype_of(it->second->inputs[0]);
    return inferred(name).first;
  }
  std::string add_constant(const std::string& hint, Tensor value) override {
    std::string name = hint;
    for (int k = 2; extra_.count(name) || g_.initializers.count(name) || producer_.count(name); ++k)
      name = hint + "_" + std::to_string(k);
    extra_[name] = std::move(value);
    return name;
  }
  int consumers(const std::string& name) const override {
    auto it = consumers_.find(name);
    return it == consumers_.end() ? 0 : it->second;
  }

 private:
  static bool is_shape_preserving(const Node& n) {
    static const std::set<std::string> ops{"Relu", "Clip", "Tanh", "Sigmoid"};
    return ops.count(n.op_type) && !n.inputs.empty();
  }

  // Shapes nothing in the model states (ONNX graphs without value_info for some intermediates):
  // one run of the interpreter on zero inputs.
  const std::pair<DType, Shape>& inferred(const std::string& name) {
    if (!inferred_run_) {
      inferred_run_ = true;
      struct Recorder : Observer {
        std::map<std::string, std::pair<DType, Shape>>* values;
        void on_value(const std::string& n, const Tensor& v, const Node*) override { (*values)[n] = {v.dtype(), v.shape()}; }
      } rec;
      rec.values = &inferred_;
      try {
        Interpreter interp(m_);
        std::map<std::string, Tensor> inputs;
        int64_t bytes = 0;
        for (const auto& in : g_.inputs) {
          if (!static_shape(&in)) throw UnsupportedError("input '" + in.name + "' has no static shape", "shape");
          bytes += shape_numel(in.shape) * static_cast<int64_t>(dtype_size(in.dtype));
          // A run to learn shapes must stay cheap (files are untrusted: huge declared inputs).
          if (bytes > kMaxShapeRunInputBytes) throw UnsupportedError("inputs larger than 256 MB", "shape");
          inputs[in.name] = Tensor(in.dtype, in.shape);
        }
        interp.run(inputs, &rec);
      } catch (const std::exception& e) {
        inferred_error_ = e.what();
      }
    }
    auto it = inferred_.find(name);
    if (it == inferred_.end())
      throw UnsupportedError("TFLite writer: the shape of '" + name + "' is unknown" +
                             (inferred_error_.empty() ? "" : " (shape inference run failed: " + inferred_error_ + ")"), "shape");
    return it->second;
  }

  // Groups: the nodes of one TFLite operator (same provenance index); any other node alone. The
  // reader's helper nodes (e.g. a hybrid weight's DequantizeLinear) need not sit next to their
  // operator in execution order, so the operators are ordered afterwards.
  void map_nodes() {
    std::map<int64_t, std::vector<const Node*>> tflite_groups;
    std::vector<std::vector<const Node*>> groups;
    std::map<int64_t, size_t> group_of;
    for (size_t i : g_.topological_order()) {
      const Node& n = g_.nodes[i];
      if (n.prov.format == "tflite" && n.prov.index >= 0) {
        auto [it, fresh] = group_of.emplace(n.prov.index, groups.size());
        if (fresh) groups.emplace_back();
        groups[it->second].push_back(&n);
      } else {
        groups.push_back({&n});
      }
    }
    std::vector<TfOp> ops;
    for (const auto& group : groups)
      for (TfOp& op : tflite_writing::map_group(*this, group)) ops.push_back(std::move(op));
    ops_ = execution_order(std::move(ops));
  }

  // TFLite runs operators in file order: each after the producers of its inputs.
  std::vector<TfOp> execution_order(std::vector<TfOp> ops) const {
    std::set<std::string> ready;
    for (const auto& in : g_.inputs) ready.insert(in.name);
    std::vector<TfOp> ordered;
    std::vector<bool> done(ops.size(), false);
    for (size_t placed = 0; placed < ops.size();) {
      bool progress = false;
      for (size_t i = 0; i < ops.size(); ++i) {
        if (done[i]) continue;
        bool ok = true;
        for (const auto& in : ops[i].inputs) ok = ok && (in.empty() || ready.count(in) || constant(in));
        if (!ok) continue;
        for (const auto& out : ops[i].outputs) ready.insert(out);
        ordered.push_back(std::move(ops[i]));
        done[i] = true;
        ++placed;
        progress = true;
      }
      if (!progress) throw InputError("TFLite writer: the operators cannot be ordered (an input nothing produces)");
    }
    return ordered;
  }

  // Op A (no activation yet) followed by RELU / RELU6 / RELU_N1_TO_1 / TANH reading only A's output
  // becomes A with that fused activation: always within one TFLite operator's group (that is how it
  // was read), and between float ops of other formats (same arithmetic in float; in quantized
  // models the intermediate tensor's parameters would be lost).
  void fuse_activations() {
    std::unordered_map<std::string, size_t> producer;
    for (size_t i = 0; i < ops_.size(); ++i)
      for (const auto& o : ops_[i].outputs) producer[o] = i;
    std::vector<bool> dropped(ops_.size(), false);
    for (size_t i = 0; i < ops_.size(); ++i) {
      TfOp& act = ops_[i];
      if (!is_activation(act.code) || act.inputs.size() != 1) continue;
      auto it = producer.find(act.inputs[0]);
      if (it == producer.end() || dropped[it->second]) continue;
      TfOp& main = ops_[it->second];
      if (!main.fusable || main.act != tflite::ActivationFunctionType::NONE || main.outputs.size() != 1) continue;
      if (consumers(main.outputs[0]) != 1) continue;
      const bool same_group = main.group >= 0 && main.group == act.group;
      const bool both_foreign = main.group < 0 && act.group < 0 && dtype_of(main.outputs[0]) == DType::kF32;
      if (!same_group && !both_foreign) continue;
      main.act = activation(act.code);
      main.outputs = act.outputs;
      producer[act.outputs[0]] = it->second;
      dropped[i] = true;
    }
    std::vector<TfOp> kept;
    for (size_t i = 0; i < ops_.size(); ++i)
      if (!dropped[i]) kept.push_back(std::move(ops_[i]));
    ops_ = std::move(kept);
  }
  static bool is_activation(tflite::BuiltinOperator c) {
    using BO = tflite::BuiltinOperator;
    return c == BO::RELU || c == BO::RELU6 || c == BO::RELU_N1_TO_1 || c == BO::TANH;
  }
  static tflite::ActivationFunctionType activation(tflite::BuiltinOperator c) {
    using BO = tflite::BuiltinOperator;
    using A = tflite::ActivationFunctionType;
    return c == BO::RELU ? A::RELU : c == BO::RELU6 ? A::RELU6 : c == BO::RELU_N1_TO_1 ? A::RELU_N1_TO_1 : A::TANH;
  }

  // --- serialization

  int32_t tensor_index(const std::string& name) {
    if (name.empty()) return -1;
    auto [it, fresh] = tensor_ids_.emplace(name, static_cast<int32_t>(tensor_order_.size()));
    if (fresh) tensor_order_.push_back(name);
    return it->second;
  }

  const std::optional<QuantParams>* quant_of(const std::string& name) const {
    if (const Tensor* c = constant(name); c && c->quant()) return &c->quant();
    const ValueInfo* v = g_.find_value_info(name);
    if (v && v->quant) return &v->quant;
    return nullptr;
  }

  flatbuffers::Offset<tflite::QuantizationParameters> quantization(FBB& b, const std::string& name) const {
    const auto* q = quant_of(name);
    if (!q || !*q) return 0;
    const QuantParams& p = **q;
    return tflite::CreateQuantizationParameters(b, 0, 0, b.CreateVector(p.scale), b.CreateVector(p.zero_point),
                                                tflite::QuantizationDetails::NONE, 0, static_cast<int32_t>(p.axis));
  }

  // File name of a value: its original TFLite name when the reader had to rename it.
  std::string file_name(const std::string& name) const {
    auto it = g_.value_prov.find(name);
    if (it != g_.value_prov.end() && it->second.format == "tflite" && !it->second.name.empty()) return it->second.name;
    return name;
  }

  flatbuffers::Offset<tflite::Buffer> buffer_of(FBB& b, const Tensor& t, const uint64_t* external_offset) {
    const size_t n = t.nbytes();
    if (external_offset) return tflite::CreateBuffer(b, 0, *external_offset, n);
    b.ForceVectorAlignment(n, 1, kBufferAlignment);
    auto data = b.CreateVector(static_cast<const uint8_t*>(t.raw()), n);
    return tflite::CreateBuffer(b, data);
  }

  // Gives every tensor its index: graph inputs first, then in operator order, then the outputs.
  void register_tensors() {
    for (const auto& in : g_.inputs) tensor_index(in.name);
    for (const auto& op : ops_) {
      for (const auto& in : op.inputs) tensor_index(in);
      for (const auto& out : op.outputs) tensor_index(out);
    }
    for (const auto& out : g_.outputs) tensor_index(out.name);
  }

  // The model as one FlatBuffer; with `external`, constant k's buffer holds (*external)[k] as its
  // offset and no data.
  std::string serialize(const std::vector<uint64_t>* external) {
    FBB b(1 << 20);
    register_tensors();
    std::vector<int32_t> inputs, outputs;
    for (const auto& in : g_.inputs) inputs.push_back(tensor_index(in.name));
    for (const auto& out : g_.outputs) outputs.push_back(tensor_index(out.name));

    // Buffers first (the bulk of the file): buffer 0 is the empty buffer by convention.
    std::vector<flatbuffers::Offset<tflite::Buffer>> buffers{tflite::CreateBuffer(b)};
    std::vector<uint32_t> buffer_of_tensor(tensor_order_.size(), 0);
    for (size_t i = 0; i < tensor_order_.size(); ++i)
      if (const Tensor* c = constant(tensor_order_[i])) {
        buffer_of_tensor[i] = static_cast<uint32_t>(buffers.size());
        const size_t k = buffers.size() - 1;  // constants take buffers 1, 2, ... in this order
        buffers.push_back(buffer_of(b, *c, external ? &external->at(k) : nullptr));
      }
    std::vector<flatbuffers::Offset<tflite::Metadata>> metadata;
    for (const auto& [key, bytes] : m_.meta.metadata_bytes) {
      auto data = b.CreateVector(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
      metadata.push_back(tflite::CreateMetadata(b, b.CreateString(key), static_cast<uint32_t>(buffers.size())));
      buffers.push_back(tflite::CreateBuffer(b, data));
    }

    std::vector<flatbuffers::Offset<tflite::Tensor>> tensors;
    for (size_t i = 0; i < tensor_order_.size(); ++i) {
      const std::string& name = tensor_order_[i];
      std::vector<int32_t> shape;
      for (int64_t d : shape_of(name)) {
        if (d > std::numeric_limits<int32_t>::max()) throw InputError("TFLite writer: '" + name + "': dimension too large");
        shape.push_back(static_cast<int32_t>(d));
      }
      auto q = quantization(b, name);
      tensors.push_back(tflite::CreateTensor(b, b.CreateVector(shape), tensor_type(dtype_of(name), name), buffer_of_tensor[i],
                                             b.CreateString(file_name(name)), q));
    }

    std::vector<flatbuffers::Offset<tflite::OperatorCode>> codes;
    std::map<tflite::BuiltinOperator, uint32_t> code_index;
    std::vector<flatbuffers::Offset<tflite::Operator>> operators;
    for (const TfOp& op : ops_) {
      auto [it, fresh] = code_index.emplace(op.code, static_cast<uint32_t>(codes.size()));
      if (fresh) {
        const int32_t c = static_cast<int32_t>(op.code);
        codes.push_back(tflite::CreateOperatorCode(b, static_cast<int8_t>(std::min(c, 127)), 0, 1, op.code));
      }
      std::vector<int32_t> ins, outs;
      for (const auto& in : op.inputs) ins.push_back(tensor_index(in));
      for (const auto& out : op.outputs) outs.push_back(tensor_index(out));
      flatbuffers::Offset<void> options = op.options ? op.options(b, op) : 0;
      operators.push_back(tflite::CreateOperator(b, it->second, b.CreateVector(ins), b.CreateVector(outs),
                                                 op.options ? op.options_type : tflite::BuiltinOptions::NONE, options));
    }
    auto subgraph = tflite::CreateSubGraph(b, b.CreateVector(tensors), b.CreateVector(inputs), b.CreateVector(outputs),
                                           b.CreateVector(operators), b.CreateString(g_.name));

    std::vector<flatbuffers::Offset<tflite::SignatureDef>> signatures;
    for (const Signature& s : m_.meta.signatures) {
      auto maps = [&](const auto& list) {
        std::vector<flatbuffers::Offset<tflite::TensorMap>> v;
        for (const auto& [key, value] : list) {
          if (!tensor_ids_.count(value)) continue;  // folded away
          v.push_back(tflite::CreateTensorMap(b, b.CreateString(key), static_cast<uint32_t>(tensor_ids_.at(value))));
        }
        return b.CreateVector(v);
      };
      auto in = maps(s.inputs), out = maps(s.outputs);
      signatures.push_back(tflite::CreateSignatureDef(b, in, out, b.CreateString(s.key), 0, 0));
    }
    const std::string description = m_.meta.format == "tflite" ? m_.meta.producer_name
                                                                : "transfix from " + m_.meta.format +
                                                                      (m_.meta.producer_name.empty() ? "" : " (" + m_.meta.producer_name + ")");
    auto model = tflite::CreateModel(b, kSchemaVersion, b.CreateVector(codes), b.CreateVector(std::vector{subgraph}),
                                     b.CreateString(description), b.CreateVector(buffers), 0,
                                     metadata.empty() ? 0 : b.CreateVector(metadata),
                                     signatures.empty() ? 0 : b.CreateVector(signatures));
    tflite::FinishModelBuffer(b, model);
    if (b.GetSize() > kMaxFlatbufferBytes)
      throw UnsupportedError("TFLite writer: the model needs more than 2 GiB (one FlatBuffer)", "size");
    return std::string(reinterpret_cast<const char*>(b.GetBufferPointer()), b.GetSize());
  }

  const Model& m_;
  const Graph& g_;
  std::unordered_map<std::string, int> consumers_;
  std::unordered_map<std::string, const Node*> producer_;
  std::map<std::string, Tensor> extra_;
  std::vector<TfOp> ops_;
  std::unordered_map<std::string, int32_t> tensor_ids_;
  std::vector<std::string> tensor_order_;
  bool inferred_run_ = false;
  std::map<std::string, std::pair<DType, Shape>> inferred_;
  std::string inferred_error_;
};

}  // namespace

std::string model_to_tflite_bytes(const Model& model) {
  if (model.meta.format != "tflite") {
    Model prepared = prepare_for_tflite(model);
    return Writer(prepared).build();
  }
  return Writer(model).build();
}

void write_tflite(const Model& model, const std::string& path) {
  // The source may be memory-mapped by this very model: never write over it.
  std::error_code ec;
  if (!model.path.empty() && std::filesystem::exists(path, ec) && std::filesystem::equivalent(model.path, path, ec))
    throw InputError(path + ": refusing to overwrite the model's own source file");
  const std::string bytes = model_to_tflite_bytes(model);
  write_file_atomic(path, bytes);
}

}  // namespace transfix
