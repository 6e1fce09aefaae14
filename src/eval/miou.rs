//! mIoU and pixel accuracy with per-image Hungarian matching: the official DiffCut protocol
//! (`tools/utils.py:34-57` and `eval_diffcut.py:126-148`, docs/ALGORITHM.md §6.3-§6.4).
//!
//! # Protocol (docs/ALGORITHM.md §6.3)
//! For every image, over its *valid* pixels (ground truth `< classes`; the ignore value is left
//! out):
//! 1. `hist[gt, pred]`, `classes` rows and `max(classes, max(pred) + 1)` columns, where `max(pred)`
//!    runs over **all** pixels of the prediction, ignored ones included (as `_fast_hist` does);
//! 2. `linear_sum_assignment(hist, maximize=True)` (a port of SciPy's solver, see [`super::lsap`]:
//!    its tie-breaking decides the numbers, so it matters);
//! 3. per class `c` matched to column `j`: `TP_c += hist[c, j]`, `FN_c += Σ_j' hist[c, j'] − hist[c, j]`,
//!    `FP_c += Σ_c' hist[c', j] − hist[c, j]`. A predicted cluster left unmatched therefore adds to
//!    the FN of the classes it covers and to nobody's FP.
//!
//! At the end `IoU_c = TP_c / (TP_c + FP_c + FN_c)` (undefined, `None`, when the denominator is
//! 0), `mIoU` = mean of the defined IoUs (`np.nanmean`), pixel accuracy = `ΣTP / valid pixels`.
//!
//! # Background merge (docs/ALGORITHM.md §6.4, VOC / Context / COCO-Object), [`Protocol::background_merge`]
//! The last class, `classes − 1`, is the background. Before the final matching above, each image's
//! prediction is rewritten as the official code does: match on the object classes only
//! (`classes − 1` rows; background and ignored pixels left out), keep the predicted clusters that
//! are the match of an object row with some pixel in a matched column (`hist[:, col_ind].max(1) > 0`),
//! and merge every other cluster into one new label `max(pred) + 1`.
//!
//! # Segment numbering matters
//! The protocol is not invariant to renaming predicted segments: the row of a class absent from
//! an image takes whichever left-over column SciPy's tie-breaking reaches (in practice the lowest
//! unmatched id), so with more segments than present classes an absent class may collect a real
//! segment's pixels as false positives. On the committed fixture, renumbering the same predictions
//! `0..k` instead of from 7 moves mIoU from 0.561 to 0.478 (a class that never occurs goes from
//! NaN to 0); pixel accuracy does not change. Numbers are comparable with the official ones only
//! for predictions numbered as the official code numbers them.
//!
//! # Deviations (stricter, never different numbers)
//! - A ground-truth value that is neither a class nor the ignore value is an error; the official
//!   code silently leaves it out like the ignore value.
//! - The ignore value must not be a class (`ignore ≥ classes`), so "ignored" is never ambiguous.

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::io::Cursor;
use std::path::{Path, PathBuf};

use image::{ColorType, DynamicImage, ImageDecoder, ImageFormat, ImageReader, Limits};
use serde_json::{json, Value};

use super::lsap;
use crate::image_io::{MAX_PIXELS, MAX_SIDE};
use crate::{Error, Result};

/// Most histogram cells (`rows × columns`) one image may need: 2²⁶ cells of 8 bytes = 512 MiB.
/// Only predictions with huge segment ids and many classes come near it (e.g. ADE20K's 150 classes
/// and an id of 65535 need 9.8 M cells).
pub const MAX_HIST_CELLS: usize = 1 << 26;

/// What to evaluate: the number of classes, the ignore value, and whether to apply the official
/// background merge (docs/ALGORITHM.md §6.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Protocol {
    /// Ground-truth classes are `0..classes` (1 to 65536).
    pub classes: usize,
    /// Ground-truth value to leave out (e.g. 255); must be `≥ classes`.
    pub ignore: Option<u16>,
    /// docs/ALGORITHM.md §6.4: class `classes − 1` is the background, and predicted clusters not matched to an
    /// object class are merged before the final matching. Needs `classes ≥ 2`.
    pub background_merge: bool,
}

