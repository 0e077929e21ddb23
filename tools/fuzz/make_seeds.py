#!/usr/bin/python3
"""Seed corpora for the libFuzzer targets (tools/fuzz/run.sh calls it), generated from the
repository's test inputs and small hand-made edge cases; nothing big is committed.

Usage: make_seeds.py BUILD_FUZZ_DIR
Writes BUILD_FUZZ_DIR/seeds/<target>/ for every target, and BUILD_FUZZ_DIR/keras_cases/ (the .h5
files of tools/make_keras_cases.py, which keras_json_fuzz reads its weights from).
Needs numpy, h5py, onnx and PIL (scripts/deps.sh installs them); a missing one skips its seeds.
"""
import glob
import hashlib
import io
import json
import os
import shutil
import struct
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
B = os.path.abspath(sys.argv[1])
SEEDS = os.path.join(B, "seeds")
SHARED = os.environ.get("TRANSFIX_SHARED_MODELS", os.path.join(ROOT, "..", "shared", "models"))


def put(target, data, name=None):
    d = os.path.join(SEEDS, target)
    os.makedirs(d, exist_ok=True)
    name = name or hashlib.sha1(data).hexdigest()[:16]
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def put_file(target, path, prefix=b"", max_bytes=2 << 20):
    if os.path.getsize(path) <= max_bytes:
        with open(path, "rb") as f:
            put(target, prefix + f.read())


# ---- TFLite: the hand-made bad files and the shared models
for p in sorted(glob.glob(os.path.join(ROOT, "tests/data/tflite_bad/*.tflite"))):
    put_file("tflite", p)
for p in sorted(glob.glob(os.path.join(SHARED, "**/*.tflite"), recursive=True)):
    put_file("tflite", p)

# ---- Keras: tools/make_keras_cases.py (tiny models of every layer class + malformed files)
cases = os.path.join(B, "keras_cases")
shutil.rmtree(cases, ignore_errors=True)
try:
    subprocess.run([sys.executable, os.path.join(ROOT, "tools/make_keras_cases.py"), cases], check=True,
                   stdout=subprocess.DEVNULL)
    h5s = sorted(glob.glob(os.path.join(cases, "*.h5")))
    for p in h5s + sorted(glob.glob(os.path.join(cases, "bad/*.h5"))):
        put_file("keras_h5", p)
    for p in sorted(glob.glob(os.path.join(ROOT, "tests/data/keras/*.h5"))):
        put_file("keras_h5", p)
    # keras_json_fuzz: byte i picks keras_cases/*.h5 number i (sorted), the rest is its model_config.
    import h5py
    for i, p in enumerate(h5s):
        with h5py.File(p, "r") as f:
            cfg = f.attrs.get("model_config")
        if cfg is None:
            continue
        cfg = cfg.decode() if isinstance(cfg, bytes) else str(cfg)
        put("keras_json", bytes([i]) + cfg.encode())
        put("keras_json", bytes([i]) + json.dumps(json.loads(cfg), indent=1).encode())
    for p in sorted(glob.glob(os.path.join(cases, "*.npy")))[:40]:
        put_file("npy", p)
except Exception as e:  # noqa: BLE001
    print(f"make_seeds: keras seeds skipped: {e}", file=sys.stderr)

# ---- .npy: hand-made headers (dtypes, byte orders, Fortran order, versions 1-3, 0-d, empty)
try:
    import numpy as np

    def npy(a, **kw):
        buf = io.BytesIO()
        np.lib.format.write_array(buf, a, **kw)
        return buf.getvalue()

    arrays = [np.arange(6, dtype=np.float32).reshape(2, 3), np.float64(3.5), np.zeros((0, 4), np.int64),
              np.arange(4, dtype=">f4"), np.asfortranarray(np.arange(12, dtype=np.int16).reshape(3, 4)),
              np.array([True, False]), np.arange(3, dtype=np.uint8), np.arange(3, dtype=np.float16),
              np.arange(5, dtype=np.int8), np.arange(2, dtype=np.uint64), np.arange(2, dtype=np.int32)]
    for a in arrays:
        put("npy", npy(a))
    put("npy", npy(np.arange(3, dtype=np.float32), version=(2, 0)))
    put("npy", npy(np.arange(3, dtype=np.float32), version=(3, 0)))
    hdr = b"{'descr': '<f4', 'fortran_order': False, 'shape': (1000000000, 1000000000), }"
    put("npy", b"\x93NUMPY\x01\x00" + struct.pack("<H", len(hdr) + 1) + hdr + b"\n", "huge_shape")
    hdr = b"{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }"
    put("npy", b"\x93NUMPY\x01\x00" + struct.pack("<H", len(hdr) + 1) + hdr + b"\n" + b"\0" * 4, "short_data")
except Exception as e:  # noqa: BLE001
    print(f"make_seeds: npy seeds skipped: {e}", file=sys.stderr)

