#include "formats/onnx/onnx_reader.h"

#include <onnx/defs/schema.h>
#include <onnx/onnx_pb.h>
#include <onnx/shape_inference/implementation.h>

#include <algorithm>
#include <climits>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <unordered_set>

#include "core/child_process.h"
#include "core/errors.h"
#include "formats/onnx/onnx_lowering.h"

namespace fs = std::filesystem;

namespace transfix {

namespace {

// Largest .onnx file we parse in one protobuf message (protobuf's own hard limit is 2 GiB).
constexpr int64_t kMaxProtoBytes = (int64_t{2} << 30) - 1;

std::string read_file_bytes(const std::string& path) {
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) throw InputError(path + ": not a readable file");
  auto size = fs::file_size(path, ec);
  if (ec) throw InputError(path + ": cannot stat file");
  if (static_cast<int64_t>(size) > kMaxProtoBytes)
    throw InputError(path + ": file is larger than 2 GiB; ONNX models that big must use external data");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(path + ": cannot open file");
  std::string bytes(size, '\0');
  in.read(bytes.data(), static_cast<std::streamsize>(size));
  if (!in) throw InputError(path + ": read error");
  return bytes;
}

// Bytes read from each external data file so far. Tensors may not read more bytes from a file
// than it holds: a hostile model pointing many tensors at one region would otherwise multiply
// memory use far past the size of the data on disk.
struct ExternalBudget {
  std::map<std::string, int64_t> bytes_read;  // canonical path -> bytes
};

// Number of values the typed field of `p` for `dt` holds (float_data, int32_data, ...).
int64_t typed_field_size(const onnx::TensorProto& p, DType dt, const char** field) {
  switch (dt) {
    case DType::kF32: *field = "float_data"; return p.float_data_size();
    case DType::kF64: *field = "double_data"; return p.double_data_size();
    case DType::kI64: *field = "int64_data"; return p.int64_data_size();
    case DType::kU32: case DType::kU64: *field = "uint64_data"; return p.uint64_data_size();
    default: *field = "int32_data"; return p.int32_data_size();  // int32 and every narrower type
  }
}

// Copies the typed field into `t` (whose element count was already checked against the field).
void decode_typed_fields(const onnx::TensorProto& p, Tensor& t) {
  const int64_t n = t.numel();
  void* dst = t.raw_mutable();
  switch (t.dtype()) {
    case DType::kF32:
      for (int64_t i = 0; i < n; ++i) static_cast<float*>(dst)[i] = p.float_data(static_cast<int>(i));
      break;
    case DType::kF64:
      for (int64_t i = 0; i < n; ++i) static_cast<double*>(dst)[i] = p.double_data(static_cast<int>(i));
      break;
    case DType::kI64:
      for (int64_t i = 0; i < n; ++i) static_cast<int64_t*>(dst)[i] = p.int64_data(static_cast<int>(i));
      break;
    case DType::kU32: case DType::kU64:
      for (int64_t i = 0; i < n; ++i) {
        uint64_t v = p.uint64_data(static_cast<int>(i));
        if (t.dtype() == DType::kU32) static_cast<uint32_t*>(dst)[i] = static_cast<uint32_t>(v);
        else static_cast<uint64_t*>(dst)[i] = v;
      }
      break;
    default: {  // int32_data carries int32 and every narrower type (f16/bf16 as bit patterns)
      size_t es = dtype_size(t.dtype());
      for (int64_t i = 0; i < n; ++i) {
        int32_t v = p.int32_data(static_cast<int>(i));
        char* d = static_cast<char*>(dst) + i * static_cast<int64_t>(es);
        if (es == 4) std::memcpy(d, &v, 4);
        else if (es == 2) { uint16_t h = static_cast<uint16_t>(v); std::memcpy(d, &h, 2); }
        else { uint8_t b = t.dtype() == DType::kBool ? (v != 0) : static_cast<uint8_t>(v); *d = static_cast<char>(b); }
      }
    }
  }
}

// Resolves an external-data location inside `dir`; rejects absolute paths and escapes (also
// through symlinks: both sides are canonicalized before comparing).
fs::path resolve_external(const std::string& dir, const std::string& location, const std::string& tensor) {
  if (dir.empty()) throw InputError("tensor '" + tensor + "': external data is not allowed here");
  if (location.find('\0') != std::string::npos)
    throw InputError("tensor '" + tensor + "': external data path contains a NUL byte");
  fs::path loc(location);
  if (location.empty() || loc.is_absolute() || loc.has_root_name() || loc.has_root_directory())
    throw InputError("tensor '" + tensor + "': external data path '" + location + "' must be relative to the model's folder");
  std::error_code ec;
  fs::path base = fs::weakly_canonical(fs::path(dir), ec);
  if (ec) throw InputError("tensor '" + tensor + "': cannot resolve the model's folder '" + dir + "'");
  fs::path full = fs::weakly_canonical(base / loc, ec);
  if (ec) throw InputError("tensor '" + tensor + "': cannot resolve external data path '" + location + "'");
  auto rel = full.lexically_relative(base);
  if (rel.empty() || *rel.begin() == ".." || rel == ".")
    throw InputError("tensor '" + tensor + "': external data path '" + location + "' escapes the model's folder");
  return full;
}

// Parses a non-negative decimal integer (the whole string); -1 when it is not one.
int64_t parse_size(const std::string& s) {
  if (s.empty() || s.size() > 18) return -1;
  int64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return -1;
    v = v * 10 + (c - '0');
  }
  return v;
}

