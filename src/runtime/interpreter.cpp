#include "runtime/interpreter.h"

#include "runtime/channels_last.h"
#include "runtime/quant_simulation.h"

#include <algorithm>
#include <chrono>
#include <set>
#include <cstdlib>
#include <limits>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <optional>
#include <unordered_map>

namespace transfix {

const char* quant_mode_name(QuantMode m) {
  return m == QuantMode::kIntegerXnnpack ? "int-xnnpack" : m == QuantMode::kDequantized ? "dequantized" : "int";
}

namespace {
bool is_low_precision(DType t) { return t == DType::kF16 || t == DType::kBF16; }

// The graph a quantization mode runs instead of the caller's (nullptr: the caller's as it is).
std::shared_ptr<const Model> rewrite_for(const Model& model, QuantMode mode) {
  if (mode == QuantMode::kInteger || !has_quantized_ops(model)) return nullptr;
  if (mode == QuantMode::kDequantized) return std::make_shared<const Model>(dequantized_model(model));
  return std::make_shared<const Model>(xnnpack_requantized_model(model));
}
}  // namespace

std::map<std::string, int> Interpreter::unsupported_ops(const Model& model) {
  std::map<std::string, int> missing;
  for (const auto& n : model.graph.nodes)
    if (!find_kernel(n.op_type, n.domain)) ++missing[n.domain.empty() ? n.op_type : n.domain + ":" + n.op_type];
  return missing;
}

Interpreter::Interpreter(const Model& model, InterpreterOptions options)
    : rewritten_(rewrite_for(model, options.quant_mode)),
      model_(rewritten_ ? *rewritten_ : model),
      options_(options) {
  const Graph& g = model_.graph;
  for (const auto& n : g.nodes) {
    const KernelInfo* k = find_kernel(n.op_type, n.domain);
    if (!k) {
      std::string op = n.domain.empty() ? n.op_type : n.domain + ":" + n.op_type;
      throw UnsupportedError("unsupported op " + op + " (node '" + n.name + "')", op);
    }
    kernels_.push_back(k);
    std::vector<const ValueInfo*> infos;
    for (const auto& out : n.outputs) infos.push_back(out.empty() ? nullptr : g.find_value_info(out));
    output_infos_.push_back(std::move(infos));
  }
  order_ = g.topological_order();
  for (const auto& [name, t] : g.initializers) constants_[name] = to_working(t);
  for (const auto& n : g.nodes)
    for (const auto& in : n.inputs)
      if (!in.empty()) ++use_counts_[in];
  for (const auto& out : g.outputs) ++use_counts_[out.name];
  node_states_.resize(g.nodes.size());
  find_fusions();
  plan_channels_last();
}

void Interpreter::plan_channels_last() {
  static const bool disabled = [] {
    const char* env = std::getenv("TRANSFIX_CHANNELS_LAST");
    return env && std::string(env) == "off";
  }();
  if (disabled || !options_.channels_last || options_.precision != Precision::kF32) return;
  channels_last_model_ = channels_last_model(model_);
  if (!channels_last_model_) return;
  InterpreterOptions plain = options_;
  plain.channels_last = false;
  channels_last_ = std::make_unique<Interpreter>(*channels_last_model_, plain);
}

std::unique_ptr<Interpreter> Interpreter::owning(Model model, InterpreterOptions options) {
  auto owned = std::make_shared<Model>(std::move(model));
  std::unique_ptr<Interpreter> interp(new Interpreter(*owned, options));
  interp->owned_ = std::move(owned);
  interp->hand_over_weights();
  return interp;
}

void Interpreter::hand_over_weights() {
  // Quantized rewrites and fp64 copies hold weights of their own; packing is an fp32 matter.
  if (rewritten_ || options_.precision != Precision::kF32) return;
  if (!channels_last_) {
    releasing_model_ = owned_;
    plan_releases();
    return;
  }
  // Every run goes through the plan, whose graph shares the weights' buffers: drop our references, so
  // that the plan's are the only ones and a weight it releases is really freed.
  constants_.clear();
  for (auto& [name, t] : owned_->graph.initializers) t = t.without_data();
  handed_over_ = true;
  channels_last_->releasing_model_ = std::const_pointer_cast<Model>(channels_last_model_);
  channels_last_->plan_releases();
}

// A kernel may release a constant input that no one else reads: a weight of this node only, not a
// graph input (callers may feed those) nor a graph output.
void Interpreter::plan_releases() {
  const Graph& g = model_.graph;
  std::set<std::string> fed;
  for (const auto& in : g.inputs) fed.insert(in.name);
  releasable_.assign(g.nodes.size(), 0);
  released_.assign(g.nodes.size(), 0);
  for (size_t i = 0; i < g.nodes.size(); ++i)
    for (size_t k = 0; k < g.nodes[i].inputs.size() && k < 32; ++k) {
      const std::string& name = g.nodes[i].inputs[k];
      auto uses = use_counts_.find(name);
      if (!name.empty() && constants_.count(name) && !fed.count(name) && uses != use_counts_.end() && uses->second == 1)
        releasable_[i] |= 1u << k;
    }
}

void Interpreter::release_inputs(size_t node, uint32_t mask) const {
  const Node& n = model_.graph.nodes[node];
  for (size_t k = 0; k < n.inputs.size() && k < 32; ++k) {
    if (!(mask >> k & 1u) || !(releasable_[node] >> k & 1u)) continue;
    const std::string& name = n.inputs[k];
    constants_[name] = constants_[name].without_data();
    auto& init = releasing_model_->graph.initializers;
    if (auto it = init.find(name); it != init.end()) it->second = it->second.without_data();
    released_[node] |= 1u << k;
  }
}

namespace {
// A Clip bound known before running: an initializer or a Constant node's scalar float `value`.
std::optional<float> constant_scalar(const Graph& g, const std::string& name) {
  const Tensor* t = nullptr;
  auto init = g.initializers.find(name);
  if (init != g.initializers.end()) t = &init->second;
  for (const auto& n : g.nodes)
    if (!t && n.op_type == "Constant" && n.domain.empty() && n.outputs.size() == 1 && n.outputs[0] == name)
      t = n.attr_tensor("value");
  if (!t || t->dtype() != DType::kF32 || t->numel() != 1) return std::nullopt;
  return t->data<float>()[0];
}
}  // namespace

// Conv followed by its output's only reader, a Relu or a Clip with constant bounds: the Conv can
// apply the activation itself and the intermediate is never stored (the values the graph defines
// are unchanged, which is why this happens only when no observer asks for every value).
void Interpreter::find_fusions() {
  const Graph& g = model_.graph;
  fused_consumer_.assign(g.nodes.size(), -1);
  fused_activation_.assign(g.nodes.size(), FusedActivation{});
  std::unordered_map<std::string, int> reader;
  for (size_t i = 0; i < g.nodes.size(); ++i)
    for (const auto& in : g.nodes[i].inputs) reader[in] = static_cast<int>(i);
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const Node& conv = g.nodes[i];
    if (conv.op_type != "Conv" || !conv.domain.empty() || conv.outputs.size() != 1) continue;
    auto uses = use_counts_.find(conv.outputs[0]);
    if (uses == use_counts_.end() || uses->second != 1) continue;
    const int c = reader[conv.outputs[0]];
    const Node& act = g.nodes[c];
    if (!act.domain.empty() || act.inputs.empty() || act.inputs[0] != conv.outputs[0] || act.outputs.size() != 1) continue;
    FusedActivation f;
    if (act.op_type == "Relu") {
      f.kind = FusedActivation::Kind::kRelu;
    } else if (act.op_type == "Clip") {
      f.kind = FusedActivation::Kind::kClip;
      f.lo = std::numeric_limits<float>::lowest();
      f.hi = std::numeric_limits<float>::max();
      if (model_.opset() < 11) {
        f.lo = static_cast<float>(act.attr_float("min", f.lo));
        f.hi = static_cast<float>(act.attr_float("max", f.hi));
      } else {
        bool known = true;
        for (size_t b = 1; b < act.inputs.size() && b <= 2; ++b) {
          if (act.inputs[b].empty()) continue;
          std::optional<float> v = constant_scalar(g, act.inputs[b]);
          known = known && v.has_value();
          if (v) (b == 1 ? f.lo : f.hi) = *v;
        }
        if (!known || act.inputs.size() > 3) continue;
      }
    } else {
      continue;
    }
    fused_consumer_[i] = c;
    fused_activation_[i] = f;
  }
}

