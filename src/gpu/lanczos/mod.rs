//! `lanczos.wgsl`: degrees, the matrix-free sub-graph operator `D_S^-1/2 W_S D_S^-1/2 x` for every
//! region of a tree level at once, Lanczos steps with full re-orthogonalisation, Ritz vectors.
//! CPU reference: [`crate::ncut::lanczos`].

use super::{dispatch, grid, pass, Kernel, Shared, Slot};

/// Threads per workgroup of every entry point (the host sizes the per-position grids with it).
pub(crate) const WG: u32 = 64;
/// `finish` modes: normalise the vector only (`√d` and the start vector), or a Lanczos step j
/// that also records α_j and β_j.
pub(crate) const FINISH_NORMALISE: u32 = 0;
pub(crate) const FINISH_STEP: u32 = 1;
/// β at or below this (`f32` noise) means the Krylov space is exhausted: `finish` stores a zero
/// vector and the host stops the tridiagonal problem there.
pub(crate) const BREAKDOWN: f32 = 1e-6;

/// The constants `lanczos.wgsl` takes from here.
pub(crate) const SHARED: &[(&str, Shared)] = &[
    ("WG", Shared::U32(WG)),
    ("FINISH_NORMALISE", Shared::U32(FINISH_NORMALISE)),
    ("FINISH_STEP", Shared::U32(FINISH_STEP)),
    ("BREAKDOWN", Shared::F32(BREAKDOWN)),
];

/// `lanczos.wgsl` without its constants.
pub(crate) const WGSL: &str = include_str!("lanczos.wgsl");

/// Uniform parameters of `lanczos.wgsl`, one 256-byte slot per dispatch variant (dynamic offsets).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, bytemuck::Pod, bytemuck::Zeroable)]
pub(crate) struct Params {
    pub n: u32,
    pub j: u32,
    pub k: u32,
    pub coef_off: u32,
    pub dst: u32,
    pub m: u32,
    pub mode: u32,
    pub coef2: u32,
}

/// Bytes between parameter slots (the WebGPU minimum uniform offset alignment).
pub(crate) const SLOT: u64 = 256;

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
    degrees: Kernel,
    start: Kernel,
    matvec: Kernel,
    dots: Kernel,
    sub: Kernel,
    finish: Kernel,
    ritz: Kernel,
}

