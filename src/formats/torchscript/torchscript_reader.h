// TorchScript (.pt / .pth archives written by torch.jit.save, traced or scripted) -> IR.
// libtorch reads the archive inside a plugin loaded on first use (libtransfix_torchscript.so); the
// aten graph is then lowered to canonical IR nodes with ONNX semantics, each carrying provenance
// (format "torchscript", the aten op, the module path such as "features.3.conv.1", the node index).
// Parameters become initializers named by their attribute path ("features.0.weight").
#pragma once
#include <string>

#include "core/graph.h"
#include "formats/torchscript/ts_graph.h"

namespace transfix {

// InputError (exit 2) for files that are not TorchScript (a torch.save'd state dict, a corrupt or
// truncated zip); UnsupportedError naming the aten op and module path for ops without a lowering.
Model read_torchscript(const std::string& path);

// Lowers an exported TorchScript graph (torchscript_lower.cpp); `path` is for messages.
Model lower_torchscript(const ts::Graph& graph, const std::string& path);

}  // namespace transfix
