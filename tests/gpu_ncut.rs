//! The WGSL path against the CPU path, natively (lavapipe in CI). These tests need a GPU
//! adapter with compute shaders; without one they fail, loudly (CI installs lavapipe).
#![cfg(feature = "gpu")]

use std::path::Path;

use diffcut::gpu::affinity::affinity_gpu;
use diffcut::gpu::{segment_tree_gpu, GpuContext};
use diffcut::ncut::{affinity, segment_tree, FeatureGrid, Mode, TreeOptions};
use diffcut::npy;
use diffcut::synth::smooth_field;

fn ctx() -> GpuContext {
    pollster::block_on(GpuContext::new()).expect("a GPU adapter (install mesa-vulkan-drivers for lavapipe)")
}

fn agreement(a: &[u32], b: &[u32]) -> f64 {
    diffcut::eval::partition_agreement(a, b).unwrap()
}

/// cos ∠(a, b).
fn cosine(a: &[f64], b: &[f64]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let norm = |v: &[f64]| v.iter().map(|x| x * x).sum::<f64>().sqrt();
    dot / (norm(a) * norm(b))
}

#[test]
fn affinity_kernel_matches_cpu() {
    let ctx = ctx();
    for (g, c, alpha) in [(8usize, 16usize, 10.0f32), (13, 70, 5.0), (20, 256, 1.0)] {
        let f = smooth_field(g, g, c, 2.0, 7);
        let cpu = affinity(&f.data, g * g, c, alpha).unwrap();
        let gpu = pollster::block_on(affinity_gpu(&ctx, &f, alpha)).unwrap();
        let diff = cpu.w.iter().zip(&gpu.w).fold(0.0f32, |m, (a, b)| m.max((a - b).abs()));
        assert!(diff < 2e-5, "{g}² C={c} α={alpha}: max |W_gpu − W_cpu| = {diff}");
        for i in 0..g * g {
            for j in 0..g * g {
                assert_eq!(gpu.w[i * g * g + j], gpu.w[j * g * g + i], "W is exactly symmetric");
            }
        }
    }
}

#[test]
fn gpu_tree_matches_cpu_tree_on_smooth_fields() {
    let ctx = ctx();
    for (h, w, c, seed) in [(12usize, 12usize, 64usize, 1u64), (16, 16, 128, 2), (10, 18, 32, 3)] {
        let f = smooth_field(h, w, c, 3.0, seed);
        for mode in [Mode::Official, Mode::Clean] {
            let opts = TreeOptions {
                tau_max: 1.0,
                mode,
                ..Default::default()
            };
            let cpu = segment_tree(&f, 10.0, opts).unwrap();
            let (gpu, stats) = pollster::block_on(segment_tree_gpu(&ctx, &f, 10.0, opts)).unwrap();
            gpu.validate().unwrap();
            assert_eq!(
                stats.readbacks,
                stats.levels + 1,
                "one readback per level, plus the root's"
            );
            assert_eq!(gpu.dropped, cpu.dropped);
            // The tree's partitions (one label per leaf). The official float32 label assembly on
            // top of them is tested on the CPU; with ~100 splits it amplifies sign ties.
            for tau in [0.3, 0.5, 0.8, 1.0] {
                let (a, ka) = cpu.leaf_labels_at(tau).unwrap();
                let (b, kb) = gpu.leaf_labels_at(tau).unwrap();
                let agree = agreement(&a, &b);
                assert!(
                    agree >= 0.99,
                    "{h}×{w} {mode:?} τ={tau}: agreement {agree}, {ka} vs {kb} segments"
                );
            }
            // The root's cut, kernel by kernel: λ₂, the Fiedler vector and the NCut value.
            let (rc, rg) = (cpu.nodes[0].cut.as_ref().unwrap(), gpu.nodes[0].cut.as_ref().unwrap());
            assert!(
                (rc.lambda - rg.lambda).abs() < 1e-4,
                "λ₂ {} vs {}",
                rc.lambda,
                rg.lambda
            );
            assert!(
                (rc.ncut - rg.ncut).abs() < 1e-4 * rc.ncut.max(1e-3),
                "NCut {} vs {}",
                rc.ncut,
                rg.ncut
            );
            let cos = cosine(&rc.fiedler, &rg.fiedler);
            assert!(cos > 0.9999, "Fiedler cosine {cos}");
        }
    }
}

