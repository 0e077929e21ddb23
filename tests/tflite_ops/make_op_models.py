#!/usr/bin/env python3
"""Writes one small TFLite model per operator as FlatBuffers JSON (compiled to .tflite by
`flatc -b src/formats/tflite/tflite_schema.fbs`). Built from the format's field names, not by
transfix's writer, so the reader is tested against files it did not produce.

Usage: make_op_models.py OUT_DIR   (writes OUT_DIR/<case>.json)
"""
import json
import struct
import sys


def i32(values):
    return list(struct.pack("<%di" % len(values), *values))


def model(name, op, x_shape, out_shapes, consts=(), options_type=None, options=None, out_type="FLOAT32",
          const_first=False):
    """One operator: input x (float32), constant int32 operands `consts` [(shape, values)], outputs."""
    tensors = [{"shape": x_shape, "type": "FLOAT32", "buffer": 0, "name": "x"}]
    buffers = [{}]
    const_ids = []
    for k, (shape, values) in enumerate(consts):
        buffers.append({"data": i32(values)})
        tensors.append({"shape": shape, "type": "INT32", "buffer": len(buffers) - 1, "name": "c%d" % k})
        const_ids.append(len(tensors) - 1)
    out_ids = []
    for k, s in enumerate(out_shapes):
        tensors.append({"shape": s, "type": out_type, "buffer": 0, "name": "y%d" % k})
        out_ids.append(len(tensors) - 1)
    inputs = const_ids + [0] if const_first else [0] + const_ids
    operator = {"opcode_index": 0, "inputs": inputs, "outputs": out_ids}
    if options_type:
        operator["builtin_options_type"] = options_type
        operator["builtin_options"] = options or {}
    return name, {
        "version": 3,
        "description": "transfix op test " + name,
        "operator_codes": [{"deprecated_builtin_code": min(op[1], 127), "builtin_code": op[0], "version": 1}],
        "subgraphs": [{"tensors": tensors, "inputs": [0], "outputs": out_ids, "operators": [operator], "name": "main"}],
        "buffers": buffers,
    }


CODES = {"DEPTH_TO_SPACE": 5, "SPACE_TO_DEPTH": 26, "SPACE_TO_BATCH_ND": 38, "BATCH_TO_SPACE_ND": 37,
         "STRIDED_SLICE": 45, "L2_NORMALIZATION": 11, "LOCAL_RESPONSE_NORMALIZATION": 13, "UNPACK": 88,
         "GELU": 150, "GATHER": 36, "ARG_MAX": 56, "SPLIT_V": 102, "MIRROR_PAD": 100, "SHAPE": 77,
         "L2_POOL_2D": 12}


def op(name):
    return (name, CODES[name])


