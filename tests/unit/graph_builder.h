// Small hand-built ONNX-semantics models (opset 13) for the unit tests of align, diagnose, repair and
// mutate: seeded random weights, value_info filled from a real fp32 run (as a reader's shape inference
// would), and helpers to run a model and compare outputs.
#pragma once
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "core/graph.h"
#include "core/tensor.h"
#include "localize/localize.h"
#include "runtime/interpreter.h"

namespace transfix::testing {

inline Tensor random_tensor(std::mt19937& rng, const Shape& shape, float scale, float offset = 0) {
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> v(static_cast<size_t>(shape_numel(shape)));
  for (auto& x : v) x = offset + scale * dist(rng);
  return Tensor::from_vector<float>(v, shape);
}

inline Tensor uniform_tensor(std::mt19937& rng, const Shape& shape, float lo, float hi) {
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(static_cast<size_t>(shape_numel(shape)));
  for (auto& x : v) x = dist(rng);
  return Tensor::from_vector<float>(v, shape);
}

inline Attribute ints_attr(std::vector<int64_t> v) { return Attribute{std::move(v)}; }
inline Attribute int_attr(int64_t v) { return Attribute{v}; }
inline Attribute float_attr(double v) { return Attribute{v}; }

class GraphBuilder {
 public:
  explicit GraphBuilder(uint32_t seed = 7) : rng_(seed) {
    m_.meta.format = "onnx";
    m_.meta.producer_name = "transfix-unit";
    m_.meta.ir_version = 8;
    m_.meta.opsets[""] = 13;
    m_.graph.name = "g";
  }

  std::mt19937& rng() { return rng_; }

  std::string input(const std::string& name, Shape shape) {
    ValueInfo v;
    v.name = name, v.dtype = DType::kF32, v.shape = std::move(shape), v.has_shape = true;
    m_.graph.inputs.push_back(v);
    return name;
  }

  std::string initializer(const std::string& name, Tensor t) {
    m_.graph.initializers[name] = std::move(t);
    return name;
  }
  std::string weight(const std::string& name, Shape shape, float scale, float offset = 0) {
    return initializer(name, random_tensor(rng_, shape, scale, offset));
  }

  // A node named `name` with one output `name + "_out"` (or the outputs given).
  std::string node(const std::string& op, const std::string& name, std::vector<std::string> inputs,
                   std::map<std::string, Attribute> attrs = {}, std::vector<std::string> outputs = {}) {
    Node n;
    n.op_type = op;
    n.name = name;
    n.inputs = std::move(inputs);
    n.outputs = outputs.empty() ? std::vector<std::string>{name + "_out"} : std::move(outputs);
    n.attrs = std::move(attrs);
    n.prov = {"onnx", op, name, static_cast<int64_t>(m_.graph.nodes.size())};
    m_.graph.nodes.push_back(n);
    return m_.graph.nodes.back().outputs[0];
  }

  // Conv with seeded weights [out, in, k, k] and bias [out] (bias omitted when !bias).
  std::string conv(const std::string& name, const std::string& x, int64_t in, int64_t out, int64_t k, int64_t pad,
                   int64_t stride = 1, bool bias = true) {
    const float scale = 1.0f / std::sqrt(static_cast<float>(in * k * k));
    std::vector<std::string> ins = {x, weight(name + ".weight", {out, in, k, k}, scale)};
    if (bias) ins.push_back(weight(name + ".bias", {out}, 0.3f));
    return node("Conv", name, ins,
                {{"kernel_shape", ints_attr({k, k})},
                 {"pads", ints_attr({pad, pad, pad, pad})},
                 {"strides", ints_attr({stride, stride})}});
  }

  void output(const std::string& name) {
    ValueInfo v;
    v.name = name, v.dtype = DType::kF32;
    m_.graph.outputs.push_back(v);
  }

  // The model, with shapes of every value (graph outputs included) from an fp32 run on zeros.
  Model finish() {
    Model m = m_;
    fill_shapes(m);
    return m;
  }

  static void fill_shapes(Model& m) {
    struct Shapes : Observer {
      std::map<std::string, Shape> shapes;
      void on_value(const std::string& name, const Tensor& value, const Node*) override { shapes[name] = value.shape(); }
    } obs;
    std::map<std::string, Tensor> zeros;
    for (const auto& in : m.graph.inputs)
      if (!m.graph.initializers.count(in.name)) zeros[in.name] = Tensor(in.dtype, in.shape);
    InterpreterOptions opt;
    opt.check_input_shapes = true;
    Interpreter(m, opt).run(zeros, &obs);
    m.graph.value_info.clear();
    for (const auto& n : m.graph.nodes)
      for (const auto& o : n.outputs) {
        ValueInfo v;
        v.name = o, v.dtype = DType::kF32, v.shape = obs.shapes.at(o), v.has_shape = true;
        m.graph.value_info[o] = v;
      }
    for (auto& o : m.graph.outputs) o.shape = obs.shapes.at(o.name), o.has_shape = true;
  }

