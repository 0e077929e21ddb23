"""The quantization ONNX Runtime's quantizers intend, applied to the PyTorch source by simulation (fake
quantization in float32, forward hooks), so that the corpus' ground truth can tell intended precision
from a fault (see quantize_sim.py for the Keras side and the rule).

  ort_static   quantize_static's defaults: Conv / Linear weights int8, symmetric, one scale per tensor;
               every module's output quantized per tensor to asymmetric int8 with the minimum and maximum
               seen on the calibration samples (MinMax); the input too
  ort_dynamic  quantize_dynamic's defaults: Conv / Linear weights int8, symmetric, per tensor; their inputs
               quantized per sample to asymmetric uint8 at run time
Quantizing after every module rounds more often than the quantizer does (it leaves Relu fused into the
preceding op's range): an upper estimate of what the intended precision costs.
"""
import numpy as np

PRECISIONS = ("ort_static", "ort_dynamic")


def fake_quant(t, lo, hi, levels=255):
    lo, hi = min(lo, 0.0), max(hi, 0.0)
    scale = max(hi - lo, 1e-30) / levels
    zero = round(-lo / scale)
    return (t / scale + zero).round().clamp(0, levels).sub(zero).mul(scale)


def per_sample_fake_quant(t):
    import torch
    flat = t.reshape(t.shape[0], -1)
    lo = torch.minimum(flat.min(dim=1).values, torch.zeros(()))
    hi = torch.maximum(flat.max(dim=1).values, torch.zeros(()))
    scale = ((hi - lo) / 255.0).clamp_min(1e-30)
    zero = (-lo / scale).round()
    shape = (-1,) + (1,) * (t.dim() - 1)
    s, z = scale.reshape(shape), zero.reshape(shape)
    return (t / s + z).round().clamp(0, 255).sub(z).mul(s)


def leaves(model):
    return [m for m in model.modules() if not list(m.children())]


def ranges_of(model, x):
    import torch
    ranges, hooks = {}, []

    def record(module, _, out):
        if isinstance(out, torch.Tensor) and out.is_floating_point():
            lo, hi = float(out.min()), float(out.max())
            old = ranges.get(module, (lo, hi))
            ranges[module] = (min(old[0], lo), max(old[1], hi))
    for m in leaves(model):
        hooks.append(m.register_forward_hook(record))
    with torch.no_grad():
        for i in range(0, len(x), 16):
            model(torch.from_numpy(x[i:i + 16]))
    for h in hooks:
        h.remove()
    return ranges


def simulate(model, x, precision):
    """The model's outputs on x with `precision`'s quantization applied (weights restored afterwards)."""
    import torch
    kernels = [m for m in model.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))]
    saved = [m.weight.detach().clone() for m in kernels]
    ranges = ranges_of(model, x) if precision == "ort_static" else {}
    hooks = []
    try:
        with torch.no_grad():
            for m in kernels:
                scale = m.weight.abs().max().clamp_min(1e-30) / 127.0
                m.weight.copy_((m.weight / scale).round().clamp(-127, 127) * scale)
        if precision == "ort_dynamic":
            for m in kernels:
                hooks.append(m.register_forward_pre_hook(lambda mod, args: (per_sample_fake_quant(args[0]),) + args[1:]))
        else:
            for m, (lo, hi) in ranges.items():
                hooks.append(m.register_forward_hook(lambda mod, _, out, lo=lo, hi=hi: fake_quant(out, lo, hi)))
        xin = torch.from_numpy(x)
        if precision == "ort_static":
            xin = fake_quant(xin, float(x.min()), float(x.max()))
        outs = []
        with torch.no_grad():
            for i in range(0, len(x), 16):
                outs.append(model(xin[i:i + 16]).double().numpy())
        return np.concatenate(outs)
    finally:
        for h in hooks:
            h.remove()
        with torch.no_grad():
            for m, w in zip(kernels, saved):
                m.weight.copy_(w)
