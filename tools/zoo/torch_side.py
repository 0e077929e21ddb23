"""The PyTorch / ONNX side of the corpus of real conversions (`make zoo`), run in the zoo's torch venv
(requirements/zoo-torch.txt): builds torchvision models as sources and converts them with the exporters
and ONNX tools users run on them.

  torch_side.py source MODEL OUT_DIR SAMPLES.npy   the source: source.pt (TorchScript), x.npy, references
  torch_side.py convert MODEL OUT_DIR CONVERSION     one conversion, with CONVERSION/record.json

Sources (no download: torchvision's random initialisation with a recorded seed): every BatchNorm's
running statistics recalibrated on the corpus' natural images (one pass in training mode with a
cumulative average over the batch), the classifier scaled so that its logits have a standard deviation
of 2 on those images. Reference outputs: ref_fp32.npy (PyTorch float32), ref_fp64.npy (the same model in
float64), sim_<precision>.npy (quantize_sim_torch.py) for the conversions that intend a lower precision.
"""
import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import zoo_common  # noqa: E402

# torchvision constructor -> (input size, seed)
MODELS = {
    "tv_mobilenet_v2": ("mobilenet_v2", 224, 201),
    "tv_mobilenet_v3_large": ("mobilenet_v3_large", 224, 202),
    "tv_resnet50": ("resnet50", 224, 203),
    "tv_efficientnet_b0": ("efficientnet_b0", 224, 204),
    "tv_regnet_y_400mf": ("regnet_y_400mf", 224, 205),
    "tv_convnext_tiny": ("convnext_tiny", 224, 206),
    "tv_densenet121": ("densenet121", 224, 207),
    "tv_squeezenet1_1": ("squeezenet1_1", 224, 208),
    "tv_shufflenet_v2_x1_0": ("shufflenet_v2_x1_0", 224, 209),
    "tv_googlenet": ("googlenet", 224, 210),
    "tv_mnasnet1_0": ("mnasnet1_0", 224, 211),
    "tv_inception_v3": ("inception_v3", 299, 212),
}

# conversion -> (converter label, mode). ONNX tools start from the opset-13 TorchScript-based export.
CONVERSIONS = {
    "torch_onnx_opset11": ("torch.onnx.export (TorchScript-based)", "opset 11"),
    "torch_onnx_opset13": ("torch.onnx.export (TorchScript-based)", "opset 13"),
    "torch_onnx_opset17": ("torch.onnx.export (TorchScript-based)", "opset 17"),
    "torch_dynamo": ("torch.onnx.export(dynamo=True)", "default opset"),
    "onnx_upgrade_13_to_17": ("onnx.version_converter", "opset 13 -> 17"),
    "onnx_downgrade_13_to_11": ("onnx.version_converter", "opset 13 -> 11"),
    "onnxsim": ("onnxsim.simplify", "opset-13 export"),
    "ort_optimized": ("ONNX Runtime offline optimization", "extended, opset-13 export"),
    "ort_quant_static_qdq": ("onnxruntime.quantization.quantize_static", "QDQ, int8, MinMax on the 64 samples"),
    "ort_quant_static_qop": ("onnxruntime.quantization.quantize_static", "QOperator, int8, MinMax on the 64 samples"),
    "ort_quant_dynamic": ("onnxruntime.quantization.quantize_dynamic", "defaults (int8 weights)"),
}
# The precision a quantizer intends: the source's simulation (quantize_sim_torch.py) that budgets it.
SIMULATION_OF = {"ort_quant_static_qdq": "ort_static", "ort_quant_static_qop": "ort_static",
                 "ort_quant_dynamic": "ort_dynamic"}

MEAN = np.array([0.485, 0.456, 0.406], np.float32).reshape(1, 3, 1, 1)
STD = np.array([0.229, 0.224, 0.225], np.float32).reshape(1, 3, 1, 1)


def natural_inputs(model_name, samples_file):
    """The natural samples resized (bilinear, antialiased) to the model's input, ImageNet-normalized, NCHW."""
    import torch
    import torch.nn.functional as F
    _, size, _ = MODELS[model_name]
    raw = torch.from_numpy(np.load(samples_file)).permute(0, 3, 1, 2).float() / 255.0
    x = F.interpolate(raw, size=(size, size), mode="bilinear", antialias=True, align_corners=False).numpy()
    return np.ascontiguousarray(((x - MEAN) / STD).astype(np.float32))


def build(model_name):
    import torch
    import torchvision
    ctor, _, seed = MODELS[model_name]
    torch.manual_seed(seed)
    kwargs = {"weights": None}
    if ctor in ("googlenet", "inception_v3"):
        kwargs.update(aux_logits=False, init_weights=True)
    return getattr(torchvision.models, ctor)(**kwargs).eval()


def recalibrate(model, x):
    """BatchNorm running statistics := those of the natural images; logits scaled to std 2."""
    import torch
    bns = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    for bn in bns:
        bn.reset_running_stats()
        bn.momentum = None  # cumulative average: one batch gives exactly its statistics
    model.train()
    with torch.no_grad():
        model(torch.from_numpy(x))
    model.eval()
    linear = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    with torch.no_grad():
        logits = run(model, x)
        scale = 2.0 / max(float((logits - logits.mean(axis=1, keepdims=True)).std()), 1e-12)
        if linear:  # squeezenet ends in a conv: no Linear to scale
            linear[-1].weight.mul_(scale)
            linear[-1].bias.zero_()
    return {"batchnorm_layers": len(bns), "classifier_scale": scale if linear else None}


