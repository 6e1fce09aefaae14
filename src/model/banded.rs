//! Big activations as horizontal row bands, so that no single tensor outgrows a storage binding.
//!
//! At S = 1024 the VAE encoder's first level holds `[1, 128, 1024, 1024]` f32 activations
//! (512 MiB): more than one wgpu storage binding may hold (128 MiB on lavapipe and in many
//! browsers), and a plain forward keeps several alive. [`Bands`] keeps such an activation as a
//! list of `[B, C, rows_i, W]` tensors, top to bottom, each at most a byte budget, and the ops
//! here run band by band with exactly the result of the unbanded op (up to f32 rounding: the
//! order of sums and, where a convolution goes by Winograd, which 2×2 tile an output falls in):
//!
//! * 3×3 conv, stride 1, zero padding 1: each band is convolved with one halo row from each
//!   neighbour (a zero row at the image's top and bottom) and no vertical padding.
//! * the VAE downsample (zero pad right and bottom by one, 3×3 conv stride 2, no padding): bands
//!   start at even rows and each takes one extra row from the band below (zeros for the last).
//! * 1×1 conv and anything pointwise (SiLU, add, scale): per band.
//! * GroupNorm: mean and biased variance over the whole tensor (all bands, two passes), then
//!   each band is normalised.
//!
//! The ops consume their input and drop each input band as soon as no output band needs it, so
//! the peak is about the op's input plus its output plus one band's temporaries.

use burn::tensor::Tensor;
use std::collections::VecDeque;

use super::layers::{self, conv2d};
use super::weights::{Weight, WeightStore};
use crate::Result;

/// Default byte budget of one band (32 MiB of f32).
///
/// A quarter of the smallest storage-binding limit we meet (128 MiB: lavapipe, many browsers and
/// mobile GPUs), because one band op also binds a few temporaries of about the band's size (the
/// halo-extended input, backend layout copies, the output of a channel-doubling conv). At S = 1024
/// it makes the VAE's first level (512 MiB per activation) 16 bands of 64 rows, and lets the
/// 512-channel `S/8` level (exactly 32 MiB) and everything after it run unbanded.
pub const BAND_BYTES: usize = 32 << 20;

const F32_BYTES: usize = std::mem::size_of::<f32>();

/// Rows per band for a tensor of `height` rows of `row_bytes` bytes each (all channels, all
/// batch items), so that every band is at most `band_bytes`.
///
/// Bands are as equal as possible (the larger ones first). With `even_starts` every band but the
/// last has an even number of rows, so every band starts at an even row (what the stride-2
/// downsample needs). A band never has fewer than 1 row (2 with `even_starts`, unless the tensor
/// is smaller), even if that exceeds the budget.
pub fn band_rows(height: usize, row_bytes: usize, band_bytes: usize, even_starts: bool) -> Vec<usize> {
    if height == 0 {
        return vec![0];
    }
    let unit = if even_starts { 2 } else { 1 };
    let units_per_band = (band_bytes / row_bytes.max(1) / unit).max(1);
    let units = height.div_ceil(unit);
    let n = units.div_ceil(units_per_band);
    let mut left = height;
    (0..n)
        .map(|i| {
            let u = units / n + usize::from(i < units % n);
            let r = (u * unit).min(left);
            left -= r;
            r
        })
        .collect()
}

/// An activation `[B, C, H, W]` as row bands `[B, C, rows_i, W]`, top to bottom.
#[derive(Clone)]
pub struct Bands {
    bands: Vec<Tensor<4>>,
}

impl Bands {
    /// Splits `t` into bands of at most `band_bytes` each, starting at even rows.
    pub fn from_tensor(t: Tensor<4>, band_bytes: usize) -> Self {
        let [b, c, h, w] = t.dims();
        let rows = band_rows(h, b * c * w * F32_BYTES, band_bytes, true);
        Self::from_tensor_rows(t, &rows)
    }

