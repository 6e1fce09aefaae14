//! The burn SSD-1B/SDXL encoder slice against diffusers, on the tiny random-weight models of
//! tests/fixtures/model/ (made by models/make_tiny.py: diffusers' own forward, float32, CPU), and
//! the loader's refusals of bad folders.
//!
//! CPU runs use burn-flex; GPU runs use burn's wgpu backend (lavapipe in CI), the same WGSL the
//! browser runs. The GPU tests fail loudly without an adapter (CI installs lavapipe).
#![cfg(feature = "model")]

mod common;

use common::{cpu, expected, fixture, gpu, rel_err};

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use burn::tensor::Device;
use diffcut::model::{read_f32, DiffusionModel, Noise};
use diffcut::{npy, Error};
use sha2::{Digest, Sha256};

fn noise(model: &str) -> Noise {
    let bytes = std::fs::read(fixture(model).join("noise.npy")).unwrap();
    let (shape, values) = npy::read_f32(&bytes, 4).unwrap();
    Noise::Values { shape, values }
}

fn image(model: &str) -> image::RgbImage {
    image::open(fixture(model).join("image.png")).unwrap().to_rgb8()
}

fn size(model: &str) -> u32 {
    let meta: serde_json::Value =
        serde_json::from_slice(&std::fs::read(fixture(model).join("expected/meta.json")).unwrap()).unwrap();
    meta["S"].as_u64().unwrap() as u32
}

/// Per-row cosine similarity (rows of `c` values): the minimum over rows.
fn min_row_cosine(a: &[f32], b: &[f32], c: usize) -> f64 {
    assert_eq!(a.len(), b.len());
    a.chunks(c)
        .zip(b.chunks(c))
        .map(|(x, y)| {
            let dot: f64 = x.iter().zip(y).map(|(&p, &q)| p as f64 * q as f64).sum();
            let nx: f64 = x.iter().map(|&p| (p as f64).powi(2)).sum::<f64>().sqrt();
            let ny: f64 = y.iter().map(|&q| (q as f64).powi(2)).sum::<f64>().sqrt();
            dot / (nx * ny).max(1e-30)
        })
        .fold(1.0, f64::min)
}

/// Runs the whole extractor and checks every traced stage against diffusers' tensors.
/// Returns the minimum per-token cosine of the features.
fn check_model(model: &str, dtype: &str, device: &Device, stage_tol: f64) -> f64 {
    let m = DiffusionModel::load_dir(&fixture(model).join(dtype), device, false)
        .unwrap_or_else(|e| panic!("{model}/{dtype}: {e}"));
    let s = size(model);
    let img = image(model);

    let input = DiffusionModel::preprocess(&img, s).unwrap();
    let (_, want) = expected(model, "image_input.npy");
    assert!(
        rel_err(&input, &want) < 1e-5,
        "{model}: preprocessing differs from torch's bilinear resize"
    );

    let latent = m.encode(input, s).unwrap();
    let got = pollster::block_on(read_f32(latent.clone())).unwrap();
    let (_, want) = expected(model, "latent.npy");
    let e = rel_err(&got, &want);
    assert!(e < stage_tol, "{model}/{dtype}: VAE latent rel err {e}");

    // The UNet on diffusers' own noisy latent, so each stage is checked on its own.
    let (shape, noisy) = expected(model, "noisy.npy");
    let noisy_t = burn::tensor::Tensor::<4>::from_data(
        burn::tensor::TensorData::new(noisy, [shape[0], shape[1], shape[2], shape[3]]),
        device,
    );
    let mut traced: BTreeMap<String, Vec<f32>> = BTreeMap::new();
    let z = m
        .unet(noisy_t, s, &mut |name, t| {
            traced.insert(name.to_string(), pollster::block_on(read_f32(t.clone())).unwrap());
        })
        .unwrap();
    assert!(traced.contains_key("conv_in"));
    for (name, got) in &traced {
        let (_, want) = expected(model, &format!("{name}.npy"));
        let e = rel_err(got, &want);
        assert!(e < stage_tol, "{model}/{dtype}: {name} rel err {e}");
    }
    let c = m.config.feature_channels();
    let z = pollster::block_on(read_f32(z)).unwrap();
    let (fshape, want) = expected(model, "features.npy");
    assert_eq!(fshape[2], c);
    let unet_cos = min_row_cosine(&z, &want, c);

    // End to end from the image, with the fixture's noise.
    let f = pollster::block_on(m.features(&img, s, &noise(model))).unwrap();
    assert_eq!([f.h, f.w, f.c], [fshape[0], fshape[1], fshape[2]]);
    let cos = min_row_cosine(&f.data, &want, c);
    // Tight: the stored (rounded / dequantized) weights through torch must give what we give, up
    // to float32 arithmetic order. (Random-weight features are mostly a token-independent part,
    // so the per-token cosine above is the acceptance figure but the weaker check.)
    let exact = if dtype == "f32" {
        "features.npy".to_string()
    } else {
        format!("features_{dtype}.npy")
    };
    let (_, want_exact) = expected(model, &exact);
    let e = rel_err(&f.data, &want_exact);
    assert!(e < 2e-4, "{model}/{dtype}: features vs {exact}: rel err {e}");
    eprintln!("{model}/{dtype}: min token cosine {cos:.6} (UNet alone {unet_cos:.6}), rel err vs {exact} {e:.2e}");
    cos.min(unet_cos)
}

