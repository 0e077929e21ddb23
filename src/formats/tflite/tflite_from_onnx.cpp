// prepare_for_tflite: a model of another format (ONNX: NCHW, shapes maybe dynamic, shape arithmetic
// at run time) -> the form the TFLite writer maps to builtins:
//  1. dynamic input dims are fixed to 1 (TFLite tensors have static shapes here);
//  2. values computed only from constants and static shapes become constants (one interpreter run);
//  3. BatchNormalization after a Conv is folded into the Conv's weights and bias;
//  4. Conv / MaxPool / AveragePool / Resize on 4-D NCHW tensors become NHWC nodes between
//     Transposes (weights OHWI, depthwise 1HWO); explicit pads TFLite cannot express become a Pad;
//  5. Transposes move below element-wise unary ops and back-to-back inverse pairs cancel, so a chain
//     Conv -> Relu -> MaxPool -> Conv stays NHWC inside and transposes only at its ends.
// Every step keeps the model's meaning: the result runs in the interpreter and gives the same
// outputs (tests compare).
#include <cmath>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <unordered_map>
#include <vector>

#include "core/errors.h"
#include "formats/tflite/tflite_writer.h"
#include "runtime/interpreter.h"

namespace transfix {

namespace {

const std::vector<int64_t> kToNhwc{0, 2, 3, 1}, kToNchw{0, 3, 1, 2};

[[noreturn]] void unsupported(const Node& n, const std::string& why) {
  throw UnsupportedError("ONNX -> TFLite: node '" + n.name + "' (" + n.op_type + "): " + why, n.op_type);
}


// Every value's dtype and shape from one run on zero inputs (static input shapes by now).
struct Run {
  std::map<std::string, Tensor> values;
};

Run run_once(const Model& m) {
  struct Recorder : Observer {
    Run* run;
    void on_value(const std::string& n, const Tensor& v, const Node*) override { run->values[n] = v.clone(); }
  } rec;
  Run run;
  rec.run = &run;
  Interpreter interp(m);
  std::map<std::string, Tensor> inputs;
  for (const auto& in : m.graph.inputs) inputs[in.name] = Tensor(in.dtype, in.shape);
  interp.run(inputs, &rec);
  return run;
}

void fix_dynamic_dims(Model& m) {
  for (auto& in : m.graph.inputs) {
    if (!in.has_shape) throw UnsupportedError("ONNX -> TFLite: input '" + in.name + "' has no known rank", "shape");
    for (auto& d : in.shape)
      if (d < 0) d = 1;
    in.dim_params.clear();
  }
  for (auto& out : m.graph.outputs) out.dim_params.clear();
}

// Nodes whose inputs are all constants (or, for Shape, whose input has a static shape) are
// replaced by their results.
void fold_constants(Model& m, const Run& run) {
  std::set<std::string> constant;
  for (const auto& [name, t] : m.graph.initializers) constant.insert(name);
  std::vector<bool> folded(m.graph.nodes.size(), false);
  for (size_t i : m.graph.topological_order()) {
    const Node& n = m.graph.nodes[i];
    bool all = true;
    if (n.op_type != "Shape")
      for (const auto& in : n.inputs) all = all && (in.empty() || constant.count(in));
    if (!all) continue;
    for (const auto& out : n.outputs) {
      if (out.empty()) continue;
      auto it = run.values.find(out);
      if (it == run.values.end()) { all = false; break; }
    }
    if (!all) continue;
    folded[i] = true;
    for (const auto& out : n.outputs)
      if (!out.empty()) {
        constant.insert(out);
        m.graph.initializers[out] = run.values.at(out);
      }
  }
  std::vector<Node> kept;
  for (size_t i = 0; i < m.graph.nodes.size(); ++i)
    if (!folded[i]) kept.push_back(std::move(m.graph.nodes[i]));
  m.graph.nodes = std::move(kept);
  // Constants nothing reads any more (e.g. the inputs of folded shape arithmetic) are dropped.
  std::set<std::string> used;
  for (const Node& n : m.graph.nodes)
    for (const auto& in : n.inputs) used.insert(in);
  for (const auto& o : m.graph.outputs) used.insert(o.name);
  for (auto it = m.graph.initializers.begin(); it != m.graph.initializers.end();)
    it = used.count(it->first) ? std::next(it) : m.graph.initializers.erase(it);
}

std::unordered_map<std::string, int> consumer_counts(const Graph& g) {
  std::unordered_map<std::string, int> c;
  for (const Node& n : g.nodes)
    for (const auto& in : n.inputs) ++c[in];
  for (const auto& o : g.outputs) ++c[o.name];
  return c;
}

const Tensor* float_constant(const Graph& g, const Node& n, size_t i) {
  if (!n.has_input(i)) return nullptr;
  auto it = g.initializers.find(n.inputs[i]);
  return it != g.initializers.end() && it->second.dtype() == DType::kF32 ? &it->second : nullptr;
}

// Inference BatchNormalization as y = x * scale + shift per channel: scale = gamma / sqrt(var + eps),
// shift = beta - mean * scale. Nullopt unless its four statistics are float constants of `channels`
// elements.
struct ChannelAffine {
  std::vector<double> scale, shift;
};
std::optional<ChannelAffine> batchnorm_affine(const Graph& g, const Node& bn, int64_t channels) {
  const Tensor* stat[4];  // gamma, beta, mean, var
  for (size_t i = 0; i < 4; ++i) {
    stat[i] = float_constant(g, bn, i + 1);
    if (!stat[i] || stat[i]->numel() != channels) return std::nullopt;
  }
  const double eps = bn.attr_float("epsilon", 1e-5);
  ChannelAffine a{std::vector<double>(static_cast<size_t>(channels)), std::vector<double>(static_cast<size_t>(channels))};
  for (int64_t c = 0; c < channels; ++c) {
    const size_t i = static_cast<size_t>(c);
    a.scale[i] = stat[0]->data<float>()[c] / std::sqrt(static_cast<double>(stat[3]->data<float>()[c]) + eps);
    a.shift[i] = stat[1]->data<float>()[c] - stat[2]->data<float>()[c] * a.scale[i];
  }
  return a;
}

// Conv -> BatchNormalization (inference form) with the Conv's output read by nothing else: the
// BN's per-channel scale goes into the weights, the shift into the bias.
void fold_batchnorm(Model& m) {
  Graph& g = m.graph;
  auto consumers = consumer_counts(g);
  std::unordered_map<std::string, size_t> producer;
  for (size_t i = 0; i < g.nodes.size(); ++i)
    for (const auto& o : g.nodes[i].outputs) producer[o] = i;
  std::vector<bool> removed(g.nodes.size(), false);
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    Node& bn = g.nodes[i];
    if (bn.op_type != "BatchNormalization" || bn.outputs.size() != 1) continue;
    auto p = producer.find(bn.inputs[0]);
    if (p == producer.end() || consumers[bn.inputs[0]] != 1) continue;
    Node& conv = g.nodes[p->second];
    const Tensor* w = float_constant(g, conv, 1);
    if (conv.op_type != "Conv" || !w || w->rank() == 0 || w->dim(0) == 0) continue;
    const int64_t out_channels = w->dim(0), per_channel = w->numel() / out_channels;
    const auto bn_affine = batchnorm_affine(g, bn, out_channels);
    if (!bn_affine) continue;
    Tensor w2 = w->clone();
    Tensor b2(DType::kF32, {out_channels});
    const Tensor* b = float_constant(g, conv, 2);
    for (int64_t o = 0; o < out_channels; ++o) {
      const double s = bn_affine->scale[static_cast<size_t>(o)];
      for (int64_t k = 0; k < per_channel; ++k) w2.mutable_data<float>()[o * per_channel + k] = static_cast<float>(w->data<float>()[o * per_channel + k] * s);
      const double bias = b ? b->data<float>()[o] : 0.0;
      b2.mutable_data<float>()[o] = static_cast<float>(bias * s + bn_affine->shift[static_cast<size_t>(o)]);
    }
    const std::string wname = conv.inputs[1] + "/bn_folded", bname = conv.outputs[0] + "/bn_folded_bias";
    g.initializers[wname] = std::move(w2);
    g.initializers[bname] = std::move(b2);
    conv.inputs.resize(3);
    conv.inputs[1] = wname;
    conv.inputs[2] = bname;
    conv.outputs[0] = bn.outputs[0];
    removed[i] = true;
  }
  std::vector<Node> kept;
  for (size_t i = 0; i < g.nodes.size(); ++i)
    if (!removed[i]) kept.push_back(std::move(g.nodes[i]));
  g.nodes = std::move(kept);
}

Tensor permuted(const Tensor& t, const std::vector<int64_t>& perm) {
  if (t.dtype() != DType::kF32) throw UnsupportedError("ONNX -> TFLite: only float32 weights are converted", "dtype");
  Shape out_shape;
  for (int64_t p : perm) out_shape.push_back(t.dim(p));
  Tensor out(DType::kF32, out_shape);
  const size_t rank = perm.size();
  std::vector<int64_t> in_strides(rank, 1);
  for (size_t d = rank - 1; d > 0; --d) in_strides[d - 1] = in_strides[d] * t.dim(static_cast<int64_t>(d));
  std::vector<int64_t> idx(rank, 0);
  const float* src = t.data<float>();
  float* dst = out.mutable_data<float>();
  for (int64_t i = 0; i < out.numel(); ++i) {
    int64_t off = 0;
    for (size_t d = 0; d < rank; ++d) off += idx[d] * in_strides[static_cast<size_t>(perm[d])];
    dst[i] = src[off];
    for (size_t d = rank; d-- > 0;) {
      if (++idx[d] < out_shape[d]) break;
      idx[d] = 0;
    }
  }
  return out;
}

// SAME_UPPER for these shapes, or the explicit pads [top, left, bottom, right].
bool pads_are_same_upper(const std::vector<int64_t>& pads, const Shape& in_hw, const std::vector<int64_t>& k,
                         const std::vector<int64_t>& s, const std::vector<int64_t>& d) {
  for (size_t i = 0; i < 2; ++i) {
    const int64_t out = (in_hw[i] + s[i] - 1) / s[i];
    const int64_t total = std::max<int64_t>(0, (out - 1) * s[i] + (k[i] - 1) * d[i] + 1 - in_hw[i]);
    if (pads[i] != total / 2 || pads[i + 2] != total - total / 2) return false;
  }
  return true;
}

class NhwcRewriter {
 public:
  NhwcRewriter(Model& m, const Run& run) : m_(m), run_(run) {}

