//! CLIP (open_clip) for naming segments: DiffCut's open-vocabulary extension (docs/ALGORITHM.md §7),
//! loaded from a folder made by `models/convert_clip.py` (models/FORMAT.md, "The converted CLIP
//! folder").
//!
//! ```text
//! image [H, W, 3] u8 ─resize S×S (bilinear), /255 (no CLIP normalisation: the official quirk)─▶
//!   ─ConvNeXt trunk─▶ dense [S/32, S/32, C]
//! segment mask ─nearest-exact to the grid, masked mean─▶ [C] ─head norm, head MLP─▶ [D]
//! class synonyms × 14 templates ─tokenizer, text tower, normalise, mean, normalise─▶ rows [Σ, D]
//! score(class) = min(exp(logit_scale), 100) · max over synonyms of cos(segment, row)
//! ```

pub mod config;
pub mod convnext;
mod html_entities;
pub mod labels;
pub mod text;
pub mod tokenizer;

use std::collections::BTreeMap;

use burn::tensor::{Device, Tensor, TensorData};
use image::RgbImage;
use serde::Serialize;

pub use config::ClipConfig;
use convnext::ImageTower;
pub use labels::{Classifier, LabelSet, Labels};
use text::TextTower;
pub use tokenizer::Tokenizer;

use super::weights::{FileKind, FolderFiles, Manifest, Part, WeightStore};
use super::{read_f32, resize_unit};
use crate::choice::Choice;
use crate::{Error, Result};

/// Which parts of a CLIP folder to load.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parts {
    /// The image tower and the precomputed label sets: naming with the official sets.
    Image,
    /// The text tower and tokenizer: text embeddings only.
    Text,
    /// Both: naming with any words.
    All,
}

impl Parts {
    fn wants(self, part: Option<Part>) -> bool {
        match (self, part) {
            (Parts::All, _) | (_, None) => true,
            (Parts::Image, Some(p)) => p == Part::Image,
            (Parts::Text, Some(p)) => p == Part::Text,
        }
    }

    fn image(self) -> bool {
        self != Parts::Text
    }

    fn text(self) -> bool {
        self != Parts::Image
    }
}

/// Longest text tokenized, in characters.
pub const MAX_TEXT_CHARS: usize = 10_000;

/// Most text sequences encoded at once (the official code's batch of 128).
const TEXT_BATCH: usize = 128;

/// A loaded CLIP on one burn device.
pub struct ClipModel {
    pub config: ClipConfig,
    pub manifest: Manifest,
    device: Device,
    image: Option<ImageTower>,
    text: Option<(TextTower, Tokenizer)>,
    label_sets: BTreeMap<LabelSet, Classifier>,
}

/// Builds a [`ClipModel`] from the folder's files one at a time, as [`super::ModelLoader`] does.
pub struct ClipLoader {
    files: FolderFiles,
    parts: Parts,
    device: Device,
    config: Option<ClipConfig>,
    store: WeightStore,
    vocab: Option<Vec<u8>>,
    /// Per set: its classes (`labels/{set}.json`) and its rows (`labels/{set}.npy`).
    labels: BTreeMap<String, Vec<Vec<String>>>,
    rows: BTreeMap<String, (Vec<usize>, Vec<f32>)>,
}

/// `labels/{set}.json`.
#[derive(serde::Deserialize)]
struct LabelFile {
    set: String,
    classes: Vec<Vec<String>>,
}

/// The set name of `labels/{set}.json` / `labels/{set}.npy`.
fn set_of(name: &str, ext: &str) -> Option<String> {
    name.strip_prefix("labels/")?.strip_suffix(ext).map(str::to_string)
}

impl ClipLoader {
    /// Starts from `manifest.json`'s bytes; only the files of `parts` will be asked for.
    pub fn new(manifest_json: &[u8], device: &Device, host_dequantize: bool, parts: Parts) -> Result<Self> {
        let manifest = Manifest::from_json(manifest_json)?;
        let mut store = WeightStore::new(device, host_dequantize);
        store.keep_on_host("token_embedding.weight");
        Ok(ClipLoader {
            files: FolderFiles::new(manifest, |f| parts.wants(f.part)),
            parts,
            device: device.clone(),
            config: None,
            store,
            vocab: None,
            labels: BTreeMap::new(),
            rows: BTreeMap::new(),
        })
    }

