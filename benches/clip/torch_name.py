#!/usr/bin/env python3
"""PyTorch reference for `diffcut name`: the official code's steps with open_clip on the CPU, timed
per stage, on the same image, mask, weights and label set. Not run in CI (benches/clip/run.sh).

    python3 benches/clip/torch_name.py --full clip-full --image photo.jpg --mask mask.png \
        --labels voc --size 1024 --json names-torch.json [--threads 2]

Stages: load (config + float32 state_dict), preprocess (RGB/255, bilinear S×S without antialias,
no CLIP mean/std: the official quirk), dense (`clip_vis_dense`), name (each segment: nearest-exact
mask at S then at the grid, masked mean, trunk head + MLP head, scores against the folder's
precomputed classifier, argmax). Prints one JSON line of seconds.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--full", type=Path, required=True, help="folder of make_full_random.py")
    ap.add_argument("--image", type=Path, required=True)
    ap.add_argument("--mask", type=Path, required=True)
    ap.add_argument("--labels", default="voc")
    ap.add_argument("--dtype", default="q8", help="which converted folder's classifier to use")
    ap.add_argument("--size", type=int, default=1024)
    ap.add_argument("--json", type=Path, required=True)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    import open_clip
    from safetensors.torch import load_file

    t = {}
    t0 = time.perf_counter()
    cfg = json.loads((a.full / "openclip_config.json").read_text())
    model = open_clip.CLIP(**{k: v for k, v in cfg.items() if k in ("embed_dim", "vision_cfg", "text_cfg")})
    model.load_state_dict(load_file(str(a.full / "weights.safetensors")), strict=False)
    model.eval()
    t["load"] = time.perf_counter() - t0

    with torch.no_grad():
        t0 = time.perf_counter()
        img = np.asarray(Image.open(a.image).convert("RGB"))
        x = torch.from_numpy(img.astype(np.float32) / 255.0).permute(2, 0, 1)[None]
        x = F.interpolate(x, size=(a.size, a.size), mode="bilinear", align_corners=False)
        t["preprocess"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        trunk = model.visual.trunk
        d = trunk.stem(x)
        for s in trunk.stages:
            d = s(d)
        d = trunk.norm_pre(d)
        t["dense"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        conv = a.full / f"converted-{a.dtype}"
        classes = json.loads((conv / f"labels/{a.labels}.json").read_text())["classes"]
        rows = torch.from_numpy(np.load(conv / f"labels/{a.labels}.npy"))
        mask = torch.from_numpy(np.asarray(Image.open(a.mask)).astype(np.float32))[None, None]
        mask = F.interpolate(mask, size=(a.size, a.size), mode="nearest-exact")
        scale = float(torch.clamp(model.logit_scale.exp(), max=100))
        segments = []
        for i in torch.unique(mask):
            m = F.interpolate((mask == i).float(), size=d.shape[-2:], mode="nearest-exact")
            m = (m > 0).float()
            pooled = torch.einsum("bchw,bqhw->bqc", d, m / (m.sum(dim=(-1, -2), keepdim=True) + 1e-8))
            e = model.visual.head(model.visual.trunk.head(pooled.reshape(1, -1, 1, 1)))
            logits = scale * F.normalize(e, dim=-1) @ rows.T
            scores, k = [], 0
            for c in classes:
                scores.append(float(logits[0, k:k + len(c)].max()))
                k += len(c)
            best = int(np.argmax(scores))
            segments.append({"id": int(i), "class": best, "name": classes[best][0], "scores": scores})
        t["name"] = time.perf_counter() - t0
    a.json.write_text(json.dumps({"segments": segments}) + "\n")
    t["total_after_load"] = t["preprocess"] + t["dense"] + t["name"]
    print(json.dumps({k: round(v, 3) for k, v in t.items()}))


if __name__ == "__main__":
    main()