impl Kernels {
    pub fn new(device: &wgpu::Device) -> Self {
        let module = super::shader(device, "lanczos.wgsl", SHARED, WGSL);
        use Slot::{Params as P, Read as R, ReadWrite as RW};
        Self {
            degrees: Kernel::new(
                device,
                &module,
                "degrees",
                &[
                    (b::PARAMS, P),
                    (b::W, R),
                    (b::ORDER, R),
                    (b::SEG, R),
                    (b::RANGES, R),
                    (b::DIS, RW),
                    (b::WORK, RW),
                ],
            ),
            start: Kernel::new(
                device,
                &module,
                "start",
                &[(b::PARAMS, P), (b::SEG, R), (b::RANGES, R), (b::WORK, RW)],
            ),
            matvec: Kernel::new(
                device,
                &module,
                "matvec",
                &[
                    (b::PARAMS, P),
                    (b::W, R),
                    (b::ORDER, R),
                    (b::SEG, R),
                    (b::RANGES, R),
                    (b::DIS, RW),
                    (b::Q, RW),
                    (b::WORK, RW),
                ],
            ),
            dots: Kernel::new(
                device,
                &module,
                "dots",
                &[(b::PARAMS, P), (b::RANGES, R), (b::Q, RW), (b::WORK, RW), (b::COEF, RW)],
            ),
            sub: Kernel::new(
                device,
                &module,
                "sub",
                &[
                    (b::PARAMS, P),
                    (b::SEG, R),
                    (b::RANGES, R),
                    (b::Q, RW),
                    (b::WORK, RW),
                    (b::COEF, RW),
                ],
            ),
            finish: Kernel::new(
                device,
                &module,
                "finish",
                &[
                    (b::PARAMS, P),
                    (b::RANGES, R),
                    (b::Q, RW),
                    (b::WORK, RW),
                    (b::COEF, RW),
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

/// Parameter slot indices within a level (see [`slots`]).
pub(crate) mod slot {
    pub const V1: u32 = 0;
    pub const START_PASS1: u32 = 1;
    pub const START_PASS2: u32 = 2;
    pub const START_FINISH: u32 = 3;
    /// Step j uses slots `STEP + 3j` (matvec, first pass), `+1` (second pass), `+2` (finish).
    pub const STEP: u32 = 4;
    pub fn ritz(m: u32) -> u32 {
        STEP + 3 * m
    }
}

/// The parameter slots for an `n`-cell grid with basis capacity `m`; the Ritz step sums `steps`
/// vectors. Segment counts are read from the layout on the GPU, not from here.
pub(crate) fn slots(n: u32, steps: u32, m: u32) -> Vec<Params> {
    let pass2 = n * (m + 2);
    let base = Params {
        n,
        m,
        coef2: pass2,
        ..Default::default()
    };
    let mut out = vec![
        Params {
            dst: 0,
            mode: FINISH_NORMALISE,
            ..base
        },
        Params {
            k: 1,
            coef_off: 0,
            ..base
        },
        Params {
            k: 1,
            coef_off: pass2,
            ..base
        },
        Params {
            dst: 1,
            mode: FINISH_NORMALISE,
            ..base
        },
    ];
    for j in 0..m {
        out.push(Params {
            j,
            k: j + 2,
            coef_off: 0,
            ..base
        });
        out.push(Params {
            j,
            k: j + 2,
            coef_off: pass2,
            ..base
        });
        out.push(Params {
            j,
            dst: j + 2,
            mode: FINISH_STEP,
            ..base
        });
    }
    out.push(Params { k: steps, ..base });
    out
}

/// The bind groups of one problem size.
pub(crate) struct Groups {
    degrees: wgpu::BindGroup,
    start: wgpu::BindGroup,
    matvec: wgpu::BindGroup,
    dots: wgpu::BindGroup,
    sub: wgpu::BindGroup,
    finish: wgpu::BindGroup,
    ritz: wgpu::BindGroup,
}

fn off(slot: u32) -> [u32; 1] {
    [(u64::from(slot) * SLOT) as u32]
}

impl Groups {
    pub fn new(device: &wgpu::Device, k: &Kernels, buffers: &[(u32, &wgpu::Buffer)]) -> Self {
        let size = std::mem::size_of::<Params>() as u64;
        Self {
            degrees: k.degrees.bind(device, buffers, size),
            start: k.start.bind(device, buffers, size),
            matvec: k.matvec.bind(device, buffers, size),
            dots: k.dots.bind(device, buffers, size),
            sub: k.sub.bind(device, buffers, size),
            finish: k.finish.bind(device, buffers, size),
            ritz: k.ritz.bind(device, buffers, size),
        }
    }

    /// Records one level's Lanczos run: degrees and `Q_0 = √d/‖√d‖`, the start vector
    /// orthogonalised against it, then `steps` Lanczos steps for every segment at once.
    ///
    /// `n_pos`, `n_seg` and `steps` are upper bounds (the layout may come from the GPU): surplus
    /// workgroups return at once, surplus steps only extend bases the CPU then ignores.
    pub fn encode_lanczos(
        &self,
        k: &Kernels,
        e: &mut wgpu::CommandEncoder,
        n_pos: u32,
        n_seg: u32,
        steps: u32,
        count: &mut u64,
    ) {
        let mut p = pass(e);
        let per_pos = (grid(n_pos), grid(n_pos.div_ceil(WG)));
        dispatch(&mut p, &k.degrees, &self.degrees, &off(slot::V1), per_pos.0, count);
        dispatch(&mut p, &k.finish, &self.finish, &off(slot::V1), (n_seg, 1), count);
        dispatch(&mut p, &k.start, &self.start, &off(slot::V1), per_pos.1, count);
        dispatch(&mut p, &k.dots, &self.dots, &off(slot::START_PASS1), (n_seg, 1), count);
        dispatch(&mut p, &k.sub, &self.sub, &off(slot::START_PASS1), per_pos.1, count);
        dispatch(&mut p, &k.dots, &self.dots, &off(slot::START_PASS2), (n_seg, 1), count);
        dispatch(&mut p, &k.sub, &self.sub, &off(slot::START_PASS2), per_pos.1, count);
        dispatch(
            &mut p,
            &k.finish,
            &self.finish,
            &off(slot::START_FINISH),
            (n_seg, 1),
            count,
        );
        for j in 0..steps {
            let s = slot::STEP + 3 * j;
            dispatch(&mut p, &k.matvec, &self.matvec, &off(s), per_pos.0, count);
            dispatch(&mut p, &k.dots, &self.dots, &off(s), (n_seg, j + 2), count);
            dispatch(&mut p, &k.sub, &self.sub, &off(s), per_pos.1, count);
            dispatch(&mut p, &k.dots, &self.dots, &off(s + 1), (n_seg, j + 2), count);
            dispatch(&mut p, &k.sub, &self.sub, &off(s + 1), per_pos.1, count);
            dispatch(&mut p, &k.finish, &self.finish, &off(s + 2), (n_seg, 1), count);
        }
    }

    /// Records the Ritz vectors `y = D^-1/2 Σ_i s_i Q_{1+i}` into the work vector.
    pub fn encode_ritz(&self, k: &Kernels, e: &mut wgpu::CommandEncoder, n_pos: u32, m: u32, count: &mut u64) {
        let mut p = pass(e);
        dispatch(
            &mut p,
            &k.ritz,
            &self.ritz,
            &off(slot::ritz(m)),
            grid(n_pos.div_ceil(WG)),
            count,
        );
    }
}