impl Protocol {
    /// The plain protocol of docs/ALGORITHM.md §6.3 (no background merge).
    pub fn new(classes: usize, ignore: Option<u16>) -> Self {
        Protocol {
            classes,
            ignore,
            background_merge: false,
        }
    }

    /// Checks the parameters.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] for `classes` outside `1..=65536` (`2..=65536` with the background
    /// merge) or an ignore value `< classes`.
    pub fn validate(&self) -> Result<()> {
        let min = if self.background_merge { 2 } else { 1 };
        if self.classes < min || self.classes > 1 << 16 {
            return Err(Error::InvalidParameter {
                name: "classes",
                expected: if self.background_merge {
                    "between 2 and 65536 with the background merge (the last class is the background)"
                } else {
                    "between 1 and 65536 (ground-truth labels are 8- or 16-bit)"
                },
                got: self.classes.to_string(),
            });
        }
        if let Some(ig) = self.ignore {
            if usize::from(ig) < self.classes {
                return Err(Error::InvalidParameter {
                    name: "ignore",
                    expected: "a value that is not a class (≥ classes)",
                    got: format!("{ig} with classes = {}", self.classes),
                });
            }
        }
        Ok(())
    }

    /// The first ground-truth pixel that is neither a class nor the ignore value, as
    /// `(index, value)`.
    pub fn first_invalid_gt(&self, gt: &[u16]) -> Option<(usize, u16)> {
        gt.iter()
            .position(|&g| usize::from(g) >= self.classes && Some(g) != self.ignore)
            .map(|i| (i, gt[i]))
    }

    fn describe_ignore(&self) -> String {
        match self.ignore {
            Some(ig) => format!("the ignore value ({ig})"),
            None => "an ignore value (none is set)".into(),
        }
    }
}

/// The result of an evaluation.
#[derive(Clone, Debug, PartialEq)]
pub struct MiouReport {
    /// Mean IoU over the classes whose IoU is defined, in `0..=1`; NaN when none is.
    pub miou: f64,
    /// `ΣTP / pixels`, in `0..=1`; NaN when there are no valid pixels.
    pub pixel_accuracy: f64,
    /// IoU per class; `None` where `TP + FP + FN = 0` (NaN in the official code).
    pub per_class_iou: Vec<Option<f64>>,
    /// Images evaluated.
    pub images: usize,
    /// Valid pixels (ground truth not ignored), the denominator of the pixel accuracy.
    pub pixels: u64,
    /// Accumulated true positives per class.
    pub true_positives: Vec<u64>,
    /// Accumulated false positives per class.
    pub false_positives: Vec<u64>,
    /// Accumulated false negatives per class.
    pub false_negatives: Vec<u64>,
}

impl MiouReport {
    /// `{"miou", "pixel_accuracy", "per_class_iou", "images"}`; NaN and undefined values are
    /// `null`. Write it with `serde_json::to_string_pretty`.
    pub fn to_json(&self) -> Value {
        let num = |x: f64| if x.is_nan() { Value::Null } else { json!(x) };
        json!({
            "miou": num(self.miou),
            "pixel_accuracy": num(self.pixel_accuracy),
            "per_class_iou": self.per_class_iou.iter().map(|c| c.map_or(Value::Null, |x| json!(x))).collect::<Vec<_>>(),
            "images": self.images,
        })
    }

    /// One line for people, e.g. `mIoU 43.21%, pixel accuracy 71.20% (27 classes, 25 defined; 500
    /// images, 8192000 pixels)`.
    pub fn summary(&self) -> String {
        let defined = self.per_class_iou.iter().filter(|c| c.is_some()).count();
        format!(
            "mIoU {:.2}%, pixel accuracy {:.2}% ({} classes, {defined} defined; {} images, {} pixels)",
            100.0 * self.miou,
            100.0 * self.pixel_accuracy,
            self.per_class_iou.len(),
            self.images,
            self.pixels
        )
    }
}

