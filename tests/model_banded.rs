//! The VAE encoder on row bands (src/model/banded.rs) against the unbanded computation: the
//! band ops against the plain ops on random data, and the whole encoder with tiny band budgets
//! against one band and against diffusers' latents of the fixture models, on burn-flex (CPU) and
//! wgpu (lavapipe in CI). `cargo bench --bench vae_bands` times the full-size encoder.
#![cfg(feature = "model")]

mod common;

use common::{cpu, expected, fixture, gpu, rel_err};

use std::path::Path;

use burn::tensor::activation::silu;
use burn::tensor::{Device, Tensor, TensorData};
use diffcut::model::banded::{self, band_rows, Bands, RowSource, BAND_BYTES};
use diffcut::model::layers;
use diffcut::model::vae::VaeEncoder;
use diffcut::model::weights::WeightStore;
use diffcut::model::{read_f32, Manifest, ModelConfig};

fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    pollster::block_on(read_f32(t)).unwrap()
}

/// `offset + scale · U[−1, 1]` of shape `dims`.
fn random(dims: [usize; 4], seed: u64, offset: f32, scale: f32, device: &Device) -> Tensor<4> {
    let v: Vec<f32> = diffcut::synth::uniform(dims.iter().product(), seed)
        .into_iter()
        .map(|x| offset + scale * x)
        .collect();
    Tensor::from_data(TensorData::new(v, dims), device)
}

/// A store holding `tensors` (F32), built from one safetensors shard.
fn store(tensors: &[(String, Vec<usize>, Vec<f32>)], device: &Device) -> WeightStore {
    let bytes: Vec<Vec<u8>> = tensors
        .iter()
        .map(|(_, _, v)| v.iter().flat_map(|x| x.to_le_bytes()).collect())
        .collect();
    let views: Vec<(String, safetensors::tensor::TensorView)> = tensors
        .iter()
        .zip(&bytes)
        .map(|((k, shape, _), b)| {
            (
                k.clone(),
                safetensors::tensor::TensorView::new(safetensors::Dtype::F32, shape.clone(), b).unwrap(),
            )
        })
        .collect();
    let shard = safetensors::serialize(views, None).unwrap();
    let mut store = WeightStore::new(device, false);
    store.add_shard("test.safetensors", &shard).unwrap();
    store
}

/// A conv's `weight` and `bias` under `key`, with weights of a sensible scale.
fn conv_tensors(key: &str, c_in: usize, c_out: usize, k: usize, seed: u64) -> Vec<(String, Vec<usize>, Vec<f32>)> {
    let fan_in = (c_in * k * k) as f32;
    let w = diffcut::synth::uniform(c_out * c_in * k * k, seed)
        .into_iter()
        .map(|x| x / fan_in.sqrt())
        .collect();
    vec![
        (format!("{key}.weight"), vec![c_out, c_in, k, k], w),
        (
            format!("{key}.bias"),
            vec![c_out],
            diffcut::synth::uniform(c_out, seed + 1),
        ),
    ]
}

/// A `VaeEncoder` loaded straight from a model folder (every shard is uploaded; the store is not
/// finished, so the UNet's tensors are simply left in it).
fn load_vae(dir: &Path, device: &Device, host_dequantize: bool) -> (VaeEncoder, ModelConfig) {
    let manifest = Manifest::from_json(&std::fs::read(dir.join("manifest.json")).unwrap()).unwrap();
    let config = ModelConfig::from_json(&std::fs::read(dir.join(&manifest.config)).unwrap()).unwrap();
    let mut store = WeightStore::new(device, host_dequantize);
    for shard in manifest.shards() {
        let bytes = std::fs::read(dir.join(&shard.name)).unwrap();
        store.add_shard(&shard.name, &bytes).unwrap();
    }
    let vae = VaeEncoder::load(&mut store, &config.vae).unwrap();
    (vae, config)
}

// ---- band bookkeeping -------------------------------------------------------------------------

