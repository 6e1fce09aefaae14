// A tiled GEMM on burn's wgpu device, for the diffusion model's convolutions and matrix products:
// C[m, n] = (bias[m]) + Σ_k A[m, k] · B[k, n], per batch, A and B read through their strides.
//
// Matrix products (MODE_KN, MODE_NK): B a strided matrix, loaded along n or along k, whichever
// is contiguous (so that neighbouring threads read neighbouring values); C row-major per batch.
//
// Convolutions (MODE_CONV), as an implicit GEMM: y[co, n] = bias[co] + Σ_k weight[co, k] · x̂[k, n],
// A the weight, with
//   co an output channel,
//   n = (b, oy, ox) an output pixel (N = B·H'·W'),
//   k = (ci, ky, kx) a tap of the kernel (K = C_in·k_h·k_w), the weight's own row-major order,
//   x̂[k, n] = x[b, ci, oy·stride − pad_top + ky, ox·stride − pad_left + kx], zero outside the map.
// x̂ (im2col) is never stored: each workgroup gathers its TILE_K × TILE_PX block of it from x into
// workgroup memory, beside a TILE_K × TILE_CO block of the weight, and multiplies the two there.
//
// In both, rows are called channels (co) and columns pixels (n).
// Workgroup: a TILE_CO × TILE_PX block of C, WORKGROUP = TILE_CO / 4 × TILE_PX / 8 threads.
// Thread (tc, tp): 4 output channels co0 + 4·tc + i times 8 pixels in two runs of 4,
// n0 + 4·tp + j and n0 + TILE_PX / 2 + 4·tp + j: neighbouring threads read neighbouring vec4s of
// workgroup memory (no bank conflicts) and write neighbouring pixels of y.
// Each step's loads from global memory are issued into registers before the previous step's
// multiply-adds, so they are in flight while those run, and stored to workgroup memory after.
//
// Every per-thread value is a named variable, nothing a per-thread array indexed in a loop: WGSL
// has no unrolling, and such arrays can end up in (slow) memory rather than registers. The host
// (gpu/gemm/mod.rs) checks that the shared constants (TILE_CO, TILE_PX, TILE_K, WORKGROUP) give
// one vec4 of weights and two of x̂ per thread and step.
// Every output sums its K products in the same order (k ascending, one fma each), so the result
// depends on the shapes only, not on the tiling of other outputs.

struct Params {
    // The GEMM per batch: M × N outputs, K taps; batches z = outer · inner_len + inner.
    m: u32,
    n: u32,
    k: u32,
    inner_len: u32,
    // A's strides (rows, taps, outer and inner batch).
    a_m: u32,
    a_k: u32,
    a_outer: u32,
    a_inner: u32,
    // B's (taps, columns, batches), in the matrix modes.
    b_k: u32,
    b_n: u32,
    b_outer: u32,
    b_inner: u32,
    // C's batch strides; within a batch C is row-major, M × N.
    c_outer: u32,
    c_inner: u32,
    mode: u32,
    // 1: add bias[m] to every output of row m.
    bias: u32,
    // MODE_CONV: the map x [B, C_in, H, W] (N = B·H'·W', K = C_in·k_h·k_w).
    c_in: u32,
    h: u32,
    w: u32,
    h_out: u32,
    w_out: u32,
    k_h: u32,
    k_w: u32,
    stride: u32,
    pad_top: u32,
    pad_left: u32,
    // x's strides in elements (b, c, y, x): any layout burn hands over.
    x_b: u32,
    x_c: u32,
    x_y: u32,
    x_x: u32,
}

// All read_write, though only y is written: burn's allocator places tensors in shared buffers, and
// one buffer bound both read-only and read-write in a dispatch is a conflict WebGPU refuses.
// x is B (or the map B is gathered from), weight is A, y is C.
@group(0) @binding(0) var<storage, read_write> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> weight: array<f32>;
@group(0) @binding(2) var<storage, read_write> bias: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
@group(0) @binding(4) var<storage, read_write> params: Params;

// The parameters, read once: storage the kernel writes may alias the parameters' buffer as far as
// the compiler knows, so reading `params` in the loop would mean reloading it after every store.
var<private> p: Params;
// The number of taps, as a value WGSL knows to be the same on every thread of the workgroup: the
// loop that holds the barriers must be in uniform control flow, and a value read from a
// read_write storage buffer is not uniform to WGSL's analysis (Chrome's compiler enforces it).
var<workgroup> k_shared: u32;
// This workgroup's batch offsets into A and B.
var<private> a_off: u32;
var<private> b_off: u32;

const CO4: u32 = TILE_CO / 4u;
const PX4: u32 = TILE_PX / 4u;
// Threads along the pixels.
const THREADS_PX: u32 = PX4 / 2u;
// MODE_NK: the threads loading one tap's columns, each 8 of them this far apart.
const NK_STEP: u32 = WORKGROUP / TILE_K;

