// Fault injection: writes a faulty "conversion" of a model plus the ground truth, to evaluate
// localize and repair on known faults (transfix mutate).
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/graph.h"

namespace transfix {

struct MutationKind {
  std::string name;      // "weights-fp16", "pads", ...
  std::string category;  // what a correct diagnosis says: "input", "parameters", "hyperparameters", "graph"
  std::string description;
};
const std::vector<MutationKind>& mutation_kinds();

struct Mutation {
  std::string kind, category, description;
  std::string node;      // the node changed or inserted (its name in the mutated model)
  std::string op_type;
  std::string detail;    // what changed, with values
  uint64_t seed = 0;
};

// Applies one fault to `model` (a copy is changed). `at`: node name to mutate (else a seeded choice
// among the nodes the kind applies to). InputError when the kind does not apply to this model.
Mutation mutate_model(Model& model, const std::string& kind, const std::optional<std::string>& at, uint64_t seed);

// Node names a kind can be applied to (empty: not applicable).
std::vector<std::string> mutation_sites(const Model& model, const std::string& kind);

nlohmann::json mutation_json(const Mutation& m);

}  // namespace transfix
