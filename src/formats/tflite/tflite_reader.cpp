#include "formats/tflite/tflite_reader.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <map>
#include <set>

#include "core/errors.h"
#include "tflite_schema_generated.h"

namespace transfix {

namespace {

// The FlatBuffers part of a file must lie within the first 2 GiB (32-bit offsets); bigger files
// keep their weights after it, addressed by Buffer.offset/size.
constexpr size_t kMaxFlatbufferBytes = (size_t{1} << 31) - 1;
// Canonical ops follow this ONNX opset's forms (Clip/Pad/Resize inputs, Softmax on the last axis,
// ReduceMean axes as an attribute, ReduceSum axes as an input).
constexpr int64_t kLoweringOpset = 17;
// TFLite's schema version; other versions use different tables.
constexpr uint32_t kSchemaVersion = 3;

struct Mapping {
  void* addr = nullptr;
  size_t bytes = 0;
  ~Mapping() {
    if (addr) munmap(addr, bytes);
  }
};

std::shared_ptr<Storage> map_file(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw InputError(path + ": cannot open file");
  struct stat st {};
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    throw InputError(path + ": not a readable file");
  }
  auto mapping = std::make_shared<Mapping>();
  mapping->bytes = static_cast<size_t>(st.st_size);
  if (mapping->bytes > 0) {
    void* addr = mmap(nullptr, mapping->bytes, PROT_READ, MAP_PRIVATE, fd, 0);
    if (addr == MAP_FAILED) {
      ::close(fd);
      throw InputError(path + ": cannot map file");
    }
    mapping->addr = addr;
  }
  ::close(fd);
  return Storage::wrap(mapping->addr, mapping->bytes, mapping);
}

// TFLite TensorType -> DType; kUndefined for types transfix cannot hold.
DType dtype_from_tflite(tflite::TensorType t) {
  using TT = tflite::TensorType;
  switch (t) {
    case TT::FLOAT32: return DType::kF32;
    case TT::FLOAT16: return DType::kF16;
    case TT::FLOAT64: return DType::kF64;
    case TT::INT8: return DType::kI8;
    case TT::UINT8: return DType::kU8;
    case TT::INT16: return DType::kI16;
    case TT::UINT16: return DType::kU16;
    case TT::INT32: return DType::kI32;
    case TT::UINT32: return DType::kU32;
    case TT::INT64: return DType::kI64;
    case TT::UINT64: return DType::kU64;
    case TT::BOOL: return DType::kBool;
    default: return DType::kUndefined;
  }
}

std::string type_name(tflite::TensorType t) {
  const char* n = tflite::EnumNameTensorType(t);
  return n && *n ? n : "type " + std::to_string(static_cast<int>(t));
}

// Operator name for messages and provenance: "CONV_2D", or "BUILTIN_<code>" beyond our table.
std::string builtin_name(int32_t code) {
  if (code >= 0 && code <= static_cast<int32_t>(tflite::BuiltinOperator::MAX)) {
    const char* n = tflite::EnumNameBuiltinOperator(static_cast<tflite::BuiltinOperator>(code));
    if (n && *n) return n;
  }
  return "BUILTIN_" + std::to_string(code);
}

// Metadata values are bytes; printable ones (e.g. min_runtime_version "1.14.0\0...") are kept as text.
std::string metadata_text(const uint8_t* data, size_t size) {
  size_t n = 0;
  while (n < size && data[n] != 0) ++n;
  for (size_t i = 0; i < n; ++i)
    if (data[i] < 0x20 || data[i] > 0x7e) return "<" + std::to_string(size) + " bytes>";
  for (size_t i = n; i < size; ++i)  // only NUL padding may follow the text
    if (data[i] != 0) return "<" + std::to_string(size) + " bytes>";
  return std::string(reinterpret_cast<const char*>(data), n);
}

class Reader {
 public:
  Reader(std::shared_ptr<Storage> file, std::string label) : file_(std::move(file)), label_(std::move(label)) {}

  Model read() {
    verify();
    model_ = tflite::GetModel(file_->data);
    if (model_->version() != kSchemaVersion)
      throw UnsupportedError(label_ + ": TFLite schema version " + std::to_string(model_->version()) +
                             " (only version " + std::to_string(kSchemaVersion) + " is supported)", "TFLite");
    if (!model_->subgraphs() || model_->subgraphs()->size() == 0) fail("the model has no subgraph");
    subgraph_ = model_->subgraphs()->Get(0);
    read_meta();
    read_tensors();
    read_signatures();
    read_io();
    read_operators();
    return std::move(out_);
  }

