// Each injectable conversion fault (mutate.h) on one small hand-built graph that has a site for
// every kind: it applies at the node asked for, changes exactly what it says, changes the outputs
// (beyond noise) and records its ground truth.
#include <gtest/gtest.h>

#include <functional>

#include "core/errors.h"
#include "graph_builder.h"
#include "mutate/mutate.h"

using namespace transfix;
using namespace transfix::testing;

namespace {

// x [1,3,8,8] -> conv1 (pads 1) -> bn1 -> relu1 -> conv_s2 (stride 2, pads 1) -> clip (0, 6)
// -> up_lin (linear Resize x2) -> sub = up_lin - relu1 -> cat = [sub, relu1] on channels
// -> pool (MaxPool 3x3 / 2, ceil_mode matters) -> up_near (nearest Resize x2) -> tr (to NHWC) -> y
Model zoo() {
  GraphBuilder b(5);
  std::string x = b.input("x", {1, 3, 8, 8});
  x = b.conv("conv1", x, 3, 4, 3, 1);
  const std::string scale = b.initializer("bn1.scale", uniform_tensor(b.rng(), {4}, 0.5f, 1.5f));
  const std::string bias = b.weight("bn1.bias", {4}, 0.2f), mean = b.weight("bn1.mean", {4}, 0.1f);
  const std::string var = b.initializer("bn1.var", uniform_tensor(b.rng(), {4}, 0.002f, 0.01f));
  x = b.node("BatchNormalization", "bn1", {x, scale, bias, mean, var});
  const std::string relu1 = b.node("Relu", "relu1", {x});
  x = b.conv("conv_s2", relu1, 4, 4, 3, 1, 2);
  b.initializer("clip.min", Tensor::scalar<float>(0.0f));
  b.initializer("clip.max", Tensor::scalar<float>(6.0f));
  x = b.node("Clip", "clip", {x, "clip.min", "clip.max"});
  b.initializer("x2", Tensor::from_vector<float>({1, 1, 2, 2}, {4}));
  x = b.node("Resize", "up_lin", {x, "", "x2"}, {{"mode", Attribute{std::string("linear")}}});
  x = b.node("Sub", "sub", {x, relu1});
  x = b.node("Concat", "cat", {x, relu1}, {{"axis", int_attr(1)}});
  x = b.node("MaxPool", "pool", {x}, {{"kernel_shape", ints_attr({3, 3})}, {"strides", ints_attr({2, 2})}});
  x = b.node("Resize", "up_near", {x, "", "x2"}, {{"mode", Attribute{std::string("nearest")}}});
  x = b.node("Transpose", "tr", {x}, {{"perm", ints_attr({0, 2, 3, 1})}}, {"y"});
  b.output(x);
  return b.finish();
}

const Tensor& weight_of(const Model& m, const std::string& node, size_t input) {
  return m.graph.initializers.at(node_named(m, node).inputs.at(input));
}

using Check = std::function<void(const Model& before, const Model& after, const Mutation& m)>;

struct Case {
  std::string kind, site;
  Check check;
  float input_scale = 1;  // large enough for the fault to show (ReLU6 vs ReLU needs values over 6)
};

std::vector<Case> cases() {
  auto attr_ints = [](const std::string& node, const std::string& key, std::vector<int64_t> want) {
    return [=](const Model&, const Model& a, const Mutation&) { EXPECT_EQ(node_named(a, node).attr_ints(key), want); };
  };
  return {
      {"input-layout", "x",
       [](const Model&, const Model& a, const Mutation& m) {
         EXPECT_EQ(m.op_type, "Reshape");
         EXPECT_EQ(node_named(a, "mutate/input_transpose").attr_ints("perm"), (std::vector<int64_t>{0, 3, 1, 2}));
         EXPECT_NE(node_named(a, "conv1").inputs[0], "x");
       }},
      {"input-normalization", "x",
       [](const Model&, const Model& a, const Mutation& m) {
         EXPECT_EQ(m.op_type, "Sub");
         EXPECT_EQ(node_named(a, "mutate/input_div").op_type, "Div");
         EXPECT_NE(node_named(a, "conv1").inputs[0], "x");
       }},
      {"channel-order", "conv1",
       [](const Model& b, const Model& a, const Mutation&) {
         const Tensor &w0 = weight_of(b, "conv1", 1), &w1 = weight_of(a, "conv1", 1);
         // w1[o, c] == w0[o, 2 - c] for the 3 input channels.
         const int64_t k = 9;
         for (int64_t o = 0; o < 4; ++o)
           for (int64_t c = 0; c < 3; ++c)
             for (int64_t j = 0; j < k; ++j)
               ASSERT_EQ(w1.data<float>()[(o * 3 + c) * k + j], w0.data<float>()[(o * 3 + 2 - c) * k + j]);
       }},
      {"weights-fp16", "conv_s2",
       [](const Model& b, const Model& a, const Mutation&) {
         const Tensor& w0 = weight_of(b, "conv_s2", 1);
         EXPECT_EQ(max_diff(weight_of(a, "conv_s2", 1), w0.cast(DType::kF16).cast(DType::kF32)), 0.0);
         EXPECT_GT(max_diff(weight_of(a, "conv_s2", 1), w0), 0.0);
       }},
      {"weights-int8", "conv_s2",
       [](const Model&, const Model& a, const Mutation&) {
         const auto w = weight_of(a, "conv_s2", 1).to_f64_vector();
         double amax = 0;
         for (double v : w) amax = std::max(amax, std::fabs(v));
         const double step = static_cast<double>(static_cast<float>(amax) / 127.0f);
         for (double v : w) ASSERT_NEAR(v / step, std::nearbyint(v / step), 1e-3);  // on a 255-level grid
       }},
      {"weights-transposed", "conv_s2",
       [](const Model& b, const Model& a, const Mutation&) {
         const Tensor &w0 = weight_of(b, "conv_s2", 1), &w1 = weight_of(a, "conv_s2", 1);
         for (int64_t oi = 0; oi < 16; ++oi)
           for (int64_t y = 0; y < 3; ++y)
             for (int64_t x = 0; x < 3; ++x)
               ASSERT_EQ(w1.data<float>()[(oi * 3 + y) * 3 + x], w0.data<float>()[(oi * 3 + x) * 3 + y]);
       }},
      {"channel-permutation", "conv_s2",
       [](const Model& b, const Model& a, const Mutation&) {
         // Each output channel's weights and bias are some original channel's, not all in place.
         const Tensor &w0 = weight_of(b, "conv_s2", 1), &w1 = weight_of(a, "conv_s2", 1);
         const Tensor &b0 = weight_of(b, "conv_s2", 2), &b1 = weight_of(a, "conv_s2", 2);
         int moved = 0;
         for (int64_t o = 0; o < 4; ++o) {
           int64_t from = -1;
           for (int64_t q = 0; q < 4; ++q)
             if (std::equal(w1.data<float>() + o * 36, w1.data<float>() + o * 36 + 36, w0.data<float>() + q * 36)) from = q;
           ASSERT_GE(from, 0);
           EXPECT_EQ(b1.data<float>()[o], b0.data<float>()[from]);
           moved += from != o;
         }
         EXPECT_GE(moved, 2);
       }},
      {"bias-dropped", "conv_s2",
       [](const Model&, const Model& a, const Mutation&) { EXPECT_FALSE(node_named(a, "conv_s2").has_input(2)); }},
      {"bn-folded-twice", "conv_s2",
       [](const Model& b, const Model& a, const Mutation&) {
         const Tensor &w0 = weight_of(b, "conv_s2", 1), &w1 = weight_of(a, "conv_s2", 1);
         const Tensor &b0 = weight_of(b, "conv_s2", 2), &b1 = weight_of(a, "conv_s2", 2);
         for (int64_t o = 0; o < 4; ++o) {
           const double f = w1.data<float>()[o * 36] / static_cast<double>(w0.data<float>()[o * 36]);
           EXPECT_GE(f, 0.6 - 1e-6);
           EXPECT_LE(f, 1.4 + 1e-6);
           for (int64_t j = 0; j < 36; ++j) ASSERT_NEAR(w1.data<float>()[o * 36 + j], f * w0.data<float>()[o * 36 + j], 1e-6);
           EXPECT_NEAR(b1.data<float>()[o], f * b0.data<float>()[o], 1e-6);
         }
       }},
      {"epsilon", "bn1",
       [](const Model&, const Model& a, const Mutation&) { EXPECT_NEAR(node_named(a, "bn1").attr_float("epsilon", 0), 1e-2, 1e-9); }},
      {"pads", "conv1", attr_ints("conv1", "pads", {0, 0, 2, 2})},
      {"same-padding", "conv_s2",
       [](const Model&, const Model& a, const Mutation&) {
         EXPECT_EQ(node_named(a, "conv_s2").attr_string("auto_pad", ""), "SAME_UPPER");
         EXPECT_FALSE(node_named(a, "conv_s2").has_attr("pads"));
       }},
      {"stride", "conv1", attr_ints("conv1", "strides", {2, 2})},
      {"dilation", "conv1",
       [](const Model&, const Model& a, const Mutation&) {
         EXPECT_EQ(node_named(a, "conv1").attr_ints("dilations"), (std::vector<int64_t>{2, 2}));
         EXPECT_EQ(node_named(a, "conv1").attr_ints("pads"), (std::vector<int64_t>{2, 2, 2, 2}));
       }},
      {"ceil-mode", "pool",
       [](const Model&, const Model& a, const Mutation&) { EXPECT_EQ(node_named(a, "pool").attr_int("ceil_mode", 0), 1); }},
      {"resize-coordinate-mode", "up_lin",
       [](const Model&, const Model& a, const Mutation&) {
         EXPECT_EQ(node_named(a, "up_lin").attr_string("coordinate_transformation_mode", ""), "asymmetric");
       }},
      {"nearest-mode", "up_near",
       [](const Model&, const Model& a, const Mutation&) { EXPECT_EQ(node_named(a, "up_near").attr_string("nearest_mode", ""), "floor"); }},
      {"activation-swapped", "clip",
       [](const Model&, const Model& a, const Mutation&) {
         EXPECT_EQ(node_named(a, "clip").op_type, "Relu");
         EXPECT_EQ(node_named(a, "clip").inputs.size(), 1u);
       },
       20},
      {"activation-dropped", "relu1",
       [](const Model&, const Model& a, const Mutation&) {
         for (const auto& n : a.graph.nodes) EXPECT_NE(n.name, "relu1");
         EXPECT_EQ(node_named(a, "conv_s2").inputs[0], "bn1_out");
         EXPECT_EQ(node_named(a, "sub").inputs[1], "bn1_out");
       }},
      {"operand-swap", "sub",
       [](const Model&, const Model& a, const Mutation&) {
         EXPECT_EQ(node_named(a, "sub").inputs, (std::vector<std::string>{"relu1_out", "up_lin_out"}));
       }},
      {"concat-axis", "cat", [](const Model&, const Model& a, const Mutation&) { EXPECT_EQ(node_named(a, "cat").attr_int("axis", -1), 2); }},
      {"transpose-perm", "tr", attr_ints("tr", "perm", {0, 2, 1, 3})},
  };
}

std::map<std::string, Tensor> scaled_input(const Model& m, float scale) {
  auto in = random_input(m);
  Tensor& x = in.at("x");
  std::vector<float> v(x.data<float>(), x.data<float>() + x.numel());
  for (auto& e : v) e *= scale;
  x = Tensor::from_vector<float>(v, x.shape());
  return in;
}

}  // namespace

