#include <cmath>
#include <cstdio>
#include <random>

#include "cli/commands.h"
#include "core/errors.h"
#include "data/dataset.h"
#include "data/npy.h"

namespace transfix::cli {

int& exit_code() {
  static int code = kExitOk;
  return code;
}

Precision parse_precision(const std::string& s) {
  if (s == "fp32") return Precision::kF32;
  if (s == "fp64") return Precision::kF64;
  throw InputError("--precision must be fp32 or fp64, not '" + s + "'");
}

QuantMode parse_quant_mode(const std::string& s) {
  if (s == "int") return QuantMode::kInteger;
  if (s == "int-xnnpack") return QuantMode::kIntegerXnnpack;
  if (s == "dequantized") return QuantMode::kDequantized;
  throw InputError("--quant-mode must be int, int-xnnpack or dequantized, not '" + s + "'");
}

std::string human_bytes(double bytes) {
  const char* units[] = {"B", "KB", "MB", "GB", "TB"};
  int u = 0;
  while (bytes >= 1000 && u < 4) { bytes /= 1000; ++u; }
  char buf[32];
  std::snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.1f %s", bytes, units[u]);
  return buf;
}


std::map<std::string, Tensor> load_inputs(const Model& model, const std::vector<std::string>& specs, bool random,
                                          uint64_t seed) {
  const auto& graph_inputs = model.graph.inputs;
  std::map<std::string, Tensor> inputs;
  size_t position = 0;
  for (const auto& spec : specs) {
    auto eq = spec.find('=');
    std::string name, file;
    if (eq == std::string::npos) {
      if (position >= graph_inputs.size())
        throw InputError("--input " + spec + ": the model has only " + std::to_string(graph_inputs.size()) + " inputs");
      name = graph_inputs[position].name;
      file = spec;
    } else {
      name = spec.substr(0, eq);
      file = spec.substr(eq + 1);
    }
    ++position;
    bool known = false;
    for (const auto& in : graph_inputs) known |= in.name == name;
    if (!known) {
      std::string names;
      for (const auto& in : graph_inputs) names += (names.empty() ? "" : ", ") + in.name;
      throw InputError("--input: the model has no input '" + name + "' (inputs: " + names + ")");
    }
    inputs[name] = read_npy(file);
  }
  std::mt19937_64 rng(seed);
  for (const auto& in : graph_inputs) {
    if (inputs.count(in.name) || model.graph.initializers.count(in.name)) continue;
    if (!random)
      throw InputError("no data for model input '" + in.name + "' " + shape_str(in.shape) +
                       ": pass --input " + in.name + "=FILE.npy or --random");
    inputs[in.name] = random_input(in, rng);
  }
  return inputs;
}

}  // namespace transfix::cli
