#include "core/tensor.h"

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <sstream>

#include "core/errors.h"

namespace transfix {

namespace {
int64_t g_max_tensor_bytes = int64_t{8} << 30;

template <typename F>
void dispatch_read(DType t, const void* p, int64_t n, F&& sink) {
  switch (t) {
    case DType::kF32: { auto* d = static_cast<const float*>(p); for (int64_t i = 0; i < n; ++i) sink(i, double(d[i])); break; }
    case DType::kF64: { auto* d = static_cast<const double*>(p); for (int64_t i = 0; i < n; ++i) sink(i, d[i]); break; }
    case DType::kF16: { auto* d = static_cast<const uint16_t*>(p); for (int64_t i = 0; i < n; ++i) sink(i, double(half_to_float(d[i]))); break; }
    case DType::kBF16: { auto* d = static_cast<const uint16_t*>(p); for (int64_t i = 0; i < n; ++i) sink(i, double(bf16_to_float(d[i]))); break; }
    default: break;
  }
}

template <typename T>
int64_t int_at(const void* p, int64_t i) { return static_cast<int64_t>(static_cast<const T*>(p)[i]); }

int64_t read_int(DType t, const void* p, int64_t i) {
  switch (t) {
    case DType::kI8: return int_at<int8_t>(p, i);
    case DType::kU8: return int_at<uint8_t>(p, i);
    case DType::kI16: return int_at<int16_t>(p, i);
    case DType::kU16: return int_at<uint16_t>(p, i);
    case DType::kI32: return int_at<int32_t>(p, i);
    case DType::kU32: return int_at<uint32_t>(p, i);
    case DType::kI64: return int_at<int64_t>(p, i);
    case DType::kU64: return static_cast<int64_t>(static_cast<const uint64_t*>(p)[i]);
    case DType::kBool: return int_at<uint8_t>(p, i) != 0;
    default: return 0;
  }
}

// Float -> integer conversion like a C cast, but saturating instead of UB for out-of-range values.
template <typename T>
T saturate_cast(double v) {
  if (std::isnan(v)) return T(0);
  double lo = static_cast<double>(std::numeric_limits<T>::lowest());
  double hi = static_cast<double>(std::numeric_limits<T>::max());
  if (v <= lo) return std::numeric_limits<T>::lowest();
  if (v >= hi) return std::numeric_limits<T>::max();
  return static_cast<T>(v);
}

template <typename T>
void write_from_double(void* out, int64_t i, double v) { static_cast<T*>(out)[i] = saturate_cast<T>(v); }

void write_double(DType t, void* out, int64_t i, double v) {
  switch (t) {
    case DType::kF32: static_cast<float*>(out)[i] = static_cast<float>(v); break;
    case DType::kF64: static_cast<double*>(out)[i] = v; break;
    case DType::kF16: static_cast<uint16_t*>(out)[i] = float_to_half(static_cast<float>(v)); break;
    case DType::kBF16: static_cast<uint16_t*>(out)[i] = float_to_bf16(static_cast<float>(v)); break;
    case DType::kI8: write_from_double<int8_t>(out, i, v); break;
    case DType::kU8: write_from_double<uint8_t>(out, i, v); break;
    case DType::kI16: write_from_double<int16_t>(out, i, v); break;
    case DType::kU16: write_from_double<uint16_t>(out, i, v); break;
    case DType::kI32: write_from_double<int32_t>(out, i, v); break;
    case DType::kU32: write_from_double<uint32_t>(out, i, v); break;
    case DType::kI64: write_from_double<int64_t>(out, i, v); break;
    case DType::kU64: write_from_double<uint64_t>(out, i, v); break;
    case DType::kBool: static_cast<uint8_t*>(out)[i] = v != 0.0; break;
    default: break;
  }
}

void write_int(DType t, void* out, int64_t i, int64_t v) {
  switch (t) {
    case DType::kI8: static_cast<int8_t*>(out)[i] = static_cast<int8_t>(v); break;
    case DType::kU8: static_cast<uint8_t*>(out)[i] = static_cast<uint8_t>(v); break;
    case DType::kI16: static_cast<int16_t*>(out)[i] = static_cast<int16_t>(v); break;
    case DType::kU16: static_cast<uint16_t*>(out)[i] = static_cast<uint16_t>(v); break;
    case DType::kI32: static_cast<int32_t*>(out)[i] = static_cast<int32_t>(v); break;
    case DType::kU32: static_cast<uint32_t*>(out)[i] = static_cast<uint32_t>(v); break;
    case DType::kI64: static_cast<int64_t*>(out)[i] = v; break;
    case DType::kU64: static_cast<uint64_t*>(out)[i] = static_cast<uint64_t>(v); break;
    case DType::kBool: static_cast<uint8_t*>(out)[i] = v != 0; break;
    default: write_double(t, out, i, static_cast<double>(v)); break;
  }
}
}  // namespace

int64_t max_tensor_bytes() { return g_max_tensor_bytes; }
void set_max_tensor_bytes(int64_t bytes) { g_max_tensor_bytes = bytes; }

int64_t shape_numel(const Shape& shape) {
  int64_t n = 1;
  for (int64_t d : shape) {
    if (d < 0) throw InputError("negative dimension in shape " + shape_str(shape));
    if (d != 0 && n > (int64_t{1} << 62) / d) throw InputError("shape " + shape_str(shape) + " is too large");
    n *= d;
  }
  return n;
}

std::string shape_str(const Shape& shape) {
  std::ostringstream os;
  os << '[';
  for (size_t i = 0; i < shape.size(); ++i) os << (i ? ", " : "") << shape[i];
  os << ']';
  return os.str();
}

std::shared_ptr<Storage> Storage::allocate(size_t bytes, bool zero) {
  auto s = std::make_shared<Storage>();
  size_t rounded = (bytes + 63) / 64 * 64;
  if (rounded == 0) rounded = 64;
  void* p = std::aligned_alloc(64, rounded);
  if (!p) throw InputError("out of memory allocating " + std::to_string(bytes) + " bytes");
  if (zero) std::memset(p, 0, rounded);
  s->data = p;
  s->bytes = bytes;
  s->owner = std::shared_ptr<void>(p, [](void* q) { std::free(q); });
  return s;
}

std::shared_ptr<Storage> Storage::wrap(void* data, size_t bytes, std::shared_ptr<void> owner) {
  auto s = std::make_shared<Storage>();
  s->data = data;
  s->bytes = bytes;
  s->owner = std::move(owner);
  return s;
}

Tensor::Tensor(DType dtype, Shape shape) : dtype_(dtype), shape_(std::move(shape)) {
  numel_ = shape_numel(shape_);
  int64_t elem = static_cast<int64_t>(dtype_size(dtype_));
  if (elem == 0) throw InputError("tensor of undefined dtype");
  if (numel_ > g_max_tensor_bytes / elem)
    throw InputError("tensor of shape " + shape_str(shape_) + " (" + dtype_name(dtype_) +
                     ") exceeds the allocation limit of " + std::to_string(g_max_tensor_bytes) + " bytes");
  storage_ = Storage::allocate(static_cast<size_t>(numel_ * elem));
}

Tensor Tensor::uninitialized(DType dtype, Shape shape) {
  Tensor t;
  t.dtype_ = dtype;
  t.shape_ = std::move(shape);
  t.numel_ = shape_numel(t.shape_);
  int64_t elem = static_cast<int64_t>(dtype_size(dtype));
  if (elem == 0) throw InputError("tensor of undefined dtype");
  if (t.numel_ > g_max_tensor_bytes / elem)
    throw InputError("tensor of shape " + shape_str(t.shape_) + " (" + dtype_name(dtype) +
                     ") exceeds the allocation limit of " + std::to_string(g_max_tensor_bytes) + " bytes");
  t.storage_ = Storage::allocate(static_cast<size_t>(t.numel_ * elem), /*zero=*/false);
  return t;
}

Tensor::Tensor(DType dtype, Shape shape, std::shared_ptr<Storage> storage, size_t byte_offset)
    : dtype_(dtype), shape_(std::move(shape)), storage_(std::move(storage)), offset_(byte_offset) {
  numel_ = shape_numel(shape_);
  size_t need = static_cast<size_t>(numel_) * dtype_size(dtype_);
  if (!storage_ || offset_ > storage_->bytes || storage_->bytes - offset_ < need)
    throw InputError("tensor of shape " + shape_str(shape_) + " does not fit its data buffer");
}

Tensor Tensor::without_data() const {
  Tensor t;
  t.dtype_ = dtype_;
  t.shape_ = shape_;
  t.numel_ = numel_;
  t.quant_ = quant_;
  return t;
}

const void* Tensor::raw() const { return storage_ ? static_cast<const char*>(storage_->data) + offset_ : nullptr; }
void* Tensor::raw_mutable() { return storage_ ? static_cast<char*>(storage_->data) + offset_ : nullptr; }

void Tensor::check_type(DType expected) const {
  if (dtype_ != expected)
    throw std::logic_error(std::string("tensor access as ") + dtype_name(expected) + " but tensor is " +
                           dtype_name(dtype_) + " " + shape_str(shape_));
}

Tensor Tensor::reshaped(Shape shape) const {
  if (shape_numel(shape) != numel_)
    throw InputError("cannot reshape " + shape_str(shape_) + " to " + shape_str(shape));
  Tensor t = *this;
  t.shape_ = std::move(shape);
  return t;
}

Tensor Tensor::cast(DType to) const {
  if (to == dtype_) return *this;
  // float32 <-> float64 (every value align compares, every fp64 run): one tight loop, no dispatch.
  if (dtype_ == DType::kF32 && to == DType::kF64) {
    Tensor out = Tensor::uninitialized(to, shape_);
    std::copy(data<float>(), data<float>() + numel_, out.mutable_data<double>());
    return out;
  }
  if (dtype_ == DType::kF64 && to == DType::kF32) {
    Tensor out = Tensor::uninitialized(to, shape_);
    const double* src = data<double>();
    float* d = out.mutable_data<float>();
    for (int64_t i = 0; i < numel_; ++i) d[i] = static_cast<float>(src[i]);
    return out;
  }
  Tensor out(to, shape_);
  void* dst = out.raw_mutable();
  if (is_float(dtype_)) {
    dispatch_read(dtype_, raw(), numel_, [&](int64_t i, double v) { write_double(to, dst, i, v); });
  } else {
    for (int64_t i = 0; i < numel_; ++i) write_int(to, dst, i, read_int(dtype_, raw(), i));
  }
  return out;
}

std::vector<double> Tensor::to_f64_vector() const {
  std::vector<double> v(static_cast<size_t>(numel_));
  if (is_float(dtype_)) {
    dispatch_read(dtype_, raw(), numel_, [&](int64_t i, double x) { v[static_cast<size_t>(i)] = x; });
  } else {
    for (int64_t i = 0; i < numel_; ++i) v[static_cast<size_t>(i)] = static_cast<double>(read_int(dtype_, raw(), i));
  }
  return v;
}

std::vector<int64_t> Tensor::to_i64_vector() const {
  std::vector<int64_t> v(static_cast<size_t>(numel_));
  if (is_float(dtype_)) {
    dispatch_read(dtype_, raw(), numel_, [&](int64_t i, double x) { v[static_cast<size_t>(i)] = static_cast<int64_t>(x); });
  } else {
    for (int64_t i = 0; i < numel_; ++i) v[static_cast<size_t>(i)] = read_int(dtype_, raw(), i);
  }
  return v;
}

Tensor Tensor::clone() const {
  Tensor t(dtype_, shape_);
  if (nbytes()) std::memcpy(t.raw_mutable(), raw(), nbytes());
  t.quant_ = quant_;
  return t;
}

}  // namespace transfix
