#include "localize/accumulated_error.h"

#include <unordered_map>

#include "runtime/interpreter.h"

namespace transfix {

namespace {

// Compares each mapped target value of a free run with the source's fp64 value, in the source's frame.
class FreeRunMeter : public Observer {
 public:
  FreeRunMeter(const SourceTrace& trace, std::vector<TensorPair>& pairs) : trace_(trace), pairs_(pairs) {
    for (size_t i = 0; i < pairs.size(); ++i) by_target_[pairs[i].target] = i;
  }
  void on_value(const std::string& name, const Tensor& value, const Node*) override {
    auto it = by_target_.find(name);
    if (it == by_target_.end()) return;
    TensorPair& p = pairs_[it->second];
    auto s = trace_.index.find(p.source);
    if (s == trace_.index.end() || !trace_.candidate(s->second)) return;
    const Tensor& ref = trace_.value[static_cast<size_t>(s->second)];
    if (ref.numel() != value.numel()) return;
    const Tensor real = real_f64(value);
    p.accumulated = max_abs_diff(ref, to_source_frame(real, p.transform, ref.shape()));
  }

 private:
  const SourceTrace& trace_;
  std::vector<TensorPair>& pairs_;
  std::unordered_map<std::string, size_t> by_target_;
};

}  // namespace

void measure_accumulated_error(const Model& target, const SourceTrace& trace,
                               const std::map<std::string, Tensor>& target_inputs, std::vector<TensorPair>& pairs) {
  for (auto& p : pairs) {
    auto s = trace.index.find(p.source);
    if (s != trace.index.end()) p.accumulated_noise = trace.noise[static_cast<size_t>(s->second)];
  }
  FreeRunMeter meter(trace, pairs);
  try {
    Interpreter(target, {Precision::kF32}).run(target_inputs, &meter);
  } catch (const std::exception&) {
    // The target crashes on its own inputs: pairs after the crash keep NaN (the crash is a fault of
    // its own, found by alignment).
  }
}

}  // namespace transfix
