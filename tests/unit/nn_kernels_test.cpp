// Conv, ConvTranspose, pools, Gemm/MatMul, normalizations and LRN on small cases with values
// computed by hand (comments show the arithmetic), plus fp32-vs-fp64 and direct-loop agreement on
// random convolutions that exercise every Conv path (im2col tiles, pointwise, depthwise).
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "core/errors.h"
#include "runtime/kernel.h"
#include "core/thread_pool.h"

using namespace transfix;

namespace {

std::vector<Tensor> run_op(const std::string& op, const std::vector<Tensor>& inputs,
                           const std::map<std::string, AttrValue>& attrs = {}, size_t outputs = 1, int64_t opset = 17) {
  Node node;
  node.op_type = op;
  node.name = "n";
  for (size_t i = 0; i < inputs.size(); ++i) node.inputs.push_back(inputs[i].defined() ? "in" + std::to_string(i) : "");
  for (size_t i = 0; i < outputs; ++i) node.outputs.push_back("out" + std::to_string(i));
  for (const auto& [k, v] : attrs) node.attrs[k] = Attribute{v};
  std::vector<const Tensor*> ptrs;
  for (const Tensor& t : inputs) ptrs.push_back(t.defined() ? &t : nullptr);
  const KernelInfo* kernel = find_kernel(op);
  if (!kernel) throw std::runtime_error("no kernel " + op);
  KernelContext ctx(node, opset, Precision::kF32, ptrs);
  kernel->fn(ctx);
  return ctx.outputs();
}

Tensor f32(std::vector<float> v, Shape s) { return Tensor::from_vector<float>(v, std::move(s)); }
using Ints = std::vector<int64_t>;

void expect_values(const Tensor& t, const Shape& shape, const std::vector<double>& expected, double tol = 1e-5) {
  ASSERT_EQ(t.shape(), shape);
  auto v = t.to_f64_vector();
  ASSERT_EQ(v.size(), expected.size());
  for (size_t i = 0; i < v.size(); ++i) EXPECT_NEAR(v[i], expected[i], tol) << "at " << i;
}

std::vector<float> iota(int n, float start = 1) {
  std::vector<float> v(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) v[static_cast<size_t>(i)] = start + static_cast<float>(i);
  return v;
}

// ---- pools ----

TEST(NnKernels, MaxPoolCeilModeOutputSize) {
  // 4x4 = 1..16, 3x3 windows, stride 2. floor: one window (rows/cols 0-2) -> 11.
  // ceil: a second window per dim starting at 2 and clipped to rows/cols 2-3: maxima 11, 12, 15, 16.
  Tensor x = f32(iota(16), {1, 1, 4, 4});
  expect_values(run_op("MaxPool", {x}, {{"kernel_shape", Ints{3, 3}}, {"strides", Ints{2, 2}}})[0], {1, 1, 1, 1}, {11});
  expect_values(run_op("MaxPool", {x}, {{"kernel_shape", Ints{3, 3}}, {"strides", Ints{2, 2}}, {"ceil_mode", int64_t{1}}})[0],
                {1, 1, 2, 2}, {11, 12, 15, 16});
}

TEST(NnKernels, CeilModeDropsWindowStartingInEndPadding) {
  // width 5, kernel 2, stride 2, pads 1+1: ceil((5 + 2 - 2) / 2) + 1 = 4 windows, but the 4th would start
  // at padded position 6 = in + pad_begin (pure padding) and is dropped: 3 windows
  // [pad,1] [2,3] [4,5] -> 1, 3, 5.
  Tensor x = f32(iota(5), {1, 1, 5});
  expect_values(run_op("MaxPool", {x}, {{"kernel_shape", Ints{2}}, {"strides", Ints{2}}, {"pads", Ints{1, 1}}, {"ceil_mode", int64_t{1}}})[0],
                {1, 1, 3}, {1, 3, 5});
}

TEST(NnKernels, AveragePoolCountIncludePad) {
  // 3x3 = 1..9, 3x3 window, pad 1, stride 1. Corner (0,0) sees 1+2+4+5 = 12 over 4 real cells
  // (or 9 with padding counted); the center sees 45 over 9.
  Tensor x = f32(iota(9), {1, 1, 3, 3});
  std::map<std::string, AttrValue> attrs{{"kernel_shape", Ints{3, 3}}, {"pads", Ints{1, 1, 1, 1}}};
  auto excl = run_op("AveragePool", {x}, attrs)[0].to_f64_vector();
  EXPECT_NEAR(excl[0], 12.0 / 4, 1e-6);
  EXPECT_NEAR(excl[1], (1 + 2 + 3 + 4 + 5 + 6) / 6.0, 1e-6);
  EXPECT_NEAR(excl[4], 5.0, 1e-6);
  attrs["count_include_pad"] = int64_t{1};
  auto incl = run_op("AveragePool", {x}, attrs)[0].to_f64_vector();
  EXPECT_NEAR(incl[0], 12.0 / 9, 1e-6);
  EXPECT_NEAR(incl[1], 21.0 / 9, 1e-6);
  EXPECT_NEAR(incl[4], 5.0, 1e-6);
}

TEST(NnKernels, MaxPoolIndicesAndStorageOrder) {
  // 2x3 = [[1, 9, 2], [3, 4, 8]], 2x2 window stride 1: maxima 9 at (0,1), 9 at (0,1).
  // Row-major index of (0,1) = 1; column-major = 0 + 1 * 2 = 2. The second window's max 9 too.
  Tensor x = f32({1, 9, 2, 3, 4, 8}, {1, 1, 2, 3});
  auto out = run_op("MaxPool", {x}, {{"kernel_shape", Ints{2, 2}}}, 2);
  expect_values(out[0], {1, 1, 1, 2}, {9, 9});
  EXPECT_EQ(out[1].to_i64_vector(), (std::vector<int64_t>{1, 1}));
  out = run_op("MaxPool", {x}, {{"kernel_shape", Ints{2, 2}}, {"storage_order", int64_t{1}}}, 2);
  EXPECT_EQ(out[1].to_i64_vector(), (std::vector<int64_t>{2, 2}));
}

TEST(NnKernels, MaxPoolPropagatesNaN) {
  Tensor x = f32({1, NAN, 3, 4}, {1, 1, 4});
  auto y = run_op("MaxPool", {x}, {{"kernel_shape", Ints{2}}, {"strides", Ints{2}}})[0].to_f64_vector();
  EXPECT_TRUE(std::isnan(y[0]));
  EXPECT_EQ(y[1], 4);
}

TEST(NnKernels, GlobalPools) {
  Tensor x = f32({1, 2, 3, 6, -1, 0, 0, 0}, {1, 2, 2, 2});
  expect_values(run_op("GlobalAveragePool", {x})[0], {1, 2, 1, 1}, {3, -0.25});
  expect_values(run_op("GlobalMaxPool", {x})[0], {1, 2, 1, 1}, {6, 0});
}

// ---- Conv ----

TEST(NnKernels, ConvSameUpperVersusSameLower) {
  // x = [1, 2, 3, 4], kernel [1, 10]; SAME needs one unit of padding.
  // SAME_UPPER pads at the end:    y[i] = x[i] + 10 x[i+1] -> 21, 32, 43, 4
  // SAME_LOWER pads at the start:  y[i] = x[i-1] + 10 x[i] -> 10, 21, 32, 43
  Tensor x = f32({1, 2, 3, 4}, {1, 1, 1, 4}), w = f32({1, 10}, {1, 1, 1, 2});
  expect_values(run_op("Conv", {x, w}, {{"auto_pad", std::string("SAME_UPPER")}})[0], {1, 1, 1, 4}, {21, 32, 43, 4});
  expect_values(run_op("Conv", {x, w}, {{"auto_pad", std::string("SAME_LOWER")}})[0], {1, 1, 1, 4}, {10, 21, 32, 43});
  // MaxPool follows the same rule: windows [x0 x1].. with the pad at the end vs the start.
  Tensor x1 = f32({1, 5, 2, 4}, {1, 1, 4});
  expect_values(run_op("MaxPool", {x1}, {{"kernel_shape", Ints{2}}, {"auto_pad", std::string("SAME_UPPER")}})[0], {1, 1, 4}, {5, 5, 4, 4});
  expect_values(run_op("MaxPool", {x1}, {{"kernel_shape", Ints{2}}, {"auto_pad", std::string("SAME_LOWER")}})[0], {1, 1, 4}, {1, 5, 5, 4});
}

TEST(NnKernels, ConvStridedSameUpperOddPadding) {
  // width 5, kernel 3, stride 2: out = ceil(5/2) = 3, total pad = (3-1)*2 + 3 - 5 = 2 -> 1 + 1.
  // kernel of ones: sums of [pad,1,2], [2,3,4], [4,5,pad] = 3, 9, 9.
  Tensor x = f32(iota(5), {1, 1, 5}), w = f32({1, 1, 1}, {1, 1, 3});
  expect_values(run_op("Conv", {x, w}, {{"auto_pad", std::string("SAME_UPPER")}, {"strides", Ints{2}}})[0], {1, 1, 3}, {3, 9, 9});
}

TEST(NnKernels, GroupedConvWithBias) {
  // Two groups of one channel: ch0 = [1, 2, 3] with [1, 1] -> 3, 5; ch1 = [4, 5, 6] with [1, -1] + 100 -> 99, 99.
  Tensor x = f32({1, 2, 3, 4, 5, 6}, {1, 2, 1, 3}), w = f32({1, 1, 1, -1}, {2, 1, 1, 2}), b = f32({0, 100}, {2});
  expect_values(run_op("Conv", {x, w, b}, {{"group", int64_t{2}}})[0], {1, 2, 1, 2}, {3, 5, 99, 99});
  // Depth multiplier 2 (4 outputs from 2 channels): outputs 0, 1 read ch0, outputs 2, 3 read ch1.
  Tensor w4 = f32({1, 0, 0, 1, 1, 0, 0, 2}, {4, 1, 1, 2});
  expect_values(run_op("Conv", {x, w4}, {{"group", int64_t{2}}})[0], {1, 4, 1, 2}, {1, 2, 2, 3, 4, 5, 10, 12});
  // Two channels per group (im2col path): groups {ch0, ch1} and {ch2, ch3}, 1x1 kernels, stride 2.
  Tensor x4 = f32({1, 2, 3, 10, 20, 30, 100, 200, 300, 7, 8, 9}, {1, 4, 3});
  Tensor wg = f32({1, 1, 1, -1}, {2, 2, 1});
  // out0 = ch0 + ch1 at positions 0, 2 -> 11, 33; out1 = ch2 - ch3 -> 93, 291.
  expect_values(run_op("Conv", {x4, wg}, {{"group", int64_t{2}}, {"strides", Ints{2}}})[0], {1, 2, 2}, {11, 33, 93, 291});
}

TEST(NnKernels, DilatedConv) {
  // kernel of ones with dilation 2 on [1..5]: taps i-2, i, i+2.
  Tensor x = f32(iota(5), {1, 1, 5}), w = f32({1, 1, 1}, {1, 1, 3});
  expect_values(run_op("Conv", {x, w}, {{"dilations", Ints{2}}})[0], {1, 1, 1}, {9});
  expect_values(run_op("Conv", {x, w}, {{"dilations", Ints{2}}, {"pads", Ints{2, 2}}})[0], {1, 1, 5}, {4, 6, 9, 6, 8});
  // Depthwise path with dilation and padding gives the same (one channel, one group).
  Tensor x2 = f32(iota(5), {1, 1, 1, 5}), w2 = f32({1, 1, 1}, {1, 1, 1, 3});
  expect_values(run_op("Conv", {x2, w2}, {{"dilations", Ints{1, 2}}, {"pads", Ints{0, 2, 0, 2}}})[0], {1, 1, 1, 5}, {4, 6, 9, 6, 8});
}

TEST(NnKernels, ConvRejectsBadModels) {
  Tensor x = f32(iota(8), {1, 2, 4}), w = f32({1, 1, 1, 1}, {2, 2, 1});
  EXPECT_THROW(run_op("Conv", {x, w}, {{"group", int64_t{3}}}), InputError);
  EXPECT_THROW(run_op("Conv", {x, w}, {{"pads", Ints{1, 1, 1}}}), InputError);
  EXPECT_THROW(run_op("Conv", {x, w}, {{"strides", Ints{0}}}), InputError);
  EXPECT_THROW(run_op("Conv", {x, f32(iota(10), {1, 2, 5})}), InputError);  // kernel wider than input
  EXPECT_THROW(run_op("Conv", {x, f32({1, 1}, {2, 1, 1})}), InputError);    // weight channels mismatch
  EXPECT_THROW(run_op("Conv", {f32(iota(4), {4}), w}), InputError);
  EXPECT_THROW(run_op("MaxPool", {x}, {{"kernel_shape", Ints{9}}}), InputError);
  EXPECT_THROW(run_op("MaxPool", {x}, {}), InputError);
}

// Direct 2-D convolution in double: the textbook sum, as an independent oracle.
std::vector<double> direct_conv(const Tensor& x, const Tensor& w, int64_t group, int64_t stride, int64_t pad, int64_t dil,
                                Shape& out_shape) {
  auto xv = x.to_f64_vector(), wv = w.to_f64_vector();
  const int64_t n = x.dim(0), c = x.dim(1), h = x.dim(2), wd = x.dim(3), m = w.dim(0), cg = w.dim(1), kh = w.dim(2), kw = w.dim(3);
  const int64_t oh = (h + 2 * pad - ((kh - 1) * dil + 1)) / stride + 1, ow = (wd + 2 * pad - ((kw - 1) * dil + 1)) / stride + 1;
  out_shape = {n, m, oh, ow};
  std::vector<double> y(static_cast<size_t>(n * m * oh * ow), 0.0);
  for (int64_t b = 0; b < n; ++b)
    for (int64_t o = 0; o < m; ++o)
      for (int64_t i = 0; i < oh; ++i)
        for (int64_t j = 0; j < ow; ++j) {
          double s = 0;
          for (int64_t ci = 0; ci < cg; ++ci)
            for (int64_t a = 0; a < kh; ++a)
              for (int64_t bb = 0; bb < kw; ++bb) {
                const int64_t yy = i * stride - pad + a * dil, xx = j * stride - pad + bb * dil;
                if (yy < 0 || yy >= h || xx < 0 || xx >= wd) continue;
                const int64_t ch = (o / (m / group)) * cg + ci;
                s += xv[static_cast<size_t>(((b * c + ch) * h + yy) * wd + xx)] * wv[static_cast<size_t>(((o * cg + ci) * kh + a) * kw + bb)];
              }
          y[static_cast<size_t>(((b * m + o) * oh + i) * ow + j)] = s;
        }
  return y;
}

Tensor random_f32(Shape s, unsigned seed) {
  Tensor t(DType::kF32, std::move(s));
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> dist(-1, 1);
  for (int64_t i = 0; i < t.numel(); ++i) t.mutable_data<float>()[i] = dist(gen);
  return t;
}

TEST(NnKernels, RandomConvsMatchDirectLoopsInFp32AndFp64) {
  struct Case { int64_t n, c, h, w, m, k, group, stride, pad, dil; };
  const Case cases[] = {
      {2, 8, 13, 11, 6, 3, 2, 2, 1, 1},     // grouped, strided (im2col, serial path)
      {1, 16, 40, 37, 24, 3, 1, 1, 1, 2},   // dilated, tiled im2col path
      {1, 12, 20, 20, 12, 3, 12, 1, 1, 1},  // depthwise
      {1, 6, 15, 15, 12, 5, 6, 2, 2, 1},    // depthwise with multiplier 2, strided
      {2, 32, 17, 19, 8, 1, 1, 1, 0, 1},    // pointwise
  };
  for (const Case& cs : cases) {
    Tensor x = random_f32({cs.n, cs.c, cs.h, cs.w}, 1), w = random_f32({cs.m, cs.c / cs.group, cs.k, cs.k}, 2);
    std::map<std::string, AttrValue> attrs{{"group", cs.group}, {"strides", Ints{cs.stride, cs.stride}},
                                           {"pads", Ints{cs.pad, cs.pad, cs.pad, cs.pad}}, {"dilations", Ints{cs.dil, cs.dil}}};
    Shape expected_shape;
    auto expected = direct_conv(x, w, cs.group, cs.stride, cs.pad, cs.dil, expected_shape);
    Tensor y32 = run_op("Conv", {x, w}, attrs)[0];
    Tensor y64 = run_op("Conv", {x.cast(DType::kF64), w.cast(DType::kF64)}, attrs)[0];
    ASSERT_EQ(y64.dtype(), DType::kF64);
    expect_values(y64, expected_shape, expected, 1e-12);
    expect_values(y32, expected_shape, expected, 1e-4);
  }
}

// ---- ConvTranspose ----

TEST(NnKernels, ConvTransposeScatterPadsAndOutputShape) {
  // x = [1, 2] scattered with kernel [1, 1, 1] at stride 2: [1, 1, 1+2, 2, 2].
  Tensor x = f32({1, 2}, {1, 1, 2}), w = f32({1, 1, 1}, {1, 1, 3});
  expect_values(run_op("ConvTranspose", {x, w}, {{"strides", Ints{2}}})[0], {1, 1, 5}, {1, 1, 3, 2, 2});
  expect_values(run_op("ConvTranspose", {x, w}, {{"strides", Ints{2}}, {"pads", Ints{1, 1}}})[0], {1, 1, 3}, {1, 3, 2});
  expect_values(run_op("ConvTranspose", {x, w}, {{"strides", Ints{2}}, {"output_padding", Ints{1}}})[0], {1, 1, 6}, {1, 1, 3, 2, 2, 0});
  // output_shape 4 < natural 5: one unit of padding, at the start unless SAME_UPPER.
  expect_values(run_op("ConvTranspose", {x, w}, {{"strides", Ints{2}}, {"output_shape", Ints{4}}})[0], {1, 1, 4}, {1, 3, 2, 2});
  expect_values(run_op("ConvTranspose", {x, w}, {{"strides", Ints{2}}, {"auto_pad", std::string("SAME_UPPER")}})[0], {1, 1, 4}, {1, 1, 3, 2});
}

// ---- Gemm / MatMul ----

TEST(NnKernels, GemmTransposesAndBroadcastsC) {
  // A^T with A = [[1, 3], [2, 4]] -> [[1, 2], [3, 4]]; B = I; alpha 2, beta 10, C = [1, -1] per row.
  Tensor a = f32({1, 3, 2, 4}, {2, 2}), b = f32({1, 0, 0, 1}, {2, 2}), c = f32({1, -1}, {2});
  expect_values(run_op("Gemm", {a, b, c}, {{"transA", int64_t{1}}, {"alpha", 2.0}, {"beta", 10.0}})[0], {2, 2}, {12, -6, 16, -2});
  // transB with a [2, 3] x [2, 3]^T and no C.
  Tensor a2 = f32(iota(6), {2, 3}), b2 = f32({1, 0, 0, 0, 1, 1}, {2, 3});
  expect_values(run_op("Gemm", {a2, b2}, {{"transB", int64_t{1}}})[0], {2, 2}, {1, 5, 4, 11});
  EXPECT_THROW(run_op("Gemm", {a2, a2}), InputError);
}

TEST(NnKernels, MatMulVectorsAndBatchBroadcast) {
  Tensor v = f32({1, 2}, {2}), m = f32({1, 2, 3, 4}, {2, 2});
  expect_values(run_op("MatMul", {v, m})[0], {2}, {7, 10});  // [1 2] x [[1 2] [3 4]]
  expect_values(run_op("MatMul", {m, v})[0], {2}, {5, 11});
  expect_values(run_op("MatMul", {v, v})[0], {}, {5});
  // [2, 1, 1, 2] x [3, 2, 1]: batch broadcasts to [2, 3]; A rows [1 2] and [3 4], B columns [1 0], [0 1], [1 1].
  Tensor a = f32({1, 2, 3, 4}, {2, 1, 1, 2}), b = f32({1, 0, 0, 1, 1, 1}, {3, 2, 1});
  expect_values(run_op("MatMul", {a, b})[0], {2, 3, 1, 1}, {1, 2, 3, 3, 4, 7});
  EXPECT_THROW(run_op("MatMul", {m, f32(iota(3), {3})}), InputError);
}

// ---- normalizations, LRN ----

TEST(NnKernels, BatchNormInference) {
  // channel 0: (x - 1) / sqrt(4) * 2 + 1; channel 1: (x - 0) / sqrt(1) * 1 + 0 (epsilon 0).
  Tensor x = f32({3, 5, -1, 2}, {1, 2, 2});
  auto y = run_op("BatchNormalization", {x, f32({2, 1}, {2}), f32({1, 0}, {2}), f32({1, 0}, {2}), f32({4, 1}, {2})},
                  {{"epsilon", 0.0}})[0];
  expect_values(y, {1, 2, 2}, {3, 5, -1, 2});
  EXPECT_THROW(run_op("BatchNormalization", {x, f32({2}, {1}), f32({1, 0}, {2}), f32({1, 0}, {2}), f32({4, 1}, {2})}), InputError);
}

TEST(NnKernels, LayerNormWithStatistics) {
  // rows [1, 3] and [2, 6]: mean 2, 4; variance 1, 4; y = (x - mean) / std * scale + B.
  Tensor x = f32({1, 3, 2, 6}, {2, 2});
  auto out = run_op("LayerNormalization", {x, f32({1, 2}, {2}), f32({0, 1}, {2})}, {{"epsilon", 0.0}}, 3);
  expect_values(out[0], {2, 2}, {-1, 3, -1, 3});
  expect_values(out[1], {2, 1}, {2, 4});
  expect_values(out[2], {2, 1}, {1, 0.5});
}

TEST(NnKernels, InstanceNormAndLrn) {
  // instance norm of [0, 2] -> [-1, 1] (before scale 3 and bias 1: [-2, 4]).
  Tensor x = f32({0, 2}, {1, 1, 2});
  expect_values(run_op("InstanceNormalization", {x, f32({3}, {1}), f32({1}, {1})}, {{"epsilon", 0.0}})[0], {1, 1, 2}, {-2, 4});
  // LRN size 3, alpha 3 (alpha / size = 1), beta 1, bias 1 over channels [1, 2, 3]:
  // 1 / (1 + 1 + 4), 2 / (1 + 1 + 4 + 9), 3 / (1 + 4 + 9).
  Tensor c = f32({1, 2, 3}, {1, 3, 1, 1});
  expect_values(run_op("LRN", {c}, {{"size", int64_t{3}}, {"alpha", 3.0}, {"beta", 1.0}})[0], {1, 3, 1, 1},
                {1.0 / 6, 2.0 / 15, 3.0 / 14});
}

}  // namespace
