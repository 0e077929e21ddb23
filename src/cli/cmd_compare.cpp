// transfix compare SOURCE TARGET: run a model and its conversion on the same real inputs and say
// whether the conversion is equivalent, judged against the source's own fp32 rounding noise.
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <tuple>
#include <iostream>

#include "compare/compare.h"
#include "cli/commands.h"
#include "formats/model_io.h"
#include "cli/data_args.h"
#include "data/atomic_file.h"
#include "report/html_report.h"
#include "core/thread_pool.h"

namespace fs = std::filesystem;

namespace transfix::cli {

namespace {

struct CompareArgs {
  std::string source, target;
  DataArgs data;
  int64_t limit = -1;
  int64_t calibration_samples = 8;
  double noise_multiple = 8.0;
  std::optional<double> atol, rtol;
  double max_flip_rate = 0.0;
  double precision_budget = 2.0;
  std::string report, html;
  bool per_sample = false;
  std::string shard;  // "I/N"
  std::string source_runtime = "transfix", target_runtime = "transfix";
  std::string quant_mode = "int";
  int threads = 0;
};

struct MergeArgs {
  std::vector<std::string> reports;
  std::string report, html;
};

// "I/N" (1 <= I <= N) -> 0-based index and count.
std::pair<int64_t, int64_t> parse_shard(const std::string& spec) {
  const size_t slash = spec.find('/');
  try {
    if (slash != std::string::npos) {
      size_t used_i = 0, used_n = 0;
      const int64_t i = std::stoll(spec.substr(0, slash), &used_i), n = std::stoll(spec.substr(slash + 1), &used_n);
      if (used_i == slash && used_n == spec.size() - slash - 1 && n >= 1 && i >= 1 && i <= n) return {i - 1, n};
    }
  } catch (const std::exception&) {
  }
  throw InputError("--shard must be I/N with 1 <= I <= N, got '" + spec + "'");
}

// Flipped images the HTML report shows as thumbnails (about 2-3 KB each).
constexpr int64_t kHtmlThumbnails = 200;

std::string g(double v) {
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3g", v);
  return buf;
}

std::string fmt7(double v) {  // cosine: 7 digits show 1 - 1e-7
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.7g", v);
  return buf;
}

std::string model_line(const ModelSummary& m) {
  std::string s = m.path;
  if (!m.loaded) return s + "  (failed to load)";
  s += "  (" + m.format;
  if (m.opset) s += " opset " + std::to_string(m.opset);
  if (!m.producer.empty()) s += ", " + m.producer;
  s += ")";
  if (m.runs) s += ", " + g(m.run_ms / static_cast<double>(m.runs)) + " ms/sample";
  if (!m.quant_mode.empty() && m.runtime == "transfix") s += ", " + m.quant_mode + " arithmetic";
  if (m.runtime != "transfix") s += ", run by " + m.runtime + (m.runtime_version.empty() ? "" : " (" + m.runtime_version + ")");
  return s;
}

std::string preprocess_line(const nlohmann::json& p) {
  std::string s = p["name"].get<std::string>() + ": ";
  if (p["resize"].is_object()) s += "resize shorter side " + std::to_string(p["resize"]["shorter_side"].get<int>()) + ", ";
  else if (p["resize"].is_array()) s += "resize " + p["resize"][0].dump() + "x" + p["resize"][1].dump() + ", ";
  if (p["crop"].is_array()) s += "crop " + p["crop"][0].dump() + "x" + p["crop"][1].dump() + ", ";
  s += p["channel_order"].get<std::string>() + " " + p["layout"].get<std::string>() + " " + p["dtype"].get<std::string>();
  return s;
}

void print_summary(const CompareResult& r, const CompareOptions& opt) {
  std::cout << "source:  " << model_line(r.source) << "\n";
  std::cout << "target:  " << model_line(r.target) << "\n";
  if (!r.data_kind.empty()) {
    std::cout << "data:    " << r.data_description << ": " << r.samples << " compared";
    if (r.limit >= 0) std::cout << " (--limit " << r.limit << ")";
    std::cout << ", " << r.skipped.size() << " skipped" << (r.labels ? ", labelled" : "") << "\n";
    for (size_t i = 0; i < r.skipped.size() && i < 5; ++i)
      std::cout << "  skipped " << r.skipped[i].id << ": " << r.skipped[i].reason << "\n";
    if (r.skipped.size() > 5) std::cout << "  ... and " << r.skipped.size() - 5 << " more (see --report)\n";
  }
  if (r.source_preprocess) {
    std::string s = preprocess_line(*r.source_preprocess);
    std::string t = r.target_preprocess ? preprocess_line(*r.target_preprocess) : "";
    if (s == t) std::cout << "preprocess: " << s << " (both)\n";
    else std::cout << "preprocess: source " << s << "\n            target " << (t.empty() ? "-" : t) << "\n";
  }
  for (const auto& n : r.input_notes) std::cout << "contract: " << n << "\n";
  std::cout << "noise floor: source fp32 vs fp64 on " << r.calibration_samples << " sample"
            << (r.calibration_samples == 1 ? "" : "s") << " (the first " << opt.calibration_samples
            << "; --calibration-samples)\n";
  for (const auto& o : r.outputs) {
    std::cout << "output '" << o.source_name << "'";
    if (!o.target_name.empty() && o.target_name != o.source_name) std::cout << " vs '" << o.target_name << "'";
    if (!o.shape.empty()) std::cout << " " << shape_str(o.shape);
    std::cout << " " << o.kind << ": " << verdict_name(o.verdict) << "\n";
    if (o.samples == 0) {
      for (const auto& why : o.reasons) std::cout << "  - " << why << "\n";
      continue;
    }
    if (o.kind == "classification") {
      int64_t all = o.flips + o.near_tie_flips;
      double inst = static_cast<double>(std::max<int64_t>(o.instances, 1));
      std::cout << "  top-1: " << o.instances - all << "/" << o.instances << " agree, " << o.flips << " flip"
                << (o.flips == 1 ? "" : "s") << " beyond noise";
      if (o.near_tie_flips) std::cout << " (+" << o.near_tie_flips << " near-tie)";
      if (!o.flip_pairs.empty()) {
        std::cout << "; flipped:";
        int shown = 0;
        for (const auto& [k, c] : o.flip_pairs) {
          if (shown++ == 5) { std::cout << " ..."; break; }
          std::cout << " " << k.first << "->" << k.second << (c > 1 ? " x" + std::to_string(c) : "");
        }
      }
      std::cout << "\n  top-" << opt.top_k << " overlap " << g(o.top_k_overlap_sum / inst) << " (min "
                << g(o.top_k_overlap_min) << "), Kendall tau " << g(o.kendall_tau_sum / inst) << " (min "
                << g(o.kendall_tau_min) << ")\n";
      if (o.labeled)
        std::cout << "  accuracy on " << o.labeled << " labelled: source "
                  << g(static_cast<double>(o.source_correct) / static_cast<double>(o.labeled)) << ", target "
                  << g(static_cast<double>(o.target_correct) / static_cast<double>(o.labeled)) << "\n";
    } else if (o.kind == "dense") {
      std::cout << "  argmax over axis " << o.channel_axis << ": " << o.position_flips << " of " << o.positions
                << " positions change beyond noise";
      if (o.position_near_tie_flips) std::cout << " (+" << o.position_near_tie_flips << " near-tie)";
      std::cout << "\n";
    }
    std::cout << "  error: max abs " << g(o.error.max_abs) << " = " << g(o.noise_units(o.error.max_abs))
              << " x noise floor " << g(o.noise.max_abs) << " (tolerance " << g(o.tolerance) << ": " << o.tolerance_basis
              << ")\n         mean abs " << g(o.error.mean_abs()) << ", max rel " << g(o.error.max_rel) << ", cosine "
              << fmt7(o.error.cosine()) << ", SNR "
              << g(o.error.snr_db()) << " dB";
    int64_t nonfinite = o.error.ref_nan + o.error.ref_inf + o.error.test_nan + o.error.test_inf;
    if (nonfinite)
      std::cout << ", NaN/Inf source " << o.error.ref_nan + o.error.ref_inf << " target "
                << o.error.test_nan + o.error.test_inf;
    std::cout << "\n";
    if (o.quantization_split) {
      std::cout << (o.half_precision_twin ? "  float16 arithmetic (target vs its float32 twin, intended): max abs "
                                          : "  quantization (target vs its float twin, intended): max abs ")
                << g(o.quantization.max_abs) << ", SNR "
                << g(o.quantization.snr_db()) << " dB";
      if (o.kind == "classification") std::cout << ", " << o.quantization_flips << " top-1 changes";
      std::cout << "\n  rest (float twin vs source: weight rounding, conversion): max abs " << g(o.conversion.max_abs)
                << ", SNR " << g(o.conversion.snr_db()) << " dB";
      if (o.kind == "classification") std::cout << ", " << o.conversion_flips << " top-1 changes";
      std::cout << "\n";
    }
    if (!o.precision_note.empty()) std::cout << "  intended precision: " << o.precision_note << "\n";
    for (const auto& n : o.notes) std::cout << "  adapted: " << n << "\n";
    for (const auto& why : o.reasons)
      if (why.rfind("of this, ", 0) != 0) std::cout << "  - " << why << "\n";  // the split is printed above
  }
  for (const auto& c : r.crashes)
    std::cout << "crash: " << c.side << " " << c.stage << (c.sample.empty() ? "" : " on " + c.sample) << ": " << c.message
              << "\n";
  if (r.target_failures) std::cout << "target failed on " << r.target_failures << " of " << r.samples << " samples\n";
  if (!r.error.empty()) std::cout << "error: " << r.error << "\n";
  // "EQUIVALENT within int8": what the target intends explains its difference from the source.
  std::string within;
  for (const auto& o : r.outputs)
    if (o.within_intended && o.verdict == Verdict::kEquivalent && r.verdict == Verdict::kEquivalent) within = o.intended_precision;
  std::cout << "verdict: " << verdict_name(r.verdict) << (within.empty() ? "" : " within " + within) << " (exit " << r.exit_code
            << ")\n";
}

void write_reports(nlohmann::json report, const std::string& json_path, const std::string& html_path, bool per_sample) {
  if (!html_path.empty()) {
    write_html_report(html_path, report);
    std::cout << "html report: " << html_path << "\n";
  }
  if (!json_path.empty()) {
    if (!per_sample) report.erase("per_sample");  // kept only for the page
    write_file_atomic(json_path, report.dump(2) + "\n");
    std::cout << "report: " << json_path << "\n";
  }
}

int compare(const CompareArgs& a) {
  if (a.threads > 0) set_num_threads(a.threads);
  a.data.check("compare");
  for (const auto* p : {&a.source, &a.target})
    if (!model_exists(*p)) throw InputError("compare: '" + *p + "' does not exist");
  CompareOptions opt;
  opt.source_preprocess = a.data.source();
  opt.target_preprocess = a.data.target();
  opt.limit = a.limit;
  opt.calibration_samples = a.calibration_samples;
  opt.noise_multiple = a.noise_multiple;
  opt.atol = a.atol, opt.rtol = a.rtol;
  opt.max_flip_rate = a.max_flip_rate;
  opt.precision_budget = a.precision_budget;
  if (!a.shard.empty()) std::tie(opt.shard_index, opt.shard_count) = parse_shard(a.shard);
  opt.source_runtime = a.source_runtime, opt.target_runtime = a.target_runtime;
  opt.quant_mode = parse_quant_mode(a.quant_mode);
  opt.threads = a.threads;
  // The HTML page shows per-sample errors and the flipped images, so it needs the per-sample records.
  opt.per_sample = a.per_sample || !a.html.empty();
  if (!a.html.empty()) opt.thumbnails = kHtmlThumbnails;
  if (a.limit == 0 || a.limit < -1) throw InputError("--limit must be positive");
  bool tty = isatty(STDERR_FILENO);
  if (tty) opt.progress = [](size_t n) { std::cerr << "\r  compared " << n << " samples" << std::flush; };
  DatasetFactory factory = a.data.factory();
  CompareResult r = compare_models(a.source, a.target, factory, opt);
  if (tty && r.samples) std::cerr << "\r" << std::string(40, ' ') << "\r";
  print_summary(r, opt);
  write_reports(compare_report_json(r, opt), a.report, a.html, a.per_sample);
  return r.exit_code;
}

int merge(const MergeArgs& a) {
  std::vector<nlohmann::json> reports;
  for (const auto& path : a.reports) {
    std::ifstream in(path);
    if (!in) throw InputError("merge: cannot read '" + path + "'");
    try {
      reports.push_back(nlohmann::json::parse(in));
    } catch (const nlohmann::json::exception& e) {
      throw InputError("merge: '" + path + "' is not JSON: " + e.what());
    }
  }
  CompareOptions opt;
  CompareResult r;
  try {
    r = merge_compare_reports(reports, &opt);
  } catch (const InputError& e) {  // name the files: the error says what is wrong, not where
    std::string files;
    for (const auto& path : a.reports) files += (files.empty() ? "" : ", ") + path;
    throw InputError(std::string(e.what()) + " (" + files + ")");
  }
  print_summary(r, opt);
  write_reports(compare_report_json(r, opt), a.report, a.html, opt.per_sample);
  return r.exit_code;
}

}  // namespace

void add_compare(CLI::App& app) {
  auto a = std::make_shared<CompareArgs>();
  auto* cmd = app.add_subcommand("compare",
                                 "Run a model and its conversion on the same inputs; verdict calibrated by the source's "
                                 "fp32-vs-fp64 noise (exit 0 equivalent, 1 not, 2 error)");
  cmd->add_option("source", a->source, "The original model")->required();
  cmd->add_option("target", a->target, "Its conversion")->required();
  add_data_options(cmd, a->data);
  cmd->add_option("--limit", a->limit, "Compare at most N samples");
  cmd->add_option("--calibration-samples", a->calibration_samples,
                  "Run the source in fp64 on the first N samples to measure its noise floor (default 8)");
  cmd->add_option("--noise-multiple", a->noise_multiple, "Tolerance in units of the noise floor (default 8)");
  cmd->add_option("--atol", a->atol, "Absolute tolerance (with --rtol: |t - s| <= atol + rtol |s| replaces the calibrated one)");
  cmd->add_option("--rtol", a->rtol, "Relative tolerance");
  cmd->add_option("--max-flip-rate", a->max_flip_rate, "Fraction of top-1 flips beyond noise allowed (default 0)");
  cmd->add_option("--precision-budget", a->precision_budget,
                  "A target meant to run in float16 / int8 / 16x8 may differ by this many times that precision simulated on the source (default 2; 0: judge it as float32)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--report", a->report, "Write a JSON report (schema: docs/compare.md)");
  cmd->add_flag("--per-sample", a->per_sample, "Include per-sample details in the report");
  cmd->add_option("--html", a->html,
                  "Write a self-contained HTML report: per-sample errors, label flips with thumbnails (docs/report.md)");
  cmd->add_option("--shard", a->shard,
                  "I/N: compare only the samples whose dataset index is I-1 mod N (join the reports with transfix merge)");
  cmd->add_option("--source-runtime", a->source_runtime,
                  "What runs the source: transfix (default), ort (ONNX Runtime: ONNX), litert (the LiteRT/TFLite "
                  "interpreter: TFLite), armnn (Arm NN CpuRef: TFLite) or libtorch (TorchScript)");
  cmd->add_option("--target-runtime", a->target_runtime,
                  "What runs the target (check the runtime you deploy on): transfix (default), ort, litert, armnn or "
                  "libtorch");
  cmd->add_option("--quant-mode", a->quant_mode,
                  "Quantized (int8/uint8 TFLite) models in the interpreter: int (TFLite's reference kernels, default), "
                  "int-xnnpack (requantized as the TFLite interpreter's default XNNPACK delegate does) or dequantized");
  cmd->add_option("--threads", a->threads, "Threads (default: all cores)");
  cmd->callback([a] { exit_code() = compare(*a); });
}

void add_merge(CLI::App& app) {
  auto a = std::make_shared<MergeArgs>();
  auto* cmd = app.add_subcommand("merge",
                                 "Join the JSON reports of compare --shard runs into one result, verdicts decided again "
                                 "(exit 0 equivalent, 1 not, 2 error)");
  cmd->add_option("reports", a->reports, "compare --report files of the shards")->required();
  cmd->add_option("--report", a->report, "Write the merged JSON report");
  cmd->add_option("--html", a->html, "Write the merged HTML report");
  cmd->callback([a] { exit_code() = merge(*a); });
}

}  // namespace transfix::cli
