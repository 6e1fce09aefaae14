//! Names drawn on a picture: each named region's name at its innermost pixel, and a legend strip
//! of colour swatches and names below the picture. Text is an 8×8 bitmap font (font8x8, public
//! domain: Latin, Greek, Hiragana); a character it lacks is drawn as `?`.

use font8x8::UnicodeFonts;
use image::{Rgb, RgbImage};

/// One class on the picture: its colour in the overlay and its name.
#[derive(Debug, Clone)]
pub struct Legend {
    pub colour: [u8; 3],
    pub name: String,
}

const GLYPH: u32 = 8;

fn glyph(c: char) -> [u8; 8] {
    let fonts: [&dyn Fn(char) -> Option<[u8; 8]>; 5] = [
        &|c| font8x8::BASIC_FONTS.get(c),
        &|c| font8x8::LATIN_FONTS.get(c),
        &|c| font8x8::GREEK_FONTS.get(c),
        &|c| font8x8::HIRAGANA_FONTS.get(c),
        &|c| font8x8::MISC_FONTS.get(c),
    ];
    fonts
        .iter()
        .find_map(|f| f(c))
        .or_else(|| font8x8::BASIC_FONTS.get('?'))
        .unwrap_or([0; 8])
}

/// The text's size in pixels at `scale` (one line).
pub fn text_size(text: &str, scale: u32) -> (u32, u32) {
    (text.chars().count() as u32 * GLYPH * scale, GLYPH * scale)
}

/// How text is drawn: glyph pixels `scale`×`scale`, colour `fg`, on a box of `bg` blended at
/// `bg_alpha` (0: no box).
#[derive(Debug, Clone, Copy)]
pub struct TextStyle {
    pub scale: u32,
    pub fg: [u8; 3],
    pub bg: [u8; 3],
    pub bg_alpha: f32,
}

/// Draws `text` with its top-left at (x, y) (may be partly outside: clipped), on its box with a
/// one-glyph-pixel margin.
pub fn draw_text(img: &mut RgbImage, x: i64, y: i64, text: &str, style: TextStyle) {
    let TextStyle {
        scale,
        fg,
        bg,
        bg_alpha,
    } = style;
    let (tw, th) = text_size(text, scale);
    let m = i64::from(scale);
    let (w, h) = (i64::from(img.width()), i64::from(img.height()));
    for py in (y - m).max(0)..(y + i64::from(th) + m).min(h) {
        for px in (x - m).max(0)..(x + i64::from(tw) + m).min(w) {
            let p = img.get_pixel_mut(px as u32, py as u32);
            for k in 0..3 {
                p[k] = ((1.0 - bg_alpha) * f32::from(p[k]) + bg_alpha * f32::from(bg[k])).round() as u8;
            }
        }
    }
    let s = i64::from(scale);
    for (i, c) in text.chars().enumerate() {
        let rows = glyph(c);
        let gx = x + i as i64 * i64::from(GLYPH) * s;
        for (row, bits) in rows.iter().enumerate() {
            for col in 0..8 {
                if bits >> col & 1 == 0 {
                    continue;
                }
                for dy in 0..s {
                    for dx in 0..s {
                        let (px, py) = (gx + col * s + dx, y + row as i64 * s + dy);
                        if (0..w).contains(&px) && (0..h).contains(&py) {
                            img.put_pixel(px as u32, py as u32, Rgb(fg));
                        }
                    }
                }
            }
        }
    }
}

/// For each label value `< n`, its innermost pixel (the one farthest, in 4-connected steps, from
/// another label or the picture's edge; the first in raster order on ties) and that distance.
///
/// # Shapes
/// `labels`: `[h, w]` row-major, each `< n`.
pub fn innermost(labels: &[u32], w: usize, h: usize, n: usize) -> Vec<Option<(usize, usize, u32)>> {
    let mut d = vec![u32::MAX; w * h];
    for y in 0..h {
        for x in 0..w {
            let l = labels[y * w + x];
            let edge = x == 0
                || y == 0
                || x + 1 == w
                || y + 1 == h
                || labels[y * w + x - 1] != l
                || labels[y * w + x + 1] != l
                || labels[(y - 1) * w + x] != l
                || labels[(y + 1) * w + x] != l;
            if edge {
                d[y * w + x] = 1;
            }
        }
    }
    // Two chamfer passes: distances within a region (every region has an edge pixel).
    for y in 0..h {
        for x in 0..w {
            let i = y * w + x;
            if x > 0 {
                d[i] = d[i].min(d[i - 1].saturating_add(1));
            }
            if y > 0 {
                d[i] = d[i].min(d[i - w].saturating_add(1));
            }
        }
    }
    for y in (0..h).rev() {
        for x in (0..w).rev() {
            let i = y * w + x;
            if x + 1 < w {
                d[i] = d[i].min(d[i + 1].saturating_add(1));
            }
            if y + 1 < h {
                d[i] = d[i].min(d[i + w].saturating_add(1));
            }
        }
    }
    let mut best: Vec<Option<(usize, usize, u32)>> = vec![None; n];
    for y in 0..h {
        for x in 0..w {
            let l = labels[y * w + x] as usize;
            let v = d[y * w + x];
            if l < n && best[l].is_none_or(|(_, _, b)| v > b) {
                best[l] = Some((x, y, v));
            }
        }
    }
    best
}

