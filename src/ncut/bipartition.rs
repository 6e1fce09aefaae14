//! Choosing the cut from the Fiedler vector (docs/ALGORITHM.md §4.2, `get_bipartition`).
//!
//! DiffCut tries `K = 100` thresholds θ, linearly spaced over `[0.99·min y, 0.99·max y]`
//! (inclusive), splits `A = {i : y_i > θ}` / `B = V \ A`, and keeps the θ with the smallest
//! Shi–Malik Normalized Cut (Shi & Malik 2000, Eq. 2):
//!
//! ```text
//! NCut(A, B) = cut(A, B) / assoc(A, V) + cut(A, B) / assoc(B, V)        ∈ [0, 2]
//! ```
//!
//! which the official code evaluates as `zᵀ(D − W)z / zᵀDz` with `z = (1+x) − b(1−x)`; the two
//! are equal. Evaluating 100 thresholds naively costs 100 passes over `W`. Instead we sort nodes
//! by `y` (descending): every `A` is then a prefix of that order, and
//!
//! ```text
//! assoc(A_p, A_p) = assoc(A_{p−1}, A_{p−1}) + W_kk + 2 Σ_{j ∈ A_{p−1}} W_kj,   k = p-th node
//! cut(A_p, B_p)   = vol(A_p) − assoc(A_p, A_p)
//! ```
//!
//! so one pass over `W` gives the NCut of every prefix, and each θ just looks up its prefix length.

use std::ops::{Add, Div, Mul, Sub};

use super::simd;
use sealed::Sealed;

/// Number of candidate thresholds (`recursive_normalized_cut.py:35-54`).
pub const THRESHOLDS: usize = 100;
/// The thresholds span `[SPAN·min y, SPAN·max y]` (`recursive_normalized_cut.py:35-54`).
pub const SPAN: f64 = 0.99;

/// The best 2-way cut of one sub-graph.
#[derive(Clone, Debug, PartialEq)]
pub struct Bipartition {
    /// Minimum NCut over the thresholds.
    pub ncut: f64,
    /// The chosen threshold θ: side "1" is `y > θ`.
    pub threshold: f64,
    /// `in_a[i]`: node `i` is on the `y > θ` side.
    pub in_a: Vec<bool>,
    /// NCut at each of the 100 thresholds, in increasing θ (the teaching view's curve).
    /// `f64::INFINITY` where a side is empty.
    pub curve: Vec<f64>,
    /// The 100 thresholds, increasing.
    pub thresholds: Vec<f64>,
}

/// The float a rule runs in: `f64` on the CPU, `f32` where it must equal the GPU's arithmetic bit
/// for bit (the GPU tree's mirror of `sweep.wgsl` and `split.wgsl`). Sealed: only these two.
pub trait Real:
    Copy + PartialOrd + Add<Output = Self> + Sub<Output = Self> + Mul<Output = Self> + Div<Output = Self> + Sealed
{
    const INFINITY: Self;
    const NEG_INFINITY: Self;
    fn min(self, other: Self) -> Self;
    fn max(self, other: Self) -> Self;
    /// `v` rounded to `Self` (exact for the small integers used here; `0.99` rounds to the same
    /// `f32` as the literal `0.99f32`, tested below).
    fn of(v: f64) -> Self;
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for f32 {}
    impl Sealed for f64 {}
}

macro_rules! real {
    ($t:ty) => {
        impl Real for $t {
            const INFINITY: Self = <$t>::INFINITY;
            const NEG_INFINITY: Self = <$t>::NEG_INFINITY;
            fn min(self, other: Self) -> Self {
                <$t>::min(self, other)
            }
            fn max(self, other: Self) -> Self {
                <$t>::max(self, other)
            }
            fn of(v: f64) -> Self {
                v as $t
            }
        }
    };
}
real!(f32);
real!(f64);

/// `linspace(0.99·min y, 0.99·max y, 100)` as `torch.linspace` computes it, in `y`'s precision
/// (`f32` is what `sweep.wgsl` computes).
pub fn thresholds<F: Real>(y: &[F]) -> Vec<F> {
    let lo = F::of(SPAN) * y.iter().copied().fold(F::INFINITY, F::min);
    let hi = F::of(SPAN) * y.iter().copied().fold(F::NEG_INFINITY, F::max);
    let step = (hi - lo) / F::of((THRESHOLDS - 1) as f64);
    // torch.linspace fills the second half from the end, so both endpoints are exact.
    (0..THRESHOLDS)
        .map(|t| {
            if t < THRESHOLDS / 2 {
                lo + step * F::of(t as f64)
            } else {
                hi - step * F::of((THRESHOLDS - 1 - t) as f64)
            }
        })
        .collect()
}

