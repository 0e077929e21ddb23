"""Independent reference for a one-op quantized CONV_2D model (flatc JSON): the convolution computed in
float64 with numpy from the dequantized input, weights and bias, divided by the output scale, rounded and
saturated to the output type. Prints the max difference in output steps to transfix's output and how
many elements differ.

usage: conv_reference.py MODEL.json INPUT.npy OUTPUT.npy
"""
import json
import sys

import numpy as np


def tensor_values(model, index, dtype):
    t = model["subgraphs"][0]["tensors"][index]
    raw = bytes(model["buffers"][t["buffer"]]["data"])
    q = t["quantization"]
    scale = np.array(q["scale"]).reshape([-1] + [1] * (len(t["shape"]) - 1))
    return np.frombuffer(raw, dtype).reshape(t["shape"]).astype(np.float64) * scale


def main(model_file, x_file, y_file):
    m = json.load(open(model_file))
    g = m["subgraphs"][0]
    op = g["operators"][0]
    o = op["builtin_options"]
    assert o.get("dilation_w_factor", 1) == 1 and o.get("dilation_h_factor", 1) == 1 and o["fused_activation_function"] == "NONE"
    tx, tw, tb = (g["tensors"][i] for i in op["inputs"])
    ty = g["tensors"][op["outputs"][0]]
    x = np.load(x_file).astype(np.float64) * tx["quantization"]["scale"][0]
    w = tensor_values(m, op["inputs"][1], np.int8)
    b = tensor_values(m, op["inputs"][2], {"INT32": np.int32, "INT64": np.int64}[tb["type"]]).ravel()
    sh, sw = o["stride_h"], o["stride_w"]
    n, h, wd, c = x.shape
    oc, kh, kw, _ = w.shape
    oh, ow = ty["shape"][1:3]
    ph = max((oh - 1) * sh + kh - h, 0) if o["padding"] == "SAME" else 0
    pw = max((ow - 1) * sw + kw - wd, 0) if o["padding"] == "SAME" else 0
    xp = np.pad(x, ((0, 0), (ph // 2, ph - ph // 2), (pw // 2, pw - pw // 2), (0, 0)))
    y = np.zeros((n, oh, ow, oc))
    for i in range(oh):
        for j in range(ow):
            patch = xp[:, i * sh:i * sh + kh, j * sw:j * sw + kw, :]
            y[:, i, j, :] = np.tensordot(patch, w, axes=([1, 2, 3], [1, 2, 3])) + b
    info = np.iinfo(np.int16 if ty["type"] == "INT16" else np.int8)
    yq = np.clip(np.round(y / ty["quantization"]["scale"][0]) + ty["quantization"].get("zero_point", [0])[0], info.min, info.max)
    d = np.abs(yq - np.load(y_file).astype(np.float64))
    print("%g %d/%d" % (d.max(), (d > 0).sum(), d.size))


if __name__ == "__main__":
    main(*sys.argv[1:4])
