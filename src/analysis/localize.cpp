#include "analysis/localize.h"

#include <chrono>
#include <cmath>

#include "core/errors.h"

namespace transfix {

LocalizeResult localize_with_probe(const Model& source, const Model& target, const ProbeInputs& probe,
                                   const LocalizeOptions& opt) {
  auto t0 = std::chrono::steady_clock::now();
  LocalizeResult r;
  r.source_path = source.path, r.target_path = target.path;
  r.probe = probe;
  SourceTrace trace = trace_source(source, probe.source);
  r.alignment = align_models(source, target, trace, probe.target, opt.align);
  r.diagnosis = diagnose(source, target, trace, r.alignment);
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return r;
}

LocalizeResult localize_models(const Model& source, const Model& target, Dataset& data, const LocalizeOptions& opt) {
  ProbeInputs probe = next_probe(data, source, target, opt.source_preprocess, opt.target_preprocess);
  LocalizeResult r = localize_with_probe(source, target, probe, opt);
  for (int i = 1; i < opt.probes && r.diagnosis.faults.empty(); ++i) {
    try {
      probe = next_probe(data, source, target, opt.source_preprocess, opt.target_preprocess);
    } catch (const InputError&) {
      break;  // no more samples
    }
    const double before = r.seconds;
    r = localize_with_probe(source, target, probe, opt);
    r.seconds += before;
  }
  return r;
}

nlohmann::json localize_json(const LocalizeResult& r) {
  const Alignment& a = r.alignment;
  auto num = [](double v) -> nlohmann::json { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(v > 0 ? "inf" : "-inf"); };
  nlohmann::json pairs = nlohmann::json::array();
  for (const auto& p : a.pairs)
    pairs.push_back({{"target", p.target},
                     {"source", p.source},
                     {"transform", p.transform.describe()},
                     {"how", p.how},
                     {"clean", p.clean},
                     {"local_error", num(p.error)},
                     {"noise_floor", num(p.noise)},
                     {"scale", num(p.scale)},
                     {"noise_units", num(p.noise_units())},
                     {"target_ops", p.target_nodes.size()},
                     {"source_ops", p.source_nodes.size()}});
  nlohmann::json faults = nlohmann::json::array();
  for (const auto& f : r.diagnosis.faults) faults.push_back(fault_json(f));
  return {{"schema", "transfix.localize/1"},
          {"source", r.source_path},
          {"target", r.target_path},
          {"probe", r.probe.sample_id},
          {"contract", r.probe.notes},
          {"tool", r.diagnosis.tool_notes},
          {"coverage",
           {{"source_tensors", a.source_tensors},
            {"source_tensors_mapped", a.source_tensors_mapped},
            {"target_tensors", a.target_tensors},
            {"target_tensors_mapped", a.target_tensors_mapped},
            {"source_ops", a.source_nodes},
            {"source_ops_covered", a.source_nodes_covered}}},
          {"passes", a.passes},
          {"faults", faults},
          {"pairs", pairs},
          {"seconds", r.seconds}};
}

}  // namespace transfix
