//! The browser API: a thin `wasm-bindgen` seam over [`crate::pipeline`] (wasm32 with the `web`
//! feature only). It converts types and calls the library; the segmentation itself lives in the
//! library. TypeScript typings come from `wasm-bindgen --target web`.
//!
//! ```text
//! const dc = await DiffCut.create();              // WebGPU if the browser has it, else the CPU
//! const info = await dc.segmentImage(bytes, 32, 10, 0.9);  // decode → features → tree to τ_max
//! dc.recut(0.5);                                  // cell labels at τ: a pruning of the tree
//! dc.pixelLabels(0.5, info.width, info.height);   // per-pixel labels (concept assignment)
//! dc.maskPng(0.5, info.width, info.height);       // the same as a label PNG
//! ```
//!
//! Segments are numbered one per leaf of the tree at τ, in the tree's pre-order
//! ([`SegmentTree::leaf_labels_at`]), so the page's segment count is the number of leaves its tree
//! view shows and every label is a distinct leaf. (The CLI's official mode assembles labels as the
//! official code does, in `f32`, where many splits can make distinct leaves collide.)
//!
//! Every exported function returns `Result<_, JsError>` (or cannot fail): errors become a JS
//! `Error` whose message is the library's, through [`convert::js_error`] only. Nothing here
//! unwraps; the panic hook is there to make a library bug readable in the console.

mod convert;
#[cfg(feature = "model")]
mod model;

use std::cell::RefCell;
use std::rc::Rc;

use js_sys::Promise;
use wasm_bindgen::prelude::*;

use crate::features::color_features;
use crate::image_io::{decode_image, encode_mask_png, RgbImage, MAX_PIXELS};
use crate::ncut::{Mode, SegmentTree};
use crate::pipeline::{refined_leaf_labels, SegmentParams, Segmentation};
use crate::refine::{assign, PamrConfig};
use crate::{Error, Result};
use convert::{fiedler_on_grid, js_error, rgb_to_rgba, to_f32, to_json, TreeSummary};

#[cfg(feature = "gpu")]
use crate::gpu::GpuContext;

#[wasm_bindgen]
extern "C" {
    /// `performance.now()`: present in windows and workers alike.
    #[wasm_bindgen(js_namespace = performance, js_name = now)]
    fn performance_now() -> f64;
}

#[wasm_bindgen(start)]
fn start() {
    console_error_panic_hook::set_once();
}

/// What one `segmentImage` computed.
#[wasm_bindgen(getter_with_clone)]
pub struct SegmentInfo {
    /// Size of the decoded image (EXIF orientation applied), in pixels.
    pub width: u32,
    pub height: u32,
    /// Feature grid side.
    pub grid: u32,
    /// Nodes in the segment tree.
    pub nodes: u32,
    /// Segments at `tauMax` (the leaves of the whole tree).
    #[wasm_bindgen(js_name = finestSegments)]
    pub finest_segments: u32,
    /// `"webgpu"` or `"cpu"`: where this tree was grown.
    pub backend: String,
    /// Why the GPU was not used for this image, when it was meant to be.
    pub note: Option<String>,
    #[wasm_bindgen(js_name = decodeMs)]
    pub decode_ms: f64,
    #[wasm_bindgen(js_name = featuresMs)]
    pub features_ms: f64,
    #[wasm_bindgen(js_name = treeMs)]
    pub tree_ms: f64,
}

/// A segmenter: the GPU (if any) and the last segmented image with its tree.
#[wasm_bindgen]
pub struct DiffCut {
    inner: Rc<RefCell<Inner>>,
}

struct Inner {
    #[cfg(feature = "gpu")]
    gpu: Option<Rc<GpuContext>>,
    /// Adapter description while the GPU is in use.
    adapter: Option<String>,
    /// Why there is no GPU (not offered, not asked for, lost).
    gpu_note: Option<String>,
    current: Option<Current>,
    /// The diffusion model: being loaded, or ready.
    #[cfg(feature = "model")]
    model: model::ModelSlot,
}

/// The last segmented image and its segmentation.
struct Current {
    image: RgbImage,
    seg: Segmentation,
}