    /// Splits `t` into bands of the given row counts (which must sum to its height).
    pub fn from_tensor_rows(t: Tensor<4>, rows: &[usize]) -> Self {
        let h = t.dims()[2];
        assert_eq!(
            rows.iter().sum::<usize>(),
            h,
            "band rows {rows:?} do not sum to the height {h}"
        );
        assert!(rows.iter().all(|&r| r > 0) || h == 0, "empty band in {rows:?}");
        if rows.len() <= 1 {
            return Bands { bands: vec![t] };
        }
        let mut start = 0;
        let bands = rows
            .iter()
            .map(|&r| {
                let band = t.clone().narrow(2, start, r);
                start += r;
                band
            })
            .collect();
        Bands { bands }
    }

    /// Bands made elsewhere; they must agree in batch, channels and width.
    pub fn from_bands(bands: Vec<Tensor<4>>) -> Self {
        assert!(!bands.is_empty(), "no bands");
        let [b, c, _, w] = bands[0].dims();
        for t in &bands {
            let [b2, c2, _, w2] = t.dims();
            assert_eq!([b, c, w], [b2, c2, w2], "bands of different shapes");
        }
        Bands { bands }
    }

    /// Number of bands.
    pub fn len(&self) -> usize {
        self.bands.len()
    }

    /// Never true (there is always at least one band); for clippy's `len_without_is_empty`.
    pub fn is_empty(&self) -> bool {
        self.bands.is_empty()
    }

    /// Rows of each band.
    pub fn rows(&self) -> Vec<usize> {
        self.bands.iter().map(|t| t.dims()[2]).collect()
    }

    /// The whole tensor's dims `[B, C, H, W]`.
    pub fn dims(&self) -> [usize; 4] {
        let [b, c, _, w] = self.bands[0].dims();
        [b, c, self.rows().iter().sum(), w]
    }

    /// Bytes of the largest band (f32).
    pub fn max_band_bytes(&self) -> usize {
        let [b, c, _, w] = self.bands[0].dims();
        self.rows().into_iter().max().unwrap_or(0) * b * c * w * F32_BYTES
    }

    pub fn bands(&self) -> &[Tensor<4>] {
        &self.bands
    }

    pub fn into_bands(self) -> Vec<Tensor<4>> {
        self.bands
    }

    /// The whole tensor (concatenated along H).
    pub fn into_tensor(self) -> Tensor<4> {
        let mut bands = self.bands;
        if bands.len() == 1 {
            bands.pop().expect("one band")
        } else {
            Tensor::cat(bands, 2)
        }
    }

    /// The same tensor cut into bands of `rows` (summing to its height). Each source band is
    /// dropped once the new bands have taken its rows.
    pub fn rebanded(self, rows: &[usize]) -> Self {
        let current = self.rows();
        if current == rows {
            return self;
        }
        let h: usize = current.iter().sum();
        assert_eq!(
            rows.iter().sum::<usize>(),
            h,
            "band rows {rows:?} do not sum to the height {h}"
        );
        // (band, rows of it already taken)
        let mut src: VecDeque<(Tensor<4>, usize)> = self.bands.into_iter().map(|t| (t, 0)).collect();
        let mut out = Vec::with_capacity(rows.len());
        for &r in rows {
            let mut pieces = Vec::new();
            let mut need = r;
            while need > 0 {
                let (band, taken) = src.front_mut().expect("rows sum to the height");
                let len = band.dims()[2];
                let k = (len - *taken).min(need);
                if *taken == 0 && k == len {
                    pieces.push(src.pop_front().expect("front").0);
                } else {
                    pieces.push(band.clone().narrow(2, *taken, k));
                    *taken += k;
                    if *taken == len {
                        src.pop_front();
                    }
                }
                need -= k;
            }
            out.push(if pieces.len() == 1 {
                pieces.pop().expect("one piece")
            } else {
                Tensor::cat(pieces, 2)
            });
        }
        Bands { bands: out }
    }

    /// A pointwise op, band by band.
    pub fn map(self, f: impl FnMut(Tensor<4>) -> Tensor<4>) -> Self {
        Bands {
            bands: self.bands.into_iter().map(f).collect(),
        }
    }

