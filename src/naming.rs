//! The front door for naming segments (docs/ALGORITHM.md §7): a CLIP folder, a label list, and an
//! image with its segments in → a class and a score per class for each segment out. The CLI, the
//! page and the Python package name segments through this.

use std::sync::Arc;

use image::RgbImage;
use serde::Serialize;

pub use crate::model::clip::{Classifier, DenseMap, LabelSet, Labels, Parts, SegmentName};
use crate::model::clip::{ClipLoader, ClipModel};
#[cfg(not(target_arch = "wasm32"))]
use crate::segmenter::Device;
use crate::{Error, Result};

/// Names segments with one loaded CLIP; clones share it.
#[derive(Clone)]
pub struct Namer {
    model: Arc<ClipModel>,
}

/// `diffcut name`'s JSON: one record per segment, ascending ids.
#[derive(Debug, Clone, Serialize)]
pub struct Naming {
    pub segments: Vec<SegmentName>,
}

impl Naming {
    /// Each pixel's class, for a label map whose segments this names (ids it does not name → 0).
    pub fn class_map(&self, labels: &[u32]) -> Vec<u32> {
        let class_of: std::collections::BTreeMap<u32, u32> =
            self.segments.iter().map(|s| (s.id, s.class as u32)).collect();
        labels.iter().map(|l| class_of.get(l).copied().unwrap_or(0)).collect()
    }
}

impl Namer {
    /// Loads a CLIP folder's `parts` from disk onto `device`.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn from_dir(dir: &std::path::Path, parts: Parts, device: Device) -> Result<Self> {
        let device = crate::model::native_device(device == Device::Gpu)?;
        Ok(Namer {
            model: Arc::new(ClipModel::load_dir(dir, &device, false, parts)?),
        })
    }

    /// Loads what naming with `labels` needs: the image part alone when the folder has the set
    /// precomputed, else the text part too.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn from_dir_for(dir: &std::path::Path, labels: &Labels, device: Device) -> Result<Self> {
        let manifest = crate::model::Manifest::from_json(&crate::files::read(&dir.join("manifest.json"))?)?;
        Self::from_dir(dir, parts_for(&manifest, labels), device)
    }

    /// A model built by a [`ClipLoader`] (the page adds the files as they download).
    pub fn from_loader(loader: ClipLoader) -> Result<Self> {
        Ok(Namer {
            model: Arc::new(loader.finish()?),
        })
    }

    pub fn model(&self) -> &ClipModel {
        &self.model
    }

    /// Refuses an input size the trunk cannot tile.
    pub fn check_size(&self, size: u32) -> Result<()> {
        self.model.config.check_size(size)
    }

    /// The dense map `[S/32, S/32, C]` the segments are pooled from.
    pub async fn dense(&self, image: &RgbImage, size: u32) -> Result<DenseMap> {
        self.model.dense_features(image, size).await
    }

    /// Token ids `[n, 77]` and `encode_text(normalize=False)` `[n, D]` of each text.
    pub async fn text_embeddings(&self, texts: &[String]) -> Result<(Vec<u32>, Vec<f32>)> {
        let ids = self.model.tokenize(texts)?;
        let embeddings = self.model.encode_text(texts).await?;
        Ok((ids, embeddings))
    }

    /// The classifier of a label list (precomputed for the folder's official sets).
    pub async fn classifier(&self, labels: &Labels) -> Result<Classifier> {
        self.model.classifier(labels).await
    }

    /// Names every segment of `labels` (`[h, w]`, any size) on `image` at CLIP input size `size`.
    pub async fn name(
        &self,
        image: &RgbImage,
        labels: &[u32],
        [h, w]: [usize; 2],
        classifier: &Classifier,
        size: u32,
    ) -> Result<Naming> {
        let segments = self
            .model
            .name_segments(image, labels, [h, w], classifier, size)
            .await?;
        Ok(Naming { segments })
    }
}

/// The parts of a CLIP folder naming with `labels` needs.
pub fn parts_for(manifest: &crate::model::Manifest, labels: &Labels) -> Parts {
    match labels {
        Labels::Set(set) if manifest.file(&format!("labels/{}.json", set.name())).is_some() => Parts::Image,
        _ => Parts::All,
    }
}

/// A `--labels` value: an official set's name, `@FILE` (read by `read`), or inline
/// `cat;dog,puppy;grass`.
pub fn parse_labels(spec: &str, read: impl FnOnce(&str) -> Result<String>) -> Result<Labels> {
    use crate::choice::Choice;
    if let Ok(set) = LabelSet::parse(spec) {
        return Ok(Labels::Set(set));
    }
    if let Some(path) = spec.strip_prefix('@') {
        return Labels::file(&read(path)?);
    }
    // One class names every segment the same: a single word is a mistyped set name, not a list.
    if !spec.contains(';') {
        return Err(Error::InvalidParameter {
            name: "labels",
            expected: "voc, context, coco-object, ade, cityscapes, @FILE, or two or more classes separated by ';'",
            got: spec.to_string(),
        });
    }
    Labels::inline(spec)
}
