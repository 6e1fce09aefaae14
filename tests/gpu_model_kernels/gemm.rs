//! Our GEMM (src/gpu/gemm/) on burn's wgpu device (lavapipe in CI): its convolutions against the
//! CPU's direct convolution `model::host::conv2d_direct` (itself checked against burn's convolution), its matrix
//! products against burn's matmul on the CPU, on the models' shapes and on the edges of the tiling.
use crate::common::{cpu, gpu};
use burn::tensor::{Device, Tensor, TensorData};
use diffcut::gpu::gemm;
use diffcut::model::host;

fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().convert::<f32>().try_to_vec::<f32>().unwrap()
}

fn tensor<const D: usize>(shape: [usize; D], seed: u64, device: &Device) -> Tensor<D> {
    let n = shape.iter().product();
    Tensor::from_data(TensorData::new(diffcut::synth::uniform(n, seed), shape), device)
}

/// `(batch, c_in, h, w, c_out, kernel, stride, padding)`.
type Case = (usize, usize, usize, usize, usize, usize, usize, [(usize, usize); 2]);

/// Runs `case` on both devices (the same values) and returns the largest difference over the
/// bound `1e-5 · C_in·k²` (f32 sums of that many products of values in [−1, 1) in another order).
/// `transposed`: x reaches the kernel as a strided view (H and W swapped back from a transposed
/// copy), so the kernel reads through burn's strides rather than a contiguous buffer.
fn check(i: usize, &(b, c_in, h, w, c_out, k, stride, padding): &Case, transposed: bool) {
    let (cpu, gpu) = (cpu(), gpu());
    let seed = 100 * i as u64;
    let x_shape = if transposed { [b, c_in, w, h] } else { [b, c_in, h, w] };
    let x = |d: &Device| {
        let x = tensor(x_shape, seed, d);
        if transposed {
            x.swap_dims(2, 3)
        } else {
            x
        }
    };
    let weight = |d: &Device| tensor([c_out, c_in, k, k], seed + 1, d);
    let bias = |d: &Device| tensor([c_out], seed + 2, d);
    let want = host::conv2d_direct(x(&cpu), weight(&cpu), &bias(&cpu), stride, padding);
    let got = gemm::conv2d(&x(&gpu), &weight(&gpu), &bias(&gpu), stride, padding)
        .unwrap_or_else(|| panic!("case {i}: the kernel declined an f32 convolution on wgpu"));
    assert_eq!(got.dims(), want.dims(), "case {i}: shape");
    let (got, want) = (values(got), values(want));
    let bound = 1e-5 * (c_in * k * k) as f32;
    let worst = got.iter().zip(&want).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
    assert!(worst <= bound, "case {i}: max |gpu − cpu| = {worst} > {bound}");
    // Not all zeros or a stale buffer: the outputs vary as the reference's do.
    assert!(want.iter().any(|&v| v.abs() > 0.1), "case {i}: a degenerate reference");
}

#[test]
fn the_implicit_gemm_matches_the_cpu_convolution_on_every_geometry_the_models_use() {
    #[rustfmt::skip]
    let cases: [Case; 12] = [
        // The "same" 3×3 conv; a band's conv without vertical padding; the VAE's downsample
        // (padding bottom/right only) on a last band and on an inner band; a 1×1 shortcut; the
        // VAE's conv_out to 8 channels; ConvNeXt's 4×4 stride-4 stem.
        (1, 3, 7, 5, 4, 3, 1, [(1, 1), (1, 1)]),
        (1, 5, 9, 6, 3, 3, 1, [(0, 0), (1, 1)]),
        (1, 4, 8, 9, 4, 3, 2, [(0, 1), (0, 1)]),
        (1, 4, 9, 8, 2, 3, 2, [(0, 0), (0, 1)]),
        (2, 6, 5, 7, 5, 1, 1, [(0, 0), (0, 0)]),
        (1, 40, 12, 10, 8, 3, 1, [(1, 1), (1, 1)]),
        (1, 3, 16, 12, 8, 4, 4, [(0, 0), (0, 0)]),
        // A one-column map, a map smaller than the kernel's footprint.
        (1, 2, 6, 1, 3, 3, 1, [(1, 1), (1, 1)]),
        (1, 3, 2, 2, 2, 3, 1, [(1, 1), (1, 1)]),
        // The tiling's edges: channels across two channel tiles with a remainder (70 = 64 + 6), a
        // reduction of 333 taps (not a multiple of the step), pixels across several pixel tiles
        // and both items of a batch.
        (2, 37, 23, 19, 70, 3, 1, [(1, 1), (1, 1)]),
        (2, 16, 41, 37, 12, 3, 1, [(1, 1), (1, 1)]),
        (2, 8, 66, 50, 130, 3, 2, [(0, 1), (0, 1)]),
    ];
    for (i, case) in cases.iter().enumerate() {
        check(i, case, false);
    }
}

