"""Reference for fracture's detection metrics, written to follow Ultralytics 8.1.0's published source
step by step (ultralytics/engine/validator.py: BaseValidator.match_predictions;
ultralytics/models/yolo/detect/val.py: DetectionValidator.update_metrics and get_stats;
ultralytics/utils/metrics.py: ConfusionMatrix.process_batch, ap_per_class, compute_ap, smooth,
Metric.mean_results), with numpy doing what numpy does there (np.nonzero's order, argsort()[::-1],
np.unique(..., return_index=True), np.interp, np.trapz) instead of our own reading of it.
The two other matching rules follow their own sources: "coco" pycocotools' COCOeval.evaluateImg
(one category at a time, no crowd, no area ranges), "hungarian" Ultralytics' use_scipy=True path
(scipy.optimize.linear_sum_assignment, Debian's python3-scipy).

Ties: numpy's default argsort (quicksort) is not stable, so where confidences (or IoUs) tie exactly,
as an untrained model's often do, the order Ultralytics gives them depends on numpy's version and
CPU. fracture breaks such ties by position (a stable sort). With FRACTURE_REF_STABLE_TIES=1 this
reference does the same (kind="stable"); without it, it sorts exactly as upstream's lines do.

usage: ultralytics_val_ref.py IN.json OUT.json
IN:  {"nc": int, "images": [{"preds": [[x1, y1, x2, y2, conf, cls], ...],   # NMS order
                             "gts": [[cls, x1, y1, x2, y2], ...]}, ...]}
OUT: {rule: {"tp": [[0/1 x 10] per prediction, images in order], "classes": [...], "ap": [[10]...],
             "p": [...], "r": [...], "mp": x, "mr": x, "map50": x, "map": x}, ...,
      "confusion": [[(nc+1) x (nc+1)]]}
"""
import json
import os
import sys

import numpy as np
import scipy.optimize

SORT_KIND = "stable" if os.environ.get("FRACTURE_REF_STABLE_TIES") == "1" else None  # None: numpy's default
IOUV = np.linspace(0.5, 0.95, 10)  # torch.linspace(0.5, 0.95, 10) in the validator


def box_iou(box1, box2, eps=1e-7):
    """utils/metrics.py box_iou: (N, 4) x (M, 4) xyxy -> (N, M), with its eps in the denominator."""
    (a1, a2), (b1, b2) = np.split(box1[:, None], 2, 2), np.split(box2[None], 2, 2)
    inter = (np.minimum(a2, b2) - np.maximum(a1, b1)).clip(0).prod(2)
    return inter / ((a2 - a1).prod(2) + (b2 - b1).prod(2) - inter + eps)


def match_ultralytics(pred_classes, true_classes, iou):
    """BaseValidator.match_predictions, use_scipy=False. iou: labels x detections."""
    correct = np.zeros((pred_classes.shape[0], IOUV.shape[0])).astype(bool)
    correct_class = true_classes[:, None] == pred_classes
    iou = iou * correct_class
    for i, threshold in enumerate(IOUV.tolist()):
        matches = np.nonzero(iou >= threshold)
        matches = np.array(matches).T
        if matches.shape[0]:
            if matches.shape[0] > 1:
                matches = matches[iou[matches[:, 0], matches[:, 1]].argsort(kind=SORT_KIND)[::-1]]
                matches = matches[np.unique(matches[:, 1], return_index=True)[1]]
                matches = matches[np.unique(matches[:, 0], return_index=True)[1]]
            correct[matches[:, 1].astype(int), i] = True
    return correct


def match_hungarian(pred_classes, true_classes, iou):
    """BaseValidator.match_predictions, use_scipy=True."""
    correct = np.zeros((pred_classes.shape[0], IOUV.shape[0])).astype(bool)
    correct_class = true_classes[:, None] == pred_classes
    iou = iou * correct_class
    for i, threshold in enumerate(IOUV.tolist()):
        cost_matrix = iou * (iou >= threshold)
        if cost_matrix.any():
            labels_idx, detections_idx = scipy.optimize.linear_sum_assignment(cost_matrix, maximize=True)
            valid = cost_matrix[labels_idx, detections_idx] > 0
            if valid.any():
                correct[detections_idx[valid], i] = True
    return correct


