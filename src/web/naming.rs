//! Naming segments with CLIP in the browser (feature `model`): loading a converted CLIP folder
//! file by file, as the diffusion model is loaded (the page fetches, caches and reports progress;
//! each file is checked here against the manifest's sha256), then naming the segments of a label
//! map through [`crate::naming`].
//!
//! ```text
//! const files = await dc.clipBegin(manifestBytes, false);  // the image part only (label sets)
//! for (const f of files) dc.clipAddFile(f, bytes);         // checked, uploaded one at a time
//! const info = dc.clipFinish();                             // labelSets, textLoaded, ...
//! const json = await dc.nameSegments(labels, w, h, "voc", 512, rgba);
//! ```
//!
//! Naming with the person's own words needs the text part: without it, `nameSegments` throws an
//! error named `ClipTextNeeded` (before any work), and the page loads the folder again with
//! `withText` (the image part's files then come from its cache).

use std::cell::RefCell;
use std::rc::Rc;

use js_sys::Promise;
use wasm_bindgen::prelude::*;

use super::convert::{js_error, js_error_as, js_error_named, to_json};
use super::{no_image, promise, DiffCut, Input};
use crate::image_io::RgbImage;
use crate::model::clip::ClipLoader;
use crate::model::{Manifest, Part};
use crate::naming::{parse_labels, Classifier, Labels, Namer, Parts};
use crate::Error;

/// The JS error name of "this label list needs the CLIP text part, which is not loaded".
pub const TEXT_NEEDED: &str = "ClipTextNeeded";

/// CLIP's state in a [`DiffCut`].
#[derive(Default)]
pub(super) enum ClipSlot {
    #[default]
    None,
    /// Files are being added; `text`: the text part was asked for.
    Loading {
        loader: Box<ClipLoader>,
        text: bool,
    },
    Ready(Rc<ReadyClip>),
}

/// A loaded CLIP, shared with the futures that name with it.
pub(super) struct ReadyClip {
    namer: Namer,
    /// The text part is loaded: any words can be used.
    text: bool,
    /// The classifier of the last label list (its spec): the precomputed sets are a copy, the
    /// person's words cost the text tower 14 encodings a synonym, so re-naming as τ moves
    /// reuses it.
    classifier: RefCell<Option<(String, Classifier)>>,
}

/// What a loaded CLIP offers.
#[wasm_bindgen(getter_with_clone)]
pub struct ClipInfo {
    /// The label sets whose classifiers the folder has precomputed (need the image part only),
    /// in the library's order: `voc`, `context`, `coco-object`, `ade`, `cityscapes`.
    #[wasm_bindgen(js_name = labelSets)]
    pub label_sets: Vec<String>,
    /// Whether the text part is loaded (the person's own words can be used).
    #[wasm_bindgen(js_name = textLoaded)]
    pub text_loaded: bool,
    /// `f32`, `f16`, `q8` or `q4`.
    pub dtype: String,
    /// The joint embedding's width.
    #[wasm_bindgen(js_name = embedDim)]
    pub embed_dim: u32,
    /// Bytes of the image part's files (config, image tower, label sets), from the manifest.
    #[wasm_bindgen(js_name = imageBytes)]
    pub image_bytes: f64,
    /// Bytes of the text part's files (text tower, vocabulary), from the manifest.
    #[wasm_bindgen(js_name = textBytes)]
    pub text_bytes: f64,
}

/// Bytes of the manifest's files of `part`.
fn part_bytes(manifest: &Manifest, part: Part) -> f64 {
    manifest
        .files
        .iter()
        .filter(|f| f.part == Some(part))
        .map(|f| f.bytes as f64)
        .sum()
}

#[wasm_bindgen]
impl DiffCut {
    /// Starts loading a CLIP folder from its `manifest.json` bytes: parses it and opens burn's
    /// WebGPU device (once per worker). Resolves to the names of the files to pass to
    /// `clipAddFile` (config first): the image part's (the tower and the precomputed label
    /// sets), and with `withText` the text part's too. Any CLIP loaded before is dropped.
    #[wasm_bindgen(js_name = clipBegin, unchecked_return_type = "Promise<string[]>")]
    pub fn clip_begin(&self, manifest: &[u8], #[wasm_bindgen(js_name = withText)] with_text: bool) -> Promise {
        let inner = self.inner.clone();
        let manifest = manifest.to_vec();
        promise(async move {
            inner.borrow_mut().clip = ClipSlot::None;
            let device = crate::model::browser_device().await?;
            let parts = if with_text { Parts::All } else { Parts::Image };
            let loader = ClipLoader::new(&manifest, &device, false, parts)?;
            let names: Vec<JsValue> = loader.pending().into_iter().map(JsValue::from).collect();
            inner.borrow_mut().clip = ClipSlot::Loading {
                loader: Box::new(loader),
                text: with_text,
            };
            Ok(js_sys::Array::from_iter(names))
        })
    }

    /// Checks one file of the CLIP folder (bytes and sha256 against the manifest) and takes it;
    /// weights go to the GPU at once. A file whose bytes are wrong throws an error named
    /// `ModelFileError`, as `modelAddFile`.
    #[wasm_bindgen(js_name = clipAddFile)]
    pub fn clip_add_file(&self, name: &str, bytes: &[u8]) -> Result<(), JsValue> {
        let mut inner = self.inner.borrow_mut();
        match &mut inner.clip {
            ClipSlot::Loading { loader, .. } => loader.add_file(name, bytes).map_err(js_error_named),
            _ => Err(js_error_named(not_loading())),
        }
    }

