//! The CPU's own kernels for the two ops that dominate the VAE on burn's CPU backend: the
//! convolution (`k × k`, any stride and zero padding, one group) and GroupNorm followed by SiLU.
//!
//! burn-flex runs a convolution as an NHWC copy of the whole input on one thread, then per tile
//! an im2col gathered channel by channel and a GEMM whose result is scattered back to NCHW; and
//! GroupNorm + SiLU as five elementwise passes, each over the whole activation on one thread.
//! With two cores, a third of the VAE's time went to those single-threaded passes. Here:
//!
//! * conv: each task takes a few output rows, builds their im2col block `[c_in·k·k, rows·W']`
//!   from shifted row copies of the NCHW input (no layout change), and one GEMM (the `gemm`
//!   crate, as burn-flex uses) writes `W · cols + bias` straight into the NCHW output rows. The
//!   3×3 stride-1 ones with enough channels go instead by Winograd's F(2×2, 3×3), 2.25× fewer
//!   multiply-adds ([`winograd_takes`]; the same algorithm as `gpu::winograd` on a GPU).
//! * GroupNorm + SiLU: one pass per channel plane, `silu((x − μ_g) / σ_g · γ_c + β_c)`, the same
//!   operations in the same order as the burn ops it replaces.
//!
//! Tasks run on rayon's pool (feature `parallel`), each writing only its own output rows, so the
//! result does not depend on the number of threads. The convolution differs from burn's only by
//! f32 rounding (the order of its sums; by Winograd, its transforms'); the tests compare both.

use burn::tensor::{Tensor, TensorData};

pub use super::layers::{winograd_takes, WINOGRAD_MIN_CHANNELS};

/// Output pixels per convolution task (about; whole rows): the im2col block of the widest layer
/// (`512 · 9` rows) is then ~9 MiB, and a 64 × 64 map still makes 8 tasks for the pool.
const TASK_PIXELS: usize = 512;

/// A CPU tensor's values, row-major (moved out without a copy when burn holds them alone).
fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .expect("a float tensor holds f32 after convert")
}

/// `conv2d(x, weight) + bias` for `x [B, C_in, H, W]`, `weight [C_out, C_in, k_h, k_w]` and
/// per-side zero `padding [(top, bottom), (left, right)]`: `[B, C_out, H', W']` with
/// `H' = (H + top + bottom − k_h) / stride + 1` (likewise W'). Panics where burn's conv2d would
/// (channels that do not match, a kernel larger than the padded input). By Winograd's
/// F(2×2, 3×3) where [`winograd_takes`] says so, else directly ([`conv2d_direct`]).
pub fn conv2d(
    x: Tensor<4>,
    weight: Tensor<4>,
    bias: &Tensor<1>,
    stride: usize,
    padding: [(usize, usize); 2],
) -> Tensor<4> {
    conv2d_by(x, weight, bias, stride, padding, true)
}

/// [`conv2d`] always by the direct method (an im2col block and a GEMM per task): the reference
/// the Winograd paths, here and on a GPU (`gpu::winograd`), are tested against.
pub fn conv2d_direct(
    x: Tensor<4>,
    weight: Tensor<4>,
    bias: &Tensor<1>,
    stride: usize,
    padding: [(usize, usize); 2],
) -> Tensor<4> {
    conv2d_by(x, weight, bias, stride, padding, false)
}

