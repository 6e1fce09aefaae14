//! The open-vocabulary protocol (docs/ALGORITHM.md §7.6): `diffcut eval --open-vocab`.
//!
//! Per image, as `eval_diffcut_openvoc.py` does it: the 1024×1024 evaluation image, DiffCut's
//! segments assigned at 1024×1024, PAMR with the open-vocabulary preset and the 3×3 median at that
//! size, every segment named by CLIP (the dataset's label set, CLIP at 1024, 2048 for COCO-Object),
//! then the class map scored against the ground truth at 1024×1024 by [`image_jaccard`] — no
//! matching: the names are the prediction. The number is the mean over images of the per-image
//! score, not a dataset-level mIoU; the dataset-level mIoU of the same class maps is reported
//! beside it ([`JaccardMean`]).
//!
//! Class numbering is the label set's: `0` is the background (`models/labels/*.txt` put it first),
//! then the dataset's classes in their usual order. The official code shifts the ground truth by
//! one so that its ignore value (−1) lands on the background; our readers put background and
//! ignore on class `classes − 1` ([`super::datasets`]), which [`label_set_order`] moves to `0`.

use serde_json::{json, Value};

use crate::{Error, Result};

/// The per-image score of the official open-vocabulary evaluation: torchmetrics'
/// `JaccardIndex(task="multiclass", num_classes=classes)` called on one image (its default macro
/// average): the IoU of every class present in the ground truth or the prediction, averaged with
/// equal weights. Classes absent from both are left out (torchmetrics gives them weight 0).
///
/// # Errors
/// [`Error::InvalidParameter`] for different lengths, no pixels, or a value `≥ classes`.
pub fn image_jaccard(gt: &[u16], pred: &[u16], classes: usize) -> Result<f64> {
    let confusion = Confusion::of(gt, pred, classes)?;
    let defined: Vec<f64> = confusion.iou().into_iter().flatten().collect();
    // At least one pixel, so at least one class is present.
    Ok(defined.iter().sum::<f64>() / defined.len() as f64)
}

/// One image's true positives, false positives and false negatives per class.
struct Confusion {
    tp: Vec<u64>,
    fp: Vec<u64>,
    fn_: Vec<u64>,
}

impl Confusion {
    fn of(gt: &[u16], pred: &[u16], classes: usize) -> Result<Self> {
        if gt.len() != pred.len() || gt.is_empty() {
            return Err(Error::InvalidParameter {
                name: "pred",
                expected: "as many pixels as the ground truth, at least one",
                got: format!("{} pixels against {}", pred.len(), gt.len()),
            });
        }
        let bad = |which: &'static str, v: u16| Error::InvalidParameter {
            name: which,
            expected: "class indices below the number of classes",
            got: format!("{v} with {classes} classes"),
        };
        let mut c = Confusion {
            tp: vec![0; classes],
            fp: vec![0; classes],
            fn_: vec![0; classes],
        };
        for (&g, &p) in gt.iter().zip(pred) {
            let (gi, pi) = (usize::from(g), usize::from(p));
            if gi >= classes {
                return Err(bad("gt", g));
            }
            if pi >= classes {
                return Err(bad("pred", p));
            }
            if gi == pi {
                c.tp[gi] += 1;
            } else {
                c.fn_[gi] += 1;
                c.fp[pi] += 1;
            }
        }
        Ok(c)
    }

    /// IoU per class, `None` where the class is in neither map.
    fn iou(&self) -> Vec<Option<f64>> {
        (0..self.tp.len())
            .map(|k| {
                let union = self.tp[k] + self.fp[k] + self.fn_[k];
                (union > 0).then(|| self.tp[k] as f64 / union as f64)
            })
            .collect()
    }
}

/// Moves the readers' classes into the label set's order for VOC, Context and COCO-Object: the
/// background (and ignore) class `classes − 1` → `0`, class `c` → `c + 1`.
pub fn label_set_order(gt: &[u16], classes: usize) -> Vec<u16> {
    let background = classes - 1;
    gt.iter()
        .map(|&c| if usize::from(c) >= background { 0 } else { c + 1 })
        .collect()
}