struct ExternalRef {
  fs::path file;
  std::string location;
  int64_t offset = 0;
};

// Validates the external reference of `p` (needing `need` bytes) before anything is allocated.
ExternalRef check_external(const onnx::TensorProto& p, const std::string& dir, int64_t need, ExternalBudget* budget) {
  ExternalRef ref;
  int64_t length = -1;
  bool has_location = false;
  for (const auto& kv : p.external_data()) {
    if (kv.key() == "location") {
      ref.location = kv.value();
      has_location = true;
    } else if (kv.key() == "offset" || kv.key() == "length") {
      int64_t v = parse_size(kv.value());
      if (v < 0) throw InputError("tensor '" + p.name() + "': bad external_data " + kv.key() + " '" + kv.value() + "'");
      (kv.key() == "offset" ? ref.offset : length) = v;
    }
  }
  if (!has_location) throw InputError("tensor '" + p.name() + "': external data without a location");
  ref.file = resolve_external(dir, ref.location, p.name());
  std::error_code ec;
  if (!fs::exists(ref.file, ec))
    throw InputError("tensor '" + p.name() + "': external data file '" + ref.location + "' not found");
  if (!fs::is_regular_file(ref.file, ec))  // a FIFO or device would block or never end
    throw InputError("tensor '" + p.name() + "': external data '" + ref.location + "' is not a regular file");
  auto fsize_u = fs::file_size(ref.file, ec);
  if (ec) throw InputError("tensor '" + p.name() + "': cannot stat external data file '" + ref.location + "'");
  int64_t fsize = static_cast<int64_t>(fsize_u);
  if (length >= 0 && length != need)
    throw InputError("tensor '" + p.name() + "': external data length " + std::to_string(length) + " != " +
                     std::to_string(need) + " bytes for its shape");
  if (ref.offset > fsize || fsize - ref.offset < need)
    throw InputError("tensor '" + p.name() + "': external data range (offset " + std::to_string(ref.offset) + ", " +
                     std::to_string(need) + " bytes) is past the end of file '" + ref.location + "' (" +
                     std::to_string(fsize) + " bytes)");
  if (budget) {
    int64_t& used = budget->bytes_read[ref.file.string()];
    if (used > fsize - need)
      throw InputError("tensor '" + p.name() + "': tensors read more bytes from external data file '" + ref.location +
                       "' than it holds (overlapping ranges)");
    used += need;
  }
  return ref;
}

