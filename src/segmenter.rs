//! The front door: image → features → segment tree → labels, the one way every front end (the CLI,
//! the page's wasm seam, the evaluation) segments an image.
//!
//! ```text
//! Compute::open(DevicePolicy::PreferGpu)      where the NCut and PAMR run (CPU, GPU, GPU with fallback)
//!   └─ Segmenter::new(FeatureSource, compute)  colour features on a grid, or a diffusion model
//!        └─ segment(image, params) → Segmentation   the tree, grown once up to τ_max
//!             ├─ cell_labels(τ) / pixel_labels(τ, w, h)   exact labels at any τ ≤ τ_max (a pruning)
//!             ├─ Segmenter::refined_labels(…)               PAMR edges
//!             └─ node(i), fiedler_on_grid(i)                the teaching view's questions
//! ```
//!
//! Non-square images are squashed to a square before feature extraction, as the official code
//! does (`tools/ldm.py:131` resizes any input to S×S), and the labels are assigned directly at
//! the original size (`mask_size = (orig_h, orig_w)` in the official demo), which maps the
//! segmentation back to the original aspect.
//!
//! The types a front end needs are re-exported here, so that none of them reaches into
//! [`crate::ncut`], [`crate::refine`] or [`crate::model`].

use std::sync::{Arc, Mutex};

use crate::features::color_features;
use crate::image_io::{resize_bilinear, RgbImage};
use crate::ncut::tree::check_tau;
use crate::{Error, Result};

pub use crate::labels::LabelMap;
#[cfg(feature = "model")]
pub use crate::model::{DiffusionModel, FileKind, Manifest, ModelLoader, Noise, WeightDtype};
pub use crate::ncut::autosc::AutoSc;
pub use crate::ncut::tree::{NodeCut, TreeNode};
pub use crate::ncut::{FeatureGrid, Method, Mode, SegmentTree, TreeOptions, DEFAULT_TAU_MAX};
pub use crate::refine::PamrConfig;

/// A device to run on, as a person picks it (`--device`, `--model-device`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
pub enum Device {
    /// Rust on the CPU (both cores natively, one thread in wasm).
    #[default]
    Cpu,
    /// Our WGSL kernels (and burn's, for the model) through wgpu: Vulkan, Metal, DX12, WebGPU.
    Gpu,
}

/// How a [`Compute`] uses the GPU.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DevicePolicy {
    /// Everything on the CPU.
    Cpu,
    /// The NCut and PAMR on the GPU; no GPU, or a GPU that fails, is an error (`--device gpu`).
    Gpu,
    /// The NCut on the GPU when there is one, else on the CPU. A problem beyond the GPU's limits
    /// goes to the CPU for that image; a GPU that fails (lost device, validation error) is
    /// dropped for good and the CPU takes over. PAMR runs on the CPU: its WGSL path is not yet
    /// measured against the wasm CPU path on real browser GPUs (on SwiftShader it is 6× slower).
    PreferGpu,
}

impl From<Device> for DevicePolicy {
    fn from(d: Device) -> Self {
        match d {
            Device::Cpu => DevicePolicy::Cpu,
            Device::Gpu => DevicePolicy::Gpu,
        }
    }
}

/// Where a tree was grown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Cpu,
    Gpu,
}

/// Edge refinement after the concept assignment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
pub enum Refine {
    /// PAMR with DiffCut's demo preset (30 iterations, dilations 1–64).
    Demo,
    /// PAMR with its evaluation preset (10 iterations, dilations 1–8).
    Eval,
    /// PAMR with the open-vocabulary evaluation's preset (15 iterations, dilations 1–64).
    OpenVocab,
    /// The concept assignment alone.
    None,
}

impl Refine {
    /// The PAMR schedule, `None` for [`Refine::None`].
    pub fn config(self) -> Option<PamrConfig> {
        match self {
            Refine::Demo => Some(PamrConfig::demo()),
            Refine::Eval => Some(PamrConfig::eval()),
            Refine::OpenVocab => Some(PamrConfig::open_vocab()),
            Refine::None => None,
        }
    }

