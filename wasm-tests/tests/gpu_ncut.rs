//! The WGSL recursive NCut in the browser (WebGPU; SwiftShader in CI) against the CPU path of
//! the same crate compiled to wasm, on the golden fixtures and on smooth random fields.

use std::rc::Rc;

use diffcut::gpu::affinity::affinity_gpu;
use diffcut::gpu::{segment_tree_gpu, GpuContext};
use diffcut::ncut::affinity::tile_products;
use diffcut::ncut::tree::TreeNode;
use diffcut::ncut::{
    affinity, grow_subtree, segment_tree, wire, FeatureGrid, GramTile, Mode, Pending, SubtreeHelper, SubtreeJob,
    TileHelper, TreeOptions,
};
use diffcut::npy;
use diffcut::segmenter::{Compute, SegmentParams};
use diffcut::synth::smooth_field;
use diffcut_wasm_tests::log;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

async fn ctx() -> GpuContext {
    diffcut_wasm_tests::diffcut_gpu().await
}

fn agreement(a: &[u32], b: &[u32]) -> f64 {
    diffcut::eval::partition_agreement(a, b).unwrap()
}

/// The CPU affinity as the page runs it (wasm32 has its own SIMD128 Gram kernel, in blocks of
/// 4 × 2 rows) against `minmax(X̂X̂ᵀ)^α` in float64, on shapes with every ragged edge: cells not a
/// multiple of 4 or 2, channels not a multiple of 4, and a grid that spans two 256-cell tiles.
#[wasm_bindgen_test]
fn cpu_affinity_in_wasm_matches_a_float64_gram() {
    for (h, w, c, alpha) in [
        (11, 13, 37, 1.0f32),
        (15, 20, 6, 1.0),
        (11, 13, 37, 10.0),
        (3, 3, 3, 1.0),
    ] {
        let f = smooth_field(h, w, c, 2.0, 9);
        let n = h * w;
        let got = affinity(&f.data, n, c, alpha).unwrap();
        let x: Vec<f64> = f.data.iter().map(|&v| f64::from(v)).collect();
        let norm: Vec<f64> = (0..n)
            .map(|i| x[i * c..(i + 1) * c].iter().map(|v| v * v).sum::<f64>().sqrt())
            .collect();
        let s: Vec<f64> = (0..n * n)
            .map(|ij| {
                let (i, j) = (ij / n, ij % n);
                (0..c).map(|t| x[i * c + t] * x[j * c + t]).sum::<f64>() / (norm[i] * norm[j])
            })
            .collect();
        let lo = s.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = s.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let worst = s
            .iter()
            .zip(&got.w)
            .map(|(&v, &g)| (((v - lo) / (hi - lo)).powf(f64::from(alpha)) - f64::from(g)).abs())
            .fold(0.0, f64::max);
        assert!(worst < 2e-5, "{h}×{w}×{c}, α {alpha}: |W − W₆₄| up to {worst}");
        // Symmetric to the bit: the mirrored tiles and the diagonal tiles' upper triangle.
        for i in 0..n {
            for j in 0..i {
                assert_eq!(got.w[i * n + j].to_bits(), got.w[j * n + i].to_bits(), "W[{i}, {j}]");
            }
        }
    }
}

/// A helper in the same worker: the page's helper worker runs the same `tile_products` and
/// `grow_subtree`, with the subtree through the same wire.
struct SameWorker;

impl SubtreeHelper for SameWorker {
    fn start_subtree(&self, job: &SubtreeJob) -> Pending<Vec<TreeNode>> {
        let nodes = grow_subtree(job.clone()).and_then(|nodes| wire::decode_nodes(&wire::encode_nodes(&nodes)));
        Box::pin(async move { nodes })
    }
}

impl TileHelper for SameWorker {
    fn start(&self, x: &[f32], n: usize, c: usize, tiles: &[GramTile]) -> Pending<Vec<f32>> {
        let products = tile_products(x, n, c, tiles);
        Box::pin(async move { products })
    }
}

/// The page's CPU path with a helper grows the tree it grows alone (three tile rows).
#[wasm_bindgen_test]
async fn a_helper_worker_grows_the_same_tree_on_the_cpu_path() {
    let f = smooth_field(24, 25, 40, 2.0, 3);
    let params = SegmentParams {
        tau: 0.5,
        alpha: 10.0,
        tau_max: Some(0.6),
        mode: Mode::Official,
    };
    let alone = Compute::cpu().grow(f.clone(), &params).await.unwrap();
    let shared = Compute::cpu()
        .with_helper(Rc::new(SameWorker))
        .grow(f, &params)
        .await
        .unwrap();
    assert!(alone.tree.nodes.len() > 3, "{} nodes", alone.tree.nodes.len());
    assert_eq!(shared.tree, alone.tree);
}

#[wasm_bindgen_test]
async fn affinity_kernel_matches_cpu_in_the_browser() {
    let ctx = ctx().await;
    let f = smooth_field(12, 12, 80, 2.0, 5);
    let cpu = affinity(&f.data, 144, 80, 10.0).unwrap();
    let gpu = affinity_gpu(&ctx, &f, 10.0).await.unwrap();
    let diff = cpu.w.iter().zip(&gpu.w).fold(0.0f32, |m, (a, b)| m.max((a - b).abs()));
    assert!(diff < 2e-5, "max |W_gpu − W_cpu| = {diff}");
}

