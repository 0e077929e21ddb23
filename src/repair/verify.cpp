#include "repair/verify.h"

#include "core/errors.h"
#include "runtime/quant_simulation.h"

namespace transfix {

std::vector<ProbeInputs> repair_samples(Dataset& data, const Model& source, const Model& target,
                                        const LocalizeOptions& options, int64_t count) {
  std::vector<ProbeInputs> samples;
  while (static_cast<int64_t>(samples.size()) < count) {
    try {
      samples.push_back(next_probe(data, source, target, options.source_preprocess, options.target_preprocess));
    } catch (const InputError&) {
      if (samples.empty()) throw;
      break;
    }
  }
  return samples;
}

RepairVerification verify_repair(const std::string& source_path, const std::string& written_path,
                                 const RepairResult& repair, const DatasetFactory& open_dataset,
                                 const CompareOptions& options) {
  RepairVerification v;
  v.compare = compare_models(source_path, written_path, open_dataset, options);
  bool only_numeric = true;
  for (const auto& f : repair.last.diagnosis.faults) only_numeric &= f.category == FaultCategory::kNumeric;
  v.intended_quantization_only =
      has_quantized_ops(repair.repaired) && v.compare.verdict == Verdict::kDegraded && only_numeric;
  v.exit_code = v.intended_quantization_only ? 0 : v.compare.exit_code;
  return v;
}

}  // namespace transfix
