// Canonical IR nodes -> TFLite operators. The inverse of tflite_ops.cpp for nodes read from TFLite
// (a group of nodes with one provenance folds back into one operator) and the ONNX -> TFLite
// mapping for nodes of other formats (one node at a time, after prepare_for_tflite made
// convolutions NHWC). Shape-like inputs (axes, shapes, paddings, perms) are written as int32
// constants, as TFLite's kernels expect.
#include "formats/tflite/tflite_write_ops.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <set>
#include <unordered_map>

#include "core/errors.h"

namespace transfix::tflite_writing {
tflite::ActivationFunctionType activation_by_name(const Node& n, const std::string& name);

namespace {

using BO = tflite::BuiltinOperator;
using Opt = tflite::BuiltinOptions;
using Act = tflite::ActivationFunctionType;
using FBB = flatbuffers::FlatBufferBuilder;

std::string where(const Node& n) { return "node '" + n.name + "' (" + n.op_type + ")"; }

[[noreturn]] void unsupported(const Node& n, const std::string& why) {
  throw UnsupportedError("TFLite writer: " + where(n) + ": " + why, n.op_type);
}

TfOp make(BO code, std::vector<std::string> inputs, std::vector<std::string> outputs) {
  TfOp op;
  op.code = code;
  op.inputs = std::move(inputs);
  op.outputs = std::move(outputs);
  while (!op.inputs.empty() && op.inputs.back().empty()) op.inputs.pop_back();
  return op;
}

template <typename F>
TfOp with_options(TfOp op, Opt type, F build) {
  op.options_type = type;
  op.options = build;
  return op;
}

std::vector<int64_t> constant_ints(WriteContext& ctx, const Node& n, size_t i, const char* what) {
  const Tensor* t = n.has_input(i) ? ctx.constant(n.inputs[i]) : nullptr;
  if (!t) unsupported(n, std::string(what) + " must be a constant");
  return t->to_i64_vector();
}

// An int32 constant input (TFLite shape-like operands are int32).
std::string int32_input(WriteContext& ctx, const Node& n, const std::string& what, const std::vector<int64_t>& v,
                        Shape shape) {
  std::vector<int32_t> values;
  for (int64_t x : v) {
    if (x < std::numeric_limits<int32_t>::min() || x > std::numeric_limits<int32_t>::max())
      unsupported(n, what + " value " + std::to_string(x) + " does not fit int32");
    values.push_back(static_cast<int32_t>(x));
  }
  return ctx.add_constant(n.outputs[0] + "/" + what, Tensor::from_vector<int32_t>(values, std::move(shape)));
}
std::string int32_vector(WriteContext& ctx, const Node& n, const std::string& what, const std::vector<int64_t>& v) {
  return int32_input(ctx, n, what, v, Shape{static_cast<int64_t>(v.size())});
}

int64_t normalize_axis(const Node& n, int64_t axis, size_t rank) {
  const int64_t r = static_cast<int64_t>(rank);
  if (axis < -r || axis >= r) unsupported(n, "axis " + std::to_string(axis) + " out of range for rank " + std::to_string(r));
  return axis < 0 ? axis + r : axis;
}

tflite::TensorType tensor_type(const Node& n, DType t) {
  if (auto tt = tflite_tensor_type(t)) return *tt;
  unsupported(n, std::string("type ") + dtype_name(t) + " has no TFLite tensor type");
}

// ---------------------------------------------------------------------------------------------
// Padding: TFLite knows SAME (odd pixel at the end) and VALID only.

tflite::Padding padding_of(WriteContext& ctx, const Node& n) {
  const std::string auto_pad = n.attr_string("auto_pad", "NOTSET");
  if (auto_pad == "SAME_UPPER") return tflite::Padding::SAME;
  if (auto_pad == "VALID") return tflite::Padding::VALID;
  const std::vector<int64_t> pads = n.attr_ints("pads");
  bool zero = true;
  for (int64_t p : pads) zero = zero && p == 0;
  if (auto_pad == "NOTSET" && zero) return tflite::Padding::VALID;
  unsupported(n, "padding " + auto_pad + " with pads " + shape_str(pads) + " has no TFLite form (SAME_UPPER or VALID)");
}

// ---------------------------------------------------------------------------------------------
// Convolutions, pooling, fully connected.

TfOp map_conv(WriteContext& ctx, const Node& n) {
  if (n.attr_string("layout", "NCHW") != "NHWC") unsupported(n, "NCHW convolution (prepare_for_tflite makes it NHWC)");
  const std::string wl = n.attr_string("weight_layout", "");
  const std::vector<int64_t> s = n.attr_ints("strides", {1, 1}), d = n.attr_ints("dilations", {1, 1});
  if (s.size() != 2 || d.size() != 2) unsupported(n, "only 2-D convolutions have a TFLite form");
  const tflite::Padding pad = padding_of(ctx, n);
  std::string bias = n.has_input(2) ? n.inputs[2] : "";
  const Shape w = ctx.shape_of(n.inputs[1]);
  if (wl == "OHWI") {
    TfOp op = make(BO::CONV_2D, {n.inputs[0], n.inputs[1], bias}, {n.outputs[0]});
    op.fusable = true;
    return with_options(op, Opt::Conv2DOptions, [=](FBB& b, const TfOp& o) {
      return tflite::CreateConv2DOptions(b, pad, static_cast<int>(s[1]), static_cast<int>(s[0]), o.act,
                                         static_cast<int>(d[1]), static_cast<int>(d[0])).Union();
    });
  }
  if (wl == "1HWO") {
    const int64_t group = n.attr_int("group", 1);
    const int64_t multiplier = group > 0 ? w[3] / group : 1;
    TfOp op = make(BO::DEPTHWISE_CONV_2D, {n.inputs[0], n.inputs[1], bias}, {n.outputs[0]});
    op.fusable = true;
    return with_options(op, Opt::DepthwiseConv2DOptions, [=](FBB& b, const TfOp& o) {
      return tflite::CreateDepthwiseConv2DOptions(b, pad, static_cast<int>(s[1]), static_cast<int>(s[0]),
                                                  static_cast<int>(multiplier), o.act, static_cast<int>(d[1]),
                                                  static_cast<int>(d[0])).Union();
    });
  }
  unsupported(n, "weight_layout '" + wl + "' (expected OHWI or 1HWO)");
}

TfOp map_conv_transpose(WriteContext& ctx, const Node& n) {
  if (n.attr_string("layout", "NCHW") != "NHWC" || n.attr_string("weight_layout", "") != "OHWI")
    unsupported(n, "only NHWC ConvTranspose with OHWI weights has a TFLite form");
  const std::vector<int64_t> s = n.attr_ints("strides", {1, 1});
  tflite::Padding pad = tflite::Padding::VALID;
  if (n.has_attr("auto_pad")) pad = padding_of(ctx, n);
  const std::vector<int64_t> pads = n.attr_ints("pads");
  if (!pads.empty() && (pads[0] != 0 || pads[1] != 0)) unsupported(n, "pads at the start have no TFLite form");
  const std::string out_shape = int32_vector(ctx, n, "output_shape", ctx.shape_of(n.outputs[0]));
  TfOp op = make(BO::TRANSPOSE_CONV, {out_shape, n.inputs[1], n.inputs[0], n.has_input(2) ? n.inputs[2] : ""},
                 {n.outputs[0]});
  op.fusable = true;
  return with_options(op, Opt::TransposeConvOptions, [=](FBB& b, const TfOp& o) {
    return tflite::CreateTransposeConvOptions(b, pad, static_cast<int>(s[1]), static_cast<int>(s[0]), o.act).Union();
  });
}

TfOp map_pool(WriteContext& ctx, const Node& n, BO code) {
  if (n.attr_string("layout", "NCHW") != "NHWC") unsupported(n, "NCHW pooling (prepare_for_tflite makes it NHWC)");
  const std::vector<int64_t> k = n.attr_ints("kernel_shape"), s = n.attr_ints("strides", {1, 1});
  if (k.size() != 2 || s.size() != 2) unsupported(n, "only 2-D pooling has a TFLite form");
  for (int64_t d : n.attr_ints("dilations")) if (d != 1) unsupported(n, "dilated pooling has no TFLite form");
  if (n.attr_int("ceil_mode", 0) != 0) unsupported(n, "ceil_mode has no TFLite form");
  const tflite::Padding pad = padding_of(ctx, n);
  if (code == BO::AVERAGE_POOL_2D && pad == tflite::Padding::SAME && n.attr_int("count_include_pad", 0) != 0)
    unsupported(n, "count_include_pad = 1 (TFLite averages over the taps inside the input)");
  TfOp op = make(code, {n.inputs[0]}, {n.outputs[0]});
  op.fusable = true;
  return with_options(op, Opt::Pool2DOptions, [=](FBB& b, const TfOp& o) {
    return tflite::CreatePool2DOptions(b, pad, static_cast<int>(s[1]), static_cast<int>(s[0]), static_cast<int>(k[1]),
                                       static_cast<int>(k[0]), o.act).Union();
  });
}

TfOp fully_connected(std::string x, std::string w, std::string bias, std::string out) {
  TfOp op = make(BO::FULLY_CONNECTED, {std::move(x), std::move(w), std::move(bias)}, {std::move(out)});
  op.fusable = true;
  return with_options(op, Opt::FullyConnectedOptions, [](FBB& b, const TfOp& o) {
    return tflite::CreateFullyConnectedOptions(b, o.act, tflite::FullyConnectedOptionsWeightsFormat::DEFAULT,
                                               o.keep_num_dims).Union();
  });
}

// The constant B of Gemm / MatMul as TFLite's [O, I] weights.
std::string weights_oi(WriteContext& ctx, const Node& n, bool transposed) {
  const Tensor* b = ctx.constant(n.inputs[1]);
  if (!b || b->rank() != 2) unsupported(n, "B must be a constant matrix (TFLite FULLY_CONNECTED weights)");
  if (transposed) return n.inputs[1];
  if (b->dtype() != DType::kF32) unsupported(n, "only float32 weights are transposed");
  const int64_t rows = b->dim(0), cols = b->dim(1);
  Tensor t(DType::kF32, {cols, rows});
  const float* src = b->data<float>();
  float* dst = t.mutable_data<float>();
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) dst[c * rows + r] = src[r * cols + c];
  return ctx.add_constant(n.inputs[1] + "/transposed", std::move(t));
}

TfOp map_gemm(WriteContext& ctx, const Node& n) {
  if (n.attr_int("transA", 0) != 0 || n.attr_float("alpha", 1.0) != 1.0 || n.attr_float("beta", 1.0) != 1.0)
    unsupported(n, "transA, alpha or beta other than the defaults");
  const std::string w = weights_oi(ctx, n, n.attr_int("transB", 0) != 0);
  std::string bias = n.has_input(2) ? n.inputs[2] : "";
  if (!bias.empty() && ctx.shape_of(bias).size() != 1) {
    // A constant [1, O] bias (common in ONNX) is the same vector.
    const Tensor* c = ctx.constant(bias);
    const int64_t out_features = ctx.shape_of(w)[0];
    if (!c || c->numel() != out_features) unsupported(n, "C must be a constant with one value per output (TFLite bias)");
    bias = ctx.add_constant(bias + "/vector", c->reshaped({out_features}));
  }
  return fully_connected(n.inputs[0], w, bias, n.outputs[0]);
}

TfOp map_matmul(WriteContext& ctx, const Node& n) {
  const Tensor* b = ctx.constant(n.inputs[1]);
  if (b && b->rank() == 2 && ctx.shape_of(n.inputs[0]).size() == 2)
    return fully_connected(n.inputs[0], weights_oi(ctx, n, false), "", n.outputs[0]);
  return with_options(make(BO::BATCH_MATMUL, {n.inputs[0], n.inputs[1]}, {n.outputs[0]}), Opt::BatchMatMulOptions,
                      [](FBB& b, const TfOp&) { return tflite::CreateBatchMatMulOptions(b).Union(); });
}

// ---------------------------------------------------------------------------------------------
// Element-wise.

TfOp map_binary_act(const Node& n, BO code) {
  TfOp op = make(code, {n.inputs[0], n.inputs[1]}, {n.outputs[0]});
  op.fusable = true;
  switch (code) {
    case BO::ADD:
      return with_options(op, Opt::AddOptions, [](FBB& b, const TfOp& o) { return tflite::CreateAddOptions(b, o.act).Union(); });
    case BO::SUB:
      return with_options(op, Opt::SubOptions, [](FBB& b, const TfOp& o) { return tflite::CreateSubOptions(b, o.act).Union(); });
    case BO::MUL:
      return with_options(op, Opt::MulOptions, [](FBB& b, const TfOp& o) { return tflite::CreateMulOptions(b, o.act).Union(); });
    default:
      return with_options(op, Opt::DivOptions, [](FBB& b, const TfOp& o) { return tflite::CreateDivOptions(b, o.act).Union(); });
  }
}

// Clip with constant bounds: TFLite's RELU family when the bounds match, else MAXIMUM / MINIMUM.
std::vector<TfOp> map_clip(WriteContext& ctx, const Node& n) {
  auto bound = [&](size_t i, double def) {
    if (!n.has_input(i)) return def;
    const Tensor* t = ctx.constant(n.inputs[i]);
    if (!t || t->numel() != 1) unsupported(n, "bounds must be constant scalars");
    return t->to_f64_vector()[0];
  };
  const double inf = std::numeric_limits<double>::infinity();
  const double lo = n.has_attr("min") ? n.attr_float("min", -inf) : bound(1, -inf);
  const double hi = n.has_attr("max") ? n.attr_float("max", inf) : bound(2, inf);
  if (lo == 0 && hi == 6) return {make(BO::RELU6, {n.inputs[0]}, {n.outputs[0]})};
  if (lo == -1 && hi == 1) return {make(BO::RELU_N1_TO_1, {n.inputs[0]}, {n.outputs[0]})};
  if (lo == 0 && hi == 1) return {make(BO::RELU_0_TO_1, {n.inputs[0]}, {n.outputs[0]})};
  if (lo == 0 && hi == inf) return {make(BO::RELU, {n.inputs[0]}, {n.outputs[0]})};
  if (ctx.dtype_of(n.inputs[0]) != DType::kF32) unsupported(n, "non-float Clip with bounds other than TFLite's RELUs");
  std::vector<TfOp> ops;
  std::string x = n.inputs[0];
  if (lo != -inf) {
    const std::string mid = hi != inf ? n.outputs[0] + "/clip_low" : n.outputs[0];
    ops.push_back(make(BO::MAXIMUM, {x, ctx.add_constant(n.outputs[0] + "/min", Tensor::scalar<float>(float(lo)))}, {mid}));
    x = mid;
  }
  if (hi != inf) ops.push_back(make(BO::MINIMUM, {x, ctx.add_constant(n.outputs[0] + "/max", Tensor::scalar<float>(float(hi)))}, {n.outputs[0]}));
  if (ops.empty()) unsupported(n, "Clip without bounds");
  return ops;
}

const std::unordered_map<std::string, BO>& simple_ops() {
  // Same inputs, same outputs, no options.
  static const std::unordered_map<std::string, BO> table{
      {"Relu", BO::RELU}, {"Tanh", BO::TANH}, {"Sigmoid", BO::LOGISTIC}, {"HardSwish", BO::HARD_SWISH},
      {"Exp", BO::EXP}, {"Log", BO::LOG}, {"Sqrt", BO::SQRT}, {"Abs", BO::ABS}, {"Neg", BO::NEG},
      {"Floor", BO::FLOOR}, {"Ceil", BO::CEIL}, {"Round", BO::ROUND}, {"Sin", BO::SIN}, {"Cos", BO::COS},
      {"Not", BO::LOGICAL_NOT}, {"Max", BO::MAXIMUM}, {"Min", BO::MINIMUM}, {"Pow", BO::POW},
      {"PRelu", BO::PRELU}, {"Less", BO::LESS}, {"Greater", BO::GREATER}, {"LessOrEqual", BO::LESS_EQUAL},
      {"GreaterOrEqual", BO::GREATER_EQUAL}, {"Equal", BO::EQUAL}, {"And", BO::LOGICAL_AND},
      {"Or", BO::LOGICAL_OR}, {"Where", BO::SELECT_V2}, {"Gelu", BO::GELU},
  };
  return table;
}

// ---------------------------------------------------------------------------------------------
// Shape and data movement.

TfOp reshape_to(WriteContext& ctx, const Node& n, const std::string& x, const std::string& out) {
  const Shape shape = ctx.shape_of(out);
  const std::string s = int32_vector(ctx, n, "shape", shape);
  std::vector<int32_t> ns(shape.begin(), shape.end());
  return with_options(make(BO::RESHAPE, {x, s}, {out}), Opt::ReshapeOptions, [ns](FBB& b, const TfOp&) {
    return tflite::CreateReshapeOptions(b, b.CreateVector(ns)).Union();
  });
}

TfOp map_reduce(WriteContext& ctx, const Node& n, BO code) {
  std::vector<int64_t> axes = n.op_type == "ReduceSum" && n.has_input(1) ? constant_ints(ctx, n, 1, "axes") : n.attr_ints("axes");
  const size_t rank = ctx.shape_of(n.inputs[0]).size();
  if (axes.empty()) {
    if (n.attr_int("noop_with_empty_axes", 0)) unsupported(n, "reduction over no axes");
    for (size_t i = 0; i < rank; ++i) axes.push_back(static_cast<int64_t>(i));
  }
  const bool keep = n.attr_int("keepdims", 1) != 0;
  TfOp op = make(code, {n.inputs[0], int32_vector(ctx, n, "axes", axes)}, {n.outputs[0]});
  return with_options(op, Opt::ReducerOptions, [keep](FBB& b, const TfOp&) { return tflite::CreateReducerOptions(b, keep).Union(); });
}

TfOp map_global_average_pool(WriteContext& ctx, const Node& n) {
  const bool nhwc = n.attr_string("layout", "NCHW") == "NHWC";
  TfOp op = make(BO::MEAN, {n.inputs[0], int32_vector(ctx, n, "axes", nhwc ? std::vector<int64_t>{1, 2} : std::vector<int64_t>{2, 3})},
                 {n.outputs[0]});
  return with_options(op, Opt::ReducerOptions, [](FBB& b, const TfOp&) { return tflite::CreateReducerOptions(b, true).Union(); });
}

// ONNX pads [begins..., ends...] -> TFLite paddings [rank, 2].
std::string tflite_paddings(WriteContext& ctx, const Node& n) {
  const std::vector<int64_t> pads = n.has_input(1) ? constant_ints(ctx, n, 1, "pads") : n.attr_ints("pads");
  const size_t rank = ctx.shape_of(n.inputs[0]).size();
  if (pads.size() != 2 * rank) unsupported(n, "pads must have 2 * rank values");
  std::vector<int64_t> p;
  for (size_t d = 0; d < rank; ++d) {
    p.push_back(pads[d]);
    p.push_back(pads[rank + d]);
  }
  return int32_input(ctx, n, "paddings", p, Shape{static_cast<int64_t>(rank), 2});
}

TfOp map_pad(WriteContext& ctx, const Node& n) {
  const std::string mode = n.attr_string("mode", "constant");
  const std::string paddings = tflite_paddings(ctx, n);
  if (n.has_input(3)) unsupported(n, "the axes input has no TFLite form");
  if (mode == "reflect" || mode == "symmetric") {
    const auto m = mode == "reflect" ? tflite::MirrorPadMode::REFLECT : tflite::MirrorPadMode::SYMMETRIC;
    return with_options(make(BO::MIRROR_PAD, {n.inputs[0], paddings}, {n.outputs[0]}), Opt::MirrorPadOptions,
                        [m](FBB& b, const TfOp&) { return tflite::CreateMirrorPadOptions(b, m).Union(); });
  }
  if (mode != "constant") unsupported(n, "pad mode '" + mode + "' has no TFLite form");
  if (n.has_input(2)) return make(BO::PADV2, {n.inputs[0], paddings, n.inputs[2]}, {n.outputs[0]});
  return make(BO::PAD, {n.inputs[0], paddings}, {n.outputs[0]});
}

// Slice with unit steps -> SLICE(begin, size); other steps -> STRIDED_SLICE over every dim, with
// end_mask where a negative step runs past index 0 (no end index can say that).
TfOp map_slice(WriteContext& ctx, const Node& n) {
  const Shape x = ctx.shape_of(n.inputs[0]);
  const std::vector<int64_t> starts = constant_ints(ctx, n, 1, "starts"), ends = constant_ints(ctx, n, 2, "ends");
  std::vector<int64_t> axes, steps;
  if (n.has_input(3)) axes = constant_ints(ctx, n, 3, "axes");
  if (n.has_input(4)) steps = constant_ints(ctx, n, 4, "steps");
  if (ends.size() != starts.size() || (!axes.empty() && axes.size() != starts.size()) ||
      (!steps.empty() && steps.size() != starts.size()))
    unsupported(n, "starts, ends, axes and steps differ in length");
  std::vector<int64_t> begin(x.size(), 0), end(x.begin(), x.end()), stride(x.size(), 1);
  bool unit = true;
  int32_t end_mask = 0;
  for (size_t i = 0; i < starts.size(); ++i) {
    const size_t a = static_cast<size_t>(normalize_axis(n, axes.empty() ? static_cast<int64_t>(i) : axes[i], x.size()));
    const int64_t step = steps.empty() ? 1 : steps[i], dim = x[a];
    if (step == 0) unsupported(n, "step 0");
    unit = unit && step == 1;
    auto norm = [dim](int64_t v) { return v < 0 ? std::max<int64_t>(v, -dim - 1) + dim : v; };
    if (step > 0) {
      begin[a] = std::clamp(norm(starts[i]), int64_t{0}, dim);
      end[a] = std::clamp(norm(ends[i]), int64_t{0}, dim);
    } else {
      begin[a] = std::clamp(norm(starts[i]), int64_t{-1}, dim - 1);
      end[a] = std::clamp(norm(ends[i]), int64_t{-1}, dim - 1);
      if (end[a] < 0) end_mask |= 1 << a, end[a] = 0;
    }
    stride[a] = step;
  }
  if (unit) {
    std::vector<int64_t> size(x.size());
    for (size_t a = 0; a < x.size(); ++a) size[a] = std::max<int64_t>(0, end[a] - begin[a]);
    return make(BO::SLICE, {n.inputs[0], int32_vector(ctx, n, "begin", begin), int32_vector(ctx, n, "size", size)}, {n.outputs[0]});
  }
  TfOp op = make(BO::STRIDED_SLICE, {n.inputs[0], int32_vector(ctx, n, "begin", begin), int32_vector(ctx, n, "end", end),
                                     int32_vector(ctx, n, "strides", stride)}, {n.outputs[0]});
  return with_options(op, Opt::StridedSliceOptions, [end_mask](FBB& b, const TfOp&) {
    return tflite::CreateStridedSliceOptions(b, 0, end_mask).Union();
  });
}

TfOp map_split(WriteContext& ctx, const Node& n, bool equal_split) {
  const Shape x = ctx.shape_of(n.inputs[0]);
  const int64_t axis = normalize_axis(n, n.attr_int("axis", 0), x.size());
  const int count = static_cast<int>(n.outputs.size());
  const std::string axis_input = int32_input(ctx, n, "axis", {axis}, Shape{});
  if (equal_split)
    return with_options(make(BO::SPLIT, {axis_input, n.inputs[0]}, n.outputs), Opt::SplitOptions,
                        [count](FBB& b, const TfOp&) { return tflite::CreateSplitOptions(b, count).Union(); });
  std::vector<int64_t> sizes;
  if (n.has_input(1)) sizes = constant_ints(ctx, n, 1, "split");
  else
    for (const auto& out : n.outputs) {
      const Shape y = ctx.shape_of(out);
      if (y.size() != x.size()) unsupported(n, "outputs of another rank than the input");
      sizes.push_back(y[static_cast<size_t>(axis)]);
    }
  return with_options(make(BO::SPLIT_V, {n.inputs[0], int32_vector(ctx, n, "size_splits", sizes), axis_input}, n.outputs),
                      Opt::SplitVOptions, [count](FBB& b, const TfOp&) { return tflite::CreateSplitVOptions(b, count).Union(); });
}

TfOp map_resize(WriteContext& ctx, const Node& n) {
  const Shape x = ctx.shape_of(n.inputs[0]), y = ctx.shape_of(n.outputs[0]);
  if (x.size() != 4 || y.size() != 4 || x[0] != y[0] || x[3] != y[3])
    unsupported(n, "only NHWC 4-D resizes of H and W have a TFLite form");
  const std::string size = int32_vector(ctx, n, "size", {y[1], y[2]});
  const std::string mode = n.attr_string("mode", "nearest"), coord = n.attr_string("coordinate_transformation_mode", "half_pixel");
  const bool align = coord == "align_corners";
  if (mode == "linear") {
    const bool half = coord == "half_pixel" || coord == "pytorch_half_pixel";
    if (!align && !half && coord != "asymmetric") unsupported(n, "coordinate_transformation_mode " + coord);
    return with_options(make(BO::RESIZE_BILINEAR, {n.inputs[0], size}, {n.outputs[0]}), Opt::ResizeBilinearOptions,
                        [=](FBB& b, const TfOp&) { return tflite::CreateResizeBilinearOptions(b, 0, 0, align, half).Union(); });
  }
  if (mode != "nearest") unsupported(n, "mode " + mode);
  const std::string nearest = n.attr_string("nearest_mode", "round_prefer_floor");
  const bool half = coord == "tf_half_pixel_for_nn";
  const bool ok = (align && nearest == "round_prefer_ceil") || ((half || coord == "asymmetric") && nearest == "floor");
  if (!ok) unsupported(n, "nearest resize with " + coord + " / " + nearest + " has no TFLite form");
  return with_options(make(BO::RESIZE_NEAREST_NEIGHBOR, {n.inputs[0], size}, {n.outputs[0]}), Opt::ResizeNearestNeighborOptions,
                      [=](FBB& b, const TfOp&) { return tflite::CreateResizeNearestNeighborOptions(b, align, half).Union(); });
}

TfOp map_cast(WriteContext& ctx, const Node& n) {
  const auto in = tensor_type(n, ctx.dtype_of(n.inputs[0])), out = tensor_type(n, ctx.dtype_of(n.outputs[0]));
  return with_options(make(BO::CAST, {n.inputs[0]}, {n.outputs[0]}), Opt::CastOptions,
                      [=](FBB& b, const TfOp&) { return tflite::CreateCastOptions(b, in, out).Union(); });
}

TfOp arg(WriteContext& ctx, const Node& n, const std::string& out) {
  const bool max = n.op_type == "ArgMax";
  if (n.attr_int("keepdims", 1) != 0) unsupported(n, "keepdims = 1 (TFLite drops the axis)");
  if (n.attr_int("select_last_index", 0) != 0) unsupported(n, "select_last_index");
  const int64_t axis = normalize_axis(n, n.attr_int("axis", 0), ctx.shape_of(n.inputs[0]).size());
  const auto type = tensor_type(n, ctx.dtype_of(out));
  TfOp op = make(max ? BO::ARG_MAX : BO::ARG_MIN, {n.inputs[0], int32_input(ctx, n, "axis", {axis}, Shape{1})}, {out});
  if (max) return with_options(op, Opt::ArgMaxOptions, [type](FBB& b, const TfOp&) { return tflite::CreateArgMaxOptions(b, type).Union(); });
  return with_options(op, Opt::ArgMinOptions, [type](FBB& b, const TfOp&) { return tflite::CreateArgMinOptions(b, type).Union(); });
}

// SHAPE with out_type = the output's type (int32 or int64).
TfOp shape_op(WriteContext& ctx, const Node& n, const std::string& x, const std::string& out) {
  const auto type = tensor_type(n, ctx.dtype_of(out));
  return with_options(make(BO::SHAPE, {x}, {out}), Opt::ShapeOptions,
                      [type](FBB& b, const TfOp&) { return tflite::CreateShapeOptions(b, type).Union(); });
}

TfOp map_softmax(WriteContext& ctx, const Node& n, const std::string& x, float beta) {
  const int64_t axis = normalize_axis(n, n.attr_int("axis", -1), ctx.shape_of(n.inputs[0]).size());
  if (axis != static_cast<int64_t>(ctx.shape_of(n.inputs[0]).size()) - 1) unsupported(n, "softmax over an axis other than the last");
  if (n.op_type == "LogSoftmax") return make(BO::LOG_SOFTMAX, {x}, {n.outputs[0]});
  return with_options(make(BO::SOFTMAX, {x}, {n.outputs[0]}), Opt::SoftmaxOptions,
                      [beta](FBB& b, const TfOp&) { return tflite::CreateSoftmaxOptions(b, beta).Union(); });
}

// ---------------------------------------------------------------------------------------------
// One node.

std::vector<TfOp> map_node(WriteContext& ctx, const Node& n, const std::string& group_op) {
  const std::string& t = n.op_type;
  if (auto it = simple_ops().find(t); it != simple_ops().end()) {
    std::vector<std::string> ins = n.inputs;
    return {make(it->second, ins, {n.outputs[0]})};
  }
  if (t == "Conv") return {map_conv(ctx, n)};
  if (t == "ConvTranspose") return {map_conv_transpose(ctx, n)};
  if (t == "MaxPool") return {map_pool(ctx, n, BO::MAX_POOL_2D)};
  if (t == "AveragePool") return {map_pool(ctx, n, BO::AVERAGE_POOL_2D)};
  if (t == "GlobalAveragePool") return {map_global_average_pool(ctx, n)};
  if (t == "Gemm") return {map_gemm(ctx, n)};
  if (t == "MatMul") return {map_matmul(ctx, n)};
  if (t == "Add") return {map_binary_act(n, BO::ADD)};
  if (t == "Sub") return {map_binary_act(n, BO::SUB)};
  if (t == "Div") return {map_binary_act(n, BO::DIV)};
  if (t == "Mul") {
    if (group_op == "SQUARE" && n.inputs[0] == n.inputs[1]) return {make(BO::SQUARE, {n.inputs[0]}, {n.outputs[0]})};
    return {map_binary_act(n, BO::MUL)};
  }
  if (t == "Clip") return map_clip(ctx, n);
  if (t == "Reciprocal") {
    const std::string one = ctx.add_constant(n.outputs[0] + "/one", Tensor::scalar<float>(1.0f));
    Node div = n;
    div.op_type = "Div";
    div.inputs = {one, n.inputs[0]};
    return {map_binary_act(div, BO::DIV)};
  }
  if (t == "LeakyRelu") {
    const float alpha = static_cast<float>(n.attr_float("alpha", 0.01));
    return {with_options(make(BO::LEAKY_RELU, {n.inputs[0]}, {n.outputs[0]}), Opt::LeakyReluOptions,
                         [alpha](FBB& b, const TfOp&) { return tflite::CreateLeakyReluOptions(b, alpha).Union(); })};
  }
  if (t == "Elu") {
    if (n.attr_float("alpha", 1.0) != 1.0) unsupported(n, "alpha other than 1");
    return {make(BO::ELU, {n.inputs[0]}, {n.outputs[0]})};
  }
  // A quantized SOFTMAX keeps beta as an attribute (a float one is Mul + Softmax, folded above).
  if (t == "Softmax" || t == "LogSoftmax")
    return {map_softmax(ctx, n, n.inputs[0], static_cast<float>(n.attr_float("beta", 1.0)))};
  if (t == "Reshape" || t == "Flatten") return {reshape_to(ctx, n, n.inputs[0], n.outputs[0])};
  if (t == "Squeeze") {
    std::vector<int32_t> dims;
    if (n.has_input(1)) for (int64_t a : constant_ints(ctx, n, 1, "axes")) dims.push_back(static_cast<int32_t>(a));
    for (int64_t a : n.attr_ints("axes")) dims.push_back(static_cast<int32_t>(a));
    return {with_options(make(BO::SQUEEZE, {n.inputs[0]}, {n.outputs[0]}), Opt::SqueezeOptions,
                         [dims](FBB& b, const TfOp&) { return tflite::CreateSqueezeOptions(b, b.CreateVector(dims)).Union(); })};
  }
  if (t == "Unsqueeze") {
    const std::vector<int64_t> axes = n.has_input(1) ? constant_ints(ctx, n, 1, "axes") : n.attr_ints("axes");
    if (axes.size() == 1) return {make(BO::EXPAND_DIMS, {n.inputs[0], int32_input(ctx, n, "axis", axes, Shape{1})}, {n.outputs[0]})};
    return {reshape_to(ctx, n, n.inputs[0], n.outputs[0])};
  }
  if (t == "Transpose") {
    std::vector<int64_t> perm = n.attr_ints("perm");
    if (perm.empty())
      for (int64_t i = static_cast<int64_t>(ctx.shape_of(n.inputs[0]).size()) - 1; i >= 0; --i) perm.push_back(i);
    return {make(BO::TRANSPOSE, {n.inputs[0], int32_vector(ctx, n, "perm", perm)}, {n.outputs[0]})};
  }
  if (t == "Concat") {
    const int axis = static_cast<int>(n.attr_int("axis", 0));
    TfOp op = make(BO::CONCATENATION, n.inputs, {n.outputs[0]});
    op.fusable = true;
    return {with_options(op, Opt::ConcatenationOptions,
                         [axis](FBB& b, const TfOp& o) { return tflite::CreateConcatenationOptions(b, axis, o.act).Union(); })};
  }
  if (t == "Gather") {
    const int axis = static_cast<int>(n.attr_int("axis", 0));
    return {with_options(make(BO::GATHER, {n.inputs[0], n.inputs[1]}, {n.outputs[0]}), Opt::GatherOptions,
                         [axis](FBB& b, const TfOp&) { return tflite::CreateGatherOptions(b, axis).Union(); })};
  }
  if (t == "Slice") return {map_slice(ctx, n)};
  if (t == "Tile") return {make(BO::TILE, {n.inputs[0], int32_vector(ctx, n, "multiples", constant_ints(ctx, n, 1, "repeats"))}, {n.outputs[0]})};
  if (t == "Expand") return {make(BO::BROADCAST_TO, {n.inputs[0], int32_vector(ctx, n, "shape", ctx.shape_of(n.outputs[0]))}, {n.outputs[0]})};
  if (t == "Split") return {map_split(ctx, n, group_op == "SPLIT")};
  if (t == "Pad") return {map_pad(ctx, n)};
  if (t == "ReduceMean") return {map_reduce(ctx, n, BO::MEAN)};
  if (t == "ReduceSum") return {map_reduce(ctx, n, BO::SUM)};
  if (t == "ReduceMax") return {map_reduce(ctx, n, BO::REDUCE_MAX)};
  if (t == "ReduceMin") return {map_reduce(ctx, n, BO::REDUCE_MIN)};
  if (t == "ReduceProd") return {map_reduce(ctx, n, BO::REDUCE_PROD)};
  if (t == "ArgMax" || t == "ArgMin") return {arg(ctx, n, n.outputs[0])};
  if (t == "Cast") {
    if (group_op == "DEQUANTIZE") return {make(BO::DEQUANTIZE, {n.inputs[0]}, {n.outputs[0]})};
    return {map_cast(ctx, n)};
  }
  if (t == "Shape") return {shape_op(ctx, n, n.inputs[0], n.outputs[0])};
  if (t == "Resize") return {map_resize(ctx, n)};
  if (t == "DequantizeLinear") return {make(BO::DEQUANTIZE, {n.inputs[0]}, {n.outputs[0]})};
  if (t == "QuantizeLinear") return {make(BO::QUANTIZE, {n.inputs[0]}, {n.outputs[0]})};
  if (t == "Identity") return {reshape_to(ctx, n, n.inputs[0], n.outputs[0])};
  unsupported(n, "no TFLite form for this op");
}

// ---------------------------------------------------------------------------------------------
// Groups read from one TFLite operator.

// Producer of `value` among the group's nodes, nullptr if none.
const Node* producer_in(const std::vector<const Node*>& group, const std::string& value) {
  for (const Node* n : group)
    for (const auto& o : n->outputs)
      if (o == value) return n;
  return nullptr;
}

const Node* first_of(const std::vector<const Node*>& group, const std::string& op_type) {
  for (const Node* n : group)
    if (n->op_type == op_type) return n;
  return nullptr;
}

// Multi-node lowerings of one TFLite operator (tflite_ops.cpp) folded back. Returns false when the
// group has another shape; then its nodes are mapped one by one.
bool fold_tflite_group(WriteContext& ctx, const std::vector<const Node*>& g, const std::string& op, std::vector<TfOp>& out) {
  const Node& last = *g.back();
  if (op == "FULLY_CONNECTED") {
    const Node* gemm = first_of(g, "Gemm");
    if (!gemm) return false;
    std::string x = gemm->inputs[0];
    if (const Node* flat = producer_in(g, x); flat && flat->op_type == "Reshape") x = flat->inputs[0];
    std::string y = gemm->outputs[0];
    bool keep = false;
    for (const Node* n : g)
      if (n->op_type == "Reshape" && n->inputs[0] == y) y = n->outputs[0], keep = true;
    TfOp fc = fully_connected(x, gemm->inputs[1], gemm->has_input(2) ? gemm->inputs[2] : "", y);
    // A quantized FULLY_CONNECTED is one node that keeps both flags as attributes.
    fc.keep_num_dims = keep || gemm->attr_int("keep_num_dims", 0) != 0;
    if (gemm->has_attr("fused_activation")) fc.act = activation_by_name(*gemm, gemm->attr_string("fused_activation", "NONE"));
    out.push_back(fc);
    if (y != last.outputs[0]) {
      for (TfOp& a : map_node(ctx, last, op)) out.push_back(a);
    }
    return true;
  }
  if (op == "SOFTMAX" && g.size() == 2 && g[0]->op_type == "Mul" && last.op_type == "Softmax") {
    const Tensor* beta = ctx.constant(g[0]->inputs[1]);
    if (!beta) return false;
    out.push_back(map_softmax(ctx, last, g[0]->inputs[0], static_cast<float>(beta->to_f64_vector()[0])));
    return true;
  }
  if (op == "SQUARED_DIFFERENCE" && g.size() == 2) {
    out.push_back(make(BO::SQUARED_DIFFERENCE, {g[0]->inputs[0], g[0]->inputs[1]}, {last.outputs[0]}));
    return true;
  }
  if (op == "RSQRT" && g.size() == 2) {
    out.push_back(make(BO::RSQRT, {g[0]->inputs[0]}, {last.outputs[0]}));
    return true;
  }
  if ((op == "ARG_MAX" || op == "ARG_MIN") && g[0]->op_type.rfind("Arg", 0) == 0) {
    out.push_back(arg(ctx, *g[0], last.outputs[0]));
    return true;
  }
  if (op == "SHAPE") {
    out.push_back(shape_op(ctx, last, g[0]->inputs[0], last.outputs[0]));
    return true;
  }
  if (op == "PACK" && last.op_type == "Concat") {
    std::vector<std::string> values;
    for (size_t i = 0; i + 1 < g.size(); ++i) values.push_back(g[i]->inputs[0]);
    const int count = static_cast<int>(values.size()), axis = static_cast<int>(last.attr_int("axis", 0));
    out.push_back(with_options(make(BO::PACK, values, {last.outputs[0]}), Opt::PackOptions,
                               [=](FBB& b, const TfOp&) { return tflite::CreatePackOptions(b, count, axis).Union(); }));
    return true;
  }
  if (op == "QUANTIZE" && last.op_type == "QuantizeLinear") {
    out.push_back(make(BO::QUANTIZE, {g[0]->inputs[0]}, {last.outputs[0]}));
    return true;
  }
  if ((op == "DEPTH_TO_SPACE" || op == "SPACE_TO_DEPTH") && g.size() == 3) {
    // The block size is in the first Reshape's target: [N, H, W, b, b, C'] or [N, H/b, b, W/b, b, C]
    // (not a ratio of shapes, which may hold zero dims).
    const bool d2s = op == "DEPTH_TO_SPACE";
    const std::vector<int64_t> blocks = constant_ints(ctx, *g[0], 1, "block shape");
    if (blocks.size() != 6) return false;
    const int block = static_cast<int>(d2s ? blocks[3] : blocks[2]);
    TfOp t = make(d2s ? BO::DEPTH_TO_SPACE : BO::SPACE_TO_DEPTH, {g[0]->inputs[0]}, {last.outputs[0]});
    if (d2s) out.push_back(with_options(t, Opt::DepthToSpaceOptions, [block](FBB& b, const TfOp&) { return tflite::CreateDepthToSpaceOptions(b, block).Union(); }));
    else out.push_back(with_options(t, Opt::SpaceToDepthOptions, [block](FBB& b, const TfOp&) { return tflite::CreateSpaceToDepthOptions(b, block).Union(); }));
    return true;
  }
  if (op == "SPACE_TO_BATCH_ND") {
    const Node* pad = first_of(g, "Pad");
    const Node* blocks = first_of(g, "Reshape");
    if (!blocks) return false;
    const std::vector<int64_t> s = constant_ints(ctx, *blocks, 1, "block_shape");
    if (s.size() != 6) return false;
    std::vector<int64_t> p{0, 0, 0, 0};
    if (pad) {
      const std::vector<int64_t> q = constant_ints(ctx, *pad, 1, "pads");
      if (q.size() != 8) return false;
      p = {q[1], q[5], q[2], q[6]};
    }
    const std::string x = pad ? pad->inputs[0] : blocks->inputs[0];
    out.push_back(make(BO::SPACE_TO_BATCH_ND, {x, int32_vector(ctx, last, "block_shape", {s[2], s[4]}),
                                               int32_input(ctx, last, "paddings", p, Shape{2, 2})}, {last.outputs[0]}));
    return true;
  }
  if (op == "BATCH_TO_SPACE_ND") {
    const Node* blocks = first_of(g, "Reshape");
    if (!blocks) return false;
    const std::vector<int64_t> s = constant_ints(ctx, *blocks, 1, "block_shape");
    if (s.size() != 6) return false;
    std::vector<int64_t> c{0, 0, 0, 0};
    if (const Node* slice = first_of(g, "Slice")) {
      const Shape full = ctx.shape_of(slice->inputs[0]);
      const std::vector<int64_t> st = constant_ints(ctx, *slice, 1, "starts"), en = constant_ints(ctx, *slice, 2, "ends");
      if (full.size() != 4 || st.size() != 2 || en.size() != 2) return false;
      c = {st[0], full[1] - en[0], st[1], full[2] - en[1]};
    }
    out.push_back(make(BO::BATCH_TO_SPACE_ND, {blocks->inputs[0], int32_vector(ctx, last, "block_shape", {s[0], s[1]}),
                                               int32_input(ctx, last, "crops", c, Shape{2, 2})}, {last.outputs[0]}));
    return true;
  }
  if (op == "L2_NORMALIZATION") {
    const Node* div = first_of(g, "Div");
    if (!div) return false;
    TfOp t = make(BO::L2_NORMALIZATION, {g[0]->inputs[0]}, {div->outputs[0]});
    t.fusable = true;
    out.push_back(with_options(t, Opt::L2NormOptions, [](FBB& b, const TfOp& o) { return tflite::CreateL2NormOptions(b, o.act).Union(); }));
    if (div != &last) for (TfOp& a : map_node(ctx, last, op)) out.push_back(a);
    return true;
  }
  if (op == "L2_POOL_2D") {  // Mul (square), AveragePool, Sqrt: one operator again
    const Node* pool = first_of(g, "AveragePool");
    const Node* sqrt = first_of(g, "Sqrt");
    if (!pool || !sqrt || g[0]->op_type != "Mul") return false;
    TfOp t = map_pool(ctx, *pool, BO::L2_POOL_2D);
    t.inputs = {g[0]->inputs[0]};
    t.outputs = {sqrt->outputs[0]};
    out.push_back(t);
    if (sqrt != &last) for (TfOp& a : map_node(ctx, last, op)) out.push_back(a);
    return true;
  }
  if (op == "LOCAL_RESPONSE_NORMALIZATION") {
    const Node* lrn = first_of(g, "LRN");
    if (!lrn) return false;
    const int64_t size = lrn->attr_int("size", 1);
    const int radius = static_cast<int>((size - 1) / 2);
    const float bias = static_cast<float>(lrn->attr_float("bias", 1.0)), beta = static_cast<float>(lrn->attr_float("beta", 0.75));
    const float alpha = static_cast<float>(lrn->attr_float("alpha", 1e-4) / static_cast<double>(size));
    out.push_back(with_options(make(BO::LOCAL_RESPONSE_NORMALIZATION, {g[0]->inputs[0]}, {last.outputs[0]}),
                               Opt::LocalResponseNormalizationOptions, [=](FBB& b, const TfOp&) {
                                 return tflite::CreateLocalResponseNormalizationOptions(b, radius, bias, alpha, beta).Union();
                               }));
    return true;
  }
  if (op == "UNPACK" && g[0]->op_type == "Split") {
    std::vector<std::string> outs;
    for (size_t i = 1; i < g.size(); ++i) outs.push_back(g[i]->outputs[0]);
    const int num = static_cast<int>(outs.size()), axis = static_cast<int>(g[0]->attr_int("axis", 0));
    out.push_back(with_options(make(BO::UNPACK, {g[0]->inputs[0]}, outs), Opt::UnpackOptions,
                               [=](FBB& b, const TfOp&) { return tflite::CreateUnpackOptions(b, num, axis).Union(); }));
    return true;
  }
  if (op == "GELU") {
    const bool approximate = first_of(g, "Tanh") != nullptr;
    out.push_back(with_options(make(BO::GELU, {g[0]->inputs[0]}, {last.outputs[0]}), Opt::GeluOptions,
                               [=](FBB& b, const TfOp&) { return tflite::CreateGeluOptions(b, approximate).Union(); }));
    return true;
  }
  if (op == "RESHAPE" && last.op_type == "Reshape") {
    const Node* cast = producer_in(g, last.inputs[1]);
    if (cast) {  // the shape was computed at run time: keep that input
      out.push_back(make(BO::RESHAPE, {last.inputs[0], cast->inputs[0]}, {last.outputs[0]}));
      return true;
    }
    return false;
  }
  return false;
}

// Hybrid operators: a DequantizeLinear of a constant int8 weight, read only inside the group, is
// dropped and the operator reads the int8 weight (TFLite's hybrid kernels dequantize it).
std::vector<const Node*> drop_hybrid_dequantize(WriteContext& ctx, const std::vector<const Node*>& g, const std::string& op,
                                                std::vector<Node>& rewritten) {
  if (op == "DEQUANTIZE" || op == "QUANTIZE") return g;
  std::map<std::string, std::string> replace;
  std::vector<const Node*> kept;
  for (const Node* n : g) {
    if (n->op_type == "DequantizeLinear" && ctx.constant(n->inputs[0]) && ctx.consumers(n->outputs[0]) >= 1) {
      replace[n->outputs[0]] = n->inputs[0];
      continue;
    }
    kept.push_back(n);
  }
  if (replace.empty()) return g;
  rewritten.reserve(kept.size());
  for (const Node* n : kept) {
    Node copy = *n;
    for (auto& in : copy.inputs)
      if (auto it = replace.find(in); it != replace.end()) in = it->second;
    rewritten.push_back(std::move(copy));
  }
  std::vector<const Node*> out;
  for (const Node& n : rewritten) out.push_back(&n);
  return out;
}

}  // namespace

