#!/usr/bin/env python3
"""PyTorch timing of DiffCut's feature extractor: the reference next to which ours is measured.

On a CUDA GPU (the default) it is the reference for `diffcut features --model-device gpu` (the
target: within 3x of PyTorch fp16 at 1024); with `--device cpu --threads N` it is the reference for
burn's CPU backend (`cargo bench --bench model`, DEVICES=cpu), in float32 as the official code
runs the VAE.

Not run in CI. Uses the full-size random-weight model of models/make_full_random.py (the same
shapes, hence the same compute, as SSD-1B):

    python3 benches/model/torch_timing.py --source full-random --sizes 512,1024 [--runs 10]
    python3 benches/model/torch_timing.py --source full-random --sizes 512 --device cpu --threads 2 \
        --runs 3 [--ops 15]

Times, per size, with CUDA events after warm-up: the VAE encoder (fp16 and fp32: the official code
runs it under fp32 autocast) and the UNet slice in fp16 up to the hook (the forward stops there by
raising from the hook, as only ẑ is needed; the official code runs the whole UNet and discards it).
On the CPU: wall-clock medians after one warm-up run, both parts in float32, and with `--ops K`
the K operators that take the most time in one run of each part (torch.profiler, self CPU time).
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
    ap.add_argument("--device", choices=["cuda", "cpu"], default="cuda")
    ap.add_argument("--threads", type=int, help="torch.set_num_threads (CPU)")
    ap.add_argument("--ops", type=int, default=0, help="CPU: print the K costliest operators per part")
    a = ap.parse_args()
    if a.device == "cpu":
        cpu_timing(a)
        return

    from diffusers import AutoencoderKL, UNet2DConditionModel
    from safetensors.torch import load_file

    dev = torch.device("cuda")
    unet = UNet2DConditionModel.from_pretrained(a.source / "unet", torch_dtype=torch.float16,
                                                variant=_variant(a.source / "unet")).to(dev).eval()
    vae16 = AutoencoderKL.from_pretrained(a.source / "vae", torch_dtype=torch.float16,
                                          variant=_variant(a.source / "vae")).to(dev).eval()
    vae32 = AutoencoderKL.from_pretrained(a.source / "vae", torch_dtype=torch.float32,
                                          variant=_variant(a.source / "vae")).to(dev).eval()
    emb = load_file(str(a.source / "embeds.safetensors"))
    ctx = emb["prompt_embeds"].to(dev, torch.float16)
    pooled = emb["pooled_prompt_embeds"].to(dev, torch.float16)
    _stop_at_the_hook(unet)

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
            _run_to_the_hook(unet, lat, t, ctx, pooled, ids)

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


def cpu_timing(a) -> None:
    """Float32 on the CPU: the VAE encoder's posterior mean and the UNet slice, wall clock."""
    import time

    from diffusers import AutoencoderKL, UNet2DConditionModel
    from safetensors.torch import load_file

    if a.threads:
        torch.set_num_threads(a.threads)
    t0 = time.perf_counter()
    unet = UNet2DConditionModel.from_pretrained(a.source / "unet", torch_dtype=torch.float32,
                                                variant=_variant(a.source / "unet")).eval()
    vae = AutoencoderKL.from_pretrained(a.source / "vae", torch_dtype=torch.float32,
                                        variant=_variant(a.source / "vae")).eval()
    emb = load_file(str(a.source / "embeds.safetensors"))
    ctx = emb["prompt_embeds"].float()
    pooled = emb["pooled_prompt_embeds"].float()
    load_s = time.perf_counter() - t0
    _stop_at_the_hook(unet)

    def timed(fn) -> tuple[float, float]:
        """(first run, median of the next `runs`) in seconds."""
        s = time.perf_counter()
        fn()
        first = time.perf_counter() - s
        runs = []
        for _ in range(a.runs):
            s = time.perf_counter()
            fn()
            runs.append(time.perf_counter() - s)
        return first, sorted(runs)[len(runs) // 2]

    results = {"device": "cpu", "threads": torch.get_num_threads(), "torch": torch.__version__,
               "load_s": round(load_s, 2), "sizes": {}}
    for size in [int(s) for s in a.sizes.split(",")]:
        g = torch.Generator().manual_seed(0)
        x = torch.rand(1, 3, size, size, generator=g) * 2 - 1
        lat = torch.randn(1, 4, size // 8, size // 8, generator=g)
        ids = torch.tensor([[size, size, 0, 0, size, size]], dtype=torch.float32)
        t = torch.tensor([50])

        def vae_encoder():
            vae.encode(x).latent_dist.mean

        def unet_slice():
            _run_to_the_hook(unet, lat, t, ctx, pooled, ids)

        with torch.no_grad():
            vf, vm = timed(vae_encoder)
            uf, um = timed(unet_slice)
            r = {"vae_encoder_s": round(vm, 2), "unet_slice_s": round(um, 2), "whole_s": round(vm + um, 2),
                 "first_vae_s": round(vf, 2), "first_unet_s": round(uf, 2)}
            results["sizes"][size] = r
            print(size, r, flush=True)
            for name, fn in [("vae_encoder", vae_encoder), ("unet_slice", unet_slice)] if a.ops else []:
                with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
                    fn()
                print(f"{size} {name}: the {a.ops} costliest operators (self CPU time)")
                print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=a.ops))
    print(json.dumps(results, indent=2))


def _variant(d: Path):
    """"fp16" for a folder that holds only the fp16 file (make_full_random.py writes the UNet so)."""
    if (d / "diffusion_pytorch_model.safetensors").exists():
        return None
    return "fp16" if (d / "diffusion_pytorch_model.fp16.safetensors").exists() else None


def _stop_at_the_hook(unet) -> None:
    """Makes the UNet's forward stop at DiffCut's hook (the last attn1 of the last attention block)."""
    def stop(_m, _i, out):
        raise _Stop(out)

    hook_block = [b for b in unet.down_blocks if hasattr(b, "attentions")][-1]
    hook_block.attentions[-1].transformer_blocks[-1].attn1.register_forward_hook(stop)


def _run_to_the_hook(unet, lat, t, ctx, pooled, ids) -> None:
    """The UNet slice: the forward up to the hook (see _stop_at_the_hook)."""
    try:
        unet(lat, t, encoder_hidden_states=ctx, added_cond_kwargs={"text_embeds": pooled, "time_ids": ids})
    except _Stop:
        pass


if __name__ == "__main__":
    main()
