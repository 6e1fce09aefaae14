//! AutoSC: the one-shot spectral clustering that DiffCut's paper sets against its recursive NCut
//! (Couairon et al. 2024, the AutoSC baseline of its ablations; official `diffcut/autosc.py`;
//! docs/ALGORITHM.md §3.3).
//!
//! Where recursive NCut asks "is this region worth cutting in two?" again and again, AutoSC picks
//! the number of clusters `k` once, from the spectrum of the whole graph, and cuts into `k` at once:
//!
//! ```text
//! S'      = minmax(X̂X̂ᵀ)                                   as recursive NCut, N×N
//! for α in {1, 5, 10, 15}:
//!   W     = S'^α,   d_i = Σ_j W_ij
//!   L_sym = D^{-1/2} (D − W) D^{-1/2}                       eigenvalues λ_0 ≤ … ≤ λ_{N−1}
//!   m_i   = (λ_0 + … + λ_i) / (i + 1)                       running mean
//!   g_i   = (λ_i − m_i) / (m_i + 1e-6)                      the regularised eigengap
//! k       = argmax_i g_i  of the α with the largest max g    (first α and first i on ties)
//! Y       = D^{-1/2} U_{:, :k}                              U: eigenvectors of L_sym
//! labels  = cluster_qr(Y)                                   (Damle, Minden & Ying 2019)
//! ```
//!
//! `cluster_qr` picks the `k` rows of `Y` that a column-pivoted QR of `Yᵀ` chooses first, rotates
//! `Y` by the orthogonal polar factor `U Vᵀ` of those rows (`Y[piv]ᵀ = U Σ Vᵀ`), and gives each
//! cell the column where `|Y U Vᵀ|` is largest. It needs no random start, and its result does not
//! depend on the signs of the eigenvectors, nor on the basis chosen inside a repeated eigenvalue.
//!
//! Reproduced as the official code does it, with its quirks:
//! - the eigenvectors are those of the **last** α (15), whichever α's gap chose `k` (the loop
//!   keeps `eigenvectors` from its last pass);
//! - `k` is the gap's index itself, so the eigenvector of `λ_k`, the one after the gap, is left
//!   out, and `λ_0`'s (constant on a connected graph) is kept;
//! - a cluster may end up empty: labels are `cluster_qr`'s column indices `0..k`, not renumbered.
//!
//! Where the official code fails we answer instead: a graph whose gaps are all ≤ 0 (every
//! eigenvalue equal, e.g. one cell or parallel features) is one cluster, where the official loop
//! never sets `nb_clusters` and raises.
//!
//! The dense eigendecompositions are O(N³), in `f32` as the official code runs them (faer; the
//! degrees, the gaps and `cluster_qr` in `f64`), so AutoSC takes grids of at most [`MAX_CELLS`]
//! cells: 4 096 = 64², the official default grid.

use super::{affinity, FeatureGrid};
use crate::{Error, Result};
use faer::{Mat, Side};

/// The exponents AutoSC tries, in the official order (ties go to the first).
pub const ALPHAS: [f32; 4] = [1.0, 5.0, 10.0, 15.0];
// `autosc` orders its four solves by hand.
const _: () = assert!(ALPHAS.len() == 4);

/// The eigengap's regulariser, `+ 1e-6` in the official code: keeps `g_i` finite where the running
/// mean is 0, and damps the gaps between eigenvalues that are all nearly 0.
pub const GAP_EPS: f64 = 1e-6;

/// Most cells AutoSC takes: 64² (four dense N×N eigendecompositions: 12.5 s on two cores at 64²,
/// BENCHMARKS.md).
pub const MAX_CELLS: usize = 4096;

/// The spectrum of one α: what the page plots as the eigengap curve.
#[derive(Clone, Debug, PartialEq)]
pub struct Spectrum {
    pub alpha: f32,
    /// `λ_0 ≤ … ≤ λ_{N−1}` of `L_sym`.
    pub eigenvalues: Vec<f64>,
    /// `g_i` for every `i` (`g_0 = 0`).
    pub gaps: Vec<f64>,
}

