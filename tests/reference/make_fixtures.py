#!/usr/bin/env python3
"""Regenerate the golden NCut fixtures in tests/fixtures/ncut/ with the float64 numpy reference.

For every case NAME this writes
  NAME.features.npy      float32 [H, W, C]  (smooth random field, see smooth_field.py, or blobs)
  NAME.labels.npy        int32   [H, W]     ncut_reference.py, quirk mode (faithful to official code)
  NAME.clean.labels.npy  int32   [H, W]     ncut_reference.py, clean mode (explicit index sets)
and a cases.json listing {name, kind, seed, tau, alpha, h, w, c, segments, clean_segments, ...}.
Labels are numbered by first occurrence in a row-major scan (see ncut_reference.py).

Determinism: every input comes from numpy.random.default_rng(seed). For each case the script tries
a few candidate seeds and keeps the one whose recursion is the most robust (largest minimum, over
both modes, of: |NCut − tau| over all evaluated regions; over accepted splits, the NCut gap between
the chosen partition and the best different one, and the distance of the nearest y to the chosen
threshold relative to the y range). The margins are stored in cases.json so that tests can judge how strict to be: an f32
implementation can legitimately flip a decision whose margin is ~1e-6.

Extra fields in cases.json:
  dropped_nodes            nodes removed below the root by the zero-as-marker quirk (docs/ALGORITHM.md §4.3)
  quirk_equals_clean       whether the two modes give the same partition
  f32_assemble_merges      whether float32 rounding in the official assemble step (docs/ALGORITHM.md §4.4)
                           merged distinct leaves in quirk mode (happens once the weights pass
                           2^24: after ~40 accepted splits on 32×32 smooth fields)
  quirk_labels_fragile     f32_assemble_merges and some accepted split has a coin-toss sign
                           (min_margins.sign_margin < 1e-6, e.g. a 2-node region): which leaves
                           merge then depends on rounding noise, so even the official code can
                           give another quirk partition; compare the clean labels instead

Usage:  python3 tests/reference/make_fixtures.py [--out tests/fixtures/ncut]
"""
from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ncut_reference import (  # noqa: E402
    ncut_labels, pattern_ids, renumber_row_major, same_partition, tree_json)
from smooth_field import smooth_field  # noqa: E402

# name, kind, (h, w, c), tau, alpha. "smooth" = smooth_field(sigma=3); "blobs" = blob_image.
CASES = [
    ("smooth_8x8x16_t0.5_a10", "smooth", (8, 8, 16), 0.5, 10.0),
    ("smooth_8x8x16_t1.2_a1", "smooth", (8, 8, 16), 1.2, 1.0),
    ("smooth_12x12x64_t0.2_a5", "smooth", (12, 12, 64), 0.2, 5.0),
    ("smooth_12x12x64_t0.5_a10", "smooth", (12, 12, 64), 0.5, 10.0),
    ("smooth_12x12x16_t0.8_a10", "smooth", (12, 12, 16), 0.8, 10.0),
    ("smooth_16x16x64_t0.2_a10", "smooth", (16, 16, 64), 0.2, 10.0),
    ("smooth_16x16x64_t0.8_a1", "smooth", (16, 16, 64), 0.8, 1.0),
    ("smooth_16x16x256_t0.5_a5", "smooth", (16, 16, 256), 0.5, 5.0),
    ("smooth_16x24x64_t0.5_a10", "smooth", (16, 24, 64), 0.5, 10.0),
    ("smooth_24x24x256_t0.2_a5", "smooth", (24, 24, 256), 0.2, 5.0),
    ("smooth_24x24x64_t0.5_a10", "smooth", (24, 24, 64), 0.5, 10.0),
    ("blobs_16x16x3_t0.5_a10", "blobs", (16, 16, 3), 0.5, 10.0),
]
CANDIDATE_SEEDS = range(1, 11)


def blob_image(h: int, w: int, seed: int, noise: float = 0.05) -> np.ndarray:
    """float32 [h, w, 3] 'colour image': three flat regions (background, a disc, a vertical band)
    with i.i.d. N(0, noise²) added per cell and channel. The obvious answer is 3 segments."""
    rng = np.random.default_rng(seed)
    colours = np.array([[0.9, 0.1, 0.1], [0.1, 0.8, 0.2], [0.15, 0.2, 0.9]])
    yy, xx = np.mgrid[0:h, 0:w]
    region = np.zeros((h, w), int)
    region[(yy - 0.6 * h) ** 2 + (xx - 0.35 * w) ** 2 < (0.25 * min(h, w)) ** 2] = 1
    region[:, int(0.75 * w):] = 2
    img = colours[region] + noise * rng.standard_normal((h, w, 3))
    return img.astype(np.float32)


