//! Recursive 2-way NCut as a **segment tree** (docs/ALGORITHM.md §4.3), so that τ can move instantly.
//!
//! The official recursion splits a region iff its best NCut is `< τ` and recurses depth-first,
//! the `y > θ` side first. Nothing about *how* a region splits depends on τ — only *whether* it
//! does. So we grow the tree once, splitting every region whose best NCut is `< tau_max`, and store
//! each internal node's NCut. The segmentation at any `τ ≤ tau_max` is then the pruning that stops
//! at every node whose NCut is `≥ τ`: O(nodes), no eigen-solve, and identical to a fresh recursion
//! at that τ (tested in `tests/ncut_tree.rs`).
//!
//! # The zero-as-marker quirk
//! The official code marks "already handled" nodes by zeroing affinities and, below the root,
//! keeps only the nodes whose affinity row has **no exact zero** (`recursive_normalized_cut.py:9-16,
//! 56-63`). A node whose row holds a genuine zero — always the two ends of the least similar pair,
//! which min-max maps to exactly 0, plus any entry that underflows after `^α` — is therefore in the
//! root's split but in no deeper one. Its final label is its membership pattern over the accepted
//! splits: the root side it fell on, then "not in B" ever after, i.e. the leaf reached from that
//! root child by always taking the `y ≤ θ` branch. [`Mode::Official`] (the default)
//! reproduces this so that partitions match the official ones; [`Mode::Clean`] keeps every
//! node in every sub-graph (a clean NCut). The difference is a handful of cells.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

use super::affinity::Affinity;
use super::bipartition::best_cut;
use super::lanczos::{fiedler, LanczosOptions};
use super::split::split;
use super::Pending;
use crate::{Error, Result};

/// Faithful to the official code, or the clean algorithm it intends (see the module docs).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// Reproduce the official partitions: nodes with an exact zero in their affinity row are
    /// dropped below the root, and labels are assembled in `f32` as the official code does.
    #[default]
    Official,
    /// Explicit index sets and one label per leaf of the recursion.
    Clean,
}

/// The largest τ a tree is built for by default. Published settings are 0.5 (SSD-1B) and 0.2
/// (SD1.4); 1.0 leaves the slider room on both sides while keeping the tree small: beyond 1, a cut
/// removes more association than it keeps and regions shatter into single cells.
pub const DEFAULT_TAU_MAX: f64 = 1.0;

/// Options for growing a [`SegmentTree`].
#[derive(Clone, Copy, Debug)]
pub struct TreeOptions {
    /// Split every region whose best NCut is below this; any τ ≤ `tau_max` is then a pruning.
    pub tau_max: f64,
    pub mode: Mode,
    pub lanczos: LanczosOptions,
}

impl Default for TreeOptions {
    fn default() -> Self {
        Self {
            tau_max: DEFAULT_TAU_MAX,
            mode: Mode::Official,
            lanczos: LanczosOptions::default(),
        }
    }
}

/// Checks τ ∈ (0, 2], the range of the NCut value.
pub fn check_tau(tau: f64) -> Result<()> {
    if tau.is_finite() && tau > 0.0 && tau <= 2.0 {
        Ok(())
    } else {
        Err(Error::InvalidParameter {
            name: "tau",
            expected: "in (0, 2] (the range of the NCut value)",
            got: tau.to_string(),
        })
    }
}

/// The best cut of one region, whether or not it was accepted.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct NodeCut {
    /// The minimum NCut over the 100 thresholds: the region splits at τ iff `ncut < τ`.
    pub ncut: f64,
    /// λ₂ of `L_sym` (the relaxed NCut).
    pub lambda: f64,
    /// The chosen threshold θ on the Fiedler vector.
    pub threshold: f64,
    /// The Fiedler vector `y`, one entry per cell of the region (same order as `cells`).
    pub fiedler: Vec<f64>,
    /// NCut at each of the 100 thresholds (`None` where a side is empty), increasing θ.
    pub curve: Vec<Option<f64>>,
    /// The 100 thresholds.
    pub thresholds: Vec<f64>,
    /// Lanczos steps it took.
    pub lanczos_steps: usize,
}

