#!/usr/bin/env python3
"""Independent reference for the YOLOv8 detection loss (src/fracture/detect/loss.cpp).

Written from the description in shared/reference.md section 3 and the loss task (Ultralytics
v8DetectionLoss + TaskAlignedAssigner semantics), deliberately in a different style from the C++
code: one image and one ground-truth box at a time, plain PyTorch autograd for the gradients.

Usage: yolo_loss_ref.py IN.safetensors OUT.safetensors
IN holds "feat0".."featK" (B, 4*R + nc, H_i, W_i) (float32 or float64; that dtype is used
throughout), "targets" (N, 6) [batch_index, class, cx, cy, w, h] normalised, "strides" (K,) and
"meta" int64 [nc, imgsz_h, imgsz_w, reg_max]. OUT gets "total" (1,), "items" (3,) [box, cls, dfl]
after gains, "num_fg" int64 (1,), "target_scores_sum" (1,) (the sum before max(., 1)), "fg" int64 (B, A) and "target_scores"
(B, A, nc) of the assignment, and "grad0".."gradK" = d total / d feat_i.
"""
import json
import math
import os
import struct
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from yolov8_ref import write_safetensors  # noqa: E402  (the one safetensors writer of the oracles)

TOPK, ALPHA, BETA, EPS_ASSIGN = 10, 0.5, 6.0, 1e-9
GAIN_BOX, GAIN_CLS, GAIN_DFL = 7.5, 0.5, 1.5

DT = {"F32": np.float32, "F64": np.float64, "I64": np.int64}


def read_safetensors(path):
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    body = raw[8 + n:]
    out = {}
    for k, v in header.items():
        if k == "__metadata__":
            continue
        a, b = v["data_offsets"]
        arr = np.frombuffer(body[a:b], dtype=np.dtype(DT[v["dtype"]]).newbyteorder("<")).reshape(v["shape"])
        out[k] = torch.from_numpy(arr.astype(DT[v["dtype"]]).copy())
    return out


def ciou_xyxy(p, q, eps=1e-7):
    """Complete IoU of xyxy boxes p, q (..., 4) -> (...). Heights get + eps; the aspect weight is a
    constant for autograd (Zheng et al. 2020 as used by Ultralytics)."""
    px1, py1, px2, py2 = p.unbind(-1)
    qx1, qy1, qx2, qy2 = q.unbind(-1)
    pw, ph = px2 - px1, py2 - py1 + eps
    qw, qh = qx2 - qx1, qy2 - qy1 + eps
    iw = (torch.minimum(px2, qx2) - torch.maximum(px1, qx1)).clamp(min=0)
    ih = (torch.minimum(py2, qy2) - torch.maximum(py1, qy1)).clamp(min=0)
    inter = iw * ih
    union = pw * ph + qw * qh - inter + eps
    iou = inter / union
    enc_w = torch.maximum(px2, qx2) - torch.minimum(px1, qx1)
    enc_h = torch.maximum(py2, qy2) - torch.minimum(py1, qy1)
    diag2 = enc_w ** 2 + enc_h ** 2 + eps
    dist2 = ((qx1 + qx2 - px1 - px2) ** 2 + (qy1 + qy2 - py1 - py2) ** 2) / 4
    v = (4 / math.pi ** 2) * (torch.atan(qw / qh) - torch.atan(pw / ph)) ** 2
    with torch.no_grad():
        a = v / (v - iou + (1 + eps))
    return iou - (dist2 / diag2 + v * a)


def assign_one_image(scores, boxes_px, anchors_px, gts):
    """scores (A, nc) sigmoid, boxes_px (A, 4) xyxy, anchors_px (A, 2), gts list of (cls, xyxy tensor).
    Returns fg (A,) bool, gt index (A,), target_scores (A, nc)."""
    A, nc = scores.shape
    G = len(gts)
    fg = torch.zeros(A, dtype=torch.bool)
    owner = torch.zeros(A, dtype=torch.long)
    tscores = torch.zeros(A, nc, dtype=scores.dtype)
    if G == 0:
        return fg, owner, tscores
    metric = torch.zeros(G, A, dtype=scores.dtype)
    ov = torch.zeros(G, A, dtype=scores.dtype)
    pos = torch.zeros(G, A, dtype=torch.bool)
    for g, (c, box) in enumerate(gts):
        d = torch.stack([anchors_px[:, 0] - box[0], anchors_px[:, 1] - box[1],
                         box[2] - anchors_px[:, 0], box[3] - anchors_px[:, 1]], 1)
        inside = d.min(1).values > EPS_ASSIGN
        idx = inside.nonzero().flatten()
        if idx.numel():
            o = ciou_xyxy(box.expand(idx.numel(), 4), boxes_px[idx]).clamp(min=0)
            ov[g, idx] = o
            metric[g, idx] = scores[idx, c] ** ALPHA * o ** BETA
        top = torch.topk(metric[g], min(TOPK, A)).indices
        pos[g, top] = True
        pos[g] &= inside
    for a in range(A):  # anchors claimed by several boxes go to the box of largest CIoU
        if pos[:, a].sum() > 1:
            best = int(torch.argmax(ov[:, a]))
            pos[:, a] = False
            pos[best, a] = True
    norm = torch.zeros(G, A, dtype=scores.dtype)
    for g in range(G):
        am = metric[g] * pos[g]
        mo = (ov[g] * pos[g]).max()
        norm[g] = am * mo / (am.max() + EPS_ASSIGN)
    for a in range(A):
        if pos[:, a].any():
            g = int(pos[:, a].nonzero()[0])
            fg[a] = True
            owner[a] = g
            tscores[a, gts[g][0]] = norm[:, a].max()
    return fg, owner, tscores