    pub fn manifest(&self) -> &Manifest {
        self.files.manifest()
    }

    /// Files still to be given to [`ClipLoader::add_file`], config first.
    pub fn pending(&self) -> Vec<String> {
        self.files.pending()
    }

    /// Checks and takes one file of the folder.
    pub fn add_file(&mut self, name: &str, bytes: &[u8]) -> Result<()> {
        let entry = self.files.check(name, bytes)?;
        let file_error = |reason: String| Error::ModelFile {
            file: name.into(),
            reason,
        };
        match entry.kind {
            FileKind::Config => self.config = Some(ClipConfig::from_json(bytes)?),
            FileKind::Weights => self.store.add_shard(name, bytes)?,
            FileKind::Vocab => self.vocab = Some(bytes.to_vec()),
            FileKind::Labels => {
                let set = set_of(name, ".json").ok_or_else(|| file_error("not labels/{set}.json".into()))?;
                let file: LabelFile =
                    serde_json::from_slice(bytes).map_err(|e| file_error(format!("does not parse: {e}")))?;
                if file.set != set {
                    return Err(file_error(format!("names the set {:?}", file.set)));
                }
                self.labels.insert(set, file.classes);
            }
            FileKind::Classifier => {
                let set = set_of(name, ".npy").ok_or_else(|| file_error("not labels/{set}.npy".into()))?;
                let rows = crate::npy::read_f32(bytes, 2).map_err(|e| file_error(e.to_string()))?;
                self.rows.insert(set, rows);
            }
            FileKind::Noise => return Err(file_error("a diffusion model's noise in a CLIP folder".into())),
        }
        self.files.done(name);
        Ok(())
    }

    /// Builds the towers once every file of the parts has been added.
    pub fn finish(mut self) -> Result<ClipModel> {
        self.files.complete()?;
        let config = self
            .config
            .take()
            .ok_or_else(|| Error::Model("no config loaded".into()))?;
        let image = if self.parts.image() {
            Some(ImageTower::load(&mut self.store, &config.vision, config.embed_dim)?)
        } else {
            None
        };
        let text = if self.parts.text() {
            let vocab = self
                .vocab
                .take()
                .ok_or_else(|| Error::Model(format!("manifest.json lists no vocab file ({})", config.text.vocab)))?;
            let tokenizer = Tokenizer::from_gz(&vocab)?;
            if tokenizer.vocab_size() != config.text.vocab_size {
                return Err(Error::Model(format!(
                    "the tokenizer has {} tokens, the text tower {}",
                    tokenizer.vocab_size(),
                    config.text.vocab_size
                )));
            }
            Some((
                TextTower::load(&mut self.store, &config.text, config.embed_dim)?,
                tokenizer,
            ))
        } else {
            None
        };
        self.store.finish()?;
        let mut label_sets = BTreeMap::new();
        for (name, classes) in std::mem::take(&mut self.labels) {
            let file = format!("labels/{name}.npy");
            let (shape, rows) = self
                .rows
                .remove(&name)
                .ok_or_else(|| Error::Model(format!("labels/{name}.json has no {file}")))?;
            if shape[1] != config.embed_dim {
                return Err(Error::ModelFile {
                    file,
                    reason: format!("rows of {} values; embed_dim is {}", shape[1], config.embed_dim),
                });
            }
            let classifier = Classifier::from_rows(classes, config.embed_dim, rows).map_err(|e| Error::ModelFile {
                file: file.clone(),
                reason: e.to_string(),
            })?;
            // Sets this build does not know stay unused; a known set must be the bundled list.
            if let Some(set) = LabelSet::ALL.iter().copied().find(|s| s.name() == name) {
                if classifier.classes() != set.classes() {
                    return Err(Error::ModelFile {
                        file: format!("labels/{name}.json"),
                        reason: "its classes are not the bundled label set's".into(),
                    });
                }
                label_sets.insert(set, classifier);
            }
        }
        Ok(ClipModel {
            config,
            manifest: self.files.into_manifest(),
            device: self.device,
            image,
            text,
            label_sets,
        })
    }
}

