// transfix localize SOURCE TARGET: every fault of a conversion, in the models' own names, with
// evidence and a suggested repair.
#include <filesystem>
#include <iostream>

#include "localize/localize.h"
#include "cli/commands.h"
#include "cli/data_args.h"
#include "data/atomic_file.h"
#include "formats/model_io.h"
#include "report/html_report.h"
#include "core/thread_pool.h"

namespace transfix::cli {

namespace {

struct LocalizeArgs {
  std::string source, target;
  DataArgs data;
  std::string report, html;
  int threads = 0;
  bool all_pairs = false;
  int probes = 2;
  int scan = 16;
};

std::string g(double v) {
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3g", v);
  return buf;
}

int localize(const LocalizeArgs& a) {
  if (a.threads > 0) set_num_threads(a.threads);
  a.data.check("localize");
  for (const auto* p : {&a.source, &a.target})
    if (!model_exists(*p)) throw InputError("localize: '" + *p + "' does not exist");
  Model source = load_model(a.source), target = load_model(a.target);
  LocalizeOptions opt;
  opt.source_preprocess = a.data.source(), opt.target_preprocess = a.data.target();
  if (a.probes < 1) throw InputError("localize: --probes must be >= 1");
  opt.probes = a.probes;
  if (a.scan < 1) throw InputError("localize: --scan must be >= 1");
  opt.scan = a.scan;
  auto data = a.data.factory()(source, &target);
  LocalizeResult r = localize_models(source, target, *data, opt);
  print_localize(r, a.all_pairs);
  if (!a.report.empty()) {
    write_file_atomic(a.report, localize_json(r).dump(2) + "\n");
    std::cout << "report: " << a.report << "\n";
  }
  if (!a.html.empty()) {
    write_html_report(a.html, localize_json(r));
    std::cout << "html report: " << a.html << "\n";
  }
  return r.diagnosis.faults.empty() ? kExitOk : kExitFinding;
}

}  // namespace

// What one fault is: where (target and source ops), how large, what diagnosis, what repair.
void print_fault_details(const Fault& f) {
  if (f.category != FaultCategory::kCrash) {
    std::cout << "   target: '" << f.segment.target << "'";
    if (!f.target_ops.empty()) {
      std::cout << " from ";
      for (size_t i = 0; i < f.target_ops.size() && i < 4; ++i) std::cout << (i ? ", " : "") << f.target_ops[i];
      if (f.target_ops.size() > 4) std::cout << ", ...";
    }
    std::cout << "\n   source: '" << f.segment.source << "'";
    if (!f.source_ops.empty()) {
      std::cout << " from ";
      for (size_t i = 0; i < f.source_ops.size() && i < 4; ++i) std::cout << (i ? ", " : "") << f.source_ops[i];
      if (f.source_ops.size() > 4) std::cout << ", ...";
    }
    std::cout << "\n   error introduced here: " << g(f.segment.error) << " (" << g(f.segment.relative())
              << " of the tensor's scale, " << g(f.segment.noise_units()) << " x noise floor)\n";
  }
  for (const auto& x : f.findings) std::cout << "   [" << to_string(x.stage) << "] " << x.kind << ": " << x.detail << "\n";
  if (!f.repair.text.empty()) std::cout << "   repair: " << f.repair.text << "\n";
}

void print_localize(const LocalizeResult& r, bool all_pairs) {
  const Alignment& al = r.alignment;
  for (const auto& n : r.diagnosis.tool_notes) std::cout << n << "\n";
  std::cout << "probe: " << r.probe.sample_id << "\n";
  for (const auto& n : r.probe.notes) std::cout << "contract: " << n << "\n";
  std::cout << "mapping: " << al.target_tensors_mapped << "/" << al.target_tensors << " target tensors, "
            << al.source_tensors_mapped << "/" << al.source_tensors << " source tensors, " << al.source_nodes_covered << "/"
            << al.source_nodes << " source ops covered (" << al.passes << " pass" << (al.passes == 1 ? "" : "es") << ", "
            << g(r.seconds) << " s)\n";
  if (all_pairs)
    for (const auto& p : al.pairs)
      std::cout << "  " << (p.clean ? "  " : "! ") << p.target << " <- " << p.source << " [" << p.transform.describe()
                << "] error " << g(p.error) << " (" << g(p.noise_units()) << " x noise)\n";
  if (r.diagnosis.faults.empty()) {
    std::cout << "faults: none (every mapped tensor within its noise threshold)\n";
    return;
  }
  const auto& causes = r.diagnosis.root_causes;
  std::cout << "faults: " << r.diagnosis.faults.size();
  if (causes.size() != r.diagnosis.faults.size())
    std::cout << " at as many ops, from " << causes.size() << " root cause" << (causes.size() == 1 ? "" : "s");
  std::cout << "\n";
  int rank = 0;
  for (const auto& c : causes) {
    const Fault& f = r.diagnosis.faults[c.faults[0]];
    std::cout << ++rank << ". " << c.summary << " (confidence " << g(f.confidence) << ")\n";
    print_fault_details(f);
    if (c.faults.size() > 1) {
      std::cout << "   also at:";
      for (size_t i = 1; i < c.faults.size() && i < 9; ++i) {
        const Fault& o = r.diagnosis.faults[c.faults[i]];
        std::cout << (i > 1 ? "," : "") << " " << o.summary.substr(o.summary.find(" at ") + 4);
      }
      if (c.faults.size() > 9) std::cout << ", and " << c.faults.size() - 9 << " more";
      std::cout << "\n";
    }
  }
}

void add_localize(CLI::App& app) {
  auto a = std::make_shared<LocalizeArgs>();
  auto* cmd = app.add_subcommand("localize",
                                 "Find where and why a conversion is wrong: map tensors between the models, attribute "
                                 "error to the ops that introduce it, diagnose each fault (exit 0 none, 1 faults, 2 error)");
  cmd->add_option("source", a->source, "The original model")->required();
  cmd->add_option("target", a->target, "Its conversion")->required();
  add_data_options(cmd, a->data);
  cmd->add_option("--report", a->report, "Write a JSON report (schema: docs/localize.md)");
  cmd->add_option("--html", a->html, "Write a self-contained HTML report (docs/report.md)");
  cmd->add_option("--probes", a->probes, "Samples tried in turn until one shows a fault (default 2)");
  cmd->add_option("--scan", a->scan,
                  "Samples both models run first; probes are tried worst first, by output error (default 16; 1: in data order)");
  cmd->add_flag("--all-pairs", a->all_pairs, "Print every mapped tensor pair");
  cmd->add_option("--threads", a->threads, "Threads (default: all cores)");
  cmd->callback([a] { exit_code() = localize(*a); });
}

}  // namespace transfix::cli
