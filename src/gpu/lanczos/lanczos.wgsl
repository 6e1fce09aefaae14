// Lanczos for the Fiedler vectors of every region of one tree level at once (docs/ALGORITHM.md §4.1).
//
// Regions ("segments") are laid out contiguously: position p holds cell order[p] of segment
// seg[p]; ranges = [n_pos, n_seg, start_0, len_0, start_1, len_1, ...], segment s owning positions
// start_s .. start_s + len_s, cells ascending. The counts live in `ranges` (not in the uniforms)
// because the GPU itself lays out the next level (`split.wgsl`) without a readback.
// For each segment S the operator is M_S = D_S^-1/2 W_S D_S^-1/2 with d = W_S·1, applied
// matrix-free by gathering W[order[p], order[q]] — no sub-matrix is ever copied. Every segment
// advances one Lanczos step per dispatch sequence:
//
//   matvec    w = M_S q_j                                   one workgroup (WG) per position
//   dots      c[s][i] = ⟨w, Q_i⟩_S for i < k                 one workgroup (WG) per (segment, i)
//   sub       w -= Σ_i c[s][i] Q_i                          one thread per position
//             (dots + sub twice: full re-orthogonalisation against √d and every Lanczos vector)
//   finish    α_j = c₁[s][1+j] + c₂[s][1+j], β_j = ‖w‖_S,
//             Q_{2+j} = w / β_j                             one workgroup (WG) per segment
//
// Q_0 = √d/‖√d‖ (the known top eigenvector, deflated), Q_{1+j} = the j-th Lanczos vector.
// Only α and β go back to the CPU (f64 tridiagonal solve); `ritz` then assembles
// y = D^-1/2 Σ_i s_i Q_{1+i} here from the CPU's coefficients.
//
// Bindings (group 0):
//   params  uniform (dynamic offset) { n, j, k, coef_off, dst, m, mode, coef2 }
//   w_aff   [n, n] f32 affinity          order [n] u32    seg [n] u32    ranges [2 + 2·n_seg] u32
//   dis     [n] f32: D^-1/2 per position  q [(m+2)·n] f32: the basis, vector i at i·n
//   w       [n] f32 work vector (y after `ritz`)
//   coef    [2·n_seg·(m+2)] f32 Gram–Schmidt coefficients (Ritz coefficients for `ritz`)
//   ab      [n_seg·m·2] f32: α_j, β_j per segment
// The constants (WG, the `finish` modes FINISH_NORMALISE and FINISH_STEP, BREAKDOWN) are declared
// by the host in front of this file (lanczos/mod.rs, SHARED).
// Every sum runs in a fixed order: results are identical run to run.
// Limits: 64 invocations per workgroup, 256 B of workgroup memory, ≤ 7 storage buffers per entry.

