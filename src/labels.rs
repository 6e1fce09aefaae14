//! [`LabelMap`]: a segmentation as one label per pixel (or per grid cell), with its size and the
//! number of segments — the one type that assignment, PAMR, the evaluation and the exporters
//! pass around instead of `(labels, width, height, segments)` argument lists.

use crate::{Error, Result};

/// Labels `[height, width]` row-major, each `< segments`.
///
/// The invariants (non-empty, `labels.len() == width · height`, every label `< segments`) are
/// checked once, by [`LabelMap::new`]; whatever takes a `LabelMap` can index with its labels.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LabelMap {
    width: usize,
    height: usize,
    segments: usize,
    labels: Vec<u32>,
}

impl LabelMap {
    /// Wraps `labels` (`[height, width]` row-major) of `segments` segments.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] naming the problem: a zero size, a length that is not
    /// `width · height`, `segments = 0`, or the first label `≥ segments` with its index.
    pub fn new(labels: Vec<u32>, width: usize, height: usize, segments: usize) -> Result<Self> {
        if width == 0 || height == 0 {
            return Err(Error::InvalidParameter {
                name: "label map size",
                expected: "at least 1×1",
                got: format!("{width}×{height}"),
            });
        }
        if width.checked_mul(height) != Some(labels.len()) {
            return Err(Error::InvalidParameter {
                name: "labels",
                expected: "width × height values",
                got: format!("{} values for a {width}×{height} map", labels.len()),
            });
        }
        if segments == 0 {
            return Err(Error::InvalidParameter {
                name: "segments",
                expected: "at least 1",
                got: "0".into(),
            });
        }
        if let Some(i) = labels.iter().position(|&l| l as usize >= segments) {
            return Err(Error::InvalidParameter {
                name: "every label",
                expected: "< segments",
                got: format!("label {} at index {i} with {segments} segments", labels[i]),
            });
        }
        Ok(Self {
            width,
            height,
            segments,
            labels,
        })
    }

    /// Labels `0..k` by first appearance in row-major order, `k` segments: any ids (e.g. a
    /// prediction read from a PNG) made into a valid map.
    ///
    /// # Errors
    /// As [`LabelMap::new`] for the size.
    pub fn renumbered(labels: &[u32], width: usize, height: usize) -> Result<Self> {
        let mut ids = std::collections::HashMap::new();
        let out: Vec<u32> = labels
            .iter()
            .map(|&l| {
                let n = ids.len() as u32;
                *ids.entry(l).or_insert(n)
            })
            .collect();
        let k = ids.len().max(1);
        Self::new(out, width, height, k)
    }

    pub fn width(&self) -> usize {
        self.width
    }

    pub fn height(&self) -> usize {
        self.height
    }

    /// K: labels are `0..K` (a segment may have no pixel, e.g. after PAMR).
    pub fn segments(&self) -> usize {
        self.segments
    }

    /// `[height · width]`, row-major.
    pub fn labels(&self) -> &[u32] {
        &self.labels
    }

    pub fn into_labels(self) -> Vec<u32> {
        self.labels
    }

    /// The labels as a greyscale PNG whose pixel value is the label (8-bit for ≤ 256 segments,
    /// else 16-bit): what the CLI writes and the page exports.
    ///
    /// # Errors
    /// More than 65536 segments or a side beyond `u32` ([`Error::InvalidParameter`]); the
    /// encoder failing ([`Error::ImageEncode`]).
    pub fn to_png(&self) -> Result<Vec<u8>> {
        let side = |v: usize| {
            u32::try_from(v).map_err(|_| Error::InvalidParameter {
                name: "label map size",
                expected: "at most 2^32 - 1 per side",
                got: v.to_string(),
            })
        };
        crate::image_io::encode_mask_png(&self.labels, side(self.width)?, side(self.height)?, self.segments)
    }

    /// The same segments at `width × height`, each pixel taking the label of the source pixel
    /// `⌊y·h/H⌋, ⌊x·w/W⌋` (nearest, top-left aligned).
    ///
    /// # Errors
    /// As [`LabelMap::new`] for a zero size.
    pub fn resized_nearest(&self, width: usize, height: usize) -> Result<Self> {
        if (width, height) == (self.width, self.height) {
            return Ok(self.clone());
        }
        let (w, h) = (self.width, self.height);
        let labels = (0..height.saturating_mul(width))
            .map(|p| self.labels[((p / width) * h / height) * w + (p % width) * w / width])
            .collect();
        Self::new(labels, width, height, self.segments)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(r: Result<LabelMap>) -> String {
        r.unwrap_err().to_string()
    }

    #[test]
    fn invalid_maps_are_named() {
        assert!(msg(LabelMap::new(vec![], 0, 1, 2)).contains("label map size"));
        assert!(msg(LabelMap::new(vec![0, 1], 3, 1, 2)).contains("2 values for a 3×1 map"));
        assert!(msg(LabelMap::new(vec![0, 3], 2, 1, 3)).contains("label 3 at index 1 with 3 segments"));
        assert!(msg(LabelMap::new(vec![0], 1, 1, 0)).contains("segments must be at least 1"));
        assert!(msg(LabelMap::new(vec![0; 4], usize::MAX, 2, 1)).contains("values for a"));
    }

    #[test]
    fn renumbering_follows_first_appearance() {
        let m = LabelMap::renumbered(&[7, 7, 3, 9, 3, 7], 3, 2).unwrap();
        assert_eq!(m.labels(), &[0, 0, 1, 2, 1, 0]);
        assert_eq!(m.segments(), 3);
    }

    #[test]
    fn nearest_resize_picks_top_left_sources() {
        let m = LabelMap::new(vec![0, 1, 2, 3], 2, 2, 4).unwrap();
        let big = m.resized_nearest(4, 3).unwrap();
        assert_eq!(big.labels(), &[0, 0, 1, 1, 0, 0, 1, 1, 2, 2, 3, 3]);
        let square = m.resized_nearest(4, 4).unwrap();
        assert_eq!(square.resized_nearest(2, 2).unwrap(), m);
    }
}
