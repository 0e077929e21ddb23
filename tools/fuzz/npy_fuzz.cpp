// libFuzzer target: the .npy reader (parse_npy, what read_npy runs on a file's bytes). A file that
// reads is written back (serialize_npy) and read again: the second read must succeed with the same
// dtype and shape (bfloat16 is written as float32), or the target aborts.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "core/errors.h"
#include "data/npy.h"
#include "fuzz_common.h"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  transfix_fuzz::init();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  transfix::Tensor t;
  try {
    t = transfix::parse_npy(bytes, "fuzz.npy");
  } catch (const transfix::InputError&) {
    return 0;
  }
  const transfix::Tensor back = transfix::parse_npy(transfix::serialize_npy(t), "round trip");
  if (back.shape() != t.shape() || (back.dtype() != t.dtype() && t.dtype() != transfix::DType::kBF16)) {
    std::fprintf(stderr, "npy round trip changed the tensor: %s -> %s\n", transfix::shape_str(t.shape()).c_str(),
                 transfix::shape_str(back.shape()).c_str());
    std::abort();
  }
  return 0;
}
