//! Picking regions of the segment tree under a pixel, at any granularity, and cutting them out.
//!
//! Every pixel sits in a chain of nested regions, the tree's nodes from the root down to its
//! finest leaf. A front end starts from the segment under the pointer at τ ([`Step::At`]) and walks
//! that chain: [`Step::Coarser`] goes to parents, [`Step::Finer`] to the child that holds the
//! pixel.
//!
//! **A node's region.** Segments and the regions above them are read from the per-pixel labels
//! at τ (exact or refined, as on screen): node `n`'s region is the pixels whose segment at τ lies
//! in n's subtree, so a coarser region is exactly the union of the segments it holds. A node
//! below the segments at τ is not cut out at τ; it is at
//!
//! ```text
//! τ⁺(n) = the least τ above the NCut of every ancestor of n
//! ```
//!
//! (an ancestor splits iff its NCut < τ). Its region is its parent's region ∩ the pixels whose
//! segment at τ⁺(n) lies in n's subtree: the labels of the coarsest τ that cuts it out, and
//! inside its parent by construction. So along any chain a coarser region contains the finer.

use crate::image_io::RgbImage;
use crate::labels::LabelMap;
use crate::ncut::SegmentTree;
use crate::segmenter::{Compute, Numbering, Refine, Segmentation};
use crate::{Error, Result};

/// Where to go from the segment under a pixel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// The segment at τ under the pixel.
    At,
    /// `n` parents up from it (stops at the root).
    Coarser(u32),
    /// `n` children down from it, each time the child whose region holds the pixel (stops at a
    /// leaf of the tree, or where neither child's region holds the pixel).
    Finer(u32),
}

/// A selection: one flag per pixel, `[height, width]` row-major.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mask {
    width: usize,
    height: usize,
    on: Vec<bool>,
}

impl Mask {
    /// An empty selection of `width × height` pixels.
    pub fn empty(width: usize, height: usize) -> Self {
        Self {
            width,
            height,
            on: vec![false; width * height],
        }
    }

    pub fn width(&self) -> usize {
        self.width
    }

    pub fn height(&self) -> usize {
        self.height
    }

    /// One flag per pixel, row-major.
    pub fn flags(&self) -> &[bool] {
        &self.on
    }

    /// Selected pixels.
    pub fn count(&self) -> usize {
        self.on.iter().filter(|&&b| b).count()
    }

    /// The selection's bounding box `[x0, y0, x1, y1)` (exclusive ends); `None` when empty.
    pub fn bbox(&self) -> Option<[usize; 4]> {
        let mut b: Option<[usize; 4]> = None;
        for (i, _) in self.on.iter().enumerate().filter(|(_, &on)| on) {
            let (x, y) = (i % self.width, i / self.width);
            b = Some(match b {
                None => [x, y, x + 1, y + 1],
                Some([x0, y0, x1, y1]) => [x0.min(x), y0.min(y), x1.max(x + 1), y1.max(y + 1)],
            });
        }
        b
    }

    /// Adds `other`'s pixels (same size).
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] for another size.
    pub fn union_with(&mut self, other: &Mask) -> Result<()> {
        if (other.width, other.height) != (self.width, self.height) {
            return Err(Error::InvalidParameter {
                name: "mask",
                expected: "masks of the same size",
                got: format!("{}×{} and {}×{}", self.width, self.height, other.width, other.height),
            });
        }
        self.on.iter_mut().zip(&other.on).for_each(|(a, &b)| *a |= b);
        Ok(())
    }

    /// The mask as an 8-bit greyscale PNG: 255 where selected, 0 elsewhere.
    ///
    /// # Errors
    /// As [`crate::image_io::encode_mask_png`].
    pub fn to_png(&self) -> Result<Vec<u8>> {
        let labels: Vec<u32> = self.on.iter().map(|&b| if b { 255 } else { 0 }).collect();
        crate::image_io::encode_mask_png(&labels, self.width as u32, self.height as u32, 256)
    }
}

/// τ⁺(n): the least τ at which every ancestor of `node` splits (just above their largest NCut);
/// the smallest positive τ for the root.
///
/// # Errors
/// [`Error::InvalidParameter`] for a node outside the tree.
pub fn tau_plus(tree: &SegmentTree, node: u32) -> Result<f64> {
    check_node(tree, node)?;
    let mut top = 0.0f64;
    let mut i = node as usize;
    while let Some(p) = tree.nodes[i].parent {
        if let Some(cut) = &tree.nodes[p as usize].cut {
            top = top.max(cut.ncut);
        }
        i = p as usize;
    }
    // The next f64 above `top` (top ≥ 0 and finite: a split ancestor's NCut is below τ_max).
    Ok(f64::from_bits(top.to_bits() + 1))
}

/// The region just coarser than `node`: its parent; `None` at the root (or outside the tree).
pub fn coarser(tree: &SegmentTree, node: u32) -> Option<u32> {
    tree.nodes.get(node as usize).and_then(|n| n.parent)
}

