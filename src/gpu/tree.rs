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

use super::{affinity, f32_bytes, f32s, lanczos, split, sweep, u32s, GpuContext};
use crate::ncut::bipartition::thresholds;
use crate::ncut::split::split as split_region;
use crate::ncut::tree::{check_tau, Mode, NodeCut, SegmentTree, TreeNode, TreeOptions};
use crate::ncut::{affinity::check_alpha, tridiag, FeatureGrid};
use crate::{Error, Result};

/// Lanczos steps per level (the basis capacity). The CPU path stops on a residual test; on the GPU
/// that would cost a readback per check, so every region takes `min(STEPS, n − 1)` steps — enough
/// for residuals near `f32` precision on the graphs DiffCut builds (the CPU needs ≤ 70 on 32×32
/// and up to 96 at a 48×48 root; with 80 the GPU's partition of such a field differed).
pub const STEPS: u32 = 120;

/// The Lanczos steps of a level whose regions have at most `len_max` cells: the kernel's
/// `min(STEPS, len − 1)` for the largest (the others stop at their own, or break down).
fn steps_for(len_max: u32) -> u32 {
    STEPS.min(len_max.saturating_sub(1))
}

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
    let problem = Problem::new(ctx, features, alpha, opts)?;
    let mut st = GpuStats::default();
    let (nodes, dropped) = problem.grow(&mut st).await?;
    let tree = SegmentTree {
        grid: [features.h, features.w],
        alpha,
        tau_max: opts.tau_max,
        mode: opts.mode,
        nodes: preorder(nodes),
        dropped,
    };
    Ok((tree, st))
}

/// Bytes of `count` 32-bit values.
fn mb(count: usize) -> u64 {
    (count * 4) as u64
}

/// The buffers of one problem, for an N-cell grid and a basis of capacity m = [`STEPS`]. The
/// layout (order, seg, ranges) is double-buffered: `split` reads one level's and writes the next's.
struct Buffers {
    /// `[N, C]` features, normalised in place.
    x: wgpu::Buffer,
    /// `[N, N]` affinity W; never leaves the GPU.
    w: wgpu::Buffer,
    partial: wgpu::Buffer,
    /// `[2]` (min, max) of X̂X̂ᵀ.
    minmax: wgpu::Buffer,
    /// `[N]` 1 where W's row holds an exact zero (the zero-as-marker quirk).
    zero_row: wgpu::Buffer,
    order: [wgpu::Buffer; 2],
    seg: [wgpu::Buffer; 2],
    ranges: [wgpu::Buffer; 2],
    dis: wgpu::Buffer,
    /// `[(m + 2)·N]` the Lanczos basis.
    q: wgpu::Buffer,
    /// `[N]` work vector; the Fiedler vectors y after `ritz` (sign-flipped by the sweep).
    work: wgpu::Buffer,
    /// `[N]` y as the sweep chose θ on it, kept for the readback.
    fiedler: wgpu::Buffer,
    /// `[N·m]` the Ritz coefficients from the CPU (at most N/2 regions, m per region).
    coef: wgpu::Buffer,
    /// `[2·N·m]` α_j, β_j per segment.
    ab: wgpu::Buffer,
    bucket: wgpu::Buffer,
    rsum: wgpu::Buffer,
    stats: wgpu::Buffer,
    /// `[N·OUT]` each segment's decision and NCut curve.
    out: wgpu::Buffer,
    counts: wgpu::Buffer,
    lz_params: wgpu::Buffer,
    aff_params: wgpu::Buffer,
    sw_params: wgpu::Buffer,
    split_params: wgpu::Buffer,
    /// One readback's worth: decisions, y, α/β and the next layout's counts.
    staging: wgpu::Buffer,
}

