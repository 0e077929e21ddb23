// Throughput of the compute-heavy kernels (Conv paths, Gemm, pooling) through the real kernel
// registry, reported as GFLOP/s (a multiply-add counts as 2 FLOPs). Shapes are typical layers of
// ResNet / MobileNetV2 / Inception at batch 1.
//   build-*/bench/bench_kernels [--benchmark_filter=Conv] ; threads: TRANSFIX_THREADS (default 2)
#include <benchmark/benchmark.h>

#include <Eigen/Core>

#include <cstdlib>
#include <random>

#include "runtime/kernel.h"
#include "core/thread_pool.h"

using namespace transfix;

namespace {

template <typename T>
Tensor random_tensor(Shape shape, unsigned seed) {
  Tensor t(DTypeOf<T>::value, std::move(shape));
  std::mt19937 gen(seed);
  std::uniform_real_distribution<double> dist(-1.0, 1.0);
  T* d = t.mutable_data<T>();
  for (int64_t i = 0; i < t.numel(); ++i) d[i] = static_cast<T>(dist(gen));
  return t;
}

void setup_threads() {
  static bool done = [] {
    const char* env = std::getenv("TRANSFIX_THREADS");
    set_num_threads(env ? std::atoi(env) : 2);
    return true;
  }();
  (void)done;
}

// Runs `op` on `inputs` once per iteration; flops per run for the GFLOP/s counter.
void run_kernel(benchmark::State& state, const Node& node, const std::vector<Tensor>& inputs, double flops) {
  setup_threads();
  const KernelInfo* kernel = find_kernel(node.op_type);
  if (!kernel) {
    state.SkipWithError(("no kernel for " + node.op_type).c_str());
    return;
  }
  std::vector<const Tensor*> ptrs;
  for (const Tensor& t : inputs) ptrs.push_back(&t);
  for (auto _ : state) {
    KernelContext ctx(node, 17, Precision::kF32, ptrs);
    kernel->fn(ctx);
    benchmark::DoNotOptimize(ctx.outputs()[0].raw());
  }
  state.counters["GFLOP/s"] = benchmark::Counter(flops, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["GFLOP/s"].value /= 1e9;
}

Node conv_node(int64_t group, int64_t stride, int64_t pad, int64_t kernel) {
  Node n;
  n.op_type = "Conv";
  n.name = "conv";
  n.inputs = {"x", "w", "b"};
  n.outputs = {"y"};
  n.attrs["group"] = Attribute{int64_t{group}};
  n.attrs["strides"] = Attribute{std::vector<int64_t>{stride, stride}};
  n.attrs["pads"] = Attribute{std::vector<int64_t>{pad, pad, pad, pad}};
  n.attrs["kernel_shape"] = Attribute{std::vector<int64_t>{kernel, kernel}};
  return n;
}

// Conv c_in -> c_out at size x size, k x k kernel, groups, stride; "same" padding.
template <typename T>
void conv_bench(benchmark::State& state, int64_t c_in, int64_t c_out, int64_t size, int64_t k, int64_t group, int64_t stride) {
  const int64_t out = (size + 2 * (k / 2) - k) / stride + 1;
  std::vector<Tensor> inputs{random_tensor<T>({1, c_in, size, size}, 1), random_tensor<T>({c_out, c_in / group, k, k}, 2),
                             random_tensor<T>({c_out}, 3)};
  const double flops = 2.0 * c_out * out * out * (c_in / group) * k * k;
  run_kernel(state, conv_node(group, stride, k / 2, k), inputs, flops);
}

void BM_Conv3x3_64to64_56(benchmark::State& s) { conv_bench<float>(s, 64, 64, 56, 3, 1, 1); }
void BM_Conv1x1_256to64_56(benchmark::State& s) { conv_bench<float>(s, 256, 64, 56, 1, 1, 1); }
void BM_Conv1x1_16to96_112(benchmark::State& s) { conv_bench<float>(s, 16, 96, 112, 1, 1, 1); }
void BM_Conv7x7s2_3to64_224(benchmark::State& s) { conv_bench<float>(s, 3, 64, 224, 7, 1, 2); }
void BM_Conv3x3_256to256_14(benchmark::State& s) { conv_bench<float>(s, 256, 256, 14, 3, 1, 1); }
void BM_Conv3x3_32to32_147(benchmark::State& s) { conv_bench<float>(s, 32, 32, 147, 3, 1, 1); }
void BM_Conv3x3_384to384_8(benchmark::State& s) { conv_bench<float>(s, 384, 384, 8, 3, 1, 1); }
void BM_Depthwise3x3_144_56(benchmark::State& s) { conv_bench<float>(s, 144, 144, 56, 3, 144, 1); }
void BM_Depthwise3x3s2_96_112(benchmark::State& s) { conv_bench<float>(s, 96, 96, 112, 3, 96, 2); }
void BM_Conv3x3_64to64_56_fp64(benchmark::State& s) { conv_bench<double>(s, 64, 64, 56, 3, 1, 1); }
void BM_Depthwise3x3_144_56_fp64(benchmark::State& s) { conv_bench<double>(s, 144, 144, 56, 3, 144, 1); }
BENCHMARK(BM_Conv3x3_64to64_56)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_Conv1x1_256to64_56)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_Conv1x1_16to96_112)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_Conv7x7s2_3to64_224)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_Conv3x3_256to256_14)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_Conv3x3_32to32_147)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_Conv3x3_384to384_8)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_Depthwise3x3_144_56)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_Depthwise3x3s2_96_112)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_Conv3x3_64to64_56_fp64)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_Depthwise3x3_144_56_fp64)->Unit(benchmark::kMillisecond)->UseRealTime();