/// A segment's name: `DiffCut name`'s JSON record.
#[derive(Debug, Clone, Serialize)]
pub struct SegmentName {
    /// The segment's label in the mask.
    pub id: u32,
    /// The best class's index in the label list.
    pub class: usize,
    /// The class's first synonym.
    pub name: String,
    /// One score per class: `min(exp(logit_scale), 100) · cos`, the best synonym's.
    pub scores: Vec<f32>,
}

/// The dense map of an image.
#[derive(Debug, Clone)]
pub struct DenseMap {
    /// `[gh, gw, C]`.
    pub shape: [usize; 3],
    /// Row-major `[gh, gw, C]`.
    pub values: Vec<f32>,
}

impl ClipModel {
    /// Loads a converted CLIP folder from disk, only the files of `parts`.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn load_dir(dir: &std::path::Path, device: &Device, host_dequantize: bool, parts: Parts) -> Result<Self> {
        let bytes = crate::files::read(&dir.join("manifest.json"))?;
        let mut loader = ClipLoader::new(&bytes, device, host_dequantize, parts)?;
        for name in loader.pending() {
            let bytes = crate::files::read(&dir.join(&name))?;
            loader.add_file(&name, &bytes)?;
        }
        loader.finish()
    }

    pub fn device(&self) -> &Device {
        &self.device
    }

    fn image_tower(&self) -> Result<&ImageTower> {
        self.image
            .as_ref()
            .ok_or_else(|| Error::Model("the CLIP image part is not loaded".into()))
    }

    fn text_tower(&self) -> Result<&(TextTower, Tokenizer)> {
        self.text.as_ref().ok_or_else(|| {
            Error::Model("the CLIP text part is not loaded (it is needed to name segments with other words)".into())
        })
    }

    /// See [`ImageTower::set_mlp_chunk_values`].
    #[doc(hidden)]
    pub fn set_mlp_chunk_values(&mut self, values: usize) {
        if let Some(image) = &mut self.image {
            image.set_mlp_chunk_values(values);
        }
    }

    /// See [`ImageTower::set_band_values`].
    #[doc(hidden)]
    pub fn set_band_values(&mut self, values: usize) {
        if let Some(image) = &mut self.image {
            image.set_band_values(values);
        }
    }

    /// The label sets precomputed in the folder.
    pub fn label_sets(&self) -> impl Iterator<Item = LabelSet> + '_ {
        self.label_sets.keys().copied()
    }

    /// The trunk's input `[1, 3, S, S]`: [`resize_unit`], in [0, 1] as the official code feeds it
    /// (its images are `read_image / 255` and reach CLIP without CLIP's mean/std normalisation).
    pub fn preprocess(image: &RgbImage, size: u32) -> Result<Vec<f32>> {
        resize_unit(image, size)
    }

    /// The dense map `[1, C, S/32, S/32]` of a [`ClipModel::preprocess`]ed input; `trace` sees the
    /// stem's and each stage's output.
    pub fn dense(&self, input: Vec<f32>, size: u32, trace: &mut dyn FnMut(&str, &Tensor<4>)) -> Result<Tensor<4>> {
        self.config.check_size(size)?;
        let s = size as usize;
        if input.len() != 3 * s * s {
            return Err(Error::InvalidParameter {
                name: "input",
                expected: "3·S·S values",
                got: input.len().to_string(),
            });
        }
        let x = Tensor::<4>::from_data(TensorData::new(input, [1, 3, s, s]), &self.device);
        Ok(self.image_tower()?.dense(x, trace))
    }

    /// The dense map of an image at size S, `[S/32, S/32, C]` on the host.
    pub async fn dense_features(&self, image: &RgbImage, size: u32) -> Result<DenseMap> {
        let x = self.dense(Self::preprocess(image, size)?, size, &mut |_, _| {})?;
        let [_, c, gh, gw] = x.dims();
        let values = read_f32(x.reshape([c, gh * gw]).swap_dims(0, 1)).await?;
        if let Some(i) = values.iter().position(|v| !v.is_finite()) {
            return Err(Error::Model(format!(
                "CLIP produced a non-finite feature at cell {}",
                i / c
            )));
        }
        Ok(DenseMap {
            shape: [gh, gw, c],
            values,
        })
    }

    /// Pooled dense vectors `[Q, C]` → image embeddings `[Q, D]` (not normalised).
    pub async fn embed_pooled(&self, pooled: Vec<f32>, q: usize) -> Result<Vec<f32>> {
        let c = self.config.dense_channels();
        if q == 0 || pooled.len() != q * c {
            return Err(Error::InvalidParameter {
                name: "pooled",
                expected: "Q > 0 rows of C values",
                got: format!("{} values for {q} rows of {c}", pooled.len()),
            });
        }
        let x = Tensor::<2>::from_data(TensorData::new(pooled, [q, c]), &self.device);
        read_f32(self.image_tower()?.embed_pooled(x)).await
    }

    /// open_clip's token ids of each text, `[n, context_length]` row-major.
    pub fn tokenize(&self, texts: &[String]) -> Result<Vec<u32>> {
        let (tower, tokenizer) = self.text_tower()?;
        // BPE's cost grows with the square of a word's length, and CLIP keeps 77 tokens anyway.
        if let Some((i, t)) = texts
            .iter()
            .enumerate()
            .find(|(_, t)| t.chars().count() > MAX_TEXT_CHARS)
        {
            return Err(Error::InvalidParameter {
                name: "texts",
                expected: "texts of at most 10 000 characters (CLIP reads 77 tokens)",
                got: format!("text {i} of {} characters", t.chars().count()),
            });
        }
        let t = tower.config().context_length;
        Ok(texts.iter().flat_map(|s| tokenizer.tokenize(s, t)).collect())
    }

    /// `encode_text(tokenize(texts), normalize=False)`, `[n, D]` row-major.
    pub async fn encode_text(&self, texts: &[String]) -> Result<Vec<f32>> {
        let (tower, _) = self.text_tower()?;
        let t = tower.config().context_length;
        let ids = self.tokenize(texts)?;
        let mut out = Vec::with_capacity(texts.len() * self.config.embed_dim);
        for batch in ids.chunks(TEXT_BATCH * t) {
            out.extend(read_f32(tower.encode(batch, batch.len() / t)?).await?);
        }
        Ok(out)
    }

    /// The classifier for `labels`: the folder's precomputed rows for an official set it has,
    /// else built with the text tower.
    pub async fn classifier(&self, labels: &Labels) -> Result<Classifier> {
        if let Labels::Set(set) = labels {
            if let Some(c) = self.label_sets.get(set) {
                return Ok(c.clone());
            }
        }
        let classes = labels.classes();
        let embeddings = self.encode_text(&labels::prompts(&classes)).await?;
        Classifier::from_prompt_embeddings(classes, self.config.embed_dim, &embeddings)
    }

    /// Names each segment of `labels` (`[h, w]`, any size: brought to S×S first) from the dense
    /// map of `image` at size S, as the official `associate_label`.
    pub async fn name_segments(
        &self,
        image: &RgbImage,
        labels: &[u32],
        [h, w]: [usize; 2],
        classifier: &Classifier,
        size: u32,
    ) -> Result<Vec<SegmentName>> {
        if classifier.dim() != self.config.embed_dim {
            return Err(Error::InvalidParameter {
                name: "classifier",
                expected: "rows of the model's embed_dim",
                got: format!("{} for embed_dim {}", classifier.dim(), self.config.embed_dim),
            });
        }
        let dense = self.dense_features(image, size).await?;
        let (ids, pooled) = labels::mask_pool(&dense.values, dense.shape, labels, [h, w], size as usize)?;
        let embeddings = self.embed_pooled(pooled, ids.len()).await?;
        let scale = self.config.score_scale();
        Ok(ids
            .iter()
            .zip(embeddings.chunks_exact(self.config.embed_dim))
            .map(|(&id, e)| {
                let scores = classifier.scores(e, scale);
                let class = labels::argmax(&scores);
                SegmentName {
                    id,
                    class,
                    name: classifier.name(class).to_string(),
                    scores,
                }
            })
            .collect())
    }
}
