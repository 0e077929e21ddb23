#include "runtime/kernels/copy_util.h"

#include <algorithm>

#include "core/thread_pool.h"

namespace transfix {
namespace {

// Copies `n` elements spaced `stride` apart (stride != 1) into consecutive slots.
template <typename T>
void gather_run(const T* src, T* dst, int64_t n, int64_t stride) {
  for (int64_t i = 0; i < n; ++i) dst[i] = src[i * stride];
}

void copy_run(const uint8_t* src, uint8_t* dst, int64_t n, int64_t stride, size_t es) {
  if (stride == 1) { std::memcpy(dst, src, static_cast<size_t>(n) * es); return; }
  switch (es) {
    case 1: gather_run(src, dst, n, stride); break;
    case 2: gather_run(reinterpret_cast<const uint16_t*>(src), reinterpret_cast<uint16_t*>(dst), n, stride); break;
    case 4: gather_run(reinterpret_cast<const uint32_t*>(src), reinterpret_cast<uint32_t*>(dst), n, stride); break;
    case 8: gather_run(reinterpret_cast<const uint64_t*>(src), reinterpret_cast<uint64_t*>(dst), n, stride); break;
    default:
      for (int64_t i = 0; i < n; ++i) std::memcpy(dst + i * es, src + i * stride * static_cast<int64_t>(es), es);
  }
}

}  // namespace

void strided_copy(const void* src, void* dst, const Shape& dims_in, const std::vector<int64_t>& strides_in,
                  int64_t src_offset, size_t es) {
  // Merge chained dims and drop size-1 dims (innermost first).
  Shape dims;
  std::vector<int64_t> strides;
  for (size_t i = 0; i < dims_in.size(); ++i) {
    if (dims_in[i] == 0) return;
    if (dims_in[i] == 1) continue;
    if (!dims.empty() && strides.back() == strides_in[i] * dims_in[i]) {
      dims.back() *= dims_in[i];
      strides.back() = strides_in[i];
    } else {
      dims.push_back(dims_in[i]);
      strides.push_back(strides_in[i]);
    }
  }
  const auto* s = static_cast<const uint8_t*>(src) + src_offset * static_cast<int64_t>(es);
  auto* d = static_cast<uint8_t*>(dst);
  if (dims.empty()) { std::memcpy(d, s, es); return; }

  const int64_t inner = dims.back(), inner_stride = strides.back();
  int64_t rows = 1;
  for (size_t i = 0; i + 1 < dims.size(); ++i) rows *= dims[i];
  const int64_t outer_rank = static_cast<int64_t>(dims.size()) - 1;
  const int64_t ies = static_cast<int64_t>(es);
  // Each chunk of rows decodes its first row index once, then walks the odometer.
  parallel_for(rows, [&](int64_t begin, int64_t end) {
    std::vector<int64_t> idx(static_cast<size_t>(outer_rank), 0);
    int64_t off = 0, r = begin;
    for (int64_t k = outer_rank - 1; k >= 0; --k) {
      size_t u = static_cast<size_t>(k);
      idx[u] = r % dims[u];
      r /= dims[u];
      off += idx[u] * strides[u];
    }
    for (int64_t row = begin; row < end; ++row) {
      copy_run(s + off * ies, d + row * inner * ies, inner, inner_stride, es);
      for (int64_t k = outer_rank - 1; k >= 0; --k) {
        size_t u = static_cast<size_t>(k);
        if (++idx[u] < dims[u]) { off += strides[u]; break; }
        off -= strides[u] * (dims[u] - 1);
        idx[u] = 0;
      }
    }
  }, std::max<int64_t>(1, 16384 / std::max<int64_t>(inner, 1)));
}

std::vector<int64_t> int_list_input(const KernelContext& ctx, const Tensor& t, const char* what) {
  if (!is_integer(t.dtype())) ctx.fail(std::string(what) + " must be an integer tensor, got " + dtype_name(t.dtype()));
  return t.to_i64_vector();
}


}  // namespace transfix