tflite::ActivationFunctionType activation_by_name(const Node& n, const std::string& name) {
  for (auto a : tflite::EnumValuesActivationFunctionType())
    if (name == tflite::EnumNameActivationFunctionType(a)) return a;
  unsupported(n, "unknown fused activation '" + name + "'");
}

std::vector<TfOp> map_group(WriteContext& ctx, const std::vector<const Node*>& group_in) {
  const Node& head = *group_in.front();
  const bool from_tflite = head.prov.format == "tflite";
  const std::string group_op = from_tflite ? head.prov.op_type : "";
  std::vector<Node> storage;
  const std::vector<const Node*> group = from_tflite ? drop_hybrid_dequantize(ctx, group_in, group_op, storage) : group_in;
  std::vector<TfOp> ops;
  if (!from_tflite || !fold_tflite_group(ctx, group, group_op, ops))
    for (const Node* n : group) {
      std::vector<TfOp> mapped = map_node(ctx, *n, group_op);
      // A quantized op keeps its fused activation as an attribute (its integer kernel clamps to it).
      if (n->has_attr("fused_activation") && !mapped.empty() && mapped.back().fusable)
        mapped.back().act = activation_by_name(*n, n->attr_string("fused_activation", "NONE"));
      for (TfOp& op : mapped) ops.push_back(std::move(op));
    }
  for (TfOp& op : ops) {
    op.group = from_tflite ? head.prov.index : -1;
    op.group_op = group_op;
    op.where = where(head);
  }
  return ops;
}

std::optional<tflite::TensorType> tflite_tensor_type(DType t) {
  using TT = tflite::TensorType;
  switch (t) {
    case DType::kF32: return TT::FLOAT32;
    case DType::kF16: return TT::FLOAT16;
    case DType::kF64: return TT::FLOAT64;
    case DType::kI8: return TT::INT8;
    case DType::kU8: return TT::UINT8;
    case DType::kI16: return TT::INT16;
    case DType::kU16: return TT::UINT16;
    case DType::kI32: return TT::INT32;
    case DType::kU32: return TT::UINT32;
    case DType::kI64: return TT::INT64;
    case DType::kU64: return TT::UINT64;
    case DType::kBool: return TT::BOOL;
    default: return std::nullopt;
  }
}

}  // namespace transfix::tflite_writing
