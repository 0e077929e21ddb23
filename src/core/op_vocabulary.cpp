#include "core/op_vocabulary.h"

#include <algorithm>
#include <cctype>
#include <cmath>

#include "core/format.h"

namespace transfix {

namespace {

bool nhwc(const Node& n) { return n.attr_string("layout", "NCHW") == "NHWC"; }

// Spatial kernel dims of a convolution weight, whatever its layout.
std::vector<int64_t> kernel_dims(const Node& n, const Shape& w) {
  if (w.size() < 3) return {};
  const std::string layout = n.attr_string("weight_layout", "OIHW");
  if (layout == "OHWI" || layout == "1HWO") return {w.begin() + 1, w.end() - 1};
  return {w.begin() + 2, w.end()};
}

std::vector<int64_t> spatial_dims(const Node& n, const Shape& x) {
  if (x.size() < 3) return {};
  if (nhwc(n)) return {x.begin() + 1, x.end() - 1};
  return {x.begin() + 2, x.end()};
}

// Explicit pads [begin..., end...] with auto_pad resolved for this input.
std::vector<int64_t> resolved_pads(const Node& n, const std::vector<int64_t>& in, const std::vector<int64_t>& kernel) {
  const size_t k = kernel.size();
  std::vector<int64_t> strides = n.attr_ints("strides", std::vector<int64_t>(k, 1));
  std::vector<int64_t> dil = n.attr_ints("dilations", std::vector<int64_t>(k, 1));
  const std::string mode = n.attr_string("auto_pad", "NOTSET");
  if (mode == "NOTSET") return n.attr_ints("pads", std::vector<int64_t>(2 * k, 0));
  std::vector<int64_t> pads(2 * k, 0);
  if (mode == "VALID" || in.size() != k || strides.size() != k || dil.size() != k) return pads;
  for (size_t i = 0; i < k; ++i) {
    const int64_t out = (in[i] + strides[i] - 1) / strides[i];
    const int64_t total = std::max<int64_t>(0, (out - 1) * strides[i] + (kernel[i] - 1) * dil[i] + 1 - in[i]);
    const int64_t small = total / 2, large = total - small;
    pads[i] = mode == "SAME_LOWER" ? large : small;
    pads[i + k] = mode == "SAME_LOWER" ? small : large;
  }
  return pads;
}

std::optional<double> constant_scalar(const Model& m, const Node& n, size_t input) {
  if (!n.has_input(input)) return std::nullopt;
  auto it = m.graph.initializers.find(n.inputs[input]);
  if (it == m.graph.initializers.end() || it->second.numel() != 1) return std::nullopt;
  return it->second.to_f64_vector()[0];
}

std::vector<int64_t> constant_ints(const Model& m, const Node& n, size_t input) {
  if (!n.has_input(input)) return {};
  auto it = m.graph.initializers.find(n.inputs[input]);
  if (it == m.graph.initializers.end()) return {};
  return it->second.to_i64_vector();
}

int64_t positive_axis(int64_t axis, size_t rank) { return axis < 0 ? axis + static_cast<int64_t>(rank) : axis; }

}  // namespace

// Activations as one comparable signature: Relu is clip(0, inf), Relu6 clip(0, 6), ...
// The bounds a Relu (0, inf) or Clip (attributes before opset 11, constant inputs after) clamps to.
std::pair<double, double> clamp_bounds(const Model& m, const Node& n) {
  if (n.op_type == "Relu") return {0.0, INFINITY};
  double lo = -INFINITY, hi = INFINITY;
  if (m.opset() < 11) {
    lo = n.attr_float("min", lo), hi = n.attr_float("max", hi);
  } else {
    lo = constant_scalar(m, n, 1).value_or(lo), hi = constant_scalar(m, n, 2).value_or(hi);
  }
  return {lo, hi};
}

std::string activation_signature(const Model& m, const Node& n) {
  const std::string& op = n.op_type;
  if (op == "Relu") return "clip(0, inf)";
  if (op == "Clip") {
    const auto [lo, hi] = clamp_bounds(m, n);
    return "clip(" + format_number(lo) + ", " + format_number(hi) + ")";
  }
  if (op == "LeakyRelu") return "leaky_relu(alpha=" + format_number(n.attr_float("alpha", 0.01)) + ")";
  if (op == "Elu") return "elu(alpha=" + format_number(n.attr_float("alpha", 1.0)) + ")";
  if (op == "HardSigmoid")
    return "hard_sigmoid(alpha=" + format_number(n.attr_float("alpha", 0.2)) + ", beta=" + format_number(n.attr_float("beta", 0.5)) + ")";
  std::string lower = op;
  std::transform(lower.begin(), lower.end(), lower.begin(), ::tolower);
  return lower;
}


std::string op_family(const std::string& op) {
  static const std::map<std::string, std::string> families = {
      {"Conv", "conv"}, {"ConvTranspose", "conv_transpose"},
      {"MaxPool", "max_pool"}, {"AveragePool", "average_pool"}, {"LpPool", "lp_pool"},
      {"GlobalAveragePool", "global_average_pool"}, {"GlobalMaxPool", "global_max_pool"},
      {"BatchNormalization", "batch_norm"}, {"InstanceNormalization", "instance_norm"},
      {"LayerNormalization", "layer_norm"}, {"Resize", "resize"}, {"Upsample", "resize"},
      {"Relu", "activation"}, {"Clip", "activation"}, {"LeakyRelu", "activation"}, {"Elu", "activation"},
      {"Selu", "activation"}, {"Sigmoid", "activation"}, {"HardSigmoid", "activation"},
      {"HardSwish", "activation"}, {"Tanh", "activation"}, {"Softplus", "activation"}, {"PRelu", "activation"},
      {"Softmax", "softmax"}, {"LogSoftmax", "softmax"}, {"Gemm", "gemm"}, {"MatMul", "gemm"},
      {"Transpose", "layout"}, {"Reshape", "layout"}, {"Flatten", "layout"}, {"Squeeze", "layout"},
      {"Unsqueeze", "layout"}, {"Identity", "layout"}, {"Dropout", "layout"}, {"Cast", "layout"},
      {"Shape", "layout"}, {"Constant", "layout"}, {"Gather", "gather"}, {"Concat", "concat"}, {"LRN", "lrn"}, {"Pad", "pad"},
      {"DepthToSpace", "depth_to_space"}, {"SpaceToDepth", "space_to_depth"},
      {"QuantizeLinear", "quantize"}, {"DequantizeLinear", "quantize"}};
  auto it = families.find(op);
  if (it != families.end()) return it->second;
  if (op.rfind("Reduce", 0) == 0) return "reduce";
  std::string lower = op;
  std::transform(lower.begin(), lower.end(), lower.begin(), ::tolower);
  return lower;
}

namespace {

// The spatial pads [begin..., end...] of a constant Pad node that feeds `n` and nothing else (a TFLite
// conversion writes pads SAME cannot express as a PAD in front of a VALID convolution): they count
// as n's own. Zeros when there is no such node.
std::vector<int64_t> pad_node_pads(const Model& m, const Node& n, size_t k) {
  std::vector<int64_t> none(2 * k, 0);
  if (n.inputs.empty()) return none;
  const Node* pad = nullptr;
  int readers = 0;
  for (const auto& other : m.graph.nodes) {
    for (const auto& o : other.outputs)
      if (o == n.inputs[0] && other.op_type == "Pad") pad = &other;
    for (const auto& i : other.inputs) readers += i == n.inputs[0];
  }
  if (!pad || readers != 1 || pad->attr_string("mode", "constant") != "constant" || pad->inputs.size() < 2) return none;
  auto it = m.graph.initializers.find(pad->inputs[1]);
  if (it == m.graph.initializers.end()) return none;
  const std::vector<int64_t> p = it->second.to_i64_vector();
  const size_t rank = p.size() / 2;
  if (rank != k + 2) return none;
  const size_t first = nhwc(n) ? 1 : 2;  // spatial axes
  for (size_t i = 0; i < k; ++i) none[i] = p[first + i], none[i + k] = p[rank + first + i];
  return none;
}

std::vector<int64_t> plus(std::vector<int64_t> a, const std::vector<int64_t>& b) {
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) a[i] += b[i];
  return a;
}

}  // namespace

