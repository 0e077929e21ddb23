// Pad: modes constant / reflect / edge, and "symmetric" (a transfix extension for TFLite's MIRROR_PAD
// SYMMETRIC, which ONNX lacks: the mirror repeats the edge, a b c -> b a | a b c | c b). Pads come from the `pads` (or opset-1 `paddings`) attribute
// before opset 11, and from input #1 from opset 11 (with optional constant_value #2 and axes #3).
// Negative pads crop. Each output coordinate maps to an input coordinate per axis (or to "outside",
// which only happens in constant mode); rows along the last axis copy their inner part with memcpy.
#include <algorithm>
#include <cstring>

#include "runtime/kernel_util.h"
#include "runtime/kernels/copy_util.h"
#include "core/thread_pool.h"

namespace transfix {
namespace {

enum class PadMode { kConstant, kReflect, kEdge, kSymmetric };

// Input coordinate for each output coordinate of one axis; -1 = padding value (constant mode).
// The axis is first cropped by negative pads to [lo, lo + len), then padded by the positive ones.
std::vector<int64_t> axis_map(const KernelContext& ctx, int64_t dim, int64_t before, int64_t after, PadMode mode) {
  const int64_t lo = std::max<int64_t>(-before, 0);
  const int64_t len = dim - lo - std::max<int64_t>(-after, 0);
  const int64_t pb = std::max<int64_t>(before, 0), pa = std::max<int64_t>(after, 0);
  if (len < 0) ctx.fail("negative pads crop more than the axis holds");
  if (len == 0 && pb + pa > 0 && mode != PadMode::kConstant) ctx.fail("cannot reflect or edge-pad an empty axis");
  std::vector<int64_t> map(static_cast<size_t>(len + pb + pa));
  for (int64_t o = 0; o < static_cast<int64_t>(map.size()); ++o) {
    int64_t j = o - pb;
    if (j < 0 || j >= len) {
      if (mode == PadMode::kConstant) { map[static_cast<size_t>(o)] = -1; continue; }
      if (mode == PadMode::kEdge || len == 1) {
        j = std::clamp<int64_t>(j, 0, len - 1);
      } else if (mode == PadMode::kSymmetric) {  // mirror repeating the edges: period 2 * len
        const int64_t period = 2 * len;
        j %= period;
        if (j < 0) j += period;
        if (j >= len) j = period - 1 - j;
      } else {  // reflect about the edges without repeating them: period 2 * (len - 1)
        const int64_t period = 2 * (len - 1);
        j %= period;
        if (j < 0) j += period;
        if (j >= len) j = period - j;
      }
    }
    map[static_cast<size_t>(o)] = lo + j;
  }
  return map;
}

void pad(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  const int64_t r = x.rank();
  const std::string mode_name = ctx.node.attr_string("mode", "constant");
  PadMode mode;
  if (mode_name == "constant") mode = PadMode::kConstant;
  else if (mode_name == "reflect") mode = PadMode::kReflect;
  else if (mode_name == "edge") mode = PadMode::kEdge;
  else if (mode_name == "symmetric") mode = PadMode::kSymmetric;
  else if (mode_name == "wrap") throw UnsupportedError("Pad mode 'wrap' is not supported", "Pad");
  else ctx.fail("unknown mode '" + mode_name + "'");

  std::vector<int64_t> pads, axes;
  Tensor value = Tensor::scalar<double>(0.0).cast(x.dtype());  // the padding element, in x's dtype
  if (ctx.opset < 11) {
    pads = ctx.node.has_attr("pads") ? ctx.node.attr_ints("pads") : ctx.node.attr_ints("paddings");
    value = Tensor::scalar<double>(ctx.node.attr_float("value", 0.0)).cast(x.dtype());
  } else {
    pads = int_list_input(ctx, ctx.input(1), "pads");
    if (const Tensor* v = ctx.optional_input(2)) {
      if (v->numel() != 1) ctx.fail("constant_value must have one element");
      if (v->dtype() != x.dtype()) ctx.fail("constant_value dtype differs from data");
      value = *v;
    }
    if (const Tensor* a = ctx.optional_input(3)) axes = int_list_input(ctx, *a, "axes");
  }
  if (axes.empty())
    for (int64_t i = 0; i < r; ++i) axes.push_back(i);
  const size_t na = axes.size();
  if (pads.size() != 2 * na) ctx.fail("pads has " + std::to_string(pads.size()) + " entries, expected " + std::to_string(2 * na));

  std::vector<int64_t> before(static_cast<size_t>(r), 0), after(static_cast<size_t>(r), 0);
  for (size_t i = 0; i < na; ++i) {
    const size_t a = static_cast<size_t>(normalize_axis(axes[i], r));
    before[a] = pads[i];
    after[a] = pads[i + na];
  }
  // Output shape first: a hostile pad fails here (size cap) before any per-axis table is built.
  Shape out_shape;
  for (size_t d = 0; d < static_cast<size_t>(r); ++d) {
    const int64_t b = before[d], a = after[d], n = x.shape()[d];
    if (b > (int64_t{1} << 40) || a > (int64_t{1} << 40) || b < -n || a < -n) ctx.fail("pads out of range for axis dim " + std::to_string(n));
    out_shape.push_back(n + b + a);
  }
  if (shape_numel(out_shape) == 0 || r == 0) {
    Tensor out(x.dtype(), out_shape);
    if (r == 0) std::memcpy(out.raw_mutable(), x.raw(), dtype_size(x.dtype()));
    ctx.set_output(0, out);
    return;
  }
  Tensor out(x.dtype(), out_shape);
  std::vector<std::vector<int64_t>> maps;
  out_shape.clear();
  for (size_t d = 0; d < static_cast<size_t>(r); ++d) {
    maps.push_back(axis_map(ctx, x.shape()[d], before[d], after[d], mode));
    out_shape.push_back(static_cast<int64_t>(maps.back().size()));
  }
  const size_t es = dtype_size(x.dtype());
  const auto in_strides = contiguous_strides(x.shape());
  const auto& last = maps.back();
  const int64_t row_len = out_shape.back(), rows = out.numel() / row_len;
  // The part of the last axis that maps to consecutive input elements: one memcpy.
  int64_t mid_begin = 0;
  while (mid_begin < row_len && last[static_cast<size_t>(mid_begin)] < 0) ++mid_begin;
  int64_t mid_end = mid_begin;
  while (mid_end < row_len && last[static_cast<size_t>(mid_end)] >= 0 &&
         last[static_cast<size_t>(mid_end)] == last[static_cast<size_t>(mid_begin)] + (mid_end - mid_begin))
    ++mid_end;

  const auto* src = static_cast<const uint8_t*>(x.raw());
  auto* dst = static_cast<uint8_t*>(out.raw_mutable());
  parallel_for(rows, [&](int64_t begin, int64_t end) {
    for (int64_t row = begin; row < end; ++row) {
      uint8_t* o = dst + static_cast<size_t>(row * row_len) * es;
      int64_t in_off = 0, rem = row;
      bool outside = false;
      for (int64_t d = r - 2; d >= 0; --d) {
        const size_t u = static_cast<size_t>(d);
        const int64_t c = maps[u][static_cast<size_t>(rem % out_shape[u])];
        rem /= out_shape[u];
        if (c < 0) { outside = true; break; }
        in_off += c * in_strides[u];
      }
      for (int64_t j = 0; j < row_len; ++j) {
        if (j == mid_begin && !outside && mid_end > mid_begin) {
          std::memcpy(o + j * es, src + static_cast<size_t>(in_off + last[static_cast<size_t>(j)]) * es,
                      static_cast<size_t>(mid_end - mid_begin) * es);
          j = mid_end - 1;
          continue;
        }
        const int64_t c = last[static_cast<size_t>(j)];
        const void* from = (outside || c < 0) ? value.raw() : src + static_cast<size_t>(in_off + c) * es;
        std::memcpy(o + j * es, from, es);
      }
    }
  }, std::max<int64_t>(1, 16384 / std::max<int64_t>(row_len, 1)));
  ctx.set_output(0, out);
}

TRANSFIX_KERNEL_INFO("Pad", (KernelInfo{pad, true}));

}  // namespace
}  // namespace transfix
