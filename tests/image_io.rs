//! Images in and masks out: every kind of bad input gets a typed error with a useful message,
//! every pixel layout comes out as upright 8-bit RGB, and masks survive a PNG round trip.

use std::io::Cursor;
use std::path::Path;

use diffcut::image_io::{
    decode_image, decode_image_with, encode_mask_png, encode_rgb_png, load_image, overlay, palette, write_png, Exif,
    RgbImage, MAX_PIXELS,
};
use diffcut::Error;
#[path = "common/exif.rs"]
mod exif;

use image::{ColorType, DynamicImage, ImageBuffer, ImageFormat, Luma, LumaA, Rgb, Rgba};

/// Encodes any image buffer with the `image` crate.
fn encode(img: impl Into<DynamicImage>, format: ImageFormat) -> Vec<u8> {
    let mut out = Vec::new();
    img.into()
        .write_to(&mut Cursor::new(&mut out), format)
        .expect("test encoder");
    out
}

/// A deterministic, busy RGB test image (so that compressed data is not trivially short).
fn busy_rgb(w: u32, h: u32) -> RgbImage {
    RgbImage::from_fn(w, h, |x, y| {
        let v = x.wrapping_mul(2_654_435_761).wrapping_add(y.wrapping_mul(40_503)) >> 7;
        Rgb([v as u8, (v >> 8) as u8, (x * 7 + y * 3) as u8])
    })
}

fn decode_err(bytes: &[u8]) -> String {
    match decode_image(bytes) {
        Err(Error::ImageDecode(msg)) => msg,
        other => panic!("expected Error::ImageDecode, got {other:?}"),
    }
}

/// CRC-32 (ISO-HDLC, the PNG/zlib one), bitwise: enough for hand-made chunks.
fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

fn png_chunk(kind: &[u8; 4], data: &[u8]) -> Vec<u8> {
    let mut c = (data.len() as u32).to_be_bytes().to_vec();
    let mut body = kind.to_vec();
    body.extend_from_slice(data);
    c.extend_from_slice(&body);
    c.extend_from_slice(&crc32(&body).to_be_bytes());
    c
}

/// A PNG signature and a valid IHDR (8-bit RGB) claiming `w × h`, optionally followed by a tiny
/// IDAT and IEND; no pixel data that could match the claim.
fn png_header(w: u32, h: u32, with_tail: bool) -> Vec<u8> {
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = w.to_be_bytes().to_vec();
    ihdr.extend_from_slice(&h.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]); // bit depth, colour type RGB, compression, filter, interlace
    png.extend(png_chunk(b"IHDR", &ihdr));
    if with_tail {
        // zlib stream of one stored empty block.
        png.extend(png_chunk(
            b"IDAT",
            &[0x78, 0x01, 0x01, 0x00, 0x00, 0xFF, 0xFF, 0x00, 0x00, 0x00, 0x01],
        ));
        png.extend(png_chunk(b"IEND", &[]));
    }
    png
}

#[test]
fn crc32_matches_the_png_spec_value() {
    // The CRC of an empty IEND chunk is fixed by the spec: AE 42 60 82.
    assert_eq!(crc32(b"IEND"), 0xAE42_6082);
}

#[test]
fn empty_input_is_a_decode_error() {
    let msg = decode_err(&[]);
    assert!(msg.contains("empty"), "{msg}");
}

#[test]
fn garbage_is_a_decode_error_naming_the_bytes() {
    let msg = decode_err(b"this is not an image, just text");
    assert!(msg.contains("unrecognised format"), "{msg}");
    assert!(msg.contains("74 68 69 73"), "the message shows the first bytes: {msg}");
}

#[test]
fn truncated_png_is_a_decode_error() {
    let png = encode(busy_rgb(64, 64), ImageFormat::Png);
    for cut in [png.len() / 2, png.len() - 20, 40, 20] {
        let msg = decode_err(&png[..cut]);
        assert!(msg.contains("PNG"), "cut at {cut}: {msg}");
    }
}

