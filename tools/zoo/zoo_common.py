"""What the converter families of the corpus (keras_side.py, torch_side.py) share: the record a
conversion leaves, and the command line `SIDE.py source|convert MODEL OUT_DIR ARG`."""
import json
import os
import sys
import time
import traceback


def record_conversion(model_name, out_dir, conversion, converter, mode, versions, convert):
    """Runs convert(conv_dir) -> the target's file name, and writes CONVERSION/record.json: converter,
    mode, versions, seconds, and ok with the target, or the converter's error (a converter that crashes
    is a row of the table, with its error)."""
    conv_dir = os.path.join(out_dir, conversion)
    os.makedirs(conv_dir, exist_ok=True)
    record = {"model": model_name, "conversion": conversion, "converter": converter, "mode": mode, "versions": versions}
    t0 = time.time()
    try:
        record.update(target=convert(conv_dir), ok=True)
    except Exception as e:
        record.update(ok=False, error=(str(e).strip().splitlines() or [type(e).__name__])[-1][:400],
                      traceback=traceback.format_exc()[-2000:])
    record["seconds"] = round(time.time() - t0, 1)
    json.dump(record, open(os.path.join(conv_dir, "record.json"), "w"), indent=1)


def main(tool, models, make_source, convert, argv=None):
    """`source MODEL OUT_DIR SAMPLES.npy` or `convert MODEL OUT_DIR CONVERSION`."""
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 4:
        raise SystemExit(f"usage: {tool} source|convert MODEL OUT_DIR (SAMPLES.npy | CONVERSION)")
    verb, model_name, out_dir, arg = argv
    if model_name not in models:
        raise SystemExit(f"{tool}: unknown model {model_name}")
    if verb not in ("source", "convert"):
        raise SystemExit(f"{tool}: unknown verb {verb}")
    (make_source if verb == "source" else convert)(model_name, out_dir, arg)
