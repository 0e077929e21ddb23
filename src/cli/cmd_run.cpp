// transfix run MODEL --input NAME=x.npy ... --output DIR [--precision fp32|fp64] [--dump-all DIR]
//   [--quant-mode int|int-xnnpack|dequantized]
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "data/atomic_file.h"
#include "data/npy.h"
#include "formats/model_io.h"
#include "runtime/interpreter.h"
#include "core/thread_pool.h"

namespace fs = std::filesystem;

namespace transfix::cli {

namespace {

// A tensor name as a safe file name: anything but [A-Za-z0-9._-] becomes '_'; names too long for a
// file name (TFLite names can exceed 255 bytes) are cut and made unique with a hash of the full name.
std::string file_stem_for(const std::string& name) {
  constexpr size_t kMaxStem = 120;
  std::string s = name.empty() ? "unnamed" : name;
  for (char& c : s)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '_')) c = '_';
  if (s[0] == '.') s[0] = '_';
  if (s.size() > kMaxStem) {
    char hash[20];
    std::snprintf(hash, sizeof hash, "_%016zx", std::hash<std::string>{}(name));
    s = s.substr(0, kMaxStem) + hash;
  }
  return s;
}

// Writes every produced tensor to DIR/NNNN_<name>.npy and an index.json mapping files to tensors.
class DumpObserver : public Observer {
 public:
  explicit DumpObserver(std::string dir) : dir_(std::move(dir)) {}
  void on_value(const std::string& name, const Tensor& value, const Node* producer) override {
    char prefix[16];
    std::snprintf(prefix, sizeof prefix, "%04zu_", index_.size());
    std::string file = prefix + file_stem_for(name) + ".npy";
    write_npy((fs::path(dir_) / file).string(), value);
    nlohmann::json e = {{"file", file}, {"tensor", name}, {"dtype", dtype_name(value.dtype())}, {"shape", value.shape()}};
    if (producer) e["node"] = producer->name, e["op"] = producer->op_type;
    if (const auto& q = value.quant()) e["quant"] = {{"scale", q->scale}, {"zero_point", q->zero_point}, {"axis", q->axis}};
    index_.push_back(e);
  }
  void finish() const { write_file_atomic((fs::path(dir_) / "index.json").string(), index_.dump(1) + "\n"); }

 private:
  std::string dir_;
  nlohmann::json index_ = nlohmann::json::array();
};

struct RunArgs {
  std::string model;
  std::vector<std::string> inputs;
  std::string output_dir;
  std::string precision = "fp32";
  std::string quant_mode = "int";
  std::string dump_dir;
  bool random = false;
  uint64_t seed = 0;
  int threads = 0;
};

void ensure_dir(const std::string& dir, const char* flag) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (!fs::is_directory(dir)) throw InputError(std::string(flag) + ": cannot create directory '" + dir + "'");
}

int run(const RunArgs& a) {
  if (a.threads > 0) set_num_threads(a.threads);
  Model model = load_model(a.model);
  Precision precision = parse_precision(a.precision);
  const QuantMode quant_mode = parse_quant_mode(a.quant_mode);
  auto inputs = load_inputs(model, a.inputs, a.random, a.seed);
  const InterpreterOptions options{.precision = precision, .quant_mode = quant_mode};
  const std::vector<ValueInfo> graph_outputs = model.graph.outputs;
  // Unless --dump-all looks inside, the interpreter owns the model and holds each weight once.
  std::unique_ptr<Interpreter> owner = a.dump_dir.empty() ? Interpreter::owning(std::move(model), options)
                                                          : std::make_unique<Interpreter>(model, options);
  const Interpreter& interp = *owner;
  std::unique_ptr<DumpObserver> dump;
  if (!a.dump_dir.empty()) {
    ensure_dir(a.dump_dir, "--dump-all");
    dump = std::make_unique<DumpObserver>(a.dump_dir);
  }
  auto outputs = interp.run(inputs, dump.get());
  if (dump) dump->finish();
  if (!a.output_dir.empty()) ensure_dir(a.output_dir, "--output");
  for (const auto& out : graph_outputs) {
    const Tensor& t = outputs.at(out.name);
    std::cout << out.name << "  " << dtype_name(t.dtype()) << " " << shape_str(t.shape());
    if (!a.output_dir.empty()) {
      std::string file = (fs::path(a.output_dir) / (file_stem_for(out.name) + ".npy")).string();
      write_npy(file, t);
      std::cout << "  -> " << file;
    }
    std::cout << "\n";
  }
  if (dump) std::cout << "dumped every tensor to " << a.dump_dir << " (index.json lists them)\n";
  return kExitOk;
}

}  // namespace

void add_run(CLI::App& app) {
  auto a = std::make_shared<RunArgs>();
  auto* cmd = app.add_subcommand("run", "Run a model on .npy inputs with transfix's reference interpreter");
  cmd->add_option("model", a->model, "Model file")->required();
  cmd->add_option("-i,--input", a->inputs, "Input as NAME=FILE.npy, or FILE.npy for inputs in order (repeatable)");
  cmd->add_option("-o,--output", a->output_dir, "Directory for the outputs (one NAME.npy per output)");
  cmd->add_option("--precision", a->precision, "fp32 (as the model says) or fp64 (every float op in double)");
  cmd->add_option("--quant-mode", a->quant_mode,
                  "Quantized models: int (TFLite's built-in integer kernels, default), int-xnnpack (convolutions and "
                  "fully connected layers requantized as TFLite's XNNPACK delegate does) or dequantized (float, every "
                  "quantized tensor rounded to its grid; quantized outputs come out as float)");
  cmd->add_option("--dump-all", a->dump_dir, "Directory to write every intermediate tensor to (.npy + index.json)");
  cmd->add_flag("--random", a->random, "Fill inputs not given with seeded uniform [0,1) data");
  cmd->add_option("--seed", a->seed, "Seed for --random (default 0)");
  cmd->add_option("--threads", a->threads, "Threads (default: all cores)");
  cmd->callback([a] { exit_code() = run(*a); });
}

}  // namespace transfix::cli
