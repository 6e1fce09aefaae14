#!/usr/bin/env python3
"""Scores `diffcut segment` (the default, and any variants) beside scikit-image's SLIC + RAG
normalized cut on the scenes of make_scenes.py, with `diffcut miou` (per-image Hungarian
matching, DiffCut's protocol), and prints one table.

Usage:
  python run.py SCENES WORK [--diffcut PATH] [--variant NAME='--tau 0.9 --alpha 10' ...]
                [--families shapes mosaic] [--jobs 2]

SCENES is the folder make_scenes.py wrote; WORK receives the predictions (WORK/<family>/<method>/).
`default` is `diffcut segment IMG --out MASK` with no flags. The SLIC + NCut anchor follows
scikit-image's gallery example "Normalized Cut" (slic compactness 30, n_segments 400,
rag_mean_color mode='similarity', cut_normalized), seeded.
"""

import argparse
import concurrent.futures as cf
import json
import os
import shlex
import subprocess
import sys
import time

import numpy as np
from PIL import Image

IGNORE = 255  # ground truth's "not labelled" (the photos' VOC border band)


def classes(gt_dir):
    """Labels run 0..K-1 in every ground truth: the family's largest K."""
    return max(int(np.max(np.where(g == IGNORE, 0, g))) for g in
               (np.asarray(Image.open(os.path.join(gt_dir, n))) for n in os.listdir(gt_dir))) + 1


def slic_ncut(src, dst):
    from skimage import graph, segmentation
    img = np.asarray(Image.open(src).convert("RGB"))
    labels1 = segmentation.slic(img, compactness=30, n_segments=400, start_label=1)
    # cut_normalized's ARPACK call fails on some graphs ("Starting vector is zero"); the next
    # seed is tried then (seeds 0, 1, 2), and the SLIC superpixels themselves are scored if all fail.
    for seed in range(3):
        g = graph.rag_mean_color(img, labels1, mode="similarity")
        try:
            labels2 = graph.cut_normalized(labels1, g, rng=seed)
            break
        except Exception as e:  # scipy.sparse.linalg.ArpackError
            print(f"{src}: cut_normalized seed {seed}: {e}", file=sys.stderr)
    else:
        labels2 = labels1
    _, labels2 = np.unique(labels2, return_inverse=True)
    labels2 = labels2.reshape(img.shape[:2])
    Image.fromarray(labels2.astype(np.uint16 if labels2.max() > 255 else np.uint8)).save(dst)
    return int(labels2.max()) + 1


def run_diffcut(diffcut, args, src, dst):
    cmd = [diffcut, "segment", src, "--out", dst] + args
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}: {r.stderr.strip()}")
    return int(np.asarray(Image.open(dst)).max()) + 1


def miou(diffcut, gt, pred):
    out = pred.rstrip("/") + ".json"
    r = subprocess.run([diffcut, "miou", "--gt", gt, "--pred", pred, "--classes", str(classes(gt)),
                        "--ignore", str(IGNORE), "--json", out],
                       capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(r.stderr)
    with open(out) as f:
        j = json.load(f)
    return j["miou"], j["pixel_accuracy"]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("scenes")
    ap.add_argument("work")
    ap.add_argument("--diffcut", default="diffcut")
    ap.add_argument("--variant", action="append", default=[], help="NAME='FLAGS' for diffcut segment")
    ap.add_argument("--families", nargs="+", default=["shapes", "mosaic"])
    ap.add_argument("--no-slic", action="store_true", help="skip the SLIC + NCut anchor")
    ap.add_argument("--no-default", action="store_true", help="skip diffcut's default")
    ap.add_argument("--jobs", type=int, default=2)
    a = ap.parse_args()

    methods = ([] if a.no_default else [("default", [])]) + [(v.split("=", 1)[0], shlex.split(v.split("=", 1)[1])) for v in a.variant]
    rows = []
    for fam in a.families:
        img_dir, gt_dir = os.path.join(a.scenes, fam, "images"), os.path.join(a.scenes, fam, "gt")
        names = sorted(os.listdir(img_dir))
        todo = [(m, flags) for m, flags in methods] + ([] if a.no_slic else [("slic+rag-ncut", None)])
        for m, flags in todo:
            pred = os.path.join(a.work, fam, m)
            os.makedirs(pred, exist_ok=True)
            t = time.time()
            with cf.ThreadPoolExecutor(a.jobs) as ex:
                futs = [ex.submit(slic_ncut if flags is None else run_diffcut, *(
                    (os.path.join(img_dir, n), os.path.join(pred, n)) if flags is None
                    else (a.diffcut, flags, os.path.join(img_dir, n), os.path.join(pred, n)))) for n in names]
                segs = [f.result() for f in futs]
            mi, pa = miou(a.diffcut, gt_dir, pred)
            rows.append((fam, m, " ".join(flags) if flags is not None else "skimage", len(names), mi, pa,
                         float(np.mean(segs)), time.time() - t))
            print(f"{fam:8} {m:16} mIoU {mi:.3f}", file=sys.stderr, flush=True)
    print(f"| scenes | method | flags | images | mIoU | pixel acc. | mean segments | time (s) |")
    print(f"| --- | --- | --- | ---: | ---: | ---: | ---: | ---: |")
    for fam, m, fl, n, mi, pa, s, dt in rows:
        print(f"| {fam} | {m} | `{fl}` | {n} | {mi:.3f} | {pa:.3f} | {s:.1f} | {dt:.0f} |")


if __name__ == "__main__":
    main()
