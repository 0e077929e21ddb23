// libFuzzer target: the TFLite reader on arbitrary bytes; when a file reads, the writer, and when its
// inputs are small (fuzz_common.h: at most 64K elements, tensors capped at 64 MB), the interpreter on
// deterministic inputs (what `transfix run --random` does). Any exception other than transfix's own
// InputError / UnsupportedError, and any sanitizer report, is a finding. tools/fuzz/run.sh.
#include <cstdint>
#include <cstring>

#include "core/errors.h"
#include "formats/tflite/tflite_reader.h"
#include "formats/tflite/tflite_writer.h"
#include "fuzz_common.h"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  transfix_fuzz::init();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // A fresh aligned copy, as a memory map would be (the reader views constants in place).
  auto storage = transfix::Storage::allocate(size, false);
  if (size) std::memcpy(storage->data, data, size);
  transfix::Model m;
  try {
    m = transfix::read_tflite_storage(storage, "fuzz.tflite");
  } catch (const transfix::InputError&) {
    return 0;
  }
  try {
    transfix::model_to_tflite_bytes(m);
  } catch (const transfix::InputError&) {
  }
  try {
    transfix_fuzz::run_if_small(m);
  } catch (const transfix::InputError&) {
  }
  return 0;
}
