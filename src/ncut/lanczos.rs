//! The Fiedler vector of a sub-graph by Lanczos, matrix-free (docs/ALGORITHM.md §4.1).
//!
//! Shi & Malik's relaxation asks for the second-smallest generalised eigenvector of
//! `(D − W) y = λ D y`. With `u = D^{1/2} y` this is the second-smallest eigenvector of
//! `L_sym = I − M`, `M = D^{-1/2} W D^{-1/2}`, i.e. the second-*largest* eigenvector of `M`.
//! `M`'s largest eigenpair is known in closed form — `(1, √d / ‖√d‖)` — so we deflate it
//! (keep every Lanczos vector orthogonal to `√d`) and ask Lanczos for the largest eigenpair of
//! what remains, where it converges fastest.
//!
//! - `M` is never formed: `M x = D^{-1/2} (W (D^{-1/2} x))`, one dense `f32` mat-vec per step.
//! - Full re-orthogonalisation (classical Gram–Schmidt, done twice) keeps the basis orthogonal to
//!   working precision, so there are no ghost eigenvalues and the Ritz vector is accurate.
//! - The start vector is a fixed pseudo-random sequence: same sub-graph → same vector → same split.
//! - The small tridiagonal problem is solved in `f64` ([`super::tridiag`]).
//!
//! The official code uses a dense `eigh` on `L_sym` instead; the dense solver in
//! [`super::dense`] is kept only as the test oracle.

use super::{simd, tridiag};

/// Lanczos stopping rules.
#[derive(Clone, Copy, Debug)]
pub struct LanczosOptions {
    /// Stop when the Ritz residual `‖M u − θ u‖` (from the recurrence, `β_k |s_k|`) is below this.
    pub tol: f64,
    /// Hard cap on Krylov dimension (also capped by the deflated dimension `n − 1`).
    pub max_iter: usize,
}

impl Default for LanczosOptions {
    fn default() -> Self {
        Self {
            tol: 1e-6,
            max_iter: 400,
        }
    }
}

/// The relaxed cut indicator of one sub-graph.
#[derive(Clone, Debug)]
pub struct Fiedler {
    /// `y = D^{-1/2} u₂`, sign-fixed so that its largest-magnitude entry is positive (the DiffCut
    /// sign flip, `recursive_normalized_cut.py:65-69`). Length n.
    pub y: Vec<f64>,
    /// The eigenvalue λ₂ of `L_sym` (in `[0, 2]`).
    pub lambda: f64,
    /// Lanczos steps taken.
    pub iterations: usize,
}

/// Magnitudes within this relative distance of the largest count as tied in the sign flip (see
/// [`fiedler`]); `sweep.wgsl` uses the same.
pub const SIGN_TIE: f64 = 1e-6;

/// SplitMix64: the fixed start-vector sequence.
fn splitmix(i: u64) -> f64 {
    let mut z = i
        .wrapping_add(0x9E37_79B9_7F4A_7C15)
        .wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 30)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
}

