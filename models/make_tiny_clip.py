#!/usr/bin/env python3
"""Build the golden fixtures of the CLIP loader (open-vocabulary naming): tests/fixtures/clip/.

A tiny random-weight open_clip CLIP (timm ConvNeXt image tower, CLIP text transformer with the real
BPE vocabulary) converted with models/convert_clip.py (the --config/--weights path) at f32, f16 and
q8, plus the outputs DiffCut's official open-vocabulary code computes with it (float32, CPU): dense
ConvNeXt features, mask-pooled segment embeddings, text embeddings, the label sets' text
classifiers and the names given to the segments.

    python3 models/make_tiny_clip.py [--out tests/fixtures/clip]

Deterministic: fixed seeds, so a rerun gives the same files on the same library versions and
machine (across versions compare with tolerances, not hashes).
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
import convert_clip  # noqa: E402

SEED = 7
SIZES = (256, 320)
INTERMEDIATE_SIZE = 256
IMAGE_SRC = ROOT / "samples" / "chelsea.jpg"
IMAGE_WH = (200, 133)
DTYPES = ("f32", "f16", "q8")
SHARD_MB = {"f32": 1.0}  # the f32 text part then spans several shards
NAME_SETS = ("voc", "coco-object")
INLINE = "cat;dog,puppy;grass"

CONFIG = {
    "embed_dim": 32,
    "vision_cfg": {
        # convnext_large's block kinds (patch stem, LN, layer scale, MLP head) at a tiny size
        "timm_model_name": "convnext_large",
        "timm_model_kwargs": {"depths": [1, 1, 2, 1], "dims": [32, 64, 96, 128]},
        "timm_model_pretrained": False,
        "timm_pool": "",
        "timm_proj": "mlp",
        "timm_drop": 0.0,
        "timm_drop_path": 0.0,
        "image_size": 256,
    },
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 2},
}

# Texts for the tokenizer and the text tower: label-set names, filled templates, and the hard cases
# of CLIP's text cleaning (ftfy, double HTML unescaping, whitespace, lower-casing) and BPE.
TEXTS = [
    "cat",
    "a photo of a cat.",
    "There is a large traffic light in the scene.",
    "This is a photo of a medium hair drier.",
    "tvmonitor",
    "background",
    "sky-other-merged",
    "potted plant",
    "",
    "   ",
    "CAT",
    "A Photo Of A DOG.",
    "Café crème brûlée",
    "naïve façade jalapeño",
    "🐱 cat emoji 🐶",
    "pizza🍕",
    "猫と犬",
    "고양이",
    "кошка",
    "&amp; fish &amp; chips",
    "&lt;cat&gt;",
    "don&#39;t",
    "&amp;lt;double&amp;gt;",
    "it\u2019s a dog\u2019s life",
    "\u201cquoted\u201d \u00abguillemets\u00bb",
    "don't stop",
    "we're, they've, I'll, he'd, she's",
    "multiple   spaces\tand\ttabs",
    "line one\nline two\r\nline three",
    "  leading and trailing  ",
    "\u00a0non-breaking\u00a0space",
    "zero\u200bwidth",
    "3 dogs and 42 cats in 2024",
    "COVID-19",
    "e-mail: someone@example.com",
    "hello!!! ??? ...",
    "\ufb01anc\u00e9",
    "caf\u00c3\u00a9",
    "\uff26\uff55\uff4c\uff4c\uff57\uff49\uff44\uff54\uff48",
    "\u0130stanbul",
    "\u00df STRASSE",
    "cat " * 75,
    "cat " * 76,
    "a photo of a " + "very " * 80 + "long cat",
]


def sha(p):
    return hashlib.sha256(Path(p).read_bytes()).hexdigest()


# --------------------------------------------------------------------------------------------------
# The model
# --------------------------------------------------------------------------------------------------

def reinit(model, seed):
    """Every parameter re-drawn: weights N(0, 1/fan_in), biases N(0, 0.05^2), norm scales 1 + N(0, 0.1^2),
    norm shifts N(0, 0.1^2), ConvNeXt layer scale N(0.5, 0.1^2), token/positional embeddings
    N(0, 0.02^2), logit_scale ln(1/0.07)."""
    g = torch.Generator().manual_seed(seed)
    owner = {}
    for mname, m in model.named_modules():
        for pn, p in m.named_parameters(recurse=False):
            owner[f"{mname}.{pn}" if mname else pn] = (m, pn)
    done = set()
    with torch.no_grad():
        for name, p in model.named_parameters():
            m, pn = owner[name]
            if name == "logit_scale":
                p.fill_(math.log(1 / 0.07))
            elif name in ("positional_embedding",) or isinstance(m, nn.Embedding):
                p.normal_(0.0, 0.02, generator=g)
            elif name == "text_projection":
                p.normal_(0.0, 1.0 / math.sqrt(p.shape[0]), generator=g)
            elif pn == "gamma":
                p.normal_(0.5, 0.1, generator=g)
            elif isinstance(m, nn.LayerNorm):
                if pn == "weight":
                    p.normal_(0.0, 0.1, generator=g).add_(1.0)
                else:
                    p.normal_(0.0, 0.1, generator=g)
            elif isinstance(m, (nn.Linear, nn.Conv2d)) and pn == "weight":
                p.normal_(0.0, 1.0 / math.sqrt(p[0].numel()), generator=g)
            elif isinstance(m, nn.MultiheadAttention) and pn == "in_proj_weight":
                p.normal_(0.0, 1.0 / math.sqrt(p.shape[1]), generator=g)
            elif pn in ("bias", "in_proj_bias"):
                p.normal_(0.0, 0.05, generator=g)
            else:
                raise SystemExit(f"make_tiny_clip: no init rule for {name} ({type(m).__name__})")
            done.add(name)
    assert done == {n for n, _ in model.named_parameters()}


def official_dense(model, x):
    """tools/clip_classifier.py CLIP.extract_features_convnext: stem, the stages, norm_pre."""
    t = model.visual.trunk
    out = {}
    h = t.stem(x)
    out["stem"] = h
    for i, st in enumerate(t.stages):
        h = st(h)
        out[f"res{i + 2}"] = h
    out["clip_vis_dense"] = t.norm_pre(h)
    return out


def official_mask_pool(dense, masks):
    """tools/utils.py MaskPooling: masks [1,Q,H,W] resized to the grid (nearest-exact), > 0, mean."""
    if dense.shape[-2:] != masks.shape[-2:]:
        masks = F.interpolate(masks, size=dense.shape[-2:], mode="nearest-exact")
    masks = (masks > 0).to(masks.dtype)
    denorm = masks.sum(dim=(-1, -2), keepdim=True) + 1e-8
    return torch.einsum("bchw,bqhw->bqc", dense, masks / denorm)


def official_visual_head(model, pooled):
    """CLIP.visual_prediction_forward_convnext: [B,Q,C] as 1x1 maps through trunk.head and visual.head."""
    b, q, c = pooled.shape
    y = model.visual.trunk.head(pooled.reshape(b * q, c, 1, 1))
    y = model.visual.head(y)
    return y.reshape(b, q, y.shape[-1])


def official_encode_text(model, tokens):
    """CLIP.encode_text of the official code: sequence-first through the transformer (it sets
    transformer.batch_first = False, eval_diffcut_openvoc.py), EOT = argmax token, x @ text_projection."""
    tr = model.transformer
    saved = tr.batch_first
    tr.batch_first = False
    try:
        x = model.token_embedding(tokens) + model.positional_embedding
        x = tr(x.permute(1, 0, 2), attn_mask=model.attn_mask).permute(1, 0, 2)
    finally:
        tr.batch_first = saved
    x = model.ln_final(x)
    return x[torch.arange(x.shape[0]), tokens.argmax(dim=-1)] @ model.text_projection


def official_classifier(model, tokenizer, classes):
    """open_vocabulary.get_text_classifier: every synonym x 14 templates, batches of 128 prompts."""
    prompts = [t.format(s) for syn in classes for s in syn for t in convert_clip.VILD_TEMPLATES]
    feats = [official_encode_text(model, tokenizer(prompts[i:i + 128])) for i in range(0, len(prompts), 128)]
    f = torch.cat(feats)
    f = f / f.norm(dim=-1, keepdim=True)
    f = f.reshape(f.shape[0] // 14, 14, f.shape[-1]).mean(1)
    return f / f.norm(dim=-1, keepdim=True)


def official_logits(x, classifier, logit_scale, num_syn):
    """get_classification_logits: cosine x scale (clamped at 100), max over each class's synonyms, and a
    'void' column appended that is simply the classifier's last row."""
    x = F.normalize(x, dim=-1)
    s = torch.clamp(logit_scale.exp(), max=100)
    logits = s * x @ classifier.T
    cols, k = [], 0
    for n in num_syn:
        cols.append(logits[:, :, k:k + n].max(-1).values)
        k += n
    cols.append(logits[:, :, -1])
    return torch.stack(cols, dim=-1)


