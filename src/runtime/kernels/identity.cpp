// Identity, Dropout (inference: identity; optional mask output is all true).
#include <algorithm>

#include "runtime/kernel.h"

namespace transfix {
namespace {

void identity(KernelContext& ctx) { ctx.set_output(0, ctx.input(0)); }

void dropout(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  // Training-mode dropout is random by definition; a converted model for inference never uses it.
  const Tensor* training = ctx.optional_input(2);
  const Tensor* ratio = ctx.optional_input(1);
  bool drops = training && training->to_i64_vector().at(0) != 0 && (!ratio || ratio->to_f64_vector().at(0) != 0.0);
  if (drops) throw UnsupportedError("Dropout in training mode is random and not supported", "Dropout");
  ctx.set_output(0, x);
  if (ctx.wants_output(1)) {
    Tensor mask(DType::kBool, x.shape());
    std::fill_n(mask.mutable_data<bool>(), mask.numel(), true);
    ctx.set_output(1, mask);
  }
}

TRANSFIX_KERNEL_INFO("Identity", (KernelInfo{identity, true}));
TRANSFIX_KERNEL_INFO("Dropout", (KernelInfo{dropout, true}));

}  // namespace
}  // namespace transfix
