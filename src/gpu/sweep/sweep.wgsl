// DiffCut's cut choice for every region of one tree level at once (docs/ALGORITHM.md §4.2), without moving W.
//
//   stats     sign flip (largest |y| positive, first position on ties within SIGN_TIE), then
//             θ_t = linspace(SPAN·min y, SPAN·max y, T)         one workgroup (WG) per segment
//   buckets   b_p = #{t : y_p > θ_t}: cell p is on the "1" side of thresholds t < b_p
//                                                                   one thread per position
//   rows      R[p][t] = Σ_{q ∈ S, b_q > t} W[p, q]   (p's association with A_t)
//                                                                   one workgroup (WG_T) per position
//   decide    assoc_t = Σ_{p: b_p > t} R[p][t], vol(A_t) = Σ_{p: b_p > t} d_p,
//             NCut_t = cut/vol(A_t) + cut/vol(B_t), cut = vol(A_t) − assoc_t; the first minimum
//                                                                   one workgroup (WG_T) per segment
//
// The constants (T = 100 thresholds, the output layout OUT…, NO_CUT, SPAN, SIGN_TIE, the workgroup
// sizes WG and WG_T ≥ T) are declared by the host in front of this file (sweep/mod.rs, SHARED).
//
// Bindings (group 0):
//   params  uniform { n }                    w_aff [n, n] f32    order [n] u32   seg [n] u32
//   ranges  [n_pos, n_seg, (start, len)…]     y [n] f32 (sign-flipped in place by `stats`)
//   bucket  [n] u32                           r [n·T] f32         dis [n] f32 (D^-1/2)
//   stats   [n_seg·4] f32: (lo, hi, 0, 0)     out [n_seg·OUT] f32: (ncut, t*, θ*, 0, curve[T])
// Long sums are compensated (Kahan) and run in a fixed order: results are identical run to run.
// Limits: ≤ 128 invocations per workgroup, ≤ 1 KiB of workgroup memory, ≤ 7 storage buffers.

struct Params {
    n: u32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> w_aff: array<f32>;
@group(0) @binding(2) var<storage, read> order: array<u32>;
@group(0) @binding(3) var<storage, read> seg: array<u32>;
@group(0) @binding(4) var<storage, read> ranges: array<u32>;
@group(0) @binding(5) var<storage, read_write> y: array<f32>;
@group(0) @binding(6) var<storage, read_write> bucket: array<u32>;
@group(0) @binding(7) var<storage, read_write> r: array<f32>;
@group(0) @binding(8) var<storage, read> dis: array<f32>;
@group(0) @binding(9) var<storage, read_write> stats: array<f32>;
@group(0) @binding(10) var<storage, read_write> out: array<f32>;

var<workgroup> fa: array<f32, WG_T>;
var<workgroup> ua: array<u32, WG_T>;

@compute @workgroup_size(WG)
fn stats_kernel(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let s = wid.x;
    if (s >= ranges[1]) { return; }
    let start = ranges[2u + 2u * s];
    let len = ranges[3u + 2u * s];
    // 1. max |y|
    var m = 0.0;
    for (var t = lid; t < len; t += WG) { m = max(m, abs(y[start + t])); }
    fa[lid] = m;
    workgroupBarrier();
    for (var stride = WG / 2u; stride > 0u; stride >>= 1u) {
        if (lid < stride) { fa[lid] = max(fa[lid], fa[lid + stride]); }
        workgroupBarrier();
    }
    let ymax = fa[0];
    workgroupBarrier();
    // 2. the first position whose |y| is within 1e-6 of it
    var first = 0xffffffffu;
    for (var t = lid; t < len; t += WG) {
        if (abs(y[start + t]) >= ymax * (1.0 - SIGN_TIE)) { first = min(first, t); }
    }
    ua[lid] = first;
    workgroupBarrier();
    for (var stride = WG / 2u; stride > 0u; stride >>= 1u) {
        if (lid < stride) { ua[lid] = min(ua[lid], ua[lid + stride]); }
        workgroupBarrier();
    }
    let sign = select(1.0, -1.0, y[start + min(ua[0], len - 1u)] < 0.0);
    workgroupBarrier();
    // 3. flip, then min and max
    var lo = 3.4e38;
    var hi = -3.4e38;
    for (var t = lid; t < len; t += WG) {
        let v = y[start + t] * sign;
        y[start + t] = v;
        lo = min(lo, v);
        hi = max(hi, v);
    }
    fa[lid] = lo;
    fa[WG + lid] = hi;
    workgroupBarrier();
    for (var stride = WG / 2u; stride > 0u; stride >>= 1u) {
        if (lid < stride) {
            fa[lid] = min(fa[lid], fa[lid + stride]);
            fa[WG + lid] = max(fa[WG + lid], fa[WG + lid + stride]);
        }
        workgroupBarrier();
    }
    if (lid == 0u) {
        stats[4u * s] = SPAN * fa[0];
        stats[4u * s + 1u] = SPAN * fa[WG];
    }
}

// θ_t as torch.linspace computes it: from the start for the first half, from the end after.
fn theta(s: u32, t: u32) -> f32 {
    let lo = stats[4u * s];
    let hi = stats[4u * s + 1u];
    let step = (hi - lo) / f32(T - 1u);
    if (t < T / 2u) { return lo + step * f32(t); }
    return hi - step * f32(T - 1u - t);
}

@compute @workgroup_size(WG)
fn buckets(@builtin(global_invocation_id) g: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let p = g.y * nwg.x * WG + g.x;
    if (p >= ranges[0]) { return; }
    let s = seg[p];
    let v = y[p];
    var b = 0u;
    for (var t = 0u; t < T; t++) {
        if (v > theta(s, t)) { b = t + 1u; }
    }
    bucket[p] = b;
}

@compute @workgroup_size(WG_T)
fn rows(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) t: u32) {
    let p = wid.y * nwg.x + wid.x;
    if (p >= ranges[0] || t >= T) { return; }
    if (bucket[p] <= t) {
        r[p * T + t] = 0.0;   // p is not in A_t: it contributes nothing there
        return;
    }
    let s = seg[p];
    let start = ranges[2u + 2u * s];
    let len = ranges[3u + 2u * s];
    let row = order[p] * params.n;
    var sum = 0.0;
    var comp = 0.0;
    for (var u = 0u; u < len; u++) {
        let pq = start + u;
        if (bucket[pq] > t) {
            let v = w_aff[row + order[pq]] - comp;
            let next = sum + v;
            comp = (next - sum) - v;
            sum = next;
        }
    }
    r[p * T + t] = sum;
}