  void rewrite() {
    std::vector<Node> out;
    for (Node& n : m_.graph.nodes) {
      if (needs_nhwc(n)) convert(n, out);
      else out.push_back(std::move(n));
    }
    m_.graph.nodes = std::move(out);
  }

 private:
  const Shape& shape(const std::string& v) const {
    auto it = run_.values.find(v);
    if (it == run_.values.end()) throw UnsupportedError("ONNX -> TFLite: the shape of '" + v + "' is unknown", "shape");
    return it->second.shape();
  }
  bool needs_nhwc(const Node& n) const {
    static const std::set<std::string> spatial{"Conv", "MaxPool", "AveragePool", "Resize", "BatchNormalization"};
    if (!spatial.count(n.op_type) || n.attr_string("layout", "NCHW") == "NHWC") return false;
    return shape(n.inputs[0]).size() == 4;
  }
  std::string transpose(const std::string& x, const std::vector<int64_t>& perm, const std::string& out, const Node& like,
                        std::vector<Node>& nodes) {
    Node t;
    t.op_type = "Transpose";
    t.name = out;
    t.inputs = {x};
    t.outputs = {out};
    t.prov = like.prov;
    set_attr(t, "perm", perm);
    nodes.push_back(std::move(t));
    return out;
  }
  std::string constant(const std::string& name, Tensor t) {
    m_.graph.initializers[name] = std::move(t);
    return name;
  }

