//! The two inner loops everything else is made of, written so LLVM vectorises them, and compiled
//! three times on x86-64 (baseline, AVX2, AVX-512), picked at run time. The results
//! do not depend on the path taken (same association order: 64 independent lanes, then a fixed
//! pairwise reduction), so segmentations are identical on every machine.

/// Independent partial sums: four 16-wide vectors, enough to hide the add latency.
const LANES: usize = 64;

#[inline(always)]
fn dot_generic(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0.0f32; LANES];
    let (ac, bc) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let (ar, br) = (ac.remainder(), bc.remainder());
    for (x, y) in ac.zip(bc) {
        for l in 0..LANES {
            acc[l] = x[l].mul_add_fast(y[l], acc[l]);
        }
    }
    for (l, (x, y)) in ar.iter().zip(br).enumerate() {
        acc[l] = x.mul_add_fast(*y, acc[l]);
    }
    reduce(acc)
}

#[inline(always)]
fn reduce(acc: [f32; LANES]) -> f32 {
    let mut h = acc;
    let mut width = LANES / 2;
    while width > 0 {
        for l in 0..width {
            h[l] += h[l + width];
        }
        width /= 2;
    }
    h[0]
}

/// `a*b + c` written as a plain multiply-add: FMA contraction is not allowed by Rust, so both the
/// baseline and the AVX2 build compute the same rounded values (determinism across machines).
trait MulAddFast {
    fn mul_add_fast(self, b: f32, c: f32) -> f32;
}
impl MulAddFast for f32 {
    #[inline(always)]
    fn mul_add_fast(self, b: f32, c: f32) -> f32 {
        self * b + c
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn dot_avx512(a: &[f32], b: &[f32]) -> f32 {
    dot_generic(a, b)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn dot_avx2(a: &[f32], b: &[f32]) -> f32 {
    dot_generic(a, b)
}

/// `Σ a_i b_i` over the common length, in `f32` with 64 partial sums.
#[inline]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU supports AVX-512F, checked just above.
            return unsafe { dot_avx512(a, b) };
        }
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU supports AVX2, checked just above.
            return unsafe { dot_avx2(a, b) };
        }
    }
    dot_generic(a, b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_is_exact_on_small_integers_and_path_independent() {
        let a: Vec<f32> = (0..1000).map(|i| (i % 7) as f32 - 3.0).collect();
        let b: Vec<f32> = (0..1000).map(|i| (i % 5) as f32).collect();
        let want: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
        assert_eq!(dot(&a, &b), want);
        let c: Vec<f32> = (0..999).map(|i| (i as f32 * 0.37).sin()).collect();
        assert_eq!(dot(&c, &c).to_bits(), dot_generic(&c, &c).to_bits());
    }
}
