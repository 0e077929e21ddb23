// Architectural coverage: which operators and operator sequences (paths of n ops along data edges) a
// model contains, and how often. A node's signature is its canonical op plus the attributes that
// change what a converter must do with it ("Conv[dw,stride]", "Resize[linear,half_pixel]").
// Sequences are interned in a SequenceTable shared by all models of a run, so a sequence is stored
// once however many models and paths contain it (docs/coverage.md).
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/graph.h"

namespace transfix {

// What to see through when walking data edges. Folded nodes are bypassed: their consumers are
// connected to their producers. Each kind is what exporters add or remove at will, so folding it makes
// two forms of one architecture (PyTorch module, its ONNX export) count the same.
struct CoverageFold {
  bool noops = true;        // Identity, Dropout, Pads of zero width (inference no-ops)
  bool batchnorm = true;    // BatchNormalization right after a Conv/ConvTranspose/Gemm/MatMul (folded into
                            // the weights by exporters such as torch.onnx)
  bool layout = false;      // Transpose, Reshape, Flatten, Squeeze, Unsqueeze (layout-only ops converters insert
                            // or remove: NCHW<->NHWC, flatten as Reshape vs Flatten)
};
// "none", or a comma list of "noops", "bn", "layout" (default "noops,bn"); InputError otherwise.
CoverageFold parse_coverage_fold(const std::string& s);
std::string coverage_fold_name(const CoverageFold& f);

// The values of a constant: an initializer, a Constant node's value, or a Cast of either (TorchScript
// lowering keeps float constants in double and casts them; torch.onnx emits Constant nodes).
std::optional<std::vector<double>> constant_values(const Graph& g, const std::string& value, int depth = 0);

// Canonical op + semantic attributes of a node, e.g. "Conv[dw,pads=asym]", "Clip[0,6]" (the model
// gives the opset, which decides some defaults).
std::string node_signature(const Model& m, const Node& n);

// The data-flow view of a graph: nodes whose outputs depend on the values of the graph inputs
// (Constant nodes and shape arithmetic on Shape outputs are not data), minus folded nodes, with the
// edges between them (a consumer of a folded node is linked to the folded node's producers).
struct DataGraph {
  std::vector<size_t> nodes;              // graph node index of each kept node, topological order
  std::vector<std::vector<int>> preds;    // per kept node: its kept producers (positions in `nodes`), no repeats
};
DataGraph build_data_graph(const Graph& g, CoverageFold fold);

// Interns signatures and sequences. A sequence of length k is (its length k-1 prefix, last signature);
// id kNoSequence is the empty sequence.
class SequenceTable {
 public:
  static constexpr uint32_t kNoSequence = 0xffffffffu;
  uint32_t signature_id(const std::string& signature);
  uint32_t extend(uint32_t prefix, uint32_t signature);
  std::vector<uint32_t> signatures(uint32_t sequence) const;
  const std::string& signature_name(uint32_t signature) const { return signature_names_[signature]; }
  std::string describe(uint32_t sequence) const;  // "Conv -> Relu -> MaxPool"
  size_t sequence_count() const { return prefix_.size(); }
  size_t memory_bytes() const;  // approximate bytes held

 private:
  std::unordered_map<std::string, uint32_t> signature_ids_;
  std::vector<std::string> signature_names_;
  std::unordered_map<uint64_t, uint32_t> sequence_ids_;  // (prefix + 1) << 32 | signature
  std::vector<uint32_t> prefix_, last_;
};

using SequenceCounts = std::unordered_map<uint32_t, uint64_t>;  // sequence id -> number of paths

// Counts the paths of exactly n kept nodes (n >= 1) along data edges, per sequence of signatures.
// `skip` (optional, one flag per kept node) removes nodes: the paths that avoid them are counted.
// Work and memory: one pass per length, holding the distinct sequences ending at each node.
SequenceCounts count_sequences(const DataGraph& dg, const std::vector<uint32_t>& node_signatures, int n,
                               SequenceTable& table, const std::vector<bool>& skip = {});

// One model's sequences: every path, and those that touch `marked` nodes.
struct ModelSequences {
  std::string path;
  DataGraph graph;
  std::vector<uint32_t> signatures;  // per kept node
  SequenceCounts all;                // length n
  SequenceCounts ops;                // length 1
};
ModelSequences model_sequences(const Model& model, int n, CoverageFold fold, SequenceTable& table);

// Paths of `ms` that go through at least one of `marked` (graph node indices).
SequenceCounts touching(const ModelSequences& ms, const std::vector<size_t>& marked, int n, SequenceTable& table);

// One path of `sequence` in the model (graph node indices), through a marked node when `marked` is not
// empty; empty when there is none.
std::vector<size_t> example_path(const ModelSequences& ms, const std::vector<uint32_t>& sequence,
                                 const std::vector<size_t>& marked = {});

// One-sided Fisher exact test: the probability that `draws` occurrences taken at random from `total`,
// of which `failing_total` are failing, include at least `failing` failing ones.
double fisher_right_tail(uint64_t failing, uint64_t draws, uint64_t failing_total, uint64_t total);

}  // namespace transfix
