//! The image tower: timm's ConvNeXt trunk (`visual.trunk`) up to the dense map DiffCut pools
//! (`clip_vis_dense`, the last stage's output), and the head a pooled vector goes through
//! (`visual.trunk.head.norm`, then open_clip's `visual.head`).
//!
//! ```text
//! x [1, 3, S, S] ─stem: conv p×p stride p, LayerNorm2d─▶ [1, C₀, S/p, S/p]
//!   ─stage i: (i > 0: LayerNorm2d, conv 2×2 stride 2) then blocks─▶ [1, Cᵢ, S/(p·2ⁱ), …]
//!   block: x + γ · fc2(GELU(fc1(LN(dwconv k×k(x)))))            (LN and the MLP channels-last)
//! dense [1, C, S/32, S/32]; a pooled vector [Q, C] ─LN─▶ ─head─▶ [Q, D]
//! ```

use burn::tensor::activation::gelu;
use burn::tensor::module::layer_norm;
use burn::tensor::Tensor;

use super::config::{HeadConfig, VisionConfig};
use crate::model::layers::{Conv2d, LayerNorm, Linear};
use crate::model::weights::WeightStore;
use crate::Result;

/// Largest hidden activation of a block's MLP computed at once, in f32 values (32 MiB): a quarter
/// of WebGPU's guaranteed 128 MiB storage binding.
pub const MLP_CHUNK_VALUES: usize = 8 << 20;

/// Largest first-stage activation computed at once, in f32 values (96 MiB). Above it (S > 1024
/// for convnext_large: 201 MB at S = 2048, over WebGPU's guaranteed 128 MiB binding) the stem, the
/// first stage and the second stage's downsampling run on row bands ([`ImageTower::dense`]).
pub const BAND_VALUES: usize = 24 << 20;

/// LayerNorm over the channels of an NCHW map (timm's `LayerNorm2d`).
#[derive(Clone)]
struct LayerNorm2d {
    eps: f64,
    gamma: Tensor<1>,
    beta: Tensor<1>,
}

impl LayerNorm2d {
    fn load(store: &mut WeightStore, key: &str, channels: usize, eps: f64) -> Result<Self> {
        Ok(LayerNorm2d {
            eps,
            gamma: store.float(&format!("{key}.weight"), [channels])?,
            beta: store.float(&format!("{key}.bias"), [channels])?,
        })
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let [b, c, h, w] = x.dims();
        let tokens = x.reshape([b, c, h * w]).swap_dims(1, 2);
        let normed = layer_norm(tokens, self.gamma.clone(), Some(self.beta.clone()), self.eps);
        normed.swap_dims(1, 2).reshape([b, c, h, w])
    }
}

/// timm's `ConvNeXtBlock` (conv_mlp = false: the norm and MLP run channels-last).
#[derive(Clone)]
struct Block {
    conv_dw: Conv2d,
    norm: LayerNorm,
    fc1: Linear,
    fc2: Linear,
    /// Layer scale γ `[C]`, when the model has it.
    gamma: Option<Tensor<1>>,
}

impl Block {
    fn load(store: &mut WeightStore, key: &str, c: usize, hidden: usize, v: &VisionConfig) -> Result<Self> {
        Ok(Block {
            conv_dw: Conv2d::load_depthwise(store, &format!("{key}.conv_dw"), c, v.kernel_size)?,
            norm: LayerNorm::load(store, &format!("{key}.norm"), c, v.norm_eps)?,
            fc1: Linear::load(store, &format!("{key}.mlp.fc1"), c, hidden, true)?,
            fc2: Linear::load(store, &format!("{key}.mlp.fc2"), hidden, c, true)?,
            gamma: if v.layer_scale {
                Some(store.float(&format!("{key}.gamma"), [c])?)
            } else {
                None
            },
        })
    }

