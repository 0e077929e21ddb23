#include "localize/weight_comparison.h"

#include <algorithm>
#include <cmath>

#include "compare/weight_precision.h"
#include "core/format.h"
#include "core/tensor_math.h"

namespace transfix {

namespace {

float round_to_fp16(double v) {
  Tensor t = Tensor::from_vector<double>({v}, {1}).cast(DType::kF16).cast(DType::kF64);
  return static_cast<float>(t.data<double>()[0]);
}

// Whether every weight sits on the float16 grid (the target stored them in float16).
bool on_fp16_grid(const Tensor& t) {
  const double* v = t.data<double>();
  for (int64_t i = 0; i < t.numel(); ++i)
    if (static_cast<double>(round_to_fp16(v[i])) != v[i]) return false;
  return true;
}

}  // namespace

// A weight tensor as [out, in, spatial...] float64, whatever the op and layout.
std::optional<Tensor> canonical_weight(const Model& m, const Node& n) {
  if (n.inputs.size() < 2) return std::nullopt;
  // (Weights stored in float16 or int8 reach the op through a Cast or DequantizeLinear.)
  auto real = stored_weight_real(m.graph, n.inputs[1]);
  if (!real) return std::nullopt;
  Tensor w = *real;
  const std::string layout = n.attr_string("weight_layout", "OIHW");
  if (n.op_type == "Conv" && w.rank() == 4) {
    if (layout == "OHWI") return permute(w, {0, 3, 1, 2});
    if (layout == "1HWO") return permute(w, {3, 0, 1, 2});
    return w;
  }
  if (n.op_type == "Gemm" && w.rank() == 2) return n.attr_int("transB", 0) ? w : permute(w, {1, 0});
  if (n.op_type == "MatMul" && w.rank() == 2) return permute(w, {1, 0});
  return w.rank() >= 2 ? std::optional<Tensor>(w) : std::nullopt;
}

std::optional<Tensor> bias_of(const Model& m, const Node& n) {
  if (!n.has_input(2)) return std::nullopt;
  return stored_weight_real(m.graph, n.inputs[2]);  // (float16 or int32 biases reach it dequantized)
}

double rel_diff(const double* a, const double* b, int64_t n, double scale) {
  double m = 0;
  for (int64_t i = 0; i < n; ++i) m = std::max(m, std::fabs(a[i] - b[i]));
  return scale > 0 ? m / scale : m;
}

std::optional<Finding> compare_weights_fp16_aware(const Tensor& s, const Tensor& t) {
  auto f = compare_weights(s, t);
  if (!f || f->kind != "weights differ" || s.shape() != t.shape() || !on_fp16_grid(t)) return f;
  Tensor s16 = s.clone();
  double* v = s16.mutable_data<double>();
  for (int64_t i = 0; i < s16.numel(); ++i) v[i] = round_to_fp16(v[i]);
  auto g = compare_weights(s16, t);
  if (!g) return f;  // equal after rounding: compare_weights already said "rounded to float16"
  if (g->kind != "weights differ") g->detail += " (float16 weights: compared with the source rounded to float16)";
  return g->kind != "weights differ" ? g : f;
}

// Largest |t - s| over the rounding the target's storage allows, per element: half a grid step of
// the element's output channel (integer; the canonical layout puts output channels first) or half a
// float16 ulp of the weight (plus a few float32 ulps of the largest weight for the converter's fold).
// At most 1: the target holds the source's weights, rounded as its precision intends.
double storage_rounding_units(const Tensor& s, const Tensor& t, const StoredWeight& storage) {
  const int64_t n = s.numel(), out = std::max<int64_t>(s.rank() ? s.dim(0) : 1, 1), per = n / out;
  const double* sv = s.data<double>();
  const double* tv = t.data<double>();
  const double fold = 64 * std::ldexp(max_abs(s), -24);
  double units = 0;
  for (int64_t i = 0; i < n; ++i) {
    double half;
    if (storage.storage == WeightStorage::kInteger) {
      const size_t ch = storage.steps.size() == static_cast<size_t>(out) ? static_cast<size_t>(i / per) : 0;
      half = (storage.steps.empty() ? storage.step : storage.steps[std::min(ch, storage.steps.size() - 1)]) / 2;
    } else {
      half = std::ldexp(std::fabs(sv[i]), -11);
    }
    units = std::max(units, std::fabs(tv[i] - sv[i]) / (half * 1.001 + fold));
  }
  return units;
}

// What a weight tensor's storage lets each weight move, relative to the largest source weight: half
// the largest grid step (integer), half a float16 ulp of the largest weight (float16); with margin.
double storage_tolerance(const Tensor& s, const StoredWeight& storage) {
  const double scale = std::max(max_abs(s), 1e-30);
  const double half = storage.storage == WeightStorage::kInteger ? storage.step / 2 : std::ldexp(scale, -11);
  return 1.01 * half / scale + 1e-6;
}

std::optional<Finding> compare_weights(const Tensor& s, const Tensor& t, double tol) {
  Finding f{Stage::kParameters, "", "", 0.9};
  if (s.shape() != t.shape()) {
    f.kind = "weight shape differs";
    f.detail = "source " + shape_str(s.shape()) + ", target " + shape_str(t.shape());
    return f;
  }
  const int64_t n = s.numel();
  const double* sv = s.data<double>();
  const double* tv = t.data<double>();
  const double scale = std::max(max_abs(s), 1e-30);
  const double err = rel_diff(sv, tv, n, scale);
  if (err <= 1e-6) return std::nullopt;
  auto detail = [&](const std::string& what) { return what + " (max weight error " + format_number(err) + " of the largest weight)"; };
  // float16 rounding: every target weight is the source weight rounded to half precision.
  double fp16_err = 0;
  for (int64_t i = 0; i < n && fp16_err <= 1e-7; ++i) fp16_err = std::max(fp16_err, std::fabs(round_to_fp16(sv[i]) - tv[i]) / scale);
  if (fp16_err <= 1e-7 && tol <= 1e-6) {  // (a storage tolerance: the caller knows the precision)
    f.kind = "weights rounded to float16";
    f.detail = detail("every weight equals the source weight rounded to float16");
    return f;
  }
  const int64_t out = s.dim(0), per = n / out;
  // 8-bit grid: few distinct values per output channel, error within half a step.
  if (tol <= 1e-6) {
    int64_t grid_channels = 0;
    for (int64_t o = 0; o < out; ++o) {
      std::set<double> distinct(tv + o * per, tv + (o + 1) * per);
      grid_channels += distinct.size() <= 256 && per > 256 ? 1 : 0;
    }
    std::set<double> all(tv, tv + n);
    if ((out > 0 && grid_channels == out) || (all.size() <= 256 && n > 1024)) {
      f.kind = "weights quantized to an 8-bit grid without quantization metadata";
      f.detail = detail(std::to_string(all.size()) + " distinct values in " + std::to_string(n) + " weights");
      return f;
    }
  }
  // Kernel transposed (H <-> W).
  if (s.rank() == 4 && s.dim(2) == s.dim(3) && s.dim(2) > 1) {
    Tensor st = permute(s, {0, 1, 3, 2});
    if (rel_diff(st.data<double>(), tv, n, scale) <= tol) {
      f.kind = "kernel transposed (height and width swapped)";
      f.detail = detail("target weights equal the source kernel with H and W swapped");
      return f;
    }
  }
  // Channel permutations: every target channel equals some source channel.
  auto channel_perm = [&](const Tensor& a, const Tensor& b, int axis) -> std::optional<std::vector<int64_t>> {
    Tensor pa = axis == 0 ? a : permute(a, [&] {
      std::vector<int64_t> p(static_cast<size_t>(a.rank()));
      std::iota(p.begin(), p.end(), 0);
      std::swap(p[0], p[1]);
      return p;
    }());
    Tensor pb = axis == 0 ? b : permute(b, [&] {
      std::vector<int64_t> p(static_cast<size_t>(b.rank()));
      std::iota(p.begin(), p.end(), 0);
      std::swap(p[0], p[1]);
      return p;
    }());
    const int64_t c = pa.dim(0), k = pa.numel() / c;
    if (c < 2) return std::nullopt;
    std::vector<int64_t> perm(static_cast<size_t>(c), -1);
    bool identity = true;
    for (int64_t i = 0; i < c; ++i) {
      for (int64_t j = 0; j < c && perm[static_cast<size_t>(i)] < 0; ++j)
        if (rel_diff(pa.data<double>() + j * k, pb.data<double>() + i * k, k, scale) <= tol) perm[static_cast<size_t>(i)] = j;
      if (perm[static_cast<size_t>(i)] < 0) return std::nullopt;
      identity &= perm[static_cast<size_t>(i)] == i;
    }
    if (identity) return std::nullopt;
    return perm;
  };
  if (auto p = channel_perm(s, t, 0)) {
    f.kind = "output channels permuted";
    f.detail = detail("target output channel i holds source channel " + format_ints(*p));
    return f;
  }
  if (s.rank() >= 2 && s.dim(1) > 1)
    if (auto p = channel_perm(s, t, 1)) {
      bool reversed = true;
      for (size_t i = 0; i < p->size(); ++i) reversed &= (*p)[i] == static_cast<int64_t>(p->size() - 1 - i);
      f.kind = reversed ? "input channels reversed (RGB <-> BGR)" : "input channels permuted";
      f.detail = detail("target input channel i reads source channel " + format_ints(*p));
      return f;
    }
  // Per-output-channel rescale (a BatchNorm folded twice, or a scale folded into the wrong op).
  {
    bool scaled = true;
    std::vector<double> factors;
    for (int64_t o = 0; o < out && scaled; ++o) {
      double num = 0, den = 0;
      for (int64_t j = 0; j < per; ++j) num += sv[o * per + j] * tv[o * per + j], den += sv[o * per + j] * sv[o * per + j];
      const double c = den > 0 ? num / den : 1.0;
      for (int64_t j = 0; j < per && scaled; ++j) scaled = std::fabs(c * sv[o * per + j] - tv[o * per + j]) <= std::max(1e-5, 2 * tol) * scale;
      factors.push_back(c);
    }
    if (scaled) {
      auto [lo, hi] = std::minmax_element(factors.begin(), factors.end());
      f.kind = "weights rescaled per output channel (BatchNorm folded twice?)";
      f.detail = detail("target channel o = c_o x source channel o, c_o in [" + format_number(*lo) + ", " + format_number(*hi) + "]");
      return f;
    }
  }
  f.kind = "weights differ";
  f.detail = detail("no layout, precision or permutation explains the difference");
  f.confidence = 0.6;
  return f;
}

}  // namespace transfix
