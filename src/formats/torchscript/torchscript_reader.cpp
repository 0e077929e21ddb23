#include "formats/torchscript/torchscript_reader.h"

#include <dlfcn.h>
#include <unistd.h>

#include <climits>
#include <cstdlib>
#include <filesystem>
#include <mutex>

#include "core/errors.h"
#include "core/install_paths.h"

namespace fs = std::filesystem;

namespace transfix {
namespace {

constexpr const char* kPluginName = "libtransfix_torchscript.so";

using AbiFn = int (*)();
using ReadFn = int (*)(const char*, ts::Graph*, std::string*);

// Where the plugin may be: $TRANSFIX_TORCHSCRIPT_PLUGIN, next to the running executable or the library,
// in the lib/ of an installed prefix, the build tree.
std::vector<std::string> plugin_candidates() {
  std::vector<std::string> paths;
  if (const char* env = std::getenv("TRANSFIX_TORCHSCRIPT_PLUGIN"); env && *env) paths.emplace_back(env);
  char exe[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n > 0) paths.push_back((fs::path(std::string(exe, static_cast<size_t>(n))).parent_path() / kPluginName).string());
  if (const std::string dir = code_directory(); !dir.empty()) paths.push_back((fs::path(dir) / kPluginName).string());  // beside libtransfix.so
  if (std::string installed = installed_file(std::string("lib/") + kPluginName); !installed.empty()) paths.push_back(installed);
#ifdef TRANSFIX_TORCHSCRIPT_PLUGIN_PATH
  paths.emplace_back(TRANSFIX_TORCHSCRIPT_PLUGIN_PATH);
#endif
  return paths;
}

// Loads the plugin once per process (libtorch is never unloaded: its memory backs the weights).
ReadFn plugin_reader() {
  static std::once_flag once;
  static ReadFn reader = nullptr;
  static std::string failure;
  std::call_once(once, [] {
    std::string tried;
    for (const std::string& path : plugin_candidates()) {
      std::error_code ec;
      if (!fs::exists(path, ec)) continue;
      void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
      if (!handle) {
        failure = std::string("cannot load ") + path + ": " + dlerror();
        return;
      }
      auto abi = reinterpret_cast<AbiFn>(dlsym(handle, "transfix_torchscript_abi_version"));
      reader = reinterpret_cast<ReadFn>(dlsym(handle, "transfix_torchscript_read"));
      if (!abi || !reader || abi() != ts::kAbiVersion) {
        reader = nullptr;
        failure = path + " is not a matching transfix TorchScript plugin";
      }
      return;
    }
    failure = std::string(kPluginName) + " not found (set TRANSFIX_TORCHSCRIPT_PLUGIN)";
  });
  if (!reader) throw UnsupportedError("TorchScript support is unavailable: " + failure, "TorchScript");
  return reader;
}

}  // namespace

Model read_torchscript(const std::string& path) {
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) throw InputError(path + ": not a readable file");
  ReadFn read = plugin_reader();
  ts::Graph graph;
  std::string error;
  switch (static_cast<ts::Status>(read(path.c_str(), &graph, &error))) {
    case ts::Status::kOk: break;
    case ts::Status::kUnsupported: throw UnsupportedError(error, "TorchScript");
    default: throw InputError(error);
  }
  return lower_torchscript(graph, path);
}

}  // namespace transfix
