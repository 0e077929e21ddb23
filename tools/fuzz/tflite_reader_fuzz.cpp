// libFuzzer target: the TFLite reader (and, when a file reads, the writer) on arbitrary bytes.
// Any exception other than transfix's own InputError / UnsupportedError, and any sanitizer report,
// is a finding. Built by tools/fuzz/run.sh (clang, -fsanitize=fuzzer,address).
#include <cstdint>
#include <cstring>

#include "core/errors.h"
#include "formats/tflite/tflite_reader.h"
#include "formats/tflite/tflite_writer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // A fresh aligned copy, as a memory map would be (the reader views constants in place).
  auto storage = transfix::Storage::allocate(size, false);
  if (size) std::memcpy(storage->data, data, size);
  try {
    transfix::Model m = transfix::read_tflite_storage(storage, "fuzz.tflite");
    transfix::model_to_tflite_bytes(m);
  } catch (const transfix::InputError&) {
  } catch (const transfix::UnsupportedError&) {
  }
  return 0;
}
