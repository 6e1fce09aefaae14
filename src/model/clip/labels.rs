//! Class names → a text classifier, and a segment's embedding → scores over classes: DiffCut's
//! open-vocabulary extension (docs/ALGORITHM.md §7), as the official code builds it
//! (`tools/clip_classifier.py`, after FC-CLIP).
//!
//! A class lists synonyms. Each synonym is put in the 14 ViLD templates; the 14 text embeddings are
//! L2-normalised, averaged and normalised again, giving one classifier row per synonym. A segment's
//! score for a class is `min(exp(logit_scale), 100) · max over its synonyms of cos(embedding, row)`.

use crate::{Error, Result};

/// The ViLD prompt templates, in the official order (the order fixes the float sums).
pub const TEMPLATES: [&str; 14] = [
    "a photo of a {}.",
    "This is a photo of a {}",
    "There is a {} in the scene",
    "There is the {} in the scene",
    "a photo of a {} in the scene",
    "a photo of a small {}.",
    "a photo of a medium {}.",
    "a photo of a large {}.",
    "This is a photo of a small {}.",
    "This is a photo of a medium {}.",
    "This is a photo of a large {}.",
    "There is a small {} in the scene.",
    "There is a medium {} in the scene.",
    "There is a large {} in the scene.",
];

/// Most classes a label list may have, and most synonyms in all: each synonym costs 14 text
/// encodings, so this bounds the work a typed list can ask for (ADE-847 has 847 classes).
pub const MAX_CLASSES: usize = 1024;
pub const MAX_SYNONYMS: usize = 4096;
/// Longest synonym, in characters (CLIP sees at most 77 tokens anyway).
pub const MAX_NAME_CHARS: usize = 256;

/// The label sets of the official evaluation (models/labels/).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LabelSet {
    /// PASCAL VOC: background + 20 classes.
    Voc,
    /// PASCAL Context: background + 59 classes.
    Context,
    /// COCO-Object: background + 80 thing classes.
    CocoObject,
    /// ADE20K-150.
    Ade,
    /// Cityscapes' 19 evaluated classes.
    Cityscapes,
}

impl LabelSet {
    /// The set's name in `--labels`, in the folder's `labels/{name}.json` and in the page.
    pub fn name(self) -> &'static str {
        match self {
            Self::Voc => "voc",
            Self::Context => "context",
            Self::CocoObject => "coco-object",
            Self::Ade => "ade",
            Self::Cityscapes => "cityscapes",
        }
    }

    fn text(self) -> &'static str {
        match self {
            Self::Voc => include_str!("../../../models/labels/voc.txt"),
            Self::Context => include_str!("../../../models/labels/context.txt"),
            Self::CocoObject => include_str!("../../../models/labels/coco-object.txt"),
            Self::Ade => include_str!("../../../models/labels/ade.txt"),
            Self::Cityscapes => include_str!("../../../models/labels/cityscapes.txt"),
        }
    }

    /// Its classes, each with its synonyms.
    pub fn classes(self) -> Vec<Vec<String>> {
        parse_lines(self.text()).expect("the bundled label sets parse")
    }
}

/// What to name segments with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Labels {
    Set(LabelSet),
    /// Classes of the person's own words.
    Custom(Vec<Vec<String>>),
}

impl Labels {
    /// The classes, each with its synonyms.
    pub fn classes(&self) -> Vec<Vec<String>> {
        match self {
            Labels::Set(s) => s.classes(),
            Labels::Custom(c) => c.clone(),
        }
    }

    /// Inline classes: `cat;dog,puppy;grass` (classes by `;`, synonyms by `,`).
    pub fn inline(text: &str) -> Result<Self> {
        let classes = text.split(';').map(synonyms).collect::<Vec<_>>();
        check(&classes, "the inline label list")?;
        Ok(Labels::Custom(classes))
    }

    /// A label file: one class per line, synonyms by commas, optionally after the official files'
    /// `N:` index; blank lines are skipped.
    pub fn file(text: &str) -> Result<Self> {
        Ok(Labels::Custom(parse_lines(text)?))
    }
}

/// A class's synonyms as the official `split_labels`: `", "` counts as `","`, then split on `,`
/// (other spaces are kept, as they reach the tokenizer, which collapses them).
fn synonyms(class: &str) -> Vec<String> {
    class.replace(", ", ",").split(',').map(str::to_string).collect()
}

