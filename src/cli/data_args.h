// Input-data options shared by compare, localize and repair: images, .npy or seeded random data,
// and per-side preprocessing.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "compare/compare.h"

namespace transfix::cli {

struct DataArgs {
  std::string images;
  std::vector<std::string> npy;
  int64_t random = 0;
  uint64_t seed = 0;
  std::string labels;
  std::string preprocess = "torchvision", source_preprocess, target_preprocess;

  Preprocess source() const { return parse_preprocess(source_preprocess.empty() ? preprocess : source_preprocess); }
  Preprocess target() const { return parse_preprocess(target_preprocess.empty() ? preprocess : target_preprocess); }
  // InputError unless exactly one data source is given.
  void check(const std::string& command) const;
  // Opens the dataset the options name, shaped by the source model (npy/random).
  DatasetFactory factory() const;
};

void add_data_options(CLI::App* cmd, DataArgs& a);

}  // namespace transfix::cli
