#include "compare/metrics.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <set>
#include <stdexcept>

namespace transfix {

void ErrorStats::add(const double* ref, const double* test, int64_t n, double rel_floor) {
  for (int64_t i = 0; i < n; ++i) {
    double r = ref[i], t = test[i];
    bool rf = std::isfinite(r), tf = std::isfinite(t);
    ref_nan += std::isnan(r), ref_inf += std::isinf(r);
    test_nan += std::isnan(t), test_inf += std::isinf(t);
    if (!rf || !tf) {
      // Same non-finite value on both sides (e.g. both +inf) agrees; anything else is a mismatch.
      bool same = (std::isnan(r) && std::isnan(t)) || (std::isinf(r) && std::isinf(t) && (r > 0) == (t > 0));
      nonfinite_mismatch += !same;
      continue;
    }
    double d = std::fabs(t - r);
    ++count;
    max_abs = std::max(max_abs, d);
    sum_abs += d;
    if (std::fabs(r) >= rel_floor && std::fabs(r) > 0) max_rel = std::max(max_rel, d / std::fabs(r));
    sum_ref2 += r * r, sum_test2 += t * t, sum_dot += r * t, sum_err2 += d * d;
    max_ref_abs = std::max(max_ref_abs, std::fabs(r));
  }
}

void ErrorStats::merge(const ErrorStats& o) {
  count += o.count;
  max_abs = std::max(max_abs, o.max_abs);
  sum_abs += o.sum_abs;
  max_rel = std::max(max_rel, o.max_rel);
  sum_ref2 += o.sum_ref2, sum_test2 += o.sum_test2, sum_dot += o.sum_dot, sum_err2 += o.sum_err2;
  max_ref_abs = std::max(max_ref_abs, o.max_ref_abs);
  ref_nan += o.ref_nan, ref_inf += o.ref_inf, test_nan += o.test_nan, test_inf += o.test_inf;
  nonfinite_mismatch += o.nonfinite_mismatch;
}

std::vector<double> ErrorStats::raw() const {
  auto d = [](int64_t v) { return static_cast<double>(v); };
  return {d(count),    max_abs,    sum_abs,     max_rel,     sum_ref2,    sum_test2, sum_dot,
          sum_err2,    max_ref_abs, d(ref_nan), d(ref_inf), d(test_nan), d(test_inf), d(nonfinite_mismatch)};
}

ErrorStats ErrorStats::from_raw(const std::vector<double>& v) {
  if (v.size() != 14) throw std::invalid_argument("error statistics need 14 accumulators");
  // Counts come from reports (transfix merge): a NaN, infinite, negative or fractional one is
  // malformed (casting inf to int64 is undefined; found by tools/fuzz).
  auto i = [](double x) {
    if (!(x >= 0 && x <= 9.0e18) || x != std::floor(x))
      throw std::invalid_argument("a count accumulator is not a non-negative integer");
    return static_cast<int64_t>(x);
  };
  ErrorStats e;
  e.count = i(v[0]), e.max_abs = v[1], e.sum_abs = v[2], e.max_rel = v[3], e.sum_ref2 = v[4], e.sum_test2 = v[5];
  e.sum_dot = v[6], e.sum_err2 = v[7], e.max_ref_abs = v[8], e.ref_nan = i(v[9]), e.ref_inf = i(v[10]);
  e.test_nan = i(v[11]), e.test_inf = i(v[12]), e.nonfinite_mismatch = i(v[13]);
  return e;
}

double ErrorStats::cosine() const {
  if (sum_ref2 == 0 && sum_test2 == 0) return 1.0;
  if (sum_ref2 == 0 || sum_test2 == 0) return 0.0;
  return sum_dot / (std::sqrt(sum_ref2) * std::sqrt(sum_test2));
}

double ErrorStats::snr_db() const {
  if (sum_err2 == 0) return std::numeric_limits<double>::infinity();
  if (sum_ref2 == 0) return -std::numeric_limits<double>::infinity();
  return 10.0 * std::log10(sum_ref2 / sum_err2);
}

double max_abs_value(const double* x, int64_t n) {
  double m = 0;
  for (int64_t i = 0; i < n; ++i)
    if (std::isfinite(x[i])) m = std::max(m, std::fabs(x[i]));
  return m;
}

double cosine_similarity(const std::vector<double>& a, const std::vector<double>& b) {
  ErrorStats s;
  s.add(a.data(), b.data(), static_cast<int64_t>(std::min(a.size(), b.size())), 0);
  return s.cosine();
}

double snr_db(const std::vector<double>& ref, const std::vector<double>& test) {
  ErrorStats s;
  s.add(ref.data(), test.data(), static_cast<int64_t>(std::min(ref.size(), test.size())), 0);
  return s.snr_db();
}

int64_t argmax(const double* x, int64_t n, int64_t stride) {
  int64_t best = 0;
  for (int64_t i = 1; i < n; ++i) {
    double v = x[i * stride], b = x[best * stride];
    if (v > b || (std::isnan(b) && !std::isnan(v))) best = i;
  }
  return best;
}

std::vector<int64_t> top_k(const double* x, int64_t n, int64_t k) {
  k = std::min(k, n);
  std::vector<int64_t> idx(static_cast<size_t>(n));
  std::iota(idx.begin(), idx.end(), 0);
  auto better = [x](int64_t a, int64_t b) {
    double va = std::isnan(x[a]) ? -INFINITY : x[a], vb = std::isnan(x[b]) ? -INFINITY : x[b];
    return va > vb || (va == vb && a < b);
  };
  std::partial_sort(idx.begin(), idx.begin() + k, idx.end(), better);
  idx.resize(static_cast<size_t>(k));
  return idx;
}

double top_k_overlap(const std::vector<int64_t>& a, const std::vector<int64_t>& b) {
  if (a.empty()) return 1.0;
  std::set<int64_t> sa(a.begin(), a.end());
  int64_t common = 0;
  for (int64_t v : b) common += sa.count(v);
  return static_cast<double>(common) / static_cast<double>(std::max(a.size(), b.size()));
}

double kendall_tau(const std::vector<double>& a, const std::vector<double>& b) {
  size_t n = std::min(a.size(), b.size());
  int64_t concordant = 0, discordant = 0, tied_a = 0, tied_b = 0, pairs = 0;
  for (size_t i = 0; i < n; ++i)
    for (size_t j = i + 1; j < n; ++j) {
      ++pairs;
      double da = a[i] - a[j], db = b[i] - b[j];
      if (da == 0 && db == 0) { ++tied_a, ++tied_b; continue; }
      if (da == 0) { ++tied_a; continue; }
      if (db == 0) { ++tied_b; continue; }
      ((da > 0) == (db > 0) ? concordant : discordant)++;
    }
  double denom = std::sqrt(static_cast<double>(pairs - tied_a) * static_cast<double>(pairs - tied_b));
  if (pairs == 0 || denom == 0) return 1.0;
  return static_cast<double>(concordant - discordant) / denom;
}

double top_k_kendall_tau(const double* ref, const double* test, int64_t n, int64_t k) {
  std::vector<int64_t> ta = top_k(ref, n, k), tb = top_k(test, n, k);
  std::set<int64_t> items(ta.begin(), ta.end());
  items.insert(tb.begin(), tb.end());
  std::vector<double> a, b;
  for (int64_t i : items) a.push_back(ref[i]), b.push_back(test[i]);
  return kendall_tau(a, b);
}

}  // namespace transfix