/// Whether `node` is `of` or lies below it.
pub fn is_within(tree: &SegmentTree, node: u32, of: u32) -> bool {
    let mut i = Some(node);
    while let Some(n) = i {
        if n == of {
            return true;
        }
        i = tree.nodes.get(n as usize).and_then(|t| t.parent);
    }
    false
}

fn check_node(tree: &SegmentTree, node: u32) -> Result<()> {
    if (node as usize) < tree.nodes.len() {
        Ok(())
    } else {
        Err(Error::InvalidParameter {
            name: "node",
            expected: "an index into the tree's nodes",
            got: format!("{node} (the tree has {} nodes)", tree.nodes.len()),
        })
    }
}

fn check_point(labels: &LabelMap, x: usize, y: usize) -> Result<usize> {
    if x < labels.width() && y < labels.height() {
        Ok(y * labels.width() + x)
    } else {
        Err(Error::InvalidParameter {
            name: "point",
            expected: "a pixel inside the image",
            got: format!("({x}, {y}) in a {}×{} image", labels.width(), labels.height()),
        })
    }
}

impl Compute {
    /// Per-pixel labels at τ (numbered by leaves) with the leaf node of each label.
    async fn leaf_labels(
        &self,
        seg: &Segmentation,
        image: &RgbImage,
        tau: f64,
        refine: Refine,
    ) -> Result<(LabelMap, Vec<usize>)> {
        let labels = self.labels(seg, image, tau, Numbering::Leaves, refine).await?;
        Ok((labels, seg.tree.leaves_at(tau)?))
    }

    /// The node of the segment at τ under pixel `(x, y)` of `image`.
    ///
    /// # Errors
    /// A point outside the image, τ outside (0, τ_max], and what computing the labels can fail on.
    pub async fn segment_at(
        &self,
        seg: &Segmentation,
        image: &RgbImage,
        (x, y): (usize, usize),
        tau: f64,
        refine: Refine,
    ) -> Result<u32> {
        let (labels, leaves) = self.leaf_labels(seg, image, tau, refine).await?;
        let at = check_point(&labels, x, y)?;
        Ok(leaves[labels.labels()[at] as usize] as u32)
    }

    /// The child of `node` whose region (module docs) holds pixel `(x, y)`, for a pixel inside
    /// `node`'s region; `None` at a leaf of the tree, or when neither child's region holds it.
    ///
    /// # Errors
    /// A node outside the tree, a point outside the image, τ outside (0, τ_max], and what
    /// computing the labels can fail on.
    pub async fn finer(
        &self,
        seg: &Segmentation,
        image: &RgbImage,
        node: u32,
        (x, y): (usize, usize),
        tau: f64,
        refine: Refine,
    ) -> Result<Option<u32>> {
        let tree = &seg.tree;
        check_node(tree, node)?;
        let Some(children) = tree.nodes[node as usize].children else {
            return Ok(None);
        };
        // Both children have the same ancestors, so the same τ; inside the parent's region, a
        // child's region is where the labels at that τ fall in its subtree.
        let tau_c = tau.max(tau_plus(tree, children[0])?).min(tree.tau_max);
        let (labels, leaves) = self.leaf_labels(seg, image, tau_c, refine).await?;
        let at = check_point(&labels, x, y)?;
        let leaf = leaves[labels.labels()[at] as usize] as u32;
        Ok(children.into_iter().find(|&c| is_within(tree, leaf, c)))
    }

    /// The node picked at pixel `(x, y)` of `image`: the segment under it at τ, then `step`.
    ///
    /// # Errors
    /// As [`Compute::segment_at`] and [`Compute::finer`].
    pub async fn pick(
        &self,
        seg: &Segmentation,
        image: &RgbImage,
        point: (usize, usize),
        tau: f64,
        refine: Refine,
        step: Step,
    ) -> Result<u32> {
        let mut node = self.segment_at(seg, image, point, tau, refine).await?;
        match step {
            Step::At => {}
            Step::Coarser(n) => {
                for _ in 0..n {
                    match coarser(&seg.tree, node) {
                        Some(p) => node = p,
                        None => break,
                    }
                }
            }
            Step::Finer(n) => {
                for _ in 0..n {
                    match self.finer(seg, image, node, point, tau, refine).await? {
                        Some(c) => node = c,
                        None => break,
                    }
                }
            }
        }
        Ok(node)
    }

