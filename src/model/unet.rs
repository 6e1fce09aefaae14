//! The UNet's down path up to DiffCut's hook (docs/ALGORITHM.md §2): `conv_in` → `down_blocks[..h]` → in block
//! h, resnets and attentions up to `attentions[a].transformer_blocks[t].attn1`, whose output (before
//! the residual) is ẑ. The time/added embeddings and the text context are constants folded by
//! convert.py: each ResNet adds a stored per-size bias, each cross-attention reads stored K/V.

use std::collections::BTreeMap;

use burn::tensor::activation::gelu;
use burn::tensor::Tensor;

use super::config::{ModelConfig, UnetConfig};
use super::layers::{attention, Conv2d, GroupNorm, LayerNorm, Linear};
use super::weights::WeightStore;
use crate::{Error, Result};

/// diffusers `ResnetBlock2D` with the default (additive) time-embedding norm. `time_bias` maps an
/// input size S to `time_emb_proj(SiLU(emb_S))`; the VAE's resnets have none.
pub struct ResnetBlock2D {
    norm1: GroupNorm,
    conv1: Conv2d,
    norm2: GroupNorm,
    conv2: Conv2d,
    shortcut: Option<Conv2d>,
    time_bias: BTreeMap<u32, Tensor<1>>,
}

impl ResnetBlock2D {
    pub fn load(
        store: &mut WeightStore,
        key: &str,
        c_in: usize,
        c_out: usize,
        groups: usize,
        eps: f64,
        sizes: &[u32],
    ) -> Result<Self> {
        let mut time_bias = BTreeMap::new();
        for &s in sizes {
            time_bias.insert(s, store.float(&format!("{key}.time_bias.{s}"), [c_out])?);
        }
        Ok(ResnetBlock2D {
            norm1: GroupNorm::load(store, &format!("{key}.norm1"), groups, c_in, eps)?,
            conv1: Conv2d::load(store, &format!("{key}.conv1"), c_in, c_out, 3, 1, 1)?,
            norm2: GroupNorm::load(store, &format!("{key}.norm2"), groups, c_out, eps)?,
            conv2: Conv2d::load(store, &format!("{key}.conv2"), c_out, c_out, 3, 1, 1)?,
            shortcut: if c_in != c_out {
                Some(Conv2d::load(
                    store,
                    &format!("{key}.conv_shortcut"),
                    c_in,
                    c_out,
                    1,
                    1,
                    0,
                )?)
            } else {
                None
            },
            time_bias,
        })
    }

    /// `[B, c_in, H, W] → [B, c_out, H, W]`; `size` selects the folded time bias (UNet only).
    pub fn forward(&self, x: Tensor<4>, size: Option<u32>) -> Tensor<4> {
        let mut h = self.conv1.forward(self.norm1.forward_silu(x.clone()));
        if let Some(bias) = size.and_then(|s| self.time_bias.get(&s)) {
            let c = bias.dims()[0];
            h = h + bias.clone().reshape([1, c, 1, 1]);
        }
        let h = self.conv2.forward(self.norm2.forward_silu(h));
        let skip = match &self.shortcut {
            Some(conv) => conv.forward(x),
            None => x,
        };
        skip + h
    }
}

/// diffusers `Attention` as used in `BasicTransformerBlock`: q/k/v without bias, `to_out.0` with.
/// A cross-attention keeps its K/V of the constant text context instead of `to_k`/`to_v`.
struct Attention {
    heads: usize,
    to_q: Linear,
    kv: AttentionKv,
    to_out: Linear,
}

// One per attention layer, built once: the variants' size difference does not matter.
#[allow(clippy::large_enum_variant)]
enum AttentionKv {
    SelfAttn {
        to_k: Linear,
        to_v: Linear,
    },
    /// `to_k(ctx)`, `to_v(ctx)`: `[1, T, C]`.
    Folded {
        k: Tensor<3>,
        v: Tensor<3>,
    },
}

impl Attention {
    fn load_self(store: &mut WeightStore, key: &str, c: usize, heads: usize) -> Result<Self> {
        Ok(Attention {
            heads,
            to_q: Linear::load(store, &format!("{key}.to_q"), c, c, false)?,
            kv: AttentionKv::SelfAttn {
                to_k: Linear::load(store, &format!("{key}.to_k"), c, c, false)?,
                to_v: Linear::load(store, &format!("{key}.to_v"), c, c, false)?,
            },
            to_out: Linear::load(store, &format!("{key}.to_out.0"), c, c, true)?,
        })
    }