  void convert(Node& n, std::vector<Node>& nodes) {
    const std::string y = n.outputs[0];
    std::string x = transpose(n.inputs[0], kToNhwc, n.inputs[0] + "/nhwc_for_" + n.name, n, nodes);
    if (n.op_type == "Resize") {
      convert_resize(n, x);
    } else if (n.op_type == "BatchNormalization") {
      batchnorm_as_scale_and_shift(n, x, y + "/nhwc", nodes);
      transpose(y + "/nhwc", kToNchw, y, n, nodes);
      return;
    } else {
      if (n.op_type == "Conv") convert_conv_weights(n);
      x = explicit_padding(n, x, nodes);
      set_attr(n, "layout", std::string("NHWC"));
    }
    n.inputs[0] = x;
    n.outputs[0] = y + "/nhwc";
    n.name = n.outputs[0];
    nodes.push_back(n);
    transpose(y + "/nhwc", kToNchw, y, n, nodes);
  }

  void convert_conv_weights(Node& n) {
    auto it = m_.graph.initializers.find(n.inputs[1]);
    if (it == m_.graph.initializers.end()) unsupported(n, "weights computed at run time");
    const Tensor& w = it->second;
    if (w.rank() != 4) unsupported(n, "only 2-D convolutions have a TFLite form");
    const int64_t group = n.attr_int("group", 1), in_channels = shape(n.inputs[0])[1];
    std::string name;
    if (group == 1) {
      name = constant(n.inputs[1] + "/ohwi", permuted(w, {0, 2, 3, 1}));
      set_attr(n, "weight_layout", std::string("OHWI"));
    } else if (group == in_channels && w.dim(1) == 1) {
      name = constant(n.inputs[1] + "/1hwo", permuted(w, {1, 2, 3, 0}));
      set_attr(n, "weight_layout", std::string("1HWO"));
    } else {
      unsupported(n, "grouped convolution (group " + std::to_string(group) + ") other than depthwise");
    }
    n.inputs[1] = name;
    if (!n.has_input(2)) {  // a zero bias: older TFLite runtimes (and Arm NN) expect one
      n.inputs.resize(3);
      n.inputs[2] = constant(n.outputs[0] + "/zero_bias", Tensor(DType::kF32, {w.dim(0)}));
    }
    if (!n.has_attr("kernel_shape")) set_attr(n, "kernel_shape", std::vector<int64_t>{w.dim(2), w.dim(3)});
  }

