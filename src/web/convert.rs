//! Conversions between the library's types and what crosses the JS boundary: typed-array
//! payloads, the tree summary the teaching view draws, and the one `Error` → `JsError` mapping.
//! No segmentation logic lives here.

use serde::Serialize;
use wasm_bindgen::JsError;

use crate::segmenter::{Backend, FeatureKind, SegmentTree, SourceDefaults};
use crate::Error;

/// The one conversion of the crate's error at the boundary: its `Display` text becomes the
/// `message` of a JS `Error`, which the page shows as it is.
pub fn js_error(e: Error) -> JsError {
    JsError::new(&e.to_string())
}

/// Like [`js_error`], with the JS error's `name` saying what kind of problem it is where the page
/// acts on it: `ModelFileError` for a model file whose bytes are not what its manifest says
/// (size, sha256, format), the one error that makes the page drop its cached copy of the file.
/// Anything else the export throws (a trap above all) says nothing about the file.
#[cfg(feature = "model")]
pub fn js_error_named(e: Error) -> wasm_bindgen::JsValue {
    let name = match &e {
        Error::ModelFile { .. } => Some("ModelFileError"),
        _ => None,
    };
    match name {
        Some(name) => js_error_as(e, name),
        None => js_error(e).into(),
    }
}

/// [`js_error`] with the JS error's `name` set to `name`: for the few errors the page acts on
/// (see [`js_error_named`], and `ClipTextNeeded` in `naming.rs`).
#[cfg(feature = "model")]
pub fn js_error_as(e: Error, name: &str) -> wasm_bindgen::JsValue {
    let value: wasm_bindgen::JsValue = js_error(e).into();
    // Setting a property of a fresh Error object cannot fail.
    let _ = js_sys::Reflect::set(&value, &"name".into(), &name.into());
    value
}

/// A light view of a [`SegmentTree`] for the page: structure and NCut values, no vectors.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TreeSummary {
    /// `[h, w]` of the feature grid.
    pub grid: [usize; 2],
    pub alpha: f32,
    pub tau_max: f64,
    /// Cells only the root saw (the official zero-as-marker quirk).
    pub dropped: usize,
    /// Pre-order, `nodes[0]` the root; same indices as the library's tree.
    pub nodes: Vec<NodeSummary>,
}

/// One node of [`TreeSummary`].
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeSummary {
    pub depth: u32,
    pub parent: Option<u32>,
    /// `[y > θ side, the rest]`, present iff the node splits at `tau_max`.
    pub children: Option<[u32; 2]>,
    /// Best NCut over the thresholds; `None` for regions that cannot be cut.
    pub ncut: Option<f64>,
    /// The chosen threshold θ on the Fiedler vector.
    pub threshold: Option<f64>,
    /// λ₂ of the normalised Laplacian (the relaxed NCut).
    pub lambda: Option<f64>,
    /// Number of grid cells in the region.
    pub cells: usize,
}

impl TreeSummary {
    pub fn of(tree: &SegmentTree) -> Self {
        let nodes = tree
            .nodes
            .iter()
            .map(|n| NodeSummary {
                depth: n.depth,
                parent: n.parent,
                children: n.children,
                ncut: n.cut.as_ref().map(|c| c.ncut),
                threshold: n.cut.as_ref().map(|c| c.threshold),
                lambda: n.cut.as_ref().map(|c| c.lambda),
                cells: n.cells.len(),
            })
            .collect();
        TreeSummary {
            grid: tree.grid,
            alpha: tree.alpha,
            tau_max: tree.tau_max,
            dropped: tree.dropped.len(),
            nodes,
        }
    }
}

/// The page's name of where a tree was grown.
pub fn backend_name(b: Backend) -> &'static str {
    match b {
        Backend::Gpu => "webgpu",
        Backend::Cpu => "cpu",
    }
}

/// `f64` values as `f32`, `None` as NaN (a typed array has no "missing").
pub fn to_f32(values: impl IntoIterator<Item = Option<f64>>) -> Vec<f32> {
    values.into_iter().map(|v| v.map_or(f32::NAN, |x| x as f32)).collect()
}

/// RGB pixels as RGBA (opaque), what a canvas `ImageData` holds.
pub fn rgb_to_rgba(image: &crate::image_io::RgbImage) -> Vec<u8> {
    image.pixels().flat_map(|p| [p[0], p[1], p[2], 255]).collect()
}

/// Each feature kind's calibrated τ, α and τ range, keyed as the page names the kinds.
#[derive(Serialize)]
pub struct FeatureDefaults {
    pub color: SourceDefaults,
    pub diffusion: SourceDefaults,
}

impl Default for FeatureDefaults {
    fn default() -> Self {
        Self {
            color: FeatureKind::Color.defaults(),
            diffusion: FeatureKind::Diffusion.defaults(),
        }
    }
}

/// Serialises for the page; a failure (impossible for these types) becomes a crate error.
pub fn to_json<T: Serialize>(value: &T) -> crate::Result<String> {
    serde_json::to_string(value).map_err(|e| Error::Tree(format!("cannot serialise: {e}")))
}
