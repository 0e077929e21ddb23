#!/usr/bin/env python3
"""Writes small ONNX models with ops the ONNX -> TFLite conversion rewrites, for tflite_convert_test.sh:
ceil_bn.onnx: Conv -> Relu -> BatchNormalization (no Conv before it: not foldable; DenseNet's form)
-> MaxPool 2x2 stride 2, pads [1,1,0,0], ceil_mode=1 on an 8x8 map (5x5; floor mode gives 4x4; TFLite
needs a Pad in front) -> MaxPool 2x2 stride 2, ceil_mode=1 on 5x5 (3x3; floor mode gives 2x2; TFLite's
SAME).

Usage: make_convert_cases.py OUT_DIR
"""
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def ceil_bn(path):
    rng = np.random.default_rng(3)
    c = 6
    inits = [
        numpy_helper.from_array(rng.normal(0, 0.5, (c, 3, 3, 3)).astype(np.float32), 'w'),
        numpy_helper.from_array(rng.normal(0, 0.1, (c,)).astype(np.float32), 'b'),
        numpy_helper.from_array(rng.uniform(0.5, 1.5, (c,)).astype(np.float32), 'gamma'),
        numpy_helper.from_array(rng.normal(0, 0.3, (c,)).astype(np.float32), 'beta'),
        numpy_helper.from_array(rng.normal(0.2, 0.3, (c,)).astype(np.float32), 'mean'),
        numpy_helper.from_array(rng.uniform(0.2, 2.0, (c,)).astype(np.float32), 'var'),
    ]
    nodes = [
        helper.make_node('Conv', ['input', 'w', 'b'], ['conv'], name='conv', pads=[1, 1, 1, 1]),
        helper.make_node('Relu', ['conv'], ['relu'], name='relu'),
        helper.make_node('BatchNormalization', ['relu', 'gamma', 'beta', 'mean', 'var'], ['bn'], name='bn',
                         epsilon=1e-3),
        helper.make_node('MaxPool', ['bn'], ['pool'], name='pool', kernel_shape=[2, 2], strides=[2, 2],
                         pads=[1, 1, 0, 0], ceil_mode=1),
        helper.make_node('MaxPool', ['pool'], ['output'], name='pool2', kernel_shape=[2, 2], strides=[2, 2],
                         ceil_mode=1),
    ]
    g = helper.make_graph(nodes, 'ceil_bn', [helper.make_tensor_value_info('input', TensorProto.FLOAT, [1, 3, 8, 8])],
                          [helper.make_tensor_value_info('output', TensorProto.FLOAT, [1, c, 3, 3])], inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid('', 13)], producer_name='make_convert_cases')
    m.ir_version = 8
    onnx.checker.check_model(m)
    onnx.save(m, path)


if __name__ == '__main__':
    os.makedirs(sys.argv[1], exist_ok=True)
    ceil_bn(os.path.join(sys.argv[1], 'ceil_bn.onnx'))
