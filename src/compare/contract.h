// The input/output contract between a model and its conversion: which target input gets which
// source input (by name, then by position), and how a tensor made for one side fits the other
// (NCHW <-> NHWC, dtype, quantized uint8/int8 with scale/zero point). Every adaptation is
// described in a note for the report.
#pragma once
#include <array>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/graph.h"

namespace transfix {

// Pairs (source, target) of values: equal names first, the rest in order. Unpaired target values
// are returned in `unpaired_target`, unpaired source values in `unpaired_source`.
struct ValuePairing {
  std::vector<std::pair<size_t, size_t>> pairs;  // indices into (source, target)
  std::vector<size_t> unpaired_source, unpaired_target;
  std::vector<std::string> notes;                // "target input 'x' <- source input 'input' (by position)"
};
ValuePairing pair_values(const std::vector<ValueInfo>& source, const std::vector<ValueInfo>& target, const char* what);

// Real values of a tensor as float64: integer tensors with quantization parameters (the tensor's
// own, else `quant`) are dequantized, real = scale * (q - zero_point).
Tensor to_real(const Tensor& t, const std::optional<QuantParams>& quant = std::nullopt);

// Turns `x` (real values, or quantized per `from_quant`) into what input `to` declares: a
// permutation when `to`'s shape is the NCHW<->NHWC transpose of x's, a reshape when only unit dims
// differ, quantization when `to` is an integer type with quant params (q = clamp(round(x / scale)
// + zero_point)), rounding + saturation for other integer types, a cast otherwise. Appends a note
// per adaptation. InputError when the shape cannot be made to fit.
Tensor fit_input(const Tensor& x, const std::optional<QuantParams>& from_quant, const ValueInfo& to,
                 std::vector<std::string>* notes);

// Brings a target output into the source output's frame: dequantized to float64, and transposed
// back (NHWC -> NCHW or the reverse) or reshaped when that makes the shapes equal. InputError when
// nothing does.
Tensor align_output(const Tensor& target_out, const std::optional<QuantParams>& target_quant, const Shape& source_shape,
                    std::vector<std::string>* notes);

// Layout permutations of rank-4 tensors.
Tensor permute4(const Tensor& t, const std::array<int, 4>& perm);

}  // namespace transfix