TEST(MutateUnit, EveryKindHasACaseHere) {
  std::set<std::string> covered;
  for (const auto& c : cases()) covered.insert(c.kind);
  for (const auto& k : mutation_kinds()) EXPECT_TRUE(covered.count(k.name)) << "no unit test for mutation kind " << k.name;
  EXPECT_EQ(covered.size(), mutation_kinds().size());
}

TEST(MutateUnit, EachKindChangesWhatItSaysAndTheOutputs) {
  const Model original = zoo();
  for (const auto& c : cases()) {
    SCOPED_TRACE(c.kind);
    const auto sites = mutation_sites(original, c.kind);
    ASSERT_NE(std::find(sites.begin(), sites.end(), c.site), sites.end()) << "site " << c.site;
    Model mutated = original;
    Mutation m = mutate_model(mutated, c.kind, c.site == "x" ? std::nullopt : std::optional<std::string>(c.site), 3);
    EXPECT_EQ(m.kind, c.kind);
    for (const auto& k : mutation_kinds()) {
      if (k.name == c.kind) {
        EXPECT_EQ(m.category, k.category);
      }
    }
    if (c.site != "x") {
      EXPECT_EQ(m.node, c.site);
      EXPECT_EQ(m.op_type, node_named(original, c.site).op_type);
    }
    EXPECT_FALSE(m.detail.empty());
    c.check(original, mutated, m);
    // The outputs change beyond noise (or their shape does).
    const auto in = scaled_input(original, c.input_scale);
    const Tensor before = run(original, in).at("y");
    std::map<std::string, Tensor> after;
    ASSERT_NO_THROW(after = run(mutated, in)) << "the mutated model does not run";
    const Tensor& y = after.at(mutated.graph.outputs.at(0).name);
    if (y.shape() == before.shape()) {
      EXPECT_GT(max_diff(before, y), 1e-5 * max_abs_value(before));  // fp32 noise is ~1e-7 of the scale
    } else {
      EXPECT_TRUE(c.kind == "stride" || c.kind == "ceil-mode" || c.kind == "concat-axis" || c.kind == "transpose-perm")
          << shape_str(before.shape()) << " -> " << shape_str(y.shape());
    }
  }
}

