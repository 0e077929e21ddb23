// ONNX writer: Model -> .onnx file (protobuf ModelProto). The inverse of onnx_reader: meta, graph
// inputs/outputs/value_info with shapes and symbolic dims, initializers as raw_data, nodes with
// all attribute types and their original names (from provenance).
//
// Files are written atomically (temp file in the same folder, fsync, rename), so a crash or a full
// disk never leaves a half-written model behind, and the file a model was read from is never the
// target. Models too large for one protobuf (~2 GiB) put their big tensors in a sibling external
// data file, as ONNX specifies.
#pragma once
#include <cstdint>
#include <string>

#include "core/graph.h"

namespace onnx { class ModelProto; }

namespace transfix {

struct OnnxWriteOptions {
  enum class ExternalData {
    kAuto,    // external only when the model would not fit in one protobuf
    kAlways,  // tensors of at least external_min_bytes go to the external file
    kNever,   // everything inline; InputError when the model is too large
  };
  ExternalData external_data = ExternalData::kAuto;
  // File name (in the model's folder) of the external data. Default: "<model file name>.data".
  std::string external_file;
  int64_t external_min_bytes = 1024;  // smaller tensors stay inline even with external data
  int64_t external_alignment = 4096;  // offsets of external tensors (lets readers mmap them)
  // kAuto switches to external data when the tensors would make the protobuf larger than this.
  int64_t inline_limit_bytes = int64_t{1800} * 1000 * 1000;
};

// Writes `model` to `path`. Throws InputError when the path is the model's own source file, the
// graph cannot be ordered (cycle, dangling input), or the file cannot be written.
void write_onnx(const Model& model, const std::string& path, const OnnxWriteOptions& options = {});

// The ModelProto of `model`, all tensors inline (raw_data).
onnx::ModelProto model_to_onnx(const Model& model);
// Serialized ModelProto. InputError when the model is too large for one protobuf.
std::string model_to_onnx_bytes(const Model& model);

}  // namespace transfix
