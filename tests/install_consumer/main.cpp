// Uses the installed transfix library: loads an ONNX model, runs it in fp32 and in the fp64 oracle,
// and checks the outputs against values computed here. Exit 0 when every check holds.
#include <cmath>
#include <cstdio>
#include <exception>
#include <map>
#include <string>
#include <vector>

#include "core/graph.h"
#include "formats/model_io.h"
#include "runtime/interpreter.h"

using namespace transfix;

static bool check_sigmoid(const Model& model, Precision precision) {
  std::vector<float> x(60);
  for (size_t i = 0; i < x.size(); ++i) x[i] = -6.0f + 0.2f * static_cast<float>(i);
  const std::string in = model.graph.inputs.at(0).name, out = model.graph.outputs.at(0).name;
  InterpreterOptions options;
  options.precision = precision;
  Interpreter interpreter(model, options);
  auto outputs = interpreter.run({{in, Tensor::from_vector<float>(x, {3, 4, 5})}});
  const std::vector<double> y = outputs.at(out).to_f64_vector();
  bool ok = y.size() == x.size();
  for (size_t i = 0; ok && i < x.size(); ++i) {
    const double expected = 1.0 / (1.0 + std::exp(-static_cast<double>(x[i])));
    const double tolerance = precision == Precision::kF64 ? 1e-15 : 1e-6;
    if (std::fabs(y[i] - expected) > tolerance) {
      std::fprintf(stderr, "sigmoid(%g): %.17g, expected %.17g\n", x[i], y[i], expected);
      ok = false;
    }
  }
  return ok;
}

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: consumer MODEL.onnx (a Sigmoid model of input [3, 4, 5])\n");
    return 2;
  }
  try {
    const Model model = load_model(argv[1]);
    const bool ok = check_sigmoid(model, Precision::kF32) && check_sigmoid(model, Precision::kF64);
    std::printf("%s: %zu node(s), sigmoid %s in fp32 and fp64\n", argv[1], model.graph.nodes.size(),
                ok ? "matches" : "DIFFERS");
    return ok ? 0 : 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "consumer: %s\n", e.what());
    return 2;
  }
}