    /// The name on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Refine::Demo => "demo",
            Refine::Eval => "eval",
            Refine::OpenVocab => "open-vocab",
            Refine::None => "none",
        }
    }
}

/// How segments are numbered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Numbering {
    /// As the tree's [`Mode`] defines: the official `f32` label assembly in [`Mode::Official`]
    /// (distinct leaves may collide after a few dozen splits, as in the official code), one label
    /// per leaf in [`Mode::Clean`]. The CLI and the evaluation.
    Mode,
    /// One label per leaf at τ, numbered in the tree's pre-order: the segment count is the number
    /// of leaves a tree view shows. The page.
    Leaves,
}

/// DiffCut's τ for SSD-1B features (the paper's): the diffusion source's default.
pub const DIFFUSION_TAU: f64 = 0.5;
/// DiffCut's α for SSD-1B features (the paper's): the diffusion source's default.
pub const DIFFUSION_ALPHA: f32 = 10.0;

/// A [`FeatureSource`]'s kind without its data: built without the `model` feature too, so a front
/// end can show a source's controls before any model exists.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
pub enum FeatureKind {
    /// The weight-free colour/texture features (not the paper's setting).
    #[default]
    Color,
    /// A diffusion model's (the paper's setting with SSD-1B); needs a model folder.
    Diffusion,
}

impl FeatureKind {
    /// The name front ends and reports use.
    pub fn name(self) -> &'static str {
        match self {
            FeatureKind::Color => "color",
            FeatureKind::Diffusion => "diffusion",
        }
    }

    /// Every kind, in the order front ends list them.
    pub const ALL: [FeatureKind; 2] = [FeatureKind::Color, FeatureKind::Diffusion];

    /// The parameters this kind of feature is calibrated for, and the τ range worth offering.
    ///
    /// Colour features: τ and α measured on `benches/features/` ([`crate::features::DEFAULT_TAU`]);
    /// past τ ≈ 0.8 the sample photos break into 40–100 fragments (BENCHMARKS.md), so a slider
    /// stops there. Diffusion features: the paper's τ = 0.5, α = 10 (0.2 is the maintainers'
    /// value for SD1.4 features), offered up to 0.9.
    pub const fn defaults(self) -> SourceDefaults {
        match self {
            FeatureKind::Color => SourceDefaults {
                tau: crate::features::DEFAULT_TAU,
                alpha: crate::features::DEFAULT_ALPHA,
                tau_min: 0.05,
                tau_max: 0.8,
            },
            FeatureKind::Diffusion => SourceDefaults {
                tau: DIFFUSION_TAU,
                alpha: DIFFUSION_ALPHA,
                tau_min: 0.05,
                tau_max: 0.9,
            },
        }
    }
}

/// A feature kind's calibrated τ and α, and the τ range `[tau_min, tau_max]` a control offers
/// (`tau_min ≤ tau ≤ tau_max`; a tree grown to `tau_max` serves every τ of the range).
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SourceDefaults {
    pub tau: f64,
    pub alpha: f32,
    pub tau_min: f64,
    pub tau_max: f64,
}

const _: () = {
    let mut i = 0;
    while i < FeatureKind::ALL.len() {
        let d = FeatureKind::ALL[i].defaults();
        assert!(0.0 < d.tau_min && d.tau_min <= d.tau && d.tau <= d.tau_max && d.tau_max <= 2.0 && d.alpha > 0.0);
        i += 1;
    }
};

/// Parameters of one segmentation.
#[derive(Clone, Copy, Debug)]
pub struct SegmentParams {
    /// NCut threshold τ ∈ (0, 2]: a region splits iff its best NCut is below it. `Default` is the
    /// paper's 0.5; each feature source has its own ([`FeatureSource::default_params`]).
    pub tau: f64,
    /// Affinity exponent α > 0. `Default` is the paper's 10.
    pub alpha: f32,
    /// Grow the tree up to this τ so later re-cuts are instant (≥ `tau`). Default `tau`.
    pub tau_max: Option<f64>,
    pub mode: Mode,
}

