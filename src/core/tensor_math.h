// Value-level helpers on tensors that every stage needs: real values of quantized integers, the
// inverse (quantizing onto a grid), axis permutations, and max-abs distances in float64.
#pragma once
#include <cstdint>
#include <utility>
#include <vector>

#include "core/tensor.h"

namespace transfix {

// Real values as float64 (integer tensors with quantization are dequantized).
Tensor real_f64(const Tensor& t);
// Real values -> `dtype` (an integer type) on the grid of `q`, per tensor or per axis: round half
// to even, add the zero point, saturate. The result carries `q`.
Tensor quantize_real(const Tensor& real64, const QuantParams& q, DType dtype);
// The values an integer type holds: [lo, hi] (int32 for other types).
std::pair<double, double> integer_range(DType t);
// Which quantization channel element i of a tensor of `shape` belongs to: (i / inner) % channels
// along q.axis when q is per axis, else always 0.
struct QuantChannels {
  int64_t inner = 1, channels = 1;
  size_t of(int64_t i) const { return static_cast<size_t>((i / inner) % channels); }
};
QuantChannels quant_channels(const Shape& shape, const QuantParams& q);

// Generic N-d permutation (out axis i = in axis perm[i]); any dtype.
Tensor permute(const Tensor& t, const std::vector<int64_t>& perm);
Shape permuted_shape(const Shape& s, const std::vector<int64_t>& perm);

// max |a - b| over two float64 tensors of equal element count; NaN where one side is NaN and the
// other not counts as infinite.
double max_abs_diff(const Tensor& a, const Tensor& b);
// The same with `a` permuted by `perm` first (b has the permuted shape's element count).
double max_abs_diff_permuted(const Tensor& a, const Tensor& b, const std::vector<int64_t>& perm);
double max_abs(const Tensor& a);

}  // namespace transfix
