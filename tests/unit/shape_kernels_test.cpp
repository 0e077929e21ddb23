// Shape, data-movement, resize and quantization kernels. Expected values are computed by hand from
// the ONNX operator definitions (the official conformance data covers the rest).
#include <gtest/gtest.h>

#include <cstring>
#include <limits>

#include "core/errors.h"
#include "runtime/interpreter.h"

using namespace transfix;

namespace {

// Runs one node whose inputs are given as initializers; returns its outputs in order.
std::vector<Tensor> run_node(const std::string& op, const std::vector<Tensor>& inputs, int64_t opset,
                             std::map<std::string, Attribute> attrs = {}, size_t num_outputs = 1,
                             Precision precision = Precision::kF32) {
  Model m;
  m.meta.opsets[""] = opset;
  Node n;
  n.op_type = op;
  n.name = "n";
  n.attrs = std::move(attrs);
  for (size_t i = 0; i < inputs.size(); ++i) {
    std::string name = "in" + std::to_string(i);
    if (!inputs[i].defined()) { n.inputs.push_back(""); continue; }
    n.inputs.push_back(name);
    m.graph.initializers[name] = inputs[i];
  }
  for (size_t o = 0; o < num_outputs; ++o) {
    n.outputs.push_back("out" + std::to_string(o));
    ValueInfo vi;
    vi.name = n.outputs.back();
    m.graph.outputs.push_back(vi);
  }
  m.graph.nodes.push_back(n);
  Interpreter interp(m, {precision});
  auto out = interp.run({});
  std::vector<Tensor> result;
  for (size_t o = 0; o < num_outputs; ++o) result.push_back(out.at("out" + std::to_string(o)));
  return result;
}

Tensor run1(const std::string& op, const std::vector<Tensor>& inputs, int64_t opset, std::map<std::string, Attribute> attrs = {}) {
  return run_node(op, inputs, opset, std::move(attrs)).at(0);
}

Tensor f32(std::vector<float> v, Shape s) { return Tensor::from_vector<float>(v, std::move(s)); }
Tensor i64(std::vector<int64_t> v) {
  Shape s{static_cast<int64_t>(v.size())};
  return Tensor::from_vector<int64_t>(v, s);
}
Attribute ints(std::vector<int64_t> v) { return Attribute{v}; }
Attribute one(int64_t v) { return Attribute{v}; }
Attribute str(std::string v) { return Attribute{v}; }
Attribute flt(double v) { return Attribute{v}; }

std::vector<double> values(const Tensor& t) { return t.to_f64_vector(); }

void expect_near(const Tensor& t, const std::vector<double>& want, double tol = 1e-6) {
  auto got = t.to_f64_vector();
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) EXPECT_NEAR(got[i], want[i], tol) << "element " << i;
}

}  // namespace

TEST(ShapeKernels, ReshapeZeroCopiesDimUnlessAllowzero) {
  Tensor x = f32({1, 2, 3, 4, 5, 6}, {2, 3});
  EXPECT_EQ(run1("Reshape", {x, i64({0, -1})}, 13).shape(), (Shape{2, 3}));
  EXPECT_EQ(run1("Reshape", {x, i64({3, -1})}, 13).shape(), (Shape{3, 2}));
  // allowzero: 0 is a real zero dim, so [0, 6] cannot hold six elements.
  EXPECT_THROW(run1("Reshape", {x, i64({0, 6})}, 14, {{"allowzero", one(1)}}), InputError);
  EXPECT_THROW(run1("Reshape", {x, i64({-1, -1})}, 13), InputError);
  EXPECT_THROW(run1("Reshape", {x, i64({4, -1})}, 13), InputError);
}

