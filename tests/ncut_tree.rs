//! The segment tree's promise: pruning the tree grown to `tau_max` at any τ ≤ tau_max gives
//! exactly what a fresh recursion at τ gives.

use diffcut::ncut::tree::{NodeCut, TreeNode};
use diffcut::ncut::{
    affinity, grow_subtree, segment_tree, wire, Mode, Pending, SegmentTree, SubtreeHelper, SubtreeJob, TreeOptions,
};
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

/// Polls a future that needs no waking (the helpers below answer at once).
fn ready<T>(f: impl std::future::Future<Output = T>) -> T {
    let mut f = std::pin::pin!(f);
    match f
        .as_mut()
        .poll(&mut std::task::Context::from_waker(std::task::Waker::noop()))
    {
        std::task::Poll::Ready(v) => v,
        std::task::Poll::Pending => panic!("the future did not finish"),
    }
}

type Answer = diffcut::Result<Vec<TreeNode>>;

/// A subtree helper answering with `answer(job)`, as the page's helper worker does through the
/// wire (`ncut::wire`), counting its jobs.
struct Fake<F: Fn(&SubtreeJob) -> Answer> {
    answer: F,
    jobs: std::cell::Cell<usize>,
}

impl<F: Fn(&SubtreeJob) -> Answer> SubtreeHelper for Fake<F> {
    fn start_subtree(&self, job: &SubtreeJob) -> Pending<Vec<TreeNode>> {
        self.jobs.set(self.jobs.get() + 1);
        let answer = (self.answer)(job);
        Box::pin(async move { answer })
    }
}

fn fake<F: Fn(&SubtreeJob) -> Answer>(answer: F) -> Fake<F> {
    Fake {
        answer,
        jobs: Default::default(),
    }
}

/// What the helper worker does: the job's parameters through the wire, the subtree, its nodes
/// through the wire.
fn over_the_wire(job: &SubtreeJob) -> Answer {
    let (depth, opts) = wire::parse_job_params(&wire::job_params(job.depth, &job.opts))?;
    let nodes = grow_subtree(SubtreeJob {
        w: job.w.clone(),
        excluded: job.excluded.clone(),
        depth,
        opts,
    })?;
    wire::decode_nodes(&wire::encode_nodes(&nodes))
}

#[test]
fn a_helper_growing_one_subtree_gives_the_same_tree() {
    for (h, w, c, seed) in [(16, 16, 128, 1u64), (24, 24, 32, 3)] {
        let f = smooth_field(h, w, c, 3.0, seed);
        let aff = affinity(&f.data, h * w, c, 10.0).unwrap();
        for mode in [Mode::Official, Mode::Clean] {
            let opts = TreeOptions {
                tau_max: 0.8,
                mode,
                ..Default::default()
            };
            let alone = SegmentTree::build(&aff, [h, w], 10.0, opts).unwrap();
            let helper = fake(over_the_wire);
            let shared = ready(SegmentTree::build_shared(&aff, [h, w], 10.0, opts, &helper)).unwrap();
            assert!(alone.nodes.len() > 9, "{} nodes", alone.nodes.len());
            assert_eq!(helper.jobs.get(), 1);
            assert_eq!(shared, alone, "{h}×{w}, {mode:?}");
        }
    }
}

#[test]
fn the_helpers_subtree_is_what_is_used_and_a_bad_one_is_grown_here() {
    let f = smooth_field(16, 16, 128, 3.0, 1);
    let aff = affinity(&f.data, 256, 128, 10.0).unwrap();
    let opts = TreeOptions {
        tau_max: 0.8,
        ..Default::default()
    };
    let alone = SegmentTree::build(&aff, [16, 16], 10.0, opts).unwrap();
    // A subtree grown to a smaller τ: a different, well-formed tree (so the test above can fail).
    let shallower = fake(|job: &SubtreeJob| {
        let mut job = job.clone();
        job.opts.tau_max = 0.3;
        grow_subtree(job)
    });
    let shared = ready(SegmentTree::build_shared(&aff, [16, 16], 10.0, opts, &shallower)).unwrap();
    assert!(shared.nodes.len() < alone.nodes.len());
    // Failing, empty, out of the region, or at the wrong depth: grown here instead.
    let failing = fake(|_: &SubtreeJob| Err(diffcut::Error::Helper("gone".into())));
    let empty = fake(|_: &SubtreeJob| Ok(Vec::new()));
    let outside = fake(|job: &SubtreeJob| {
        let mut nodes = over_the_wire(job)?;
        nodes[1].cells.push(job.excluded.len() as u32);
        Ok(nodes)
    });
    let deeper = fake(|job: &SubtreeJob| {
        let mut nodes = over_the_wire(job)?;
        nodes[0].depth = 2;
        Ok(nodes)
    });
    let looping = fake(|job: &SubtreeJob| {
        let mut nodes = over_the_wire(job)?;
        nodes[0].children = Some([0, 1]);
        Ok(nodes)
    });
    for (what, shared) in [
        (
            "failing",
            ready(SegmentTree::build_shared(&aff, [16, 16], 10.0, opts, &failing)),
        ),
        (
            "empty",
            ready(SegmentTree::build_shared(&aff, [16, 16], 10.0, opts, &empty)),
        ),
        (
            "outside",
            ready(SegmentTree::build_shared(&aff, [16, 16], 10.0, opts, &outside)),
        ),
        (
            "deeper",
            ready(SegmentTree::build_shared(&aff, [16, 16], 10.0, opts, &deeper)),
        ),
        (
            "looping",
            ready(SegmentTree::build_shared(&aff, [16, 16], 10.0, opts, &looping)),
        ),
    ] {
        assert_eq!(shared.unwrap(), alone, "{what}");
    }
}

#[test]
fn a_subtree_job_is_checked() {
    let job = |w: Vec<f32>, n: usize| SubtreeJob {
        w,
        excluded: vec![false; n],
        depth: 1,
        opts: TreeOptions::default(),
    };
    for (bad, n) in [
        (vec![1.0; 5], 2),
        (vec![1.0; 1], 1),
        (vec![1.0, f32::NAN, 1.0, 1.0], 2),
        (vec![1.0, -0.5, 1.0, 1.0], 2),
    ] {
        let e = grow_subtree(job(bad, n)).unwrap_err().to_string();
        assert!(e.contains("subtree job"), "{e}");
    }
    assert_eq!(grow_subtree(job(vec![1.0, 0.5, 0.5, 1.0], 2)).unwrap()[0].cells, [0, 1]);
}
