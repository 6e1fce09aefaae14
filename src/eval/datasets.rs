//! Benchmark dataset readers and the per-image evaluation protocol (docs/ALGORITHM.md §6.1, §6.2, §6.4).
//!
//! Each reader lists the samples of one benchmark in its usual on-disk layout and maps the raw
//! ground-truth values to the evaluation classes (`0..classes`, plus an ignore value). Only the
//! partition of the pixels into classes matters for the metric (matching is per image, by
//! Hungarian assignment), so class *order* need not follow the official numbering.
//!
//! | dataset | layout under `--root` | classes | background merge |
//! |---|---|---|---|
//! | `voc` | `[VOCdevkit/]VOC2012/{JPEGImages,SegmentationClass[Aug],ImageSets/Segmentation/val.txt}` | 21 | yes |
//! | `context` | `[VOCdevkit/]VOC2010/JPEGImages` + `annotations_ctx59/val/*.png` or `SegmentationClassContext` | 60 | yes |
//! | `coco-object` | `images/val2017/*.jpg` + `annotations/val2017/*.png` (stuffthingmaps), `--image-list` | 81 | yes |
//! | `coco-stuff` | as `coco-object`, `--class-map` fine→coarse required | 27 | no |
//! | `cityscapes` | `leftImg8bit/val/*/*_leftImg8bit.png` + `gtFine/val/*/*_gtFine_labelIds.png` | 27 | no |
//! | `ade20k` | `[ADEChallengeData2016/]{images,annotations}/validation/` | 150 | no |

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use image::{DynamicImage, ImageReader};

use crate::image_io::{resize_bilinear, RgbImage};
use crate::{Error, Result};

/// The ignore value of every reader's ground truth.
pub const IGNORE: u16 = 255;

/// The six benchmarks of the paper.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
pub enum DatasetKind {
    #[cfg_attr(feature = "cli", value(alias = "voc20"))]
    Voc,
    Context,
    CocoObject,
    CocoStuff,
    Cityscapes,
    Ade20k,
}

impl DatasetKind {
    /// Parses the CLI name (`voc`, `context`, `coco-object`, `coco-stuff`, `cityscapes`, `ade20k`).
    ///
    /// # Errors
    /// [`Error::UnknownChoice`] listing the names.
    pub fn parse(s: &str) -> Result<Self> {
        <Self as crate::choice::Choice>::parse(s)
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Voc => "voc",
            Self::Context => "context",
            Self::CocoObject => "coco-object",
            Self::CocoStuff => "coco-stuff",
            Self::Cityscapes => "cityscapes",
            Self::Ade20k => "ade20k",
        }
    }

    /// Human-readable benchmark name, as in the paper's table.
    pub fn title(self) -> &'static str {
        match self {
            Self::Voc => "VOC (20+bg)",
            Self::Context => "Context (59+bg)",
            Self::CocoObject => "COCO-Object (80+bg)",
            Self::CocoStuff => "COCO-Stuff-27",
            Self::Cityscapes => "Cityscapes-27",
            Self::Ade20k => "ADE20K-150",
        }
    }

    /// Number of evaluation classes (including the background class where it is merged).
    pub fn classes(self) -> usize {
        match self {
            Self::Voc => 21,
            Self::Context => 60,
            Self::CocoObject => 81,
            Self::CocoStuff | Self::Cityscapes => 27,
            Self::Ade20k => 150,
        }
    }

    /// The label set of the open-vocabulary protocol (docs/ALGORITHM.md §7.4), for the three
    /// benchmarks the official code evaluates that way: VOC20, Context-59 and COCO-Object.
    #[cfg(feature = "model")]
    pub fn open_vocab_labels(self) -> Option<crate::naming::LabelSet> {
        use crate::naming::LabelSet;
        match self {
            Self::Voc => Some(LabelSet::Voc),
            Self::Context => Some(LabelSet::Context),
            Self::CocoObject => Some(LabelSet::CocoObject),
            Self::CocoStuff | Self::Cityscapes | Self::Ade20k => None,
        }
    }

    /// CLIP's input side in the open-vocabulary protocol: the 1024² evaluation image, upsampled to
    /// 2048² for COCO-Object (`eval_diffcut_openvoc.py:104-105`).
    pub fn open_vocab_clip_size(self) -> u32 {
        match self {
            Self::CocoObject => 2048,
            _ => EVAL_IMAGE_SIDE,
        }
    }

    /// The open-vocabulary mIoU listed for DiffCut, in percent, where one is listed: VOC 63.0 and
    /// Context 24.6 as secondary sources give them (not confirmed against the paper's table).
    pub fn listed_open_vocab_miou(self) -> Option<f64> {
        match self {
            Self::Voc => Some(63.0),
            Self::Context => Some(24.6),
            _ => None,
        }
    }

    /// Whether the background merge of docs/ALGORITHM.md §6.4 applies (the background is class `classes − 1`).
    pub fn background_merge(self) -> bool {
        matches!(self, Self::Voc | Self::Context | Self::CocoObject)
    }

    /// The paper's DiffCut mIoU (SSD-1B, τ = 0.5, α = 10, PAMR; docs/ALGORITHM.md §6.7), in percent.
    pub fn paper_miou(self) -> f64 {
        match self {
            Self::Voc => 65.2,
            Self::Context => 56.5,
            Self::CocoObject => 34.1,
            Self::CocoStuff => 49.1,
            Self::Cityscapes => 30.6,
            Self::Ade20k => 44.3,
        }
    }
}

