#!/usr/bin/env python3
"""Independent float64 numpy reference for DiffCut's recursive Normalized Cut.

Written from the algorithm's description (docs/ALGORITHM.md, §3 and §4), not from the
official code. It is the oracle for the golden fixtures in tests/fixtures/ncut/.

Pipeline (docs/ALGORITHM.md section in brackets)
-------------------------------------------------
1. Affinity [§3]. Features f32 [H, W, C] are read, promoted to float64, and every token (row-major
   order, token index = y*W + x) is L2-normalised (norm clamped at 1e-12, like F.normalize).
   S = X Xᵀ (cosine similarities, N×N), S' = (S − min S) / (max S − min S) over the whole matrix,
   W = S'^alpha. Self-loops are kept (W_ii ≈ 1) and count towards degrees and associations.
2. Eigenproblem [§4.1]. For a sub-graph with affinity A (induced sub-matrix of W) and degrees
   d = A·1: L_sym = D^-1/2 (D − A) D^-1/2, dense `numpy.linalg.eigh`, u2 = eigenvector of the
   second-smallest eigenvalue, y = D^-1/2 u2. Sign: y is flipped so that its entry of largest |y|
   (first such index) is positive.
3. Split [§4.2]. thresholds = linspace(0.99·min y, 0.99·max y, 100), inclusive. Side "1" is y > θ.
   With x ∈ {−1, +1}, κ = Σ_{x>0} d / Σ d, b = κ/(1−κ), z = (1+x) − b(1−x),
   NCut = zᵀ(D−A)z / zᵀDz. The threshold with the smallest NCut wins (first one on exact ties).
   The split is accepted iff NCut_min < tau.
4. Recursion [§4.3]. Depth-first, pre-order: after an accepted split at a region R with side-1 set
   B, the mask B is appended to the accumulator, then the recursion visits B (the "1" side) and then
   R \\ B. A region with ≤ 1 node is a leaf; so is a region whose best NCut is ≥ tau. There is no
   minimum segment size and no maximum depth.
5. Labels [§4.4]. Every accepted mask is kept in pre-order. Each node's membership pattern over the
   masks is encoded as acc = Σ_k w_k·mask_k with w_1 = 1 and w_{k+1} = max(acc after k masks) + 1
   (super-increasing, so distinct patterns get distinct values); the segments are the distinct acc
   values. With no accepted split the whole grid is one segment. In exact arithmetic that is one
   segment per leaf; the official code does it in float32, and once the weights pass 2^24 (after
   ~40 accepted splits on 32×32 smooth fields) rounding merges distinct leaves into one label (and
   past 2^128 the sums overflow to inf/NaN). Quirk mode reproduces that rounding.

Two modes
---------
* quirk (default, faithful to the official code) — the "zero-as-marker" quirk of §4.3. The official
  code marks explored nodes by zeroing affinities and, at every level > 0, drops every node whose row
  of the (masked) affinity contains an exact 0. Rows of unexplored nodes only ever contain the zeros
  that were already in W, so the dropped set is fixed:
        Z = { i : W_ij == 0 for some j }   (tested in float32, see below)
  Z always contains the global minimum-similarity pair (exactly 0 after min-max) and any pair whose
  S'^alpha underflows. Because the official code runs in float32, Z is computed by redoing the
  affinity in float32 (normalise, X Xᵀ, min-max, power, all float32) and testing == 0; the
  float64 affinity is used for everything else.
  Z takes part in the root (level-0) split only; every region at level ≥ 1 excludes it. A dropped
  node therefore belongs to the root mask B0 if it lies on B0's side and to no other mask, and the
  assemble step of §4.4 gives it the label of the leaf with the same membership pattern:
    - dropped node on the root's "1" side  → pattern {B0} → the leaf reached from B0 by always
      taking the "0" side (the last leaf of B0's subtree in pre-order; B0's own leaf if B0 was not
      split);
    - dropped node on the root's "0" side  → pattern {}   → the leaf reached from the root by always
      taking the "0" side (the last leaf of the whole tree in pre-order).
  In quirk mode the labels are produced by exactly that assemble step, emulated in float32 as the
  official code does it (`acc += w*mask; w = max(acc) + 1`); a warning is printed if float32
  rounding ever merges two distinct membership patterns (it would in the official code too).
* clean (--clean) — explicit index sets: every node stays in the region its splits send it to; the
  labels are the leaves of the recursion tree (identical to the assemble rule with exact integers).

Label numbering convention (both modes): labels are renumbered 0..K-1 by first occurrence in a
row-major scan of the grid. Tests compare partitions up to relabelling anyway.

CLI
---
    python3 tests/reference/ncut_reference.py FEATURES.npy --tau 0.5 --alpha 10 --out LABELS.npy \
        [--clean] [--tree TREE.json]

The optional tree JSON lists every visited region (pre-order) with its size, depth, best NCut,
whether it was accepted, and robustness margins (distance of NCut to tau, gap to the best NCut of a
different partition, distance of the nearest y to the chosen threshold relative to the y range,
relative eigen-gap, sign_margin: see sign_margin()); "min_margins" takes |NCut − tau| over all evaluated regions and the others over
accepted splits only.
"""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field