void read_external(const onnx::TensorProto& p, const ExternalRef& ref, Tensor& t) {
  std::ifstream in(ref.file, std::ios::binary);
  in.seekg(ref.offset);
  in.read(static_cast<char*>(t.raw_mutable()), static_cast<std::streamsize>(t.nbytes()));
  if (!in) throw InputError("tensor '" + p.name() + "': cannot read external data from '" + ref.location + "'");
}

// TensorProto -> Tensor. Every size is validated against the data actually present before the
// tensor is allocated, so a small file declaring huge dims cannot make us allocate gigabytes.
//
// With `owned` (the same proto, mutable), large raw_data is moved into the tensor instead of copied:
// a model's weights then exist once in memory, not twice.
Tensor tensor_from_proto(const onnx::TensorProto& p, const std::string& dir, ExternalBudget* budget,
                         onnx::TensorProto* owned = nullptr) {
  if (p.data_type() == onnx::TensorProto::STRING)
    throw UnsupportedError("tensor '" + p.name() + "': string tensors are not supported", "string");
  DType dt = dtype_from_onnx(p.data_type());
  if (dt == DType::kUndefined)
    throw InputError("tensor '" + p.name() + "': unsupported data type " + std::to_string(p.data_type()));
  if (p.has_segment()) throw InputError("tensor '" + p.name() + "': segmented tensors are not supported");
  Shape shape(p.dims().begin(), p.dims().end());
  for (int64_t d : shape)
    if (d < 0) throw InputError("tensor '" + p.name() + "': negative dimension in " + shape_str(shape));
  int64_t numel = 0;
  try {
    numel = shape_numel(shape);
  } catch (const InputError&) {
    throw InputError("tensor '" + p.name() + "': shape " + shape_str(shape) + " is too large");
  }
  const int64_t esize = static_cast<int64_t>(dtype_size(dt));
  if (numel > max_tensor_bytes() / esize)
    throw InputError("tensor '" + p.name() + "': shape " + shape_str(shape) + " (" + dtype_name(dt) +
                     ") exceeds the allocation limit of " + std::to_string(max_tensor_bytes()) + " bytes");
  const int64_t nbytes = numel * esize;

  if (p.data_location() == onnx::TensorProto::EXTERNAL) {
    ExternalRef ref = check_external(p, dir, nbytes, budget);
    Tensor t(dt, shape);
    read_external(p, ref, t);
    return t;
  }
  if (p.has_raw_data()) {
    if (static_cast<int64_t>(p.raw_data().size()) != nbytes)
      throw InputError("tensor '" + p.name() + "': raw_data has " + std::to_string(p.raw_data().size()) +
                       " bytes, shape " + shape_str(shape) + " of " + dtype_name(dt) + " needs " + std::to_string(nbytes));
    // Small tensors stay in the proto: ONNX shape inference reads shape constants from there.
    constexpr int64_t kMoveThreshold = 4096;
    if (owned && nbytes >= kMoveThreshold) {
      std::shared_ptr<std::string> raw(owned->release_raw_data());
      auto storage = Storage::wrap(raw->data(), raw->size(), raw);
      return Tensor(dt, shape, std::move(storage));
    }
    Tensor t(dt, shape);
    if (nbytes > 0) std::memcpy(t.raw_mutable(), p.raw_data().data(), static_cast<size_t>(nbytes));
    return t;
  }
  const char* field = "";
  int64_t have = typed_field_size(p, dt, &field);
  if (have != numel)
    throw InputError("tensor '" + p.name() + "': " + field + " has " + std::to_string(have) + " values, shape " +
                     shape_str(shape) + " needs " + std::to_string(numel));
  Tensor t(dt, shape);
  decode_typed_fields(p, t);
  return t;
}

