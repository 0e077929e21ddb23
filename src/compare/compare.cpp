#include "compare/compare.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <set>

#include "compare/contract.h"
#include "compare/intended_precision.h"
#include "native/native_runtime.h"
#include "compare/model_info.h"
#include "core/errors.h"
#include "core/tensor_math.h"
#include "data/image_encode.h"
#include "formats/model_io.h"
#include "runtime/interpreter.h"
#include "runtime/quant_simulation.h"

namespace transfix {

const char* verdict_name(Verdict v) {
  switch (v) {
    case Verdict::kEquivalent: return "EQUIVALENT";
    case Verdict::kDegraded: return "DEGRADED";
    case Verdict::kDivergent: return "DIVERGENT";
    case Verdict::kCrash: return "CRASH";
  }
  return "?";
}

double OutputResult::flip_rate() const {
  if (kind == "classification") return instances ? static_cast<double>(flips) / static_cast<double>(instances) : 0;
  if (kind == "dense") return positions ? static_cast<double>(position_flips) / static_cast<double>(positions) : 0;
  return 0;
}

double OutputResult::noise_units(double err) const {
  if (noise.max_abs > 0) return err / noise.max_abs;
  return err > 0 ? std::numeric_limits<double>::infinity() : 0.0;
}

namespace {

using Clock = std::chrono::steady_clock;
constexpr size_t kMaxCrashesPerStage = 5;

bool user_mode(const CompareOptions& o) { return o.atol.has_value() || o.rtol.has_value(); }

// Score gap a flip must exceed to count: the tolerance in effect at the source's winning score.
double flip_threshold(const OutputResult& o, const CompareOptions& opt, double source_score) {
  if (user_mode(opt)) return opt.atol.value_or(0.0) + opt.rtol.value_or(0.0) * std::fabs(source_score);
  return o.tolerance;
}

void record_flip_margin(OutputResult& o, const CompareOptions& opt, double margin, double source_score) {
  o.flip_margins.push_back({margin, source_score});
  if (!o.tolerance_ready) {
    o.pending_margins.push_back(margin);  // decided once calibration has set the tolerance
    return;
  }
  bool near_tie = !(margin > flip_threshold(o, opt, source_score));
  if (o.kind == "dense") ++(near_tie ? o.position_near_tie_flips : o.position_flips);
  else ++(near_tie ? o.near_tie_flips : o.flips);
}

// The grid step of an integer (quantized) output, per tensor; 0 for float outputs.
double integer_output_step(const ValueInfo& v) {
  if (!v.quant || !is_integer(v.dtype) || v.quant->scale.size() != 1) return 0.0;
  return v.quant->scale[0] > 0 ? v.quant->scale[0] : 0.0;
}

// Calibrated tolerance: noise_multiple x the noise floor, at least abs_floor x the output scale, and at
// least one step of the source's output grid when that output is an integer tensor (two integer
// implementations may round a requantization differently: TFLite's reference kernels, its XNNPACK
// delegate and Arm NN differ by a step on the same model).
void resolve_tolerance(OutputResult& o, const CompareOptions& opt) {
  if (o.tolerance_ready) return;
  double scale = o.calibration_samples ? o.noise.max_ref_abs : o.error.max_ref_abs;
  double floor = opt.abs_floor * scale;
  double from_noise = opt.noise_multiple * o.noise.max_abs;
  o.tolerance = std::max({floor, from_noise, o.quantization_step});
  char buf[160];
  if (user_mode(opt)) {
    std::snprintf(buf, sizeof buf, "user: |t - s| <= %g + %g |s|", opt.atol.value_or(0.0), opt.rtol.value_or(0.0));
  } else if (o.quantization_step > 0 && o.quantization_step >= std::max(floor, from_noise)) {
    std::snprintf(buf, sizeof buf, "1 step of the source's quantized output (%g)", o.quantization_step);
  } else if (o.calibration_samples == 0) {
    std::snprintf(buf, sizeof buf, "%g x output scale (no fp64 calibration)", opt.abs_floor);
  } else if (from_noise >= floor) {
    std::snprintf(buf, sizeof buf, "%g x noise floor", opt.noise_multiple);
  } else {
    std::snprintf(buf, sizeof buf, "floor %g x output scale %.3g (noise floor below it)", opt.abs_floor, scale);
  }
  o.tolerance_basis = buf;
  o.tolerance_ready = true;
  // Pending margins had no source score attached: in user mode judge them against atol + rtol x scale.
  for (double m : o.pending_margins) {
    double threshold = user_mode(opt) ? opt.atol.value_or(0.0) + opt.rtol.value_or(0.0) * scale : o.tolerance;
    bool near_tie = !(m > threshold);
    if (o.kind == "dense") ++(near_tie ? o.position_near_tie_flips : o.position_flips);
    else ++(near_tie ? o.near_tie_flips : o.flips);
  }
  o.pending_margins.clear();
}

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

struct Side {
  ModelSummary* summary = nullptr;
  std::unique_ptr<Model> model;
  std::unique_ptr<Interpreter> fp32, fp64;
  std::unique_ptr<NativeRuntime> native;  // --source-runtime / --target-runtime other than transfix
  std::unique_ptr<Model> twin_model;  // quantized targets: the float twin
  std::unique_ptr<Interpreter> twin;
  std::unique_ptr<PrecisionSimulator> simulator;  // source: the target's intended precision, simulated
  std::unique_ptr<PrecisionSimulator> weight_simulator;  // ... its weights' storage alone
  std::vector<ValueInfo> inputs;
  std::optional<Preprocess> preprocess;  // resolved, image datasets
  bool ok = false;
};

class Recorder {
 public:
  explicit Recorder(CompareResult& r) : r_(r) {}
  void crash(const std::string& side, const std::string& stage, const std::string& message, const std::string& sample = {}) {
    if (count_[side + "/" + stage]++ < kMaxCrashesPerStage) r_.crashes.push_back({side, stage, message, sample});
  }
  void note(const std::string& n) {
    if (seen_.insert(n).second) r_.input_notes.push_back(n);
  }

