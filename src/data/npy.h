// NumPy .npy files (format versions 1-3): the exchange format for inputs, outputs and dumps.
#pragma once
#include <string>

#include "core/tensor.h"

namespace transfix {

// Reads a .npy file. Little- and big-endian, C and Fortran order. Throws InputError naming the file
// on anything malformed (bad magic, header, dtype, shape/size mismatch).
Tensor read_npy(const std::string& path);
Tensor parse_npy(const std::string& bytes, const std::string& label);

// Writes C-order little-endian .npy (version 1.0, or 2.0 for huge headers). bfloat16 is written as
// float32 (numpy has no bfloat16). Atomic: temp file + rename.
void write_npy(const std::string& path, const Tensor& t);
std::string serialize_npy(const Tensor& t);

}  // namespace transfix
