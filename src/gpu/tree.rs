//! The segment tree on the GPU, level by level (see [`crate::ncut::tree`] for what the tree is).
//!
//! Per tree level, every region that needs a cut is processed at once:
//!
//! 1. the CPU uploads the level's layout (cells grouped by region, ascending);
//! 2. the GPU runs degrees + `steps` Lanczos steps for all regions → **readback 1**: α, β;
//! 3. the CPU solves each region's tridiagonal problem in `f64` and uploads the Ritz coefficients;
//! 4. the GPU assembles the Fiedler vectors and decides every region's cut → **readback 2**: the
//!    NCut values, thresholds, curves and Fiedler vectors.
//!
//! The affinity matrix never leaves the GPU. Buffers and bind groups are made once per problem
//! and reused by every level and every Lanczos step; a level's parameters are written into a
//! uniform buffer read at dynamic offsets.

use super::{affinity, f32s, lanczos, sweep, u32s, GpuContext};
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

/// A region waiting for its cut.
struct Pending {
    node: usize,
    cells: Vec<u32>,
}

/// Grows the segment tree of `features` on the GPU. Same result as
/// [`crate::ncut::segment_tree`] up to floating-point ties.
pub async fn segment_tree_gpu(ctx: &GpuContext, features: &FeatureGrid, alpha: f32, opts: TreeOptions) -> Result<(SegmentTree, GpuStats)> {
    check_alpha(alpha)?;
    check_tau(opts.tau_max)?;
    let (n, c) = (features.cells(), features.c);
    let n32 = u32::try_from(n).map_err(|_| Error::InvalidFeatures(format!("{n} cells is too many")))?;
    let m = STEPS;
    let mb = |count: usize| (count * 4) as u64;
    ctx.check_size("the N×N affinity matrix", mb(n * n))?;
    ctx.check_size("the N×C feature matrix", mb(n * c))?;
    ctx.check_size("the Lanczos basis", mb((m as usize + 2) * n))?;
    ctx.check_size("the threshold sweep", mb(n * sweep::T))?;

    let dev = &ctx.device;
    let tiles = affinity::tiles(n32);
    // Buffers, made once for this problem.
    let x = ctx.storage("features", mb(n * c));
    let w = ctx.storage("affinity", mb(n * n));
    let partial = ctx.storage("tile min/max", mb(2 * (tiles * tiles) as usize));
    let minmax = ctx.storage("min/max", 8);
    let zero_row = ctx.storage("zero rows", mb(n));
    let order = ctx.storage("order", mb(n));
    let seg = ctx.storage("segment", mb(n));
    let ranges = ctx.storage("ranges", mb(2 * n));
    let dis = ctx.storage("D^-1/2", mb(n));
    let q = ctx.storage("basis", mb((m as usize + 2) * n));
    let work = ctx.storage("work", mb(n));
    let coef = ctx.storage("coefficients", mb(2 * n * (m as usize + 2)));
    let ab = ctx.storage("alpha beta", mb(2 * n * m as usize));
    let bucket = ctx.storage("buckets", mb(n));
    let rsum = ctx.storage("row sums", mb(n * sweep::T));
    let stats = ctx.storage("stats", mb(4 * n));
    let out = ctx.storage("decisions", mb(sweep::OUT * n));
    let n_slots = u64::from(lanczos::slot::ritz(m) + 1);
    let uniform = |label, size| dev.create_buffer(&wgpu::BufferDescriptor { label: Some(label), size, usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST, mapped_at_creation: false });
    let lz_params = uniform("lanczos params", n_slots * lanczos::SLOT);
    let aff_params = uniform("affinity params", 16);
    let sw_params = uniform("sweep params", 16);
    let staging_bytes = mb(sweep::OUT * n + 2 * n + 2 * n * m as usize + 8);
    let staging = dev.create_buffer(&wgpu::BufferDescriptor { label: Some("readback"), size: staging_bytes, usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST, mapped_at_creation: false });

    use affinity::b as ab_;
    let aff = affinity::Groups::new(dev, &ctx.affinity, n32, &[(ab_::PARAMS, &aff_params), (ab_::X, &x), (ab_::S, &w), (ab_::PARTIAL, &partial), (ab_::MINMAX, &minmax), (ab_::ZERO_ROW, &zero_row)]);
    use lanczos::b as lb;
    let lz = lanczos::Groups::new(dev, &ctx.lanczos, &[(lb::PARAMS, &lz_params), (lb::W, &w), (lb::ORDER, &order), (lb::SEG, &seg), (lb::RANGES, &ranges), (lb::DIS, &dis), (lb::Q, &q), (lb::WORK, &work), (lb::COEF, &coef), (lb::AB, &ab)]);
    use sweep::b as sb;
    let sw = sweep::Groups::new(dev, &ctx.sweep, &[(sb::PARAMS, &sw_params), (sb::W, &w), (sb::ORDER, &order), (sb::SEG, &seg), (sb::RANGES, &ranges), (sb::Y, &work), (sb::BUCKET, &bucket), (sb::R, &rsum), (sb::DIS, &dis), (sb::STATS, &stats), (sb::OUT, &out)]);

    let mut st = GpuStats::default();
    let queue = &ctx.queue;
    queue.write_buffer(&x, 0, bytemuck::cast_slice(&features.data));
    queue.write_buffer(&aff_params, 0, bytemuck::bytes_of(&affinity::Params { n: n32, c: c as u32, alpha, tiles_x: tiles }));
    queue.write_buffer(&zero_row, 0, &vec![0u8; n * 4]);

    let mut nodes = vec![TreeNode { cells: (0..n32).collect(), depth: 0, parent: None, cut: None, children: None }];
    let mut pending = vec![Pending { node: 0, cells: (0..n32).collect() }];
    let mut excluded: Option<Vec<bool>> = None;
    let mut constant = false;
    let mut first = true;
    while !pending.is_empty() {
        // 1. Layout: regions of ≥ 2 cells, cells ascending.
        let regions: Vec<Pending> = pending.drain(..).filter(|p| p.cells.len() >= 2).collect();
        if regions.is_empty() || constant {
            break;
        }
        st.levels += 1;
        let n_seg = regions.len() as u32;
        let mut ord = Vec::with_capacity(n);
        let mut sg = Vec::with_capacity(n);
        let mut rg = Vec::with_capacity(2 * regions.len());
        for (s, r) in regions.iter().enumerate() {
            rg.push(ord.len() as u32);
            rg.push(r.cells.len() as u32);
            ord.extend_from_slice(&r.cells);
            sg.extend(std::iter::repeat_n(s as u32, r.cells.len()));
        }
        let n_pos = ord.len() as u32;
        let steps = m.min(regions.iter().map(|r| r.cells.len() as u32 - 1).max().unwrap_or(1));
        queue.write_buffer(&order, 0, bytemuck::cast_slice(&ord));
        queue.write_buffer(&seg, 0, bytemuck::cast_slice(&sg));
        queue.write_buffer(&ranges, 0, bytemuck::cast_slice(&rg));
        let mut slot_bytes = vec![0u8; (n_slots * lanczos::SLOT) as usize];
        for (i, p) in lanczos::slots(n32, n_pos, n_seg, steps, m).iter().enumerate() {
            let at = i * lanczos::SLOT as usize;
            slot_bytes[at..at + std::mem::size_of::<lanczos::Params>()].copy_from_slice(bytemuck::bytes_of(p));
        }
        queue.write_buffer(&lz_params, 0, &slot_bytes);
        queue.write_buffer(&sw_params, 0, bytemuck::bytes_of(&sweep::Params { n: n32, n_pos, n_seg, _pad: 0 }));

        // 2. Lanczos on the GPU; α and β come back.
        let mut enc = dev.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("lanczos") });
        if first {
            aff.encode(&ctx.affinity, &mut enc, &mut st.dispatches);
        }
        lz.encode_lanczos(&ctx.lanczos, &mut enc, n_pos, n_seg, steps, &mut st.dispatches);
        let mut regions_back = vec![(&ab, 0u64, mb(2 * regions.len() * m as usize))];
        if first {
            regions_back.push((&minmax, 0, 8));
        }
        let back = ctx.read_back(enc, &staging, &regions_back).await?;
        st.readbacks += 1;
        if first {
            let mm = f32s(&back[1]);
            constant = !(mm[1] > mm[0]);
            if constant {
                // Every similarity is equal: no cut means anything (see `Affinity::constant`).
                break;
            }
        }
        let abv = f32s(&back[0]);

        // 3. The tridiagonal problems, in f64 on the CPU.
        let mut s_coef = vec![0.0f32; regions.len() * m as usize];
        let mut lambdas = vec![0.0f64; regions.len()];
        let mut used = vec![0usize; regions.len()];
        for (s, r) in regions.iter().enumerate() {
            let cap = (steps as usize).min(r.cells.len() - 1);
            let at = |j: usize| 2 * (s * m as usize + j);
            // Stop at a breakdown: the Krylov space is exhausted (β at f32 noise level).
            let mut k = 1;
            while k < cap && abv[at(k - 1) + 1] > 1e-6 {
                k += 1;
            }
            let a: Vec<f64> = (0..k).map(|j| f64::from(abv[at(j)])).collect();
            let b: Vec<f64> = (0..k - 1).map(|j| f64::from(abv[at(j) + 1])).collect();
            let theta = tridiag::eigenvalue(&a, &b, k - 1);
            let v = tridiag::eigenvector(&a, &b, theta);
            for (j, vj) in v.iter().enumerate() {
                s_coef[s * m as usize + j] = *vj as f32;
            }
            lambdas[s] = 1.0 - theta;
            used[s] = k;
        }
        queue.write_buffer(&coef, 0, bytemuck::cast_slice(&s_coef));

        // 4. Ritz vectors and cut decisions on the GPU; they come back with the Fiedler vectors.
        let mut enc = dev.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("sweep") });
        lz.encode_ritz(&ctx.lanczos, &mut enc, n_pos, m, &mut st.dispatches);
        sw.encode(&ctx.sweep, &mut enc, n_pos, n_seg, &mut st.dispatches);
        let mut regions_back = vec![(&out, 0u64, mb(sweep::OUT * regions.len())), (&work, 0, mb(n_pos as usize))];
        if first {
            regions_back.push((&zero_row, 0, mb(n)));
        }
        let back = ctx.read_back(enc, &staging, &regions_back).await?;
        st.readbacks += 1;
        let dec = f32s(&back[0]);
        let y = f32s(&back[1]);
        if first {
            let z = u32s(&back[2]);
            excluded = Some(match opts.mode {
                Mode::Official => z.iter().map(|&v| v != 0).collect(),
                Mode::Clean => vec![false; n],
            });
            first = false;
        }
        let excluded = excluded.as_ref().expect("set at the first level");

        // 5. Record the cuts; accepted ones become the next level's regions.
        for (s, r) in regions.into_iter().enumerate() {
            let d = &dec[s * sweep::OUT..(s + 1) * sweep::OUT];
            if !(d[0] < sweep::NO_CUT) {
                continue; // no threshold separates the region (y constant)
            }
            let (start, len) = (rg[2 * s] as usize, rg[2 * s + 1] as usize);
            let fiedler: Vec<f64> = y[start..start + len].iter().map(|&v| f64::from(v)).collect();
            let threshold = f64::from(d[2]);
            let cut = NodeCut {
                ncut: f64::from(d[0]),
                lambda: lambdas[s],
                threshold,
                curve: d[4..].iter().map(|&v| (v < sweep::NO_CUT).then_some(f64::from(v))).collect(),
                thresholds: thresholds_f32(&y[start..start + len]),
                fiedler,
                lanczos_steps: used[s],
            };
            let accept = cut.ncut < opts.tau_max;
            let depth = nodes[r.node].depth;
            if accept {
                let mut sides = [Vec::new(), Vec::new()];
                for (&cell, &v) in r.cells.iter().zip(&cut.fiedler) {
                    if !excluded[cell as usize] {
                        sides[usize::from(!(v > threshold))].push(cell);
                    }
                }
                let mut kids = [0u32; 2];
                for (i, cells) in sides.into_iter().enumerate() {
                    kids[i] = nodes.len() as u32;
                    nodes.push(TreeNode { cells: cells.clone(), depth: depth + 1, parent: Some(r.node as u32), cut: None, children: None });
                    pending.push(Pending { node: kids[i] as usize, cells });
                }
                nodes[r.node].children = Some(kids);
            }
            nodes[r.node].cut = Some(cut);
        }
    }
    let dropped = match (&excluded, nodes[0].children) {
        (Some(ex), _) => (0..n32).filter(|&i| ex[i as usize]).collect(),
        (None, _) => Vec::new(),
    };
    let nodes = preorder(nodes);
    Ok((SegmentTree { grid: [features.h, features.w], alpha, tau_max: opts.tau_max, mode: opts.mode, nodes, dropped }, st))
}

/// The thresholds as the GPU computes them (in `f32`, `torch.linspace` order).
fn thresholds_f32(y: &[f32]) -> Vec<f64> {
    let lo = 0.99 * y.iter().copied().fold(f32::INFINITY, f32::min);
    let hi = 0.99 * y.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let step = (hi - lo) / (sweep::T - 1) as f32;
    (0..sweep::T).map(|t| f64::from(if t < sweep::T / 2 { lo + step * t as f32 } else { hi - step * (sweep::T - 1 - t) as f32 })).collect()
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
            node.children = node.children.map(|[a, b]| [new_index[a as usize], new_index[b as usize]]);
            node
        })
        .collect()
}
