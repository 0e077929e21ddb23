#include "core/install_paths.h"

#include <dlfcn.h>

#include <filesystem>

namespace fs = std::filesystem;

namespace transfix {

std::string code_directory() {
  Dl_info info{};
  if (dladdr(reinterpret_cast<const void*>(&code_directory), &info) == 0 || !info.dli_fname) return "";
  std::error_code ec;
  const fs::path file = fs::canonical(info.dli_fname, ec);
  return ec ? std::string() : file.parent_path().string();
}

std::string installed_file(const std::string& relative) {
  const std::string dir = code_directory();
  if (dir.empty()) return "";
  const fs::path p = fs::path(dir).parent_path() / relative;
  std::error_code ec;
  return fs::is_regular_file(p, ec) ? p.string() : std::string();
}

}  // namespace transfix
