#include "localize/align.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <set>
#include <unordered_map>

#include "compare/intended_precision.h"
#include "compare/weight_precision.h"
#include "core/op_vocabulary.h"
#include "core/errors.h"
#include "runtime/interpreter.h"
#include "runtime/quant_simulation.h"

namespace transfix {

double TensorPair::noise_units() const {
  if (noise > 0) return error / noise;
  return error > 0 ? std::numeric_limits<double>::infinity() : 0.0;
}

bool SourceTrace::is_ancestor(int a, int v) const {
  const auto& bits = ancestors[static_cast<size_t>(v)];
  const size_t word = static_cast<size_t>(a) / 64;
  return word < bits.size() && (bits[word] >> (static_cast<size_t>(a) % 64) & 1u);
}

namespace {

bool comparable(const Tensor& t) {
  return is_float(t.dtype()) || (is_integer(t.dtype()) && t.quant() && !t.quant()->scale.empty());
}

// Records every value of the fp64 run, with its ancestry.
class TraceRecorder : public Observer {
 public:
  TraceRecorder(const Graph& g, SourceTrace& t) : g_(g), t_(t) {}
  void on_value(const std::string& name, const Tensor& value, const Node* producer) override {
    const int id = static_cast<int>(t_.names.size());
    t_.names.push_back(name);
    t_.index[name] = id;
    t_.value.push_back(comparable(value) ? real_f64(value) : Tensor{});
    t_.shape.push_back(value.shape());
    t_.noise.push_back(0);
    t_.scale.push_back(t_.value.back().defined() ? max_abs(t_.value.back()) : 0);
    t_.print.push_back(t_.value.back().defined() ? fingerprint(t_.value.back()) : Fingerprint{});
    t_.producer.push_back(producer ? static_cast<int>(producer - g_.nodes.data()) : -1);
    std::vector<uint64_t> bits(static_cast<size_t>(id) / 64 + 1, 0);
    if (producer)
      for (const auto& in : producer->inputs) {
        auto it = t_.index.find(in);
        if (in.empty() || it == t_.index.end()) continue;
        const auto& up = t_.ancestors[static_cast<size_t>(it->second)];
        for (size_t w = 0; w < up.size(); ++w) bits[w] |= up[w];
        bits[static_cast<size_t>(it->second) / 64] |= uint64_t{1} << (it->second % 64);
      }
    t_.ancestors.push_back(std::move(bits));
    bool constant = producer != nullptr;
    if (producer)
      for (const auto& in : producer->inputs) {
        auto it = t_.index.find(in);
        if (!in.empty() && it != t_.index.end() && !t_.constant[static_cast<size_t>(it->second)]) constant = false;
      }
    t_.data_rank.push_back(t_.data_rank.empty() ? 0 : t_.data_rank.back() + (t_.constant.back() ? 0 : 1));
    t_.constant.push_back(constant ? 1 : 0);
  }

 private:
  const Graph& g_;
  SourceTrace& t_;
};

// Measures an fp32 run against the recorded fp64 values. With `forced`, every value is replaced by
// the fp64 one (rounded to fp32) before its consumers run, so the error measured is each op's own
// rounding: the noise floor for a target op that is fed the source's values.
// An observer that may hand the interpreter a replacement for the value it just saw (set in on_value).
class ReplacingObserver : public Observer {
 public:
  bool substitute(const std::string&, const Tensor&, const Node*, Tensor* replacement) override {
    if (!replacement_.defined()) return false;
    *replacement = std::move(replacement_);
    replacement_ = Tensor{};
    return true;
  }

 protected:
  Tensor replacement_;
};

class NoiseRecorder : public ReplacingObserver {
 public:
  NoiseRecorder(SourceTrace& t, bool forced) : t_(t), forced_(forced) {}
  void on_value(const std::string& name, const Tensor& value, const Node*) override {
    auto it = t_.index.find(name);
    if (it == t_.index.end() || !t_.value[static_cast<size_t>(it->second)].defined() || !comparable(value)) return;
    const Tensor& ref = t_.value[static_cast<size_t>(it->second)];
    if (ref.numel() != value.numel()) return;
    const double err = max_abs_diff(ref, real_f64(value).reshaped(ref.shape()));
    (forced_ ? t_.local_noise : t_.noise)[static_cast<size_t>(it->second)] = err;
    if (forced_ && is_float(value.dtype())) replacement_ = ref.cast(value.dtype()).reshaped(value.shape());
  }

 private:
  SourceTrace& t_;
  bool forced_;
};

Tensor rounded_to_fp16(const Tensor& t) { return t.cast(DType::kF16).cast(t.dtype()); }

// Each op of a source whose float weights were rounded to float16, fed the fp64 values rounded to
// float16: max |round16(output) - fp64| is the error a float16 conversion of that op intends.
class HalfNoiseRecorder : public ReplacingObserver {
 public:
  explicit HalfNoiseRecorder(SourceTrace& t) : t_(t) {}
  void on_value(const std::string& name, const Tensor& value, const Node*) override {
    auto it = t_.index.find(name);
    if (it == t_.index.end() || !t_.value[static_cast<size_t>(it->second)].defined() || !is_float(value.dtype())) return;
    const Tensor& ref = t_.value[static_cast<size_t>(it->second)];
    if (ref.numel() != value.numel()) return;
    t_.local_noise_fp16[static_cast<size_t>(it->second)] =
        max_abs_diff(ref, real_f64(rounded_to_fp16(value)).reshaped(ref.shape()));
    replacement_ = rounded_to_fp16(ref.cast(value.dtype())).reshaped(value.shape());
  }

