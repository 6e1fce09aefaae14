//! PAMR, pixel-adaptive mask refinement (Araslanov & Roth, CVPR 2020), exactly as DiffCut runs it
//! after the concept assignment (docs/ALGORITHM.md §5.3, `tools/pamr.py`, `eval_diffcut.py:90-95`).
//!
//! ```text
//! x        image [3, H, W] in [0, 1] (u8 / 255, not normalised)
//! offsets  for each dilation d: the 8 neighbours (dy, dx)·d, (dy, dx) ∈ {-1,0,1}² \ (0,0),
//!          row-major; coordinates outside the image are clamped (replicate padding)
//! σ_c(p)   unbiased std of the 9·|D| values x_c(p + (dy,dx)·d) over every d and all 9 taps,
//!          the centre included (one per dilation), per colour channel c
//! a_j(p)   mean_c [ −|x_c(p) − x_c(p + o_j)| / (1e-8 + 0.1·σ_c(p)) ]      j = 0 … P−1, P = 8·|D|
//! w(p)     softmax_j a_j(p)                                 computed once: the image never changes
//! m⁰       one-hot [K, h, w] of the labels, bilinearly resized to [K, H, W] (align_corners = True)
//! mᵗ⁺¹(p)  Σ_j w_j(p) · mᵗ(p + o_j)       (clamped neighbours; the centre pixel is not a term)
//! label(p) argmax_k m^T_k(p) (first k on ties), then a 3×3 median of the label map
//! ```
//!
//! The final median is `scipy.ndimage.median_filter(labels[None], size=3)`: on a `(1, H, W)` array
//! the 3×3×3 window sees the single slice three times (mode 'reflect'), so it is the 5th of the 9
//! values of the 3×3 window, and 'reflect' at distance 1 repeats the edge pixel.
//!
//! # Labels
//! Deviation: the official code makes one channel per label *present* (`torch.unique`) and
//! returns indices into that sorted list. Here the mask has `segments` channels and the result
//! holds the input's own label ids. The two agree up to that order-preserving renaming: a label absent from the
//! input keeps an all-zero channel (propagation is a convex combination), which never wins the
//! argmax because the channels sum to 1 at every pixel; ties go to the lowest id in both; and a
//! median commutes with an order-preserving renaming.
//!
//! # Cost
//! Memory: the affinities take `P·H·W` `f32` (256 MiB for the demo preset at 1024², P = 64) and
//! the mask two `K·H·W` buffers (80 MiB at 1024² for K = 10, 800 MiB for K = 100); problems above
//! [`MAX_FLOATS`] floats are refused. Time: `iterations · P · K · H · W` multiply-adds
//! (≈ 20 G for the demo preset at 1024², K = 10), rows in parallel with the `parallel` feature,
//! AVX2 picked at run time (no FMA, so every path rounds alike).
//!
//! Layouts: the affinities are `[H, P, W]` and the mask `[H, K, W]`, so one output row of every
//! label is computed from one contiguous block of weights, each weight row being reused for the
//! `K` labels while it sits in L1.
//!
//! The GPU version is [`crate::gpu::pamr`]; this is its reference.

use crate::image_io::{check_pixels, RgbImage};
use crate::labels::LabelMap;
use crate::{Error, Result};

/// The PAMR schedule: how many propagation steps, over which dilations.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PamrConfig {
    /// Propagation steps (0 gives the argmax of the resized one-hot mask).
    pub iterations: u32,
    /// Dilations of the 3×3 neighbourhoods, each ≥ 1; P = 8 × their count neighbours.
    pub dilations: Vec<u32>,
}

impl PamrConfig {
    /// DiffCut's evaluation setting: 10 iterations, dilations [1, 2, 4, 8], run at 128×128
    /// (`eval_diffcut.py:92`).
    pub fn eval() -> Self {
        Self {
            iterations: 10,
            dilations: vec![1, 2, 4, 8],
        }
    }

    /// DiffCut's demo notebook: 30 iterations, dilations [1, 2, 4, 8, 12, 24, 32, 64].
    pub fn demo() -> Self {
        Self {
            iterations: 30,
            dilations: vec![1, 2, 4, 8, 12, 24, 32, 64],
        }
    }

    /// DiffCut's open-vocabulary evaluation: 15 iterations, the demo's dilations
    /// (`eval_diffcut_openvoc.py:92-97`).
    pub fn open_vocab() -> Self {
        Self {
            iterations: 15,
            dilations: vec![1, 2, 4, 8, 12, 24, 32, 64],
        }
    }

    /// Neighbours per pixel, `8 · |dilations|`.
    pub fn neighbours(&self) -> usize {
        8 * self.dilations.len()
    }

