#!/usr/bin/env python3
"""The Python package against the official code, in one Python process, and ray_eval's throughput.

1. ``ncut``: ``diffcut.recursive_ncut`` and the official ``recursive_ncut`` + ``assemble_clusters``
   (PyTorch float32 on the CPU, read from the official repository at run time by
   benches/official/run_official.py's loader; never stored here) on the same smooth random fields
   ``[32, 32, 1280]`` (tests/reference/smooth_field.py, seeds 1-5), τ = 0.5, α = 10. Best of
   ``--repeat`` for the official code, best of 10 for ours; the partitions are compared.
2. ``ray``: ``python -m diffcut.ray_eval`` on a synthetic VOC-layout set (``--images`` photos of
   480×360 with a few coloured shapes, colour features, the protocol's PAMR), 1 and 2 workers on a
   local Ray instance, each run from an empty cache, beside ``diffcut eval`` (``DIFFCUT_BIN``) on
   the same set; images per second.

Usage:
    python3 benches/python/bench_python.py ncut --repo PATH/TO/DiffCut [--threads 2]
    DIFFCUT_BIN=target/release/diffcut python3 benches/python/bench_python.py ray [--images 96] [--grid 48]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "benches", "official"))
sys.path.insert(0, os.path.join(ROOT, "tests", "reference"))


def same_partition(a: np.ndarray, b: np.ndarray) -> float:
    """The fraction of cells whose segment maps one to one (1.0: identical up to renumbering)."""
    a, b = a.reshape(-1), b.reshape(-1)
    pairs = {}
    agree = 0
    for x, y in zip(a.tolist(), b.tolist()):
        pairs.setdefault(x, {}).setdefault(y, 0)
        pairs[x][y] += 1
    used = set()
    for x, ys in sorted(pairs.items(), key=lambda kv: -max(kv[1].values())):
        y, n = max(ys.items(), key=lambda kv: kv[1])
        if y not in used:
            used.add(y)
            agree += n
    return agree / len(a)


def bench_ncut(args) -> None:
    import torch

    import diffcut
    from run_official import load_official, official_ncut
    from smooth_field import smooth_field

    if args.threads:
        torch.set_num_threads(args.threads)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        mod, _ = load_official(args.repo, args.rev, "cpu", tmp)
        for seed in range(1, 6):
            f = smooth_field(32, 32, 1280, seed)
            official = []
            for _ in range(args.repeat):
                t = time.perf_counter()
                want, _ = official_ncut(mod, torch, f, 0.5, 10.0, "cpu")
                official.append(time.perf_counter() - t)
            ours = []
            for _ in range(10):
                t = time.perf_counter()
                got = diffcut.recursive_ncut(f, 0.5, 10.0)
                ours.append(time.perf_counter() - t)
            row = dict(field=f"32x32x1280 seed {seed}", official_ms=1e3 * min(official), ours_ms=1e3 * min(ours),
                       speedup=min(official) / min(ours), segments=[int(len(np.unique(want))), int(got.max()) + 1],
                       agreement=same_partition(want, got))
            rows.append(row)
            print(json.dumps(row), flush=True)
    print(f"\ntorch {torch.__version__}, {torch.get_num_threads()} threads; diffcut {diffcut.__version__}")
    print("| field | official | diffcut.recursive_ncut | speed-up | segments (official / ours) | partition |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        part = "identical" if r["agreement"] == 1.0 else f"{r['agreement']:.3f} of cells"
        print(f"| {r['field']} | {r['official_ms']:.0f} ms | {r['ours_ms']:.1f} ms | {r['speedup']:.0f}× | "
              f"{r['segments'][0]} / {r['segments'][1]} | {part} |")


def make_voc(root: str, n: int) -> None:
    from PIL import Image, ImageDraw

    base = os.path.join(root, "VOCdevkit", "VOC2012")
    for d in ("JPEGImages", "SegmentationClass", "ImageSets/Segmentation"):
        os.makedirs(os.path.join(base, d), exist_ok=True)
    rng = np.random.default_rng(0)
    names = []
    for i in range(n):
        name = f"2008_{i:06d}"
        img = Image.new("RGB", (480, 360), tuple(int(v) for v in rng.integers(0, 255, 3)))
        gt = Image.new("L", (480, 360), 0)
        for k in range(3):
            x0, y0 = int(rng.integers(0, 360)), int(rng.integers(0, 240))
            box = [x0, y0, x0 + int(rng.integers(60, 160)), y0 + int(rng.integers(60, 140))]
            colour = tuple(int(v) for v in rng.integers(0, 255, 3))
            (ImageDraw.Draw(img).ellipse if k % 2 else ImageDraw.Draw(img).rectangle)(box, fill=colour)
            (ImageDraw.Draw(gt).ellipse if k % 2 else ImageDraw.Draw(gt).rectangle)(box, fill=1 + (i + k) % 20)
        noisy = np.clip(np.asarray(img, np.int16) + rng.integers(-8, 9, (360, 480, 3)), 0, 255).astype(np.uint8)
        Image.fromarray(noisy).save(os.path.join(base, "JPEGImages", name + ".jpg"), quality=92)
        gt.save(os.path.join(base, "SegmentationClass", name + ".png"))
        names.append(name)
    with open(os.path.join(base, "ImageSets", "Segmentation", "val.txt"), "w") as f:
        f.write("\n".join(names) + "\n")


def bench_ray(args) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        make_voc(tmp, args.images)
        print(f"{args.images} synthetic VOC images (480×360), colour features grid {args.grid}, PAMR eval preset",
              flush=True)
        cli = os.environ.get("DIFFCUT_BIN")
        if cli:
            out = os.path.join(tmp, "cli.json")
            t = time.perf_counter()
            subprocess.run([cli, "eval", "--dataset", "voc", "--root", tmp, "--grid", str(args.grid), "--json", out],
                           check=True, capture_output=True)
            wall = time.perf_counter() - t
            r = json.load(open(out))
            print(json.dumps(dict(tool="diffcut eval", images=r["images"], wall_seconds=round(wall, 1),
                                  images_per_second=round(r["images"] / wall, 3), miou=r["miou"])), flush=True)
        for workers in (1, 2):
            out = os.path.join(tmp, f"ray{workers}.json")
            cmd = [sys.executable, "-m", "diffcut.ray_eval", "--dataset", "voc", "--root", tmp, "--out", out,
                   "--grid", str(args.grid),
                   "--workers", str(workers), "--batch-size", "2", "--cache", os.path.join(tmp, f"cache{workers}")]
            t = time.perf_counter()
            p = subprocess.run(cmd, capture_output=True, text=True)
            wall = time.perf_counter() - t
            if p.returncode:
                raise SystemExit(p.stderr)
            r = json.load(open(out))
            print(json.dumps(dict(workers=workers, images=r["images"], map_seconds=round(r["seconds"], 2),
                                  images_per_second=round(r["images_per_second"], 3), wall_seconds=round(wall, 1),
                                  miou=r["miou"])), flush=True)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="what", required=True)
    n = sub.add_parser("ncut")
    n.add_argument("--repo", required=True, help="official DiffCut checkout or git dir")
    n.add_argument("--rev", default="HEAD")
    n.add_argument("--repeat", type=int, default=3)
    n.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    r = sub.add_parser("ray")
    r.add_argument("--images", type=int, default=96)
    r.add_argument("--grid", type=int, default=48, help="colour feature grid (48: 2304 cells, ~0.3 s an image)")
    args = p.parse_args(argv)
    bench_ncut(args) if args.what == "ncut" else bench_ray(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
