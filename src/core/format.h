// Numbers and integer lists as reports and canonical attributes write them.
#pragma once
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace transfix {

// "[1,1,0,0]": canonical attributes compare these strings, so the form must not change.
inline std::string format_ints(const std::vector<int64_t>& v) {
  std::string s = "[";
  for (size_t i = 0; i < v.size(); ++i) s += (i ? "," : "") + std::to_string(v[i]);
  return s + "]";
}

// Six significant digits ("1e-05", "0.75", "inf"): enough to tell hyperparameters apart.
inline std::string format_number(double v) {
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

// A number in a JSON report: NaN (not measured) is null, infinities are "inf" / "-inf" (JSON has none).
inline nlohmann::json json_number(double v) {
  if (std::isnan(v)) return nullptr;
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  return v;
}

}  // namespace transfix