    /// Checks the dilations (non-empty, each ≥ 1).
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] naming the list.
    pub fn validate(&self) -> Result<()> {
        if self.dilations.is_empty() || self.dilations.contains(&0) {
            return Err(Error::InvalidParameter {
                name: "PAMR dilations",
                expected: "a non-empty list of integers ≥ 1",
                got: format!("{:?}", self.dilations),
            });
        }
        Ok(())
    }
}

/// Most `f32`s the CPU path allocates for one problem (image, affinities, two masks):
/// 2³⁰ (4 GiB) natively, 2²⁸ (1 GiB) on 32-bit targets such as wasm.
pub const MAX_FLOATS: u64 = if usize::BITS >= 64 { 1 << 30 } else { 1 << 28 };

/// Refines a label map with PAMR and returns one label per image pixel (`[H, W]` row-major, the
/// same `K` segments): argmax over the refined mask, then the 3×3 median filter.
///
/// - `image`: 8-bit RGB, used as `value / 255` (the official code feeds [0, 1] floats).
/// - `labels`: any resolution (the one-hot mask is resized to the image size bilinearly,
///   align_corners = True, as `pamr.py:128`); its `K` segments are the mask's channels.
///
/// # Errors
/// [`Error::InvalidParameter`] for an empty image, bad dilations, or a problem above
/// [`MAX_FLOATS`].
pub fn pamr(image: &RgbImage, labels: &LabelMap, cfg: &PamrConfig) -> Result<LabelMap> {
    let (w, h) = (image.width() as usize, image.height() as usize);
    let prep = Prepared::new(ImageRef::Rgb8(image), labels, cfg)?;
    let mask = refine(&prep, labels, cfg.iterations)?;
    LabelMap::new(median3x3(&argmax_rows(&mask, w, h), w, h), w, h, labels.segments())
}

/// [`pamr`] for a float image: `rgb` is `[H, W, 3]` row-major with values in [0, 1] (e.g. a
/// 1024² image resized bilinearly to 128² in `f32`, as DiffCut's evaluation does).
///
/// # Errors
/// As [`pamr`], and [`Error::InvalidParameter`] when `rgb` has the wrong length or a non-finite value.
pub fn pamr_f32(rgb: &[f32], width: usize, height: usize, labels: &LabelMap, cfg: &PamrConfig) -> Result<LabelMap> {
    let prep = Prepared::new(ImageRef::F32 { rgb, width, height }, labels, cfg)?;
    let mask = refine(&prep, labels, cfg.iterations)?;
    LabelMap::new(
        median3x3(&argmax_rows(&mask, width, height), width, height),
        width,
        height,
        labels.segments(),
    )
}

/// The refined soft mask `[K, H, W]` (segment-major) before the argmax: for tests and tools.
///
/// # Errors
/// As [`pamr`].
pub fn pamr_mask(image: &RgbImage, labels: &LabelMap, cfg: &PamrConfig) -> Result<Vec<f32>> {
    let (w, h) = (image.width() as usize, image.height() as usize);
    let segments = labels.segments();
    let prep = Prepared::new(ImageRef::Rgb8(image), labels, cfg)?;
    let mask = refine(&prep, labels, cfg.iterations)?;
    let mut out = vec![0.0f32; mask.len()];
    for y in 0..h {
        for k in 0..segments {
            out[(k * h + y) * w..][..w].copy_from_slice(&mask[(y * segments + k) * w..][..w]);
        }
    }
    Ok(out)
}

/// Per pixel, the first `k` with the largest `mask[k, p]` (as `torch.argmax`), for a `[K, n]` mask.
pub fn argmax_segments(mask: &[f32], segments: usize, pixels: usize) -> Vec<u32> {
    (0..pixels)
        .map(|p| {
            let mut best = (0u32, mask[p]);
            for k in 1..segments {
                let v = mask[k * pixels + p];
                if v > best.1 {
                    best = (k as u32, v);
                }
            }
            best.0
        })
        .collect()
}

/// The 3×3 median of a label map `[height, width]`, edges repeated: what
/// `scipy.ndimage.median_filter(labels[None], size=3)` (mode 'reflect') gives.
pub fn median3x3(labels: &[u32], width: usize, height: usize) -> Vec<u32> {
    let mut out = vec![0u32; width * height];
    for y in 0..height {
        let rows = [y.saturating_sub(1), y, (y + 1).min(height - 1)];
        for x in 0..width {
            let cols = [x.saturating_sub(1), x, (x + 1).min(width - 1)];
            let mut v = [0u32; 9];
            for (i, &r) in rows.iter().enumerate() {
                for (j, &c) in cols.iter().enumerate() {
                    v[i * 3 + j] = labels[r * width + c];
                }
            }
            v.sort_unstable();
            out[y * width + x] = v[4];
        }
    }
    out
}

