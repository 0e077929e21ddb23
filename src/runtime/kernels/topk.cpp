// TopK: the k largest (or smallest) elements along an axis, with their indices. Ties keep the lower
// index first (a stable order), so results are deterministic. k is an attribute before opset 10 and
// input #1 from opset 10. Output is always sorted (valid for sorted = 0 too, whose order is unspecified).
#include <algorithm>
#include <cmath>
#include <numeric>

#include "runtime/kernel_util.h"
#include "runtime/kernels/copy_util.h"

namespace transfix {
namespace {

void topk(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  if (x.rank() == 0) ctx.fail("input must have rank >= 1");
  int64_t k = 0;
  if (ctx.opset < 10) {
    k = ctx.node.attr_int("k", -1);
  } else {
    auto kv = int_list_input(ctx, ctx.input(1), "K");
    if (kv.size() != 1) ctx.fail("K must have one element");
    k = kv[0];
  }
  const size_t axis = static_cast<size_t>(normalize_axis(ctx.node.attr_int("axis", -1), x.rank()));
  const int64_t dim = x.shape()[axis];
  if (k < 0 || k > dim) ctx.fail("k = " + std::to_string(k) + " is out of range for axis dim " + std::to_string(dim));
  const bool largest = ctx.node.attr_int("largest", 1) != 0;
  Shape out_shape = x.shape();
  out_shape[axis] = k;
  Tensor values(x.dtype(), out_shape), indices(DType::kI64, out_shape);
  int64_t outer = 1, inner = 1;
  for (size_t i = 0; i < axis; ++i) outer *= x.shape()[i];
  for (size_t i = axis + 1; i < x.shape().size(); ++i) inner *= x.shape()[i];
  dispatch_numeric(x.dtype(), "TopK", [&](auto tag) {
    using T = decltype(tag);
    const T* src = x.data<T>();
    T* vals = values.mutable_data<T>();
    int64_t* idxs = indices.mutable_data<int64_t>();
    std::vector<int64_t> order(static_cast<size_t>(dim));
    for (int64_t o = 0; o < outer; ++o)
      for (int64_t i = 0; i < inner; ++i) {
        const T* line = src + o * dim * inner + i;
        auto at = [&](int64_t j) { return line[j * inner]; };
        // Strict ordering: by value (NaN counts as the largest), then by index.
        auto before = [&](int64_t a, int64_t b) {
          T va = at(a), vb = at(b);
          bool na = va != va, nb = vb != vb;  // NaN test that also compiles for integers
          if (na || nb) {
            if (na != nb) return largest ? na : nb;
            return a < b;
          }
          if (va != vb) return largest ? va > vb : va < vb;
          return a < b;
        };
        std::iota(order.begin(), order.end(), 0);
        std::partial_sort(order.begin(), order.begin() + k, order.end(), before);
        for (int64_t j = 0; j < k; ++j) {
          const int64_t out_at = o * k * inner + j * inner + i;
          vals[out_at] = at(order[static_cast<size_t>(j)]);
          idxs[out_at] = order[static_cast<size_t>(j)];
        }
      }
  });
  ctx.set_output(0, values);
  ctx.set_output(1, indices);
}

TRANSFIX_KERNEL("TopK", topk);

}  // namespace
}  // namespace transfix
