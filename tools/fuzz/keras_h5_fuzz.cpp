// libFuzzer target: the Keras .h5 reader on arbitrary bytes (written to a temp file: libhdf5 reads
// files). The HDF5 part runs in this process (read_keras_in_process) so that libFuzzer sees its
// coverage; `transfix` itself runs it in a child process, where a libhdf5 crash or hang becomes an
// InputError. A crash inside libhdf5 found here is therefore contained in the CLI (check it with
// `transfix inspect`); a crash in transfix's code (hdf5_file.cpp, keras_*.cpp) is a finding to fix.
#include <cstdint>
#include <string>

#include "core/errors.h"
#include "formats/keras/keras_reader.h"
#include "fuzz_common.h"

namespace {
std::string g_path;
}

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  transfix_fuzz::init();
  g_path = (transfix_fuzz::temp_dir() / "model.h5").string();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  transfix_fuzz::write_file(g_path, data, size);
  try {
    transfix::Model m = transfix::read_keras_in_process(g_path);
    transfix_fuzz::run_if_small(m);
  } catch (const transfix::InputError&) {
  }
  return 0;
}
