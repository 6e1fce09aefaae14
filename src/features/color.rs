//! Weight-free colour/texture patch features whose cosine similarity is a perceptual kernel.
//!
//! See the [module docs](super) for the design and why. The steps of [`color_features`]:
//! 1. squash the image to an `S × S` square, `S = grid · pixels_per_cell`, by area averaging in
//!    linear light, and convert it to OKLab;
//! 2. describe each cell by a 6-D descriptor `d_i` (median colour, texture at two scales, chroma
//!    texture), scaled so that Euclidean distance 1 is one kernel bandwidth;
//! 3. smooth the descriptor grid with an iterated bilateral filter (edge-preserving context);
//! 4. choose `C` anchors (farthest-point start, then k-means) and embed
//!    `φ_ik = exp(−‖d_i − a_k‖² / 2)`, L2-normalise each cell, and centre over the image.

use super::oklab::{linear_rgb_to_oklab, srgb_to_linear_table};
use crate::image_io::RgbImage;
use crate::ncut::FeatureGrid;
use crate::{Error, Result};

/// The default cell grid: 32 × 32, the token grid DiffCut's SSD-1B features have at 1024².
pub const DEFAULT_GRID: usize = 32;

/// Largest accepted `grid` (128² = 16384 cells; the dense N×N affinity is then 1 GiB).
pub const MAX_GRID: usize = 128;
const _: () = assert!(MAX_GRID * MAX_GRID == crate::ncut::MAX_CELLS);

/// The NCut threshold these features are calibrated for: the default τ of
/// [`FeatureSource::Color`](crate::segmenter::FeatureSource::Color) (the CLI without `--tau`).
/// Measured on `benches/features/` (BENCHMARKS.md): on the `shapes` scenes, Hungarian mIoU
/// 0.542 / 0.608 / 0.548 / 0.603 at τ = 0.35 / 0.5 / 0.7 / 0.9 (before the texture weight
/// became 2), and above 0.5 photos break into 20–36 fragments; so 0.5, the same number as
/// DiffCut's for diffusion features, but its own constant, measured for these features.
pub const DEFAULT_TAU: f64 = 0.5;

/// The affinity exponent α these features are calibrated for (see [`DEFAULT_TAU`]). 9, a little
/// softer than DiffCut's 10, measured with the bilateral context of range 0.5 over 40 rounds
/// (BENCHMARKS.md): Hungarian mIoU on `shapes` / `mosaic` / `photos` 0.595 / 0.623 / 0.179 at
/// α = 10, 0.602 / 0.619 / 0.181 at 9.5, 0.597 / 0.614 / 0.197 at 9, 0.613 / 0.577 / 0.177 at 8:
/// at 9 the real photographs hold together best while the drawn scenes keep their objects apart.
pub const DEFAULT_ALPHA: f32 = 9.0;

/// Descriptor length: 3 colour + 3 texture.
const Q: usize = 6;

/// Knobs of [`color_features_with`]; [`color_features`] uses the defaults, which were tuned by
/// eye on the photos in `samples/` at τ = 0.5 and 0.3 (see the module docs).
#[derive(Clone, Debug, PartialEq)]
pub struct ColorFeatureOptions {
    /// Side of a cell in the squashed image, in pixels (default 8, so 256² at grid 32). Texture
    /// is measured inside a cell, so this sets the finest texture scale relative to the cell.
    pub pixels_per_cell: usize,
    /// Number of anchors = feature channels `C` (default 32).
    pub anchors: usize,
    /// OKLab distance that counts as one kernel bandwidth (default 0.1, roughly "clearly a
    /// different colour"). Smaller splits finer shades apart.
    pub colour_scale: f32,
    /// Weight of lightness relative to chroma (default 0.4). Below 1 because shading and
    /// gradients (sky, folds, curved surfaces) change lightness across one object far more than
    /// they change hue.
    pub lightness_weight: f32,
    /// Weight of the texture block relative to colour (default 2). Texture is what separates
    /// fur from a blurred backdrop of the same colour, or a lattice tower from the sky. 2 rather
    /// than 1 on `benches/features/` (τ = 0.5): mIoU 0.608 → 0.638 on `shapes`, 0.582 → 0.602
    /// on `mosaic`; 1.5 gives 0.613 and 3 gives 0.625 on `shapes`.
    pub texture_weight: f32,
    /// Bilateral smoothing: range bandwidth in descriptor units (default 0.5). Neighbours closer
    /// than this mix; across a step of 1 (one colour bandwidth) the weight is e^-2 per round.
    /// With 40 rounds, 0.5 rather than 0.4 (20 rounds) on `benches/features/` (τ = 0.5): mIoU
    /// 0.118 → 0.179 on real photographs (`photos`: shading and texture no longer cut one
    /// surface into many), 0.602 → 0.623 on `mosaic`, 0.638 → 0.595 on `shapes` (drawn objects
    /// whose colour is close to a neighbour's merge more often); 0.6 or 0.8 merge those far more
    /// (0.53 on `shapes`). BENCHMARKS.md has the sweep.
    pub smoothing_range: f32,
    /// Bilateral smoothing: rounds over the 3×3 neighbourhood (default 40; 0 disables).
    pub smoothing_iterations: usize,
    /// Lloyd iterations refining the anchors after the farthest-point start (default 5).
    pub kmeans_iterations: usize,
}

