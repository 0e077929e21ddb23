// Input sources for differential testing: a folder of images (recursive, sorted, optional labels),
// .npy files, or seeded random tensors. Datasets stream: next() decodes one sample at a time, so
// memory stays flat in the dataset size. Unreadable files are skipped and recorded, never fatal.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "core/graph.h"
#include "data/image.h"

namespace transfix {

struct Sample {
  size_t index = 0;                       // position among the samples produced (0, 1, ...)
  std::string id;                         // file path relative to the dataset root, or "random#3"
  std::optional<int64_t> label;           // class index, when labels are known
  std::string label_name;                 // the label as written (folder or CSV value)
  std::optional<Image> image;             // image datasets
  std::map<std::string, Tensor> tensors;  // .npy / random datasets: by source-model input name
};

struct SkippedItem {
  std::string id;
  std::string reason;
};

class Dataset {
 public:
  virtual ~Dataset() = default;
  virtual std::string kind() const = 0;         // "images", "npy", "random"
  virtual std::string description() const = 0;  // "36 images in DIR", ...
  // Items that may become samples (before skipping unreadable ones).
  virtual size_t candidates() const = 0;
  // Produces the next readable sample; false at the end. Unreadable items go to skipped().
  virtual bool next(Sample& out) = 0;
  const std::vector<SkippedItem>& skipped() const { return skipped_; }
  // Label names by class index, when labels are names rather than numbers.
  const std::vector<std::string>& class_names() const { return class_names_; }
  // Files in the folder that were not considered (no image extension).
  size_t ignored_files() const { return ignored_; }

 protected:
  std::vector<SkippedItem> skipped_;
  std::vector<std::string> class_names_;
  size_t ignored_ = 0;
  size_t produced_ = 0;
};

// Labels of an image folder: none, the class sub-folder names (torchvision ImageFolder: numeric
// names are the class index, other names are indexed in sorted order), or a CSV "file,label".
struct LabelSource {
  enum class Kind { kNone, kFolders, kCsv };
  Kind kind = Kind::kNone;
  std::string csv_path;
};
LabelSource parse_label_source(const std::string& spec);  // "", "folders", or a CSV path

// Every file with an image extension under `dir`, recursively, sorted by relative path.
std::unique_ptr<Dataset> open_image_folder(const std::string& dir, const LabelSource& labels = {});

// .npy files (paths or folders of .npy, sorted), each one sample of a single-input model; a file
// whose first dim is N times the model's batch is split into N samples. A folder whose
// sub-folders hold <input_name>.npy feeds multi-input models (one sub-folder per sample).
std::unique_ptr<Dataset> open_npy(const std::vector<std::string>& paths, const std::vector<ValueInfo>& inputs);

// `count` samples of seeded uniform random data shaped like the model's inputs (symbolic dims
// = 1): floats in [0, 1), integers in [0, 10), bools 0/1.
// One seeded random tensor shaped like `info` (symbolic dims -> 1): uniform [0,1) for float types,
// integers 0..9 (bool 0/1) otherwise. `run --random` and `compare --random` share it, so the same
// seed gives the same data in both.
Tensor random_input(const ValueInfo& info, std::mt19937_64& rng);

std::unique_ptr<Dataset> open_random(const std::vector<ValueInfo>& inputs, int64_t count, uint64_t seed);

}  // namespace transfix