# ---- Images: PNG and JPEG in every mode the decoder converts (byte 0: pipeline, byte 1: input side)
try:
    from PIL import Image
    import numpy as np

    rng = np.random.default_rng(0)
    rgb = Image.fromarray(rng.integers(0, 255, (9, 13, 3), dtype=np.uint8), "RGB")
    imgs = []
    for mode in ["RGB", "L", "LA", "RGBA", "P", "I;16", "1"]:
        im = rgb.convert(mode) if mode != "I;16" else Image.fromarray((np.arange(117).reshape(9, 13) * 500).astype(np.uint16))
        b = io.BytesIO()
        im.save(b, "PNG")
        imgs.append(b.getvalue())
    for mode, kw in [("RGB", {}), ("L", {}), ("CMYK", {}), ("RGB", {"progressive": True}), ("RGB", {"subsampling": 0})]:
        b = io.BytesIO()
        rgb.convert(mode).save(b, "JPEG", quality=80, **kw)
        imgs.append(b.getvalue())
    b = io.BytesIO()
    rgb.save(b, "PNG", interlace=1) if False else rgb.save(b, "PNG", optimize=True)
    imgs.append(b.getvalue())
    for i, data in enumerate(imgs):
        for control in (i % 6, 8 + i % 6, 16 + i % 6):
            put("image", bytes([control, 1 + i * 5]) + data)
    spec = json.dumps({"preset": "torchvision", "resize": [7, 5], "crop": 4, "interpolation": "nearest",
                       "mean": [0.5, 0.5, 0.5], "std": 0.25, "channel_order": "BGR", "layout": "NHWC", "dtype": "uint8"})
    put("image", bytes([0x80, 6]) + spec.encode() + b"\0" + imgs[0])
    put("image", bytes([0x88, 0]) + json.dumps({"resize": "auto", "crop": "model"}).encode() + b"\0" + imgs[7])
except Exception as e:  # noqa: BLE001
    print(f"make_seeds: image seeds skipped: {e}", file=sys.stderr)

# ---- ONNX: the one-op models of libonnx-testdata, small shared models, and external-data cases
for p in sorted(glob.glob("/usr/share/libonnx-testdata/data/node/*/model.onnx"))[::4]:
    put_file("onnx", p)
for p in sorted(glob.glob("/usr/share/libonnx-testdata/data/simple/*/model.onnx")):
    put_file("onnx", p)
for p in sorted(glob.glob(os.path.join(SHARED, "**/*.onnx"), recursive=True)):
    put_file("onnx", p, max_bytes=256 << 10)
try:
    import onnx
    from onnx import TensorProto, helper

    def ext_model(location, offset=None, length=None, dims=(4,)):
        t = TensorProto()
        t.name, t.data_type = "w", TensorProto.FLOAT
        t.dims.extend(dims)
        t.data_location = TensorProto.EXTERNAL
        for k, v in [("location", location), ("offset", offset), ("length", length)]:
            if v is not None:
                e = t.external_data.add()
                e.key, e.value = k, str(v)
        x = helper.make_tensor_value_info("x", TensorProto.FLOAT, list(dims))
        y = helper.make_tensor_value_info("y", TensorProto.FLOAT, list(dims))
        g = helper.make_graph([helper.make_node("Add", ["x", "w"], ["y"])], "g", [x], [y], [t])
        return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString()

    # The fuzz target's model folder holds weights.bin (4096 bytes), sub/w.bin (256), link.bin (a
    # symlink to ../outside.bin) and fifo.bin (a FIFO).
    for loc, off, ln, dims in [("weights.bin", None, None, (4,)), ("weights.bin", 16, 16, (4,)), ("sub/w.bin", 0, None, (8, 8)),
                               ("link.bin", None, None, (4,)), ("../outside.bin", None, None, (4,)), ("fifo.bin", None, None, (4,)),
                               ("/etc/passwd", None, None, (4,)), ("sub/../weights.bin", 4088, None, (2,)),
                               ("weights.bin", None, None, (1 << 20, 1 << 20)), ("weights.bin", "99999999999999999999", None, (4,)),
                               ("sub", None, None, (4,)), ("", None, None, (4,))]:
        put("onnx", ext_model(loc, off, ln, dims))
except Exception as e:  # noqa: BLE001
    print(f"make_seeds: onnx external-data seeds skipped: {e}", file=sys.stderr)

# ---- JSON reports: hand-made minimal ones and those tools/fuzz/run.sh adds from `transfix` runs
# (byte 0 even: merge, odd: coverage --against). The fuzz target's report folder holds a.onnx, b.onnx.
pairs = {"pairs": [{"source": "a.onnx", "target": "b.onnx", "verdict": "pass"},
                   {"source": "a.onnx", "target": "b.onnx", "verdict": "fail"}]}
put("json_report", b"\x01" + json.dumps(pairs).encode())
put("json_report", b"\x01" + json.dumps(pairs["pairs"]).encode())
put("json_report", b"\x01" + json.dumps({"schema": "transfix.localize/1", "source": {"path": "a.onnx"},
                                          "target": {"path": "b.onnx"}, "faults": []}).encode())
put("json_report", b"\x00" + json.dumps({"schema": "transfix.compare/1"}).encode())
for p in sorted(glob.glob(os.path.join(B, "report_seeds/*.json"))):
    with open(p, "rb") as f:
        data = f.read()
    put("json_report", b"\x01" + data)
    put("json_report", b"\x00" + data)
    put("json_report", b"\x00" + data + b"\0" + data)

for t in sorted(os.listdir(SEEDS)):
    print(f"seeds/{t}: {len(os.listdir(os.path.join(SEEDS, t)))} files")
