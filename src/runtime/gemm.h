// Shared matrix multiply for kernels (Conv, ConvTranspose, Gemm, MatMul, ...).
//   C[m x n] = alpha * op(A) * op(B) + beta * C,  row-major, op(X) = X or X^T.
// lda/ldb/ldc are the row strides (in elements) of the matrices as stored: A is stored
// [m x k] (or [k x m] when trans_a), B is stored [k x n] (or [n x k] when trans_b).
// When beta == 0, C is written without being read (it may hold garbage).
//
// float goes to OpenBLAS (cblas_sgemm) and double to Eigen; both are split over the longer side of C
// with parallel_for (so a call from inside a parallel_for runs single-threaded on that thread).
// OpenBLAS itself is kept at one thread: its spinning workers would compete with the pool's.
// Other numeric types use a plain triple loop (integer MatMul/Gemm are rare and small).
#pragma once
#include <cstdint>
#include <type_traits>

namespace transfix {

void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda,
          const float* b, int64_t ldb, float beta, float* c, int64_t ldc);
void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, double alpha, const double* a, int64_t lda,
          const double* b, int64_t ldb, double beta, double* c, int64_t ldc);

// Reference triple loop for any arithmetic type (integers wrap like the C++ type does).
template <typename T>
void gemm_reference(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, T alpha, const T* a, int64_t lda,
                    const T* b, int64_t ldb, T beta, T* c, int64_t ldc) {
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t j = 0; j < n; ++j) {
      T sum = T(0);
      for (int64_t p = 0; p < k; ++p) {
        T av = trans_a ? a[p * lda + i] : a[i * lda + p];
        T bv = trans_b ? b[j * ldb + p] : b[p * ldb + j];
        sum = static_cast<T>(sum + av * bv);
      }
      T& out = c[i * ldc + j];
      out = beta == T(0) ? static_cast<T>(alpha * sum) : static_cast<T>(alpha * sum + beta * out);
    }
  }
}

// Dispatches float/double to the fast paths and everything else to gemm_reference.
template <typename T>
void gemm_any(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, T alpha, const T* a, int64_t lda,
              const T* b, int64_t ldb, T beta, T* c, int64_t ldc) {
  if constexpr (std::is_same_v<T, float> || std::is_same_v<T, double>)
    gemm(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
  else
    gemm_reference(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

}  // namespace transfix
