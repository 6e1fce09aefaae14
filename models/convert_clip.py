#!/usr/bin/env python3
"""Convert an open_clip CLIP with a timm ConvNeXt image tower into DiffCut's CLIP folder.

The folder is described in models/FORMAT.md, section "The converted CLIP folder": the image tower
(`image-*.safetensors`), the text tower (`text-*.safetensors`), CLIP's BPE merges, and the official
label sets' text classifiers, precomputed. DiffCut's open-vocabulary extension names segments with
`convnext_large_d_320` / `laion2b_s29b_b131k_ft_soup`. Two forms:

    python3 models/convert_clip.py --open-clip convnext_large_d_320 --pretrained laion2b_s29b_b131k_ft_soup --out C
    python3 models/convert_clip.py --config CFG.json --weights W.safetensors --out C

The first downloads the weights through open_clip (needs internet); without --pretrained the model
keeps open_clip's random initialisation (torch seed 0), which is only good for size checks. CFG is
an open_clip model config (`embed_dim`, `vision_cfg` with the `timm_model_name` of a timm ConvNeXt,
`text_cfg`, optional `quick_gelu`); W is that model's `state_dict()` in safetensors, loaded
strictly. One extension that open_clip itself does not read: `vision_cfg.timm_model_kwargs`, a dict
passed on to `timm.create_model` (e.g. `{"depths": [1, 1, 2, 1], "dims": [32, 64, 96, 128]}`), so
a ConvNeXt of any shape can be described (tests/fixtures/clip/ uses it).

Everything the format stores is read from the model object and its weights (depths, widths, kernel,
layer scale, head, heads, activation, ...); anything the format cannot express is refused with the
field named. The label-set classifiers are computed in float32 from the unquantized weights, the way
DiffCut's official code builds its text classifier. Output is deterministic (a rerun gives
byte-identical files on the same library versions and machine).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import re
import shutil
import sys
import tempfile
from collections import OrderedDict
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from convert import (  # noqa: E402  (the SSD-1B converter: storage rules, sharding, hashing)
    FORMAT,
    FORMAT_VERSION,
    ConvertError,
    _refuse,
    encode,
    sha256_file,
    write_shards,
)

KIND = "openclip-convnext"
LABELS_DIR = HERE / "labels"
LABEL_SETS = ("voc", "context", "coco-object", "ade", "cityscapes")
VOCAB_NAME = "bpe_simple_vocab_16e6.txt.gz"
CLASSIFIER_BATCH = 128  # prompts per encode_text call, as the official code
# The 14 ViLD prompt templates DiffCut's official code (tools/clip_classifier.py, from FC-CLIP) uses.
VILD_TEMPLATES = (
    "a photo of a {}.",
    "This is a photo of a {}",
    "There is a {} in the scene",
    "There is the {} in the scene",
    "a photo of a {} in the scene",
    "a photo of a small {}.",
    "a photo of a medium {}.",
    "a photo of a large {}.",
    "This is a photo of a small {}.",
    "This is a photo of a medium {}.",
    "This is a photo of a large {}.",
    "There is a small {} in the scene.",
    "There is a medium {} in the scene.",
    "There is a large {} in the scene.",
)
_SET_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*$")


# --------------------------------------------------------------------------------------------------
# Label sets
# --------------------------------------------------------------------------------------------------

def split_synonyms(line):
    """One class's synonyms, as the official `split_labels`: ', ' becomes ',', then split on ','."""
    return line.replace(", ", ",").split(",")


def parse_label_text(text, where):
    """A label file: one class per line (class index = line number), synonyms separated by ','."""
    _refuse("\r" in text, f"{where}: CR line ends (only LF)")
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()  # the final newline
    classes = []
    for i, line in enumerate(lines):
        syn = split_synonyms(line)
        _refuse(any(s.strip() == "" for s in syn), f"{where}:{i + 1}: an empty class name in {line!r}")
        classes.append(syn)
    _refuse(not classes, f"{where}: no classes")
    return classes


def parse_inline(spec):
    """An inline set: classes separated by ';', synonyms by ',' (e.g. "cat;dog,puppy;grass")."""
    classes = [split_synonyms(c) for c in spec.split(";")]
    _refuse(any(s.strip() == "" for c in classes for s in c), f"inline label set {spec!r}: an empty class name")
    return classes


def load_label_set(item):
    """`name` (one of models/labels/) or `name=FILE.txt`. Returns (name, classes)."""
    if "=" in item:
        name, path = item.split("=", 1)
        p = Path(path)
    else:
        name, p = item, LABELS_DIR / f"{item}.txt"
    _refuse(not _SET_NAME.match(name), f"--label-sets: {name!r} is not a valid set name ([a-z0-9_-])")
    _refuse(not p.exists(), f"--label-sets: no label file {p} (known sets: {', '.join(LABEL_SETS)})")
    return name, parse_label_text(p.read_text(encoding="utf-8"), str(p))


