"""Judges one conversion of the corpus (`make zoo`), in the runtimes venv (.venv): runs the converted
model in its deployment runtime, decides the ground truth from the runtimes alone, then runs transfix
on the pair and records what it says.

  judge.py MODEL_DIR CONVERSION TRANSFIX     writes MODEL_DIR/CONVERSION/judge.json

Ground truth (never decided by transfix), over the corpus' natural samples, per output:
  noise      max |Keras fp32 - Keras fp64| of the source (its own float32 rounding)
  float32 conversions: faithful when max |runtime - fp64| <= NOISE_MULTIPLE x noise (floor: 1e-6 of the
             output's scale)
  intended precision (float16 weights, dynamic-range int8, int8, 16x8): faithful when the runtime's
             max and mean error to fp64 are each within SIM_MULTIPLE x those of the simulated quantization
             (quantize_sim.py), plus NOISE_MULTIPLE x noise
  faulty     otherwise; a converter that failed or a runtime that cannot load the file is not judged
"""
import json
import os
import subprocess
import sys
import time

import numpy as np

NOISE_MULTIPLE = 4.0
SIM_MULTIPLE = 2.0
PRECISION_OF = {"tflite_fp16": "float16", "tflite_dynamic": "dynamic", "tflite_int8": "int8", "tflite_16x8": "16x8",
                "ort_quant_static_qdq": "ort_static", "ort_quant_static_qop": "ort_static", "ort_quant_dynamic": "ort_dynamic"}
TOOLS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python")


def deploy(target, x):
    """The target's outputs on x, one sample at a time, in its deployment runtime: LiteRT (default
    kernels, XNNPACK) for .tflite, ONNX Runtime (CPU, all graph optimizations) for .onnx."""
    outs = []
    if target.endswith(".tflite"):
        from ai_edge_litert.interpreter import Interpreter
        it = Interpreter(model_path=target, num_threads=2)
        it.allocate_tensors()
        i, o = it.get_input_details()[0], it.get_output_details()[0]
        for s in x:
            it.set_tensor(i["index"], s[None].astype(i["dtype"]))
            it.invoke()
            outs.append(it.get_tensor(o["index"]).copy())
        runtime = "ai-edge-litert " + __import__("ai_edge_litert").__version__
    else:
        import onnxruntime as ort
        sess = ort.InferenceSession(target, providers=["CPUExecutionProvider"])
        name = sess.get_inputs()[0].name
        for s in x:
            outs.append(sess.run(None, {name: s[None]})[0])
        runtime = "onnxruntime " + ort.__version__
    return np.concatenate(outs).astype(np.float64), runtime


def deployed(target, x, work):
    """deploy(), or its outputs kept from an earlier judgement of the same target file (a re-judgement
    for a new transfix does not rerun the runtime)."""
    cache, meta = os.path.join(work, "deploy.npy"), os.path.join(work, "deploy.json")
    if os.path.exists(cache) and os.path.exists(meta) and os.path.getmtime(cache) >= os.path.getmtime(target):
        return np.load(cache), json.load(open(meta))["runtime"]
    out, runtime = deploy(target, x)
    np.save(cache, out)
    json.dump({"runtime": runtime}, open(meta, "w"))
    return out, runtime


def errors(a, b):
    d = np.abs(a.astype(np.float64) - b.astype(np.float64))
    return {"max": float(d.max()), "mean": float(d.mean()),
            "top1_agree": float(np.mean(a.argmax(axis=1) == b.argmax(axis=1)))}


def ground_truth(model_dir, conversion, out):
    ref32 = np.load(os.path.join(model_dir, "ref_fp32.npy")).astype(np.float64)
    ref64 = np.load(os.path.join(model_dir, "ref_fp64.npy"))
    noise = float(np.abs(ref32 - ref64).max())
    floor = 1e-6 * float(np.abs(ref64).max())
    e = errors(out, ref64)
    truth = {"noise": noise, "error": e}
    precision = PRECISION_OF.get(conversion)
    if precision is None:
        budget = max(NOISE_MULTIPLE * noise, floor)
        truth.update(precision="float32", budget_max=budget, faithful=e["max"] <= budget)
    else:
        sim = errors(np.load(os.path.join(model_dir, f"sim_{precision}.npy")), ref64)
        budget_max = SIM_MULTIPLE * sim["max"] + NOISE_MULTIPLE * noise
        budget_mean = SIM_MULTIPLE * sim["mean"] + NOISE_MULTIPLE * noise
        truth.update(precision=precision, simulated=sim, budget_max=budget_max, budget_mean=budget_mean,
                     faithful=e["max"] <= budget_max and e["mean"] <= budget_mean)
    return truth


