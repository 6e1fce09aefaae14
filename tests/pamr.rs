//! PAMR (docs/ALGORITHM.md §5.3) against the independent NumPy reference `tests/reference/pamr_reference.py`,
//! on the committed fixtures in `tests/fixtures/pamr/`.
//!
//! Each case holds the image crop (PNG), the coarse input labels, and the reference's labels
//! before (argmax) and after the 3×3 median, so a mismatch can be placed at the propagation or at
//! the filter. `margin.npy` is the reference's float64 gap between the best and second-best
//! channel: a pixel may differ only where that gap is a float tie.
//!
//! Regenerate: `cargo test --release --test pamr -- --ignored write_fixture_crops` (the crops),
//! then `python3 tests/reference/pamr_reference.py --make-fixtures`.

use std::path::{Path, PathBuf};

use diffcut::image_io::{encode_rgb_png, load_image, resize_bilinear, write_png, RgbImage};
use diffcut::labels::LabelMap;
use diffcut::npy;
use diffcut::refine::pamr::{argmax_segments, median3x3, pamr, pamr_mask, PamrConfig};

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/pamr")
}

fn read_i32_map(path: &Path) -> (Vec<usize>, Vec<u32>) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let (shape, v) = npy::read_labels(&bytes, 2).unwrap();
    (shape, v.into_iter().map(|l| u32::try_from(l).unwrap()).collect())
}

fn read_f32_map(path: &Path) -> Vec<f32> {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    npy::read_f32(&bytes, 2).unwrap().1
}

/// Below this float64 gap between the two best channels, a different argmax is a float tie.
const TIE: f32 = 1e-4;

#[test]
fn matches_the_numpy_reference() {
    let cases: serde_json::Value = serde_json::from_slice(&std::fs::read(dir().join("cases.json")).unwrap()).unwrap();
    let cases = cases["cases"].as_array().unwrap();
    assert!(cases.len() >= 3);
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let file = |key: &str| dir().join(case[key].as_str().unwrap());
        let img = load_image(&file("image")).unwrap();
        let (w, h) = (img.width() as usize, img.height() as usize);
        let (lshape, labels) = read_i32_map(&file("labels"));
        let segments = case["segments"].as_u64().unwrap() as usize;
        let labels = LabelMap::new(labels, lshape[1], lshape[0], segments).unwrap();
        let cfg = PamrConfig {
            iterations: case["iterations"].as_u64().unwrap() as u32,
            dilations: case["dilations"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| d.as_u64().unwrap() as u32)
                .collect(),
        };
        let (eshape, want_argmax) = read_i32_map(&file("argmax"));
        let (_, want_final) = read_i32_map(&file("final"));
        let margin = read_f32_map(&file("margin"));
        assert_eq!(
            eshape,
            [h, w],
            "{name}: expected labels are {eshape:?}, the image is {h}×{w}"
        );

        let mask = pamr_mask(&img, &labels, &cfg).unwrap();
        let got_argmax = argmax_segments(&mask, segments, w * h);
        let mismatches: Vec<usize> = (0..w * h).filter(|&p| got_argmax[p] != want_argmax[p]).collect();
        for &p in &mismatches {
            assert!(
                margin[p] < TIE,
                "{name}: pixel ({}, {}) is {} here and {} in the reference, with a margin of {}",
                p % w,
                p / w,
                got_argmax[p],
                want_argmax[p],
                margin[p]
            );
        }
        let got_final = pamr(&img, &labels, &cfg).unwrap().into_labels();
        assert_eq!(
            got_final,
            median3x3(&got_argmax, w, h),
            "{name}: pamr() is the median of the argmax"
        );
        let final_diff = (0..w * h).filter(|&p| got_final[p] != want_final[p]).count();
        let n = (w * h) as f64;
        println!(
            "{name}: {w}×{h}, K = {segments}, {} iterations, dilations {:?}: argmax differs at {} of {} pixels, final at {final_diff}",
            cfg.iterations,
            cfg.dilations,
            mismatches.len(),
            w * h
        );
        assert!(
            1.0 - mismatches.len() as f64 / n >= 0.999,
            "{name}: argmax differs at {} of {} pixels",
            mismatches.len(),
            w * h
        );
        assert!(
            1.0 - final_diff as f64 / n >= 0.999,
            "{name}: the median-filtered labels differ at {final_diff} of {} pixels",
            w * h
        );
        // The refinement did something: the output is not just the upsampled input.
        let zero = PamrConfig {
            iterations: 0,
            ..cfg.clone()
        };
        let before = argmax_segments(&pamr_mask(&img, &labels, &zero).unwrap(), segments, w * h);
        assert!(
            before.iter().zip(&got_argmax).any(|(a, b)| a != b),
            "{name}: PAMR changed nothing"
        );
    }
}

/// The input crops: each sample photo resized (bilinear, as `diffcut` does) and cropped. The
/// last one gets a flat 12×12 patch so that σ = 0 (affinities 0 / 1e-8) is exercised.
#[test]
#[ignore = "writes tests/fixtures/pamr/*.png; run by hand before pamr_reference.py --make-fixtures"]
fn write_fixture_crops() {
    let samples = Path::new(env!("CARGO_MANIFEST_DIR")).join("samples");
    // name, sample, resized width × height, crop x, y, width, height
    let crops = [
        ("chelsea", "chelsea.jpg", 72, 48, 4, 0, 64, 48),
        ("coffee", "coffee.jpg", 72, 48, 6, 0, 64, 48),
        ("astronaut", "astronaut.jpg", 56, 56, 0, 4, 56, 40),
        ("rocket", "rocket.jpg", 60, 40, 10, 0, 40, 40),
    ];
    std::fs::create_dir_all(dir()).unwrap();
    for (name, file, rw, rh, x0, y0, cw, ch) in crops {
        let small = resize_bilinear(&load_image(&samples.join(file)).unwrap(), rw, rh);
        let mut crop = RgbImage::from_fn(cw, ch, |x, y| *small.get_pixel(x0 + x, y0 + y));
        if name == "rocket" {
            for y in 2..14 {
                for x in 2..14 {
                    crop.put_pixel(x, y, image::Rgb([90, 140, 200]));
                }
            }
        }
        write_png(&dir().join(format!("{name}.png")), &encode_rgb_png(&crop).unwrap()).unwrap();
    }
}
