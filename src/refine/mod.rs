//! From a coarse segmentation on the feature grid to a label per output pixel.
//!
//! - [`assign`](mod@assign): DiffCut's high-resolution concept assignment (docs/ALGORITHM.md §5.1–5.2).
//! - [`pamr`](mod@pamr): PAMR refinement of a label map along the image's edges (docs/ALGORITHM.md §5.3).

pub mod assign;
pub mod pamr;

pub use assign::{assign, upsample_bilinear};
pub use pamr::{median3x3, pamr, pamr_f32, pamr_mask, PamrConfig};
