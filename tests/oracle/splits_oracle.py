"""Oracle for tests/unit/splits_test.cpp: scikit-learn StratifiedKFold fold sizes and per-class counts.

usage: /usr/bin/python3 splits_oracle.py IN.json OUT.json
IN.json is a list of cases {"k": K, "labels": [...]}. OUT.json is a list, one per case, of
{"sizes": [n_fold0, ...], "counts": [[n_class0_in_fold0, ...], ...]} in the test-fold order of
StratifiedKFold(shuffle=False). Sizes and per-class counts do not depend on shuffling (only
which items land where does), so they must equal fracture::stratified_kfold's for any seed.
"""
import json
import sys

import numpy as np
from sklearn.model_selection import StratifiedKFold


def one(k, labels):
    y = np.array(labels, dtype=np.int64)
    nc = int(y.max()) + 1
    sizes, counts = [], []
    for _, test in StratifiedKFold(n_splits=k).split(np.zeros(len(y)), y):
        sizes.append(int(len(test)))
        counts.append([int(c) for c in np.bincount(y[test], minlength=nc)])
    return {"sizes": sizes, "counts": counts}


def main():
    with open(sys.argv[1]) as f:
        cases = json.load(f)
    out = [one(int(c["k"]), c["labels"]) for c in cases]
    with open(sys.argv[2], "w") as f:
        json.dump(out, f)


if __name__ == "__main__":
    main()