def run(model, x, dtype=None):
    import torch
    outs = []
    with torch.no_grad():
        for i in range(0, len(x), 16):
            t = torch.from_numpy(x[i:i + 16])
            outs.append(model(t.to(dtype) if dtype else t).double().numpy())
    return np.concatenate(outs)


def make_source(model_name, out_dir, samples_file):
    import copy
    import torch
    os.makedirs(out_dir, exist_ok=True)
    t0 = time.time()
    x = natural_inputs(model_name, samples_file)
    model = build(model_name)
    calibration = recalibrate(model, x)
    np.save(os.path.join(out_dir, "x.npy"), x)
    np.save(os.path.join(out_dir, "ref_fp32.npy"), run(model, x))
    np.save(os.path.join(out_dir, "ref_fp64.npy"), run(copy.deepcopy(model).double(), x, torch.float64))
    torch.save(model.state_dict(), os.path.join(out_dir, "state_dict.pt"))
    traced = torch.jit.trace(model, torch.from_numpy(x[:1]))
    traced.save(os.path.join(out_dir, "source.pt"))
    ctor, size, seed = MODELS[model_name]
    info = {"model": model_name, "torchvision": ctor, "input": [3, size, size], "seed": seed, "samples": int(x.shape[0]),
            "params": int(sum(p.numel() for p in model.parameters())), **calibration, "source_file": "source.pt",
            "seconds": round(time.time() - t0, 1), "versions": versions()}
    json.dump(info, open(os.path.join(out_dir, "source.json"), "w"), indent=1)


def versions():
    import onnx
    import torch
    import torchvision
    v = {"torch": torch.__version__, "torchvision": torchvision.__version__, "onnx": onnx.__version__}
    for name in ("onnxscript", "onnxruntime", "onnxsim"):
        try:
            v[name] = __import__(name).__version__
        except ImportError:
            pass
    return v


def export_torchscript_based(model, x1, path, opset):
    import torch
    torch.onnx.export(model, (x1,), path, dynamo=False, opset_version=opset, input_names=["input"],
                      output_names=["output"], do_constant_folding=True)


def opset13(model_name, out_dir, model, x1):
    """The opset-13 TorchScript-based export the ONNX tools start from (made once)."""
    path = os.path.join(out_dir, "torch_onnx_opset13", "target.onnx")
    if not os.path.exists(path):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        export_torchscript_based(model, x1, path, 13)
    return path


def convert_one(model_name, out_dir, conversion, target):
    import onnx
    import torch
    model = build(model_name)
    model.load_state_dict(torch.load(os.path.join(out_dir, "state_dict.pt")))
    model.eval()
    x1 = torch.from_numpy(np.load(os.path.join(out_dir, "x.npy"))[:1])
    if conversion.startswith("torch_onnx_opset"):
        export_torchscript_based(model, x1, target, int(conversion.rsplit("opset", 1)[1]))
    elif conversion == "torch_dynamo":
        program = torch.onnx.export(model, (x1,), dynamo=True, input_names=["input"], output_names=["output"])
        program.save(target)
    elif conversion.startswith("onnx_"):
        to = int(conversion.rsplit("_", 1)[1])
        converted = onnx.version_converter.convert_version(onnx.load(opset13(model_name, out_dir, model, x1)), to)
        onnx.save(converted, target)
    elif conversion == "onnxsim":
        import onnxsim
        simplified, ok = onnxsim.simplify(onnx.load(opset13(model_name, out_dir, model, x1)))
        if not ok:
            raise RuntimeError("onnxsim: the simplified model failed its own check")
        onnx.save(simplified, target)
    elif conversion.startswith("ort_quant_"):
        ort_quantize(conversion, opset13(model_name, out_dir, model, x1), target, np.load(os.path.join(out_dir, "x.npy")))
        ensure_simulation(model, out_dir, SIMULATION_OF[conversion])
    elif conversion == "ort_optimized":
        import onnxruntime as ort
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
        options.optimized_model_filepath = target
        ort.InferenceSession(opset13(model_name, out_dir, model, x1), options, providers=["CPUExecutionProvider"])
    else:
        raise SystemExit(f"torch_side: unknown conversion {conversion}")


def ort_quantize(conversion, source, target, x):
    from onnxruntime import quantization as q
    if conversion == "ort_quant_dynamic":
        q.quantize_dynamic(source, target)
        return

    class Samples(q.CalibrationDataReader):
        def __init__(self):
            self.rows = iter(range(len(x)))

        def get_next(self):
            i = next(self.rows, None)
            return None if i is None else {"input": x[i:i + 1]}
    fmt = q.QuantFormat.QDQ if conversion.endswith("qdq") else q.QuantFormat.QOperator
    q.quantize_static(source, target, Samples(), quant_format=fmt)


def ensure_simulation(model, out_dir, precision):
    """sim_<precision>.npy next to the source, made once (sources made before a quantizer was added lack it)."""
    import quantize_sim_torch
    path = os.path.join(out_dir, f"sim_{precision}.npy")
    if not os.path.exists(path):
        np.save(path, quantize_sim_torch.simulate(model, np.load(os.path.join(out_dir, "x.npy")), precision))


def convert(model_name, out_dir, conversion):
    """One conversion into OUT_DIR/CONVERSION/target.onnx, with record.json."""
    label, mode = CONVERSIONS[conversion]

    def run(conv_dir):
        convert_one(model_name, out_dir, conversion, os.path.join(conv_dir, "target.onnx"))
        return "target.onnx"
    zoo_common.record_conversion(model_name, out_dir, conversion, label, mode, versions(), run)


if __name__ == "__main__":
    zoo_common.main("torch_side", MODELS, make_source, convert)
