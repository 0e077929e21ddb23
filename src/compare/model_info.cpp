#include "compare/model_info.h"

#include <filesystem>

namespace transfix {

int64_t model_file_bytes(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) return -1;
  const auto size = std::filesystem::file_size(path, ec);
  return ec ? -1 : static_cast<int64_t>(size);
}

nlohmann::json model_info_json(const Model& m) {
  const int64_t bytes = model_file_bytes(m.path);
  const std::string& version = m.meta.producer_version;
  return {{"path", m.path},
          {"format", m.meta.format},
          {"producer", m.meta.producer_name + (version.empty() ? "" : " " + version)},
          {"opset", m.opset()},
          {"file_bytes", bytes >= 0 ? nlohmann::json(bytes) : nlohmann::json(nullptr)},
          {"nodes", m.graph.nodes.size()}};
}

}  // namespace transfix
