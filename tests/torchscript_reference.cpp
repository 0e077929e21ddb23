// libtorch as the independent reference for the TorchScript importer.
//
//   torchscript_reference check MODEL.pt INPUT.npy [--rel32 1e-4] [--rel64 1e-10] [--save-ref OUT.npy]
//     Runs the module's forward() in libtorch (float32, and in double after module.to(kDouble)) and
//     transfix's interpreter on the imported graph (fp32 and fp64 modes), and compares each pair:
//     max abs difference relative to the output scale (max |reference|). Exit 1 when over tolerance.
//   torchscript_reference bench MODEL.pt INPUT.npy [--iterations 10] [--threads 2]
//     Prints import time and median forward latency of libtorch and transfix (one JSON line).
//
// This is one of the two libtorch-linked compile units of the project (with the reader's plugin).
#include <torch/csrc/jit/serialization/import.h>
#include <torch/csrc/jit/api/module.h>
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/csrc/jit/runtime/graph_executor.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>

#include "core/errors.h"
#include "data/npy.h"
#include "formats/model_io.h"
#include "runtime/interpreter.h"
#include "core/thread_pool.h"

using namespace transfix;

namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

at::Tensor to_torch(const Tensor& t) {
  std::vector<int64_t> shape(t.shape().begin(), t.shape().end());
  Tensor f = t.cast(DType::kF32);
  return at::from_blob(const_cast<void*>(f.raw()), shape, at::kFloat).clone();
}

// The (single) tensor output of forward(); tuples give their first element.
at::Tensor forward(torch::jit::Module& m, const at::Tensor& x) {
  at::NoGradGuard no_grad;
  c10::IValue out = m.forward({x});
  if (out.isTuple()) out = out.toTuple()->elements().at(0);
  return out.toTensor().contiguous();
}

std::vector<double> values_of(const at::Tensor& t) {
  at::Tensor d = t.to(at::kDouble).contiguous();
  return std::vector<double>(d.data_ptr<double>(), d.data_ptr<double>() + d.numel());
}

std::vector<double> values_of(const Tensor& t) { return t.to_f64_vector(); }

// Max abs difference relative to the reference's scale; -1 when the shapes differ.
double relative_error(const std::vector<double>& got, const std::vector<double>& ref) {
  if (got.size() != ref.size()) return -1;
  double scale = 0, diff = 0;
  for (size_t i = 0; i < ref.size(); ++i) {
    scale = std::max(scale, std::fabs(ref[i]));
    double d = std::fabs(got[i] - ref[i]);
    if (std::isnan(d)) return INFINITY;
    diff = std::max(diff, d);
  }
  return diff / std::max(scale, 1e-30);
}

Tensor first_output(const Interpreter& interp, const Model& model, const Tensor& input) {
  auto outs = interp.run({{model.graph.inputs.at(0).name, input}});
  return outs.at(model.graph.outputs.at(0).name);
}

std::string string_flag(int argc, char** argv, const char* name) {
  for (int i = 0; i + 1 < argc; ++i)
    if (std::strcmp(argv[i], name) == 0) return argv[i + 1];
  return "";
}

double flag(int argc, char** argv, const char* name, double def) {
  for (int i = 0; i + 1 < argc; ++i)
    if (std::strcmp(argv[i], name) == 0) return std::atof(argv[i + 1]);
  return def;
}

