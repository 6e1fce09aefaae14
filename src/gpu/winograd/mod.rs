//! The diffusion model's 3×3 stride-1 convolutions on burn's wgpu device by Winograd's minimal
//! filtering F(2×2, 3×3) (Lavin & Gray, CVPR 2016): 2.25× fewer multiply-adds than the direct
//! convolution (16 per input channel for a 2×2 block of outputs instead of 36).
//!
//! `y [B, C_out, H', W'] = conv2d(x [B, C_in, H, W], weight [C_out, C_in, 3, 3]) + bias`, any
//! zero padding, in three kernels of ours (`winograd.wgsl`) around our GEMM ([`super::gemm`]):
//!
//! 1. `U [16, C_out, C_in] = G g Gᵀ` for every kernel `g` (once per call);
//! 2. per chunk of 2×2 output tiles, `V [16, C_in, tiles] = Bᵀ d B` for every 4×4 input patch `d`;
//! 3. the 16 products `M_ξ = U_ξ · V_ξ` (the GEMM, one launch);
//! 4. `y = Aᵀ M A + bias` per tile, written into the output.
//!
//! The chunks bound V and M ([`CHUNK_BYTES`] each) whatever the map's size, so the transforms'
//! 4× expansion of the map never holds a whole 1024² level in memory. With U (16·C_out·C_in
//! values: 25 MiB for the UNet's 640 → 640, the largest that goes by Winograd at 1024, since
//! [`winograd_takes`] asks for as many tiles as output channels) a call holds about 90 MiB
//! beyond its input and output.
//!
//! Which convolutions go by Winograd is [`winograd_takes`]'s rule, on the CPU too
//! (`host::conv2d` runs the same algorithm there). Reference: the direct convolution
//! [`crate::model::host::conv2d_direct`] (`tests/gpu_model_kernels/winograd.rs`). The algorithm is exact in real arithmetic; in f32
//! it multiplies transformed sums rather than the products themselves, and its results differ
//! from the direct convolution's by a few units of rounding of Σ|w||x̂| (tested within 1e-6 of
//! it per output).
//!
//! Why: after our GEMM the VAE's 3×3 convolutions are still most of its GPU time at 1024²
//! (BENCHMARKS.md, "Diffusion features → On a GPU").

use burn::backend::wgpu::{CubeTensor, Wgpu};
use burn::tensor::{DType, Shape, Tensor};

use super::cube::{self, WgslKernel};
use super::{gemm, prelude, Shared};
use crate::model::layers::winograd_takes;

/// Threads per workgroup (the three kernels).
pub(crate) const WORKGROUP: u32 = 256;
/// The side of a transformed tile: F(2×2, 3×3) reads a 4×4 patch for each 2×2 block of outputs.
pub(crate) const TILE_IN: u32 = 4;
/// Positions of a transformed tile: the number of products per chunk.
const POSITIONS: usize = (TILE_IN * TILE_IN) as usize;
/// The most bytes V, and M, take per chunk of tiles.
pub const CHUNK_BYTES: usize = 32 << 20;

pub(crate) const SHARED: &[(&str, Shared)] =
    &[("WORKGROUP", Shared::U32(WORKGROUP)), ("TILE_IN", Shared::U32(TILE_IN))];

pub(crate) const WGSL: &str = include_str!("winograd.wgsl");

/// `conv2d(x, weight) + bias` by F(2×2, 3×3) where the call is one it takes: one that
/// [`winograd_takes`] gives Winograd (a 3×3 kernel at stride 1, enough channels in and out and
/// enough tiles: the rule the CPU follows too), all three `f32` on burn's wgpu device, the weight
/// and bias contiguous, and every index and grid within WebGPU's limits. Otherwise `None`, and
/// the caller uses the direct GEMM ([`gemm::conv2d`]). `padding` is `[(top, bottom), (left, right)]`.
pub fn conv2d(
    x: &Tensor<4>,
    weight: &Tensor<4>,
    bias: &Tensor<1>,
    stride: usize,
    padding: [(usize, usize); 2],
) -> Option<Tensor<4>> {
    conv2d_in_chunks(x, weight, bias, stride, padding, CHUNK_BYTES)
}

