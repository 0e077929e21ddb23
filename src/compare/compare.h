// Differential testing of a model (source) and its conversion (target) on real inputs, with a
// verdict calibrated by the source's own rounding noise.
//
// Every sample runs through the source in fp32 and the target in fp32; the first
// `calibration_samples` also run through the source in fp64. The source's fp32-vs-fp64 error is
// the noise floor of this model on this data: what any correct fp32 implementation may differ by.
// Per output the target's error is judged against `noise_multiple` x that floor (never below
// `abs_floor` x the output's scale):
//   EQUIVALENT  within tolerance, no label flips beyond noise
//   DEGRADED    numeric error beyond tolerance, labels the same
//   DIVERGENT   top-1 labels (or dense per-position argmax) flip beyond noise, or outputs missing
//   CRASH       the target fails to load, prepare or run (or the source does: then nothing was tested)
// A flip counts only when the source's scores for the two classes differ by more than the
// tolerance: a near-tie that rounding alone can reorder is reported but is not a divergence.
#pragma once
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "compare/metrics.h"
#include "core/graph.h"
#include "data/dataset.h"
#include "data/image.h"
#include "runtime/interpreter.h"

namespace transfix {

struct CompareOptions {
  Preprocess source_preprocess = preprocess_preset("torchvision");  // image datasets only
  Preprocess target_preprocess = preprocess_preset("torchvision");
  int64_t limit = -1;                 // max samples compared (-1: all)
  int64_t calibration_samples = 8;    // first N samples also run the source in fp64
  double noise_multiple = 8.0;        // tolerance = noise_multiple x noise floor ...
  double abs_floor = 1e-6;            // ... but at least abs_floor x max |source output|
  std::optional<double> atol, rtol;   // user tolerance: |t - s| <= atol + rtol |s| replaces the calibrated one
  double max_flip_rate = 0.0;         // flips beyond noise allowed, as a fraction of instances
  int64_t top_k = 5;
  bool per_sample = false;            // keep per-sample details for the report
  // Judge a target that intends a lower precision (float16, int8, ...) against that precision
  // simulated on the source, times this factor (0: judge it as float32).
  double precision_budget = 2.0;
  // With per_sample: image samples whose top-1 label changes get a small JPEG thumbnail (data: URI,
  // 64 px) in their record, for the first `thumbnails` such samples (the HTML report's flip table).
  int64_t thumbnails = 0;
  // --shard I/N: this run takes the samples whose index in the dataset is I mod N (0-based I), so N
  // runs cover a dataset between them; `transfix merge` joins their reports.
  int64_t shard_index = 0, shard_count = 1;
  // What runs each side's fp32 inference: "transfix" (the interpreter), "ort" (ONNX Runtime, ONNX
  // models), "armnn" (Arm NN CpuRef, TFLite) or "libtorch" (TorchScript); analysis/native_runtime.h.
  // fp64 calibration and the float twin always use the interpreter.
  std::string source_runtime = "transfix", target_runtime = "transfix";
  int threads = 0;  // for native runtimes (0: 2)
  // How the interpreter runs quantized (TFLite int8/uint8) models, either side: TFLite's reference
  // integer kernels, XNNPACK-style requantization (what the TFLite interpreter runs on CPU by
  // default), or dequantized float. The float twin and fp64 calibration are unaffected.
  QuantMode quant_mode = QuantMode::kInteger;
  // Called after each sample (samples done so far); for progress display.
  std::function<void(size_t)> progress;
};

enum class Verdict { kEquivalent, kDegraded, kDivergent, kCrash };
const char* verdict_name(Verdict v);

struct Crash {
  std::string side;     // "source" or "target"
  std::string stage;    // "load", "prepare", "input", "run", "run-fp64", "output"
  std::string message;
  std::string sample;   // sample id for per-sample stages
};

struct ModelSummary {
  std::string path, format, producer;
  int64_t opset = 0;
  int64_t file_bytes = -1;  // model file size (-1: unknown)
  int64_t nodes = 0;
  std::vector<ValueInfo> inputs, outputs;
  bool loaded = false;
  std::string runtime = "transfix";  // what ran the fp32 inference
  std::string runtime_version;       // native runtimes: as they report it ("CpuRef backend, libarmnn 22.0.0")
  std::string quant_mode;            // quantized models run by the interpreter: "int", "int-xnnpack", "dequantized"
  double run_ms = 0;  // total fp32 inference time
  int64_t runs = 0;
};

struct OutputResult {
  std::string source_name, target_name;
  std::string kind = "numeric";  // "classification" (rank <= 2, >1 class), "dense" (rank > 2), "numeric"
  Shape shape;
  Verdict verdict = Verdict::kEquivalent;
  bool within_tolerance = true;
  std::vector<std::string> reasons;  // why the verdict is not EQUIVALENT
  std::vector<std::string> notes;    // output adaptations
  int64_t samples = 0;

  ErrorStats error;   // target vs source fp32, every sample
  ErrorStats noise;   // source fp32 vs source fp64, calibration samples
  int64_t calibration_samples = 0;
  double tolerance = 0;            // absolute tolerance in effect (calibrated mode)
  double quantization_step = 0;    // the source output's grid step when it is an integer output (else 0)
  std::string tolerance_basis;     // "8 x noise floor", "floor 1e-6 x scale", "user atol/rtol"
  int64_t user_violations = 0;     // elements outside atol + rtol |s| (user mode)

