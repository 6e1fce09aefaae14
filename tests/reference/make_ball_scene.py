#!/usr/bin/env python3
"""A photo-like scene with one clear object and its ground truth, for the cut-out tests.

An orange ball (a shaded sphere with a highlight and a soft shadow under it) on textured grass,
against a sky that lightens towards the horizon; sensor noise over all of it. Written as
tests/fixtures/scenes/ball.png (RGB, 480x360) and ball.gt.png (255 on the ball, 0 elsewhere): the
ground truth is the disk the ball was drawn in, known independently of any segmentation.

Usage: python make_ball_scene.py [OUT_DIR]   (NumPy, Pillow; seeded, so the files are reproducible)
"""

import os
import sys

import numpy as np
from PIL import Image

W, H = 480, 360
CX, CY, R = 250.0, 215.0, 70.0  # the ball: centre and radius in pixels
HORIZON = 150


def main(out):
    rng = np.random.default_rng(7)
    y, x = np.mgrid[0:H, 0:W].astype(np.float64)
    img = np.zeros((H, W, 3))

    # Sky: deep blue at the top to pale blue at the horizon.
    t = np.clip(y / HORIZON, 0, 1)[..., None]
    img[:] = (1 - t) * np.array([0.25, 0.45, 0.85]) + t * np.array([0.70, 0.82, 0.95])

    # Grass: green, darker towards the viewer, with blade-like vertical streaks and blotches.
    grass = y >= HORIZON
    streaks = rng.normal(0, 1, (1, W)).repeat(H, 0)
    streaks = 0.5 * streaks + 0.5 * rng.normal(0, 1, (H, W))
    blotch = np.asarray(Image.fromarray((rng.random((H // 24, W // 24)) * 255).astype(np.uint8))
                        .resize((W, H), Image.BICUBIC)) / 255.0
    depth = np.clip((y - HORIZON) / (H - HORIZON), 0, 1)
    g = np.stack([0.22 + 0.05 * blotch, 0.55 - 0.15 * depth + 0.08 * blotch, 0.18 + 0.03 * blotch], -1)
    g = g * (1 + 0.12 * streaks[..., None])
    img[grass] = g[grass]

    # A soft shadow on the grass under the ball.
    shadow = np.exp(-(((x - CX - 20) / (1.1 * R)) ** 2 + ((y - CY - 0.85 * R) / (0.25 * R)) ** 2))
    img *= (1 - 0.45 * shadow * grass)[..., None]

    # The ball: Lambertian shading of a sphere lit from the upper left, plus a highlight.
    d2 = ((x - CX) ** 2 + (y - CY) ** 2) / R**2
    ball = d2 <= 1.0
    nz = np.sqrt(np.clip(1 - d2, 0, 1))
    nx, ny = (x - CX) / R, (y - CY) / R
    light = np.array([-0.5, -0.6, 0.62])
    light /= np.linalg.norm(light)
    lambert = np.clip(nx * light[0] + ny * light[1] + nz * light[2], 0, 1)
    shade = 0.35 + 0.65 * lambert
    spec = np.clip(nx * light[0] + ny * light[1] + nz * light[2], 0, 1) ** 40
    orange = np.array([0.95, 0.48, 0.08])
    b = orange[None, None, :] * shade[..., None] + 0.5 * spec[..., None]
    img[ball] = b[ball]

    img += rng.normal(0, 0.02, img.shape)
    rgb = (np.clip(img, 0, 1) * 255 + 0.5).astype(np.uint8)
    os.makedirs(out, exist_ok=True)
    Image.fromarray(rgb).save(os.path.join(out, "ball.png"))
    Image.fromarray((ball * 255).astype(np.uint8)).save(os.path.join(out, "ball.gt.png"))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "fixtures", "scenes"))