 private:
  SourceTrace& t_;
};

bool same_origin(const Provenance& a, const Provenance& b) {
  return !a.name.empty() && a.name == b.name && a.op_type == b.op_type && a.format == b.format;
}

void mark_interior_values(const Graph& g, SourceTrace& trace) {
  trace.interior.assign(trace.names.size(), 0);
  std::map<std::string, std::vector<const Node*>> readers;
  for (const Node& n : g.nodes)
    for (const auto& in : n.inputs) readers[in].push_back(&n);
  std::set<std::string> outputs;
  for (const auto& o : g.outputs) outputs.insert(o.name);
  for (size_t v = 0; v < trace.names.size(); ++v) {
    const int p = trace.producer[v];
    auto r = readers.find(trace.names[v]);
    if (p < 0 || r == readers.end() || outputs.count(trace.names[v])) continue;
    const Provenance& origin = g.nodes[static_cast<size_t>(p)].prov;
    trace.interior[v] = std::all_of(r->second.begin(), r->second.end(), [&](const Node* n) { return same_origin(n->prov, origin); });
  }
}

}  // namespace

SourceTrace trace_source(const Model& source, const std::map<std::string, Tensor>& inputs, bool fp16_noise) {
  SourceTrace trace;
  trace.quantized = has_quantized_ops(source);
  TraceRecorder rec(source.graph, trace);
  Interpreter(source, {Precision::kF64}).run(inputs, &rec);
  trace.readers.assign(trace.names.size(), 0);
  mark_interior_values(source.graph, trace);
  auto count_reader = [&](const std::string& v) {
    if (auto it = trace.index.find(v); it != trace.index.end()) ++trace.readers[static_cast<size_t>(it->second)];
  };
  for (const Node& n : source.graph.nodes)
    for (const auto& in : n.inputs) count_reader(in);
  for (const auto& o : source.graph.outputs) count_reader(o.name);
  trace.local_noise.assign(trace.names.size(), 0.0);
  Interpreter fp32(source, {Precision::kF32});
  NoiseRecorder noise(trace, false), local(trace, true);
  fp32.run(inputs, &noise);
  fp32.run(inputs, &local);
  if (fp16_noise) {
    Model half = source;
    for (auto& [name, t] : half.graph.initializers)
      if (t.dtype() == DType::kF32) t = rounded_to_fp16(t);
    trace.local_noise_fp16.assign(trace.names.size(), 0.0);
    HalfNoiseRecorder recorder(trace);
    Interpreter(half, {Precision::kF32}).run(inputs, &recorder);
  }
  return trace;
}

namespace {

struct Anchor {
  int source = -1;
  Transform transform;
  std::string how;
};

enum class State { kUnseen, kMapped, kPending, kIgnored };

struct TargetValue {
  State state = State::kUnseen;
  int order = -1;               // production order in this pass
  int producer = -1;            // node index
  std::vector<int> frontier;    // source values its nearest mapped ancestors map to
  TensorPair pair;              // when mapped
  Tensor value;                 // pending values, kept to choose an anchor
};

// Is value `name` of the source a constant, or computed from constants only (a BatchNorm's
// gamma / sqrt(var + eps) as an importer writes it)?
bool constant_in_trace(const SourceTrace& trace, const std::string& name) {
  auto it = trace.index.find(name);
  return it == trace.index.end() || trace.constant[static_cast<size_t>(it->second)];  // (not traced: an initializer)
}

// A BatchNorm, or arithmetic with a constant (a scale or shift an importer wrote for one).
bool folds_as_affine(const Node& n, const SourceTrace& trace) {
  const std::string& op = n.op_type;
  if (op == "BatchNormalization") return true;
  if (op != "Mul" && op != "Sub" && op != "Div" && op != "Add") return false;
  return std::any_of(n.inputs.begin(), n.inputs.end(), [&](const std::string& in) { return constant_in_trace(trace, in); });
}

// Ops a converter folds into the op before them: BatchNorm (whole, or as the scale and shift an
// importer writes for it), activations, and arithmetic with a constant.
bool absorbable(const Node& n, const SourceTrace& trace) {
  const std::string& op = n.op_type;
  if (op == "Mul" || op == "Sub" || op == "Div")
    return std::any_of(n.inputs.begin(), n.inputs.end(), [&](const std::string& in) { return constant_in_trace(trace, in); });
  return op == "BatchNormalization" || op == "Relu" || op == "Clip" || op == "LeakyRelu" || op == "Add" ||
         op == "Sigmoid" || op == "HardSwish" || op == "Identity" || op == "Dropout";
}

// Is source value `v` strictly after the frontier (a descendant of some frontier value, or of the
// inputs when there is none) and not before it? The source nodes of a segment make such values.
bool past_frontier(const SourceTrace& trace, const std::vector<int>& frontier, int v) {
  bool after_start = frontier.empty(), before_start = false;
  for (int f : frontier) {
    after_start |= trace.is_ancestor(f, v);
    before_start |= f == v || trace.is_ancestor(v, f);
  }
  return after_start && !before_start;
}

// How far (in values produced) a folding chain may reach: an importer's BatchNorm alone makes
// seven (its scale and shift from the statistics, then x * scale + shift), an activation one more.
constexpr int kFoldingChainValues = 10;

// Is source value `s` the value `start` or one made from it by a short chain of ops a converter folds
// into start's op (BatchNorm, activation, Identity), each reading the one before and the only reader
// of it? (A value read twice, as x in x * sigmoid(x), cannot be folded away.)
bool in_folding_chain(const SourceTrace& trace, const Graph& source, int start, int s) {
  if (s == start) return true;
  if (s < start || trace.data_distance(start, s) > kFoldingChainValues || !trace.is_ancestor(start, s)) return false;
  for (int v = start; v <= s; ++v) {
    if (trace.constant[static_cast<size_t>(v)]) continue;
    if (v != s && v != start && !(trace.is_ancestor(v, s) && trace.is_ancestor(start, v))) continue;
    if (v != s && trace.readers[static_cast<size_t>(v)] != 1) return false;
    if (v == start) continue;
    const int p = trace.producer[static_cast<size_t>(v)];
    if (p < 0 || !absorbable(source.nodes[static_cast<size_t>(p)], trace)) return false;
  }
  return true;
}

// Root mean square of a float64 tensor's elements.
double rms(const Tensor& real) {
  double sum = 0;
  const double* v = real.data<double>();
  for (int64_t i = 0; i < real.numel(); ++i) sum += v[i] * v[i];
  return real.numel() ? std::sqrt(sum / static_cast<double>(real.numel())) : 0.0;
}

// One teacher-forced run of the target.
class ForcedRun : public Observer {
 public:
  ForcedRun(const Model& source, const Model& target, const SourceTrace& trace,
            const std::map<std::string, Anchor>& anchors, const AlignOptions& opt)
      : source_(source.graph), g_(target.graph), trace_(trace), anchors_(anchors), opt_(opt),
        channels_last_(target.meta.format == "tflite") {}

  std::unordered_map<std::string, TargetValue> values;
  std::vector<std::string> order;  // target values in production order
  std::map<std::string, Shape> shapes;

  void on_value(const std::string& name, const Tensor& value, const Node* producer) override {
    shapes[name] = value.shape();
    note_dynamic_quantization(name, value, producer);
    TargetValue& tv = values[name];
    tv.order = static_cast<int>(order.size());
    order.push_back(name);
    tv.producer = producer ? static_cast<int>(producer - g_.nodes.data()) : -1;
    if (!comparable(value)) {
      tv.state = State::kIgnored;
      return;
    }
    tv.frontier = frontier_of(producer);
    if (producer && tv.frontier.empty()) {  // computed from constants only: nothing to compare it with
      tv.state = State::kIgnored;
      if (is_float(value.dtype())) derived_constants_[name] = value;  // a dequantized weight, perhaps
      return;
    }
    Tensor real = real_f64(value);
    grid_ = quantization_step(value);
    range_ = representable_range(value);
    // A dequantized value holds what its quantized input held: it lies on that grid, in that range.
    if (grid_ == 0 && producer && producer->op_type == "DequantizeLinear" && producer->domain.empty()) {
      if (auto in = value_step_.find(producer->inputs[0]); in != value_step_.end()) grid_ = in->second;
      if (auto in = value_range_.find(producer->inputs[0]); in != value_range_.end()) range_ = in->second;
    }
    if (range_) value_range_[name] = *range_;
    value_max_[name] = max_abs(real);
    value_rms_[name] = rms(real);
    value_step_[name] = grid_;
    weight_bound_ = stored_weight_bound(producer);  // (sets weight_sigma_, as the next one does)
    weight_bound_ = std::max(weight_bound_, weight_rounding_bound(producer));
    weight_bound_ = std::max(weight_bound_, integer_product_bound(producer));
    input_rounding_ = input_rounding_bound(producer, value_max_[name]);
    // (The interpreter may widen float16 values to float32: in a model that computes in float16 every
    // float value is judged against the fp16 noise too.)
    half_ = is_float(value.dtype()) && !trace_.local_noise_fp16.empty();
    value_clip_[name] = 0.0;
    auto a = anchors_.find(name);
    if (a != anchors_.end()) {
      map_to(tv, name, real, a->second.source, a->second.transform, a->second.how);
      const Tensor& src = trace_.value[static_cast<size_t>(a->second.source)];
      const bool wrong_shape = src.numel() != value.numel() || (a->second.transform.reshape && src.rank() == value.rank());
      if (!wrong_shape) {
        value_clip_[name] = clipped_by(src);
        forced_ = source_as_target(src, a->second.transform, value);
      } else {  // the target's shape is wrong: go on with the source's value, shape and all
        Tensor like = Tensor::uninitialized(value.dtype(), src.shape());
        like.set_quant(value.quant());
        forced_ = source_as_target(src, Transform{}, like);
      }
      return;
    }
    offset_fault_.reset();
    if (auto m = clean_match(tv, name, real)) {
      map_to(tv, name, real, m->first, m->second, "value", false);
      value_clip_[name] = clipped_by(trace_.value[static_cast<size_t>(m->first)]);
      forced_ = source_as_target(trace_.value[static_cast<size_t>(m->first)], m->second, value);
      return;
    }
    // Faults at this very op, mapped (not clean) and forced at once: within the rounding bound but with
    // whole channels shifted or rescaled; the same op in the same place computing other values; the
    // right values in the wrong layout.
    std::optional<std::pair<int, Transform>> here = offset_fault_;
    if (!here)
      if (auto s = failed_namesake(tv, name, real)) here = std::make_pair(*s, Transform{});
    if (!here)
      if (auto s = permuted_namesake(tv, name, real)) here = std::make_pair(*s, Transform{});
    if (here) {
      map_to(tv, name, real, here->first, here->second, "anchor", offset_fault_ ? std::optional<bool>(true) : std::nullopt);
      forced_ = source_as_target(trace_.value[static_cast<size_t>(here->first)], here->second, value);
      return;
    }
    tv.state = State::kPending;
    tv.value = real;
  }

