#include <gtest/gtest.h>

#include "core/errors.h"
#include "core/tensor.h"

using namespace transfix;

TEST(Tensor, HalfRoundTrip) {
  for (float f : {0.0f, 1.0f, -2.5f, 65504.0f, 6.1035156e-05f, 5.9604645e-08f}) EXPECT_EQ(half_to_float(float_to_half(f)), f);
  EXPECT_EQ(float_to_half(1.0f + 1.0f / 4096), float_to_half(1.0f));  // ties to even
}

TEST(Tensor, RejectsHostileShapes) {
  EXPECT_THROW(Tensor(DType::kF32, {-1, 3}), InputError);
  EXPECT_THROW(Tensor(DType::kF32, {1 << 30, 1 << 30, 1 << 30}), InputError);
  EXPECT_THROW(Tensor(DType::kF32, {int64_t{1} << 40}), InputError);  // over the allocation limit
}

TEST(Tensor, CastSaturatesAndTruncates) {
  auto t = Tensor::from_vector<float>({-1.7f, 2.9f, 300.0f}, {3});
  auto i8 = t.cast(DType::kI8);
  EXPECT_EQ(i8.data<int8_t>()[0], -1);
  EXPECT_EQ(i8.data<int8_t>()[1], 2);
  EXPECT_EQ(i8.data<int8_t>()[2], 127);
}
