// transfix localize: where and why a conversion is wrong. Runs the source (fp64 + fp32) on one probe
// input, aligns the target to it tensor by tensor with teacher forcing (align.h), and diagnoses every
// segment that introduces error (diagnose.h).
#pragma once
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "localize/align.h"
#include "localize/diagnose.h"
#include "localize/probe.h"
#include "data/dataset.h"

namespace transfix {

struct LocalizeOptions {
  Preprocess source_preprocess = preprocess_preset("torchvision");
  Preprocess target_preprocess = preprocess_preset("torchvision");
  AlignOptions align;
  // Probe inputs tried in turn until one shows a fault (a fault may change nothing on one input,
  // e.g. ReLU -> ReLU6 where no value exceeds 6).
  int probes = 2;
  // Samples read first, both models run on each; probes are tried worst first (the largest output
  // error relative to the source output's scale), so a fault that shows on few inputs is found.
  int scan = 16;
};

struct LocalizeResult {
  std::string source_path, target_path;
  nlohmann::json source_info, target_info;  // model_info_json: format, producer, opset, file size
  std::string data_kind, data_description;  // the dataset the probe came from (empty: inputs given)
  AlignOptions thresholds;                  // the clean-match thresholds in effect
  std::vector<std::string> source_node_labels, target_node_labels;  // "Op 'name'" per node, for reports
  ProbeInputs probe;
  Alignment alignment;
  Diagnosis diagnosis;
  double seconds = 0;
};

LocalizeResult localize_models(const Model& source, const Model& target, Dataset& data, const LocalizeOptions& options);

// Same, on inputs already made (repair re-localizes with the same probe).
LocalizeResult localize_with_probe(const Model& source, const Model& target, const ProbeInputs& probe,
                                   const LocalizeOptions& options);

nlohmann::json localize_json(const LocalizeResult& r);

}  // namespace transfix