  bool substitute(const std::string&, const Tensor&, const Node*, Tensor* replacement) override {
    if (!forced_.defined()) return false;
    *replacement = std::move(forced_);
    forced_ = Tensor{};
    return true;
  }

  // Is source value `s` a descendant-or-self of every frontier element?
  bool below_frontier(int s, const std::vector<int>& frontier) const {
    for (int f : frontier)
      if (f != s && !trace_.is_ancestor(f, s)) return false;
    return true;
  }

  // A quantized target value is only defined to within its grid: its op rounds the output to a step
  // and reads inputs and weights that were rounded too. Error within `quant_steps` steps of the
  // value's own scale is the quantization the model intends, not a fault (grid_ is 0 for float values).
  double clean_threshold(int s) const {
    const size_t i = static_cast<size_t>(s);
    return std::max({opt_.clean_noise_multiple * trace_.local_noise[i], opt_.clean_floor * trace_.scale[i],
                     opt_.quant_steps * grid_ + input_rounding_ + std::min(weight_bound_, kWeightBoundCap * trace_.scale[i]),
                     half_ ? opt_.half_noise_multiple * trace_.local_noise_fp16[i] : 0.0});
  }

  // What an integer convolution or fully connected layer adds by computing on rounded numbers: each
  // output sums K products x_k w_k whose weights are off by up to half a weight step s_w and whose
  // inputs by up to half an input step s_x. Taken as independent uniform errors, the sum's standard
  // deviation is at most sqrt(K / 12) (s_w max|x| + s_x max|w|); six of them bound it. Without
  // this, a source whose weights were never rounded makes every quantized layer look faulty.
  // The bound grows with max|x|, not with the output: on inputs far from the calibrated range it can
  // exceed the value's own scale, where any value would match. A fifth of the scale at most.
  static constexpr double kWeightBoundCap = 0.2;
  double weight_rounding_bound(const Node* producer) {
    // A quantized source rounds the same way: the target should match it to its output grid.
    if (trace_.quantized || !producer || producer->domain != "tflite.quantized" || (producer->op_type != "Conv" && producer->op_type != "Gemm") ||
        producer->inputs.size() < 2)
      return 0.0;
    auto w = g_.initializers.find(producer->inputs[1]);
    auto x_max = value_max_.find(producer->inputs[0]);
    auto x_step = value_step_.find(producer->inputs[0]);
    if (w == g_.initializers.end() || x_max == value_max_.end() || !w->second.quant() || w->second.quant()->scale.empty())
      return 0.0;
    const WeightStats& ws = weight_stats(producer->inputs[1], w->second, weight_output_axis(*producer, w->second.rank()) == w->second.rank() - 1);
    const double s_x = x_step == value_step_.end() ? 0.0 : x_step->second;
    const double rounding = 6.0 * std::sqrt(ws.fan_in / 12.0) * (ws.step * x_max->second + s_x * ws.max_abs);
    // What the weights' rounding makes of a channel's typical output, systematically (channel_offset).
    weight_sigma_ = std::sqrt(ws.fan_in / 12.0) * ws.step * value_rms_[producer->inputs[0]];
    // Inputs the source gave beyond the range the target's input can hold reach this layer clipped
    // (calibration cut them off): up to max_o sum_k |w_ok| times the largest cut.
    auto clip = value_clip_.find(producer->inputs[0]);
    const double cut = clip == value_clip_.end() ? 0.0 : clip->second;
    return rounding + ws.max_channel_l1 * cut;
  }

  // What an integer op (other than a conv or FC: weight_rounding_bound) adds by reading inputs rounded
  // to their grids, each off by up to half a step s: L max s / 2 for an op whose output moves at most L
  // times its input. Most ops requantize to a grid like their input's and 3 output steps cover it; a
  // SOFTMAX or LOGISTIC writes a fixed 1/256 grid however coarse its input: softmax moves p_i by up to
  // 2 p_i max |dx|, the logistic by a quarter of dx. Not for a quantized source (it rounds the same).
  double input_rounding_bound(const Node* producer, double output_max) const {
    if (trace_.quantized || !producer || producer->domain != "tflite.quantized" || producer->op_type == "Conv" ||
        producer->op_type == "Gemm")
      return 0.0;
    double half_step = 0, other_max = 0;
    for (const auto& in : producer->inputs) {
      // Only for inputs forced to the source's values: a pending input carries an error of its own,
      // not just its grid's rounding.
      if (auto it = values.find(in); it != values.end() && it->second.state == State::kPending) return 0.0;
      auto st = value_step_.find(in);
      if (st != value_step_.end()) half_step = std::max(half_step, st->second / 2);
      if (auto mx = value_max_.find(in); mx != value_max_.end()) other_max = std::max(other_max, mx->second);
    }
    const std::string& op = producer->op_type;
    const double lipschitz = op == "Softmax" ? 2 * output_max : op == "Sigmoid" ? 0.25 : op == "Mul" ? other_max : 1.0;
    return lipschitz * half_step;
  }

  // ONNX Runtime's dynamic quantization: DynamicQuantizeLinear rounds a float value x to an 8-bit grid
  // over its own range at run time; a ConvInteger / MatMulInteger (lowered by the reader to a float64
  // op on centred integers) multiplies it by int8 weights; Cast and a Mul by x_scale * w_scale bring it
  // back to real numbers. Each run's scale is recorded with the largest |x| it came from.
  void note_dynamic_quantization(const std::string& name, const Tensor& value, const Node* producer) {
    if (!producer || producer->op_type != "DynamicQuantizeLinear" || producer->outputs.size() < 2 || name != producer->outputs[1])
      return;
    if (value.numel() != 1) return;
    auto x = value_max_.find(producer->inputs.at(0));
    dynamic_[producer->outputs[0]] = {real_f64(value).data<double>()[0], x == value_max_.end() ? 0.0 : x->second};
  }
  struct DynamicInput {
    double step = 0, max_abs = 0;
  };

