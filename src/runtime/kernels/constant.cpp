// Tensors made from attributes or from shapes: Constant, ConstantOfShape, Shape, Size, Range, EyeLike.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "runtime/kernel_util.h"
#include "runtime/kernels/copy_util.h"

namespace transfix {
namespace {

// Constant: exactly one of value / value_float / value_floats / value_int / value_ints.
void constant(KernelContext& ctx) {
  const Node& n = ctx.node;
  if (const Tensor* t = n.attr_tensor("value")) { ctx.set_output(0, ctx.promote(*t)); return; }
  if (n.has_attr("value_float")) {
    ctx.set_output(0, ctx.promote(Tensor::scalar<float>(static_cast<float>(n.attr_float("value_float", 0)))));
    return;
  }
  if (n.has_attr("value_floats")) {
    auto v = n.attr_floats("value_floats");
    std::vector<float> f(v.begin(), v.end());
    ctx.set_output(0, ctx.promote(Tensor::from_vector<float>(f, {static_cast<int64_t>(f.size())})));
    return;
  }
  if (n.has_attr("value_int")) { ctx.set_output(0, Tensor::scalar<int64_t>(n.attr_int("value_int", 0))); return; }
  if (n.has_attr("value_ints")) {
    auto v = n.attr_ints("value_ints");
    ctx.set_output(0, Tensor::from_vector<int64_t>(v, {static_cast<int64_t>(v.size())}));
    return;
  }
  if (n.has_attr("value_string") || n.has_attr("value_strings") || n.has_attr("sparse_value"))
    throw UnsupportedError("Constant with string or sparse values is not supported", "Constant");
  ctx.fail("no value attribute");
}

// ConstantOfShape: a tensor of the given shape filled with `value` (one element; default float32 0).
void constant_of_shape(KernelContext& ctx) {
  Shape shape = int_list_input(ctx, ctx.input(0), "shape");
  if (ctx.input(0).rank() > 1) ctx.fail("shape input must be 1-D");
  for (int64_t d : shape)
    if (d < 0) ctx.fail("negative dimension in shape " + shape_str(shape));
  Tensor value = Tensor::scalar<float>(0.0f);
  if (const Tensor* v = ctx.node.attr_tensor("value")) {
    if (v->numel() != 1) ctx.fail("value must have exactly one element");
    value = *v;
  }
  value = ctx.promote(value);
  Tensor out(value.dtype(), shape);
  const size_t es = dtype_size(value.dtype());
  auto* dst = static_cast<uint8_t*>(out.raw_mutable());
  for (int64_t i = 0; i < out.numel(); ++i) std::memcpy(dst + static_cast<size_t>(i) * es, value.raw(), es);
  ctx.set_output(0, out);
}

// Shape (opset 15: optional start/end slice of the dims, clamped like Python slicing).
void shape_op(KernelContext& ctx) {
  const Shape& s = ctx.input(0).shape();
  const int64_t r = static_cast<int64_t>(s.size());
  auto clamp_index = [r](int64_t i) { return std::clamp<int64_t>(i < 0 ? i + r : i, 0, r); };
  int64_t start = clamp_index(ctx.node.attr_int("start", 0));
  int64_t end = ctx.node.has_attr("end") ? clamp_index(ctx.node.attr_int("end", r)) : r;
  std::vector<int64_t> dims;
  for (int64_t i = start; i < end; ++i) dims.push_back(s[static_cast<size_t>(i)]);
  ctx.set_output(0, Tensor::from_vector<int64_t>(dims, {static_cast<int64_t>(dims.size())}));
}

void size_op(KernelContext& ctx) { ctx.set_output(0, Tensor::scalar<int64_t>(ctx.input(0).numel())); }

// Range: output[i] = start + i * delta, for i < max(ceil((limit - start) / delta), 0).
void range(KernelContext& ctx) {
  const Tensor& start_t = ctx.input(0);
  const Tensor& limit_t = ctx.input(1);
  const Tensor& delta_t = ctx.input(2);
  if (start_t.numel() != 1 || limit_t.numel() != 1 || delta_t.numel() != 1) ctx.fail("start, limit and delta must be scalars");
  if (limit_t.dtype() != start_t.dtype() || delta_t.dtype() != start_t.dtype()) ctx.fail("start, limit and delta must have one dtype");
  dispatch_numeric(start_t.dtype(), "Range", [&](auto tag) {
    using T = decltype(tag);
    const T start = start_t.data<T>()[0], limit = limit_t.data<T>()[0], delta = delta_t.data<T>()[0];
    if (delta == T(0)) ctx.fail("delta must not be zero");
    double count_f = std::ceil((static_cast<double>(limit) - static_cast<double>(start)) / static_cast<double>(delta));
    if (!(count_f < 9.0e15)) ctx.fail("range is too large or not finite");  // NaN fails here too
    int64_t count = std::max<int64_t>(static_cast<int64_t>(count_f), 0);
    Tensor out(start_t.dtype(), {count});  // size cap enforced by Tensor
    T* o = out.mutable_data<T>();
    for (int64_t i = 0; i < count; ++i) o[i] = static_cast<T>(start + static_cast<T>(i) * delta);
    ctx.set_output(0, out);
  });
}

// EyeLike: a 2-D tensor with ones on diagonal k (column = row + k), zeros elsewhere.
void eye_like(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  if (x.rank() != 2) ctx.fail("input must be 2-D, got " + shape_str(x.shape()));
  DType dt = x.dtype();
  if (ctx.node.has_attr("dtype")) {
    dt = dtype_from_onnx(ctx.node.attr_int("dtype", 0));
    if (dt == DType::kUndefined) ctx.fail("unsupported dtype code " + std::to_string(ctx.node.attr_int("dtype", 0)));
  }
  dt = ctx.float_out(dt);
  const int64_t k = ctx.node.attr_int("k", 0), rows = x.dim(0), cols = x.dim(1);
  Tensor one = Tensor::scalar<double>(1.0).cast(dt);
  Tensor out(dt, x.shape());
  const size_t es = dtype_size(dt);
  auto* dst = static_cast<uint8_t*>(out.raw_mutable());
  for (int64_t i = 0; i < rows; ++i) {
    int64_t j = i + k;
    if (j >= 0 && j < cols) std::memcpy(dst + static_cast<size_t>(i * cols + j) * es, one.raw(), es);
  }
  ctx.set_output(0, out);
}

TRANSFIX_KERNEL_INFO("Constant", (KernelInfo{constant, true}));
TRANSFIX_KERNEL_INFO("ConstantOfShape", (KernelInfo{constant_of_shape, true}));
TRANSFIX_KERNEL_INFO("Shape", (KernelInfo{shape_op, true}));
TRANSFIX_KERNEL_INFO("Size", (KernelInfo{size_op, true}));
TRANSFIX_KERNEL("Range", range);
TRANSFIX_KERNEL_INFO("EyeLike", (KernelInfo{eye_like, true}));

}  // namespace
}  // namespace transfix