 private:
  [[noreturn]] void fail(const std::string& message) const { throw InputError(label_ + ": " + message); }

  const uint8_t* bytes() const { return static_cast<const uint8_t*>(file_->data); }

  // Nothing is read before the verifier has checked every offset, vector length and string.
  void verify() const {
    if (file_->bytes < 8 || std::memcmp(bytes() + 4, tflite::ModelIdentifier(), 4) != 0)
      fail("not a valid TFLite flatbuffer (no TFL3 identifier)");
    flatbuffers::Verifier verifier(bytes(), std::min(file_->bytes, kMaxFlatbufferBytes), /*max_depth=*/64,
                                   /*max_tables=*/10'000'000);
    if (!tflite::VerifyModelBuffer(verifier)) fail("not a valid TFLite flatbuffer");
  }

  size_t num_buffers() const { return model_->buffers() ? model_->buffers()->size() : 0; }

  // Bytes of buffer `index` (inline data, or offset/size into the file); {nullptr, 0} when empty.
  std::pair<const uint8_t*, size_t> buffer_bytes(uint32_t index, const std::string& what) const {
    if (index >= num_buffers())
      fail(what + ": buffer index " + std::to_string(index) + " out of range (" + std::to_string(num_buffers()) +
           " buffers)");
    const tflite::Buffer* b = model_->buffers()->Get(index);
    if (!b) return {nullptr, 0};
    if (b->data() && b->data()->size() > 0) return {b->data()->data(), b->data()->size()};
    // offset 1 is the converter's placeholder for "not yet written"; real offsets are past the flatbuffer.
    if (b->offset() > 1) {
      const uint64_t off = b->offset(), size = b->size();
      if (off > file_->bytes || size > file_->bytes - off)
        fail(what + ": buffer " + std::to_string(index) + " (offset " + std::to_string(off) + ", " +
             std::to_string(size) + " bytes) lies past the end of the file (" + std::to_string(file_->bytes) + " bytes)");
      return {bytes() + off, static_cast<size_t>(size)};
    }
    return {nullptr, 0};
  }

  void read_meta() {
    ModelMeta& m = out_.meta;
    m.format = "tflite";
    m.producer_name = model_->description() ? model_->description()->str() : "";
    m.ir_version = model_->version();
    m.opsets[""] = kLoweringOpset;
    if (model_->metadata()) {
      for (const tflite::Metadata* md : *model_->metadata()) {
        if (!md) continue;
        const std::string name = md->name() ? md->name()->str() : "";
        auto [data, size] = buffer_bytes(md->buffer(), "metadata '" + name + "'");
        m.props[name] = data ? metadata_text(data, size) : "";
        m.metadata_bytes[name] = data ? std::string(reinterpret_cast<const char*>(data), size) : "";
      }
    }
    if (model_->signature_defs()) {
      std::string keys;
      for (const tflite::SignatureDef* sd : *model_->signature_defs()) {
        if (!sd) continue;
        if (sd->subgraph_index() != 0) continue;  // only subgraph 0 is read
        if (!keys.empty()) keys += ",";
        keys += sd->signature_key() ? sd->signature_key()->str() : "";
      }
      if (!keys.empty()) m.props["signature_defs"] = keys;
    }
  }

