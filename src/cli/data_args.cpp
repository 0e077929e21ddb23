#include "cli/data_args.h"

#include "core/errors.h"

namespace transfix::cli {

DatasetFactory DataArgs::factory() const {
  if (!labels.empty() && images.empty()) throw InputError("--labels needs --images");
  return [a = *this](const Model& source) -> std::unique_ptr<Dataset> {
    std::vector<ValueInfo> inputs;
    for (const auto& in : source.graph.inputs)
      if (!source.graph.initializers.count(in.name)) inputs.push_back(in);
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