fn conv2d_by(
    x: Tensor<4>,
    weight: Tensor<4>,
    bias: &Tensor<1>,
    stride: usize,
    padding: [(usize, usize); 2],
    allow_winograd: bool,
) -> Tensor<4> {
    let device = x.device();
    let [b, c_in, h, w] = x.dims();
    let [c_out, c_in_w, k_h, k_w] = weight.dims();
    assert_eq!(c_in, c_in_w, "conv2d: {c_in} input channels, weight for {c_in_w}");
    // The tasks write one output plane per bias value: exactly C_out of them.
    assert_eq!(
        bias.dims(),
        [c_out],
        "conv2d: {c_out} output channels, bias for {:?}",
        bias.dims()
    );
    let [(top, bottom), (left, right)] = padding;
    assert!(
        h + top + bottom >= k_h && w + left + right >= k_w && stride > 0,
        "conv2d: kernel {k_h}×{k_w} larger than the padded input {h}×{w}"
    );
    let out_h = (h + top + bottom - k_h) / stride + 1;
    let out_w = (w + left + right - k_w) / stride + 1;
    let x = values(x);
    let weight = values(weight);
    let bias = values(bias.clone());

    let geometry = Geometry {
        c_in,
        h,
        w,
        k_h,
        k_w,
        stride,
        top,
        left,
        out_h,
        out_w,
    };
    if allow_winograd && winograd_takes(c_in, c_out, [k_h, k_w], stride, [b, out_h, out_w]) {
        let out = winograd(&geometry, &x, &weight, &bias, b, c_out);
        return Tensor::from_data(TensorData::new(out, [b, c_out, out_h, out_w]), &device);
    }
    let rows_per_task = TASK_PIXELS.div_ceil(out_w.max(1)).clamp(1, out_h.max(1));
    let tasks_per_item = out_h.div_ceil(rows_per_task);
    // Every value is written by exactly one task (its bias, then the GEMM adds to it).
    let task = |t: usize, out_ptr: SendPtr| {
        let (item, first) = (t / tasks_per_item, (t % tasks_per_item) * rows_per_task);
        let rows = rows_per_task.min(out_h - first);
        let input = &x[item * c_in * h * w..(item + 1) * c_in * h * w];
        // SAFETY: task `t` writes only output rows `first..first + rows` of item `item`, in
        // every channel; no other task writes them, and the buffer outlives the tasks.
        let dst = unsafe { out_ptr.get().add((item * c_out * out_h + first) * out_w) };
        unsafe { conv_rows(&geometry, input, &weight, &bias, c_out, first, rows, dst) };
    };
    // SAFETY: the tasks write each output row of each channel and item once, nothing else.
    let out = unsafe { filled_by_tasks(b * c_out * out_h * out_w, b * tasks_per_item, task) };
    Tensor::from_data(TensorData::new(out, [b, c_out, out_h, out_w]), &device)
}

/// A buffer of `len` values filled by `task(t, out)` for every `t < n` (on rayon's pool with
/// feature `parallel`, else in order), `out` pointing at its start. It is not zeroed first: that
/// pass would run on one thread.
///
/// # Safety
/// The tasks must write every one of the `len` values, each value by one task only, and nothing
/// outside them.
unsafe fn filled_by_tasks(len: usize, n: usize, task: impl Fn(usize, SendPtr) + Send + Sync) -> Vec<f32> {
    let mut out: Vec<f32> = Vec::with_capacity(len);
    let out_ptr = SendPtr(out.as_mut_ptr());
    let run = |t: usize| task(t, out_ptr);
    #[cfg(feature = "parallel")]
    {
        use rayon::prelude::*;
        (0..n).into_par_iter().for_each(run);
    }
    #[cfg(not(feature = "parallel"))]
    (0..n).for_each(run);
    // SAFETY: the tasks wrote all `len` values (the caller's contract).
    unsafe { out.set_len(len) };
    out
}

/// The shape of one convolution, for [`conv_rows`].
struct Geometry {
    c_in: usize,
    h: usize,
    w: usize,
    k_h: usize,
    k_w: usize,
    stride: usize,
    top: usize,
    left: usize,
    out_h: usize,
    out_w: usize,
}

/// A raw pointer the pool's tasks share; each writes a disjoint part of what it points to.
#[derive(Clone, Copy)]
struct SendPtr(*mut f32);
// SAFETY: see the tasks that use it: disjoint writes only, to a buffer that outlives them.
unsafe impl Send for SendPtr {}
unsafe impl Sync for SendPtr {}

impl SendPtr {
    /// The pointer (a method, so that closures capture the whole `SendPtr`, not its field).
    fn get(self) -> *mut f32 {
        self.0
    }
}

