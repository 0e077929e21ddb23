// Index-driven data movement: Gather, GatherElements, GatherND, ScatterElements (and the old Scatter),
// ScatterND. Indices may be negative (counted from the back); out-of-range indices are InputErrors.
#include <algorithm>
#include <cstring>

#include "runtime/kernel_util.h"
#include "runtime/kernels/copy_util.h"

namespace transfix {
namespace {


// Index values, made non-negative and checked against `dim`.
std::vector<int64_t> checked_indices(const KernelContext& ctx, const Tensor& t, int64_t dim) {
  auto idx = int_list_input(ctx, t, "indices");
  for (int64_t& i : idx) {
    if (i < -dim || i >= dim) ctx.fail("index " + std::to_string(i) + " out of range for dim " + std::to_string(dim));
    if (i < 0) i += dim;
  }
  return idx;
}

// Gather: out[o, j..., i] = data[o, indices[j...], i] along `axis`.
void gather(KernelContext& ctx) {
  const Tensor& data = ctx.input(0);
  const Tensor& ind = ctx.input(1);
  if (data.rank() == 0) ctx.fail("data must have rank >= 1");
  const size_t axis = static_cast<size_t>(normalize_axis(ctx.node.attr_int("axis", 0), data.rank()));
  const int64_t dim = data.shape()[axis];
  const auto idx = checked_indices(ctx, ind, dim);
  Shape out_shape(data.shape().begin(), data.shape().begin() + static_cast<int64_t>(axis));
  out_shape.insert(out_shape.end(), ind.shape().begin(), ind.shape().end());
  out_shape.insert(out_shape.end(), data.shape().begin() + static_cast<int64_t>(axis) + 1, data.shape().end());
  Tensor out(data.dtype(), out_shape);
  const size_t es = dtype_size(data.dtype());
  const int64_t outer = shape_product(data.shape(), 0, axis), inner = shape_product(data.shape(), axis + 1, data.shape().size());
  const size_t chunk = static_cast<size_t>(inner) * es;
  const auto* src = static_cast<const uint8_t*>(data.raw());
  auto* dst = static_cast<uint8_t*>(out.raw_mutable());
  for (int64_t o = 0; o < outer; ++o)
    for (size_t j = 0; j < idx.size(); ++j, dst += chunk)
      std::memcpy(dst, src + static_cast<size_t>((o * dim + idx[j]) * inner) * es, chunk);
  ctx.set_output(0, out);
}

// Checks indices/updates shapes for the *Elements ops: same rank as data, no dim larger than data's.
void check_elements_shape(const KernelContext& ctx, const Tensor& data, const Tensor& ind) {
  if (ind.rank() != data.rank()) ctx.fail("indices rank " + std::to_string(ind.rank()) + " != data rank " + std::to_string(data.rank()));
  for (size_t d = 0; d < ind.shape().size(); ++d)
    if (ind.shape()[d] > data.shape()[d]) ctx.fail("indices shape " + shape_str(ind.shape()) + " exceeds data shape " + shape_str(data.shape()));
}

// Calls fn(k, data_offset) for every element k of `ind` (row-major), where data_offset is the flat
// data offset of k's position with its axis coordinate replaced by idx[k].
template <typename F>
void for_each_element_target(const Tensor& data, const Tensor& ind, size_t axis, const std::vector<int64_t>& idx, F&& fn) {
  const auto ds = contiguous_strides(data.shape());
  const Shape& is = ind.shape();
  std::vector<int64_t> pos(is.size(), 0);
  int64_t base = 0;  // data offset of pos without the axis coordinate
  for (int64_t k = 0; k < ind.numel(); ++k) {
    fn(k, base + idx[static_cast<size_t>(k)] * ds[axis]);
    for (int64_t d = static_cast<int64_t>(is.size()) - 1; d >= 0; --d) {
      size_t u = static_cast<size_t>(d);
      if (++pos[u] < is[u]) { if (u != axis) base += ds[u]; break; }
      if (u != axis) base -= ds[u] * (is[u] - 1);
      pos[u] = 0;
    }
  }
}

// GatherElements: out[p] = data[p with p[axis] = indices[p]].
void gather_elements(KernelContext& ctx) {
  const Tensor& data = ctx.input(0);
  const Tensor& ind = ctx.input(1);
  if (data.rank() == 0) ctx.fail("data must have rank >= 1");
  const size_t axis = static_cast<size_t>(normalize_axis(ctx.node.attr_int("axis", 0), data.rank()));
  check_elements_shape(ctx, data, ind);
  const auto idx = checked_indices(ctx, ind, data.shape()[axis]);
  Tensor out(data.dtype(), ind.shape());
  dispatch_any(data.dtype(), "GatherElements", [&](auto tag) {
    using T = decltype(tag);
    const T* src = static_cast<const T*>(data.raw());
    T* dst = static_cast<T*>(out.raw_mutable());
    for_each_element_target(data, ind, axis, idx, [&](int64_t k, int64_t off) { dst[k] = src[off]; });
  });
  ctx.set_output(0, out);
}

// Combines an update into an existing element according to `reduction`.
template <typename T>
void reduce_into(T& dst, T v, const std::string& reduction) {
  if (reduction == "none") dst = v;
  else if (reduction == "add") dst = static_cast<T>(dst + v);
  else if (reduction == "mul") dst = static_cast<T>(dst * v);
  else if (reduction == "max") dst = std::max(dst, v);
  else dst = std::min(dst, v);
}

std::string checked_reduction(const KernelContext& ctx) {
  std::string r = ctx.node.attr_string("reduction", "none");
  if (r != "none" && r != "add" && r != "mul" && r != "max" && r != "min") ctx.fail("unknown reduction '" + r + "'");
  return r;
}

// Runs fn with T = a numeric type when a reduction needs arithmetic, else with the storage type.
template <typename F>
void dispatch_for_reduction(const std::string& reduction, DType dt, const std::string& what, F&& fn) {
  if (reduction == "none") dispatch_any(dt, what, fn);
  else dispatch_numeric(dt, what, fn);
}

// ScatterElements / Scatter: out = data; out[p with p[axis] = indices[p]] (op)= updates[p].
void scatter_elements(KernelContext& ctx) {
  const Tensor& data = ctx.input(0);
  const Tensor& ind = ctx.input(1);
  const Tensor& upd = ctx.input(2);
  if (data.rank() == 0) ctx.fail("data must have rank >= 1");
  if (upd.shape() != ind.shape()) ctx.fail("updates shape " + shape_str(upd.shape()) + " != indices shape " + shape_str(ind.shape()));
  if (upd.dtype() != data.dtype()) ctx.fail("updates dtype differs from data");
  const size_t axis = static_cast<size_t>(normalize_axis(ctx.node.attr_int("axis", 0), data.rank()));
  check_elements_shape(ctx, data, ind);
  const auto idx = checked_indices(ctx, ind, data.shape()[axis]);
  const std::string reduction = checked_reduction(ctx);
  Tensor out = data.clone();
  dispatch_for_reduction(reduction, data.dtype(), ctx.node.op_type, [&](auto tag) {
    using T = decltype(tag);
    const T* u = static_cast<const T*>(upd.raw());
    T* dst = static_cast<T*>(out.raw_mutable());
    for_each_element_target(data, ind, axis, idx, [&](int64_t k, int64_t off) { reduce_into(dst[off], u[k], reduction); });
  });
  ctx.set_output(0, out);
}

// Shared by GatherND / ScatterND: per index tuple (last dim of indices, length k), the flat offset
// of the addressed slice inside its batch. Checks every coordinate against its dim.
std::vector<int64_t> nd_offsets(const KernelContext& ctx, const Tensor& data, const Tensor& ind, size_t batch_dims) {
  if (ind.rank() < 1) ctx.fail("indices must have rank >= 1");
  const int64_t k = ind.shape().back();
  if (k < 1 || static_cast<size_t>(k) + batch_dims > data.shape().size())
    ctx.fail("indices last dim " + std::to_string(k) + " does not fit data rank " + std::to_string(data.rank()));
  auto raw = int_list_input(ctx, ind, "indices");
  const auto ds = contiguous_strides(data.shape());
  std::vector<int64_t> offsets(raw.size() / static_cast<size_t>(k));
  for (size_t t = 0; t < offsets.size(); ++t) {
    int64_t off = 0;
    for (size_t j = 0; j < static_cast<size_t>(k); ++j) {
      const int64_t dim = data.shape()[batch_dims + j];
      int64_t i = raw[t * static_cast<size_t>(k) + j];
      if (i < -dim || i >= dim) ctx.fail("index " + std::to_string(i) + " out of range for dim " + std::to_string(dim));
      off += (i < 0 ? i + dim : i) * ds[batch_dims + j];
    }
    offsets[t] = off;
  }
  return offsets;
}

// GatherND: out[b..., t...] = data[b..., indices[b..., t..., :], ...] (b = the batch_dims leading dims).
void gather_nd(KernelContext& ctx) {
  const Tensor& data = ctx.input(0);
  const Tensor& ind = ctx.input(1);
  const int64_t b = ctx.node.attr_int("batch_dims", 0);
  if (b < 0 || b >= std::min(data.rank(), ind.rank())) ctx.fail("batch_dims out of range");
  const size_t ub = static_cast<size_t>(b);
  for (size_t d = 0; d < ub; ++d)
    if (data.shape()[d] != ind.shape()[d]) ctx.fail("batch dims of data and indices differ");
  const auto offsets = nd_offsets(ctx, data, ind, ub);
  const size_t k = static_cast<size_t>(ind.shape().back());
  Shape out_shape(ind.shape().begin(), ind.shape().end() - 1);
  out_shape.insert(out_shape.end(), data.shape().begin() + static_cast<int64_t>(ub + k), data.shape().end());
  Tensor out(data.dtype(), out_shape);
  const size_t es = dtype_size(data.dtype());
  const int64_t slice = shape_product(data.shape(), ub + k, data.shape().size());
  const int64_t batches = shape_product(data.shape(), 0, ub), batch_size = shape_product(data.shape(), ub, data.shape().size());
  const size_t per_batch = batches == 0 ? 0 : offsets.size() / static_cast<size_t>(batches);
  const auto* src = static_cast<const uint8_t*>(data.raw());
  auto* dst = static_cast<uint8_t*>(out.raw_mutable());
  for (size_t t = 0; t < offsets.size(); ++t) {
    const int64_t batch = static_cast<int64_t>(t / std::max<size_t>(per_batch, 1));
    std::memcpy(dst + t * static_cast<size_t>(slice) * es, src + static_cast<size_t>(batch * batch_size + offsets[t]) * es,
                static_cast<size_t>(slice) * es);
  }
  ctx.set_output(0, out);
}

// ScatterND: out = data; out[indices[t, :], ...] (op)= updates[t, ...].
void scatter_nd(KernelContext& ctx) {
  const Tensor& data = ctx.input(0);
  const Tensor& ind = ctx.input(1);
  const Tensor& upd = ctx.input(2);
  if (upd.dtype() != data.dtype()) ctx.fail("updates dtype differs from data");
  const auto offsets = nd_offsets(ctx, data, ind, 0);
  const size_t k = static_cast<size_t>(ind.shape().back());
  Shape want(ind.shape().begin(), ind.shape().end() - 1);
  want.insert(want.end(), data.shape().begin() + static_cast<int64_t>(k), data.shape().end());
  if (upd.shape() != want) ctx.fail("updates shape " + shape_str(upd.shape()) + " != expected " + shape_str(want));
  const int64_t slice = shape_product(data.shape(), k, data.shape().size());
  const std::string reduction = checked_reduction(ctx);
  Tensor out = data.clone();
  dispatch_for_reduction(reduction, data.dtype(), "ScatterND", [&](auto tag) {
    using T = decltype(tag);
    const T* u = static_cast<const T*>(upd.raw());
    T* dst = static_cast<T*>(out.raw_mutable());
    for (size_t t = 0; t < offsets.size(); ++t)
      for (int64_t i = 0; i < slice; ++i) reduce_into(dst[offsets[t] + i], u[static_cast<int64_t>(t) * slice + i], reduction);
  });
  ctx.set_output(0, out);
}

TRANSFIX_KERNEL_INFO("Gather", (KernelInfo{gather, true}));
TRANSFIX_KERNEL_INFO("GatherElements", (KernelInfo{gather_elements, true}));
TRANSFIX_KERNEL_INFO("GatherND", (KernelInfo{gather_nd, true}));
// Scatters with a reduction need arithmetic: float16 runs widened (exact for plain copies too).
TRANSFIX_KERNEL("ScatterElements", scatter_elements);
TRANSFIX_KERNEL("Scatter", scatter_elements);
TRANSFIX_KERNEL("ScatterND", scatter_nd);

}  // namespace
}  // namespace transfix
