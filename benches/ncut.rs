//! `cargo bench --bench ncut`: recursive NCut on smooth random feature fields (C = 1280, σ = 3
//! cells, see `diffcut::synth`), the configuration of DiffCut's 32×32 SSD-1B grid and its
//! neighbours. Results are recorded in BENCHMARKS.md.
//!
//! - `recursion_tau0.5/G`: features → affinity → full recursion at τ = 0.5, α = 10 (the official
//!   setting; the tree is grown only as far as τ = 0.5 needs).
//! - `tree_tau_max1/G`: the same, growing the whole segment tree to `DEFAULT_TAU_MAX` = 1.
//! - `recut/G`: re-cutting a built tree at a new τ (what the τ slider does).
//! - `affinity/G`: the affinity matrix alone.
//! - `root_fiedler/G`: the root's Fiedler vector alone (degrees and Lanczos on the whole `W`), the
//!   part of the tree that no second worker of the page shares.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use diffcut::ncut::lanczos::{fiedler, LanczosOptions};
use diffcut::ncut::{affinity, segment_tree, TreeOptions, DEFAULT_TAU_MAX};
use diffcut::synth::smooth_field;
use std::hint::black_box;
use std::time::Duration;

const C: usize = 1280;

fn bench(c: &mut Criterion) {
    let grids = [16usize, 32, 48, 64];
    let fields: Vec<_> = grids.iter().map(|&g| (g, smooth_field(g, g, C, 3.0, 42))).collect();

    let mut group = c.benchmark_group("affinity");
    for (g, f) in &fields {
        group.sample_size(if *g >= 48 { 10 } else { 30 });
        group.bench_with_input(BenchmarkId::from_parameter(g), f, |b, f| {
            b.iter(|| affinity(black_box(&f.data), g * g, C, 10.0).unwrap())
        });
    }
    group.finish();

    let mut group = c.benchmark_group("root_fiedler");
    for (g, f) in &fields {
        group.sample_size(if *g >= 48 { 10 } else { 30 });
        let aff = affinity(&f.data, g * g, C, 10.0).unwrap();
        group.bench_with_input(BenchmarkId::from_parameter(g), &aff, |b, aff| {
            b.iter(|| {
                let d: Vec<f64> = aff
                    .w
                    .chunks_exact(aff.n)
                    .map(|r| r.iter().map(|&v| f64::from(v)).sum())
                    .collect();
                fiedler(black_box(&aff.w), &d, LanczosOptions::default()).unwrap()
            })
        });
    }
    group.finish();

    let mut group = c.benchmark_group("recursion_tau0.5");
    for (g, f) in &fields {
        group.sample_size(if *g >= 48 { 10 } else { 30 });
        let opts = TreeOptions {
            tau_max: 0.5,
            ..Default::default()
        };
        group.bench_with_input(BenchmarkId::from_parameter(g), f, |b, f| {
            b.iter(|| segment_tree(black_box(f), 10.0, opts).unwrap().labels_at(0.5).unwrap())
        });
    }
    group.finish();

    let mut group = c.benchmark_group("tree_tau_max1");
    for (g, f) in &fields {
        group
            .sample_size(10)
            .measurement_time(Duration::from_secs(if *g >= 48 { 20 } else { 5 }));
        let opts = TreeOptions {
            tau_max: DEFAULT_TAU_MAX,
            ..Default::default()
        };
        group.bench_with_input(BenchmarkId::from_parameter(g), f, |b, f| {
            b.iter(|| segment_tree(black_box(f), 10.0, opts).unwrap())
        });
    }
    group.finish();

    let mut group = c.benchmark_group("recut");
    for (g, f) in fields.iter().filter(|(g, _)| *g <= 32) {
        let tree = segment_tree(f, 10.0, TreeOptions::default()).unwrap();
        let mut tau = 0.3;
        group.bench_with_input(BenchmarkId::from_parameter(g), &tree, |b, t| {
            b.iter(|| {
                tau = if tau > 0.9 { 0.3 } else { tau + 0.01 };
                t.labels_at(black_box(tau)).unwrap()
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