/// One region of the recursion.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct TreeNode {
    /// Cells (row-major grid indices) of the region, ascending.
    pub cells: Vec<u32>,
    /// 0 at the root.
    pub depth: u32,
    pub parent: Option<u32>,
    /// `None` for regions of < 2 cells and graphs where every cut is alike.
    pub cut: Option<NodeCut>,
    /// `[y > θ side, the rest]`, present iff `cut.ncut < tau_max`.
    pub children: Option<[u32; 2]>,
}

/// The recursive NCut of one feature grid, grown up to `tau_max`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct SegmentTree {
    /// Grid `[h, w]`; cells are numbered row-major.
    pub grid: [usize; 2],
    pub alpha: f32,
    pub tau_max: f64,
    pub mode: Mode,
    /// Pre-order (the `y > θ` side first); `nodes[0]` is the root.
    pub nodes: Vec<TreeNode>,
    /// Cells that only the root saw (the zero-as-marker quirk); empty with [`Mode::Clean`].
    pub dropped: Vec<u32>,
}

struct Builder<'a> {
    aff: &'a Affinity,
    /// Cells excluded below the root.
    excluded: Vec<bool>,
    opts: TreeOptions,
}

impl Builder<'_> {
    /// The sub-matrix `W_S` (`[n, n]`) of a region and its degrees `d = W_S·1`. The root's is
    /// `W` itself, borrowed: a copy would double the peak memory of the largest grids.
    fn subgraph(&self, cells: &[u32]) -> (Cow<'_, [f32]>, Vec<f64>) {
        let n = cells.len();
        // Degrees in f64; a node with a zero row (only possible for a zero feature vector) is
        // clamped so D^{-1/2} stays finite; it cannot pull a cut either way.
        let degree = |row: &[f32]| row.iter().map(|&v| f64::from(v)).sum::<f64>().max(1e-30);
        if n == self.aff.n {
            // Only the root holds every cell (in order: `SegmentTree::build` starts from 0..n).
            return (
                Cow::Borrowed(&self.aff.w),
                self.aff.w.chunks_exact(n).map(degree).collect(),
            );
        }
        let mut w = Vec::with_capacity(n * n);
        let mut d = Vec::with_capacity(n);
        for &i in cells {
            let row = self.aff.row(i as usize);
            let start = w.len();
            w.extend(cells.iter().map(|&j| row[j as usize]));
            d.push(degree(&w[start..]));
        }
        (Cow::Owned(w), d)
    }

    fn cut(&self, cells: &[u32]) -> Option<NodeCut> {
        if cells.len() < 2 || self.aff.constant {
            return None;
        }
        let (w, d) = self.subgraph(cells);
        let f = fiedler(&w, &d, self.opts.lanczos)?;
        let b = best_cut(&w, &d, &f.y);
        if !b.ncut.is_finite() {
            return None;
        }
        let cut = NodeCut {
            ncut: b.ncut,
            lambda: f.lambda,
            threshold: b.threshold,
            fiedler: f.y,
            curve: b.curve.iter().map(|&v| v.is_finite().then_some(v)).collect(),
            thresholds: b.thresholds,
            lanczos_steps: f.iterations,
        };
        Some(cut)
    }

    /// Grows the subtree of one region; node indices in the result are local (root = 0).
    fn grow(&self, cells: Vec<u32>, depth: u32) -> Vec<TreeNode> {
        let (root, halves) = self.node(cells, depth);
        let Some([a, r]) = halves else { return vec![root] };
        let big = root.cells.len() >= 128;
        let (left, right) = join(big, || self.grow(a, depth + 1), || self.grow(r, depth + 1));
        with_children(root, left, right)
    }

    /// One region's node (its best cut, if any) and its two halves when it splits at `tau_max`.
    fn node(&self, cells: Vec<u32>, depth: u32) -> (TreeNode, Option<[Vec<u32>; 2]>) {
        let found = self.cut(&cells);
        let mut node = TreeNode {
            cells,
            depth,
            parent: None,
            cut: None,
            children: None,
        };
        let Some(cut) = found else { return (node, None) };
        let halves = split(
            &node.cells,
            &cut.fiedler,
            cut.threshold,
            cut.ncut,
            self.opts.tau_max,
            &self.excluded,
        );
        node.cut = Some(cut);
        (node, halves)
    }
}

