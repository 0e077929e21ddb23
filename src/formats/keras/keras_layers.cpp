// Lowering of Keras layers into canonical IR nodes (ONNX semantics, opset 17 forms). One function
// per layer class; the table at the end maps class names to them. Conventions (docs/keras.md):
//  - tensors keep Keras' channels-last shapes; Conv / ConvTranspose / MaxPool / AveragePool get
//    layout = "NHWC" and the weights are rearranged at load time into weight_layout "OHWI"
//    (Conv2D, Conv1D, Conv2DTranspose) or "1HWO" (DepthwiseConv2D: [KH, KW, C, M] is [1, KH, KW, C*M]
//    in memory, a Conv with group = C);
//  - 1-D convolutions and poolings run as 2-D ones on [N, 1, L, C] (Unsqueeze / Squeeze);
//  - padding 'same' -> auto_pad SAME_UPPER (TensorFlow puts the odd pixel at the end), 'valid' ->
//    VALID, Conv1D 'causal' -> explicit left padding;
//  - a layer's `activation` becomes its own node(s) reading "<output>/pre_activation";
//  - constants are named "<output>/<what>".
#include <cmath>
#include <limits>
#include <unordered_map>

#include "core/errors.h"
#include "formats/keras/keras_lowering.h"

namespace transfix {
namespace keras_lowering {
namespace {

// The shape left by reducing `axes` of `in` (kept as 1s with keepdims).
Shape reduced_shape(const Shape& in, const std::vector<int64_t>& axes, bool keep) {
  Shape out;
  for (size_t d = 0; d < in.size(); ++d) {
    const bool reduced = std::find(axes.begin(), axes.end(), static_cast<int64_t>(d)) != axes.end();
    if (!reduced) out.push_back(in[d]);
    else if (keep) out.push_back(1);
  }
  return out;
}


using C = LayerCall;

// ---------------------------------------------------------------------------------------------
// Config access. Keras writes tuples as JSON lists and some options either as a number or a list.


const json* cfg_find(const C& c, const char* key) {
  auto it = c.config().find(key);
  return it == c.config().end() || it->is_null() ? nullptr : &*it;
}

int64_t cfg_int(const C& c, const char* key, int64_t def) {
  const json* v = cfg_find(c, key);
  if (!v) return def;
  if (v->is_array() && v->size() == 1) v = &(*v)[0];
  if (!v->is_number_integer()) c.fail(std::string("config '") + key + "' must be an integer");
  return v->get<int64_t>();
}

double cfg_float(const C& c, const char* key, double def) {
  const json* v = cfg_find(c, key);
  if (!v) return def;
  if (!v->is_number()) c.fail(std::string("config '") + key + "' must be a number");
  return v->get<double>();
}

bool cfg_bool(const C& c, const char* key, bool def) {
  const json* v = cfg_find(c, key);
  if (!v) return def;
  if (!v->is_boolean()) c.fail(std::string("config '") + key + "' must be true or false");
  return v->get<bool>();
}

std::string cfg_string(const C& c, const char* key, const std::string& def) {
  const json* v = cfg_find(c, key);
  if (!v) return def;
  if (!v->is_string()) c.fail(std::string("config '") + key + "' must be a string");
  return v->get<std::string>();
}

// An int or a list of n ints ("kernel_size": 3 or [3, 3]).
std::vector<int64_t> cfg_ints(const C& c, const char* key, size_t n, std::vector<int64_t> def = {}) {
  const json* v = cfg_find(c, key);
  if (!v) {
    if (def.empty()) c.fail(std::string("config '") + key + "' is missing");
    return def;
  }
  std::vector<int64_t> out;
  if (v->is_number_integer()) out.assign(n, v->get<int64_t>());
  else if (v->is_array() && v->size() == n)
    for (const json& e : *v) {
      if (!e.is_number_integer()) c.fail(std::string("config '") + key + "' must hold integers");
      out.push_back(e.get<int64_t>());
    }
  else c.fail(std::string("config '") + key + "' must be an integer or a list of " + std::to_string(n));
  return out;
}

void check_positive(const C& c, const std::vector<int64_t>& v, const char* what) {
  for (int64_t x : v)
    if (x < 1 || x > (int64_t{1} << 24)) c.fail(std::string(what) + " must be in [1, 2^24], got " + std::to_string(x));
}

void channels_last_only(const C& c) {
  const std::string f = cfg_string(c, "data_format", "channels_last");
  if (f != "channels_last") c.unsupported("data_format '" + f + "' is not supported (channels_last only)");
}

const Value& input(const C& c, size_t i = 0) {
  if (c.inputs().size() <= i) c.fail("expects at least " + std::to_string(i + 1) + " inputs, has " + std::to_string(c.inputs().size()));
  return c.inputs()[i];
}

const Value& input_rank(const C& c, size_t rank, const char* what = "input") {
  const Value& x = input(c);
  if (x.shape.size() != rank)
    c.fail(std::string(what) + " must have rank " + std::to_string(rank) + ", has shape " + shape_str(x.shape));
  return x;
}

// The channel (last) dim, which Keras requires to be known for layers with weights.
int64_t channels(const C& c, const Value& x) {
  if (x.shape.empty() || x.shape.back() < 1) c.fail("input " + shape_str(x.shape) + " needs a known last dimension");
  return x.shape.back();
}

int64_t normalize_axis(const C& c, int64_t axis, size_t rank) {
  const int64_t r = static_cast<int64_t>(rank);
  if (axis < -r || axis >= r) c.fail("axis " + std::to_string(axis) + " out of range for rank " + std::to_string(r));
  return axis < 0 ? axis + r : axis;
}

std::string float_constant(C& c, const std::string& suffix, double value) {
  return c.add_constant(suffix, Tensor::scalar<float>(static_cast<float>(value)));
}
std::string int64_constant(C& c, const std::string& suffix, const std::vector<int64_t>& values) {
  return c.add_constant(suffix, Tensor::from_vector<int64_t>(values, {static_cast<int64_t>(values.size())}));
}

// Element-wise permutation of a float tensor: out dim d = in dim perm[d].
Tensor permuted(const Tensor& t, const std::vector<int64_t>& perm) {
  const Shape& in = t.shape();
  const size_t r = in.size();
  Shape out(r);
  for (size_t d = 0; d < r; ++d) out[d] = in[static_cast<size_t>(perm[d])];
  std::vector<int64_t> in_stride(r, 1);
  for (size_t d = r - 1; d-- > 0;) in_stride[d] = in_stride[d + 1] * in[d + 1];
  Tensor y(t.dtype(), out);
  const float* src = t.data<float>();
  float* dst = y.mutable_data<float>();
  std::vector<int64_t> idx(r, 0);
  for (int64_t i = 0; i < y.numel(); ++i) {
    int64_t off = 0;
    for (size_t d = 0; d < r; ++d) off += idx[d] * in_stride[static_cast<size_t>(perm[d])];
    dst[i] = src[off];
    for (size_t d = r; d-- > 0;) {
      if (++idx[d] < out[d]) break;
      idx[d] = 0;
    }
  }
  return y;
}

// Output length of a window along one dim (-1 stays unknown), TensorFlow's rules.
int64_t window_out(int64_t in, int64_t k, int64_t stride, int64_t dilation, const std::string& padding) {
  if (in < 0) return -1;
  const int64_t eff = (k - 1) * dilation + 1;
  if (padding == "same" || padding == "causal") return (in + stride - 1) / stride;
  return in >= eff ? (in - eff) / stride + 1 : 0;
}

std::string auto_pad(const C& c, const std::string& padding) {
  if (padding == "same") return "SAME_UPPER";
  if (padding == "valid") return "VALID";
  c.unsupported("padding '" + padding + "' is not supported here (same, valid)");
  return {};  // not reached
}

Shape broadcast_shapes(const C& c, const std::vector<Shape>& shapes) {
  size_t rank = 0;
  for (const Shape& s : shapes) rank = std::max(rank, s.size());
  Shape out(rank, 1);
  for (const Shape& s : shapes)
    for (size_t i = 0; i < s.size(); ++i) {
      int64_t& o = out[rank - s.size() + i];
      const int64_t d = s[i];
      if (d == 1) continue;
      if (o == 1 || o == -1) o = d;
      else if (d != -1 && d != o) c.fail("input shapes do not broadcast: " + shape_str(s) + " vs " + shape_str(out));
    }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Activations (the `activation` option and the Activation layer).

// Name the main node writes: the output itself, or "<output>/pre_activation".
std::string main_output(const C& c, const std::string& activation) {
  return activation == "linear" ? c.output_name(0) : c.output_name(0) + "/pre_activation";
}

std::string activation_name(const C& c, const char* key = "activation") {
  const json* v = cfg_find(c, key);
  if (!v) return "linear";
  if (v->is_string()) return v->get<std::string>();
  // Keras 3 may serialize an activation as {"class_name": "function", "config": "relu", ...}.
  if (v->is_object() && v->contains("config") && (*v)["config"].is_string()) return (*v)["config"].get<std::string>();
  c.fail(std::string("config '") + key + "' must name an activation");
  return {};  // not reached
}

void emit_gelu(C& c, const std::string& x, const std::string& out, bool approximate) {
  const std::string o = c.output_name(0);
  if (approximate) {  // 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
    const std::string x3 = o + "/gelu_x3", inner = o + "/gelu_inner", t = o + "/gelu_tanh";
    c.emit("Mul", {x, x}, {o + "/gelu_x2"});
    c.emit("Mul", {o + "/gelu_x2", x}, {x3});
    c.emit("Mul", {x3, float_constant(c, "gelu_c", 0.044715)}, {o + "/gelu_cx3"});
    c.emit("Add", {x, o + "/gelu_cx3"}, {o + "/gelu_sum"});
    c.emit("Mul", {o + "/gelu_sum", float_constant(c, "gelu_k", std::sqrt(2.0 / M_PI))}, {inner});
    c.emit("Tanh", {inner}, {t});
    c.emit("Add", {t, float_constant(c, "gelu_one", 1.0)}, {o + "/gelu_1pt"});
  } else {  // 0.5 x (1 + erf(x / sqrt(2)))
    c.emit("Mul", {x, float_constant(c, "gelu_rsqrt2", 1.0 / std::sqrt(2.0))}, {o + "/gelu_scaled"});
    c.emit("Erf", {o + "/gelu_scaled"}, {o + "/gelu_erf"});
    c.emit("Add", {o + "/gelu_erf", float_constant(c, "gelu_one", 1.0)}, {o + "/gelu_1pt"});
  }
  c.emit("Mul", {x, o + "/gelu_1pt"}, {o + "/gelu_x1pt"});
  c.emit("Mul", {o + "/gelu_x1pt", float_constant(c, "gelu_half", 0.5)}, {out});
}

// Emits activation `name` from x to out (nothing for "linear": then x must already be out).
void emit_activation(C& c, const std::string& name, const std::string& x, const std::string& out) {
  static const std::unordered_map<std::string, std::string> plain{
      {"relu", "Relu"},       {"sigmoid", "Sigmoid"},   {"tanh", "Tanh"},         {"softplus", "Softplus"},
      {"softsign", "Softsign"}, {"exponential", "Exp"}, {"elu", "Elu"}, {"mish", "Mish"},
      {"hard_silu", "HardSwish"}, {"hard_swish", "HardSwish"}, {"log_softmax", "LogSoftmax"}};
  if (name == "linear") {
    if (x != out) c.emit("Identity", {x}, {out});
    return;
  }
  if (auto it = plain.find(name); it != plain.end()) {
    Node& n = c.emit(it->second, {x}, {out});
    if (name == "elu") set_attr(n, "alpha", 1.0);
    if (name == "log_softmax") set_attr(n, "axis", int64_t{-1});
    return;
  }
  if (name == "relu6") {
    c.emit("Clip", {x, float_constant(c, "clip_min", 0.0), float_constant(c, "clip_max", 6.0)}, {out});
  } else if (name == "softmax") {
    set_attr(c.emit("Softmax", {x}, {out}), "axis", int64_t{-1});
  } else if (name == "selu") {  // Keras' constants, in double (ONNX's defaults are their float32 roundings)
    Node& n = c.emit("Selu", {x}, {out});
    set_attr(n, "alpha", 1.6732632423543772848170429916717);
    set_attr(n, "gamma", 1.0507009873554804934193349852946);
  } else if (name == "swish" || name == "silu") {
    c.emit("Sigmoid", {x}, {out + "/sigmoid"});
    c.emit("Mul", {x, out + "/sigmoid"}, {out});
  } else if (name == "leaky_relu") {  // the activation function's default slope
    set_attr(c.emit("LeakyRelu", {x}, {out}), "alpha", 0.2);
  } else if (name == "gelu") {
    emit_gelu(c, x, out, false);
  } else if (name == "hard_sigmoid") {
    // Keras 2: clip(0.2 x + 0.5, 0, 1); Keras 3: relu6(x + 3) / 6.
    const bool keras3 = !c.keras_version().empty() && c.keras_version()[0] >= '3';
    Node& n = c.emit("HardSigmoid", {x}, {out});
    set_attr(n, "alpha", keras3 ? 1.0 / 6.0 : 0.2);
    set_attr(n, "beta", 0.5);
  } else {
    c.unsupported("activation '" + name + "' is not supported");
  }
}

// ---------------------------------------------------------------------------------------------
// Convolutions.

struct ConvSpec {
  std::vector<int64_t> kernel, strides, dilations;
  std::string padding;
  int64_t group = 1;
};

// Emits an NHWC Conv on a 4-D input; returns the output shape.
Shape emit_conv(C& c, const Value& x, const std::string& weights, const std::string& weight_layout, const std::string& bias,
                int64_t out_channels, const ConvSpec& s, const std::string& out) {
  std::vector<std::string> ins{x.name, weights};
  if (!bias.empty()) ins.push_back(bias);
  Node& n = c.emit("Conv", ins, {out});
  set_attr(n, "layout", std::string("NHWC"));
  set_attr(n, "weight_layout", weight_layout);
  set_attr(n, "kernel_shape", s.kernel);
  set_attr(n, "strides", s.strides);
  set_attr(n, "dilations", s.dilations);
  set_attr(n, "group", s.group);
  if (s.padding == "causal") {  // Conv1D on [N, 1, L, C]: all (k - 1) * d padding on the left of L
    set_attr(n, "pads", std::vector<int64_t>{0, (s.kernel[1] - 1) * s.dilations[1], 0, 0});
  } else {
    set_attr(n, "auto_pad", auto_pad(c, s.padding));
  }
  return {x.shape[0], window_out(x.shape[1], s.kernel[0], s.strides[0], s.dilations[0], s.padding),
          window_out(x.shape[2], s.kernel[1], s.strides[1], s.dilations[1], s.padding), out_channels};
}

ConvSpec conv_spec(const C& c, size_t dims) {
  ConvSpec s;
  s.kernel = cfg_ints(c, "kernel_size", dims);
  s.strides = cfg_ints(c, "strides", dims, std::vector<int64_t>(dims, 1));
  s.dilations = cfg_ints(c, "dilation_rate", dims, std::vector<int64_t>(dims, 1));
  s.padding = cfg_string(c, "padding", "valid");
  check_positive(c, s.kernel, "kernel_size");
  check_positive(c, s.strides, "strides");
  check_positive(c, s.dilations, "dilation_rate");
  if (s.padding != "same" && s.padding != "valid" && !(dims == 1 && s.padding == "causal"))
    c.unsupported("padding '" + s.padding + "' is not supported");
  if (dims == 1) {  // run as 2-D over [N, 1, L, C]
    s.kernel.insert(s.kernel.begin(), 1);
    s.strides.insert(s.strides.begin(), 1);
    s.dilations.insert(s.dilations.begin(), 1);
  }
  return s;
}

std::string optional_bias(C& c, size_t index, int64_t size) {
  if (!cfg_bool(c, "use_bias", true)) return "";
  return c.add_constant("bias", c.weight("bias", index, {size}));
}

// Conv1D / Conv2D: kernel [KH, KW, C / groups, F] (Conv1D [K, C / groups, F]) -> OHWI.
void lower_conv(C& c, size_t dims) {
  channels_last_only(c);
  const Value& x0 = input_rank(c, dims + 2);
  ConvSpec s = conv_spec(c, dims);
  const int64_t filters = cfg_int(c, "filters", 0), in_c = channels(c, x0);
  s.group = cfg_int(c, "groups", 1);
  if (filters < 1 || s.group < 1 || in_c % s.group != 0 || filters % s.group != 0)
    c.fail("filters " + std::to_string(filters) + " and groups " + std::to_string(s.group) + " do not fit input " + shape_str(x0.shape));
  Shape kshape = {s.kernel[0], s.kernel[1], in_c / s.group, filters};
  if (dims == 1) kshape.erase(kshape.begin());
  Tensor k = c.weight("kernel", 0, kshape).reshaped({s.kernel[0], s.kernel[1], in_c / s.group, filters});
  const std::string w = c.add_constant("kernel_ohwi", permuted(k, {3, 0, 1, 2}));
  const std::string bias = optional_bias(c, 1, filters);
  const std::string act = activation_name(c), result = main_output(c, act);
  Value x = x0;
  if (dims == 1) {
    x = {c.output_name(0) + "/as_2d", {x0.shape[0], 1, x0.shape[1], x0.shape[2]}};
    c.emit("Unsqueeze", {x0.name, int64_constant(c, "axes", {1})}, {x.name});
  }
  const std::string conv_out = dims == 1 ? c.output_name(0) + "/conv_2d" : result;
  Shape out = emit_conv(c, x, w, "OHWI", bias, filters, s, conv_out);
  if (dims == 1) {
    c.emit("Squeeze", {conv_out, int64_constant(c, "squeeze_axes", {1})}, {result});
    out = {out[0], out[2], out[3]};
  }
  emit_activation(c, act, result, c.output_name(0));
  c.set_outputs({{c.output_name(0), out}});
}
void lower_conv1d(C& c) { lower_conv(c, 1); }
void lower_conv2d(C& c) { lower_conv(c, 2); }

// Depthwise kernel [KH, KW, C, M] is [1, KH, KW, C * M] in memory (output channel c * M + m), the
// 1HWO layout with group = C.
std::string depthwise_weights(C& c, size_t index, const ConvSpec& s, int64_t in_c, int64_t multiplier) {
  Tensor k = c.weight("depthwise_kernel", index, {s.kernel[0], s.kernel[1], in_c, multiplier});
  return c.add_constant("depthwise_kernel", k.reshaped({1, s.kernel[0], s.kernel[1], in_c * multiplier}));
}

void lower_depthwise_conv2d(C& c) {
  channels_last_only(c);
  const Value& x = input_rank(c, 4);
  ConvSpec s = conv_spec(c, 2);
  const int64_t in_c = channels(c, x), m = cfg_int(c, "depth_multiplier", 1);
  if (m < 1 || m > (int64_t{1} << 20)) c.fail("depth_multiplier must be >= 1");
  s.group = in_c;
  const std::string w = depthwise_weights(c, 0, s, in_c, m);
  const std::string bias = optional_bias(c, 1, in_c * m);
  const std::string act = activation_name(c), result = main_output(c, act);
  Shape out = emit_conv(c, x, w, "1HWO", bias, in_c * m, s, result);
  emit_activation(c, act, result, c.output_name(0));
  c.set_outputs({{c.output_name(0), out}});
}

// SeparableConv2D: depthwise (strides, padding, dilation; no bias) then a 1x1 pointwise Conv with the bias.
void lower_separable_conv2d(C& c) {
  channels_last_only(c);
  const Value& x = input_rank(c, 4);
  ConvSpec s = conv_spec(c, 2);
  const int64_t in_c = channels(c, x), m = cfg_int(c, "depth_multiplier", 1), filters = cfg_int(c, "filters", 0);
  if (m < 1 || m > (int64_t{1} << 20) || filters < 1) c.fail("depth_multiplier and filters must be >= 1");
  s.group = in_c;
  const std::string dw = depthwise_weights(c, 0, s, in_c, m);
  Tensor pk = c.weight("pointwise_kernel", 1, {1, 1, in_c * m, filters});
  const std::string pw = c.add_constant("pointwise_kernel_ohwi", permuted(pk, {3, 0, 1, 2}));
  const std::string bias = optional_bias(c, 2, filters);
  const Value mid{c.output_name(0) + "/depthwise", emit_conv(c, x, dw, "1HWO", "", in_c * m, s, c.output_name(0) + "/depthwise")};
  const std::string act = activation_name(c), result = main_output(c, act);
  const ConvSpec pointwise{{1, 1}, {1, 1}, {1, 1}, "valid", 1};
  Shape out = emit_conv(c, mid, pw, "OHWI", bias, filters, pointwise, result);
  emit_activation(c, act, result, c.output_name(0));
  c.set_outputs({{c.output_name(0), out}});
}

// Output length of Conv2DTranspose along one dim (Keras' deconv_output_length).
int64_t deconv_length(int64_t in, int64_t k, int64_t stride, int64_t dilation, const std::string& padding,
                      std::optional<int64_t> output_padding) {
  if (in < 0) return -1;
  const int64_t eff = (k - 1) * dilation + 1;
  if (!output_padding) return padding == "valid" ? in * stride + std::max<int64_t>(eff - stride, 0) : in * stride;
  const int64_t pad = padding == "same" ? eff / 2 : 0;
  return (in - 1) * stride + eff - 2 * pad + *output_padding;
}

// Conv2DTranspose: kernel [KH, KW, F, C] -> OHWI. TensorFlow pads like the forward convolution from
// the output back to the input (total = max(0, (in - 1) * s + k_eff - out), the odd pixel at the
// end), which ConvTranspose expresses with output_shape + SAME_UPPER / VALID, or explicit end
// padding when VALID crops the natural size (as the TFLite reader lowers TRANSPOSE_CONV).
void lower_conv2d_transpose(C& c) {
  channels_last_only(c);
  const Value& x = input_rank(c, 4);
  ConvSpec s = conv_spec(c, 2);
  const int64_t filters = cfg_int(c, "filters", 0), in_c = channels(c, x);
  if (filters < 1) c.fail("filters must be >= 1");
  if (x.shape[1] < 1 || x.shape[2] < 1) c.unsupported("Conv2DTranspose needs known spatial input dims, has " + shape_str(x.shape));
  std::vector<std::optional<int64_t>> op(2);
  if (cfg_find(c, "output_padding")) {
    auto v = cfg_ints(c, "output_padding", 2);
    op = {v[0], v[1]};
  }
  Tensor k = c.weight("kernel", 0, {s.kernel[0], s.kernel[1], filters, in_c});
  const std::string w = c.add_constant("kernel_ohwi", permuted(k, {2, 0, 1, 3}));
  const std::string bias = optional_bias(c, 1, filters);
  const std::string act = activation_name(c), result = main_output(c, act);
  std::vector<int64_t> out_hw(2), natural(2);
  for (size_t d = 0; d < 2; ++d) {
    out_hw[d] = deconv_length(x.shape[d + 1], s.kernel[d], s.strides[d], s.dilations[d], s.padding, op[d]);
    natural[d] = (x.shape[d + 1] - 1) * s.strides[d] + (s.kernel[d] - 1) * s.dilations[d] + 1;
    if (out_hw[d] < 1) c.fail("output size " + std::to_string(out_hw[d]) + " is not positive");
  }
  std::vector<std::string> ins{x.name, w};
  if (!bias.empty()) ins.push_back(bias);
  Node& n = c.emit("ConvTranspose", ins, {result});
  set_attr(n, "layout", std::string("NHWC"));
  set_attr(n, "weight_layout", std::string("OHWI"));
  set_attr(n, "kernel_shape", s.kernel);
  set_attr(n, "strides", s.strides);
  set_attr(n, "dilations", s.dilations);
  if (s.padding == "valid" && natural[0] >= out_hw[0] && natural[1] >= out_hw[1]) {
    set_attr(n, "pads", std::vector<int64_t>{0, 0, natural[0] - out_hw[0], natural[1] - out_hw[1]});
  } else {
    set_attr(n, "output_shape", out_hw);
    set_attr(n, "auto_pad", auto_pad(c, s.padding));
  }
  emit_activation(c, act, result, c.output_name(0));
  c.set_outputs({{c.output_name(0), {x.shape[0], out_hw[0], out_hw[1], filters}}});
}

// Dense: y = x W + b over the last axis, W [I, units].
void lower_dense(C& c) {
  const Value& x = input(c);
  if (x.shape.size() < 2) c.fail("input must have rank >= 2, has shape " + shape_str(x.shape));
  const int64_t in = channels(c, x), units = cfg_int(c, "units", 0);
  if (units < 1) c.fail("units must be >= 1");
  const std::string w = c.add_constant("kernel", c.weight("kernel", 0, {in, units}));
  const std::string bias = optional_bias(c, 1, units);
  const std::string act = activation_name(c), result = main_output(c, act);
  if (x.shape.size() == 2) {
    std::vector<std::string> ins{x.name, w};
    if (!bias.empty()) ins.push_back(bias);
    c.emit("Gemm", ins, {result});
  } else if (bias.empty()) {
    c.emit("MatMul", {x.name, w}, {result});
  } else {
    c.emit("MatMul", {x.name, w}, {c.output_name(0) + "/matmul"});
    c.emit("Add", {c.output_name(0) + "/matmul", bias}, {result});
  }
  emit_activation(c, act, result, c.output_name(0));
  Shape out = x.shape;
  out.back() = units;
  c.set_outputs({{c.output_name(0), out}});
}

// ---------------------------------------------------------------------------------------------
// Normalization.

// The single axis of a normalization layer ("axis": 3 or [3]).
int64_t single_axis(const C& c, size_t rank, int64_t def) {
  const json* v = cfg_find(c, "axis");
  if (v && v->is_array() && v->size() != 1) c.unsupported("normalizing over several axes is not supported");
  return normalize_axis(c, v ? cfg_int(c, "axis", def) : def, rank);
}

// A per-channel vector [C] reshaped to broadcast against rank-`rank` input along `axis`.
Tensor along_axis(const Tensor& t, size_t rank, int64_t axis) {
  Shape s{t.numel()};
  for (size_t i = static_cast<size_t>(axis) + 1; i < rank; ++i) s.push_back(1);
  return t.reshaped(s);
}

// Inference BatchNormalization as TensorFlow computes it: inv = gamma / sqrt(var + eps),
// y = x * inv + (beta - mean * inv). The per-channel part runs as nodes (not folded at load time),
// so the fp64 oracle computes it in double.
void lower_batch_normalization(C& c) {
  const Value& x = input(c);
  const int64_t axis = single_axis(c, x.shape.size(), -1);
  const int64_t ch = x.shape[static_cast<size_t>(axis)];
  if (ch < 1) c.fail("input " + shape_str(x.shape) + " needs a known size along axis " + std::to_string(axis));
  const bool scale = cfg_bool(c, "scale", true), center = cfg_bool(c, "center", true);
  const double eps = cfg_float(c, "epsilon", 1e-3);
  size_t index = 0;
  auto param = [&](const char* role) {
    return c.add_constant(role, along_axis(c.weight(role, index++, {ch}), x.shape.size(), axis));
  };
  const std::string gamma = scale ? param("gamma") : "", beta = center ? param("beta") : "";
  const std::string mean = param("moving_mean"), var = param("moving_variance");
  const std::string o = c.output_name(0);
  c.emit("Add", {var, float_constant(c, "epsilon", eps)}, {o + "/var_eps"});
  c.emit("Sqrt", {o + "/var_eps"}, {o + "/std"});
  if (scale) c.emit("Div", {gamma, o + "/std"}, {o + "/inv"});
  else c.emit("Reciprocal", {o + "/std"}, {o + "/inv"});
  c.emit("Mul", {mean, o + "/inv"}, {o + "/mean_inv"});
  if (center) c.emit("Sub", {beta, o + "/mean_inv"}, {o + "/shift"});
  else c.emit("Neg", {o + "/mean_inv"}, {o + "/shift"});
  c.emit("Mul", {x.name, o + "/inv"}, {o + "/scaled"});
  c.emit("Add", {o + "/scaled", o + "/shift"}, {o});
  c.set_outputs({{o, x.shape}});
}

std::string fmt_number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.9g", v);
  return buf;
}

// Rescaling: y = x * scale + offset (scalars or per-channel lists).
void lower_rescaling(C& c) {
  const Value& x = input(c);
  auto values = [&](const char* key, double def) {
    const json* v = cfg_find(c, key);
    std::vector<float> out;
    if (!v) out.push_back(static_cast<float>(def));
    else if (v->is_number()) out.push_back(v->get<float>());
    else if (v->is_array()) for (const json& e : *v) { if (!e.is_number()) c.fail(std::string(key) + " must hold numbers"); out.push_back(e.get<float>()); }
    else c.fail(std::string("config '") + key + "' must be a number or a list");
    return out;
  };
  const std::vector<float> scale = values("scale", 1.0), offset = values("offset", 0.0);
  auto constant = [&](const char* suffix, const std::vector<float>& v) {
    return c.add_constant(suffix, v.size() == 1 ? Tensor::scalar<float>(v[0]) : Tensor::from_vector<float>(v, {static_cast<int64_t>(v.size())}));
  };
  const std::string o = c.output_name(0);
  c.emit("Mul", {x.name, constant("scale", scale)}, {o + "/scaled"});
  c.emit("Add", {o + "/scaled", constant("offset", offset)}, {o});
  c.set_outputs({{o, x.shape}});
  if (scale.size() == 1 && offset.size() == 1) {
    c.describe_input("rescaling", "x * " + fmt_number(scale[0]) + " + " + fmt_number(offset[0]));
    // Inputs in [0, 255] mapped onto [0, 1] or [-1, 1]: the usual 8-bit image contract.
    const double lo = offset[0], hi = 255.0 * scale[0] + offset[0];
    if (std::fabs(lo) < 1e-6 && std::fabs(hi - 1) < 1e-5) c.describe_input("value_range", "0,255");
    if (std::fabs(lo + 1) < 1e-6 && std::fabs(hi - 1) < 1e-5) c.describe_input("value_range", "0,255");
  }
}

// Normalization (Keras >= 2.4): y = (x - mean) / max(sqrt(variance), 1e-7), mean and variance from
// the config or the layer's weights (shaped by the kept axes).
void lower_normalization(C& c) {
  const Value& x = input(c);
  if (cfg_bool(c, "invert", false)) c.unsupported("invert = true is not supported");
  const int64_t axis = single_axis(c, x.shape.size(), -1);
  const int64_t ch = x.shape[static_cast<size_t>(axis)];
  if (ch < 1) c.fail("input " + shape_str(x.shape) + " needs a known size along axis " + std::to_string(axis));
  auto stat = [&](const char* role, size_t index) {
    if (const json* v = cfg_find(c, role)) {
      std::vector<float> vals;
      if (v->is_number()) vals.assign(static_cast<size_t>(ch), v->get<float>());
      else if (v->is_array()) for (const json& e : *v) { if (!e.is_number()) c.fail(std::string(role) + " must hold numbers"); vals.push_back(e.get<float>()); }
      if (static_cast<int64_t>(vals.size()) != ch) c.fail(std::string(role) + " must hold " + std::to_string(ch) + " values");
      return Tensor::from_vector<float>(vals, {ch});
    }
    Tensor t = c.weight(role, index, {-1});
    if (t.numel() != ch) c.fail(std::string("weight '") + role + "' " + shape_str(t.shape()) + " must hold " + std::to_string(ch) + " values");
    return t.reshaped({ch});
  };
  Tensor mean = stat("mean", 0), var = stat("variance", 1);
  const std::string o = c.output_name(0);
  const std::string m = c.add_constant("mean", along_axis(mean, x.shape.size(), axis));
  const std::string v = c.add_constant("variance", along_axis(var, x.shape.size(), axis));
  c.emit("Sqrt", {v}, {o + "/std"});
  c.emit("Max", {o + "/std", float_constant(c, "epsilon", 1e-7)}, {o + "/std_safe"});
  c.emit("Sub", {x.name, m}, {o + "/centered"});
  c.emit("Div", {o + "/centered", o + "/std_safe"}, {o});
  c.set_outputs({{o, x.shape}});
  std::string ms, ss;
  for (int64_t i = 0; i < ch && i < 16; ++i) {
    ms += (i ? "," : "") + fmt_number(mean.data<float>()[i]);
    ss += (i ? "," : "") + fmt_number(std::sqrt(std::max(0.0f, var.data<float>()[i])));
  }
  c.describe_input("normalization_mean", ms);
  c.describe_input("normalization_std", ss);
}

// ---------------------------------------------------------------------------------------------
// Activation layers.

void lower_activation(C& c) {
  const Value& x = input(c);
  emit_activation(c, activation_name(c), x.name, c.output_name(0));
  c.set_outputs({{c.output_name(0), x.shape}});
}

// ReLU(max_value, negative_slope, threshold) as Keras' backend.relu computes it:
// y = clip(x > threshold ? x : 0, 0, max_value) - negative_slope * relu(threshold - x).
void lower_relu(C& c) {
  const Value& x = input(c);
  const std::string o = c.output_name(0);
  const double slope = cfg_float(c, "negative_slope", 0.0), th = cfg_float(c, "threshold", 0.0);
  const json* maxv = cfg_find(c, "max_value");
  if (maxv && !maxv->is_number()) c.fail("max_value must be a number");
  c.set_outputs({{o, x.shape}});
  if (slope != 0 && th == 0 && !maxv) {
    set_attr(c.emit("LeakyRelu", {x.name}, {o}), "alpha", slope);
    return;
  }
  const bool negative = slope != 0;
  const std::string pos = negative ? o + "/positive" : o;
  const std::string kept = maxv && th != 0 ? o + "/kept" : pos;
  if (th == 0 && maxv) {  // relu6 and friends: one Clip
    c.emit("Clip", {x.name, float_constant(c, "clip_min", 0.0), float_constant(c, "clip_max", maxv->get<double>())}, {pos});
    maxv = nullptr;
  } else if (th == 0) {
    c.emit("Relu", {x.name}, {kept});
  } else {
    c.emit("Greater", {x.name, float_constant(c, "threshold", th)}, {o + "/above"});
    c.emit("Where", {o + "/above", x.name, float_constant(c, "zero", 0.0)}, {kept});
  }
  if (maxv) c.emit("Clip", {kept, float_constant(c, "clip_min", 0.0), float_constant(c, "clip_max", maxv->get<double>())}, {pos});
  if (negative) {
    c.emit("Sub", {float_constant(c, "threshold_neg", th), x.name}, {o + "/below"});
    c.emit("Relu", {o + "/below"}, {o + "/negative"});
    c.emit("Mul", {o + "/negative", float_constant(c, "slope", slope)}, {o + "/negative_scaled"});
    c.emit("Sub", {pos, o + "/negative_scaled"}, {o});
  }
}

void lower_leaky_relu(C& c) {
  const Value& x = input(c);
  // Keras 2 calls the slope alpha (default 0.3), Keras 3 negative_slope.
  const double slope = cfg_find(c, "negative_slope") ? cfg_float(c, "negative_slope", 0.3) : cfg_float(c, "alpha", 0.3);
  set_attr(c.emit("LeakyRelu", {x.name}, {c.output_name(0)}), "alpha", slope);
  c.set_outputs({{c.output_name(0), x.shape}});
}

void lower_elu(C& c) {
  const Value& x = input(c);
  set_attr(c.emit("Elu", {x.name}, {c.output_name(0)}), "alpha", cfg_float(c, "alpha", 1.0));
  c.set_outputs({{c.output_name(0), x.shape}});
}

void lower_thresholded_relu(C& c) {
  const Value& x = input(c);
  set_attr(c.emit("ThresholdedRelu", {x.name}, {c.output_name(0)}), "alpha", cfg_float(c, "theta", 1.0));
  c.set_outputs({{c.output_name(0), x.shape}});
}

// PReLU: alpha has the input's shape without the batch dim, 1 along shared_axes (1-based).
void lower_prelu(C& c) {
  const Value& x = input(c);
  if (x.shape.empty()) c.fail("input must have rank >= 1");
  Shape alpha_shape(x.shape.begin() + 1, x.shape.end());
  if (const json* shared = cfg_find(c, "shared_axes")) {
    std::vector<int64_t> axes = shared->is_array() ? cfg_ints(c, "shared_axes", shared->size()) : cfg_ints(c, "shared_axes", 1);
    for (int64_t a : axes) {
      if (a < 1 || a > static_cast<int64_t>(alpha_shape.size())) c.fail("shared_axes entry " + std::to_string(a) + " out of range");
      alpha_shape[static_cast<size_t>(a - 1)] = 1;
    }
  }
  for (int64_t d : alpha_shape)
    if (d < 1) c.fail("input " + shape_str(x.shape) + " needs known dims for its alpha weights");
  const std::string alpha = c.add_constant("alpha", c.weight("alpha", 0, alpha_shape));
  c.emit("PRelu", {x.name, alpha}, {c.output_name(0)});
  c.set_outputs({{c.output_name(0), x.shape}});
}

void lower_softmax(C& c) {
  const Value& x = input(c);
  const json* v = cfg_find(c, "axis");
  if (v && v->is_array() && v->size() != 1) c.unsupported("softmax over several axes is not supported");
  set_attr(c.emit("Softmax", {x.name}, {c.output_name(0)}), "axis", normalize_axis(c, cfg_int(c, "axis", -1), x.shape.size()));
  c.set_outputs({{c.output_name(0), x.shape}});
}

// ---------------------------------------------------------------------------------------------
// Merging layers.

std::vector<Shape> input_shapes(const C& c) {
  std::vector<Shape> s;
  for (const Value& v : c.inputs()) s.push_back(v.shape);
  return s;
}

// Variadic element-wise ops as a chain of binary nodes (Add, Mul, Max, Min) or one variadic node (Mean).
void lower_merge(C& c, const char* op, bool variadic) {
  if (c.inputs().size() < 2) c.fail("expects at least 2 inputs, has " + std::to_string(c.inputs().size()));
  const Shape out = broadcast_shapes(c, input_shapes(c));
  const std::string o = c.output_name(0);
  if (variadic) {
    std::vector<std::string> names;
    for (const Value& v : c.inputs()) names.push_back(v.name);
    c.emit(op, names, {o});
  } else {
    std::string acc = c.inputs()[0].name;
    for (size_t i = 1; i < c.inputs().size(); ++i) {
      const std::string next = i + 1 == c.inputs().size() ? o : o + "/partial_" + std::to_string(i);
      c.emit(op, {acc, c.inputs()[i].name}, {next});
      acc = next;
    }
  }
  c.set_outputs({{o, out}});
}
void lower_add(C& c) { lower_merge(c, "Add", false); }
void lower_multiply(C& c) { lower_merge(c, "Mul", false); }
void lower_maximum(C& c) { lower_merge(c, "Max", false); }
void lower_minimum(C& c) { lower_merge(c, "Min", false); }
void lower_average(C& c) { lower_merge(c, "Mean", true); }

void lower_subtract(C& c) {
  if (c.inputs().size() != 2) c.fail("expects exactly 2 inputs, has " + std::to_string(c.inputs().size()));
  c.emit("Sub", {c.inputs()[0].name, c.inputs()[1].name}, {c.output_name(0)});
  c.set_outputs({{c.output_name(0), broadcast_shapes(c, input_shapes(c))}});
}

void lower_concatenate(C& c) {
  if (c.inputs().empty()) c.fail("has no inputs");
  const Shape& first = c.inputs()[0].shape;
  const int64_t axis = normalize_axis(c, cfg_int(c, "axis", -1), first.size());
  Shape out = first;
  std::vector<std::string> names;
  for (size_t i = 0; i < c.inputs().size(); ++i) {
    const Shape& s = c.inputs()[i].shape;
    if (s.size() != first.size()) c.fail("inputs differ in rank: " + shape_str(first) + " vs " + shape_str(s));
    if (i > 0) out[static_cast<size_t>(axis)] = out[static_cast<size_t>(axis)] < 0 || s[static_cast<size_t>(axis)] < 0
                                                     ? -1 : out[static_cast<size_t>(axis)] + s[static_cast<size_t>(axis)];
    names.push_back(c.inputs()[i].name);
  }
  set_attr(c.emit("Concat", names, {c.output_name(0)}), "axis", axis);
  c.set_outputs({{c.output_name(0), out}});
}

// ---------------------------------------------------------------------------------------------
// Padding, cropping, pooling.

// Keras padding/cropping spec for `dims` spatial dims: n, [a, b] (symmetric per dim; 1-D: [begin,
// end]) or [[begin, end], ...]. Returns {begins, ends}.
std::pair<std::vector<int64_t>, std::vector<int64_t>> spatial_amounts(const C& c, const char* key, size_t dims) {
  const json* v = cfg_find(c, key);
  std::vector<int64_t> b(dims, 1), e(dims, 1);
  auto as_int = [&](const json& j) {
    if (!j.is_number_integer() || j.get<int64_t>() < 0 || j.get<int64_t>() > (int64_t{1} << 24))
      c.fail(std::string("config '") + key + "' must hold non-negative integers");
    return j.get<int64_t>();
  };
  if (!v) c.fail(std::string("config '") + key + "' is missing");
  if (v->is_number_integer()) {
    b.assign(dims, as_int(*v));
    e = b;
  } else if (v->is_array() && v->size() == dims && dims == 1 && (*v)[0].is_number_integer() ) {
    b[0] = e[0] = as_int((*v)[0]);
  } else if (v->is_array() && dims == 1 && v->size() == 2) {
    b[0] = as_int((*v)[0]);
    e[0] = as_int((*v)[1]);
  } else if (v->is_array() && v->size() == dims) {
    for (size_t d = 0; d < dims; ++d) {
      const json& p = (*v)[d];
      if (p.is_number_integer()) b[d] = e[d] = as_int(p);
      else if (p.is_array() && p.size() == 2) b[d] = as_int(p[0]), e[d] = as_int(p[1]);
      else c.fail(std::string("config '") + key + "' is malformed");
    }
  } else {
    c.fail(std::string("config '") + key + "' is malformed");
  }
  return {b, e};
}

void lower_zero_padding(C& c, size_t dims) {
  channels_last_only(c);
  const Value& x = input_rank(c, dims + 2);
  auto [b, e] = spatial_amounts(c, "padding", dims);
  std::vector<int64_t> pads(2 * (dims + 2), 0);
  Shape out = x.shape;
  for (size_t d = 0; d < dims; ++d) {
    pads[d + 1] = b[d];
    pads[dims + 2 + d + 1] = e[d];
    if (out[d + 1] >= 0) out[d + 1] += b[d] + e[d];
  }
  c.emit("Pad", {x.name, int64_constant(c, "pads", pads)}, {c.output_name(0)});
  c.set_outputs({{c.output_name(0), out}});
}
void lower_zero_padding1d(C& c) { lower_zero_padding(c, 1); }
void lower_zero_padding2d(C& c) { lower_zero_padding(c, 2); }

void lower_cropping(C& c, size_t dims) {
  channels_last_only(c);
  const Value& x = input_rank(c, dims + 2);
  auto [b, e] = spatial_amounts(c, "cropping", dims);
  std::vector<int64_t> starts, ends, axes;
  Shape out = x.shape;
  for (size_t d = 0; d < dims; ++d) {
    const int64_t in = x.shape[d + 1];
    if (in >= 0 && b[d] + e[d] >= in) c.fail("cropping removes all of dimension " + std::to_string(d + 1) + " (size " + std::to_string(in) + ")");
    starts.push_back(b[d]);
    ends.push_back(e[d] == 0 ? std::numeric_limits<int64_t>::max() : -e[d]);
    axes.push_back(static_cast<int64_t>(d) + 1);
    if (in >= 0) out[d + 1] = in - b[d] - e[d];
  }
  c.emit("Slice", {x.name, int64_constant(c, "starts", starts), int64_constant(c, "ends", ends), int64_constant(c, "axes", axes)},
         {c.output_name(0)});
  c.set_outputs({{c.output_name(0), out}});
}
void lower_cropping1d(C& c) { lower_cropping(c, 1); }
void lower_cropping2d(C& c) { lower_cropping(c, 2); }

void lower_pool(C& c, size_t dims, const char* op) {
  channels_last_only(c);
  const Value& x0 = input_rank(c, dims + 2);
  std::vector<int64_t> pool = cfg_ints(c, "pool_size", dims, std::vector<int64_t>(dims, 2));
  std::vector<int64_t> strides = cfg_ints(c, "strides", dims, pool);
  const std::string padding = cfg_string(c, "padding", "valid");
  check_positive(c, pool, "pool_size");
  check_positive(c, strides, "strides");
  if (dims == 1) {
    pool.insert(pool.begin(), 1);
    strides.insert(strides.begin(), 1);
  }
  Value x = x0;
  const std::string o = c.output_name(0);
  if (dims == 1) {
    x = {o + "/as_2d", {x0.shape[0], 1, x0.shape[1], x0.shape[2]}};
    c.emit("Unsqueeze", {x0.name, int64_constant(c, "axes", {1})}, {x.name});
  }
  const std::string pooled = dims == 1 ? o + "/pool_2d" : o;
  Node& n = c.emit(op, {x.name}, {pooled});
  set_attr(n, "layout", std::string("NHWC"));
  set_attr(n, "kernel_shape", pool);
  set_attr(n, "strides", strides);
  set_attr(n, "auto_pad", auto_pad(c, padding));
  if (std::string(op) == "AveragePool") set_attr(n, "count_include_pad", int64_t{0});  // TF divides by the taps inside
  Shape out{x.shape[0], window_out(x.shape[1], pool[0], strides[0], 1, padding), window_out(x.shape[2], pool[1], strides[1], 1, padding),
            x.shape[3]};
  if (dims == 1) {
    c.emit("Squeeze", {pooled, int64_constant(c, "squeeze_axes", {1})}, {o});
    out = {out[0], out[2], out[3]};
  }
  c.set_outputs({{o, out}});
}
void lower_max_pooling1d(C& c) { lower_pool(c, 1, "MaxPool"); }
void lower_max_pooling2d(C& c) { lower_pool(c, 2, "MaxPool"); }
void lower_average_pooling1d(C& c) { lower_pool(c, 1, "AveragePool"); }
void lower_average_pooling2d(C& c) { lower_pool(c, 2, "AveragePool"); }

void lower_global_pool(C& c, size_t dims, const char* op) {
  const Value& x = input_rank(c, dims + 2);
  const bool first = cfg_string(c, "data_format", "channels_last") == "channels_first";
  std::vector<int64_t> axes;
  for (size_t d = 0; d < dims; ++d) axes.push_back(static_cast<int64_t>(d) + (first ? 2 : 1));
  const bool keep = cfg_bool(c, "keepdims", false);
  Node& n = c.emit(op, {x.name}, {c.output_name(0)});
  set_attr(n, "axes", axes);
  set_attr(n, "keepdims", int64_t{keep ? 1 : 0});
  c.set_outputs({{c.output_name(0), reduced_shape(x.shape, axes, keep)}});
}
void lower_global_average_pooling1d(C& c) { lower_global_pool(c, 1, "ReduceMean"); }
void lower_global_average_pooling2d(C& c) { lower_global_pool(c, 2, "ReduceMean"); }
void lower_global_max_pooling1d(C& c) { lower_global_pool(c, 1, "ReduceMax"); }
void lower_global_max_pooling2d(C& c) { lower_global_pool(c, 2, "ReduceMax"); }

void lower_upsampling2d(C& c) {
  channels_last_only(c);
  const Value& x = input_rank(c, 4);
  const std::vector<int64_t> size = cfg_ints(c, "size", 2, {2, 2});
  check_positive(c, size, "size");
  const std::string interp = cfg_string(c, "interpolation", "nearest");
  if (interp != "nearest" && interp != "bilinear") c.unsupported("interpolation '" + interp + "' is not supported (nearest, bilinear)");
  const std::string scales = c.add_constant(
      "scales", Tensor::from_vector<float>({1.0f, static_cast<float>(size[0]), static_cast<float>(size[1]), 1.0f}, {4}));
  // TF2's resize (Keras' UpSampling2D) samples at half-pixel centers in both modes.
  Node& n = c.emit("Resize", {x.name, "", scales}, {c.output_name(0)});
  set_attr(n, "mode", std::string(interp == "nearest" ? "nearest" : "linear"));
  set_attr(n, "coordinate_transformation_mode", std::string(interp == "nearest" ? "tf_half_pixel_for_nn" : "half_pixel"));
  if (interp == "nearest") set_attr(n, "nearest_mode", std::string("floor"));
  c.set_outputs({{c.output_name(0), {x.shape[0], x.shape[1] < 0 ? -1 : x.shape[1] * size[0], x.shape[2] < 0 ? -1 : x.shape[2] * size[1], x.shape[3]}}});
}

// ---------------------------------------------------------------------------------------------
// Shape layers.

void lower_flatten(C& c) {
  channels_last_only(c);
  const Value& x = input(c);
  if (x.shape.size() < 2) c.fail("input must have rank >= 2, has shape " + shape_str(x.shape));
  int64_t n = 1;
  for (size_t d = 1; d < x.shape.size(); ++d) n = (n < 0 || x.shape[d] < 0) ? -1 : n * x.shape[d];
  set_attr(c.emit("Flatten", {x.name}, {c.output_name(0)}), "axis", int64_t{1});
  c.set_outputs({{c.output_name(0), {x.shape[0], n}}});
}

// Reshape(target_shape) keeps the batch dim: ONNX shape [0, target...] (0 copies the input's dim).
void lower_reshape(C& c) {
  const Value& x = input(c);
  const json* t = cfg_find(c, "target_shape");
  if (!t || !t->is_array()) c.fail("config 'target_shape' must be a list");
  std::vector<int64_t> target = cfg_ints(c, "target_shape", t->size());
  int64_t known = 1, unknown = -1, in = 1;
  for (size_t d = 1; d < x.shape.size(); ++d) in = (in < 0 || x.shape[d] < 0) ? -1 : in * x.shape[d];
  for (size_t i = 0; i < target.size(); ++i) {
    if (target[i] == -1 && unknown < 0) unknown = static_cast<int64_t>(i);
    else if (target[i] < 1) c.fail("target_shape " + shape_str(target) + " is invalid");
    else known *= target[i];
  }
  if (in >= 0 && ((unknown < 0 && known != in) || (unknown >= 0 && in % known != 0)))
    c.fail("cannot reshape " + shape_str(x.shape) + " to target_shape " + shape_str(target));
  Shape out{x.shape[0]};
  for (int64_t d : target) out.push_back(d);
  if (unknown >= 0) out[static_cast<size_t>(unknown) + 1] = in < 0 ? -1 : in / known;
  target.insert(target.begin(), 0);
  c.emit("Reshape", {x.name, int64_constant(c, "shape", target)}, {c.output_name(0)});
  c.set_outputs({{c.output_name(0), out}});
}

void lower_permute(C& c) {
  const Value& x = input(c);
  const std::vector<int64_t> dims = cfg_ints(c, "dims", x.shape.size() - 1);
  std::vector<int64_t> perm{0};
  Shape out{x.shape[0]};
  std::vector<bool> seen(x.shape.size(), false);
  for (int64_t d : dims) {
    if (d < 1 || d >= static_cast<int64_t>(x.shape.size()) || seen[static_cast<size_t>(d)]) c.fail("dims " + shape_str(dims) + " is not a permutation");
    seen[static_cast<size_t>(d)] = true;
    perm.push_back(d);
    out.push_back(x.shape[static_cast<size_t>(d)]);
  }
  set_attr(c.emit("Transpose", {x.name}, {c.output_name(0)}), "perm", perm);
  c.set_outputs({{c.output_name(0), out}});
}

// Layers that do nothing at inference (dropout, noise, regularizers).
void lower_identity(C& c) {
  const Value& x = input(c);
  c.emit("Identity", {x.name}, {c.output_name(0)});
  c.set_outputs({{c.output_name(0), x.shape}});
}

// ---------------------------------------------------------------------------------------------
// TFOpLambda: TensorFlow functions called on Keras tensors (e.g. `x * 2.0`, tf.nn.relu(x)).

// Second operand "y" of a binary op: a tensor input or a number / list of numbers.
std::pair<std::string, Shape> lambda_operand(C& c, const char* key) {
  const json& kw = c.call_kwargs();
  auto it = kw.find(key);
  if (it == kw.end() && c.inputs().size() >= 2) return {c.inputs()[1].name, c.inputs()[1].shape};
  if (it == kw.end()) c.fail(std::string("argument '") + key + "' is missing");
  if (it->is_object() && it->contains("__input__")) {
    const Value& v = input(c, (*it)["__input__"].get<size_t>());
    return {v.name, v.shape};
  }
  if (it->is_number()) return {float_constant(c, key, it->get<double>()), {}};
  if (it->is_array()) {
    std::vector<float> vals;
    for (const json& e : *it) {
      if (!e.is_number()) c.unsupported(std::string("argument '") + key + "' must be a number, a list of numbers or a tensor");
      vals.push_back(e.get<float>());
    }
    return {c.add_constant(key, Tensor::from_vector<float>(vals, {static_cast<int64_t>(vals.size())})), {static_cast<int64_t>(vals.size())}};
  }
  c.unsupported(std::string("argument '") + key + "' must be a number, a list of numbers or a tensor");
  return {};  // not reached
}

void lower_tf_op_lambda(C& c) {
  static const std::unordered_map<std::string, std::string> unary{
      {"nn.relu", "relu"}, {"nn.relu6", "relu6"}, {"math.sigmoid", "sigmoid"}, {"nn.sigmoid", "sigmoid"},
      {"math.tanh", "tanh"}, {"nn.tanh", "tanh"}, {"nn.silu", "swish"}, {"nn.swish", "swish"},
      {"math.softplus", "softplus"}, {"nn.softplus", "softplus"}, {"nn.elu", "elu"}, {"nn.selu", "selu"},
      {"math.exp", "exponential"}};
  static const std::unordered_map<std::string, std::string> unary_ops{
      {"math.log", "Log"}, {"math.sqrt", "Sqrt"}, {"math.abs", "Abs"}, {"math.negative", "Neg"},
      {"math.floor", "Floor"}, {"math.ceil", "Ceil"}, {"math.reciprocal", "Reciprocal"}, {"math.erf", "Erf"},
      {"identity", "Identity"}};
  static const std::unordered_map<std::string, std::string> binary{
      {"math.add", "Add"}, {"__operators__.add", "Add"}, {"math.subtract", "Sub"}, {"math.multiply", "Mul"},
      {"math.truediv", "Div"}, {"math.divide", "Div"}, {"math.maximum", "Max"}, {"math.minimum", "Min"},
      {"math.pow", "Pow"}, {"math.squared_difference", "SquaredDifference"}};
  static const std::unordered_map<std::string, std::string> reductions{
      {"math.reduce_mean", "ReduceMean"}, {"math.reduce_max", "ReduceMax"}, {"math.reduce_min", "ReduceMin"},
      {"math.reduce_sum", "ReduceSum"}, {"math.reduce_prod", "ReduceProd"}};
  const std::string fn = cfg_string(c, "function", "");
  const Value& x = input(c);
  const std::string o = c.output_name(0);
  const json& kw = c.call_kwargs();
  if (auto it = unary.find(fn); it != unary.end()) {
    emit_activation(c, it->second, x.name, o);
    return c.set_outputs({{o, x.shape}});
  }
  if (auto it = unary_ops.find(fn); it != unary_ops.end()) {
    c.emit(it->second, {x.name}, {o});
    return c.set_outputs({{o, x.shape}});
  }
  if (fn == "math.square" || fn == "math.rsqrt") {
    if (fn == "math.square") c.emit("Mul", {x.name, x.name}, {o});
    else c.emit("Sqrt", {x.name}, {o + "/sqrt"}), c.emit("Reciprocal", {o + "/sqrt"}, {o});
    return c.set_outputs({{o, x.shape}});
  }
  if (fn == "nn.gelu") {
    emit_gelu(c, x.name, o, kw.value("approximate", false));
    return c.set_outputs({{o, x.shape}});
  }
  if (fn == "nn.softmax") {
    const int64_t axis = kw.contains("axis") && kw["axis"].is_number_integer() ? kw["axis"].get<int64_t>() : -1;
    set_attr(c.emit("Softmax", {x.name}, {o}), "axis", normalize_axis(c, axis, x.shape.size()));
    return c.set_outputs({{o, x.shape}});
  }
  if (auto it = binary.find(fn); it != binary.end()) {
    auto [y, yshape] = lambda_operand(c, "y");
    if (it->second == "SquaredDifference") {
      c.emit("Sub", {x.name, y}, {o + "/difference"});
      c.emit("Mul", {o + "/difference", o + "/difference"}, {o});
    } else {
      c.emit(it->second, {x.name, y}, {o});
    }
    return c.set_outputs({{o, broadcast_shapes(c, {x.shape, yshape})}});
  }
  if (fn == "clip_by_value") {
    auto [lo, s1] = lambda_operand(c, "clip_value_min");
    auto [hi, s2] = lambda_operand(c, "clip_value_max");
    if (!s1.empty() || !s2.empty()) c.unsupported("clip_by_value with tensor bounds is not supported");
    c.emit("Clip", {x.name, lo, hi}, {o});
    return c.set_outputs({{o, x.shape}});
  }
  if (auto it = reductions.find(fn); it != reductions.end()) {
    std::vector<int64_t> axes;
    if (kw.contains("axis") && !kw["axis"].is_null()) {
      const json& a = kw["axis"];
      if (a.is_number_integer()) axes.push_back(normalize_axis(c, a.get<int64_t>(), x.shape.size()));
      else if (a.is_array()) for (const json& e : a) { if (!e.is_number_integer()) c.fail("axis must hold integers"); axes.push_back(normalize_axis(c, e.get<int64_t>(), x.shape.size())); }
      else c.fail("axis must be an integer or a list");
    } else {
      for (size_t d = 0; d < x.shape.size(); ++d) axes.push_back(static_cast<int64_t>(d));
    }
    const bool keep = kw.value("keepdims", false);
    std::vector<std::string> ins{x.name};
    const bool axes_input = it->second == "ReduceSum";
    if (axes_input) ins.push_back(int64_constant(c, "axes", axes));
    Node& n = c.emit(it->second, ins, {o});
    if (!axes_input) set_attr(n, "axes", axes);
    set_attr(n, "keepdims", int64_t{keep ? 1 : 0});
    return c.set_outputs({{o, reduced_shape(x.shape, axes, keep)}});
  }
  if (fn == "reshape" || fn == "compat.v1.reshape") {
    if (!kw.contains("shape") || !kw["shape"].is_array()) c.unsupported("reshape needs a constant 'shape' list");
    std::vector<int64_t> shape;
    for (const json& e : kw["shape"]) {
      if (!e.is_number_integer() && !e.is_null()) c.unsupported("reshape needs a constant 'shape' list");
      shape.push_back(e.is_null() ? -1 : e.get<int64_t>());
    }
    Node& n = c.emit("Reshape", {x.name, int64_constant(c, "shape", shape)}, {o});
    set_attr(n, "allowzero", int64_t{1});
    return c.set_outputs({{o, shape}});
  }
  c.unsupported("TFOpLambda function '" + fn + "' is not supported");
}

// ---------------------------------------------------------------------------------------------

using LowerFn = void (*)(C&);

const std::unordered_map<std::string, LowerFn>& lowering_table() {
  static const std::unordered_map<std::string, LowerFn> table{
      {"Conv1D", lower_conv1d}, {"Conv2D", lower_conv2d}, {"DepthwiseConv2D", lower_depthwise_conv2d},
      {"SeparableConv2D", lower_separable_conv2d}, {"Conv2DTranspose", lower_conv2d_transpose},
      {"Dense", lower_dense}, {"BatchNormalization", lower_batch_normalization},
      {"Rescaling", lower_rescaling}, {"Normalization", lower_normalization},
      {"Activation", lower_activation}, {"ReLU", lower_relu}, {"LeakyReLU", lower_leaky_relu},
      {"PReLU", lower_prelu}, {"ELU", lower_elu}, {"ThresholdedReLU", lower_thresholded_relu},
      {"Softmax", lower_softmax},
      {"Add", lower_add}, {"Subtract", lower_subtract}, {"Multiply", lower_multiply},
      {"Average", lower_average}, {"Maximum", lower_maximum}, {"Minimum", lower_minimum},
      {"Concatenate", lower_concatenate},
      {"ZeroPadding1D", lower_zero_padding1d}, {"ZeroPadding2D", lower_zero_padding2d},
      {"Cropping1D", lower_cropping1d}, {"Cropping2D", lower_cropping2d},
      {"MaxPooling1D", lower_max_pooling1d}, {"MaxPooling2D", lower_max_pooling2d},
      {"AveragePooling1D", lower_average_pooling1d}, {"AveragePooling2D", lower_average_pooling2d},
      {"MaxPool1D", lower_max_pooling1d}, {"MaxPool2D", lower_max_pooling2d},
      {"AvgPool1D", lower_average_pooling1d}, {"AvgPool2D", lower_average_pooling2d},
      {"GlobalAveragePooling1D", lower_global_average_pooling1d},
      {"GlobalAveragePooling2D", lower_global_average_pooling2d},
      {"GlobalMaxPooling1D", lower_global_max_pooling1d}, {"GlobalMaxPooling2D", lower_global_max_pooling2d},
      {"UpSampling2D", lower_upsampling2d}, {"Flatten", lower_flatten}, {"Reshape", lower_reshape},
      {"Permute", lower_permute}, {"Dropout", lower_identity}, {"SpatialDropout1D", lower_identity},
      {"SpatialDropout2D", lower_identity}, {"GaussianNoise", lower_identity}, {"GaussianDropout", lower_identity},
      {"AlphaDropout", lower_identity}, {"ActivityRegularization", lower_identity},
      {"TFOpLambda", lower_tf_op_lambda},
  };
  return table;
}

}  // namespace

void lower_layer(LayerCall& call) {
  const auto& table = lowering_table();
  auto it = table.find(call.class_name());
  if (it == table.end()) call.unsupported("layer class " + call.class_name() + " is not supported yet");
  it->second(call);
}

}  // namespace keras_lowering
}  // namespace transfix
