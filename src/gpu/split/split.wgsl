// The next tree level's layout, made on the GPU from this level's decisions, so that a level costs
// one readback (docs/ALGORITHM.md §4.3). The rule is `ncut::split`, which `gpu/tree.rs` runs in f32 to mirror it.
//
//   count    per segment s: accepted = NCut_s < τ_max; side_p = 0 (y_p > θ*: the "1" side, B),
//            1 (the rest), 2 (dropped: not accepted, or an excluded cell — the official
//            zero-as-marker rule); child sizes, 0 for a child of < 2 cells (a leaf: no more work)
//                                                         one thread per segment
//   scan     children numbered in order (s, then its "1" side first), positions packed
//                                                         one thread
//   scatter  order', seg' for every kept position, ascending within each child
//                                                         one thread per segment
//
// Bindings (group 0):
//   params    uniform { tau_max: f32, use_excluded: u32 }
//   ranges    [n_pos, n_seg, (start, len)…] u32 this level      y [n] f32 Fiedler vectors
//   out       [n_seg·OUT] f32 decisions (ncut, t*, θ*, …)        excluded [n] u32 per cell
//   order     [n] u32 this level           side [n] u32            counts [2n] u32
//   next      [n_pos', n_seg', (start, len)…] u32                 order2, seg2 [n] u32
// The constants (OUT, OUT_NCUT, OUT_THETA: sweep.wgsl's output layout; WG) are declared by the host
// in front of this file (split/mod.rs, SHARED).
// Sequential loops in one thread per segment: the work is O(n) per level, nothing next to the
// O(n²) Lanczos steps, and the order is trivially deterministic.

struct Params {
    tau_max: f32,
    use_excluded: u32,
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> ranges: array<u32>;
@group(0) @binding(2) var<storage, read> y: array<f32>;
@group(0) @binding(3) var<storage, read> out: array<f32>;
@group(0) @binding(4) var<storage, read> excluded: array<u32>;
@group(0) @binding(5) var<storage, read> order: array<u32>;
@group(0) @binding(6) var<storage, read_write> side: array<u32>;
@group(0) @binding(7) var<storage, read_write> counts: array<u32>;
@group(0) @binding(8) var<storage, read_write> next: array<u32>;
@group(0) @binding(9) var<storage, read_write> order2: array<u32>;
@group(0) @binding(10) var<storage, read_write> seg2: array<u32>;

@compute @workgroup_size(WG)
fn count(@builtin(global_invocation_id) g: vec3<u32>) {
    let s = g.x;
    if (s >= ranges[1]) { return; }
    let start = ranges[2u + 2u * s];
    let len = ranges[3u + 2u * s];
    let ncut = out[OUT * s + OUT_NCUT];
    let theta = out[OUT * s + OUT_THETA];
    let accepted = ncut < params.tau_max;
    var a = 0u;
    var b = 0u;
    for (var u = 0u; u < len; u++) {
        let p = start + u;
        var sd = select(1u, 0u, y[p] > theta);
        if (!accepted || (params.use_excluded != 0u && excluded[order[p]] != 0u)) { sd = 2u; }
        side[p] = sd;
        if (sd == 0u) { a += 1u; }
        if (sd == 1u) { b += 1u; }
    }
    counts[2u * s] = select(0u, a, a >= 2u);
    counts[2u * s + 1u] = select(0u, b, b >= 2u);
}

@compute @workgroup_size(1)
fn scan() {
    let children = 2u * ranges[1];
    var pos = 0u;
    var id = 0u;
    for (var i = 0u; i < children; i++) {
        let len = counts[i];
        if (len > 0u) {
            next[2u + 2u * id] = pos;
            next[3u + 2u * id] = len;
            counts[i] = id + 1u;      // from here on: 1 + the child's new segment id, or 0
            pos += len;
            id += 1u;
        } else {
            counts[i] = 0u;
        }
    }
    next[0] = pos;
    next[1] = id;
}

@compute @workgroup_size(WG)
fn scatter(@builtin(global_invocation_id) g: vec3<u32>) {
    let s = g.x;
    if (s >= ranges[1]) { return; }
    let start = ranges[2u + 2u * s];
    let len = ranges[3u + 2u * s];
    var fill = array<u32, 2>(0u, 0u);
    for (var u = 0u; u < len; u++) {
        let p = start + u;
        let sd = side[p];
        if (sd < 2u) {
            let child = counts[2u * s + sd];
            if (child > 0u) {
                let id = child - 1u;
                let at = next[2u + 2u * id] + fill[sd];
                order2[at] = order[p];
                seg2[at] = id;
                fill[sd] += 1u;
            }
        }
    }
}