impl Buffers {
    fn new(ctx: &GpuContext, n: usize, c: usize) -> Self {
        let mu = STEPS as usize;
        let tiles = affinity::tiles(n as u32) as usize;
        let uniform = |label, size| {
            ctx.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some(label),
                size,
                usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            })
        };
        let staging_bytes = mb(sweep::OUT * n + n + 2 * n * mu + 2 + 2 * n + n) + 64;
        Self {
            x: ctx.storage("features", mb(n * c)),
            w: ctx.storage("affinity", mb(n * n)),
            partial: ctx.storage("tile min/max", mb(2 * tiles * tiles)),
            minmax: ctx.storage("min/max", 8),
            zero_row: ctx.storage("zero rows", mb(n)),
            order: [ctx.storage("order 0", mb(n)), ctx.storage("order 1", mb(n))],
            seg: [ctx.storage("segment 0", mb(n)), ctx.storage("segment 1", mb(n))],
            ranges: [
                ctx.storage("ranges 0", mb(2 + 2 * n)),
                ctx.storage("ranges 1", mb(2 + 2 * n)),
            ],
            dis: ctx.storage("D^-1/2", mb(n)),
            q: ctx.storage("basis", mb((mu + 2) * n)),
            work: ctx.storage("work", mb(n)),
            fiedler: ctx.storage("fiedler", mb(n)),
            coef: ctx.storage("coefficients", mb(n * mu)),
            ab: ctx.storage("alpha beta", mb(2 * n * mu)),
            bucket: ctx.storage("buckets", mb(n)),
            rsum: ctx.storage("row sums", mb(n * sweep::T)),
            stats: ctx.storage("stats", mb(4 * n)),
            out: ctx.storage("decisions", mb(sweep::OUT * n)),
            counts: ctx.storage("child sizes", mb(2 * n)),
            // At most the set-up alone, then one dispatch per Lanczos step (`lanczos::plan`).
            lz_params: uniform("lanczos params", u64::from(STEPS + 1) * lanczos::SLOT),
            aff_params: uniform("affinity params", 16),
            sw_params: uniform("sweep params", 16),
            split_params: uniform("split params", 16),
            staging: ctx.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("readback"),
                size: staging_bytes,
                usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            }),
        }
    }
}

/// One problem on the GPU: its buffers and bind groups, made once and reused by every level and
/// every Lanczos step. `lz[i]`, `sw[i]` read layout `i`; `sp[i]` reads layout `i` and writes `1 − i`.
struct Problem<'a> {
    ctx: &'a GpuContext,
    /// Cells N.
    n: usize,
    /// τ_max as the GPU compares it (`split.wgsl`).
    tau_max: f32,
    /// [`Mode::Official`]: cells whose row holds an exact zero take part in the root cut only.
    use_excluded: bool,
    buf: Buffers,
    aff: affinity::Groups,
    lz: [lanczos::Groups; 2],
    sw: [sweep::Groups; 2],
    sp: [split::Groups; 2],
}

/// The GPU's results of one level, as read back.
struct LevelBack {
    /// `[n_seg·OUT]` decisions and curves (`sweep.wgsl`'s `out`).
    decisions: Vec<f32>,
    /// `[n_pos]` the sign-flipped Fiedler vectors.
    y: Vec<f32>,
    /// The next level's α, β.
    ab: Vec<f32>,
    /// The next level's `[n_pos, n_seg]` as `split.wgsl` laid it out.
    next: [u32; 2],
}

