// A 3×3 stride-1 convolution by Winograd's minimal filtering F(2×2, 3×3) (Lavin & Gray, "Fast
// Algorithms for Convolutional Neural Networks", CVPR 2016): each 2×2 block of outputs ("tile") of
// one output channel is
//   Y = Aᵀ [ Σ_ci (G g_ci Gᵀ) ⊙ (Bᵀ d_ci B) ] A,
// g_ci the 3×3 kernel of input channel ci, d_ci the 4×4 patch of that channel under the tile,
// ⊙ the element-wise product, with
//   Bᵀ = [1 0 −1 0; 0 1 1 0; 0 −1 1 0; 0 1 0 −1],  G = [1 0 0; ½ ½ ½; ½ −½ ½; 0 0 1],
//   Aᵀ = [1 1 1 0; 0 1 −1 −1].
// For each of the 16 positions ξ of the 4×4 transformed tile, the sum over ci is a matrix product,
//   M_ξ [C_out, tiles] = U_ξ [C_out, C_in] · V_ξ [C_in, tiles],
// which our GEMM (gpu/gemm) computes, 16 at once; these three kernels make U and V and take Y
// from M. 16 multiply-adds per input channel make 4 outputs where the direct convolution takes
// 36: 2.25× fewer. The transforms are reads and writes of the tensors, and cheap beside that.
//
// Tiles are numbered (b, ty, tx) row-major over the batch, tiles_h = ⌈H'/2⌉ rows of
// tiles_w = ⌈W'/2⌉. The host (gpu/winograd/mod.rs) takes them a chunk at a time, tiles
// t0 … t0 + t_len − 1, so that V and M stay within a memory budget whatever the map's size.
// All bindings read_write (burn shares buffers; see gpu/cube.rs).

// ---- U = G g Gᵀ: weight [C_out, C_in, 3, 3] (contiguous) → u [16, C_out, C_in].

struct WeightParams {
    // C_out · C_in.
    pairs: u32,
    // Workgroups along x in the dispatch (a 2-D grid past 65 535 workgroups).
    groups_x: u32,
}

@group(0) @binding(0) var<storage, read_write> w_in: array<f32>;
@group(0) @binding(1) var<storage, read_write> w_out: array<f32>;
@group(0) @binding(2) var<storage, read_write> w_params: WeightParams;

// G r for a kernel row (or column) r = (r0, r1, r2).
fn g_times(r0: f32, r1: f32, r2: f32) -> vec4<f32> {
    return vec4<f32>(r0, 0.5 * (r0 + r1 + r2), 0.5 * (r0 - r1 + r2), r2);
}

@compute @workgroup_size(WORKGROUP)
fn winograd_weight(@builtin(workgroup_id) group: vec3<u32>, @builtin(local_invocation_index) t: u32) {
    let pairs = w_params.pairs;
    // One (co, ci) pair per thread: its kernel is the 9 values at 9·pair (co·C_in + ci = pair).
    let pair = (group.y * w_params.groups_x + group.x) * WORKGROUP + t;
    if pair >= pairs {
        return;
    }
    let g = 9u * pair;
    // G g: the columns of g through G, as rows c0…c2 of Gg's transpose…
    let c0 = g_times(w_in[g], w_in[g + 3u], w_in[g + 6u]);
    let c1 = g_times(w_in[g + 1u], w_in[g + 4u], w_in[g + 7u]);
    let c2 = g_times(w_in[g + 2u], w_in[g + 5u], w_in[g + 8u]);
    // …then (G g) Gᵀ: row i is G applied to row i of G g, i.e. to (c0[i], c1[i], c2[i]).
    for (var i = 0u; i < TILE_IN; i++) {
        let row = g_times(c0[i], c1[i], c2[i]);
        for (var j = 0u; j < TILE_IN; j++) {
            w_out[(TILE_IN * i + j) * pairs + pair] = row[j];
        }
    }
}

// ---- V = Bᵀ d B: x [B, C_in, H, W] (any strides) → v [16, C_in, t_len].

struct InputParams {
    c_in: u32,
    h: u32,
    w: u32,
    tiles_h: u32,
    tiles_w: u32,
    // The chunk: tiles t0 … t0 + t_len − 1.
    t0: u32,
    t_len: u32,
    pad_top: u32,
    pad_left: u32,
    // x's strides in elements (b, c, y, x).
    x_b: u32,
    x_c: u32,
    x_y: u32,
    x_x: u32,
    groups_x: u32,
}

@group(0) @binding(0) var<storage, read_write> in_x: array<f32>;
@group(0) @binding(1) var<storage, read_write> in_v: array<f32>;
@group(0) @binding(2) var<storage, read_write> in_params: InputParams;

var<private> ip: InputParams;

// x at (item offset, row, column), zero outside the map (the convolution's padding).
fn x_at(base: u32, iy: i32, ix: i32) -> f32 {
    if iy >= 0 && iy < i32(ip.h) && ix >= 0 && ix < i32(ip.w) {
        return in_x[base + u32(iy) * ip.x_y + u32(ix) * ip.x_x];
    }
    return 0.0;
}

// Row r of the 4×4 patch whose top-left input pixel is (iy, ix).
fn patch_row(base: u32, iy: i32, ix: i32) -> vec4<f32> {
    return vec4<f32>(x_at(base, iy, ix), x_at(base, iy, ix + 1), x_at(base, iy, ix + 2), x_at(base, iy, ix + 3));
}

