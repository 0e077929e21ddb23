// transfix repair: applies the fixes localize suggests to a converted model, keeps each only if it
// measurably reduces the error on data (flips first, then numeric error), and re-localizes after
// every kept fix until the models agree, nothing helps any more, or the time is up.
#pragma once
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "localize/localize.h"

namespace transfix {

struct RepairOptions {
  LocalizeOptions localize;
  double max_seconds = 60;
  int max_rounds = 16;
  bool float_restore = false;  // restore quantized/fp16 weights as float32 instead of re-quantizing
};

// Error of a model on the verification samples against the source's fp64 outputs.
struct RepairScore {
  int64_t flips = 0;        // top-1 labels that differ from the source's
  double max_rel = 0;       // max |t - s| / max |s| over outputs
  bool crashed = false;
  bool better_than(const RepairScore& o) const;
  std::string describe() const;
};

struct AppliedFix {
  std::string fault;    // the fault's one-line summary
  RepairAction action = RepairAction::kNone;
  std::string text;
  bool kept = false;
  std::string why;      // why it was rolled back or could not be applied
  RepairScore before, after;
};

struct RepairResult {
  Model repaired;
  std::vector<AppliedFix> fixes;
  RepairScore initial, final_score;
  LocalizeResult first, last;  // localization before and after
  double seconds = 0;
  int rounds = 0;
};

RepairResult repair_model(const Model& source, const Model& target, const std::vector<ProbeInputs>& samples,
                          const RepairOptions& options);

nlohmann::json repair_json(const RepairResult& r);

// The individual fixes (exposed for tests). Each returns a changed copy or throws InputError/UnsupportedError.
Model apply_fix(const Model& source, const Model& target, const Fault& fault, const RepairOptions& options);

}  // namespace transfix
