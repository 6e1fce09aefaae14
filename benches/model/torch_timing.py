#!/usr/bin/env python3
"""PyTorch timing of DiffCut's feature extractor on a CUDA GPU: the reference next to which
`diffcut features --model-device gpu` is measured (the target: within 3x of PyTorch fp16 at 1024).

Not run in CI. Uses the full-size random-weight model of models/make_full_random.py (the same
shapes, hence the same compute, as SSD-1B):

    python3 benches/model/torch_timing.py --source full-random --sizes 512,1024 [--runs 10]

Times, per size, with CUDA events after warm-up: the VAE encoder (fp16 and fp32: the official code
runs it under fp32 autocast) and the UNet slice in fp16 up to the hook (the forward stops there by
raising from the hook, as only ẑ is needed; the official code runs the whole UNet and discards it).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch


class _Stop(Exception):
    pass


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--source", type=Path, required=True, help="folder with unet/, vae/, embeds.safetensors")
    ap.add_argument("--sizes", default="512,1024")
    ap.add_argument("--runs", type=int, default=10)
    a = ap.parse_args()

    from diffusers import AutoencoderKL, UNet2DConditionModel
    from safetensors.torch import load_file

    dev = torch.device("cuda")
    unet = UNet2DConditionModel.from_pretrained(a.source / "unet", torch_dtype=torch.float16).to(dev).eval()
    vae16 = AutoencoderKL.from_pretrained(a.source / "vae", torch_dtype=torch.float16).to(dev).eval()
    vae32 = AutoencoderKL.from_pretrained(a.source / "vae", torch_dtype=torch.float32).to(dev).eval()
    emb = load_file(str(a.source / "embeds.safetensors"))
    ctx = emb["prompt_embeds"].to(dev, torch.float16)
    pooled = emb["pooled_prompt_embeds"].to(dev, torch.float16)
    hook_block = [b for b in unet.down_blocks if hasattr(b, "attentions")][-1]
    attn1 = hook_block.attentions[-1].transformer_blocks[-1].attn1

    def stop(_m, _i, out):
        raise _Stop(out)

    attn1.register_forward_hook(stop)

    def timed(fn) -> float:
        for _ in range(3):
            fn()
        torch.cuda.synchronize()
        ms = []
        for _ in range(a.runs):
            s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            s.record()
            fn()
            e.record()
            torch.cuda.synchronize()
            ms.append(s.elapsed_time(e))
        return sorted(ms)[len(ms) // 2]

    def peak_mib(fn) -> float:
        """Device memory one call allocates at its peak beyond what was allocated before (MiB)."""
        torch.cuda.synchronize()
        before = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
        fn()
        torch.cuda.synchronize()
        return (torch.cuda.max_memory_allocated() - before) / 2**20

    results = {"device": torch.cuda.get_device_name(0), "torch": torch.__version__, "sizes": {}}
    for size in [int(s) for s in a.sizes.split(",")]:
        x16 = torch.rand(1, 3, size, size, device=dev, dtype=torch.float16) * 2 - 1
        x32 = x16.float()
        lat = torch.randn(1, 4, size // 8, size // 8, device=dev, dtype=torch.float16)
        ids = torch.tensor([[size, size, 0, 0, size, size]], device=dev, dtype=torch.float16)
        t = torch.tensor([50], device=dev)

        def unet_slice():
            try:
                unet(lat, t, encoder_hidden_states=ctx, added_cond_kwargs={"text_embeds": pooled, "time_ids": ids})
            except _Stop:
                pass

        with torch.no_grad():
            r = {
                "vae_fp16_ms": timed(lambda: vae16.encode(x16).latent_dist.mean),
                "vae_fp32_ms": timed(lambda: vae32.encode(x32).latent_dist.mean),
                "unet_slice_fp16_ms": timed(unet_slice),
                "vae_fp16_peak_mib": peak_mib(lambda: vae16.encode(x16).latent_dist.mean),
                "vae_fp32_peak_mib": peak_mib(lambda: vae32.encode(x32).latent_dist.mean),
                "unet_slice_fp16_peak_mib": peak_mib(unet_slice),
            }
        r["weights_mib"] = torch.cuda.memory_allocated() / 2**20
        results["sizes"][size] = r
        print(size, r, flush=True)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