def match_coco(pred_conf, pred_classes, true_classes, iou):
    """COCOeval.evaluateImg per category: detections by score (mergesort), greedy best unmatched gt."""
    correct = np.zeros((pred_classes.shape[0], IOUV.shape[0])).astype(bool)
    for cat in np.unique(np.concatenate([pred_classes, true_classes])):
        dt_idx = np.nonzero(pred_classes == cat)[0]
        gt_idx = np.nonzero(true_classes == cat)[0]
        if len(dt_idx) == 0 or len(gt_idx) == 0:
            continue
        dt_idx = dt_idx[np.argsort(-pred_conf[dt_idx], kind="mergesort")]
        ious = iou[np.ix_(gt_idx, dt_idx)].T  # detections x gts, as self.ious[imgId, catId]
        for tind, t in enumerate(IOUV):
            gtm = np.zeros(len(gt_idx))
            for dind in range(len(dt_idx)):
                best = min([t, 1 - 1e-10])
                m = -1
                for gind in range(len(gt_idx)):
                    if gtm[gind] > 0:
                        continue
                    if ious[dind, gind] < best:
                        continue
                    best = ious[dind, gind]
                    m = gind
                if m == -1:
                    continue
                gtm[m] = 1
                correct[dt_idx[dind], tind] = True
    return correct


def confusion_process_batch(matrix, nc, detections, gt_bboxes, gt_cls, conf=0.25, iou_thres=0.45):
    """ConfusionMatrix.process_batch (detect), called by update_metrics for images with labels."""
    if gt_cls.shape[0] == 0:
        if detections is not None:
            detections = detections[detections[:, 4] > conf]
            for dc in detections[:, 5].astype(int):
                matrix[dc, nc] += 1
        return
    if detections is None:
        for gc in gt_cls.astype(int):
            matrix[nc, gc] += 1
        return
    detections = detections[detections[:, 4] > conf]
    gt_classes = gt_cls.astype(int)
    detection_classes = detections[:, 5].astype(int)
    iou = box_iou(gt_bboxes, detections[:, :4])
    x = np.nonzero(iou > iou_thres)  # torch.where: the same row-major order
    if x[0].shape[0]:
        matches = np.concatenate((np.stack(x, 1), iou[x[0], x[1]][:, None]), 1)
        if x[0].shape[0] > 1:
            matches = matches[matches[:, 2].argsort(kind=SORT_KIND)[::-1]]
            matches = matches[np.unique(matches[:, 1], return_index=True)[1]]
            matches = matches[matches[:, 2].argsort(kind=SORT_KIND)[::-1]]
            matches = matches[np.unique(matches[:, 0], return_index=True)[1]]
    else:
        matches = np.zeros((0, 3))
    n = matches.shape[0] > 0
    m0, m1, _ = matches.transpose().astype(int)
    for i, gc in enumerate(gt_classes):
        j = m0 == i
        if n and sum(j) == 1:
            matrix[detection_classes[m1[j]], gc] += 1
        else:
            matrix[nc, gc] += 1
    if n:
        for i, dc in enumerate(detection_classes):
            if not any(m1 == i):
                matrix[dc, nc] += 1


