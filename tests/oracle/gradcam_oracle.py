#!/usr/bin/python3
"""Reference Grad-CAM maps for tests/unit/gradcam_test.cpp, computed on torchvision 0.14 models
(Debian python3-torch) with forward/backward hooks on the target layer, following Selvaraju et al.
2017 and pytorch-grad-cam's GradCAM: alpha = spatial mean of d logit / d A, map = relu(sum alpha A),
bilinear resize (align_corners=False) to the input size, min-max scaled per image.

Usage: gradcam_oracle.py OUT_DIR   -> OUT_DIR/<arch>.pth (seeded state dict, one logit) and
                                      OUT_DIR/<arch>_cam.pth {input, logits, cam}
Target layers: resnet18 model.layer4, mobilenet_v3_small and efficientnet_b0 model.features (key
"cam"), and an inner layer each (key "cam_inner"): resnet18 model.layer3, mobilenet_v3_small
model.features[8], efficientnet_b0 model.features[6].
"""
import sys

import torch
import torchvision

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from torchvision_oracle import randomise  # noqa: E402  (seeded weights, BatchNorm stats away from 1/0)

ARCHS = ["resnet18", "mobilenet_v3_small", "efficientnet_b0"]


def target_layer(model, arch):
    return model.layer4 if arch == "resnet18" else model.features


INNER = {"resnet18": lambda m: m.layer3, "mobilenet_v3_small": lambda m: m.features[8],
         "efficientnet_b0": lambda m: m.features[6]}


def cam_on(model, layer, x):
    store = {}

    def fwd(_m, _inp, output):
        store["a"] = output
        output.register_hook(lambda g: store.__setitem__("g", g))

    h = layer.register_forward_hook(fwd)
    model.zero_grad()
    logits = model(x)
    logits[:, 0].sum().backward()
    h.remove()
    a, g = store["a"].detach(), store["g"]
    alpha = g.mean(dim=(2, 3), keepdim=True)
    cam = torch.relu((alpha * a).sum(dim=1, keepdim=True))
    cam = torch.nn.functional.interpolate(cam, size=x.shape[2:], mode="bilinear", align_corners=False)[:, 0]
    lo = cam.flatten(1).min(1).values.view(-1, 1, 1)
    hi = cam.flatten(1).max(1).values.view(-1, 1, 1)
    cam = torch.where(hi - lo > 0, (cam - lo) / (hi - lo).clamp_min(1e-30), torch.zeros_like(cam))
    return logits.detach(), cam


def main():
    out = sys.argv[1]
    for i, arch in enumerate(ARCHS):
        torch.manual_seed(321 + i)
        model = getattr(torchvision.models, arch)(num_classes=1)
        randomise(model, 55 + i)
        model.eval()
        torch.save(model.state_dict(), f"{out}/{arch}.pth")
        x = torch.randn(2, 3, 128, 96, generator=torch.Generator().manual_seed(17 + i))
        logits, cam = cam_on(model, target_layer(model, arch), x)
        _, cam_inner = cam_on(model, INNER[arch](model), x)
        torch.save({"input": x, "logits": logits, "cam": cam, "cam_inner": cam_inner}, f"{out}/{arch}_cam.pth")


if __name__ == "__main__":
    main()
