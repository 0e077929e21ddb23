#include "runtime/kernel.h"

#include <algorithm>
#include <map>
#include <mutex>

namespace transfix {

const char* precision_name(Precision p) { return p == Precision::kF64 ? "fp64" : "fp32"; }

const Tensor& KernelContext::input(size_t i) const {
  if (!has_input(i)) fail("missing required input #" + std::to_string(i));
  return *inputs_[i];
}

void KernelContext::set_output(size_t i, Tensor t) {
  if (i >= outputs_.size()) return;  // the model does not use this optional output
  outputs_[i] = std::move(t);
}

DType KernelContext::float_out(DType requested) const {
  return (precision == Precision::kF64 && is_float(requested)) ? DType::kF64 : requested;
}

Tensor KernelContext::promote(const Tensor& t) const {
  if (precision == Precision::kF64 && is_float(t.dtype()) && t.dtype() != DType::kF64) return t.cast(DType::kF64);
  return t;
}

void KernelContext::fail(const std::string& message) const {
  throw InputError("node '" + node.name + "' (" + node.op_type + "): " + message);
}

namespace {
std::map<std::string, KernelInfo>& registry() {
  static std::map<std::string, KernelInfo> r;
  return r;
}
std::string key_of(const std::string& op, const std::string& domain) {
  return (domain.empty() || domain == "ai.onnx") ? op : domain + ":" + op;
}
}  // namespace

bool register_kernel(const std::string& op_type, KernelInfo info, const std::string& domain) {
  registry()[key_of(op_type, domain)] = std::move(info);
  return true;
}

namespace {
// The TFLite reader puts every operator on quantized tensors in kTfliteQuantizedDomain. Those without
// an integer kernel (src/runtime/kernels/quantized_*.cpp) still load, and run in the dequantized and
// simulated modes (which rewrite them to float ops); only the integer mode stops, at this kernel.
void quantized_not_implemented(KernelContext& ctx) {
  throw UnsupportedError("no integer kernel for quantized " + ctx.node.prov.op_type + " yet (operator " +
                         std::to_string(ctx.node.prov.index) + ")", ctx.node.prov.op_type);
}
const KernelInfo kQuantizedStandIn{quantized_not_implemented, true};
}  // namespace

const KernelInfo* find_kernel(const std::string& op_type, const std::string& domain) {
  auto it = registry().find(key_of(op_type, domain));
  if (it != registry().end()) return &it->second;
  return domain == kTfliteQuantizedDomain ? &kQuantizedStandIn : nullptr;
}

std::vector<std::string> registered_ops() {
  std::vector<std::string> ops;
  for (const auto& [k, v] : registry()) ops.push_back(k);
  return ops;
}

}  // namespace transfix
