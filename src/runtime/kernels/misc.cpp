// Small index-based ops: Trilu, CumSum, OneHot, NonZero, Compress.
#include <algorithm>
#include <cstring>

#include "runtime/kernel_util.h"
#include "runtime/kernels/copy_util.h"

namespace transfix {
namespace {

int64_t scalar_int(const KernelContext& ctx, const Tensor& t, const char* what) {
  auto v = int_list_input(ctx, t, what);
  if (v.size() != 1) ctx.fail(std::string(what) + " must have one element");
  return v[0];
}

// Trilu: keeps the upper (j - i >= k) or lower (j - i <= k) triangle of the last two dims.
void trilu(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  if (x.rank() < 2) ctx.fail("input must have rank >= 2");
  const int64_t k = ctx.optional_input(1) ? scalar_int(ctx, *ctx.optional_input(1), "k") : 0;
  const bool upper = ctx.node.attr_int("upper", 1) != 0;
  const int64_t rows = x.dim(-2), cols = x.dim(-1), mats = rows * cols == 0 ? 0 : x.numel() / (rows * cols);
  Tensor out(x.dtype(), x.shape());  // zero-filled
  const size_t es = dtype_size(x.dtype());
  const auto* src = static_cast<const uint8_t*>(x.raw());
  auto* dst = static_cast<uint8_t*>(out.raw_mutable());
  for (int64_t m = 0; m < mats; ++m)
    for (int64_t i = 0; i < rows; ++i) {
      // Kept columns of row i: [max(0, i + k), cols) for upper, [0, min(cols, i + k + 1)) for lower.
      const int64_t lo = upper ? std::clamp<int64_t>(i + k, 0, cols) : 0;
      const int64_t hi = upper ? cols : std::clamp<int64_t>(i + k + 1, 0, cols);
      const size_t at = static_cast<size_t>((m * rows + i) * cols + lo) * es;
      if (hi > lo) std::memcpy(dst + at, src + at, static_cast<size_t>(hi - lo) * es);
    }
  ctx.set_output(0, out);
}

// CumSum along `axis` (input #1); exclusive leaves out the current element, reverse runs backwards.
void cumsum(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  if (x.rank() == 0) ctx.fail("input must have rank >= 1");
  const size_t axis = static_cast<size_t>(normalize_axis(scalar_int(ctx, ctx.input(1), "axis"), x.rank()));
  const bool exclusive = ctx.node.attr_int("exclusive", 0) != 0, reverse = ctx.node.attr_int("reverse", 0) != 0;
  int64_t outer = 1, inner = 1;
  for (size_t d = 0; d < axis; ++d) outer *= x.shape()[d];
  for (size_t d = axis + 1; d < x.shape().size(); ++d) inner *= x.shape()[d];
  const int64_t n = x.shape()[axis];
  Tensor out(x.dtype(), x.shape());
  dispatch_numeric(x.dtype(), "CumSum", [&](auto tag) {
    using T = decltype(tag);
    const T* src = x.data<T>();
    T* dst = out.mutable_data<T>();
    for (int64_t o = 0; o < outer; ++o)
      for (int64_t i = 0; i < inner; ++i) {
        T acc = 0;
        for (int64_t s = 0; s < n; ++s) {
          const int64_t j = reverse ? n - 1 - s : s;
          const int64_t at = (o * n + j) * inner + i;
          if (exclusive) { dst[at] = acc; acc = static_cast<T>(acc + src[at]); }
          else { acc = static_cast<T>(acc + src[at]); dst[at] = acc; }
        }
      }
  });
  ctx.set_output(0, out);
}

// OneHot: out has a new axis of length depth; out[..., j, ...] = values[1] if j == index else values[0].
// Negative indices count from the back; indices outside [-depth, depth) give an all-off line.
void one_hot(KernelContext& ctx) {
  const Tensor& ind = ctx.input(0);
  const auto depth_v = ctx.input(1).to_f64_vector();
  const Tensor& values = ctx.input(2);
  if (depth_v.size() != 1 || !(depth_v[0] >= 1) || depth_v[0] > 1e9) ctx.fail("depth must be one positive value");
  if (values.numel() != 2) ctx.fail("values must hold [off, on]");
  const int64_t depth = static_cast<int64_t>(depth_v[0]);
  const int64_t out_rank = ind.rank() + 1;
  int64_t axis = ctx.node.attr_int("axis", -1);
  if (axis < -out_rank || axis >= out_rank) ctx.fail("axis out of range");
  if (axis < 0) axis += out_rank;
  Shape out_shape = ind.shape();
  out_shape.insert(out_shape.begin() + axis, depth);
  int64_t outer = 1, inner = 1;
  for (int64_t d = 0; d < axis; ++d) outer *= ind.shape()[static_cast<size_t>(d)];
  for (int64_t d = axis; d < ind.rank(); ++d) inner *= ind.shape()[static_cast<size_t>(d)];
  const auto idx = ind.to_f64_vector();
  Tensor out(values.dtype(), out_shape);
  const size_t es = dtype_size(values.dtype());
  const auto* off_on = static_cast<const uint8_t*>(values.raw());
  auto* dst = static_cast<uint8_t*>(out.raw_mutable());
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t j = 0; j < depth; ++j)
      for (int64_t i = 0; i < inner; ++i) {
        int64_t v = static_cast<int64_t>(idx[static_cast<size_t>(o * inner + i)]);  // float indices truncate
        if (v < 0) v += depth;
        std::memcpy(dst + static_cast<size_t>((o * depth + j) * inner + i) * es, off_on + (v == j ? es : 0), es);
      }
  ctx.set_output(0, out);
}

// Reads element i of any dtype as "is non-zero".
bool nonzero_at(const Tensor& t, int64_t i) {
  const auto* p = static_cast<const uint8_t*>(t.raw()) + static_cast<size_t>(i) * dtype_size(t.dtype());
  switch (t.dtype()) {
    case DType::kF32: { float v; std::memcpy(&v, p, 4); return v != 0; }
    case DType::kF64: { double v; std::memcpy(&v, p, 8); return v != 0; }
    case DType::kF16: case DType::kBF16: { uint16_t v; std::memcpy(&v, p, 2); return (v & 0x7fff) != 0; }
    default:
      for (size_t b = 0; b < dtype_size(t.dtype()); ++b)
        if (p[b]) return true;
      return false;
  }
}

// NonZero: int64 [rank, count] with the coordinates of non-zero elements in row-major order.
void non_zero(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  std::vector<int64_t> hits;
  for (int64_t i = 0; i < x.numel(); ++i)
    if (nonzero_at(x, i)) hits.push_back(i);
  const int64_t r = x.rank(), n = static_cast<int64_t>(hits.size());
  Tensor out(DType::kI64, {r, n});
  int64_t* o = out.mutable_data<int64_t>();
  for (int64_t h = 0; h < n; ++h) {
    int64_t rem = hits[static_cast<size_t>(h)];
    for (int64_t d = r - 1; d >= 0; --d) {
      o[d * n + h] = rem % x.shape()[static_cast<size_t>(d)];
      rem /= x.shape()[static_cast<size_t>(d)];
    }
  }
  ctx.set_output(0, out);
}

// Compress: keeps the slices along `axis` (or the elements of the flattened input) where condition is true.
void compress(KernelContext& ctx) {
  const Tensor& x0 = ctx.input(0);
  const Tensor& cond = ctx.input(1);
  if (cond.rank() != 1) ctx.fail("condition must be 1-D");
  const bool has_axis = ctx.node.has_attr("axis");
  const Tensor x = has_axis ? x0 : x0.reshaped({x0.numel()});
  const size_t axis = has_axis ? static_cast<size_t>(normalize_axis(ctx.node.attr_int("axis", 0), x.rank())) : 0;
  const int64_t n = x.shape()[axis];
  if (cond.numel() > n) ctx.fail("condition is longer than the axis");
  std::vector<int64_t> keep;
  for (int64_t i = 0; i < cond.numel(); ++i)
    if (nonzero_at(cond, i)) keep.push_back(i);
  Shape out_shape = x.shape();
  out_shape[axis] = static_cast<int64_t>(keep.size());
  int64_t outer = 1, inner = 1;
  for (size_t d = 0; d < axis; ++d) outer *= x.shape()[d];
  for (size_t d = axis + 1; d < x.shape().size(); ++d) inner *= x.shape()[d];
  Tensor out(x.dtype(), out_shape);
  const size_t chunk = static_cast<size_t>(inner) * dtype_size(x.dtype());
  const auto* src = static_cast<const uint8_t*>(x.raw());
  auto* dst = static_cast<uint8_t*>(out.raw_mutable());
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t k : keep) {
      std::memcpy(dst, src + static_cast<size_t>(o * n + k) * chunk, chunk);
      dst += chunk;
    }
  ctx.set_output(0, out);
}

TRANSFIX_KERNEL_INFO("Trilu", (KernelInfo{trilu, true}));
TRANSFIX_KERNEL("CumSum", cumsum);
TRANSFIX_KERNEL_INFO("OneHot", (KernelInfo{one_hot, true}));
TRANSFIX_KERNEL_INFO("NonZero", (KernelInfo{non_zero, true}));
TRANSFIX_KERNEL_INFO("Compress", (KernelInfo{compress, true}));

}  // namespace
}  // namespace transfix