/// The image PAMR reads.
pub(crate) enum ImageRef<'a> {
    Rgb8(&'a RgbImage),
    /// `[H, W, 3]` in [0, 1].
    F32 {
        rgb: &'a [f32],
        width: usize,
        height: usize,
    },
}

/// Validated inputs, shared by the CPU and GPU paths.
pub(crate) struct Prepared {
    pub width: usize,
    pub height: usize,
    /// `[3, H, W]`.
    pub planar: Vec<f32>,
    /// Dilations clamped to `max(H, W)` (any larger offset lands on the edge anyway).
    pub dilations: Vec<usize>,
    /// For each output row, then column: (source index 0, source index 1, weight of index 1).
    pub ytaps: Vec<(usize, usize, f32)>,
    pub xtaps: Vec<(usize, usize, f32)>,
}

impl Prepared {
    pub fn new(image: ImageRef, labels: &LabelMap, cfg: &PamrConfig) -> Result<Self> {
        let (width, height) = match image {
            ImageRef::Rgb8(img) => (img.width() as usize, img.height() as usize),
            ImageRef::F32 { width, height, .. } => (width, height),
        };
        if width == 0 || height == 0 {
            return Err(Error::InvalidParameter {
                name: "PAMR image size",
                expected: "at least 1×1 pixels",
                got: format!("{width}×{height}"),
            });
        }
        check_pixels(width, height, "the PAMR image")?;
        cfg.validate()?;
        let planar = match image {
            ImageRef::Rgb8(img) => {
                let n = width * height;
                let mut planar = vec![0.0f32; 3 * n];
                for (p, px) in img.as_raw().chunks_exact(3).enumerate() {
                    for c in 0..3 {
                        planar[c * n + p] = f32::from(px[c]) / 255.0;
                    }
                }
                planar
            }
            ImageRef::F32 { rgb, .. } => {
                let n = width * height;
                if rgb.len() != 3 * n {
                    return Err(Error::InvalidParameter {
                        name: "PAMR image",
                        expected: "width × height × 3 values",
                        got: format!("{} values for {width}×{height}", rgb.len()),
                    });
                }
                if let Some(i) = rgb.iter().position(|v| !v.is_finite()) {
                    return Err(Error::InvalidParameter {
                        name: "PAMR image",
                        expected: "finite values",
                        got: format!("{} at index {i}", rgb[i]),
                    });
                }
                let mut planar = vec![0.0f32; 3 * n];
                for (p, px) in rgb.chunks_exact(3).enumerate() {
                    for c in 0..3 {
                        planar[c * n + p] = px[c];
                    }
                }
                planar
            }
        };
        let side = width.max(height);
        Ok(Self {
            width,
            height,
            planar,
            dilations: cfg.dilations.iter().map(|&d| (d as usize).min(side)).collect(),
            ytaps: align_corners_taps(labels.height(), height),
            xtaps: align_corners_taps(labels.width(), width),
        })
    }
}

/// The 8 neighbours of a 3×3 window, row-major (the order of `LocalAffinity`'s kernels).
pub(crate) const NEIGHBOURS: [(isize, isize); 8] =
    [(-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1)];

/// Source taps of `F.interpolate(mode='bilinear', align_corners=True)` along one axis:
/// `src = dst · (in − 1)/(out − 1)` in `f32` (0 when `out = 1`), `i0 = ⌊src⌋`, `i1 = min(i0 + 1, in − 1)`.
pub(crate) fn align_corners_taps(input: usize, output: usize) -> Vec<(usize, usize, f32)> {
    let scale = if output > 1 {
        (input - 1) as f32 / (output - 1) as f32
    } else {
        0.0
    };
    (0..output)
        .map(|d| {
            let src = scale * d as f32;
            let i0 = (src.floor() as usize).min(input - 1);
            let lambda = (src - i0 as f32).clamp(0.0, 1.0);
            (i0, (i0 + 1).min(input - 1), lambda)
        })
        .collect()
}

