// Pieces of compare shared by its files (compare.cpp runs the models, verdict.cpp judges, report_json.cpp
// and merge.cpp write and read the JSON report). Not part of the library's interface.
#pragma once
#include <string>

#include <nlohmann/json.hpp>

#include "compare/compare.h"
#include "core/format.h"

namespace transfix {

// Whether the user gave --atol/--rtol (fixed tolerances instead of the calibrated ones).
bool user_mode(const CompareOptions& o);
// Score gap a flip must exceed to count: the tolerance in effect at the source's winning score.
double flip_threshold(const OutputResult& o, const CompareOptions& opt, double source_score);
// A top-1 change with its margin, counted as a flip or a near tie once the tolerance is known.
void record_flip_margin(OutputResult& o, const CompareOptions& opt, double margin, double source_score);
// The grid step of an integer (quantized) output, per tensor; 0 for float outputs.
double integer_output_step(const ValueInfo& v);
// Sets the output's calibrated tolerance once (and judges the flips that waited for it).
void resolve_tolerance(OutputResult& o, const CompareOptions& opt);

// Inverse of json_number (core/format.h): null is NaN, "inf"/"-inf" are infinities.
double from_num(const nlohmann::json& v);

}  // namespace transfix