/// Accumulates TP/FP/FN over images, one image at a time (memory: one image's histogram).
#[derive(Clone, Debug)]
pub struct Accumulator {
    protocol: Protocol,
    tp: Vec<u64>,
    fp: Vec<u64>,
    fn_: Vec<u64>,
    pixels: u64,
    images: usize,
    /// Scratch histogram, reused between images.
    hist: Vec<f64>,
}

impl Accumulator {
    /// The plain protocol (docs/ALGORITHM.md §6.3) with `classes` classes and an optional ignore value.
    ///
    /// # Errors
    /// See [`Protocol::validate`].
    pub fn new(classes: usize, ignore: Option<u16>) -> Result<Self> {
        Self::with_protocol(Protocol::new(classes, ignore))
    }

    /// Any [`Protocol`], e.g. with the background merge.
    ///
    /// # Errors
    /// See [`Protocol::validate`].
    pub fn with_protocol(protocol: Protocol) -> Result<Self> {
        protocol.validate()?;
        let n = protocol.classes;
        Ok(Accumulator {
            protocol,
            tp: vec![0; n],
            fp: vec![0; n],
            fn_: vec![0; n],
            pixels: 0,
            images: 0,
            hist: Vec::new(),
        })
    }

    /// The protocol this accumulator applies.
    pub fn protocol(&self) -> &Protocol {
        &self.protocol
    }

    /// Adds one image: `gt` and `pred` are the same pixels in the same order (e.g. row-major).
    /// Prediction ids are arbitrary and private to the image.
    ///
    /// Nothing is accumulated when an error is returned.
    ///
    /// # Errors
    /// - [`Error::InvalidParameter`]: different lengths, no pixels, more than 2³² pixels, or a
    ///   histogram over [`MAX_HIST_CELLS`] (prediction ids too large for this many classes:
    ///   renumber them `0..k`).
    /// - [`Error::Eval`]: a ground-truth value that is neither a class nor the ignore value (the
    ///   message gives the value and the pixel index).
    pub fn add(&mut self, gt: &[u16], pred: &[u16]) -> Result<()> {
        if gt.len() != pred.len() {
            return Err(Error::InvalidParameter {
                name: "pred",
                expected: "as many pixels as the ground truth",
                got: format!("{} pixels against {}", pred.len(), gt.len()),
            });
        }
        if gt.is_empty() || gt.len() > u32::MAX as usize {
            return Err(Error::InvalidParameter {
                name: "gt",
                expected: "between 1 and 2^32 - 1 pixels",
                got: gt.len().to_string(),
            });
        }
        if let Some((i, v)) = self.protocol.first_invalid_gt(gt) {
            return Err(Error::Eval(format!(
                "ground-truth value {v} at pixel {i} is neither a class (0..{}) nor {}",
                self.protocol.classes,
                self.protocol.describe_ignore()
            )));
        }
        let n = self.protocol.classes;
        let max_pred = u32::from(*pred.iter().max().expect("not empty"));
        if self.protocol.background_merge {
            let merged = merge_unmatched_with(&mut self.hist, gt, pred, n)?;
            let max_merged = *merged.iter().max().expect("not empty");
            check_cells(n, max_merged)?;
            let nc = n.max(max_merged as usize + 1);
            let col = match_image(&mut self.hist, gt, &merged, n, nc);
            self.accumulate(n, nc, &col);
        } else {
            check_cells(n, max_pred)?;
            let nc = n.max(max_pred as usize + 1);
            let col = match_image(&mut self.hist, gt, pred, n, nc);
            self.accumulate(n, nc, &col);
        }
        self.images += 1;
        Ok(())
    }

