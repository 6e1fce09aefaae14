//! The layers both networks are made of, on burn tensors: Linear, Conv2d, GroupNorm, LayerNorm and
//! multi-head attention, each built from a [`WeightStore`] by diffusers name.

use burn::tensor::activation::{silu, softmax};
use burn::tensor::module::{self, layer_norm};
use burn::tensor::ops::ConvOptions;
use burn::tensor::Tensor;

#[cfg(not(target_arch = "wasm32"))]
use super::host;
use super::is_cpu;
use super::weights::{Weight, WeightStore};
use crate::Result;

/// `y = x Wᵀ + b` over the last dim. W is PyTorch's `[out, in]`.
#[derive(Clone)]
pub struct Linear {
    weight: Weight,
    bias: Option<Tensor<1>>,
}

impl Linear {
    pub fn load(store: &mut WeightStore, key: &str, d_in: usize, d_out: usize, bias: bool) -> Result<Self> {
        let bias_key = format!("{key}.bias");
        Self::load_named(store, &format!("{key}.weight"), bias.then_some(&bias_key), d_in, d_out)
    }

    /// A Linear whose tensors do not follow `{key}.weight` / `{key}.bias` (PyTorch's
    /// `MultiheadAttention` packs q, k, v as `in_proj_weight` / `in_proj_bias`).
    pub fn load_named(
        store: &mut WeightStore,
        weight: &str,
        bias: Option<&String>,
        d_in: usize,
        d_out: usize,
    ) -> Result<Self> {
        let weight = store.weight(weight, &[d_out, d_in])?;
        let bias = bias.map(|b| store.float(b, [d_out])).transpose()?;
        Ok(Linear { weight, bias })
    }

    /// The output width.
    pub fn out_dim(&self) -> usize {
        self.weight.shape()[0]
    }

    /// `[B, N, in] → [B, N, out]`.
    pub fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        let [b, n, d_in] = x.dims();
        let w: Tensor<2> = self.weight.value();
        let d_out = w.dims()[0];
        let y = matmul(x.reshape([b * n, d_in]), w.transpose());
        let y = match &self.bias {
            Some(bias) => y + bias.clone().unsqueeze_dim(0),
            None => y,
        };
        y.reshape([b, n, d_out])
    }
}

/// 2-D convolution with square kernel, PyTorch weight `[out, in / groups, k, k]`.
#[derive(Clone)]
pub struct Conv2d {
    weight: Weight,
    bias: Tensor<1>,
    stride: usize,
    padding: [(usize, usize); 2],
    groups: usize,
}

impl Conv2d {
    /// A conv with symmetric padding `pad`.
    pub fn load(
        store: &mut WeightStore,
        key: &str,
        c_in: usize,
        c_out: usize,
        kernel: usize,
        stride: usize,
        pad: usize,
    ) -> Result<Self> {
        Self::load_padded(store, key, c_in, c_out, kernel, stride, [(pad, pad), (pad, pad)])
    }

    /// A conv with per-side padding `[(top, bottom), (left, right)]` (zeros).
    pub fn load_padded(
        store: &mut WeightStore,
        key: &str,
        c_in: usize,
        c_out: usize,
        kernel: usize,
        stride: usize,
        padding: [(usize, usize); 2],
    ) -> Result<Self> {
        let weight = store.weight(&format!("{key}.weight"), &[c_out, c_in, kernel, kernel])?;
        let bias = store.float(&format!("{key}.bias"), [c_out])?;
        Ok(Conv2d {
            weight,
            bias,
            stride,
            padding,
            groups: 1,
        })
    }

    /// A depthwise conv (one filter per channel, `groups = channels`: ConvNeXt's `conv_dw`), stride 1,
    /// padding `kernel / 2`, so the map keeps its size.
    pub fn load_depthwise(store: &mut WeightStore, key: &str, channels: usize, kernel: usize) -> Result<Self> {
        let weight = store.weight(&format!("{key}.weight"), &[channels, 1, kernel, kernel])?;
        let bias = store.float(&format!("{key}.bias"), [channels])?;
        let pad = kernel / 2;
        Ok(Conv2d {
            weight,
            bias,
            stride: 1,
            padding: [(pad, pad), (pad, pad)],
            groups: channels,
        })
    }

    /// `[B, in, H, W] → [B, out, H', W']`.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        conv2d(
            x,
            self.weight.value(),
            &self.bias,
            self.stride,
            self.padding,
            self.groups,
        )
    }
}

