//! The text tower: open_clip's causal transformer with argmax (end-of-text) pooling, as the
//! official `encode_text(normalize=False)`.
//!
//! ```text
//! ids [n, T] ─token_embedding rows (gathered on the host) + positional_embedding─▶ [n, T, W]
//!   ─L × ( x + attn(ln_1 x, causal) ; x + c_proj(act(c_fc(ln_2 x))) )─▶ ln_final
//!   ─the row at each sequence's largest id─▶ [n, W] ─text_projection─▶ [n, D]
//! ```

use burn::tensor::activation::{gelu, sigmoid, softmax};
use burn::tensor::{Tensor, TensorData};

use super::config::{Activation, TextConfig};
use crate::model::layers::{LayerNorm, Linear};
use crate::model::weights::{HostRows, WeightStore};
use crate::{Error, Result};

/// One `ResidualAttentionBlock`.
#[derive(Clone)]
struct Layer {
    ln_1: LayerNorm,
    /// q, k, v in one `[3W, W]` projection (PyTorch's `in_proj_weight`).
    in_proj: Linear,
    out_proj: Linear,
    ln_2: LayerNorm,
    c_fc: Linear,
    c_proj: Linear,
    ls: Option<(Tensor<1>, Tensor<1>)>,
}

/// The text tower, built from the text part's tensors.
pub struct TextTower {
    config: TextConfig,
    /// `[vocab, W]`, kept on the host (packed when quantized): a sequence needs T of its rows,
    /// and the whole table (152 MB as f32 for CLIP) would exceed a WebGPU binding.
    token_embedding: HostRows,
    positional: Tensor<2>,
    layers: Vec<Layer>,
    ln_final: LayerNorm,
    projection: Linear,
}

impl TextTower {
    pub fn load(store: &mut WeightStore, t: &TextConfig, embed_dim: usize) -> Result<Self> {
        let w = t.width;
        let token_embedding = store.host_rows("token_embedding.weight", [t.vocab_size, w])?;
        let positional = store.float("positional_embedding", [t.context_length, w])?;
        let mut layers = Vec::with_capacity(t.layers);
        for i in 0..t.layers {
            let k = format!("transformer.resblocks.{i}");
            let ls = if t.layer_scale {
                Some((
                    store.float(&format!("{k}.ls_1.gamma"), [w])?,
                    store.float(&format!("{k}.ls_2.gamma"), [w])?,
                ))
            } else {
                None
            };
            layers.push(Layer {
                ln_1: LayerNorm::load(store, &format!("{k}.ln_1"), w, t.layer_norm_eps)?,
                in_proj: Linear::load_named(
                    store,
                    &format!("{k}.attn.in_proj_weight"),
                    Some(&format!("{k}.attn.in_proj_bias")),
                    w,
                    3 * w,
                )?,
                out_proj: Linear::load(store, &format!("{k}.attn.out_proj"), w, w, true)?,
                ln_2: LayerNorm::load(store, &format!("{k}.ln_2"), w, t.layer_norm_eps)?,
                c_fc: Linear::load(store, &format!("{k}.mlp.c_fc"), w, t.mlp_hidden, true)?,
                c_proj: Linear::load(store, &format!("{k}.mlp.c_proj"), t.mlp_hidden, w, true)?,
                ls,
            });
        }
        Ok(TextTower {
            config: t.clone(),
            token_embedding,
            positional,
            layers,
            ln_final: LayerNorm::load(store, "ln_final", w, t.layer_norm_eps)?,
            projection: Linear::load(store, "text_projection", w, embed_dim, t.proj_bias)?,
        })
    }

    pub fn config(&self) -> &TextConfig {
        &self.config
    }

