//! `cargo bench --bench ncut_gpu`: the WGSL recursive NCut beside the CPU path, in the same run,
//! on smooth random fields (C = 1280, σ = 3, τ = 0.5, α = 10), with the GPU's dispatch and
//! readback counts per image. Uses wgpu's default adapter: lavapipe on a machine without a GPU
//! (a software floor, not a GPU timing). Results are recorded in BENCHMARKS.md.
//!
//! `GRIDS=32,48 RUNS=3 cargo bench --bench ncut_gpu` to choose sizes and repetitions. Run as a test
//! (`cargo test --all-targets`, no `--bench` argument) it does one tiny pass, as a smoke test.

use std::time::{Duration, Instant};

use diffcut::gpu::{segment_tree_gpu, GpuContext};
use diffcut::ncut::{segment_tree, TreeOptions};
use diffcut::synth::smooth_field;

fn best<T>(runs: usize, mut f: impl FnMut() -> T) -> (Duration, T) {
    let mut out = None;
    let mut best = Duration::MAX;
    for _ in 0..runs {
        let t = Instant::now();
        let v = f();
        best = best.min(t.elapsed());
        out = Some(v);
    }
    (best, out.expect("at least one run"))
}

fn main() {
    let benchmarking = std::env::args().any(|a| a == "--bench");
    let default_grids = if benchmarking { "32,48,64" } else { "8" };
    let grids: Vec<usize> = std::env::var("GRIDS")
        .unwrap_or_else(|_| default_grids.into())
        .split(',')
        .map(|g| g.trim().parse().expect("GRIDS=32,48,64"))
        .collect();
    let runs: usize = std::env::var("RUNS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(if benchmarking { 3 } else { 1 });
    let ctx = pollster::block_on(GpuContext::new()).expect("a wgpu adapter");
    println!("adapter: {}", ctx.adapter);
    println!("| grid | leaves CPU / GPU | official labels CPU / GPU | CPU best of {runs} | GPU best of {runs} | GPU levels | dispatches | readbacks |");
    println!("|---|---|---|---|---|---|---|---|");
    let opts = TreeOptions {
        tau_max: 0.5,
        ..Default::default()
    };
    for g in grids {
        let f = smooth_field(g, g, 1280, 3.0, 42);
        let (tc, cpu) = best(runs, || segment_tree(&f, 10.0, opts).unwrap());
        let (tg, (gpu, stats)) = best(runs, || {
            pollster::block_on(segment_tree_gpu(&ctx, &f, 10.0, opts)).unwrap()
        });
        let (kc, kg) = (cpu.labels_at(0.5).unwrap().1, gpu.labels_at(0.5).unwrap().1);
        let (lc, lg) = (cpu.leaves_at(0.5).unwrap().len(), gpu.leaves_at(0.5).unwrap().len());
        println!(
            "| {g}² | {lc} / {lg} | {kc} / {kg} | {:.1} ms | {:.1} ms | {} | {} | {} |",
            tc.as_secs_f64() * 1e3,
            tg.as_secs_f64() * 1e3,
            stats.levels,
            stats.dispatches,
            stats.readbacks
        );
    }
}