impl Default for ColorFeatureOptions {
    fn default() -> Self {
        Self {
            pixels_per_cell: 8,
            anchors: 32,
            colour_scale: 0.1,
            lightness_weight: 0.4,
            texture_weight: 2.0,
            smoothing_range: 0.5,
            smoothing_iterations: 40,
            kmeans_iterations: 5,
        }
    }
}

/// Weight-free features for DiffCut: `[grid, grid, 32]`.
///
/// The image is squashed to a square (aspect ratio is not kept, as in the official code), so cell
/// `(y, x)` covers rows `y·H/grid .. (y+1)·H/grid` and the matching columns of the original.
/// Deterministic: the same image and grid always give bit-identical features.
///
/// # Shapes
/// `img`: `[H, W, 3]`, any size ≥ 1×1 (smaller than the grid is fine) → `[grid, grid, 32]`.
///
/// # Errors
/// [`Error::InvalidParameter`] unless `1 ≤ grid ≤ 128`, or for a 0×0 image.
pub fn color_features(img: &RgbImage, grid: usize) -> Result<FeatureGrid> {
    color_features_with(img, grid, &ColorFeatureOptions::default())
}

/// [`color_features`] with explicit options: `[grid, grid, opts.anchors]`.
///
/// # Errors
/// As [`color_features`], plus [`Error::InvalidParameter`] for an option out of its range.
pub fn color_features_with(img: &RgbImage, grid: usize, opts: &ColorFeatureOptions) -> Result<FeatureGrid> {
    check_grid(grid)?;
    check_options(opts)?;
    let (w, h) = img.dimensions();
    if w == 0 || h == 0 {
        return Err(Error::InvalidParameter {
            name: "image",
            expected: "at least 1×1 pixels",
            got: format!("{w}×{h}"),
        });
    }
    let p = opts.pixels_per_cell;
    let n = grid * grid;

    // 1. Squash.
    let lab = squash_to_oklab(img, grid * p); // [grid·p, grid·p, 3]

    // 2.–3. Descriptors, smoothed.
    let mut desc = descriptors(&lab, grid, p, opts); // [n, Q]
    bilateral(&mut desc, grid, opts.smoothing_range, opts.smoothing_iterations);

    // 4. Kernel embedding.
    let data = embed(&desc, n, opts.anchors, opts.kmeans_iterations); // [n, C]
    FeatureGrid::new(grid, grid, opts.anchors, data)
}

pub(crate) fn check_grid(grid: usize) -> Result<()> {
    if (1..=MAX_GRID).contains(&grid) {
        Ok(())
    } else {
        Err(Error::InvalidParameter {
            name: "grid",
            expected: "between 1 and 128",
            got: grid.to_string(),
        })
    }
}