TEST(ShapeKernels, SqueezeUnsqueezeAxesAttributeThenInput) {
  Tensor x = f32({1, 2, 3}, {1, 3, 1});
  EXPECT_EQ(run1("Squeeze", {x}, 11, {{"axes", ints({-1})}}).shape(), (Shape{1, 3}));
  EXPECT_EQ(run1("Squeeze", {x, i64({0})}, 13).shape(), (Shape{3, 1}));
  EXPECT_EQ(run1("Squeeze", {x}, 13).shape(), (Shape{3}));
  EXPECT_THROW(run1("Squeeze", {x, i64({1})}, 13), InputError);  // dim 1 has size 3
  EXPECT_EQ(run1("Unsqueeze", {x}, 11, {{"axes", ints({0, 4})}}).shape(), (Shape{1, 1, 3, 1, 1}));
  EXPECT_EQ(run1("Unsqueeze", {x, i64({-1})}, 13).shape(), (Shape{1, 3, 1, 1}));
  EXPECT_THROW(run1("Unsqueeze", {x, i64({0, 0})}, 13), InputError);
  EXPECT_EQ(run1("Flatten", {f32({0, 0, 0, 0, 0, 0}, {1, 2, 3})}, 13, {{"axis", one(-1)}}).shape(), (Shape{2, 3}));
}

TEST(ShapeKernels, ShapeStartEnd) {
  Tensor x(DType::kF32, {2, 3, 4, 5});
  EXPECT_EQ(values(run1("Shape", {x}, 15, {{"start", one(1)}, {"end", one(-1)}})), (std::vector<double>{3, 4}));
  EXPECT_EQ(values(run1("Shape", {x}, 15, {{"start", one(-10)}})), (std::vector<double>{2, 3, 4, 5}));
  EXPECT_EQ(values(run1("Size", {x}, 13)), (std::vector<double>{120}));
}

TEST(ShapeKernels, ConstantIsPromotedInFp64) {
  auto out = run_node("Constant", {}, 13, {{"value", Attribute{f32({1.5f}, {1})}}}, 1, Precision::kF64).at(0);
  EXPECT_EQ(out.dtype(), DType::kF64);
  EXPECT_EQ(values(out), (std::vector<double>{1.5}));
  EXPECT_EQ(run1("Constant", {}, 13, {{"value_ints", ints({4, 5})}}).dtype(), DType::kI64);
  auto filled = run1("ConstantOfShape", {i64({2, 2})}, 13, {{"value", Attribute{Tensor::from_vector<int32_t>({7}, {1})}}});
  EXPECT_EQ(filled.dtype(), DType::kI32);
  EXPECT_EQ(values(filled), (std::vector<double>{7, 7, 7, 7}));
}

TEST(ShapeKernels, RangeAndEyeLike) {
  EXPECT_EQ(values(run1("Range", {Tensor::scalar<int32_t>(10), Tensor::scalar<int32_t>(4), Tensor::scalar<int32_t>(-3)}, 11)),
            (std::vector<double>{10, 7}));
  EXPECT_THROW(run1("Range", {Tensor::scalar<int32_t>(0), Tensor::scalar<int32_t>(4), Tensor::scalar<int32_t>(0)}, 11), InputError);
  EXPECT_EQ(values(run1("EyeLike", {Tensor(DType::kF32, {2, 3})}, 9, {{"k", one(1)}})), (std::vector<double>{0, 1, 0, 0, 0, 1}));
}

TEST(ShapeKernels, TransposeMovesElements) {
  Tensor x = f32({0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}, {2, 3, 2});
  // out[i, j, k] = x[i, k, j]
  EXPECT_EQ(values(run1("Transpose", {x}, 13, {{"perm", ints({0, 2, 1})}})),
            (std::vector<double>{0, 2, 4, 1, 3, 5, 6, 8, 10, 7, 9, 11}));
  // default perm reverses: out[k, j, i] = x[i, j, k]
  EXPECT_EQ(values(run1("Transpose", {x}, 13)), (std::vector<double>{0, 6, 2, 8, 4, 10, 1, 7, 3, 9, 5, 11}));
  EXPECT_THROW(run1("Transpose", {x}, 13, {{"perm", ints({0, 0, 1})}}), InputError);
}

