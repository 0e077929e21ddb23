// Shared helpers of the libFuzzer targets (tools/fuzz/*_fuzz.cpp, built with -DTRANSFIX_FUZZ=ON).
//
// The rule every target checks: on any input, transfix either succeeds or throws its own InputError
// (UnsupportedError is one); any other exception escapes LLVMFuzzerTestOneInput and aborts, and any
// sanitizer report (ASan, UBSan), timeout or allocation over -malloc_limit_mb is a finding.
#pragma once
#include <stdlib.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>

#include "core/errors.h"
#include "core/graph.h"
#include "core/tensor.h"
#include "runtime/interpreter.h"
#include "core/thread_pool.h"

namespace transfix_fuzz {

namespace fs = std::filesystem;

// Tensors over this fail with InputError (transfix's own cap, lowered from 8 GiB so that a fuzzer
// input cannot make the reader or a kernel allocate more than libFuzzer's -malloc_limit_mb).
inline constexpr int64_t kMaxTensorBytes = int64_t{64} << 20;

// A private folder for the process's temporary files, removed at exit.
inline const fs::path& temp_dir() {
  static const fs::path dir = [] {
    char tmpl[] = "/tmp/transfix_fuzz_XXXXXX";
    if (!::mkdtemp(tmpl)) {
      std::perror("mkdtemp");
      std::abort();
    }
    std::atexit([] {
      std::error_code ec;
      fs::remove_all(temp_dir(), ec);
    });
    return fs::path(tmpl);
  }();
  return dir;
}

inline void write_file(const fs::path& path, const void* data, size_t size) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(static_cast<const char*>(data), static_cast<std::streamsize>(size));
  if (!out) {
    std::perror(path.c_str());
    std::abort();
  }
}

inline void init() {
  transfix::set_max_tensor_bytes(kMaxTensorBytes);
  transfix::set_num_threads(1);
}

// Runs a model that read on deterministic inputs when its inputs are small (at most
// kMaxRunElements elements in all, symbolic dims as 1): what `transfix run --random` does.
// Returns false when the model was not run.
inline constexpr int64_t kMaxRunElements = int64_t{1} << 16;
inline bool run_if_small(const transfix::Model& model) {
  using namespace transfix;
  std::map<std::string, Tensor> inputs;
  int64_t total = 0;
  for (const ValueInfo& in : model.graph.data_inputs()) {
    if (dtype_size(in.dtype) == 0) return false;
    Shape shape = in.has_shape ? in.shape : Shape{};
    int64_t n = 1;
    for (int64_t& d : shape) {
      if (d < 0) d = 1;
      if (d > kMaxRunElements) return false;
      n *= d;
      if (n > kMaxRunElements) return false;
    }
    total += n;
    if (total > kMaxRunElements) return false;
    Tensor t(in.dtype, shape);
    auto* bytes = static_cast<uint8_t*>(t.raw_mutable());
    if (in.dtype == DType::kF32) {
      for (int64_t i = 0; i < n; ++i) t.mutable_data<float>()[i] = static_cast<float>(i % 7) * 0.25f - 0.75f;
    } else if (in.dtype == DType::kBool) {
      for (int64_t i = 0; i < n; ++i) bytes[i] = static_cast<uint8_t>(i & 1);
    } else if (in.dtype != DType::kF64 && in.dtype != DType::kF16 && in.dtype != DType::kBF16) {
      // Integer inputs: small non-negative values (valid indices for Gather-like ops of small dims).
      const size_t es = dtype_size(in.dtype);
      for (int64_t i = 0; i < n; ++i) bytes[i * es] = static_cast<uint8_t>(i % 3);
    }  // f64/f16/bf16: zeros
    inputs[in.name] = std::move(t);
  }
  Interpreter interpreter(model);
  interpreter.run(inputs);
  return true;
}

}  // namespace transfix_fuzz
