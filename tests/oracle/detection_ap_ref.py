"""Reference for fracture::ap_per_class: Ultralytics' detection AP written from its documented
behaviour in numpy (our own re-implementation; Ultralytics is not installed).

usage: detection_ap_ref.py IN.json OUT.json
IN:  {"tp": [[0/1 x 10], ...], "conf": [...], "pred_cls": [...], "target_cls": [...], "nc": int}
OUT: {"classes": [...], "ap": [[10 per class]], "p": [...], "r": [...], "map50": x, "map": x}
"""
import json
import sys

import numpy as np


def compute_ap(recall, precision):
    mrec = np.concatenate(([0.0], recall, [1.0]))
    mpre = np.concatenate(([1.0], precision, [0.0]))
    mpre = np.flip(np.maximum.accumulate(np.flip(mpre)))  # precision envelope
    x = np.linspace(0, 1, 101)  # 101-point interp
    return np.trapz(np.interp(x, mrec, mpre), x)


def smooth(y, f=0.1):
    nf = round(len(y) * f * 2) // 2 + 1
    p = np.ones(nf // 2)
    yp = np.concatenate((p * y[0], y, p * y[-1]), 0)
    return np.convolve(yp, np.ones(nf) / nf, mode="valid")


def main():
    d = json.load(open(sys.argv[1]))
    tp = np.array(d["tp"], dtype=np.float64).reshape(-1, 10)
    conf = np.array(d["conf"], dtype=np.float64)
    pred_cls = np.array(d["pred_cls"], dtype=np.int64)
    target_cls = np.array(d["target_cls"], dtype=np.int64)
    eps = 1e-16
    i = np.argsort(-conf, kind="stable")
    tp, conf, pred_cls = tp[i], conf[i], pred_cls[i]
    classes, nt = np.unique(target_cls, return_counts=True)
    x = np.linspace(0, 1, 1000)
    ap = np.zeros((len(classes), 10))
    p_curve = np.zeros((len(classes), 1000))
    r_curve = np.zeros((len(classes), 1000))
    for ci, c in enumerate(classes):
        m = pred_cls == c
        if m.sum() == 0:
            continue
        fpc = (1 - tp[m]).cumsum(0)
        tpc = tp[m].cumsum(0)
        recall = tpc / (nt[ci] + eps)
        precision = tpc / (tpc + fpc)
        r_curve[ci] = np.interp(-x, -conf[m], recall[:, 0], left=0)
        p_curve[ci] = np.interp(-x, -conf[m], precision[:, 0], left=1)
        for j in range(10):
            ap[ci, j] = compute_ap(recall[:, j], precision[:, j])
    f1 = 2 * p_curve * r_curve / (p_curve + r_curve + eps)
    b = smooth(f1.mean(0), 0.1).argmax()
    out = {"classes": classes.tolist(), "ap": ap.tolist(), "p": p_curve[:, b].tolist(),
           "r": r_curve[:, b].tolist(), "map50": float(ap[:, 0].mean()), "map": float(ap.mean())}
    json.dump(out, open(sys.argv[2], "w"))


if __name__ == "__main__":
    main()