 private:
  Model m_;
  std::mt19937 rng_;
};

// x [1,3,8,8] -> conv1 (3->4, 3x3, pads 1) -> relu1 -> pool (MaxPool 3x3 stride 2: 3x3, ceil_mode matters)
// -> conv2 (4->6, 3x3, pads 1) -> relu2 -> gap -> flatten -> fc (Gemm 6->5) -> y [1,5]
inline Model small_cnn(uint32_t seed = 7) {
  GraphBuilder b(seed);
  std::string x = b.input("x", {1, 3, 8, 8});
  x = b.conv("conv1", x, 3, 4, 3, 1);
  x = b.node("Relu", "relu1", {x});
  x = b.node("MaxPool", "pool", {x}, {{"kernel_shape", ints_attr({3, 3})}, {"strides", ints_attr({2, 2})}});
  x = b.conv("conv2", x, 4, 6, 3, 1);
  x = b.node("Relu", "relu2", {x});
  x = b.node("GlobalAveragePool", "gap", {x});
  x = b.node("Flatten", "flatten", {x}, {{"axis", int_attr(1)}});
  std::string w = b.weight("fc.weight", {5, 6}, 0.5f), bias = b.weight("fc.bias", {5}, 0.1f);
  x = b.node("Gemm", "fc", {x, w, bias}, {{"transB", int_attr(1)}}, {"y"});
  b.output(x);
  return b.finish();
}

inline std::map<std::string, Tensor> random_input(const Model& m, uint32_t seed = 11) {
  std::mt19937 rng(seed);
  std::map<std::string, Tensor> in;
  for (const auto& v : m.graph.inputs)
    if (!m.graph.initializers.count(v.name)) in[v.name] = random_tensor(rng, v.shape, 1.0f);
  return in;
}

inline ProbeInputs probe_for(const Model& source, const Model& target, uint32_t seed = 11) {
  ProbeInputs p;
  p.sample_id = "unit";
  p.source = random_input(source, seed);
  // Both models read the same graph inputs in these tests.
  for (const auto& v : target.graph.inputs)
    if (!target.graph.initializers.count(v.name)) p.target[v.name] = p.source.at(v.name);
  return p;
}

inline std::map<std::string, Tensor> run(const Model& m, const std::map<std::string, Tensor>& in,
                                         Precision precision = Precision::kF32) {
  InterpreterOptions opt;
  opt.precision = precision;
  return Interpreter(m, opt).run(in);
}

// max |a - b| over two tensors of the same element count (any float dtype).
inline double max_diff(const Tensor& a, const Tensor& b) {
  auto x = a.to_f64_vector(), y = b.to_f64_vector();
  EXPECT_EQ(x.size(), y.size());
  double d = 0;
  for (size_t i = 0; i < std::min(x.size(), y.size()); ++i) d = std::max(d, std::fabs(x[i] - y[i]));
  return d;
}

inline double max_abs_value(const Tensor& a) {
  double m = 0;
  for (double v : a.to_f64_vector()) m = std::max(m, std::fabs(v));
  return m;
}

inline const Node& node_named(const Model& m, const std::string& name) {
  for (const auto& n : m.graph.nodes)
    if (n.name == name) return n;
  throw std::runtime_error("no node " + name);
}
inline Node& node_named(Model& m, const std::string& name) {
  return const_cast<Node&>(node_named(static_cast<const Model&>(m), name));
}

// small_cnn with relu2 removed, as a converter that drops an activation writes it (conv2 feeds the
// pooling directly).
inline Model without_relu2(Model m) {
  auto& nodes = m.graph.nodes;
  nodes.erase(std::find_if(nodes.begin(), nodes.end(), [](const Node& n) { return n.name == "relu2"; }));
  node_named(m, "gap").inputs[0] = "conv2_out";
  GraphBuilder::fill_shapes(m);
  return m;
}

inline std::string node_name_at(const Model& m, int index) {
  return index >= 0 && index < static_cast<int>(m.graph.nodes.size()) ? m.graph.nodes[static_cast<size_t>(index)].name
                                                                        : std::string("<none>");
}

}  // namespace transfix::testing
