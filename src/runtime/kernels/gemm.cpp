// Gemm:   Y = alpha * op(A) * op(B) + beta * C, op = optional transpose, C broadcast to [M, N]
//         (C optional from opset 11).
// MatMul: numpy matmul. 1-D operands become a row (A) or column (B) that is dropped from the
//         result; leading batch dims broadcast.
// Both call the shared gemm() (OpenBLAS for float, Eigen for double, plain loops for integers).
#include "runtime/gemm.h"
#include "runtime/kernel.h"
#include "runtime/kernel_util.h"

namespace transfix {
namespace {

template <typename T>
void gemm_op_typed(KernelContext& ctx) {
  const Tensor& a = ctx.input(0);
  const Tensor& b = ctx.input(1);
  const Tensor* c = ctx.optional_input(2);
  if (a.rank() != 2 || b.rank() != 2) ctx.fail("A and B must be matrices, got " + shape_str(a.shape()) + " and " + shape_str(b.shape()));
  if (b.dtype() != a.dtype() || (c && c->dtype() != a.dtype())) ctx.fail("inputs must share one dtype");
  const bool trans_a = ctx.node.attr_int("transA", 0) != 0, trans_b = ctx.node.attr_int("transB", 0) != 0;
  const T alpha = static_cast<T>(ctx.node.attr_float("alpha", 1.0)), beta = static_cast<T>(ctx.node.attr_float("beta", 1.0));
  const int64_t m = trans_a ? a.dim(1) : a.dim(0), k = trans_a ? a.dim(0) : a.dim(1);
  const int64_t kb = trans_b ? b.dim(1) : b.dim(0), n = trans_b ? b.dim(0) : b.dim(1);
  if (k != kb) ctx.fail("inner dimensions differ: op(A) is [" + std::to_string(m) + ", " + std::to_string(k) + "], op(B) is [" + std::to_string(kb) + ", " + std::to_string(n) + "]");
  Tensor y(a.dtype(), {m, n});
  T* yd = y.mutable_data<T>();
  const bool add_c = c && beta != T(0);
  if (add_c) {
    // C broadcasts one way only: to [M, N].
    if (c->rank() > 2 || broadcast_shapes(c->shape(), {m, n}) != Shape{m, n})
      ctx.fail("C of shape " + shape_str(c->shape()) + " does not broadcast to [" + std::to_string(m) + ", " + std::to_string(n) + "]");
    const T* cd = c->data<T>();
    const auto cs = broadcast_strides(c->shape(), {m, n});
    for_each_broadcast({m, n}, cs, cs, [&](int64_t o, int64_t ci, int64_t) { yd[o] = cd[ci]; });
  }
  gemm_any<T>(trans_a, trans_b, m, n, k, alpha, a.data<T>(), a.dim(1), b.data<T>(), b.dim(1), add_c ? beta : T(0), yd, n);
  ctx.set_output(0, y);
}

void gemm_op(KernelContext& ctx) {
  dispatch_numeric(ctx.input(0).dtype(), "Gemm", [&](auto t) { gemm_op_typed<decltype(t)>(ctx); });
}

template <typename T>
void matmul_typed(KernelContext& ctx) {
  const Tensor& a = ctx.input(0);
  const Tensor& b = ctx.input(1);
  if (a.rank() < 1 || b.rank() < 1) ctx.fail("MatMul operands must have rank >= 1");
  if (b.dtype() != a.dtype()) ctx.fail("inputs must share one dtype");
  // Promote 1-D operands to matrices: A [K] -> [1, K], B [K] -> [K, 1].
  Shape as = a.shape(), bs = b.shape();
  if (a.rank() == 1) as.insert(as.begin(), 1);
  if (b.rank() == 1) bs.push_back(1);
  const int64_t m = as[as.size() - 2], k = as.back(), kb = bs[bs.size() - 2], n = bs.back();
  if (k != kb) ctx.fail("inner dimensions differ: " + shape_str(a.shape()) + " x " + shape_str(b.shape()));
  const Shape a_batch(as.begin(), as.end() - 2), b_batch(bs.begin(), bs.end() - 2);
  const Shape batch = broadcast_shapes(a_batch, b_batch);

  Shape out_shape = batch;
  if (a.rank() > 1) out_shape.push_back(m);
  if (b.rank() > 1) out_shape.push_back(n);
  Tensor y(a.dtype(), out_shape);
  const T* ad = a.data<T>();
  const T* bd = b.data<T>();
  T* yd = y.mutable_data<T>();
  if (y.numel() == 0) return ctx.set_output(0, y);

  if (b_batch.empty() || shape_numel(b_batch) == 1) {
    // One shared B: stack every A matrix into one tall [batch * M, K] product.
    if (shape_numel(a_batch) == shape_numel(batch)) {
      gemm_any<T>(false, false, shape_numel(batch) * m, n, k, T(1), ad, k, bd, n, T(0), yd, n);
      return ctx.set_output(0, y);
    }
  }
  const auto sa = broadcast_strides(a_batch, batch), sb = broadcast_strides(b_batch, batch);
  for_each_broadcast(batch, sa, sb, [&](int64_t o, int64_t ai, int64_t bi) {
    gemm_any<T>(false, false, m, n, k, T(1), ad + ai * m * k, k, bd + bi * k * n, n, T(0), yd + o * m * n, n);
  });
  ctx.set_output(0, y);
}

void matmul(KernelContext& ctx) {
  dispatch_numeric(ctx.input(0).dtype(), "MatMul", [&](auto t) { matmul_typed<decltype(t)>(ctx); });
}

TRANSFIX_KERNEL("Gemm", gemm_op);
TRANSFIX_KERNEL("MatMul", matmul);

}  // namespace
}  // namespace transfix
