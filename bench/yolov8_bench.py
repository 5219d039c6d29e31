"""PyTorch-Python side of bench/yolov8_bench.cpp: the same YOLOv8 architecture (our Python
re-implementation in tests/oracle/yolov8_ref.py, Ultralytics' graph), same sizes, loop and measures.

  /usr/bin/python3 bench/yolov8_bench.py scale=n [imgsz=640] [runs=5] [threads=2] [train_imgsz=320]
                                         [train_batch=8] [iters=2] [train_cl=0]

Prints one "RESULT scale eager_ms fused_ms train_ips peak_rss_mib matmul_gflops forward_gflop" line:
eager = eval forward as defined (Conv, BatchNorm, SiLU); fused = BatchNorm folded into the convs
(torch.nn.utils.fusion.fuse_conv_bn_eval, what Ultralytics' model.fuse() does) and channels-last;
train = forward + surrogate loss + backward + SGD step images/s at train_imgsz, train_batch (see
train_ips: the network's training cost, the same computation as the C++ side's "net" column).
One scale per process (bench/yolov8_bench.cpp runs it so) so the peak RSS is per scale.
Timing, as on the C++ side: latency = the best of 3 blocks of `runs` calls after a warm-up; training =
the median of `iters` steps after a warm-up. train_cl=1 trains in channels-last memory format.
"""
import os
import sys
import time

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "oracle"))
import yolov8_ref  # noqa: E402

sys.path.insert(0, HERE)
from bench_common import best_block_seconds, matmul_peak_gflops, peak_rss_mib, forward_flops  # noqa: E402

args = dict(a.split("=") for a in sys.argv[1:])
scale = args.get("scale", "n")
imgsz, runs, threads = int(args.get("imgsz", 640)), int(args.get("runs", 5)), int(args.get("threads", 2))
train_imgsz, train_batch, iters = int(args.get("train_imgsz", 320)), int(args.get("train_batch", 8)), int(args.get("iters", 2))
nc = int(args.get("nc", 7))
train_cl = args.get("train_cl", "0") == "1"
torch.set_num_threads(threads)


def latency_ms(net, x):
    with torch.inference_mode():
        net(x)  # warm-up
        return 1000 * best_block_seconds(lambda: net(x), runs) / runs


def fuse(net):
    """Fold every Conv's BatchNorm into its conv (eval statistics), as Ultralytics' model.fuse()."""
    for m in net.modules():
        if isinstance(m, yolov8_ref.Conv) and not isinstance(m.bn, torch.nn.Identity):
            m.conv = torch.nn.utils.fusion.fuse_conv_bn_eval(m.conv, m.bn)
            m.bn = torch.nn.Identity()
    return net


def train_ips(net):
    """Network training speed: forward_train + a surrogate loss (mean of squares of the raw maps,
    the same on the C++ side) + backward + SGD step. The YOLOv8 loss itself is timed only on the
    C++ side (our Python loss oracle is a per-image reference, not a fair speed peer)."""
    gen = torch.Generator().manual_seed(0)
    fmt = torch.channels_last if train_cl else torch.contiguous_format
    net = net.to(memory_format=fmt)
    x = torch.rand(train_batch, 3, train_imgsz, train_imgsz, generator=gen).contiguous(memory_format=fmt)
    opt = torch.optim.SGD(net.parameters(), lr=1e-3, momentum=0.9, nesterov=True)
    net.train()
    steps = []
    for i in range(iters + 1 if iters > 0 else 0):  # iteration 0 is the warm-up; iters=0: no training (as C++)
        t0 = time.perf_counter()
        opt.zero_grad()
        raw = net(x)[1]
        loss = sum((r * r).mean() for r in raw)
        loss.backward()
        opt.step()
        if i > 0:
            steps.append(time.perf_counter() - t0)
    return train_batch / sorted(steps)[len(steps) // 2] if steps else 0.0


torch.manual_seed(0)
peak = matmul_peak_gflops()
net = yolov8_ref.YOLOv8(scale, nc)
net.eval()
flops = forward_flops(net, imgsz)
t_train = train_ips(yolov8_ref.YOLOv8(scale, nc))
net.eval()
x = torch.rand(1, 3, imgsz, imgsz)
eager = latency_ms(net, x)
fuse(net)
net = net.to(memory_format=torch.channels_last)
fused = latency_ms(net, x.contiguous(memory_format=torch.channels_last))
print(f"RESULT {scale} {eager:.2f} {fused:.2f} {t_train:.2f} {peak_rss_mib():.1f} {peak:.1f} {flops / 1e9:.3f}", flush=True)