std::map<std::string, std::string> canonical_attributes(const Model& m, const Node& n, const ShapeOf& shape_of) {
  std::map<std::string, std::string> a;
  const std::string fam = op_family(n.op_type);
  const Shape x = n.inputs.empty() ? Shape{} : shape_of(n.inputs[0]);
  if (fam == "conv" || fam == "conv_transpose") {
    const Shape w = n.inputs.size() > 1 ? shape_of(n.inputs[1]) : Shape{};
    const auto kernel = kernel_dims(n, w);
    const size_t k = kernel.size();
    a["kernel"] = format_ints(kernel);
    a["strides"] = format_ints(n.attr_ints("strides", std::vector<int64_t>(k, 1)));
    a["dilations"] = format_ints(n.attr_ints("dilations", std::vector<int64_t>(k, 1)));
    a["group"] = std::to_string(n.attr_int("group", 1));
    if (fam == "conv") a["pads"] = format_ints(plus(resolved_pads(n, spatial_dims(n, x), kernel), pad_node_pads(m, n, k)));
    else a["pads"] = format_ints(n.attr_ints("pads", std::vector<int64_t>(2 * k, 0)));
  } else if (fam == "max_pool" || fam == "average_pool" || fam == "lp_pool") {
    const auto kernel = n.attr_ints("kernel_shape");
    a["kernel"] = format_ints(kernel);
    a["strides"] = format_ints(n.attr_ints("strides", std::vector<int64_t>(kernel.size(), 1)));
    a["pads"] = format_ints(plus(resolved_pads(n, spatial_dims(n, x), kernel), pad_node_pads(m, n, kernel.size())));
    a["ceil_mode"] = std::to_string(n.attr_int("ceil_mode", 0));
    if (fam == "average_pool") a["count_include_pad"] = std::to_string(n.attr_int("count_include_pad", 0));
    if (fam == "max_pool") a["dilations"] = format_ints(n.attr_ints("dilations", std::vector<int64_t>(kernel.size(), 1)));
  } else if (fam == "batch_norm" || fam == "instance_norm" || fam == "layer_norm") {
    a["epsilon"] = format_number(n.attr_float("epsilon", 1e-5));
    if (fam == "layer_norm") a["axis"] = std::to_string(n.attr_int("axis", -1));
  } else if (fam == "resize") {
    std::string mode = n.attr_string("mode", "nearest");
    if (mode == "bilinear" || mode == "trilinear") mode = "linear";
    a["mode"] = mode;
    const bool legacy = n.op_type == "Upsample" || m.opset() < 11;
    a["coordinate_transformation_mode"] =
        legacy ? "asymmetric" : n.attr_string("coordinate_transformation_mode", "half_pixel");
    if (mode == "nearest") a["nearest_mode"] = legacy ? "legacy (floor up, ceil down)" : n.attr_string("nearest_mode", "round_prefer_floor");
    if (mode == "cubic") a["cubic_coeff_a"] = format_number(n.attr_float("cubic_coeff_a", -0.75));
  } else if (fam == "activation") {
    a["activation"] = activation_signature(m, n);
  } else if (fam == "softmax") {
    const int64_t def = m.opset() < 13 ? 1 : -1;
    a["function"] = n.op_type;
    a["axis"] = std::to_string(positive_axis(n.attr_int("axis", def), x.size()));
  } else if (fam == "concat" || fam == "gather") {
    const Shape out = shape_of(n.outputs[0]);
    a["axis"] = std::to_string(positive_axis(n.attr_int("axis", 0), out.size()));
  } else if (fam == "gemm" && n.op_type == "Gemm") {
    a["alpha"] = format_number(n.attr_float("alpha", 1.0));
    a["beta"] = format_number(n.attr_float("beta", 1.0));
  } else if (fam == "lrn") {
    a["alpha"] = format_number(n.attr_float("alpha", 1e-4));
    a["beta"] = format_number(n.attr_float("beta", 0.75));
    a["bias"] = format_number(n.attr_float("bias", 1.0));
    a["size"] = std::to_string(n.attr_int("size", 0));
  } else if (n.op_type == "Transpose") {
    a["perm"] = format_ints(n.attr_ints("perm"));
  } else if (fam == "reduce") {
    auto axes = n.has_attr("axes") ? n.attr_ints("axes") : constant_ints(m, n, 1);
    for (auto& ax : axes) ax = positive_axis(ax, x.size());
    std::sort(axes.begin(), axes.end());
    a["axes"] = format_ints(axes);
    a["keepdims"] = std::to_string(n.attr_int("keepdims", 1));
  } else if (fam == "pad") {
    a["mode"] = n.attr_string("mode", "constant");
  } else if (fam == "depth_to_space" || fam == "space_to_depth") {
    a["blocksize"] = std::to_string(n.attr_int("blocksize", 0));
    if (fam == "depth_to_space") a["mode"] = n.attr_string("mode", "DCR");
  }
  return a;
}

std::string node_label(const Node& n) {
  const std::string name = n.prov.name.empty() ? n.name : n.prov.name;
  const std::string op = n.prov.op_type.empty() ? n.op_type : n.prov.op_type;
  return op + " '" + name + "'";
}

}  // namespace transfix
