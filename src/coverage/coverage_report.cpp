#include "coverage/coverage_report.h"

#include <algorithm>
#include <cmath>

#include "core/op_vocabulary.h"
#include "core/errors.h"
#include "formats/model_io.h"

namespace transfix {

namespace {

// A model of the evidence, loaded once however many conversions name it (a mutate corpus shares
// one source).
struct EvidenceModel {
  ModelSequences sequences;
  std::unordered_map<std::string, std::vector<size_t>> nodes_by_label;  // localize's op labels
  std::vector<std::string> labels;                                       // by graph node index
};

std::vector<std::string> labels_of(const std::vector<size_t>& path, const std::vector<std::string>& labels) {
  std::vector<std::string> out;
  for (size_t idx : path) out.push_back(labels[idx]);
  return out;
}

std::vector<std::string> node_labels(const Graph& g) {
  std::vector<std::string> labels;
  labels.reserve(g.nodes.size());
  for (const auto& n : g.nodes) labels.push_back(node_label(n));
  return labels;
}

}  // namespace

struct CoverageBuilder::Impl {
  CoverageResult result;
  std::map<std::string, std::unique_ptr<EvidenceModel>> cache;

  std::vector<int> lengths() const {
    return result.options.n == 1 ? std::vector<int>{1} : std::vector<int>{1, result.options.n};
  }
  const SequenceCounts& counts(const ModelSequences& ms, int length) const { return length == 1 ? ms.ops : ms.all; }

  SequenceStats& stats(uint32_t seq, int length) {
    SequenceStats& s = result.stats[seq];
    s.sequence = seq, s.length = length;
    return s;
  }

  EvidenceModel& evidence_model(const std::string& path) {
    auto& slot = cache[path];
    if (!slot) {
      Model m = load_model(path);
      slot = std::make_unique<EvidenceModel>();
      slot->sequences = model_sequences(m, result.options.n, result.options.fold, *result.table);
      slot->labels = node_labels(m.graph);
      for (size_t i = 0; i < slot->labels.size(); ++i) slot->nodes_by_label[slot->labels[i]].push_back(i);
    }
    return *slot;
  }

  static std::vector<size_t> find_nodes(const EvidenceModel& em, const std::vector<std::string>& ops) {
    std::vector<size_t> found;
    for (const auto& op : ops) {
      auto it = em.nodes_by_label.find(op);
      if (it != em.nodes_by_label.end()) found.insert(found.end(), it->second.begin(), it->second.end());
    }
    return found;
  }

  void add_passing(const EvidenceModel& em, ConversionCoverage& cc) {
    for (int len : lengths())
      for (const auto& [seq, paths] : counts(em.sequences, len)) {
        SequenceStats& s = stats(seq, len);
        s.clean += paths, ++s.passing_conversions;
        result.clean_total[len] += paths;
        if (len == result.options.n) cc.clean_paths += paths;
      }
  }

  // Paths through a marked node are failing, the others clean; nothing marked = all failing.
  void add_failing(const EvidenceModel& em, const std::vector<size_t>& marked, const std::string& model_path,
                   ConversionCoverage& cc) {
    for (int len : lengths()) {
      const SequenceCounts through = marked.empty() ? counts(em.sequences, len)
                                                    : touching(em.sequences, marked, len, *result.table);
      for (const auto& [seq, paths] : counts(em.sequences, len)) {
        auto it = through.find(seq);
        const uint64_t failing = it == through.end() ? 0 : it->second;
        SequenceStats& s = stats(seq, len);
        s.failing += failing, s.clean += paths - failing;
        result.failing_total[len] += failing, result.clean_total[len] += paths - failing;
        if (len == result.options.n) cc.failing_paths += failing, cc.clean_paths += paths - failing;
        if (failing == 0) continue;
        ++s.failing_conversions;
        if (s.failing_example.empty()) {
          s.failing_example = labels_of(example_path(em.sequences, result.table->signatures(seq), marked), em.labels);
          s.failing_example_model = model_path;
        }
      }
    }
  }

  void add_conversion(const ConversionEvidence& e) {
    ConversionCoverage cc;
    cc.evidence = e;
    cc.side = "source";
    if (e.passed) {
      add_passing(evidence_model(e.source), cc);
      result.conversions.push_back(std::move(cc));
      return;
    }
    // The failing segment's ops, in the source when the report names them there, else in the target.
    const EvidenceModel* em = &evidence_model(e.source);
    std::vector<size_t> marked = find_nodes(*em, e.source_fault_ops);
    if (marked.empty() && !e.target_fault_ops.empty()) {
      const EvidenceModel& target = evidence_model(e.target);
      std::vector<size_t> in_target = find_nodes(target, e.target_fault_ops);
      if (!in_target.empty()) em = &target, marked = std::move(in_target), cc.side = "target";
    }
    cc.localized = !marked.empty();
    cc.marked_nodes = marked.size();
    if (!cc.localized)
      cc.note = e.kind == "localize" ? "the faulty ops the report names are not in the model: whole model counted as failing"
                                     : "not localized: whole model counted as failing";
    add_failing(*em, marked, cc.side == "source" ? e.source : e.target, cc);
    result.conversions.push_back(std::move(cc));
  }

