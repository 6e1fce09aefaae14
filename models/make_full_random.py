#!/usr/bin/env python3
"""Build a FULL-SIZE SSD-1B-shaped model with seeded random weights, and convert it.

Not run in CI. It checks, without the real weights, that the converter handles the real topology
(SSD-1B UNet config of docs/ALGORITHM.md §2.1, SDXL VAE) and what the converted folders weigh per dtype, and it
gives the Rust side a full-size folder to time and to compare against diffusers
(benches/model/compare_full.py).

    python3 models/make_full_random.py [--out full-random] [--dtypes q8,q4,f16]

Writes OUT/unet/ (diffusion_pytorch_model.fp16.safetensors, like the SSD-1B repository; --fp32 for
float32), OUT/vae/, OUT/embeds.safetensors, then OUT/converted-{dtype}/ for each dtype, and prints
each folder's manifest total_bytes with a breakdown. Needs ~8 GB RAM and ~4 GB disk per float32
copy; takes a few minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import convert  # noqa: E402
from make_tiny import reinit  # noqa: E402

# docs/ALGORITHM.md §2.1 (the SSD-1B UNet config as loaded strictly against the real weights)
SSD1B_UNET = dict(
    sample_size=128,
    in_channels=4,
    out_channels=4,
    down_block_types=["DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"],
    mid_block_type="UNetMidBlock2D",
    up_block_types=["CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"],
    block_out_channels=[320, 640, 1280],
    layers_per_block=2,
    transformer_layers_per_block=[[1], [2, 2], [4, 4]],
    reverse_transformer_layers_per_block=[[4, 4, 10], [2, 1, 1], 1],
    attention_head_dim=[5, 10, 20],
    cross_attention_dim=2048,
    norm_num_groups=32,
    use_linear_projection=True,
    addition_embed_type="text_time",
    addition_time_embed_dim=256,
    projection_class_embeddings_input_dim=2816,
    flip_sin_to_cos=True,
    freq_shift=0,
)

SDXL_VAE = dict(
    in_channels=3,
    out_channels=3,
    down_block_types=["DownEncoderBlock2D"] * 4,
    up_block_types=["UpDecoderBlock2D"] * 4,
    block_out_channels=[128, 256, 512, 512],
    layers_per_block=2,
    latent_channels=4,
    norm_num_groups=32,
    sample_size=1024,
    scaling_factor=0.13025,
    force_upcast=True,
)

SCHEDULER = {"_class_name": "EulerDiscreteScheduler", "beta_start": 0.00085, "beta_end": 0.012,
             "beta_schedule": "scaled_linear", "num_train_timesteps": 1000}


def build(out: Path, seed: int, fp32: bool):
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from safetensors.torch import save_file

    torch.manual_seed(seed)
    np.random.seed(seed)
    gen = torch.Generator().manual_seed(seed)
    t0 = time.time()
    unet = UNet2DConditionModel(**SSD1B_UNET).eval()
    reinit(unet, gen)
    n = sum(p.numel() for p in unet.parameters())
    print(f"unet: {n / 1e6:.1f} M parameters ({time.time() - t0:.0f} s)")
    if fp32:
        unet.save_pretrained(out / "unet")
    else:
        unet.to(torch.float16).save_pretrained(out / "unet", variant="fp16")
    del unet
    vae = AutoencoderKL(**SDXL_VAE).eval()
    reinit(vae, gen)
    print(f"vae: {sum(p.numel() for p in vae.parameters()) / 1e6:.1f} M parameters, encoder "
          f"{sum(p.numel() for p in vae.encoder.parameters()) / 1e6:.1f} M")
    vae.save_pretrained(out / "vae")
    pe = torch.randn((1, 77, 2048), generator=gen)
    pooled = torch.randn((1, 1280), generator=gen)
    save_file({"prompt_embeds": pe, "pooled_prompt_embeds": pooled}, str(out / "embeds.safetensors"))
    (out / "scheduler_config.json").write_text(json.dumps(SCHEDULER, indent=2) + "\n")
    print(f"saved to {out} ({time.time() - t0:.0f} s)")


def breakdown(folder: Path):
    """Bytes per part (unet / vae) and per storage dtype, from the shards' headers."""
    import struct

    parts = {}
    for f in sorted(folder.glob("weights-*.safetensors")):
        with open(f, "rb") as fh:
            n = struct.unpack("<Q", fh.read(8))[0]
            hdr = json.loads(fh.read(n))
        for k, v in hdr.items():
            if k == "__metadata__":
                continue
            nb = v["data_offsets"][1] - v["data_offsets"][0]
            part = k.split(".")[0]
            if ".time_bias." in k:
                part += " time_bias"
            elif k.endswith(".k_ctx") or k.endswith(".v_ctx"):
                part += " k/v_ctx"
            key = (part, v["dtype"])
            parts[key] = parts.get(key, 0) + nb
    return parts


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default="full-random", help="output folder (default: full-random/ in the current directory)")
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--dtypes", default="q8,q4,f16")
    ap.add_argument("--sizes", default="256,512,768,1024")
    ap.add_argument("--fp32", action="store_true", help="save the UNet in float32 instead of an fp16 variant")
    ap.add_argument("--skip-build", action="store_true", help="reuse OUT/unet, OUT/vae, OUT/embeds.safetensors")
    a = ap.parse_args(argv)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    if not a.skip_build:
        build(out, a.seed, a.fp32)
    results = {}
    for dt in [d for d in a.dtypes.split(",") if d]:
        t0 = time.time()
        man = convert.main(["--unet", str(out / "unet"), "--vae", str(out / "vae"),
                            "--embeds", str(out / "embeds.safetensors"), "--scheduler",
                            str(out / "scheduler_config.json"), "--out", str(out / f"converted-{dt}"),
                            "--dtype", dt, "--sizes", a.sizes, "--name", "random SSD-1B-shaped (make_full_random.py)",
                            "--licence", "MIT"])
        results[dt] = man["total_bytes"]
        print(f"  ({time.time() - t0:.0f} s)")
        for (part, sd), nb in sorted(breakdown(out / f"converted-{dt}").items()):
            print(f"    {part:<16} {sd:<4} {nb / 1e6:9.2f} MB")
    print("\nmanifest total_bytes:")
    targets = {"q8": 450e6, "q4": 250e6}
    for dt, tb in results.items():
        tgt = targets.get(dt)
        flag = "" if tgt is None else (f"  (target <= {tgt / 1e6:.0f} MB: {'ok' if tb <= tgt else 'OVER'})")
        print(f"  {dt}: {tb:,} bytes = {tb / 1e6:.1f} MB{flag}")


if __name__ == "__main__":
    main()
