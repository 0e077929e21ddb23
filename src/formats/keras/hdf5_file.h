// A small read-only view of an HDF5 file over the HDF5 C library (Debian libhdf5-dev), with the
// checks an untrusted file needs: HDF5's own error printing is switched off (failures become
// InputError naming the file and object), only hard links are followed (an external or soft link
// could lead to another file), datasets must be float arrays stored inside this file, and their
// declared size must fit in the file before anything is allocated.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace transfix {

class Hdf5File {
 public:
  // Opens `path` read-only. InputError when the file is not HDF5 or cannot be opened.
  explicit Hdf5File(const std::string& path);
  ~Hdf5File();
  Hdf5File(const Hdf5File&) = delete;
  Hdf5File& operator=(const Hdf5File&) = delete;

  const std::string& path() const { return path_; }
  uint64_t file_bytes() const { return file_bytes_; }

  // Objects are addressed by slash-separated paths from the root ("" or "/" is the root group).
  bool has_group(const std::string& path) const;
  bool has_dataset(const std::string& path) const;
  bool has_attribute(const std::string& object, const std::string& name) const;

  // A string attribute (fixed or variable length, scalar or 1-element array).
  std::string string_attribute(const std::string& object, const std::string& name) const;
  // A string-array attribute. Keras splits long ones into name0, name1, ...: those are joined.
  // An empty array of any type (h5py writes empty lists as float64) is an empty list.
  std::vector<std::string> string_list_attribute(const std::string& object, const std::string& name) const;

  // Float dataset as a float32 tensor (float16/float64 data converted by HDF5).
  Tensor float_dataset(const std::string& path) const;
  Shape dataset_shape(const std::string& path) const;

 private:
  [[noreturn]] void fail(const std::string& message) const;
  int64_t open_object(const std::string& path, int kind) const;  // hid_t; kind 1 group, 2 dataset, 0 any

  std::string path_;
  uint64_t file_bytes_ = 0;
  int64_t file_ = -1;  // hid_t
};

}  // namespace transfix
