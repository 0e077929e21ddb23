#include "runtime/kernels/conv_dnnl.h"

#include <omp.h>

#include <cstdlib>
#include <cstring>
#include <oneapi/dnnl/dnnl.hpp>
#include <optional>
#include <unordered_map>
#include <string>
#include <vector>

#include "core/thread_pool.h"

namespace transfix {
namespace {

using dnnl::memory;
using Tag = memory::format_tag;

const dnnl::engine& cpu_engine() {
  static const dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  return engine;
}

// Everything the primitive was built from: a node whose inputs or attributes differ rebuilds.
std::vector<int64_t> signature(const Tensor& x, const Tensor& weights, const Tensor* bias, const DnnlConvRequest& r) {
  std::vector<int64_t> s(x.shape().begin(), x.shape().end());
  s.insert(s.end(), weights.shape().begin(), weights.shape().end());
  const WindowGeometry& g = *r.geo;
  for (const auto* v : {&g.strides, &g.dilations, &g.pad_begin, &g.pad_end}) s.insert(s.end(), v->begin(), v->end());
  float lo = r.activation.lo, hi = r.activation.hi;
  int32_t lo_bits, hi_bits;
  std::memcpy(&lo_bits, &lo, 4);
  std::memcpy(&hi_bits, &hi, 4);
  s.insert(s.end(), {r.group, r.nhwc, static_cast<int64_t>(r.weight_layout), static_cast<int64_t>(r.activation.kind),
                     lo_bits, hi_bits, bias != nullptr, num_threads()});
  return s;
}

// The stored weights as oneDNN's logical [G,] O/G, I/G, K... dims with the strides of the layout.
memory::desc user_weights_desc(const Tensor& weights, const DnnlConvRequest& r, int64_t out_channels, int64_t group_in) {
  const size_t rank = r.geo->rank();
  const std::vector<int64_t>& k = r.geo->kernel;
  const int64_t group_out = out_channels / r.group;
  int64_t kernel_size = 1;
  for (int64_t v : k) kernel_size *= v;
  std::vector<int64_t> ks(rank);  // strides of the kernel dims
  int64_t g_stride, o_stride, i_stride;
  // Innermost kernel dim stride, then the rest row-major.
  int64_t inner = r.weight_layout == ConvWeightLayout::kOIHW ? 1
                  : r.weight_layout == ConvWeightLayout::kOHWI ? group_in
                                                               : out_channels;
  for (size_t j = rank; j-- > 0;) {
    ks[j] = inner;
    inner *= k[j];
  }
  switch (r.weight_layout) {
    case ConvWeightLayout::kOIHW: i_stride = kernel_size, o_stride = group_in * kernel_size; break;
    case ConvWeightLayout::kOHWI: i_stride = 1, o_stride = kernel_size * group_in; break;
    default: i_stride = 1, o_stride = 1; break;  // 1HWO: one input channel per group, outputs innermost
  }
  g_stride = r.weight_layout == ConvWeightLayout::k1HWO ? group_out : group_out * o_stride;
  memory::dims dims, strides;
  if (r.group > 1) dims.push_back(r.group), strides.push_back(g_stride);
  dims.insert(dims.end(), {group_out, group_in});
  strides.insert(strides.end(), {o_stride, i_stride});
  dims.insert(dims.end(), k.begin(), k.end());
  strides.insert(strides.end(), ks.begin(), ks.end());
  (void)weights;
  return memory::desc(dims, memory::data_type::f32, strides);
}

Tag plain_tag(size_t spatial_rank, bool nhwc) {
  switch (spatial_rank) {
    case 1: return nhwc ? Tag::nwc : Tag::ncw;
    case 2: return nhwc ? Tag::nhwc : Tag::nchw;
    default: return nhwc ? Tag::ndhwc : Tag::ncdhw;
  }
}

struct DnnlConv {
  std::vector<int64_t> signature;
  Tensor weights_ref, bias_ref;  // hold the buffers: their addresses identify the cached weights
  dnnl::convolution_forward conv;
  memory::desc src_md, dst_md, user_src_md, user_dst_md;
  std::optional<dnnl::reorder> src_reorder, dst_reorder;
  memory weights, bias;
};

std::unique_ptr<DnnlConv> build(const Tensor& x, const Tensor& weights, const Tensor* bias, const DnnlConvRequest& r,
                                const Shape& y_shape) {
  const auto& engine = cpu_engine();
  const WindowGeometry& g = *r.geo;
  const size_t rank = g.rank();
  const int64_t channels = r.nhwc ? x.shape().back() : x.dim(1);
  const int64_t out_channels = r.nhwc ? y_shape.back() : y_shape[1];
  memory::dims src_dims{x.dim(0), channels}, dst_dims{x.dim(0), out_channels};
  memory::dims strides, dilates, pad_l, pad_r;
  for (size_t j = 0; j < rank; ++j) {
    src_dims.push_back(g.in[j]);
    dst_dims.push_back(g.out[j]);
    strides.push_back(g.strides[j]);
    dilates.push_back(g.dilations[j] - 1);
    pad_l.push_back(g.pad_begin[j]);
    // The end padding the last window actually reaches (ONNX allows pads it never uses).
    const int64_t used = (g.out[j] - 1) * g.strides[j] + (g.kernel[j] - 1) * g.dilations[j] + 1 - g.in[j] - g.pad_begin[j];
    pad_r.push_back(used);
  }
  auto state = std::make_unique<DnnlConv>();
  const auto f32 = memory::data_type::f32;
  const Tag plain = plain_tag(rank, r.nhwc);
  state->user_src_md = memory::desc(src_dims, f32, plain);
  state->user_dst_md = memory::desc(dst_dims, f32, plain);
  // NCHW models: oneDNN picks its own activation layout (measured: plain NCHW makes it fall back to
  // GEMM-based kernels slower than ours), paid for by a reorder on each side of the call.
  const bool any = !r.nhwc;
  const memory::desc src_any = any ? memory::desc(src_dims, f32, Tag::any) : state->user_src_md;
  const memory::desc dst_any = any ? memory::desc(dst_dims, f32, Tag::any) : state->user_dst_md;
  const int64_t group_in = channels / r.group;
  const memory::desc user_weights = user_weights_desc(weights, r, out_channels, group_in);
  memory::dims wdims = user_weights.dims();
  const memory::desc weights_any(wdims, f32, Tag::any);
  const memory::desc bias_md = bias ? memory::desc({out_channels}, f32, Tag::a) : memory::desc();

  dnnl::post_ops ops;
  if (r.activation.kind == FusedActivation::Kind::kRelu) ops.append_eltwise(1.0f, dnnl::algorithm::eltwise_relu, 0.0f, 0.0f);
  if (r.activation.kind == FusedActivation::Kind::kClip)
    ops.append_eltwise(1.0f, dnnl::algorithm::eltwise_clip_v2, r.activation.lo, r.activation.hi);
  dnnl::primitive_attr attr;
  attr.set_post_ops(ops);
  dnnl::convolution_forward::desc desc(dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_direct, src_any,
                                       weights_any, bias_md, dst_any, strides, dilates, pad_l, pad_r);
  dnnl::convolution_forward::primitive_desc pd(desc, attr, engine);
  // oneDNN's reference loops are slower than our own: leave such cases to conv.cpp.
  if (std::string(pd.impl_info_str()).find("ref") != std::string::npos) return nullptr;
  state->conv = dnnl::convolution_forward(pd);
  state->src_md = pd.src_desc();
  state->dst_md = pd.dst_desc();
  if (state->src_md != state->user_src_md) state->src_reorder = dnnl::reorder(dnnl::reorder::primitive_desc(engine, state->user_src_md, engine, state->src_md));
  if (state->dst_md != state->user_dst_md) state->dst_reorder = dnnl::reorder(dnnl::reorder::primitive_desc(engine, state->dst_md, engine, state->user_dst_md));

  dnnl::stream stream(engine);
  state->weights = memory(pd.weights_desc(), engine);
  memory user_w(user_weights, engine, const_cast<float*>(weights.data<float>()));
  dnnl::reorder(user_w, state->weights).execute(stream, user_w, state->weights);
  if (bias) state->bias = memory(bias_md, engine, const_cast<float*>(bias->data<float>()));
  stream.wait();
  state->weights_ref = weights;
  if (bias) state->bias_ref = *bias;
  return state;
}

bool matches(const DnnlConv& s, const Tensor& weights, const Tensor* bias, const std::vector<int64_t>& sig) {
  if (s.signature != sig || s.weights_ref.storage() != weights.storage() ||
      s.weights_ref.data<float>() != weights.data<float>())
    return false;
  return !bias || (s.bias_ref.storage() == bias->storage() && s.bias_ref.data<float>() == bias->data<float>());
}

}  // namespace

bool conv_dnnl(KernelContext& ctx, const Tensor& x, const Tensor& weights, const Tensor* bias,
               const DnnlConvRequest& request, Tensor& y) {
  // TRANSFIX_DNNL=off: our own loops only (for measuring the difference).
  static const bool disabled = std::getenv("TRANSFIX_DNNL") && std::string(std::getenv("TRANSFIX_DNNL")) == "off";
  if (x.dtype() != DType::kF32 || disabled) return false;
  // Clip with min > max gives max everywhere (ONNX); oneDNN's clip is not asked to agree on that.
  if (request.activation.kind == FusedActivation::Kind::kClip && !(request.activation.lo <= request.activation.hi))
    return false;
  // NCHW 1x1 kernels stay with the OpenBLAS GEMM straight on the input (no unfolding there, and no
  // reorders, which oneDNN would need on both sides). Channels-last ones have no reorders to pay.
  int64_t kernel_size = 1;
  for (int64_t v : request.geo->kernel) kernel_size *= v;
  if (kernel_size == 1 && !request.nhwc) return false;
  // oneDNN runs its own OpenMP team: give it the thread count our pool has.
  if (omp_get_max_threads() != num_threads()) omp_set_num_threads(num_threads());
  std::shared_ptr<void> local;
  std::shared_ptr<void>& slot = ctx.node_state() ? *ctx.node_state() : local;
  const std::vector<int64_t> sig = signature(x, weights, bias, request);
  auto* state = static_cast<DnnlConv*>(slot.get());
  // Released weights (Interpreter::owning) exist only in the packed copy: it must fit this call.
  const bool released = ctx.input_released(1);
  if (!state || (released ? state->signature != sig : !matches(*state, weights, bias, sig))) {
    if (released)
      ctx.fail("its weights are held only in the layout packed for another input shape (an interpreter that owns "
               "the model runs one input shape)");
    std::unique_ptr<DnnlConv> built;
    try {
      built = build(x, weights, bias, request, y.shape());
    } catch (const dnnl::error&) {
      return false;  // no implementation for this case
    }
    if (!built) return false;
    built->signature = sig;
    // The packed copy is all this node needs from now on: let the interpreter free the model's.
    if (ctx.may_release_input(1)) {
      built->weights_ref = Tensor();
      ctx.release_input(1);
    }
    state = built.get();
    slot = std::shared_ptr<DnnlConv>(std::move(built));
  }
  const auto& engine = cpu_engine();
  static thread_local dnnl::stream stream(engine);
  // Reordered copies live in buffers reused from call to call (fresh ones would be page-faulted in).
  static thread_local std::vector<float> src_buffer, dst_buffer;
  auto scratch = [](std::vector<float>& buffer, const memory::desc& md) {
    const size_t floats = md.get_size() / sizeof(float) + 1;
    if (buffer.size() < floats) buffer.resize(floats);
    return buffer.data();
  };
  memory user_src(state->user_src_md, engine, const_cast<float*>(x.data<float>()));
  memory user_dst(state->user_dst_md, engine, y.mutable_data<float>());
  memory src = user_src, dst = user_dst;
  if (state->src_reorder) {
    src = memory(state->src_md, engine, scratch(src_buffer, state->src_md));
    state->src_reorder->execute(stream, user_src, src);
  }
  if (state->dst_reorder) dst = memory(state->dst_md, engine, scratch(dst_buffer, state->dst_md));
  std::unordered_map<int, memory> args{{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, state->weights}, {DNNL_ARG_DST, dst}};
  if (bias) args[DNNL_ARG_BIAS] = state->bias;
  state->conv.execute(stream, args);
  if (state->dst_reorder) state->dst_reorder->execute(stream, dst, user_dst);
  stream.wait();
  return true;
}

}  // namespace transfix