// r B for a row r of a 4×4 matrix (Bᵀ applied to the row as a column).
fn times_b(r: vec4<f32>) -> vec4<f32> {
    return vec4<f32>(r.x - r.z, r.y + r.z, r.z - r.y, r.y - r.w);
}

@compute @workgroup_size(WORKGROUP)
fn winograd_input(@builtin(workgroup_id) group: vec3<u32>, @builtin(local_invocation_index) t: u32) {
    ip = in_params;
    // One (ci, tile of the chunk) per thread, neighbouring threads on neighbouring tiles.
    let id = (group.y * ip.groups_x + group.x) * WORKGROUP + t;
    if id >= ip.c_in * ip.t_len {
        return;
    }
    let ci = id / ip.t_len;
    let local = id - ci * ip.t_len;
    let tile = ip.t0 + local;
    let per_item = ip.tiles_h * ip.tiles_w;
    let b = tile / per_item;
    let r = tile - b * per_item;
    let ty = r / ip.tiles_w;
    let tx = r - ty * ip.tiles_w;
    let base = b * ip.x_b + ci * ip.x_c;
    let iy = i32(2u * ty) - i32(ip.pad_top);
    let ix = i32(2u * tx) - i32(ip.pad_left);
    let d0 = patch_row(base, iy, ix);
    let d1 = patch_row(base, iy + 1, ix);
    let d2 = patch_row(base, iy + 2, ix);
    let d3 = patch_row(base, iy + 3, ix);
    // Bᵀ d: its rows…
    let e0 = times_b(d0 - d2);
    let e1 = times_b(d1 + d2);
    let e2 = times_b(d2 - d1);
    let e3 = times_b(d1 - d3);
    // …each through B: row i of Bᵀ d B is e_i.
    let plane = ip.c_in * ip.t_len;
    let at = ci * ip.t_len + local;
    store_v(0u, e0, at, plane);
    store_v(1u, e1, at, plane);
    store_v(2u, e2, at, plane);
    store_v(3u, e3, at, plane);
}

// Row i of a transformed tile into V: position ξ = TILE_IN·i + j of the tile at `at`.
fn store_v(i: u32, row: vec4<f32>, at: u32, plane: u32) {
    for (var j = 0u; j < TILE_IN; j++) {
        in_v[(TILE_IN * i + j) * plane + at] = row[j];
    }
}

// ---- Y = Aᵀ M A + bias: m [16, C_out, t_len] → y [B, C_out, H', W'] (contiguous).

struct OutputParams {
    c_out: u32,
    h_out: u32,
    w_out: u32,
    tiles_h: u32,
    tiles_w: u32,
    t0: u32,
    t_len: u32,
    groups_x: u32,
}

@group(0) @binding(0) var<storage, read_write> out_m: array<f32>;
@group(0) @binding(1) var<storage, read_write> out_bias: array<f32>;
@group(0) @binding(2) var<storage, read_write> out_y: array<f32>;
@group(0) @binding(3) var<storage, read_write> out_params: OutputParams;

var<private> op: OutputParams;

// Row i of M at (co, tile): positions TILE_IN·i + j.
fn m_row(i: u32, at: u32, plane: u32) -> vec4<f32> {
    let first = TILE_IN * i * plane + at;
    return vec4<f32>(out_m[first], out_m[first + plane], out_m[first + 2u * plane], out_m[first + 3u * plane]);
}

// r A for a row r of Aᵀ M: its two outputs.
fn times_a(r: vec4<f32>) -> vec2<f32> {
    return vec2<f32>(r.x + r.y + r.z, r.y - r.z - r.w);
}

@compute @workgroup_size(WORKGROUP)
fn winograd_output(@builtin(workgroup_id) group: vec3<u32>, @builtin(local_invocation_index) t: u32) {
    op = out_params;
    let id = (group.y * op.groups_x + group.x) * WORKGROUP + t;
    if id >= op.c_out * op.t_len {
        return;
    }
    let co = id / op.t_len;
    let local = id - co * op.t_len;
    let plane = op.c_out * op.t_len;
    let at = co * op.t_len + local;
    let m0 = m_row(0u, at, plane);
    let m1 = m_row(1u, at, plane);
    let m2 = m_row(2u, at, plane);
    let m3 = m_row(3u, at, plane);
    let bias = out_bias[co];
    // Aᵀ M, then each of its two rows through A.
    let top = times_a(m0 + m1 + m2) + bias;
    let bottom = times_a(m1 - m2 - m3) + bias;
    let tile = op.t0 + local;
    let per_item = op.tiles_h * op.tiles_w;
    let b = tile / per_item;
    let r = tile - b * per_item;
    let oy = 2u * (r / op.tiles_w);
    let ox = 2u * (r - (r / op.tiles_w) * op.tiles_w);
    let base = (b * op.c_out + co) * op.h_out * op.w_out;
    // The last tile row or column may hang over an odd map by one.
    let right = ox + 1u < op.w_out;
    out_y[base + oy * op.w_out + ox] = top.x;
    if right {
        out_y[base + oy * op.w_out + ox + 1u] = top.y;
    }
    if oy + 1u < op.h_out {
        out_y[base + (oy + 1u) * op.w_out + ox] = bottom.x;
        if right {
            out_y[base + (oy + 1u) * op.w_out + ox + 1u] = bottom.y;
        }
    }
}
