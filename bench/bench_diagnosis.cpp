// make bench-diagnosis: localize and repair over the mutate corpus (every fixture x every fault
// kind that applies) and over clean conversions (the same model at other opsets). Prints one line per
// case and writes the summary table to a markdown file (docs/diagnosis.md).
// --target tflite (make bench-diagnosis-tflite, docs/diagnosis_tflite.md): the target is the fixture
// converted by transfix to .tflite (NHWC), mutated and written as .tflite; the clean pair is that
// conversion; a repair counts only when the repaired model, written as .tflite and read back, agrees.
//   bench_diagnosis FIXTURES_DIR OUT.md [--target onnx|tflite] [--kinds a,b,...] [model...]
#include <cctype>
#include <chrono>
#include <cstdlib>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>

#include <unistd.h>

#include "localize/localize.h"
#include "native/native_runtime.h"
#include "localize/tensor_match.h"
#include "data/npy.h"
#include "formats/model_io.h"
#include "mutate/mutate.h"
#include "repair/repair.h"
#include "runtime/interpreter.h"

namespace fs = std::filesystem;
using namespace transfix;

namespace {

struct Tally {
  int cases = 0, detected = 0, top1 = 0, top3 = 0, category = 0, repaired = 0;
  int independent = 0, independent_checked = 0;  // repaired cases an independent runtime agrees with, of those checked
  double seconds = 0, worst = 0;
  std::vector<double> repair_seconds;
};

// A TFLite node is named by its output tensor, whose name the conversion took from the source value it
// holds (plus suffixes such as "/pre_activation"): source node `s` is the mutated node's counterpart
// when `node` is one of s's outputs or starts with one and a '/'.
bool converted_from(const Node& s, const std::string& node) {
  for (const auto& o : s.outputs)
    if (!o.empty() && (node == o || node.rfind(o + "/", 0) == 0)) return true;
  return false;
}

bool fault_mentions(const Model& source, const Model& target, const Fault& f, const std::string& node) {
  for (int t : f.segment.target_nodes)
    if (target.graph.nodes[static_cast<size_t>(t)].name == node) return true;
  for (int s : f.segment.source_nodes) {
    const Node& sn = source.graph.nodes[static_cast<size_t>(s)];
    if (sn.name == node || (target.meta.format == "tflite" && converted_from(sn, node))) return true;
  }
  if (f.target_node >= 0 && target.graph.nodes[static_cast<size_t>(f.target_node)].name == node) return true;
  return false;
}

// The source's NCHW input as the target reads it: NHWC when the target's declared shape says so.
Tensor as_target_input(const Tensor& x, const Model& target) {
  const ValueInfo& in = target.graph.inputs[0];
  if (x.rank() == 4 && in.shape.size() == 4 && in.shape != x.shape() && in.shape[3] == x.dim(1) && in.shape[1] == x.dim(2))
    return permute(x, {0, 2, 3, 1});
  return x;
}

std::vector<ProbeInputs> probes(const Model& source, const Model& target, const fs::path& dir) {
  std::vector<ProbeInputs> out;
  for (const char* f : {"input.npy", "input_2.npy"}) {
    if (!fs::exists(dir / f)) continue;
    ProbeInputs p;
    p.sample_id = (dir / f).string();
    const std::string in = source.graph.inputs[0].name;
    p.source[in] = read_npy((dir / f).string());
    p.target[target.graph.inputs[0].name] = as_target_input(p.source[in], target);
    out.push_back(p);
  }
  return out;
}

// Does the fault change anything on the probe data? (A ReLU -> ReLU6 swap where no value exceeds 6
// does not: nothing can find it there, and compare rightly says EQUIVALENT.)
bool observable(const Model& source, const Model& target, const std::vector<ProbeInputs>& ps) {
  try {
    Interpreter s64(source, {Precision::kF64}), t32(target, {Precision::kF32});
    for (const auto& p : ps) {
      auto a = s64.run(p.source);
      auto b = t32.run(p.target);
      for (size_t o = 0; o < source.graph.outputs.size(); ++o) {
        const Tensor& x = a.at(source.graph.outputs[o].name);
        const Tensor y = real_f64(b.at(target.graph.outputs[o].name));
        if (x.numel() != y.numel() || max_abs_diff(x, y.reshaped(x.shape())) > 1e-4 * max_abs(x)) return true;
      }
    }
  } catch (const std::exception&) {
    return true;
  }
  return false;
}

double fp32_noise(const Model& source, const std::vector<ProbeInputs>& ps) {
  Interpreter s64(source, {Precision::kF64}), s32(source, {Precision::kF32});
  double worst = 0;
  for (const auto& p : ps) {
    auto a = s64.run(p.source);
    auto b = s32.run(p.source);
    for (const auto& o : source.graph.outputs) {
      const Tensor& x = a.at(o.name);
      worst = std::max(worst, max_abs_diff(x, real_f64(b.at(o.name))) / std::max(max_abs(x), 1e-30));
    }
  }
  return worst;
}

// A repaired TFLite model counts only when it is written as .tflite and, read back, agrees with the
// source: 0 label flips and max output error <= `tolerance` of the output scale.
bool written_model_agrees(const Model& source, const Model& repaired, const std::vector<ProbeInputs>& ps,
                          const fs::path& path, double tolerance, std::string& why) {
  try {
    save_model(repaired, path.string());
    const Model back = load_model(path.string());
    Interpreter s64(source, {Precision::kF64}), t32(back, {Precision::kF32});
    for (const auto& p : ps) {
      auto a = s64.run(p.source);
      std::map<std::string, Tensor> feed;
      for (const auto& [name, t] : p.target) feed[back.graph.inputs[0].name] = t;
      auto b = t32.run(feed);
      for (size_t o = 0; o < source.graph.outputs.size(); ++o) {
        const Tensor& x = a.at(source.graph.outputs[o].name);
        const Tensor y = real_f64(b.at(back.graph.outputs[o].name)).reshaped(x.shape());
        const auto ax = std::max_element(x.data<double>(), x.data<double>() + x.numel()) - x.data<double>();
        const auto ay = std::max_element(y.data<double>(), y.data<double>() + y.numel()) - y.data<double>();
        const double rel = max_abs_diff(x, y) / std::max(max_abs(x), 1e-30);
        if (ax != ay || rel > tolerance) {
          why = "written .tflite: rel " + std::to_string(rel) + (ax != ay ? ", label flip" : "");
          return false;
        }
      }
    }
    return true;
  } catch (const std::exception& e) {
    why = std::string("written .tflite: ") + e.what();
    return false;
  }
}

// The repaired model, written as a file, run by an independent runtime on the probe inputs: ONNX
// Runtime for .onnx, the TFLite / LiteRT interpreter for .tflite (tools/python, through NativeRuntime).
// Agrees = 0 label flips and max output error <= `tolerance` of the source's fp64 output scale.
// Returns "yes", "no" (with `why`) or "n/a" when the runtime is not installed.
std::string independent_runtime_agrees(const Model& source, const Model& repaired, const std::vector<ProbeInputs>& ps,
                                       const fs::path& work, bool tflite, double tolerance, std::string& why) {
  const std::string label = tflite ? "LiteRT" : "ONNX Runtime";
  try {
    const fs::path model = work / (tflite ? "independent.tflite" : "independent.onnx");
    save_model(repaired, model.string());
    std::vector<std::string> in_names, out_names;
    for (const auto& v : repaired.graph.inputs) in_names.push_back(v.name);
    for (const auto& v : repaired.graph.outputs) out_names.push_back(v.name);
    std::unique_ptr<NativeRuntime> runtime;
    try {
      runtime = NativeRuntime::start(tflite ? "litert" : "ort", model.string(), in_names, out_names, 1);
    } catch (const std::exception& e) {
      if (std::string(e.what()).find("is not installed") != std::string::npos) return "n/a";
      throw;
    }
    Interpreter s64(source, {Precision::kF64});
    for (size_t i = 0; i < ps.size(); ++i) {
      const auto outputs = runtime->run({{repaired.graph.inputs[0].name, ps[i].target.begin()->second}});
      auto a = s64.run(ps[i].source);
      for (size_t o = 0; o < source.graph.outputs.size(); ++o) {
        const Tensor& x = a.at(source.graph.outputs[o].name);
        const Tensor y = real_f64(outputs.at(repaired.graph.outputs[o].name)).reshaped(x.shape());
        const auto ax = std::max_element(x.data<double>(), x.data<double>() + x.numel()) - x.data<double>();
        const auto ay = std::max_element(y.data<double>(), y.data<double>() + y.numel()) - y.data<double>();
        const double rel = max_abs_diff(x, y) / std::max(max_abs(x), 1e-30);
        if (ax != ay || rel > tolerance) {
          why = label + ": rel " + std::to_string(rel) + (ax != ay ? ", label flip" : "");
          return "no";
        }
      }
    }
    return "yes";
  } catch (const std::exception& e) {
    why = std::string("independent runtime: ") + e.what();
    return "no";
  }
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::cerr << "usage: bench_diagnosis FIXTURES_DIR OUT.md [--target onnx|tflite] [--kinds a,b,...] [model...]\n";
    return 2;
  }
  const fs::path fixtures = argv[1];
  std::vector<std::string> models;
  bool tflite = false;
  std::string kinds;  // ",a,b," : only these fault kinds (to split a run across processes)
  for (int i = 3; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--target" && i + 1 < argc) tflite = std::string(argv[++i]) == "tflite";
    else if (a == "--kinds" && i + 1 < argc) kinds = std::string(",") + argv[++i] + ",";
    else models.push_back(a);
  }
  const fs::path work = fs::temp_directory_path() / ("transfix_bench_diagnosis_" + std::to_string(::getpid()));
  fs::create_directories(work);
  std::ostringstream skipped;
  if (models.empty())
    models = {"squeezenet1_1", "mobilenet_v2", "shufflenet_v2_x1_0", "efficientnet_b0", "densenet121", "inception_v3", "resnet101"};
  std::map<std::string, Tally> by_kind;
  Tally all;
  int clean_pairs = 0, false_positives = 0, silent = 0;
  std::ostringstream rows;
  for (const auto& name : models) {
    const fs::path dir = fixtures / name;
    if (!fs::exists(dir / "model_opset13.onnx")) {
      std::cerr << "skip " << name << ": no fixture (make fixtures)\n";
      continue;
    }
    const Model source = load_model((dir / "model_opset13.onnx").string());
    // The source's own fp32 error against its fp64 run: a repaired model cannot do better.
    const double own_noise = fp32_noise(source, probes(source, source, dir));
    // Clean conversions: the same model exported at other opsets, or converted by transfix to TFLite.
    const fs::path converted = work / (name + ".tflite");
    Model base = source;
    std::vector<std::pair<std::string, Model>> cleans;
    try {
      if (tflite) {
        save_model(source, converted.string());
        base = load_model(converted.string());
        cleans.emplace_back(name + ".tflite", base);
      } else {
        for (const char* other : {"model_opset9.onnx", "model_opset11.onnx", "model_opset17.onnx"})
          cleans.emplace_back(other, load_model((dir / other).string()));
      }
    } catch (const std::exception& e) {
      std::printf("%-20s does not convert to TFLite: %s\n", name.c_str(), e.what());
      skipped << "- " << name << ": " << e.what() << "\n";
      continue;
    }
    for (const auto& [other, clean] : cleans) {
      auto ps = probes(source, clean, dir);
      LocalizeResult r = localize_with_probe(source, clean, ps[0], {});
      ++clean_pairs;
      false_positives += r.diagnosis.faults.empty() ? 0 : 1;
      std::printf("%-20s clean %-24s faults %zu (%.1f s)\n", name.c_str(), other.c_str(), r.diagnosis.faults.size(), r.seconds);
      std::fflush(stdout);
    }
    for (const auto& kind : mutation_kinds()) {
      if (mutation_sites(base, kind.name).empty()) continue;
      if (!kinds.empty() && kinds.find("," + kind.name + ",") == std::string::npos) continue;
      Model target = base;
      Mutation mu = mutate_model(target, kind.name, std::nullopt, 1);
      if (tflite) {  // the faulty conversion as a file, as `transfix mutate x.tflite` writes it
        const fs::path bad = work / (name + "_" + kind.name + ".tflite");
        try {
          save_model(target, bad.string());
          target = load_model(bad.string());
        } catch (const std::exception& e) {
          std::printf("%-20s %-22s not writable as TFLite: %s\n", name.c_str(), kind.name.c_str(), e.what());
          skipped << "- " << name << " " << kind.name << ": not writable as TFLite (" << e.what() << ")\n";
          continue;
        }
      }
      auto ps = probes(source, target, dir);
      if (!observable(source, target, ps)) {
        ++silent;
        std::printf("%-20s %-22s silent: no effect on the probe data (not counted)\n", name.c_str(), kind.name.c_str());
        rows << "| " << name << " | " << kind.name << " | silent | | | | | |\n";
        continue;
      }
      auto t0 = std::chrono::steady_clock::now();
      LocalizeResult r;
      std::string error;
      try {
        r = localize_with_probe(source, target, ps[0], {});
        for (size_t i = 1; i < ps.size() && r.diagnosis.faults.empty(); ++i) r = localize_with_probe(source, target, ps[i], {});
      } catch (const std::exception& e) {
        error = e.what();
      }
      const double loc_s = seconds_since(t0);
      Tally& k = by_kind[kind.name];
      const auto& faults = r.diagnosis.faults;
      const bool detected = !faults.empty();
      const bool top1 = detected && fault_mentions(source, target, faults[0], mu.node);
      bool top3 = false;
      for (size_t i = 0; i < faults.size() && i < 3; ++i) top3 |= fault_mentions(source, target, faults[i], mu.node);
      const bool category = detected && to_string(faults[0].category) == mu.category;
      // Repair, verified on both probe samples.
      t0 = std::chrono::steady_clock::now();
      bool repaired = false;
      double rep_s = 0;
      std::string after = "-", independent = "";
      if (detected) {
        try {
          RepairOptions ro;  // repair's default time budget (60 s)
          RepairResult rr = repair_model(source, target, ps, ro);
          rep_s = seconds_since(t0);  // the checks below are the bench's, not repair's
          const double tolerance = std::max(1e-4, 2 * own_noise);
          repaired = rr.final_score.flips == 0 && rr.final_score.max_rel <= tolerance && !rr.final_score.crashed;
          after = rr.final_score.describe();
          std::string why;
          if (repaired && tflite && !written_model_agrees(source, rr.repaired, ps, work / "repaired.tflite", tolerance, why))
            repaired = false, after += "; " + why;
          if (repaired) {
            independent = independent_runtime_agrees(source, rr.repaired, ps, work, tflite, tolerance, why);
            if (independent == "no") after += "; " + why;
          }
        } catch (const std::exception& e) {
          if (rep_s == 0) rep_s = seconds_since(t0);
          after = e.what();
        }
      }
      for (Tally* t : {&k, &all}) {
        ++t->cases;
        t->detected += detected, t->top1 += top1, t->top3 += top3, t->category += category, t->repaired += repaired;
        t->independent += independent == "yes", t->independent_checked += independent == "yes" || independent == "no";
        t->seconds += loc_s;
        t->worst = std::max(t->worst, loc_s + rep_s);
        t->repair_seconds.push_back(rep_s);
      }
      std::printf("%-20s %-22s %-8s top1 %d top3 %d cat %d (%s) repaired %d independent %s  %.1f + %.1f s  %s%s\n", name.c_str(),
                  kind.name.c_str(), detected ? "found" : "MISSED", top1, top3, category,
                  detected ? to_string(faults[0].category).c_str() : "-", repaired, independent.empty() ? "-" : independent.c_str(), loc_s, rep_s, after.c_str(),
                  error.empty() ? "" : ("  error: " + error).c_str());
      std::fflush(stdout);
      rows << "| " << name << " | " << kind.name << " | " << (detected ? "yes" : "no") << " | " << (top1 ? "yes" : "no") << " | "
           << (category ? "yes" : "no") << " (" << (detected ? to_string(faults[0].category) : "-") << ") | " << (repaired ? "yes" : "no")
           << " | " << (independent.empty() ? "-" : independent) << " | " << static_cast<int>(loc_s * 10) / 10.0 << " | " << static_cast<int>(rep_s * 10) / 10.0 << " |\n";
    }
  }
  auto pct = [](int a, int b) { return b ? 100.0 * a / b : 0.0; };
  auto median = [](std::vector<double> v) {
    if (v.empty()) return 0.0;
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
  };
  const std::string runtime_name = tflite ? "TFLite interpreter" : "ONNX Runtime";
  std::ostringstream md;
  if (tflite)
    md << "# Diagnosis benchmark, TFLite targets (make bench-diagnosis-tflite)\n\n"
       << "Generated by `bench/bench_diagnosis.cpp --target tflite` on this machine (2 cores). The source is each fixture's\n"
       << "ONNX model (opset 13); the target is that model converted by `transfix convert` to .tflite (NHWC), mutated\n"
       << "with every fault kind that applies to it (`transfix mutate`, seed 1) and written as .tflite; localized with\n"
       << "one probe input (the second when the first shows nothing), repaired with two verification inputs (repair's\n"
       << "default time budget, 60 s).\n"
       << "Repaired = the repaired model, written as .tflite and read back, gives 0 label flips and max output error\n"
       << "<= max(1e-4, 2 x the source's own fp32-vs-fp64 error) of the output scale. Clean pairs: the converted\n"
       << ".tflite vs its source. Silent cases are listed but not counted: " << silent << " of them.\n"
       << "Each repaired .tflite is also run by the real TFLite interpreter (LiteRT, PyPI ai-edge-litert) on the probe\n"
       << "inputs, and must agree with the source's fp64 outputs the same way.\n\n";
  else
  md << "# Diagnosis benchmark (make bench-diagnosis)\n\n"
     << "Generated by `bench/bench_diagnosis.cpp` on this machine (2 cores). ONNX targets: each fixture exported at\n"
     << "opset 13 is mutated with every fault kind that applies to it (`transfix mutate`, seed 1), localized with one\n"
     << "probe input (the second when the first shows nothing), and repaired with two verification inputs.\n"
     << "Repaired = 0 label flips and max output error <= max(1e-4, 2 x the source's own fp32-vs-fp64 error)\n"
     << "of the output scale after repair; each repaired .onnx is also run by ONNX Runtime (PyPI onnxruntime) on the\n"
     << "probe inputs and must agree with the source's fp64 outputs the same way. Clean pairs: the same model at\n"
     << "opsets 9, 11 and 17.\n"
     << "Silent cases (the mutation changes no output on the probe data, e.g. ReLU -> ReLU6 where nothing exceeds 6)\n"
     << "are listed but not counted: " << silent << " of them.\n"
     << "TFLite targets (the fixtures converted to .tflite, then mutated): [diagnosis_tflite.md](diagnosis_tflite.md).\n\n";
  char buf[1024];
  std::snprintf(buf, sizeof buf,
                "| measure | value |\n|---|---|\n| cases | %d |\n| detected | %.1f%% |\n| top-1 localization | %.1f%% |\n"
                "| top-3 localization | %.1f%% |\n| category (top-1) | %.1f%% |\n| repaired | %.1f%% |\n"
                "| repaired, and %s agrees with the source | %d of %d checked |\n"
                "| false positives on clean pairs | %d of %d |\n| localize time per case (mean) | %.1f s |\n"
                "| repair time per case (median) | %.1f s |\n| worst case (localize + repair) | %.1f s |\n\n",
                all.cases, pct(all.detected, all.cases), pct(all.top1, all.cases), pct(all.top3, all.cases),
                pct(all.category, all.cases), pct(all.repaired, all.cases), tflite ? "the TFLite interpreter" : "ONNX Runtime", all.independent,
                all.independent_checked, false_positives, clean_pairs, all.cases ? all.seconds / all.cases : 0.0,
                median(all.repair_seconds), all.worst);
  md << buf << "## Per fault kind\n\n| kind | cases | detected | top-1 | category | repaired | " << runtime_name
     << " agrees |\n|---|---|---|---|---|---|---|\n";
  for (const auto& [kind, t] : by_kind)
    md << "| " << kind << " | " << t.cases << " | " << t.detected << " | " << t.top1 << " | " << t.category << " | " << t.repaired
       << " | " << t.independent << " |\n";
  if (!skipped.str().empty()) md << "\n## Not run\n\n" << skipped.str();
  md << "\n## Every case\n\n| model | kind | detected | top-1 | category | repaired | " << runtime_name << " agrees | localize s | repair s |\n"
     << "|---|---|---|---|---|---|---|---|---|\n" << rows.str();
  std::ofstream(argv[2]) << md.str();
  fs::remove_all(work);
  std::cout << "\n" << buf;
  return 0;
}