#[wasm_bindgen]
impl DiffCut {
    /// Opens WebGPU when the browser offers it and `preferGpu` is not `false`; otherwise, or when
    /// that fails, the CPU path (Rust compiled to wasm) is used. Never rejects: see `backend` and
    /// `gpuNote` for what happened.
    pub async fn create(#[wasm_bindgen(js_name = preferGpu)] prefer_gpu: Option<bool>) -> DiffCut {
        console_error_panic_hook::set_once();
        let mut inner = Inner {
            #[cfg(feature = "gpu")]
            gpu: None,
            adapter: None,
            gpu_note: None,
            current: None,
            #[cfg(feature = "model")]
            model: model::ModelSlot::None,
        };
        if !prefer_gpu.unwrap_or(true) {
            inner.gpu_note = Some("the CPU was requested".into());
        } else {
            #[cfg(feature = "gpu")]
            if !wgpu::util::is_browser_webgpu_supported().await {
                inner.gpu_note = Some("this browser offers no WebGPU adapter".into());
            } else {
                match GpuContext::new().await {
                    Ok(ctx) => {
                        inner.adapter = Some(ctx.adapter.clone());
                        inner.gpu = Some(Rc::new(ctx));
                    }
                    Err(e) => inner.gpu_note = Some(e.to_string()),
                }
            }
            #[cfg(not(feature = "gpu"))]
            {
                inner.gpu_note = Some("this build has no GPU path (built without the `gpu` feature)".into());
            }
        }
        DiffCut {
            inner: Rc::new(RefCell::new(inner)),
        }
    }

    /// `"webgpu"` or `"cpu"`: where the next tree will be grown.
    #[wasm_bindgen(getter)]
    pub fn backend(&self) -> String {
        if self.inner.borrow().adapter.is_some() {
            "webgpu"
        } else {
            "cpu"
        }
        .into()
    }

    /// The WebGPU adapter in use, if any.
    #[wasm_bindgen(getter)]
    pub fn adapter(&self) -> Option<String> {
        self.inner.borrow().adapter.clone()
    }

    /// Why the GPU is not used, if it is not.
    #[wasm_bindgen(getter, js_name = gpuNote)]
    pub fn gpu_note(&self) -> Option<String> {
        self.inner.borrow().gpu_note.clone()
    }

    /// Decodes `bytes` (PNG, JPEG, GIF, BMP, TIFF, WebP; EXIF orientation applied; size limits
    /// checked from the header), computes the weight-free colour features on a `grid`×`grid`
    /// grid and grows the segment tree with affinity exponent `alpha` up to `tauMax`, on the GPU
    /// when there is one (falling back to the CPU if the GPU fails). The tree is kept for
    /// `recut`, `pixelLabels`, `maskPng`, `tree`, `fiedler` and `ncutCurve`; a failure keeps the
    /// previous one.
    #[wasm_bindgen(js_name = segmentImage, unchecked_return_type = "Promise<SegmentInfo>")]
    pub fn segment_image(
        &self,
        bytes: &[u8],
        grid: usize,
        alpha: f32,
        #[wasm_bindgen(js_name = tauMax)] tau_max: f64,
    ) -> Promise {
        self.segment_promise(bytes, Source::Color { grid }, alpha, tau_max)
    }

    /// [`segment`] as a JS promise of a `SegmentInfo` (rejected with the error's message).
    fn segment_promise(&self, bytes: &[u8], source: Source, alpha: f32, tau_max: f64) -> Promise {
        let inner = self.inner.clone();
        let bytes = bytes.to_vec();
        wasm_bindgen_futures::future_to_promise(async move {
            match segment(&inner, &bytes, source, alpha, tau_max).await {
                Ok(info) => Ok(info.into()),
                Err(e) => Err(js_error(e).into()),
            }
        })
    }

    /// Width of the last segmented image (after EXIF orientation); 0 before any.
    #[wasm_bindgen(getter, js_name = imageWidth)]
    pub fn image_width(&self) -> u32 {
        self.inner.borrow().current.as_ref().map_or(0, |c| c.image.width())
    }

    /// Height of the last segmented image; 0 before any.
    #[wasm_bindgen(getter, js_name = imageHeight)]
    pub fn image_height(&self) -> u32 {
        self.inner.borrow().current.as_ref().map_or(0, |c| c.image.height())
    }

    /// The last segmented image as decoded (what the labels refer to), RGBA `[height·width·4]`.
    #[wasm_bindgen(js_name = imageRgba)]
    pub fn image_rgba(&self) -> Result<Vec<u8>, JsError> {
        self.with_current(|c| Ok(rgb_to_rgba(&c.image)))
    }