TEST(MutateUnit, ModelsWithoutASiteAreRejected) {
  const Model cnn = small_cnn();
  EXPECT_TRUE(mutation_sites(cnn, "epsilon").empty());
  EXPECT_TRUE(mutation_sites(cnn, "operand-swap").empty());
  EXPECT_EQ(mutation_sites(cnn, "channel-order"), std::vector<std::string>{"conv1"});
  Model m = cnn;
  EXPECT_THROW(mutate_model(m, "epsilon", std::nullopt, 1), InputError);
  EXPECT_THROW(mutate_model(m, "pads", std::string("relu1"), 1), InputError);
  EXPECT_THROW(mutate_model(m, "no-such-kind", std::nullopt, 1), InputError);
  // A pooling whose window tiles its input exactly is no ceil-mode site: flipping it changes nothing.
  Model tiled = cnn;
  node_named(tiled, "pool").attrs["kernel_shape"] = ints_attr({2, 2});
  GraphBuilder::fill_shapes(tiled);
  EXPECT_TRUE(mutation_sites(tiled, "ceil-mode").empty());
}

TEST(MutateUnit, SameSeedSameMutation) {
  const Model original = zoo();
  Model a = original, b = original;
  Mutation ma = mutate_model(a, "channel-permutation", std::nullopt, 42);
  Mutation mb = mutate_model(b, "channel-permutation", std::nullopt, 42);
  EXPECT_EQ(ma.node, mb.node);
  EXPECT_EQ(max_diff(weight_of(a, ma.node, 1), weight_of(b, mb.node, 1)), 0.0);
  EXPECT_EQ(mutation_json(ma)["category"], "parameters");
  EXPECT_EQ(mutation_json(ma)["node"], ma.node);
}
