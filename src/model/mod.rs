//! Diffusion features (docs/ALGORITHM.md §1–2): the SDXL VAE encoder and the SSD-1B UNet down path up to
//! DiffCut's hook, in burn, loaded from a folder made by `models/convert.py` (models/FORMAT.md).
//!
//! ```text
//! image [H, W, 3] u8 ─resize S×S (bilinear), 2x−1─▶ [1, 3, S, S]
//!   ─VAE encoder, mean × scaling─▶ latent [1, 4, S/8, S/8]
//!   ─DDIM add_noise t=50: √ᾱ·x₀ + √(1−ᾱ)·ε─▶ noisy latent
//!   ─UNet conv_in, down_blocks … attn1 of the hook─▶ ẑ [N, C] ─▶ features [S/32, S/32, C]
//! ```
//!
//! The same code runs on burn's wgpu backend (WGSL: WebGPU in the browser, Vulkan/Metal/DX12
//! natively, lavapipe in CI) and on burn-flex (CPU). Nothing here is async except the final read.

pub mod banded;
pub mod clip;
pub mod config;
#[cfg(not(target_arch = "wasm32"))]
pub mod host;
pub mod layers;
pub mod unet;
pub mod vae;
pub mod weights;

use std::collections::BTreeMap;

use burn::tensor::{Device, Tensor, TensorData};
use image::RgbImage;

pub use config::ModelConfig;
use unet::UnetSlice;
use vae::VaeEncoder;
use weights::WeightStore;
pub use weights::{FileKind, FolderFiles, Manifest, ManifestFile, Part, WeightDtype};

use crate::image_io::source_taps;
use crate::ncut::FeatureGrid;
use crate::{Error, Result};

/// The noise ε added to the latent (docs/ALGORITHM.md §1.3).
#[derive(Debug, Clone)]
pub enum Noise {
    /// ε = 0: the clean latent (not the official setting; for ablations and tests).
    Zero,
    /// The official seed-42 CUDA draw shipped with the model for its size.
    Seed42,
    /// A user tensor `[1, z, S/8, S/8]` (or `[z, S/8, S/8]`), e.g. read from a `.npy`.
    Values { shape: Vec<usize>, values: Vec<f32> },
}

/// A loaded model on one burn device.
pub struct DiffusionModel {
    pub config: ModelConfig,
    pub manifest: Manifest,
    device: Device,
    vae: VaeEncoder,
    unet: UnetSlice,
    /// Seed-42 noise per input size, of the latent's shape.
    noise: BTreeMap<u32, Vec<f32>>,
    /// Bytes the weights take on the device ([`WeightStore::device_bytes`]).
    weight_device_bytes: u64,
}

/// Builds a [`DiffusionModel`] from the folder's files one at a time: the manifest first, then
/// every file it lists, in any order. Each file is checked (bytes, sha256) and, for weight
/// shards, uploaded and released before the next, so peak host memory is one shard.
pub struct ModelLoader {
    files: FolderFiles,
    device: Device,
    config: Option<ModelConfig>,
    store: WeightStore,
    /// Seed-42 noise per size, with its shape.
    noise: BTreeMap<u32, (Vec<usize>, Vec<f32>)>,
}

impl ModelLoader {
    /// Starts from `manifest.json`'s bytes. `host_dequantize` widens q8/q4 weights on the host
    /// (for backends without quantized tensors); otherwise they stay packed on the device.
    pub fn new(manifest_json: &[u8], device: &Device, host_dequantize: bool) -> Result<Self> {
        let manifest = Manifest::from_json(manifest_json)?;
        Ok(ModelLoader {
            device: device.clone(),
            store: WeightStore::new(device, host_dequantize),
            files: FolderFiles::new(manifest, |_| true),
            config: None,
            noise: BTreeMap::new(),
        })
    }

    pub fn manifest(&self) -> &Manifest {
        self.files.manifest()
    }

    /// Files still to be given to [`ModelLoader::add_file`], config first.
    pub fn pending(&self) -> Vec<String> {
        self.files.pending()
    }

