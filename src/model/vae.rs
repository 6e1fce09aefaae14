//! The SDXL VAE encoder (diffusers `AutoencoderKL.encoder` + `quant_conv`), returning the
//! posterior mean × scaling factor (docs/ALGORITHM.md §1.2): deterministic, no sampling. The big early levels
//! run on row bands (src/model/banded.rs) so that memory and storage bindings stay bounded.

use burn::tensor::Tensor;

use super::banded::{self, band_rows, Bands, BAND_BYTES};
use super::config::VaeConfig;
use super::layers::{attention, Conv2d, GroupNorm, Linear};
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
        let a = attention(
            self.to_q.forward(t.clone()),
            self.to_k.forward(t.clone()),
            self.to_v.forward(t),
            1,
        );
        let a = self.to_out.forward(a).swap_dims(1, 2).reshape([b, c, h, w]);
        a + x
    }
}

/// diffusers `ResnetBlock2D` as the VAE uses it (no time embedding): the same tensors as
/// `unet::ResnetBlock2D` (`norm1`, `conv1`, `norm2`, `conv2`, `conv_shortcut`), with a banded
/// forward.
struct VaeResnet {
    norm1: banded::GroupNorm,
    conv1: banded::Conv2d,
    norm2: banded::GroupNorm,
    conv2: banded::Conv2d,
    shortcut: Option<banded::Conv2d>,
}

impl VaeResnet {
    fn load(store: &mut WeightStore, key: &str, c_in: usize, c_out: usize, groups: usize, eps: f64) -> Result<Self> {
        Ok(VaeResnet {
            norm1: banded::GroupNorm::load(store, &format!("{key}.norm1"), groups, c_in, eps)?,
            conv1: banded::Conv2d::load(store, &format!("{key}.conv1"), c_in, c_out, 3)?,
            norm2: banded::GroupNorm::load(store, &format!("{key}.norm2"), groups, c_out, eps)?,
            conv2: banded::Conv2d::load(store, &format!("{key}.conv2"), c_out, c_out, 3)?,
            shortcut: if c_in != c_out {
                Some(banded::Conv2d::load(
                    store,
                    &format!("{key}.conv_shortcut"),
                    c_in,
                    c_out,
                    1,
                )?)
            } else {
                None
            },
        })
    }