/// The official metric over a benchmark: the mean of [`image_jaccard`] over images, and the
/// dataset-level IoU of the same class maps (summed counts, no matching) beside it.
#[derive(Clone, Debug)]
pub struct JaccardMean {
    classes: usize,
    sum: f64,
    images: usize,
    tp: Vec<u64>,
    fp: Vec<u64>,
    fn_: Vec<u64>,
}

/// What [`JaccardMean`] measured.
#[derive(Clone, Debug, PartialEq)]
pub struct OpenVocabReport {
    /// The official number: per-image Jaccard averaged over images, in `0..=1`; NaN for no image.
    pub mean_image_jaccard: f64,
    /// The dataset-level mIoU of the same class maps, over the classes that occur; NaN for none.
    pub miou: f64,
    /// Dataset-level IoU per class, `None` where the class never occurs.
    pub per_class_iou: Vec<Option<f64>>,
    pub images: usize,
}

impl JaccardMean {
    /// # Errors
    /// [`Error::InvalidParameter`] for fewer than 1 or more than 65536 classes.
    pub fn new(classes: usize) -> Result<Self> {
        if classes == 0 || classes > 1 << 16 {
            return Err(Error::InvalidParameter {
                name: "classes",
                expected: "between 1 and 65536",
                got: classes.to_string(),
            });
        }
        Ok(JaccardMean {
            classes,
            sum: 0.0,
            images: 0,
            tp: vec![0; classes],
            fp: vec![0; classes],
            fn_: vec![0; classes],
        })
    }

    /// Adds one image (`gt` and `pred` in the label set's numbering, same pixels); nothing is added
    /// on an error.
    ///
    /// # Errors
    /// As [`image_jaccard`].
    pub fn add(&mut self, gt: &[u16], pred: &[u16]) -> Result<f64> {
        let c = Confusion::of(gt, pred, self.classes)?;
        let defined: Vec<f64> = c.iou().into_iter().flatten().collect();
        let score = defined.iter().sum::<f64>() / defined.len() as f64;
        self.sum += score;
        self.images += 1;
        for k in 0..self.classes {
            self.tp[k] += c.tp[k];
            self.fp[k] += c.fp[k];
            self.fn_[k] += c.fn_[k];
        }
        Ok(score)
    }

    pub fn finish(&self) -> OpenVocabReport {
        let per_class_iou = Confusion {
            tp: self.tp.clone(),
            fp: self.fp.clone(),
            fn_: self.fn_.clone(),
        }
        .iou();
        let defined: Vec<f64> = per_class_iou.iter().flatten().copied().collect();
        let mean = |sum: f64, n: usize| if n == 0 { f64::NAN } else { sum / n as f64 };
        OpenVocabReport {
            mean_image_jaccard: mean(self.sum, self.images),
            miou: mean(defined.iter().sum(), defined.len()),
            per_class_iou,
            images: self.images,
        }
    }
}

impl OpenVocabReport {
    /// `{"mean_image_jaccard", "miou", "per_class_iou", "images"}`; NaN and undefined are `null`.
    pub fn to_json(&self) -> Value {
        let num = |x: f64| if x.is_nan() { Value::Null } else { json!(x) };
        json!({
            "mean_image_jaccard": num(self.mean_image_jaccard),
            "miou": num(self.miou),
            "per_class_iou": self.per_class_iou.iter().map(|c| c.map_or(Value::Null, |x| json!(x))).collect::<Vec<_>>(),
            "images": self.images,
        })
    }
}

#[cfg(all(feature = "model", not(target_arch = "wasm32")))]
pub use job::{run, OpenVocabConfig, OpenVocabJob, OpenVocabOutcome};

#[cfg(all(feature = "model", not(target_arch = "wasm32")))]
mod job {
    use std::path::{Path, PathBuf};

    use serde_json::Value;

