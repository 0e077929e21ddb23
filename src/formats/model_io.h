// Format dispatch: load any supported model file into the IR, save the IR in the format the output
// path names. Only ONNX exists today; the other formats are recognized (so users get a clear
// "not yet supported" instead of a parse error) but not read or written.
#pragma once
#include <string>

#include "core/graph.h"

namespace transfix {

enum class ModelFormat { kUnknown, kOnnx, kTflite, kTorchScript, kKeras, kTfSavedModel };
const char* model_format_name(ModelFormat f);  // "ONNX", "TFLite", ...

// Guesses the format from the file's first bytes, then from its extension. Directories are
// TF SavedModels when they hold saved_model.pb. Throws InputError when the path does not exist.
ModelFormat detect_model_format(const std::string& path);

// Reads a model. UnsupportedError ("... not yet supported") for recognized formats without a
// reader; InputError "unrecognized model format" for anything else.
Model load_model(const std::string& path);

// Whether `path` names a model that exists: a file or directory, or a Keras ARCH.json+WEIGHTS.h5 pair.
bool model_exists(const std::string& path);

// Writes a model in the format of the path's extension (.onnx). Other extensions: UnsupportedError.
// Never overwrites the file the model was read from (InputError).
void save_model(const Model& model, const std::string& path);

}  // namespace transfix
