// Lanczos for the Fiedler vectors of every region of one tree level at once (docs/ALGORITHM.md §4.1).
//
// Regions ("segments") are laid out contiguously: position p holds cell order[p] of segment
// seg[p]; ranges = [n_pos, n_seg, start_0, len_0, start_1, len_1, ...], segment s owning positions
// start_s .. start_s + len_s, cells ascending. The counts live in `ranges` (not in the uniforms)
// because the GPU itself lays out the next level (`split.wgsl`) without a readback.
// For each segment S the operator is M_S = D_S^-1/2 W_S D_S^-1/2 with d = W_S·1, applied
// matrix-free by gathering W[order[p], order[q]] — no sub-matrix is ever copied.
//
// `region`: one workgroup runs a segment's Lanczos process, steps first..last of it per dispatch
// (the host's `lanczos::plan`), so a level costs a few dispatches whatever the number of steps:
// with a dispatch per kernel per step, dispatch overhead was most of the run (BENCHMARKS.md).
// Invocation `lid` owns positions start + lid + RG·i. The operator's rows are read as columns
// (W is symmetric), so each invocation sums its own entries of M_S q over the segment in a fixed
// order and needs no reduction; the dot products reduce over the workgroup in a fixed tree order.
// No dispatch boundary between steps: barriers order them (storage barriers where Q_{1+j} and
// D^-1/2, read by every invocation, are written).
//
//   degrees   d = W_S·1, D^-1/2, Q_0 = √d/‖√d‖ (the known top eigenvector, deflated)
//   start     a fixed pseudo-random vector, orthogonalised against Q_0 twice → Q_1
//   step j    w = M_S Q_{1+j}; w -= Σ_i ⟨w, Q_i⟩ Q_i over i ≤ 1+j, twice (full
//             re-orthogonalisation, classical Gram–Schmidt); α_j = the two passes' coefficients
//             of Q_{1+j}, β_j = ‖w‖, Q_{2+j} = w / β_j
//
// Only α and β go back to the CPU (f64 tridiagonal solve); `ritz` then assembles
// y = D^-1/2 Σ_i s_i Q_{1+i} here from the CPU's coefficients.
//
// Bindings (group 0):
//   params  uniform (dynamic offset) { n, m, setup, first, last }
//   w_aff   [n, n] f32 affinity          order [n] u32    seg [n] u32    ranges [2 + 2·n_seg] u32
//   dis     [n] f32: D^-1/2 per position  q [(m+2)·n] f32: the basis, vector i at i·n
//   w       [n] f32 work vector (y after `ritz`)
//   coef    [n_seg·m] f32 Ritz coefficients from the CPU
//   ab      [n_seg·m·2] f32: α_j, β_j per segment
// The constants (WG, RG, BATCH, BASIS, TERMS, COLS, ROWS, BREAKDOWN) are declared by the host in front of this file
// (lanczos/mod.rs, SHARED).
// Every sum runs in a fixed order: results are identical run to run.
// Limits: 256 invocations per workgroup, 16 KiB of workgroup memory, ≤ 7 storage buffers per entry.

