//! The manifest, file verification, and safetensors shards → device tensors.
//!
//! Loading is shard by shard: [`WeightStore::add_shard`] parses one shard's bytes, uploads each
//! tensor to the device and returns, so the caller can drop the shard before reading the next one.
//! Peak host memory is one shard plus the widened copy of one tensor. q8/q4 weights are handed to
//! burn in their packed form and stay quantized on the device. f16 weights stay f16 on a device
//! that stores f16 (WebGPU's `shader-f16`, Vulkan's `shaderFloat16`, the CPU) and are widened to
//! f32 at each use, exactly (every f16 is an f32): half the device memory of widening them on the
//! host, which is what a device without f16 gets. On the CPU, q8/q4 weights stay packed in host
//! memory as [`Packed`] and are widened at each use by our own loop.

use std::collections::BTreeMap;

use burn::tensor::quantization::{QuantScheme, QuantStore, QuantValue, ScaleDtype};
use burn::tensor::{DType, Device, FloatDType, Tensor, TensorData};
use safetensors::{Dtype, SafeTensors};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::{Error, Result};

/// The manifest format this build reads.
pub const FORMAT: &str = "diffcut-model";
/// The manifest format version this build reads.
pub const FORMAT_VERSION: u32 = 1;

/// `manifest.json`.
#[derive(Debug, Clone, Deserialize)]
pub struct Manifest {
    pub format: String,
    pub format_version: u32,
    /// How the big weights are stored.
    pub dtype: WeightDtype,
    #[serde(default)]
    pub source: serde_json::Value,
    /// The config file's name.
    pub config: String,
    pub files: Vec<ManifestFile>,
    #[serde(default)]
    pub total_bytes: u64,
}

/// How a model's big weights are stored (`dtype` in `manifest.json`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WeightDtype {
    F32,
    F16,
    /// 8-bit blocks of 32 with an f32 scale each.
    Q8,
    /// 4-bit blocks of 32 with an f32 scale each.
    Q4,
}

impl WeightDtype {
    /// The name `manifest.json` and the page use.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::F32 => "f32",
            Self::F16 => "f16",
            Self::Q8 => "q8",
            Self::Q4 => "q4",
        }
    }
}

impl std::fmt::Display for WeightDtype {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a file of the folder holds (`kind` in `manifest.json`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FileKind {
    /// `config.json`: the topology.
    Config,
    /// A safetensors shard of weights.
    Weights,
    /// The seed-42 noise for one input size (`size`).
    Noise,
    /// A CLIP folder's BPE merges (`bpe_simple_vocab_16e6.txt.gz`).
    Vocab,
    /// A CLIP folder's label set (`labels/{set}.json`).
    Labels,
    /// A CLIP folder's precomputed text classifier (`labels/{set}.npy`).
    Classifier,
}

/// Which part of a CLIP folder a file belongs to (`part` in `manifest.json`), so the image part
/// can be fetched without the text tower.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Part {
    Image,
    Text,
}

/// One file of the folder, with the bytes and hash it must have.
#[derive(Debug, Clone, Deserialize)]
pub struct ManifestFile {
    pub name: String,
    pub bytes: u64,
    pub sha256: String,
    pub kind: FileKind,
    /// For `noise`: the input size it belongs to.
    #[serde(default)]
    pub size: Option<u32>,
    /// For a CLIP folder's files: the part it belongs to.
    #[serde(default)]
    pub part: Option<Part>,
}

impl Manifest {
    /// Parses and checks `manifest.json`.
    pub fn from_json(bytes: &[u8]) -> Result<Self> {
        let m: Manifest =
            serde_json::from_slice(bytes).map_err(|e| Error::Model(format!("manifest.json does not parse: {e}")))?;
        if m.format != FORMAT || m.format_version != FORMAT_VERSION {
            return Err(Error::Model(format!(
                "manifest.json is format {:?} version {}; this build reads {FORMAT:?} version {FORMAT_VERSION}",
                m.format, m.format_version
            )));
        }
        for f in &m.files {
            // Names come from a file we may have fetched from anywhere: no paths out of the folder.
            if f.name.is_empty()
                || f.name.starts_with('/')
                || f.name.split('/').any(|p| p == ".." || p.is_empty())
                || f.name.contains('\\')
            {
                return Err(Error::Model(format!(
                    "manifest.json: file name {:?} is not a relative path inside the folder",
                    f.name
                )));
            }
            if f.sha256.len() != 64 || !f.sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(Error::Model(format!(
                    "manifest.json: {} has a malformed sha256",
                    f.name
                )));
            }
        }
        if !m.files.iter().any(|f| f.name == m.config) {
            return Err(Error::Model(format!(
                "manifest.json does not list its config {:?}",
                m.config
            )));
        }
        if !m.files.iter().any(|f| f.kind == FileKind::Weights) {
            return Err(Error::Model("manifest.json lists no weight shards".into()));
        }
        Ok(m)
    }