fn dot64(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// `v ← v − Σ_i ⟨v, q_i⟩ q_i` (classical Gram–Schmidt), repeated once more when the first pass
/// removed most of `v` — the Kahan–Parlett "twice is enough" criterion (Giraud et al. 2005).
fn orthogonalise(v: &mut [f64], basis: &[Vec<f64>]) {
    let mut norm = dot64(v, v).sqrt();
    for _ in 0..2 {
        let coeffs: Vec<f64> = basis.iter().map(|q| dot64(v, q)).collect();
        for (q, c) in basis.iter().zip(coeffs) {
            v.iter_mut().zip(q).for_each(|(x, qi)| *x -= c * qi);
        }
        let after = dot64(v, v).sqrt();
        if after > 0.7 * norm {
            break;
        }
        norm = after;
    }
}

/// `out = D^{-1/2} W D^{-1/2} x` for the sub-graph `w` (`[n, n]` f32) with `dis = D^{-1/2}`.
fn apply(w: &[f32], dis: &[f64], x: &[f64], xs: &mut [f32], out: &mut [f64]) {
    let n = dis.len();
    for i in 0..n {
        xs[i] = (x[i] * dis[i]) as f32;
    }
    let row = |i: usize| f64::from(simd::dot(&w[i * n..(i + 1) * n], xs)) * dis[i];
    #[cfg(feature = "parallel")]
    if n >= 384 {
        use rayon::prelude::*;
        out.par_iter_mut().enumerate().for_each(|(i, o)| *o = row(i));
        return;
    }
    for (i, o) in out.iter_mut().enumerate() {
        *o = row(i);
    }
}

/// The Fiedler vector of the graph with affinity `w` (`[n, n]` row-major, symmetric, ≥ 0) and
/// degrees `d = W·1` (all > 0).
///
/// Returns `None` when the problem has no second eigenvector worth the name: `n < 2`, or the
/// deflated operator is zero (every cut of the graph is alike).
pub fn fiedler(w: &[f32], d: &[f64], opts: LanczosOptions) -> Option<Fiedler> {
    let n = d.len();
    debug_assert_eq!(w.len(), n * n);
    if n < 2 {
        return None;
    }
    let dis: Vec<f64> = d.iter().map(|&di| 1.0 / di.sqrt()).collect();
    // The known top eigenvector of M: v₁ = √d / ‖√d‖.
    let mut v1: Vec<f64> = d.iter().map(|&di| di.sqrt()).collect();
    let nv1 = dot64(&v1, &v1).sqrt();
    v1.iter_mut().for_each(|x| *x /= nv1);

    // Krylov dimension: the deflated space has dimension n − 1, where Lanczos is exact.
    let m_max = opts.max_iter.min(n - 1).max(1);
    let mut basis: Vec<Vec<f64>> = Vec::with_capacity(m_max + 2);
    basis.push(v1);
    let mut q: Vec<f64> = (0..n as u64).map(splitmix).collect();
    orthogonalise(&mut q, &basis);
    let nq = dot64(&q, &q).sqrt();
    if !(nq > 0.0) {
        return None;
    }
    q.iter_mut().for_each(|x| *x /= nq);
    basis.push(q);

    let (mut alpha, mut beta) = (Vec::<f64>::new(), Vec::<f64>::new());
    let mut xs = vec![0.0f32; n];
    let mut wv = vec![0.0f64; n];
    let mut breakdown_scale = 0.0f64;
    let (theta, s) = loop {
        let j = alpha.len(); // the current vector is basis[j + 1]
        apply(w, &dis, &basis[j + 1], &mut xs, &mut wv);
        let a = dot64(&wv, &basis[j + 1]);
        alpha.push(a);
        // Full re-orthogonalisation against v₁ and every Lanczos vector subsumes the
        // three-term recurrence (w − α q_j − β q_{j−1}).
        orthogonalise(&mut wv, &basis);
        let b = dot64(&wv, &wv).sqrt();
        breakdown_scale = breakdown_scale.max(a.abs()).max(b);
        let k = alpha.len();
        // ‖M‖₂ = 1, so absolute tolerances are relative ones.
        let done = k >= m_max || b <= 1e-10;
        if done || k % 4 == 0 {
            let theta = tridiag::eigenvalue(&alpha, &beta, k - 1);
            let s = tridiag::eigenvector(&alpha, &beta, theta);
            if done || b * s[k - 1].abs() <= opts.tol {
                break (theta, s);
            }
        }
        beta.push(b);
        wv.iter_mut().for_each(|x| *x /= b);
        basis.push(std::mem::replace(&mut wv, vec![0.0f64; n]));
    };
    if breakdown_scale <= 1e-10 {
        // The deflated operator is (numerically) zero: no direction is better than another.
        return None;
    }
    // Ritz vector u = Σ_j s_j q_j, then y = D^{-1/2} u.
    let mut y = vec![0.0f64; n];
    for (sj, qj) in s.iter().zip(&basis[1..]) {
        y.iter_mut().zip(qj).for_each(|(yi, qi)| *yi += sj * qi);
    }
    y.iter_mut().zip(&dis).for_each(|(yi, di)| *yi *= di);
    // DiffCut's sign flip: the entry of largest magnitude is positive, the first one on ties
    // (torch.argmax). Exact ties are common — a 2-node region has y = (c, −c) when its degrees are
    // equal — so magnitudes within our solver's accuracy of the maximum count as tied.
    let ymax = y.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    let imax = y.iter().position(|v| v.abs() >= ymax * (1.0 - SIGN_TIE)).unwrap_or(0);
    if y[imax] < 0.0 {
        y.iter_mut().for_each(|v| *v = -*v);
    }
    Some(Fiedler {
        y,
        lambda: 1.0 - theta,
        iterations: alpha.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ncut::dense::symmetric_eigen;

    /// A random symmetric non-negative affinity with self-loops, `[n, n]`.
    fn random_graph(n: usize, seed: u64) -> Vec<f32> {
        let mut w = vec![0.0f32; n * n];
        for i in 0..n {
            for j in 0..=i {
                let v = if i == j {
                    1.0
                } else {
                    (splitmix(seed * 1_000_003 + (i * n + j) as u64) * 0.5 + 0.5).powi(4)
                };
                w[i * n + j] = v as f32;
                w[j * n + i] = v as f32;
            }
        }
        w
    }

    fn degrees(w: &[f32], n: usize) -> Vec<f64> {
        (0..n)
            .map(|i| w[i * n..(i + 1) * n].iter().map(|&v| f64::from(v)).sum())
            .collect()
    }

    #[test]
    fn agrees_with_dense_eigh_on_random_graphs() {
        for (n, seed) in [(2usize, 1u64), (3, 2), (5, 3), (16, 4), (64, 5), (150, 6)] {
            let w = random_graph(n, seed);
            let d = degrees(&w, n);
            let f = fiedler(&w, &d, LanczosOptions::default()).unwrap();
            // Oracle: dense L_sym in f64.
            let mut l = vec![0.0f64; n * n];
            for i in 0..n {
                for j in 0..n {
                    let m = f64::from(w[i * n + j]) / (d[i] * d[j]).sqrt();
                    l[i * n + j] = if i == j { 1.0 - m } else { -m };
                }
            }
            let (vals, vecs) = symmetric_eigen(&l, n);
            assert!(
                (f.lambda - vals[1]).abs() < 1e-6,
                "n={n}: λ₂ {} vs {}",
                f.lambda,
                vals[1]
            );
            let y_ref: Vec<f64> = (0..n).map(|i| vecs[i * n + 1] / d[i].sqrt()).collect();
            let cos = dot64(&f.y, &y_ref) / (dot64(&f.y, &f.y) * dot64(&y_ref, &y_ref)).sqrt();
            assert!((cos.abs() - 1.0).abs() < 1e-6, "n={n}: |cos| = {}", cos.abs());
        }
    }

    #[test]
    fn y_is_d_orthogonal_to_ones_and_sign_fixed() {
        let n = 40;
        let w = random_graph(n, 9);
        let d = degrees(&w, n);
        let f = fiedler(&w, &d, LanczosOptions::default()).unwrap();
        let dy: f64 = f.y.iter().zip(&d).map(|(y, d)| y * d).sum();
        assert!(dy.abs() < 1e-8, "Σ d_i y_i = {dy}");
        let big =
            f.y.iter()
                .copied()
                .fold(0.0f64, |m, v| if v.abs() > m.abs() { v } else { m });
        assert!(big > 0.0);
    }

    #[test]
    fn trivial_graphs_have_no_fiedler_vector() {
        assert!(fiedler(&[1.0], &[1.0], LanczosOptions::default()).is_none());
        // Complete uniform graph: M = 11ᵀ/n, deflated operator is exactly zero.
        let n = 6;
        let w = vec![1.0f32; n * n];
        assert!(fiedler(&w, &vec![n as f64; n], LanczosOptions::default()).is_none());
    }
}
