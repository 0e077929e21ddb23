#include "data/npy.h"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "core/errors.h"
#include "data/atomic_file.h"

namespace transfix {

namespace {

struct Descr {
  DType dtype;
  bool big_endian;
};

Descr parse_descr(const std::string& d, const std::string& label) {
  if (d.size() < 3) throw InputError(label + ": bad dtype descr '" + d + "'");
  char order = d[0];
  std::string code = d.substr(1);
  static const std::pair<const char*, DType> kCodes[] = {
      {"f4", DType::kF32}, {"f8", DType::kF64}, {"f2", DType::kF16}, {"i1", DType::kI8},  {"u1", DType::kU8},
      {"i2", DType::kI16}, {"u2", DType::kU16}, {"i4", DType::kI32}, {"u4", DType::kU32}, {"i8", DType::kI64},
      {"u8", DType::kU64}, {"b1", DType::kBool}};
  for (const auto& [c, t] : kCodes)
    if (code == c) {
      if (order != '<' && order != '>' && order != '|' && order != '=')
        throw InputError(label + ": bad byte order in descr '" + d + "'");
      return {t, order == '>' && dtype_size(t) > 1};
    }
  throw InputError(label + ": unsupported .npy dtype '" + d + "'");
}

// Value of key `key` in the header dict, as raw text up to the next top-level ',' or '}'.
std::string dict_value(const std::string& header, const std::string& key, const std::string& label) {
  for (const char* q : {"'", "\""}) {
    std::string k = std::string(q) + key + q;
    auto p = header.find(k);
    if (p == std::string::npos) continue;
    p = header.find(':', p + k.size());
    if (p == std::string::npos) break;
    ++p;
    while (p < header.size() && header[p] == ' ') ++p;
    if (p < header.size() && header[p] == '(') {
      auto e = header.find(')', p);
      if (e == std::string::npos) break;
      return header.substr(p, e - p + 1);
    }
    auto e = header.find_first_of(",}", p);
    if (e == std::string::npos) break;
    std::string v = header.substr(p, e - p);
    while (!v.empty() && v.back() == ' ') v.pop_back();
    if (v.size() >= 2 && (v.front() == '\'' || v.front() == '"')) v = v.substr(1, v.size() - 2);
    return v;
  }
  throw InputError(label + ": .npy header lacks '" + key + "'");
}

Shape parse_shape(const std::string& s, const std::string& label) {
  if (s.size() < 2 || s.front() != '(' || s.back() != ')') throw InputError(label + ": bad .npy shape '" + s + "'");
  Shape shape;
  std::string body = s.substr(1, s.size() - 2);
  size_t i = 0;
  while (i < body.size()) {
    while (i < body.size() && (body[i] == ' ' || body[i] == ',')) ++i;
    if (i >= body.size()) break;
    size_t j = i;
    while (j < body.size() && body[j] >= '0' && body[j] <= '9') ++j;
    if (j == i || j - i > 15) throw InputError(label + ": bad .npy shape '" + s + "'");
    shape.push_back(std::stoll(body.substr(i, j - i)));
    i = j;
    if (shape.size() > 32) throw InputError(label + ": .npy rank over 32");
  }
  return shape;
}

void byteswap(void* data, int64_t n, size_t width) {
  auto* p = static_cast<unsigned char*>(data);
  for (int64_t i = 0; i < n; ++i) std::reverse(p + i * static_cast<int64_t>(width), p + (i + 1) * static_cast<int64_t>(width));
}

// Column-major buffer -> row-major tensor.
Tensor from_fortran(const Tensor& f) {
  Tensor c(f.dtype(), f.shape());
  const size_t w = dtype_size(f.dtype());
  const auto& shape = f.shape();
  const size_t rank = shape.size();
  std::vector<int64_t> idx(rank, 0), fstride(rank, 1);
  for (size_t k = 1; k < rank; ++k) fstride[k] = fstride[k - 1] * shape[k - 1];
  const auto* src = static_cast<const char*>(f.raw());
  auto* dst = static_cast<char*>(c.raw_mutable());
  for (int64_t i = 0; i < c.numel(); ++i) {
    int64_t off = 0;
    for (size_t k = 0; k < rank; ++k) off += idx[k] * fstride[k];
    std::memcpy(dst + i * static_cast<int64_t>(w), src + off * static_cast<int64_t>(w), w);
    for (size_t k = rank; k-- > 0;) {
      if (++idx[k] < shape[k]) break;
      idx[k] = 0;
    }
  }
  return c;
}

}  // namespace

Tensor parse_npy(const std::string& bytes, const std::string& label) {
  if (bytes.size() < 10 || std::memcmp(bytes.data(), "\x93NUMPY", 6) != 0)
    throw InputError(label + ": not a .npy file (bad magic)");
  unsigned major = static_cast<unsigned char>(bytes[6]);
  size_t header_len, header_start;
  if (major == 1) {
    header_len = static_cast<unsigned char>(bytes[8]) | static_cast<size_t>(static_cast<unsigned char>(bytes[9])) << 8;
    header_start = 10;
  } else if (major == 2 || major == 3) {
    if (bytes.size() < 12) throw InputError(label + ": truncated .npy header");
    header_len = 0;
    for (int i = 0; i < 4; ++i) header_len |= static_cast<size_t>(static_cast<unsigned char>(bytes[8 + i])) << (8 * i);
    header_start = 12;
  } else {
    throw InputError(label + ": unsupported .npy version " + std::to_string(major));
  }
  if (header_len > bytes.size() - header_start) throw InputError(label + ": truncated .npy header");
  std::string header = bytes.substr(header_start, header_len);
  Descr descr = parse_descr(dict_value(header, "descr", label), label);
  std::string fortran = dict_value(header, "fortran_order", label);
  Shape shape = parse_shape(dict_value(header, "shape", label), label);
  Tensor t(descr.dtype, shape);  // validates the size against the allocation cap
  size_t data_start = header_start + header_len;
  if (bytes.size() - data_start != t.nbytes())
    throw InputError(label + ": .npy data has " + std::to_string(bytes.size() - data_start) + " bytes, shape " +
                     shape_str(shape) + " of " + dtype_name(descr.dtype) + " needs " + std::to_string(t.nbytes()));
  if (t.nbytes()) std::memcpy(t.raw_mutable(), bytes.data() + data_start, t.nbytes());
  if (descr.big_endian) byteswap(t.raw_mutable(), t.numel(), dtype_size(t.dtype()));
  if (descr.dtype == DType::kBool) {
    auto* b = static_cast<uint8_t*>(t.raw_mutable());
    for (int64_t i = 0; i < t.numel(); ++i) b[i] = b[i] != 0;
  }
  if (fortran == "True" && shape.size() > 1) t = from_fortran(t);
  return t;
}

Tensor read_npy(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) throw InputError(path + ": not a readable file");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(path + ": cannot open");
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return parse_npy(bytes, path);
}