    /// The weight shards in load order.
    pub fn shards(&self) -> impl Iterator<Item = &ManifestFile> {
        self.files.iter().filter(|f| f.kind == FileKind::Weights)
    }

    /// Total bytes of the weight shards (the download a user waits for, without config/noise).
    pub fn weight_bytes(&self) -> u64 {
        self.shards().map(|f| f.bytes).sum()
    }

    /// The manifest entry named `name`.
    pub fn file(&self, name: &str) -> Option<&ManifestFile> {
        self.files.iter().find(|f| f.name == name)
    }
}

/// A folder being loaded file by file: its manifest and the files it lists still to come. Both
/// loaders (the diffusion model's and CLIP's) keep their books with it.
#[derive(Debug, Clone)]
pub struct FolderFiles {
    manifest: Manifest,
    pending: Vec<String>,
}

impl FolderFiles {
    /// The files of `manifest` that `wanted` keeps (the config always) are expected.
    pub fn new(manifest: Manifest, wanted: impl Fn(&ManifestFile) -> bool) -> Self {
        let pending = manifest
            .files
            .iter()
            .filter(|f| f.name == manifest.config || wanted(f))
            .map(|f| f.name.clone())
            .collect();
        FolderFiles { manifest, pending }
    }

    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    pub fn into_manifest(self) -> Manifest {
        self.manifest
    }

    /// Files still to be added, config first.
    pub fn pending(&self) -> Vec<String> {
        let mut p = self.pending.clone();
        p.sort_by_key(|n| (*n != self.manifest.config, n.clone()));
        p
    }

    /// The manifest entry of `name`, once its bytes and sha256 are checked.
    pub fn check(&self, name: &str, bytes: &[u8]) -> Result<ManifestFile> {
        let entry = self
            .manifest
            .file(name)
            .ok_or_else(|| Error::Model(format!("{name} is not in manifest.json")))?
            .clone();
        verify(&entry, bytes)?;
        Ok(entry)
    }

    /// `name` was taken.
    pub fn done(&mut self, name: &str) {
        self.pending.retain(|p| p != name);
    }

    /// An error naming the first expected file not added.
    pub fn complete(&self) -> Result<()> {
        match self.pending.first() {
            Some(missing) => Err(Error::Model(format!(
                "{missing} (listed in manifest.json) was not loaded"
            ))),
            None => Ok(()),
        }
    }
}

/// Checks a file's length and sha256 against its manifest entry.
pub fn verify(file: &ManifestFile, bytes: &[u8]) -> Result<()> {
    if bytes.len() as u64 != file.bytes {
        return Err(Error::ModelFile {
            file: file.name.clone(),
            reason: format!(
                "{} bytes, the manifest says {} ({})",
                bytes.len(),
                file.bytes,
                if (bytes.len() as u64) < file.bytes {
                    "truncated download?"
                } else {
                    "wrong file?"
                }
            ),
        });
    }
    let digest = Sha256::digest(bytes);
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    if !hex.eq_ignore_ascii_case(&file.sha256) {
        return Err(Error::ModelFile {
            file: file.name.clone(),
            reason: format!("sha256 is {hex}, the manifest says {} (corrupted?)", file.sha256),
        });
    }
    Ok(())
}

/// Q8S or Q4S, per block of 32 along the last dim, packed in u32 words, f32 scales: the layout
/// convert.py writes (models/FORMAT.md).
pub fn quant_scheme(bits: u8) -> QuantScheme {
    let value = if bits == 4 { QuantValue::Q4S } else { QuantValue::Q8S };
    QuantScheme::default()
        .with_value(value)
        .with_store(QuantStore::PackedU32(0))
        .per_block([32], ScaleDtype::F32)
}

/// A tensor as uploaded: float (flattened, with its shape) or quantized 2-D `[out, L]`; or kept on
/// the host ([`WeightStore::keep_on_host`]); or, on the CPU, quantized and packed ([`Packed`]).
pub enum Stored {
    Float { tensor: Tensor<1>, shape: Vec<usize> },
    Quant { tensor: Tensor<2>, shape: [usize; 2] },
    Packed(Packed),
    Host(HostRows),
}