/// [`conv2d`] with chunks of at most `chunk_bytes` for V and M (the tests take them small, to
/// cross chunk boundaries on small maps).
pub fn conv2d_in_chunks(
    x: &Tensor<4>,
    weight: &Tensor<4>,
    bias: &Tensor<1>,
    stride: usize,
    padding: [(usize, usize); 2],
    chunk_bytes: usize,
) -> Option<Tensor<4>> {
    let cube::ConvOperands {
        x,
        weight,
        bias,
        x_shape: [b, c_in, h, w],
        weight_shape: [c_out, _, k_h, k_w],
    } = cube::conv_operands(x, weight, bias)?;
    let [(top, bottom), (left, right)] = padding;
    if h + top + bottom < 3 || w + left + right < 3 {
        return None;
    }
    let (h_out, w_out) = (h + top + bottom - 2, w + left + right - 2);
    if !winograd_takes(c_in, c_out, [k_h, k_w], stride, [b, h_out, w_out]) {
        return None;
    }
    let (tiles_h, tiles_w) = (h_out.div_ceil(2), w_out.div_ceil(2));
    let tiles = b * tiles_h * tiles_w;
    if tiles == 0 {
        return None;
    }
    // Tiles per chunk: V and M within the budget, a whole number of the GEMM's column tiles
    // where there is room for one.
    let mut chunk = (chunk_bytes / (POSITIONS * c_in.max(c_out) * std::mem::size_of::<f32>())).max(1);
    if chunk >= gemm::TILE_PX as usize {
        chunk -= chunk % gemm::TILE_PX as usize;
    }
    let chunk = chunk.min(tiles);
    // Every index the kernels form stays within u32: x's (its span), y's, U's (which also bounds
    // the weight's 9·pair and the weight kernel's thread ids, within a workgroup of it), and
    // V's and M's (which bound the other kernels' thread ids likewise).
    let sizes = [
        cube::span(&x),
        cube::product(&[b, c_out, h_out, w_out]),
        cube::product(&[POSITIONS, c_out, c_in]),
        cube::product(&[POSITIONS, c_in.max(c_out), chunk]),
    ];
    // The products' grid too, so that nothing is launched before a decline (the GEMM's own
    // checks inside the loop then always pass).
    let products = [
        chunk.div_ceil(gemm::TILE_PX as usize),
        c_out.div_ceil(gemm::TILE_CO as usize),
        POSITIONS,
    ];
    if !sizes.into_iter().all(cube::fits_u32) || !cube::grid_fits(products) {
        return None;
    }
    let client = x.client.clone();
    let device = x.device.clone();
    let f32_bytes = std::mem::size_of::<f32>();
    let tensor = |shape: [usize; 3], handle| {
        CubeTensor::new_contiguous(client.clone(), device.clone(), Shape::from(shape), handle, DType::F32)
    };

    // U = G g Gᵀ.
    let u = client.empty(POSITIONS * c_out * c_in * f32_bytes);
    let pairs = c_out * c_in;
    let grid = cube::grid_2d(pairs.div_ceil(WORKGROUP as usize), cube::MAX_GROUPS);
    cube::launch::<WinogradWeight>(&client, grid, &[&weight.handle, &u], &[pairs as u32, grid[0] as u32]);
    let u = tensor([POSITIONS, c_out, c_in], u);

    let v = client.empty(POSITIONS * c_in * chunk * f32_bytes);
    let m = client.empty(POSITIONS * c_out * chunk * f32_bytes);
    let y = client.empty(b * c_out * h_out * w_out * f32_bytes);
    let xs = x.meta.strides();
    for t0 in (0..tiles).step_by(chunk) {
        let t_len = chunk.min(tiles - t0);
        let grid = cube::grid_2d((c_in * t_len).div_ceil(WORKGROUP as usize), cube::MAX_GROUPS);
        let words = [
            c_in, h, w, tiles_h, tiles_w, t0, t_len, top, left, xs[0], xs[1], xs[2], xs[3], grid[0],
        ];
        let words = words.map(|word| word as u32);
        cube::launch::<WinogradInput>(&client, grid, &[&x.handle, &v], &words);
        gemm::batched_into(&u, &tensor([POSITIONS, c_in, t_len], v.clone()), &m)?;
        let grid = cube::grid_2d((c_out * t_len).div_ceil(WORKGROUP as usize), cube::MAX_GROUPS);
        let words = [c_out, h_out, w_out, tiles_h, tiles_w, t0, t_len, grid[0]].map(|word| word as u32);
        cube::launch::<WinogradOutput>(&client, grid, &[&m, &bias.handle, &y], &words);
    }
    let y = CubeTensor::new_contiguous(client, device, Shape::from([b, c_out, h_out, w_out]), y, DType::F32);
    Some(Tensor::from_primitive::<Wgpu>(y))
}

/// The kernels, for [`cube::kernel_sources`].
pub(crate) fn kernels() -> Vec<cube::KernelSource> {
    vec![
        cube::kernel_source::<WinogradWeight>(),
        cube::kernel_source::<WinogradInput>(),
        cube::kernel_source::<WinogradOutput>(),
    ]
}

fn source() -> String {
    format!("{}{WGSL}", prelude(SHARED))
}

/// `winograd_weight` of winograd.wgsl: U = G g Gᵀ.
struct WinogradWeight;
/// `winograd_input`: V = Bᵀ d B for a chunk of tiles.
struct WinogradInput;
/// `winograd_output`: y = Aᵀ M A + bias for a chunk of tiles.
struct WinogradOutput;

impl WgslKernel for WinogradWeight {
    const ENTRY: &'static str = "winograd_weight";
    const WORKGROUP: u32 = WORKGROUP;
    fn source() -> String {
        source()
    }
}

impl WgslKernel for WinogradInput {
    const ENTRY: &'static str = "winograd_input";
    const WORKGROUP: u32 = WORKGROUP;
    fn source() -> String {
        source()
    }
}

impl WgslKernel for WinogradOutput {
    const ENTRY: &'static str = "winograd_output";
    const WORKGROUP: u32 = WORKGROUP;
    fn source() -> String {
        source()
    }
}
