#include "data/dataset.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>

#include "core/errors.h"
#include "data/npy.h"

namespace fs = std::filesystem;

namespace transfix {

namespace {

bool is_integer_string(const std::string& s) {
  if (s.empty() || s.size() > 18) return false;
  return std::all_of(s.begin(), s.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); });
}

std::string trim(std::string s) {
  auto ws = [](unsigned char c) { return std::isspace(c) != 0; };
  while (!s.empty() && ws(s.back())) s.pop_back();
  size_t i = 0;
  while (i < s.size() && ws(s[i])) ++i;
  s = s.substr(i);
  if (s.size() >= 2 && s.front() == '"' && s.back() == '"') s = s.substr(1, s.size() - 2);
  return s;
}

// Label names -> class indices: all numeric names are their own index; otherwise sorted order.
struct LabelIndex {
  std::vector<std::string> names;  // sorted, only when not all numeric
  bool numeric = true;
  void build(const std::set<std::string>& all) {
    numeric = !all.empty() && std::all_of(all.begin(), all.end(), is_integer_string);
    if (!numeric) names.assign(all.begin(), all.end());
  }
  int64_t index(const std::string& name) const {
    if (numeric) return std::stoll(name);
    return std::lower_bound(names.begin(), names.end(), name) - names.begin();
  }
};

class ImageFolder : public Dataset {
 public:
  ImageFolder(const std::string& dir, const LabelSource& labels) : dir_(dir) {
    std::error_code ec;
    check_input(fs::is_directory(dir, ec), "--images: '" + dir + "' is not a directory");
    fs::recursive_directory_iterator it(dir, fs::directory_options::skip_permission_denied, ec), end;
    check_input(!ec, "--images: cannot read '" + dir + "': " + ec.message());
    for (; it != end; it.increment(ec)) {
      if (ec) break;
      std::string name = it->path().filename().string();
      if (!name.empty() && name[0] == '.') {  // hidden files and folders
        if (it->is_directory(ec)) it.disable_recursion_pending();
        continue;
      }
      if (!it->is_regular_file(ec)) continue;
      std::string rel = fs::relative(it->path(), dir, ec).generic_string();
      if (has_image_extension(rel)) files_.push_back(rel);
      else ++ignored_;
    }
    std::sort(files_.begin(), files_.end());
    if (labels.kind == LabelSource::Kind::kFolders) load_folder_labels();
    if (labels.kind == LabelSource::Kind::kCsv) load_csv_labels(labels.csv_path);
  }

  std::string kind() const override { return "images"; }
  std::string description() const override { return std::to_string(files_.size()) + " image files in " + dir_; }
  size_t candidates() const override { return files_.size(); }

  bool next(Sample& out) override {
    while (cursor_ < files_.size()) {
      const std::string& rel = files_[cursor_++];
      try {
        Image img = read_image((fs::path(dir_) / rel).string());
        out = Sample{};
        out.index = produced_++;
        out.id = rel;
        out.image = std::move(img);
        auto l = labels_.find(rel);
        if (l != labels_.end()) out.label = l->second.first, out.label_name = l->second.second;
        return true;
      } catch (const InputError& e) {
        std::string why = e.what();
        std::string prefix = (fs::path(dir_) / rel).string() + ": ";
        if (why.rfind(prefix, 0) == 0) why = why.substr(prefix.size());
        skipped_.push_back({rel, why});
      }
    }
    return false;
  }

 private:
  void load_folder_labels() {
    std::set<std::string> classes;
    for (const auto& f : files_)
      if (f.find('/') != std::string::npos) classes.insert(f.substr(0, f.find('/')));
    LabelIndex index;
    index.build(classes);
    class_names_ = index.names;
    for (const auto& f : files_)
      if (f.find('/') != std::string::npos) {
        std::string c = f.substr(0, f.find('/'));
        labels_[f] = {index.index(c), c};
      }
  }

