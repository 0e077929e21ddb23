// How a converted model stores the weights of an op, and the error that storage intends.
//
// A converter that keeps weights in float16 (TFLiteConverter's float16 mode, onnx2tf) or in int8 with a
// scale (dynamic-range quantization, ONNX QDQ, hybrid TFLite ops) rounds every weight. The op's output
// then differs from a source that kept float32 weights by the rounding of each product, summed:
// intended precision, not a fault. This analysis finds where an op's weight comes from (following the
// DequantizeLinear / Cast / layout ops a reader or converter puts in front of it) and bounds that error
// for a given input, so that localize judges each op against the precision its weights were meant to have.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "core/graph.h"

namespace transfix {

enum class WeightStorage { kFloat32, kFloat16, kInteger };

struct StoredWeight {
  WeightStorage storage = WeightStorage::kFloat32;
  std::string initializer;  // the stored tensor
  double step = 0;          // kInteger: the largest grid step (scale) over channels, in real units
  std::vector<double> steps;  // kInteger: the grid step per quantized channel (one: per tensor)
  std::string describe() const;  // "float16", "int8 (per channel)"
  DType stored_dtype = DType::kF32;
  bool per_channel = false;
};

// Where value `name` of graph `g` comes from when it is a weight: an initializer, possibly dequantized
// (DequantizeLinear with a constant scale), widened (Cast) or moved (Identity, Reshape, Transpose,
// Squeeze, Unsqueeze) on the way. nullopt when the value is computed from data.
std::optional<StoredWeight> stored_weight(const Graph& g, const std::string& name);

// The real values (float64) an op reading `name` sees, when `name` is an initializer or one dequantized
// (DequantizeLinear with constant parameters) or widened (Cast) on the way; nullopt otherwise.
std::optional<Tensor> stored_weight_real(const Graph& g, const std::string& name);

// The axis of output channels of `op`'s weight (input 1) of rank `rank`: a conv's first (OIHW, OHWI) or
// last (1HWO depthwise), a ConvTranspose's second, a Gemm's B [K, N] last unless transB, a MatMul's last.
int64_t weight_output_axis(const Node& op, int64_t rank);

// What the bounds need of a weight tensor (computed once per tensor): fan-in and the largest sum of
// |w| over an output channel (the output's sensitivity to a relative weight error).
// `channel_last`: output channels on the last axis of w (a Gemm's B, a TFLite depthwise filter).
struct WeightSummary {
  double fan_in = 0, max_channel_l1 = 0;
};
WeightSummary summarize_weight(const Tensor& w, bool channel_last);

// The largest error an op reading weights stored as `sw` (summarised by `ws`) and inputs no larger
// than `input_max` in magnitude adds, relative to the same op with the unrounded weights:
//  - float32 (rewritten by the converter, e.g. BatchNorm folded in): a few float32 ulps of every
//    weight and of the bias;
//  - float16: every weight and bias off by up to half a float16 ulp, 2^-11 relative: at most
//    2^-11 (input_max max_c sum_k |w_ck| + max |b|);
//  - integer: each weight off by up to half a step s, independent and uniform: the sum of K products
//    has a standard deviation of at most sqrt(K / 12) s input_max; six of them bound it.
// `bias_max`: max |bias| (0 without one).
double weight_storage_bound(const StoredWeight& sw, const WeightSummary& ws, double input_max, double bias_max);

// One standard deviation of the integer rounding above (0 for float storage): how far a channel's
// systematic error may reach from weight rounding alone.
double weight_rounding_sigma(const StoredWeight& sw, const WeightSummary& ws, double input_rms);

}  // namespace transfix
