// Element types of tensors. The set covers ONNX and TFLite image models.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace transfix {

enum class DType : uint8_t {
  kUndefined, kF32, kF64, kF16, kBF16, kI8, kU8, kI16, kU16, kI32, kU32, kI64, kU64, kBool,
};

size_t dtype_size(DType t);
const char* dtype_name(DType t);   // "float32", "int8", ... (numpy-style names)
DType dtype_from_name(const std::string& name);  // inverse of dtype_name; kUndefined if unknown
bool is_float(DType t);            // f16, bf16, f32, f64
bool is_integer(DType t);          // signed or unsigned ints (not bool)

// The IR numbers element types in attributes (Cast's `to`, ConstantOfShape's value...) as ONNX's
// TensorProto.DataType does: 1 float, 2 uint8, 3 int8, 4 uint16, 5 int16, 6 int32, 7 int64, 9 bool,
// 10 float16, 11 double, 12 uint32, 13 uint64, 16 bfloat16.
DType dtype_from_onnx(int64_t code);  // kUndefined for codes transfix does not hold (string, complex...)
int onnx_from_dtype(DType t);         // 0 (UNDEFINED) for kUndefined

// IEEE half and bfloat16 conversions (round-to-nearest-even).
float half_to_float(uint16_t h);
uint16_t float_to_half(float f);
float bf16_to_float(uint16_t b);
uint16_t float_to_bf16(float f);

// C++ type <-> DType.
template <typename T> struct DTypeOf;
template <> struct DTypeOf<float> { static constexpr DType value = DType::kF32; };
template <> struct DTypeOf<double> { static constexpr DType value = DType::kF64; };
template <> struct DTypeOf<int8_t> { static constexpr DType value = DType::kI8; };
template <> struct DTypeOf<uint8_t> { static constexpr DType value = DType::kU8; };
template <> struct DTypeOf<int16_t> { static constexpr DType value = DType::kI16; };
template <> struct DTypeOf<uint16_t> { static constexpr DType value = DType::kU16; };
template <> struct DTypeOf<int32_t> { static constexpr DType value = DType::kI32; };
template <> struct DTypeOf<uint32_t> { static constexpr DType value = DType::kU32; };
template <> struct DTypeOf<int64_t> { static constexpr DType value = DType::kI64; };
template <> struct DTypeOf<uint64_t> { static constexpr DType value = DType::kU64; };
template <> struct DTypeOf<bool> { static constexpr DType value = DType::kBool; };

}  // namespace transfix
