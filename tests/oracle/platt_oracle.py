#!/usr/bin/python3
"""Reference Platt scaling and calibration slopes for tests/unit/calibration_test.cpp, from
scikit-learn (Debian's /usr/bin/python3).

Usage: platt_oracle.py OUT_DIR   -> writes OUT_DIR/platt_cases.json

Platt: sklearn.calibration._sigmoid_calibration(logits, labels), the function behind
CalibratedClassifierCV(method="sigmoid"), returning (A, B) of p = 1 / (1 + exp(A z + B)), and its
objective at (A, B). Slope: LogisticRegression(penalty=None) of y on logit(p), run to tol 1e-12.
"""
import json
import os
import sys

import numpy as np
from scipy.special import expit, xlogy
from sklearn.calibration import _sigmoid_calibration
from sklearn.linear_model import LogisticRegression


def platt_objective(z, y, a, b):
    prior1 = y.sum()
    prior0 = len(y) - prior1
    t = np.where(y == 1, (prior1 + 1.0) / (prior1 + 2.0), 1.0 / (prior0 + 2.0))
    p = expit(-(a * z + b))
    return float(-(xlogy(t, p) + xlogy(1.0 - t, 1.0 - p)).mean())


def main():
    out = sys.argv[1]
    rng = np.random.default_rng(7)
    cases = []
    for n, prevalence, shift, scale in [(200, 0.5, 0.0, 1.0), (300, 0.18, 1.52, 1.0), (150, 0.3, -0.8, 2.5),
                                        (60, 0.1, 0.0, 0.4)]:
        y = (rng.random(n) < prevalence).astype(int)
        if y.sum() == 0:
            y[0] = 1
        z = (rng.normal(0, 1, n) + 1.6 * y) * scale + shift  # informative logits, shifted as pos_weight would
        a, b = _sigmoid_calibration(z, y)
        p = expit(z)
        lp = np.log(np.clip(p, 1e-12, 1 - 1e-12) / (1 - np.clip(p, 1e-12, 1 - 1e-12)))
        lr = LogisticRegression(penalty=None, tol=1e-12, max_iter=100000).fit(lp.reshape(-1, 1), y)
        cases.append({"logits": z.tolist(), "labels": y.tolist(), "A": float(a), "B": float(b),
                      "objective": platt_objective(z, y, a, b), "probs": p.tolist(),
                      "slope": float(lr.coef_[0][0]), "slope_intercept": float(lr.intercept_[0])})
    with open(os.path.join(out, "platt_cases.json"), "w") as f:
        json.dump(cases, f)


if __name__ == "__main__":
    main()
