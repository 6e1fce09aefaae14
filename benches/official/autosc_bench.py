#!/usr/bin/env python3
"""AutoSC side by side: `diffcut ncut --method autosc` against the official `diffcut/autosc.py`.

For each grid side S in --sides, a feature grid [S, S, C] is made from a sample photo's pixel
patches (as tests/reference/make_autosc_fixtures.py makes its photo grids: the photo squashed to
S·p px, p×p RGB patches, centred on the photo's mean), written to --out-dir, and clustered by both:
the official code in PyTorch float32 (``DiffCut_AutoSC().ncut``, torch threads = --threads) and the
CLI (``--bench N``: the best wall time of N runs of the clustering, no file I/O). Prints one JSON line
per grid: both times, both segment counts, and the fraction of cells that agree after matching
clusters (Hungarian, SciPy).

Usage:
    python3 benches/official/autosc_bench.py --repo PATH/TO/DiffCut --diffcut target/release/diffcut \
        --out-dir WORK [--sides 32 48 64] [--photo astronaut] [--threads 2] [--repeat 3]
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, HERE)

from run_official import load_official_autosc  # noqa: E402


def patches(photo: str, side: int, p: int) -> np.ndarray:
    from PIL import Image

    img = Image.open(os.path.join(ROOT, "samples", f"{photo}.jpg")).convert("RGB")
    a = np.asarray(img.resize((side * p, side * p), Image.BICUBIC), np.float32) / 255.0
    a = a - a.mean(axis=(0, 1))
    a = a.reshape(side, p, side, p, 3).transpose(0, 2, 1, 3, 4).reshape(side, side, p * p * 3)
    return np.ascontiguousarray(a, np.float32)


def agreement(a: np.ndarray, b: np.ndarray) -> float:
    from scipy.optimize import linear_sum_assignment

    _, a = np.unique(a.reshape(-1), return_inverse=True)
    _, b = np.unique(b.reshape(-1), return_inverse=True)
    table = np.zeros((a.max() + 1, b.max() + 1))
    np.add.at(table, (a, b), 1)
    r, c = linear_sum_assignment(-table)
    return float(table[r, c].sum() / a.size)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--repo", required=True)
    p.add_argument("--rev", default="HEAD")
    p.add_argument("--diffcut", required=True, help="the diffcut binary")
    p.add_argument("--out-dir", required=True)
    p.add_argument("--sides", type=int, nargs="+", default=[32, 48, 64])
    p.add_argument("--photo", default="astronaut")
    p.add_argument("--patch", type=int, default=4)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeat", type=int, default=3)
    args = p.parse_args(argv)

    import torch
    import torch.nn.functional as F

    torch.set_num_threads(args.threads)
    os.makedirs(args.out_dir, exist_ok=True)
    with tempfile.TemporaryDirectory() as work:
        mod = load_official_autosc(args.repo, args.rev, work)
        for side in args.sides:
            feats = patches(args.photo, side, args.patch)
            path = os.path.join(args.out_dir, f"{args.photo}_{side}.npy")
            np.save(path, feats)
            h, w, c = feats.shape
            x = torch.from_numpy(feats).reshape(1, h, w, c).permute(0, 3, 1, 2)
            x = F.normalize(x, dim=1).reshape(c, h * w)
            best = float("inf")
            for _ in range(args.repeat):
                t = time.perf_counter()
                official = np.asarray(mod.DiffCut_AutoSC().ncut(x, dims=(h, w)))
                best = min(best, time.perf_counter() - t)
            out = os.path.join(args.out_dir, f"{args.photo}_{side}.labels.npy")
            run = subprocess.run([args.diffcut, "ncut", path, "--method", "autosc", "--out", out,
                                  "--bench", str(args.repeat)], check=True, capture_output=True, text=True)
            ms = float(re.search(r"best of \d+: ([0-9.]+) ms", run.stderr).group(1))
            ours = np.load(out)
            print(json.dumps(dict(grid=f"{side}x{side}x{c}", official_ms=round(best * 1e3, 1),
                                  diffcut_ms=round(ms, 1), speedup=round(best * 1e3 / ms, 2),
                                  official_segments=int(len(np.unique(official))),
                                  diffcut_segments=int(len(np.unique(ours))),
                                  agreement=round(agreement(ours, official), 4))), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