#[test]
fn ssd_tiny_f32_matches_diffusers_on_the_cpu() {
    let cos = check_model("ssd-tiny", "f32", &cpu(), 1e-4);
    assert!(cos > 0.99999, "f32 features: min token cosine {cos}");
}

#[test]
fn ssd_tiny_f16_and_q8_and_q4_match_diffusers_on_the_cpu() {
    let cos = check_model("ssd-tiny", "f16", &cpu(), 2e-2);
    assert!(cos >= 0.999, "f16 features: min token cosine {cos}");
    let cos = check_model("ssd-tiny", "q8", &cpu(), 5e-2);
    assert!(cos >= 0.99, "q8 features: min token cosine {cos}");
    if fixture("ssd-tiny").join("q4").exists() {
        let cos = check_model("ssd-tiny", "q4", &cpu(), 1.0);
        assert!(cos >= 0.8, "q4 features: min token cosine {cos}");
    }
}

#[test]
fn sdxl_tiny_other_widths_heads_depths_match_diffusers() {
    let cos = check_model("sdxl-tiny", "f32", &cpu(), 1e-4);
    assert!(cos > 0.99999, "f32 features: min token cosine {cos}");
    let cos = check_model("sdxl-tiny", "q8", &cpu(), 5e-2);
    assert!(cos >= 0.99, "q8 features: min token cosine {cos}");
}

#[test]
fn the_wgpu_backend_matches_diffusers_with_weights_kept_quantized() {
    let device = gpu();
    let cos = check_model("ssd-tiny", "f32", &device, 1e-4);
    assert!(cos > 0.99999, "f32 features on wgpu: min token cosine {cos}");
    let cos = check_model("ssd-tiny", "q8", &device, 5e-2);
    assert!(cos >= 0.99, "q8 features on wgpu: min token cosine {cos}");
}

/// f16 weights stay f16 on a device that stores f16 (lavapipe does), widened at each use: the same
/// features as weights widened on the host, in about half the device memory.
#[test]
fn f16_weights_stay_f16_on_the_device_with_the_same_features() {
    let device = gpu();
    assert!(
        device.supports_dtype(burn::tensor::DType::F16),
        "this wgpu adapter stores no f16 (lavapipe does: shaderFloat16)"
    );
    let dir = fixture("ssd-tiny").join("f16");
    let (s, img, noise) = (size("ssd-tiny"), image("ssd-tiny"), noise("ssd-tiny"));
    // (The device's pool is shared with the tests running beside this one, so the bytes are
    // counted from the tensors' own dtypes, not from the pool.)
    let run = |widen_on_host: bool| {
        let m = DiffusionModel::load_dir(&dir, &device, widen_on_host).unwrap();
        let f = pollster::block_on(m.features(&img, s, &noise)).unwrap();
        (m.weight_device_bytes(), f.data)
    };
    let (kept_bytes, kept) = run(false);
    let (widened_bytes, widened) = run(true);
    let e = rel_err(&kept, &widened);
    eprintln!(
        "f16 weights on the device: {kept_bytes} B kept f16, {widened_bytes} B widened; features rel err {e:.1e}"
    );
    assert!(e < 1e-6, "features differ: rel err {e}");
    // Everything but the small tensors widened once at load (norms, biases, constants) is halved.
    assert!(
        (kept_bytes as f64) < 0.6 * widened_bytes as f64,
        "{kept_bytes} B kept vs {widened_bytes} B widened"
    );
    let manifest = &DiffusionModel::load_dir(&dir, &cpu(), false).unwrap().manifest;
    assert!(
        kept_bytes < manifest.weight_bytes() * 13 / 10,
        "kept f16 takes about its download: {kept_bytes} B"
    );
    let (_, want) = expected("ssd-tiny", "features_f16.npy");
    assert!(rel_err(&kept, &want) < 2e-4);
}

