// Atomic file output: write to a temp file in the destination's folder, flush, then rename, so a
// reader never sees a half-written file and a crash never leaves a truncated one.
#pragma once
#include <functional>
#include <string>

namespace transfix {

void write_file_atomic(const std::string& path, const std::string& bytes);
// Calls write(tmp_path) to produce the file, then renames tmp_path over `path`.
void write_file_atomic_with(const std::string& path, const std::function<void(const std::string& tmp_path)>& write);

}  // namespace transfix
