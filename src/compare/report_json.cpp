// The JSON report of compare (schema in docs/compare.md).
#include <algorithm>
#include <cmath>
#include <set>

#include "compare/compare.h"
#include "compare/compare_internal.h"
#include "compare/model_info.h"
#include "core/errors.h"

namespace transfix {

// Inverse of json_number(): null is NaN, "inf"/"-inf" are infinities.
double from_num(const nlohmann::json& v) {
  if (v.is_number()) return v.get<double>();
  if (v.is_string()) return v.get<std::string>() == "-inf" ? -INFINITY : INFINITY;
  return NAN;
}

namespace {

nlohmann::json value_json(const ValueInfo& v) {
  nlohmann::json shape = nullptr;
  if (v.has_shape) {
    shape = nlohmann::json::array();
    for (auto d : v.shape) shape.push_back(d >= 0 ? nlohmann::json(d) : nlohmann::json(nullptr));
  }
  nlohmann::json j = {{"name", v.name}, {"dtype", dtype_name(v.dtype)}, {"shape", shape}};
  if (v.quant && !v.quant->scale.empty())
    j["quant"] = {{"scale", v.quant->scale}, {"zero_point", v.quant->zero_point}, {"axis", v.quant->axis}};
  return j;
}

nlohmann::json model_json(const ModelSummary& m) {
  nlohmann::json j = {{"path", m.path}, {"loaded", m.loaded}};
  if (!m.loaded) return j;
  j["format"] = m.format;
  j["producer"] = m.producer;
  j["opset"] = m.opset;
  j["inputs"] = nlohmann::json::array();
  for (const auto& v : m.inputs) j["inputs"].push_back(value_json(v));
  j["outputs"] = nlohmann::json::array();
  for (const auto& v : m.outputs) j["outputs"].push_back(value_json(v));
  j["file_bytes"] = m.file_bytes >= 0 ? nlohmann::json(m.file_bytes) : nlohmann::json(nullptr);
  j["nodes"] = m.nodes;
  j["runs"] = m.runs;
  j["runtime"] = m.runtime;
  if (!m.runtime_version.empty()) j["runtime_version"] = m.runtime_version;
  if (!m.quant_mode.empty() && m.runtime == "transfix") j["quant_mode"] = m.quant_mode;
  j["ms_per_run"] = m.runs ? json_number(m.run_ms / static_cast<double>(m.runs)) : nlohmann::json(nullptr);
  return j;
}

nlohmann::json stats_json(const ErrorStats& s) {
  return {{"max_abs", json_number(s.max_abs)},   {"mean_abs", json_number(s.mean_abs())}, {"max_rel", json_number(s.max_rel)},
          {"cosine", json_number(s.cosine())},   {"snr_db", json_number(s.snr_db())},     {"output_scale", json_number(s.max_ref_abs)},
          {"elements", s.count},
          {"nan", {{"source", s.ref_nan}, {"target", s.test_nan}}},
          {"inf", {{"source", s.ref_inf}, {"target", s.test_inf}}},
          {"nonfinite_mismatch", s.nonfinite_mismatch}};
}

}  // namespace

// What `transfix merge` needs to join shards exactly: raw sums and counts, every flip's margin.
nlohmann::json raw_json(const ErrorStats& e) {
  nlohmann::json a = nlohmann::json::array();
  for (double v : e.raw()) a.push_back(json_number(v));
  return a;
}

nlohmann::json accumulators_json(const OutputResult& o) {
  nlohmann::json pairs = nlohmann::json::array();
  for (const auto& [k, c] : o.flip_pairs) pairs.push_back({k.first, k.second, c});
  nlohmann::json margins = nlohmann::json::array();
  for (const auto& [m, score] : o.flip_margins) margins.push_back({json_number(m), json_number(score)});
  nlohmann::json a = {{"error", raw_json(o.error)},
                      {"noise", raw_json(o.noise)},
                      {"calibration_samples", o.calibration_samples},
                      {"instances", o.instances},
                      {"noise_flips", o.noise_flips},
                      {"top_k_overlap", {o.top_k_overlap_sum, o.top_k_overlap_min}},
                      {"kendall_tau", {o.kendall_tau_sum, o.kendall_tau_min}},
                      {"flip_pairs", pairs},
                      {"flip_margins", margins},
                      {"labeled", {o.labeled, o.source_correct, o.target_correct}},
                      {"positions", o.positions},
                      {"user_violations", o.user_violations}};
  if (o.quantization_split)
    a["quantization_split"] = {{"quantization", raw_json(o.quantization)}, {"conversion", raw_json(o.conversion)},
                               {"flips", {o.quantization_flips, o.conversion_flips}}};
  if (o.simulated)
    a["simulation"] = {{"precision", o.intended_precision}, {"error", raw_json(o.simulation)}, {"flips", o.simulation_flips}};
  if (o.weight_simulated)
    a["simulation"]["weights"] = {{"error", raw_json(o.weight_simulation)}, {"flips", o.weight_simulation_flips}};
  return a;
}

nlohmann::json compare_report_json(const CompareResult& r, const CompareOptions& opt) {
  nlohmann::json j;
  j["schema"] = "transfix.compare/1";
  j["verdict"] = verdict_name(r.verdict);
  j["exit_code"] = r.exit_code;
  if (!r.error.empty()) j["error"] = r.error;
  j["source"] = model_json(r.source);
  j["target"] = model_json(r.target);
  if (r.source_preprocess) j["source"]["preprocess"] = *r.source_preprocess;
  if (r.target_preprocess) j["target"]["preprocess"] = *r.target_preprocess;
  nlohmann::json skipped = nlohmann::json::array();
  for (const auto& s : r.skipped) skipped.push_back({{"id", s.id}, {"reason", s.reason}});
  j["data"] = {{"kind", r.data_kind},   {"description", r.data_description}, {"candidates", r.candidates},
               {"samples", r.samples},  {"limit", r.limit >= 0 ? nlohmann::json(r.limit) : nlohmann::json(nullptr)},
               {"labels", r.labels},    {"skipped", skipped},                {"ignored_files", r.ignored_files}};
  j["calibration"] = {{"samples", r.calibration_samples},
                      {"requested", opt.calibration_samples},
                      {"which", "the first " + std::to_string(opt.calibration_samples) + " samples"},
                      {"failures", r.calibration_failures}};
  nlohmann::json tol = {{"mode", user_mode(opt) ? "user" : "calibrated"},
                        {"noise_multiple", opt.noise_multiple},
                        {"abs_floor", opt.abs_floor},
                        {"max_flip_rate", opt.max_flip_rate},
                        {"precision_budget", opt.precision_budget},
                        {"top_k", opt.top_k}};
  if (opt.atol) tol["atol"] = *opt.atol;
  if (opt.rtol) tol["rtol"] = *opt.rtol;
  j["tolerance"] = tol;
  j["contract"] = r.input_notes;
  j["outputs"] = nlohmann::json::array();
  for (const auto& o : r.outputs) {
    nlohmann::json oj = {{"source_name", o.source_name},
                         {"target_name", o.target_name.empty() ? nlohmann::json(nullptr) : nlohmann::json(o.target_name)},
                         {"kind", o.kind},
                         {"shape", o.shape},
                         {"verdict", verdict_name(o.verdict)},
                         {"within_tolerance", o.within_tolerance},
                         {"reasons", o.reasons},
                         {"adaptations", o.notes},
                         {"samples", o.samples},
                         {"error", stats_json(o.error)},
                         {"noise_floor", {{"max_abs", json_number(o.noise.max_abs)}, {"mean_abs", json_number(o.noise.mean_abs())},
                                          {"max_rel", json_number(o.noise.max_rel)}, {"samples", o.calibration_samples}}},
                         {"tolerance", o.quantization_step > 0
                                           ? nlohmann::json{{"abs", json_number(o.tolerance)}, {"basis", o.tolerance_basis},
                                                            {"quantization_step", o.quantization_step}}
                                           : nlohmann::json{{"abs", json_number(o.tolerance)}, {"basis", o.tolerance_basis}}},
                         {"error_in_noise_units", {{"max_abs", json_number(o.noise_units(o.error.max_abs))},
                                                   {"mean_abs", json_number(o.noise.mean_abs() > 0 ? o.error.mean_abs() / o.noise.mean_abs()
                                                                                           : o.noise_units(o.error.mean_abs()))}}}};
    if (user_mode(opt)) oj["user_violations"] = o.user_violations;
    if (o.quantization_split) {
      const double q = o.quantization.mean_abs(), c = o.conversion.mean_abs();
      oj["quantization_split"] = {{"quantization", stats_json(o.quantization)},
                                  {"conversion", stats_json(o.conversion)},
                                  {"quantization_flips", o.quantization_flips},
                                  {"conversion_flips", o.conversion_flips},
                                  {"quantization_share", json_number(q + c > 0 ? q / (q + c) : 0.0)}};
    }
    if (!o.intended_precision.empty() && o.simulated) {
      oj["intended_precision"] = {{"precision", o.intended_precision},
                                  {"simulated", stats_json(o.simulation)},
                                  {"simulated_flips", o.simulation_flips},
                                  {"budget_factor", opt.precision_budget},
                                  {"within", o.within_intended},
                                  {"note", o.precision_note}};
      if (o.weight_simulated) {
        oj["intended_precision"]["simulated_weights"] = stats_json(o.weight_simulation);
        oj["intended_precision"]["simulated_weights_flips"] = o.weight_simulation_flips;
      }
    }
    oj["accumulators"] = accumulators_json(o);
    if (o.kind == "classification") {
      nlohmann::json pairs = nlohmann::json::array();
      std::vector<std::pair<int64_t, std::pair<int64_t, int64_t>>> sorted;
      for (const auto& [k, c] : o.flip_pairs) sorted.push_back({c, k});
      std::stable_sort(sorted.begin(), sorted.end(), [](auto& a, auto& b) { return a.first > b.first; });
      for (const auto& [c, k] : sorted) pairs.push_back({{"source", k.first}, {"target", k.second}, {"count", c}});
      double inst = std::max<int64_t>(o.instances, 1);
      oj["top1"] = {{"instances", o.instances},
                    {"agreement", json_number(1.0 - static_cast<double>(o.flips + o.near_tie_flips) / inst)},
                    {"flips", o.flips + o.near_tie_flips},
                    {"flips_beyond_noise", o.flips},
                    {"flips_near_tie", o.near_tie_flips},
                    {"flip_rate", json_number(o.flip_rate())},
                    {"flipped_labels", pairs},
                    {"source_fp32_vs_fp64_flips", o.noise_flips}};
      oj["top_k"] = {{"k", opt.top_k},
                     {"overlap_mean", json_number(o.top_k_overlap_sum / inst)},
                     {"overlap_min", json_number(o.top_k_overlap_min)},
                     {"kendall_tau_mean", json_number(o.kendall_tau_sum / inst)},
                     {"kendall_tau_min", json_number(o.kendall_tau_min)}};
      if (o.labeled)
        oj["accuracy"] = {{"labeled", o.labeled},
                          {"source", static_cast<double>(o.source_correct) / static_cast<double>(o.labeled)},
                          {"target", static_cast<double>(o.target_correct) / static_cast<double>(o.labeled)}};
    } else if (o.kind == "dense") {
      double pos = std::max<int64_t>(o.positions, 1);
      oj["argmax"] = {{"channel_axis", o.channel_axis},
                      {"positions", o.positions},
                      {"agreement", json_number(1.0 - static_cast<double>(o.position_flips + o.position_near_tie_flips) / pos)},
                      {"flips_beyond_noise", o.position_flips},
                      {"flips_near_tie", o.position_near_tie_flips},
                      {"flip_rate", json_number(o.flip_rate())}};
    }
    j["outputs"].push_back(oj);
  }
  j["crashes"] = nlohmann::json::array();
  for (const auto& c : r.crashes) {
    nlohmann::json cj = {{"side", c.side}, {"stage", c.stage}, {"message", c.message}};
    if (!c.sample.empty()) cj["sample"] = c.sample;
    j["crashes"].push_back(cj);
  }
  j["failures"] = {{"source_runs", r.source_failures}, {"target_runs", r.target_failures}};
  if (r.shard_count > 1 || r.merged_reports > 0)
    j["shard"] = {{"index", r.shard_index}, {"count", r.shard_count}, {"merged_reports", r.merged_reports}};
  j["wall_seconds"] = r.wall_seconds;
  if (opt.per_sample) j["per_sample"] = r.per_sample;
  return j;
}

}  // namespace transfix