fn parse_lines(text: &str) -> Result<Vec<Vec<String>>> {
    let classes: Vec<Vec<String>> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let l = l.trim_end_matches('\r');
            // The official metadata files start each line with the class index and a colon.
            let body = match l.split_once(':') {
                Some((n, rest)) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => rest,
                _ => l,
            };
            synonyms(body)
        })
        .collect();
    check(&classes, "the label file")?;
    Ok(classes)
}

fn check(classes: &[Vec<String>], what: &str) -> Result<()> {
    let bad = |reason: String| Error::InvalidParameter {
        name: "labels",
        expected: "1 to 1024 classes, 4096 synonyms in all, each a non-empty name of at most 256 characters",
        got: format!("{what}: {reason}"),
    };
    if classes.is_empty() || classes.len() > MAX_CLASSES {
        return Err(bad(format!("{} classes", classes.len())));
    }
    let total: usize = classes.iter().map(Vec::len).sum();
    if total > MAX_SYNONYMS {
        return Err(bad(format!("{total} synonyms")));
    }
    for (k, class) in classes.iter().enumerate() {
        for s in class {
            if s.trim().is_empty() {
                return Err(bad(format!("class {k} has an empty name")));
            }
            if s.chars().count() > MAX_NAME_CHARS {
                return Err(bad(format!("class {k} has a name of {} characters", s.chars().count())));
            }
        }
    }
    Ok(())
}

/// The texts to encode for `classes`: class by class, synonym by synonym, the 14 templates.
pub fn prompts(classes: &[Vec<String>]) -> Vec<String> {
    classes
        .iter()
        .flatten()
        .flat_map(|s| TEMPLATES.iter().map(move |t| t.replace("{}", s)))
        .collect()
}

/// `x / max(‖x‖, 1e-12)` (torch's `F.normalize`), accumulated in f64.
fn normalized(x: &[f32]) -> Vec<f32> {
    let n = x
        .iter()
        .map(|&v| f64::from(v) * f64::from(v))
        .sum::<f64>()
        .sqrt()
        .max(1e-12);
    x.iter().map(|&v| (f64::from(v) / n) as f32).collect()
}

/// A text classifier: one unit row per synonym, class-major.
#[derive(Debug, Clone)]
pub struct Classifier {
    classes: Vec<Vec<String>>,
    dim: usize,
    /// `[Σ synonyms, D]`.
    rows: Vec<f32>,
}

impl Classifier {
    /// From rows already built (a folder's precomputed `labels/{set}.npy`).
    pub fn from_rows(classes: Vec<Vec<String>>, dim: usize, rows: Vec<f32>) -> Result<Self> {
        let n: usize = classes.iter().map(Vec::len).sum();
        if dim == 0 || rows.len() != n * dim {
            return Err(Error::InvalidParameter {
                name: "classifier",
                expected: "one row of embed_dim values per synonym",
                got: format!("{} values for {n} synonyms of {dim}", rows.len()),
            });
        }
        if let Some(i) = rows.iter().position(|v| !v.is_finite()) {
            return Err(Error::InvalidParameter {
                name: "classifier",
                expected: "finite values",
                got: format!("{} at row {}", rows[i], i / dim),
            });
        }
        Ok(Classifier { classes, dim, rows })
    }

    /// From the text tower's unnormalised embeddings of [`prompts`]`(classes)`, `[Σ synonyms · 14, D]`:
    /// each normalised, the 14 of a synonym averaged, the mean normalised.
    pub fn from_prompt_embeddings(classes: Vec<Vec<String>>, dim: usize, embeddings: &[f32]) -> Result<Self> {
        let n: usize = classes.iter().map(Vec::len).sum();
        let t = TEMPLATES.len();
        if dim == 0 || embeddings.len() != n * t * dim {
            return Err(Error::InvalidParameter {
                name: "text embeddings",
                expected: "14 rows of embed_dim values per synonym",
                got: format!("{} values for {n} synonyms of {dim}", embeddings.len()),
            });
        }
        let mut rows = Vec::with_capacity(n * dim);
        for per_synonym in embeddings.chunks_exact(t * dim) {
            let mut mean = vec![0f64; dim];
            for e in per_synonym.chunks_exact(dim) {
                for (m, v) in mean.iter_mut().zip(normalized(e)) {
                    *m += f64::from(v);
                }
            }
            let mean: Vec<f32> = mean.iter().map(|m| (m / t as f64) as f32).collect();
            rows.extend(normalized(&mean));
        }
        Self::from_rows(classes, dim, rows)
    }