  void add_model(const Model& model) {
    const ModelSequences ms = model_sequences(model, result.options.n, result.options.fold, *result.table);
    ModelCoverage mc;
    mc.path = model.path, mc.format = model.meta.format;
    mc.ops = ms.graph.nodes.size();
    mc.distinct_ops = ms.ops.size(), mc.distinct_sequences = ms.all.size();
    std::vector<std::string> labels;  // made on first need: most sequences already have an example
    for (int len : lengths())
      for (const auto& [seq, paths] : counts(ms, len)) {
        SequenceStats& s = stats(seq, len);
        s.occurrences += paths, ++s.models;
        if (s.example.empty()) {
          if (labels.empty()) labels = node_labels(model.graph);
          s.example = labels_of(example_path(ms, result.table->signatures(seq)), labels);
          s.example_model = model.path;
        }
        if (len != result.options.n) {
          if (!s.exercised()) ++mc.untested_ops;
          continue;
        }
        mc.paths += paths;
        if (!s.exercised()) ++mc.untested_sequences, mc.untested_paths += paths;
      }
    if (result.options.per_model) {
      mc.sequences.assign(ms.all.begin(), ms.all.end());
      std::sort(mc.sequences.begin(), mc.sequences.end(), [](auto& a, auto& b) { return a.second > b.second; });
    }
    if (result.conversions.empty()) mc.untested_ops = mc.untested_sequences = 0, mc.untested_paths = 0;
    result.models.push_back(std::move(mc));
  }

  void associate() {
    for (auto& [seq, s] : result.stats) {
      if (s.failing == 0) continue;
      const uint64_t failing_total = result.failing_total[s.length];
      const uint64_t total = failing_total + result.clean_total[s.length];
      const uint64_t draws = s.failing + s.clean;
      s.p_value = fisher_right_tail(s.failing, draws, failing_total, total);
      s.lift = (static_cast<double>(s.failing) / static_cast<double>(draws)) /
               (static_cast<double>(failing_total) / static_cast<double>(total));
    }
  }
};

CoverageBuilder::CoverageBuilder(CoverageOptions options) : impl_(std::make_unique<Impl>()) {
  if (options.n < 1 || options.n > 5) throw InputError("coverage: --n must be 1..5 (got " + std::to_string(options.n) + ")");
  impl_->result.options = options;
  impl_->result.table = std::make_shared<SequenceTable>();
}

CoverageBuilder::~CoverageBuilder() = default;

void CoverageBuilder::add_conversion(const ConversionEvidence& e) {
  if (!impl_->result.models.empty()) throw std::logic_error("CoverageBuilder: conversions must come before models");
  impl_->add_conversion(e);
}

void CoverageBuilder::add_model(const Model& model) { impl_->add_model(model); }

CoverageResult CoverageBuilder::finish() {
  impl_->associate();
  impl_->cache.clear();
  return std::move(impl_->result);
}

// ---------------------------------------------------------------- views

namespace {

template <typename Keep, typename Before>
std::vector<const SequenceStats*> select(const CoverageResult& r, int length, Keep keep, Before before) {
  std::vector<const SequenceStats*> rows;
  for (const auto& [seq, s] : r.stats)
    if (s.length == length && keep(s)) rows.push_back(&s);
  std::sort(rows.begin(), rows.end(), [&](const SequenceStats* a, const SequenceStats* b) {
    if (before(*a, *b)) return true;
    if (before(*b, *a)) return false;
    return r.describe(a->sequence) < r.describe(b->sequence);  // stable across runs
  });
  return rows;
}

bool more_paths(const SequenceStats& a, const SequenceStats& b) { return a.occurrences > b.occurrences; }

}  // namespace

std::vector<const SequenceStats*> CoverageResult::in_models(int length) const {
  return select(*this, length, [](const SequenceStats& s) { return s.models > 0; }, more_paths);
}

std::vector<const SequenceStats*> CoverageResult::untested(int length) const {
  if (!has_evidence()) return {};
  return select(*this, length, [](const SequenceStats& s) { return s.models > 0 && !s.exercised(); }, more_paths);
}

std::vector<const SequenceStats*> CoverageResult::failure_ranked(int length) const {
  return select(
      *this, length, [](const SequenceStats& s) { return s.failing > 0; },
      [](const SequenceStats& a, const SequenceStats& b) {
        if (a.p_value != b.p_value) return a.p_value < b.p_value;
        if (a.lift != b.lift) return a.lift > b.lift;
        return a.failing > b.failing;
      });
}

// ---------------------------------------------------------------- JSON

namespace {

nlohmann::json row_json(const CoverageResult& r, const SequenceStats& s) {
  const auto sigs = r.table->signatures(s.sequence);
  nlohmann::json ops = nlohmann::json::array();
  for (uint32_t sig : sigs) ops.push_back(r.table->signature_name(sig));
  nlohmann::json j = {{"sequence", r.describe(s.sequence)}, {"ops", ops},
                      {"occurrences", s.occurrences},       {"models", s.models}};
  if (!s.example.empty()) j["example"] = {{"model", s.example_model}, {"path", s.example}};
  if (r.has_evidence()) {
    j["exercised"] = s.exercised();
    j["passing_conversions"] = s.passing_conversions;
    j["failing_conversions"] = s.failing_conversions;
    j["clean_paths"] = s.clean;
    j["failing_paths"] = s.failing;
    if (s.failing > 0) {
      j["p_value"] = s.p_value;
      j["lift"] = s.lift;
      j["failing_example"] = {{"model", s.failing_example_model}, {"path", s.failing_example}};
    }
  }
  return j;
}

nlohmann::json rows_json(const CoverageResult& r, const std::vector<const SequenceStats*>& rows) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto* s : rows) out.push_back(row_json(r, *s));
  return out;
}