  std::optional<QuantParams> read_quant(const tflite::Tensor* t, const Shape& shape, const std::string& what) const {
    const tflite::QuantizationParameters* q = t->quantization();
    if (!q) return std::nullopt;
    if (q->details_type() != tflite::QuantizationDetails::NONE)
      throw UnsupportedError(label_ + ": " + what + ": custom quantization is not supported", "TFLite");
    if (!q->scale() || q->scale()->size() == 0) return std::nullopt;  // float tensor (maybe min/max only)
    const size_t n = q->scale()->size();
    QuantParams p;
    p.axis = q->quantized_dimension();
    if (n > 1) {
      // Old TOCO files (e.g. TFLite Micro's person_detect) copy the filter's quantized_dimension (3)
      // onto the 1-D bias; the only axis a 1-D tensor has is meant.
      if (shape.size() == 1 && p.axis >= 1 && static_cast<int64_t>(n) == shape[0]) p.axis = 0;
      if (p.axis < 0 || p.axis >= static_cast<int64_t>(shape.size()))
        fail(what + ": quantized_dimension " + std::to_string(p.axis) + " out of range for shape " + shape_str(shape));
      if (static_cast<int64_t>(n) != shape[static_cast<size_t>(p.axis)])
        fail(what + ": " + std::to_string(n) + " scales for dimension " + std::to_string(p.axis) + " of size " +
             std::to_string(shape[static_cast<size_t>(p.axis)]));
    }
    for (float s : *q->scale()) {
      if (!std::isfinite(s) || s < 0) fail(what + ": bad quantization scale " + std::to_string(s));
      p.scale.push_back(s);
    }
    const size_t nz = q->zero_point() ? q->zero_point()->size() : 0;
    if (nz != 0 && nz != 1 && nz != n)
      fail(what + ": " + std::to_string(nz) + " zero points for " + std::to_string(n) + " scales");
    for (size_t i = 0; i < n; ++i) p.zero_point.push_back(nz == 0 ? 0 : q->zero_point()->Get(nz == 1 ? 0 : static_cast<uint32_t>(i)));
    return p;
  }

  // A constant tensor viewing the file; copied only when the data is not aligned for its type.
  Tensor constant_tensor(DType dt, const Shape& shape, const uint8_t* data, size_t size, const std::string& what) const {
    const size_t need = static_cast<size_t>(shape_numel(shape)) * dtype_size(dt);
    if (size != need)
      fail(what + ": buffer holds " + std::to_string(size) + " bytes, shape " + shape_str(shape) + " of " +
           dtype_name(dt) + " needs " + std::to_string(need));
    const size_t offset = static_cast<size_t>(data - bytes());
    if (reinterpret_cast<uintptr_t>(data) % dtype_size(dt) == 0)
      return Tensor(dt, shape, file_, offset);
    Tensor copy(dt, shape);
    std::memcpy(copy.raw_mutable(), data, size);
    return copy;
  }

  void read_tensors() {
    const auto* tensors = subgraph_->tensors();
    const size_t n = tensors ? tensors->size() : 0;
    names_.resize(n);
    infos_.resize(n);
    std::set<std::string> used;
    for (size_t i = 0; i < n; ++i) {
      const tflite::Tensor* t = tensors->Get(static_cast<uint32_t>(i));
      std::string original = t && t->name() ? t->name()->str() : "";
      std::string name = original.empty() ? "tensor_" + std::to_string(i) : original;
      if (used.count(name)) name += "#" + std::to_string(i);  // names must be unique in the IR
      used.insert(name);
      names_[i] = name;
      const std::string what = "tensor " + std::to_string(i) + " '" + original + "'";
      if (!t) fail(what + ": missing");
      if (t->sparsity()) throw UnsupportedError(label_ + ": " + what + ": sparse tensors are not supported", "TFLite");

      ValueInfo& info = infos_[i];
      info.name = name;
      info.prov = {"tflite", "", original, static_cast<int64_t>(i)};
      if (name != original) out_.graph.value_prov[name] = info.prov;
      info.dtype = dtype_from_tflite(t->type());
      if (info.dtype == DType::kUndefined)
        throw UnsupportedError(label_ + ": " + what + ": tensor type " + type_name(t->type()) + " is not supported",
                               type_name(t->type()));
      if (t->shape())
        for (int32_t d : *t->shape()) {
          if (d < 0) fail(what + ": negative dimension " + std::to_string(d));
          info.shape.push_back(d);
        }
      info.has_shape = true;
      int64_t numel = 0;
      try {
        numel = shape_numel(info.shape);
      } catch (const InputError&) {
        fail(what + ": shape " + shape_str(info.shape) + " is too large");
      }
      if (numel > max_tensor_bytes() / static_cast<int64_t>(dtype_size(info.dtype)))
        fail(what + ": shape " + shape_str(info.shape) + " exceeds the allocation limit");
      info.quant = read_quant(t, info.shape, what);

      auto [data, size] = buffer_bytes(t->buffer(), what);
      if (data) {
        Tensor c = constant_tensor(info.dtype, info.shape, data, size, what);
        c.set_quant(info.quant);
        out_.graph.initializers[name] = std::move(c);
      }
    }
  }