  // BatchNormalization that follows no Conv (DenseNet normalizes each concatenation): in inference
  // form it is y = x * s + (beta - mean * s) per channel, s = gamma / sqrt(var + eps): a MUL and an
  // ADD by per-channel constants, which broadcast along the last axis of an NHWC tensor.
  void batchnorm_as_scale_and_shift(const Node& n, const std::string& x, const std::string& y, std::vector<Node>& nodes) {
    const int64_t c = shape(n.inputs[0])[1];
    const auto affine = batchnorm_affine(m_.graph, n, c);
    if (!affine) unsupported(n, "statistics that are not float constants of one value per channel");
    Tensor scale(DType::kF32, {c}), shift(DType::kF32, {c});
    for (int64_t i = 0; i < c; ++i) {
      scale.mutable_data<float>()[i] = static_cast<float>(affine->scale[static_cast<size_t>(i)]);
      shift.mutable_data<float>()[i] = static_cast<float>(affine->shift[static_cast<size_t>(i)]);
    }
    Node mul;
    mul.op_type = "Mul";
    mul.name = y + "/scaled";
    mul.prov = n.prov;
    mul.inputs = {x, constant(n.name + "/scale", std::move(scale))};
    mul.outputs = {mul.name};
    Node add;
    add.op_type = "Add";
    add.name = y;
    add.prov = n.prov;
    add.inputs = {mul.name, constant(n.name + "/shift", std::move(shift))};
    add.outputs = {y};
    nodes.push_back(std::move(mul));
    nodes.push_back(std::move(add));
  }

