//! `diffcut eval`: one benchmark through DiffCut's protocol (docs/ALGORITHM.md §6), image by image, through the
//! front door ([`crate::segmenter`]), with a per-image cache so that a run resumes.
//!
//! Per image (docs/ALGORITHM.md §6.2, §6.4): centre crop, 1024×1024 image, features on the grid, recursive
//! NCut, concept assignment at 128×128, the ground-truth-informed background merge for VOC /
//! Context / COCO-Object ([`merge_background`]), PAMR on the image resized to 128×128, then the
//! per-image Hungarian matching ([`Accumulator`]). The merge runs before PAMR, so the accumulator
//! runs the plain matching on labels that are already merged.

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::datasets::{
    eval_gt, eval_image, merge_background, renumber, Dataset, DatasetKind, DatasetOptions, Sample, EVAL_MASK_SIDE,
};
use super::miou::{load_label_png, Accumulator, MiouReport, Protocol};
use crate::image_io::{load_image_with, resize_bilinear, Exif, RgbImage};
#[cfg(feature = "model")]
use crate::segmenter::NoiseChoice;
use crate::segmenter::{
    Compute, Device, FeatureGrid, FeatureSource, LabelMap, Mode, Numbering, Refine, SegmentParams, Segmenter,
};
use crate::{files, npy, Error, Result};

pub use crate::segmenter::FeatureKind;

/// One evaluation run.
#[derive(Clone, Debug)]
pub struct EvalConfig {
    pub dataset: DatasetKind,
    /// The folder holding the dataset in its usual layout (see [`super::datasets`]).
    pub root: PathBuf,
    pub options: DatasetOptions,
    /// The diffusion model folder; `None` evaluates the colour features.
    #[cfg(feature = "model")]
    pub model: Option<PathBuf>,
    /// With a model: input size, noise, and the device that runs it.
    #[cfg(feature = "model")]
    pub size: u32,
    #[cfg(feature = "model")]
    pub noise: NoiseChoice,
    #[cfg(feature = "model")]
    pub model_device: Device,
    /// Where the NCut and PAMR run.
    pub device: Device,
    /// Only the first N images.
    pub limit: Option<usize>,
    /// Per-image 128×128 predictions (and diffusion features) are kept here; a rerun reuses them.
    pub cache: Option<PathBuf>,
    /// τ and α; `None`: the feature source's own ([`FeatureSource::default_params`]).
    pub tau: Option<f64>,
    pub alpha: Option<f32>,
    /// Grid of the colour features.
    pub grid: usize,
    pub refine: Refine,
    /// Score with the open-vocabulary protocol instead ([`super::open_vocab`]): segments named by
    /// this CLIP.
    #[cfg(feature = "model")]
    pub open_vocab: Option<super::open_vocab::OpenVocabConfig>,
}

impl EvalConfig {
    /// The features this run evaluates.
    pub fn features(&self) -> FeatureKind {
        #[cfg(feature = "model")]
        if self.model.is_some() {
            return FeatureKind::Diffusion;
        }
        FeatureKind::Color
    }
}

/// What a run measured.
#[derive(Clone, Debug)]
pub struct EvalOutcome {
    pub dataset: DatasetKind,
    pub features: FeatureKind,
    pub report: MiouReport,
    /// Images predicted in this run, and taken from the cache.
    pub computed: usize,
    pub cached: usize,
    /// What the features were and whether the numbers compare with the paper's.
    pub note: String,
    pub tau: f64,
    pub alpha: f32,
    pub grid: usize,
    pub refine: Refine,
}

impl EvalOutcome {
    /// The result as a Markdown table beside the paper's number, then the settings.
    pub fn summary(&self) -> String {
        let r = &self.report;
        format!(
            "| Dataset | mIoU (ours) | pixel acc. (ours) | images | mIoU (paper, SSD-1B) |\n\
             |---|---|---|---|---|\n\
             | {} | {:.1} | {:.1} | {} | {:.1} |\n\n\
             {}; τ = {}, α = {}, grid = {}, refine = {}\n\
             images: {} computed, {} from cache",
            self.dataset.title(),
            100.0 * r.miou,
            100.0 * r.pixel_accuracy,
            r.images,
            self.dataset.paper_miou(),
            self.note,
            self.tau,
            self.alpha,
            self.grid,
            self.refine.name(),
            self.computed,
            self.cached
        )
    }