    /// Checks and takes one file of the folder.
    pub fn add_file(&mut self, name: &str, bytes: &[u8]) -> Result<()> {
        let entry = self.files.check(name, bytes)?;
        match entry.kind {
            FileKind::Config => self.config = Some(ModelConfig::from_json(bytes)?),
            FileKind::Weights => self.store.add_shard(name, bytes)?,
            FileKind::Noise => {
                let size = entry
                    .size
                    .ok_or_else(|| Error::Model(format!("manifest.json: noise file {name} has no size")))?;
                let (shape, values) = crate::npy::read_f32(bytes, 4).map_err(|e| Error::ModelFile {
                    file: name.into(),
                    reason: e.to_string(),
                })?;
                // Checked against the latent's shape in `finish`, once the config is known.
                self.noise.insert(size, (shape, values));
            }
            FileKind::Vocab | FileKind::Labels | FileKind::Classifier => {
                return Err(Error::ModelFile {
                    file: name.into(),
                    reason: "a CLIP folder's file in a diffusion model's manifest".into(),
                })
            }
        }
        self.files.done(name);
        Ok(())
    }

    /// Builds the networks once every file has been added.
    pub fn finish(mut self) -> Result<DiffusionModel> {
        self.files.complete()?;
        let config = self
            .config
            .take()
            .ok_or_else(|| Error::Model("no config loaded".into()))?;
        let vae = VaeEncoder::load(&mut self.store, &config.vae)?;
        let unet = UnetSlice::load(&mut self.store, &config)?;
        let weight_device_bytes = self.store.device_bytes();
        self.store.finish()?;
        // The official noise fits only a latent of its shape ([1, 4, S/8, S/8]); a file of another
        // shape is not used (Noise::Seed42 then says there is none for that size).
        let noise = self
            .noise
            .into_iter()
            .filter(|(s, (shape, _))| shape[..] == config.latent_shape(*s)[..])
            .map(|(s, (_, values))| (s, values))
            .collect();
        Ok(DiffusionModel {
            config,
            manifest: self.files.into_manifest(),
            device: self.device,
            vae,
            unet,
            noise,
            weight_device_bytes,
        })
    }
}

