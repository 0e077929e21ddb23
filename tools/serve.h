// --serve: the protocol the native-runtime tools (armnn_run, torch_run) share with
// tools/node/ort_run.js, spoken with transfix compare (src/native/native_runtime.cpp). The model
// is loaded once; then
//   tool -> {"ready": "WHAT RUNS"}                                  once, after loading
//   transfix -> {"inputs": {"NAME": "in.npy", ...} | ["in.npy", ...], "output_dir": "DIR"}
//   tool -> {"outputs": {"NAME": "DIR/f.npy", ...} | ["DIR/f.npy", ...]} or {"error": "one line"}
// one JSON object per line. Inputs given as a list are positional (TorchScript's forward() arguments);
// outputs come back as a list when the runtime has no output names.
#pragma once
#include <unistd.h>

#include <cctype>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <iostream>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "data/npy.h"

namespace transfix::serve {

using Named = std::vector<std::pair<std::string, Tensor>>;  // name "" = positional
using RunFn = std::function<Named(const Named&)>;

inline std::string file_safe(const std::string& name) {
  std::string s = name;
  for (char& c : s)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' && c != '-') c = '_';
  return s;
}

inline std::string first_line(const std::string& s) { return s.substr(0, s.find('\n')); }

inline nlohmann::json answer(const nlohmann::json& request, const RunFn& run) {
  Named inputs;
  for (const auto& [key, file] : request.at("inputs").items())
    inputs.emplace_back(request["inputs"].is_array() ? "" : key, read_npy(file.get<std::string>()));
  const Named outputs = run(inputs);
  const std::string dir = request.at("output_dir").get<std::string>();
  std::filesystem::create_directories(dir);
  const bool named = !outputs.empty() && !outputs[0].first.empty();
  nlohmann::json files = named ? nlohmann::json::object() : nlohmann::json::array();
  for (size_t i = 0; i < outputs.size(); ++i) {
    const std::string file = dir + "/" + std::to_string(i) + "_" + file_safe(outputs[i].first) + ".npy";
    write_npy(file, outputs[i].second);
    if (named) files[outputs[i].first] = file;
    else files.push_back(file);
  }
  return {{"outputs", files}};
}

// Answers requests until stdin closes. The protocol gets stdout to itself: anything else the runtime
// prints to stdout (library chatter) goes to stderr.
inline int serve_requests(const std::string& ready, const RunFn& run) {
  std::fflush(stdout);
  FILE* protocol = fdopen(dup(1), "w");
  dup2(2, 1);
  auto say = [&](const nlohmann::json& j) {
    std::fputs((j.dump() + "\n").c_str(), protocol);
    std::fflush(protocol);
  };
  say({{"ready", ready}});
  std::string line;
  while (std::getline(std::cin, line)) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    try {
      say(answer(nlohmann::json::parse(line), run));
    } catch (const std::exception& e) {
      say({{"error", first_line(e.what())}});
    }
  }
  return 0;
}

}  // namespace transfix::serve
