#include "analysis/native_runtime.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/errors.h"
#include "data/npy.h"

namespace fs = std::filesystem;

namespace transfix {
namespace {

std::string runner_script() {
  const char* dir = std::getenv("TRANSFIX_NODE_TOOLS");
  return (dir ? std::string(dir) : std::string(TRANSFIX_SOURCE_DIR) + "/tools/node") + "/ort_run.js";
}

// ONNX Runtime behind `node ort_run.js MODEL --serve`: requests on its stdin, answers on its stdout.
class OrtProcess : public NativeRuntime {
 public:
  OrtProcess(const std::string& model, int threads) {
    const std::string script = runner_script();
    if (!fs::exists(script)) throw InputError("--*-runtime ort: the runner " + script + " is missing");
    char tmpl[] = "/tmp/transfix-ort-XXXXXX";
    if (!mkdtemp(tmpl)) throw InputError("--*-runtime ort: cannot create a temp folder");
    dir_ = tmpl;
    int to_child[2], from_child[2];
    if (pipe(to_child) != 0 || pipe(from_child) != 0) throw InputError("--*-runtime ort: pipe failed");
    signal(SIGPIPE, SIG_IGN);  // a runtime that died must become an error, not kill us
    const std::string err_path = dir_ + "/stderr.txt", threads_arg = std::to_string(threads > 0 ? threads : 2);
    pid_ = fork();
    if (pid_ == 0) {
      dup2(to_child[0], 0);
      dup2(from_child[1], 1);
      int err = open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
      if (err >= 0) dup2(err, 2);
      close(to_child[1]), close(from_child[0]);
      execlp("node", "node", script.c_str(), model.c_str(), "--serve", "--threads", threads_arg.c_str(), nullptr);
      _exit(127);
    }
    close(to_child[0]), close(from_child[1]);
    if (pid_ < 0) throw InputError("--*-runtime ort: fork failed");
    in_ = to_child[1], out_ = from_child[0];
  }

  ~OrtProcess() override {
    if (in_ >= 0) close(in_);
    if (out_ >= 0) close(out_);
    if (pid_ > 0) waitpid(pid_, nullptr, 0);
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  std::map<std::string, Tensor> run(const std::map<std::string, Tensor>& inputs) override {
    const std::string request_dir = dir_ + "/" + std::to_string(requests_++);
    fs::create_directories(request_dir);
    nlohmann::json request = {{"inputs", nlohmann::json::object()}, {"output_dir", request_dir + "/out"}};
    size_t i = 0;
    for (const auto& [name, t] : inputs) {
      const std::string file = request_dir + "/in" + std::to_string(i++) + ".npy";
      write_npy(file, t);
      request["inputs"][name] = file;
    }
    const std::string line = request.dump() + "\n";
    const bool sent = ::write(in_, line.data(), line.size()) == static_cast<ssize_t>(line.size());
    std::string answer_line;
    if (!sent || !read_line(answer_line)) throw InputError("ONNX Runtime stopped: " + stderr_tail());
    nlohmann::json answer = nlohmann::json::parse(answer_line, nullptr, false);
    if (answer.is_discarded()) throw InputError("ONNX Runtime runner answered: " + answer_line);
    if (answer.contains("error")) throw InputError("ONNX Runtime: " + answer["error"].get<std::string>());
    std::map<std::string, Tensor> outputs;
    for (const auto& [name, file] : answer["outputs"].items()) outputs[name] = read_npy(file.get<std::string>());
    std::error_code ec;
    fs::remove_all(request_dir, ec);
    return outputs;
  }

  std::string description() const override { return "ONNX Runtime (onnxruntime-node, " + runner_script() + ")"; }

 private:
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
    return last.empty() ? "no message (is node installed? make deps)" : last;
  }

  std::string dir_;
  pid_t pid_ = -1;
  int in_ = -1, out_ = -1;
  int64_t requests_ = 0;
};

}  // namespace

std::unique_ptr<NativeRuntime> NativeRuntime::start(const std::string& kind, const std::string& model_path, int threads) {
  if (kind == "ort") return std::make_unique<OrtProcess>(fs::absolute(model_path).string(), threads);
  throw InputError("unknown runtime '" + kind + "' (transfix or ort)");
}

}  // namespace transfix