// [TILE_K][CO4] and [TILE_K][PX4].
var<workgroup> w_tile: array<vec4<f32>, TILE_K * CO4>;
var<workgroup> x_tile: array<vec4<f32>, TILE_K * PX4>;

// A at (row co, tap k), zero past the rows or taps.
fn weight_at(co: u32, k: u32, k_len: u32) -> f32 {
    if co < p.m && k < k_len {
        return weight[a_off + co * p.a_m + k * p.a_k];
    }
    return 0.0;
}

// B at (tap k, column n) in the matrix modes, zero past the taps or columns.
fn b_at(k: u32, n: u32) -> f32 {
    if k < p.k && n < p.n {
        return x[b_off + k * p.b_k + n * p.b_n];
    }
    return 0.0;
}

// Where one output pixel's receptive field starts: (item offset in x, top row, left column), and
// whether the pixel exists.
struct Pixel {
    base: u32,
    iy: i32,
    ix: i32,
    ok: bool,
}

fn pixel(n: u32, n_len: u32, hw_out: u32) -> Pixel {
    let b = n / hw_out;
    let r = n - b * hw_out;
    let oy = r / p.w_out;
    let ox = r - oy * p.w_out;
    return Pixel(b * p.x_b, i32(oy * p.stride) - i32(p.pad_top), i32(ox * p.stride) - i32(p.pad_left), n < n_len);
}

// x̂ at one pixel and tap (ci, ky, kx): zero in the padding and past the pixels.
fn x_at(q: Pixel, ci: u32, ky: u32, kx: u32) -> f32 {
    let iy = q.iy + i32(ky);
    let ix = q.ix + i32(kx);
    if q.ok && iy >= 0 && iy < i32(p.h) && ix >= 0 && ix < i32(p.w) {
        return x[q.base + ci * p.x_c + u32(iy) * p.x_y + u32(ix) * p.x_x];
    }
    return 0.0;
}

// x̂ at tap k for 4 pixels, zero past the taps (MODE_CONV).
fn x_column(q0: Pixel, q1: Pixel, q2: Pixel, q3: Pixel, k: u32, k_len: u32) -> vec4<f32> {
    if k >= k_len {
        return vec4<f32>(0.0);
    }
    let taps = p.k_h * p.k_w;
    let ci = k / taps;
    let r = k - ci * taps;
    let ky = r / p.k_w;
    let kx = r - ky * p.k_w;
    return vec4<f32>(x_at(q0, ci, ky, kx), x_at(q1, ci, ky, kx), x_at(q2, ci, ky, kx), x_at(q3, ci, ky, kx));
}

// One output row's 4 columns n, …, n + 3 (plus its bias), those that exist. C is [b][M][hw] for
// n = b·hw + r: NCHW for a convolution (hw = H'·W'), row-major for a product (hw = N, b = 0).
fn store(c_off: u32, co: u32, n: u32, v: vec4<f32>, hw: u32) {
    if co >= p.m {
        return;
    }
    var out = v;
    if p.bias == 1u {
        out += vec4<f32>(bias[co]);
    }
    for (var j = 0u; j < 4u; j++) {
        if n + j < p.n {
            let b = (n + j) / hw;
            y[c_off + (b * p.m + co) * hw + (n + j - b * hw)] = out[j];
        }
    }
}

// This thread's share of B's block at taps k0… (half 0 or 1 of it, a vec4), by mode:
//   MODE_CONV, MODE_KN: 4 columns n0 + 4·(t % PX4) + j at tap k0 + t / PX4 (+ TILE_K / 2 for
//     half 1): neighbouring threads read neighbouring columns;
//   MODE_NK: 4 columns n0 + t / TILE_K + NK_STEP·(4·half + i) at tap k0 + t % TILE_K:
//     neighbouring threads read neighbouring taps.
fn b_next(t: u32, n0: u32, k0: u32, half: u32, q0: Pixel, q1: Pixel, q2: Pixel, q3: Pixel) -> vec4<f32> {
    if p.mode == MODE_NK {
        let k = k0 + t % TILE_K;
        let n = n0 + t / TILE_K + (TILE_PX / 2u) * half;
        return vec4<f32>(b_at(k, n), b_at(k, n + NK_STEP), b_at(k, n + 2u * NK_STEP), b_at(k, n + 3u * NK_STEP));
    }
    let k = k0 + t / PX4 + (TILE_K / 2u) * half;
    if p.mode == MODE_CONV {
        return x_column(q0, q1, q2, q3, k, p.k);
    }
    let n = n0 + 4u * (t % PX4);
    return vec4<f32>(b_at(k, n), b_at(k, n + 1u), b_at(k, n + 2u), b_at(k, n + 3u));
}

// Stores what b_next loaded where the multiply-adds read it: x_tile[k][column / 4][column % 4].
fn b_store(t: u32, half: u32, v: vec4<f32>) {
    if p.mode == MODE_NK {
        let k = t % TILE_K;
        let g = t / TILE_K + (TILE_PX / 2u) * half;
        for (var i = 0u; i < 4u; i++) {
            let n = g + NK_STEP * i;
            x_tile[k * PX4 + n / 4u][n % 4u] = v[i];
        }
        return;
    }
    x_tile[(t / PX4 + (TILE_K / 2u) * half) * PX4 + t % PX4] = v;
}

