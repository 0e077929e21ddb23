#!/usr/bin/env python3
"""Writes small 16x8-quantized TFLite models (int16 activations with zero point 0, int8 symmetric
weights, int64 bias on scale s_x * s_w) as FlatBuffers JSON, compiled by flatc like
make_op_models.py: one model per operator, and a small network chaining them. Weights are seeded,
so the files are the same on every run.

Usage: make_int16_models.py OUT_DIR   (writes OUT_DIR/q16_<case>.json)
"""
import json
import random
import struct
import sys


class Graph:
    """One subgraph under construction: tensors, constant buffers, operators."""

    def __init__(self, name):
        self.name, self.tensors, self.buffers, self.ops, self.codes = name, [], [{}], [], []
        self.rng = random.Random(name)

    def tensor(self, name, shape, ttype, scale=None, data=None, zero=0, axis=0):
        t = {"shape": shape, "type": ttype, "buffer": 0, "name": name}
        if data is not None:
            self.buffers.append({"data": list(data)})
            t["buffer"] = len(self.buffers) - 1
        if scale is not None:
            scales = scale if isinstance(scale, list) else [scale]
            t["quantization"] = {"scale": scales, "zero_point": [zero] * len(scales)}
            if len(scales) > 1:
                t["quantization"]["quantized_dimension"] = axis
        self.tensors.append(t)
        return len(self.tensors) - 1

    def act(self, name, shape, scale):
        return self.tensor(name, shape, "INT16", scale)

    def int32s(self, name, values, shape=None):
        return self.tensor(name, shape or [len(values)], "INT32", data=struct.pack("<%di" % len(values), *values))

    def weights(self, name, shape, scales, axis):
        """int8 weights in [-127, 127] and their per-channel (or per-tensor) scales."""
        n = 1
        for d in shape:
            n *= d
        values = [self.rng.randint(-127, 127) for _ in range(n)]
        return self.tensor(name, shape, "INT8", scales, struct.pack("<%db" % n, *values), axis=axis)

    def bias(self, name, x_scale, w_scales, bits=64, count=None, spread=2000):
        """One bias per output channel (`count` of them for per-tensor weights)."""
        scales = [x_scale * s for s in w_scales]
        values = [self.rng.randint(-spread, spread) for _ in range(count or len(w_scales))]
        fmt, ttype = ("<%dq", "INT64") if bits == 64 else ("<%di", "INT32")
        return self.tensor(name, [len(values)], ttype, scales if len(scales) > 1 else scales[0],
                           struct.pack(fmt % len(values), *values))

    def op(self, opname, code, inputs, outputs, options_type=None, options=None):
        key = (opname, code)
        if key not in self.codes:
            self.codes.append(key)
        o = {"opcode_index": self.codes.index(key), "inputs": inputs, "outputs": outputs}
        if options_type:
            o["builtin_options_type"] = options_type
            o["builtin_options"] = options or {}
        self.ops.append(o)
        return outputs[0]

    def model(self, inputs, outputs):
        return "q16_" + self.name, {
            "version": 3,
            "description": "transfix 16x8 test " + self.name,
            "operator_codes": [{"deprecated_builtin_code": min(c, 127), "builtin_code": n, "version": 1}
                               for n, c in self.codes],
            "subgraphs": [{"tensors": self.tensors, "inputs": inputs, "outputs": outputs, "operators": self.ops,
                           "name": "main"}],
            "buffers": self.buffers,
        }


X_SCALE = 1 / 4096  # int16 inputs span about [-8, 8)


