#!/usr/bin/env python3
"""Independent reading of a converted model folder (models/FORMAT.md), without diffusers.

Loads O/manifest.json, checks every file's bytes and sha256, dequantizes q8/q4 weights, and runs the
encoder slice with plain torch.nn.functional ops from the stored tensors and config.json alone. It is
the executable form of the format contract: if this agrees with diffusers, a loader that follows the
same reading of FORMAT.md will too.

    python3 benches/model/check_format.py tests/fixtures/model/ssd-tiny/q8 \
        --expected tests/fixtures/model/ssd-tiny          # compare every stage with expected/*.npy
    python3 benches/model/check_format.py O --image IMG --size 512 --noise seed42 --out F.npy
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F


def load_folder(o: Path):
    from safetensors.numpy import load_file

    man = json.loads((o / "manifest.json").read_text())
    assert man["format"] == "diffcut-model" and man["format_version"] == 1, man["format"]
    for f in man["files"]:
        b = (o / f["name"]).read_bytes()
        if len(b) != f["bytes"] or hashlib.sha256(b).hexdigest() != f["sha256"]:
            raise SystemExit(f"{f['name']}: bytes/sha256 mismatch")
    cfg = json.loads((o / man["config"]).read_text())
    assert cfg["kind"] == "sdxl-encoder-slice", cfg["kind"]
    raw = {}
    for f in man["files"]:
        if f["kind"] == "weights":
            raw.update(load_file(str(o / f["name"])))
    t = {}
    for k, v in raw.items():
        if k.endswith(".scales"):
            continue
        if k.endswith(".q8") or k.endswith(".q4"):
            name = k[:-3]
            s = raw[name + ".scales"].astype(np.float32)
            if k.endswith(".q8"):
                q = v.astype(np.float32)
            else:
                lo = (v & 0x0F).astype(np.int8)
                hi = (v >> 4).astype(np.int8)
                lo = np.where(lo > 7, lo - 16, lo)
                hi = np.where(hi > 7, hi - 16, hi)
                q = np.empty((v.shape[0], v.shape[1] * 2), np.float32)
                q[:, 0::2], q[:, 1::2] = lo, hi
            o_, L = q.shape
            w = (q.reshape(o_, L // 32, 32) * s.reshape(o_, L // 32, 1)).reshape(o_, L)
            t[name] = torch.from_numpy(w)
        else:
            t[k] = torch.from_numpy(v.astype(np.float32))
    return man, cfg, t


class Slice:
    def __init__(self, cfg, t):
        self.c, self.t = cfg, t

    def w(self, n):
        return self.t[n]

    def conv(self, p, x, stride=1, pad=None):
        w = self.t[p + ".weight"]
        if w.dim() == 2:  # quantized conv weights come back 2-D; reshape by in-channels of x
            k = int(round(math.sqrt(w.shape[1] // x.shape[1])))
            w = w.reshape(w.shape[0], x.shape[1], k, k)
        k = w.shape[-1]
        return F.conv2d(x, w, self.t.get(p + ".bias"), stride=stride, padding=(k // 2) if pad is None else pad)

    def lin(self, p, x):
        return F.linear(x, self.t[p + ".weight"], self.t.get(p + ".bias"))

    def gn(self, p, x, groups, eps):
        return F.group_norm(x, groups, self.t[p + ".weight"], self.t[p + ".bias"], eps)

    def ln(self, p, x, eps):
        return F.layer_norm(x, (x.shape[-1],), self.t[p + ".weight"], self.t[p + ".bias"], eps)

    def resnet(self, p, x, groups, eps, size=None):
        h = self.conv(p + ".conv1", F.silu(self.gn(p + ".norm1", x, groups, eps)))
        if size is not None:
            h = h + self.t[f"{p}.time_bias.{size}"][None, :, None, None]
        h = self.conv(p + ".conv2", F.silu(self.gn(p + ".norm2", h, groups, eps)))
        if p + ".conv_shortcut.weight" in self.t:
            x = self.conv(p + ".conv_shortcut", x)
        return x + h

    @staticmethod
    def sdpa(q, k, v, heads):
        B, N, C = q.shape
        d = C // heads
        q = q.reshape(B, N, heads, d).transpose(1, 2)
        k = k.reshape(B, -1, heads, d).transpose(1, 2)
        v = v.reshape(B, -1, heads, d).transpose(1, 2)
        a = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(d), -1) @ v
        return a.transpose(1, 2).reshape(B, N, C)

    def attn1(self, p, x, heads):
        o = self.sdpa(self.lin(p + ".to_q", x), self.lin(p + ".to_k", x), self.lin(p + ".to_v", x), heads)
        return self.lin(p + ".to_out.0", o)

    def transformer(self, p, x, heads, hook_block=None):
        u = self.c["unet"]
        B, C, H, W = x.shape
        r = x
        h = self.gn(p + ".norm", x, u["norm_num_groups"], u["transformer_norm_eps"])
        h = h.permute(0, 2, 3, 1).reshape(B, H * W, C)
        h = self.lin(p + ".proj_in", h)
        k = 0
        while f"{p}.transformer_blocks.{k}.norm1.weight" in self.t:
            q = f"{p}.transformer_blocks.{k}"
            n1 = self.ln(q + ".norm1", h, u["layer_norm_eps"])
            z = self.attn1(q + ".attn1", n1, heads)
            if k == hook_block:
                return z
            h = h + z
            n2 = self.ln(q + ".norm2", h, u["layer_norm_eps"])
            o = self.sdpa(self.lin(q + ".attn2.to_q", n2), self.t[q + ".attn2.k_ctx"][None],
                          self.t[q + ".attn2.v_ctx"][None], heads)
            h = h + self.lin(q + ".attn2.to_out.0", o)
            n3 = self.ln(q + ".norm3", h, u["layer_norm_eps"])
            a, g = self.lin(q + ".ff.net.0.proj", n3).chunk(2, -1)
            h = h + self.lin(q + ".ff.net.2", a * F.gelu(g))
            k += 1
        h = self.lin(p + ".proj_out", h)
        return h.reshape(B, H, W, C).permute(0, 3, 1, 2) + r

    def vae_encode(self, x):
        v = self.c["vae"]
        g, eps = v["norm_num_groups"], v["eps"]
        h = self.conv("vae.encoder.conv_in", x)
        nb = len(v["block_out_channels"])
        for i in range(nb):
            for j in range(v["layers_per_block"]):
                h = self.resnet(f"vae.encoder.down_blocks.{i}.resnets.{j}", h, g, eps)
            if i < nb - 1:
                h = self.conv(f"vae.encoder.down_blocks.{i}.downsamplers.0.conv", F.pad(h, (0, 1, 0, 1)), 2, 0)
        h = self.resnet("vae.encoder.mid_block.resnets.0", h, g, eps)
        if v["mid_block_add_attention"]:
            p = "vae.encoder.mid_block.attentions.0"
            B, C, H, W = h.shape
            r = h
            a = self.gn(p + ".group_norm", h, g, eps).reshape(B, C, H * W).transpose(1, 2)
            o = self.sdpa(self.lin(p + ".to_q", a), self.lin(p + ".to_k", a), self.lin(p + ".to_v", a), 1)
            o = self.lin(p + ".to_out.0", o)
            h = o.transpose(1, 2).reshape(B, C, H, W) + r
        h = self.resnet("vae.encoder.mid_block.resnets.1", h, g, eps)
        h = self.conv("vae.encoder.conv_out", F.silu(self.gn("vae.encoder.conv_norm_out", h, g, eps)))
        mean = self.conv("vae.quant_conv", h)
        return mean * v["scaling_factor"]

    def unet(self, x, size, caps):
        u = self.c["unet"]
        g, eps = u["norm_num_groups"], u["resnet_eps"]
        hk = self.c["hook"]
        h = self.conv("unet.conv_in", x)
        caps["conv_in"] = h
        for i in range(hk["down_block"] + 1):
            for j in range(u["layers_per_block"]):
                h = self.resnet(f"unet.down_blocks.{i}.resnets.{j}", h, g, eps, size)
                if u["transformer_layers_per_block"][i][j] > 0:
                    hook = hk["transformer_block"] if (i == hk["down_block"] and j == hk["attention"]) else None
                    h = self.transformer(f"unet.down_blocks.{i}.attentions.{j}", h,
                                         u["num_attention_heads"][i], hook)
                    if hook is not None:
                        return h
            if i < hk["down_block"]:
                pad = u["downsample_padding"]
                if pad == 0:
                    h = self.conv(f"unet.down_blocks.{i}.downsamplers.0.conv", F.pad(h, (0, 1, 0, 1)), 2, 0)
                else:
                    h = self.conv(f"unet.down_blocks.{i}.downsamplers.0.conv", h, 2, pad)
                caps[f"down_blocks.{i}"] = h
        raise RuntimeError("hook not reached")

    def features(self, x, noise, size):
        caps = {}
        with torch.no_grad():
            lat = self.vae_encode(x)
            n = self.c["noise"]
            noisy = (n["sqrt_alpha_bar"] * lat.double() + n["sqrt_one_minus_alpha_bar"] * noise.double()).float()
            z = self.unet(noisy, size, caps)
        g = int(round(math.sqrt(z.shape[1])))
        caps.update(latent=lat, noisy=noisy)
        return z.reshape(g, g, -1), caps


def load_image(path, size):
    from PIL import Image

    img = np.asarray(Image.open(path).convert("RGB")).astype(np.float32) / 255.0
    x = torch.from_numpy(img).permute(2, 0, 1)[None]
    return 2.0 * F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False) - 1.0


def cos_stats(a, b):
    a = a.reshape(-1, a.shape[-1]).astype(np.float64)
    b = b.reshape(-1, b.shape[-1]).astype(np.float64)
    c = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1) + 1e-30)
    return c.min(), c.mean()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("folder")
    ap.add_argument("--expected", help="fixture folder with image.png, noise.npy, expected/")
    ap.add_argument("--image")
    ap.add_argument("--size", type=int)
    ap.add_argument("--noise", default="zero", help="zero | seed42 | path to .npy")
    ap.add_argument("--out")
    a = ap.parse_args(argv)
    torch.set_num_threads(2)
    man, cfg, t = load_folder(Path(a.folder))
    sl = Slice(cfg, t)
    if a.expected:
        fx = Path(a.expected)
        meta = json.loads((fx / "expected" / "meta.json").read_text())
        S = meta["S"]
        x = load_image(fx / meta["image"], S)
        noise = torch.from_numpy(np.load(fx / meta["noise"]))
        z, caps = sl.features(x, noise, S)
        z0, _ = sl.features(x, torch.zeros_like(noise), S)
        caps.update(features=z, features_zero=z0, image_input=x)
        worst = 0.0
        for name in sorted(meta["files"]):
            if name.startswith(".."):
                continue
            key = name[:-4]
            for dt in ("f16", "q8", "q4"):
                if key.endswith("_" + dt):
                    key = key[: -len(dt) - 1] if dt == man["dtype"] else None
                    break
            if key is None:
                continue
            if key.startswith("features") and name != key + ".npy":
                key_label = name[:-4]
            else:
                key_label = key
            ref = np.load(fx / "expected" / name)
            got = caps[key].numpy()
            assert got.shape == ref.shape, (name, got.shape, ref.shape)
            err = np.abs(got - ref).max() / max(np.abs(ref).max(), 1e-12)
            extra = ""
            if key.startswith("features"):
                cmin, cmean = cos_stats(got, ref)
                extra = f"  cos min {cmin:.6f} mean {cmean:.6f}"
            print(f"{man['dtype']:>3} {key_label:<20} rel max err {err:.3e}{extra}")
            worst = max(worst, err)
        return worst
    S = a.size
    x = load_image(a.image, S)
    shape = (1, cfg["vae"]["latent_channels"], S // 8, S // 8)
    if a.noise == "zero":
        noise = torch.zeros(shape)
    elif a.noise == "seed42":
        noise = torch.from_numpy(np.load(Path(a.folder) / "noise" / f"ddim_noise_seed42_{S}.npy"))
    else:
        noise = torch.from_numpy(np.load(a.noise))
    z, _ = sl.features(x, noise, S)
    if a.out:
        np.save(a.out, z.numpy().astype(np.float32))
    print(f"features {tuple(z.shape)}")


if __name__ == "__main__":
    main()
