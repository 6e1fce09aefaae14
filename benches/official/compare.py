#!/usr/bin/env python3
"""Compare two segmentations up to relabelling.

For two int label maps of the same shape:
  agreement  = fraction of cells that agree after the best one-to-one matching of labels
               (Hungarian: scipy.optimize.linear_sum_assignment on the contingency table,
               maximising matched cells; unmatched labels count as disagreement);
  identical  = true iff the two partitions are the same up to relabelling
               (every label of A maps to exactly one label of B and vice versa).

Usage:
    python3 benches/official/compare.py A.labels.npy B.labels.npy
    python3 benches/official/compare.py DIR_A DIR_B [--suffix .labels.npy]
In directory mode every file DIR_A/*SUFFIX that also exists in DIR_B is compared; one JSON line per
pair, then a summary line.
"""
from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np
from scipy.optimize import linear_sum_assignment


def compare(a: np.ndarray, b: np.ndarray) -> dict:
    """Agreement after the best one-to-one relabelling, and exact identity up to relabelling."""
    if a.shape != b.shape:
        raise ValueError(f"shape mismatch {a.shape} vs {b.shape}")
    ua, ia = np.unique(a.reshape(-1), return_inverse=True)
    ub, ib = np.unique(b.reshape(-1), return_inverse=True)
    table = np.zeros((len(ua), len(ub)), np.int64)
    np.add.at(table, (ia.reshape(-1), ib.reshape(-1)), 1)
    rows, cols = linear_sum_assignment(table, maximize=True)
    matched = int(table[rows, cols].sum())
    nonzero = table > 0
    identical = bool(len(ua) == len(ub) and np.all(nonzero.sum(0) == 1) and np.all(nonzero.sum(1) == 1))
    return {"cells": int(a.size), "segments_a": len(ua), "segments_b": len(ub),
            "agreement": matched / a.size, "cells_differing": int(a.size - matched),
            "identical": identical}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("a")
    p.add_argument("b")
    p.add_argument("--suffix", default=".labels.npy", help="directory mode: file name suffix")
    args = p.parse_args(argv)
    if os.path.isdir(args.a) and os.path.isdir(args.b):
        names = sorted(n for n in os.listdir(args.a)
                       if n.endswith(args.suffix) and os.path.isfile(os.path.join(args.b, n)))
        if not names:
            print(f"no common *{args.suffix} files", file=sys.stderr)
            return 1
        results = []
        for n in names:
            r = {"name": n, **compare(np.load(os.path.join(args.a, n)), np.load(os.path.join(args.b, n)))}
            results.append(r)
            print(json.dumps(r))
        print(json.dumps({"summary": True, "files": len(results),
                          "identical": sum(r["identical"] for r in results),
                          "mean_agreement": float(np.mean([r["agreement"] for r in results])),
                          "min_agreement": float(min(r["agreement"] for r in results))}))
    else:
        print(json.dumps({"a": args.a, "b": args.b, **compare(np.load(args.a), np.load(args.b))}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
