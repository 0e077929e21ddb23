// Reductions: ReduceSum, ReduceMean, ReduceMax, ReduceMin, ReduceProd, ReduceL1, ReduceL2,
// ReduceLogSum, ReduceLogSumExp, ReduceSumSquare.
// Axes come from the `axes` attribute, or from the optional second input (ReduceSum from opset 13,
// the others from opset 18). No axes means all axes, unless noop_with_empty_axes = 1, in which
// case the input passes through. keepdims (default 1) keeps reduced dims as size 1.
// Float sums accumulate in double; integer sums wrap like numpy.
#include <algorithm>
#include <cmath>
#include <limits>
#include <type_traits>

#include "runtime/kernels/elementwise.h"

namespace transfix {
namespace {

enum class Kind { kSum, kMean, kMax, kMin, kProd, kL1, kL2, kLogSum, kLogSumExp, kSumSquare };

// Flat offsets of every index of `dims` (row-major) given the element stride of each dim.
std::vector<int64_t> enumerate_offsets(const std::vector<int64_t>& dims, const std::vector<int64_t>& strides) {
  int64_t n = 1;
  for (int64_t d : dims) n *= d;
  std::vector<int64_t> offs(static_cast<size_t>(n));
  if (n == 0) return offs;
  std::vector<int64_t> idx(dims.size(), 0);
  int64_t off = 0;
  for (int64_t i = 0; i < n; ++i) {
    offs[static_cast<size_t>(i)] = off;
    for (size_t d = dims.size(); d-- > 0;) {
      if (++idx[d] < dims[d]) { off += strides[d]; break; }
      off -= strides[d] * (dims[d] - 1);
      idx[d] = 0;
    }
  }
  return offs;
}

// Where each output element starts in the input (`base`) and where its reduced elements sit
// relative to that start (`reduced`).
struct ReducePlan {
  Shape out_shape;
  std::vector<int64_t> base;
  std::vector<int64_t> reduced;
};

ReducePlan plan_reduce(const Shape& in, const std::vector<bool>& reduce_dim, bool keepdims) {
  const auto strides = contiguous_strides(in);
  ReducePlan p;
  std::vector<int64_t> kept_dims, kept_strides, red_dims, red_strides;
  for (size_t d = 0; d < in.size(); ++d) {
    if (reduce_dim[d]) {
      red_dims.push_back(in[d]);
      red_strides.push_back(strides[d]);
      if (keepdims) p.out_shape.push_back(1);
    } else {
      kept_dims.push_back(in[d]);
      kept_strides.push_back(strides[d]);
      p.out_shape.push_back(in[d]);
    }
  }
  p.base = enumerate_offsets(kept_dims, kept_strides);
  p.reduced = enumerate_offsets(red_dims, red_strides);
  return p;
}

// Accumulator type: double for floats; 64-bit unsigned (wrapping, like numpy) for integers.
template <typename T>
using Acc = std::conditional_t<std::is_floating_point_v<T>, double, uint64_t>;

template <typename T>
double to_double(T v) { return static_cast<double>(v); }

template <typename T>
T from_double(double v) {
  if constexpr (std::is_floating_point_v<T>) {
    return static_cast<T>(v);
  } else {
    // Integer outputs of log/sqrt/mean: truncate like numpy's astype, saturate instead of UB.
    if (std::isnan(v)) return T(0);
    if (v <= static_cast<double>(std::numeric_limits<T>::lowest())) return std::numeric_limits<T>::lowest();
    if (v >= static_cast<double>(std::numeric_limits<T>::max())) return std::numeric_limits<T>::max();
    return static_cast<T>(v);
  }
}

template <typename T>
Acc<T> to_acc(T v) {
  if constexpr (std::is_floating_point_v<T>) return v;
  else return static_cast<uint64_t>(static_cast<int64_t>(v));  // sign-extend, then wrap
}

// |v| in the accumulator type (no overflow for the most negative integer).
template <typename T>
Acc<T> acc_abs(T v) {
  if constexpr (std::is_floating_point_v<T>) return std::fabs(static_cast<double>(v));
  else if constexpr (std::is_unsigned_v<T>) return v;
  else return v < 0 ? Acc<T>(0) - to_acc(v) : to_acc(v);
}

// Reduces the R elements p[off[0..R)] to one value.
template <typename T>
T reduce_one(Kind kind, const T* p, const int64_t* off, int64_t R) {
  switch (kind) {
    case Kind::kMax:
    case Kind::kMin: {
      // An empty reduction yields the identity (-inf / +inf, or the integer extremes).
      const bool is_max = kind == Kind::kMax;
      T best = is_max ? (std::numeric_limits<T>::has_infinity ? -std::numeric_limits<T>::infinity() : std::numeric_limits<T>::lowest())
                      : (std::numeric_limits<T>::has_infinity ? std::numeric_limits<T>::infinity() : std::numeric_limits<T>::max());
      for (int64_t r = 0; r < R; ++r) {
        T v = p[off[r]];
        if (v != v) return v;  // NaN propagates, like numpy.max
        if (is_max ? v > best : v < best) best = v;
      }
      return best;
    }
    case Kind::kSum:
    case Kind::kMean: {
      Acc<T> s = 0;
      for (int64_t r = 0; r < R; ++r) s += to_acc(p[off[r]]);
      if (kind == Kind::kSum) return static_cast<T>(s);
      if constexpr (std::is_floating_point_v<T>) return static_cast<T>(s / static_cast<double>(R));
      else return R == 0 ? T(0) : from_double<T>(static_cast<double>(static_cast<int64_t>(s)) / static_cast<double>(R));
    }
    case Kind::kProd: {
      Acc<T> s = 1;
      for (int64_t r = 0; r < R; ++r) s *= to_acc(p[off[r]]);
      return static_cast<T>(s);
    }
    case Kind::kL1: {
      Acc<T> s = 0;
      for (int64_t r = 0; r < R; ++r) s += acc_abs(p[off[r]]);
      return static_cast<T>(s);
    }
    case Kind::kSumSquare: {
      Acc<T> s = 0;
      for (int64_t r = 0; r < R; ++r) { Acc<T> v = to_acc(p[off[r]]); s += v * v; }
      return static_cast<T>(s);
    }
    case Kind::kL2:
    case Kind::kLogSum: {
      double s = 0;
      for (int64_t r = 0; r < R; ++r) { double v = to_double(p[off[r]]); s += kind == Kind::kL2 ? v * v : v; }
      return from_double<T>(kind == Kind::kL2 ? std::sqrt(s) : std::log(s));
    }
    case Kind::kLogSumExp: {
      // log(sum(exp(x))) = m + log(sum(exp(x - m))) with m the max, so exp cannot overflow.
      double m = -std::numeric_limits<double>::infinity();
      for (int64_t r = 0; r < R; ++r) m = std::max(m, to_double(p[off[r]]));
      if (std::isinf(m)) m = 0;  // all -inf (or empty): plain formula is already exact
      double s = 0;
      for (int64_t r = 0; r < R; ++r) s += std::exp(to_double(p[off[r]]) - m);
      return from_double<T>(m + std::log(s));
    }
  }
  return T(0);
}

// The axes to reduce, from the input (when given) or the attribute; nullopt-like empty = none given.
std::vector<int64_t> read_axes(const KernelContext& ctx) {
  if (const Tensor* axes = ctx.optional_input(1)) {
    if (axes->dtype() != DType::kI64 && axes->dtype() != DType::kI32) ctx.fail("axes input must be int64");
    if (axes->rank() > 1) ctx.fail("axes input must be 1-D, got shape " + shape_str(axes->shape()));
    return axes->to_i64_vector();
  }
  return ctx.node.attr_ints("axes", {});
}

void reduce(KernelContext& ctx, Kind kind, const char* name) {
  const Tensor& x = ctx.input(0);
  const bool keepdims = ctx.node.attr_int("keepdims", 1) != 0;
  const bool noop_if_empty = ctx.node.attr_int("noop_with_empty_axes", 0) != 0;
  const std::vector<int64_t> axes = read_axes(ctx);
  if (axes.empty() && noop_if_empty) {
    ctx.set_output(0, x);
    return;
  }
  const int64_t rank = x.rank();
  std::vector<bool> reduce_dim(static_cast<size_t>(rank), axes.empty());
  for (int64_t a : axes) {
    int64_t d = normalize_axis(a, rank);
    if (rank == 0) continue;  // a scalar has nothing to reduce; axis 0 / -1 are tolerated
    if (reduce_dim[static_cast<size_t>(d)]) ctx.fail("axis " + std::to_string(a) + " appears twice in axes");
    reduce_dim[static_cast<size_t>(d)] = true;
  }
  const ReducePlan plan = plan_reduce(x.shape(), reduce_dim, keepdims);
  ctx.set_output(0, dispatch_numeric(x.dtype(), name, [&](auto tag) {
    using T = decltype(tag);
    Tensor out(x.dtype(), plan.out_shape);
    const T* in = x.data<T>();
    T* o = out.mutable_data<T>();
    const int64_t R = static_cast<int64_t>(plan.reduced.size());
    const int64_t n_out = static_cast<int64_t>(plan.base.size());
    auto run = [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) o[i] = reduce_one<T>(kind, in + plan.base[static_cast<size_t>(i)], plan.reduced.data(), R);
    };
    if (x.numel() > elementwise::kParallelThreshold)
      parallel_for(n_out, run, std::max<int64_t>(1, elementwise::kMinChunk / std::max<int64_t>(R, 1)));
    else
      run(0, n_out);
    return out;
  }));
}

#define REDUCE_OP(FN, OP, KIND) \
  void FN(KernelContext& ctx) { reduce(ctx, KIND, OP); } \
  TRANSFIX_KERNEL(OP, FN)

REDUCE_OP(reduce_sum, "ReduceSum", Kind::kSum);
REDUCE_OP(reduce_mean, "ReduceMean", Kind::kMean);
REDUCE_OP(reduce_max, "ReduceMax", Kind::kMax);
REDUCE_OP(reduce_min, "ReduceMin", Kind::kMin);
REDUCE_OP(reduce_prod, "ReduceProd", Kind::kProd);
REDUCE_OP(reduce_l1, "ReduceL1", Kind::kL1);
REDUCE_OP(reduce_l2, "ReduceL2", Kind::kL2);
REDUCE_OP(reduce_log_sum, "ReduceLogSum", Kind::kLogSum);
REDUCE_OP(reduce_log_sum_exp, "ReduceLogSumExp", Kind::kLogSumExp);
REDUCE_OP(reduce_sum_square, "ReduceSumSquare", Kind::kSumSquare);

#undef REDUCE_OP

}  // namespace
}  // namespace transfix
