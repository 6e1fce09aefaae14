//! `cargo bench --bench pamr`: wall-clock time of the CPU PAMR (`src/refine/pamr.rs`) on the eval
//! and demo presets, and the demo preset's set-up alone (0 iterations), on `samples/coffee.jpg`
//! with a coarse 32×32 map of K = 10 labels. Results are recorded in BENCHMARKS.md.
//!
//! `SIZES=512,1024 cargo bench --bench pamr` to choose the image sides. Run as a test
//! (`cargo test --all-targets`, no `--bench` argument) it does one tiny pass, as a smoke test.
//! The GPU version beside it: `cargo bench --bench pamr_gpu`.

use std::path::Path;
use std::time::Instant;

use diffcut::image_io::{load_image, resize_bilinear};
use diffcut::labels::LabelMap;
use diffcut::refine::pamr::{pamr, PamrConfig};

fn main() {
    let benchmarking = std::env::args().any(|a| a == "--bench");
    let sizes: Vec<u32> = std::env::var("SIZES")
        .unwrap_or_else(|_| (if benchmarking { "512" } else { "64" }).into())
        .split(',')
        .map(|s| s.trim().parse().expect("SIZES=512,1024"))
        .collect();
    let photo = load_image(&Path::new(env!("CARGO_MANIFEST_DIR")).join("samples/coffee.jpg")).unwrap();
    let k = 10usize;
    // A coarse 32×32 label map (the DiffCut feature grid), 10 segments from the colour.
    let grid = resize_bilinear(&photo, 32, 32);
    let labels: Vec<u32> = grid
        .pixels()
        .map(|p| ((u32::from(p[0]) + u32::from(p[1]) * 2 + u32::from(p[2])) * k as u32 / 1021).min(k as u32 - 1))
        .collect();
    let labels = LabelMap::new(labels, 32, 32, k).unwrap();
    for s in sizes {
        let img = resize_bilinear(&photo, s, s);
        let setup = PamrConfig {
            iterations: 0,
            ..PamrConfig::demo()
        };
        for (name, cfg) in [
            ("eval", PamrConfig::eval()),
            ("demo", PamrConfig::demo()),
            ("demo setup (0 iterations)", setup),
        ] {
            let t = Instant::now();
            let out = pamr(&img, &labels, &cfg).unwrap().into_labels();
            println!(
                "CPU PAMR {name} preset at {s}², K = {k}: {:.2} s ({} labels)",
                t.elapsed().as_secs_f64(),
                out.len()
            );
        }
    }
}
