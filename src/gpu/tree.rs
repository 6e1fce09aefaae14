//! The segment tree on the GPU, level by level (see [`crate::ncut::tree`] for what the tree is).
//!
//! Every region of a tree level is processed at once, and a level costs **one readback**:
//!
//! ```text
//! GPU  affinity ─ Lanczos(level 0) ──────────────────────────────▶ readback: α, β (level 0)
//! CPU  f64 tridiagonal solves → Ritz coefficients
//! GPU  Ritz vectors ─ cut decisions ─ next layout ─ Lanczos(level 1) ─▶ readback: decisions (0), α, β (1)
//! CPU  record level 0's cuts (mirroring the GPU's layout) ; tridiagonal solves for level 1
//! GPU  …                                                          ─▶ readback: decisions (1), α, β (2)
//! ```
//!
//! so a tree whose deepest cut is at depth D costs D + 2 readbacks, the last one holding the
//! decisions of the deepest level. The affinity matrix never leaves the GPU. Buffers and bind
//! groups are made once per problem and reused by every level and every Lanczos step.

use super::{affinity, f32s, lanczos, split, sweep, u32s, GpuContext};
use crate::ncut::tree::{check_tau, Mode, NodeCut, SegmentTree, TreeNode, TreeOptions};
use crate::ncut::{affinity::check_alpha, tridiag, FeatureGrid};
use crate::{Error, Result};

/// Lanczos steps per level (the basis capacity). The CPU path stops on a residual test; on the GPU
/// that would cost a readback per check, so every region takes `min(STEPS, n − 1)` steps — enough
/// for residuals near `f32` precision on the graphs DiffCut builds (the CPU needs ≤ 70 on 32×32).
pub const STEPS: u32 = 80;

/// What the GPU did for one tree.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GpuStats {
    /// Compute dispatches.
    pub dispatches: u64,
    /// Buffer readbacks (each one wait for the GPU).
    pub readbacks: u64,
    /// Tree levels processed.
    pub levels: u64,
}

/// A region waiting for its cut (the CPU's mirror of one GPU segment).
struct Pending {
    node: usize,
    cells: Vec<u32>,
}