Attribute attribute_from_onnx(const onnx::AttributeProto& a, const onnx::NodeProto& node, const std::string& dir,
                              ExternalBudget* budget) {
  using A = onnx::AttributeProto;
  Attribute out;
  switch (a.type()) {
    case A::INT: out.value = static_cast<int64_t>(a.i()); break;
    case A::FLOAT: out.value = static_cast<double>(a.f()); break;
    case A::STRING: out.value = a.s(); break;
    case A::TENSOR: out.value = tensor_from_proto(a.t(), dir, budget); break;
    case A::INTS: out.value = std::vector<int64_t>(a.ints().begin(), a.ints().end()); break;
    case A::FLOATS: {
      std::vector<double> v(a.floats().begin(), a.floats().end());
      out.value = std::move(v);
      break;
    }
    case A::STRINGS: out.value = std::vector<std::string>(a.strings().begin(), a.strings().end()); break;
    case A::GRAPH: case A::GRAPHS:
      throw UnsupportedError("node '" + node.name() + "' (" + node.op_type() + "): subgraph attributes are not supported",
                             node.op_type());
    case A::SPARSE_TENSOR: case A::SPARSE_TENSORS: case A::TYPE_PROTO: case A::TYPE_PROTOS:
      throw UnsupportedError("node '" + node.name() + "' (" + node.op_type() + "): attribute '" + a.name() +
                             "' has an unsupported type", node.op_type());
    default:
      // Old files may omit `type`; infer it from the populated field.
      if (a.has_f()) out.value = static_cast<double>(a.f());
      else if (a.has_i()) out.value = static_cast<int64_t>(a.i());
      else if (a.has_s()) out.value = a.s();
      else if (a.has_t()) out.value = tensor_from_proto(a.t(), dir, budget);
      else if (a.ints_size()) out.value = std::vector<int64_t>(a.ints().begin(), a.ints().end());
      else if (a.floats_size()) out.value = std::vector<double>(a.floats().begin(), a.floats().end());
      else if (a.strings_size()) out.value = std::vector<std::string>(a.strings().begin(), a.strings().end());
      else throw InputError("node '" + node.name() + "': attribute '" + a.name() + "' has no value");
  }
  return out;
}

ValueInfo value_info_from_onnx(const onnx::ValueInfoProto& v) {
  ValueInfo info;
  info.name = v.name();
  info.doc = v.doc_string();
  info.prov = {"onnx", "", v.name(), -1};
  if (v.type().has_sequence_type() || v.type().has_optional_type() || v.type().has_map_type() ||
      v.type().has_sparse_tensor_type())
    throw UnsupportedError("value '" + v.name() + "' has a sequence, optional, map or sparse type; only tensors are supported",
                           "non-tensor type");
  if (!v.type().has_tensor_type()) return info;
  const auto& tt = v.type().tensor_type();
  info.dtype = dtype_from_onnx(tt.elem_type());
  if (tt.elem_type() == onnx::TensorProto::STRING)
    throw UnsupportedError("value '" + v.name() + "' is a string tensor; string tensors are not supported", "string");
  if (info.dtype == DType::kUndefined && tt.elem_type() != onnx::TensorProto::UNDEFINED)
    throw UnsupportedError("value '" + v.name() + "' has unsupported element type " + std::to_string(tt.elem_type()),
                           "elem_type " + std::to_string(tt.elem_type()));
  if (tt.has_shape()) {
    info.has_shape = true;
    for (const auto& d : tt.shape().dim()) {
      if (d.has_dim_value() && d.dim_value() < 0)
        throw InputError("value '" + v.name() + "': negative dimension " + std::to_string(d.dim_value()) + " in its type");
      info.shape.push_back(d.has_dim_value() ? d.dim_value() : -1);
      info.dim_params.push_back(d.has_dim_param() ? d.dim_param() : "");
    }
    // The known dims must describe a representable tensor (kernels and allocators multiply them).
    Shape known;
    for (int64_t d : info.shape) known.push_back(d < 0 ? 1 : d);
    try {
      shape_numel(known);
    } catch (const InputError&) {
      throw InputError("value '" + v.name() + "': declared shape " + shape_str(info.shape) + " is too large");
    }
  }
  return info;
}