/// Runs the whole refinement and returns the mask `[H, K, W]`.
fn refine(prep: &Prepared, labels: &LabelMap, iterations: u32) -> Result<Vec<f32>> {
    let segments = labels.segments();
    let (w, h) = (prep.width, prep.height);
    let p = prep.dilations.len() * 8;
    let n = (w * h) as u64;
    let floats = n
        .saturating_mul(3 + p as u64)
        .saturating_add(n.saturating_mul(2).saturating_mul(segments as u64));
    if floats > MAX_FLOATS {
        return Err(Error::InvalidParameter {
            name: "the PAMR problem (image + P·H·W affinities + 2·K·H·W mask)",
            expected: "at most MAX_FLOATS (2^30) floats",
            got: format!("{floats} floats for {w}×{h}, P = {p}, K = {segments}"),
        });
    }
    let aff = local_affinities(&prep.planar, w, h, &prep.dilations);
    let mut mask = initial_mask(prep, labels.labels(), labels.width(), segments);
    let mut next = vec![0.0f32; mask.len()];
    for _ in 0..iterations {
        propagate(&aff, &mask, &mut next, w, h, segments, &prep.dilations);
        std::mem::swap(&mut mask, &mut next);
    }
    Ok(mask)
}

/// Runs `f(row index, row)` over the `len`-sized rows of `out`, in parallel when enabled.
fn for_rows(out: &mut [f32], len: usize, f: impl Fn(usize, &mut [f32]) + Sync + Send) {
    #[cfg(feature = "parallel")]
    {
        use rayon::prelude::*;
        out.par_chunks_mut(len).enumerate().for_each(|(y, row)| f(y, row));
    }
    #[cfg(not(feature = "parallel"))]
    out.chunks_mut(len).enumerate().for_each(|(y, row)| f(y, row));
}

#[inline]
fn clamp_idx(v: isize, len: usize) -> usize {
    v.clamp(0, len as isize - 1) as usize
}

/// `dst[x] = src[clamp(x + dx)]`.
fn shift_into(dst: &mut [f32], src: &[f32], dx: isize) {
    let w = src.len();
    let lo = (-dx).clamp(0, w as isize) as usize;
    let hi = (w as isize - dx).clamp(lo as isize, w as isize) as usize;
    dst[..lo].fill(src[0]);
    if hi > lo {
        let from = (lo as isize + dx) as usize;
        dst[lo..hi].copy_from_slice(&src[from..from + hi - lo]);
    }
    dst[hi..].fill(src[w - 1]);
}

/// The softmax weights `[H, P, W]` of every pixel's `P` neighbours, a row at a time (every
/// per-pixel sum runs over the taps in the same order as the GPU kernel's loop).
pub(crate) fn local_affinities(planar: &[f32], w: usize, h: usize, dilations: &[usize]) -> Vec<f32> {
    let p = dilations.len() * 8;
    let n = w * h;
    let taps = 9 * dilations.len();
    let mut out = vec![0.0f32; h * p * w];
    for_rows(&mut out, p * w, |y, row| {
        let row_of = |c: usize, dy: isize, d: usize| {
            let r = clamp_idx(y as isize + dy * d as isize, h);
            &planar[c * n + r * w..c * n + (r + 1) * w]
        };
        let mut tmp = vec![0.0f32; w];
        // den_c = 1e-8 + 0.1 · σ_c, σ_c the unbiased std of the 9·|D| taps (centre included).
        let mut den = vec![0.0f32; 3 * w];
        let (mut sum, mut mean) = (vec![0.0f32; w], vec![0.0f32; w]);
        for c in 0..3 {
            sum.fill(0.0);
            for &d in dilations {
                for dy in -1..=1 {
                    for dx in -1..=1 {
                        shift_into(&mut tmp, row_of(c, dy, d), dx * d as isize);
                        sum.iter_mut().zip(&tmp).for_each(|(s, v)| *s += v);
                    }
                }
            }
            mean.iter_mut().zip(&sum).for_each(|(m, s)| *m = s / taps as f32);
            sum.fill(0.0);
            for &d in dilations {
                for dy in -1..=1 {
                    for dx in -1..=1 {
                        shift_into(&mut tmp, row_of(c, dy, d), dx * d as isize);
                        sum.iter_mut()
                            .zip(&tmp)
                            .zip(&mean)
                            .for_each(|((s, v), m)| *s += (v - m) * (v - m));
                    }
                }
            }
            den[c * w..(c + 1) * w]
                .iter_mut()
                .zip(&sum)
                .for_each(|(den, ss)| *den = 1e-8 + 0.1 * (ss / (taps - 1) as f32).sqrt());
        }
        // a_j = mean_c −|x_c − x_c(nbr)| / den_c, then the softmax over j per pixel.
        let centre = |c: usize| &planar[c * n + y * w..c * n + (y + 1) * w];
        let mut j = 0;
        for &d in dilations {
            for &(dy, dx) in &NEIGHBOURS {
                let a = &mut row[j * w..(j + 1) * w];
                a.fill(0.0);
                for c in 0..3 {
                    shift_into(&mut tmp, row_of(c, dy, d), dx * d as isize);
                    let dc = &den[c * w..(c + 1) * w];
                    for (((a, x), v), dn) in a.iter_mut().zip(centre(c)).zip(&tmp).zip(dc) {
                        *a += -(x - v).abs() / dn;
                    }
                }
                a.iter_mut().for_each(|a| *a /= 3.0);
                j += 1;
            }
        }
        let mut max = vec![f32::NEG_INFINITY; w];
        for a in row.chunks_exact(w) {
            max.iter_mut().zip(a).for_each(|(m, &v)| *m = m.max(v));
        }
        sum.fill(0.0);
        for a in row.chunks_exact_mut(w) {
            for ((a, m), s) in a.iter_mut().zip(&max).zip(sum.iter_mut()) {
                *a = (*a - m).exp();
                *s += *a;
            }
        }
        for a in row.chunks_exact_mut(w) {
            a.iter_mut().zip(&sum).for_each(|(a, s)| *a /= s);
        }
    });
    out
}