/// A q8/q4 weight `[rows, cols]` in its stored form (blocks of 32 along each row, one f32 scale
/// each), for the CPU: widened to f32 at each use by [`Packed::widen`], the same values burn's
/// `dequantize` gives (`scale × q`, one rounding) in a fraction of the time. burn-flex's own
/// dequantize finds each value's block by integer division, on one core: at 512 px that was most
/// of the UNet slice's time, whose 325 M weights are widened once per image.
#[derive(Clone)]
pub struct Packed {
    bits: u8,
    rows: usize,
    cols: usize,
    /// One i8 per value (q8), or two 4-bit values per byte, low nibble first (q4).
    values: std::sync::Arc<[u8]>,
    /// `rows · cols / 32`.
    scales: std::sync::Arc<[f32]>,
}

/// Values per scale in [`Packed`] (and in burn's [`quant_scheme`]).
const BLOCK: usize = 32;

impl Packed {
    fn bytes(&self) -> u64 {
        (self.values.len() + 4 * self.scales.len()) as u64
    }

    /// All values as f32, row-major `[rows, cols]`.
    pub fn widen(&self) -> Vec<f32> {
        let mut out = vec![0.0f32; self.rows * self.cols];
        // Chunks of whole blocks; each value is one product, so chunking does not change it.
        const CHUNK: usize = BLOCK * 2048;
        let bytes_per_chunk = CHUNK * self.bits as usize / 8;
        let widen_chunk = |(i, o): (usize, &mut [f32])| {
            let q = &self.values[i * bytes_per_chunk..];
            let scales = &self.scales[i * (CHUNK / BLOCK)..];
            widen_blocks(self.bits, q, scales, o);
        };
        #[cfg(feature = "parallel")]
        {
            use rayon::prelude::*;
            out.par_chunks_mut(CHUNK).enumerate().for_each(widen_chunk);
        }
        #[cfg(not(feature = "parallel"))]
        out.chunks_mut(CHUNK).enumerate().for_each(widen_chunk);
        out
    }
}

/// `out[j] = scales[j / 32] · q[j]` for the values of `out.len() / 32` whole blocks of `q` (q8: i8
/// each; q4: two's-complement nibbles, low first). Written per block so it vectorises.
fn widen_blocks(bits: u8, q: &[u8], scales: &[f32], out: &mut [f32]) {
    if bits == 8 {
        for ((o, q), &s) in out.chunks_exact_mut(BLOCK).zip(q.chunks_exact(BLOCK)).zip(scales) {
            for (o, &q) in o.iter_mut().zip(q) {
                *o = s * (q as i8 as f32);
            }
        }
    } else {
        for ((o, q), &s) in out.chunks_exact_mut(BLOCK).zip(q.chunks_exact(BLOCK / 2)).zip(scales) {
            for (o, &b) in o.chunks_exact_mut(2).zip(q) {
                o[0] = s * (((b << 4) as i8 >> 4) as f32);
                o[1] = s * ((b as i8 >> 4) as f32);
            }
        }
    }
}

/// A 2-D table `[rows, cols]` kept on the host in its stored form (f32, f16 or q8/q4 blocks of 32
/// along each row), of which a model needs only a few rows at a time: an embedding table.
#[derive(Debug, Clone)]
pub struct HostRows {
    rows: usize,
    cols: usize,
    data: HostData,
}

#[derive(Debug, Clone)]
enum HostData {
    F32(Vec<f32>),
    F16(Vec<half::f16>),
    /// Quantized values (one i8 per value for q8; two 4-bit values per byte, low nibble first,
    /// for q4) and one scale per `block` values: 32, or a whole row.
    Quant {
        bits: u8,
        values: Vec<u8>,
        scales: Vec<f32>,
        block: usize,
    },
}

impl HostRows {
    pub fn shape(&self) -> [usize; 2] {
        [self.rows, self.cols]
    }

    /// The rows `ids` as f32, row-major `[ids.len(), cols]` (dequantized as the device would).
    pub fn gather(&self, ids: &[u32]) -> Result<Vec<f32>> {
        let c = self.cols;
        let mut out = Vec::with_capacity(ids.len() * c);
        for &id in ids {
            let r = id as usize;
            if r >= self.rows {
                return Err(Error::InvalidParameter {
                    name: "row",
                    expected: "an index below the table's rows",
                    got: format!("{r} of {}", self.rows),
                });
            }
            match &self.data {
                HostData::F32(v) => out.extend_from_slice(&v[r * c..(r + 1) * c]),
                HostData::F16(v) => out.extend(v[r * c..(r + 1) * c].iter().map(|x| x.to_f32())),
                HostData::Quant {
                    bits,
                    values,
                    scales,
                    block,
                } => {
                    for j in r * c..(r + 1) * c {
                        out.push(dequantize_one(*bits, values, j) * scales[j / block]);
                    }
                }
            }
        }
        Ok(out)
    }

