// compare merge: shard reports of one comparison combined, verdicts decided again on the totals.
// Reports are untrusted: every read is json::at() (a missing key or index throws json::out_of_range,
// an InputError below), never const operator[], which is undefined for a missing key (found by tools/fuzz).
#include <algorithm>
#include <cmath>
#include <set>

#include "compare/compare.h"
#include "compare/compare_internal.h"
#include "compare/model_info.h"
#include "core/errors.h"

namespace transfix {

namespace {

ErrorStats stats_from_json(const nlohmann::json& a) {
  std::vector<double> v;
  for (const auto& x : a) v.push_back(from_num(x));
  return ErrorStats::from_raw(v);
}

ValueInfo value_from_json(const nlohmann::json& j) {
  ValueInfo v;
  v.name = j.value("name", "");
  v.dtype = dtype_from_name(j.value("dtype", ""));
  if (j.contains("shape") && j.at("shape").is_array()) {
    v.has_shape = true;
    for (const auto& d : j.at("shape")) v.shape.push_back(d.is_number() ? d.get<int64_t>() : -1);
  }
  if (j.contains("quant")) {
    QuantParams q;
    q.scale = j.at("quant").at("scale").get<std::vector<float>>();
    q.zero_point = j.at("quant").at("zero_point").get<std::vector<int64_t>>();
    q.axis = j.at("quant").at("axis").get<int64_t>();
    v.quant = q;
  }
  return v;
}

ModelSummary summary_from_json(const nlohmann::json& m) {
  ModelSummary s;
  s.path = m.value("path", "");
  s.loaded = m.value("loaded", false);
  if (!s.loaded) return s;
  s.format = m.value("format", ""), s.producer = m.value("producer", ""), s.opset = m.value("opset", int64_t{0});
  s.file_bytes = m.contains("file_bytes") && m.at("file_bytes").is_number() ? m.at("file_bytes").get<int64_t>() : -1;
  s.nodes = m.value("nodes", int64_t{0});
  s.runtime = m.value("runtime", "transfix");
  s.runtime_version = m.value("runtime_version", "");
  s.quant_mode = m.value("quant_mode", "");
  for (const auto& v : m.at("inputs")) s.inputs.push_back(value_from_json(v));
  for (const auto& v : m.at("outputs")) s.outputs.push_back(value_from_json(v));
  return s;
}

void add_runs(ModelSummary& s, const nlohmann::json& m) {
  const int64_t runs = m.value("runs", int64_t{0});
  s.runs += runs;
  if (runs && m.contains("ms_per_run") && m.at("ms_per_run").is_number()) s.run_ms += m.at("ms_per_run").get<double>() * static_cast<double>(runs);
}

CompareOptions options_from_json(const nlohmann::json& r) {
  CompareOptions opt;
  const auto& t = r.at("tolerance");
  opt.noise_multiple = t.at("noise_multiple").get<double>();
  opt.precision_budget = t.value("precision_budget", 2.0);
  opt.abs_floor = t.at("abs_floor").get<double>();
  opt.max_flip_rate = t.at("max_flip_rate").get<double>();
  opt.top_k = t.at("top_k").get<int64_t>();
  if (t.contains("atol")) opt.atol = t.at("atol").get<double>();
  if (t.contains("rtol")) opt.rtol = t.at("rtol").get<double>();
  opt.calibration_samples = r.at("calibration").at("requested").get<int64_t>();
  opt.per_sample = r.contains("per_sample");
  return opt;
}

// One shard's accumulators added to the merged output.
void add_output(OutputResult& o, const nlohmann::json& oj) {
  const auto& a = oj.at("accumulators");
  o.samples += oj.value("samples", int64_t{0});
  o.error.merge(stats_from_json(a.at("error")));
  o.noise.merge(stats_from_json(a.at("noise")));
  o.calibration_samples += a.at("calibration_samples").get<int64_t>();
  o.instances += a.at("instances").get<int64_t>();
  o.noise_flips += a.at("noise_flips").get<int64_t>();
  const bool first = o.instances == a.at("instances").get<int64_t>();
  o.top_k_overlap_sum += a.at("top_k_overlap").at(0).get<double>();
  o.kendall_tau_sum += a.at("kendall_tau").at(0).get<double>();
  o.top_k_overlap_min = first ? a.at("top_k_overlap").at(1).get<double>() : std::min(o.top_k_overlap_min, a.at("top_k_overlap").at(1).get<double>());
  o.kendall_tau_min = first ? a.at("kendall_tau").at(1).get<double>() : std::min(o.kendall_tau_min, a.at("kendall_tau").at(1).get<double>());
  for (const auto& p : a.at("flip_pairs")) o.flip_pairs[{p[0].get<int64_t>(), p[1].get<int64_t>()}] += p[2].get<int64_t>();
  for (const auto& m : a.at("flip_margins")) o.flip_margins.push_back({from_num(m[0]), from_num(m[1])});
  o.labeled += a.at("labeled").at(0).get<int64_t>();
  o.source_correct += a.at("labeled").at(1).get<int64_t>();
  o.target_correct += a.at("labeled").at(2).get<int64_t>();
  o.positions += a.at("positions").get<int64_t>();
  o.user_violations += a.at("user_violations").get<int64_t>();
  if (a.contains("simulation")) {
    const auto& q = a.at("simulation");
    o.simulated = true;
    o.intended_precision = q.at("precision").get<std::string>();
    o.simulation.merge(stats_from_json(q.at("error")));
    o.simulation_flips += q.at("flips").get<int64_t>();
    if (q.contains("weights")) {
      o.weight_simulated = true;
      o.weight_simulation.merge(stats_from_json(q.at("weights").at("error")));
      o.weight_simulation_flips += q.at("weights").at("flips").get<int64_t>();
    }
  }
  if (a.contains("quantization_split")) {
    const auto& q = a.at("quantization_split");
    o.quantization_split = true;
    o.quantization.merge(stats_from_json(q.at("quantization")));
    o.conversion.merge(stats_from_json(q.at("conversion")));
    o.quantization_flips += q.at("flips").at(0).get<int64_t>();
    o.conversion_flips += q.at("flips").at(1).get<int64_t>();
  }
}

// Every flip judged again against the merged tolerance (as record_flip_margin does).
void judge_flips(OutputResult& o, const CompareOptions& opt) {
  o.flips = o.near_tie_flips = o.position_flips = o.position_near_tie_flips = 0;
  for (const auto& [margin, score] : o.flip_margins) {
    const bool near_tie = !(margin > flip_threshold(o, opt, score));
    if (o.kind == "dense") ++(near_tie ? o.position_near_tie_flips : o.position_flips);
    else ++(near_tie ? o.near_tie_flips : o.flips);
  }
}

void check_shards_match(const std::vector<nlohmann::json>& reports) {
  const auto& first = reports[0];
  std::set<int64_t> shards;
  for (size_t i = 0; i < reports.size(); ++i) {
    const auto& r = reports[i];
    const std::string which = "report " + std::to_string(i + 1);
    check_input(r.value("schema", "") == "transfix.compare/1", which + " is not a compare report (schema transfix.compare/1)");
    for (const auto& o : r.at("outputs"))
      check_input(o.contains("accumulators"), which + " has no accumulators (written by an older transfix)");
    check_input(r.at("source").at("path") == first.at("source").at("path") && r.at("target").at("path") == first.at("target").at("path"),
                which + " compares other models than report 1");
    check_input(r.at("tolerance") == first.at("tolerance") && r.at("calibration").at("requested") == first.at("calibration").at("requested"),
                which + " was run with other tolerance options than report 1");
    check_input(r.at("data").at("kind") == first.at("data").at("kind") && r.at("data").at("candidates") == first.at("data").at("candidates"),
                which + " read other data than report 1");
    check_input(r.at("outputs").size() == first.at("outputs").size(), which + " has other outputs than report 1");
    const int64_t index = r.contains("shard") ? r.at("shard").at("index").get<int64_t>() : 0;
    const int64_t count = r.contains("shard") ? r.at("shard").at("count").get<int64_t>() : 1;
    const int64_t first_count = first.contains("shard") ? first.at("shard").at("count").get<int64_t>() : 1;
    check_input(count == first_count, which + " is shard of " + std::to_string(count) + ", report 1 of " + std::to_string(first_count));
    check_input(shards.insert(index).second, which + " repeats shard " + std::to_string(index + 1) + " of " + std::to_string(count));
  }
}

}  // namespace

CompareResult merge_compare_reports(const std::vector<nlohmann::json>& reports, CompareOptions* options) {
  check_input(!reports.empty(), "merge: no reports");
  try {
    check_shards_match(reports);
    const auto& first = reports[0];
    CompareOptions opt = options_from_json(first);
    CompareResult r;
    r.merged_reports = static_cast<int64_t>(reports.size());
    r.shard_count = first.contains("shard") ? first.at("shard").at("count").get<int64_t>() : 1;
    r.source = summary_from_json(first.at("source"));
    r.target = summary_from_json(first.at("target"));
    r.data_kind = first.at("data").at("kind");
    r.data_description = first.at("data").at("description").get<std::string>() + " (" + std::to_string(reports.size()) +
                         " shard reports merged)";
    r.candidates = first.at("data").at("candidates").get<int64_t>();
    r.limit = -1;
    if (first.contains("source") && first.at("source").contains("preprocess")) r.source_preprocess = first.at("source").at("preprocess");
    if (first.contains("target") && first.at("target").contains("preprocess")) r.target_preprocess = first.at("target").at("preprocess");
    for (const auto& oj : first.at("outputs")) {
      OutputResult o;
      o.source_name = oj.at("source_name");
      o.target_name = oj.contains("target_name") && oj.at("target_name").is_string() ? oj.at("target_name").get<std::string>() : "";
      o.kind = oj.at("kind");
      o.shape = oj.at("shape").get<Shape>();
      o.notes = oj.at("adaptations").get<std::vector<std::string>>();
      o.quantization_step = oj.at("tolerance").value("quantization_step", 0.0);
      if (o.target_name.empty()) o.mismatch = "output '" + o.source_name + "' has no counterpart in the target";
      r.outputs.push_back(o);
    }
    std::set<std::string> skipped_ids;
    bool target_crashed = false;
    for (const auto& rep : reports) {
      add_runs(r.source, rep.at("source"));
      add_runs(r.target, rep.at("target"));
      target_crashed |= !rep.at("target").value("loaded", false);
      r.samples += rep.at("data").at("samples").get<int64_t>();
      r.labels |= rep.at("data").at("labels").get<bool>();
      r.ignored_files = rep.at("data").at("ignored_files").get<size_t>();
      for (const auto& sk : rep.at("data").at("skipped"))
        if (skipped_ids.insert(sk.at("id").get<std::string>()).second) r.skipped.push_back({sk.at("id"), sk.at("reason")});
      for (const auto& n : rep.at("contract"))
        if (std::find(r.input_notes.begin(), r.input_notes.end(), n.get<std::string>()) == r.input_notes.end())
          r.input_notes.push_back(n);
      for (const auto& c : rep.at("crashes")) {
        r.crashes.push_back({c.at("side"), c.at("stage"), c.at("message"), c.value("sample", "")});
        target_crashed |= c.at("side") == "target";
      }
      r.source_failures += rep.at("failures").at("source_runs").get<int64_t>();
      r.target_failures += rep.at("failures").at("target_runs").get<int64_t>();
      r.calibration_samples += rep.at("calibration").at("samples").get<int64_t>();
      r.calibration_failures += rep.at("calibration").at("failures").get<int64_t>();
      r.wall_seconds += rep.at("wall_seconds").get<double>();
      for (size_t i = 0; i < r.outputs.size(); ++i) add_output(r.outputs[i], rep.at("outputs")[i]);
      if (rep.contains("per_sample"))
        for (auto sample : rep.at("per_sample")) r.per_sample.push_back(std::move(sample));
    }
    target_crashed |= r.target_failures > 0;
    r.verdict = Verdict::kEquivalent;
    for (auto& o : r.outputs) {
      resolve_tolerance(o, opt);
      judge_flips(o, opt);
      decide_verdict(o, opt, target_crashed);
      r.verdict = std::max(r.verdict, o.verdict);
    }
    r.exit_code = r.verdict == Verdict::kEquivalent ? 0 : 1;
    if (r.samples == 0) {
      r.verdict = Verdict::kCrash;
      r.exit_code = 2;
      r.error = "no samples in the merged reports";
    }
    // Per-sample records: renumbered; in calibrated mode their flips are judged against the merged tolerance.
    for (size_t i = 0; i < r.per_sample.size(); ++i) {
      auto& sample = r.per_sample[i];
      sample["index"] = i;
      if (user_mode(opt) || !sample.contains("outputs")) continue;
      for (auto& [name, od] : sample.at("outputs").items()) {
        if (!od.contains("flip_margin")) continue;
        auto out = std::find_if(r.outputs.begin(), r.outputs.end(), [&, &name = name](const OutputResult& x) { return x.source_name == name; });
        if (out != r.outputs.end()) od["flip"] = from_num(od.at("flip_margin")) > out->tolerance ? "beyond-noise" : "near-tie";
      }
    }
    *options = opt;
    return r;
  } catch (const nlohmann::json::exception& e) {
    throw InputError(std::string("merge: a report is not a complete compare report: ") + e.what());
  } catch (const std::invalid_argument& e) {
    throw InputError(std::string("merge: a report's accumulators are malformed: ") + e.what());
  }
}

}  // namespace transfix