/// `root` with its two subtrees (local numbering, root = 0, as [`Builder::grow`] returns them)
/// appended in pre-order.
fn with_children(mut root: TreeNode, left: Vec<TreeNode>, right: Vec<TreeNode>) -> Vec<TreeNode> {
    let (l0, r0) = (1u32, 1 + left.len() as u32);
    root.children = Some([l0, r0]);
    let mut nodes = Vec::with_capacity(1 + left.len() + right.len());
    nodes.push(root);
    for (offset, sub) in [(l0, left), (r0, right)] {
        for mut node in sub {
            node.parent = Some(node.parent.map_or(0, |p| p + offset));
            node.children = node.children.map(|[x, y]| [x + offset, y + offset]);
            nodes.push(node);
        }
    }
    nodes
}

/// A helper's subtree of the region `cells`, with its cells renumbered to the grid's, if it is one:
/// a root holding the whole region at depth 1, every cell inside the region, children after
/// their parent.
fn in_region(mut nodes: Vec<TreeNode>, cells: &[u32]) -> Option<Vec<TreeNode>> {
    let n = nodes.len() as u32;
    let root = nodes.first()?;
    let whole = root.cells.len() == cells.len() && root.cells.iter().enumerate().all(|(i, &c)| c as usize == i);
    if !whole || root.parent.is_some() || root.depth != 1 {
        return None;
    }
    for (i, node) in nodes.iter_mut().enumerate() {
        let later = |c: u32| c > i as u32 && c < n;
        if node.children.is_some_and(|[a, b]| !later(a) || !later(b))
            || (i > 0 && node.parent.is_none_or(|p| p >= i as u32))
        {
            return None;
        }
        for c in node.cells.iter_mut() {
            *c = *cells.get(*c as usize)?;
        }
    }
    Some(nodes)
}

/// A region's subtree to grow in another worker ([`SubtreeHelper`]): the region's affinity
/// `W_S` `[n, n]` (its cells in ascending order), which of them the official recursion excludes
/// below the root, and the region's depth. [`grow_subtree`] grows it.
#[derive(Clone, Debug)]
pub struct SubtreeJob {
    pub w: Vec<f32>,
    pub excluded: Vec<bool>,
    pub depth: u32,
    pub opts: TreeOptions,
}

/// Grows subtrees somewhere else: the page's second worker, through [`grow_subtree`] there.
pub trait SubtreeHelper {
    /// Starts growing `job`'s subtree and returns the future of its nodes, as [`grow_subtree`]
    /// gives them. The work must have started when this returns: the caller grows the other
    /// half of the tree before it awaits.
    fn start_subtree(&self, job: &SubtreeJob) -> Pending<Vec<TreeNode>>;
}

/// The subtree of a [`SubtreeJob`]: its nodes in pre-order, numbered from 0 (the region, whose
/// `parent` is `None`), with cells numbered within the region (`0..n`, the order of `W_S`).
///
/// # Errors
/// [`Error::InvalidParameter`] for a job whose sizes disagree, whose `W_S` has a value that is
/// not finite or is negative, or whose τ is out of range.
pub fn grow_subtree(job: SubtreeJob) -> Result<Vec<TreeNode>> {
    let n = job.excluded.len();
    check_tau(job.opts.tau_max)?;
    if !(2..=super::MAX_CELLS).contains(&n) || n.checked_mul(n) != Some(job.w.len()) {
        return Err(Error::InvalidParameter {
            name: "subtree job",
            expected: "an n × n affinity for the n ≥ 2 cells of the region (n ≤ 16 384)",
            got: format!("{} values for {n} cells", job.w.len()),
        });
    }
    if let Some(v) = job.w.iter().find(|v| !(v.is_finite() && **v >= 0.0)) {
        return Err(Error::InvalidParameter {
            name: "subtree job",
            expected: "finite, non-negative affinities",
            got: v.to_string(),
        });
    }
    let aff = Affinity {
        n,
        w: job.w,
        constant: false,
    };
    let builder = Builder {
        aff: &aff,
        excluded: job.excluded,
        opts: job.opts,
    };
    Ok(builder.grow((0..n as u32).collect(), job.depth))
}