  // Quantized targets: their float twin (runtime/quant_simulation.h: the same graph and stored weights in
  // float, no activation rounded) splits the target's error in two.
  bool quantization_split = false;
  bool half_precision_twin = false;  // the split is float16 arithmetic (target vs its float32 twin), not quantization
  ErrorStats quantization;         // target vs its float twin: what quantizing the activations adds (intended)
  ErrorStats conversion;           // float twin vs source: everything else (weight rounding included)
  int64_t quantization_flips = 0;  // top-1 of the target differs from its float twin's
  int64_t conversion_flips = 0;    // top-1 of the float twin differs from the source's

  // Targets meant to run in a lower precision (analysis/intended_precision.h): the same precision
  // simulated on the source sets the budget the target's error is judged against.
  std::string intended_precision;  // "int8", "float16 weights", ... (empty: float32)
  bool simulated = false;
  ErrorStats simulation;           // simulated source vs source fp32
  int64_t simulation_flips = 0;    // top-1 of the simulated source differs from the source's
  // The weights' storage alone simulated (no activation rounded): the budget for the quantization
  // split's conversion part (float twin vs source), where a fault is not drowned by activation rounding.
  bool weight_simulated = false;
  ErrorStats weight_simulation;
  int64_t weight_simulation_flips = 0;
  bool within_intended = false;    // the target's error is within that budget
  std::string precision_note;      // the budget and how the target compares with it

  // classification: one instance per row (batch entry)
  int64_t instances = 0, flips = 0, near_tie_flips = 0, noise_flips = 0;
  double top_k_overlap_sum = 0, kendall_tau_sum = 0, top_k_overlap_min = 1, kendall_tau_min = 1;
  std::map<std::pair<int64_t, int64_t>, int64_t> flip_pairs;  // (source top-1, target top-1) -> count
  int64_t labeled = 0, source_correct = 0, target_correct = 0;
  // dense: per-position argmax over the channel axis
  int64_t channel_axis = 1, positions = 0, position_flips = 0, position_near_tie_flips = 0;

  // Flip margins (source score gap) seen before the tolerance was known; resolved at the end.
  std::vector<double> pending_margins;
  // Every flip's (margin, source score), so that merged shards can judge them against the merged tolerance.
  std::vector<std::pair<double, double>> flip_margins;
  bool tolerance_ready = false;
  std::string mismatch;  // output missing in the target or of an incompatible shape
  double flip_rate() const;
  double noise_units(double err) const;  // err / noise floor (inf if the floor is 0 and err > 0)
};

struct CompareResult {
  ModelSummary source, target;
  std::string data_kind, data_description;
  int64_t candidates = 0, samples = 0, limit = -1;
  std::vector<SkippedItem> skipped;
  size_t ignored_files = 0;
  bool labels = false;
  std::optional<nlohmann::json> source_preprocess, target_preprocess;
  std::vector<std::string> input_notes;
  std::vector<OutputResult> outputs;
  std::vector<Crash> crashes;      // first few per side and stage
  int64_t source_failures = 0, target_failures = 0, calibration_failures = 0;
  int64_t calibration_samples = 0;
  Verdict verdict = Verdict::kEquivalent;
  int exit_code = 0;               // 0 equivalent/within tolerance, 1 not, 2 nothing could be tested
  std::string error;               // why exit_code is 2
  nlohmann::json per_sample = nlohmann::json::array();
  double wall_seconds = 0;
  int64_t shard_index = 0, shard_count = 1;
  int64_t merged_reports = 0;      // transfix merge: how many shard reports this joins (0: a single run)
};

// Opens the dataset once the models are loaded (npy/random data take their shapes from the source, or
// from the target's input at the same position where the source records none, as TorchScript does).
// `target` is null when the target could not be loaded.
using DatasetFactory = std::function<std::unique_ptr<Dataset>(const Model& source, const Model* target)>;

// Runs the comparison. Load and run failures of either model are results (crashes), not
// exceptions; InputError escapes only for bad options or a dataset that cannot be opened.
CompareResult compare_models(const std::string& source_path, const std::string& target_path,
                             const DatasetFactory& open_dataset, const CompareOptions& options);

// The JSON report (schema in docs/compare.md).
nlohmann::json compare_report_json(const CompareResult& r, const CompareOptions& options);

// Verdict for one output from its accumulated statistics (tolerance already resolved).
void decide_verdict(OutputResult& out, const CompareOptions& options, bool target_crashed);

// Joins the JSON reports of shards of one comparison (same models, data and tolerance options;
// written by compare --shard I/N with --report) into one result, as if one run had compared all
// their samples: statistics are summed, the noise floor is the largest seen, every flip is judged
// against the merged tolerance, verdicts are decided again. Sets *options to the reports' options.
// InputError when the reports do not belong together or lack the accumulators (older reports).
CompareResult merge_compare_reports(const std::vector<nlohmann::json>& reports, CompareOptions* options);

}  // namespace transfix