#[test]
fn zero_noise_gives_diffusers_clean_latent_features() {
    let model = "ssd-tiny";
    let m = DiffusionModel::load_dir(&fixture(model).join("f32"), &cpu(), false).unwrap();
    let f = pollster::block_on(m.features(&image(model), size(model), &Noise::Zero)).unwrap();
    let (_, want) = expected(model, "features_zero.npy");
    let cos = min_row_cosine(&f.data, &want, f.c);
    assert!(cos > 0.99999, "zero-noise features: min token cosine {cos}");
    // …and the noise matters: the noisy features are not these.
    let (_, noisy) = expected(model, "features.npy");
    assert!(min_row_cosine(&noisy, &want, f.c) < 0.9999);
}

#[test]
fn same_input_gives_identical_features() {
    let model = "ssd-tiny";
    let m = DiffusionModel::load_dir(&fixture(model).join("q8"), &cpu(), false).unwrap();
    let a = pollster::block_on(m.features(&image(model), size(model), &noise(model))).unwrap();
    let b = pollster::block_on(m.features(&image(model), size(model), &noise(model))).unwrap();
    assert_eq!(a.data, b.data);
}

// ---- bad input -------------------------------------------------------------------------------

/// A copy of a fixture folder that a test may break.
fn copy_model(model: &str, dtype: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let src = fixture(model).join(dtype);
    for entry in walk(&src) {
        let rel = entry.strip_prefix(&src).unwrap();
        let dst = dir.path().join(rel);
        std::fs::create_dir_all(dst.parent().unwrap()).unwrap();
        std::fs::copy(&entry, &dst).unwrap();
    }
    dir
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

fn hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// Replaces a file and fixes its manifest entry, so that only the content is wrong.
fn replace_file(dir: &Path, name: &str, bytes: &[u8]) {
    std::fs::write(dir.join(name), bytes).unwrap();
    let mpath = dir.join("manifest.json");
    let mut m: serde_json::Value = serde_json::from_slice(&std::fs::read(&mpath).unwrap()).unwrap();
    for f in m["files"].as_array_mut().unwrap() {
        if f["name"] == name {
            f["bytes"] = bytes.len().into();
            f["sha256"] = hex(bytes).into();
        }
    }
    std::fs::write(&mpath, serde_json::to_vec(&m).unwrap()).unwrap();
}

/// Rewrites the shard that holds `key` through `edit`, which gets (name → (dtype, shape, bytes)).
fn edit_shard(
    dir: &Path,
    key: &str,
    edit: impl FnOnce(&mut BTreeMap<String, (safetensors::Dtype, Vec<usize>, Vec<u8>)>),
) {
    let mut shards: Vec<PathBuf> = walk(dir)
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "safetensors"))
        .collect();
    shards.sort();
    let (name, bytes) = shards
        .iter()
        .map(|p| {
            (
                p.file_name().unwrap().to_str().unwrap().to_string(),
                std::fs::read(p).unwrap(),
            )
        })
        .find(|(_, b)| safetensors::SafeTensors::deserialize(b).unwrap().names().contains(&key))
        .unwrap_or_else(|| panic!("no shard holds {key}"));
    let name = name.as_str();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let mut map = BTreeMap::new();
    for (k, v) in st.tensors() {
        map.insert(k, (v.dtype(), v.shape().to_vec(), v.data().to_vec()));
    }
    edit(&mut map);
    let views: Vec<(String, safetensors::tensor::TensorView)> = map
        .iter()
        .map(|(k, (d, s, b))| {
            (
                k.clone(),
                safetensors::tensor::TensorView::new(*d, s.clone(), b).unwrap(),
            )
        })
        .collect();
    let out = safetensors::serialize(views, None).unwrap();
    replace_file(dir, name, &out);
}

fn load_err(dir: &Path) -> Error {
    match DiffusionModel::load_dir(dir, &cpu(), false) {
        Ok(_) => panic!("the broken model loaded"),
        Err(e) => e,
    }
}

