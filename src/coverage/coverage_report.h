// transfix coverage: the operator sequences of the models under study, joined with what tested
// conversions exercised (passing) and where they failed (localized failing segments), and ranked by
// association with failure. docs/coverage.md describes the counts, the statistic and the JSON.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "coverage/coverage.h"
#include "coverage/coverage_evidence.h"

namespace transfix {

struct CoverageOptions {
  int n = 3;  // sequence length (1 = single ops)
  CoverageFold fold;  // default: noops, bn
  bool per_model = false;  // keep each model's sequence counts (for the JSON); memory grows with models
};

// Everything known about one sequence (length 1 or n).
struct SequenceStats {
  uint32_t sequence = 0;
  int length = 0;
  // In the models under study.
  uint64_t occurrences = 0;  // paths
  int models = 0;            // models with at least one path
  std::vector<std::string> example;  // one path, in its model's own names (first model that has it)
  std::string example_model;
  // In the tested conversions (each on the side its evidence names; docs/coverage.md).
  int passing_conversions = 0, failing_conversions = 0;  // conversions where it occurs / touches a failing segment
  uint64_t clean = 0, failing = 0;  // paths outside / through failing segments
  std::vector<std::string> failing_example;
  std::string failing_example_model;
  double p_value = 1.0;  // one-sided Fisher exact test of failing vs clean paths
  double lift = 0.0;     // failing share of its paths / failing share of all paths
  bool exercised() const { return passing_conversions > 0; }
};

struct ModelCoverage {
  std::string path, format;
  size_t ops = 0;             // data nodes after folding
  uint64_t paths = 0;         // paths of length n
  size_t distinct_ops = 0, distinct_sequences = 0;
  size_t untested_ops = 0, untested_sequences = 0;  // never in a passing conversion (evidence given)
  uint64_t untested_paths = 0;
  std::vector<std::pair<uint32_t, uint64_t>> sequences;  // (sequence, paths), per_model only
};

struct ConversionCoverage {
  ConversionEvidence evidence;
  std::string side;       // the model whose sequences stand for the conversion: "source" or "target"
  bool localized = false;  // failing segment found in that model (else the whole model counts as failing)
  size_t marked_nodes = 0;
  uint64_t failing_paths = 0, clean_paths = 0;  // length n
  std::string note;
};

struct CoverageResult {
  CoverageOptions options;
  std::shared_ptr<SequenceTable> table;
  std::vector<ModelCoverage> models;
  std::vector<ConversionCoverage> conversions;
  std::unordered_map<uint32_t, SequenceStats> stats;  // lengths 1 and n
  std::map<int, uint64_t> failing_total, clean_total;  // by length
  bool has_evidence() const { return !conversions.empty(); }

  // Rows of one length: of the models under study by paths (most first); never exercised ones;
  // failure-associated ones (failing > 0) by p-value, then lift.
  std::vector<const SequenceStats*> in_models(int length) const;
  std::vector<const SequenceStats*> untested(int length) const;
  std::vector<const SequenceStats*> failure_ranked(int length) const;
  std::string describe(uint32_t sequence) const { return table->describe(sequence); }
};

// Evidence first (so each model's untested counts are known when it is added), then the models.
class CoverageBuilder {
 public:
  explicit CoverageBuilder(CoverageOptions options);
  ~CoverageBuilder();
  void add_conversion(const ConversionEvidence& evidence);  // loads the model of the side it names
  void add_model(const Model& model);
  CoverageResult finish();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Schema transfix.coverage/1 (docs/coverage.md).
nlohmann::json coverage_json(const CoverageResult& r);

}  // namespace transfix
