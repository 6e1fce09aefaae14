//! Minimal `.npy` (NumPy format v1–v3) reading and writing for the arrays the CLI exchanges:
//! `f32 [H, W, C]` features in, `i32 [H, W]` labels out. C order only; little- or big-endian
//! input; anything else is rejected with a message that says what was found.
//!
//! Format: <https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html>.

use crate::{Error, Result};

const MAGIC: &[u8] = b"\x93NUMPY";

/// A parsed `.npy` header.
#[derive(Clone, Debug, PartialEq)]
pub struct Header {
    /// NumPy dtype string, e.g. `<f4`.
    pub descr: String,
    pub fortran_order: bool,
    pub shape: Vec<usize>,
}

/// Splits a `.npy` byte buffer into its header and its data bytes.
pub fn parse(bytes: &[u8]) -> Result<(Header, &[u8])> {
    if bytes.len() < 10 || &bytes[..6] != MAGIC {
        return Err(Error::Npy("not a .npy file (missing the \\x93NUMPY magic)".into()));
    }
    let major = bytes[6];
    let (hlen, start): (usize, usize) = match major {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 if bytes.len() >= 12 => (
            u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
            12,
        ),
        _ => return Err(Error::Npy(format!("unsupported .npy format version {major}"))),
    };
    let end = start
        .checked_add(hlen)
        .filter(|&e| e <= bytes.len())
        .ok_or_else(|| Error::Npy("header is truncated".into()))?;
    let text = std::str::from_utf8(&bytes[start..end]).map_err(|_| Error::Npy("header is not text".into()))?;
    let header = parse_header(text)?;
    Ok((header, &bytes[end..]))
}

/// Value of `'key': ...` in the header dict (a string, a bool or a tuple).
fn field<'a>(text: &'a str, key: &str) -> Result<&'a str> {
    let pat = format!("'{key}':");
    let at = text
        .find(&pat)
        .ok_or_else(|| Error::Npy(format!("header has no '{key}' field: {text}")))?;
    Ok(text[at + pat.len()..].trim_start())
}

fn parse_header(text: &str) -> Result<Header> {
    let d = field(text, "descr")?;
    let descr = d
        .strip_prefix('\'')
        .and_then(|r| r.split('\'').next())
        .ok_or_else(|| Error::Npy(format!("cannot read descr in header: {text}")))?
        .to_string();
    let f = field(text, "fortran_order")?;
    let fortran_order = if f.starts_with("True") {
        true
    } else if f.starts_with("False") {
        false
    } else {
        return Err(Error::Npy(format!("cannot read fortran_order in header: {text}")));
    };
    let s = field(text, "shape")?;
    let inner = s
        .strip_prefix('(')
        .and_then(|r| r.split(')').next())
        .ok_or_else(|| Error::Npy(format!("cannot read shape in header: {text}")))?;
    let shape = inner
        .split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(|t| {
            t.trim_end_matches('L')
                .parse::<usize>()
                .map_err(|_| Error::Npy(format!("bad dimension '{t}' in shape ({inner})")))
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Header {
        descr,
        fortran_order,
        shape,
    })
}

/// Reads an `f32` array of the given rank from `.npy` bytes; returns its shape and values.
///
/// `f8` input is rejected rather than silently narrowed: the interface is float32.
pub fn read_f32(bytes: &[u8], rank: usize) -> Result<(Vec<usize>, Vec<f32>)> {
    let (h, data) = parse(bytes)?;
    let big = match h.descr.as_str() {
        "<f4" | "=f4" | "|f4" => false,
        ">f4" => true,
        other => return Err(Error::Npy(format!("dtype is {other}; expected float32 (<f4)"))),
    };
    let values = read_array(&h, data, rank, 4)?;
    let out = values
        .chunks_exact(4)
        .map(|b| {
            let a = [b[0], b[1], b[2], b[3]];
            if big {
                f32::from_be_bytes(a)
            } else {
                f32::from_le_bytes(a)
            }
        })
        .collect();
    Ok((h.shape, out))
}

/// Reads an integer label array (`i32`, `i64`, `u8`, `u16`, `u32`) of the given rank as `i64`.
pub fn read_labels(bytes: &[u8], rank: usize) -> Result<(Vec<usize>, Vec<i64>)> {
    let (h, data) = parse(bytes)?;
    let (size, conv): (usize, fn(&[u8]) -> i64) = match h.descr.as_str() {
        "<i4" => (4, |b| i32::from_le_bytes([b[0], b[1], b[2], b[3]]) as i64),
        "<i8" => (8, |b| i64::from_le_bytes(b.try_into().unwrap())),
        "|u1" | "<u1" => (1, |b| b[0] as i64),
        "<u2" => (2, |b| u16::from_le_bytes([b[0], b[1]]) as i64),
        "<u4" => (4, |b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as i64),
        other => {
            return Err(Error::Npy(format!(
                "dtype is {other}; expected a little-endian integer type"
            )))
        }
    };
    let values = read_array(&h, data, rank, size)?;
    Ok((h.shape, values.chunks_exact(size).map(conv).collect()))
}

fn read_array<'a>(h: &Header, data: &'a [u8], rank: usize, size: usize) -> Result<&'a [u8]> {
    if h.fortran_order {
        return Err(Error::Npy(
            "Fortran-ordered arrays are not supported; save with np.ascontiguousarray".into(),
        ));
    }
    if h.shape.len() != rank {
        return Err(Error::Npy(format!(
            "array has rank {} (shape {:?}); expected rank {rank}",
            h.shape.len(),
            h.shape
        )));
    }
    let count = h
        .shape
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .ok_or_else(|| Error::Npy(format!("shape {:?} overflows", h.shape)))?;
    let need = count
        .checked_mul(size)
        .ok_or_else(|| Error::Npy(format!("shape {:?} overflows", h.shape)))?;
    if data.len() < need {
        return Err(Error::Npy(format!(
            "data is truncated: shape {:?} needs {need} bytes, file has {}",
            h.shape,
            data.len()
        )));
    }
    Ok(&data[..need])
}