    /// `[B, c_in, H, W] → [B, c_out, H, W]`.
    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let h = self.conv1.forward(self.norm1.forward_silu(x.clone()));
        let h = self.conv2.forward(self.norm2.forward_silu(h));
        self.skip(x) + h
    }

    /// The skip path: `conv_shortcut(x)` where the channels change, else `x`.
    fn skip(&self, x: Tensor<4>) -> Tensor<4> {
        match &self.shortcut {
            Some(conv) => conv.forward(x),
            None => x,
        }
    }

    /// [`VaeResnet::forward`] on bands: keeping the inner activation `h = conv1(…)` whole where
    /// it and the input fit in `keep_bytes`, else recomputing it band by band
    /// ([`VaeResnet::forward_bands_recompute`]).
    fn forward_bands(&self, x: Bands, keep_bytes: usize) -> Bands {
        let [b, c_in, height, width] = x.dims();
        let c_out = self.conv1.out_channels();
        if (c_in + c_out) * b * height * width * std::mem::size_of::<f32>() > keep_bytes {
            self.forward_bands_recompute(x)
        } else {
            self.forward_bands_keep(x)
        }
    }

    /// The normalised activations are never stored whole: each conv normalises (and SiLUs) its
    /// band and halo rows on the fly. Alive at the peak: the input (kept for the skip, dropped
    /// band by band during the second conv), `h`, and the output so far.
    fn forward_bands_keep(&self, x: Bands) -> Bands {
        let s1 = self.norm1.stats(&x);
        let h = self
            .conv1
            .forward_bands_with(x.clone(), |t| self.norm1.normalize_silu(&s1, t), |_, y| y);
        let s2 = self.norm2.stats(&h);
        let mut skips: Vec<Option<Tensor<4>>> = x.into_bands().into_iter().map(Some).collect();
        self.conv2.forward_bands_with(
            h,
            |t| self.norm2.normalize_silu(&s2, t),
            |i, y| {
                let x = skips[i].take().expect("each skip band is used once");
                self.skip(x) + y
            },
        )
    }

    /// The same result without ever holding `h` whole: a first pass computes `h` band by band
    /// only for norm2's statistics; the second recomputes each band of `h` (with the one halo row
    /// conv2 needs on each side) and makes the output band, dropping the input's bands as it
    /// goes. Alive at the peak: about the input plus the output so far, one activation instead
    /// of two (at S = 1024 the first level's 512 MiB), for one more conv1 per block.
    fn forward_bands_recompute(&self, x: Bands) -> Bands {
        let rows = x.rows();
        let s1 = self.norm1.stats(&x);
        let pre1 = |t| self.norm1.normalize_silu(&s1, t);
        let (w1, w2) = (self.conv1.weight_value(), self.conv2.weight_value());
        let mut src = banded::RowSource::new(x);
        let height = src.height();

        let mut acc = None;
        let mut start = 0usize;
        for &len in &rows {
            let h = self.conv1.forward_rows(&w1, &src, start, len, pre1);
            self.norm2.accumulate(&mut acc, &h);
            start += len;
        }
        let s2 = self.norm2.stats_from(acc);

        let mut out = Vec::with_capacity(rows.len());
        let mut start = 0usize;
        for &len in &rows {
            // conv2's output rows start..start+len need h's rows start−1 ..= start+len.
            let (lo, hi) = (start.saturating_sub(1), (start + len + 1).min(height));
            let h = self.conv1.forward_rows(&w1, &src, lo, hi - lo, pre1);
            let y = self
                .conv2
                .forward_window(&w2, self.norm2.normalize_silu(&s2, h), start, len, height);
            out.push(self.skip(src.rows(start, start + len)) + y);
            start += len;
            // The next band reads the input from two rows above its start.
            src.drop_rows_before(start.saturating_sub(2));
        }
        Bands::from_bands(out)
    }
}

/// The most bytes a VAE ResNet block keeps in its input and inner activation together before it
/// recomputes the inner one (one more conv1) rather than keeping it. At S = 1024 only the first
/// level's blocks (128 channels at 1024², 512 + 512 MiB) recompute: the encoder's peak drops from
/// about two of those activations to one, while S ≤ 768 computes exactly as before.
pub const KEEP_BYTES: usize = 640 << 20;

/// One level of the encoder's down path.
struct Level {
    resnets: Vec<VaeResnet>,
    /// The downsampler (all levels but the last).
    down: Option<banded::Conv2d>,
    /// Channels in and out.
    c_in: usize,
    c_out: usize,
}

/// `Encoder` → `quant_conv` (mean rows only) → × `scaling_factor`.
///
/// The down levels run on row bands ([`Bands`]) of at most [`BAND_BYTES`] each, so that no
/// activation tensor outgrows a storage binding at S = 1024, and ResNet blocks beyond
/// [`KEEP_BYTES`] recompute their inner activation, so that the peak holds about one first-level
/// activation (512 MiB at S = 1024); the mid block and after run on whole tensors (at S = 1024
/// they are 32 MiB).
pub struct VaeEncoder {
    conv_in: banded::Conv2d,
    levels: Vec<Level>,
    mid: (VaeResnet, Option<MidAttention>, VaeResnet),
    norm_out: GroupNorm,
    conv_out: Conv2d,
    quant_conv: Conv2d,
    scaling_factor: f64,
}

