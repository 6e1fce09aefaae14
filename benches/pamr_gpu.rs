//! `cargo bench --bench pamr_gpu`: PAMR's WGSL kernels (`src/gpu/pamr/`) beside the CPU path, in
//! the same run, on the eval and demo presets and the demo preset's set-up alone (0 iterations),
//! on `samples/coffee.jpg` with a coarse 32×32 map of K = 10 labels; the whole call, upload and
//! readback included. Uses wgpu's default adapter: lavapipe on a machine without a GPU (a
//! software floor, not a GPU timing). Results are recorded in BENCHMARKS.md.
//!
//! `SIZES=512,1024 cargo bench --bench pamr_gpu` to choose the image sides. Run as a test
//! (`cargo test --all-targets`, no `--bench` argument) it does one tiny pass, as a smoke test.

use std::path::Path;
use std::time::Instant;

use diffcut::gpu::pamr::{pamr_gpu_with, ImageInput, PamrGpuOptions};
use diffcut::gpu::GpuContext;
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
    let ctx = pollster::block_on(GpuContext::new()).expect("a wgpu adapter");
    println!("adapter: {}", ctx.adapter);
    let photo = load_image(&Path::new(env!("CARGO_MANIFEST_DIR")).join("samples/coffee.jpg")).unwrap();
    let k = 10;
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
            let out = pollster::block_on(pamr_gpu_with(
                &ctx,
                ImageInput::Rgb8(&img),
                &labels,
                &cfg,
                PamrGpuOptions::default(),
            ))
            .unwrap();
            let gpu_s = t.elapsed().as_secs_f64();
            let t = Instant::now();
            let cpu = pamr(&img, &labels, &cfg).unwrap().into_labels();
            let cpu_s = t.elapsed().as_secs_f64();
            let diff = cpu.iter().zip(&out.labels).filter(|(a, b)| a != b).count();
            println!(
                "{name} preset at {s}², K = {k}: GPU {gpu_s:.2} s ({} band(s), {} dispatches), CPU {cpu_s:.2} s; labels differ at {diff} of {} pixels",
                out.row_bands,
                out.dispatches,
                cpu.len()
            );
        }
    }
}