    fn bytes(&self) -> u64 {
        match &self.data {
            HostData::F32(v) => 4 * v.len() as u64,
            HostData::F16(v) => 2 * v.len() as u64,
            HostData::Quant { values, scales, .. } => (values.len() + 4 * scales.len()) as u64,
        }
    }
}

/// Value `i` of a q8 (one i8 each) or q4 (two's-complement nibbles, low first) packed array.
fn dequantize_one(bits: u8, q: &[u8], i: usize) -> f32 {
    if bits == 8 {
        q[i] as i8 as f32
    } else {
        let nib = (q[i / 2] >> ((i % 2) * 4)) & 0x0f;
        ((nib as i8) << 4 >> 4) as f32
    }
}

impl Stored {
    fn device_bytes(&self) -> u64 {
        match self {
            Stored::Host(_) => 0,
            Stored::Packed(p) => p.bytes(),
            Stored::Float { tensor, .. } => (tensor.dims()[0] * tensor.dtype().size()) as u64,
            // Q8S/Q4S packed values plus one f32 scale per block of 32.
            Stored::Quant { tensor, .. } => {
                let n = tensor.shape().num_elements() as u64;
                let bits = if let DType::QFloat(q) = tensor.dtype() {
                    q.value.size_bits() as u64
                } else {
                    8
                };
                n * bits / 8 + n / 32 * 4
            }
        }
    }

    fn describe(&self) -> String {
        match self {
            Stored::Host(h) => format!("{:?} (kept on the host)", h.shape()),
            Stored::Float { shape, .. } => format!("{shape:?}"),
            Stored::Quant { shape, .. } => format!("quantized {shape:?}"),
            Stored::Packed(p) => format!("quantized [{}, {}]", p.rows, p.cols),
        }
    }
}

/// Every tensor of a model, on the device, by diffusers name. Modules take their tensors out by
/// name and shape; whatever is left at the end was not used by the config, which is an error.
pub struct WeightStore {
    device: Device,
    tensors: BTreeMap<String, Stored>,
    /// Dequantize on the host instead of uploading packed bytes (backends without quantized
    /// tensors).
    host_dequantize: bool,
    /// Keep f16 tensors f16 on the device (it stores f16), widening them at use.
    keep_f16: bool,
    /// Keep q8/q4 tensors as [`Packed`] (the device is the CPU).
    pack_on_host: bool,
    /// Bytes of the tensors uploaded (and still held by this store or the modules built from it).
    device_bytes: u64,
    /// Keys kept on the host as [`HostRows`] instead of uploaded.
    host_keys: std::collections::BTreeSet<String>,
    host_bytes: u64,
}

fn tensor_error(key: &str, expected: impl Into<String>, found: impl Into<String>) -> Error {
    Error::ModelTensor {
        key: key.to_string(),
        expected: expected.into(),
        found: found.into(),
    }
}

impl WeightStore {
    pub fn new(device: &Device, host_dequantize: bool) -> Self {
        WeightStore {
            device: device.clone(),
            tensors: BTreeMap::new(),
            host_dequantize,
            keep_f16: !host_dequantize && device.supports_dtype(DType::F16),
            pack_on_host: !host_dequantize && super::is_cpu(device),
            device_bytes: 0,
            host_keys: Default::default(),
            host_bytes: 0,
        }
    }

    /// Keeps `key` on the host in its stored form when a shard brings it (call before
    /// [`WeightStore::add_shard`]); take it with [`WeightStore::host_rows`].
    pub fn keep_on_host(&mut self, key: &str) {
        self.host_keys.insert(key.to_string());
    }

    /// Bytes held on the host for [`WeightStore::keep_on_host`] keys.
    pub fn host_bytes(&self) -> u64 {
        self.host_bytes
    }

    /// Whether f16 tensors stay f16 on this device (see the module comment).
    pub fn keeps_f16(&self) -> bool {
        self.keep_f16
    }

    /// Bytes the weights take on the device: f32 4 per value, f16 kept 2, q8/q4 their packed
    /// values and scales (allocator padding not counted).
    pub fn device_bytes(&self) -> u64 {
        self.device_bytes
    }

