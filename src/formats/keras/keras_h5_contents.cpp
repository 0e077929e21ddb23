#include "formats/keras/keras_h5_contents.h"

#include <cstdlib>
#include <cstring>

#include "core/child_process.h"
#include "core/errors.h"
#include "formats/keras/hdf5_file.h"

namespace transfix {

namespace {

std::string key_of(const std::string& object, const std::string& name) { return object + '\x1f' + name; }

// Records sent from the child: one kind byte, a key, and a payload.
enum Kind : uint8_t { kGroup = 'G', kAttribute = 'A', kList = 'L', kDataset = 'D', kDatasetError = 'X', kFatal = 'E' };

class Encoder {
 public:
  void record(Kind kind, const std::string& key) {
    buf_.push_back(static_cast<char>(kind));
    str(key);
  }
  void u64(uint64_t v) { buf_.append(reinterpret_cast<const char*>(&v), sizeof v); }
  void str(const std::string& s) {
    u64(s.size());
    buf_ += s;
  }
  void bytes(const void* p, size_t n) { buf_.append(static_cast<const char*>(p), n); }
  const std::string& data() const { return buf_; }

 private:
  std::string buf_;
};

class Decoder {
 public:
  Decoder(const std::string& buf, const std::string& label) : buf_(buf), label_(label) {}
  bool done() const { return pos_ == buf_.size(); }
  uint8_t u8() { return static_cast<uint8_t>(take(1)[0]); }
  uint64_t u64() {
    uint64_t v;
    std::memcpy(&v, take(sizeof v), sizeof v);
    return v;
  }
  std::string str() {
    const uint64_t n = u64();
    return std::string(take(n), n);
  }
  const char* take(uint64_t n) {
    if (n > buf_.size() - pos_) throw InputError(label_ + ": internal error: truncated HDF5 extraction record");
    const char* p = buf_.data() + pos_;
    pos_ += n;
    return p;
  }