# --------------------------------------------------------------------------------------------------
# Model loading
# --------------------------------------------------------------------------------------------------

def check_model_config(cfg, where):
    """Refusals that are clearest on the open_clip config itself."""
    _refuse(not isinstance(cfg, dict) or "vision_cfg" not in cfg or "text_cfg" not in cfg,
            f"{where}: not an open_clip model config (needs `embed_dim`, `vision_cfg`, `text_cfg`)")
    v, t = cfg["vision_cfg"], cfg["text_cfg"]
    _refuse("multimodal_cfg" in cfg, f"{where}: `multimodal_cfg` (CoCa) is not supported")
    _refuse(bool(cfg.get("custom_text")), f"{where}: `custom_text` = true (CustomTextCLIP) is not supported")
    _refuse(not v.get("timm_model_name"),
            f"{where}: `vision_cfg.timm_model_name` is missing: only a timm ConvNeXt image tower is supported "
            "(not open_clip's VisionTransformer / ModifiedResNet)")
    _refuse(v.get("timm_pool") in ("abs_attn", "rot_attn"),
            f"{where}: `vision_cfg.timm_pool` = {v.get('timm_pool')!r}: attention pooling is not supported")
    _refuse("cat" in str(v.get("timm_pool") or ""),
            f"{where}: `vision_cfg.timm_pool` = {v.get('timm_pool')!r}: a pooling that concatenates is not supported")
    _refuse(bool(t.get("hf_model_name")),
            f"{where}: `text_cfg.hf_model_name` = {t.get('hf_model_name')!r}: a Hugging Face text tower is not supported")
    _refuse(bool(t.get("hf_tokenizer_name")),
            f"{where}: `text_cfg.hf_tokenizer_name` = {t.get('hf_tokenizer_name')!r}: only CLIP's BPE tokenizer is supported")
    _refuse(bool(t.get("tokenizer_mode")), f"{where}: `text_cfg.tokenizer_mode` = {t.get('tokenizer_mode')!r} is not supported")
    tk = t.get("tokenizer_kwargs") or {}
    _refuse(any(k != "clean" or tk[k] != "lower" for k in tk),
            f"{where}: `text_cfg.tokenizer_kwargs` = {tk!r}: only the default tokenizer (clean 'lower', no reduction)")


@contextlib.contextmanager
def timm_kwargs(model_name, kwargs):
    """Pass extra constructor arguments to timm.create_model(model_name) while open_clip builds the model."""
    if not kwargs:
        yield
        return
    import timm

    orig = timm.create_model

    def create(name, *a, **k):
        if name == model_name:
            k = {**k, **kwargs}
        return orig(name, *a, **k)

    timm.create_model = create
    try:
        yield
    finally:
        timm.create_model = orig


def build_from_config(cfg):
    """The open_clip model of a config dict (random init). Honours `vision_cfg.timm_model_kwargs`."""
    import open_clip

    cfg = json.loads(json.dumps(cfg))  # private copy
    kw = cfg["vision_cfg"].pop("timm_model_kwargs", None)
    _refuse(kw is not None and not isinstance(kw, dict), "`vision_cfg.timm_model_kwargs` must be an object")
    with tempfile.TemporaryDirectory() as d:
        (Path(d) / "open_clip_config.json").write_text(json.dumps({"model_cfg": cfg}))
        root = logging.getLogger()
        level = root.level
        root.setLevel(logging.ERROR)  # open_clip warns that the folder has no weights: they come next
        try:
            with timm_kwargs(cfg["vision_cfg"]["timm_model_name"], kw):
                model = open_clip.create_model(f"local-dir:{d}", precision="fp32", device="cpu")
        except (AssertionError, TypeError, ValueError, RuntimeError) as e:
            raise ConvertError(f"open_clip / timm cannot build the model of this config: {type(e).__name__}: {e}") from e
        finally:
            root.setLevel(level)
    return model.eval()


def load_config_weights(cfg_path, weights_path):
    import torch
    from safetensors.torch import load_file

    cfg = json.loads(Path(cfg_path).read_text())
    check_model_config(cfg, str(cfg_path))
    torch.manual_seed(0)
    model = build_from_config(cfg)
    sd = load_file(str(weights_path))
    ref = model.state_dict()
    missing = [k for k in ref if k not in sd]
    unexpected = [k for k in sd if k not in ref]
    _refuse(missing or unexpected, f"--weights {weights_path} does not match the model of {cfg_path}: "
            f"missing {missing[:8]}, unexpected {unexpected[:8]}")
    for k, v in ref.items():
        _refuse(tuple(sd[k].shape) != tuple(v.shape),
                f"--weights {weights_path}: `{k}` has shape {list(sd[k].shape)}, the config's model {list(v.shape)}")
    model.load_state_dict(sd, strict=True)
    return model.float().eval()


