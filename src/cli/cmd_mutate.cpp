// transfix mutate MODEL --fault KIND -o OUT: writes a faulty conversion and its ground truth, to
// evaluate localize and repair on known faults.
#include <filesystem>
#include <iostream>

#include "cli/commands.h"
#include "core/errors.h"
#include "data/atomic_file.h"
#include "formats/model_io.h"
#include "mutate/mutate.h"

namespace transfix::cli {

namespace {

struct MutateArgs {
  std::string model, fault, at, output, truth;
  uint64_t seed = 0;
  bool list = false;
};

int mutate(const MutateArgs& a) {
  if (a.list) {
    Model m = load_model(a.model);
    for (const auto& k : mutation_kinds()) {
      auto sites = mutation_sites(m, k.name);
      std::cout << k.name << " (" << k.category << "): " << sites.size() << " site" << (sites.size() == 1 ? "" : "s")
                << " - " << k.description << "\n";
    }
    return kExitOk;
  }
  if (a.fault.empty() || a.output.empty()) throw InputError("mutate: --fault KIND and -o OUT are required (or --list)");
  namespace fs = std::filesystem;
  if (fs::exists(a.output) && fs::equivalent(a.model, a.output)) throw InputError("mutate: refusing to write over the input model");
  Model m = load_model(a.model);
  std::optional<std::string> at;
  if (!a.at.empty()) at = a.at;
  Mutation mu = mutate_model(m, a.fault, at, a.seed);
  save_model(m, a.output);
  const std::string truth = a.truth.empty() ? fs::path(a.output).replace_extension(".truth.json").string() : a.truth;
  write_file_atomic(truth, mutation_json(mu).dump(2) + "\n");
  std::cout << a.fault << " (" << mu.category << ") at " << mu.op_type << " '" << mu.node << "': " << mu.detail << "\n"
            << "wrote " << a.output << " and " << truth << "\n";
  return kExitOk;
}

}  // namespace

void add_mutate(CLI::App& app) {
  auto a = std::make_shared<MutateArgs>();
  auto* cmd = app.add_subcommand("mutate", "Inject a known conversion fault into a model (for evaluating localize and repair)");
  cmd->add_option("model", a->model, "The model to mutate (not modified)")->required();
  cmd->add_option("--fault", a->fault, "Fault kind (see --list)");
  cmd->add_option("--at", a->at, "Node to mutate (default: a seeded choice among the nodes the kind applies to)");
  cmd->add_option("--seed", a->seed, "Seed for the choice of node and random values (default 0)");
  cmd->add_option("-o,--output", a->output, "Where to write the faulty model");
  cmd->add_option("--truth", a->truth, "Where to write the ground truth JSON (default: OUT with .truth.json)");
  cmd->add_flag("--list", a->list, "List fault kinds and how many nodes of MODEL each applies to");
  cmd->callback([a] { exit_code() = mutate(*a); });
}

}  // namespace transfix::cli