    /// Adds the current histogram (`n × nc`, matched by `col`) to the totals.
    fn accumulate(&mut self, n: usize, nc: usize, col: &[usize]) {
        let hist = &self.hist;
        for (c, &j) in col.iter().enumerate() {
            let row = &hist[c * nc..(c + 1) * nc];
            let tp = row[j] as u64;
            let row_sum = row.iter().sum::<f64>() as u64;
            let col_sum = (0..n).map(|i| hist[i * nc + j]).sum::<f64>() as u64;
            self.tp[c] += tp;
            self.fn_[c] += row_sum - tp;
            self.fp[c] += col_sum - tp;
            self.pixels += row_sum;
        }
    }

    /// Adds the images counted in `other` — an accumulator's [`finish`](Self::finish) with the same
    /// protocol, from another thread, process or machine. The counts are integers, so merging the
    /// parts of a benchmark in any order gives the numbers of one accumulator over all of it.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] when `other` counts another number of classes, pixels other than
    /// Σ (TP + FN), or totals that overflow (nothing is added then).
    pub fn merge(&mut self, other: &MiouReport) -> Result<()> {
        let n = self.protocol.classes;
        let sizes = [
            other.true_positives.len(),
            other.false_positives.len(),
            other.false_negatives.len(),
        ];
        if sizes.iter().any(|&len| len != n) {
            return Err(Error::InvalidParameter {
                name: "counts",
                expected: "one true-positive, false-positive and false-negative count per class",
                got: format!("{sizes:?} counts for {n} classes"),
            });
        }
        let counted = other
            .true_positives
            .iter()
            .zip(&other.false_negatives)
            .try_fold(0u64, |s, (tp, fn_)| s.checked_add(*tp)?.checked_add(*fn_));
        if counted != Some(other.pixels) {
            return Err(Error::InvalidParameter {
                name: "counts",
                expected: "valid pixels = Σ (true positives + false negatives)",
                got: format!("{} pixels against {counted:?}", other.pixels),
            });
        }
        // Totals computed aside and kept only if none overflows (counts from elsewhere can be
        // anything): nothing is added on an error.
        let add =
            |a: &[u64], b: &[u64]| -> Option<Vec<u64>> { a.iter().zip(b).map(|(x, y)| x.checked_add(*y)).collect() };
        let totals = (|| {
            Some((
                add(&self.tp, &other.true_positives)?,
                add(&self.fp, &other.false_positives)?,
                add(&self.fn_, &other.false_negatives)?,
                self.pixels.checked_add(other.pixels)?,
                self.images.checked_add(other.images)?,
            ))
        })();
        let Some((tp, fp, fn_, pixels, images)) = totals else {
            return Err(Error::InvalidParameter {
                name: "counts",
                expected: "totals that fit in 64 bits",
                got: "counts whose sum with this accumulator's overflows".into(),
            });
        };
        (self.tp, self.fp, self.fn_, self.pixels, self.images) = (tp, fp, fn_, pixels, images);
        Ok(())
    }

    /// The metrics over the images added so far (the accumulator can keep going).
    pub fn finish(&self) -> MiouReport {
        let per_class_iou: Vec<Option<f64>> = (0..self.protocol.classes)
            .map(|c| {
                let denom = self.tp[c] + self.fp[c] + self.fn_[c];
                (denom > 0).then(|| self.tp[c] as f64 / denom as f64)
            })
            .collect();
        let defined: Vec<f64> = per_class_iou.iter().flatten().copied().collect();
        let miou = if defined.is_empty() {
            f64::NAN
        } else {
            defined.iter().sum::<f64>() / defined.len() as f64
        };
        let pixel_accuracy = if self.pixels == 0 {
            f64::NAN
        } else {
            self.tp.iter().sum::<u64>() as f64 / self.pixels as f64
        };
        MiouReport {
            miou,
            pixel_accuracy,
            per_class_iou,
            images: self.images,
            pixels: self.pixels,
            true_positives: self.tp.clone(),
            false_positives: self.fp.clone(),
            false_negatives: self.fn_.clone(),
        }
    }
}

