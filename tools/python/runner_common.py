"""What the reference-runtime runners (ort_run.py, litert_run.py) share: the command line's input
specs, .npy reading and writing, output file names, timing, and the --serve protocol spoken with
`transfix compare --source-runtime/--target-runtime` (tools/serve.h describes it).

Exit codes of every runner: 0 ok, 2 bad usage, bad input file or runtime not installed (one line on
stderr), 1 the runtime failed on the model.
"""
import hashlib
import importlib
import json
import os
import sys
import time


class UsageError(Exception):
    """Bad command line or input file: exit code 2."""


def one_line(error, limit=300):
    """An exception as one line of at most `limit` characters: runtimes join their messages into long
    lines (LiteRT repeats one error per tensor)."""
    text = (str(error).splitlines() or [type(error).__name__])[0]
    return text if len(text) <= limit else text[:limit] + "..."


def require(module, package, tool):
    """Imports `module`, or exits 2 with one line naming the package to install (the runtime is missing)."""
    try:
        return importlib.import_module(module)
    except ImportError as e:
        sys.stderr.write(f"{tool}: {package} is not installed for {sys.executable} ({e}); "
                         f"run scripts/deps.sh, which installs requirements/runtimes.txt into .venv\n")
        sys.exit(2)


def argument_parser(prog, description, threads_default):
    """The options every runner takes; a runner adds its own, then calls parse_checked()."""
    import argparse
    p = argparse.ArgumentParser(prog=prog, description=description)
    p.add_argument("model")
    p.add_argument("--input", action="append", default=[], type=parse_input_spec, metavar="[NAME=]FILE.npy")
    p.add_argument("--output-dir")
    p.add_argument("--threads", type=int, default=threads_default)
    p.add_argument("--bench", type=int, default=0)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--serve", action="store_true")
    return p


def parse_checked(p, argv, min_threads):
    a = p.parse_args(argv)
    if not (a.bench or a.output_dir or a.serve):
        p.error("give --output-dir DIR, --bench N or --serve")
    if a.threads < min_threads or a.bench < 0 or a.warmup < 0:
        p.error(f"--threads takes an integer >= {min_threads}, --bench and --warmup integers >= 0")
    return a


def parse_input_spec(text):
    """'NAME=file.npy' -> (NAME, file); 'file.npy' -> (None, file): the model's only input."""
    name, eq, file = text.partition("=")
    return (name, file) if eq and name else (None, text)


def read_npy(np, file):
    """An .npy file as an array; UsageError with the file's name when it is missing or malformed."""
    try:
        a = np.load(file, allow_pickle=False)
    except FileNotFoundError:
        raise UsageError(f"{file}: no such file")
    except Exception as e:  # numpy raises ValueError/OSError/EOFError on malformed files
        raise UsageError(f"{file}: not a readable .npy file ({str(e).splitlines()[0] if str(e) else type(e).__name__})")
    if not isinstance(a, np.ndarray):
        raise UsageError(f"{file}: not a single .npy array")
    return np.ascontiguousarray(a)


def safe_file_name(name):
    """A tensor name as a file name: characters outside [A-Za-z0-9._-] become '_'; names over 120
    characters (TFLite joins fused op names with ';') are cut and get a hash of the full name."""
    s = "".join(c if c.isalnum() and c.isascii() or c in "._-" else "_" for c in name)
    if len(s) > 120:
        s = s[:120] + "_" + hashlib.sha1(name.encode()).hexdigest()[:16]
    return "_" + s if s in ("", ".", "..") else s


def assign_inputs(specs, names):
    """Matches (name or None, file) specs to the model's input names; {name: file}."""
    feeds = {}
    for name, file in specs:
        if name is None:
            if len(names) != 1:
                raise UsageError(f"model has inputs [{', '.join(names)}]; name them: --input NAME={file}")
            name = names[0]
        if name not in names:
            raise UsageError(f"model has no input '{name}'; inputs: [{', '.join(names)}]")
        if name in feeds:
            raise UsageError(f"input '{name}' given twice")
        feeds[name] = file
    return feeds


def latency_summary(times_ms):
    """min / median / p90 / max / mean of a list of latencies in ms (nearest-rank p90)."""
    t = sorted(times_ms)
    n = len(t)
    median = t[n // 2] if n % 2 else (t[n // 2 - 1] + t[n // 2]) / 2
    p90 = t[min(n, max(1, -(-9 * n // 10))) - 1]
    r = lambda x: round(x, 3)
    return {"min": r(t[0]), "median": r(median), "p90": r(p90), "max": r(t[-1]), "mean": r(sum(t) / n)}


def time_runs(run, count, warmup):
    """Wall times in ms of `count` calls of run() after `warmup` untimed ones."""
    for _ in range(warmup):
        run()
    times = []
    for _ in range(count):
        start = time.perf_counter()
        run()
        times.append((time.perf_counter() - start) * 1e3)
    return times


def serve(ready, run):
    """The --serve loop: one line {"ready": ready}, then one JSON request per stdin line,
    {"inputs": {"NAME": "in.npy", ...}, "output_dir": "DIR"}, each answered by one line,
    {"outputs": {"NAME": "DIR/i_NAME.npy", ...}} or {"error": "one line"}. run(inputs) takes
    {name: file} and returns [(name, array)] in output order. stdout belongs to the protocol: whatever
    else a runtime prints there goes to stderr."""
    protocol = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    sys.stdout = sys.stderr

    def say(obj):
        protocol.write(json.dumps(obj) + "\n")
        protocol.flush()

    say({"ready": ready})
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            request = json.loads(line)
            out_dir = request["output_dir"]
            os.makedirs(out_dir, exist_ok=True)
            outputs = {}
            for i, (name, array) in enumerate(run(request.get("inputs") or {})):
                outputs[name] = os.path.join(out_dir, f"{i}_{safe_file_name(name)}.npy")
                write_npy(outputs[name], array)
            say({"outputs": outputs})
        except Exception as e:
            say({"error": one_line(e)})
    return 0


def write_npy(file, array):
    import numpy as np
    np.save(file, np.ascontiguousarray(array), allow_pickle=False)


def main_wrapper(tool, usage, main):
    """Runs main(); UsageError -> one line and exit 2, any other failure -> one line and exit 1."""
    try:
        sys.exit(main())
    except UsageError as e:
        sys.stderr.write(f"{tool}: {e}\n")
        if "usage" in str(e) or str(e).startswith("no model"):
            sys.stderr.write(usage + "\n")
        sys.exit(2)
    except SystemExit:
        raise
    except BaseException as e:  # the runtime's own failure: its first line
        sys.stderr.write(f"{tool}: {one_line(e)}\n")
        sys.exit(1)
