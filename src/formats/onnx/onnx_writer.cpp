#include "formats/onnx/onnx_writer.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <onnx/onnx_pb.h>

#include <cerrno>
#include <climits>
#include <cstring>
#include <filesystem>
#include <memory>
#include <set>
#include <unordered_set>

#include "core/errors.h"
#include "formats/onnx/onnx_reader.h"

namespace fs = std::filesystem;

namespace transfix {

namespace {

// Default-domain opset written for models that do not say (e.g. built in code): the newest one
// the ONNX library we link knows, so onnx::checker can validate the result.
constexpr int64_t kDefaultOpset = 17;
// Protobuf cannot serialize or parse a message of 2 GiB or more.
constexpr int64_t kMaxProtoBytes = int64_t{INT_MAX};
// Serialized overhead allowed per tensor when estimating whether a model fits inline.
constexpr int64_t kTensorOverheadBytes = 256;

std::string errno_text() { return std::strerror(errno); }

// A file written under a temporary name in its final folder and renamed over the target only when
// complete and on disk. Destroying it uncommitted removes the temporary file.
class AtomicFile {
 public:
  explicit AtomicFile(const fs::path& target) : target_(target) {
    fs::path dir = target.parent_path().empty() ? fs::path(".") : target.parent_path();
    std::string tmpl = (dir / ("." + target.filename().string() + ".tmp-XXXXXX")).string();
    fd_ = ::mkstemp(tmpl.data());
    if (fd_ < 0) throw InputError(target.string() + ": cannot create a file in '" + dir.string() + "': " + errno_text());
    tmp_ = tmpl;
    ::fchmod(fd_, 0644);  // mkstemp creates 0600; a model file is not a secret
  }
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;
  ~AtomicFile() {
    if (fd_ >= 0) ::close(fd_);
    if (!committed_) ::unlink(tmp_.c_str());
  }

  int fd() const { return fd_; }
  int64_t size() const { return written_; }

  void write(const void* data, size_t n) {
    const char* p = static_cast<const char*>(data);
    while (n > 0) {
      ssize_t k = ::write(fd_, p, n);
      if (k < 0 && errno == EINTR) continue;
      if (k <= 0) throw InputError(target_.string() + ": write failed: " + errno_text());
      p += k;
      n -= static_cast<size_t>(k);
      written_ += k;
    }
  }
  void pad_to(int64_t alignment) {
    static const char kZeros[4096] = {};
    while (alignment > 1 && written_ % alignment != 0) {
      int64_t n = std::min<int64_t>(alignment - written_ % alignment, sizeof(kZeros));
      write(kZeros, static_cast<size_t>(n));
    }
  }
  // Data on disk first, then the name: readers see either the old file or the complete new one.
  void commit() {
    if (::fsync(fd_) != 0) throw InputError(target_.string() + ": fsync failed: " + errno_text());
    int fd = fd_;
    fd_ = -1;
    if (::close(fd) != 0) throw InputError(target_.string() + ": close failed: " + errno_text());
    if (::rename(tmp_.c_str(), target_.c_str()) != 0)
      throw InputError(target_.string() + ": cannot rename the finished file into place: " + errno_text());
    committed_ = true;
    fs::path dir = target_.parent_path().empty() ? fs::path(".") : target_.parent_path();
    int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
    if (dfd >= 0) {  // make the rename itself durable; best effort (some filesystems refuse)
      ::fsync(dfd);
      ::close(dfd);
    }
  }

 private:
  fs::path target_;
  std::string tmp_;
  int fd_ = -1;
  int64_t written_ = 0;
  bool committed_ = false;
};

// Receives the tensors that go to the external data file.
class ExternalSink {
 public:
  ExternalSink(const fs::path& file, std::string location, const OnnxWriteOptions& options)
      : file_(file), location_(std::move(location)), min_bytes_(options.external_min_bytes),
        alignment_(std::max<int64_t>(1, options.external_alignment)) {}

  bool wants(const Tensor& t) const { return static_cast<int64_t>(t.nbytes()) >= min_bytes_ && t.nbytes() > 0; }

  void put(const Tensor& t, onnx::TensorProto* p) {
    file_.pad_to(alignment_);
    int64_t offset = file_.size();
    file_.write(t.raw(), t.nbytes());
    p->set_data_location(onnx::TensorProto::EXTERNAL);
    auto add = [&](const char* key, const std::string& value) {
      auto* kv = p->add_external_data();
      kv->set_key(key);
      kv->set_value(value);
    };
    add("location", location_);
    add("offset", std::to_string(offset));
    add("length", std::to_string(t.nbytes()));
    ++count_;
  }

