#!/usr/bin/python3
"""Small hand-made TorchScript models covering ops the torchvision fixtures lack, plus bad inputs.

Writes into $TRANSFIX_CACHE/torchscript (default ~/.cache/transfix/torchscript), never into git:
  <name>.pt          torch.jit.trace (or script) of an eval-mode module, seeded weights
  <name>_input.npy   seeded float32 input
  state_dict.pt      a plain torch.save(state_dict) pickle: not TorchScript (a bad input)
  corrupt_pickle.pt  resample.pt with its data.pkl record overwritten (a valid zip, a broken archive)
Idempotent: does nothing when the folder's VERSION matches.
"""
import os
import pathlib
import zipfile

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

VERSION = "10"


class Resample(nn.Module):
    """upsample bilinear (align_corners both ways, scale and size), nearest, bicubic, pixel_shuffle."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)

    def forward(self, x):
        y = self.conv(x)
        a = F.interpolate(y, scale_factor=2.0, mode="bilinear", align_corners=True)
        b = F.interpolate(y, size=(13, 9), mode="bilinear", align_corners=False)
        c = F.interpolate(y, scale_factor=2.0, mode="nearest")
        d = F.interpolate(y, size=(11, 7), mode="nearest")
        e = F.pixel_shuffle(y, 2)
        f = F.interpolate(y, scale_factor=2.0, mode="bicubic", align_corners=False)
        g = F.interpolate(y, scale_factor=1.5, mode="bilinear", align_corners=False)
        h = F.interpolate(y, scale_factor=1.7, mode="nearest")
        parts = [a, b, c, d, e, f, g, h]
        return torch.cat([p.flatten(1) for p in parts], 1)


class Norms(nn.Module):
    """layer_norm, group_norm, instance_norm (affine and not), batch_norm, and activations."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, stride=2, padding=2, dilation=2)
        self.gn = nn.GroupNorm(4, 8)
        self.inorm = nn.InstanceNorm2d(8, affine=True)
        self.inorm_plain = nn.InstanceNorm2d(8)
        self.ln = nn.LayerNorm([5, 6])
        self.prelu = nn.PReLU(8)
        self.bn = nn.BatchNorm2d(8)
        self.depthwise = nn.Conv2d(8, 8, 3, groups=8, padding=1, padding_mode="zeros", bias=False)

    def forward(self, x):
        y = self.conv(x)
        y = self.gn(y)
        y = F.gelu(y) + F.gelu(y, approximate="tanh")
        y = self.inorm(y) + self.inorm_plain(F.silu(y))
        y = self.prelu(y) + F.hardswish(y) + F.hardsigmoid(y)
        y = F.softplus(y, beta=2.0, threshold=1.0) + F.elu(y, alpha=0.7) + F.leaky_relu(y, 0.2)
        y = F.relu6(self.bn(self.depthwise(y))) - torch.clamp(y, -0.5, 0.25)
        y = F.adaptive_avg_pool2d(y, 1) * torch.sigmoid(y) + torch.tanh(y)
        y = F.interpolate(y, size=(5, 6), mode="nearest")
        return self.ln(y)


class Pools(nn.Module):
    """max/avg pools with ceil_mode, count_include_pad, divisor_override, global adaptive pools."""

    def forward(self, x):
        a = F.max_pool2d(x, 3, stride=2, padding=1, ceil_mode=True)
        b = F.avg_pool2d(x, 3, stride=2, padding=1, ceil_mode=True, count_include_pad=False)
        c = F.avg_pool2d(x, 2, stride=2, divisor_override=3)
        d = F.avg_pool2d(x, 3, stride=2, padding=1, count_include_pad=True)
        e = F.adaptive_max_pool2d(x, 1) + F.adaptive_avg_pool2d(x, (1, 1))
        f = F.max_pool2d(x, (2, 3), stride=(1, 2), dilation=(2, 1))
        return torch.cat([a.flatten(1), b.flatten(1), c.flatten(1), d.flatten(1), e.flatten(1), f.flatten(1)], 1)


class Shapes(nn.Module):
    """view/reshape from x.size(), permute/transpose, chunk/split, slice/select, stack, reductions, matmul."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(7, 5)

    def forward(self, x):
        n, c, h, w = x.size()
        y = x.view(n, c, h * w).permute(0, 2, 1).contiguous()       # [n, hw, c]
        y = y.reshape(n, h, w, c).transpose(1, 3)                   # [n, c, w, h]
        p, q = torch.chunk(y, 2, dim=1)
        r, s, t = torch.split(x, [1, 2, 3], dim=1)
        u = x[:, 1:5, :, ::2]
        v = x[:, 0] + x.select(1, 2)
        z = torch.stack([v, v * 2], dim=1)
        m = torch.matmul(x[:, :, :, :7], x[:, :, :7, :])
        k = self.fc(x[:, :, :, :7])
        red = x.mean(dim=(2, 3), keepdim=True) + x.sum(dim=1, keepdim=True) / 6.0
        sm = F.softmax(x, dim=1) + F.log_softmax(x, dim=-1)
        ar = torch.sqrt(torch.abs(x) + 1).pow(1.5) - torch.exp(-x.abs()) + torch.log(x * x + 1)
        am = torch.argmax(x, dim=1, keepdim=True).float() + (1 - x)
        ex = x[:, :1].expand_as(x) + x.view(n, c, h, w)[:, :, :, :1].repeat(1, 1, 1, 10)
        parts = [y, p - q, r + s[:, :1] * t[:, 2:], u, z, m, k, red, sm, ar, am, ex]
        return torch.cat([t.flatten(1) for t in parts], 1)


class Scripted(nn.Module):
    """scripted (not traced): conv + batch norm + relu + conv(padding='same') + linear."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.bn = nn.BatchNorm2d(4)
        self.same = nn.Conv2d(4, 4, (3, 2), padding="same")
        self.fc = nn.Linear(4, 3)

    def forward(self, x):
        y = F.relu(self.bn(self.conv(x)))
        y = self.same(y) * y
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(y, 1), 1))