  void load_csv_labels(const std::string& path) {
    std::ifstream in(path);
    check_input(static_cast<bool>(in), "--labels: cannot open '" + path + "'");
    std::vector<std::pair<std::string, std::string>> rows;
    std::string line;
    size_t line_no = 0;
    while (std::getline(in, line)) {
      ++line_no;
      if (trim(line).empty()) continue;
      auto comma = line.rfind(',');
      check_input(comma != std::string::npos, path + ":" + std::to_string(line_no) + ": expected 'file,label'");
      std::string file = trim(line.substr(0, comma)), label = trim(line.substr(comma + 1));
      if (rows.empty() && line_no == 1 && (file == "file" || file == "filename" || file == "path")) continue;  // header
      check_input(!file.empty() && !label.empty(), path + ":" + std::to_string(line_no) + ": empty file or label");
      rows.emplace_back(file, label);
    }
    std::set<std::string> names;
    for (const auto& r : rows) names.insert(r.second);
    LabelIndex index;
    index.build(names);
    class_names_ = index.names;
    // Rows name files by path relative to the folder, or by file name when that is unambiguous.
    std::map<std::string, std::vector<std::string>> by_basename;
    for (const auto& f : files_) by_basename[fs::path(f).filename().string()].push_back(f);
    for (const auto& [file, label] : rows) {
      std::string key = file;
      if (!std::binary_search(files_.begin(), files_.end(), key)) {
        auto b = by_basename.find(file);
        if (b == by_basename.end() || b->second.size() != 1) continue;  // unknown file: ignored
        key = b->second.front();
      }
      labels_[key] = {index.index(label), label};
    }
  }

  std::string dir_;
  std::vector<std::string> files_;
  size_t cursor_ = 0;
  std::map<std::string, std::pair<int64_t, std::string>> labels_;
};

// ---------------------------------------------------------------- .npy

// Copies rows [row, row + n) of the first dim into a fresh tensor.
Tensor slice_rows(const Tensor& t, int64_t row, int64_t n) {
  Shape shape = t.shape();
  int64_t row_bytes = static_cast<int64_t>(t.nbytes()) / shape[0];
  shape[0] = n;
  Tensor out(t.dtype(), shape);
  std::memcpy(out.raw_mutable(), static_cast<const char*>(t.raw()) + row * row_bytes, static_cast<size_t>(n * row_bytes));
  return out;
}

std::string safe_stem(const std::string& name) {
  std::string s = name.empty() ? "unnamed" : name;
  for (char& c : s)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '_')) c = '_';
  return s;
}

class NpyFiles : public Dataset {
 public:
  NpyFiles(const std::vector<std::string>& paths, const std::vector<ValueInfo>& inputs) : inputs_(inputs) {
    check_input(!inputs.empty(), "--npy: the model has no inputs");
    for (const auto& p : paths) {
      std::error_code ec;
      if (fs::is_directory(p, ec)) {
        std::vector<std::string> found;
        for (const auto& e : fs::directory_iterator(p, ec)) {
          std::string name = e.path().filename().string();
          if (!name.empty() && name[0] == '.') continue;
          if (inputs.size() > 1 && e.is_directory()) found.push_back(e.path().string());
          else if (e.is_regular_file() && e.path().extension() == ".npy") found.push_back(e.path().string());
          else ++ignored_;
        }
        std::sort(found.begin(), found.end());
        items_.insert(items_.end(), found.begin(), found.end());
      } else {
        check_input(fs::exists(p, ec), "--npy: '" + p + "' does not exist");
        items_.push_back(p);
      }
    }
    description_ = std::to_string(items_.size()) + (inputs.size() > 1 ? " sample folders" : " .npy files");
    if (paths.size() == 1) description_ += " in " + paths[0];
  }

  std::string kind() const override { return "npy"; }
  std::string description() const override { return description_; }
  size_t candidates() const override { return items_.size(); }

  bool next(Sample& out) override {
    while (true) {
      if (pending_.defined() && pending_row_ < pending_rows_) {
        out = Sample{};
        out.index = produced_++;
        out.id = pending_id_ + "[" + std::to_string(pending_row_) + "]";
        out.tensors[inputs_[0].name] = slice_rows(pending_, pending_row_ * batch_, batch_);
        ++pending_row_;
        return true;
      }
      pending_ = Tensor();
      if (cursor_ >= items_.size()) return false;
      const std::string path = items_[cursor_++];
      try {
        if (inputs_.size() > 1) {
          out = Sample{};
          out.id = path;
          for (const auto& in : inputs_) {
            fs::path f = fs::path(path) / (safe_stem(in.name) + ".npy");
            check_input(fs::exists(f), "no " + f.filename().string() + " for input '" + in.name + "'");
            out.tensors[in.name] = read_npy(f.string());
          }
          out.index = produced_++;
          return true;
        }
        Tensor t = read_npy(path);
        const ValueInfo& in = inputs_[0];
        // A file holding N samples stacked on the batch dim is split: into the model's batch when it is
        // static, into single rows when it is dynamic (the other model of the pair may take batch 1 only,
        // as TFLite conversions of a dynamic-batch source do, and every sample is then judged on its own).
        const bool stacked = in.has_shape && !in.shape.empty() && t.rank() == static_cast<int64_t>(in.shape.size());
        const int64_t batch = stacked ? (in.shape[0] > 0 ? in.shape[0] : 1) : 0;
        if (stacked && t.dim(0) > batch && t.dim(0) % batch == 0) {
          pending_ = t, pending_id_ = path, pending_row_ = 0, batch_ = batch, pending_rows_ = t.dim(0) / batch_;
          continue;
        }
        out = Sample{};
        out.index = produced_++;
        out.id = path;
        out.tensors[in.name] = t;
        return true;
      } catch (const InputError& e) {
        std::string why = e.what();
        if (why.rfind(path + ": ", 0) == 0) why = why.substr(path.size() + 2);
        skipped_.push_back({path, why});
      }
    }
  }

