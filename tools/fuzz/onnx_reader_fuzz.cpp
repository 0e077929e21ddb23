// libFuzzer target: the ONNX reader (read_onnx_bytes, with ONNX shape inference) on arbitrary bytes,
// then the ONNX writer on what it read.
//
// External data: the model's folder (a private temp folder) holds small data files the fuzzer may
// reference by name (weights.bin, sub/w.bin), a symbolic link escaping to ../outside.bin and a FIFO;
// outside.bin, beside the folder, is filled with a marker. A tensor holding the marker when the
// input itself does not contain it means the reader read a file outside the model's folder: abort.
// Sizes are checked against the files, and tensors are capped at 64 MB (fuzz_common.h).
#include <sys/stat.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "core/errors.h"
#include "formats/onnx/onnx_reader.h"
#include "formats/onnx/onnx_writer.h"
#include "fuzz_common.h"

namespace {

namespace fs = std::filesystem;

// 16 bytes unlikely in fuzzer-made tensors; outside.bin repeats them.
constexpr char kMarker[] = "OUTSIDE!MARKER#7";
constexpr size_t kMarkerLen = 16;

std::string g_model_dir;

void set_up_folder() {
  const fs::path base = transfix_fuzz::temp_dir();
  const fs::path model = base / "model";
  fs::create_directories(model / "sub");
  std::string outside;
  for (int i = 0; i < 256; ++i) outside.append(kMarker, kMarkerLen);
  transfix_fuzz::write_file(base / "outside.bin", outside.data(), outside.size());
  std::string weights(4096, '\0');
  for (size_t i = 0; i < weights.size(); ++i) weights[i] = static_cast<char>((i * 7) & 0x3f);  // small floats/ints
  transfix_fuzz::write_file(model / "weights.bin", weights.data(), weights.size());
  transfix_fuzz::write_file(model / "sub" / "w.bin", weights.data(), 256);
  std::error_code ec;
  fs::create_symlink("../outside.bin", model / "link.bin", ec);
  ::mkfifo((model / "fifo.bin").c_str(), 0600);
  g_model_dir = model.string();
}

bool contains_marker(const void* p, size_t n) {
  const char* s = static_cast<const char*>(p);
  if (n < kMarkerLen) return false;
  return std::search(s, s + n, kMarker, kMarker + kMarkerLen) != s + n;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  transfix_fuzz::init();
  set_up_folder();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  transfix::Model m;
  try {
    m = transfix::read_onnx_bytes(bytes, g_model_dir, "fuzz.onnx");
  } catch (const transfix::InputError&) {
    return 0;
  }
  if (!contains_marker(bytes.data(), bytes.size()))
    for (const auto& [name, t] : m.graph.initializers)
      if (t.raw() && contains_marker(t.raw(), t.nbytes())) {
        std::fprintf(stderr, "initializer '%s' holds data read from outside the model's folder\n", name.c_str());
        std::abort();
      }
  try {
    transfix::model_to_onnx_bytes(m);
  } catch (const transfix::InputError&) {
  }
  return 0;
}
