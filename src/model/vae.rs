//! The SDXL VAE encoder (diffusers `AutoencoderKL.encoder` + `quant_conv`), returning the
//! posterior mean × scaling factor (spec §1.2): deterministic, no sampling.

use burn::tensor::activation::silu;
use burn::tensor::Tensor;

use super::config::VaeConfig;
use super::layers::{attention, Conv2d, GroupNorm, Linear};
use super::unet::ResnetBlock2D;
use super::weights::WeightStore;
use crate::Result;

/// The mid block's single-head self-attention with GroupNorm and residual (diffusers `Attention`
/// with `residual_connection=True`, biases on q/k/v/out).
struct MidAttention {
    norm: GroupNorm,
    to_q: Linear,
    to_k: Linear,
    to_v: Linear,
    to_out: Linear,
}

impl MidAttention {
    fn load(store: &mut WeightStore, key: &str, c: usize, groups: usize, eps: f64) -> Result<Self> {
        Ok(MidAttention {
            norm: GroupNorm::load(store, &format!("{key}.group_norm"), groups, c, eps)?,
            to_q: Linear::load(store, &format!("{key}.to_q"), c, c, true)?,
            to_k: Linear::load(store, &format!("{key}.to_k"), c, c, true)?,
            to_v: Linear::load(store, &format!("{key}.to_v"), c, c, true)?,
            to_out: Linear::load(store, &format!("{key}.to_out.0"), c, c, true)?,
        })
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let [b, c, h, w] = x.dims();
        let t = self.norm.forward(x.clone()).reshape([b, c, h * w]).swap_dims(1, 2);
        let a = attention(self.to_q.forward(t.clone()), self.to_k.forward(t.clone()), self.to_v.forward(t), 1);
        let a = self.to_out.forward(a).swap_dims(1, 2).reshape([b, c, h, w]);
        a + x
    }
}

/// `Encoder` → `quant_conv` (mean rows only) → × `scaling_factor`.
pub struct VaeEncoder {
    conv_in: Conv2d,
    /// Per level: its resnets, then its downsampler (all levels but the last).
    levels: Vec<(Vec<ResnetBlock2D>, Option<Conv2d>)>,
    mid: (ResnetBlock2D, Option<MidAttention>, ResnetBlock2D),
    norm_out: GroupNorm,
    conv_out: Conv2d,
    quant_conv: Conv2d,
    scaling_factor: f64,
}

impl VaeEncoder {
    pub fn load(store: &mut WeightStore, v: &VaeConfig) -> Result<Self> {
        let (g, eps) = (v.norm_num_groups, v.eps);
        let chans = &v.block_out_channels;
        let conv_in = Conv2d::load(store, "vae.encoder.conv_in", v.in_channels, chans[0], 3, 1, 1)?;
        let mut levels = Vec::new();
        let mut c_prev = chans[0];
        for (i, &c) in chans.iter().enumerate() {
            let key = format!("vae.encoder.down_blocks.{i}");
            let resnets = (0..v.layers_per_block)
                .map(|j| {
                    let c_in = if j == 0 { c_prev } else { c };
                    ResnetBlock2D::load(store, &format!("{key}.resnets.{j}"), c_in, c, g, eps, &[])
                })
                .collect::<Result<Vec<_>>>()?;
            // diffusers' VAE Downsample2D pads (0, 1, 0, 1) with zeros, then a stride-2 conv.
            let down = if i + 1 < chans.len() {
                Some(Conv2d::load_padded(store, &format!("{key}.downsamplers.0.conv"), c, c, 3, 2, [(0, 1), (0, 1)])?)
            } else {
                None
            };
            levels.push((resnets, down));
            c_prev = c;
        }
        let c = *chans.last().expect("validated non-empty");
        let key = "vae.encoder.mid_block";
        let mid = (
            ResnetBlock2D::load(store, &format!("{key}.resnets.0"), c, c, g, eps, &[])?,
            if v.mid_block_add_attention {
                Some(MidAttention::load(store, &format!("{key}.attentions.0"), c, g, eps)?)
            } else {
                None
            },
            ResnetBlock2D::load(store, &format!("{key}.resnets.1"), c, c, g, eps, &[])?,
        );
        let z = v.latent_channels;
        Ok(VaeEncoder {
            conv_in,
            levels,
            mid,
            norm_out: GroupNorm::load(store, "vae.encoder.conv_norm_out", g, c, eps)?,
            conv_out: Conv2d::load(store, "vae.encoder.conv_out", c, 2 * z, 3, 1, 1)?,
            quant_conv: Conv2d::load(store, "vae.quant_conv", 2 * z, z, 1, 1, 0)?,
            scaling_factor: v.scaling_factor,
        })
    }

    /// `[B, 3, S, S]` in [−1, 1] → latent `[B, z, S/f, S/f]` (posterior mean × scaling factor).
    pub fn encode(&self, x: Tensor<4>) -> Tensor<4> {
        let mut h = self.conv_in.forward(x);
        for (resnets, down) in &self.levels {
            for r in resnets {
                h = r.forward(h, None);
            }
            if let Some(d) = down {
                h = d.forward(h);
            }
        }
        h = self.mid.0.forward(h, None);
        if let Some(a) = &self.mid.1 {
            h = a.forward(h);
        }
        h = self.mid.2.forward(h, None);
        let h = self.conv_out.forward(silu(self.norm_out.forward(h)));
        self.quant_conv.forward(h) * self.scaling_factor
    }
}
