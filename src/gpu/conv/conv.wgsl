// 2-D convolution as an implicit GEMM, for the diffusion model's convolutions on burn's wgpu
// device: y[co, n] = bias[co] + Σ_k weight[co, k] · x̂[k, n], with
//   co an output channel,
//   n = (b, oy, ox) an output pixel (N = B·H'·W'),
//   k = (ci, ky, kx) a tap of the kernel (K = C_in·k_h·k_w), the weight's own row-major order,
//   x̂[k, n] = x[b, ci, oy·stride − pad_top + ky, ox·stride − pad_left + kx], zero outside the map.
// x̂ (im2col) is never stored: each workgroup gathers its TILE_K × TILE_PX block of it from x into
// workgroup memory, beside a TILE_K × TILE_CO block of the weight, and multiplies the two there.
//
// Workgroup: a TILE_CO × TILE_PX block of y, WORKGROUP = TILE_CO / 4 × TILE_PX / 8 threads.
// Thread (tc, tp): 4 output channels co0 + 4·tc + i times 8 pixels in two runs of 4,
// n0 + 4·tp + j and n0 + TILE_PX / 2 + 4·tp + j: neighbouring threads read neighbouring vec4s of
// workgroup memory (no bank conflicts) and write neighbouring pixels of y.
// Each step's loads from global memory are issued into registers before the previous step's
// multiply-adds, so they are in flight while those run, and stored to workgroup memory after.
//
// Every per-thread value is a named variable, nothing a per-thread array indexed in a loop: WGSL
// has no unrolling, and such arrays can end up in (slow) memory rather than registers. The host
// (gpu/conv/mod.rs) checks that the shared constants (TILE_CO, TILE_PX, TILE_K, WORKGROUP) give
// one vec4 of weights and two of x̂ per thread and step.
// Every output sums its K products in the same order (k ascending, one fma each), so the result
// depends on the shapes only, not on the tiling of other outputs.

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
@group(0) @binding(4) var<storage, read_write> params: Params;

// The parameters, read once: storage the kernel writes may alias the parameters' buffer as far as
// the compiler knows, so reading `params` in the loop would mean reloading it after every store.
var<private> p: Params;

const CO4: u32 = TILE_CO / 4u;
const PX4: u32 = TILE_PX / 4u;
// Threads along the pixels.
const THREADS_PX: u32 = PX4 / 2u;

// [TILE_K][CO4] and [TILE_K][PX4].
var<workgroup> w_tile: array<vec4<f32>, TILE_K * CO4>;
var<workgroup> x_tile: array<vec4<f32>, TILE_K * PX4>;

// The weight at (co, k), zero past the channels or taps.
fn weight_at(co: u32, k: u32, k_len: u32) -> f32 {
    if co < p.c_out && k < k_len {
        return weight[co * k_len + k];
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

// x̂ at tap k for 4 pixels, zero past the taps.
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

// One output channel's 4 pixels n, …, n + 3 (plus its bias), those that exist.
fn store(co: u32, n: u32, v: vec4<f32>, n_len: u32, hw_out: u32) {
    if co >= p.c_out {
        return;
    }
    let out = v + vec4<f32>(bias[co]);
    for (var j = 0u; j < 4u; j++) {
        if n + j < n_len {
            let b = (n + j) / hw_out;
            y[(b * p.c_out + co) * hw_out + (n + j - b * hw_out)] = out[j];
        }
    }
}

@compute @workgroup_size(WORKGROUP)
fn main(@builtin(workgroup_id) group: vec3<u32>, @builtin(local_invocation_index) t: u32) {
    p = params;
    let k_len = p.c_in * p.k_h * p.k_w;
    let hw_out = p.h_out * p.w_out;
    let n_len = p.batch * hw_out;
    let n0 = group.x * TILE_PX;
    let co0 = group.y * TILE_CO;

    // Loading: this thread's vec4 of weights (4 channels at one tap; neighbouring threads read
    // neighbouring taps of a row) and its two vec4s of x̂ (4 pixels at two taps TILE_K / 2 apart;
    // neighbouring threads read neighbouring pixels). Its 4 pixels are the same at every step.
    let w_k = t % TILE_K;
    let w_c4 = t / TILE_K;
    let w_co = co0 + 4u * w_c4;
    let x_p4 = t % PX4;
    let x_k = t / PX4;
    let q0 = pixel(n0 + 4u * x_p4, n_len, hw_out);
    let q1 = pixel(n0 + 4u * x_p4 + 1u, n_len, hw_out);
    let q2 = pixel(n0 + 4u * x_p4 + 2u, n_len, hw_out);
    let q3 = pixel(n0 + 4u * x_p4 + 3u, n_len, hw_out);

    // Computing: 4 channels × 2 runs of 4 pixels, acc{channel}{run}.
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

    var w_next = vec4<f32>(weight_at(w_co, w_k, k_len), weight_at(w_co + 1u, w_k, k_len),
                           weight_at(w_co + 2u, w_k, k_len), weight_at(w_co + 3u, w_k, k_len));
    var x_next0 = x_column(q0, q1, q2, q3, x_k, k_len);
    var x_next1 = x_column(q0, q1, q2, q3, x_k + TILE_K / 2u, k_len);
    for (var k0 = 0u; k0 < k_len; k0 += TILE_K) {
        w_tile[w_k * CO4 + w_c4] = w_next;
        x_tile[x_k * PX4 + x_p4] = x_next0;
        x_tile[(x_k + TILE_K / 2u) * PX4 + x_p4] = x_next1;
        workgroupBarrier();
        let k1 = k0 + TILE_K;
        if k1 < k_len {
            w_next = vec4<f32>(weight_at(w_co, k1 + w_k, k_len), weight_at(w_co + 1u, k1 + w_k, k_len),
                               weight_at(w_co + 2u, k1 + w_k, k_len), weight_at(w_co + 3u, k1 + w_k, k_len));
            x_next0 = x_column(q0, q1, q2, q3, k1 + x_k, k_len);
            x_next1 = x_column(q0, q1, q2, q3, k1 + x_k + TILE_K / 2u, k_len);
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
    store(co, n_a, acc00, n_len, hw_out);
    store(co, n_b, acc01, n_len, hw_out);
    store(co + 1u, n_a, acc10, n_len, hw_out);
    store(co + 1u, n_b, acc11, n_len, hw_out);
    store(co + 2u, n_a, acc20, n_len, hw_out);
    store(co + 2u, n_b, acc21, n_len, hw_out);
    store(co + 3u, n_a, acc30, n_len, hw_out);
    store(co + 3u, n_b, acc31, n_len, hw_out);
}