#[test]
fn band_rows_cover_the_height_within_the_budget() {
    assert_eq!(BAND_BYTES, 32 << 20);
    // S = 1024, VAE level 0 (128 channels): 16 bands of 64 rows, 32 MiB each.
    assert_eq!(band_rows(1024, 128 * 1024 * 4, BAND_BYTES, true), vec![64; 16]);
    // S/8 = 128 at 512 channels is exactly 32 MiB: one band.
    assert_eq!(band_rows(128, 512 * 128 * 4, BAND_BYTES, false), vec![128]);
    assert_eq!(band_rows(16, 2048, 7168, false), vec![3, 3, 3, 3, 2, 2]);
    for even in [false, true] {
        let unit = if even { 2 } else { 1 };
        for height in 1..=70 {
            for row_bytes in [1, 3, 64] {
                for budget in [0, 1, 5, 64, 100, 190, 1 << 20] {
                    let rows = band_rows(height, row_bytes, budget, even);
                    let what = format!("height {height}, row {row_bytes} B, budget {budget} B, even {even}: {rows:?}");
                    assert_eq!(rows.iter().sum::<usize>(), height, "{what}");
                    assert!(rows.iter().all(|&r| r > 0), "{what}");
                    let most = ((budget / row_bytes) / unit * unit).max(unit);
                    assert!(rows.iter().all(|&r| r <= most), "{what}");
                    if even {
                        assert!(rows[..rows.len() - 1].iter().all(|r| r % 2 == 0), "{what}");
                    }
                    // As few bands as the budget allows, as equal as possible.
                    assert_eq!(rows.len(), height.div_ceil(unit).div_ceil(most / unit), "{what}");
                    let (lo, hi) = (rows.iter().min().unwrap(), rows.iter().max().unwrap());
                    assert!(hi - lo <= unit || rows.last() == Some(lo), "{what}");
                }
            }
        }
    }
}

#[test]
fn bands_split_join_and_reband_exactly() {
    let device = cpu();
    let t = random([2, 3, 37, 5], 7, 0.0, 1.0, &device);
    let want = values(t.clone());
    let b = Bands::from_tensor_rows(t.clone(), &[5, 1, 13, 2, 16]);
    assert_eq!(b.rows(), vec![5, 1, 13, 2, 16]);
    assert_eq!(b.dims(), [2, 3, 37, 5]);
    assert_eq!(values(b.clone().into_tensor()), want);
    let mut b = b;
    for rows in [
        vec![10, 10, 17],
        vec![37],
        vec![1; 37],
        vec![36, 1],
        vec![2, 3, 5, 7, 11, 9],
    ] {
        b = b.rebanded(&rows);
        assert_eq!(b.rows(), rows);
        assert_eq!(values(b.clone().into_tensor()), want, "rebanded to {rows:?}");
    }
    // From a budget: 2·3·5·4 = 120 bytes per row.
    let b = Bands::from_tensor(t.clone(), 120 * 6);
    assert_eq!(b.rows(), vec![6, 6, 6, 6, 6, 4, 3]);
    assert!(b.max_band_bytes() <= 120 * 6);
    assert_eq!(values(b.clone().into_tensor()), want);
    assert_eq!(
        values(b.clone().scale(2.0).add_bands(b).into_tensor()),
        want.iter().map(|v| 3.0 * v).collect::<Vec<_>>()
    );
}

// ---- band ops against the plain ops -----------------------------------------------------------

/// GroupNorm in f64 on the host (two-pass), for `[b, c, h, w]` row-major values.
fn group_norm_f64(x: &[f32], [b, c, h, w]: [usize; 4], g: usize, eps: f64, gamma: &[f32], beta: &[f32]) -> Vec<f32> {
    let per = (c / g) * h * w;
    let mut out = vec![0f32; x.len()];
    for (i, chunk) in x.chunks(per).enumerate() {
        let mean = chunk.iter().map(|&v| v as f64).sum::<f64>() / per as f64;
        let var = chunk.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / per as f64;
        for (j, &v) in chunk.iter().enumerate() {
            let ch = (i % g) * (c / g) + j / (h * w);
            out[i * per + j] = (((v as f64 - mean) / (var + eps).sqrt()) * gamma[ch] as f64 + beta[ch] as f64) as f32;
        }
    }
    let _ = b;
    out
}

