// Helpers shared by the ONNX reader/writer tests: scratch folders, building ModelProtos in code,
// and comparing two Models field by field (tensors bit-exact).
#pragma once
#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <type_traits>
#include <variant>

#include "core/errors.h"
#include "core/graph.h"

namespace transfix::testing {

namespace fs = std::filesystem;

// A fresh folder under /tmp, removed (with its contents) at the end of the test.
class ScratchDir {
 public:
  ScratchDir() {
    static std::atomic<int> counter{0};
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    std::string tag = info ? std::string(info->test_suite_name()) + "_" + info->name() : "scratch";
    path_ = fs::temp_directory_path() /
            ("transfix_onnxio_" + tag + "_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~ScratchDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }
  std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  fs::path path_;
};

inline void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

inline std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

inline void save_proto(const onnx::ModelProto& m, const std::string& path) {
  std::string bytes;
  ASSERT_TRUE(m.SerializeToString(&bytes));
  write_bytes(path, bytes);
}

// --- building ModelProtos -------------------------------------------------------------------

inline onnx::ModelProto empty_model(int64_t opset = 13, int64_t ir_version = 8) {
  onnx::ModelProto m;
  m.set_ir_version(ir_version);
  m.set_producer_name("transfix-test");
  auto* op = m.add_opset_import();
  op->set_domain("");
  op->set_version(opset);
  m.mutable_graph()->set_name("g");
  return m;
}

inline onnx::ValueInfoProto* add_value(google::protobuf::RepeatedPtrField<onnx::ValueInfoProto>* list,
                                       const std::string& name, int elem_type, const std::vector<int64_t>& dims) {
  auto* v = list->Add();
  v->set_name(name);
  auto* tt = v->mutable_type()->mutable_tensor_type();
  tt->set_elem_type(elem_type);
  auto* shape = tt->mutable_shape();
  for (int64_t d : dims) shape->add_dim()->set_dim_value(d);
  return v;
}

inline onnx::NodeProto* add_node(onnx::GraphProto* g, const std::string& op, const std::vector<std::string>& inputs,
                                 const std::vector<std::string>& outputs, const std::string& name = "") {
  auto* n = g->add_node();
  n->set_op_type(op);
  if (!name.empty()) n->set_name(name);
  for (const auto& i : inputs) n->add_input(i);
  for (const auto& o : outputs) n->add_output(o);
  return n;
}

inline onnx::TensorProto* add_float_init(onnx::GraphProto* g, const std::string& name, const std::vector<int64_t>& dims,
                                         const std::vector<float>& values) {
  auto* t = g->add_initializer();
  t->set_name(name);
  t->set_data_type(onnx::TensorProto::FLOAT);
  for (int64_t d : dims) t->add_dims(d);
  t->set_raw_data(std::string(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(float)));
  return t;
}

// x -> Identity -> y with float [2, 3] input and output.
inline onnx::ModelProto identity_model() {
  onnx::ModelProto m = empty_model();
  auto* g = m.mutable_graph();
  add_value(g->mutable_input(), "x", onnx::TensorProto::FLOAT, {2, 3});
  add_value(g->mutable_output(), "y", onnx::TensorProto::FLOAT, {2, 3});
  add_node(g, "Identity", {"x"}, {"y"}, "id");
  return m;
}

// A float32 value of static shape `shape`.
inline ValueInfo float_info(const std::string& name, const Shape& shape) {
  ValueInfo v;
  v.name = name;
  v.dtype = DType::kF32;
  v.shape = shape;
  v.dim_params.assign(shape.size(), "");
  v.has_shape = true;
  return v;
}

// --- comparing Models -----------------------------------------------------------------------

inline bool tensors_identical(const Tensor& a, const Tensor& b) {
  if (a.dtype() != b.dtype() || a.shape() != b.shape()) return false;
  return a.nbytes() == b.nbytes() && (a.nbytes() == 0 || std::memcmp(a.raw(), b.raw(), a.nbytes()) == 0);
}

// Bit-exact (NaN == NaN, -0 != +0).
inline bool attributes_equal(const Attribute& a, const Attribute& b) {
  if (a.value.index() != b.value.index()) return false;
  return std::visit(
      [&](const auto& x) -> bool {
        using T = std::decay_t<decltype(x)>;
        const T& y = std::get<T>(b.value);
        if constexpr (std::is_same_v<T, Tensor>) {
          return tensors_identical(x, y);
        } else if constexpr (std::is_same_v<T, double>) {
          return std::memcmp(&x, &y, sizeof(double)) == 0;
        } else if constexpr (std::is_same_v<T, std::vector<double>>) {
          return x.size() == y.size() && (x.empty() || std::memcmp(x.data(), y.data(), x.size() * sizeof(double)) == 0);
        } else {
          return x == y;
        }
      },
      a.value);
}

inline void expect_value_info_equal(const ValueInfo& a, const ValueInfo& b, const std::string& where) {
  EXPECT_EQ(a.name, b.name) << where;
  EXPECT_EQ(a.dtype, b.dtype) << where << " " << a.name;
  EXPECT_EQ(a.has_shape, b.has_shape) << where << " " << a.name;
  EXPECT_EQ(a.shape, b.shape) << where << " " << a.name;
  EXPECT_EQ(a.dim_params, b.dim_params) << where << " " << a.name;
}

// Same meta, graph structure, attributes, initializers (bit-exact), inputs, outputs and value types.
inline void expect_models_equal(const Model& a, const Model& b) {
  EXPECT_EQ(a.meta.producer_name, b.meta.producer_name);
  EXPECT_EQ(a.meta.producer_version, b.meta.producer_version);
  EXPECT_EQ(a.meta.domain, b.meta.domain);
  EXPECT_EQ(a.meta.doc, b.meta.doc);
  EXPECT_EQ(a.meta.ir_version, b.meta.ir_version);
  EXPECT_EQ(a.meta.model_version, b.meta.model_version);
  EXPECT_EQ(a.meta.opsets, b.meta.opsets);
  EXPECT_EQ(a.meta.props, b.meta.props);
  EXPECT_EQ(a.graph.name, b.graph.name);

  ASSERT_EQ(a.graph.nodes.size(), b.graph.nodes.size());
  for (size_t i = 0; i < a.graph.nodes.size(); ++i) {
    const Node& x = a.graph.nodes[i];
    const Node& y = b.graph.nodes[i];
    EXPECT_EQ(x.op_type, y.op_type) << "node " << i;
    EXPECT_EQ(x.domain, y.domain) << "node " << i;
    EXPECT_EQ(x.name, y.name) << "node " << i;
    // A node the reader lowered (ConvInteger -> Cast, Sub, Conv, ...) is written as itself: read back, its
    // provenance is its own name, no longer the original op's.
    if (x.prov.op_type == x.op_type) EXPECT_EQ(x.prov.name, y.prov.name) << "node " << i;
    else EXPECT_EQ(x.name, y.prov.name) << "node " << i;
    EXPECT_EQ(x.inputs, y.inputs) << "node " << x.name;
    EXPECT_EQ(x.outputs, y.outputs) << "node " << x.name;
    ASSERT_EQ(x.attrs.size(), y.attrs.size()) << "node " << x.name;
    for (const auto& [key, attr] : x.attrs) {
      auto it = y.attrs.find(key);
      ASSERT_TRUE(it != y.attrs.end()) << "node " << x.name << " lost attribute " << key;
      EXPECT_TRUE(attributes_equal(attr, it->second)) << "node " << x.name << " attribute " << key;
    }
  }
  ASSERT_EQ(a.graph.initializers.size(), b.graph.initializers.size());
  for (const auto& [name, t] : a.graph.initializers) {
    auto it = b.graph.initializers.find(name);
    ASSERT_TRUE(it != b.graph.initializers.end()) << "lost initializer " << name;
    EXPECT_TRUE(tensors_identical(t, it->second)) << "initializer " << name;
  }
  ASSERT_EQ(a.graph.inputs.size(), b.graph.inputs.size());
  for (size_t i = 0; i < a.graph.inputs.size(); ++i) expect_value_info_equal(a.graph.inputs[i], b.graph.inputs[i], "input");
  ASSERT_EQ(a.graph.outputs.size(), b.graph.outputs.size());
  for (size_t i = 0; i < a.graph.outputs.size(); ++i) {
    // The writer may complete an untyped output from value_info; the name and a declared type must survive.
    EXPECT_EQ(a.graph.outputs[i].name, b.graph.outputs[i].name);
    if (a.graph.outputs[i].dtype != DType::kUndefined)
      expect_value_info_equal(a.graph.outputs[i], b.graph.outputs[i], "output");
  }
  for (const auto& [name, v] : a.graph.value_info) {
    auto it = b.graph.value_info.find(name);
    ASSERT_TRUE(it != b.graph.value_info.end()) << "lost value_info " << name;
    expect_value_info_equal(v, it->second, "value_info");
  }
}

// The message of the InputError `f` throws ("" plus a test failure when it throws nothing or
// something else).
template <typename F>
std::string input_error_of(F&& f) {
  try {
    f();
  } catch (const InputError& e) {
    return e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "expected InputError, got another exception: " << e.what();
    return "";
  }
  ADD_FAILURE() << "expected InputError, nothing was thrown";
  return "";
}

}  // namespace transfix::testing
