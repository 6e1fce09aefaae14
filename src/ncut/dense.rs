//! A dense symmetric eigensolver (cyclic Jacobi, `f64`): the **test oracle** for Lanczos and the
//! tridiagonal solver. Never used on the segmentation path: it costs O(n³) per sweep.

/// All eigenpairs of the symmetric `[n, n]` row-major matrix `m`.
///
/// Returns `(values, vectors)`: eigenvalues ascending, and `vectors[i * n + j]` = component `i`
/// of the unit eigenvector for `values[j]`.
pub fn symmetric_eigen(m: &[f64], n: usize) -> (Vec<f64>, Vec<f64>) {
    assert_eq!(m.len(), n * n, "symmetric_eigen: matrix must be n×n");
    let mut a = m.to_vec();
    let mut v = vec![0.0f64; n * n];
    for i in 0..n {
        v[i * n + i] = 1.0;
    }
    for _sweep in 0..100 {
        let off: f64 = (0..n)
            .flat_map(|i| (0..n).filter(move |&j| j != i).map(move |j| (i, j)))
            .map(|(i, j)| a[i * n + j] * a[i * n + j])
            .sum();
        let total: f64 = a.iter().map(|x| x * x).sum();
        if off <= 1e-30 * total.max(f64::MIN_POSITIVE) {
            break;
        }
        for p in 0..n {
            for q in p + 1..n {
                let apq = a[p * n + q];
                if apq == 0.0 {
                    continue;
                }
                // Rotation that zeroes a[p][q] (Golub & Van Loan, Algorithm 8.5.1).
                let theta = (a[q * n + q] - a[p * n + p]) / (2.0 * apq);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let t = if theta == 0.0 { 1.0 } else { t };
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                for k in 0..n {
                    let (akp, akq) = (a[k * n + p], a[k * n + q]);
                    a[k * n + p] = c * akp - s * akq;
                    a[k * n + q] = s * akp + c * akq;
                }
                for k in 0..n {
                    let (apk, aqk) = (a[p * n + k], a[q * n + k]);
                    a[p * n + k] = c * apk - s * aqk;
                    a[q * n + k] = s * apk + c * aqk;
                }
                for k in 0..n {
                    let (vkp, vkq) = (v[k * n + p], v[k * n + q]);
                    v[k * n + p] = c * vkp - s * vkq;
                    v[k * n + q] = s * vkp + c * vkq;
                }
            }
        }
    }
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&i, &j| a[i * n + i].total_cmp(&a[j * n + j]));
    let values = order.iter().map(|&i| a[i * n + i]).collect();
    let mut vectors = vec![0.0f64; n * n];
    for (jn, &jo) in order.iter().enumerate() {
        for i in 0..n {
            vectors[i * n + jn] = v[i * n + jo];
        }
    }
    (values, vectors)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diagonalises_a_known_matrix() {
        // [[2,1],[1,2]] has eigenpairs (1, [1,-1]/√2) and (3, [1,1]/√2).
        let (vals, vecs) = symmetric_eigen(&[2.0, 1.0, 1.0, 2.0], 2);
        assert!((vals[0] - 1.0).abs() < 1e-14 && (vals[1] - 3.0).abs() < 1e-14);
        assert!((vecs[0].abs() - 0.5f64.sqrt()).abs() < 1e-14);
        assert!((vecs[0] + vecs[2]).abs() < 1e-14, "first eigenvector is ±[1,-1]/√2");
    }
}
