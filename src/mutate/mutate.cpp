#include "mutate/mutate.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <map>
#include <numeric>
#include <optional>
#include <random>

#include "core/tensor_math.h"
#include "core/errors.h"
#include "core/format.h"
#include "runtime/interpreter.h"

namespace transfix {

const std::vector<MutationKind>& mutation_kinds() {
  static const std::vector<MutationKind> kinds = {
      {"input-layout", "input", "the model reads its NCHW input as if it were NHWC (Reshape + Transpose at the input)"},
      {"input-normalization", "input", "a normalization (x - 0.45) / 0.225 inserted at the input"},
      {"channel-order", "input", "the first convolution reads its input channels reversed (RGB <-> BGR)"},
      {"weights-fp16", "parameters", "a convolution's weights rounded to float16"},
      {"weights-int8", "parameters", "a convolution's weights rounded to an 8-bit grid, no quantization metadata"},
      {"weights-transposed", "parameters", "a convolution's kernel transposed (H <-> W)"},
      {"channel-permutation", "parameters", "a convolution's output channels permuted (weights and bias)"},
      {"bias-dropped", "parameters", "a convolution's bias removed"},
      {"bn-folded-twice", "parameters", "a convolution's output channels rescaled as by a second BatchNorm fold"},
      {"epsilon", "hyperparameters", "a normalization's epsilon multiplied by 1000"},
      {"pads", "hyperparameters", "a convolution's symmetric pads moved to the end ([p,p,p,p] -> [0,0,2p,2p])"},
      {"same-padding", "hyperparameters", "a stride-2 convolution's explicit pads replaced by SAME_UPPER"},
      {"stride", "hyperparameters", "a stride-1 convolution given stride 2"},
      {"dilation", "hyperparameters", "a 3x3 convolution given dilation 2 (and pads 2, same output shape)"},
      {"ceil-mode", "hyperparameters", "a pooling's ceil_mode flipped"},
      {"resize-coordinate-mode", "hyperparameters", "a Resize's coordinate_transformation_mode changed"},
      {"nearest-mode", "hyperparameters", "a nearest Resize's nearest_mode changed"},
      {"activation-swapped", "hyperparameters", "ReLU6 (Clip 0..6) turned into ReLU, or ReLU into ReLU6"},
      {"activation-dropped", "graph", "an activation removed"},
      {"operand-swap", "graph", "the operands of a Sub or Div swapped"},
      {"concat-axis", "hyperparameters", "a Concat's axis changed"},
      {"transpose-perm", "hyperparameters", "a Transpose's permutation changed"},
  };
  return kinds;
}

namespace {

const MutationKind& find_kind(const std::string& name) {
  for (const auto& k : mutation_kinds())
    if (k.name == name) return k;
  std::string all;
  for (const auto& k : mutation_kinds()) all += (all.empty() ? "" : ", ") + k.name;
  throw InputError("unknown fault kind '" + name + "' (kinds: " + all + ")");
}

Tensor* initializer(Model& m, const Node& n, size_t input) {
  if (!n.has_input(input)) return nullptr;
  auto it = m.graph.initializers.find(n.inputs[input]);
  return it == m.graph.initializers.end() ? nullptr : &it->second;
}

const Tensor* initializer(const Model& m, const Node& n, size_t input) {
  return initializer(const_cast<Model&>(m), n, input);
}

bool float_weight(const Model& m, const Node& n) {
  const Tensor* w = initializer(m, n, 1);
  return n.op_type == "Conv" && w && w->dtype() == DType::kF32 && w->rank() == 4;
}

// An integer-quantized convolution (a TFLite int8/uint8 model): weight faults apply to its real values.
bool quantized_weight(const Model& m, const Node& n) {
  const Tensor* w = initializer(m, n, 1);
  return n.op_type == "Conv" && w && is_integer(w->dtype()) && w->quant() && !w->quant()->scale.empty() && w->rank() == 4;
}

bool real_weight(const Model& m, const Node& n) { return float_weight(m, n) || quantized_weight(m, n); }

std::vector<int64_t> ints(const Node& n, const char* key, size_t count, int64_t def) {
  return n.attr_ints(key, std::vector<int64_t>(count, def));
}

// TFLite-shaped IR keeps convolution weights as OHWI (CONV_2D) or 1HWO (DEPTHWISE_CONV_2D): weight
// faults are applied in [out, in, kh, kw] and the result is put back in the node's own layout.
std::vector<int64_t> to_oihw_perm(const Node& n) {
  const std::string layout = n.attr_string("weight_layout", "OIHW");
  if (layout == "OHWI") return {0, 3, 1, 2};
  if (layout == "1HWO") return {3, 0, 1, 2};
  return {};
}

std::vector<int64_t> inverse(const std::vector<int64_t>& perm) {
  std::vector<int64_t> inv(perm.size());
  for (size_t i = 0; i < perm.size(); ++i) inv[static_cast<size_t>(perm[i])] = static_cast<int64_t>(i);
  return inv;
}

// Dimension `axis` of the weights in [out, in, kh, kw] order, whatever their layout.
int64_t oihw_dim(const Model& m, const Node& n, size_t axis) {
  const auto perm = to_oihw_perm(n);
  return initializer(m, n, 1)->dim(perm.empty() ? static_cast<int64_t>(axis) : perm[axis]);
}

bool nhwc(const Node& n) { return n.attr_string("layout", "NCHW") == "NHWC"; }

// SAME padding of an odd square kernel at stride 1 pads (k-1)/2 x dilation on every side: the NHWC
// form of symmetric pads. 0 when it is not that.
int64_t same_symmetric_pad(const Model& m, const Node& n) {
  if (!nhwc(n) || n.attr_string("auto_pad", "NOTSET") != "SAME_UPPER") return 0;
  if (ints(n, "strides", 2, 1) != std::vector<int64_t>{1, 1}) return 0;
  const int64_t k = oihw_dim(m, n, 2), d = ints(n, "dilations", 2, 1)[0];
  if (k != oihw_dim(m, n, 3) || k % 2 == 0 || ints(n, "dilations", 2, 1)[1] != d) return 0;
  return (k - 1) / 2 * d;
}

int producer_of(const Model& m, const std::string& value) { return m.graph.producer_index(value); }

// The NHWC conversion of explicit pads: a zero Pad of H and W by p on every side, read by this
// convolution alone (VALID). Its node index, or -1.
int symmetric_pad_node(const Model& m, const Node& n, int64_t p) {
  if (!nhwc(n) || n.attr_string("auto_pad", "NOTSET") != "VALID" || n.inputs.empty()) return -1;
  const int i = producer_of(m, n.inputs[0]);
  if (i < 0) return -1;
  const Node& pad = m.graph.nodes[static_cast<size_t>(i)];
  if (pad.op_type != "Pad" || pad.attr_string("mode", "constant") != "constant" || pad.has_input(2)) return -1;
  if (m.graph.reader_count(pad.outputs[0]) != 1) return -1;
  const Tensor* pads = initializer(m, pad, 1);
  if (!pads || pads->numel() != 8) return -1;
  return pads->to_i64_vector() == std::vector<int64_t>{0, p, p, 0, 0, p, p, 0} ? i : -1;
}

bool symmetric_padded(const Node& n) {
  if (n.attr_string("auto_pad", "NOTSET") != "NOTSET") return false;
  auto p = ints(n, "pads", 4, 0);
  return p.size() == 4 && p[0] > 0 && p[0] == p[1] && p[1] == p[2] && p[2] == p[3];
}

int64_t kernel_h(const Model& m, const Node& n) { return oihw_dim(m, n, 2); }
int64_t kernel_w(const Model& m, const Node& n) { return oihw_dim(m, n, 3); }

// The convolution reading the graph input (through the layout Transpose and Pad an NHWC conversion
// puts there: neither changes the order of the channels).
bool first_conv_on_input(const Model& m, const Node& n) {
  if (!float_weight(m, n) || n.inputs.empty()) return false;
  std::string x = n.inputs[0];
  for (int p = producer_of(m, x); p >= 0; p = producer_of(m, x)) {
    const Node& before = m.graph.nodes[static_cast<size_t>(p)];
    if (before.op_type != "Transpose" && before.op_type != "Pad") break;
    x = before.inputs.at(0);
  }
  for (const auto& in : m.graph.inputs)
    if (in.name == x && !m.graph.initializers.count(in.name)) return oihw_dim(m, n, 1) > 1;
  return false;
}

// A bias of zeros (TFLite conversions add one where the source has none): dropping it changes nothing.
bool nonzero_bias(const Model& m, const Node& n) {
  const Tensor* b = initializer(m, n, 2);
  if (!b) return false;
  for (double v : b->to_f64_vector())
    if (v != 0) return true;
  return false;
}

// Flipping ceil_mode changes a pooling only when the window does not tile the input exactly.
bool ceil_mode_matters(const Model& m, const Node& n) {
  const ValueInfo* in = m.graph.find_value_info(n.inputs.at(0));
  const auto k = n.attr_ints("kernel_shape");
  if (!in || !in->has_shape || in->shape.size() != k.size() + 2) return false;
  const auto s = ints(n, "strides", k.size(), 1);
  const auto p = ints(n, "pads", 2 * k.size(), 0);
  for (size_t i = 0; i < k.size(); ++i) {
    const int64_t span = in->shape[i + 2] + p[i] + p[i + k.size()] - k[i];
    if (span >= 0 && span % s[i] != 0) return true;
  }
  return false;
}

bool applies(const Model& m, const Node& n, const std::string& kind) {
  const std::string& op = n.op_type;
  if (kind == "channel-order") return first_conv_on_input(m, n);
  if (kind == "weights-fp16" || kind == "weights-int8") return float_weight(m, n);
  if (kind == "bn-folded-twice") return real_weight(m, n);
  if (kind == "weights-transposed") return real_weight(m, n) && kernel_h(m, n) == kernel_w(m, n) && kernel_h(m, n) > 1;
  if (kind == "channel-permutation") return real_weight(m, n) && oihw_dim(m, n, 0) > 1;
  if (kind == "bias-dropped") return real_weight(m, n) && initializer(m, n, 2) != nullptr && (!nhwc(n) || nonzero_bias(m, n));
  if (kind == "epsilon") return op == "BatchNormalization" || op == "InstanceNormalization" || op == "LayerNormalization";
  if (kind == "pads") return float_weight(m, n) && (symmetric_padded(n) || same_symmetric_pad(m, n) > 0);
  const bool stride2_k3 = ints(n, "strides", 2, 1) == std::vector<int64_t>{2, 2} && float_weight(m, n) && kernel_h(m, n) == 3;
  if (kind == "same-padding") return stride2_k3 && (symmetric_padded(n) || symmetric_pad_node(m, n, 1) >= 0);
  // Stride and dilation are attributes of integer convolutions too.
  if (kind == "stride") return real_weight(m, n) && ints(n, "strides", 2, 1) == std::vector<int64_t>{1, 1} && kernel_h(m, n) > 1;
  if (kind == "dilation")
    return real_weight(m, n) && kernel_h(m, n) == 3 && kernel_w(m, n) == 3 &&
           ((symmetric_padded(n) && ints(n, "pads", 4, 0)[0] == 1) || same_symmetric_pad(m, n) == 1) &&
           ints(n, "strides", 2, 1) == std::vector<int64_t>{1, 1} && ints(n, "dilations", 2, 1) == std::vector<int64_t>{1, 1};
  // TFLite has no ceil_mode: an NHWC pooling cannot carry the fault.
  if (kind == "ceil-mode") return (op == "MaxPool" || op == "AveragePool") && !nhwc(n) && ceil_mode_matters(m, n);
  if (kind == "resize-coordinate-mode") return op == "Resize" && n.attr_string("mode", "nearest") != "nearest";
  if (kind == "nearest-mode") return op == "Resize" && n.attr_string("mode", "nearest") == "nearest";
  if (kind == "activation-swapped" || kind == "activation-dropped") return op == "Relu" || op == "Clip";
  if (kind == "operand-swap") {
    const ValueInfo* out = m.graph.find_value_info(n.outputs[0]);
    return (op == "Sub" || op == "Div") && out && is_float(out->dtype);
  }
  if (kind == "concat-axis") return op == "Concat";
  if (kind == "transpose-perm") return op == "Transpose" && n.attr_ints("perm").size() >= 3;
  return false;
}


// Every consumer of `from` (and graph outputs) reads `to` instead, except the node `except`.
void rewire(Model& m, const std::string& from, const std::string& to, const Node* except) {
  for (auto& n : m.graph.nodes) {
    if (&n == except) continue;
    for (auto& in : n.inputs)
      if (in == from) in = to;
  }
  for (auto& o : m.graph.outputs)
    if (o.name == from) o.name = to;
}

Node new_node(const std::string& op, const std::string& name, std::vector<std::string> in, std::vector<std::string> out) {
  Node n;
  n.op_type = op;
  n.name = name;
  n.inputs = std::move(in);
  n.outputs = std::move(out);
  n.prov = {"onnx", op, name, -1};
  return n;
}

std::string input_site(const Model& m) {
  for (const auto& in : m.graph.inputs)
    if (!m.graph.initializers.count(in.name) && in.shape.size() == 4) return in.name;
  throw InputError("the model has no rank-4 input to mutate");
}

// Inserts nodes after the graph input; returns the name of the first inserted node.
std::string mutate_input(Model& m, const std::string& kind, std::string& detail) {
  const std::string x = input_site(m);
  const ValueInfo* info = m.graph.find_value_info(x);
  const Shape s = info->shape;
  std::vector<Node> added;
  std::string last;
  if (kind == "input-layout") {
    check_input(s[0] > 0 && s[1] > 0 && s[2] > 0 && s[3] > 0, "input-layout needs a static input shape");
    const std::string shape_name = m.graph.unused_name(x + "_nhwc_shape");
    m.graph.initializers[shape_name] = Tensor::from_vector<int64_t>({s[0], s[2], s[3], s[1]}, {4});
    const std::string r = m.graph.unused_name(x + "_as_nhwc"), t = m.graph.unused_name(x + "_to_nchw");
    added.push_back(new_node("Reshape", "mutate/input_reshape", {x, shape_name}, {r}));
    added.push_back(new_node("Transpose", "mutate/input_transpose", {r}, {t}));
    set_attr(added.back(), "perm", {0, 3, 1, 2});
    last = t;
    detail = "input reshaped to " + shape_str({s[0], s[2], s[3], s[1]}) + " and transposed back to NCHW";
  } else {
    check_input(is_float(info->dtype), "fault kind 'input-normalization' does not apply to this model (its input '" + x +
                                           "' is " + std::string(dtype_name(info->dtype)) + ", the fault inserts float ops)");
    const std::string mean = m.graph.unused_name(x + "_mean"), std_ = m.graph.unused_name(x + "_std");
    m.graph.initializers[mean] = Tensor::scalar<float>(0.45f);
    m.graph.initializers[std_] = Tensor::scalar<float>(0.225f);
    const std::string a = m.graph.unused_name(x + "_centered"), b = m.graph.unused_name(x + "_normalized");
    added.push_back(new_node("Sub", "mutate/input_sub", {x, mean}, {a}));
    added.push_back(new_node("Div", "mutate/input_div", {a, std_}, {b}));
    last = b;
    detail = "input normalized as (x - 0.45) / 0.225 inside the model";
  }
  for (auto& n : m.graph.nodes)
    for (auto& in : n.inputs)
      if (in == x) in = last;
  // A TFLite reader names each node by its output tensor: so does the mutant, to be found in the file.
  if (m.meta.format == "tflite")
    for (auto& n : added) n.name = n.outputs[0];
  std::string first = added.front().name;
  m.graph.nodes.insert(m.graph.nodes.begin(), added.begin(), added.end());
  return first;
}

Tensor map_floats(const Tensor& w, const std::function<float(float)>& f) {
  Tensor out = w.clone();
  float* v = out.mutable_data<float>();
  for (int64_t i = 0; i < out.numel(); ++i) v[i] = f(v[i]);
  return out;
}

bool weight_kind(const std::string& kind) {
  return kind == "weights-fp16" || kind == "weights-int8" || kind == "weights-transposed" || kind == "channel-order" ||
         kind == "channel-permutation" || kind == "bn-folded-twice";
}

std::string mutate_node(Model& m, Node& n, const std::string& kind, std::mt19937_64& rng);

// A weight fault on OHWI / 1HWO weights: applied in OIHW, then put back in the node's layout.
std::string mutate_weights_in_layout(Model& m, Node& n, const std::string& kind, std::mt19937_64& rng) {
  const auto perm = to_oihw_perm(n);
  Tensor* w = initializer(m, n, 1);
  Node as_oihw = n;
  as_oihw.attrs.erase("weight_layout");
  *w = permute(*w, perm);
  const std::string detail = mutate_node(m, as_oihw, kind, rng);
  *w = permute(*w, inverse(perm));
  return detail;
}

// A zero Pad node in front of NHWC node `at` (H and W: `begin` before, `end` after); returns its output.
std::string insert_pad(Model& m, size_t at, int64_t begin, int64_t end) {
  Node& conv = m.graph.nodes[at];
  const std::string x = conv.inputs[0];
  const std::string pads = m.graph.unused_name(conv.name + "/mutate_pads");
  m.graph.initializers[pads] = Tensor::from_vector<int64_t>({0, begin, begin, 0, 0, end, end, 0}, {8});
  const std::string out = m.graph.unused_name(x + "/mutate_padded");
  conv.inputs[0] = out;
  m.graph.nodes.insert(m.graph.nodes.begin() + static_cast<std::ptrdiff_t>(at), new_node("Pad", out, {x, pads}, {out}));
  return out;
}

// Padding faults on NHWC convolutions change the graph: SAME (symmetric at stride 1) becomes a Pad
// of 2p at the end + VALID; a Pad node + VALID stride-2 convolution becomes SAME (no Pad).
std::string mutate_nhwc_padding(Model& m, size_t at, const std::string& kind) {
  Node& n = m.graph.nodes[at];
  if (kind == "pads") {
    const int64_t p = same_symmetric_pad(m, n);
    n.attrs["auto_pad"] = Attribute{std::string("VALID")};
    insert_pad(m, at, 0, 2 * p);
    return "SAME (pads [p,p,p,p]) -> a Pad of [0,0,2p,2p] and VALID, p = " + std::to_string(p);
  }
  const int pad = symmetric_pad_node(m, n, 1);
  n.inputs[0] = m.graph.nodes[static_cast<size_t>(pad)].inputs[0];
  n.attrs["auto_pad"] = Attribute{std::string("SAME_UPPER")};
  m.graph.nodes.erase(m.graph.nodes.begin() + pad);
  return "explicit pads [1,1,1,1] (a Pad node) -> SAME";
}

// A weight or bias fault on a quantized convolution: applied to the real values, which then go back
// on the tensors' own grids (same scales and zero points), as a faulty quantizing converter would
// have written them.
std::string mutate_quantized_weights(Model& m, Node& n, const std::string& kind, std::mt19937_64& rng) {
  const Tensor qw = *initializer(m, n, 1);
  const Tensor* b = initializer(m, n, 2);
  const std::optional<Tensor> qb = b && b->quant() ? std::optional<Tensor>(*b) : std::nullopt;
  const std::string bias_name = qb ? n.inputs[2] : std::string();
  *initializer(m, n, 1) = real_f64(qw).cast(DType::kF32);
  if (qb) *initializer(m, n, 2) = real_f64(*qb).cast(DType::kF32);
  const std::string detail = mutate_node(m, n, kind, rng);
  Tensor* w = initializer(m, n, 1);
  *w = quantize_real(*w, *qw.quant(), qw.dtype());
  if (qb)  // the bias the node reads now, and the original one if a fault replaced it
    for (const std::string& name : {n.has_input(2) ? n.inputs[2] : std::string(), bias_name})
      if (auto it = m.graph.initializers.find(name); it != m.graph.initializers.end() && it->second.dtype() == DType::kF32)
        it->second = quantize_real(it->second, *qb->quant(), qb->dtype());
  return detail + " (requantized with the tensors' own scales)";
}

// Applies `kind` to node `n`; returns what changed.
std::string mutate_node(Model& m, Node& n, const std::string& kind, std::mt19937_64& rng) {
  if ((weight_kind(kind) || kind == "bias-dropped") && quantized_weight(m, n)) return mutate_quantized_weights(m, n, kind, rng);
  if (weight_kind(kind) && !to_oihw_perm(n).empty()) return mutate_weights_in_layout(m, n, kind, rng);
  Tensor* w = initializer(m, n, 1);
  if (kind == "weights-fp16") {
    *w = w->cast(DType::kF16).cast(DType::kF32);
    return "weights " + n.inputs[1] + " rounded to float16";
  }
  if (kind == "weights-int8") {
    float amax = 0;
    for (int64_t i = 0; i < w->numel(); ++i) amax = std::max(amax, std::fabs(w->data<float>()[i]));
    const float scale = amax > 0 ? amax / 127.0f : 1.0f;
    *w = map_floats(*w, [&](float v) { return std::nearbyint(v / scale) * scale; });
    return "weights " + n.inputs[1] + " rounded to multiples of " + std::to_string(scale);
  }
  if (kind == "weights-transposed") {
    Tensor t = w->clone();
    const int64_t o = w->dim(0), i = w->dim(1), k = w->dim(2);
    const float* src = w->data<float>();
    float* dst = t.mutable_data<float>();
    for (int64_t a = 0; a < o * i; ++a)
      for (int64_t y = 0; y < k; ++y)
        for (int64_t x = 0; x < k; ++x) dst[(a * k + y) * k + x] = src[(a * k + x) * k + y];
    *w = t;
    return "kernel of " + n.inputs[1] + " transposed";
  }
  if (kind == "channel-order") {
    Tensor t = w->clone();
    const int64_t o = w->dim(0), c = w->dim(1), k = w->dim(2) * w->dim(3);
    for (int64_t a = 0; a < o; ++a)
      for (int64_t ch = 0; ch < c; ++ch)
        std::copy_n(w->data<float>() + (a * c + ch) * k, k, t.mutable_data<float>() + (a * c + (c - 1 - ch)) * k);
    *w = t;
    return "input channels of " + n.inputs[1] + " reversed";
  }
  if (kind == "channel-permutation" || kind == "bn-folded-twice") {
    const int64_t o = w->dim(0), per = w->numel() / o;
    Tensor* b = initializer(m, n, 2);
    Tensor nw = w->clone();
    Tensor nb = b ? b->clone() : Tensor{};
    if (kind == "channel-permutation") {
      std::vector<int64_t> perm(static_cast<size_t>(o));
      std::iota(perm.begin(), perm.end(), 0);
      while (std::is_sorted(perm.begin(), perm.end())) std::shuffle(perm.begin(), perm.end(), rng);
      for (int64_t a = 0; a < o; ++a) {
        std::copy_n(w->data<float>() + perm[static_cast<size_t>(a)] * per, per, nw.mutable_data<float>() + a * per);
        if (b) nb.mutable_data<float>()[a] = b->data<float>()[perm[static_cast<size_t>(a)]];
      }
      *w = nw;
      if (b) *b = nb;
      return "output channels of " + n.inputs[1] + " permuted";
    }
    std::uniform_real_distribution<float> factor(0.6f, 1.4f);
    for (int64_t a = 0; a < o; ++a) {
      const float f = factor(rng);
      for (int64_t j = 0; j < per; ++j) nw.mutable_data<float>()[a * per + j] *= f;
      if (b) nb.mutable_data<float>()[a] *= f;
    }
    *w = nw;
    if (b) *b = nb;
    return "output channels of " + n.inputs[1] + " rescaled by factors in [0.6, 1.4]";
  }
  if (kind == "bias-dropped" && nhwc(n)) {
    // TFLite convolutions carry a bias (older runtimes and Arm NN expect one): zeros stand for none.
    const std::string bias = n.inputs[2];
    const std::string zeros = m.graph.unused_name(bias + "/dropped");
    m.graph.initializers[zeros] = Tensor(DType::kF32, m.graph.initializers.at(bias).shape());
    n.inputs[2] = zeros;
    return "bias " + bias + " replaced by zeros";
  }
  if (kind == "bias-dropped") {
    const std::string bias = n.inputs[2];
    n.inputs.resize(2);
    return "bias " + bias + " removed";
  }
  if (kind == "epsilon") {
    const double eps = n.attr_float("epsilon", 1e-5);
    n.attrs["epsilon"] = Attribute{eps * 1000};
    return "epsilon " + std::to_string(eps) + " -> " + std::to_string(eps * 1000);
  }
  if (kind == "pads") {
    const int64_t p = ints(n, "pads", 4, 0)[0];
    set_attr(n, "pads", {0, 0, 2 * p, 2 * p});
    return "pads [p,p,p,p] -> [0,0,2p,2p], p = " + std::to_string(p);
  }
  if (kind == "same-padding") {
    n.attrs.erase("pads");
    n.attrs["auto_pad"] = Attribute{std::string("SAME_UPPER")};
    return "explicit pads [1,1,1,1] -> auto_pad SAME_UPPER";
  }
  if (kind == "stride") {
    set_attr(n, "strides", {2, 2});
    return "strides [1,1] -> [2,2]";
  }
  if (kind == "dilation" && nhwc(n)) {  // SAME pads 2 x dilation: the output keeps its shape
    set_attr(n, "dilations", {2, 2});
    return "dilations [1,1] -> [2,2] (SAME padding)";
  }
  if (kind == "dilation") {
    set_attr(n, "dilations", {2, 2});
    set_attr(n, "pads", {2, 2, 2, 2});
    return "dilations [1,1] -> [2,2], pads [1,1,1,1] -> [2,2,2,2]";
  }
  if (kind == "ceil-mode") {
    const int64_t c = n.attr_int("ceil_mode", 0);
    n.attrs["ceil_mode"] = Attribute{int64_t{1 - c}};
    return "ceil_mode " + std::to_string(c) + " -> " + std::to_string(1 - c);
  }
  if (kind == "resize-coordinate-mode") {
    const std::string old = n.attr_string("coordinate_transformation_mode", "half_pixel");
    const std::string nu = old == "asymmetric" ? "half_pixel" : "asymmetric";
    n.attrs["coordinate_transformation_mode"] = Attribute{nu};
    return "coordinate_transformation_mode " + old + " -> " + nu;
  }
  if (kind == "nearest-mode") {
    const std::string old = n.attr_string("nearest_mode", "round_prefer_floor");
    const std::string nu = old == "floor" ? "ceil" : "floor";
    n.attrs["nearest_mode"] = Attribute{nu};
    return "nearest_mode " + old + " -> " + nu;
  }
  if (kind == "activation-swapped") {
    if (n.op_type == "Clip") {
      n.op_type = "Relu";
      n.inputs.resize(1);
      n.attrs.clear();
      return "Clip(0, 6) -> Relu";
    }
    n.op_type = "Clip";
    if (m.opset() >= 11) {
      const std::string lo = m.graph.unused_name(n.name + "_min"), hi = m.graph.unused_name(n.name + "_max");
      m.graph.initializers[lo] = Tensor::scalar<float>(0.0f);
      m.graph.initializers[hi] = Tensor::scalar<float>(6.0f);
      n.inputs = {n.inputs[0], lo, hi};
    } else {
      n.attrs["min"] = Attribute{0.0};
      n.attrs["max"] = Attribute{6.0};
    }
    return "Relu -> Clip(0, 6)";
  }
  if (kind == "operand-swap") {
    std::swap(n.inputs[0], n.inputs[1]);
    return "operands of " + n.op_type + " swapped";
  }
  if (kind == "concat-axis") {
    const int64_t axis = n.attr_int("axis", 0);
    const ValueInfo* out = m.graph.find_value_info(n.outputs[0]);
    const int64_t rank = out && out->has_shape ? static_cast<int64_t>(out->shape.size()) : 4;
    const int64_t pos = axis < 0 ? axis + rank : axis;
    const int64_t nu = pos == rank - 1 ? pos - 1 : pos + 1;
    n.attrs["axis"] = Attribute{nu};
    return "axis " + std::to_string(axis) + " -> " + std::to_string(nu);
  }
  if (kind == "transpose-perm") {
    auto perm = n.attr_ints("perm");
    const std::vector<int64_t> old = perm;
    std::swap(perm[perm.size() - 1], perm[perm.size() - 2]);
    set_attr(n, "perm", perm);
    return "perm " + format_ints(old) + " -> " + format_ints(perm);
  }
  throw InputError("fault kind '" + kind + "' cannot be applied to node '" + n.name + "'");
}

}  // namespace

std::vector<std::string> mutation_sites(const Model& m, const std::string& kind) {
  find_kind(kind);
  std::vector<std::string> sites;
  if (kind == "input-layout" || kind == "input-normalization") {
    for (const auto& in : m.graph.inputs)
      if (!m.graph.initializers.count(in.name) && in.shape.size() == 4) return {in.name};
    return {};
  }
  for (const auto& n : m.graph.nodes)
    if (applies(m, n, kind)) sites.push_back(n.name);
  return sites;
}

namespace {

bool shape_changing(const std::string& kind) {
  return kind == "stride" || kind == "ceil-mode" || kind == "concat-axis" || kind == "transpose-perm";
}

// Applies `kind` at node `name` of `m`, filling in r's node, op type and detail.
Mutation apply_at(Model& m, const std::string& name, const std::string& kind, std::mt19937_64& rng, Mutation r) {
  for (auto& n : m.graph.nodes) {
    if (n.name != name) continue;
    r.node = n.name, r.op_type = n.op_type;
    if (kind == "activation-dropped") {
      const std::string in = n.inputs[0], out = n.outputs[0];
      r.detail = n.op_type + " removed";
      const Node* self = &n;
      rewire(m, out, in, self);
      m.graph.nodes.erase(m.graph.nodes.begin() + (self - m.graph.nodes.data()));
      return r;
    }
    if ((kind == "pads" || kind == "same-padding") && nhwc(n)) {
      r.detail = mutate_nhwc_padding(m, static_cast<size_t>(&n - m.graph.nodes.data()), kind);
      m.graph.value_info.clear();
      return r;
    }
    r.detail = mutate_node(m, n, kind, rng);
    // The mutated model's declared shapes may no longer hold downstream: let readers infer them again.
    if (shape_changing(kind)) m.graph.value_info.clear();
    return r;
  }
  throw InputError("no node named '" + name + "'");
}

// Does the model run at all (on zeros)?
bool runs(const Model& m) {
  try {
    std::map<std::string, Tensor> inputs;
    for (const auto& in : m.graph.inputs) {
      if (m.graph.initializers.count(in.name)) continue;
      Shape shape = in.shape;
      for (auto& d : shape) d = std::max<int64_t>(d, 1);
      inputs[in.name] = Tensor(in.dtype, shape);
    }
    Interpreter(m).run(inputs);
    return true;
  } catch (const std::exception&) {
    return false;
  }
}

}  // namespace

Mutation mutate_model(Model& m, const std::string& kind, const std::optional<std::string>& at, uint64_t seed) {
  const MutationKind& k = find_kind(kind);
  Mutation r{k.name, k.category, k.description, "", "", "", seed};
  // Nodes need names to be found again.
  for (size_t i = 0; i < m.graph.nodes.size(); ++i)
    if (m.graph.nodes[i].name.empty()) m.graph.nodes[i].name = m.graph.nodes[i].op_type + "_" + std::to_string(i);
  std::mt19937_64 rng(seed);
  if (kind == "input-layout" || kind == "input-normalization") {
    r.node = mutate_input(m, kind, r.detail);
    for (const auto& n : m.graph.nodes)
      if (n.name == r.node) r.op_type = n.op_type;
    return r;
  }
  std::vector<std::string> sites = mutation_sites(m, kind);
  check_input(!sites.empty(), "fault kind '" + kind + "' does not apply to this model (no suitable node)");
  const size_t first = at ? 0 : std::uniform_int_distribution<size_t>(0, sites.size() - 1)(rng);
  std::string name = at ? *at : sites[first];
  check_input(std::find(sites.begin(), sites.end(), name) != sites.end(),
              "fault kind '" + kind + "' cannot be applied to node '" + name + "'");
  // A shape-changing fault can make the model impossible to run (a stride before a residual Add):
  // without --at, the first site from the seeded one on whose mutated model still runs.
  if (!at && shape_changing(kind))
    for (size_t i = 0; i < sites.size(); ++i) {
      Model trial = m;
      std::mt19937_64 trial_rng = rng;
      apply_at(trial, sites[(first + i) % sites.size()], kind, trial_rng, r);
      if (runs(trial)) {
        name = sites[(first + i) % sites.size()];
        break;
      }
    }
  return apply_at(m, name, kind, rng, r);
}

nlohmann::json mutation_json(const Mutation& m) {
  return {{"schema", "transfix.mutation/1"}, {"kind", m.kind},     {"category", m.category}, {"description", m.description},
          {"node", m.node},                  {"op_type", m.op_type}, {"detail", m.detail},    {"seed", m.seed}};
}

}  // namespace transfix