fn group_norm_matches(device: &Device) {
    let (c, g, eps) = (12, 4, 1e-6);
    let gamma: Vec<f32> = diffcut::synth::uniform(c, 3)
        .into_iter()
        .map(|x| 1.0 + 0.5 * x)
        .collect();
    let beta = diffcut::synth::uniform(c, 4);
    let tensors = vec![
        ("gn.weight".to_string(), vec![c], gamma.clone()),
        ("gn.bias".to_string(), vec![c], beta.clone()),
    ];
    let plain = layers::GroupNorm::load(&mut store(&tensors, device), "gn", g, c, eps).unwrap();
    let band = banded::GroupNorm::load(&mut store(&tensors, device), "gn", g, c, eps).unwrap();
    // An offset mean (|mean| several times the spread) and uneven bands, one of a single row.
    for (offset, rows) in [
        (3.0, vec![5, 1, 13, 2, 16]),
        (0.0, vec![37]),
        (-20.0, vec![1; 37]),
        (0.5, vec![36, 1]),
    ] {
        let x = random([1, c, 37, 19], 11, offset, 0.7, device);
        let want = values(plain.forward(x.clone()));
        let whole = values(band.forward(x.clone()));
        let e = rel_err(&whole, &want);
        assert!(e <= 1e-7, "whole-tensor GroupNorm vs layers::GroupNorm: rel err {e}");
        let exact = group_norm_f64(&values(x.clone()), [1, c, 37, 19], g, eps, &gamma, &beta);
        let got = values(
            band.forward_bands(Bands::from_tensor_rows(x.clone(), &rows))
                .into_tensor(),
        );
        let e = rel_err(&got, &want);
        let (e_band, e_plain) = (rel_err(&got, &exact), rel_err(&want, &exact));
        eprintln!("GroupNorm offset {offset}, bands {rows:?}: banded vs layers {e:.2e}; vs f64: banded {e_band:.2e}, layers {e_plain:.2e}");
        // Both are f32 computations a few 1e-6 from the exact value (with |mean| = 20·std the mean's
        // own f32 rounding is ~5e-6 of std); the banded one is no worse than layers::GroupNorm.
        if offset.abs() <= 3.0 {
            assert!(
                e <= 5e-6,
                "banded GroupNorm (offset {offset}, bands {rows:?}) vs layers::GroupNorm: rel err {e}"
            );
        }
        // The floor: at |mean| = 30 times the spread (offset −20, spread 0.7), one f32 rounding
        // of the mean alone is 2⁻²⁴·30 ≈ 1.8e-6 of the spread, whatever sums it; merging 37
        // bands' statistics one by one (Chan) rounds it a few more times.
        let floor = 3e-6;
        assert!(
            e_band <= e_plain.max(floor) * 1.5,
            "banded GroupNorm (offset {offset}, bands {rows:?}) is {e_band:.2e} from f64, layers::GroupNorm {e_plain:.2e}"
        );
        // The statistics streamed band by band (Chan's merge), as the recomputing VAE block uses them.
        let mut acc = None;
        for t in Bands::from_tensor_rows(x.clone(), &rows).bands() {
            band.accumulate(&mut acc, t);
        }
        let stats = band.stats_from(acc);
        let streamed = values(band.normalize(&stats, x.clone()));
        let e_stream = rel_err(&streamed, &exact);
        eprintln!("  streamed statistics vs f64: {e_stream:.2e}");
        assert!(
            e_stream <= e_plain.max(floor) * 1.5,
            "streamed GroupNorm statistics (offset {offset}, bands {rows:?}) are {e_stream:.2e} from f64, layers::GroupNorm {e_plain:.2e}"
        );
    }
}

#[test]
fn group_norm_on_bands_matches_layers_group_norm_on_the_cpu() {
    group_norm_matches(&cpu());
}

#[test]
fn group_norm_on_bands_matches_layers_group_norm_on_wgpu() {
    group_norm_matches(&gpu());
}