TEST(ShapeKernels, LargeTransposeMatchesNaiveIndexing) {
  const int64_t a = 3, b = 37, c = 41, d = 5;
  std::vector<float> v(static_cast<size_t>(a * b * c * d));
  for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<float>(i);
  Tensor out = run1("Transpose", {f32(v, {a, b, c, d})}, 13, {{"perm", ints({2, 0, 3, 1})}});
  ASSERT_EQ(out.shape(), (Shape{c, a, d, b}));
  const float* o = out.data<float>();
  size_t bad = 0;
  for (int64_t k = 0; k < c; ++k)
    for (int64_t i = 0; i < a; ++i)
      for (int64_t l = 0; l < d; ++l)
        for (int64_t j = 0; j < b; ++j)
          bad += o[((k * a + i) * d + l) * b + j] != static_cast<float>(((i * b + j) * c + k) * d + l);
  EXPECT_EQ(bad, 0u);
}

TEST(ShapeKernels, Float16IsCopiedBitExact) {
  Tensor h(DType::kF16, {2, 2});
  const uint16_t bits[4] = {0x7e01, 0x3c00, 0x8001, 0xfbff};  // NaN payload, 1, -denormal, -max
  std::memcpy(h.raw_mutable(), bits, sizeof bits);
  Tensor t = run1("Transpose", {h}, 13);
  ASSERT_EQ(t.dtype(), DType::kF16);
  const auto* o = static_cast<const uint16_t*>(t.raw());
  EXPECT_EQ(o[0], 0x7e01);
  EXPECT_EQ(o[1], 0x8001);
  EXPECT_EQ(o[2], 0x3c00);
  EXPECT_EQ(o[3], 0xfbff);
}

