#include "localize/tensor_match.h"

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


namespace {

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

double max_abs_diff_under(const Tensor& source64, const Tensor& target64, const Transform& tr) {
  return tr.perm.empty() ? max_abs_diff(source64, target64) : max_abs_diff_permuted(source64, target64, tr.perm);
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



Tensor source_as_target(const Tensor& source64, const Transform& tr, const Tensor& like) {
  Tensor t = to_target_frame(source64, tr, like.shape());
  if (like.dtype() == DType::kF64) return t;
  // Quantize with the target's own parameters: what its integer kernels would have been given.
  if (is_integer(like.dtype()) && like.quant() && !like.quant()->scale.empty())
    return quantize_real(t, *like.quant(), like.dtype());
  return t.cast(like.dtype());
}

}  // namespace transfix