fn convs_match(device: &Device) {
    let (c_in, c_out) = (6, 5);
    let mut tensors = conv_tensors("c3", c_in, c_out, 3, 21);
    tensors.extend(conv_tensors("c1", c_in, c_out, 1, 23));
    tensors.extend(conv_tensors("down", c_in, c_in, 3, 25));
    let mut s = store(&tensors, device);
    let plain3 = layers::Conv2d::load(&mut s, "c3", c_in, c_out, 3, 1, 1).unwrap();
    let plain1 = layers::Conv2d::load(&mut s, "c1", c_in, c_out, 1, 1, 0).unwrap();
    let plain_down = layers::Conv2d::load_padded(&mut s, "down", c_in, c_in, 3, 2, [(0, 1), (0, 1)]).unwrap();
    let mut s = store(&tensors, device);
    let conv3 = banded::Conv2d::load(&mut s, "c3", c_in, c_out, 3).unwrap();
    let conv1 = banded::Conv2d::load(&mut s, "c1", c_in, c_out, 1).unwrap();
    let down = banded::Conv2d::load(&mut s, "down", c_in, c_in, 3).unwrap();

    let x = random([1, c_in, 23, 17], 31, 0.2, 1.0, device);
    let want3 = values(plain3.forward(x.clone()));
    let want3_silu = values(plain3.forward(silu(x.clone())));
    let want1 = values(plain1.forward(x.clone()));
    assert!(rel_err(&values(conv3.forward(x.clone())), &want3) <= 1e-7);
    for rows in [vec![4, 1, 7, 2, 9], vec![23], vec![1; 23], vec![22, 1], vec![1, 22]] {
        let b = || Bands::from_tensor_rows(x.clone(), &rows);
        let y = conv3.forward_bands(b());
        assert_eq!(y.rows(), rows);
        let e = rel_err(&values(y.into_tensor()), &want3);
        assert!(e <= 1e-6, "3×3 conv on bands {rows:?}: rel err {e}");
        let y = conv3.forward_bands_with(b(), silu, |_, y| y);
        let e = rel_err(&values(y.into_tensor()), &want3_silu);
        assert!(e <= 1e-6, "3×3 conv of SiLU on bands {rows:?}: rel err {e}");
        let e = rel_err(&values(conv1.forward_bands(b()).into_tensor()), &want1);
        assert!(e <= 1e-6, "1×1 conv on bands {rows:?}: rel err {e}");
        // Any output rows, read across bands (the first and last rows take the zero padding).
        let src = RowSource::new(b());
        let w = conv3.weight_value();
        for (start, len) in [(0, 1), (0, 23), (3, 6), (21, 2), (22, 1), (10, 1)] {
            let got = values(conv3.forward_rows(&w, &src, start, len, silu));
            let want = values(plain3.forward(silu(x.clone())).narrow(2, start, len));
            let e = rel_err(&got, &want);
            assert!(
                e <= 1e-6,
                "3×3 conv rows {start}+{len} from bands {rows:?}: rel err {e}"
            );
        }
    }
    // Dropped bands are gone; the rest can still be read.
    let mut src = RowSource::new(Bands::from_tensor_rows(x.clone(), &[4, 1, 7, 2, 9]));
    src.drop_rows_before(5);
    assert_eq!(values(src.rows(5, 23)), values(x.clone().narrow(2, 5, 18)));
    let dropped = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| src.rows(4, 6)));
    assert!(dropped.is_err(), "a dropped band was read");

    // The downsample, on odd and even heights; bands start at even rows.
    for (h, cases) in [
        (
            23,
            vec![
                vec![4, 2, 8, 9],
                vec![6, 16, 1],
                vec![2; 11].into_iter().chain([1]).collect(),
                vec![23],
            ],
        ),
        (22, vec![vec![4, 2, 10, 6], vec![2; 11], vec![20, 2], vec![22]]),
    ] {
        let x = random([1, c_in, h, 17], 41 + h as u64, -0.1, 1.0, device);
        let want = values(plain_down.forward(x.clone()));
        assert!(rel_err(&values(down.downsample(x.clone())), &want) <= 1e-7);
        for rows in cases {
            let y = down.downsample_bands(Bands::from_tensor_rows(x.clone(), &rows));
            let halved: Vec<usize> = rows.iter().map(|r| r / 2).filter(|&r| r > 0).collect();
            assert_eq!(y.rows(), halved);
            assert_eq!(y.dims(), [1, c_in, h / 2, 8]);
            let e = rel_err(&values(y.into_tensor()), &want);
            assert!(e <= 1e-6, "downsample on bands {rows:?} of height {h}: rel err {e}");
        }
    }
}

#[test]
fn convs_and_downsample_on_bands_match_the_plain_convs_on_the_cpu() {
    convs_match(&cpu());
}