 private:
  std::vector<ValueInfo> inputs_;
  std::vector<std::string> items_;
  std::string description_;
  size_t cursor_ = 0;
  Tensor pending_;
  std::string pending_id_;
  int64_t pending_row_ = 0, pending_rows_ = 0, batch_ = 1;
};

// ---------------------------------------------------------------- random

class RandomData : public Dataset {
 public:
  RandomData(const std::vector<ValueInfo>& inputs, int64_t count, uint64_t seed)
      : inputs_(inputs), count_(count), seed_(seed), rng_(seed) {
    check_input(count > 0, "--random: the sample count must be positive");
  }
  std::string kind() const override { return "random"; }
  std::string description() const override {
    return std::to_string(count_) + " random samples (seed " + std::to_string(seed_) + ")";
  }
  size_t candidates() const override { return static_cast<size_t>(count_); }

  bool next(Sample& out) override {
    if (static_cast<int64_t>(produced_) >= count_) return false;
    out = Sample{};
    out.index = produced_;
    out.id = "random#" + std::to_string(produced_);
    ++produced_;
    for (const auto& in : inputs_) out.tensors[in.name] = make(in);
    return true;
  }

 private:
  Tensor make(const ValueInfo& info) { return random_input(info, rng_); }

  std::vector<ValueInfo> inputs_;
  int64_t count_;
  uint64_t seed_;
  std::mt19937_64 rng_;
};

}  // namespace

LabelSource parse_label_source(const std::string& spec) {
  LabelSource l;
  if (spec.empty()) return l;
  if (spec == "folders" || spec == "dirs") {
    l.kind = LabelSource::Kind::kFolders;
    return l;
  }
  std::error_code ec;
  check_input(fs::is_regular_file(spec, ec), "--labels must be 'folders' or a CSV file (file,label), not '" + spec + "'");
  l.kind = LabelSource::Kind::kCsv;
  l.csv_path = spec;
  return l;
}

std::unique_ptr<Dataset> open_image_folder(const std::string& dir, const LabelSource& labels) {
  return std::make_unique<ImageFolder>(dir, labels);
}

std::unique_ptr<Dataset> open_npy(const std::vector<std::string>& paths, const std::vector<ValueInfo>& inputs) {
  return std::make_unique<NpyFiles>(paths, inputs);
}

Tensor random_input(const ValueInfo& info, std::mt19937_64& rng) {
  if (!info.has_shape)  // e.g. TorchScript, which records no input shapes
    throw InputError("input '" + info.name + "' has no recorded shape, so random data cannot be shaped like it; give it with --input FILE.npy");
  Shape shape = info.shape;
  for (auto& d : shape)
    if (d < 0) d = 1;  // symbolic dims (batch): 1
  DType dt = info.dtype == DType::kUndefined ? DType::kF32 : info.dtype;
  std::uniform_real_distribution<double> uni(0.0, 1.0);
  Tensor f(DType::kF64, shape);
  double* p = f.mutable_data<double>();
  for (int64_t i = 0; i < f.numel(); ++i) {
    double u = uni(rng);
    p[i] = is_float(dt) ? u : std::floor(u * (dt == DType::kBool ? 2 : 10));
  }
  return f.cast(dt);
}

std::unique_ptr<Dataset> open_random(const std::vector<ValueInfo>& inputs, int64_t count, uint64_t seed) {
  return std::make_unique<RandomData>(inputs, count, seed);
}

}  // namespace transfix
