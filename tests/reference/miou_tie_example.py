#!/usr/bin/env python3
"""SciPy's answer on the tied example of `src/eval/miou.rs` (`hand_computed_example`).

Ground truth 0 0 0 0 1 1 1 1 against prediction 0 0 0 1 1 1 2 2, 2 classes: the per-image histogram
(rows = ground truth, columns = prediction ids, padded to 3 columns) is

    gt 0: 3 1 0
    gt 1: 0 2 2

Class 1 can take column 1 or column 2 (both give TP = 2, the same total), so the numbers depend on
`linear_sum_assignment`'s tie-breaking: column 1 gives class 1 one false positive (the gt-0 pixel
predicted 1), column 2 none. This prints what the official protocol (`tools/utils.py:34-57`, through
`miou_reference.py`) actually computes, which the Rust test asserts exactly.

    python3 tests/reference/miou_tie_example.py      # needs numpy and scipy (requirements.txt)
"""
import json
import os
import sys

import numpy as np
import scipy
from scipy.optimize import linear_sum_assignment

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from miou_reference import evaluate_pairs, fast_hist  # noqa: E402

GT = np.array([[0, 0, 0, 0, 1, 1, 1, 1]], dtype=np.uint16)
PRED = np.array([[0, 0, 0, 1, 1, 1, 2, 2]], dtype=np.uint16)


def main() -> int:
    hist = fast_hist(GT.astype(np.int64).ravel(), PRED.astype(np.int64).ravel(), 2)
    rows, cols = linear_sum_assignment(hist, maximize=True)
    result = evaluate_pairs([("tie", GT, PRED)], classes=2, ignore=None, background_merge=False)
    out = {
        "scipy": scipy.__version__,
        "hist": hist.tolist(),
        "row_ind": rows.tolist(),
        "col_ind": cols.tolist(),
        "tp": result["tp"],
        "fp": result["fp"],
        "fn": result["fn"],
        "pixel_accuracy": result["pixel_accuracy"],
        "per_class_iou": result["per_class_iou"],
        "miou": result["miou"],
    }
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
