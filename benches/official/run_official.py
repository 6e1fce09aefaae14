#!/usr/bin/env python3
"""Run the *official* DiffCut recursive NCut (PyTorch, float32) on feature files, for comparison.

No official code is stored in this repository. At run time this script reads
`diffcut/recursive_normalized_cut.py` and `tools/utils.py` from the repository the user points at
(--repo: a checkout, or a git directory such as a bare clone, read with `git show REV:PATH`), writes
them into a temporary directory, patches the copy textually so that the hard-coded device string
"cuda" becomes a module variable (set from --device), imports it and runs
`DiffCut().recursive_ncut` followed by `DiffCut().assemble_clusters`, i.e. the clustering part of
the official `generate_masks` (docs/ALGORITHM.md §4), *without* its later up-sampling / argmax re-assignment
(docs/ALGORITHM.md §5) — so the output is the recursive-NCut partition itself at grid resolution.

The glue reproduces what `generate_masks` does before calling `recursive_ncut`: float32 features
[H, W, C] -> [1, C, H, W], F.normalize over channels, reshape to [C, H*W] (row-major tokens).
One deliberate difference: `dims=(H, W)` is passed (the official code passes (h, h), which only
works for square grids; for square grids it is identical).

Outputs DIR/<stem>.labels.npy (int32 [H, W], renumbered by first occurrence in a row-major scan,
the project's convention) and prints one JSON line per file: best-of-N wall time of
recursive_ncut + assemble_clusters, segment count, number of accepted splits.

Usage:
    python3 benches/official/run_official.py --repo PATH F1.npy [F2.npy ...] \
        --tau 0.5 --alpha 10 --device cpu --out-dir DIR [--repeat 3] [--threads N] [--rev HEAD]
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

FILES = {"ncut": "diffcut/recursive_normalized_cut.py", "utils": "tools/utils.py",
         "autosc": "diffcut/autosc.py"}
DEVICE_VAR = "_RUN_OFFICIAL_DEVICE"


def read_official(repo: str, path: str, rev: str) -> str:
    """Source text of `path` from a checkout (plain file) or a git directory (git show)."""
    plain = os.path.join(repo, path)
    if os.path.isfile(plain):
        with open(plain) as f:
            return f.read()
    return subprocess.run(["git", f"--git-dir={repo}", "show", f"{rev}:{path}"],
                          check=True, capture_output=True, text=True).stdout


def load_official(repo: str, rev: str, device: str, workdir: str):
    """Materialise the patched official module under workdir and import it."""
    os.makedirs(os.path.join(workdir, "tools"), exist_ok=True)
    with open(os.path.join(workdir, "tools", "__init__.py"), "w"):
        pass
    with open(os.path.join(workdir, "tools", "utils.py"), "w") as f:
        f.write(read_official(repo, FILES["utils"], rev))
    src = read_official(repo, FILES["ncut"], rev)
    n = src.count('"cuda"')
    if n == 0:
        raise RuntimeError("no \"cuda\" literal found: the official file changed, check the patch")
    # Replace the literal with a module-level name; define it at the end of the file so that line
    # numbers in tracebacks still match the official source (globals resolve at call time).
    src = src.replace('"cuda"', DEVICE_VAR) + f"\n{DEVICE_VAR} = {device!r}\n"
    path = os.path.join(workdir, "official_recursive_normalized_cut.py")
    with open(path, "w") as f:
        f.write(src)
    sys.path.insert(0, workdir)  # for `from tools.utils import MaskPooling`
    spec = importlib.util.spec_from_file_location("official_recursive_normalized_cut", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod, n


def load_official_autosc(repo: str, rev: str, workdir: str):
    """Materialise the official AutoSC module (diffcut/autosc.py, unpatched: its `ncut` runs on
    the device of its input) under workdir and import it."""
    os.makedirs(os.path.join(workdir, "tools"), exist_ok=True)
    with open(os.path.join(workdir, "tools", "__init__.py"), "w"):
        pass
    with open(os.path.join(workdir, "tools", "utils.py"), "w") as f:
        f.write(read_official(repo, FILES["utils"], rev))
    path = os.path.join(workdir, "official_autosc.py")
    with open(path, "w") as f:
        f.write(read_official(repo, FILES["autosc"], rev))
    sys.path.insert(0, workdir)
    spec = importlib.util.spec_from_file_location("official_autosc", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def renumber_row_major(labels: np.ndarray) -> np.ndarray:
    flat = labels.reshape(-1)
    _, first, inv = np.unique(flat, return_index=True, return_inverse=True)
    rank = np.empty(len(first), np.int64)
    rank[np.argsort(first)] = np.arange(len(first))
    return rank[inv.reshape(-1)].reshape(labels.shape).astype(np.int32)


def official_ncut(mod, torch, feats: np.ndarray, tau: float, alpha: float, device: str):
    """recursive_ncut + assemble_clusters on float32 features [H, W, C]; returns (labels, splits)."""
    import torch.nn.functional as F
    h, w, c = feats.shape
    x = torch.from_numpy(np.ascontiguousarray(feats, np.float32)).to(device)
    x = x.reshape(1, h, w, c).permute(0, 3, 1, 2).to(torch.float32)
    x = F.normalize(x, dim=1).reshape(c, h * w)
    dc = mod.DiffCut()
    clusters = dc.recursive_ncut(x, tau=tau, dims=(h, w), alpha=alpha)
    splits = len(clusters)
    if splits == 0:
        clusters.append(torch.zeros((h, w), device=device))
    labels = dc.assemble_clusters(clusters, h, w)
    return labels.cpu().numpy(), splits


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("features", nargs="+", help="float32 .npy [H, W, C]")
    p.add_argument("--repo", required=True, help="official DiffCut checkout or git dir")
    p.add_argument("--rev", default="HEAD", help="revision when --repo is a git dir")
    p.add_argument("--tau", type=float, default=0.5)
    p.add_argument("--alpha", type=float, default=10.0)
    p.add_argument("--device", default="cpu")
    p.add_argument("--out-dir", required=True)
    p.add_argument("--repeat", type=int, default=3, help="timing: best of N runs")
    p.add_argument("--threads", type=int, default=0, help="torch.set_num_threads (0 = default)")
    args = p.parse_args(argv)

    import torch
    if args.threads:
        torch.set_num_threads(args.threads)
    os.makedirs(args.out_dir, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="diffcut_official_") as tmp:
        mod, n_patched = load_official(args.repo, args.rev, args.device, tmp)
        print(json.dumps({"official": args.repo, "rev": args.rev, "device": args.device,
                          "patched_cuda_literals": n_patched, "torch": torch.__version__,
                          "threads": torch.get_num_threads()}), flush=True)
        for path in args.features:
            feats = np.load(path)
            times = []
            for _ in range(max(1, args.repeat)):
                t0 = time.perf_counter()
                labels, splits = official_ncut(mod, torch, feats, args.tau, args.alpha, args.device)
                if args.device.startswith("cuda"):
                    torch.cuda.synchronize()
                times.append(time.perf_counter() - t0)
            labels = renumber_row_major(labels)
            stem = os.path.basename(path)
            stem = stem[:-len(".npy")] if stem.endswith(".npy") else stem
            stem = stem[:-len(".features")] if stem.endswith(".features") else stem
            out = os.path.join(args.out_dir, f"{stem}.labels.npy")
            np.save(out, labels)
            print(json.dumps({"file": path, "h": feats.shape[0], "w": feats.shape[1],
                              "c": feats.shape[2], "tau": args.tau, "alpha": args.alpha,
                              "segments": int(labels.max()) + 1, "accepted_splits": splits,
                              "best_s": round(min(times), 4),
                              "all_s": [round(t, 4) for t in times], "out": out}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
