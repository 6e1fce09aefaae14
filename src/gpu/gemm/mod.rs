//! The diffusion model's convolutions and matrix products on burn's wgpu device, as one tiled GEMM
//! in our WGSL (`gemm.wgsl`):
//!
//! * [`conv2d`]: `y [B, C_out, H', W'] = conv2d(x [B, C_in, H, W], weight [C_out, C_in, k, k]) +
//!   bias`, any stride and zero padding, one group, as an implicit GEMM (x̂ gathered, never
//!   stored). CPU reference: [`crate::model::host::conv2d_direct`].
//! * [`matmul`]: `a [.., M, K] · b [.., K, N]`, up to two batch dimensions, both read through
//!   their strides (a transposed view costs nothing). CPU reference: burn's matmul.
//!
//! `tests/gpu_model_kernels/gemm.rs` compares both with their references on the models' shapes.
//!
//! Why: burn 0.22 without autotune runs its direct convolution and its unit matmul at 1–2 TFLOP/s
//! on an H200 (the convolutions 85 % of the VAE's GPU time at 1024², BENCHMARKS.md), and its
//! faster kernels need cooperative-matrix instructions WebGPU lacks. This kernel tiles the GEMM in
//! workgroup memory on plain `f32` FMAs, as WebGPU allows, natively (Vulkan, Metal, DX12,
//! lavapipe) and in the browser.
//!
//! The kernel is launched on burn's own device and queue (cubecl's client), on burn's buffers:
//! no copy in or out, and it orders with burn's kernels on the same stream.

use burn::backend::wgpu::{CubeTensor, Wgpu};
use burn::cubecl::client::Client;
use burn::cubecl::server::Handle;
use burn::tensor::{DType, Shape, Tensor};

use super::cube::{self, WgslKernel};
use super::{prelude, Shared};

/// Output channels per workgroup.
pub(crate) const TILE_CO: u32 = 64;
/// Output pixels per workgroup.
pub(crate) const TILE_PX: u32 = 128;
/// Taps of the reduction (`C_in·k²`) per step through workgroup memory.
pub(crate) const TILE_K: u32 = 16;
/// Threads per workgroup: each computes 4 channels × 8 pixels of the tile.
pub(crate) const WORKGROUP: u32 = (TILE_CO / 4) * (TILE_PX / 8);

// gemm.wgsl's layout: per thread and step one vec4 of weights and two vec4s of x̂, within WebGPU's
// default limits (256 threads, 16 KiB of workgroup memory).
const _: () = assert!(WORKGROUP == TILE_K * (TILE_CO / 4));
const _: () = assert!(2 * WORKGROUP == TILE_K * (TILE_PX / 4));
const _: () = assert!(WORKGROUP <= 256 && TILE_K * (TILE_CO + TILE_PX) * 4 <= 16384);

// MODE_NK: the WORKGROUP / TILE_K threads loading one tap's columns cover them 8 apart each.
const _: () = assert!(8 * (WORKGROUP / TILE_K) == TILE_PX);

/// Where the kernel's B comes from, and along which dimension neighbouring threads load it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(u32)]
enum Mode {
    /// x̂, gathered from the map of a convolution.
    Conv = 0,
    /// A strided matrix, loaded along its columns (`b[.., k, n]` contiguous in n).
    #[default]
    Kn = 1,
    /// A strided matrix, loaded along its taps (contiguous in k: a transposed weight, `Kᵀ`).
    Nk = 2,
}

pub(crate) const SHARED: &[(&str, Shared)] = &[
    ("MODE_CONV", Shared::U32(Mode::Conv as u32)),
    ("MODE_KN", Shared::U32(Mode::Kn as u32)),
    ("MODE_NK", Shared::U32(Mode::Nk as u32)),
    ("TILE_CO", Shared::U32(TILE_CO)),
    ("TILE_PX", Shared::U32(TILE_PX)),
    ("TILE_K", Shared::U32(TILE_K)),
    ("WORKGROUP", Shared::U32(WORKGROUP)),
];

pub(crate) const WGSL: &str = include_str!("gemm.wgsl");

