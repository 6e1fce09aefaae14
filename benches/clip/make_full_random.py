#!/usr/bin/env python3
"""A FULL-SIZE open_clip `convnext_large_d_320` with seeded random weights, converted.

Not run in CI. Without the real weights (no model hub here) it checks what the converted folders
weigh and gives the naming benchmark (benches/clip/run.sh) a model of the real shapes, hence the
real compute:

    python3 benches/clip/make_full_random.py --out clip-full [--dtypes q8,f16]

Writes OUT/openclip_config.json + OUT/weights.safetensors (the float32 state_dict, for the PyTorch
side), then OUT/converted-{dtype}/ with models/convert_clip.py, and prints each part's bytes.
About 3 GB of RAM; the q8 conversion takes ~10 minutes on 2 cores (13 314 label-set prompts).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--dtypes", default="q8")
    ap.add_argument("--label-sets", default=None, help="passed to convert_clip.py (default: all five)")
    a = ap.parse_args()
    import open_clip
    from safetensors.torch import save_file

    a.out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    model = open_clip.create_model("convnext_large_d_320", pretrained=None, precision="fp32", device="cpu")
    cfg = open_clip.get_model_config("convnext_large_d_320")
    (a.out / "openclip_config.json").write_text(json.dumps(cfg, indent=2) + "\n")
    sd = {k: v.contiguous() for k, v in model.state_dict().items() if k != "attn_mask"}
    save_file(sd, str(a.out / "weights.safetensors"))
    for dtype in [d for d in a.dtypes.split(",") if d]:
        out = a.out / f"converted-{dtype}"
        cmd = [sys.executable, str(ROOT / "models/convert_clip.py"), "--config", str(a.out / "openclip_config.json"),
               "--weights", str(a.out / "weights.safetensors"), "--out", str(out), "--dtype", dtype,
               "--name", "convnext_large_d_320 (random weights)", "--licence", "MIT"]
        if a.label_sets is not None:
            cmd += ["--label-sets", a.label_sets]
        subprocess.run(cmd, check=True)
        m = json.loads((out / "manifest.json").read_text())
        parts = {}
        for f in m["files"]:
            parts[f.get("part", "?")] = parts.get(f.get("part", "?"), 0) + f["bytes"]
        print(f"{dtype}: " + ", ".join(f"{p} part {b:,} B ({b / 1e6:.1f} MB)" for p, b in sorted(parts.items())))


if __name__ == "__main__":
    main()
