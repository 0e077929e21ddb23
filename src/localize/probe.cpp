#include "localize/probe.h"

#include "compare/contract.h"
#include "core/errors.h"

namespace transfix {

ProbeInputs next_probe(Dataset& data, const Model& source, const Model& target, const Preprocess& source_preprocess,
                       const Preprocess& target_preprocess) {
  Sample smp;
  check_input(data.next(smp), "the dataset has no readable sample (" + data.description() + ")");
  ProbeInputs p;
  p.sample_id = smp.id;
  const auto src_inputs = source.graph.data_inputs(), tgt_inputs = target.graph.data_inputs();
  if (smp.image) {
    check_input(src_inputs.size() == 1 && tgt_inputs.size() == 1, "image data feeds models with one input");
    p.source[src_inputs[0].name] = fit_input(
        preprocess_image(*smp.image, resolve_preprocess(source_preprocess, src_inputs[0])), std::nullopt, src_inputs[0], &p.notes);
    p.target[tgt_inputs[0].name] = fit_input(
        preprocess_image(*smp.image, resolve_preprocess(target_preprocess, tgt_inputs[0])), std::nullopt, tgt_inputs[0], &p.notes);
    return p;
  }
  for (const auto& info : src_inputs) {
    auto it = smp.tensors.find(info.name);
    check_input(it != smp.tensors.end(), "no data for source input '" + info.name + "'");
    p.source[info.name] = fit_input(it->second, info.quant, info, &p.notes);
  }
  ValuePairing pairs = pair_values(src_inputs, tgt_inputs, "input");
  check_input(pairs.unpaired_target.empty(), "a target input has no source counterpart to feed it");
  for (auto [si, ti] : pairs.pairs)
    p.target[tgt_inputs[ti].name] = fit_input(p.source.at(src_inputs[si].name), src_inputs[si].quant, tgt_inputs[ti], &p.notes);
  p.notes.insert(p.notes.end(), pairs.notes.begin(), pairs.notes.end());
  return p;
}

}  // namespace transfix