  // ceil_mode rounds the output size up; the windows it adds start inside the input (or its start
  // padding) and run past the end. Extra end padding with -FLT_MAX gives the same windows in floor
  // mode and the same maxima: each added window still holds an input value.
  void ceil_mode_as_end_padding(Node& n) {
    if (n.attr_int("ceil_mode", 0) == 0) return;
    if (n.op_type != "MaxPool") unsupported(n, "ceil_mode has no TFLite form outside MaxPool");
    if (n.attr_string("auto_pad", "NOTSET") != "NOTSET") unsupported(n, "ceil_mode with auto_pad");
    std::vector<int64_t> pads = n.attr_ints("pads", {0, 0, 0, 0});
    const Shape& in = shape(n.inputs[0]);
    const Shape& out = shape(n.outputs[0]);
    const std::vector<int64_t> k = n.attr_ints("kernel_shape"), s = n.attr_ints("strides", {1, 1}),
                               d = n.attr_ints("dilations", {1, 1});
    for (size_t i = 0; i < 2; ++i) {
      const int64_t needed = (out[i + 2] - 1) * s[i] + (k[i] - 1) * d[i] + 1 - (in[i + 2] + pads[i] + pads[i + 2]);
      if (needed > 0) pads[i + 2] += needed;
    }
    set_attr(n, "pads", pads);
    n.attrs.erase("ceil_mode");
  }

  // Pads TFLite's SAME cannot express become a Pad node in front (zeros; -FLT_MAX for MaxPool).
  std::string explicit_padding(Node& n, const std::string& x, std::vector<Node>& nodes) {
    ceil_mode_as_end_padding(n);
    const std::string auto_pad = n.attr_string("auto_pad", "NOTSET");
    if (auto_pad == "SAME_UPPER" || auto_pad == "VALID") return x;
    if (auto_pad != "NOTSET") unsupported(n, "auto_pad " + auto_pad);
    std::vector<int64_t> pads = n.attr_ints("pads", {0, 0, 0, 0});
    n.attrs.erase("pads");
    bool zero = true;
    for (int64_t p : pads) zero = zero && p == 0;
    if (zero) {
      set_attr(n, "auto_pad", std::string("VALID"));
      return x;
    }
    const Shape& in = shape(n.inputs[0]);
    const std::vector<int64_t> k = n.attr_ints("kernel_shape"), s = n.attr_ints("strides", {1, 1}),
                               d = n.attr_ints("dilations", {1, 1});
    if (pads_are_same_upper(pads, {in[2], in[3]}, k, s, d) && n.attr_int("ceil_mode", 0) == 0) {
      set_attr(n, "auto_pad", std::string("SAME_UPPER"));
      return x;
    }
    if (n.op_type == "AveragePool") unsupported(n, "pads other than SAME (TFLite averages over the taps inside)");
    Node pad;
    pad.op_type = "Pad";
    pad.name = n.name + "/pad";
    pad.prov = n.prov;
    const std::string out = x + "/padded";
    std::vector<int64_t> nhwc_pads{0, pads[0], pads[1], 0, 0, pads[2], pads[3], 0};
    pad.inputs = {x, constant(pad.name + "/pads", Tensor::from_vector<int64_t>(nhwc_pads, {8}))};
    if (n.op_type == "MaxPool") pad.inputs.push_back(constant(pad.name + "/value", Tensor::scalar<float>(-std::numeric_limits<float>::max())));
    pad.outputs = {out};
    nodes.push_back(std::move(pad));
    set_attr(n, "auto_pad", std::string("VALID"));
    return out;
  }

  // Resize of H and W only: NHWC sizes from the run's output shape.
  void convert_resize(Node& n, const std::string&) {
    const Shape& x = shape(n.inputs[0]);
    const Shape& y = shape(n.outputs[0]);
    if (x[0] != y[0] || x[1] != y[1]) unsupported(n, "resizes of N or C have no TFLite form");
    const std::string sizes = constant(n.outputs[0] + "/nhwc_sizes", Tensor::from_vector<int64_t>({y[0], y[2], y[3], y[1]}, {4}));
    n.inputs = {n.inputs[0], "", "", sizes};
  }

