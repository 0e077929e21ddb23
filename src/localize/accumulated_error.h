// Error along the network as a user's run sees it. Alignment measures what each segment introduces
// (the target fed the source's values); here the target runs freely in fp32 and each mapped tensor
// is compared with the source's fp64 value, so the report can show where error piles up and how a
// fault upstream spreads, next to the source's own accumulated fp32 rounding at the same tensor.
#pragma once
#include <map>
#include <string>
#include <vector>

#include "localize/align.h"

namespace transfix {

// Sets `accumulated` and `accumulated_noise` of every pair. Pairs whose target tensor has another
// element count than the source's (a shape fault upstream), or that the target never produces (it
// crashes first), keep `accumulated` NaN.
void measure_accumulated_error(const Model& target, const SourceTrace& trace,
                               const std::map<std::string, Tensor>& target_inputs, std::vector<TensorPair>& pairs);

}  // namespace transfix
