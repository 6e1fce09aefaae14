#!/usr/bin/env python3
"""Smooth random feature fields, the synthetic stand-in for diffusion features in NCut tests.

Recipe (fully determined by H, W, C, seed):
  * z = numpy.random.default_rng(seed).standard_normal((H, W, C)) in float64, C-order;
  * each channel is filtered over the two spatial axes only with
    scipy.ndimage.gaussian_filter(z, sigma=(s, s, 0)) — scipy defaults: mode="reflect",
    truncate=4.0 — with s = 3 by default;
  * the result is cast to float32 and saved as .npy [H, W, C].

Usage:
    python3 tests/reference/smooth_field.py --size H W --channels C --seed S --out F.npy [--sigma 3]
"""
from __future__ import annotations

import argparse
import sys

import numpy as np
from scipy.ndimage import gaussian_filter


def smooth_field(h: int, w: int, c: int, seed: int, sigma: float = 3.0) -> np.ndarray:
    """float32 [h, w, c] Gaussian-smoothed i.i.d. N(0, 1) field (see module docstring)."""
    z = np.random.default_rng(seed).standard_normal((h, w, c))
    return gaussian_filter(z, sigma=(sigma, sigma, 0.0)).astype(np.float32)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--size", type=int, nargs=2, metavar=("H", "W"), required=True)
    p.add_argument("--channels", type=int, required=True)
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--sigma", type=float, default=3.0)
    p.add_argument("--out", required=True)
    a = p.parse_args(argv)
    np.save(a.out, smooth_field(a.size[0], a.size[1], a.channels, a.seed, a.sigma))
    return 0


if __name__ == "__main__":
    sys.exit(main())
