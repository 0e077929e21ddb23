// Runs transfix's interpreter over the official ONNX backend test data (Debian libonnx-testdata).
// Every case whose ops all have kernels must match the expected outputs at the backend test
// tolerance (rtol 1e-3, atol 1e-7). Prints failures, "N passed, N failed, N skipped", and the
// unsupported ops by frequency. Exit 1 when any supported case fails.
//
// Usage: transfix_conformance DATA_DIR [--filter SUBSTR] [--precision fp32|fp64] [--verbose]
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include "core/errors.h"
#include "formats/onnx/onnx_reader.h"
#include "core/thread_pool.h"
#include "runtime/interpreter.h"

namespace fs = std::filesystem;
using namespace transfix;

namespace {

const char* kSuites[] = {"node", "pytorch-converted", "pytorch-operator", "simple"};

const char* kBf16Truncation =
    "ONNX 1.12 made this data by truncating float32 to bfloat16; transfix rounds to nearest even "
    "(IEEE rounding, as float16 casts do)";

// Cases where transfix deliberately differs from ONNX 1.12's expected data, with the reason.
const std::map<std::string, std::string> kKnownDivergences = {
    {"node/test_cast_FLOAT_to_BFLOAT16", kBf16Truncation},
    {"node/test_castlike_FLOAT_to_BFLOAT16", kBf16Truncation},
    {"node/test_castlike_FLOAT_to_BFLOAT16_expanded", kBf16Truncation},
};

struct Outcome {
  enum Kind { kPass, kFail, kSkip } kind;
  std::string detail;
  std::vector<std::string> missing_ops;
};

std::vector<fs::path> sorted_files(const fs::path& dir, const std::string& prefix) {
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().filename().string().rfind(prefix, 0) == 0) files.push_back(e.path());
  // input_10 after input_9: sort by the number after the prefix
  std::sort(files.begin(), files.end(), [&](const fs::path& a, const fs::path& b) {
    auto num = [&](const fs::path& p) { return std::stoi(p.stem().string().substr(prefix.size())); };
    return num(a) < num(b);
  });
  return files;
}

// assert_allclose(actual, expected, rtol, atol) with NaN == NaN. Returns "" when close.
std::string compare(const Tensor& actual, const Tensor& expected, double rtol, double atol) {
  if (actual.shape() != expected.shape())
    return "shape " + shape_str(actual.shape()) + " != expected " + shape_str(expected.shape());
  bool float_out = is_float(expected.dtype());
  if (!float_out && actual.dtype() != expected.dtype())
    return std::string("dtype ") + dtype_name(actual.dtype()) + " != expected " + dtype_name(expected.dtype());
  auto a = actual.to_f64_vector(), e = expected.to_f64_vector();
  double worst = 0;
  size_t worst_i = 0, bad = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::isnan(e[i]) && std::isnan(a[i])) continue;
    if (std::isinf(e[i]) && a[i] == e[i]) continue;
    double err = std::fabs(a[i] - e[i]);
    if (!(err <= atol + rtol * std::fabs(e[i]))) {
      ++bad;
      if (!(err <= worst)) { worst = err; worst_i = i; }
    }
  }
  if (!bad) return "";
  char buf[200];
  std::snprintf(buf, sizeof buf, "%zu/%zu elements off, worst at %zu: got %g expected %g", bad, a.size(), worst_i,
                a[worst_i], e[worst_i]);
  return buf;
}

// ONNX 1.12's test data stores bfloat16 tensors as uint16 bit patterns: view them as what the model says.
Tensor reinterpret_bits(const Tensor& t, DType as) {
  if (t.dtype() == as || dtype_size(t.dtype()) != dtype_size(as)) return t;
  return Tensor(as, t.shape(), t.storage(), t.byte_offset());
}