    use super::{label_set_order, JaccardMean, OpenVocabReport};
    use crate::eval::datasets::{eval_gt_1024, DatasetKind, Sample, EVAL_IMAGE_SIDE};
    use crate::eval::miou::load_label_png;
    use crate::eval::runner::{
        cache_file_name, cache_folder, cache_name, feature_cache, image_features, load_eval_image, model_dir,
        short_hash, EvalConfig, Opened, Scored,
    };
    use crate::labels::LabelMap;
    use crate::naming::{Classifier, Labels, Namer};
    use crate::segmenter::{Device, FeatureKind, Numbering, Refine};
    use crate::{files, Error, Result};

    /// The CLIP side of an open-vocabulary run.
    #[derive(Clone, Debug)]
    pub struct OpenVocabConfig {
        /// A folder made by `models/convert_clip.py` (its image part and the dataset's label set).
        pub clip: PathBuf,
        /// CLIP's input side; `None`: the protocol's ([`DatasetKind::open_vocab_clip_size`]).
        pub clip_size: Option<u32>,
        /// Where CLIP runs.
        pub clip_device: Device,
    }

    /// One open-vocabulary evaluation, opened once and scored image by image (as
    /// [`crate::eval::runner::EvalJob`] for the unsupervised protocol).
    pub struct OpenVocabJob {
        cfg: EvalConfig,
        opened: Opened,
        namer: Namer,
        classifier: Classifier,
        clip_size: u32,
        cache_dir: Option<PathBuf>,
    }

    /// What an open-vocabulary run measured, with its settings.
    #[derive(Clone, Debug)]
    pub struct OpenVocabOutcome {
        pub dataset: DatasetKind,
        pub features: FeatureKind,
        pub report: OpenVocabReport,
        pub computed: usize,
        pub cached: usize,
        pub note: String,
        pub tau: f64,
        pub alpha: f32,
        pub refine: Refine,
        pub clip_size: u32,
    }

    impl OpenVocabJob {
        /// Opens the dataset, the feature source and CLIP, computes the label set's classifier
        /// and creates the cache folder.
        ///
        /// # Errors
        /// A dataset the protocol does not cover (only VOC, Context and COCO-Object have label
        /// sets), a config without `open_vocab`, and everything [`crate::eval::runner::EvalJob::open`]
        /// refuses; a CLIP folder that does not load; a CLIP size the model cannot tile.
        pub async fn open(cfg: &EvalConfig) -> Result<Self> {
            let ov = cfg.open_vocab.as_ref().ok_or_else(|| Error::InvalidParameter {
                name: "open_vocab",
                expected: "a CLIP folder",
                got: "none".into(),
            })?;
            let set = cfg.dataset.open_vocab_labels().ok_or_else(|| Error::InvalidParameter {
                name: "dataset",
                expected: "voc, context or coco-object (the open-vocabulary protocol's benchmarks)",
                got: cfg.dataset.name().into(),
            })?;
            let clip_size = ov.clip_size.unwrap_or_else(|| cfg.dataset.open_vocab_clip_size());
            let labels = Labels::Set(set);
            let namer = Namer::from_dir_for(&ov.clip, &labels, ov.clip_device)?;
            namer.check_size(clip_size)?;
            let classifier = namer.classifier(&labels).await?;
            if classifier.classes().len() != cfg.dataset.classes() {
                return Err(Error::Eval(format!(
                    "{}: the {} label set has {} classes, the benchmark {}",
                    ov.clip.display(),
                    set.name(),
                    classifier.classes().len(),
                    cfg.dataset.classes()
                )));
            }
            let opened = Opened::open(cfg).await?;
            let name = format!(
                "{}_openvocab-clip{}-S{clip_size}",
                cache_name(cfg, &opened.segmenter, &opened.params),
                clip_tag(&ov.clip)?
            );
            let cache_dir = cache_folder(cfg, name)?;
            Ok(OpenVocabJob {
                cfg: cfg.clone(),
                opened,
                namer,
                classifier,
                clip_size,
                cache_dir,
            })
        }

        pub fn len(&self) -> usize {
            self.opened.samples.len()
        }

        pub fn is_empty(&self) -> bool {
            self.opened.samples.is_empty()
        }

