//! The CPU path shared with a helper (the page's second worker): about half of the Gram tiles
//! (`affinity_shared`) and one of the root's subtrees (`SegmentTree::build_shared`) computed
//! elsewhere give the same affinity and the same tree, a helper's answer is what is used, and a
//! failing or wrong helper is replaced by the calling thread.

use diffcut::ncut::affinity::tile_products;
use diffcut::ncut::tree::TreeNode;
use diffcut::ncut::{
    affinity, affinity_shared, grow_subtree, wire, GramTile, Mode, Pending, SegmentTree, SubtreeHelper, SubtreeJob,
    TileHelper, TreeOptions,
};
use diffcut::synth::smooth_field;

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
struct FakeSubtree<F: Fn(&SubtreeJob) -> Answer> {
    answer: F,
    jobs: std::cell::Cell<usize>,
}

impl<F: Fn(&SubtreeJob) -> Answer> SubtreeHelper for FakeSubtree<F> {
    fn start_subtree(&self, job: &SubtreeJob) -> Pending<Vec<TreeNode>> {
        self.jobs.set(self.jobs.get() + 1);
        let answer = (self.answer)(job);
        Box::pin(async move { answer })
    }
}

fn fake_subtree<F: Fn(&SubtreeJob) -> Answer>(answer: F) -> FakeSubtree<F> {
    FakeSubtree {
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
            let given = std::cell::Cell::new(0);
            let helper = fake_subtree(|job: &SubtreeJob| {
                given.set(job.excluded.len());
                over_the_wire(job)
            });
            let shared = ready(SegmentTree::build_shared(&aff, [h, w], 10.0, opts, &helper)).unwrap();
            assert!(alone.nodes.len() > 9, "{} nodes", alone.nodes.len());
            assert_eq!(helper.jobs.get(), 1);
            // The helper grows the smaller of the root's subtrees (the segmenting worker copies
            // the helper's `W_S` out before it starts on its own side).
            let [a, b] = alone.nodes[0].children.expect("the root is cut");
            let sides = [a, b].map(|i| alone.nodes[i as usize].cells.len());
            assert_eq!(
                given.get(),
                sides[0].min(sides[1]),
                "{h}×{w}, {mode:?}: sides {sides:?}"
            );
            assert_ne!(
                sides[0], sides[1],
                "{h}×{w}, {mode:?}: sides of equal size decide nothing"
            );
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
    let shallower = fake_subtree(|job: &SubtreeJob| {
        let mut job = job.clone();
        job.opts.tau_max = 0.3;
        grow_subtree(job)
    });
    let shared = ready(SegmentTree::build_shared(&aff, [16, 16], 10.0, opts, &shallower)).unwrap();
    assert!(shared.nodes.len() < alone.nodes.len());
    // Failing, empty, out of the region, or at the wrong depth: grown here instead.
    let failing = fake_subtree(|_: &SubtreeJob| Err(diffcut::Error::Helper("gone".into())));
    let empty = fake_subtree(|_: &SubtreeJob| Ok(Vec::new()));
    let outside = fake_subtree(|job: &SubtreeJob| {
        let mut nodes = over_the_wire(job)?;
        nodes[1].cells.push(job.excluded.len() as u32);
        Ok(nodes)
    });
    let deeper = fake_subtree(|job: &SubtreeJob| {
        let mut nodes = over_the_wire(job)?;
        nodes[0].depth = 2;
        Ok(nodes)
    });
    let looping = fake_subtree(|job: &SubtreeJob| {
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

// --- the Gram tiles ---

/// A helper answering with `answer(x, n, c, tiles)`, remembering what it was asked.
struct FakeTiles<F> {
    answer: F,
    asked: std::cell::RefCell<Vec<GramTile>>,
}

impl<F: Fn(&[f32], usize, usize, &[GramTile]) -> diffcut::Result<Vec<f32>>> TileHelper for FakeTiles<F> {
    fn start(&self, x: &[f32], n: usize, c: usize, tiles: &[GramTile]) -> Pending<Vec<f32>> {
        self.asked.borrow_mut().extend_from_slice(tiles);
        let answer = (self.answer)(x, n, c, tiles);
        Box::pin(async move { answer })
    }
}

fn fake_tiles<F: Fn(&[f32], usize, usize, &[GramTile]) -> diffcut::Result<Vec<f32>>>(answer: F) -> FakeTiles<F> {
    FakeTiles {
        answer,
        asked: Default::default(),
    }
}

/// Features over three tile rows (n = 600: a ragged last tile) with an odd C.
fn three_tiles() -> (Vec<f32>, usize, usize) {
    let (n, c) = (600, 37);
    let f = (0..n * c)
        .map(|i| ((i * 7919 % 1013) as f32 / 1013.0 - 0.4) * 2.0)
        .collect();
    (f, n, c)
}

#[test]
fn a_helper_computing_half_the_tiles_gives_the_same_affinity() {
    let (f, n, c) = three_tiles();
    let alone = affinity(&f, n, c, 10.0).unwrap();
    let helper = fake_tiles(tile_products);
    let shared = ready(affinity_shared(&f, n, c, 10.0, &helper)).unwrap();
    assert_eq!(shared, alone);
    // 6 tiles, 3 full and 3 ragged: the helper starts behind by 64·600 (the transfers) and has
    // (0, 2), (1, 1) and (1, 2), 43 % of the work (22 528 + 33 280 + 22 528 of 181 200 entries).
    let asked = helper.asked.borrow();
    assert_eq!(
        *asked,
        [
            GramTile { row: 0, col: 2 },
            GramTile { row: 1, col: 1 },
            GramTile { row: 1, col: 2 }
        ]
    );
}

#[test]
fn the_helpers_products_are_what_is_used() {
    // Zeros for every tile of the helper: a different W (so the test above can fail).
    let (f, n, c) = three_tiles();
    let helper = fake_tiles(|_, n, _, t| Ok(vec![0.0; t.iter().map(|t| t.len(n)).sum()]));
    let shared = ready(affinity_shared(&f, n, c, 10.0, &helper)).unwrap();
    assert_ne!(shared, affinity(&f, n, c, 10.0).unwrap());
}

#[test]
fn a_failing_or_short_helper_is_replaced_by_this_thread() {
    let (f, n, c) = three_tiles();
    let alone = affinity(&f, n, c, 10.0).unwrap();
    let failing = fake_tiles(|_, _, _, _| Err(diffcut::Error::Helper("gone".into())));
    assert_eq!(ready(affinity_shared(&f, n, c, 10.0, &failing)).unwrap(), alone);
    let short = fake_tiles(|x, n, c, t| tile_products(x, n, c, &t[1..]));
    assert_eq!(ready(affinity_shared(&f, n, c, 10.0, &short)).unwrap(), alone);
}

#[test]
fn one_tile_is_not_shared() {
    let f: Vec<f32> = (0..40).map(|i| (i % 7) as f32 - 3.0).collect();
    let helper = fake_tiles(tile_products);
    let shared = ready(affinity_shared(&f, 10, 4, 10.0, &helper)).unwrap();
    assert_eq!(shared, affinity(&f, 10, 4, 10.0).unwrap());
    assert!(helper.asked.borrow().is_empty());
}

#[test]
fn a_tiles_work_counts_the_kernels_blocks() {
    // A diagonal tile: blocks of 4 rows × 2 columns from the diagonal on, Σ 4·(m − i) over
    // i = 0, 4, …: 33 280 of 65 536 at m = 256, 4 048 of 7 744 at m = 88 (the ragged last tile).
    assert_eq!(GramTile { row: 0, col: 0 }.work(600), 33_280);
    assert_eq!(GramTile { row: 2, col: 2 }.work(600), 4_048);
    assert_eq!(GramTile { row: 0, col: 2 }.work(600), 256 * 88);
}

#[test]
fn tile_products_checks_its_request() {
    let x = vec![0.5f32; 300 * 3];
    assert_eq!(
        tile_products(&x, 300, 3, &[GramTile { row: 0, col: 1 }]).unwrap().len(),
        256 * 44
    );
    for bad in [GramTile { row: 1, col: 0 }, GramTile { row: 0, col: 2 }] {
        let e = tile_products(&x, 300, 3, &[bad]).unwrap_err().to_string();
        assert!(
            e.contains("tiles") && e.contains(&format!("({}, {})", bad.row, bad.col)),
            "{e}"
        );
    }
    let e = tile_products(&x[1..], 300, 3, &[]).unwrap_err().to_string();
    assert!(e.contains("900"), "{e}");
}
