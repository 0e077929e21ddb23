#include "localize/diagnose.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <set>

#include "localize/channel_affine.h"
#include "localize/known_faults.h"
#include "localize/root_causes.h"
#include "localize/weight_comparison.h"
#include "compare/weight_precision.h"
#include "core/errors.h"
#include "core/format.h"
#include "core/op_vocabulary.h"

namespace transfix {

std::string to_string(Stage stage) {
  switch (stage) {
    case Stage::kTool: return "tool";
    case Stage::kParameters: return "parameters";
    case Stage::kHyperparameters: return "hyperparameters";
    case Stage::kGraph: return "graph";
  }
  return "?";
}

std::string to_string(FaultCategory category) {
  switch (category) {
    case FaultCategory::kInput: return "input";
    case FaultCategory::kParameters: return "parameters";
    case FaultCategory::kHyperparameters: return "hyperparameters";
    case FaultCategory::kGraph: return "graph";
    case FaultCategory::kNumeric: return "numeric";
    case FaultCategory::kCrash: return "crash";
  }
  return "?";
}

std::string to_string(RepairAction action) {
  switch (action) {
    case RepairAction::kNone: return "";
    case RepairAction::kSetAttributes: return "set-attributes";
    case RepairAction::kRestoreWeights: return "restore-weights";
    case RepairAction::kSpliceSource: return "splice-source";
  }
  return "?";
}

namespace {

// ---------------------------------------------------------------- segment analysis

struct Ctx {
  const Model& source;
  const Model& target;
  const SourceTrace& trace;
  const Alignment& al;
};

struct NodePairing {
  std::vector<std::pair<int, int>> pairs;  // (source node, target node)
  std::vector<int> source_only, target_only;
};

NodePairing pair_nodes(const Ctx& c, const std::vector<int>& src, const std::vector<int>& tgt) {
  NodePairing p;
  std::vector<bool> used(tgt.size(), false);
  for (int s : src) {
    const std::string fam = op_family(c.source.graph.nodes.at(static_cast<size_t>(s)).op_type);
    bool found = false;
    for (size_t i = 0; i < tgt.size() && !found; ++i)
      if (!used[i] && op_family(c.target.graph.nodes[static_cast<size_t>(tgt[i])].op_type) == fam) {
        used[i] = true, found = true;
        p.pairs.push_back({s, tgt[i]});
      }
    if (!found) p.source_only.push_back(s);
  }
  for (size_t i = 0; i < tgt.size(); ++i)
    if (!used[i]) p.target_only.push_back(tgt[i]);
  return p;
}

ShapeOf source_shapes(const Ctx& c) {
  return [&c](const std::string& name) -> Shape {
    auto it = c.trace.index.find(name);
    if (it != c.trace.index.end()) return c.trace.shape[static_cast<size_t>(it->second)];
    auto init = c.source.graph.initializers.find(name);
    return init != c.source.graph.initializers.end() ? init->second.shape() : Shape{};
  };
}

ShapeOf target_shapes(const Ctx& c) {
  return [&c](const std::string& name) -> Shape {
    auto it = c.al.target_shapes.find(name);
    if (it != c.al.target_shapes.end()) return it->second;
    auto init = c.target.graph.initializers.find(name);
    return init != c.target.graph.initializers.end() ? init->second.shape() : Shape{};
  };
}

// Target axis attributes in the source's frame, through the segment's layout transform.
void to_source_frame_axes(std::map<std::string, std::string>& attrs, const Transform& tr) {
  auto it = attrs.find("axis");
  if (it == attrs.end() || tr.perm.empty() || tr.reshape) return;
  const int64_t axis = std::stoll(it->second);
  if (axis >= 0 && axis < static_cast<int64_t>(tr.perm.size())) it->second = std::to_string(tr.perm[static_cast<size_t>(axis)]);
}

void hyperparameter_findings(const Ctx& c, const NodePairing& np, const TensorPair& seg, Fault& f) {
  for (auto [s, t] : np.pairs) {
    const Node& sn = c.source.graph.nodes.at(static_cast<size_t>(s));
    const Node& tn = c.target.graph.nodes.at(static_cast<size_t>(t));
    auto sa = canonical_attributes(c.source, sn, source_shapes(c));
    auto ta = canonical_attributes(c.target, tn, target_shapes(c));
    to_source_frame_axes(ta, seg.transform);
    std::map<std::string, std::string> fix;
    for (const auto& [key, sv] : sa) {
      auto it = ta.find(key);
      if (it == ta.end() || it->second == sv) continue;
      if (key == "kernel" || key == "group") {
        if (key == "group") f.findings.push_back({Stage::kGraph, "group count differs", "source " + sv + ", target " + it->second, 0.7});
        continue;
      }
      f.findings.push_back({Stage::kHyperparameters, key == "activation" ? "activation bounds" : key,
                            node_label(tn) + ": " + key + " " + it->second + ", source " + node_label(sn) + " has " + sv, 0.9});
      fix[key] = sv;
    }
    if (!fix.empty() && f.repair.action == RepairAction::kNone) {
      f.repair.action = RepairAction::kSetAttributes;
      f.repair.target_node = t, f.repair.source_node = s;
      f.repair.attributes = fix;
      f.target_node = t, f.source_node = s;
    }
  }
}

void parameter_findings(const Ctx& c, const NodePairing& np, const std::vector<int>& src_nodes, Fault& f) {
  for (auto [s, t] : np.pairs) {
    const Node& sn = c.source.graph.nodes.at(static_cast<size_t>(s));
    const Node& tn = c.target.graph.nodes.at(static_cast<size_t>(t));
    const std::string fam = op_family(sn.op_type);
    if (fam != "conv" && fam != "gemm") continue;
    auto ws = canonical_weight(c.source, sn);
    auto wt = canonical_weight(c.target, tn);
    if (!ws || !wt) continue;
    Tensor w = ws->clone();
    std::vector<double> b(static_cast<size_t>(w.dim(0)), 0.0);
    if (auto bs = bias_of(c.source, sn); bs && bs->numel() == w.dim(0)) b = bs->to_f64_vector();
    // Per-channel affine ops reading this layer's output in the source segment (a BatchNorm, or the
    // scale and shift an importer writes for one), absent from the target segment, were folded by
    // the converter: compare against the folded weights.
    const std::set<int> unpaired(np.source_only.begin(), np.source_only.end());
    const auto affine = channel_affine_after(c.source.graph, sn.outputs[0], w.dim(0), [&](int n) { return unpaired.count(n) > 0; });
    const bool folded = affine.has_value();
    if (affine) fold_channel_affine(*affine, w, b);
    (void)src_nodes;
    // Weights stored in a lower precision (float16, int8 with a scale) are the source's rounded to it:
    // intended, not a fault. Beyond that rounding they are other weights (a weight fault, or weights
    // retrained for quantization).
    const auto storage = stored_weight(c.target.graph, tn.inputs[1]);
    std::optional<Finding> finding;
    const bool reduced = storage && storage->storage != WeightStorage::kFloat32 && w.shape() == wt->shape();
    const double units = reduced ? storage_rounding_units(w, *wt, *storage) : 0.0;
    if (!reduced) finding = compare_weights_fp16_aware(w, *wt);
    else if (units > 1) finding = compare_weights(w, *wt, storage_tolerance(w, *storage));
    if (finding && reduced && finding->kind == "weights differ") {
      finding->detail = "stored in " + storage->describe() + ", they are off the source's by up to " + format_number(units) +
                        " times what that rounding allows: other weights (changed, or retrained for quantization)";
    }
    auto bt = bias_of(c.target, tn);
    if (!finding) {
      double bscale = 0;
      for (double v : b) bscale = std::max(bscale, std::fabs(v));
      if (!bt && bscale > 0) {
        finding = Finding{Stage::kParameters, "bias dropped", "the source adds a bias (largest " + format_number(bscale) + "); the target has none", 0.9};
      } else if (bt && bt->numel() == static_cast<int64_t>(b.size())) {
        // (A bias stored in int32 on the input x weight scale, or in float16, is the source's rounded.)
        const auto bias_storage = stored_weight(c.target.graph, tn.inputs[2]);
        const Tensor bs = Tensor::from_vector<double>(b, {static_cast<int64_t>(b.size())});
        const bool rounded = bias_storage && bias_storage->storage != WeightStorage::kFloat32 &&
                             storage_rounding_units(bs, bt->reshaped(bs.shape()), *bias_storage) <= 1;
        const double err = rel_diff(b.data(), bt->data<double>(), bt->numel(), std::max(bscale, 1e-30));
        if (err > 2e-6 && !rounded) finding = Finding{Stage::kParameters, "bias differs", "max bias error " + format_number(err) + " of the largest bias", 0.8};
      }
    }
    if (!finding) continue;
    if (folded) finding->detail += "; compared with the source's weights after folding its BatchNormalization";
    finding->detail = node_label(tn) + ": " + finding->detail;
    f.findings.push_back(*finding);
    if (f.repair.action == RepairAction::kNone) {
      f.repair.action = RepairAction::kRestoreWeights;
      f.repair.target_node = t, f.repair.source_node = s;
      f.target_node = t, f.source_node = s;
    }
  }
}

bool neutral(const std::string& op) { return op_family(op) == "layout"; }

bool touches_graph_input(const Ctx& c, const TensorPair& seg, bool through_layout);

// A source ReLU / Clip whose bounds the target value's quantized range enforces (TOCO writes a
// uint8 MobileNet's ReLU6 only as its conv outputs' range [0, 6]): not missing. Within a step.
bool clamped_by_target_range(const Ctx& c, const Node& n, const std::string& target_value) {
  if (n.op_type != "Relu" && n.op_type != "Clip") return false;
  const ValueInfo* v = c.target.graph.find_value_info(target_value);
  if (!v || !v->quant || v->quant->scale.size() != 1 || !is_integer(v->dtype)) return false;
  const auto [qmin, qmax] = integer_range(v->dtype);
  const double step = v->quant->scale[0], zp = v->quant->zero_point.empty() ? 0.0 : static_cast<double>(v->quant->zero_point[0]);
  const double lo = step * (qmin - zp), hi = step * (qmax - zp);
  const auto [clip_lo, clip_hi] = clamp_bounds(c.source, n);
  return lo >= clip_lo - step && (std::isinf(clip_hi) || hi <= clip_hi + step);
}

// The target op that makes the counterpart of source op `n`'s data input (-1: none mapped).
int producer_of_counterpart(const Ctx& c, const Node& n) {
  if (n.inputs.empty()) return -1;
  for (const auto& [target_value, source_value] : c.al.target_to_source)
    if (source_value == n.inputs[0])
      if (const int p = c.target.graph.producer_index(target_value); p >= 0) return p;
  return -1;
}

void graph_findings(const Ctx& c, const NodePairing& np, Fault& f) {
  const bool at_input = touches_graph_input(c, f.segment, false);
  // Folded BatchNorms (and the per-channel scale and shift an importer writes for one) are not
  // missing ops; nor are ops that compute constants only.
  const std::set<int> unpaired(np.source_only.begin(), np.source_only.end());
  std::set<int> folded;
  for (auto [ps, pt] : np.pairs) {
    const Node& sn = c.source.graph.nodes.at(static_cast<size_t>(ps));
    const std::string fam = op_family(sn.op_type);
    auto w = fam == "conv" || fam == "gemm" ? canonical_weight(c.source, sn) : std::nullopt;
    if (!w || sn.outputs.empty()) continue;
    if (auto a = channel_affine_after(c.source.graph, sn.outputs[0], w->dim(0), [&](int n) { return unpaired.count(n) > 0; }))
      folded.insert(a->nodes.begin(), a->nodes.end());
  }
  auto computes_constant = [&](const Node& n) {
    auto it = n.outputs.empty() ? c.trace.index.end() : c.trace.index.find(n.outputs[0]);
    return it != c.trace.index.end() && c.trace.constant[static_cast<size_t>(it->second)];
  };
  for (int s : np.source_only) {
    const Node& n = c.source.graph.nodes.at(static_cast<size_t>(s));
    if (neutral(n.op_type) || folded.count(s) || computes_constant(n) || clamped_by_target_range(c, n, f.segment.target)) continue;
    f.findings.push_back({Stage::kGraph, "op missing in the target", "source " + node_label(n) + " has no counterpart in the target segment", 0.8});
    if (f.source_node < 0) f.source_node = s;
    // Missing right after a mapped value (an activation the converter dropped after a conv): the
    // fault belongs to the target op that made that value, not to the next op, whose output shows it.
    if (f.target_node < 0) f.target_node = producer_of_counterpart(c, n);
  }
  for (int t : np.target_only) {
    const Node& n = c.target.graph.nodes.at(static_cast<size_t>(t));
    if (neutral(n.op_type) && !(at_input && (n.op_type == "Transpose" || n.op_type == "Reshape"))) continue;
    f.findings.push_back({Stage::kGraph, "extra op in the target", "target " + node_label(n) + " has no counterpart in the source segment", 0.7});
    if (f.target_node < 0) f.target_node = t;
  }
  // Swapped operands of non-commutative binary ops: inputs mapped to the source's in reverse order.
  for (auto [s, t] : np.pairs) {
    const Node& sn = c.source.graph.nodes.at(static_cast<size_t>(s));
    const Node& tn = c.target.graph.nodes.at(static_cast<size_t>(t));
    if (sn.inputs.size() != 2 || tn.inputs.size() != 2) continue;
    if (sn.op_type != "Sub" && sn.op_type != "Div" && sn.op_type != "Pow" && sn.op_type != "MatMul") continue;
    auto src_of = [&](const std::string& v) {
      auto it = c.al.target_to_source.find(v);
      return it == c.al.target_to_source.end() ? std::string() : it->second;
    };
    auto same_const = [&](const std::string& sv, const std::string& tv) {
      auto a = c.source.graph.initializers.find(sv);
      auto b = c.target.graph.initializers.find(tv);
      if (a == c.source.graph.initializers.end() || b == c.target.graph.initializers.end()) return false;
      return a->second.numel() == b->second.numel() && a->second.to_f64_vector() == b->second.to_f64_vector();
    };
    auto matches = [&](const std::string& sv, const std::string& tv) { return src_of(tv) == sv || same_const(sv, tv); };
    if (!matches(sn.inputs[0], tn.inputs[0]) && matches(sn.inputs[0], tn.inputs[1]) && matches(sn.inputs[1], tn.inputs[0])) {
      f.findings.push_back({Stage::kGraph, "operands swapped", node_label(tn) + " computes b " + sn.op_type + " a where the source computes a " + sn.op_type + " b", 0.9});
      f.target_node = t, f.source_node = s;
    }
  }
}

// The graph input itself, or it moved only by the Transpose / Pad a TFLite conversion puts in front
// of the first NHWC convolution (neither changes a channel's values).
bool is_graph_input(const Model& m, std::string v) {
  for (int hops = 0; hops < 4; ++hops) {
    for (const auto& in : m.graph.inputs)
      if (in.name == v) return true;
    const Node* producer = nullptr;
    for (const auto& n : m.graph.nodes)
      if (!n.outputs.empty() && n.outputs[0] == v) producer = &n;
    if (!producer || (producer->op_type != "Transpose" && producer->op_type != "Pad") || producer->inputs.empty()) return false;
    v = producer->inputs[0];
  }
  return false;
}

bool touches_graph_input(const Ctx& c, const TensorPair& seg, bool through_layout) {
  for (const auto& from : seg.target_from) {
    if (through_layout && is_graph_input(c.target, from)) return true;
    for (const auto& in : c.target.graph.inputs)
      if (in.name == from) return true;
  }
  return seg.target_from.empty();
}

void decide_category(const Ctx& c, Fault& f) {
  const TensorPair& seg = f.segment;
  auto first_of = [&](Stage stage) -> const Finding* {
    for (const auto& x : f.findings)
      if (x.stage == stage) return &x;
    return nullptr;
  };
  const Finding* hp = first_of(Stage::kHyperparameters);
  const Finding* pr = first_of(Stage::kParameters);
  const Finding* gr = first_of(Stage::kGraph);
  const bool at_input = touches_graph_input(c, seg, false);
  const bool only_target_ops = seg.source_nodes.empty() && !seg.target_nodes.empty();
  const bool channels_at_input = pr && pr->kind.find("input channels") != std::string::npos && touches_graph_input(c, seg, true);
  // (Weights that differ at the first op are a parameter fault, not the input contract.)
  if ((at_input && (gr || only_target_ops) && !pr) || channels_at_input) {
    f.category = FaultCategory::kInput;
    const Finding* x = pr && pr->kind.find("input channels") != std::string::npos ? pr : gr;
    bool layout_ops = false, scale_ops = false;
    for (int t : seg.target_nodes) {
      const std::string& op = c.target.graph.nodes.at(static_cast<size_t>(t)).op_type;
      layout_ops |= op == "Transpose" || op == "Reshape";
      scale_ops |= op == "Mul" || op == "Div" || op == "Sub" || op == "Add";
    }
    f.kind = x && x == pr ? "channel order" : scale_ops ? "input normalization" : layout_ops ? "input layout" : x ? x->kind : "input contract";
    f.confidence = x ? x->confidence : 0.7;
    if (x && x == pr && f.repair.action == RepairAction::kNone) f.repair.action = RepairAction::kRestoreWeights;
  } else if (hp) {
    f.category = FaultCategory::kHyperparameters, f.kind = hp->kind, f.confidence = hp->confidence;
  } else if (pr) {
    f.category = FaultCategory::kParameters, f.kind = pr->kind, f.confidence = pr->confidence;
  } else if (gr) {
    f.category = FaultCategory::kGraph, f.kind = gr->kind, f.confidence = gr->confidence;
  } else {
    f.category = FaultCategory::kNumeric;
    f.kind = "unexplained numeric error";
    f.confidence = 0.3;
  }
  if (f.repair.action == RepairAction::kNone || (f.category == FaultCategory::kGraph || f.category == FaultCategory::kInput || f.category == FaultCategory::kNumeric)) {
    if (f.repair.action != RepairAction::kRestoreWeights || f.category != FaultCategory::kInput) f.repair.action = RepairAction::kSpliceSource;
  }
  if (f.target_node < 0 && !seg.target_nodes.empty()) f.target_node = seg.target_nodes.back();
  if (f.source_node < 0 && !seg.source_nodes.empty()) f.source_node = seg.source_nodes.back();
}

std::string repair_text(const Ctx& c, const Fault& f) {
  const RepairPlan& r = f.repair;
  const bool pinned = r.target_node >= 0 && r.source_node >= 0;
  if (r.action == RepairAction::kSetAttributes && r.target_node >= 0) {
    std::string s = "set ";
    bool first = true;
    for (const auto& [k, v] : r.attributes) s += (first ? "" : ", ") + k + " = " + v, first = false;
    return s + " on " + node_label(c.target.graph.nodes.at(static_cast<size_t>(r.target_node)));
  }
  if (r.action == RepairAction::kRestoreWeights && pinned)
    return "rebuild the weights of " + node_label(c.target.graph.nodes.at(static_cast<size_t>(r.target_node))) + " from " +
           node_label(c.source.graph.nodes.at(static_cast<size_t>(r.source_node))) + " (layout, folding and precision of the target kept)";
  return "replace the target segment (" + std::to_string(f.segment.target_nodes.size()) + " ops) with the source's " +
         std::to_string(f.segment.source_nodes.size()) + " ops, translated";
}

// The canonical attributes of the two ops a fault is pinned to, for the report's side-by-side view.
void record_pinned_attributes(const Ctx& c, Fault& f) {
  if (f.target_node >= 0) {
    f.target_op_label = node_label(c.target.graph.nodes.at(static_cast<size_t>(f.target_node)));
    f.target_attributes = canonical_attributes(c.target, c.target.graph.nodes.at(static_cast<size_t>(f.target_node)), target_shapes(c));
    to_source_frame_axes(f.target_attributes, f.segment.transform);
  }
  if (f.source_node >= 0) {
    f.source_op_label = node_label(c.source.graph.nodes.at(static_cast<size_t>(f.source_node)));
    f.source_attributes = canonical_attributes(c.source, c.source.graph.nodes.at(static_cast<size_t>(f.source_node)), source_shapes(c));
  }
}

// The target op that fails even when fed the source's values, compared with the source op of the same
// family that reads the same (mapped) inputs: its attributes usually say why (a concat axis, a perm).
Fault diagnose_crash(const Ctx& c, const Alignment& al) {
  Fault f;
  f.category = FaultCategory::kCrash;
  f.kind = "the target fails even when fed the source's values";
  f.summary = "crash at node '" + al.crash_node + "': " + al.crash;
  f.confidence = 0.6;
  int t = -1;
  for (size_t i = 0; i < c.target.graph.nodes.size(); ++i)
    if (c.target.graph.nodes[i].name == al.crash_node) t = static_cast<int>(i);
  if (t < 0) return f;
  const Node& tn = c.target.graph.nodes[static_cast<size_t>(t)];
  std::multiset<std::string> mapped;
  for (const auto& in : tn.inputs)
    if (auto it = al.target_to_source.find(in); it != al.target_to_source.end()) mapped.insert(it->second);
  f.target_ops.push_back(node_label(tn));
  f.target_node = t;
  for (size_t s = 0; s < c.source.graph.nodes.size(); ++s) {
    const Node& sn = c.source.graph.nodes[s];
    if (op_family(sn.op_type) != op_family(tn.op_type)) continue;
    std::multiset<std::string> ins;
    for (const auto& in : sn.inputs)
      if (mapped.count(in)) ins.insert(in);
    if (mapped.empty() || ins != mapped) continue;
    NodePairing np;
    np.pairs.push_back({static_cast<int>(s), t});
    f.segment.target = tn.outputs.empty() ? "" : tn.outputs[0];
    f.segment.source = sn.outputs.empty() ? "" : sn.outputs[0];
    f.segment.target_nodes = {t};
    f.segment.source_nodes = {static_cast<int>(s)};
    f.segment.error = std::numeric_limits<double>::infinity();
    f.source_ops.push_back(node_label(sn));
    f.source_node = static_cast<int>(s);
    hyperparameter_findings(c, np, f.segment, f);
    if (const Finding* hp = f.findings.empty() ? nullptr : &f.findings.front(); hp && hp->stage == Stage::kHyperparameters) {
      f.category = FaultCategory::kHyperparameters, f.kind = hp->kind, f.confidence = hp->confidence;
      f.summary = to_string(f.category) + ": " + f.kind + " at " + node_label(tn) + " (the target crashes there: " + al.crash + ")";
      f.repair.text = repair_text(c, f);
    }
    break;
  }
  return f;
}

}  // namespace


const TensorPair* pair_of(const Alignment& al, const std::string& target_value) {
  for (const auto& p : al.pairs)
    if (p.target == target_value) return &p;
  return nullptr;
}

// A permutation of `rank` axes, identity when empty.
std::vector<int64_t> full_perm(std::vector<int64_t> p, size_t rank) {
  if (p.empty())
    for (size_t i = 0; i < rank; ++i) p.push_back(static_cast<int64_t>(i));
  return p;
}

// The perm q with permute(permute(S, a), q) = permute(S, e): q[i] = a^-1[e[i]].
std::vector<int64_t> perm_between(const std::vector<int64_t>& a, const std::vector<int64_t>& e) {
  std::vector<int64_t> inv(a.size()), q(a.size());
  for (size_t i = 0; i < a.size(); ++i) inv[static_cast<size_t>(a[i])] = static_cast<int64_t>(i);
  for (size_t i = 0; i < a.size(); ++i) q[i] = inv[static_cast<size_t>(e[i])];
  return q;
}

void set_perm_repair(const Ctx& c, const TensorPair& seg, int transpose, const std::vector<int64_t>& q, Fault& f) {
  f.repair = {};
  f.repair.action = RepairAction::kSetAttributes;
  f.repair.target_node = transpose, f.repair.source_node = seg.source_nodes.empty() ? -1 : seg.source_nodes.back();
  f.repair.attributes = {{"perm", format_ints(q)}};
  f.target_node = transpose;
  f.source_node = f.repair.source_node;
  if (std::find(f.segment.target_nodes.begin(), f.segment.target_nodes.end(), transpose) == f.segment.target_nodes.end()) {
    f.segment.target_nodes.insert(f.segment.target_nodes.begin(), transpose);
    f.target_ops.insert(f.target_ops.begin(), node_label(c.target.graph.nodes[static_cast<size_t>(transpose)]));
  }
}

// A segment that is one Transpose, whose output holds the source value of its name and shape in
// another layout (align anchors such a value as is): its perm is wrong. The right perm takes the
// input's layout to the source's (through the source's own Transpose, if the segment has one).
void transposed_value_findings(const Ctx& c, const TensorPair& seg, Fault& f) {
  if (seg.target_nodes.size() != 1 || seg.how != "anchor" || seg.transform.reshape) return;
  const int t = seg.target_nodes[0];
  const Node& tp = c.target.graph.nodes.at(static_cast<size_t>(t));
  const size_t rank = tp.attr_ints("perm").size();
  if (tp.op_type != "Transpose" || rank == 0 || tp.inputs.empty()) return;
  const TensorPair* before = pair_of(c.al, tp.inputs[0]);
  if (!before || before->transform.reshape) return;
  std::vector<int64_t> r;  // the source's own Transpose between the same values, if any
  for (int s : seg.source_nodes) {
    const Node& sn = c.source.graph.nodes.at(static_cast<size_t>(s));
    if (sn.op_type != "Transpose" || !r.empty()) return;
    r = sn.attr_ints("perm");
  }
  const auto a = full_perm(before->transform.perm, rank), rr = full_perm(r, rank), e = full_perm(seg.transform.perm, rank);
  if (a.size() != rank || rr.size() != rank || e.size() != rank) return;
  std::vector<int64_t> re(rank);
  for (size_t i = 0; i < rank; ++i) re[i] = rr[static_cast<size_t>(e[i])];
  const std::vector<int64_t> q = perm_between(a, re);
  if (q == tp.attr_ints("perm")) return;
  f.findings.insert(f.findings.begin(), {Stage::kHyperparameters, "perm",
                    node_label(tp) + ": perm " + format_ints(tp.attr_ints("perm")) + " gives '" + seg.target +
                        "' the source's values in another layout; perm " + format_ints(q) + " gives them as the source has them",
                    0.9});
  set_perm_repair(c, seg, t, q, f);
}

// An element-wise op or Concat whose inputs hold their source values in different layouts (each clean
// under its own transform, so no single op looks wrong): the odd input's Transpose has the wrong perm.
// Pins the fault to that Transpose, with the perm that puts its output in the other inputs' layout.
void layout_mismatch_findings(const Ctx& c, const TensorPair& seg, Fault& f) {
  static const std::set<std::string> joins{"Add", "Sub", "Mul", "Div", "Max", "Min", "Concat"};
  for (int t : seg.target_nodes) {
    const Node& n = c.target.graph.nodes.at(static_cast<size_t>(t));
    if (!joins.count(n.op_type) || n.inputs.size() < 2) continue;
    std::vector<const TensorPair*> in;
    for (const auto& v : n.inputs) in.push_back(pair_of(c.al, v));
    for (size_t odd = 0; odd < in.size(); ++odd) {
      if (!in[odd] || in[odd]->transform.reshape) continue;
      const TensorPair* other = nullptr;
      for (size_t j = 0; j < in.size(); ++j)
        if (j != odd && in[j] && !in[j]->transform.reshape && in[j]->transform.perm != in[odd]->transform.perm) other = in[j];
      if (!other) continue;
      int producer = -1;
      for (size_t i = 0; i < c.target.graph.nodes.size(); ++i)
        if (!c.target.graph.nodes[i].outputs.empty() && c.target.graph.nodes[i].outputs[0] == n.inputs[odd]) producer = static_cast<int>(i);
      if (producer < 0) continue;
      const Node& tp = c.target.graph.nodes[static_cast<size_t>(producer)];
      const TensorPair* before = tp.inputs.empty() ? nullptr : pair_of(c.al, tp.inputs[0]);
      const size_t rank = tp.attr_ints("perm").size();
      if (tp.op_type != "Transpose" || !before || before->transform.reshape || rank == 0) continue;
      const auto a = full_perm(before->transform.perm, rank), e = full_perm(other->transform.perm, rank);
      if (a.size() != rank || e.size() != rank) continue;
      const std::vector<int64_t> q = perm_between(a, e);  // permute(permute(S, a), q) = permute(S, e)
      if (q == tp.attr_ints("perm")) continue;
      f.findings.insert(f.findings.begin(), {Stage::kHyperparameters, "perm",
                        node_label(tp) + ": perm " + format_ints(tp.attr_ints("perm")) + " puts its output in another layout (" +
                            in[odd]->transform.describe() + ") than the other inputs of " + node_label(n) + " (" +
                            other->transform.describe() + "); perm " + format_ints(q) + " would match",
                        0.9});
      set_perm_repair(c, seg, producer, q, f);
      return;
    }
  }
}

Diagnosis diagnose(const Model& source, const Model& target, const SourceTrace& trace, const Alignment& al) {
  Ctx c{source, target, trace, al};
  Diagnosis d;
  d.tool_notes = producer_notes(source, target);
  for (const auto& seg : al.pairs) {
    if (seg.clean) continue;
    Fault f;
    f.segment = seg;
    for (int t : seg.target_nodes) f.target_ops.push_back(node_label(target.graph.nodes.at(static_cast<size_t>(t))));
    for (int s : seg.source_nodes) f.source_ops.push_back(node_label(source.graph.nodes.at(static_cast<size_t>(s))));
    NodePairing np = pair_nodes(c, seg.source_nodes, seg.target_nodes);
    hyperparameter_findings(c, np, seg, f);
    parameter_findings(c, np, seg.source_nodes, f);
    graph_findings(c, np, f);
    if (f.findings.empty()) transposed_value_findings(c, seg, f);
    if (f.findings.empty()) layout_mismatch_findings(c, seg, f);
    decide_category(c, f);
    for (auto& k : known_fault_findings(source, target, f)) f.findings.insert(f.findings.begin(), k);
    f.repair.text = repair_text(c, f);
    const std::string where = f.target_node >= 0 ? node_label(target.graph.nodes.at(static_cast<size_t>(f.target_node))) : "'" + seg.target + "'";
    f.summary = to_string(f.category) + ": " + f.kind + " at " + where;
    record_pinned_attributes(c, f);
    d.faults.push_back(std::move(f));
  }
  if (!al.crash.empty()) {
    d.faults.push_back(diagnose_crash(c, al));
    record_pinned_attributes(c, d.faults.back());
  }
  // Explained faults first (a shape change downstream of a fault shows up as an unexplained one),
  // then by the error they introduce.
  std::stable_sort(d.faults.begin(), d.faults.end(), [](const Fault& a, const Fault& b) {
    if (a.confidence != b.confidence) return a.confidence > b.confidence;
    return a.segment.relative() > b.segment.relative();
  });
  merge_faults_at_one_op(d.faults);
  d.root_causes = group_root_causes(d.faults);
  return d;
}

}  // namespace transfix
