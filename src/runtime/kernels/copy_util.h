// Helpers for the shape/data-movement kernels (Transpose, Slice, Expand, Tile, Pad, Concat...):
// a strided copy that moves contiguous inner runs with memcpy, and small attribute/input readers.
// Byte-level on purpose: data movement never interprets elements, so one routine serves every dtype.
#pragma once
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "runtime/kernel.h"

namespace transfix {

// Copies a strided view of `src` into the contiguous buffer `dst`.
// dims: shape of the view (= the output shape); src_strides: element stride in `src` for each dim
// (0 repeats, negative walks backwards); src_offset: element offset of the view's first element.
// Dims whose strides chain (stride[i] == stride[i+1] * dims[i+1]) are merged first, so a view that
// is contiguous in its inner dims becomes one memcpy per run.
void strided_copy(const void* src, void* dst, const Shape& dims, const std::vector<int64_t>& src_strides,
                  int64_t src_offset, size_t elem_size);

// Integer list from an input tensor (any integer dtype); fails with the node's name on other dtypes.
std::vector<int64_t> int_list_input(const KernelContext& ctx, const Tensor& t, const char* what);


}  // namespace transfix