impl DiffusionModel {
    /// Loads a converted model folder from disk, one file at a time.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn load_dir(dir: &std::path::Path, device: &Device, host_dequantize: bool) -> Result<Self> {
        let manifest_path = dir.join("manifest.json");
        let bytes = crate::files::read(&manifest_path)?;
        let mut loader = ModelLoader::new(&bytes, device, host_dequantize)?;
        for name in loader.pending() {
            let bytes = crate::files::read(&dir.join(&name))?;
            loader.add_file(&name, &bytes)?;
        }
        loader.finish()
    }

    /// Bytes the weights take on the device: about the download for q8/q4 (packed) and for f16
    /// where the device stores f16, twice that where f16 is widened at load.
    pub fn weight_device_bytes(&self) -> u64 {
        self.weight_device_bytes
    }

    pub fn device(&self) -> &Device {
        &self.device
    }

    /// The noise the official code uses at `size` when this model ships it (seed 42), else zero.
    pub fn default_noise(&self, size: u32) -> Noise {
        if self.noise.contains_key(&size) {
            Noise::Seed42
        } else {
            Noise::Zero
        }
    }

    /// The stored size nearest to `want` (ties: the smaller), for callers that let the model pick.
    pub fn nearest_size(&self, want: u32) -> u32 {
        *self
            .config
            .sizes
            .iter()
            .min_by_key(|&&s| ((s as i64 - want as i64).abs(), s))
            .expect("validated non-empty")
    }

    /// Sizes with seed-42 noise shipped.
    pub fn seed42_sizes(&self) -> Vec<u32> {
        self.noise.keys().copied().collect()
    }

    /// The image as the network's input `[1, 3, S, S]` in [−1, 1]: [`resize_unit`], then `2x − 1`.
    pub fn preprocess(image: &RgbImage, size: u32) -> Result<Vec<f32>> {
        let mut x = resize_unit(image, size)?;
        for v in &mut x {
            *v = 2.0 * *v - 1.0;
        }
        Ok(x)
    }

    fn check_run(&self, size: u32) -> Result<()> {
        self.config.check_size(size)
    }

    /// The VAE latent (posterior mean × scaling) `[1, z, S/8, S/8]` of an input from
    /// [`DiffusionModel::preprocess`].
    pub fn encode(&self, input: Vec<f32>, size: u32) -> Result<Tensor<4>> {
        self.check_run(size)?;
        let s = size as usize;
        if input.len() != 3 * s * s {
            return Err(Error::InvalidParameter {
                name: "input",
                expected: "3·S·S values",
                got: input.len().to_string(),
            });
        }
        let x = Tensor::<4>::from_data(TensorData::new(input, [1, 3, s, s]), &self.device);
        Ok(self.vae.encode(x))
    }

    /// `√ᾱ·latent + √(1−ᾱ)·ε` (docs/ALGORITHM.md §1.3).
    pub fn add_noise(&self, latent: Tensor<4>, size: u32, noise: &Noise) -> Result<Tensor<4>> {
        let dims = latent.dims();
        let n = &self.config.noise;
        let values = match noise {
            Noise::Zero => return Ok(latent * n.sqrt_alpha_bar),
            Noise::Seed42 => self
                .noise
                .get(&size)
                .filter(|v| v.len() == dims.iter().product::<usize>())
                .cloned()
                .ok_or_else(|| {
                    Error::Model(format!(
                        "this model ships seed-42 noise for sizes {:?}, not {size}; use --noise zero or a .npy",
                        self.seed42_sizes()
                    ))
                })?,
            Noise::Values { shape, values } => {
                let want = [dims[1], dims[2], dims[3]];
                let ok = (shape.len() == 4 && shape[0] == 1 && shape[1..] == want)
                    || (shape.len() == 3 && shape[..] == want);
                if !ok || values.len() != want.iter().product::<usize>() {
                    return Err(Error::InvalidParameter {
                        name: "noise",
                        expected: "shape [1, z, S/8, S/8] matching the latent",
                        got: format!("{shape:?} for a latent of {dims:?}"),
                    });
                }
                if let Some(i) = values.iter().position(|v| !v.is_finite()) {
                    return Err(Error::InvalidParameter {
                        name: "noise",
                        expected: "finite values",
                        got: format!("{} at index {i}", values[i]),
                    });
                }
                values.clone()
            }
        };
        let eps = Tensor::<4>::from_data(TensorData::new(values, dims), &self.device);
        Ok(latent * n.sqrt_alpha_bar + eps * n.sqrt_one_minus_alpha_bar)
    }

    /// ẑ `[1, N, C]` of a noisy latent; `trace` sees the intermediate maps.
    pub fn unet(&self, noisy: Tensor<4>, size: u32, trace: &mut dyn FnMut(&str, &Tensor<4>)) -> Result<Tensor<3>> {
        self.check_run(size)?;
        self.unet.forward(noisy, size, trace)
    }

    /// The whole extractor: image → features `[S/f, S/f, C]` (f = 32 for SSD-1B).
    pub async fn features(&self, image: &RgbImage, size: u32, noise: &Noise) -> Result<FeatureGrid> {
        self.check_run(size)?;
        let input = Self::preprocess(image, size)?;
        let latent = self.encode(input, size)?;
        let noisy = self.add_noise(latent, size, noise)?;
        let z = self.unet(noisy, size, &mut |_, _| {})?;
        let [_, n, c] = z.dims();
        let g = self.config.grid(size);
        if n != g * g {
            return Err(Error::Model(format!("ẑ has {n} tokens, expected a {g}×{g} grid")));
        }
        let values = read_f32(z).await?;
        if let Some(i) = values.iter().position(|v| !v.is_finite()) {
            return Err(Error::InvalidFeatures(format!(
                "the model produced a non-finite feature at token {}, channel {}",
                i / c,
                i % c
            )));
        }
        FeatureGrid::new(g, g, c, values)
    }
}

/// The image as `[1, 3, S, S]` in [0, 1]: RGB/255 resized to S×S with torch's bilinear
/// (align_corners=False, no antialias: the official `tools/ldm.py:131` and dataloader). The
/// aspect ratio is not kept, as in the official code. Both models start from this.
pub fn resize_unit(image: &RgbImage, size: u32) -> Result<Vec<f32>> {
    let (w, h) = image.dimensions();
    if w == 0 || h == 0 {
        return Err(Error::ImageDecode("the image is empty".into()));
    }
    let s = size as usize;
    let xs = source_taps(w, size);
    let ys = source_taps(h, size);
    let src = image.as_raw();
    let row = w as usize * 3;
    let mut out = vec![0f32; 3 * s * s];
    for (oy, &(y0, y1, ly)) in ys.iter().enumerate() {
        for (ox, &(x0, x1, lx)) in xs.iter().enumerate() {
            for k in 0..3 {
                let at = |y: usize, x: usize| f32::from(src[y * row + x * 3 + k]) / 255.0;
                let top = (1.0 - lx) * at(y0, x0) + lx * at(y0, x1);
                let bottom = (1.0 - lx) * at(y1, x0) + lx * at(y1, x1);
                out[k * s * s + oy * s + ox] = (1.0 - ly) * top + ly * bottom;
            }
        }
    }
    Ok(out)
}

