#include "runtime/channels_last.h"

#include <cmath>
#include <set>
#include <unordered_map>

namespace transfix {
namespace {

const std::vector<int64_t> kToNhwc{0, 2, 3, 1};
const std::vector<int64_t> kToNchw{0, 3, 1, 2};

// Ops that compute each element from the same element of their inputs (plus scalars), so they give
// the same result in any layout.
const std::set<std::string> kElementwiseUnary{"Relu", "Sigmoid", "Tanh", "LeakyRelu", "HardSigmoid", "HardSwish",
                                              "Elu", "Selu", "Softplus", "Erf", "Abs", "Neg", "Exp", "Sqrt",
                                              "Identity", "Clip", "Celu", "Mish", "Softsign", "ThresholdedRelu"};
const std::set<std::string> kElementwiseBinary{"Add", "Sub", "Mul", "Div", "Max", "Min", "Sum", "Mean", "Pow"};

class Rewriter {
 public:
  explicit Rewriter(const Model& model) : in_(model.graph), opset_(model.opset()) {
    out_ = std::make_shared<Model>();
    out_->meta = model.meta;
    out_->path = model.path;
    Graph& g = out_->graph;
    g.name = in_.name;
    g.initializers = in_.initializers;  // shares the buffers
    g.inputs = in_.inputs;
    g.outputs = in_.outputs;
    g.value_info = in_.value_info;
    g.value_prov = in_.value_prov;
    for (const auto& n : in_.nodes) {
      if (!n.domain.empty() || n.outputs.size() != 1) continue;
      if (n.op_type == "Constant") constant_nodes_[n.outputs[0]] = &n;
      if (n.op_type == "Identity" && n.inputs.size() == 1) identity_of_[n.outputs[0]] = n.inputs[0];
    }
    // Every name the graph uses, so added values get new ones.
    for (const auto& n : in_.nodes) taken_.insert(n.outputs.begin(), n.outputs.end());
    for (const auto& v : in_.inputs) taken_.insert(v.name);
    for (const auto& [name, t] : in_.initializers) taken_.insert(name);
  }

  std::shared_ptr<const Model> run(ChannelsLastStats* stats) {
    for (size_t idx : in_.topological_order()) rewrite(in_.nodes[idx]);
    for (const auto& out : in_.outputs) need_nchw(out.name);
    if (stats) *stats = stats_;
    if (stats_.convs == 0) return nullptr;
    return out_;
  }

 private:
  const Graph& in_;
  const int64_t opset_;
  std::shared_ptr<Model> out_;
  ChannelsLastStats stats_;
  std::unordered_map<std::string, const Node*> constant_nodes_;
  std::unordered_map<std::string, std::string> identity_of_;  // Identity output -> its input
  std::unordered_map<std::string, std::string> nhwc_;  // value -> its NHWC copy
  std::set<std::string> nhwc_only_;                    // values produced only as their NHWC copy so far

  const Tensor* constant(const std::string& name) const {
    auto alias = identity_of_.find(name);  // exporters share parameters through Identity nodes
    if (alias != identity_of_.end()) return constant(alias->second);
    auto init = in_.initializers.find(name);
    if (init != in_.initializers.end()) return &init->second;
    auto c = constant_nodes_.find(name);
    return c != constant_nodes_.end() ? c->second->attr_tensor("value") : nullptr;
  }
  bool is_scalar(const std::string& name) const {
    const Tensor* t = constant(name);
    return t && t->numel() == 1;
  }
  bool has_nhwc(const std::string& name) const { return nhwc_.count(name) != 0; }

  void emit_transpose(const Node& origin, const std::string& from, const std::string& to, const std::vector<int64_t>& perm) {
    Node t;
    t.op_type = "Transpose";
    t.name = "transfix/channels_last/" + to;
    t.inputs = {from};
    t.outputs = {to};
    t.attrs["perm"] = Attribute{perm};
    t.prov = origin.prov;
    out_->graph.nodes.push_back(std::move(t));
    ++stats_.transposes;
  }

  // The value in its model layout, converting the NHWC copy back the first time it is needed.
  const std::string& need_nchw(const std::string& name) {
    if (!nhwc_only_.count(name)) return name;
    nhwc_only_.erase(name);
    Node origin;
    origin.name = name;
    emit_transpose(origin, nhwc_.at(name), name, kToNchw);
    return name;
  }
  // The value's NHWC copy, converting it the first time it is needed.
  std::string need_nhwc(const std::string& name, const Node& reader) {
    auto it = nhwc_.find(name);
    if (it != nhwc_.end()) return it->second;
    std::string copy = unique(name + "/nhwc");
    emit_transpose(reader, name, copy, kToNhwc);
    nhwc_[name] = copy;
    return copy;
  }
  // The NHWC output of a rewritten node; the model-layout value appears only if something needs it.
  std::string produce_nhwc(const std::string& name) {
    std::string copy = unique(name + "/nhwc");
    nhwc_[name] = copy;
    nhwc_only_.insert(name);
    return copy;
  }
  std::string unique(const std::string& base) {
    std::string name = base;
    for (int i = 1; taken(name); ++i) name = base + "_" + std::to_string(i);
    taken_.insert(name);
    return name;
  }
  bool taken(const std::string& name) const { return taken_.count(name) != 0; }
  std::set<std::string> taken_;

