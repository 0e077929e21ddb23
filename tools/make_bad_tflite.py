#!/usr/bin/env python3
"""Writes the hand-made bad .tflite files in tests/data/tflite_bad/ (each must make transfix exit 2
with a clear error, tests/tflite_bad_test.sh). Each starts from a small valid model (a constant-weight
FULLY_CONNECTED, written as FlatBuffers JSON and compiled by flatc) with one thing broken, either in
the JSON (bad indices, shapes, quantization) or in the bytes (truncation, offsets).

Usage: tools/make_bad_tflite.py OUT_DIR   (needs flatc)
"""
import copy
import json
import os
import struct
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCHEMA = os.path.join(ROOT, "src/formats/tflite/tflite_schema.fbs")


def f32(values):
    return list(struct.pack("<%df" % len(values), *values))


def base():
    return {
        "version": 3,
        "description": "transfix bad-input base",
        "operator_codes": [{"deprecated_builtin_code": 9, "builtin_code": "FULLY_CONNECTED", "version": 1}],
        "subgraphs": [{
            "tensors": [
                {"shape": [1, 3], "type": "FLOAT32", "buffer": 0, "name": "x"},
                {"shape": [2, 3], "type": "FLOAT32", "buffer": 1, "name": "w"},
                {"shape": [2], "type": "FLOAT32", "buffer": 2, "name": "b"},
                {"shape": [1, 2], "type": "FLOAT32", "buffer": 0, "name": "y"},
                {"shape": [2, 3], "type": "INT8", "buffer": 3, "name": "wq",
                 "quantization": {"scale": [0.5, 0.25], "zero_point": [0, 0], "quantized_dimension": 0}},
            ],
            "inputs": [0], "outputs": [3],
            "operators": [{"opcode_index": 0, "inputs": [0, 1, 2], "outputs": [3],
                           "builtin_options_type": "FullyConnectedOptions", "builtin_options": {}}],
            "name": "main"}],
        "buffers": [{}, {"data": f32([1, 2, 3, 4, 5, 6])}, {"data": f32([0.5, -0.5])}, {"data": [1, 2, 3, 4, 5, 6]}],
    }


def compile_json(model):
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "m.json")
        json.dump(model, open(path, "w"))
        subprocess.run(["flatc", "-b", "-o", d, SCHEMA, path], check=True)
        return open(os.path.join(d, "m.tflite"), "rb").read()


def edit(fn):
    m = copy.deepcopy(base())
    fn(m)
    return compile_json(m)


def sg(m):
    return m["subgraphs"][0]


CASES = {
    "buffer_index_out_of_range": lambda m: sg(m)["tensors"][1].update(buffer=99),
    "shape_buffer_size_mismatch": lambda m: sg(m)["tensors"][1].update(shape=[2, 4]),
    "negative_dim": lambda m: sg(m)["tensors"][0].update(shape=[-1, 3]),
    "huge_dims": lambda m: sg(m)["tensors"][3].update(shape=[2147483647, 2147483647, 2147483647]),
    "quant_scales_wrong_length": lambda m: sg(m)["tensors"][4]["quantization"].update(scale=[0.5, 0.25, 1.0]),
    "quant_zero_points_wrong_length": lambda m: sg(m)["tensors"][4]["quantization"].update(zero_point=[0, 0, 0]),
    "quant_negative_scale": lambda m: sg(m)["tensors"][4]["quantization"].update(scale=[0.5, -0.25]),
    "quant_dimension_out_of_range": lambda m: sg(m)["tensors"][4]["quantization"].update(quantized_dimension=7),
    "operator_input_out_of_range": lambda m: sg(m)["operators"][0].update(inputs=[0, 1, 42]),
    "opcode_index_out_of_range": lambda m: sg(m)["operators"][0].update(opcode_index=5),
    "subgraph_input_out_of_range": lambda m: sg(m).update(inputs=[-7]),
    "output_is_a_constant": lambda m: sg(m)["operators"][0].update(outputs=[1]),
    "no_subgraph": lambda m: m.update(subgraphs=[]),
    "schema_version_2": lambda m: m.update(version=2),
    "metadata_buffer_out_of_range": lambda m: m.update(metadata=[{"name": "min_runtime_version", "buffer": 77}]),
    "signature_tensor_out_of_range": lambda m: m.update(signature_defs=[
        {"inputs": [{"name": "x", "tensor_index": 1000}], "outputs": [], "signature_key": "s", "subgraph_index": 0}]),
    "fc_weights_wrong_rank": lambda m: (sg(m)["tensors"][1].update(shape=[6]), None),
    "buffer_offset_past_end": lambda m: m["buffers"].__setitem__(1, {"offset": 1 << 40, "size": 24}),
    "operator_cycle": lambda m: (sg(m)["tensors"].append({"shape": [1, 3], "type": "FLOAT32", "buffer": 0, "name": "z"}),
                                 sg(m)["operators"].append({"opcode_index": 1, "inputs": [3], "outputs": [5]}),
                                 m["operator_codes"].append({"deprecated_builtin_code": 19, "builtin_code": "RELU"}),
                                 sg(m)["operators"][0].update(inputs=[5, 1, 2])),
}


def byte_cases():
    good = compile_json(base())
    root = struct.unpack_from("<I", good, 0)[0]
    yield "truncated", good[: len(good) // 2]
    yield "empty", b""
    yield "four_bytes", good[:4]
    yield "bad_identifier", good[:4] + b"XXXX" + good[8:]
    yield "root_offset_past_end", struct.pack("<I", len(good) + 1000) + good[4:]
    vtable = root - struct.unpack_from("<i", good, root)[0]
    yield "vtable_offset_past_end", good[:root] + struct.pack("<i", -(1 << 30)) + good[root + 4:]
    yield "garbage_after_identifier", good[:8] + bytes((i * 37 + 11) % 256 for i in range(len(good) - 8))
    del vtable


if __name__ == "__main__":
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    for name, fn in CASES.items():
        open(os.path.join(out, name + ".tflite"), "wb").write(edit(fn))
    for name, data in byte_cases():
        open(os.path.join(out, name + ".tflite"), "wb").write(data)