    fn load_cross(store: &mut WeightStore, key: &str, c: usize, heads: usize, tokens: usize) -> Result<Self> {
        let k = store.float(&format!("{key}.k_ctx"), [tokens, c])?.unsqueeze_dim(0);
        let v = store.float(&format!("{key}.v_ctx"), [tokens, c])?.unsqueeze_dim(0);
        Ok(Attention {
            heads,
            to_q: Linear::load(store, &format!("{key}.to_q"), c, c, false)?,
            kv: AttentionKv::Folded { k, v },
            to_out: Linear::load(store, &format!("{key}.to_out.0"), c, c, true)?,
        })
    }

    /// `[B, N, C] → [B, N, C]`, without the residual.
    fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        let q = self.to_q.forward(x.clone());
        let (k, v) = match &self.kv {
            AttentionKv::SelfAttn { to_k, to_v } => (to_k.forward(x.clone()), to_v.forward(x)),
            AttentionKv::Folded { k, v } => {
                let b = x.dims()[0];
                let [_, t, c] = k.dims();
                (k.clone().expand([b, t, c]), v.clone().expand([b, t, c]))
            }
        };
        self.to_out.forward(attention(q, k, v, self.heads))
    }
}

/// diffusers `BasicTransformerBlock` (layer norms, self-attention, cross-attention, GEGLU
/// feed-forward). The hook block is loaded with only `norm1` and `attn1`.
struct TransformerBlock {
    norm1: LayerNorm,
    attn1: Attention,
    /// `None` for the hook block, which stops after `attn1`.
    rest: Option<TransformerRest>,
}

struct TransformerRest {
    norm2: LayerNorm,
    attn2: Attention,
    norm3: LayerNorm,
    /// GEGLU: `C → 8C`, value = first 4C, gate = last 4C.
    ff_in: Linear,
    ff_out: Linear,
}

impl TransformerBlock {
    fn load(store: &mut WeightStore, key: &str, c: usize, heads: usize, u: &UnetConfig, hook: bool) -> Result<Self> {
        let eps = u.layer_norm_eps;
        let norm1 = LayerNorm::load(store, &format!("{key}.norm1"), c, eps)?;
        let attn1 = Attention::load_self(store, &format!("{key}.attn1"), c, heads)?;
        let rest = if hook {
            None
        } else {
            Some(TransformerRest {
                norm2: LayerNorm::load(store, &format!("{key}.norm2"), c, eps)?,
                attn2: Attention::load_cross(store, &format!("{key}.attn2"), c, heads, u.context_tokens)?,
                norm3: LayerNorm::load(store, &format!("{key}.norm3"), c, eps)?,
                ff_in: Linear::load(store, &format!("{key}.ff.net.0.proj"), c, 8 * c, true)?,
                ff_out: Linear::load(store, &format!("{key}.ff.net.2"), 4 * c, c, true)?,
            })
        };
        Ok(TransformerBlock { norm1, attn1, rest })
    }

    /// The block's output, or for the hook block ẑ = attn1(norm1(h)).
    fn forward(&self, h: Tensor<3>) -> Tensor<3> {
        let a = self.attn1.forward(self.norm1.forward(h.clone()));
        let Some(r) = &self.rest else { return a };
        let h = h + a;
        let h = h.clone() + r.attn2.forward(r.norm2.forward(h));
        let u = r.ff_in.forward(r.norm3.forward(h.clone()));
        let inner = u.dims()[2] / 2;
        let value = u.clone().narrow(2, 0, inner);
        let gate = u.narrow(2, inner, inner);
        h + r.ff_out.forward(value * gelu(gate))
    }
}

/// diffusers `Transformer2DModel` (GroupNorm, linear projections, L blocks, residual). When it
/// contains the hook, `forward` returns ẑ `[B, HW, C]` instead of a feature map.
struct Transformer2D {
    norm: GroupNorm,
    proj_in: Linear,
    blocks: Vec<TransformerBlock>,
    /// `None` when the last block is the hook (the projection out is never reached).
    proj_out: Option<Linear>,
}

impl Transformer2D {
    fn load(
        store: &mut WeightStore,
        key: &str,
        c: usize,
        heads: usize,
        depth: usize,
        u: &UnetConfig,
        hook_block: Option<usize>,
    ) -> Result<Self> {
        let norm = GroupNorm::load(
            store,
            &format!("{key}.norm"),
            u.norm_num_groups,
            c,
            u.transformer_norm_eps,
        )?;
        let proj_in = Linear::load(store, &format!("{key}.proj_in"), c, c, true)?;
        let last = hook_block.map_or(depth, |t| t + 1);
        let blocks = (0..last)
            .map(|t| {
                TransformerBlock::load(
                    store,
                    &format!("{key}.transformer_blocks.{t}"),
                    c,
                    heads,
                    u,
                    Some(t) == hook_block,
                )
            })
            .collect::<Result<Vec<_>>>()?;
        let proj_out = if hook_block.is_some() {
            None
        } else {
            Some(Linear::load(store, &format!("{key}.proj_out"), c, c, true)?)
        };
        Ok(Transformer2D {
            norm,
            proj_in,
            blocks,
            proj_out,
        })
    }

