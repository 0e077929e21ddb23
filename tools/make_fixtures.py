#!/usr/bin/python3
"""Generates reproducible fixture models and reference data into $TRANSFIX_CACHE/fixtures.

No pretrained weights can be downloaded here, so each torchvision model is built from a fixed seed
and then made "realistic" in the one way that matters for converter testing: its BatchNorm running
statistics are re-estimated on natural photos (tools/natural_images.sh), so activations have sane
ranges. Models without BatchNorm (squeezenet) get the equivalent folded into their convs (per
channel zero mean / unit variance on those photos). Finally the last Linear layer is centred the
same way, so top-1 depends on the image instead of on a per-class offset of the seeded classifier.

Per model, into fixtures/<model>/:
  model.pt                  torch.jit.trace of the eval-mode model
  model_opset{9,11,13,17}.onnx  torch.onnx.export (constant folding on, input "input", output "output")
  input.npy / output.npy    one preprocessed photo (float32 NCHW, batch 1) and the PyTorch fp32 logits
  input_2.npy / output_2.npy  a second photo
  output*_fp64.npy          the same logits computed by PyTorch in double (the fp64 reference)
  manifest.json             every file with its sha256, the export failures with their reason, timings

Idempotent: a model whose manifest lists only files that exist is skipped (--force regenerates).
--verify then checks model.pt (torch) and every ONNX file (ONNX Runtime) against output*.npy.
A model is always regenerated whole, into a temporary folder renamed at the end, so its files
always come from one run. Run with Debian's /usr/bin/python3 (python3-torch, -torchvision, -onnx).
"""
import argparse
import copy
import hashlib
import json
import os
import shutil
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch
import torchvision
from PIL import Image

# Bumped when what is generated changes, so existing caches regenerate.
GENERATOR_VERSION = 2
SEED = 20240601
OPSETS = (9, 11, 13, 17)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# The two reference inputs, by their names in images/images.txt.
REFERENCE_IMAGES = ("skimage_chelsea.png", "opencv_squirrel_cls.jpg")
CALIBRATION_BATCH = 12


def build_mobilenet_v2():
    return torchvision.models.mobilenet_v2()


def build_resnet101():
    return torchvision.models.resnet101()


def build_inception_v3():
    return torchvision.models.inception_v3(aux_logits=False, init_weights=True)


def build_densenet121():
    return torchvision.models.densenet121()


def build_squeezenet1_1():
    return torchvision.models.squeezenet1_1()


def build_efficientnet_b0():
    return torchvision.models.efficientnet_b0()


def build_shufflenet_v2_x1_0():
    return torchvision.models.shufflenet_v2_x1_0()


# name -> (builder, (resize, crop)). Crop sizes and resize follow torchvision's own eval transforms.
MODELS = {
    "mobilenet_v2": (build_mobilenet_v2, (256, 224)),
    "resnet101": (build_resnet101, (256, 224)),
    "inception_v3": (build_inception_v3, (342, 299)),
    "densenet121": (build_densenet121, (256, 224)),
    "squeezenet1_1": (build_squeezenet1_1, (256, 224)),
    "efficientnet_b0": (build_efficientnet_b0, (256, 224)),
    "shufflenet_v2_x1_0": (build_shufflenet_v2_x1_0, (256, 224)),
}


def log(msg):
    print(msg, flush=True)


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def preprocess(path, resize, crop):
    """torchvision's eval preprocessing: shorter side to `resize` (PIL bilinear), center crop,
    scale to [0,1], normalize with the ImageNet mean/std. Returns float32 CHW."""
    T = torchvision.transforms
    transform = T.Compose([T.Resize(resize), T.CenterCrop(crop), T.ToTensor(),
                           T.Normalize(IMAGENET_MEAN, IMAGENET_STD)])
    return transform(Image.open(path).convert("RGB")).numpy()


def load_images(image_dir, resize, crop):
    names = (image_dir / "images.txt").read_text().split()
    if len(names) < 2:
        sys.exit(f"fixtures: too few images in {image_dir}; run tools/natural_images.sh")
    batch = np.stack([preprocess(image_dir / n, resize, crop) for n in names])
    return names, torch.from_numpy(batch)