impl VaeEncoder {
    pub fn load(store: &mut WeightStore, v: &VaeConfig) -> Result<Self> {
        let (g, eps) = (v.norm_num_groups, v.eps);
        let chans = &v.block_out_channels;
        let conv_in = banded::Conv2d::load(store, "vae.encoder.conv_in", v.in_channels, chans[0], 3)?;
        let mut levels = Vec::new();
        let mut c_prev = chans[0];
        for (i, &c) in chans.iter().enumerate() {
            let key = format!("vae.encoder.down_blocks.{i}");
            let resnets = (0..v.layers_per_block)
                .map(|j| {
                    let c_in = if j == 0 { c_prev } else { c };
                    VaeResnet::load(store, &format!("{key}.resnets.{j}"), c_in, c, g, eps)
                })
                .collect::<Result<Vec<_>>>()?;
            // diffusers' VAE Downsample2D pads (0, 1, 0, 1) with zeros, then a stride-2 conv.
            let down = if i + 1 < chans.len() {
                Some(banded::Conv2d::load(
                    store,
                    &format!("{key}.downsamplers.0.conv"),
                    c,
                    c,
                    3,
                )?)
            } else {
                None
            };
            levels.push(Level {
                resnets,
                down,
                c_in: c_prev,
                c_out: c,
            });
            c_prev = c;
        }
        let c = *chans.last().expect("validated non-empty");
        let key = "vae.encoder.mid_block";
        let mid = (
            VaeResnet::load(store, &format!("{key}.resnets.0"), c, c, g, eps)?,
            if v.mid_block_add_attention {
                Some(MidAttention::load(store, &format!("{key}.attentions.0"), c, g, eps)?)
            } else {
                None
            },
            VaeResnet::load(store, &format!("{key}.resnets.1"), c, c, g, eps)?,
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

    /// `[B, 3, S, S]` in [−1, 1] → latent `[B, z, S/f, S/f]` (posterior mean × scaling factor),
    /// with bands of at most [`BAND_BYTES`].
    pub fn encode(&self, x: Tensor<4>) -> Tensor<4> {
        self.encode_with_budget(x, BAND_BYTES)
    }

    /// The rows of each band at each down level for an input `[batch, _, height, width]`: every
    /// band of a level holds at most `band_bytes` at the level's widest channel count (at least
    /// one row, two on levels that downsample, whose bands start at even rows). A level that fits
    /// in `band_bytes` is one band.
    pub fn band_plan(&self, batch: usize, height: usize, width: usize, band_bytes: usize) -> Vec<Vec<usize>> {
        let (mut h, mut w) = (height, width);
        let mut plan = Vec::with_capacity(self.levels.len());
        for level in &self.levels {
            let row_bytes = batch * level.c_in.max(level.c_out) * w * std::mem::size_of::<f32>();
            plan.push(band_rows(h, row_bytes, band_bytes, level.down.is_some()));
            // The downsample's output: ⌊(H + 1 − 3) / 2⌋ + 1 = ⌊H / 2⌋.
            (h, w) = (h / 2, w / 2);
        }
        plan
    }

    /// [`VaeEncoder::encode`] with bands of at most `band_bytes` (see [`VaeEncoder::band_plan`]);
    /// the result does not depend on the budget beyond f32 summation order.
    pub fn encode_with_budget(&self, x: Tensor<4>, band_bytes: usize) -> Tensor<4> {
        self.encode_with_budgets(x, band_bytes, KEEP_BYTES)
    }

    /// [`VaeEncoder::encode_with_budget`] where a ResNet block whose input and inner activation
    /// together exceed `keep_bytes` recomputes the inner one instead of keeping it (see
    /// [`KEEP_BYTES`]); again the same result up to f32 summation order.
    pub fn encode_with_budgets(&self, x: Tensor<4>, band_bytes: usize, keep_bytes: usize) -> Tensor<4> {
        let [b, _, height, width] = x.dims();
        let plan = self.band_plan(b, height, width, band_bytes);
        let mut h = self.conv_in.forward_bands(Bands::from_tensor_rows(x, &plan[0]));
        for (level, rows) in self.levels.iter().zip(&plan) {
            h = h.rebanded(rows);
            for r in &level.resnets {
                h = r.forward_bands(h, keep_bytes);
            }
            if let Some(d) = &level.down {
                h = d.downsample_bands(h);
            }
        }
        let mut h = h.into_tensor();
        h = self.mid.0.forward(h);
        if let Some(a) = &self.mid.1 {
            h = a.forward(h);
        }
        h = self.mid.2.forward(h);
        let h = self.conv_out.forward(self.norm_out.forward_silu(h));
        self.quant_conv.forward(h) * self.scaling_factor
    }
}