/// GroupNorm over `[B, C, H, W]` with per-channel affine parameters.
#[derive(Clone)]
pub struct GroupNorm {
    pub(super) groups: usize,
    pub(super) eps: f64,
    pub(super) gamma: Tensor<1>,
    pub(super) beta: Tensor<1>,
}

impl GroupNorm {
    pub fn load(store: &mut WeightStore, key: &str, groups: usize, channels: usize, eps: f64) -> Result<Self> {
        Ok(GroupNorm {
            groups,
            eps,
            gamma: store.float(&format!("{key}.weight"), [channels])?,
            beta: store.float(&format!("{key}.bias"), [channels])?,
        })
    }

    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let (mean, std) = self.stats(&x);
        self.normalize(x, &mean, &std)
    }

    /// `silu(self.forward(x))`, the normalization and SiLU in one pass (CPU and GPU alike).
    pub fn forward_silu(&self, x: Tensor<4>) -> Tensor<4> {
        let (mean, std) = self.stats(&x);
        self.normalize_silu(x, &mean, &std)
    }

    /// Per-(item, group) mean and `√(var + eps)` of `x`, `[B, G, 1]` each (biased variance, as
    /// torch's group_norm).
    pub(super) fn stats(&self, x: &Tensor<4>) -> (Tensor<3>, Tensor<3>) {
        let (var, mean) = self.var_mean(x);
        (mean, (var + self.eps).sqrt())
    }

    /// Per-(item, group) biased variance and mean of `x`, `[B, G, 1]` each: two passes (the mean,
    /// then the mean of `(x − mean)²`), on a GPU with [`GroupNorm::sums`].
    pub(super) fn var_mean(&self, x: &Tensor<4>) -> (Tensor<3>, Tensor<3>) {
        let [b, c, h, w] = x.dims();
        let g = self.groups;
        if is_cpu(&x.device()) {
            return x.clone().reshape([b, g, (c / g) * h * w]).var_mean_bias(2);
        }
        let n = ((c / g) * h * w) as f64;
        let mean = self.sums(x.clone()) / n;
        let var = self.squared_deviation_sums(x, &mean) / n;
        (var, mean)
    }

    /// Per-(item, group) `Σ (x − mean)²` of `x [B, C, H, W]` (a whole tensor or a band of it)
    /// about the given `mean [B, G, 1]`, with [`GroupNorm::sums`].
    pub(super) fn squared_deviation_sums(&self, x: &Tensor<4>, mean: &Tensor<3>) -> Tensor<3> {
        let [b, c, h, w] = x.dims();
        let g = self.groups;
        #[cfg(feature = "gpu")]
        if let Some(s) = crate::gpu::group_norm::sums(x, g, Some(mean)) {
            return s;
        }
        let d = x.clone().reshape([b, g, c / g, h * w]) - mean.clone().reshape([b, g, 1, 1]);
        self.sums(d.square().reshape([b, c, h, w]))
    }

    /// Per-(item, group) sums of `x [B, C, H, W]`, `[B, G, 1]`. On a GPU with our kernel
    /// (`gpu::group_norm::sums`: chunks summed by many workgroups), else in three of burn's
    /// reductions (over W, then H, then the group's channels), not one over `(C/G)·H·W` values:
    /// burn's reduction gives each output one thread, and a GroupNorm has only B·G outputs (32
    /// threads summing 4 M values each in the VAE at 1024, ~10 ms a reduction on an H200,
    /// BENCHMARKS.md). Both round less than one long sum. On the CPU one reduction.
    pub(super) fn sums(&self, x: Tensor<4>) -> Tensor<3> {
        let [b, c, h, w] = x.dims();
        let g = self.groups;
        if is_cpu(&x.device()) {
            return x.reshape([b, g, (c / g) * h * w]).sum_dim(2);
        }
        #[cfg(feature = "gpu")]
        if let Some(s) = crate::gpu::group_norm::sums(&x, g, None) {
            return s;
        }
        x.sum_dim(3)
            .reshape([b, c, h])
            .sum_dim(2)
            .reshape([b, g, c / g])
            .sum_dim(2)
    }

    /// `((x − mean) / std) · γ + β` with the given statistics (of `x`, or of a whole tensor `x`
    /// is a band of).
    pub(super) fn normalize(&self, x: Tensor<4>, mean: &Tensor<3>, std: &Tensor<3>) -> Tensor<4> {
        #[cfg(feature = "gpu")]
        if let Some(y) = crate::gpu::group_norm::apply(&x, self.groups, mean, std, &self.gamma, &self.beta, false) {
            return y;
        }
        let [b, c, h, w] = x.dims();
        let grouped = x.reshape([b, self.groups, (c / self.groups) * h * w]);
        let normed = ((grouped - mean.clone()) / std.clone()).reshape([b, c, h, w]);
        normed * self.gamma.clone().reshape([1, c, 1, 1]) + self.beta.clone().reshape([1, c, 1, 1])
    }

    /// `silu(self.normalize(x, mean, std))`: in one pass, on the CPU in parallel
    /// ([`host::group_norm_silu`]), on a GPU with our kernel (`gpu::group_norm::apply`), the same
    /// values; elsewhere as burn ops.
    pub(super) fn normalize_silu(&self, x: Tensor<4>, mean: &Tensor<3>, std: &Tensor<3>) -> Tensor<4> {
        #[cfg(not(target_arch = "wasm32"))]
        if is_cpu(&x.device()) {
            return host::group_norm_silu(x, self.groups, mean, std, &self.gamma, &self.beta);
        }
        #[cfg(feature = "gpu")]
        if let Some(y) = crate::gpu::group_norm::apply(&x, self.groups, mean, std, &self.gamma, &self.beta, true) {
            return y;
        }
        silu(self.normalize(x, mean, std))
    }
}

