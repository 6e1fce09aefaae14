//! The diffusion model's convolutions on burn's wgpu device, as an implicit GEMM in our WGSL
//! (`conv.wgsl`): `y [B, C_out, H', W'] = conv2d(x [B, C_in, H, W], weight [C_out, C_in, k, k]) +
//! bias`, any stride and zero padding, one group. CPU reference: [`crate::model::host::conv2d`]
//! (`tests/model.rs` compares the two on every geometry the models use).
//!
//! Why: burn 0.22 without autotune runs its direct convolution (about 1.2 TFLOP/s on an H200,
//! 85 % of the VAE's GPU time at 1024², BENCHMARKS.md), and its implicit-GEMM convolutions need
//! cooperative-matrix instructions WebGPU lacks. This kernel tiles the GEMM in workgroup memory
//! on plain `f32` FMAs, so it runs wherever WGSL does: WebGPU in the browser, Vulkan, lavapipe.
//!
//! The kernel is launched on burn's own device and queue (cubecl's client), on burn's buffers:
//! no copy in or out, and it orders with burn's kernels on the same stream.

use burn::backend::wgpu::{CubeTensor, Wgpu};
use burn::cubecl::ir::{metadata::Info, UIntKind};
use burn::cubecl::prelude::*;
use burn::cubecl::server::KernelArguments;
use burn::cubecl::{CubeKernel, PrecompiledSource};
use burn::tensor::{DType, Shape, Tensor};

use super::{prelude, Shared};

/// Output channels per workgroup.
pub(crate) const TILE_CO: u32 = 64;
/// Output pixels per workgroup.
pub(crate) const TILE_PX: u32 = 128;
/// Taps of the reduction (`C_in·k²`) per step through workgroup memory.
pub(crate) const TILE_K: u32 = 16;
/// Threads per workgroup: each computes 4 channels × 8 pixels of the tile.
pub(crate) const WORKGROUP: u32 = (TILE_CO / 4) * (TILE_PX / 8);

// conv.wgsl's layout: per thread and step one vec4 of weights and two vec4s of x̂, within WebGPU's
// default limits (256 threads, 16 KiB of workgroup memory).
const _: () = assert!(WORKGROUP == TILE_K * (TILE_CO / 4));
const _: () = assert!(2 * WORKGROUP == TILE_K * (TILE_PX / 4));
const _: () = assert!(WORKGROUP <= 256 && TILE_K * (TILE_CO + TILE_PX) * 4 <= 16384);

pub(crate) const SHARED: &[(&str, Shared)] = &[
    ("TILE_CO", Shared::U32(TILE_CO)),
    ("TILE_PX", Shared::U32(TILE_PX)),
    ("TILE_K", Shared::U32(TILE_K)),
    ("WORKGROUP", Shared::U32(WORKGROUP)),
];

pub(crate) const WGSL: &str = include_str!("conv.wgsl");

/// The most workgroups a dispatch may have along one dimension (WebGPU's default limit).
const MAX_GROUPS: usize = 65_535;

/// `conv2d(x, weight) + bias` with our kernel, where the call is one it takes: all three on
/// burn's wgpu device, `f32`, the weight contiguous (its rows are the GEMM's), one group, and a
/// grid within [`MAX_GROUPS`]. Otherwise `None`, and the caller uses burn's convolution.
/// `padding` is `[(top, bottom), (left, right)]`.
pub fn conv2d(
    x: &Tensor<4>,
    weight: &Tensor<4>,
    bias: &Tensor<1>,
    stride: usize,
    padding: [(usize, usize); 2],
) -> Option<Tensor<4>> {
    let x: CubeTensor = x.clone().try_into_primitive::<Wgpu>().ok()?;
    let weight: CubeTensor = weight.clone().try_into_primitive::<Wgpu>().ok()?;
    let bias: CubeTensor = bias.clone().try_into_primitive::<Wgpu>().ok()?;
    if [&x, &weight, &bias]
        .iter()
        .any(|t| t.dtype != DType::F32 || t.qparams.is_some())
    {
        return None;
    }
    if !weight.is_contiguous() || !bias.is_contiguous() || x.device != weight.device || x.device != bias.device {
        return None;
    }
    let &[b, c_in, h, w] = x.meta.shape().as_slice() else {
        return None;
    };
    let &[c_out, c_in_w, k_h, k_w] = weight.meta.shape().as_slice() else {
        return None;
    };
    let [(top, bottom), (left, right)] = padding;
    if c_in != c_in_w || bias.meta.shape().as_slice() != [c_out] || stride == 0 {
        return None;
    }
    if h + top + bottom < k_h || w + left + right < k_w {
        return None;
    }
    let h_out = (h + top + bottom - k_h) / stride + 1;
    let w_out = (w + left + right - k_w) / stride + 1;
    let n = b * h_out * w_out;
    let groups = (n.div_ceil(TILE_PX as usize), c_out.div_ceil(TILE_CO as usize));
    if groups.0 > MAX_GROUPS || groups.1 > MAX_GROUPS || groups.0 == 0 || groups.1 == 0 {
        return None;
    }
    // Every index the kernel forms stays within u32.
    let elements = [b * c_in * h * w, c_out * c_in * k_h * k_w, b * c_out * h_out * w_out];
    if elements.iter().any(|&e| e > u32::MAX as usize) {
        return None;
    }
    let xs = x.meta.strides();
    let params: Vec<u32> = [
        b, c_in, h, w, c_out, h_out, w_out, k_h, k_w, stride, top, left, xs[0], xs[1], xs[2], xs[3],
    ]
    .iter()
    .map(|&v| u32::try_from(v).ok())
    .collect::<Option<_>>()?;

    let client = x.client.clone();
    let params = client.create_from_slice(bytemuck::cast_slice(&params));
    let out = client.empty(b * c_out * h_out * w_out * std::mem::size_of::<f32>());
    let args = KernelArguments::new()
        .with_buffer(x.handle.clone().binding())
        .with_buffer(weight.handle.clone().binding())
        .with_buffer(bias.handle.clone().binding())
        .with_buffer(out.clone().binding())
        .with_buffer(params.binding());
    client.launch(
        Box::new(ImplicitGemm),
        CubeCount::Static(groups.0 as u32, groups.1 as u32, 1),
        args,
    );
    let y = CubeTensor::new_contiguous(
        client,
        x.device.clone(),
        Shape::from([b, c_out, h_out, w_out]),
        out,
        DType::F32,
    );
    Some(Tensor::from_primitive::<Wgpu>(y))
}

/// `conv.wgsl` with its shared constants, as a kernel cubecl launches without compiling anything
/// of its own (the source is the kernel).
struct ImplicitGemm;

impl KernelMetadata for ImplicitGemm {
    fn id(&self) -> KernelId {
        KernelId::new::<Self>()
    }

    fn address_type(&self) -> ElemType {
        UIntKind::U32.into()
    }
}

impl CubeKernel for ImplicitGemm {
    fn define(&self) -> KernelDefinition {
        // Only keys cubecl's pipeline cache: the WGSL below is what runs.
        let settings = KernelSettings::new(CubeDim::new_1d(WORKGROUP).0, ExecutionMode::Checked, AddressType::U32);
        KernelDefinition {
            body: Scope::root(settings.clone()),
            settings,
            info: Info::default(),
        }
    }

    fn source(&self) -> Option<PrecompiledSource> {
        Some(PrecompiledSource {
            source: format!("{}{WGSL}", prelude(SHARED)),
            entrypoint_name: "main".to_string(),
            lang: "wgsl",
        })
    }
}
