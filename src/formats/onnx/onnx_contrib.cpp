#include "formats/onnx/onnx_contrib.h"

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

}  // namespace

bool is_lowerable_contrib_op(const Node& n) { return n.domain == "com.microsoft" && n.op_type == "FusedConv"; }

std::vector<Node> lower_contrib_op(const Node& n, Graph& graph, int64_t opset) {
  return lower_fused_conv(n, graph, opset);
}

}  // namespace transfix