impl Spectrum {
    /// `(argmax_i g_i, max g)`, the first index on ties (as `torch.argmax`).
    pub fn best_gap(&self) -> (usize, f64) {
        let mut best = (0, f64::NEG_INFINITY);
        for (i, &g) in self.gaps.iter().enumerate() {
            if g > best.1 {
                best = (i, g);
            }
        }
        best
    }
}

/// AutoSC's clustering of a feature grid.
#[derive(Clone, Debug, PartialEq)]
pub struct AutoSc {
    /// `[h, w]` of the feature grid.
    pub grid: [usize; 2],
    /// One cluster per cell, row-major, in `0..clusters`; a cluster may be empty.
    pub labels: Vec<u32>,
    /// `k`, the number of clusters the eigengap chose.
    pub clusters: usize,
    /// The α whose eigengap was largest (it chose `k`).
    pub alpha: f32,
    /// One spectrum per α of [`ALPHAS`], in order.
    pub spectra: Vec<Spectrum>,
}

impl AutoSc {
    /// Clusters that hold at least one cell.
    pub fn segments(&self) -> usize {
        let mut seen = vec![false; self.clusters.max(1)];
        self.labels.iter().for_each(|&l| seen[l as usize] = true);
        seen.iter().filter(|&&s| s).count()
    }
}

/// AutoSC of `features` (see the module docs).
///
/// Errors: [`Error::TooLarge`] above [`MAX_CELLS`] cells, [`Error::Solver`] if an
/// eigendecomposition or SVD does not converge.
pub fn autosc(features: &FeatureGrid) -> Result<AutoSc> {
    let n = features.cells();
    if n > MAX_CELLS {
        return Err(Error::TooLarge {
            what: "the feature grid's cell count",
            got: n as u64,
            limit: MAX_CELLS as u64,
            reason: "AutoSC's dense eigendecompositions; use a grid of at most 64×64",
        });
    }
    let base = affinity(&features.data, n, features.c, 1.0)?;
    let grid = [features.h, features.w];
    let last = ALPHAS.len() - 1;
    // The four spectra are independent: on two cores, two at a time (each solve is sequential,
    // so the numbers do not depend on the number of threads).
    // The last α, which also computes eigenvectors (about three times the work), goes first so
    // that the halves rayon splits the list into are nearer in cost.
    let order = [last, 0, 1, 2];
    let solve = |&i: &usize| spectrum(&base.w, n, features.w, ALPHAS[i], i == last);
    #[cfg(feature = "parallel")]
    let solved: Vec<Result<(Spectrum, Option<Vectors>)>> = {
        use rayon::prelude::*;
        order.par_iter().map(solve).collect()
    };
    #[cfg(not(feature = "parallel"))]
    let solved: Vec<Result<(Spectrum, Option<Vectors>)>> = order.iter().map(solve).collect();
    let mut spectra: Vec<Spectrum> = Vec::with_capacity(ALPHAS.len());
    let mut vectors = None;
    for r in solved {
        let (s, v) = r?;
        spectra.push(s);
        vectors = vectors.or(v);
    }
    spectra.sort_by_key(|s| ALPHAS.iter().position(|&a| a == s.alpha));
    // Strictly larger than the best so far, starting from 0, as the official loop: ties keep the
    // first α, and no positive gap at all leaves k unset (one cluster here, see the module docs).
    let mut chosen: Option<(usize, usize)> = None; // (spectrum, k)
    let mut max_gap = 0.0f64;
    for (s, spectrum) in spectra.iter().enumerate() {
        let (k, g) = spectrum.best_gap();
        if g > max_gap {
            max_gap = g;
            chosen = Some((s, k));
        }
    }
    let (alpha, k) = chosen.map_or((ALPHAS[ALPHAS.len() - 1], 1), |(s, k)| (ALPHAS[s], k));
    let (u, inv_sqrt_d) = vectors.expect("the last α computes eigenvectors");
    // Y = D^{-1/2} U[:, :k], of the last α (the official quirk).
    let y = Mat::<f64>::from_fn(n, k, |r, c| inv_sqrt_d[r] * u[(r, c)] as f64);
    let labels = cluster_qr(&y)?;
    Ok(AutoSc {
        grid,
        labels,
        clusters: k,
        alpha,
        spectra,
    })
}

