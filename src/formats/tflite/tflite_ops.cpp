// Lowering of TFLite operators into canonical IR nodes (ONNX semantics at the opset the reader
// declares, extended by attributes). One function per TFLite operator; the table at the end maps
// operator names to them. Conventions (docs/tflite.md):
//  - tensors keep TFLite's NHWC shapes; Conv / ConvTranspose / MaxPool / AveragePool get
//    layout = "NHWC", convolution weights weight_layout = "OHWI" ([O, KH, KW, I]: CONV_2D and
//    TRANSPOSE_CONV filters) or "1HWO" ([1, KH, KW, C * M]: DEPTHWISE_CONV_2D, a Conv with group = C);
//  - padding SAME -> auto_pad SAME_UPPER (TFLite puts the odd pixel at the end), VALID -> VALID;
//  - a fused activation becomes its own node (Relu, Clip(0, 6), Clip(-1, 1), Tanh) reading
//    "<output>/pre_activation"; every node of one operator shares its provenance;
//  - constants the lowering needs (int64 shapes, axes, clip bounds) are named "<output>/<what>".
#include <cmath>
#include <functional>
#include <limits>
#include <set>
#include <unordered_map>

#include "core/errors.h"
#include "formats/onnx/onnx_reader.h"
#include "formats/tflite/tflite_reader.h"
#include "runtime/kernel.h"
#include "tflite_schema_generated.h"