    /// Builds the towers once every file is in; `nameSegments` then names with this CLIP.
    #[wasm_bindgen(js_name = clipFinish)]
    pub fn clip_finish(&self) -> Result<ClipInfo, JsError> {
        let mut inner = self.inner.borrow_mut();
        let ClipSlot::Loading { loader, text } = std::mem::take(&mut inner.clip) else {
            return Err(js_error(not_loading()));
        };
        let namer = Namer::from_loader(*loader).map_err(js_error)?;
        let model = namer.model();
        let info = ClipInfo {
            label_sets: model.label_sets().map(|s| s.name().to_string()).collect(),
            text_loaded: text,
            dtype: model.manifest.dtype.as_str().into(),
            embed_dim: model.config.embed_dim as u32,
            image_bytes: part_bytes(&model.manifest, Part::Image),
            text_bytes: part_bytes(&model.manifest, Part::Text),
        };
        inner.clip = ClipSlot::Ready(Rc::new(ReadyClip {
            namer,
            text,
            classifier: RefCell::new(None),
        }));
        Ok(info)
    }

    /// Drops CLIP (loaded or half-loaded) and its GPU memory.
    #[wasm_bindgen(js_name = clipUnload)]
    pub fn clip_unload(&self) {
        self.inner.borrow_mut().clip = ClipSlot::None;
    }

    /// Names every segment of `labels` (`[height·width]`, one segment id per pixel, as the page
    /// draws them) with the loaded CLIP at input size `size` (a multiple of 32), against
    /// `labelSpec`: a label set's name (`voc`, `context`, `coco-object`, `ade`, `cityscapes`) or
    /// the person's own words, classes by `;` and synonyms by `,` (`cat; dog, puppy; grass`).
    /// The image is `rgba` (`[height·width·4]`, the picture the labels were drawn on, e.g. from
    /// another segmenter), or without it the image this instance last segmented. Resolves to the
    /// naming's JSON: `{"segments": [{"id", "class", "name", "scores"}]}`, ascending ids.
    ///
    /// Throws at once (no work done) on a label list that does not parse, a size CLIP cannot
    /// tile, no CLIP loaded, and, named `ClipTextNeeded`, words (or a set the folder has not
    /// precomputed) while the text part is not loaded.
    #[wasm_bindgen(js_name = nameSegments, unchecked_return_type = "Promise<string>")]
    pub fn name_segments(
        &self,
        labels: Vec<u32>,
        width: u32,
        height: u32,
        #[wasm_bindgen(js_name = labelSpec)] label_spec: &str,
        size: u32,
        rgba: Option<Vec<u8>>,
    ) -> Result<Promise, JsValue> {
        let clip = match &self.inner.borrow().clip {
            ClipSlot::Ready(c) => c.clone(),
            _ => return Err(js_error(Error::Model("no CLIP is loaded (load its folder first)".into())).into()),
        };
        let spec = label_spec.trim().to_string();
        let wanted = parse_labels(&spec, |path| {
            Err(Error::InvalidParameter {
                name: "labels",
                expected: "a label set or words (the page reads no label files)",
                got: format!("@{path}"),
            })
        })
        .map_err(js_error)?;
        let precomputed = matches!(&wanted, Labels::Set(set) if clip.namer.model().label_sets().any(|s| s == *set));
        if !precomputed && !clip.text {
            return Err(js_error_as(text_needed(&wanted), TEXT_NEEDED));
        }
        clip.namer.check_size(size).map_err(js_error)?;
        let image: Result<RgbImage, Error> = match rgba {
            Some(rgba) => Input::Rgba { rgba, width, height }.image(),
            None => self
                .inner
                .borrow()
                .current
                .as_ref()
                .map(|c| c.image.clone())
                .ok_or_else(no_image),
        };
        let image = image.map_err(js_error)?;
        let pixels = width as usize * height as usize;
        if labels.len() != pixels {
            return Err(js_error(Error::InvalidParameter {
                name: "labels",
                expected: "one label per pixel (width × height)",
                got: format!("{} labels for {width}×{height}", labels.len()),
            })
            .into());
        }
        Ok(promise(async move {
            let cached = clip
                .classifier
                .borrow()
                .as_ref()
                .filter(|(s, _)| *s == spec)
                .map(|(_, c)| c.clone());
            let classifier = match cached {
                Some(c) => c,
                None => {
                    let c = clip.namer.classifier(&wanted).await?;
                    *clip.classifier.borrow_mut() = Some((spec, c.clone()));
                    c
                }
            };
            let naming = clip
                .namer
                .name(&image, &labels, [height as usize, width as usize], &classifier, size)
                .await?;
            to_json(&naming)
        }))
    }
}

/// Why `wanted` cannot be named without the text part.
fn text_needed(wanted: &Labels) -> Error {
    let what = match wanted {
        Labels::Set(set) => format!("the label set {} (not precomputed in this CLIP folder)", set.name()),
        Labels::Custom(_) => "your own words".into(),
    };
    Error::Model(format!(
        "naming with {what} needs the CLIP text part, which is not loaded"
    ))
}

fn not_loading() -> Error {
    Error::Model("no CLIP is being loaded (call clipBegin first)".into())
}
