// What a report says about a model: path, format, producer, opset, file size, node count.
#pragma once
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "core/graph.h"

namespace transfix {

// Size of the model file in bytes (external data files not counted); -1 when it cannot be read.
int64_t model_file_bytes(const std::string& path);

// {"path", "format", "producer", "opset", "file_bytes" (null when unknown), "nodes"}.
nlohmann::json model_info_json(const Model& m);

}  // namespace transfix
