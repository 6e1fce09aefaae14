//! Recursive NCut on graphs whose answer is known (scikit-image's style of synthetic tests).

use diffcut::ncut::{segment_tree, FeatureGrid, Mode, SegmentTree, TreeOptions};
use diffcut::synth::smooth_field;

fn grid(h: usize, w: usize, c: usize, f: impl Fn(usize, usize) -> Vec<f32>) -> FeatureGrid {
    let mut data = Vec::with_capacity(h * w * c);
    for y in 0..h {
        for x in 0..w {
            let v = f(y, x);
            assert_eq!(v.len(), c);
            data.extend(v);
        }
    }
    FeatureGrid::new(h, w, c, data).unwrap()
}

/// Deterministic small noise in [-a, a].
fn noise(i: usize, a: f32) -> f32 {
    let z = (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40;
    (z as f32 / (1u64 << 24) as f32 * 2.0 - 1.0) * a
}

fn tree(f: &FeatureGrid, tau_max: f64, mode: Mode) -> SegmentTree {
    segment_tree(
        f,
        10.0,
        TreeOptions {
            tau_max,
            mode,
            ..Default::default()
        },
    )
    .unwrap()
}

/// Labels equal up to a renaming of segments.
fn same_partition(a: &[u32], b: &[u32]) -> bool {
    use std::collections::HashMap;
    let (mut ab, mut ba) = (HashMap::new(), HashMap::new());
    a.iter()
        .zip(b)
        .all(|(&x, &y)| *ab.entry(x).or_insert(y) == y && *ba.entry(y).or_insert(x) == x)
}

#[test]
fn block_diagonal_graph_gives_its_blocks() {
    // Three vertical bands with (nearly) orthogonal features: W is block-diagonal up to noise.
    let f = grid(12, 12, 8, |y, x| {
        let band = x / 4;
        (0..8)
            .map(|c| f32::from(u8::from(c == band)) + noise(y * 96 + x * 8 + c, 0.05))
            .collect()
    });
    let want: Vec<u32> = (0..144).map(|i| ((i % 12) / 4) as u32).collect();
    let clean = tree(&f, 0.5, Mode::Clean);
    assert_eq!(clean.labels_at(0.5).unwrap().1, 3);
    assert!(same_partition(&clean.labels_at(0.5).unwrap().0, &want));
    // The official mode agrees except on the cells only the root saw (the least similar pair):
    // they take the "rest" branch below the root, wherever that leads.
    let official = tree(&f, 0.5, Mode::Official);
    let (labels, k) = official.labels_at(0.5).unwrap();
    assert_eq!(k, 3);
    assert!(!official.dropped.is_empty());
    let keep = |v: &[u32]| {
        v.iter()
            .enumerate()
            .filter(|(i, _)| !official.dropped.contains(&(*i as u32)))
            .map(|(_, &l)| l)
            .collect::<Vec<_>>()
    };
    assert!(same_partition(&keep(&labels), &keep(&want)), "{labels:?}");
}

#[test]
fn two_blobs_are_two_segments() {
    // A disk on a background, features in two different directions plus texture noise.
    let f = grid(16, 16, 4, |y, x| {
        let inside = (y as f32 - 7.5).powi(2) + (x as f32 - 6.0).powi(2) < 20.0;
        let base = if inside {
            [1.0, 0.2, 0.0, 0.1]
        } else {
            [0.0, 0.3, 1.0, 0.1]
        };
        base.iter()
            .enumerate()
            .map(|(c, v)| v + noise(y * 64 + x * 4 + c, 0.03))
            .collect()
    });
    let (labels, k) = tree(&f, 0.5, Mode::Clean).labels_at(0.5).unwrap();
    assert_eq!(k, 2);
    let want: Vec<u32> = (0..256)
        .map(|i| u32::from((((i / 16) as f32 - 7.5).powi(2) + ((i % 16) as f32 - 6.0).powi(2)) < 20.0))
        .collect();
    assert!(same_partition(&labels, &want));
}

#[test]
fn constant_features_are_one_segment() {
    let f = grid(8, 8, 5, |_, _| vec![0.3, -1.0, 2.0, 0.0, 1.0]);
    for tau in [0.1, 0.5, 1.0, 2.0] {
        let t = tree(&f, tau, Mode::Official);
        assert_eq!(t.labels_at(tau).unwrap().1, 1, "τ = {tau}");
        assert!(t.nodes[0].cut.is_none());
    }
}

#[test]
fn one_and_two_node_regions() {
    // One cell: one segment, no cut.
    let f = grid(1, 1, 3, |_, _| vec![1.0, 2.0, 3.0]);
    let t = tree(&f, 2.0, Mode::Official);
    assert_eq!(t.labels_at(2.0).unwrap(), (vec![0], 1));
    // Two different cells: min-max maps their similarity to 0, so W = I and NCut = 0 < any τ.
    let f = grid(1, 2, 2, |_, x| if x == 0 { vec![1.0, 0.0] } else { vec![0.6, 0.8] });
    let t = tree(&f, 0.01, Mode::Official);
    assert_eq!(t.nodes[0].cut.as_ref().unwrap().ncut, 0.0);
    assert_eq!(t.labels_at(0.01).unwrap().1, 2);
    // Two identical cells: nothing to cut.
    let f = grid(2, 1, 2, |_, _| vec![0.6, 0.8]);
    assert_eq!(tree(&f, 2.0, Mode::Official).labels_at(2.0).unwrap().1, 1);
}

#[test]
fn three_node_region_splits_iff_ncut_below_tau() {
    // Three cells; the 2-node sub-regions are decided by 2a/(1+a) (docs/ALGORITHM.md §4.3).
    let f = grid(1, 3, 2, |_, x| match x {
        0 => vec![1.0, 0.0],
        1 => vec![0.95, 0.31],
        _ => vec![0.0, 1.0],
    });
    let t = tree(&f, 2.0, Mode::Clean);
    let root = t.nodes[0].cut.as_ref().unwrap();
    for tau in [root.ncut * 0.999, root.ncut * 1.001] {
        let k = t.labels_at(tau).unwrap().1;
        assert_eq!(k > 1, root.ncut < tau, "τ = {tau}, root NCut {}", root.ncut);
    }
}

#[test]
fn same_input_same_tree() {
    let f = smooth_field(16, 16, 64, 3.0, 11);
    let a = tree(&f, 1.0, Mode::Official);
    let b = tree(&f, 1.0, Mode::Official);
    assert_eq!(a, b);
}

#[test]
fn every_cell_gets_exactly_one_label_and_labels_are_dense() {
    for seed in 0..4 {
        let f = smooth_field(12, 20, 32, 2.0, seed);
        let t = tree(&f, 1.0, Mode::Official);
        for tau in [0.2, 0.5, 0.8, 1.0] {
            let (labels, k) = t.labels_at(tau).unwrap();
            assert_eq!(labels.len(), 240);
            let mut seen = vec![false; k];
            labels.iter().for_each(|&l| seen[l as usize] = true);
            assert!(seen.iter().all(|&s| s), "seed {seed} τ {tau}: a label 0..{k} is unused");
        }
    }
}
