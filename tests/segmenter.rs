//! The front door (`diffcut::segmenter`) gives what the layers below it give when called by hand:
//! the same tree, the same labels at every τ, the same refined labels; and it refuses bad input
//! before doing any work. (The GPU policies are tested in `tests/gpu_ncut.rs`.)

use std::path::Path;

use diffcut::features::color_features;
use diffcut::image_io::{load_image, resize_bilinear, RgbImage};
use diffcut::ncut::{segment_tree, TreeOptions};
use diffcut::refine::{assign, pamr};
use diffcut::segmenter::{
    Backend, Compute, FeatureSource, LabelMap, Mode, Numbering, PamrConfig, Refine, SegmentParams, Segmenter,
};

fn photo(w: u32, h: u32) -> RgbImage {
    let img = load_image(&Path::new(env!("CARGO_MANIFEST_DIR")).join("samples/coffee.jpg")).unwrap();
    resize_bilinear(&img, w, h)
}

fn params(mode: Mode) -> SegmentParams {
    SegmentParams {
        tau: 0.5,
        alpha: 10.0,
        tau_max: Some(0.9),
        mode,
    }
}

#[test]
fn segment_is_features_then_the_tree() {
    let img = photo(120, 90);
    let segmenter = Segmenter::new(FeatureSource::Color { grid: 12 }, Compute::cpu());
    for mode in [Mode::Official, Mode::Clean] {
        let seg = pollster::block_on(segmenter.segment(&img, &params(mode))).unwrap();
        assert_eq!(seg.backend, Backend::Cpu);
        let features = color_features(&img, 12).unwrap();
        assert_eq!(seg.features, features);
        let opts = TreeOptions {
            tau_max: 0.9,
            mode,
            ..TreeOptions::default()
        };
        let tree = segment_tree(&features, 10.0, opts).unwrap();
        assert_eq!(seg.tree, tree);
        for tau in [0.2, 0.5, 0.9] {
            let (want, k) = tree.labels_at(tau).unwrap();
            let got = seg.cell_labels(tau, Numbering::Mode).unwrap();
            assert_eq!((got.labels(), got.segments()), (&want[..], k));
            assert_eq!((got.width(), got.height()), (12, 12));
            let (leaves, kl) = tree.leaf_labels_at(tau).unwrap();
            let got = seg.cell_labels(tau, Numbering::Leaves).unwrap();
            assert_eq!((got.labels(), got.segments()), (&leaves[..], kl));
            assert_eq!(seg.segments(tau, Numbering::Leaves).unwrap(), kl);
            // Exact per-pixel labels: the concept assignment of those cell labels.
            let px = seg.pixel_labels(tau, Numbering::Leaves, 120, 90).unwrap();
            assert_eq!(px, assign(&features, &got, 120, 90).unwrap());
        }
        if mode == Mode::Clean {
            assert_eq!(seg.merged_leaves(0.9), None, "clean mode never merges leaves");
        }
    }
}

#[test]
fn refined_labels_are_pamr_at_the_working_size() {
    let segmenter = Segmenter::new(FeatureSource::Color { grid: 8 }, Compute::cpu());
    let cfg = PamrConfig::eval();
    // Small enough to refine at its own size.
    let img = photo(64, 40);
    let seg = pollster::block_on(segmenter.segment(&img, &params(Mode::Official))).unwrap();
    let got = pollster::block_on(segmenter.refined_labels(&seg, &img, 0.5, Numbering::Leaves, &cfg)).unwrap();
    let coarse = seg.pixel_labels(0.5, Numbering::Leaves, 64, 40).unwrap();
    assert_eq!(got, pamr(&img, &coarse, &cfg).unwrap());
    let exact = pollster::block_on(segmenter.labels(&seg, &img, 0.5, Numbering::Leaves, Refine::None)).unwrap();
    assert_eq!(exact, coarse);
    // Larger than PAMR_MAX_SIDE on its long side: refined at 1024 × 512, then scaled back.
    let big = photo(2048, 1024);
    let seg = pollster::block_on(segmenter.segment(&big, &params(Mode::Official))).unwrap();
    let got = pollster::block_on(segmenter.refined_labels(&seg, &big, 0.5, Numbering::Mode, &cfg)).unwrap();
    assert_eq!((got.width(), got.height()), (2048, 1024));
    let work = resize_bilinear(&big, 1024, 512);
    let coarse = seg.pixel_labels(0.5, Numbering::Mode, 1024, 512).unwrap();
    let want = pamr(&work, &coarse, &cfg).unwrap();
    assert_eq!(got, want.resized_nearest(2048, 1024).unwrap());
    assert_eq!(
        got.labels()[2 * 2048 + 3],
        want.labels()[1024 + 1],
        "pixel (3, 2) comes from (1, 1)"
    );
}