// ONNX attribute type of an IR attribute value (variant order: INT, FLOAT, STRING, TENSOR, INTS,
// FLOATS, STRINGS).
onnx::AttributeProto::AttributeType onnx_attr_type(const Attribute& a) {
  using A = onnx::AttributeProto;
  static const A::AttributeType kTypes[] = {A::INT, A::FLOAT, A::STRING, A::TENSOR, A::INTS, A::FLOATS, A::STRINGS};
  return kTypes[a.value.index()];
}

// Rejects attributes whose type contradicts the op's ONNX schema (e.g. Conv strides given as a
// FLOAT): kernels would misread them. INT where FLOAT is expected is accepted (it converts exactly).
// Ops without a known schema (custom domains, unknown ops) are not checked here.
void check_attribute_types(const Node& n, const std::map<std::string, int64_t>& opsets) {
  auto it = opsets.find(n.domain);
  if (it == opsets.end() || it->second <= 0) return;
  int version = static_cast<int>(std::min<int64_t>(it->second, INT_MAX));
  const onnx::OpSchema* schema = onnx::OpSchemaRegistry::Schema(n.op_type, version, n.domain);
  if (!schema) return;
  for (const auto& [key, attr] : n.attrs) {
    auto decl = schema->attributes().find(key);
    if (decl == schema->attributes().end()) continue;
    auto want = decl->second.type;
    auto have = onnx_attr_type(attr);
    if (have == want || (want == onnx::AttributeProto::FLOAT && have == onnx::AttributeProto::INT)) continue;
    throw InputError("node '" + n.name + "' (" + n.op_type + "): attribute '" + key + "' is " + attr.type_name() +
                     ", the ONNX schema expects " + onnx::AttributeProto::AttributeType_Name(want));
  }
}

}  // namespace


Tensor tensor_from_onnx(const onnx::TensorProto& p, const std::string& dir) {
  return tensor_from_proto(p, dir, nullptr);
}

namespace {
Model convert_model(const onnx::ModelProto& proto, onnx::ModelProto* owned, const std::string& dir,
                    const std::string& label);
}  // namespace

Model onnx_to_model(const onnx::ModelProto& proto, const std::string& dir, const std::string& label) {
  return convert_model(proto, nullptr, dir, label);
}

