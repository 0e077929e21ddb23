// Concat and Split along one axis. Both see a tensor as [outer, axis_dim * inner] rows and move
// whole contiguous chunks (axis_dim_i * inner elements) with memcpy.
#include <cstring>
#include <numeric>

#include "runtime/kernel_util.h"
#include "runtime/kernels/copy_util.h"
#include "core/thread_pool.h"

namespace transfix {
namespace {


void concat(KernelContext& ctx) {
  std::vector<const Tensor*> ins;
  for (size_t i = 0; i < ctx.num_inputs(); ++i)
    if (ctx.has_input(i)) ins.push_back(&ctx.input(i));
  if (ins.empty()) ctx.fail("needs at least one input");
  const Tensor& first = *ins[0];
  const int64_t r = first.rank();
  if (r == 0) ctx.fail("cannot concatenate scalars");
  if (!ctx.node.has_attr("axis") && ctx.opset >= 4) ctx.fail("axis attribute is required");
  const int64_t axis = normalize_axis(ctx.node.attr_int("axis", 1), r);
  const size_t ua = static_cast<size_t>(axis);
  Shape out_shape = first.shape();
  out_shape[ua] = 0;
  for (const Tensor* t : ins) {
    if (t->dtype() != first.dtype()) ctx.fail("inputs have different dtypes");
    if (t->rank() != r) ctx.fail("inputs have different ranks");
    for (size_t d = 0; d < static_cast<size_t>(r); ++d)
      if (d != ua && t->shape()[d] != first.shape()[d])
        ctx.fail("input shapes " + shape_str(first.shape()) + " and " + shape_str(t->shape()) + " differ outside the axis");
    out_shape[ua] += t->shape()[ua];
  }
  Tensor out(first.dtype(), out_shape);
  const size_t es = dtype_size(first.dtype());
  const int64_t outer = shape_product(out_shape, 0, ua), inner = shape_product(out_shape, ua + 1, out_shape.size());
  const int64_t out_row = out_shape[ua] * inner;
  auto* dst = static_cast<uint8_t*>(out.raw_mutable());
  parallel_for(outer, [&](int64_t begin, int64_t end) {
    for (int64_t o = begin; o < end; ++o) {
      int64_t at = o * out_row;
      for (const Tensor* t : ins) {
        const int64_t chunk = t->shape()[ua] * inner;
        std::memcpy(dst + at * es, static_cast<const uint8_t*>(t->raw()) + o * chunk * es, static_cast<size_t>(chunk) * es);
        at += chunk;
      }
    }
  }, std::max<int64_t>(1, 16384 / std::max<int64_t>(out_row, 1)));
  ctx.set_output(0, out);
}

// Split sizes: `split` attribute (< 13) or input #1 (>= 13); equal parts otherwise.
std::vector<int64_t> split_sizes(KernelContext& ctx, int64_t dim) {
  std::vector<int64_t> sizes;
  if (ctx.node.has_attr("split")) sizes = ctx.node.attr_ints("split");
  else if (const Tensor* s = ctx.opset >= 13 ? ctx.optional_input(1) : nullptr) sizes = int_list_input(ctx, *s, "split");
  const int64_t n = static_cast<int64_t>(ctx.num_outputs());
  if (sizes.empty() && ctx.node.has_attr("num_outputs")) {
    // Opset 18: num_outputs parts of ceil(dim / num_outputs), the last one smaller when it does not divide.
    const int64_t parts = ctx.node.attr_int("num_outputs", 0);
    if (parts != n || parts < 1 || dim < parts) ctx.fail("num_outputs " + std::to_string(parts) + " for " + std::to_string(n) +
                                                        " outputs and an axis dim of " + std::to_string(dim));
    const int64_t chunk = (dim + parts - 1) / parts;
    std::vector<int64_t> even(static_cast<size_t>(parts), chunk);
    even.back() = dim - chunk * (parts - 1);
    if (even.back() <= 0) ctx.fail("axis dim " + std::to_string(dim) + " leaves no element for the last of " + std::to_string(parts) + " outputs");
    return even;
  }
  if (sizes.empty()) {
    if (n == 0 || dim % n != 0) ctx.fail("axis dim " + std::to_string(dim) + " cannot be split into " + std::to_string(n) + " equal parts");
    return std::vector<int64_t>(static_cast<size_t>(n), dim / n);
  }
  if (static_cast<int64_t>(sizes.size()) != n) ctx.fail("split has " + std::to_string(sizes.size()) + " entries for " + std::to_string(n) + " outputs");
  int64_t total = 0;
  for (int64_t s : sizes) {
    if (s < 0) ctx.fail("negative split size");
    total += s;
  }
  if (total != dim) ctx.fail("split sizes sum to " + std::to_string(total) + ", axis dim is " + std::to_string(dim));
  return sizes;
}

void split(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  if (x.rank() == 0) ctx.fail("cannot split a scalar");
  const size_t ua = static_cast<size_t>(normalize_axis(ctx.node.attr_int("axis", 0), x.rank()));
  const auto sizes = split_sizes(ctx, x.shape()[ua]);
  const size_t es = dtype_size(x.dtype());
  const int64_t outer = shape_product(x.shape(), 0, ua), inner = shape_product(x.shape(), ua + 1, x.shape().size());
  const int64_t in_row = x.shape()[ua] * inner;
  const auto* src = static_cast<const uint8_t*>(x.raw());
  int64_t start = 0;
  for (size_t i = 0; i < sizes.size(); ++i) {
    Shape s = x.shape();
    s[ua] = sizes[i];
    const int64_t chunk = sizes[i] * inner;
    if (ctx.wants_output(i)) {
      Tensor out(x.dtype(), s);
      auto* dst = static_cast<uint8_t*>(out.raw_mutable());
      for (int64_t o = 0; o < outer; ++o)
        std::memcpy(dst + o * chunk * es, src + (o * in_row + start) * es, static_cast<size_t>(chunk) * es);
      ctx.set_output(i, out);
    }
    start += chunk;
  }
}

TRANSFIX_KERNEL_INFO("Concat", (KernelInfo{concat, true}));
TRANSFIX_KERNEL_INFO("Split", (KernelInfo{split, true}));

}  // namespace
}  // namespace transfix
