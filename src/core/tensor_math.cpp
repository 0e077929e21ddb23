#include "core/tensor_math.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/errors.h"

namespace transfix {

std::pair<double, double> integer_range(DType t) {
  switch (t) {
    case DType::kI8: return {-128, 127};
    case DType::kU8: return {0, 255};
    case DType::kI16: return {-32768, 32767};
    case DType::kU16: return {0, 65535};
    default: return {-2147483648.0, 2147483647.0};
  }
}

Shape permuted_shape(const Shape& s, const std::vector<int64_t>& perm) {
  Shape out(perm.size());
  for (size_t i = 0; i < perm.size(); ++i) out[i] = s[static_cast<size_t>(perm[i])];
  return out;
}

namespace {

// A tensor seen through an axis permutation (view axis i = tensor axis perm[i]), walked in the
// view's row-major order one run of its innermost axis at a time: row(o, offset) gets the run's first
// position o in the view and where it starts in the tensor; its elements lie `inner_stride` apart
// there. Returning false from row stops the walk.
struct PermutedView {
  Shape shape;
  std::vector<int64_t> stride;  // tensor stride of each view axis
  int64_t inner = 1, inner_stride = 0;

  PermutedView(const Shape& in, const std::vector<int64_t>& perm) : shape(permuted_shape(in, perm)), stride(perm.size()) {
    std::vector<int64_t> in_strides(in.size(), 1);
    for (size_t i = in.size(); i-- > 1;) in_strides[i - 1] = in_strides[i] * in[i];
    for (size_t i = 0; i < perm.size(); ++i) stride[i] = in_strides[static_cast<size_t>(perm[i])];
    if (!shape.empty()) inner = shape.back(), inner_stride = stride.back();
  }

  template <typename Row>
  void for_each_row(Row row) const {
    const size_t rank = shape.size();
    int64_t outer = 1;
    for (size_t d = 0; d + 1 < rank; ++d) outer *= shape[d];
    if (inner == 0) return;
    std::vector<int64_t> idx(rank, 0);
    int64_t offset = 0;
    for (int64_t o = 0; o < outer; ++o) {
      if (!row(o * inner, offset)) return;
      for (size_t d = rank > 0 ? rank - 1 : 0; d-- > 0;) {  // odometer over the outer axes
        offset += stride[d];
        if (++idx[d] < shape[d]) break;
        offset -= stride[d] * shape[d];
        idx[d] = 0;
      }
    }
  }