        /// An empty accumulator for this benchmark's classes.
        pub fn accumulator(&self) -> JaccardMean {
            JaccardMean::new(self.cfg.dataset.classes()).expect("a benchmark's classes")
        }

        /// Names image `index`'s segments (or reads its class map from the cache) and adds its
        /// score to `acc`.
        ///
        /// # Errors
        /// As [`crate::eval::runner::EvalJob::score`], and CLIP's errors.
        pub async fn score(&self, index: usize, acc: &mut JaccardMean) -> Result<Scored> {
            let s = self.opened.samples.get(index).ok_or_else(|| Error::InvalidParameter {
                name: "index",
                expected: "an image of the job",
                got: format!("{index} (the job has {} images)", self.len()),
            })?;
            let classes = self.cfg.dataset.classes();
            let (gw, gh, raw_gt) = self.opened.dataset.load_gt(s)?;
            let gt = label_set_order(&eval_gt_1024(&raw_gt, gw, gh), classes);
            let side = EVAL_IMAGE_SIDE;
            let file_name = cache_file_name(s);
            let cache_file = self.cache_dir.as_ref().map(|d| d.join(format!("{file_name}.png")));
            let cached = cache_file.as_deref().and_then(|f| read_cached(f, side, classes));
            let (pred, scored) = match cached {
                Some(p) => (p, Scored::Cached),
                None => {
                    let p = self.predict(s, gw, gh, &file_name).await?;
                    if let Some(f) = &cache_file {
                        files::write(f, &p.to_png()?)?;
                    }
                    let p16 = p.labels().iter().map(|&c| c as u16).collect();
                    (p16, Scored::Computed)
                }
            };
            acc.add(&gt, &pred)
                .map_err(|e| Error::Eval(format!("{}: {e}", s.gt.display())))?;
            Ok(scored)
        }

        /// One image's class map at 1024×1024 in the label set's numbering.
        async fn predict(&self, s: &Sample, gw: u32, gh: u32, file_name: &str) -> Result<LabelMap> {
            let Opened {
                features,
                segmenter,
                params,
                ..
            } = &self.opened;
            let side = EVAL_IMAGE_SIDE as usize;
            let image = load_eval_image(s, gw, gh)?;
            let feature_file = feature_cache(*features, self.cache_dir.as_deref(), file_name);
            let f = image_features(segmenter, &image, feature_file.as_deref()).await?;
            let seg = segmenter.grow(f, params).await?;
            let mut labels = seg.pixel_labels(params.tau, Numbering::Mode, side, side)?;
            if let Some(pamr) = self.cfg.refine.config() {
                labels = segmenter.pamr(&image, &labels, &pamr).await?;
            }
            let naming = self
                .namer
                .name(&image, labels.labels(), [side, side], &self.classifier, self.clip_size)
                .await?;
            LabelMap::new(
                naming.class_map(labels.labels()),
                side,
                side,
                self.classifier.classes().len(),
            )
        }

        pub fn outcome(&self, acc: &JaccardMean, computed: usize, cached: usize) -> OpenVocabOutcome {
            let features = match self.opened.features {
                FeatureKind::Diffusion => format!(
                    "diffusion features of {}",
                    model_dir(&self.cfg).map_or_else(String::new, |d| d.display().to_string())
                ),
                FeatureKind::Color => "colour features (weight-free, not the paper's SSD-1B features)".into(),
            };
            let clip = self.cfg.open_vocab.as_ref().map(|o| o.clip.display().to_string());
            OpenVocabOutcome {
                dataset: self.cfg.dataset,
                features: self.opened.features,
                report: acc.finish(),
                computed,
                cached,
                note: format!("segments: {features}; names: CLIP from {}", clip.unwrap_or_default()),
                tau: self.opened.params.tau,
                alpha: self.opened.params.alpha,
                refine: self.cfg.refine,
                clip_size: self.clip_size,
            }
        }
    }

    /// A cached class map, if it is there, decodes, and has the expected size and classes.
    fn read_cached(f: &Path, side: u32, classes: usize) -> Option<Vec<u16>> {
        match load_label_png(f) {
            Ok((w, h, v)) if w == side && h == side && v.iter().all(|&c| usize::from(c) < classes) => Some(v),
            _ => None,
        }
    }

