// Probe inputs: one sample of a dataset turned into inputs for a model and its conversion, with the
// same input contract as compare (images through each side's preprocessing; tensors fitted to the
// target's layout, dtype and quantization).
#pragma once
#include <map>
#include <string>
#include <vector>

#include "core/graph.h"
#include "data/dataset.h"
#include "data/image.h"

namespace transfix {

struct ProbeInputs {
  std::string sample_id;
  std::map<std::string, Tensor> source, target;
  std::vector<std::string> notes;  // contract adaptations
};

// Inputs from the dataset's next readable sample; InputError when there is none or it does not fit.
ProbeInputs next_probe(Dataset& data, const Model& source, const Model& target, const Preprocess& source_preprocess,
                       const Preprocess& target_preprocess);

}  // namespace transfix