    /// Parses one safetensors shard and uploads its tensors. `file` names it in errors.
    pub fn add_shard(&mut self, file: &str, bytes: &[u8]) -> Result<()> {
        let st = SafeTensors::deserialize(bytes).map_err(|e| Error::ModelFile {
            file: file.to_string(),
            reason: format!("not a safetensors file: {e}"),
        })?;
        let mut names: Vec<String> = st.names().into_iter().map(|s| s.to_string()).collect();
        names.sort();
        for name in &names {
            if let Some(base) = name.strip_suffix(".scales") {
                // Read with its `.q8`/`.q4`; scales without one would be dropped unseen.
                let values = [format!("{base}.q8"), format!("{base}.q4")];
                if !values.iter().any(|v| names.contains(v)) {
                    return Err(tensor_error(
                        name,
                        format!("scales beside {base}.q8 or {base}.q4"),
                        format!("no quantized values in {file}"),
                    ));
                }
                continue;
            }
            let view = st.tensor(name).map_err(|e| Error::ModelFile {
                file: file.to_string(),
                reason: format!("{name}: {e}"),
            })?;
            let base = name
                .strip_suffix(".q8")
                .or_else(|| name.strip_suffix(".q4"))
                .unwrap_or(name);
            let (key, stored) = if self.host_keys.contains(base) {
                let rows = host_rows(&st, name, base, &view)?;
                self.host_bytes += rows.bytes();
                (base.to_string(), Stored::Host(rows))
            } else if let Some(base) = name.strip_suffix(".q8") {
                (base.to_string(), self.quantized(&st, file, base, 8, &view)?)
            } else if let Some(base) = name.strip_suffix(".q4") {
                (base.to_string(), self.quantized(&st, file, base, 4, &view)?)
            } else if view.dtype() == Dtype::F16 && self.keep_f16 {
                let values: Vec<half::f16> = view
                    .data()
                    .chunks_exact(2)
                    .map(|b| half::f16::from_le_bytes([b[0], b[1]]))
                    .collect();
                let shape = view.shape().to_vec();
                let n = values.len();
                let tensor = Tensor::<1>::from_data(TensorData::new(values, [n]), (&self.device, DType::F16));
                (name.clone(), Stored::Float { tensor, shape })
            } else {
                let values = widen(name, &view)?;
                let shape = view.shape().to_vec();
                let n = values.len();
                let tensor = Tensor::<1>::from_data(TensorData::new(values, [n]), &self.device);
                (name.clone(), Stored::Float { tensor, shape })
            };
            self.device_bytes += stored.device_bytes();
            if self.tensors.insert(key.clone(), stored).is_some() {
                return Err(tensor_error(&key, "one copy", format!("a second copy in {file}")));
            }
        }
        Ok(())
    }

    fn quantized(
        &self,
        st: &SafeTensors,
        file: &str,
        base: &str,
        bits: u8,
        view: &safetensors::tensor::TensorView,
    ) -> Result<Stored> {
        let qname = format!("{base}.q{bits}");
        let shape = view.shape();
        let want_dtype = if bits == 8 { Dtype::I8 } else { Dtype::U8 };
        if view.dtype() != want_dtype || shape.len() != 2 {
            return Err(tensor_error(
                &qname,
                format!("{want_dtype:?} 2-D"),
                format!("{:?} {shape:?}", view.dtype()),
            ));
        }
        let rows = shape[0];
        let cols = if bits == 8 { shape[1] } else { shape[1] * 2 };
        // An empty one has no scale, which a quantized tensor cannot be built without.
        if rows == 0 || cols == 0 || cols % 32 != 0 {
            return Err(tensor_error(
                &qname,
                "at least one row of a positive multiple of 32 values",
                format!("{rows} rows of {cols} values"),
            ));
        }
        let sname = format!("{base}.scales");
        let scales = st
            .tensor(&sname)
            .map_err(|_| tensor_error(&sname, format!("F32 [{}] beside {qname}", rows * cols / 32), "missing"))?;
        if scales.dtype() != Dtype::F32 || scales.shape() != [rows * cols / 32] {
            return Err(tensor_error(
                &sname,
                format!("F32 [{}]", rows * cols / 32),
                format!("{:?} {:?}", scales.dtype(), scales.shape()),
            ));
        }
        let _ = file;
        if self.host_dequantize || self.pack_on_host {
            let packed = Packed {
                bits,
                rows,
                cols,
                values: view.data().into(),
                scales: widen(&sname, &scales)?.into(),
            };
            if self.pack_on_host {
                return Ok(Stored::Packed(packed));
            }
            let out = packed.widen();
            let n = out.len();
            let tensor = Tensor::<1>::from_data(TensorData::new(out, [n]), &self.device);
            return Ok(Stored::Float {
                tensor,
                shape: vec![rows, cols],
            });
        }
        let mut bytes = Vec::with_capacity(view.data().len() + scales.data().len());
        bytes.extend_from_slice(view.data());
        bytes.extend_from_slice(scales.data());
        let scheme = quant_scheme(bits);
        let data = TensorData::from_bytes_vec(bytes, [rows, cols], DType::QFloat(scheme));
        let tensor = Tensor::<2>::from_data(data, &self.device);
        Ok(Stored::Quant {
            tensor,
            shape: [rows, cols],
        })
    }

