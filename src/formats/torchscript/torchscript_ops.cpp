// Lowerings of aten and prim ops to canonical IR nodes (ONNX opset 17 semantics). Each function reads
// its TorchScript inputs by position, as the aten schema orders them (native_functions.yaml), and
// emits the IR nodes computing the same values. In-place variants ("relu_") share the lowering of
// the functional op; the importer rebinds the mutated input afterwards.
#include <cmath>
#include <limits>
#include <optional>

#include "core/errors.h"
#include "formats/torchscript/torchscript_lower.h"

namespace transfix::tsl {
namespace {

using L = Lowering;
constexpr int64_t kInt64Max = std::numeric_limits<int64_t>::max();

DType float_type(L& l, size_t i) {
  DType d = l.dtype(i);
  return is_float(d) ? d : DType::kF32;
}

// Spatial lists such as stride=[2] for a 2-D op mean [2, 2].
std::vector<int64_t> expand(std::vector<int64_t> v, size_t n) {
  if (v.size() == 1 && n > 1) v.assign(n, v[0]);
  return v;
}

std::vector<int64_t> twice(const std::vector<int64_t>& pads) {  // ONNX pads: all begins, then all ends
  std::vector<int64_t> out(pads);
  out.insert(out.end(), pads.begin(), pads.end());
  return out;
}

Tensor filled(float v, int64_t n) { return Tensor::from_vector(std::vector<float>(static_cast<size_t>(n), v), {n}); }

int64_t const_dim0(L& l, size_t i) {
  const ts::TensorData* t = l.const_tensor(i);
  if (!t || t->shape.empty()) l.unsupported("input " + std::to_string(i) + " must be a parameter tensor");
  return t->shape[0];
}

// --- convolution ---

struct ConvArgs {
  size_t x = 0, w = 1, b = 2;
  std::vector<int64_t> stride, padding, dilation, output_padding;
  std::string pad_mode;  // "same" / "valid" for conv2d(padding='same')
  int64_t groups = 1;
  bool transposed = false;
};

void lower_conv(L& l, ConvArgs a) {
  const ts::TensorData* w = l.const_tensor(a.w);
  size_t n = w ? w->shape.size() - 2 : a.stride.size();
  std::map<std::string, Attribute> attrs{{"strides", attr(expand(a.stride, n))},
                                         {"dilations", attr(expand(a.dilation, n))},
                                         {"group", attr(a.groups)}};
  if (a.pad_mode == "same") attrs["auto_pad"] = attr(std::string("SAME_UPPER"));
  else if (a.pad_mode == "valid") attrs["pads"] = attr(std::vector<int64_t>(2 * n, 0));
  else attrs["pads"] = attr(twice(expand(a.padding, n)));
  if (w) attrs["kernel_shape"] = attr(std::vector<int64_t>(w->shape.begin() + 2, w->shape.end()));
  if (a.transposed) attrs["output_padding"] = attr(expand(a.output_padding, n));
  std::vector<std::string> ins{l.tensor(a.x), l.tensor(a.w)};
  if (!l.is_none(a.b)) ins.push_back(l.tensor(a.b));
  l.result(a.transposed ? "ConvTranspose" : "Conv", ins, attrs, float_type(l, 0), l.rank(0));
}

// aten::_convolution(input, weight, bias, stride, padding, dilation, transposed, output_padding, groups, ...)
void convolution_internal(L& l) {
  ConvArgs a;
  a.stride = l.get_ints(3);
  a.padding = l.get_ints(4);
  a.dilation = l.get_ints(5);
  a.transposed = l.get_bool(6);
  a.output_padding = l.get_ints(7);
  a.groups = l.get_int(8);
  lower_conv(l, a);
}

// aten::conv{1,2,3}d(input, weight, bias, stride, padding, dilation, groups); padding may be 'same'/'valid'.
void conv_nd(L& l) {
  ConvArgs a;
  a.stride = l.get_ints(3);
  if (l.sym(4).kind == Sym::Kind::kConst && std::holds_alternative<std::string>(l.sym(4).value)) a.pad_mode = l.get_string(4);
  else a.padding = l.get_ints(4);
  a.dilation = l.get_ints(5);
  a.groups = l.get_int(6);
  lower_conv(l, a);
}

// aten::conv_transpose{1,2,3}d(input, weight, bias, stride, padding, output_padding, groups, dilation)
void conv_transpose_nd(L& l) {
  ConvArgs a;
  a.transposed = true;
  a.stride = l.get_ints(3);
  a.padding = l.get_ints(4);
  a.output_padding = l.get_ints(5);
  a.groups = l.get_int(6);
  a.dilation = l.get_ints(7);
  lower_conv(l, a);
}

// --- normalization ---

// aten::batch_norm(input, weight, bias, running_mean, running_var, training, momentum, eps, cudnn_enabled)
void batch_norm(L& l) {
  if (l.get_bool(5)) l.unsupported("batch statistics (training=True) are not supported; export the model in eval mode");
  if (l.is_none(3) || l.is_none(4)) l.unsupported("batch_norm without running statistics is not supported");
  int64_t c = const_dim0(l, 3);
  std::string scale = l.is_none(1) ? l.constant(filled(1, c), "ones") : l.tensor(1);
  std::string bias = l.is_none(2) ? l.constant(filled(0, c), "zeros") : l.tensor(2);
  l.result("BatchNormalization", {l.tensor(0), scale, bias, l.tensor(3), l.tensor(4)}, {{"epsilon", attr(l.get_double(7))}},
           float_type(l, 0), l.rank(0));
}

// (x - mean) / sqrt(var + eps) over the last axis of x (biased variance, as torch normalizes).
std::string normalize_last_axis(L& l, const std::string& x, double eps, DType dt) {
  std::map<std::string, Attribute> last{{"axes", attr(std::vector<int64_t>{-1})}, {"keepdims", attr(int64_t{1})}};
  std::string mean = l.emit1("ReduceMean", {x}, last);
  std::string d = l.emit1("Sub", {x, mean});
  std::string var = l.emit1("ReduceMean", {l.emit1("Mul", {d, d})}, last);
  std::string den = l.emit1("Sqrt", {l.emit1("Add", {var, l.scalar(eps, dt)})});
  return l.emit1("Div", {d, den});
}

// Normalizes x per (sample, group) over everything after the group axis: reshape to [N, groups, -1],
// normalize the last axis, reshape back. Works for any rank without knowing it.
std::string group_normalize(L& l, const std::string& x, const std::string& groups_dim, double eps, DType dt) {
  std::string grouped = l.emit1("Reshape", {x, l.int64s({0, 0, -1})});
  if (!groups_dim.empty()) grouped = l.emit1("Reshape", {x, groups_dim});
  return l.emit1("Reshape", {normalize_last_axis(l, grouped, eps, dt), l.shape_of(x)});
}

// y * weight[c] + bias[c] for x = [N, C, ...] of unknown rank.
std::string per_channel_affine(L& l, const std::string& y, const std::string& x, size_t w, size_t b, int64_t c) {
  std::string per_c = l.emit1("Reshape", {y, l.int64s({0, c, -1})});
  if (!l.is_none(w)) per_c = l.emit1("Mul", {per_c, l.emit1("Reshape", {l.tensor(w), l.int64s({c, 1})})});
  if (!l.is_none(b)) per_c = l.emit1("Add", {per_c, l.emit1("Reshape", {l.tensor(b), l.int64s({c, 1})})});
  return l.emit1("Reshape", {per_c, l.shape_of(x)});
}

// aten::group_norm(input, num_groups, weight, bias, eps, cudnn_enabled)
void group_norm(L& l) {
  std::string x = l.tensor(0);
  DType dt = float_type(l, 0);
  int64_t g = l.get_int(1);
  std::string y = group_normalize(l, x, l.int64s({0, g, -1}), l.get_double(4), dt);
  if (!l.is_none(2) || !l.is_none(3)) y = per_channel_affine(l, y, x, 2, 3, const_dim0(l, l.is_none(2) ? 3 : 2));
  l.result("Identity", {y}, {}, dt, l.rank(0));
}

// aten::instance_norm(input, weight, bias, running_mean, running_var, use_input_stats, momentum, eps, cudnn_enabled)
void instance_norm(L& l) {
  DType dt = float_type(l, 0);
  double eps = l.get_double(7);
  if (!l.get_bool(5)) {  // normalizes with the running statistics: a BatchNormalization
    int64_t c = const_dim0(l, 3);
    std::string scale = l.is_none(1) ? l.constant(filled(1, c), "ones") : l.tensor(1);
    std::string bias = l.is_none(2) ? l.constant(filled(0, c), "zeros") : l.tensor(2);
    l.result("BatchNormalization", {l.tensor(0), scale, bias, l.tensor(3), l.tensor(4)}, {{"epsilon", attr(eps)}}, dt, l.rank(0));
    return;
  }
  if (!l.is_none(1)) {
    int64_t c = const_dim0(l, 1);
    std::string bias = l.is_none(2) ? l.constant(filled(0, c), "zeros") : l.tensor(2);
    l.result("InstanceNormalization", {l.tensor(0), l.tensor(1), bias}, {{"epsilon", attr(eps)}}, dt, l.rank(0));
    return;
  }
  std::string x = l.tensor(0);
  l.result("Identity", {group_normalize(l, x, "", eps, dt)}, {}, dt, l.rank(0));
}

// aten::layer_norm(input, normalized_shape, weight, bias, eps, cudnn_enable). normalized_shape may be
// computed when the model runs (F.layer_norm(x, x.shape[-2:])): the op needs only its length (the
// trailing dims normalized), and without a weight a scale of 1 broadcasts over whatever they are.
void layer_norm(L& l) {
  const Sym& dims = l.sym(1);
  const bool known = dims.kind != Sym::Kind::kList || std::all_of(dims.items.begin(), dims.items.end(), [&](int item) {
    return l.sym_at(item).kind == Sym::Kind::kConst;
  });
  std::vector<int64_t> shape = known ? l.get_ints(1) : std::vector<int64_t>{};
  int64_t k = known ? static_cast<int64_t>(shape.size()) : static_cast<int64_t>(l.list_items(1).size());
  DType dt = float_type(l, 0);
  std::string scale;
  if (l.is_none(2) && !known) {
    scale = l.constant(filled(1, 1).reshaped({}).cast(dt == DType::kF64 ? DType::kF64 : DType::kF32), "one");
  } else if (l.is_none(2)) {
    Tensor ones = filled(1, shape_numel(shape)).reshaped(shape);
    scale = l.constant(ones, "ones");
  } else {
    scale = l.tensor(2);
  }
  std::vector<std::string> ins{l.tensor(0), scale};
  if (!l.is_none(3)) ins.push_back(l.tensor(3));
  l.result("LayerNormalization", ins, {{"axis", attr(-k)}, {"epsilon", attr(l.get_double(4))}}, dt, l.rank(0));
}

// --- linear algebra ---

// aten::linear(input, weight, bias): input @ weight^T + bias
void linear(L& l) {
  DType dt = float_type(l, 0);
  if (l.rank(0) == 2) {
    std::vector<std::string> ins{l.tensor(0), l.tensor(1)};
    if (!l.is_none(2)) ins.push_back(l.tensor(2));
    l.result("Gemm", ins, {{"transB", attr(int64_t{1})}}, dt, 2);
    return;
  }
  std::string wt = l.emit1("Transpose", {l.tensor(1)}, {{"perm", attr(std::vector<int64_t>{1, 0})}});
  if (l.is_none(2)) {
    l.result("MatMul", {l.tensor(0), wt}, {}, dt, l.rank(0));
    return;
  }
  std::string mm = l.emit1("MatMul", {l.tensor(0), wt});
  l.result("Add", {mm, l.tensor(2)}, {}, dt, l.rank(0));
}

// aten::addmm(bias, mat1, mat2, beta, alpha) = beta * bias + alpha * mat1 @ mat2
void addmm(L& l) {
  l.result("Gemm", {l.tensor(1), l.tensor(2), l.tensor(0)}, {{"beta", attr(l.get_double(3))}, {"alpha", attr(l.get_double(4))}},
           float_type(l, 1), 2);
}

void matmul(L& l) {
  int64_t r = l.rank(0) >= 0 && l.rank(1) >= 0 ? std::max(l.rank(0), l.rank(1)) : -1;
  l.result("MatMul", {l.tensor(0), l.tensor(1)}, {}, float_type(l, 0), r);
}

// --- activations ---

OpLowering unary(const char* op) {
  return [op](L& l) { l.result(op, {l.tensor(0)}, {}, l.dtype(0), l.rank(0)); };
}

void clip_result(L& l, std::optional<double> lo, std::optional<double> hi) {
  DType dt = l.dtype(0);
  l.result("Clip", {l.tensor(0), lo ? l.scalar(*lo, dt) : "", hi ? l.scalar(*hi, dt) : ""}, {}, dt, l.rank(0));
}

std::optional<double> optional_number(L& l, size_t i) {
  if (l.is_none(i)) return std::nullopt;
  return l.get_double(i);
}

void hardtanh(L& l) { clip_result(l, l.get_double(1), l.get_double(2)); }
void relu6(L& l) { clip_result(l, 0.0, 6.0); }
void clamp(L& l) { clip_result(l, optional_number(l, 1), optional_number(l, 2)); }
void clamp_min(L& l) { clip_result(l, l.get_double(1), std::nullopt); }
void clamp_max(L& l) { clip_result(l, std::nullopt, l.get_double(1)); }

void leaky_relu(L& l) {
  l.result("LeakyRelu", {l.tensor(0)}, {{"alpha", attr(l.num_inputs() > 1 ? l.get_double(1) : 0.01)}}, l.dtype(0), l.rank(0));
}

// aten::elu(self, alpha, scale, input_scale)
void elu(L& l) {
  if (l.get_double(2) != 1.0 || l.get_double(3) != 1.0) l.unsupported("elu with scale or input_scale other than 1");
  l.result("Elu", {l.tensor(0)}, {{"alpha", attr(l.get_double(1))}}, l.dtype(0), l.rank(0));
}

void silu(L& l) {
  std::string x = l.tensor(0);
  l.result("Mul", {x, l.emit1("Sigmoid", {x})}, {}, l.dtype(0), l.rank(0));
}

void hardsigmoid(L& l) {
  l.result("HardSigmoid", {l.tensor(0)}, {{"alpha", attr(1.0 / 6.0)}, {"beta", attr(0.5)}}, l.dtype(0), l.rank(0));
}

// aten::gelu(self, approximate='none'|'tanh')
void gelu(L& l) {
  std::string x = l.tensor(0);
  DType dt = float_type(l, 0);
  std::string mode = l.num_inputs() > 1 ? l.get_string(1) : "none";
  std::string inner;
  if (mode == "none") {  // 0.5 x (1 + erf(x / sqrt 2))
    inner = l.emit1("Erf", {l.emit1("Mul", {x, l.scalar(M_SQRT1_2, dt)})});
  } else if (mode == "tanh") {  // 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
    std::string x3 = l.emit1("Mul", {l.emit1("Mul", {x, x}), x});
    std::string poly = l.emit1("Add", {x, l.emit1("Mul", {x3, l.scalar(0.044715, dt)})});
    inner = l.emit1("Tanh", {l.emit1("Mul", {poly, l.scalar(std::sqrt(2.0 / M_PI), dt)})});
  } else {
    l.unsupported("gelu approximate='" + mode + "'");
  }
  std::string half_x = l.emit1("Mul", {x, l.scalar(0.5, dt)});
  l.result("Mul", {half_x, l.emit1("Add", {inner, l.scalar(1.0, dt)})}, {}, dt, l.rank(0));
}

// aten::softplus(self, beta, threshold): log(1 + exp(beta x)) / beta, and x itself where beta x > threshold.
void softplus(L& l) {
  std::string x = l.tensor(0);
  DType dt = float_type(l, 0);
  double beta = l.get_double(1), threshold = l.get_double(2);
  std::string bx = beta == 1.0 ? x : l.emit1("Mul", {x, l.scalar(beta, dt)});
  std::string sp = l.emit1("Softplus", {bx});
  if (beta != 1.0) sp = l.emit1("Div", {sp, l.scalar(beta, dt)});
  std::string linear_part = l.emit1("Greater", {bx, l.scalar(threshold, dt)});
  l.result("Where", {linear_part, x, sp}, {}, dt, l.rank(0));
}

// aten::prelu(self, weight): one slope, or one per channel (axis 1) for any input rank.
void prelu(L& l) {
  std::string x = l.tensor(0);
  DType dt = float_type(l, 0);
  const ts::TensorData* w = l.const_tensor(1);
  int64_t c = w ? shape_numel(w->shape) : -1;
  if (c == 1) {
    l.result("PRelu", {x, l.tensor(1)}, {}, dt, l.rank(0));
    return;
  }
  if (c < 0) l.unsupported("prelu needs its weight as a parameter");
  std::string per_c = l.emit1("Reshape", {x, l.int64s({0, c, -1})});
  std::string slope = l.emit1("Reshape", {l.tensor(1), l.int64s({c, 1})});
  std::string y = l.emit1("PRelu", {per_c, slope});
  l.result("Reshape", {y, l.shape_of(x)}, {}, dt, l.rank(0));
}

void softmax_like(L& l, const char* op) {
  if (l.num_inputs() > 2 && !l.is_none(2)) l.unsupported("softmax with a dtype argument");
  l.result(op, {l.tensor(0)}, {{"axis", attr(l.get_int(1))}}, l.dtype(0), l.rank(0));
}

// --- pooling ---

// aten::max_pool{1,2,3}d(self, kernel_size, stride, padding, dilation, ceil_mode)
void max_pool(L& l, size_t n) {
  std::vector<int64_t> k = expand(l.get_ints(1), n);
  std::vector<int64_t> stride = l.get_ints(2);
  stride = stride.empty() ? k : expand(stride, n);
  l.result("MaxPool", {l.tensor(0)},
           {{"kernel_shape", attr(k)}, {"strides", attr(stride)}, {"pads", attr(twice(expand(l.get_ints(3), n)))},
            {"dilations", attr(expand(l.get_ints(4), n))}, {"ceil_mode", attr(int64_t{l.get_bool(5)})}},
           l.dtype(0), l.rank(0));
}

// aten::avg_pool{1,2,3}d(self, kernel_size, stride, padding, ceil_mode, count_include_pad[, divisor_override])
void avg_pool(L& l, size_t n) {
  std::vector<int64_t> k = expand(l.get_ints(1), n);
  std::vector<int64_t> stride = l.get_ints(2);
  stride = stride.empty() ? k : expand(stride, n);
  bool ceil_mode = l.get_bool(4);
  bool count_pad = l.get_bool(5);
  bool has_divisor = l.num_inputs() > 6 && !l.is_none(6);
  if (has_divisor && ceil_mode) l.unsupported("avg_pool with both divisor_override and ceil_mode");
  std::map<std::string, Attribute> attrs{{"kernel_shape", attr(k)}, {"strides", attr(stride)},
                                         {"pads", attr(twice(expand(l.get_ints(3), n)))},
                                         {"ceil_mode", attr(int64_t{ceil_mode})},
                                         {"count_include_pad", attr(int64_t{count_pad || has_divisor})}};
  DType dt = l.dtype(0);
  if (!has_divisor) {
    l.result("AveragePool", {l.tensor(0)}, attrs, dt, l.rank(0));
    return;
  }
  // Every window then averages over the full kernel area; rescale to the given divisor.
  std::string mean = l.emit1("AveragePool", {l.tensor(0)}, attrs);
  double area = static_cast<double>(shape_numel(k));
  l.result("Mul", {mean, l.scalar(area / static_cast<double>(l.get_int(6)), float_type(l, 0))}, {}, dt, l.rank(0));
}

bool all_ones(const std::vector<int64_t>& v) {
  for (int64_t d : v)
    if (d != 1) return false;
  return !v.empty();
}

// Adaptive pooling along one axis (negative: counted from the end) to `bins` bins. Bin i covers
// [floor(i*n/bins), ceil((i+1)*n/bins)) of the axis' size n, computed at run time from Shape(x), so
// no input size has to be known when the model is read.
std::string adaptive_axis(L& l, const std::string& x, int64_t axis, int64_t bins, const char* reduce_op) {
  std::string n = l.emit1("Gather", {l.shape_of(x), l.int64s({axis})}, {{"axis", attr(int64_t{0})}});  // [1]
  std::string b = l.int64s({bins});
  std::vector<std::string> parts;
  for (int64_t i = 0; i < bins; ++i) {
    std::string start = l.emit1("Div", {l.emit1("Mul", {n, l.int64s({i})}), b});
    std::string end = l.emit1("Div", {l.emit1("Add", {l.emit1("Mul", {n, l.int64s({i + 1})}), l.int64s({bins - 1})}), b});
    std::string piece = l.emit1("Slice", {x, start, end, l.int64s({axis})});
    parts.push_back(l.emit1(reduce_op, {piece}, {{"axes", attr(std::vector<int64_t>{axis})}, {"keepdims", attr(int64_t{1})}}));
  }
  return bins == 1 ? parts[0] : l.emit1("Concat", parts, {{"axis", attr(axis)}});
}

// aten::adaptive_{avg,max}_pool{1,2,3}d(self, output_size). Average and max over a rectangle are the
// average (max) over rows of row averages (maxima), so the spatial axes are pooled one at a time.
// The max variant's second output (indices) is not lowered.
void adaptive_pool(L& l, const char* global_op, const char* reduce_op, size_t spatial) {
  std::vector<int64_t> sizes = expand(l.get_ints(1), spatial);
  if (all_ones(sizes)) return void(l.result(global_op, {l.tensor(0)}, {}, l.dtype(0), l.rank(0)));
  if (sizes.size() != spatial) l.unsupported("output_size needs " + std::to_string(spatial) + " entries");
  std::string y = l.tensor(0);
  for (size_t k = 0; k < spatial; ++k) {
    if (sizes[k] <= 0 || sizes[k] > 4096) l.unsupported("output size out of range");
    y = adaptive_axis(l, y, static_cast<int64_t>(k) - static_cast<int64_t>(spatial), sizes[k], reduce_op);
  }
  l.result("Identity", {y}, {}, l.dtype(0), l.rank(0));
}

// --- resampling ---

// Resize to explicit sizes (the spatial dims) or by scale factors (spatial), keeping N and C.
void resize(L& l, std::optional<size_t> sizes_input, std::vector<double> scales, std::map<std::string, Attribute> attrs) {
  std::string x = l.tensor(0);
  std::vector<std::string> ins{x, ""};
  if (!scales.empty()) {
    std::vector<float> all{1.0f, 1.0f};
    for (double s : scales) all.push_back(static_cast<float>(s));
    ins.push_back(l.constant(Tensor::from_vector(all, {static_cast<int64_t>(all.size())}), "scales"));
  } else {
    std::string nc = l.emit1("Slice", {l.shape_of(x), l.int64s({0}), l.int64s({2})});
    ins.push_back("");
    ins.push_back(l.emit1("Concat", {nc, l.int_list_tensor(*sizes_input)}, {{"axis", attr(int64_t{0})}}));
  }
  l.result("Resize", ins, attrs, l.dtype(0), l.rank(0));
}

// upsample_nearest{1,2,3}d: .vec(input, output_size?, scale_factors?) or (self, output_size, scales...?)
void upsample_nearest(L& l) {
  std::map<std::string, Attribute> attrs{{"mode", attr(std::string("nearest"))},
                                         {"coordinate_transformation_mode", attr(std::string("asymmetric"))},
                                         {"nearest_mode", attr(std::string("floor"))}};
  if (l.num_inputs() == 3) {  // .vec
    if (!l.is_none(2)) return resize(l, std::nullopt, l.get_doubles(2), attrs);
    return resize(l, 1, {}, attrs);
  }
  std::vector<double> scales;
  for (size_t i = 2; i < l.num_inputs(); ++i)
    if (!l.is_none(i)) scales.push_back(l.get_double(i));
  if (!scales.empty() && scales.size() == l.num_inputs() - 2) return resize(l, std::nullopt, scales, attrs);
  resize(l, 1, {}, attrs);
}

// upsample_{linear1d,bilinear2d,trilinear3d,bicubic2d}: .vec(input, output_size?, align_corners, scale_factors?)
// or (self, output_size, align_corners, scales...?)
void upsample_interpolating(L& l, const char* mode) {
  bool align = l.get_bool(2);
  std::map<std::string, Attribute> attrs{{"mode", attr(std::string(mode))},
                                         {"coordinate_transformation_mode", attr(std::string(align ? "align_corners" : "half_pixel"))}};
  if (std::string(mode) == "cubic") attrs["cubic_coeff_a"] = attr(-0.75);
  if (l.num_inputs() == 4) {  // .vec
    if (!l.is_none(3)) return resize(l, std::nullopt, l.get_doubles(3), attrs);
    return resize(l, 1, {}, attrs);
  }
  std::vector<double> scales;
  for (size_t i = 3; i < l.num_inputs(); ++i)
    if (!l.is_none(i)) scales.push_back(l.get_double(i));
  if (!scales.empty() && scales.size() == l.num_inputs() - 3 && !align) return resize(l, std::nullopt, scales, attrs);
  resize(l, 1, {}, attrs);
}

void pixel_shuffle(L& l) {
  l.result("DepthToSpace", {l.tensor(0)}, {{"blocksize", attr(l.get_int(1))}, {"mode", attr(std::string("CRD"))}}, l.dtype(0), l.rank(0));
}

// --- padding ---

// torch pads list (last dim first: [last_begin, last_end, prev_begin, prev_end, ...]) -> ONNX Pad.
void lower_pad(L& l, const std::vector<int64_t>& pad, const std::string& mode, std::optional<double> value) {
  int64_t r = l.rank(0);
  if (r < 0) l.unsupported("padding a tensor whose rank is not known when the model is read");
  if (pad.size() % 2 != 0 || static_cast<int64_t>(pad.size() / 2) > r) l.unsupported("bad pad list");
  std::vector<int64_t> pads(static_cast<size_t>(2 * r), 0);
  for (size_t k = 0; k < pad.size() / 2; ++k) {
    size_t axis = static_cast<size_t>(r) - 1 - k;
    pads[axis] = pad[2 * k];
    pads[axis + static_cast<size_t>(r)] = pad[2 * k + 1];
  }
  static const std::map<std::string, std::string> modes = {{"constant", "constant"}, {"reflect", "reflect"}, {"replicate", "edge"}};
  auto it = modes.find(mode);
  if (it == modes.end()) l.unsupported("pad mode '" + mode + "'");
  std::vector<std::string> ins{l.tensor(0), l.int64s(pads)};
  if (mode == "constant" && value && *value != 0) ins.push_back(l.scalar(*value, float_type(l, 0)));
  l.result("Pad", ins, {{"mode", attr(it->second)}}, l.dtype(0), r);
}

// aten::pad(self, pad, mode='constant', value=None)
void pad(L& l) {
  std::string mode = l.num_inputs() > 2 ? l.get_string(2) : "constant";
  lower_pad(l, l.get_ints(1), mode, l.num_inputs() > 3 ? optional_number(l, 3) : std::nullopt);
}

// --- shapes ---

// aten::flatten(self, start_dim, end_dim)
void flatten(L& l) {
  std::string x = l.tensor(0);
  int64_t start = l.get_int(1), end = l.get_int(2), r = l.rank(0);
  if (r >= 0) {
    if (start < 0) start += r;
    if (end < 0) end += r;
    if (end == r - 1) end = -1;
  }
  int64_t out_rank = r >= 0 && start >= 0 ? r - ((end < 0 ? r - 1 : end) - start) : -1;
  if (start == 1 && end == -1) return void(l.result("Flatten", {x}, {{"axis", attr(int64_t{1})}}, l.dtype(0), out_rank));
  if (start == 0 && end == -1) return void(l.result("Reshape", {x, l.int64s({-1})}, {}, l.dtype(0), 1));
  if (start < 0 || (end < -1)) l.unsupported("flatten with negative dims of a tensor of unknown rank");
  std::string shape = l.shape_of(x);
  std::vector<std::string> parts{l.emit1("Slice", {shape, l.int64s({0}), l.int64s({start})}), l.int64s({-1})};
  if (end != -1) parts.push_back(l.emit1("Slice", {shape, l.int64s({end + 1}), l.int64s({kInt64Max})}));
  l.result("Reshape", {x, l.emit1("Concat", parts, {{"axis", attr(int64_t{0})}})}, {}, l.dtype(0), out_rank);
}

// Rank of a shape list input (its length), -1 when unknown.
int64_t list_length(L& l, size_t i) {
  const Sym& s = l.sym(i);
  if (s.kind == Sym::Kind::kList) return static_cast<int64_t>(s.items.size());
  if (s.kind == Sym::Kind::kConst)
    if (auto* v = std::get_if<std::vector<int64_t>>(&s.value)) return static_cast<int64_t>(v->size());
  return -1;
}

void reshape(L& l) {
  l.result("Reshape", {l.tensor(0), l.int_list_tensor(1)}, {}, l.dtype(0), list_length(l, 1));
}

void permute(L& l) {
  std::vector<int64_t> perm = l.get_ints(1);
  int64_t n = static_cast<int64_t>(perm.size());
  for (int64_t& p : perm)
    if (p < 0) p += n;
  l.result("Transpose", {l.tensor(0)}, {{"perm", attr(perm)}}, l.dtype(0), n);
}

void transpose(L& l) {
  int64_t r = l.rank(0);
  if (r < 0) l.unsupported("transpose of a tensor whose rank is not known when the model is read");
  int64_t a = l.get_int(1), b = l.get_int(2);
  if (a < 0) a += r;
  if (b < 0) b += r;
  if (a < 0 || b < 0 || a >= r || b >= r) l.unsupported("transpose dims out of range");
  std::vector<int64_t> perm(static_cast<size_t>(r));
  for (int64_t i = 0; i < r; ++i) perm[static_cast<size_t>(i)] = i;
  std::swap(perm[static_cast<size_t>(a)], perm[static_cast<size_t>(b)]);
  l.result("Transpose", {l.tensor(0)}, {{"perm", attr(perm)}}, l.dtype(0), r);
}

void matrix_t(L& l) { l.result("Transpose", {l.tensor(0)}, {}, l.dtype(0), l.rank(0)); }

void alias0(L& l) { l.alias(0, 0); }

// aten::dropout(input, p, train): identity at inference.
void dropout(L& l) {
  if (l.get_bool(2)) l.unsupported("dropout in training mode");
  l.alias(0, 0);
}

std::vector<std::string> list_tensors(L& l, size_t i) {
  std::vector<std::string> names;
  for (int item : l.list_items(i)) names.push_back(l.tensor_of(item));
  return names;
}

void cat(L& l) {
  std::vector<int> items = l.list_items(0);
  const Sym* first = items.empty() ? nullptr : &l.value_sym_of(items[0]);
  l.result("Concat", list_tensors(l, 0), {{"axis", attr(l.get_int(1))}}, first ? first->dtype : DType::kF32,
           first ? first->rank : -1);
}

void stack(L& l) {
  std::string axis = l.int64s({l.get_int(1)});
  std::vector<std::string> parts;
  for (const std::string& t : list_tensors(l, 0)) parts.push_back(l.emit1("Unsqueeze", {t, axis}));
  std::vector<int> items = l.list_items(0);
  const Sym& first = l.value_sym_of(items.at(0));
  l.result("Concat", parts, {{"axis", attr(l.get_int(1))}}, first.dtype, first.rank >= 0 ? first.rank + 1 : -1);
}

// aten::chunk(self, chunks, dim): equal pieces (the dim must divide evenly; the Split kernel checks).
void chunk(L& l) {
  int64_t n = l.get_int(1);
  if (n <= 0 || n > 4096) l.unsupported("chunk count out of range");
  auto outs = l.emit("Split", {l.tensor(0)}, {{"axis", attr(l.get_int(2))}}, static_cast<size_t>(n));
  std::vector<int> items;
  for (const std::string& o : outs) items.push_back(l.new_tensor_value(o, l.dtype(0), l.rank(0)));
  l.set_list(0, items);
}

// aten::split_with_sizes(self, split_sizes, dim) and aten::split(self, int[] split_size, dim)
void split_with_sizes(L& l) {
  if (l.sym(1).kind == Sym::Kind::kConst && std::holds_alternative<int64_t>(l.sym(1).value))
    l.unsupported("split by a chunk size needs the size of the split dim, which TorchScript does not record");
  std::vector<int64_t> sizes = l.get_ints(1);
  auto outs = l.emit("Split", {l.tensor(0), l.int64s(sizes)}, {{"axis", attr(l.get_int(2))}}, sizes.size());
  std::vector<int> items;
  for (const std::string& o : outs) items.push_back(l.new_tensor_value(o, l.dtype(0), l.rank(0)));
  l.set_list(0, items);
}

// aten::slice(self, dim, start, end, step)
std::string index_input(L& l, size_t i, int64_t if_none) {
  if (l.is_none(i)) return l.int64s({if_none});
  if (l.is_const(i)) return l.int64s({l.get_int(i)});
  return l.emit1("Unsqueeze", {l.tensor(i, DType::kI64), l.int64s({0})});
}

void slice(L& l) {
  l.result("Slice", {l.tensor(0), index_input(l, 2, 0), index_input(l, 3, kInt64Max), l.int64s({l.get_int(1)}), l.int64s({l.get_int(4)})},
           {}, l.dtype(0), l.rank(0));
}

// aten::select(self, dim, index): one index, the dim removed.
void select(L& l) {
  std::string index = l.is_const(2) ? l.constant(Tensor::scalar<int64_t>(l.get_int(2)), "index") : l.tensor(2, DType::kI64);
  l.result("Gather", {l.tensor(0), index}, {{"axis", attr(l.get_int(1))}}, l.dtype(0), l.rank(0) > 0 ? l.rank(0) - 1 : -1);
}

void unsqueeze(L& l) {
  l.result("Unsqueeze", {l.tensor(0), l.int64s({l.get_int(1)})}, {}, l.dtype(0), l.rank(0) >= 0 ? l.rank(0) + 1 : -1);
}

void squeeze(L& l) {
  if (l.num_inputs() == 1) return void(l.result("Squeeze", {l.tensor(0)}, {}, l.dtype(0), -1));
  l.result("Squeeze", {l.tensor(0), l.int64s(l.get_ints(1))}, {}, l.dtype(0), -1);
}

// aten::size(self, dim) -> int (computed at run time), aten::size(self) -> int[]
void size(L& l) {
  std::string shape = l.shape_of(l.tensor(0));
  if (l.num_inputs() == 1) return void(l.set_tensor(0, shape, DType::kI64, 1));
  std::string dim = l.constant(Tensor::scalar<int64_t>(l.get_int(1)), "dim");
  l.result("Gather", {shape, dim}, {{"axis", attr(int64_t{0})}}, DType::kI64, 0);
}

// --- lists, tuples, scalars ---

void list_construct(L& l) { l.set_list(0, l.node().inputs); }

void list_unpack(L& l) {
  const Sym& s = l.sym(0);
  if (s.kind == Sym::Kind::kTensor) {  // unpacking aten::size(x): one Gather per element
    for (size_t i = 0; i < l.num_outputs(); ++i)
      l.result("Gather", {s.name, l.constant(Tensor::scalar<int64_t>(static_cast<int64_t>(i)), "index")},
               {{"axis", attr(int64_t{0})}}, DType::kI64, 0, i);
    return;
  }
  std::vector<int> items = l.list_items(0);
  if (items.size() != l.num_outputs())
    l.unsupported("unpacking " + std::to_string(items.size()) + " values into " + std::to_string(l.num_outputs()));
  for (size_t i = 0; i < items.size(); ++i) l.bind(i, items[i]);
}

void list_index(L& l) {
  std::vector<int> items = l.list_items(0);
  int64_t i = l.get_int(1);
  if (i < 0) i += static_cast<int64_t>(items.size());
  if (i < 0 || i >= static_cast<int64_t>(items.size())) l.unsupported("index out of range");
  l.bind(0, items[static_cast<size_t>(i)]);
}

// prim::NumToTensor, aten::Int, aten::Float...: numbers stay what they are (constants fold, run-time
// values are 0-d tensors already).
void number_identity(L& l) { l.alias(0, 0); }

// --- arithmetic ---

// Folds arithmetic on constants (Python semantics for ints).
bool fold(L& l, const std::string& op) {
  if (!l.is_number(0) || !l.is_number(1)) return false;
  bool ints = !std::holds_alternative<double>(l.sym(0).value) && !std::holds_alternative<double>(l.sym(1).value);
  double a = l.get_double(0), b = l.get_double(1);
  double r;
  if (op == "Add") r = a + b;
  else if (op == "Sub") r = a - b;
  else if (op == "Mul") r = a * b;
  else if (op == "FloorDiv") {
    if (b == 0) l.unsupported("division by zero");
    r = std::floor(a / b);
  } else if (op == "Div") {
    if (b == 0) l.unsupported("division by zero");
    r = a / b;
    ints = false;
  } else return false;
  if (ints) l.set_const(0, static_cast<int64_t>(r));
  else l.set_const(0, r);
  return true;
}

// Both operands as tensors of one dtype (torch's promotion for the cases models use: a number takes
// the tensor's dtype; int with float gives float).
std::pair<std::string, std::string> operands(L& l, DType* dt) {
  DType a = l.dtype(0), b = l.dtype(1);
  *dt = a != DType::kUndefined ? a : b != DType::kUndefined ? b : DType::kF32;
  if (a != DType::kUndefined && b != DType::kUndefined && a != b) *dt = is_float(a) ? a : b;
  if (l.is_number(0) && l.is_number(1)) *dt = DType::kF32;
  std::string x = l.tensor(0, *dt), y = l.tensor(1, *dt);
  auto cast = [&](const std::string& v, DType from) {
    return from == *dt || from == DType::kUndefined ? v : l.emit1("Cast", {v}, {{"to", attr(int64_t{onnx_from_dtype(*dt)})}});
  };
  return {cast(x, a), cast(y, b)};
}

int64_t binary_rank(L& l) {
  int64_t a = l.rank(0), b = l.rank(1);
  if (l.is_number(1)) return a;
  if (l.is_number(0)) return b;
  return a >= 0 && b >= 0 ? std::max(a, b) : -1;
}

// aten::add / aten::sub (self, other, alpha)
void add_sub(L& l, const char* op) {
  bool has_alpha = l.num_inputs() > 2 && !l.is_none(2) && l.get_double(2) != 1.0;
  if (!has_alpha && fold(l, op)) return;
  DType dt;
  auto [x, y] = operands(l, &dt);
  if (has_alpha) y = l.emit1("Mul", {y, l.scalar(l.get_double(2), dt)});
  l.result(op, {x, y}, {}, dt, binary_rank(l));
}

void mul(L& l) {
  if (fold(l, "Mul")) return;
  DType dt;
  auto [x, y] = operands(l, &dt);
  l.result("Mul", {x, y}, {}, dt, binary_rank(l));
}

// floor(a / b): Floor(Div) for floats; (a - a mod b) / b, exact, for integers.
std::string floor_divide_of(L& l, const std::string& x, const std::string& y, DType dt) {
  if (is_float(dt)) return l.emit1("Floor", {l.emit1("Div", {x, y})});
  std::string rem = l.emit1("Mod", {x, y}, {{"fmod", attr(int64_t{0})}});
  return l.emit1("Div", {l.emit1("Sub", {x, rem}), y});
}

void floor_divide(L& l) {
  if (fold(l, "FloorDiv")) return;
  DType dt;
  auto [x, y] = operands(l, &dt);
  l.result("Identity", {floor_divide_of(l, x, y, dt)}, {}, dt, binary_rank(l));
}

// aten::div(self, other[, rounding_mode]): true division (integers become float32).
void div(L& l) {
  std::string mode = l.num_inputs() > 2 && !l.is_none(2) ? l.get_string(2) : "";
  if (mode.empty() && fold(l, "Div")) return;
  if (mode == "floor") return floor_divide(l);
  if (!mode.empty()) l.unsupported("div with rounding_mode='" + mode + "'");
  DType dt;
  auto [x, y] = operands(l, &dt);
  if (!is_float(dt)) {
    std::map<std::string, Attribute> to_f32{{"to", attr(int64_t{onnx_from_dtype(DType::kF32)})}};
    x = l.emit1("Cast", {x}, to_f32);
    y = l.emit1("Cast", {y}, to_f32);
    dt = DType::kF32;
  }
  l.result("Div", {x, y}, {}, dt, binary_rank(l));
}

// aten::rsub(self, other, alpha) = other - alpha * self
void rsub(L& l) {
  DType dt;
  auto [x, y] = operands(l, &dt);
  if (l.num_inputs() > 2 && !l.is_none(2) && l.get_double(2) != 1.0) x = l.emit1("Mul", {x, l.scalar(l.get_double(2), dt)});
  l.result("Sub", {y, x}, {}, dt, binary_rank(l));
}

// aten::argmax(self, dim, keepdim): int64 indices of the first maximum.
void argmax(L& l) {
  if (l.is_none(1)) l.unsupported("argmax over all elements (dim=None)");
  bool keep = l.get_bool(2);
  l.result("ArgMax", {l.tensor(0)}, {{"axis", attr(l.get_int(1))}, {"keepdims", attr(int64_t{keep})}}, DType::kI64,
           l.rank(0) >= 0 ? l.rank(0) - (keep ? 0 : 1) : -1);
}

// aten::expand_as(self, other)
void expand_as(L& l) {
  l.result("Expand", {l.tensor(0), l.shape_of(l.tensor(1))}, {}, l.dtype(0), l.rank(1));
}

// aten::repeat(self, repeats): Tile when the repeats cover every dim.
void repeat(L& l) {
  std::vector<int64_t> reps = l.get_ints(1);
  if (l.rank(0) != static_cast<int64_t>(reps.size())) l.unsupported("repeat that adds dims, or of a tensor of unknown rank");
  l.result("Tile", {l.tensor(0), l.int64s(reps)}, {}, l.dtype(0), l.rank(0));
}

void pow(L& l) {
  DType dt = float_type(l, 0);
  l.result("Pow", {l.tensor(0, dt), l.tensor(1, dt)}, {}, dt, binary_rank(l));
}

void rsqrt(L& l) { l.result("Reciprocal", {l.emit1("Sqrt", {l.tensor(0)})}, {}, l.dtype(0), l.rank(0)); }

// aten::mean / aten::sum (self, dim?, keepdim, dtype)
void reduce(L& l, const char* op) {
  if (l.num_inputs() > 3 && !l.is_none(3)) l.unsupported("reduction with a dtype argument");
  std::vector<int64_t> dims = l.num_inputs() > 1 && !l.is_none(1) ? l.get_ints(1) : std::vector<int64_t>{};
  bool keep = l.num_inputs() > 2 && l.get_bool(2);
  int64_t r = l.rank(0);
  int64_t out_rank = dims.empty() ? (keep ? r : 0) : (keep || r < 0 ? r : r - static_cast<int64_t>(dims.size()));
  std::map<std::string, Attribute> attrs{{"keepdims", attr(int64_t{keep})}};
  std::vector<std::string> ins{l.tensor(0)};
  if (std::string(op) == "ReduceSum") {  // axes is an input from opset 13 on
    if (!dims.empty()) ins.push_back(l.int64s(dims));
  } else if (!dims.empty()) {
    attrs["axes"] = attr(dims);
  }
  l.result(op, ins, attrs, l.dtype(0), out_rank);
}

// aten::to(self, dtype, ...), aten::to(self, device, dtype, ...): a Cast when the dtype changes.
DType torch_scalar_type(int64_t code) {
  switch (code) {
    case 0: return DType::kU8;
    case 1: return DType::kI8;
    case 2: return DType::kI16;
    case 3: return DType::kI32;
    case 4: return DType::kI64;
    case 5: return DType::kF16;
    case 6: return DType::kF32;
    case 7: return DType::kF64;
    case 11: return DType::kBool;
    case 15: return DType::kBF16;
    default: return DType::kUndefined;
  }
}

void to(L& l) {
  DType target = DType::kUndefined;
  for (size_t i = 1; i < std::min<size_t>(3, l.num_inputs()); ++i) {
    const Sym& s = l.sym(i);
    if (s.kind == Sym::Kind::kConst)
      if (auto* code = std::get_if<int64_t>(&s.value)) {
        target = torch_scalar_type(*code);
        if (target == DType::kUndefined) l.unsupported("unknown dtype code " + std::to_string(*code));
        break;
      }
    if (s.kind == Sym::Kind::kTensor) target = s.dtype;  // aten::to(self, other, ...)
  }
  if (target == DType::kUndefined || target == l.dtype(0)) return l.alias(0, 0);
  l.result("Cast", {l.tensor(0)}, {{"to", attr(int64_t{onnx_from_dtype(target)})}}, target, l.rank(0));
}

std::map<std::string, OpLowering> make_table() {
  std::map<std::string, OpLowering> t;
  t["aten::_convolution"] = convolution_internal;
  for (const char* k : {"aten::conv1d", "aten::conv2d", "aten::conv3d"}) t[k] = conv_nd;
  for (const char* k : {"aten::conv_transpose1d", "aten::conv_transpose2d", "aten::conv_transpose3d"}) t[k] = conv_transpose_nd;
  t["aten::batch_norm"] = batch_norm;
  t["aten::instance_norm"] = instance_norm;
  t["aten::layer_norm"] = layer_norm;
  t["aten::group_norm"] = group_norm;
  t["aten::linear"] = linear;
  t["aten::addmm"] = addmm;
  for (const char* k : {"aten::matmul", "aten::mm", "aten::bmm"}) t[k] = matmul;
  const std::pair<const char*, const char*> unaries[] = {
      {"relu", "Relu"}, {"sigmoid", "Sigmoid"}, {"tanh", "Tanh"}, {"sqrt", "Sqrt"}, {"exp", "Exp"}, {"log", "Log"},
      {"abs", "Abs"}, {"neg", "Neg"}, {"erf", "Erf"}, {"reciprocal", "Reciprocal"}, {"floor", "Floor"},
      {"ceil", "Ceil"}, {"sin", "Sin"}, {"cos", "Cos"}, {"hardswish", "HardSwish"}, {"mish", "Mish"}};
  for (auto [torch_name, op] : unaries) t[std::string("aten::") + torch_name] = unary(op);
  t["aten::hardtanh"] = hardtanh;
  t["aten::relu6"] = relu6;
  t["aten::clamp"] = clamp;
  t["aten::clip"] = clamp;
  t["aten::clamp_min"] = clamp_min;
  t["aten::clamp_max"] = clamp_max;
  t["aten::leaky_relu"] = leaky_relu;
  t["aten::elu"] = elu;
  t["aten::silu"] = silu;
  t["aten::hardsigmoid"] = hardsigmoid;
  t["aten::gelu"] = gelu;
  t["aten::softplus"] = softplus;
  t["aten::prelu"] = prelu;
  t["aten::softmax"] = [](L& l) { softmax_like(l, "Softmax"); };
  t["aten::log_softmax"] = [](L& l) { softmax_like(l, "LogSoftmax"); };
  for (size_t n = 1; n <= 3; ++n) {
    t["aten::max_pool" + std::to_string(n) + "d"] = [n](L& l) { max_pool(l, n); };
    t["aten::avg_pool" + std::to_string(n) + "d"] = [n](L& l) { avg_pool(l, n); };
  }
  for (size_t n = 1; n <= 3; ++n) {
    t["aten::adaptive_avg_pool" + std::to_string(n) + "d"] = [n](L& l) { adaptive_pool(l, "GlobalAveragePool", "ReduceMean", n); };
    t["aten::adaptive_max_pool" + std::to_string(n) + "d"] = [n](L& l) { adaptive_pool(l, "GlobalMaxPool", "ReduceMax", n); };
  }
  for (const char* k : {"aten::upsample_nearest1d", "aten::upsample_nearest2d", "aten::upsample_nearest3d"}) t[k] = upsample_nearest;
  for (const char* k : {"aten::upsample_linear1d", "aten::upsample_bilinear2d", "aten::upsample_trilinear3d"})
    t[k] = [](L& l) { upsample_interpolating(l, "linear"); };
  t["aten::upsample_bicubic2d"] = [](L& l) { upsample_interpolating(l, "cubic"); };
  t["aten::pixel_shuffle"] = pixel_shuffle;
  t["aten::pad"] = pad;
  t["aten::constant_pad_nd"] = [](L& l) { lower_pad(l, l.get_ints(1), "constant", optional_number(l, 2)); };
  for (size_t n = 1; n <= 3; ++n) {
    t["aten::reflection_pad" + std::to_string(n) + "d"] = [](L& l) { lower_pad(l, l.get_ints(1), "reflect", std::nullopt); };
    t["aten::replication_pad" + std::to_string(n) + "d"] = [](L& l) { lower_pad(l, l.get_ints(1), "replicate", std::nullopt); };
  }
  t["aten::flatten"] = flatten;
  for (const char* k : {"aten::view", "aten::reshape"}) t[k] = reshape;
  t["aten::permute"] = permute;
  t["aten::transpose"] = transpose;
  t["aten::t"] = matrix_t;
  for (const char* k : {"aten::contiguous", "aten::clone", "aten::detach"}) t[k] = alias0;
  for (const char* k : {"aten::dropout", "aten::feature_dropout", "aten::alpha_dropout"}) t[k] = dropout;
  t["aten::cat"] = cat;
  t["aten::concat"] = cat;
  t["aten::stack"] = stack;
  t["aten::chunk"] = chunk;
  t["aten::split"] = split_with_sizes;
  t["aten::split_with_sizes"] = split_with_sizes;
  t["aten::slice"] = slice;
  t["aten::select"] = select;
  t["aten::unsqueeze"] = unsqueeze;
  t["aten::squeeze"] = squeeze;
  t["aten::size"] = size;
  for (const char* k : {"prim::ListConstruct", "prim::TupleConstruct"}) t[k] = list_construct;
  for (const char* k : {"prim::ListUnpack", "prim::TupleUnpack"}) t[k] = list_unpack;
  for (const char* k : {"aten::__getitem__", "prim::TupleIndex"}) t[k] = list_index;
  for (const char* k : {"prim::NumToTensor", "aten::Int", "aten::Float", "aten::ScalarImplicit"}) t[k] = number_identity;
  t["aten::add"] = [](L& l) { add_sub(l, "Add"); };
  t["aten::sub"] = [](L& l) { add_sub(l, "Sub"); };
  t["aten::mul"] = mul;
  t["aten::div"] = div;
  t["aten::floor_divide"] = floor_divide;
  t["aten::pow"] = pow;
  t["aten::rsub"] = rsub;
  t["aten::argmax"] = argmax;
  t["aten::expand_as"] = expand_as;
  t["aten::repeat"] = repeat;
  t["aten::rsqrt"] = rsqrt;
  t["aten::mean"] = [](L& l) { reduce(l, "ReduceMean"); };
  t["aten::sum"] = [](L& l) { reduce(l, "ReduceSum"); };
  t["aten::to"] = to;
  t["aten::type_as"] = to;
  return t;
}

}  // namespace

const OpLowering* find_op_lowering(const std::string& kind) {
  static const std::map<std::string, OpLowering> table = make_table();
  auto it = table.find(kind);
  return it == table.end() ? nullptr : &it->second;
}

}  // namespace transfix::tsl
