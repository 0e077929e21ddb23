// The transfix subcommands. Each returns the process exit code: 0 ok, 1 finding, 2 usage or input error.
#pragma once
#include <map>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "core/graph.h"
#include "runtime/interpreter.h"
#include "runtime/kernel.h"

namespace transfix {
struct LocalizeResult;
}

namespace transfix::cli {

constexpr int kExitOk = 0;
constexpr int kExitFinding = 1;
constexpr int kExitError = 2;

// Exit code set by the subcommand that ran.
int& exit_code();

void add_inspect(CLI::App& app);
void add_run(CLI::App& app);
void add_convert(CLI::App& app);
void add_bench(CLI::App& app);
void add_compare(CLI::App& app);
void add_merge(CLI::App& app);
void add_localize(CLI::App& app);
void add_mutate(CLI::App& app);
void add_repair(CLI::App& app);
void add_coverage(CLI::App& app);

// Shared input handling for run/bench: "--input NAME=file.npy" or "--input file.npy" (by position);
// graph inputs left unspecified are filled with seeded uniform [0,1) data when `random` is set.
std::map<std::string, Tensor> load_inputs(const Model& model, const std::vector<std::string>& specs, bool random,
                                          uint64_t seed);
Precision parse_precision(const std::string& s);
QuantMode parse_quant_mode(const std::string& s);
// The localize result as text (localize and repair print it).
void print_localize(const LocalizeResult& r, bool all_pairs);
// Human-readable byte count: "13.4 MB".
std::string human_bytes(double bytes);

}  // namespace transfix::cli