/// DiffCut's grid: the root's 120 Lanczos steps in one workgroup run past llvmpipe's limit on loop
/// iterations for one dispatch (a single dispatch lost its Krylov basis at step 13 here), so each
/// level is spread over a few dispatches (`lanczos::plan`); the whole tree stays within a few
/// hundred.
#[test]
fn a_32x32_tree_matches_the_cpu_in_a_few_hundred_dispatches() {
    let ctx = ctx();
    let f = smooth_field(32, 32, 256, 3.0, 4);
    let opts = TreeOptions {
        tau_max: 0.5,
        mode: Mode::Clean,
        ..Default::default()
    };
    let cpu = segment_tree(&f, 10.0, opts).unwrap();
    let (gpu, stats) = pollster::block_on(segment_tree_gpu(&ctx, &f, 10.0, opts)).unwrap();
    assert!(stats.dispatches <= 300, "{stats:?}");
    let (rc, rg) = (cpu.nodes[0].cut.as_ref().unwrap(), gpu.nodes[0].cut.as_ref().unwrap());
    // λ₂ = 1 − θ with θ ≈ 1 from f32 α, β: an absolute error of f32's order.
    assert!(
        (rc.lambda - rg.lambda).abs() < 1e-5,
        "λ₂ {} vs {}",
        rc.lambda,
        rg.lambda
    );
    let cos = cosine(&rc.fiedler, &rg.fiedler);
    assert!(cos > 0.99999, "Fiedler cosine {cos}");
    let (a, ka) = cpu.leaf_labels_at(0.5).unwrap();
    let (b, kb) = gpu.leaf_labels_at(0.5).unwrap();
    assert_eq!(agreement(&a, &b), 1.0, "{ka} vs {kb} segments");
}

#[test]
fn gpu_partitions_match_the_numpy_reference() {
    #[derive(serde::Deserialize)]
    struct Case {
        name: String,
        tau: f64,
        alpha: f32,
        quirk_labels_fragile: bool,
    }
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/ncut");
    let cases: Vec<Case> = serde_json::from_slice(&std::fs::read(dir.join("cases.json")).unwrap()).unwrap();
    let ctx = ctx();
    let mut report = Vec::new();
    for case in cases {
        let (shape, data) = npy::read_f32(
            &std::fs::read(dir.join(format!("{}.features.npy", case.name))).unwrap(),
            3,
        )
        .unwrap();
        let f = FeatureGrid::new(shape[0], shape[1], shape[2], data).unwrap();
        for (mode, suffix) in [(Mode::Official, "labels"), (Mode::Clean, "clean.labels")] {
            if mode == Mode::Official && case.quirk_labels_fragile {
                continue;
            }
            let (_, want) = npy::read_labels(
                &std::fs::read(dir.join(format!("{}.{suffix}.npy", case.name))).unwrap(),
                2,
            )
            .unwrap();
            let want: Vec<u32> = want.iter().map(|&v| v as u32).collect();
            let opts = TreeOptions {
                tau_max: case.tau,
                mode,
                ..Default::default()
            };
            let (tree, _) = pollster::block_on(segment_tree_gpu(&ctx, &f, case.alpha, opts)).unwrap();
            let (got, _) = tree.labels_at(case.tau).unwrap();
            let agree = agreement(&got, &want);
            report.push(format!("{} {suffix}: {agree:.4}", case.name));
            assert!(agree >= 0.99, "{}", report.join("\n"));
        }
    }
    println!("{}", report.join("\n"));
}

#[test]
fn gpu_is_deterministic() {
    let ctx = ctx();
    let f = smooth_field(14, 14, 96, 3.0, 9);
    let opts = TreeOptions {
        tau_max: 1.0,
        ..Default::default()
    };
    let a = pollster::block_on(segment_tree_gpu(&ctx, &f, 10.0, opts)).unwrap().0;
    let b = pollster::block_on(segment_tree_gpu(&ctx, &f, 10.0, opts)).unwrap().0;
    assert_eq!(a, b);
}

#[test]
fn gpu_trivial_graphs_and_bad_input() {
    let ctx = ctx();
    // One cell, identical features: one segment, no hang.
    for (h, w, data) in [(1usize, 1usize, vec![1.0f32, 2.0]), (3, 3, vec![0.5f32; 18])] {
        let f = FeatureGrid::new(h, w, 2, data).unwrap();
        let (t, _) = pollster::block_on(segment_tree_gpu(&ctx, &f, 10.0, TreeOptions::default())).unwrap();
        assert_eq!(t.labels_at(0.5).unwrap().1, 1);
    }
    // Two different cells: NCut 0, two segments.
    let f = FeatureGrid::new(1, 2, 2, vec![1.0, 0.0, 0.6, 0.8]).unwrap();
    let (t, _) = pollster::block_on(segment_tree_gpu(&ctx, &f, 10.0, TreeOptions::default())).unwrap();
    assert_eq!(t.labels_at(0.5).unwrap().1, 2);
    // Out-of-range parameters are caught before any GPU work.
    let f = smooth_field(4, 4, 8, 1.0, 1);
    assert!(pollster::block_on(segment_tree_gpu(&ctx, &f, 0.0, TreeOptions::default())).is_err());
    assert!(pollster::block_on(segment_tree_gpu(
        &ctx,
        &f,
        10.0,
        TreeOptions {
            tau_max: 3.0,
            ..Default::default()
        }
    ))
    .is_err());
}

