#include "analysis/tensor_match.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "core/errors.h"

namespace transfix {

std::string Transform::describe() const {
  std::string s;
  if (perm == std::vector<int64_t>{0, 2, 3, 1}) s = "NCHW->NHWC";
  else if (perm == std::vector<int64_t>{0, 3, 1, 2}) s = "NHWC->NCHW";
  else if (!perm.empty()) {
    s = "perm [";
    for (size_t i = 0; i < perm.size(); ++i) s += (i ? "," : "") + std::to_string(perm[i]);
    s += "]";
  }
  if (reshape) s += s.empty() ? "reshape" : " + reshape";
  return s.empty() ? "identity" : s;
}

std::pair<double, double> integer_range(DType t) {
  switch (t) {
    case DType::kI8: return {-128, 127};
    case DType::kU8: return {0, 255};
    case DType::kI16: return {-32768, 32767};
    case DType::kU16: return {0, 65535};
    default: return {-2147483648.0, 2147483647.0};
  }
}

namespace {

Shape permuted_shape(const Shape& s, const std::vector<int64_t>& perm) {
  Shape out(perm.size());
  for (size_t i = 0; i < perm.size(); ++i) out[i] = s[static_cast<size_t>(perm[i])];
  return out;
}

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

bool is_identity_perm(const std::vector<int64_t>& p) {
  for (size_t i = 0; i < p.size(); ++i)
    if (p[i] != static_cast<int64_t>(i)) return false;
  return true;
}

// Permutations that map `source` onto `target` exactly. Identity first, then NCHW<->NHWC, then the
// rest in lexicographic order; at most `limit` (equal dims make many permutations fit).
std::vector<std::vector<int64_t>> fitting_perms(const Shape& source, const Shape& target, size_t limit) {
  std::vector<std::vector<int64_t>> out;
  if (source.size() != target.size() || source.size() > 6) return out;
  std::vector<int64_t> p(source.size());
  std::iota(p.begin(), p.end(), 0);
  auto add = [&](const std::vector<int64_t>& q) {
    if (out.size() < limit && permuted_shape(source, q) == target && std::find(out.begin(), out.end(), q) == out.end())
      out.push_back(q);
  };
  add(p);
  if (source.size() == 4) {
    add({0, 2, 3, 1});
    add({0, 3, 1, 2});
  }
  do add(p);
  while (std::next_permutation(p.begin(), p.end()));
  return out;
}

}  // namespace

std::vector<Transform> candidate_transforms(const Shape& source, const Shape& target) {
  std::vector<Transform> out;
  if (shape_numel(source) != shape_numel(target)) return out;
  for (auto& p : fitting_perms(source, target, 6)) out.push_back({is_identity_perm(p) ? std::vector<int64_t>{} : p, false});
  if (!out.empty()) return out;
  out.push_back({{}, true});
  if (source.size() == 4) out.push_back({{0, 2, 3, 1}, true});  // NCHW tensor flattened by an NHWC model
  if (target.size() == 4 && source.size() != 4) {
    // The target's NHWC tensor is the source's reshaped: compare in the source's row-major order.
  }
  return out;
}

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

Tensor to_target_frame(const Tensor& source, const Transform& tr, const Shape& target_shape) {
  Tensor t = tr.perm.empty() ? source : permute(source, tr.perm);
  return t.reshaped(target_shape);
}

Tensor to_source_frame(const Tensor& target, const Transform& tr, const Shape& source_shape) {
  if (tr.perm.empty()) return target.reshaped(source_shape);
  Tensor t = target.reshaped(permuted_shape(source_shape, tr.perm));
  std::vector<int64_t> inverse(tr.perm.size());
  for (size_t i = 0; i < tr.perm.size(); ++i) inverse[static_cast<size_t>(tr.perm[i])] = static_cast<int64_t>(i);
  return permute(t, inverse);
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

// max |target - source| with the source brought into the target's frame by `tr`, without building
// the permuted copy: target element j (in the permuted source shape) faces the source element the
// permutation's strides point at.
double max_abs_diff_under(const Tensor& source64, const Tensor& target64, const Transform& tr) {
  if (tr.perm.empty()) return max_abs_diff(source64, target64);
  const PermutedView view(source64.shape(), tr.perm);
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

Fingerprint fingerprint(const Tensor& t64) {
  Fingerprint f;
  const double* x = t64.data<double>();
  f.numel = t64.numel();
  for (int64_t i = 0; i < f.numel; ++i) {
    f.sum += x[i];
    f.sum_sq += x[i] * x[i];
  }
  return f;
}

bool fingerprints_close(const Fingerprint& a, const Fingerprint& b, double rel) {
  if (a.numel != b.numel) return false;
  if (!std::isfinite(a.sum_sq) || !std::isfinite(b.sum_sq)) return true;  // let the exact check decide
  const double norm_a = std::sqrt(a.sum_sq), norm_b = std::sqrt(b.sum_sq);
  const double scale = std::max(norm_a, norm_b);
  if (scale == 0) return true;
  // |a - b| >= | |a| - |b| |, and |sum a - sum b| <= sqrt(n) |a - b|: both bound the distance.
  const double norm_gap = std::fabs(norm_a - norm_b);
  const double sum_gap = std::fabs(a.sum - b.sum) / std::sqrt(static_cast<double>(a.numel));
  return norm_gap <= rel * scale && sum_gap <= rel * scale;
}

std::optional<MatchResult> best_match(const Tensor& source64, const Tensor& target64, double natural_bias,
                                      bool keep_order) {
  std::optional<MatchResult> best;
  std::vector<Transform> transforms = candidate_transforms(source64.shape(), target64.shape());
  if (keep_order) std::erase_if(transforms, [](const Transform& tr) { return !tr.perm.empty(); });
  for (const Transform& tr : transforms) {
    const double err = max_abs_diff_under(source64, target64, tr);
    if (!best || err < best->max_abs * natural_bias) best = MatchResult{tr, err};
    if (err == 0) break;
  }
  return best;
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

Tensor source_as_target(const Tensor& source64, const Transform& tr, const Tensor& like) {
  Tensor t = to_target_frame(source64, tr, like.shape());
  if (like.dtype() == DType::kF64) return t;
  // Quantize with the target's own parameters: what its integer kernels would have been given.
  if (is_integer(like.dtype()) && like.quant() && !like.quant()->scale.empty())
    return quantize_real(t, *like.quant(), like.dtype());
  return t.cast(like.dtype());
}

}  // namespace transfix
