//! `config.json` of a converted CLIP folder (models/FORMAT.md, "The converted CLIP folder"): an
//! open_clip CLIP whose image tower is a timm ConvNeXt and whose text tower is open_clip's own
//! transformer. Every width, depth and head count is read from here (the converter derives them
//! from the weights), so any such CLIP loads through the same code.

use serde::Deserialize;

use crate::{Error, Result};

/// The only `kind` this loader understands.
pub const KIND: &str = "openclip-convnext";

/// Largest channel count, depth, vocabulary or context the loader accepts: far above any open_clip
/// ConvNeXt (convnext_xxlarge: 3072 channels, 30 blocks in a stage) yet small enough that no shape
/// product can wrap a 32-bit `usize` before the weights are checked against it.
pub const MAX_DIM: usize = 1 << 16;

/// The whole `config.json`.
#[derive(Debug, Clone, Deserialize)]
pub struct ClipConfig {
    pub kind: String,
    /// D: the joint image–text embedding's width.
    pub embed_dim: usize,
    /// The raw learned parameter; scores use `min(exp(logit_scale), 100)` (open_clip's clamp).
    pub logit_scale: f64,
    pub vision: VisionConfig,
    pub text: TextConfig,
    /// The label sets precomputed in `labels/`.
    #[serde(default)]
    pub label_sets: Vec<String>,
}

/// The timm ConvNeXt trunk and open_clip's head.
#[derive(Debug, Clone, Deserialize)]
pub struct VisionConfig {
    /// The size it was trained at, `S` or `[h, w]` (informational: any multiple of 32 runs).
    #[serde(default)]
    pub image_size: serde_json::Value,
    pub in_channels: usize,
    /// The stem's conv: kernel = stride = patch size.
    pub patch_size: usize,
    /// Blocks per stage.
    pub depths: Vec<usize>,
    /// Channels per stage.
    pub dims: Vec<usize>,
    /// The MLP's hidden width per stage.
    pub mlp_hidden: Vec<usize>,
    /// The depthwise conv's kernel (padding kernel / 2).
    pub kernel_size: usize,
    /// Whether each block scales its branch by a learned `gamma`.
    pub layer_scale: bool,
    pub norm_eps: f64,
    pub head: HeadConfig,
}

/// open_clip's projection after the trunk's head (`visual.head`).
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum HeadConfig {
    /// `mlp.fc1` → GELU → `mlp.fc2` (convnext_*_d models).
    Mlp {
        hidden: usize,
        fc1_bias: bool,
        fc2_bias: bool,
    },
    /// One `proj` Linear.
    Linear { bias: bool },
    /// No projection: the trunk's width is the embedding's.
    None,
}

/// The activation inside the text transformer's MLP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Activation {
    /// Exact (erf) GELU, as PyTorch's `nn.GELU()`.
    Gelu,
    /// `x·σ(1.702x)`, OpenAI's original CLIP.
    QuickGelu,
}

/// How the text transformer's output is pooled to one vector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TextPool {
    /// The token at the largest id (the end-of-text token, the highest id in CLIP's vocabulary).
    Argmax,
}

/// open_clip's text transformer.
#[derive(Debug, Clone, Deserialize)]
pub struct TextConfig {
    pub context_length: usize,
    pub vocab_size: usize,
    pub width: usize,
    pub heads: usize,
    pub layers: usize,
    pub mlp_hidden: usize,
    pub layer_norm_eps: f64,
    pub activation: Activation,
    pub layer_scale: bool,
    pub causal: bool,
    pub pool: TextPool,
    pub proj_bias: bool,
    /// The BPE merges file's name in the folder.
    pub vocab: String,
}

fn refuse(what: impl Into<String>) -> Error {
    Error::Model(format!("config.json: {}", what.into()))
}

fn check_dim(name: &str, v: usize) -> Result<()> {
    if v == 0 || v > MAX_DIM {
        return Err(refuse(format!("{name} is {v}; expected 1..={MAX_DIM}")));
    }
    Ok(())
}