# --------------------------------------------------------------------------------------------------
# Reading a converted folder back (independent of convert_clip's writer)
# --------------------------------------------------------------------------------------------------

def read_folder(folder):
    """state_dict (f32, dequantized) + logit_scale of a converted folder, every file's sha256 checked."""
    from safetensors.numpy import load_file

    folder = Path(folder)
    man = json.loads((folder / "manifest.json").read_text())
    cfg = json.loads((folder / "config.json").read_text())
    raw = {}
    for f in man["files"]:
        p = folder / f["name"]
        assert p.stat().st_size == f["bytes"] and sha(p) == f["sha256"], f["name"]
        if f["kind"] == "weights":
            raw.update(load_file(str(p)))
    sd = {}
    for name, a in raw.items():
        if name.endswith(".scales"):
            continue
        if name.endswith((".q8", ".q4")):
            base = name[:-3]
            s = raw[base + ".scales"]
            if name.endswith(".q4"):
                lo = (a & 0x0F).astype(np.int8)
                hi = (a >> 4).astype(np.int8)
                lo[lo > 7] -= 16
                hi[hi > 7] -= 16
                q = np.stack([lo, hi], axis=-1).reshape(a.shape[0], a.shape[1] * 2)
            else:
                q = a
            o, L = q.shape
            w = (q.reshape(o, L // 32, 32).astype(np.float32) * s.reshape(o, L // 32, 1)).reshape(o, L)
            sd[base] = w
        else:
            sd[name] = a.astype(np.float32)
    tp = sd.pop("text_projection.weight")
    sd["text_projection"] = np.ascontiguousarray(tp.T)
    sd["logit_scale"] = np.array(cfg["logit_scale"], dtype=np.float32)
    return sd, cfg, man


def model_from_folder(folder, template):
    sd, cfg, man = read_folder(folder)
    m = convert_clip.build_from_config(CONFIG)
    ref = template.state_dict()
    t = {k: torch.from_numpy(np.ascontiguousarray(v)).reshape(ref[k].shape) for k, v in sd.items()}
    m.load_state_dict(t, strict=True)
    return m.eval(), cfg, man


# --------------------------------------------------------------------------------------------------
# Inputs
# --------------------------------------------------------------------------------------------------

def make_image(path):
    from PIL import Image

    im = Image.open(IMAGE_SRC).convert("RGB").resize(IMAGE_WH, Image.LANCZOS)
    im.save(path, optimize=False)


def make_mask(path):
    """Segment ids 0 (rest), 2 (rectangle), 3 (ellipse), 7 (a stripe and a separate square), 9 (3x3 px)."""
    from PIL import Image

    W, H = IMAGE_WH
    yy, xx = np.mgrid[0:H, 0:W]
    m = np.zeros((H, W), np.uint8)
    m[(xx >= 10) & (xx < 90) & (yy >= 10) & (yy < 70)] = 2
    m[((xx - 145) / 45.0) ** 2 + ((yy - 70) / 35.0) ** 2 <= 1.0] = 3
    m[(yy >= 112) & (yy < 120)] = 7
    m[(xx >= 100) & (xx < 115) & (yy >= 20) & (yy < 35)] = 7
    m[100:103, 60:63] = 9
    Image.fromarray(m, mode="L").save(path, optimize=False)


def load_rgb(path):
    from PIL import Image
    return np.asarray(Image.open(path).convert("RGB"))


def load_mask(path):
    from PIL import Image
    im = Image.open(path)
    assert im.mode == "L"
    return np.asarray(im)


def image_input(rgb, S):
    """image/255 as float32 (what the official DataIterator feeds CLIP: no mean/std), bilinear to SxS."""
    x = torch.from_numpy(np.array(rgb)).permute(2, 0, 1)[None].float() / 255.0
    return F.interpolate(x, size=(S, S), mode="bilinear", align_corners=False, antialias=False)


def hwc(t):
    return np.ascontiguousarray(t[0].permute(1, 2, 0).detach().numpy().astype(np.float32))


# --------------------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------------------

def build(out):
    import open_clip
    import timm
    from safetensors.torch import save_file

    torch.manual_seed(SEED)
    torch.set_grad_enabled(False)
    out = Path(out)
    exp = out / "expected"
    for d in [out / f"tiny-{dt}" for dt in DTYPES] + [exp]:
        if d.exists():
            shutil.rmtree(d)
    exp.mkdir(parents=True)

    model = convert_clip.build_from_config(CONFIG)
    reinit(model, SEED)
    model.eval()
    (out / "openclip_config.json").write_text(json.dumps(CONFIG, indent=2) + "\n")

    # ---- convert (the --config / --weights path) ----
    with tempfile.TemporaryDirectory() as td:
        wpath = Path(td) / "tiny-clip.safetensors"
        save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(wpath))
        for dt in DTYPES:
            argv = ["--config", str(out / "openclip_config.json"), "--weights", str(wpath), "--out",
                    str(out / f"tiny-{dt}"), "--dtype", dt, "--name", "diffcut tiny CLIP fixture (random weights)",
                    "--licence", "MIT"]
            if dt in SHARD_MB:
                argv += ["--shard-mb", str(SHARD_MB[dt])]
            convert_clip.main(argv)

    meta = {"seed": SEED, "sizes": list(SIZES), "versions": {
        "torch": torch.__version__.split("+")[0], "open_clip": open_clip.__version__, "timm": timm.__version__,
        "numpy": np.__version__}, "logit_scale": float(model.logit_scale), "files": {}, "checks": {}}

    def save(name, arr):
        arr = np.ascontiguousarray(arr)
        np.save(exp / name, arr)

    # ---- image, mask ----
    make_image(exp / "image.png")
    make_mask(exp / "mask.png")
    rgb, mask = load_rgb(exp / "image.png"), load_mask(exp / "mask.png")
    ids = sorted(int(i) for i in np.unique(mask))
    seg = {"ids": ids, "dense_cells": {}}

    pooled_ref = {}
    for S in SIZES:
        x = image_input(rgb, S)
        save(f"input_{S}.npy", x.numpy())
        feats = official_dense(model, x)
        dense = feats["clip_vis_dense"]
        save(f"dense_{S}.npy", hwc(dense))
        if S == INTERMEDIATE_SIZE:
            for k in ("stem", "res2", "res3", "res4", "res5"):
                save(f"{k}_{S}.npy", hwc(feats[k]))
        m = F.interpolate(torch.from_numpy(mask.astype(np.float32))[None, None], size=(S, S), mode="nearest-exact")
        pooled, cells = [], []
        for i in ids:
            bm = (m == i).float()
            pooled.append(official_visual_head(model, official_mask_pool(dense, bm))[0, 0])
            g = F.interpolate(bm, size=dense.shape[-2:], mode="nearest-exact")
            cells.append(int((g > 0).sum()))
        pooled = torch.stack(pooled)
        pooled_ref[S] = pooled
        save(f"pooled_{S}.npy", pooled.numpy().astype(np.float32))
        seg["dense_cells"][str(S)] = cells
    (exp / "segments.json").write_text(json.dumps(seg) + "\n")

    # ---- text ----
    tok = convert_clip.get_tokenizer(77, 49408)
    tokens = tok(TEXTS)
    real_tok = open_clip.get_tokenizer("convnext_large_d_320")(TEXTS)
    assert torch.equal(tokens, real_tok), "the tiny model's tokenizer differs from convnext_large_d_320's"
    emb = official_encode_text(model, tokens)
    assert torch.allclose(emb, model.encode_text(tokens, normalize=False), atol=1e-5, rtol=1e-5)
    (exp / "texts.json").write_text(json.dumps(TEXTS, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    save("tokens.npy", tokens.numpy().astype(np.int32))
    save("text_embed.npy", emb.numpy().astype(np.float32))

    # ---- classifiers and names ----
    sets = {}
    for name in convert_clip.LABEL_SETS:
        _, classes = convert_clip.load_label_set(name)
        clf = official_classifier(model, tok, classes)
        sets[name] = (classes, clf)
        save(f"classifier_{name}.npy", clf.numpy().astype(np.float32))
        conv = np.load(out / "tiny-f32" / "labels" / f"{name}.npy")
        meta["checks"][f"classifier_{name}_vs_converter_maxabs"] = float(np.abs(conv - clf.numpy()).max())
    sets["inline"] = (convert_clip.parse_inline(INLINE), None)
    sets["inline"] = (sets["inline"][0], official_classifier(model, tok, sets["inline"][0]))

    S = INTERMEDIATE_SIZE
    for name in NAME_SETS + ("inline",):
        classes, clf = sets[name]
        logits = official_logits(pooled_ref[S][None], clf, model.logit_scale, [len(c) for c in classes])[0]
        real = logits[:, :-1]  # the official drops the 'void' column before its argmax
        segs = []
        for q, i in enumerate(ids):
            k = int(torch.argmax(real[q].softmax(-1)))
            segs.append({"id": i, "class": k, "name": classes[k][0],
                         "scores": [float(v) for v in real[q].numpy().astype(np.float32)]})
        fn = f"names_inline_{S}.json" if name == "inline" else f"names_{name}_{S}.json"
        body = {"set": name, "size": S, "segments": segs}
        if name == "inline":
            body["spec"] = INLINE
        (exp / fn).write_text(json.dumps(body) + "\n")

    # ---- what the stored tensors give (f16 rounding, q8 dequantized), read back independently ----
    for dt in DTYPES:
        m2, cfg, man = model_from_folder(out / f"tiny-{dt}", model)
        x = image_input(rgb, S)
        dense = official_dense(m2, x)["clip_vis_dense"]
        msk = F.interpolate(torch.from_numpy(mask.astype(np.float32))[None, None], size=(S, S), mode="nearest-exact")
        pooled = torch.stack([official_visual_head(m2, official_mask_pool(dense, (msk == i).float()))[0, 0]
                              for i in ids])
        temb = official_encode_text(m2, tokens)
        ref_dense = torch.from_numpy(np.load(exp / f"dense_{S}.npy"))
        if dt == "f32":
            sd0 = model.state_dict()
            assert all(torch.equal(v, sd0[k]) for k, v in m2.state_dict().items()), "f32 folder is not bit-exact"
        else:
            save(f"dense_{S}_{dt}.npy", hwc(dense))
            save(f"pooled_{S}_{dt}.npy", pooled.numpy().astype(np.float32))
            save(f"text_embed_{dt}.npy", temb.numpy().astype(np.float32))
        rel = lambda a, b: float((a - b).abs().max() / b.abs().max())  # noqa: E731
        cos = lambda a, b: float(F.cosine_similarity(a, b, dim=-1).min())  # noqa: E731
        meta["checks"][dt] = {
            "dense_rel": rel(torch.from_numpy(hwc(dense)), ref_dense),
            "pooled_rel": rel(pooled, pooled_ref[S]), "pooled_cos_min": cos(pooled, pooled_ref[S]),
            "text_embed_rel": rel(temb, emb), "text_embed_cos_min": cos(temb, emb),
            "folder_bytes": {p: sum(f["bytes"] for f in man["files"] if f["part"] == p) for p in ("image", "text")},
        }

    for f in sorted(exp.iterdir()):
        e = {"sha256": sha(f), "bytes": f.stat().st_size}
        if f.suffix == ".npy":
            a = np.load(f)
            e.update(shape=list(a.shape), dtype=str(a.dtype))
            if a.dtype.kind == "f":
                e.update(absmax=float(np.abs(a).max()), std=float(a.std()))
        meta["files"][f.name] = e
    (exp / "meta.json").write_text(json.dumps(meta, indent=1, sort_keys=True) + "\n")
    return meta


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=str(ROOT / "tests" / "fixtures" / "clip"))
    a = ap.parse_args(argv)
    meta = build(a.out)
    print(json.dumps(meta["checks"], indent=1))


if __name__ == "__main__":
    main()
