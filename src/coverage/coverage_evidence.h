// What `transfix coverage --against` learns from conversion tests: for each tested conversion, its
// two models, whether it passed, and (localize reports) which ops the failing segments name.
// Reads localize reports (transfix.localize/1), compare reports (transfix.compare/1) and pair lists
// ({"pairs": [{source, target, verdict}]} or a bare array of them). docs/coverage.md.
#pragma once
#include <string>
#include <vector>

namespace transfix {

struct ConversionEvidence {
  std::string file;            // the report or pair list it came from
  std::string kind;            // "localize", "compare", "pairs"
  std::string source, target;  // model paths, resolved against the working folder or the file's folder
  bool passed = false;
  std::string verdict;         // as the file says it ("EQUIVALENT", "faults: 2", "pass", ...)
  // Failing localize reports: the ops of the faulty segments, as localize labels them ("Conv 'conv1'").
  std::vector<std::string> source_fault_ops, target_fault_ops;
};

// Every conversion the file describes. InputError (naming the file) when it is not JSON, has no
// recognized shape, or names a model that does not exist. Compare reports that tested nothing
// (exit code 2) are skipped: they say nothing about the conversion.
std::vector<ConversionEvidence> read_conversion_evidence(const std::string& path);

}  // namespace transfix
