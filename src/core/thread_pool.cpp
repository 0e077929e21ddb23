#include "core/thread_pool.h"

#include <malloc.h>
#include <omp.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <atomic>
#include <exception>
#include <mutex>
#include <thread>

extern "C" void openblas_set_num_threads(int);

namespace transfix {

namespace {
thread_local bool t_inside_parallel = false;

int default_threads() { return std::max(1u, std::thread::hardware_concurrency()); }
std::atomic<int> g_threads{default_threads()};
}  // namespace

void configure_allocator_for_inference() {
  // glibc maps allocations above M_MMAP_THRESHOLD with mmap and returns them on free, so every run
  // page-faults its large activations in again (measured: ~20% of mobilenet_v2's latency).
  mallopt(M_MMAP_THRESHOLD, 1 << 30);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
}

void use_sleeping_openmp_threads(char** argv) {
  // libgomp's idle threads spin (~300k iterations) before sleeping. On a machine whose cores are
  // shared with other processes that is ruinous (measured under load: mobilenet_v2 median 15 ms
  // with sleeping threads, 240-520 ms with spinning ones). libgomp reads OMP_WAIT_POLICY once,
  // when it is loaded, before main(): so the variable is set and the program started again.
  if (std::getenv("OMP_WAIT_POLICY") || !argv || !argv[0]) return;
  setenv("OMP_WAIT_POLICY", "passive", 1);
  execv("/proc/self/exe", argv);  // returns only on failure: then run on with spinning threads
}

void set_num_threads(int n) {
  n = std::max(1, n);
  g_threads = n;
  omp_set_num_threads(n);
  // GEMM splits work across this pool and calls OpenBLAS single-threaded: OpenBLAS's own idle
  // workers spin and would fight our threads for the cores.
  openblas_set_num_threads(1);
}

int num_threads() { return g_threads; }

void parallel_for(int64_t n, const std::function<void(int64_t, int64_t)>& fn, int64_t min_chunk) {
  if (n <= 0) return;
  const int threads = static_cast<int>(std::min<int64_t>(num_threads(), n / std::max<int64_t>(1, min_chunk)));
  if (threads <= 1 || t_inside_parallel) {
    fn(0, n);
    return;
  }
  std::exception_ptr error;
  std::mutex error_mutex;
#pragma omp parallel num_threads(threads)
  {
    // OpenMP may grant fewer threads than asked: chunk by the team actually running.
    const int64_t team = omp_get_num_threads(), chunk = (n + team - 1) / team;
    const int64_t begin = omp_get_thread_num() * chunk, end = std::min(n, begin + chunk);
    t_inside_parallel = true;
    try {
      if (begin < end) fn(begin, end);
    } catch (...) {
      std::lock_guard<std::mutex> lock(error_mutex);
      if (!error) error = std::current_exception();
    }
    t_inside_parallel = false;
  }
  if (error) std::rethrow_exception(error);
}

}  // namespace transfix