Outcome run_case(const fs::path& dir, Precision precision) {
  Model model;
  try {
    model = read_onnx((dir / "model.onnx").string());
  } catch (const UnsupportedError& e) {
    return {Outcome::kSkip, e.what(), {e.op().empty() ? "?" : e.op()}};
  } catch (const std::exception& e) {
    return {Outcome::kFail, std::string("load: ") + e.what(), {}};
  }
  auto missing = Interpreter::unsupported_ops(model);
  if (!missing.empty()) {
    Outcome o{Outcome::kSkip, "unsupported ops", {}};
    for (const auto& [op, n] : missing) o.missing_ops.push_back(op);
    return o;
  }
  try {
    // The test data sometimes feeds shapes that differ from the declared ones (e.g. castlike's 'like').
    Interpreter interp(model, {precision, /*check_input_shapes=*/false});
    std::vector<const ValueInfo*> feed;
    for (const auto& in : model.graph.inputs) feed.push_back(&in);
    int sets = 0;
    for (const auto& e : fs::directory_iterator(dir)) {
      if (!e.is_directory() || e.path().filename().string().rfind("test_data_set", 0) != 0) continue;
      ++sets;
      std::map<std::string, Tensor> inputs;
      auto in_files = sorted_files(e.path(), "input_");
      for (size_t i = 0; i < in_files.size() && i < feed.size(); ++i)
        inputs[feed[i]->name] = feed[i]->dtype == DType::kBF16
                                    ? reinterpret_bits(read_onnx_tensor_file(in_files[i].string()), DType::kBF16)
                                    : read_onnx_tensor_file(in_files[i].string());
      auto outputs = interp.run(inputs);
      auto out_files = sorted_files(e.path(), "output_");
      for (size_t i = 0; i < out_files.size() && i < model.graph.outputs.size(); ++i) {
        Tensor expected = read_onnx_tensor_file(out_files[i].string());
        Tensor actual = outputs.at(model.graph.outputs[i].name);
        if (model.graph.outputs[i].dtype == DType::kBF16) expected = reinterpret_bits(expected, DType::kBF16);
        // In fp64 mode, integers computed from floats (quantization) may round one step differently.
        bool int_from_float = precision == Precision::kF64 && is_integer(expected.dtype());
        std::string diff = compare(actual, expected, 1e-3, int_from_float ? 1.0 : 1e-7);
        if (!diff.empty())
          return {Outcome::kFail, e.path().filename().string() + " output '" + model.graph.outputs[i].name + "': " + diff, {}};
      }
    }
    if (sets == 0) return {Outcome::kSkip, "no test data sets", {"(no data)"}};
  } catch (const UnsupportedError& e) {
    // A feature outside inference semantics (e.g. Dropout in training mode): skipped, and listed.
    return {Outcome::kSkip, e.what(), {(e.op().empty() ? model.graph.nodes.front().op_type : e.op()) + "[feature]"}};
  } catch (const std::exception& e) {
    return {Outcome::kFail, std::string("run: ") + e.what(), {}};
  }
  return {Outcome::kPass, "", {}};
}

}  // namespace

int main(int argc, char** argv) {
  transfix::use_sleeping_openmp_threads(argv);
  if (argc < 2) {
    std::cerr << "usage: transfix_conformance DATA_DIR [--filter SUBSTR] [--precision fp32|fp64] [--verbose]\n";
    return 2;
  }
  fs::path root = argv[1];
  std::string filter;
  Precision precision = Precision::kF32;
  bool verbose = false;
  for (int i = 2; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--filter" && i + 1 < argc) filter = argv[++i];
    else if (a == "--precision" && i + 1 < argc) precision = std::string(argv[++i]) == "fp64" ? Precision::kF64 : Precision::kF32;
    else if (a == "--verbose") verbose = true;
  }
  if (!fs::is_directory(root)) {
    std::cerr << "conformance: " << root << " not found (install libonnx-testdata)\n";
    return 2;
  }
  int passed = 0, failed = 0, skipped = 0;
  std::map<std::string, int> missing_freq;
  for (const char* suite : kSuites) {
    fs::path sdir = root / suite;
    if (!fs::is_directory(sdir)) continue;
    std::vector<fs::path> cases;
    for (const auto& e : fs::directory_iterator(sdir))
      if (e.is_directory()) cases.push_back(e.path());
    std::sort(cases.begin(), cases.end());
    for (const auto& c : cases) {
      std::string id = std::string(suite) + "/" + c.filename().string();
      if (!filter.empty() && id.find(filter) == std::string::npos) continue;
      Outcome o = run_case(c, precision);
      auto known = kKnownDivergences.find(id);
      if (known != kKnownDivergences.end() && o.kind == Outcome::kFail) {
        ++skipped;
        std::cout << "KNOWN " << id << ": " << known->second << "\n";
        continue;
      }
      if (o.kind == Outcome::kPass) {
        ++passed;
        if (verbose) std::cout << "PASS " << id << "\n";
      } else if (o.kind == Outcome::kFail) {
        ++failed;
        std::cout << "FAIL " << id << ": " << o.detail << "\n";
      } else {
        ++skipped;
        for (const auto& op : o.missing_ops) ++missing_freq[op];
        if (verbose) std::cout << "SKIP " << id << ": " << o.detail << "\n";
      }
    }
  }
  std::vector<std::pair<int, std::string>> freq;
  for (const auto& [op, n] : missing_freq) freq.push_back({n, op});
  std::sort(freq.rbegin(), freq.rend());
  if (!freq.empty()) {
    std::cout << "unsupported ops (cases skipped):";
    for (const auto& [n, op] : freq) std::cout << " " << op << "(" << n << ")";
    std::cout << "\n";
  }
  std::cout << "conformance (" << precision_name(precision) << "): " << passed << " passed, " << failed << " failed, "
            << skipped << " skipped\n";
  return failed ? 1 : 0;
}