  int count() const { return count_; }
  void commit() { file_.commit(); }

 private:
  AtomicFile file_;
  std::string location_;
  int64_t min_bytes_;
  int64_t alignment_;
  int count_ = 0;
};

void fill_tensor(const Tensor& t, const std::string& name, onnx::TensorProto* p, ExternalSink* sink) {
  int elem = onnx_from_dtype(t.dtype());
  if (elem == onnx::TensorProto::UNDEFINED)
    throw InputError("tensor '" + name + "' has dtype " + dtype_name(t.dtype()) + ", which ONNX cannot store");
  p->set_name(name);
  p->set_data_type(elem);
  for (int64_t d : t.shape()) p->add_dims(d);
  if (sink && sink->wants(t)) {
    sink->put(t, p);
  } else {
    // raw_data is little-endian, which is also our in-memory layout (bool: one byte per element).
    p->set_raw_data(t.nbytes() ? std::string(static_cast<const char*>(t.raw()), t.nbytes()) : std::string());
  }
}

void fill_value_info(const ValueInfo& v, onnx::ValueInfoProto* p) {
  p->set_name(v.name);
  if (!v.doc.empty()) p->set_doc_string(v.doc);
  if (v.dtype == DType::kUndefined && !v.has_shape) return;  // type unknown: leave it out
  auto* tt = p->mutable_type()->mutable_tensor_type();
  if (v.dtype != DType::kUndefined) tt->set_elem_type(onnx_from_dtype(v.dtype));
  if (!v.has_shape) return;
  auto* shape = tt->mutable_shape();
  for (size_t i = 0; i < v.shape.size(); ++i) {
    auto* dim = shape->add_dim();
    if (v.shape[i] >= 0) dim->set_dim_value(v.shape[i]);
    else if (i < v.dim_params.size() && !v.dim_params[i].empty()) dim->set_dim_param(v.dim_params[i]);
  }
}

// A graph output whose declared type is empty borrows the type found for it (shape inference).
ValueInfo completed_output(const ValueInfo& out, const Graph& g) {
  if (out.dtype != DType::kUndefined) return out;
  auto it = g.value_info.find(out.name);
  if (it == g.value_info.end() || it->second.dtype == DType::kUndefined) return out;
  ValueInfo v = it->second;
  v.doc = out.doc;
  return v;
}

ValueInfo value_info_of(const std::string& name, const Tensor& t) {
  ValueInfo v;
  v.name = name;
  v.dtype = t.dtype();
  v.shape = t.shape();
  v.dim_params.assign(t.shape().size(), "");
  v.has_shape = true;
  return v;
}

void fill_attribute(const std::string& key, const Attribute& a, const Node& n, onnx::AttributeProto* p,
                    ExternalSink* sink) {
  using A = onnx::AttributeProto;
  p->set_name(key);
  std::visit(
      [&](const auto& v) {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, int64_t>) {
          p->set_type(A::INT);
          p->set_i(v);
        } else if constexpr (std::is_same_v<T, double>) {
          p->set_type(A::FLOAT);
          p->set_f(static_cast<float>(v));  // ONNX floats are float32; the reader widened them exactly
        } else if constexpr (std::is_same_v<T, std::string>) {
          p->set_type(A::STRING);
          p->set_s(v);
        } else if constexpr (std::is_same_v<T, Tensor>) {
          p->set_type(A::TENSOR);
          fill_tensor(v, "", p->mutable_t(), sink);
        } else if constexpr (std::is_same_v<T, std::vector<int64_t>>) {
          p->set_type(A::INTS);
          for (int64_t x : v) p->add_ints(x);
        } else if constexpr (std::is_same_v<T, std::vector<double>>) {
          p->set_type(A::FLOATS);
          for (double x : v) p->add_floats(static_cast<float>(x));
        } else {
          static_assert(std::is_same_v<T, std::vector<std::string>>);
          p->set_type(A::STRINGS);
          for (const auto& x : v) p->add_strings(x);
        }
      },
      a.value);
  (void)n;
}

// The node name to write: the original one when the node came from an ONNX file as it is (an unnamed
// node stays unnamed), otherwise the IR name (the provenance names an original operator, which may have
// become several nodes: TFLite's fused activations, ONNX ops the reader lowers such as ConvInteger).
std::string written_node_name(const Node& n) {
  if (n.prov.format == "onnx" && n.prov.op_type == n.op_type) return n.prov.name;
  return n.name;
}

// Node order for the file. ONNX requires topological order; a graph already in such an order keeps
// its own (so read -> write is stable), anything else is sorted.
std::vector<size_t> node_write_order(const Graph& g) {
  std::unordered_set<std::string> available;
  for (const auto& in : g.inputs) available.insert(in.name);
  for (const auto& [name, t] : g.initializers) available.insert(name);
  bool in_order = true;
  for (const auto& n : g.nodes) {
    for (const auto& in : n.inputs) in_order &= in.empty() || available.count(in) != 0;
    if (!in_order) break;
    for (const auto& out : n.outputs) available.insert(out);
  }
  std::vector<size_t> order;
  try {
    order = g.topological_order();  // also validates: cycles, dangling inputs, double producers
  } catch (const InputError& e) {
    throw InputError(std::string("cannot write an invalid graph: ") + e.what());
  }
  if (in_order)
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  return order;
}

std::map<std::string, int64_t> opset_imports(const Model& model) {
  std::map<std::string, int64_t> opsets;
  for (const auto& [domain, version] : model.meta.opsets) opsets[domain == "ai.onnx" ? "" : domain] = version;
  for (const auto& n : model.graph.nodes)
    if (!opsets.count(n.domain)) opsets[n.domain] = n.domain.empty() ? kDefaultOpset : 1;
  if (opsets.empty()) opsets[""] = kDefaultOpset;  // ONNX requires at least one opset import
  return opsets;
}

// Sum of tensor bytes the protobuf would hold inline (plus a little per tensor).
int64_t inline_tensor_bytes(const Graph& g) {
  int64_t total = 0;
  auto add = [&](const Tensor& t) { total += static_cast<int64_t>(t.nbytes()) + kTensorOverheadBytes; };
  for (const auto& [name, t] : g.initializers) add(t);
  for (const auto& n : g.nodes)
    for (const auto& [key, a] : n.attrs)
      if (const Tensor* t = std::get_if<Tensor>(&a.value)) add(*t);
  return total;
}

onnx::ModelProto build_proto(const Model& model, ExternalSink* sink) {
  const Graph& g = model.graph;
  const ModelMeta& meta = model.meta;
  onnx::ModelProto m;
  m.set_ir_version(meta.ir_version > 0 ? meta.ir_version : static_cast<int64_t>(onnx::IR_VERSION));
  for (const auto& [domain, version] : opset_imports(model)) {
    auto* op = m.add_opset_import();
    op->set_domain(domain);
    op->set_version(version);
  }
  m.set_producer_name(meta.producer_name.empty() ? "transfix" : meta.producer_name);
  m.set_producer_version(meta.producer_name.empty() ? TRANSFIX_VERSION : meta.producer_version);
  if (!meta.domain.empty()) m.set_domain(meta.domain);
  if (meta.model_version != 0) m.set_model_version(meta.model_version);
  if (!meta.doc.empty()) m.set_doc_string(meta.doc);
  for (const auto& [key, value] : meta.props) {
    auto* kv = m.add_metadata_props();
    kv->set_key(key);
    kv->set_value(value);
  }

  auto* gp = m.mutable_graph();
  gp->set_name(g.name.empty() ? "graph" : g.name);  // ONNX requires a graph name
  // ONNX Runtime rejects repeated node names; provenance names repeat when one source op became
  // several nodes (a TorchScript module path), so repeats get a suffix.
  std::unordered_set<std::string> written_names;
  for (size_t i : node_write_order(g)) {
    const Node& n = g.nodes[i];
    // The IR's own extensions of ONNX ops have no ONNX spelling.
    if (n.op_type == "Pad" && n.domain.empty() && n.attr_string("mode", "constant") == "symmetric")
      throw UnsupportedError("node '" + n.name + "' (Pad): mode 'symmetric' (TFLite MIRROR_PAD SYMMETRIC) has no ONNX form",
                             "Pad");
    auto* np = gp->add_node();
    np->set_op_type(n.op_type);
    if (!n.domain.empty()) np->set_domain(n.domain);
    std::string name = written_node_name(n);
    for (int k = 1; !name.empty() && !written_names.insert(name).second; ++k) name = written_node_name(n) + "_" + std::to_string(k);
    if (!name.empty()) np->set_name(name);
    for (const auto& in : n.inputs) np->add_input(in);
    for (const auto& out : n.outputs) np->add_output(out);
    for (const auto& [key, a] : n.attrs) {
      // TFLite's QUANTIZE rounds half away from zero; ONNX's QuantizeLinear has no such attribute
      // and rounds half to even: the two differ only where x / scale is exactly halfway.
      if (n.op_type == "QuantizeLinear" && n.domain.empty() && key == "rounding") continue;
      fill_attribute(key, a, n, np->add_attribute(), sink);
    }
  }
  for (const auto& [name, t] : g.initializers) fill_tensor(t, name, gp->add_initializer(), sink);
  for (const auto& in : g.inputs) fill_value_info(in, gp->add_input());
  // Before IR version 4 every initializer had to be listed as a graph input too.
  if (m.ir_version() < 4) {
    std::unordered_set<std::string> listed;
    for (const auto& in : g.inputs) listed.insert(in.name);
    for (const auto& [name, t] : g.initializers)
      if (!listed.count(name)) fill_value_info(value_info_of(name, t), gp->add_input());
  }
  for (const auto& out : g.outputs) fill_value_info(completed_output(out, g), gp->add_output());
  std::set<std::string> names;  // sorted: the file does not depend on hash order
  for (const auto& [name, v] : g.value_info) names.insert(name);
  for (const auto& name : names) fill_value_info(g.value_info.at(name), gp->add_value_info());
  return m;
}

void check_proto_size(const onnx::ModelProto& m, const std::string& what) {
  size_t bytes = m.ByteSizeLong();
  if (static_cast<int64_t>(bytes) > kMaxProtoBytes)
    throw InputError(what + ": the model serializes to " + std::to_string(bytes) +
                     " bytes, more than one protobuf can hold (2 GiB); write it with external data");
}

bool same_file(const fs::path& a, const fs::path& b) {
  if (a.empty() || b.empty()) return false;
  std::error_code ec;
  if (fs::exists(a, ec) && fs::exists(b, ec)) return fs::equivalent(a, b, ec);
  return fs::weakly_canonical(a, ec) == fs::weakly_canonical(b, ec);
}

}  // namespace