@torch.no_grad()
def recalibrate_batchnorm(model, images):
    """Replaces every BatchNorm's running mean/var by their exact average over `images`.
    momentum=None makes the running stats a cumulative average over the batches seen. Only the
    BatchNorm layers are in train mode: dropout and stochastic depth stay off."""
    bns = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    if not bns:
        return 0
    model.eval()
    for bn in bns:
        bn.reset_running_stats()
        bn.momentum = None
        bn.train()
    for batch in images.split(CALIBRATION_BATCH):
        model(batch)
    model.eval()
    return len(bns)


@torch.no_grad()
def normalize_convs(model, images):
    """For models without BatchNorm: data-dependent init (Salimans & Kingma 2016). In network
    order, each conv's output channels are shifted and scaled to zero mean and unit variance on
    `images` -- the affine map a freshly calibrated BatchNorm would apply, folded into the conv.
    Without it the seeded logits are dominated by a per-class offset, the same class wins on
    every image."""
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    batch = images[:CALIBRATION_BATCH]
    for conv in convs:
        seen = []
        hook = conv.register_forward_hook(lambda mod, inp, out: seen.append(out))
        model(batch)
        hook.remove()
        out = seen[0]
        mean = out.mean(dim=(0, 2, 3))
        std = out.std(dim=(0, 2, 3)).clamp_min(1e-6)
        bias = conv.bias if conv.bias is not None else torch.zeros_like(mean)
        conv.weight.div_(std.view(-1, 1, 1, 1))
        conv.bias = torch.nn.Parameter((bias - mean) / std)
    return len(convs)


@torch.no_grad()
def calibrate_classifier(model, images):
    """Shifts and scales the last Linear layer so each logit has zero mean and unit variance over
    `images`. A seeded classifier (normal(0, 0.01) weights on non-negative pooled features) otherwise
    adds a per-class offset that outweighs the image-dependent part, so a handful of classes win on
    every image; centred logits make top-1 depend on the image, as in a trained model.
    Returns the new logits for `images` (the Linear layer is the model's last op), or None."""
    linears = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    if not linears:
        return None
    fc = linears[-1]
    features = []
    hook = fc.register_forward_hook(lambda mod, inp, out: features.append(inp[0]))
    for batch in images.split(CALIBRATION_BATCH):
        model(batch)
    hook.remove()
    features = torch.cat(features)
    out = fc(features)
    mean, std = out.mean(dim=0), out.std(dim=0).clamp_min(1e-6)
    fc.weight.div_(std.view(-1, 1))
    fc.bias.copy_((fc.bias - mean) / std)
    return fc(features)


def check_outputs(name, logits):
    """Fails when the model is degenerate: NaN/Inf, constant logits, or one class winning everywhere."""
    if not torch.isfinite(logits).all():
        raise RuntimeError(f"{name}: non-finite outputs")
    spread = logits.std(dim=1)
    if (spread < 1e-3).any():
        raise RuntimeError(f"{name}: near-constant logits (min std {spread.min():.2e})")
    top1 = logits.argmax(dim=1)
    distinct = len(set(top1.tolist()))
    if distinct < 3:
        raise RuntimeError(f"{name}: top-1 barely varies across images ({distinct} distinct classes)")
    return {"logit_std_min": float(spread.min()), "logit_std_max": float(spread.max()),
            "top1_distinct": distinct, "images": len(top1)}


def export_onnx(model, example, path, opset):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, example, str(path), opset_version=opset, do_constant_folding=True,
                          input_names=["input"], output_names=["output"])
    import onnx
    onnx.checker.check_model(str(path))