#[test]
fn signature_only_png_is_a_decode_error() {
    decode_err(b"\x89PNG\r\n\x1a\n");
}

#[test]
fn huge_png_header_is_rejected_before_decoding() {
    for with_tail in [false, true] {
        match decode_image(&png_header(20_000, 20_000, with_tail)) {
            Err(
                e @ Error::ImageTooLarge {
                    width: 20_000,
                    height: 20_000,
                    ..
                },
            ) => {
                let msg = e.to_string();
                assert!(msg.contains("20000×20000"), "{msg}");
            }
            other => panic!("expected ImageTooLarge 20000×20000, got {other:?}"),
        }
    }
}

#[test]
fn too_many_pixels_within_the_side_limit_is_rejected() {
    // 10000² = 10⁸ > MAX_PIXELS (2²⁶), though each side is under MAX_SIDE.
    match decode_image(&png_header(10_000, 10_000, true)) {
        Err(Error::ImageTooLarge {
            width: 10_000,
            height: 10_000,
            max_pixels,
            ..
        }) => {
            assert_eq!(max_pixels, MAX_PIXELS)
        }
        other => panic!("expected ImageTooLarge, got {other:?}"),
    }
}

#[test]
fn huge_jpeg_header_is_rejected() {
    // Patch the frame header (SOF0: FF C0, length, precision, height, width) of a real JPEG.
    let mut jpeg = encode(busy_rgb(8, 8), ImageFormat::Jpeg);
    let sof = jpeg
        .windows(2)
        .position(|w| w == [0xFF, 0xC0])
        .expect("baseline JPEG has SOF0");
    jpeg[sof + 5..sof + 7].copy_from_slice(&20_000u16.to_be_bytes());
    jpeg[sof + 7..sof + 9].copy_from_slice(&20_000u16.to_be_bytes());
    assert!(matches!(
        decode_image(&jpeg),
        Err(Error::ImageTooLarge {
            width: 20_000,
            height: 20_000,
            ..
        })
    ));
}

#[test]
fn zero_size_png_header_is_a_decode_error() {
    let msg = decode_err(&png_header(0, 5, true));
    assert!(msg.contains("0×5"), "{msg}");
}

#[test]
fn one_pixel_images_decode() {
    let px = RgbImage::from_pixel(1, 1, Rgb([10, 200, 30]));
    for format in [ImageFormat::Png, ImageFormat::Bmp, ImageFormat::Tiff] {
        let img = decode_image(&encode(px.clone(), format)).unwrap();
        assert_eq!(img.dimensions(), (1, 1), "{format:?}");
        assert_eq!(img.get_pixel(0, 0).0, [10, 200, 30], "{format:?}");
    }
    let jpeg = decode_image(&encode(px, ImageFormat::Jpeg)).unwrap();
    assert_eq!(jpeg.dimensions(), (1, 1));
}

#[test]
fn every_supported_format_is_recognised_from_content() {
    let src = busy_rgb(16, 12);
    for format in [
        ImageFormat::Png,
        ImageFormat::Bmp,
        ImageFormat::Tiff,
        ImageFormat::WebP,
        ImageFormat::Gif,
        ImageFormat::Jpeg,
    ] {
        let img = decode_image(&encode(src.clone(), format)).unwrap_or_else(|e| panic!("{format:?}: {e}"));
        assert_eq!(img.dimensions(), (16, 12), "{format:?}");
        if matches!(
            format,
            ImageFormat::Png | ImageFormat::Bmp | ImageFormat::Tiff | ImageFormat::WebP
        ) {
            assert_eq!(img, src, "{format:?} is lossless");
        }
    }
}