CASES = [
    model("depth_to_space", op("DEPTH_TO_SPACE"), [1, 2, 3, 8], [[1, 4, 6, 2]], (), "DepthToSpaceOptions", {"block_size": 2}),
    model("space_to_depth", op("SPACE_TO_DEPTH"), [1, 4, 6, 3], [[1, 2, 3, 12]], (), "SpaceToDepthOptions", {"block_size": 2}),
    model("space_to_batch_nd", op("SPACE_TO_BATCH_ND"), [1, 5, 6, 2], [[4, 3, 4, 2]],
          (([2], [2, 2]), ([2, 2], [1, 0, 0, 2])), "SpaceToBatchNDOptions", {}),
    model("batch_to_space_nd", op("BATCH_TO_SPACE_ND"), [4, 3, 4, 2], [[1, 5, 6, 2]],
          (([2], [2, 2]), ([2, 2], [1, 0, 0, 2])), "BatchToSpaceNDOptions", {}),
    model("strided_slice_strides", op("STRIDED_SLICE"), [4, 6, 5], [[2, 3, 5]],
          (([3], [1, -1, 0]), ([3], [4, 0, 5]), ([3], [2, -2, 1])), "StridedSliceOptions", {}),
    model("strided_slice_masks_shrink", op("STRIDED_SLICE"), [4, 6, 5], [[3, 5]],
          (([3], [2, 1, 0]), ([3], [3, 4, 0]), ([3], [1, 1, 1])), "StridedSliceOptions",
          {"begin_mask": 4, "end_mask": 4, "shrink_axis_mask": 1}),
    model("strided_slice_ellipsis_new_axis", op("STRIDED_SLICE"), [4, 6, 5], [[4, 6, 1, 2]],
          (([3], [0, 0, 1]), ([3], [0, 0, 3]), ([3], [1, 1, 1])), "StridedSliceOptions",
          {"ellipsis_mask": 1, "new_axis_mask": 2}),
    model("strided_slice_reverse", op("STRIDED_SLICE"), [4, 6, 5], [[4, 6, 5]],
          (([3], [0, 0, 0]), ([3], [0, 0, 0]), ([3], [1, -1, 1])), "StridedSliceOptions",
          {"begin_mask": 7, "end_mask": 7}),
    model("l2_normalization", op("L2_NORMALIZATION"), [2, 3, 8], [[2, 3, 8]], (), "L2NormOptions", {}),
    model("local_response_normalization", op("LOCAL_RESPONSE_NORMALIZATION"), [1, 3, 3, 8], [[1, 3, 3, 8]], (),
          "LocalResponseNormalizationOptions", {"radius": 2, "bias": 1.5, "alpha": 0.3, "beta": 0.6}),
    model("unpack", op("UNPACK"), [3, 4, 2], [[3, 2]] * 4, (), "UnpackOptions", {"num": 4, "axis": 1}),
    model("gelu", op("GELU"), [2, 5], [[2, 5]], (), "GeluOptions", {"approximate": False}),
    model("gelu_approximate", op("GELU"), [2, 5], [[2, 5]], (), "GeluOptions", {"approximate": True}),
    model("gather", op("GATHER"), [5, 4], [[3, 4]], (([3], [3, 0, 3]),), "GatherOptions", {"axis": 0}),
    model("arg_max", op("ARG_MAX"), [3, 7], [[3]], (([1], [1]),), "ArgMaxOptions", {"output_type": "INT32"},
          out_type="INT32"),
    model("split_v", op("SPLIT_V"), [2, 7], [[2, 2], [2, 2], [2, 3]], (([3], [2, -1, 3]), ([], [1])),
          "SplitVOptions", {"num_splits": 3}),
    model("shape_int32", op("SHAPE"), [2, 3, 4], [[3]], (), "ShapeOptions", {"out_type": "INT32"}, out_type="INT32"),
    model("l2_pool_same_stride2", op("L2_POOL_2D"), [1, 5, 7, 3], [[1, 3, 4, 3]], (), "Pool2DOptions",
          {"padding": "SAME", "stride_w": 2, "stride_h": 2, "filter_width": 3, "filter_height": 2}),
    model("l2_pool_valid_relu", op("L2_POOL_2D"), [2, 6, 6, 4], [[2, 5, 5, 4]], (), "Pool2DOptions",
          {"padding": "VALID", "stride_w": 1, "stride_h": 1, "filter_width": 2, "filter_height": 2,
           "fused_activation_function": "RELU6"}),
    model("mirror_pad_reflect", op("MIRROR_PAD"), [1, 4, 5, 2], [[1, 6, 8, 2]],
          (([4, 2], [0, 0, 1, 1, 2, 1, 0, 0]),), "MirrorPadOptions", {"mode": "REFLECT"}),
    model("mirror_pad_symmetric", op("MIRROR_PAD"), [1, 4, 5, 2], [[1, 7, 9, 2]],
          (([4, 2], [0, 0, 1, 2, 3, 1, 0, 0]),), "MirrorPadOptions", {"mode": "SYMMETRIC"}),
]

# Quantized single-op models: int8 / uint8 input x (every integer value appears, see tflite_ops_test.sh)
# and output y, each with its own scale and zero point (fixed ones where TFLite requires them:
# LOGISTIC 1/256 with zp -128 / 0, TANH 1/128 with zp 0 / 128).
def quant_model(name, op, dtype, x_shape, x_quant, out_shape, out_quant, consts=(), options_type=None, options=None):
    name, m = model(name, op, x_shape, [out_shape], consts, options_type, options)
    tensors = m["subgraphs"][0]["tensors"]
    for t, (scale, zero) in ((tensors[0], x_quant), (tensors[-1], out_quant)):
        t["type"] = dtype
        t["quantization"] = {"scale": [scale], "zero_point": [zero]}
    return name, m


CODES.update({"LOGISTIC": 14, "TANH": 28, "HARD_SWISH": 117, "MEAN": 40, "RELU6": 21, "RELU_N1_TO_1": 20,
              "LEAKY_RELU": 98})