/// `conv2d(x, weight) + bias` with our kernel, where the call is one it takes: all three on
/// burn's wgpu device, `f32`, the weight contiguous (its rows are the GEMM's), one group, and a
/// grid within [`cube::MAX_GROUPS`]. Otherwise `None`, and the caller uses burn's convolution
/// (also where two inputs share memory, see [`cube::inputs_overlap`]).
/// `padding` is `[(top, bottom), (left, right)]`.
pub fn conv2d(
    x: &Tensor<4>,
    weight: &Tensor<4>,
    bias: &Tensor<1>,
    stride: usize,
    padding: [(usize, usize); 2],
) -> Option<Tensor<4>> {
    let cube::ConvOperands {
        x,
        weight,
        bias,
        x_shape: [b, c_in, h, w],
        weight_shape: [c_out, _, k_h, k_w],
    } = cube::conv_operands(x, weight, bias)?;
    let [(top, bottom), (left, right)] = padding;
    if stride == 0 {
        return None;
    }
    if h + top + bottom < k_h || w + left + right < k_w {
        return None;
    }
    let h_out = (h + top + bottom - k_h) / stride + 1;
    let w_out = (w + left + right - k_w) / stride + 1;
    let n = b * h_out * w_out;
    let xs = x.meta.strides();
    let params = Params {
        m: c_out,
        n,
        k: c_in * k_h * k_w,
        a_m: c_in * k_h * k_w,
        a_k: 1,
        mode: Mode::Conv,
        bias: true,
        conv: [
            c_in, h, w, h_out, w_out, k_h, k_w, stride, top, left, xs[0], xs[1], xs[2], xs[3],
        ],
        ..Params::default()
    };
    let y = launch(&x, &weight, Some(&bias), &params, 1)?;
    let y = CubeTensor::new_contiguous(
        y.0,
        x.device.clone(),
        Shape::from([b, c_out, h_out, w_out]),
        y.1,
        DType::F32,
    );
    Some(Tensor::from_primitive::<Wgpu>(y))
}

/// `a · b` with our kernel for `a [.., M, K]`, `b [.., K, N]` (rank `D` of 2 to 4, the leading
/// dimensions equal: no broadcasting), where both are `f32` on burn's wgpu device and the grid
/// fits; otherwise `None`, and the caller uses burn's matmul. The result is contiguous.
pub fn matmul<const D: usize>(a: &Tensor<D>, b: &Tensor<D>) -> Option<Tensor<D>> {
    if !(2..=4).contains(&D) {
        return None;
    }
    let a: CubeTensor = a.clone().try_into_primitive::<Wgpu>().ok()?;
    let b: CubeTensor = b.clone().try_into_primitive::<Wgpu>().ok()?;
    if [&a, &b].iter().any(|t| t.dtype != DType::F32 || t.qparams.is_some()) || a.device != b.device {
        return None;
    }
    let (sa, sb) = (a.meta.shape().as_slice(), b.meta.shape().as_slice());
    let (da, db) = (a.meta.strides(), b.meta.strides());
    if sa[..D - 2] != sb[..D - 2] || sa[D - 1] != sb[D - 2] {
        return None;
    }
    let (m, k, n) = (sa[D - 2], sa[D - 1], sb[D - 1]);
    // The batch dimensions as (outer, inner), absent ones of length 1.
    let batch = |i: usize| {
        if D - 2 > i {
            (sa[D - 3 - i], da[D - 3 - i], db[D - 3 - i])
        } else {
            (1, 0, 0)
        }
    };
    let ((inner_len, a_inner, b_inner), (outer_len, a_outer, b_outer)) = (batch(0), batch(1));
    let mode = if db[D - 1] != 1 && db[D - 2] == 1 {
        Mode::Nk
    } else {
        Mode::Kn
    };
    let params = Params {
        m,
        n,
        k,
        inner_len,
        a_m: da[D - 2],
        a_k: da[D - 1],
        a_outer,
        a_inner,
        b_k: db[D - 2],
        b_n: db[D - 1],
        b_outer,
        b_inner,
        c_outer: inner_len * m * n,
        c_inner: m * n,
        mode,
        ..Params::default()
    };
    let (client, handle) = launch(&b, &a, None, &params, outer_len * inner_len)?;
    let mut shape = sa.to_vec();
    shape[D - 1] = n;
    let c = CubeTensor::new_contiguous(client, a.device.clone(), Shape::from(shape), handle, DType::F32);
    Some(Tensor::from_primitive::<Wgpu>(c))
}

/// The kernel's parameters (gemm.wgsl's `Params`, in its order).
#[derive(Default)]
struct Params {
    m: usize,
    n: usize,
    k: usize,
    inner_len: usize,
    a_m: usize,
    a_k: usize,
    a_outer: usize,
    a_inner: usize,
    b_k: usize,
    b_n: usize,
    b_outer: usize,
    b_inner: usize,
    c_outer: usize,
    c_inner: usize,
    mode: Mode,
    bias: bool,
    /// c_in, h, w, h_out, w_out, k_h, k_w, stride, pad_top, pad_left, then x's 4 strides.
    conv: [usize; 14],
}

