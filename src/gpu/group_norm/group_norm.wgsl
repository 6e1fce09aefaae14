// GroupNorm on burn's wgpu device, for the diffusion model: per-(item, group) sums in two steps,
// and the normalization (+ SiLU) in one pass.
//
// Item b's group g of x [B, C, H, W] (channels g·C/G … (g + 1)·C/G − 1) is a run of
// L = (C/G)·H·W values, bg = b·G + g numbering the runs; its k-th value, k = (ci·H + y)·W + x
// (ci the channel within the group), lies at b·s_b + (g·C/G + ci)·s_c + y·s_y + x·s_x in x's
// buffer: any layout burn hands over (a band of rows of a larger map, say), one run after the
// other when x is contiguous.
//
//   group_sums:   each workgroup sums one chunk of CHUNK values of a run (x, or (x − mean[bg])²),
//                 WORKGROUP threads ITEMS values each, then a tree in workgroup memory:
//                 partial[bg·chunks + chunk].
//   group_finish: one thread per run adds its chunks' partials in order: sums[bg].
//   group_apply:  y = ((x − mean[bg]) / std[bg]) · γ[c] + β[c], then SiLU (y · sigmoid(y)) if
//                 asked, APPLY_ITEMS values per thread.
//
// Every sum is taken in the same order on every device (the rounding of each step, an fma or
// not, is the device's).
// Bindings are all read_write (burn shares buffers between tensors; see gpu/cube.rs), numbered
// per entry point: each uses all of its own.

// x's geometry, as both group_sums and group_apply read it.
struct Map {
    // Groups, channels per group, H, W.
    groups: u32,
    group_c: u32,
    h: u32,
    w: u32,
    // x's strides in elements (b, c, y, x).
    s_b: u32,
    s_c: u32,
    s_y: u32,
    s_x: u32,
}

// Where the k-th value of run bg lies in x.
fn at(m: Map, bg: u32, k: u32) -> u32 {
    let b = bg / m.groups;
    let c = (bg - b * m.groups) * m.group_c + k / (m.h * m.w);
    let r = k % (m.h * m.w);
    let y = r / m.w;
    return b * m.s_b + c * m.s_c + y * m.s_y + (r - y * m.w) * m.s_x;
}

struct SumParams {
    map: Map,
    // Values per run (L), chunks per run.
    len: u32,
    chunks: u32,
    // 1: sum (x − mean[bg])² instead of x.
    centred: u32,
}

struct FinishParams {
    runs: u32,
    chunks: u32,
}

struct ApplyParams {
    map: Map,
    // Values in x (B·C·H·W), per run (L), per channel (H·W), channels (C).
    total: u32,
    len: u32,
    hw: u32,
    c: u32,
    // 1: SiLU after the affine map.
    silu: u32,
    // Workgroups along x in the dispatch (the grid is 2-D when one row would be too long).
    groups_x: u32,
}

@group(0) @binding(0) var<storage, read_write> sum_x: array<f32>;
@group(0) @binding(1) var<storage, read_write> sum_mean: array<f32>;
@group(0) @binding(2) var<storage, read_write> sum_partial: array<f32>;
@group(0) @binding(3) var<storage, read_write> sum_params: SumParams;

var<workgroup> tree: array<f32, WORKGROUP>;

@compute @workgroup_size(WORKGROUP)
fn group_sums(@builtin(workgroup_id) group: vec3<u32>, @builtin(local_invocation_index) t: u32) {
    let p = sum_params;
    let bg = group.y;
    let chunk = group.x;
    // (Read only when used: the plain sums bind a stand-in of one value.)
    var m = 0.0;
    if p.centred == 1u {
        m = sum_mean[bg];
    }
    var s = 0.0;
    for (var i = 0u; i < ITEMS; i++) {
        let k = chunk * CHUNK + i * WORKGROUP + t;
        if k < p.len {
            // DENSE (a constant of the pipeline): x is contiguous, the runs one after the other,
            // and the k-th value of run bg is at bg·L + k, without the divisions of `at`.
            var idx = bg * p.len + k;
            if DENSE == 0u {
                idx = at(p.map, bg, k);
            }
            let v = sum_x[idx];
            if p.centred == 1u {
                let d = v - m;
                s += d * d;
            } else {
                s += v;
            }
        }
    }
    tree[t] = s;
    workgroupBarrier();
    for (var half = WORKGROUP / 2u; half > 0u; half /= 2u) {
        if t < half {
            tree[t] += tree[t + half];
        }
        workgroupBarrier();
    }
    if t == 0u {
        sum_partial[bg * p.chunks + chunk] = tree[0];
    }
}

@group(0) @binding(0) var<storage, read_write> fin_partial: array<f32>;
@group(0) @binding(1) var<storage, read_write> fin_sums: array<f32>;
@group(0) @binding(2) var<storage, read_write> fin_params: FinishParams;

@compute @workgroup_size(WORKGROUP)
fn group_finish(@builtin(global_invocation_id) id: vec3<u32>) {
    let p = fin_params;
    let bg = id.x;
    if bg >= p.runs {
        return;
    }
    var s = 0.0;
    for (var i = 0u; i < p.chunks; i++) {
        s += fin_partial[bg * p.chunks + i];
    }
    fin_sums[bg] = s;
}

@group(0) @binding(0) var<storage, read_write> app_x: array<f32>;
@group(0) @binding(1) var<storage, read_write> app_mean: array<f32>;
@group(0) @binding(2) var<storage, read_write> app_std: array<f32>;
@group(0) @binding(3) var<storage, read_write> app_gamma: array<f32>;
@group(0) @binding(4) var<storage, read_write> app_beta: array<f32>;
@group(0) @binding(5) var<storage, read_write> app_y: array<f32>;
@group(0) @binding(6) var<storage, read_write> app_params: ApplyParams;

@compute @workgroup_size(WORKGROUP)
fn group_apply(@builtin(workgroup_id) group: vec3<u32>, @builtin(local_invocation_index) t: u32) {
    let p = app_params;
    let first = (group.y * p.groups_x + group.x) * (WORKGROUP * APPLY_ITEMS);
    for (var i = 0u; i < APPLY_ITEMS; i++) {
        let e = first + i * WORKGROUP + t;
        if e < p.total {
            // y is contiguous: its e-th value is the (e mod L)-th of run e / L.
            let bg = e / p.len;
            let c = (e / p.hw) % p.c;
            var idx = e;
            if DENSE == 0u {
                idx = at(p.map, bg, e - bg * p.len);
            }
            var v = (app_x[idx] - app_mean[bg]) / app_std[bg] * app_gamma[c] + app_beta[c];
            if p.silu == 1u {
                v = v * (1.0 / (1.0 + exp(-v)));
            }
            app_y[e] = v;
        }
    }
}