for dt, lo in (("INT8", -128), ("UINT8", 0)):
    t = dt.lower()
    CASES += [
        quant_model("q_logistic_" + t, op("LOGISTIC"), dt, [1, 4, 8, 8], (0.05, lo + 131), [1, 4, 8, 8], (1 / 256, lo)),
        # Rank 7: more dims than XNNPACK takes (6), so the interpreter runs its built-in kernel.
        quant_model("q_builtin_logistic_7d_" + t, op("LOGISTIC"), dt, [1, 1, 1, 1, 4, 8, 8], (0.05, lo + 131),
                    [1, 1, 1, 1, 4, 8, 8], (1 / 256, lo)),
        quant_model("q_builtin_leaky_relu_7d_" + t, op("LEAKY_RELU"), dt, [1, 1, 1, 2, 2, 8, 8], (0.04, lo + 150),
                    [1, 1, 1, 2, 2, 8, 8], (0.027, lo + 70), (), "LeakyReluOptions", {"alpha": 0.2}),
        quant_model("q_logistic_wide_" + t, op("LOGISTIC"), dt, [4, 64], (0.11, lo + 100), [4, 64], (1 / 256, lo)),
        quant_model("q_tanh_" + t, op("TANH"), dt, [2, 128], (0.025, lo + 120), [2, 128], (1 / 128, lo + 128)),
        quant_model("q_hard_swish_" + t, op("HARD_SWISH"), dt, [1, 4, 8, 8], (0.047, lo + 140), [1, 4, 8, 8],
                    (0.029, lo + 20)),
        quant_model("q_hard_swish_narrow_" + t, op("HARD_SWISH"), dt, [2, 128], (0.0123, lo + 128), [2, 128],
                    (0.0071, lo + 53)),
        quant_model("q_relu_" + t, ("RELU", 19), dt, [2, 128], (0.05, lo + 100), [2, 128],
                    (0.031, lo + 3)),
        quant_model("q_relu_same_" + t, ("RELU", 19), dt, [2, 128], (0.05, lo + 100), [2, 128], (0.05, lo + 100)),
        quant_model("q_relu6_" + t, op("RELU6"), dt, [2, 128], (0.06, lo + 90), [2, 128], (6 / 255, lo)),
        quant_model("q_relu_n1_to_1_" + t, op("RELU_N1_TO_1"), dt, [2, 128], (0.02, lo + 128), [2, 128],
                    (2 / 255, lo + 128)),
        quant_model("q_leaky_relu_" + t, op("LEAKY_RELU"), dt, [2, 128], (0.04, lo + 150), [2, 128], (0.027, lo + 70),
                    (), "LeakyReluOptions", {"alpha": 0.2}),
        # MEAN: global average over H, W (keep_dims both ways), the last axis, and unchanged quantization.
        quant_model("q_mean_hw_keep_" + t, op("MEAN"), dt, [2, 4, 8, 8], (0.05, lo + 131), [2, 1, 1, 8],
                    (0.021, lo + 125), (([2], [1, 2]),), "ReducerOptions", {"keep_dims": True}),
        quant_model("q_mean_hw_" + t, op("MEAN"), dt, [2, 4, 8, 8], (0.05, lo + 131), [2, 8],
                    (0.021, lo + 125), (([2], [1, 2]),), "ReducerOptions", {"keep_dims": False}),
        # s_x / s_y = 300: outside the [1/256, 256) XNNPACK accepts, so the built-in kernel runs it.
        quant_model("q_builtin_mean_hw_keep_" + t, op("MEAN"), dt, [1, 4, 4, 8], (0.05, lo + 128), [1, 1, 1, 8],
                    (0.05 / 300, lo + 128), (([2], [1, 2]),), "ReducerOptions", {"keep_dims": True}),
        quant_model("q_mean_last_same_quant_" + t, op("MEAN"), dt, [4, 2, 32], (0.07, lo + 77), [4, 2],
                    (0.07, lo + 77), (([1], [2]),), "ReducerOptions", {"keep_dims": False}),
        quant_model("q_mean_last_" + t, op("MEAN"), dt, [4, 2, 32], (0.07, lo + 77), [4, 2, 1],
                    (0.013, lo + 140), (([1], [-1]),), "ReducerOptions", {"keep_dims": True}),
        quant_model("q_mean_same_quant_" + t, op("MEAN"), dt, [2, 4, 8, 8], (0.05, lo + 131), [2, 1, 1, 8],
                    (0.05, lo + 131), (([2], [1, 2]),), "ReducerOptions", {"keep_dims": True}),
    ]

