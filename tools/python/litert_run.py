"""Runs a .tflite model with the native TFLite / LiteRT interpreter (PyPI ai-edge-litert) on .npy
inputs: the reference runtime for transfix's TFLite reader and the deployment runtime of TFLite
conversions.

  litert_run.py MODEL.tflite --input [NAME=]in.npy ... --output-dir DIR [--kernels K] [--profile]
  litert_run.py MODEL.tflite --input NAME=in.npy --bench N [--warmup W]
  litert_run.py MODEL.tflite --serve [--kernels K] [--threads N]   (the protocol of tools/serve.h)

--kernels picks the interpreter's kernel set (its op-resolver option):
  xnnpack    the default: the XNNPACK delegate takes what it supports, built-in kernels the rest
             (what transfix's --quant-mode int-xnnpack follows)
  builtin    the built-in optimized kernels, no delegate (--quant-mode int follows these)
  reference  the built-in reference kernels, no delegate
Each output is written as DIR/<name>.npy (runner_common.safe_file_name). --profile adds to the JSON
summary the model's ops and how many delegate nodes the interpreter made (0: nothing delegated).
Exit codes: 0 ok, 2 bad usage, input file or ai-edge-litert missing, 1 interpreter failure.
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from runner_common import (UsageError, argument_parser, assign_inputs, latency_summary, main_wrapper,  # noqa: E402
                           parse_checked, read_npy, require, safe_file_name, serve, time_runs, write_npy)

TOOL = "litert_run"
KERNELS = {"xnnpack": "AUTO", "builtin": "BUILTIN_WITHOUT_DEFAULT_DELEGATES", "reference": "BUILTIN_REF"}


def parse_args(argv):
    p = argument_parser("litert_run.py", "Run a .tflite model in LiteRT on .npy inputs.", threads_default=1)
    p.add_argument("--kernels", default="xnnpack", choices=sorted(KERNELS))
    p.add_argument("--profile", action="store_true")
    return parse_checked(p, argv, min_threads=1)


class Model:
    """One interpreter on one model, fed by input name."""

    def __init__(self, np, litert, args):
        self.np = np
        resolver = getattr(litert.OpResolverType, KERNELS[args.kernels])
        # The interpreter prints "INFO: Created TensorFlow Lite XNNPACK delegate" on stdout's C level;
        # callers parse stdout, so it goes to stderr while the model loads.
        saved = os.dup(1)
        os.dup2(2, 1)
        try:
            self.it = litert.Interpreter(model_path=args.model, num_threads=args.threads,
                                         experimental_op_resolver_type=resolver)
            self.it.allocate_tensors()
        finally:
            os.dup2(saved, 1)
            os.close(saved)
        self.inputs = {d["name"]: d for d in self.it.get_input_details()}

    def set_inputs(self, files):
        """files: {name: .npy file}, every input of the model. Checks shape and dtype as given by the model."""
        missing = [n for n in self.inputs if n not in files]
        if missing:
            raise UsageError(f"missing input(s) {', '.join(missing)}")
        for name, file in files.items():
            d = self.inputs[name]
            a = read_npy(self.np, file)
            want = list(d["shape_signature"]) if len(d["shape_signature"]) else list(d["shape"])
            if a.ndim != len(want) or any(w not in (-1, s) for s, w in zip(a.shape, want)):
                raise UsageError(f"input '{name}': shape {list(a.shape)} does not match the model's {want}")
            if a.dtype != d["dtype"]:
                raise UsageError(f"input '{name}': dtype {a.dtype} does not match the model's {self.np.dtype(d['dtype'])}")
            if list(a.shape) != list(d["shape"]):  # a dynamic dimension: the interpreter resizes
                self.it.resize_tensor_input(d["index"], list(a.shape))
                self.it.allocate_tensors()
                self.inputs = {x["name"]: x for x in self.it.get_input_details()}
                d = self.inputs[name]
            self.it.set_tensor(d["index"], a)

    def outputs(self):
        """[(name, array)] in the model's output order (copies: the interpreter reuses its buffers)."""
        return [(d["name"], self.it.get_tensor(d["index"]).copy()) for d in self.it.get_output_details()]

    def profile(self):
        ops = [o["op_name"] for o in self.it._get_ops_details()]
        return {"ops": [o for o in ops if o != "DELEGATE"], "delegate_nodes": ops.count("DELEGATE")}


def main(argv):
    args = parse_args(argv)
    if not os.path.isfile(args.model):
        raise UsageError(f"{args.model}: no such file")
    np = require("numpy", "numpy", TOOL)
    litert = require("ai_edge_litert.interpreter", "ai-edge-litert", TOOL)
    model = Model(np, litert, args)
    version = getattr(require("ai_edge_litert", "ai-edge-litert", TOOL), "__version__", "")
    runtime = f"ai-edge-litert {version} ({args.kernels} kernels)".replace("  ", " ")
    if args.serve:
        def run(files):
            model.set_inputs(files)
            model.it.invoke()
            return model.outputs()
        return serve(runtime, run)

    model.set_inputs(assign_inputs(args.input, list(model.inputs)))
    model.it.invoke()
    if args.bench:
        latencies = time_runs(model.it.invoke, args.bench, args.warmup)
        print(json.dumps({"model": args.model, "runtime": runtime, "latency_ms": latency_summary(latencies)}))
        return 0
    os.makedirs(args.output_dir, exist_ok=True)
    outputs = {}
    for name, value in model.outputs():
        file = os.path.join(args.output_dir, safe_file_name(name) + ".npy")
        write_npy(file, value)
        outputs[name] = {"dtype": str(value.dtype), "shape": list(value.shape), "file": file}
    summary = {"model": args.model, "runtime": runtime, "outputs": outputs}
    if args.profile:
        summary.update(model.profile())
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    main_wrapper(TOOL, "usage: litert_run.py MODEL.tflite [--input [NAME=]FILE.npy]... (--output-dir DIR | --bench N | --serve)",
                 lambda: main(sys.argv[1:]))
