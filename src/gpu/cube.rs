//! Our WGSL kernels on burn's own wgpu device (feature `model`): the diffusion model's tensors
//! live in burn's buffers, so the kernels that work on them ([`super::gemm`],
//! [`super::group_norm`]) are launched through cubecl's client, on burn's queue and buffers: no
//! copy in or out, ordered with burn's kernels on the same stream.
//!
//! Each is a precompiled-WGSL cubecl kernel ([`Wgsl`]): cubecl compiles nothing of its own, and
//! the pipeline's bind group layout is derived from the entry point, so an entry point must use
//! every binding it is given.

use std::marker::PhantomData;

use burn::backend::wgpu::CubeTensor;
use burn::cubecl::client::Client;
use burn::cubecl::ir::{metadata::Info, UIntKind};
use burn::cubecl::prelude::*;
use burn::cubecl::server::{Handle, KernelArguments};
use burn::cubecl::{CubeKernel, PrecompiledSource};

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
    let name = std::any::type_name::<K>();
    KernelSource {
        name: name.rsplit("::").next().unwrap_or(name),
        entry: K::ENTRY,
        source: K::source(),
    }
}

/// Every kernel launched through here, each variant once.
pub fn kernel_sources() -> Vec<KernelSource> {
    [
        super::gemm::kernels(),
        super::group_norm::kernels(),
        super::softmax::kernels(),
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

/// The largest element offset a tensor's shape and strides reach, plus one.
pub(crate) fn span(t: &CubeTensor) -> usize {
    t.meta
        .shape()
        .iter()
        .zip(t.meta.strides().iter())
        .map(|(&n, &s)| n.saturating_sub(1) * s)
        .sum::<usize>()
        + 1
}

#[cfg(test)]
mod tests {
    use super::{any_overlap, kernel_sources};

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