def quant_binary(name, opname, code, dtype, lo, options_type, activation="NONE", b_zero=60):
    """x [2, 128] (variable) OP b [128] (constant, its own quantization, seeded values) -> y0 [2, 128]."""
    b_values = [(k * 37 + 11) % 256 + lo for k in range(128)]
    tensors = [{"shape": [2, 128], "type": dtype, "buffer": 0, "name": "x",
                "quantization": {"scale": [0.05], "zero_point": [lo + 100]}},
               {"shape": [128], "type": dtype, "buffer": 1, "name": "b",
                "quantization": {"scale": [0.03], "zero_point": [lo + b_zero]}},
               {"shape": [2, 128], "type": dtype, "buffer": 0, "name": "y0",
                "quantization": {"scale": [0.07], "zero_point": [lo + 128]}}]
    data = list(struct.pack("<128b" if dtype == "INT8" else "<128B", *b_values))
    return name, {
        "version": 3, "description": "transfix op test " + name,
        "operator_codes": [{"deprecated_builtin_code": code, "builtin_code": opname, "version": 2}],
        "subgraphs": [{"tensors": tensors, "inputs": [0], "outputs": [2], "name": "main",
                       "operators": [{"opcode_index": 0, "inputs": [0, 1], "outputs": [2],
                                      "builtin_options_type": options_type,
                                      "builtin_options": {"fused_activation_function": activation}}]}],
        "buffers": [{}, {"data": data}],
    }


CODES.update({"SUM": 74, "REDUCE_MAX": 82, "ELU": 111, "EXP": 47})
for dt, lo in (("INT8", -128), ("UINT8", 0)):
    t = dt.lower()
    CASES += [
        quant_binary("q_sub_" + t, "SUB", 41, dt, lo, "SubOptions"),
        quant_binary("q_sub_relu_" + t, "SUB", 41, dt, lo, "SubOptions", "RELU"),

        quant_model("q_sum_hw_" + t, op("SUM"), dt, [2, 4, 8, 8], (0.05, lo + 131), [2, 8], (1.3, lo + 128),
                    (([2], [1, 2]),), "ReducerOptions", {"keep_dims": False}),
        quant_model("q_sum_last_keep_" + t, op("SUM"), dt, [4, 2, 32], (0.07, lo + 77), [4, 2, 1], (2.5, lo + 120),
                    (([1], [-1]),), "ReducerOptions", {"keep_dims": True}),
        quant_model("q_reduce_max_last_" + t, op("REDUCE_MAX"), dt, [4, 2, 32], (0.07, lo + 77), [4, 2],
                    (0.07, lo + 77), (([1], [-1]),), "ReducerOptions", {"keep_dims": False}),
        quant_model("q_reduce_max_hw_keep_" + t, op("REDUCE_MAX"), dt, [2, 4, 8, 8], (0.05, lo + 131), [2, 1, 1, 8],
                    (0.05, lo + 131), (([2], [1, 2]),), "ReducerOptions", {"keep_dims": True}),
    ]

# DIV, uint8 only (the interpreter's DIV kernel fails on int8): b's zero point is a value b never takes
# (37 is odd, so the 128 values (37 k + 11) mod 256 are distinct, and 61 is not among them).
CASES += [
    quant_binary("q_div_uint8", "DIV", 42, "UINT8", 0, "DivOptions", b_zero=61),
    quant_binary("q_div_relu_uint8", "DIV", 42, "UINT8", 0, "DivOptions", "RELU", b_zero=61),
]

def squeeze_excite(name, dtype, lo):
    """A MobileNetV3-style block on quantized tensors: h = HARD_SWISH(x); s = LOGISTIC(MEAN(h, [1, 2]));
    y0 = h * s (MUL broadcasting [1, 1, 1, C] over [1, H, W, C])."""
    shape = [1, 4, 8, 8]
    tensors = [{"shape": shape, "type": dtype, "buffer": 0, "name": "x"}]
    def tensor(tname, tshape, scale, zero, buffer=0, ttype=dtype):
        tensors.append({"shape": tshape, "type": ttype, "buffer": buffer, "name": tname,
                        "quantization": {"scale": [scale], "zero_point": [zero]}})
        return len(tensors) - 1
    tensors[0]["quantization"] = {"scale": [0.047], "zero_point": [lo + 140]}
    buffers = [{}, {"data": i32([1, 2])}]
    h = tensor("hard_swish", shape, 0.029, lo + 20)
    axes = len(tensors)
    tensors.append({"shape": [2], "type": "INT32", "buffer": 1, "name": "axes"})
    m = tensor("mean", [1, 1, 1, 8], 0.011, lo + 40)
    sg = tensor("gate", [1, 1, 1, 8], 1 / 256, lo)
    y = tensor("y0", shape, 0.023, lo + 30)
    codes = [("HARD_SWISH", 117), ("MEAN", 40), ("LOGISTIC", 14), ("MUL", 18)]
    ops = [{"opcode_index": 0, "inputs": [0], "outputs": [h]},
           {"opcode_index": 1, "inputs": [h, axes], "outputs": [m], "builtin_options_type": "ReducerOptions",
            "builtin_options": {"keep_dims": True}},
           {"opcode_index": 2, "inputs": [m], "outputs": [sg]},
           {"opcode_index": 3, "inputs": [h, sg], "outputs": [y], "builtin_options_type": "MulOptions",
            "builtin_options": {}}]
    return name, {
        "version": 3, "description": "transfix op test " + name,
        "operator_codes": [{"deprecated_builtin_code": c, "builtin_code": c, "version": 1} for _, c in codes],
        "subgraphs": [{"tensors": tensors, "inputs": [0], "outputs": [y], "operators": ops, "name": "main"}],
        "buffers": buffers,
    }


