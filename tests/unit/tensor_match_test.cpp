// Layout transforms used to pair tensors of two models, checked against hand-computed values.
#include <gtest/gtest.h>

#include <algorithm>
#include <limits>

#include "localize/tensor_match.h"

using namespace transfix;

namespace {
Tensor iota(Shape shape) {
  std::vector<double> v(static_cast<size_t>(shape_numel(shape)));
  for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<double>(i);
  return Tensor::from_vector<double>(v, shape);
}
}  // namespace

TEST(TensorMatch, PermuteNchwToNhwc) {
  Tensor x = iota({1, 2, 2, 3});  // N C H W
  Tensor y = permute(x, {0, 2, 3, 1});
  ASSERT_EQ(y.shape(), (Shape{1, 2, 3, 2}));
  // y[0, h, w, c] = x[0, c, h, w] = c*6 + h*3 + w
  const double* v = y.data<double>();
  for (int h = 0; h < 2; ++h)
    for (int w = 0; w < 3; ++w)
      for (int c = 0; c < 2; ++c) EXPECT_EQ(v[(h * 3 + w) * 2 + c], c * 6 + h * 3 + w);
}

TEST(TensorMatch, CandidateTransformsPreferIdentityThenLayout) {
  auto same = candidate_transforms({1, 4, 5, 6}, {1, 4, 5, 6});
  ASSERT_FALSE(same.empty());
  EXPECT_TRUE(same[0].identity());
  auto nhwc = candidate_transforms({1, 4, 5, 6}, {1, 5, 6, 4});
  ASSERT_FALSE(nhwc.empty());
  EXPECT_EQ(nhwc[0].describe(), "NCHW->NHWC");
  auto flat = candidate_transforms({1, 4, 1, 1}, {1, 4});
  ASSERT_FALSE(flat.empty());
  EXPECT_TRUE(flat[0].reshape);
  EXPECT_TRUE(candidate_transforms({1, 4}, {1, 5}).empty());
}

TEST(TensorMatch, BestMatchFindsTheLayoutAndRoundTrips) {
  Tensor s = iota({1, 3, 4, 5});
  Tensor t = permute(s, {0, 2, 3, 1});
  auto m = best_match(s, t);
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(m->max_abs, 0.0);
  EXPECT_EQ(m->transform.describe(), "NCHW->NHWC");
  Tensor back = to_source_frame(t, m->transform, s.shape());
  EXPECT_EQ(max_abs_diff(back, s), 0.0);
  Tensor again = to_target_frame(s, m->transform, t.shape());
  EXPECT_EQ(max_abs_diff(again, t), 0.0);
}

TEST(TensorMatch, QuantizedTargetsAreComparedAsRealValues) {
  Tensor q = Tensor::from_vector<int8_t>({-2, 0, 4}, {3});
  q.set_quant(QuantParams{{0.5}, {0}, 0});
  Tensor r = real_f64(q);
  EXPECT_DOUBLE_EQ(r.data<double>()[0], -1.0);
  EXPECT_DOUBLE_EQ(r.data<double>()[2], 2.0);
  // And a source value quantized back with the target's parameters, saturating.
  Tensor like = q;
  Tensor s = Tensor::from_vector<double>({-1.0, 100.0, 0.26}, {3});
  Tensor f = source_as_target(s, Transform{}, like);
  ASSERT_EQ(f.dtype(), DType::kI8);
  EXPECT_EQ(f.data<int8_t>()[0], -2);
  EXPECT_EQ(f.data<int8_t>()[1], 127);
  EXPECT_EQ(f.data<int8_t>()[2], 1);
}

TEST(TensorMatch, FingerprintsAgreeAcrossLayouts) {
  Tensor s = iota({1, 2, 3, 4});
  Tensor t = permute(s, {0, 2, 3, 1});
  EXPECT_TRUE(fingerprints_close(fingerprint(s), fingerprint(t), 1e-12));
  Tensor u = s.clone();
  u.mutable_data<double>()[0] += 5;
  EXPECT_FALSE(fingerprints_close(fingerprint(s), fingerprint(u), 1e-3));
}

// The strided comparison best_match uses equals comparing against the materialized permutation, for
// every permutation of a 4-D tensor, element types of every width, and with a NaN on one side.
TEST(TensorMatch, MaxAbsDiffUnderEqualsThePermutedCopy) {
  const Shape shape{2, 3, 4, 5};
  Tensor source = iota(shape);
  std::vector<int64_t> perm{0, 1, 2, 3};
  int checked = 0;
  do {
    Tensor target = permute(source, perm).clone();
    double* t = target.mutable_data<double>();
    for (int64_t i = 0; i < target.numel(); ++i) t[i] += 0.001 * static_cast<double>(i % 7);  // off by up to 0.006
    Transform tr{perm, false};
    const double materialized = max_abs_diff(source, to_source_frame(target, tr, shape));
    EXPECT_DOUBLE_EQ(max_abs_diff_under(source, target, tr), materialized);
    EXPECT_NEAR(materialized, 0.006, 1e-9);
    t[5] = std::numeric_limits<double>::quiet_NaN();
    EXPECT_EQ(max_abs_diff_under(source, target, tr), std::numeric_limits<double>::infinity());
    ++checked;
  } while (std::next_permutation(perm.begin(), perm.end()));
  EXPECT_EQ(checked, 24);
  for (DType d : {DType::kU8, DType::kI16, DType::kF32, DType::kF64}) {  // permute for every element width
    Tensor x = iota({3, 4, 5}).cast(d);
    Tensor y = permute(x, {2, 0, 1});
    ASSERT_EQ(y.shape(), (Shape{5, 3, 4}));
    const Tensor y64 = y.cast(DType::kF64);
    for (int a = 0; a < 5; ++a)
      for (int b = 0; b < 3; ++b)
        for (int c = 0; c < 4; ++c) EXPECT_EQ(y64.data<double>()[(a * 3 + b) * 4 + c], b * 20 + c * 5 + a);
  }
}