Tensor Interpreter::to_working(const Tensor& t) const {
  if (options_.precision == Precision::kF64 && is_float(t.dtype()) && t.dtype() != DType::kF64) {
    Tensor c = t.cast(DType::kF64);
    c.set_quant(t.quant());
    return c;
  }
  return t;
}

void Interpreter::check_input(const ValueInfo& info, const Tensor& t) const {
  if (info.dtype != DType::kUndefined && info.dtype != t.dtype())
    throw InputError("input '" + info.name + "' expects " + dtype_name(info.dtype) + " but got " + dtype_name(t.dtype()));
  if (!info.has_shape || !options_.check_input_shapes) return;
  bool ok = info.shape.size() == t.shape().size();
  for (size_t i = 0; ok && i < info.shape.size(); ++i) ok = info.shape[i] < 0 || info.shape[i] == t.shape()[i];
  if (!ok)
    throw InputError("input '" + info.name + "' expects shape " + shape_str(info.shape) + " but got " + shape_str(t.shape()));
}

std::map<std::string, Tensor> Interpreter::run(const std::map<std::string, Tensor>& inputs, Observer* observer,
                                               RunStats* stats) const {
  const bool released = handed_over_ || std::any_of(released_.begin(), released_.end(), [](uint32_t m) { return m != 0; });
  if (observer && released)
    throw InputError("this interpreter holds the model's weights packed for unobserved fp32 runs (Interpreter::owning): "
                     "an observed run needs an interpreter of its own");
  if (channels_last_ && !observer) {
    // The plan takes the model's inputs and gives its outputs; only the shape check is ours to do.
    for (const auto& info : model_.graph.inputs) {
      auto it = inputs.find(info.name);
      if (it != inputs.end()) check_input(info, it->second);
    }
    return channels_last_->run(inputs, nullptr, stats);
  }
  if (stats) stats->node_ms.assign(model_.graph.nodes.size(), 0.0);
  if (stats) stats->graph = &model_.graph;
  const Graph& g = model_.graph;
  std::unordered_map<std::string, Tensor> values;
  std::unordered_map<std::string, int> remaining(use_counts_.begin(), use_counts_.end());

  for (const auto& info : g.inputs) {
    auto it = inputs.find(info.name);
    if (it == inputs.end()) {
      if (constants_.count(info.name)) continue;  // input with a default initializer
      throw InputError("missing model input '" + info.name + "'");
    }
    check_input(info, it->second);
    values[info.name] = to_working(it->second);
    // Quantized inputs carry their declared scale/zero point, like produced values below.
    Tensor& in = values[info.name];
    if (info.quant && !in.quant() && !is_float(in.dtype())) in.set_quant(info.quant);
    if (observer) {
      observer->on_value(info.name, values[info.name], nullptr);
      Tensor replacement;
      if (observer->substitute(info.name, values[info.name], nullptr, &replacement)) values[info.name] = std::move(replacement);
    }
  }
  for (const auto& [name, t] : inputs)
    if (!values.count(name)) {
      bool known = false;
      for (const auto& info : g.inputs) known |= info.name == name;
      if (!known) throw InputError("the model has no input named '" + name + "'");
    }

  auto lookup = [&](const std::string& name) -> const Tensor* {
    auto it = values.find(name);
    if (it != values.end()) return &it->second;
    auto c = constants_.find(name);
    return c != constants_.end() ? &c->second : nullptr;
  };

  const bool fuse = !observer && options_.precision == Precision::kF32;
  std::vector<bool> folded(g.nodes.size(), false);  // activations a Conv already applied
  for (size_t idx : order_) {
    const Node& node = g.nodes[idx];
    const KernelInfo& kernel = *kernels_[idx];
    if (folded[idx]) {  // nothing to compute; its output was stored by the Conv
      for (const auto& name : node.inputs) {
        auto r = name.empty() ? remaining.end() : remaining.find(name);
        if (r != remaining.end() && --r->second == 0) values.erase(name);
      }
      continue;
    }
    std::vector<const Tensor*> ins;
    std::vector<Tensor> widened;  // float16 inputs run as float32 for kernels that want it
    widened.reserve(node.inputs.size());
    DType low = DType::kUndefined;
    for (const auto& name : node.inputs) {
      const Tensor* t = name.empty() ? nullptr : lookup(name);
      if (!name.empty() && !t) throw InputError("node '" + node.name + "' (" + node.op_type + "): value '" + name + "' is not available");
      if (t && !kernel.handles_low_precision && is_low_precision(t->dtype())) {
        low = t->dtype();
        widened.push_back(t->cast(DType::kF32));
        t = &widened.back();
      }
      ins.push_back(t);
    }
    // Not with float16 inputs: the Conv output is rounded to float16 before the activation reads it.
    const int fused_into = fuse && low == DType::kUndefined ? fused_consumer_[idx] : -1;
    KernelContext ctx(node, model_.opset(), options_.precision, std::move(ins), output_infos_[idx]);
    ctx.set_node_state(&node_states_[idx]);
    if (!releasable_.empty()) ctx.set_release_masks(releasable_[idx], released_[idx]);
    if (fused_into >= 0) ctx.set_fused_activation(fused_activation_[idx]);
    auto started = stats ? std::chrono::steady_clock::now() : std::chrono::steady_clock::time_point{};
    try {
      kernel.fn(ctx);
    } catch (const UnsupportedError& e) {
      std::string msg = e.what();
      if (msg.rfind("node '", 0) == 0) throw;
      throw UnsupportedError("node '" + node.name + "' (" + node.op_type + "): " + msg, e.op().empty() ? node.op_type : e.op());
    } catch (const InputError& e) {
      std::string msg = e.what();
      if (msg.rfind("node '", 0) == 0) throw;
      throw InputError("node '" + node.name + "' (" + node.op_type + "): " + msg);
    } catch (const std::bad_alloc&) {
      throw InputError("node '" + node.name + "' (" + node.op_type + "): out of memory");
    }
    if (const uint32_t freed = ctx.inputs_released_now()) {
      release_inputs(idx, freed);
#ifdef __GLIBC__
      // Weights read by protobuf sit in the middle of the heap, where free() keeps the pages: hand the
      // released ones back now (first run only), or the packed copies would still count twice.
      malloc_trim(0);
#endif
    }
    if (stats) stats->node_ms[idx] = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count();
    if (fused_into >= 0) folded[fused_into] = true;
    for (size_t o = 0; o < node.outputs.size(); ++o) {
      const std::string& name = fused_into >= 0 ? g.nodes[fused_into].outputs[0] : node.outputs[o];
      if (name.empty()) continue;
      Tensor& out = ctx.outputs()[o];
      if (!out.defined()) {
        if (!remaining.count(name)) continue;  // optional output nobody reads
        throw InputError("node '" + node.name + "' (" + node.op_type + "): output #" + std::to_string(o) + " was not produced");
      }
      if (low != DType::kUndefined && out.dtype() == DType::kF32) out = out.cast(low);
      // Quantized values carry their declared scale/zero point so consumers can read them.
      const ValueInfo* info = output_infos_[idx][o];
      if (info && info->quant && !out.quant() && !is_float(out.dtype())) out.set_quant(info->quant);
      if (observer) {
        observer->on_value(name, out, &node);
        Tensor replacement;
        if (observer->substitute(name, out, &node, &replacement)) out = std::move(replacement);
      }
      values[name] = std::move(out);
    }
    // Free inputs nobody needs any more (keeps peak memory near the largest live set).
    for (const auto& name : node.inputs) {
      if (name.empty()) continue;
      auto r = remaining.find(name);
      if (r != remaining.end() && --r->second == 0) values.erase(name);
    }
  }

  std::map<std::string, Tensor> outputs;
  for (const auto& info : g.outputs) {
    const Tensor* t = lookup(info.name);
    if (!t) throw InputError("graph output '" + info.name + "' was not produced");
    outputs[info.name] = *t;
  }
  return outputs;
}

}  // namespace transfix
