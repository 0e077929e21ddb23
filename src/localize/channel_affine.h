// The per-channel affine ops that follow a convolution or fully connected layer (a BatchNorm, or the
// scale and shift an importer writes for one, a Mul or Add by a constant), as a converter folds
// them into the layer's weights and bias. diagnose compares a fused target layer with the source's
// layer and these ops folded together; repair rebuilds the fused weights the same way.
#pragma once
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "core/graph.h"

namespace transfix {

// y = x * scale[c] + shift[c] along the channel axis.
struct ChannelAffine {
  std::vector<double> scale, shift;
  std::vector<int> nodes;  // the ops, in order (node indexes)
  std::string output;      // the value the last one makes
};

// The chain of per-channel affine ops reading `value` of `g`, each the only reader of the value
// before it: BatchNormalization, Mul or Div by a constant, Add or Sub of a constant, Identity. A
// constant may be computed from other constants (gamma / sqrt(var + eps)); it must hold one value
// or `channels`. `accept(node)` may end the chain before a node. nullopt when no op qualifies.
std::optional<ChannelAffine> channel_affine_after(const Graph& g, const std::string& value, int64_t channels,
                                                  const std::function<bool(int)>& accept = nullptr);

// w [out, ...] and b [out] of a layer followed by `a`: w' = w scale, b' = b scale + shift.
void fold_channel_affine(const ChannelAffine& a, Tensor& w, std::vector<double>& b);

// The values of a constant, or of a value computed from constants by elementwise arithmetic (Add,
// Sub, Mul, Div with one operand a scalar or both the same size; Sqrt, Reciprocal, Neg, Cast,
// Identity, Reshape, Squeeze, Unsqueeze, Constant); nullopt for anything else.
std::optional<std::vector<double>> evaluate_constant(const Graph& g, const std::string& value);

}  // namespace transfix