    fn forward(&self, x: Tensor<4>) -> Stage {
        let [b, c, h, w] = x.dims();
        // [B, C, H, W] → [B, HW, C], row-major tokens (transformer_2d.py).
        let tokens = self.norm.forward(x.clone()).reshape([b, c, h * w]).swap_dims(1, 2);
        let mut t = self.proj_in.forward(tokens);
        for block in &self.blocks {
            t = block.forward(t);
        }
        match &self.proj_out {
            Some(proj) => {
                let t = proj.forward(t).swap_dims(1, 2).reshape([b, c, h, w]);
                Stage::Map(t + x)
            }
            None => Stage::Hook(t),
        }
    }
}

enum Stage {
    Map(Tensor<4>),
    Hook(Tensor<3>),
}

/// One down block, possibly cut at the hook.
struct DownBlock {
    layers: Vec<(ResnetBlock2D, Option<Transformer2D>)>,
    downsample: Option<Conv2d>,
}

/// The UNet from `conv_in` to the hook.
pub struct UnetSlice {
    conv_in: Conv2d,
    blocks: Vec<DownBlock>,
}

impl UnetSlice {
    pub fn load(store: &mut WeightStore, config: &ModelConfig) -> Result<Self> {
        let u = &config.unet;
        let hook = config.hook;
        let groups = u.norm_num_groups;
        let c0 = u.block_out_channels[0];
        let conv_in = Conv2d::load(store, "unet.conv_in", u.in_channels, c0, 3, 1, 1)?;
        let mut blocks = Vec::new();
        let mut c_prev = c0;
        for i in 0..=hook.down_block {
            let c = u.block_out_channels[i];
            let cross = u.down_block_types[i] == "CrossAttnDownBlock2D";
            let layers_here = if i == hook.down_block {
                hook.attention + 1
            } else {
                u.layers_per_block
            };
            let mut layers = Vec::new();
            for j in 0..layers_here {
                let key = format!("unet.down_blocks.{i}");
                let c_in = if j == 0 { c_prev } else { c };
                let resnet = ResnetBlock2D::load(
                    store,
                    &format!("{key}.resnets.{j}"),
                    c_in,
                    c,
                    groups,
                    u.resnet_eps,
                    &config.sizes,
                )?;
                let attn = if cross {
                    let is_hook = i == hook.down_block && j == hook.attention;
                    Some(Transformer2D::load(
                        store,
                        &format!("{key}.attentions.{j}"),
                        c,
                        u.num_attention_heads[i],
                        u.transformer_layers_per_block[i][j],
                        u,
                        is_hook.then_some(hook.transformer_block),
                    )?)
                } else {
                    None
                };
                layers.push((resnet, attn));
            }
            let is_final = i + 1 == u.block_out_channels.len();
            let downsample = if i < hook.down_block && !is_final {
                // diffusers' Downsample2D: with padding 0 it pads right and bottom by one first.
                let p = u.downsample_padding;
                let padding = if p == 0 { [(0, 1), (0, 1)] } else { [(p, p), (p, p)] };
                Some(Conv2d::load_padded(
                    store,
                    &format!("unet.down_blocks.{i}.downsamplers.0.conv"),
                    c,
                    c,
                    3,
                    2,
                    padding,
                )?)
            } else {
                None
            };
            blocks.push(DownBlock { layers, downsample });
            c_prev = c;
        }
        Ok(UnetSlice { conv_in, blocks })
    }

    /// ẑ `[B, N, C]` (N = the hook's grid, row-major) for a noisy latent `[B, 4, S/8, S/8]`.
    /// `trace` sees `conv_in` and each completed down block's output.
    pub fn forward(&self, latent: Tensor<4>, size: u32, trace: &mut dyn FnMut(&str, &Tensor<4>)) -> Result<Tensor<3>> {
        let mut h = self.conv_in.forward(latent);
        trace("conv_in", &h);
        for (i, block) in self.blocks.iter().enumerate() {
            for (resnet, attn) in &block.layers {
                h = resnet.forward(h, Some(size));
                if let Some(attn) = attn {
                    match attn.forward(h) {
                        Stage::Map(m) => h = m,
                        Stage::Hook(z) => return Ok(z),
                    }
                }
            }
            if let Some(down) = &block.downsample {
                h = down.forward(h);
            }
            trace(&format!("down_blocks.{i}"), &h);
        }
        Err(Error::Model("the UNet slice ended without reaching its hook".into()))
    }
}
