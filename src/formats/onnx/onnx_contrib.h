// ONNX Runtime's contrib ops (domain com.microsoft) that its offline graph optimizations write into
// saved models, lowered to the canonical (ONNX) ops they fuse, so that an optimized model reads as the
// graph it computes. Each produced node keeps the contrib node's provenance.
#pragma once
#include <vector>

#include "core/graph.h"

namespace transfix {

// True when `n` is a contrib op this lowering knows (FusedConv).
bool is_lowerable_contrib_op(const Node& n);

// The canonical nodes computing `n` at default-domain `opset`; constants they need go into
// `graph.initializers`. Throws InputError / UnsupportedError for parameters or activations it cannot take.
std::vector<Node> lower_contrib_op(const Node& n, Graph& graph, int64_t opset);

}  // namespace transfix