fn check_options(o: &ColorFeatureOptions) -> Result<()> {
    let bad = |name, expected, got: String| Err(Error::InvalidParameter { name, expected, got });
    if !(1..=64).contains(&o.pixels_per_cell) {
        return bad("pixels_per_cell", "between 1 and 64", o.pixels_per_cell.to_string());
    }
    if !(1..=1024).contains(&o.anchors) {
        return bad("anchors", "between 1 and 1024", o.anchors.to_string());
    }
    for (name, v) in [("colour_scale", o.colour_scale), ("smoothing_range", o.smoothing_range)] {
        if !(v.is_finite() && v > 0.0) {
            return bad(name, "a finite number > 0", v.to_string());
        }
    }
    for (name, v) in [
        ("lightness_weight", o.lightness_weight),
        ("texture_weight", o.texture_weight),
    ] {
        if !(v.is_finite() && v >= 0.0) {
            return bad(name, "a finite number ≥ 0", v.to_string());
        }
    }
    Ok(())
}

/// Area-averages `img` to `[side, side]` in linear light, then converts to OKLab.
///
/// Area averaging (each source pixel weighted by how much of it an output pixel covers) is the
/// anti-aliased counterpart of the official bilinear squash — we go straight to a small size,
/// where bilinear without antialiasing would sample only a few pixels per cell. It also
/// upsamples images smaller than the grid (piecewise constant), so a 1×1 image works.
///
/// # Shapes
/// `[H, W, 3]` u8 sRGB → `[side, side, 3]` f32 OKLab.
fn squash_to_oklab(img: &RgbImage, side: usize) -> Vec<f32> {
    let (w, h) = (img.width() as usize, img.height() as usize);
    let lut = srgb_to_linear_table();
    let xs = area_weights(w, side);
    let ys = area_weights(h, side);
    let src = img.as_raw();

    // Horizontal pass.
    let mut rows = vec![0.0f32; h * side * 3]; // [h, side, 3] linear RGB
    for y in 0..h {
        let line = &src[y * w * 3..(y + 1) * w * 3];
        for (ox, taps) in xs.iter().enumerate() {
            let acc = &mut rows[(y * side + ox) * 3..][..3];
            for &(x, wt) in taps {
                for k in 0..3 {
                    acc[k] += wt * lut[line[x * 3 + k] as usize];
                }
            }
        }
    }
    // Vertical pass, then OKLab.
    let mut out = vec![0.0f32; side * side * 3]; // [side, side, 3]
    for (oy, taps) in ys.iter().enumerate() {
        for ox in 0..side {
            let mut acc = [0.0f32; 3];
            for &(y, wt) in taps {
                for k in 0..3 {
                    acc[k] += wt * rows[(y * side + ox) * 3 + k];
                }
            }
            out[(oy * side + ox) * 3..][..3].copy_from_slice(&linear_rgb_to_oklab(acc));
        }
    }
    out
}

/// Box-filter taps along one axis: for each of `output` pixels, the `(source index, weight)` of
/// every source pixel it overlaps, weights summing to 1.
fn area_weights(input: usize, output: usize) -> Vec<Vec<(usize, f32)>> {
    let scale = input as f64 / output as f64;
    (0..output)
        .map(|o| {
            let (lo, hi) = (o as f64 * scale, (o + 1) as f64 * scale);
            let first = (lo.floor() as usize).min(input - 1);
            let last = (hi.ceil() as usize).clamp(first + 1, input);
            (first..last)
                .map(|i| {
                    let overlap = (hi.min(i as f64 + 1.0) - lo.max(i as f64)).max(0.0);
                    (i, (overlap / (hi - lo)) as f32)
                })
                .filter(|&(_, wt)| wt > 0.0)
                .collect()
        })
        .collect()
}

