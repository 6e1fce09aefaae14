//! GroupNorm's kernels (src/gpu/group_norm/) on burn's wgpu device (lavapipe in CI) against the
//! same sums and map taken in f64 on the host, on the models' shapes and on the edges of the
//! chunking (runs shorter than a chunk, remainders, several items).
use crate::common::{cpu, gpu};
use burn::backend::wgpu::{CubeTensor, Wgpu};
use burn::tensor::{Device, Tensor, TensorData};
use diffcut::gpu::group_norm;

fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().convert::<f32>().try_to_vec::<f32>().unwrap()
}

/// Values in [shift − 1, shift + 1): a mean away from zero, so that the centred sums matter.
fn data(n: usize, seed: u64, shift: f32) -> Vec<f32> {
    diffcut::synth::uniform(n, seed)
        .into_iter()
        .map(|v| v + shift)
        .collect()
}

fn tensor<const D: usize>(values: &[f32], shape: [usize; D], device: &Device) -> Tensor<D> {
    Tensor::from_data(TensorData::new(values.to_vec(), shape), device)
}

/// `[B, C, H, W]` and G: one run shorter than a chunk and not a multiple of 4; runs with a
/// remainder chunk over two items; the VAE's 128 channels in 32 groups; the UNet's 320 in 32.
const CASES: [([usize; 4], usize); 4] = [
    ([1, 8, 5, 7], 4),
    ([2, 32, 33, 65], 8),
    ([1, 128, 64, 64], 32),
    ([1, 320, 32, 32], 32),
];

/// Per-run sums in f64: (Σ x, Σ (x − mean_f32)²) with the run's mean rounded to f32 first, as the
/// kernel receives it.
fn reference_sums(x: &[f32], runs: usize) -> Vec<(f64, f64, f32)> {
    let len = x.len() / runs;
    x.chunks(len)
        .map(|r| {
            let s: f64 = r.iter().map(|&v| v as f64).sum();
            let mean = (s / len as f64) as f32;
            let sq: f64 = r.iter().map(|&v| (v as f64 - mean as f64).powi(2)).sum();
            (s, sq, mean)
        })
        .collect()
}

#[test]
fn group_sums_match_f64_sums_plain_and_centred() {
    let gpu = gpu();
    for (i, &(shape, g)) in CASES.iter().enumerate() {
        let [b, c, h, w] = shape;
        let x = data(b * c * h * w, 10 + i as u64, 3.0);
        let want = reference_sums(&x, b * g);
        let xt = tensor(&x, shape, &gpu);
        let plain = group_norm::sums(&xt, g, None).unwrap_or_else(|| panic!("case {i}: declined"));
        assert_eq!(plain.dims(), [b, g, 1], "case {i}");
        let means: Vec<f32> = want.iter().map(|w| w.2).collect();
        let centred = group_norm::sums(&xt, g, Some(&tensor(&means, [b, g, 1], &gpu))).unwrap();
        let len = (c / g * h * w) as f64;
        let (mut worst_plain, mut worst_centred) = (0f64, 0f64);
        for (k, ((p, q), w)) in values(plain).iter().zip(values(centred)).zip(&want).enumerate() {
            // f32 sums of `len` terms (≤ 4 and ≤ 1 in magnitude) in another order than f64's:
            // within 1e-6 of the largest possible sum, far below one term.
            let (e_plain, e_centred) = ((*p as f64 - w.0).abs(), (q as f64 - w.1).abs());
            assert!(e_plain <= 4.0 * len * 1e-6, "case {i} run {k}: Σx {p} vs {}", w.0);
            assert!(e_centred <= len * 1e-6, "case {i} run {k}: Σ(x − m)² {q} vs {}", w.1);
            worst_plain = worst_plain.max(e_plain / w.0.abs());
            worst_centred = worst_centred.max(e_centred / w.1);
            // The centred sum is the variance's: about len/3 for values uniform in [−1, 1) about m.
            assert!(
                (q as f64 / len - 1.0 / 3.0).abs() < 0.1,
                "case {i} run {k}: variance {}",
                q as f64 / len
            );
        }
        eprintln!(
            "case {i} {shape:?} G {g}: largest relative error Σx {worst_plain:.1e}, Σ(x − m)² {worst_centred:.1e}"
        );
    }
}

#[test]
fn group_norm_apply_matches_the_f64_map_with_and_without_silu() {
    let gpu = gpu();
    for (i, &(shape, g)) in CASES.iter().enumerate() {
        let [b, c, h, w] = shape;
        let x = data(b * c * h * w, 20 + i as u64, 0.5);
        let mean = data(b * g, 30 + i as u64, 0.0);
        let std: Vec<f32> = data(b * g, 40 + i as u64, 1.5);
        let gamma = data(c, 50 + i as u64, 1.0);
        let beta = data(c, 60 + i as u64, 0.0);
        for silu in [false, true] {
            let got = group_norm::apply(
                &tensor(&x, shape, &gpu),
                g,
                &tensor(&mean, [b, g, 1], &gpu),
                &tensor(&std, [b, g, 1], &gpu),
                &tensor(&gamma, [c], &gpu),
                &tensor(&beta, [c], &gpu),
                silu,
            )
            .unwrap_or_else(|| panic!("case {i}: declined"));
            assert_eq!(got.dims(), shape);
            let got = values(got);
            let (hw, len) = (h * w, c / g * h * w);
            let mut worst = 0f64;
            for (e, &v) in x.iter().enumerate() {
                let (bg, ch) = (e / len, (e / hw) % c);
                let mut y = (v as f64 - mean[bg] as f64) / std[bg] as f64 * gamma[ch] as f64 + beta[ch] as f64;
                if silu {
                    y /= 1.0 + (-y).exp();
                }
                worst = worst.max((got[e] as f64 - y).abs());
            }
            assert!(worst < 1e-5, "case {i} silu {silu}: max |gpu − f64| = {worst}");
        }
    }
}