#[cfg(feature = "parallel")]
fn join<A: Send, B: Send>(par: bool, a: impl FnOnce() -> A + Send, b: impl FnOnce() -> B + Send) -> (A, B) {
    if par {
        rayon::join(a, b)
    } else {
        (a(), b())
    }
}

#[cfg(not(feature = "parallel"))]
fn join<A, B>(_par: bool, a: impl FnOnce() -> A, b: impl FnOnce() -> B) -> (A, B) {
    (a(), b())
}

impl SegmentTree {
    /// Grows the tree of the affinity `aff` over an `[h, w]` grid.
    pub fn build(aff: &Affinity, grid: [usize; 2], alpha: f32, opts: TreeOptions) -> Result<Self> {
        let (builder, dropped) = Self::builder(aff, grid, opts)?;
        let nodes = builder.grow((0..aff.n as u32).collect(), 0);
        Ok(Self::of(nodes, dropped, grid, alpha, opts))
    }

    /// [`build`](Self::build) with one of the root's two subtrees, the smaller, grown by `helper`
    /// (another worker) while this thread grows the other: the same tree. If the helper fails,
    /// or answers with nodes that are not of that region, the subtree is grown here.
    ///
    /// For wasm, which has no threads: natively [`build`](Self::build) already grows the
    /// subtrees on every core.
    pub async fn build_shared<H: SubtreeHelper + ?Sized>(
        aff: &Affinity,
        grid: [usize; 2],
        alpha: f32,
        opts: TreeOptions,
        helper: &H,
    ) -> Result<Self> {
        let (builder, dropped) = Self::builder(aff, grid, opts)?;
        let (root, halves) = builder.node((0..aff.n as u32).collect(), 0);
        let nodes = match halves {
            None => vec![root],
            Some([a, r]) => {
                // The smaller side to the helper: it also pays for moving W_S, which this thread
                // copies out first (at 48² in Chromium this made the tree 5 % faster than giving
                // it the larger side, BENCHMARKS.md).
                let give_a = a.len() < r.len();
                let (given, kept) = if give_a { (a, r) } else { (r, a) };
                let job = SubtreeJob {
                    w: builder.subgraph(&given).0.into_owned(),
                    excluded: given.iter().map(|&c| builder.excluded[c as usize]).collect(),
                    depth: 1,
                    opts,
                };
                let pending = (given.len() >= 2).then(|| helper.start_subtree(&job));
                drop(job);
                let kept = builder.grow(kept, 1);
                let answer = match pending {
                    Some(p) => p.await.ok().and_then(|nodes| in_region(nodes, &given)),
                    None => None,
                };
                let given = answer.unwrap_or_else(|| builder.grow(given, 1));
                if give_a {
                    with_children(root, given, kept)
                } else {
                    with_children(root, kept, given)
                }
            }
        };
        Ok(Self::of(nodes, dropped, grid, alpha, opts))
    }

    /// The checks of [`build`](Self::build), and the builder with the cells dropped below the
    /// root.
    fn builder(aff: &Affinity, grid: [usize; 2], opts: TreeOptions) -> Result<(Builder<'_>, Vec<u32>)> {
        check_tau(opts.tau_max)?;
        let n = aff.n;
        if grid[0] * grid[1] != n {
            return Err(Error::InvalidFeatures(format!(
                "grid {}×{} does not have {n} cells",
                grid[0], grid[1]
            )));
        }
        let excluded: Vec<bool> = match opts.mode {
            Mode::Official => (0..n).map(|i| aff.row(i).contains(&0.0)).collect(),
            Mode::Clean => vec![false; n],
        };
        let dropped = (0..n as u32).filter(|&i| excluded[i as usize]).collect();
        Ok((Builder { aff, excluded, opts }, dropped))
    }

