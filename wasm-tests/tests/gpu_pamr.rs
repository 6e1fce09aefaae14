//! PAMR's WGSL kernel in the browser (WebGPU; SwiftShader in CI) at DiffCut's demo setting: a
//! 1024×1024 photo, the demo preset (30 iterations, dilations 1…64), against the CPU path of the
//! same crate compiled to wasm.

use diffcut::gpu::pamr::pamr_gpu;
use diffcut::image_io::{decode_image, resize_bilinear};
use diffcut::labels::LabelMap;
use diffcut::refine::{pamr, PamrConfig};
use diffcut_wasm_tests::log;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

fn now() -> f64 {
    js_sys::Date::now()
}

#[wasm_bindgen_test]
async fn demo_preset_at_1024_runs_on_webgpu_and_matches_the_cpu() {
    let ctx = diffcut_wasm_tests::diffcut_gpu().await;
    let photo = decode_image(include_bytes!("../../samples/coffee.jpg")).unwrap();
    let img = resize_bilinear(&photo, 1024, 1024);
    // Coarse labels on a 32×32 grid, as the concept assignment gives them: 4 colour classes.
    let grid = resize_bilinear(&photo, 32, 32);
    let k = 4usize;
    let labels: Vec<u32> = grid
        .pixels()
        .map(|p| ((u32::from(p[0]) + 2 * u32::from(p[1]) + u32::from(p[2])) * k as u32 / 1021).min(k as u32 - 1))
        .collect();
    let labels = LabelMap::new(labels, 32, 32, k).unwrap();
    let cfg = PamrConfig::demo();
    let t0 = now();
    let gpu = pamr_gpu(&ctx, &img, &labels, &cfg).await.unwrap().into_labels();
    let t1 = now();
    let cpu = pamr(&img, &labels, &cfg).unwrap().into_labels();
    let t2 = now();
    assert_eq!(gpu.len(), 1024 * 1024);
    let differ = gpu.iter().zip(&cpu).filter(|(a, b)| a != b).count();
    log(&format!(
        "PAMR demo preset 1024², K = {k} on {}: WebGPU {:.1} s, CPU (wasm) {:.1} s; labels differ at {differ} of {} pixels",
        ctx.adapter,
        (t1 - t0) / 1e3,
        (t2 - t1) / 1e3,
        cpu.len()
    ));
    assert!(differ as f64 / cpu.len() as f64 <= 1e-3, "{differ} pixels differ");
    let used: std::collections::BTreeSet<u32> = gpu.iter().copied().collect();
    assert!(used.len() >= 2, "the refinement kept the segments apart");
}
