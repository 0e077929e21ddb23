#include "localize/known_faults.h"

#include <algorithm>

namespace transfix {

namespace {

std::string producer(const Model& m) {
  std::string p = m.meta.producer_name;
  if (!m.meta.producer_version.empty()) p += " " + m.meta.producer_version;
  if (p.empty() && m.meta.props.count("description")) p = m.meta.props.at("description");
  return p.empty() ? "unknown producer" : p;
}

bool contains(const std::string& s, const std::string& what) {
  std::string a = s, b = what;
  std::transform(a.begin(), a.end(), a.begin(), ::tolower);
  std::transform(b.begin(), b.end(), b.begin(), ::tolower);
  return a.find(b) != std::string::npos;
}

bool has_finding(const Fault& f, const std::string& kind) {
  for (const auto& x : f.findings)
    if (x.kind == kind) return true;
  return false;
}

std::string detail_of(const Fault& f, const std::string& kind) {
  for (const auto& x : f.findings)
    if (x.kind == kind) return x.detail;
  return {};
}

}  // namespace

const std::vector<KnownFault>& known_faults() {
  static const std::vector<KnownFault> all = {
      {"torch-onnx-upsample-asymmetric",
       "torch.onnx before opset 11 exports bilinear interpolation as Upsample/Resize-10, whose coordinates are "
       "asymmetric: align_corners=False (half-pixel) results change",
       "https://github.com/pytorch/pytorch/issues/22906"},
      {"onnx-version-converter-resize-10-11",
       "ONNX's version converter upgrades Upsample/Resize-10 to Resize-11 without setting the new "
       "coordinate_transformation_mode and nearest_mode, so the defaults (half_pixel, round_prefer_floor) "
       "replace the old asymmetric/floor behaviour",
       "https://github.com/onnx/onnx/issues/8480"},
      {"same-padding-asymmetric",
       "SAME padding puts the odd pixel at the end (TensorFlow/TFLite semantics) where the source pads symmetrically; "
       "stride-2 convolutions shift by one pixel",
       "https://www.tensorflow.org/api_docs/python/tf/nn#notes_on_padding_2"},
      {"relu6-bounds",
       "ReLU6 converted as ReLU (or the reverse): the clip bound at 6 is lost in fused-activation conversion",
       "https://github.com/onnx/onnx-tensorflow/issues/495"},
      {"batchnorm-epsilon",
       "BatchNormalization epsilon changed in conversion (Keras defaults to 1e-3, PyTorch and ONNX to 1e-5)",
       "https://keras.io/api/layers/normalization_layers/batch_normalization/"},
      {"fp16-weights",
       "weights stored as float16 by a converter's size optimisation (e.g. TFLite float16 quantization)",
       "https://www.tensorflow.org/lite/performance/post_training_float16_quant"},
  };
  return all;
}

std::vector<std::string> producer_notes(const Model& source, const Model& target) {
  auto line = [](const char* side, const Model& m) {
    std::string s = std::string(side) + ": " + m.meta.format + ", produced by " + producer(m);
    if (m.meta.format == "onnx") s += ", opset " + std::to_string(m.opset());
    return s;
  };
  return {line("source", source), line("target", target)};
}

std::vector<Finding> known_fault_findings(const Model& source, const Model& target, const Fault& f) {
  std::vector<Finding> out;
  auto add = [&](const std::string& id, const std::string& evidence) {
    for (const auto& k : known_faults())
      if (k.id == id) out.push_back({Stage::kTool, k.id, k.title + ". Evidence: " + evidence + ". See " + k.reference, 0.9});
  };
  const std::string prod = producer(target);
  for (const char* key : {"coordinate_transformation_mode", "nearest_mode"}) {
    if (!has_finding(f, key)) continue;
    // The detail reads "<target op>: <key> <target value>, source <source op> has <source value>".
    const std::string d = detail_of(f, key);
    const size_t split = d.find(", source ");
    const std::string target_side = d.substr(0, split), source_side = split == std::string::npos ? "" : d.substr(split);
    const bool target_legacy = target.opset() < 11 || contains(target_side, "Upsample");
    const bool source_legacy = source.opset() < 11 || contains(source_side, "Upsample");
    if (target_legacy && !source_legacy && contains(target_side, "asymmetric"))
      add("torch-onnx-upsample-asymmetric", prod + ", opset " + std::to_string(target.opset()) + "; " + d);
    else if (source_legacy && !target_legacy)
      add("onnx-version-converter-resize-10-11", "source opset " + std::to_string(source.opset()) + ", target opset " +
                                                     std::to_string(target.opset()) + "; " + d);
    break;
  }
  if (has_finding(f, "pads")) {
    for (int t : f.segment.target_nodes) {
      const std::string pad = target.graph.nodes[static_cast<size_t>(t)].attr_string("auto_pad", "NOTSET");
      if (pad == "SAME_UPPER" || pad == "SAME_LOWER") {
        add("same-padding-asymmetric", "target uses auto_pad " + pad + "; " + detail_of(f, "pads"));
        break;
      }
    }
  }
  if (has_finding(f, "activation bounds")) {
    const std::string d = detail_of(f, "activation bounds");
    if (contains(d, "clip(0, 6)") || contains(d, "clip(0, inf)")) add("relu6-bounds", d);
  }
  if (has_finding(f, "epsilon")) add("batchnorm-epsilon", detail_of(f, "epsilon"));
  if (has_finding(f, "weights rounded to float16")) add("fp16-weights", detail_of(f, "weights rounded to float16"));
  return out;
}

}  // namespace transfix
