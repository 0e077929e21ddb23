// transfix coverage MODEL... [--against FILE...]: which operator sequences the models contain, which
// of them tested conversions exercised, and which are associated with failing conversions.
#include <cstdio>
#include <iostream>

#include "coverage/coverage_report.h"
#include "cli/commands.h"
#include "core/errors.h"
#include "data/atomic_file.h"
#include "formats/model_io.h"
#include "report/html_report.h"

namespace transfix::cli {

namespace {

struct CoverageArgs {
  std::vector<std::string> models, against;
  int n = 3;
  std::string fold = "noops,bn";
  std::string json, html;
  bool per_model = false;
  bool skip_unreadable = false;
  size_t limit = 15;
};

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

std::string joined(const std::vector<std::string>& path) {
  std::string s;
  for (const auto& p : path) s += (s.empty() ? "" : " -> ") + p;
  return s;
}

void print_models(const CoverageResult& r) {
  for (const auto& m : r.models) {
    std::cout << "  " << m.path << " (" << m.format << "): " << m.ops << " ops, " << m.paths << " paths, "
              << m.distinct_sequences << " distinct sequences";
    if (r.has_evidence()) std::cout << ", " << m.untested_sequences << " untested (" << m.untested_paths << " paths)";
    std::cout << "\n";
  }
}

void print_conversions(const CoverageResult& r) {
  size_t passing = 0, localized = 0;
  for (const auto& c : r.conversions) passing += c.evidence.passed, localized += !c.evidence.passed && c.localized;
  std::cout << "against: " << r.conversions.size() << " tested conversion" << (r.conversions.size() == 1 ? "" : "s") << ": "
            << passing << " passing, " << r.conversions.size() - passing << " failing (" << localized << " localized)\n";
  for (const auto& c : r.conversions)
    if (!c.note.empty()) std::cout << "  " << c.evidence.file << ": " << c.note << "\n";
}

void print_rows(const CoverageResult& r, const std::vector<const SequenceStats*>& rows, size_t limit) {
  std::cout << "       paths  models  sequence\n";
  for (size_t i = 0; i < rows.size() && i < limit; ++i) {
    const auto& s = *rows[i];
    std::cout << "  " << fmt("%8.0f", static_cast<double>(s.occurrences)) << "  " << fmt("%6.0f", s.models) << "  "
              << r.describe(s.sequence) << "\n";
    if (!s.example.empty()) std::cout << "                    e.g. " << joined(s.example) << "  (" << s.example_model << ")\n";
  }
  if (rows.size() > limit) std::cout << "  ... " << rows.size() - limit << " more (--limit, --json)\n";
}

void print_ranked(const CoverageResult& r, size_t limit) {
  const auto ranked = r.failure_ranked(r.options.n);
  if (ranked.empty()) return;
  std::cout << "failure-associated sequences (" << ranked.size()
            << "), ranked by a one-sided Fisher exact test over paths (failing = through a failing segment):\n"
            << "  rank   p-value    lift  failing  clean  in models  sequence\n";
  for (size_t i = 0; i < ranked.size() && i < limit; ++i) {
    const auto& s = *ranked[i];
    std::cout << "  " << fmt("%4.0f", static_cast<double>(i + 1)) << fmt("%10.2g", s.p_value) << fmt("%8.2f", s.lift)
              << fmt("%9.0f", static_cast<double>(s.failing)) << fmt("%7.0f", static_cast<double>(s.clean))
              << (s.models > 0 ? "  yes        " : "  no         ") << r.describe(s.sequence) << "\n";
    if (!s.failing_example.empty())
      std::cout << "        failing in " << joined(s.failing_example) << "  (" << s.failing_example_model << ")\n";
  }
  if (ranked.size() > limit) std::cout << "  ... " << ranked.size() - limit << " more (--limit, --json)\n";
}

void print_coverage(const CoverageResult& r, size_t limit) {
  const int n = r.options.n;
  const auto seqs = r.in_models(n), ops = r.in_models(1);
  uint64_t paths = 0;
  for (const auto* s : seqs) paths += s->occurrences;
  std::cout << "coverage: " << r.models.size() << " model" << (r.models.size() == 1 ? "" : "s") << ", sequences of "
            << n << " op" << (n == 1 ? "" : "s") << " along data edges (fold: " << coverage_fold_name(r.options.fold) << ")\n";
  print_models(r);
  std::cout << "ops: " << ops.size() << " distinct; sequences: " << seqs.size() << " distinct, " << paths << " paths\n";
  if (!r.has_evidence()) {
    std::cout << "most frequent sequences:\n";
    print_rows(r, seqs, limit);
    return;
  }
  print_conversions(r);
  const auto untested = r.untested(n), untested_ops = r.untested(1);
  uint64_t untested_paths = 0;
  for (const auto* s : untested) untested_paths += s->occurrences;
  std::cout << "untested: " << untested.size() << " of " << seqs.size() << " sequences (" << untested_paths << " of "
            << paths << " paths) and " << untested_ops.size() << " of " << ops.size()
            << " ops of the models never occur in a passing conversion\n";
  if (!untested.empty()) print_rows(r, untested, limit);
  print_ranked(r, limit);
}

int coverage(const CoverageArgs& a) {
  CoverageOptions opt;
  opt.n = a.n, opt.fold = parse_coverage_fold(a.fold), opt.per_model = a.per_model;
  CoverageBuilder builder(opt);
  std::vector<std::pair<std::string, std::string>> skipped;
  for (const auto& file : a.against)
    for (const auto& e : read_conversion_evidence(file)) {
      try {
        builder.add_conversion(e);
      } catch (const InputError& err) {
        if (!a.skip_unreadable) throw;
        skipped.push_back({e.source, err.what()});
      }
    }
  for (const auto& path : a.models) {
    try {
      builder.add_model(load_model(path));
    } catch (const InputError& e) {
      if (!a.skip_unreadable) throw;
      skipped.push_back({path, e.what()});
    }
  }
  CoverageResult r = builder.finish();
  if (r.models.empty()) throw InputError("coverage: none of the " + std::to_string(a.models.size()) + " models could be read");
  print_coverage(r, a.limit);
  if (!skipped.empty()) {
    std::cout << "skipped " << skipped.size() << " unreadable model" << (skipped.size() == 1 ? "" : "s") << ":\n";
    for (size_t i = 0; i < skipped.size() && i < 5; ++i) std::cout << "  " << skipped[i].second << "\n";
  }
  const bool gaps = r.has_evidence() && !r.untested(r.options.n).empty();
  if (!a.json.empty() || !a.html.empty()) {
    // The page embeds exactly what --json writes.
    nlohmann::json j = coverage_json(r);
    nlohmann::json sk = nlohmann::json::array();
    for (const auto& [path, why] : skipped) sk.push_back({{"path", path}, {"error", why}});
    j["skipped"] = sk;
    j["exit_code"] = gaps ? kExitFinding : kExitOk;
    if (!a.json.empty()) {
      write_file_atomic(a.json, j.dump(2) + "\n");
      std::cout << "json: " << a.json << "\n";
    }
    if (!a.html.empty()) {
      write_html_report(a.html, j);
      std::cout << "html report: " << a.html << "\n";
    }
  }
  return gaps ? kExitFinding : kExitOk;
}

}  // namespace

void add_coverage(CLI::App& app) {
  auto a = std::make_shared<CoverageArgs>();
  auto* cmd = app.add_subcommand(
      "coverage",
      "Operator-sequence coverage: the ops and n-op sequences of the models, which ones tested conversions "
      "exercised, which are associated with failure (exit 0, 1 when --against is given and some sequence of the "
      "models never occurs in a passing conversion, 2 error)");
  cmd->add_option("models", a->models, "Models under study (any format transfix reads)")->required();
  cmd->add_option("--against", a->against,
                  "Tested conversions: localize/compare JSON reports, or a pair list {\"pairs\": [{source, target, verdict}]}")
      ->expected(1, -1);
  cmd->add_option("--n", a->n, "Sequence length: paths of n ops along data edges, 1..5 (default 3)");
  cmd->add_option("--fold", a->fold, "Ops seen through: none, or a comma list of noops (Identity, Dropout), bn (BatchNormalization "
                                     "after a Conv/Gemm/MatMul), layout (Transpose, Reshape, Flatten, Squeeze, Unsqueeze); "
                                     "default noops,bn");
  cmd->add_option("--json", a->json, "Write the result as JSON (schema transfix.coverage/1, docs/coverage.md)");
  cmd->add_option("--html", a->html, "Write a self-contained HTML page of the result (docs/report.md)");
  cmd->add_flag("--per-model", a->per_model, "JSON: every model's own sequence counts");
  cmd->add_flag("--skip-unreadable", a->skip_unreadable, "Skip (and list) models, and conversions whose model, that cannot be read instead of failing");
  cmd->add_option("--limit", a->limit, "Rows per table in the text output (default 15)");
  cmd->callback([a] { exit_code() = coverage(*a); });
}

}  // namespace transfix::cli