struct Params {
    n: u32,        // cells in the grid (row stride of w_aff, stride of q)
    j: u32,        // Lanczos step
    k: u32,        // basis vectors to orthogonalise against
    coef_off: u32, // offset of this pass's coefficients in `coef`
    dst: u32,      // basis slot written by `finish`
    m: u32,        // basis capacity m (α/β stride), slots m + 2
    mode: u32,     // finish: FINISH_NORMALISE, or FINISH_STEP (a Lanczos step: record α, β)
    coef2: u32,    // offset of the second pass's coefficients
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> w_aff: array<f32>;
@group(0) @binding(2) var<storage, read> order: array<u32>;
@group(0) @binding(3) var<storage, read> seg: array<u32>;
@group(0) @binding(4) var<storage, read> ranges: array<u32>;
@group(0) @binding(5) var<storage, read_write> dis: array<f32>;
@group(0) @binding(6) var<storage, read_write> q: array<f32>;
@group(0) @binding(7) var<storage, read_write> w: array<f32>;
@group(0) @binding(8) var<storage, read_write> coef: array<f32>;
@group(0) @binding(9) var<storage, read_write> ab: array<f32>;

var<workgroup> red: array<f32, WG>;

// Sum of red[0..WG] in a fixed tree order; the result is in red[0] for every invocation.
fn reduce_wg(lid: u32) {
    workgroupBarrier();
    for (var stride = WG / 2u; stride > 0u; stride >>= 1u) {
        if (lid < stride) { red[lid] += red[lid + stride]; }
        workgroupBarrier();
    }
}

fn wg_index(wid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return wid.y * nwg.x + wid.x;
}

// d_p = Σ_{q ∈ S} W[p, q]; dis = d^-1/2; Q_0 = √d (normalised later by `finish`).
@compute @workgroup_size(WG)
fn degrees(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
           @builtin(local_invocation_index) lid: u32) {
    let p = wg_index(wid, nwg);
    if (p >= ranges[0]) { return; }
    let s = seg[p];
    let start = ranges[2u + 2u * s];
    let len = ranges[3u + 2u * s];
    let row = order[p] * params.n;
    var acc = 0.0;
    for (var t = lid; t < len; t += WG) {
        acc += w_aff[row + order[start + t]];
    }
    red[lid] = acc;
    reduce_wg(lid);
    if (lid == 0u) {
        let d = max(red[0], 1e-30);
        dis[p] = 1.0 / sqrt(d);
        w[p] = sqrt(d);
    }
}

// A fixed pseudo-random start vector per segment: PCG hash of the position within the segment,
// (the CPU path uses SplitMix64 instead: the start vector only changes the Krylov basis, not the
// converged Fiedler vector).
fn pcg_hash(v: u32) -> u32 {
    let state = v * 747796405u + 2891336453u;
    let word = ((state >> ((state >> 28u) + 4u)) ^ state) * 277803737u;
    return (word >> 22u) ^ word;
}

@compute @workgroup_size(WG)
fn start(@builtin(global_invocation_id) g: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let p = g.y * nwg.x * WG + g.x;
    if (p >= ranges[0]) { return; }
    let local = p - ranges[2u + 2u * seg[p]];
    w[p] = f32(pcg_hash(local)) / 4294967296.0 * 2.0 - 1.0;
}

// w = M_S q_j, q_j = Q_{1+j}.
@compute @workgroup_size(WG)
fn matvec(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
          @builtin(local_invocation_index) lid: u32) {
    let p = wg_index(wid, nwg);
    if (p >= ranges[0]) { return; }
    let s = seg[p];
    let start = ranges[2u + 2u * s];
    let len = ranges[3u + 2u * s];
    let row = order[p] * params.n;
    let qv = (1u + params.j) * params.n;
    var acc = 0.0;
    for (var t = lid; t < len; t += WG) {
        let pq = start + t;
        acc += w_aff[row + order[pq]] * dis[pq] * q[qv + pq];
    }
    red[lid] = acc;
    reduce_wg(lid);
    if (lid == 0u) { w[p] = dis[p] * red[0]; }
}

// coef[coef_off + s·(m+2) + i] = ⟨w, Q_i⟩ over segment s, for i < k. Grid: (n_seg, k).
@compute @workgroup_size(WG)
fn dots(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let s = wid.x;
    let i = wid.y;
    if (s >= ranges[1] || i >= params.k) { return; }
    let start = ranges[2u + 2u * s];
    let len = ranges[3u + 2u * s];
    let qv = i * params.n;
    var acc = 0.0;
    for (var t = lid; t < len; t += WG) {
        acc += w[start + t] * q[qv + start + t];
    }
    red[lid] = acc;
    reduce_wg(lid);
    if (lid == 0u) { coef[params.coef_off + s * (params.m + 2u) + i] = red[0]; }
}

// w -= Σ_{i<k} c_i Q_i.
@compute @workgroup_size(WG)
fn sub(@builtin(global_invocation_id) g: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let p = g.y * nwg.x * WG + g.x;
    if (p >= ranges[0]) { return; }
    let base = params.coef_off + seg[p] * (params.m + 2u);
    var v = w[p];
    for (var i = 0u; i < params.k; i++) {
        v -= coef[base + i] * q[i * params.n + p];
    }
    w[p] = v;
}

// Q_dst = w / ‖w‖ per segment. Mode FINISH_STEP (a Lanczos step j) also records α_j and β_j.
// A vector that vanished (β below f32 noise: the Krylov space is exhausted) is stored as 0.
@compute @workgroup_size(WG)
fn finish(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let s = wid.x;
    if (s >= ranges[1]) { return; }
    let start = ranges[2u + 2u * s];
    let len = ranges[3u + 2u * s];
    var acc = 0.0;
    for (var t = lid; t < len; t += WG) {
        let v = w[start + t];
        acc += v * v;
    }
    red[lid] = acc;
    reduce_wg(lid);
    let beta = sqrt(red[0]);
    let inv = select(0.0, 1.0 / beta, beta > BREAKDOWN);
    let dst = params.dst * params.n;
    for (var t = lid; t < len; t += WG) {
        q[dst + start + t] = w[start + t] * inv;
    }
    if (params.mode == FINISH_STEP && lid == 0u) {
        let stride = params.m + 2u;
        let slot = 1u + params.j;
        let alpha = coef[s * stride + slot] + coef[params.coef2 + s * stride + slot];
        ab[2u * (s * params.m + params.j)] = alpha;
        ab[2u * (s * params.m + params.j) + 1u] = beta;
    }
}

// y = D^-1/2 Σ_{i<k} s_i Q_{1+i}, the Ritz vector, with s from coef[seg·m + i].
@compute @workgroup_size(WG)
fn ritz(@builtin(global_invocation_id) g: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let p = g.y * nwg.x * WG + g.x;
    if (p >= ranges[0]) { return; }
    let base = seg[p] * params.m;
    var v = 0.0;
    for (var i = 0u; i < params.k; i++) {
        v += coef[base + i] * q[(1u + i) * params.n + p];
    }
    w[p] = v * dis[p];
}
