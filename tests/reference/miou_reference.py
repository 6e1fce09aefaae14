#!/usr/bin/env python3
"""Independent numpy + scipy reference of the DiffCut evaluation metric (docs/ALGORITHM.md §6.3-§6.4).

It follows the official code line by line: `_fast_hist` and `hungarian_matching` of
PaulCouairon/DiffCut `tools/utils.py:34-57` (scipy's `linear_sum_assignment(hist, maximize=True)`
on a per-image histogram padded to max(n_class, pred.max() + 1) columns), the accumulation and
final formulas of `eval_diffcut.py:104-160`, and, with --background-merge, the many-to-one
background step of `eval_diffcut.py:126-139`. PNGs are read and written by the small codec below
(zlib + numpy), so the reference shares no image code with the Rust side.

Evaluate two directories of label PNGs (8/16-bit greyscale), paired by file name:
    python3 tests/reference/miou_reference.py --gt DIR --pred DIR --classes N [--ignore 255] \
        [--background-merge] --json OUT
The JSON holds miou, pixel_accuracy, per_class_iou (null = NaN) and images, as `diffcut miou`
writes, plus pixels, tp, fp, fn and the parameters.

Regenerate the committed fixture (tests/fixtures/miou/):
    python3 tests/reference/miou_reference.py --make-fixture [--out tests/fixtures/miou]
It writes gt/*.png, pred/*.png, expected.json (plain protocol), expected_bg.json (background
merge, last class = background) and lsap_cases.json (scipy's answers on small matrices full of ties).

Tested with numpy 2.4.6, scipy 1.17.1 (the solver is unchanged since scipy 1.9).
"""
from __future__ import annotations

import argparse
import json
import os
import struct
import sys
import zlib

import numpy as np
from scipy.optimize import linear_sum_assignment