impl<'a> Problem<'a> {
    /// Checks the sizes against the device, makes the buffers and bind groups, and uploads the
    /// features, the parameters and the root's layout (all cells, one segment).
    fn new(ctx: &'a GpuContext, features: &FeatureGrid, alpha: f32, opts: TreeOptions) -> Result<Self> {
        let (n, c) = (features.cells(), features.c);
        let n32 = u32::try_from(n).map_err(|_| Error::InvalidFeatures(format!("{n} cells is too many")))?;
        let mu = STEPS as usize;
        ctx.check_size("the N×N affinity matrix", f32_bytes(&[n, n]))?;
        ctx.check_size("the N×C feature matrix", f32_bytes(&[n, c]))?;
        ctx.check_size("the Lanczos basis", f32_bytes(&[mu + 2, n]))?;
        ctx.check_size("the threshold sweep", f32_bytes(&[n, sweep::T]))?;
        // llvmpipe ends an invocation after 65 535 loop iterations (`lanczos::ITERATION_BUDGET`);
        // a root too large for one Lanczos step within that would lose its basis silently.
        let worst = lanczos::worst_dispatch(n32, steps_for(n32));
        if ctx.adapter.contains("llvmpipe") && worst >= lanczos::LLVMPIPE_LIMIT {
            return Err(Error::Gpu(format!(
                "{n} cells need {worst} loop iterations in one Lanczos step, beyond llvmpipe's limit of {}: use a smaller grid or --device cpu",
                lanczos::LLVMPIPE_LIMIT
            )));
        }

        let buf = Buffers::new(ctx, n, c);
        let dev = &ctx.device;
        let b = &buf;
        use affinity::b as afb;
        let aff = affinity::Groups::new(
            dev,
            &ctx.affinity,
            n32,
            &[
                (afb::PARAMS, &b.aff_params),
                (afb::X, &b.x),
                (afb::S, &b.w),
                (afb::PARTIAL, &b.partial),
                (afb::MINMAX, &b.minmax),
                (afb::ZERO_ROW, &b.zero_row),
            ],
        );
        let lz = [0, 1].map(|i| {
            use lanczos::b as lb;
            lanczos::Groups::new(
                dev,
                &ctx.lanczos,
                &[
                    (lb::PARAMS, &b.lz_params),
                    (lb::W, &b.w),
                    (lb::ORDER, &b.order[i]),
                    (lb::SEG, &b.seg[i]),
                    (lb::RANGES, &b.ranges[i]),
                    (lb::DIS, &b.dis),
                    (lb::Q, &b.q),
                    (lb::WORK, &b.work),
                    (lb::COEF, &b.coef),
                    (lb::AB, &b.ab),
                ],
            )
        });
        let sw = [0, 1].map(|i| {
            use sweep::b as sb;
            sweep::Groups::new(
                dev,
                &ctx.sweep,
                &[
                    (sb::PARAMS, &b.sw_params),
                    (sb::W, &b.w),
                    (sb::ORDER, &b.order[i]),
                    (sb::SEG, &b.seg[i]),
                    (sb::RANGES, &b.ranges[i]),
                    (sb::Y, &b.work),
                    (sb::BUCKET, &b.bucket),
                    (sb::R, &b.rsum),
                    (sb::DIS, &b.dis),
                    (sb::STATS, &b.stats),
                    (sb::OUT, &b.out),
                ],
            )
        });
        let sp = [0, 1].map(|i| {
            use split::b as pb;
            let o = 1 - i;
            split::Groups::new(
                dev,
                &ctx.split,
                &[
                    (pb::PARAMS, &b.split_params),
                    (pb::RANGES, &b.ranges[i]),
                    (pb::Y, &b.work),
                    (pb::OUT, &b.out),
                    (pb::EXCLUDED, &b.zero_row),
                    (pb::ORDER, &b.order[i]),
                    (pb::SIDE, &b.bucket),
                    (pb::COUNTS, &b.counts),
                    (pb::NEXT, &b.ranges[o]),
                    (pb::ORDER2, &b.order[o]),
                    (pb::SEG2, &b.seg[o]),
                ],
            )
        });

        let queue = &ctx.queue;
        let use_excluded = opts.mode == Mode::Official;
        let tau_max = opts.tau_max as f32;
        queue.write_buffer(&b.x, 0, bytemuck::cast_slice(&features.data));
        queue.write_buffer(
            &b.aff_params,
            0,
            bytemuck::bytes_of(&affinity::Params {
                n: n32,
                c: c as u32,
                alpha,
                tiles_x: affinity::tiles(n32),
            }),
        );
        queue.write_buffer(
            &b.sw_params,
            0,
            bytemuck::bytes_of(&sweep::Params { n: n32, _pad: [0; 3] }),
        );
        queue.write_buffer(
            &b.split_params,
            0,
            bytemuck::bytes_of(&split::Params {
                tau_max,
                use_excluded: u32::from(use_excluded),
                _pad: [0; 2],
            }),
        );
        queue.write_buffer(&b.zero_row, 0, &vec![0u8; n * 4]);
        let root: Vec<u32> = (0..n32).collect();
        queue.write_buffer(&b.order[0], 0, bytemuck::cast_slice(&root));
        queue.write_buffer(&b.seg[0], 0, &vec![0u8; n * 4]);
        queue.write_buffer(&b.ranges[0], 0, bytemuck::cast_slice(&[n32, 1, 0, n32]));
        Ok(Self {
            ctx,
            n,
            tau_max,
            use_excluded,
            buf,
            aff,
            lz,
            sw,
            sp,
        })
    }

    /// Writes the parameter slots of a level's Lanczos dispatches (segments of at most `len_max`
    /// cells, `steps` steps) for the next submission; returns how many dispatches they are.
    fn plan(&self, len_max: u32, steps: u32) -> usize {
        let plan = lanczos::plan(len_max, steps);
        let bytes = lanczos::slot_bytes(self.n as u32, &plan);
        self.ctx.queue.write_buffer(&self.buf.lz_params, 0, &bytes);
        plan.len()
    }

