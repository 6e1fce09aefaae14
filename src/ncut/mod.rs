//! Recursive Normalized Cut (Shi & Malik 2000) as DiffCut uses it (Couairon et al. 2024, §3.2;
//! docs/ALGORITHM.md §3–4).
//!
//! Three layers, as in scikit-image's `graph` module:
//! - the algorithm: [`tree`] grows the recursive 2-way cut as a segment tree, re-cut at any τ;
//!   [`split`] is its rule for splitting a region, shared with the GPU tree;
//! - math primitives: [`affinity`](mod@affinity) (`W = minmax(X̂X̂ᵀ)^α`), [`lanczos`] (Fiedler vector),
//!   [`tridiag`] (its small eigenproblem), [`bipartition`] (the 100-threshold sweep);
//! - hot loops: [`simd`].
//!
//! [`autosc`] is the one-shot spectral clustering the paper compares it with (its AutoSC baseline).
//!
//! [`dense`] is a dense eigensolver kept only as a test oracle.
//!
//! Where there are no threads (the page's wasm), [`segment_tree_shared`] shares a tree's work with
//! a second worker ([`Helper`]): Gram tiles and one of the root's subtrees, sent over [`wire`].

pub mod affinity;
pub mod autosc;
pub mod bipartition;
pub mod dense;
pub mod lanczos;
pub mod simd;
pub mod split;
pub mod tree;
pub mod tridiag;
pub mod wire;

pub use affinity::{affinity, affinity_shared, check_cells, Affinity, GramTile, TileHelper, MAX_CELLS};
pub use tree::{check_tau, grow_subtree, Mode, SegmentTree, SubtreeHelper, SubtreeJob, TreeOptions, DEFAULT_TAU_MAX};

use crate::{Error, Result};

/// How a feature grid is clustered: DiffCut's recursive 2-way NCut, or the one-shot spectral
/// clustering its paper compares it with ([`autosc`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
pub enum Method {
    /// Recursive NCut, split while the best cut's NCut is below τ (DiffCut).
    #[default]
    Recursive,
    /// AutoSC: the number of clusters from the eigengap over α ∈ {1, 5, 10, 15}, then
    /// `cluster_qr` (the paper's baseline; τ and α are not used).
    Autosc,
}

/// A feature grid: `[h, w, c]` row-major `f32` (token `y·w + x` owns `data[(y·w + x)·c ..][..c]`).
#[derive(Clone, Debug, PartialEq)]
pub struct FeatureGrid {
    pub h: usize,
    pub w: usize,
    pub c: usize,
    pub data: Vec<f32>,
}

impl FeatureGrid {
    /// Wraps `[h, w, c]` data, checking the length and that every value is finite.
    pub fn new(h: usize, w: usize, c: usize, data: Vec<f32>) -> Result<Self> {
        if h == 0 || w == 0 || c == 0 {
            return Err(Error::InvalidFeatures(format!(
                "shape [{h}, {w}, {c}] has a zero dimension"
            )));
        }
        if h.checked_mul(w).and_then(|n| n.checked_mul(c)) != Some(data.len()) {
            return Err(Error::InvalidFeatures(format!(
                "shape [{h}, {w}, {c}] needs {} values, got {}",
                h as u128 * w as u128 * c as u128,
                data.len()
            )));
        }
        if let Some(i) = data.iter().position(|v| !v.is_finite()) {
            let cell = i / c;
            return Err(Error::InvalidFeatures(format!(
                "value {} at [{}, {}, {}] is not finite",
                data[i],
                cell / w,
                cell % w,
                i % c
            )));
        }
        Ok(Self { h, w, c, data })
    }

    /// Number of tokens `h·w`.
    pub fn cells(&self) -> usize {
        self.h * self.w
    }
}

/// Features → affinity → segment tree grown to `opts.tau_max`.
pub fn segment_tree(features: &FeatureGrid, alpha: f32, opts: TreeOptions) -> Result<SegmentTree> {
    let aff = affinity(&features.data, features.cells(), features.c, alpha)?;
    SegmentTree::build(&aff, [features.h, features.w], alpha, opts)
}

/// Work a [`Helper`] has started elsewhere, to be awaited once this thread has done its share.
pub type Pending<T> = std::pin::Pin<Box<dyn std::future::Future<Output = Result<T>>>>;

/// A second worker for the CPU path where there are no threads (the page): it computes Gram
/// tiles ([`TileHelper`]) and grows subtrees ([`SubtreeHelper`]).
pub trait Helper: TileHelper + SubtreeHelper {}

impl<H: TileHelper + SubtreeHelper + ?Sized> Helper for H {}

/// [`segment_tree`] with `helper` (the page's second worker) computing about half of the
/// affinity's Gram matrix ([`affinity_shared`]) and one of the root's subtrees
/// ([`SegmentTree::build_shared`]): the same tree.
pub async fn segment_tree_shared<H: Helper + ?Sized>(
    features: &FeatureGrid,
    alpha: f32,
    opts: TreeOptions,
    helper: &H,
) -> Result<SegmentTree> {
    let aff = affinity_shared(&features.data, features.cells(), features.c, alpha, helper).await?;
    SegmentTree::build_shared(&aff, [features.h, features.w], alpha, opts, helper).await
}
