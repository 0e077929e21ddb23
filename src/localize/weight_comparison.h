// The parameter stage's evidence: a layer's weights and bias in a canonical layout, and how the
// target's differ from the source's (layout, permutation, per-channel rescale, float16 or 8-bit
// rounding, other values), judged against the rounding the target's storage intends.
#pragma once
#include <cstdint>
#include <optional>

#include "compare/weight_precision.h"
#include "core/graph.h"
#include "localize/diagnose.h"

namespace transfix {

// A weight tensor as [out, in, spatial...] float64, whatever the op and layout (weights stored in
// float16 or int8 reach the op through a Cast or DequantizeLinear and are read through it).
std::optional<Tensor> canonical_weight(const Model& m, const Node& n);
// The bias input of a Conv/Gemm-like node as real float64 values.
std::optional<Tensor> bias_of(const Model& m, const Node& n);
// max |a - b| over n values, relative to `scale` (absolute when scale is 0).
double rel_diff(const double* a, const double* b, int64_t n, double scale);

// Classifies how target weights `t` differ from source weights `s` (both [out, in, k...]). Layouts,
// permutations and rescalings are recognised within `tol` of the largest weight (the rounding the
// target's storage allows: 1e-6 for float32). nullopt when they are equal within tol.
std::optional<Finding> compare_weights(const Tensor& s, const Tensor& t, double tol = 1e-6);
// The same where the target's weights all sit on the float16 grid: the source is rounded the same way
// before looking for layout and permutation faults, which are exact up to that rounding.
std::optional<Finding> compare_weights_fp16_aware(const Tensor& s, const Tensor& t);

// Largest |t - s| over the rounding the target's storage allows, per element (at most 1: the target
// holds the source's weights rounded as its precision intends).
double storage_rounding_units(const Tensor& s, const Tensor& t, const StoredWeight& storage);
// What a weight tensor's storage lets each weight move, relative to the largest source weight.
double storage_tolerance(const Tensor& s, const StoredWeight& storage);

}  // namespace transfix