#[test]
fn bad_input_is_refused_before_any_work() {
    let img = photo(32, 32);
    let cpu = Compute::cpu();
    let msg = |source: FeatureSource, p: SegmentParams| {
        pollster::block_on(Segmenter::new(source, cpu.clone()).segment(&img, &p))
            .unwrap_err()
            .to_string()
    };
    let ok = params(Mode::Official);
    assert!(msg(FeatureSource::Color { grid: 0 }, ok).contains("grid"));
    assert!(msg(FeatureSource::Color { grid: 129 }, ok).contains("129"));
    let e = msg(FeatureSource::Color { grid: 8 }, SegmentParams { tau: 3.0, ..ok });
    assert!(e.contains("tau") && e.contains('3'), "{e}");
    let e = msg(FeatureSource::Color { grid: 8 }, SegmentParams { alpha: 0.0, ..ok });
    assert!(e.contains("alpha"), "{e}");
    let e = msg(
        FeatureSource::Color { grid: 8 },
        SegmentParams {
            tau_max: Some(2.5),
            ..ok
        },
    );
    assert!(e.contains("2.5"), "{e}");
}

#[test]
fn questions_about_a_tree_name_what_is_wrong() {
    let img = photo(48, 48);
    let segmenter = Segmenter::new(FeatureSource::Color { grid: 8 }, Compute::cpu());
    let seg = pollster::block_on(segmenter.segment(&img, &params(Mode::Official))).unwrap();
    // Beyond τ_max and outside (0, 2].
    assert!(seg
        .cell_labels(0.95, Numbering::Mode)
        .unwrap_err()
        .to_string()
        .contains("tau_max"));
    assert!(seg.cell_labels(0.0, Numbering::Leaves).is_err());
    // Too many pixels asked for.
    assert!(seg
        .pixel_labels(0.5, Numbering::Leaves, 1 << 14, 1 << 14)
        .unwrap_err()
        .to_string()
        .contains("labels asked for"));
    let n = seg.tree.nodes.len() as u32;
    assert!(seg.node(n).unwrap_err().to_string().contains(&format!("{n} nodes")));
    // The root's Fiedler vector covers the grid; a child's is NaN outside its region.
    let root = seg.fiedler_on_grid(0).unwrap();
    assert!(root.iter().all(|v| v.is_finite()));
    if let Some([a, _]) = seg.tree.nodes[0].children {
        if seg.tree.nodes[a as usize].cut.is_some() {
            let child = seg.fiedler_on_grid(a).unwrap();
            let inside = &seg.tree.nodes[a as usize].cells;
            for (c, v) in child.iter().enumerate() {
                assert_eq!(v.is_finite(), inside.contains(&(c as u32)), "cell {c}");
            }
        }
    }
    // A leaf has no cut.
    let leaf = seg.tree.leaves_at(0.5).unwrap()[0] as u32;
    if seg.tree.nodes[leaf as usize].cut.is_none() {
        assert!(seg.node(leaf).unwrap_err().to_string().contains("no cut"));
    }
}

#[test]
fn label_maps_export_as_png() {
    let labels = LabelMap::new((0..300).map(|i| i % 257).collect(), 20, 15, 257).unwrap();
    let png = labels.to_png().unwrap();
    let back = image::load_from_memory(&png).unwrap();
    assert_eq!(back.color(), image::ColorType::L16, "more than 256 segments → 16-bit");
    assert_eq!(back.to_luma16().into_raw()[256], 256);
}

