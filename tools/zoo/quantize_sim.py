"""The quantization a conversion intends, applied to the Keras source by simulation (fake quantization
in float32), so that the corpus' ground truth can tell a conversion's intended precision from a fault:
a conversion is faithful when its deployment runtime is within the error of this simulation.

  float16   every float weight rounded to float16 (TFLiteConverter's float16 mode stores them so)
  dynamic   conv / depthwise / dense kernels of at least 1024 elements as int8, symmetric, one scale per
            output channel; their inputs quantized per sample to asymmetric int8 at run time (TFLite's
            hybrid kernels); smaller kernels stay float, as the converter leaves them
  int8      the same kernels; every layer's output quantized per tensor to asymmetric int8 with the
            minimum and maximum seen on the representative (the corpus') samples; the input too
  16x8      the same kernels; every layer's output quantized per tensor to symmetric int16

The simulation quantizes after every Keras layer, where TFLite quantizes after fused ops (a convolution
with its BatchNorm and activation is one op there): it rounds more often than the converter does, so
its error is an upper estimate of what the intended precision costs.
"""
import numpy as np

PRECISIONS = ("float16", "dynamic", "int8", "16x8")
KERNEL_LAYERS = ("Conv2D", "DepthwiseConv2D", "Dense", "SeparableConv2D")
# TFLiteConverter's dynamic-range mode quantizes only weight tensors of at least this many elements.
DYNAMIC_MIN_ELEMENTS = 1024


def quantize_kernel(w, depthwise):
    """int8 symmetric per output channel: a kernel's last axis; a depthwise kernel (kh, kw, in, multiplier)
    has in x multiplier output channels, its last two axes."""
    axes = (0, 1) if depthwise else tuple(range(w.ndim - 1))
    scale = np.maximum(np.abs(w).max(axis=axes, keepdims=True), 1e-30) / 127.0
    return (np.clip(np.round(w / scale), -127, 127) * scale).astype(w.dtype)


def fake_quant(ops, t, lo, hi, bits, symmetric):
    if symmetric:
        qmax = 2 ** (bits - 1) - 1
        scale = max(max(abs(lo), abs(hi)), 1e-30) / qmax
        return ops.clip(ops.round(t / scale), -qmax, qmax) * scale
    lo, hi = min(lo, 0.0), max(hi, 0.0)  # zero must be exact
    scale = max(hi - lo, 1e-30) / (2 ** bits - 1)
    zero = np.round(-lo / scale) - 2 ** (bits - 1)
    q = ops.clip(ops.round(t / scale) + zero, -(2 ** (bits - 1)), 2 ** (bits - 1) - 1)
    return (q - zero) * scale


def per_sample_fake_quant(ops, t):
    """Asymmetric int8 with each sample's own range (what a hybrid kernel does at run time)."""
    axes = tuple(range(1, len(t.shape)))
    lo = ops.minimum(ops.min(t, axis=axes, keepdims=True), 0.0)
    hi = ops.maximum(ops.max(t, axis=axes, keepdims=True), 0.0)
    scale = ops.maximum(hi - lo, 1e-30) / 255.0
    zero = ops.round(-lo / scale) - 128.0
    q = ops.clip(ops.round(t / scale) + zero, -128.0, 127.0)
    return (q - zero) * scale


def layer_ranges(keras, model, x):
    """(min, max) of every layer's float output over x, in batches."""
    layers = [l for l in model.layers if not isinstance(l, keras.layers.InputLayer)]
    probe = keras.Model(model.inputs, [l.output for l in layers])
    ranges = {}
    for i in range(0, len(x), 8):
        outs = probe.predict(x[i:i + 8], verbose=0)
        for layer, out in zip(layers, outs):
            lo, hi = float(np.min(out)), float(np.max(out))
            old = ranges.get(layer.name, (lo, hi))
            ranges[layer.name] = (min(old[0], lo), max(old[1], hi))
    return ranges


def simulate(model, x, precision):
    """The model's outputs on x with `precision`'s quantization applied (weights restored afterwards)."""
    import keras
    from keras import ops
    saved = model.get_weights()
    try:
        if precision == "float16":
            model.set_weights([w.astype(np.float16).astype(w.dtype) if w.dtype.kind == "f" else w for w in saved])
            return model.predict(x, verbose=0, batch_size=16)
        ranges = layer_ranges(keras, model, x) if precision in ("int8", "16x8") else {}
        hybrid = set()
        for layer in model.layers:
            if type(layer).__name__ in KERNEL_LAYERS:
                weights = layer.get_weights()
                if precision == "dynamic" and weights[0].size < DYNAMIC_MIN_ELEMENTS:
                    continue  # left in float by the converter: a float op, no hybrid kernel
                weights[0] = quantize_kernel(weights[0], type(layer).__name__ == "DepthwiseConv2D")
                layer.set_weights(weights)
                hybrid.add(layer.name)
        bits, symmetric = (16, True) if precision == "16x8" else (8, False)
        lo, hi = float(x.min()), float(x.max())

        def call(layer, *args, **kwargs):
            if precision == "dynamic" and layer.name in hybrid:
                args = (per_sample_fake_quant(ops, args[0]),) + args[1:]
            out = layer(*args, **kwargs)
            if layer.name in ranges:
                out = fake_quant(ops, out, *ranges[layer.name], bits, symmetric)
            return out

        clone = keras.models.clone_model(model, clone_function=lambda l: l, call_function=call)
        if ranges:  # the input tensor is quantized too
            x = fake_quant(np, x, lo, hi, bits, symmetric).astype(np.float32)
        return clone.predict(x, verbose=0, batch_size=16)
    finally:
        model.set_weights(saved)