TEST(ShapeKernels, SliceNegativeStepsAndClamping) {
  Tensor x = f32({0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, {10});
  const int64_t lo = std::numeric_limits<int64_t>::min(), hi = std::numeric_limits<int64_t>::max();
  EXPECT_EQ(values(run1("Slice", {x, i64({-1}), i64({lo}), i64({0}), i64({-3})}, 13)), (std::vector<double>{9, 6, 3, 0}));
  EXPECT_EQ(values(run1("Slice", {x, i64({2}), i64({hi}), Tensor(), i64({4})}, 13)), (std::vector<double>{2, 6}));
  EXPECT_EQ(values(run1("Slice", {x, i64({20}), i64({-20}), i64({0}), i64({-4})}, 13)), (std::vector<double>{9, 5, 1}));
  EXPECT_EQ(run1("Slice", {x, i64({5}), i64({2})}, 13).numel(), 0);
  // opset < 10: attributes
  EXPECT_EQ(values(run1("Slice", {x}, 9, {{"starts", ints({-3})}, {"ends", ints({100})}})), (std::vector<double>{7, 8, 9}));
  EXPECT_THROW(run1("Slice", {x, i64({0}), i64({5}), i64({0}), i64({0})}, 13), InputError);
  EXPECT_THROW(run1("Slice", {x, i64({0}), i64({5}), i64({1})}, 13), InputError);
}

TEST(ShapeKernels, ConcatAndSplit) {
  Tensor a = Tensor::from_vector<int64_t>({1, 2, 3, 4}, {2, 2});
  Tensor b = Tensor::from_vector<int64_t>({5, 6}, {2, 1});
  Tensor c = run1("Concat", {a, b}, 13, {{"axis", one(-1)}});
  EXPECT_EQ(c.shape(), (Shape{2, 3}));
  EXPECT_EQ(values(c), (std::vector<double>{1, 2, 5, 3, 4, 6}));
  EXPECT_THROW(run1("Concat", {a, b}, 13, {{"axis", one(0)}}), InputError);
  Tensor x = f32({1, 2, 3, 4, 5, 6}, {6});
  auto parts = run_node("Split", {x}, 11, {{"split", ints({1, 5})}}, 2);
  EXPECT_EQ(values(parts[1]), (std::vector<double>{2, 3, 4, 5, 6}));
  parts = run_node("Split", {x, i64({4, 2})}, 13, {}, 2);
  EXPECT_EQ(values(parts[0]), (std::vector<double>{1, 2, 3, 4}));
  parts = run_node("Split", {x}, 13, {}, 3);
  EXPECT_EQ(values(parts[2]), (std::vector<double>{5, 6}));
  // Opset 18's num_outputs (torch.onnx's dynamo exporter writes it): parts of ceil(dim / n), the last one
  // smaller: 7 in 3 parts is 3, 3, 1; 6 in 4 parts would leave the last one empty (an error).
  Tensor seven = f32({1, 2, 3, 4, 5, 6, 7}, {7});
  parts = run_node("Split", {seven}, 18, {{"num_outputs", one(3)}}, 3);
  EXPECT_EQ(values(parts[0]), (std::vector<double>{1, 2, 3}));
  EXPECT_EQ(values(parts[2]), (std::vector<double>{7}));
  EXPECT_THROW(run_node("Split", {x}, 18, {{"num_outputs", one(4)}}, 4), InputError);
  EXPECT_THROW(run_node("Split", {x, i64({4, 1})}, 13, {}, 2), InputError);
}

TEST(ShapeKernels, GatherFamily) {
  Tensor x = f32({1, 2, 3, 4, 5, 6}, {3, 2});
  Tensor idx = Tensor::from_vector<int32_t>({-1, 0}, {2});
  EXPECT_EQ(values(run1("Gather", {x, idx}, 13)), (std::vector<double>{5, 6, 1, 2}));
  EXPECT_EQ(values(run1("Gather", {x, idx}, 13, {{"axis", one(1)}})), (std::vector<double>{2, 1, 4, 3, 6, 5}));
  EXPECT_THROW(run1("Gather", {x, i64({3})}, 13), InputError);
  Tensor ge = Tensor::from_vector<int64_t>({1, 0, 0, 0}, {2, 2});
  EXPECT_EQ(values(run1("GatherElements", {x, ge}, 13, {{"axis", one(1)}})), (std::vector<double>{2, 1, 3, 3}));
  Tensor nd = Tensor::from_vector<int64_t>({2, 1, 0, 0}, {2, 2});
  EXPECT_EQ(values(run1("GatherND", {x, nd}, 13)), (std::vector<double>{6, 1}));
  Tensor upd = f32({10, 20}, {2});
  EXPECT_EQ(values(run1("ScatterND", {x, nd, upd}, 16, {{"reduction", str("add")}})), (std::vector<double>{21, 2, 3, 4, 5, 16}));
  EXPECT_EQ(values(run1("ScatterElements", {x, Tensor::from_vector<int64_t>({2, 0}, {1, 2}), f32({7, 8}, {1, 2})}, 13)),
            (std::vector<double>{1, 8, 3, 4, 7, 6}));
}

TEST(ShapeKernels, ExpandTile) {
  Tensor x = f32({1, 2}, {2, 1});
  EXPECT_EQ(values(run1("Expand", {x, i64({2, 3})}, 13)), (std::vector<double>{1, 1, 1, 2, 2, 2}));
  EXPECT_THROW(run1("Expand", {x, i64({3, 3})}, 13), InputError);
  Tensor y = f32({1, 2, 3, 4}, {2, 2});
  Tensor t = run1("Tile", {y, i64({2, 2})}, 13);
  EXPECT_EQ(t.shape(), (Shape{4, 4}));
  EXPECT_EQ(values(t), (std::vector<double>{1, 2, 1, 2, 3, 4, 3, 4, 1, 2, 1, 2, 3, 4, 3, 4}));
}

TEST(ShapeKernels, PadModes) {
  Tensor x = f32({1, 2, 3}, {3});
  EXPECT_EQ(values(run1("Pad", {x, i64({2, 2})}, 13, {{"mode", str("reflect")}})), (std::vector<double>{3, 2, 1, 2, 3, 2, 1}));
  EXPECT_EQ(values(run1("Pad", {x, i64({2, 1})}, 13, {{"mode", str("edge")}})), (std::vector<double>{1, 1, 1, 2, 3, 3}));
  // transfix's "symmetric" (TFLite MIRROR_PAD SYMMETRIC): the mirror repeats the edge.
  EXPECT_EQ(values(run1("Pad", {x, i64({2, 3})}, 13, {{"mode", str("symmetric")}})), (std::vector<double>{2, 1, 1, 2, 3, 3, 2, 1}));
  EXPECT_EQ(values(run1("Pad", {x, i64({-1, 2}), f32({9}, {})}, 13)), (std::vector<double>{2, 3, 9, 9}));
  // opset 2 attributes, 2-D
  Tensor y = f32({1, 2, 3, 4}, {2, 2});
  EXPECT_EQ(values(run1("Pad", {y}, 2, {{"pads", ints({1, 0, 0, 1})}, {"value", flt(-1)}})),
            (std::vector<double>{-1, -1, -1, 1, 2, -1, 3, 4, -1}));
}

TEST(ShapeKernels, ResizeCoordinateModes) {
  Tensor x = f32({1, 2, 3, 4}, {4});
  Tensor none;
  // half_pixel linear x2: x_original = (o + 0.5) / 2 - 0.5, edges clamp.
  expect_near(run1("Resize", {x, none, none, i64({8})}, 13, {{"mode", str("linear")}}),
              {1, 1.25, 1.75, 2.25, 2.75, 3.25, 3.75, 4});
  // align_corners: x_original = o * 3 / 6.
  expect_near(run1("Resize", {x, none, none, i64({7})}, 13, {{"mode", str("linear")}, {"coordinate_transformation_mode", str("align_corners")}}),
              {1, 1.5, 2, 2.5, 3, 3.5, 4});
  // pytorch_half_pixel with one output: x_original = 0 (half_pixel would give 1.5).
  expect_near(run1("Resize", {x, none, none, i64({1})}, 13, {{"mode", str("linear")}, {"coordinate_transformation_mode", str("pytorch_half_pixel")}}), {1});
  expect_near(run1("Resize", {x, none, none, i64({1})}, 13, {{"mode", str("linear")}}), {2.5});
  // tf_crop_and_resize, roi [0.5, 1.5]: x_original = 1.5, 3, 4.5 (outside -> extrapolation_value).
  expect_near(run1("Resize", {x, f32({0.5f, 1.5f}, {2}), none, i64({3})}, 13,
                   {{"mode", str("linear")}, {"coordinate_transformation_mode", str("tf_crop_and_resize")}, {"extrapolation_value", flt(10)}}),
              {2.5, 4, 10});
  // asymmetric nearest, scale 0.6 -> 2 outputs at x_original 0 and 1.667.
  Tensor s = f32({0.6f}, {1});
  Attribute asym = str("asymmetric");
  EXPECT_EQ(values(run1("Resize", {x, none, s}, 13, {{"coordinate_transformation_mode", asym}, {"nearest_mode", str("floor")}})),
            (std::vector<double>{1, 2}));
  EXPECT_EQ(values(run1("Resize", {x, none, s}, 13, {{"coordinate_transformation_mode", asym}})), (std::vector<double>{1, 3}));
  // tf_half_pixel_for_nearest: x_original = (o + 0.5) / 0.5 = 1, 3.
  EXPECT_EQ(values(run1("Resize", {x, none, f32({0.5f}, {1})}, 13, {{"coordinate_transformation_mode", str("tf_half_pixel_for_nearest")}})),
            (std::vector<double>{2, 4}));
  // Resize-10 and Upsample-9: asymmetric, floor when upsampling, ceil when downsampling.
  EXPECT_EQ(values(run1("Resize", {x, s}, 10)), (std::vector<double>{1, 3}));
  EXPECT_EQ(values(run1("Upsample", {f32({1, 2}, {2}), f32({3}, {1})}, 9)), (std::vector<double>{1, 1, 1, 2, 2, 2}));
  // Upsample-7 linear: x_original = o / 2, last index clamps.
  expect_near(run1("Upsample", {f32({1, 3}, {2})}, 7, {{"mode", str("linear")}, {"scales", Attribute{std::vector<double>{2}}}}), {1, 2, 3, 3});
  EXPECT_THROW(run1("Resize", {x, none, s, i64({2})}, 13), InputError);
  EXPECT_THROW(run1("Resize", {x, none, f32({-1}, {1})}, 13), InputError);
}

TEST(ShapeKernels, ResizeCubicExcludeOutsideRenormalizes) {
  // One output at x_original = 0 with cubic taps at -1, 0, 1, 2: weights (0, 1, 0, 0) -> exact copy.
  Tensor x = f32({5, 7, 11}, {3});
  Tensor none;
  expect_near(run1("Resize", {x, none, none, i64({3})}, 13, {{"mode", str("cubic")}, {"exclude_outside", one(1)}}), {5, 7, 11});
  // Keys kernel at r = 0.5, A = -0.75: weights (-0.09375, 0.59375, 0.59375, -0.09375).
  // asymmetric x2 on [5, 7, 11], output 1 -> x_original 0.5 with taps at -1 (clamped to 0), 0, 1, 2:
  expect_near(run1("Resize", {x, none, none, i64({6})}, 13, {{"mode", str("cubic")}, {"coordinate_transformation_mode", str("asymmetric")}}).reshaped({6}),
              {5, -0.09375 * 5 + 0.59375 * 5 + 0.59375 * 7 - 0.09375 * 11, 7, -0.09375 * 5 + 0.59375 * 7 + 0.59375 * 11 - 0.09375 * 11, 11,
               -0.09375 * 7 + 0.59375 * 11 + 0.59375 * 11 - 0.09375 * 11}, 1e-5);
}

TEST(ShapeKernels, TopKTiesKeepLowerIndexFirst) {
  Tensor x = f32({3, 1, 3, 2}, {4});
  auto out = run_node("TopK", {x, i64({2})}, 11, {}, 2);
  EXPECT_EQ(values(out[0]), (std::vector<double>{3, 3}));
  EXPECT_EQ(values(out[1]), (std::vector<double>{0, 2}));
  out = run_node("TopK", {x, i64({3})}, 11, {{"largest", one(0)}}, 2);
  EXPECT_EQ(values(out[1]), (std::vector<double>{1, 3, 0}));
  out = run_node("TopK", {x}, 9, {{"k", one(1)}}, 2);
  EXPECT_EQ(values(out[1]), (std::vector<double>{0}));
  EXPECT_THROW(run_node("TopK", {x, i64({5})}, 11, {}, 2), InputError);
}

TEST(ShapeKernels, DepthToSpaceModes) {
  Tensor x = f32({0, 1, 2, 3, 4, 5, 6, 7}, {1, 8, 1, 1});
  // DCR: channel (i * b + j) * C' + c;  CRD: channel c * b * b + i * b + j.
  EXPECT_EQ(values(run1("DepthToSpace", {x}, 13, {{"blocksize", one(2)}})), (std::vector<double>{0, 2, 4, 6, 1, 3, 5, 7}));
  EXPECT_EQ(values(run1("DepthToSpace", {x}, 13, {{"blocksize", one(2)}, {"mode", str("CRD")}})), (std::vector<double>{0, 1, 2, 3, 4, 5, 6, 7}));
  Tensor y = f32({0, 1, 2, 3}, {1, 1, 2, 2});
  EXPECT_EQ(values(run1("SpaceToDepth", {y}, 13, {{"blocksize", one(2)}})), (std::vector<double>{0, 1, 2, 3}));
}

TEST(ShapeKernels, QuantizeRoundsHalfToEvenAndSaturates) {
  Tensor x = f32({0.5f, 1.5f, 2.5f, -1000, 1000}, {5});
  Tensor q = run1("QuantizeLinear", {x, f32({1}, {}), Tensor::scalar<int8_t>(0)}, 13);
  EXPECT_EQ(q.dtype(), DType::kI8);
  EXPECT_EQ(values(q), (std::vector<double>{0, 2, 2, -128, 127}));
  Tensor u = run1("QuantizeLinear", {f32({-1, 3}, {2}), f32({2}, {})}, 10);
  EXPECT_EQ(u.dtype(), DType::kU8);
  EXPECT_EQ(values(u), (std::vector<double>{0, 2}));  // -0.5 -> 0; 1.5 -> 2
  // per-axis dequantize along axis 1: (q - zp[c]) * scale[c]
  Tensor qx = Tensor::from_vector<uint8_t>({10, 20, 30, 40}, {2, 2});
  auto d = run_node("DequantizeLinear", {qx, f32({0.5f, 2}, {2}), Tensor::from_vector<uint8_t>({10, 0}, {2})}, 13, {}, 1, Precision::kF64).at(0);
  EXPECT_EQ(d.dtype(), DType::kF64);
  EXPECT_EQ(values(d), (std::vector<double>{0, 40, 10, 80}));
  // ONNX Runtime's quantize_static writes a bias's scale as [1] beside a scalar zero point: per tensor.
  Tensor bias = Tensor::from_vector<int32_t>({-4, 6}, {2});
  EXPECT_EQ(values(run1("DequantizeLinear", {bias, f32({0.25f}, {1}), Tensor::scalar<int32_t>(0)}, 13)),
            (std::vector<double>{-1, 1.5}));
}

TEST(ShapeKernels, MiscOps) {
  Tensor m = f32({1, 2, 3, 4, 5, 6, 7, 8, 9}, {3, 3});
  EXPECT_EQ(values(run1("Trilu", {m, Tensor::scalar<int64_t>(1)}, 14)), (std::vector<double>{0, 2, 3, 0, 0, 6, 0, 0, 0}));
  EXPECT_EQ(values(run1("Trilu", {m}, 14, {{"upper", one(0)}})), (std::vector<double>{1, 0, 0, 4, 5, 0, 7, 8, 9}));
  Tensor v = f32({1, 2, 3}, {3});
  EXPECT_EQ(values(run1("CumSum", {v, Tensor::scalar<int32_t>(0)}, 14, {{"exclusive", one(1)}, {"reverse", one(1)}})),
            (std::vector<double>{5, 3, 0}));
  EXPECT_EQ(values(run1("OneHot", {i64({1, -1}), Tensor::scalar<int64_t>(3), f32({0, 5}, {2})}, 11)),
            (std::vector<double>{0, 5, 0, 0, 0, 5}));
  EXPECT_EQ(values(run1("NonZero", {f32({0, 1, 1, 0}, {2, 2})}, 13)), (std::vector<double>{0, 1, 1, 0}));
  Tensor cond = Tensor::from_vector<bool>({false, true}, {2});
  EXPECT_EQ(values(run1("Compress", {m, cond}, 11, {{"axis", one(1)}})), (std::vector<double>{2, 5, 8}));
}

TEST(ShapeKernels, HostileSizesFailCleanly) {
  Tensor x = f32({1, 2, 3}, {3});
  const int64_t big = int64_t{1} << 50;
  EXPECT_THROW(run1("Pad", {x, i64({big, big})}, 13), InputError);
  EXPECT_THROW(run1("Pad", {x, i64({-2, -2})}, 13), InputError);
  EXPECT_THROW(run1("Resize", {x, Tensor(), Tensor(), i64({big})}, 13), InputError);
  EXPECT_THROW(run1("Resize", {x, Tensor(), f32({1e30f}, {1})}, 13), InputError);
  EXPECT_THROW(run1("Tile", {x, i64({big})}, 13), InputError);
  EXPECT_THROW(run1("Expand", {x, i64({big, big, 3})}, 13), InputError);
  EXPECT_THROW(run1("ConstantOfShape", {i64({big, big})}, 13), InputError);
  EXPECT_THROW(run1("Range", {Tensor::scalar<float>(0), Tensor::scalar<float>(1e30f), Tensor::scalar<float>(1)}, 11), InputError);
  EXPECT_THROW(run1("GatherND", {x, Tensor::from_vector<int64_t>({0, 0}, {1, 2})}, 13), InputError);
}
