//! Attention's softmax kernel (src/gpu/softmax/) on burn's wgpu device (lavapipe in CI) against
//! the same softmax in f64 on the host and burn's on the CPU, on the models' row lengths and on
//! rows shorter than a workgroup.
use crate::common::{cpu, gpu};
use burn::tensor::activation::softmax;
use burn::tensor::{Tensor, TensorData};
use diffcut::gpu::softmax::scaled_softmax;

fn values(t: Tensor<4>) -> Vec<f32> {
    t.into_data().convert::<f32>().try_to_vec::<f32>().unwrap()
}

/// `[B, H, rows, keys]`, the spread of the scores and the scale: rows shorter than a workgroup;
/// lengths that are no multiple of it over two items; the UNet slice's 10 heads of 4096 keys
/// (scale 1/√64); the VAE's 16 384 keys (1/√512); scores of ±1000 whose exponentials overflow
/// unless the row's maximum is taken out first.
const CASES: [([usize; 4], f32, f32); 5] = [
    ([1, 1, 3, 5], 4.0, 0.5),
    ([2, 3, 7, 300], 20.0, 0.25),
    ([1, 10, 16, 4096], 40.0, 0.125),
    ([1, 1, 8, 16384], 60.0, 0.044194173),
    ([1, 2, 4, 1000], 1000.0, 1.0),
];

#[test]
fn the_softmax_kernel_matches_f64_and_burns_softmax() {
    let (cpu, gpu) = (cpu(), gpu());
    for (i, &(shape, spread, scale)) in CASES.iter().enumerate() {
        let n: usize = shape.iter().product();
        let x: Vec<f32> = diffcut::synth::uniform(n, 70 + i as u64)
            .iter()
            .map(|v| v * spread)
            .collect();
        let t = |d| Tensor::<4>::from_data(TensorData::new(x.clone(), shape), d);
        let got = values(scaled_softmax(&t(&gpu), scale).unwrap_or_else(|| panic!("case {i}: declined")));
        let burns = values(softmax(t(&cpu) * scale as f64, 3));
        let keys = shape[3];
        let (mut worst_f64, mut worst_burn) = (0f64, 0f32);
        for (r, row) in x.chunks(keys).enumerate() {
            let scaled: Vec<f64> = row.iter().map(|&v| (v * scale) as f64).collect();
            let m = scaled.iter().cloned().fold(f64::MIN, f64::max);
            let s: f64 = scaled.iter().map(|v| (v - m).exp()).sum();
            let mut total = 0f64;
            for (j, v) in scaled.iter().enumerate() {
                let (want, g) = ((v - m).exp() / s, got[r * keys + j]);
                assert!(g.is_finite(), "case {i}: row {r} value {j} is {g}");
                total += g as f64;
                // Relative, but for values f32 flushes towards zero (exp(−2000) in the last case).
                worst_f64 = worst_f64.max((g as f64 - want).abs() / (want + 1e-12));
                worst_burn = worst_burn.max((g - burns[r * keys + j]).abs());
            }
            assert!((total - 1.0).abs() < 1e-5, "case {i}: row {r} sums to {total}");
        }
        eprintln!("case {i} {shape:?}: max relative error vs f64 {worst_f64:.1e}, max |gpu − burn's| {worst_burn:.1e}");
        // f32's exp and division: a few ulps. (One key left out of a row's sum would be 1/keys.)
        assert!(worst_f64 < 1e-5, "case {i}: max relative error vs f64 = {worst_f64}");
        assert!(worst_burn < 1e-6, "case {i}: max |gpu − burn's| = {worst_burn}");
    }
}

#[test]
fn the_softmax_kernel_declines_what_it_does_not_take() {
    let x = Tensor::<4>::from_data(TensorData::new(vec![0.5f32; 24], [1, 2, 3, 4]), &gpu());
    // A strided view: the rows are not contiguous.
    assert!(scaled_softmax(&x.clone().swap_dims(2, 3), 1.0).is_none());
    assert!(scaled_softmax(&x.to_device(&cpu()), 1.0).is_none());
}
