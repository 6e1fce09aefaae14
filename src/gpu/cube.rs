//! Our WGSL kernels on burn's own wgpu device (feature `model`): the diffusion model's tensors
//! live in burn's buffers, so the kernels that work on them ([`super::gemm`],
//! [`super::group_norm`], [`super::softmax`], [`super::winograd`]) are launched through cubecl's client, on burn's queue and buffers: no
//! copy in or out, ordered with burn's kernels on the same stream.
//!
//! Each is a precompiled-WGSL cubecl kernel ([`Wgsl`]): cubecl compiles nothing of its own, and
//! the pipeline's bind group layout is derived from the entry point, so an entry point must use
//! every binding it is given.

use std::collections::BTreeMap;
use std::marker::PhantomData;
use std::sync::Mutex;

use burn::backend::wgpu::{CubeTensor, Wgpu};
use burn::cubecl::client::Client;
use burn::cubecl::ir::{metadata::Info, UIntKind};
use burn::cubecl::prelude::*;
use burn::cubecl::server::{Handle, KernelArguments};
use burn::cubecl::{CubeKernel, PrecompiledSource};
use burn::tensor::{DType, Tensor};

/// The most workgroups a dispatch may have along one dimension (WebGPU's default limit).
pub(crate) const MAX_GROUPS: usize = 65_535;

/// One WGSL entry point: its source (shared constants included) and workgroup size. The type's
/// name is the kernel's name in cubecl's profiles.
pub(crate) trait WgslKernel: 'static + Send + Sync {
    const ENTRY: &'static str;
    const WORKGROUP: u32;
    fn source() -> String;
}

/// One kernel as the device compiles it: for checks that every variant compiles (natively here,
/// in Chrome through the page's module).
#[derive(Debug, Clone, serde::Serialize)]
pub struct KernelSource {
    /// The kernel type's name (as in cubecl's profiles).
    pub name: &'static str,
    pub entry: &'static str,
    pub source: String,
}

/// `K` as a [`KernelSource`].
pub(crate) fn kernel_source<K: WgslKernel>() -> KernelSource {
    KernelSource {
        name: kernel_source_name::<K>(),
        entry: K::ENTRY,
        source: K::source(),
    }
}

/// `K`'s type name without its path (`GroupSums<true>`).
fn kernel_source_name<K: WgslKernel>() -> &'static str {
    let name = std::any::type_name::<K>();
    let base = name.split('<').next().unwrap_or(name);
    let start = base.rfind("::").map_or(0, |i| i + 2);
    &name[start..]
}

/// Every kernel launched through here, each variant once.
pub fn kernel_sources() -> Vec<KernelSource> {
    [
        super::gemm::kernels(),
        super::group_norm::kernels(),
        super::softmax::kernels(),
        super::winograd::kernels(),
    ]
    .concat()
}

/// A [`WgslKernel`] as cubecl launches it.
struct Wgsl<K>(PhantomData<K>);

impl<K: WgslKernel> KernelMetadata for Wgsl<K> {
    fn id(&self) -> KernelId {
        KernelId::new::<K>()
    }

    fn address_type(&self) -> ElemType {
        UIntKind::U32.into()
    }
}

impl<K: WgslKernel> CubeKernel for Wgsl<K> {
    fn define(&self) -> KernelDefinition {
        // Only keys cubecl's pipeline cache: the WGSL is what runs.
        let settings = KernelSettings::new(
            CubeDim::new_1d(K::WORKGROUP).0,
            ExecutionMode::Checked,
            AddressType::U32,
        );
        KernelDefinition {
            body: Scope::root(settings.clone()),
            settings,
            info: Info::default(),
        }
    }

    fn source(&self) -> Option<PrecompiledSource> {
        Some(PrecompiledSource {
            source: K::source(),
            entrypoint_name: K::ENTRY.to_string(),
            lang: "wgsl",
        })
    }
}