  // SignatureDefs of subgraph 0 with their tensors' IR names (for writing them back).
  void read_signatures() {
    if (!model_->signature_defs()) return;
    for (const tflite::SignatureDef* sd : *model_->signature_defs()) {
      if (!sd || sd->subgraph_index() != 0) continue;
      Signature sig;
      sig.key = sd->signature_key() ? sd->signature_key()->str() : "";
      auto map = [&](const auto* maps, auto& out) {
        if (!maps) return;
        for (const tflite::TensorMap* tm : *maps) {
          if (!tm) continue;
          const std::string what = "signature '" + sig.key + "'";
          if (tm->tensor_index() >= names_.size())
            fail(what + ": tensor index " + std::to_string(tm->tensor_index()) + " out of range (" +
                 std::to_string(names_.size()) + " tensors)");
          out.emplace_back(tm->name() ? tm->name()->str() : "", names_[tm->tensor_index()]);
        }
      };
      map(sd->inputs(), sig.inputs);
      map(sd->outputs(), sig.outputs);
      out_.meta.signatures.push_back(std::move(sig));
    }
  }

  size_t check_tensor_index(int32_t index, const std::string& what) const {
    if (index < 0 || static_cast<size_t>(index) >= names_.size())
      fail(what + ": tensor index " + std::to_string(index) + " out of range (" + std::to_string(names_.size()) +
           " tensors)");
    return static_cast<size_t>(index);
  }

  bool is_constant(size_t t) const { return out_.graph.initializers.count(names_[t]) != 0; }

  void read_io() {
    if (subgraph_->name()) out_.graph.name = subgraph_->name()->str();
    if (subgraph_->inputs())
      for (int32_t idx : *subgraph_->inputs()) {
        size_t t = check_tensor_index(idx, "subgraph input");
        if (is_constant(t) || is_graph_input_[t]) continue;  // a constant stays an initializer
        is_graph_input_[t] = true;
        out_.graph.inputs.push_back(infos_[t]);
      }
    if (subgraph_->outputs())
      for (int32_t idx : *subgraph_->outputs()) {
        size_t t = check_tensor_index(idx, "subgraph output");
        if (is_graph_output_[t]) continue;
        is_graph_output_[t] = true;
        out_.graph.outputs.push_back(infos_[t]);
      }
    for (size_t t = 0; t < names_.size(); ++t)
      if (!is_constant(t) && !is_graph_input_[t] && !is_graph_output_[t]) out_.graph.value_info[names_[t]] = infos_[t];
  }

  void read_operators();

  friend class Lowering;
  std::shared_ptr<Storage> file_;
  std::string label_;
  const tflite::Model* model_ = nullptr;
  const tflite::SubGraph* subgraph_ = nullptr;
  std::vector<std::string> names_;  // IR value name by tensor index
  std::vector<ValueInfo> infos_;
  std::map<size_t, bool> is_graph_input_, is_graph_output_;
  Model out_;
};

class Lowering final : public tflite_lowering::OpLowering {
 public:
  Lowering(Reader& r, const tflite::Operator& op, std::string name, int64_t index)
      : r_(r), op_(op), name_(std::move(name)), index_(index) {
    if (op.inputs())
      for (int32_t t : *op.inputs())
        inputs_.push_back(t == -1 ? -1 : static_cast<int64_t>(r.check_tensor_index(t, where() + " input")));
    if (op.outputs())
      for (int32_t t : *op.outputs())
        outputs_.push_back(t == -1 ? -1 : static_cast<int64_t>(r.check_tensor_index(t, where() + " output")));
    if (outputs_.empty() || outputs_[0] < 0) fail("has no output");
  }

  std::string where() const { return "operator " + std::to_string(index_) + " (" + name_ + ")"; }
  const std::vector<int64_t>& output_tensors() const { return outputs_; }

