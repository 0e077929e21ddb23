// Stage 1 of diagnosis: the conversion tool. Producer facts from metadata, and a small library of
// known converter faults, each a detector over a diagnosed fault with a public reference
// (docs/known_faults.md lists them).
#pragma once
#include <string>
#include <vector>

#include "localize/diagnose.h"

namespace transfix {

// "target produced by pytorch 1.13.1 (ONNX opset 9)" and similar lines.
std::vector<std::string> producer_notes(const Model& source, const Model& target);

// Known-fault findings (stage "tool") that match this fault.
std::vector<Finding> known_fault_findings(const Model& source, const Model& target, const Fault& fault);

struct KnownFault {
  std::string id, title, reference;
};
const std::vector<KnownFault>& known_faults();

}  // namespace transfix
