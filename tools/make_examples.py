#!/usr/bin/python3
"""Builds the small committed demo models in examples/ (used by `make demo`).

  examples/tiny_cnn.onnx           a seeded CNN: Conv, BatchNormalization, Relu, MaxPool,
                                   GlobalAveragePool, Flatten, Gemm (opset 13, a few KB)
  examples/tiny_cnn_input.npy      a seeded float32 input, shape (1, 3, 32, 32)
  examples/tiny_cnn_expected.npy   PyTorch's fp32 output for it, shape (1, 10)

  examples/upsample_opset11.onnx   a small segmentation-style net with nn.Upsample(bilinear, x2),
                                   exported at opset 11 (Resize, half_pixel: what PyTorch computes)
  examples/upsample_opset9.onnx    the same model exported at opset 9: PyTorch 1.13 writes an
                                   Upsample node, which has no half-pixel mode -- a real, silent
                                   converter fault (the demo's compare finds it)

BatchNormalization is kept as its own node (not folded into the conv) so the demo exercises it;
its running statistics are seeded to non-trivial values so it actually changes the data.
Deterministic: rerunning rewrites identical tensors. Run with Debian's /usr/bin/python3.
"""
import argparse
from pathlib import Path

import numpy as np
import onnx
import torch
from torch import nn

SEED = 7
OPSET = 13


class TinyCNN(nn.Module):
    def __init__(self, classes=10):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(8, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
            nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.classifier = nn.Linear(16, classes)

    def forward(self, x):
        return self.classifier(self.features(x))


def seeded_tiny_cnn():
    torch.manual_seed(SEED)
    model = TinyCNN()
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 1.5)
                m.weight.uniform_(0.8, 1.2)
                m.bias.uniform_(-0.1, 0.1)
    return model.eval()


def write_tiny_cnn(out_dir):
    model = seeded_tiny_cnn()
    x = torch.randn(1, 3, 32, 32, generator=torch.Generator().manual_seed(SEED))
    with torch.no_grad():
        y = model(x)
    path = out_dir / "tiny_cnn.onnx"
    # PRESERVE (with the model in eval mode) exports inference semantics but skips the eval-mode
    # peephole pass that would fold BatchNormalization into the preceding Conv. Constant folding
    # is off: there is nothing to fold, and torch warns about it in PRESERVE mode.
    torch.onnx.export(model, x, str(path), opset_version=OPSET, do_constant_folding=False,
                      input_names=["input"], output_names=["output"],
                      training=torch.onnx.TrainingMode.PRESERVE)
    proto = onnx.load(str(path))
    onnx.checker.check_model(proto)
    ops = [n.op_type for n in proto.graph.node]
    if "BatchNormalization" not in ops:
        raise RuntimeError(f"BatchNormalization was folded away: {ops}")
    np.save(out_dir / "tiny_cnn_input.npy", x.numpy())
    np.save(out_dir / "tiny_cnn_expected.npy", y.numpy())
    print(f"examples: {path} ({path.stat().st_size} bytes) ops {' '.join(ops)}")
    print(f"examples: expected output {y.numpy().round(4).tolist()}")


class UpsampleNet(nn.Module):
    """Conv -> bilinear x2 upsample -> conv head (dense map) + pooled classifier."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1)
        self.up = nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False)
        self.conv2 = nn.Conv2d(8, 5, 3, padding=1)
        self.fc = nn.Linear(5, 10)

    def forward(self, x):
        y = self.conv2(self.up(torch.relu(self.conv1(x))))
        return y, self.fc(y.mean(dim=(2, 3)))


def write_upsample_pair(out_dir):
    torch.manual_seed(SEED)
    model = UpsampleNet().eval()
    x = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(SEED))
    for opset in (11, 9):
        path = out_dir / f"upsample_opset{opset}.onnx"
        torch.onnx.export(model, x, str(path), opset_version=opset, input_names=["input"],
                          output_names=["segmentation", "logits"])
        proto = onnx.load(str(path))
        onnx.checker.check_model(proto)
        print(f"examples: {path} ({path.stat().st_size} bytes) ops {' '.join(n.op_type for n in proto.graph.node)}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent.parent / "examples"))
    args = ap.parse_args()
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    write_tiny_cnn(out_dir)
    write_upsample_pair(out_dir)


if __name__ == "__main__":
    main()