/// Best threshold cut of the sub-graph `w` (`[n, n]`, row-major) with degrees `d` along `y`.
pub fn best_cut(w: &[f32], d: &[f64], y: &[f64]) -> Bipartition {
    let n = d.len();
    debug_assert_eq!(w.len(), n * n);
    debug_assert_eq!(y.len(), n);
    // Nodes by decreasing y; ties by index so the order is deterministic.
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&i, &j| y[j].total_cmp(&y[i]).then(i.cmp(&j)));

    // prefix_ncut[p] = NCut(A_p, V \ A_p), A_p = the first p nodes of `order`.
    let vol: f64 = d.iter().sum();
    let mut in_prefix = vec![0.0f32; n];
    let mut prefix_ncut = vec![f64::INFINITY; n + 1];
    let (mut assoc, mut vol_a) = (0.0f64, 0.0f64);
    for (p, &k) in order.iter().enumerate() {
        let row = &w[k * n..(k + 1) * n];
        assoc += f64::from(row[k]) + 2.0 * f64::from(simd::dot(row, &in_prefix));
        vol_a += d[k];
        in_prefix[k] = 1.0;
        let vol_b = vol - vol_a;
        if p + 1 < n && vol_a > 0.0 && vol_b > 0.0 {
            let cut = (vol_a - assoc).max(0.0);
            prefix_ncut[p + 1] = cut / vol_a + cut / vol_b;
        }
    }

    let thresholds = thresholds(y);
    let mut curve = Vec::with_capacity(THRESHOLDS);
    let (mut best, mut best_t) = (f64::INFINITY, 0usize);
    let mut p = n; // |{y > θ}| is non-increasing as θ grows: walk it down.
    for (t, &theta) in thresholds.iter().enumerate() {
        while p > 0 && !(y[order[p - 1]] > theta) {
            p -= 1;
        }
        let v = prefix_ncut[p];
        curve.push(v);
        // Strictly smaller: the first threshold wins ties, as torch.argmin does.
        if v < best {
            best = v;
            best_t = t;
        }
    }
    let threshold = thresholds[best_t];
    let in_a = y.iter().map(|&v| v > threshold).collect();
    Bipartition {
        ncut: best,
        threshold,
        in_a,
        curve,
        thresholds,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// NCut by definition, for the oracle.
    fn ncut_direct(w: &[f32], n: usize, a: &[bool]) -> f64 {
        let (mut cut, mut va, mut vb) = (0.0f64, 0.0f64, 0.0f64);
        for i in 0..n {
            for j in 0..n {
                let v = f64::from(w[i * n + j]);
                if a[i] {
                    va += v
                } else {
                    vb += v
                }
                if a[i] && !a[j] {
                    cut += v;
                }
            }
        }
        cut / va + cut / vb
    }

    #[test]
    fn prefix_sweep_equals_brute_force() {
        let n = 30;
        let mut w = vec![0.0f32; n * n];
        for i in 0..n {
            for j in 0..=i {
                let v = if i == j {
                    1.0
                } else {
                    ((i * 31 + j * 17) % 23) as f32 / 23.0
                };
                w[i * n + j] = v;
                w[j * n + i] = v;
            }
        }
        let d: Vec<f64> = (0..n)
            .map(|i| w[i * n..(i + 1) * n].iter().map(|&v| f64::from(v)).sum())
            .collect();
        let y: Vec<f64> = (0..n).map(|i| ((i as f64) * 1.7).sin()).collect();
        let b = best_cut(&w, &d, &y);
        let ths = thresholds(&y);
        assert_eq!(ths.len(), 100);
        assert!((ths[0] - 0.99 * y.iter().cloned().fold(f64::INFINITY, f64::min)).abs() < 1e-15);
        for (t, &theta) in ths.iter().enumerate() {
            let a: Vec<bool> = y.iter().map(|&v| v > theta).collect();
            let want = ncut_direct(&w, n, &a);
            // Row sums are accumulated in f32 (as the official code does): ~1e-7 relative.
            assert!(
                (b.curve[t] - want).abs() < 1e-6 * want,
                "θ #{t}: {} vs {want}",
                b.curve[t]
            );
        }
        let min = b.curve.iter().cloned().fold(f64::INFINITY, f64::min);
        assert_eq!(b.ncut, min);
        assert!((ncut_direct(&w, n, &b.in_a) - b.ncut).abs() < 1e-6);
    }

    #[test]
    fn f32_thresholds_are_the_gpus_arithmetic() {
        // What `sweep.wgsl` computes, written out in f32 literals: the generic version must equal
        // it bit for bit (the GPU tree reports these thresholds).
        assert_eq!(SPAN as f32, 0.99f32);
        let y: Vec<f32> = (0..37).map(|i| ((i as f32) * 0.37).sin() * 1e-2).collect();
        let lo = 0.99f32 * y.iter().copied().fold(f32::INFINITY, f32::min);
        let hi = 0.99f32 * y.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let step = (hi - lo) / 99.0f32;
        let want: Vec<f32> = (0..100)
            .map(|t| {
                if t < 50 {
                    lo + step * t as f32
                } else {
                    hi - step * (99 - t) as f32
                }
            })
            .collect();
        let got = thresholds(&y);
        assert!(got.iter().zip(&want).all(|(a, b)| a.to_bits() == b.to_bits()));
    }

    #[test]
    fn two_nodes_split_when_2a_over_1_plus_a_is_small() {
        // docs/ALGORITHM.md §4.3: with self-loops a 2-node region has NCut 2a/(1+a).
        let a = 0.25f32;
        let w = [1.0, a, a, 1.0];
        let d = [1.25, 1.25];
        let b = best_cut(&w, &d, &[1.0, -1.0]);
        assert!((b.ncut - 2.0 * 0.25 / 1.25).abs() < 1e-12);
        assert_eq!(b.in_a, vec![true, false]);
    }
}