/// Grows the segment tree of `features` on the GPU. Same result as
/// [`crate::ncut::segment_tree`] up to floating-point ties.
pub async fn segment_tree_gpu(
    ctx: &GpuContext,
    features: &FeatureGrid,
    alpha: f32,
    opts: TreeOptions,
) -> Result<(SegmentTree, GpuStats)> {
    check_alpha(alpha)?;
    check_tau(opts.tau_max)?;
    let (n, c) = (features.cells(), features.c);
    let n32 = u32::try_from(n).map_err(|_| Error::InvalidFeatures(format!("{n} cells is too many")))?;
    let m = STEPS;
    let mu = m as usize;
    let mb = |count: usize| (count * 4) as u64;
    ctx.check_size("the N×N affinity matrix", mb(n * n))?;
    ctx.check_size("the N×C feature matrix", mb(n * c))?;
    ctx.check_size("the Lanczos basis", mb((mu + 2) * n))?;
    ctx.check_size("the threshold sweep", mb(n * sweep::T))?;

    let dev = &ctx.device;
    let queue = &ctx.queue;
    let tiles = affinity::tiles(n32);
    // Buffers, made once for this problem. The layout (order, seg, ranges) is double-buffered:
    // `split` reads one level's and writes the next's.
    let x = ctx.storage("features", mb(n * c));
    let w = ctx.storage("affinity", mb(n * n));
    let partial = ctx.storage("tile min/max", mb(2 * (tiles * tiles) as usize));
    let minmax = ctx.storage("min/max", 8);
    let zero_row = ctx.storage("zero rows", mb(n));
    let order = [ctx.storage("order 0", mb(n)), ctx.storage("order 1", mb(n))];
    let seg = [ctx.storage("segment 0", mb(n)), ctx.storage("segment 1", mb(n))];
    let ranges = [
        ctx.storage("ranges 0", mb(2 + 2 * n)),
        ctx.storage("ranges 1", mb(2 + 2 * n)),
    ];
    let dis = ctx.storage("D^-1/2", mb(n));
    let q = ctx.storage("basis", mb((mu + 2) * n));
    let work = ctx.storage("work", mb(n));
    let fiedler = ctx.storage("fiedler", mb(n));
    let coef = ctx.storage("coefficients", mb(2 * n * (mu + 2)));
    let ab = ctx.storage("alpha beta", mb(2 * n * mu));
    let bucket = ctx.storage("buckets", mb(n));
    let rsum = ctx.storage("row sums", mb(n * sweep::T));
    let stats = ctx.storage("stats", mb(4 * n));
    let out = ctx.storage("decisions", mb(sweep::OUT * n));
    let counts = ctx.storage("child sizes", mb(2 * n));
    let slots = lanczos::slots(n32, m, m);
    let uniform = |label, size| {
        dev.create_buffer(&wgpu::BufferDescriptor {
            label: Some(label),
            size,
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        })
    };
    let lz_params = uniform("lanczos params", slots.len() as u64 * lanczos::SLOT);
    let aff_params = uniform("affinity params", 16);
    let sw_params = uniform("sweep params", 16);
    let split_params = uniform("split params", 16);
    let staging_bytes = mb(sweep::OUT * n + n + 2 * n * mu + 2 + 2 * n + n) + 64;
    let staging = dev.create_buffer(&wgpu::BufferDescriptor {
        label: Some("readback"),
        size: staging_bytes,
        usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    });

    use affinity::b as afb;
    let aff = affinity::Groups::new(
        dev,
        &ctx.affinity,
        n32,
        &[
            (afb::PARAMS, &aff_params),
            (afb::X, &x),
            (afb::S, &w),
            (afb::PARTIAL, &partial),
            (afb::MINMAX, &minmax),
            (afb::ZERO_ROW, &zero_row),
        ],
    );
    let lz: Vec<lanczos::Groups> = (0..2)
        .map(|i| {
            use lanczos::b as lb;
            lanczos::Groups::new(
                dev,
                &ctx.lanczos,
                &[
                    (lb::PARAMS, &lz_params),
                    (lb::W, &w),
                    (lb::ORDER, &order[i]),
                    (lb::SEG, &seg[i]),
                    (lb::RANGES, &ranges[i]),
                    (lb::DIS, &dis),
                    (lb::Q, &q),
                    (lb::WORK, &work),
                    (lb::COEF, &coef),
                    (lb::AB, &ab),
                ],
            )
        })
        .collect();
    let sw: Vec<sweep::Groups> = (0..2)
        .map(|i| {
            use sweep::b as sb;
            sweep::Groups::new(
                dev,
                &ctx.sweep,
                &[
                    (sb::PARAMS, &sw_params),
                    (sb::W, &w),
                    (sb::ORDER, &order[i]),
                    (sb::SEG, &seg[i]),
                    (sb::RANGES, &ranges[i]),
                    (sb::Y, &work),
                    (sb::BUCKET, &bucket),
                    (sb::R, &rsum),
                    (sb::DIS, &dis),
                    (sb::STATS, &stats),
                    (sb::OUT, &out),
                ],
            )
        })
        .collect();
    let sp: Vec<split::Groups> = (0..2)
        .map(|i| {
            use split::b as pb;
            let o = 1 - i;
            split::Groups::new(
                dev,
                &ctx.split,
                &[
                    (pb::PARAMS, &split_params),
                    (pb::RANGES, &ranges[i]),
                    (pb::Y, &work),
                    (pb::OUT, &out),
                    (pb::EXCLUDED, &zero_row),
                    (pb::ORDER, &order[i]),
                    (pb::SIDE, &bucket),
                    (pb::COUNTS, &counts),
                    (pb::NEXT, &ranges[o]),
                    (pb::ORDER2, &order[o]),
                    (pb::SEG2, &seg[o]),
                ],
            )
        })
        .collect();

    let mut st = GpuStats::default();
    queue.write_buffer(&x, 0, bytemuck::cast_slice(&features.data));
    queue.write_buffer(
        &aff_params,
        0,
        bytemuck::bytes_of(&affinity::Params {
            n: n32,
            c: c as u32,
            alpha,
            tiles_x: tiles,
        }),
    );
    queue.write_buffer(
        &sw_params,
        0,
        bytemuck::bytes_of(&sweep::Params { n: n32, _pad: [0; 3] }),
    );
    let use_excluded = u32::from(opts.mode == Mode::Official);
    queue.write_buffer(
        &split_params,
        0,
        bytemuck::bytes_of(&split::Params {
            tau_max: opts.tau_max as f32,
            use_excluded,
            _pad: [0; 2],
        }),
    );
    let mut slot_bytes = vec![0u8; slots.len() * lanczos::SLOT as usize];
    for (i, p) in slots.iter().enumerate() {
        let at = i * lanczos::SLOT as usize;
        slot_bytes[at..at + std::mem::size_of::<lanczos::Params>()].copy_from_slice(bytemuck::bytes_of(p));
    }
    queue.write_buffer(&lz_params, 0, &slot_bytes);
    queue.write_buffer(&zero_row, 0, &vec![0u8; n * 4]);
    let root: Vec<u32> = (0..n32).collect();
    queue.write_buffer(&order[0], 0, bytemuck::cast_slice(&root));
    queue.write_buffer(&seg[0], 0, &vec![0u8; n * 4]);
    queue.write_buffer(&ranges[0], 0, bytemuck::cast_slice(&[n32, 1, 0, n32]));

    let mut nodes = vec![TreeNode {
        cells: root.clone(),
        depth: 0,
        parent: None,
        cut: None,
        children: None,
    }];
    let tree = |nodes, dropped| SegmentTree {
        grid: [features.h, features.w],
        alpha,
        tau_max: opts.tau_max,
        mode: opts.mode,
        nodes,
        dropped,
    };
    if n < 2 {
        return Ok((tree(preorder(nodes), Vec::new()), st));
    }

    // Level 0: the affinity and the root's Lanczos run.
    let mut steps = m.min(n32 - 1);
    let mut enc = dev.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("level 0") });
    aff.encode(&ctx.affinity, &mut enc, &mut st.dispatches);
    lz[0].encode_lanczos(&ctx.lanczos, &mut enc, n32, 1, steps, &mut st.dispatches);
    let back = ctx
        .read_back(
            enc,
            &staging,
            &[(&ab, 0, mb(2 * mu)), (&minmax, 0, 8), (&zero_row, 0, mb(n))],
        )
        .await?;
    st.readbacks += 1;
    let mm = f32s(&back[1]);
    if !(mm[1] > mm[0]) {
        // Every similarity is equal: no cut means anything (see `Affinity::constant`).
        return Ok((tree(preorder(nodes), Vec::new()), st));
    }
    let excluded: Vec<bool> = u32s(&back[2]).iter().map(|&z| use_excluded != 0 && z != 0).collect();
    let mut abv = f32s(&back[0]);
    let mut regions = vec![Pending { node: 0, cells: root }];
    let mut cur = 0usize;
    while !regions.is_empty() {
        st.levels += 1;
        let n_seg = regions.len();
        let n_pos: usize = regions.iter().map(|r| r.cells.len()).sum();

        // The tridiagonal problems of this level, in f64 on the CPU.
        let mut s_coef = vec![0.0f32; n_seg * mu];
        let mut solved = Vec::with_capacity(n_seg);
        for (s, r) in regions.iter().enumerate() {
            let cap = (steps as usize).min(r.cells.len() - 1);
            let at = |j: usize| 2 * (s * mu + j);
            // Stop at a breakdown: the Krylov space is exhausted (β at f32 noise level).
            let mut k = 1;
            while k < cap && abv[at(k - 1) + 1] > 1e-6 {
                k += 1;
            }
            let a: Vec<f64> = (0..k).map(|j| f64::from(abv[at(j)])).collect();
            let b: Vec<f64> = (0..k - 1).map(|j| f64::from(abv[at(j) + 1])).collect();
            let theta = tridiag::eigenvalue(&a, &b, k - 1);
            for (j, v) in tridiag::eigenvector(&a, &b, theta).into_iter().enumerate() {
                s_coef[s * mu + j] = v as f32;
            }
            solved.push((1.0 - theta, k));
        }
        queue.write_buffer(&coef, 0, bytemuck::cast_slice(&s_coef));

        // GPU: Fiedler vectors, decisions, the next layout and its Lanczos run; one readback.
        let next_pos = n_pos;
        let next_seg = 2 * n_seg;
        let largest = regions.iter().map(|r| r.cells.len() as u32).max().unwrap_or(2);
        let next_steps = m.min(largest.saturating_sub(2));
        let mut enc = dev.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("level") });
        lz[cur].encode_ritz(&ctx.lanczos, &mut enc, n_pos as u32, m, &mut st.dispatches);
        sw[cur].encode(&ctx.sweep, &mut enc, n_pos as u32, n_seg as u32, &mut st.dispatches);
        enc.copy_buffer_to_buffer(&work, 0, &fiedler, 0, mb(n_pos));
        sp[cur].encode(&ctx.split, &mut enc, n_seg as u32, &mut st.dispatches);
        if next_steps >= 1 {
            lz[1 - cur].encode_lanczos(
                &ctx.lanczos,
                &mut enc,
                next_pos as u32,
                next_seg as u32,
                next_steps,
                &mut st.dispatches,
            );
        }
        let back = ctx
            .read_back(
                enc,
                &staging,
                &[
                    (&out, 0, mb(sweep::OUT * n_seg)),
                    (&fiedler, 0, mb(n_pos)),
                    (&ab, 0, mb(2 * next_seg * mu)),
                    (&ranges[1 - cur], 0, 8),
                ],
            )
            .await?;
        st.readbacks += 1;
        let dec = f32s(&back[0]);
        let y = f32s(&back[1]);
        abv = f32s(&back[2]);
        let gpu_next = u32s(&back[3]);

        // Record the cuts; accepted ones make the next level's regions, exactly as `split.wgsl`.
        let mut next = Vec::new();
        let mut at = 0usize;
        for (s, r) in regions.into_iter().enumerate() {
            let d = &dec[s * sweep::OUT..(s + 1) * sweep::OUT];
            let ys = &y[at..at + r.cells.len()];
            at += r.cells.len();
            if !(d[0] < sweep::NO_CUT) {
                continue; // no threshold separates the region (y constant)
            }
            let (lambda, used) = solved[s];
            let threshold = d[2];
            let cut = NodeCut {
                ncut: f64::from(d[0]),
                lambda,
                threshold: f64::from(threshold),
                curve: d[4..]
                    .iter()
                    .map(|&v| (v < sweep::NO_CUT).then_some(f64::from(v)))
                    .collect(),
                thresholds: thresholds_f32(ys),
                fiedler: ys.iter().map(|&v| f64::from(v)).collect(),
                lanczos_steps: used,
            };
            // The same test as split.wgsl, in f32.
            if d[0] < opts.tau_max as f32 {
                let mut sides = [Vec::new(), Vec::new()];
                for (&cell, &v) in r.cells.iter().zip(ys) {
                    if !excluded[cell as usize] {
                        sides[usize::from(!(v > threshold))].push(cell);
                    }
                }
                let depth = nodes[r.node].depth + 1;
                let mut kids = [0u32; 2];
                for (i, cells) in sides.into_iter().enumerate() {
                    kids[i] = nodes.len() as u32;
                    if cells.len() >= 2 {
                        next.push(Pending {
                            node: nodes.len(),
                            cells: cells.clone(),
                        });
                    }
                    nodes.push(TreeNode {
                        cells,
                        depth,
                        parent: Some(r.node as u32),
                        cut: None,
                        children: None,
                    });
                }
                nodes[r.node].children = Some(kids);
            }
            nodes[r.node].cut = Some(cut);
        }
        let mirror = [
            next.iter().map(|r| r.cells.len() as u32).sum::<u32>(),
            next.len() as u32,
        ];
        if gpu_next[..2] != mirror {
            return Err(Error::Gpu(format!(
                "the GPU's next level ({:?}) differs from the CPU's ({mirror:?})",
                &gpu_next[..2]
            )));
        }
        regions = next;
        steps = next_steps;
        cur = 1 - cur;
    }
    let dropped = (0..n32).filter(|&i| excluded[i as usize]).collect();
    Ok((tree(preorder(nodes), dropped), st))
}