/// The overlay with each class's name at its innermost pixel and a legend strip below.
///
/// # Shapes
/// `overlay`: `[h, w]` RGB; `classes`: `[h, w]` class indices into `legend`.
pub fn annotate(overlay: &RgbImage, classes: &[u32], legend: &[Legend]) -> RgbImage {
    let (w, h) = overlay.dimensions();
    let scale = (w.min(h) / 320).clamp(1, 4);
    let line = GLYPH * scale + 4 * scale;
    // Lay out the legend: swatch + name entries, wrapped to the picture's width.
    let present: Vec<usize> = {
        let mut seen = vec![false; legend.len()];
        for &c in classes {
            if let Some(s) = seen.get_mut(c as usize) {
                *s = true;
            }
        }
        (0..legend.len()).filter(|&k| seen[k]).collect()
    };
    let mut rows = vec![Vec::new()];
    let mut x = 0u32;
    for &k in &present {
        let entry = line + scale * 2 + text_size(&legend[k].name, scale).0 + line;
        if x > 0 && x + entry > w {
            rows.push(Vec::new());
            x = 0;
        }
        rows.last_mut().expect("one row").push((k, x));
        x += entry;
    }
    let strip = if present.is_empty() {
        0
    } else {
        rows.len() as u32 * line + 2 * scale
    };
    let mut out = RgbImage::from_pixel(w, h + strip, Rgb([255, 255, 255]));
    image::imageops::replace(&mut out, overlay, 0, 0);
    for (r, row) in rows.iter().enumerate() {
        let y = h + scale + r as u32 * line;
        for &(k, x0) in row {
            let sw = GLYPH * scale;
            for py in y + 2 * scale..y + 2 * scale + sw {
                for px in x0 + scale..x0 + scale + sw {
                    if px < w {
                        out.put_pixel(px, py, Rgb(legend[k].colour));
                    }
                }
            }
            let tx = i64::from(x0 + 2 * scale + sw + scale);
            let ink = TextStyle {
                scale,
                fg: [0; 3],
                bg: [255; 3],
                bg_alpha: 0.0,
            };
            draw_text(&mut out, tx, i64::from(y + 2 * scale), &legend[k].name, ink);
        }
    }
    // Names on the picture, where the class's region is wide enough for a glyph.
    for (k, spot) in innermost(classes, w as usize, h as usize, legend.len())
        .into_iter()
        .enumerate()
    {
        let Some((x, y, depth)) = spot else { continue };
        if depth < GLYPH * scale / 2 + 1 {
            continue;
        }
        let (tw, th) = text_size(&legend[k].name, scale);
        let tx = (x as i64 - i64::from(tw / 2)).clamp(0, i64::from(w.saturating_sub(tw)));
        let ty = y as i64 - i64::from(th / 2);
        let label = TextStyle {
            scale,
            fg: [255; 3],
            bg: [0; 3],
            bg_alpha: 0.6,
        };
        draw_text(&mut out, tx, ty, &legend[k].name, label);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn innermost_is_the_centre_of_a_square() {
        // A 9×9 square of label 1 inside a 15×15 picture of label 0.
        let (w, h) = (15, 15);
        let labels: Vec<u32> = (0..w * h)
            .map(|i| u32::from((3..12).contains(&(i % w)) && (3..12).contains(&(i / w))))
            .collect();
        let spots = innermost(&labels, w, h, 2);
        assert_eq!(spots[1], Some((7, 7, 5)));
        assert_eq!(
            spots[0].unwrap().2,
            2,
            "the frame is 3 pixels wide: depth 2 at its middle"
        );
    }

    #[test]
    fn text_is_drawn_and_clipped() {
        let mut img = RgbImage::new(20, 10);
        let style = TextStyle {
            scale: 1,
            fg: [255; 3],
            bg: [0; 3],
            bg_alpha: 1.0,
        };
        draw_text(&mut img, 14, 1, "Hé?", style);
        assert!(img.pixels().any(|p| p.0 == [255; 3]), "something drawn");
        assert_eq!(text_size("猫", 2), (16, 16), "one glyph box per character");
    }

    #[test]
    fn the_legend_lists_each_present_class_once() {
        let overlay = RgbImage::from_pixel(40, 30, Rgb([10, 10, 10]));
        let classes = vec![1u32; 40 * 30];
        let legend = vec![
            Legend {
                colour: [255, 0, 0],
                name: "absent".into(),
            },
            Legend {
                colour: [0, 255, 0],
                name: "sky".into(),
            },
        ];
        let out = annotate(&overlay, &classes, &legend);
        assert!(out.height() > 30, "a strip below");
        let green = out.pixels().filter(|p| p.0 == [0, 255, 0]).count();
        let red = out.pixels().filter(|p| p.0 == [255, 0, 0]).count();
        assert_eq!((green > 0, red), (true, 0));
    }
}
