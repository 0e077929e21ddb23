#include "formats/onnx/onnx_reader.h"

#include <onnx/onnx_pb.h>
#include <onnx/shape_inference/implementation.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/errors.h"

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

void decode_typed_fields(const onnx::TensorProto& p, Tensor& t) {
  const int64_t n = t.numel();
  auto need = [&](int have, const char* field) {
    if (have != n)
      throw InputError("tensor '" + p.name() + "': " + field + " has " + std::to_string(have) + " values, shape " +
                       shape_str(t.shape()) + " needs " + std::to_string(n));
  };
  void* dst = t.raw_mutable();
  switch (t.dtype()) {
    case DType::kF32:
      need(p.float_data_size(), "float_data");
      for (int64_t i = 0; i < n; ++i) static_cast<float*>(dst)[i] = p.float_data(static_cast<int>(i));
      break;
    case DType::kF64:
      need(p.double_data_size(), "double_data");
      for (int64_t i = 0; i < n; ++i) static_cast<double*>(dst)[i] = p.double_data(static_cast<int>(i));
      break;
    case DType::kI64:
      need(p.int64_data_size(), "int64_data");
      for (int64_t i = 0; i < n; ++i) static_cast<int64_t*>(dst)[i] = p.int64_data(static_cast<int>(i));
      break;
    case DType::kU32: case DType::kU64:
      need(p.uint64_data_size(), "uint64_data");
      for (int64_t i = 0; i < n; ++i) {
        uint64_t v = p.uint64_data(static_cast<int>(i));
        if (t.dtype() == DType::kU32) static_cast<uint32_t*>(dst)[i] = static_cast<uint32_t>(v);
        else static_cast<uint64_t*>(dst)[i] = v;
      }
      break;
    default: {  // int32_data carries int32 and every narrower type (f16/bf16 as bit patterns)
      need(p.int32_data_size(), "int32_data");
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

// Resolves an external-data location inside `dir`; rejects absolute paths and escapes.
fs::path resolve_external(const std::string& dir, const std::string& location, const std::string& tensor) {
  if (dir.empty()) throw InputError("tensor '" + tensor + "': external data is not allowed here");
  fs::path loc(location);
  if (location.empty() || loc.is_absolute())
    throw InputError("tensor '" + tensor + "': external data path '" + location + "' must be relative to the model's folder");
  fs::path base = fs::weakly_canonical(fs::path(dir));
  fs::path full = fs::weakly_canonical(base / loc);
  auto rel = full.lexically_relative(base);
  if (rel.empty() || *rel.begin() == "..")
    throw InputError("tensor '" + tensor + "': external data path '" + location + "' escapes the model's folder");
  return full;
}

void read_external(const onnx::TensorProto& p, const std::string& dir, Tensor& t) {
  std::string location;
  int64_t offset = 0, length = -1;
  for (const auto& kv : p.external_data()) {
    try {
      if (kv.key() == "location") location = kv.value();
      else if (kv.key() == "offset") offset = std::stoll(kv.value());
      else if (kv.key() == "length") length = std::stoll(kv.value());
    } catch (const std::exception&) {
      throw InputError("tensor '" + p.name() + "': bad external_data " + kv.key() + " '" + kv.value() + "'");
    }
  }
  fs::path file = resolve_external(dir, location, p.name());
  std::error_code ec;
  if (!fs::is_regular_file(file, ec)) throw InputError("tensor '" + p.name() + "': external data file '" + location + "' not found");
  int64_t fsize = static_cast<int64_t>(fs::file_size(file, ec));
  int64_t need = static_cast<int64_t>(t.nbytes());
  if (length >= 0 && length != need)
    throw InputError("tensor '" + p.name() + "': external data length " + std::to_string(length) + " != " + std::to_string(need) + " bytes for its shape");
  if (offset < 0 || offset > fsize || fsize - offset < need)
    throw InputError("tensor '" + p.name() + "': external data range is outside file '" + location + "'");
  std::ifstream in(file, std::ios::binary);
  in.seekg(offset);
  in.read(static_cast<char*>(t.raw_mutable()), need);
  if (!in) throw InputError("tensor '" + p.name() + "': cannot read external data from '" + location + "'");
}

Attribute attribute_from_onnx(const onnx::AttributeProto& a, const onnx::NodeProto& node, const std::string& dir) {
  using A = onnx::AttributeProto;
  Attribute out;
  switch (a.type()) {
    case A::INT: out.value = static_cast<int64_t>(a.i()); break;
    case A::FLOAT: out.value = static_cast<double>(a.f()); break;
    case A::STRING: out.value = a.s(); break;
    case A::TENSOR: out.value = tensor_from_onnx(a.t(), dir); break;
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
      else if (a.has_t()) out.value = tensor_from_onnx(a.t(), dir);
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
  if (tt.has_shape()) {
    info.has_shape = true;
    for (const auto& d : tt.shape().dim()) {
      info.shape.push_back(d.has_dim_value() ? d.dim_value() : -1);
      info.dim_params.push_back(d.has_dim_param() ? d.dim_param() : "");
    }
  }
  return info;
}

}  // namespace

DType dtype_from_onnx(int elem_type) {
  switch (elem_type) {
    case onnx::TensorProto::FLOAT: return DType::kF32;
    case onnx::TensorProto::UINT8: return DType::kU8;
    case onnx::TensorProto::INT8: return DType::kI8;
    case onnx::TensorProto::UINT16: return DType::kU16;
    case onnx::TensorProto::INT16: return DType::kI16;
    case onnx::TensorProto::INT32: return DType::kI32;
    case onnx::TensorProto::INT64: return DType::kI64;
    case onnx::TensorProto::BOOL: return DType::kBool;
    case onnx::TensorProto::FLOAT16: return DType::kF16;
    case onnx::TensorProto::DOUBLE: return DType::kF64;
    case onnx::TensorProto::UINT32: return DType::kU32;
    case onnx::TensorProto::UINT64: return DType::kU64;
    case onnx::TensorProto::BFLOAT16: return DType::kBF16;
    default: return DType::kUndefined;
  }
}

int onnx_from_dtype(DType t) {
  switch (t) {
    case DType::kF32: return onnx::TensorProto::FLOAT;
    case DType::kU8: return onnx::TensorProto::UINT8;
    case DType::kI8: return onnx::TensorProto::INT8;
    case DType::kU16: return onnx::TensorProto::UINT16;
    case DType::kI16: return onnx::TensorProto::INT16;
    case DType::kI32: return onnx::TensorProto::INT32;
    case DType::kI64: return onnx::TensorProto::INT64;
    case DType::kBool: return onnx::TensorProto::BOOL;
    case DType::kF16: return onnx::TensorProto::FLOAT16;
    case DType::kF64: return onnx::TensorProto::DOUBLE;
    case DType::kU32: return onnx::TensorProto::UINT32;
    case DType::kU64: return onnx::TensorProto::UINT64;
    case DType::kBF16: return onnx::TensorProto::BFLOAT16;
    default: return onnx::TensorProto::UNDEFINED;
  }
}

Tensor tensor_from_onnx(const onnx::TensorProto& p, const std::string& dir) {
  if (p.data_type() == onnx::TensorProto::STRING)
    throw UnsupportedError("tensor '" + p.name() + "': string tensors are not supported", "string");
  DType dt = dtype_from_onnx(p.data_type());
  if (dt == DType::kUndefined)
    throw InputError("tensor '" + p.name() + "': unsupported data type " + std::to_string(p.data_type()));
  if (p.has_segment()) throw InputError("tensor '" + p.name() + "': segmented tensors are not supported");
  Shape shape(p.dims().begin(), p.dims().end());
  for (int64_t d : shape)
    if (d < 0) throw InputError("tensor '" + p.name() + "': negative dimension in " + shape_str(shape));
  Tensor t(dt, shape);  // checks the allocation limit before any data is touched
  if (p.data_location() == onnx::TensorProto::EXTERNAL) {
    read_external(p, dir, t);
  } else if (p.has_raw_data()) {
    if (p.raw_data().size() != t.nbytes())
      throw InputError("tensor '" + p.name() + "': raw_data has " + std::to_string(p.raw_data().size()) +
                       " bytes, shape " + shape_str(shape) + " of " + dtype_name(dt) + " needs " + std::to_string(t.nbytes()));
    std::memcpy(t.raw_mutable(), p.raw_data().data(), t.nbytes());
  } else {
    decode_typed_fields(p, t);
  }
  return t;
}

Model onnx_to_model(const onnx::ModelProto& proto, const std::string& dir, const std::string& label) {
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
  for (const auto& init : g.initializer()) {
    if (init.name().empty()) throw InputError(label + ": initializer without a name");
    graph.initializers[init.name()] = tensor_from_onnx(init, dir);
  }
  if (g.sparse_initializer_size() > 0) throw UnsupportedError(label + ": sparse initializers are not supported", "sparse_initializer");
  for (const auto& in : g.input())
    if (!graph.initializers.count(in.name())) graph.inputs.push_back(value_info_from_onnx(in));
  for (const auto& out : g.output()) graph.outputs.push_back(value_info_from_onnx(out));
  for (const auto& vi : g.value_info()) graph.value_info[vi.name()] = value_info_from_onnx(vi);

  graph.nodes.reserve(static_cast<size_t>(g.node_size()));
  for (int i = 0; i < g.node_size(); ++i) {
    const auto& np = g.node(i);
    Node n;
    n.op_type = np.op_type();
    n.domain = np.domain() == "ai.onnx" ? "" : np.domain();
    n.name = np.name().empty() ? np.op_type() + "_" + std::to_string(i) : np.name();
    n.inputs.assign(np.input().begin(), np.input().end());
    n.outputs.assign(np.output().begin(), np.output().end());
    for (const auto& a : np.attribute()) {
      if (a.has_ref_attr_name()) throw UnsupportedError(label + ": node '" + n.name + "' uses a function attribute reference", n.op_type);
      n.attrs[a.name()] = attribute_from_onnx(a, np, dir);
    }
    n.prov = {"onnx", np.op_type(), np.name(), i};
    graph.nodes.push_back(std::move(n));
  }
  graph.topological_order();  // rejects cycles and dangling inputs now, with a clear message
  return m;
}

Model read_onnx_bytes(const std::string& bytes, const std::string& dir, const std::string& label,
                      const OnnxReadOptions& options) {
  onnx::ModelProto proto;
  if (!proto.ParseFromString(bytes)) throw InputError(label + ": not a valid ONNX protobuf (parse failed)");
  if (!proto.has_graph() && proto.ir_version() == 0) throw InputError(label + ": not an ONNX model (no graph, no ir_version)");
  if (options.infer_shapes) {
    try {
      onnx::shape_inference::InferShapes(proto);
    } catch (const std::exception&) {
      // Shape inference is advisory: a model it cannot handle still runs.
    }
  }
  try {
    return onnx_to_model(proto, dir, label);
  } catch (const InputError& e) {
    std::string msg = e.what();
    if (msg.rfind(label, 0) == 0) throw;
    if (auto* u = dynamic_cast<const UnsupportedError*>(&e)) throw UnsupportedError(label + ": " + msg, u->op());
    throw InputError(label + ": " + msg);
  }
}

Model read_onnx(const std::string& path, const OnnxReadOptions& options) {
  std::string bytes = read_file_bytes(path);
  std::string dir = fs::path(path).parent_path().string();
  if (dir.empty()) dir = ".";
  return read_onnx_bytes(bytes, dir, path, options);
}

Tensor read_onnx_tensor_file(const std::string& path) {
  std::string bytes = read_file_bytes(path);
  onnx::TensorProto proto;
  if (!proto.ParseFromString(bytes)) throw InputError(path + ": not a valid TensorProto");
  try {
    return tensor_from_onnx(proto, fs::path(path).parent_path().string());
  } catch (const InputError& e) {
    throw InputError(path + ": " + e.what());
  }
}

}  // namespace transfix
