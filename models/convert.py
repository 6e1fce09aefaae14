#!/usr/bin/env python3
"""Convert a diffusers SDXL-family model into DiffCut's encoder-slice folder (models/FORMAT.md).

Two forms:

    python3 models/convert.py --unet U --vae V --embeds E --out O [--dtype q8] ...
    python3 models/convert.py PIPELINE_DIR --out O [--dtype q8] ...

U and V are diffusers model folders (config.json + diffusion_pytorch_model[.fp16].safetensors). E is a
safetensors file with `prompt_embeds [1,T,D]` and `pooled_prompt_embeds [1,P]` (the empty prompt's
embeddings). PIPELINE_DIR is a diffusers pipeline folder in the Hub layout of segmind/SSD-1B; the
empty-prompt embeddings are then computed with StableDiffusionXLPipeline.encode_prompt (needs
`transformers`) and the noise schedule is read from scheduler/scheduler_config.json.

Only what DiffCut's feature extractor runs is stored: the VAE encoder (posterior mean) and the UNet
down path up to `down_blocks[h].attentions[-1].transformer_blocks[-1].attn1`, with the time/added
embedding folded into per-ResNet biases (one per input size) and the cross-attention K/V of the
empty prompt folded into constants. The output is deterministic: the same input gives byte-identical
files.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import shutil
import sys
from collections import OrderedDict
from pathlib import Path

import numpy as np

FORMAT = "diffcut-model"
FORMAT_VERSION = 1
KIND = "sdxl-encoder-slice"
DEFAULT_SIZES = (256, 512, 768, 1024)
DEFAULT_TIMESTEP = 50
QBLOCK = 32
NOISE_DIR = Path(__file__).resolve().parent / "noise"
# Used when no scheduler config is given: the SDXL / SSD-1B training schedule.
DEFAULT_SCHEDULE = {"beta_start": 0.00085, "beta_end": 0.012, "beta_schedule": "scaled_linear",
                    "num_train_timesteps": 1000}


class ConvertError(Exception):
    """A model or input the converter cannot handle; the message names the offending field."""


# --------------------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------------------

def _as_list(v, n, field):
    if isinstance(v, (list, tuple)):
        if len(v) != n:
            raise ConvertError(f"unet config `{field}` has {len(v)} entries but there are {n} down blocks")
        return list(v)
    return [v] * n


def _refuse(cond, msg):
    if cond:
        raise ConvertError(msg)


def validate_unet_config(cfg) -> dict:
    """Check the UNet config for what the Rust slice implements. Returns the derived topology."""
    g = lambda k, d=None: cfg.get(k, d)  # noqa: E731
    _refuse(g("resnet_time_scale_shift", "default") != "default",
            f"unsupported unet config `resnet_time_scale_shift` = {g('resnet_time_scale_shift')!r} (only 'default')")
    _refuse(g("class_embed_type") is not None,
            f"unsupported unet config `class_embed_type` = {g('class_embed_type')!r} (only null)")
    _refuse(g("num_class_embeds") is not None,
            f"unsupported unet config `num_class_embeds` = {g('num_class_embeds')!r} (only null)")
    _refuse(g("addition_embed_type") not in (None, "text_time"),
            f"unsupported unet config `addition_embed_type` = {g('addition_embed_type')!r} (only null or 'text_time')")
    _refuse(g("time_embedding_type", "positional") != "positional",
            f"unsupported unet config `time_embedding_type` = {g('time_embedding_type')!r} (only 'positional')")
    _refuse(g("act_fn", "silu") not in ("silu", "swish"),
            f"unsupported unet config `act_fn` = {g('act_fn')!r} (only 'silu')")
    _refuse(g("conv_in_kernel", 3) != 3,
            f"unsupported unet config `conv_in_kernel` = {g('conv_in_kernel')!r} (only 3)")
    oca = g("only_cross_attention", False)
    _refuse(any(oca) if isinstance(oca, (list, tuple)) else bool(oca),
            f"unsupported unet config `only_cross_attention` = {oca!r} (only false)")
    _refuse(bool(g("dual_cross_attention", False)),
            "unsupported unet config `dual_cross_attention` = true (only false)")
    _refuse(g("attention_type", "default") != "default",
            f"unsupported unet config `attention_type` = {g('attention_type')!r} (only 'default')")
    _refuse(bool(g("center_input_sample", False)),
            "unsupported unet config `center_input_sample` = true (only false)")
    _refuse(g("encoder_hid_dim_type") is not None,
            f"unsupported unet config `encoder_hid_dim_type` = {g('encoder_hid_dim_type')!r} (only null)")
    _refuse(g("cross_attention_norm") is not None,
            f"unsupported unet config `cross_attention_norm` = {g('cross_attention_norm')!r} (only null)")
    _refuse(bool(g("class_embeddings_concat", False)),
            "unsupported unet config `class_embeddings_concat` = true (only false)")
    _refuse(g("norm_num_groups", 32) is None,
            "unsupported unet config `norm_num_groups` = null (GroupNorm is required)")
    _refuse(g("downsample_padding", 1) not in (0, 1),
            f"unsupported unet config `downsample_padding` = {g('downsample_padding')!r} (only 0 or 1)")
    if g("addition_embed_type") == "text_time":
        _refuse(g("addition_time_embed_dim") is None,
                "unet config `addition_embed_type` = 'text_time' needs `addition_time_embed_dim`")
        _refuse(g("projection_class_embeddings_input_dim") is None,
                "unet config `addition_embed_type` = 'text_time' needs `projection_class_embeddings_input_dim`")

    types = list(g("down_block_types"))
    n = len(types)
    attn_blocks = [i for i, t in enumerate(types) if t == "CrossAttnDownBlock2D"]
    _refuse(not attn_blocks, f"unet config `down_block_types` = {types!r} has no CrossAttnDownBlock2D: no hook")
    h = attn_blocks[-1]
    for i in range(h + 1):
        _refuse(types[i] not in ("DownBlock2D", "CrossAttnDownBlock2D"),
                f"unsupported unet config `down_block_types[{i}]` = {types[i]!r} "
                "(only DownBlock2D and CrossAttnDownBlock2D)")

    lpb = _as_list(g("layers_per_block", 2), n, "layers_per_block")
    _refuse(len(set(lpb[: h + 1])) != 1,
            f"unsupported unet config `layers_per_block` = {g('layers_per_block')!r} (must be the same for every block)")
    layers = lpb[0]
    _refuse(layers < 1, f"unsupported unet config `layers_per_block` = {layers}")

    cad = g("cross_attention_dim", 1280)
    if isinstance(cad, (list, tuple)):
        _refuse(len(set(cad)) != 1,
                f"unsupported unet config `cross_attention_dim` = {cad!r} (must be one value)")
        cad = cad[0]

    heads = g("num_attention_heads") or g("attention_head_dim", 8)
    heads = _as_list(heads, n, "attention_head_dim")
    boc = list(g("block_out_channels"))
    _refuse(len(boc) != n, f"unet config `block_out_channels` has {len(boc)} entries for {n} down blocks")

    tlpb = g("transformer_layers_per_block", 1)
    tlpb = _as_list(tlpb, n, "transformer_layers_per_block")
    per_layer = []
    for i in range(n):
        if types[i] != "CrossAttnDownBlock2D":
            # ignored by diffusers for blocks without attention (SSD-1B's config says [1] here)
            per_layer.append([0] * layers)
            continue
        t = _as_list(tlpb[i], layers, f"transformer_layers_per_block[{i}]")
        per_layer.append([int(x) for x in t])
        if i <= h:
            _refuse(any(x < 1 for x in t), f"unet config `transformer_layers_per_block[{i}]` = {t!r} has a zero")
            _refuse(boc[i] % heads[i] != 0,
                    f"unet config `block_out_channels[{i}]` = {boc[i]} is not divisible by the heads {heads[i]}")

    return {"h": h, "layers": layers, "cross_attention_dim": int(cad), "heads": [int(x) for x in heads],
            "per_layer": per_layer, "types": types, "boc": [int(c) for c in boc]}


def validate_vae_config(cfg, unet_in_channels):
    g = lambda k, d=None: cfg.get(k, d)  # noqa: E731
    for i, t in enumerate(g("down_block_types")):
        _refuse(t != "DownEncoderBlock2D",
                f"unsupported vae config `down_block_types[{i}]` = {t!r} (only DownEncoderBlock2D)")
    _refuse(g("act_fn", "silu") not in ("silu", "swish"),
            f"unsupported vae config `act_fn` = {g('act_fn')!r} (only 'silu')")
    _refuse(not g("use_quant_conv", True), "unsupported vae config `use_quant_conv` = false (only true)")
    _refuse(g("in_channels", 3) != 3, f"unsupported vae config `in_channels` = {g('in_channels')!r} (only 3)")
    _refuse(g("shift_factor") not in (None, 0, 0.0),
            f"unsupported vae config `shift_factor` = {g('shift_factor')!r} (only null: latent = mean * scaling_factor)")
    _refuse(g("latent_channels", 4) != unet_in_channels,
            f"vae config `latent_channels` = {g('latent_channels')} but unet config `in_channels` = {unet_in_channels}")
    _refuse(g("norm_num_groups", 32) is None, "unsupported vae config `norm_num_groups` = null")
    lpb = g("layers_per_block", 1)
    _refuse(not isinstance(lpb, int), f"unsupported vae config `layers_per_block` = {lpb!r} (must be an int)")


def check_modules(unet, vae, topo):
    """Module-level checks of what the config cannot express (norm types, activations, attention flavours)."""
    import torch.nn as nn
    from diffusers.models.activations import GEGLU

    h = topo["h"]
    for i in range(h + 1):
        blk = unet.down_blocks[i]
        for j, r in enumerate(blk.resnets):
            p = f"unet.down_blocks.{i}.resnets.{j}"
            _refuse(r.time_emb_proj is None, f"{p}: no time_emb_proj")
            _refuse(r.time_embedding_norm != "default", f"{p}: time_embedding_norm = {r.time_embedding_norm!r}")
            _refuse(r.output_scale_factor != 1.0, f"{p}: output_scale_factor = {r.output_scale_factor}")
            _refuse(r.skip_time_act, f"{p}: skip_time_act = true")
            _refuse(r.up or r.down, f"{p}: up/down sampling resnet")
            _refuse(not isinstance(r.nonlinearity, nn.SiLU), f"{p}: nonlinearity {type(r.nonlinearity).__name__}")
            if r.conv_shortcut is not None:
                _refuse(r.conv_shortcut.kernel_size != (1, 1), f"{p}.conv_shortcut: kernel {r.conv_shortcut.kernel_size}")
        for j, a in enumerate(getattr(blk, "attentions", [])):
            p = f"unet.down_blocks.{i}.attentions.{j}"
            _refuse(not a.is_input_continuous, f"{p}: only continuous-input Transformer2DModel")
            _refuse(a.config.get("norm_type", "layer_norm") != "layer_norm",
                    f"unsupported transformer `norm_type` = {a.config.get('norm_type')!r} at {p} (only 'layer_norm')")
            for k, tb in enumerate(a.transformer_blocks):
                q = f"{p}.transformer_blocks.{k}"
                _refuse(tb.norm_type != "layer_norm",
                        f"unsupported transformer `norm_type` = {tb.norm_type!r} at {q} (only 'layer_norm')")
                _refuse(tb.pos_embed is not None, f"{q}: positional embeddings are not supported")
                _refuse(tb.only_cross_attention, f"{q}: only_cross_attention")
                _refuse(tb.attn2 is None, f"{q}: no cross attention")
                _refuse(tb.activation_fn != "geglu", f"unsupported `activation_fn` = {tb.activation_fn!r} at {q}")
                _refuse(not isinstance(tb.ff.net[0], GEGLU), f"{q}.ff: not GEGLU")
                _refuse(getattr(tb.ff.net[0], "approximate", "none") != "none", f"{q}.ff: tanh-approximate GELU")
                _refuse(not tb.norm_elementwise_affine, f"{q}: LayerNorm without affine parameters")
                for an in ("attn1", "attn2"):
                    at = getattr(tb, an)
                    _refuse(at.residual_connection or at.rescale_output_factor != 1.0,
                            f"{q}.{an}: residual/rescale inside attention")
                    _refuse(at.group_norm is not None or at.spatial_norm is not None or at.norm_cross is not None
                            or getattr(at, "norm_q", None) is not None,
                            f"{q}.{an}: normalisation inside attention is not supported")
                    _refuse(at.heads != topo["heads"][i], f"{q}.{an}: heads {at.heads} != {topo['heads'][i]}")
        if getattr(blk, "downsamplers", None) is not None and i < h:
            d = blk.downsamplers[0]
            _refuse(d.norm is not None or not d.use_conv, f"unet.down_blocks.{i}.downsamplers.0: unsupported")
    enc = vae.encoder
    if enc.mid_block.attentions[0] is not None:
        at = enc.mid_block.attentions[0]
        _refuse(at.heads != 1, f"vae.encoder.mid_block.attentions.0: heads = {at.heads} (only 1)")
        _refuse(at.group_norm is None or not at.residual_connection or at.rescale_output_factor != 1.0,
                "vae.encoder.mid_block.attentions.0: unsupported attention flavour")


def validate_embeds(prompt_embeds, pooled, cross_attention_dim, add_in_dim, add_time_dim):
    _refuse(prompt_embeds is None, "embeds: missing key `prompt_embeds`")
    s = tuple(prompt_embeds.shape)
    _refuse(len(s) != 3 or s[0] != 1 or s[2] != cross_attention_dim,
            f"embeds key `prompt_embeds` has shape {list(s)}, expected [1, T, {cross_attention_dim}] "
            f"(cross_attention_dim)")
    if add_in_dim is not None:
        _refuse(pooled is None, "embeds: missing key `pooled_prompt_embeds` (addition_embed_type = 'text_time')")
        p = tuple(pooled.shape)
        want = add_in_dim - 6 * add_time_dim
        _refuse(p != (1, want),
                f"embeds key `pooled_prompt_embeds` has shape {list(p)}, expected [1, {want}] "
                f"(projection_class_embeddings_input_dim {add_in_dim} - 6 x addition_time_embed_dim {add_time_dim})")


# --------------------------------------------------------------------------------------------------
# Folded constants
# --------------------------------------------------------------------------------------------------

def noise_schedule(sched_cfg, timestep):
    c = dict(DEFAULT_SCHEDULE)
    if sched_cfg:
        for k in c:
            if k in sched_cfg and sched_cfg[k] is not None:
                c[k] = sched_cfg[k]
        _refuse(sched_cfg.get("trained_betas") is not None,
                "unsupported scheduler config `trained_betas` (only computed schedules)")
    n = int(c["num_train_timesteps"])
    b0, b1 = float(c["beta_start"]), float(c["beta_end"])
    if c["beta_schedule"] == "scaled_linear":
        betas = np.linspace(math.sqrt(b0), math.sqrt(b1), n, dtype=np.float64) ** 2
    elif c["beta_schedule"] == "linear":
        betas = np.linspace(b0, b1, n, dtype=np.float64)
    else:
        raise ConvertError(f"unsupported scheduler config `beta_schedule` = {c['beta_schedule']!r} "
                           "(only 'scaled_linear' or 'linear')")
    _refuse(not 0 <= timestep < n, f"timestep {timestep} outside [0, {n})")
    abar = float(np.cumprod(1.0 - betas)[timestep])
    return {"timestep": int(timestep), "sqrt_alpha_bar": math.sqrt(abar), "sqrt_one_minus_alpha_bar": math.sqrt(1.0 - abar)}


def time_embedding(unet, pooled, size, timestep):
    """emb_S as UNet2DConditionModel.forward computes it (t = timestep, time_ids = [S,S,0,0,S,S])."""
    import torch

    t = torch.tensor([int(timestep)], dtype=torch.int64)
    t_emb = unet.time_proj(t).to(torch.float32)
    emb = unet.time_embedding(t_emb, None)
    if unet.config.addition_embed_type == "text_time":
        time_ids = torch.tensor([[size, size, 0, 0, size, size]], dtype=torch.float32)
        time_embeds = unet.add_time_proj(time_ids.flatten()).reshape((1, -1))
        add = torch.concat([pooled.to(torch.float32), time_embeds], dim=-1).to(emb.dtype)
        emb = emb + unet.add_embedding(add)
    if unet.time_embed_act is not None:
        emb = unet.time_embed_act(emb)
    return emb


# --------------------------------------------------------------------------------------------------
# Tensor collection
# --------------------------------------------------------------------------------------------------

def collect_tensors(unet, vae, topo, ctx, pooled, sizes, timestep):
    """Ordered dict name -> (np.float32 array, is_weight). is_weight marks Linear/conv weights."""
    import torch
    import torch.nn as nn

    out = OrderedDict()

    def add_module(prefix, mod, skip=()):
        for name, sub in mod.named_modules():
            if any(name == s or name.startswith(s + ".") for s in skip):
                continue
            for pn, p in sub.named_parameters(recurse=False):
                full = f"{prefix}.{name}.{pn}" if name else f"{prefix}.{pn}"
                w = p.detach().to(torch.float32).cpu().numpy()
                is_w = pn == "weight" and isinstance(sub, (nn.Linear, nn.Conv2d))
                out[full] = (np.ascontiguousarray(w), is_w)

    def add(name, arr, is_w=False):
        out[name] = (np.ascontiguousarray(np.asarray(arr, dtype=np.float32)), is_w)

    with torch.no_grad():
        embs = {s: time_embedding(unet, pooled, s, timestep) for s in sizes}
        ctx_t = ctx.to(torch.float32)

        def add_resnet(prefix, r):
            add_module(prefix, r, skip=("time_emb_proj",))
            for s in sizes:
                tb = r.time_emb_proj(r.nonlinearity(embs[s]))[0]
                add(f"{prefix}.time_bias.{s}", tb.numpy())

        def add_proj(prefix, lin):
            w = lin.weight.detach().to(torch.float32).numpy()
            add(f"{prefix}.weight", w.reshape(w.shape[0], -1), True)
            if lin.bias is not None:
                add(f"{prefix}.bias", lin.bias.detach().numpy())

        def add_tblock(prefix, tb, partial):
            add_module(f"{prefix}.norm1", tb.norm1)
            add_module(f"{prefix}.attn1", tb.attn1)
            if partial:
                return
            add_module(f"{prefix}.norm2", tb.norm2)
            add_module(f"{prefix}.attn2", tb.attn2, skip=("to_k", "to_v"))
            add(f"{prefix}.attn2.k_ctx", tb.attn2.to_k(ctx_t).numpy())
            add(f"{prefix}.attn2.v_ctx", tb.attn2.to_v(ctx_t).numpy())
            add_module(f"{prefix}.norm3", tb.norm3)
            add_module(f"{prefix}.ff", tb.ff)

        def add_transformer(prefix, a, hook):
            add_module(f"{prefix}.norm", a.norm)
            add_proj(f"{prefix}.proj_in", a.proj_in)
            nb = len(a.transformer_blocks)
            for k, tb in enumerate(a.transformer_blocks):
                add_tblock(f"{prefix}.transformer_blocks.{k}", tb, hook and k == nb - 1)
            if not hook:
                add_proj(f"{prefix}.proj_out", a.proj_out)

        # ---------------- UNet ----------------
        add_module("unet.conv_in", unet.conv_in)
        h = topo["h"]
        for i in range(h + 1):
            blk = unet.down_blocks[i]
            atts = getattr(blk, "attentions", None)
            nres = len(blk.resnets)
            for j in range(nres):
                add_resnet(f"unet.down_blocks.{i}.resnets.{j}", blk.resnets[j])
                if atts is not None:
                    add_transformer(f"unet.down_blocks.{i}.attentions.{j}", atts[j], i == h and j == nres - 1)
            if i < h and blk.downsamplers is not None:
                add_module(f"unet.down_blocks.{i}.downsamplers", blk.downsamplers)

        # ---------------- VAE encoder ----------------
        add_module("vae.encoder", vae.encoder)
        lat = vae.config.latent_channels
        qw = vae.quant_conv.weight.detach().to(torch.float32).numpy()
        qb = vae.quant_conv.bias.detach().to(torch.float32).numpy()
        add("vae.quant_conv.weight", qw[:lat], True)
        add("vae.quant_conv.bias", qb[:lat])
    return out


# --------------------------------------------------------------------------------------------------
# Encoding
# --------------------------------------------------------------------------------------------------

def quantize(w2d, bits):
    """Symmetric per-block-32 quantization along rows. Returns (values, scales[out*L/32])."""
    qmax = 127 if bits == 8 else 7
    o, L = w2d.shape
    b = w2d.astype(np.float32).reshape(o, L // QBLOCK, QBLOCK)
    amax = np.abs(b).max(axis=-1)
    s = (amax / np.float32(qmax)).astype(np.float32)
    safe = np.where(s > 0, s, np.float32(1.0)).astype(np.float32)
    q = np.rint(b / safe[..., None])
    q = np.clip(q, -qmax, qmax).astype(np.int8).reshape(o, L)
    q[np.repeat(s == 0, QBLOCK, axis=1)] = 0
    if bits == 8:
        return q, s.reshape(-1)
    n = q.astype(np.uint8) & np.uint8(0x0F)
    packed = (n[:, 0::2] | (n[:, 1::2] << np.uint8(4))).astype(np.uint8)
    return packed, s.reshape(-1)


def to_f16(name, a):
    m = float(np.abs(a).max()) if a.size else 0.0
    _refuse(m > 65504.0, f"tensor `{name}` has |value| {m} beyond the f16 range; use --dtype f32")
    return a.astype(np.float16)


def encode(tensors, dtype):
    """name -> array in storage dtype; also returns the logical parameter count."""
    enc = OrderedDict()
    params = 0
    for name, (a, is_w) in tensors.items():
        params += a.size
        if dtype == "f32":
            enc[name] = a
        elif ".time_bias." in name:
            enc[name] = a.astype(np.float32)
        elif dtype in ("q8", "q4") and is_w and a.ndim >= 2:
            L = int(np.prod(a.shape[1:]))
            if L % QBLOCK == 0:
                # `{name}.q8` / `{name}.q4` + `{name}.scales` replace `{name}`
                q, s = quantize(a.reshape(a.shape[0], L), 8 if dtype == "q8" else 4)
                enc[f"{name}.{dtype}"] = q
                enc[f"{name}.scales"] = s
            else:
                enc[name] = to_f16(name, a)
        else:
            enc[name] = to_f16(name, a)
    return enc, params


def sha256_file(p):
    hsh = hashlib.sha256()
    with open(p, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            hsh.update(chunk)
    return hsh.hexdigest()


def write_shards(enc, out, shard_mb):
    from safetensors.numpy import save_file

    limit = int(shard_mb * 1_000_000)
    # A quantized weight's values ({name}.q8 / .q4) and its {name}.scales are one unit: they always
    # go into the same shard, so a loader can rebuild the weight from one shard at a time.
    units = OrderedDict()
    for name, a in enc.items():
        base = name
        for suffix in (".q8", ".q4", ".scales"):
            if name.endswith(suffix):
                base = name[: -len(suffix)]
        units.setdefault(base, []).append((name, a))
    groups, cur, cur_bytes = [], OrderedDict(), 8
    for members in units.values():
        nb = sum(a.nbytes + len(name) + 96 for name, a in members)  # data + a generous header estimate
        if cur and cur_bytes + nb > limit:
            groups.append(cur)
            cur, cur_bytes = OrderedDict(), 8
        for name, a in members:
            cur[name] = a
        cur_bytes += nb
    if cur:
        groups.append(cur)
    names = []
    for k, g in enumerate(groups):
        fn = f"weights-{k:05d}.safetensors"
        save_file({n: np.ascontiguousarray(a) for n, a in g.items()}, str(out / fn))
        os.chmod(out / fn, 0o644)  # safetensors creates 0600 files; these are meant to be served
        size = (out / fn).stat().st_size
        if size > limit and len(g) > 1:
            raise ConvertError(f"internal: shard {fn} is {size} bytes > limit {limit}")
        names.append(fn)
    return names


# --------------------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------------------

def _variant(model_dir, stem):
    d = Path(model_dir)
    if (d / f"{stem}.safetensors").exists() or (d / f"{stem}.bin").exists():
        return None
    if (d / f"{stem}.fp16.safetensors").exists() or (d / f"{stem}.fp16.bin").exists():
        return "fp16"
    if list(d.glob(f"{stem}.safetensors.index.json")):
        return None
    if list(d.glob(f"{stem}.fp16.safetensors.index.json")):
        return "fp16"
    return None


def _has_accelerate():
    try:
        import accelerate  # noqa: F401
        return True
    except ImportError:
        return False


def load_models(unet_dir, vae_dir):
    import torch
    from diffusers import AutoencoderKL, UNet2DConditionModel

    for d, what in ((unet_dir, "--unet"), (vae_dir, "--vae")):
        _refuse(not (Path(d) / "config.json").exists(), f"{what} {d}: no config.json (not a diffusers model folder)")
    lowmem = _has_accelerate()
    unet = UNet2DConditionModel.from_pretrained(str(unet_dir), torch_dtype=torch.float32, low_cpu_mem_usage=lowmem,
                                                variant=_variant(unet_dir, "diffusion_pytorch_model"))
    vae = AutoencoderKL.from_pretrained(str(vae_dir), torch_dtype=torch.float32, low_cpu_mem_usage=lowmem,
                                        variant=_variant(vae_dir, "diffusion_pytorch_model"))
    unet.eval()
    vae.eval()
    return unet, vae


def load_embeds(path):
    from safetensors.numpy import load_file
    import torch

    d = load_file(str(path))
    pe = d.get("prompt_embeds")
    pp = d.get("pooled_prompt_embeds")
    return (torch.from_numpy(pe.astype(np.float32)) if pe is not None else None,
            torch.from_numpy(pp.astype(np.float32)) if pp is not None else None)


def pipeline_embeds(pipe_dir):
    """Empty-prompt embeddings with StableDiffusionXLPipeline.encode_prompt (no CFG)."""
    import torch
    try:
        import transformers  # noqa: F401
    except ImportError as e:  # pragma: no cover
        raise ConvertError("computing the prompt embeddings from a pipeline folder needs `transformers` "
                           "(pip install transformers), or pass --embeds") from e
    from transformers import CLIPTextModel, CLIPTextModelWithProjection, CLIPTokenizer
    from diffusers import StableDiffusionXLPipeline

    p = Path(pipe_dir)

    def load_te(cls, sub):
        return cls.from_pretrained(str(p / sub), torch_dtype=torch.float32,
                                   variant=_variant(p / sub, "model")).eval()

    te1 = load_te(CLIPTextModel, "text_encoder") if (p / "text_encoder").exists() else None
    te2 = load_te(CLIPTextModelWithProjection, "text_encoder_2")
    tok1 = CLIPTokenizer.from_pretrained(str(p / "tokenizer")) if (p / "tokenizer").exists() else None
    tok2 = CLIPTokenizer.from_pretrained(str(p / "tokenizer_2"))
    pipe = StableDiffusionXLPipeline(vae=None, text_encoder=te1, text_encoder_2=te2, tokenizer=tok1,
                                     tokenizer_2=tok2, unet=None, scheduler=None)
    with torch.no_grad():
        pe, _, pooled, _ = pipe.encode_prompt(prompt="", device=torch.device("cpu"), num_images_per_prompt=1,
                                              do_classifier_free_guidance=False)
    return pe.to(torch.float32), pooled.to(torch.float32)


# --------------------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------------------

def build_config(unet, vae, topo, T, sizes, noise):
    h = topo["h"]
    blk = unet.down_blocks[h]
    r0 = unet.down_blocks[0].resnets[0]
    a = blk.attentions[-1]
    tb = a.transformer_blocks[-1]
    enc = vae.encoder
    vc = vae.config
    return {
        "kind": KIND,
        "unet": {
            "in_channels": int(unet.config.in_channels),
            "block_out_channels": topo["boc"][: h + 1],
            "down_block_types": topo["types"][: h + 1],
            "layers_per_block": int(topo["layers"]),
            "transformer_layers_per_block": topo["per_layer"][: h + 1],
            "num_attention_heads": topo["heads"][: h + 1],
            "cross_attention_dim": int(topo["cross_attention_dim"]),
            "norm_num_groups": int(r0.norm1.num_groups),
            "resnet_eps": float(r0.norm1.eps),
            "transformer_norm_eps": float(a.norm.eps),
            "layer_norm_eps": float(tb.norm1.eps),
            "downsample_padding": int(unet.config.downsample_padding),
            "context_tokens": int(T),
        },
        "hook": {"down_block": h, "attention": len(blk.attentions) - 1,
                 "transformer_block": len(a.transformer_blocks) - 1},
        "vae": {
            "in_channels": int(vc.in_channels),
            "block_out_channels": [int(c) for c in vc.block_out_channels],
            "layers_per_block": int(vc.layers_per_block),
            "norm_num_groups": int(enc.conv_norm_out.num_groups),
            "eps": float(enc.conv_norm_out.eps),
            "latent_channels": int(vc.latent_channels),
            "mid_block_add_attention": bool(getattr(vc, "mid_block_add_attention", True)),
            "scaling_factor": float(vc.scaling_factor),
        },
        "noise": noise,
        "sizes": list(sizes),
    }


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("pipeline", nargs="?", help="diffusers pipeline folder (Hub layout of segmind/SSD-1B)")
    ap.add_argument("--unet", help="diffusers UNet2DConditionModel folder")
    ap.add_argument("--vae", help="diffusers AutoencoderKL folder")
    ap.add_argument("--embeds", help="safetensors with prompt_embeds [1,T,D] and pooled_prompt_embeds [1,P]")
    ap.add_argument("--scheduler", help="scheduler_config.json for the noise schedule (default: SDXL's)")
    ap.add_argument("--out", required=True, help="output folder (created; existing files are replaced)")
    ap.add_argument("--dtype", default="q8", choices=["f32", "f16", "q8", "q4"])
    ap.add_argument("--sizes", default=",".join(map(str, DEFAULT_SIZES)),
                    help="comma-separated input sizes S whose folded constants are stored")
    ap.add_argument("--shard-mb", type=float, default=256, help="maximum shard size in MB (10^6 bytes)")
    ap.add_argument("--timestep", type=int, default=DEFAULT_TIMESTEP)
    ap.add_argument("--noise-dir", default=str(NOISE_DIR), help="folder with ddim_noise_seed42_{S}.npy")
    ap.add_argument("--name", help="source model name for the manifest (default: folder name)")
    ap.add_argument("--licence", "--license", dest="licence", default=None,
                    help="source model licence for the manifest (default: 'unknown')")
    a = ap.parse_args(argv)
    if a.pipeline:
        if a.unet or a.vae:
            ap.error("give either PIPELINE_DIR or --unet/--vae/--embeds, not both")
    elif not (a.unet and a.vae and a.embeds):
        ap.error("need PIPELINE_DIR, or all of --unet, --vae and --embeds")
    try:
        a.sizes = sorted({int(s) for s in a.sizes.split(",") if s.strip()})
    except ValueError:
        ap.error(f"--sizes {a.sizes!r}: not a comma-separated list of integers")
    if not a.sizes:
        ap.error("--sizes is empty")
    return a


def convert(a):
    import torch
    import diffusers

    torch.manual_seed(0)
    sched_cfg = None
    if a.pipeline:
        p = Path(a.pipeline)
        _refuse(not (p / "model_index.json").exists(), f"{p}: no model_index.json (not a diffusers pipeline)")
        unet_dir, vae_dir = p / "unet", p / "vae"
        sc = p / "scheduler" / "scheduler_config.json"
        if sc.exists():
            sched_cfg = json.loads(sc.read_text())
        default_name = p.resolve().name
    else:
        unet_dir, vae_dir = Path(a.unet), Path(a.vae)
        default_name = unet_dir.resolve().parent.name if unet_dir.name == "unet" else unet_dir.resolve().name
    if a.scheduler:
        sched_cfg = json.loads(Path(a.scheduler).read_text())
    for s in a.sizes:
        _refuse(s <= 0 or s % 8 != 0, f"--sizes: {s} is not a positive multiple of 8")

    with open(unet_dir / "config.json") as f:
        ucfg = json.load(f)
    with open(vae_dir / "config.json") as f:
        vcfg = json.load(f)
    topo = validate_unet_config(ucfg)
    validate_vae_config(vcfg, ucfg.get("in_channels", 4))
    # the hook block's grid must be integral for every size
    vae_down = 2 ** (len(vcfg.get("block_out_channels", [128, 256, 512, 512])) - 1)
    down = vae_down * 2 ** topo["h"]
    for s in a.sizes:
        _refuse(s % down != 0, f"--sizes: {s} is not a multiple of {down} (latent /{vae_down}, then {topo['h']} downsamplings)")

    unet, vae = load_models(unet_dir, vae_dir)
    check_modules(unet, vae, topo)

    if a.pipeline and not a.embeds:
        pe, pooled = pipeline_embeds(a.pipeline)
    else:
        pe, pooled = load_embeds(a.embeds)
    add_in = add_t = None
    if unet.config.addition_embed_type == "text_time":
        add_in = unet.add_embedding.linear_1.in_features
        add_t = unet.config.addition_time_embed_dim
    validate_embeds(pe, pooled, topo["cross_attention_dim"], add_in, add_t)
    T = pe.shape[1]

    noise = noise_schedule(sched_cfg, a.timestep)
    tensors = collect_tensors(unet, vae, topo, pe[0], pooled, a.sizes, a.timestep)
    enc, params = encode(tensors, a.dtype)

    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    for old in list(out.glob("weights-*.safetensors")) + [out / "manifest.json", out / "config.json"]:
        if old.exists():
            old.unlink()
    if (out / "noise").exists():
        shutil.rmtree(out / "noise")

    cfg = build_config(unet, vae, topo, T, a.sizes, noise)
    (out / "config.json").write_text(json.dumps(cfg, indent=2, sort_keys=True) + "\n")
    shards = write_shards(enc, out, a.shard_mb)

    files = [{"name": "config.json", "kind": "config"}] + [{"name": s, "kind": "weights"} for s in shards]
    nd = Path(a.noise_dir)
    for s in a.sizes:
        src = nd / f"ddim_noise_seed42_{s}.npy"
        # The official noise is [1, 4, S/8, S/8]: only a latent of that shape can use it.
        latent = (1, vcfg.get("latent_channels", 4), s // vae_down, s // vae_down)
        if src.exists() and tuple(np.load(src, mmap_mode="r").shape) != latent:
            print(f"  note: {src.name} is not the latent's shape {list(latent)}; not shipped")
        elif src.exists():
            (out / "noise").mkdir(exist_ok=True)
            shutil.copyfile(src, out / "noise" / src.name)
            files.append({"name": f"noise/{src.name}", "kind": "noise", "size": s})
    for f in files:
        f["bytes"] = (out / f["name"]).stat().st_size
        f["sha256"] = sha256_file(out / f["name"])
    total = sum(f["bytes"] for f in files)
    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "dtype": a.dtype,
        "source": {"name": a.name or default_name, "licence": a.licence or "unknown",
                   "converted_by": "models/convert.py", "diffusers": diffusers.__version__},
        "config": "config.json",
        "files": files,
        "total_bytes": total,
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")

    # summary
    by_dtype = {}
    for a_ in enc.values():
        k = {np.dtype(np.float32): "F32", np.dtype(np.float16): "F16", np.dtype(np.int8): "I8",
             np.dtype(np.uint8): "U8"}[a_.dtype]
        by_dtype[k] = by_dtype.get(k, 0) + a_.nbytes
    print(f"converted {manifest['source']['name']} -> {out} ({a.dtype}), hook "
          f"down_blocks.{cfg['hook']['down_block']}.attentions.{cfg['hook']['attention']}"
          f".transformer_blocks.{cfg['hook']['transformer_block']}.attn1, sizes {a.sizes}")
    print(f"  parameters stored: {params:,} ({len(tensors)} tensors, {len(enc)} stored entries)")
    for k in sorted(by_dtype):
        print(f"  {k}: {by_dtype[k]:,} bytes")
    print(f"  files: {len(files)} ({len(shards)} shard(s)); total_bytes {total:,} ({total / 1e6:.1f} MB)")
    return manifest


def main(argv=None):
    a = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        return convert(a)
    except ConvertError as e:
        print(f"convert.py: error: {e}", file=sys.stderr)
        if argv is None:
            sys.exit(2)
        raise


if __name__ == "__main__":
    main()