/// A convolution's operands as our kernels take them ([`conv_operands`]), with their shape.
pub(crate) struct ConvOperands {
    pub x: CubeTensor,
    pub weight: CubeTensor,
    pub bias: CubeTensor,
    /// `[B, C_in, H, W]`.
    pub x_shape: [usize; 4],
    /// `[C_out, C_in, k_h, k_w]`.
    pub weight_shape: [usize; 4],
}

/// `x [B, C_in, H, W]` (any strides), `weight [C_out, C_in, k_h, k_w]` contiguous (its rows are a
/// GEMM's) and `bias [C_out]` contiguous, all `f32` (not quantized) on one burn wgpu device, and
/// no two sharing memory ([`inputs_overlap`]); `None` otherwise. The convolution kernels
/// ([`super::gemm::conv2d`], [`super::winograd::conv2d`]) take these, and nothing else.
pub(crate) fn conv_operands(x: &Tensor<4>, weight: &Tensor<4>, bias: &Tensor<1>) -> Option<ConvOperands> {
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
    let x_shape: [usize; 4] = x.meta.shape().as_slice().try_into().ok()?;
    let weight_shape: [usize; 4] = weight.meta.shape().as_slice().try_into().ok()?;
    if x_shape[1] != weight_shape[1] || bias.meta.shape().as_slice() != [weight_shape[0]] {
        return None;
    }
    if inputs_overlap(&[&x, &weight, &bias]) {
        return None;
    }
    Some(ConvOperands {
        x,
        weight,
        bias,
        x_shape,
        weight_shape,
    })
}

/// Launches so far per kernel (type name, as in [`KernelSource::name`]), in this process: what ran
/// on burn's device and what fell back to burn's ops, for tests and diagnostics.
static LAUNCHES: Mutex<BTreeMap<&'static str, u64>> = Mutex::new(BTreeMap::new());

/// A copy of the launch counts ([`LAUNCHES`]).
pub fn launch_counts() -> BTreeMap<&'static str, u64> {
    LAUNCHES.lock().map(|m| m.clone()).unwrap_or_default()
}

/// Dispatches `K` over `groups` workgroups with `buffers` bound at 0, 1, … in order and the
/// parameter words `params` bound after them (a buffer of their own).
pub(crate) fn launch<K: WgslKernel>(client: &Client, groups: [usize; 3], buffers: &[&Handle], params: &[u32]) {
    let params = client.create_from_slice(bytemuck::cast_slice(params));
    let args = buffers
        .iter()
        .fold(KernelArguments::new(), |args, h| {
            args.with_buffer((*h).clone().binding())
        })
        .with_buffer(params.binding());
    let [x, y, z] = groups.map(|g| g as u32);
    client.launch(Box::new(Wgsl::<K>(PhantomData)), CubeCount::Static(x, y, z), args);
    if let Ok(mut counts) = LAUNCHES.lock() {
        *counts.entry(kernel_source_name::<K>()).or_default() += 1;
    }
}

/// `blocks` workgroups as a grid `[x, y, 1]` of at most `max` along each dimension: one row when
/// it fits, else rows of equal length (the kernels number the workgroup `y·x + x`; the last row's
/// spare workgroups do nothing).
pub(crate) fn grid_2d(blocks: usize, max: usize) -> [usize; 3] {
    let rows = blocks.div_ceil(max).max(1);
    [blocks.div_ceil(rows), rows, 1]
}

/// The product of `dims`, in `u64` (no `usize` overflow on wasm32's 32 bits).
pub(crate) fn product(dims: &[usize]) -> u64 {
    dims.iter().map(|&d| d as u64).product()
}

/// Whether `v` fits a WGSL `u32`.
pub(crate) fn fits_u32(v: u64) -> bool {
    v <= u64::from(u32::MAX)
}

/// Whether the grid fits WebGPU's limits (none empty, none over [`MAX_GROUPS`]).
pub(crate) fn grid_fits(groups: [usize; 3]) -> bool {
    groups.iter().all(|&g| g > 0 && g <= MAX_GROUPS)
}