    fn forward(&self, x: Tensor<4>, chunk_values: usize) -> Tensor<4> {
        let [b, c, h, w] = x.dims();
        let y = self.conv_dw.forward(x.clone());
        let y = self.norm.forward(y.reshape([b, c, h * w]).swap_dims(1, 2));
        // The MLP is per token: run it on blocks of tokens so that its hidden activation (4C per
        // token: 201 MB at S = 1024 in the first stage) stays inside one storage binding.
        let hidden = self.fc1.out_dim();
        let rows = (chunk_values / (b * hidden).max(1)).max(1);
        let n = h * w;
        let y = if rows >= n {
            self.fc2.forward(gelu(self.fc1.forward(y)))
        } else {
            let blocks = (0..n.div_ceil(rows))
                .map(|i| {
                    let len = rows.min(n - i * rows);
                    self.fc2
                        .forward(gelu(self.fc1.forward(y.clone().narrow(1, i * rows, len))))
                })
                .collect();
            Tensor::cat(blocks, 1)
        };
        let y = match &self.gamma {
            Some(g) => y * g.clone().reshape([1, 1, c]),
            None => y,
        };
        x + y.swap_dims(1, 2).reshape([b, c, h, w])
    }
}

/// One stage: an optional downsampling (norm, then a 2×2 stride-2 conv) and its blocks.
#[derive(Clone)]
struct Stage {
    downsample: Option<(LayerNorm2d, Conv2d)>,
    blocks: Vec<Block>,
}

/// open_clip's `visual.head` after the trunk's head norm.
#[derive(Clone)]
enum Head {
    Mlp { fc1: Box<Linear>, fc2: Box<Linear> },
    Linear(Box<Linear>),
    None,
}

/// The image tower, built from `visual.*` tensors.
#[derive(Clone)]
pub struct ImageTower {
    stem: (Conv2d, LayerNorm2d),
    stages: Vec<Stage>,
    head_norm: LayerNorm,
    head: Head,
    /// [`MLP_CHUNK_VALUES`] unless a test asks for less.
    mlp_chunk_values: usize,
    /// [`BAND_VALUES`] unless a test asks for less.
    band_values: usize,
    /// The stem's patch (its kernel and stride), its channels, and the blocks' depthwise kernel.
    patch: usize,
    stem_channels: usize,
    kernel: usize,
}

impl ImageTower {
    pub fn load(store: &mut WeightStore, v: &VisionConfig, embed_dim: usize) -> Result<Self> {
        let t = "visual.trunk";
        let c0 = v.dims[0];
        let stem = (
            Conv2d::load(
                store,
                &format!("{t}.stem.0"),
                v.in_channels,
                c0,
                v.patch_size,
                v.patch_size,
                0,
            )?,
            LayerNorm2d::load(store, &format!("{t}.stem.1"), c0, v.norm_eps)?,
        );
        let mut stages = Vec::with_capacity(v.dims.len());
        for (i, (&c, (&depth, &hidden))) in v.dims.iter().zip(v.depths.iter().zip(&v.mlp_hidden)).enumerate() {
            let key = format!("{t}.stages.{i}");
            let downsample = if i == 0 {
                None
            } else {
                let prev = v.dims[i - 1];
                Some((
                    LayerNorm2d::load(store, &format!("{key}.downsample.0"), prev, v.norm_eps)?,
                    Conv2d::load(store, &format!("{key}.downsample.1"), prev, c, 2, 2, 0)?,
                ))
            };
            let blocks = (0..depth)
                .map(|j| Block::load(store, &format!("{key}.blocks.{j}"), c, hidden, v))
                .collect::<Result<_>>()?;
            stages.push(Stage { downsample, blocks });
        }
        let trunk = *v.dims.last().expect("config checked");
        let head_norm = LayerNorm::load(store, &format!("{t}.head.norm"), trunk, v.norm_eps)?;
        let head = match v.head {
            HeadConfig::Mlp {
                hidden,
                fc1_bias,
                fc2_bias,
            } => Head::Mlp {
                fc1: Box::new(Linear::load(store, "visual.head.mlp.fc1", trunk, hidden, fc1_bias)?),
                fc2: Box::new(Linear::load(store, "visual.head.mlp.fc2", hidden, embed_dim, fc2_bias)?),
            },
            HeadConfig::Linear { bias } => Head::Linear(Box::new(Linear::load(
                store,
                "visual.head.proj",
                trunk,
                embed_dim,
                bias,
            )?)),
            HeadConfig::None => Head::None,
        };
        Ok(ImageTower {
            stem,
            stages,
            head_norm,
            head,
            mlp_chunk_values: MLP_CHUNK_VALUES,
            band_values: BAND_VALUES,
            patch: v.patch_size,
            stem_channels: c0,
            kernel: v.kernel_size,
        })
    }