/// What a reader needs beyond the root folder.
#[derive(Clone, Debug, Default)]
pub struct DatasetOptions {
    /// A raw-value → class map (`--class-map`): required for COCO-Stuff-27, optional for
    /// COCO-Object and Cityscapes (overrides the built-in map).
    pub class_map: Option<PathBuf>,
    /// The image list (`--image-list`): required for the COCO benchmarks (the 2175-image
    /// `Coco164kFull_Stuff_Coarse_7.txt`); optional for the others (replaces the split list).
    pub image_list: Option<PathBuf>,
}

/// One image and its ground truth.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sample {
    pub name: String,
    pub image: PathBuf,
    pub gt: PathBuf,
}

/// How the ground truth is decoded.
#[derive(Clone, Debug)]
enum GtDecode {
    /// Grey value → class via the table (values beyond the table → `fallback`).
    Table { table: Vec<u16>, fallback: u16 },
    /// Grey PNG through the table, or a VOC-palette colour PNG decoded to palette indices first.
    VocTable { table: Vec<u16>, fallback: u16 },
}

/// A benchmark on disk: its samples, classes and ground-truth decoding.
#[derive(Clone, Debug)]
pub struct Dataset {
    pub kind: DatasetKind,
    pub samples: Vec<Sample>,
    decode: GtDecode,
}

/// An 8-bit GT value table: raw values `first .. first + classes` become classes `0..classes`,
/// every other value becomes `fill` (background or ignore).
fn shifted_table(first: u16, classes: u16, fill: u16) -> Vec<u16> {
    let mut table = vec![fill; 256];
    for class in 0..classes {
        table[usize::from(first + class)] = class;
    }
    table
}

fn missing(path: &Path, what: &str) -> Error {
    Error::Eval(format!("{}: {what} not found", path.display()))
}

fn require_dir(path: &Path, what: &str) -> Result<()> {
    if path.is_dir() {
        Ok(())
    } else {
        Err(missing(path, what))
    }
}

fn require_file(path: &Path, what: &str) -> Result<()> {
    if path.is_file() {
        Ok(())
    } else {
        Err(missing(path, what))
    }
}

fn read_text(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|e| Error::io(path, e))
}

/// Names from a list file: one per line, blank lines and `#` comments skipped; a path or a file
/// name is reduced to its stem (`val2017/000000000139.jpg` → `000000000139`).
pub fn read_list(path: &Path) -> Result<Vec<String>> {
    let text = read_text(path)?;
    let names: Vec<String> = text
        .lines()
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .filter(|l| !l.is_empty())
        .map(|l| {
            let first = l.split_whitespace().next().unwrap_or(l);
            Path::new(first)
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| first.to_string())
        })
        .collect();
    if names.is_empty() {
        return Err(Error::Eval(format!("{}: the image list is empty", path.display())));
    }
    Ok(names)
}

