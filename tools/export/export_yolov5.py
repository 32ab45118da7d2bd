#!/usr/bin/env python3
"""Exports a tiny random-weight YOLOv5-format detector to
tests/data/exports/yolov5-det-tiny-160.onnx.

The original YOLOv5 export ends in its Detect head: three scales (strides 8,
16, 32) with three anchors each, sigmoid on every value, the grid decode
    xy = (2 * s_xy - 0.5 + grid) * stride,   wh = (2 * s_wh)^2 * anchor
and the scales concatenated into one output (1, N, 5 + C) whose rows are
[cx, cy, w, h, objectness, class scores...] in input pixels.  The backbone in
front of it is a few strided convolutions: the post-processing under test
only sees the head's output layout.

Random weights give objectness scores that sit together; the objectness
biases are set so that a few percent of the 1575 anchors pass 0.5 on real
photographs, which leaves tens of candidates, many of them overlapping
(neighbouring cells, the three anchors of one cell), for NMS to prune.

Run with the interpreter of the export environment (docs/EXPORTS.md):
    python tools/export/export_yolov5.py [--out DIR]
"""
import argparse
from pathlib import Path

import numpy as np
import torch
from torch import nn

REPO = Path(__file__).resolve().parents[2]
SIZE = 160
NC = 3
ANCHORS = ((10, 13, 16, 30, 33, 23), (30, 61, 62, 45, 59, 119), (116, 90, 156, 198, 373, 326))
STRIDES = (8, 16, 32)
OBJ_BIAS = -3.3
OBJ_GAIN = 60.0
SEED = 5


def conv(cin, cout, stride):
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.SiLU())


class Detect(nn.Module):
    def __init__(self, nc, chans):
        super().__init__()
        self.nc, self.no, self.na = nc, nc + 5, len(ANCHORS[0]) // 2
        self.m = nn.ModuleList(nn.Conv2d(c, self.no * self.na, 1) for c in chans)
        self.register_buffer("anchors", torch.tensor(ANCHORS, dtype=torch.float32).view(len(ANCHORS), -1, 2))
        with torch.no_grad():
            for conv_ in self.m:
                b = conv_.bias.view(self.na, -1)
                b[:, 4] = OBJ_BIAS
                # Spread the objectness and class logits over several units
                # so that they vary from cell to cell and image to image.
                wgt = conv_.weight.view(self.na, self.no, -1)
                wgt[:, 4:] *= OBJ_GAIN

    def forward(self, feats):
        z = []
        for i, x in enumerate(feats):
            x = self.m[i](x)
            bs, _, ny, nx = x.shape
            x = x.view(bs, self.na, self.no, ny, nx).permute(0, 1, 3, 4, 2).contiguous()
            yv, xv = torch.meshgrid(torch.arange(ny, dtype=torch.float32), torch.arange(nx, dtype=torch.float32),
                                    indexing="ij")
            grid = torch.stack((xv, yv), 2).view(1, 1, ny, nx, 2)
            anchor = self.anchors[i].view(1, self.na, 1, 1, 2)
            y = x.sigmoid()
            xy = (y[..., :2] * 2 - 0.5 + grid) * STRIDES[i]
            wh = (y[..., 2:4] * 2) ** 2 * anchor
            z.append(torch.cat((xy, wh, y[..., 4:]), -1).view(bs, -1, self.no))
        return torch.cat(z, 1)


class TinyYolov5(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(conv(3, 8, 2), conv(8, 16, 2), conv(16, 24, 2))
        self.p4 = conv(24, 32, 2)
        self.p5 = conv(32, 48, 2)
        self.head = Detect(NC, (24, 32, 48))

    def forward(self, x):
        p3 = self.stem(x)
        p4 = self.p4(p3)
        p5 = self.p5(p4)
        return self.head([p3, p4, p5])


def build():
    torch.manual_seed(SEED)
    model = TinyYolov5()
    gen = torch.Generator().manual_seed(SEED)
    with torch.no_grad():
        for mod in model.modules():
            if isinstance(mod, nn.BatchNorm2d):
                mod.weight.copy_(1 + 0.2 * torch.randn(mod.weight.shape, generator=gen))
                mod.bias.copy_(0.1 * torch.randn(mod.bias.shape, generator=gen))
                mod.running_mean.copy_(0.1 * torch.randn(mod.running_mean.shape, generator=gen))
                mod.running_var.copy_(1 + 0.2 * torch.rand(mod.running_var.shape, generator=gen))
    return model.eval()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=str(REPO / "tests" / "data" / "exports"))
    args = ap.parse_args()
    Path(args.out).mkdir(parents=True, exist_ok=True)
    dest = Path(args.out) / "yolov5-det-tiny-160.onnx"
    model = build()
    x = torch.zeros(1, 3, SIZE, SIZE)
    torch.onnx.export(model, x, str(dest), input_names=["images"], output_names=["output0"], opset_version=17,
                      dynamo=False)
    import onnxruntime as ort

    c, h, w = np.meshgrid(np.arange(3), np.arange(SIZE), np.arange(SIZE), indexing="ij")
    pattern = (((c * 97 + h * 13 + w * 7) % 256) / 255).astype(np.float32)[None]
    out = ort.InferenceSession(str(dest), providers=["CPUExecutionProvider"]).run(None, {"images": pattern})[0]
    print("%s: %d bytes, output %s, objectness > 0.5 on the pattern: %d"
          % (dest.name, dest.stat().st_size, list(out.shape), int((out[0, :, 4] > 0.5).sum())))


if __name__ == "__main__":
    main()
