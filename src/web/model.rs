//! The diffusion model in the browser (feature `model`): loading a converted folder file by file
//! (the page fetches, caches and reports progress; each file is checked here against the
//! manifest's sha256 before it is used) and segmenting with its features.
//!
//! ```text
//! const files = await dc.modelBegin(manifestBytes);   // opens burn's WebGPU device; files to fetch
//! for (const f of files) dc.modelAddFile(f, bytes);   // checked, uploaded, released one at a time
//! const info = dc.modelFinish();                      // builds the networks
//! await dc.segmentDiffusion(imageBytes, info.size, 10, 0.9);
//! ```

use std::cell::RefCell;
use std::rc::Rc;

use js_sys::Promise;
use wasm_bindgen::prelude::*;

use super::convert::js_error;
use super::{DiffCut, Inner, Source};
use crate::image_io::RgbImage;
use crate::model::{browser_device, DiffusionModel, ModelLoader};
use crate::ncut::FeatureGrid;
use crate::{Error, Result};

/// The model's state in a [`DiffCut`].
#[derive(Default)]
pub(super) enum ModelSlot {
    #[default]
    None,
    Loading(Box<ModelLoader>),
    Ready(Rc<DiffusionModel>),
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
        wasm_bindgen_futures::future_to_promise(async move {
            inner.borrow_mut().model = ModelSlot::None;
            let begun = async {
                let device = browser_device().await?;
                ModelLoader::new(&manifest, &device, false)
            };
            match begun.await {
                Ok(loader) => {
                    let names: Vec<JsValue> = loader.pending().into_iter().map(JsValue::from).collect();
                    inner.borrow_mut().model = ModelSlot::Loading(Box::new(loader));
                    Ok(js_sys::Array::from_iter(names).into())
                }
                Err(e) => Err(js_error(e).into()),
            }
        })
    }

    /// Checks one file of the model (bytes and sha256 against the manifest) and takes it; weight
    /// shards go to the GPU at once, so the page can drop its copy.
    #[wasm_bindgen(js_name = modelAddFile)]
    pub fn model_add_file(&self, name: &str, bytes: &[u8]) -> Result<(), JsError> {
        let mut inner = self.inner.borrow_mut();
        match &mut inner.model {
            ModelSlot::Loading(loader) => loader.add_file(name, bytes).map_err(js_error),
            _ => Err(js_error(not_loading())),
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
            dtype: model.manifest.dtype.clone(),
            weight_bytes: model.manifest.weight_bytes() as f64,
        };
        inner.model = ModelSlot::Ready(Rc::new(model));
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
    ) -> Promise {
        self.segment_promise(bytes, Source::Diffusion { size }, alpha, tau_max)
    }
}

fn not_loading() -> Error {
    Error::Model("no model is being loaded (call modelBegin first)".into())
}

/// The loaded model's features of `image` as a grid for the NCut.
pub(super) async fn features(inner: &RefCell<Inner>, image: &RgbImage, size: u32) -> Result<FeatureGrid> {
    // Cloned out so that no borrow is held across the await.
    let model = match &inner.borrow().model {
        ModelSlot::Ready(m) => m.clone(),
        _ => return Err(Error::Model("no diffusion model is loaded".into())),
    };
    let noise = model.default_noise(size);
    let f = model.features(image, size, &noise).await?;
    FeatureGrid::new(f.h, f.w, f.c, f.values)
}