namespace {
// Converts `proto`; when `owned` is the same proto, large initializer data is moved out of it.
Model convert_model(const onnx::ModelProto& proto, onnx::ModelProto* owned, const std::string& dir,
                    const std::string& label) {
  Model m;
  m.path = label;
  m.meta.format = "onnx";
  m.meta.producer_name = proto.producer_name();
  m.meta.producer_version = proto.producer_version();
  m.meta.domain = proto.domain();
  m.meta.doc = proto.doc_string();
  m.meta.ir_version = proto.ir_version();
  m.meta.model_version = proto.model_version();
  for (const auto& op : proto.opset_import()) m.meta.opsets[op.domain() == "ai.onnx" ? "" : op.domain()] = op.version();
  for (const auto& kv : proto.metadata_props()) m.meta.props[kv.key()] = kv.value();
  if (!proto.has_graph()) throw InputError(label + ": model has no graph");

  const auto& g = proto.graph();
  Graph& graph = m.graph;
  graph.name = g.name();
  ExternalBudget budget;
  for (int i = 0; i < g.initializer_size(); ++i) {
    const auto& init = g.initializer(i);
    if (init.name().empty()) throw InputError(label + ": initializer without a name");
    if (graph.initializers.count(init.name())) throw InputError(label + ": duplicate initializer '" + init.name() + "'");
    onnx::TensorProto* movable = owned ? owned->mutable_graph()->mutable_initializer(i) : nullptr;
    graph.initializers[init.name()] = tensor_from_proto(init, dir, &budget, movable);
  }
  if (g.sparse_initializer_size() > 0) throw UnsupportedError(label + ": sparse initializers are not supported", "sparse_initializer");
  std::unordered_set<std::string> input_names;
  for (const auto& in : g.input()) {
    if (in.name().empty()) throw InputError(label + ": graph input without a name");
    if (!input_names.insert(in.name()).second) throw InputError(label + ": duplicate graph input '" + in.name() + "'");
    if (!graph.initializers.count(in.name())) graph.inputs.push_back(value_info_from_onnx(in));
  }
  for (const auto& out : g.output()) {
    if (out.name().empty()) throw InputError(label + ": graph output without a name");
    graph.outputs.push_back(value_info_from_onnx(out));
  }
  for (const auto& vi : g.value_info()) graph.value_info[vi.name()] = value_info_from_onnx(vi);

  graph.nodes.reserve(static_cast<size_t>(g.node_size()));
  std::unordered_set<std::string> produced;
  for (int i = 0; i < g.node_size(); ++i) {
    const auto& np = g.node(i);
    Node n;
    n.op_type = np.op_type();
    n.domain = np.domain() == "ai.onnx" ? "" : np.domain();
    n.name = np.name().empty() ? np.op_type() + "_" + std::to_string(i) : np.name();
    if (n.op_type.empty()) throw InputError(label + ": node " + std::to_string(i) + " has no op_type");
    n.inputs.assign(np.input().begin(), np.input().end());
    n.outputs.assign(np.output().begin(), np.output().end());
    for (const auto& out : n.outputs) {
      if (out.empty()) continue;
      if (input_names.count(out))
        throw InputError(label + ": node '" + n.name + "' (" + n.op_type + ") overwrites graph input '" + out + "'");
      if (!produced.insert(out).second || graph.initializers.count(out))
        throw InputError(label + ": value '" + out + "' is produced more than once (duplicate output name, node '" +
                         n.name + "')");
    }
    for (const auto& a : np.attribute()) {
      if (a.has_ref_attr_name()) throw UnsupportedError(label + ": node '" + n.name + "' uses a function attribute reference", n.op_type);
      if (n.attrs.count(a.name()))
        throw InputError(label + ": node '" + n.name + "' (" + n.op_type + ") has attribute '" + a.name() + "' twice");
      n.attrs[a.name()] = attribute_from_onnx(a, np, dir, &budget);
    }
    check_attribute_types(n, m.meta.opsets);
    n.prov = {"onnx", np.op_type(), np.name(), i};
    if (is_lowered_op(n)) {  // ops the reader spells out in canonical ops (formats/onnx/onnx_lowering.h)
      const auto it = m.meta.opsets.find("");
      for (Node& lowered : lower_op(n, graph, it == m.meta.opsets.end() ? 1 : it->second))
        graph.nodes.push_back(std::move(lowered));
      continue;
    }
    graph.nodes.push_back(std::move(n));
  }
  for (const auto& out : graph.outputs)
    if (!produced.count(out.name) && !input_names.count(out.name) && !graph.initializers.count(out.name))
      throw InputError(label + ": graph output '" + out.name + "' is not produced by any node, input or initializer");
  graph.topological_order();  // rejects cycles and dangling inputs now, with a clear message
  return m;
}
}  // namespace

