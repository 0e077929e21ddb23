#include "cli/data_args.h"

#include "core/errors.h"

namespace transfix::cli {

DatasetFactory DataArgs::factory() const {
  if (!labels.empty() && images.empty()) throw InputError("--labels needs --images");
  return [a = *this](const Model& source, const Model* target) -> std::unique_ptr<Dataset> {
    std::vector<ValueInfo> inputs = source.graph.data_inputs();
    // A source that records no input shapes (TorchScript) takes them from the target's input at the same
    // position, so that data can be shaped (--random) and N-row .npy files split (--npy).
    const std::vector<ValueInfo> target_inputs = target ? target->graph.data_inputs() : std::vector<ValueInfo>{};
    for (size_t i = 0; i < inputs.size() && i < target_inputs.size(); ++i)
      if (!inputs[i].has_shape && target_inputs[i].has_shape) {
        inputs[i].shape = target_inputs[i].shape, inputs[i].has_shape = true;
        if (inputs[i].dtype == DType::kUndefined) inputs[i].dtype = target_inputs[i].dtype;
      }
    if (!a.images.empty()) return open_image_folder(a.images, parse_label_source(a.labels));
    if (!a.npy.empty()) return open_npy(a.npy, inputs);
    return open_random(inputs, a.random, a.seed);
  };
}

void DataArgs::check(const std::string& command) const {
  const int sources = !images.empty() + !npy.empty() + (random > 0);
  if (sources != 1) throw InputError(command + ": give exactly one of --images DIR, --npy PATH..., --random N");
}

void add_data_options(CLI::App* cmd, DataArgs& a) {
  cmd->add_option("--images", a.images, "Folder of JPEG/PNG images (recursive, sorted)");
  cmd->add_option("--npy", a.npy, "Input .npy files or folders (one sample per file; N-row files are split)");
  cmd->add_option("--random", a.random, "N seeded random samples shaped like the source's inputs");
  cmd->add_option("--seed", a.seed, "Seed for --random (default 0)");
  cmd->add_option("--labels", a.labels, "Image labels: 'folders' (class sub-folders) or a CSV file,label");
  cmd->add_option("--preprocess", a.preprocess,
                  "Image preprocessing for both models: torchvision (default), inception, keras-caffe, keras-tf, raw01, "
                  "raw255, or a JSON spec file");
  cmd->add_option("--source-preprocess", a.source_preprocess, "Preprocessing for the source (default: --preprocess)");
  cmd->add_option("--target-preprocess", a.target_preprocess, "Preprocessing for the target (default: --preprocess)");
}

}  // namespace transfix::cli
