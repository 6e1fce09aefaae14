//! GroupNorm's statistics and normalization on burn's wgpu device, in our WGSL
//! (`group_norm.wgsl`), for the diffusion model's GroupNorms (`model::layers::GroupNorm`):
//!
//! * [`sums`]: per-(item, group) `Σ x` or `Σ (x − mean)²` of `x [B, C, H, W]`, `[B, G, 1]`: one
//!   read of `x` (chunks summed by many workgroups, then their partials in order);
//! * [`apply`]: `((x − mean) / std) · γ + β`, SiLU after it if asked, in one pass.
//!
//! Reference: the same sums and map taken in f64 on the host (`tests/gpu_model_kernels/group_norm.rs`); on
//! the CPU `GroupNorm` composes burn's ops (or `model::host::group_norm_silu`).
//!
//! Why: composed of burn's ops, a GroupNorm + SiLU on a GPU is about ten passes over the tensor
//! (three staged reductions per sum, the centred copy and its square, four elementwise steps, the
//! SiLU); with attention's softmax ([`super::softmax`]) most of the quarter of the model's GPU
//! time on an H200 at 1024² that the GEMM left (BENCHMARKS.md). These three kernels read it three
//! times and write it once.

use burn::backend::wgpu::{CubeTensor, Wgpu};
use burn::tensor::{DType, Shape, Tensor};

use super::cube::{self, WgslKernel};
use super::{prelude, Shared};

/// Threads per workgroup (all three kernels).
pub(crate) const WORKGROUP: u32 = 256;
/// Values each thread of `group_sums` adds.
pub(crate) const ITEMS: u32 = 16;
/// Values of a run each `group_sums` workgroup sums into one partial.
pub(crate) const CHUNK: u32 = WORKGROUP * ITEMS;
/// Values each thread of `group_apply` maps.
pub(crate) const APPLY_ITEMS: u32 = 4;

// group_sums' tree halves WORKGROUP down to 1.
const _: () = assert!(WORKGROUP.is_power_of_two() && WORKGROUP <= 256);

pub(crate) const WGSL: &str = include_str!("group_norm.wgsl");

pub(crate) const SHARED: &[(&str, Shared)] = &[
    ("WORKGROUP", Shared::U32(WORKGROUP)),
    ("ITEMS", Shared::U32(ITEMS)),
    ("CHUNK", Shared::U32(CHUNK)),
    ("APPLY_ITEMS", Shared::U32(APPLY_ITEMS)),
];

/// group_norm.wgsl with its shared constants and `DENSE`: whether x is contiguous, a constant
/// of the pipeline so that the contiguous case compiles without the strided indexing (software
/// rasterisers such as lavapipe and SwiftShader run both sides of a branch they cannot prove
/// uniform: half the speed).
fn source(dense: bool) -> String {
    let mut consts = SHARED.to_vec();
    consts.push(("DENSE", Shared::U32(dense.into())));
    format!("{}{WGSL}", prelude(&consts))
}

/// Every kernel and variant, for [`cube::kernel_sources`].
pub(crate) fn kernels() -> Vec<cube::KernelSource> {
    vec![
        cube::kernel_source::<GroupSums<true>>(),
        cube::kernel_source::<GroupSums<false>>(),
        cube::kernel_source::<GroupSumsFinish>(),
        cube::kernel_source::<GroupNormApply<true>>(),
        cube::kernel_source::<GroupNormApply<false>>(),
    ]
}

/// `group_sums` of group_norm.wgsl.
struct GroupSums<const DENSE: bool>;
/// `group_finish` of group_norm.wgsl.
struct GroupSumsFinish;
/// `group_apply` of group_norm.wgsl.
struct GroupNormApply<const DENSE: bool>;

impl<const DENSE: bool> WgslKernel for GroupSums<DENSE> {
    const ENTRY: &'static str = "group_sums";
    const WORKGROUP: u32 = WORKGROUP;
    fn source() -> String {
        source(DENSE)
    }
}

impl WgslKernel for GroupSumsFinish {
    const ENTRY: &'static str = "group_finish";
    const WORKGROUP: u32 = WORKGROUP;
    fn source() -> String {
        source(true)
    }
}

impl<const DENSE: bool> WgslKernel for GroupNormApply<DENSE> {
    const ENTRY: &'static str = "group_apply";
    const WORKGROUP: u32 = WORKGROUP;
    fn source() -> String {
        source(DENSE)
    }
}