    /// The dense map `[1, C, S/32, S/32]` of an input `[1, 3, S, S]`; `trace` sees the stem's and
    /// every stage's output (`stem`, `res2` … `res5`, the official code's names) — all but the
    /// first two when the first stage runs on bands.
    pub fn dense(&self, x: Tensor<4>, trace: &mut dyn FnMut(&str, &Tensor<4>)) -> Tensor<4> {
        let [_, _, h, w] = x.dims();
        let (h0, w0) = (h / self.patch, w / self.patch);
        let c0 = self.stem_channels;
        let (mut x, first) = if self.stages.len() > 1 && c0 * h0 * w0 > self.band_values {
            (self.first_stage_in_bands(x, h0, w0, c0), 1)
        } else {
            let x = self.stem.1.forward(self.stem.0.forward(x));
            trace("stem", &x);
            (x, 0)
        };
        for (i, stage) in self.stages.iter().enumerate() {
            if i < first {
                continue;
            }
            if let (Some((norm, conv)), false) = (&stage.downsample, i == first && first > 0) {
                x = conv.forward(norm.forward(x));
            }
            for block in &stage.blocks {
                x = block.forward(x, self.mlp_chunk_values);
            }
            trace(&format!("res{}", i + 2), &x);
        }
        // timm's `norm_pre` is the identity for ConvNeXt (head_norm_first = false).
        x
    }

    /// The stem, the first stage and the second stage's downsampling on bands of rows, joined:
    /// the second stage's input `[1, C₁, H₀/2, W₀/2]`.
    ///
    /// Everything there is per pixel except the depthwise k×k convolutions, which each read k/2
    /// rows beyond a band: a band carries `depth · k/2` extra rows of context on either side
    /// (real image rows, except at the image's own edges, where the zero padding is the model's),
    /// and only its own rows are kept. Bands start on even rows, so the 2×2 stride-2
    /// downsampling sees the same pixel pairs as on the whole map.
    fn first_stage_in_bands(&self, x: Tensor<4>, h0: usize, w0: usize, c0: usize) -> Tensor<4> {
        let halo = self.stages[0].blocks.len() * (self.kernel / 2);
        let rows_fit = self.band_values / (w0 * c0).max(1);
        let rows = (rows_fit.saturating_sub(2 * halo) & !1).max(2);
        let p = self.patch;
        let (norm, conv) = self.stages[1]
            .downsample
            .as_ref()
            .expect("stages after the first downsample");
        let bands = (0..h0.div_ceil(rows))
            .map(|i| {
                let (r0, r1) = (i * rows, ((i + 1) * rows).min(h0));
                let (a, b) = (r0.saturating_sub(halo), (r1 + halo).min(h0));
                let mut y = self
                    .stem
                    .1
                    .forward(self.stem.0.forward(x.clone().narrow(2, a * p, (b - a) * p)));
                for block in &self.stages[0].blocks {
                    y = block.forward(y, self.mlp_chunk_values);
                }
                conv.forward(norm.forward(y.narrow(2, r0 - a, r1 - r0)))
            })
            .collect();
        Tensor::cat(bands, 2)
    }

    /// Sets the first stage's band budget (in f32 values; tests use a small one to check that
    /// the banded trunk equals the whole one).
    pub fn set_band_values(&mut self, values: usize) {
        self.band_values = values.max(1);
    }

    /// Sets the MLP's token-block budget (in f32 values; tests use a small one to check that the
    /// blocked MLP equals the whole one).
    pub fn set_mlp_chunk_values(&mut self, values: usize) {
        self.mlp_chunk_values = values.max(1);
    }

    /// Pooled dense vectors `[Q, C]` → embeddings `[Q, D]` (not normalised): the trunk's head
    /// (its average pool is the identity on one pixel; then its norm) and open_clip's head, as
    /// the official `visual_prediction_forward_convnext`.
    pub fn embed_pooled(&self, pooled: Tensor<2>) -> Tensor<2> {
        let [q, c] = pooled.dims();
        let x = self.head_norm.forward(pooled.reshape([1, q, c]));
        let x = match &self.head {
            Head::Mlp { fc1, fc2 } => fc2.forward(gelu(fc1.forward(x))),
            Head::Linear(proj) => proj.forward(x),
            Head::None => x,
        };
        let d = x.dims()[2];
        x.reshape([q, d])
    }
}