def generate(name, out_dir, image_dir):
    builder, (resize, crop) = MODELS[name]
    timings = {}
    t0 = time.perf_counter()
    torch.manual_seed(SEED)
    model = builder().eval()
    names, images = load_images(image_dir, resize, crop)
    timings["build_s"] = time.perf_counter() - t0

    t = time.perf_counter()
    calibration = {"bn_layers": recalibrate_batchnorm(model, images)}
    if calibration["bn_layers"] == 0:
        calibration["normalized_convs"] = normalize_convs(model, images)
    logits = calibrate_classifier(model, images)
    calibration["classifier_centred"] = logits is not None
    if logits is None:
        with torch.no_grad():
            logits = torch.cat([model(b) for b in images.split(CALIBRATION_BATCH)])
    calibration.update(check_outputs(name, logits))
    timings["calibrate_s"] = time.perf_counter() - t

    tmp = out_dir.with_name(out_dir.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)

    refs = []
    for suffix, image_name in zip(("", "_2"), REFERENCE_IMAGES):
        x = images[names.index(image_name)].unsqueeze(0).contiguous()
        with torch.no_grad():
            y = model(x)
            # The same model and image computed in double: an fp64 reference independent of transfix,
            # which measures the model's fp32 noise floor and checks transfix's fp64 mode.
            y64 = copy.deepcopy(model).double()(x.double())
        np.save(tmp / f"input{suffix}.npy", x.numpy())
        np.save(tmp / f"output{suffix}.npy", y.numpy())
        np.save(tmp / f"output{suffix}_fp64.npy", y64.numpy())
        refs.append({"input": f"input{suffix}.npy", "output": f"output{suffix}.npy",
                     "output_fp64": f"output{suffix}_fp64.npy", "image": image_name, "top1": int(y.argmax())})
    example = torch.from_numpy(np.load(tmp / "input.npy"))

    t = time.perf_counter()
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(model, example)
    traced.save(str(tmp / "model.pt"))
    timings["trace_s"] = time.perf_counter() - t

    onnx_files, failures = {}, {}
    for opset in OPSETS:
        path = tmp / f"model_opset{opset}.onnx"
        t = time.perf_counter()
        try:
            export_onnx(model, example, path, opset)
            onnx_files[str(opset)] = path.name
        except Exception as e:  # keep going: a failed opset is recorded, not fatal
            path.unlink(missing_ok=True)
            failures[str(opset)] = f"{type(e).__name__}: {str(e).strip().splitlines()[0][:300]}"
            log(f"  {name}: opset {opset} export failed: {failures[str(opset)]}")
        timings[f"export_opset{opset}_s"] = time.perf_counter() - t

    files = {p.name: {"sha256": sha256(p), "bytes": p.stat().st_size}
             for p in sorted(tmp.iterdir())}
    manifest = {
        "generator_version": GENERATOR_VERSION,
        "model": name,
        "source": f"torchvision {torchvision.__version__} {name}, seed {SEED}, no pretrained weights",
        "torch": torch.__version__,
        "preprocess": {"resize": resize, "crop": crop, "mean": IMAGENET_MEAN, "std": IMAGENET_STD,
                       "layout": "NCHW", "dtype": "float32"},
        "input_name": "input",
        "output_name": "output",
        "input_shape": list(example.shape),
        "calibration": dict(calibration, image_count=len(names)),
        "references": refs,
        "torchscript": "model.pt",
        "onnx": onnx_files,
        "export_failures": failures,
        "files": files,
        "timings_s": {k: round(v, 2) for k, v in timings.items()},
    }
    (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    shutil.rmtree(out_dir, ignore_errors=True)
    tmp.rename(out_dir)
    return manifest


def is_complete(out_dir):
    try:
        manifest = json.loads((out_dir / "manifest.json").read_text())
    except (OSError, ValueError):
        return False
    if manifest.get("generator_version") != GENERATOR_VERSION:
        return False
    return all((out_dir / f).is_file() for f in manifest.get("files", {}))


def verify(name, out_dir):
    """Re-runs every fixture file against the stored PyTorch outputs: the TorchScript model with
    torch, each ONNX export with ONNX Runtime (tools/python/ort_run.py). Returns the failures."""
    import subprocess
    import tempfile
    manifest = json.loads((out_dir / "manifest.json").read_text())
    runner = Path(__file__).resolve().parent / "python" / "ort_run.py"
    venv_python = Path(__file__).resolve().parent.parent / ".venv" / "bin" / "python"
    python = os.environ.get("TRANSFIX_PYTHON") or (str(venv_python) if venv_python.exists() else "python3")
    failures = []
    scripted = torch.jit.load(str(out_dir / manifest["torchscript"]))
    for ref in manifest["references"]:
        x = torch.from_numpy(np.load(out_dir / ref["input"]))
        expected = np.load(out_dir / ref["output"])
        limit = 1e-3 * max(1.0, float(np.abs(expected).max()))
        runs = [("torchscript", lambda: scripted(x).detach().numpy())]
        for opset, file in manifest["onnx"].items():
            def run_ort(file=file):
                with tempfile.TemporaryDirectory() as tmp:
                    subprocess.run([python, str(runner), str(out_dir / file),
                                    "--input", f"input={out_dir / ref['input']}", "--output-dir", tmp],
                                   check=True, stdout=subprocess.DEVNULL)
                    return np.load(Path(tmp) / "output.npy")
            runs.append((f"ort opset{opset}", run_ort))
        for label, run in runs:
            with torch.no_grad():
                got = run()
            diff = float(np.abs(got.astype(np.float64) - expected).max())
            same_top1 = int(got.argmax()) == int(expected.argmax())
            ok = diff <= limit and same_top1
            log(f"verify: {name:20s} {ref['input']:12s} {label:14s} max|diff| {diff:.2e}"
                f" (max|ref| {np.abs(expected).max():.2f}) top-1 {'same' if same_top1 else 'DIFFERENT'}"
                f"{'' if ok else '  FAIL'}")
            if not ok:
                failures.append(f"{name} {ref['input']} {label}")
    return failures


def main():
    cache_default = os.environ.get("TRANSFIX_CACHE", str(Path.home() / ".cache" / "transfix"))
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cache", default=cache_default, help="cache root (default $TRANSFIX_CACHE)")
    ap.add_argument("--models", default=",".join(MODELS),
                    help="comma-separated subset of: " + ", ".join(MODELS))
    ap.add_argument("--force", action="store_true", help="regenerate even if complete")
    ap.add_argument("--verify", action="store_true",
                    help="afterwards, check model.pt (torch) and every ONNX export (ONNX Runtime via "
                         "tools/python/ort_run.py) against output.npy/output_2.npy")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (default: all cores)")
    args = ap.parse_args()

    cache = Path(args.cache)
    image_dir = cache / "images"
    if not (image_dir / "images.txt").is_file():
        sys.exit(f"fixtures: {image_dir}/images.txt missing; run tools/natural_images.sh first")
    if args.threads:
        torch.set_num_threads(args.threads)
    wanted = [m for m in args.models.split(",") if m]
    unknown = [m for m in wanted if m not in MODELS]
    if unknown:
        sys.exit(f"fixtures: unknown model(s) {unknown}; known: {list(MODELS)}")

    start = time.perf_counter()
    failed_models = []
    for name in wanted:
        out_dir = cache / "fixtures" / name
        if not args.force and is_complete(out_dir):
            log(f"fixtures: {name}: up to date")
            continue
        t, cpu = time.perf_counter(), time.process_time()
        try:
            manifest = generate(name, out_dir, image_dir)
        except Exception as e:  # one broken model should not stop the others
            shutil.rmtree(out_dir.with_name(name + ".tmp"), ignore_errors=True)
            log(f"fixtures: {name}: FAILED: {type(e).__name__}: {e}")
            failed_models.append(name)
            continue
        failed = ",".join(manifest["export_failures"]) or "none"
        cal = manifest["calibration"]
        log(f"fixtures: {name}: {time.perf_counter() - t:.1f}s wall, {time.process_time() - cpu:.1f}s CPU,"
            f" opsets {','.join(manifest['onnx'])}"
            f" (failed: {failed}), top-1 {cal['top1_distinct']} distinct over {cal['images']} images")
    log(f"fixtures: done in {time.perf_counter() - start:.1f}s wall, {time.process_time():.1f}s CPU"
        f" -> {cache / 'fixtures'}")
    if failed_models:
        sys.exit(f"fixtures: generation failed for {failed_models}")
    if args.verify:
        failures = [f for name in wanted for f in verify(name, cache / "fixtures" / name)]
        if failures:
            sys.exit(f"verify: {len(failures)} mismatches: {failures}")
        log("verify: all fixtures match their PyTorch outputs")


if __name__ == "__main__":
    main()