/// An `f32` tensor on burn's wgpu device, in any layout; else `None`.
fn on_wgpu<const D: usize>(t: &Tensor<D>) -> Option<CubeTensor> {
    let t: CubeTensor = t.clone().try_into_primitive::<Wgpu>().ok()?;
    (t.dtype == DType::F32 && t.qparams.is_none()).then_some(t)
}

/// [`on_wgpu`], contiguous (the small per-group and per-channel tensors).
fn contiguous<const D: usize>(t: &Tensor<D>) -> Option<CubeTensor> {
    on_wgpu(t).filter(|t| t.is_contiguous())
}

/// `x`'s shape `[B, C, H, W]`, its run length `L = (C/G)·H·W` and the words of group_norm.wgsl's
/// `Map` (its geometry and strides), where the kernels take it: `G` divides `C`, and every index
/// stays within `u32`.
fn runs(x: &CubeTensor, groups: usize) -> Option<([usize; 4], usize, [u32; 8])> {
    let &[b, c, h, w] = x.meta.shape().as_slice() else {
        return None;
    };
    let total = cube::product(&[b, c, h, w]);
    if groups == 0 || c % groups != 0 || total == 0 || !cube::fits_u32(total.max(cube::span(x))) {
        return None;
    }
    let s = x.meta.strides();
    let map = [groups, c / groups, h, w, s[0], s[1], s[2], s[3]].map(|v| v as u32);
    Some(([b, c, h, w], (c / groups) * h * w, map))
}

/// Per-(item, group) sums of `x [B, C, H, W]` (an `f32` tensor on burn's wgpu device, read
/// through its strides):
/// `Σ x`, or with `about` (`[B, G, 1]`) `Σ (x − about)²`; `[B, G, 1]`. `None` where the call is
/// not one the kernels take (another device or dtype, a grid past WebGPU's limits, inputs that
/// share memory): the caller composes burn's ops.
pub fn sums(x: &Tensor<4>, groups: usize, about: Option<&Tensor<3>>) -> Option<Tensor<3>> {
    let x = on_wgpu(x)?;
    let ([b, _, _, _], len, map) = runs(&x, groups)?;
    let bg = b * groups;
    let about = match about {
        Some(m) => Some(contiguous(m)?),
        None => None,
    };
    if about
        .as_ref()
        .is_some_and(|m| m.meta.shape().as_slice() != [b, groups, 1] || m.device != x.device)
    {
        return None;
    }
    let chunks = len.div_ceil(CHUNK as usize);
    let grid = [chunks, bg, 1];
    let finish_grid = [bg.div_ceil(WORKGROUP as usize), 1, 1];
    // (The kernel forms chunk·CHUNK + …, up to chunks·CHUNK, and bg·chunks + chunk.)
    if !cube::grid_fits(grid)
        || !cube::grid_fits(finish_grid)
        || !cube::fits_u32(cube::product(&[bg, chunks]).max(cube::product(&[chunks, CHUNK as usize])))
    {
        return None;
    }
    let inputs: Vec<_> = [Some(&x), about.as_ref()].into_iter().flatten().collect();
    if cube::inputs_overlap(&inputs) {
        return None;
    }
    let client = x.client.clone();
    let f32s = |n: usize| n * std::mem::size_of::<f32>();
    // The plain sums read no mean: a buffer of one value stands in (x's would overlap binding 0).
    let mean = match &about {
        Some(m) => m.handle.clone(),
        None => client.empty(f32s(1)),
    };
    let partial = client.empty(f32s(bg * chunks));
    let words: Vec<u32> = map
        .into_iter()
        .chain([len, chunks, usize::from(about.is_some())].map(|v| v as u32))
        .collect();
    let buffers = [&x.handle, &mean, &partial];
    match x.is_contiguous() {
        true => cube::launch::<GroupSums<true>>(&client, grid, &buffers, &words),
        false => cube::launch::<GroupSums<false>>(&client, grid, &buffers, &words),
    }
    let out = client.empty(f32s(bg));
    cube::launch::<GroupSumsFinish>(&client, finish_grid, &[&partial, &out], &[bg as u32, chunks as u32]);
    let out = CubeTensor::new_contiguous(client, x.device.clone(), Shape::from([b, groups, 1]), out, DType::F32);
    Some(Tensor::from_primitive::<Wgpu>(out))
}