    /// A pointwise op of two banded tensors with the same bands.
    pub fn zip_map(self, other: Bands, mut f: impl FnMut(Tensor<4>, Tensor<4>) -> Tensor<4>) -> Self {
        assert_eq!(self.rows(), other.rows(), "zip_map: different bands");
        Bands {
            bands: self.bands.into_iter().zip(other.bands).map(|(a, b)| f(a, b)).collect(),
        }
    }

    /// `self + other`, band by band (same bands).
    pub fn add_bands(self, other: Bands) -> Self {
        self.zip_map(other, |a, b| a + b)
    }

    /// `self × s`, band by band.
    pub fn scale(self, s: f64) -> Self {
        self.map(|t| t * s)
    }
}

/// A banded tensor read by row ranges, whose bands can be dropped from the top once no later
/// read needs them (for ops that recompute rather than keep an intermediate whole).
pub struct RowSource {
    bands: Vec<Option<Tensor<4>>>,
    /// First row of each band, and the height after the last.
    starts: Vec<usize>,
}

impl RowSource {
    pub fn new(x: Bands) -> Self {
        let mut starts = vec![0];
        for r in x.rows() {
            starts.push(starts.last().expect("non-empty") + r);
        }
        RowSource {
            bands: x.into_bands().into_iter().map(Some).collect(),
            starts,
        }
    }

    /// The whole tensor's height.
    pub fn height(&self) -> usize {
        *self.starts.last().expect("non-empty")
    }

    /// Rows `lo..hi` as one tensor `[B, C, hi − lo, W]`. Panics if a band they need was dropped.
    pub fn rows(&self, lo: usize, hi: usize) -> Tensor<4> {
        assert!(lo < hi && hi <= self.height(), "rows {lo}..{hi} of {}", self.height());
        let mut pieces = Vec::new();
        for (i, band) in self.bands.iter().enumerate() {
            let (a, b) = (self.starts[i], self.starts[i + 1]);
            if b <= lo || a >= hi {
                continue;
            }
            let band = band
                .clone()
                .unwrap_or_else(|| panic!("rows {lo}..{hi}: band {i} was dropped"));
            let (from, to) = (lo.max(a), hi.min(b));
            pieces.push(if from == a && to == b {
                band
            } else {
                band.narrow(2, from - a, to - from)
            });
        }
        if pieces.len() == 1 {
            pieces.pop().expect("one piece")
        } else {
            Tensor::cat(pieces, 2)
        }
    }

    /// Drops every band that lies wholly above row `row` (all its rows `< row`).
    pub fn drop_rows_before(&mut self, row: usize) {
        for (i, band) in self.bands.iter_mut().enumerate() {
            if self.starts[i + 1] <= row {
                *band = None;
            }
        }
    }
}

/// A 2-D convolution with an odd square kernel, PyTorch weight `[out, in, k, k]`, that runs on a
/// whole tensor or on [`Bands`]: stride 1 with zero padding `k/2` ("same"), or the VAE's
/// downsample (`k = 3`, zero pad right and bottom by one, stride 2, no padding).
#[derive(Clone)]
pub struct Conv2d {
    weight: Weight,
    bias: Tensor<1>,
    kernel: usize,
}

impl Conv2d {
    /// Loads `{key}.weight` `[c_out, c_in, k, k]` (float or quantized) and `{key}.bias` `[c_out]`.
    pub fn load(store: &mut WeightStore, key: &str, c_in: usize, c_out: usize, kernel: usize) -> Result<Self> {
        assert!(kernel % 2 == 1, "odd kernels only");
        let weight = store.weight(&format!("{key}.weight"), &[c_out, c_in, kernel, kernel])?;
        let bias = store.float(&format!("{key}.bias"), [c_out])?;
        Ok(Conv2d { weight, bias, kernel })
    }

