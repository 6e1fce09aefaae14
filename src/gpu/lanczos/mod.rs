//! `lanczos.wgsl`: the matrix-free sub-graph operator `D_S^-1/2 W_S D_S^-1/2 x` of every region of
//! a tree level, each region's whole Lanczos process (degrees, full re-orthogonalisation) in one
//! workgroup, and the Ritz vectors. CPU reference: [`crate::ncut::lanczos`].

use super::{dispatch, grid, pass, Kernel, Shared, Slot};

/// Threads per workgroup of `ritz` (one thread per position).
pub(crate) const WG: u32 = 64;
/// Threads per workgroup of `region` (one workgroup per region): the most WebGPU guarantees.
pub(crate) const RG: u32 = 256;
/// Dot products `region` reduces together (its workgroup memory holds `BATCH × RG` partial sums).
pub(crate) const BATCH: u32 = 12;
/// Basis slots per region: `Q_0 = √d`, then the m = [`super::tree::STEPS`] Lanczos vectors and
/// the one after the last step.
pub(crate) const BASIS: u32 = super::tree::STEPS + 2;
/// Terms per loop iteration of `column` (a region's single column), written out in the shader.
pub(crate) const TERMS: u32 = 4;
/// Columns `column_sums` takes at a time in a region larger than a workgroup (a `vec4`).
pub(crate) const COLS: u32 = 4;
/// Rows per loop iteration of those four columns, written out in the shader (eight `row4` calls).
pub(crate) const ROWS: u32 = 8;
/// β at or below this (`f32` noise) means the Krylov space is exhausted: `region` stores a zero
/// vector (and goes on with it), and the host stops the tridiagonal problem there.
pub(crate) const BREAKDOWN: f32 = 1e-6;

/// The constants `lanczos.wgsl` takes from here.
pub(crate) const SHARED: &[(&str, Shared)] = &[
    ("WG", Shared::U32(WG)),
    ("RG", Shared::U32(RG)),
    ("BATCH", Shared::U32(BATCH)),
    ("BASIS", Shared::U32(BASIS)),
    ("TERMS", Shared::U32(TERMS)),
    ("COLS", Shared::U32(COLS)),
    ("ROWS", Shared::U32(ROWS)),
    ("BREAKDOWN", Shared::F32(BREAKDOWN)),
];

/// `lanczos.wgsl` without its constants.
pub(crate) const WGSL: &str = include_str!("lanczos.wgsl");

/// Loop iterations one invocation of `region` may run per dispatch, by [`iterations`].
///
/// llvmpipe (lavapipe, the Vulkan driver our GPU tests run on) ends an invocation once it has run
/// 65 535 loop iterations in all (`LP_MAX_TGSI_LOOP_ITERATIONS`, a guard against endless
/// shaders), silently: a region's whole Lanczos process in one dispatch lost its basis after
/// ~60 000 iterations. So a level's steps are spread over dispatches ([`plan`]) that each stay
/// within half that limit. Every device gets the same plan: the arithmetic is the same whatever
/// the split, and a few dispatches more per level cost nothing measurable on a GPU.
pub(crate) const ITERATION_BUDGET: u64 = 32_768;

/// llvmpipe's limit on loop iterations per invocation (`LP_MAX_TGSI_LOOP_ITERATIONS`).
pub(crate) const LLVMPIPE_LIMIT: u64 = 65_535;

/// The most loop iterations one dispatch of [`plan`] can need for segments of up to `len_max`
/// cells and `steps` steps: the set-up alone, or the last step alone.
pub(crate) fn worst_dispatch(len_max: u32, steps: u32) -> u64 {
    iterations(len_max, true, 0, 0).max(iterations(len_max, false, steps.saturating_sub(1), steps))
}

/// Uniform parameters of `lanczos.wgsl`, one 256-byte slot per dispatch of `region` (dynamic
/// offsets); `ritz` reads slot 0.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, bytemuck::Pod, bytemuck::Zeroable)]
pub(crate) struct Params {
    /// Cells in the grid.
    pub n: u32,
    /// Basis capacity m = [`super::tree::STEPS`].
    pub m: u32,
    /// 1: this dispatch begins with the set-up (the degrees, `Q_0` and `Q_1`).
    pub setup: u32,
    /// The first Lanczos step of this dispatch.
    pub first: u32,
    /// One past its last step.
    pub last: u32,
    pub _pad: [u32; 3],
}

/// Bytes between parameter slots (the WebGPU minimum uniform offset alignment).
pub(crate) const SLOT: u64 = 256;