def conv(name, shape, out_channels, k, stride=1, dilation=1, padding="SAME", activation="NONE", out_scale=0.01,
         bias_bits=64):
    g = Graph(name)
    x = g.act("x", shape, X_SCALE)
    w_scales = [0.004 + 0.001 * o for o in range(out_channels)]
    w = g.weights("w", [out_channels, k, k, shape[3]], w_scales, 0)
    b = g.bias("b", X_SCALE, w_scales, bias_bits)
    span = (k - 1) * dilation + 1
    size = [-(-d // stride) if padding == "SAME" else (d - span) // stride + 1 for d in shape[1:3]]
    y = g.act("y0", [shape[0], size[0], size[1], out_channels], out_scale)
    g.op("CONV_2D", 3, [x, w, b], [y], "Conv2DOptions",
         {"padding": padding, "stride_w": stride, "stride_h": stride, "dilation_w_factor": dilation,
          "dilation_h_factor": dilation, "fused_activation_function": activation})
    return g.model([x], [y])


def depthwise(name, shape, multiplier, k, stride=1, activation="NONE", out_scale=0.004):
    g = Graph(name)
    x = g.act("x", shape, X_SCALE)
    out_channels = shape[3] * multiplier
    w_scales = [0.003 + 0.0005 * o for o in range(out_channels)]
    w = g.weights("w", [1, k, k, out_channels], w_scales, 3)
    b = g.bias("b", X_SCALE, w_scales)
    size = [-(-d // stride) for d in shape[1:3]]
    y = g.act("y0", [shape[0], size[0], size[1], out_channels], out_scale)
    g.op("DEPTHWISE_CONV_2D", 4, [x, w, b], [y], "DepthwiseConv2DOptions",
         {"padding": "SAME", "stride_w": stride, "stride_h": stride, "depth_multiplier": multiplier,
          "fused_activation_function": activation})
    return g.model([x], [y])


def fully_connected(name, batch, inputs, outputs, activation="NONE", out_scale=0.02):
    g = Graph(name)
    x = g.act("x", [batch, inputs], X_SCALE)
    w = g.weights("w", [outputs, inputs], [0.006], 0)
    b = g.bias("b", X_SCALE, [0.006], count=outputs, spread=20000)
    y = g.act("y0", [batch, outputs], out_scale)
    g.op("FULLY_CONNECTED", 9, [x, w, b], [y], "FullyConnectedOptions", {"fused_activation_function": activation})
    return g.model([x], [y])


def binary(name, opname, code, options_type, b_scale, out_scale, activation="NONE"):
    """x [2, 64, 8] OP b [8] (a constant int16 operand on its own scale) -> y0."""
    g = Graph(name)
    x = g.act("x", [2, 64, 8], X_SCALE)
    values = [g.rng.randint(-32768, 32767) for _ in range(8)]
    b = g.tensor("b", [8], "INT16", b_scale, struct.pack("<8h", *values))
    y = g.act("y0", [2, 64, 8], out_scale)
    g.op(opname, code, [x, b], [y], options_type, {"fused_activation_function": activation})
    return g.model([x], [y])


def pool(name, opname, code, activation="NONE"):
    g = Graph(name)
    x = g.act("x", [1, 9, 9, 4], X_SCALE)
    y = g.act("y0", [1, 5, 5, 4], X_SCALE)
    g.op(opname, code, [x], [y], "Pool2DOptions",
         {"padding": "SAME", "stride_w": 2, "stride_h": 2, "filter_width": 3, "filter_height": 3,
          "fused_activation_function": activation})
    return g.model([x], [y])


def classifier():
    """What a 16x8 converter writes for a float model: float x -> QUANTIZE (int16) -> CONV_2D (stride 2,
    RELU6) -> DEPTHWISE_CONV_2D -> CONV_2D 1x1 -> MEAN over H, W -> FULLY_CONNECTED -> SOFTMAX ->
    DEQUANTIZE -> float probabilities."""
    g = Graph("classifier")
    x = g.tensor("x", [1, 16, 16, 3], "FLOAT32")
    q = g.act("x_int16", [1, 16, 16, 3], X_SCALE)
    g.op("QUANTIZE", 114, [x], [q])
    w1s = [0.003 + 0.0004 * o for o in range(8)]
    c1 = g.act("conv1", [1, 8, 8, 8], 6 / 32767)
    g.op("CONV_2D", 3, [q, g.weights("conv1_w", [8, 3, 3, 3], w1s, 0), g.bias("conv1_b", X_SCALE, w1s)], [c1],
         "Conv2DOptions", {"padding": "SAME", "stride_w": 2, "stride_h": 2, "fused_activation_function": "RELU6"})
    w2s = [0.006 + 0.0002 * o for o in range(8)]
    c2 = g.act("dw2", [1, 8, 8, 8], 0.001)
    g.op("DEPTHWISE_CONV_2D", 4, [c1, g.weights("dw2_w", [1, 3, 3, 8], w2s, 3), g.bias("dw2_b", 6 / 32767, w2s)], [c2],
         "DepthwiseConv2DOptions", {"padding": "SAME", "stride_w": 1, "stride_h": 1, "depth_multiplier": 1})
    w3s = [0.005] * 12
    c3 = g.act("pw3", [1, 8, 8, 12], 0.0005)
    g.op("CONV_2D", 3, [c2, g.weights("pw3_w", [12, 1, 1, 8], w3s, 0), g.bias("pw3_b", 0.001, w3s)], [c3],
         "Conv2DOptions", {"padding": "VALID", "stride_w": 1, "stride_h": 1, "fused_activation_function": "RELU"})
    p = g.act("pool", [1, 12], 0.0002)
    g.op("MEAN", 40, [c3, g.int32s("pool_axes", [1, 2])], [p], "ReducerOptions", {"keep_dims": False})
    logits = g.act("logits", [1, 10], 0.004)
    g.op("FULLY_CONNECTED", 9, [p, g.weights("fc_w", [10, 12], [0.02], 0), g.bias("fc_b", 0.0002, [0.02], count=10)],
         [logits], "FullyConnectedOptions", {})
    probs = g.act("probs", [1, 10], 1 / 32768)
    g.op("SOFTMAX", 25, [logits], [probs], "SoftmaxOptions", {"beta": 1.0})
    y = g.tensor("y0", [1, 10], "FLOAT32")
    g.op("DEQUANTIZE", 6, [probs], [y])
    return g.model([x], [y])


def unary(name, opname, code, x_shape, out_shape, out_scale, consts=(), options_type=None, options=None,
          x_scale=X_SCALE, x_type="INT16", out_type="INT16"):
    """One input x, int32 constant operands `consts` [values], one output y0. A float side (x_type or
    out_type FLOAT32) has no quantization."""
    g = Graph(name)
    x = g.tensor("x", x_shape, x_type, x_scale if x_type != "FLOAT32" else None)
    inputs = [x] + [g.int32s("c%d" % k, list(v[1]), v[0]) for k, v in enumerate(consts)]
    y = g.tensor("y0", out_shape, out_type, out_scale if out_type != "FLOAT32" else None)
    g.op(opname, code, inputs, [y], options_type, options)
    return g.model([x], [y])


def concat_rescaled():
    """CONCATENATION of x and a constant int16 operand on another scale (rescaled to the output's)."""
    g = Graph("concat_rescaled")
    x = g.act("x", [2, 5, 6], X_SCALE)
    values = [g.rng.randint(-32768, 32767) for _ in range(2 * 5 * 3)]
    b = g.tensor("b", [2, 5, 3], "INT16", 0.0005, struct.pack("<30h", *values))
    y = g.act("y0", [2, 5, 9], 0.0005)
    g.op("CONCATENATION", 2, [x, b], [y], "ConcatenationOptions", {"axis": 2})
    return g.model([x], [y])


def small_net():
    """conv 3x3 + RELU -> depthwise 3x3 (stride 2) -> ADD (residual through a 1x1 conv) ->
    AVERAGE_POOL (global) -> RESHAPE -> FULLY_CONNECTED, all 16x8."""
    g = Graph("small_net")
    x = g.act("x", [1, 12, 12, 3], X_SCALE)
    w1s = [0.004 + 0.0007 * o for o in range(8)]
    c1 = g.act("conv1", [1, 12, 12, 8], 0.003)
    g.op("CONV_2D", 3, [x, g.weights("conv1_w", [8, 3, 3, 3], w1s, 0), g.bias("conv1_b", X_SCALE, w1s)], [c1],
         "Conv2DOptions", {"padding": "SAME", "stride_w": 1, "stride_h": 1, "fused_activation_function": "RELU"})
    w2s = [0.005 + 0.0003 * o for o in range(8)]
    c2 = g.act("dw2", [1, 6, 6, 8], 0.002)
    g.op("DEPTHWISE_CONV_2D", 4, [c1, g.weights("dw2_w", [1, 3, 3, 8], w2s, 3), g.bias("dw2_b", 0.003, w2s)], [c2],
         "DepthwiseConv2DOptions", {"padding": "SAME", "stride_w": 2, "stride_h": 2, "depth_multiplier": 1})
    w3s = [0.006] * 8
    c3 = g.act("pw3", [1, 6, 6, 8], 0.0025)
    g.op("CONV_2D", 3, [c2, g.weights("pw3_w", [8, 1, 1, 8], w3s, 0), g.bias("pw3_b", 0.002, w3s)], [c3],
         "Conv2DOptions", {"padding": "VALID", "stride_w": 1, "stride_h": 1})
    s = g.act("sum", [1, 6, 6, 8], 0.004)
    g.op("ADD", 0, [c2, c3], [s], "AddOptions", {"fused_activation_function": "RELU"})
    p = g.act("pool", [1, 1, 1, 8], 0.004)
    g.op("AVERAGE_POOL_2D", 1, [s], [p], "Pool2DOptions",
         {"padding": "VALID", "stride_w": 1, "stride_h": 1, "filter_width": 6, "filter_height": 6})
    r = g.act("flat", [1, 8], 0.004)
    g.op("RESHAPE", 22, [p, g.int32s("flat_shape", [1, 8])], [r], "ReshapeOptions", {"new_shape": [1, 8]})
    y = g.act("y0", [1, 5], 0.01)
    g.op("FULLY_CONNECTED", 9, [r, g.weights("fc_w", [5, 8], [0.01], 0), g.bias("fc_b", 0.004, [0.01], count=5)], [y],
         "FullyConnectedOptions", {})
    return g.model([x], [y])


CASES = [
    conv("conv_same", [1, 8, 8, 3], 6, 3),
    conv("conv_relu6_stride2_valid", [2, 9, 9, 4], 5, 3, stride=2, padding="VALID", activation="RELU6", out_scale=0.0005),
    conv("conv_dilated", [1, 10, 10, 2], 4, 3, dilation=2, out_scale=0.006),
    conv("conv_int32_bias", [1, 6, 6, 3], 4, 3, bias_bits=32),
    depthwise("depthwise_multiplier2", [1, 8, 8, 3], 2, 3),
    depthwise("depthwise_relu_stride2", [1, 9, 9, 4], 1, 3, stride=2, activation="RELU"),
    fully_connected("fully_connected", 3, 40, 7),
    fully_connected("fully_connected_relu", 2, 64, 10, "RELU"),
    binary("add", "ADD", 0, "AddOptions", 0.0007, 0.0004),
    binary("add_relu", "ADD", 0, "AddOptions", 0.0003, 0.00025, "RELU"),
    binary("sub", "SUB", 41, "SubOptions", 0.0007, 0.0004),
    binary("mul", "MUL", 18, "MulOptions", 0.00005, 0.0002),
    pool("max_pool", "MAX_POOL_2D", 17),
    pool("average_pool_relu", "AVERAGE_POOL_2D", 1, "RELU"),
    small_net(),
    classifier(),
    unary("relu", "RELU", 19, [4, 256], [4, 256], 0.0002),
    unary("relu6", "RELU6", 21, [4, 256], [4, 256], 6 / 32767),
    unary("leaky_relu", "LEAKY_RELU", 98, [4, 256], [4, 256], 0.0003, (), "LeakyReluOptions", {"alpha": 0.2}),
    unary("pad", "PAD", 34, [1, 4, 5, 3], [1, 6, 8, 3], X_SCALE, (([4, 2], [0, 0, 1, 1, 2, 1, 0, 0]),),
          "PadOptions", {}),
    unary("concat_same", "CONCATENATION", 2, [2, 5, 6], [2, 5, 6], X_SCALE, (), "ConcatenationOptions", {"axis": 1}),
    concat_rescaled(),
    unary("mean_hw_keep", "MEAN", 40, [2, 6, 6, 8], [2, 1, 1, 8], 0.0001, (([2], [1, 2]),), "ReducerOptions",
          {"keep_dims": True}),
    unary("mean_hw", "MEAN", 40, [2, 6, 6, 8], [2, 8], 0.0001, (([2], [1, 2]),), "ReducerOptions", {"keep_dims": False}),
    unary("mean_last", "MEAN", 40, [4, 3, 20], [4, 3], 0.0001, (([1], [-1]),), "ReducerOptions", {"keep_dims": False}),
    unary("mean_same_quant", "MEAN", 40, [2, 6, 6, 8], [2, 1, 1, 8], X_SCALE, (([2], [1, 2]),), "ReducerOptions",
          {"keep_dims": True}),
    unary("reduce_max", "REDUCE_MAX", 82, [4, 3, 20], [4, 3], X_SCALE, (([1], [-1]),), "ReducerOptions",
          {"keep_dims": False}),
    unary("softmax", "SOFTMAX", 25, [4, 10], [4, 10], 1 / 32768, (), "SoftmaxOptions", {"beta": 1.0}),
    unary("softmax_beta_wide", "SOFTMAX", 25, [2, 3, 100], [2, 3, 100], 1 / 32768, (), "SoftmaxOptions", {"beta": 0.7},
          x_scale=0.001),
    unary("logistic", "LOGISTIC", 14, [4, 256], [4, 256], 1 / 32768, x_scale=0.00031),
    unary("logistic_pot_scale", "LOGISTIC", 14, [4, 256], [4, 256], 1 / 32768),
    unary("tanh", "TANH", 28, [4, 256], [4, 256], 1 / 32768, x_scale=0.00017),
    unary("tanh_pot_scale", "TANH", 28, [4, 256], [4, 256], 1 / 32768),
    unary("resize_bilinear", "RESIZE_BILINEAR", 23, [1, 4, 8, 8], [1, 7, 13, 8], X_SCALE, (([2], [7, 13]),),
          "ResizeBilinearOptions", {}),
    unary("resize_bilinear_half_pixel", "RESIZE_BILINEAR", 23, [1, 4, 8, 8], [1, 8, 16, 8], X_SCALE, (([2], [8, 16]),),
          "ResizeBilinearOptions", {"half_pixel_centers": True}),
    unary("resize_nearest", "RESIZE_NEAREST_NEIGHBOR", 97, [1, 4, 8, 8], [1, 7, 13, 8], X_SCALE, (([2], [7, 13]),),
          "ResizeNearestNeighborOptions", {}),
    unary("quantize_from_float", "QUANTIZE", 114, [4, 256], [4, 256], 0.0003, x_type="FLOAT32"),
    unary("dequantize", "DEQUANTIZE", 6, [4, 256], [4, 256], None, out_type="FLOAT32"),
    unary("requantize", "QUANTIZE", 114, [4, 256], [4, 256], 0.0003),
    unary("requantize_to_int8", "QUANTIZE", 114, [4, 256], [4, 256], 0.05, out_type="INT8"),
]

if __name__ == "__main__":
    for name, m in CASES:
        with open("%s/%s.json" % (sys.argv[1], name), "w") as f:
            json.dump(m, f)