std::string serialize_npy(const Tensor& input) {
  Tensor t = input.dtype() == DType::kBF16 ? input.cast(DType::kF32) : input;
  static const std::pair<DType, const char*> kDescr[] = {
      {DType::kF32, "<f4"}, {DType::kF64, "<f8"}, {DType::kF16, "<f2"}, {DType::kI8, "|i1"},  {DType::kU8, "|u1"},
      {DType::kI16, "<i2"}, {DType::kU16, "<u2"}, {DType::kI32, "<i4"}, {DType::kU32, "<u4"}, {DType::kI64, "<i8"},
      {DType::kU64, "<u8"}, {DType::kBool, "|b1"}};
  const char* descr = nullptr;
  for (const auto& [d, s] : kDescr)
    if (d == t.dtype()) descr = s;
  if (!descr) throw InputError(std::string("cannot write dtype ") + dtype_name(t.dtype()) + " to .npy");
  std::string shape = "(";
  for (size_t i = 0; i < t.shape().size(); ++i) shape += std::to_string(t.shape()[i]) + (t.shape().size() == 1 ? "," : (i + 1 < t.shape().size() ? ", " : ""));
  shape += ")";
  std::string header = std::string("{'descr': '") + descr + "', 'fortran_order': False, 'shape': " + shape + ", }";
  // Pad so that the data starts on a 64-byte boundary; header ends with '\n'.
  size_t prefix = 10;
  size_t total = prefix + header.size() + 1;
  bool v2 = false;
  if ((total + 63) / 64 * 64 - prefix > 65535) { v2 = true; prefix = 12; total = prefix + header.size() + 1; }
  header.append((64 - total % 64) % 64, ' ');
  header.push_back('\n');
  std::string out("\x93NUMPY", 6);
  out.push_back(static_cast<char>(v2 ? 2 : 1));
  out.push_back(0);
  size_t hl = header.size();
  for (size_t i = 0; i < (v2 ? 4u : 2u); ++i) out.push_back(static_cast<char>((hl >> (8 * i)) & 0xff));
  out += header;
  out.append(static_cast<const char*>(t.raw()), t.nbytes());
  return out;
}

void write_npy(const std::string& path, const Tensor& t) { write_file_atomic(path, serialize_npy(t)); }

}  // namespace transfix
