#!/usr/bin/python3
"""Reference temperatures for tests/unit/calibration_test.cpp from PyTorch (Debian's /usr/bin/python3).

Usage: temperature_oracle.py OUT_DIR   -> writes OUT_DIR/temperature_cases.json

Fits T as Guo et al. (2017) do, with torch.optim.LBFGS from T = 1.5, on the mean NLL of
sigmoid(z / T) (binary, BCE-with-logits) or softmax(z / T) (multi-class, cross-entropy), in float64,
optimising log T so T stays positive, with a strong-Wolfe line search run to convergence.
"""
import json
import math
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F


def fit(loss_of_t):
    log_t = torch.tensor(math.log(1.5), dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([log_t], lr=1.0, max_iter=500, tolerance_grad=1e-14, tolerance_change=1e-16,
                            history_size=20, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = loss_of_t(torch.exp(log_t))
        loss.backward()
        return loss

    for _ in range(5):
        opt.step(closure)
    t = float(torch.exp(log_t))
    with torch.no_grad():
        return t, float(loss_of_t(torch.tensor(t, dtype=torch.float64))), float(loss_of_t(torch.tensor(1.0, dtype=torch.float64)))


def main():
    out_dir = sys.argv[1]
    rng = np.random.default_rng(1234)
    cases = []
    for name, n, scale, shift in [("overconfident", 400, 4.0, 0.0), ("underconfident", 300, 0.3, 0.2),
                                  ("imbalanced", 500, 2.5, -2.0), ("small", 12, 3.0, 0.0)]:
        truth = rng.normal(size=n) * 1.2 + shift          # true log-odds
        y = (rng.random(n) < 1 / (1 + np.exp(-truth))).astype(int)
        z = scale * truth + rng.normal(size=n) * 0.3      # model logits, miscalibrated by `scale`
        zt = torch.tensor(z, dtype=torch.float64)
        yt = torch.tensor(y, dtype=torch.float64)
        t, nll_after, nll_before = fit(lambda T: F.binary_cross_entropy_with_logits(zt / T, yt))
        cases.append({"name": name, "kind": "binary", "num_classes": 1, "logits": z.tolist(), "labels": y.tolist(),
                      "temperature": t, "nll_after": nll_after, "nll_before": nll_before})
    for name, n, c, scale in [("multiclass_over", 300, 4, 3.0), ("multiclass_under", 200, 7, 0.5)]:
        truth = rng.normal(size=(n, c)) * 1.5
        p = np.exp(truth) / np.exp(truth).sum(axis=1, keepdims=True)
        y = np.array([rng.choice(c, p=row) for row in p])
        z = scale * truth + rng.normal(size=(n, c)) * 0.2
        zt = torch.tensor(z, dtype=torch.float64)
        yt = torch.tensor(y, dtype=torch.int64)
        t, nll_after, nll_before = fit(lambda T: F.cross_entropy(zt / T, yt))
        cases.append({"name": name, "kind": "multiclass", "num_classes": c, "logits": z.reshape(-1).tolist(),
                      "labels": y.tolist(), "temperature": t, "nll_after": nll_after, "nll_before": nll_before})
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "temperature_cases.json"), "w") as f:
        json.dump({"torch_version": torch.__version__, "cases": cases}, f)


if __name__ == "__main__":
    main()