# ----------------------------------------------------------------------------------------------
# Minimal PNG codec: greyscale, 8 or 16 bits, not interlaced.

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def read_png(path: str) -> np.ndarray:
    """Reads an 8/16-bit greyscale PNG into a uint16 [H, W] array; anything else raises."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:8] != PNG_SIGNATURE:
        raise ValueError(f"{path}: not a PNG")
    pos, idat, header = 8, [], None
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind = data[pos + 4:pos + 8]
        body = data[pos + 8:pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat.append(body)
        elif kind == b"tRNS":
            raise ValueError(f"{path}: transparency in a label map")
        elif kind == b"IEND":
            break
    if header is None:
        raise ValueError(f"{path}: no IHDR")
    width, height, depth, colour, _, _, interlace = header
    if colour != 0 or depth not in (8, 16) or interlace != 0:
        raise ValueError(f"{path}: need 8/16-bit greyscale non-interlaced, got depth {depth} colour {colour}")
    bpp = depth // 8
    stride = width * bpp
    raw = np.frombuffer(zlib.decompress(b"".join(idat)), dtype=np.uint8)
    if raw.size != height * (stride + 1):
        raise ValueError(f"{path}: pixel data has the wrong length")
    rows = raw.reshape(height, stride + 1)
    out = np.zeros((height, stride), dtype=np.uint8)
    prev = np.zeros(stride, dtype=np.int64)
    for y in range(height):
        ftype, line = rows[y, 0], rows[y, 1:].astype(np.int64)
        if ftype == 0:
            cur = line
        elif ftype == 1:  # Sub: a running sum per byte lane
            cur = np.zeros(stride, dtype=np.int64)
            for lane in range(bpp):
                cur[lane::bpp] = np.cumsum(line[lane::bpp]) % 256
        elif ftype == 2:  # Up
            cur = (line + prev) % 256
        elif ftype in (3, 4):  # Average, Paeth: byte by byte
            cur = np.zeros(stride, dtype=np.int64)
            for x in range(stride):
                a = cur[x - bpp] if x >= bpp else 0
                b = prev[x]
                c = prev[x - bpp] if x >= bpp else 0
                if ftype == 3:
                    pred = (a + b) // 2
                else:
                    p = a + b - c
                    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                    pred = a if (pa <= pb and pa <= pc) else (b if pb <= pc else c)
                cur[x] = (line[x] + pred) % 256
        else:
            raise ValueError(f"{path}: bad filter type {ftype}")
        out[y] = cur
        prev = cur
    if bpp == 1:
        return out.astype(np.uint16)
    return (out[:, 0::2].astype(np.uint16) << 8) | out[:, 1::2].astype(np.uint16)


def write_png(path: str, labels: np.ndarray, depth: int) -> None:
    """Writes a [H, W] integer array as an 8- or 16-bit greyscale PNG (filter 0)."""
    height, width = labels.shape
    assert labels.min() >= 0 and labels.max() < (1 << depth)
    arr = labels.astype(">u2" if depth == 16 else np.uint8)
    raw = b"".join(b"\x00" + arr[y].tobytes() for y in range(height))

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    png = PNG_SIGNATURE + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, depth, 0, 0, 0, 0))
    png += chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")
    with open(path, "wb") as f:
        f.write(png)


# ----------------------------------------------------------------------------------------------
# The protocol, as in tools/utils.py.

def fast_hist(label_true: np.ndarray, label_pred: np.ndarray, n_class: int) -> np.ndarray:
    pred_n_class = np.maximum(n_class, label_pred.max() + 1)
    mask = (label_true >= 0) & (label_true < n_class)  # Exclude unlabelled data.
    hist = np.bincount(pred_n_class * label_true[mask] + label_pred[mask],
                       minlength=n_class * pred_n_class).reshape(n_class, pred_n_class)
    return hist


def hungarian_matching(pred: np.ndarray, label: np.ndarray, n_class: int):
    """One image (flattened int64 arrays): tp, fp, fn, all, hist[:, col_ind], col_ind."""
    hist = fast_hist(label, pred, n_class)
    row_ind, col_ind = linear_sum_assignment(hist, maximize=True)
    total = hist.sum()
    fn = np.sum(hist, 1) - hist[row_ind, col_ind]
    tp = hist[row_ind, col_ind]
    hist = hist[:, col_ind]  # re-order hist to align labels to calculate FP
    fp = np.sum(hist, 0) - np.diag(hist)
    return tp, fp, fn, total, hist, col_ind


def prepare_gt(gt: np.ndarray, classes: int, ignore, background_merge: bool, name: str) -> np.ndarray:
    """uint16 labels → int64 with the ignore value as −2 and (background merge) class N−1 as −1,
    the official encoding of void and background. Values that are neither raise."""
    gt = gt.astype(np.int64)
    bad = (gt >= classes) & (gt != (-1 if ignore is None else ignore))
    if bad.any():
        y, x = np.argwhere(bad)[0]
        raise ValueError(f"{name}: value {gt[y, x]} at pixel (x={x}, y={y}) is neither a class nor the ignore value")
    out = gt.copy()
    if ignore is not None:
        out[gt == ignore] = -2
    if background_merge:
        out[gt == classes - 1] = -1
    return out


def evaluate_image(gt: np.ndarray, pred: np.ndarray, classes: int, background_merge: bool):
    """gt from prepare_gt, pred int64; both flattened. Returns tp, fp, fn, all."""
    pred = pred.copy()
    label = gt.copy()
    if background_merge:  # eval_diffcut.py:126-139
        _, _, _, _, hist, col_ind = hungarian_matching(pred, label, classes - 1)
        label[label == -1] = classes - 1
        assigned_gt_clusters = np.where(hist.max(axis=1) > 0)[0].tolist()
        assigned_pred_clusters = [col_ind[i] for i in assigned_gt_clusters]
        background_clusters = list(set(np.unique(pred)) - set(assigned_pred_clusters))
        bg_label = pred.max() + 1
        for bg_cls in background_clusters:
            pred[pred == bg_cls] = bg_label
    tp, fp, fn, total, _, _ = hungarian_matching(pred, label, classes)
    return tp, fp, fn, total


def evaluate_pairs(pairs, classes: int, ignore, background_merge: bool) -> dict:
    if ignore is not None and ignore < classes:
        raise ValueError("the ignore value must be >= classes")
    TP = np.zeros(classes, dtype=np.int64)
    FP = np.zeros(classes, dtype=np.int64)
    FN = np.zeros(classes, dtype=np.int64)
    ALL = 0
    for name, gt, pred in pairs:
        if gt.shape != pred.shape:
            raise ValueError(f"{name}: sizes differ: gt {gt.shape}, pred {pred.shape}")
        g = prepare_gt(gt, classes, ignore, background_merge, name).ravel()
        tp, fp, fn, total = evaluate_image(g, pred.astype(np.int64).ravel(), classes, background_merge)
        TP += tp
        FP += fp
        FN += fn
        ALL += int(total)
    with np.errstate(divide="ignore", invalid="ignore"):
        iou = TP / (TP + FP + FN)
        acc = TP.sum() / ALL if ALL else float("nan")
    miou = float(np.nanmean(iou)) if np.isfinite(iou).any() else float("nan")

    def num(x):
        return None if np.isnan(x) else float(x)

    return {
        "miou": num(miou),
        "pixel_accuracy": num(acc),
        "per_class_iou": [num(x) for x in iou],
        "images": len(pairs),
        "pixels": ALL,
        "tp": TP.tolist(),
        "fp": FP.tolist(),
        "fn": FN.tolist(),
        "classes": classes,
        "ignore": ignore,
        "background_merge": background_merge,
    }


def load_pairs(gt_dir: str, pred_dir: str):
    def pngs(d):
        return {n for n in os.listdir(d) if n.lower().endswith(".png") and os.path.isfile(os.path.join(d, n))}

    gt_names, pred_names = pngs(gt_dir), pngs(pred_dir)
    if not gt_names:
        raise ValueError(f"{gt_dir}: no .png files")
    if gt_names != pred_names:
        raise ValueError(f"unpaired files: gt only {sorted(gt_names - pred_names)}, pred only {sorted(pred_names - gt_names)}")
    return [(n, read_png(os.path.join(gt_dir, n)), read_png(os.path.join(pred_dir, n))) for n in sorted(gt_names)]


# ----------------------------------------------------------------------------------------------
# Fixture generation.

CLASSES = 7      # 0..6; with --background-merge, 6 is the background
IGNORE = 255
NEVER = 5        # a class that never occurs in the ground truth
H, W = 30, 40


def blocky(rng, classes_present, h=H, w=W, cells=(5, 8)):
    """A label map of random rectangles of the given classes (upsampled coarse grid)."""
    coarse = rng.choice(classes_present, size=cells)
    return np.kron(coarse, np.ones((h // cells[0], w // cells[1]), dtype=np.int64))


def noisy_relabel(rng, gt, mapping, noise, n_noise_ids):
    """pred = mapping[gt] (gt's ignore pixels get mapping[-1]) with a fraction `noise` of pixels
    replaced by random ids from the mapping's range."""
    pred = np.array([mapping.get(int(v), mapping[-1]) for v in gt.ravel()]).reshape(gt.shape)
    flip = rng.random(gt.shape) < noise
    pred[flip] = rng.choice(n_noise_ids, size=flip.sum())
    return pred


def make_images(rng):
    """Six (name, gt, pred, gt_depth, pred_depth) cases; see the property checks in make_fixture."""
    present = [0, 1, 2, 3, 4, 6]  # NEVER (5) is absent everywhere
    out = []

    # a: more clusters than classes (class 0 split in two, plus noise clusters 8, 9).
    gt = blocky(rng, present)
    gt[rng.random(gt.shape) < 0.08] = IGNORE
    pred = noisy_relabel(rng, gt, {0: 3, 1: 0, 2: 5, 3: 1, 4: 7, 6: 2, -1: 4}, 0.1, 10)
    pred[:, : W // 4][pred[:, : W // 4] == 3] = 6  # split
    # Ids from CLASSES up: the low, empty columns then take the rows of absent classes. (With ids
    # from 0 they take real clusters: the official metric depends on how segments are numbered.)
    out.append(("a_more_clusters.png", gt, pred + CLASSES, 8, 8))

    # b: fewer clusters (3) than classes.
    gt = blocky(rng, present)
    gt[:3, :] = IGNORE
    pred = noisy_relabel(rng, gt, {0: 0, 1: 0, 2: 1, 3: 1, 4: 2, 6: 2, -1: 0}, 0.05, 3)
    out.append(("b_fewer_clusters.png", gt, pred, 8, 8))

    # c: classes 1 and 3 absent, more clusters (5) than present classes (4): an absent class's
    #    all-zero row can take a real cluster, so scipy's tie-breaking decides its FP.
    gt = blocky(rng, [0, 2, 4, 6])
    pred = noisy_relabel(rng, gt, {0: 2, 2: 4, 4: 0, 6: 1, -1: 3}, 0.15, 5)
    out.append(("c_absent_class.png", gt, pred, 8, 8))

    # d: 16-bit prediction with ids > 255 (7, 300, 1000, 4000, 65535) → 65536 histogram columns.
    gt = blocky(rng, present)
    gt[rng.random(gt.shape) < 0.05] = IGNORE
    ids = np.array([7, 300, 1000, 4000, 65535])
    pred = ids[noisy_relabel(rng, gt, {0: 0, 1: 1, 2: 2, 3: 3, 4: 4, 6: 0, -1: 2}, 0.1, 5)]
    out.append(("d_ids16.png", gt, pred, 8, 16))

    # e: the largest prediction id (200) occurs only on ignored pixels: it still widens the
    #    histogram (pred.max() runs over all pixels), which can change scipy's tie-breaking.
    gt = blocky(rng, present)
    gt[-4:, :] = IGNORE
    pred = noisy_relabel(rng, gt, {0: 1, 1: 2, 2: 3, 3: 0, 4: 4, 6: 5, -1: 6}, 0.1, 7)
    pred[-2:, -3:] = 200 - CLASSES
    out.append(("e_ignored_max.png", gt, pred + CLASSES, 8, 8))

    # f: 16-bit ground truth, pure-noise prediction (5 ids): small counts, many ties.
    gt = blocky(rng, present)
    gt[rng.random(gt.shape) < 0.1] = IGNORE
    pred = rng.integers(0, 5, size=gt.shape)
    out.append(("f_noise_gt16.png", gt, pred, 16, 8))
    return out


def alternative_tiebreak(pairs, classes, ignore):
    """The plain protocol with another optimal matching (columns visited in reverse): if it
    differs from the official numbers, the fixture catches a solver that breaks ties differently."""
    TP = np.zeros(classes, dtype=np.int64)
    FP = np.zeros(classes, dtype=np.int64)
    for name, gt, pred in pairs:
        g = prepare_gt(gt, classes, ignore, False, name).ravel()
        hist = fast_hist(g, pred.astype(np.int64).ravel(), classes)
        _, col = linear_sum_assignment(hist[:, ::-1], maximize=True)
        col = hist.shape[1] - 1 - col
        tp = hist[np.arange(classes), col]
        TP += tp
        FP += hist[:, col].sum(0) - tp
    return TP.tolist(), FP.tolist()


def lsap_cases(rng, count=240):
    cases = []
    for k in range(count):
        nr = int(rng.integers(1, 8))
        nc = int(rng.integers(1, 10))
        if k % 6 == 0:  # pixel-count-like: a few large entries, many zeros
            cost = np.where(rng.random((nr, nc)) < 0.6, 0, rng.integers(1, 40, size=(nr, nc)))
        else:  # tiny integers: ties everywhere
            cost = rng.integers(0, 3, size=(nr, nc))
        if k % 5 == 0:
            cost[rng.integers(0, nr)] = 0  # an all-zero row (an absent class)
        if k % 17 == 0:
            cost[:] = int(rng.integers(0, 3))  # constant
        maximize = bool(k % 3 != 2)
        rows, cols = linear_sum_assignment(cost, maximize=maximize)
        cases.append({"cost": cost.tolist(), "maximize": maximize, "rows": rows.tolist(), "cols": cols.tolist()})
    return cases


def make_fixture(out_dir: str) -> None:
    for seed in range(1000):
        rng = np.random.default_rng(seed)
        images = make_images(rng)
        pairs = [(n, g.astype(np.uint16), p.astype(np.uint16)) for n, g, p, _, _ in images]
        plain = evaluate_pairs(pairs, CLASSES, IGNORE, False)
        bg = evaluate_pairs(pairs, CLASSES, IGNORE, True)
        # Properties the fixture must have (see the module docstring of tests/miou.rs).
        nan_plain = plain["per_class_iou"][NEVER] is None
        # Image c: some class absent from its ground truth gets false positives.
        _, gc, pc = pairs[2]
        g = prepare_gt(gc, CLASSES, IGNORE, False, "c").ravel()
        tp, fp, fn, _ = evaluate_image(g, pc.astype(np.int64).ravel(), CLASSES, False)
        absent_fp = any(fp[c] > 0 for c in (1, 3))
        alt_tp, alt_fp = alternative_tiebreak(pairs, CLASSES, IGNORE)
        tie_sensitive = alt_fp != plain["fp"] or alt_tp != plain["tp"]
        bg_differs = bg["tp"] != plain["tp"] or bg["fp"] != plain["fp"]
        if nan_plain and absent_fp and tie_sensitive and bg_differs:
            break
    else:
        raise SystemExit("no seed gives a fixture with all the properties")
    print(f"seed {seed}: NaN class {NEVER}, absent-class FP in c, tie-sensitive, background merge differs")

    for sub in ("gt", "pred"):
        os.makedirs(os.path.join(out_dir, sub), exist_ok=True)
        for f in os.listdir(os.path.join(out_dir, sub)):
            os.remove(os.path.join(out_dir, sub, f))
    for name, gt, pred, gd, pd in images:
        write_png(os.path.join(out_dir, "gt", name), gt, gd)
        write_png(os.path.join(out_dir, "pred", name), pred, pd)
    # Re-read what was written, so expected.json is what the PNGs say.
    pairs = load_pairs(os.path.join(out_dir, "gt"), os.path.join(out_dir, "pred"))
    plain = evaluate_pairs(pairs, CLASSES, IGNORE, False)
    bg = evaluate_pairs(pairs, CLASSES, IGNORE, True)
    plain["seed"] = bg["seed"] = seed
    plain["alternative_tiebreak"] = dict(zip(("tp", "fp"), alternative_tiebreak(pairs, CLASSES, IGNORE)))
    for fname, obj in (("expected.json", plain), ("expected_bg.json", bg)):
        with open(os.path.join(out_dir, fname), "w") as f:
            json.dump(obj, f, indent=1)
            f.write("\n")
    with open(os.path.join(out_dir, "lsap_cases.json"), "w") as f:
        json.dump(lsap_cases(np.random.default_rng(12345)), f, separators=(",", ":"))
        f.write("\n")
    print(json.dumps({k: plain[k] for k in ("miou", "pixel_accuracy", "per_class_iou")}))
    print(json.dumps({k: bg[k] for k in ("miou", "pixel_accuracy", "per_class_iou")}))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--gt")
    ap.add_argument("--pred")
    ap.add_argument("--classes", type=int)
    ap.add_argument("--ignore", type=int)
    ap.add_argument("--background-merge", action="store_true",
                    help="docs/ALGORITHM.md §6.4: the last class is the background; merge unmatched clusters first")
    ap.add_argument("--json", help="write the result here (default: stdout)")
    ap.add_argument("--make-fixture", action="store_true")
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "miou"))
    args = ap.parse_args(argv)
    if args.make_fixture:
        make_fixture(os.path.normpath(args.out))
        return 0
    if not (args.gt and args.pred and args.classes):
        ap.error("--gt, --pred and --classes are required (or --make-fixture)")
    result = evaluate_pairs(load_pairs(args.gt, args.pred), args.classes, args.ignore, args.background_merge)
    text = json.dumps(result, indent=1)
    if args.json:
        with open(args.json, "w") as f:
            f.write(text + "\n")
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