/// Reads a class map: lines `RAW CLASS` (separated by whitespace, `,`, `:` or `->`; `#` comments),
/// or a JSON object `{"RAW": CLASS, ...}`. `CLASS` may be `-1` or `255` for "ignore / background".
pub fn read_class_map(path: &Path) -> Result<Vec<(u16, i32)>> {
    let text = read_text(path)?;
    let bad = |line: usize, l: &str| {
        Error::Eval(format!(
            "{}:{line}: expected `RAW CLASS` (e.g. `12 3`) or a JSON object, got {l:?}",
            path.display()
        ))
    };
    let mut out = Vec::new();
    if text.trim_start().starts_with('{') {
        let v: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| Error::Eval(format!("{}: invalid JSON class map: {e}", path.display())))?;
        let obj = v.as_object().ok_or_else(|| bad(1, "not an object"))?;
        for (k, v) in obj {
            let raw: u16 = k.trim().parse().map_err(|_| bad(1, k))?;
            let class = v.as_i64().ok_or_else(|| bad(1, &v.to_string()))?;
            out.push((raw, class as i32));
        }
    } else {
        for (i, line) in text.lines().enumerate() {
            let l = line.split('#').next().unwrap_or("").trim();
            if l.is_empty() {
                continue;
            }
            let l2 = l.replace("->", " ").replace([',', ':'], " ");
            let parts: Vec<&str> = l2.split_whitespace().collect();
            if parts.len() != 2 {
                return Err(bad(i + 1, l));
            }
            let raw: u16 = parts[0].parse().map_err(|_| bad(i + 1, l))?;
            let class: i32 = parts[1].parse().map_err(|_| bad(i + 1, l))?;
            out.push((raw, class));
        }
    }
    if out.is_empty() {
        return Err(Error::Eval(format!("{}: the class map is empty", path.display())));
    }
    Ok(out)
}

/// A lookup table `raw → class` from map entries; classes outside `0..classes` (e.g. −1, 255)
/// become `unmapped`.
fn table_from_map(path: &Path, entries: &[(u16, i32)], classes: usize, unmapped: u16) -> Result<Vec<u16>> {
    let max_raw = entries.iter().map(|e| e.0).max().unwrap_or(0) as usize;
    let mut table = vec![unmapped; max_raw + 1];
    let mut seen = vec![false; classes];
    for &(raw, class) in entries {
        if class >= 0 && (class as usize) < classes {
            table[raw as usize] = class as u16;
            seen[class as usize] = true;
        } else if class != -1 && class != i32::from(IGNORE) {
            return Err(Error::Eval(format!(
                "{}: class {class} for raw value {raw} is outside 0..{classes} (use -1 or 255 for ignore/background)",
                path.display()
            )));
        }
    }
    if seen.iter().any(|s| !s) {
        let n = seen.iter().filter(|s| !**s).count();
        eprintln!(
            "note: {}: {n} of the {classes} classes receive no raw value",
            path.display()
        );
    }
    Ok(table)
}

/// Public COCO thing category ids (1-based) that are unused: 80 things among 1..=90.
const COCO_UNUSED_THING_IDS: [u16; 10] = [12, 26, 29, 30, 45, 66, 68, 69, 71, 83];

/// COCO-Object built-in map over stuffthingmaps values (0-based: value = category id − 1):
/// the 80 thing categories → 0..79 in id order, everything else (stuff ≥ 91, unlabeled 255) → the
/// background class 80.
fn coco_object_table() -> Vec<u16> {
    let mut table = vec![80u16; 256];
    let mut next = 0u16;
    for id in 1..=90u16 {
        if !COCO_UNUSED_THING_IDS.contains(&id) {
            table[(id - 1) as usize] = next;
            next += 1;
        }
    }
    debug_assert_eq!(next, 80);
    table
}

/// Cityscapes-27 built-in map from the public label definitions (`cityscapesscripts/helpers/
/// labels.py`): the 27 non-void labelIds 7 (road) … 33 (bicycle) → 0..26; the void ids 0..6 and
/// the license plate (−1, stored as 255 or absent) → ignore.
fn cityscapes_table() -> Vec<u16> {
    shifted_table(7, 27, IGNORE)
}

