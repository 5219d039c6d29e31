"""Oracle for tests/unit/splits_test.cpp: scikit-learn's StratifiedGroupKFold fold of every item.

usage: /usr/bin/python3 group_kfold_oracle.py IN.json OUT.json
IN.json: a list of cases {"k": K, "labels": [...], "groups": [...]}. OUT.json: a list, one per case,
of the test-fold index of each item under StratifiedGroupKFold(n_splits=K, shuffle=False). When
every group's class counts have a different standard deviation, the greedy order does not depend on
shuffling, so fracture::stratified_group_kfold must give the same folds for any seed.
"""
import json
import sys

import numpy as np
from sklearn.model_selection import StratifiedGroupKFold


def main():
    with open(sys.argv[1]) as f:
        cases = json.load(f)
    out = []
    for c in cases:
        y = np.array(c["labels"], dtype=np.int64)
        groups = np.array(c["groups"])
        fold = np.full(len(y), -1, dtype=np.int64)
        for i, (_, test) in enumerate(StratifiedGroupKFold(n_splits=int(c["k"])).split(np.zeros(len(y)), y, groups)):
            fold[test] = i
        out.append(fold.tolist())
    with open(sys.argv[2], "w") as f:
        json.dump(out, f)


if __name__ == "__main__":
    main()
