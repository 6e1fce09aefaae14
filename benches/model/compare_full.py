#!/usr/bin/env python3
"""Compare diffcut's features of a converted model with the diffusers reference (CPU, float32).

Not run in CI. Given the SOURCE of a converted folder (the diffusers UNet / VAE folders and the
embeddings convert.py read), an image and a size, computes ẑ as the official DiffCut code does
(bilinear resize, 2x-1, VAE posterior mean × scaling_factor, DDIM add_noise at t = 50 with the
seed-42 noise of models/noise/, UNet with the empty prompt, forward hook on
down_blocks[h].attentions[-1].transformer_blocks[-1].attn1), then compares it with the features
that `diffcut features IMAGE --model O --size S --noise seed42 --out F.npy` wrote.

    python3 benches/model/compare_full.py --unet U --vae V --embeds E --image IMG [--size 512] \
        --features F.npy [--save-ref REF.npy]
    python3 benches/model/compare_full.py --source full-random --image IMG --features F.npy
    python3 benches/model/compare_full.py --ref REF.npy --features F.npy      # reuse a saved reference

Prints per-token cosine similarity (min, 1st percentile, mean) and the max abs error. The forward
stops at the hook (the mid and up blocks do not change ẑ), so 1024² runs in minutes, not hours.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
NOISE_DIR = ROOT / "models" / "noise"
TIMESTEP = 50


class _Stop(Exception):
    pass


def reference(unet_dir, vae_dir, embeds, image, size, noise_arg, scheduler_cfg=None, threads=None):
    import torch
    import torch.nn.functional as F
    from diffusers import AutoencoderKL, DDIMScheduler, UNet2DConditionModel
    from PIL import Image
    from safetensors.torch import load_file

    if threads:
        torch.set_num_threads(threads)

    def variant(d):
        d = Path(d)
        if (d / "diffusion_pytorch_model.safetensors").exists():
            return None
        return "fp16" if (d / "diffusion_pytorch_model.fp16.safetensors").exists() else None

    t0 = time.time()
    try:
        import accelerate  # noqa: F401
        lowmem = True
    except ImportError:
        lowmem = False
    unet = UNet2DConditionModel.from_pretrained(str(unet_dir), torch_dtype=torch.float32, low_cpu_mem_usage=lowmem,
                                                variant=variant(unet_dir)).eval()
    vae = AutoencoderKL.from_pretrained(str(vae_dir), torch_dtype=torch.float32, low_cpu_mem_usage=lowmem,
                                        variant=variant(vae_dir)).eval()
    e = load_file(str(embeds))
    pe = e["prompt_embeds"].to(torch.float32)
    pooled = e.get("pooled_prompt_embeds")
    pooled = pooled.to(torch.float32) if pooled is not None else None
    print(f"loaded in {time.time() - t0:.0f} s")

    img = np.asarray(Image.open(image).convert("RGB")).astype(np.float32) / 255.0
    x = torch.from_numpy(img).permute(2, 0, 1)[None]
    x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
    x = 2.0 * x - 1.0

    hlat = size // (2 ** (len(vae.config.block_out_channels) - 1))
    shape = (1, vae.config.latent_channels, hlat, hlat)
    if noise_arg == "zero":
        noise = torch.zeros(shape)
    elif noise_arg == "seed42":
        p = NOISE_DIR / f"ddim_noise_seed42_{size}.npy"
        if not p.exists():
            raise SystemExit(f"no official seed-42 noise for size {size} in {NOISE_DIR}")
        noise = torch.from_numpy(np.load(p))
    else:
        noise = torch.from_numpy(np.load(noise_arg).astype(np.float32))
    if tuple(noise.shape) != shape:
        raise SystemExit(f"noise has shape {tuple(noise.shape)}, expected {shape}")

    sc = {"beta_start": 0.00085, "beta_end": 0.012, "beta_schedule": "scaled_linear", "num_train_timesteps": 1000}
    if scheduler_cfg:
        c = json.loads(Path(scheduler_cfg).read_text())
        sc.update({k: c[k] for k in sc if k in c})
    sched = DDIMScheduler(**sc)

    types = list(unet.config.down_block_types)
    h = max(i for i, t in enumerate(types) if t == "CrossAttnDownBlock2D")
    tgt = unet.down_blocks[h].attentions[-1].transformer_blocks[-1].attn1
    cap = {}

    def hook(m, i, o):
        cap["z"] = o.detach()
        raise _Stop()

    hd = tgt.register_forward_hook(hook)
    with torch.no_grad():
        t1 = time.time()
        latent = vae.encode(x).latent_dist.mean * vae.config.scaling_factor
        print(f"vae encoder: {time.time() - t1:.0f} s")
        noisy = sched.add_noise(latent, noise, torch.tensor([TIMESTEP]))
        kw = {}
        if unet.config.addition_embed_type == "text_time":
            kw["added_cond_kwargs"] = {"text_embeds": pooled,
                                       "time_ids": torch.tensor([[size, size, 0, 0, size, size]], dtype=torch.float32)}
        t1 = time.time()
        try:
            unet(noisy, TIMESTEP, encoder_hidden_states=pe, **kw)
        except _Stop:
            pass
        print(f"unet to the hook: {time.time() - t1:.0f} s")
    hd.remove()
    z = cap["z"][0]
    g = int(round(z.shape[0] ** 0.5))
    return z.reshape(g, g, -1).numpy().astype(np.float32)


def compare(ref, got):
    if ref.shape != got.shape:
        raise SystemExit(f"shape mismatch: reference {ref.shape}, features {got.shape}")
    a = ref.reshape(-1, ref.shape[-1]).astype(np.float64)
    b = got.reshape(-1, got.shape[-1]).astype(np.float64)
    cos = (a * b).sum(1) / np.maximum(np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1), 1e-30)
    err = np.abs(a - b)
    worst = int(np.argmin(cos))
    print(f"tokens {a.shape[0]} x {a.shape[1]} channels")
    print(f"cosine per token: min {cos.min():.6f} (token {worst}: row {worst // ref.shape[1]}, col "
          f"{worst % ref.shape[1]}), 1st percentile {np.percentile(cos, 1):.6f}, mean {cos.mean():.6f}")
    print(f"max abs error {err.max():.4g} (|ref| max {np.abs(a).max():.4g}, rel {err.max() / np.abs(a).max():.3e}); "
          f"mean abs error {err.mean():.4g}")
    return {"cos_min": float(cos.min()), "cos_p1": float(np.percentile(cos, 1)), "cos_mean": float(cos.mean()),
            "max_abs_err": float(err.max())}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--source", help="folder with unet/, vae/, embeds.safetensors[, scheduler_config.json]")
    ap.add_argument("--unet")
    ap.add_argument("--vae")
    ap.add_argument("--embeds")
    ap.add_argument("--scheduler", help="scheduler_config.json (default: SDXL's scaled_linear schedule)")
    ap.add_argument("--image")
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--noise", default="seed42", help="seed42 (models/noise/) | zero | path to .npy")
    ap.add_argument("--features", help="features .npy written by `diffcut features`")
    ap.add_argument("--save-ref", help="store the reference features here (.npy)")
    ap.add_argument("--ref", help="load the reference from here instead of computing it")
    ap.add_argument("--threads", type=int)
    a = ap.parse_args(argv)

    if a.ref:
        ref = np.load(a.ref)
    else:
        if a.source:
            s = Path(a.source)
            a.unet = a.unet or str(s / "unet")
            a.vae = a.vae or str(s / "vae")
            a.embeds = a.embeds or str(s / "embeds.safetensors")
            if not a.scheduler and (s / "scheduler_config.json").exists():
                a.scheduler = str(s / "scheduler_config.json")
        if not (a.unet and a.vae and a.embeds and a.image):
            ap.error("need --ref, or --image with --source or --unet/--vae/--embeds")
        ref = reference(a.unet, a.vae, a.embeds, a.image, a.size, a.noise, a.scheduler, a.threads)
        print(f"reference features {ref.shape}")
        if a.save_ref:
            np.save(a.save_ref, ref)
            print(f"saved {a.save_ref}")
    if a.features:
        got = np.load(a.features).astype(np.float32)
        if got.ndim == 2 and ref.ndim == 3 and got.shape[0] == ref.shape[0] * ref.shape[1]:
            got = got.reshape(ref.shape)
        compare(ref, got)
    elif not a.save_ref:
        print("nothing to compare (no --features)", file=sys.stderr)


if __name__ == "__main__":
    main()
