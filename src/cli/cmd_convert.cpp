// transfix convert IN OUT: read a model and write it in the format OUT's extension names.
#include <filesystem>
#include <iostream>

#include "cli/commands.h"
#include "formats/model_io.h"

namespace fs = std::filesystem;

namespace transfix::cli {

namespace {
int convert(const std::string& in, const std::string& out) {
  std::error_code ec;
  if (fs::exists(out, ec) && fs::equivalent(in, out, ec))
    throw InputError("convert: refusing to overwrite the input model '" + in + "'");
  Model m = load_model(in);
  save_model(m, out);
  std::cout << "wrote " << out << " (" << m.graph.nodes.size() << " nodes, " << m.graph.initializers.size()
            << " initializers)\n";
  return kExitOk;
}
}  // namespace

void add_convert(CLI::App& app) {
  auto in = std::make_shared<std::string>(), out = std::make_shared<std::string>();
  auto* cmd = app.add_subcommand("convert", "Read a model and write it out (.onnx or .tflite; ONNX <-> TFLite converts layouts)");
  cmd->add_option("input", *in, "Model to read")->required();
  cmd->add_option("output", *out, "Model to write (written atomically; never over the input)")->required();
  cmd->callback([=] { exit_code() = convert(*in, *out); });
}

}  // namespace transfix::cli
