// Slice (attributes before opset 10, inputs from 10). Per sliced axis, with dim d and step s:
//   start, end < 0 are taken from the back (+d); then clamped to [0, d] (s > 0) or [0, d-1] / [-1, d-1]
//   (s < 0, start / end); count = max(0, ceil((end - start) / s)).
// The result is a strided view of the input (stride * step per axis), copied with strided_copy.
#include <algorithm>

#include "runtime/kernel_util.h"
#include "runtime/kernels/copy_util.h"

namespace transfix {
namespace {

struct AxisRange {
  int64_t start = 0, step = 1, count = 0;
};

AxisRange clamp_range(int64_t start, int64_t end, int64_t step, int64_t dim) {
  // Values like INT64_MIN / INT64_MAX mean "from the very start / to the very end": clamp before adding.
  start = std::clamp<int64_t>(start, -dim - 1, dim + 1);
  end = std::clamp<int64_t>(end, -dim - 1, dim + 1);
  step = std::clamp<int64_t>(step, -dim - 1, dim + 1);  // |step| > dim takes at most one element anyway
  if (start < 0) start += dim;
  if (end < 0) end += dim;
  if (step > 0) {
    start = std::clamp<int64_t>(start, 0, dim);
    end = std::clamp<int64_t>(end, 0, dim);
  } else {
    start = std::clamp<int64_t>(start, 0, dim - 1);
    end = std::clamp<int64_t>(end, -1, dim - 1);
  }
  AxisRange r{start, step, 0};
  if (step > 0 && end > start) r.count = (end - start + step - 1) / step;
  if (step < 0 && end < start) r.count = (start - end + (-step) - 1) / (-step);
  return r;
}

void slice(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  const int64_t rank = x.rank();
  std::vector<int64_t> starts, ends, axes, steps;
  if (ctx.opset < 10) {
    starts = ctx.node.attr_ints("starts");
    ends = ctx.node.attr_ints("ends");
    axes = ctx.node.attr_ints("axes");
  } else {
    starts = int_list_input(ctx, ctx.input(1), "starts");
    ends = int_list_input(ctx, ctx.input(2), "ends");
    if (const Tensor* a = ctx.optional_input(3)) axes = int_list_input(ctx, *a, "axes");
    if (const Tensor* s = ctx.optional_input(4)) steps = int_list_input(ctx, *s, "steps");
  }
  if (starts.size() != ends.size()) ctx.fail("starts and ends have different lengths");
  if (axes.empty())
    for (size_t i = 0; i < starts.size(); ++i) axes.push_back(static_cast<int64_t>(i));
  if (steps.empty()) steps.assign(starts.size(), 1);
  if (axes.size() != starts.size() || steps.size() != starts.size()) ctx.fail("starts, ends, axes and steps must have one length");

  std::vector<AxisRange> ranges(static_cast<size_t>(rank));
  std::vector<bool> seen(static_cast<size_t>(rank), false);
  for (int64_t d = 0; d < rank; ++d) ranges[static_cast<size_t>(d)] = {0, 1, x.shape()[static_cast<size_t>(d)]};
  for (size_t i = 0; i < axes.size(); ++i) {
    if (axes[i] < -rank || axes[i] >= rank) ctx.fail("axis " + std::to_string(axes[i]) + " out of range for rank " + std::to_string(rank));
    size_t a = static_cast<size_t>(axes[i] < 0 ? axes[i] + rank : axes[i]);
    if (seen[a]) ctx.fail("axis " + std::to_string(axes[i]) + " is repeated");
    seen[a] = true;
    if (steps[i] == 0) ctx.fail("step must not be zero");
    ranges[a] = clamp_range(starts[i], ends[i], steps[i], x.shape()[a]);
  }

  const auto strides = contiguous_strides(x.shape());
  Shape out_shape;
  std::vector<int64_t> view_strides;
  int64_t offset = 0;
  for (size_t d = 0; d < ranges.size(); ++d) {
    out_shape.push_back(ranges[d].count);
    view_strides.push_back(strides[d] * ranges[d].step);
    if (ranges[d].count > 0) offset += ranges[d].start * strides[d];
  }
  Tensor out(x.dtype(), out_shape);
  strided_copy(x.raw(), out.raw_mutable(), out_shape, view_strides, offset, dtype_size(x.dtype()));
  ctx.set_output(0, out);
}

TRANSFIX_KERNEL_INFO("Slice", (KernelInfo{slice, true}));

}  // namespace
}  // namespace transfix
