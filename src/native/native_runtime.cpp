#include "native/native_runtime.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <climits>
#include <set>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/errors.h"
#include "core/install_paths.h"
#include "data/npy.h"
#include "formats/model_io.h"

namespace fs = std::filesystem;

namespace transfix {
namespace {

struct RuntimeSpec {
  const char* kind;
  ModelFormat format;  // the only format it runs
  const char* label;   // for messages
  const char* runner;  // the executable, or the Python script (tools/python), started with --serve
  bool python;         // a Python runner: run with the project's venv interpreter
  const char* module;  // Python runners: the module that must be importable, and its PyPI package
  const char* package;
};

constexpr RuntimeSpec kRuntimes[] = {
    {"ort", ModelFormat::kOnnx, "ONNX Runtime", "ort_run.py", true, "onnxruntime", "onnxruntime"},
    {"litert", ModelFormat::kTflite, "LiteRT", "litert_run.py", true, "ai_edge_litert", "ai-edge-litert"},
    {"armnn", ModelFormat::kTflite, "Arm NN", "armnn_run", false, nullptr, nullptr},
    {"libtorch", ModelFormat::kTorchScript, "libtorch", "torch_run", false, nullptr, nullptr},
};

const RuntimeSpec* find_spec(const std::string& kind) {
  for (const RuntimeSpec& s : kRuntimes)
    if (kind == s.kind) return &s;
  return nullptr;
}

// The Python runners: $TRANSFIX_PYTHON_TOOLS, else share/transfix/python of an installed prefix, else
// tools/python of the source tree this build came from.
std::string python_script(const std::string& name) {
  const char* dir = std::getenv("TRANSFIX_PYTHON_TOOLS");
  if (dir && *dir) return std::string(dir) + "/" + name;
  if (std::string installed = installed_file("share/transfix/python/" + name); !installed.empty()) return installed;
  return std::string(TRANSFIX_SOURCE_DIR) + "/tools/python/" + name;
}

// The interpreter that has the runtimes: $TRANSFIX_PYTHON, else the project's venv (scripts/deps.sh
// makes it), else python3 on PATH.
std::string python_interpreter() {
  if (const char* p = std::getenv("TRANSFIX_PYTHON"); p && *p) return p;
  const fs::path venv = fs::path(TRANSFIX_SOURCE_DIR) / ".venv/bin/python";
  std::error_code ec;
  return fs::exists(venv, ec) ? venv.string() : std::string("python3");
}

// A runner built with transfix: in $TRANSFIX_TOOLS_DIR when set (only there), else next to the running
// executable, else in the build tree it came from.
std::string built_tool(const std::string& name) {
  std::vector<fs::path> candidates;
  std::error_code ec;
  if (const char* dir = std::getenv("TRANSFIX_TOOLS_DIR"); dir && *dir) {
    const fs::path p = fs::path(dir) / name;
    return fs::is_regular_file(p, ec) && access(p.c_str(), X_OK) == 0 ? p.string() : std::string();
  }
  char exe[PATH_MAX];
  const ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n > 0) candidates.push_back(fs::path(std::string(exe, static_cast<size_t>(n))).parent_path() / name);
#ifdef TRANSFIX_BINARY_DIR
  candidates.push_back(fs::path(TRANSFIX_BINARY_DIR) / name);
#endif
  for (const fs::path& p : candidates)
    if (fs::is_regular_file(p, ec) && access(p.c_str(), X_OK) == 0) return p.string();
  return {};
}

// Exit code of `argv` run with no input and its output discarded (127: it could not be started).
int run_quietly(const std::vector<std::string>& argv) {
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  const pid_t pid = fork();
  if (pid == 0) {
    const int null = open("/dev/null", O_RDWR);
    if (null >= 0) dup2(null, 0), dup2(null, 1), dup2(null, 2);
    execvp(args[0], args.data());
    _exit(127);
  }
  int status = 0;
  if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status)) return 127;
  return WEXITSTATUS(status);
}

// A Python runner's interpreter must have numpy and the runtime's module; checked before any model is
// loaded, so that a missing runtime is a usage error (exit 2), not a crash of one side.
// Once per runtime and process: compare checks its options, then starts the runtime.
void check_python_runtime(const RuntimeSpec& spec, const std::string& option) {
  static std::set<std::string> checked;
  if (checked.count(spec.kind)) return;
  const std::string python = python_interpreter();
  const std::string probe = std::string("import importlib.util as u, sys; sys.exit(0 if u.find_spec('numpy') and u.find_spec('") +
                            spec.module + "') else 3)";
  const int code = run_quietly({python, "-c", probe});
  const std::string fix = "run scripts/deps.sh (it installs requirements/runtimes.txt into .venv) or set TRANSFIX_PYTHON";
  if (code == 127) throw InputError(option + " " + spec.kind + ": no Python interpreter at '" + python + "'; " + fix);
  if (code != 0)
    throw InputError(option + " " + spec.kind + ": " + spec.label + " is not installed: " + python + " cannot import " +
                     spec.package + " and numpy; " + fix);
  checked.insert(spec.kind);
}