// Gemm [1 x 2048] x [2048 x 1000]^T + C, the classifier of ResNet/Inception; and a square-ish 1000x2048.
template <typename T>
void gemm_bench(benchmark::State& state, int64_t m, int64_t k, int64_t n) {
  Node node;
  node.op_type = "Gemm";
  node.name = "gemm";
  node.inputs = {"a", "b", "c"};
  node.outputs = {"y"};
  node.attrs["transB"] = Attribute{int64_t{1}};
  std::vector<Tensor> inputs{random_tensor<T>({m, k}, 1), random_tensor<T>({n, k}, 2), random_tensor<T>({n}, 3)};
  run_kernel(state, node, inputs, 2.0 * m * n * k);
}
void BM_Gemm_1x2048x1000(benchmark::State& s) { gemm_bench<float>(s, 1, 2048, 1000); }
void BM_Gemm_1000x2048x1000(benchmark::State& s) { gemm_bench<float>(s, 1000, 2048, 1000); }
void BM_Gemm_1000x2048x1000_fp64(benchmark::State& s) { gemm_bench<double>(s, 1000, 2048, 1000); }
// The alternative considered for fp32 GEMM: Eigen's own float product. It is single-threaded (we build
// without OpenMP), so compare it per core with OpenBLAS. Shown so the library choice stays a measurement.
void BM_Gemm_1000x2048x1000_eigen_fp32(benchmark::State& state) {
  Eigen::MatrixXf a = Eigen::MatrixXf::Random(1000, 2048), b = Eigen::MatrixXf::Random(2048, 1000), c(1000, 1000);
  for (auto _ : state) {
    c.noalias() = a * b;
    benchmark::DoNotOptimize(c.data());
  }
  state.counters["GFLOP/s"] = benchmark::Counter(2.0 * 1000 * 2048 * 1000, benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_Gemm_1000x2048x1000_eigen_fp32)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_Gemm_1x2048x1000)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_Gemm_1000x2048x1000)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_Gemm_1000x2048x1000_fp64)->Unit(benchmark::kMillisecond)->UseRealTime();

// MaxPool 3x3 stride 2 on the ResNet stem output; FLOPs = comparisons.
void BM_MaxPool3x3s2_64_112(benchmark::State& state) {
  Node node;
  node.op_type = "MaxPool";
  node.name = "pool";
  node.inputs = {"x"};
  node.outputs = {"y"};
  node.attrs["kernel_shape"] = Attribute{std::vector<int64_t>{3, 3}};
  node.attrs["strides"] = Attribute{std::vector<int64_t>{2, 2}};
  node.attrs["pads"] = Attribute{std::vector<int64_t>{1, 1, 1, 1}};
  run_kernel(state, node, {random_tensor<float>({1, 64, 112, 112}, 1)}, 9.0 * 64 * 56 * 56);
}
BENCHMARK(BM_MaxPool3x3s2_64_112)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