impl Default for SegmentParams {
    fn default() -> Self {
        Self {
            tau: DIFFUSION_TAU,
            alpha: DIFFUSION_ALPHA,
            tau_max: None,
            mode: Mode::Official,
        }
    }
}

impl SegmentParams {
    /// The tree options these parameters ask for: grown to `max(tau, tau_max)`.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] for τ or τ_max outside (0, 2] or α ≤ 0.
    pub fn tree_options(&self) -> Result<TreeOptions> {
        check_tau(self.tau)?;
        crate::ncut::affinity::check_alpha(self.alpha)?;
        let tau_max = self.tau_max.unwrap_or(self.tau).max(self.tau);
        check_tau(tau_max)?;
        Ok(TreeOptions {
            tau_max,
            mode: self.mode,
            ..TreeOptions::default()
        })
    }
}

/// The devices a [`Segmenter`] runs on: a policy and, under it, the GPU (if any). Cheap to clone;
/// clones share the GPU, so a GPU dropped after a failure is dropped for all of them.
#[derive(Clone)]
pub struct Compute {
    policy: DevicePolicy,
    state: Arc<Mutex<GpuState>>,
    /// A second worker for the CPU path's Gram matrix ([`Compute::with_helper`]).
    #[cfg(target_arch = "wasm32")]
    helper: Option<std::rc::Rc<dyn crate::ncut::Helper>>,
}

struct GpuState {
    #[cfg(feature = "gpu")]
    gpu: Option<Arc<crate::gpu::GpuContext>>,
    /// The adapter's description while the GPU is in use.
    adapter: Option<String>,
    /// Why there is no GPU (not asked for, not offered, lost).
    note: Option<String>,
}

impl Compute {
    /// The CPU only.
    pub fn cpu() -> Self {
        Self::with_state(
            DevicePolicy::Cpu,
            GpuState {
                #[cfg(feature = "gpu")]
                gpu: None,
                adapter: None,
                note: Some("the CPU was requested".into()),
            },
        )
    }

    /// Opens the GPU the policy asks for.
    ///
    /// # Errors
    /// With [`DevicePolicy::Gpu`] only: [`Error::Gpu`] when no adapter can be opened (or this
    /// build has no GPU path). [`DevicePolicy::PreferGpu`] never fails: see [`Compute::note`].
    pub async fn open(policy: DevicePolicy) -> Result<Self> {
        if policy == DevicePolicy::Cpu {
            return Ok(Self::cpu());
        }
        match open_gpu().await {
            #[cfg(feature = "gpu")]
            // On wasm the context is not Send; the Arc only shares it between clones.
            #[allow(clippy::arc_with_non_send_sync)]
            Ok(ctx) => Ok(Self::with_gpu(policy, Arc::new(ctx))),
            Err(e) if policy == DevicePolicy::Gpu => Err(e),
            Err(e) => Ok(Self::with_state(
                policy,
                GpuState {
                    #[cfg(feature = "gpu")]
                    gpu: None,
                    adapter: None,
                    note: Some(e.to_string()),
                },
            )),
        }
    }

    /// Wraps a GPU opened elsewhere (e.g. a test's) under `policy`.
    #[cfg(feature = "gpu")]
    pub fn with_gpu(policy: DevicePolicy, gpu: Arc<crate::gpu::GpuContext>) -> Self {
        Self::with_state(
            policy,
            GpuState {
                adapter: Some(gpu.adapter.clone()),
                gpu: Some(gpu),
                note: None,
            },
        )
    }

    // In a browser the GPU context is not `Send` (nor is anything else there); the `Arc` only
    // shares the state between clones on the one thread.
    #[allow(clippy::arc_with_non_send_sync)]
    fn with_state(policy: DevicePolicy, state: GpuState) -> Self {
        Self {
            policy,
            state: Arc::new(Mutex::new(state)),
            #[cfg(target_arch = "wasm32")]
            helper: None,
        }
    }

    /// Has `helper` (the page's second worker) compute about half of the affinity's Gram matrix
    /// and grow one of the root's subtrees whenever a tree is grown on the CPU: the same trees,
    /// sooner. wasm only: natively the CPU path already uses every core.
    #[cfg(target_arch = "wasm32")]
    pub fn with_helper(mut self, helper: std::rc::Rc<dyn crate::ncut::Helper>) -> Self {
        self.helper = Some(helper);
        self
    }

