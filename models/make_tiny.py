#!/usr/bin/env python3
"""Build the golden fixtures of the Rust model loader: tests/fixtures/model/.

Two tiny random-weight models with the block kinds of SSD-1B / SDXL but other shapes, converted with
models/convert.py, plus an input image, the noise, and the outputs diffusers computes (float32, CPU)
at every stage of DiffCut's feature extractor.

    python3 models/make_tiny.py [--out tests/fixtures/model]

Deterministic: torch/numpy seeds are fixed, so a rerun gives the same files (on the same library
versions; tests should compare with tolerances, not hashes, across versions).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
import convert  # noqa: E402

sys.path.insert(0, str(ROOT / "benches" / "model"))
import check_format  # noqa: E402

TIMESTEP = 50
LATENT_GAIN = 8.0

MODELS = {
    # SSD-1B-like: DownBlock2D + 2 CrossAttnDownBlock2D, linear projections, UNetMidBlock2D,
    # per-layer transformer depths (asymmetric like SSD-1B), heads 1/2/2 (head_dim 32, 16, 32).
    "ssd-tiny": {
        "seed": 1,
        "size": 128,
        "sizes": [128, 256],
        "image": (150, 110),  # W, H
        "tokens": 77,
        "pooled": 24,
        "dtypes": ["f32", "f16", "q8", "q4"],
        "shard_mb": {"f32": 0.25},  # several shards for one variant: exercises the sharded path
        "unet": dict(
            sample_size=16,
            in_channels=4,
            out_channels=4,
            down_block_types=["DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"],
            mid_block_type="UNetMidBlock2D",
            up_block_types=["CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"],
            block_out_channels=[32, 32, 64],
            layers_per_block=2,
            transformer_layers_per_block=[[1, 1], [1, 1], [1, 2]],
            reverse_transformer_layers_per_block=[[2, 1, 1], [1, 1, 1], [1, 1, 1]],
            attention_head_dim=[1, 2, 2],
            cross_attention_dim=32,
            norm_num_groups=8,
            use_linear_projection=True,
            addition_embed_type="text_time",
            addition_time_embed_dim=8,
            projection_class_embeddings_input_dim=24 + 6 * 8,
        ),
        "vae": dict(
            in_channels=3,
            out_channels=3,
            down_block_types=["DownEncoderBlock2D"] * 4,
            up_block_types=["UpDecoderBlock2D"] * 4,
            block_out_channels=[16, 16, 32, 32],
            layers_per_block=2,
            latent_channels=4,
            norm_num_groups=8,
            sample_size=128,
            scaling_factor=0.13025,
        ),
    },
    # SDXL-like: 1x1-conv projections (use_linear_projection False), full cross-attention mid
    # block, other widths/heads/groups, non-power-of-two grid (S=160 -> 5x5).
    "sdxl-tiny": {
        "seed": 2,
        "size": 160,
        "sizes": [160],
        "image": (200, 90),
        "tokens": 20,
        "pooled": 28,
        "dtypes": ["f32", "q8"],
        "shard_mb": {},
        "unet": dict(
            sample_size=20,
            in_channels=4,
            out_channels=4,
            down_block_types=["DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"],
            mid_block_type="UNetMidBlock2DCrossAttn",
            up_block_types=["CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"],
            block_out_channels=[16, 32, 32],
            layers_per_block=2,
            transformer_layers_per_block=[1, 1, 3],
            attention_head_dim=[1, 2, 4],
            cross_attention_dim=40,
            norm_num_groups=16,
            use_linear_projection=False,
            addition_embed_type="text_time",
            addition_time_embed_dim=16,
            projection_class_embeddings_input_dim=28 + 6 * 16,
        ),
        "vae": dict(
            in_channels=3,
            out_channels=3,
            down_block_types=["DownEncoderBlock2D"] * 4,
            up_block_types=["UpDecoderBlock2D"] * 4,
            block_out_channels=[16, 16, 32, 32],
            layers_per_block=1,
            latent_channels=4,
            norm_num_groups=16,
            sample_size=160,
            scaling_factor=0.18215,
        ),
    },
}


def reinit(model: nn.Module, gen: torch.Generator):
    """Non-degenerate random weights: every tensor matters (diffusers zero-inits some layers)."""
    with torch.no_grad():
        for name, m in model.named_modules():
            if isinstance(m, (nn.Linear, nn.Conv2d)):
                fan_in = m.weight[0].numel()
                m.weight.copy_(torch.randn(m.weight.shape, generator=gen) / math.sqrt(fan_in))
                if m.bias is not None:
                    m.bias.copy_(0.05 * torch.randn(m.bias.shape, generator=gen))
            elif isinstance(m, (nn.GroupNorm, nn.LayerNorm)):
                if m.weight is not None:
                    m.weight.copy_(1.0 + 0.1 * torch.randn(m.weight.shape, generator=gen))
                if m.bias is not None:
                    m.bias.copy_(0.1 * torch.randn(m.bias.shape, generator=gen))
        seen = {id(p) for m in model.modules() if isinstance(m, (nn.Linear, nn.Conv2d, nn.GroupNorm, nn.LayerNorm))
                for p in m.parameters(recurse=False)}
        left = [n for n, p in model.named_parameters() if id(p) not in seen]
        assert not left, f"parameters not re-initialised: {left[:5]}"


def make_image(rng, w, h):
    """Smooth-ish random colours: a coarse random grid upsampled bicubically, plus mild noise."""
    coarse = torch.from_numpy(rng.uniform(0, 1, size=(1, 3, 5, 7)).astype(np.float32))
    img = F.interpolate(coarse, size=(h, w), mode="bicubic", align_corners=False)[0]
    img = img + torch.from_numpy(rng.normal(0, 0.03, size=(3, h, w)).astype(np.float32))
    img = (img.clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()
    return img


def sha256(p):
    return hashlib.sha256(Path(p).read_bytes()).hexdigest()


def npy(path, a):
    np.save(path, np.ascontiguousarray(np.asarray(a, dtype=np.float32)))


def build(name, spec, out_root: Path, tmp: Path):
    from diffusers import AutoencoderKL, DDIMScheduler, UNet2DConditionModel
    from PIL import Image
    from safetensors.torch import save_file

    seed = spec["seed"]
    torch.manual_seed(seed)
    np.random.seed(seed)
    gen = torch.Generator().manual_seed(seed)
    rng = np.random.default_rng(seed)

    unet = UNet2DConditionModel(**spec["unet"]).eval()
    vae = AutoencoderKL(**spec["vae"]).eval()
    reinit(unet, gen)
    reinit(vae, gen)
    with torch.no_grad():
        # A random VAE gives a latent of std ~0.08, which the t=50 noise (0.22) would drown; scale
        # it to ~0.7 (a real SDXL latent x 0.13025 is ~1) so the image matters in the features.
        vae.quant_conv.weight.mul_(LATENT_GAIN)
        vae.quant_conv.bias.mul_(LATENT_GAIN)

    T, P, D = spec["tokens"], spec["pooled"], spec["unet"]["cross_attention_dim"]
    pe = torch.randn((1, T, D), generator=gen)
    pooled = torch.randn((1, P), generator=gen)

    src = tmp / name
    unet.save_pretrained(src / "unet")
    vae.save_pretrained(src / "vae")
    save_file({"prompt_embeds": pe.contiguous(), "pooled_prompt_embeds": pooled.contiguous()},
              str(src / "embeds.safetensors"))

    out = out_root / name
    if out.exists():
        shutil.rmtree(out)
    (out / "expected").mkdir(parents=True)

    S = spec["size"]
    w, h = spec["image"]
    Image.fromarray(make_image(rng, w, h), "RGB").save(out / "image.png", optimize=False)
    lat_hw = S // 8
    noise = rng.standard_normal((1, 4, lat_hw, lat_hw)).astype(np.float32)
    np.save(out / "noise.npy", noise)
    shutil.copyfile(src / "embeds.safetensors", out / "embeds.safetensors")

    # ---- convert ----
    sizes = ",".join(str(s) for s in spec["sizes"])
    for dt in spec["dtypes"]:
        args = ["--unet", str(src / "unet"), "--vae", str(src / "vae"), "--embeds", str(src / "embeds.safetensors"),
                "--out", str(out / dt), "--dtype", dt, "--sizes", sizes,
                "--name", f"diffcut-rs/{name} (random weights)", "--licence", "MIT"]
        if dt in spec["shard_mb"]:
            args += ["--shard-mb", str(spec["shard_mb"][dt])]
        convert.main(args)

    # ---- reference with diffusers (float32, CPU) ----
    # reload from disk so the reference sees exactly what convert.py read
    unet = UNet2DConditionModel.from_pretrained(str(src / "unet"), torch_dtype=torch.float32,
                                                low_cpu_mem_usage=False).eval()
    vae = AutoencoderKL.from_pretrained(str(src / "vae"), torch_dtype=torch.float32, low_cpu_mem_usage=False).eval()
    cfg = json.loads((out / "f32" / "config.json").read_text())
    hk = cfg["hook"]
    exp = out / "expected"
    with torch.no_grad():
        img = np.asarray(Image.open(out / "image.png").convert("RGB"))
        x = torch.from_numpy(img.astype(np.float32) / 255.0).permute(2, 0, 1)[None]
        x = F.interpolate(x, size=(S, S), mode="bilinear", align_corners=False)
        x = 2.0 * x - 1.0
        npy(exp / "image_input.npy", x)
        latent = vae.encode(x).latent_dist.mean * vae.config.scaling_factor
        npy(exp / "latent.npy", latent)

        sa, sb = cfg["noise"]["sqrt_alpha_bar"], cfg["noise"]["sqrt_one_minus_alpha_bar"]
        results = {}
        for tag, eps in (("", torch.from_numpy(noise)), ("_zero", torch.zeros_like(latent))):
            noisy = (sa * latent.double() + sb * eps.double()).float()
            # the official code's DDIMScheduler.add_noise (float32 alphas) agrees to rounding
            sched = DDIMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                                  num_train_timesteps=1000)
            ref = sched.add_noise(latent, eps, torch.tensor([TIMESTEP]))
            assert torch.allclose(ref, noisy, atol=2e-5, rtol=1e-5), (ref - noisy).abs().max()

            caps = {}
            hooks = [unet.conv_in.register_forward_hook(lambda m, i, o: caps.__setitem__("conv_in", o))]
            for i in range(hk["down_block"]):
                hooks.append(unet.down_blocks[i].register_forward_hook(
                    lambda m, i_, o, i=i: caps.__setitem__(f"down_blocks.{i}", o[0])))
            tgt = (unet.down_blocks[hk["down_block"]].attentions[hk["attention"]]
                   .transformer_blocks[hk["transformer_block"]].attn1)
            hooks.append(tgt.register_forward_hook(lambda m, i, o: caps.__setitem__("z", o)))
            time_ids = torch.tensor([[S, S, 0, 0, S, S]], dtype=torch.float32)
            unet(noisy, TIMESTEP, encoder_hidden_states=pe,
                 added_cond_kwargs={"text_embeds": pooled, "time_ids": time_ids})
            for hd in hooks:
                hd.remove()
            results[tag] = (noisy, caps)

        noisy, caps = results[""]
        npy(exp / "noisy.npy", noisy)
        npy(exp / "conv_in.npy", caps["conv_in"])
        for i in range(hk["down_block"]):
            npy(exp / f"down_blocks.{i}.npy", caps[f"down_blocks.{i}"])
        z = caps["z"]
        C = z.shape[-1]
        g = int(round(math.sqrt(z.shape[1])))
        assert g * g == z.shape[1]
        npy(exp / "features.npy", z.reshape(g, g, C))
        npy(exp / "features_zero.npy", results["_zero"][1]["z"].reshape(g, g, C))

    # What each stored dtype gives: the same slice run with plain torch ops on the dequantized /
    # f16-rounded stored tensors (benches/model/check_format.py, which agrees with diffusers to ~1e-6
    # on the f32 folder). Lets a loader test its q8/q4/f16 path tightly, not only against f32.
    for dt in spec["dtypes"]:
        if dt == "f32":
            continue
        _, ccfg, ct = check_format.load_folder(out / dt)
        sl = check_format.Slice(ccfg, ct)
        zq, _ = sl.features(x, torch.from_numpy(noise), S)
        zq0, _ = sl.features(x, torch.zeros_like(torch.from_numpy(noise)), S)
        npy(exp / f"features_{dt}.npy", zq)
        npy(exp / f"features_zero_{dt}.npy", zq0)

    stats = {}
    for f in sorted(exp.glob("*.npy")):
        a = np.load(f)
        stats[f.name] = {"shape": list(a.shape), "absmax": float(np.abs(a).max()), "std": float(a.std())}
    meta = {
        "model": name,
        "S": S,
        "grid": [g, g],
        "C": C,
        "latent": [4, lat_hw, lat_hw],
        "timestep": TIMESTEP,
        "image": "image.png",
        "image_size": [w, h],
        "noise": "noise.npy",
        "hook": hk,
        "dtypes": spec["dtypes"],
        "sizes": spec["sizes"],
        "seed": seed,
        "made_by": "models/make_tiny.py",
        "torch": torch.__version__,
        "diffusers": __import__("diffusers").__version__,
        "files": {f.name: sha256(f) for f in sorted(exp.glob("*.npy"))},
        "stats": stats,
    }
    meta["files"]["../image.png"] = sha256(out / "image.png")
    meta["files"]["../noise.npy"] = sha256(out / "noise.npy")
    meta["files"]["../embeds.safetensors"] = sha256(out / "embeds.safetensors")
    (exp / "meta.json").write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
    for k, v in stats.items():
        print(f"  {name}/expected/{k}: shape {v['shape']} absmax {v['absmax']:.3g} std {v['std']:.3g}")
    return meta


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=str(ROOT / "tests" / "fixtures" / "model"))
    ap.add_argument("--only", choices=sorted(MODELS), help="build one model only")
    a = ap.parse_args(argv)
    torch.set_num_threads(max(1, min(2, torch.get_num_threads())))
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="diffcut-tiny-") as tmp:
        for name, spec in MODELS.items():
            if a.only and name != a.only:
                continue
            print(f"== {name}")
            build(name, spec, out, Path(tmp))
    total = sum(f.stat().st_size for f in out.rglob("*") if f.is_file())
    print(f"fixtures under {out}: {total:,} bytes")
    if total > 8_000_000:
        print("WARNING: over the 8 MB budget", file=sys.stderr)


if __name__ == "__main__":
    main()