/// The golden fixtures (from the NumPy reference) embedded in the test binary.
const FIXTURES: &[(&str, &[u8], &[u8], f64, f32)] = &[
    (
        "smooth_12x12x64_t0.5_a10",
        include_bytes!("../../tests/fixtures/ncut/smooth_12x12x64_t0.5_a10.features.npy"),
        include_bytes!("../../tests/fixtures/ncut/smooth_12x12x64_t0.5_a10.labels.npy"),
        0.5,
        10.0,
    ),
    (
        "smooth_16x24x64_t0.5_a10",
        include_bytes!("../../tests/fixtures/ncut/smooth_16x24x64_t0.5_a10.features.npy"),
        include_bytes!("../../tests/fixtures/ncut/smooth_16x24x64_t0.5_a10.labels.npy"),
        0.5,
        10.0,
    ),
    (
        "smooth_16x16x256_t0.5_a5",
        include_bytes!("../../tests/fixtures/ncut/smooth_16x16x256_t0.5_a5.features.npy"),
        include_bytes!("../../tests/fixtures/ncut/smooth_16x16x256_t0.5_a5.labels.npy"),
        0.5,
        5.0,
    ),
    (
        "blobs_16x16x3_t0.5_a10",
        include_bytes!("../../tests/fixtures/ncut/blobs_16x16x3_t0.5_a10.features.npy"),
        include_bytes!("../../tests/fixtures/ncut/blobs_16x16x3_t0.5_a10.labels.npy"),
        0.5,
        10.0,
    ),
];

#[wasm_bindgen_test]
async fn gpu_partitions_match_the_reference_and_the_cpu_in_the_browser() {
    let ctx = ctx().await;
    for &(name, feats, labels, tau, alpha) in FIXTURES {
        let (shape, data) = npy::read_f32(feats, 3).unwrap();
        let f = FeatureGrid::new(shape[0], shape[1], shape[2], data).unwrap();
        let (_, want) = npy::read_labels(labels, 2).unwrap();
        let want: Vec<u32> = want.iter().map(|&v| v as u32).collect();
        let opts = TreeOptions {
            tau_max: tau,
            mode: Mode::Official,
            ..Default::default()
        };
        let (gpu, stats) = segment_tree_gpu(&ctx, &f, alpha, opts).await.unwrap();
        let cpu = segment_tree(&f, alpha, opts).unwrap();
        let (g, kg) = gpu.labels_at(tau).unwrap();
        let (c, kc) = cpu.labels_at(tau).unwrap();
        let (vs_ref, vs_cpu) = (agreement(&g, &want), agreement(&g, &c));
        log(&format!("{name}: GPU {kg} segments, CPU {kc}; agreement with the reference {vs_ref:.4}, with the CPU {vs_cpu:.4}; {} levels, {} dispatches, {} readbacks", stats.levels, stats.dispatches, stats.readbacks));
        assert!(vs_ref >= 0.99 && vs_cpu >= 0.99, "{name}: {vs_ref} / {vs_cpu}");
        assert_eq!(stats.readbacks, stats.levels + 1);
    }
}

#[wasm_bindgen_test]
async fn gpu_tree_matches_cpu_tree_for_every_tau_in_the_browser() {
    let ctx = ctx().await;
    let f = smooth_field(12, 16, 64, 3.0, 4);
    let opts = TreeOptions {
        tau_max: 1.0,
        mode: Mode::Clean,
        ..Default::default()
    };
    let (gpu, _) = segment_tree_gpu(&ctx, &f, 10.0, opts).await.unwrap();
    let cpu = segment_tree(&f, 10.0, opts).unwrap();
    for tau in [0.2, 0.4, 0.6, 0.8, 1.0] {
        let agree = agreement(&gpu.leaf_labels_at(tau).unwrap().0, &cpu.leaf_labels_at(tau).unwrap().0);
        assert!(agree >= 0.99, "τ = {tau}: {agree}");
    }
    // Deterministic run to run.
    let (again, _) = segment_tree_gpu(&ctx, &f, 10.0, opts).await.unwrap();
    assert_eq!(gpu, again);
}

#[wasm_bindgen_test]
async fn trivial_graphs_and_limits_in_the_browser() {
    let ctx = ctx().await;
    let one = FeatureGrid::new(1, 1, 3, vec![1.0, 2.0, 3.0]).unwrap();
    assert_eq!(
        segment_tree_gpu(&ctx, &one, 10.0, TreeOptions::default())
            .await
            .unwrap()
            .0
            .labels_at(0.5)
            .unwrap()
            .1,
        1
    );
    let same = FeatureGrid::new(4, 4, 2, vec![0.3; 32]).unwrap();
    assert_eq!(
        segment_tree_gpu(&ctx, &same, 10.0, TreeOptions::default())
            .await
            .unwrap()
            .0
            .labels_at(0.5)
            .unwrap()
            .1,
        1
    );
    let side = ((ctx.max_buffer() / 4) as f64).sqrt() as usize + 64;
    let big = FeatureGrid {
        h: side,
        w: 1,
        c: 1,
        data: vec![1.0; side],
    };
    let err = segment_tree_gpu(&ctx, &big, 10.0, TreeOptions::default())
        .await
        .unwrap_err();
    assert!(matches!(err, diffcut::Error::GpuLimit { .. }), "{err}");
}
