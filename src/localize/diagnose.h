// Diagnosis of the faulty segments that alignment found, in four stages:
//   1. conversion tool: producer and version, matched against a library of known converter faults;
//   2. parameters: weights compared after layout mapping and BatchNorm folding (fp16 rounding, 8-bit
//      grid, transposed kernel, permuted channels, per-channel rescale, dropped bias, other values);
//   3. hyperparameters: canonical attributes of paired ops (pads with SAME/VALID resolved, strides,
//      dilations, groups, ceil_mode, epsilon, resize modes, activation bounds, axes...);
//   4. graph: op sequences of the two segments (missing, extra or swapped ops and operands).
// Each fault gets a category, evidence with numbers, a confidence and a suggested repair that the
// repair command can apply.
#pragma once
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "localize/align.h"
#include "core/graph.h"
#include "core/op_vocabulary.h"

namespace transfix {

// The four stages of diagnosis, in the order they are tried.
enum class Stage { kTool, kParameters, kHyperparameters, kGraph };
// What a fault is: a stage's finding, a changed input contract, error no stage explains, or a crash.
enum class FaultCategory { kInput, kParameters, kHyperparameters, kGraph, kNumeric, kCrash };
// What repair does about a fault.
enum class RepairAction { kNone, kSetAttributes, kRestoreWeights, kSpliceSource };
// The names reports use ("hyperparameters", "set-attributes", ...): part of the JSON schema.
std::string to_string(Stage stage);
std::string to_string(FaultCategory category);
std::string to_string(RepairAction action);

struct Finding {
  Stage stage = Stage::kGraph;
  std::string kind;      // e.g. "resize coordinate mode", "weights rounded to float16"
  std::string detail;    // evidence, with numbers
  double confidence = 0.5;
};

// What repair should do about a fault.
struct RepairPlan {
  RepairAction action = RepairAction::kNone;
  int target_node = -1, source_node = -1;
  std::map<std::string, std::string> attributes;  // canonical name -> source value (set-attributes)
  std::string text;    // for people
};

struct Fault {
  TensorPair segment;
  FaultCategory category = FaultCategory::kNumeric;
  std::string kind;
  std::string summary;   // one line
  std::vector<Finding> findings;
  double confidence = 0.5;
  RepairPlan repair;
  // The segment's ops in each model's own names: "Upsample 'up/Upsample'".
  std::vector<std::string> target_ops, source_ops;
  int target_node = -1, source_node = -1;  // the op the fault is pinned to (indices), when one is
  // Canonical attributes of those two ops (the target's axes in the source's frame), for a side-by-side view.
  std::string target_op_label, source_op_label;
  std::map<std::string, std::string> target_attributes, source_attributes;
};

// Faults that share one cause: the same diagnosis (category and kind) at several ops, as when a
// converter folds every BatchNorm the same wrong way. Reported once, with every place it shows.
struct RootCause {
  FaultCategory category = FaultCategory::kNumeric;
  std::string kind;
  std::string summary;       // one line: the first fault's, with the count of places
  std::vector<size_t> faults;  // indexes into Diagnosis::faults, most severe first
};

struct Diagnosis {
  std::vector<Fault> faults;  // ranked, most severe first; one per op (findings of one op merged)
  std::vector<RootCause> root_causes;  // the faults grouped by cause, in the order of their first fault
  std::vector<std::string> tool_notes;  // producer facts
};

Diagnosis diagnose(const Model& source, const Model& target, const SourceTrace& trace, const Alignment& alignment);

nlohmann::json fault_json(const Fault& f);

}  // namespace transfix
