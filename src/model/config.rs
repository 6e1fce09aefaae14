//! `config.json` of a converted model folder (models/FORMAT.md): the normalised diffusers topology
//! of the UNet down path and the VAE encoder, the folded-constant sizes and the noise schedule.
//!
//! Everything the modules build is read from here, so SSD-1B, SDXL-base and any UNet of the same
//! block kinds (other widths, heads, depths, groups) load through the same code.

use serde::Deserialize;

use crate::{Error, Result};

/// The only `kind` this loader understands.
pub const KIND: &str = "sdxl-encoder-slice";

/// Largest input size S a model may list (and be run at): twice the paper's 1024. The S×S×3
/// input, the noise and every band of the VAE then stay far inside a wasm32 address space, and
/// no size arithmetic (`3·S·S`, `C·S·S`) can wrap a 32-bit `usize`.
pub const MAX_SIZE: u32 = 2048;

/// The whole `config.json`.
#[derive(Debug, Clone, Deserialize)]
pub struct ModelConfig {
    pub kind: String,
    pub unet: UnetConfig,
    pub hook: Hook,
    pub vae: VaeConfig,
    pub noise: NoiseSchedule,
    /// Input sizes S (the image is resized to S×S) whose folded constants are stored.
    pub sizes: Vec<u32>,
}

/// The UNet's down path (diffusers `UNet2DConditionModel` config, normalised by convert.py).
#[derive(Debug, Clone, Deserialize)]
pub struct UnetConfig {
    pub in_channels: usize,
    pub block_out_channels: Vec<usize>,
    /// `DownBlock2D` or `CrossAttnDownBlock2D` per block.
    pub down_block_types: Vec<String>,
    pub layers_per_block: usize,
    /// Per block, per resnet layer: transformer blocks in the attention after that resnet
    /// (0 for a `DownBlock2D`).
    pub transformer_layers_per_block: Vec<Vec<usize>>,
    /// Attention heads per block (head size = channels / heads).
    pub num_attention_heads: Vec<usize>,
    pub cross_attention_dim: usize,
    pub norm_num_groups: usize,
    pub resnet_eps: f64,
    pub transformer_norm_eps: f64,
    pub layer_norm_eps: f64,
    pub downsample_padding: usize,
    /// Tokens of the folded text context (77 for CLIP).
    pub context_tokens: usize,
}

/// Where the feature ẑ is taken: `down_blocks[down_block].attentions[attention]
/// .transformer_blocks[transformer_block].attn1`, its output before the residual.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub struct Hook {
    pub down_block: usize,
    pub attention: usize,
    pub transformer_block: usize,
}

/// The VAE encoder (diffusers `AutoencoderKL` config).
#[derive(Debug, Clone, Deserialize)]
pub struct VaeConfig {
    pub in_channels: usize,
    pub block_out_channels: Vec<usize>,
    pub layers_per_block: usize,
    pub norm_num_groups: usize,
    pub eps: f64,
    pub latent_channels: usize,
    pub mid_block_add_attention: bool,
    pub scaling_factor: f64,
}

/// DDIM `add_noise` at the timestep DiffCut uses: `x_t = √ᾱ·x₀ + √(1−ᾱ)·ε`.
#[derive(Debug, Clone, Copy, Deserialize)]
pub struct NoiseSchedule {
    pub timestep: u32,
    pub sqrt_alpha_bar: f64,
    pub sqrt_one_minus_alpha_bar: f64,
}

fn bad(msg: impl Into<String>) -> Error {
    Error::Model(format!("config.json: {}", msg.into()))
}

impl ModelConfig {
    /// Parses and validates `config.json`.
    pub fn from_json(bytes: &[u8]) -> Result<Self> {
        let config: ModelConfig = serde_json::from_slice(bytes).map_err(|e| bad(format!("does not parse: {e}")))?;
        config.validate()?;
        Ok(config)
    }

