// Ops the ONNX reader lowers to other canonical (ONNX) ops as it reads them, so that the graph shows what
// they compute and the interpreter's kernels run them. Each produced node keeps the original node's
// provenance.
//  - ONNX Runtime's fused contrib ops that its offline graph optimizations write into saved models
//    (com.microsoft FusedConv -> Conv [+ Add] + activation);
//  - ConvInteger and MatMulInteger (ONNX Runtime's dynamic quantization writes them): zero points
//    subtracted and the product computed in float64, exact for 8-bit operands, cast to int32.
#pragma once
#include <vector>

#include "core/graph.h"

namespace transfix {

// True when `n` is an op this lowering takes.
bool is_lowered_op(const Node& n);

// The canonical nodes computing `n` at default-domain `opset`; constants they need go into
// `graph.initializers`. Throws InputError / UnsupportedError for parameters it cannot take.
std::vector<Node> lower_op(const Node& n, Graph& graph, int64_t opset);

}  // namespace transfix
