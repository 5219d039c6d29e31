"""Helpers shared by the Python sides of the benchmarks (classifier_bench.py, yolov8_bench.py)."""
import time

import torch


def peak_rss_mib():
    """Peak resident set size of this process in MiB (VmHWM)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    return -1.0


def best_block_seconds(fn, calls, blocks=3):
    """The fastest of `blocks` blocks of `calls` calls of fn(), in seconds (the C++ side times the same way)."""
    best = 1e30
    for _ in range(blocks):
        t0 = time.perf_counter()
        for _ in range(calls):
            fn()
        best = min(best, time.perf_counter() - t0)
    return best


def matmul_peak_gflops():
    """fp32 GFLOP/s of a 1024x1024 matmul (best of 5 batches of 10), this process's threads."""
    a, b = torch.randn(1024, 1024), torch.randn(1024, 1024)
    best = 1e30
    with torch.inference_mode():
        torch.mm(a, b)
        for _ in range(5):
            t0 = time.perf_counter()
            for _ in range(10):
                torch.mm(a, b)
            best = min(best, (time.perf_counter() - t0) / 10)
    return 2.0 * 1024**3 / best / 1e9


def forward_flops(net, imgsz):
    """2 x multiply-adds of every Conv2d and Linear for one imgsz x imgsz image (eval mode), counted
    with forward hooks; the module's training mode is restored."""
    total = [0]

    def hook(m, i, o):
        if isinstance(m, torch.nn.Conv2d):
            total[0] += 2 * o.numel() * (m.in_channels // m.groups) * m.kernel_size[0] * m.kernel_size[1]
        elif isinstance(m, torch.nn.Linear):
            total[0] += 2 * o.numel() * m.in_features

    handles = [m.register_forward_hook(hook) for m in net.modules()]
    was_training = net.training
    net.eval()
    with torch.inference_mode():
        net(torch.zeros(1, 3, imgsz, imgsz))
    net.train(was_training)
    for h in handles:
        h.remove()
    return total[0]
