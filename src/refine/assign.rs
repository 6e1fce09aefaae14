//! High-resolution concept assignment (docs/ALGORITHM.md §5.1–5.2, `recursive_normalized_cut.py:156-170`).
//!
//! ```text
//! f̂(q)  = f(q) / ‖f(q)‖                      normalised features on the h×w grid
//! e_k   = Σ_{q ∈ segment k} f̂(q) / (|k| + 1e-8)   masked mean, NOT re-normalised
//! f↑(p) = bilinear(f̂)(p)                     align_corners = False, NOT re-normalised
//! label(p) = argmax_k ⟨f↑(p), e_k⟩            plain dot product, as the official code
//! ```
//!
//! Bilinear interpolation is linear, so `⟨f↑(p), e_k⟩ = bilinear(⟨f̂(·), e_k⟩)(p)`: we score every
//! grid cell against every segment once (`h·w·K·C`) and upsample the `K` score maps, instead of
//! upsampling `C`-dimensional features to every pixel (`H·W·K·C`). Same numbers up to rounding,
//! and 1280/4 times less work at C = 1280.

use crate::image_io::check_pixels;
use crate::labels::LabelMap;
use crate::ncut::{affinity::l2_normalize_rows, simd, FeatureGrid};
use crate::{Error, Result};

/// Per-pixel labels `[out_h, out_w]` (row-major), same `K` segments, given the grid's labels.
///
/// # Shapes
/// - `features`: `[h, w, C]`; `cells`: a `w × h` label map of `K` segments
/// - returns an `out_w × out_h` label map
pub fn assign(features: &FeatureGrid, cells: &LabelMap, out_w: usize, out_h: usize) -> Result<LabelMap> {
    let (h, w, c) = (features.h, features.w, features.c);
    let n = h * w;
    if (cells.width(), cells.height()) != (w, h) {
        return Err(Error::InvalidFeatures(format!(
            "{}×{} cell labels for a {w}×{h} grid",
            cells.width(),
            cells.height()
        )));
    }
    let (cell_labels, segments) = (cells.labels(), cells.segments());
    if out_h == 0 || out_w == 0 {
        return Err(Error::InvalidParameter {
            name: "output size",
            expected: "at least 1×1",
            got: format!("{out_w}×{out_h}"),
        });
    }
    check_pixels(out_w, out_h, "labels asked for")?;
    let mut f = features.data.clone();
    l2_normalize_rows(&mut f, n, c)?;

    // e_k: masked means of the normalised features.  [K, C]
    let mut e = vec![0.0f32; segments * c];
    let mut count = vec![0.0f32; segments];
    for (q, &k) in cell_labels.iter().enumerate() {
        let k = k as usize;
        count[k] += 1.0;
        for (ek, fq) in e[k * c..(k + 1) * c].iter_mut().zip(&f[q * c..(q + 1) * c]) {
            *ek += fq;
        }
    }
    for k in 0..segments {
        let inv = 1.0 / (count[k] + 1e-8);
        e[k * c..(k + 1) * c].iter_mut().for_each(|v| *v *= inv);
    }

    // Scores on the grid, segment-major so each map is contiguous.  [K, h, w]
    let mut scores = vec![0.0f32; segments * n];
    for k in 0..segments {
        let ek = &e[k * c..(k + 1) * c];
        for q in 0..n {
            scores[k * n + q] = simd::dot(&f[q * c..(q + 1) * c], ek);
        }
    }

    // Upsample each score map and take the argmax (first segment on ties, as torch.argmax).
    let (ys, xs) = (sample_points(h, out_h), sample_points(w, out_w));
    let mut labels = vec![0u32; out_h * out_w];
    let mut best = vec![f32::NEG_INFINITY; out_h * out_w];
    for k in 0..segments {
        let map = &scores[k * n..(k + 1) * n];
        for (oy, &(y0, y1, wy)) in ys.iter().enumerate() {
            for (ox, &(x0, x1, wx)) in xs.iter().enumerate() {
                let v = lerp2(map, w, (y0, y1, wy), (x0, x1, wx));
                let p = oy * out_w + ox;
                if v > best[p] {
                    best[p] = v;
                    labels[p] = k as u32;
                }
            }
        }
    }
    LabelMap::new(labels, out_w, out_h, segments)
}

/// For each output index, the two source indices and the weight of the second, as
/// `torch.nn.functional.interpolate(mode='bilinear', align_corners=False)` samples:
/// `src = max((dst + 0.5)·in/out − 0.5, 0)`.
fn sample_points(input: usize, output: usize) -> Vec<(usize, usize, f32)> {
    let scale = input as f32 / output as f32;
    (0..output)
        .map(|d| {
            let src = ((d as f32 + 0.5) * scale - 0.5).max(0.0);
            let i0 = (src.floor() as usize).min(input - 1);
            let i1 = (i0 + 1).min(input - 1);
            (i0, i1, src - i0 as f32)
        })
        .collect()
}

