#!/usr/bin/env python3
"""Writes float16 conversions of an ONNX model the way float16 converters write them: every float
initializer float16, float32 model input and output through Casts. The second file also has the
kernel of `features.4.weight` transposed (H <-> W) before rounding: a fault on top of the intended
precision.

Usage: make_fp16_onnx.py MODEL.onnx CLEAN_OUT.onnx FAULTY_OUT.onnx
"""
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def to_fp16(path, transposed=None):
    m = onnx.load(sys.argv[1]); g = m.graph
    inits = []
    for t in g.initializer:
        a = numpy_helper.to_array(t)
        if a.dtype == np.float32:
            a = (a.transpose(0, 1, 3, 2).copy() if t.name == transposed else a).astype(np.float16)
        inits.append(numpy_helper.from_array(a, t.name))
    del g.initializer[:]; g.initializer.extend(inits)
    for n in g.node:
        n.input[:] = ['input_fp16' if x == 'input' else x for x in n.input]
    g.node[-1].output[0] = 'output_fp16'
    g.node.insert(0, helper.make_node('Cast', ['input'], ['input_fp16'], to=TensorProto.FLOAT16, name='cast_in'))
    g.node.append(helper.make_node('Cast', ['output_fp16'], ['output'], to=TensorProto.FLOAT, name='cast_out'))
    del g.value_info[:]
    onnx.checker.check_model(m); onnx.save(m, path)


to_fp16(sys.argv[2])
to_fp16(sys.argv[3], 'features.4.weight')
