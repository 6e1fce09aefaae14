//! The diffusion model in the browser (feature `model`): loading a converted folder file by file
//! (the page fetches, caches and reports progress; each file is checked here against the
//! manifest's sha256 before it is used) and segmenting with its features.
//!
//! ```text
//! const files = await dc.modelBegin(manifestBytes);   // opens burn's WebGPU device; files to fetch
//! for (const f of files) dc.modelAddFile(f, bytes);   // checked, uploaded, released one at a time
//! const info = dc.modelFinish();                      // builds the networks
//! await dc.segmentDiffusion(imageBytes, info.size, 10, 0.9, 1 << 20, 8192);
//! const f = await dc.diffusionFeatures(imageBytes, info.size); // f.h × f.w × f.c, f.data
//! ```

use std::sync::Arc;

use js_sys::Promise;
use wasm_bindgen::prelude::*;

use super::convert::{js_error, js_error_named};
use super::{promise, segment, DiffCut, Fit};
use crate::segmenter::{DiffusionModel, FeatureSource, ModelLoader, Segmenter};
use crate::Error;

/// The model's state in a [`DiffCut`].
#[derive(Default)]
pub(super) enum ModelSlot {
    #[default]
    None,
    Loading(Box<ModelLoader>),
    Ready(Arc<DiffusionModel>),
}

/// What a loaded model offers.
#[wasm_bindgen(getter_with_clone)]
pub struct ModelInfo {
    /// Input sizes S with folded constants (the image is squashed to S×S).
    pub sizes: Vec<u32>,
    /// The stored size nearest to 1024 (DiffCut's setting).
    pub size: u32,
    /// Sizes with the official seed-42 noise (others use no noise).
    #[wasm_bindgen(js_name = seed42Sizes)]
    pub seed42_sizes: Vec<u32>,
    /// Feature channels.
    pub channels: u32,
    /// `f32`, `f16`, `q8` or `q4`.
    pub dtype: String,
    /// Bytes of the weight shards.
    #[wasm_bindgen(js_name = weightBytes)]
    pub weight_bytes: f64,
}

#[wasm_bindgen]
impl DiffCut {
    /// Starts loading a model from its `manifest.json` bytes: parses it and opens burn's WebGPU
    /// device (once per worker). Resolves to the names of the files to pass to `modelAddFile`
    /// (config first). Any model loaded before is dropped.
    #[wasm_bindgen(js_name = modelBegin, unchecked_return_type = "Promise<string[]>")]
    pub fn model_begin(&self, manifest: &[u8]) -> Promise {
        let inner = self.inner.clone();
        let manifest = manifest.to_vec();
        promise(async move {
            inner.borrow_mut().model = ModelSlot::None;
            let loader = ModelLoader::for_browser(&manifest).await?;
            let names: Vec<JsValue> = loader.pending().into_iter().map(JsValue::from).collect();
            inner.borrow_mut().model = ModelSlot::Loading(Box::new(loader));
            Ok(js_sys::Array::from_iter(names))
        })
    }

    /// Checks one file of the model (bytes and sha256 against the manifest) and takes it; weight
    /// shards go to the GPU at once, so the page can drop its copy. A file whose bytes are wrong
    /// throws an error named `ModelFileError` (see [`js_error_named`]).
    #[wasm_bindgen(js_name = modelAddFile)]
    pub fn model_add_file(&self, name: &str, bytes: &[u8]) -> Result<(), JsValue> {
        let mut inner = self.inner.borrow_mut();
        match &mut inner.model {
            ModelSlot::Loading(loader) => loader.add_file(name, bytes).map_err(js_error_named),
            _ => Err(js_error_named(not_loading())),
        }
    }

    /// Builds the networks once every file is in; the model is then used by `segmentDiffusion`.
    #[wasm_bindgen(js_name = modelFinish)]
    pub fn model_finish(&self) -> Result<ModelInfo, JsError> {
        let mut inner = self.inner.borrow_mut();
        let ModelSlot::Loading(loader) = std::mem::take(&mut inner.model) else {
            return Err(js_error(not_loading()));
        };
        let model = loader.finish().map_err(js_error)?;
        let info = ModelInfo {
            sizes: model.config.sizes.clone(),
            size: model.nearest_size(1024),
            seed42_sizes: model.seed42_sizes(),
            channels: model.config.feature_channels() as u32,
            dtype: model.manifest.dtype.as_str().into(),
            weight_bytes: model.manifest.weight_bytes() as f64,
        };
        // One model per worker, shared with the futures that segment with it.
        #[allow(clippy::arc_with_non_send_sync)]
        let model = Arc::new(model);
        inner.model = ModelSlot::Ready(model);
        Ok(info)
    }