# QUANTIZE from an integer tensor (requantize), 8-bit: the XNNPACK delegate takes it (a Q8 multiplier:
# with s_x / s_y = 0.05 / 0.17 it gives other integers than the built-in kernel on 81 of 256 inputs).
CODES["QUANTIZE"] = 114
for dt, lo in (("INT8", -128), ("UINT8", 0)):
    CASES.append(quant_model("q_requantize_" + dt.lower(), op("QUANTIZE"), dt, [2, 128], (0.05, lo + 100), [2, 128],
                             (0.17, lo + 117)))

# RESIZE_BILINEAR / RESIZE_NEAREST_NEIGHBOR on quantized tensors (input and output share quantization).
CODES.update({"RESIZE_BILINEAR": 23, "RESIZE_NEAREST_NEIGHBOR": 97})
for dt, lo in (("INT8", -128), ("UINT8", 0)):
    t, xq = dt.lower(), (0.05, lo + 131)
    CASES += [
        quant_model("q_resize_bilinear_" + t, op("RESIZE_BILINEAR"), dt, [1, 4, 8, 8], xq, [1, 7, 13, 8], xq,
                    (([2], [7, 13]),), "ResizeBilinearOptions", {}),
        quant_model("q_resize_bilinear_half_pixel_" + t, op("RESIZE_BILINEAR"), dt, [1, 4, 8, 8], xq, [1, 8, 16, 8], xq,
                    (([2], [8, 16]),), "ResizeBilinearOptions", {"half_pixel_centers": True}),
        quant_model("q_resize_bilinear_align_corners_" + t, op("RESIZE_BILINEAR"), dt, [1, 4, 8, 8], xq, [1, 7, 11, 8],
                    xq, (([2], [7, 11]),), "ResizeBilinearOptions", {"align_corners": True}),
        quant_model("q_resize_nearest_" + t, op("RESIZE_NEAREST_NEIGHBOR"), dt, [1, 4, 8, 8], xq, [1, 7, 13, 8], xq,
                    (([2], [7, 13]),), "ResizeNearestNeighborOptions", {}),
        quant_model("q_resize_nearest_half_pixel_" + t, op("RESIZE_NEAREST_NEIGHBOR"), dt, [1, 4, 8, 8], xq,
                    [1, 8, 16, 8], xq, (([2], [8, 16]),), "ResizeNearestNeighborOptions", {"half_pixel_centers": True}),
    ]

# ELU: int8 only (the TFLite interpreter has no uint8 ELU, and no integer EXP).
CASES += [quant_model("q_elu_int8", op("ELU"), "INT8", [2, 128], (0.03, -128 + 170), [2, 128], (0.02, -128 + 50))]
CASES += [squeeze_excite("q_squeeze_excite_int8", "INT8", -128), squeeze_excite("q_squeeze_excite_uint8", "UINT8", 0)]

def with_signature_and_metadata(case):
    """Adds a SignatureDef and two metadata entries (text and binary) that a round trip must keep."""
    name, m = case
    buffers = m["buffers"]
    buffers.append({"data": list(b"1.14.0") + [0] * 10})
    buffers.append({"data": [0, 1, 2, 255, 7]})
    m["metadata"] = [{"name": "min_runtime_version", "buffer": len(buffers) - 2},
                     {"name": "binary_blob", "buffer": len(buffers) - 1}]
    g = m["subgraphs"][0]
    m["signature_defs"] = [{"inputs": [{"name": "serving_x", "tensor_index": g["inputs"][0]}],
                            "outputs": [{"name": "serving_y", "tensor_index": g["outputs"][0]}],
                            "signature_key": "serving_default", "subgraph_index": 0}]
    return name + "_signature", m


CASES.append(with_signature_and_metadata(model("relu_signature", ("RELU", 19), [2, 3], [[2, 3]])))
CODES["RELU"] = 19

if __name__ == "__main__":
    for name, m in CASES:
        with open("%s/%s.json" % (sys.argv[1], name), "w") as f:
            json.dump(m, f)