    fn take(&mut self, key: &str) -> Result<Stored> {
        self.tensors.remove(key).ok_or_else(|| {
            tensor_error(
                key,
                "a tensor",
                "missing (is the config the one this model was converted with?)",
            )
        })
    }

    /// A float tensor of exactly `shape`, as a rank-`D` f32 tensor (biases, norms, constants: small,
    /// so an f16 one is widened once, here).
    pub fn float<const D: usize>(&mut self, key: &str, shape: [usize; D]) -> Result<Tensor<D>> {
        match self.take(key)? {
            Stored::Float { tensor, shape: got } if got == shape => {
                if tensor.dtype() != DType::F32 {
                    // Widened here, once: the f32 copy replaces the stored one.
                    self.device_bytes += (tensor.dims()[0] * (4 - tensor.dtype().size())) as u64;
                }
                Ok(to_f32(tensor).reshape(shape))
            }
            other => Err(tensor_error(key, format!("{shape:?}"), other.describe())),
        }
    }

    /// A [`WeightStore::keep_on_host`] table of exactly `shape`.
    pub fn host_rows(&mut self, key: &str, shape: [usize; 2]) -> Result<HostRows> {
        match self.take(key)? {
            Stored::Host(h) if h.shape() == shape => Ok(h),
            other => Err(tensor_error(
                key,
                format!("{shape:?} kept on the host"),
                other.describe(),
            )),
        }
    }

    /// A weight that may be quantized: `[out, in]` (Linear) or `[out, in, kh, kw]` (conv), quantized
    /// as `[out, in·kh·kw]`.
    pub fn weight(&mut self, key: &str, shape: &[usize]) -> Result<Weight> {
        let rows = shape[0];
        let cols: usize = shape[1..].iter().product();
        match self.take(key)? {
            Stored::Float { tensor, shape: got } if got == shape => Ok(Weight::Float {
                tensor,
                shape: shape.to_vec(),
            }),
            // Host-dequantized weights keep the 2-D shape they were stored in.
            Stored::Float { tensor, shape: got } if got == [rows, cols] => Ok(Weight::Float {
                tensor,
                shape: shape.to_vec(),
            }),
            Stored::Quant { tensor, shape: got } if got == [rows, cols] => Ok(Weight::Quant {
                tensor,
                shape: shape.to_vec(),
            }),
            Stored::Packed(packed) if [packed.rows, packed.cols] == [rows, cols] => Ok(Weight::Packed {
                packed,
                shape: shape.to_vec(),
                device: self.device.clone(),
            }),
            other => Err(tensor_error(key, format!("{shape:?}"), other.describe())),
        }
    }

    /// Fails when tensors are left over: the weights hold layers the config does not have.
    pub fn finish(self) -> Result<()> {
        if self.tensors.is_empty() {
            return Ok(());
        }
        let keys: Vec<&String> = self.tensors.keys().take(3).collect();
        Err(Error::ModelTensor {
            key: keys[0].clone(),
            expected: "no tensor (the config does not use it)".into(),
            found: format!(
                "{} unused tensor(s), e.g. {keys:?}; is the config the one this model was converted with?",
                self.tensors.len()
            ),
        })
    }
}