  void keep(const Node& n) {
    Node copy = n;
    for (auto& in : copy.inputs)
      if (!in.empty()) in = need_nchw(in);
    out_->graph.nodes.push_back(std::move(copy));
  }
  void emit_nhwc(Node n, bool counts_as_conv) {
    for (auto& out : n.outputs)
      if (!out.empty()) out = produce_nhwc(out);
    out_->graph.nodes.push_back(std::move(n));
    ++(counts_as_conv ? stats_.convs : stats_.others);
  }

  void rewrite(const Node& n) {
    if (!n.domain.empty() || !try_rewrite(n)) keep(n);
  }

  bool try_rewrite(const Node& n) {
    const std::string& op = n.op_type;
    if (op == "Conv") return conv(n);
    if (kElementwiseUnary.count(op) || kElementwiseBinary.count(op)) return elementwise(n);
    if (op == "MaxPool" || op == "AveragePool") return pool(n);
    if (op == "GlobalAveragePool" || op == "GlobalMaxPool") return global_pool(n);
    if (op == "Concat") return concat(n);
    if (op == "BatchNormalization") return batch_norm(n);
    if (op == "Pad") return pad(n);
    return false;
  }

  bool single_output(const Node& n) const {
    for (size_t i = 1; i < n.outputs.size(); ++i)
      if (!n.outputs[i].empty()) return false;
    return !n.outputs.empty() && !n.outputs[0].empty();
  }

  bool conv(const Node& n) {
    if (n.has_attr("layout") || n.inputs.size() < 2 || !single_output(n)) return false;
    const Tensor* w = constant(n.inputs[1]);
    if (!w || w->rank() != 4 || w->dtype() != DType::kF32) return false;
    Node c = n;
    c.inputs[0] = need_nhwc(n.inputs[0], n);
    c.attrs["layout"] = Attribute{std::string("NHWC")};
    c.attrs["weight_layout"] = Attribute{std::string("OIHW")};
    emit_nhwc(std::move(c), true);
    return true;
  }

  // At least one input already channels-last, the rest channels-last or scalars: broadcasting two
  // rank-4 tensors permuted alike gives the permuted result.
  bool elementwise(const Node& n) {
    if (!single_output(n)) return false;
    bool any = false;
    for (const auto& in : n.inputs) {
      if (in.empty() || is_scalar(in)) continue;
      if (!has_nhwc(in)) return false;
      any = true;
    }
    if (!any) return false;
    Node e = n;
    for (auto& in : e.inputs)
      if (!in.empty() && has_nhwc(in)) in = nhwc_.at(in);
    emit_nhwc(std::move(e), false);
    return true;
  }

  bool pool(const Node& n) {
    if (!single_output(n) || n.has_attr("layout") || !has_nhwc(n.inputs[0])) return false;
    if (n.attr_ints("kernel_shape").size() != 2) return false;
    for (int64_t d : n.attr_ints("dilations", {1, 1}))
      if (d != 1) return false;
    Node p = n;
    p.inputs[0] = nhwc_.at(n.inputs[0]);
    p.attrs["layout"] = Attribute{std::string("NHWC")};
    emit_nhwc(std::move(p), false);
    return true;
  }

  // GlobalAveragePool over NCHW = ReduceMean over H, W of NHWC, keeping the dims.
  bool global_pool(const Node& n) {
    if (!single_output(n) || !has_nhwc(n.inputs[0])) return false;
    Node r;
    r.op_type = n.op_type == "GlobalAveragePool" ? "ReduceMean" : "ReduceMax";
    r.name = n.name;
    r.prov = n.prov;
    r.inputs = {nhwc_.at(n.inputs[0])};
    r.outputs = n.outputs;
    r.attrs["keepdims"] = Attribute{int64_t{1}};
    const std::vector<int64_t> axes{1, 2};
    if (opset_ >= 18) {
      std::string axes_name = unique(n.outputs[0] + "/axes");
      out_->graph.initializers[axes_name] = Tensor::from_vector<int64_t>(axes, {2});
      r.inputs.push_back(axes_name);
    } else {
      r.attrs["axes"] = Attribute{axes};
    }
    emit_nhwc(std::move(r), false);
    return true;
  }

