//! The browser API: a thin `wasm-bindgen` seam over [`crate::segmenter`] (wasm32 with the `web`
//! feature only). It converts types and calls the library; the segmentation itself lives in the
//! library. TypeScript typings come from `wasm-bindgen --target web`.
//!
//! ```text
//! const dc = await DiffCut.create();              // WebGPU if the browser has it, else the CPU
//! const info = await dc.segmentImage(bytes, 32, 10, 0.9, 1 << 20, 8192); // ≤ 1 MP, features, tree
//! dc.recut(0.5);                                  // cell labels at τ: a pruning of the tree
//! dc.pixelLabels(0.5, info.width, info.height);   // per-pixel labels (concept assignment)
//! dc.maskPng(0.5, info.width, info.height);       // the same as a label PNG
//! await dc.refinedLabels(0.5);                    // PAMR edges (where the Compute puts PAMR)
//! ```
//!
//! The diffusion module (feature `model`) adds the diffusion model (`diffusion.rs`: `modelBegin`,
//! `modelAddFile`, `modelFinish`, `segmentDiffusion`) and naming segments with CLIP (`naming.rs`:
//! `clipBegin`, `clipAddFile`, `clipFinish`, `nameSegments`).
//!
//! Segments are numbered one per leaf of the tree at τ, in the tree's pre-order
//! ([`Numbering::Leaves`]), so the page's segment count is the number of leaves its tree
//! view shows and every label is a distinct leaf. (The CLI's official mode assembles labels as the
//! official code does, in `f32`, where many splits can make distinct leaves collide.)
//!
//! Every exported function returns `Result<_, JsError>` or a promise that rejects (or cannot
//! fail): errors become a JS `Error` whose message is the library's, through
//! [`convert::js_error`] only. Nothing here
//! unwraps; the panic hook is there to make a library bug readable in the console.

mod convert;
#[cfg(feature = "model")]
mod diffusion;
mod helper;
#[cfg(feature = "model")]
mod naming;

use std::cell::RefCell;
use std::rc::Rc;

use js_sys::Promise;
use wasm_bindgen::prelude::*;

use crate::image_io::{decode_image, RgbImage};
use crate::segmenter::{
    Compute, DevicePolicy, FeatureSource, Mode, Numbering, PamrConfig, Refine, SegmentParams, Segmentation, Segmenter,
};
use crate::select::{cutout, encode_rgba_png, Mask};
use crate::{Error, Result};
use convert::{backend_name, js_error, rgb_to_rgba, to_f32, to_json, FeatureDefaults, TreeSummary};

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
    /// Size of the image segmented (EXIF orientation applied, fitted into `maxPixels` and
    /// `maxSide`), in pixels.
    pub width: u32,
    pub height: u32,
    /// Size of the image as decoded, before it was fitted (the same as
    /// `width`×`height` when it fitted already).
    #[wasm_bindgen(js_name = decodedWidth)]
    pub decoded_width: u32,
    #[wasm_bindgen(js_name = decodedHeight)]
    pub decoded_height: u32,
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

/// AutoSC of the current image (the paper's one-shot baseline), for the page's comparison view.
#[wasm_bindgen(getter_with_clone)]
pub struct AutoScInfo {
    /// Per-pixel labels `[height·width]` at the image's size, `0..segments`.
    pub labels: Vec<u32>,
    /// `k`, chosen by the eigengap.
    pub clusters: u32,
    /// Clusters that hold at least one cell.
    pub segments: u32,
    /// The α whose eigengap chose `k`.
    pub alpha: f32,
    /// `[{"alpha": α, "gaps": [g_0, g_1, …]}]`, the first eigengaps of each α (at least
    /// [`GAPS_SHOWN`], and past `k`).
    #[wasm_bindgen(js_name = spectraJson)]
    pub spectra_json: String,
    /// Wall time of the clustering and the assignment.
    pub ms: f64,
}

/// Eigengaps sent to the page per α: its plot shows the start of the spectrum, where `k` is.
const GAPS_SHOWN: usize = 40;

