//! PAMR's WGSL kernels (`src/gpu/pamr/`) against the CPU path, natively (lavapipe in CI). These
//! tests need a GPU adapter with compute shaders; without one they fail, loudly.
#![cfg(feature = "gpu")]

use std::path::Path;

use diffcut::gpu::pamr::{pamr_gpu, pamr_gpu_f32, pamr_gpu_with, ImageInput, PamrGpuOptions};
use diffcut::gpu::GpuContext;
use diffcut::image_io::{load_image, resize_bilinear, RgbImage};
use diffcut::labels::LabelMap;
use diffcut::npy;
use diffcut::refine::pamr::{argmax_segments, median3x3, pamr, pamr_mask, PamrConfig};
use diffcut::Error;

fn ctx() -> GpuContext {
    pollster::block_on(GpuContext::new()).expect("a GPU adapter (install mesa-vulkan-drivers for lavapipe)")
}

fn sample(name: &str, w: u32, h: u32) -> RgbImage {
    resize_bilinear(
        &load_image(&Path::new(env!("CARGO_MANIFEST_DIR")).join("samples").join(name)).unwrap(),
        w,
        h,
    )
}

/// A coarse `lw × lh` label map with `k` labels from the colours of `img`.
fn coarse_labels(img: &RgbImage, lw: u32, lh: u32, k: usize) -> Vec<u32> {
    resize_bilinear(img, lw, lh)
        .pixels()
        .enumerate()
        .map(|(i, p)| {
            (u32::from(p[0]) * 3 + u32::from(p[1]) * 5 + u32::from(p[2]) * 7 + i as u32 % 3 * 40) % (k as u32)
        })
        .collect()
}

fn lm(labels: &[u32], w: usize, h: usize, k: usize) -> LabelMap {
    LabelMap::new(labels.to_vec(), w, h, k).unwrap()
}

/// Below this gap between the two best channels (CPU mask), a different argmax is a float tie.
const TIE: f32 = 1e-4;

/// Runs the GPU (with `opts`) and the CPU on one problem and asserts they agree on ≥ 99.9 % of
/// the pixels, before and after the median, with every argmax difference at a float tie.
#[allow(clippy::too_many_arguments)]
fn compare(
    ctx: &GpuContext,
    name: &str,
    img: &RgbImage,
    labels: &[u32],
    lw: usize,
    lh: usize,
    k: usize,
    cfg: &PamrConfig,
    opts: PamrGpuOptions,
) -> (usize, usize) {
    let (w, h) = (img.width() as usize, img.height() as usize);
    let gpu = pollster::block_on(pamr_gpu_with(
        ctx,
        ImageInput::Rgb8(img),
        &lm(labels, lw, lh, k),
        cfg,
        opts,
    ))
    .unwrap();
    let mask = pamr_mask(img, &lm(labels, lw, lh, k), cfg).unwrap();
    let cpu_argmax = argmax_segments(&mask, k, w * h);
    let cpu_final = pamr(img, &lm(labels, lw, lh, k), cfg).unwrap().into_labels();
    assert_eq!(
        gpu.labels,
        median3x3(&gpu.argmax, w, h),
        "{name}: the GPU median is the 3×3 median of the GPU argmax"
    );
    let mut diff = 0;
    for p in 0..w * h {
        if gpu.argmax[p] != cpu_argmax[p] {
            diff += 1;
            let mut v: Vec<f32> = (0..k).map(|kk| mask[kk * w * h + p]).collect();
            v.sort_by(|a, b| b.total_cmp(a));
            assert!(
                v[0] - v[1] < TIE,
                "{name}: pixel ({}, {}): GPU {} vs CPU {}, margin {}",
                p % w,
                p / w,
                gpu.argmax[p],
                cpu_argmax[p],
                v[0] - v[1]
            );
        }
    }
    let final_diff = (0..w * h).filter(|&p| gpu.labels[p] != cpu_final[p]).count();
    println!(
        "{name}: {w}×{h}, K = {k}, {} it, {} dilations: {} chunk(s), {} band(s), {} dispatches; argmax differs at {diff}, final at {final_diff} of {} pixels",
        cfg.iterations,
        cfg.dilations.len(),
        gpu.label_chunks,
        gpu.row_bands,
        gpu.dispatches,
        w * h
    );
    let n = (w * h) as f64;
    assert!(
        1.0 - diff as f64 / n >= 0.999,
        "{name}: argmax differs at {diff} of {} pixels",
        w * h
    );
    assert!(
        1.0 - final_diff as f64 / n >= 0.999,
        "{name}: final labels differ at {final_diff} of {} pixels",
        w * h
    );
    (gpu.label_chunks, gpu.row_bands)
}