/// The one-hot mask of `labels` resized to the image, `[H, K, W]`.
fn initial_mask(prep: &Prepared, labels: &[u32], label_w: usize, segments: usize) -> Vec<f32> {
    let (w, h) = (prep.width, prep.height);
    let mut mask = vec![0.0f32; h * segments * w];
    for_rows(&mut mask, segments * w, |y, row| {
        let (y0, y1, ly) = prep.ytaps[y];
        for (x, &(x0, x1, lx)) in prep.xtaps.iter().enumerate() {
            let corners = [
                labels[y0 * label_w + x0],
                labels[y0 * label_w + x1],
                labels[y1 * label_w + x0],
                labels[y1 * label_w + x1],
            ];
            for (i, &k) in corners.iter().enumerate() {
                if corners[..i].contains(&k) {
                    continue;
                }
                let e = |c: usize| if corners[c] == k { 1.0f32 } else { 0.0 };
                // torch: h0λ·(w0λ·v00 + w1λ·v01) + h1λ·(w0λ·v10 + w1λ·v11)
                row[k as usize * w + x] =
                    (1.0 - ly) * ((1.0 - lx) * e(0) + lx * e(1)) + ly * ((1.0 - lx) * e(2) + lx * e(3));
            }
        }
    });
    mask
}

/// One propagation step: `dst[y, k, x] = Σ_j aff[y, j, x] · src[clamp(y + dy_j), k, clamp(x + dx_j)]`.
fn propagate(aff: &[f32], src: &[f32], dst: &mut [f32], w: usize, h: usize, k: usize, dilations: &[usize]) {
    let p = dilations.len() * 8;
    for_rows(dst, k * w, |y, row| {
        let aff_row = &aff[y * p * w..(y + 1) * p * w];
        propagate_row(row, aff_row, src, y, w, h, k, dilations);
    });
}

#[allow(clippy::too_many_arguments)]
fn propagate_row(
    row: &mut [f32],
    aff_row: &[f32],
    src: &[f32],
    y: usize,
    w: usize,
    h: usize,
    k: usize,
    dilations: &[usize],
) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU supports AVX2, checked just above.
            return unsafe { propagate_row_avx2(row, aff_row, src, y, w, h, k, dilations) };
        }
    }
    propagate_row_generic(row, aff_row, src, y, w, h, k, dilations)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[allow(clippy::too_many_arguments)]
unsafe fn propagate_row_avx2(
    row: &mut [f32],
    aff_row: &[f32],
    src: &[f32],
    y: usize,
    w: usize,
    h: usize,
    k: usize,
    dilations: &[usize],
) {
    propagate_row_generic(row, aff_row, src, y, w, h, k, dilations)
}

