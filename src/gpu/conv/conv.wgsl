// 2-D convolution as an implicit GEMM, for the diffusion model's convolutions on burn's wgpu
// device: y[co, n] = bias[co] + Σ_k weight[co, k] · x̂[k, n], with
//   co an output channel,
//   n = (b, oy, ox) an output pixel (N = B·H'·W'),
//   k = (ci, ky, kx) a tap of the kernel (K = C_in·k_h·k_w), the weight's own row-major order,
//   x̂[k, n] = x[b, ci, oy·stride − pad_top + ky, ox·stride − pad_left + kx], zero outside the map.
// x̂ (im2col) is never stored: each workgroup gathers its TILE_K × TILE_PX block of it from x into
// workgroup memory, beside a TILE_K × TILE_CO block of the weight, and multiplies the two there.
//
// Workgroup: a TILE_CO × TILE_PX block of y, WORKGROUP threads (TILE_CO / THREAD_CO × TILE_PX /
// THREAD_PX). Thread (tc, tp): THREAD_CO output channels in runs of 4, co0 + 4·(tc + c·THREADS_CO)
// + i, times THREAD_PX pixels in runs of 4, n0 + 4·(tp + r·THREADS_PX) + j: neighbouring threads
// read neighbouring vec4s of workgroup memory (no bank conflicts) and write neighbouring pixels.
// Each step's loads from global memory are issued into registers before the previous step's
// multiply-adds, so they are in flight while those run, and stored to workgroup memory after.
// Every output sums its K products in the same order (k ascending, one fma each), so the result
// depends on the shapes only, not on the tiling of other outputs. Shared constants (TILE_CO,
// TILE_PX, TILE_K, THREAD_CO, THREAD_PX, WORKGROUP) are prepended by the host (gpu/conv/mod.rs).