#[test]
fn sixteen_bit_rgb_is_rounded_to_eight_bits() {
    let img: ImageBuffer<Rgb<u16>, Vec<u16>> = ImageBuffer::from_fn(3, 2, |x, y| {
        Rgb([x as u16 * 30_000, y as u16 * 65_535, 257 * 100 + 128])
    });
    let png = encode(img, ImageFormat::Png);
    let out = decode_image(&png).unwrap();
    assert_eq!(out.dimensions(), (3, 2));
    for (x, y, p) in out.enumerate_pixels() {
        let want_r = ((f64::from(x) * 30_000.0) / 257.0).round() as u8;
        assert_eq!(p.0[0], want_r, "({x}, {y})");
        assert_eq!(p.0[1], if y == 0 { 0 } else { 255 });
        assert!(p.0[2] == 100 || p.0[2] == 101, "{:?}", p.0);
    }
}

#[test]
fn grey_is_replicated() {
    let img: ImageBuffer<Luma<u8>, Vec<u8>> = ImageBuffer::from_fn(4, 3, |x, y| Luma([(x * 60 + y) as u8]));
    let out = decode_image(&encode(img, ImageFormat::Png)).unwrap();
    for (x, y, p) in out.enumerate_pixels() {
        let v = (x * 60 + y) as u8;
        assert_eq!(p.0, [v, v, v]);
    }
    // 16-bit grey too.
    let img: ImageBuffer<Luma<u16>, Vec<u16>> = ImageBuffer::from_pixel(2, 2, Luma([65_535]));
    let out = decode_image(&encode(img, ImageFormat::Png)).unwrap();
    assert!(out.pixels().all(|p| p.0 == [255, 255, 255]));
}

#[test]
fn grey_alpha_is_composited_over_white() {
    let img: ImageBuffer<LumaA<u8>, Vec<u8>> = ImageBuffer::from_vec(3, 1, vec![0, 255, 0, 0, 0, 128]).unwrap();
    let out = decode_image(&encode(img, ImageFormat::Png)).unwrap();
    assert_eq!(out.get_pixel(0, 0).0, [0, 0, 0], "opaque black stays black");
    assert_eq!(out.get_pixel(1, 0).0, [255, 255, 255], "transparent becomes white");
    // Half-transparent black over white: 255·(1 − 128/255) = 127.
    assert_eq!(out.get_pixel(2, 0).0, [127, 127, 127]);
}

#[test]
fn rgba_is_composited_over_white() {
    let img: ImageBuffer<Rgba<u8>, Vec<u8>> =
        ImageBuffer::from_vec(3, 1, vec![255, 0, 0, 255, /**/ 0, 0, 255, 0, /**/ 255, 0, 0, 128]).unwrap();
    let out = decode_image(&encode(img, ImageFormat::Png)).unwrap();
    assert_eq!(out.get_pixel(0, 0).0, [255, 0, 0]);
    assert_eq!(
        out.get_pixel(1, 0).0,
        [255, 255, 255],
        "the hidden colour does not leak"
    );
    assert_eq!(out.get_pixel(2, 0).0, [255, 127, 127]);
    // 16-bit RGBA goes the same way.
    let img: ImageBuffer<Rgba<u16>, Vec<u16>> = ImageBuffer::from_pixel(1, 1, Rgba([0, 65_535, 0, 65_535]));
    assert_eq!(
        decode_image(&encode(img, ImageFormat::Png)).unwrap().get_pixel(0, 0).0,
        [0, 255, 0]
    );
}

/// A 64×32 JPEG, red in the top-left 32×16 quadrant and blue elsewhere, with an EXIF
/// orientation inserted right after SOI.
fn oriented_jpeg(orientation: u16) -> Vec<u8> {
    let img = RgbImage::from_fn(64, 32, |x, y| {
        if x < 32 && y < 16 {
            Rgb([255, 0, 0])
        } else {
            Rgb([0, 0, 255])
        }
    });
    exif::with_orientation(&encode(img, ImageFormat::Jpeg), orientation)
}

fn is_red(p: &Rgb<u8>) -> bool {
    p.0[0] > 200 && p.0[2] < 60
}