 private:
  const std::string& buf_;
  const std::string& label_;
  size_t pos_ = 0;
};

// The message of an InputError from Hdf5File without its "<path>: " prefix.
std::string without_label(const InputError& e, const std::string& path) {
  std::string m = e.what();
  return m.rfind(path + ": ", 0) == 0 ? m.substr(path.size() + 2) : m;
}

void encode_list(Encoder& out, const std::string& object, const std::string& name, const std::vector<std::string>& list) {
  out.record(kList, key_of(object, name));
  out.u64(list.size());
  for (const std::string& s : list) out.str(s);
}

// Child side: everything the reader may ask for. Dataset failures are recorded per dataset, so the
// reader can name the layer and weight they belong to.
void collect(const Hdf5File& h5, Encoder& out) {
  for (const char* name : {"model_config", "keras_version", "backend"})
    if (h5.has_attribute("", name)) {
      out.record(kAttribute, key_of("", name));
      out.str(h5.string_attribute("", name));
    }
  const std::string root = h5.has_group("model_weights") ? "model_weights" : "";
  if (!root.empty()) out.record(kGroup, root);
  if (!h5.has_attribute(root, "layer_names") && !h5.has_attribute(root, "layer_names0")) return;
  const std::vector<std::string> layers = h5.string_list_attribute(root, "layer_names");
  encode_list(out, root, "layer_names", layers);
  uint64_t budget = static_cast<uint64_t>(max_tensor_bytes());  // total weight bytes sent
  for (const std::string& layer : layers) {
    const std::string group = root.empty() ? layer : root + "/" + layer;
    if (!h5.has_group(group)) continue;
    out.record(kGroup, group);
    if (!h5.has_attribute(group, "weight_names") && !h5.has_attribute(group, "weight_names0")) continue;
    const std::vector<std::string> weights = h5.string_list_attribute(group, "weight_names");
    encode_list(out, group, "weight_names", weights);
    for (const std::string& w : weights) {
      const std::string path = group + "/" + w;
      try {
        Tensor t = h5.float_dataset(path);
        if (t.nbytes() > budget) throw InputError(h5.path() + ": the weights add up to more than the allocation limit");
        budget -= t.nbytes();
        out.record(kDataset, path);
        out.u64(t.shape().size());
        for (int64_t d : t.shape()) out.u64(static_cast<uint64_t>(d));
        out.bytes(t.raw(), t.nbytes());
      } catch (const InputError& e) {
        out.record(kDatasetError, path);
        out.str(without_label(e, h5.path()));
      }
    }
  }
}

// What the child sends: the file's contents, or its InputError as a kFatal record.
std::string extract(const std::string& path) {
  Encoder out;
  try {
    Hdf5File h5(path);
    collect(h5, out);
  } catch (const InputError& e) {
    out = Encoder();
    out.record(kFatal, e.what());
  } catch (const std::exception& e) {
    out = Encoder();
    out.record(kFatal, path + ": cannot read HDF5 file: " + e.what());
  }
  return out.data();
}

KerasH5Contents decode(const std::string& buf, const std::string& path) {
  KerasH5Contents c;
  Decoder in(buf, path);
  while (!in.done()) {
    const Kind kind = static_cast<Kind>(in.u8());
    const std::string key = in.str();
    switch (kind) {
      case kFatal: throw InputError(key);
      case kGroup: c.groups.insert(key); break;
      case kAttribute: c.attributes[key] = in.str(); break;
      case kList: {
        std::vector<std::string>& list = c.lists[key];
        for (uint64_t n = in.u64(), i = 0; i < n; ++i) list.push_back(in.str());
        break;
      }
      case kDataset: {
        const uint64_t rank = in.u64();
        if (rank > 16) throw InputError(path + ": internal error: bad HDF5 extraction record");
        Shape shape(rank);
        for (int64_t& d : shape) d = static_cast<int64_t>(in.u64());
        Tensor t(DType::kF32, shape);
        std::memcpy(t.raw_mutable(), in.take(t.nbytes()), t.nbytes());
        c.datasets[key] = std::move(t);
        break;
      }
      case kDatasetError: c.dataset_errors[key] = in.str(); break;
      default: throw InputError(path + ": internal error: unknown HDF5 extraction record");
    }
  }
  return c;
}

}  // namespace

bool KerasH5Contents::has_attribute(const std::string& object, const std::string& name) const {
  return attributes.count(key_of(object, name)) != 0;
}
bool KerasH5Contents::has_list(const std::string& object, const std::string& name) const {
  return lists.count(key_of(object, name)) != 0;
}
const std::string& KerasH5Contents::attribute(const std::string& object, const std::string& name) const {
  return attributes.at(key_of(object, name));
}
const std::vector<std::string>& KerasH5Contents::list(const std::string& object, const std::string& name) const {
  return lists.at(key_of(object, name));
}

KerasH5Contents read_keras_h5(const std::string& path, int timeout_seconds) {
  if (timeout_seconds <= 0) {
    const char* env = std::getenv("TRANSFIX_HDF5_TIMEOUT");
    timeout_seconds = env && std::atoi(env) > 0 ? std::atoi(env) : 60;
  }
  const uint64_t cap = static_cast<uint64_t>(max_tensor_bytes()) + (uint64_t{64} << 20);
  ChildOutcome child = run_in_child([&] { return extract(path); }, timeout_seconds, cap);
  using End = ChildOutcome::End;
  switch (child.end) {
    case End::kNotStarted: throw InputError(path + ": cannot start the HDF5 reading process");
    case End::kTimedOut:
      throw InputError(path + ": reading the HDF5 file did not finish within " + std::to_string(timeout_seconds) +
                       " s (the HDF5 library loops on it: malformed file)");
    case End::kTooMuchOutput: throw InputError(path + ": the weights add up to more than the allocation limit");
    // extract() catches what it throws and exits 0: a signal or another status means libhdf5 crashed.
    case End::kSignaled:
      throw InputError(path + ": the HDF5 library crashed reading this file (signal " + std::to_string(child.code) +
                       "): the file is malformed");
    case End::kExited:
      if (child.code != 0)
        throw InputError(path + ": the HDF5 library crashed reading this file (exit status " +
                         std::to_string(child.code) + "): the file is malformed");
  }
  return decode(child.output, path);
}

KerasH5Contents read_keras_h5_in_process(const std::string& path) {
  Encoder out;
  {
    Hdf5File h5(path);
    collect(h5, out);
  }
  return decode(out.data(), path);
}

}  // namespace transfix
