// transfix inspect MODEL: what a model is (format, producer, opset, inputs/outputs, ops, parameters).
#include <algorithm>
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "formats/model_io.h"
#include "runtime/interpreter.h"

namespace transfix::cli {

namespace {

std::string type_str(const ValueInfo& v) {
  std::string s = dtype_name(v.dtype);
  if (!v.has_shape) return s + " [?]";
  s += " [";
  for (size_t i = 0; i < v.shape.size(); ++i) {
    if (i) s += ", ";
    bool sym = i < v.dim_params.size() && !v.dim_params[i].empty();
    s += v.shape[i] >= 0 ? std::to_string(v.shape[i]) : (sym ? v.dim_params[i] : "?");
  }
  return s + "]";
}

struct Summary {
  std::vector<std::pair<std::string, int>> ops;  // by count, descending
  int64_t params = 0;
  int64_t param_bytes = 0;
  std::map<std::string, int> unsupported;
};

Summary summarize(const Model& m) {
  Summary s;
  std::map<std::string, int> hist;
  for (const auto& n : m.graph.nodes) ++hist[n.domain.empty() ? n.op_type : n.domain + ":" + n.op_type];
  s.ops.assign(hist.begin(), hist.end());
  std::stable_sort(s.ops.begin(), s.ops.end(), [](auto& a, auto& b) { return a.second > b.second; });
  for (const auto& [name, t] : m.graph.initializers) {
    s.params += t.numel();
    s.param_bytes += static_cast<int64_t>(t.nbytes());
  }
  s.unsupported = Interpreter::unsupported_ops(m);
  return s;
}

nlohmann::json value_json(const ValueInfo& v) {
  nlohmann::json shape = nlohmann::json::array();
  for (size_t i = 0; i < v.shape.size(); ++i) {
    bool sym = i < v.dim_params.size() && !v.dim_params[i].empty();
    if (v.shape[i] >= 0) shape.push_back(v.shape[i]);
    else shape.push_back(sym ? nlohmann::json(v.dim_params[i]) : nlohmann::json(nullptr));
  }
  nlohmann::json j = {{"name", v.name}, {"dtype", dtype_name(v.dtype)}, {"shape", v.has_shape ? shape : nlohmann::json(nullptr)}};
  if (v.quant) j["quant"] = {{"scale", v.quant->scale}, {"zero_point", v.quant->zero_point}, {"axis", v.quant->axis}};
  return j;
}

int inspect(const std::string& path, bool as_json) {
  Model m = load_model(path);
  Summary s = summarize(m);
  if (as_json) {
    nlohmann::json j;
    j["path"] = path;
    j["format"] = m.meta.format;
    j["producer"] = {{"name", m.meta.producer_name}, {"version", m.meta.producer_version}};
    j["ir_version"] = m.meta.ir_version;
    j["opsets"] = m.meta.opsets;
    j["inputs"] = nlohmann::json::array();
    for (const auto& v : m.graph.inputs) j["inputs"].push_back(value_json(v));
    j["outputs"] = nlohmann::json::array();
    for (const auto& v : m.graph.outputs) j["outputs"].push_back(value_json(v));
    j["nodes"] = m.graph.nodes.size();
    j["ops"] = nlohmann::json::object();
    for (const auto& [op, n] : s.ops) j["ops"][op] = n;
    j["parameters"] = {{"count", s.params}, {"bytes", s.param_bytes}, {"tensors", m.graph.initializers.size()}};
    j["unsupported_ops"] = s.unsupported;
    j["metadata"] = m.meta.props;
    std::cout << j.dump(2) << "\n";
    return kExitOk;
  }
  std::cout << "model:      " << path << "\n";
  std::cout << "format:     " << m.meta.format;
  if (m.meta.format == "onnx") std::cout << " (ir_version " << m.meta.ir_version << ", opset " << m.opset() << ")";
  std::cout << "\n";
  if (!m.meta.producer_name.empty())
    std::cout << "producer:   " << m.meta.producer_name << " " << m.meta.producer_version << "\n";
  std::cout << "inputs:\n";
  for (const auto& v : m.graph.inputs) std::cout << "  " << v.name << "  " << type_str(v) << "\n";
  std::cout << "outputs:\n";
  for (const auto& v : m.graph.outputs) std::cout << "  " << v.name << "  " << type_str(v) << "\n";
  std::cout << "nodes:      " << m.graph.nodes.size() << "\n";
  std::cout << "ops:        ";
  for (size_t i = 0; i < s.ops.size(); ++i) std::cout << (i ? ", " : "") << s.ops[i].first << " " << s.ops[i].second;
  std::cout << "\n";
  std::cout << "parameters: " << s.params << " in " << m.graph.initializers.size() << " tensors ("
            << human_bytes(static_cast<double>(s.param_bytes)) << ")\n";
  for (const auto& [k, v] : m.meta.props) std::cout << "metadata:   " << k << " = " << v << "\n";
  if (!s.unsupported.empty()) {
    std::cout << "not runnable by transfix yet, unsupported ops:";
    for (const auto& [op, n] : s.unsupported) std::cout << " " << op << " (" << n << ")";
    std::cout << "\n";
  }
  return kExitOk;
}

}  // namespace

void add_inspect(CLI::App& app) {
  auto* cmd = app.add_subcommand("inspect", "Show a model's format, producer, opset, inputs/outputs, ops and parameters");
  auto path = std::make_shared<std::string>();
  auto json = std::make_shared<bool>(false);
  cmd->add_option("model", *path, "Model file (.onnx)")->required();
  cmd->add_flag("--json", *json, "Print JSON instead of text");
  cmd->callback([=] { exit_code() = inspect(*path, *json); });
}

}  // namespace transfix::cli