def run_transfix(args, timeout=1800):
    t0 = time.time()
    try:
        p = subprocess.run(args, capture_output=True, text=True, timeout=timeout)
        return p.returncode, p.stdout + p.stderr, round(time.time() - t0, 2)
    except subprocess.TimeoutExpired:
        return -1, f"timeout after {timeout} s", round(time.time() - t0, 2)


def transfix_says(tf, model_dir, target, work):
    """compare (verdict, seconds), localize (findings, top), and the interpreter vs the runtime."""
    source_file = read_json(os.path.join(model_dir, "source.json")).get("source_file", "source.h5")
    source, x = os.path.join(model_dir, source_file), os.path.join(model_dir, "x.npy")
    said = {}
    code, text, secs = run_transfix([tf, "compare", source, target, "--npy", x, "--report", f"{work}/compare.json"])
    said["compare"] = {"exit": code, "seconds": secs, "verdict": read_json(f"{work}/compare.json").get("verdict"),
                       "error": None if code in (0, 1) else last_line(text)}
    code, text, secs = run_transfix([tf, "localize", source, target, "--npy", x, "--report", f"{work}/localize.json"])
    rep = read_json(f"{work}/localize.json")
    faults = rep.get("faults", [])
    said["localize"] = {"exit": code, "seconds": secs, "findings": len(faults) if code in (0, 1) else None,
                        "top": summarize_fault(faults[0]) if faults else None,
                        "error": None if code in (0, 1) else last_line(text)}
    runtime = "litert" if target.endswith(".tflite") else "ort"
    code, text, secs = run_transfix([tf, "compare", target, target, "--npy", x, "--limit", "16", "--quant-mode", "int-xnnpack",
                                     "--target-runtime", runtime, "--report", f"{work}/runtime.json"])
    said["interpreter_vs_runtime"] = {"exit": code, "verdict": read_json(f"{work}/runtime.json").get("verdict"),
                                      "error": None if code in (0, 1) else last_line(text)}
    return said


def summarize_fault(f):
    """category, kind, summary and the op the fault is pinned to (target side, else source side)."""
    side = f.get("target") or {}
    op = side.get("op") or (f.get("source") or {}).get("op")
    return {"category": f.get("category"), "kind": f.get("kind"), "summary": f.get("summary"),
            "op": op if isinstance(op, str) else (op or {}).get("name") if isinstance(op, dict) else op,
            "tensor": side.get("tensor")}


def read_json(path):
    try:
        return json.load(open(path))
    except (OSError, ValueError):
        return {}


def last_line(text):
    lines = [l for l in text.strip().splitlines() if l.strip()]
    return lines[-1][:300] if lines else ""


def main(model_dir, conversion, tf):
    work = os.path.join(model_dir, conversion)
    record = read_json(os.path.join(work, "record.json"))
    judged = {"model": os.path.basename(model_dir.rstrip("/")), "conversion": conversion}
    if not record.get("ok"):
        judged["skipped"] = "converter failed: " + record.get("error", "no record")
    else:
        target = os.path.join(work, record["target"])
        x = np.load(os.path.join(model_dir, "x.npy"))
        try:
            out, runtime = deployed(target, x, work)
            judged.update(runtime=runtime, truth=ground_truth(model_dir, conversion, out))
        except Exception as e:
            judged["skipped"] = "deployment runtime failed: " + last_line(str(e))
        judged["transfix"] = transfix_says(tf, model_dir, target, work)
        # Which build judged it: the binary's modification time (a re-judgement follows a new build).
        judged["transfix_build"] = time.strftime("%Y-%m-%d %H:%M", time.gmtime(os.path.getmtime(tf)))
    json.dump(judged, open(os.path.join(work, "judge.json"), "w"), indent=1)


if __name__ == "__main__":
    main(*sys.argv[1:4])