impl Params {
    /// As the kernel reads them, `None` where one does not fit a `u32`.
    fn words(&self) -> Option<Vec<u32>> {
        let head = [
            self.m,
            self.n,
            self.k,
            self.inner_len.max(1),
            self.a_m,
            self.a_k,
            self.a_outer,
            self.a_inner,
            self.b_k,
            self.b_n,
            self.b_outer,
            self.b_inner,
            self.c_outer,
            self.c_inner,
            self.mode as usize,
            self.bias as usize,
        ];
        head.iter().chain(&self.conv).map(|&v| u32::try_from(v).ok()).collect()
    }
}

/// Launches the kernel over `batches` GEMMs of `params` (B from `x`, A from `weight`): the client
/// and C's new buffer (`batches·M·N` values), or `None` where the grid or an index would not fit.
fn launch(
    x: &CubeTensor,
    weight: &CubeTensor,
    bias: Option<&CubeTensor>,
    params: &Params,
    batches: usize,
) -> Option<(Client, Handle)> {
    let out = cube::product(&[batches, params.m, params.n]);
    if !cube::fits_u32(out) {
        return None;
    }
    let client = x.client.clone();
    let buffer = client.empty(out as usize * std::mem::size_of::<f32>());
    launch_into(x, weight, bias, params, batches, &buffer)?;
    Some((client, buffer))
}

/// [`launch`] into `out`, an existing buffer of at least `batches·M·N` values.
fn launch_into(
    x: &CubeTensor,
    weight: &CubeTensor,
    bias: Option<&CubeTensor>,
    params: &Params,
    batches: usize,
    out: &Handle,
) -> Option<()> {
    let groups = [
        params.n.div_ceil(TILE_PX as usize),
        params.m.div_ceil(TILE_CO as usize),
        batches,
    ];
    // Every index the kernel forms stays within u32: C's, and the largest A and B could reach.
    let c = cube::product(&[batches, params.m, params.n]);
    if !cube::grid_fits(groups) || ![c, cube::span(x), cube::span(weight)].into_iter().all(cube::fits_u32) {
        return None;
    }
    let words = params.words()?;
    let inputs: Vec<_> = [Some(x), Some(weight), bias].into_iter().flatten().collect();
    if cube::inputs_overlap(&inputs) {
        return None;
    }
    let client = &x.client;
    // Without a bias the kernel never reads binding 2, but it must be bound: to a buffer of its
    // own, since A's would overlap binding 1.
    let bias = match bias {
        Some(b) => b.handle.clone(),
        None => client.empty(std::mem::size_of::<f32>()),
    };
    cube::launch::<ImplicitGemm>(client, groups, &[&x.handle, &weight.handle, &bias, out], &words);
    Some(())
}

/// `c[z] = a[z] · b[z]` for `z < batches`, `a [batches, M, K]` and `b [batches, K, N]`
/// contiguous, into `c`, an existing buffer of `batches·M·N` values on their device: the 16
/// products of a Winograd convolution ([`super::winograd`]). `None` where the grid or an index
/// would not fit, or the inputs overlap.
pub(crate) fn batched_into(a: &CubeTensor, b: &CubeTensor, c: &Handle) -> Option<()> {
    let (sa, sb) = (a.meta.shape().as_slice(), b.meta.shape().as_slice());
    let (&[batches, m, k], &[batches_b, k_b, n]) = (sa, sb) else {
        return None;
    };
    if batches != batches_b || k != k_b || !a.is_contiguous() || !b.is_contiguous() {
        return None;
    }
    let params = Params {
        m,
        n,
        k,
        inner_len: batches,
        a_m: k,
        a_k: 1,
        a_inner: m * k,
        b_k: n,
        b_n: 1,
        b_inner: k * n,
        c_inner: m * n,
        mode: Mode::Kn,
        ..Params::default()
    };
    launch_into(b, a, None, &params, batches, c)
}

/// The kernel, for [`cube::kernel_sources`].
pub(crate) fn kernels() -> Vec<cube::KernelSource> {
    vec![cube::kernel_source::<ImplicitGemm>()]
}

/// `gemm.wgsl` with its shared constants.
struct ImplicitGemm;

impl WgslKernel for ImplicitGemm {
    const ENTRY: &'static str = "main";
    const WORKGROUP: u32 = WORKGROUP;

    fn source() -> String {
        format!("{}{WGSL}", prelude(SHARED))
    }
}
