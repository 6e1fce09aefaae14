//! Weight-free patch features: the default feature extractor, with no download.
//!
//! DiffCut segments a `[h, w, C]` grid of patch features by recursive NCut on the affinity
//! `W = minmax(cos)^α` (α = 10, docs/ALGORITHM.md §3). The paper's features come from a diffusion UNet; this
//! module gives the same pipeline something that works on any machine, in the browser, with no
//! weights: [`color_features`], `[32, 32, 32]` by default.
//!
//! # Design
//! The affinity only sees cosine similarities, then stretches them with min-max and sharpens
//! them with `^10`. So the features are built for the *cosine*, not for Euclidean distance:
//!
//! 1. **Descriptor** per cell, 6 numbers in perceptual units (OKLab, [`oklab`]): median colour
//!    (lightness down-weighted ×0.4, since shading varies within objects) and three texture
//!    measures (median fine and coarse lightness differences, median chroma difference,
//!    log-compressed). Medians make a cell cut by an edge take its majority side.
//! 2. **Context**: 40 rounds of a 3×3 bilateral filter on the descriptor grid. Surfaces and
//!    gradients even out over several cells, edges stay sharp. This replaces what a network's
//!    receptive field provides; without it segments are salt-and-pepper.
//! 3. **Kernel embedding**: 32 anchors in descriptor space (farthest-point sampling + k-means);
//!    each cell becomes its L2-normalised vector of Gaussian kernel values to the anchors, so
//!    `cos(φ_i, φ_j)` ≈ a Gaussian kernel of the perceptual distance (≈ 1 same surface, → 0
//!    unrelated). Raw colour vectors would not do: uncentred positive features all have cosine ≈ 1,
//!    and centred low-dimensional ones give cells near the image's mean colour short vectors with
//!    arbitrary directions, and equate colours that deviate from the mean the same way.
//! 4. **Centring** over the image. Without it every unrelated pair sits at the minimum cosine,
//!    becomes an exact 0 after min-max and `^α`, and the official recursion then drops those
//!    cells below the root ([`crate::ncut::tree`], "zero-as-marker quirk"); centred, the cosines
//!    of unrelated cells spread out as diffusion features' do.
//!
//! No position term: with min-max, any spatial signal, however weak, is stretched to the full
//! range, and a flat region would then be cut into spatial blobs; the bilateral context keeps
//! segments spatially coherent instead. A flat image yields identical features → one segment.
//!
//! Tuned by eye on `samples/`, then measured on `benches/features/` (generated scenes and real
//! photographs with ground truth, Hungarian mIoU; BENCHMARKS.md), which set the texture weight to
//! 2, the bilateral context to 40 rounds of range 0.5, α to 9 ([`DEFAULT_ALPHA`]), and confirmed
//! τ = 0.5 for these features ([`DEFAULT_TAU`]). With the defaults (grid 32, α = 9, τ = 0.5,
//! official mode, PAMR demo) the samples give 18 segments on the astronaut (face, hair, suit,
//! flag, helmet and backdrop apart), 10 on the coffee (cup, crema, saucer and table apart), 4 on
//! the cat (its fur one segment) and 5 on the rocket. Colour cannot know semantics: the cat's
//! white chin joins the pale backdrop.

pub mod color;
pub mod oklab;

pub use color::{
    color_features, color_features_with, ColorFeatureOptions, DEFAULT_ALPHA, DEFAULT_GRID, DEFAULT_TAU, MAX_GRID,
};
pub use oklab::linear_to_srgb;