/// The VOC colour map (`VOCdevkit/VOCcode/VOClabelcolormap.m`): index → RGB.
pub fn voc_color(index: u8) -> [u8; 3] {
    let (mut r, mut g, mut b) = (0u8, 0u8, 0u8);
    let mut c = index;
    for j in 0..8 {
        r |= ((c) & 1) << (7 - j);
        g |= ((c >> 1) & 1) << (7 - j);
        b |= ((c >> 2) & 1) << (7 - j);
        c >>= 3;
    }
    [r, g, b]
}

fn first_dir(cands: &[PathBuf]) -> Option<PathBuf> {
    cands.iter().find(|p| p.is_dir()).cloned()
}

fn sorted_files(dir: &Path, suffix: &str) -> Result<Vec<PathBuf>> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| Error::io(dir, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.is_file()
                && p.file_name()
                    .map(|n| n.to_string_lossy().ends_with(suffix))
                    .unwrap_or(false)
        })
        .collect();
    v.sort();
    Ok(v)
}

fn stem(p: &Path) -> String {
    p.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Samples for `names` in `images/` + `gts/` with the given extensions; the image must exist (its
/// absence is an error naming it); the ground truth is checked when read.
fn samples_from_names(names: &[String], images: &Path, img_ext: &str, gts: &Path, gt_ext: &str) -> Result<Vec<Sample>> {
    names
        .iter()
        .map(|n| {
            let image = images.join(format!("{n}{img_ext}"));
            require_file(&image, "image")?;
            Ok(Sample {
                name: n.clone(),
                image,
                gt: gts.join(format!("{n}{gt_ext}")),
            })
        })
        .collect()
}

impl Dataset {
    /// Lists a benchmark under `root` (see the module table for the layouts).
    ///
    /// # Errors
    /// [`Error::Eval`] naming the missing folder or file (or the option that must be given);
    /// [`Error::Io`] for unreadable list or map files.
    pub fn open(kind: DatasetKind, root: &Path, opts: &DatasetOptions) -> Result<Self> {
        require_dir(root, "dataset root")?;
        match kind {
            DatasetKind::Voc => Self::open_voc(root, opts),
            DatasetKind::Context => Self::open_context(root, opts),
            DatasetKind::CocoObject | DatasetKind::CocoStuff => Self::open_coco(kind, root, opts),
            DatasetKind::Cityscapes => Self::open_cityscapes(root, opts),
            DatasetKind::Ade20k => Self::open_ade(root, opts),
        }
    }

    fn open_voc(root: &Path, opts: &DatasetOptions) -> Result<Self> {
        let base = first_dir(&[root.join("VOCdevkit/VOC2012"), root.join("VOC2012"), root.to_path_buf()])
            .expect("root is a dir");
        let images = base.join("JPEGImages");
        require_dir(&images, "VOC JPEGImages folder")?;
        let gts = first_dir(&[base.join("SegmentationClass"), base.join("SegmentationClassAug")]).ok_or_else(|| {
            missing(
                &base.join("SegmentationClass"),
                "VOC annotation folder (SegmentationClass or SegmentationClassAug)",
            )
        })?;
        let list = match &opts.image_list {
            Some(l) => l.clone(),
            None => base.join("ImageSets/Segmentation/val.txt"),
        };
        require_file(&list, "VOC split list")?;
        let names = read_list(&list)?;
        // §6.1: 1..20 → 0..19; background 0 and void 255 → the background class 20.
        let table = shifted_table(1, 20, 20);
        Ok(Dataset {
            kind: DatasetKind::Voc,
            samples: samples_from_names(&names, &images, ".jpg", &gts, ".png")?,
            decode: GtDecode::VocTable { table, fallback: 20 },
        })
    }

    fn open_context(root: &Path, opts: &DatasetOptions) -> Result<Self> {
        let base = first_dir(&[root.join("VOCdevkit/VOC2010"), root.join("VOC2010"), root.to_path_buf()])
            .expect("root is a dir");
        let images = base.join("JPEGImages");
        require_dir(&images, "Pascal Context JPEGImages folder")?;
        let ctx59 = base.join("annotations_ctx59/val");
        let mmseg = base.join("SegmentationClassContext");
        if ctx59.is_dir() {
            // detectron2-style prepared annotations: 0..58 = classes, 255 = background → 59.
            let names = match &opts.image_list {
                Some(l) => read_list(l)?,
                None => sorted_files(&ctx59, ".png")?.iter().map(|p| stem(p)).collect(),
            };
            if names.is_empty() {
                return Err(Error::Eval(format!("{}: no annotation PNGs", ctx59.display())));
            }
            let table = shifted_table(0, 59, 59);
            Ok(Dataset {
                kind: DatasetKind::Context,
                samples: samples_from_names(&names, &images, ".jpg", &ctx59, ".png")?,
                decode: GtDecode::Table { table, fallback: 59 },
            })
        } else if mmseg.is_dir() {
            // mmsegmentation layout: 0 = background, 1..59 = classes, 255 → background.
            let list = match &opts.image_list {
                Some(l) => l.clone(),
                None => base.join("ImageSets/SegmentationContext/val.txt"),
            };
            require_file(&list, "Pascal Context split list")?;
            let names = read_list(&list)?;
            let table = shifted_table(1, 59, 59);
            Ok(Dataset {
                kind: DatasetKind::Context,
                samples: samples_from_names(&names, &images, ".jpg", &mmseg, ".png")?,
                decode: GtDecode::Table { table, fallback: 59 },
            })
        } else {
            Err(Error::Eval(format!(
                "{} (or {}): Pascal Context 59-class annotations not found; the raw 459-class .mat files are not \
                 read, convert them first (detectron2's prepare_pascal_context.py or mmsegmentation's pascal_context.py)",
                ctx59.display(),
                mmseg.display()
            )))
        }
    }

    fn open_coco(kind: DatasetKind, root: &Path, opts: &DatasetOptions) -> Result<Self> {
        let images = first_dir(&[root.join("images/val2017"), root.join("val2017")])
            .ok_or_else(|| missing(&root.join("images/val2017"), "COCO val2017 image folder"))?;
        let gts = first_dir(&[
            root.join("annotations/val2017"),
            root.join("stuffthingmaps_trainval2017/val2017"),
        ])
        .ok_or_else(|| {
            missing(
                &root.join("annotations/val2017"),
                "COCO-Stuff stuffthingmaps val2017 folder",
            )
        })?;
        let list = opts.image_list.as_ref().ok_or_else(|| {
            Error::Eval(format!(
                "{}: --image-list FILE is required (the 2175-image COCO val2017 subset, Coco164kFull_Stuff_Coarse_7.txt \
                 from PiCIE/STEGO; it is not downloaded)",
                kind.name()
            ))
        })?;
        let names = read_list(list)?;
        let decode = match kind {
            DatasetKind::CocoStuff => {
                let map = opts.class_map.as_ref().ok_or_else(|| {
                    Error::Eval(
                        "coco-stuff: --class-map FILE is required: the fine (0..181) → coarse (0..26) map of \
                         PiCIE/STEGO as `FINE COARSE` lines; it is not written in code because it cannot be \
                         reproduced reliably from memory"
                            .into(),
                    )
                })?;
                let table = table_from_map(map, &read_class_map(map)?, 27, IGNORE)?;
                GtDecode::Table {
                    table,
                    fallback: IGNORE,
                }
            }
            _ => match &opts.class_map {
                Some(map) => {
                    let table = table_from_map(map, &read_class_map(map)?, 81, 80)?;
                    GtDecode::Table { table, fallback: 80 }
                }
                None => GtDecode::Table {
                    table: coco_object_table(),
                    fallback: 80,
                },
            },
        };
        Ok(Dataset {
            kind,
            samples: samples_from_names(&names, &images, ".jpg", &gts, ".png")?,
            decode,
        })
    }

    fn open_cityscapes(root: &Path, opts: &DatasetOptions) -> Result<Self> {
        let images = root.join("leftImg8bit/val");
        require_dir(&images, "Cityscapes leftImg8bit/val folder")?;
        let gts = root.join("gtFine/val");
        require_dir(&gts, "Cityscapes gtFine/val folder")?;
        let filter: Option<Vec<String>> = match &opts.image_list {
            Some(l) => Some(read_list(l)?),
            None => None,
        };
        let mut cities: Vec<PathBuf> = std::fs::read_dir(&images)
            .map_err(|e| Error::io(&images, e))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_dir())
            .collect();
        cities.sort();
        let mut samples = Vec::new();
        for city in cities {
            let city_name = city.file_name().expect("dir").to_string_lossy().into_owned();
            for img in sorted_files(&city, "_leftImg8bit.png")? {
                let file = img.file_name().expect("file").to_string_lossy().into_owned();
                let name = file.trim_end_matches("_leftImg8bit.png").to_string();
                if let Some(f) = &filter {
                    if !f
                        .iter()
                        .any(|n| n == &name || n.trim_end_matches("_leftImg8bit") == name)
                    {
                        continue;
                    }
                }
                let gt = gts.join(&city_name).join(format!("{name}_gtFine_labelIds.png"));
                samples.push(Sample { name, image: img, gt });
            }
        }
        if samples.is_empty() {
            return Err(Error::Eval(format!(
                "{}: no */*_leftImg8bit.png images",
                images.display()
            )));
        }
        let decode = match &opts.class_map {
            Some(map) => GtDecode::Table {
                table: table_from_map(map, &read_class_map(map)?, 27, IGNORE)?,
                fallback: IGNORE,
            },
            None => GtDecode::Table {
                table: cityscapes_table(),
                fallback: IGNORE,
            },
        };
        Ok(Dataset {
            kind: DatasetKind::Cityscapes,
            samples,
            decode,
        })
    }

    fn open_ade(root: &Path, opts: &DatasetOptions) -> Result<Self> {
        let base = first_dir(&[root.join("ADEChallengeData2016"), root.to_path_buf()]).expect("root is a dir");
        let images = base.join("images/validation");
        require_dir(&images, "ADE20K images/validation folder")?;
        let gts = base.join("annotations/validation");
        require_dir(&gts, "ADE20K annotations/validation folder")?;
        let names: Vec<String> = match &opts.image_list {
            Some(l) => read_list(l)?,
            None => sorted_files(&images, ".jpg")?.iter().map(|p| stem(p)).collect(),
        };
        if names.is_empty() {
            return Err(Error::Eval(format!("{}: no .jpg images", images.display())));
        }
        // 0 = "other" → ignore; 1..150 → 0..149.
        let table = shifted_table(1, 150, IGNORE);
        Ok(Dataset {
            kind: DatasetKind::Ade20k,
            samples: samples_from_names(&names, &images, ".jpg", &gts, ".png")?,
            decode: GtDecode::Table {
                table,
                fallback: IGNORE,
            },
        })
    }

    /// Number of classes (see [`DatasetKind::classes`]).
    pub fn classes(&self) -> usize {
        self.kind.classes()
    }

    /// The evaluation protocol: classes, ignore value 255, the background merge where it applies.
    pub fn protocol(&self) -> crate::eval::Protocol {
        crate::eval::Protocol {
            classes: self.classes(),
            ignore: Some(IGNORE),
            background_merge: self.kind.background_merge(),
        }
    }

    /// Reads a sample's ground truth as classes `0..classes` or [`IGNORE`]: `(width, height, labels)`.
    ///
    /// # Errors
    /// [`Error::Eval`] naming the file when it is missing; [`Error::ImageDecode`] naming it when it
    /// is not a label image this reader understands.
    pub fn load_gt(&self, sample: &Sample) -> Result<(u32, u32, Vec<u16>)> {
        require_file(&sample.gt, "ground-truth annotation")?;
        let bad = |m: String| Error::ImageDecode(format!("{}: {m}", sample.gt.display()));
        let img = ImageReader::open(&sample.gt)
            .map_err(|e| Error::io(&sample.gt, e))?
            .with_guessed_format()
            .map_err(|e| Error::io(&sample.gt, e))?
            .decode()
            .map_err(|e| bad(e.to_string()))?;
        let (w, h) = (img.width(), img.height());
        let (table, fallback, voc) = match &self.decode {
            GtDecode::Table { table, fallback } => (table, *fallback, false),
            GtDecode::VocTable { table, fallback } => (table, *fallback, true),
        };
        let map = |v: u16| table.get(usize::from(v)).copied().unwrap_or(fallback);
        let raw: Vec<u16> = match img {
            DynamicImage::ImageLuma8(g) => g.into_raw().into_iter().map(u16::from).collect(),
            DynamicImage::ImageLuma16(g) => g.into_raw(),
            other if voc => {
                // A palette PNG decodes to RGB: invert the VOC colour map.
                let inv: HashMap<[u8; 3], u16> = (0..=255u8).map(|i| (voc_color(i), u16::from(i))).collect();
                let rgb = other.to_rgb8();
                let mut out = Vec::with_capacity((w * h) as usize);
                for p in rgb.pixels() {
                    out.push(
                        *inv.get(&p.0)
                            .ok_or_else(|| bad(format!("colour {:?} is not in the VOC colour map", p.0)))?,
                    );
                }
                out
            }
            other => {
                return Err(bad(format!(
                    "a label map must be a greyscale PNG, this decodes as {:?}",
                    other.color()
                )))
            }
        };
        Ok((w, h, raw.into_iter().map(map).collect()))
    }
}

/// Python's `round` (half to even) of `x / 2` for a non-negative integer `x`.
fn half_round_even(x: u32) -> u32 {
    let q = x / 2;
    if x % 2 == 1 && q % 2 == 1 {
        q + 1
    } else {
        q
    }
}

/// The official loader's centre crop (torchvision `CenterCrop(min(H, W) − 1)`): `(left, top, side)`.
pub fn center_crop_box(width: u32, height: u32) -> (u32, u32, u32) {
    let side = width.min(height).saturating_sub(1).max(1);
    (half_round_even(width - side), half_round_even(height - side), side)
}

/// Crops an RGB image to the official square.
pub fn center_crop_rgb(img: &RgbImage) -> RgbImage {
    let (l, t, s) = center_crop_box(img.width(), img.height());
    image::imageops::crop_imm(img, l, t, s, s).to_image()
}

/// Crops a label map `[h, w]` to the official square: `(side, labels)`.
pub fn center_crop_labels(labels: &[u16], width: u32, height: u32) -> (u32, Vec<u16>) {
    let (l, t, s) = center_crop_box(width, height);
    let mut out = Vec::with_capacity((s * s) as usize);
    for y in t..t + s {
        let row = (y * width) as usize;
        out.extend_from_slice(&labels[row + l as usize..row + (l + s) as usize]);
    }
    (s, out)
}

/// torch `F.interpolate(mode="nearest")`: `src = min(floor(dst · in / out), in − 1)`.
pub fn resize_nearest<T: Copy>(labels: &[T], w: usize, h: usize, out_w: usize, out_h: usize) -> Vec<T> {
    let sx = w as f32 / out_w as f32;
    let sy = h as f32 / out_h as f32;
    let xs: Vec<usize> = (0..out_w).map(|x| ((x as f32 * sx) as usize).min(w - 1)).collect();
    let mut out = Vec::with_capacity(out_w * out_h);
    for y in 0..out_h {
        let yy = ((y as f32 * sy) as usize).min(h - 1);
        out.extend(xs.iter().map(|&x| labels[yy * w + x]));
    }
    out
}

/// Image side fed to the feature extractor (docs/ALGORITHM.md §6.2).
pub const EVAL_IMAGE_SIDE: u32 = 1024;
/// Side of predictions and metrics (docs/ALGORITHM.md §6.2).
pub const EVAL_MASK_SIDE: usize = 128;

/// The ground truth as evaluated: centre-cropped, nearest-resized to 1024, then to 128×128.
pub fn eval_gt(labels: &[u16], width: u32, height: u32) -> Vec<u16> {
    let big = EVAL_IMAGE_SIDE as usize;
    resize_nearest(
        &eval_gt_1024(labels, width, height),
        big,
        big,
        EVAL_MASK_SIDE,
        EVAL_MASK_SIDE,
    )
}

/// The ground truth at the evaluation image's size: centre-cropped, nearest-resized to 1024×1024
/// (the open-vocabulary protocol scores there).
pub fn eval_gt_1024(labels: &[u16], width: u32, height: u32) -> Vec<u16> {
    let (s, crop) = center_crop_labels(labels, width, height);
    let big = EVAL_IMAGE_SIDE as usize;
    resize_nearest(&crop, s as usize, s as usize, big, big)
}

/// The image as evaluated: centre-cropped and bilinearly resized to 1024×1024.
pub fn eval_image(img: &RgbImage) -> RgbImage {
    resize_bilinear(&center_crop_rgb(img), EVAL_IMAGE_SIDE, EVAL_IMAGE_SIDE)
}

/// docs/ALGORITHM.md §6.4 steps 1–2 (before PAMR): [`crate::eval::miou::merge_unmatched`], then the labels
/// renumbered `0..k` by first appearance. Returns them and `k`.
///
/// # Errors
/// As [`crate::eval::miou::merge_unmatched`].
pub fn merge_background(gt: &[u16], pred: &[u32], classes: usize) -> Result<(Vec<u32>, usize)> {
    Ok(renumber(&crate::eval::miou::merge_unmatched(gt, pred, classes)?))
}

/// Renumbers labels to `0..k` in order of first appearance: `(labels, k)`.
pub fn renumber(labels: &[u32]) -> (Vec<u32>, usize) {
    let mut ids: HashMap<u32, u32> = HashMap::new();
    let out = labels
        .iter()
        .map(|&l| {
            let n = ids.len() as u32;
            *ids.entry(l).or_insert(n)
        })
        .collect();
    (out, ids.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crop_matches_torchvision_rounding() {
        // torchvision: top = int(round((h - side) / 2)), Python rounds half to even.
        assert_eq!(center_crop_box(40, 30), (6, 0, 29)); // (40-29)/2 = 5.5 → 6
        assert_eq!(center_crop_box(30, 40), (0, 6, 29));
        assert_eq!(center_crop_box(500, 375), (63, 0, 374)); // 126/2 = 63
        assert_eq!(center_crop_box(10, 10), (0, 0, 9)); // 1/2 = 0.5 → 0
        assert_eq!(center_crop_box(12, 10), (2, 0, 9)); // 3/2 = 1.5 → 2
    }

    #[test]
    fn nearest_follows_torch() {
        let v: Vec<u16> = (0..4).collect();
        assert_eq!(resize_nearest(&v, 4, 1, 8, 1), vec![0, 0, 1, 1, 2, 2, 3, 3]);
        assert_eq!(resize_nearest(&v, 4, 1, 2, 1), vec![0, 2]);
    }

    #[test]
    fn voc_colormap_known_colours() {
        assert_eq!(voc_color(0), [0, 0, 0]);
        assert_eq!(voc_color(1), [128, 0, 0]);
        assert_eq!(voc_color(15), [192, 128, 128]);
        assert_eq!(voc_color(255), [224, 224, 192]);
    }

    #[test]
    fn builtin_maps() {
        let t = coco_object_table();
        assert_eq!(t[0], 0); // person
        assert_eq!(t[11], 80); // unused id 12
        assert_eq!(t[89], 79); // toothbrush (id 90)
        assert_eq!(t[91], 80); // stuff → background
        assert_eq!(t[255], 80);
        let c = cityscapes_table();
        assert_eq!((c[7], c[33], c[6], c[0]), (0, 26, IGNORE, IGNORE));
    }

    #[test]
    fn merge_keeps_matched_clusters_only() {
        // 3 classes: objects 0, 1; background 2. Clusters: 0 on class 0, 1 and 2 on background.
        let gt = [0u16, 0, 2, 2, 2, 255];
        let pred = [0u32, 0, 1, 2, 2, 1];
        let (m, k) = merge_background(&gt, &pred, 3).unwrap();
        assert_eq!(k, 2);
        assert_eq!(m, vec![0, 0, 1, 1, 1, 1]);
    }
}