/// The eigenvectors `U` of `L_sym` and `D^{-1/2}`, for the last α.
type Vectors = (Mat<f32>, Vec<f64>);

/// One α's spectrum of `L_sym` for `W = base^α`, with its eigenvectors when `vectors`.
fn spectrum(base: &[f32], n: usize, grid_w: usize, alpha: f32, vectors: bool) -> Result<(Spectrum, Option<Vectors>)> {
    let w: Vec<f32> = base.iter().map(|&v| v.powf(alpha)).collect();
    let (laplacian, inv_sqrt_d) = normalized_laplacian(&w, n, grid_w)?;
    drop(w);
    let (eigenvalues, v) = if vectors {
        let evd = laplacian
            .self_adjoint_eigen(Side::Lower)
            .map_err(|e| Error::Solver(format!("AutoSC eigendecomposition at α = {alpha}: {e:?}")))?;
        let values: Vec<f64> = (0..n).map(|j| evd.S()[j] as f64).collect();
        (values, Some((evd.U().to_owned(), inv_sqrt_d)))
    } else {
        let values = laplacian
            .self_adjoint_eigenvalues(Side::Lower)
            .map_err(|e| Error::Solver(format!("AutoSC eigenvalues at α = {alpha}: {e:?}")))?;
        (values.into_iter().map(f64::from).collect(), None)
    };
    let gaps = eigengaps(&eigenvalues);
    Ok((
        Spectrum {
            alpha,
            eigenvalues,
            gaps,
        },
        v,
    ))
}

/// `L_sym = I − D^{-1/2} W D^{-1/2}` (written as the official `D^{-1/2} (D − W) D^{-1/2}`) and
/// `D^{-1/2}`, from `W` (`[n, n]` row-major).
///
/// [`Error::InvalidFeatures`] for a cell of degree 0: an all-zero feature vector among features
/// that are all ≥ 0 has similarity 0 (the minimum, so 0 after min-max) to every cell, itself
/// included (the official code then computes NaN eigenvalues and raises).
fn normalized_laplacian(w: &[f32], n: usize, grid_w: usize) -> Result<(Mat<f32>, Vec<f64>)> {
    let degrees: Vec<f64> = w
        .chunks_exact(n)
        .map(|row| row.iter().map(|&v| v as f64).sum())
        .collect();
    if let Some(i) = degrees.iter().position(|&d| !(d > 0.0)) {
        return Err(Error::InvalidFeatures(format!(
            "cell [{}, {}] has no affinity to any cell, itself included (an all-zero feature \
             vector?): AutoSC's normalised Laplacian needs every degree > 0",
            i / grid_w,
            i % grid_w
        )));
    }
    let inv_sqrt_d: Vec<f64> = degrees.iter().map(|d| 1.0 / d.sqrt()).collect();
    let l = Mat::<f32>::from_fn(n, n, |i, j| {
        let dw = if i == j { degrees[i] } else { 0.0 } - w[i * n + j] as f64;
        (inv_sqrt_d[i] * dw * inv_sqrt_d[j]) as f32
    });
    Ok((l, inv_sqrt_d))
}

/// `g_i = (λ_i − m_i) / (m_i + ε)`, `m_i` the running mean of `λ_0..=λ_i`.
pub fn eigengaps(eigenvalues: &[f64]) -> Vec<f64> {
    let mut sum = 0.0;
    eigenvalues
        .iter()
        .enumerate()
        .map(|(i, &l)| {
            sum += l;
            let mean = sum / (i + 1) as f64;
            (l - mean) / (mean + GAP_EPS)
        })
        .collect()
}

