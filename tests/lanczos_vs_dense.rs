//! Lanczos against a dense f64 eigensolver on the graphs DiffCut builds.

use diffcut::ncut::affinity;
use diffcut::ncut::dense::symmetric_eigen;
use diffcut::ncut::lanczos::{fiedler, LanczosOptions};
use diffcut::synth::smooth_field;

#[test]
fn fiedler_matches_dense_eigh_on_affinity_graphs() {
    for (g, c, alpha, seed) in [
        (6usize, 16usize, 1.0f32, 1u64),
        (8, 64, 5.0, 2),
        (10, 128, 10.0, 3),
        (14, 256, 10.0, 4),
    ] {
        let f = smooth_field(g, g, c, 2.0, seed);
        let n = g * g;
        let a = affinity(&f.data, n, c, alpha).unwrap();
        let d: Vec<f64> = (0..n).map(|i| a.row(i).iter().map(|&v| f64::from(v)).sum()).collect();
        let lz = fiedler(&a.w, &d, LanczosOptions::default()).unwrap();
        // Oracle: L_sym = I − D^-1/2 W D^-1/2, dense, f64.
        let mut l = vec![0.0f64; n * n];
        for i in 0..n {
            for j in 0..n {
                let m = f64::from(a.w[i * n + j]) / (d[i] * d[j]).sqrt();
                l[i * n + j] = f64::from(u8::from(i == j)) - m;
            }
        }
        let (vals, vecs) = symmetric_eigen(&l, n);
        assert!(vals[0].abs() < 1e-9, "L_sym is singular");
        let gap = vals[2] - vals[1];
        assert!(
            (lz.lambda - vals[1]).abs() < 1e-6,
            "{g}²: λ₂ {} vs {}",
            lz.lambda,
            vals[1]
        );
        let y: Vec<f64> = (0..n).map(|i| vecs[i * n + 1] / d[i].sqrt()).collect();
        let dot = |p: &[f64], q: &[f64]| p.iter().zip(q).map(|(a, b)| a * b).sum::<f64>();
        let cos = dot(&lz.y, &y) / (dot(&lz.y, &lz.y) * dot(&y, &y)).sqrt();
        assert!(1.0 - cos.abs() < 1e-6, "{g}²: |cos| = {} (gap {gap})", cos.abs());
    }
}
