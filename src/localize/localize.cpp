#include "localize/localize.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <memory>

#include "localize/accumulated_error.h"
#include "compare/contract.h"
#include "compare/intended_precision.h"
#include "compare/model_info.h"
#include "core/errors.h"
#include "runtime/interpreter.h"
#include "runtime/quant_simulation.h"

namespace transfix {

LocalizeResult localize_with_probe(const Model& source, const Model& target, const ProbeInputs& probe,
                                   const LocalizeOptions& opt) {
  auto t0 = std::chrono::steady_clock::now();
  LocalizeResult r;
  r.source_path = source.path, r.target_path = target.path;
  r.source_info = model_info_json(source), r.target_info = model_info_json(target);
  r.thresholds = opt.align;
  for (const auto& n : source.graph.nodes) r.source_node_labels.push_back(node_label(n));
  for (const auto& n : target.graph.nodes) r.target_node_labels.push_back(node_label(n));
  r.probe = probe;
  SourceTrace trace = trace_source(source, probe.source, computes_in_fp16(target));
  r.alignment = align_models(source, target, trace, probe.target, opt.align);
  measure_accumulated_error(target, trace, probe.target, r.alignment.pairs);
  r.diagnosis = diagnose(source, target, trace, r.alignment);
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return r;
}

namespace {

// How far the target's outputs are from the source's on one probe: max over outputs paired as
// compare pairs them (`outputs`) of max |t - s| / max |s| (infinite when a run fails: that probe
// shows something).
double output_error(Interpreter& source, Interpreter& target, const Model& src, const Model& tgt, const ValuePairing& outputs,
                    const ProbeInputs& p) {
  try {
    auto s = source.run(p.source);
    auto t = target.run(p.target);
    double worst = 0;
    for (auto [si, ti] : outputs.pairs) {
      const Tensor a = real_f64(s.at(src.graph.outputs[si].name)), b = real_f64(t.at(tgt.graph.outputs[ti].name));
      if (a.numel() != b.numel()) return std::numeric_limits<double>::infinity();
      worst = std::max(worst, max_abs_diff(a, b.reshaped(a.shape())) / std::max(max_abs(a), 1e-30));
    }
    return worst;
  } catch (const std::exception&) {
    return std::numeric_limits<double>::infinity();
  }
}

// Up to `scan` probes from the data, worst first. A target that rounds its activations is worst
// where they clip (intended): an integer model is scored by its float twin (its weights and graph,
// nothing rounded), other such targets (ONNX QDQ) are taken in data order.
std::vector<ProbeInputs> probes_worst_first(const Model& source, const Model& target, Dataset& data, const LocalizeOptions& opt) {
  std::vector<std::pair<double, ProbeInputs>> scored;
  std::unique_ptr<Interpreter> s, t;
  std::unique_ptr<Model> twin;
  const bool integer = has_quantized_ops(target);
  const IntendedPrecision precision = intended_precision(target);  // (dynamic ranges never clip)
  const bool in_order = !integer && precision.activations_in_graph && precision.kind != PrecisionKind::kDynamicInt8;
  const ValuePairing outputs = pair_values(source.graph.outputs, target.graph.outputs, "output");
  for (int i = 0; i < std::max(opt.scan, 1); ++i) {
    ProbeInputs p;
    try {
      p = next_probe(data, source, target, opt.source_preprocess, opt.target_preprocess);
    } catch (const InputError&) {
      if (i == 0) throw;  // no usable sample at all
      break;
    }
    if (opt.scan <= 1) return {p};
    if (in_order) {
      scored.emplace_back(0.0, std::move(p));
      continue;
    }
    if (!s) s = std::make_unique<Interpreter>(source, InterpreterOptions{Precision::kF32});
    if (!t) {
      if (integer) twin = std::make_unique<Model>(float_twin_model(target));
      t = std::make_unique<Interpreter>(twin ? *twin : target, InterpreterOptions{Precision::kF32});
    }
    const double e = output_error(*s, *t, source, twin ? *twin : target, outputs, p);
    scored.emplace_back(e, std::move(p));
  }
  std::stable_sort(scored.begin(), scored.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  std::vector<ProbeInputs> out;
  for (auto& [e, p] : scored) out.push_back(std::move(p));
  return out;
}

}  // namespace

LocalizeResult localize_models(const Model& source, const Model& target, Dataset& data, const LocalizeOptions& opt) {
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<ProbeInputs> probes = probes_worst_first(source, target, data, opt);
  LocalizeResult r;
  for (size_t i = 0; i < probes.size() && static_cast<int>(i) < std::max(opt.probes, 1); ++i) {
    r = localize_with_probe(source, target, probes[i], opt);
    if (!r.diagnosis.faults.empty()) break;
  }
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  r.data_kind = data.kind(), r.data_description = data.description();
  return r;
}

}  // namespace transfix
