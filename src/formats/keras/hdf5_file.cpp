#include "formats/keras/hdf5_file.h"

#include <hdf5.h>

#include <cstring>
#include <filesystem>
#include <functional>
#include <mutex>

#include "core/errors.h"

namespace transfix {

namespace {

static_assert(sizeof(hid_t) == sizeof(int64_t), "hid_t is stored as int64_t");

// HDF5 prints an error stack to stderr on every failed call unless told not to. Our callers turn
// failures into InputErrors, so the printing is switched off (once, for the default stack).
void silence_hdf5() {
  static std::once_flag once;
  std::call_once(once, [] { H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr); });
}

// Closes an HDF5 identifier of any kind at scope exit.
class Handle {
 public:
  explicit Handle(hid_t id = -1) : id_(id) {}
  ~Handle() {
    if (id_ >= 0) H5Idec_ref(id_);  // closes an identifier of any kind
  }
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  hid_t get() const { return id_; }
  bool ok() const { return id_ >= 0; }

 private:
  hid_t id_;
};

// Splits "a/b/c" into its non-empty components.
std::vector<std::string> components(const std::string& path) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string::npos) end = path.size();
    if (end > start) parts.push_back(path.substr(start, end - start));
    start = end + 1;
  }
  return parts;
}

// Strings as HDF5 stores them: fixed-length ones may be NUL-padded.
std::string trim_nul(const char* data, size_t size) {
  size_t n = 0;
  while (n < size && data[n] != 0) ++n;
  return std::string(data, n);
}

}  // namespace

Hdf5File::Hdf5File(const std::string& path) : path_(path) {
  silence_hdf5();
  std::error_code ec;
  file_bytes_ = std::filesystem::file_size(path, ec);
  if (ec) throw InputError(path + ": cannot read file");
  if (H5Fis_hdf5(path.c_str()) <= 0) throw InputError(path + ": not an HDF5 file");
  file_ = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  if (file_ < 0) throw InputError(path + ": cannot open HDF5 file (damaged?)");
}

Hdf5File::~Hdf5File() {
  if (file_ >= 0) H5Fclose(file_);
}

void Hdf5File::fail(const std::string& message) const { throw InputError(path_ + ": " + message); }

// Walks the path one hard link at a time; returns -1 when a component is missing, not a hard link,
// or not of the requested kind.
int64_t Hdf5File::open_object(const std::string& path, int kind) const {
  hid_t current = H5Oopen(file_, "/", H5P_DEFAULT);
  for (const std::string& part : components(path)) {
    Handle parent(current);
    H5L_info_t link{};
    if (H5Lexists(parent.get(), part.c_str(), H5P_DEFAULT) <= 0 ||
        H5Lget_info(parent.get(), part.c_str(), &link, H5P_DEFAULT) < 0 || link.type != H5L_TYPE_HARD)
      return -1;
    current = H5Oopen(parent.get(), part.c_str(), H5P_DEFAULT);
    if (current < 0) return -1;
  }
  H5O_info_t info{};
  if (current >= 0 && kind != 0 && (H5Oget_info2(current, &info, H5O_INFO_BASIC) < 0 ||
                                    info.type != (kind == 1 ? H5O_TYPE_GROUP : H5O_TYPE_DATASET))) {
    H5Oclose(current);
    return -1;
  }
  return current;
}

bool Hdf5File::has_group(const std::string& path) const { return Handle(open_object(path, 1)).ok(); }
bool Hdf5File::has_dataset(const std::string& path) const { return Handle(open_object(path, 2)).ok(); }

bool Hdf5File::has_attribute(const std::string& object, const std::string& name) const {
  Handle obj(open_object(object, 0));
  return obj.ok() && H5Aexists(obj.get(), name.c_str()) > 0;
}

namespace {

// All strings of an attribute (scalar = one string). `what` names it in errors.
std::vector<std::string> read_strings(hid_t attr, uint64_t file_bytes, const std::string& what,
                                      const std::function<void(const std::string&)>& fail) {
  Handle type(H5Aget_type(attr)), space(H5Aget_space(attr));
  if (!type.ok() || !space.ok()) fail(what + ": unreadable");
  const hssize_t count = H5Sget_simple_extent_npoints(space.get());
  if (count < 0) fail(what + ": unreadable");
  if (count == 0) return {};
  if (H5Tget_class(type.get()) != H5T_STRING) fail(what + " is not a string");
  if (static_cast<uint64_t>(count) > file_bytes) fail(what + ": declares more strings than the file could hold");
  std::vector<std::string> out;
  if (H5Tis_variable_str(type.get()) > 0) {
    Handle mem(H5Tcopy(H5T_C_S1));
    H5Tset_size(mem.get(), H5T_VARIABLE);
    H5Tset_cset(mem.get(), H5Tget_cset(type.get()));
    std::vector<char*> ptrs(static_cast<size_t>(count), nullptr);
    if (H5Aread(attr, mem.get(), ptrs.data()) < 0) fail(what + ": cannot read");
    for (char* p : ptrs) out.emplace_back(p ? p : "");
    H5Dvlen_reclaim(mem.get(), space.get(), H5P_DEFAULT, ptrs.data());
    return out;
  }
  const size_t size = H5Tget_size(type.get());
  if (size == 0 || size > file_bytes || static_cast<uint64_t>(count) * size > file_bytes)
    fail(what + ": declares more bytes than the file holds");
  std::vector<char> buf(static_cast<size_t>(count) * size);
  if (H5Aread(attr, type.get(), buf.data()) < 0) fail(what + ": cannot read");
  for (hssize_t i = 0; i < count; ++i) out.push_back(trim_nul(buf.data() + static_cast<size_t>(i) * size, size));
  return out;
}

}  // namespace

