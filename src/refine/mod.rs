//! From a coarse segmentation on the feature grid to a label per output pixel.
//!
//! - [`assign`]: DiffCut's high-resolution concept assignment (spec §5.1–5.2).

pub mod assign;

pub use assign::{assign, upsample_bilinear};