/// The background merge of docs/ALGORITHM.md §6.4 (`eval_diffcut.py:126-139`), steps 1–2, for one image:
/// Hungarian matching of the predicted clusters to the object classes `0..classes − 1` only (the
/// background, class `classes − 1`, and the ignore value are `≥ classes − 1`, so `gt < classes − 1`
/// leaves both out); the clusters that are the match of an object row with some pixel in a
/// matched column (`hist[:, col_ind].max(1) > 0`; at an optimum, every object class present)
/// are kept, even when the kept column holds none of that row's pixels, and every other cluster
/// is merged into one new label `max(pred) + 1`. Labels keep their ids.
///
/// The evaluation runs it before PAMR ([`super::datasets`]); [`Accumulator`] runs it before the
/// final matching when [`Protocol::background_merge`] is set.
///
/// # Errors
/// [`Error::InvalidParameter`] for `classes < 2`, different lengths, or a histogram over
/// [`MAX_HIST_CELLS`].
pub fn merge_unmatched<P: Copy + Into<u32>>(gt: &[u16], pred: &[P], classes: usize) -> Result<Vec<u32>> {
    if classes < 2 || gt.len() != pred.len() {
        return Err(Error::InvalidParameter {
            name: "background merge",
            expected: "at least 2 classes and as many predicted pixels as ground-truth ones",
            got: format!("{classes} classes, {} against {} pixels", pred.len(), gt.len()),
        });
    }
    merge_unmatched_with(&mut Vec::new(), gt, pred, classes)
}

/// [`merge_unmatched`] with a scratch histogram.
fn merge_unmatched_with<P: Copy + Into<u32>>(
    hist: &mut Vec<f64>,
    gt: &[u16],
    pred: &[P],
    classes: usize,
) -> Result<Vec<u32>> {
    let objects = classes - 1;
    let max_pred = pred.iter().map(|&p| p.into()).max().unwrap_or(0);
    check_cells(objects, max_pred)?;
    let nc = objects.max(max_pred as usize + 1);
    let col = match_image(hist, gt, pred, objects, nc);
    let mut keep = vec![false; nc];
    for i in 0..objects {
        if col.iter().any(|&j| hist[i * nc + j] > 0.0) {
            keep[col[i]] = true;
        }
    }
    let merged_label = max_pred + 1;
    Ok(pred
        .iter()
        .map(|&p| {
            let p = p.into();
            if keep[p as usize] {
                p
            } else {
                merged_label
            }
        })
        .collect())
}

/// Errors when a `rows × max(rows, max_id + 1)` histogram would exceed [`MAX_HIST_CELLS`].
fn check_cells(rows: usize, max_id: u32) -> Result<()> {
    let cols = rows.max(max_id as usize + 1);
    if rows.saturating_mul(cols) > MAX_HIST_CELLS {
        return Err(Error::InvalidParameter {
            name: "prediction ids",
            expected:
                "small enough for a classes × (max id + 1) histogram of at most 2^26 cells (renumber segments 0..k)",
            got: format!("max id {max_id} with {rows} classes"),
        });
    }
    Ok(())
}

/// `_fast_hist` + `linear_sum_assignment(hist, maximize=True)` for one image: fills `hist`
/// (`rows × nc`, pixels with `gt < rows`) and returns the column matched to each row.
fn match_image<P: Copy + Into<u32>>(hist: &mut Vec<f64>, gt: &[u16], pred: &[P], rows: usize, nc: usize) -> Vec<usize> {
    hist.clear();
    hist.resize(rows * nc, 0.0);
    for (&g, &p) in gt.iter().zip(pred) {
        let g = usize::from(g);
        if g < rows {
            hist[g * nc + p.into() as usize] += 1.0;
        }
    }
    if rows == 0 {
        return Vec::new();
    }
    // Counts are integers (exact in f64) and nc ≥ rows, so the solver is feasible and exact.
    lsap::solve_wide::<true>(hist, rows, nc).expect("a finite matrix is feasible")
}