struct Params {
    batch: u32,
    c_in: u32,
    h: u32,
    w: u32,
    c_out: u32,
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
@group(0) @binding(0) var<storage, read_write> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> weight: array<f32>;
@group(0) @binding(2) var<storage, read_write> bias: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
@group(0) @binding(4) var<storage, read_write> p: Params;

// [TILE_K][TILE_CO / 4] and [TILE_K][TILE_PX / 4].
var<workgroup> w_tile: array<vec4<f32>, TILE_K * TILE_CO / 4u>;
var<workgroup> x_tile: array<vec4<f32>, TILE_K * TILE_PX / 4u>;

const CO4: u32 = TILE_CO / 4u;
const PX4: u32 = TILE_PX / 4u;
// vec4s of each tile one thread loads per step.
const W_LOADS: u32 = TILE_K * CO4 / WORKGROUP;
const X_LOADS: u32 = TILE_K * PX4 / WORKGROUP;
// Threads along the channels and the pixels, and each thread's runs of 4 along both.
const THREADS_CO: u32 = TILE_CO / THREAD_CO;
const THREADS_PX: u32 = TILE_PX / THREAD_PX;
const RUNS_CO: u32 = THREAD_CO / 4u;
const RUNS_PX: u32 = THREAD_PX / 4u;

// This thread's 4 pixels of the x̂ tile (the same at every step, as WORKGROUP is a multiple of
// PX4): their item's offset in x, where their receptive fields start, whether they exist.
var<private> x_base: array<u32, 4>;
var<private> iy0: array<i32, 4>;
var<private> ix0: array<i32, 4>;
var<private> px_ok: array<bool, 4>;

// The weight's block at taps k0…: 4 channels at one tap per vec4 (neighbouring threads read
// neighbouring taps of a row), zero past the channels or taps.
fn load_weight(t: u32, co0: u32, k0: u32, k_len: u32) -> array<vec4<f32>, W_LOADS> {
    var out: array<vec4<f32>, W_LOADS>;
    for (var l = 0u; l < W_LOADS; l++) {
        let e = t + l * WORKGROUP;
        let k = k0 + e % TILE_K;
        let c4 = e / TILE_K;
        var v = vec4<f32>(0.0);
        if k < k_len {
            for (var i = 0u; i < 4u; i++) {
                let co = co0 + 4u * c4 + i;
                if co < p.c_out {
                    v[i] = weight[co * k_len + k];
                }
            }
        }
        out[l] = v;
    }
    return out;
}

// x̂'s block at taps k0…: this thread's 4 pixels at one tap per vec4, gathered from x, zero in
// the padding and past the taps or pixels.
fn load_x(t: u32, k0: u32, k_len: u32) -> array<vec4<f32>, X_LOADS> {
    let taps = p.k_h * p.k_w;
    var out: array<vec4<f32>, X_LOADS>;
    for (var l = 0u; l < X_LOADS; l++) {
        let k = k0 + (t + l * WORKGROUP) / PX4;
        var v = vec4<f32>(0.0);
        if k < k_len {
            let ci = k / taps;
            let r = k - ci * taps;
            let ky = r / p.k_w;
            let kx = r - ky * p.k_w;
            for (var j = 0u; j < 4u; j++) {
                let iy = iy0[j] + i32(ky);
                let ix = ix0[j] + i32(kx);
                if px_ok[j] && iy >= 0 && iy < i32(p.h) && ix >= 0 && ix < i32(p.w) {
                    v[j] = x[x_base[j] + ci * p.x_c + u32(iy) * p.x_y + u32(ix) * p.x_x];
                }
            }
        }
        out[l] = v;
    }
    return out;
}

@compute @workgroup_size(WORKGROUP)
fn main(@builtin(workgroup_id) group: vec3<u32>, @builtin(local_invocation_index) t: u32) {
    let k_len = p.c_in * p.k_h * p.k_w;
    let hw_out = p.h_out * p.w_out;
    let n_len = p.batch * hw_out;
    let n0 = group.x * TILE_PX;
    let co0 = group.y * TILE_CO;

    let px4 = t % PX4;
    for (var j = 0u; j < 4u; j++) {
        let n = n0 + 4u * px4 + j;
        px_ok[j] = n < n_len;
        let b = n / hw_out;
        let r = n - b * hw_out;
        let oy = r / p.w_out;
        let ox = r - oy * p.w_out;
        x_base[j] = b * p.x_b;
        iy0[j] = i32(oy * p.stride) - i32(p.pad_top);
        ix0[j] = i32(ox * p.stride) - i32(p.pad_left);
    }

    let tc = t / THREADS_PX;
    let tp = t % THREADS_PX;
    // THREAD_CO channels × THREAD_PX pixels, as vec4s of pixels: [(channel) · RUNS_PX + run].
    var acc: array<vec4<f32>, THREAD_CO * RUNS_PX>;
    for (var i = 0u; i < THREAD_CO * RUNS_PX; i++) {
        acc[i] = vec4<f32>(0.0);
    }

    var w_next = load_weight(t, co0, 0u, k_len);
    var x_next = load_x(t, 0u, k_len);
    for (var k0 = 0u; k0 < k_len; k0 += TILE_K) {
        for (var l = 0u; l < W_LOADS; l++) {
            let e = t + l * WORKGROUP;
            w_tile[(e % TILE_K) * CO4 + e / TILE_K] = w_next[l];
        }
        for (var l = 0u; l < X_LOADS; l++) {
            x_tile[((t + l * WORKGROUP) / PX4) * PX4 + px4] = x_next[l];
        }
        workgroupBarrier();
        if k0 + TILE_K < k_len {
            w_next = load_weight(t, co0, k0 + TILE_K, k_len);
            x_next = load_x(t, k0 + TILE_K, k_len);
        }
        for (var kk = 0u; kk < TILE_K; kk++) {
            var b: array<vec4<f32>, RUNS_PX>;
            for (var r = 0u; r < RUNS_PX; r++) {
                b[r] = x_tile[kk * PX4 + r * THREADS_PX + tp];
            }
            for (var c = 0u; c < RUNS_CO; c++) {
                let a = w_tile[kk * CO4 + c * THREADS_CO + tc];
                for (var i = 0u; i < 4u; i++) {
                    for (var r = 0u; r < RUNS_PX; r++) {
                        let at = (4u * c + i) * RUNS_PX + r;
                        acc[at] = fma(vec4<f32>(a[i]), b[r], acc[at]);
                    }
                }
            }
        }
        workgroupBarrier();
    }

    for (var c = 0u; c < RUNS_CO; c++) {
        for (var i = 0u; i < 4u; i++) {
            let co = co0 + 4u * (c * THREADS_CO + tc) + i;
            if co >= p.c_out {
                continue;
            }
            let bias_co = bias[co];
            for (var r = 0u; r < RUNS_PX; r++) {
                for (var j = 0u; j < 4u; j++) {
                    let n = n0 + 4u * (r * THREADS_PX + tp) + j;
                    if n < n_len {
                        let b = n / hw_out;
                        y[(b * p.c_out + co) * hw_out + (n - b * hw_out)] = acc[(4u * c + i) * RUNS_PX + r][j] + bias_co;
                    }
                }
            }
        }
    }
}