impl ClipConfig {
    /// Parses and checks `config.json`.
    pub fn from_json(bytes: &[u8]) -> Result<Self> {
        let v: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| refuse(format!("does not parse: {e}")))?;
        // The kind first: another model's folder gets that said, not a missing field.
        let kind = v.get("kind").and_then(|k| k.as_str()).unwrap_or("");
        if kind != KIND {
            return Err(refuse(format!(
                "kind is {kind:?}; this loader reads {KIND:?} (a CLIP folder from models/convert_clip.py)"
            )));
        }
        let c: ClipConfig = serde_json::from_value(v).map_err(|e| refuse(format!("does not parse: {e}")))?;
        c.check()?;
        Ok(c)
    }

    fn check(&self) -> Result<()> {
        if self.kind != KIND {
            return Err(refuse(format!(
                "kind is {:?}; this loader reads {KIND:?} (a CLIP folder from models/convert_clip.py)",
                self.kind
            )));
        }
        if !self.logit_scale.is_finite() {
            return Err(refuse(format!("logit_scale is {}", self.logit_scale)));
        }
        check_dim("embed_dim", self.embed_dim)?;
        let v = &self.vision;
        check_dim("vision.in_channels", v.in_channels)?;
        check_dim("vision.patch_size", v.patch_size)?;
        if v.kernel_size.is_multiple_of(2) || v.kernel_size > 31 {
            return Err(refuse(format!(
                "vision.kernel_size is {}; expected odd, ≤ 31",
                v.kernel_size
            )));
        }
        if v.dims.is_empty() || v.dims.len() > 8 || v.depths.len() != v.dims.len() || v.mlp_hidden.len() != v.dims.len()
        {
            return Err(refuse(format!(
                "vision: {} dims, {} depths, {} mlp_hidden; expected 1 to 8 stages, the same count in each",
                v.dims.len(),
                v.depths.len(),
                v.mlp_hidden.len()
            )));
        }
        for (i, ((&d, &n), &h)) in v.dims.iter().zip(&v.depths).zip(&v.mlp_hidden).enumerate() {
            check_dim(&format!("vision.dims[{i}]"), d)?;
            check_dim(&format!("vision.mlp_hidden[{i}]"), h)?;
            if n > 256 {
                return Err(refuse(format!("vision.depths[{i}] is {n}; expected ≤ 256")));
            }
        }
        if !(v.norm_eps > 0.0 && v.norm_eps.is_finite()) {
            return Err(refuse(format!("vision.norm_eps is {}", v.norm_eps)));
        }
        let trunk = *v.dims.last().expect("checked non-empty");
        match v.head {
            HeadConfig::Mlp { hidden, .. } => check_dim("vision.head.hidden", hidden)?,
            HeadConfig::Linear { .. } => {}
            HeadConfig::None if trunk != self.embed_dim => {
                return Err(refuse(format!(
                    "vision.head is none but the trunk's width {trunk} is not embed_dim {}",
                    self.embed_dim
                )))
            }
            HeadConfig::None => {}
        }
        let t = &self.text;
        for (name, x) in [
            ("text.context_length", t.context_length),
            ("text.vocab_size", t.vocab_size),
            ("text.width", t.width),
            ("text.heads", t.heads),
            ("text.layers", t.layers),
            ("text.mlp_hidden", t.mlp_hidden),
        ] {
            check_dim(name, x)?;
        }
        if t.context_length < 2 || t.layers > 256 || !t.width.is_multiple_of(t.heads) {
            return Err(refuse(format!(
                "text: context {} (≥ 2), {} layers (≤ 256), width {} in {} heads (must divide)",
                t.context_length, t.layers, t.width, t.heads
            )));
        }
        if !(t.layer_norm_eps > 0.0 && t.layer_norm_eps.is_finite()) {
            return Err(refuse(format!("text.layer_norm_eps is {}", t.layer_norm_eps)));
        }
        if !t.causal {
            return Err(refuse("text.causal is false; only causal text towers are supported"));
        }
        Ok(())
    }

    /// The trunk's total stride: the stem's patch, then ×2 per later stage (32 for ConvNeXt).
    pub fn stride(&self) -> u32 {
        (self.vision.patch_size << (self.vision.dims.len() - 1)) as u32
    }

    /// The channel count C of the dense features (the last stage's width).
    pub fn dense_channels(&self) -> usize {
        *self.vision.dims.last().expect("checked non-empty")
    }

    /// `min(exp(logit_scale), 100)`: the factor on every cosine (open_clip's clamp).
    pub fn score_scale(&self) -> f32 {
        self.logit_scale.exp().min(100.0) as f32
    }

    /// Refuses an input size S the trunk cannot tile (not a positive multiple of the stride, or
    /// above [`super::super::config::MAX_SIZE`]).
    pub fn check_size(&self, size: u32) -> Result<()> {
        let stride = self.stride();
        if size == 0 || !size.is_multiple_of(stride) || size > crate::model::config::MAX_SIZE {
            return Err(Error::InvalidParameter {
                name: "size",
                expected: "a positive multiple of the CLIP trunk's stride (32), at most 2048",
                got: size.to_string(),
            });
        }
        Ok(())
    }
}