class AdaptiveOdd(nn.Module):
    """adaptive pooling to sizes that do not divide the input (overlapping, uneven bins)."""

    def forward(self, x):
        a = F.adaptive_avg_pool2d(x, (3, 5)).flatten(1) + F.adaptive_max_pool2d(x, (3, 5)).flatten(1)
        b = F.adaptive_avg_pool2d(x, (4, 1)).flatten(1)
        c = F.adaptive_max_pool2d(x, (1, 6)).flatten(1)
        d = F.adaptive_avg_pool1d(x.flatten(2), 7).flatten(1)
        return torch.cat([a, b, c, d], 1)


class Padding(nn.Module):
    """convolution padding modes (reflect, replicate), F.pad constant with a value, then a transpose
    of the input-ranked tensor (the rank comes from the convolution's weight)."""

    def __init__(self):
        super().__init__()
        self.a = nn.Conv2d(3, 4, 3, padding=1, padding_mode="reflect")
        self.b = nn.Conv2d(4, 4, 3, padding=2, padding_mode="replicate", dilation=2)
        self.c = nn.Conv2d(4, 2, (1, 3), stride=(2, 1), padding=(0, 1))

    def forward(self, x):
        y = F.pad(self.b(self.a(x)), (1, 2, 0, 3), value=0.5)
        y = F.pad(y, (2, 1, 1, 0), mode="reflect")
        return self.c(y).transpose(2, 3)


class Unsupported(nn.Module):
    """an op without a lowering (aten::roll) inside a submodule."""

    def __init__(self):
        super().__init__()
        self.block = nn.Sequential(nn.Conv2d(3, 3, 1), Roll())

    def forward(self, x):
        return self.block(x)


class RuntimeShapes(nn.Module):
    """Arguments taken from x.shape when the model runs: F.layer_norm(y, y.shape[-2:]) (no weight),
    interpolate to twice x's size, view(y.size(0), -1). The traced graph keeps them as aten::size."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)

    def forward(self, x):
        y = self.conv(x)
        y = F.layer_norm(y, y.shape[-2:])
        y = F.interpolate(y, size=(x.shape[2] * 2, x.shape[3] * 2), mode="nearest")
        return y.view(y.size(0), -1)


class Roll(nn.Module):
    def forward(self, x):
        return torch.roll(x, 1, dims=2)


MODELS = {  # name: (module, input shape, trace?)
    "resample": (Resample, (1, 3, 10, 7), True),
    "norms": (Norms, (2, 3, 19, 23), True),
    "pools": (Pools, (1, 6, 17, 15), True),
    "shapes": (Shapes, (2, 6, 8, 10), True),
    "scripted": (Scripted, (1, 3, 9, 9), False),
    "adaptive_odd": (AdaptiveOdd, (1, 4, 11, 13), True),
    "padding": (Padding, (1, 3, 12, 9), True),
    "runtime_shapes": (RuntimeShapes, (1, 3, 10, 12), True),
    "unsupported": (Unsupported, (1, 3, 5, 5), True),
}


def randomize_batch_norm(module, gen):
    for m in module.modules():
        if isinstance(m, (nn.BatchNorm2d, nn.GroupNorm, nn.InstanceNorm2d, nn.LayerNorm)):
            if getattr(m, "weight", None) is not None:
                m.weight.data = torch.rand(m.weight.shape, generator=gen) + 0.5
                m.bias.data = torch.randn(m.bias.shape, generator=gen) * 0.1
            if getattr(m, "running_mean", None) is not None:
                m.running_mean = torch.randn(m.running_mean.shape, generator=gen) * 0.1
                m.running_var = torch.rand(m.running_var.shape, generator=gen) + 0.5


def main():
    out = pathlib.Path(os.environ.get("TRANSFIX_CACHE", pathlib.Path.home() / ".cache/transfix")) / "torchscript"
    stamp = out / "VERSION"
    if stamp.exists() and stamp.read_text().strip() == VERSION:
        return
    out.mkdir(parents=True, exist_ok=True)
    for i, (name, (cls, shape, trace)) in enumerate(MODELS.items()):
        torch.manual_seed(1000 + i)
        gen = torch.Generator().manual_seed(2000 + i)
        model = cls()
        randomize_batch_norm(model, gen)
        model.eval()
        x = torch.randn(shape, generator=gen)
        with torch.no_grad():
            ts = torch.jit.trace(model, x) if trace else torch.jit.script(model)
        ts.save(str(out / f"{name}.pt"))
        np.save(out / f"{name}_input.npy", x.numpy())
    torch.save(Norms().state_dict(), out / "state_dict.pt")
    with zipfile.ZipFile(out / "resample.pt") as src, zipfile.ZipFile(out / "corrupt_pickle.pt", "w") as dst:
        for item in src.infolist():
            data = src.read(item.filename)
            if item.filename.endswith("/data.pkl"):
                data = b"\x80\x02garbage" + bytes(len(data))
            dst.writestr(item, data)
    stamp.write_text(VERSION + "\n")
    print(f"torchscript test models: {len(MODELS)} written to {out}")


if __name__ == "__main__":
    main()
