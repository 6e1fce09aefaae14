//! The browser benchmark: the WGSL recursive NCut beside the CPU path (both compiled to wasm, in
//! the same page) on smooth random fields, C = 1280, τ = 0.5, α = 10, with dispatch and readback
//! counts. Run with
//!
//! ```sh
//! cd wasm-tests && WASM_BINDGEN_TEST_TIMEOUT=3600 cargo test --release --features bench --test bench -- --nocapture
//! ```
//!
//! In CI's headless Chromium the WebGPU adapter is SwiftShader (a CPU), so these are software
//! floors, not GPU timings.
#![cfg(feature = "bench")]

use diffcut::gpu::segment_tree_gpu;
use diffcut::ncut::{segment_tree, TreeOptions};
use diffcut::synth::smooth_field;
use diffcut_wasm_tests::log;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

fn now() -> f64 {
    js_sys::Date::now()
}

#[wasm_bindgen_test]
async fn ncut_cpu_and_gpu_in_the_browser() {
    let ctx = diffcut_wasm_tests::diffcut_gpu().await;
    log(&format!("adapter: {}", ctx.adapter));
    log("| grid | leaves CPU / GPU | CPU (wasm) | GPU (WebGPU) | levels | dispatches | readbacks |");
    let opts = TreeOptions {
        tau_max: 0.5,
        ..Default::default()
    };
    for g in [32usize, 48, 64] {
        let f = smooth_field(g, g, 1280, 3.0, 42);
        let t = now();
        let cpu = segment_tree(&f, 10.0, opts).unwrap();
        let t_cpu = now() - t;
        let t = now();
        let (gpu, stats) = segment_tree_gpu(&ctx, &f, 10.0, opts).await.unwrap();
        let t_gpu = now() - t;
        log(&format!(
            "| {g}² | {} / {} | {t_cpu:.0} ms | {t_gpu:.0} ms | {} | {} | {} |",
            cpu.leaves_at(0.5).unwrap().len(),
            gpu.leaves_at(0.5).unwrap().len(),
            stats.levels,
            stats.dispatches,
            stats.readbacks
        ));
    }
}

/// The CPU path alone (Rust → wasm, one thread), best of 3 per grid, with a checksum of the
/// labels: what the wasm's target features (SIMD128) change, without SwiftShader's minutes. Run
/// with `... --test bench -- ncut_cpu_only --nocapture`.
#[wasm_bindgen_test]
fn ncut_cpu_only() {
    let opts = TreeOptions {
        tau_max: 0.5,
        ..Default::default()
    };
    for g in [32usize, 48] {
        let f = smooth_field(g, g, 1280, 3.0, 42);
        let mut best = f64::INFINITY;
        let mut tree = None;
        for _ in 0..3 {
            let t = now();
            tree = Some(segment_tree(&f, 10.0, opts).unwrap());
            best = best.min(now() - t);
        }
        // The affinity alone (the Gram matrix and W = minmax(cos)^α): the rest is the solve.
        let mut gram = f64::INFINITY;
        for _ in 0..3 {
            let t = now();
            let w = diffcut::ncut::affinity(&f.data, g * g, f.c, 10.0).unwrap();
            gram = gram.min(now() - t);
            assert_eq!(w.n, g * g);
        }
        let tree = tree.unwrap();
        let (labels, k) = tree.labels_at(0.5).unwrap();
        let checksum: u64 = labels
            .iter()
            .enumerate()
            .map(|(i, &l)| (i as u64 + 1) * u64::from(l))
            .sum();
        log(&format!(
            "cpu-only {g}²: best of 3 {best:.0} ms (affinity {gram:.0} ms), {k} segments, labels checksum {checksum}"
        ));
    }
}