/// Per-cell descriptors, scaled so that Euclidean distance 1 = one kernel bandwidth.
///
/// Each row (`Q` = 6):
/// - `[0..3]` per-channel **median** OKLab `(w_L·L, a, b) / colour_scale`. The median, not the
///   mean: a cell cut by an object edge takes the colour of its majority side instead of a blend
///   that matches neither side (blends gather into spurious thin "edge" segments);
/// - `[3..6]` texture, `texture_weight · ln(1 + t / T0)` for the median `|ΔL|` between pixels 1
///   apart, the median `|ΔL|` 3 apart, and the median `|Δa| + |Δb|` 1 apart, over the pixel
///   pairs inside the cell. Medians again make one edge through a cell (a minority of pairs)
///   count for little, while a textured surface (most pairs differ) counts fully; the log
///   compresses the heavy tail, so "smooth vs textured" matters more than "how rough".
///
/// # Shapes
/// `lab`: `[grid·p, grid·p, 3]` → `[grid², Q]`.
fn descriptors(lab: &[f32], grid: usize, p: usize, o: &ColorFeatureOptions) -> Vec<f32> {
    // Texture reference, about a just-noticeable OKLab difference, so that film grain and JPEG
    // noise stay near ln(1) = 0.
    const T0: f32 = 0.01;
    let side = grid * p;
    let mut desc = vec![0.0f32; grid * grid * Q];
    // Scratch buffers, reused across cells.
    let mut chan: [Vec<f32>; 3] = Default::default();
    let (mut d1, mut d3, mut dc) = (Vec::new(), Vec::new(), Vec::new());
    for cy in 0..grid {
        for cx in 0..grid {
            let at = |y: usize, x: usize| &lab[((cy * p + y) * side + cx * p + x) * 3..][..3];
            chan.iter_mut().for_each(Vec::clear);
            d1.clear();
            d3.clear();
            dc.clear();
            for y in 0..p {
                for x in 0..p {
                    let v = at(y, x);
                    for k in 0..3 {
                        chan[k].push(v[k]);
                    }
                    for (dy, dx) in [(0, 1), (1, 0)] {
                        if y + dy < p && x + dx < p {
                            let u = at(y + dy, x + dx);
                            d1.push((u[0] - v[0]).abs());
                            dc.push((u[1] - v[1]).abs() + (u[2] - v[2]).abs());
                        }
                        if y + 3 * dy < p && x + 3 * dx < p {
                            d3.push((at(y + 3 * dy, x + 3 * dx)[0] - v[0]).abs());
                        }
                    }
                }
            }
            let tex = |t: f32| o.texture_weight * (1.0 + t / T0).ln();
            let d = &mut desc[(cy * grid + cx) * Q..][..Q];
            d[0] = o.lightness_weight * median(&mut chan[0]) / o.colour_scale;
            d[1] = median(&mut chan[1]) / o.colour_scale;
            d[2] = median(&mut chan[2]) / o.colour_scale;
            d[3] = tex(median(&mut d1));
            d[4] = tex(median(&mut d3));
            d[5] = tex(median(&mut dc));
        }
    }
    desc
}

/// Median (mean of the middle two for an even count); 0 for no values (a cell of 1 pixel has
/// no pixel pairs, hence no texture).
fn median(v: &mut [f32]) -> f32 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_unstable_by(f32::total_cmp);
    let m = v.len() / 2;
    if v.len() % 2 == 1 {
        v[m]
    } else {
        0.5 * (v[m - 1] + v[m])
    }
}

