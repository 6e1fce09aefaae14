// PAMR on the GPU (docs/ALGORITHM.md §5.3; CPU reference: src/refine/pamr.rs), in five entry points:
//
//   affinity   softmax weights of each pixel's P = 8·nd neighbours      one thread per pixel of a row band
//   init       the one-hot labels resized bilinearly (align_corners)   one thread per pixel, a label chunk
//   propagate  dst(p) = Σ_j w_j(p) · src(p + o_j), clamped neighbours   one thread per (pixel of a band, vec4 of labels)
//   argmax     running (best value, label) over the label chunks       one thread per pixel
//   median     3×3 median of the labels, edges repeated                one thread per pixel
//
// Tiling (host code in mod.rs): the weights are stored per row band, `[P, rows, W]` in one buffer
// per band, so no binding holds more than the device allows; the mask is processed one label chunk
// at a time (labels are independent under propagation), four labels to a vec4, so a neighbour
// costs one 16-byte load for four labels.
//
// Bindings (group 0; each entry point declares only what it uses):
//   params      uniform Params, at a dynamic offset
//   dil         [nd] i32, dilations clamped to max(H, W)
//   img         [3, H, W] f32 in [0, 1]
//   aff_out     [P, rows, W] f32, this band's weights (written by `affinity`)
//   aff         the same, read by `propagate`
//   taps        [H][3] then [W][3] u32: source index 0, index 1, bitcast weight of index 1
//   lab         [lh, lw] u32, the input labels
//   src, dst    [nq, H, W] vec4<f32>, the label chunk's mask (ping-pong): lane l of quad q is
//               label k0 + 4q + l; lanes past the chunk hold 0 and stay 0
//   best, arg   [H, W] f32 / u32, the running argmax
//   arg_in      [H, W] u32, the argmax, read by `median`
//   labels_out  [H, W] u32, the median-filtered labels
//
// Arithmetic mirrors the CPU path term for term (same sums in the same order); only WGSL's
// division/exp/sqrt accuracy and FMA contraction can differ in the last bits.
// Limits: WG (64) invocations per workgroup, no workgroup memory, ≤ 4 storage buffers per entry point.