// The runner of a runtime; InputError saying how to get it when it is missing.
std::string runner_path(const RuntimeSpec& spec, const std::string& option) {
  const std::string kind = spec.kind;
  if (spec.python) {
    const std::string script = python_script(spec.runner);
    if (!fs::exists(script)) throw InputError(option + " " + kind + ": the runner " + script + " is missing");
    check_python_runtime(spec, option);
    return script;
  }
  const std::string path = built_tool(spec.runner);
  if (!path.empty()) return path;
  if (kind == "armnn")
    throw InputError(option + " armnn: " + spec.runner + " was not built (Arm NN was not found when transfix was "
                     "configured: install libarmnn-dev and libarmnntfliteparser-dev, then run cmake again)");
  throw InputError(option + " " + kind + ": " + spec.runner + " was not found next to transfix (build it: ninja torch_run)");
}

// A runtime behind `RUNNER MODEL --serve`: requests on its stdin, answers on its stdout (tools/serve.h).
class ServeProcess : public NativeRuntime {
 public:
  // `positional`: inputs are sent as a list in `input_names` order instead of by name.
  ServeProcess(const RuntimeSpec& spec, const std::vector<std::string>& argv, bool positional,
               std::vector<std::string> input_names, std::vector<std::string> output_names)
      : label_(spec.label), positional_(positional), input_names_(std::move(input_names)), output_names_(std::move(output_names)) {
    char tmpl[] = "/tmp/transfix-runtime-XXXXXX";
    if (!mkdtemp(tmpl)) throw InputError(label_ + ": cannot create a temp folder");
    dir_ = tmpl;
    spawn(argv);
  }

  // Waits for the runner's ready line (the model loaded). Not in the constructor: when it throws, the
  // destructor must still reap the child and remove the temp folder.
  void wait_ready() {
    std::string ready_line;
    if (!read_line(ready_line)) throw InputError(label_ + " could not load the model: " + stderr_tail());
    nlohmann::json ready = nlohmann::json::parse(ready_line, nullptr, false);
    if (ready.is_discarded() || !ready.contains("ready")) throw InputError(label_ + " runner said: " + ready_line);
    version_ = ready["ready"].get<std::string>();
  }