#[test]
fn exif_orientation_6_rotates_clockwise() {
    let plain = decode_image(&oriented_jpeg(1)).unwrap();
    assert_eq!(plain.dimensions(), (64, 32));
    assert!(is_red(plain.get_pixel(2, 2)), "stored top-left is red");

    // Orientation 6: the stored image must be rotated 90° clockwise to display it upright, so
    // the stored top-left corner ends up top-right, and width and height swap.
    let upright = decode_image(&oriented_jpeg(6)).unwrap();
    assert_eq!(upright.dimensions(), (32, 64));
    assert!(is_red(upright.get_pixel(29, 2)), "{:?}", upright.get_pixel(29, 2));
    assert!(!is_red(upright.get_pixel(2, 2)), "{:?}", upright.get_pixel(2, 2));
    assert!(!is_red(upright.get_pixel(29, 61)));
}

#[test]
fn exif_can_be_ignored_to_read_the_stored_pixels() {
    let stored = decode_image_with(&oriented_jpeg(6), Exif::Ignore).unwrap();
    assert_eq!(stored.dimensions(), (64, 32));
    assert!(is_red(stored.get_pixel(2, 2)), "stored top-left is red");
    assert_eq!(stored, decode_image(&oriented_jpeg(1)).unwrap());
}

#[test]
fn exif_orientation_3_rotates_half_a_turn() {
    let upright = decode_image(&oriented_jpeg(3)).unwrap();
    assert_eq!(upright.dimensions(), (64, 32));
    assert!(is_red(upright.get_pixel(61, 29)), "stored top-left is now bottom-right");
    assert!(!is_red(upright.get_pixel(2, 2)));
}

#[test]
fn load_image_names_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.png");
    match load_image(&missing) {
        Err(Error::Io { path, .. }) => assert_eq!(path, missing),
        other => panic!("expected Io, got {other:?}"),
    }
    let text = dir.path().join("notes.png");
    std::fs::write(&text, b"hello").unwrap();
    match load_image(&text) {
        Err(Error::ImageDecode(msg)) => assert!(msg.contains("notes.png"), "{msg}"),
        other => panic!("expected ImageDecode, got {other:?}"),
    }
    let zero = dir.path().join("zero.jpg");
    std::fs::write(&zero, b"").unwrap();
    assert!(matches!(load_image(&zero), Err(Error::ImageDecode(m)) if m.contains("empty")));
}

#[test]
fn shipped_samples_decode() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("samples");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "jpg" || e == "png") {
            let img = load_image(&path).unwrap();
            assert!(
                img.width() >= 256 && img.width() <= 512 && img.height() <= 512,
                "{path:?}"
            );
            seen += 1;
        }
    }
    assert!(seen >= 3, "samples/ should hold at least 3 photos, found {seen}");
}

fn decode_mask(png: &[u8]) -> DynamicImage {
    image::load_from_memory_with_format(png, ImageFormat::Png).unwrap()
}

#[test]
fn mask_png_round_trips_at_8_bits() {
    let (w, h) = (7u32, 3u32);
    let labels: Vec<u32> = (0..w * h).map(|i| i % 6).collect();
    let png = encode_mask_png(&labels, w, h, 6).unwrap();
    let img = decode_mask(&png);
    assert_eq!(img.color(), ColorType::L8);
    assert_eq!((img.width(), img.height()), (w, h));
    let back: Vec<u32> = img.into_luma8().into_raw().into_iter().map(u32::from).collect();
    assert_eq!(back, labels);
    // 256 segments still fit in 8 bits.
    let labels: Vec<u32> = (0..256).collect();
    let img = decode_mask(&encode_mask_png(&labels, 16, 16, 256).unwrap());
    assert_eq!(img.color(), ColorType::L8);
}

#[test]
fn mask_png_round_trips_at_16_bits() {
    let (w, h) = (30u32, 20u32);
    let labels: Vec<u32> = (0..w * h).map(|i| (i * 7) % 300).collect();
    let png = encode_mask_png(&labels, w, h, 300).unwrap();
    let img = decode_mask(&png);
    assert_eq!(img.color(), ColorType::L16);
    let back: Vec<u32> = img.into_luma16().into_raw().into_iter().map(u32::from).collect();
    assert_eq!(back, labels);
}