def smooth(y, f=0.05):
    nf = round(len(y) * f * 2) // 2 + 1
    p = np.ones(nf // 2)
    yp = np.concatenate((p * y[0], y, p * y[-1]), 0)
    return np.convolve(yp, np.ones(nf) / nf, mode="valid")


def compute_ap(recall, precision):
    mrec = np.concatenate(([0.0], recall, [1.0]))
    mpre = np.concatenate(([1.0], precision, [0.0]))
    mpre = np.flip(np.maximum.accumulate(np.flip(mpre)))
    x = np.linspace(0, 1, 101)
    return np.trapz(np.interp(x, mrec, mpre), x)


def ap_per_class(tp, conf, pred_cls, target_cls, eps=1e-16):
    i = np.argsort(-conf, kind=SORT_KIND)
    tp, conf, pred_cls = tp[i], conf[i], pred_cls[i]
    unique_classes, nt = np.unique(target_cls, return_counts=True)
    nc = unique_classes.shape[0]
    x = np.linspace(0, 1, 1000)
    ap, p_curve, r_curve = np.zeros((nc, tp.shape[1])), np.zeros((nc, 1000)), np.zeros((nc, 1000))
    for ci, c in enumerate(unique_classes):
        i = pred_cls == c
        n_l = nt[ci]
        n_p = i.sum()
        if n_p == 0 or n_l == 0:
            continue
        fpc = (1 - tp[i]).cumsum(0)
        tpc = tp[i].cumsum(0)
        recall = tpc / (n_l + eps)
        r_curve[ci] = np.interp(-x, -conf[i], recall[:, 0], left=0)
        precision = tpc / (tpc + fpc)
        p_curve[ci] = np.interp(-x, -conf[i], precision[:, 0], left=1)
        for j in range(tp.shape[1]):
            ap[ci, j] = compute_ap(recall[:, j], precision[:, j])
    f1_curve = 2 * p_curve * r_curve / (p_curve + r_curve + eps)
    i = smooth(f1_curve.mean(0), 0.1).argmax()
    return p_curve[:, i], r_curve[:, i], ap, unique_classes.astype(int)


def evaluate(d, rule):
    """update_metrics over every image, then get_stats -> DetMetrics.process -> mean_results."""
    stats = dict(tp=[], conf=[], pred_cls=[], target_cls=[])
    tp_in_order = []
    for im in d["images"]:
        pred = np.array(im["preds"], dtype=np.float64).reshape(-1, 6)
        gts = np.array(im["gts"], dtype=np.float64).reshape(-1, 5)
        cls, bbox = gts[:, 0], gts[:, 1:]
        npr, nl = len(pred), len(cls)
        tp = np.zeros((npr, 10), dtype=bool)
        if npr == 0:
            if nl:
                stats["tp"].append(tp)
                stats["conf"].append(np.zeros(0))
                stats["pred_cls"].append(np.zeros(0))
                stats["target_cls"].append(cls)
            continue
        if nl:
            iou = box_iou(bbox, pred[:, :4])
            if rule == "ultralytics":
                tp = match_ultralytics(pred[:, 5], cls, iou)
            elif rule == "hungarian":
                tp = match_hungarian(pred[:, 5], cls, iou)
            else:
                tp = match_coco(pred[:, 4], pred[:, 5], cls, iou)
        tp_in_order.extend(tp.astype(int).tolist())
        stats["tp"].append(tp)
        stats["conf"].append(pred[:, 4])
        stats["pred_cls"].append(pred[:, 5])
        stats["target_cls"].append(cls)
    stats = {k: np.concatenate(v, 0) for k, v in stats.items()}
    out = {"tp": tp_in_order, "classes": [], "ap": [], "p": [], "r": [], "mp": 0.0, "mr": 0.0, "map50": 0.0,
           "map": 0.0}
    if len(stats) and stats["tp"].any():
        p, r, ap, classes = ap_per_class(stats["tp"], stats["conf"], stats["pred_cls"], stats["target_cls"])
        out.update(classes=classes.tolist(), ap=ap.tolist(), p=p.tolist(), r=r.tolist(), mp=float(p.mean()),
                   mr=float(r.mean()), map50=float(ap[:, 0].mean()), map=float(ap.mean()))
    return out


def main():
    d = json.load(open(sys.argv[1]))
    nc = d["nc"]
    out = {rule: evaluate(d, rule) for rule in ("ultralytics", "coco", "hungarian")}
    matrix = np.zeros((nc + 1, nc + 1))
    for im in d["images"]:
        pred = np.array(im["preds"], dtype=np.float64).reshape(-1, 6)
        gts = np.array(im["gts"], dtype=np.float64).reshape(-1, 5)
        if len(gts) == 0:
            continue  # update_metrics calls process_batch only with labels (`if nl`)
        confusion_process_batch(matrix, nc, pred if len(pred) else None, gts[:, 1:], gts[:, 0])
    out["confusion"] = matrix.astype(int).tolist()
    json.dump(out, open(sys.argv[2], "w"))


if __name__ == "__main__":
    main()
