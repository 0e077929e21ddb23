#include "data/atomic_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <random>

#include "core/errors.h"

namespace fs = std::filesystem;

namespace transfix {

namespace {
std::string temp_name_for(const std::string& path) {
  std::random_device rd;
  return path + ".tmp" + std::to_string(rd() % 1000000);
}
}  // namespace

void write_file_atomic_with(const std::string& path, const std::function<void(const std::string&)>& write) {
  std::string tmp = temp_name_for(path);
  try {
    write(tmp);
    int fd = ::open(tmp.c_str(), O_RDONLY);
    if (fd >= 0) {
      ::fsync(fd);
      ::close(fd);
    }
    std::error_code ec;
    fs::rename(tmp, path, ec);
    if (ec) throw InputError(path + ": cannot write (" + ec.message() + ")");
  } catch (...) {
    std::error_code ec;
    fs::remove(tmp, ec);
    throw;
  }
}

void write_file_atomic(const std::string& path, const std::string& bytes) {
  write_file_atomic_with(path, [&](const std::string& tmp) {
    FILE* f = std::fopen(tmp.c_str(), "wb");
    if (!f) throw InputError(path + ": cannot open for writing");
    size_t n = std::fwrite(bytes.data(), 1, bytes.size(), f);
    bool ok = n == bytes.size() && std::fflush(f) == 0;
    std::fclose(f);
    if (!ok) throw InputError(path + ": write failed (disk full?)");
  });
}

}  // namespace transfix
