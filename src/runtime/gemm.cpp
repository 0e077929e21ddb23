#include "runtime/gemm.h"

#include <cblas.h>

#include <Eigen/Core>
#include <algorithm>
#include <climits>

#include "core/errors.h"
#include "core/thread_pool.h"

namespace transfix {
namespace {

// k == 0 (an empty reduction): C = beta * C, without reading C when beta == 0.
template <typename T>
void scale_only(int64_t m, int64_t n, T beta, T* c, int64_t ldc) {
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) c[i * ldc + j] = beta == T(0) ? T(0) : beta * c[i * ldc + j];
}

bool fits_blas_int(std::initializer_list<int64_t> values) {
  for (int64_t v : values)
    if (v > INT_MAX) return false;
  return true;
}

using RowMatrix = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using ConstMatrixMap = Eigen::Map<const RowMatrix, 0, Eigen::OuterStride<>>;
using MatrixMap = Eigen::Map<RowMatrix, 0, Eigen::OuterStride<>>;

// C = alpha * op_a * op_b + beta * C, split over the longer of C's rows and columns so both
// threads get work for tall (Conv: many channels) and wide (Gemm with m == 1) products alike.
template <typename OpA, typename OpB>
void eigen_product(const OpA& op_a, const OpB& op_b, double alpha, double beta, MatrixMap& c) {
  const int64_t m = c.rows(), n = c.cols(), k = op_a.cols();
  const bool split_rows = m >= n;
  const int64_t extent = split_rows ? m : n;
  // Small products are not worth waking the pool for: ~64k multiply-adds per chunk at least.
  const int64_t work_per_line = std::max<int64_t>(1, (split_rows ? n : m) * k);
  const int64_t min_chunk = std::max<int64_t>(1, 65536 / work_per_line);
  parallel_for(extent, [&](int64_t begin, int64_t end) {
    const Eigen::Index b = begin, len = end - begin;
    if (split_rows) {
      auto block = c.middleRows(b, len);
      if (beta == 0.0) block.noalias() = alpha * (op_a.middleRows(b, len) * op_b);
      else { block *= beta; block.noalias() += alpha * (op_a.middleRows(b, len) * op_b); }
    } else {
      auto block = c.middleCols(b, len);
      if (beta == 0.0) block.noalias() = alpha * (op_a * op_b.middleCols(b, len));
      else { block *= beta; block.noalias() += alpha * (op_a * op_b.middleCols(b, len)); }
    }
  }, min_chunk);
}

}  // namespace

void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda,
          const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  if (m <= 0 || n <= 0) return;
  if (k <= 0) return scale_only(m, n, beta, c, ldc);
  if (!fits_blas_int({m, n, k, lda, ldb, ldc}))
    throw UnsupportedError("matrix product dimensions beyond 2^31 are not supported");
  // OpenBLAS runs single-threaded; our pool splits the product instead. OpenBLAS's own workers
  // spin between calls and fight the pool's threads for the cores in the element-wise ops that follow.
  if (openblas_get_num_threads() != 1) openblas_set_num_threads(1);
  auto sgemm = [&](int64_t rows, int64_t cols, const float* a_block, const float* b_block, float* c_block) {
    cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans,
                static_cast<int>(rows), static_cast<int>(cols), static_cast<int>(k), alpha, a_block,
                static_cast<int>(lda), b_block, static_cast<int>(ldb), beta, c_block, static_cast<int>(ldc));
  };
  // Split the longer side of C into contiguous blocks, one per thread; tiny products run inline.
  const bool split_cols = n >= m;
  const int64_t extent = split_cols ? n : m;
  const int64_t work_per_line = (split_cols ? m : n) * k;
  const int64_t min_chunk = std::max<int64_t>(16, 262144 / std::max<int64_t>(1, work_per_line));
  parallel_for(extent, [&](int64_t begin, int64_t end) {
    if (split_cols)  // columns [begin, end) of op(B) and C
      sgemm(m, end - begin, a, trans_b ? b + begin * ldb : b + begin, c + begin);
    else  // rows [begin, end) of op(A) and C
      sgemm(end - begin, n, trans_a ? a + begin : a + begin * lda, b, c + begin * ldc);
  }, min_chunk);
}

void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, double alpha, const double* a, int64_t lda,
          const double* b, int64_t ldb, double beta, double* c, int64_t ldc) {
  if (m <= 0 || n <= 0) return;
  if (k <= 0) return scale_only(m, n, beta, c, ldc);
  ConstMatrixMap a_stored(a, trans_a ? k : m, trans_a ? m : k, Eigen::OuterStride<>(lda));
  ConstMatrixMap b_stored(b, trans_b ? n : k, trans_b ? k : n, Eigen::OuterStride<>(ldb));
  MatrixMap c_map(c, m, n, Eigen::OuterStride<>(ldc));
  if (trans_a && trans_b) eigen_product(a_stored.transpose(), b_stored.transpose(), alpha, beta, c_map);
  else if (trans_a) eigen_product(a_stored.transpose(), b_stored, alpha, beta, c_map);
  else if (trans_b) eigen_product(a_stored, b_stored.transpose(), alpha, beta, c_map);
  else eigen_product(a_stored, b_stored, alpha, beta, c_map);
}

}  // namespace transfix