    /// `encode_text(ids, normalize=False)` for `n` sequences of `context_length` ids each
    /// (row-major `[n, T]`) → `[n, D]`.
    pub fn encode(&self, ids: &[u32], n: usize) -> Result<Tensor<2>> {
        let t = self.config.context_length;
        let w = self.config.width;
        if ids.len() != n * t || n == 0 {
            return Err(Error::InvalidParameter {
                name: "token ids",
                expected: "n > 0 sequences of context_length ids",
                got: format!("{} ids for {n} sequences of {t}", ids.len()),
            });
        }
        if let Some(&bad) = ids.iter().find(|&&id| id as usize >= self.config.vocab_size) {
            return Err(Error::InvalidParameter {
                name: "token ids",
                expected: "ids below the vocabulary size",
                got: format!("{bad} with a vocabulary of {}", self.config.vocab_size),
            });
        }
        let device = self.positional.device();
        let rows = self.token_embedding.gather(ids)?;
        let x = Tensor::<3>::from_data(TensorData::new(rows, [n, t, w]), &device);
        let mut x = x + self.positional.clone().unsqueeze_dim::<3>(0);
        let mask = causal_mask(t, &device);
        for layer in &self.layers {
            let a = self.attention(layer, layer.ln_1.forward(x.clone()), &mask);
            x = match &layer.ls {
                Some((g1, _)) => x + a * g1.clone().reshape([1, 1, w]),
                None => x + a,
            };
            let h = layer.c_fc.forward(layer.ln_2.forward(x.clone()));
            let h = match self.config.activation {
                Activation::Gelu => gelu(h),
                Activation::QuickGelu => h.clone() * sigmoid(h * 1.702),
            };
            let m = layer.c_proj.forward(h);
            x = match &layer.ls {
                Some((_, g2)) => x + m * g2.clone().reshape([1, 1, w]),
                None => x + m,
            };
        }
        let x = self.ln_final.forward(x);
        // The end-of-text token has the vocabulary's largest id; torch's argmax takes the first
        // of equal maxima, so a typed "<|endoftext|>" before the real one is the row pooled.
        let at: Vec<i64> = ids
            .chunks_exact(t)
            .enumerate()
            .map(|(i, seq)| {
                let max = seq.iter().copied().max().unwrap_or(0);
                (i * t + seq.iter().position(|&id| id == max).unwrap_or(0)) as i64
            })
            .collect();
        let index = Tensor::<1, burn::tensor::Int>::from_data(TensorData::new(at, [n]), &device);
        let pooled = x.reshape([n * t, w]).select(0, index);
        let d = self.projection_dim();
        Ok(self.projection.forward(pooled.reshape([1, n, w])).reshape([n, d]))
    }

    fn projection_dim(&self) -> usize {
        self.projection.out_dim()
    }

    /// Multi-head self-attention with PyTorch's packed in-projection and an additive mask.
    fn attention(&self, layer: &Layer, x: Tensor<3>, mask: &Tensor<2>) -> Tensor<3> {
        let [n, t, w] = x.dims();
        let heads = self.config.heads;
        let d = w / heads;
        let qkv = layer.in_proj.forward(x);
        let split = |i: usize| {
            qkv.clone()
                .narrow(2, i * w, w)
                .reshape([n, t, heads, d])
                .swap_dims(1, 2)
        };
        let (q, k, v) = (split(0), split(1), split(2));
        let scores = q.matmul(k.swap_dims(2, 3)) * (1.0 / (d as f64).sqrt());
        let scores = scores + mask.clone().unsqueeze_dims::<4>(&[0, 1]);
        let out = softmax(scores, 3).matmul(v).swap_dims(1, 2).reshape([n, t, w]);
        layer.out_proj.forward(out)
    }
}

/// `[T, T]`: 0 on and below the diagonal, −∞ above (open_clip's `build_causal_mask`).
fn causal_mask(t: usize, device: &burn::tensor::Device) -> Tensor<2> {
    let values: Vec<f32> = (0..t * t)
        .map(|i| if i % t > i / t { f32::NEG_INFINITY } else { 0.0 })
        .collect();
    Tensor::from_data(TensorData::new(values, [t, t]), device)
}