def load_open_clip(name, pretrained):
    import open_clip
    import torch

    cfg = open_clip.get_model_config(name)
    _refuse(cfg is None, f"--open-clip {name!r}: not an open_clip model name")
    check_model_config(cfg, f"open_clip model {name!r}")
    torch.manual_seed(0)
    model = open_clip.create_model(name, pretrained=pretrained or None, precision="fp32", device="cpu")
    return model.float().eval()


# --------------------------------------------------------------------------------------------------
# Topology (read from the model object)
# --------------------------------------------------------------------------------------------------

def _act_kind(act, where):
    import torch.nn as nn
    from open_clip.transformer import QuickGELU

    if isinstance(act, QuickGELU):
        return "quick_gelu"
    if isinstance(act, nn.GELU):
        _refuse(act.approximate != "none", f"{where}: tanh-approximate GELU is not supported")
        return "gelu"
    try:
        from timm.layers.activations import GELU as TimmGELU
        if type(act) is TimmGELU:
            return "gelu"
    except ImportError:  # pragma: no cover
        pass
    raise ConvertError(f"{where}: activation {type(act).__name__} is not supported (only GELU / QuickGELU)")


def _is_identity(m):
    import torch.nn as nn
    return isinstance(m, nn.Identity)


def inspect_vision(model):
    """The `vision` object of config.json, checked against what the format expresses."""
    import torch.nn as nn
    from open_clip.timm_model import TimmModel
    from timm.layers import LayerNorm, LayerNorm2d, Mlp, NormMlpClassifierHead
    from timm.models.convnext import ConvNeXt, ConvNeXtBlock

    v = model.visual
    _refuse(not isinstance(v, TimmModel), f"image tower `visual` is {type(v).__name__}, not a timm model")
    t = v.trunk
    _refuse(type(t) is not ConvNeXt, f"`vision_cfg.timm_model_name`: the trunk is timm {type(t).__name__}, not ConvNeXt")
    eps = {}

    def ln(m, where, cls):
        _refuse(type(m) is not cls, f"{where}: {type(m).__name__} (only timm {cls.__name__}; e.g. no RMSNorm)")
        _refuse(m.weight is None or m.bias is None, f"{where}: LayerNorm without affine weight and bias")
        eps[where] = float(m.eps)

    def linear(m, where, bias=True):
        _refuse(type(m) is not nn.Linear, f"{where}: {type(m).__name__} (only nn.Linear)")
        _refuse(bias and m.bias is None, f"{where}: Linear without bias")
        return m

    def conv(m, where, k, stride, pad, groups):
        _refuse(type(m) is not nn.Conv2d, f"{where}: {type(m).__name__} (only nn.Conv2d; no 'same' padding)")
        _refuse(m.kernel_size != (k, k) or m.stride != (stride, stride) or m.padding != (pad, pad)
                or m.dilation != (1, 1) or m.groups != groups or m.padding_mode != "zeros",
                f"{where}: conv kernel {m.kernel_size} stride {m.stride} padding {m.padding} dilation {m.dilation} "
                f"groups {m.groups} (expected kernel {k}, stride {stride}, padding {pad}, no dilation, groups {groups})")
        _refuse(m.bias is None, f"{where}: conv without bias (timm conv_bias = false) is not supported")

    stem = t.stem
    _refuse(not (isinstance(stem, nn.Sequential) and len(stem) == 2 and type(stem[0]) is nn.Conv2d),
            "visual.trunk.stem: only the patch stem (timm ConvNeXt stem_type 'patch')")
    patch = stem[0].kernel_size[0]
    conv(stem[0], "visual.trunk.stem.0", patch, patch, 0, 1)
    ln(stem[1], "visual.trunk.stem.1", LayerNorm2d)
    in_ch = stem[0].in_channels
    prev = stem[0].out_channels

    depths, dims, hidden, kernels, ls = [], [], [], set(), set()
    for i, st in enumerate(t.stages):
        p = f"visual.trunk.stages.{i}"
        ds = st.downsample
        if i == 0:
            _refuse(not _is_identity(ds), f"{p}.downsample: the first stage must not downsample")
        else:
            _refuse(not (isinstance(ds, nn.Sequential) and len(ds) == 2),
                    f"{p}.downsample: only LayerNorm2d + 2x2 stride-2 conv (timm output_stride 32)")
            ln(ds[0], f"{p}.downsample.0", LayerNorm2d)
            conv(ds[1], f"{p}.downsample.1", 2, 2, 0, 1)
            _refuse(ds[1].in_channels != prev, f"{p}.downsample.1: in_channels {ds[1].in_channels} != {prev}")
            prev = ds[1].out_channels
        _refuse(len(st.blocks) == 0, f"{p}: a stage without blocks")
        hid = set()
        for j, b in enumerate(st.blocks):
            q = f"{p}.blocks.{j}"
            _refuse(type(b) is not ConvNeXtBlock, f"{q}: {type(b).__name__} (only timm ConvNeXtBlock)")
            _refuse(b.use_conv_mlp, f"{q}: conv_mlp ConvNeXt (1x1-conv MLP, channels-first norm) is not supported")
            k = b.conv_dw.kernel_size[0]
            _refuse(k % 2 == 0, f"{q}.conv_dw: even kernel {k}")
            conv(b.conv_dw, f"{q}.conv_dw", k, 1, k // 2, prev)
            _refuse(b.conv_dw.in_channels != prev or b.conv_dw.out_channels != prev,
                    f"{q}.conv_dw: channels {b.conv_dw.in_channels}->{b.conv_dw.out_channels}, expected {prev}")
            kernels.add(k)
            ln(b.norm, f"{q}.norm", LayerNorm)
            _refuse(type(b.mlp) is not Mlp, f"{q}.mlp: {type(b.mlp).__name__} (only timm Mlp; no ConvNeXt-V2 GRN)")
            _refuse(not _is_identity(b.mlp.norm), f"{q}.mlp.norm: a norm inside the MLP is not supported")
            linear(b.mlp.fc1, f"{q}.mlp.fc1")
            linear(b.mlp.fc2, f"{q}.mlp.fc2")
            _refuse(b.mlp.fc1.in_features != prev or b.mlp.fc2.out_features != prev
                    or b.mlp.fc2.in_features != b.mlp.fc1.out_features, f"{q}.mlp: widths do not chain")
            _refuse(_act_kind(b.mlp.act, f"{q}.mlp.act") != "gelu", f"{q}.mlp.act: only exact GELU in the image tower")
            _refuse(not _is_identity(b.shortcut), f"{q}.shortcut: a projected shortcut is not supported")
            hid.add(b.mlp.fc1.out_features)
            ls.add(b.gamma is not None)
        _refuse(len(hid) != 1, f"{p}: blocks with different MLP widths {sorted(hid)}")
        depths.append(len(st.blocks))
        dims.append(prev)
        hidden.append(hid.pop())
    _refuse(len(kernels) != 1, f"visual.trunk: depthwise kernels differ between stages {sorted(kernels)} (one kernel_size)")
    _refuse(len(ls) != 1, "visual.trunk: some blocks have layer scale (`gamma`) and some do not")
    _refuse(not _is_identity(t.norm_pre),
            "visual.trunk.norm_pre is not Identity (timm head_norm_first ConvNeXt): not supported")
    h = t.head
    _refuse(type(h) is not NormMlpClassifierHead,
            f"visual.trunk.head: {type(h).__name__} (only NormMlpClassifierHead: pool -> norm; no head_norm_first)")
    pool = (h.global_pool.pool_type or "").replace("fast", "")
    _refuse(pool not in ("", "avg", "max", "avgmax"),
            f"visual.trunk.head.global_pool: pool type {h.global_pool.pool_type!r} changes a 1x1 input")
    ln(h.norm, "visual.trunk.head.norm", LayerNorm2d)
    _refuse(not _is_identity(h.pre_logits), "visual.trunk.head.pre_logits: timm head_hidden_size is not supported")
    _refuse(not _is_identity(h.fc),
            "visual.trunk.head.fc: a classifier / projection inside the trunk (open_clip `timm_proj` '') is not supported")

    mods = v.head._modules
    _refuse("pool" in mods, "visual.head.pool: attention pooling (`timm_pool` abs_attn / rot_attn) is not supported")
    if "mlp" in mods:
        m = mods["mlp"]
        _refuse(type(m) is not Mlp, f"visual.head.mlp: {type(m).__name__} (only timm Mlp)")
        _refuse(not _is_identity(m.norm), "visual.head.mlp.norm: not supported")
        linear(m.fc1, "visual.head.mlp.fc1", bias=False)
        linear(m.fc2, "visual.head.mlp.fc2", bias=False)
        _refuse(_act_kind(m.act, "visual.head.mlp.act") != "gelu", "visual.head.mlp.act: only exact GELU")
        _refuse(m.fc1.in_features != prev, f"visual.head.mlp.fc1: in_features {m.fc1.in_features} != {prev}")
        head = {"kind": "mlp", "hidden": int(m.fc1.out_features), "fc1_bias": m.fc1.bias is not None,
                "fc2_bias": m.fc2.bias is not None}
        out_dim = m.fc2.out_features
    elif "proj" in mods:
        m = linear(mods["proj"], "visual.head.proj", bias=False)
        _refuse(m.in_features != prev, f"visual.head.proj: in_features {m.in_features} != {prev}")
        head = {"kind": "linear", "bias": m.bias is not None}
        out_dim = m.out_features
    else:
        _refuse(set(mods) - {"drop"}, f"visual.head: unknown layers {sorted(mods)}")
        head = {"kind": "none"}
        out_dim = prev
    _refuse(len(set(eps.values())) != 1, f"visual.trunk: LayerNorm eps differ {sorted(set(eps.values()))}")
    size = v.image_size
    return {
        "image_size": int(size[0]) if size[0] == size[1] else [int(size[0]), int(size[1])],
        "in_channels": int(in_ch),
        "patch_size": int(patch),
        "depths": depths,
        "dims": [int(d) for d in dims],
        "mlp_hidden": [int(x) for x in hidden],
        "kernel_size": int(kernels.pop()),
        "layer_scale": bool(ls.pop()),
        "norm_eps": float(next(iter(eps.values()))),
        "head": head,
    }, int(out_dim)


def inspect_text(model):
    """The `text` object of config.json and embed_dim."""
    import torch
    import torch.nn as nn
    from open_clip.model import CLIP
    from open_clip.transformer import LayerScale, ResidualAttentionBlock, Transformer

    _refuse(type(model) is not CLIP,
            f"model class {type(model).__name__}: only open_clip CLIP (no CustomTextCLIP / HF text tower / CoCa)")
    _refuse(getattr(model, "logit_bias", None) is not None, "`logit_bias` (SigLIP-style) is not supported")
    tr = model.transformer
    _refuse(type(tr) is not Transformer, f"transformer: {type(tr).__name__} (only open_clip Transformer)")
    emb = model.token_embedding
    _refuse(type(emb) is not nn.Embedding, "token_embedding: not nn.Embedding")
    vocab, width = emb.weight.shape
    ctx = int(model.context_length)
    _refuse(tuple(model.positional_embedding.shape) != (ctx, width),
            f"positional_embedding: shape {list(model.positional_embedding.shape)} != [{ctx}, {width}] "
            "(a class token, `text_cfg.embed_cls`, is not supported)")
    _refuse(model.text_pool_type != "argmax",
            f"`text_cfg.pool_type` = {model.text_pool_type!r}: only 'argmax' (the EOT token), as the official code")
    mask = model.attn_mask
    if mask is None:
        causal = False
    else:
        ref = torch.full((ctx, ctx), float("-inf")).triu_(1)
        _refuse(tuple(mask.shape) != (ctx, ctx) or not torch.equal(mask.float(), ref), "attn_mask: not a causal mask")
        causal = True
    eps, acts, hid, ls, heads = set(), set(), set(), set(), set()

    def ln(m, where):
        _refuse(not isinstance(m, nn.LayerNorm) or m.weight is None or m.bias is None
                or tuple(m.normalized_shape) != (width,), f"{where}: not an affine LayerNorm over {width}")
        eps.add(float(m.eps))

    for i, b in enumerate(tr.resblocks):
        q = f"transformer.resblocks.{i}"
        _refuse(type(b) is not ResidualAttentionBlock,
                f"{q}: {type(b).__name__} (only ResidualAttentionBlock; no qk_norm / scaled cosine / scale_* options)")
        _refuse(hasattr(b, "ln_1_kv"), f"{q}: cross-attention blocks are not supported")
        ln(b.ln_1, f"{q}.ln_1")
        ln(b.ln_2, f"{q}.ln_2")
        a = b.attn
        _refuse(type(a) is not nn.MultiheadAttention or not a._qkv_same_embed_dim or a.in_proj_bias is None
                or a.bias_k is not None or a.add_zero_attn or a.embed_dim != width or a.out_proj.bias is None,
                f"{q}.attn: only nn.MultiheadAttention with packed, biased q/k/v over {width} channels")
        heads.add(int(a.num_heads))
        for n in ("ls_1", "ls_2"):
            m = getattr(b, n)
            _refuse(not (_is_identity(m) or type(m) is LayerScale), f"{q}.{n}: {type(m).__name__}")
            ls.add(type(m) is LayerScale)
        mlp = b.mlp
        _refuse(list(mlp._modules) != ["c_fc", "gelu", "c_proj"], f"{q}.mlp: layers {list(mlp._modules)}")
        _refuse(type(mlp.c_fc) is not nn.Linear or type(mlp.c_proj) is not nn.Linear or mlp.c_fc.bias is None
                or mlp.c_proj.bias is None or mlp.c_fc.in_features != width or mlp.c_proj.out_features != width
                or mlp.c_proj.in_features != mlp.c_fc.out_features, f"{q}.mlp: not Linear(+bias) -> act -> Linear(+bias)")
        acts.add(_act_kind(mlp.gelu, f"{q}.mlp.gelu"))
        hid.add(int(mlp.c_fc.out_features))
    ln(model.ln_final, "ln_final")
    for what, s in (("heads", heads), ("activation", acts), ("mlp width", hid), ("layer scale", ls), ("LayerNorm eps", eps)):
        _refuse(len(s) != 1, f"transformer: the blocks differ in {what}: {sorted(s)}")
    h = heads.pop()
    _refuse(width % h != 0, f"transformer: width {width} is not divisible by heads {h}")
    p = model.text_projection
    if p is None:
        raise ConvertError("text_projection: none (`text_cfg.proj_type` 'none') is not supported")
    if isinstance(p, nn.Linear):
        _refuse(type(p) is not nn.Linear or p.in_features != width, "text_projection: unexpected module")
        proj_bias, embed = p.bias is not None, p.out_features
    else:
        _refuse(p.ndim != 2 or p.shape[0] != width, f"text_projection: shape {list(p.shape)}")
        proj_bias, embed = False, p.shape[1]
    return {
        "context_length": ctx,
        "vocab_size": int(vocab),
        "width": int(width),
        "heads": h,
        "layers": len(tr.resblocks),
        "mlp_hidden": hid.pop(),
        "layer_norm_eps": eps.pop(),
        "activation": acts.pop(),
        "layer_scale": ls.pop(),
        "causal": causal,
        "pool": "argmax",
        "proj_bias": bool(proj_bias),
        "vocab": VOCAB_NAME,
    }, int(embed)


def get_tokenizer(context_length, vocab_size):
    from open_clip.tokenizer import SimpleTokenizer

    tok = SimpleTokenizer(context_length=context_length)
    _refuse(tok.vocab_size != vocab_size,
            f"`text_cfg.vocab_size` = {vocab_size} but CLIP's BPE tokenizer has {tok.vocab_size} tokens")
    return tok


def vocab_path():
    from open_clip.tokenizer import default_bpe
    return Path(default_bpe())


# --------------------------------------------------------------------------------------------------
# Text classifiers
# --------------------------------------------------------------------------------------------------

def encode_text(model, tokens, truncate=True):
    """open_clip CLIP.encode_text(tokens, normalize=False) in float32.

    With a causal mask, the argmax (EOT) token's output depends only on the tokens before it, so the
    batch is cut after its last EOT (same result, several times faster on a CPU)."""
    import torch

    L = tokens.shape[1]
    if truncate and model.attn_mask is not None:
        L = int(tokens.argmax(dim=-1).max()) + 1
    t = tokens[:, :L]
    x = model.token_embedding(t) + model.positional_embedding[:L]
    mask = model.attn_mask[:L, :L] if model.attn_mask is not None else None
    x = model.transformer(x, attn_mask=mask)
    x = model.ln_final(x)
    x = x[torch.arange(x.shape[0]), t.argmax(dim=-1)]
    p = model.text_projection
    return p(x) if isinstance(p, torch.nn.Linear) else x @ p


def text_classifier(model, tokenizer, classes, templates=VILD_TEMPLATES, batch=CLASSIFIER_BATCH, truncate=True):
    """f32 [Σ synonyms, D]: per synonym, the templates' encode_text, each L2-normalised, averaged,
    L2-normalised again (the official open_vocabulary.get_text_classifier)."""
    import torch

    prompts = [t.format(s) for syn in classes for s in syn for t in templates]
    tokens = tokenizer(prompts)
    out = []
    with torch.no_grad():
        for i in range(0, len(prompts), batch):
            out.append(encode_text(model, tokens[i:i + batch], truncate=truncate).float())
    f = torch.cat(out, dim=0)
    f = f / f.norm(dim=-1, keepdim=True)
    f = f.reshape(f.shape[0] // len(templates), len(templates), f.shape[-1]).mean(1)
    f = f / f.norm(dim=-1, keepdim=True)
    return np.ascontiguousarray(f.numpy().astype(np.float32))


# --------------------------------------------------------------------------------------------------
# Tensors
# --------------------------------------------------------------------------------------------------

def quantize_rows(w2d, bits):
    """Symmetric per-row quantization: values as `quantize` stores them, one f32 scale per row."""
    qmax = 127 if bits == 8 else 7
    w = w2d.astype(np.float32)
    s = (np.abs(w).max(axis=1) / np.float32(qmax)).astype(np.float32)
    safe = np.where(s > 0, s, np.float32(1.0)).astype(np.float32)
    q = np.clip(np.rint(w / safe[:, None]), -qmax, qmax).astype(np.int8)
    q[s == 0] = 0
    if bits == 8:
        return q, s
    n = q.astype(np.uint8) & np.uint8(0x0F)
    return (n[:, 0::2] | (n[:, 1::2] << np.uint8(4))).astype(np.uint8), s


def requantize_rows(enc, tensors, name, dtype):
    """The token embedding with one scale per row instead of per block of 32: a loader reads it a row
    at a time on the host, and the text part then fits its size target (models/FORMAT.md)."""
    a = tensors[name][0]
    if a.ndim != 2 or a.shape[1] % 2:
        return enc
    q, s = quantize_rows(a, 8 if dtype == "q8" else 4)
    out = OrderedDict()
    for k, v in enc.items():
        if k in (name, f"{name}.{dtype}", f"{name}.scales"):
            if f"{name}.{dtype}" not in out:
                out[f"{name}.{dtype}"] = q
                out[f"{name}.scales"] = s
        else:
            out[k] = v
    return out


_TEXT_NAMES = ("token_embedding.", "positional_embedding", "transformer.", "ln_final.", "text_projection")


def collect_tensors(model):
    """(image, text): OrderedDicts name -> (f32 array, is_weight), in state_dict order."""
    import torch.nn as nn

    weights = set()
    for mname, m in model.named_modules():
        if isinstance(m, (nn.Linear, nn.Conv2d, nn.Embedding)):
            weights.add(f"{mname}.weight")
        if isinstance(m, nn.MultiheadAttention):
            weights.add(f"{mname}.in_proj_weight")
    img, txt = OrderedDict(), OrderedDict()
    for name, t in model.state_dict().items():
        a = np.ascontiguousarray(t.detach().float().cpu().numpy())
        if name == "logit_scale":
            continue
        if name.startswith("visual."):
            img[name] = (a, name in weights)
        elif name == "text_projection":  # x @ P with P [width, embed]: stored as a Linear weight [embed, width]
            txt["text_projection.weight"] = (np.ascontiguousarray(a.T), True)
        elif name.startswith(_TEXT_NAMES):
            txt[name] = (a, name in weights)
        else:
            raise ConvertError(f"state_dict entry `{name}` is not part of the format")
    # text tensors in forward order (state_dict order puts the embeddings around the transformer)
    rank = {p: i for i, p in enumerate(("token_embedding.", "positional_embedding", "transformer.", "ln_final.",
                                         "text_projection"))}
    txt = OrderedDict(sorted(txt.items(), key=lambda kv: next(r for p, r in rank.items() if kv[0].startswith(p))))
    return img, txt


# --------------------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------------------

def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--open-clip", metavar="NAME", help="open_clip model name, e.g. convnext_large_d_320")
    ap.add_argument("--pretrained", metavar="TAG", help="open_clip pretrained tag, e.g. laion2b_s29b_b131k_ft_soup")
    ap.add_argument("--config", help="open_clip model config JSON (embed_dim, vision_cfg, text_cfg)")
    ap.add_argument("--weights", help="the model's state_dict as safetensors (loaded strictly)")
    ap.add_argument("--out", required=True, help="output folder (created; existing outputs are replaced)")
    ap.add_argument("--dtype", default="q8", choices=["f32", "f16", "q8", "q4"])
    ap.add_argument("--shard-mb", type=float, default=256, help="maximum shard size in MB (10^6 bytes)")
    ap.add_argument("--name", help="source model name for the manifest")
    ap.add_argument("--licence", "--license", dest="licence", default=None,
                    help="source model licence for the manifest (default: 'unknown')")
    ap.add_argument("--label-sets", default=",".join(LABEL_SETS),
                    help="comma-separated label sets to precompute: names of models/labels/*.txt or NAME=FILE.txt "
                         "(default: all five; '' for none)")
    a = ap.parse_args(argv)
    if a.open_clip:
        if a.config or a.weights:
            ap.error("give either --open-clip NAME [--pretrained TAG] or --config CFG --weights W, not both")
    elif not (a.config and a.weights):
        ap.error("need --open-clip NAME [--pretrained TAG], or both --config and --weights")
    elif a.pretrained:
        ap.error("--pretrained goes with --open-clip")
    _refuse(a.shard_mb <= 0, "--shard-mb must be positive")
    a.label_sets = [s.strip() for s in a.label_sets.split(",") if s.strip()]
    return a


def _clean_out(out):
    for pat in ("image-*.safetensors", "text-*.safetensors"):
        for f in out.glob(pat):
            f.unlink()
    for f in ("manifest.json", "config.json", VOCAB_NAME):
        if (out / f).exists():
            (out / f).unlink()
    if (out / "labels").exists():
        shutil.rmtree(out / "labels")


def _shards(enc, out, prefix, shard_mb):
    """convert.write_shards (names weights-NNNNN) into a scratch folder, renamed to {prefix}-NNNNN."""
    tmp = out / f".{prefix}-shards"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    names = []
    try:
        for fn in write_shards(enc, tmp, shard_mb):
            new = fn.replace("weights-", f"{prefix}-", 1)
            os.replace(tmp / fn, out / new)
            names.append(new)
    finally:
        shutil.rmtree(tmp)
    return names


def convert(a):
    import open_clip
    import timm
    import torch

    label_sets = [load_label_set(s) for s in a.label_sets]
    names = [n for n, _ in label_sets]
    _refuse(len(set(names)) != len(names), f"--label-sets: a set is named twice: {names}")

    if a.open_clip:
        model = load_open_clip(a.open_clip, a.pretrained)
        default_name = f"{a.open_clip}/{a.pretrained}" if a.pretrained else f"{a.open_clip} (random weights)"
    else:
        model = load_config_weights(a.config, a.weights)
        default_name = Path(a.weights).stem
    vision, out_v = inspect_vision(model)
    text, embed = inspect_text(model)
    _refuse(out_v != embed, f"image embedding width {out_v} != text embedding width {embed}")
    tokenizer = get_tokenizer(text["context_length"], text["vocab_size"])
    vocab = vocab_path()

    # classifiers first, from the float32 model
    classifiers = []
    for name, classes in label_sets:
        classifiers.append((name, classes, text_classifier(model, tokenizer, classes)))
        print(f"  label set {name}: {len(classes)} classes, {sum(len(c) for c in classes)} synonyms")

    img, txt = collect_tensors(model)
    enc_img, p_img = encode(img, a.dtype)
    enc_txt, p_txt = encode(txt, a.dtype)
    if a.dtype in ("q8", "q4"):
        enc_txt = requantize_rows(enc_txt, txt, "token_embedding.weight", a.dtype)

    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    _clean_out(out)
    cfg = {
        "kind": KIND,
        "embed_dim": embed,
        "logit_scale": float(model.logit_scale.detach().float().reshape(-1)[0]),
        "vision": vision,
        "text": text,
        "templates": list(VILD_TEMPLATES),
        "label_sets": names,
    }
    (out / "config.json").write_text(json.dumps(cfg, indent=2, sort_keys=True) + "\n")
    files = [{"name": "config.json", "kind": "config", "part": "image"}]
    files += [{"name": s, "kind": "weights", "part": "image"} for s in _shards(enc_img, out, "image", a.shard_mb)]
    if classifiers:
        (out / "labels").mkdir()
    for name, classes, clf in classifiers:
        (out / "labels" / f"{name}.json").write_text(
            json.dumps({"set": name, "classes": classes}, ensure_ascii=False) + "\n", encoding="utf-8")
        np.save(out / "labels" / f"{name}.npy", clf)
        files.append({"name": f"labels/{name}.json", "kind": "labels", "part": "image"})
        files.append({"name": f"labels/{name}.npy", "kind": "classifier", "part": "image"})
    files += [{"name": s, "kind": "weights", "part": "text"} for s in _shards(enc_txt, out, "text", a.shard_mb)]
    shutil.copyfile(vocab, out / VOCAB_NAME)
    os.chmod(out / VOCAB_NAME, 0o644)
    files.append({"name": VOCAB_NAME, "kind": "vocab", "part": "text"})
    for f in files:
        f["bytes"] = (out / f["name"]).stat().st_size
        f["sha256"] = sha256_file(out / f["name"])
    total = sum(f["bytes"] for f in files)
    source = {"name": a.name or default_name, "licence": a.licence or "unknown",
              "converted_by": "models/convert_clip.py", "open_clip": open_clip.__version__,
              "timm": timm.__version__, "torch": torch.__version__.split("+")[0]}
    if a.open_clip:
        source["open_clip_model"] = a.open_clip
        source["pretrained"] = a.pretrained or None
    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "dtype": a.dtype,
        "source": source,
        "config": "config.json",
        "files": files,
        "total_bytes": total,
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")

    part = {p: sum(f["bytes"] for f in files if f["part"] == p) for p in ("image", "text")}
    wbytes = {p: sum(f["bytes"] for f in files if f["part"] == p and f["kind"] == "weights") for p in ("image", "text")}
    print(f"converted {source['name']} -> {out} ({a.dtype}): ConvNeXt depths {vision['depths']} dims {vision['dims']}, "
          f"text {text['layers']}x{text['width']} ({text['activation']}), embed {embed}")
    print(f"  parameters stored: image {p_img:,}, text {p_txt:,}")
    for p in ("image", "text"):
        print(f"  part {p}: {part[p]:,} bytes ({part[p] / 1e6:.2f} MB; weights {wbytes[p]:,})")
    print(f"  files: {len(files)}; total_bytes {total:,} ({total / 1e6:.2f} MB)")
    return manifest


def main(argv=None):
    try:
        a = parse_args(sys.argv[1:] if argv is None else argv)
        return convert(a)
    except ConvertError as e:
        print(f"convert_clip.py: error: {e}", file=sys.stderr)
        if argv is None:
            sys.exit(2)
        raise


if __name__ == "__main__":
    main()