    fn state(&self) -> std::sync::MutexGuard<'_, GpuState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn policy(&self) -> DevicePolicy {
        self.policy
    }

    /// Where the next tree will be grown.
    pub fn backend(&self) -> Backend {
        if self.state().adapter.is_some() {
            Backend::Gpu
        } else {
            Backend::Cpu
        }
    }

    /// The GPU adapter in use, if any.
    pub fn adapter(&self) -> Option<String> {
        self.state().adapter.clone()
    }

    /// Why the GPU is not used, if it is not.
    pub fn note(&self) -> Option<String> {
        self.state().note.clone()
    }

    /// The GPU, cloned out so that no lock is held across an await.
    #[cfg(feature = "gpu")]
    fn gpu(&self) -> Option<Arc<crate::gpu::GpuContext>> {
        self.state().gpu.clone()
    }

    #[cfg(feature = "gpu")]
    fn drop_gpu(&self, why: String) {
        let mut s = self.state();
        s.gpu = None;
        s.adapter = None;
        s.note = Some(why);
    }

    /// Grows the segment tree of `features` on this compute's device: the tree up to
    /// `max(tau, tau_max)`, with where it was grown and why not on the GPU when it was meant to be.
    ///
    /// # Errors
    /// Bad features or parameters; with [`DevicePolicy::Gpu`], any GPU error.
    pub async fn grow(&self, features: FeatureGrid, params: &SegmentParams) -> Result<Segmentation> {
        let opts = params.tree_options()?;
        let cpu = async |features: FeatureGrid, note: Option<String>| -> Result<Segmentation> {
            #[cfg(target_arch = "wasm32")]
            let tree = match &self.helper {
                Some(h) => crate::ncut::segment_tree_shared(&features, params.alpha, opts, &**h).await?,
                None => crate::ncut::segment_tree(&features, params.alpha, opts)?,
            };
            #[cfg(not(target_arch = "wasm32"))]
            let tree = crate::ncut::segment_tree(&features, params.alpha, opts)?;
            Ok(Segmentation {
                features,
                tree,
                backend: Backend::Cpu,
                gpu_work: None,
                note,
            })
        };
        #[cfg(feature = "gpu")]
        if let Some(ctx) = self.gpu() {
            let grown = crate::gpu::segment_tree_gpu(&ctx, &features, params.alpha, opts).await;
            return match (grown, self.policy) {
                (Ok((tree, stats)), _) => Ok(Segmentation {
                    features,
                    tree,
                    backend: Backend::Gpu,
                    gpu_work: Some(stats.into()),
                    note: None,
                }),
                (Err(e), DevicePolicy::Gpu) => Err(e),
                (Err(e @ Error::GpuLimit { .. }), _) => cpu(features, Some(format!("{e}; used the CPU"))).await,
                (Err(e @ Error::Gpu(_)), _) => {
                    let note = format!("{e}; using the CPU from now on");
                    self.drop_gpu(note.clone());
                    cpu(features, Some(note)).await
                }
                // Bad features or parameters: the CPU would refuse them too.
                (Err(e), _) => Err(e),
            };
        }
        cpu(features, None).await
    }

    /// PAMR of `coarse` along `image` (labels at the image's size, same segments): on the GPU
    /// under [`DevicePolicy::Gpu`], else on the CPU.
    ///
    /// # Errors
    /// As [`crate::refine::pamr()`]; GPU errors under [`DevicePolicy::Gpu`].
    pub async fn pamr(&self, image: &RgbImage, coarse: &LabelMap, cfg: &PamrConfig) -> Result<LabelMap> {
        #[cfg(feature = "gpu")]
        if self.policy == DevicePolicy::Gpu {
            if let Some(ctx) = self.gpu() {
                return crate::gpu::pamr::pamr_gpu(&ctx, image, coarse, cfg).await;
            }
        }
        crate::refine::pamr(image, coarse, cfg)
    }

    /// Per-pixel labels of `image` at τ, refined by PAMR (`cfg`): the concept assignment at a
    /// working size (the image, or its downscale to [`PAMR_MAX_SIDE`]), PAMR there, then nearest
    /// scaling to the image's size.
    ///
    /// # Errors
    /// As [`Segmentation::pixel_labels`] and [`Compute::pamr`].
    pub async fn refined_labels(
        &self,
        seg: &Segmentation,
        image: &RgbImage,
        tau: f64,
        numbering: Numbering,
        cfg: &PamrConfig,
    ) -> Result<LabelMap> {
        let (w, h) = image.dimensions();
        let scale = (f64::from(PAMR_MAX_SIDE) / f64::from(w.max(h))).min(1.0);
        let (ww, wh) = (
            ((f64::from(w) * scale).round() as u32).max(1),
            ((f64::from(h) * scale).round() as u32).max(1),
        );
        let work = if (ww, wh) == (w, h) {
            image.clone()
        } else {
            resize_bilinear(image, ww, wh)
        };
        let coarse = seg.pixel_labels(tau, numbering, ww as usize, wh as usize)?;
        self.pamr(&work, &coarse, cfg)
            .await?
            .resized_nearest(w as usize, h as usize)
    }

    /// Per-pixel labels of `image` at τ: exact ([`Refine::None`]) or refined by PAMR.
    ///
    /// # Errors
    /// As [`Compute::refined_labels`].
    pub async fn labels(
        &self,
        seg: &Segmentation,
        image: &RgbImage,
        tau: f64,
        numbering: Numbering,
        refine: Refine,
    ) -> Result<LabelMap> {
        match refine.config() {
            None => seg.pixel_labels(tau, numbering, image.width() as usize, image.height() as usize),
            Some(cfg) => self.refined_labels(seg, image, tau, numbering, &cfg).await,
        }
    }
}

