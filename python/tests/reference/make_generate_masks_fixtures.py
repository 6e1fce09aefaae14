#!/usr/bin/env python3
"""Outputs of the *official* ``DiffCut.generate_masks`` for python/tests/test_generate_masks.py.

Runs the official code itself (PyTorch, float32, CPU): ``diffcut/recursive_normalized_cut.py`` and
``tools/utils.py`` read from the repository the user points at, patched only so that the hard-coded
device "cuda" becomes "cpu" (benches/official/run_official.py's loader; no official code is stored
here). Inputs are the golden NCut fixtures' features (tests/fixtures/ncut/, square grids, chosen
among the cases whose decisions have a safe float32 margin), passed as the official pipeline
passes them: a float32 tensor ``[1, s², C]`` with ``s = img_size / 32``.

Writes python/tests/fixtures/generate_masks.npz (one int16 array per case: the official output
``[1, 1, H, W]``, whose values are < 2^15) and generate_masks.json (the cases and the versions).

Usage:
    python3 python/tests/reference/make_generate_masks_fixtures.py --repo PATH/TO/DiffCut
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "benches", "official"))

from run_official import load_official  # noqa: E402

NCUT_FIXTURES = os.path.join(ROOT, "tests", "fixtures", "ncut")
OUT = os.path.join(HERE, "..", "fixtures")

# name, features fixture, tau, alpha, mask_size; `masks_from` = pass the official labels of that
# fixture (float32, as assemble_clusters returns them) as `masks=`.
CASES = [
    dict(name="smooth8_t05", features="smooth_8x8x16_t0.5_a10", tau=0.5, alpha=10, mask_size=[64, 64]),
    dict(name="smooth12_t05_nonsquare", features="smooth_12x12x64_t0.5_a10", tau=0.5, alpha=10, mask_size=[96, 80]),
    dict(name="smooth16_t02", features="smooth_16x16x64_t0.2_a10", tau=0.2, alpha=10, mask_size=[128, 128]),
    dict(name="smooth16_t08_a1", features="smooth_16x16x64_t0.8_a1", tau=0.8, alpha=1, mask_size=[128, 128]),
    dict(name="smooth24_t05", features="smooth_24x24x64_t0.5_a10", tau=0.5, alpha=10, mask_size=[128, 128]),
    dict(name="blobs16_t05", features="blobs_16x16x3_t0.5_a10", tau=0.5, alpha=10, mask_size=[128, 128]),
    dict(name="smooth24_given_masks", features="smooth_24x24x64_t0.5_a10", tau=0.5, alpha=10,
         mask_size=[100, 100], masks_from="smooth_24x24x64_t0.5_a10"),
]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--repo", required=True, help="official DiffCut checkout or git dir")
    p.add_argument("--rev", default="HEAD", help="revision when --repo is a git dir")
    args = p.parse_args(argv)

    import torch
    import torch.nn.functional as F

    torch.manual_seed(0)
    arrays = {}
    with tempfile.TemporaryDirectory(prefix="diffcut_official_") as tmp:
        mod, _ = load_official(args.repo, args.rev, "cpu", tmp)
        for case in CASES:
            feats = np.load(os.path.join(NCUT_FIXTURES, case["features"] + ".features.npy"))
            s, s2, c = feats.shape
            assert s == s2, "generate_masks takes square grids"
            img_size = 32 * s
            x = torch.from_numpy(np.ascontiguousarray(feats, np.float32)).reshape(1, s * s, c)
            masks = None
            if "masks_from" in case:
                g = np.load(os.path.join(NCUT_FIXTURES, case["masks_from"] + ".features.npy"))
                gx = F.normalize(torch.from_numpy(g).reshape(1, s, s, -1).permute(0, 3, 1, 2), dim=1)
                dc = mod.DiffCut()
                clusters = dc.recursive_ncut(gx.reshape(-1, s * s), tau=0.3, dims=(s, s), alpha=10)
                masks = dc.assemble_clusters(clusters, s, s)[None, None] * 2.5  # float ids, any values
                arrays[case["name"] + ".masks_in"] = masks.numpy().astype(np.float32)
            out = mod.DiffCut().generate_masks(
                x, tau=case["tau"], mask_size=tuple(case["mask_size"]), masks=masks,
                alpha=case["alpha"], img_size=img_size)
            assert out.shape == (1, 1, *case["mask_size"]) and out.max() < 2 ** 15
            arrays[case["name"]] = out.astype(np.int16)
            case.update(img_size=img_size, segments=int(len(np.unique(out))), dtype=str(out.dtype))
            print(json.dumps(case), flush=True)
    os.makedirs(OUT, exist_ok=True)
    np.savez_compressed(os.path.join(OUT, "generate_masks.npz"), **arrays)
    with open(os.path.join(OUT, "generate_masks.json"), "w") as f:
        json.dump({"official_rev": args.rev, "torch": torch.__version__, "numpy": np.__version__,
                   "cases": CASES}, f, indent=1)
        f.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