#[test]
fn convs_and_downsample_on_bands_match_the_plain_convs_on_wgpu() {
    convs_match(&gpu());
}

// ---- the VAE on bands ------------------------------------------------------------------------

/// Budgets that cut the fixtures' levels into ≥ 4 bands each (1 byte: the thinnest bands, 2 rows
/// on the downsampling levels and 1 at the last; 7 KiB for ssd-tiny and 8 KiB for sdxl-tiny: bands
/// of 3 and 2 rows at the last level) and a looser one (fewer, unequal bands).
const BUDGETS: [usize; 4] = [1, 7 << 10, 8 << 10, 50 << 10];

fn vae_matches(model: &str, device: &Device) {
    let (vae, _) = load_vae(&fixture(model).join("f32"), device, false);
    let (shape, input) = expected(model, "image_input.npy");
    let (_, want_latent) = expected(model, "latent.npy");
    let dims = [shape[0], shape[1], shape[2], shape[3]];
    let x = || Tensor::<4>::from_data(TensorData::new(input.clone(), dims), device);

    let one_band = vae.band_plan(dims[0], dims[2], dims[3], usize::MAX);
    assert!(one_band.iter().all(|rows| rows.len() == 1), "{one_band:?}");
    let reference = values(vae.encode_with_budget(x(), usize::MAX));
    let e = rel_err(&reference, &want_latent);
    assert!(e < 1e-4, "{model}: unbanded VAE vs diffusers' latent: rel err {e}");
    // The fixtures fit the default budget: encode() is the one-band computation.
    assert_eq!(
        values(vae.encode(x())),
        reference,
        "{model}: encode() at the default budget"
    );

    let mut odd = false;
    for budget in BUDGETS {
        let plan = vae.band_plan(dims[0], dims[2], dims[3], budget);
        if budget < 50 << 10 {
            assert!(
                plan.iter().all(|rows| rows.len() >= 4),
                "{model}, budget {budget}: {plan:?}"
            );
        }
        odd |= plan.iter().any(|rows| rows.iter().any(|r| r % 2 == 1));
        let got = values(vae.encode_with_budget(x(), budget));
        let e = rel_err(&got, &reference);
        eprintln!(
            "{model}, budget {budget} B, bands per level {:?}: rel err vs one band {e:.2e}, vs diffusers {:.2e} (one band: {:.2e})",
            plan.iter().map(Vec::len).collect::<Vec<_>>(),
            rel_err(&got, &want_latent),
            rel_err(&reference, &want_latent),
        );
        assert!(
            e <= 1e-5,
            "{model}: banded VAE (budget {budget} B, bands {plan:?}) vs unbanded: rel err {e}"
        );
        let e = rel_err(&got, &want_latent);
        assert!(
            e < 1e-4,
            "{model}: banded VAE (budget {budget} B) vs diffusers' latent: rel err {e}"
        );
        // Every ResNet block recomputing its inner activation instead of keeping it.
        let got = values(vae.encode_with_budgets(x(), budget, 0));
        let (e, e_diffusers) = (rel_err(&got, &reference), rel_err(&got, &want_latent));
        eprintln!(
            "{model}, budget {budget} B, recomputing: rel err vs one band {e:.2e}, vs diffusers {e_diffusers:.2e}"
        );
        assert!(
            e <= 1e-5,
            "{model}: recomputing VAE (budget {budget} B) vs unbanded: rel err {e}"
        );
        assert!(
            e_diffusers < 1e-4,
            "{model}: recomputing VAE (budget {budget} B) vs diffusers: rel err {e_diffusers}"
        );
    }
    let e = rel_err(&values(vae.encode_with_budgets(x(), usize::MAX, 0)), &reference);
    assert!(
        e <= 1e-5,
        "{model}: recomputing VAE on one band per level vs keeping: rel err {e}"
    );
    assert!(odd, "{model}: no budget gave a band of an odd size");
}

#[test]
fn banded_vae_matches_unbanded_and_diffusers_on_the_cpu() {
    vae_matches("ssd-tiny", &cpu());
    vae_matches("sdxl-tiny", &cpu());
}

#[test]
fn banded_vae_matches_unbanded_and_diffusers_on_wgpu() {
    vae_matches("ssd-tiny", &gpu());
    vae_matches("sdxl-tiny", &gpu());
}