    /// A short content tag of a CLIP folder, for the cache name.
    fn clip_tag(dir: &Path) -> Result<String> {
        let manifest = crate::model::Manifest::from_json(&files::read(&dir.join("manifest.json"))?)?;
        Ok(short_hash(&manifest))
    }

    /// Runs the open-vocabulary benchmark; `progress(done, total)` after each image.
    ///
    /// # Errors
    /// As [`OpenVocabJob::open`] and [`OpenVocabJob::score`].
    pub async fn run(cfg: &EvalConfig, progress: &mut dyn FnMut(usize, usize)) -> Result<OpenVocabOutcome> {
        let job = OpenVocabJob::open(cfg).await?;
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

    impl OpenVocabOutcome {
        /// The result as a Markdown table beside the listed number, then the settings.
        pub fn summary(&self) -> String {
            let r = &self.report;
            let listed = self
                .dataset
                .listed_open_vocab_miou()
                .map_or_else(|| "—".to_string(), |m| format!("{m:.1}"));
            format!(
                "| Dataset | per-image Jaccard (ours, the official metric) | dataset mIoU (ours) | images | listed for DiffCut |\n\
                 |---|---|---|---|---|\n\
                 | {} | {:.1} | {:.1} | {} | {listed} |\n\n\
                 open vocabulary; {}; τ = {}, α = {}, refine = {}, CLIP at {}²\n\
                 (\"listed\": as secondary sources give the paper's number, not confirmed against the paper)\n\
                 images: {} computed, {} from cache",
                self.dataset.title(),
                100.0 * r.mean_image_jaccard,
                100.0 * r.miou,
                r.images,
                self.note,
                self.tau,
                self.alpha,
                self.refine.name(),
                self.clip_size,
                self.computed,
                self.cached
            )
        }

        /// The report as JSON with the settings.
        pub fn to_json(&self) -> Value {
            let mut j = self.report.to_json();
            if let Some(o) = j.as_object_mut() {
                o.insert("protocol".into(), "open-vocab".into());
                o.insert("dataset".into(), self.dataset.name().into());
                o.insert("features".into(), self.features.name().into());
                o.insert("note".into(), self.note.clone().into());
                let listed = self.dataset.listed_open_vocab_miou().map(|m| m / 100.0);
                o.insert("listed_miou".into(), listed.map_or(Value::Null, Value::from));
                o.insert("tau".into(), self.tau.into());
                o.insert("alpha".into(), f64::from(self.alpha).into());
                o.insert("refine".into(), self.refine.name().into());
                o.insert("clip_size".into(), self.clip_size.into());
                o.insert("computed".into(), self.computed.into());
                o.insert("cached".into(), self.cached.into());
            }
            j
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_absent_from_both_maps_are_left_out() {
        // Class 0: tp 1, fp 1, fn 0 → 1/2; class 1: tp 1, fn 1 → 1/2; class 2 absent.
        let gt = [0, 1, 1];
        let pred = [0, 1, 0];
        assert_eq!(image_jaccard(&gt, &pred, 3).unwrap(), 0.5);
        assert_eq!(image_jaccard(&gt, &pred, 300).unwrap(), 0.5);
    }

    #[test]
    fn the_background_moves_to_the_front() {
        assert_eq!(label_set_order(&[20, 0, 19, 255], 21), vec![0, 1, 20, 0]);
    }

    #[test]
    fn values_outside_the_classes_are_refused() {
        assert!(image_jaccard(&[0, 3], &[0, 0], 3).is_err());
        assert!(image_jaccard(&[0, 1], &[0, 3], 3).is_err());
        assert!(image_jaccard(&[0], &[0, 1], 3).is_err());
        assert!(image_jaccard(&[], &[], 3).is_err());
        let mut acc = JaccardMean::new(3).unwrap();
        assert!(acc.add(&[0, 3], &[0, 0]).is_err());
        assert_eq!(acc.finish().images, 0);
    }
}
