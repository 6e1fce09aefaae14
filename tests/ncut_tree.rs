//! The segment tree's promise: pruning the tree grown to `tau_max` at any τ ≤ tau_max gives
//! exactly what a fresh recursion at τ gives.

use diffcut::ncut::tree::{NodeCut, TreeNode};
use diffcut::ncut::{segment_tree, Mode, SegmentTree, TreeOptions};
use diffcut::synth::smooth_field;

#[test]
fn pruning_equals_fresh_recursion_for_many_tau() {
    for (h, w, c, seed) in [(16, 16, 128, 1u64), (12, 20, 64, 2), (24, 24, 256, 3)] {
        let f = smooth_field(h, w, c, 3.0, seed);
        for mode in [Mode::Official, Mode::Clean] {
            let big = segment_tree(
                &f,
                10.0,
                TreeOptions {
                    tau_max: 1.0,
                    mode,
                    ..Default::default()
                },
            )
            .unwrap();
            let mut counts = Vec::new();
            for i in 1..=40 {
                let tau = i as f64 * 0.025;
                let fresh = segment_tree(
                    &f,
                    10.0,
                    TreeOptions {
                        tau_max: tau,
                        mode,
                        ..Default::default()
                    },
                )
                .unwrap();
                let (a, ka) = big.labels_at(tau).unwrap();
                let (b, kb) = fresh.labels_at(tau).unwrap();
                assert_eq!((ka, &a), (kb, &b), "{h}×{w}×{c} seed {seed} {mode:?}: τ = {tau}");
                counts.push(big.leaves_at(tau).unwrap().len());
            }
            // Raising τ only ever splits more.
            assert!(counts.windows(2).all(|p| p[0] <= p[1]), "{counts:?}");
            assert!(counts.last() > counts.first(), "{counts:?}");
        }
    }
}

#[test]
fn tree_survives_json_and_rejects_tampering() {
    let f = smooth_field(10, 10, 32, 2.0, 5);
    let t = segment_tree(
        &f,
        10.0,
        TreeOptions {
            tau_max: 0.8,
            ..Default::default()
        },
    )
    .unwrap();
    let json = serde_json::to_string(&t).unwrap();
    let back: SegmentTree = serde_json::from_str(&json).unwrap();
    back.validate().unwrap();
    assert_eq!(back.labels_at(0.6).unwrap(), t.labels_at(0.6).unwrap());
    // Beyond tau_max the tree does not know the answer: an error, not a wrong segmentation.
    assert!(t.labels_at(0.9).unwrap_err().to_string().contains("tau_max"));
    let mut bad = t.clone();
    if let Some(node) = bad.nodes.iter_mut().find(|n| n.children.is_some()) {
        node.children = Some([0, 0]);
    }
    assert!(bad.validate().is_err());
    let mut bad = t.clone();
    bad.nodes[0].cells.pop();
    assert!(bad.validate().is_err());
}

fn cut_of(len: usize) -> NodeCut {
    NodeCut {
        ncut: 0.1,
        lambda: 0.1,
        threshold: 0.0,
        fiedler: (0..len).map(|i| if i % 2 == 0 { 1.0 } else { -1.0 }).collect(),
        curve: vec![Some(0.1); 100],
        thresholds: vec![0.0; 100],
        lanczos_steps: 1,
    }
}

fn node(cells: &[u32], depth: u32, parent: Option<u32>, children: Option<[u32; 2]>) -> TreeNode {
    TreeNode {
        cells: cells.to_vec(),
        depth,
        parent,
        cut: children.map(|_| cut_of(cells.len())),
        children,
    }
}

fn tree(grid: [usize; 2], mode: Mode, nodes: Vec<TreeNode>, dropped: Vec<u32>) -> SegmentTree {
    SegmentTree {
        grid,
        alpha: 10.0,
        tau_max: 1.0,
        mode,
        nodes,
        dropped,
    }
}