#[test]
fn a_missing_tensor_is_named() {
    let dir = copy_model("ssd-tiny", "f32");
    let key = "unet.down_blocks.1.attentions.0.proj_in.weight";
    edit_shard(dir.path(), key, |m| {
        assert!(m.remove(key).is_some(), "fixture has {key}");
    });
    let e = load_err(dir.path()).to_string();
    assert!(e.contains(key) && e.contains("missing"), "{e}");
}

#[test]
fn a_misshaped_tensor_names_the_key_and_both_shapes() {
    let dir = copy_model("ssd-tiny", "f32");
    let key = "unet.conv_in.bias";
    edit_shard(dir.path(), key, |m| {
        let t = m.get_mut(key).expect("fixture has unet.conv_in.bias");
        let n = t.1[0];
        t.1 = vec![n - 1];
        t.2.truncate((n - 1) * 4);
    });
    let e = load_err(dir.path()).to_string();
    let n = {
        let m = DiffusionModel::load_dir(&fixture("ssd-tiny").join("f32"), &cpu(), false).unwrap();
        m.config.unet.block_out_channels[0]
    };
    assert!(
        e.contains(key) && e.contains(&format!("[{n}]")) && e.contains(&format!("[{}]", n - 1)),
        "{e}"
    );
}

#[test]
fn an_unused_tensor_is_refused() {
    let dir = copy_model("ssd-tiny", "f32");
    edit_shard(dir.path(), "unet.conv_in.bias", |m| {
        let t = m["unet.conv_in.bias"].clone();
        m.insert("unet.mid_block.resnets.0.conv1.bias".into(), t);
    });
    let e = load_err(dir.path()).to_string();
    assert!(
        e.contains("unet.mid_block.resnets.0.conv1.bias") && e.contains("does not use"),
        "{e}"
    );
}

/// A load that must fail with an error, not a panic (a trap in the browser).
fn load_err_not_panic(dir: &Path, host_dequantize: bool) -> String {
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        DiffusionModel::load_dir(dir, &cpu(), host_dequantize).map(|_| ())
    }));
    match r {
        Ok(Err(e)) => e.to_string(),
        Ok(Ok(())) => panic!("the broken model loaded"),
        Err(_) => panic!("loading panicked instead of naming the tensor"),
    }
}

#[test]
fn a_quantized_tensor_with_no_values_is_refused_not_a_crash() {
    // [0, 32] int8 values and [0] scales: consistent, and empty. burn cannot hold a quantized
    // tensor without a scale.
    for (rows, cols) in [(0usize, 32usize), (3, 0)] {
        let dir = copy_model("ssd-tiny", "q8");
        let key = "unet.conv_in.bias";
        edit_shard(dir.path(), key, |m| {
            m.insert(
                "unet.extra.weight.q8".into(),
                (safetensors::Dtype::I8, vec![rows, cols], vec![]),
            );
            m.insert(
                "unet.extra.weight.scales".into(),
                (safetensors::Dtype::F32, vec![0], vec![]),
            );
        });
        for host in [false, true] {
            let e = load_err_not_panic(dir.path(), host);
            assert!(e.contains("unet.extra.weight"), "{e}");
        }
    }
}

#[test]
fn a_scales_tensor_without_its_quantized_values_is_refused() {
    let dir = copy_model("ssd-tiny", "q8");
    edit_shard(dir.path(), "unet.conv_in.bias", |m| {
        m.insert(
            "unet.stray.weight.scales".into(),
            (safetensors::Dtype::F32, vec![1], vec![0; 4]),
        );
    });
    let e = load_err_not_panic(dir.path(), false);
    assert!(e.contains("unet.stray.weight.scales"), "{e}");
}

#[test]
fn a_truncated_shard_and_a_corrupted_shard_are_named() {
    let dir = copy_model("ssd-tiny", "q8");
    let name = "weights-00000.safetensors";
    let bytes = std::fs::read(dir.path().join(name)).unwrap();
    std::fs::write(dir.path().join(name), &bytes[..bytes.len() / 2]).unwrap();
    let e = load_err(dir.path()).to_string();
    assert!(e.contains(name) && e.contains("truncated"), "{e}");

    let mut flipped = bytes.clone();
    let mid = flipped.len() - 10;
    flipped[mid] ^= 0x40;
    std::fs::write(dir.path().join(name), &flipped).unwrap();
    let e = load_err(dir.path()).to_string();
    assert!(e.contains(name) && e.contains("sha256"), "{e}");

    // A truncated file whose manifest was "fixed" too: the safetensors parser names it.
    replace_file(dir.path(), name, &bytes[..bytes.len() / 2]);
    let e = load_err(dir.path()).to_string();
    assert!(e.contains(name) && e.contains("safetensors"), "{e}");
}