  Model& m_;
  const Run& run_;
};

bool is_unary_elementwise(const Node& n) {
  static const std::set<std::string> ops{"Relu", "Sigmoid", "Tanh", "LeakyRelu", "HardSwish", "Elu", "Exp", "Abs", "Neg"};
  if (ops.count(n.op_type)) return true;
  return n.op_type == "Clip";  // bounds are scalars (ONNX requires it)
}

// Transpose -> unary element-wise op becomes op -> Transpose (the op does not care about layout).
bool sink_transposes(Graph& g) {
  auto consumers = consumer_counts(g);
  std::unordered_map<std::string, size_t> consumer;
  for (size_t i = 0; i < g.nodes.size(); ++i)
    for (const auto& in : g.nodes[i].inputs) consumer[in] = i;
  for (Node& t : g.nodes) {
    if (t.op_type != "Transpose" || consumers[t.outputs[0]] != 1 || !consumer.count(t.outputs[0])) continue;
    Node& u = g.nodes[consumer[t.outputs[0]]];
    if (!is_unary_elementwise(u) || u.inputs[0] != t.outputs[0]) continue;
    const std::string x = t.inputs[0], y = u.outputs[0], mid = y + "/before_transpose";
    u.inputs[0] = x;
    u.outputs[0] = mid;
    t.inputs[0] = mid;
    t.outputs[0] = y;
    return true;
  }
  return false;
}

// Transpose(p) -> Transpose(q) with q after p the identity: readers of the second read the first's input.
void cancel_transposes(Graph& g) {
  std::unordered_map<std::string, size_t> producer;
  for (size_t i = 0; i < g.nodes.size(); ++i)
    for (const auto& o : g.nodes[i].outputs) producer[o] = i;
  std::set<std::string> graph_outputs;
  for (const auto& o : g.outputs) graph_outputs.insert(o.name);
  std::map<std::string, std::string> alias;
  for (const Node& t2 : g.nodes) {
    if (t2.op_type != "Transpose" || graph_outputs.count(t2.outputs[0])) continue;
    auto p = producer.find(t2.inputs[0]);
    if (p == producer.end()) continue;
    const Node& t1 = g.nodes[p->second];
    if (t1.op_type != "Transpose") continue;
    const auto p1 = t1.attr_ints("perm"), p2 = t2.attr_ints("perm");
    if (p1.size() != p2.size()) continue;
    bool identity = true;
    for (size_t i = 0; i < p1.size(); ++i) identity = identity && p1[static_cast<size_t>(p2[i])] == static_cast<int64_t>(i);
    if (identity) alias[t2.outputs[0]] = t1.inputs[0];
  }
  for (Node& n : g.nodes)
    for (auto& in : n.inputs)
      if (auto it = alias.find(in); it != alias.end()) in = it->second;
  // Drop nodes nothing reads (the cancelled Transposes).
  for (bool changed = true; changed;) {
    changed = false;
    auto consumers = consumer_counts(g);
    std::vector<Node> kept;
    for (Node& n : g.nodes) {
      bool used = false;
      for (const auto& o : n.outputs) used = used || consumers[o] > 0;
      if (used) kept.push_back(std::move(n));
      else changed = true;
    }
    g.nodes = std::move(kept);
  }
}

// NHWC nodes read from TFLite -> ONNX's NCHW: Transpose in, the node without layout attributes and
// with OIHW / [O, 1, KH, KW] / [I, O, KH, KW] weights, Transpose out.
class NchwRewriter {
 public:
  explicit NchwRewriter(Model& m) : m_(m) {}

  void rewrite() {
    std::vector<Node> out;
    for (Node& n : m_.graph.nodes) {
      if (n.domain == kQuantizedDomain)
        throw UnsupportedError("TFLite -> ONNX: node '" + n.name + "' (" + n.op_type +
                               ") computes on quantized integers (TFLite integer kernels have no ONNX form here)", n.op_type);
      if (n.attr_string("layout", "") == "NHWC") convert(n, out);
      else out.push_back(std::move(n));
    }
    m_.graph.nodes = std::move(out);
  }

 private:
  static constexpr const char* kQuantizedDomain = "tflite.quantized";
  std::string original_input_;  // NHWC input of the node being converted

  void transpose(const std::string& x, const std::vector<int64_t>& perm, const std::string& y, const Node& like,
                 std::vector<Node>& nodes) {
    Node t;
    t.op_type = "Transpose";
    t.name = y;
    t.inputs = {x};
    t.outputs = {y};
    t.prov = like.prov;
    set_attr(t, "perm", perm);
    nodes.push_back(std::move(t));
  }

