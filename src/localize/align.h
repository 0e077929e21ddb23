// Tensor mapping and error attribution between a source model and its conversion.
//
// The source runs once in fp64 (the oracle) and once in fp32 (its own rounding noise per tensor).
// The target then runs "teacher-forced": each target tensor is compared with the source tensors
// that could hold the same values (descendants of what its inputs were mapped to, same element
// count, any layout transform). A clean match is replaced by the source's own value, so every part
// of the target is fed exactly what the source computed and its error is its own, not inherited.
// Target tensors without a clean match stay pending: intermediates of a decomposed op are resolved
// by a later clean match; a pending tensor that nothing downstream resolves is where a fault is,
// and it is anchored to its best source counterpart (and forced) in a further pass, so faults
// after it are found too. Mapped pairs cut both graphs into segments: the target nodes between a
// pair and its nearest mapped ancestors, and the source nodes between the same points.
#pragma once
#include <limits>
#include <map>
#include <string>
#include <vector>

#include "localize/tensor_match.h"
#include "core/graph.h"

namespace transfix {

struct AlignOptions {
  double clean_noise_multiple = 64;  // a match is clean within this many local noise floors ...
  double clean_floor = 2e-6;         // ... or this fraction of the tensor's scale, whichever is larger
  double quant_steps = 3;            // ... or, for a quantized target value, this many of its grid steps
  double half_noise_multiple = 4;    // ... or, for a float16 target value, this many fp16 local noise floors
  int max_passes = 24;               // one per fault found, plus one
};

// Every value the source computes on the probe input.
struct SourceTrace {
  std::vector<std::string> names;                // values in production order (graph inputs first)
  std::map<std::string, int> index;
  std::vector<Tensor> value;                     // real values, float64 (undefined for non-float values)
  std::vector<Shape> shape;
  std::vector<double> noise;                     // max |fp32 - fp64| of the whole fp32 run (accumulated)
  std::vector<double> local_noise;               // max |fp32 - fp64| of the producing op alone, fed fp64 values
  // The same op with float16 weights, fed fp64 values rounded to float16, its output rounded to float16:
  // what a float16 conversion of the op intends (only when the target computes in float16; else empty).
  std::vector<double> local_noise_fp16;
  std::vector<double> scale;                     // max |value|
  std::vector<Fingerprint> print;
  std::vector<int> producer;                     // node index, -1 for graph inputs
  std::vector<int> readers;                      // how many node inputs and graph outputs read the value
  std::vector<std::vector<uint64_t>> ancestors;  // bitset over value indices, excluding self
  bool is_ancestor(int a, int v) const;          // a is a strict ancestor of v
  // Values computed from constants only (an importer's BatchNorm scale from its statistics), which
  // an interpreter may evaluate at any time; and how many data values were produced before each.
  std::vector<char> constant;
  // Values inside one op of the original file that an importer wrote as several nodes (a Keras
  // BatchNorm's x * scale before + shift): read only by nodes of the same original op. A converter
  // maps the op, not these pieces, so they are never clean matches.
  std::vector<char> interior;
  std::vector<int> data_rank;
  // Data values produced after a and up to b (a <= b): distance along the computation, constants not counted.
  int data_distance(int a, int b) const { return data_rank[static_cast<size_t>(b)] - data_rank[static_cast<size_t>(a)]; }
  bool candidate(int v) const { return value[static_cast<size_t>(v)].defined(); }
  bool quantized = false;                        // the source has integer ops (its weights are rounded too)
};
SourceTrace trace_source(const Model& source, const std::map<std::string, Tensor>& inputs, bool fp16_noise = false);

// A target tensor and the source tensor that holds the same values.
struct TensorPair {
  std::string target, source;
  Transform transform;
  bool clean = true;          // within the clean threshold: the segment adds no error beyond noise
  std::string how;            // "value" (clean match), "anchor" (best counterpart of a faulty tensor),
                              // "structure" (no shape-compatible counterpart: same op, nearest)
  double error = 0;           // max |target - source| in the source's frame, target fed source values
  double noise = 0;           // source fp32 noise at this tensor
  double scale = 0;           // max |source|
  double threshold = 0;       // clean threshold in effect
  // Error along the network as a plain run sees it (accumulated_error.h): the target run freely in fp32
  // vs the source's fp64 value, and the source's own fp32 run vs the same. NaN when not measured.
  double accumulated = std::numeric_limits<double>::quiet_NaN();
  double accumulated_noise = std::numeric_limits<double>::quiet_NaN();
  double noise_units() const;
  double relative() const { return scale > 0 ? error / scale : error; }
  // The segment that ends here.
  std::vector<int> target_nodes, source_nodes;     // node indices, in graph order
  std::vector<std::string> target_from, source_from;  // mapped values it starts from
};

struct Alignment {
  std::vector<TensorPair> pairs;  // in target production order
  int passes = 0;
  // Coverage: source float tensors (and nodes) that some target tensor maps to.
  int source_tensors = 0, source_tensors_mapped = 0;
  int target_tensors = 0, target_tensors_mapped = 0;
  int source_nodes = 0, source_nodes_covered = 0;
  std::map<std::string, Shape> target_shapes;  // every target value of the last pass
  std::map<std::string, std::string> target_to_source;  // mapped value names
  std::string crash;              // the target failed even with source values fed to it
  std::string crash_node;
};

Alignment align_models(const Model& source, const Model& target, const SourceTrace& trace,
                       const std::map<std::string, Tensor>& target_inputs, const AlignOptions& options = {});

}  // namespace transfix
