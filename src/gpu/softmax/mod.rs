//! Attention's softmax on burn's wgpu device, in our WGSL (`softmax.wgsl`): `softmax(scale · x)`
//! along the last dimension of a contiguous `x`, one workgroup per row, in one kernel.
//!
//! CPU reference: burn's `softmax(x · scale, D − 1)` (`tests/gpu_softmax.rs`, against f64 too).
//!
//! Why: composed of burn's ops it is six passes over the scores (the scaling, a max reduction,
//! the subtraction, the exponential, a sum reduction, the division), and burn's reductions give
//! each row one thread: 16 384 keys per query in the VAE's attention at 1024² (the max
//! reductions alone took 55 ms of a 1.2 s profile on an H200, BENCHMARKS.md). This reads the
//! scores three times and writes them once.

use burn::backend::wgpu::{CubeTensor, Wgpu};
use burn::tensor::{DType, Tensor};

use super::cube::{self, WgslKernel};
use super::{prelude, Shared};

/// Threads per workgroup: one workgroup per row.
pub(crate) const WORKGROUP: u32 = 256;

// The tree halves WORKGROUP down to 1.
const _: () = assert!(WORKGROUP.is_power_of_two());

pub(crate) const WGSL: &str = include_str!("softmax.wgsl");

pub(crate) const SHARED: &[(&str, Shared)] = &[("WORKGROUP", Shared::U32(WORKGROUP))];

/// The kernel, for [`cube::kernel_sources`].
pub(crate) fn kernels() -> Vec<cube::KernelSource> {
    vec![cube::kernel_source::<ScaledSoftmax>()]
}

/// softmax.wgsl.
struct ScaledSoftmax;

impl WgslKernel for ScaledSoftmax {
    const ENTRY: &'static str = "main";
    const WORKGROUP: u32 = WORKGROUP;
    fn source() -> String {
        format!("{}{WGSL}", prelude(SHARED))
    }
}

/// `softmax(scale · x)` along the last dimension, for a contiguous `f32` `x` on burn's wgpu
/// device; `None` otherwise (or where the rows would not fit a grid), and the caller uses burn's.
pub fn scaled_softmax<const D: usize>(x: &Tensor<D>, scale: f32) -> Option<Tensor<D>> {
    let x: CubeTensor = x.clone().try_into_primitive::<Wgpu>().ok()?;
    if x.dtype != DType::F32 || x.qparams.is_some() || !x.is_contiguous() || D == 0 {
        return None;
    }
    let shape = x.meta.shape().clone();
    let total: usize = shape.iter().product();
    let n = shape[D - 1];
    if n == 0 || total == 0 || total > u32::MAX as usize {
        return None;
    }
    let rows = total / n;
    let grid_rows = rows.div_ceil(cube::MAX_GROUPS);
    let groups_x = rows.div_ceil(grid_rows);
    let grid = [groups_x, grid_rows, 1];
    if !cube::grid_fits(grid) {
        return None;
    }
    let client = x.client.clone();
    let y = client.empty(total * std::mem::size_of::<f32>());
    let words = [rows as u32, n as u32, scale.to_bits(), groups_x as u32];
    cube::launch::<ScaledSoftmax>(&client, grid, &[&x.handle, &y], &words);
    let y = CubeTensor::new_contiguous(client, x.device.clone(), shape, y, DType::F32);
    Some(Tensor::from_primitive::<Wgpu>(y))
}
