#include "compare/contract.h"

#include <algorithm>
#include <optional>
#include <cmath>
#include <cstring>

#include "core/errors.h"

namespace transfix {

namespace {

constexpr std::array<int, 4> kNchwToNhwc = {0, 2, 3, 1};
constexpr std::array<int, 4> kNhwcToNchw = {0, 3, 1, 2};

// Declared dims match actual ones; unknown (negative) declared dims match anything.
bool shape_fits(const Shape& actual, const Shape& declared) {
  if (actual.size() != declared.size()) return false;
  for (size_t i = 0; i < actual.size(); ++i)
    if (declared[i] >= 0 && declared[i] != actual[i]) return false;
  return true;
}

Shape permuted(const Shape& s, const std::array<int, 4>& perm) {
  return {s[perm[0]], s[perm[1]], s[perm[2]], s[perm[3]]};
}

// Shapes equal once unit dims are dropped (e.g. [3,224,224] vs [1,3,224,224], [1,1000] vs [1000]).
bool same_without_unit_dims(const Shape& a, const Shape& b) {
  Shape x, y;
  for (auto d : a) if (d != 1) x.push_back(d);
  for (auto d : b) if (d != 1) y.push_back(d);
  if (x.size() != y.size()) return false;
  for (size_t i = 0; i < x.size(); ++i)
    if (y[i] >= 0 && x[i] != y[i]) return false;
  return true;
}

// Declared shape with unknown dims as 1 (batch).
Shape concrete(const Shape& declared) {
  Shape s = declared;
  for (auto& d : s)
    if (d < 0) d = 1;
  return s;
}

std::string quant_str(const QuantParams& q) {
  char buf[96];
  std::snprintf(buf, sizeof buf, "scale %g, zero point %lld", q.scale.empty() ? 0.0 : q.scale[0],
                static_cast<long long>(q.zero_point.empty() ? 0 : q.zero_point[0]));
  return buf;
}

std::pair<double, double> int_range(DType dt) {
  switch (dt) {
    case DType::kU8: return {0, 255};
    case DType::kI8: return {-128, 127};
    case DType::kU16: return {0, 65535};
    case DType::kI16: return {-32768, 32767};
    case DType::kI32: return {-2147483648.0, 2147483647.0};
    case DType::kU32: return {0, 4294967295.0};
    default: return {-9.2e18, 9.2e18};
  }
}

}  // namespace

ValuePairing pair_values(const std::vector<ValueInfo>& source, const std::vector<ValueInfo>& target, const char* what) {
  ValuePairing p;
  std::vector<bool> src_used(source.size()), tgt_used(target.size());
  for (size_t t = 0; t < target.size(); ++t)
    for (size_t s = 0; s < source.size(); ++s)
      if (!src_used[s] && source[s].name == target[t].name) {
        p.pairs.emplace_back(s, t);
        src_used[s] = tgt_used[t] = true;
        break;
      }
  // Then by shape: a target value whose dims (in any order: layouts differ) only one unpaired source
  // value has, and no other unpaired target value has either.
  auto dims = [](const ValueInfo& v) -> std::optional<Shape> {
    if (!v.has_shape || v.shape.empty()) return std::nullopt;
    Shape d = v.shape;
    for (auto& x : d)
      if (x < 0) x = 1;  // a dynamic batch matches any (dims of 1 are dropped below)
    d.erase(std::remove(d.begin(), d.end(), 1), d.end());
    if (d.empty()) return std::nullopt;  // one element: says nothing
    std::sort(d.begin(), d.end());
    return d;
  };
  for (size_t t = 0; t < target.size(); ++t) {
    const auto td = dims(target[t]);
    if (tgt_used[t] || !td) continue;
    std::vector<size_t> same_src, same_tgt;
    for (size_t i = 0; i < source.size(); ++i)
      if (!src_used[i] && dims(source[i]) == td) same_src.push_back(i);
    for (size_t i = 0; i < target.size(); ++i)
      if (!tgt_used[i] && dims(target[i]) == td) same_tgt.push_back(i);
    if (same_src.size() == 1 && same_tgt.size() == 1) {
      p.pairs.emplace_back(same_src[0], t);
      src_used[same_src[0]] = tgt_used[t] = true;
      p.notes.push_back(std::string("target ") + what + " '" + target[t].name + "' <- source " + what + " '" +
                        source[same_src[0]].name + "' (by shape " + shape_str(target[t].shape) + ")");
    } else if ((same_src.size() > 1 || same_tgt.size() > 1) && same_tgt.front() == t) {
      p.notes.push_back(std::to_string(same_tgt.size()) + " target " + what + "s and " + std::to_string(same_src.size()) +
                        " source " + what + "s share the shape " + shape_str(target[t].shape) +
                        ": paired by position, which may be wrong (ambiguous)");
    }
  }
  size_t s = 0;
  for (size_t t = 0; t < target.size(); ++t) {
    if (tgt_used[t]) continue;
    while (s < source.size() && src_used[s]) ++s;
    if (s == source.size()) {
      p.unpaired_target.push_back(t);
      continue;
    }
    p.pairs.emplace_back(s, t);
    src_used[s] = tgt_used[t] = true;
    p.notes.push_back(std::string("target ") + what + " '" + target[t].name + "' <- source " + what + " '" +
                      source[s].name + "' (by position)");
  }
  for (size_t i = 0; i < source.size(); ++i)
    if (!src_used[i]) p.unpaired_source.push_back(i);
  std::sort(p.pairs.begin(), p.pairs.end());
  return p;
}

Tensor permute4(const Tensor& t, const std::array<int, 4>& perm) {
  check_input(t.rank() == 4, "permute4: rank-4 tensor expected");
  const Shape& in = t.shape();
  Shape out_shape = permuted(in, perm);
  Tensor out(t.dtype(), out_shape);
  size_t es = dtype_size(t.dtype());
  int64_t in_strides[4] = {in[1] * in[2] * in[3], in[2] * in[3], in[3], 1};
  const char* src = static_cast<const char*>(t.raw());
  char* dst = static_cast<char*>(out.raw_mutable());
  int64_t o = 0;
  for (int64_t a = 0; a < out_shape[0]; ++a)
    for (int64_t b = 0; b < out_shape[1]; ++b)
      for (int64_t c = 0; c < out_shape[2]; ++c)
        for (int64_t d = 0; d < out_shape[3]; ++d, ++o) {
          int64_t i = a * in_strides[perm[0]] + b * in_strides[perm[1]] + c * in_strides[perm[2]] + d * in_strides[perm[3]];
          std::memcpy(dst + o * es, src + i * es, es);
        }
  out.set_quant(t.quant());
  return out;
}

Tensor to_real(const Tensor& t, const std::optional<QuantParams>& quant) {
  const std::optional<QuantParams>& q = t.quant() ? t.quant() : quant;
  Tensor f = t.dtype() == DType::kF64 ? t : t.cast(DType::kF64);
  if (!is_integer(t.dtype()) || !q || q->scale.empty()) return f;
  Tensor out(DType::kF64, t.shape());
  const double* in = f.data<double>();
  double* o = out.mutable_data<double>();
  int64_t axis = q->axis < 0 ? q->axis + t.rank() : q->axis;
  int64_t channels = q->per_axis() ? t.dim(axis) : 1;
  check_input(!q->per_axis() || static_cast<int64_t>(q->scale.size()) == channels, "quantization: per-axis scale count mismatch");
  int64_t inner = 1;
  if (q->per_axis())
    for (int64_t d = axis + 1; d < t.rank(); ++d) inner *= t.dim(d);
  for (int64_t i = 0; i < t.numel(); ++i) {
    int64_t c = q->per_axis() ? (i / inner) % channels : 0;
    double zp = c < static_cast<int64_t>(q->zero_point.size()) ? static_cast<double>(q->zero_point[c]) : 0.0;
    o[i] = static_cast<double>(q->scale[c]) * (in[i] - zp);
  }
  return out;
}

Tensor fit_input(const Tensor& x, const std::optional<QuantParams>& from_quant, const ValueInfo& to,
                 std::vector<std::string>* notes) {
  auto note = [&](const std::string& s) { if (notes) notes->push_back("input '" + to.name + "': " + s); };
  Tensor t = x;
  bool quantized_in = is_integer(x.dtype()) && (x.quant() || from_quant);
  bool quantized_to = is_integer(to.dtype) && to.quant && !to.quant->scale.empty();
  if (quantized_in && !(quantized_to && (x.quant() ? *x.quant() : *from_quant) == *to.quant && x.dtype() == to.dtype)) {
    t = to_real(x, from_quant);
    note("dequantized " + std::string(dtype_name(x.dtype())) + " (" + quant_str(x.quant() ? *x.quant() : *from_quant) + ")");
  }
  if (to.has_shape && !shape_fits(t.shape(), to.shape)) {
    if (t.rank() == 4 && to.shape.size() == 4 && shape_fits(permuted(t.shape(), kNchwToNhwc), to.shape)) {
      t = permute4(t, kNchwToNhwc);
      note("transposed NCHW -> NHWC");
    } else if (t.rank() == 4 && to.shape.size() == 4 && shape_fits(permuted(t.shape(), kNhwcToNchw), to.shape)) {
      t = permute4(t, kNhwcToNchw);
      note("transposed NHWC -> NCHW");
    } else if (same_without_unit_dims(t.shape(), to.shape) && shape_numel(concrete(to.shape)) == t.numel()) {
      Shape s = concrete(to.shape);
      note("reshaped " + shape_str(t.shape()) + " -> " + shape_str(s));
      t = t.reshaped(s);
    } else {
      throw InputError("input '" + to.name + "': data of shape " + shape_str(t.shape()) + " does not fit " +
                       shape_str(to.shape));
    }
  }
  DType want = to.dtype == DType::kUndefined ? t.dtype() : to.dtype;
  if (quantized_to && !(t.dtype() == want && t.quant() == to.quant)) {
    const QuantParams& q = *to.quant;
    check_input(!q.per_axis(), "input '" + to.name + "': per-axis quantized inputs are not supported");
    Tensor r = to_real(t);
    Tensor qt(DType::kF64, r.shape());
    auto [lo, hi] = int_range(want);
    double scale = q.scale[0], zp = q.zero_point.empty() ? 0.0 : static_cast<double>(q.zero_point[0]);
    const double* in = r.data<double>();
    double* o = qt.mutable_data<double>();
    for (int64_t i = 0; i < r.numel(); ++i) o[i] = std::clamp(std::nearbyint(in[i] / scale) + zp, lo, hi);
    t = qt.cast(want);
    t.set_quant(q);
    note("quantized to " + std::string(dtype_name(want)) + " (" + quant_str(q) + ")");
  } else if (t.dtype() != want) {
    DType from = t.dtype();
    if (is_float(from) && is_integer(want)) {  // round + saturate rather than truncate
      Tensor r = to_real(t);
      double* d = r.mutable_data<double>();
      auto [lo, hi] = int_range(want);
      for (int64_t i = 0; i < r.numel(); ++i) d[i] = std::clamp(std::nearbyint(d[i]), lo, hi);
      t = r.cast(want);
    } else {
      t = t.cast(want);
    }
    note(std::string("cast ") + dtype_name(from) + " -> " + dtype_name(want));
  }
  return t;
}

Tensor align_output(const Tensor& target_out, const std::optional<QuantParams>& target_quant, const Shape& source_shape,
                    std::vector<std::string>* notes) {
  Tensor t = to_real(target_out, target_quant);
  if (is_integer(target_out.dtype()) && (target_out.quant() || target_quant) && notes) notes->push_back("dequantized");
  if (t.shape() == source_shape) return t;
  if (t.rank() == 4 && source_shape.size() == 4) {
    if (permuted(t.shape(), kNhwcToNchw) == source_shape) {
      if (notes) notes->push_back("transposed NHWC -> NCHW");
      return permute4(t, kNhwcToNchw);
    }
    if (permuted(t.shape(), kNchwToNhwc) == source_shape) {
      if (notes) notes->push_back("transposed NCHW -> NHWC");
      return permute4(t, kNchwToNhwc);
    }
  }
  if (same_without_unit_dims(t.shape(), source_shape) && shape_numel(source_shape) == t.numel()) {
    if (notes) notes->push_back("reshaped " + shape_str(t.shape()) + " -> " + shape_str(source_shape));
    return t.reshaped(source_shape);
  }
  throw InputError("shape " + shape_str(target_out.shape()) + " does not match the source's " + shape_str(source_shape));
}

}  // namespace transfix