    /// The report as JSON (mIoU, pixel accuracy, per-class IoU, counts) with the settings.
    pub fn to_json(&self) -> Value {
        let mut j = self.report.to_json();
        if let Some(o) = j.as_object_mut() {
            o.insert("dataset".into(), self.dataset.name().into());
            o.insert("features".into(), self.features.name().into());
            o.insert("note".into(), self.note.clone().into());
            o.insert("paper_miou".into(), (self.dataset.paper_miou() / 100.0).into());
            o.insert("tau".into(), self.tau.into());
            o.insert("alpha".into(), f64::from(self.alpha).into());
            o.insert("grid".into(), self.grid.into());
            o.insert("refine".into(), self.refine.name().into());
            o.insert("computed".into(), self.computed.into());
            o.insert("cached".into(), self.cached.into());
        }
        j
    }
}

/// One evaluation, opened once and scored image by image: the dataset, the feature source, the
/// parameters and the cache folder of an [`EvalConfig`]. [`run`] scores every image in order; a
/// distributed front end (the Python package's Ray script) opens the same job on each worker,
/// scores a share of the images into its own [`Accumulator`], and merges the accumulators
/// ([`Accumulator::merge`]): the counts are integers, so the result is the same number.
pub struct EvalJob {
    cfg: EvalConfig,
    features: FeatureKind,
    segmenter: Segmenter,
    params: SegmentParams,
    dataset: Dataset,
    samples: Vec<Sample>,
    /// The protocol the accumulator applies: the dataset's, with the background merge moved into
    /// the prediction (it runs before PAMR, §6.4), so the matching here is the plain one.
    protocol: Protocol,
    /// `Some(classes)` where the dataset merges unmatched segments into its background.
    merge: Option<usize>,
    cache_dir: Option<PathBuf>,
}

/// Where one image's prediction came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scored {
    Computed,
    Cached,
}

impl EvalJob {
    /// Opens the dataset, loads the model (if any) and creates the cache folder.
    ///
    /// # Errors
    /// A dataset that does not open, a model that does not load, bad τ / α, a cache folder that
    /// cannot be created.
    pub async fn open(cfg: &EvalConfig) -> Result<Self> {
        #[cfg(feature = "model")]
        if cfg.open_vocab.is_some() {
            return Err(Error::InvalidParameter {
                name: "open_vocab",
                expected: "none here: the open-vocabulary protocol runs in eval::open_vocab",
                got: "a CLIP folder".into(),
            });
        }
        let Opened {
            features,
            segmenter,
            params,
            dataset,
            samples,
        } = Opened::open(cfg).await?;
        let dataset_protocol = dataset.protocol();
        let protocol = Protocol {
            background_merge: false,
            ..dataset_protocol
        };
        protocol.validate()?;
        let merge = dataset_protocol.background_merge.then_some(dataset_protocol.classes);
        let cache_dir = cache_folder(cfg, cache_name(cfg, &segmenter, &params))?;
        Ok(Self {
            cfg: cfg.clone(),
            features,
            segmenter,
            params,
            dataset,
            samples,
            protocol,
            merge,
            cache_dir,
        })
    }

    /// Number of images this job scores (after `limit`).
    pub fn len(&self) -> usize {
        self.samples.len()
    }

    /// Whether the job has no image.
    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }

    /// The images' names (the dataset's ids), in scoring order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.samples.iter().map(|s| s.name.as_str())
    }

    /// The per-image prediction cache of this run's settings, if the job has a cache.
    pub fn cache_dir(&self) -> Option<&Path> {
        self.cache_dir.as_deref()
    }

    /// An empty accumulator with this job's protocol.
    pub fn accumulator(&self) -> Accumulator {
        Accumulator::with_protocol(self.protocol).expect("validated in open")
    }

    /// Predicts image `index` (or reads its prediction from the cache) and adds it to `acc`.
    ///
    /// # Errors
    /// An index past [`len`](Self::len), an image or ground truth that does not read, sizes that
    /// differ, a cache file that cannot be written; each names its file.
    pub async fn score(&self, index: usize, acc: &mut Accumulator) -> Result<Scored> {
        let s = self.samples.get(index).ok_or_else(|| Error::InvalidParameter {
            name: "index",
            expected: "an image of the job",
            got: format!("{index} (the job has {} images)", self.samples.len()),
        })?;
        let (gw, gh, raw_gt) = self.dataset.load_gt(s)?;
        let gt = eval_gt(&raw_gt, gw, gh);
        let side = EVAL_MASK_SIDE as u32;
        let file_name = cache_file_name(s);
        let cache_file = self.cache_dir.as_ref().map(|d| d.join(format!("{file_name}.png")));
        let from_cache = cache_file
            .as_ref()
            .filter(|f| f.is_file())
            .and_then(|f| match load_label_png(f) {
                Ok((w, h, v)) if w == side && h == side => Some(v.into_iter().map(u32::from).collect::<Vec<u32>>()),
                _ => None,
            });
        let (pred, scored) = match from_cache {
            Some(p) => (p, Scored::Cached),
            None => {
                let eval_img = load_eval_image(s, gw, gh)?;
                let feature_file = feature_cache(self.features, self.cache_dir.as_deref(), &file_name);
                let f = image_features(&self.segmenter, &eval_img, feature_file.as_deref()).await?;
                let p = predict(
                    &self.segmenter,
                    &eval_img,
                    f,
                    &gt,
                    self.merge,
                    &self.params,
                    self.cfg.refine,
                )
                .await?;
                if let Some(f) = &cache_file {
                    files::write(f, &p.to_png()?)?;
                }
                (p.into_labels(), Scored::Computed)
            }
        };
        let pred16: Vec<u16> = pred.iter().map(|&l| l.min(u32::from(u16::MAX)) as u16).collect();
        acc.add(&gt, &pred16).map_err(|e| match e {
            Error::Eval(m) => Error::Eval(format!("{}: {m}", s.gt.display())),
            other => other,
        })?;
        Ok(scored)
    }

    /// The outcome of the images in `acc` (every image of the job, for the full benchmark).
    pub fn outcome(&self, acc: &Accumulator, computed: usize, cached: usize) -> EvalOutcome {
        let note = match self.features {
            FeatureKind::Diffusion => format!(
                "features: diffusion features of {} (as the paper's SSD-1B setting when the folder holds SSD-1B)",
                model_dir(&self.cfg).map_or_else(String::new, |d| d.display().to_string())
            ),
            FeatureKind::Color => "features: color (weight-free colour/texture features, NOT the paper's SSD-1B \
                                   diffusion features; the numbers are not comparable)"
                .to_string(),
        };
        EvalOutcome {
            dataset: self.cfg.dataset,
            features: self.features,
            report: acc.finish(),
            computed,
            cached,
            note,
            tau: self.params.tau,
            alpha: self.params.alpha,
            grid: self.cfg.grid,
            refine: self.cfg.refine,
        }
    }
}