/// Encodes a C-order array as `.npy` v1 bytes with the given dtype descr and raw little-endian data.
fn encode(descr: &str, shape: &[usize], data: &[u8]) -> Vec<u8> {
    let dims = match shape.len() {
        1 => format!("{},", shape[0]),
        _ => shape.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(", "),
    };
    let mut header = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': ({dims}), }}");
    // Pad with spaces so that magic + version + length + header + '\n' is a multiple of 64.
    let total = MAGIC.len() + 2 + 2 + header.len() + 1;
    header.push_str(&" ".repeat((64 - total % 64) % 64));
    header.push('\n');
    let mut out = Vec::with_capacity(10 + header.len() + data.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&[1, 0]);
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(data);
    out
}

/// `.npy` bytes of an `f32` array.
pub fn encode_f32(shape: &[usize], values: &[f32]) -> Vec<u8> {
    encode(
        "<f4",
        shape,
        &values.iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<_>>(),
    )
}

/// `.npy` bytes of an `i32` array.
pub fn encode_i32(shape: &[usize], values: &[i32]) -> Vec<u8> {
    encode(
        "<i4",
        shape,
        &values.iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<_>>(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_f32_and_i32() {
        let b = encode_f32(&[2, 3, 1], &[1.0, 2.0, 3.0, 4.0, 5.0, -6.5]);
        assert_eq!((b.len() - 6 * 4) % 64, 0, "header is 64-byte aligned");
        let (shape, v) = read_f32(&b, 3).unwrap();
        assert_eq!(shape, vec![2, 3, 1]);
        assert_eq!(v, vec![1.0, 2.0, 3.0, 4.0, 5.0, -6.5]);
        let b = encode_i32(&[2, 2], &[0, 1, 2, -3]);
        assert_eq!(read_labels(&b, 2).unwrap(), (vec![2, 2], vec![0, 1, 2, -3]));
        let b = encode_i32(&[4], &[0, 1, 2, 3]);
        assert_eq!(read_labels(&b, 1).unwrap().0, vec![4]);
    }

    #[test]
    fn rejects_wrong_dtype_rank_and_truncation() {
        let f64s = encode("<f8", &[1, 1, 1], &1.0f64.to_le_bytes());
        assert!(read_f32(&f64s, 3).unwrap_err().to_string().contains("dtype is <f8"));
        let b = encode_f32(&[2, 2], &[1.0; 4]);
        assert!(read_f32(&b, 3).unwrap_err().to_string().contains("rank 2"));
        let b = encode_f32(&[2, 2, 2], &[1.0; 8]);
        assert!(read_f32(&b[..b.len() - 1], 3)
            .unwrap_err()
            .to_string()
            .contains("truncated"));
        assert!(read_f32(b"hello world", 3).unwrap_err().to_string().contains("magic"));
        let fortran = String::from_utf8_lossy(&b).replace("'fortran_order': False", "'fortran_order': True ");
        assert!(read_f32(fortran.as_bytes(), 3).is_err());
    }
}