/// Each source carries its kind's calibration; the diffusion kind keeps the paper's τ = 0.5, α = 10
/// (docs/ALGORITHM.md), whatever the colour features are tuned to.
#[test]
fn each_source_carries_its_kinds_defaults() {
    use diffcut::segmenter::FeatureKind;
    let colour = FeatureSource::Color { grid: 32 };
    assert_eq!(colour.kind(), FeatureKind::Color);
    let d = FeatureKind::Color.defaults();
    assert_eq!((colour.default_tau(), colour.default_alpha()), (d.tau, d.alpha));
    assert_eq!(
        (d.tau, d.alpha),
        (diffcut::features::DEFAULT_TAU, diffcut::features::DEFAULT_ALPHA)
    );
    let p = colour.default_params();
    assert_eq!((p.tau, p.alpha), (d.tau, d.alpha));
    let paper = FeatureKind::Diffusion.defaults();
    assert_eq!((paper.tau, paper.alpha), (0.5, 10.0));
    for kind in FeatureKind::ALL {
        let d = kind.defaults();
        assert!(
            d.tau_min > 0.0 && d.tau_min <= d.tau && d.tau <= d.tau_max && d.tau_max <= 2.0,
            "{kind:?}: {d:?}"
        );
    }
}

/// Regions of the tree (src/select.rs): a node at or above the segments at τ is exactly the union
/// of its segments there; a finer node lies inside its parent's region; the segment under a pixel
/// holds it, and each finer step keeps holding it.
#[test]
fn regions_follow_the_tree_and_hold_their_pixel() {
    use diffcut::select::{is_within, tau_plus};
    let img = photo(96, 72);
    let compute = Compute::cpu();
    let segmenter = Segmenter::new(FeatureSource::Color { grid: 12 }, compute.clone());
    let seg = pollster::block_on(segmenter.segment(&img, &params(Mode::Clean))).unwrap();
    let tau = 0.5;
    let labels = pollster::block_on(compute.labels(&seg, &img, tau, Numbering::Leaves, Refine::None)).unwrap();
    let leaves = seg.tree.leaves_at(tau).unwrap();
    let region = |n: u32| pollster::block_on(compute.region_mask(&seg, &img, &[n], tau, Refine::None)).unwrap();
    let (mut above, mut below) = (0, 0);
    for n in 0..seg.tree.nodes.len() as u32 {
        let got = region(n);
        if tau_plus(&seg.tree, n).unwrap() <= tau {
            above += 1;
            let want: Vec<bool> = labels
                .labels()
                .iter()
                .map(|&l| is_within(&seg.tree, leaves[l as usize] as u32, n))
                .collect();
            assert_eq!(got.flags(), &want[..], "node {n}");
        } else {
            below += 1;
            let parent = region(seg.tree.nodes[n as usize].parent.unwrap());
            assert!(
                got.flags().iter().zip(parent.flags()).all(|(c, p)| !c || *p),
                "node {n} leaves its parent"
            );
        }
    }
    assert!(
        above > 2 && below > 2,
        "{above} nodes at or above the segments, {below} below"
    );

    let at = (30, 40);
    let mut node = pollster::block_on(compute.segment_at(&seg, &img, at, tau, Refine::None)).unwrap();
    assert!(leaves.contains(&(node as usize)));
    let mut steps = 0;
    while let Some(child) = pollster::block_on(compute.finer(&seg, &img, node, at, tau, Refine::None)).unwrap() {
        assert_eq!(seg.tree.nodes[child as usize].parent, Some(node));
        assert!(
            region(child).flags()[at.1 * 96 + at.0],
            "the finer region holds the pixel"
        );
        node = child;
        steps += 1;
    }
    assert!(seg.tree.nodes[node as usize].children.is_none() || steps > 0);
    let whole = region(0);
    assert_eq!(whole.count(), 96 * 72, "the root is the whole image");
}
