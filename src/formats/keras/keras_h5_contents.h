// What the Keras reader needs from an .h5 file, read in a child process.
//
// libhdf5 (1.10 in Debian 12) can crash or loop forever on damaged files (e.g. a corrupt global
// heap reached through a variable-length string attribute), which no check before the call can
// rule out. So the HDF5 part runs in a forked child that sends the attributes and weight datasets
// back through a pipe: a crash or a hang of the library becomes an InputError naming the file.
#pragma once
#include <map>
#include <set>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace transfix {

struct KerasH5Contents {
  std::set<std::string> groups;                               // "model_weights", "<root>/<layer>"
  std::map<std::string, std::string> attributes;              // "<object>|<name>" -> string value
  std::map<std::string, std::vector<std::string>> lists;      // "<object>|<name>" -> string list
  std::map<std::string, Tensor> datasets;                     // path -> float32 data
  std::map<std::string, std::string> dataset_errors;          // path -> why it could not be read

  bool has_attribute(const std::string& object, const std::string& name) const;
  bool has_list(const std::string& object, const std::string& name) const;
  const std::string& attribute(const std::string& object, const std::string& name) const;
  const std::vector<std::string>& list(const std::string& object, const std::string& name) const;
};

// Reads the root attributes (model_config, keras_version, backend), the weights root
// ("model_weights" or the root of a weights-only file), its layer_names and every layer's
// weight_names and datasets. InputError when the file is not readable HDF5, when the HDF5 library
// crashes on it, or when reading takes longer than `timeout_seconds` (0: the environment variable
// TRANSFIX_HDF5_TIMEOUT, else 60).
KerasH5Contents read_keras_h5(const std::string& path, int timeout_seconds = 0);
// The same in this process (no child): for the fuzz targets (tools/fuzz), which need the HDF5 part's
// coverage and sanitizer reports. A libhdf5 crash or hang takes the caller down.
KerasH5Contents read_keras_h5_in_process(const std::string& path);

}  // namespace transfix