/// Channels, in and out, from which a 3×3 stride-1 convolution goes by Winograd's F(2×2, 3×3),
/// on the CPU (`host::conv2d`) and on a GPU (`gpu::winograd`): with fewer input channels its
/// products are too short to repay the transforms (the VAE's and UNet's `conv_in`; the VAE's `conv_out` has 8 out).
pub const WINOGRAD_MIN_CHANNELS: usize = 32;

/// Whether a convolution goes by Winograd's F(2×2, 3×3) rather than directly, on the CPU and on
/// a GPU alike: a 3×3 kernel (`kernel = [k_h, k_w]`) at stride 1, at least
/// [`WINOGRAD_MIN_CHANNELS`] in and out, and at least as many 2×2 output tiles as output channels
/// (`out = [B, H', W']`). The last because the weights' transform (16·C_out·C_in values, 100 MiB
/// for the UNet's 1280 → 1280) is made on every call: on small maps (the UNet's deepest level,
/// 32² at 1024) it would cost more than the input's (16·C_in·tiles) and the products would be
/// too short to repay it.
pub fn winograd_takes(c_in: usize, c_out: usize, kernel: [usize; 2], stride: usize, out: [usize; 3]) -> bool {
    let [b, h_out, w_out] = out;
    let tiles = b * h_out.div_ceil(2) * w_out.div_ceil(2);
    kernel == [3, 3] && stride == 1 && c_in >= WINOGRAD_MIN_CHANNELS && c_out >= WINOGRAD_MIN_CHANNELS && tiles >= c_out
}

/// `conv2d(x, weight) + bias`, `x [B, C_in, H, W]`, `weight [C_out, C_in / groups, k, k]`, with
/// per-side zero `padding [(top, bottom), (left, right)]`: every convolution of the models goes
/// through here, so that the ungrouped ones run on [`host::conv2d`] on the CPU (both cores, no
/// layout copies) and on a GPU on our kernels: the 3×3 stride-1 ones with enough channels and
/// tiles by Winograd's F(2×2, 3×3) (`gpu::winograd`, 2.25× fewer multiply-adds;
/// [`winograd_takes`], also the CPU's rule), the others on our GEMM (`gpu::gemm`, 5–20×
/// faster than burn's direct convolution on an H200, BENCHMARKS.md); the rest (grouped ones) on
/// burn's.
pub fn conv2d(
    x: Tensor<4>,
    weight: Tensor<4>,
    bias: &Tensor<1>,
    stride: usize,
    padding: [(usize, usize); 2],
    groups: usize,
) -> Tensor<4> {
    #[cfg(not(target_arch = "wasm32"))]
    if groups == 1 && is_cpu(&x.device()) {
        return host::conv2d(x, weight, bias, stride, padding);
    }
    #[cfg(feature = "gpu")]
    if groups == 1 {
        let y = crate::gpu::winograd::conv2d(&x, &weight, bias, stride, padding)
            .or_else(|| crate::gpu::gemm::conv2d(&x, &weight, bias, stride, padding));
        if let Some(y) = y {
            return y;
        }
    }
    let options = ConvOptions::new_with_padding([stride; 2], padding, [1, 1], groups);
    module::conv2d(x, weight, Some(bias.clone()), options)
}