  // The error a real-valued result of such an integer product carries, reached from `producer` back
  // through Add / Mul / Cast: with K products per output, weights off by half their step s_w and
  // inputs by half their step s_x (uniform, independent), six standard deviations of the sum:
  // 6 sqrt(K / 12) s_w (max|x| + s_x max|w_q|). 0 when the value is not such a result.
  double integer_product_bound(const Node* producer) const {
    if (trace_.quantized || dynamic_.empty()) return 0.0;
    const Node* n = producer;
    double w_step = 0;  // from the Mul by x_scale * w_scale on the way
    for (int hops = 0; n && hops < 4; ++hops) {
      if (n->op_type == "Cast" && n->attr_int("to", 0) == 6 && !n->inputs.empty())  // to int32: the product's end
        if (const Node* p = producer_of(n->inputs[0]); p && (p->op_type == "Conv" || p->op_type == "MatMul"))
          return lowered_product_bound(*n, w_step);
      if (n->op_type != "Add" && n->op_type != "Mul" && n->op_type != "Cast") return 0.0;
      const Node* next = nullptr;
      for (const auto& in : n->inputs) {
        const Node* p = producer_of(in);
        if (!p) continue;
        if (n->op_type == "Mul" && p->op_type == "Mul") w_step = std::max(w_step, weight_scale_of(*p));
        if (p->op_type == "Cast" || p->op_type == "Mul" || p->op_type == "Add") next = next ? next : p;
      }
      n = next;
    }
    return 0.0;
  }
  // The constant factor of x_scale * w_scale (its largest value).
  double weight_scale_of(const Node& mul) const {
    double m = 0;
    for (const auto& in : mul.inputs)
      if (const Tensor* t = constant_value(in))
        for (double v : real_f64(*t).to_f64_vector()) m = std::max(m, std::fabs(v));
    return m;
  }
  double lowered_product_bound(const Node& final_cast, double w_step) const {
    const Node* op = producer_of(final_cast.inputs.at(0));
    if (!op || op->inputs.size() < 2 || w_step <= 0) return 0.0;
    const Tensor* w = constant_value(op->inputs[1]);  // centred integer weights, float64
    std::string x = op->inputs[0];                    // Sub(Cast(x_q), zp) back to x_q
    for (int hops = 0; hops < 3 && !dynamic_.count(x); ++hops) {
      const Node* p = producer_of(x);
      if (!p || p->inputs.empty()) break;
      x = p->inputs[0];
    }
    auto d = dynamic_.find(x);
    if (!w || w->rank() < 1 || d == dynamic_.end()) return 0.0;
    const double fan_in = static_cast<double>(w->numel()) / static_cast<double>(std::max<int64_t>(op->op_type == "MatMul" ? w->dim(-1) : w->dim(0), 1));
    return 6.0 * std::sqrt(fan_in / 12.0) * w_step * (d->second.max_abs + d->second.step * max_abs(real_f64(*w)));
  }
  const Node* producer_of(const std::string& value) const {
    auto it = values.find(value);
    if (it == values.end() || it->second.producer < 0) return g_.producer(value);  // (a constant-only value)
    return &g_.nodes[static_cast<size_t>(it->second.producer)];
  }

  // What a float convolution or fully connected layer adds because of how its converter stored its
  // weights (analysis/weight_precision.h): rewritten in float32 (BatchNorm folded in), kept in float16,
  // or int8 with a scale (dynamic-range, QDQ). Sets weight_sigma_ too (integer weights).
  double stored_weight_bound(const Node* producer) {
    weight_sigma_ = 0;  // (first of the two bounds to run)
    if (trace_.quantized || !producer || !producer->domain.empty() || producer->inputs.size() < 2 ||
        (producer->op_type != "Conv" && producer->op_type != "Gemm" && producer->op_type != "MatMul"))
      return 0.0;
    auto x_max = value_max_.find(producer->inputs[0]);
    const StoredWeightInfo* w = stored_weight_info(*producer);
    if (!w || x_max == value_max_.end()) return 0.0;
    double bias = 0.0;
    if (producer->op_type != "MatMul" && producer->has_input(2)) bias = constant_max(producer->inputs[2]);
    weight_sigma_ = weight_rounding_sigma(w->storage, w->summary, value_rms_[producer->inputs[0]]);
    return weight_storage_bound(w->storage, w->summary, x_max->second, bias);
  }

  struct StoredWeightInfo {
    StoredWeight storage;
    WeightSummary summary;
  };
  // The weight (input 1) of a float op: how it is stored and its summary, once per tensor.
  const StoredWeightInfo* stored_weight_info(const Node& op) {
    const std::string& name = op.inputs[1];
    auto [it, fresh] = stored_weights_.try_emplace(name);
    if (fresh) {
      const Tensor* w = constant_value(name);
      auto sw = stored_weight(g_, name);
      if (w && sw && is_float(w->dtype()) && w->rank() >= 2)
        it->second = StoredWeightInfo{*sw, summarize_weight(*w, weight_output_axis(op, w->rank()) == w->rank() - 1)};
    }
    return it->second ? &*it->second : nullptr;
  }
  // A constant or a value computed from constants only (a dequantized weight), as the target sees it.
  const Tensor* constant_value(const std::string& name) const {
    if (auto it = g_.initializers.find(name); it != g_.initializers.end()) return &it->second;
    auto it = derived_constants_.find(name);
    return it == derived_constants_.end() ? nullptr : &it->second;
  }
  double constant_max(const std::string& name) const {
    const Tensor* t = constant_value(name);
    return t && is_float(t->dtype()) ? max_abs(real_f64(*t)) : 0.0;
  }

  // What the bound needs of a quantized weight tensor, computed once per tensor.
  struct WeightStats {
    double fan_in = 0, step = 0, max_abs = 0, max_channel_l1 = 0;
  };
  const WeightStats& weight_stats(const std::string& name, const Tensor& w, bool channel_last) {
    auto [it, fresh] = weight_stats_.try_emplace(name);
    if (!fresh) return it->second;
    const Tensor real = real_f64(w);
    const WeightSummary summary = summarize_weight(real, channel_last);
    const auto& scales = w.quant()->scale;
    it->second = {summary.fan_in, *std::max_element(scales.begin(), scales.end()), max_abs(real), summary.max_channel_l1};
    return it->second;
  }

  // How far a source value lies outside the range of the target value it is forced into.
  double clipped_by(const Tensor& source64) const {
    if (!range_) return 0.0;
    double cut = 0.0;
    const double* v = source64.data<double>();
    for (int64_t i = 0; i < source64.numel(); ++i)
      cut = std::max({cut, range_->first - v[i], v[i] - range_->second});
    return cut;
  }

  // The real values a per-tensor quantized value can hold: [scale (qmin - zp), scale (qmax - zp)].
  // Saturating there is quantization too (a calibrated range cuts off rare large activations), so a
  // quantized target value is compared with the source value clipped to it.
  static std::optional<std::pair<double, double>> representable_range(const Tensor& value) {
    const auto& q = value.quant();
    const DType t = value.dtype();
    if (!q || q->scale.size() != 1 || (t != DType::kI8 && t != DType::kU8 && t != DType::kI16)) return std::nullopt;
    const auto [qmin, qmax] = integer_range(t);
    const double zp = q->zero_point.empty() ? 0.0 : static_cast<double>(q->zero_point[0]);
    return std::make_pair(q->scale[0] * (qmin - zp), q->scale[0] * (qmax - zp));
  }

