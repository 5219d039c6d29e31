"""torchvision side of bench/classifier_bench.cpp: same models, batch sizes and loop (CPU).

  /usr/bin/python3 bench/classifier_bench.py [imgsz=224] [iters=5] [threads=0]
"""
import sys
import time

import torch
import torchvision

args = dict(a.split("=") for a in sys.argv[1:])
imgsz, iters, threads = int(args.get("imgsz", 224)), int(args.get("iters", 5)), int(args.get("threads", 0))
if threads > 0:
    torch.set_num_threads(threads)
torch.manual_seed(0)
print(f"torchvision {torch.get_num_threads()} threads, imgsz {imgsz}, {iters} timed iterations (1 warm-up)")
print(f"{'model':20s} {'train b16 im/s':>14s} {'infer b1 im/s':>14s} {'infer b16 im/s':>14s}")
for name in ["resnet18", "mobilenet_v3_small", "efficientnet_b0"]:
    net = getattr(torchvision.models, name)(num_classes=1)
    opt = torch.optim.AdamW(net.parameters(), lr=1e-4)
    x16 = torch.randn(16, 3, imgsz, imgsz)
    y16 = torch.randint(0, 2, (16, 1)).float()
    net.train()
    train = 0.0
    for i in range(iters + 1):
        t0 = time.perf_counter()
        opt.zero_grad()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(net(x16), y16)
        loss.backward()
        opt.step()
        if i > 0:
            train += time.perf_counter() - t0
    net.eval()
    infer = []
    for b in (1, 16):
        x = torch.randn(b, 3, imgsz, imgsz)
        total = 0.0
        with torch.inference_mode():
            for i in range(iters + 1):
                t0 = time.perf_counter()
                net(x)
                if i > 0:
                    total += time.perf_counter() - t0
        infer.append(b * iters / total)
    print(f"{name:20s} {16 * iters / train:14.1f} {infer[0]:14.1f} {infer[1]:14.1f}")
