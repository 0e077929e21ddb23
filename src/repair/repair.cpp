#include "repair/repair.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <functional>
#include <set>

#include "localize/channel_affine.h"
#include "localize/tensor_match.h"
#include "core/errors.h"
#include "formats/onnx/onnx_reader.h"
#include "formats/onnx/onnx_writer.h"
#include "formats/tflite/tflite_writer.h"
#include "runtime/interpreter.h"

#include <onnx/version_converter/convert.h>

namespace transfix {

bool RepairScore::better_than(const RepairScore& o) const {
  if (crashed != o.crashed) return !crashed;
  if (flips != o.flips) return flips < o.flips;
  return max_rel < o.max_rel * 0.9;  // a real reduction, not rounding
}

std::string RepairScore::describe() const {
  if (crashed) return "crash";
  char buf[96];
  std::snprintf(buf, sizeof buf, "%lld flip%s, max error %.3g of output scale", static_cast<long long>(flips),
                flips == 1 ? "" : "s", max_rel);
  return buf;
}

namespace {

using Clock = std::chrono::steady_clock;

// ---------------------------------------------------------------- scoring

struct Reference {
  std::vector<std::map<std::string, Tensor>> outputs;  // source fp64, per sample
};

RepairScore score(const Model& source, const Model& m, const std::vector<ProbeInputs>& samples, const Reference& ref) {
  RepairScore s;
  try {
    Interpreter interp(m, {Precision::kF32});
    for (size_t i = 0; i < samples.size(); ++i) {
      auto out = interp.run(samples[i].target);
      for (size_t o = 0; o < source.graph.outputs.size() && o < m.graph.outputs.size(); ++o) {
        const Tensor& sv = ref.outputs[i].at(source.graph.outputs[o].name);
        auto it = out.find(m.graph.outputs[o].name);
        if (it == out.end()) continue;
        auto match = best_match(sv, real_f64(it->second), 0.999);
        if (!match) {
          s.crashed = true;
          return s;
        }
        const double scale = std::max(max_abs(sv), 1e-30);
        s.max_rel = std::max(s.max_rel, match->max_abs / scale);
        if (sv.rank() <= 2 && sv.numel() > 1 && match->transform.identity()) {
          const Tensor t = real_f64(it->second).reshaped(sv.shape());
          const int64_t classes = sv.dim(-1), rows = sv.numel() / classes;
          for (int64_t r = 0; r < rows; ++r) {
            const double* a = sv.data<double>() + r * classes;
            const double* b = t.data<double>() + r * classes;
            s.flips += std::max_element(a, a + classes) - a != std::max_element(b, b + classes) - b;
          }
        }
      }
    }
  } catch (const std::exception& e) {
    if (std::getenv("TRANSFIX_DEBUG_REPAIR")) std::fprintf(stderr, "score: the candidate crashed: %s\n", e.what());
    s.crashed = true;
  }
  return s;
}

// ---------------------------------------------------------------- helpers

Node& node_at(Model& m, int index) { return m.graph.nodes.at(static_cast<size_t>(index)); }

std::vector<int64_t> parse_ints(const std::string& s) {
  std::vector<int64_t> v;
  std::string cur;
  for (char c : s) {
    if (c == '-' || std::isdigit(static_cast<unsigned char>(c))) cur += c;
    else if (!cur.empty()) v.push_back(std::stoll(cur)), cur.clear();
  }
  if (!cur.empty()) v.push_back(std::stoll(cur));
  return v;
}

// Removes nodes whose outputs nobody reads (after a splice left the old segment dangling).
void remove_dead_nodes(Model& m) {
  for (bool changed = true; changed;) {
    changed = false;
    std::set<std::string> read;
    for (const auto& n : m.graph.nodes)
      for (const auto& i : n.inputs) read.insert(i);
    for (const auto& o : m.graph.outputs) read.insert(o.name);
    for (size_t i = m.graph.nodes.size(); i-- > 0;) {
      bool used = false;
      for (const auto& o : m.graph.nodes[i].outputs) used |= !o.empty() && read.count(o);
      if (!used) {
        m.graph.nodes.erase(m.graph.nodes.begin() + static_cast<std::ptrdiff_t>(i));
        changed = true;
      }
    }
  }
  std::set<std::string> read;
  for (const auto& n : m.graph.nodes)
    for (const auto& i : n.inputs) read.insert(i);
  for (auto it = m.graph.initializers.begin(); it != m.graph.initializers.end();) {
    bool is_input = false;
    for (const auto& in : m.graph.inputs) is_input |= in.name == it->first;
    it = read.count(it->first) || is_input ? std::next(it) : m.graph.initializers.erase(it);
  }
}

// An ONNX model at a newer opset, through ONNX's own version converter.
Model upgrade_onnx_opset(const Model& m, int64_t opset) {
  check_input(m.meta.format == "onnx", "opset upgrade applies to ONNX models");
  onnx::ModelProto proto = model_to_onnx(m);
  onnx::ModelProto up;
  try {
    up = onnx::version_conversion::ConvertVersion(proto, static_cast<int>(opset));
  } catch (const std::exception& e) {
    throw UnsupportedError(std::string("ONNX version converter: ") + e.what(), "opset");
  }
  Model out = onnx_to_model(up, "", m.path);
  out.path = m.path;
  return out;
}

int find_producer(const Model& m, const std::string& value) { return m.graph.producer_index(value); }

// ---------------------------------------------------------------- set-attributes

int readers(const Model& m, const std::string& value) {
  int r = 0;
  for (const auto& n : m.graph.nodes)
    for (const auto& i : n.inputs) r += i == value;
  return r;
}

void set_activation(Model& m, Node& n, const Model& source, const Node& src) {
  const std::string in = n.inputs.at(0);
  n.op_type = src.op_type;
  n.attrs = src.attrs;
  n.inputs = {in};
  for (size_t i = 1; i < src.inputs.size(); ++i) {  // Clip bounds and the like: copy the constants
    if (src.inputs[i].empty()) {
      n.inputs.push_back("");
      continue;
    }
    auto it = source.graph.initializers.find(src.inputs[i]);
    check_input(it != source.graph.initializers.end(), "activation input is not a constant");
    const std::string name = m.graph.unused_name(n.name + "_repair_" + std::to_string(i));
    m.graph.initializers[name] = it->second;
    n.inputs.push_back(name);
  }
  if (source.opset() >= 11 && m.opset() < 11 && n.op_type == "Clip") {  // bounds as attributes before opset 11
    n.attrs["min"] = Attribute{source.graph.initializers.at(src.inputs[1]).to_f64_vector()[0]};
    n.attrs["max"] = Attribute{source.graph.initializers.at(src.inputs[2]).to_f64_vector()[0]};
    n.inputs.resize(1);
  }
}

Model set_attributes(const Model& source, const Model& target, const Fault& f) {
  Model m = target;
  int t = f.repair.target_node;
  const auto& attrs = f.repair.attributes;
  const bool resize_mode = attrs.count("coordinate_transformation_mode") || attrs.count("nearest_mode") ||
                           attrs.count("mode") || attrs.count("cubic_coeff_a");
  if (resize_mode && (node_at(m, t).op_type == "Upsample" || m.opset() < 11)) {
    // Upsample and Resize-10 cannot express the coordinate mode: upgrade the model to opset 11 first.
    // The converter renames the node's output: find the Resize by the data it reads.
    const std::string data = node_at(m, t).inputs.at(0);
    m = upgrade_onnx_opset(m, 11);
    t = -1;
    for (size_t i = 0; i < m.graph.nodes.size(); ++i)
      if (m.graph.nodes[i].op_type == "Resize" && !m.graph.nodes[i].inputs.empty() && m.graph.nodes[i].inputs[0] == data)
        t = static_cast<int>(i);
    check_input(t >= 0, "the resize node was lost in the opset upgrade");
  }
  Node& n = node_at(m, t);
  for (const auto& [key, value] : attrs) {
    if (key == "pads") {
      // The canonical pads count a Pad node read by this op alone (a TFLite conversion's): it goes.
      const int pad = find_producer(m, n.inputs.at(0));
      if (pad >= 0 && m.graph.nodes[static_cast<size_t>(pad)].op_type == "Pad" && readers(m, n.inputs[0]) == 1)
        n.inputs[0] = m.graph.nodes[static_cast<size_t>(pad)].inputs.at(0);
      n.attrs.erase("auto_pad");
      n.attrs["pads"] = Attribute{parse_ints(value)};
    } else if (key == "strides" || key == "dilations" || key == "perm" || key == "axes") {
      n.attrs[key] = Attribute{parse_ints(value)};
    } else if (key == "ceil_mode" || key == "count_include_pad" || key == "keepdims" || key == "blocksize" || key == "size") {
      n.attrs[key] = Attribute{static_cast<int64_t>(std::stoll(value))};
    } else if (key == "epsilon" || key == "alpha" || key == "beta" || key == "bias" || key == "cubic_coeff_a") {
      n.attrs[key] = Attribute{std::stod(value)};
    } else if (key == "axis") {
      int64_t axis = std::stoll(value);
      const Transform& tr = f.segment.transform;
      for (size_t i = 0; i < tr.perm.size(); ++i)
        if (tr.perm[i] == axis) axis = static_cast<int64_t>(i);
      n.attrs["axis"] = Attribute{axis};
    } else if (key == "coordinate_transformation_mode" || key == "nearest_mode" || key == "mode") {
      n.attrs[key] = Attribute{value};
    } else if (key == "activation") {
      check_input(f.repair.source_node >= 0, "an activation repair needs the source's op");
      set_activation(m, n, source, source.graph.nodes.at(static_cast<size_t>(f.repair.source_node)));
    } else if (key == "function") {
      n.op_type = value;
    } else {
      throw UnsupportedError("repair cannot set '" + key + "' yet", key);
    }
  }
  return m;
}

// ---------------------------------------------------------------- restore-weights

// The target's weight quantization, kept where it can hold the source weights: a channel whose source
// weights would saturate its grid by more than half a step (the fault changed the scale too) gets the
// symmetric scale max|w| / qmax that TFLite's converter gives int8 weights.
QuantParams fit_weight_scales(const Tensor& w64, const QuantParams& q, DType dtype) {
  QuantParams fitted = q;
  const double hi = integer_range(dtype).second;
  const QuantChannels ch = quant_channels(w64.shape(), q);
  std::vector<double> amax(static_cast<size_t>(ch.channels), 0.0);
  for (int64_t i = 0; i < w64.numel(); ++i) amax[ch.of(i)] = std::max(amax[ch.of(i)], std::fabs(w64.data<double>()[i]));
  for (size_t c = 0; c < amax.size() && c < fitted.scale.size(); ++c) {
    const bool symmetric = c >= q.zero_point.size() || q.zero_point[c] == 0;
    if (symmetric && amax[c] / fitted.scale[c] > hi + 0.5) fitted.scale[c] = static_cast<float>(amax[c] / hi);
  }
  return fitted;
}

// The source weights [out, in, k...] (BatchNorm folded in when the source has it after the op and
// the target does not) in the target op's layout and precision.
Model restore_weights(const Model& source, const Model& target, const Fault& f, const RepairOptions& opt) {
  Model m = target;
  Node& tn = node_at(m, f.repair.target_node);
  const Node& sn = source.graph.nodes.at(static_cast<size_t>(f.repair.source_node));
  auto sw = source.graph.initializers.find(sn.inputs.at(1));
  auto tw = m.graph.initializers.find(tn.inputs.at(1));
  check_input(sw != source.graph.initializers.end() && tw != m.graph.initializers.end(), "weights are not constants");
  Tensor w = real_f64(sw->second).clone();
  // From the source op's layout to [out, in, k...] (a TFLite source keeps OHWI / 1HWO).
  const std::string source_layout = sn.attr_string("weight_layout", "OIHW");
  if (sn.op_type == "Conv" && source_layout == "OHWI") w = permute(w, {0, 3, 1, 2});
  else if (sn.op_type == "Conv" && source_layout == "1HWO") w = permute(w, {3, 0, 1, 2});
  else if ((sn.op_type == "Gemm" && !sn.attr_int("transB", 0)) || sn.op_type == "MatMul") w = permute(w, {1, 0});
  std::vector<double> b(static_cast<size_t>(w.dim(0)), 0.0);
  bool source_bias = sn.has_input(2) && source.graph.initializers.count(sn.inputs[2]);
  if (source_bias) b = real_f64(source.graph.initializers.at(sn.inputs[2])).to_f64_vector();
  // Fold the source's per-channel affine ops after this op (a BatchNorm, or an importer's scale and
  // shift for one), unless the target keeps such ops after its own.
  if (!channel_affine_after(m.graph, tn.outputs[0], w.dim(0)))
    if (auto affine = channel_affine_after(source.graph, sn.outputs[0], w.dim(0))) {
      fold_channel_affine(*affine, w, b);
      source_bias = true;
    }
  // Into the target's layout.
  const std::string layout = tn.attr_string("weight_layout", "OIHW");
  if (tn.op_type == "Conv" && layout == "OHWI") w = permute(w, {0, 2, 3, 1});
  else if (tn.op_type == "Conv" && layout == "1HWO") w = permute(w, {1, 2, 3, 0});
  else if ((tn.op_type == "Gemm" && !tn.attr_int("transB", 0)) || tn.op_type == "MatMul") w = permute(w, {1, 0});
  check_input(w.shape() == tw->second.shape(), "source weights " + shape_str(w.shape()) + " do not fit the target's " +
                                                   shape_str(tw->second.shape()));
  // Into the target's precision: quantized weights are re-quantized with the target's own scheme.
  const Tensor& old = tw->second;
  const bool quantized = is_integer(old.dtype()) && old.quant() && !old.quant()->scale.empty() && !opt.float_restore;
  QuantParams wq;
  Tensor nw;
  if (quantized) {
    wq = fit_weight_scales(w, *old.quant(), old.dtype());
    nw = quantize_real(w, wq, old.dtype());
  } else {
    nw = w.cast(is_float(old.dtype()) && !opt.float_restore ? old.dtype() : DType::kF32);
  }
  const std::string wname = m.graph.unused_name(tn.inputs[1] + "_repaired");
  m.graph.initializers[wname] = nw;
  tn.inputs[1] = wname;
  const Tensor* old_bias = tn.has_input(2) && m.graph.initializers.count(tn.inputs[2]) ? &m.graph.initializers.at(tn.inputs[2]) : nullptr;
  const bool quantized_bias = quantized && old_bias && is_integer(old_bias->dtype()) && old_bias->quant() &&
                              !old_bias->quant()->scale.empty();
  if (quantized_bias && (source_bias || wq != *old.quant())) {
    // An int32 bias is on the grid input scale x weight scale: it follows any widened weight scale.
    QuantParams bq = *old_bias->quant();
    for (size_t c = 0; c < bq.scale.size(); ++c) {
      const size_t wc = wq.scale.size() == 1 ? 0 : c;
      if (wc < wq.scale.size()) bq.scale[c] = static_cast<float>(bq.scale[c] * (static_cast<double>(wq.scale[wc]) / old.quant()->scale[wc]));
    }
    Tensor real = source_bias ? Tensor::from_vector<double>(b, {static_cast<int64_t>(b.size())}) : real_f64(*old_bias);
    const std::string bname = m.graph.unused_name(tn.name + "_bias_repaired");
    m.graph.initializers[bname] = quantize_real(real.reshaped(old_bias->shape()), bq, old_bias->dtype());
    tn.inputs[2] = bname;
  } else if (source_bias && !quantized_bias && (tn.op_type == "Conv" || tn.op_type == "Gemm")) {
    DType bt = DType::kF32;
    if (old_bias) bt = old_bias->dtype();
    if (!is_float(bt)) bt = DType::kF32;
    const std::string bname = m.graph.unused_name(tn.name + "_bias_repaired");
    m.graph.initializers[bname] = Tensor::from_vector<double>(b, {static_cast<int64_t>(b.size())}).cast(bt);
    tn.inputs.resize(std::max<size_t>(tn.inputs.size(), 3));
    tn.inputs[2] = bname;
  }
  remove_dead_nodes(m);
  return m;
}

// ---------------------------------------------------------------- splice-source

// The target segment computes what the source does not compute at all (ops inserted at the input,
// say): its consumers read the target value that holds the segment's source value instead.
Model bypass_target_segment(const Model& target, const Fault& f, const LocalizeResult* loc) {
  const TensorPair& seg = f.segment;
  std::string holder;
  if (loc)
    for (const auto& p : loc->alignment.pairs)
      if (p.clean && p.transform.identity() && p.source == seg.source && holder.empty()) holder = p.target;
  for (const auto& in : target.graph.inputs)
    if (holder.empty() && in.name == seg.source) holder = in.name;
  check_input(!holder.empty(), "no target value holds '" + seg.source + "'");
  Model m = target;
  for (auto& n : m.graph.nodes)
    for (auto& in : n.inputs)
      if (in == seg.target) in = holder;
  remove_dead_nodes(m);
  m.graph.value_info.clear();
  return m;
}

// Faults whose segments follow each other (the second starts where the first ends) as one segment:
// a fault that cannot be fixed alone may be fixed together with the next.
std::optional<Fault> merge_with_next(const Fault& a, const std::vector<Fault>& all) {
  for (const auto& b : all) {
    if (std::find(b.segment.target_from.begin(), b.segment.target_from.end(), a.segment.target) == b.segment.target_from.end())
      continue;
    Fault m = b;
    std::set<int> tn(a.segment.target_nodes.begin(), a.segment.target_nodes.end());
    tn.insert(b.segment.target_nodes.begin(), b.segment.target_nodes.end());
    std::set<int> sn(a.segment.source_nodes.begin(), a.segment.source_nodes.end());
    sn.insert(b.segment.source_nodes.begin(), b.segment.source_nodes.end());
    m.segment.target_nodes.assign(tn.begin(), tn.end());
    m.segment.source_nodes.assign(sn.begin(), sn.end());
    m.segment.target_from = a.segment.target_from;
    m.segment.source_from = a.segment.source_from;
    m.summary = a.summary + " + " + b.summary;
    m.repair.action = RepairAction::kSpliceSource;
    return m;
  }
  return std::nullopt;
}

Node transpose_node(const std::string& name, const std::string& in, const std::string& out, std::vector<int64_t> perm) {
  Node t;
  t.op_type = "Transpose";
  t.name = name;
  t.inputs = {in};
  t.outputs = {out};
  t.prov = {"onnx", "Transpose", name, -1};
  t.attrs["perm"] = Attribute{std::move(perm)};
  return t;
}

std::vector<int64_t> inverse_perm(const std::vector<int64_t>& perm) {
  std::vector<int64_t> inv(perm.size());
  for (size_t i = 0; i < perm.size(); ++i) inv[static_cast<size_t>(perm[i])] = static_cast<int64_t>(i);
  return inv;
}

// A layout the splice can bridge with a Transpose: identity, or a permutation of axes (NCHW <-> NHWC)
// when the two models are of different formats (an ONNX source, a TFLite target).
bool bridgeable(const Transform& t, bool across) { return t.identity() || (across && !t.reshape && !t.perm.empty()); }

// Replaces the target segment by a copy of the source segment, wired to the target values that
// hold the segment's inputs. Same format: both sides must use the same layout at the boundary.
// An ONNX source's segment in a TFLite target is bridged by Transposes (the target's NHWC values
// into the source's NCHW and back), then the model is put back into TFLite's form.
Model splice_source(const Model& source, const Model& target, const Fault& f, const LocalizeResult* loc) {
  const TensorPair& seg = f.segment;
  const bool across = source.meta.format != target.meta.format;
  // Across formats: into TFLite (bridged by Transposes, then legalized), or into ONNX from a TorchScript
  // source (both NCHW, and the IR's ops are ONNX's: the source's nodes are written as they are).
  check_input(!across || target.meta.format == "tflite" || (target.meta.format == "onnx" && source.meta.format == "torchscript"),
              "splicing across formats needs a TFLite target, or an ONNX target of a TorchScript source");
  check_input(bridgeable(seg.transform, across), "the segment ends in a different layout (" + seg.transform.describe() + ")");
  if (seg.source_nodes.empty()) return bypass_target_segment(target, f, loc);
  Model m = target;
  // Source boundary value -> target value holding it, and how (identity, or a permutation across formats).
  std::map<std::string, std::pair<std::string, Transform>> boundary;
  if (loc)
    for (const auto& p : loc->alignment.pairs)
      if (p.clean && bridgeable(p.transform, across) && !boundary.count(p.source)) boundary[p.source] = {p.target, p.transform};
  for (const auto& in : source.graph.inputs)
    for (const auto& tin : m.graph.inputs)
      if (!boundary.count(in.name) && in.name == tin.name && in.shape == tin.shape) boundary[in.name] = {tin.name, Transform{}};
  const std::string prefix = "transfix_repair/";
  const std::set<std::string> source_constants = source.graph.constant_value_names();
  std::vector<Node> added;
  std::map<std::string, std::string> rename;  // source value -> name in the repaired model
  std::function<std::string(const std::string&)> map_input = [&](const std::string& v) -> std::string {
    if (v.empty()) return v;
    if (rename.count(v)) return rename[v];
    if (auto it = boundary.find(v); it != boundary.end()) {
      const auto& [held, how] = it->second;
      if (how.identity()) return held;
      const std::string name = m.graph.unused_name(prefix + v + "_source_layout");
      added.push_back(transpose_node(name, held, name, inverse_perm(how.perm)));
      rename[v] = name;
      return name;
    }
    const std::string name = m.graph.unused_name(prefix + v);
    auto init = source.graph.initializers.find(v);
    if (init != source.graph.initializers.end()) {
      m.graph.initializers[name] = init->second;
    } else {  // made from constants only (a Constant node, a Cast of one: TorchScript's clamp bounds): copy
      const int p = find_producer(source, v);
      check_input(p >= 0 && source_constants.count(v), "source value '" + v + "' has no counterpart in the target");
      Node c = source.graph.nodes[static_cast<size_t>(p)];
      for (auto& in : c.inputs) in = map_input(in);
      c.name = prefix + c.name;
      for (auto& out : c.outputs) out = out == v ? name : m.graph.unused_name(prefix + out);
      m.graph.nodes.insert(m.graph.nodes.begin(), c);
    }
    rename[v] = name;
    return name;
  };
  for (int s : seg.source_nodes) {
    Node n = source.graph.nodes.at(static_cast<size_t>(s));
    for (auto& in : n.inputs) in = map_input(in);
    for (auto& out : n.outputs) {
      if (out.empty()) continue;
      const std::string name = out == seg.source ? m.graph.unused_name(prefix + out + "_spliced") : m.graph.unused_name(prefix + out);
      rename[out] = name;
      out = name;
    }
    n.name = prefix + n.name;
    added.push_back(n);
  }
  std::string spliced = rename.at(seg.source);
  if (!seg.transform.identity()) {  // back into the target's layout
    const std::string name = m.graph.unused_name(spliced + "_target_layout");
    added.push_back(transpose_node(name, spliced, name, seg.transform.perm));
    spliced = name;
  }
  // Everything that read the target's faulty value reads the spliced one.
  for (auto& n : m.graph.nodes)
    for (auto& in : n.inputs)
      if (in == seg.target) in = spliced;
  for (auto& o : m.graph.outputs)
    if (o.name == seg.target) {
      // Keep the output's name: add an Identity producing it.
      Node id;
      id.op_type = "Identity";
      id.name = prefix + "output";
      id.inputs = {spliced};
      id.outputs = {o.name};
      added.push_back(id);
    }
  // The old producer of seg.target goes (an Identity now produces graph outputs of that name).
  const int old = find_producer(m, seg.target);
  if (old >= 0) m.graph.nodes.erase(m.graph.nodes.begin() + old);
  // Insert the spliced nodes after the last producer of their inputs: appending keeps it simple, the
  // interpreter and writers order nodes topologically.
  for (auto& n : added) m.graph.nodes.push_back(std::move(n));
  m.graph.value_info.clear();
  remove_dead_nodes(m);
  m.graph.topological_order();  // throws on a broken graph
  if (target.meta.format == "tflite") return legalize_for_tflite(m);
  return m;
}

}  // namespace

Model apply_fix(const Model& source, const Model& target, const Fault& f, const RepairOptions& opt) {
  // A TFLite target gets explicit pads as SAME or a Pad node: what it can be written as.
  if (f.repair.action == RepairAction::kSetAttributes && target.meta.format == "tflite") {
    Model m = set_attributes(source, target, f);
    remove_dead_nodes(m);
    return legalize_for_tflite(m);
  }
  if (f.repair.action == RepairAction::kSetAttributes) return set_attributes(source, target, f);
  if (f.repair.action == RepairAction::kRestoreWeights) return restore_weights(source, target, f, opt);
  if (f.repair.action == RepairAction::kSpliceSource) return splice_source(source, target, f, nullptr);
  throw UnsupportedError("no repair for '" + to_string(f.category) + "' faults", to_string(f.category));
}

RepairResult repair_model(const Model& source, const Model& target, const std::vector<ProbeInputs>& samples,
                          const RepairOptions& opt) {
  check_input(!samples.empty(), "repair needs at least one sample");
  const auto t0 = Clock::now();
  auto elapsed = [&] { return std::chrono::duration<double>(Clock::now() - t0).count(); };
  Reference ref;
  {
    Interpreter fp64(source, {Precision::kF64});
    for (const auto& s : samples) {  // real values: a quantized source's outputs are dequantized
      auto out = fp64.run(s.source);
      for (auto& [name, t] : out) t = real_f64(t);
      ref.outputs.push_back(std::move(out));
    }
  }
  RepairResult r;
  r.repaired = target;
  r.initial = score(source, target, samples, ref);
  RepairScore current = r.initial;
  std::set<std::string> tried;  // fault summaries whose fix was rolled back
  for (r.rounds = 1; r.rounds <= opt.max_rounds && elapsed() < opt.max_seconds; ++r.rounds) {
    LocalizeResult loc = localize_with_probe(source, r.repaired, samples[0], opt.localize);
    for (size_t i = 1; i < samples.size() && loc.diagnosis.faults.empty() && current.max_rel > 0; ++i)
      loc = localize_with_probe(source, r.repaired, samples[i], opt.localize);
    if (r.rounds == 1) r.first = loc;
    r.last = loc;
    bool progress = false;
    // A root cause at several ops (every folded bias off the same way) is fixed at all of them at
    // once: one at a time, each fix may not show at the outputs while the others remain.
    for (const auto& cause : loc.diagnosis.root_causes) {
      if (cause.faults.size() < 2 || elapsed() >= opt.max_seconds) continue;
      const Fault& first = loc.diagnosis.faults[cause.faults[0]];
      if (first.repair.action == RepairAction::kNone || first.repair.action == RepairAction::kSpliceSource) continue;
      const std::string key = cause.summary + "|" + to_string(first.repair.action);
      if (tried.count(key)) continue;
      AppliedFix fix{cause.summary, first.repair.action, first.repair.text + " (and at every other op of this cause)", false, "", current, {}};
      try {
        Model candidate = r.repaired;
        for (size_t i : cause.faults) candidate = apply_fix(source, candidate, loc.diagnosis.faults[i], opt);
        fix.after = score(source, candidate, samples, ref);
        if (fix.after.better_than(current)) {
          fix.kept = true, current = fix.after, r.repaired = std::move(candidate);
        } else {
          fix.why = "no measurable improvement (" + fix.after.describe() + ")";
        }
      } catch (const std::exception& e) {
        fix.why = e.what();
      }
      if (!fix.kept) tried.insert(key);
      r.fixes.push_back(fix);
      if (fix.kept) {
        progress = true;
        break;
      }
    }
    if (progress) continue;  // re-localize on the changed model
    for (const auto& f : loc.diagnosis.faults) {
      if (elapsed() >= opt.max_seconds) break;
      const std::string key = f.summary + "|" + to_string(f.repair.action);
      if (tried.count(key)) continue;
      AppliedFix fix{f.summary, f.repair.action, f.repair.text, false, "", current, {}};
      std::vector<RepairAction> actions = {f.repair.action};
      if (f.repair.action != RepairAction::kSpliceSource) actions.push_back(RepairAction::kSpliceSource);  // fallback
      for (const RepairAction action : actions) {
        fix.action = action;
        try {
          Fault g = f;
          g.repair.action = action;
          Model candidate = action == RepairAction::kSpliceSource ? splice_source(source, r.repaired, g, &loc) : apply_fix(source, r.repaired, g, opt);
          fix.after = score(source, candidate, samples, ref);
          if (fix.after.better_than(current)) {
            fix.kept = true;
            current = fix.after;
            r.repaired = std::move(candidate);
            break;
          }
          fix.why += (fix.why.empty() ? "" : "; ") + to_string(action) + ": no measurable improvement (" + fix.after.describe() + ")";
        } catch (const std::exception& e) {
          fix.why += (fix.why.empty() ? "" : "; ") + to_string(action) + ": " + e.what();
        }
      }
      if (!fix.kept) {
        // Try it together with the fault that follows it.
        Fault chain = f;
        for (int depth = 0; depth < 3 && !fix.kept; ++depth) {
          auto merged = merge_with_next(chain, loc.diagnosis.faults);
          if (!merged) break;
          chain = *merged;
          try {
            Model candidate = splice_source(source, r.repaired, chain, &loc);
            RepairScore sc = score(source, candidate, samples, ref);
            if (sc.better_than(current)) {
              fix.kept = true, fix.after = sc, fix.action = RepairAction::kSpliceSource, current = sc;
              fix.fault = chain.summary;
              fix.text = "replaced the target segments of these faults, together, with the source's ops";
              r.repaired = std::move(candidate);
            }
          } catch (const std::exception& e) {
            fix.why += std::string("; merged with the next fault: ") + e.what();
          }
        }
      }
      if (!fix.kept) tried.insert(key);
      else if (fix.action != f.repair.action && fix.fault == f.summary) fix.text = "replaced the target segment with the source's ops";
      r.fixes.push_back(fix);
      if (fix.kept) {
        progress = true;
        break;  // re-localize on the changed model
      }
    }
    if (!progress) break;
  }
  r.final_score = current;
  r.seconds = elapsed();
  return r;
}

}  // namespace transfix
