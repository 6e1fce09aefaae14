//! An EXIF orientation tag for test JPEGs (tests/image_io.rs, tests/eval_datasets.rs).

/// APP1 segment holding a minimal little-endian EXIF block with one IFD0 entry:
/// Orientation (0x0112), SHORT, count 1, value `orientation`.
pub fn app1(orientation: u16) -> Vec<u8> {
    let mut tiff = b"II*\x00".to_vec();
    tiff.extend_from_slice(&8u32.to_le_bytes()); // IFD0 offset
    tiff.extend_from_slice(&1u16.to_le_bytes()); // one entry
    tiff.extend_from_slice(&0x0112u16.to_le_bytes());
    tiff.extend_from_slice(&3u16.to_le_bytes()); // SHORT
    tiff.extend_from_slice(&1u32.to_le_bytes());
    tiff.extend_from_slice(&orientation.to_le_bytes());
    tiff.extend_from_slice(&[0, 0]); // value padding
    tiff.extend_from_slice(&0u32.to_le_bytes()); // no next IFD
    let mut payload = b"Exif\x00\x00".to_vec();
    payload.extend(tiff);
    let mut seg = vec![0xFF, 0xE1];
    seg.extend_from_slice(&((payload.len() + 2) as u16).to_be_bytes());
    seg.extend(payload);
    seg
}

/// `jpeg` with an APP1 EXIF block carrying `orientation` inserted right after SOI.
pub fn with_orientation(jpeg: &[u8], orientation: u16) -> Vec<u8> {
    assert_eq!(&jpeg[..2], &[0xFF, 0xD8], "a JPEG starts with SOI");
    let mut out = jpeg[..2].to_vec();
    out.extend(app1(orientation));
    out.extend_from_slice(&jpeg[2..]);
    out
}