/// A 9 KB file used to hang `diffcut recut`: below a real split, a chain of empty nodes whose two
/// children are the same node, so the leaves at τ are 2^depth paths.
#[test]
fn a_tree_whose_node_is_both_children_is_refused() {
    let mut nodes = vec![
        node(&[0, 1], 0, None, Some([1, 2])),
        node(&[0, 1], 1, Some(0), None),
        node(&[], 1, Some(0), Some([3, 3])),
    ];
    // 64 levels: 2^64 paths from the root.
    for k in 3..66u32 {
        nodes.push(node(&[], k - 1, Some(k - 1), Some([k + 1, k + 1])));
    }
    nodes.push(node(&[], 66, Some(65), None));
    let t = tree([1, 2], Mode::Clean, nodes, vec![]);
    let json = serde_json::to_vec(&t).unwrap();
    let back: SegmentTree = serde_json::from_slice(&json).unwrap();
    let err = back.validate().unwrap_err().to_string();
    assert!(err.contains("node 2"), "{err}");

    // Two different children sharing one node are refused too.
    let t = tree(
        [1, 3],
        Mode::Clean,
        vec![
            node(&[0, 1, 2], 0, None, Some([1, 2])),
            node(&[0, 1], 1, Some(0), Some([3, 3])),
            node(&[2], 1, Some(0), None),
            node(&[0, 1], 2, Some(1), None),
        ],
        vec![],
    );
    assert!(t
        .validate()
        .unwrap_err()
        .to_string()
        .contains("invalid children [3, 3]"));
}

/// Dropped cells listed twice used to stand in for a cell no node held: it stayed unlabelled.
#[test]
fn repeated_dropped_cells_are_refused() {
    for mode in [Mode::Clean, Mode::Official] {
        let t = tree(
            [1, 3],
            mode,
            vec![
                node(&[0, 1, 2], 0, None, Some([1, 2])),
                node(&[0], 1, Some(0), None),
                node(&[], 1, Some(0), None),
            ],
            vec![2, 2],
        );
        let err = t.validate().unwrap_err().to_string();
        assert!(err.contains("dropped"), "{mode:?}: {err}");
    }
    // The same tree with one dropped cell and a node holding cell 1 is a valid official tree...
    let good = tree(
        [1, 3],
        Mode::Official,
        vec![
            node(&[0, 1, 2], 0, None, Some([1, 2])),
            node(&[0], 1, Some(0), None),
            node(&[1], 1, Some(0), None),
        ],
        vec![2],
    );
    good.validate().unwrap();
    let (labels, k) = good.leaf_labels_at(0.5).unwrap();
    assert_eq!(k, 2);
    assert!(labels.iter().all(|&l| (l as usize) < k), "{labels:?}");
    // ...but a clean tree drops nothing.
    let clean = SegmentTree {
        mode: Mode::Clean,
        ..good
    };
    assert!(clean.validate().unwrap_err().to_string().contains("drops no cells"));
}

/// Every node is reached once: a node that names a parent which does not list it, or whose
/// depth is not its parent's + 1, is refused; so is a non-finite Fiedler value.
#[test]
fn orphans_depths_and_non_finite_cuts_are_refused() {
    let base = || {
        vec![
            node(&[0, 1, 2], 0, None, Some([1, 2])),
            node(&[0, 2], 1, Some(0), None),
            node(&[1], 1, Some(0), None),
        ]
    };
    tree([1, 3], Mode::Clean, base(), vec![]).validate().unwrap();
    let mut orphan = base();
    orphan.push(node(&[0], 2, Some(1), None));
    let err = tree([1, 3], Mode::Clean, orphan, vec![])
        .validate()
        .unwrap_err()
        .to_string();
    assert!(err.contains("node 3 is not a child"), "{err}");
    let mut deep = base();
    deep[2].depth = 7;
    assert!(tree([1, 3], Mode::Clean, deep, vec![])
        .validate()
        .unwrap_err()
        .to_string()
        .contains("depth"));
    let mut nan = base();
    nan[0].cut.as_mut().unwrap().fiedler[1] = f64::NAN;
    assert!(tree([1, 3], Mode::Clean, nan, vec![])
        .validate()
        .unwrap_err()
        .to_string()
        .contains("cut"));
    let mut lonely_cut = base();
    lonely_cut[2].cut = Some(cut_of(1));
    assert!(tree([1, 3], Mode::Clean, lonely_cut, vec![]).validate().is_err());
    // A grid whose cell count overflows is refused, not wrapped.
    let mut huge = tree([1, 3], Mode::Clean, base(), vec![]);
    huge.grid = [usize::MAX, 3];
    assert!(huge.validate().unwrap_err().to_string().contains("root must hold"));
}
