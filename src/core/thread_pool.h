// Data-parallel loops for kernels. parallel_for splits [0, n) into contiguous chunks, one per
// thread; the calling thread takes part. Nested calls run serially. The threads are OpenMP's
// (libgomp): oneDNN, which runs our fp32 Conv, threads with OpenMP too, so both share one team
// instead of two sets of threads competing for the cores.
#pragma once
#include <cstdint>
#include <functional>

namespace transfix {

// Programs call this first thing in main(): when OMP_WAIT_POLICY is unset, it re-executes the
// program with OMP_WAIT_POLICY=passive so that idle threads sleep instead of spinning.
void use_sleeping_openmp_threads(char** argv);

// Number of threads kernels use (default: hardware concurrency). OpenBLAS itself stays single-threaded.
void set_num_threads(int n);
int num_threads();

// Tunes the C allocator for repeated inference: activation buffers stay in the heap between runs
// instead of being mapped fresh (and page-faulted in) every time. Process-wide; the CLI calls it.
void configure_allocator_for_inference();

// Calls fn(begin, end) on disjoint chunks covering [0, n). Runs inline when n < 2 * min_chunk
// or when called from inside another parallel_for.
void parallel_for(int64_t n, const std::function<void(int64_t, int64_t)>& fn, int64_t min_chunk = 1);

}  // namespace transfix
