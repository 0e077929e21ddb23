#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>

#include "core/errors.h"
#include "data/npy.h"

using namespace transfix;

namespace {
// Builds a version-1 .npy file the way numpy lays it out: header padded with spaces to a
// 64-byte boundary and ended by '\n'.
std::string make_npy(const std::string& dict, const std::string& data) {
  std::string header = dict;
  size_t total = 10 + header.size() + 1;
  header.append((64 - total % 64) % 64, ' ');
  header += '\n';
  std::string s("\x93NUMPY\x01\x00", 8);
  s.push_back(static_cast<char>(header.size() & 0xff));
  s.push_back(static_cast<char>(header.size() >> 8));
  return s + header + data;
}

// What np.save writes for np.array([[1, 2, 3], [4, 5, 6]], dtype='<i2').
std::string numpy_int16_2x3() {
  std::string data;
  for (int16_t v : {1, 2, 3, 4, 5, 6}) data.append(reinterpret_cast<const char*>(&v), 2);
  return make_npy("{'descr': '<i2', 'fortran_order': False, 'shape': (2, 3), }", data);
}
}  // namespace

TEST(Npy, ParsesNumpyHeader) {
  Tensor t = parse_npy(numpy_int16_2x3(), "x.npy");
  EXPECT_EQ(t.dtype(), DType::kI16);
  EXPECT_EQ(t.shape(), (Shape{2, 3}));
  EXPECT_EQ(t.data<int16_t>()[5], 6);
}

TEST(Npy, FortranOrderAndBigEndian) {
  // fortran (2,3) of big-endian int32 holding column-major [[1,2,3],[4,5,6]] -> data 1,4,2,5,3,6
  std::string data;
  for (int v : {1, 4, 2, 5, 3, 6}) {
    unsigned char b[4] = {0, 0, 0, static_cast<unsigned char>(v)};
    data.append(reinterpret_cast<const char*>(b), 4);
  }
  std::string s = make_npy("{'descr': '>i4', 'fortran_order': True, 'shape': (2, 3), }", data);
  Tensor t = parse_npy(s, "f.npy");
  std::vector<int64_t> want = {1, 2, 3, 4, 5, 6};
  EXPECT_EQ(t.to_i64_vector(), want);
}

TEST(Npy, RoundTripsEveryDtype) {
  for (DType dt : {DType::kF32, DType::kF64, DType::kF16, DType::kI8, DType::kU8, DType::kI16, DType::kU16,
                   DType::kI32, DType::kU32, DType::kI64, DType::kU64, DType::kBool}) {
    Tensor src = Tensor::from_vector<double>({0, 1, 2, 3, 4, 5}, {3, 2}).cast(dt);
    Tensor back = parse_npy(serialize_npy(src), "rt.npy");
    EXPECT_EQ(back.dtype(), dt);
    EXPECT_EQ(back.shape(), src.shape());
    EXPECT_EQ(back.to_f64_vector(), src.to_f64_vector()) << dtype_name(dt);
  }
  Tensor scalar = Tensor::scalar<float>(2.5f);
  EXPECT_EQ(parse_npy(serialize_npy(scalar), "s.npy").shape(), Shape{});
  Tensor vec = Tensor::from_vector<float>({1, 2}, {2});
  EXPECT_EQ(parse_npy(serialize_npy(vec), "v.npy").shape(), Shape{2});
}

TEST(Npy, RejectsMalformed) {
  std::string good = numpy_int16_2x3();
  EXPECT_THROW(parse_npy("", "e.npy"), InputError);
  EXPECT_THROW(parse_npy("PK\x03\x04 not npy at all", "z.npy"), InputError);
  EXPECT_THROW(parse_npy(good.substr(0, good.size() - 1), "trunc.npy"), InputError);  // data short
  std::string huge = good;
  huge.replace(huge.find("(2, 3)"), 6, "(99999999999, 99999999999)");
  EXPECT_THROW(parse_npy(huge, "huge.npy"), InputError);
  std::string bad_dtype = good;
  bad_dtype.replace(bad_dtype.find("<i2"), 3, "<c8");
  EXPECT_THROW(parse_npy(bad_dtype, "c.npy"), InputError);
  std::string long_header = good;
  long_header[9] = '\x7f';  // header length beyond the file
  EXPECT_THROW(parse_npy(long_header, "h.npy"), InputError);
}

TEST(Npy, WriteIsAtomicAndReadable) {
  auto dir = std::filesystem::temp_directory_path() / "transfix_npy_test";
  std::filesystem::create_directories(dir);
  std::string path = (dir / "a.npy").string();
  Tensor t = Tensor::from_vector<float>({1.5f, -2.0f}, {1, 2});
  write_npy(path, t);
  EXPECT_EQ(read_npy(path).to_f64_vector(), t.to_f64_vector());
  for (const auto& e : std::filesystem::directory_iterator(dir))
    EXPECT_EQ(e.path().filename().string().find(".tmp"), std::string::npos) << "temp file left behind";
  std::filesystem::remove_all(dir);
}