/// Ground-truth / prediction file pairs: the `.png` files (extension in any case) of `gt_dir`,
/// sorted by name, each with the file of the same name in `pred_dir`.
///
/// # Errors
/// [`Error::Io`] when a directory cannot be listed; [`Error::Eval`] naming the directory when it
/// has no `.png` file, or naming the file when a ground-truth file has no prediction or a
/// prediction has no ground truth.
pub fn paired_files(gt_dir: &Path, pred_dir: &Path) -> Result<Vec<(PathBuf, PathBuf)>> {
    let gt = png_names(gt_dir)?;
    let pred = png_names(pred_dir)?;
    let missing: Vec<&OsString> = gt.difference(&pred).collect();
    if let Some(first) = missing.first() {
        return Err(Error::Eval(format!(
            "{}: ground-truth file has no prediction (expected {}){}",
            gt_dir.join(first).display(),
            pred_dir.join(first).display(),
            and_more(missing.len())
        )));
    }
    let extra: Vec<&OsString> = pred.difference(&gt).collect();
    if let Some(first) = extra.first() {
        return Err(Error::Eval(format!(
            "{}: prediction has no ground-truth file (expected {}){}",
            pred_dir.join(first).display(),
            gt_dir.join(first).display(),
            and_more(extra.len())
        )));
    }
    Ok(gt.iter().map(|n| (gt_dir.join(n), pred_dir.join(n))).collect())
}

fn and_more(count: usize) -> String {
    if count > 1 {
        format!("; {} more like it", count - 1)
    } else {
        String::new()
    }
}

fn png_names(dir: &Path) -> Result<BTreeSet<OsString>> {
    let mut names = BTreeSet::new();
    for entry in std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        let path = entry.path();
        let is_png = path.extension().is_some_and(|e| e.eq_ignore_ascii_case("png"));
        if is_png && path.is_file() {
            names.insert(entry.file_name());
        }
    }
    if names.is_empty() {
        return Err(Error::Eval(format!(
            "{}: no .png files in this directory",
            dir.display()
        )));
    }
    Ok(names)
}

/// A label map read from an 8- or 16-bit greyscale PNG: `(width, height, values)`, row-major.
///
/// Anything else (RGB, palette, grey + alpha or tRNS, 1/2/4-bit grey, which the decoder would
/// rescale) is rejected rather than converted, since converting would change the labels.
///
/// # Errors
/// [`Error::Io`] naming the file when it cannot be read; [`Error::ImageDecode`] naming the file for
/// anything that is not such a PNG or is corrupt; [`Error::ImageTooLarge`] beyond the limits of
/// [`crate::image_io`].
pub fn load_label_png(path: &Path) -> Result<(u32, u32, Vec<u16>)> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    decode_label_png(&bytes).map_err(|e| match e {
        Error::ImageDecode(m) => Error::ImageDecode(format!("{}: {m}", path.display())),
        Error::ImageTooLarge { width, height, .. } => Error::ImageDecode(format!(
            "{}: {width}×{height} is beyond the limits ({MAX_SIDE} a side, {MAX_PIXELS} pixels)",
            path.display()
        )),
        other => other,
    })
}