    pub fn classes(&self) -> &[Vec<String>] {
        &self.classes
    }

    pub fn dim(&self) -> usize {
        self.dim
    }

    /// `[Σ synonyms, D]`, class-major.
    pub fn rows(&self) -> &[f32] {
        &self.rows
    }

    /// The name shown for class `k`: its first synonym.
    pub fn name(&self, k: usize) -> &str {
        &self.classes[k][0]
    }

    /// One score per class for an (unnormalised) image embedding `[D]`: `scale` times the best
    /// cosine over the class's synonyms (`get_classification_logits`' max ensemble).
    pub fn scores(&self, embedding: &[f32], scale: f32) -> Vec<f32> {
        let e = normalized(embedding);
        let mut rows = self.rows.chunks_exact(self.dim);
        self.classes
            .iter()
            .map(|class| {
                class
                    .iter()
                    .map(|_| {
                        let row = rows.next().expect("rows match the synonyms");
                        let dot: f64 = row.iter().zip(&e).map(|(&a, &b)| f64::from(a) * f64::from(b)).sum();
                        scale * dot as f32
                    })
                    .fold(f32::NEG_INFINITY, f32::max)
            })
            .collect()
    }
}

/// The first index of the largest score (torch's argmax: ties go to the lower class).
pub fn argmax(scores: &[f32]) -> usize {
    let mut best = 0;
    for (k, &s) in scores.iter().enumerate() {
        if s > scores[best] {
            best = k;
        }
    }
    best
}

/// The official `MaskPooling` of a dense map over each segment of a label map.
///
/// # Shapes
/// `dense`: `[gh, gw, C]` row-major; `labels`: `[h, w]`. Returns the segment ids present, ascending,
/// and `[Q, C]`.
///
/// The label map is first brought to `size × size` (the official mask is at the image's input
/// size), then to the dense grid, both with torch's `nearest-exact`; each segment's mask is
/// averaged over with `Σ x·m / (Σ m + 1e-8)`, so a segment that vanishes on the grid pools to 0.
pub fn mask_pool(
    dense: &[f32],
    [gh, gw, c]: [usize; 3],
    labels: &[u32],
    [h, w]: [usize; 2],
    size: usize,
) -> Result<(Vec<u32>, Vec<f32>)> {
    if labels.len() != h * w || h == 0 || w == 0 || dense.len() != gh * gw * c {
        return Err(Error::InvalidParameter {
            name: "mask",
            expected: "a non-empty label map of h·w values and a dense map of gh·gw·C",
            got: format!(
                "{} labels for {h}×{w}, {} values for {gh}×{gw}×{c}",
                labels.len(),
                dense.len()
            ),
        });
    }
    let mut ids: Vec<u32> = labels.to_vec();
    ids.sort_unstable();
    ids.dedup();
    // grid cell → pixel of the S×S mask → pixel of the label map
    let (to_h, to_w) = (nearest_exact(h, size), nearest_exact(w, size));
    let ys: Vec<usize> = nearest_exact(size, gh).into_iter().map(|y| to_h[y]).collect();
    let xs: Vec<usize> = nearest_exact(size, gw).into_iter().map(|x| to_w[x]).collect();
    let mut sums = vec![0f64; ids.len() * c];
    let mut counts = vec![0u64; ids.len()];
    for (gy, &y) in ys.iter().enumerate() {
        for (gx, &x) in xs.iter().enumerate() {
            let q = ids.binary_search(&labels[y * w + x]).expect("every label is an id");
            counts[q] += 1;
            let cell = &dense[(gy * gw + gx) * c..][..c];
            for (s, &v) in sums[q * c..][..c].iter_mut().zip(cell) {
                *s += f64::from(v);
            }
        }
    }
    let pooled = sums
        .chunks_exact(c)
        .zip(&counts)
        .flat_map(|(s, &n)| s.iter().map(move |&v| (v / (n as f64 + 1e-8)) as f32))
        .collect();
    Ok((ids, pooled))
}

