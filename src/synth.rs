//! Synthetic feature grids for benchmarks and tests.
//!
//! A *smooth random field* (the input of BENCHMARKS.md): i.i.d. N(0, 1) per cell and
//! channel, each channel Gaussian-filtered over the two spatial axes with σ cells, exactly as
//! `scipy.ndimage.gaussian_filter(x, sigma=(σ, σ, 0))` does with its defaults (`truncate=4.0`,
//! `mode='reflect'`), in `f32`. `tests/reference/smooth_field.py` is the NumPy generator; the random
//! numbers differ (different generators), the statistics do not.

use crate::ncut::FeatureGrid;

/// xoshiro256** seeded by SplitMix64: small, fast, and stable across platforms.
struct Rng([u64; 4]);

impl Rng {
    fn new(seed: u64) -> Self {
        let mut z = seed;
        let mut next = || {
            z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut x = z;
            x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            x ^ (x >> 31)
        };
        Rng([next(), next(), next(), next()])
    }

    fn next_u64(&mut self) -> u64 {
        let s = &mut self.0;
        let out = s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        out
    }

    /// Uniform in (0, 1].
    fn uniform(&mut self) -> f64 {
        ((self.next_u64() >> 11) + 1) as f64 / (1u64 << 53) as f64
    }

    /// Standard normal pair (Box–Muller).
    fn normal_pair(&mut self) -> (f64, f64) {
        let (u, v) = (self.uniform(), self.uniform());
        let r = (-2.0 * u.ln()).sqrt();
        let t = std::f64::consts::TAU * v;
        (r * t.cos(), r * t.sin())
    }
}

/// scipy's `mode='reflect'` index: `(d c b a | a b c d | d c b a)`.
fn reflect(i: isize, n: usize) -> usize {
    let n = n as isize;
    let period = 2 * n;
    let mut m = i.rem_euclid(period);
    if m >= n {
        m = period - 1 - m;
    }
    m as usize
}

/// `n` values in [−1, 1) from a fixed linear congruential sequence (Knuth's MMIX constants):
/// cheap deterministic test inputs, the same on every machine.
pub fn uniform(n: usize, seed: u64) -> Vec<f32> {
    let step = |s: u64| s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    let mut s = step(seed);
    (0..n)
        .map(|_| {
            s = step(s);
            ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect()
}

/// The normalised 1-D Gaussian kernel scipy uses: radius `round(truncate·σ)`, `truncate = 4`.
pub fn gaussian_kernel(sigma: f64) -> Vec<f64> {
    let radius = (4.0 * sigma + 0.5) as isize;
    let k: Vec<f64> = (-radius..=radius)
        .map(|x| (-0.5 * (x * x) as f64 / (sigma * sigma)).exp())
        .collect();
    let s: f64 = k.iter().sum();
    k.into_iter().map(|v| v / s).collect()
}

/// Filters `[h, w, c]` data along axis `axis` (0 = rows, 1 = columns) with `kernel`.
fn filter_axis(x: &[f32], [h, w, c]: [usize; 3], axis: usize, kernel: &[f64]) -> Vec<f32> {
    let r = (kernel.len() / 2) as isize;
    let mut out = vec![0.0f32; x.len()];
    for y in 0..h {
        for xx in 0..w {
            for ch in 0..c {
                let mut acc = 0.0f64;
                for (t, &kv) in kernel.iter().enumerate() {
                    let o = t as isize - r;
                    let (yy, xs) = if axis == 0 {
                        (reflect(y as isize + o, h), xx)
                    } else {
                        (y, reflect(xx as isize + o, w))
                    };
                    acc += kv * f64::from(x[(yy * w + xs) * c + ch]);
                }
                out[(y * w + xx) * c + ch] = acc as f32;
            }
        }
    }
    out
}

/// A smooth random feature field `[h, w, c]` (see the module docs).
pub fn smooth_field(h: usize, w: usize, c: usize, sigma: f64, seed: u64) -> FeatureGrid {
    let mut rng = Rng::new(seed);
    let mut data = Vec::with_capacity(h * w * c + 1);
    while data.len() < h * w * c {
        let (a, b) = rng.normal_pair();
        data.push(a as f32);
        data.push(b as f32);
    }
    data.truncate(h * w * c);
    if sigma > 0.0 {
        let k = gaussian_kernel(sigma);
        data = filter_axis(&data, [h, w, c], 0, &k);
        data = filter_axis(&data, [h, w, c], 1, &k);
    }
    FeatureGrid { h, w, c, data }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reflect_matches_scipy() {
        // scipy 'reflect' on n = 4: index -1 → 0, -2 → 1, 4 → 3, 5 → 2, 8 → 0 (next period).
        let got: Vec<usize> = [-1, -2, 4, 5, 8, -5].iter().map(|&i| reflect(i, 4)).collect();
        assert_eq!(got, vec![0, 1, 3, 2, 0, 3]);
    }

    #[test]
    fn kernel_matches_scipy_weights() {
        // scipy.ndimage._gaussian_kernel1d(3, 0, 12): centre weight 0.1329845386, radius 12.
        let k = gaussian_kernel(3.0);
        assert_eq!(k.len(), 25);
        assert!((k[12] - 0.132_984_538_6).abs() < 1e-9, "{}", k[12]);
        assert!((k.iter().sum::<f64>() - 1.0).abs() < 1e-12);
    }

    #[test]
    fn field_is_deterministic_and_smooth() {
        let a = smooth_field(16, 16, 8, 3.0, 1);
        assert_eq!(a, smooth_field(16, 16, 8, 3.0, 1));
        assert_ne!(a, smooth_field(16, 16, 8, 3.0, 2));
        // Neighbouring cells are strongly correlated after σ = 3 smoothing.
        let (mut num, mut den) = (0.0f64, 0.0f64);
        for y in 0..16 {
            for x in 0..15 {
                for ch in 0..8 {
                    let p = f64::from(a.data[(y * 16 + x) * 8 + ch]);
                    let q = f64::from(a.data[(y * 16 + x + 1) * 8 + ch]);
                    num += p * q;
                    den += p * p;
                }
            }
        }
        assert!(num / den > 0.9, "lag-1 autocorrelation {}", num / den);
    }
}