struct Params {
    n: u32,     // cells in the grid (row stride of w_aff, stride of q)
    m: u32,     // basis capacity m (α/β stride, Ritz coefficients per segment), slots m + 2
    setup: u32, // `region`: 1 when this dispatch begins with the degrees, Q_0 and Q_1
    first: u32, // `region`: the first Lanczos step of this dispatch
    last: u32,  // `region`: one past its last step
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

// BATCH rows of RG partial sums, reduced together.
var<workgroup> red: array<f32, BATCH * RG>;
// One Gram–Schmidt pass's coefficients ⟨w, Q_i⟩.
var<workgroup> gs: array<f32, BASIS>;

// Sums rows 0..rows of `red` (RG entries each) in a fixed tree order into red[b·RG].
fn reduce_rows(lid: u32, rows: u32) {
    workgroupBarrier();
    for (var stride = RG / 2u; stride > 0u; stride >>= 1u) {
        if (lid < stride) {
            for (var b = 0u; b < rows; b++) {
                red[b * RG + lid] += red[b * RG + lid + stride];
            }
        }
        workgroupBarrier();
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

// One classical Gram–Schmidt pass of w against Q_0 .. Q_{k-1} over the segment; returns the
// coefficient of Q_{k-1}. Every invocation reads and writes only its own positions of w.
fn project(lid: u32, start: u32, len: u32, k: u32) -> f32 {
    let n = params.n;
    for (var i0 = 0u; i0 < k; i0 += BATCH) {
        let rows = min(BATCH, k - i0);
        for (var b = 0u; b < rows; b++) {
            let qi = (i0 + b) * n;
            var acc = 0.0;
            for (var t = lid; t < len; t += RG) {
                acc += w[start + t] * q[qi + start + t];
            }
            red[b * RG + lid] = acc;
        }
        reduce_rows(lid, rows);
        if (lid < rows) { gs[i0 + lid] = red[lid * RG]; }
        workgroupBarrier();
    }
    for (var t = lid; t < len; t += RG) {
        let p = start + t;
        var v = w[p];
        for (var i = 0u; i < k; i++) {
            v -= gs[i] * q[i * n + p];
        }
        w[p] = v;
    }
    return workgroupUniformLoad(&gs[k - 1u]);
}

// Q_dst = w / ‖w‖ over the segment; returns ‖w‖. A vector that vanished (‖w‖ below f32 noise:
// the Krylov space is exhausted) is stored as 0.
fn normalise(lid: u32, start: u32, len: u32, dst: u32) -> f32 {
    var acc = 0.0;
    for (var t = lid; t < len; t += RG) {
        let v = w[start + t];
        acc += v * v;
    }
    red[lid] = acc;
    reduce_rows(lid, 1u);
    let beta = sqrt(workgroupUniformLoad(&red[0]));
    let inv = select(0.0, 1.0 / beta, beta > BREAKDOWN);
    let base = dst * params.n;
    for (var t = lid; t < len; t += RG) {
        q[base + start + t] = w[start + t] * inv;
    }
    // Q_dst is read by every invocation next (the operator, the dot products).
    storageBarrier();
    return beta;
}

// x_r of `column`: 1 for the degrees (when dis is being written: not read), dis_r q_r for the
// operator.
fn x_at(pr: u32, qv: u32, degrees: bool) -> f32 {
    if (degrees) { return 1.0; }
    return dis[pr] * q[qv + pr];
}

// Σ_r W[order[start + r], col] x_r over the segment, r ascending, TERMS = 4 terms per iteration
// written out (llvmpipe ends an invocation after 65 535 loop iterations: see
// `lanczos::ITERATION_BUDGET`).
fn column(start: u32, len: u32, col: u32, qv: u32, degrees: bool) -> f32 {
    let n = params.n;
    var acc = 0.0;
    var r = 0u;
    for (; r + TERMS <= len; r += TERMS) {
        let p = start + r;
        acc += w_aff[order[p] * n + col] * x_at(p, qv, degrees);
        acc += w_aff[order[p + 1u] * n + col] * x_at(p + 1u, qv, degrees);
        acc += w_aff[order[p + 2u] * n + col] * x_at(p + 2u, qv, degrees);
        acc += w_aff[order[p + 3u] * n + col] * x_at(p + 3u, qv, degrees);
    }
    for (; r < len; r++) {
        acc += w_aff[order[start + r] * n + col] * x_at(start + r, qv, degrees);
    }
    return acc;
}

// Row p's entries in the four columns `cols`, times x_p.
fn row4(p: u32, cols: vec4<u32>, qv: u32, degrees: bool) -> vec4<f32> {
    let a = order[p] * params.n;
    let v = vec4<f32>(w_aff[a + cols.x], w_aff[a + cols.y], w_aff[a + cols.z], w_aff[a + cols.w]);
    return v * x_at(p, qv, degrees);
}

// w[start + t] = Σ_r W[order[start + r], order[start + t]] x_r for every position t this
// invocation owns: r ascending, one running sum per column, however the columns are grouped. A
// region of more than RG cells takes its columns COLS = 4 at a time, ROWS = 8 rows written out
// per iteration: 32 loads in flight per invocation. One workgroup per region hides the loads'
// latency only with many in flight: with 8 (two rows), an H200 took 121 ms for a 32² tree, with
// 32 108 ms, and at 64² 1066 against 720 ms (BENCHMARKS.md, "On a real GPU"). A smaller region
// takes its single column alone.
fn column_sums(lid: u32, start: u32, len: u32, qv: u32, degrees: bool) {
    if (len <= RG) {
        if (lid < len) { w[start + lid] = column(start, len, order[start + lid], qv, degrees); }
        return;
    }
    for (var t = lid; t < len; t += COLS * RG) {
        // Columns past the region repeat the first (a load already made) and are not stored.
        let t1 = select(t, t + RG, t + RG < len);
        let t2 = select(t, t + 2u * RG, t + 2u * RG < len);
        let t3 = select(t, t + 3u * RG, t + 3u * RG < len);
        let cols = vec4<u32>(order[start + t], order[start + t1], order[start + t2], order[start + t3]);
        var acc = vec4<f32>();
        var r = 0u;
        for (; r + ROWS <= len; r += ROWS) {
            var p = start + r;
            acc += row4(p, cols, qv, degrees);
            p++;
            acc += row4(p, cols, qv, degrees);
            p++;
            acc += row4(p, cols, qv, degrees);
            p++;
            acc += row4(p, cols, qv, degrees);
            p++;
            acc += row4(p, cols, qv, degrees);
            p++;
            acc += row4(p, cols, qv, degrees);
            p++;
            acc += row4(p, cols, qv, degrees);
            p++;
            acc += row4(p, cols, qv, degrees);
        }
        for (; r < len; r++) { acc += row4(start + r, cols, qv, degrees); }
        w[start + t] = acc.x;
        if (t1 != t) { w[start + t1] = acc.y; }
        if (t2 != t) { w[start + t2] = acc.z; }
        if (t3 != t) { w[start + t3] = acc.w; }
    }
}

@compute @workgroup_size(RG)
fn region(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
          @builtin(local_invocation_index) lid: u32) {
    let s = wid.y * nwg.x + wid.x;
    if (s >= ranges[1]) { return; }
    let n = params.n;
    let start = ranges[2u + 2u * s];
    let len = ranges[3u + 2u * s];
    // A segment of len cells has len − 1 Lanczos vectors orthogonal to Q_0. After a breakdown the
    // steps go on with a zero vector (α = β = 0), so a later dispatch needs no state but Q.
    let steps = min(params.m, len - 1u);

    if (params.setup == 1u) {
        // Degrees: d_c = Σ_r W[r, c] over the segment, a column sum (= the row sum: W is symmetric).
        column_sums(lid, start, len, 0u, true);
        for (var t = lid; t < len; t += RG) {
            let d = max(w[start + t], 1e-30);
            dis[start + t] = 1.0 / sqrt(d);
            w[start + t] = sqrt(d);
        }
        // dis is read by every invocation in the operator (made visible by normalise's barrier).
        normalise(lid, start, len, 0u);
        for (var t = lid; t < len; t += RG) {
            w[start + t] = f32(pcg_hash(t)) / 4294967296.0 * 2.0 - 1.0;
        }
        project(lid, start, len, 1u);
        project(lid, start, len, 1u);
        normalise(lid, start, len, 1u);
    }

    for (var j = params.first; j < min(params.last, steps); j++) {
        // w = M_S Q_{1+j}
        let qv = (1u + j) * n;
        column_sums(lid, start, len, qv, false);
        for (var t = lid; t < len; t += RG) {
            w[start + t] *= dis[start + t];
        }
        let alpha = project(lid, start, len, j + 2u) + project(lid, start, len, j + 2u);
        let beta = normalise(lid, start, len, j + 2u);
        if (lid == 0u) {
            ab[2u * (s * params.m + j)] = alpha;
            ab[2u * (s * params.m + j) + 1u] = beta;
        }
    }
}

// y = D^-1/2 Σ_{i<m} s_i Q_{1+i}, the Ritz vector, with s from coef[seg·m + i].
@compute @workgroup_size(WG)
fn ritz(@builtin(global_invocation_id) g: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let p = g.y * nwg.x * WG + g.x;
    if (p >= ranges[0]) { return; }
    let base = seg[p] * params.m;
    var v = 0.0;
    for (var i = 0u; i < params.m; i++) {
        v += coef[base + i] * q[(1u + i) * params.n + p];
    }
    w[p] = v * dis[p];
}