  ~ServeProcess() override {
    if (in_ >= 0) close(in_);
    if (out_ >= 0) close(out_);
    if (pid_ > 0) waitpid(pid_, nullptr, 0);
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  std::map<std::string, Tensor> run(const std::map<std::string, Tensor>& inputs) override {
    const std::string request_dir = dir_ + "/" + std::to_string(requests_++);
    fs::create_directories(request_dir);
    const nlohmann::json answer = exchange(request(inputs, request_dir));
    std::map<std::string, Tensor> outputs;
    const nlohmann::json& files = answer.at("outputs");
    if (files.is_array()) {
      if (files.size() != output_names_.size())
        throw InputError(label_ + " returned " + std::to_string(files.size()) + " outputs; the model has " +
                         std::to_string(output_names_.size()));
      for (size_t i = 0; i < files.size(); ++i) outputs[output_names_[i]] = read_npy(files[i].get<std::string>());
    } else {
      for (const auto& [name, file] : files.items()) outputs[name] = read_npy(file.get<std::string>());
      for (const std::string& name : output_names_)
        if (!outputs.count(name)) throw InputError(label_ + " returned no output '" + name + "'");
    }
    std::error_code ec;
    fs::remove_all(request_dir, ec);
    return outputs;
  }

  std::string version() const override { return version_; }

 private:
  void spawn(const std::vector<std::string>& argv) {
    int to_child[2], from_child[2];
    if (pipe(to_child) != 0 || pipe(from_child) != 0) throw InputError(label_ + ": pipe failed");
    signal(SIGPIPE, SIG_IGN);  // a runtime that died must become an error, not kill us
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    const std::string err_path = dir_ + "/stderr.txt";
    pid_ = fork();
    if (pid_ == 0) {
      dup2(to_child[0], 0);
      dup2(from_child[1], 1);
      int err = open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
      if (err >= 0) dup2(err, 2);
      close(to_child[1]), close(from_child[0]);
      execvp(args[0], args.data());
      _exit(127);
    }
    close(to_child[0]), close(from_child[1]);
    if (pid_ < 0) throw InputError(label_ + ": fork failed");
    in_ = to_child[1], out_ = from_child[0];
  }

  nlohmann::json request(const std::map<std::string, Tensor>& inputs, const std::string& request_dir) const {
    nlohmann::json r = {{"output_dir", request_dir + "/out"}};
    auto file_of = [&](size_t i, const Tensor& t) {
      const std::string file = request_dir + "/in" + std::to_string(i) + ".npy";
      write_npy(file, t);
      return file;
    };
    if (positional_) {
      r["inputs"] = nlohmann::json::array();
      for (const std::string& name : input_names_) {
        auto it = inputs.find(name);
        if (it == inputs.end()) throw InputError(label_ + ": no data for input '" + name + "'");
        r["inputs"].push_back(file_of(r["inputs"].size(), it->second));
      }
    } else {
      r["inputs"] = nlohmann::json::object();
      for (const auto& [name, t] : inputs) r["inputs"][name] = file_of(r["inputs"].size(), t);
    }
    return r;
  }

  nlohmann::json exchange(const nlohmann::json& request) {
    const std::string line = request.dump() + "\n";
    const bool sent = ::write(in_, line.data(), line.size()) == static_cast<ssize_t>(line.size());
    std::string answer_line;
    if (!sent || !read_line(answer_line)) throw InputError(label_ + " stopped: " + stderr_tail());
    nlohmann::json answer = nlohmann::json::parse(answer_line, nullptr, false);
    if (answer.is_discarded()) throw InputError(label_ + " runner answered: " + answer_line);
    if (answer.contains("error")) throw InputError(label_ + ": " + answer["error"].get<std::string>());
    return answer;
  }

  bool read_line(std::string& line) {
    line.clear();
    char c;
    while (true) {
      const ssize_t n = ::read(out_, &c, 1);
      if (n <= 0) return false;
      if (c == '\n') return true;
      line.push_back(c);
    }
  }

  std::string stderr_tail() const {
    std::ifstream f(dir_ + "/stderr.txt");
    std::string l, last;
    while (std::getline(f, l))
      if (!l.empty()) last = l;
    return last.empty() ? "no message (is the runtime installed? make deps)" : last;
  }

  std::string label_, version_, dir_;
  bool positional_;
  std::vector<std::string> input_names_, output_names_;
  pid_t pid_ = -1;
  int in_ = -1, out_ = -1;
  int64_t requests_ = 0;
};

}  // namespace

void check_runtime(const std::string& kind, const std::string& path, const std::string& option) {
  if (kind == "transfix") return;
  const RuntimeSpec* spec = find_spec(kind);
  if (!spec) throw InputError(option + " must be transfix, ort, litert, armnn or libtorch, not '" + kind + "'");
  const ModelFormat format = detect_model_format(path);
  if (format != spec->format)
    throw InputError(option + " " + kind + " runs " + model_format_name(spec->format) + " models; " + path + " is " +
                     (format == ModelFormat::kUnknown ? std::string("not one") : model_format_name(format)));
  runner_path(*spec, option);
}

std::unique_ptr<NativeRuntime> NativeRuntime::start(const std::string& kind, const std::string& model_path,
                                                    const std::vector<std::string>& input_names,
                                                    const std::vector<std::string>& output_names, int threads) {
  const RuntimeSpec* spec = find_spec(kind);
  if (!spec) throw InputError("unknown runtime '" + kind + "' (transfix, ort, litert, armnn or libtorch)");
  const std::string runner = runner_path(*spec, "--runtime"), model = fs::absolute(model_path).string();
  const std::string threads_arg = std::to_string(threads > 0 ? threads : 2);
  std::vector<std::string> argv;
  if (spec->python) argv = {python_interpreter(), runner, model, "--serve", "--threads", threads_arg};
  else if (kind == "armnn") argv = {runner, model, "--serve"};  // CpuRef is single-threaded
  else argv = {runner, model, "--serve", "--threads", threads_arg};
  // TorchScript's forward() takes its arguments by position and returns unnamed tensors.
  const bool positional = kind == "libtorch";
  auto runtime = std::make_unique<ServeProcess>(*spec, argv, positional, input_names, output_names);
  runtime->wait_ready();
  return runtime;
}

}  // namespace transfix