  template <typename E>
  void copy(const void* in, void* out) const {
    const E* src = static_cast<const E*>(in);
    E* dst = static_cast<E*>(out);
    for_each_row([&](int64_t o, int64_t offset) {
      for (int64_t j = 0; j < inner; ++j) dst[o + j] = src[offset + j * inner_stride];
      return true;
    });
  }
};

}  // namespace

Tensor permute(const Tensor& t, const std::vector<int64_t>& perm) {
  check_input(perm.size() == t.shape().size(), "permute: rank mismatch");
  const PermutedView view(t.shape(), perm);
  Tensor out = Tensor::uninitialized(t.dtype(), view.shape);
  switch (dtype_size(t.dtype())) {  // a typed copy per element (a memcpy call each costs more than the walk)
    case 1: view.copy<uint8_t>(t.raw(), out.raw_mutable()); break;
    case 2: view.copy<uint16_t>(t.raw(), out.raw_mutable()); break;
    case 4: view.copy<uint32_t>(t.raw(), out.raw_mutable()); break;
    case 8: view.copy<uint64_t>(t.raw(), out.raw_mutable()); break;
    default: throw InputError("permute: a tensor of undefined element type");
  }
  return out;
}

Tensor real_f64(const Tensor& t) {
  Tensor f = t.dtype() == DType::kF64 ? t : t.cast(DType::kF64);
  if (!is_integer(t.dtype()) || !t.quant() || t.quant()->scale.empty()) return f;
  const QuantParams& q = *t.quant();
  Tensor out = f.dtype() == t.dtype() ? f.clone() : f;
  double* v = out.mutable_data<double>();
  const int64_t n = out.numel();
  if (q.scale.size() == 1) {
    const double zp = q.zero_point.empty() ? 0.0 : static_cast<double>(q.zero_point[0]);
    for (int64_t i = 0; i < n; ++i) v[i] = q.scale[0] * (v[i] - zp);
    return out;
  }
  const QuantChannels ch = quant_channels(t.shape(), q);
  for (int64_t i = 0; i < n; ++i) {
    const size_t c = ch.of(i);
    const double zp = c < q.zero_point.size() ? static_cast<double>(q.zero_point[c]) : 0.0;
    v[i] = q.scale[c] * (v[i] - zp);
  }
  return out;
}

double max_abs_diff(const Tensor& a, const Tensor& b) {
  const double* x = a.data<double>();
  const double* y = b.data<double>();
  double m = 0;
  for (int64_t i = 0, n = a.numel(); i < n; ++i) {
    const double d = std::fabs(x[i] - y[i]);
    if (d > m) m = d;
    else if (std::isnan(d) && std::isnan(x[i]) != std::isnan(y[i])) return std::numeric_limits<double>::infinity();
  }
  return m;
}

// Without building the permuted copy: target element j (in the permuted source shape) faces the source element the
// permutation's strides point at.
double max_abs_diff_permuted(const Tensor& source64, const Tensor& target64, const std::vector<int64_t>& perm) {
  const PermutedView view(source64.shape(), perm);
  const double* x = source64.data<double>();
  const double* y = target64.data<double>();
  double m = 0;
  view.for_each_row([&](int64_t o, int64_t offset) {
    for (int64_t j = 0; j < view.inner; ++j) {
      const double a = x[offset + j * view.inner_stride], b = y[o + j];
      const double d = std::fabs(a - b);
      if (d > m) m = d;
      else if (std::isnan(d) && std::isnan(a) != std::isnan(b)) {
        m = std::numeric_limits<double>::infinity();
        return false;
      }
    }
    return true;
  });
  return m;
}

double max_abs(const Tensor& a) {
  const double* x = a.data<double>();
  double m = 0;
  for (int64_t i = 0, n = a.numel(); i < n; ++i) m = std::max(m, std::fabs(x[i]));
  return m;
}

QuantChannels quant_channels(const Shape& shape, const QuantParams& q) {
  QuantChannels ch;
  if (!q.per_axis()) return ch;
  const int64_t rank = static_cast<int64_t>(shape.size());
  const int64_t axis = q.axis < 0 ? q.axis + rank : q.axis;
  check_input(axis >= 0 && axis < rank && shape[static_cast<size_t>(axis)] == static_cast<int64_t>(q.scale.size()),
              "quantization parameters do not fit the tensor");
  for (int64_t d = axis + 1; d < rank; ++d) ch.inner *= shape[static_cast<size_t>(d)];
  ch.channels = shape[static_cast<size_t>(axis)];
  return ch;
}

Tensor quantize_real(const Tensor& real64, const QuantParams& q, DType dtype) {
  Tensor r = real64.dtype() == DType::kF64 ? real64.clone() : real64.cast(DType::kF64);
  double* v = r.mutable_data<double>();
  const auto [lo, hi] = integer_range(dtype);
  const QuantChannels ch = quant_channels(r.shape(), q);
  for (int64_t i = 0; i < r.numel(); ++i) {
    const size_t c = ch.of(i);
    const double zp = c < q.zero_point.size() ? static_cast<double>(q.zero_point[c]) : 0.0;
    v[i] = std::clamp(std::nearbyint(v[i] / q.scale[c]) + zp, lo, hi);
  }
  Tensor out = r.cast(dtype);
  out.set_quant(q);
  return out;
}

}  // namespace transfix