/// An upper bound on the loop iterations one invocation of `region` runs for a segment of `len`
/// cells: the set-up when `setup`, then Lanczos steps `first..last`. It follows
/// the loops of `lanczos.wgsl` one by one, each counted with its exit test.
pub(crate) fn iterations(len: u32, setup: bool, first: u32, last: u32) -> u64 {
    let len = u64::from(len);
    let rg = u64::from(RG);
    let owned = len.div_ceil(rg);
    let log_rg = u64::from(RG.trailing_zeros());
    // `column_sums`: a region of at most RG cells sums one column, TERMS terms per iteration; a
    // larger one takes COLS columns at a time, ROWS rows per iteration, then the remaining rows
    // one per iteration. Then one pass over the owned positions.
    let (terms, cols, rows) = (u64::from(TERMS), u64::from(COLS), u64::from(ROWS));
    let sums = if len <= rg {
        len / terms + len % terms + 2
    } else {
        owned.div_ceil(cols) * ((len / rows + 1) + (len % rows + 1) + 1) + 1
    };
    let column_sums = sums + owned + 1;
    let reduce = |rows: u64| log_rg * (rows + 1) + 1;
    let project = |k: u64| {
        let batch = u64::from(BATCH);
        let mut it = 0;
        let mut i0 = 0;
        while i0 < k {
            let rows = batch.min(k - i0);
            // The batch loop, each row's loop over the owned positions, the reduction.
            it += 1 + (rows + 1) + rows * (owned + 1) + reduce(rows);
            i0 += batch;
        }
        it + 1 + owned * (k + 1) + 1
    };
    let normalise = 2 * (owned + 1) + reduce(1);
    let mut it = 0;
    if setup {
        it += column_sums + normalise + (owned + 1) + 2 * project(1) + normalise;
    }
    for j in u64::from(first)..u64::from(last) {
        it += 1 + column_sums + 2 * project(j + 2) + normalise;
    }
    it
}

/// One dispatch of `region`: the set-up or not, then Lanczos steps `first..last`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Chunk {
    pub setup: bool,
    pub first: u32,
    pub last: u32,
}

/// The dispatches of one level's Lanczos runs: the set-up, then step ranges covering `0..steps`,
/// each dispatch within [`ITERATION_BUDGET`] for segments of up to `len_max` cells. A dispatch
/// takes at least one step, but for the set-up alone when set-up and first step together would
/// not fit.
pub(crate) fn plan(len_max: u32, steps: u32) -> Vec<Chunk> {
    let fits = |setup, first, last| iterations(len_max, setup, first, last) <= ITERATION_BUDGET;
    let mut out = Vec::new();
    let mut setup = true;
    let mut first = 0;
    if steps > 0 && !fits(true, 0, 1) {
        out.push(Chunk { setup, first, last: 0 });
        setup = false;
    }
    while first < steps || out.is_empty() {
        let mut last = (first + 1).min(steps);
        while last < steps && fits(setup, first, last + 1) {
            last += 1;
        }
        out.push(Chunk { setup, first, last });
        setup = false;
        first = last;
    }
    out
}

/// The uniform slots of `plan` for an `n`-cell grid.
pub(crate) fn slot_bytes(n: u32, plan: &[Chunk]) -> Vec<u8> {
    let mut bytes = vec![0u8; plan.len().max(1) * SLOT as usize];
    for (i, c) in plan.iter().enumerate() {
        let p = Params {
            n,
            m: super::tree::STEPS,
            setup: u32::from(c.setup),
            first: c.first,
            last: c.last,
            _pad: [0; 3],
        };
        let at = i * SLOT as usize;
        bytes[at..at + std::mem::size_of::<Params>()].copy_from_slice(bytemuck::bytes_of(&p));
    }
    bytes
}

/// Binding numbers of `lanczos.wgsl`.
pub(crate) mod b {
    pub const PARAMS: u32 = 0;
    pub const W: u32 = 1;
    pub const ORDER: u32 = 2;
    pub const SEG: u32 = 3;
    pub const RANGES: u32 = 4;
    pub const DIS: u32 = 5;
    pub const Q: u32 = 6;
    pub const WORK: u32 = 7;
    pub const COEF: u32 = 8;
    pub const AB: u32 = 9;
}

pub(crate) struct Kernels {
    region: Kernel,
    ritz: Kernel,
}

impl Kernels {
    pub fn new(device: &wgpu::Device) -> Self {
        let module = super::shader(device, "lanczos.wgsl", SHARED, WGSL);
        use Slot::{Params as P, Read as R, ReadWrite as RW};
        Self {
            region: Kernel::new(
                device,
                &module,
                "region",
                &[
                    (b::PARAMS, P),
                    (b::W, R),
                    (b::ORDER, R),
                    (b::RANGES, R),
                    (b::DIS, RW),
                    (b::Q, RW),
                    (b::WORK, RW),
                    (b::AB, RW),
                ],
            ),
            ritz: Kernel::new(
                device,
                &module,
                "ritz",
                &[
                    (b::PARAMS, P),
                    (b::SEG, R),
                    (b::RANGES, R),
                    (b::DIS, RW),
                    (b::Q, RW),
                    (b::WORK, RW),
                    (b::COEF, RW),
                ],
            ),
        }
    }
}

