// Unary math: Abs, Neg, Sign (numeric); Sqrt, Reciprocal, Exp, Log, Floor, Ceil, Round, Erf and the
// trigonometric / hyperbolic functions (float); Not (bool); IsNaN, IsInf (float -> bool).
#include <cmath>
#include <limits>
#include <type_traits>

#include "runtime/kernels/elementwise.h"

namespace transfix {
namespace {

using elementwise::map_unary;

// Registers a float-only unary op computing `formula` in the element type (float or double).
#define FLOAT_UNARY(NAME, OP, formula)                                                      \
  void NAME(KernelContext& ctx) {                                                           \
    const Tensor& x = ctx.input(0);                                                         \
    ctx.set_output(0, dispatch_float(x.dtype(), OP, [&](auto tag) {                         \
                     using T = decltype(tag);                                               \
                     return map_unary<T, T>(x, [](T v) -> T { return formula; });           \
                   }));                                                                     \
  }                                                                                         \
  TRANSFIX_KERNEL(OP, NAME)

FLOAT_UNARY(sqrt_op, "Sqrt", std::sqrt(v));
FLOAT_UNARY(reciprocal_op, "Reciprocal", T(1) / v);
FLOAT_UNARY(exp_op, "Exp", std::exp(v));
FLOAT_UNARY(log_op, "Log", std::log(v));
FLOAT_UNARY(floor_op, "Floor", std::floor(v));
FLOAT_UNARY(ceil_op, "Ceil", std::ceil(v));
// Halves round to even (numpy.round); nearbyint uses the default round-to-nearest-even mode.
FLOAT_UNARY(round_op, "Round", std::nearbyint(v));
FLOAT_UNARY(erf_op, "Erf", std::erf(v));
FLOAT_UNARY(sin_op, "Sin", std::sin(v));
FLOAT_UNARY(cos_op, "Cos", std::cos(v));
FLOAT_UNARY(tan_op, "Tan", std::tan(v));
FLOAT_UNARY(asin_op, "Asin", std::asin(v));
FLOAT_UNARY(acos_op, "Acos", std::acos(v));
FLOAT_UNARY(atan_op, "Atan", std::atan(v));
FLOAT_UNARY(sinh_op, "Sinh", std::sinh(v));
FLOAT_UNARY(cosh_op, "Cosh", std::cosh(v));
FLOAT_UNARY(asinh_op, "Asinh", std::asinh(v));
FLOAT_UNARY(acosh_op, "Acosh", std::acosh(v));
FLOAT_UNARY(atanh_op, "Atanh", std::atanh(v));

#undef FLOAT_UNARY

// |x|; for signed integers the most negative value wraps to itself (like numpy), without UB.
template <typename T>
T abs_value(T v) {
  if constexpr (std::is_floating_point_v<T>) return std::fabs(v);
  else if constexpr (std::is_unsigned_v<T>) return v;
  else return v < 0 ? static_cast<T>(0 - static_cast<std::make_unsigned_t<T>>(v)) : v;
}

// -x; unsigned and most-negative signed values wrap (two's complement), without UB.
template <typename T>
T negate(T v) {
  if constexpr (std::is_floating_point_v<T>) return -v;
  else return static_cast<T>(0 - static_cast<std::make_unsigned_t<T>>(v));
}

template <typename T>
T sign_of(T v) {
  if constexpr (std::is_floating_point_v<T>) {
    if (std::isnan(v)) return v;
  }
  return v > T(0) ? T(1) : (v < T(0) ? static_cast<T>(-1) : T(0));
}

void abs_op(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  ctx.set_output(0, dispatch_numeric(x.dtype(), "Abs", [&](auto tag) {
    using T = decltype(tag);
    return map_unary<T, T>(x, [](T v) { return abs_value(v); });
  }));
}

void neg_op(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  ctx.set_output(0, dispatch_numeric(x.dtype(), "Neg", [&](auto tag) {
    using T = decltype(tag);
    return map_unary<T, T>(x, [](T v) { return negate(v); });
  }));
}

void sign_op(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  ctx.set_output(0, dispatch_numeric(x.dtype(), "Sign", [&](auto tag) {
    using T = decltype(tag);
    return map_unary<T, T>(x, [](T v) { return sign_of(v); });
  }));
}

void not_op(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  if (x.dtype() != DType::kBool) ctx.fail(std::string("Not expects bool, got ") + dtype_name(x.dtype()));
  ctx.set_output(0, map_unary<bool, bool>(x, [](bool v) { return !v; }));
}

void isnan_op(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  ctx.set_output(0, dispatch_float(x.dtype(), "IsNaN", [&](auto tag) {
    using T = decltype(tag);
    return map_unary<T, bool>(x, [](T v) { return std::isnan(v); });
  }));
}

// IsInf: detect_negative / detect_positive (both default 1) select which infinities count.
void isinf_op(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  const bool negative = ctx.node.attr_int("detect_negative", 1) != 0;
  const bool positive = ctx.node.attr_int("detect_positive", 1) != 0;
  ctx.set_output(0, dispatch_float(x.dtype(), "IsInf", [&](auto tag) {
    using T = decltype(tag);
    return map_unary<T, bool>(x, [=](T v) {
      return std::isinf(v) && ((v > 0 && positive) || (v < 0 && negative));
    });
  }));
}

TRANSFIX_KERNEL("Abs", abs_op);
TRANSFIX_KERNEL("Neg", neg_op);
TRANSFIX_KERNEL("Sign", sign_op);
TRANSFIX_KERNEL("Not", not_op);
TRANSFIX_KERNEL("IsNaN", isnan_op);
TRANSFIX_KERNEL("IsInf", isinf_op);

}  // namespace
}  // namespace transfix
