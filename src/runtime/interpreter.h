// Reference interpreter: executes a Model's graph in topological order, one kernel per node, in
// fp32 (as the model says) or fp64 (every float computation in double: the oracle that separates
// rounding noise from real faults). An Observer sees every tensor as it is produced, which is
// what layer-wise comparison is built on.
#pragma once
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/graph.h"
#include "runtime/kernel.h"

namespace transfix {

class Observer {
 public:
  virtual ~Observer() = default;
  // Called for each graph input (producer == nullptr) and each node output as soon as it exists.
  // The tensor shares its buffer with the interpreter: copy it (cheap, shared) to keep it.
  virtual void on_value(const std::string& name, const Tensor& value, const Node* producer) = 0;
  // Called right after on_value: an observer may substitute the value that consumers will see (localize
  // feeds each part of a converted model the source model's own values, so that every part's error is
  // its own and not what it inherits). Return true after setting *replacement.
  virtual bool substitute(const std::string& name, const Tensor& value, const Node* producer, Tensor* replacement) {
    (void)name, (void)value, (void)producer, (void)replacement;
    return false;
  }
};

// How quantized (tflite.quantized) models run: kInteger with the integer arithmetic of TFLite's
// built-in kernels; kIntegerXnnpack the same except that convolutions, fully connected layers,
// LOGISTIC, LEAKY_RELU and MEAN over H, W compute as TFLite's XNNPACK delegate does (float
// requantization, round half to even; XNNPACK's own tables and multipliers; the TFLite
// interpreter applies that delegate by default); kDequantized in float with every quantized tensor
// rounded to its grid (runtime/quant_simulation.h). Models without quantized ops run the same in all.
enum class QuantMode { kInteger, kIntegerXnnpack, kDequantized };
const char* quant_mode_name(QuantMode m);  // "int", "int-xnnpack", "dequantized" (the CLI spelling)

struct InterpreterOptions {
  Precision precision = Precision::kF32;
  // Reject inputs whose shape differs from the model's declared input shape.
  bool check_input_shapes = true;
  QuantMode quant_mode = QuantMode::kInteger;
  // fp32 runs without an observer execute a channels-last plan of the graph (runtime/channels_last.h)
  // when it has 2-D convolutions. TRANSFIX_CHANNELS_LAST=off in the environment turns it off.
  bool channels_last = true;
};

// Per-node wall time of one run, in node index order of the graph (for profiling).
struct RunStats {
  std::vector<double> node_ms;
  const Graph* graph = nullptr;  // the graph that ran (the channels-last plan, or the model's own)
};

class Interpreter {
 public:
  // Checks that every op has a kernel (UnsupportedError naming the op otherwise) and orders the graph.
  explicit Interpreter(const Model& model, InterpreterOptions options = {});

  // Deployment mode: the interpreter takes the model over and holds each weight once. A weight that
  // a kernel copies into its own layout (oneDNN's packed convolution weights) is freed as soon as it
  // is packed, as ONNX Runtime frees pre-packed initializers; without this the weights of resnet101
  // would be held twice (178 MB + 112 MB packed). Only unobserved fp32 runs are possible then (an
  // observer or another input shape needs the freed weights: InputError), and model() keeps the
  // graph, inputs and outputs but not every weight's data. For `transfix bench` and `transfix run`.
  static std::unique_ptr<Interpreter> owning(Model model, InterpreterOptions options = {});

  // Runs the graph. Inputs are matched by name; every graph input without an initializer must be
  // given, with a compatible dtype and shape (InputError otherwise). In fp64 mode float inputs are
  // converted to float64 and float outputs come back as float64.
  std::map<std::string, Tensor> run(const std::map<std::string, Tensor>& inputs, Observer* observer = nullptr,
                                    RunStats* stats = nullptr) const;

  // The graph that runs (in kDequantized mode the float rewrite of the caller's model).
  const Model& model() const { return model_; }
  Precision precision() const { return options_.precision; }

  // Ops of the model that have no kernel, with counts.
  static std::map<std::string, int> unsupported_ops(const Model& model);

 private:
  Tensor to_working(const Tensor& t) const;
  void check_input(const ValueInfo& info, const Tensor& t) const;

  void hand_over_weights();
  void plan_releases();
  void release_inputs(size_t node, uint32_t mask) const;

  std::shared_ptr<Model> owned_;            // the model, when the interpreter took it over (owning())
  std::shared_ptr<const Model> rewritten_;  // the dequantized rewrite when quant_mode asks for it
  std::shared_ptr<const Model> channels_last_model_;
  std::unique_ptr<Interpreter> channels_last_;  // runs channels_last_model_ for unobserved fp32 runs
  const Model& model_;                      // the graph that runs: the caller's model or rewritten_
  InterpreterOptions options_;
  std::vector<size_t> order_;
  std::vector<const KernelInfo*> kernels_;     // per node index
  std::vector<std::vector<const ValueInfo*>> output_infos_;  // per node index, per output
  // Initializers in working precision (mutable: deployment mode drops the data of released weights).
  mutable std::map<std::string, Tensor> constants_;
  std::map<std::string, int> use_counts_;      // consumers per value (graph outputs count once more)
  // Conv -> the Relu/Clip node folded into it in fp32 runs without an observer (-1: none).
  std::vector<int> fused_consumer_;
  std::vector<FusedActivation> fused_activation_;
  void find_fusions();
  void plan_channels_last();
  // Per-node kernel caches (KernelContext::node_state), filled during run(): one run at a time.
  mutable std::vector<std::shared_ptr<void>> node_states_;
  // Deployment mode (owning()): the model this interpreter runs, writable so that released weights can
  // be dropped from it; per node, the inputs a kernel may release and those it has released.
  std::shared_ptr<Model> releasing_model_;
  std::vector<uint32_t> releasable_;
  mutable std::vector<uint32_t> released_;
  bool handed_over_ = false;  // the weights live in channels_last_ (or were released): no observed runs
};

}  // namespace transfix