/// Reads a tensor back to the host as f32.
pub async fn read_f32<const D: usize>(t: Tensor<D>) -> Result<Vec<f32>> {
    let data = t
        .into_data_async()
        .await
        .map_err(|e| Error::Gpu(format!("reading a tensor back: {e:?}")))?;
    data.convert::<f32>()
        .try_into_vec::<f32>()
        .map_err(|e| Error::Gpu(format!("reading a tensor back: {e:?}")))
}

/// The native burn device for the model: `cpu` (burn-flex) or `gpu` (wgpu: Vulkan/Metal/DX12).
#[cfg(not(target_arch = "wasm32"))]
pub fn native_device(gpu: bool) -> Result<Device> {
    // burn's wgpu runtime initialises once per process; later callers share that device.
    static WGPU: std::sync::OnceLock<std::result::Result<Device, String>> = std::sync::OnceLock::new();
    if gpu {
        WGPU.get_or_init(|| {
            Device::wgpu_options()
                .init_with_setup()
                .map(|(device, _setup)| device)
                .map_err(|e| format!("no wgpu device for the model: {e:?}"))
        })
        .clone()
        .map_err(Error::Gpu)
    } else {
        Ok(Device::flex())
    }
}

/// Keeps the memory this process frees for its next allocations, instead of handing it back to the
/// system at each free; for a process that runs the model on the CPU (the CLI calls it first).
///
/// burn's CPU backend allocates a new buffer for each op's output (128 MiB for the VAE's first
/// level at 512 px), and glibc serves every block over 32 MiB by a fresh `mmap` whose pages then
/// fault in one by one, and unmaps it when freed: a fifth of the run's CPU time went to the
/// kernel. With no `mmap` and no trimming, freed blocks are reused; the peak RSS is the same (the
/// peak is reached anyway, and held until exit). Elsewhere than glibc it does nothing.
#[cfg(not(target_arch = "wasm32"))]
pub fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets allocator parameters; called before the threads that allocate.
    unsafe {
        libc::mallopt(libc::M_MMAP_MAX, 0);
        libc::mallopt(libc::M_TRIM_THRESHOLD, i32::MAX);
    }
}

/// Whether `device` is burn's CPU backend (flex), where q8/q4 weights are widened by our own loop
/// ([`weights::Packed`]).
pub(crate) fn is_cpu(device: &Device) -> bool {
    #[cfg(not(target_arch = "wasm32"))]
    return *device == Device::flex();
    #[cfg(target_arch = "wasm32")]
    {
        let _ = device;
        false
    }
}

#[cfg(target_arch = "wasm32")]
impl ModelLoader {
    /// Starts loading a model in the browser from its `manifest.json` bytes, on burn's WebGPU
    /// device ([`browser_device`]).
    ///
    /// # Errors
    /// No WebGPU device; a manifest that does not parse or check.
    pub async fn for_browser(manifest_json: &[u8]) -> Result<Self> {
        let device = browser_device().await?;
        Self::new(manifest_json, &device, false)
    }
}

/// burn's WebGPU device in the browser (opened once per worker; later calls share it).
#[cfg(target_arch = "wasm32")]
pub async fn browser_device() -> Result<Device> {
    thread_local! {
        static DEVICE: std::cell::RefCell<Option<Device>> = const { std::cell::RefCell::new(None) };
    }
    if let Some(d) = DEVICE.with(|d| d.borrow().clone()) {
        return Ok(d);
    }
    let (device, _setup) = Device::wgpu_options()
        .init_with_setup_async()
        .await
        .map_err(|e| Error::Gpu(format!("no WebGPU device for the model: {e:?}")))?;
    DEVICE.with(|d| *d.borrow_mut() = Some(device.clone()));
    Ok(device)
}