  Tensor saturated(const Tensor& source64) const {
    if (!range_) return source64;
    Tensor t = source64.clone();
    double* v = t.mutable_data<double>();
    for (int64_t i = 0; i < t.numel(); ++i) v[i] = std::clamp(v[i], range_->first, range_->second);
    return t;
  }

  static double quantization_step(const Tensor& value) {
    const auto& q = value.quant();
    if (!q || !is_integer(value.dtype()) || q->scale.empty()) return 0.0;
    return *std::max_element(q->scale.begin(), q->scale.end());
  }

  // `channels_off`: whether channel_offset flags the pair, when the caller already knows.
  void map_to(TargetValue& tv, const std::string& name, const Tensor& real, int s, const Transform& tr,
              const std::string& how, std::optional<bool> channels_off = std::nullopt) {
    const size_t i = static_cast<size_t>(s);
    tv.state = State::kMapped;
    TensorPair& p = tv.pair;
    p.target = name;
    p.source = trace_.names[i];
    p.transform = tr;
    p.how = how;
    p.noise = trace_.local_noise[i];
    p.scale = trace_.scale[i];
    p.threshold = clean_threshold(s);
    if (real.numel() == trace_.value[i].numel())
      p.error = max_abs_diff(saturated(trace_.value[i]), to_source_frame(real, tr, trace_.value[i].shape()));
    else
      p.error = std::numeric_limits<double>::infinity();  // shapes differ: the structure itself is wrong
    p.clean = p.error <= p.threshold && !(channels_off ? *channels_off : channel_offset(real, s, tr));
  }

 private:
  std::vector<int> frontier_of(const Node* producer) const {
    std::vector<int> f;
    if (!producer) return f;
    for (const auto& in : producer->inputs) {
      auto it = values.find(in);
      if (in.empty() || it == values.end()) continue;
      const TargetValue& up = it->second;
      if (up.state == State::kMapped) f.push_back(trace_.index.at(up.pair.source));
      else if (up.state == State::kPending) f.insert(f.end(), up.frontier.begin(), up.frontier.end());
    }
    std::sort(f.begin(), f.end());
    f.erase(std::unique(f.begin(), f.end()), f.end());
    return f;
  }

  // The source value this target value cleanly equals, if any: the nearest below the frontier.
  std::optional<std::pair<int, Transform>> clean_match(const TargetValue& tv, const std::string& name,
                                                       const Tensor& real) const {
    const Fingerprint fp = fingerprint(real);
    const int first = tv.frontier.empty() ? 0 : *std::min_element(tv.frontier.begin(), tv.frontier.end());
    const int named = same_op_counterpart(tv, name, real);
    for (int s = first; s < static_cast<int>(trace_.names.size()); ++s) {
      if (!trace_.candidate(s) || trace_.interior[static_cast<size_t>(s)] || trace_.print[static_cast<size_t>(s)].numel != fp.numel) continue;
      if (tv.producer >= 0 && tv.frontier.empty()) continue;  // computed from constants only
      if (!below_frontier(s, tv.frontier)) continue;
      if (named >= 0 && !in_folding_chain(trace_, source_, named, s)) continue;
      const double rel = std::max(1e-3, 4 * clean_threshold(s) / std::max(trace_.scale[static_cast<size_t>(s)], 1e-30));
      if (!fingerprints_close(trace_.print[static_cast<size_t>(s)], fp, rel)) continue;
      const Tensor src = saturated(trace_.value[static_cast<size_t>(s)]);
      auto m = best_match(src, real);
      if (m && !m->transform.perm.empty() && keeps_order(tv, name, real.shape(), s)) m = best_match(src, real, 1.0, true);
      if (!m || m->max_abs > clean_threshold(s)) continue;
      // A value part-way through ops the converter folded (an importer's BatchNorm scale before its
      // shift) may fall within a quantized value's threshold: the end of the fold, when clearly closer.
      const int best = m->transform.identity() && trace_.shape[static_cast<size_t>(s)] == real.shape() ? folded_counterpart(s, real) : s;
      if (!channel_offset(real, best, m->transform)) return std::make_pair(best, m->transform);
      if (!offset_fault_) offset_fault_ = std::make_pair(best, m->transform);
    }
    return std::nullopt;
  }

  // The rounding bound (weight_rounding_bound) is loose: it must hold for the worst element. A fault
  // that shifts or rescales whole channels (a dropped bias, BatchNorm folded twice) can hide inside it,
  // but not from a fit per channel of d = target - source against the source: d = a + b source + rest.
  // Rounding weights, inputs and outputs leaves the fitted part small (under 1.5 output steps in DS-CNN's
  // clean int8 model) and no larger than the rest; a dropped bias makes d nearly constant, a
  // rescaled channel makes it follow the values: the fitted part is many steps and dwarfs the rest.
  // Only where the bound is in effect (an integer conv or FC fed by a float source).
  static constexpr double kChannelOffsetSteps = 3, kChannelOffsetZ = 3;
  bool channel_offset(const Tensor& real, int s, const Transform& tr) const {
    if (grid_ <= 0 || weight_bound_ <= 0 || real.rank() < 2) return false;
    const Tensor src = to_target_frame(saturated(trace_.value[static_cast<size_t>(s)]), tr, real.shape());
    const int64_t rank = real.rank();
    const int64_t axis = channels_last_ ? rank - 1 : 1;
    int64_t inner = 1;
    for (int64_t d = axis + 1; d < rank; ++d) inner *= real.dim(d);
    const int64_t channels = real.dim(axis), n = real.numel();
    if (n / channels < 16) return false;  // too few positions per channel to tell
    // Per channel: the mean of d = target - source, and how much of d that mean is. Rounding leaves
    // d spread around a mean near 0; a dropped bias shifts a channel by a constant (d nearly constant),
    // a rescaled channel makes d follow the values (slope): fitted d = a + b source, the part of d's
    // spread the fit explains.
    struct Sums { double n = 0, d = 0, dd = 0, y = 0, yy = 0, yd = 0; };
    std::vector<Sums> st(static_cast<size_t>(channels));
    const double *t = real.data<double>(), *r = src.data<double>();
    for (int64_t i = 0; i < n; ++i) {
      Sums& c = st[static_cast<size_t>((i / inner) % channels)];
      const double d = t[i] - r[i];
      c.n += 1, c.d += d, c.dd += d * d, c.y += r[i], c.yy += r[i] * r[i], c.yd += r[i] * d;
    }
    bool fault = false;
    for (const Sums& c : st) {
      const double mean = c.d / c.n, var_d = std::max(0.0, c.dd / c.n - mean * mean);
      const double var_y = std::max(0.0, c.yy / c.n - (c.y / c.n) * (c.y / c.n)), cov = c.yd / c.n - (c.y / c.n) * mean;
      const double explained = var_y > 0 ? cov * cov / var_y : 0.0;        // variance of d the slope explains
      const double residual = std::max(var_d - explained, 0.0);
      const double systematic = std::sqrt(mean * mean + explained);        // rms of the fitted part
      const double z = systematic / std::sqrt(residual + 1e-30);
      fault |= systematic > kChannelOffsetSteps * (grid_ + weight_sigma_) && z > kChannelOffsetZ;
    }
    return fault;
  }

