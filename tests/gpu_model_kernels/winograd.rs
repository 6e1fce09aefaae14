//! The Winograd convolution (src/gpu/winograd/: F(2×2, 3×3), the transforms around our GEMM) on
//! burn's wgpu device (lavapipe in CI), against the CPU's direct convolution `model::host::conv2d_direct`, on the
//! models' 3×3 shapes, odd maps (tiles hanging over the edge), batches, strided inputs and chunks
//! that split the tiles across many GEMM launches.
use crate::common::{cpu, gpu};
use burn::tensor::{Device, Tensor, TensorData};
use diffcut::gpu::winograd;
use diffcut::model::host;

fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().convert::<f32>().try_to_vec::<f32>().unwrap()
}

fn tensor<const D: usize>(shape: [usize; D], seed: u64, device: &Device) -> Tensor<D> {
    let n = shape.iter().product();
    Tensor::from_data(TensorData::new(diffcut::synth::uniform(n, seed), shape), device)
}

/// `(batch, c_in, h, w, c_out, padding)`, a 3×3 kernel at stride 1.
type Case = (usize, usize, usize, usize, usize, [(usize, usize); 2]);

/// Runs `case` by Winograd on wgpu and by `host::conv2d_direct` on the CPU (the same values) and checks
/// the largest difference against `1e-6 · Σ|w||x̂|` per output (about eight units of f32 rounding
/// of the sum of |products|, which is what the transforms' reordering can cost; lavapipe's worst
/// is a quarter of that; an output off by one product of the 9·C_in is off by ~1/(9·C_in) of that
/// sum, a thousand times the bound, and an output transform off by 0.1 % fails by 260–280×).
/// `transposed`: x reaches the kernels as a strided view. `chunk_bytes`: V's and M's budget.
fn check(name: &str, &(b, c_in, h, w, c_out, padding): &Case, transposed: bool, chunk_bytes: usize) {
    let (cpu, gpu) = (cpu(), gpu());
    let seed = name.bytes().map(u64::from).sum::<u64>();
    let x = |d: &Device| {
        if transposed {
            tensor([b, c_in, w, h], seed, d).swap_dims(2, 3)
        } else {
            tensor([b, c_in, h, w], seed, d)
        }
    };
    let weight = |d: &Device| tensor([c_out, c_in, 3, 3], seed + 1, d);
    let bias = |d: &Device| tensor([c_out], seed + 2, d);
    let want = host::conv2d_direct(x(&cpu), weight(&cpu), &bias(&cpu), 1, padding);
    // Σ |w| |x̂| per output: the same convolution of the absolute values (bias zero).
    let scale = host::conv2d_direct(x(&cpu).abs(), weight(&cpu).abs(), &(bias(&cpu) * 0.0), 1, padding);
    let got = winograd::conv2d_in_chunks(&x(&gpu), &weight(&gpu), &bias(&gpu), 1, padding, chunk_bytes)
        .unwrap_or_else(|| panic!("{name}: Winograd declined an f32 3×3 convolution on wgpu"));
    assert_eq!(got.dims(), want.dims(), "{name}: shape");
    let (got, want, scale) = (values(got), values(want), values(scale));
    let (worst, at) = got
        .iter()
        .zip(&want)
        .zip(&scale)
        .map(|((a, b), s)| (a - b).abs() / (1e-6 * s.max(1.0)))
        .zip(0..)
        .fold((0.0f32, 0), |best, (r, i)| if r > best.0 { (r, i) } else { best });
    assert!(
        worst <= 1.0,
        "{name}: |winograd − cpu| = {} at {at}, {worst}× the bound (Σ|w||x̂| = {})",
        (got[at] - want[at]).abs(),
        scale[at]
    );
    // Not all zeros or a stale buffer: the outputs vary as the reference's do.
    assert!(want.iter().any(|&v| v.abs() > 0.1), "{name}: a degenerate reference");
}

#[test]
fn winograd_matches_the_cpu_convolution_on_the_models_geometries() {
    #[rustfmt::skip]
    let cases: [(&str, Case); 6] = [
        // The "same" conv of the VAE and UNet (channels scaled down, the map not).
        ("same", (1, 32, 64, 64, 40, [(1, 1), (1, 1)])),
        // A band's conv: no vertical padding (the halo rows are in the band).
        ("band", (1, 48, 18, 40, 32, [(0, 0), (1, 1)])),
        // Odd maps: the last tile row and column hang over the edge by one.
        ("odd", (1, 32, 13, 9, 33, [(1, 1), (1, 1)])),
        ("odd band", (1, 32, 14, 11, 32, [(0, 0), (1, 1)])),
        // Two items, channels across the GEMM's tiles with remainders (70 = 64 + 6 out, 100 in).
        ("batch", (2, 100, 12, 17, 70, [(1, 1), (1, 1)])),
        // One output row (of an odd width): 33 tiles, for 32 output channels.
        ("one row", (1, 32, 1, 65, 32, [(1, 1), (1, 1)])),
    ];
    for (name, case) in &cases {
        check(name, case, false, winograd::CHUNK_BYTES);
    }
}