/// A 2-D table in its stored form: `{base}` float (F32 kept, F16 kept, BF16 widened), or
/// `{base}.q8`/`.q4` with its `{base}.scales`.
fn host_rows(st: &SafeTensors, name: &str, base: &str, view: &safetensors::tensor::TensorView) -> Result<HostRows> {
    let shape = view.shape();
    if shape.len() != 2 {
        return Err(tensor_error(name, "2-D", format!("{shape:?}")));
    }
    let bits = match name.strip_prefix(base) {
        Some(".q8") => 8,
        Some(".q4") => 4,
        _ => 0,
    };
    let rows = shape[0];
    if bits == 0 {
        let data = match view.dtype() {
            Dtype::F16 => HostData::F16(
                view.data()
                    .chunks_exact(2)
                    .map(|b| half::f16::from_le_bytes([b[0], b[1]]))
                    .collect(),
            ),
            _ => HostData::F32(widen(name, view)?),
        };
        return Ok(HostRows {
            rows,
            cols: shape[1],
            data,
        });
    }
    let want = if bits == 8 { Dtype::I8 } else { Dtype::U8 };
    let cols = if bits == 8 { shape[1] } else { shape[1] * 2 };
    if view.dtype() != want || cols == 0 || cols % 32 != 0 && scale_count(st, base) != Some(rows) {
        return Err(tensor_error(
            name,
            format!("{want:?} rows of a multiple of 32 values (or with one scale per row)"),
            format!("{:?} {shape:?}", view.dtype()),
        ));
    }
    let sname = format!("{base}.scales");
    let want = format!("F32 [{rows}] (per row) or [{}] (per block of 32)", rows * cols / 32);
    let scales = st
        .tensor(&sname)
        .map_err(|_| tensor_error(&sname, format!("{want} beside {name}"), "missing"))?;
    let per_row = match scales.shape() {
        [n] if *n == rows => true,
        [n] if *n == rows * cols / 32 => false,
        other => return Err(tensor_error(&sname, want, format!("{:?} {other:?}", scales.dtype()))),
    };
    if scales.dtype() != Dtype::F32 {
        return Err(tensor_error(&sname, want, format!("{:?}", scales.dtype())));
    }
    Ok(HostRows {
        rows,
        cols,
        data: HostData::Quant {
            bits,
            values: view.data().to_vec(),
            scales: widen(&sname, &scales)?,
            block: if per_row { cols } else { 32 },
        },
    })
}

/// The length of `{base}.scales`, when it is 1-D.
fn scale_count(st: &SafeTensors, base: &str) -> Option<usize> {
    match st.tensor(&format!("{base}.scales")).ok()?.shape() {
        [n] => Some(*n),
        _ => None,
    }
}

/// F32, F16 or BF16 safetensors data → f32 values.
fn widen(name: &str, view: &safetensors::tensor::TensorView) -> Result<Vec<f32>> {
    let data = view.data();
    let v = match view.dtype() {
        Dtype::F32 => data
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect(),
        Dtype::F16 => data
            .chunks_exact(2)
            .map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32())
            .collect(),
        Dtype::BF16 => data
            .chunks_exact(2)
            .map(|b| half::bf16::from_le_bytes([b[0], b[1]]).to_f32())
            .collect(),
        other => return Err(tensor_error(name, "F32, F16 or BF16", format!("{other:?}"))),
    };
    Ok(v)
}

/// `t` as f32 (a no-op for f32 tensors).
fn to_f32<const D: usize>(t: Tensor<D>) -> Tensor<D> {
    if t.dtype() == DType::F32 {
        t
    } else {
        t.cast(FloatDType::F32)
    }
}

/// A Linear or conv weight, float or quantized.
#[derive(Clone)]
pub enum Weight {
    /// f32 or f16 (widened at each use), flattened; `shape` is PyTorch's.
    Float { tensor: Tensor<1>, shape: Vec<usize> },
    /// Q8S/Q4S `[out, in·kh·kw]`; dequantized on the device at each use.
    Quant { tensor: Tensor<2>, shape: Vec<usize> },
    /// q8/q4 `[out, in·kh·kw]` on the CPU; widened at each use.
    Packed {
        packed: Packed,
        shape: Vec<usize>,
        device: Device,
    },
}

impl Weight {
    /// The weight as f32 of rank `D` in PyTorch's shape.
    pub fn value<const D: usize>(&self) -> Tensor<D> {
        match self {
            Weight::Float { tensor, shape } => to_f32(tensor.clone()).reshape(shape_array::<D>(shape)),
            Weight::Quant { tensor, shape } => tensor.clone().dequantize().reshape(shape_array::<D>(shape)),
            Weight::Packed { packed, shape, device } => {
                Tensor::from_data(TensorData::new(packed.widen(), shape_array::<D>(shape)), device)
            }
        }
    }

    pub fn shape(&self) -> &[usize] {
        match self {
            Weight::Float { shape, .. } | Weight::Quant { shape, .. } | Weight::Packed { shape, .. } => shape,
        }
    }
}