/// What both evaluation protocols open first: the feature source and the segmenter, τ and α, the
/// dataset and its samples (after `limit`).
pub(super) struct Opened {
    pub features: FeatureKind,
    pub segmenter: Segmenter,
    pub params: SegmentParams,
    pub dataset: Dataset,
    pub samples: Vec<Sample>,
}

impl Opened {
    pub async fn open(cfg: &EvalConfig) -> Result<Self> {
        let features = cfg.features();
        let source = feature_source(cfg)?;
        source.validate()?;
        let defaults = source.default_params();
        let params = SegmentParams {
            tau: cfg.tau.unwrap_or(defaults.tau),
            alpha: cfg.alpha.unwrap_or(defaults.alpha),
            tau_max: None,
            mode: Mode::Official,
        };
        params.tree_options()?;
        let segmenter = Segmenter::new(source, Compute::open(cfg.device.into()).await?);
        let dataset = Dataset::open(cfg.dataset, &cfg.root, &cfg.options)?;
        let mut samples = dataset.samples.clone();
        if let Some(n) = cfg.limit {
            samples.truncate(n);
        }
        Ok(Opened {
            features,
            segmenter,
            params,
            dataset,
            samples,
        })
    }
}

/// The run's cache folder `cache/name`, created, when the run has a cache.
pub(super) fn cache_folder(cfg: &EvalConfig, name: String) -> Result<Option<PathBuf>> {
    match &cfg.cache {
        Some(c) => {
            let d = c.join(name);
            std::fs::create_dir_all(&d).map_err(|e| Error::io(&d, e))?;
            Ok(Some(d))
        }
        None => Ok(None),
    }
}

/// A sample's image as evaluated ([`eval_image`]), after checking that it has its ground truth's
/// size (`gw × gh`). As stored, like the official code: the ground truth is drawn on these pixels.
pub(super) fn load_eval_image(s: &Sample, gw: u32, gh: u32) -> Result<RgbImage> {
    let img = load_image_with(&s.image, Exif::Ignore)?;
    let (iw, ih) = img.dimensions();
    if (iw, ih) != (gw, gh) {
        return Err(Error::Eval(format!(
            "{}: ground truth is {gw}×{gh} but the image {} is {iw}×{ih}",
            s.gt.display(),
            s.image.display()
        )));
    }
    Ok(eval_image(&img))
}

/// Where an image's diffusion features are cached (colour features are not: they cost less than
/// reading them back).
pub(super) fn feature_cache(features: FeatureKind, cache_dir: Option<&Path>, file_name: &str) -> Option<PathBuf> {
    match features {
        FeatureKind::Diffusion => cache_dir.map(|d| d.join("features").join(format!("{file_name}.npy"))),
        FeatureKind::Color => None,
    }
}

/// A sample's name as a file name in the cache.
pub(super) fn cache_file_name(s: &Sample) -> String {
    s.name.replace(['/', '\\'], "_")
}