namespace transfix {
namespace tflite_lowering {
namespace {

using tflite::ActivationFunctionType;
using L = OpLowering;

// ---------------------------------------------------------------------------------------------
// Helpers.


// Options table of the operator; fails when absent (the op's meaning depends on it).
template <typename T>
const T& options(const L& op, const T* opts, const char* table) {
  if (!opts) op.fail(std::string("missing ") + table);
  return *opts;
}

const ValueInfo& info_of_input(const L& op, size_t i) {
  const ValueInfo* v = op.input_info(i);
  if (!v) op.fail("input " + std::to_string(i) + " is required");
  return *v;
}

void require_inputs(const L& op, size_t min_count) {
  if (op.num_inputs() < min_count)
    op.fail("expects at least " + std::to_string(min_count) + " inputs, has " + std::to_string(op.num_inputs()));
  for (size_t i = 0; i < min_count; ++i) info_of_input(op, i);
}

void require_rank(const L& op, size_t i, size_t rank, const char* what) {
  const ValueInfo& v = info_of_input(op, i);
  if (v.shape.size() != rank)
    op.fail(std::string(what) + " must have rank " + std::to_string(rank) + ", has shape " + shape_str(v.shape));
}

// Constant input i as int64 values (shape / axes / paddings inputs are int32 or int64 in TFLite).
std::vector<int64_t> constant_ints(const L& op, size_t i, const char* what) {
  const Tensor* t = op.constant_input(i);
  if (!t) throw UnsupportedError("operator " + std::to_string(op.index()) + " (" + op.op_name() + "): " + what +
                                 " computed at run time is not supported", op.op_name());
  if (t->dtype() != DType::kI32 && t->dtype() != DType::kI64) op.fail(std::string(what) + " must be int32 or int64");
  return t->to_i64_vector();
}

std::string int64_constant(L& op, const std::string& suffix, const std::vector<int64_t>& values, bool scalar = false) {
  Shape shape = scalar ? Shape{} : Shape{static_cast<int64_t>(values.size())};
  return op.add_constant(suffix, Tensor::from_vector<int64_t>(values, shape));
}

// Float constant in the dtype of the operator's float output (float32 unless the model says float64).
std::string float_constant(L& op, const std::string& suffix, double value) {
  const ValueInfo* out = op.output_info(0);
  if (out && out->dtype == DType::kF64) return op.add_constant(suffix, Tensor::scalar<double>(value));
  return op.add_constant(suffix, Tensor::scalar<float>(static_cast<float>(value)));
}

// Drops trailing omitted inputs ("" in the IR means omitted anyway; trailing ones are noise).
std::vector<std::string> trimmed(std::vector<std::string> v) {
  while (!v.empty() && v.back().empty()) v.pop_back();
  return v;
}

std::string padding_mode(const L& op, tflite::Padding p) {
  switch (p) {
    case tflite::Padding::SAME: return "SAME_UPPER";
    case tflite::Padding::VALID: return "VALID";
  }
  op.fail("unknown padding " + std::to_string(static_cast<int>(p)));
  return {};  // not reached
}

void check_positive(const L& op, std::initializer_list<int32_t> values, const char* what) {
  for (int32_t v : values)
    if (v < 1) op.fail(std::string(what) + " must be >= 1, got " + std::to_string(v));
}

bool quantized(const L& op) { return op.domain() == kTfliteQuantizedDomain; }

// Name the main node of an operator writes: the output itself, or "<output>/pre_activation" when a
// separate activation node follows (float ops).
std::string main_output(const L& op, ActivationFunctionType act) {
  return act == ActivationFunctionType::NONE || quantized(op) ? op.output(0) : op.output(0) + "/pre_activation";
}

// Quantized ops clamp to the activation's range in the integer domain (the bounds quantized with
// the output's parameters), so the activation stays an attribute of the main node `n`.
void fuse_quantized_activation(const L& op, Node& n, ActivationFunctionType act) {
  if (!quantized(op) || act == ActivationFunctionType::NONE) return;
  if (act != ActivationFunctionType::RELU && act != ActivationFunctionType::RELU6 &&
      act != ActivationFunctionType::RELU_N1_TO_1)
    throw UnsupportedError("operator " + std::to_string(op.index()) + " (" + op.op_name() + "): fused activation " +
                           tflite::EnumNameActivationFunctionType(act) + " on quantized tensors is not supported",
                           op.op_name());
  set_attr(n, "fused_activation", std::string(tflite::EnumNameActivationFunctionType(act)));
}

// Emits the fused activation node of a float op: pre_activation -> output.
void fused_activation(L& op, ActivationFunctionType act) {
  if (quantized(op)) return;  // fuse_quantized_activation did it
  const std::string pre = main_output(op, act), out = op.output(0);
  switch (act) {
    case ActivationFunctionType::NONE: return;
    case ActivationFunctionType::RELU: op.emit("Relu", {pre}, {out}); return;
    case ActivationFunctionType::RELU6:
      op.emit("Clip", {pre, float_constant(op, "clip_min", 0.0), float_constant(op, "clip_max", 6.0)}, {out});
      return;
    case ActivationFunctionType::RELU_N1_TO_1:
      op.emit("Clip", {pre, float_constant(op, "clip_min", -1.0), float_constant(op, "clip_max", 1.0)}, {out});
      return;
    case ActivationFunctionType::TANH: op.emit("Tanh", {pre}, {out}); return;
    default:
      throw UnsupportedError("operator " + std::to_string(op.index()) + " (" + op.op_name() + "): fused activation " +
                             tflite::EnumNameActivationFunctionType(act) + " is not supported", op.op_name());
  }
}

void nhwc(Node& n) { set_attr(n, "layout", std::string("NHWC")); }

// ---------------------------------------------------------------------------------------------
// Convolutions and pooling.

// CONV_2D and DEPTHWISE_CONV_2D: one NHWC Conv node (weights [O, KH, KW, I] or [1, KH, KW, C * M]) plus
// the fused activation.
template <typename ConvOptions>
void emit_nhwc_conv(L& op, const ConvOptions& o, const char* weight_layout, const Shape& w, int64_t group) {
  const auto act = o.fused_activation_function();
  Node& n = op.emit("Conv", trimmed({op.input(0), op.input(1), op.input(2)}), {main_output(op, act)});
  fuse_quantized_activation(op, n, act);
  nhwc(n);
  set_attr(n, "weight_layout", std::string(weight_layout));
  set_attr(n, "kernel_shape", std::vector<int64_t>{w[1], w[2]});
  set_attr(n, "strides", std::vector<int64_t>{o.stride_h(), o.stride_w()});
  set_attr(n, "dilations", std::vector<int64_t>{o.dilation_h_factor(), o.dilation_w_factor()});
  set_attr(n, "auto_pad", padding_mode(op, o.padding()));
  set_attr(n, "group", group);
  fused_activation(op, act);
}

void lower_conv_2d(L& op) {
  const auto& o = options(op, op.op().builtin_options_as_Conv2DOptions(), "Conv2DOptions");
  require_inputs(op, 2);
  require_rank(op, 0, 4, "input");
  require_rank(op, 1, 4, "filter");
  check_positive(op, {o.stride_h(), o.stride_w(), o.dilation_h_factor(), o.dilation_w_factor()}, "strides and dilations");
  const Shape& x = op.input_info(0)->shape;
  const Shape& w = op.input_info(1)->shape;
  // A filter with fewer input channels than the input is a grouped convolution.
  if (w[3] < 1 || x[3] < 1 || x[3] % w[3] != 0)
    op.fail("filter " + shape_str(w) + " does not divide the input channels of " + shape_str(x));
  const int64_t group = x[3] / w[3];
  if (w[0] % group != 0) op.fail("filter " + shape_str(w) + ": output channels not divisible by group " + std::to_string(group));
  emit_nhwc_conv(op, o, "OHWI", w, group);
}

void lower_depthwise_conv_2d(L& op) {
  const auto& o = options(op, op.op().builtin_options_as_DepthwiseConv2DOptions(), "DepthwiseConv2DOptions");
  require_inputs(op, 2);
  require_rank(op, 0, 4, "input");
  require_rank(op, 1, 4, "filter");
  check_positive(op, {o.stride_h(), o.stride_w(), o.dilation_h_factor(), o.dilation_w_factor()}, "strides and dilations");
  const Shape& x = op.input_info(0)->shape;
  const Shape& w = op.input_info(1)->shape;
  // Filter [1, KH, KW, C * M]; depth_multiplier is redundant (and 0 in some converters' output).
  if (w[0] != 1 || x[3] < 1 || w[3] % x[3] != 0)
    op.fail("filter " + shape_str(w) + " must be [1, KH, KW, C * multiplier] for input " + shape_str(x));
  if (o.depth_multiplier() > 0 && w[3] != x[3] * o.depth_multiplier())
    op.fail("depth_multiplier " + std::to_string(o.depth_multiplier()) + " does not match filter " + shape_str(w));
  emit_nhwc_conv(op, o, "1HWO", w, x[3]);
}

// Inputs: [output_shape (int32 [4]), filter [O, KH, KW, I], input, bias (optional)]. TFLite pads
// like the forward convolution whose input is this op's output: total = max(0, (in - 1) * s + k - out),
// pad_begin = total / 2, so ConvTranspose with output_shape and SAME_UPPER (extra at the end) / VALID.
void lower_transpose_conv(L& op) {
  const auto& o = options(op, op.op().builtin_options_as_TransposeConvOptions(), "TransposeConvOptions");
  require_inputs(op, 3);
  require_rank(op, 1, 4, "filter");
  require_rank(op, 2, 4, "input");
  check_positive(op, {o.stride_h(), o.stride_w()}, "strides");
  const std::vector<int64_t> out_shape = constant_ints(op, 0, "output_shape");
  const Shape& w = op.input_info(1)->shape;
  const Shape& x = op.input_info(2)->shape;
  if (out_shape.size() != 4) op.fail("output_shape must have 4 values");
  if (out_shape[0] != x[0] || out_shape[3] != w[0] || w[3] != x[3])
    op.fail("output_shape " + shape_str(out_shape) + ", filter " + shape_str(w) + " and input " + shape_str(x) + " disagree");
  const auto act = o.fused_activation_function();
  Node& n = op.emit("ConvTranspose", trimmed({op.input(2), op.input(1), op.input(3)}), {main_output(op, act)});
  fuse_quantized_activation(op, n, act);
  nhwc(n);
  set_attr(n, "weight_layout", std::string("OHWI"));
  set_attr(n, "kernel_shape", std::vector<int64_t>{w[1], w[2]});
  set_attr(n, "strides", std::vector<int64_t>{o.stride_h(), o.stride_w()});
  // VALID with an output no larger than the natural size (in - 1) * s + k: TFLite pads nothing at
  // the start and drops the tail, i.e. explicit pads [0, natural - out]. Otherwise output_shape
  // with SAME_UPPER / VALID splits the padding exactly as TFLite does.
  const int64_t natural_h = (x[1] - 1) * o.stride_h() + w[1], natural_w = (x[2] - 1) * o.stride_w() + w[2];
  if (o.padding() == tflite::Padding::VALID && natural_h >= out_shape[1] && natural_w >= out_shape[2]) {
    set_attr(n, "pads", std::vector<int64_t>{0, 0, natural_h - out_shape[1], natural_w - out_shape[2]});
  } else {
    set_attr(n, "output_shape", std::vector<int64_t>{out_shape[1], out_shape[2]});
    set_attr(n, "auto_pad", padding_mode(op, o.padding()));
  }
  fused_activation(op, act);
}

void lower_pool(L& op, const char* onnx_op) {
  const auto& o = options(op, op.op().builtin_options_as_Pool2DOptions(), "Pool2DOptions");
  require_inputs(op, 1);
  require_rank(op, 0, 4, "input");
  check_positive(op, {o.stride_h(), o.stride_w(), o.filter_height(), o.filter_width()}, "strides and filter size");
  const auto act = o.fused_activation_function();
  Node& n = op.emit(onnx_op, {op.input(0)}, {main_output(op, act)});
  fuse_quantized_activation(op, n, act);
  nhwc(n);
  set_attr(n, "kernel_shape", std::vector<int64_t>{o.filter_height(), o.filter_width()});
  set_attr(n, "strides", std::vector<int64_t>{o.stride_h(), o.stride_w()});
  set_attr(n, "auto_pad", padding_mode(op, o.padding()));
  if (std::string(onnx_op) == "AveragePool") set_attr(n, "count_include_pad", int64_t{0});  // TFLite divides by taps inside
  fused_activation(op, act);
}
void lower_average_pool_2d(L& op) { lower_pool(op, "AveragePool"); }
void lower_max_pool_2d(L& op) { lower_pool(op, "MaxPool"); }

// L2_POOL_2D (float): y = sqrt(mean of x^2 over the window's taps inside the input). ONNX's LpPool
// takes the root of the sum, not of the mean, so: Mul (square), AveragePool over the taps inside
// (count_include_pad = 0, as TFLite divides), Sqrt.
void lower_l2_pool_2d(L& op) {
  const auto& o = options(op, op.op().builtin_options_as_Pool2DOptions(), "Pool2DOptions");
  require_inputs(op, 1);
  require_rank(op, 0, 4, "input");
  check_positive(op, {o.stride_h(), o.stride_w(), o.filter_height(), o.filter_width()}, "strides and filter size");
  const auto act = o.fused_activation_function();
  const std::string base = op.output(0);
  op.emit("Mul", {op.input(0), op.input(0)}, {base + "/squared"});
  Node& pool = op.emit("AveragePool", {base + "/squared"}, {base + "/mean_square"});
  nhwc(pool);
  set_attr(pool, "kernel_shape", std::vector<int64_t>{o.filter_height(), o.filter_width()});
  set_attr(pool, "strides", std::vector<int64_t>{o.stride_h(), o.stride_w()});
  set_attr(pool, "auto_pad", padding_mode(op, o.padding()));
  set_attr(pool, "count_include_pad", int64_t{0});
  op.emit("Sqrt", {base + "/mean_square"}, {main_output(op, act)});
  fused_activation(op, act);
}

// FULLY_CONNECTED: y = x W^T + b with W [O, I]. Gemm(transB = 1) needs a 2-D x, so other ranks are
// flattened to [numel / I, I] first (a Reshape node); keep_num_dims restores x's leading dims after.
void lower_fully_connected(L& op) {
  const auto* o = op.op().builtin_options_as_FullyConnectedOptions();
  require_inputs(op, 2);
  require_rank(op, 1, 2, "weights");
  if (o && o->weights_format() != tflite::FullyConnectedOptionsWeightsFormat::DEFAULT)
    throw UnsupportedError("operator " + std::to_string(op.index()) + " (FULLY_CONNECTED): shuffled weights are not supported",
                           op.op_name());
  const auto act = o ? o->fused_activation_function() : ActivationFunctionType::NONE;
  const bool keep_num_dims = o && o->keep_num_dims();
  const Shape& x = op.input_info(0)->shape;
  const Shape& w = op.input_info(1)->shape;
  if (x.empty() || w[1] < 1) op.fail("input " + shape_str(x) + " cannot feed weights " + shape_str(w));
  if (quantized(op)) {
    // One node: the integer kernel flattens x itself (an intermediate value would have no
    // quantization parameters) and keeps x's leading dims when keep_num_dims says so.
    Node& n = op.emit("Gemm", trimmed({op.input(0), op.input(1), op.input(2)}), {op.output(0)});
    fuse_quantized_activation(op, n, act);
    set_attr(n, "transB", int64_t{1});
    set_attr(n, "keep_num_dims", int64_t{keep_num_dims ? 1 : 0});
    return;
  }
  std::string input = op.input(0);
  if (x.size() != 2 || x[1] != w[1]) {
    input = op.output(0) + "/flattened";
    op.emit("Reshape", {op.input(0), int64_constant(op, "flat_shape", {-1, w[1]})}, {input});
  }
  const bool restore = keep_num_dims && x.size() != 2;
  const std::string result = main_output(op, act);
  const std::string gemm_out = restore ? op.output(0) + "/gemm" : result;
  Node& n = op.emit("Gemm", trimmed({input, op.input(1), op.input(2)}), {gemm_out});
  set_attr(n, "transB", int64_t{1});
  if (restore) {
    Shape out(x.begin(), x.end() - 1);
    out.push_back(w[0]);
    op.emit("Reshape", {gemm_out, int64_constant(op, "out_shape", out)}, {result});
  }
  fused_activation(op, act);
}

// ---------------------------------------------------------------------------------------------
// Element-wise.

template <typename Opts>
void lower_binary_with_activation(L& op, const char* onnx_op, const Opts* o) {
  require_inputs(op, 2);
  const auto act = o ? o->fused_activation_function() : ActivationFunctionType::NONE;
  Node& n = op.emit(onnx_op, {op.input(0), op.input(1)}, {main_output(op, act)});
  fuse_quantized_activation(op, n, act);
  fused_activation(op, act);
}
void lower_add(L& op) { lower_binary_with_activation(op, "Add", op.op().builtin_options_as_AddOptions()); }
void lower_sub(L& op) { lower_binary_with_activation(op, "Sub", op.op().builtin_options_as_SubOptions()); }
void lower_mul(L& op) { lower_binary_with_activation(op, "Mul", op.op().builtin_options_as_MulOptions()); }
void lower_div(L& op) { lower_binary_with_activation(op, "Div", op.op().builtin_options_as_DivOptions()); }

void lower_binary(L& op, const char* onnx_op) {
  require_inputs(op, 2);
  op.emit(onnx_op, {op.input(0), op.input(1)}, {op.output(0)});
}
void lower_maximum(L& op) { lower_binary(op, "Max"); }
void lower_minimum(L& op) { lower_binary(op, "Min"); }
void lower_pow(L& op) { lower_binary(op, "Pow"); }
void lower_prelu(L& op) { lower_binary(op, "PRelu"); }  // alpha broadcasts to x in both formats
void lower_less(L& op) { lower_binary(op, "Less"); }
void lower_greater(L& op) { lower_binary(op, "Greater"); }
void lower_less_equal(L& op) { lower_binary(op, "LessOrEqual"); }
void lower_greater_equal(L& op) { lower_binary(op, "GreaterOrEqual"); }
void lower_equal(L& op) { lower_binary(op, "Equal"); }
void lower_logical_and(L& op) { lower_binary(op, "And"); }
void lower_logical_or(L& op) { lower_binary(op, "Or"); }

void lower_squared_difference(L& op) {
  require_inputs(op, 2);
  const std::string diff = op.output(0) + "/difference";
  op.emit("Sub", {op.input(0), op.input(1)}, {diff});
  op.emit("Mul", {diff, diff}, {op.output(0)});
}

void lower_unary(L& op, const char* onnx_op) {
  require_inputs(op, 1);
  op.emit(onnx_op, {op.input(0)}, {op.output(0)});
}
void lower_relu(L& op) { lower_unary(op, "Relu"); }
void lower_logistic(L& op) { lower_unary(op, "Sigmoid"); }
void lower_tanh(L& op) { lower_unary(op, "Tanh"); }
void lower_hard_swish(L& op) { lower_unary(op, "HardSwish"); }
void lower_elu(L& op) { lower_unary(op, "Elu"); }
void lower_exp(L& op) { lower_unary(op, "Exp"); }
void lower_log(L& op) { lower_unary(op, "Log"); }
void lower_sqrt(L& op) { lower_unary(op, "Sqrt"); }
void lower_abs(L& op) { lower_unary(op, "Abs"); }
void lower_neg(L& op) { lower_unary(op, "Neg"); }
void lower_floor(L& op) { lower_unary(op, "Floor"); }
void lower_ceil(L& op) { lower_unary(op, "Ceil"); }
void lower_round(L& op) { lower_unary(op, "Round"); }  // both round half to even
void lower_sin(L& op) { lower_unary(op, "Sin"); }
void lower_cos(L& op) { lower_unary(op, "Cos"); }
void lower_logical_not(L& op) { lower_unary(op, "Not"); }

void lower_rsqrt(L& op) {
  require_inputs(op, 1);
  const std::string root = op.output(0) + "/sqrt";
  op.emit("Sqrt", {op.input(0)}, {root});
  op.emit("Reciprocal", {root}, {op.output(0)});
}

void lower_square(L& op) {
  require_inputs(op, 1);
  op.emit("Mul", {op.input(0), op.input(0)}, {op.output(0)});
}

void lower_clip(L& op, double lo, double hi) {
  require_inputs(op, 1);
  op.emit("Clip", {op.input(0), float_constant(op, "clip_min", lo), float_constant(op, "clip_max", hi)}, {op.output(0)});
}
void lower_relu6(L& op) { lower_clip(op, 0.0, 6.0); }
void lower_relu_n1_to_1(L& op) { lower_clip(op, -1.0, 1.0); }
void lower_relu_0_to_1(L& op) { lower_clip(op, 0.0, 1.0); }

void lower_leaky_relu(L& op) {
  const auto* o = op.op().builtin_options_as_LeakyReluOptions();
  require_inputs(op, 1);
  Node& n = op.emit("LeakyRelu", {op.input(0)}, {op.output(0)});
  set_attr(n, "alpha", static_cast<double>(o ? o->alpha() : 0.0f));
}

void lower_select(L& op) {
  require_inputs(op, 3);
  op.emit("Where", {op.input(0), op.input(1), op.input(2)}, {op.output(0)});
}

// Softmax over the last axis of beta * x; beta != 1 becomes a Mul in front.
void lower_softmax(L& op) {
  const auto* o = op.op().builtin_options_as_SoftmaxOptions();
  require_inputs(op, 1);
  const double beta = o ? o->beta() : 1.0;
  std::string input = op.input(0);
  if (beta != 1.0 && !quantized(op)) {
    input = op.output(0) + "/scaled";
    op.emit("Mul", {op.input(0), float_constant(op, "beta", beta)}, {input});
  }
  Node& n = op.emit("Softmax", {input}, {op.output(0)});
  set_attr(n, "axis", int64_t{-1});
  if (quantized(op)) set_attr(n, "beta", beta);  // the integer kernel folds it into its exp table
}

void lower_log_softmax(L& op) {
  require_inputs(op, 1);
  Node& n = op.emit("LogSoftmax", {op.input(0)}, {op.output(0)});
  set_attr(n, "axis", int64_t{-1});
}

// ---------------------------------------------------------------------------------------------
// Shape and data movement.

// Target shape: the shape input (int32; cast to int64), else the new_shape option, else the output's
// static shape. TFLite has no "0 copies the dim" rule, hence allowzero = 1.
void lower_reshape(L& op) {
  require_inputs(op, 1);
  std::string shape;
  if (!op.input(1).empty() && op.constant_input(1)) {
    shape = int64_constant(op, "shape", constant_ints(op, 1, "shape"));
  } else if (!op.input(1).empty()) {
    shape = op.output(0) + "/shape_i64";
    Node& cast = op.emit("Cast", {op.input(1)}, {shape});
    set_attr(cast, "to", int64_t{onnx_from_dtype(DType::kI64)});
  } else if (const auto* o = op.op().builtin_options_as_ReshapeOptions(); o && o->new_shape()) {
    shape = int64_constant(op, "shape", std::vector<int64_t>(o->new_shape()->begin(), o->new_shape()->end()));
  } else {
    const ValueInfo* out = op.output_info(0);
    shape = int64_constant(op, "shape", out->shape);
  }
  Node& n = op.emit("Reshape", {op.input(0), shape}, {op.output(0)});
  set_attr(n, "allowzero", int64_t{1});
}

void lower_squeeze(L& op) {
  require_inputs(op, 1);
  const auto* o = op.op().builtin_options_as_SqueezeOptions();
  std::vector<std::string> inputs{op.input(0)};
  if (o && o->squeeze_dims() && o->squeeze_dims()->size() > 0)
    inputs.push_back(int64_constant(op, "axes", std::vector<int64_t>(o->squeeze_dims()->begin(), o->squeeze_dims()->end())));
  op.emit("Squeeze", inputs, {op.output(0)});
}

void lower_expand_dims(L& op) {
  require_inputs(op, 2);
  op.emit("Unsqueeze", {op.input(0), int64_constant(op, "axes", constant_ints(op, 1, "axis"))}, {op.output(0)});
}

void lower_transpose(L& op) {
  require_inputs(op, 2);
  Node& n = op.emit("Transpose", {op.input(0)}, {op.output(0)});
  set_attr(n, "perm", constant_ints(op, 1, "perm"));
}

void lower_concatenation(L& op) {
  const auto& o = options(op, op.op().builtin_options_as_ConcatenationOptions(), "ConcatenationOptions");
  if (op.num_inputs() == 0) op.fail("has no inputs");
  std::vector<std::string> inputs;
  for (size_t i = 0; i < op.num_inputs(); ++i) inputs.push_back(info_of_input(op, i).name);
  const auto act = o.fused_activation_function();
  Node& n = op.emit("Concat", inputs, {main_output(op, act)});
  fuse_quantized_activation(op, n, act);
  set_attr(n, "axis", int64_t{o.axis()});
  fused_activation(op, act);
}

void lower_gather(L& op) {
  const auto* o = op.op().builtin_options_as_GatherOptions();
  require_inputs(op, 2);
  if (o && o->batch_dims() != 0)
    throw UnsupportedError("operator " + std::to_string(op.index()) + " (GATHER): batch_dims is not supported", op.op_name());
  Node& n = op.emit("Gather", {op.input(0), op.input(1)}, {op.output(0)});
  set_attr(n, "axis", int64_t{o ? o->axis() : 0});
}

// SLICE(x, begin, size): size -1 means "to the end".
void lower_slice(L& op) {
  require_inputs(op, 3);
  const std::vector<int64_t> begin = constant_ints(op, 1, "begin"), size = constant_ints(op, 2, "size");
  if (begin.size() != size.size()) op.fail("begin and size differ in length");
  std::vector<int64_t> end;
  for (size_t i = 0; i < begin.size(); ++i)
    end.push_back(size[i] < 0 ? std::numeric_limits<int64_t>::max() : begin[i] + size[i]);
  op.emit("Slice", {op.input(0), int64_constant(op, "starts", begin), int64_constant(op, "ends", end)}, {op.output(0)});
}

void lower_tile(L& op) {
  require_inputs(op, 2);
  op.emit("Tile", {op.input(0), int64_constant(op, "repeats", constant_ints(op, 1, "multiples"))}, {op.output(0)});
}

void lower_broadcast_to(L& op) {
  require_inputs(op, 2);
  op.emit("Expand", {op.input(0), int64_constant(op, "shape", constant_ints(op, 1, "shape"))}, {op.output(0)});
}

// PACK: Unsqueeze every input at `axis`, then Concat.
void lower_pack(L& op) {
  const auto& o = options(op, op.op().builtin_options_as_PackOptions(), "PackOptions");
  if (op.num_inputs() == 0) op.fail("has no inputs");
  const std::string axes = int64_constant(op, "axes", {o.axis()});
  std::vector<std::string> parts;
  for (size_t i = 0; i < op.num_inputs(); ++i) {
    parts.push_back(op.output(0) + "/unsqueezed_" + std::to_string(i));
    op.emit("Unsqueeze", {info_of_input(op, i).name, axes}, {parts.back()});
  }
  Node& n = op.emit("Concat", parts, {op.output(0)});
  set_attr(n, "axis", int64_t{o.axis()});
}

// SPLIT(axis, x) into num_splits equal parts.
void lower_split(L& op) {
  require_inputs(op, 2);
  const std::vector<int64_t> axis = constant_ints(op, 0, "axis");
  if (axis.size() != 1) op.fail("axis must be a single value");
  std::vector<std::string> outs;
  for (size_t i = 0; i < op.num_outputs(); ++i) outs.push_back(op.output(i));
  Node& n = op.emit("Split", {op.input(1)}, outs);
  set_attr(n, "axis", axis[0]);
}

// SPLIT_V(x, size_splits, axis).
void lower_split_v(L& op) {
  require_inputs(op, 3);
  const std::vector<int64_t> axis = constant_ints(op, 2, "axis");
  if (axis.size() != 1) op.fail("axis must be a single value");
  std::vector<std::string> outs;
  for (size_t i = 0; i < op.num_outputs(); ++i) outs.push_back(op.output(i));
  std::vector<int64_t> sizes = constant_ints(op, 1, "size_splits");
  const ValueInfo& x = info_of_input(op, 0);
  const int64_t a = axis[0] < 0 ? axis[0] + static_cast<int64_t>(x.shape.size()) : axis[0];
  if (a < 0 || a >= static_cast<int64_t>(x.shape.size())) op.fail("axis out of range");
  int64_t known = 0, unknown = -1;
  for (size_t i = 0; i < sizes.size(); ++i) {
    if (sizes[i] == -1) unknown = static_cast<int64_t>(i);
    else known += sizes[i];
  }
  if (unknown >= 0) sizes[static_cast<size_t>(unknown)] = x.shape[static_cast<size_t>(a)] - known;  // one -1 takes the rest
  Node& n = op.emit("Split", {op.input(0), int64_constant(op, "split", sizes)}, outs);
  set_attr(n, "axis", a);
}

// Paddings [rank, 2] (begin, end per dim) -> ONNX pads [begins..., ends...].
std::string onnx_pads(L& op) {
  const std::vector<int64_t> p = constant_ints(op, 1, "paddings");
  const size_t rank = info_of_input(op, 0).shape.size();
  if (p.size() != 2 * rank) op.fail("paddings must be [" + std::to_string(rank) + ", 2]");
  std::vector<int64_t> pads(2 * rank);
  for (size_t d = 0; d < rank; ++d) {
    pads[d] = p[2 * d];
    pads[rank + d] = p[2 * d + 1];
  }
  return int64_constant(op, "pads", pads);
}

void lower_pad(L& op) {
  require_inputs(op, 2);
  op.emit("Pad", {op.input(0), onnx_pads(op)}, {op.output(0)});
}

void lower_padv2(L& op) {
  require_inputs(op, 2);
  op.emit("Pad", trimmed({op.input(0), onnx_pads(op), op.input(2)}), {op.output(0)});
}

// REFLECT mirrors without repeating the edge (ONNX "reflect"); SYMMETRIC repeats it: no ONNX mode,
// so the IR extends Pad with mode "symmetric" (runtime/kernels/pad.cpp).
void lower_mirror_pad(L& op) {
  const auto* o = op.op().builtin_options_as_MirrorPadOptions();
  require_inputs(op, 2);
  const bool symmetric = o && o->mode() == tflite::MirrorPadMode::SYMMETRIC;
  Node& n = op.emit("Pad", {op.input(0), onnx_pads(op)}, {op.output(0)});
  set_attr(n, "mode", std::string(symmetric ? "symmetric" : "reflect"));
}

// Reductions: axes from the constant second input. ReduceSum takes them as an int64 input (opset
// 13+), the others as an attribute (until opset 18).
void lower_reduce(L& op, const char* onnx_op) {
  const auto* o = op.op().builtin_options_as_ReducerOptions();
  require_inputs(op, 2);
  const std::vector<int64_t> axes = constant_ints(op, 1, "axes");
  std::vector<std::string> inputs{op.input(0)};
  const bool axes_input = std::string(onnx_op) == "ReduceSum";
  if (axes_input) inputs.push_back(int64_constant(op, "axes", axes));
  Node& n = op.emit(onnx_op, inputs, {op.output(0)});
  if (!axes_input) set_attr(n, "axes", axes);
  set_attr(n, "keepdims", int64_t{o && o->keep_dims() ? 1 : 0});
  // An empty axes list reduces nothing in TFLite (ONNX would reduce everything).
  if (axes.empty()) set_attr(n, "noop_with_empty_axes", int64_t{1});
}
void lower_mean(L& op) { lower_reduce(op, "ReduceMean"); }
void lower_sum(L& op) { lower_reduce(op, "ReduceSum"); }
void lower_reduce_max(L& op) { lower_reduce(op, "ReduceMax"); }
void lower_reduce_min(L& op) { lower_reduce(op, "ReduceMin"); }
void lower_reduce_prod(L& op) { lower_reduce(op, "ReduceProd"); }

void lower_arg(L& op, const char* onnx_op) {
  require_inputs(op, 2);
  const std::vector<int64_t> axis = constant_ints(op, 1, "axis");
  if (axis.size() != 1) op.fail("axis must be a single value");
  const ValueInfo* out = op.output_info(0);
  const bool cast = out && out->dtype != DType::kI64;
  const std::string index = cast ? op.output(0) + "/int64" : op.output(0);
  Node& n = op.emit(onnx_op, {op.input(0)}, {index});
  set_attr(n, "axis", axis[0]);
  set_attr(n, "keepdims", int64_t{0});
  if (cast) {
    Node& c = op.emit("Cast", {index}, {op.output(0)});
    set_attr(c, "to", int64_t{onnx_from_dtype(out->dtype)});
  }
}
void lower_arg_max(L& op) { lower_arg(op, "ArgMax"); }
void lower_arg_min(L& op) { lower_arg(op, "ArgMin"); }

void lower_cast(L& op) {
  require_inputs(op, 1);
  Node& n = op.emit("Cast", {op.input(0)}, {op.output(0)});
  set_attr(n, "to", int64_t{onnx_from_dtype(op.output_info(0)->dtype)});
}

void lower_shape(L& op) {
  require_inputs(op, 1);
  const ValueInfo* out = op.output_info(0);
  const bool cast = out->dtype != DType::kI64;
  const std::string shape = cast ? op.output(0) + "/int64" : op.output(0);
  op.emit("Shape", {op.input(0)}, {shape});
  if (cast) {
    Node& c = op.emit("Cast", {shape}, {op.output(0)});
    set_attr(c, "to", int64_t{onnx_from_dtype(out->dtype)});
  }
}

void lower_batch_matmul(L& op) {
  const auto* o = op.op().builtin_options_as_BatchMatMulOptions();
  require_inputs(op, 2);
  if (o && (o->adj_x() || o->adj_y()))
    throw UnsupportedError("operator " + std::to_string(op.index()) + " (BATCH_MATMUL): adj_x / adj_y are not supported",
                           op.op_name());
  op.emit("MatMul", {op.input(0), op.input(1)}, {op.output(0)});
}

// ---------------------------------------------------------------------------------------------
// Block rearrangements, strided slices, normalizations (NHWC, spelled with Reshape / Transpose /
// Slice / reductions so that they run on existing kernels and fold back when written).

// Reshape node to a static shape.
std::string reshape_to(L& op, const std::string& x, const Shape& shape, const std::string& out, const std::string& what) {
  Node& n = op.emit("Reshape", {x, int64_constant(op, what, shape)}, {out});
  set_attr(n, "allowzero", int64_t{1});
  return out;
}

std::string transpose_to(L& op, const std::string& x, const std::vector<int64_t>& perm, const std::string& out) {
  Node& n = op.emit("Transpose", {x}, {out});
  set_attr(n, "perm", perm);
  return out;
}

// Block sizes and paddings beyond this are not meaningful and would overflow shape arithmetic.
constexpr int64_t kMaxBlock = 1 << 16, kMaxPadding = 1 << 24;

int64_t block_size_of(const L& op, int64_t block) {
  if (block < 1 || block > kMaxBlock) op.fail("block size must be in [1, " + std::to_string(kMaxBlock) + "], got " + std::to_string(block));
  return block;
}

// DEPTH_TO_SPACE (NHWC): out[n, h*b + i, w*b + j, c] = in[n, h, w, (i*b + j)*C' + c].
void lower_depth_to_space(L& op) {
  const auto& o = options(op, op.op().builtin_options_as_DepthToSpaceOptions(), "DepthToSpaceOptions");
  require_inputs(op, 1);
  require_rank(op, 0, 4, "input");
  const int64_t b = block_size_of(op, o.block_size());
  const Shape& x = op.input_info(0)->shape;
  if (x[3] % (b * b) != 0) op.fail("depth " + std::to_string(x[3]) + " is not divisible by block_size^2");
  const std::string base = op.output(0);
  std::string v = reshape_to(op, op.input(0), {x[0], x[1], x[2], b, b, x[3] / (b * b)}, base + "/blocks", "block_shape");
  v = transpose_to(op, v, {0, 1, 3, 2, 4, 5}, base + "/interleaved");
  reshape_to(op, v, {x[0], x[1] * b, x[2] * b, x[3] / (b * b)}, base, "out_shape");
}

// SPACE_TO_DEPTH (NHWC): the inverse of DEPTH_TO_SPACE.
void lower_space_to_depth(L& op) {
  const auto& o = options(op, op.op().builtin_options_as_SpaceToDepthOptions(), "SpaceToDepthOptions");
  require_inputs(op, 1);
  require_rank(op, 0, 4, "input");
  const int64_t b = block_size_of(op, o.block_size());
  const Shape& x = op.input_info(0)->shape;
  if (x[1] % b != 0 || x[2] % b != 0) op.fail("height and width of " + shape_str(x) + " are not divisible by block_size");
  const std::string base = op.output(0);
  std::string v = reshape_to(op, op.input(0), {x[0], x[1] / b, b, x[2] / b, b, x[3]}, base + "/blocks", "block_shape");
  v = transpose_to(op, v, {0, 1, 3, 2, 4, 5}, base + "/gathered");
  reshape_to(op, v, {x[0], x[1] / b, x[2] / b, b * b * x[3]}, base, "out_shape");
}

// SPACE_TO_BATCH_ND (4-D NHWC, block [bh, bw], paddings [2, 2]): pad H and W, then
// out[(i*bw + j)*N + n, h, w, c] = padded[n, h*bh + i, w*bw + j, c].
void lower_space_to_batch_nd(L& op) {
  require_inputs(op, 3);
  require_rank(op, 0, 4, "input");
  const std::vector<int64_t> block = constant_ints(op, 1, "block_shape"), pads = constant_ints(op, 2, "paddings");
  if (block.size() != 2 || pads.size() != 4) op.fail("only 2 spatial dims (block_shape [2], paddings [2, 2]) are supported");
  for (int64_t b : block) block_size_of(op, b);
  for (int64_t p : pads) if (p < 0 || p > kMaxPadding) op.fail("paddings must be in [0, " + std::to_string(kMaxPadding) + "]");
  const Shape& x = op.input_info(0)->shape;
  const int64_t h = x[1] + pads[0] + pads[1], w = x[2] + pads[2] + pads[3];
  if (h % block[0] != 0 || w % block[1] != 0) op.fail("padded size is not divisible by block_shape");
  const std::string base = op.output(0);
  std::string v = op.input(0);
  if (pads[0] || pads[1] || pads[2] || pads[3]) {
    v = base + "/padded";
    op.emit("Pad", {op.input(0), int64_constant(op, "pads", {0, pads[0], pads[2], 0, 0, pads[1], pads[3], 0})}, {v});
  }
  v = reshape_to(op, v, {x[0], h / block[0], block[0], w / block[1], block[1], x[3]}, base + "/blocks", "block_shape");
  v = transpose_to(op, v, {2, 4, 0, 1, 3, 5}, base + "/batched");
  reshape_to(op, v, {block[0] * block[1] * x[0], h / block[0], w / block[1], x[3]}, base, "out_shape");
}

// BATCH_TO_SPACE_ND (4-D NHWC, block [bh, bw], crops [2, 2]): the inverse, then crop.
void lower_batch_to_space_nd(L& op) {
  require_inputs(op, 3);
  require_rank(op, 0, 4, "input");
  const std::vector<int64_t> block = constant_ints(op, 1, "block_shape"), crops = constant_ints(op, 2, "crops");
  if (block.size() != 2 || crops.size() != 4) op.fail("only 2 spatial dims (block_shape [2], crops [2, 2]) are supported");
  for (int64_t b : block) block_size_of(op, b);
  const Shape& x = op.input_info(0)->shape;
  if (x[0] % (block[0] * block[1]) != 0) op.fail("batch is not divisible by the block size");
  const int64_t n = x[0] / (block[0] * block[1]), h = x[1] * block[0], w = x[2] * block[1];
  for (int64_t c : crops) if (c < 0 || c > kMaxPadding) op.fail("crops must be in [0, " + std::to_string(kMaxPadding) + "]");
  if (crops[0] + crops[1] > h || crops[2] + crops[3] > w) op.fail("crops are larger than the output");
  const std::string base = op.output(0);
  const bool crop = crops[0] || crops[1] || crops[2] || crops[3];
  std::string v = reshape_to(op, op.input(0), {block[0], block[1], n, x[1], x[2], x[3]}, base + "/blocks", "block_shape");
  v = transpose_to(op, v, {2, 3, 0, 4, 1, 5}, base + "/spaced");
  v = reshape_to(op, v, {n, h, w, x[3]}, crop ? base + "/uncropped" : base, "out_shape");
  if (crop)
    op.emit("Slice", {v, int64_constant(op, "starts", {crops[0], crops[2]}),
                      int64_constant(op, "ends", {h - crops[1], w - crops[3]}), int64_constant(op, "axes", {1, 2})},
            {base});
}

// STRIDED_SLICE with begin/end/ellipsis/new_axis/shrink_axis masks: the spec is expanded to one
// (begin, end, stride) per input dim, sliced with ONNX Slice (which clamps like TFLite), and a
// Reshape to the output's static shape inserts new axes and drops shrunk ones.
void lower_strided_slice(L& op) {
  const auto& o = options(op, op.op().builtin_options_as_StridedSliceOptions(), "StridedSliceOptions");
  require_inputs(op, 4);
  if (o.offset())
    throw UnsupportedError("operator " + std::to_string(op.index()) + " (STRIDED_SLICE): offset = true is not supported", op.op_name());
  const std::vector<int64_t> begin = constant_ints(op, 1, "begin"), end = constant_ints(op, 2, "end"),
                             strides = constant_ints(op, 3, "strides");
  const size_t n = begin.size();
  if (end.size() != n || strides.size() != n) op.fail("begin, end and strides differ in length");
  if (n > 32) op.fail("more than 32 slice entries");
  const Shape& x = op.input_info(0)->shape;
  const size_t rank = x.size();
  auto bit = [](int32_t mask, size_t i) { return (mask >> i) & 1; };
  size_t new_axes = 0, ellipses = 0;
  for (size_t i = 0; i < n; ++i) new_axes += bit(o.new_axis_mask(), i) && !bit(o.ellipsis_mask(), i), ellipses += bit(o.ellipsis_mask(), i);
  if (ellipses > 1) op.fail("more than one ellipsis");
  if (n - ellipses - new_axes > rank) op.fail("slice spec has more entries than the input has dims");
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max(), kMin = std::numeric_limits<int64_t>::min();
  std::vector<int64_t> starts, ends, axes, steps;
  size_t dim = 0;
  for (size_t i = 0; i < n; ++i) {
    if (bit(o.ellipsis_mask(), i)) {
      dim += rank - (n - ellipses - new_axes);  // the ellipsis covers the dims no other entry names
      continue;
    }
    if (bit(o.new_axis_mask(), i)) continue;
    if (dim >= rank) op.fail("slice spec names more dims than the input has");
    const int64_t stride = strides[i];
    if (stride == 0) op.fail("stride 0");
    const int64_t d = x[dim];
    int64_t s = begin[i], e = end[i], step = stride;
    if (bit(o.shrink_axis_mask(), i)) {
      s = s < 0 ? s + d : s;
      if (s < 0 || s >= d) op.fail("shrink index " + std::to_string(begin[i]) + " out of range for dim of size " + std::to_string(d));
      e = s + 1;
      step = 1;
    } else {
      if (bit(o.begin_mask(), i)) s = stride > 0 ? 0 : kMax;
      if (bit(o.end_mask(), i)) e = stride > 0 ? kMax : kMin;
    }
    starts.push_back(s), ends.push_back(e), axes.push_back(static_cast<int64_t>(dim)), steps.push_back(step);
    ++dim;
  }
  const std::string sliced = op.output(0) + "/sliced";
  op.emit("Slice", {op.input(0), int64_constant(op, "starts", starts), int64_constant(op, "ends", ends),
                    int64_constant(op, "axes", axes), int64_constant(op, "steps", steps)}, {sliced});
  reshape_to(op, sliced, op.output_info(0)->shape, op.output(0), "out_shape");
}

// L2_NORMALIZATION over the last axis: x / sqrt(max(sum(x^2), 1e-6)) (TFLite's epsilon).
void lower_l2_normalization(L& op) {
  const auto* o = op.op().builtin_options_as_L2NormOptions();
  require_inputs(op, 1);
  const auto act = o ? o->fused_activation_function() : ActivationFunctionType::NONE;
  const std::string base = op.output(0);
  op.emit("Mul", {op.input(0), op.input(0)}, {base + "/squared"});
  Node& sum = op.emit("ReduceSum", {base + "/squared", int64_constant(op, "axes", {-1})}, {base + "/sum"});
  set_attr(sum, "keepdims", int64_t{1});
  op.emit("Max", {base + "/sum", float_constant(op, "epsilon", 1e-6)}, {base + "/clamped"});
  op.emit("Sqrt", {base + "/clamped"}, {base + "/norm"});
  op.emit("Div", {op.input(0), base + "/norm"}, {main_output(op, act)});
  fused_activation(op, act);
}

// LOCAL_RESPONSE_NORMALIZATION over the last (channel) axis: x / (bias + alpha * sum_{|k| <= r} x^2)^beta.
// ONNX LRN normalizes axis 1 and divides alpha by size = 2r + 1: Transpose to NCHW and back.
void lower_local_response_normalization(L& op) {
  const auto& o = options(op, op.op().builtin_options_as_LocalResponseNormalizationOptions(), "LocalResponseNormalizationOptions");
  require_inputs(op, 1);
  require_rank(op, 0, 4, "input");
  if (o.radius() < 0) op.fail("radius must be >= 0");
  const int64_t size = 2 * static_cast<int64_t>(o.radius()) + 1;
  const std::string base = op.output(0);
  std::string v = transpose_to(op, op.input(0), {0, 3, 1, 2}, base + "/nchw");
  Node& n = op.emit("LRN", {v}, {base + "/normalized_nchw"});
  set_attr(n, "size", size);
  set_attr(n, "alpha", static_cast<double>(o.alpha()) * static_cast<double>(size));
  set_attr(n, "beta", static_cast<double>(o.beta()));
  set_attr(n, "bias", static_cast<double>(o.bias()));
  transpose_to(op, base + "/normalized_nchw", {0, 2, 3, 1}, base);
}

// UNPACK: Split along `axis` into `num` parts, each Squeezed.
void lower_unpack(L& op) {
  const auto& o = options(op, op.op().builtin_options_as_UnpackOptions(), "UnpackOptions");
  require_inputs(op, 1);
  const Shape& x = op.input_info(0)->shape;
  const int64_t rank = static_cast<int64_t>(x.size());
  const int64_t axis = o.axis() < 0 ? o.axis() + rank : o.axis();
  if (axis < 0 || axis >= rank) op.fail("axis out of range");
  if (static_cast<int64_t>(op.num_outputs()) != x[static_cast<size_t>(axis)])
    op.fail(std::to_string(op.num_outputs()) + " outputs for a dim of size " + std::to_string(x[static_cast<size_t>(axis)]));
  std::vector<std::string> parts;
  for (size_t i = 0; i < op.num_outputs(); ++i) parts.push_back(op.output(i) + "/part");
  Node& split = op.emit("Split", {op.input(0), int64_constant(op, "split", std::vector<int64_t>(op.num_outputs(), 1))}, parts);
  set_attr(split, "axis", axis);
  const std::string axes = int64_constant(op, "axes", {axis});
  for (size_t i = 0; i < op.num_outputs(); ++i) op.emit("Squeeze", {parts[i], axes}, {op.output(i)});
}

// GELU: 0.5 x (1 + erf(x / sqrt 2)); approximate: 0.5 x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3))).
void lower_gelu(L& op) {
  const auto* o = op.op().builtin_options_as_GeluOptions();
  require_inputs(op, 1);
  const std::string x = op.input(0), base = op.output(0);
  std::string inner;
  if (o && o->approximate()) {
    op.emit("Mul", {x, x}, {base + "/x2"});
    op.emit("Mul", {base + "/x2", x}, {base + "/x3"});
    op.emit("Mul", {base + "/x3", float_constant(op, "c", 0.044715)}, {base + "/cx3"});
    op.emit("Add", {x, base + "/cx3"}, {base + "/poly"});
    op.emit("Mul", {base + "/poly", float_constant(op, "k", std::sqrt(2.0 / M_PI))}, {base + "/arg"});
    op.emit("Tanh", {base + "/arg"}, {base + "/t"});
    inner = base + "/t";
  } else {
    op.emit("Mul", {x, float_constant(op, "inv_sqrt2", 1.0 / std::sqrt(2.0))}, {base + "/arg"});
    op.emit("Erf", {base + "/arg"}, {base + "/t"});
    inner = base + "/t";
  }
  op.emit("Add", {inner, float_constant(op, "one", 1.0)}, {base + "/one_plus"});
  op.emit("Mul", {x, base + "/one_plus"}, {base + "/x_one_plus"});
  op.emit("Mul", {base + "/x_one_plus", float_constant(op, "half", 0.5)}, {base});
}

// ---------------------------------------------------------------------------------------------
// Resize. Sizes [new_h, new_w] -> ONNX sizes [N, new_h, new_w, C]: the NHWC layout needs no
// attribute since Resize treats every axis alike.
//
// Bilinear: TFLite samples at x * scale (scale = in / out), (x + 0.5) * scale - 0.5 with
// half_pixel_centers, or x * (in - 1) / (out - 1) with align_corners, clamping to the edge: ONNX
// asymmetric / half_pixel / align_corners.
// Nearest (TFLite reference GetNearestNeighbor): floor(x * scale) -> asymmetric + floor;
// half_pixel_centers: floor((x + 0.5) * scale) -> tf_half_pixel_for_nn + floor; align_corners:
// round-half-away-from-zero(x * (in - 1) / (out - 1)), and coordinates are >= 0 -> align_corners +
// round_prefer_ceil.
template <typename Opts>
void lower_resize(L& op, const Opts* o, bool nearest) {
  require_inputs(op, 2);
  require_rank(op, 0, 4, "input");
  const std::vector<int64_t> size = constant_ints(op, 1, "size");
  if (size.size() != 2) op.fail("size must have 2 values");
  const Shape& x = op.input_info(0)->shape;
  const bool align = o && o->align_corners(), half = o && o->half_pixel_centers();
  if (align && half)
    throw UnsupportedError("operator " + std::to_string(op.index()) + " (" + op.op_name() +
                           "): align_corners together with half_pixel_centers is not supported", op.op_name());
  const std::string sizes = int64_constant(op, "sizes", {x[0], size[0], size[1], x[3]});
  Node& n = op.emit("Resize", {op.input(0), "", "", sizes}, {op.output(0)});
  set_attr(n, "mode", std::string(nearest ? "nearest" : "linear"));
  std::string coord = align ? "align_corners" : half ? (nearest ? "tf_half_pixel_for_nn" : "half_pixel") : "asymmetric";
  set_attr(n, "coordinate_transformation_mode", coord);
  if (nearest) set_attr(n, "nearest_mode", std::string(align ? "round_prefer_ceil" : "floor"));
}
void lower_resize_bilinear(L& op) { lower_resize(op, op.op().builtin_options_as_ResizeBilinearOptions(), false); }
void lower_resize_nearest_neighbor(L& op) {
  lower_resize(op, op.op().builtin_options_as_ResizeNearestNeighborOptions(), true);
}

// ---------------------------------------------------------------------------------------------
// Quantization.

// Scale and zero point of a quantized tensor as constants: scalars per tensor, vectors per axis.
std::pair<std::string, std::string> quant_constants(L& op, const ValueInfo& v, const std::string& what) {
  if (!v.quant) op.fail("tensor '" + v.name + "' has no quantization parameters");
  const QuantParams& q = *v.quant;
  const Shape shape = q.per_axis() ? Shape{static_cast<int64_t>(q.scale.size())} : Shape{};
  Tensor scale = Tensor::from_vector<float>(q.scale, shape);
  std::vector<double> zp(q.zero_point.begin(), q.zero_point.end());
  Tensor zero = Tensor::from_vector<double>(zp, shape).cast(v.dtype);
  return {op.add_constant(what + "_scale", scale), op.add_constant(what + "_zero_point", zero)};
}

// DEQUANTIZE: float16 -> float32 is a Cast; int8/uint8/int16 -> DequantizeLinear with the input's
// parameters.
void lower_dequantize(L& op) {
  require_inputs(op, 1);
  const ValueInfo& x = info_of_input(op, 0);
  if (is_float(x.dtype)) {
    Node& n = op.emit("Cast", {op.input(0)}, {op.output(0)});
    set_attr(n, "to", int64_t{onnx_from_dtype(op.output_info(0)->dtype)});
    return;
  }
  auto [scale, zero] = quant_constants(op, x, "input");
  Node& n = op.emit("DequantizeLinear", {op.input(0), scale, zero}, {op.output(0)});
  if (x.quant->per_axis()) set_attr(n, "axis", x.quant->axis);
}

// QUANTIZE: float -> QuantizeLinear with the output's parameters, rounding half away from zero as
// TFLite does; integer -> integer (requantize, per tensor) -> QuantizeLinear in the quantized
// domain, reading only x: both sides' parameters are their tensors' (quantized_requantize.cpp).
void lower_quantize(L& op) {
  require_inputs(op, 1);
  const ValueInfo& x = info_of_input(op, 0);
  const ValueInfo& y = *op.output_info(0);
  if (!is_float(x.dtype)) {
    if (!x.quant || !y.quant) op.fail("integer input and output need quantization parameters");
    op.set_domain(kTfliteQuantizedDomain);
    op.emit("QuantizeLinear", {op.input(0)}, {op.output(0)});
    op.set_domain("");
    return;
  }
  auto [scale, zero] = quant_constants(op, y, "output");
  Node& n = op.emit("QuantizeLinear", {op.input(0), scale, zero}, {op.output(0)});
  if (y.quant->per_axis()) set_attr(n, "axis", y.quant->axis);
  set_attr(n, "rounding", std::string("half_away_from_zero"));
}

// ---------------------------------------------------------------------------------------------

using LowerFn = void (*)(L&);

const std::unordered_map<std::string, LowerFn>& lowering_table() {
  static const std::unordered_map<std::string, LowerFn> table{
      {"ADD", lower_add}, {"SUB", lower_sub}, {"MUL", lower_mul}, {"DIV", lower_div},
      {"MAXIMUM", lower_maximum}, {"MINIMUM", lower_minimum}, {"POW", lower_pow},
      {"SQUARED_DIFFERENCE", lower_squared_difference}, {"PRELU", lower_prelu},
      {"LESS", lower_less}, {"GREATER", lower_greater}, {"LESS_EQUAL", lower_less_equal},
      {"GREATER_EQUAL", lower_greater_equal}, {"EQUAL", lower_equal},
      {"LOGICAL_AND", lower_logical_and}, {"LOGICAL_OR", lower_logical_or}, {"LOGICAL_NOT", lower_logical_not},
      {"SELECT", lower_select}, {"SELECT_V2", lower_select},
      {"RELU", lower_relu}, {"RELU6", lower_relu6}, {"RELU_N1_TO_1", lower_relu_n1_to_1},
      {"RELU_0_TO_1", lower_relu_0_to_1}, {"LEAKY_RELU", lower_leaky_relu}, {"LOGISTIC", lower_logistic},
      {"TANH", lower_tanh}, {"HARD_SWISH", lower_hard_swish}, {"ELU", lower_elu},
      {"EXP", lower_exp}, {"LOG", lower_log}, {"SQRT", lower_sqrt}, {"RSQRT", lower_rsqrt},
      {"SQUARE", lower_square}, {"ABS", lower_abs}, {"NEG", lower_neg}, {"FLOOR", lower_floor},
      {"CEIL", lower_ceil}, {"ROUND", lower_round}, {"SIN", lower_sin}, {"COS", lower_cos},
      {"SOFTMAX", lower_softmax}, {"LOG_SOFTMAX", lower_log_softmax},
      {"CONV_2D", lower_conv_2d}, {"DEPTHWISE_CONV_2D", lower_depthwise_conv_2d},
      {"TRANSPOSE_CONV", lower_transpose_conv}, {"AVERAGE_POOL_2D", lower_average_pool_2d},
      {"MAX_POOL_2D", lower_max_pool_2d}, {"L2_POOL_2D", lower_l2_pool_2d},
      {"FULLY_CONNECTED", lower_fully_connected},
      {"BATCH_MATMUL", lower_batch_matmul},
      {"RESHAPE", lower_reshape}, {"SQUEEZE", lower_squeeze}, {"EXPAND_DIMS", lower_expand_dims},
      {"TRANSPOSE", lower_transpose}, {"CONCATENATION", lower_concatenation}, {"GATHER", lower_gather},
      {"SLICE", lower_slice}, {"TILE", lower_tile}, {"BROADCAST_TO", lower_broadcast_to},
      {"PACK", lower_pack}, {"SPLIT", lower_split}, {"SPLIT_V", lower_split_v},
      {"PAD", lower_pad}, {"PADV2", lower_padv2}, {"MIRROR_PAD", lower_mirror_pad},
      {"MEAN", lower_mean}, {"SUM", lower_sum}, {"REDUCE_MAX", lower_reduce_max},
      {"REDUCE_MIN", lower_reduce_min}, {"REDUCE_PROD", lower_reduce_prod},
      {"ARG_MAX", lower_arg_max}, {"ARG_MIN", lower_arg_min}, {"CAST", lower_cast}, {"SHAPE", lower_shape},
      {"RESIZE_BILINEAR", lower_resize_bilinear}, {"RESIZE_NEAREST_NEIGHBOR", lower_resize_nearest_neighbor},
      {"DEQUANTIZE", lower_dequantize}, {"QUANTIZE", lower_quantize},
      {"DEPTH_TO_SPACE", lower_depth_to_space}, {"SPACE_TO_DEPTH", lower_space_to_depth},
      {"SPACE_TO_BATCH_ND", lower_space_to_batch_nd}, {"BATCH_TO_SPACE_ND", lower_batch_to_space_nd},
      {"STRIDED_SLICE", lower_strided_slice}, {"L2_NORMALIZATION", lower_l2_normalization},
      {"LOCAL_RESPONSE_NORMALIZATION", lower_local_response_normalization}, {"UNPACK", lower_unpack},
      {"GELU", lower_gelu},
  };
  return table;
}

// Operators whose result does not depend on quantization parameters (they move or convert values,
// and the converter gives input and output the same parameters), plus the (de)quantizers, which
// lower to kernels that exist. Every other operator touching a quantized integer tensor needs
// integer kernels.
const std::set<std::string> kQuantizationAgnostic{
    "DEQUANTIZE", "QUANTIZE", "RESHAPE", "SQUEEZE", "EXPAND_DIMS", "TRANSPOSE", "GATHER", "SLICE",
    "PACK", "SPLIT", "SPLIT_V", "TILE", "BROADCAST_TO", "SHAPE", "CAST"};

// Hybrid operators ("dynamic range quantization"): float activations, int8 constant weights. The
// weights get a DequantizeLinear node and the operator runs in float. (TFLite's hybrid kernels also
// quantize the activations on the fly, so its results differ from this float reading by about the
// activations' int8 rounding; docs/tflite.md.) Returns whether any input was dequantized.
bool dequantize_hybrid_weights(L& op) {
  bool float_activation = false;
  for (size_t i = 0; i < op.num_inputs(); ++i) {
    const ValueInfo* v = op.input_info(i);
    if (v && !op.constant_input(i) && is_float(v->dtype)) float_activation = true;
  }
  if (!float_activation || kQuantizationAgnostic.count(op.op_name())) return false;
  bool any = false;
  for (size_t i = 0; i < op.num_inputs(); ++i) {
    const ValueInfo* v = op.input_info(i);
    if (!v || !op.constant_input(i) || !is_integer(v->dtype) || !v->quant) continue;
    auto [scale, zero] = quant_constants(op, *v, "input" + std::to_string(i));
    const std::string value = v->name + "/dequantized";
    Node& n = op.emit("DequantizeLinear", {v->name, scale, zero}, {value});
    if (v->quant->per_axis()) set_attr(n, "axis", v->quant->axis);
    op.replace_input(i, value);
    any = true;
  }
  return any;
}

bool needs_integer_kernels(const L& op) {
  if (kQuantizationAgnostic.count(op.op_name())) return false;
  auto quantized = [](const ValueInfo* v) { return v && is_integer(v->dtype) && v->quant.has_value(); };
  for (size_t i = 0; i < op.num_inputs(); ++i)
    if (op.input(i) == (op.input_info(i) ? op.input_info(i)->name : "") && quantized(op.input_info(i))) return true;
  for (size_t i = 0; i < op.num_outputs(); ++i)
    if (quantized(op.output_info(i))) return true;
  return false;
}


}  // namespace

void lower_operator(OpLowering& op) {
  const auto& table = lowering_table();
  auto it = table.find(op.op_name());
  if (it == table.end())
    throw UnsupportedError("operator " + std::to_string(op.index()) + ": TFLite op " + op.op_name() +
                           " is not supported yet", op.op_name());
  dequantize_hybrid_weights(op);
  if (needs_integer_kernels(op)) op.set_domain(kTfliteQuantizedDomain);
  it->second(op);
  op.set_domain("");
}

}  // namespace tflite_lowering
}  // namespace transfix
