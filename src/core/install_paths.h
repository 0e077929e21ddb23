// Where transfix's own files are once installed: relative to the file that holds transfix's code
// (bin/transfix, or lib/libtransfix.so when a program links the library), so that an installed prefix
// works wherever it is put. Build and source trees remain fallbacks for the programs built here.
#pragma once
#include <string>

namespace transfix {

// The directory of the executable or shared library that contains this code ("" when unknown).
std::string code_directory();

// `relative` under the installation prefix (the parent of code_directory()), e.g.
// "share/transfix/python/ort_run.py"; "" when no such file exists.
std::string installed_file(const std::string& relative);

}  // namespace transfix
