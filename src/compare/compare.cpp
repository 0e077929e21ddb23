#include "compare/compare.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <set>

#include "compare/compare_internal.h"
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

namespace {

using Clock = std::chrono::steady_clock;
constexpr size_t kMaxCrashesPerStage = 5;

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


// The k best classes of one row with their scores: [[class, score], ...], best first.
nlohmann::json ranked_json(const double* row, int64_t classes, int64_t k) {
  nlohmann::json out = nlohmann::json::array();
  for (int64_t c : top_k(row, classes, k)) out.push_back({c, json_number(row[c])});
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
    (*detail)["max_abs"] = json_number(e.max_abs);
    (*detail)["mean_abs"] = json_number(e.mean_abs());
    (*detail)["cosine"] = json_number(e.cosine());
    (*detail)["snr_db"] = json_number(e.snr_db());
    if (s64) (*detail)["noise_max_abs"] = json_number(o.noise.max_abs);
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
          if (a_s != a_t) (*detail)["flip_margin"] = {json_number(sr[a_s] - sr[a_t]), json_number(sr[a_s])};
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
    (*detail)["quantization_split"] = {{"quantization_max_abs", json_number(quant.max_abs)}, {"conversion_max_abs", json_number(conv.max_abs)}};
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
      auto out = std::find_if(r.outputs.begin(), r.outputs.end(), [&, &name = name](const OutputResult& x) { return x.source_name == name; });
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

}  // namespace transfix
