// transfix repair SOURCE TARGET -o FIXED: fixes what localize finds, keeps only fixes that measurably
// help on data, writes the repaired model in the target's format and verifies it with compare.
#include <filesystem>
#include <iostream>

#include "cli/commands.h"
#include "cli/data_args.h"
#include "data/atomic_file.h"
#include "formats/model_io.h"
#include "repair/repair.h"
#include "repair/verify.h"
#include "report/html_report.h"
#include "core/thread_pool.h"

namespace fs = std::filesystem;

namespace transfix::cli {

namespace {

struct RepairArgs {
  std::string source, target, output, report, html;
  DataArgs data;
  int64_t samples = 4;
  double max_time = 60;
  bool dry_run = false, float_restore = false;
  int threads = 0;
};

bool same_file(const std::string& a, const std::string& b) {
  std::error_code ec;
  return fs::exists(a) && fs::exists(b) && fs::equivalent(a, b, ec);
}

// The JSON log and the HTML page, once the outcome (and the verification, when one ran) is known.
void write_reports(const RepairArgs& a, const nlohmann::json& log) {
  if (!a.report.empty()) write_file_atomic(a.report, log.dump(2) + "\n");
  if (!a.html.empty()) {
    write_html_report(a.html, log);
    std::cout << "html report: " << a.html << "\n";
  }
}

int repair(const RepairArgs& a) {
  if (a.threads > 0) set_num_threads(a.threads);
  a.data.check("repair");
  if (!a.dry_run && a.output.empty()) throw InputError("repair: -o FIXED is required (or --dry-run)");
  for (const auto* p : {&a.source, &a.target})
    if (!model_exists(*p)) throw InputError("repair: '" + *p + "' does not exist");
  if (!a.dry_run && (same_file(a.output, a.source) || same_file(a.output, a.target)))
    throw InputError("repair: refusing to write over an input model");
  if (a.samples < 1) throw InputError("repair: --samples must be >= 1");
  Model source = load_model(a.source), target = load_model(a.target);
  RepairOptions opt;
  opt.localize.source_preprocess = a.data.source(), opt.localize.target_preprocess = a.data.target();
  opt.max_seconds = a.max_time;
  opt.float_restore = a.float_restore;
  auto data = a.data.factory()(source, &target);
  const std::vector<ProbeInputs> samples = repair_samples(*data, source, target, opt.localize, a.samples);
  RepairResult r = repair_model(source, target, samples, opt);
  std::cout << "before repair (" << samples.size() << " verification sample" << (samples.size() == 1 ? "" : "s")
            << "): " << r.initial.describe() << "\n";
  print_localize(r.first, false);
  std::cout << "repair:\n";
  if (r.fixes.empty()) std::cout << "  nothing to repair\n";
  for (const auto& f : r.fixes) {
    std::cout << "  " << (f.kept ? "kept      " : "rolled back") << " " << f.fault << "\n    " << f.text << "\n";
    if (f.kept) std::cout << "    effect: " << f.before.describe() << " -> " << f.after.describe() << "\n";
    else std::cout << "    why: " << f.why << "\n";
  }
  std::cout << "after repair: " << r.final_score.describe() << " (" << r.rounds << " round" << (r.rounds == 1 ? "" : "s")
            << ", " << r.seconds << " s)\n";
  int kept = 0;
  for (const auto& f : r.fixes) kept += f.kept;
  nlohmann::json log = repair_json(r);
  log["samples"] = samples.size();
  log["dry_run"] = a.dry_run;
  if (a.dry_run) {
    std::cout << "dry run: nothing written\n";
    write_reports(a, log);
    return kept ? kExitFinding : kExitOk;
  }
  if (!kept) {
    std::cout << (r.first.diagnosis.faults.empty() ? "no fault found: the target is left as it is, nothing written\n"
                                                   : "no fix helped: nothing written\n");
    write_reports(a, log);
    return r.first.diagnosis.faults.empty() ? kExitOk : kExitFinding;
  }
  save_model(r.repaired, a.output);
  std::cout << "wrote " << a.output << "\n";
  // Verify the written file as a user would: compare against the source.
  CompareOptions copt;
  copt.source_preprocess = opt.localize.source_preprocess, copt.target_preprocess = opt.localize.target_preprocess;
  const RepairVerification v = verify_repair(a.source, a.output, r, a.data.factory(), copt);
  for (const auto& o : v.compare.outputs)
    std::cout << "verify: output '" << o.source_name << "': " << verdict_name(o.verdict) << "\n";
  std::cout << "verdict after repair: " << verdict_name(v.compare.verdict) << "\n";
  log["output"] = a.output;
  log["verify"] = compare_report_json(v.compare, copt);
  log["intended_quantization_only"] = v.intended_quantization_only;
  if (v.intended_quantization_only)
    std::cout << "the rest is the target's intended quantization: no labels flip and localize finds no fault after repair\n";
  write_reports(a, log);
  return v.exit_code;
}

}  // namespace

void add_repair(CLI::App& app) {
  auto a = std::make_shared<RepairArgs>();
  auto* cmd = app.add_subcommand("repair",
                                 "Fix a conversion: apply the repairs localize suggests, keep each only if it helps on "
                                 "data, write the fixed model and verify it (exit 0 equivalent after repair, 1 not, 2 error)");
  cmd->add_option("source", a->source, "The original model")->required();
  cmd->add_option("target", a->target, "Its conversion (not modified)")->required();
  cmd->add_option("-o,--output", a->output, "Where to write the repaired model (its format follows the extension)");
  add_data_options(cmd, a->data);
  cmd->add_option("--samples", a->samples, "Samples used to verify each fix (default 4)");
  cmd->add_option("--max-time", a->max_time, "Stop trying fixes after this many seconds (default 60)");
  cmd->add_flag("--dry-run", a->dry_run, "Print the plan and its measured effect without writing");
  cmd->add_flag("--float-restore", a->float_restore, "Restore weights in float even where the target is quantized");
  cmd->add_option("--report", a->report, "Write a JSON repair log");
  cmd->add_option("--html", a->html, "Write a self-contained HTML report: before/after, fixes and their effect (docs/report.md)");
  cmd->add_option("--threads", a->threads, "Threads (default: all cores)");
  cmd->callback([a] { exit_code() = repair(*a); });
}

}  // namespace transfix::cli
