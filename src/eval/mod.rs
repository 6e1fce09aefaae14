//! Evaluation: the official DiffCut metric (docs/ALGORITHM.md §6).
//!
//! - [`miou`]: mIoU and pixel accuracy with per-image Hungarian matching (§6.3), optionally with
//!   the background merge of VOC / Context / COCO-Object (§6.4); over label PNG directories
//!   ([`evaluate_dirs`]) or in memory ([`Accumulator`]).
//! - [`datasets`]: readers for the six benchmarks and the per-image protocol (§6.1, §6.2).
//! - [`open_vocab`]: the open-vocabulary protocol (§7.6): segments named by CLIP, scored per image
//!   with torchmetrics' Jaccard index, averaged over images.
//! - [`runner`]: `diffcut eval`, a benchmark image by image through [`crate::segmenter`].
//! - [`agreement`]: how far two segmentations agree up to a renaming of the segments.
//! - [`lsap`]: the matching itself, a port of SciPy's `linear_sum_assignment` that breaks ties as
//!   SciPy does (which the official numbers depend on).

pub mod agreement;
pub mod datasets;
pub mod lsap;
pub mod miou;
pub mod open_vocab;
#[cfg(not(target_arch = "wasm32"))]
pub mod runner;

pub use agreement::partition_agreement;

pub use lsap::linear_sum_assignment;
pub use miou::{
    evaluate_dirs, evaluate_dirs_with, load_label_png, paired_files, Accumulator, MiouReport, Protocol, MAX_HIST_CELLS,
};