@compute @workgroup_size(WG_T)
fn decide(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) t: u32) {
    let s = wid.x;
    if (s >= ranges[1]) { return; }
    let start = ranges[2u + 2u * s];
    let len = ranges[3u + 2u * s];
    var ncut = NO_CUT;
    if (t < T) {
        var assoc = 0.0;
        var ca = 0.0;
        var vol_a = 0.0;
        var cv = 0.0;
        var vol = 0.0;
        var cw = 0.0;
        for (var u = 0u; u < len; u++) {
            let p = start + u;
            let d = 1.0 / (dis[p] * dis[p]);
            let vv = d - cw;
            let nv = vol + vv;
            cw = (nv - vol) - vv;
            vol = nv;
            if (bucket[p] > t) {
                let a = r[p * T + t] - ca;
                let na = assoc + a;
                ca = (na - assoc) - a;
                assoc = na;
                let dv = d - cv;
                let nd = vol_a + dv;
                cv = (nd - vol_a) - dv;
                vol_a = nd;
            }
        }
        let vol_b = vol - vol_a;
        if (vol_a > 0.0 && vol_b > 0.0) {
            let cut = max(vol_a - assoc, 0.0);
            ncut = cut / vol_a + cut / vol_b;
        }
        out[OUT * s + OUT_CURVE + t] = ncut;
    }
    // The first minimum over t (torch.argmin): reduce (value, index) pairs.
    fa[t] = ncut;
    ua[t] = t;
    workgroupBarrier();
    for (var stride = WG_T / 2u; stride > 0u; stride >>= 1u) {
        if (t < stride) {
            let o = t + stride;
            if (fa[o] < fa[t] || (fa[o] == fa[t] && ua[o] < ua[t])) {
                fa[t] = fa[o];
                ua[t] = ua[o];
            }
        }
        workgroupBarrier();
    }
    if (t == 0u) {
        out[OUT * s + OUT_NCUT] = fa[0];
        out[OUT * s + OUT_T_STAR] = f32(ua[0]);
        out[OUT * s + OUT_THETA] = theta(s, ua[0]);
        out[OUT * s + OUT_THETA + 1u] = 0.0;
    }
}
