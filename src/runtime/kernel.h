// The contract between the interpreter and op kernels. One op family per file in kernels/, each
// registering its ops with TRANSFIX_KERNEL. A kernel reads ctx.input(i) and attributes from
// ctx.node, and sets every output with ctx.set_output(i, tensor). Kernels never modify inputs.
//
// Precision: in fp64 mode the interpreter hands kernels float64 tensors wherever the model has
// float32/float16/bfloat16 ones, so a kernel templated on the element type computes the oracle.
// Ops that create float tensors from nothing (Cast, Constant, DequantizeLinear, ...) ask
// ctx.float_out(requested) for the dtype to produce, and ctx.promote(t) for constants.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/errors.h"
#include "core/graph.h"
#include "core/tensor.h"

namespace transfix {

enum class Precision { kF32, kF64 };
const char* precision_name(Precision p);

// An activation the interpreter asks a kernel to apply to its output 0 in the same pass: it folds
// a Relu or Clip into the Conv before it when no observer looks at the Conv output on its own.
struct FusedActivation {
  enum class Kind { kNone, kRelu, kClip } kind = Kind::kNone;
  float lo = 0.0f, hi = 0.0f;  // Clip bounds
  // Relu / Clip exactly as their kernels compute them (NaN passes through).
  float apply(float v) const {
    if (kind == Kind::kRelu) return v < 0.0f ? 0.0f : v;
    if (kind == Kind::kClip) return v < lo ? lo : (v > hi ? hi : v);
    return v;
  }
};

class KernelContext {
 public:
  KernelContext(const Node& node, int64_t opset, Precision precision, std::vector<const Tensor*> inputs,
                std::vector<const ValueInfo*> output_infos = {})
      : node(node), opset(opset), precision(precision), inputs_(std::move(inputs)), outputs_(node.outputs.size()),
        output_infos_(std::move(output_infos)) {}

  const Node& node;
  const int64_t opset;        // default-domain opset of the model
  const Precision precision;

  size_t num_inputs() const { return inputs_.size(); }
  size_t num_outputs() const { return outputs_.size(); }
  bool has_input(size_t i) const { return i < inputs_.size() && inputs_[i] != nullptr; }
  // Required input; throws InputError naming the node when absent.
  const Tensor& input(size_t i) const;
  // Optional input: nullptr when omitted.
  const Tensor* optional_input(size_t i) const { return has_input(i) ? inputs_[i] : nullptr; }
  void set_output(size_t i, Tensor t);
  // Whether output i is consumed by anyone (graph output or another node); kernels may skip unused ones.
  bool wants_output(size_t i) const { return i < node.outputs.size() && !node.outputs[i].empty(); }

  // Declared type of output i (dtype, shape, quantization) when the model states it; nullptr otherwise.
  const ValueInfo* output_info(size_t i) const { return i < output_infos_.size() ? output_infos_[i] : nullptr; }
  // Declared quantization of output i (quantized kernels need the output scale/zero point up front).
  const QuantParams* output_quant(size_t i) const {
    const ValueInfo* v = output_info(i);
    return v && v->quant ? &*v->quant : nullptr;
  }

  // The float dtype to produce when the model asks for `requested` (f64 in fp64 mode).
  DType float_out(DType requested) const;
  // Converts a float constant to the working precision (identity in fp32 mode).
  Tensor promote(const Tensor& t) const;
  // Throws InputError "node 'name' (Op): message".
  [[noreturn]] void fail(const std::string& message) const;

  std::vector<Tensor>& outputs() { return outputs_; }

  // Storage owned by the interpreter for this node, kept across runs (for caches such as prepacked
  // weights); nullptr when the kernel runs outside an interpreter. A kernel must check that what
  // it finds there still matches its inputs.
  std::shared_ptr<void>* node_state() const { return node_state_; }
  void set_node_state(std::shared_ptr<void>* state) { node_state_ = state; }

  // Weights handed over (Interpreter::owning): input i is a constant that only this node reads. A kernel
  // that keeps its own copy of it (oneDNN's packed layout) calls release_input(i); the interpreter then
  // frees the model's copy, and in later runs input i comes without data (weights_released(i)): the
  // kernel must use its copy. Without this, a model's packed weights are held twice.
  bool may_release_input(size_t i) const { return i < 32 && (releasable_ >> i & 1u); }
  void release_input(size_t i) { if (may_release_input(i)) released_now_ |= 1u << i; }
  bool input_released(size_t i) const { return i < 32 && (released_ >> i & 1u); }
  uint32_t inputs_released_now() const { return released_now_; }
  void set_release_masks(uint32_t releasable, uint32_t released) { releasable_ = releasable, released_ = released; }

  // Activation to apply to output 0 (kNone unless the interpreter fused one; only Conv, fp32).
  const FusedActivation& fused_activation() const { return fused_; }
  void set_fused_activation(const FusedActivation& a) { fused_ = a; }

 private:
  std::vector<const Tensor*> inputs_;
  std::vector<Tensor> outputs_;
  std::vector<const ValueInfo*> output_infos_;
  std::shared_ptr<void>* node_state_ = nullptr;
  FusedActivation fused_;
  uint32_t releasable_ = 0, released_ = 0, released_now_ = 0;
};

using KernelFn = std::function<void(KernelContext&)>;

struct KernelInfo {
  KernelFn fn;
  // When false (default), the interpreter runs float16/bfloat16 inputs through the kernel as
  // float32 and rounds float outputs back to the input's low-precision type.
  bool handles_low_precision = false;
};

// Registers a kernel for (domain, op_type). Domain "" is the default ONNX domain.
bool register_kernel(const std::string& op_type, KernelInfo info, const std::string& domain = "");
const KernelInfo* find_kernel(const std::string& op_type, const std::string& domain = "");
std::vector<std::string> registered_ops();  // "Conv", "com.microsoft:Foo", sorted

#define TRANSFIX_CONCAT_INNER(a, b) a##b
#define TRANSFIX_CONCAT(a, b) TRANSFIX_CONCAT_INNER(a, b)
// TRANSFIX_KERNEL("Relu", relu_kernel);  or TRANSFIX_KERNEL_INFO("Cast", KernelInfo{cast, true});
#define TRANSFIX_KERNEL(op, fn) \
  static const bool TRANSFIX_CONCAT(kRegistered_, __LINE__) = ::transfix::register_kernel(op, ::transfix::KernelInfo{fn, false})
#define TRANSFIX_KERNEL_INFO(op, info) \
  static const bool TRANSFIX_CONCAT(kRegistered_, __LINE__) = ::transfix::register_kernel(op, info)

}  // namespace transfix