fn decode_label_png(bytes: &[u8]) -> Result<(u32, u32, Vec<u16>)> {
    const SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";
    if bytes.len() < 26 || &bytes[..8] != SIGNATURE || &bytes[12..16] != b"IHDR" {
        return Err(Error::ImageDecode(
            "not a PNG file (no PNG signature and header)".into(),
        ));
    }
    let be = |i: usize| u32::from_be_bytes([bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]]);
    let (width, height, depth, colour) = (be(16), be(20), bytes[24], bytes[25]);
    if colour != 0 || !(depth == 8 || depth == 16) {
        let kind = match colour {
            0 => "greyscale",
            2 => "RGB",
            3 => "palette",
            4 => "greyscale + alpha",
            6 => "RGBA",
            _ => "unknown colour type",
        };
        return Err(Error::ImageDecode(format!(
            "a label map must be an 8- or 16-bit greyscale PNG, this is {depth}-bit {kind}"
        )));
    }
    if width == 0
        || height == 0
        || width > MAX_SIDE
        || height > MAX_SIDE
        || u64::from(width) * u64::from(height) > MAX_PIXELS
    {
        return Err(Error::ImageTooLarge {
            width: width.into(),
            height: height.into(),
            max_pixels: MAX_PIXELS,
            reason: "label map",
        });
    }
    let mut reader = ImageReader::with_format(Cursor::new(bytes), ImageFormat::Png);
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(MAX_PIXELS * 4 + (16 << 20));
    reader.limits(limits);
    let corrupt = |e: image::ImageError| Error::ImageDecode(format!("corrupt or truncated PNG: {e}"));
    let decoder = reader.into_decoder().map_err(corrupt)?;
    let colour = decoder.color_type();
    if !matches!(colour, ColorType::L8 | ColorType::L16) {
        // Greyscale with a tRNS chunk decodes with an alpha channel.
        return Err(Error::ImageDecode(format!(
            "a label map must be an 8- or 16-bit greyscale PNG without transparency, this decodes as {colour:?}"
        )));
    }
    match DynamicImage::from_decoder(decoder).map_err(corrupt)? {
        DynamicImage::ImageLuma8(img) => Ok((width, height, img.into_raw().into_iter().map(u16::from).collect())),
        DynamicImage::ImageLuma16(img) => Ok((width, height, img.into_raw())),
        other => Err(Error::ImageDecode(format!(
            "unexpected decoded layout {:?}",
            other.color()
        ))),
    }
}

/// Evaluates the plain protocol (docs/ALGORITHM.md §6.3) over two directories of label PNGs paired by file name;
/// see [`evaluate_dirs_with`].
pub fn evaluate_dirs(
    gt_dir: &Path,
    pred_dir: &Path,
    classes: usize,
    ignore: Option<u16>,
    progress: impl FnMut(usize, usize),
) -> Result<MiouReport> {
    evaluate_dirs_with(gt_dir, pred_dir, &Protocol::new(classes, ignore), progress)
}