/// A segmenter: the devices and the last segmented image with its tree.
#[wasm_bindgen]
pub struct DiffCut {
    inner: Rc<RefCell<Inner>>,
}

struct Inner {
    compute: Compute,
    /// Shared so that an async export can hold it across an await without a borrow.
    current: Option<Rc<Current>>,
    /// The diffusion model: being loaded, or ready.
    #[cfg(feature = "model")]
    model: diffusion::ModelSlot,
    /// CLIP, for naming segments: being loaded, or ready.
    #[cfg(feature = "model")]
    clip: naming::ClipSlot,
}

/// Each feature kind's calibrated τ and α and the τ range worth offering, as JSON:
/// `{"color": {tau, alpha, tauMin, tauMax}, "diffusion": {...}}` (`FeatureKind::defaults`). The
/// page starts its sliders there and keeps them there until the person moves them.
#[wasm_bindgen(js_name = featureDefaults)]
pub fn feature_defaults() -> Result<String, JsError> {
    to_json(&FeatureDefaults::default()).map_err(js_error)
}

/// The last segmented image and its segmentation.
struct Current {
    image: RgbImage,
    seg: Segmentation,
    /// The last region `selectRegion` made, for `cutoutPng` and `selectionPng`.
    selection: RefCell<Option<Mask>>,
}

/// The page's parameters for a tree: grown to `tau_max` in the official mode, so that every τ up
/// to it is a pruning.
fn tree_params(alpha: f32, tau_max: f64) -> SegmentParams {
    SegmentParams {
        tau: tau_max,
        alpha,
        tau_max: Some(tau_max),
        mode: Mode::Official,
    }
}

#[wasm_bindgen]
impl DiffCut {
    /// Opens WebGPU when the browser offers it and `preferGpu` is not `false`; otherwise, or when
    /// that fails, the CPU path (Rust compiled to wasm) is used. Never rejects: see `backend` and
    /// `gpuNote` for what happened. With `helper` (another worker running `gramTiles` and
    /// `growSubtree`, see `CpuHelper`), the CPU path shares each tree's work with that worker:
    /// the same trees, sooner on two cores.
    pub async fn create(
        #[wasm_bindgen(js_name = preferGpu)] prefer_gpu: Option<bool>,
        helper: Option<helper::CpuHelper>,
    ) -> DiffCut {
        console_error_panic_hook::set_once();
        let compute = if prefer_gpu.unwrap_or(true) {
            // PreferGpu never fails; the fallback keeps the page usable in any case.
            Compute::open(DevicePolicy::PreferGpu)
                .await
                .unwrap_or_else(|_| Compute::cpu())
        } else {
            Compute::cpu()
        };
        let compute = match helper {
            Some(h) => compute.with_helper(Rc::new(h)),
            None => compute,
        };
        DiffCut {
            inner: Rc::new(RefCell::new(Inner {
                compute,
                current: None,
                #[cfg(feature = "model")]
                model: diffusion::ModelSlot::None,
                #[cfg(feature = "model")]
                clip: naming::ClipSlot::None,
            })),
        }
    }

    /// `"webgpu"` or `"cpu"`: where the next tree will be grown.
    #[wasm_bindgen(getter)]
    pub fn backend(&self) -> String {
        backend_name(self.inner.borrow().compute.backend()).into()
    }

    /// The WebGPU adapter in use, if any.
    #[wasm_bindgen(getter)]
    pub fn adapter(&self) -> Option<String> {
        self.inner.borrow().compute.adapter()
    }

    /// Why the GPU is not used, if it is not.
    #[wasm_bindgen(getter, js_name = gpuNote)]
    pub fn gpu_note(&self) -> Option<String> {
        self.inner.borrow().compute.note()
    }