/// Edge-preserving smoothing of the descriptor grid (Tomasi & Manduchi 1998, iterated): each
/// round, `d_i ← Σ_j w_ij d_j / Σ_j w_ij` over the 3×3 neighbourhood with
/// `w_ij = exp(−‖d_i − d_j‖² / 2ρ² − ‖pos_i − pos_j‖²)` (positions in cells, ρ = `range`).
///
/// This stands in for the context a network's receptive field gives. Without it every cell
/// stands alone: near-threshold cells of one surface scatter into other segments (salt and
/// pepper), and a smooth gradient (a sky) has no reason to stay together. Iterating lets
/// gradients and textured surfaces even out over several cells, while an edge (a step of ≳ 2ρ)
/// passes almost nothing, so it stays sharp. A flat region stays exactly flat.
///
/// # Shapes
/// `desc`: `[grid², Q]`, in place.
fn bilateral(desc: &mut [f32], grid: usize, range: f32, iterations: usize) {
    let inv_2rho2 = 1.0 / (2.0 * range * range);
    let mut prev = vec![0.0f32; desc.len()];
    for _ in 0..iterations {
        prev.copy_from_slice(desc);
        for y in 0..grid {
            for x in 0..grid {
                let i = y * grid + x;
                let di = &prev[i * Q..(i + 1) * Q];
                let mut acc = [0.0f32; Q];
                let mut total = 0.0f32;
                for ny in y.saturating_sub(1)..(y + 2).min(grid) {
                    for nx in x.saturating_sub(1)..(x + 2).min(grid) {
                        let j = ny * grid + nx;
                        let dj = &prev[j * Q..(j + 1) * Q];
                        let range2: f32 = di.iter().zip(dj).map(|(a, b)| (a - b) * (a - b)).sum();
                        let space2 = (ny.abs_diff(y).pow(2) + nx.abs_diff(x).pow(2)) as f32;
                        let wt = (-range2 * inv_2rho2 - space2).exp();
                        total += wt;
                        // Accumulate differences, not values, so that a cell whose
                        // neighbours all equal it stays bit-for-bit unchanged.
                        for ((a, v), u) in acc.iter_mut().zip(dj).zip(di) {
                            *a += wt * (v - u);
                        }
                    }
                }
                // total ≥ 1: the centre cell always weighs exp(0).
                for ((out, a), u) in desc[i * Q..(i + 1) * Q].iter_mut().zip(&acc).zip(di) {
                    *out = u + a / total;
                }
            }
        }
    }
}

/// Kernel embedding of `n` descriptors (`[n, Q]`) into `c` channels, centred over the image.
///
/// - Anchors: farthest-point sampling (start: the descriptor farthest from the mean; ties → the
///   lowest index) reaches every distinct colour/texture, small objects included; a few Lloyd
///   (k-means) iterations then pull anchors into dense regions so large regions are described
///   finely. Both are deterministic.
/// - `φ_ik = exp(−(‖d_i − a_k‖² − min_k' ‖d_i − a_k'‖²) / 2)`, then `φ_i ← φ_i / ‖φ_i‖`.
///   Subtracting the row minimum only rescales the row (no effect after normalising) and keeps
///   far-away cells from underflowing to an all-zero row. `φ_i·φ_j` is then ≈ a Gaussian kernel
///   of `‖d_i − d_j‖`: 1 for the same colour/texture, → 0 for unrelated ones.
/// - Centring, `φ_i ← φ_i − mean_j φ_j`. Non-negative features would make every unrelated pair
///   sit at cosine ≈ 0 = the minimum; DiffCut's min-max then maps them all to 0, `0^α` is an
///   exact zero, and the official recursion drops every node with an exact zero in its affinity
///   row below the root (docs/ALGORITHM.md §4, `ncut::tree` "zero-as-marker quirk") — hundreds of cells on a
///   photo. Centred, unrelated cells spread over negative cosines, only the most opposite pair
///   reaches the minimum, and typically 2–5 cells are dropped, as with diffusion features.
///
/// Degenerate case: if all descriptors are equal to within 1e-4 (a flat image, up to rounding
/// in the resampler), every row is the same constant vector, so the affinity is exactly constant
/// and nothing splits; otherwise min-max would stretch rounding noise to [0, 1].
fn embed(desc: &[f32], n: usize, c: usize, kmeans_iterations: usize) -> Vec<f32> {
    let dist2 = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum::<f32>();
    let row = |i: usize| &desc[i * Q..(i + 1) * Q];
    let anchor = |anchors: &[f32], k: usize| anchors[k * Q..(k + 1) * Q].to_vec();

    let spread = (1..n).map(|i| dist2(row(0), row(i))).fold(0.0f32, f32::max);
    if spread < 1e-8 {
        return vec![1.0; n * c];
    }

    // Farthest-point start.
    let mut mean = [0.0f32; Q];
    for i in 0..n {
        for (m, v) in mean.iter_mut().zip(row(i)) {
            *m += v / n as f32;
        }
    }
    let first = argmax((0..n).map(|i| dist2(row(i), &mean)));
    let mut anchors: Vec<f32> = row(first).to_vec(); // [c, Q]
    let mut nearest: Vec<f32> = (0..n).map(|i| dist2(row(i), row(first))).collect();
    for _ in 1..c {
        let next = argmax(nearest.iter().copied());
        anchors.extend_from_slice(row(next));
        for (i, d) in nearest.iter_mut().enumerate() {
            *d = d.min(dist2(row(i), row(next)));
        }
    }

    // Lloyd iterations; an anchor that loses all its members stays where it is.
    for _ in 0..kmeans_iterations {
        let mut sums = vec![0.0f64; c * Q];
        let mut counts = vec![0usize; c];
        for i in 0..n {
            let k = argmin((0..c).map(|k| dist2(row(i), &anchors[k * Q..(k + 1) * Q])));
            counts[k] += 1;
            for (s, v) in sums[k * Q..(k + 1) * Q].iter_mut().zip(row(i)) {
                *s += f64::from(*v);
            }
        }
        for k in (0..c).filter(|&k| counts[k] > 0) {
            for j in 0..Q {
                anchors[k * Q + j] = (sums[k * Q + j] / counts[k] as f64) as f32;
            }
        }
    }

    // Embedding, normalised per cell.
    let anchors: Vec<Vec<f32>> = (0..c).map(|k| anchor(&anchors, k)).collect();
    let mut out = vec![0.0f32; n * c]; // [n, c]
    for (i, phi) in out.chunks_exact_mut(c).enumerate() {
        let d: Vec<f32> = anchors.iter().map(|a| dist2(row(i), a)).collect();
        let dmin = d.iter().copied().fold(f32::INFINITY, f32::min);
        for (f, dk) in phi.iter_mut().zip(&d) {
            *f = (-(dk - dmin) / 2.0).exp();
        }
        // ≥ 1: the nearest anchor contributes exp(0).
        let norm = phi.iter().map(|f| f * f).sum::<f32>().sqrt();
        phi.iter_mut().for_each(|f| *f /= norm);
    }

    // Centring.
    let mut mean = vec![0.0f64; c];
    for phi in out.chunks_exact(c) {
        for (m, f) in mean.iter_mut().zip(phi) {
            *m += f64::from(*f);
        }
    }
    let mean: Vec<f32> = mean.iter().map(|m| (m / n as f64) as f32).collect();
    for phi in out.chunks_exact_mut(c) {
        for (f, m) in phi.iter_mut().zip(&mean) {
            *f -= m;
        }
    }
    out
}