/// Opens the default GPU adapter; in a browser, first checks that WebGPU is offered at all.
#[cfg(feature = "gpu")]
async fn open_gpu() -> Result<crate::gpu::GpuContext> {
    #[cfg(target_arch = "wasm32")]
    if !wgpu::util::is_browser_webgpu_supported().await {
        return Err(Error::Gpu("this browser offers no WebGPU adapter".into()));
    }
    crate::gpu::GpuContext::new().await
}

#[cfg(not(feature = "gpu"))]
async fn open_gpu() -> Result<std::convert::Infallible> {
    Err(Error::Gpu(
        "this build has no GPU path (built without the `gpu` feature)".into(),
    ))
}

/// Where the features come from.
#[derive(Clone)]
pub enum FeatureSource {
    /// The weight-free colour/texture features on a `grid`×`grid` grid.
    Color { grid: usize },
    /// A diffusion model's features at input size `size` (the grid is the model's: S/32 for SSD-1B).
    #[cfg(feature = "model")]
    Diffusion {
        model: Arc<DiffusionModel>,
        size: u32,
        noise: Noise,
    },
}

impl FeatureSource {
    /// A loaded model's features at input size `size`, with the model's default noise (the
    /// official seed-42 draw where the folder ships it for `size`, else none).
    #[cfg(feature = "model")]
    pub fn diffusion(model: Arc<DiffusionModel>, size: u32) -> Self {
        let noise = model.default_noise(size);
        FeatureSource::Diffusion { model, size, noise }
    }

    /// What kind of source this is (what its calibration and the page's controls depend on).
    pub fn kind(&self) -> FeatureKind {
        match self {
            FeatureSource::Color { .. } => FeatureKind::Color,
            #[cfg(feature = "model")]
            FeatureSource::Diffusion { .. } => FeatureKind::Diffusion,
        }
    }

    /// The τ this source's features are calibrated for ([`FeatureKind::defaults`]).
    pub fn default_tau(&self) -> f64 {
        self.kind().defaults().tau
    }

    /// The α this source's features are calibrated for ([`FeatureKind::defaults`]).
    pub fn default_alpha(&self) -> f32 {
        self.kind().defaults().alpha
    }