#[inline]
fn lerp2(map: &[f32], w: usize, (y0, y1, wy): (usize, usize, f32), (x0, x1, wx): (usize, usize, f32)) -> f32 {
    let top = map[y0 * w + x0] * (1.0 - wx) + map[y0 * w + x1] * wx;
    let bottom = map[y1 * w + x0] * (1.0 - wx) + map[y1 * w + x1] * wx;
    top * (1.0 - wy) + bottom * wy
}

/// Bilinear upsampling (align_corners = False) of a `[h, w, c]` grid to `[out_h, out_w, c]`.
pub fn upsample_bilinear(grid: &[f32], [h, w, c]: [usize; 3], out_h: usize, out_w: usize) -> Vec<f32> {
    let (ys, xs) = (sample_points(h, out_h), sample_points(w, out_w));
    let mut out = vec![0.0f32; out_h * out_w * c];
    for (oy, &(y0, y1, wy)) in ys.iter().enumerate() {
        for (ox, &(x0, x1, wx)) in xs.iter().enumerate() {
            for ch in 0..c {
                let at = |y: usize, x: usize| grid[(y * w + x) * c + ch];
                let top = at(y0, x0) * (1.0 - wx) + at(y0, x1) * wx;
                let bottom = at(y1, x0) * (1.0 - wx) + at(y1, x1) * wx;
                out[(oy * out_w + ox) * c + ch] = top * (1.0 - wy) + bottom * wy;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sample_points_match_torch() {
        // torch: interpolate(arange(4).view(1,1,1,4), size=(1,8), mode='bilinear') along x gives
        // [0, .25, .75, 1.25, 1.75, 2.25, 2.75, 3].
        let grid: Vec<f32> = (0..4).map(|v| v as f32).collect();
        let up = upsample_bilinear(&grid, [1, 4, 1], 1, 8);
        assert_eq!(up, vec![0.0, 0.25, 0.75, 1.25, 1.75, 2.25, 2.75, 3.0]);
    }

    #[test]
    fn scoring_then_upsampling_equals_upsampling_then_scoring() {
        let (h, w, c) = (4, 5, 3);
        let data: Vec<f32> = (0..h * w * c)
            .map(|i| ((i * 7 % 11) as f32 - 5.0) / 3.0 + 0.1)
            .collect();
        let grid = FeatureGrid::new(h, w, c, data).unwrap();
        let cells: Vec<u32> = (0..h * w)
            .map(|q| u32::from(q % w >= 2) + u32::from(q / w >= 3))
            .collect();
        let map = LabelMap::new(cells.clone(), w, h, 3).unwrap();
        let got = assign(&grid, &map, 13, 9).unwrap().into_labels();
        // The literal spec: upsample normalised features, then argmax of dot products.
        let mut f = grid.data.clone();
        l2_normalize_rows(&mut f, h * w, c).unwrap();
        let up = upsample_bilinear(&f, [h, w, c], 9, 13);
        let mut e = vec![vec![0.0f64; c]; 3];
        let mut cnt = [0.0f64; 3];
        for q in 0..h * w {
            cnt[cells[q] as usize] += 1.0;
            for ch in 0..c {
                e[cells[q] as usize][ch] += f64::from(f[q * c + ch]);
            }
        }
        for p in 0..9 * 13 {
            let score = |k: usize| {
                (0..c)
                    .map(|ch| f64::from(up[p * c + ch]) * e[k][ch] / cnt[k])
                    .sum::<f64>()
            };
            let want = (0..3)
                .max_by(|&a, &b| score(a).total_cmp(&score(b)).then(b.cmp(&a)))
                .unwrap();
            let margin = (score(want) - score(got[p] as usize)).abs();
            assert!(
                got[p] as usize == want || margin < 1e-5,
                "pixel {p}: {} vs {want}",
                got[p]
            );
        }
    }

    #[test]
    fn rejects_bad_labels() {
        let grid = FeatureGrid::new(1, 2, 1, vec![1.0, 2.0]).unwrap();
        // Labels ≥ K are refused by `LabelMap::new`; a map of another size and an empty output here.
        assert!(LabelMap::new(vec![0, 5], 2, 1, 2).is_err());
        let one_cell = LabelMap::new(vec![0], 1, 1, 2).unwrap();
        assert!(assign(&grid, &one_cell, 4, 4)
            .unwrap_err()
            .to_string()
            .contains("1×1 cell labels"));
        let two = LabelMap::new(vec![0, 1], 2, 1, 2).unwrap();
        assert!(assign(&grid, &two, 4, 0).is_err());
        assert_eq!(assign(&grid, &two, 4, 1).unwrap().width(), 4);
    }
}