    /// Grows the tree level by level: one readback per level, plus the root's. Returns the nodes
    /// breadth-first and the cells only the root saw.
    async fn grow(&self, st: &mut GpuStats) -> Result<(Vec<TreeNode>, Vec<u32>)> {
        let n = self.n;
        let root: Vec<u32> = (0..n as u32).collect();
        let mut nodes = vec![TreeNode {
            cells: root.clone(),
            depth: 0,
            parent: None,
            cut: None,
            children: None,
        }];
        if n < 2 {
            return Ok((nodes, Vec::new()));
        }
        let mut steps = steps_for(n as u32);
        let Some((excluded, mut ab)) = self.root(steps, st).await? else {
            // Every similarity is equal: no cut means anything (see `Affinity::constant`).
            return Ok((nodes, Vec::new()));
        };
        let mut regions = vec![Pending { node: 0, cells: root }];
        let mut cur = 0usize;
        while !regions.is_empty() {
            st.levels += 1;
            let (coef, solved) = ritz_coefficients(&regions, &ab, steps);
            // Every child is smaller than its parent.
            let next_len = regions.iter().map(|r| r.cells.len() as u32).max().unwrap_or(2) - 1;
            let back = self.level(cur, &regions, &coef, next_len, st).await?;
            let next = self.record(&mut nodes, regions, &back, &solved, &excluded);
            let mirror = [
                next.iter().map(|r| r.cells.len() as u32).sum::<u32>(),
                next.len() as u32,
            ];
            if back.next != mirror {
                return Err(Error::Gpu(format!(
                    "the GPU's next level ({:?}) differs from the CPU's ({mirror:?})",
                    back.next
                )));
            }
            regions = next;
            ab = back.ab;
            steps = steps_for(next_len);
            cur = 1 - cur;
        }
        let dropped = (0..n as u32).filter(|&i| excluded[i as usize]).collect();
        Ok((nodes, dropped))
    }