def main():
    inp, outp = sys.argv[1], sys.argv[2]
    d = read_safetensors(inp)
    nc, H, W, R = [int(v) for v in d["meta"]]
    strides = [float(s) for s in d["strides"]]
    feats = [d[f"feat{i}"].clone().requires_grad_(True) for i in range(len(strides))]
    dtype = feats[0].dtype
    B = feats[0].shape[0]
    targets = d["targets"].to(dtype)

    # Anchor points (cell centres, grid units) and their strides, level by level, row-major.
    anchors, strd, box_logits, cls_logits = [], [], [], []
    for f, s in zip(feats, strides):
        h, w = f.shape[2:]
        for r in range(h):
            for c in range(w):
                anchors.append([c + 0.5, r + 0.5])
                strd.append(s)
        box_logits.append(f[:, :4 * R].reshape(B, 4, R, h * w))
        cls_logits.append(f[:, 4 * R:].reshape(B, nc, h * w))
    anchors = torch.tensor(anchors, dtype=dtype)            # (A, 2) grid units
    strd = torch.tensor(strd, dtype=dtype).unsqueeze(1)     # (A, 1)
    box_logits = torch.cat(box_logits, 3)                   # (B, 4, R, A)
    cls_logits = torch.cat(cls_logits, 2).transpose(1, 2)   # (B, A, nc)
    A = anchors.shape[0]
    bins = torch.arange(R, dtype=dtype)
    ltrb = (box_logits.softmax(2) * bins.view(1, 1, R, 1)).sum(2).transpose(1, 2)  # (B, A, 4) grid units
    pred = torch.cat([anchors - ltrb[..., :2], anchors + ltrb[..., 2:]], -1)        # (B, A, 4) xyxy grid

    fg_all = torch.zeros(B, A, dtype=torch.bool)
    owner_all = torch.zeros(B, A, dtype=torch.long)
    ts_all = torch.zeros(B, A, nc, dtype=dtype)
    gts_all = []
    for b in range(B):
        gts = []
        for row in targets:
            if int(round(float(row[0]))) != b:
                continue
            cx, cy, w, h = float(row[2]) * W, float(row[3]) * H, float(row[4]) * W, float(row[5]) * H
            box = torch.tensor([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], dtype=dtype)
            if float(box.sum()) > 0:
                gts.append((int(row[1]), box))
        gts_all.append(gts)
        with torch.no_grad():
            fg, owner, ts = assign_one_image(cls_logits[b].sigmoid(), pred[b] * strd, anchors * strd, gts)
        fg_all[b], owner_all[b], ts_all[b] = fg, owner, ts

    tss = max(float(ts_all.sum()), 1.0)
    loss_cls = F.binary_cross_entropy_with_logits(cls_logits, ts_all, reduction="sum") / tss
    loss_box = torch.zeros((), dtype=dtype)
    loss_dfl = torch.zeros((), dtype=dtype)
    for b in range(B):
        for a in fg_all[b].nonzero().flatten().tolist():
            wgt = ts_all[b, a].sum()
            tgt = gts_all[b][int(owner_all[b, a])][1] / strd[a, 0]        # grid units
            loss_box = loss_box + (1 - ciou_xyxy(pred[b, a], tgt)) * wgt / tss
            dist = torch.cat([anchors[a] - tgt[:2], tgt[2:] - anchors[a]]).clamp(0, R - 1 - 0.01)
            side_losses = []
            for side in range(4):
                t = float(dist[side])
                left = int(math.floor(t))
                wl = (left + 1) - t
                logp = F.log_softmax(box_logits[b, side, :, a], 0)
                side_losses.append(-logp[left] * wl - logp[left + 1] * (1 - wl))
            loss_dfl = loss_dfl + torch.stack(side_losses).mean() * wgt / tss
    items = torch.stack([loss_box * GAIN_BOX, loss_cls * GAIN_CLS, loss_dfl * GAIN_DFL])
    total = items.sum() * B
    total.backward()
    out = {"total": total.detach().reshape(1), "items": items.detach(),
           "num_fg": torch.tensor([int(fg_all.sum())], dtype=torch.long),
           "target_scores_sum": ts_all.sum().reshape(1),
           "fg": fg_all.long(), "target_scores": ts_all}
    for i, f in enumerate(feats):
        out[f"grad{i}"] = f.grad
    write_safetensors(outp, out)


if __name__ == "__main__":
    main()