/// A band of rows of a larger map (a narrowed view, as the VAE's bands often are) and a
/// transposed view: read through their strides, the same values as from contiguous copies.
#[test]
fn strided_inputs_give_the_values_of_contiguous_ones() {
    let gpu = gpu();
    // Rows of 64 values (256 bytes): a band starts at an offset WebGPU can bind, so burn keeps
    // the narrowed view a view rather than copying it.
    let (b, c, h, w, g) = (2, 16, 24, 64, 4);
    let x = data(b * c * h * w, 80, 1.0);
    let full = tensor(&x, [b, c, h, w], &gpu);
    let gamma = tensor(&data(c, 81, 1.0), [c], &gpu);
    let beta = tensor(&data(c, 82, 0.0), [c], &gpu);
    let views = [full.clone().narrow(2, 5, 11), full.clone().swap_dims(2, 3)];
    for (i, view) in views.into_iter().enumerate() {
        let primitive: CubeTensor = view.clone().try_into_primitive::<Wgpu>().unwrap();
        assert!(!primitive.is_contiguous(), "view {i} is a contiguous copy, not a view");
        let copy = Tensor::<4>::from_data(view.to_data(), &gpu);
        let stats = |t: &Tensor<4>| {
            let [_, c, h, w] = t.dims();
            let n = (c / g * h * w) as f64;
            let mean = group_norm::sums(t, g, None).expect("sums") / n;
            let std = (group_norm::sums(t, g, Some(&mean)).expect("centred sums") / n).sqrt();
            let y = group_norm::apply(t, g, &mean, &std, &gamma, &beta, true).expect("apply");
            (values(mean), values(std), values(y))
        };
        let (a, b) = (stats(&view), stats(&copy));
        // The same values in the same order: only the addresses differ.
        assert_eq!(a, b, "view {i}");
        assert!(a.2.iter().any(|&v| v.abs() > 0.1), "view {i}: a degenerate output");
    }
}

#[test]
fn the_group_norm_kernels_decline_what_they_do_not_take() {
    let (gpu, cpu) = (gpu(), cpu());
    let x = data(4 * 6 * 6, 1, 0.0);
    // A CPU tensor; groups that do not divide the channels.
    assert!(group_norm::sums(&tensor(&x, [1, 4, 6, 6], &cpu), 2, None).is_none());
    assert!(group_norm::sums(&tensor(&x, [1, 4, 6, 6], &gpu), 3, None).is_none());
    // A mean of the wrong shape; a mean that is x itself (two writable bindings of one buffer).
    let xt = tensor(&x, [1, 4, 6, 6], &gpu);
    assert!(group_norm::sums(&xt, 2, Some(&tensor(&[0.0; 4], [1, 4, 1], &gpu))).is_none());
    let same = tensor(&x[..2], [1, 2, 1], &gpu);
    let as_x = same.clone().reshape([1, 2, 1, 1]);
    assert!(group_norm::sums(&as_x, 2, Some(&same)).is_none());
    // apply: statistics or an affine map of the wrong shape, a CPU tensor, overlapping inputs.
    let stat = tensor(&[1.0; 2], [1, 2, 1], &gpu);
    let per_c = tensor(&[1.0; 4], [4], &gpu);
    assert!(group_norm::apply(
        &xt,
        2,
        &stat,
        &stat.clone().add_scalar(1.0),
        &per_c,
        &per_c.clone().add_scalar(0.0),
        true
    )
    .is_some());
    let wrong = tensor(&[1.0; 4], [1, 4, 1], &gpu);
    assert!(group_norm::apply(&xt, 2, &wrong, &stat, &per_c, &per_c.clone().add_scalar(0.0), true).is_none());
    assert!(group_norm::apply(
        &xt,
        2,
        &stat,
        &stat.clone().add_scalar(1.0),
        &tensor(&[1.0; 3], [3], &gpu),
        &per_c,
        true
    )
    .is_none());
    let cpu_stat = tensor(&[1.0; 2], [1, 2, 1], &cpu);
    assert!(group_norm::apply(&xt, 2, &cpu_stat, &stat, &per_c, &per_c.clone().add_scalar(0.0), true).is_none());
    // γ and β one tensor.
    assert!(group_norm::apply(&xt, 2, &stat, &stat.clone().add_scalar(1.0), &per_c, &per_c, true).is_none());
}