  // The source value of the same name and shape made by the same op type, when this value does not
  // match it: the same op in the same place computing something else is a fault there. Left pending,
  // a later value could absorb it (an int8 softmax within 3 steps of the source's, after a depthwise
  // conv whose dilation changed). Not for a quantized target of a float source: there, values off by
  // more than the rounding allows are let through to the values after them, where the error is judged
  // again (calibrated ranges that clip rare values would otherwise make faults of intended rounding).
  std::optional<int> failed_namesake(const TargetValue& tv, const std::string& name, const Tensor& real) const {
    if ((grid_ > 0 && !trace_.quantized) || tv.producer < 0) return std::nullopt;
    // Only when the op reads mapped values alone: with a pending input it may be passing an error on.
    for (const auto& in : g_.nodes[static_cast<size_t>(tv.producer)].inputs) {
      auto it = values.find(in);
      if (it != values.end() && it->second.state == State::kPending) return std::nullopt;
    }
    const int s = same_op_counterpart(tv, name, real);
    if (s < 0 || trace_.shape[static_cast<size_t>(s)] != real.shape()) return std::nullopt;
    return folded_counterpart(s, real);
  }

  // Value `s`, or the value of the chain of foldable ops after it (BatchNorm, activation) that is
  // clearly closer to `real`: the converter fused them into the op, so the op's own output is far
  // off and the folded one near (a fault in the fused op then shows against what it should compute).
  int folded_counterpart(int s, const Tensor& real) const {
    auto error_of = [&](int c) { return max_abs_diff(trace_.value[static_cast<size_t>(c)], real.reshaped(trace_.value[static_cast<size_t>(c)].shape())); };
    int best = s;
    double best_err = error_of(s);
    for (int c = s + 1; c < static_cast<int>(trace_.names.size()) && trace_.data_distance(s, c) <= kFoldingChainValues; ++c) {
      if (!trace_.candidate(c) || trace_.interior[static_cast<size_t>(c)] || trace_.shape[static_cast<size_t>(c)] != real.shape() ||
          !in_folding_chain(trace_, source_, s, c))
        continue;
      if (const double e = error_of(c); e < 0.5 * best_err) best = c, best_err = e;
    }
    return best;
  }

  // The source value of the same name and shape, when this value holds it exactly but permuted (a
  // Transpose that swaps H and W of a square map): the converter kept the value's name and shape, so
  // it meant the same layout, and the op that made it is at fault here, not wherever the permuted
  // layout later meets a value in the right one.
  std::optional<int> permuted_namesake(const TargetValue& tv, const std::string& name, const Tensor& real) const {
    if (tv.producer < 0 || tv.frontier.empty()) return std::nullopt;
    auto it = trace_.index.find(name);
    if (it == trace_.index.end()) return std::nullopt;
    const int s = it->second;
    if (!trace_.candidate(s) || trace_.shape[static_cast<size_t>(s)] != real.shape() || !below_frontier(s, tv.frontier))
      return std::nullopt;
    auto m = best_match(saturated(trace_.value[static_cast<size_t>(s)]), real);
    if (!m || m->transform.perm.empty() || m->max_abs > clean_threshold(s)) return std::nullopt;
    return s;
  }

  // The source value of the same name, made by the same op type, with as many elements and below the
  // frontier: the same op in the same place. Only it (or the ops a converter folds into it) can be
  // this value's clean match; were its values to equal some other source value further on, that
  // would be a coincidence of a faulty op (a concat on the wrong axis that happens to perform the
  // channel shuffle after it), not a fusion. -1 when there is no such value.
  int same_op_counterpart(const TargetValue& tv, const std::string& name, const Tensor& real) const {
    if (tv.producer < 0) return -1;
    auto it = trace_.index.find(name);
    if (it == trace_.index.end()) return -1;
    const int s = it->second;
    const int sp = trace_.producer[static_cast<size_t>(s)];
    if (sp < 0 || !trace_.candidate(s) || trace_.value[static_cast<size_t>(s)].numel() != real.numel()) return -1;
    if (source_.nodes[static_cast<size_t>(sp)].op_type != g_.nodes[static_cast<size_t>(tv.producer)].op_type) return -1;
    return below_frontier(s, tv.frontier) ? s : -1;
  }

 public:
  // Must the match of this value to source value `s` keep the elements' order? Yes for the source
  // value of the same name and shape: the converter kept that value as it was. Else see keeps_layout.
  bool keeps_order(const TargetValue& tv, const std::string& name, const Shape& shape, int s) const {
    if (trace_.names[static_cast<size_t>(s)] == name && trace_.shape[static_cast<size_t>(s)] == shape) return true;
    return keeps_layout(tv, s);
  }

  // Must the match of this value to source value `s` keep the elements' order (identity or reshape)?
  // Yes when everything the segment starts from is mapped as is (no layout change) and the target
  // segment moves elements (Transpose, DepthToSpace...) exactly as often as the source path to `s`:
  // both then lay the value out alike. A permuted match there is a fault in disguise, e.g. a
  // Transpose whose perm swaps H and W of a square map.
  bool keeps_layout(const TargetValue& tv, int s) const {
    if (tv.producer < 0) return false;
    int target_moves = 0;
    std::vector<int> stack{tv.producer};
    std::set<int> seen;
    while (!stack.empty()) {
      const int n = stack.back();
      stack.pop_back();
      if (!seen.insert(n).second) continue;
      const Node& node = g_.nodes[static_cast<size_t>(n)];
      target_moves += moves_elements(node.op_type);
      for (const auto& in : node.inputs) {
        auto it = values.find(in);
        if (in.empty() || it == values.end()) continue;
        const TargetValue& up = it->second;
        if (up.state == State::kMapped && !up.pair.transform.identity()) return false;
        if (up.state == State::kPending && up.producer >= 0) stack.push_back(up.producer);
      }
    }
    return target_moves == source_moves(tv.frontier, s);
  }

 private:
  static bool moves_elements(const std::string& op) {
    return op == "Transpose" || op == "DepthToSpace" || op == "SpaceToDepth";
  }

  // Element-moving source ops between the frontier and value `end`.
  int source_moves(const std::vector<int>& frontier, int end) const {
    std::set<int> nodes;
    for (int v = 0; v <= end; ++v) {
      if (v != end && !trace_.is_ancestor(v, end)) continue;
      const int p = trace_.producer[static_cast<size_t>(v)];
      if (p >= 0 && moves_elements(source_.nodes[static_cast<size_t>(p)].op_type) && past_frontier(trace_, frontier, v))
        nodes.insert(p);
    }
    return static_cast<int>(nodes.size());
  }

