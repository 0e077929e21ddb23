// Activations: Relu, Clip, LeakyRelu, Elu, Selu, Celu, Sigmoid, HardSigmoid, HardSwish, Tanh,
// Softplus, Softsign, ThresholdedRelu, Shrink, Mish. NaN inputs propagate (a NaN in is a NaN out)
// so a fault upstream stays visible.
#include <cmath>
#include <limits>
#include <type_traits>

#include "runtime/kernels/elementwise.h"

namespace transfix {
namespace {

using elementwise::map_unary;

// Applies a float formula; `make(T{})` returns the per-element lambda (capturing attributes as T).
template <typename Make>
void float_activation(KernelContext& ctx, const char* name, Make make) {
  const Tensor& x = ctx.input(0);
  ctx.set_output(0, dispatch_float(x.dtype(), name, [&](auto tag) {
    using T = decltype(tag);
    return map_unary<T, T>(x, make(tag));
  }));
}

// 1 / (1 + exp(-x)): for very negative x exp overflows to inf and the result is a correct 0.
template <typename T>
T sigmoid(T v) {
  return T(1) / (T(1) + std::exp(-v));
}

// log(1 + exp(v)) without overflow for large v.
template <typename T>
T softplus(T v) {
  if (v > T(0)) return v + std::log1p(std::exp(-v));
  return std::log1p(std::exp(v));
}

void relu(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  ctx.set_output(0, dispatch_numeric(x.dtype(), "Relu", [&](auto tag) {
    using T = decltype(tag);
    return map_unary<T, T>(x, [](T v) { return v < T(0) ? T(0) : v; });
  }));
}

// Clip: bounds are attributes before opset 11, optional scalar inputs from 11 on (ints from 12).
void clip(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  ctx.set_output(0, dispatch_numeric(x.dtype(), "Clip", [&](auto tag) {
    using T = decltype(tag);
    T lo = std::numeric_limits<T>::lowest();
    T hi = std::numeric_limits<T>::max();
    if (ctx.opset < 11) {
      // Attribute bounds are floats (only float inputs existed then); clamp into T's range.
      auto from_attr = [](double v) {
        if constexpr (std::is_floating_point_v<T>) return static_cast<T>(v);
        if (!(v > static_cast<double>(std::numeric_limits<T>::lowest()))) return std::numeric_limits<T>::lowest();
        if (!(v < static_cast<double>(std::numeric_limits<T>::max()))) return std::numeric_limits<T>::max();
        return static_cast<T>(v);
      };
      if (ctx.node.has_attr("min")) lo = from_attr(ctx.node.attr_float("min", 0));
      if (ctx.node.has_attr("max")) hi = from_attr(ctx.node.attr_float("max", 0));
    } else {
      auto bound = [&](size_t i, T& value) {
        const Tensor* t = ctx.optional_input(i);
        if (!t) return;
        if (t->numel() != 1) ctx.fail("Clip bound #" + std::to_string(i) + " must be a scalar, got shape " + shape_str(t->shape()));
        if (t->dtype() != x.dtype()) ctx.fail(std::string("Clip bound has type ") + dtype_name(t->dtype()) + ", input has " + dtype_name(x.dtype()));
        value = t->data<T>()[0];
      };
      bound(1, lo);
      bound(2, hi);
    }
    // min(max(x, lo), hi) as numpy.clip; comparisons written so NaN passes through.
    return map_unary<T, T>(x, [lo, hi](T v) { return v < lo ? lo : (v > hi ? hi : v); });
  }));
}

void leaky_relu(KernelContext& ctx) {
  const double alpha = ctx.node.attr_float("alpha", 0.01);
  float_activation(ctx, "LeakyRelu", [alpha](auto tag) {
    using T = decltype(tag);
    return [a = T(alpha)](T v) { return v < T(0) ? a * v : v; };
  });
}

void elu(KernelContext& ctx) {
  const double alpha = ctx.node.attr_float("alpha", 1.0);
  float_activation(ctx, "Elu", [alpha](auto tag) {
    using T = decltype(tag);
    return [a = T(alpha)](T v) { return v < T(0) ? a * std::expm1(v) : v; };
  });
}

void selu(KernelContext& ctx) {
  const double alpha = ctx.node.attr_float("alpha", 1.67326319217681884765625);
  const double gamma = ctx.node.attr_float("gamma", 1.05070102214813232421875);
  float_activation(ctx, "Selu", [=](auto tag) {
    using T = decltype(tag);
    return [a = T(alpha), g = T(gamma)](T v) { return v <= T(0) ? g * a * std::expm1(v) : g * v; };
  });
}

// Celu: max(0, x) + min(0, alpha * (exp(x / alpha) - 1)).
void celu(KernelContext& ctx) {
  const double alpha = ctx.node.attr_float("alpha", 1.0);
  if (alpha == 0.0) ctx.fail("Celu alpha must be non-zero");
  float_activation(ctx, "Celu", [alpha](auto tag) {
    using T = decltype(tag);
    return [a = T(alpha)](T v) { return v < T(0) ? a * std::expm1(v / a) : v; };
  });
}

void sigmoid_op(KernelContext& ctx) {
  float_activation(ctx, "Sigmoid", [](auto tag) {
    using T = decltype(tag);
    return [](T v) { return sigmoid(v); };
  });
}

// HardSigmoid: max(0, min(1, alpha * x + beta)).
void hard_sigmoid(KernelContext& ctx) {
  const double alpha = ctx.node.attr_float("alpha", 0.2);
  const double beta = ctx.node.attr_float("beta", 0.5);
  float_activation(ctx, "HardSigmoid", [=](auto tag) {
    using T = decltype(tag);
    return [a = T(alpha), b = T(beta)](T v) {
      T y = a * v + b;
      return y < T(0) ? T(0) : (y > T(1) ? T(1) : y);
    };
  });
}

// HardSwish: x * max(0, min(1, x / 6 + 0.5)).
void hard_swish(KernelContext& ctx) {
  float_activation(ctx, "HardSwish", [](auto tag) {
    using T = decltype(tag);
    return [](T v) {
      T y = v * T(1.0 / 6.0) + T(0.5);
      y = y < T(0) ? T(0) : (y > T(1) ? T(1) : y);
      return v * y;
    };
  });
}

void tanh_op(KernelContext& ctx) {
  float_activation(ctx, "Tanh", [](auto tag) {
    using T = decltype(tag);
    return [](T v) { return std::tanh(v); };
  });
}

void softplus_op(KernelContext& ctx) {
  float_activation(ctx, "Softplus", [](auto tag) {
    using T = decltype(tag);
    return [](T v) { return softplus(v); };
  });
}

void softsign(KernelContext& ctx) {
  float_activation(ctx, "Softsign", [](auto tag) {
    using T = decltype(tag);
    return [](T v) { return v / (T(1) + std::fabs(v)); };
  });
}

void thresholded_relu(KernelContext& ctx) {
  const double alpha = ctx.node.attr_float("alpha", 1.0);
  float_activation(ctx, "ThresholdedRelu", [alpha](auto tag) {
    using T = decltype(tag);
    return [a = T(alpha)](T v) { return v <= a ? T(0) : v; };  // NaN fails "<=" and passes through
  });
}

// Shrink: x < -lambd ? x + bias : (x > lambd ? x - bias : 0). Numeric types.
void shrink(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  const double lambd = ctx.node.attr_float("lambd", 0.5);
  const double bias = ctx.node.attr_float("bias", 0.0);
  ctx.set_output(0, dispatch_numeric(x.dtype(), "Shrink", [&](auto tag) {
    using T = decltype(tag);
    // Computed in double so integer inputs compare against fractional thresholds correctly.
    return map_unary<T, T>(x, [=](T v) {
      double d = static_cast<double>(v);
      if (d < -lambd) return static_cast<T>(d + bias);
      if (d > lambd) return static_cast<T>(d - bias);
      return std::isnan(d) ? v : T(0);
    });
  }));
}

// Mish: x * tanh(softplus(x)).
void mish(KernelContext& ctx) {
  float_activation(ctx, "Mish", [](auto tag) {
    using T = decltype(tag);
    return [](T v) { return v * std::tanh(softplus(v)); };
  });
}

TRANSFIX_KERNEL("Relu", relu);
TRANSFIX_KERNEL("Clip", clip);
TRANSFIX_KERNEL("LeakyRelu", leaky_relu);
TRANSFIX_KERNEL("Elu", elu);
TRANSFIX_KERNEL("Selu", selu);
TRANSFIX_KERNEL("Celu", celu);
TRANSFIX_KERNEL("Sigmoid", sigmoid_op);
TRANSFIX_KERNEL("HardSigmoid", hard_sigmoid);
TRANSFIX_KERNEL("HardSwish", hard_swish);
TRANSFIX_KERNEL("Tanh", tanh_op);
TRANSFIX_KERNEL("Softplus", softplus_op);
TRANSFIX_KERNEL("Softsign", softsign);
TRANSFIX_KERNEL("ThresholdedRelu", thresholded_relu);
TRANSFIX_KERNEL("Shrink", shrink);
TRANSFIX_KERNEL("Mish", mish);

}  // namespace
}  // namespace transfix