    /// Drops the model (loaded or half-loaded) and its GPU memory.
    #[wasm_bindgen(js_name = modelUnload)]
    pub fn model_unload(&self) {
        self.inner.borrow_mut().model = ModelSlot::None;
    }

    /// Like `segmentImage`, with the loaded model's diffusion features at input size `size` (one
    /// of `ModelInfo.sizes`) instead of the colour features.
    #[wasm_bindgen(js_name = segmentDiffusion, unchecked_return_type = "Promise<SegmentInfo>")]
    pub fn segment_diffusion(
        &self,
        bytes: &[u8],
        size: u32,
        alpha: f32,
        #[wasm_bindgen(js_name = tauMax)] tau_max: f64,
        #[wasm_bindgen(js_name = maxPixels)] max_pixels: u32,
        #[wasm_bindgen(js_name = maxSide)] max_side: u32,
    ) -> Promise {
        let inner = self.inner.clone();
        let bytes = bytes.to_vec();
        let source = match &self.inner.borrow().model {
            ModelSlot::Ready(m) => Ok(FeatureSource::diffusion(m.clone(), size)),
            _ => Err(Error::Model("no diffusion model is loaded".into())),
        };
        let fit = Fit { max_pixels, max_side };
        promise(async move { segment(&inner, super::Input::Encoded(&bytes), source, alpha, tau_max, fit).await })
    }

    /// The loaded model's patch features of an image (bytes as for `segmentImage`, squashed to
    /// `size` × `size`, with the noise `segmentDiffusion` adds at that size): what DiffCut
    /// segments, for use elsewhere (saved, compared, clustered).
    #[wasm_bindgen(js_name = diffusionFeatures, unchecked_return_type = "Promise<Features>")]
    pub fn diffusion_features(&self, bytes: &[u8], size: u32) -> Promise {
        let compute = self.inner.borrow().compute.clone();
        let bytes = bytes.to_vec();
        let source = match &self.inner.borrow().model {
            ModelSlot::Ready(m) => Ok(FeatureSource::diffusion(m.clone(), size)),
            _ => Err(Error::Model("no diffusion model is loaded".into())),
        };
        promise(async move {
            let image = super::Input::Encoded(&bytes).image()?;
            let f = Segmenter::new(source?, compute).features(&image).await?;
            Ok(Features {
                h: f.h as u32,
                w: f.w as u32,
                c: f.c as u32,
                data: f.data,
            })
        })
    }
}

/// Every WGSL kernel this module launches on burn's device, each variant once, as JSON
/// `[{name, entry, source}]`: for the end-to-end test that compiles each in the browser (a variant
/// the test model never reaches would otherwise meet the browser's compiler first on a user's
/// machine).
#[cfg(feature = "gpu")]
#[wasm_bindgen(js_name = debugKernelSources)]
pub fn debug_kernel_sources() -> Result<String, JsError> {
    super::convert::to_json(&crate::gpu::cube::kernel_sources()).map_err(js_error)
}

/// How many times each of those kernels was launched so far in this module, as JSON
/// `{name: count}`: which of them ran, and which calls went to burn's ops (a kernel that declines
/// launches nothing).
#[cfg(feature = "gpu")]
#[wasm_bindgen(js_name = debugKernelLaunches)]
pub fn debug_kernel_launches() -> Result<String, JsError> {
    super::convert::to_json(&crate::gpu::cube::launch_counts()).map_err(js_error)
}

/// Patch features on a grid: `h × w` patches of `c` values, `data[(y·w + x)·c + k]`.
#[wasm_bindgen(getter_with_clone)]
pub struct Features {
    pub h: u32,
    pub w: u32,
    pub c: u32,
    pub data: Vec<f32>,
}

fn not_loading() -> Error {
    Error::Model("no model is being loaded (call modelBegin first)".into())
}
