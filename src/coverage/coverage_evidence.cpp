#include "coverage/coverage_evidence.h"

#include <filesystem>
#include <fstream>
#include <optional>
#include <set>

#include <nlohmann/json.hpp>

#include "core/errors.h"

namespace transfix {

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

json read_json(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError("coverage: cannot read '" + path + "'");
  json j = json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) throw InputError("coverage: '" + path + "' is not valid JSON");
  return j;
}

std::string string_field(const json& j, const char* key, const std::string& file) {
  if (!j.is_object() || !j.contains(key) || !j[key].is_string())
    throw InputError("coverage: '" + file + "': missing string field '" + key + "'");
  return j[key].get<std::string>();
}

// A model path as the report wrote it: relative to where the tool ran (usually this working folder),
// else to the report's own folder.
std::string resolve_model(const std::string& model, const std::string& file) {
  if (fs::exists(model)) return model;
  const fs::path beside = fs::path(file).parent_path() / model;
  if (!fs::path(model).is_absolute() && fs::exists(beside)) return beside.string();
  throw InputError("coverage: '" + file + "' names model '" + model + "', which does not exist");
}

std::vector<std::string> strings(const json& j) {
  std::vector<std::string> out;
  if (j.is_array())
    for (const auto& x : j)
      if (x.is_string()) out.push_back(x.get<std::string>());
  return out;
}

ConversionEvidence from_localize(const json& j, const std::string& file) {
  ConversionEvidence e;
  e.file = file, e.kind = "localize";
  e.source = resolve_model(string_field(j, "source", file), file);
  e.target = resolve_model(string_field(j, "target", file), file);
  if (!j.contains("faults") || !j["faults"].is_array()) throw InputError("coverage: '" + file + "': no 'faults' array");
  e.passed = j["faults"].empty();
  e.verdict = e.passed ? "no faults" : "faults: " + std::to_string(j["faults"].size());
  for (const auto& f : j["faults"]) {
    if (!f.is_object()) continue;
    for (const auto& [side, out] : {std::pair{"source", &e.source_fault_ops}, std::pair{"target", &e.target_fault_ops}})
      if (f.contains(side) && f[side].is_object() && f[side].contains("ops"))
        for (auto& op : strings(f[side]["ops"])) out->push_back(std::move(op));
  }
  return e;
}

std::optional<ConversionEvidence> from_compare(const json& j, const std::string& file) {
  if (j.value("exit_code", 0) == 2) return std::nullopt;  // nothing was tested
  ConversionEvidence e;
  e.file = file, e.kind = "compare";
  const json none;
  e.source = resolve_model(string_field(j.value("source", none), "path", file), file);
  e.target = resolve_model(string_field(j.value("target", none), "path", file), file);
  e.verdict = string_field(j, "verdict", file);
  e.passed = e.verdict == "EQUIVALENT";
  return e;
}

bool passing_verdict(const json& v, const std::string& file) {
  if (v.is_boolean()) return v.get<bool>();
  static const std::set<std::string> pass = {"pass", "passed", "ok", "EQUIVALENT", "equivalent"};
  static const std::set<std::string> fail = {"fail", "failed", "DEGRADED", "DIVERGENT", "CRASH",
                                             "degraded", "divergent", "crash"};
  const std::string s = v.is_string() ? v.get<std::string>() : v.dump();
  if (pass.count(s)) return true;
  if (fail.count(s)) return false;
  throw InputError("coverage: '" + file + "': verdict '" + s + "' is neither pass nor fail");
}

std::vector<ConversionEvidence> from_pairs(const json& list, const std::string& file) {
  std::vector<ConversionEvidence> out;
  for (const auto& p : list) {
    ConversionEvidence e;
    e.file = file, e.kind = "pairs";
    e.source = resolve_model(string_field(p, "source", file), file);
    e.target = resolve_model(string_field(p, "target", file), file);
    if (!p.contains("verdict")) throw InputError("coverage: '" + file + "': a pair has no 'verdict'");
    e.passed = passing_verdict(p["verdict"], file);
    e.verdict = p["verdict"].is_string() ? p["verdict"].get<std::string>() : p["verdict"].dump();
    out.push_back(std::move(e));
  }
  return out;
}

}  // namespace

std::vector<ConversionEvidence> read_conversion_evidence(const std::string& path) {
  const json j = read_json(path);
  if (j.is_array()) return from_pairs(j, path);
  if (!j.is_object()) throw InputError("coverage: '" + path + "' is neither a report nor a pair list");
  const std::string schema = j.value("schema", "");
  if (schema == "transfix.localize/1") return {from_localize(j, path)};
  if (schema == "transfix.compare/1") {
    auto e = from_compare(j, path);
    return e ? std::vector<ConversionEvidence>{*e} : std::vector<ConversionEvidence>{};
  }
  if (j.contains("pairs") && j["pairs"].is_array()) return from_pairs(j["pairs"], path);
  throw InputError("coverage: '" + path + "' is not a localize or compare report (schema '" + schema +
                   "') or a {\"pairs\": [...]} list");
}

}  // namespace transfix