/// Whether two of these tensors' bindings would share a byte. Our kernels bind everything
/// read_write (burn shares buffers between tensors, and one buffer bound both read-only and
/// read-write in a dispatch is a conflict WebGPU refuses), and WebGPU also refuses two writable
/// bindings that overlap (Chrome does; wgpu's native validation does not check it): a call whose
/// inputs overlap (a product of a tensor with itself, or with a view of it) goes to burn.
pub(crate) fn inputs_overlap(inputs: &[&CubeTensor]) -> bool {
    let keys: Vec<_> = inputs.iter().map(|t| t.handle.clone().binding().claim_key()).collect();
    any_overlap(&keys)
}

/// Whether two of these byte ranges of allocations (`BufferBinding::claim_key`: the allocation's
/// id, start, end) share a byte.
fn any_overlap<Id: PartialEq>(keys: &[(Id, u64, u64)]) -> bool {
    keys.iter().enumerate().any(|(i, (id, start, end))| {
        keys[i + 1..]
            .iter()
            .any(|(id2, start2, end2)| id == id2 && start < end2 && start2 < end)
    })
}

/// The largest element offset a tensor's shape and strides reach, plus one (in `u64`).
pub(crate) fn span(t: &CubeTensor) -> u64 {
    t.meta
        .shape()
        .iter()
        .zip(t.meta.strides().iter())
        .map(|(&n, &s)| n.saturating_sub(1) as u64 * s as u64)
        .sum::<u64>()
        + 1
}

#[cfg(test)]
mod tests {
    use super::{any_overlap, grid_2d, kernel_sources};

    #[test]
    fn grids_stay_within_the_limit_and_cover_every_block() {
        for (blocks, max) in [
            (1, 7),
            (7, 7),
            (8, 7),
            (50, 7),
            (49, 7),
            (65_536, 65_535),
            (131_071, 65_535),
        ] {
            let [x, y, z] = grid_2d(blocks, max);
            assert!(x <= max && z == 1, "{blocks}, {max}: {x} × {y}");
            assert!(x * y >= blocks && x * (y - 1) < blocks, "{blocks}, {max}: {x} × {y}");
            // More than max² blocks need more than max rows: the callers' grid_fits refuses them.
            assert_eq!(y <= max, blocks <= max * max, "{blocks}, {max}: {x} × {y}");
        }
    }

    /// Every variant compiles and makes a pipeline (wgpu's naga here; Chrome's Tint in the page's
    /// end-to-end test), its layout derived from the entry point as cubecl derives it.
    #[test]
    fn every_kernel_compiles_into_a_pipeline() {
        let ctx = pollster::block_on(crate::gpu::GpuContext::new()).expect("a GPU adapter (lavapipe)");
        let sources = kernel_sources();
        assert!(sources.len() >= 6, "{sources:?}");
        for k in sources {
            let scope = ctx.device.push_error_scope(wgpu::ErrorFilter::Validation);
            let module = ctx.device.create_shader_module(wgpu::ShaderModuleDescriptor {
                label: Some(k.name),
                source: wgpu::ShaderSource::Wgsl(k.source.as_str().into()),
            });
            let _ = ctx.device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                label: Some(k.name),
                layout: None,
                module: &module,
                entry_point: Some(k.entry),
                compilation_options: Default::default(),
                cache: None,
            });
            let error = pollster::block_on(scope.pop());
            assert!(error.is_none(), "{} ({}): {error:?}", k.name, k.entry);
        }
    }

    #[test]
    fn overlapping_bindings_are_found_and_disjoint_ones_pass() {
        // One allocation: the same range, nested views, a shared byte; then neighbours.
        assert!(any_overlap(&[(1, 0, 64), (1, 0, 64)]));
        assert!(any_overlap(&[(1, 0, 64), (2, 0, 8), (1, 16, 32)]));
        assert!(any_overlap(&[(1, 0, 64), (1, 63, 128)]));
        assert!(!any_overlap(&[(1, 0, 64), (1, 64, 128)]));
        // Other allocations never overlap, whatever their ranges.
        assert!(!any_overlap(&[(1, 0, 64), (2, 0, 64), (3, 0, 64)]));
        assert!(!any_overlap::<u32>(&[]));
    }
}
