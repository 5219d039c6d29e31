#!/usr/bin/python3
"""Reference fits for fracture's fit_logistic_regression (calibrate/logistic_regression.h), from
scikit-learn's LogisticRegression() with its defaults (penalty="l2", C=1.0, fit_intercept=True,
lbfgs) run to tol 1e-10, on seeded cases shaped like the study's fusion: a classifier logit and a
detector score logit per image, one nearly separable case, and one with C=0.1.

Usage: logreg_oracle.py OUT_DIR   -> writes OUT_DIR/logreg_cases.json
"""
import json
import os
import sys

import numpy as np
from sklearn.linear_model import LogisticRegression


def main():
    out = sys.argv[1]
    rng = np.random.default_rng(11)
    cases = []
    for n, prevalence, sep, c in [(200, 0.5, 1.2, 1.0), (350, 0.15, 1.8, 1.0), (80, 0.3, 6.0, 1.0),
                                  (120, 0.4, 1.0, 0.1)]:
        y = (rng.random(n) < prevalence).astype(int)
        y[0], y[1] = 1, 0
        cls = rng.normal(0, 1, n) + sep * y - 1.0
        det = np.log(np.clip(rng.beta(1 + 3 * y, 3 - 2 * y + 0.5), 1e-6, 1 - 1e-6))  # log of a box score
        x = np.stack([cls, det], axis=1)
        m = LogisticRegression(C=c, tol=1e-10, max_iter=100000).fit(x, y)
        cases.append({"x": x.tolist(), "y": y.tolist(), "C": c, "coef": m.coef_[0].tolist(),
                      "intercept": float(m.intercept_[0]),
                      "proba": m.predict_proba(x)[:, 1].tolist()})
    with open(os.path.join(out, "logreg_cases.json"), "w") as f:
        json.dump(cases, f)


if __name__ == "__main__":
    main()