    /// Checks everything the modules rely on, so that building them cannot fail on a shape.
    pub fn validate(&self) -> Result<()> {
        if self.kind != KIND {
            return Err(bad(format!(
                "unsupported model kind {:?}; this build reads {KIND:?}",
                self.kind
            )));
        }
        let u = &self.unet;
        let blocks = u.block_out_channels.len();
        if blocks == 0 {
            return Err(bad("unet.block_out_channels is empty"));
        }
        for (name, len) in [
            ("down_block_types", u.down_block_types.len()),
            ("transformer_layers_per_block", u.transformer_layers_per_block.len()),
            ("num_attention_heads", u.num_attention_heads.len()),
        ] {
            if len != blocks {
                return Err(bad(format!(
                    "unet.{name} has {len} entries but block_out_channels has {blocks}"
                )));
            }
        }
        if u.layers_per_block == 0 || u.in_channels == 0 || u.norm_num_groups == 0 {
            return Err(bad(
                "unet.layers_per_block, in_channels and norm_num_groups must be ≥ 1",
            ));
        }
        for (i, kind) in u.down_block_types.iter().enumerate() {
            let depths = &u.transformer_layers_per_block[i];
            if depths.len() != u.layers_per_block {
                return Err(bad(format!(
                    "unet.transformer_layers_per_block[{i}] has {} entries, layers_per_block is {}",
                    depths.len(),
                    u.layers_per_block
                )));
            }
            match kind.as_str() {
                "DownBlock2D" => {
                    if depths.iter().any(|&d| d != 0) {
                        return Err(bad(format!("unet block {i} is a DownBlock2D with attention layers")));
                    }
                }
                "CrossAttnDownBlock2D" => {
                    if depths.contains(&0) {
                        return Err(bad(format!("unet block {i}: a CrossAttnDownBlock2D attention with 0 layers")));
                    }
                }
                other => {
                    return Err(bad(format!(
                        "unsupported unet down block type {other:?} (block {i}); supported: DownBlock2D, CrossAttnDownBlock2D"
                    )))
                }
            }
            let c = u.block_out_channels[i];
            let heads = u.num_attention_heads[i];
            if !c.is_multiple_of(u.norm_num_groups) {
                return Err(bad(format!(
                    "unet block {i}: {c} channels are not divisible into {} groups",
                    u.norm_num_groups
                )));
            }
            if kind == "CrossAttnDownBlock2D" && (heads == 0 || !c.is_multiple_of(heads)) {
                return Err(bad(format!(
                    "unet block {i}: {c} channels are not divisible into {heads} heads"
                )));
            }
        }
        // diffusers' Downsample2D is a stride-2 3×3 convolution: it halves the grid with padding 1,
        // or with 0 after padding right and bottom by one. Any other padding gives another grid
        // (the hook's would not be S/32) after as much work as the padding makes.
        if u.downsample_padding > 1 {
            return Err(bad(format!(
                "unet.downsample_padding is {}; it must be 0 or 1",
                u.downsample_padding
            )));
        }
        if u.in_channels != self.vae.latent_channels {
            return Err(bad(format!(
                "unet.in_channels is {} but vae.latent_channels is {}",
                u.in_channels, self.vae.latent_channels
            )));
        }
        let derived = self.derived_hook()?;
        if derived != self.hook {
            return Err(bad(format!(
                "hook {:?} is not the last attn1 of the last attention down block ({derived:?})",
                self.hook
            )));
        }
        let v = &self.vae;
        if v.block_out_channels.is_empty() || v.layers_per_block == 0 || v.norm_num_groups == 0 {
            return Err(bad(
                "vae.block_out_channels, layers_per_block and norm_num_groups must be non-empty / ≥ 1",
            ));
        }
        if let Some(c) = v
            .block_out_channels
            .iter()
            .find(|&&c| !c.is_multiple_of(v.norm_num_groups))
        {
            return Err(bad(format!(
                "vae: {c} channels are not divisible into {} groups",
                v.norm_num_groups
            )));
        }
        if self.sizes.is_empty() {
            return Err(bad("sizes is empty: no folded constants"));
        }
        if v.block_out_channels.len() > 8 || self.hook.down_block > 8 {
            return Err(bad("more than 8 downsampling levels in the vae or before the hook"));
        }
        if let Some(s) = self.sizes.iter().find(|&&s| s > MAX_SIZE) {
            return Err(bad(format!(
                "size {s} is beyond the largest supported input size, {MAX_SIZE}"
            )));
        }
        let factor = self.size_factor();
        if let Some(s) = self
            .sizes
            .iter()
            .find(|&&s| s == 0 || !(s as usize).is_multiple_of(factor))
        {
            return Err(bad(format!("size {s} is not a positive multiple of {factor}")));
        }
        let n = &self.noise;
        if !(n.sqrt_alpha_bar.is_finite() && n.sqrt_one_minus_alpha_bar.is_finite()) {
            return Err(bad("noise schedule is not finite"));
        }
        Ok(())
    }

    /// The hook from the topology: the last down block that has attentions, its last attention,
    /// its last transformer block (`tools/ldm.py:61`).
    pub fn derived_hook(&self) -> Result<Hook> {
        let u = &self.unet;
        let down_block = (0..u.down_block_types.len())
            .rev()
            .find(|&i| u.down_block_types[i] == "CrossAttnDownBlock2D")
            .ok_or_else(|| bad("the unet has no CrossAttnDownBlock2D, so there is no attn1 to take features from"))?;
        let depths = &u.transformer_layers_per_block[down_block];
        Ok(Hook {
            down_block,
            attention: depths.len() - 1,
            transformer_block: depths[depths.len() - 1] - 1,
        })
    }

    /// Input pixels per feature cell: 2^(VAE downsamples) · 2^(UNet downsamples before the hook).
    pub fn size_factor(&self) -> usize {
        let vae = 1usize << (self.vae.block_out_channels.len() - 1);
        vae << self.hook.down_block
    }

    /// The feature grid side for input size `s`.
    pub fn grid(&self, s: u32) -> usize {
        s as usize / self.size_factor()
    }

    /// Channels of ẑ.
    pub fn feature_channels(&self) -> usize {
        self.unet.block_out_channels[self.hook.down_block]
    }

    /// The VAE latent's shape `[1, z, S/f, S/f]` for input size `s` (f = 8 for SDXL's VAE).
    pub fn latent_shape(&self, s: u32) -> [usize; 4] {
        let side = s as usize >> (self.vae.block_out_channels.len() - 1);
        [1, self.vae.latent_channels, side, side]
    }

    /// Refuses a size without folded constants, naming the ones there are.
    pub fn check_size(&self, s: u32) -> Result<()> {
        let factor = self.size_factor();
        if s == 0 || !(s as usize).is_multiple_of(factor) {
            return Err(Error::Model(format!(
                "size {s} is not a positive multiple of {factor}; this model has constants for sizes {:?}",
                self.sizes
            )));
        }
        if self.sizes.contains(&s) {
            Ok(())
        } else {
            Err(Error::Model(format!(
                "this model has constants for sizes {:?}, not {s}; convert it again with --sizes including {s}",
                self.sizes
            )))
        }
    }
}