    /// The pixels of the regions of `nodes` (their union) at τ (module docs), with `refine`'s
    /// edges, at the image's size.
    ///
    /// # Errors
    /// A node outside the tree, τ outside (0, τ_max], and what computing the labels can fail on.
    pub async fn region_mask(
        &self,
        seg: &Segmentation,
        image: &RgbImage,
        nodes: &[u32],
        tau: f64,
        refine: Refine,
    ) -> Result<Mask> {
        let tree = &seg.tree;
        crate::ncut::check_tau(tau)?;
        let (w, h) = image.dimensions();
        let mut mask = Mask::empty(w as usize, h as usize);
        let mut labellings: Vec<(f64, LabelMap, Vec<usize>)> = Vec::new();
        for &n in nodes {
            check_node(tree, n)?;
            // n and its ancestors below the segments at τ, from the top one down.
            let mut chain = vec![n];
            while let Some(p) = tree.nodes[*chain.last().unwrap() as usize].parent {
                if tau_plus(tree, *chain.last().unwrap())? <= tau {
                    break;
                }
                chain.push(p);
            }
            let mut region: Option<Vec<bool>> = None;
            for &c in chain.iter().rev() {
                // τ⁺ ≤ τ_max for a node of the tree: its ancestors split below τ_max.
                let t = tau.max(tau_plus(tree, c)?).min(tree.tau_max);
                if !labellings.iter().any(|(u, ..)| *u == t) {
                    let (labels, leaves) = self.leaf_labels(seg, image, t, refine).await?;
                    labellings.push((t, labels, leaves));
                }
                let (_, labels, leaves) = labellings.iter().find(|(u, ..)| *u == t).unwrap();
                let inside: Vec<bool> = leaves.iter().map(|&l| is_within(tree, l as u32, c)).collect();
                let own = labels.labels().iter().map(|&l| inside[l as usize]);
                region = Some(match region {
                    None => own.collect(),
                    Some(r) => r.iter().zip(own).map(|(&a, b)| a && b).collect(),
                });
            }
            let region = region.expect("the chain holds n");
            mask.on.iter_mut().zip(region).for_each(|(m, r)| *m |= r);
        }
        Ok(mask)
    }
}

/// The photo's own pixels where `mask` is set, transparent elsewhere: RGBA `[H, W, 4]` at the
/// photo's size, or cropped to the selection's bounding box.
///
/// # Errors
/// [`Error::InvalidParameter`] for a mask of another size, or an empty selection with `crop`.
pub fn cutout(image: &RgbImage, mask: &Mask, crop: bool) -> Result<image::RgbaImage> {
    let (w, h) = image.dimensions();
    if (mask.width, mask.height) != (w as usize, h as usize) {
        return Err(Error::InvalidParameter {
            name: "mask",
            expected: "the image's size",
            got: format!("{}×{} for a {w}×{h} image", mask.width, mask.height),
        });
    }
    let [x0, y0, x1, y1] = if crop {
        mask.bbox().ok_or_else(|| Error::InvalidParameter {
            name: "selection",
            expected: "at least one pixel to crop to",
            got: "an empty selection".into(),
        })?
    } else {
        [0, 0, w as usize, h as usize]
    };
    Ok(image::RgbaImage::from_fn((x1 - x0) as u32, (y1 - y0) as u32, |x, y| {
        let (px, py) = (x as usize + x0, y as usize + y0);
        let [r, g, b] = image.get_pixel(px as u32, py as u32).0;
        let a = if mask.on[py * mask.width + px] { 255 } else { 0 };
        image::Rgba([r, g, b, a])
    }))
}

/// Encodes an RGBA image (a [`cutout`]) as an 8-bit PNG.
///
/// # Errors
/// [`Error::ImageEncode`] if the encoder fails.
pub fn encode_rgba_png(img: &image::RgbaImage) -> Result<Vec<u8>> {
    let mut png = Vec::new();
    img.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .map_err(|e| Error::ImageEncode(format!("RGBA PNG: {e}")))?;
    Ok(png)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mask_counts_boxes_and_unions() {
        let mut a = Mask::empty(4, 3);
        assert_eq!((a.count(), a.bbox()), (0, None));
        a.on[4 + 1] = true;
        a.on[2 * 4 + 2] = true;
        assert_eq!((a.count(), a.bbox()), (2, Some([1, 1, 3, 3])));
        let mut b = Mask::empty(4, 3);
        b.on[3] = true;
        a.union_with(&b).unwrap();
        assert_eq!((a.count(), a.bbox()), (3, Some([1, 0, 4, 3])));
        assert!(a.union_with(&Mask::empty(3, 4)).is_err());
    }

    #[test]
    fn cutout_keeps_the_photos_pixels_where_selected() {
        let image = RgbImage::from_fn(4, 3, |x, y| image::Rgb([x as u8 * 10, y as u8 * 10, 7]));
        let mut m = Mask::empty(4, 3);
        m.on[4 + 2] = true;
        m.on[4 + 3] = true;
        let full = cutout(&image, &m, false).unwrap();
        assert_eq!(full.dimensions(), (4, 3));
        assert_eq!(full.get_pixel(2, 1).0, [20, 10, 7, 255]);
        assert_eq!(full.get_pixel(0, 0).0[3], 0);
        let crop = cutout(&image, &m, true).unwrap();
        assert_eq!(crop.dimensions(), (2, 1));
        assert_eq!(crop.get_pixel(1, 0).0, [30, 10, 7, 255]);
        assert!(cutout(&image, &Mask::empty(4, 3), true).is_err());
        assert!(cutout(&image, &Mask::empty(3, 3), false).is_err());
    }
}