/// `((x − mean) / std) · γ + β` per channel, then `y · sigmoid(y)` if `silu`: `x [B, C, H, W]`
/// (read through its strides), `mean` and `std` `[B, G, 1]`, `gamma` and `beta` `[C]`
/// (contiguous), all `f32` on burn's wgpu device; `y` contiguous. `None` where the call is not
/// one the kernel takes (as [`sums`]).
pub fn apply(
    x: &Tensor<4>,
    groups: usize,
    mean: &Tensor<3>,
    std: &Tensor<3>,
    gamma: &Tensor<1>,
    beta: &Tensor<1>,
    silu: bool,
) -> Option<Tensor<4>> {
    apply_within(x, groups, [mean, std], [gamma, beta], silu, cube::MAX_GROUPS)
}

/// [`apply`] on a grid of at most `max_groups` workgroups along a dimension (the unit tests take
/// it small, to run the 2-D grid of large maps on small ones).
fn apply_within(
    x: &Tensor<4>,
    groups: usize,
    [mean, std]: [&Tensor<3>; 2],
    [gamma, beta]: [&Tensor<1>; 2],
    silu: bool,
    max_groups: usize,
) -> Option<Tensor<4>> {
    let x = on_wgpu(x)?;
    let ([b, c, h, w], len, map) = runs(&x, groups)?;
    let (mean, std, gamma, beta) = (
        contiguous(mean)?,
        contiguous(std)?,
        contiguous(gamma)?,
        contiguous(beta)?,
    );
    if [&mean, &std]
        .iter()
        .any(|t| t.meta.shape().as_slice() != [b, groups, 1])
        || [&gamma, &beta].iter().any(|t| t.meta.shape().as_slice() != [c])
        || [&mean, &std, &gamma, &beta].iter().any(|t| t.device != x.device)
    {
        return None;
    }
    if cube::inputs_overlap(&[&x, &mean, &std, &gamma, &beta]) {
        return None;
    }
    let total = b * c * h * w;
    let per_group = (WORKGROUP * APPLY_ITEMS) as usize;
    let grid = cube::grid_2d(total.div_ceil(per_group), max_groups);
    let groups_x = grid[0];
    if !cube::grid_fits(grid) || !cube::fits_u32(cube::product(&[grid[0], grid[1], per_group])) {
        return None;
    }
    let client = x.client.clone();
    let y = client.empty(total * std::mem::size_of::<f32>());
    let words: Vec<u32> = map
        .into_iter()
        .chain([total, len, h * w, c, usize::from(silu), groups_x].map(|v| v as u32))
        .collect();
    let buffers = [&x.handle, &mean.handle, &std.handle, &gamma.handle, &beta.handle, &y];
    match x.is_contiguous() {
        true => cube::launch::<GroupNormApply<true>>(&client, grid, &buffers, &words),
        false => cube::launch::<GroupNormApply<false>>(&client, grid, &buffers, &words),
    }
    let y = CubeTensor::new_contiguous(client, x.device.clone(), Shape::from([b, c, h, w]), y, DType::F32);
    Some(Tensor::from_primitive::<Wgpu>(y))
}

#[cfg(test)]
mod tests {
    use burn::tensor::{Tensor, TensorData};

    use super::{apply, apply_within};

    /// The 2-D grid that maps of over 67 M values get (65 535 workgroups of 1024 values per
    /// row), on a small map with rows of 7 workgroups: the same values as the 1-D grid.
    #[test]
    fn a_two_dimensional_grid_gives_the_values_of_one_row() {
        let gpu = crate::model::native_device(true).expect("a wgpu adapter (lavapipe)");
        let (c, h, w, g) = (8, 33, 31, 4);
        let t = |shape: Vec<usize>, seed| {
            let n = shape.iter().product();
            TensorData::new(crate::synth::uniform(n, seed), shape)
        };
        let x = Tensor::<4>::from_data(t(vec![2, c, h, w], 1), &gpu);
        let mean = Tensor::<3>::from_data(t(vec![2, g, 1], 2), &gpu);
        let std = Tensor::<3>::from_data(t(vec![2, g, 1], 3), &gpu).abs() + 0.5;
        let gamma = Tensor::<1>::from_data(t(vec![c], 4), &gpu);
        let beta = Tensor::<1>::from_data(t(vec![c], 5), &gpu);
        let one_row = apply(&x, g, &mean, &std, &gamma, &beta, true).expect("apply");
        // 16 368 values: 16 workgroups, as 3 rows of 6 (two spare).
        let rows = apply_within(&x, g, [&mean, &std], [&gamma, &beta], true, 7).expect("apply on rows");
        let values = |t: Tensor<4>| t.into_data().convert::<f32>().try_to_vec::<f32>().unwrap();
        let (a, b) = (values(one_row), values(rows));
        assert_eq!(a, b);
        assert!(a.iter().any(|&v| v.abs() > 0.1));
    }
}
