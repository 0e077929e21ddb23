// Channels-last execution plan: a rewrite of an ONNX-style (NCHW) model in which 2-D convolutions
// and the ops between them run on NHWC tensors.
//
// Why: the fast convolution kernels (oneDNN's brgemm and depthwise kernels) want channels
// innermost. Handing them NCHW tensors costs a layout reorder on both sides of every convolution,
// which on MobileNet-sized layers takes longer than the convolution itself. Converting once where
// a channels-last region starts and once where it ends removes those reorders.
//
// The rewrite computes the same function: every value of the original graph that is used outside
// the channels-last region (graph outputs included) is produced under its own name and layout. It
// is an execution plan only: the interpreter uses it for fp32 runs that nobody observes, since an
// observer must see the model's own tensors (names, layouts, and every intermediate).
#pragma once
#include <memory>

#include "core/graph.h"

namespace transfix {

struct ChannelsLastStats {
  int convs = 0;       // convolutions that run channels-last
  int others = 0;      // other ops moved into the channels-last region
  int transposes = 0;  // layout conversions inserted at the region's borders
};

// The rewritten model, or nullptr when no convolution would run channels-last.
std::shared_ptr<const Model> channels_last_model(const Model& model, ChannelsLastStats* stats = nullptr);

}  // namespace transfix