    /// Decodes `bytes` (PNG, JPEG, GIF, BMP, TIFF, WebP; EXIF orientation applied; size limits
    /// checked from the header), downscales it to at most `maxPixels` pixels (width × height)
    /// and `maxSide` on a side (the aspect ratio kept as far as whole pixels allow), computes
    /// the weight-free colour features on a `grid`×`grid` grid and grows the segment tree with
    /// affinity exponent `alpha` up to `tauMax`, on the GPU when there is one (falling back to
    /// the CPU if the GPU fails). The tree is kept for `recut`, `pixelLabels`, `maskPng`, `tree`,
    /// `fiedler` and `ncutCurve`; a failure keeps the previous one.
    #[wasm_bindgen(js_name = segmentImage, unchecked_return_type = "Promise<SegmentInfo>")]
    pub fn segment_image(
        &self,
        bytes: &[u8],
        grid: usize,
        alpha: f32,
        #[wasm_bindgen(js_name = tauMax)] tau_max: f64,
        #[wasm_bindgen(js_name = maxPixels)] max_pixels: u32,
        #[wasm_bindgen(js_name = maxSide)] max_side: u32,
    ) -> Promise {
        let inner = self.inner.clone();
        let bytes = bytes.to_vec();
        let fit = Fit { max_pixels, max_side };
        promise(async move {
            let input = Input::Encoded(&bytes);
            segment(&inner, input, Ok(FeatureSource::Color { grid }), alpha, tau_max, fit).await
        })
    }