def make_features(kind: str, shape: tuple, seed: int) -> np.ndarray:
    h, w, c = shape
    return smooth_field(h, w, c, seed) if kind == "smooth" else blob_image(h, w, seed)


def robustness(tree: dict) -> float:
    m = tree["min_margins"]
    vals = [v for k, v in m.items() if k not in ("eigen_gap", "sign_margin") and v is not None]
    return min(vals, default=float("inf"))


def merge_margins(a: dict, b: dict) -> dict:
    """Key-wise minimum of two min_margins dicts (None = no internal node), rounded to 3
    significant digits so that cases.json does not change with the BLAS build or thread count."""
    def r3(v):
        return None if v is None else float(f"{v:.3g}")
    return {k: r3(min((v for v in (a[k], b[k]) if v is not None), default=None)) for k in a}


def run_case(kind, shape, tau, alpha, seed):
    feats = make_features(kind, shape, seed)
    out = {}
    for quirk in (True, False):
        labels, res = ncut_labels(feats, tau, alpha, quirk)
        out[quirk] = (labels, res, tree_json(res, labels, tau, alpha, quirk))
    return feats, out


def main(argv=None) -> int:
    here = os.path.dirname(os.path.abspath(__file__))
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", default=os.path.join(here, "..", "fixtures", "ncut"))
    args = p.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)

    import warnings
    warnings.filterwarnings("ignore", category=RuntimeWarning)  # f32 assemble overflow, reported below

    cases = []
    print(f"{'name':28s} {'seed':>4s} {'quirk':>5s} {'clean':>5s} {'drop':>4s} {'q==c':>5s} "
          f"{'f32merge':>8s} {'robust':>9s}")
    for name, kind, shape, tau, alpha in CASES:
        best = None
        for seed in CANDIDATE_SEEDS:
            feats, out = run_case(kind, shape, tau, alpha, seed)
            score = min(robustness(out[True][2]), robustness(out[False][2]))
            if best is None or score > best[0]:
                best = (score, seed, feats, out)
        score, seed, feats, out = best
        (lq, rq, tq), (lc, _, tc) = out[True], out[False]
        h, w, c = shape
        exact_q = renumber_row_major(pattern_ids(rq.masks, h * w).reshape(h, w))
        entry = {
            "name": name, "kind": kind, "seed": seed, "tau": tau, "alpha": alpha,
            "h": h, "w": w, "c": c,
            "segments": int(lq.max()) + 1,
            "clean_segments": int(lc.max()) + 1,
            "accepted_splits": len(rq.masks),
            "dropped_nodes": tq["dropped_nodes"],
            "quirk_equals_clean": bool(same_partition(lq, lc)),
            "f32_assemble_merges": not bool(same_partition(lq, exact_q)),
            "quirk_labels_fragile": False,
            "min_margins": merge_margins(tq["min_margins"], tc["min_margins"]),
        }
        sm = entry["min_margins"]["sign_margin"]
        entry["quirk_labels_fragile"] = entry["f32_assemble_merges"] and sm is not None and sm < 1e-6
        np.save(os.path.join(args.out, f"{name}.features.npy"), feats)
        np.save(os.path.join(args.out, f"{name}.labels.npy"), lq)
        np.save(os.path.join(args.out, f"{name}.clean.labels.npy"), lc)
        cases.append(entry)
        print(f"{name:28s} {seed:4d} {entry['segments']:5d} {entry['clean_segments']:5d} "
              f"{len(entry['dropped_nodes']):4d} {str(entry['quirk_equals_clean']):>5s} "
              f"{str(entry['f32_assemble_merges']):>8s} {score:9.2e}", flush=True)

    with open(os.path.join(args.out, "cases.json"), "w") as f:
        json.dump(cases, f, indent=1)
        f.write("\n")
    total = sum(os.path.getsize(os.path.join(args.out, x)) for x in os.listdir(args.out))
    print(f"{len(cases)} cases, {total / 1e6:.2f} MB in {os.path.normpath(args.out)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