  const tflite::Operator& op() const override { return op_; }
  const std::string& op_name() const override { return name_; }
  int64_t index() const override { return index_; }
  size_t num_inputs() const override { return inputs_.size(); }
  size_t num_outputs() const override { return outputs_.size(); }
  std::string input(size_t i) const override {
    if (auto it = replaced_.find(i); it != replaced_.end()) return it->second;
    return i < inputs_.size() && inputs_[i] >= 0 ? r_.names_[static_cast<size_t>(inputs_[i])] : "";
  }
  void replace_input(size_t i, const std::string& value) override { replaced_[i] = value; }
  std::string output(size_t i) const override {
    return i < outputs_.size() && outputs_[i] >= 0 ? r_.names_[static_cast<size_t>(outputs_[i])] : "";
  }
  const ValueInfo* input_info(size_t i) const override {
    return i < inputs_.size() && inputs_[i] >= 0 ? &r_.infos_[static_cast<size_t>(inputs_[i])] : nullptr;
  }
  const ValueInfo* output_info(size_t i) const override {
    return i < outputs_.size() && outputs_[i] >= 0 ? &r_.infos_[static_cast<size_t>(outputs_[i])] : nullptr;
  }
  const Tensor* constant_input(size_t i) const override {
    if (replaced_.count(i)) return nullptr;
    const std::string n = input(i);
    if (n.empty()) return nullptr;
    auto it = r_.out_.graph.initializers.find(n);
    return it == r_.out_.graph.initializers.end() ? nullptr : &it->second;
  }
  std::string add_constant(const std::string& suffix, Tensor value) override {
    std::string name = output(0) + "/" + suffix;
    for (int k = 2; r_.out_.graph.initializers.count(name); ++k) name = output(0) + "/" + suffix + "_" + std::to_string(k);
    r_.out_.graph.initializers[name] = std::move(value);
    return name;
  }
  Node& emit(const std::string& op_type, std::vector<std::string> inputs, std::vector<std::string> outputs) override {
    Node n;
    n.op_type = op_type;
    n.domain = domain_;
    n.name = outputs.empty() ? output(0) : outputs[0];
    n.inputs = std::move(inputs);
    n.outputs = std::move(outputs);
    n.prov = {"tflite", name_, output(0), index_};
    r_.out_.graph.nodes.push_back(std::move(n));
    return r_.out_.graph.nodes.back();
  }
  void set_domain(const std::string& domain) override { domain_ = domain; }
  const std::string& domain() const override { return domain_; }
  [[noreturn]] void fail(const std::string& message) const override { r_.fail(where() + ": " + message); }

 private:
  Reader& r_;
  const tflite::Operator& op_;
  std::string name_;
  int64_t index_;
  std::vector<int64_t> inputs_, outputs_;
  std::map<size_t, std::string> replaced_;
  std::string domain_;
};

void Reader::read_operators() {
  const auto* codes = model_->operator_codes();
  const size_t ncodes = codes ? codes->size() : 0;
  std::vector<bool> produced(names_.size(), false);
  if (!subgraph_->operators()) return;
  int64_t index = 0;
  for (const tflite::Operator* op : *subgraph_->operators()) {
    const std::string where = "operator " + std::to_string(index);
    if (!op) fail(where + ": missing");
    if (op->opcode_index() >= ncodes)
      fail(where + ": opcode index " + std::to_string(op->opcode_index()) + " out of range (" +
           std::to_string(ncodes) + " operator codes)");
    const tflite::OperatorCode* code = codes->Get(op->opcode_index());
    if (!code) fail(where + ": missing operator code");
    // Files from before builtin_code existed only set the (int8) deprecated field; newer ones set
    // both, with the deprecated one saturated at 127 (PLACEHOLDER_FOR_GREATER_OP_CODES).
    const int32_t builtin = std::max<int32_t>(code->deprecated_builtin_code(), static_cast<int32_t>(code->builtin_code()));
    if (builtin == static_cast<int32_t>(tflite::BuiltinOperator::CUSTOM)) {
      const std::string custom = code->custom_code() ? code->custom_code()->str() : "";
      throw UnsupportedError(label_ + ": " + where + ": custom operator '" + custom + "' is not supported", custom);
    }
    Lowering lowering(*this, *op, builtin_name(builtin), index);
    for (int64_t t : lowering.output_tensors()) {
      if (t < 0) continue;
      const size_t u = static_cast<size_t>(t);
      if (is_constant(u) || is_graph_input_[u] || produced[u])
        fail(lowering.where() + ": output tensor '" + names_[u] + "' is already defined elsewhere");
      produced[u] = true;
    }
    tflite_lowering::lower_operator(lowering);
    ++index;
  }
}

}  // namespace

Model read_tflite_storage(std::shared_ptr<Storage> file, const std::string& label) {
  if (!file || (!file->data && file->bytes)) throw InputError(label + ": no data");
  if (!file->data || file->bytes < 8) throw InputError(label + ": not a valid TFLite flatbuffer (file too short)");
  Reader reader(std::move(file), label);
  Model m = reader.read();
  m.path = label;
  return m;
}

Model read_tflite(const std::string& path) { return read_tflite_storage(map_file(path), path); }

}  // namespace transfix
