// Coverage over many models: bench_coverage [--n N] [--fold F] PATH... (files or folders searched for
// .onnx). Prints models read, wall time (load + count), distinct sequences, the bytes the coverage
// structures hold (table + per-sequence stats: should grow linearly with distinct sequences, not with
// models or paths) and the process's peak RSS.
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "coverage/coverage_report.h"
#include "core/errors.h"
#include "formats/model_io.h"

namespace fs = std::filesystem;
using namespace transfix;

namespace {

std::vector<std::string> collect(const std::vector<std::string>& roots) {
  std::vector<std::string> files;
  for (const auto& root : roots) {
    if (fs::is_regular_file(root)) {
      files.push_back(root);
      continue;
    }
    for (const auto& e : fs::recursive_directory_iterator(root))
      if (e.is_regular_file() && e.path().extension() == ".onnx") files.push_back(e.path().string());
  }
  std::sort(files.begin(), files.end());
  return files;
}

double peak_rss_mb() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line))
    if (line.rfind("VmHWM:", 0) == 0) return std::stod(line.substr(6)) / 1024.0;
  return -1;
}

// Bytes held for the sequences: the interning table plus each sequence's stats and example labels.
size_t structure_bytes(const CoverageResult& r) {
  size_t bytes = r.table->memory_bytes() + r.stats.bucket_count() * sizeof(void*);
  for (const auto& [seq, s] : r.stats) {
    bytes += sizeof(s) + 32;
    for (const auto* labels : {&s.example, &s.failing_example})
      for (const auto& l : *labels) bytes += l.capacity() + sizeof(l);
  }
  return bytes;
}

}  // namespace

int main(int argc, char** argv) {
  CoverageOptions opt;
  std::vector<std::string> roots;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--n" && i + 1 < argc) opt.n = std::stoi(argv[++i]);
    else if (a == "--fold" && i + 1 < argc) opt.fold = parse_coverage_fold(argv[++i]);
    else roots.push_back(a);
  }
  if (roots.empty()) {
    std::cerr << "usage: bench_coverage [--n N] [--fold F] PATH...\n";
    return 2;
  }
  const auto files = collect(roots);
  const auto t0 = std::chrono::steady_clock::now();
  CoverageBuilder builder(opt);
  size_t skipped = 0;
  for (const auto& f : files) {
    try {
      builder.add_model(load_model(f));
    } catch (const InputError&) {
      ++skipped;  // unreadable or unsupported: counted, not fatal
    }
  }
  const CoverageResult r = builder.finish();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  uint64_t paths = 0;
  for (const auto& m : r.models) paths += m.paths;
  const size_t distinct = r.in_models(opt.n).size(), ops = r.in_models(1).size();
  const size_t bytes = structure_bytes(r);
  std::printf("models %zu (of %zu files, %zu unreadable), n %d, fold %s\n", r.models.size(), files.size(), skipped, opt.n,
              coverage_fold_name(opt.fold).c_str());
  std::printf("time %.2f s (load + count), %.2f ms per model\n", seconds, 1e3 * seconds / std::max<size_t>(1, files.size()));
  std::printf("distinct ops %zu, distinct sequences %zu, paths %llu, interned sequences (all lengths) %zu\n", ops, distinct,
              static_cast<unsigned long long>(paths), r.table->sequence_count());
  std::printf("coverage structures %.1f KB (%.0f bytes per distinct sequence of any length), peak RSS %.1f MB\n",
              bytes / 1024.0, static_cast<double>(bytes) / static_cast<double>(std::max<size_t>(1, r.stats.size())),
              peak_rss_mb());
  return 0;
}