fn off(slot: u32) -> [u32; 1] {
    [(u64::from(slot) * SLOT) as u32]
}

/// The bind groups of one problem size.
pub(crate) struct Groups {
    region: wgpu::BindGroup,
    ritz: wgpu::BindGroup,
}

impl Groups {
    pub fn new(device: &wgpu::Device, k: &Kernels, buffers: &[(u32, &wgpu::Buffer)]) -> Self {
        let size = std::mem::size_of::<Params>() as u64;
        Self {
            region: k.region.bind(device, buffers, size),
            ritz: k.ritz.bind(device, buffers, size),
        }
    }

    /// Records one level's Lanczos runs: every segment's degrees, `Q_0 = √d/‖√d‖`, start vector
    /// and `min(m, len − 1)` steps, one workgroup per segment, in `dispatches` dispatches (the
    /// [`plan`] whose slots are in the parameter buffer).
    ///
    /// `n_seg` is an upper bound (the layout may come from the GPU): surplus workgroups return at
    /// once.
    pub fn encode_lanczos(
        &self,
        k: &Kernels,
        e: &mut wgpu::CommandEncoder,
        n_seg: u32,
        dispatches: usize,
        count: &mut u64,
    ) {
        let mut p = pass(e);
        for i in 0..dispatches as u32 {
            dispatch(&mut p, &k.region, &self.region, &off(i), grid(n_seg), count);
        }
    }

    /// Records the Ritz vectors `y = D^-1/2 Σ_i s_i Q_{1+i}` into the work vector.
    pub fn encode_ritz(&self, k: &Kernels, e: &mut wgpu::CommandEncoder, n_pos: u32, count: &mut u64) {
        let mut p = pass(e);
        dispatch(&mut p, &k.ritz, &self.ritz, &off(0), grid(n_pos.div_ceil(WG)), count);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plan_covers_every_step_once_within_the_budget() {
        let m = super::super::tree::STEPS;
        for (len_max, steps) in [
            (2, 1),
            (3, 1),
            (40, 38),
            (256, m),
            (1024, m),
            (2304, m),
            (4096, m),
            (5776, m),
        ] {
            let plan = plan(len_max, steps);
            assert!(plan[0].setup && plan[0].first == 0, "{len_max}: {plan:?}");
            assert!(plan[1..].iter().all(|c| !c.setup), "{len_max}: one set-up");
            assert_eq!(plan.last().unwrap().last, steps);
            for w in plan.windows(2) {
                assert_eq!(w[0].last, w[1].first, "{len_max}: contiguous");
            }
            for c in &plan {
                let it = iterations(len_max, c.setup, c.first, c.last);
                // Only a lone step (or the set-up alone) may exceed the budget, never the limit.
                let lone = c.last <= c.first + 1 && !(c.setup && c.last > c.first);
                assert!(it <= ITERATION_BUDGET || lone, "{len_max} {c:?}: {it} iterations");
                assert!(it < LLVMPIPE_LIMIT, "{len_max} {c:?}: {it} iterations");
                assert!(c.last > c.first || c.setup, "{len_max}: an empty dispatch");
            }
        }
    }

    #[test]
    fn a_32x32_root_needs_several_dispatches_and_few() {
        // One dispatch for the root's steps would run past llvmpipe's limit (it lost its basis
        // at step 13), so the plan splits it; about a dozen dispatches, not one per step.
        let m = super::super::tree::STEPS;
        assert!(iterations(1024, true, 0, m) > LLVMPIPE_LIMIT);
        let plan = plan(1024, m);
        assert!((2..=16).contains(&plan.len()), "{plan:?}");
        // Up to the largest grid whose affinity fits a 128 MiB binding (76²) every dispatch fits
        // under llvmpipe's limit; at 150² one step alone would not (the host refuses it there).
        assert!(worst_dispatch(76 * 76, m) < LLVMPIPE_LIMIT);
        assert!(worst_dispatch(150 * 150, m) > LLVMPIPE_LIMIT);
    }

    #[test]
    fn iterations_grow_with_the_region_and_the_steps() {
        assert!(iterations(512, false, 0, 1) < iterations(1024, false, 0, 1));
        assert!(iterations(1024, false, 0, 1) < iterations(1024, false, 70, 71));
        assert!(iterations(1024, false, 0, 1) < iterations(1024, true, 0, 1));
        assert_eq!(iterations(1024, false, 5, 5), 0);
    }

    #[test]
    fn the_shader_writes_out_rows_and_terms_as_declared() {
        // `iterations` counts the loops as these constants say the shader is written.
        let rows = WGSL.matches("acc += row4(p").count();
        assert_eq!(rows, ROWS as usize, "row4 calls per iteration of column_sums");
        let terms = WGSL.matches("acc += w_aff[order[p").count();
        assert_eq!(terms, TERMS as usize, "terms per iteration of column");
    }
}
