// Lowering of hand-built TorchScript graphs (no libtorch needed): in-place semantics, constant
// folding of traced shape arithmetic, messages for unsupported ops.
#include <gtest/gtest.h>

#include "core/errors.h"
#include "formats/torchscript/torchscript_reader.h"

namespace transfix {
namespace {

struct GraphBuilder {
  ts::Graph g;
  int value(const std::string& name, const std::string& type = "Tensor") {
    g.values.push_back(ts::Value{name, type, false, false, false, ts::None{}});
    return static_cast<int>(g.values.size() - 1);
  }
  int constant(const std::string& name, ts::Const c, const std::string& type) {
    g.values.push_back(ts::Value{name, type, true, false, false, std::move(c)});
    return static_cast<int>(g.values.size() - 1);
  }
  void node(const std::string& kind, std::vector<int> ins, std::vector<int> outs, const std::string& module = "") {
    g.nodes.push_back(ts::Node{kind, std::move(ins), std::move(outs), module, static_cast<int64_t>(g.nodes.size()), false});
  }
};

const Node& find_op(const Model& m, const std::string& op) {
  for (const Node& n : m.graph.nodes)
    if (n.op_type == op) return n;
  throw std::runtime_error("no " + op);
}

TEST(TorchScriptLower, InPlaceOpRebindsItsInput) {
  // y = relu_(x); z = add(x, y, 1): after the in-place op, x means relu(x).
  GraphBuilder b;
  int x = b.value("x.1"), y = b.value("y"), z = b.value("z");
  int one = b.constant("one", int64_t{1}, "int");
  b.g.inputs = {x};
  b.node("aten::relu_", {x}, {y}, "act");
  b.node("aten::add", {x, y, one}, {z});
  b.g.outputs = {z};
  Model m = lower_torchscript(b.g, "hand.pt");
  const Node& relu = find_op(m, "Relu");
  const Node& add = find_op(m, "Add");
  EXPECT_EQ(relu.inputs[0], "x");
  EXPECT_EQ(add.inputs[0], relu.outputs[0]);
  EXPECT_EQ(add.inputs[1], relu.outputs[0]);
  EXPECT_EQ(relu.prov.op_type, "aten::relu_");
  EXPECT_EQ(relu.prov.name, "act");
  ASSERT_EQ(m.graph.outputs.size(), 1u);
  EXPECT_EQ(m.graph.outputs[0].name, "output");
  EXPECT_EQ(add.outputs[0], "output");
}

TEST(TorchScriptLower, ConstantShapeArithmeticFolds) {
  // view(x, [floor_divide(12, 4), -1]) with constants: the shape is an initializer [3, -1].
  GraphBuilder b;
  int x = b.value("x"), q = b.value("q", "int"), shape = b.value("shape", "int[]"), y = b.value("y");
  int twelve = b.constant("twelve", int64_t{12}, "int"), four = b.constant("four", int64_t{4}, "int");
  int minus1 = b.constant("m1", int64_t{-1}, "int");
  b.g.inputs = {x};
  b.node("aten::floor_divide", {twelve, four}, {q});
  b.node("prim::ListConstruct", {q, minus1}, {shape});
  b.node("aten::view", {x, shape}, {y});
  b.g.outputs = {y};
  Model m = lower_torchscript(b.g, "hand.pt");
  ASSERT_EQ(m.graph.nodes.size(), 1u);
  const Node& reshape = m.graph.nodes[0];
  EXPECT_EQ(reshape.op_type, "Reshape");
  EXPECT_EQ(m.graph.initializers.at(reshape.inputs[1]).to_i64_vector(), (std::vector<int64_t>{3, -1}));
}

TEST(TorchScriptLower, UnsupportedOpNamesOpModuleAndFile) {
  GraphBuilder b;
  int x = b.value("x"), y = b.value("y");
  b.g.inputs = {x};
  b.node("aten::fft_fft", {x}, {y}, "features.3.conv.1");
  b.g.outputs = {y};
  try {
    lower_torchscript(b.g, "hand.pt");
    FAIL() << "expected UnsupportedError";
  } catch (const UnsupportedError& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find("hand.pt"), std::string::npos) << msg;
    EXPECT_NE(msg.find("aten::fft_fft"), std::string::npos) << msg;
    EXPECT_NE(msg.find("features.3.conv.1"), std::string::npos) << msg;
    EXPECT_EQ(e.op(), "aten::fft_fft");
  }
}

TEST(TorchScriptLower, NonTensorGraphInputIsUnsupported) {
  GraphBuilder b;
  int x = b.value("flag", "bool");
  b.g.inputs = {x};
  b.g.outputs = {x};
  EXPECT_THROW(lower_torchscript(b.g, "hand.pt"), UnsupportedError);
}

}  // namespace
}  // namespace transfix