    fn of(nodes: Vec<TreeNode>, dropped: Vec<u32>, grid: [usize; 2], alpha: f32, opts: TreeOptions) -> Self {
        SegmentTree {
            grid,
            alpha,
            tau_max: opts.tau_max,
            mode: opts.mode,
            nodes,
            dropped,
        }
    }

    /// The tree as the JSON every front end writes (`diffcut ncut --tree`, the Python package).
    ///
    /// # Errors
    /// [`Error::Tree`] if serialisation fails (it does not for a tree built here).
    pub fn to_json(&self) -> Result<Vec<u8>> {
        serde_json::to_vec(self).map_err(|e| Error::Tree(e.to_string()))
    }

    /// A tree read from outside bytes: parsed, then [`validated`](Self::validate) as a tree.
    ///
    /// # Errors
    /// [`Error::Tree`] naming what does not parse or does not hold.
    pub fn from_json(bytes: &[u8]) -> Result<Self> {
        let tree: SegmentTree = serde_json::from_slice(bytes).map_err(|e| Error::Tree(e.to_string()))?;
        tree.validate()?;
        Ok(tree)
    }

    /// Checks a tree that came from outside (e.g. a JSON file) **as a tree**, so that re-cutting it
    /// visits every node once and labels every cell exactly once:
    /// - the root holds every cell of the grid, in order; every other node holds ascending cells
    ///   inside the grid, and only a node of at least two cells has a cut;
    /// - every non-root node is a child of exactly the node its `parent` names, one level deeper,
    ///   and the two children of a node are two different, later nodes;
    /// - the children of a node partition its cells (at the root, together with `dropped`);
    /// - `dropped` is ascending without repeats (and empty in [`Mode::Clean`]);
    /// - every value a re-cut or a view reads (NCut, threshold, Fiedler vector) is finite and
    ///   sized to its node.
    ///
    /// A file that passes is then safe for [`SegmentTree::labels_at`] and friends: they are
    /// O(nodes + cells).
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::Tree(m));
        let n = self.grid[0].saturating_mul(self.grid[1]);
        let Some(root) = self.nodes.first() else {
            return bad("it has no nodes".into());
        };
        if root.cells.len() != n || root.cells.iter().enumerate().any(|(i, &c)| c as usize != i) {
            return bad(format!(
                "the root must hold all {} cells of the {}×{} grid in order",
                self.grid[0] as u128 * self.grid[1] as u128,
                self.grid[0],
                self.grid[1]
            ));
        }
        if root.parent.is_some() || root.depth != 0 {
            return bad("the root (node 0) must have no parent and depth 0".into());
        }
        check_tau(self.tau_max).map_err(|e| Error::Tree(e.to_string()))?;
        if !ascending(&self.dropped) || self.dropped.last().is_some_and(|&c| c as usize >= n) {
            return bad("dropped cells must be ascending grid indices without repeats".into());
        }
        if self.mode == Mode::Clean && !self.dropped.is_empty() {
            return bad("a clean-mode tree drops no cells".into());
        }
        for (i, node) in self.nodes.iter().enumerate() {
            if !ascending(&node.cells) || node.cells.last().is_some_and(|&c| c as usize >= n) {
                return bad(format!(
                    "node {i}: cells must be ascending grid indices without repeats"
                ));
            }
            // A child can be empty (at the root, a side made only of dropped cells); such a node
            // is a leaf: a cut needs two cells.
            if node.cells.len() < 2 && (node.cut.is_some() || node.children.is_some()) {
                return bad(format!("node {i} has a cut but fewer than two cells"));
            }
            if i > 0 {
                // Each non-root node is listed by exactly the parent it names: together with
                // "children come later" below, every node is reached once from the root.
                let listed = node.parent.is_some_and(|p| {
                    self.nodes
                        .get(p as usize)
                        .and_then(|p| p.children)
                        .is_some_and(|c| c.contains(&(i as u32)))
                });
                if !listed {
                    return bad(format!("node {i} is not a child of the parent it names"));
                }
                let parent_depth = self.nodes[node.parent.unwrap() as usize].depth;
                if parent_depth.checked_add(1) != Some(node.depth) {
                    return bad(format!("node {i}: depth {} is not its parent's + 1", node.depth));
                }
            }
            if let Some(cut) = &node.cut {
                if cut.fiedler.len() != node.cells.len()
                    || !cut.ncut.is_finite()
                    || !cut.threshold.is_finite()
                    || cut.fiedler.iter().any(|y| !y.is_finite())
                {
                    return bad(format!(
                        "node {i}: its cut does not match its {} cells",
                        node.cells.len()
                    ));
                }
            }
            if let Some([a, b]) = node.children {
                let ok = |c: u32| {
                    (c as usize) > i
                        && (c as usize) < self.nodes.len()
                        && self.nodes[c as usize].parent == Some(i as u32)
                };
                if a == b || !(ok(a) && ok(b)) || node.cut.is_none() {
                    return bad(format!("node {i}: invalid children [{a}, {b}]"));
                }
                let (ca, cb) = (&self.nodes[a as usize].cells, &self.nodes[b as usize].cells);
                let dropped: &[u32] = if i == 0 { &self.dropped } else { &[] };
                // Three ascending, repeat-free sets inside the parent whose sizes add up to the
                // parent's and that pairwise share nothing: a partition of it.
                let inside = |c: &u32| node.cells.binary_search(c).is_ok();
                if !(ca.iter().chain(cb).chain(dropped).all(inside)
                    && ca.len() + cb.len() + dropped.len() == node.cells.len()
                    && disjoint(ca, cb)
                    && disjoint(ca, dropped)
                    && disjoint(cb, dropped))
                {
                    return bad(format!("node {i}: its children do not partition its cells"));
                }
            }
        }
        Ok(())
    }

    /// Does node `i` split at τ?
    #[inline]
    pub fn splits_at(&self, i: usize, tau: f64) -> bool {
        let node = &self.nodes[i];
        node.children.is_some() && node.cut.as_ref().is_some_and(|c| c.ncut < tau)
    }

    /// The leaves at τ, in pre-order (the `y > θ` side first): segment `k` is `leaves[k]`.
    pub fn leaves_at(&self, tau: f64) -> Result<Vec<usize>> {
        self.check_recut(tau)?;
        let mut leaves = Vec::new();
        let mut stack = vec![0usize];
        while let Some(i) = stack.pop() {
            if self.splits_at(i, tau) {
                let [a, b] = self.nodes[i].children.unwrap();
                stack.push(b as usize);
                stack.push(a as usize);
            } else {
                leaves.push(i);
            }
        }
        Ok(leaves)
    }

    fn check_recut(&self, tau: f64) -> Result<()> {
        check_tau(tau)?;
        if tau > self.tau_max {
            return Err(Error::InvalidParameter {
                name: "tau",
                expected: "at most the tree's tau_max (grow the tree with a larger tau_max)",
                got: format!("{tau} > {}", self.tau_max),
            });
        }
        Ok(())
    }

    /// The accepted splits at τ in the official order (pre-order), each as its "1"-side cell set
    /// `B` — what the official code appends to its `accumulator_masks`.
    pub fn masks_at(&self, tau: f64) -> Result<Vec<Vec<u32>>> {
        self.check_recut(tau)?;
        let mut masks = Vec::new();
        let mut stack = vec![0usize];
        while let Some(i) = stack.pop() {
            if self.splits_at(i, tau) {
                let node = &self.nodes[i];
                let cut = node.cut.as_ref().expect("a split node has a cut");
                // B = the region's y > θ side, dropped cells included (they are only in the root).
                masks.push(
                    node.cells
                        .iter()
                        .zip(&cut.fiedler)
                        .filter(|(_, &y)| y > cut.threshold)
                        .map(|(&c, _)| c)
                        .collect(),
                );
                let [a, b] = node.children.expect("a split node has children");
                stack.push(b as usize);
                stack.push(a as usize);
            }
        }
        Ok(masks)
    }

    /// Per-cell labels at τ computed the way the official code assembles them
    /// (`assemble_clusters`, docs/ALGORITHM.md §4.4): `acc += w·B_k; w = max(acc) + 1` **in `f32`**, labels =
    /// ranks of the distinct values. In exact arithmetic this is one label per leaf; in `f32` the
    /// super-increasing weights pass 2^24 after a few dozen splits and distinct leaves can collide
    /// (and past 2^128 the sums overflow). Provided to reproduce official outputs bit for bit;
    /// [`SegmentTree::labels_at`] is the intended result.
    pub fn labels_at_official_f32(&self, tau: f64) -> Result<(Vec<u32>, usize)> {
        let n = self.grid[0] * self.grid[1];
        let mut acc = vec![0.0f32; n];
        let mut in_mask = vec![0.0f32; n];
        let mut w = 1.0f32;
        for mask in self.masks_at(tau)? {
            in_mask.iter_mut().for_each(|v| *v = 0.0);
            mask.iter().for_each(|&c| in_mask[c as usize] = 1.0);
            for (a, &m) in acc.iter_mut().zip(&in_mask) {
                *a += w * m;
            }
            w = acc.iter().copied().fold(f32::NEG_INFINITY, f32::max) + 1.0;
        }
        // torch.unique sorts; cells whose value is NaN match no unique value and keep label 0.
        let mut values: Vec<f32> = acc.iter().copied().filter(|v| !v.is_nan()).collect();
        values.sort_by(f32::total_cmp);
        values.dedup();
        let labels = acc
            .iter()
            .map(|v| values.binary_search_by(|p| p.total_cmp(v)).map_or(0, |k| k as u32))
            .collect();
        Ok((labels, values.len().max(1)))
    }

    /// Per-cell labels `[h·w]` at τ and their number K, as the tree's [`Mode`] defines them:
    /// [`SegmentTree::labels_at_official_f32`] or [`SegmentTree::leaf_labels_at`].
    pub fn labels_at(&self, tau: f64) -> Result<(Vec<u32>, usize)> {
        match self.mode {
            Mode::Official => self.labels_at_official_f32(tau),
            Mode::Clean => self.leaf_labels_at(tau),
        }
    }

    /// Per-cell labels `[h·w]` at τ, one per leaf, numbered `0..K` in leaf pre-order, and K.
    pub fn leaf_labels_at(&self, tau: f64) -> Result<(Vec<u32>, usize)> {
        let leaves = self.leaves_at(tau)?;
        let mut labels = vec![u32::MAX; self.grid[0] * self.grid[1]];
        let mut label_of_node = vec![u32::MAX; self.nodes.len()];
        for (k, &leaf) in leaves.iter().enumerate() {
            label_of_node[leaf] = k as u32;
            for &c in &self.nodes[leaf].cells {
                labels[c as usize] = k as u32;
            }
        }
        if !self.dropped.is_empty() && self.splits_at(0, tau) {
            // Cells only the root saw: the root side they fell on, then the "rest" branch.
            let root = &self.nodes[0];
            let cut = root.cut.as_ref().expect("a split root has a cut");
            for &c in &self.dropped {
                let pos = root.cells.binary_search(&c).expect("dropped cells belong to the root");
                let side = usize::from(!(cut.fiedler[pos] > cut.threshold));
                let mut i = root.children.unwrap()[side] as usize;
                while self.splits_at(i, tau) {
                    i = self.nodes[i].children.unwrap()[1] as usize;
                }
                labels[c as usize] = label_of_node[i];
            }
        }
        debug_assert!(labels.iter().all(|&l| l != u32::MAX));
        Ok((labels, leaves.len()))
    }
}

/// Strictly ascending (so: no repeats).
fn ascending(v: &[u32]) -> bool {
    v.windows(2).all(|p| p[0] < p[1])
}

/// Do two ascending sets share nothing? A merge walk: O(|a| + |b|).
fn disjoint(a: &[u32], b: &[u32]) -> bool {
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => return false,
        }
    }
    true
}