#[test]
fn both_presets_match_the_cpu() {
    let ctx = ctx();
    for (name, file, w, h, lw, lh, k) in [
        ("coffee", "coffee.jpg", 64u32, 48u32, 12u32, 10u32, 5usize),
        ("chelsea-odd", "chelsea.jpg", 45, 31, 9, 7, 3),
        ("astronaut", "astronaut.jpg", 80, 80, 16, 16, 8),
    ] {
        let img = sample(file, w, h);
        let labels = coarse_labels(&img, lw, lh, k);
        for (preset, cfg) in [("eval", PamrConfig::eval()), ("demo", PamrConfig::demo())] {
            let (chunks, bands) = compare(
                &ctx,
                &format!("{name} {preset}"),
                &img,
                &labels,
                lw as usize,
                lh as usize,
                k,
                &cfg,
                PamrGpuOptions::default(),
            );
            assert_eq!((chunks, bands), (1, 1), "small problems are not tiled");
        }
    }
}

#[test]
fn matches_the_numpy_fixtures() {
    let ctx = ctx();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/pamr");
    let cases: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.join("cases.json")).unwrap()).unwrap();
    for case in cases["cases"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let read =
            |key: &str| npy::read_labels(&std::fs::read(dir.join(case[key].as_str().unwrap())).unwrap(), 2).unwrap();
        let img = load_image(&dir.join(case["image"].as_str().unwrap())).unwrap();
        let (lshape, labels) = read("labels");
        let labels: Vec<u32> = labels.into_iter().map(|l| l as u32).collect();
        let want: Vec<u32> = read("final").1.into_iter().map(|l| l as u32).collect();
        let cfg = PamrConfig {
            iterations: case["iterations"].as_u64().unwrap() as u32,
            dilations: case["dilations"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| d.as_u64().unwrap() as u32)
                .collect(),
        };
        let k = case["segments"].as_u64().unwrap() as usize;
        let got = pollster::block_on(pamr_gpu(&ctx, &img, &lm(&labels, lshape[1], lshape[0], k), &cfg))
            .unwrap()
            .into_labels();
        let diff = got.iter().zip(&want).filter(|(a, b)| a != b).count();
        println!(
            "{name}: GPU vs NumPy reference: final labels differ at {diff} of {} pixels",
            got.len()
        );
        assert!(
            diff as f64 <= 0.001 * got.len() as f64,
            "{name}: {diff} of {} pixels differ from the reference",
            got.len()
        );
        compare(
            &ctx,
            name,
            &img,
            &labels,
            lshape[1],
            lshape[0],
            k,
            &cfg,
            PamrGpuOptions::default(),
        );
    }
}

#[test]
fn tiled_by_label_chunks_and_row_bands() {
    let ctx = ctx();
    let img = sample("rocket.jpg", 40, 29);
    let plane = 40 * 29 * 4u64;
    // Eval preset, K = 7 in chunks of 4 labels (4 + 3: the second quad is partial). A weights
    // row is 32·40·4 = 5120 bytes, so 4 planes (18 560 bytes) hold 3 rows a band: 10 bands, the
    // last one 2 rows.
    let labels = coarse_labels(&img, 10, 6, 7);
    let (chunks, bands) = compare(
        &ctx,
        "tiled eval",
        &img,
        &labels,
        10,
        6,
        7,
        &PamrConfig::eval(),
        PamrGpuOptions {
            max_binding: Some(4 * plane),
        },
    );
    assert_eq!((chunks, bands), (2, 10));
    // Demo preset, K = 13 in chunks of 4 (4 + 4 + 4 + 1); a weights row is 10 240 bytes: 1 row a band.
    let labels = coarse_labels(&img, 8, 8, 13);
    let (chunks, bands) = compare(
        &ctx,
        "tiled demo",
        &img,
        &labels,
        8,
        8,
        13,
        &PamrConfig::demo(),
        PamrGpuOptions {
            max_binding: Some(4 * plane + 100),
        },
    );
    assert_eq!((chunks, bands), (4, 29));
    // Eval preset, K = 13 in chunks of 8 (8 + 5), 8 rows a band (4 bands, the last one 5 rows).
    let (chunks, bands) = compare(
        &ctx,
        "tiled eval K = 13",
        &img,
        &labels,
        8,
        8,
        13,
        &PamrConfig::eval(),
        PamrGpuOptions {
            max_binding: Some(9 * plane),
        },
    );
    assert_eq!((chunks, bands), (2, 4));
    // Untiled, many labels: K = 40 in one chunk.
    let labels = coarse_labels(&img, 20, 15, 40);
    assert_eq!(
        compare(
            &ctx,
            "K = 40",
            &img,
            &labels,
            20,
            15,
            40,
            &PamrConfig::eval(),
            PamrGpuOptions::default()
        ),
        (1, 1)
    );
}

