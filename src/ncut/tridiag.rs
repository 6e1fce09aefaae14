//! The symmetric tridiagonal eigenproblem that Lanczos reduces to, in `f64`.
//!
//! `T` (k×k) has diagonal `a[0..k]` and off-diagonal `b[0..k-1]`. Lanczos needs only its largest
//! eigenpair, so we use Sturm-sequence bisection for the eigenvalue (robust, O(k) per step) and
//! inverse iteration with a pivoted tridiagonal LU for the eigenvector (O(k)).

/// Number of eigenvalues of `T` strictly less than `x` (Sturm count of `T − xI`).
fn count_below(a: &[f64], b: &[f64], x: f64) -> usize {
    let mut count = 0;
    let mut q = 1.0f64;
    for i in 0..a.len() {
        let b2 = if i == 0 { 0.0 } else { b[i - 1] * b[i - 1] };
        q = a[i] - x - if i == 0 { 0.0 } else { b2 / q };
        if q == 0.0 {
            // Perturb a zero pivot; the count is unaffected for almost every x.
            q = f64::EPSILON * (a[i].abs() + x.abs() + 1.0);
        }
        if q < 0.0 {
            count += 1;
        }
    }
    count
}

/// Gershgorin bounds `[lo, hi]` containing every eigenvalue of `T`.
fn gershgorin(a: &[f64], b: &[f64]) -> (f64, f64) {
    let k = a.len();
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for i in 0..k {
        let r = if i > 0 { b[i - 1].abs() } else { 0.0 } + if i + 1 < k { b[i].abs() } else { 0.0 };
        lo = lo.min(a[i] - r);
        hi = hi.max(a[i] + r);
    }
    (lo, hi)
}

/// The `j`-th smallest eigenvalue of `T` (0-based), by bisection to full `f64` precision.
pub fn eigenvalue(a: &[f64], b: &[f64], j: usize) -> f64 {
    assert!(j < a.len() && b.len() + 1 == a.len());
    let (mut lo, mut hi) = gershgorin(a, b);
    let pad = f64::EPSILON * (lo.abs().max(hi.abs()) + 1.0);
    lo -= pad;
    hi += pad;
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if mid <= lo || mid >= hi {
            break;
        }
        if count_below(a, b, mid) > j {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    0.5 * (lo + hi)
}

/// Unit eigenvector of `T` for the eigenvalue `lambda` (inverse iteration, 3 sweeps, with a
/// partially pivoted LU of `T − λI`, as LAPACK's `dgttrf`/`dgttrs` do).
pub fn eigenvector(a: &[f64], b: &[f64], lambda: f64) -> Vec<f64> {
    let k = a.len();
    if k == 1 {
        return vec![1.0];
    }
    let scale = a
        .iter()
        .chain(b)
        .fold(0.0f64, |m, v| m.max(v.abs()))
        .max(f64::MIN_POSITIVE);
    // Shift slightly off the eigenvalue so the factorisation is non-singular but nearly so:
    // that is what makes inverse iteration converge in one or two steps.
    let shift = lambda + scale * 1e-13;
    // LU of the tridiagonal T − shift·I with row interchanges: U has 3 diagonals (d, du, du2).
    let mut d: Vec<f64> = a.iter().map(|v| v - shift).collect();
    let mut dl: Vec<f64> = b.to_vec();
    let mut du: Vec<f64> = b.to_vec();
    let mut du2 = vec![0.0f64; k.saturating_sub(2)];
    let mut swap = vec![false; k - 1];
    for i in 0..k - 1 {
        if d[i].abs() >= dl[i].abs() {
            // No interchange.
            if d[i] == 0.0 {
                d[i] = scale * f64::EPSILON;
            }
            let f = dl[i] / d[i];
            dl[i] = f;
            d[i + 1] -= f * du[i];
        } else {
            // Interchange rows i and i+1.
            swap[i] = true;
            let f = d[i] / dl[i];
            d[i] = dl[i];
            dl[i] = f;
            let tmp = du[i];
            du[i] = d[i + 1];
            d[i + 1] = tmp - f * d[i + 1];
            if i + 2 < k {
                du2[i] = du[i + 1];
                du[i + 1] *= -f;
            }
        }
    }
    if d[k - 1] == 0.0 {
        d[k - 1] = scale * f64::EPSILON;
    }
    // Start from a vector with every component present.
    let mut x: Vec<f64> = (0..k).map(|i| 1.0 + 0.1 * ((i * 7919) % 13) as f64).collect();
    for _ in 0..3 {
        // Forward: L y = P x.
        for i in 0..k - 1 {
            if swap[i] {
                let t = x[i];
                x[i] = x[i + 1];
                x[i + 1] = t - dl[i] * x[i];
            } else {
                x[i + 1] -= dl[i] * x[i];
            }
        }
        // Backward: U x = y.
        x[k - 1] /= d[k - 1];
        if k >= 2 {
            x[k - 2] = (x[k - 2] - du[k - 2] * x[k - 1]) / d[k - 2];
        }
        for i in (0..k.saturating_sub(2)).rev() {
            x[i] = (x[i] - du[i] * x[i + 1] - du2[i] * x[i + 2]) / d[i];
        }
        let norm = x.iter().map(|v| v * v).sum::<f64>().sqrt();
        if !(norm.is_finite() && norm > 0.0) {
            break;
        }
        x.iter_mut().for_each(|v| *v /= norm);
    }
    x
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ncut::dense::symmetric_eigen;

    fn dense(a: &[f64], b: &[f64]) -> Vec<f64> {
        let k = a.len();
        let mut m = vec![0.0; k * k];
        for i in 0..k {
            m[i * k + i] = a[i];
            if i + 1 < k {
                m[i * k + i + 1] = b[i];
                m[(i + 1) * k + i] = b[i];
            }
        }
        m
    }

    #[test]
    fn matches_the_dense_oracle() {
        let mut seed = 7u64;
        let mut rnd = || {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((seed >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0
        };
        for k in [1usize, 2, 3, 5, 17, 40] {
            let a: Vec<f64> = (0..k).map(|_| rnd()).collect();
            let b: Vec<f64> = (0..k.saturating_sub(1)).map(|_| rnd()).collect();
            let (vals, vecs) = symmetric_eigen(&dense(&a, &b), k);
            for (j, want) in vals.iter().enumerate() {
                let l = eigenvalue(&a, &b, j);
                assert!((l - want).abs() < 1e-12, "k={k} j={j}: {l} vs {want}");
            }
            let top = eigenvalue(&a, &b, k - 1);
            let v = eigenvector(&a, &b, top);
            let dot: f64 = (0..k).map(|i| v[i] * vecs[i * k + (k - 1)]).sum();
            assert!((dot.abs() - 1.0).abs() < 1e-9, "k={k}: |<v, oracle>| = {}", dot.abs());
        }
    }

    #[test]
    fn handles_zero_off_diagonals_and_repeated_eigenvalues() {
        let a = [2.0, 2.0, 1.0];
        let b = [0.0, 0.0];
        assert!((eigenvalue(&a, &b, 0) - 1.0).abs() < 1e-15);
        assert!((eigenvalue(&a, &b, 2) - 2.0).abs() < 1e-15);
        let v = eigenvector(&a, &b, 1.0);
        assert!((v[2].abs() - 1.0).abs() < 1e-12, "{v:?}");
    }
}
