// What precision a conversion means its model to run in, and what that precision costs the source.
//
// A converter asked for float16 weights, dynamic-range int8, full int8 or 16x8 changes every output
// by design. compare judges such a target against a budget: the error of the same precision applied
// to the source itself (fake quantization, the simulation below), not against float32 noise. What the
// intended precision explains is not a fault; what it does not explain is.
//
// The simulation (PrecisionSimulator) runs the source model with:
//  - float16 weights: every float constant rounded to float16;
//  - float16: the same, and every value rounded to float16 as it is made;
//  - dynamic-range int8: the weights of every Conv / ConvTranspose / Gemm / MatMul rounded to a
//    symmetric int8 grid per output channel, and the data those ops read rounded to an 8-bit grid over
//    its own range on each sample (as hybrid kernels and DynamicQuantizeLinear do);
//  - int8 / uint8: the same weights, and every value (graph inputs and op outputs) rounded to an 8-bit
//    grid over the range [min(0, lo), max(0, hi)] seen so far, this sample included;
//  - 16x8: the same weights, every value on a symmetric int16 grid over the largest |value| seen so far.
// Ranges seen so far include the current sample, so nothing is clipped: the simulation is the
// rounding a calibration on these data would give, a little below what a converter's calibration on
// other data costs. The weights' storage alone (no activation rounded) is the budget for the part of a
// quantized target's error its float twin shows (analysis/compare.h: the quantization split).
#pragma once
#include <map>
#include <memory>
#include <string>

#include "core/graph.h"
#include "runtime/interpreter.h"

namespace transfix {

// Whether the model computes in float16 (some non-constant value is float16): its float16 rounding is
// intended, and align judges its float16 values against the source's fp16 local noise.
bool computes_in_fp16(const Model& model);


enum class PrecisionKind { kFloat32, kFloat16Weights, kFloat16, kDynamicInt8, kInt8, kInt16x8 };

struct IntendedPrecision {
  PrecisionKind kind = PrecisionKind::kFloat32;
  std::string name = "float32";  // "float16 weights", "float16", "dynamic-range int8", "int8", "uint8", "16x8"
  std::string evidence;          // what in the target says so: "47 weights stored as float16"
  // The graph itself rounds activations (integer ops, QuantizeLinear, DynamicQuantizeLinear); false
  // for weights dequantized in the graph, whose runtime may still quantize activations on the fly
  // (TFLite's hybrid kernels).
  bool activations_in_graph = false;
  bool reduced() const { return kind != PrecisionKind::kFloat32; }
};

// Read from the target model: integer activations (TFLite integer ops, or ONNX QuantizeLinear on
// data), integer weights dequantized for float ops, float16 weights, float16 arithmetic.
IntendedPrecision intended_precision(const Model& target);

class PrecisionSimulator {
 public:
  // `activations`: simulate the activations' rounding too (else the weights' storage alone).
  PrecisionSimulator(const Model& source, const IntendedPrecision& precision, bool activations = true);
  ~PrecisionSimulator();
  // The source's outputs (float32 arithmetic) with the precision simulated.
  std::map<std::string, Tensor> run(const std::map<std::string, Tensor>& inputs);

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace transfix
