//! DiffCut: zero-shot semantic segmentation by recursive Normalized Cut on diffusion features.
//!
//! Couairon, Shukor, Haugeard, Cord, Thome, *DiffCut: Catalyzing Zero-Shot Semantic Segmentation
//! with Diffusion Features and Recursive Normalized Cut*, NeurIPS 2024 (arXiv:2406.02842).
//!
//! Every front end (the `diffcut` CLI, the page's wasm seam, `diffcut eval`) segments through one
//! front door, [`segmenter`]: a [`segmenter::Segmenter`] (a feature source on a
//! [`segmenter::Compute`]) turns an image into a [`segmenter::Segmentation`] that answers every
//! later question (labels at any τ, refined labels, the tree's nodes). Below it, where each step
//! lives:
//!
//! | step | module |
//! | --- | --- |
//! | patch features `[h, w, C]` (weight-free colour/texture features) | [`features`] |
//! | diffusion features `[h, w, C]` (SSD-1B encoder slice + SDXL VAE in burn; feature `model`) | `model` |
//! | affinity `W = minmax(X Xᵀ)^α` | [`ncut::affinity()`] |
//! | recursive 2-way NCut → segment tree, re-cut at any τ | [`ncut`] |
//! | high-resolution concept assignment | [`refine`] |
//! | picking a region at any granularity, cut-outs | [`select`] |
//! | label maps, images in, masks out | [`labels`], [`image_io`], [`npy`] |
//! | the evaluation protocol and its runner | [`eval`] |
//!
//! The algorithm follows the official code as described in `docs/ALGORITHM.md`; every deviation is
//! marked in the code with "Deviation:" and listed in the README.

// `!(a > b)` is deliberate throughout: it is true for NaN, which must take the safe branch.
#![allow(clippy::neg_cmp_op_on_partial_ord)]

pub mod annotate;
pub mod choice;
pub mod error;
pub mod eval;
pub mod features;
pub mod files;
#[cfg(feature = "gpu")]
pub mod gpu;
pub mod image_io;
pub mod labels;
#[cfg(feature = "model")]
pub mod model;
#[cfg(feature = "model")]
pub mod naming;
pub mod ncut;
pub mod npy;
pub mod refine;
pub mod segmenter;
pub mod select;
pub mod synth;
#[cfg(all(target_arch = "wasm32", feature = "web"))]
pub mod web;

pub use error::{Error, Result};