/// `cluster_qr` (Damle, Minden & Ying 2019; scikit-learn's `cluster_qr`, as the official code
/// writes it): `Y` is `[n, k]`; returns the column of `|Y U Vᵀ|` largest in each row (the first
/// on ties, as `numpy.argmax`).
pub fn cluster_qr(y: &Mat<f64>) -> Result<Vec<u32>> {
    let (n, k) = (y.nrows(), y.ncols());
    if k <= 1 {
        return Ok(vec![0; n]);
    }
    // The k rows of Y that a column-pivoted QR of Yᵀ (k × n) takes first.
    let qr = y.transpose().col_piv_qr();
    let (forward, _) = qr.P().arrays();
    let pivots = &forward[..k];
    // Y[piv]ᵀ = U Σ Vᵀ, rotation R = U Vᵀ.
    let b = Mat::<f64>::from_fn(k, k, |r, c| y[(pivots[c], r)]);
    let svd = b
        .svd()
        .map_err(|e| Error::Solver(format!("AutoSC cluster_qr SVD: {e:?}")))?;
    let rotation = svd.U() * svd.V().transpose();
    let scores = y * &rotation;
    Ok((0..n)
        .map(|r| {
            let mut best = (0, f64::NEG_INFINITY);
            for c in 0..k {
                let v = scores[(r, c)].abs();
                if v > best.1 {
                    best = (c, v);
                }
            }
            best.0 as u32
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grid(h: usize, w: usize, c: usize, f: impl Fn(usize, usize) -> Vec<f32>) -> FeatureGrid {
        let data = (0..h * w).flat_map(|i| f(i / w, i % w)).collect();
        FeatureGrid::new(h, w, c, data).unwrap()
    }

    #[test]
    fn eigengaps_follow_the_official_formula() {
        let g = eigengaps(&[0.0, 0.1, 0.2, 0.9]);
        // m = 0, 0.05, 0.1, 0.3
        let want = [0.0, 0.05 / (0.05 + 1e-6), 0.1 / (0.1 + 1e-6), 0.6 / (0.3 + 1e-6)];
        for (a, b) in g.iter().zip(want) {
            assert!((a - b).abs() < 1e-12, "{g:?}");
        }
    }

    #[test]
    fn pivots_are_scipys_column_order() {
        // Columns of Yᵀ with norms 1, 3, 2: a pivoted QR takes column 1 first, then the one with
        // the most left after projecting it out.
        let y = Mat::<f64>::from_fn(3, 2, |r, c| [[1.0, 0.0], [3.0, 0.0], [0.0, 2.0]][r][c]);
        let qr = y.transpose().col_piv_qr();
        let (forward, _) = qr.P().arrays();
        assert_eq!(&forward[..2], &[1, 2]);
    }

    #[test]
    fn three_blocks_give_three_clusters() {
        // Three directions in feature space, one per band of rows, with a little noise.
        let f = grid(9, 6, 3, |y, x| {
            let mut v = vec![0.05 * ((x * 7 + y * 3) % 5) as f32; 3];
            v[y / 3] = 1.0;
            v
        });
        let a = autosc(&f).unwrap();
        assert_eq!(a.clusters, 3, "{:?}", a.spectra[0].gaps.get(..6));
        for band in 0..3 {
            let l = a.labels[band * 18];
            assert!(a.labels[band * 18..(band + 1) * 18].iter().all(|&v| v == l));
        }
        assert_eq!(a.segments(), 3);
        assert_eq!(a.spectra.len(), 4);
        assert!(a.spectra.iter().all(|s| s.eigenvalues.len() == 54 && s.gaps[0] == 0.0));
    }

    #[test]
    fn no_gap_is_one_cluster() {
        let one = grid(1, 1, 2, |_, _| vec![1.0, 2.0]);
        let a = autosc(&one).unwrap();
        assert_eq!((a.clusters, a.labels.clone()), (1, vec![0]));
        let parallel = grid(4, 4, 2, |y, x| vec![1.0 + (y * 4 + x) as f32, 0.0]);
        let a = autosc(&parallel).unwrap();
        assert_eq!(a.segments(), 1);
    }

    #[test]
    fn a_cell_with_no_affinity_is_named() {
        // Non-negative features with one zero vector at [1, 2]: its similarities are the minimum.
        let f = grid(3, 4, 2, |y, x| {
            if (y, x) == (1, 2) {
                vec![0.0, 0.0]
            } else {
                vec![1.0, x as f32]
            }
        });
        let e = autosc(&f).unwrap_err().to_string();
        assert!(e.contains("cell [1, 2] has no affinity"), "{e}");
    }

    #[test]
    fn refuses_grids_beyond_its_limit() {
        let big = grid(65, 64, 1, |_, _| vec![1.0]);
        assert!(matches!(autosc(&big), Err(Error::TooLarge { .. })));
    }
}