nlohmann::json model_json(const CoverageResult& r, const ModelCoverage& m) {
  nlohmann::json j = {{"path", m.path},
                      {"format", m.format},
                      {"ops", m.ops},
                      {"paths", m.paths},
                      {"distinct_ops", m.distinct_ops},
                      {"distinct_sequences", m.distinct_sequences}};
  if (r.has_evidence())
    j["untested"] = {{"ops", m.untested_ops}, {"sequences", m.untested_sequences}, {"paths", m.untested_paths}};
  if (r.options.per_model) {
    nlohmann::json seqs = nlohmann::json::array();
    for (const auto& [seq, paths] : m.sequences) seqs.push_back({{"sequence", r.describe(seq)}, {"paths", paths}});
    j["sequences"] = seqs;
  }
  return j;
}

nlohmann::json conversion_json(const ConversionCoverage& c) {
  const auto& e = c.evidence;
  nlohmann::json j = {{"file", e.file},         {"kind", e.kind},           {"source", e.source},
                      {"target", e.target},     {"passed", e.passed},       {"verdict", e.verdict},
                      {"side", c.side},         {"localized", c.localized}, {"marked_nodes", c.marked_nodes},
                      {"failing_paths", c.failing_paths}, {"clean_paths", c.clean_paths}};
  if (!c.note.empty()) j["note"] = c.note;
  return j;
}

}  // namespace

nlohmann::json coverage_json(const CoverageResult& r) {
  const int n = r.options.n;
  nlohmann::json models = nlohmann::json::array(), conversions = nlohmann::json::array();
  for (const auto& m : r.models) models.push_back(model_json(r, m));
  for (const auto& c : r.conversions) conversions.push_back(conversion_json(c));
  const auto seqs = r.in_models(n), ops = r.in_models(1), untested = r.untested(n), untested_ops = r.untested(1);
  uint64_t paths = 0, untested_paths = 0;
  for (const auto* s : seqs) paths += s->occurrences;
  for (const auto* s : untested) untested_paths += s->occurrences;
  nlohmann::json j = {{"schema", "transfix.coverage/1"},
                      {"n", n},
                      {"fold", coverage_fold_name(r.options.fold)},
                      {"models", models},
                      {"conversions", conversions},
                      {"summary",
                       {{"distinct_ops", ops.size()},
                        {"distinct_sequences", seqs.size()},
                        {"paths", paths},
                        {"evidence", r.has_evidence()}}},
                      {"ops", rows_json(r, ops)},
                      {"sequences", rows_json(r, seqs)}};
  if (r.has_evidence()) {
    j["summary"]["untested_ops"] = untested_ops.size();
    j["summary"]["untested_sequences"] = untested.size();
    j["summary"]["untested_paths"] = untested_paths;
    j["summary"]["failing_paths"] = r.failing_total.count(n) ? r.failing_total.at(n) : 0;
    j["summary"]["clean_paths"] = r.clean_total.count(n) ? r.clean_total.at(n) : 0;
    nlohmann::json untested_list = nlohmann::json::array(), ranked = nlohmann::json::array();
    for (const auto* s : untested) untested_list.push_back(r.describe(s->sequence));
    for (const auto* s : r.failure_ranked(n)) ranked.push_back(row_json(r, *s));
    j["untested"] = untested_list;
    j["failure_associated"] = ranked;
    nlohmann::json ranked_ops = nlohmann::json::array();
    for (const auto* s : r.failure_ranked(1)) ranked_ops.push_back(row_json(r, *s));
    j["failure_associated_ops"] = ranked_ops;
  }
  return j;
}

}  // namespace transfix