// fp32 tolerance: `rel32`, or twice the model's own fp32 noise floor (libtorch float vs double) where
// that is larger: two correct fp32 runtimes differ by about that much (see tests/fixtures_test.sh).
int check(const std::string& path, const std::string& input_path, double rel32, double rel64, const std::string& save_ref) {
  Tensor input = read_npy(input_path);
  torch::jit::Module m = torch::jit::load(path);
  m.eval();
  at::Tensor x = to_torch(input);
  at::Tensor out32 = forward(m, x);
  std::vector<double> ref32 = values_of(out32);
  if (!save_ref.empty()) {
    std::vector<float> v(out32.data_ptr<float>(), out32.data_ptr<float>() + out32.numel());
    write_npy(save_ref, Tensor::from_vector(v, Shape(out32.sizes().begin(), out32.sizes().end())));
  }
  m.to(at::kDouble);
  std::vector<double> ref64 = values_of(forward(m, x.to(at::kDouble)));
  double noise = relative_error(ref32, ref64);
  rel32 = std::max(rel32, 2 * noise);

  Model model = load_model(path);
  Interpreter f32(model, {Precision::kF32});
  Interpreter f64(model, {Precision::kF64});
  double e32 = relative_error(values_of(first_output(f32, model, input)), ref32);
  double e64 = relative_error(values_of(first_output(f64, model, input)), ref64);
  bool ok = e32 >= 0 && e32 <= rel32 && e64 >= 0 && e64 <= rel64;
  std::printf("%s %s: %zu nodes; fp32 vs libtorch %.3g (tol %.2g; libtorch fp32 noise floor %.3g), "
              "fp64 vs libtorch double %.3g (tol %.0e)\n",
              ok ? "ok" : "FAIL", path.c_str(), model.graph.nodes.size(), e32, rel32, noise, e64, rel64);
  return ok ? 0 : 1;
}

template <typename F>
double median_ms(int iterations, F&& fn) {
  std::vector<double> ms;
  for (int i = 0; i < 3; ++i) fn();  // warm-up (TorchScript's profiling executor optimizes after two runs)
  for (int i = 0; i < iterations; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    fn();
    ms.push_back(seconds_since(t0) * 1e3);
  }
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

// libtorch runs with the graph executor's optimizations off: with them, Debian's libtorch 1.13 took
// 2-3x longer per forward here (mobilenet_v2 from Python, 1 thread, busy machine: ~70 ms off,
// 180-250 ms on), so "off" is libtorch's better configuration here.
int bench(const std::string& path, const std::string& input_path, int iterations, int threads) {
  torch::jit::setGraphExecutorOptimize(false);
  at::set_num_threads(threads);
  set_num_threads(threads);
  configure_allocator_for_inference();
  Tensor input = read_npy(input_path);
  auto t0 = std::chrono::steady_clock::now();
  Model model = load_model(path);  // includes loading libtorch's plugin on the first call
  double import_s = seconds_since(t0);
  t0 = std::chrono::steady_clock::now();
  Model again = load_model(path);
  double reimport_s = seconds_since(t0);
  torch::jit::Module m = torch::jit::load(path);
  m.eval();
  at::Tensor x = to_torch(input);
  Interpreter interp(model);
  double torch_ms = median_ms(iterations, [&] { forward(m, x); });
  double tf_ms = median_ms(iterations, [&] { first_output(interp, model, input); });
  std::printf("{\"model\": \"%s\", \"import_s\": %.3f, \"reimport_s\": %.3f, \"libtorch_ms\": %.2f, \"transfix_ms\": %.2f, "
              "\"ratio\": %.2f}\n",
              path.c_str(), import_s, reimport_s, torch_ms, tf_ms, tf_ms / torch_ms);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: torchscript_reference check|bench MODEL.pt INPUT.npy [options]\n");
    return 2;
  }
  std::string mode = argv[1];
  try {
    if (mode == "check") return check(argv[2], argv[3], flag(argc, argv, "--rel32", 1e-4), flag(argc, argv, "--rel64", 1e-10),
                                         string_flag(argc, argv, "--save-ref"));
    if (mode == "bench")
      return bench(argv[2], argv[3], static_cast<int>(flag(argc, argv, "--iterations", 10)),
                   static_cast<int>(flag(argc, argv, "--threads", 2)));
  } catch (const InputError& e) {
    std::printf("FAIL %s: transfix: %s\n", argv[2], e.what());
    return 1;
  } catch (const c10::Error& e) {
    std::printf("FAIL %s: libtorch: %s\n", argv[2], e.what_without_backtrace());
    return 1;
  }
  std::fprintf(stderr, "unknown mode %s\n", mode.c_str());
  return 2;
}
