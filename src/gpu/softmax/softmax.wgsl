// Attention's softmax on burn's wgpu device: y = softmax(scale · x) along each row of a contiguous
// x [rows, n] (the scores of one block of queries against all keys), in one kernel:
//   m = max_j scale·x[j],  s = Σ_j exp(scale·x[j] − m),  y[j] = exp(scale·x[j] − m) / s,
// as burn's softmax computes it on the scaled scores (so the same values up to the order of the
// sum). One workgroup per row: each thread takes the columns t, t + WORKGROUP, …, then a tree in
// workgroup memory combines the threads' maxima and sums (the same order on every device).
// All bindings read_write (burn shares buffers; see gpu/cube.rs).

struct Params {
    rows: u32,
    n: u32,
    // f32 bits of the scale.
    scale: u32,
    // Workgroups along x in the dispatch (the grid is 2-D when one row of rows would be too long).
    groups_x: u32,
}

@group(0) @binding(0) var<storage, read_write> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<storage, read_write> params: Params;

var<workgroup> tree: array<f32, WORKGROUP>;

// Combines the WORKGROUP values of `tree` by max (0) or sum (1); every thread gets the result.
fn combine(t: u32, v: f32, by_max: bool) -> f32 {
    tree[t] = v;
    workgroupBarrier();
    for (var half = WORKGROUP / 2u; half > 0u; half /= 2u) {
        if t < half {
            if by_max {
                tree[t] = max(tree[t], tree[t + half]);
            } else {
                tree[t] += tree[t + half];
            }
        }
        workgroupBarrier();
    }
    let r = tree[0];
    // Before the tree is used again.
    workgroupBarrier();
    return r;
}

@compute @workgroup_size(WORKGROUP)
fn main(@builtin(workgroup_id) group: vec3<u32>, @builtin(local_invocation_index) t: u32) {
    let p = params;
    let row = group.y * p.groups_x + group.x;
    // The grid's last workgroups may lie past the rows: they take no columns (no early return:
    // the barriers below must be reached by every thread, in control flow WGSL knows uniform).
    let n = select(0u, p.n, row < p.rows);
    let scale = bitcast<f32>(p.scale);
    let base = row * p.n;
    // The lowest finite f32.
    var m = -0x1.fffffep+127f;
    for (var j = t; j < n; j += WORKGROUP) {
        m = max(m, x[base + j] * scale);
    }
    m = combine(t, m, true);
    var s = 0.0;
    for (var j = t; j < n; j += WORKGROUP) {
        s += exp(x[base + j] * scale - m);
    }
    s = combine(t, s, false);
    for (var j = t; j < n; j += WORKGROUP) {
        y[base + j] = exp(x[base + j] * scale - m) / s;
    }
}