    /// As `segmentImage` for pixels the page already has, RGBA `[height·width·4]` (a camera
    /// frame): no decoding, no downscaling (the page sends frames at the size it wants).
    #[wasm_bindgen(js_name = segmentRgba, unchecked_return_type = "Promise<SegmentInfo>")]
    pub fn segment_rgba(
        &self,
        rgba: Vec<u8>,
        width: u32,
        height: u32,
        grid: usize,
        alpha: f32,
        #[wasm_bindgen(js_name = tauMax)] tau_max: f64,
    ) -> Promise {
        let inner = self.inner.clone();
        let fit = Fit {
            max_pixels: u32::MAX,
            max_side: u32::MAX,
        };
        promise(async move {
            let input = Input::Rgba { rgba, width, height };
            segment(&inner, input, Ok(FeatureSource::Color { grid }), alpha, tau_max, fit).await
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

    /// AutoSC of the current image's features: four dense eigendecompositions of the
    /// `grid²`-node graph (a second or two at 32², synchronous), then labels per pixel.
    pub fn autosc(&self) -> Result<AutoScInfo, JsError> {
        self.with_current(|c| {
            let t0 = performance_now();
            let (a, pixels) = c.seg.autosc(c.image.width() as usize, c.image.height() as usize)?;
            let shown = GAPS_SHOWN.max(a.clusters + 8);
            let spectra: Vec<serde_json::Value> = a
                .spectra
                .iter()
                .map(|s| serde_json::json!({ "alpha": s.alpha, "gaps": &s.gaps[..shown.min(s.gaps.len())] }))
                .collect();
            Ok(AutoScInfo {
                segments: pixels.segments() as u32,
                labels: pixels.into_labels(),
                clusters: a.clusters as u32,
                alpha: a.alpha,
                spectra_json: to_json(&spectra)?,
                ms: performance_now() - t0,
            })
        })
    }

    /// Cell labels `[grid·grid]` at τ ≤ `tauMax`, one per leaf of the tree at τ (instant: a
    /// pruning of the kept tree).
    pub fn recut(&self, tau: f64) -> Result<Vec<u32>, JsError> {
        self.with_tree(|s| Ok(s.cell_labels(tau, Numbering::Leaves)?.into_labels()))
    }

    /// Number of segments at τ.
    #[wasm_bindgen(js_name = segmentCount)]
    pub fn segment_count(&self, tau: f64) -> Result<u32, JsError> {
        self.with_tree(|s| Ok(s.segments(tau, Numbering::Leaves)? as u32))
    }

    /// Segments at τ of a tree grown on the current image's features with another α (the page's
    /// α sweep): the current tree is kept; only the count comes back.
    #[wasm_bindgen(js_name = segmentCountWithAlpha, unchecked_return_type = "Promise<number>")]
    pub fn segment_count_with_alpha(&self, alpha: f32, tau: f64) -> Promise {
        let (current, compute) = self.current_and_compute();
        promise(async move {
            let c = current.ok_or_else(no_image)?;
            let seg = compute.grow(c.seg.features.clone(), &tree_params(alpha, tau)).await?;
            Ok(JsValue::from(seg.segments(tau, Numbering::Leaves)? as u32))
        })
    }

    /// Per-pixel labels `[height·width]` at τ by concept assignment: each pixel joins the segment
    /// whose mean feature it matches best (bilinear on the grid's scores).
    #[wasm_bindgen(js_name = pixelLabels)]
    pub fn pixel_labels(&self, tau: f64, width: u32, height: u32) -> Result<Vec<u32>, JsError> {
        self.with_tree(|s| {
            Ok(s.pixel_labels(tau, Numbering::Leaves, width as usize, height as usize)?
                .into_labels())
        })
    }

    /// Per-pixel labels at τ at the image's size, refined by PAMR (DiffCut's evaluation preset):
    /// the segments' edges follow the photo. Slower than `pixelLabels` (a few hundred ms).
    #[wasm_bindgen(js_name = refinedLabels, unchecked_return_type = "Promise<Uint32Array>")]
    pub fn refined_labels(&self, tau: f64) -> Promise {
        let (current, compute) = self.current_and_compute();
        promise(async move {
            let c = current.ok_or_else(no_image)?;
            let labels = compute
                .refined_labels(&c.seg, &c.image, tau, Numbering::Leaves, &PamrConfig::eval())
                .await?;
            Ok(js_sys::Uint32Array::from(labels.labels()))
        })
    }

    /// The tree node of the segment at τ under pixel `(x, y)` (labels refined as `refinedLabels`).
    #[wasm_bindgen(js_name = segmentAt, unchecked_return_type = "Promise<number>")]
    pub fn segment_at(&self, x: u32, y: u32, tau: f64) -> Promise {
        let (current, compute) = self.current_and_compute();
        promise(async move {
            let c = current.ok_or_else(no_image)?;
            let node = compute
                .segment_at(&c.seg, &c.image, (x as usize, y as usize), tau, SELECT_REFINE)
                .await?;
            Ok(JsValue::from(node))
        })
    }

    /// The child of `node` whose region holds pixel `(x, y)`, or `null` (a leaf of the tree, or
    /// neither child's region holds it); see the library's `select` module.
    #[wasm_bindgen(js_name = finerAt, unchecked_return_type = "Promise<number | null>")]
    pub fn finer_at(&self, node: u32, x: u32, y: u32, tau: f64) -> Promise {
        let (current, compute) = self.current_and_compute();
        promise(async move {
            let c = current.ok_or_else(no_image)?;
            let child = compute
                .finer(&c.seg, &c.image, node, (x as usize, y as usize), tau, SELECT_REFINE)
                .await?;
            Ok(child.map_or(JsValue::NULL, JsValue::from))
        })
    }

    /// The union of the regions of `nodes` at τ, one byte per pixel (1 selected, 0 not), kept for
    /// `cutoutPng` and `selectionPng`.
    #[wasm_bindgen(js_name = selectRegion, unchecked_return_type = "Promise<Uint8Array>")]
    pub fn select_region(&self, nodes: Vec<u32>, tau: f64) -> Promise {
        let (current, compute) = self.current_and_compute();
        promise(async move {
            let c = current.ok_or_else(no_image)?;
            let mask = compute
                .region_mask(&c.seg, &c.image, &nodes, tau, SELECT_REFINE)
                .await?;
            let bytes: Vec<u8> = mask.flags().iter().map(|&b| u8::from(b)).collect();
            *c.selection.borrow_mut() = Some(mask);
            Ok(js_sys::Uint8Array::from(&bytes[..]))
        })
    }

    /// The photo's pixels where the last `selectRegion` selected, transparent elsewhere, as an
    /// RGBA PNG: the image's size, or with `crop` the selection's bounding box.
    #[wasm_bindgen(js_name = cutoutPng)]
    pub fn cutout_png(&self, crop: bool) -> Result<Vec<u8>, JsError> {
        self.with_current(|c| encode_rgba_png(&cutout(&c.image, &selection(c)?, crop)?))
    }

    /// The last `selectRegion` as a greyscale PNG at the image's size (255 selected, 0 not).
    #[wasm_bindgen(js_name = selectionPng)]
    pub fn selection_png(&self) -> Result<Vec<u8>, JsError> {
        self.with_current(|c| selection(c)?.to_png())
    }

    /// The per-pixel labels at τ as a greyscale PNG (pixel value = segment; 16-bit beyond 256).
    #[wasm_bindgen(js_name = maskPng)]
    pub fn mask_png(&self, tau: f64, width: u32, height: u32) -> Result<Vec<u8>, JsError> {
        self.with_tree(|s| {
            s.pixel_labels(tau, Numbering::Leaves, width as usize, height as usize)?
                .to_png()
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

    /// Panics on purpose: the page's test of what happens after a trap (a Rust panic is a wasm
    /// `unreachable`, which leaves the instance unusable). With `inFuture`, the panic happens
    /// inside the returned promise's future, after an await, as a bug deep in an async export
    /// would: that promise then never settles and the trap surfaces as the worker's uncaught
    /// error. Without, it happens in the call itself. Compiled in always (a test-only build of
    /// this module would double its fat-LTO link); the worker calls it only when the page was
    /// opened with `?trap=`.
    #[wasm_bindgen(js_name = debugTrap, unchecked_return_type = "Promise<void>")]
    pub fn debug_trap(&self, #[wasm_bindgen(js_name = inFuture)] in_future: bool) -> Promise {
        if !in_future {
            panic!("debugTrap: a deliberate panic in a synchronous call");
        }
        wasm_bindgen_futures::future_to_promise(async move {
            // One turn of the microtask queue first, so the panic is not in the first poll.
            wasm_bindgen_futures::JsFuture::from(Promise::resolve(&JsValue::UNDEFINED)).await?;
            panic!("debugTrap: a deliberate panic inside an async export");
        })
    }

    /// Node `node`'s Fiedler vector over the whole grid (`[grid·grid]`, NaN outside the region).
    pub fn fiedler(&self, node: u32) -> Result<Vec<f32>, JsError> {
        self.with_tree(|s| s.fiedler_on_grid(node))
    }

    /// Node `node`'s NCut at each of the thresholds of `cutThresholds` (NaN where a side is empty).
    #[wasm_bindgen(js_name = ncutCurve)]
    pub fn ncut_curve(&self, node: u32) -> Result<Vec<f32>, JsError> {
        self.with_tree(|s| Ok(to_f32(s.node(node)?.1.curve.iter().copied())))
    }

    /// The thresholds (on the Fiedler vector, increasing) that node `node`'s cut was chosen from.
    #[wasm_bindgen(js_name = cutThresholds)]
    pub fn cut_thresholds(&self, node: u32) -> Result<Vec<f32>, JsError> {
        self.with_tree(|s| Ok(to_f32(s.node(node)?.1.thresholds.iter().map(|&t| Some(t)))))
    }
}

impl DiffCut {
    /// The kept image and segmentation and the compute, cloned out for an async export.
    fn current_and_compute(&self) -> (Option<Rc<Current>>, Compute) {
        let inner = self.inner.borrow();
        (inner.current.clone(), inner.compute.clone())
    }

    /// Runs `f` on the kept image and segmentation; the one place a crate error becomes a
    /// `JsError` for the synchronous exports.
    fn with_current<T>(&self, f: impl FnOnce(&Current) -> Result<T>) -> Result<T, JsError> {
        let inner = self.inner.borrow();
        inner
            .current
            .as_deref()
            .ok_or_else(no_image)
            .and_then(f)
            .map_err(js_error)
    }

    fn with_tree<T>(&self, f: impl FnOnce(&Segmentation) -> Result<T>) -> Result<T, JsError> {
        self.with_current(|c| f(&c.seg))
    }
}

/// Selections are cut out on PAMR's demo preset (30 iterations, dilations up to 64), as the CLI's
/// `cutout`: their edges are the product, so they get the closer fit (on the ball scene of
/// tests/fixtures/scenes, IoU with the drawn ball 0.955 against 0.906 with the evaluation preset
/// the page's segment view uses).
const SELECT_REFINE: Refine = Refine::Demo;

fn selection(c: &Current) -> Result<Mask> {
    c.selection.borrow().clone().ok_or_else(|| Error::InvalidParameter {
        name: "selection",
        expected: "a region selected first (selectRegion)",
        got: "nothing selected".into(),
    })
}

fn no_image() -> Error {
    Error::InvalidParameter {
        name: "image",
        expected: "segmented first (segmentImage)",
        got: "no image yet".into(),
    }
}

/// A future as a JS promise: resolved with its value, or rejected with the crate error's message
/// (the one conversion for the asynchronous exports).
fn promise<T: Into<JsValue>>(f: impl std::future::Future<Output = Result<T>> + 'static) -> Promise {
    wasm_bindgen_futures::future_to_promise(async move {
        match f.await {
            Ok(v) => Ok(v.into()),
            Err(e) => Err(js_error(e).into()),
        }
    })
}

/// The most pixels, and the longest side, an image is segmented at (larger ones are downscaled).
#[derive(Clone, Copy)]
struct Fit {
    max_pixels: u32,
    max_side: u32,
}

/// Decode → features → tree on the page's devices, keeping the result in `inner`. `source` is
/// an error when the features cannot be had (no model loaded), reported after the decode.
/// What `segment` starts from: an encoded file, or pixels.
enum Input<'a> {
    Encoded(&'a [u8]),
    Rgba { rgba: Vec<u8>, width: u32, height: u32 },
}

impl Input<'_> {
    /// The image (alpha dropped: frames are opaque).
    fn image(self) -> Result<RgbImage> {
        match self {
            Input::Encoded(bytes) => decode_image(bytes),
            Input::Rgba { rgba, width, height } => {
                crate::image_io::check_pixels(width as usize, height as usize, "frame")?;
                let want = 4 * u64::from(width) * u64::from(height);
                if rgba.len() as u64 != want {
                    return Err(Error::InvalidParameter {
                        name: "rgba",
                        expected: "4 bytes per pixel (width × height × 4)",
                        got: format!("{} bytes for {width}×{height}", rgba.len()),
                    });
                }
                let rgb = rgba.chunks_exact(4).flat_map(|p| [p[0], p[1], p[2]]).collect();
                Ok(RgbImage::from_raw(width, height, rgb).expect("the length was checked"))
            }
        }
    }
}

async fn segment(
    inner: &RefCell<Inner>,
    input: Input<'_>,
    source: Result<FeatureSource>,
    alpha: f32,
    tau_max: f64,
    fit: Fit,
) -> Result<SegmentInfo> {
    let t0 = performance_now();
    let decoded = input.image()?;
    let (decoded_width, decoded_height) = decoded.dimensions();
    let (w, h) = crate::image_io::fit_pixels(decoded_width, decoded_height, fit.max_pixels, fit.max_side);
    let image = if (w, h) == (decoded_width, decoded_height) {
        decoded
    } else {
        // Triangle: a filter as wide as the scale, so a large reduction averages, not aliases.
        image::imageops::resize(&decoded, w, h, image::imageops::FilterType::Triangle)
    };
    let t1 = performance_now();
    let params = tree_params(alpha, tau_max);
    params.tree_options()?;
    // Cloned out so that no borrow is held across the awaits.
    let segmenter = Segmenter::new(source?, inner.borrow().compute.clone());
    let features = segmenter.features(&image).await?;
    let t2 = performance_now();
    let seg = segmenter.grow(features, &params).await?;
    let t3 = performance_now();
    let info = SegmentInfo {
        width: image.width(),
        height: image.height(),
        decoded_width,
        decoded_height,
        grid: seg.tree.grid[0] as u32,
        nodes: seg.tree.nodes.len() as u32,
        finest_segments: seg.segments(tau_max, Numbering::Leaves)? as u32,
        backend: backend_name(seg.backend).into(),
        note: seg.note.clone(),
        decode_ms: t1 - t0,
        features_ms: t2 - t1,
        tree_ms: t3 - t2,
    };
    inner.borrow_mut().current = Some(Rc::new(Current {
        image,
        seg,
        selection: RefCell::new(None),
    }));
    Ok(info)
}