// A's block at taps k0…: 4 rows at one tap (neighbouring threads read neighbouring taps of a row).
fn a_next(t: u32, co0: u32, k0: u32) -> vec4<f32> {
    let k = k0 + t % TILE_K;
    let co = co0 + 4u * (t / TILE_K);
    return vec4<f32>(weight_at(co, k, p.k), weight_at(co + 1u, k, p.k), weight_at(co + 2u, k, p.k),
                     weight_at(co + 3u, k, p.k));
}

@compute @workgroup_size(WORKGROUP)
fn main(@builtin(workgroup_id) group: vec3<u32>, @builtin(local_invocation_index) t: u32) {
    p = params;
    if t == 0u {
        k_shared = p.k;
    }
    let k_len = workgroupUniformLoad(&k_shared);
    let outer = group.z / p.inner_len;
    let inner = group.z - outer * p.inner_len;
    a_off = outer * p.a_outer + inner * p.a_inner;
    b_off = outer * p.b_outer + inner * p.b_inner;
    let c_off = outer * p.c_outer + inner * p.c_inner;
    let n0 = group.x * TILE_PX;
    let co0 = group.y * TILE_CO;
    var hw = p.n;
    // MODE_CONV: this thread's 4 pixels of x̂, the same at every step.
    var q0: Pixel;
    var q1: Pixel;
    var q2: Pixel;
    var q3: Pixel;
    if p.mode == MODE_CONV {
        hw = p.h_out * p.w_out;
        let n = n0 + 4u * (t % PX4);
        q0 = pixel(n, p.n, hw);
        q1 = pixel(n + 1u, p.n, hw);
        q2 = pixel(n + 2u, p.n, hw);
        q3 = pixel(n + 3u, p.n, hw);
    }

    // Computing: 4 rows × 2 runs of 4 columns, acc{row}{run}.
    let tc = t / THREADS_PX;
    let tp = t % THREADS_PX;
    var acc00 = vec4<f32>(0.0);
    var acc01 = vec4<f32>(0.0);
    var acc10 = vec4<f32>(0.0);
    var acc11 = vec4<f32>(0.0);
    var acc20 = vec4<f32>(0.0);
    var acc21 = vec4<f32>(0.0);
    var acc30 = vec4<f32>(0.0);
    var acc31 = vec4<f32>(0.0);

    var a_reg = a_next(t, co0, 0u);
    var b_reg0 = b_next(t, n0, 0u, 0u, q0, q1, q2, q3);
    var b_reg1 = b_next(t, n0, 0u, 1u, q0, q1, q2, q3);
    for (var k0 = 0u; k0 < k_len; k0 += TILE_K) {
        w_tile[(t % TILE_K) * CO4 + t / TILE_K] = a_reg;
        b_store(t, 0u, b_reg0);
        b_store(t, 1u, b_reg1);
        workgroupBarrier();
        let k1 = k0 + TILE_K;
        if k1 < k_len {
            a_reg = a_next(t, co0, k1);
            b_reg0 = b_next(t, n0, k1, 0u, q0, q1, q2, q3);
            b_reg1 = b_next(t, n0, k1, 1u, q0, q1, q2, q3);
        }
        for (var kk = 0u; kk < TILE_K; kk++) {
            let a = w_tile[kk * CO4 + tc];
            let b0 = x_tile[kk * PX4 + tp];
            let b1 = x_tile[kk * PX4 + THREADS_PX + tp];
            acc00 = fma(vec4<f32>(a.x), b0, acc00);
            acc01 = fma(vec4<f32>(a.x), b1, acc01);
            acc10 = fma(vec4<f32>(a.y), b0, acc10);
            acc11 = fma(vec4<f32>(a.y), b1, acc11);
            acc20 = fma(vec4<f32>(a.z), b0, acc20);
            acc21 = fma(vec4<f32>(a.z), b1, acc21);
            acc30 = fma(vec4<f32>(a.w), b0, acc30);
            acc31 = fma(vec4<f32>(a.w), b1, acc31);
        }
        workgroupBarrier();
    }

    let co = co0 + 4u * tc;
    let n_a = n0 + 4u * tp;
    let n_b = n0 + 4u * (THREADS_PX + tp);
    store(c_off, co, n_a, acc00, hw);
    store(c_off, co, n_b, acc01, hw);
    store(c_off, co + 1u, n_a, acc10, hw);
    store(c_off, co + 1u, n_b, acc11, hw);
    store(c_off, co + 2u, n_a, acc20, hw);
    store(c_off, co + 2u, n_b, acc21, hw);
    store(c_off, co + 3u, n_a, acc30, hw);
    store(c_off, co + 3u, n_b, acc31, hw);
}