    /// [`SegmentParams::default`] with this source's τ and α.
    pub fn default_params(&self) -> SegmentParams {
        SegmentParams {
            tau: self.default_tau(),
            alpha: self.default_alpha(),
            ..SegmentParams::default()
        }
    }

    /// Checks what can be checked before an image arrives (the grid, the model's size).
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] for a grid outside `1..=MAX_GRID`; [`Error::Model`] for a size
    /// the model holds no constants for.
    pub fn validate(&self) -> Result<()> {
        match self {
            FeatureSource::Color { grid } => crate::features::color::check_grid(*grid),
            #[cfg(feature = "model")]
            FeatureSource::Diffusion { model, size, .. } => model.config.check_size(*size),
        }
    }
}

/// The noise a person picks for the diffusion features: `seed42`, `zero` or a `.npy` file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NoiseChoice {
    /// The official seed-42 draw shipped with the model for its size.
    Seed42,
    /// No noise: the clean latent (for ablations).
    Zero,
    /// A float32 `.npy` of shape `[1, 4, S/8, S/8]` (or `[4, S/8, S/8]`).
    File(std::path::PathBuf),
}

impl std::str::FromStr for NoiseChoice {
    type Err = std::convert::Infallible;

    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        Ok(match s {
            "seed42" => NoiseChoice::Seed42,
            "zero" => NoiseChoice::Zero,
            path => NoiseChoice::File(path.into()),
        })
    }
}

impl std::fmt::Display for NoiseChoice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NoiseChoice::Seed42 => f.write_str("seed42"),
            NoiseChoice::Zero => f.write_str("zero"),
            NoiseChoice::File(p) => write!(f, "{}", p.display()),
        }
    }
}

#[cfg(feature = "model")]
impl NoiseChoice {
    /// The noise itself (a file is read and checked here).
    ///
    /// # Errors
    /// [`Error::Io`] or [`Error::Npy`] naming the file.
    pub fn load(&self) -> Result<Noise> {
        match self {
            NoiseChoice::Seed42 => Ok(Noise::Seed42),
            NoiseChoice::Zero => Ok(Noise::Zero),
            NoiseChoice::File(path) => {
                let bytes = crate::files::read(path)?;
                let (shape, values) = crate::npy::read_f32(&bytes, 4)
                    .or_else(|_| crate::npy::read_f32(&bytes, 3))
                    .map_err(|e| {
                        Error::Npy(format!(
                            "{}: {e} (noise must be float32 [1, 4, S/8, S/8])",
                            path.display()
                        ))
                    })?;
                Ok(Noise::Values { shape, values })
            }
        }
    }
}

#[cfg(all(feature = "model", not(target_arch = "wasm32")))]
impl FeatureSource {
    /// A converted model folder (`models/convert.py`) loaded on `device` (burn-flex on the CPU,
    /// burn-wgpu on the GPU), at input size `size` with `noise`.
    ///
    /// # Errors
    /// A folder that does not load (see [`DiffusionModel::load_dir`]), a size without constants,
    /// a noise file that does not read.
    pub fn diffusion_from_dir(dir: &std::path::Path, size: u32, noise: &NoiseChoice, device: Device) -> Result<Self> {
        let noise = noise.load()?;
        let device = crate::model::native_device(device == Device::Gpu)?;
        let model = DiffusionModel::load_dir(dir, &device, false)?;
        model.config.check_size(size)?;
        Ok(FeatureSource::Diffusion {
            model: Arc::new(model),
            size,
            noise,
        })
    }
}

/// Segments images: a feature source on a [`Compute`].
#[derive(Clone)]
pub struct Segmenter {
    source: FeatureSource,
    compute: Compute,
}

impl Segmenter {
    pub fn new(source: FeatureSource, compute: Compute) -> Self {
        Self { source, compute }
    }

    pub fn source(&self) -> &FeatureSource {
        &self.source
    }

    pub fn compute(&self) -> &Compute {
        &self.compute
    }

