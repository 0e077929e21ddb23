// The JSON report of localize (schema in docs/localize.md): the tensor mapping, the faults, their root causes.
#include "core/format.h"
#include "localize/diagnose.h"
#include "localize/localize.h"

namespace transfix {

nlohmann::json fault_json(const Fault& f) {
  nlohmann::json findings = nlohmann::json::array();
  for (const auto& x : f.findings)
    findings.push_back({{"stage", to_string(x.stage)}, {"kind", x.kind}, {"detail", x.detail}, {"confidence", x.confidence}});
  nlohmann::json attrs = nlohmann::json::object();
  for (const auto& [k, v] : f.repair.attributes) attrs[k] = v;
  return {{"category", to_string(f.category)},
          {"kind", f.kind},
          {"summary", f.summary},
          {"confidence", f.confidence},
          {"target", {{"tensor", f.segment.target}, {"ops", f.target_ops}, {"from", f.segment.target_from},
                      {"op", f.target_node >= 0 ? nlohmann::json(f.target_op_label) : nlohmann::json(nullptr)},
                      {"attributes", f.target_attributes}}},
          {"source", {{"tensor", f.segment.source}, {"ops", f.source_ops}, {"from", f.segment.source_from},
                      {"op", f.source_node >= 0 ? nlohmann::json(f.source_op_label) : nlohmann::json(nullptr)},
                      {"attributes", f.source_attributes}}},
          {"evidence",
           {{"local_error", json_number(f.segment.error)},
            {"relative_error", json_number(f.segment.relative())},
            {"noise_floor", json_number(f.segment.noise)},
            {"noise_units", json_number(f.segment.noise_units())},
            {"threshold", json_number(f.segment.threshold)},
            {"mapping", f.segment.how},
            {"transform", f.segment.transform.describe()}}},
          {"findings", findings},
          {"repair", {{"action", to_string(f.repair.action)}, {"text", f.repair.text}, {"attributes", attrs}}}};
}

nlohmann::json localize_json(const LocalizeResult& r) {
  const Alignment& a = r.alignment;
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
                     {"local_error", json_number(p.error)},
                     {"noise_floor", json_number(p.noise)},
                     {"scale", json_number(p.scale)},
                     {"noise_units", json_number(p.noise_units())},
                     {"threshold", json_number(p.threshold)},
                     {"accumulated_error", json_number(p.accumulated)},
                     {"accumulated_noise", json_number(p.accumulated_noise)},
                     {"target_ops", p.target_nodes.size()},
                     {"source_ops", p.source_nodes.size()},
                     {"target_op_names", op_names(target_nodes, p.target_nodes)},
                     {"source_op_names", op_names(source_nodes, p.source_nodes)}});
  nlohmann::json faults = nlohmann::json::array();
  for (const auto& f : r.diagnosis.faults) faults.push_back(fault_json(f));
  nlohmann::json causes = nlohmann::json::array();
  for (const auto& c : r.diagnosis.root_causes)
    causes.push_back({{"category", to_string(c.category)}, {"kind", c.kind}, {"summary", c.summary}, {"faults", c.faults}});
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
          {"root_causes", causes},
          {"pairs", pairs},
          {"seconds", r.seconds}};
}

}  // namespace transfix