namespace {
// Adds the value types ONNX shape inference finds to `m` (never replacing what the file declares).
// Runs only on a model that already passed validation, so ONNX's code never sees hostile structure.
// ONNX shape inference is library code that crashes on some malformed models (a SEGV in
// ConvTranspose's inference on an input of too low rank, found by tools/fuzz:
// tests/data/bad_inputs/onnx/fuzz_*). So it runs in a forked child that sends the inferred
// value_info back through a pipe. The child's crash is an InputError naming the file (the model is
// malformed); an exception of the inference, or no answer within kInferSeconds, leaves the shapes
// unknown as before (they are advisory).
constexpr int kInferSeconds = 10;

bool infer_in_child(onnx::ModelProto& proto, const std::string& label, onnx::GraphProto* inferred) {
  onnx::OpSchemaRegistry::Instance();  // built once here, not in every child
  const ChildOutcome child = run_in_child(
      [&] {  // the child's copy of the proto is its own
        onnx::shape_inference::InferShapes(proto);
        onnx::GraphProto g;
        *g.mutable_value_info() = proto.graph().value_info();
        std::string out;
        g.SerializeToString(&out);
        return out;
      },
      kInferSeconds, static_cast<uint64_t>(max_tensor_bytes()));
  using End = ChildOutcome::End;
  if (child.end == End::kSignaled)
    throw InputError(label + ": ONNX shape inference crashed on this model (signal " + std::to_string(child.code) +
                     "): the model is malformed");
  if (child.end != End::kExited || child.code == kChildWorkFailed) return false;  // no shapes: they are advisory
  if (child.code != 0)  // a sanitizer's report in the child (its exit code)
    throw InputError(label + ": ONNX shape inference crashed on this model (exit status " +
                     std::to_string(child.code) + "): the model is malformed");
  return inferred->ParseFromString(child.output);
}

void add_inferred_value_info(onnx::ModelProto& proto, Model& m, const std::string& label) {
  onnx::GraphProto inferred;
  if (!infer_in_child(proto, label, &inferred)) return;  // shape inference is advisory
  for (const auto& vi : inferred.value_info()) {
    if (m.graph.value_info.count(vi.name())) continue;
    try {
      m.graph.value_info[vi.name()] = value_info_from_onnx(vi);
    } catch (const InputError&) {
      // a type we do not represent (sequence, ...) or a nonsense inferred shape: leave it unknown
    }
  }
}
}  // namespace

namespace {
// Converts a parsed proto (consuming its large tensors) and adds inferred shapes.
Model model_from_parsed(onnx::ModelProto& proto, const std::string& dir, const std::string& label,
                        const OnnxReadOptions& options) {
  if (!proto.has_graph() && proto.ir_version() == 0) throw InputError(label + ": not an ONNX model (no graph, no ir_version)");
  Model m;
  try {
    m = convert_model(proto, &proto, dir, label);
  } catch (const InputError& e) {
    std::string msg = e.what();
    if (msg.rfind(label, 0) == 0) throw;
    if (auto* u = dynamic_cast<const UnsupportedError*>(&e)) throw UnsupportedError(label + ": " + msg, u->op());
    throw InputError(label + ": " + msg);
  }
  if (options.infer_shapes) add_inferred_value_info(proto, m, label);
  return m;
}
}  // namespace

Model read_onnx_bytes(const std::string& bytes, const std::string& dir, const std::string& label,
                      const OnnxReadOptions& options) {
  onnx::ModelProto proto;
  if (bytes.empty()) throw InputError(label + ": empty file, not an ONNX model");
  if (!proto.ParseFromString(bytes)) throw InputError(label + ": not a valid ONNX protobuf (parse failed)");
  return model_from_parsed(proto, dir, label, options);
}

Model read_onnx(const std::string& path, const OnnxReadOptions& options) {
  // Parsed straight from the file (no whole-file buffer), so peak memory stays near the weights' size.
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) throw InputError(path + ": not a readable file");
  auto size = fs::file_size(path, ec);
  if (ec) throw InputError(path + ": cannot stat file");
  if (size == 0) throw InputError(path + ": empty file, not an ONNX model");
  if (static_cast<int64_t>(size) > kMaxProtoBytes)
    throw InputError(path + ": file is larger than 2 GiB; ONNX models that big must use external data");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(path + ": cannot open file");
  onnx::ModelProto proto;
  if (!proto.ParseFromIstream(&in)) throw InputError(path + ": not a valid ONNX protobuf (parse failed)");
  std::string dir = fs::path(path).parent_path().string();
  if (dir.empty()) dir = ".";
  return model_from_parsed(proto, dir, path, options);
}

Tensor read_onnx_tensor_file(const std::string& path) {
  std::string bytes = read_file_bytes(path);
  onnx::TensorProto proto;
  if (!proto.ParseFromString(bytes)) throw InputError(path + ": not a valid TensorProto");
  try {
    return tensor_from_onnx(proto, fs::path(path).parent_path().string());
  } catch (const UnsupportedError& e) {
    throw UnsupportedError(path + ": " + e.what(), e.op());
  } catch (const InputError& e) {
    throw InputError(path + ": " + e.what());
  }
}

}  // namespace transfix