    /// The patch features `[h, w, C]` of `image` (squashed to a square).
    ///
    /// # Errors
    /// A bad grid or model size, or the model failing.
    pub async fn features(&self, image: &RgbImage) -> Result<FeatureGrid> {
        self.source.validate()?;
        match &self.source {
            FeatureSource::Color { grid } => color_features(image, *grid),
            #[cfg(feature = "model")]
            FeatureSource::Diffusion { model, size, noise } => model.features(image, *size, noise).await,
        }
    }

    /// Grows the tree of features computed elsewhere (a `.npy`, a cache); see [`Compute::grow`].
    ///
    /// # Errors
    /// As [`Compute::grow`].
    pub async fn grow(&self, features: FeatureGrid, params: &SegmentParams) -> Result<Segmentation> {
        self.compute.grow(features, params).await
    }

    /// Features, then the tree up to `max(tau, tau_max)`. The parameters are checked before any
    /// feature is computed.
    ///
    /// # Errors
    /// As [`Segmenter::features`] and [`Compute::grow`].
    pub async fn segment(&self, image: &RgbImage, params: &SegmentParams) -> Result<Segmentation> {
        params.tree_options()?;
        let features = self.features(image).await?;
        self.grow(features, params).await
    }

    /// PAMR of `coarse` along `image`; see [`Compute::pamr`].
    ///
    /// # Errors
    /// As [`Compute::pamr`].
    pub async fn pamr(&self, image: &RgbImage, coarse: &LabelMap, cfg: &PamrConfig) -> Result<LabelMap> {
        self.compute.pamr(image, coarse, cfg).await
    }

    /// Per-pixel labels of `image` at τ refined by PAMR; see [`Compute::refined_labels`].
    ///
    /// # Errors
    /// As [`Compute::refined_labels`].
    pub async fn refined_labels(
        &self,
        seg: &Segmentation,
        image: &RgbImage,
        tau: f64,
        numbering: Numbering,
        cfg: &PamrConfig,
    ) -> Result<LabelMap> {
        self.compute.refined_labels(seg, image, tau, numbering, cfg).await
    }

    /// Per-pixel labels of `image` at τ, exact or refined; see [`Compute::labels`].
    ///
    /// # Errors
    /// As [`Compute::labels`].
    pub async fn labels(
        &self,
        seg: &Segmentation,
        image: &RgbImage,
        tau: f64,
        numbering: Numbering,
        refine: Refine,
    ) -> Result<LabelMap> {
        self.compute.labels(seg, image, tau, numbering, refine).await
    }
}

/// The longest side PAMR runs at; larger images are refined at this size and the labels scaled back
/// (nearest). The official demo refines at 1024 × 1024, and the demo preset's weights take
/// 64 floats per pixel (256 MiB at 1024²).
pub const PAMR_MAX_SIDE: u32 = 1024;

/// A segmented image: its features and the segment tree grown up to τ_max. Every question about
/// it at a τ ≤ τ_max is answered from the tree, without solving anything again.
#[derive(Clone, Debug)]
pub struct Segmentation {
    /// Patch features `[h, w, C]` of the squashed image.
    pub features: FeatureGrid,
    pub tree: SegmentTree,
    /// Where the tree was grown.
    pub backend: Backend,
    /// What the GPU did to grow it (`None` on the CPU).
    pub gpu_work: Option<GpuWork>,
    /// Why it was not grown on the GPU although one was meant to.
    pub note: Option<String>,
}

/// What the GPU did for one tree: the counts that bound its cost where each dispatch or readback
/// has a fixed price (a browser's WebGPU, a software rasteriser).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GpuWork {
    /// Compute dispatches.
    pub dispatches: u64,
    /// Buffer readbacks (each one a wait for the GPU).
    pub readbacks: u64,
    /// Tree levels processed.
    pub levels: u64,
}

#[cfg(feature = "gpu")]
impl From<crate::gpu::GpuStats> for GpuWork {
    fn from(s: crate::gpu::GpuStats) -> Self {
        Self {
            dispatches: s.dispatches,
            readbacks: s.readbacks,
            levels: s.levels,
        }
    }
}

