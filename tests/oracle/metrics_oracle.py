#!/usr/bin/python3
"""Reference values for tests/unit/metrics_test.cpp from scikit-learn (run with Debian's /usr/bin/python3).

Usage: metrics_oracle.py OUT_DIR   -> writes OUT_DIR/metrics_cases.json

Each case holds its inputs (labels, scores, scores_b) and the expected outputs:
  sklearn: roc_auc_score, roc_curve, average_precision_score, precision_recall_curve,
           brier_score_loss, accuracy/precision/recall/specificity/F1 at threshold 0.5
           (predict 1 when score >= 0.5, zero_division=0);
  DeLong:  an independent O(n^2) implementation of DeLong et al. (1988) structural components
           (Mann-Whitney kernel over all positive/negative pairs), not the midrank algorithm.
A metric that sklearn refuses or only warns about is written as the string "error" / "warn".
"""
import json
import math
import os
import sys
import warnings

import numpy as np
from scipy.stats import norm
from sklearn import metrics


def delong_reference(y, a, b):
    """DeLong 1988 by definition: psi(x, y) = 1 if x > y, 1/2 if equal, 0 otherwise."""
    y = np.asarray(y)
    out = {}
    comps = []
    for s in (np.asarray(a, float), np.asarray(b, float)):
        x = s[y == 1]
        z = s[y == 0]
        psi = (x[:, None] > z[None, :]).astype(float) + 0.5 * (x[:, None] == z[None, :])
        comps.append((psi.mean(), psi.mean(axis=1), psi.mean(axis=0)))  # auc, V10 (per pos), V01 (per neg)
    m = int((y == 1).sum())
    n = int((y == 0).sum())

    def cov(u, v):
        if len(u) < 2:
            return 0.0
        return float(np.sum((u - u.mean()) * (v - v.mean())) / (len(u) - 1))

    (auc_a, v10a, v01a), (auc_b, v10b, v01b) = comps
    var_a = cov(v10a, v10a) / m + cov(v01a, v01a) / n
    var_b = cov(v10b, v10b) / m + cov(v01b, v01b) / n
    cov_ab = cov(v10a, v10b) / m + cov(v01a, v01b) / n
    diff = auc_a - auc_b
    var_diff = max(0.0, var_a + var_b - 2 * cov_ab)
    q = norm.ppf(0.975)
    out.update(auc_a=auc_a, auc_b=auc_b, var_a=var_a, var_b=var_b, cov_ab=cov_ab, diff=diff, var_diff=var_diff,
               diff_lower=diff - q * math.sqrt(var_diff), diff_upper=diff + q * math.sqrt(var_diff),
               auc_a_lower=max(0.0, auc_a - q * math.sqrt(var_a)), auc_a_upper=min(1.0, auc_a + q * math.sqrt(var_a)))
    if var_diff > 0:
        z = diff / math.sqrt(var_diff)
        out.update(z=z, p_value=float(2 * norm.sf(abs(z))))
    elif diff == 0:
        out.update(z=0.0, p_value=1.0)
    else:
        out.update(z="error", p_value="error")
    return out


