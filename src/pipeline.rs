//! The end-to-end pipeline: image → patch features → segment tree → per-pixel labels.
//!
//! Non-square images are squashed to a square before feature extraction, as the official code
//! does (`tools/ldm.py:131` resizes any input to S×S), and the labels are assigned directly at
//! the original size (`mask_size = (orig_h, orig_w)` in the official demo), which maps the
//! segmentation back to the original aspect.

use crate::features::color_features;
use crate::image_io::RgbImage;
use crate::ncut::{self, check_tau, FeatureGrid, Mode, SegmentTree, TreeOptions};
use crate::refine::assign;
use crate::Result;

/// Parameters of one segmentation.
#[derive(Clone, Copy, Debug)]
pub struct SegmentParams {
    /// NCut threshold τ ∈ (0, 2]: a region splits iff its best NCut is below it. Default 0.5.
    pub tau: f64,
    /// Affinity exponent α > 0. Default 10.
    pub alpha: f32,
    /// Feature grid side (cells per side). Default 32, the SSD-1B grid at 1024 px.
    pub grid: usize,
    /// Grow the tree up to this τ so later re-cuts are instant (≥ `tau`). Default `tau`.
    pub tau_max: Option<f64>,
    pub mode: Mode,
}

impl Default for SegmentParams {
    fn default() -> Self {
        Self {
            tau: 0.5,
            alpha: 10.0,
            grid: 32,
            tau_max: None,
            mode: Mode::Official,
        }
    }
}

/// A segmented image.
#[derive(Clone, Debug)]
pub struct Segmentation {
    /// Patch features `[grid, grid, C]` of the squashed image.
    pub features: FeatureGrid,
    pub tree: SegmentTree,
    /// Segments at `tau`.
    pub segments: usize,
    /// Grid labels `[grid · grid]` at `tau`.
    pub cell_labels: Vec<u32>,
}

impl Segmentation {
    /// Per-pixel labels `[height · width]` (row-major) by concept assignment.
    pub fn pixel_labels(&self, width: usize, height: usize) -> Result<Vec<u32>> {
        assign(&self.features, &self.cell_labels, self.segments, height, width)
    }
}

impl SegmentParams {
    /// The tree options these parameters ask for: grown to `max(tau, tau_max)`.
    pub fn tree_options(&self) -> Result<TreeOptions> {
        check_tau(self.tau)?;
        let tau_max = self.tau_max.unwrap_or(self.tau).max(self.tau);
        Ok(TreeOptions {
            tau_max,
            mode: self.mode,
            ..TreeOptions::default()
        })
    }
}

impl Segmentation {
    /// Cuts a grown tree at `tau`.
    pub fn new(features: FeatureGrid, tree: SegmentTree, tau: f64) -> Result<Self> {
        let (cell_labels, segments) = tree.labels_at(tau)?;
        Ok(Segmentation {
            features,
            tree,
            segments,
            cell_labels,
        })
    }
}

/// Segments a feature grid on the CPU: the tree up to `max(tau, tau_max)` and the labels at `tau`.
pub fn segment_features(features: FeatureGrid, params: &SegmentParams) -> Result<Segmentation> {
    let tree = ncut::segment_tree(&features, params.alpha, params.tree_options()?)?;
    Segmentation::new(features, tree, params.tau)
}

/// Segments a feature grid with the WGSL kernels on `ctx`'s GPU.
#[cfg(feature = "gpu")]
pub async fn segment_features_gpu(
    ctx: &crate::gpu::GpuContext,
    features: FeatureGrid,
    params: &SegmentParams,
) -> Result<Segmentation> {
    let (tree, _) = crate::gpu::segment_tree_gpu(ctx, &features, params.alpha, params.tree_options()?).await?;
    Segmentation::new(features, tree, params.tau)
}

/// A tree grown by [`segment_features_prefer_gpu`]: where, and why not on the GPU.
#[cfg(feature = "gpu")]
pub struct Grown {
    pub seg: Segmentation,
    /// The WGSL path grew it.
    pub on_gpu: bool,
    /// Why the CPU grew it although a GPU was given.
    pub note: Option<String>,
    /// The GPU itself failed (lost device, validation error): do not use it again.
    pub gpu_failed: bool,
}