import numpy as np

N_THRESHOLDS = 100  # docs/ALGORITHM.md §4.2
THRESHOLD_SHRINK = 0.99  # docs/ALGORITHM.md §4.2
NORM_EPS = 1e-12  # F.normalize's clamp


# --------------------------------------------------------------------------------------------- §3
def normalise_tokens(features: np.ndarray, dtype=np.float64) -> np.ndarray:
    """[H, W, C] features -> [N, C] L2-normalised tokens in row-major order (docs/ALGORITHM.md §3.1)."""
    h, w, c = features.shape
    x = features.reshape(h * w, c).astype(dtype)
    norm = np.sqrt(np.sum(x * x, axis=1, keepdims=True))
    return x / np.maximum(norm, dtype(NORM_EPS))


def affinity_f64(features: np.ndarray, alpha: float) -> np.ndarray:
    """W = minmax(X Xᵀ)^alpha in float64, self-loops kept (docs/ALGORITHM.md §3)."""
    x = normalise_tokens(features, np.float64)
    s = x @ x.T
    s = (s - s.min()) / (s.max() - s.min())
    return s ** float(alpha)


def zero_marker_nodes_f32(features: np.ndarray, alpha: float) -> np.ndarray:
    """Boolean [N]: nodes whose float32 affinity row contains an exact 0 (docs/ALGORITHM.md §4.3 quirk).

    Mirrors the official float32 arithmetic: tokens normalised twice in float32 (the official code
    normalises over channels, then again over dim 0 of the [C, N] matrix), S = X Xᵀ in float32,
    min-max in float32, then the float32 power. Only used for the == 0 test.
    """
    x = normalise_tokens(features, np.float32)
    x = x / np.maximum(np.sqrt(np.sum(x * x, axis=1, keepdims=True)), np.float32(NORM_EPS))
    s = x @ x.T
    s = (s - s.min()) / (s.max() - s.min())
    w = np.power(s, np.float32(alpha))
    return np.any(w == 0, axis=1)


