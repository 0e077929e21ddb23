// Keras HDF5 reader: a Keras 2.x .h5 file (model.save(...) with a `model_config` attribute, or
// model.save_weights(...) plus the architecture JSON of model.to_json()) -> Model.
//
// Layers are lowered into canonical IR nodes (ONNX semantics, opset 17 forms) the way the TFLite
// reader lowers TFLite operators: tensors keep Keras' channels-last shapes, layout-sensitive nodes
// carry layout = "NHWC", convolution weights are rearranged at load time into the layouts the NHWC
// kernels take (Conv2D HWIO -> OHWI, DepthwiseConv2D [KH, KW, C, M] -> 1HWO, Conv2DTranspose
// [KH, KW, O, I] -> OHWI), 'same' padding is SAME_UPPER (TensorFlow puts the odd pixel at the end).
// A layer's activation becomes its own node; every node of a layer carries Provenance {"keras",
// layer class, layer name}. The batch dimension is symbolic ("batch"). See docs/keras.md.
#pragma once
#include <string>

#include "core/graph.h"

namespace transfix {

// Reads a Keras .h5 file. `architecture_json` is the model.to_json() text file for a weights-only
// .h5; when empty and the file has no model_config, "<stem>.json" beside the .h5 is used.
// InputError (naming the file and layer) for malformed or hostile files, UnsupportedError for
// layers or options outside the supported set.
Model read_keras(const std::string& path, const std::string& architecture_json = "");
// read_keras with the HDF5 part in this process (read_keras_h5_in_process): for the fuzz targets.
Model read_keras_in_process(const std::string& path, const std::string& architecture_json = "");

}  // namespace transfix