    /// Cell labels `[grid·grid]` at τ ≤ `tauMax`, one per leaf of the tree at τ (instant: a
    /// pruning of the kept tree).
    pub fn recut(&self, tau: f64) -> Result<Vec<u32>, JsError> {
        self.with_tree(|s| Ok(s.tree.leaf_labels_at(tau)?.0))
    }

    /// Number of segments at τ.
    #[wasm_bindgen(js_name = segmentCount)]
    pub fn segment_count(&self, tau: f64) -> Result<u32, JsError> {
        self.with_tree(|s| Ok(s.tree.leaves_at(tau)?.len() as u32))
    }

    /// Per-pixel labels `[height·width]` at τ by concept assignment: each pixel joins the segment
    /// whose mean feature it matches best (bilinear on the grid's scores).
    #[wasm_bindgen(js_name = pixelLabels)]
    pub fn pixel_labels(&self, tau: f64, width: u32, height: u32) -> Result<Vec<u32>, JsError> {
        self.with_tree(|s| Ok(pixel_labels(s, tau, width, height)?.0))
    }

    /// Per-pixel labels at τ at the image's size, refined by PAMR (DiffCut's evaluation preset):
    /// the segments' edges follow the photo. Slower than `pixelLabels` (a few hundred ms).
    #[wasm_bindgen(js_name = refinedLabels)]
    pub fn refined_labels(&self, tau: f64) -> Result<Vec<u32>, JsError> {
        self.with_current(|c| Ok(refined_leaf_labels(&c.image, &c.seg, tau, &PamrConfig::eval())?.0))
    }

    /// The per-pixel labels at τ as a greyscale PNG (pixel value = segment; 16-bit beyond 256).
    #[wasm_bindgen(js_name = maskPng)]
    pub fn mask_png(&self, tau: f64, width: u32, height: u32) -> Result<Vec<u8>, JsError> {
        self.with_tree(|s| {
            let (labels, segments) = pixel_labels(s, tau, width, height)?;
            encode_mask_png(&labels, width, height, segments)
        })
    }

    /// JSON of the tree for the teaching view: `{grid, alpha, tauMax, dropped, nodes: [{depth,
    /// parent, children, ncut, threshold, lambda, cells}]}`, nodes in pre-order.
    pub fn tree(&self) -> Result<String, JsError> {
        self.with_tree(|s| to_json(&TreeSummary::of(&s.tree)))
    }

    /// The whole tree (Fiedler vectors and curves included) as the CLI writes it with `--tree`:
    /// `diffcut recut tree.json --tau 0.3 --out labels.npy` re-cuts it.
    #[wasm_bindgen(js_name = treeFile)]
    pub fn tree_file(&self) -> Result<String, JsError> {
        self.with_tree(|s| to_json(&s.tree))
    }

    /// Node `node`'s Fiedler vector over the whole grid (`[grid·grid]`, NaN outside the region).
    pub fn fiedler(&self, node: u32) -> Result<Vec<f32>, JsError> {
        self.with_tree(|s| {
            let (n, cut) = node_cut(&s.tree, node)?;
            Ok(fiedler_on_grid(cut, &n.cells, s.tree.grid[0] * s.tree.grid[1]))
        })
    }

    /// Node `node`'s NCut at each of the thresholds of `cutThresholds` (NaN where a side is empty).
    #[wasm_bindgen(js_name = ncutCurve)]
    pub fn ncut_curve(&self, node: u32) -> Result<Vec<f32>, JsError> {
        self.with_tree(|s| Ok(to_f32(node_cut(&s.tree, node)?.1.curve.iter().copied())))
    }

    /// The thresholds (on the Fiedler vector, increasing) that node `node`'s cut was chosen from.
    #[wasm_bindgen(js_name = cutThresholds)]
    pub fn cut_thresholds(&self, node: u32) -> Result<Vec<f32>, JsError> {
        self.with_tree(|s| Ok(to_f32(node_cut(&s.tree, node)?.1.thresholds.iter().map(|&t| Some(t)))))
    }
}

impl DiffCut {
    /// Runs `f` on the kept image and segmentation; the one place a crate error becomes a
    /// `JsError`.
    fn with_current<T>(&self, f: impl FnOnce(&Current) -> Result<T>) -> Result<T, JsError> {
        let inner = self.inner.borrow();
        let current = inner.current.as_ref().ok_or_else(|| Error::InvalidParameter {
            name: "image",
            expected: "segmented first (segmentImage)",
            got: "no image yet".into(),
        });
        current.and_then(f).map_err(js_error)
    }

