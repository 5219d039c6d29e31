"""Oracle for tests/unit/detect_boxes_test.cpp: torchvision.ops.nms and batched_nms.

usage: /usr/bin/python3 nms_oracle.py IN.json OUT.json
IN.json: a list of cases {"boxes": [[x1, y1, x2, y2], ...] (float32 values), "scores": [...],
"classes": [...], "iou": t}. OUT.json: a list, one per case, of {"nms": kept indices of
torchvision.ops.nms(boxes, scores, t), "batched": kept indices of
torchvision.ops.batched_nms(boxes, scores, classes, t)}, each by decreasing score.
"""
import json
import sys

import torch
import torchvision


def main():
    with open(sys.argv[1]) as f:
        cases = json.load(f)
    out = []
    for c in cases:
        boxes = torch.tensor(c["boxes"], dtype=torch.float32).reshape(-1, 4)
        scores = torch.tensor(c["scores"], dtype=torch.float32)
        classes = torch.tensor(c["classes"], dtype=torch.int64)
        keep = torchvision.ops.nms(boxes, scores, float(c["iou"]))
        batched = torchvision.ops.batched_nms(boxes, scores, classes, float(c["iou"]))
        out.append({"nms": keep.tolist(), "batched": batched.tolist()})
    with open(sys.argv[2], "w") as f:
        json.dump(out, f)


if __name__ == "__main__":
    main()