/// One output row of every label. The 8 neighbours of a dilation are summed in one pass,
/// `((acc + a₀m₀) + a₁m₁) + … + a₇m₇` left to right, which rounds exactly as adding the `P`
/// products one at a time in neighbour order (what the GPU kernel does). No FMA on any path.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn propagate_row_generic(
    row: &mut [f32],
    aff_row: &[f32],
    src: &[f32],
    y: usize,
    w: usize,
    h: usize,
    k: usize,
    dilations: &[usize],
) {
    row.fill(0.0);
    for (g, &d) in dilations.iter().enumerate() {
        let a: [&[f32]; 8] = std::array::from_fn(|t| &aff_row[(g * 8 + t) * w..(g * 8 + t + 1) * w]);
        let (up, down) = (y.saturating_sub(d), (y + d).min(h - 1));
        // Columns x < lo or x ≥ hi have a clamped neighbour; lo..hi is the interior.
        let lo = d.min(w);
        let hi = w.saturating_sub(d).max(lo);
        for kk in 0..k {
            let s = |r: usize| &src[(r * k + kk) * w..(r * k + kk + 1) * w];
            let (su, sc, sd) = (s(up), s(y), s(down));
            let o = &mut row[kk * w..(kk + 1) * w];
            let edge = |o: &mut f32, x: usize| {
                let (l, r) = (x.saturating_sub(d), (x + d).min(w - 1));
                *o = *o
                    + a[0][x] * su[l]
                    + a[1][x] * su[x]
                    + a[2][x] * su[r]
                    + a[3][x] * sc[l]
                    + a[4][x] * sc[r]
                    + a[5][x] * sd[l]
                    + a[6][x] * sd[x]
                    + a[7][x] * sd[r];
            };
            for x in (0..lo).chain(hi..w) {
                edge(&mut o[x], x);
            }
            if hi > lo {
                let n = hi - lo;
                let (o, l, c, r) = (&mut o[lo..hi], lo - d, lo, lo + d);
                let (ul, uc, ur) = (&su[l..l + n], &su[c..c + n], &su[r..r + n]);
                let (cl, cr) = (&sc[l..l + n], &sc[r..r + n]);
                let (dl, dc, dr) = (&sd[l..l + n], &sd[c..c + n], &sd[r..r + n]);
                let aa: [&[f32]; 8] = std::array::from_fn(|t| &a[t][lo..hi]);
                for i in 0..n {
                    o[i] = o[i]
                        + aa[0][i] * ul[i]
                        + aa[1][i] * uc[i]
                        + aa[2][i] * ur[i]
                        + aa[3][i] * cl[i]
                        + aa[4][i] * cr[i]
                        + aa[5][i] * dl[i]
                        + aa[6][i] * dc[i]
                        + aa[7][i] * dr[i];
                }
            }
        }
    }
}