#[test]
fn a_graph_beyond_the_device_limits_is_a_typed_error() {
    let ctx = ctx();
    // N×N floats beyond one storage binding: the check happens before any allocation.
    let side = ((ctx.max_buffer() / 4) as f64).sqrt() as usize + 64;
    let f = FeatureGrid {
        h: side,
        w: 1,
        c: 1,
        data: vec![1.0; side],
    };
    let err = pollster::block_on(segment_tree_gpu(&ctx, &f, 10.0, TreeOptions::default())).unwrap_err();
    assert!(matches!(err, diffcut::Error::GpuLimit { .. }), "{err}");
    assert!(err.to_string().contains("affinity"), "{err}");
}

/// On llvmpipe a root whose single Lanczos step runs past its loop limit would lose its Krylov
/// basis silently; it is refused first (or, where the affinity does not fit a binding, by
/// `GpuLimit`), before any allocation: an error, never a wrong tree.
#[test]
fn a_root_beyond_llvmpipes_loop_limit_is_an_error() {
    let ctx = ctx();
    let side = 100;
    let f = FeatureGrid {
        h: side,
        w: side,
        c: 1,
        data: vec![1.0; side * side],
    };
    let got = pollster::block_on(segment_tree_gpu(&ctx, &f, 10.0, TreeOptions::default()));
    if !ctx.adapter.contains("llvmpipe") {
        return; // another device: no loop limit (a GpuLimit or a tree, both fine here)
    }
    let err = got.unwrap_err();
    let affinity_fits = (side * side) as u64 * (side * side) as u64 * 4 <= ctx.max_buffer();
    if affinity_fits {
        assert!(err.to_string().contains("llvmpipe's limit"), "{err}");
    } else {
        assert!(matches!(err, diffcut::Error::GpuLimit { .. }), "{err}");
    }
}

#[test]
fn a_lost_device_is_an_error_not_a_hang() {
    let ctx = ctx();
    ctx.device.destroy();
    let f = smooth_field(6, 6, 8, 1.0, 1);
    let err = pollster::block_on(segment_tree_gpu(&ctx, &f, 10.0, TreeOptions::default())).unwrap_err();
    assert!(matches!(err, diffcut::Error::Gpu(_)), "{err}");
}

#[test]
fn prefer_gpu_falls_back_to_the_cpu_and_says_why() {
    use diffcut::segmenter::{Backend, Compute, DevicePolicy, Numbering, SegmentParams};
    use std::sync::Arc;
    let params = SegmentParams {
        tau: 0.5,
        alpha: 10.0,
        tau_max: Some(0.9),
        mode: Mode::Official,
    };
    let labels = |seg: &diffcut::segmenter::Segmentation| seg.cell_labels(0.5, Numbering::Mode).unwrap().into_labels();
    let f = smooth_field(8, 8, 16, 1.5, 4);
    let cpu = labels(&pollster::block_on(Compute::cpu().grow(f.clone(), &params)).unwrap());

    let ctx = Arc::new(ctx());
    let compute = Compute::with_gpu(DevicePolicy::PreferGpu, ctx.clone());
    let g = pollster::block_on(compute.grow(f.clone(), &params)).unwrap();
    assert!(g.backend == Backend::Gpu && g.note.is_none());
    assert_eq!(agreement(&labels(&g), &cpu), 1.0);

    let none = pollster::block_on(Compute::open(DevicePolicy::Cpu)).unwrap();
    let g = pollster::block_on(none.grow(f.clone(), &params)).unwrap();
    assert!(g.backend == Backend::Cpu && g.note.is_none());
    assert_eq!(labels(&g), cpu);

    // Beyond the GPU's limits: the CPU, for this grid only.
    let side = ((ctx.max_buffer() / 4) as f64).sqrt() as usize + 64;
    let big = FeatureGrid {
        h: side,
        w: 1,
        c: 1,
        data: vec![1.0; side],
    };
    let g = pollster::block_on(compute.grow(big, &params)).unwrap();
    assert!(g.backend == Backend::Cpu, "a limit goes to the CPU");
    assert!(
        g.note.as_deref().is_some_and(|n| n.contains("used the CPU")),
        "{:?}",
        g.note
    );
    assert_eq!(compute.backend(), Backend::Gpu, "a limit is not a failing GPU");

    // Strict GPU: a limit is an error.
    let strict = Compute::with_gpu(DevicePolicy::Gpu, ctx.clone());
    let big = FeatureGrid {
        h: side,
        w: 1,
        c: 1,
        data: vec![1.0; side],
    };
    assert!(matches!(
        pollster::block_on(strict.grow(big, &params)),
        Err(diffcut::Error::GpuLimit { .. })
    ));

    // A failing GPU: the CPU, and the GPU is dropped for every clone of the compute.
    ctx.device.destroy();
    let clone = compute.clone();
    let g = pollster::block_on(compute.grow(f.clone(), &params)).unwrap();
    assert!(g.backend == Backend::Cpu);
    assert_eq!(labels(&g), cpu);
    assert_eq!(clone.backend(), Backend::Cpu);
    assert!(
        clone.note().is_some_and(|n| n.contains("from now on")),
        "{:?}",
        clone.note()
    );
    assert!(matches!(
        pollster::block_on(strict.grow(f, &params)),
        Err(diffcut::Error::Gpu(_))
    ));
}