def expected(y, s, sb):
    y = np.asarray(y, int)
    s = np.asarray(s, float)
    e = {}
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a warning means "undefined": we throw there
        try:
            e["roc_auc"] = metrics.roc_auc_score(y, s)
        except (ValueError, Warning):
            e["roc_auc"] = "error"
        try:
            fpr, tpr, thr = metrics.roc_curve(y, s)
            e["roc_curve"] = {"fpr": fpr.tolist(), "tpr": tpr.tolist(), "thresholds": thr.tolist()}
        except (ValueError, Warning):
            e["roc_curve"] = "warn"
        try:
            e["ap"] = metrics.average_precision_score(y, s)
        except (ValueError, Warning):
            e["ap"] = "warn"
        try:
            p, r, t = metrics.precision_recall_curve(y, s)
            e["pr_curve"] = {"precision": p.tolist(), "recall": r.tolist(), "thresholds": t.tolist()}
        except (ValueError, Warning):
            e["pr_curve"] = "warn"
    if np.all((s >= 0) & (s <= 1)):
        e["brier"] = metrics.brier_score_loss(y, s)
    pred = (s >= 0.5).astype(int)
    tn, fp, fn, tp = metrics.confusion_matrix(y, pred, labels=[0, 1]).ravel()
    e["at_0.5"] = {
        "tp": int(tp), "fp": int(fp), "tn": int(tn), "fn": int(fn),
        "accuracy": metrics.accuracy_score(y, pred),
        "precision": metrics.precision_score(y, pred, zero_division=0),
        "recall": metrics.recall_score(y, pred, zero_division=0),
        "specificity": metrics.recall_score(y, pred, pos_label=0, zero_division=0),
        "f1": metrics.f1_score(y, pred, zero_division=0),
    }
    if 0 < y.sum() < len(y):
        e["delong"] = delong_reference(y, s, sb)
    return e


def main():
    out_dir = sys.argv[1]
    rng = np.random.default_rng(20260423)
    cases = []

    def add(name, y, s, sb=None):
        y = [int(v) for v in y]
        s = [float(v) for v in s]
        sb = [float(v) for v in (sb if sb is not None else s)]
        cases.append({"name": name, "labels": y, "scores": s, "scores_b": sb, "expected": expected(y, s, sb)})

    for k, n in enumerate([50, 200, 1000]):  # random probabilities, informative
        y = rng.integers(0, 2, n)
        z = rng.normal(size=n) + 1.0 * y
        zb = 0.6 * z + rng.normal(size=n) * 0.9 + 0.3 * y
        add(f"random_{n}", y, 1 / (1 + np.exp(-z)), 1 / (1 + np.exp(-zb)))
    y = rng.integers(0, 2, 300)  # heavy ties: scores rounded to one decimal
    z = 1 / (1 + np.exp(-(rng.normal(size=300) + 0.8 * y)))
    zb = 1 / (1 + np.exp(-(rng.normal(size=300) + 0.4 * y)))
    add("ties_1dp", y, np.round(z, 1), np.round(zb, 1))
    y = (rng.random(120) < 0.15).astype(int)  # imbalanced, raw logits (not probabilities)
    add("imbalanced_logits", y, rng.normal(size=120) * 2 + 1.5 * y, rng.normal(size=120) * 2 + 0.5 * y)
    add("all_negative", [0] * 6, [0.1, 0.4, 0.35, 0.8, 0.5, 0.5])
    add("all_positive", [1] * 5, [0.1, 0.4, 0.35, 0.8, 0.5])
    add("tiny_n2", [0, 1], [0.3, 0.7], [0.7, 0.3])
    add("tiny_n2_tied", [1, 0], [0.5, 0.5], [0.2, 0.6])
    add("tiny_n3", [1, 0, 1], [0.2, 0.6, 0.9], [0.9, 0.1, 0.5])
    add("perfect", [0, 0, 0, 1, 1, 1, 1], [0.1, 0.2, 0.3, 0.6, 0.7, 0.8, 0.95], [0.1, 0.2, 0.3, 0.6, 0.7, 0.8, 0.25])
    add("inverted", [1, 1, 1, 0, 0, 0, 0], [0.1, 0.2, 0.3, 0.6, 0.7, 0.8, 0.95], [0.5, 0.2, 0.9, 0.6, 0.7, 0.8, 0.95])
    add("all_tied", [0, 1, 0, 1, 1], [0.5] * 5, [0.1, 0.9, 0.2, 0.8, 0.7])
    add("sklearn_doc", [0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8], [0.2, 0.3, 0.4, 0.1])
    add("integer_scores", rng.integers(0, 2, 40), rng.integers(0, 4, 40), rng.integers(0, 6, 40))

    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "metrics_cases.json"), "w") as f:
        json.dump({"sklearn_version": __import__("sklearn").__version__, "cases": cases}, f)


if __name__ == "__main__":
    main()