  // Weights in ONNX's layout: a permuted copy of a float constant, else a Transpose node.
  std::string weights(const Node& n, const std::string& w, const std::vector<int64_t>& perm, std::vector<Node>& nodes) {
    auto it = m_.graph.initializers.find(w);
    const std::string name = w + "/onnx_layout";
    if (m_.graph.initializers.count(name)) return name;
    if (it != m_.graph.initializers.end() && it->second.dtype() == DType::kF32) {
      m_.graph.initializers[name] = permuted(it->second, perm);
      return name;
    }
    transpose(w, perm, name + "_" + n.name, n, nodes);
    return name + "_" + n.name;
  }

  // SAME_UPPER as explicit pads (ONNX Runtime rejects auto_pad with dilations), from the NHWC
  // input shape the TFLite file states.
  void explicit_same_pads(Node& n) {
    if (n.op_type == "ConvTranspose" || n.attr_string("auto_pad", "") != "SAME_UPPER") return;
    const ValueInfo* x = m_.graph.find_value_info(original_input_);
    if (!x || x->shape.size() != 4) return;
    const std::vector<int64_t> k = n.attr_ints("kernel_shape"), s = n.attr_ints("strides", {1, 1}),
                               d = n.attr_ints("dilations", {1, 1});
    if (k.size() != 2) return;
    std::vector<int64_t> pads(4);
    for (size_t i = 0; i < 2; ++i) {
      const int64_t in = x->shape[i + 1], out = (in + s[i] - 1) / s[i];
      const int64_t total = std::max<int64_t>(0, (out - 1) * s[i] + (k[i] - 1) * d[i] + 1 - in);
      pads[i] = total / 2;
      pads[i + 2] = total - total / 2;
    }
    n.attrs.erase("auto_pad");
    set_attr(n, "pads", pads);
  }

  void convert(Node& n, std::vector<Node>& nodes) {
    const std::string y = n.outputs[0];
    original_input_ = n.inputs[0];
    transpose(n.inputs[0], kToNchw, n.inputs[0] + "/nchw_for_" + n.name, n, nodes);
    n.inputs[0] = n.inputs[0] + "/nchw_for_" + n.name;
    const std::string wl = n.attr_string("weight_layout", "");
    if (n.op_type == "Conv" && wl == "OHWI") n.inputs[1] = weights(n, n.inputs[1], {0, 3, 1, 2}, nodes);
    else if (n.op_type == "Conv" && wl == "1HWO") n.inputs[1] = weights(n, n.inputs[1], {3, 0, 1, 2}, nodes);
    else if (n.op_type == "ConvTranspose" && wl == "OHWI") n.inputs[1] = weights(n, n.inputs[1], {3, 0, 1, 2}, nodes);
    else if (!wl.empty()) unsupported(n, "weight_layout " + wl);
    explicit_same_pads(n);
    n.attrs.erase("layout");
    n.attrs.erase("weight_layout");
    n.outputs[0] = y + "/nchw";
    n.name = n.outputs[0];
    nodes.push_back(n);
    transpose(y + "/nchw", kToNhwc, y, n, nodes);
  }