/// For each output index of a resize from `input` to `output` samples, torch's `nearest-exact`
/// source index: `min(⌊(i + ½) · input/output⌋, input − 1)`, with its float32 scale.
pub fn nearest_exact(input: usize, output: usize) -> Vec<usize> {
    let scale = input as f32 / output as f32;
    (0..output)
        .map(|i| (((i as f32 + 0.5) * scale).floor() as usize).min(input - 1))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn synonyms_split_as_the_official_code() {
        assert_eq!(synonyms("dog, puppy,hound"), ["dog", "puppy", "hound"]);
        assert_eq!(synonyms("dog ,puppy"), ["dog ", "puppy"]);
        let Labels::Custom(c) = Labels::inline("cat;dog,puppy;grass").unwrap() else {
            panic!()
        };
        assert_eq!(c, [vec!["cat"], vec!["dog", "puppy"], vec!["grass"]]);
        let Labels::Custom(c) = Labels::file("0:background,bg\n\n1:aeroplane\nsky, clouds\r\n").unwrap() else {
            panic!()
        };
        assert_eq!(c, [vec!["background", "bg"], vec!["aeroplane"], vec!["sky", "clouds"]]);
    }

    #[test]
    fn bad_label_lists_are_refused() {
        for bad in ["", ";", "cat;;dog", "cat,", " , "] {
            assert!(Labels::inline(bad).is_err(), "{bad:?}");
        }
        assert!(Labels::inline(&"x;".repeat(2000)).is_err());
        assert!(Labels::inline(&"x".repeat(300)).is_err());
    }

    #[test]
    fn bundled_sets_parse() {
        for (set, n) in [
            (LabelSet::Voc, 21),
            (LabelSet::Context, 60),
            (LabelSet::CocoObject, 81),
            (LabelSet::Ade, 150),
            (LabelSet::Cityscapes, 19),
        ] {
            assert_eq!(set.classes().len(), n, "{}", set.name());
        }
    }

    #[test]
    fn prompts_are_class_major_then_template() {
        let p = prompts(&[vec!["cat".into()], vec!["dog".into(), "puppy".into()]]);
        assert_eq!(p.len(), 42);
        assert_eq!(p[0], "a photo of a cat.");
        assert_eq!(p[14], "a photo of a dog.");
        assert_eq!(p[28 + 13], "There is a large puppy in the scene.");
    }

    #[test]
    fn nearest_exact_matches_torch() {
        // torch.nn.functional.interpolate(torch.arange(10.)[None, None, None], size=(1, 4),
        // mode="nearest-exact") → [1, 3, 6, 8]; and upsampling 3 → 7 → [0, 0, 1, 1, 1, 2, 2].
        assert_eq!(nearest_exact(10, 4), [1, 3, 6, 8]);
        assert_eq!(nearest_exact(3, 7), [0, 0, 1, 1, 1, 2, 2]);
    }

    #[test]
    fn scores_take_the_best_synonym() {
        let classes = vec![vec!["a".to_string()], vec!["b".to_string(), "c".to_string()]];
        let rows = vec![1.0, 0.0, 0.0, 1.0, 0.6, 0.8];
        let clf = Classifier::from_rows(classes, 2, rows).unwrap();
        let s = clf.scores(&[0.0, 2.0], 10.0);
        assert!((s[0] - 0.0).abs() < 1e-6 && (s[1] - 10.0).abs() < 1e-5, "{s:?}");
        assert_eq!(argmax(&s), 1);
        assert_eq!(argmax(&[1.0, 1.0]), 0);
    }

    #[test]
    fn a_segment_missing_from_the_grid_pools_to_zero() {
        // 4×4 labels, one pixel of segment 9 that the 2×2 grid does not sample.
        let mut labels = vec![0u32; 16];
        labels[0] = 9;
        let dense = vec![1.0f32, 2.0, 3.0, 4.0]; // [2, 2, 1]
        let (ids, pooled) = mask_pool(&dense, [2, 2, 1], &labels, [4, 4], 4).unwrap();
        assert_eq!(ids, [0, 9]);
        assert!((pooled[0] - 2.5).abs() < 1e-6 && pooled[1] == 0.0, "{pooled:?}");
    }
}
