// TFLite writer: Model -> .tflite (FlatBuffers, identifier "TFL3", schema version 3).
//
// Nodes that came from one TFLite operator (same provenance) are folded back into that operator:
// Conv + Clip(0, 6) -> CONV_2D with fused RELU6, Reshape + Gemm + Reshape -> FULLY_CONNECTED with
// keep_num_dims, hybrid DequantizeLinear of int8 weights -> the int8 weights themselves. Nodes from
// other formats (ONNX) are mapped one by one to TFLite builtins; NCHW convolutions, pools and
// resizes are first rewritten to NHWC with Transposes around them (tflite_from_onnx.cpp).
// Tensor names, quantization (per-tensor and per-channel), metadata, description and SignatureDefs
// are kept. The file is written atomically. Constant buffers are 16-byte aligned so a reader can
// view them in a memory map. See docs/tflite.md.
#pragma once
#include <string>

#include "core/graph.h"

namespace transfix {

// The .tflite image of `model`. UnsupportedError names the node that has no TFLite form.
std::string model_to_tflite_bytes(const Model& model);

// Writes `model` to `path` atomically (temp file + rename).
void write_tflite(const Model& model, const std::string& path);

// Rewrites a model read from another format (ONNX: NCHW) into the form the TFLite writer maps:
// Conv / MaxPool / AveragePool / GlobalAveragePool / Resize on 4-D NCHW tensors become NHWC nodes
// between Transposes (weights converted to OHWI / 1HWO), BatchNormalization after a Conv is folded
// into it, values computed only from constants and static shapes become constants, dynamic input
// dims are fixed to 1. Back-to-back inverse Transposes cancel. The result runs in the interpreter.
Model prepare_for_tflite(const Model& model);

// A TFLite-shaped model that was edited (a repair spliced in NCHW source ops, or gave an NHWC
// convolution explicit pads) back into the writer's form: NCHW nodes as above, explicit pads of NHWC
// nodes as SAME or a Pad node + VALID. Unchanged when nothing needs it; UnsupportedError when a node
// has no TFLite form.
Model legalize_for_tflite(const Model& model);

// The inverse, for writing a model read from TFLite as ONNX: NHWC nodes (layout = "NHWC") become
// ONNX NCHW nodes between Transposes with weights in ONNX's layout; inverse Transposes cancel.
// UnsupportedError for nodes computing on quantized integers (domain tflite.quantized).
Model prepare_for_onnx(const Model& model);

}  // namespace transfix