struct Params {
    w: u32,
    h: u32,
    y0: u32,    // first row of the band (affinity, propagate)
    rows: u32,  // rows in the band
    k0: u32,    // first label of the chunk (init, argmax)
    kc: u32,    // labels in the chunk
    nd: u32,    // dilations
    lw: u32,    // width of the label map
    first: u32, // argmax: 1 for the first chunk
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> dil: array<i32>;
@group(0) @binding(2) var<storage, read> img: array<f32>;
@group(0) @binding(3) var<storage, read_write> aff_out: array<f32>;
@group(0) @binding(4) var<storage, read> aff: array<f32>;
@group(0) @binding(5) var<storage, read> taps: array<u32>;
@group(0) @binding(6) var<storage, read> lab: array<u32>;
@group(0) @binding(7) var<storage, read> src: array<vec4<f32>>;
@group(0) @binding(8) var<storage, read_write> dst: array<vec4<f32>>;
@group(0) @binding(9) var<storage, read_write> best: array<f32>;
@group(0) @binding(10) var<storage, read_write> arg: array<u32>;
@group(0) @binding(11) var<storage, read> arg_in: array<u32>;
@group(0) @binding(12) var<storage, read_write> labels_out: array<u32>;


fn thread_index(wid: vec3<u32>, nwg: vec3<u32>, lid: u32) -> u32 {
    return (wid.y * nwg.x + wid.x) * WG + lid;
}

// Replicate padding: the coordinate clamped into [0, n).
fn cl(v: i32, n: u32) -> u32 {
    return u32(clamp(v, 0, i32(n) - 1));
}

// Neighbour t ∈ 0..8 of a 3×3 window, row-major without the centre: (dy, dx).
fn nbr(t: u32) -> vec2<i32> {
    let s = t + select(0u, 1u, t >= 4u);
    return vec2<i32>(i32(s / 3u) - 1, i32(s % 3u) - 1);
}

// 1e-8 + 0.1 · (unbiased std of channel c over the 9·nd taps, centre included).
fn denominator(c: u32, x: i32, y: i32) -> f32 {
    let w = params.w;
    let h = params.h;
    let base = c * w * h;
    let n = 9u * params.nd;
    var s = 0.0;
    for (var di = 0u; di < params.nd; di++) {
        let d = dil[di];
        for (var dy = -1; dy <= 1; dy++) {
            let r = cl(y + dy * d, h) * w;
            for (var dx = -1; dx <= 1; dx++) {
                s += img[base + r + cl(x + dx * d, w)];
            }
        }
    }
    let mean = s / f32(n);
    var ss = 0.0;
    for (var di = 0u; di < params.nd; di++) {
        let d = dil[di];
        for (var dy = -1; dy <= 1; dy++) {
            let r = cl(y + dy * d, h) * w;
            for (var dx = -1; dx <= 1; dx++) {
                let v = img[base + r + cl(x + dx * d, w)];
                ss += (v - mean) * (v - mean);
            }
        }
    }
    return 1e-8 + 0.1 * sqrt(ss / f32(n - 1u));
}

// The logit of neighbour t at dilation d: mean over channels of −|x_c − x_c(nbr)| / den_c.
fn logit(x: i32, y: i32, d: i32, t: u32, centre: vec3<f32>, den: vec3<f32>) -> f32 {
    let w = params.w;
    let h = params.h;
    let hw = w * h;
    let o = nbr(t);
    let q = cl(y + o.x * d, h) * w + cl(x + o.y * d, w);
    var a = 0.0;
    a += -abs(centre.x - img[q]) / den.x;
    a += -abs(centre.y - img[hw + q]) / den.y;
    a += -abs(centre.z - img[2u * hw + q]) / den.z;
    return a / 3.0;
}

@compute @workgroup_size(WG)
fn affinity(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
            @builtin(local_invocation_index) lid: u32) {
    let i = thread_index(wid, nwg, lid);
    let w = params.w;
    let npix = params.rows * w;
    if (i >= npix) { return; }
    let x = i32(i % w);
    let y = i32(params.y0 + i / w);
    let hw = w * params.h;
    let p = u32(y) * w + u32(x);
    let centre = vec3<f32>(img[p], img[hw + p], img[2u * hw + p]);
    let den = vec3<f32>(denominator(0u, x, y), denominator(1u, x, y), denominator(2u, x, y));
    // Softmax over the P logits, recomputed in three passes instead of stored (P is not bounded).
    var mx = -3.4e38;
    for (var di = 0u; di < params.nd; di++) {
        for (var t = 0u; t < 8u; t++) {
            mx = max(mx, logit(x, y, dil[di], t, centre, den));
        }
    }
    var sum = 0.0;
    for (var di = 0u; di < params.nd; di++) {
        for (var t = 0u; t < 8u; t++) {
            sum += exp(logit(x, y, dil[di], t, centre, den) - mx);
        }
    }
    for (var di = 0u; di < params.nd; di++) {
        for (var t = 0u; t < 8u; t++) {
            aff_out[(di * 8u + t) * npix + i] = exp(logit(x, y, dil[di], t, centre, den) - mx) / sum;
        }
    }
}

@compute @workgroup_size(WG)
fn init(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let i = thread_index(wid, nwg, lid);
    let w = params.w;
    let hw = w * params.h;
    if (i >= hw) { return; }
    let ty = 3u * (i / w);
    let tx = 3u * params.h + 3u * (i % w);
    let ly = bitcast<f32>(taps[ty + 2u]);
    let lx = bitcast<f32>(taps[tx + 2u]);
    let r0 = taps[ty] * params.lw;
    let r1 = taps[ty + 1u] * params.lw;
    let l00 = lab[r0 + taps[tx]];
    let l01 = lab[r0 + taps[tx + 1u]];
    let l10 = lab[r1 + taps[tx]];
    let l11 = lab[r1 + taps[tx + 1u]];
    let nq = (params.kc + 3u) / 4u;
    for (var q = 0u; q < nq; q++) {
        var v = vec4<f32>(0.0);
        for (var l = 0u; l < 4u; l++) {
            let j = 4u * q + l;
            let k = params.k0 + j;
            let e00 = select(0.0, 1.0, l00 == k);
            let e01 = select(0.0, 1.0, l01 == k);
            let e10 = select(0.0, 1.0, l10 == k);
            let e11 = select(0.0, 1.0, l11 == k);
            // torch: h0λ·(w0λ·v00 + w1λ·v01) + h1λ·(w0λ·v10 + w1λ·v11)
            let m = (1.0 - ly) * ((1.0 - lx) * e00 + lx * e01) + ly * ((1.0 - lx) * e10 + lx * e11);
            v[l] = select(0.0, m, j < params.kc);
        }
        dst[q * hw + i] = v;
    }
}

@compute @workgroup_size(WG)
fn propagate(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
             @builtin(local_invocation_index) lid: u32) {
    let i = thread_index(wid, nwg, lid);
    let w = params.w;
    let h = params.h;
    let hw = w * h;
    let npix = params.rows * w;
    let nq = (params.kc + 3u) / 4u;
    if (i >= npix * nq) { return; }
    let q = i / npix;
    let r = i % npix;
    let x = i32(r % w);
    let y = i32(params.y0 + r / w);
    let base = q * hw;
    var acc = vec4<f32>(0.0);
    for (var di = 0u; di < params.nd; di++) {
        let d = dil[di];
        for (var t = 0u; t < 8u; t++) {
            let o = nbr(t);
            let n = cl(y + o.x * d, h) * w + cl(x + o.y * d, w);
            acc += aff[(di * 8u + t) * npix + r] * src[base + n];
        }
    }
    dst[base + u32(y) * w + u32(x)] = acc;
}

@compute @workgroup_size(WG)
fn argmax(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
          @builtin(local_invocation_index) lid: u32) {
    let i = thread_index(wid, nwg, lid);
    let hw = params.w * params.h;
    if (i >= hw) { return; }
    var b = 0.0;
    var l = 0u;
    var start = 0u;
    if (params.first == 1u) {
        b = src[i].x;
        l = params.k0;
        start = 1u;
    } else {
        b = best[i];
        l = arg[i];
    }
    // Strictly greater: the first label wins ties, as torch.argmax (chunks run in label order).
    for (var j = start; j < params.kc; j++) {
        let v = src[(j / 4u) * hw + i][j % 4u];
        if (v > b) {
            b = v;
            l = params.k0 + j;
        }
    }
    best[i] = b;
    arg[i] = l;
}

@compute @workgroup_size(WG)
fn median(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
          @builtin(local_invocation_index) lid: u32) {
    let i = thread_index(wid, nwg, lid);
    let w = params.w;
    let h = params.h;
    if (i >= w * h) { return; }
    let x = i32(i % w);
    let y = i32(i / w);
    var v: array<u32, 9>;
    for (var t = 0u; t < 9u; t++) {
        v[t] = arg_in[cl(y + i32(t / 3u) - 1, h) * w + cl(x + i32(t % 3u) - 1, w)];
    }
    // The 5th smallest: the value with at most 4 below it and at least 5 at or below it.
    var m = v[0];
    for (var a = 0u; a < 9u; a++) {
        var lt = 0u;
        var le = 0u;
        for (var b = 0u; b < 9u; b++) {
            lt += select(0u, 1u, v[b] < v[a]);
            le += select(0u, 1u, v[b] <= v[a]);
        }
        if (lt <= 4u && le >= 5u) { m = v[a]; }
    }
    labels_out[i] = m;
}
