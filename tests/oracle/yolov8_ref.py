"""Minimal YOLOv8 reference in PyTorch (our own re-implementation of the v8 architecture from the
facts in /work/shared/reference.md; Ultralytics is not installed) for the C++ oracle test.

usage: yolov8_ref.py SCALE NC IMGSZ OUT_DIR
Writes OUT_DIR/weights.safetensors (state dict with Ultralytics keys, seeded random weights and
BatchNorm statistics) and OUT_DIR/io.safetensors ("input" (1, 3, S, S), "output" (1, 4 + nc, A) in
eval mode, and "raw0".."raw2" the raw head maps).
"""
import json
import math
import struct
import sys

import numpy as np
import torch
import torch.nn as nn

SCALES = {"n": (0.33, 0.25, 1024), "s": (0.33, 0.50, 1024), "m": (0.67, 0.75, 768)}


class Conv(nn.Module):
    def __init__(self, c1, c2, k=1, s=1):
        super().__init__()
        self.conv = nn.Conv2d(c1, c2, k, s, k // 2, bias=False)
        self.bn = nn.BatchNorm2d(c2, eps=1e-3, momentum=0.03)

    def forward(self, x):
        return torch.nn.functional.silu(self.bn(self.conv(x)))


class Bottleneck(nn.Module):
    def __init__(self, c1, c2, shortcut):
        super().__init__()
        self.cv1, self.cv2 = Conv(c1, c2, 3), Conv(c2, c2, 3)
        self.add = shortcut and c1 == c2

    def forward(self, x):
        y = self.cv2(self.cv1(x))
        return x + y if self.add else y


class C2f(nn.Module):
    def __init__(self, c1, c2, n, shortcut):
        super().__init__()
        self.c = c2 // 2
        self.cv1 = Conv(c1, 2 * self.c, 1)
        self.cv2 = Conv((2 + n) * self.c, c2, 1)
        self.m = nn.ModuleList(Bottleneck(self.c, self.c, shortcut) for _ in range(n))

    def forward(self, x):
        y = list(self.cv1(x).chunk(2, 1))
        for m in self.m:
            y.append(m(y[-1]))
        return self.cv2(torch.cat(y, 1))


class SPPF(nn.Module):
    def __init__(self, c1, c2, k=5):
        super().__init__()
        self.cv1, self.cv2 = Conv(c1, c1 // 2, 1), Conv(c1 // 2 * 4, c2, 1)
        self.pool = nn.MaxPool2d(k, 1, k // 2)

    def forward(self, x):
        a = self.cv1(x)
        b = self.pool(a)
        c = self.pool(b)
        return self.cv2(torch.cat([a, b, c, self.pool(c)], 1))


class Empty(nn.Module):
    pass


class DFL(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(16, 1, 1, bias=False).requires_grad_(False)
        self.conv.weight.data[:] = torch.arange(16, dtype=torch.float).view(1, 16, 1, 1)

    def forward(self, x):
        b, _, a = x.shape
        return self.conv(x.view(b, 4, 16, a).transpose(2, 1).softmax(1)).view(b, 4, a)


class Detect(nn.Module):
    def __init__(self, nc, ch):
        super().__init__()
        self.nc = nc
        c2, c3 = max(16, ch[0] // 4, 64), max(ch[0], min(nc, 100))
        self.cv2 = nn.ModuleList(nn.Sequential(Conv(x, c2, 3), Conv(c2, c2, 3), nn.Conv2d(c2, 64, 1)) for x in ch)
        self.cv3 = nn.ModuleList(nn.Sequential(Conv(x, c3, 3), Conv(c3, c3, 3), nn.Conv2d(c3, nc, 1)) for x in ch)
        self.dfl = DFL()
        self.stride = [8, 16, 32]

    def forward(self, xs):
        raw = [torch.cat((self.cv2[i](x), self.cv3[i](x)), 1) for i, x in enumerate(xs)]
        pts, strides = [], []
        for r, s in zip(raw, self.stride):
            h, w = r.shape[2:]
            sy, sx = torch.meshgrid(torch.arange(h, dtype=r.dtype) + 0.5, torch.arange(w, dtype=r.dtype) + 0.5,
                                    indexing="ij")  # float aranges, as Ultralytics' make_anchors
            pts.append(torch.stack((sx, sy), -1).view(-1, 2))
            strides.append(torch.full((h * w, 1), float(s)))
        anchors, strides = torch.cat(pts).T, torch.cat(strides).T  # (2, A), (1, A)
        flat = torch.cat([r.view(r.shape[0], 64 + self.nc, -1) for r in raw], 2)
        box, cls = flat.split((64, self.nc), 1)
        lt, rb = self.dfl(box).chunk(2, 1)
        x1y1, x2y2 = anchors.unsqueeze(0) - lt, anchors.unsqueeze(0) + rb
        dbox = torch.cat(((x1y1 + x2y2) / 2, x2y2 - x1y1), 1) * strides
        return torch.cat((dbox, cls.sigmoid()), 1), raw


class YOLOv8(nn.Module):
    def __init__(self, scale, nc):
        super().__init__()
        d, w, mc = SCALES[scale]
        ch = lambda c: int(math.ceil(min(c, mc) * w / 8) * 8)
        rep = lambda n: max(round(n * d), 1)
        c1, c2, c3, c4, c5 = ch(64), ch(128), ch(256), ch(512), ch(1024)
        self.model = nn.ModuleList([
            Conv(3, c1, 3, 2), Conv(c1, c2, 3, 2), C2f(c2, c2, rep(3), True), Conv(c2, c3, 3, 2),
            C2f(c3, c3, rep(6), True), Conv(c3, c4, 3, 2), C2f(c4, c4, rep(6), True), Conv(c4, c5, 3, 2),
            C2f(c5, c5, rep(3), True), SPPF(c5, c5), Empty(), Empty(), C2f(c5 + c4, c4, rep(3), False),
            Empty(), Empty(), C2f(c4 + c3, c3, rep(3), False), Conv(c3, c3, 3, 2), Empty(),
            C2f(c3 + c4, c4, rep(3), False), Conv(c4, c4, 3, 2), Empty(), C2f(c4 + c5, c5, rep(3), False),
            Detect(nc, [c3, c4, c5])])

    def forward(self, x):
        m = self.model
        up = lambda t: nn.functional.interpolate(t, scale_factor=2.0, mode="nearest")
        x = m[1](m[0](x))
        p3 = m[4](m[3](m[2](x)))
        p4 = m[6](m[5](p3))
        p5 = m[9](m[8](m[7](p4)))
        h12 = m[12](torch.cat([up(p5), p4], 1))
        h15 = m[15](torch.cat([up(h12), p3], 1))
        h18 = m[18](torch.cat([m[16](h15), h12], 1))
        h21 = m[21](torch.cat([m[19](h18), p5], 1))
        return m[22]([h15, h18, h21])


def write_safetensors(path, tensors):
    header, blobs, off = {}, [], 0
    names = {np.dtype(np.float32): "F32", np.dtype(np.float64): "F64", np.dtype(np.int64): "I64"}
    for k, t in tensors.items():
        a = t.detach().cpu().contiguous().numpy()
        if a.dtype not in names:
            raise ValueError(f"{k}: dtype {a.dtype}")
        dt = names[a.dtype]
        b = a.astype(a.dtype.newbyteorder("<")).tobytes()
        header[k] = {"dtype": dt, "shape": list(a.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def randomise_bn(net):
    """Random BatchNorm affine and statistics (torch's global generator), so BN is not an identity."""
    with torch.no_grad():
        for mod in net.modules():
            if isinstance(mod, nn.BatchNorm2d):
                mod.weight.uniform_(0.5, 1.5)
                mod.bias.uniform_(-0.2, 0.2)
                mod.running_mean.uniform_(-0.2, 0.2)
                mod.running_var.uniform_(0.5, 1.5)
                mod.num_batches_tracked.fill_(7)


def main():
    scale, nc, imgsz, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    torch.manual_seed(0)
    net = YOLOv8(scale, nc)
    randomise_bn(net)
    net.eval()
    x = torch.rand(1, 3, imgsz, imgsz)
    with torch.no_grad():
        y, raw = net(x)
    write_safetensors(f"{out}/weights.safetensors", net.state_dict())
    io = {"input": x, "output": y}
    for i, r in enumerate(raw):
        io[f"raw{i}"] = r
    write_safetensors(f"{out}/io.safetensors", io)


if __name__ == "__main__":
    main()
