"""torchvision side of bench/classifier_bench.cpp: same models, batch sizes, loop and measures (CPU).

  /usr/bin/python3 bench/classifier_bench.py [model=resnet18] [imgsz=224] [iters=3] [infer_iters=10] [threads=2]
                                             [train_cl=0]

Timing (the same on the C++ side): training = the median of `iters` timed steps (after 1 warm-up);
inference = the best of 3 blocks of `infer_iters` calls (after 2 warm-ups), so that a moment of CPU
contention on a shared machine does not decide the figure. train_cl=1 trains in channels-last
memory format (model.to(memory_format=torch.channels_last) and channels-last batches).

Prints one "RESULT name train b1 b16 b1 b16 peak_rss_mib matmul_gflops train_gflops infer16_gflops"
line per model (inference repeated in the "optimised" columns: torchvision eval is the baseline).
Run one model per process (classifier_bench.cpp does) so the peak RSS is per model.
"""
import os
import sys
import time

import torch
import torchvision

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_common import best_block_seconds, matmul_peak_gflops, peak_rss_mib, forward_flops  # noqa: E402

args = dict(a.split("=") for a in sys.argv[1:])
imgsz, iters, threads = int(args.get("imgsz", 224)), int(args.get("iters", 3)), int(args.get("threads", 2))
infer_iters = int(args.get("infer_iters", 10))
train_cl = args.get("train_cl", "0") == "1"
models = [args["model"]] if "model" in args else ["resnet18", "mobilenet_v3_small", "efficientnet_b0"]
torch.set_num_threads(threads)


def infer_ips(net, x):
    with torch.inference_mode():
        for _ in range(2):
            net(x)
        return x.shape[0] * infer_iters / best_block_seconds(lambda: net(x), infer_iters)


for name in models:
    torch.manual_seed(0)
    peak = matmul_peak_gflops()
    net = getattr(torchvision.models, name)(num_classes=1)
    flops = forward_flops(net, imgsz)
    print(f"# {name}: {flops} forward FLOPs per image at {imgsz} px (hook count)", file=sys.stderr)
    fmt = torch.channels_last if train_cl else torch.contiguous_format
    net = net.to(memory_format=fmt)
    opt = torch.optim.AdamW(net.parameters(), lr=1e-4)
    x16 = torch.randn(16, 3, imgsz, imgsz)
    y16 = torch.randint(0, 2, (16, 1)).float()
    xt = x16.contiguous(memory_format=fmt)
    net.train()
    steps = []
    for i in range(iters + 1 if iters > 0 else 0):  # iteration 0 is the warm-up; iters=0: no training (as C++)
        t0 = time.perf_counter()
        opt.zero_grad()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(net(xt), y16)
        loss.backward()
        opt.step()
        if i > 0:
            steps.append(time.perf_counter() - t0)
    train_ips = 16 / sorted(steps)[len(steps) // 2] if steps else 0.0
    net = net.to(memory_format=torch.contiguous_format)
    net.eval()
    b1 = infer_ips(net, torch.randn(1, 3, imgsz, imgsz))
    b16 = infer_ips(net, x16)
    print(f"RESULT {name} {train_ips:.2f} {b1:.2f} {b16:.2f} {b1:.2f} {b16:.2f} {peak_rss_mib():.1f} {peak:.1f} "
          f"{3 * flops * train_ips / 1e9:.2f} {flops * b16 / 1e9:.2f}", flush=True)
