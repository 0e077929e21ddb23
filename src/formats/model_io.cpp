#include "formats/model_io.h"

#include <algorithm>
#include <cctype>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <utility>
#include <vector>

#include "core/errors.h"
#include "formats/keras/keras_reader.h"
#include "formats/onnx/onnx_reader.h"
#include "formats/onnx/onnx_writer.h"
#include "formats/tflite/tflite_reader.h"
#include "formats/torchscript/torchscript_reader.h"
#include "formats/tflite/tflite_writer.h"

namespace fs = std::filesystem;

namespace transfix {

namespace {

std::string lower_extension(const std::string& path) {
  std::string ext = fs::path(path).extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return ext;
}

std::string file_head(const std::string& path, size_t n) {
  std::ifstream in(path, std::ios::binary);
  std::string head(n, '\0');
  in.read(head.data(), static_cast<std::streamsize>(n));
  head.resize(static_cast<size_t>(std::max<std::streamsize>(0, in.gcount())));
  return head;
}

bool starts_with(const std::string& s, const char* prefix, size_t n) { return s.size() >= n && std::memcmp(s.data(), prefix, n) == 0; }

// A serialized ModelProto starts with the tag of one of its fields; exporters write ir_version
// (field 1, tag 0x08) first, but any ModelProto field tag is accepted.
bool looks_like_onnx(const std::string& head) {
  if (head.empty()) return false;
  static const unsigned char kModelProtoTags[] = {
      0x08,  // 1 ir_version
      0x12,  // 2 producer_name
      0x1a,  // 3 producer_version
      0x22,  // 4 domain
      0x28,  // 5 model_version
      0x32,  // 6 doc_string
      0x3a,  // 7 graph
      0x42,  // 8 opset_import
      0x72,  // 14 metadata_props
  };
  unsigned char tag = static_cast<unsigned char>(head[0]);
  return std::find(std::begin(kModelProtoTags), std::end(kModelProtoTags), tag) != std::end(kModelProtoTags);
}

ModelFormat format_from_extension(const std::string& ext) {
  if (ext == ".onnx") return ModelFormat::kOnnx;
  if (ext == ".tflite") return ModelFormat::kTflite;
  if (ext == ".pt" || ext == ".pth" || ext == ".torchscript") return ModelFormat::kTorchScript;
  if (ext == ".h5" || ext == ".hdf5" || ext == ".keras") return ModelFormat::kKeras;
  return ModelFormat::kUnknown;
}

}  // namespace

const char* model_format_name(ModelFormat f) {
  switch (f) {
    case ModelFormat::kOnnx: return "ONNX";
    case ModelFormat::kTflite: return "TFLite";
    case ModelFormat::kTorchScript: return "TorchScript";
    case ModelFormat::kKeras: return "Keras";
    case ModelFormat::kTfSavedModel: return "TensorFlow SavedModel";
    default: return "unknown";
  }
}

// A Keras model given as its architecture JSON and its weights: "ARCH.json+WEIGHTS.h5" (both files
// exist), or ARCH.json alone with one weights file beside it (ARCH_weights.h5, ARCH.weights.h5,
// ARCH.h5), as hls4ml and many repositories ship them. nullopt when `path` is neither.
std::optional<std::pair<std::string, std::string>> keras_json_and_weights(const std::string& path) {
  std::error_code ec;
  const size_t plus = path.rfind('+');
  if (plus != std::string::npos && !fs::exists(path, ec)) {
    const std::string arch = path.substr(0, plus), weights = path.substr(plus + 1);
    if (lower_extension(arch) == ".json" && fs::is_regular_file(arch, ec) && fs::is_regular_file(weights, ec))
      return std::make_pair(arch, weights);
    return std::nullopt;
  }
  if (lower_extension(path) != ".json" || !fs::is_regular_file(path, ec)) return std::nullopt;
  const fs::path p(path);
  const std::string stem = (p.parent_path() / p.stem()).string();
  std::vector<std::string> found;
  for (const char* suffix : {"_weights.h5", ".weights.h5", ".h5", "_weights.hdf5", ".hdf5"})
    if (fs::is_regular_file(stem + suffix, ec)) found.push_back(stem + suffix);
  if (found.size() != 1)
    throw InputError(path + ": a Keras architecture JSON needs its weights: " +
                     (found.empty() ? std::string("none found beside it (") + fs::path(stem).filename().string() +
                                          "_weights.h5, .weights.h5 or .h5)"
                                    : std::to_string(found.size()) + " candidates beside it") +
                     "; give the pair as " + path + "+WEIGHTS.h5");
  return std::make_pair(path, found[0]);
}

ModelFormat detect_model_format(const std::string& path) {
  if (keras_json_and_weights(path)) return ModelFormat::kKeras;
  std::error_code ec;
  auto st = fs::status(path, ec);
  if (ec || !fs::exists(st)) throw InputError(path + ": no such file");
  if (fs::is_directory(st)) return fs::exists(fs::path(path) / "saved_model.pb", ec) ? ModelFormat::kTfSavedModel : ModelFormat::kUnknown;
  if (!fs::is_regular_file(st)) return ModelFormat::kUnknown;

  const std::string head = file_head(path, 16);
  // Magic numbers first: a file's content beats its name.
  if (head.size() >= 8 && std::memcmp(head.data() + 4, "TFL3", 4) == 0) return ModelFormat::kTflite;
  if (starts_with(head, "\x89HDF\r\n\x1a\n", 8)) return ModelFormat::kKeras;
  ModelFormat by_ext = format_from_extension(lower_extension(path));
  if (starts_with(head, "PK\x03\x04", 4))  // zip: TorchScript archive or Keras v3 .keras
    return by_ext == ModelFormat::kKeras ? ModelFormat::kKeras : ModelFormat::kTorchScript;
  if (by_ext != ModelFormat::kUnknown) return by_ext;
  return looks_like_onnx(head) ? ModelFormat::kOnnx : ModelFormat::kUnknown;
}

bool model_exists(const std::string& path) {
  std::error_code ec;
  if (fs::exists(path, ec)) return true;
  try {
    return keras_json_and_weights(path).has_value();
  } catch (const InputError&) {
    return false;
  }
}

Model load_model(const std::string& path) {
  if (auto pair = keras_json_and_weights(path)) {
    Model m = read_keras(pair->second, pair->first);
    m.path = path;
    return m;
  }
  ModelFormat f = detect_model_format(path);
  switch (f) {
    case ModelFormat::kOnnx: return read_onnx(path);
    case ModelFormat::kTflite: return read_tflite(path);
    case ModelFormat::kTorchScript: return read_torchscript(path);
    case ModelFormat::kKeras:
      if (starts_with(file_head(path, 4), "PK\x03\x04", 4))
        throw UnsupportedError(path + ": Keras v3 .keras archives are not supported (save as .h5)", "Keras");
      return read_keras(path);
    case ModelFormat::kUnknown:
      throw InputError(path + ": unrecognized model format (supported: .onnx, .tflite, TorchScript .pt, Keras .h5 or ARCH.json+WEIGHTS.h5)");
    default:
      throw UnsupportedError(path + ": " + model_format_name(f) + " models are not yet supported", model_format_name(f));
  }
}

void save_model(const Model& model, const std::string& path) {
  ModelFormat f = format_from_extension(lower_extension(path));
  if (f == ModelFormat::kOnnx && model.meta.format == "tflite") return write_onnx(prepare_for_onnx(model), path);
  if (f == ModelFormat::kOnnx) return write_onnx(model, path);
  if (f == ModelFormat::kTflite) return write_tflite(model, path);
  if (f == ModelFormat::kUnknown)
    throw UnsupportedError(path + ": cannot tell the output format from the extension '" + lower_extension(path) +
                           "' (supported: .onnx, .tflite)", "save");
  throw UnsupportedError(path + ": writing " + std::string(model_format_name(f)) + " models is not yet supported",
                         model_format_name(f));
}

}  // namespace transfix