# ------------------------------------------------------------------------------------------ §4.1
def fiedler_vector(a: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Generalised second eigenvector y = D^-1/2 u2 of the sub-graph A, sign-flipped (docs/ALGORITHM.md §4.1).

    Returns (y, degrees, relative eigen-gap (λ3 − λ2) / max(λ2, tiny), or inf for n = 2).
    """
    d = a.sum(axis=1)
    d_isqrt = 1.0 / np.sqrt(d)
    l_sym = (np.diag(d) - a) * d_isqrt[:, None] * d_isqrt[None, :]
    evals, evecs = np.linalg.eigh(l_sym)
    y = d_isqrt * evecs[:, 1]
    k = int(np.argmax(np.abs(y)))
    if y[k] < 0:
        y = -y
    gap = float("inf") if len(evals) < 3 else float((evals[2] - evals[1]) / max(abs(evals[1]), 1e-300))
    return y, d, gap


def sign_margin(y: np.ndarray) -> float:
    """How decisively the sign flip is determined: (max|y| − max|y_j| over entries of the opposite
    sign) / max|y|. ~1e-16 means the "1" side is a coin toss (e.g. any 2-node region with equal
    degrees); that changes only pre-order/numbering, and in quirk mode the float32 assemble
    rounding and the labels of dropped nodes, never the clean partition."""
    top = np.max(np.abs(y))
    other = np.abs(y[y < 0])
    return float((top - (other.max() if other.size else 0.0)) / top)


# ------------------------------------------------------------------------------------------ §4.2
def best_bipartition(y: np.ndarray, a: np.ndarray, d: np.ndarray) -> dict:
    """Scan the 100 thresholds and return the min-NCut split (docs/ALGORITHM.md §4.2) plus robustness margins."""
    thresholds = np.linspace(THRESHOLD_SHRINK * y.min(), THRESHOLD_SHRINK * y.max(), N_THRESHOLDS)
    part = y[:, None] > thresholds[None, :]  # [n, 100], True = side "1"
    x = 2.0 * part - 1.0
    kappa = (d @ part) / d.sum()
    b = kappa / (1.0 - kappa)
    z = (1.0 + x) - b[None, :] * (1.0 - x)
    lz = d[:, None] * z - a @ z  # (D − A) z
    ncuts = np.sum(z * lz, axis=0) / np.sum(d[:, None] * z * z, axis=0)
    best = int(np.argmin(ncuts))  # first occurrence on exact ties
    side1 = part[:, best]
    # Robustness: best NCut among thresholds giving a *different* partition.
    differs = np.any(part != side1[:, None], axis=0)
    runner_up = float(ncuts[differs].min()) if differs.any() else float("inf")
    theta = thresholds[best]
    return {
        "side1": side1,
        "ncut": float(ncuts[best]),
        "theta": float(theta),
        "runner_up_gap": runner_up - float(ncuts[best]),
        "theta_margin": float(np.min(np.abs(y - theta)) / (y.max() - y.min())),
    }


# ------------------------------------------------------------------------------------------ §4.3
@dataclass
class NCutResult:
    masks: list = field(default_factory=list)  # accepted side-1 masks, bool [N], pre-order
    leaves: list = field(default_factory=list)  # index arrays of the leaves, pre-order
    nodes: list = field(default_factory=list)  # tree records, pre-order
    dropped: np.ndarray | None = None  # bool [N], quirk mode only


def recursive_ncut(w: np.ndarray, tau: float, dropped: np.ndarray | None = None) -> NCutResult:
    """Depth-first pre-order recursive NCut on the dense affinity w (docs/ALGORITHM.md §4.3).

    `dropped` (bool [N]) enables the zero-as-marker quirk: those nodes are removed from every
    region below the root. None = clean mode.
    """
    n = w.shape[0]
    res = NCutResult(dropped=dropped)
    keep = np.ones(n, bool) if dropped is None else ~dropped
    # Explicit stack instead of Python recursion (the tree can be deeper than the recursion limit).
    # Entries: (region indices, depth, parent id). Pushing the "0" side first makes the "1" side,
    # and its whole subtree, be visited first: pre-order, "1" side first.
    stack = [(np.arange(n), 0, None)]
    while stack:
        region, depth, parent = stack.pop()
        rec = {"id": len(res.nodes), "parent": parent, "depth": depth, "size": int(len(region))}
        res.nodes.append(rec)
        if len(region) <= 1:
            rec["accepted"] = False
            res.leaves.append(region)
            continue
        a = w[np.ix_(region, region)]
        y, d, gap = fiedler_vector(a)
        split = best_bipartition(y, a, d)
        accepted = split["ncut"] < tau
        rec.update(
            ncut=split["ncut"],
            accepted=bool(accepted),
            tau_margin=abs(split["ncut"] - tau),
            runner_up_gap=split["runner_up_gap"],
            theta_margin=split["theta_margin"],
            eigen_gap=gap,
            sign_margin=sign_margin(y),
        )
        if not accepted:
            res.leaves.append(region)
            continue
        side1 = split["side1"]
        mask = np.zeros(n, bool)
        mask[region[side1]] = True
        res.masks.append(mask)
        rec["size1"] = int(side1.sum())
        ones, zeros = region[side1], region[~side1]
        # Quirk: below the root the zero-marker nodes are never part of a sub-graph.
        ones, zeros = ones[keep[ones]], zeros[keep[zeros]]
        stack.append((zeros, depth + 1, rec["id"]))
        stack.append((ones, depth + 1, rec["id"]))
    return res


# ------------------------------------------------------------------------------------------ §4.4
def assemble_f32(masks: list, n: int) -> np.ndarray:
    """Official assemble rule in float32: acc += w*mask; w = max(acc) + 1. Returns acc [N]."""
    acc = np.zeros(n, np.float32)
    w = np.float32(1.0)
    for m in masks:
        acc = acc + w * m.astype(np.float32)
        w = acc.max() + np.float32(1.0)
    return acc


def pattern_ids(masks: list, n: int) -> np.ndarray:
    """Exact segment ids = distinct membership patterns over the masks (no rounding)."""
    if not masks:
        return np.zeros(n, np.int64)
    _, inv = np.unique(np.stack(masks, axis=1), axis=0, return_inverse=True)
    return inv.reshape(-1)


def renumber_row_major(labels: np.ndarray) -> np.ndarray:
    """Relabel to 0..K-1 by order of first occurrence in a row-major scan."""
    flat = labels.reshape(-1)
    _, first, inv = np.unique(flat, return_index=True, return_inverse=True)
    rank = np.empty(len(first), np.int64)
    rank[np.argsort(first)] = np.arange(len(first))
    return rank[inv.reshape(-1)].reshape(labels.shape).astype(np.int32)


def same_partition(a: np.ndarray, b: np.ndarray) -> bool:
    return np.array_equal(renumber_row_major(a), renumber_row_major(b))


# ------------------------------------------------------------------------------------------ driver
def ncut_labels(features: np.ndarray, tau: float, alpha: float, quirk: bool = True):
    """Run the whole §3-§4 pipeline. Returns (labels int32 [H, W], NCutResult)."""
    h, w_, _ = features.shape
    n = h * w_
    w = affinity_f64(features, alpha)
    dropped = zero_marker_nodes_f32(features, alpha) if quirk else None
    res = recursive_ncut(w, tau, dropped)
    exact = pattern_ids(res.masks, n)
    if quirk:
        acc = assemble_f32(res.masks, n)
        if not same_partition(acc, exact):
            print("warning: float32 assemble merged distinct membership patterns "
                  "(the official code would too); using the float32 result", file=sys.stderr)
        labels = acc
    else:
        labels = np.empty(n, np.int64)
        for i, leaf in enumerate(res.leaves):
            labels[leaf] = i
        assert same_partition(labels, exact), "leaves and mask patterns disagree"
    return renumber_row_major(labels.reshape(h, w_)), res


def tree_json(res: NCutResult, labels: np.ndarray, tau: float, alpha: float, quirk: bool) -> dict:
    # |NCut - tau| matters at every evaluated region; the other margins only where the split was
    # accepted (a rejected region's partition is thrown away).
    internal = [r for r in res.nodes if "ncut" in r]
    accepted = [r for r in internal if r["accepted"]]
    margins = {"tau_margin": min((r["tau_margin"] for r in internal), default=float("inf"))}
    margins.update({k: min((r[k] for r in accepted), default=float("inf"))
                    for k in ("runner_up_gap", "theta_margin", "eigen_gap", "sign_margin")})
    return {
        "tau": tau, "alpha": alpha, "mode": "quirk" if quirk else "clean",
        "segments": int(labels.max()) + 1,
        "accepted_splits": len(res.masks),
        "dropped_nodes": [] if res.dropped is None else np.flatnonzero(res.dropped).tolist(),
        "min_margins": {k: (None if v == float("inf") else v) for k, v in margins.items()},
        "nodes": res.nodes,
    }


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("features", help="float32 .npy [H, W, C]")
    p.add_argument("--tau", type=float, default=0.5)
    p.add_argument("--alpha", type=float, default=10.0)
    p.add_argument("--out", required=True, help="output labels .npy (int32 [H, W])")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--quirk", dest="quirk", action="store_true", default=True,
                   help="faithful zero-as-marker mode (default)")
    g.add_argument("--clean", dest="quirk", action="store_false", help="explicit index sets")
    p.add_argument("--tree", help="optional JSON dump of the segment tree")
    args = p.parse_args(argv)

    feats = np.load(args.features)
    if feats.ndim != 3:
        p.error(f"expected [H, W, C] features, got shape {feats.shape}")
    labels, res = ncut_labels(feats, args.tau, args.alpha, args.quirk)
    np.save(args.out, labels)
    if args.tree:
        with open(args.tree, "w") as f:
            json.dump(tree_json(res, labels, args.tau, args.alpha, args.quirk), f, indent=1)
    print(json.dumps({"file": args.features, "segments": int(labels.max()) + 1,
                      "accepted_splits": len(res.masks),
                      "dropped_nodes": 0 if res.dropped is None else int(res.dropped.sum())}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
