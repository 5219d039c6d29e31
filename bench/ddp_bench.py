"""torch side of bench/ddp_bench.cpp: the same model, global batch, input size and step loop, with
DistributedDataParallel (Gloo) under torchrun's environment (RANK, WORLD_SIZE, MASTER_ADDR,
MASTER_PORT), or as one process.

  for r in 0 1; do RANK=$r WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT=29511 \
    /usr/bin/python3 bench/ddp_bench.py model=resnet18 threads=1 & done; wait
  /usr/bin/python3 bench/ddp_bench.py model=resnet18 threads=2

Prints "RESULT torch_w<world> images_per_second" on rank 0.
"""
import os
import sys
import time

import torch
import torch.distributed as dist
import torchvision

args = dict(a.split("=") for a in sys.argv[1:])
model_name, imgsz = args.get("model", "resnet18"), int(args.get("imgsz", 128))
batch, steps, threads = int(args.get("batch", 16)), int(args.get("steps", 8)), int(args.get("threads", 1))
torch.set_num_threads(threads)
world, rank = int(os.environ.get("WORLD_SIZE", 1)), int(os.environ.get("RANK", 0))
if world > 1:
    dist.init_process_group("gloo")
torch.manual_seed(0)
net = getattr(torchvision.models, model_name)(num_classes=1)
net.train()
if world > 1:
    net = torch.nn.parallel.DistributedDataParallel(net)
opt = torch.optim.AdamW(net.parameters(), lr=1e-3)
local = batch // world
x_all = torch.randn(batch, 3, imgsz, imgsz)
y_all = (torch.rand(batch) > 0.5).float()
x, y = x_all[rank * local:(rank + 1) * local], y_all[rank * local:(rank + 1) * local]
for s in range(steps + 2):
    if s == 2:
        if world > 1:
            dist.barrier()
        t0 = time.perf_counter()
    opt.zero_grad()
    torch.nn.functional.binary_cross_entropy_with_logits(net(x).reshape(-1), y).backward()
    opt.step()
if world > 1:
    dist.barrier()
wall = time.perf_counter() - t0
if rank == 0:
    print(f"RESULT torch_w{world} {batch * steps / wall:.3f}", flush=True)
if world > 1:
    dist.destroy_process_group()
