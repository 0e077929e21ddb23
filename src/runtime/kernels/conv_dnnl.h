// fp32 Conv through oneDNN: its JIT kernels use AVX-512/AVX2 as the CPU offers (the im2col +
// OpenBLAS path reached a fraction of that on the same machine). The primitive and the weights,
// reordered into oneDNN's blocked layout, are built on the first run and kept in the node's state,
// so repeated runs only pay for the convolution itself. fp64 never comes here: it is the oracle
// and keeps the plain loops in conv.cpp.
#pragma once
#include <cstdint>

#include "core/tensor.h"
#include "runtime/kernel.h"
#include "runtime/kernels/window.h"

namespace transfix {

enum class ConvWeightLayout { kOIHW, kOHWI, k1HWO };  // ONNX; TFLite conv; TFLite depthwise

struct DnnlConvRequest {
  const WindowGeometry* geo;
  int64_t group = 1;
  bool nhwc = false;  // X [N, D..., C] and Y [N, D..., O] instead of [N, C, D...]
  ConvWeightLayout weight_layout = ConvWeightLayout::kOIHW;
  FusedActivation activation;  // applied by oneDNN as a post-op
};

// Writes every element of y (allocated with the output shape). Returns false, leaving y as it
// was, when oneDNN has no implementation for the case (the caller then uses its own loops).
bool conv_dnnl(KernelContext& ctx, const Tensor& x, const Tensor& weights, const Tensor* bias,
               const DnnlConvRequest& request, Tensor& y);

}  // namespace transfix