    /// Stride 1, zero padding `k/2` on every side.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let p = self.kernel / 2;
        conv2d(x, self.weight.value(), &self.bias, 1, [(p, p), (p, p)], 1)
    }

    /// Output channels.
    pub fn out_channels(&self) -> usize {
        self.weight.shape()[0]
    }

    /// The weight as f32 `[out, in, k, k]` (dequantized once for several calls of the methods
    /// below that take it).
    pub fn weight_value(&self) -> Tensor<4> {
        self.weight.value()
    }

    /// Output rows `start..start + len` of the stride-1 "same" conv of a `height`-row tensor, from
    /// `window`: its input rows `start − k/2 .. start + len + k/2` clipped to `0..height`, already
    /// through any pointwise `pre`. The rows outside the tensor are the conv's zero padding.
    pub fn forward_window(
        &self,
        weight: &Tensor<4>,
        window: Tensor<4>,
        start: usize,
        len: usize,
        height: usize,
    ) -> Tensor<4> {
        let halo = self.kernel / 2;
        let top = halo.saturating_sub(start);
        let bottom = (start + len + halo).saturating_sub(height);
        let [b, c, rows, w] = window.dims();
        assert_eq!(
            rows + top + bottom,
            len + 2 * halo,
            "window of {rows} rows for output rows {start}+{len}"
        );
        let device = window.device();
        let mut parts = Vec::with_capacity(3);
        if top > 0 {
            parts.push(Tensor::zeros([b, c, top, w], &device));
        }
        parts.push(window);
        if bottom > 0 {
            parts.push(Tensor::zeros([b, c, bottom, w], &device));
        }
        let input = if parts.len() == 1 {
            parts.pop().expect("one part")
        } else {
            Tensor::cat(parts, 2)
        };
        conv2d(input, weight.clone(), &self.bias, 1, [(0, 0), (halo, halo)], 1)
    }

    /// Output rows `start..start + len` of the stride-1 "same" conv of `pre(x)`, read from `x`.
    pub fn forward_rows(
        &self,
        weight: &Tensor<4>,
        x: &RowSource,
        start: usize,
        len: usize,
        pre: impl Fn(Tensor<4>) -> Tensor<4>,
    ) -> Tensor<4> {
        let halo = self.kernel / 2;
        let height = x.height();
        let window = x.rows(start.saturating_sub(halo), (start + len + halo).min(height));
        self.forward_window(weight, pre(window), start, len, height)
    }

    /// [`Conv2d::forward`] on bands; the output has the input's bands.
    pub fn forward_bands(&self, x: Bands) -> Bands {
        self.forward_bands_with(x, |t| t, |_, y| y)
    }

    /// `post(i, conv(pre(x)))` for each band `i`, where `pre` is pointwise (it is applied to each
    /// band and, separately, to the halo rows taken from its neighbours; never to the zero
    /// padding). Band `i` of the input is dropped after output band `i + 1` is made.
    pub fn forward_bands_with(
        &self,
        x: Bands,
        pre: impl Fn(Tensor<4>) -> Tensor<4>,
        mut post: impl FnMut(usize, Tensor<4>) -> Tensor<4>,
    ) -> Bands {
        let halo = self.kernel / 2;
        let n = x.len();
        let weight: Tensor<4> = self.weight.value();
        let conv =
            |t: Tensor<4>, vpad: usize| conv2d(t, weight.clone(), &self.bias, 1, [(vpad, vpad), (halo, halo)], 1);
        if halo > 0 && n > 1 {
            assert!(
                x.rows().iter().all(|&r| r >= halo),
                "bands thinner than the halo: {:?}",
                x.rows()
            );
        }
        let mut src: Vec<Option<Tensor<4>>> = x.into_bands().into_iter().map(Some).collect();
        let mut out = Vec::with_capacity(n);
        for i in 0..n {
            let band = src[i].clone().expect("band not yet dropped");
            let y = if halo == 0 || n == 1 {
                conv(pre(band), halo)
            } else {
                let [b, c, _, w] = band.dims();
                let top = match i {
                    0 => Tensor::zeros([b, c, halo, w], &band.device()),
                    _ => {
                        let prev = src[i - 1].clone().expect("previous band kept for its halo");
                        let r = prev.dims()[2];
                        pre(prev.narrow(2, r - halo, halo))
                    }
                };
                let bottom = if i + 1 == n {
                    Tensor::zeros([b, c, halo, w], &band.device())
                } else {
                    pre(src[i + 1].clone().expect("next band").narrow(2, 0, halo))
                };
                conv(Tensor::cat(vec![top, pre(band), bottom], 2), 0)
            };
            if i > 0 {
                src[i - 1] = None;
            }
            out.push(post(i, y));
        }
        Bands { bands: out }
    }

    /// diffusers' VAE `Downsample2D`: zero pad (0, 1, 0, 1), then this conv with stride 2 and no
    /// padding: `[B, C, H, W] → [B, C', ⌊H/2⌋, ⌊W/2⌋]`.
    pub fn downsample(&self, x: Tensor<4>) -> Tensor<4> {
        assert_eq!(self.kernel, 3, "the VAE downsample is a 3×3 conv");
        conv2d(x, self.weight.value(), &self.bias, 2, [(0, 1), (0, 1)], 1)
    }

    /// [`Conv2d::downsample`] on bands that start at even rows: output band `i` is input band
    /// `i`'s rows halved (a last band of one row gives none and is left out). Each input band is
    /// dropped once its output is made.
    pub fn downsample_bands(&self, x: Bands) -> Bands {
        assert_eq!(self.kernel, 3, "the VAE downsample is a 3×3 conv");
        let rows = x.rows();
        assert!(
            rows[..rows.len() - 1].iter().all(|r| r % 2 == 0),
            "downsample_bands needs bands that start at even rows: {rows:?}"
        );
        if x.len() == 1 {
            return Bands {
                bands: vec![self.downsample(x.into_tensor())],
            };
        }
        let weight: Tensor<4> = self.weight.value();
        let n = x.len();
        let mut src: VecDeque<Tensor<4>> = x.into_bands().into();
        let mut out = Vec::with_capacity(n);
        while let Some(band) = src.pop_front() {
            let r = band.dims()[2];
            let y = match src.front() {
                Some(next) => {
                    let input = Tensor::cat(vec![band, next.clone().narrow(2, 0, 1)], 2);
                    conv2d(input, weight.clone(), &self.bias, 2, [(0, 0), (0, 1)], 1)
                }
                None if r < 2 => break,
                None => conv2d(band, weight.clone(), &self.bias, 2, [(0, 1), (0, 1)], 1),
            };
            out.push(y);
        }
        Bands { bands: out }
    }
}

