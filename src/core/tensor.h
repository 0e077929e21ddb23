// Tensor: dtype + shape + a shared, immutable-by-convention byte buffer (owned or memory-mapped),
// with optional quantization parameters. Copies are cheap (the buffer is shared); kernels never
// write into their inputs, they allocate outputs.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/dtype.h"

namespace transfix {

using Shape = std::vector<int64_t>;

// Number of elements of a shape. Throws InputError on negative dims or overflow past 2^62.
int64_t shape_numel(const Shape& shape);
std::string shape_str(const Shape& shape);  // "[1, 3, 224, 224]"

// Largest single tensor allocation allowed (bytes). Hostile models declaring huge dims fail with
// an InputError instead of exhausting memory. Default: 8 GiB.
int64_t max_tensor_bytes();
void set_max_tensor_bytes(int64_t bytes);

// Affine quantization: real = scale * (q - zero_point). Per-tensor when scale.size() == 1,
// per-axis along `axis` otherwise.
struct QuantParams {
  std::vector<float> scale;
  std::vector<int64_t> zero_point;
  int64_t axis = 0;
  bool per_axis() const { return scale.size() > 1; }
  bool operator==(const QuantParams&) const = default;
};

// A contiguous byte region. `owner` keeps the memory alive (a vector, an mmap, a protobuf...).
struct Storage {
  void* data = nullptr;
  size_t bytes = 0;
  std::shared_ptr<void> owner;
  static std::shared_ptr<Storage> allocate(size_t bytes, bool zero = true);  // 64-byte aligned
  // Wraps memory owned by someone else (e.g. an mmap); `owner` must outlive all users.
  static std::shared_ptr<Storage> wrap(void* data, size_t bytes, std::shared_ptr<void> owner);
};

class Tensor {
 public:
  Tensor() = default;
  // Allocates a zero-filled tensor. Throws InputError if the size is invalid or over the limit.
  Tensor(DType dtype, Shape shape);
  // Views existing storage (no copy). Throws InputError if the storage is too small.
  Tensor(DType dtype, Shape shape, std::shared_ptr<Storage> storage, size_t byte_offset = 0);

  // Like Tensor(dtype, shape) but without zero-filling: for kernels that write every element.
  static Tensor uninitialized(DType dtype, Shape shape);

  template <typename T>
  static Tensor from_vector(const std::vector<T>& values, Shape shape);
  template <typename T>
  static Tensor scalar(T value) { return from_vector<T>({value}, {}); }

  bool defined() const { return dtype_ != DType::kUndefined; }
  DType dtype() const { return dtype_; }
  const Shape& shape() const { return shape_; }
  int64_t rank() const { return static_cast<int64_t>(shape_.size()); }
  int64_t dim(int64_t i) const { return shape_.at(static_cast<size_t>(i < 0 ? i + rank() : i)); }
  int64_t numel() const { return numel_; }
  size_t nbytes() const { return static_cast<size_t>(numel_) * dtype_size(dtype_); }

  const void* raw() const;
  void* raw_mutable();  // for the producer of a fresh tensor only
  template <typename T> const T* data() const { check_type(DTypeOf<T>::value); return static_cast<const T*>(raw()); }
  template <typename T> T* mutable_data() { check_type(DTypeOf<T>::value); return static_cast<T*>(raw_mutable()); }

  // Same buffer, new shape (numel must match).
  Tensor reshaped(Shape shape) const;
  // Element-wise conversion. Float->int truncates toward zero like ONNX Cast; f16/bf16 round-to-nearest-even.
  Tensor cast(DType to) const;
  // All elements as double / int64 (any dtype). Convenient for small tensors (shapes, axes, scalars).
  std::vector<double> to_f64_vector() const;
  std::vector<int64_t> to_i64_vector() const;
  // Deep copy of the data (fresh buffer).
  Tensor clone() const;
  // Same dtype, shape and quantization, no buffer (raw() is nullptr): what an interpreter keeps of a
  // weight whose only reader holds its own packed copy (Interpreter::owning).
  Tensor without_data() const;
  bool has_data() const { return storage_ != nullptr; }

  const std::optional<QuantParams>& quant() const { return quant_; }
  void set_quant(std::optional<QuantParams> q) { quant_ = std::move(q); }
  const std::shared_ptr<Storage>& storage() const { return storage_; }
  size_t byte_offset() const { return offset_; }

 private:
  void check_type(DType expected) const;

  DType dtype_ = DType::kUndefined;
  Shape shape_;
  int64_t numel_ = 0;
  std::shared_ptr<Storage> storage_;
  size_t offset_ = 0;
  std::optional<QuantParams> quant_;
};

template <typename T>
Tensor Tensor::from_vector(const std::vector<T>& values, Shape shape) {
  Tensor t(DTypeOf<T>::value, std::move(shape));
  if (static_cast<size_t>(t.numel()) != values.size()) t.check_type(DType::kUndefined);  // throws
  T* out = t.mutable_data<T>();
  for (size_t i = 0; i < values.size(); ++i) out[i] = values[i];
  return t;
}

}  // namespace transfix