impl Segmentation {
    /// Grid labels at τ (`[h, w]`).
    ///
    /// # Errors
    /// τ outside (0, τ_max].
    pub fn cell_labels(&self, tau: f64, numbering: Numbering) -> Result<LabelMap> {
        let (labels, k) = match numbering {
            Numbering::Mode => self.tree.labels_at(tau)?,
            Numbering::Leaves => self.tree.leaf_labels_at(tau)?,
        };
        LabelMap::new(labels, self.tree.grid[1], self.tree.grid[0], k)
    }

    /// Number of segments at τ.
    ///
    /// # Errors
    /// τ outside (0, τ_max].
    pub fn segments(&self, tau: f64, numbering: Numbering) -> Result<usize> {
        match numbering {
            Numbering::Mode => Ok(self.tree.labels_at(tau)?.1),
            Numbering::Leaves => Ok(self.tree.leaves_at(tau)?.len()),
        }
    }

    /// When the official `f32` label assembly merged leaves at τ: `Some((leaves, labels))`.
    pub fn merged_leaves(&self, tau: f64) -> Option<(usize, usize)> {
        let leaves = self.tree.leaves_at(tau).ok()?.len();
        let labels = self.segments(tau, Numbering::Mode).ok()?;
        (self.tree.mode == Mode::Official && leaves > labels).then_some((leaves, labels))
    }

    /// Per-pixel labels at τ at `width × height` by concept assignment: each pixel joins the
    /// segment whose mean feature it matches best (bilinear on the grid's scores).
    ///
    /// # Errors
    /// τ outside (0, τ_max]; a size of 0 or over [`crate::image_io::MAX_PIXELS`].
    pub fn pixel_labels(&self, tau: f64, numbering: Numbering, width: usize, height: usize) -> Result<LabelMap> {
        crate::refine::assign(&self.features, &self.cell_labels(tau, numbering)?, width, height)
    }

    /// AutoSC of these features, the paper's one-shot baseline ([`crate::ncut::autosc`]), with
    /// its labels per pixel at `width × height` by the same concept assignment as
    /// [`Segmentation::pixel_labels`] (the official `generate_masks` after its AutoSC). The pixel
    /// labels number the clusters that hold cells by first appearance in the grid (row-major).
    ///
    /// # Errors
    /// As [`crate::ncut::autosc::autosc`]; a size of 0 or over [`crate::image_io::MAX_PIXELS`].
    pub fn autosc(&self, width: usize, height: usize) -> Result<(AutoSc, LabelMap)> {
        let a = crate::ncut::autosc::autosc(&self.features)?;
        let cells = LabelMap::renumbered(&a.labels, self.features.w, self.features.h)?;
        let pixels = crate::refine::assign(&self.features, &cells, width, height)?;
        Ok((a, pixels))
    }

    /// Node `node` and its cut.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] for an index outside the tree; [`Error::Tree`] for a node
    /// without a cut (fewer than 2 cells, or every cut alike).
    pub fn node(&self, node: u32) -> Result<(&TreeNode, &NodeCut)> {
        let n = self
            .tree
            .nodes
            .get(node as usize)
            .ok_or_else(|| Error::InvalidParameter {
                name: "node",
                expected: "an index into the tree's nodes",
                got: format!("{node} (the tree has {} nodes)", self.tree.nodes.len()),
            })?;
        let cut = n.cut.as_ref().ok_or_else(|| {
            Error::Tree(format!(
                "node {node} has no cut (fewer than 2 cells, or every cut alike)"
            ))
        })?;
        Ok((n, cut))
    }

    /// Node `node`'s Fiedler vector scattered over the whole grid (`[h·w]` row-major), NaN
    /// outside its region.
    ///
    /// # Errors
    /// As [`Segmentation::node`].
    pub fn fiedler_on_grid(&self, node: u32) -> Result<Vec<f32>> {
        let (n, cut) = self.node(node)?;
        let mut out = vec![f32::NAN; self.tree.grid[0] * self.tree.grid[1]];
        for (&c, &y) in n.cells.iter().zip(&cut.fiedler) {
            if let Some(slot) = out.get_mut(c as usize) {
                *slot = y as f32;
            }
        }
        Ok(out)
    }
}
