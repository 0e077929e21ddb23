// libFuzzer target: the JSON reports transfix reads back.
// Byte 0 even: `transfix merge` — the rest is split at NUL bytes into 1-4 compare reports
// (transfix.compare/1), merged (merge_compare_reports) and reported (compare_report_json), as the
// command does. Byte 0 odd: `transfix coverage --against` — the rest is the file
// (read_conversion_evidence: localize / compare reports, pair lists); its evidence is added with the
// models it names (a.onnx and b.onnx, two tiny models in the file's folder) and the coverage
// report is built (coverage_json). Text that is not JSON is an InputError in both commands.
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "compare/compare.h"
#include "coverage/coverage_evidence.h"
#include "coverage/coverage_report.h"
#include "core/errors.h"
#include "formats/model_io.h"
#include "formats/onnx/onnx_writer.h"
#include "fuzz_common.h"

namespace {

std::string g_report;
transfix::Model g_model;

transfix::Model tiny_model(const std::string& op) {
  using namespace transfix;
  Model m;
  m.meta.format = "onnx";
  m.meta.ir_version = 8;
  m.meta.opsets[""] = 17;
  ValueInfo x;
  x.name = "x", x.dtype = DType::kF32, x.shape = {1, 4}, x.has_shape = true;
  ValueInfo y = x;
  y.name = "y";
  m.graph.inputs.push_back(x);
  m.graph.outputs.push_back(y);
  Node relu;
  relu.op_type = op, relu.name = "n0", relu.inputs = {"x"}, relu.outputs = {"h"};
  Node sig;
  sig.op_type = "Sigmoid", sig.name = "n1", sig.inputs = {"h"}, sig.outputs = {"y"};
  m.graph.nodes = {relu, sig};
  return m;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  transfix_fuzz::init();
  const auto dir = transfix_fuzz::temp_dir();
  transfix::write_onnx(tiny_model("Relu"), (dir / "a.onnx").string());
  transfix::write_onnx(tiny_model("Tanh"), (dir / "b.onnx").string());
  g_model = transfix::load_model((dir / "a.onnx").string());
  g_report = (dir / "report.json").string();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace transfix;
  if (size < 1) return 0;
  const std::string rest(reinterpret_cast<const char*>(data + 1), size - 1);
  if (data[0] % 2 == 0) {
    std::vector<nlohmann::json> reports;
    size_t start = 0;
    while (reports.size() < 4) {
      const size_t end = rest.find('\0', start);
      nlohmann::json j = nlohmann::json::parse(rest.substr(start, end == std::string::npos ? end : end - start), nullptr,
                                               /*allow_exceptions=*/false);
      if (j.is_discarded()) return 0;  // `transfix merge`: InputError "is not JSON"
      reports.push_back(std::move(j));
      if (end == std::string::npos) break;
      start = end + 1;
    }
    try {
      CompareOptions opt;
      CompareResult r = merge_compare_reports(reports, &opt);
      compare_report_json(r, opt).dump();
    } catch (const InputError&) {
    }
  } else {
    transfix_fuzz::write_file(g_report, rest.data(), rest.size());
    try {
      CoverageOptions opt;
      CoverageBuilder builder(opt);
      for (const auto& e : read_conversion_evidence(g_report)) builder.add_conversion(e);
      builder.add_model(g_model);
      CoverageResult r = builder.finish();
      coverage_json(r).dump();
    } catch (const InputError&) {
    }
  }
  return 0;
}