 private:
  CompareResult& r_;
  std::map<std::string, size_t> count_;
  std::set<std::string> seen_;
};

// The side's fp32 runs through another runtime; a runtime that cannot load the model is the side's
// prepare crash (check_runtime has made sure it takes the model's format).
void start_native(const std::string& path, const std::string& runtime, int threads, const char* name, Side& s, Recorder& rec) {
  if (runtime == "transfix" || !s.ok) return;
  s.summary->runtime = runtime;
  std::vector<std::string> inputs, outputs;
  for (const ValueInfo& v : s.inputs) inputs.push_back(v.name);
  for (const ValueInfo& v : s.model->graph.outputs) outputs.push_back(v.name);
  try {
    s.native = NativeRuntime::start(runtime, path, inputs, outputs, threads);
    s.summary->runtime_version = s.native->version();
  } catch (const std::exception& e) {
    rec.crash(name, "prepare", e.what());
    s.ok = false;
  }
}

// fp32 outputs from the side's runtime.
std::map<std::string, Tensor> run_fp32(Side& s, const std::map<std::string, Tensor>& inputs) {
  return s.native ? s.native->run(inputs) : s.fp32->run(inputs);
}

void load_side(const std::string& path, const char* name, bool with_fp64, QuantMode quant_mode, Side& s, Recorder& rec) {
  ModelSummary& m = *s.summary;
  m.path = path;
  m.file_bytes = model_file_bytes(path);
  try {
    s.model = std::make_unique<Model>(load_model(path));
  } catch (const std::exception& e) {
    rec.crash(name, "load", e.what());
    return;
  }
  m.loaded = true;
  m.format = s.model->meta.format;
  m.producer = s.model->meta.producer_name + (s.model->meta.producer_version.empty() ? "" : " " + s.model->meta.producer_version);
  m.opset = s.model->opset();
  m.nodes = static_cast<int64_t>(s.model->graph.nodes.size());
  m.outputs = s.model->graph.outputs;
  for (const auto& in : s.model->graph.inputs)
    if (!s.model->graph.initializers.count(in.name)) s.inputs.push_back(in);
  m.inputs = s.inputs;
  try {
    InterpreterOptions fp32{Precision::kF32};
    fp32.quant_mode = quant_mode;
    s.fp32 = std::make_unique<Interpreter>(*s.model, fp32);
    if (has_quantized_ops(*s.model)) m.quant_mode = quant_mode_name(quant_mode);
    InterpreterOptions fp64{Precision::kF64};
    fp64.quant_mode = quant_mode;  // the same integer arithmetic: fp64 changes float ops only
    if (with_fp64) s.fp64 = std::make_unique<Interpreter>(*s.model, fp64);
  } catch (const std::exception& e) {
    rec.crash(name, "prepare", e.what());
    return;
  }
  s.ok = true;
}

// The kind of an output and, for dense ones, the channel axis (NCHW sources: 1; NHWC formats: last).
void classify_output(OutputResult& o, const Shape& shape, const std::string& source_format) {
  o.shape = shape;
  if (shape.size() > 2) {
    o.kind = "dense";
    bool nhwc = source_format == "tflite" || source_format == "keras";
    o.channel_axis = nhwc ? static_cast<int64_t>(shape.size()) - 1 : 1;
  } else if (!shape.empty() && shape.back() > 1) {
    o.kind = "classification";
  } else {
    o.kind = "numeric";
  }
}

nlohmann::json num(double v) {
  if (std::isnan(v)) return nullptr;
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  return v;
}

// The k best classes of one row with their scores: [[class, score], ...], best first.
nlohmann::json ranked_json(const double* row, int64_t classes, int64_t k) {
  nlohmann::json out = nlohmann::json::array();
  for (int64_t c : top_k(row, classes, k)) out.push_back({c, num(row[c])});
  return out;
}

// One output of one sample: accumulate every metric.
void compare_output(OutputResult& o, const CompareOptions& opt, const Tensor& s32, const Tensor* s64,
                    const Tensor& t32_raw, const std::optional<QuantParams>& src_quant,
                    const std::optional<QuantParams>& tgt_quant, const Sample& smp, const std::string& source_format,
                    nlohmann::json* detail) {
  Tensor s = to_real(s32, src_quant);
  Tensor t;
  std::vector<std::string> notes;
  try {
    t = align_output(t32_raw, tgt_quant, s.shape(), &notes);
  } catch (const InputError& e) {
    if (o.mismatch.empty()) o.mismatch = e.what();
    if (detail) (*detail)["mismatch"] = e.what();
    return;
  }
  for (const auto& n : notes)
    if (std::find(o.notes.begin(), o.notes.end(), n) == o.notes.end()) o.notes.push_back(n);
  if (o.samples++ == 0) classify_output(o, s.shape(), source_format);
  const double* sv = s.data<double>();
  const double* tv = t.data<double>();
  const int64_t n = s.numel();
  double scale = max_abs_value(sv, n);
  ErrorStats e;
  e.add(sv, tv, n, 1e-3 * scale);
  o.error.merge(e);
  if (user_mode(opt)) {
    double atol = opt.atol.value_or(0.0), rtol = opt.rtol.value_or(0.0);
    for (int64_t i = 0; i < n; ++i)
      if (std::isfinite(sv[i]) && std::isfinite(tv[i]) && std::fabs(tv[i] - sv[i]) > atol + rtol * std::fabs(sv[i]))
        ++o.user_violations;
  }
  Tensor d;
  if (s64) {
    d = to_real(*s64, src_quant);
    ErrorStats ne;
    ne.add(d.data<double>(), sv, n, 1e-3 * max_abs_value(d.data<double>(), n));
    o.noise.merge(ne);
    ++o.calibration_samples;
  }
  if (detail) {
    (*detail)["max_abs"] = num(e.max_abs);
    (*detail)["mean_abs"] = num(e.mean_abs());
    (*detail)["cosine"] = num(e.cosine());
    (*detail)["snr_db"] = num(e.snr_db());
    if (s64) (*detail)["noise_max_abs"] = num(o.noise.max_abs);
  }
  if (o.kind == "classification") {
    const int64_t classes = s.shape().back(), rows = n / classes;
    nlohmann::json top1 = nlohmann::json::array();
    for (int64_t r = 0; r < rows; ++r) {
      const double* sr = sv + r * classes;
      const double* tr = tv + r * classes;
      int64_t a_s = argmax(sr, classes), a_t = argmax(tr, classes);
      ++o.instances;
      if (a_s != a_t) {
        ++o.flip_pairs[{a_s, a_t}];
        record_flip_margin(o, opt, sr[a_s] - sr[a_t], sr[a_s]);
      }
      double overlap = top_k_overlap(top_k(sr, classes, opt.top_k), top_k(tr, classes, opt.top_k));
      double tau = top_k_kendall_tau(sr, tr, classes, opt.top_k);
      o.top_k_overlap_sum += overlap, o.kendall_tau_sum += tau;
      o.top_k_overlap_min = std::min(o.top_k_overlap_min, overlap);
      o.kendall_tau_min = std::min(o.kendall_tau_min, tau);
      if (s64 && argmax(d.data<double>() + r * classes, classes) != a_s) ++o.noise_flips;
      if (smp.label && rows == 1) {
        ++o.labeled;
        o.source_correct += a_s == *smp.label;
        o.target_correct += a_t == *smp.label;
      }
      if (detail) {
        top1.push_back({a_s, a_t});
        (*detail)["top_k_overlap"] = overlap;
        (*detail)["kendall_tau"] = tau;
        if (rows == 1) {
          (*detail)["top_k"] = {{"source", ranked_json(sr, classes, opt.top_k)}, {"target", ranked_json(tr, classes, opt.top_k)}};
          if (a_s != a_t) (*detail)["flip_margin"] = {num(sr[a_s] - sr[a_t]), num(sr[a_s])};
        }
      }
    }
    if (detail) (*detail)["top1"] = rows == 1 ? top1[0] : top1;
  } else if (o.kind == "dense") {
    const Shape& sh = s.shape();
    const int64_t axis = o.channel_axis, channels = sh[axis];
    int64_t outer = 1, inner = 1;
    for (int64_t i = 0; i < axis; ++i) outer *= sh[i];
    for (int64_t i = axis + 1; i < static_cast<int64_t>(sh.size()); ++i) inner *= sh[i];
    int64_t disagree = 0;
    for (int64_t a = 0; a < outer; ++a)
      for (int64_t b = 0; b < inner; ++b) {
        const double* sp = sv + a * channels * inner + b;
        const double* tp = tv + a * channels * inner + b;
        int64_t a_s = argmax(sp, channels, inner), a_t = argmax(tp, channels, inner);
        ++o.positions;
        if (channels > 1 && a_s != a_t) {
          ++disagree;
          record_flip_margin(o, opt, sp[a_s * inner] - sp[a_t * inner], sp[a_s * inner]);
        }
      }
    if (detail && outer * inner > 0)
      (*detail)["argmax_agreement"] = 1.0 - static_cast<double>(disagree) / static_cast<double>(outer * inner);
  }
}

// The source with the target's intended precision simulated, against the source: the budget.
// Adds one sample to `stats` and `flips`; false when the shapes do not fit.
bool add_simulation(const OutputResult& o, const Tensor& s32, const std::optional<QuantParams>& src_quant, const Tensor& sim,
                    ErrorStats& stats, int64_t& flips) {
  const Tensor s = to_real(s32, src_quant), m = real_f64(sim);
  if (m.numel() != s.numel()) return false;
  const int64_t n = s.numel();
  const double *sv = s.data<double>(), *mv = m.data<double>();
  stats.add(sv, mv, n, 1e-3 * max_abs_value(sv, n));
  if (o.kind == "classification") {
    const int64_t classes = s.shape().back();
    for (int64_t r = 0; r < n / classes; ++r) flips += argmax(sv + r * classes, classes) != argmax(mv + r * classes, classes);
  }
  return true;
}

// Quantized targets: target vs its float twin (the quantization of the activations, intended) and
// float twin vs source (everything else), both in the source's layout and in real numbers.
void split_quantization_error(OutputResult& o, const Tensor& s32, const std::optional<QuantParams>& src_quant,
                              const Tensor& t32_raw, const std::optional<QuantParams>& tgt_quant,
                              const Tensor& twin_raw, nlohmann::json* detail) {
  Tensor s = to_real(s32, src_quant), t, w;
  try {
    t = align_output(t32_raw, tgt_quant, s.shape(), nullptr);
    w = align_output(twin_raw, std::nullopt, s.shape(), nullptr);  // the twin's outputs are float already
  } catch (const InputError&) {
    return;  // compare_output has recorded the mismatch
  }
  o.quantization_split = true;
  const int64_t n = s.numel();
  const double *sv = s.data<double>(), *tv = t.data<double>(), *wv = w.data<double>();
  const double floor = 1e-3 * max_abs_value(sv, n);
  ErrorStats quant, conv;
  quant.add(wv, tv, n, floor);
  conv.add(sv, wv, n, floor);
  o.quantization.merge(quant);
  o.conversion.merge(conv);
  if (o.kind == "classification") {
    const int64_t classes = s.shape().back();
    for (int64_t r = 0; r < n / classes; ++r) {
      const int64_t a_s = argmax(sv + r * classes, classes), a_w = argmax(wv + r * classes, classes);
      o.conversion_flips += a_s != a_w;
      o.quantization_flips += a_w != argmax(tv + r * classes, classes);
    }
  }
  if (detail)
    (*detail)["quantization_split"] = {{"quantization_max_abs", num(quant.max_abs)}, {"conversion_max_abs", num(conv.max_abs)}};
}

// The float twin's outputs; a twin that fails is dropped with a note (the split is extra information,
// not a result about the target).
std::map<std::string, Tensor> run_float_twin(Side& tgt, const std::map<std::string, Tensor>& inputs, Recorder& rec) {
  try {
    return tgt.twin->run(inputs);
  } catch (const std::exception& e) {
    rec.note(std::string("target's float twin failed (no quantization split): ") + e.what());
    tgt.twin.reset();
    return {};
  }
}

// Inputs for one side from a sample. Image samples go through the side's own preprocessing;
// `geometry` keeps the source's resized and cropped image for a target with the same geometry.
std::map<std::string, Tensor> make_source_inputs(const Side& src, const Sample& smp, std::optional<Image>& geometry,
                                                 std::vector<std::string>& notes) {
  std::map<std::string, Tensor> in;
  if (smp.image) {
    const ValueInfo& info = src.inputs[0];
    geometry = preprocess_geometry(*smp.image, *src.preprocess);
    in[info.name] = fit_input(image_to_tensor(*geometry, *src.preprocess), std::nullopt, info, &notes);
    return in;
  }
  for (const auto& info : src.inputs) {
    auto it = smp.tensors.find(info.name);
    check_input(it != smp.tensors.end(), "no data for source input '" + info.name + "'");
    in[info.name] = fit_input(it->second, info.quant, info, &notes);
  }
  return in;
}

std::map<std::string, Tensor> make_target_inputs(const Side& src, const Side& tgt, const ValuePairing& pairing,
                                                 const Sample& smp, const std::map<std::string, Tensor>& src_in,
                                                 const std::optional<Image>& src_geometry, std::vector<std::string>& notes) {
  std::map<std::string, Tensor> in;
  if (src_geometry) {  // an image sample
    const ValueInfo& info = tgt.inputs[0];
    Tensor t = same_geometry(*src.preprocess, *tgt.preprocess)
                   ? image_to_tensor(*src_geometry, *tgt.preprocess)
                   : preprocess_image(*smp.image, *tgt.preprocess);
    in[info.name] = fit_input(t, std::nullopt, info, &notes);
    return in;
  }
  for (auto [si, ti] : pairing.pairs) {
    const ValueInfo& s = src.inputs[si];
    in[tgt.inputs[ti].name] = fit_input(src_in.at(s.name), s.quant, tgt.inputs[ti], &notes);
  }
  return in;
}

std::optional<QuantParams> output_quant(const Model& m, const ValueInfo& v) {
  if (v.quant) return v.quant;
  const ValueInfo* info = m.graph.find_value_info(v.name);
  return info ? info->quant : std::nullopt;
}

// Inverse of num(): null is NaN, "inf"/"-inf" are infinities.
double from_num(const nlohmann::json& v) {
  if (v.is_number()) return v.get<double>();
  if (v.is_string()) return v.get<std::string>() == "-inf" ? -INFINITY : INFINITY;
  return NAN;
}

// Does any output of a per-sample record change its top-1 label?
bool top1_changed(const nlohmann::json& outputs) {
  for (const auto& [name, o] : outputs.items())
    if (o.contains("flip_margin")) return true;
  return false;
}

// Per-sample flips are judged once the tolerance is known: "flip": "beyond-noise" or "near-tie".
void judge_sample_flips(CompareResult& r, const CompareOptions& opt) {
  for (auto& sample : r.per_sample) {
    if (!sample.contains("outputs")) continue;
    for (auto& [name, o] : sample["outputs"].items()) {
      if (!o.contains("flip_margin")) continue;
      auto out = std::find_if(r.outputs.begin(), r.outputs.end(), [&](const OutputResult& x) { return x.source_name == name; });
      if (out == r.outputs.end()) continue;
      const double margin = from_num(o["flip_margin"][0]), score = from_num(o["flip_margin"][1]);
      // As record_flip_margin: a NaN margin is not beyond the threshold.
      o["flip"] = margin > flip_threshold(*out, opt, score) ? "beyond-noise" : "near-tie";
      o["flip_margin"] = o["flip_margin"][0];
    }
  }
}

double ms_since(Clock::time_point t0) { return std::chrono::duration<double, std::milli>(Clock::now() - t0).count(); }

}  // namespace

// How much of a quantized target's error its own quantization explains.
std::string quantization_split_reason(const OutputResult& o) {
  std::string why = std::string("of this, the target's ") +
                    (o.half_precision_twin ? "float16 arithmetic (target vs its float32 twin" : "activation quantization (target vs its float twin") +
                    ", intended) accounts for max abs " +
                    fmt("%.3g", o.quantization.max_abs) + ", SNR " + fmt("%.3g", o.quantization.snr_db()) + " dB";
  if (o.kind == "classification") why += ", " + std::to_string(o.quantization_flips) + " top-1 changes";
  why += "; the rest (float twin vs source: weight rounding and any conversion fault) max abs " +
         fmt("%.3g", o.conversion.max_abs) + ", SNR " + fmt("%.3g", o.conversion.snr_db()) + " dB";
  if (o.kind == "classification") why += ", " + std::to_string(o.conversion_flips) + " top-1 changes";
  return why;
}

// One error against its budget: k times a simulation's max and mean error plus the float32 tolerance,
// and k times its top-1 changes plus one. `what` is filled with the numbers either way.
bool within_budget(const OutputResult& o, const ErrorStats& err, int64_t flips, const ErrorStats& sim, int64_t sim_flips,
                   double k, std::string& what) {
  const double max_budget = k * sim.max_abs + o.tolerance, mean_budget = k * sim.mean_abs() + o.tolerance;
  const bool classification = o.kind == "classification";
  const int64_t flip_budget = static_cast<int64_t>(std::floor(k * static_cast<double>(sim_flips))) + 1;
  const bool max_ok = err.max_abs <= max_budget, mean_ok = err.mean_abs() <= mean_budget;
  const bool flips_ok = !classification || flips <= flip_budget;
  what = "max abs " + fmt("%.3g", err.max_abs) + (max_ok ? " <= " : " > ") + fmt("%.3g", max_budget) + ", mean abs " +
         fmt("%.3g", err.mean_abs()) + (mean_ok ? " <= " : " > ") + fmt("%.3g", mean_budget);
  if (classification) what += ", top-1 changes " + std::to_string(flips) + (flips_ok ? " <= " : " > ") + std::to_string(flip_budget);
  what += " (" + fmt("%g", k) + " x the simulation's max abs " + fmt("%.3g", sim.max_abs) + ", mean abs " +
          fmt("%.3g", sim.mean_abs()) + (classification ? ", " + std::to_string(sim_flips) + " top-1 changes" : "") +
          ", plus the float32 tolerance)";
  return err.nonfinite_mismatch == 0 && max_ok && mean_ok && flips_ok;
}

// A target meant to run in a lower precision is judged against that precision simulated on the
// source (within_budget, k = precision_budget): its whole error against the whole precision; and,
// where the quantization split shows the float twin (the target's graph and stored weights, no
// activation rounded), the twin's error against the weights' storage alone: a fault then shows
// undrowned by the activations' rounding. Within both, the difference is what the precision costs
// (EQUIVALENT within it); beyond, the reasons say by how much.
void judge_intended_precision(OutputResult& o, const CompareOptions& opt) {
  o.within_intended = false;
  o.precision_note.clear();
  if (!o.simulated || o.intended_precision.empty() || !o.mismatch.empty() || o.verdict == Verdict::kCrash) return;
  const double k = opt.precision_budget;
  std::string total, weights;
  bool ok = within_budget(o, o.error, o.flips + o.near_tie_flips, o.simulation, o.simulation_flips, k, total);
  const bool split = o.quantization_split && o.weight_simulated;
  if (split) ok &= within_budget(o, o.conversion, o.conversion_flips, o.weight_simulation, o.weight_simulation_flips, k, weights);
  const std::string numbers = total + (split ? "; its float twin (weights, no activation rounded) " + weights : "");
  if (ok) {
    o.within_intended = true;
    o.precision_note = "within " + o.intended_precision + ": " + numbers;
    if (o.verdict != Verdict::kEquivalent) o.reasons.clear();
    o.verdict = Verdict::kEquivalent;
  } else {
    o.precision_note = "beyond " + o.intended_precision + ": " + numbers;
    o.reasons.push_back("more than " + o.intended_precision + " simulated on the source explains: " + numbers);
  }
}

void decide_verdict(OutputResult& o, const CompareOptions& opt, bool target_crashed) {
  o.reasons.clear();
  resolve_tolerance(o, opt);
  if (target_crashed) {
    o.verdict = Verdict::kCrash;
    o.reasons.push_back("the target crashed (see crashes)");
  } else if (!o.mismatch.empty()) {
    o.verdict = Verdict::kDivergent;
    o.reasons.push_back(o.mismatch);
  } else {
    bool flips_ok = o.flip_rate() <= opt.max_flip_rate;
    bool numeric_ok = o.error.nonfinite_mismatch == 0 &&
                      (user_mode(opt) ? o.user_violations == 0 : o.error.max_abs <= o.tolerance);
    if (!flips_ok) {
      o.verdict = Verdict::kDivergent;
      if (o.kind == "classification")
        o.reasons.push_back(std::to_string(o.flips) + " of " + std::to_string(o.instances) +
                            " top-1 labels flip beyond noise (flip rate " + fmt("%.3g", o.flip_rate()) + " > " +
                            fmt("%g", opt.max_flip_rate) + ")");
      else
        o.reasons.push_back(std::to_string(o.position_flips) + " of " + std::to_string(o.positions) +
                            " positions change their argmax beyond noise (rate " + fmt("%.3g", o.flip_rate()) + ")");
    } else if (!numeric_ok) {
      o.verdict = Verdict::kDegraded;
    } else {
      o.verdict = Verdict::kEquivalent;
    }
    if (!numeric_ok) {
      if (o.error.nonfinite_mismatch)
        o.reasons.push_back(std::to_string(o.error.nonfinite_mismatch) + " elements are NaN/Inf on one side only");
      if (user_mode(opt) && o.user_violations)
        o.reasons.push_back(std::to_string(o.user_violations) + " elements outside " + o.tolerance_basis.substr(6));
      if (!user_mode(opt) && o.error.max_abs > o.tolerance)
        o.reasons.push_back("max abs error " + fmt("%.3g", o.error.max_abs) + " > tolerance " + fmt("%.3g", o.tolerance) +
                            " (" + o.tolerance_basis + ")");
    }
  }
  if (!user_mode(opt)) judge_intended_precision(o, opt);
  if (o.quantization_split && o.verdict != Verdict::kEquivalent && o.verdict != Verdict::kCrash)
    o.reasons.push_back(quantization_split_reason(o));
  o.within_tolerance = o.verdict == Verdict::kEquivalent;
}

CompareResult compare_models(const std::string& source_path, const std::string& target_path,
                             const DatasetFactory& open_dataset, const CompareOptions& opt) {
  check_input(opt.calibration_samples >= 0, "--calibration-samples must be >= 0");
  check_input(opt.noise_multiple > 0 && opt.abs_floor >= 0, "tolerance multiples must be positive");
  check_input(opt.max_flip_rate >= 0 && opt.max_flip_rate <= 1, "--max-flip-rate must be in [0, 1]");
  check_input(!opt.atol || *opt.atol >= 0, "--atol must be >= 0");
  check_input(!opt.rtol || *opt.rtol >= 0, "--rtol must be >= 0");
  check_input(opt.top_k >= 1, "top-k must be >= 1");
  check_input(opt.shard_count >= 1 && opt.shard_index >= 0 && opt.shard_index < opt.shard_count,
              "--shard I/N needs 1 <= I <= N");
  auto t_start = Clock::now();
  CompareResult r;
  r.limit = opt.limit;
  r.shard_index = opt.shard_index, r.shard_count = opt.shard_count;
  Recorder rec(r);
  Side src, tgt;
  src.summary = &r.source, tgt.summary = &r.target;

  check_runtime(opt.source_runtime, source_path, "--source-runtime");
  check_runtime(opt.target_runtime, target_path, "--target-runtime");
  load_side(source_path, "source", /*with_fp64=*/opt.calibration_samples > 0, opt.quant_mode, src, rec);
  start_native(source_path, opt.source_runtime, opt.threads, "source", src, rec);
  if (!src.ok) {
    r.verdict = Verdict::kCrash;
    r.exit_code = 2;
    r.error = "the source model could not be " + std::string(src.model ? "prepared" : "loaded") + ": nothing was tested";
    return r;
  }
  load_side(target_path, "target", false, opt.quant_mode, tgt, rec);
  start_native(target_path, opt.target_runtime, opt.threads, "target", tgt, rec);
  const bool half_target = tgt.ok && !has_quantized_ops(*tgt.model) && computes_in_fp16(*tgt.model);
  if (tgt.ok && (has_quantized_ops(*tgt.model) || half_target)) {
    try {
      tgt.twin_model = std::make_unique<Model>(half_target ? float32_twin_of_fp16(*tgt.model) : float_twin_model(*tgt.model));
      tgt.twin = std::make_unique<Interpreter>(*tgt.twin_model, InterpreterOptions{Precision::kF32});
    } catch (const std::exception& e) {
      rec.note(std::string("target's float twin unavailable (no quantization split): ") + e.what());
    }
  }
  const IntendedPrecision precision = tgt.ok ? intended_precision(*tgt.model) : IntendedPrecision{};
  // (A source already in a reduced precision, an int8 -> int8 tool say, rounds as the target does.)
  if (precision.reduced() && opt.precision_budget > 0 && !intended_precision(*src.model).reduced()) {
    try {
      // Activations are rounded where the graph says so, or by a native runtime's kernels (TFLite's
      // hybrid ones); transfix's interpreter runs dequantized weights in float.
      const bool activations = precision.activations_in_graph || opt.target_runtime != "transfix";
      src.simulator = std::make_unique<PrecisionSimulator>(*src.model, precision, activations);
      if (activations && tgt.twin) src.weight_simulator = std::make_unique<PrecisionSimulator>(*src.model, precision, false);
      rec.note("target intends " + precision.name + " (" + precision.evidence + "): judged against " +
               precision.name + " simulated on the source");
    } catch (const std::exception& e) {
      rec.note("the source with " + precision.name + " simulated cannot run (judged as float32): " + e.what());
    }
  }
  std::unique_ptr<Dataset> data = open_dataset(*src.model, tgt.ok ? tgt.model.get() : nullptr);
  r.data_kind = data->kind();
  r.data_description = data->description();
  r.candidates = static_cast<int64_t>(data->candidates());

  // Outputs: by name, then position.
  ValuePairing out_pairs = pair_values(src.model->graph.outputs, tgt.ok ? tgt.model->graph.outputs : std::vector<ValueInfo>{},
                                       "output");
  std::vector<std::pair<size_t, size_t>> compared;  // (source output, target output)
  for (size_t i = 0; i < src.model->graph.outputs.size(); ++i) {
    OutputResult o;
    o.source_name = src.model->graph.outputs[i].name;
    o.quantization_step = integer_output_step(src.model->graph.outputs[i]);
    for (auto [si, ti] : out_pairs.pairs)
      if (si == i) o.target_name = tgt.model->graph.outputs[ti].name;
    if (tgt.ok && o.target_name.empty()) o.mismatch = "output '" + o.source_name + "' has no counterpart in the target";
    r.outputs.push_back(o);
  }
  for (auto& o : r.outputs) {
    o.half_precision_twin = half_target && tgt.twin;
    if (src.simulator) o.intended_precision = precision.name;
  }
  if (tgt.ok) {
    for (const auto& n : out_pairs.notes) rec.note(n);
    for (size_t ti : out_pairs.unpaired_target)
      rec.note("target output '" + tgt.model->graph.outputs[ti].name + "' has no source counterpart (not compared)");
  }

  // Input contract.
  bool images = data->kind() == "images";
  bool target_contract_ok = tgt.ok;
  ValuePairing in_pairs;
  if (images) {
    check_input(src.inputs.size() == 1, "image data feeds models with one input; the source has " +
                                            std::to_string(src.inputs.size()) + " (use --npy or --random)");
    src.preprocess = resolve_preprocess(opt.source_preprocess, src.inputs[0]);
    r.source_preprocess = preprocess_json(*src.preprocess);
    if (tgt.ok) {
      try {
        check_input(tgt.inputs.size() == 1, "image data feeds models with one input; the target has " +
                                                std::to_string(tgt.inputs.size()));
        tgt.preprocess = resolve_preprocess(opt.target_preprocess, tgt.inputs[0]);
        r.target_preprocess = preprocess_json(*tgt.preprocess);
      } catch (const InputError& e) {
        rec.crash("target", "input", e.what());
        target_contract_ok = false;
      }
    }
  } else if (tgt.ok) {
    in_pairs = pair_values(src.inputs, tgt.inputs, "input");
    for (const auto& n : in_pairs.notes) rec.note(n);
    for (size_t si : in_pairs.unpaired_source) rec.note("source input '" + src.inputs[si].name + "' is not used by the target");
    if (!in_pairs.unpaired_target.empty()) {
      rec.crash("target", "input", "target input '" + tgt.inputs[in_pairs.unpaired_target[0]].name +
                                       "' has no source counterpart to feed it");
      target_contract_ok = false;
    }
  }
  r.labels = false;

  // Stream the samples in blocks: the source runs on every sample of a block, then the target,
  // then the outputs are compared in sample order. Each model's weights stay in cache across a
  // block instead of being evicted by the other model's after every sample (alternating costs
  // about 25% more inference time on mobilenet_v2); memory stays flat (one block).
  constexpr size_t kBlock = 8;
  struct Item {
    Sample smp;
    std::optional<Image> geometry;  // the source's resized, cropped image (image datasets)
    std::map<std::string, Tensor> src_in, s32, s64, t32, twin, simulated, simulated_weights;
    nlohmann::json detail;
    bool calibrating = false, target_ran = false;
    int64_t calibrated_so_far = 0;  // r.calibration_samples after this sample's fp64 run
  };
  std::vector<Item> block;
  int64_t thumbnails_left = opt.thumbnails;
  auto compare_sample = [&](Item& it) {
    nlohmann::json outs = nlohmann::json::object();
    for (size_t i = 0; i < r.outputs.size(); ++i) {
      OutputResult& o = r.outputs[i];
      if (o.target_name.empty()) continue;
      const ValueInfo& sv = src.model->graph.outputs[i];
      const ValueInfo* tv = nullptr;
      for (const auto& v : tgt.model->graph.outputs)
        if (v.name == o.target_name) tv = &v;
      nlohmann::json od = nlohmann::json::object();
      compare_output(o, opt, it.s32.at(sv.name), it.calibrating ? &it.s64.at(sv.name) : nullptr, it.t32.at(o.target_name),
                     output_quant(*src.model, sv), output_quant(*tgt.model, *tv), it.smp, r.source.format,
                     opt.per_sample ? &od : nullptr);
      if (!it.simulated.empty() && src.simulator) {
        o.simulated = add_simulation(o, it.s32.at(sv.name), output_quant(*src.model, sv), it.simulated.at(sv.name),
                                     o.simulation, o.simulation_flips);
        if (!it.simulated_weights.empty())
          o.weight_simulated = add_simulation(o, it.s32.at(sv.name), output_quant(*src.model, sv),
                                              it.simulated_weights.at(sv.name), o.weight_simulation, o.weight_simulation_flips);
      }
      if (!it.twin.empty())
        split_quantization_error(o, it.s32.at(sv.name), output_quant(*src.model, sv), it.t32.at(o.target_name),
                                 output_quant(*tgt.model, *tv), it.twin.at(o.target_name), opt.per_sample ? &od : nullptr);
      outs[o.source_name] = od;
    }
    it.detail["outputs"] = outs;
    if (opt.per_sample && it.smp.image && thumbnails_left > 0 && top1_changed(outs)) {
      --thumbnails_left;
      it.detail["thumbnail"] = thumbnail_data_uri(*it.smp.image);
    }
  };
  // Decoded photos can be large: a block keeps the originals only when something still needs them.
  const bool keep_originals = (opt.per_sample && opt.thumbnails > 0) ||
                              (tgt.preprocess && !same_geometry(*src.preprocess, *tgt.preprocess));
  size_t compared_samples = 0;
  bool calibration_done = opt.calibration_samples == 0;
  int64_t dataset_index = -1;
  bool data_left = true;
  auto below_limit = [&] { return opt.limit < 0 || r.samples < opt.limit; };
  while (data_left && below_limit()) {
    block.clear();
    // Source: inputs, fp32 run, fp64 run while calibrating.
    while (block.size() < kBlock && below_limit()) {
      Item it;
      if (!(data_left = data->next(it.smp))) break;
      if (++dataset_index % opt.shard_count != opt.shard_index) continue;  // another shard's sample
      std::vector<std::string> src_notes;
      try {
        it.src_in = make_source_inputs(src, it.smp, it.geometry, src_notes);
      } catch (const InputError& e) {
        r.skipped.push_back({it.smp.id, e.what()});
        continue;
      }
      for (const auto& n : src_notes) rec.note("source " + n);
      r.labels |= it.smp.label.has_value();
      it.detail = {{"index", r.samples}, {"id", it.smp.id}};
      if (it.smp.label) it.detail["label"] = *it.smp.label;
      auto t0 = Clock::now();
      try {
        it.s32 = run_fp32(src, it.src_in);
        r.source.run_ms += ms_since(t0), ++r.source.runs;
      } catch (const std::exception& e) {
        ++r.source_failures;
        rec.crash("source", "run", e.what(), it.smp.id);
        continue;
      }
      ++r.samples;
      if (src.simulator) {
        try {
          it.simulated = src.simulator->run(it.src_in);
          if (src.weight_simulator) it.simulated_weights = src.weight_simulator->run(it.src_in);
        } catch (const std::exception& e) {
          rec.note(std::string("the source with the target's precision simulated failed (judged as float32): ") + e.what());
          src.simulator.reset(), src.weight_simulator.reset();
          for (auto& o : r.outputs) o.intended_precision.clear(), o.simulated = o.weight_simulated = false;
        }
      }
      it.calibrating = src.fp64 && r.calibration_samples < opt.calibration_samples;
      if (it.calibrating) {
        try {
          it.s64 = src.fp64->run(it.src_in);
          ++r.calibration_samples;
        } catch (const std::exception& e) {
          ++r.calibration_failures;
          rec.crash("source", "run-fp64", e.what(), it.smp.id);
          it.calibrating = false;
        }
      }
      it.calibrated_so_far = r.calibration_samples;
      it.detail["calibration"] = it.calibrating;
      if (!keep_originals) it.smp.image.reset();
      block.push_back(std::move(it));
    }
    // Target: fp32 run and the float twin of a quantized target.
    for (Item& it : block) {
      if (!target_contract_ok) break;
      std::vector<std::string> tgt_notes;
      const char* stage = "input";
      try {
        auto tgt_in = make_target_inputs(src, tgt, in_pairs, it.smp, it.src_in, it.geometry, tgt_notes);
        for (const auto& n : tgt_notes) rec.note("target " + n);
        stage = "run";
        auto t0 = Clock::now();
        it.t32 = run_fp32(tgt, tgt_in);
        r.target.run_ms += ms_since(t0), ++r.target.runs;
        it.target_ran = true;
        if (tgt.twin) it.twin = run_float_twin(tgt, tgt_in, rec);
      } catch (const std::exception& e) {
        ++r.target_failures;
        rec.crash("target", stage, e.what(), it.smp.id);
        it.detail["crash"] = {{"stage", stage}, {"message", e.what()}};
      }
    }
    // Comparison, in sample order.
    for (Item& it : block) {
      if (it.target_ran) compare_sample(it);
      if (!calibration_done && it.calibrated_so_far >= opt.calibration_samples) {
        calibration_done = true;
        for (auto& o : r.outputs) resolve_tolerance(o, opt);
      }
      if (opt.per_sample) r.per_sample.push_back(std::move(it.detail));
      if (opt.progress) opt.progress(++compared_samples);
    }
  }
  r.skipped.insert(r.skipped.begin(), data->skipped().begin(), data->skipped().end());
  r.ignored_files = data->ignored_files();

  // Verdicts.
  if (tgt.twin_model && !tgt.twin)  // the twin failed on some sample: no partial split
    for (auto& o : r.outputs) o.quantization_split = false;
  bool target_crashed = !tgt.ok || !target_contract_ok || r.target_failures > 0;
  r.verdict = Verdict::kEquivalent;
  for (auto& o : r.outputs) {
    decide_verdict(o, opt, target_crashed);
    r.verdict = std::max(r.verdict, o.verdict);
  }
  r.exit_code = r.verdict == Verdict::kEquivalent ? 0 : 1;
  if (opt.per_sample) judge_sample_flips(r, opt);
  if (r.samples == 0) {
    r.verdict = Verdict::kCrash;
    r.exit_code = 2;
    r.error = r.source_failures ? "the source model failed on every sample: nothing was tested"
                                : "no usable samples (" + std::to_string(r.skipped.size()) + " skipped)";
  }
  r.wall_seconds = std::chrono::duration<double>(Clock::now() - t_start).count();
  return r;
}

// ---------------------------------------------------------------- JSON report

namespace {

nlohmann::json value_json(const ValueInfo& v) {
  nlohmann::json shape = nullptr;
  if (v.has_shape) {
    shape = nlohmann::json::array();
    for (auto d : v.shape) shape.push_back(d >= 0 ? nlohmann::json(d) : nlohmann::json(nullptr));
  }
  nlohmann::json j = {{"name", v.name}, {"dtype", dtype_name(v.dtype)}, {"shape", shape}};
  if (v.quant && !v.quant->scale.empty())
    j["quant"] = {{"scale", v.quant->scale}, {"zero_point", v.quant->zero_point}, {"axis", v.quant->axis}};
  return j;
}

nlohmann::json model_json(const ModelSummary& m) {
  nlohmann::json j = {{"path", m.path}, {"loaded", m.loaded}};
  if (!m.loaded) return j;
  j["format"] = m.format;
  j["producer"] = m.producer;
  j["opset"] = m.opset;
  j["inputs"] = nlohmann::json::array();
  for (const auto& v : m.inputs) j["inputs"].push_back(value_json(v));
  j["outputs"] = nlohmann::json::array();
  for (const auto& v : m.outputs) j["outputs"].push_back(value_json(v));
  j["file_bytes"] = m.file_bytes >= 0 ? nlohmann::json(m.file_bytes) : nlohmann::json(nullptr);
  j["nodes"] = m.nodes;
  j["runs"] = m.runs;
  j["runtime"] = m.runtime;
  if (!m.runtime_version.empty()) j["runtime_version"] = m.runtime_version;
  if (!m.quant_mode.empty() && m.runtime == "transfix") j["quant_mode"] = m.quant_mode;
  j["ms_per_run"] = m.runs ? num(m.run_ms / static_cast<double>(m.runs)) : nlohmann::json(nullptr);
  return j;
}

nlohmann::json stats_json(const ErrorStats& s) {
  return {{"max_abs", num(s.max_abs)},   {"mean_abs", num(s.mean_abs())}, {"max_rel", num(s.max_rel)},
          {"cosine", num(s.cosine())},   {"snr_db", num(s.snr_db())},     {"output_scale", num(s.max_ref_abs)},
          {"elements", s.count},
          {"nan", {{"source", s.ref_nan}, {"target", s.test_nan}}},
          {"inf", {{"source", s.ref_inf}, {"target", s.test_inf}}},
          {"nonfinite_mismatch", s.nonfinite_mismatch}};
}

}  // namespace

// What `transfix merge` needs to join shards exactly: raw sums and counts, every flip's margin.
nlohmann::json raw_json(const ErrorStats& e) {
  nlohmann::json a = nlohmann::json::array();
  for (double v : e.raw()) a.push_back(num(v));
  return a;
}

nlohmann::json accumulators_json(const OutputResult& o) {
  nlohmann::json pairs = nlohmann::json::array();
  for (const auto& [k, c] : o.flip_pairs) pairs.push_back({k.first, k.second, c});
  nlohmann::json margins = nlohmann::json::array();
  for (const auto& [m, score] : o.flip_margins) margins.push_back({num(m), num(score)});
  nlohmann::json a = {{"error", raw_json(o.error)},
                      {"noise", raw_json(o.noise)},
                      {"calibration_samples", o.calibration_samples},
                      {"instances", o.instances},
                      {"noise_flips", o.noise_flips},
                      {"top_k_overlap", {o.top_k_overlap_sum, o.top_k_overlap_min}},
                      {"kendall_tau", {o.kendall_tau_sum, o.kendall_tau_min}},
                      {"flip_pairs", pairs},
                      {"flip_margins", margins},
                      {"labeled", {o.labeled, o.source_correct, o.target_correct}},
                      {"positions", o.positions},
                      {"user_violations", o.user_violations}};
  if (o.quantization_split)
    a["quantization_split"] = {{"quantization", raw_json(o.quantization)}, {"conversion", raw_json(o.conversion)},
                               {"flips", {o.quantization_flips, o.conversion_flips}}};
  if (o.simulated)
    a["simulation"] = {{"precision", o.intended_precision}, {"error", raw_json(o.simulation)}, {"flips", o.simulation_flips}};
  if (o.weight_simulated)
    a["simulation"]["weights"] = {{"error", raw_json(o.weight_simulation)}, {"flips", o.weight_simulation_flips}};
  return a;
}

nlohmann::json compare_report_json(const CompareResult& r, const CompareOptions& opt) {
  nlohmann::json j;
  j["schema"] = "transfix.compare/1";
  j["verdict"] = verdict_name(r.verdict);
  j["exit_code"] = r.exit_code;
  if (!r.error.empty()) j["error"] = r.error;
  j["source"] = model_json(r.source);
  j["target"] = model_json(r.target);
  if (r.source_preprocess) j["source"]["preprocess"] = *r.source_preprocess;
  if (r.target_preprocess) j["target"]["preprocess"] = *r.target_preprocess;
  nlohmann::json skipped = nlohmann::json::array();
  for (const auto& s : r.skipped) skipped.push_back({{"id", s.id}, {"reason", s.reason}});
  j["data"] = {{"kind", r.data_kind},   {"description", r.data_description}, {"candidates", r.candidates},
               {"samples", r.samples},  {"limit", r.limit >= 0 ? nlohmann::json(r.limit) : nlohmann::json(nullptr)},
               {"labels", r.labels},    {"skipped", skipped},                {"ignored_files", r.ignored_files}};
  j["calibration"] = {{"samples", r.calibration_samples},
                      {"requested", opt.calibration_samples},
                      {"which", "the first " + std::to_string(opt.calibration_samples) + " samples"},
                      {"failures", r.calibration_failures}};
  nlohmann::json tol = {{"mode", user_mode(opt) ? "user" : "calibrated"},
                        {"noise_multiple", opt.noise_multiple},
                        {"abs_floor", opt.abs_floor},
                        {"max_flip_rate", opt.max_flip_rate},
                        {"precision_budget", opt.precision_budget},
                        {"top_k", opt.top_k}};
  if (opt.atol) tol["atol"] = *opt.atol;
  if (opt.rtol) tol["rtol"] = *opt.rtol;
  j["tolerance"] = tol;
  j["contract"] = r.input_notes;
  j["outputs"] = nlohmann::json::array();
  for (const auto& o : r.outputs) {
    nlohmann::json oj = {{"source_name", o.source_name},
                         {"target_name", o.target_name.empty() ? nlohmann::json(nullptr) : nlohmann::json(o.target_name)},
                         {"kind", o.kind},
                         {"shape", o.shape},
                         {"verdict", verdict_name(o.verdict)},
                         {"within_tolerance", o.within_tolerance},
                         {"reasons", o.reasons},
                         {"adaptations", o.notes},
                         {"samples", o.samples},
                         {"error", stats_json(o.error)},
                         {"noise_floor", {{"max_abs", num(o.noise.max_abs)}, {"mean_abs", num(o.noise.mean_abs())},
                                          {"max_rel", num(o.noise.max_rel)}, {"samples", o.calibration_samples}}},
                         {"tolerance", o.quantization_step > 0
                                           ? nlohmann::json{{"abs", num(o.tolerance)}, {"basis", o.tolerance_basis},
                                                            {"quantization_step", o.quantization_step}}
                                           : nlohmann::json{{"abs", num(o.tolerance)}, {"basis", o.tolerance_basis}}},
                         {"error_in_noise_units", {{"max_abs", num(o.noise_units(o.error.max_abs))},
                                                   {"mean_abs", num(o.noise.mean_abs() > 0 ? o.error.mean_abs() / o.noise.mean_abs()
                                                                                           : o.noise_units(o.error.mean_abs()))}}}};
    if (user_mode(opt)) oj["user_violations"] = o.user_violations;
    if (o.quantization_split) {
      const double q = o.quantization.mean_abs(), c = o.conversion.mean_abs();
      oj["quantization_split"] = {{"quantization", stats_json(o.quantization)},
                                  {"conversion", stats_json(o.conversion)},
                                  {"quantization_flips", o.quantization_flips},
                                  {"conversion_flips", o.conversion_flips},
                                  {"quantization_share", num(q + c > 0 ? q / (q + c) : 0.0)}};
    }
    if (!o.intended_precision.empty() && o.simulated) {
      oj["intended_precision"] = {{"precision", o.intended_precision},
                                  {"simulated", stats_json(o.simulation)},
                                  {"simulated_flips", o.simulation_flips},
                                  {"budget_factor", opt.precision_budget},
                                  {"within", o.within_intended},
                                  {"note", o.precision_note}};
      if (o.weight_simulated) {
        oj["intended_precision"]["simulated_weights"] = stats_json(o.weight_simulation);
        oj["intended_precision"]["simulated_weights_flips"] = o.weight_simulation_flips;
      }
    }
    oj["accumulators"] = accumulators_json(o);
    if (o.kind == "classification") {
      nlohmann::json pairs = nlohmann::json::array();
      std::vector<std::pair<int64_t, std::pair<int64_t, int64_t>>> sorted;
      for (const auto& [k, c] : o.flip_pairs) sorted.push_back({c, k});
      std::stable_sort(sorted.begin(), sorted.end(), [](auto& a, auto& b) { return a.first > b.first; });
      for (const auto& [c, k] : sorted) pairs.push_back({{"source", k.first}, {"target", k.second}, {"count", c}});
      double inst = std::max<int64_t>(o.instances, 1);
      oj["top1"] = {{"instances", o.instances},
                    {"agreement", num(1.0 - static_cast<double>(o.flips + o.near_tie_flips) / inst)},
                    {"flips", o.flips + o.near_tie_flips},
                    {"flips_beyond_noise", o.flips},
                    {"flips_near_tie", o.near_tie_flips},
                    {"flip_rate", num(o.flip_rate())},
                    {"flipped_labels", pairs},
                    {"source_fp32_vs_fp64_flips", o.noise_flips}};
      oj["top_k"] = {{"k", opt.top_k},
                     {"overlap_mean", num(o.top_k_overlap_sum / inst)},
                     {"overlap_min", num(o.top_k_overlap_min)},
                     {"kendall_tau_mean", num(o.kendall_tau_sum / inst)},
                     {"kendall_tau_min", num(o.kendall_tau_min)}};
      if (o.labeled)
        oj["accuracy"] = {{"labeled", o.labeled},
                          {"source", static_cast<double>(o.source_correct) / static_cast<double>(o.labeled)},
                          {"target", static_cast<double>(o.target_correct) / static_cast<double>(o.labeled)}};
    } else if (o.kind == "dense") {
      double pos = std::max<int64_t>(o.positions, 1);
      oj["argmax"] = {{"channel_axis", o.channel_axis},
                      {"positions", o.positions},
                      {"agreement", num(1.0 - static_cast<double>(o.position_flips + o.position_near_tie_flips) / pos)},
                      {"flips_beyond_noise", o.position_flips},
                      {"flips_near_tie", o.position_near_tie_flips},
                      {"flip_rate", num(o.flip_rate())}};
    }
    j["outputs"].push_back(oj);
  }
  j["crashes"] = nlohmann::json::array();
  for (const auto& c : r.crashes) {
    nlohmann::json cj = {{"side", c.side}, {"stage", c.stage}, {"message", c.message}};
    if (!c.sample.empty()) cj["sample"] = c.sample;
    j["crashes"].push_back(cj);
  }
  j["failures"] = {{"source_runs", r.source_failures}, {"target_runs", r.target_failures}};
  if (r.shard_count > 1 || r.merged_reports > 0)
    j["shard"] = {{"index", r.shard_index}, {"count", r.shard_count}, {"merged_reports", r.merged_reports}};
  j["wall_seconds"] = r.wall_seconds;
  if (opt.per_sample) j["per_sample"] = r.per_sample;
  return j;
}


// ---------------------------------------------------------------- merging shard reports

namespace {

ErrorStats stats_from_json(const nlohmann::json& a) {
  std::vector<double> v;
  for (const auto& x : a) v.push_back(from_num(x));
  return ErrorStats::from_raw(v);
}

ValueInfo value_from_json(const nlohmann::json& j) {
  ValueInfo v;
  v.name = j.value("name", "");
  v.dtype = dtype_from_name(j.value("dtype", ""));
  if (j.contains("shape") && j["shape"].is_array()) {
    v.has_shape = true;
    for (const auto& d : j["shape"]) v.shape.push_back(d.is_number() ? d.get<int64_t>() : -1);
  }
  if (j.contains("quant")) {
    QuantParams q;
    q.scale = j["quant"]["scale"].get<std::vector<float>>();
    q.zero_point = j["quant"]["zero_point"].get<std::vector<int64_t>>();
    q.axis = j["quant"]["axis"].get<int64_t>();
    v.quant = q;
  }
  return v;
}

ModelSummary summary_from_json(const nlohmann::json& m) {
  ModelSummary s;
  s.path = m.value("path", "");
  s.loaded = m.value("loaded", false);
  if (!s.loaded) return s;
  s.format = m.value("format", ""), s.producer = m.value("producer", ""), s.opset = m.value("opset", int64_t{0});
  s.file_bytes = m["file_bytes"].is_number() ? m["file_bytes"].get<int64_t>() : -1;
  s.nodes = m.value("nodes", int64_t{0});
  s.runtime = m.value("runtime", "transfix");
  s.runtime_version = m.value("runtime_version", "");
  s.quant_mode = m.value("quant_mode", "");
  for (const auto& v : m["inputs"]) s.inputs.push_back(value_from_json(v));
  for (const auto& v : m["outputs"]) s.outputs.push_back(value_from_json(v));
  return s;
}

void add_runs(ModelSummary& s, const nlohmann::json& m) {
  const int64_t runs = m.value("runs", int64_t{0});
  s.runs += runs;
  if (runs && m["ms_per_run"].is_number()) s.run_ms += m["ms_per_run"].get<double>() * static_cast<double>(runs);
}

CompareOptions options_from_json(const nlohmann::json& r) {
  CompareOptions opt;
  const auto& t = r.at("tolerance");
  opt.noise_multiple = t.at("noise_multiple").get<double>();
  opt.precision_budget = t.value("precision_budget", 2.0);
  opt.abs_floor = t.at("abs_floor").get<double>();
  opt.max_flip_rate = t.at("max_flip_rate").get<double>();
  opt.top_k = t.at("top_k").get<int64_t>();
  if (t.contains("atol")) opt.atol = t["atol"].get<double>();
  if (t.contains("rtol")) opt.rtol = t["rtol"].get<double>();
  opt.calibration_samples = r.at("calibration").at("requested").get<int64_t>();
  opt.per_sample = r.contains("per_sample");
  return opt;
}

// One shard's accumulators added to the merged output.
void add_output(OutputResult& o, const nlohmann::json& oj) {
  const auto& a = oj.at("accumulators");
  o.samples += oj.value("samples", int64_t{0});
  o.error.merge(stats_from_json(a.at("error")));
  o.noise.merge(stats_from_json(a.at("noise")));
  o.calibration_samples += a.at("calibration_samples").get<int64_t>();
  o.instances += a.at("instances").get<int64_t>();
  o.noise_flips += a.at("noise_flips").get<int64_t>();
  const bool first = o.instances == a.at("instances").get<int64_t>();
  o.top_k_overlap_sum += a["top_k_overlap"][0].get<double>();
  o.kendall_tau_sum += a["kendall_tau"][0].get<double>();
  o.top_k_overlap_min = first ? a["top_k_overlap"][1].get<double>() : std::min(o.top_k_overlap_min, a["top_k_overlap"][1].get<double>());
  o.kendall_tau_min = first ? a["kendall_tau"][1].get<double>() : std::min(o.kendall_tau_min, a["kendall_tau"][1].get<double>());
  for (const auto& p : a.at("flip_pairs")) o.flip_pairs[{p[0].get<int64_t>(), p[1].get<int64_t>()}] += p[2].get<int64_t>();
  for (const auto& m : a.at("flip_margins")) o.flip_margins.push_back({from_num(m[0]), from_num(m[1])});
  o.labeled += a["labeled"][0].get<int64_t>();
  o.source_correct += a["labeled"][1].get<int64_t>();
  o.target_correct += a["labeled"][2].get<int64_t>();
  o.positions += a.at("positions").get<int64_t>();
  o.user_violations += a.at("user_violations").get<int64_t>();
  if (a.contains("simulation")) {
    const auto& q = a["simulation"];
    o.simulated = true;
    o.intended_precision = q.at("precision").get<std::string>();
    o.simulation.merge(stats_from_json(q.at("error")));
    o.simulation_flips += q.at("flips").get<int64_t>();
    if (q.contains("weights")) {
      o.weight_simulated = true;
      o.weight_simulation.merge(stats_from_json(q["weights"].at("error")));
      o.weight_simulation_flips += q["weights"].at("flips").get<int64_t>();
    }
  }
  if (a.contains("quantization_split")) {
    const auto& q = a["quantization_split"];
    o.quantization_split = true;
    o.quantization.merge(stats_from_json(q.at("quantization")));
    o.conversion.merge(stats_from_json(q.at("conversion")));
    o.quantization_flips += q["flips"][0].get<int64_t>();
    o.conversion_flips += q["flips"][1].get<int64_t>();
  }
}

// Every flip judged again against the merged tolerance (as record_flip_margin does).
void judge_flips(OutputResult& o, const CompareOptions& opt) {
  o.flips = o.near_tie_flips = o.position_flips = o.position_near_tie_flips = 0;
  for (const auto& [margin, score] : o.flip_margins) {
    const bool near_tie = !(margin > flip_threshold(o, opt, score));
    if (o.kind == "dense") ++(near_tie ? o.position_near_tie_flips : o.position_flips);
    else ++(near_tie ? o.near_tie_flips : o.flips);
  }
}

void check_shards_match(const std::vector<nlohmann::json>& reports) {
  const auto& first = reports[0];
  std::set<int64_t> shards;
  for (size_t i = 0; i < reports.size(); ++i) {
    const auto& r = reports[i];
    const std::string which = "report " + std::to_string(i + 1);
    check_input(r.value("schema", "") == "transfix.compare/1", which + " is not a compare report (schema transfix.compare/1)");
    for (const auto& o : r.at("outputs"))
      check_input(o.contains("accumulators"), which + " has no accumulators (written by an older transfix)");
    check_input(r["source"]["path"] == first["source"]["path"] && r["target"]["path"] == first["target"]["path"],
                which + " compares other models than report 1");
    check_input(r["tolerance"] == first["tolerance"] && r["calibration"]["requested"] == first["calibration"]["requested"],
                which + " was run with other tolerance options than report 1");
    check_input(r["data"]["kind"] == first["data"]["kind"] && r["data"]["candidates"] == first["data"]["candidates"],
                which + " read other data than report 1");
    check_input(r["outputs"].size() == first["outputs"].size(), which + " has other outputs than report 1");
    const int64_t index = r.contains("shard") ? r["shard"]["index"].get<int64_t>() : 0;
    const int64_t count = r.contains("shard") ? r["shard"]["count"].get<int64_t>() : 1;
    const int64_t first_count = first.contains("shard") ? first["shard"]["count"].get<int64_t>() : 1;
    check_input(count == first_count, which + " is shard of " + std::to_string(count) + ", report 1 of " + std::to_string(first_count));
    check_input(shards.insert(index).second, which + " repeats shard " + std::to_string(index + 1) + " of " + std::to_string(count));
  }
}

}  // namespace

CompareResult merge_compare_reports(const std::vector<nlohmann::json>& reports, CompareOptions* options) {
  check_input(!reports.empty(), "merge: no reports");
  try {
    check_shards_match(reports);
    const auto& first = reports[0];
    CompareOptions opt = options_from_json(first);
    CompareResult r;
    r.merged_reports = static_cast<int64_t>(reports.size());
    r.shard_count = first.contains("shard") ? first["shard"]["count"].get<int64_t>() : 1;
    r.source = summary_from_json(first["source"]);
    r.target = summary_from_json(first["target"]);
    r.data_kind = first["data"]["kind"];
    r.data_description = first["data"]["description"].get<std::string>() + " (" + std::to_string(reports.size()) +
                         " shard reports merged)";
    r.candidates = first["data"]["candidates"].get<int64_t>();
    r.limit = -1;
    if (first.contains("source") && first["source"].contains("preprocess")) r.source_preprocess = first["source"]["preprocess"];
    if (first.contains("target") && first["target"].contains("preprocess")) r.target_preprocess = first["target"]["preprocess"];
    for (const auto& oj : first["outputs"]) {
      OutputResult o;
      o.source_name = oj["source_name"];
      o.target_name = oj["target_name"].is_string() ? oj["target_name"].get<std::string>() : "";
      o.kind = oj["kind"];
      o.shape = oj["shape"].get<Shape>();
      o.notes = oj["adaptations"].get<std::vector<std::string>>();
      o.quantization_step = oj["tolerance"].value("quantization_step", 0.0);
      if (o.target_name.empty()) o.mismatch = "output '" + o.source_name + "' has no counterpart in the target";
      r.outputs.push_back(o);
    }
    std::set<std::string> skipped_ids;
    bool target_crashed = false;
    for (const auto& rep : reports) {
      add_runs(r.source, rep["source"]);
      add_runs(r.target, rep["target"]);
      target_crashed |= !rep["target"].value("loaded", false);
      r.samples += rep["data"]["samples"].get<int64_t>();
      r.labels |= rep["data"]["labels"].get<bool>();
      r.ignored_files = rep["data"]["ignored_files"].get<size_t>();
      for (const auto& sk : rep["data"]["skipped"])
        if (skipped_ids.insert(sk["id"].get<std::string>()).second) r.skipped.push_back({sk["id"], sk["reason"]});
      for (const auto& n : rep["contract"])
        if (std::find(r.input_notes.begin(), r.input_notes.end(), n.get<std::string>()) == r.input_notes.end())
          r.input_notes.push_back(n);
      for (const auto& c : rep["crashes"]) {
        r.crashes.push_back({c["side"], c["stage"], c["message"], c.value("sample", "")});
        target_crashed |= c["side"] == "target";
      }
      r.source_failures += rep["failures"]["source_runs"].get<int64_t>();
      r.target_failures += rep["failures"]["target_runs"].get<int64_t>();
      r.calibration_samples += rep["calibration"]["samples"].get<int64_t>();
      r.calibration_failures += rep["calibration"]["failures"].get<int64_t>();
      r.wall_seconds += rep["wall_seconds"].get<double>();
      for (size_t i = 0; i < r.outputs.size(); ++i) add_output(r.outputs[i], rep["outputs"][i]);
      if (rep.contains("per_sample"))
        for (auto sample : rep["per_sample"]) r.per_sample.push_back(std::move(sample));
    }
    target_crashed |= r.target_failures > 0;
    r.verdict = Verdict::kEquivalent;
    for (auto& o : r.outputs) {
      resolve_tolerance(o, opt);
      judge_flips(o, opt);
      decide_verdict(o, opt, target_crashed);
      r.verdict = std::max(r.verdict, o.verdict);
    }
    r.exit_code = r.verdict == Verdict::kEquivalent ? 0 : 1;
    if (r.samples == 0) {
      r.verdict = Verdict::kCrash;
      r.exit_code = 2;
      r.error = "no samples in the merged reports";
    }
    // Per-sample records: renumbered; in calibrated mode their flips are judged against the merged tolerance.
    for (size_t i = 0; i < r.per_sample.size(); ++i) {
      auto& sample = r.per_sample[i];
      sample["index"] = i;
      if (user_mode(opt) || !sample.contains("outputs")) continue;
      for (auto& [name, od] : sample["outputs"].items()) {
        if (!od.contains("flip_margin")) continue;
        auto out = std::find_if(r.outputs.begin(), r.outputs.end(), [&](const OutputResult& x) { return x.source_name == name; });
        if (out != r.outputs.end()) od["flip"] = from_num(od["flip_margin"]) > out->tolerance ? "beyond-noise" : "near-tie";
      }
    }
    *options = opt;
    return r;
  } catch (const nlohmann::json::exception& e) {
    throw InputError(std::string("merge: a report is not a complete compare report: ") + e.what());
  } catch (const std::invalid_argument& e) {
    throw InputError(std::string("merge: a report's accumulators are malformed: ") + e.what());
  }
}

}  // namespace transfix