onnx::ModelProto model_to_onnx(const Model& model) { return build_proto(model, nullptr); }

std::string model_to_onnx_bytes(const Model& model) {
  if (inline_tensor_bytes(model.graph) > kMaxProtoBytes)
    throw InputError("model is too large for one protobuf (2 GiB); write it to a file with external data");
  onnx::ModelProto m = model_to_onnx(model);
  check_proto_size(m, "model");
  std::string bytes;
  if (!m.SerializeToString(&bytes)) throw InputError("model: protobuf serialization failed");
  return bytes;
}

void write_onnx(const Model& model, const std::string& path, const OnnxWriteOptions& options) {
  if (path.empty()) throw InputError("no output path given");
  const fs::path target(path);
  std::error_code ec;
  if (fs::is_directory(target, ec)) throw InputError(path + ": is a directory");
  if (same_file(target, model.path))
    throw InputError(path + ": refusing to overwrite the model's own source file; choose another output path");

  using E = OnnxWriteOptions::ExternalData;
  bool external = options.external_data == E::kAlways ||
                  (options.external_data == E::kAuto && inline_tensor_bytes(model.graph) > options.inline_limit_bytes);
  std::unique_ptr<ExternalSink> sink;
  if (external) {
    std::string location = options.external_file.empty() ? target.filename().string() + ".data" : options.external_file;
    fs::path loc(location);
    if (location.empty() || loc.has_parent_path() || location == "." || location == "..")
      throw InputError(path + ": external data file name '" + location + "' must be a plain file name in the model's folder");
    fs::path data_path = target.parent_path() / loc;
    if (same_file(data_path, model.path) || same_file(data_path, target))
      throw InputError(path + ": external data file '" + location + "' would overwrite the model file");
    sink = std::make_unique<ExternalSink>(data_path, location, options);
  }

  onnx::ModelProto m = build_proto(model, sink.get());
  check_proto_size(m, path);
  AtomicFile file(target);
  if (!m.SerializeToFileDescriptor(file.fd())) throw InputError(path + ": write failed: " + errno_text());
  // The data the model points to lands before the model that points to it.
  if (sink && sink->count() > 0) sink->commit();  // no big tensor: no data file
  file.commit();
}

}  // namespace transfix
