#!/usr/bin/python3
"""Tiny Keras .h5 files for tests/keras_test.sh, written with h5py in Keras 2's layout (no
TensorFlow here), each with an input and the expected outputs computed independently in numpy
from Keras/TensorFlow's documented semantics (SAME padding with the odd pixel at the end, HWIO
kernels, inference batch norm, half-pixel upsampling...). Also malformed files for error tests.

Usage: make_keras_cases.py OUT_DIR    (writes CASE.h5, CASE.in<i>.npy, CASE.out<i>.npy per case)
"""
import json
import os
import sys

import h5py
import numpy as np

rng = np.random.default_rng(42)
OUT = sys.argv[1]
os.makedirs(OUT, exist_ok=True)


def randn(*shape):
    return rng.standard_normal(shape).astype(np.float32)


# ---------------------------------------------------------------- numpy references (NHWC)

def same_pads(n, k, s, d=1):
    out = -(-n // s)
    total = max((out - 1) * s + (k - 1) * d + 1 - n, 0)
    return total // 2, total - total // 2


def conv2d(x, w, b, strides=(1, 1), padding="valid", dilation=(1, 1), groups=1):
    """x [N,H,W,C], w [KH,KW,C/g,F] (HWIO), TF semantics."""
    kh, kw, cg, f = w.shape
    if padding == "same":
        ph, pw = same_pads(x.shape[1], kh, strides[0], dilation[0]), same_pads(x.shape[2], kw, strides[1], dilation[1])
        x = np.pad(x, ((0, 0), ph, pw, (0, 0)))
    n, h, wd, c = x.shape
    oh = (h - (kh - 1) * dilation[0] - 1) // strides[0] + 1
    ow = (wd - (kw - 1) * dilation[1] - 1) // strides[1] + 1
    y = np.zeros((n, oh, ow, f), np.float64)
    fg = f // groups
    for i in range(kh):
        for j in range(kw):
            patch = x[:, i * dilation[0]: i * dilation[0] + (oh - 1) * strides[0] + 1: strides[0],
                      j * dilation[1]: j * dilation[1] + (ow - 1) * strides[1] + 1: strides[1], :]
            for g in range(groups):
                y[..., g * fg:(g + 1) * fg] += patch[..., g * cg:(g + 1) * cg].astype(np.float64) @ w[i, j, :, g * fg:(g + 1) * fg]
    return y + (0 if b is None else b)


def depthwise(x, w, b, strides=(1, 1), padding="valid"):
    """w [KH,KW,C,M]: output channel c*M + m."""
    kh, kw, c, m = w.shape
    full = np.zeros((kh, kw, c, c * m), np.float32)
    for ci in range(c):
        full[:, :, ci, ci * m:(ci + 1) * m] = w[:, :, ci, :]
    return conv2d(x, full, b, strides, padding)


def deconv_length(n, k, s, padding, output_padding):
    if output_padding is None:
        return n * s + max(k - s, 0) if padding == "valid" else n * s
    pad = k // 2 if padding == "same" else 0
    return (n - 1) * s + k - 2 * pad + output_padding


def conv2d_transpose(x, w, b, strides, padding, output_padding=(None, None)):
    """w [KH,KW,F,C]; Keras output size, TF gradient-of-conv padding (odd pixel at the end)."""
    n, h, wd, c = x.shape
    kh, kw, f, _ = w.shape
    sh, sw = strides
    oh = deconv_length(h, kh, sh, padding, output_padding[0])
    ow = deconv_length(wd, kw, sw, padding, output_padding[1])
    full = np.zeros((n, (h - 1) * sh + kh, (wd - 1) * sw + kw, f))
    for i in range(h):
        for j in range(wd):
            full[:, i * sh:i * sh + kh, j * sw:j * sw + kw, :] += np.einsum("nc,abfc->nabf", x[:, i, j, :], w)
    pt = max((h - 1) * sh + kh - oh, 0) // 2 if padding == "same" else 0
    pl = max((wd - 1) * sw + kw - ow, 0) // 2 if padding == "same" else 0
    full = np.pad(full, ((0, 0), (0, max(0, oh + pt - full.shape[1])), (0, max(0, ow + pl - full.shape[2])), (0, 0)))
    return full[:, pt:pt + oh, pl:pl + ow, :] + b


def pool2d(x, k, s, padding, kind):
    if padding == "same":
        ph, pw = same_pads(x.shape[1], k[0], s[0]), same_pads(x.shape[2], k[1], s[1])
    else:
        ph = pw = (0, 0)
    fill = -np.inf if kind == "max" else np.nan
    xp = np.pad(x.astype(np.float64), ((0, 0), ph, pw, (0, 0)), constant_values=fill)
    oh, ow = (xp.shape[1] - k[0]) // s[0] + 1, (xp.shape[2] - k[1]) // s[1] + 1
    y = np.zeros((x.shape[0], oh, ow, x.shape[3]))
    for i in range(oh):
        for j in range(ow):
            win = xp[:, i * s[0]:i * s[0] + k[0], j * s[1]:j * s[1] + k[1], :]
            y[:, i, j, :] = win.max(axis=(1, 2)) if kind == "max" else np.nanmean(win, axis=(1, 2))
    return y


def bilinear_half_pixel(x, sh, sw):
    n, h, w, c = x.shape

    def axis_weights(size, scale):
        src = np.maximum((np.arange(size * scale) + 0.5) / scale - 0.5, 0)
        lo = np.floor(src).astype(int)
        hi = np.minimum(lo + 1, size - 1)
        return lo, hi, src - lo

    y0, y1, fy = axis_weights(h, sh)
    x0, x1, fx = axis_weights(w, sw)
    top = x[:, y0][:, :, x0] * (1 - fx)[None, None, :, None] + x[:, y0][:, :, x1] * fx[None, None, :, None]
    bot = x[:, y1][:, :, x0] * (1 - fx)[None, None, :, None] + x[:, y1][:, :, x1] * fx[None, None, :, None]
    return top * (1 - fy)[None, :, None, None] + bot * fy[None, :, None, None]


def batchnorm(x, g, b, m, v, eps):
    return (x - m) / np.sqrt(v + eps) * g + b


ACTIVATIONS = {
    "relu": lambda x: np.maximum(x, 0), "relu6": lambda x: np.clip(x, 0, 6),
    "sigmoid": lambda x: 1 / (1 + np.exp(-x)), "tanh": np.tanh,
    "softmax": lambda x: np.exp(x - x.max(-1, keepdims=True)) / np.exp(x - x.max(-1, keepdims=True)).sum(-1, keepdims=True),
    "elu": lambda x: np.where(x > 0, x, np.expm1(x)),
    "selu": lambda x: 1.0507009873554805 * np.where(x > 0, x, 1.6732632423543772 * np.expm1(x)),
    "swish": lambda x: x / (1 + np.exp(-x)), "silu": lambda x: x / (1 + np.exp(-x)),
    "gelu": lambda x: 0.5 * x * (1 + np.vectorize(__import__("math").erf)(x / np.sqrt(2))),
    "hard_sigmoid": lambda x: np.clip(0.2 * x + 0.5, 0, 1), "softplus": lambda x: np.log1p(np.exp(x)),
    "softsign": lambda x: x / (1 + np.abs(x)), "linear": lambda x: x, "exponential": np.exp,
    "leaky_relu": lambda x: np.where(x > 0, x, 0.2 * x), "mish": lambda x: x * np.tanh(np.log1p(np.exp(x))),
    "hard_silu": lambda x: x * np.clip(x + 3, 0, 6) / 6,
    "log_softmax": lambda x: x - x.max(-1, keepdims=True) - np.log(np.exp(x - x.max(-1, keepdims=True)).sum(-1, keepdims=True)),
}

# ---------------------------------------------------------------- Keras 2 file layout


class Model:
    """Functional model config + weights, saved like keras 2.x model.save('x.h5')."""

    def __init__(self, name="model"):
        self.name, self.layers, self.weights, self.inputs, self.outputs = name, [], {}, [], []

    def input(self, name, shape, dtype="float32"):
        self.layers.append({"class_name": "InputLayer", "name": name, "inbound_nodes": [],
                            "config": {"batch_input_shape": [None] + list(shape), "dtype": dtype, "name": name}})
        self.inputs.append([name, 0, 0])
        return name

    def add(self, cls, name, inputs, weights=(), kwargs=None, **config):
        config["name"] = name
        ins = inputs if isinstance(inputs, list) else [inputs]
        node = [[i, 0, 0, kwargs or {}] if isinstance(i, str) else list(i) + [kwargs or {}] for i in ins]
        existing = [l for l in self.layers if l["name"] == name]
        if existing:  # a shared layer called again
            existing[0]["inbound_nodes"].append(node)
            return (name, len(existing[0]["inbound_nodes"]) - 1, 0)
        self.layers.append({"class_name": cls, "name": name, "config": config, "inbound_nodes": [node]})
        self.weights[name] = list(weights)
        return name

    def config(self):
        return {"class_name": "Functional", "config": {"name": self.name, "layers": self.layers,
                                                       "input_layers": self.inputs, "output_layers": self.outputs}}

    def save(self, path, weights_only=False, with_config=True):
        with h5py.File(path, "w") as f:
            root = f if weights_only else f.create_group("model_weights")
            if not weights_only and with_config:
                f.attrs["model_config"] = json.dumps(self.config())
            f.attrs["keras_version"] = "2.4.0"
            f.attrs["backend"] = "tensorflow"
            names = [l["name"] for l in self.layers]
            root.attrs["layer_names"] = np.array([n.encode() for n in names])
            for n in names:
                g = root.create_group(n)
                ws = self.weights.get(n, [])
                g.attrs["weight_names"] = np.array([("%s/%s:0" % (n, r)).encode() for r, _ in ws]) if ws else np.array([], np.float64)
                for r, w in ws:
                    g.create_dataset("%s/%s:0" % (n, r), data=np.asarray(w, np.float32))


def save_case(name, model, inputs, outputs):
    model.save(os.path.join(OUT, name + ".h5"))
    for i, x in enumerate(inputs):
        np.save(os.path.join(OUT, "%s.in%d.npy" % (name, i)), x.astype(np.float32))
    for i, y in enumerate(outputs):
        np.save(os.path.join(OUT, "%s.out%d.npy" % (name, i)), np.asarray(y, np.float32))


# ---------------------------------------------------------------- cases

def case_convolutions():
    m = Model()
    x = randn(2, 9, 8, 4)
    m.input("x", (9, 8, 4))
    k1, b1 = randn(3, 3, 4, 6), randn(6)
    m.add("Conv2D", "conv_same", "x", [("kernel", k1), ("bias", b1)], filters=6, kernel_size=[3, 3], strides=[2, 2],
          padding="same", activation="relu", use_bias=True, data_format="channels_last", dilation_rate=[1, 1], groups=1)
    y1 = np.maximum(conv2d(x, k1, b1, (2, 2), "same"), 0)
    k2 = randn(2, 3, 2, 6)
    m.add("Conv2D", "conv_grouped_dilated", "x", [("kernel", k2)], filters=6, kernel_size=[2, 3], strides=[1, 1],
          padding="same", dilation_rate=[2, 1], groups=2, use_bias=False, activation="linear")
    y2 = conv2d(x, k2, None, (1, 1), "same", (2, 1), 2)
    dk, db = randn(3, 3, 4, 2), randn(8)
    m.add("DepthwiseConv2D", "dw", "x", [("depthwise_kernel", dk), ("bias", db)], kernel_size=[3, 3], strides=[2, 2],
          padding="same", depth_multiplier=2, use_bias=True, activation="relu6")
    y3 = np.clip(depthwise(x, dk, db, (2, 2), "same"), 0, 6)
    sk, pk, sb = randn(3, 3, 4, 1), randn(1, 1, 4, 5), randn(5)
    m.add("SeparableConv2D", "sep", "x", [("depthwise_kernel", sk), ("pointwise_kernel", pk), ("bias", sb)], filters=5,
          kernel_size=[3, 3], strides=[1, 1], padding="valid", depth_multiplier=1, use_bias=True, activation="linear")
    y4 = conv2d(depthwise(x, sk, None, (1, 1), "valid"), pk, sb)
    tk, tb = randn(3, 3, 3, 4), randn(3)
    m.add("Conv2DTranspose", "deconv_same", "x", [("kernel", tk), ("bias", tb)], filters=3, kernel_size=[3, 3],
          strides=[2, 2], padding="same", output_padding=None, use_bias=True, activation="linear")
    y5 = conv2d_transpose(x, tk, tb, (2, 2), "same")
    tk2, tb2 = randn(2, 3, 2, 4), randn(2)
    m.add("Conv2DTranspose", "deconv_valid", "x", [("kernel", tk2), ("bias", tb2)], filters=2, kernel_size=[2, 3],
          strides=[3, 2], padding="valid", use_bias=True, activation="linear")
    y6 = conv2d_transpose(x, tk2, tb2, (3, 2), "valid")
    tk3, tb3 = randn(3, 3, 2, 4), randn(2)
    m.add("Conv2DTranspose", "deconv_outpad", "x", [("kernel", tk3), ("bias", tb3)], filters=2, kernel_size=[3, 3],
          strides=[2, 3], padding="same", output_padding=[1, 2], use_bias=True, activation="linear")
    y7 = conv2d_transpose(x, tk3, tb3, (2, 3), "same", (1, 2))
    m.outputs = [["conv_same", 0, 0], ["conv_grouped_dilated", 0, 0], ["dw", 0, 0], ["sep", 0, 0],
                 ["deconv_same", 0, 0], ["deconv_valid", 0, 0], ["deconv_outpad", 0, 0]]
    save_case("convolutions", m, [x], [y1, y2, y3, y4, y5, y6, y7])


def case_conv1d_pooling():
    m = Model()
    x = randn(2, 11, 3)
    m.input("x", (11, 3))
    k, b = randn(3, 3, 4), randn(4)
    m.add("Conv1D", "causal", "x", [("kernel", k), ("bias", b)], filters=4, kernel_size=[3], strides=[1], padding="causal",
          dilation_rate=[2], activation="tanh", use_bias=True)
    xp = np.pad(x, ((0, 0), (4, 0), (0, 0)))[:, None]
    y1 = np.tanh(conv2d(xp, k[None], b, (1, 1), "valid", (1, 2))[:, 0])
    m.add("MaxPooling1D", "maxpool1d", "causal", pool_size=[2], strides=[2], padding="valid")
    y2 = pool2d(y1[:, None], (1, 2), (1, 2), "valid", "max")[:, 0]
    m.add("AveragePooling1D", "avgpool1d", "causal", pool_size=[3], strides=[2], padding="same")
    y3 = pool2d(y1[:, None], (1, 3), (1, 2), "same", "avg")[:, 0]
    m.add("GlobalAveragePooling1D", "gap1d", "avgpool1d")
    y4 = y3.mean(axis=1)
    m.outputs = [["maxpool1d", 0, 0], ["avgpool1d", 0, 0], ["gap1d", 0, 0]]
    save_case("conv1d_pooling", m, [x], [y2, y3, y4])


def case_dense_activations():
    m = Model()
    x = randn(3, 7)
    m.input("x", (7,))
    k, b = randn(7, 5), randn(5)
    g, be, mu, var = randn(5), randn(5), randn(5), np.abs(randn(5)) + 0.1
    m.add("Dense", "dense", "x", [("kernel", k), ("bias", b)], units=5, use_bias=True, activation="linear")
    m.add("BatchNormalization", "bn", "dense", [("gamma", g), ("beta", be), ("moving_mean", mu), ("moving_variance", var)],
          axis=[1], epsilon=0.001, center=True, scale=True)
    h = batchnorm(x.astype(np.float64) @ k + b, g, be, mu, var, 1e-3)
    outs = []
    for name, fn in ACTIVATIONS.items():
        m.add("Activation", "act_" + name, "bn", activation=name)
        m.outputs.append(["act_" + name, 0, 0])
        outs.append(fn(h))
    k2 = randn(5, 4)
    m.add("Dense", "dense_nobias_sigmoid", "bn", [("kernel", k2)], units=4, use_bias=False, activation="sigmoid")
    m.outputs.append(["dense_nobias_sigmoid", 0, 0])
    outs.append(1 / (1 + np.exp(-(h @ k2))))
    save_case("dense_activations", m, [x], outs)


def case_activation_layers():
    m = Model()
    x = randn(2, 4, 5, 3) * 3
    m.input("x", (4, 5, 3))
    m.add("ReLU", "relu6", "x", max_value=6.0, negative_slope=0.0, threshold=0.0)
    m.add("ReLU", "relu_general", "x", max_value=3.0, negative_slope=0.1, threshold=0.5)
    m.add("LeakyReLU", "leaky", "x", alpha=0.2)
    alpha = randn(1, 1, 3)
    m.add("PReLU", "prelu", "x", [("alpha", alpha)], shared_axes=[1, 2])
    m.add("ELU", "elu", "x", alpha=0.7)
    m.add("Softmax", "softmax", "x", axis=2)
    m.add("BatchNormalization", "bn_nocenter", "x", [("gamma", randn(3)), ("moving_mean", randn(3)), ("moving_variance", np.abs(randn(3)) + 0.5)],
          axis=3, epsilon=0.01, center=False, scale=True)
    g, mu, var = [w for _, w in m.weights["bn_nocenter"]]
    pos = np.clip(np.where(x > 0.5, x, 0), 0, 3)
    e = np.exp(x - x.max(2, keepdims=True))
    m.outputs = [[n, 0, 0] for n in ["relu6", "relu_general", "leaky", "prelu", "elu", "softmax", "bn_nocenter"]]
    save_case("activation_layers", m, [x], [
        np.clip(x, 0, 6), pos - 0.1 * np.maximum(0.5 - x, 0), np.where(x > 0, x, 0.2 * x), np.where(x > 0, x, alpha * x),
        np.where(x > 0, x, 0.7 * np.expm1(x)), e / e.sum(2, keepdims=True), (x - mu) / np.sqrt(var + 0.01) * g])


def case_merge():
    m = Model()
    a, b = randn(2, 3, 4, 5), randn(2, 3, 4, 5)
    m.input("a", (3, 4, 5))
    m.input("b", (3, 4, 5))
    for cls in ["Add", "Subtract", "Multiply", "Average", "Maximum"]:
        m.add(cls, cls.lower(), ["a", "b"])
    m.add("Concatenate", "concat", ["a", "b", "add"], axis=-1)
    m.add("Concatenate", "concat_h", ["a", "b"], axis=1)
    m.outputs = [[n, 0, 0] for n in ["add", "subtract", "multiply", "average", "maximum", "concat", "concat_h"]]
    save_case("merge", m, [a, b], [a + b, a - b, a * b, (a + b) / 2, np.maximum(a, b), np.concatenate([a, b, a + b], -1),
                                   np.concatenate([a, b], 1)])


def case_keras3_nodes():
    """Keras 3 config forms: batch_shape, inbound nodes as {"args": [...], "kwargs": {...}} with tensors as
    __keras_tensor__ objects (a list argument for Concatenate), activation as an object."""
    m = Model()
    a, b = randn(2, 5), randn(2, 5)
    m.input("a", (5,))
    m.input("b", (5,))
    k = randn(5, 3)
    m.add("Dense", "dense", "a", [("kernel", k)], units=3, use_bias=False,
          activation={"module": "keras.activations", "class_name": "function", "config": "tanh"})
    m.add("Concatenate", "concat", ["dense", "b"], axis=-1)
    kt = lambda name: {"class_name": "__keras_tensor__", "config": {"shape": [None, 5], "dtype": "float32",
                                                                    "keras_history": [name, 0, 0]}}
    for layer in m.layers:
        if layer["class_name"] == "InputLayer":
            layer["config"]["batch_shape"] = layer["config"].pop("batch_input_shape")
    m.layers[2]["inbound_nodes"] = [{"args": [kt("a")], "kwargs": {}}]
    m.layers[3]["inbound_nodes"] = [{"args": [[kt("dense"), kt("b")]], "kwargs": {}}]
    m.outputs = [["concat", 0, 0]]
    save_case("keras3_nodes", m, [a, b], [np.concatenate([np.tanh(a @ k), b], -1)])


def case_shapes():
    m = Model()
    x = randn(2, 6, 7, 3)
    m.input("x", (6, 7, 3))
    m.add("ZeroPadding2D", "pad", "x", padding=[[1, 2], [0, 1]])
    y1 = np.pad(x, ((0, 0), (1, 2), (0, 1), (0, 0)))
    m.add("Cropping2D", "crop", "pad", cropping=[[2, 0], [1, 1]])
    y2 = y1[:, 2:, 1:-1]
    m.add("MaxPooling2D", "maxpool", "x", pool_size=[3, 3], strides=[2, 2], padding="same")
    y3 = pool2d(x, (3, 3), (2, 2), "same", "max")
    m.add("AveragePooling2D", "avgpool", "x", pool_size=[2, 3], strides=[2, 2], padding="same")
    y4 = pool2d(x, (2, 3), (2, 2), "same", "avg")
    m.add("GlobalMaxPooling2D", "gmp", "x")
    m.add("GlobalAveragePooling2D", "gap_keep", "x", keepdims=True)
    m.add("Flatten", "flatten", "crop")
    m.add("Reshape", "reshape", "x", target_shape=[-1, 3, 7])
    m.add("Permute", "permute", "x", dims=[3, 1, 2])
    m.add("UpSampling2D", "up_nearest", "x", size=[2, 3], interpolation="nearest")
    m.add("UpSampling2D", "up_bilinear", "x", size=[2, 2], interpolation="bilinear")
    m.add("Dropout", "dropout", "x", rate=0.5)
    m.outputs = [[n, 0, 0] for n in ["crop", "maxpool", "avgpool", "gmp", "gap_keep", "flatten", "reshape", "permute",
                                     "up_nearest", "up_bilinear", "dropout"]]
    save_case("shapes", m, [x], [y2, y3, y4, x.max((1, 2)), x.mean((1, 2), keepdims=True), y2.reshape(2, -1),
                                 x.reshape(2, -1, 3, 7), x.transpose(0, 3, 1, 2), x.repeat(2, 1).repeat(3, 2),
                                 bilinear_half_pixel(x, 2, 2), x])


def case_preprocessing_lambda():
    m = Model()
    x = rng.integers(0, 256, (2, 4, 4, 3)).astype(np.float32)
    m.input("image", (4, 4, 3))
    m.add("Rescaling", "rescale", "image", scale=1 / 127.5, offset=-1.0)
    mean, var = randn(3), np.abs(randn(3)) + 0.5
    m.add("Normalization", "norm", "rescale", [("mean", mean), ("variance", var), ("count", np.array(10.0))], axis=[-1])
    m.add("TFOpLambda", "times_two", "norm", kwargs={"y": 2.0, "name": None}, function="math.multiply")
    m.add("TFOpLambda", "relu", "times_two", function="nn.relu")
    m.add("TFOpLambda", "plus_norm", "relu", kwargs={"y": ["norm", 0, 0], "name": None}, function="__operators__.add")
    m.add("TFOpLambda", "mean", "plus_norm", kwargs={"axis": [1, 2], "keepdims": False}, function="math.reduce_mean")
    r = x / 127.5 - 1
    n = (r - mean) / np.maximum(np.sqrt(var), 1e-7)
    m.outputs = [["mean", 0, 0]]
    save_case("preprocessing_lambda", m, [x], [(np.maximum(n * 2, 0) + n).mean((1, 2))])


def case_uint8_input():
    m = Model()
    x = rng.integers(0, 256, (1, 2, 2, 3)).astype(np.uint8)
    m.input("pixels", (2, 2, 3), dtype="uint8")
    m.add("Rescaling", "to01", "pixels", scale=1 / 255.0, offset=0.0)
    m.outputs = [["to01", 0, 0]]
    m.save(os.path.join(OUT, "uint8_input.h5"))
    np.save(os.path.join(OUT, "uint8_input.in0.npy"), x)
    np.save(os.path.join(OUT, "uint8_input.out0.npy"), (x / 255.0).astype(np.float32))


def case_nested_shared():
    """A Sequential model nested in a Functional one, called twice (shared weights), plus a shared Dense."""
    k1, b1, k2 = randn(4, 6), randn(6), randn(6, 3)
    inner = {"class_name": "Sequential", "config": {"name": "encoder", "layers": [
        {"class_name": "InputLayer", "config": {"batch_input_shape": [None, 4], "dtype": "float32", "name": "enc_in"}},
        {"class_name": "Dense", "config": {"name": "enc_dense", "units": 6, "activation": "relu", "use_bias": True}},
        {"class_name": "Dense", "config": {"name": "enc_out", "units": 3, "activation": "linear", "use_bias": False}}]}}
    m = Model()
    a, b = randn(2, 4), randn(2, 4)
    m.input("a", (4,))
    m.input("b", (4,))
    m.layers.append({"class_name": "Sequential", "name": "encoder", "config": inner["config"],
                     "inbound_nodes": [[["a", 0, 0, {}]], [["b", 0, 0, {}]]]})
    k3, b3 = randn(3, 2), randn(2)
    m.add("Dense", "head", [("encoder", 0, 0)], [("kernel", k3), ("bias", b3)], units=2, activation="linear", use_bias=True)
    m.add("Dense", "head", [("encoder", 1, 0)])
    m.add("Subtract", "diff", [("head", 0, 0), ("head", 1, 0)])
    m.outputs = [["diff", 0, 0]]
    m.weights["encoder"] = []
    path = os.path.join(OUT, "nested_shared.h5")
    m.save(path)
    with h5py.File(path, "a") as f:  # the nested model's weights live in its group, named by inner layer
        g = f["model_weights/encoder"]
        names = [("enc_dense/kernel:0", k1), ("enc_dense/bias:0", b1), ("enc_out/kernel:0", k2)]
        g.attrs["weight_names"] = np.array([n.encode() for n, _ in names])
        for n, w in names:
            g.create_dataset(n, data=w)
    enc = lambda x: np.maximum(x @ k1 + b1, 0) @ k2
    np.save(os.path.join(OUT, "nested_shared.in0.npy"), a)
    np.save(os.path.join(OUT, "nested_shared.in1.npy"), b)
    np.save(os.path.join(OUT, "nested_shared.out0.npy"), ((enc(a) @ k3 + b3) - (enc(b) @ k3 + b3)).astype(np.float32))
    # The same model as weights-only .h5 + architecture JSON beside it.
    m2 = Model()
    m2.layers, m2.weights, m2.inputs, m2.outputs = m.layers, m.weights, m.inputs, m.outputs
    wpath = os.path.join(OUT, "weights_only.h5")
    m2.save(wpath, weights_only=True)
    with h5py.File(wpath, "a") as f:
        g = f["encoder"]
        g.attrs["weight_names"] = np.array([n.encode() for n, _ in names])
        for n, w in names:
            g.create_dataset(n, data=w)
    with open(os.path.join(OUT, "weights_only.json"), "w") as f:
        json.dump(m.config(), f)
    for s in ("in0", "in1", "out0"):
        os.link(os.path.join(OUT, "nested_shared.%s.npy" % s), os.path.join(OUT, "weights_only.%s.npy" % s))


def case_sequential():
    k, b = randn(3, 3, 2, 4), randn(4)
    cfg = {"class_name": "Sequential", "config": {"name": "seq", "layers": [
        {"class_name": "Conv2D", "config": {"name": "c", "batch_input_shape": [None, 5, 5, 2], "filters": 4,
                                            "kernel_size": [3, 3], "padding": "valid", "activation": "relu", "use_bias": True}},
        {"class_name": "Flatten", "config": {"name": "f"}}]}}
    path = os.path.join(OUT, "sequential.h5")
    with h5py.File(path, "w") as f:
        f.attrs["model_config"] = json.dumps(cfg)
        f.attrs["keras_version"] = "2.4.0"
        mw = f.create_group("model_weights")
        mw.attrs["layer_names"] = np.array([b"c", b"f"])
        g = mw.create_group("c")
        g.attrs["weight_names"] = np.array(["c/kernel:0", "c/bias:0"], dtype=h5py.string_dtype())  # variable-length
        g.create_dataset("c/kernel:0", data=k)
        g.create_dataset("c/bias:0", data=b)
        mw.create_group("f").attrs["weight_names"] = np.array([], np.float64)
    x = randn(1, 5, 5, 2)
    np.save(os.path.join(OUT, "sequential.in0.npy"), x)
    np.save(os.path.join(OUT, "sequential.out0.npy"), np.maximum(conv2d(x, k, b), 0).reshape(1, -1).astype(np.float32))


def bad_files():
    """Malformed inputs: each must give exit 2 and a message naming the file and problem."""
    bad = os.path.join(OUT, "bad")
    os.makedirs(bad, exist_ok=True)

    def conv_model():
        m = Model()
        m.input("x", (5, 5, 2))
        m.add("Conv2D", "conv", "x", [("kernel", randn(3, 3, 2, 4)), ("bias", randn(4))], filters=4, kernel_size=[3, 3],
              padding="same", use_bias=True)
        m.outputs = [["conv", 0, 0]]
        return m

    conv_model().save(os.path.join(bad, "no_config.h5"), with_config=False)
    m = conv_model()
    m.weights["conv"] = [("kernel", randn(3, 3, 2, 4))]  # bias missing
    m.save(os.path.join(bad, "missing_bias.h5"))
    m = conv_model()
    m.weights["conv"] = [("kernel", randn(3, 3, 3, 4)), ("bias", randn(4))]  # wrong input channels
    m.save(os.path.join(bad, "wrong_shape.h5"))
    m = conv_model()
    m.add("Conv3D", "conv3d", "conv", filters=1, kernel_size=[1, 1, 1])
    m.save(os.path.join(bad, "unsupported_layer.h5"))
    # A dataset declaring 2^40 floats while the file holds a few KB (chunked, so no space is written).
    m = conv_model()
    m.weights["conv"] = []
    path = os.path.join(bad, "huge_dims.h5")
    m.save(path)
    with h5py.File(path, "a") as f:
        g = f["model_weights/conv"]
        g.attrs["weight_names"] = np.array([b"conv/kernel:0", b"conv/bias:0"])
        g.create_dataset("conv/kernel:0", shape=(1 << 20, 1 << 20, 1, 1), dtype="f4", chunks=(1, 1, 1, 1))
        g.create_dataset("conv/bias:0", data=randn(4))
    m = conv_model()
    m.layers[1]["config"]["activation"] = "relu"
    m.add("Activation", "conv/pre_activation", "x", activation="tanh")  # clashes with conv's intermediate
    m.save(os.path.join(bad, "name_clash.h5"))
    m = conv_model()
    m.layers[1]["inbound_nodes"] = [[["nowhere", 0, 0, {}]]]
    m.save(os.path.join(bad, "dangling.h5"))
    # Untrusted nesting: call arguments 100000 lists deep (Keras 3 form), models nested 40 deep.
    m = conv_model()
    m.layers[1]["inbound_nodes"] = [{"args": "DEEP"}]
    m.save(os.path.join(bad, "deep_args.h5"))
    with h5py.File(os.path.join(bad, "deep_args.h5"), "a") as f:  # Python's json cannot build it: splice the text
        f.attrs["model_config"] = json.dumps(m.config()).replace('"DEEP"', "[" * 100000 + "]" * 100000)
    model = {"class_name": "Sequential", "config": {"name": "s0", "layers": [
        {"class_name": "Dense", "config": {"name": "d", "units": 1, "batch_input_shape": [None, 2]}}]}}
    for depth in range(1, 40):
        model = {"class_name": "Sequential", "config": {"name": "s%d" % depth, "layers": [
            {"class_name": "InputLayer", "config": {"batch_input_shape": [None, 2], "name": "in%d" % depth}},
            dict(model, name="s%d" % (depth - 1))]}}
    with h5py.File(os.path.join(bad, "nested_too_deep.h5"), "w") as f:
        f.attrs["model_config"] = json.dumps(model)
        f.create_group("model_weights").attrs["layer_names"] = np.array([b"s38"])
    with h5py.File(os.path.join(bad, "bad_json.h5"), "w") as f:
        f.attrs["model_config"] = '{"class_name": "Functional", "config": {'
    with open(os.path.join(bad, "not_hdf5.h5"), "wb") as f:
        f.write(b"this is not an HDF5 file at all" * 10)
    with open(os.path.join(OUT, "bad", "truncated.h5"), "wb") as f:
        f.write(open(os.path.join(OUT, "convolutions.h5"), "rb").read()[:3000])


for fn in [case_convolutions, case_conv1d_pooling, case_dense_activations, case_activation_layers, case_merge, case_shapes,
           case_preprocessing_lambda, case_uint8_input, case_keras3_nodes, case_nested_shared, case_sequential, bad_files]:
    fn()
