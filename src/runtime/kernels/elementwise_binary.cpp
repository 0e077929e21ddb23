// Binary math with numpy broadcasting: Add, Sub, Mul, Div, Pow, Mod, BitShift, and PRelu (slope
// broadcast onto X). Integer arithmetic wraps (two's complement, like numpy) instead of being UB;
// integer division truncates toward zero like C, and x / 0 gives 0 for integers (numpy's result)
// rather than crashing the process.
#include <cmath>
#include <type_traits>

#include "runtime/kernels/elementwise.h"

namespace transfix {
namespace {

using elementwise::map_binary;
using elementwise::require_same_dtype;

// Unsigned type wide enough that arithmetic on it never promotes to (signed) int.
template <typename T>
using Wide = std::conditional_t<(sizeof(T) < 4), uint32_t, std::make_unsigned_t<T>>;

template <typename T>
T add(T a, T b) {
  if constexpr (std::is_integral_v<T>) return static_cast<T>(static_cast<Wide<T>>(a) + static_cast<Wide<T>>(b));
  else return a + b;
}
template <typename T>
T sub(T a, T b) {
  if constexpr (std::is_integral_v<T>) return static_cast<T>(static_cast<Wide<T>>(a) - static_cast<Wide<T>>(b));
  else return a - b;
}
template <typename T>
T mul(T a, T b) {
  if constexpr (std::is_integral_v<T>) return static_cast<T>(static_cast<Wide<T>>(a) * static_cast<Wide<T>>(b));
  else return a * b;
}
template <typename T>
T div(T a, T b) {
  if constexpr (std::is_integral_v<T>) {
    if (b == 0) return 0;
    if constexpr (std::is_signed_v<T>) {
      if (b == -1) return sub<T>(0, a);  // avoids the INT_MIN / -1 trap
    }
    return static_cast<T>(a / b);
  } else {
    return a / b;
  }
}

// Mod with fmod = 0: the result takes the divisor's sign (Python / numpy.mod).
template <typename T>
T floor_mod(T a, T b) {
  if constexpr (std::is_integral_v<T>) {
    if (b == 0) return 0;
    if constexpr (std::is_signed_v<T>) {
      if (b == -1) return 0;
      T r = static_cast<T>(a % b);
      if (r != 0 && ((r < 0) != (b < 0))) r = static_cast<T>(r + b);
      return r;
    } else {
      return static_cast<T>(a % b);
    }
  } else {
    T r = std::fmod(a, b);
    if (r != 0 && ((r < 0) != (b < 0))) r += b;
    return r;
  }
}

// Mod with fmod = 1: the result takes the dividend's sign (C fmod / %).
template <typename T>
T trunc_mod(T a, T b) {
  if constexpr (std::is_integral_v<T>) {
    if (b == 0) return 0;
    if constexpr (std::is_signed_v<T>) {
      if (b == -1) return 0;
    }
    return static_cast<T>(a % b);
  } else {
    return std::fmod(a, b);
  }
}

template <typename Op>
void arithmetic(KernelContext& ctx, const char* name, Op op) {
  const Tensor& a = ctx.input(0);
  const Tensor b = elementwise::legacy_broadcast_operand(ctx, a, ctx.input(1));
  require_same_dtype(ctx, a, b);
  ctx.set_output(0, dispatch_numeric(a.dtype(), name, [&](auto tag) {
    using T = decltype(tag);
    return map_binary<T, T>(a, b, [op](T x, T y) { return op(x, y); });
  }));
}

void add_op(KernelContext& ctx) {
  arithmetic(ctx, "Add", [](auto x, auto y) { return add(x, y); });
}
void sub_op(KernelContext& ctx) {
  arithmetic(ctx, "Sub", [](auto x, auto y) { return sub(x, y); });
}
void mul_op(KernelContext& ctx) {
  arithmetic(ctx, "Mul", [](auto x, auto y) { return mul(x, y); });
}
void div_op(KernelContext& ctx) {
  arithmetic(ctx, "Div", [](auto x, auto y) { return div(x, y); });
}

void mod_op(KernelContext& ctx) {
  const int64_t fmod = ctx.node.attr_int("fmod", 0);
  if (fmod != 0 && fmod != 1) ctx.fail("fmod must be 0 or 1, got " + std::to_string(fmod));
  if (fmod == 1) arithmetic(ctx, "Mod", [](auto x, auto y) { return trunc_mod(x, y); });
  else arithmetic(ctx, "Mod", [](auto x, auto y) { return floor_mod(x, y); });
}

// Pow(X, Y): the output has X's type. A float base is raised in its own precision (the exponent
// converted to it); an integer base is computed in double and converted back.
void pow_op(KernelContext& ctx) {
  const Tensor& base = ctx.input(0);
  const Tensor& exponent = ctx.input(1);
  if (exponent.dtype() == DType::kBool) ctx.fail("Pow exponent cannot be bool");
  if (is_float(base.dtype())) {
    ctx.set_output(0, dispatch_float(base.dtype(), "Pow", [&](auto tag) {
      using T = decltype(tag);
      Tensor e = exponent.dtype() == base.dtype() ? exponent : exponent.cast(base.dtype());
      return map_binary<T, T>(base, e, [](T x, T y) { return std::pow(x, y); });
    }));
    return;
  }
  Tensor b64 = base.cast(DType::kF64);
  Tensor e64 = exponent.cast(DType::kF64);
  Tensor r = map_binary<double, double>(b64, e64, [](double x, double y) { return std::pow(x, y); });
  ctx.set_output(0, r.cast(base.dtype()));
}

void bitshift_op(KernelContext& ctx) {
  const Tensor& a = ctx.input(0);
  const Tensor& b = ctx.input(1);
  require_same_dtype(ctx, a, b);
  const std::string direction = ctx.node.attr_string("direction", "");
  if (direction != "LEFT" && direction != "RIGHT") ctx.fail("direction must be LEFT or RIGHT, got '" + direction + "'");
  const bool left = direction == "LEFT";
  auto shift = [&](auto tag) {
    using T = decltype(tag);
    constexpr T bits = static_cast<T>(sizeof(T) * 8);
    // Shifting by the bit width or more is UB in C++; every bit is shifted out, so the result is 0.
    return map_binary<T, T>(a, b, [left](T x, T s) -> T {
      if (s >= bits) return 0;
      return left ? static_cast<T>(static_cast<Wide<T>>(x) << s) : static_cast<T>(x >> s);
    });
  };
  switch (a.dtype()) {
    case DType::kU8: ctx.set_output(0, shift(uint8_t{})); break;
    case DType::kU16: ctx.set_output(0, shift(uint16_t{})); break;
    case DType::kU32: ctx.set_output(0, shift(uint32_t{})); break;
    case DType::kU64: ctx.set_output(0, shift(uint64_t{})); break;
    default: throw UnsupportedError(std::string("BitShift: unsupported dtype ") + dtype_name(a.dtype()));
  }
}

// PRelu: y = x < 0 ? slope * x : x, slope broadcast onto X's shape (unidirectional).
void prelu_op(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  Tensor slope = ctx.input(1);
  require_same_dtype(ctx, x, slope);
  bool fits = true;
  try {
    fits = broadcast_shapes(x.shape(), slope.shape()) == x.shape();
  } catch (const InputError&) {
    fits = false;
  }
  if (!fits) {
    // Pre-opset-7 models gave one slope per channel ([C] for [N, C, ...]); accept that form.
    if (slope.rank() == 1 && x.rank() >= 2 && slope.dim(0) == x.dim(1)) {
      Shape s(static_cast<size_t>(x.rank() - 1), 1);
      s[0] = slope.dim(0);
      slope = slope.reshaped(s);
    } else {
      ctx.fail("slope " + shape_str(slope.shape()) + " cannot be broadcast to X " + shape_str(x.shape()));
    }
  }
  auto plan = elementwise::plan_broadcast_to(x.shape(), slope.shape(), x.shape());
  ctx.set_output(0, dispatch_numeric(x.dtype(), "PRelu", [&](auto tag) {
    using T = decltype(tag);
    return elementwise::map_binary_planned<T, T>(x, slope, plan, [](T v, T s) { return v < T(0) ? mul(s, v) : v; });
  }));
}

TRANSFIX_KERNEL("Add", add_op);
TRANSFIX_KERNEL("Sub", sub_op);
TRANSFIX_KERNEL("Mul", mul_op);
TRANSFIX_KERNEL("Div", div_op);
TRANSFIX_KERNEL("Mod", mod_op);
TRANSFIX_KERNEL("Pow", pow_op);
TRANSFIX_KERNEL("BitShift", bitshift_op);
TRANSFIX_KERNEL("PRelu", prelu_op);

}  // namespace
}  // namespace transfix
