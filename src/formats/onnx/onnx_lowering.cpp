#include "formats/onnx/onnx_lowering.h"

#include "core/errors.h"

namespace transfix {
namespace {

Node derived(const Node& from, const std::string& op, const std::string& suffix) {
  Node n;
  n.op_type = op;
  n.name = from.name + suffix;
  n.prov = from.prov;
  return n;
}

// com.microsoft FusedConv: Y = activation(Conv(X, W, B) + Z), activation one of ORT's fused set with its
// parameters in `activation_params` (LeakyRelu: alpha; Clip: min, max; HardSigmoid: alpha, beta).
std::vector<Node> lower_fused_conv(const Node& fc, Graph& graph, int64_t opset) {
  const std::string act = fc.attr_string("activation", "");
  const std::vector<double> params = fc.attr_floats("activation_params");
  const std::string out = fc.outputs.at(0);
  std::vector<Node> nodes;
  Node conv = derived(fc, "Conv", "");
  conv.attrs = fc.attrs;
  conv.attrs.erase("activation"), conv.attrs.erase("activation_params");
  conv.inputs.assign(fc.inputs.begin(), fc.inputs.begin() + std::min<size_t>(fc.inputs.size(), 3));
  const bool has_sum = fc.has_input(3);
  const std::string conv_out = has_sum || !act.empty() ? out + "/conv" : out;
  conv.outputs = {conv_out};
  nodes.push_back(conv);
  std::string value = conv_out;
  if (has_sum) {
    Node add = derived(fc, "Add", "/sum");
    add.inputs = {value, fc.inputs[3]};
    value = act.empty() ? out : out + "/sum";
    add.outputs = {value};
    nodes.push_back(add);
  }
  if (act.empty()) return nodes;
  auto need = [&](size_t k) {
    if (params.size() < k)
      throw InputError("node '" + fc.name + "' (FusedConv): activation " + act + " needs " + std::to_string(k) +
                       " activation_params");
  };
  Node a = derived(fc, act, "/activation");
  a.inputs = {value};
  a.outputs = {out};
  if (act == "LeakyRelu") {
    need(1), a.attrs["alpha"] = Attribute{params[0]};
  } else if (act == "HardSigmoid") {
    need(2), a.attrs["alpha"] = Attribute{params[0]}, a.attrs["beta"] = Attribute{params[1]};
  } else if (act == "Clip" && opset < 11) {  // bounds were attributes before opset 11
    need(2), a.attrs["min"] = Attribute{params[0]}, a.attrs["max"] = Attribute{params[1]};
  } else if (act == "Clip") {
    need(2);
    const std::string lo = fc.name + "/clip_min", hi = fc.name + "/clip_max";
    graph.initializers[lo] = Tensor::scalar<float>(static_cast<float>(params[0]));
    graph.initializers[hi] = Tensor::scalar<float>(static_cast<float>(params[1]));
    a.inputs = {value, lo, hi};
  } else if (act != "Relu" && act != "Sigmoid" && act != "Tanh") {
    throw UnsupportedError("node '" + fc.name + "' (FusedConv): activation '" + act + "' is not supported", "FusedConv");
  }
  nodes.push_back(a);
  return nodes;
}

// ConvInteger / MatMulInteger: Y = op(A - a_zero_point, B - b_zero_point) in int32. Lowered to Cast to
// float64, Sub of the zero points (B's per output channel: [C] reshaped to [C, 1, ...] for a conv weight,
// [N] broadcast along the last axis for MatMul), the float op, Cast to int32. Products of 8-bit operands
// summed in float64 are exact up to 2^53, far beyond any int32 result.
std::vector<Node> lower_integer_op(const Node& n, Graph& graph) {
  const bool conv = n.op_type == "ConvInteger";
  const std::string out = n.outputs.at(0), base = n.name;
  std::vector<Node> nodes;
  auto cast = [&](const std::string& in, int64_t to, const std::string& name) {
    Node c = derived(n, "Cast", "/" + name);
    c.inputs = {in}, c.outputs = {base + "/" + name}, c.attrs["to"] = Attribute{to};
    nodes.push_back(c);
    return c.outputs[0];
  };
  constexpr int64_t kDouble = 11, kInt32 = 6;  // ONNX TensorProto data types
  auto centred = [&](size_t i, const std::string& tag, bool per_channel_conv) {
    std::string v = cast(n.inputs.at(i), kDouble, tag);
    if (!n.has_input(i + 2)) return v;
    std::string zp = cast(n.inputs[i + 2], kDouble, tag + "_zero_point");
    if (per_channel_conv) {  // w_zero_point [M] against weights [M, C/group, k...]: [M, 1, 1, ...]
      const std::string shape = base + "/" + tag + "_zero_point_shape";
      graph.initializers[shape] = Tensor::from_vector<int64_t>({-1, 1, 1, 1}, {4});
      Node r = derived(n, "Reshape", "/" + tag + "_zero_point_reshaped");
      r.inputs = {zp, shape}, r.outputs = {base + "/" + tag + "_zero_point_reshaped"};
      nodes.push_back(r);
      zp = r.outputs[0];
    }
    Node sub = derived(n, "Sub", "/" + tag + "_centred");
    sub.inputs = {v, zp}, sub.outputs = {base + "/" + tag + "_centred"};
    nodes.push_back(sub);
    return sub.outputs[0];
  };
  const std::string a = centred(0, "a", false);
  // A per-channel weight zero point of a conv: rank-1 with more than one value (a scalar or [1] broadcasts).
  bool per_channel = false;
  if (conv && n.has_input(3)) {
    auto it = graph.initializers.find(n.inputs[3]);
    per_channel = it == graph.initializers.end() || it->second.numel() > 1;
  }
  const std::string b = centred(1, "b", per_channel);
  Node op = derived(n, conv ? "Conv" : "MatMul", "/" + std::string(conv ? "conv" : "matmul"));
  op.inputs = {a, b}, op.outputs = {base + "/product"};
  if (conv) op.attrs = n.attrs;
  nodes.push_back(op);
  Node c = derived(n, "Cast", "/int32");
  c.inputs = {op.outputs[0]}, c.outputs = {out}, c.attrs["to"] = Attribute{kInt32};
  nodes.push_back(c);
  return nodes;
}

}  // namespace

bool is_lowered_op(const Node& n) {
  if (n.domain == "com.microsoft") return n.op_type == "FusedConv";
  return n.domain.empty() && (n.op_type == "ConvInteger" || n.op_type == "MatMulInteger");
}

std::vector<Node> lower_op(const Node& n, Graph& graph, int64_t opset) {
  // Both lowerings read an output and inputs 0 and 1 (a node without them threw std::out_of_range,
  // which is not an input error; found by tools/fuzz).
  if (n.outputs.empty() || n.outputs[0].empty() || n.inputs.size() < 2 || n.inputs[0].empty() || n.inputs[1].empty())
    throw InputError("node '" + n.name + "' (" + n.op_type + ") needs two inputs and an output");
  if (n.op_type == "FusedConv") return lower_fused_conv(n, graph, opset);
  return lower_integer_op(n, graph);
}

}  // namespace transfix
