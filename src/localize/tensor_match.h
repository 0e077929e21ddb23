// Matching tensors of two models that should hold the same values, whatever layout the converter
// chose: a Transform says how a source tensor becomes the target's (a permutation of axes, e.g.
// NCHW -> NHWC, then a reshape to the target's shape), and match_error measures how far the
// target is from the source once brought into the source's frame.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "core/tensor_math.h"

namespace transfix {

struct Transform {
  std::vector<int64_t> perm;  // axes of the source in target order; empty = identity
  bool reshape = false;       // the permuted source is reshaped (row-major) to the target's shape

  bool identity() const { return perm.empty() && !reshape; }
  std::string describe() const;  // "identity", "NCHW->NHWC", "perm [0,2,1]", "reshape", ...
};

// Transforms that turn a tensor of shape `source` into one of shape `target` (same element count),
// most natural first: identity, layout permutations, then reshapes. Empty when none fits.
std::vector<Transform> candidate_transforms(const Shape& source, const Shape& target);

// The source tensor in the target's frame (float64), and the target tensor in the source's frame.
Tensor to_target_frame(const Tensor& source, const Transform& tr, const Shape& target_shape);
Tensor to_source_frame(const Tensor& target, const Transform& tr, const Shape& source_shape);

// max_abs_diff of `source64` brought into the target's frame by `tr` and `target64` (same element count).
double max_abs_diff_under(const Tensor& source64, const Tensor& target64, const Transform& tr);

// Cheap layout-independent fingerprint of a float64 tensor (sum of squares, sum): two tensors that
// hold the same values in any layout have nearly equal fingerprints.
struct Fingerprint {
  double sum = 0, sum_sq = 0;
  int64_t numel = 0;
};
Fingerprint fingerprint(const Tensor& t64);
// Could `a` and `b` hold the same values up to relative error `rel` (of the norm)?
bool fingerprints_close(const Fingerprint& a, const Fingerprint& b, double rel);

// The best transform between a source tensor and a target tensor (both real float64) and the error
// under it; nullopt when no transform fits the shapes.
struct MatchResult {
  Transform transform;
  double max_abs = 0;
};
// `natural_bias` < 1 keeps the first (most natural) transform unless another has an error below
// natural_bias x its error: for tensors that do not match well, a lucky permutation means nothing.
// `keep_order` admits only the candidates that keep the elements' row-major order (identity, reshape).
std::optional<MatchResult> best_match(const Tensor& source64, const Tensor& target64, double natural_bias = 1.0,
                                      bool keep_order = false);

// Turns a source value into what the target tensor `like` holds: transformed into its shape, then
// cast (or quantized with like's quantization) to like's dtype.
Tensor source_as_target(const Tensor& source64, const Transform& tr, const Tensor& like);

}  // namespace transfix