    fn with_tree<T>(&self, f: impl FnOnce(&Segmentation) -> Result<T>) -> Result<T, JsError> {
        self.with_current(|c| f(&c.seg))
    }
}

/// Where the features come from.
enum Source {
    /// The weight-free colour/texture features on a `grid`×`grid` grid.
    Color { grid: usize },
    /// The loaded diffusion model at input size `size`.
    #[cfg(feature = "model")]
    Diffusion { size: u32 },
}

/// Decode → features → tree (GPU or CPU), keeping the result in `inner`.
async fn segment(
    inner: &RefCell<Inner>,
    bytes: &[u8],
    source: Source,
    alpha: f32,
    tau_max: f64,
) -> Result<SegmentInfo> {
    let t0 = performance_now();
    let image = decode_image(bytes)?;
    let t1 = performance_now();
    let features = match source {
        Source::Color { grid } => {
            SegmentParams {
                tau: tau_max,
                alpha,
                grid,
                tau_max: Some(tau_max),
                mode: Mode::Official,
            }
            .tree_options()?;
            color_features(&image, grid)?
        }
        #[cfg(feature = "model")]
        Source::Diffusion { size } => model::features(inner, &image, size).await?,
    };
    let grid = features.h;
    let params = SegmentParams {
        tau: tau_max,
        alpha,
        grid,
        tau_max: Some(tau_max),
        mode: Mode::Official,
    };
    params.tree_options()?;
    let t2 = performance_now();
    let (seg, backend, note) = grow(inner, features, &params).await?;
    let t3 = performance_now();
    let info = SegmentInfo {
        width: image.width(),
        height: image.height(),
        grid: grid as u32,
        nodes: seg.tree.nodes.len() as u32,
        finest_segments: seg.tree.leaves_at(tau_max)?.len() as u32,
        backend: backend.into(),
        note,
        decode_ms: t1 - t0,
        features_ms: t2 - t1,
        tree_ms: t3 - t2,
    };
    inner.borrow_mut().current = Some(Current { image, seg });
    Ok(info)
}

/// The tree on the GPU when there is one, else (or when the GPU fails) on the CPU; a GPU that
/// failed is dropped for good. The policy is the pipeline's ([`crate::pipeline::segment_features_prefer_gpu`]).
async fn grow(
    inner: &RefCell<Inner>,
    features: crate::ncut::FeatureGrid,
    params: &SegmentParams,
) -> Result<(Segmentation, &'static str, Option<String>)> {
    #[cfg(feature = "gpu")]
    {
        // Cloned out so that no borrow is held across the await.
        let gpu = inner.borrow().gpu.clone();
        let grown = crate::pipeline::segment_features_prefer_gpu(gpu.as_deref(), features, params).await?;
        if grown.gpu_failed {
            let mut i = inner.borrow_mut();
            i.gpu = None;
            i.adapter = None;
            i.gpu_note = grown.note.clone();
        }
        Ok((grown.seg, if grown.on_gpu { "webgpu" } else { "cpu" }, grown.note))
    }
    #[cfg(not(feature = "gpu"))]
    {
        let _ = inner;
        Ok((crate::pipeline::segment_features(features, params)?, "cpu", None))
    }
}

/// Per-pixel labels at τ and their number.
fn pixel_labels(s: &Segmentation, tau: f64, width: u32, height: u32) -> Result<(Vec<u32>, usize)> {
    if u64::from(width) * u64::from(height) > MAX_PIXELS {
        return Err(Error::ImageTooLarge {
            width: width.into(),
            height: height.into(),
            max_pixels: MAX_PIXELS,
            reason: "labels asked for",
        });
    }
    let (cells, segments) = s.tree.leaf_labels_at(tau)?;
    Ok((
        assign(&s.features, &cells, segments, height as usize, width as usize)?,
        segments,
    ))
}

/// Node `node` and its cut, or an error naming what is wrong.
fn node_cut(tree: &SegmentTree, node: u32) -> Result<(&crate::ncut::tree::TreeNode, &crate::ncut::tree::NodeCut)> {
    let n = tree.nodes.get(node as usize).ok_or_else(|| Error::InvalidParameter {
        name: "node",
        expected: "an index into the tree's nodes",
        got: format!("{node} (the tree has {} nodes)", tree.nodes.len()),
    })?;
    let cut = n.cut.as_ref().ok_or_else(|| {
        Error::Tree(format!(
            "node {node} has no cut (fewer than 2 cells, or every cut alike)"
        ))
    })?;
    Ok((n, cut))
}