/// `a · b` (burn's matmul semantics, equal leading dimensions): on a GPU our tiled GEMM
/// (`gpu::gemm::matmul`: 0.1–1.2× the time of burn's unit matmul on an H200, BENCHMARKS.md),
/// on the CPU burn's.
pub fn matmul<const D: usize>(a: Tensor<D>, b: Tensor<D>) -> Tensor<D> {
    #[cfg(feature = "gpu")]
    if !is_cpu(&a.device()) {
        if let Some(c) = crate::gpu::gemm::matmul(&a, &b) {
            return c;
        }
    }
    a.matmul(b)
}

/// LayerNorm over the last dim with affine parameters.
#[derive(Clone)]
pub struct LayerNorm {
    eps: f64,
    gamma: Tensor<1>,
    beta: Tensor<1>,
}

impl LayerNorm {
    pub fn load(store: &mut WeightStore, key: &str, dim: usize, eps: f64) -> Result<Self> {
        Ok(LayerNorm {
            eps,
            gamma: store.float(&format!("{key}.weight"), [dim])?,
            beta: store.float(&format!("{key}.bias"), [dim])?,
        })
    }

    pub fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        layer_norm(x, self.gamma.clone(), Some(self.beta.clone()), self.eps)
    }
}

/// `softmax(scores · scale)` over the keys (the last dimension): on a GPU in one kernel of ours
/// (`gpu::softmax`), elsewhere in burn's ops (the same values up to the order of the sums).
fn scaled_softmax(scores: Tensor<4>, scale: f64) -> Tensor<4> {
    #[cfg(feature = "gpu")]
    if let Some(y) = crate::gpu::softmax::scaled_softmax(&scores, scale as f32) {
        return y;
    }
    softmax(scores * scale, 3)
}

/// Score-matrix budget of one attention chunk, in f32 values (64 MiB): half of lavapipe's
/// 128 MiB storage-binding limit, and small enough that the 10-head, 4096-token attention of
/// `down_blocks.1` and the 16 384-token VAE mid-attention never materialise their full scores.
pub const ATTENTION_CHUNK_VALUES: usize = 16 << 20;

/// `softmax(Q Kᵀ / √d) V` per head, for `q [B, Nq, H·d]`, `k, v [B, Nk, H·d]` → `[B, Nq, H·d]`.
///
/// Computed one head and one block of query rows at a time so that no score block exceeds
/// [`ATTENTION_CHUNK_VALUES`]; exact (each query row's softmax sees all keys).
pub fn attention(q: Tensor<3>, k: Tensor<3>, v: Tensor<3>, heads: usize) -> Tensor<3> {
    let [b, nq, inner] = q.dims();
    let nk = k.dims()[1];
    let d = inner / heads;
    let scale = 1.0 / (d as f64).sqrt();
    // [B, N, H·d] → [B, H, N, d]
    let split = |t: Tensor<3>, n: usize| t.reshape([b, n, heads, d]).swap_dims(1, 2);
    let (q, k, v) = (split(q, nq), split(k, nk), split(v, nk));
    let rows = (ATTENTION_CHUNK_VALUES / (b * nk).max(1)).clamp(1, nq);
    let whole = rows == nq && b * heads * nq * nk <= ATTENTION_CHUNK_VALUES;
    let out = if whole {
        let scores = matmul(q, k.swap_dims(2, 3));
        matmul(scaled_softmax(scores, scale), v)
    } else {
        let mut per_head = Vec::with_capacity(heads);
        for h in 0..heads {
            let qh = q.clone().narrow(1, h, 1);
            let kt = k.clone().narrow(1, h, 1).swap_dims(2, 3);
            let vh = v.clone().narrow(1, h, 1);
            let mut blocks = Vec::with_capacity(nq.div_ceil(rows));
            let mut start = 0;
            while start < nq {
                let len = rows.min(nq - start);
                let scores = matmul(qh.clone().narrow(2, start, len), kt.clone());
                blocks.push(matmul(scaled_softmax(scores, scale), vh.clone()));
                start += len;
            }
            per_head.push(Tensor::cat(blocks, 2));
        }
        Tensor::cat(per_head, 1)
    };
    // [B, H, Nq, d] → [B, Nq, H·d], heads in order (diffusers' head_to_batch_dim inverse).
    out.swap_dims(1, 2).reshape([b, nq, inner])
}