  bool concat(const Node& n) {
    if (!single_output(n) || n.inputs.empty()) return false;
    for (const auto& in : n.inputs)
      if (in.empty() || !has_nhwc(in)) return false;
    int64_t axis = n.attr_int("axis", 1);
    if (axis < 0) axis += 4;
    if (axis < 0 || axis > 3) return false;
    Node c = n;
    for (auto& in : c.inputs) in = nhwc_.at(in);
    c.attrs["axis"] = Attribute{kToNchw[static_cast<size_t>(axis)]};  // NCHW axis a sits at NHWC position perm^-1(a)
    emit_nhwc(std::move(c), false);
    return true;
  }

  // Inference BatchNormalization is a per-channel affine map: y = x * a + b, a = scale / sqrt(var + eps),
  // b = B - mean * a. In NHWC the channel is the last axis, so [C] constants broadcast over it.
  bool batch_norm(const Node& n) {
    if (!single_output(n) || n.inputs.size() != 5 || !has_nhwc(n.inputs[0]) || n.attr_int("training_mode", 0) != 0)
      return false;
    const Tensor *scale = constant(n.inputs[1]), *bias = constant(n.inputs[2]), *mean = constant(n.inputs[3]),
                 *var = constant(n.inputs[4]);
    for (const Tensor* t : {scale, bias, mean, var})
      if (!t || t->dtype() != DType::kF32 || t->rank() != 1 || t->numel() != scale->numel()) return false;
    const double eps = n.attr_float("epsilon", 1e-5);
    const int64_t channels = scale->numel();
    std::vector<float> a(static_cast<size_t>(channels)), b(a.size());
    for (int64_t c = 0; c < channels; ++c) {
      const double k = scale->data<float>()[c] / std::sqrt(static_cast<double>(var->data<float>()[c]) + eps);
      a[static_cast<size_t>(c)] = static_cast<float>(k);
      b[static_cast<size_t>(c)] = static_cast<float>(bias->data<float>()[c] - mean->data<float>()[c] * k);
    }
    const std::string a_name = unique(n.outputs[0] + "/bn_scale"), b_name = unique(n.outputs[0] + "/bn_shift");
    const std::string scaled = unique(n.outputs[0] + "/bn_scaled");
    out_->graph.initializers[a_name] = Tensor::from_vector<float>(a, {channels});
    out_->graph.initializers[b_name] = Tensor::from_vector<float>(b, {channels});
    Node mul;
    mul.op_type = "Mul";
    mul.name = n.name + "/scale";
    mul.prov = n.prov;
    mul.inputs = {nhwc_.at(n.inputs[0]), a_name};
    mul.outputs = {scaled};
    out_->graph.nodes.push_back(std::move(mul));
    Node add;
    add.op_type = "Add";
    add.name = n.name;
    add.prov = n.prov;
    add.inputs = {scaled, b_name};
    add.outputs = n.outputs;
    emit_nhwc(std::move(add), false);
    return true;
  }

  // Pad with constant pads: the same pads, listed in NHWC axis order.
  bool pad(const Node& n) {
    if (!single_output(n) || !has_nhwc(n.inputs[0])) return false;
    std::vector<int64_t> pads;
    if (opset_ < 11) {
      pads = n.attr_ints("pads");
    } else {
      if (n.inputs.size() < 2 || n.has_input(3)) return false;  // pads must be given; no axes input
      const Tensor* t = constant(n.inputs[1]);
      if (!t || t->dtype() != DType::kI64) return false;
      pads.assign(t->data<int64_t>(), t->data<int64_t>() + t->numel());
    }
    if (pads.size() != 8) return false;
    std::vector<int64_t> permuted(8);
    for (size_t i = 0; i < 4; ++i) {
      permuted[i] = pads[static_cast<size_t>(kToNhwc[i])];
      permuted[i + 4] = pads[static_cast<size_t>(kToNhwc[i]) + 4];
    }
    Node p = n;
    p.inputs[0] = nhwc_.at(n.inputs[0]);
    if (opset_ < 11) {
      p.attrs["pads"] = Attribute{permuted};
    } else {
      std::string pads_name = unique(n.outputs[0] + "/pads_nhwc");
      out_->graph.initializers[pads_name] = Tensor::from_vector<int64_t>(permuted, {8});
      p.inputs[1] = pads_name;
    }
    emit_nhwc(std::move(p), false);
    return true;
  }
};

}  // namespace

std::shared_ptr<const Model> channels_last_model(const Model& model, ChannelsLastStats* stats) {
  return Rewriter(model).run(stats);
}

}  // namespace transfix