#[test]
fn winograd_in_small_chunks_gives_the_same_convolution() {
    // 2 × 7 × 9 = 126 tiles; 16 positions × 40 channels × 4 bytes = 2560 bytes a tile: chunks of
    // 1 tile, of 5 (not a divisor of a row of tiles), and of 128 (the GEMM's column tile: one).
    let case = (2, 32, 13, 17, 40, [(1, 1), (1, 1)]);
    for tiles in [1, 5, 128] {
        check(&format!("chunks of {tiles}"), &case, false, tiles * 2560);
    }
}

/// The chunking changes which launch computes a tile, never its sums (each output's products are
/// summed in the same order whatever the chunk): the same bits in chunks of 1 tile as in one.
#[test]
fn winograd_gives_the_same_bits_in_any_chunking() {
    let gpu = gpu();
    let x = tensor([2, 32, 13, 17], 7, &gpu);
    let weight = tensor([40, 32, 3, 3], 8, &gpu);
    let bias = tensor([40], 9, &gpu);
    let run = |bytes| values(winograd::conv2d_in_chunks(&x, &weight, &bias, 1, [(1, 1), (1, 1)], bytes).unwrap());
    let whole = run(winograd::CHUNK_BYTES);
    for tiles in [1, 5, 128] {
        let chunked = run(tiles * 2560);
        assert!(
            whole.iter().zip(&chunked).all(|(a, b)| a.to_bits() == b.to_bits()),
            "chunks of {tiles} tiles"
        );
    }
}

#[test]
fn winograd_reads_a_strided_input_through_its_strides() {
    check(
        "strided",
        &(1, 32, 11, 14, 36, [(1, 1), (1, 1)]),
        true,
        winograd::CHUNK_BYTES,
    );
    check("strided band", &(2, 40, 13, 6, 32, [(0, 0), (1, 1)]), true, 4 * 2560);
}

#[test]
fn winograd_declines_what_it_does_not_take() {
    let gpu = gpu();
    let x = tensor([1, 32, 16, 16], 1, &gpu);
    let weight = tensor([32, 32, 3, 3], 2, &gpu);
    let bias = tensor([32], 3, &gpu);
    let same = [(1, 1), (1, 1)];
    assert!(winograd::conv2d(&x, &weight, &bias, 1, same).is_some());
    // Stride 2 (the VAE's downsample), a 1×1 or 4×4 kernel, few channels in or out (conv_in,
    // conv_out), a CPU tensor, a weight not laid out row by row: all for the direct GEMM.
    assert!(winograd::conv2d(&x, &weight, &bias, 2, same).is_none());
    assert!(winograd::conv2d(&x, &tensor([32, 32, 1, 1], 2, &gpu), &bias, 1, [(0, 0); 2]).is_none());
    assert!(winograd::conv2d(&x, &tensor([32, 32, 4, 4], 2, &gpu), &bias, 1, same).is_none());
    let few = tensor([1, 4, 16, 16], 1, &gpu);
    assert!(winograd::conv2d(&few, &tensor([32, 4, 3, 3], 2, &gpu), &bias, 1, same).is_none());
    assert!(winograd::conv2d(&x, &tensor([8, 32, 3, 3], 2, &gpu), &tensor([8], 3, &gpu), 1, same).is_none());
    let on_cpu = |t: &Tensor<4>| Tensor::<4>::from_data(t.to_data(), &cpu());
    assert!(winograd::conv2d(
        &on_cpu(&x),
        &on_cpu(&weight),
        &Tensor::from_data(bias.to_data(), &cpu()),
        1,
        same
    )
    .is_none());
    let swapped = weight.clone().swap_dims(0, 1);
    assert!(winograd::conv2d(&x, &swapped, &bias, 1, same).is_none());
    // Fewer 2×2 output tiles (16 of an 8 × 8 map) than output channels (32); an empty batch; a
    // map smaller than the kernel's footprint.
    assert!(winograd::conv2d(&tensor([1, 32, 8, 8], 1, &gpu), &weight, &bias, 1, same).is_none());
    assert!(winograd::conv2d(&tensor([0, 32, 16, 16], 1, &gpu), &weight, &bias, 1, same).is_none());
    assert!(winograd::conv2d(&tensor([1, 32, 1, 1], 1, &gpu), &weight, &bias, 1, [(0, 0); 2]).is_none());
}