#[test]
fn mask_png_rejects_bad_input() {
    let bad = |r| matches!(r, Err(Error::InvalidParameter { .. }));
    assert!(bad(encode_mask_png(&[0, 1, 2], 2, 2, 3)), "length mismatch");
    assert!(bad(encode_mask_png(&[], 0, 0, 1)), "empty");
    assert!(bad(encode_mask_png(&[0, 3], 2, 1, 3)), "label ≥ segments");
    assert!(bad(encode_mask_png(&[0], 1, 1, 0)), "zero segments");
    assert!(bad(encode_mask_png(&[0], 1, 1, 70_000)), "more than 16 bits");
}

#[test]
fn write_png_names_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let ok = dir.path().join("mask.png");
    write_png(&ok, &encode_mask_png(&[0, 1], 2, 1, 2).unwrap()).unwrap();
    assert!(decode_image(&std::fs::read(&ok).unwrap()).is_ok());
    let bad = dir.path().join("no/such/dir/mask.png");
    match write_png(&bad, b"x") {
        Err(e @ Error::Io { .. }) => assert!(e.to_string().contains("no/such/dir"), "{e}"),
        other => panic!("expected Io, got {other:?}"),
    }
}

#[test]
fn overlay_colours_segments_and_draws_boundaries() {
    let (w, h) = (8u32, 4u32);
    let img = RgbImage::from_pixel(w, h, Rgb([128, 128, 128]));
    // Left half label 0, right half label 1.
    let labels: Vec<u32> = (0..w * h).map(|i| u32::from(i % w >= 4)).collect();
    let out = overlay(&img, &labels, 2, 1.0);
    let pal = palette(2);
    assert_eq!(out.dimensions(), (w, h));
    assert_eq!(out.get_pixel(0, 0).0, pal[0]);
    assert_eq!(out.get_pixel(7, 3).0, pal[1]);
    // Column 3 borders label 1 on its right: a dark boundary.
    let b = out.get_pixel(3, 1).0;
    assert!(b.iter().all(|&c| c < 60), "{b:?}");
    // Opacity 0 leaves the photo, except boundaries.
    let out = overlay(&img, &labels, 2, 0.0);
    assert_eq!(out.get_pixel(0, 0).0, [128, 128, 128]);
    assert!(encode_rgb_png(&out).is_ok());
}

#[test]
fn palette_colours_are_well_spread() {
    let p = palette(12);
    for i in 0..p.len() {
        for j in 0..i {
            let d: i32 = (0..3).map(|k| (i32::from(p[i][k]) - i32::from(p[j][k])).abs()).sum();
            assert!(d > 40, "colours {i} {:?} and {j} {:?} are too close", p[i], p[j]);
        }
    }
}

/// The page's pixel budget (`fitSize` in the page is the same function): one scale, never up,
/// within both bounds, even for a strip one pixel wide.
#[test]
fn fit_pixels_bounds_pixels_and_sides_without_upscaling() {
    use diffcut::image_io::fit_pixels;
    assert_eq!(fit_pixels(640, 480, 1 << 20, 8192), (640, 480), "small images stay");
    let (w, h) = fit_pixels(4000, 3000, 1 << 20, 8192);
    assert!(u64::from(w) * u64::from(h) <= 1 << 20, "{w}×{h}");
    assert!((f64::from(w) / f64::from(h) - 4.0 / 3.0).abs() < 0.01, "{w}×{h}");
    assert!(w > 1100, "{w}×{h}: scaled by one factor, not cut further");
    assert_eq!(
        fit_pixels(1, 100_000, 1 << 20, 8192),
        (1, 8192),
        "a strip is cut to the side limit"
    );
    let (w, h) = fit_pixels(100_000, 1, 1000, 8192);
    assert!(w <= 1000 && h == 1, "{w}×{h}");
    assert_eq!(fit_pixels(0, 0, 0, 0), (1, 1), "bounds and sides below 1 count as 1");
}
