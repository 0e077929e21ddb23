"""Runs an ONNX model with ONNX Runtime (PyPI onnxruntime, CPU) on .npy inputs: the reference runtime
transfix compares itself and converted models against.

  ort_run.py MODEL.onnx --input [NAME=]in.npy ... --output-dir DIR [--threads N] [--opt LEVEL] [--fetch NAME ...]
  ort_run.py MODEL.onnx --input NAME=in.npy --bench N [--warmup W] [--threads N]
  ort_run.py MODEL.onnx --serve [--threads N]          (the protocol of tools/serve.h)

Each output is written as DIR/<name>.npy (runner_common.safe_file_name). `--input in.npy` without
NAME= feeds the model's only input; `--random-inputs` fills inputs not given with seeded uniform
[-1, 1) data (symbolic dims -> 1) for benchmarks. A JSON summary is printed (with latencies under
--bench). Exit codes: 0 ok, 2 bad usage, input file or onnxruntime missing, 1 ONNX Runtime failure.
"""
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from runner_common import (UsageError, argument_parser, assign_inputs, latency_summary, main_wrapper,  # noqa: E402
                           parse_checked, read_npy, require, safe_file_name, serve, time_runs, write_npy)

TOOL = "ort_run"
LEVELS = {"all": "ORT_ENABLE_ALL", "extended": "ORT_ENABLE_EXTENDED", "basic": "ORT_ENABLE_BASIC",
          "disable": "ORT_DISABLE_ALL", "disabled": "ORT_DISABLE_ALL"}
# ONNX Runtime's input type strings -> numpy dtypes (for --random-inputs).
ORT_TYPES = {"tensor(float)": "float32", "tensor(double)": "float64", "tensor(int64)": "int64",
             "tensor(int32)": "int32", "tensor(int8)": "int8", "tensor(uint8)": "uint8", "tensor(bool)": "bool"}


def parse_args(argv):
    p = argument_parser("ort_run.py", "Run an ONNX model in ONNX Runtime on .npy inputs.", threads_default=0)
    p.add_argument("--opt", default="all", choices=sorted(LEVELS))
    p.add_argument("--fetch", action="append", default=[])
    p.add_argument("--random-inputs", action="store_true")
    return parse_checked(p, argv, min_threads=0)


def make_session(ort, args):
    options = ort.SessionOptions()
    options.graph_optimization_level = getattr(ort.GraphOptimizationLevel, LEVELS[args.opt])
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    if args.threads:
        options.intra_op_num_threads = args.threads
    return ort.InferenceSession(args.model, options, providers=["CPUExecutionProvider"])


def random_input(np, meta, seed):
    """Seeded data for an input not given: uniform [-1, 1) floats, small non-negative integers."""
    dtype = ORT_TYPES.get(meta.type)
    if dtype is None:
        raise UsageError(f"input '{meta.name}': no random data for type {meta.type}")
    shape = [d if isinstance(d, int) and d >= 0 else 1 for d in meta.shape]
    r = np.random.default_rng(seed).uniform(-1, 1, size=shape)
    if dtype.startswith("float"):
        return r.astype(dtype)
    if dtype == "bool":
        return r > 0
    return np.floor((r + 1) * 4).astype(dtype)


def feeds_of(np, session, args):
    metas = session.get_inputs()
    names = [m.name for m in metas]
    feeds = {n: read_npy(np, f) for n, f in assign_inputs(args.input, names).items()}
    for i, meta in enumerate(metas):
        if meta.name in feeds:
            continue
        if not args.random_inputs:
            raise UsageError(f"missing input '{meta.name}' (or pass --random-inputs)")
        feeds[meta.name] = random_input(np, meta, 1234 + i)
    return feeds


def main(argv):
    args = parse_args(argv)
    if not os.path.isfile(args.model):
        raise UsageError(f"{args.model}: no such file")
    np = require("numpy", "numpy", TOOL)
    ort = require("onnxruntime", "onnxruntime", TOOL)
    start = time.perf_counter()
    session = make_session(ort, args)
    load_ms = (time.perf_counter() - start) * 1e3
    runtime = f"onnxruntime {ort.__version__}"
    output_names = [o.name for o in session.get_outputs()]
    if args.serve:
        def run(inputs):
            feeds = {name: read_npy(np, file) for name, file in inputs.items()}
            return list(zip(output_names, session.run(output_names, feeds)))
        return serve(runtime, run)

    feeds = feeds_of(np, session, args)
    fetches = args.fetch or output_names
    for f in fetches:
        if f not in output_names:
            raise UsageError(f"model has no output '{f}'; outputs: [{', '.join(output_names)}]")
    results = session.run(fetches, feeds)
    latencies = time_runs(lambda: session.run(fetches, feeds), args.bench, args.warmup) if args.bench else None

    outputs = {}
    if args.output_dir:
        os.makedirs(args.output_dir, exist_ok=True)
    for name, value in zip(fetches, results):
        entry = {"dtype": str(value.dtype), "shape": list(value.shape)}
        if args.output_dir:
            entry["file"] = os.path.join(args.output_dir, safe_file_name(name) + ".npy")
            write_npy(entry["file"], value)
        outputs[name] = entry
    report = {"model": args.model, "runtime": runtime, "threads": args.threads or "default", "opt": args.opt,
              "load_ms": round(load_ms, 3), "outputs": outputs}
    if latencies:
        report.update(runs=len(latencies), warmup=args.warmup, latency_ms=latency_summary(latencies))
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    main_wrapper(TOOL, "usage: ort_run.py MODEL.onnx [--input [NAME=]FILE.npy]... (--output-dir DIR | --bench N | --serve)",
                 lambda: main(sys.argv[1:]))
