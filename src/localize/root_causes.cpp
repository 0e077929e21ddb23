#include "localize/root_causes.h"

#include <algorithm>
#include <map>

namespace transfix {

namespace {

// "Conv 'x'" from "parameters: ... at Conv 'x'".
std::string fault_place(const Fault& f) { return f.summary.substr(f.summary.find(" at ") + 4); }

}  // namespace

void merge_faults_at_one_op(std::vector<Fault>& faults) {
  std::vector<Fault> kept;
  for (auto& f : faults) {
    // (Two IR nodes of one op, a fused activation and its op, carry the op's label.)
    auto same_op = std::find_if(kept.begin(), kept.end(), [&](const Fault& k) {
      return f.target_node >= 0 && k.target_node >= 0 && fault_place(k) == fault_place(f);
    });
    Fault& into = same_op == kept.end() ? kept.emplace_back(std::move(f)) : *same_op;
    if (same_op != kept.end()) into.findings.insert(into.findings.end(), f.findings.begin(), f.findings.end());
    std::vector<Finding> unique;
    for (auto& x : into.findings)
      if (std::none_of(unique.begin(), unique.end(), [&](const Finding& u) { return u.kind == x.kind && u.detail == x.detail; }))
        unique.push_back(std::move(x));
    into.findings = std::move(unique);
  }
  faults = std::move(kept);
}

std::vector<RootCause> group_root_causes(const std::vector<Fault>& faults) {
  std::vector<RootCause> causes;
  for (size_t i = 0; i < faults.size(); ++i) {
    const Fault& f = faults[i];
    // Crashes and unexplained errors say nothing about a shared cause.
    // Weights and biases that differ from the source's at many ops (other weights, a retrained or
    // re-exported model) are one cause whatever each op's difference looks like.
    const bool groupable = f.category != FaultCategory::kCrash && f.category != FaultCategory::kNumeric;
    auto it = std::find_if(causes.begin(), causes.end(), [&](const RootCause& c) {
      return groupable && c.category == f.category && (c.kind == f.kind || f.category == FaultCategory::kParameters);
    });
    if (it == causes.end()) it = causes.insert(causes.end(), RootCause{f.category, f.kind, f.summary, {}});
    it->faults.push_back(i);
  }
  for (auto& c : causes) {
    if (c.faults.size() < 2) continue;
    std::map<std::string, int> kinds;
    for (size_t i : c.faults) ++kinds[faults[i].kind];
    std::string what = c.kind;
    if (kinds.size() > 1) {  // "weights differ (17), weights rescaled per output channel (2)"
      c.kind = "weights differ";
      what = "";
      for (const auto& [k, n] : kinds) what += (what.empty() ? "" : ", ") + k + " (" + std::to_string(n) + ")";
    }
    c.summary = to_string(c.category) + ": " + what + " at " + std::to_string(c.faults.size()) + " ops (first " + fault_place(faults[c.faults[0]]) + ")";
  }
  return causes;
}

}  // namespace transfix
