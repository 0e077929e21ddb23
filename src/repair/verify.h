// After repair: the samples repair measures fixes on, and the check of the written file as a user
// would make it (compare against the source), with the rule for intentionally quantized targets.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "compare/compare.h"
#include "repair/repair.h"

namespace transfix {

// Up to `count` probe samples from `data` (fewer when it runs out; InputError when it has none).
std::vector<ProbeInputs> repair_samples(Dataset& data, const Model& source, const Model& target,
                                        const LocalizeOptions& options, int64_t count);

struct RepairVerification {
  CompareResult compare;  // the written file against the source
  // A quantized target never equals its float source: it counts as repaired when no labels flip beyond
  // noise (compare says DEGRADED, not DIVERGENT) and localize attributes what remains to no fault
  // (unexplained numeric error at most, as a quantized softmax shows).
  bool intended_quantization_only = false;
  int exit_code = 0;      // 0 repaired, 1 not, 2 nothing could be tested
};

RepairVerification verify_repair(const std::string& source_path, const std::string& written_path,
                                 const RepairResult& repair, const DatasetFactory& open_dataset,
                                 const CompareOptions& options);

}  // namespace transfix