/// Evaluates `protocol` over two directories of label PNGs (8- or 16-bit greyscale), paired by
/// file name, one image in memory at a time. `progress(done, total)` is called after each image.
///
/// All pairing is checked before any image is read.
///
/// # Errors
/// Every error about the data names the file (or directory):
/// - [`Error::InvalidParameter`]: a bad `protocol` (see [`Protocol::validate`]);
/// - [`Error::Io`]: a directory or file that cannot be read;
/// - [`Error::Eval`]: a directory without `.png` files, a ground-truth file without a prediction
///   or a prediction without a ground-truth file, sizes that differ (both given), a ground-truth
///   value that is neither a class nor the ignore value (value and pixel `(x, y)` given);
/// - [`Error::ImageDecode`]: a file that is not an 8/16-bit greyscale PNG or is corrupt;
/// - [`Error::InvalidParameter`] naming the file: prediction ids too large (see
///   [`MAX_HIST_CELLS`]).
pub fn evaluate_dirs_with(
    gt_dir: &Path,
    pred_dir: &Path,
    protocol: &Protocol,
    mut progress: impl FnMut(usize, usize),
) -> Result<MiouReport> {
    let mut acc = Accumulator::with_protocol(*protocol)?;
    let pairs = paired_files(gt_dir, pred_dir)?;
    let total = pairs.len();
    for (done, (gt_path, pred_path)) in pairs.iter().enumerate() {
        let (gw, gh, gt) = load_label_png(gt_path)?;
        let (pw, ph, pred) = load_label_png(pred_path)?;
        if (gw, gh) != (pw, ph) {
            return Err(Error::Eval(format!(
                "{}: prediction is {pw}×{ph} pixels but its ground truth {} is {gw}×{gh}",
                pred_path.display(),
                gt_path.display()
            )));
        }
        if let Some((i, v)) = protocol.first_invalid_gt(&gt) {
            let w = gw as usize;
            return Err(Error::Eval(format!(
                "{}: value {v} at pixel (x={}, y={}) is neither a class (0..{}) nor {}",
                gt_path.display(),
                i % w,
                i / w,
                protocol.classes,
                protocol.describe_ignore()
            )));
        }
        acc.add(&gt, &pred).map_err(|e| match e {
            Error::InvalidParameter { name, expected, got } => Error::InvalidParameter {
                name,
                expected,
                got: format!("{got} in {}", pred_path.display()),
            },
            Error::Eval(m) => Error::Eval(format!("{} / {}: {m}", gt_path.display(), pred_path.display())),
            other => other,
        })?;
        progress(done + 1, total);
    }
    Ok(acc.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permuted_perfect_prediction_scores_one() {
        let gt = [0u16, 0, 1, 1, 2, 2, 255];
        let pred = [7u16, 7, 3, 3, 0, 0, 9];
        let mut acc = Accumulator::new(3, Some(255)).unwrap();
        acc.add(&gt, &pred).unwrap();
        let r = acc.finish();
        assert_eq!(r.miou, 1.0);
        assert_eq!(r.pixel_accuracy, 1.0);
        assert_eq!(r.pixels, 6);
        assert_eq!(r.per_class_iou, vec![Some(1.0); 3]);
    }

    #[test]
    fn hand_computed_example() {
        // hist (rows gt 0..2, cols pred 0..2):
        //   gt0: pred0 ×3, pred1 ×1
        //   gt1: pred1 ×2, pred2 ×2
        // 2 classes, 3 columns. Best: 0→0 (3) + 1→1 or 1→2 (2), a tie: SciPy picks 1→1 (column 1),
        // as tests/reference/miou_tie_example.py shows.
        let gt = [0u16, 0, 0, 0, 1, 1, 1, 1];
        let pred = [0u16, 0, 0, 1, 1, 1, 2, 2];
        let mut acc = Accumulator::new(2, None).unwrap();
        acc.add(&gt, &pred).unwrap();
        let r = acc.finish();
        assert_eq!(r.true_positives, vec![3, 2]);
        assert_eq!(r.false_negatives, vec![1, 2]);
        assert_eq!(r.pixels, 8);
        assert_eq!(r.pixel_accuracy, 5.0 / 8.0);
        // Class 1 matched to column 1 takes the gt0 pixel predicted 1 as a false positive.
        assert_eq!(r.false_positives, vec![0, 1]);
        assert_eq!(r.per_class_iou, vec![Some(0.75), Some(0.4)]);
        assert_eq!(r.miou, 0.575);
    }

    #[test]
    fn invalid_gt_is_rejected_without_accumulating() {
        let mut acc = Accumulator::new(3, Some(255)).unwrap();
        let e = acc.add(&[0, 4, 1], &[0, 0, 0]).unwrap_err().to_string();
        assert!(e.contains("value 4 at pixel 1"), "{e}");
        assert_eq!(acc.finish().images, 0);
        assert_eq!(acc.finish().pixels, 0);
    }

    #[test]
    fn protocol_validation() {
        assert!(Accumulator::new(0, None).is_err());
        assert!(Accumulator::new(3, Some(2)).is_err());
        assert!(Accumulator::new(3, Some(3)).is_ok());
        assert!(Accumulator::with_protocol(Protocol {
            classes: 1,
            ignore: None,
            background_merge: true
        })
        .is_err());
    }
}