/// Index of the largest value, the first one on ties.
fn argmax(values: impl Iterator<Item = f32>) -> usize {
    let mut best = (0, f32::NEG_INFINITY);
    for (i, v) in values.enumerate() {
        if v > best.1 {
            best = (i, v);
        }
    }
    best.0
}

/// Index of the smallest value, the first one on ties.
fn argmin(values: impl Iterator<Item = f32>) -> usize {
    argmax(values.map(|v| -v))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn area_weights_sum_to_one() {
        for (input, output) in [(1, 256), (3, 5), (5, 3), (1000, 256), (256, 256), (7, 1)] {
            for taps in area_weights(input, output) {
                let total: f32 = taps.iter().map(|t| t.1).sum();
                assert!((total - 1.0).abs() < 1e-5, "{input}→{output}: {taps:?}");
                assert!(taps.iter().all(|t| t.0 < input));
            }
        }
    }

    #[test]
    fn area_weights_downscale_averages_blocks() {
        let taps = area_weights(4, 2);
        assert_eq!(taps[0], vec![(0, 0.5), (1, 0.5)]);
        assert_eq!(taps[1], vec![(2, 0.5), (3, 0.5)]);
    }

    #[test]
    fn median_of_odd_and_even() {
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&mut [4.0, 1.0, 3.0, 2.0]), 2.5);
        assert_eq!(median(&mut []), 0.0);
    }

    #[test]
    fn bilateral_keeps_a_step_sharp_and_flat_regions_flat() {
        // 4×4 grid: left half 0, right half 10 (far beyond the range bandwidth).
        let grid = 4;
        let mut desc = vec![0.0f32; grid * grid * Q];
        for y in 0..grid {
            for x in 2..grid {
                desc[(y * grid + x) * Q] = 10.0;
            }
        }
        let before = desc.clone();
        bilateral(&mut desc, grid, 0.4, 20);
        assert_eq!(desc, before);
    }
}