/// Runs the benchmark; `progress(done, total)` after each image.
///
/// # Errors
/// A dataset that does not open, an image or ground truth that does not read, sizes that
/// differ, a model that does not load, a cache that cannot be written; each names its file.
pub async fn run(cfg: &EvalConfig, progress: &mut dyn FnMut(usize, usize)) -> Result<EvalOutcome> {
    let job = EvalJob::open(cfg).await?;
    let mut acc = job.accumulator();
    let (mut computed, mut cached) = (0usize, 0usize);
    for i in 0..job.len() {
        match job.score(i, &mut acc).await? {
            Scored::Computed => computed += 1,
            Scored::Cached => cached += 1,
        }
        progress(i + 1, job.len());
    }
    Ok(job.outcome(&acc, computed, cached))
}

/// One image through the protocol: `image` is the 1024×1024 evaluation image ([`eval_image`]),
/// `gt` the 128×128 evaluation ground truth ([`eval_gt`]). Recursive NCut, concept assignment at
/// 128×128, the background merge when `background_merge_classes` is given, then PAMR on the image
/// resized to 128×128. Returns 128×128 labels `0..k`.
///
/// # Errors
/// Bad features or parameters.
pub async fn predict(
    segmenter: &Segmenter,
    image: &RgbImage,
    features: FeatureGrid,
    gt: &[u16],
    background_merge_classes: Option<usize>,
    params: &SegmentParams,
    refine: Refine,
) -> Result<LabelMap> {
    let seg = segmenter.grow(features, params).await?;
    let coarse = seg.pixel_labels(params.tau, Numbering::Mode, EVAL_MASK_SIDE, EVAL_MASK_SIDE)?;
    let (labels, k) = match background_merge_classes {
        Some(classes) => merge_background(gt, coarse.labels(), classes)?,
        None => renumber(coarse.labels()),
    };
    let labels = LabelMap::new(labels, EVAL_MASK_SIDE, EVAL_MASK_SIDE, k)?;
    match refine.config() {
        None => Ok(labels),
        Some(cfg) => {
            let side = EVAL_MASK_SIDE as u32;
            segmenter.pamr(&resize_bilinear(image, side, side), &labels, &cfg).await
        }
    }
}

/// The features of one evaluation image, read from `cache` when it holds them, else computed
/// (and written there).
pub(super) async fn image_features(
    segmenter: &Segmenter,
    image: &RgbImage,
    cache: Option<&Path>,
) -> Result<FeatureGrid> {
    if let Some(f) = cache.filter(|f| f.is_file()) {
        let bytes = files::read(f)?;
        if let Ok((shape, data)) = npy::read_f32(&bytes, 3) {
            if let Ok(grid) = FeatureGrid::new(shape[0], shape[1], shape[2], data) {
                return Ok(grid);
            }
        }
    }
    let f = segmenter.features(image).await?;
    if let Some(path) = cache {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        }
        files::write(path, &npy::encode_f32(&[f.h, f.w, f.c], &f.data))?;
    }
    Ok(f)
}

#[cfg(feature = "model")]
pub(super) fn model_dir(cfg: &EvalConfig) -> Option<&Path> {
    cfg.model.as_deref()
}

#[cfg(not(feature = "model"))]
pub(super) fn model_dir(_: &EvalConfig) -> Option<&Path> {
    None
}

fn feature_source(cfg: &EvalConfig) -> Result<FeatureSource> {
    #[cfg(feature = "model")]
    if let Some(dir) = &cfg.model {
        return FeatureSource::diffusion_from_dir(dir, cfg.size, &cfg.noise, cfg.model_device);
    }
    Ok(FeatureSource::Color { grid: cfg.grid })
}

/// The cache folder's name: everything that changes a prediction, so caches of different runs
/// never mix (for a model: its dtype, a short hash of its weights, the size and the noise).
pub(super) fn cache_name(cfg: &EvalConfig, segmenter: &Segmenter, params: &SegmentParams) -> String {
    let features = match segmenter.source() {
        FeatureSource::Color { grid } => format!("color_grid{grid}"),
        #[cfg(feature = "model")]
        FeatureSource::Diffusion { model, size, .. } => format!(
            "diffusion-{}-{}-S{size}-{}",
            model.manifest.dtype,
            short_hash(&model.manifest),
            cfg.noise.to_string().replace(['/', '\\', '.'], "_")
        ),
    };
    format!(
        "{}_{features}_tau{}_alpha{}_{}",
        cfg.dataset.name(),
        params.tau,
        params.alpha,
        cfg.refine.name()
    )
}

/// A short content tag of a converted model folder (its manifest's first hash), for cache names.
#[cfg(feature = "model")]
pub(super) fn short_hash(manifest: &crate::model::Manifest) -> String {
    manifest
        .shards()
        .next()
        .map_or_else(|| "none".into(), |f| f.sha256.chars().take(8).collect())
}