/// Output rows `first..first + rows` of one batch item: `dst` points at row `first` of output
/// channel 0, channel planes `out_h · out_w` apart.
///
/// # Safety
/// `dst` must be valid for writes of those rows in all `c_out` channels.
#[allow(clippy::too_many_arguments)]
unsafe fn conv_rows(
    g: &Geometry,
    input: &[f32],
    weight: &[f32],
    bias: &[f32],
    c_out: usize,
    first: usize,
    rows: usize,
    dst: *mut f32,
) {
    let pixels = rows * g.out_w;
    let k = g.c_in * g.k_h * g.k_w;
    // im2col: row (c, i, j) of `cols` holds input[c, y·s + i − top, x·s + j − left] for the
    // output pixels (y, x) of these rows, zero where that falls in the padding. The rows are in
    // PyTorch's weight order, so `weight` is the GEMM's left operand as it is.
    let mut cols = vec![0.0f32; k * pixels];
    for (r, col) in cols.chunks_exact_mut(pixels).enumerate() {
        let (c, i, j) = (r / (g.k_h * g.k_w), (r / g.k_w) % g.k_h, r % g.k_w);
        let plane = &input[c * g.h * g.w..(c + 1) * g.h * g.w];
        // Output columns x whose input column x·s + j − left lies inside 0..w.
        let x_lo = g.left.saturating_sub(j).div_ceil(g.stride);
        let x_hi = ((g.w + g.left).saturating_sub(j)).div_ceil(g.stride).min(g.out_w);
        for y in 0..rows {
            let iy = (first + y) * g.stride + i;
            if iy < g.top || iy - g.top >= g.h || x_lo >= x_hi {
                continue;
            }
            let src = &plane[(iy - g.top) * g.w..(iy - g.top + 1) * g.w];
            let out = &mut col[y * g.out_w..(y + 1) * g.out_w];
            let ix0 = x_lo * g.stride + j - g.left;
            if g.stride == 1 {
                out[x_lo..x_hi].copy_from_slice(&src[ix0..ix0 + (x_hi - x_lo)]);
            } else {
                for (o, &v) in out[x_lo..x_hi].iter_mut().zip(src[ix0..].iter().step_by(g.stride)) {
                    *o = v;
                }
            }
        }
    }
    let plane = (g.out_h * g.out_w) as isize;
    for (c, &bias) in bias.iter().enumerate() {
        // SAFETY: row `c` of the destination block, `pixels` values (the caller's contract).
        unsafe { std::slice::from_raw_parts_mut(dst.offset(c as isize * plane), pixels) }.fill(bias);
    }
    // dst[c_out, pixels] = 1 · dst + 1 · weight[c_out, k] · cols[k, pixels].
    // SAFETY: the three operands are valid for the extents and strides given; dst does not
    // overlap them.
    unsafe {
        gemm::gemm(
            c_out,
            pixels,
            k,
            dst,
            1,
            plane,
            true,
            weight.as_ptr(),
            1,
            k as isize,
            cols.as_ptr(),
            1,
            pixels as isize,
            1.0,
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

/// 2×2 output tiles per Winograd task (about; whole rows of tiles): the same output pixels as
/// [`TASK_PIXELS`].
const TASK_TILES: usize = TASK_PIXELS / 4;

/// A 3×3 stride-1 convolution by Winograd's minimal filtering F(2×2, 3×3) (Lavin & Gray, CVPR
/// 2016): each 2×2 block ("tile") of one output channel is `Aᵀ [Σ_ci U_ci ⊙ V_ci] A` with
/// `U = G g Gᵀ` the 3×3 kernel's transform and `V = Bᵀ d B` the 4×4 input patch's, with
/// `G = [1 0 0; ½ ½ ½; ½ −½ ½; 0 0 1]`, `Bᵀ = [1 0 −1 0; 0 1 1 0; 0 −1 1 0; 0 1 0 −1]` and
/// `Aᵀ = [1 1 1 0; 0 1 −1 −1]`. The sum over input channels
/// is, for each of the 16 positions ξ, a matrix product `M_ξ [C_out, tiles] = U_ξ [C_out, C_in] ·
/// V_ξ [C_in, tiles]`: 16 multiply-adds per input channel for 4 outputs where the direct
/// convolution takes 36. The same algorithm as `gpu::winograd`'s kernels. Tasks take whole rows of
/// tiles, each writing only its own output rows: the result does not depend on the thread count.
fn winograd(g: &Geometry, x: &[f32], weight: &[f32], bias: &[f32], b: usize, c_out: usize) -> Vec<f32> {
    let (c_in, out_h, out_w) = (g.c_in, g.out_h, g.out_w);
    // U [16, C_out, C_in].
    let mut u = vec![0.0f32; 16 * c_out * c_in];
    for (pair, kernel) in weight.chunks_exact(9).enumerate() {
        for (xi, v) in winograd_weight(kernel).into_iter().enumerate() {
            u[xi * c_out * c_in + pair] = v;
        }
    }
    let (tiles_h, tiles_w) = (out_h.div_ceil(2), out_w.div_ceil(2));
    let tile_rows_per_task = TASK_TILES.div_ceil(tiles_w).clamp(1, tiles_h);
    let tasks_per_item = tiles_h.div_ceil(tile_rows_per_task);
    let task = |t: usize, out_ptr: SendPtr| {
        let (item, first) = (t / tasks_per_item, (t % tasks_per_item) * tile_rows_per_task);
        let tile_rows = tile_rows_per_task.min(tiles_h - first);
        let input = &x[item * c_in * g.h * g.w..(item + 1) * c_in * g.h * g.w];
        // SAFETY: task `t` writes only output rows 2·first … 2·(first + tile_rows) − 1 (within
        // out_h) of item `item`, in every channel; no other task writes them, and the buffer
        // outlives the tasks.
        let dst = unsafe { out_ptr.get().add((item * c_out * out_h + 2 * first) * out_w) };
        unsafe { winograd_rows(g, input, &u, bias, c_out, first, tile_rows, dst) };
    };
    // SAFETY: the tasks write each output row of each channel and item once, nothing else.
    unsafe { filled_by_tasks(b * c_out * out_h * out_w, b * tasks_per_item, task) }
}

/// Rows of tiles `first..first + tile_rows` of one batch item by F(2×2, 3×3): `dst` points at
/// output row `2·first` of channel 0, channel planes `out_h · out_w` apart.
///
/// # Safety
/// `dst` must be valid for writes of those output rows (those within `out_h`) in all `c_out`
/// channels.
#[allow(clippy::too_many_arguments)]
unsafe fn winograd_rows(
    g: &Geometry,
    input: &[f32],
    u: &[f32],
    bias: &[f32],
    c_out: usize,
    first: usize,
    tile_rows: usize,
    dst: *mut f32,
) {
    let c_in = g.c_in;
    let tiles_w = g.out_w.div_ceil(2);
    let tiles = tile_rows * tiles_w;
    // V [16, C_in, tiles]: each 4×4 input patch (zero in the padding) through Bᵀ · B, a row of
    // tiles at a time: the four input rows under it, zero-padded to 2·tiles_w + 2 columns, go
    // through Bᵀ (row combinations, whole rows at once), then each tile's four columns through B
    // (the GPU kernel's arithmetic, in its order, as vectorisable loops over the tiles).
    let width = 2 * tiles_w + 2;
    let mut rows = vec![0.0f32; 4 * width];
    // Bᵀ d: the rows' combinations.
    let mut bt_rows = vec![0.0f32; 4 * width];
    let mut v = vec![0.0f32; 16 * c_in * tiles];
    let plane_v = c_in * tiles;
    for ci in 0..c_in {
        let plane = &input[ci * g.h * g.w..(ci + 1) * g.h * g.w];
        for tr in 0..tile_rows {
            let iy0 = (2 * (first + tr)) as isize - g.top as isize;
            for (r, row) in rows.chunks_exact_mut(width).enumerate() {
                row.fill(0.0);
                let iy = iy0 + r as isize;
                if iy < 0 || iy >= g.h as isize {
                    continue;
                }
                // Input columns ix = c − left for row column c, those inside 0..w.
                let line = &plane[iy as usize * g.w..(iy as usize + 1) * g.w];
                let c0 = g.left.min(width);
                let n = g.w.min(width - c0);
                row[c0..c0 + n].copy_from_slice(&line[..n]);
            }
            let (d0, rest) = rows.split_at(width);
            let (d1, rest) = rest.split_at(width);
            let (d2, d3) = rest.split_at(width);
            let (e0, rest) = bt_rows.split_at_mut(width);
            let (e1, rest) = rest.split_at_mut(width);
            let (e2, e3) = rest.split_at_mut(width);
            for c in 0..width {
                e0[c] = d0[c] - d2[c];
                e1[c] = d1[c] + d2[c];
                e2[c] = d2[c] - d1[c];
                e3[c] = d1[c] - d3[c];
            }
            let at = ci * tiles + tr * tiles_w;
            for (i, e) in bt_rows.chunks_exact(width).enumerate() {
                let out = &mut v[4 * i * plane_v + at..];
                for tx in 0..tiles_w {
                    let a = &e[2 * tx..2 * tx + 4];
                    out[tx] = a[0] - a[2];
                    out[plane_v + tx] = a[1] + a[2];
                    out[2 * plane_v + tx] = a[2] - a[1];
                    out[3 * plane_v + tx] = a[1] - a[3];
                }
            }
        }
    }
    // M_ξ = U_ξ · V_ξ, for the 16 positions.
    let mut m = vec![0.0f32; 16 * c_out * tiles];
    for xi in 0..16 {
        // SAFETY: the three operands are valid for the extents and strides given and disjoint.
        unsafe {
            gemm::gemm(
                c_out,
                tiles,
                c_in,
                m[xi * c_out * tiles..].as_mut_ptr(),
                1,
                tiles as isize,
                false,
                u[xi * c_out * c_in..].as_ptr(),
                1,
                c_in as isize,
                v[xi * c_in * tiles..].as_ptr(),
                1,
                tiles as isize,
                0.0,
                1.0,
                false,
                false,
                false,
                gemm::Parallelism::None,
            );
        }
    }
    // Y = Aᵀ M A + bias, each tile's outputs that fall inside the map: a row of tiles of one
    // channel at a time, Aᵀ by rows of positions (the 16 planes read along the tiles), then each
    // tile's two columns (the GPU kernel's arithmetic, in its order).
    let plane = g.out_h * g.out_w;
    let plane_m = c_out * tiles;
    let out_rows = (2 * tile_rows).min(g.out_h - 2 * first);
    let mut top = vec![[0.0f32; 4]; tiles_w];
    let mut bottom = vec![[0.0f32; 4]; tiles_w];
    for (co, &bias) in bias.iter().enumerate() {
        for tr in 0..tile_rows {
            let at = co * tiles + tr * tiles_w;
            for j in 0..4 {
                let m = |i: usize| &m[(4 * i + j) * plane_m + at..(4 * i + j) * plane_m + at + tiles_w];
                let (m0, m1, m2, m3) = (m(0), m(1), m(2), m(3));
                for tx in 0..tiles_w {
                    top[tx][j] = m0[tx] + m1[tx] + m2[tx];
                    bottom[tx][j] = m1[tx] - m2[tx] - m3[tx];
                }
            }
            for (dy, half) in [&top, &bottom].into_iter().enumerate() {
                let oy = 2 * tr + dy;
                if oy >= out_rows {
                    break;
                }
                // SAFETY: output row `oy` of this task's rows in channel `co`, `out_w` values
                // (the caller's contract).
                let row = unsafe { std::slice::from_raw_parts_mut(dst.add(co * plane + oy * g.out_w), g.out_w) };
                for (pair, r) in row.chunks_mut(2).zip(half.iter()) {
                    pair[0] = r[0] + r[1] + r[2] + bias;
                    if let Some(right) = pair.get_mut(1) {
                        *right = r[1] - r[2] - r[3] + bias;
                    }
                }
            }
        }
    }
}

/// `U = G g Gᵀ` for a 3×3 kernel `g` (row-major), `G = [1 0 0; ½ ½ ½; ½ −½ ½; 0 0 1]`: the 16
/// values, row-major.
fn winograd_weight(g: &[f32]) -> [f32; 16] {
    let g_times = |r0: f32, r1: f32, r2: f32| [r0, 0.5 * (r0 + r1 + r2), 0.5 * (r0 - r1 + r2), r2];
    // G g, by columns of g…
    let c = [
        g_times(g[0], g[3], g[6]),
        g_times(g[1], g[4], g[7]),
        g_times(g[2], g[5], g[8]),
    ];
    // …then row i of (G g) Gᵀ is G applied to row i of G g.
    let mut u = [0.0f32; 16];
    for (i, row) in u.chunks_exact_mut(4).enumerate() {
        row.copy_from_slice(&g_times(c[0][i], c[1][i], c[2][i]));
    }
    u
}

/// `silu(groupnorm(x))` for `x [B, C, H, W]` with per-(item, group) `mean` and `std` (`[B·G]`,
/// `std = √(var + eps)`) and per-channel `gamma`, `beta`: the same operations, in the same order,
/// as `silu(((x − mean) / std) · γ + β)` on burn tensors, in one pass per channel plane.
pub fn group_norm_silu(
    x: Tensor<4>,
    groups: usize,
    mean: &Tensor<3>,
    std: &Tensor<3>,
    gamma: &Tensor<1>,
    beta: &Tensor<1>,
) -> Tensor<4> {
    let device = x.device();
    let [_, c, h, w] = x.dims();
    let (mean, std) = (values(mean.clone()), values(std.clone()));
    let (gamma, beta) = (values(gamma.clone()), values(beta.clone()));
    let mut x = values(x);
    let per_group = c / groups;
    let plane = |(p, v): (usize, &mut [f32])| {
        let (item, ch) = (p / c, p % c);
        let g = item * groups + ch / per_group;
        let (m, s, ga, be) = (mean[g], std[g], gamma[ch], beta[ch]);
        for v in v.iter_mut() {
            let y = (*v - m) / s * ga + be;
            *v = y * sigmoid(y);
        }
    };
    #[cfg(feature = "parallel")]
    {
        use rayon::prelude::*;
        x.par_chunks_mut(h * w).enumerate().for_each(plane);
    }
    #[cfg(not(feature = "parallel"))]
    x.chunks_mut(h * w).enumerate().for_each(plane);
    let shape = [x.len() / (c * h * w).max(1), c, h, w];
    Tensor::from_data(TensorData::new(x, shape), &device)
}

/// The logistic function as burn-flex computes it (no overflow of `e^−x` for negative x).
fn sigmoid(x: f32) -> f32 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

#[cfg(test)]
mod tests {
    use burn::tensor::activation::silu;
    use burn::tensor::module;
    use burn::tensor::ops::ConvOptions;
    use burn::tensor::{Device, Tensor, TensorData};

    use super::super::layers::GroupNorm;
    use super::*;

    fn tensor<const D: usize>(shape: [usize; D], seed: u64) -> Tensor<D> {
        let n = shape.iter().product();
        Tensor::from_data(TensorData::new(crate::synth::uniform(n, seed), shape), &Device::flex())
    }

    /// One convolution's shapes: batch, channels in, height, width, channels out, kernel, stride,
    /// padding.
    struct Case {
        b: usize,
        c_in: usize,
        h: usize,
        w: usize,
        c_out: usize,
        k: usize,
        stride: usize,
        padding: [(usize, usize); 2],
    }

    impl Case {
        #[allow(clippy::too_many_arguments)]
        const fn new(
            b: usize,
            c_in: usize,
            h: usize,
            w: usize,
            c_out: usize,
            k: usize,
            stride: usize,
            padding: [(usize, usize); 2],
        ) -> Self {
            Case {
                b,
                c_in,
                h,
                w,
                c_out,
                k,
                stride,
                padding,
            }
        }
    }

    #[test]
    fn conv2d_matches_burns_for_every_stride_padding_and_kernel_the_models_use() {
        // (batch, c_in, h, w, c_out, kernel, stride, padding): the "same" 3×3 conv, a band's conv
        // without vertical padding, the VAE's downsample on a last band and on an inner band,
        // 1×1, ConvNeXt's 4×4 stride-4 stem, a one-column map, odd sizes, and maps of several
        // tasks (more than TASK_PIXELS output pixels) with batch 2; then convolutions that go by
        // Winograd (3×3, stride 1, enough channels and tiles): the same conv on an odd
        // map, a band's, and a map of several tasks (150 tiles a row: a task each row) in a batch.
        #[rustfmt::skip]
        let cases: [Case; 13] = [
            Case::new(1, 3, 7, 5, 4, 3, 1, [(1, 1), (1, 1)]),
            Case::new(1, 5, 9, 6, 3, 3, 1, [(0, 0), (1, 1)]),
            Case::new(1, 4, 8, 9, 4, 3, 2, [(0, 1), (0, 1)]),
            Case::new(1, 4, 9, 8, 2, 3, 2, [(0, 0), (0, 1)]),
            Case::new(2, 6, 5, 7, 5, 1, 1, [(0, 0), (0, 0)]),
            Case::new(1, 3, 16, 12, 8, 4, 4, [(0, 0), (0, 0)]),
            Case::new(1, 2, 6, 1, 3, 3, 1, [(1, 1), (1, 1)]),
            Case::new(1, 3, 2, 2, 2, 3, 1, [(1, 1), (1, 1)]),
            Case::new(2, 16, 41, 37, 12, 3, 1, [(1, 1), (1, 1)]),
            Case::new(2, 8, 66, 50, 6, 3, 2, [(0, 1), (0, 1)]),
            Case::new(1, 32, 13, 9, 33, 3, 1, [(1, 1), (1, 1)]),
            Case::new(1, 40, 18, 11, 32, 3, 1, [(0, 0), (1, 1)]),
            Case::new(2, 32, 9, 300, 36, 3, 1, [(1, 1), (1, 1)]),
        ];
        for (
            i,
            &Case {
                b,
                c_in,
                h,
                w,
                c_out,
                k,
                stride,
                padding,
            },
        ) in cases.iter().enumerate()
        {
            let seed = 10 * i as u64;
            let x = tensor([b, c_in, h, w], seed);
            let weight = tensor([c_out, c_in, k, k], seed + 1);
            let bias = tensor([c_out], seed + 2);
            let ours = conv2d(x.clone(), weight.clone(), &bias, stride, padding);
            let options = ConvOptions::new_with_padding([stride; 2], padding, [1, 1], 1);
            let burns = module::conv2d(x, weight, Some(bias), options);
            assert_eq!(ours.dims(), burns.dims(), "case {i}: shape");
            let (ours, burns) = (values(ours), values(burns));
            // Each output sums c_in·k² products of values in [−1, 1): f32 rounding in another
            // order stays far below 1e-5 of that.
            let bound = 1e-5 * (c_in * k * k) as f32;
            let worst = ours
                .iter()
                .zip(&burns)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0f32, f32::max);
            assert!(worst <= bound, "case {i}: max |ours − burn's| = {worst} > {bound}");
        }
    }

    /// Winograd against the direct convolution, tighter than against burn's: every output within
    /// `1e-6 · Σ|w||x̂|` (about eight units of f32 rounding of the sum of |products|, what the
    /// transforms' reordering can cost; an output off by one of its 9·C_in products is off by
    /// ~1/(9·C_in) of that sum, hundreds of times the bound).
    #[test]
    fn winograd_matches_the_direct_convolution_within_f32_rounding() {
        for (i, &(b, c_in, h, w, c_out, padding)) in [
            (1, 32, 16, 16, 32, [(1, 1), (1, 1)]),
            (2, 48, 7, 9, 40, [(1, 1), (1, 1)]),
            (1, 64, 6, 65, 32, [(0, 0), (1, 1)]),
            (1, 32, 1, 64, 32, [(1, 1), (1, 1)]),
            // Five tasks (150 tiles a row of tiles, a task each).
            (1, 32, 9, 300, 36, [(1, 1), (1, 1)]),
        ]
        .iter()
        .enumerate()
        {
            let [(top, bottom), (left, right)] = padding;
            let out = [b, h + top + bottom - 2, w + left + right - 2];
            assert!(winograd_takes(c_in, c_out, [3, 3], 1, out), "case {i}");
            let seed = 50 + 10 * i as u64;
            let (x, weight, bias) = (
                tensor([b, c_in, h, w], seed),
                tensor([c_out, c_in, 3, 3], seed + 1),
                tensor([c_out], seed + 2),
            );
            let ours = values(conv2d(x.clone(), weight.clone(), &bias, 1, padding));
            let direct = values(conv2d_direct(x.clone(), weight.clone(), &bias, 1, padding));
            let scale = values(conv2d_direct(x.abs(), weight.abs(), &(bias * 0.0), 1, padding));
            assert_eq!(ours.len(), direct.len());
            let worst = ours
                .iter()
                .zip(&direct)
                .zip(&scale)
                .map(|((a, b), s)| (a - b).abs() / (1e-6 * s.max(1.0)))
                .fold(0.0f32, f32::max);
            assert!(worst <= 1.0, "case {i}: {worst}× the bound");
            assert!(
                direct.iter().any(|&v| v.abs() > 0.1),
                "case {i}: a degenerate reference"
            );
        }
        // The rule: 3×3 at stride 1, enough channels both sides, as many tiles as output
        // channels (64 × 64 outputs: 1024 tiles), nothing else.
        let map = [1, 64, 64];
        assert!(winograd_takes(64, 1024, [3, 3], 1, map));
        assert!(!winograd_takes(64, 1025, [3, 3], 1, map));
        assert!(!winograd_takes(31, 64, [3, 3], 1, map));
        assert!(!winograd_takes(64, 31, [3, 3], 1, map));
        assert!(!winograd_takes(64, 64, [3, 3], 2, map));
        assert!(!winograd_takes(64, 64, [1, 1], 1, map));
    }

    /// Tasks write disjoint rows and each sums in a fixed order: the same bits on one thread as
    /// on the pool, by Winograd and directly.
    #[cfg(feature = "parallel")]
    #[test]
    fn convolutions_give_the_same_bits_on_one_thread() {
        let x = tensor([2, 32, 9, 300], 1);
        let weight = tensor([36, 32, 3, 3], 2);
        let bias = tensor([36], 3);
        let one = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
        let bits = |t: Tensor<4>| values(t).into_iter().map(f32::to_bits).collect::<Vec<_>>();
        let same = [(1, 1), (1, 1)];
        let winograd = || conv2d(x.clone(), weight.clone(), &bias, 1, same);
        let direct = || conv2d_direct(x.clone(), weight.clone(), &bias, 1, same);
        assert_eq!(bits(one.install(winograd)), bits(winograd()));
        assert_eq!(bits(one.install(direct)), bits(direct()));
    }

    #[test]
    fn group_norm_silu_gives_burns_values_bit_for_bit() {
        let (b, c, h, w, groups) = (2, 12, 5, 7, 4);
        let norm = GroupNorm {
            groups,
            eps: 1e-6,
            gamma: tensor([c], 1).mul_scalar(3.0),
            beta: tensor([c], 2),
        };
        // Offsets and scales so that the normalised values reach both signs of the sigmoid's
        // two branches and its saturation.
        let x = tensor([b, c, h, w], 3).mul_scalar(40.0).add_scalar(5.0);
        let (mean, std) = norm.stats(&x);
        let ours = values(group_norm_silu(x.clone(), groups, &mean, &std, &norm.gamma, &norm.beta));
        let burns = values(silu(norm.normalize(x, &mean, &std)));
        assert_eq!(ours.len(), b * c * h * w);
        let differ = ours
            .iter()
            .zip(&burns)
            .filter(|(a, b)| a.to_bits() != b.to_bits())
            .count();
        assert_eq!(differ, 0, "{differ} values differ from burn's");
    }
}
