//! Images in, label masks and overlays out. (Stub: being written.)

use crate::Result;
pub use image::RgbImage;

/// Decodes an image from bytes into 8-bit RGB, upright (EXIF orientation applied).
pub fn decode_image(_bytes: &[u8]) -> Result<RgbImage> {
    unimplemented!()
}