  const Graph& source_;
  const Graph& g_;
  const SourceTrace& trace_;
  const std::map<std::string, Anchor>& anchors_;
  const AlignOptions& opt_;
  bool channels_last_;  // TFLite values are NHWC: channels on the last axis (else axis 1)
  mutable std::optional<std::pair<int, Transform>> offset_fault_;  // clean_match's match rejected by channel_offset
  Tensor forced_;
  double grid_ = 0;  // quantization step of the value being mapped (0: float)
  double weight_bound_ = 0;  // error its producer adds by rounding weights (and, integer, inputs)
  std::unordered_map<std::string, double> value_max_, value_step_, value_rms_;  // max |value| and step of values seen
  std::unordered_map<std::string, std::pair<double, double>> value_range_;  // quantized values' representable ranges
  std::unordered_map<std::string, double> value_clip_;  // how far the source value forced into it was clipped
  std::unordered_map<std::string, std::optional<StoredWeightInfo>> stored_weights_;  // float ops' weights, by name
  std::unordered_map<std::string, Tensor> derived_constants_;  // values computed from constants only
  double weight_sigma_ = 0;  // one standard deviation of the producer's integer weight rounding (0: none)
  double input_rounding_ = 0;  // error the producer adds by reading rounded inputs (input_rounding_bound)
  std::unordered_map<std::string, DynamicInput> dynamic_;  // DynamicQuantizeLinear's x_q -> its step and max |x|
  std::unordered_map<std::string, WeightStats> weight_stats_;  // by weight tensor name
  bool half_ = false;  // the target computes in float16 (its values are judged against the fp16 local noise too)
  std::optional<std::pair<double, double>> range_;  // its representable range, when quantized per tensor
};

// Target values that some graph output or mapped value depends on, per value: does any descendant
// (or the value itself) get mapped?
std::set<std::string> resolved_values(const Graph& g, const ForcedRun& run) {
  std::set<std::string> resolved;
  for (auto it = run.order.rbegin(); it != run.order.rend(); ++it) {
    const TargetValue& tv = run.values.at(*it);
    if (tv.state == State::kMapped) resolved.insert(*it);
    if (!resolved.count(*it) || tv.producer < 0) continue;
    for (const auto& in : g.nodes[static_cast<size_t>(tv.producer)].inputs)
      if (!in.empty()) resolved.insert(in);
  }
  return resolved;
}

// Is source value `s` made by an op of the same family as `target_op` (Upsample ~ Resize, Relu ~ Clip)?
// Layout ops (Reshape, Transpose...) never count: too common to mean anything.
bool made_by_same_family(const Model& source, const SourceTrace& trace, int s, const std::string& target_op) {
  const std::string family = op_family(target_op);
  if (family == "layout") return false;
  const int p = trace.producer[static_cast<size_t>(s)];
  return p >= 0 && op_family(source.graph.nodes[static_cast<size_t>(p)].op_type) == family;
}

// Does the op that makes source value `s` read a frontier value directly?
bool reads_frontier(const Model& source, const SourceTrace& trace, int s, const std::vector<int>& frontier) {
  const int p = trace.producer[static_cast<size_t>(s)];
  if (p < 0) return false;
  for (const auto& in : source.graph.nodes[static_cast<size_t>(p)].inputs) {
    auto it = trace.index.find(in);
    if (it != trace.index.end() && std::find(frontier.begin(), frontier.end(), it->second) != frontier.end()) return true;
  }
  return false;
}

// Do the weights (input 1, a constant) of the op making source value `s` and of target node `t` have
// the same dims, in any order (layouts differ: OIHW vs OHWI)?
bool same_weight_shape(const Model& source, const SourceTrace& trace, int s, const Model& target, int t) {
  const int p = trace.producer[static_cast<size_t>(s)];
  if (p < 0 || t < 0) return false;
  auto dims = [](const Model& m, const Node& n) -> std::optional<Shape> {
    if (n.inputs.size() < 2) return std::nullopt;
    auto it = m.graph.initializers.find(n.inputs[1]);
    if (it == m.graph.initializers.end()) return std::nullopt;
    Shape d = it->second.shape();
    std::sort(d.begin(), d.end());
    return d;
  };
  const auto a = dims(source, source.graph.nodes[static_cast<size_t>(p)]);
  const auto b = dims(target, target.graph.nodes[static_cast<size_t>(t)]);
  return a && b && *a == *b;
}

// The best source counterpart of a pending value that nothing downstream resolves. Priors first:
// the source value of the same name; else the first value below the frontier made by an op of the
// same type, or one of the ops a converter folds into it (BatchNorm, activation) right after it;
// the smallest error among those. Without either, the smallest error anywhere below the frontier.
std::optional<Anchor> choose_anchor(const Model& target, const SourceTrace& trace, const ForcedRun& run,
                                    const TargetValue& tv, const std::string& name, const Model& source) {
  const int first = tv.frontier.empty() ? 0 : *std::min_element(tv.frontier.begin(), tv.frontier.end());
  const int count = static_cast<int>(trace.names.size());
  auto eligible = [&](int s) { return trace.candidate(s) && !trace.interior[static_cast<size_t>(s)] && run.below_frontier(s, tv.frontier); };
  auto error_of = [&](int s) -> std::optional<std::pair<double, Transform>> {
    if (trace.value[static_cast<size_t>(s)].numel() != tv.value.numel()) return std::nullopt;
    auto m = best_match(trace.value[static_cast<size_t>(s)], tv.value, 0.25);
    if (m && !m->transform.perm.empty() && run.keeps_order(tv, name, tv.value.shape(), s))
      m = best_match(trace.value[static_cast<size_t>(s)], tv.value, 0.25, true);
    if (!m) return std::nullopt;
    const double scale = std::max({trace.scale[static_cast<size_t>(s)], max_abs(tv.value), 1e-30});
    return std::make_pair(m->max_abs / scale, m->transform);
  };
  auto anchor_to = [&](int s, const char* how) {
    auto e = error_of(s);
    return Anchor{s, e ? e->second : Transform{}, e ? how : "structure"};
  };
  // 1. Same name (converters and exporters often keep tensor names).
  auto same = trace.index.find(name);
  if (same != trace.index.end() && eligible(same->second)) return anchor_to(same->second, "anchor");
  // 2. Same op type with the same element count, nearest below the frontier (not on it: the op reads
  // the frontier), or what folds into it.
  const std::string& op = target.graph.nodes[static_cast<size_t>(tv.producer)].op_type;
  auto made_by = [&](int s) { return made_by_same_family(source, trace, s, op); };
  auto same_size = [&](int s) { return trace.value[static_cast<size_t>(s)].numel() == tv.value.numel(); };
  auto on_frontier = [&](int s) { return std::find(tv.frontier.begin(), tv.frontier.end(), s) != tv.frontier.end(); };
  auto sibling_of = [&](int s) {  // sibling ops reading the same frontier (a Fire module's two expands):
    for (int o = s + 1; o < count; ++o)  // the one whose weights have the target op's shape
      if (made_by(o) && eligible(o) && same_size(o) && !on_frontier(o) && reads_frontier(source, trace, o, tv.frontier) &&
          !same_weight_shape(source, trace, s, target, tv.producer) && same_weight_shape(source, trace, o, target, tv.producer))
        return o;
    return s;
  };
  for (int s0 = first; s0 < count; ++s0) {
    if (!made_by(s0) || !eligible(s0) || !same_size(s0) || on_frontier(s0)) continue;
    const int s = reads_frontier(source, trace, s0, tv.frontier) ? sibling_of(s0) : s0;
    // A conv or fully connected layer followed in the source by a BatchNorm (or an importer's scale
    // and shift for one): converters fold those into the layer, so the end of them is the target op's
    // counterpart, whatever a fault does to the values. s itself, or an activation after them, only
    // when clearly closer (the converter kept the BatchNorm apart; the target value is after the
    // activation).
    int structural = s;
    const std::string fam = op_family(op);
    for (int c = s + 1; (fam == "conv" || fam == "gemm") && c < count && trace.data_distance(s, c) <= kFoldingChainValues; ++c) {
      if (trace.interior[static_cast<size_t>(c)] || !in_folding_chain(trace, source.graph, s, c)) continue;
      const int pc = trace.producer[static_cast<size_t>(c)];
      if (pc < 0 || !folds_as_affine(source.graph.nodes[static_cast<size_t>(pc)], trace)) break;
      structural = c;
    }
    std::optional<Anchor> best;
    double best_err = std::numeric_limits<double>::infinity();
    auto consider = [&](int c, double factor) {
      if (auto e = error_of(c); e && e->first < best_err * factor) best_err = e->first, best = Anchor{c, e->second, "anchor"};
    };
    consider(structural, 1.0);
    for (int c = s; c < count && trace.data_distance(s, c) <= kFoldingChainValues; ++c)
      if (c != structural && !trace.interior[static_cast<size_t>(c)] && in_folding_chain(trace, source.graph, s, c)) consider(c, 0.5);
    return best ? *best : anchor_to(structural, "anchor");
  }
  // 3. The smallest error among the nearest values below the frontier (farther ones are unrelated).
  std::optional<Anchor> best;
  double best_err = std::numeric_limits<double>::infinity();
  int considered = 0;
  for (int s = first; s < count && considered < 8; ++s) {
    if (!eligible(s) || !same_size(s)) continue;
    ++considered;
    if (auto e = error_of(s); e && e->first < best_err * 0.999) best_err = e->first, best = Anchor{s, e->second, "anchor"};
  }
  if (best) return best;
  // 4. No source value has this shape (a stride, pad or axis fault changed it): the nearest made by
  // the same op from the same inputs. (One made further on is another op: a Pad the converter
  // inserted is not the Pad of some later branch.)
  for (int s = first; s < count; ++s)
    if (made_by(s) && eligible(s) && reads_frontier(source, trace, s, tv.frontier)) return anchor_to(s, "structure");
  return std::nullopt;
}

// Does the source have a value of this name, or one made by the same op, below the frontier?
bool has_counterpart(const Model& target, const SourceTrace& trace, const ForcedRun& run, const TargetValue& tv,
                     const std::string& name, const Model& source) {
  auto same = trace.index.find(name);
  if (same != trace.index.end() && trace.candidate(same->second) && run.below_frontier(same->second, tv.frontier)) return true;
  const std::string& op = target.graph.nodes[static_cast<size_t>(tv.producer)].op_type;
  const int first = tv.frontier.empty() ? 0 : *std::min_element(tv.frontier.begin(), tv.frontier.end());
  for (int s = first; s < static_cast<int>(trace.names.size()); ++s) {
    if (!made_by_same_family(source, trace, s, op) || !trace.candidate(s) || !run.below_frontier(s, tv.frontier)) continue;
    if (trace.value[static_cast<size_t>(s)].numel() == tv.value.numel() || reads_frontier(source, trace, s, tv.frontier))
      return true;
  }
  return false;
}

// Target nodes of the segment that ends at `name`: its producer and the producers of pending
// values it reads, back to mapped values.
void collect_target_segment(const Graph& g, const ForcedRun& run, const std::string& name, TensorPair& p) {
  std::set<int> nodes;
  std::set<std::string> from;
  std::vector<std::string> stack{name};
  std::set<std::string> seen;
  while (!stack.empty()) {
    std::string v = stack.back();
    stack.pop_back();
    if (!seen.insert(v).second) continue;
    auto it = run.values.find(v);
    if (it == run.values.end()) continue;  // constant
    const TargetValue& tv = it->second;
    if (v != name && tv.state == State::kMapped) {
      from.insert(v);
      continue;
    }
    if (tv.producer < 0) continue;
    nodes.insert(tv.producer);
    for (const auto& in : g.nodes[static_cast<size_t>(tv.producer)].inputs)
      if (!in.empty()) stack.push_back(in);
  }
  p.target_nodes.assign(nodes.begin(), nodes.end());
  p.target_from.assign(from.begin(), from.end());
}

// Source nodes between the segment's start values and its end value.
void collect_source_segment(const SourceTrace& trace, const std::vector<int>& frontier, int end, TensorPair& p) {
  std::set<int> nodes;
  for (int v = 0; v <= end; ++v) {
    if (v != end && !trace.is_ancestor(v, end)) continue;
    if (trace.producer[static_cast<size_t>(v)] >= 0 && past_frontier(trace, frontier, v))
      nodes.insert(trace.producer[static_cast<size_t>(v)]);
  }
  p.source_nodes.assign(nodes.begin(), nodes.end());
  for (int f : frontier) p.source_from.push_back(trace.names[static_cast<size_t>(f)]);
}

}  // namespace

Alignment align_models(const Model& source, const Model& target, const SourceTrace& trace,
                       const std::map<std::string, Tensor>& target_inputs, const AlignOptions& opt) {
  Alignment out;
  std::map<std::string, Anchor> anchors;
  std::set<std::string> unanchorable;
  std::unique_ptr<ForcedRun> run;
  Interpreter interp(target, {Precision::kF32});
  for (out.passes = 1; out.passes <= opt.max_passes; ++out.passes) {
    run = std::make_unique<ForcedRun>(source, target, trace, anchors, opt);
    out.crash.clear();
    try {
      interp.run(target_inputs, run.get());
    } catch (const std::exception& e) {
      out.crash = e.what();
    }
    // The first pending value that nothing downstream resolves is where the next fault is.
    std::set<std::string> resolved = resolved_values(target.graph, *run);
    // Ops the source has no counterpart of (inserted at the input, say) join the segment of the
    // first value after them that has one, so that the fault is one segment, not several.
    const TargetValue* fault = nullptr;
    std::string fault_name;
    const TargetValue* fallback = nullptr;
    std::string fallback_name;
    for (const auto& name : run->order) {
      const TargetValue& tv = run->values.at(name);
      if (tv.state != State::kPending || resolved.count(name) || unanchorable.count(name)) continue;
      if (!fallback) fallback = &tv, fallback_name = name;
      if (has_counterpart(target, trace, *run, tv, name, source)) {
        fault = &tv;
        fault_name = name;
        break;
      }
    }
    if (!fault) fault = fallback, fault_name = fallback_name;
    if (!fault) break;
    auto anchor = choose_anchor(target, trace, *run, *fault, fault_name, source);
    if (std::getenv("TRANSFIX_DEBUG_ALIGN"))
      std::fprintf(stderr, "pass %d: unresolved '%s' -> %s\n", out.passes, fault_name.c_str(),
                   anchor ? (trace.names[static_cast<size_t>(anchor->source)] + " (" + anchor->how + ")").c_str() : "none");
    if (anchor) anchors[fault_name] = *anchor;
    else unanchorable.insert(fault_name);
  }
  out.passes = std::min(out.passes, opt.max_passes);
  if (!out.crash.empty()) {
    auto q = out.crash.find("node '");
    if (q != std::string::npos) out.crash_node = out.crash.substr(q + 6, out.crash.find('\'', q + 6) - q - 6);
  }

  // Pairs and their segments, in target order.
  std::set<std::string> mapped_sources;
  for (const auto& name : run->order) {
    const TargetValue& tv = run->values.at(name);
    if (tv.state == State::kIgnored) continue;
    ++out.target_tensors;
    if (tv.state != State::kMapped) continue;
    ++out.target_tensors_mapped;
    TensorPair p = tv.pair;
    collect_target_segment(target.graph, *run, name, p);
    collect_source_segment(trace, tv.frontier, trace.index.at(p.source), p);
    mapped_sources.insert(p.source);
    out.target_to_source[name] = p.source;
    out.pairs.push_back(std::move(p));
  }
  out.target_shapes = run->shapes;
  std::set<int> covered;
  for (const auto& p : out.pairs) covered.insert(p.source_nodes.begin(), p.source_nodes.end());
  for (size_t v = 0; v < trace.names.size(); ++v) {
    if (!trace.candidate(static_cast<int>(v))) continue;
    ++out.source_tensors;
    out.source_tensors_mapped += mapped_sources.count(trace.names[v]) ? 1 : 0;
  }
  out.source_nodes = static_cast<int>(source.graph.nodes.size());
  out.source_nodes_covered = static_cast<int>(covered.size());
  return out;
}

}  // namespace transfix
