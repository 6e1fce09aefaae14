#!/usr/bin/env python3
"""torchmetrics' answers for the open-vocabulary metric (docs/ALGORITHM.md §7.6).

The official `eval_diffcut_openvoc.py` builds `JaccardIndex(task="multiclass", num_classes=N)`
once and, per image, adds `jaccard(pred, label_map)` (the forward call: that image's macro Jaccard)
to a sum it divides by the number of images. This script replays that on small random label maps
with classes missing from one map, from the other or from both, and writes each image's value and
the mean, which `tests/open_vocab.rs` compares with `diffcut::eval::open_vocab`.

    python3 tests/reference/open_vocab_jaccard.py [--out tests/fixtures/open_vocab/jaccard.json]

Tested with torch 2.15.0 (CPU), torchmetrics 1.9.0, numpy 2.4.6.
"""
from __future__ import annotations

import argparse
import json
import os

import numpy as np
import torch
from torchmetrics import JaccardIndex


def cases(rng: np.random.Generator):
    """(classes, gt, pred) triples: [H, W] int maps."""
    out = []
    for classes, h, w, used_gt, used_pred in [
        (21, 16, 16, 4, 5),  # VOC-sized: most classes absent from both maps
        (21, 9, 13, 21, 21),  # every class may occur
        (3, 5, 7, 2, 3),  # a class only in the prediction
        (60, 32, 24, 8, 3),  # Context-sized, a coarse prediction
        (81, 20, 20, 1, 6),  # a single ground-truth class
    ]:
        classes_gt = rng.choice(classes, size=used_gt, replace=False)
        classes_pred = rng.choice(classes, size=used_pred, replace=False)
        gt = classes_gt[rng.integers(0, used_gt, size=(h, w))]
        # The prediction agrees with the ground truth on about half the pixels.
        pred = np.where(rng.random((h, w)) < 0.5, gt, classes_pred[rng.integers(0, used_pred, size=(h, w))])
        out.append((classes, gt, pred))
    # Identical maps, and maps with nothing in common.
    g = rng.integers(0, 4, size=(8, 8))
    out.append((21, g, g.copy()))
    out.append((21, np.zeros((4, 4), int), np.ones((4, 4), int)))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=os.path.join("tests", "fixtures", "open_vocab", "jaccard.json"))
    args = ap.parse_args()
    rng = np.random.default_rng(7)
    records = []
    by_classes: dict[int, list[float]] = {}
    for classes, gt, pred in cases(rng):
        # As the official loop: one metric object per run, forward per image.
        metric = JaccardIndex(task="multiclass", num_classes=classes)
        value = float(metric(torch.as_tensor(pred)[None], torch.as_tensor(gt)[None]))
        by_classes.setdefault(classes, []).append(value)
        records.append(
            {
                "classes": classes,
                "shape": list(gt.shape),
                "gt": gt.reshape(-1).tolist(),
                "pred": pred.reshape(-1).tolist(),
                "jaccard": value,
            }
        )
    # The run's number for the 21-class images, the official way (sum / count in float32 tensors
    # there; float64 here).
    mean21 = sum(by_classes[21]) / len(by_classes[21])
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump({"images": records, "mean_21": mean21}, f)
        f.write("\n")
    print(f"{len(records)} images → {args.out}")


if __name__ == "__main__":
    main()
