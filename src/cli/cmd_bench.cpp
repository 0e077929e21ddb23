// transfix bench MODEL: load time, latency (min/median/p90 after warm-up), peak memory.
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "formats/model_io.h"
#include "runtime/interpreter.h"
#include "core/thread_pool.h"

namespace transfix::cli {

namespace {

struct BenchArgs {
  std::string model;
  std::vector<std::string> inputs;
  int threads = 0;
  int iterations = 20;
  int warmup = 3;
  std::string precision = "fp32";
  bool json = false;
  bool profile = false;
};

// Time per op type over the timed runs, largest first (like benchmark_model's op profiling).
void print_profile(const Model& model, const std::vector<RunStats>& runs) {
  const Graph& graph = runs.front().graph ? *runs.front().graph : model.graph;  // the graph that ran
  std::map<std::string, std::pair<double, int>> by_op;  // op -> (total ms, node count)
  double total = 0;
  for (size_t i = 0; i < graph.nodes.size(); ++i) {
    double ms = 0;
    for (const auto& r : runs) ms += r.node_ms[i];
    ms /= static_cast<double>(runs.size());
    auto& e = by_op[graph.nodes[i].op_type];
    e.first += ms;
    e.second += 1;
    total += ms;
  }
  std::vector<std::pair<double, std::string>> rows;
  for (const auto& [op, e] : by_op) rows.push_back({e.first, op});
  std::sort(rows.rbegin(), rows.rend());
  std::printf("%-24s %6s %10s %7s\n", "op", "nodes", "ms/run", "share");
  for (const auto& [ms, op] : rows)
    std::printf("%-24s %6d %10.3f %6.1f%%\n", op.c_str(), by_op[op].second, ms, total > 0 ? 100 * ms / total : 0.0);

  std::vector<std::pair<double, size_t>> nodes;
  for (size_t i = 0; i < graph.nodes.size(); ++i) {
    double ms = 0;
    for (const auto& r : runs) ms += r.node_ms[i];
    nodes.push_back({ms / static_cast<double>(runs.size()), i});
  }
  std::sort(nodes.rbegin(), nodes.rend());
  std::printf("\nslowest nodes:\n");
  for (size_t k = 0; k < std::min<size_t>(10, nodes.size()); ++k) {
    const Node& n = graph.nodes[nodes[k].second];
    std::printf("  %8.3f ms  %-12s %s\n", nodes[k].first, n.op_type.c_str(), n.name.c_str());
  }
}

double ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

double peak_rss_bytes() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_maxrss) * 1024.0;
}

int bench(const BenchArgs& a) {
  if (a.iterations < 1 || a.warmup < 0) throw InputError("bench: --iterations must be >= 1 and --warmup >= 0");
  if (a.threads > 0) set_num_threads(a.threads);
  auto t0 = std::chrono::steady_clock::now();
  // The interpreter owns the model, as a deployment runtime would: each weight is held once.
  auto owner = Interpreter::owning(load_model(a.model), {parse_precision(a.precision)});
  const Interpreter& interp = *owner;
  double load_ms = ms_since(t0);
  auto inputs = load_inputs(interp.model(), a.inputs, /*random=*/true, /*seed=*/0);
  for (int i = 0; i < a.warmup; ++i) interp.run(inputs);
  std::vector<double> lat;
  std::vector<RunStats> stats(a.profile ? static_cast<size_t>(a.iterations) : 0);
  for (int i = 0; i < a.iterations; ++i) {
    auto t = std::chrono::steady_clock::now();
    interp.run(inputs, nullptr, a.profile ? &stats[static_cast<size_t>(i)] : nullptr);
    lat.push_back(ms_since(t));
  }
  std::sort(lat.begin(), lat.end());
  auto pct = [&](double p) { return lat[std::min(lat.size() - 1, static_cast<size_t>(p * static_cast<double>(lat.size() - 1) + 0.5))]; };
  double peak = peak_rss_bytes();
  if (a.json) {
    nlohmann::json j = {{"model", a.model}, {"threads", num_threads()}, {"precision", a.precision},
                        {"iterations", a.iterations}, {"load_ms", load_ms},
                        {"latency_ms", {{"min", lat.front()}, {"median", pct(0.5)}, {"p90", pct(0.9)}}},
                        {"peak_memory_bytes", peak}};
    std::cout << j.dump(2) << "\n";
  } else {
    std::printf("model:        %s\nthreads:      %d  precision: %s  iterations: %d (after %d warm-up)\n", a.model.c_str(),
                num_threads(), a.precision.c_str(), a.iterations, a.warmup);
    std::printf("load:         %.1f ms\nlatency (ms): min %.2f  median %.2f  p90 %.2f\npeak memory:  %s\n", load_ms,
                lat.front(), pct(0.5), pct(0.9), human_bytes(peak).c_str());
    if (a.profile) print_profile(interp.model(), stats);
  }
  return kExitOk;
}

}  // namespace

void add_bench(CLI::App& app) {
  auto a = std::make_shared<BenchArgs>();
  auto* cmd = app.add_subcommand("bench", "Measure load time, inference latency and peak memory");
  cmd->add_option("model", a->model, "Model file")->required();
  cmd->add_option("-i,--input", a->inputs, "Inputs as for run (default: seeded random)");
  cmd->add_option("--threads", a->threads, "Threads (default: all cores)");
  cmd->add_option("--iterations", a->iterations, "Timed runs (default 20)");
  cmd->add_option("--warmup", a->warmup, "Untimed warm-up runs (default 3)");
  cmd->add_option("--precision", a->precision, "fp32 or fp64");
  cmd->add_flag("--json", a->json, "Print JSON");
  cmd->add_flag("--profile", a->profile, "Also print the time spent per op type");
  cmd->callback([a] { exit_code() = bench(*a); });
}

}  // namespace transfix::cli
