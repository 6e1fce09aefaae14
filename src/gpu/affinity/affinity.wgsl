// The DiffCut affinity W = minmax(X̂ X̂ᵀ)^α on the GPU (docs/ALGORITHM.md §3), in four entry points:
//
//   normalize  X̂_i = X_i / max(‖X_i‖, 1e-12)          one workgroup (64) per token row
//   gram       S = X̂ X̂ᵀ, TILE² tiles, + min/max per tile  one workgroup (TILE×TILE) per tile
//   minmax     lo = min S, hi = max S                   one workgroup (TILE_AREA)
//   power      W = ((S − lo) / (hi − lo))^α in place,    one thread per entry (2-D grid)
//              and zero_row[i] = 1 if row i holds an exact 0
//
// Bindings (group 0):
//   params    uniform { n, c, alpha, tiles_x }
//   x         [n, c] f32 row-major, the raw features; normalised in place by `normalize`
//   s         [n, n] f32 row-major: S, then W
//   partial   [tiles, 2] f32: per-tile (min, max)
//   minmax    [2] f32: (lo, hi)
//   zero_row  [n] atomic u32
//
// Every reduction runs in a fixed order, so results are identical run to run. S_ij and S_ji are
// summed over k in the same order from the same products, so S is exactly symmetric.
// TILE and TILE_AREA = TILE² are declared by the host in front of this file (affinity/mod.rs).
// Limits: workgroups of ≤ 256 invocations, 2 KiB of workgroup memory.

struct Params {
    n: u32,
    c: u32,
    alpha: f32,
    tiles_x: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read_write> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> s: array<f32>;
@group(0) @binding(3) var<storage, read_write> partial: array<f32>;
@group(0) @binding(4) var<storage, read_write> minmax: array<f32>;
@group(0) @binding(5) var<storage, read_write> zero_row: array<atomic<u32>>;

var<workgroup> red: array<f32, TILE_AREA>;
var<workgroup> red2: array<f32, TILE_AREA>;
var<workgroup> ta: array<array<f32, TILE>, TILE>;
var<workgroup> tb: array<array<f32, TILE>, TILE>;

@compute @workgroup_size(64)
fn normalize(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let row = wid.x;
    if (row >= params.n) { return; }
    let base = row * params.c;
    var acc = 0.0;
    for (var k = lid; k < params.c; k += 64u) {
        let v = x[base + k];
        acc += v * v;
    }
    red[lid] = acc;
    workgroupBarrier();
    for (var stride = 32u; stride > 0u; stride >>= 1u) {
        if (lid < stride) { red[lid] += red[lid + stride]; }
        workgroupBarrier();
    }
    let norm = max(sqrt(red[0]), 1e-12);
    for (var k = lid; k < params.c; k += 64u) {
        x[base + k] = x[base + k] / norm;
    }
}

@compute @workgroup_size(TILE, TILE)
fn gram(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let n = params.n;
    let c = params.c;
    let row = wid.y * TILE + l.y;   // i
    let col = wid.x * TILE + l.x;   // j
    // Tile (ty, tx) loads rows i of the ty block and rows j of the tx block of X̂.
    let arow = wid.y * TILE + l.y;
    let brow = wid.x * TILE + l.y;
    var acc = 0.0;
    for (var t = 0u; t < c; t += TILE) {
        let k = t + l.x;
        ta[l.y][l.x] = select(0.0, x[arow * c + k], arow < n && k < c);
        tb[l.y][l.x] = select(0.0, x[brow * c + k], brow < n && k < c);
        workgroupBarrier();
        for (var kk = 0u; kk < TILE; kk++) {
            acc += ta[l.y][kk] * tb[l.x][kk];
        }
        workgroupBarrier();
    }
    let inside = row < n && col < n;
    if (inside) { s[row * n + col] = acc; }
    red[lid] = select(3.4e38, acc, inside);
    red2[lid] = select(-3.4e38, acc, inside);
    workgroupBarrier();
    for (var stride = TILE_AREA / 2u; stride > 0u; stride >>= 1u) {
        if (lid < stride) {
            red[lid] = min(red[lid], red[lid + stride]);
            red2[lid] = max(red2[lid], red2[lid + stride]);
        }
        workgroupBarrier();
    }
    if (lid == 0u) {
        let tile = wid.y * params.tiles_x + wid.x;
        partial[2u * tile] = red[0];
        partial[2u * tile + 1u] = red2[0];
    }
}

@compute @workgroup_size(TILE_AREA)
fn reduce_minmax(@builtin(local_invocation_index) lid: u32) {
    let tiles = params.tiles_x * params.tiles_x;
    var lo = 3.4e38;
    var hi = -3.4e38;
    for (var t = lid; t < tiles; t += TILE_AREA) {
        lo = min(lo, partial[2u * t]);
        hi = max(hi, partial[2u * t + 1u]);
    }
    red[lid] = lo;
    red2[lid] = hi;
    workgroupBarrier();
    for (var stride = TILE_AREA / 2u; stride > 0u; stride >>= 1u) {
        if (lid < stride) {
            red[lid] = min(red[lid], red[lid + stride]);
            red2[lid] = max(red2[lid], red2[lid + stride]);
        }
        workgroupBarrier();
    }
    if (lid == 0u) {
        minmax[0] = red[0];
        minmax[1] = red2[0];
    }
}

// x^α for x in [0, 1]; α = 10 by repeated squaring, as the CPU path does.
fn pow_alpha(v: f32, alpha: f32) -> f32 {
    if (alpha == 10.0) {
        let v2 = v * v;
        let v4 = v2 * v2;
        let v8 = v4 * v4;
        return v8 * v2;
    }
    if (alpha == 1.0) { return v; }
    if (v <= 0.0) { return 0.0; }
    return pow(v, alpha);
}

@compute @workgroup_size(TILE, TILE)
fn power(@builtin(global_invocation_id) g: vec3<u32>) {
    let n = params.n;
    let i = g.y;
    let j = g.x;
    if (i >= n || j >= n) { return; }
    let lo = minmax[0];
    let hi = minmax[1];
    var w = 1.0;
    if (hi > lo) {
        w = pow_alpha((s[i * n + j] - lo) / (hi - lo), params.alpha);
    }
    s[i * n + j] = w;
    if (w == 0.0) { atomicOr(&zero_row[i], 1u); }
}
