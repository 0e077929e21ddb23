#include "analysis/localize.h"

#include <chrono>
#include <cmath>

#include "analysis/accumulated_error.h"
#include "analysis/model_info.h"
#include "core/errors.h"

namespace transfix {

LocalizeResult localize_with_probe(const Model& source, const Model& target, const ProbeInputs& probe,
                                   const LocalizeOptions& opt) {
  auto t0 = std::chrono::steady_clock::now();
  LocalizeResult r;
  r.source_path = source.path, r.target_path = target.path;
  r.source_info = model_info_json(source), r.target_info = model_info_json(target);
  r.thresholds = opt.align;
  for (const auto& n : source.graph.nodes) r.source_node_labels.push_back(node_label(n));
  for (const auto& n : target.graph.nodes) r.target_node_labels.push_back(node_label(n));
  r.probe = probe;
  SourceTrace trace = trace_source(source, probe.source, computes_in_fp16(target));
  r.alignment = align_models(source, target, trace, probe.target, opt.align);
  measure_accumulated_error(target, trace, probe.target, r.alignment.pairs);
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
  r.data_kind = data.kind(), r.data_description = data.description();
  return r;
}

nlohmann::json localize_json(const LocalizeResult& r) {
  const Alignment& a = r.alignment;
  // NaN (not measured) is null, infinities are strings, as in the compare report.
  auto num = [](double v) -> nlohmann::json {
    if (std::isnan(v)) return nullptr;
    return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(v > 0 ? "inf" : "-inf");
  };
  const std::vector<std::string>& target_nodes = r.target_node_labels;
  const std::vector<std::string>& source_nodes = r.source_node_labels;
  auto op_names = [](const std::vector<std::string>& labels, const std::vector<int>& nodes) {
    nlohmann::json names = nlohmann::json::array();
    for (int n : nodes)
      if (n >= 0 && static_cast<size_t>(n) < labels.size()) names.push_back(labels[static_cast<size_t>(n)]);
    return names;
  };
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
                     {"threshold", num(p.threshold)},
                     {"accumulated_error", num(p.accumulated)},
                     {"accumulated_noise", num(p.accumulated_noise)},
                     {"target_ops", p.target_nodes.size()},
                     {"source_ops", p.source_nodes.size()},
                     {"target_op_names", op_names(target_nodes, p.target_nodes)},
                     {"source_op_names", op_names(source_nodes, p.source_nodes)}});
  nlohmann::json faults = nlohmann::json::array();
  for (const auto& f : r.diagnosis.faults) faults.push_back(fault_json(f));
  nlohmann::json data = nullptr;
  if (!r.data_kind.empty()) data = {{"kind", r.data_kind}, {"description", r.data_description}};
  return {{"schema", "transfix.localize/1"},
          {"source", r.source_path},
          {"target", r.target_path},
          {"models", {{"source", r.source_info}, {"target", r.target_info}}},
          {"data", data},
          {"thresholds",
           {{"clean_noise_multiple", r.thresholds.clean_noise_multiple}, {"clean_floor", r.thresholds.clean_floor}}},
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
