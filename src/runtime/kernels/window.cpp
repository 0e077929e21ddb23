#include "runtime/kernels/window.h"

#include <algorithm>
#include <string>

namespace transfix {

namespace {
constexpr int64_t kMaxWindowValue = int64_t{1} << 31;  // keeps (k - 1) * d and friends far from overflow
}

std::vector<int64_t> spatial_attr(const KernelContext& ctx, const char* name, size_t rank, int64_t def) {
  if (!ctx.node.has_attr(name)) return std::vector<int64_t>(rank, def);
  std::vector<int64_t> v = ctx.node.attr_ints(name);
  if (v.size() != rank)
    ctx.fail(std::string(name) + " has " + std::to_string(v.size()) + " values, expected " + std::to_string(rank));
  for (int64_t x : v)
    if (x < 1 || x >= kMaxWindowValue) ctx.fail(std::string(name) + " value " + std::to_string(x) + " is out of range");
  return v;
}

WindowGeometry window_geometry(const KernelContext& ctx, const std::vector<int64_t>& in_spatial,
                               const std::vector<int64_t>& kernel, bool ceil_mode) {
  const size_t rank = in_spatial.size();
  WindowGeometry g;
  g.in = in_spatial;
  g.kernel = kernel;
  if (kernel.size() != rank) ctx.fail("kernel has " + std::to_string(kernel.size()) + " dims, input has " + std::to_string(rank) + " spatial dims");
  for (int64_t k : kernel)
    if (k < 1 || k >= kMaxWindowValue) ctx.fail("kernel size " + std::to_string(k) + " is out of range");
  g.strides = spatial_attr(ctx, "strides", rank, 1);
  g.dilations = spatial_attr(ctx, "dilations", rank, 1);
  g.pad_begin.assign(rank, 0);
  g.pad_end.assign(rank, 0);
  g.out.assign(rank, 0);

  const std::string auto_pad = ctx.node.attr_string("auto_pad", "NOTSET");
  const bool same = auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER";
  if (auto_pad == "NOTSET") {
    std::vector<int64_t> pads = ctx.node.attr_ints("pads", std::vector<int64_t>(2 * rank, 0));
    if (pads.size() != 2 * rank) ctx.fail("pads has " + std::to_string(pads.size()) + " values, expected " + std::to_string(2 * rank));
    for (int64_t p : pads)
      if (p < 0 || p >= kMaxWindowValue) ctx.fail("pad " + std::to_string(p) + " is out of range");
    for (size_t i = 0; i < rank; ++i) g.pad_begin[i] = pads[i], g.pad_end[i] = pads[i + rank];
  } else if (!same && auto_pad != "VALID") {
    ctx.fail("unknown auto_pad '" + auto_pad + "'");
  }

  for (size_t i = 0; i < rank; ++i) {
    const int64_t span = (g.kernel[i] - 1) * g.dilations[i] + 1;  // extent of one dilated window
    const int64_t s = g.strides[i];
    if (same) {
      g.out[i] = ceil_div(g.in[i], s);
      const int64_t total = std::max<int64_t>(0, (g.out[i] - 1) * s + span - g.in[i]);
      g.pad_begin[i] = auto_pad == "SAME_UPPER" ? total / 2 : total - total / 2;
      g.pad_end[i] = total - g.pad_begin[i];
      continue;
    }
    const int64_t room = g.in[i] + g.pad_begin[i] + g.pad_end[i] - span;
    if (room < 0)
      ctx.fail("window of extent " + std::to_string(span) + " does not fit in input of size " + std::to_string(g.in[i]) + " plus padding");
    g.out[i] = (ceil_mode ? ceil_div(room, s) : room / s) + 1;
    // A last window starting in the end padding would see only padding: drop it (PyTorch, ONNX >= 1.16).
    if (ceil_mode && (g.out[i] - 1) * s >= g.in[i] + g.pad_begin[i]) --g.out[i];
  }
  return g;
}

Window3D to_3d(const WindowGeometry& g, const char* op) {
  const size_t rank = g.rank();
  if (rank < 1 || rank > 3)
    throw UnsupportedError(std::string(op) + " with " + std::to_string(rank) + " spatial dims is not supported (1 to 3 are)", op);
  Window3D w;
  const size_t shift = 3 - rank;
  for (size_t i = 0; i < rank; ++i) {
    w.in[shift + i] = g.in[i];
    w.k[shift + i] = g.kernel[i];
    w.s[shift + i] = g.strides[i];
    w.d[shift + i] = g.dilations[i];
    w.p[shift + i] = g.pad_begin[i];
    w.out[shift + i] = g.out[i];
  }
  return w;
}

}  // namespace transfix
