//! Attention's softmax on burn's wgpu device, in our WGSL (`softmax.wgsl`): `softmax(scale · x)`
//! along the last dimension of a contiguous `x`, one workgroup per row, in one kernel.
//!
//! CPU reference: burn's `softmax(x · scale, D − 1)` (`tests/gpu_model_kernels/softmax.rs`, against f64 too).
//!
//! Why: composed of burn's ops it is six passes over the scores (the scaling, a max reduction,
//! the subtraction, the exponential, a sum reduction, the division), and burn's reductions give
//! each row one thread: 16 384 keys per query in the VAE's attention at 1024² (the max
//! reductions alone took 55 ms of a 1.2 s profile of two passes on an H200, BENCHMARKS.md). This reads the
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
    softmax_within(x, scale, cube::MAX_GROUPS)
}

/// [`scaled_softmax`] on a grid of at most `max_groups` workgroups along a dimension (the unit
/// tests take it small, to run the 2-D grid of many rows on few).
fn softmax_within<const D: usize>(x: &Tensor<D>, scale: f32, max_groups: usize) -> Option<Tensor<D>> {
    let x: CubeTensor = x.clone().try_into_primitive::<Wgpu>().ok()?;
    if x.dtype != DType::F32 || x.qparams.is_some() || !x.is_contiguous() || D == 0 {
        return None;
    }
    let shape = x.meta.shape().clone();
    let n = shape[D - 1];
    let total = cube::product(&shape);
    if n == 0 || total == 0 || !cube::fits_u32(total) {
        return None;
    }
    let total = total as usize;
    let rows = total / n;
    let grid = cube::grid_2d(rows, max_groups);
    let groups_x = grid[0];
    // (Rows past the last are numbered too: y·x + x < x·y.)
    if !cube::grid_fits(grid) || !cube::fits_u32(cube::product(&[grid[0], grid[1], n])) {
        return None;
    }
    let client = x.client.clone();
    let y = client.empty(total * std::mem::size_of::<f32>());
    let words = [rows as u32, n as u32, scale.to_bits(), groups_x as u32];
    cube::launch::<ScaledSoftmax>(&client, grid, &[&x.handle, &y], &words);
    let y = CubeTensor::new_contiguous(client, x.device.clone(), shape, y, DType::F32);
    Some(Tensor::from_primitive::<Wgpu>(y))
}

#[cfg(test)]
mod tests {
    use burn::tensor::{Tensor, TensorData};

    use super::{scaled_softmax, softmax_within};

    /// The 2-D grid that over 65 535 rows get, on 40 rows in rows of 7 workgroups (two spare):
    /// the same values as one row of workgroups.
    #[test]
    fn a_two_dimensional_grid_gives_the_values_of_one_row() {
        let gpu = crate::model::native_device(true).expect("a wgpu adapter (lavapipe)");
        let x = Tensor::<4>::from_data(
            TensorData::new(crate::synth::uniform(40 * 300, 9), [1, 2, 20, 300]),
            &gpu,
        ) * 6.0;
        let values = |t: Tensor<4>| t.into_data().convert::<f32>().try_to_vec::<f32>().unwrap();
        let one_row = values(scaled_softmax(&x, 0.5).expect("softmax"));
        let rows = values(softmax_within(&x, 0.5, 7).expect("softmax on rows"));
        assert_eq!(one_row, rows);
        assert!(one_row.iter().all(|v| v.is_finite() && *v > 0.0));
    }
}
