// "Dequantized" execution of a quantized model: the same graph in float, with quantization simulated
// at every quantized tensor. It separates the error a model's quantization intends (rounding every
// activation to its grid) from what an integer implementation adds on top (fixed-point
// multipliers, integer rounding, lookup tables) and from conversion faults.
//
// The rewrite (dequantized_model):
//  - quantized integer constants (weights, int32 biases) become float32 constants (q - zp) * scale,
//    per axis where they are quantized per axis;
//  - quantized integer graph inputs stay integer and are dequantized on entry;
//  - every node in domain "tflite.quantized" becomes its float counterpart (default domain; its
//    fused_activation a Relu / Clip node after it, SOFTMAX's beta a Mul in front, FULLY_CONNECTED's
//    flattening Reshape nodes), and each quantized output is rounded to its grid and clamped:
//    QuantizeLinear then DequantizeLinear with the output's scale and zero point;
//  - QUANTIZE (QuantizeLinear) outputs are likewise quantized and dequantized again; DEQUANTIZE
//    (DequantizeLinear) of a value that is already float becomes Identity;
//  - quantized graph outputs and intermediates are float32 values lying on their quantization grid
//    (q = value / scale + zero_point recovers the integer).
#pragma once
#include "core/graph.h"

namespace transfix {

// Whether the model has integer (tflite.quantized) nodes, i.e. whether a quantization mode applies.
bool has_quantized_ops(const Model& model);

// The float32 model a float16 model approximates: float16 initializers, Constant values, Casts to
// float16 and graph inputs widened to float32 (an fp16 graph input is cast to float32 on entry).
// compare runs it to tell the error that computing in float16 intends from the rest.
Model float32_twin_of_fp16(const Model& model);

Model dequantized_model(const Model& model);

// The float model a quantized model approximates: the same rewrite with the stored (dequantized)
// weights, but no activation is rounded to its grid or clamped to its range. compare runs it to tell
// the error that quantizing the activations intends from the rest.
Model float_twin_model(const Model& model);

// The model with its quantized Conv / Gemm nodes marked requantize = "fp32": their accumulators are
// scaled as TFLite's XNNPACK delegate does (float(acc) * float(x_scale * w_scale / y_scale), rounded
// half to even) instead of TFLite's fixed-point multiplier (QuantMode::kIntegerXnnpack).
Model xnnpack_requantized_model(const Model& model);

}  // namespace transfix
