#include "coverage/coverage.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <optional>
#include <set>
#include <unordered_set>

#include "core/op_vocabulary.h"
#include "core/errors.h"

namespace transfix {

CoverageFold parse_coverage_fold(const std::string& s) {
  CoverageFold f{false, false, false};
  if (s == "none") return f;
  size_t start = 0;
  while (start <= s.size()) {
    const size_t end = std::min(s.find(',', start), s.size());
    const std::string kind = s.substr(start, end - start);
    if (kind == "noops") f.noops = true;
    else if (kind == "bn") f.batchnorm = true;
    else if (kind == "layout") f.layout = true;
    else throw InputError("coverage: --fold takes none or a comma list of noops, bn, layout (got '" + s + "')");
    start = end + 1;
  }
  return f;
}

std::string coverage_fold_name(const CoverageFold& f) {
  std::string s;
  if (f.noops) s += "noops";
  if (f.batchnorm) s += std::string(s.empty() ? "" : ",") + "bn";
  if (f.layout) s += std::string(s.empty() ? "" : ",") + "layout";
  return s.empty() ? "none" : s;
}

namespace {

// ---------------------------------------------------------------- signatures

// "[1,0,1,0]" -> {1, 0, 1, 0} (canonical_attributes writes int lists this way).
std::vector<int64_t> parse_list(const std::string& s) {
  std::vector<int64_t> v;
  size_t i = 0;
  while (i < s.size()) {
    if (s[i] == '-' || std::isdigit(static_cast<unsigned char>(s[i]))) {
      size_t used = 0;
      v.push_back(std::stoll(s.substr(i), &used));
      i += used;
    } else {
      ++i;
    }
  }
  return v;
}

bool any_above_one(const std::string& list) {
  for (int64_t x : parse_list(list))
    if (x > 1) return true;
  return false;
}

// Pads [b1, b2, ..., e1, e2] pad one side more than the other somewhere.
bool asymmetric(const std::string& list) {
  const auto p = parse_list(list);
  const size_t k = p.size() / 2;
  for (size_t i = 0; i < k; ++i)
    if (p[i] != p[i + k]) return true;
  return false;
}

Shape static_shape(const Model& m, const std::string& value) {
  auto it = m.graph.initializers.find(value);
  if (it != m.graph.initializers.end()) return it->second.shape();
  const ValueInfo* vi = m.graph.find_value_info(value);
  return vi && vi->has_shape ? vi->shape : Shape{};
}

// Input channels per group of a convolution, from its weight (-1 when unknown).
int64_t channels_per_group(const Node& n, const Shape& w) {
  if (w.size() < 3) return -1;
  const std::string layout = n.attr_string("weight_layout", "OIHW");
  if (layout == "1HWO") return 1;
  return layout == "OHWI" ? w.back() : w[1];
}

void conv_flags(const Node& n, const Shape& w, const std::map<std::string, std::string>& a, std::vector<std::string>& f) {
  if (std::stoll(a.at("group")) > 1) f.push_back(channels_per_group(n, w) == 1 ? "dw" : "grouped");
  // Pointwise convolutions take other paths in converters and runtimes (FULLY_CONNECTED or MatMul, GEMM
  // kernels) than spatial ones.
  const auto kernel = parse_list(a.at("kernel"));
  if (!kernel.empty() && std::all_of(kernel.begin(), kernel.end(), [](int64_t k) { return k == 1; })) f.push_back("1x1");
  if (any_above_one(a.at("strides"))) f.push_back("stride");
  if (any_above_one(a.at("dilations"))) f.push_back("dilated");
}

void pads_flag(const Model& m, const Node& n, const std::map<std::string, std::string>& a, std::vector<std::string>& f) {
  auto it = a.find("pads");
  if (it == a.end()) return;
  const std::string mode = n.attr_string("auto_pad", "NOTSET");
  const Shape x = static_shape(m, n.inputs.empty() ? "" : n.inputs[0]);
  // SAME on an input of unknown size: whether it pads asymmetrically is decided at run time.
  if ((mode == "SAME_UPPER" || mode == "SAME_LOWER") && x.size() < 3) f.push_back("pads=same");
  else if (asymmetric(it->second)) f.push_back("pads=asym");
}

}  // namespace

std::optional<std::vector<double>> constant_values(const Graph& g, const std::string& value, int depth) {
  if (value.empty() || depth > 4) return std::nullopt;
  auto it = g.initializers.find(value);
  if (it != g.initializers.end()) return it->second.to_f64_vector();
  for (const auto& n : g.nodes) {
    if (n.outputs.empty() || n.outputs[0] != value) continue;
    if (n.op_type == "Cast" && !n.inputs.empty()) return constant_values(g, n.inputs[0], depth + 1);
    const Tensor* t = n.op_type == "Constant" ? n.attr_tensor("value") : nullptr;
    return t ? std::optional<std::vector<double>>(t->to_f64_vector()) : std::nullopt;
  }
  return std::nullopt;
}

namespace {

std::optional<double> constant_scalar(const Model& m, const std::string& value) {
  auto v = constant_values(m.graph, value);
  return v && v->size() == 1 ? std::optional<double>((*v)[0]) : std::nullopt;
}

std::string bound_str(double v) {
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

// "0,6" for ReLU6: the bounds decide which activation a converter must emit.
std::string clip_bounds(const Model& m, const Node& n) {
  double lo = -INFINITY, hi = INFINITY;
  if (m.opset() < 11 && (n.has_attr("min") || n.has_attr("max"))) {
    lo = n.attr_float("min", lo), hi = n.attr_float("max", hi);
  } else {
    if (n.has_input(1)) lo = constant_scalar(m, n.inputs[1]).value_or(NAN);
    if (n.has_input(2)) hi = constant_scalar(m, n.inputs[2]).value_or(NAN);
  }
  auto str = [](double v) { return std::isnan(v) ? std::string("?") : bound_str(v); };  // ? = computed at run time
  return str(lo) + "," + str(hi);
}

bool any_nonzero(const std::string& list) {
  for (int64_t x : parse_list(list))
    if (x != 0) return true;
  return false;
}

// The semantic flags of a node: the attributes whose value changes what the op computes in a way
// converters get wrong (docs/coverage.md lists them). Numeric values that only scale results
// (epsilon, alpha) are left out: they do not make a different kind of op.
std::vector<std::string> semantic_flags(const Model& m, const Node& n) {
  const ShapeOf shape_of = [&m](const std::string& v) { return static_shape(m, v); };
  const auto a = canonical_attributes(m, n, shape_of);
  const std::string fam = op_family(n.op_type);
  std::vector<std::string> f;
  if (fam == "conv" || fam == "conv_transpose") {
    conv_flags(n, n.inputs.size() > 1 ? shape_of(n.inputs[1]) : Shape{}, a, f);
    pads_flag(m, n, a, f);
  } else if (fam == "max_pool" || fam == "average_pool" || fam == "lp_pool") {
    if (a.at("ceil_mode") == "1") f.push_back("ceil");
    // Counting the padding in the average only matters where there is padding.
    if (a.count("count_include_pad") && a.at("count_include_pad") == "1" && any_nonzero(a.at("pads")))
      f.push_back("count_pad");
    if (a.count("dilations") && any_above_one(a.at("dilations"))) f.push_back("dilated");
    pads_flag(m, n, a, f);
  } else if (fam == "resize") {
    f.push_back(a.at("mode"));
    f.push_back(a.at("coordinate_transformation_mode"));
    if (a.count("nearest_mode")) f.push_back(a.at("nearest_mode").rfind("legacy", 0) == 0 ? "legacy" : a.at("nearest_mode"));
  } else if (n.op_type == "Clip") {
    f.push_back(clip_bounds(m, n));
  } else if (fam == "pad" && a.at("mode") != "constant") {
    f.push_back(a.at("mode"));
  } else if (fam == "depth_to_space") {
    f.push_back(a.at("mode"));
  }
  return f;
}

}  // namespace

std::string node_signature(const Model& m, const Node& n) {
  std::string s = n.domain.empty() || n.domain == "ai.onnx" ? n.op_type : n.domain + "." + n.op_type;
  const auto flags = semantic_flags(m, n);
  for (size_t i = 0; i < flags.size(); ++i) s += (i ? "," : "[") + flags[i];
  return flags.empty() ? s : s + "]";
}

// ---------------------------------------------------------------- data graph

namespace {

bool is_layout_op(const std::string& op) {
  static const std::set<std::string> layout = {"Transpose", "Reshape", "Flatten", "Squeeze", "Unsqueeze"};
  return layout.count(op) != 0;
}

bool makes_weights_bn_folds_into(const std::string& op) {
  return op == "Conv" || op == "ConvTranspose" || op == "Gemm" || op == "MatMul";
}

// A Pad that adds nothing (torch.onnx emits all-zero Pads before some pools).
bool pads_nothing(const Graph& g, const Node& n) {
  if (n.op_type != "Pad") return false;
  std::optional<std::vector<double>> pads;
  if (n.has_attr("pads")) {
    const auto ints = n.attr_ints("pads");
    pads = std::vector<double>(ints.begin(), ints.end());
  } else if (n.has_input(1)) {
    pads = constant_values(g, n.inputs[1]);
  }
  return pads && std::all_of(pads->begin(), pads->end(), [](double p) { return p == 0; });
}

// `producer`: the op of the kept node the data input comes from ("" when none or several).
bool is_folded(const Graph& g, const Node& n, const std::string& producer, const CoverageFold& fold) {
  if (fold.noops && (n.op_type == "Identity" || n.op_type == "Dropout" || pads_nothing(g, n))) return true;
  if (fold.layout && is_layout_op(n.op_type)) return true;
  return fold.batchnorm && n.op_type == "BatchNormalization" && makes_weights_bn_folds_into(producer);
}

// Ops whose output depends on their input's shape, not its values.
bool shape_only(const std::string& op) { return op == "Shape" || op == "Size"; }

}  // namespace

DataGraph build_data_graph(const Graph& g, CoverageFold fold) {
  // For each data value: the kept nodes it comes from (itself a kept node's output, or through folded nodes).
  std::unordered_map<std::string, std::vector<int>> from;
  for (const auto& in : g.inputs)
    if (!g.initializers.count(in.name)) from[in.name] = {};
  DataGraph dg;
  for (size_t idx : g.topological_order()) {
    const Node& n = g.nodes[idx];
    std::vector<int> preds;
    bool data = false;
    for (const auto& in : n.inputs) {
      auto it = from.find(in);
      if (in.empty() || it == from.end()) continue;
      data = true;
      preds.insert(preds.end(), it->second.begin(), it->second.end());
    }
    if (!data || shape_only(n.op_type)) continue;
    std::sort(preds.begin(), preds.end());
    preds.erase(std::unique(preds.begin(), preds.end()), preds.end());
    std::vector<int> out_from = preds;  // a folded node passes its producers through
    const std::string producer = preds.size() == 1 ? g.nodes[dg.nodes[static_cast<size_t>(preds[0])]].op_type : "";
    if (!is_folded(g, n, producer, fold)) {
      out_from = {static_cast<int>(dg.nodes.size())};
      dg.nodes.push_back(idx);
      dg.preds.push_back(std::move(preds));
    }
    for (const auto& out : n.outputs)
      if (!out.empty()) from[out] = out_from;
  }
  return dg;
}

// ---------------------------------------------------------------- sequence table

uint32_t SequenceTable::signature_id(const std::string& signature) {
  auto [it, added] = signature_ids_.emplace(signature, static_cast<uint32_t>(signature_names_.size()));
  if (added) signature_names_.push_back(signature);
  return it->second;
}

uint32_t SequenceTable::extend(uint32_t prefix, uint32_t signature) {
  const uint64_t key = (static_cast<uint64_t>(prefix + 1u) << 32) | signature;  // kNoSequence + 1 wraps to 0
  auto [it, added] = sequence_ids_.emplace(key, static_cast<uint32_t>(prefix_.size()));
  if (added) prefix_.push_back(prefix), last_.push_back(signature);
  return it->second;
}

std::vector<uint32_t> SequenceTable::signatures(uint32_t sequence) const {
  std::vector<uint32_t> sigs;
  for (uint32_t s = sequence; s != kNoSequence; s = prefix_[s]) sigs.push_back(last_[s]);
  std::reverse(sigs.begin(), sigs.end());
  return sigs;
}

std::string SequenceTable::describe(uint32_t sequence) const {
  std::string out;
  for (uint32_t sig : signatures(sequence)) out += (out.empty() ? "" : " -> ") + signature_names_[sig];
  return out;
}

size_t SequenceTable::memory_bytes() const {
  size_t bytes = prefix_.capacity() * 8 + sequence_ids_.size() * 32 + sequence_ids_.bucket_count() * 8;
  for (const auto& s : signature_names_) bytes += s.capacity() + 64;
  return bytes;
}

// ---------------------------------------------------------------- counting

SequenceCounts count_sequences(const DataGraph& dg, const std::vector<uint32_t>& sigs, int n, SequenceTable& table,
                               const std::vector<bool>& skip) {
  const size_t count = dg.nodes.size();
  auto skipped = [&](size_t v) { return !skip.empty() && skip[v]; };
  // ending[v]: the distinct sequences of the current length that end at node v, with their path counts.
  std::vector<std::vector<std::pair<uint32_t, uint64_t>>> ending(count);
  for (size_t v = 0; v < count; ++v)
    if (!skipped(v)) ending[v].push_back({table.extend(SequenceTable::kNoSequence, sigs[v]), 1});
  std::unordered_map<uint32_t, uint64_t> merged;
  for (int len = 2; len <= n; ++len) {
    std::vector<std::vector<std::pair<uint32_t, uint64_t>>> next(count);
    for (size_t v = 0; v < count; ++v) {
      if (skipped(v)) continue;
      merged.clear();
      for (int u : dg.preds[v])
        for (const auto& [seq, paths] : ending[static_cast<size_t>(u)]) merged[table.extend(seq, sigs[v])] += paths;
      next[v].assign(merged.begin(), merged.end());
    }
    ending.swap(next);
  }
  SequenceCounts total;
  for (const auto& at : ending)
    for (const auto& [seq, paths] : at) total[seq] += paths;
  return total;
}

ModelSequences model_sequences(const Model& model, int n, CoverageFold fold, SequenceTable& table) {
  ModelSequences ms;
  ms.path = model.path;
  ms.graph = build_data_graph(model.graph, fold);
  for (size_t idx : ms.graph.nodes) ms.signatures.push_back(table.signature_id(node_signature(model, model.graph.nodes[idx])));
  ms.all = count_sequences(ms.graph, ms.signatures, n, table);
  ms.ops = n == 1 ? ms.all : count_sequences(ms.graph, ms.signatures, 1, table);
  return ms;
}

namespace {

std::vector<bool> marked_positions(const ModelSequences& ms, const std::vector<size_t>& marked) {
  std::vector<bool> mark(ms.graph.nodes.size(), false);
  const std::unordered_set<size_t> want(marked.begin(), marked.end());
  for (size_t v = 0; v < ms.graph.nodes.size(); ++v) mark[v] = want.count(ms.graph.nodes[v]) != 0;
  return mark;
}

}  // namespace

SequenceCounts touching(const ModelSequences& ms, const std::vector<size_t>& marked, int n, SequenceTable& table) {
  // Paths through a marked node = all paths - the paths that avoid every marked node.
  const SequenceCounts all = n == 1 ? ms.ops : ms.all;
  const SequenceCounts avoiding = count_sequences(ms.graph, ms.signatures, n, table, marked_positions(ms, marked));
  SequenceCounts result;
  for (const auto& [seq, paths] : all) {
    auto it = avoiding.find(seq);
    const uint64_t through = paths - (it == avoiding.end() ? 0 : it->second);
    if (through > 0) result[seq] = through;
  }
  return result;
}

namespace {

// Depth-first search backwards from the last op of the sequence; `budget` bounds the work on graphs
// where a signature repeats along many branches.
bool match_back(const ModelSequences& ms, const std::vector<uint32_t>& seq, const std::vector<bool>& mark, size_t v,
                size_t pos, bool touched, std::vector<size_t>& path, long& budget) {
  if (--budget < 0 || ms.signatures[v] != seq[pos]) return false;
  path.push_back(v);
  touched = touched || mark.empty() || mark[v];
  if (pos == 0 && touched) return true;
  if (pos > 0)
    for (int u : ms.graph.preds[v])
      if (match_back(ms, seq, mark, static_cast<size_t>(u), pos - 1, touched, path, budget)) return true;
  path.pop_back();
  return false;
}

}  // namespace

std::vector<size_t> example_path(const ModelSequences& ms, const std::vector<uint32_t>& sequence,
                                 const std::vector<size_t>& marked) {
  if (sequence.empty()) return {};
  const std::vector<bool> mark = marked.empty() ? std::vector<bool>{} : marked_positions(ms, marked);
  long budget = 100000;
  std::vector<size_t> path;
  for (size_t v = 0; v < ms.graph.nodes.size() && budget > 0; ++v) {
    if (!match_back(ms, sequence, mark, v, sequence.size() - 1, false, path, budget)) continue;
    std::reverse(path.begin(), path.end());
    for (auto& p : path) p = ms.graph.nodes[p];
    return path;
  }
  return {};
}

// ---------------------------------------------------------------- association

double fisher_right_tail(uint64_t failing, uint64_t draws, uint64_t failing_total, uint64_t total) {
  if (failing == 0) return 1.0;
  auto log_choose = [](double n, double k) { return std::lgamma(n + 1) - std::lgamma(k + 1) - std::lgamma(n - k + 1); };
  const double N = static_cast<double>(total), K = static_cast<double>(failing_total), d = static_cast<double>(draws);
  const double denominator = log_choose(N, d);
  const uint64_t top = std::min(draws, failing_total);
  double p = 0;
  for (uint64_t k = failing; k <= top; ++k) {
    const double kk = static_cast<double>(k);
    if (d - kk > N - K) continue;  // impossible: more clean draws than clean occurrences
    p += std::exp(log_choose(K, kk) + log_choose(N - K, d - kk) - denominator);
  }
  return std::min(1.0, p);
}

}  // namespace transfix