std::string Hdf5File::string_attribute(const std::string& object, const std::string& name) const {
  Handle obj(open_object(object, 0));
  const std::string what = "attribute '" + name + "' of '" + (object.empty() ? "/" : object) + "'";
  if (!obj.ok() || H5Aexists(obj.get(), name.c_str()) <= 0) fail(what + " is missing");
  Handle attr(H5Aopen(obj.get(), name.c_str(), H5P_DEFAULT));
  if (!attr.ok()) fail(what + ": cannot open");
  auto strings = read_strings(attr.get(), file_bytes_, what, [this](const std::string& m) { fail(m); });
  if (strings.size() != 1) fail(what + " must hold one string, holds " + std::to_string(strings.size()));
  return strings[0];
}

std::vector<std::string> Hdf5File::string_list_attribute(const std::string& object, const std::string& name) const {
  Handle obj(open_object(object, 0));
  const std::string where = "'" + (object.empty() ? std::string("/") : object) + "'";
  if (!obj.ok()) fail("object " + where + " is missing");
  std::vector<std::string> names;
  if (H5Aexists(obj.get(), name.c_str()) > 0) {
    names.push_back(name);
  } else {
    for (int chunk = 0; H5Aexists(obj.get(), (name + std::to_string(chunk)).c_str()) > 0; ++chunk)
      names.push_back(name + std::to_string(chunk));
    if (names.empty()) fail("attribute '" + name + "' of " + where + " is missing");
  }
  std::vector<std::string> out;
  for (const std::string& n : names) {
    Handle attr(H5Aopen(obj.get(), n.c_str(), H5P_DEFAULT));
    const std::string what = "attribute '" + n + "' of " + where;
    if (!attr.ok()) fail(what + ": cannot open");
    auto part = read_strings(attr.get(), file_bytes_, what, [this](const std::string& m) { fail(m); });
    out.insert(out.end(), part.begin(), part.end());
  }
  return out;
}

Shape Hdf5File::dataset_shape(const std::string& path) const {
  Handle ds(open_object(path, 2));
  if (!ds.ok()) fail("dataset '" + path + "' is missing");
  Handle space(H5Dget_space(ds.get()));
  const int rank = space.ok() ? H5Sget_simple_extent_ndims(space.get()) : -1;
  if (rank < 0 || rank > 16) fail("dataset '" + path + "': unreadable shape");
  std::vector<hsize_t> dims(static_cast<size_t>(rank));
  if (rank > 0 && H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr) < 0) fail("dataset '" + path + "': unreadable shape");
  Shape shape;
  for (hsize_t d : dims) {
    if (d > static_cast<hsize_t>(INT64_MAX / 2)) fail("dataset '" + path + "': dimension " + std::to_string(d) + " is too large");
    shape.push_back(static_cast<int64_t>(d));
  }
  return shape;
}

Tensor Hdf5File::float_dataset(const std::string& path) const {
  const std::string what = "dataset '" + path + "'";
  const Shape shape = dataset_shape(path);
  Handle ds(open_object(path, 2));
  Handle type(H5Dget_type(ds.get())), plist(H5Dget_create_plist(ds.get()));
  if (!type.ok() || !plist.ok()) fail(what + ": unreadable");
  if (H5Tget_class(type.get()) != H5T_FLOAT) fail(what + " does not hold floating-point data");
  const H5D_layout_t layout = H5Pget_layout(plist.get());
  if (layout != H5D_CONTIGUOUS && layout != H5D_COMPACT && layout != H5D_CHUNKED)
    fail(what + ": storage layout " + std::to_string(static_cast<int>(layout)) + " is not supported");
  if (H5Pget_external_count(plist.get()) != 0) fail(what + " keeps its data in an external file");
  const bool filtered = layout == H5D_CHUNKED && H5Pget_nfilters(plist.get()) > 0;
  int64_t numel = 0;
  try {
    numel = shape_numel(shape);
  } catch (const InputError&) {
    fail(what + ": shape " + shape_str(shape) + " is too large");
  }
  // Uncompressed data must fit in the file; compressed data may expand, but not beyond 1024x.
  const uint64_t stored = static_cast<uint64_t>(numel) * H5Tget_size(type.get());
  const uint64_t limit = filtered ? file_bytes_ * 1024 : file_bytes_;
  if (static_cast<uint64_t>(numel) > file_bytes_ * 1024 || stored > limit)
    fail(what + ": shape " + shape_str(shape) + " needs " + std::to_string(stored) + " bytes, more than the file (" +
         std::to_string(file_bytes_) + " bytes) can hold");
  Tensor t(DType::kF32, shape);
  if (numel > 0 && H5Dread(ds.get(), H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, t.raw_mutable()) < 0)
    fail(what + ": cannot read its data (damaged file?)");
  return t;
}

}  // namespace transfix
