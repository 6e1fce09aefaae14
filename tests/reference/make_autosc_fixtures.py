#!/usr/bin/env python3
"""Labels of the *official* AutoSC (``diffcut/autosc.py``) for tests/autosc.rs.

Runs the official code itself (PyTorch float32 ``torch.linalg.eigh``, SciPy's pivoted QR and SVD,
CPU): ``DiffCut_AutoSC().ncut`` read from the repository the user points at, unpatched
(benches/official/run_official.py's loader; no official code is stored here). Its input is built
as the official ``generate_masks`` builds it: float32 features ``[H, W, C]`` → ``[1, C, H, W]``,
``F.normalize`` over channels, reshaped to ``[C, H·W]``; ``dims=(H, W)``.

Two kinds of grids:
- the golden NCut fixtures' features (tests/fixtures/ncut/, smooth random fields and blobs, made
  by this project);
- grids this project did not design: raw pixel patches of the sample photos (samples/), each
  photo squashed to ``32·p`` px with PIL's bicubic filter and cut into a 32×32 grid of p×p RGB
  patches (C = 3p²), each value minus the photo's mean of that channel (so that cosines spread
  over [−1, 1] as diffusion features' do; uncentred, a black patch is a zero vector whose degree is
  0, and the official code returns NaN eigenvalues and raises), written beside the labels as
  ``<name>.features.npy``.

Writes tests/fixtures/autosc/<name>.labels.npy (int32 [H, W], the official labels as they come,
cluster_qr's column indices) and cases.json (the cases, their feature files, the versions).

Usage:
    python3 tests/reference/make_autosc_fixtures.py --repo PATH/TO/DiffCut
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "benches", "official"))

from run_official import load_official_autosc  # noqa: E402

NCUT_FIXTURES = os.path.join("tests", "fixtures", "ncut")
OUT = os.path.join("tests", "fixtures", "autosc")
PHOTOS = [("astronaut", 4), ("chelsea", 4), ("coffee", 4), ("rocket", 3)]  # (sample, patch px)


def photo_patches(name: str, p: int) -> np.ndarray:
    from PIL import Image

    img = Image.open(os.path.join(ROOT, "samples", f"{name}.jpg")).convert("RGB")
    img = img.resize((32 * p, 32 * p), Image.BICUBIC)
    a = np.asarray(img, np.float32) / 255.0  # [32p, 32p, 3]
    a = a - a.mean(axis=(0, 1))
    a = a.reshape(32, p, 32, p, 3).transpose(0, 2, 1, 3, 4).reshape(32, 32, p * p * 3)
    return np.ascontiguousarray(a, np.float32)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--repo", required=True, help="official DiffCut checkout or git dir")
    p.add_argument("--rev", default="HEAD", help="revision when --repo is a git dir")
    args = p.parse_args(argv)

    import scipy
    import torch
    import torch.nn.functional as F

    torch.set_num_threads(1)  # LAPACK's results do not then depend on the machine's cores
    os.makedirs(os.path.join(ROOT, OUT), exist_ok=True)
    cases = []
    inputs = []
    for f in sorted(os.listdir(os.path.join(ROOT, NCUT_FIXTURES))):
        if f.endswith(".features.npy"):
            inputs.append((f[: -len(".features.npy")], os.path.join(NCUT_FIXTURES, f), None))
    for name, patch in PHOTOS:
        feats = photo_patches(name, patch)
        path = os.path.join(OUT, f"photo_{name}_32x32x{feats.shape[2]}.features.npy")
        inputs.append((f"photo_{name}", path, feats))

    with tempfile.TemporaryDirectory() as work:
        mod = load_official_autosc(args.repo, args.rev, work)
        for name, path, feats in inputs:
            if feats is None:
                feats = np.load(os.path.join(ROOT, path))
            else:
                np.save(os.path.join(ROOT, path), feats)
            h, w, c = feats.shape
            x = torch.from_numpy(feats).reshape(1, h, w, c).permute(0, 3, 1, 2).to(torch.float32)
            x = F.normalize(x, dim=1).reshape(c, h * w)
            labels = np.asarray(mod.DiffCut_AutoSC().ncut(x, dims=(h, w)), np.int32)
            out = os.path.join(OUT, f"{name}.labels.npy")
            np.save(os.path.join(ROOT, out), labels)
            used = len(np.unique(labels))
            cases.append(dict(name=name, features=path, labels=out, grid=[h, w], channels=c,
                              segments=used))
            print(f"{name}: [{h}, {w}, {c}] → {used} segments (labels up to {labels.max()})")

    meta = dict(
        generator="tests/reference/make_autosc_fixtures.py",
        official_file="diffcut/autosc.py",
        versions=dict(torch=torch.__version__, scipy=scipy.__version__, numpy=np.__version__),
        cases=cases,
    )
    with open(os.path.join(ROOT, OUT, "cases.json"), "w") as f:
        json.dump(meta, f, indent=1)
        f.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
