"""Reference values for tests/unit/models_test.cpp from torchvision 0.14 (Debian python3-torch).

  torchvision_oracle.py gen DIR            # per arch: DIR/ARCH.pth (seeded state dict), DIR/ARCH_expected.pth
  torchvision_oracle.py check ARCH DIR F.. # load each C++-written F (.safetensors or .pth) into torchvision,
                                           # reproduce DIR/ARCH_expected.pth eval logits; exit 1 if not
Writes only under DIR.
"""
import json
import sys

import numpy as np
import torch
import torchvision

ARCHS = ["resnet18", "mobilenet_v3_small", "efficientnet_b0"]


def build(arch):
    return getattr(torchvision.models, arch)()


def randomise(model, seed):
    """Seeded random weights, and BatchNorm affine and running stats far from 1/0 so they matter."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.weight.copy_(torch.rand(m.weight.shape, generator=g) * 0.5 + 0.75)
                m.bias.copy_(torch.randn(m.bias.shape, generator=g) * 0.1)
                m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=g) * 0.1)
                m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) * 0.5 + 0.75)
                m.num_batches_tracked.fill_(7)
            elif isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)):
                fan_in = m.weight[0].numel()
                m.weight.copy_(torch.randn(m.weight.shape, generator=g) * (2.0 / fan_in) ** 0.5)
                if m.bias is not None:
                    m.bias.copy_(torch.randn(m.bias.shape, generator=g) * 0.05)


def no_randomness(model):
    """Dropout and stochastic depth off, so a train-mode pass is deterministic."""
    for m in model.modules():
        if isinstance(m, torch.nn.Dropout):
            m.p = 0.0
        if isinstance(m, torchvision.ops.StochasticDepth):
            m.p = 0.0


def gen(out):
    for i, arch in enumerate(ARCHS):
        torch.manual_seed(1234 + i)
        model = build(arch)
        randomise(model, 99 + i)
        model.eval()
        torch.save(model.state_dict(), f"{out}/{arch}.pth")  # the real OrderedDict with _metadata
        x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(7 + i))
        expected = {"input": x}
        with torch.no_grad():
            expected["eval_logits"] = model(x)
            no_randomness(model)
            model.train()
            expected["train_logits"] = model(x)
        for k, v in model.state_dict().items():
            if k.endswith("running_mean") or k.endswith("running_var") or k.endswith("num_batches_tracked"):
                expected["after_train." + k] = v.clone()
        torch.save(expected, f"{out}/{arch}_expected.pth")  # a plain dict


DTYPES = {"F32": np.float32, "F64": np.float64, "F16": np.float16, "I64": np.int64, "I32": np.int32,
          "U8": np.uint8}


def read_safetensors(path):
    """A tiny independent safetensors reader (the python package is not installed)."""
    raw = open(path, "rb").read()
    n = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8:8 + n])
    assert header["__metadata__"]["format"] == "pt", header.get("__metadata__")
    data = raw[8 + n:]
    out = {}
    for key, e in header.items():
        if key == "__metadata__":
            continue
        a, b = e["data_offsets"]
        arr = np.frombuffer(data[a:b], dtype=DTYPES[e["dtype"]]).reshape(e["shape"])
        out[key] = torch.from_numpy(arr.copy())
    return out, [k for k in header if k != "__metadata__"]


def check(arch, out, path):
    if path.endswith(".safetensors"):
        state, order = read_safetensors(path)
    else:
        state = torch.load(path)
        order = list(state.keys())
    model = build(arch)
    ref_order = list(model.state_dict().keys())
    if order != ref_order:
        print(f"key order differs from torchvision: first difference at "
              f"{next(i for i, (a, b) in enumerate(zip(order + [None] * 9, ref_order)) if a != b)}")
        return 1
    model.load_state_dict(state, strict=True)
    model.eval()
    expected = torch.load(f"{out}/{arch}_expected.pth")
    with torch.no_grad():
        y = model(expected["input"])
    ref = expected["eval_logits"]
    err = (y - ref).abs().max().item()
    tol = 1e-4 * max(1.0, ref.abs().max().item())
    print(f"{arch}: max abs diff {err:.3g} (tolerance {tol:.3g})")
    return 0 if err <= tol else 1


if __name__ == "__main__":
    if sys.argv[1] == "gen":
        gen(sys.argv[2])
    elif sys.argv[1] == "check":
        sys.exit(max(check(sys.argv[2], sys.argv[3], f) for f in sys.argv[4:]))
    else:
        sys.exit(f"unknown mode {sys.argv[1]}")