fn shape_array<const D: usize>(shape: &[usize]) -> [usize; D] {
    let mut out = [0; D];
    out.copy_from_slice(shape);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A safetensors file of `(name, dtype, shape, bytes)`.
    fn shard(tensors: &[(&str, Dtype, Vec<usize>, Vec<u8>)]) -> Vec<u8> {
        let views: Vec<(String, safetensors::tensor::TensorView)> = tensors
            .iter()
            .map(|(n, d, s, b)| {
                (
                    n.to_string(),
                    safetensors::tensor::TensorView::new(*d, s.clone(), b).unwrap(),
                )
            })
            .collect();
        safetensors::serialize(views, None).unwrap()
    }

    fn f32_bytes(v: &[f32]) -> Vec<u8> {
        v.iter().flat_map(|x| x.to_le_bytes()).collect()
    }

    #[test]
    fn host_rows_read_per_row_and_per_block_scales() {
        // Two rows of 64 q8 values: value j of row r is (j − 32) + r.
        let q: Vec<u8> = (0..128i32).map(|i| (i % 64 - 32 + i / 64) as i8 as u8).collect();
        let row_of = |r: usize, s: &dyn Fn(usize) -> f32| -> Vec<f32> {
            (0..64).map(|j| ((j as i32 - 32 + r as i32) as f32) * s(j)).collect()
        };
        let device = Device::flex();
        for per_row in [true, false] {
            let scales: Vec<f32> = if per_row {
                vec![0.5, 2.0]
            } else {
                vec![0.5, 1.0, 2.0, 4.0]
            };
            let bytes = shard(&[
                ("emb.q8", Dtype::I8, vec![2, 64], q.clone()),
                ("emb.scales", Dtype::F32, vec![scales.len()], f32_bytes(&scales)),
            ]);
            let mut store = WeightStore::new(&device, false);
            store.keep_on_host("emb");
            store.add_shard("s", &bytes).unwrap();
            let rows = store.host_rows("emb", [2, 64]).unwrap();
            let got = rows.gather(&[1, 0]).unwrap();
            let want: Vec<f32> = if per_row {
                [row_of(1, &|_| 2.0), row_of(0, &|_| 0.5)].concat()
            } else {
                [row_of(1, &|j| [2.0, 4.0][j / 32]), row_of(0, &|j| [0.5, 1.0][j / 32])].concat()
            };
            assert_eq!(got, want, "per_row {per_row}");
            assert!(rows.gather(&[2]).is_err(), "a row past the table");
            store.finish().unwrap();
        }
    }

    #[test]
    fn q8_and_q4_weights_on_the_cpu_widen_to_burns_dequantized_values() {
        // 3 rows of 32,000 values: more than one chunk of `Packed::widen`, the last one partial.
        let (rows, cols) = (3, 32_000);
        let mut state = 0x2545_f491_u32;
        let mut byte = || {
            state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (state >> 24) as u8
        };
        let scales: Vec<f32> = (0..rows * cols / 32).map(|k| (k % 7) as f32 * 0.013 - 0.031).collect();
        let device = Device::flex();
        for bits in [8u8, 4] {
            let stored_cols = cols * bits as usize / 8;
            let q: Vec<u8> = (0..rows * stored_cols).map(|_| byte()).collect();
            let dtype = if bits == 8 { Dtype::I8 } else { Dtype::U8 };
            let bytes = shard(&[
                (&*format!("w.q{bits}"), dtype, vec![rows, stored_cols], q.clone()),
                ("w.scales", Dtype::F32, vec![scales.len()], f32_bytes(&scales)),
            ]);
            let mut store = WeightStore::new(&device, false);
            store.add_shard("s", &bytes).unwrap();
            let w = store.weight("w", &[rows, cols]).unwrap();
            assert!(
                matches!(w, Weight::Packed { .. }),
                "q{bits} on the CPU is packed on the host"
            );
            let got = w.value::<2>().into_data().try_to_vec::<f32>().unwrap();
            // burn's own dequantize of the same bytes (what the GPU path runs).
            let packed = [q, f32_bytes(&scales)].concat();
            let data = TensorData::from_bytes_vec(packed, [rows, cols], DType::QFloat(quant_scheme(bits)));
            let want = Tensor::<2>::from_data(data, &device)
                .dequantize()
                .into_data()
                .try_to_vec::<f32>()
                .unwrap();
            assert_eq!(got.len(), want.len());
            let differ = got
                .iter()
                .zip(&want)
                .filter(|(a, b)| a.to_bits() != b.to_bits())
                .count();
            assert_eq!(differ, 0, "q{bits}: values that differ from burn's");
            store.finish().unwrap();
            // Widened once at load (`host_dequantize`): a float weight with the same values.
            let mut store = WeightStore::new(&device, true);
            store.add_shard("s", &bytes).unwrap();
            let w = store.weight("w", &[rows, cols]).unwrap();
            assert!(matches!(w, Weight::Float { .. }), "q{bits} widened at load");
            let widened = w.value::<2>().into_data().try_to_vec::<f32>().unwrap();
            assert!(widened.iter().zip(&want).all(|(a, b)| a.to_bits() == b.to_bits()));
        }
    }
}