#[test]
fn the_implicit_gemm_reads_a_strided_input_through_its_strides() {
    check(0, &(1, 5, 13, 9, 7, 3, 1, [(1, 1), (1, 1)]), true);
    check(1, &(2, 3, 10, 17, 66, 3, 2, [(0, 1), (0, 1)]), true);
}

#[test]
fn the_implicit_gemm_declines_what_it_does_not_take() {
    let gpu = gpu();
    let x = tensor([1, 4, 6, 6], 1, &gpu);
    let bias = tensor([4], 2, &gpu);
    // A CPU tensor: the caller's CPU path is host::conv2d.
    let on_cpu = gemm::conv2d(
        &tensor([1, 4, 6, 6], 1, &cpu()),
        &tensor([4, 4, 3, 3], 3, &cpu()),
        &tensor([4], 2, &cpu()),
        1,
        [(1, 1), (1, 1)],
    );
    assert!(on_cpu.is_none(), "a CPU tensor went to the GPU kernel");
    // A weight that is not laid out row by row (its rows are the GEMM's).
    let weight = tensor([4, 4, 3, 3], 3, &gpu).swap_dims(0, 1);
    assert!(gemm::conv2d(&x, &weight, &bias, 1, [(1, 1), (1, 1)]).is_none());
    // A kernel larger than the padded map.
    let weight = tensor([4, 4, 9, 9], 3, &gpu);
    assert!(gemm::conv2d(&x, &weight, &bias, 1, [(1, 1), (1, 1)]).is_none());
}

/// `gpu::gemm::matmul` on wgpu against burn's matmul on the CPU, the same values: largest
/// difference within `1e-5 · K` (f32 sums of K products of values in [−1, 1) in another order).
fn check_matmul<const D: usize>(name: &str, a: impl Fn(&Device) -> Tensor<D>, b: impl Fn(&Device) -> Tensor<D>) {
    let (cpu, gpu) = (cpu(), gpu());
    let k = a(&cpu).dims()[D - 1];
    let want = a(&cpu).matmul(b(&cpu));
    let got = gemm::matmul(&a(&gpu), &b(&gpu)).unwrap_or_else(|| panic!("{name}: the kernel declined"));
    assert_eq!(got.dims(), want.dims(), "{name}: shape");
    let (got, want) = (values(got), values(want));
    let bound = 1e-5 * k as f32;
    let worst = got.iter().zip(&want).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
    assert!(worst <= bound, "{name}: max |gpu − cpu| = {worst} > {bound}");
    assert!(want.iter().any(|&v| v.abs() > 0.1), "{name}: a degenerate reference");
}

#[test]
fn the_gemm_matches_burns_matmul_for_linear_layers_and_attention() {
    // A Linear layer: x [M, K] · Wᵀ, the weight [N, K] read transposed (contiguous along K), and
    // a plain row-major product; sizes across tiles with remainders.
    check_matmul(
        "linear",
        |d| tensor([150, 70], 1, d),
        |d| tensor([90, 70], 2, d).transpose(),
    );
    check_matmul("row-major", |d| tensor([37, 70], 3, d), |d| tensor([70, 130], 4, d));
    // Attention's products on [B, heads, N, d] views: Q·Kᵀ with Q and K split into heads by
    // swap_dims (strided), then scores·V, over 2 × 3 batches.
    let split = |t: Tensor<3>| t.reshape([2, 45, 3, 16]).swap_dims(1, 2);
    check_matmul(
        "Q·Kᵀ",
        |d| split(tensor([2, 45, 48], 5, d)),
        |d| split(tensor([2, 45, 48], 6, d)).swap_dims(2, 3),
    );
    check_matmul(
        "scores·V",
        |d| tensor([2, 3, 45, 45], 7, d),
        |d| split(tensor([2, 45, 48], 8, d)),
    );
    // A block of query rows (a view that starts inside its buffer), one head.
    check_matmul(
        "rows of Q·Kᵀ",
        |d| split(tensor([2, 45, 48], 9, d)).narrow(2, 7, 20),
        |d| split(tensor([2, 45, 48], 10, d)).swap_dims(2, 3),
    );
}