#[test]
fn an_unsupported_config_kind_and_a_bad_topology_are_refused() {
    let dir = copy_model("ssd-tiny", "f32");
    let cfg_path = dir.path().join("config.json");
    let original: serde_json::Value = serde_json::from_slice(&std::fs::read(&cfg_path).unwrap()).unwrap();

    let mut cfg = original.clone();
    cfg["kind"] = "flux-transformer".into();
    replace_file(dir.path(), "config.json", &serde_json::to_vec(&cfg).unwrap());
    let e = load_err(dir.path()).to_string();
    assert!(
        e.contains("unsupported model kind") && e.contains("flux-transformer"),
        "{e}"
    );

    let mut cfg = original.clone();
    cfg["unet"]["down_block_types"][1] = "SimpleCrossAttnDownBlock2D".into();
    replace_file(dir.path(), "config.json", &serde_json::to_vec(&cfg).unwrap());
    let e = load_err(dir.path()).to_string();
    assert!(e.contains("SimpleCrossAttnDownBlock2D"), "{e}");

    let mut cfg = original.clone();
    cfg["unet"]["num_attention_heads"][2] = 7.into();
    replace_file(dir.path(), "config.json", &serde_json::to_vec(&cfg).unwrap());
    let e = load_err(dir.path()).to_string();
    assert!(e.contains("heads"), "{e}");

    // A size whose 3·S·S input wraps a wasm32 usize (it made the page's worker trap).
    let mut cfg = original;
    cfg["sizes"] = serde_json::json!([65536]);
    replace_file(dir.path(), "config.json", &serde_json::to_vec(&cfg).unwrap());
    let e = load_err(dir.path()).to_string();
    assert!(e.contains("size 65536") && e.contains("2048"), "{e}");
}

#[test]
fn a_downsample_padding_that_changes_the_grid_is_refused() {
    // Padding 80 took minutes and gigabytes before the grid check at the end refused it.
    let bytes = std::fs::read(fixture("ssd-tiny").join("q8/config.json")).unwrap();
    let mut cfg: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    for ok in [0, 1] {
        cfg["unet"]["downsample_padding"] = ok.into();
        diffcut::model::ModelConfig::from_json(&serde_json::to_vec(&cfg).unwrap()).unwrap();
    }
    for bad in [2, 80] {
        cfg["unet"]["downsample_padding"] = bad.into();
        let e = diffcut::model::ModelConfig::from_json(&serde_json::to_vec(&cfg).unwrap())
            .unwrap_err()
            .to_string();
        assert!(e.contains("downsample_padding") && e.contains(&bad.to_string()), "{e}");
    }
}

#[test]
fn a_manifest_that_escapes_its_folder_or_is_not_ours_is_refused() {
    let dir = copy_model("ssd-tiny", "f32");
    let mpath = dir.path().join("manifest.json");
    let original: serde_json::Value = serde_json::from_slice(&std::fs::read(&mpath).unwrap()).unwrap();
    let mut m = original.clone();
    m["files"][0]["name"] = "../../etc/passwd".into();
    std::fs::write(&mpath, serde_json::to_vec(&m).unwrap()).unwrap();
    assert!(load_err(dir.path()).to_string().contains("relative path"));
    let mut m = original;
    m["format_version"] = 99.into();
    std::fs::write(&mpath, serde_json::to_vec(&m).unwrap()).unwrap();
    assert!(load_err(dir.path()).to_string().contains("version 99"));
    std::fs::write(&mpath, b"{ not json").unwrap();
    assert!(load_err(dir.path())
        .to_string()
        .contains("manifest.json does not parse"));
}