#[test]
fn limits_and_bad_inputs_are_errors() {
    let ctx = ctx();
    let img = sample("coffee.jpg", 32, 24);
    let labels = coarse_labels(&img, 4, 3, 3);
    let cfg = PamrConfig::eval();
    // A binding smaller than the image (or than four mask planes) cannot be tiled.
    let small = PamrGpuOptions {
        max_binding: Some(32 * 24 * 4),
    };
    match pollster::block_on(pamr_gpu_with(
        &ctx,
        ImageInput::Rgb8(&img),
        &lm(&labels, 4, 3, 3),
        &cfg,
        small,
    )) {
        Err(Error::GpuLimit { what, needed, limit }) => {
            assert!(what.contains("image"), "{what}");
            assert_eq!((needed, limit), (3 * 32 * 24 * 4, 32 * 24 * 4));
        }
        other => panic!("expected GpuLimit, got {other:?}"),
    }
    let three_planes = PamrGpuOptions {
        max_binding: Some(3 * 32 * 24 * 4),
    };
    match pollster::block_on(pamr_gpu_with(
        &ctx,
        ImageInput::Rgb8(&img),
        &lm(&labels, 4, 3, 3),
        &cfg,
        three_planes,
    )) {
        Err(Error::GpuLimit { what, .. }) => assert!(what.contains("mask"), "{what}"),
        other => panic!("expected GpuLimit, got {other:?}"),
    }
    let err = LabelMap::new(labels.clone(), 4, 3, 2).unwrap_err().to_string();
    assert!(err.contains("with 2 segments"), "{err}");
    let err = pollster::block_on(pamr_gpu(
        &ctx,
        &img,
        &lm(&labels, 4, 3, 3),
        &PamrConfig {
            iterations: 2,
            dilations: vec![0],
        },
    ))
    .unwrap_err()
    .to_string();
    assert!(err.contains("dilations"), "{err}");
    // The float entry point gives the 8-bit one's labels for the same values.
    let rgb: Vec<f32> = img.as_raw().iter().map(|&v| f32::from(v) / 255.0).collect();
    let a = pollster::block_on(pamr_gpu(&ctx, &img, &lm(&labels, 4, 3, 3), &cfg)).unwrap();
    let b = pollster::block_on(pamr_gpu_f32(&ctx, &rgb, 32, 24, &lm(&labels, 4, 3, 3), &cfg)).unwrap();
    assert_eq!(a, b);
    // One label, a 1×1 image, a label map larger than the image.
    assert_eq!(
        pollster::block_on(pamr_gpu(&ctx, &img, &lm(&[0; 12], 4, 3, 1), &cfg))
            .unwrap()
            .into_labels(),
        vec![0; 32 * 24]
    );
    let one = RgbImage::from_pixel(1, 1, image::Rgb([7, 8, 9]));
    assert_eq!(
        pollster::block_on(pamr_gpu(&ctx, &one, &lm(&[1, 0], 2, 1, 2), &PamrConfig::demo()))
            .unwrap()
            .into_labels(),
        vec![1]
    );
    let big_labels = coarse_labels(&sample("coffee.jpg", 64, 48), 64, 48, 4);
    compare(
        &ctx,
        "labels above the image size",
        &img,
        &big_labels,
        64,
        48,
        4,
        &cfg,
        PamrGpuOptions::default(),
    );
}
