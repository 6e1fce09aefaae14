#!/usr/bin/env python3
"""Independent NumPy reference of PAMR as DiffCut runs it (docs/ALGORITHM.md §5.3; Araslanov & Roth,
CVPR 2020; the official `tools/pamr.py` and `eval_diffcut.py:90-95`), written from that description.

Where the official module builds 3×3 dilated convolutions over replicate-padded tensors, this file
gathers shifted copies of the image with clipped index arrays; the arithmetic is the same:

    σ_c(p)   = unbiased std over the 9·|D| taps x_c(p + (dy,dx)·d), centre included, per channel
    a_j(p)   = mean_c −|x_c(p) − x_c(p + o_j)| / (1e-8 + 0.1·σ_c(p))     (8 neighbours per d)
    w(p)     = softmax_j a_j(p)
    m⁰       = one-hot labels, resized bilinearly (align_corners=True) to the image
    mᵗ⁺¹(p)  = Σ_j w_j(p) · mᵗ(p + o_j)            (coordinates clamped: replicate padding)
    labels   = scipy.ndimage.median_filter(argmax_k mᵀ [None], size=3)[0]     (as eval_diffcut.py)

Channel k of the mask is label k (labels absent from the input keep a zero channel and never win),
so the output holds the input's label ids; the official code's indices into `unique(labels)` are the
same up to that order-preserving renaming.

Regenerate the committed fixtures (tests/fixtures/pamr/): first write the input crops (the Rust
side decodes the JPEG samples), then run this script:

    cargo test --release --test pamr -- --ignored write_fixture_crops
    python3 tests/reference/pamr_reference.py --make-fixtures [--out tests/fixtures/pamr]

Per case it writes <name>.labels.npy (int32 [h, w], the coarse input), <name>.argmax.npy and
<name>.final.npy (int32 [H, W]: before and after the median), <name>.margin.npy (float32 [H, W]:
the float64 run's gap between the best and second-best channel) and cases.json. The expected labels
come from the float32 run (the official code runs in float32); cases.json also records how many
pixels the float32 and float64 runs disagree on.

Optional cross-check against the official module (needs torch; the file is read from wherever you
keep a checkout and executed on the CPU, nothing of it is stored here):

    python3 tests/reference/pamr_reference.py --check-official path/to/DiffCut/tools/pamr.py

Tested with numpy 2.4.6, scipy 1.17.1 (torch 2.15.0 for --check-official only).
"""
from __future__ import annotations

import argparse
import json
import os
import struct
import sys
import zlib

import numpy as np
from scipy.ndimage import median_filter

# The 8 neighbours of a 3×3 window, row-major, and the 9 taps of the std (centre included).
NEIGHBOURS = [(-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1)]
TAPS = [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1)]

EVAL = (10, [1, 2, 4, 8])
DEMO = (30, [1, 2, 4, 8, 12, 24, 32, 64])
OPEN_VOCAB = (15, [1, 2, 4, 8, 12, 24, 32, 64])