#[test]
fn sizes_and_noise_that_do_not_fit_are_refused() {
    let model = "ssd-tiny";
    let m = DiffusionModel::load_dir(&fixture(model).join("f32"), &cpu(), false).unwrap();
    let s = size(model);
    let img = image(model);
    let e = pollster::block_on(m.features(&img, s + 32, &Noise::Zero))
        .unwrap_err()
        .to_string();
    assert!(e.contains(&format!("not {}", s + 32)) && e.contains("--sizes"), "{e}");
    let bad = Noise::Values {
        shape: vec![1, 4, 3, 3],
        values: vec![0.0; 36],
    };
    let e = pollster::block_on(m.features(&img, s, &bad)).unwrap_err().to_string();
    assert!(e.contains("noise") && e.contains("[1, 4, 3, 3]"), "{e}");
    let Noise::Values { shape, mut values } = noise(model) else {
        unreachable!()
    };
    values[5] = f32::NAN;
    let e = pollster::block_on(m.features(&img, s, &Noise::Values { shape, values }))
        .unwrap_err()
        .to_string();
    assert!(e.contains("finite"), "{e}");
    if !m.seed42_sizes().contains(&s) {
        let e = pollster::block_on(m.features(&img, s, &Noise::Seed42))
            .unwrap_err()
            .to_string();
        assert!(e.contains("seed-42"), "{e}");
    }
}

#[test]
fn images_of_any_size_and_colour_type_are_taken() {
    let model = "ssd-tiny";
    let m = DiffusionModel::load_dir(&fixture(model).join("q8"), &cpu(), false).unwrap();
    let s = size(model);
    for (w, h) in [(1u32, 1u32), (3, 500), (s, s), (2 * s + 1, 7)] {
        let img = image::RgbImage::from_fn(w, h, |x, y| image::Rgb([(x * 7) as u8, (y * 3) as u8, 90]));
        let f = pollster::block_on(m.features(&img, s, &Noise::Zero)).unwrap();
        assert!(f.data.iter().all(|v| v.is_finite()), "{w}×{h}");
        assert_eq!(f.h * f.w * f.c, f.data.len());
    }
    let empty = image::RgbImage::new(0, 0);
    assert!(pollster::block_on(m.features(&empty, s, &Noise::Zero)).is_err());
}

#[test]
fn downsample_padding_zero_pads_right_and_bottom_as_diffusers() {
    // diffusers' Downsample2D with padding 0 pads (0, 1, 0, 1) before its stride-2 conv, so the
    // grid stays S/32; a plain unpadded conv would shrink it (16 → 7 here) and break the hook grid.
    let dir = copy_model("ssd-tiny", "f32");
    let cfg_path = dir.path().join("config.json");
    let mut cfg: serde_json::Value = serde_json::from_slice(&std::fs::read(&cfg_path).unwrap()).unwrap();
    cfg["unet"]["downsample_padding"] = 0.into();
    replace_file(dir.path(), "config.json", &serde_json::to_vec(&cfg).unwrap());
    let m = DiffusionModel::load_dir(dir.path(), &cpu(), false).unwrap();
    let s = size("ssd-tiny");
    let f = pollster::block_on(m.features(&image("ssd-tiny"), s, &Noise::Zero)).unwrap();
    assert_eq!((f.h, f.w), (4, 4));
    let (_, padded1) = expected("ssd-tiny", "features_zero.npy");
    assert!(rel_err(&f.data, &padded1) > 1e-3, "the padding changes the features");
}

#[test]
fn noise_files_that_do_not_fit_the_latent_are_not_used() {
    // A converted folder whose seed-42 file has another shape than the latent (e.g. a VAE that is
    // not 8× or not 4 channels): the model loads, zero noise works, seed42 says there is none.
    let dir = copy_model("ssd-tiny", "f32");
    let name = "noise/ddim_noise_seed42_256.npy";
    assert!(dir.path().join(name).exists(), "the fixture ships noise for 256");
    replace_file(dir.path(), name, &npy::encode_f32(&[1, 4, 8, 8], &[0.5; 256]));
    let m = DiffusionModel::load_dir(dir.path(), &cpu(), false).unwrap();
    assert!(m.seed42_sizes().is_empty());
    let img = image("ssd-tiny");
    let e = pollster::block_on(m.features(&img, 256, &Noise::Seed42))
        .unwrap_err()
        .to_string();
    assert!(e.contains("seed-42"), "{e}");
    assert!(pollster::block_on(m.features(&img, 256, &Noise::Zero)).is_ok());
    // A size that is not a multiple of the model's factor is named as such.
    let e = pollster::block_on(m.features(&img, 100, &Noise::Zero))
        .unwrap_err()
        .to_string();
    assert!(e.contains("not a positive multiple of 32"), "{e}");
}