/// Argmax over `K` of an `[H, K, W]` mask, first `k` on ties.
fn argmax_rows(mask: &[f32], w: usize, h: usize) -> Vec<u32> {
    let k = mask.len() / (w * h);
    let mut out = vec![0u32; w * h];
    for y in 0..h {
        let block = &mask[y * k * w..(y + 1) * k * w];
        let mut best: Vec<f32> = block[..w].to_vec();
        let labels = &mut out[y * w..(y + 1) * w];
        for kk in 1..k {
            for (x, &v) in block[kk * w..(kk + 1) * w].iter().enumerate() {
                if v > best[x] {
                    best[x] = v;
                    labels[x] = kk as u32;
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small deterministic test image with edges and texture.
    fn test_image(w: u32, h: u32, seed: u32) -> RgbImage {
        RgbImage::from_fn(w, h, |x, y| {
            let hash = |v: u32| (v.wrapping_mul(2_654_435_761).rotate_left(13) ^ seed.wrapping_mul(40503)) % 23;
            let region = u8::from(x * 3 > w + y) + 2 * u8::from(y * 2 > h);
            let base = [40u8, 120, 200, 90][region as usize];
            image::Rgb([
                base + hash(x * 31 + y) as u8,
                base / 2 + hash(y * 17 + x) as u8,
                255 - base - hash(x + y * 7) as u8,
            ])
        })
    }

    /// The spec's formulas, pixel by pixel in `f64`, nothing precomputed or reordered.
    fn literal(img: &RgbImage, labels: &[u32], lw: usize, lh: usize, k: usize, cfg: &PamrConfig) -> Vec<f64> {
        let (w, h) = (img.width() as usize, img.height() as usize);
        let x = |c: usize, y: isize, xx: isize| {
            let (yy, xx) = (y.clamp(0, h as isize - 1) as u32, xx.clamp(0, w as isize - 1) as u32);
            f64::from(img.get_pixel(xx, yy)[c]) / 255.0
        };
        let taps = |i: usize, o: usize| -> Vec<(usize, usize, f64)> {
            (0..o)
                .map(|d| {
                    let s = if o > 1 {
                        d as f64 * (i - 1) as f64 / (o - 1) as f64
                    } else {
                        0.0
                    };
                    let i0 = (s.floor() as usize).min(i - 1);
                    (i0, (i0 + 1).min(i - 1), s - i0 as f64)
                })
                .collect()
        };
        let (ty, tx) = (taps(lh, h), taps(lw, w));
        let mut m = vec![0.0f64; k * h * w];
        for y in 0..h {
            for xx in 0..w {
                let ((y0, y1, ly), (x0, x1, lx)) = (ty[y], tx[xx]);
                for kk in 0..k {
                    let e = |r: usize, c: usize| f64::from(u8::from(labels[r * lw + c] as usize == kk));
                    m[(kk * h + y) * w + xx] = (1.0 - ly) * ((1.0 - lx) * e(y0, x0) + lx * e(y0, x1))
                        + ly * ((1.0 - lx) * e(y1, x0) + lx * e(y1, x1));
                }
            }
        }
        let offs: Vec<(isize, isize)> = cfg
            .dilations
            .iter()
            .flat_map(|&d| NEIGHBOURS.iter().map(move |&(a, b)| (a * d as isize, b * d as isize)))
            .collect();
        let mut aff = vec![0.0f64; offs.len() * h * w];
        for y in 0..h as isize {
            for xx in 0..w as isize {
                let mut a = vec![0.0f64; offs.len()];
                for c in 0..3 {
                    let v: Vec<f64> = cfg
                        .dilations
                        .iter()
                        .flat_map(|&d| (0..9).map(move |t| (t / 3 - 1, t % 3 - 1, d as isize)))
                        .map(|(dy, dx, d)| x(c, y + dy * d, xx + dx * d))
                        .collect();
                    let mean = v.iter().sum::<f64>() / v.len() as f64;
                    let std = (v.iter().map(|t| (t - mean).powi(2)).sum::<f64>() / (v.len() - 1) as f64).sqrt();
                    for (j, &(dy, dx)) in offs.iter().enumerate() {
                        a[j] += -(x(c, y, xx) - x(c, y + dy, xx + dx)).abs() / (1e-8 + 0.1 * std) / 3.0;
                    }
                }
                let z: f64 = a.iter().map(|v| v.exp()).sum();
                for j in 0..offs.len() {
                    aff[(j * h + y as usize) * w + xx as usize] = a[j].exp() / z;
                }
            }
        }
        for _ in 0..cfg.iterations {
            let mut next = vec![0.0f64; m.len()];
            for kk in 0..k {
                for y in 0..h as isize {
                    for xx in 0..w as isize {
                        let p = y as usize * w + xx as usize;
                        next[kk * h * w + p] = offs
                            .iter()
                            .enumerate()
                            .map(|(j, &(dy, dx))| {
                                let q = (y + dy).clamp(0, h as isize - 1) as usize * w
                                    + (xx + dx).clamp(0, w as isize - 1) as usize;
                                aff[j * h * w + p] * m[kk * h * w + q]
                            })
                            .sum();
                    }
                }
            }
            m = next;
        }
        m
    }

    #[test]
    fn matches_the_literal_formulas() {
        for (w, h, lw, lh, k, cfg) in [
            (13u32, 11u32, 4usize, 3usize, 3usize, PamrConfig::eval()),
            (
                17,
                9,
                5,
                2,
                4,
                PamrConfig {
                    iterations: 6,
                    ..PamrConfig::demo()
                },
            ),
            (
                8,
                8,
                8,
                8,
                2,
                PamrConfig {
                    iterations: 3,
                    dilations: vec![1, 3],
                },
            ),
        ] {
            let img = test_image(w, h, k as u32);
            let labels: Vec<u32> = (0..lw * lh).map(|i| ((i * 7 + i / lw) % k) as u32).collect();
            let got = pamr_mask(&img, &lm(&labels, lw, lh, k), &cfg).unwrap();
            let want = literal(&img, &labels, lw, lh, k, &cfg);
            let diff = got
                .iter()
                .zip(&want)
                .fold(0.0f64, |m, (&a, &b)| m.max((f64::from(a) - b).abs()));
            assert!(diff < 2e-6, "{w}×{h} K={k}: max |cpu − literal| = {diff}");
            // The channels stay a partition of unity.
            let n = (w * h) as usize;
            for p in 0..n {
                let s: f32 = (0..k).map(|kk| got[kk * n + p]).sum();
                assert!((s - 1.0).abs() < 1e-5, "pixel {p}: channels sum to {s}");
            }
        }
    }

    #[test]
    fn taps_match_torch_align_corners() {
        // torch: interpolate(tensor([[[[0., 1.]]]]), size=(1, 5), mode='bilinear', align_corners=True)
        // = [0, .25, .5, .75, 1].
        let t = align_corners_taps(2, 5);
        let v: Vec<f32> = t
            .iter()
            .map(|&(i0, i1, l)| (1.0 - l) * i0 as f32 + l * i1 as f32)
            .collect();
        assert_eq!(v, vec![0.0, 0.25, 0.5, 0.75, 1.0]);
        assert_eq!(align_corners_taps(3, 1), vec![(0, 1, 0.0)]);
        assert_eq!(align_corners_taps(1, 4), vec![(0, 0, 0.0); 4]);
        assert_eq!(
            align_corners_taps(4, 4).iter().map(|t| (t.0, t.2)).collect::<Vec<_>>(),
            vec![(0, 0.0), (1, 0.0), (2, 0.0), (3, 0.0)]
        );
    }

    #[test]
    fn median_is_the_fifth_of_nine_with_edges_repeated() {
        #[rustfmt::skip]
        let labels = [
            0, 0, 5,
            0, 7, 5,
            9, 9, 5,
        ];
        // Corner (0,0): window rows {0,0,1} × cols {0,0,1} = 0,0,0,0,0,0,0,0,7 → 0.
        // Centre: 0,0,5,0,7,5,9,9,5 sorted 0,0,0,5,5,5,7,9,9 → 5.
        // (2,1): rows {1,2,2} × cols {0,1,2}: 0,7,5,9,9,5,9,9,5 sorted 0,5,5,5,7,9,9,9,9 → 7.
        // scipy.ndimage.median_filter(a[None], 3)[0] gives the same 3×3 map.
        assert_eq!(median3x3(&labels, 3, 3), vec![0, 0, 5, 0, 5, 5, 9, 7, 5]);
        assert_eq!(median3x3(&[4], 1, 1), vec![4]);
    }

    #[test]
    fn constant_image_gives_uniform_weights() {
        let img = RgbImage::from_pixel(6, 5, image::Rgb([10, 200, 33]));
        let prep = Prepared::new(ImageRef::Rgb8(&img), &lm(&[0], 1, 1, 1), &PamrConfig::eval()).unwrap();
        let aff = local_affinities(&prep.planar, 6, 5, &prep.dilations);
        assert!(
            aff.iter().all(|&a| a == 1.0 / 32.0),
            "σ = 0 gives a = 0/1e-8 = 0 for every neighbour"
        );
    }

    #[test]
    fn one_label_and_absent_labels() {
        let img = test_image(10, 7, 1);
        assert_eq!(
            pamr(&img, &lm(&[2; 6], 3, 2, 5), &PamrConfig::eval()).unwrap().labels(),
            vec![2; 70]
        );
        // Labels 1 and 3 are absent: they never appear in the output.
        let labels = [0, 2, 4, 4, 0, 2];
        let out = pamr(&img, &lm(&labels, 3, 2, 5), &PamrConfig::eval()).unwrap();
        assert!(out.labels().iter().all(|&l| l == 0 || l == 2 || l == 4));
        // Zero iterations: the argmax of the resized one-hot mask.
        let cfg = PamrConfig {
            iterations: 0,
            ..PamrConfig::eval()
        };
        let same = RgbImage::new(3, 2);
        assert_eq!(
            pamr_mask(&same, &lm(&labels, 3, 2, 5), &cfg)
                .unwrap()
                .iter()
                .filter(|&&v| v == 1.0)
                .count(),
            6
        );
    }

    #[test]
    fn float_image_matches_u8_image() {
        let img = test_image(12, 9, 3);
        let rgb: Vec<f32> = img.as_raw().iter().map(|&v| f32::from(v) / 255.0).collect();
        let labels = [0, 1, 1, 2, 0, 2];
        let cfg = PamrConfig::demo();
        assert_eq!(
            pamr(&img, &lm(&labels, 3, 2, 3), &cfg).unwrap(),
            pamr_f32(&rgb, 12, 9, &lm(&labels, 3, 2, 3), &cfg).unwrap()
        );
    }

    #[test]
    fn rejects_bad_inputs() {
        // Bad label maps are refused by `LabelMap::new` (tested in `crate::labels`).
        let img = test_image(4, 4, 0);
        let cfg = PamrConfig::eval();
        let one = lm(&[0], 1, 1, 1);
        let msg = |r: Result<LabelMap>| r.unwrap_err().to_string();
        assert!(msg(pamr(&RgbImage::new(0, 3), &one, &cfg)).contains("image size"));
        let no_dilations = PamrConfig {
            iterations: 1,
            dilations: vec![],
        };
        assert!(msg(pamr(&img, &one, &no_dilations)).contains("dilations"));
        let zero_dilation = PamrConfig {
            iterations: 1,
            dilations: vec![1, 0],
        };
        assert!(msg(pamr(&img, &one, &zero_dilation)).contains("[1, 0]"));
        assert!(msg(pamr(&img, &lm(&[0], 1, 1, 1 << 30), &cfg)).contains("MAX_FLOATS"));
        assert!(msg(pamr_f32(&[0.0; 47], 4, 4, &one, &cfg)).contains("47 values"));
        assert!(msg(pamr_f32(&[f32::NAN; 48], 4, 4, &one, &cfg)).contains("finite"));
    }

    fn lm(labels: &[u32], w: usize, h: usize, k: usize) -> LabelMap {
        LabelMap::new(labels.to_vec(), w, h, k).unwrap()
    }
}
