// Helpers shared by kernels: axis handling, broadcasting, dtype dispatch.
#pragma once
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "core/errors.h"
#include "core/tensor.h"

namespace transfix {

// Maps a possibly negative axis into [0, rank); throws InputError when out of range.
int64_t normalize_axis(int64_t axis, int64_t rank);

// Numpy-style multidirectional broadcast of two shapes; throws InputError when incompatible.
Shape broadcast_shapes(const Shape& a, const Shape& b);

// Element strides of `in` when broadcast to `out` (0 along broadcast dims), one per dim of `out`.
std::vector<int64_t> broadcast_strides(const Shape& in, const Shape& out);

// Product of dims [from, to) of a shape (1 for an empty range).
inline int64_t shape_product(const Shape& s, size_t from, size_t to) {
  int64_t p = 1;
  for (size_t i = from; i < to; ++i) p *= s[i];
  return p;
}

// Row-major strides of a shape, in elements.
std::vector<int64_t> contiguous_strides(const Shape& shape);

// Walks every index of `out` (row-major) and gives the matching flat offsets into two broadcast
// inputs: fn(out_index, a_offset, b_offset). Inner dimension handled in a tight loop.
template <typename F>
void for_each_broadcast(const Shape& out, const std::vector<int64_t>& sa, const std::vector<int64_t>& sb, F&& fn) {
  const int64_t rank = static_cast<int64_t>(out.size());
  int64_t total = 1;
  for (int64_t d : out) total *= d;
  if (total == 0) return;
  if (rank == 0) { fn(0, 0, 0); return; }
  std::vector<int64_t> idx(static_cast<size_t>(rank), 0);
  const int64_t inner = out[static_cast<size_t>(rank - 1)];
  const int64_t ia = sa[static_cast<size_t>(rank - 1)], ib = sb[static_cast<size_t>(rank - 1)];
  int64_t oa = 0, ob = 0;
  for (int64_t o = 0; o < total; o += inner) {
    for (int64_t k = 0; k < inner; ++k) fn(o + k, oa + k * ia, ob + k * ib);
    // advance outer index (all dims but the last)
    for (int64_t d = rank - 2; d >= 0; --d) {
      size_t u = static_cast<size_t>(d);
      if (++idx[u] < out[u]) { oa += sa[u]; ob += sb[u]; break; }
      oa -= sa[u] * (out[u] - 1);
      ob -= sb[u] * (out[u] - 1);
      idx[u] = 0;
    }
  }
}

// Calls f(T{}) with T the C++ type of a float dtype (float or double); throws for others.
template <typename F>
decltype(auto) dispatch_float(DType t, const std::string& what, F&& f) {
  switch (t) {
    case DType::kF32: return f(float{});
    case DType::kF64: return f(double{});
    default: throw UnsupportedError(what + ": unsupported dtype " + dtype_name(t));
  }
}

// Calls f(T{}) for float, double and the integer types (not bool, not f16).
template <typename F>
decltype(auto) dispatch_numeric(DType t, const std::string& what, F&& f) {
  switch (t) {
    case DType::kF32: return f(float{});
    case DType::kF64: return f(double{});
    case DType::kI8: return f(int8_t{});
    case DType::kU8: return f(uint8_t{});
    case DType::kI16: return f(int16_t{});
    case DType::kU16: return f(uint16_t{});
    case DType::kI32: return f(int32_t{});
    case DType::kU32: return f(uint32_t{});
    case DType::kI64: return f(int64_t{});
    case DType::kU64: return f(uint64_t{});
    default: throw UnsupportedError(what + ": unsupported dtype " + dtype_name(t));
  }
}

// Calls f(T{}) for every dtype by storage type: f16/bf16 as uint16_t, bool as bool.
// For data-movement ops that copy elements without interpreting them.
template <typename F>
decltype(auto) dispatch_any(DType t, const std::string& what, F&& f) {
  switch (dtype_size(t)) {
    case 1: return f(uint8_t{});
    case 2: return f(uint16_t{});
    case 4: return f(uint32_t{});
    case 8: return f(uint64_t{});
    default: throw UnsupportedError(what + ": unsupported dtype " + dtype_name(t));
  }
}

}  // namespace transfix
