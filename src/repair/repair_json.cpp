// The JSON log of repair: each fix tried, kept or rolled back with why, and localize before and after.
#include "repair/repair.h"

namespace transfix {

nlohmann::json repair_json(const RepairResult& r) {
  nlohmann::json fixes = nlohmann::json::array();
  auto sc = [](const RepairScore& s) {
    return nlohmann::json{{"flips", s.flips}, {"max_relative_error", s.max_rel}, {"crashed", s.crashed}};
  };
  for (const auto& f : r.fixes)
    fixes.push_back({{"fault", f.fault}, {"action", to_string(f.action)}, {"text", f.text}, {"kept", f.kept}, {"why", f.why},
                     {"before", sc(f.before)}, {"after", sc(f.after)}});
  return {{"schema", "transfix.repair/1"}, {"initial", sc(r.initial)}, {"final", sc(r.final_score)},
          {"fixes", fixes}, {"rounds", r.rounds}, {"seconds", r.seconds},
          {"localize_before", localize_json(r.first)}, {"localize_after", localize_json(r.last)}};
}

}  // namespace transfix