    /// Level 0 on the GPU: the affinity and the root's Lanczos run (`steps` steps), one readback.
    /// Returns the excluded cells and the root's α, β; `None` when every similarity is equal.
    async fn root(&self, steps: u32, st: &mut GpuStats) -> Result<Option<(Vec<bool>, Vec<f32>)>> {
        let (ctx, b, n) = (self.ctx, &self.buf, self.n);
        let mut enc = ctx
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("level 0") });
        self.aff.encode(&ctx.affinity, &mut enc, &mut st.dispatches);
        let plan = self.plan(n as u32, steps);
        self.lz[0].encode_lanczos(&ctx.lanczos, &mut enc, 1, plan, &mut st.dispatches);
        let back = ctx
            .read_back(
                enc,
                &b.staging,
                &[
                    (&b.ab, 0, mb(2 * STEPS as usize)),
                    (&b.minmax, 0, 8),
                    (&b.zero_row, 0, mb(n)),
                ],
            )
            .await?;
        st.readbacks += 1;
        let mm = f32s(&back[1]);
        if !(mm[1] > mm[0]) {
            return Ok(None);
        }
        let excluded = u32s(&back[2]).iter().map(|&z| self.use_excluded && z != 0).collect();
        Ok(Some((excluded, f32s(&back[0]))))
    }

    /// One level on the GPU, one readback: the Ritz vectors from the CPU's coefficients `coef`,
    /// the sweep's decisions, the next layout (`split.wgsl`) and its Lanczos run (regions of at
    /// most `next_len` cells).
    async fn level(
        &self,
        cur: usize,
        regions: &[Pending],
        coef: &[f32],
        next_len: u32,
        st: &mut GpuStats,
    ) -> Result<LevelBack> {
        let (ctx, b) = (self.ctx, &self.buf);
        let n_seg = regions.len();
        let n_pos: usize = regions.iter().map(|r| r.cells.len()).sum();
        ctx.queue.write_buffer(&b.coef, 0, bytemuck::cast_slice(coef));
        // At most two children per segment.
        let next_seg = 2 * n_seg;
        let mut enc = ctx
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("level") });
        let d = &mut st.dispatches;
        self.lz[cur].encode_ritz(&ctx.lanczos, &mut enc, n_pos as u32, d);
        self.sw[cur].encode(&ctx.sweep, &mut enc, n_pos as u32, n_seg as u32, d);
        enc.copy_buffer_to_buffer(&b.work, 0, &b.fiedler, 0, mb(n_pos));
        self.sp[cur].encode(&ctx.split, &mut enc, n_seg as u32, d);
        let next_steps = steps_for(next_len);
        if next_steps >= 1 {
            let plan = self.plan(next_len, next_steps);
            let lz = &self.lz[1 - cur];
            lz.encode_lanczos(&ctx.lanczos, &mut enc, next_seg as u32, plan, d);
        }
        let back = ctx
            .read_back(
                enc,
                &b.staging,
                &[
                    (&b.out, 0, mb(sweep::OUT * n_seg)),
                    (&b.fiedler, 0, mb(n_pos)),
                    (&b.ab, 0, mb(2 * next_seg * STEPS as usize)),
                    (&b.ranges[1 - cur], 0, 8),
                ],
            )
            .await?;
        st.readbacks += 1;
        let next = u32s(&back[3]);
        Ok(LevelBack {
            decisions: f32s(&back[0]),
            y: f32s(&back[1]),
            ab: f32s(&back[2]),
            next: [next[0], next[1]],
        })
    }

    /// Records each region's cut in `nodes`; the accepted ones make the next level's regions by
    /// [`crate::ncut::split`]'s rule in `f32`, which is what `split.wgsl` computed on the GPU.
    /// `solved[s]` is region s's (λ, Lanczos steps used).
    fn record(
        &self,
        nodes: &mut Vec<TreeNode>,
        regions: Vec<Pending>,
        back: &LevelBack,
        solved: &[(f64, usize)],
        excluded: &[bool],
    ) -> Vec<Pending> {
        use sweep::at;
        let mut next = Vec::new();
        let mut start = 0usize;
        for (s, r) in regions.into_iter().enumerate() {
            let d = &back.decisions[s * sweep::OUT..(s + 1) * sweep::OUT];
            let y = &back.y[start..start + r.cells.len()];
            start += r.cells.len();
            let (ncut, theta) = (d[at::NCUT], d[at::THETA]);
            if !(ncut < sweep::NO_CUT) {
                continue; // no threshold separates the region (y constant)
            }
            let (lambda, used) = solved[s];
            let cut = NodeCut {
                ncut: f64::from(ncut),
                lambda,
                threshold: f64::from(theta),
                curve: d[at::CURVE..]
                    .iter()
                    .map(|&v| (v < sweep::NO_CUT).then_some(f64::from(v)))
                    .collect(),
                thresholds: thresholds(y).into_iter().map(f64::from).collect(),
                fiedler: y.iter().map(|&v| f64::from(v)).collect(),
                lanczos_steps: used,
            };
            if let Some(sides) = split_region(&r.cells, y, theta, ncut, self.tau_max, excluded) {
                let depth = nodes[r.node].depth + 1;
                let mut kids = [0u32; 2];
                for (i, cells) in sides.into_iter().enumerate() {
                    kids[i] = nodes.len() as u32;
                    // A child of < 2 cells is a leaf: `split.wgsl` gives it no segment either.
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
        next
    }
}

/// The CPU's part of a level: each region's tridiagonal problem (α, β from its Lanczos run of at
/// most `steps` steps) solved in `f64`. Returns the Ritz coefficients, `m` = [`STEPS`] per region
/// as the GPU's `ritz` reads them, and each region's (λ₂, steps used).
fn ritz_coefficients(regions: &[Pending], ab: &[f32], steps: u32) -> (Vec<f32>, Vec<(f64, usize)>) {
    let mu = STEPS as usize;
    let mut coef = vec![0.0f32; regions.len() * mu];
    let mut solved = Vec::with_capacity(regions.len());
    for (s, r) in regions.iter().enumerate() {
        let cap = (steps as usize).min(r.cells.len() - 1);
        let at = |j: usize| 2 * (s * mu + j);
        // Stop at a breakdown: the Krylov space is exhausted (`lanczos.wgsl` stored a zero vector).
        let mut k = 1;
        while k < cap && ab[at(k - 1) + 1] > lanczos::BREAKDOWN {
            k += 1;
        }
        let a: Vec<f64> = (0..k).map(|j| f64::from(ab[at(j)])).collect();
        let b: Vec<f64> = (0..k - 1).map(|j| f64::from(ab[at(j) + 1])).collect();
        let theta = tridiag::eigenvalue(&a, &b, k - 1);
        for (j, v) in tridiag::eigenvector(&a, &b, theta).into_iter().enumerate() {
            coef[s * mu + j] = v as f32;
        }
        solved.push((1.0 - theta, k));
    }
    (coef, solved)
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
