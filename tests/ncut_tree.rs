//! The segment tree's promise: pruning the tree grown to `tau_max` at any τ ≤ tau_max gives
//! exactly what a fresh recursion at τ gives.

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