/// Segments on `gpu` when given, falling back to the CPU, with the same result type either way:
/// a problem beyond the GPU's limits (`GpuLimit`) uses the CPU for this grid only; a failing GPU
/// (`Gpu`) uses the CPU and says the GPU should be dropped. Other errors (bad features or
/// parameters) are returned: the CPU would fail on them too.
#[cfg(feature = "gpu")]
pub async fn segment_features_prefer_gpu(
    gpu: Option<&crate::gpu::GpuContext>,
    features: FeatureGrid,
    params: &SegmentParams,
) -> Result<Grown> {
    let cpu = |features, note, gpu_failed| -> Result<Grown> {
        Ok(Grown {
            seg: segment_features(features, params)?,
            on_gpu: false,
            note,
            gpu_failed,
        })
    };
    let Some(ctx) = gpu else {
        return cpu(features, None, false);
    };
    match segment_features_gpu(ctx, features.clone(), params).await {
        Ok(seg) => Ok(Grown {
            seg,
            on_gpu: true,
            note: None,
            gpu_failed: false,
        }),
        Err(e @ crate::Error::GpuLimit { .. }) => cpu(features, Some(format!("{e}; used the CPU")), false),
        Err(e @ crate::Error::Gpu(_)) => cpu(features, Some(format!("{e}; using the CPU from now on")), true),
        Err(e) => Err(e),
    }
}

/// The longest side PAMR runs at; larger images are refined at this size and the labels scaled back
/// (nearest). The official demo refines at 1024 × 1024, and the demo preset's weights take
/// 64 floats per pixel (256 MiB at 1024²).
pub const PAMR_MAX_SIDE: u32 = 1024;

/// Runs PAMR somewhere else (e.g. on the GPU): `(image, labels, label_w, label_h) → labels`.
pub type PamrRunner<'a> = &'a dyn Fn(&RgbImage, &[u32], usize, usize) -> Result<Vec<u32>>;

/// Per-pixel labels of `image` refined by PAMR (spec §5.3): the concept assignment at a working
/// size (the image, or its downscale to [`PAMR_MAX_SIDE`]), PAMR there, then nearest scaling to
/// the image's size. `gpu` runs PAMR in our WGSL kernel.
pub fn refined_labels(
    image: &RgbImage,
    seg: &Segmentation,
    cfg: &crate::refine::PamrConfig,
    gpu: Option<PamrRunner<'_>>,
) -> Result<Vec<u32>> {
    refine_assignment(image, &seg.features, &seg.cell_labels, seg.segments, cfg, gpu)
}

/// One label per leaf of the tree cut at `tau`, per pixel of `image`, refined by PAMR (`cfg`, at up
/// to [`PAMR_MAX_SIDE`]); and the number of segments. The page's refined view.
pub fn refined_leaf_labels(
    image: &RgbImage,
    seg: &Segmentation,
    tau: f64,
    cfg: &crate::refine::PamrConfig,
) -> Result<(Vec<u32>, usize)> {
    let (cell_labels, segments) = seg.tree.leaf_labels_at(tau)?;
    Ok((
        refine_assignment(image, &seg.features, &cell_labels, segments, cfg, None)?,
        segments,
    ))
}

/// [`refined_labels`] for any grid labelling of `features`.
fn refine_assignment(
    image: &RgbImage,
    features: &FeatureGrid,
    cell_labels: &[u32],
    segments: usize,
    cfg: &crate::refine::PamrConfig,
    gpu: Option<PamrRunner<'_>>,
) -> Result<Vec<u32>> {
    let (w, h) = image.dimensions();
    let scale = (f64::from(PAMR_MAX_SIDE) / f64::from(w.max(h))).min(1.0);
    let (ww, wh) = (
        ((f64::from(w) * scale).round() as u32).max(1),
        ((f64::from(h) * scale).round() as u32).max(1),
    );
    let work = if (ww, wh) == (w, h) {
        image.clone()
    } else {
        crate::image_io::resize_bilinear(image, ww, wh)
    };
    let coarse = assign(features, cell_labels, segments, wh as usize, ww as usize)?;
    let refined = match gpu {
        Some(run) => run(&work, &coarse, ww as usize, wh as usize)?,
        None => crate::refine::pamr(&work, &coarse, ww as usize, wh as usize, segments, cfg)?,
    };
    if (ww, wh) == (w, h) {
        return Ok(refined);
    }
    let (w, h, ww, wh) = (w as usize, h as usize, ww as usize, wh as usize);
    Ok((0..h * w)
        .map(|p| refined[((p / w) * wh / h) * ww + (p % w) * ww / w])
        .collect())
}

/// Segments an image with the weight-free colour/texture features.
pub fn segment_image(image: &RgbImage, params: &SegmentParams) -> Result<Segmentation> {
    let features = color_features(image, params.grid)?;
    segment_features(features, params)
}