  Model& m_;
};

// NHWC convolutions and poolings given explicit pads (a repair restoring the source's pads, say):
// TFLite's SAME when the pads are SAME_UPPER's, else a Pad node in front (zeros; -FLT_MAX for
// MaxPool) and VALID. Returns whether anything changed.
bool legalize_nhwc_pads(Model& m, const Run& run) {
  bool changed = false;
  std::vector<Node> out;
  for (Node& n : m.graph.nodes) {
    const bool spatial = n.op_type == "Conv" || n.op_type == "MaxPool" || n.op_type == "AveragePool";
    const std::vector<int64_t> pads = n.attr_ints("pads");
    if (!spatial || n.attr_string("layout", "NCHW") != "NHWC" || pads.size() != 4 ||
        n.attr_string("auto_pad", "NOTSET") != "NOTSET") {
      out.push_back(std::move(n));
      continue;
    }
    changed = true;
    n.attrs.erase("pads");
    const Shape& in = run.values.at(n.inputs[0]).shape();
    std::vector<int64_t> k = n.attr_ints("kernel_shape");
    if (k.empty() && n.op_type == "Conv") {  // OHWI / 1HWO: H and W are axes 1 and 2
      const Shape& w = m.graph.initializers.at(n.inputs[1]).shape();
      k = {w[1], w[2]};
    }
    const std::vector<int64_t> s = n.attr_ints("strides", {1, 1}), d = n.attr_ints("dilations", {1, 1});
    bool zero = true;
    for (int64_t p : pads) zero = zero && p == 0;
    if (zero || pads_are_same_upper(pads, {in[1], in[2]}, k, s, d)) {
      set_attr(n, "auto_pad", std::string(zero ? "VALID" : "SAME_UPPER"));
      out.push_back(std::move(n));
      continue;
    }
    if (n.op_type == "AveragePool") unsupported(n, "pads other than SAME (TFLite averages over the taps inside)");
    Node pad;
    pad.op_type = "Pad";
    pad.name = n.name + "/pad";
    pad.prov = {"onnx", "Pad", pad.name, -1};
    const std::string padded = m.graph.unused_name(n.inputs[0] + "/padded_for_" + n.name);
    const std::string pads_name = m.graph.unused_name(pad.name + "/pads");
    m.graph.initializers[pads_name] = Tensor::from_vector<int64_t>({0, pads[0], pads[1], 0, 0, pads[2], pads[3], 0}, {8});
    pad.inputs = {n.inputs[0], pads_name};
    if (n.op_type == "MaxPool") {
      const std::string value = m.graph.unused_name(pad.name + "/value");
      m.graph.initializers[value] = Tensor::scalar<float>(-std::numeric_limits<float>::max());
      pad.inputs.push_back(value);
    }
    pad.outputs = {padded};
    n.inputs[0] = padded;
    set_attr(n, "auto_pad", std::string("VALID"));
    out.push_back(std::move(pad));
    out.push_back(std::move(n));
  }
  m.graph.nodes = std::move(out);
  return changed;
}

bool needs_legalizing(const Model& m) {
  for (const Node& n : m.graph.nodes) {
    const bool spatial = n.op_type == "Conv" || n.op_type == "MaxPool" || n.op_type == "AveragePool" ||
                         n.op_type == "BatchNormalization" || n.op_type == "Constant";
    if (spatial && (n.attr_string("layout", "NCHW") != "NHWC" || n.attr_string("auto_pad", "NOTSET") == "NOTSET")) return true;
  }
  return false;
}

}  // namespace

Model legalize_for_tflite(const Model& model) {
  if (!needs_legalizing(model)) return model;
  Model m = model;
  fold_constants(m, run_once(m));
  fold_batchnorm(m);
  NhwcRewriter(m, run_once(m)).rewrite();
  legalize_nhwc_pads(m, run_once(m));
  while (sink_transposes(m.graph)) {
  }
  cancel_transposes(m.graph);
  // Types recorded before may describe values the rewrite re-laid out; the writer asks the interpreter
  // for those. Quantized values keep theirs: their scale and zero point are not recomputed (and the
  // rewrite only touches float ops).
  std::erase_if(m.graph.value_info, [](const auto& kv) { return !kv.second.quant; });
  return m;
}

Model prepare_for_onnx(const Model& model) {
  Model m = model;
  NchwRewriter(m).rewrite();
  while (sink_transposes(m.graph)) {
  }
  cancel_transposes(m.graph);
  return m;
}

Model prepare_for_tflite(const Model& model) {
  Model m = model;
  fix_dynamic_dims(m);
  fold_constants(m, run_once(m));
  fold_batchnorm(m);
  NhwcRewriter(m, run_once(m)).rewrite();
  while (sink_transposes(m.graph)) {
  }
  cancel_transposes(m.graph);
  // value_info from the source describes NCHW values that may now be NHWC or gone: the writer
  // asks the interpreter for shapes it does not find.
  m.graph.value_info.clear();
  return m;
}

}  // namespace transfix