/// GroupNorm over `[B, C, H, W]` with per-channel affine parameters, on a whole tensor or on
/// [`Bands`] (statistics over all bands).
#[derive(Clone)]
pub struct GroupNorm(layers::GroupNorm);

/// Running (count, mean, sum of squared deviations) per (batch, group), `[B, G, 1]` tensors; see
/// [`GroupNorm::accumulate`].
pub type StatsAccumulator = Option<(f64, Tensor<3>, Tensor<3>)>;

/// Per-(batch, group) mean and `√(var + eps)` of a whole tensor, `[B, G, 1]` each.
#[derive(Clone)]
pub struct GroupStats {
    mean: Tensor<3>,
    std: Tensor<3>,
}

impl GroupNorm {
    /// Loads `{key}.weight` and `{key}.bias`, `[channels]` each.
    pub fn load(store: &mut WeightStore, key: &str, groups: usize, channels: usize, eps: f64) -> Result<Self> {
        Ok(GroupNorm(layers::GroupNorm::load(store, key, groups, channels, eps)?))
    }

    /// The whole-tensor GroupNorm (the same computation as `layers::GroupNorm`).
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let stats = self.stats_of(&x);
        self.normalize(&stats, x)
    }

    /// `silu(self.forward(x))` (one pass on the CPU).
    pub fn forward_silu(&self, x: Tensor<4>) -> Tensor<4> {
        let stats = self.stats_of(&x);
        self.normalize_silu(&stats, x)
    }

    fn stats_of(&self, x: &Tensor<4>) -> GroupStats {
        let (mean, std) = self.0.stats(x);
        GroupStats { mean, std }
    }

    /// The statistics of the whole banded tensor: the mean first (sum over bands / count), then
    /// the biased variance as the mean of (x − mean)² over all bands. Two passes, not
    /// E[x²] − E[x]², which cancels badly when |mean| ≫ std.
    pub fn stats(&self, x: &Bands) -> GroupStats {
        if x.len() == 1 {
            return self.stats_of(&x.bands()[0]);
        }
        let [_, c, h, w] = x.dims();
        let count = ((c / self.0.groups) * h * w) as f64;
        let sum = pairwise_sum(x.bands().iter().map(|t| self.0.sums(t.clone())).collect());
        let mean = sum / count;
        let sq = pairwise_sum(
            x.bands()
                .iter()
                .map(|t| self.0.squared_deviation_sums(t, &mean))
                .collect(),
        );
        let var = sq / count;
        GroupStats {
            mean,
            std: (var + self.0.eps).sqrt(),
        }
    }

    /// Adds the rows `t` (a band of a tensor that is never whole) to `acc`: per group its count,
    /// mean and sum of squared deviations, merged as Chan et al. do (exact and stable; no
    /// E[x²] − E[x]²).
    pub fn accumulate(&self, acc: &mut StatsAccumulator, t: &Tensor<4>) {
        let [_, c, r, w] = t.dims();
        let g = self.0.groups;
        let n_b = ((c / g) * r * w) as f64;
        let (var, mean_b) = self.0.var_mean(t);
        let m2_b = var * n_b;
        *acc = match acc.take() {
            None => Some((n_b, mean_b, m2_b)),
            Some((n_a, mean_a, m2_a)) => {
                let n = n_a + n_b;
                let delta = mean_b - mean_a.clone();
                let mean = mean_a + delta.clone() * (n_b / n);
                let m2 = m2_a + m2_b + delta.square() * (n_a * n_b / n);
                Some((n, mean, m2))
            }
        };
    }

    /// The statistics of everything [`GroupNorm::accumulate`] saw.
    pub fn stats_from(&self, acc: StatsAccumulator) -> GroupStats {
        let (n, mean, m2) = acc.expect("statistics of at least one band");
        GroupStats {
            mean,
            std: (m2 / n + self.0.eps).sqrt(),
        }
    }

    /// Normalises one band (or any rows of the tensor) with the whole tensor's statistics.
    pub fn normalize(&self, stats: &GroupStats, t: Tensor<4>) -> Tensor<4> {
        self.0.normalize(t, &stats.mean, &stats.std)
    }

    /// `silu(self.normalize(stats, t))` (one pass on the CPU).
    pub fn normalize_silu(&self, stats: &GroupStats, t: Tensor<4>) -> Tensor<4> {
        self.0.normalize_silu(t, &stats.mean, &stats.std)
    }

    /// GroupNorm on bands; the output has the input's bands.
    pub fn forward_bands(&self, x: Bands) -> Bands {
        let stats = self.stats(&x);
        x.map(|t| self.normalize(&stats, t))
    }
}

/// The sum of the bands' partial sums, added pairwise: the rounding error grows with the log of
/// the number of bands, not with the number (as close to one whole-tensor sum as bands allow).
fn pairwise_sum(mut parts: Vec<Tensor<3>>) -> Tensor<3> {
    assert!(!parts.is_empty(), "at least one band");
    while parts.len() > 1 {
        let mut next = Vec::with_capacity(parts.len().div_ceil(2));
        let mut it = parts.into_iter();
        while let Some(a) = it.next() {
            next.push(match it.next() {
                Some(b) => a + b,
                None => a,
            });
        }
        parts = next;
    }
    parts.pop().expect("one sum")
}