/// The thresholds as the GPU computes them (in `f32`, `torch.linspace` order).
fn thresholds_f32(y: &[f32]) -> Vec<f64> {
    let lo = 0.99 * y.iter().copied().fold(f32::INFINITY, f32::min);
    let hi = 0.99 * y.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let step = (hi - lo) / (sweep::T - 1) as f32;
    (0..sweep::T)
        .map(|t| {
            f64::from(if t < sweep::T / 2 {
                lo + step * t as f32
            } else {
                hi - step * (sweep::T - 1 - t) as f32
            })
        })
        .collect()
}

/// Renumbers breadth-first nodes into the pre-order (`y > θ` side first) the CPU tree uses.
fn preorder(nodes: Vec<TreeNode>) -> Vec<TreeNode> {
    let mut new_index = vec![0u32; nodes.len()];
    let mut order = Vec::with_capacity(nodes.len());
    let mut stack = vec![0usize];
    while let Some(i) = stack.pop() {
        new_index[i] = order.len() as u32;
        order.push(i);
        if let Some([a, b]) = nodes[i].children {
            stack.push(b as usize);
            stack.push(a as usize);
        }
    }
    let mut slots: Vec<Option<TreeNode>> = nodes.into_iter().map(Some).collect();
    order
        .into_iter()
        .map(|i| {
            let mut node = slots[i].take().expect("each node once");
            node.parent = node.parent.map(|p| new_index[p as usize]);
            node.children = node
                .children
                .map(|[a, b]| [new_index[a as usize], new_index[b as usize]]);
            node
        })
        .collect()
}
