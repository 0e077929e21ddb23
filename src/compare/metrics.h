// Agreement metrics between a reference output (the source model) and a test output (its
// conversion). All take the values as double; `ref` is always the source.
#pragma once
#include <cstdint>
#include <limits>
#include <vector>

namespace transfix {

// Element-wise error statistics, accumulated over any number of tensors (streaming).
// Elements where either side is NaN/Inf are counted, not folded into the sums; a position that is
// finite on one side and not on the other (or NaN vs Inf) is a `nonfinite_mismatch`.
struct ErrorStats {
  int64_t count = 0;             // finite pairs
  double max_abs = 0;            // max |test - ref|
  double sum_abs = 0;
  double max_rel = 0;            // max |test - ref| / |ref| over elements with |ref| >= rel_floor
  double sum_ref2 = 0, sum_test2 = 0, sum_dot = 0, sum_err2 = 0;
  double max_ref_abs = 0;        // output scale
  int64_t ref_nan = 0, ref_inf = 0, test_nan = 0, test_inf = 0, nonfinite_mismatch = 0;

  // rel_floor: relative error is not meaningful where the reference is near zero; elements with
  // |ref| below it are left out of max_rel (callers pass 1e-3 x the reference's max |value|).
  void add(const double* ref, const double* test, int64_t n, double rel_floor);
  void merge(const ErrorStats& o);
  double mean_abs() const { return count ? sum_abs / static_cast<double>(count) : 0; }
  double cosine() const;   // dot / (|ref| |test|); 1 when both are zero vectors
  double snr_db() const;   // 10 log10(sum ref^2 / sum err^2); +inf when identical
  // Every accumulator in a fixed order (counts exact as doubles up to 2^53), so that statistics of
  // separate runs can be written down and merged later (compare --shard, transfix merge).
  std::vector<double> raw() const;
  static ErrorStats from_raw(const std::vector<double>& v);  // throws std::invalid_argument on a bad length
};

double max_abs_value(const double* x, int64_t n);  // over finite elements
double cosine_similarity(const std::vector<double>& a, const std::vector<double>& b);
double snr_db(const std::vector<double>& ref, const std::vector<double>& test);

// Index of the largest element (first on ties; NaN never wins unless all are NaN).
int64_t argmax(const double* x, int64_t n, int64_t stride = 1);
// Indices of the k largest, best first (ties: lower index first).
std::vector<int64_t> top_k(const double* x, int64_t n, int64_t k);
// |A ∩ B| / k for two top-k lists.
double top_k_overlap(const std::vector<int64_t>& a, const std::vector<int64_t>& b);
// Kendall tau-b between two score vectors (pairs tied in either count as neither concordant nor
// discordant; tau-b's denominator corrects for ties). 1 for fewer than two items or no untied pair.
double kendall_tau(const std::vector<double>& a, const std::vector<double>& b);
// Kendall tau of two models' top-k lists: over the union of both top-k sets, the rank order by the
// reference's scores vs by the test's scores. 1 = same order, -1 = reversed.
double top_k_kendall_tau(const double* ref, const double* test, int64_t n, int64_t k);

}  // namespace transfix