def shifted(a: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """a[..., clip(y + dy), clip(x + dx)]: the neighbour at (dy, dx), edges repeated."""
    h, w = a.shape[-2:]
    ys = np.clip(np.arange(h) + dy, 0, h - 1)
    xs = np.clip(np.arange(w) + dx, 0, w - 1)
    return a[..., ys[:, None], xs[None, :]]


def offsets(dilations: list[int]) -> list[tuple[int, int]]:
    return [(dy * d, dx * d) for d in dilations for dy, dx in NEIGHBOURS]


def local_weights(x: np.ndarray, dilations: list[int]) -> np.ndarray:
    """Softmax weights [P, H, W] of each pixel's P = 8·|D| neighbours; x is [3, H, W]."""
    dt = x.dtype
    taps = np.stack([shifted(x, dy * d, dx * d) for d in dilations for dy, dx in TAPS])  # [9D, 3, H, W]
    sigma = taps.std(axis=0, ddof=1)  # [3, H, W]
    nbrs = np.stack([shifted(x, dy, dx) for dy, dx in offsets(dilations)])  # [P, 3, H, W]
    a = -np.abs(x[None] - nbrs) / (dt.type(1e-8) + dt.type(0.1) * sigma)[None]
    a = a.mean(axis=1)  # over colour channels → [P, H, W]
    a = np.exp(a - a.max(axis=0, keepdims=True))
    return a / a.sum(axis=0, keepdims=True)


def resize_align_corners(m: np.ndarray, out_h: int, out_w: int) -> np.ndarray:
    """Bilinear resize of [K, h, w] to [K, out_h, out_w] with align_corners=True."""
    dt = m.dtype

    def taps(n_in: int, n_out: int):
        scale = dt.type(n_in - 1) / dt.type(n_out - 1) if n_out > 1 else dt.type(0)
        src = scale * np.arange(n_out).astype(dt)
        i0 = np.minimum(np.floor(src).astype(int), n_in - 1)
        lam = np.clip(src - i0.astype(dt), 0, 1).astype(dt)
        return i0, np.minimum(i0 + 1, n_in - 1), lam

    y0, y1, ly = taps(m.shape[1], out_h)
    x0, x1, lx = taps(m.shape[2], out_w)
    ly, lx = ly[:, None], lx[None, :]
    one = dt.type(1)
    top = (one - lx) * m[:, y0][:, :, x0] + lx * m[:, y0][:, :, x1]
    bottom = (one - lx) * m[:, y1][:, :, x0] + lx * m[:, y1][:, :, x1]
    return ((one - ly) * top + ly * bottom).astype(dt)


def pamr_mask(image: np.ndarray, labels: np.ndarray, segments: int, iterations: int, dilations: list[int],
              dtype=np.float32) -> np.ndarray:
    """The refined soft mask [K, H, W]. image: [H, W, 3] in [0, 1]; labels: int [h, w] < segments."""
    x = np.ascontiguousarray(image.transpose(2, 0, 1)).astype(dtype)
    h, w = x.shape[1:]
    onehot = (labels[None] == np.arange(segments)[:, None, None]).astype(dtype)
    m = resize_align_corners(onehot, h, w)
    weights = local_weights(x, dilations)
    offs = offsets(dilations)
    for _ in range(iterations):
        m = sum(weights[j][None] * shifted(m, dy, dx) for j, (dy, dx) in enumerate(offs)).astype(dtype)
    return m


def refine(image, labels, segments, iterations, dilations, dtype=np.float32):
    """(argmax [H, W], median-filtered labels [H, W], mask [K, H, W])."""
    m = pamr_mask(image, labels, segments, iterations, dilations, dtype)
    arg = np.argmax(m, axis=0)
    # As eval_diffcut.py: median_filter on a (1, H, W) float array, size=3, default mode 'reflect'.
    final = median_filter((1.0 * arg)[None], 3)[0].astype(np.int32)
    return arg.astype(np.int32), final, m


def margin(m: np.ndarray) -> np.ndarray:
    """Gap between the largest and second-largest channel, per pixel (inf for one channel)."""
    if m.shape[0] < 2:
        return np.full(m.shape[1:], np.inf, dtype=np.float32)
    top2 = np.sort(m, axis=0)[-2:]
    return (top2[1] - top2[0]).astype(np.float32)


# ----------------------------------------------------------------------------------------------
# Minimal PNG decoder: 8-bit RGB or RGBA, not interlaced (what the crop writer produces).

def read_png_rgb(path: str) -> np.ndarray:
    with open(path, "rb") as f:
        data = f.read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError(f"{path}: not a PNG")
    pos, idat, header = 8, [], None
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat.append(body)
        elif kind == b"IEND":
            break
    width, height, depth, colour, _, _, interlace = header
    if depth != 8 or colour not in (2, 6) or interlace:
        raise ValueError(f"{path}: need 8-bit RGB/RGBA, not interlaced (depth {depth}, colour {colour})")
    bpp = 3 if colour == 2 else 4
    raw = np.frombuffer(zlib.decompress(b"".join(idat)), dtype=np.uint8)
    stride = width * bpp
    out = np.zeros((height, stride), dtype=np.int32)
    prev = np.zeros(stride, dtype=np.int32)
    for y in range(height):
        kind = raw[y * (stride + 1)]
        line = raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)].astype(np.int32)
        cur = np.zeros(stride, dtype=np.int32)
        for i in range(stride):
            a = cur[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            if kind == 0:
                pred = 0
            elif kind == 1:
                pred = a
            elif kind == 2:
                pred = b
            elif kind == 3:
                pred = (a + b) // 2
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
            else:
                raise ValueError(f"{path}: bad filter {kind}")
            cur[i] = (line[i] + pred) & 0xFF
        out[y] = cur
        prev = cur
    return out.reshape(height, width, bpp)[:, :, :3].astype(np.uint8)


# ----------------------------------------------------------------------------------------------
# Fixtures

# name, crop PNG, label map width × height, K, schedule, labels to use (None: 0..K-1)
CASES = [
    ("eval_chelsea_k4", "chelsea.png", 16, 12, 4, EVAL, None),
    ("demo_coffee_k6", "coffee.png", 12, 10, 6, DEMO, [0, 1, 2, 3, 5]),  # label 4 absent
    ("openvoc_astronaut_k3", "astronaut.png", 7, 5, 3, OPEN_VOCAB, None),
    ("eval_rocket_k2_fullres", "rocket.png", 40, 40, 2, EVAL, None),  # labels at the image size
]


def coarse_labels(img: np.ndarray, lw: int, lh: int, ids: list[int]) -> np.ndarray:
    """A coarse label map: block means of the luminance on an lh×lw grid, cut at its quantiles."""
    h, w = img.shape[:2]
    lum = img.astype(np.float64) @ np.array([0.299, 0.587, 0.114])
    ys = [(i * h) // lh for i in range(lh + 1)]
    xs = [(j * w) // lw for j in range(lw + 1)]
    grid = np.array([[lum[ys[i]:ys[i + 1], xs[j]:xs[j + 1]].mean() for j in range(lw)] for i in range(lh)])
    cuts = np.quantile(grid, np.linspace(0, 1, len(ids) + 1)[1:-1])
    return np.asarray(ids, dtype=np.int32)[np.searchsorted(cuts, grid, side="right")]


def make_fixtures(out: str) -> None:
    cases = []
    for name, png, lw, lh, k, (iters, dil), ids in CASES:
        img = read_png_rgb(os.path.join(out, png))
        x = img.astype(np.float32) / np.float32(255)
        labels = coarse_labels(img, lw, lh, ids if ids is not None else list(range(k)))
        arg32, final32, _ = refine(x, labels, k, iters, dil, np.float32)
        arg64, final64, m64 = refine(img.astype(np.float64) / 255.0, labels, k, iters, dil, np.float64)
        gap = margin(m64)
        np.save(os.path.join(out, f"{name}.labels.npy"), labels.astype(np.int32))
        np.save(os.path.join(out, f"{name}.argmax.npy"), arg32)
        np.save(os.path.join(out, f"{name}.final.npy"), final32)
        np.save(os.path.join(out, f"{name}.margin.npy"), gap)
        before = np.argmax(resize_align_corners((labels[None] == np.arange(k)[:, None, None]).astype(np.float64), *img.shape[:2]), axis=0)
        case = {
            "name": name,
            "image": png,
            "labels": f"{name}.labels.npy",
            "argmax": f"{name}.argmax.npy",
            "final": f"{name}.final.npy",
            "margin": f"{name}.margin.npy",
            "width": int(img.shape[1]),
            "height": int(img.shape[0]),
            "label_width": lw,
            "label_height": lh,
            "segments": k,
            "iterations": iters,
            "dilations": dil,
            "float32_vs_float64_argmax_diff": int((arg32 != arg64).sum()),
            "float32_vs_float64_final_diff": int((final32 != final64).sum()),
            "pixels_changed_by_pamr": int((arg32 != before).sum()),
            "smallest_margin": float(gap.min()),
        }
        cases.append(case)
        print(json.dumps(case))
    with open(os.path.join(out, "cases.json"), "w") as f:
        json.dump({"generator": "tests/reference/pamr_reference.py --make-fixtures", "cases": cases}, f, indent=1)
        f.write("\n")


def check_official(path: str, out: str) -> None:
    """Runs the official PAMR module (on the CPU) on the fixture cases and compares."""
    import torch

    src = open(path).read().replace('"cuda"', '"cpu"')
    scope: dict = {}
    exec(compile(src, path, "exec"), scope)
    for name, png, lw, lh, k, (iters, dil), ids in CASES:
        img = read_png_rgb(os.path.join(out, png))
        labels = np.load(os.path.join(out, f"{name}.labels.npy"))
        x = torch.from_numpy(img.astype(np.float32).transpose(2, 0, 1)[None] / np.float32(255))
        present = np.unique(labels)
        masks = torch.from_numpy(np.stack([(labels == l) for l in present]).astype(np.float32)[None])
        with torch.no_grad():
            m = scope["PAMR"](num_iter=iters, dilations=dil)(x, masks)[0].numpy()
        official = present[np.argmax(m, axis=0)]
        final = median_filter((1.0 * official)[None], 3)[0].astype(np.int32)
        ours = pamr_mask(img.astype(np.float32) / np.float32(255), labels, k, iters, dil)[present]
        print(f"{name}: max |mask − official| = {np.abs(ours - m).max():.3g}, argmax differs at "
              f"{int((official != np.load(os.path.join(out, f'{name}.argmax.npy'))).sum())}, final at "
              f"{int((final != np.load(os.path.join(out, f'{name}.final.npy'))).sum())} of {official.size} pixels")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--make-fixtures", action="store_true")
    ap.add_argument("--check-official", metavar="PAMR_PY")
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "fixtures", "pamr"))
    args = ap.parse_args()
    if args.make_fixtures:
        make_fixtures(args.out)
    if args.check_official:
        check_official(args.check_official, args.out)
    if not (args.make_fixtures or args.check_official):
        ap.print_help()
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
