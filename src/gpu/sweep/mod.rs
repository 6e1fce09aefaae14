//! `sweep.wgsl`: the sign flip, the 100 thresholds and the NCut of each, and the best cut of
//! every region of a level. CPU reference: [`crate::ncut::bipartition`].

use super::{dispatch, grid, pass, Kernel, Shared, Slot};
use crate::ncut::{bipartition, lanczos};

/// Thresholds per region.
pub(crate) const T: usize = bipartition::THRESHOLDS;
/// Where a region's decision sits in its row of the output: the NCut, the threshold's index t*,
/// θ* (then one unused float), then the curve.
pub(crate) mod at {
    pub const NCUT: usize = 0;
    pub const T_STAR: usize = 1;
    pub const THETA: usize = 2;
    pub const CURVE: usize = 4;
}
/// Floats per region in the output.
pub(crate) const OUT: usize = at::CURVE + T;
/// NCut where a side is empty.
pub(crate) const NO_CUT: f32 = 3.0e38;
/// Threads per workgroup of `stats` and `buckets` (the host sizes the `buckets` grid with it).
pub(crate) const WG: u32 = 64;
/// Threads per workgroup of `rows` and `decide`: one per threshold, rounded up to a power of two
/// for the argmin tree.
pub(crate) const WG_T: u32 = (T as u32).next_power_of_two();
// `stats` reduces (min, max) pairs in one workgroup array of WG_T floats.
const _: () = assert!(2 * WG <= WG_T);

/// The constants `sweep.wgsl` takes from here.
pub(crate) const SHARED: &[(&str, Shared)] = &[
    ("T", Shared::U32(T as u32)),
    ("OUT", Shared::U32(OUT as u32)),
    ("OUT_NCUT", Shared::U32(at::NCUT as u32)),
    ("OUT_T_STAR", Shared::U32(at::T_STAR as u32)),
    ("OUT_THETA", Shared::U32(at::THETA as u32)),
    ("OUT_CURVE", Shared::U32(at::CURVE as u32)),
    ("NO_CUT", Shared::F32(NO_CUT)),
    ("WG", Shared::U32(WG)),
    ("WG_T", Shared::U32(WG_T)),
    ("SPAN", Shared::Abstract(bipartition::SPAN)),
    ("SIGN_TIE", Shared::Abstract(lanczos::SIGN_TIE)),
];

/// `sweep.wgsl` without its constants.
pub(crate) const WGSL: &str = include_str!("sweep.wgsl");

#[repr(C)]
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
pub(crate) struct Params {
    pub n: u32,
    pub _pad: [u32; 3],
}

/// Binding numbers of `sweep.wgsl`.
pub(crate) mod b {
    pub const PARAMS: u32 = 0;
    pub const W: u32 = 1;
    pub const ORDER: u32 = 2;
    pub const SEG: u32 = 3;
    pub const RANGES: u32 = 4;
    pub const Y: u32 = 5;
    pub const BUCKET: u32 = 6;
    pub const R: u32 = 7;
    pub const DIS: u32 = 8;
    pub const STATS: u32 = 9;
    pub const OUT: u32 = 10;
}

pub(crate) struct Kernels {
    stats: Kernel,
    buckets: Kernel,
    rows: Kernel,
    decide: Kernel,
}

impl Kernels {
    pub fn new(device: &wgpu::Device) -> Self {
        let module = super::shader(device, "sweep.wgsl", SHARED, WGSL);
        use Slot::{ParamsFixed as P, Read as R, ReadWrite as RW};
        Self {
            stats: Kernel::new(
                device,
                &module,
                "stats_kernel",
                &[(b::PARAMS, P), (b::RANGES, R), (b::Y, RW), (b::STATS, RW)],
            ),
            buckets: Kernel::new(
                device,
                &module,
                "buckets",
                &[
                    (b::PARAMS, P),
                    (b::SEG, R),
                    (b::RANGES, R),
                    (b::Y, RW),
                    (b::BUCKET, RW),
                    (b::STATS, RW),
                ],
            ),
            rows: Kernel::new(
                device,
                &module,
                "rows",
                &[
                    (b::PARAMS, P),
                    (b::W, R),
                    (b::ORDER, R),
                    (b::SEG, R),
                    (b::RANGES, R),
                    (b::BUCKET, RW),
                    (b::R, RW),
                ],
            ),
            decide: Kernel::new(
                device,
                &module,
                "decide",
                &[
                    (b::PARAMS, P),
                    (b::RANGES, R),
                    (b::BUCKET, RW),
                    (b::R, RW),
                    (b::DIS, R),
                    (b::STATS, RW),
                    (b::OUT, RW),
                ],
            ),
        }
    }
}

pub(crate) struct Groups {
    stats: wgpu::BindGroup,
    buckets: wgpu::BindGroup,
    rows: wgpu::BindGroup,
    decide: wgpu::BindGroup,
}

impl Groups {
    pub fn new(device: &wgpu::Device, k: &Kernels, buffers: &[(u32, &wgpu::Buffer)]) -> Self {
        let size = std::mem::size_of::<Params>() as u64;
        Self {
            stats: k.stats.bind(device, buffers, size),
            buckets: k.buckets.bind(device, buffers, size),
            rows: k.rows.bind(device, buffers, size),
            decide: k.decide.bind(device, buffers, size),
        }
    }

    /// Records the whole per-region decision for `n_seg` regions over `n_pos` positions.
    pub fn encode(&self, k: &Kernels, e: &mut wgpu::CommandEncoder, n_pos: u32, n_seg: u32, count: &mut u64) {
        let mut p = pass(e);
        dispatch(&mut p, &k.stats, &self.stats, &[], (n_seg, 1), count);
        dispatch(&mut p, &k.buckets, &self.buckets, &[], grid(n_pos.div_ceil(WG)), count);
        dispatch(&mut p, &k.rows, &self.rows, &[], grid(n_pos), count);
        dispatch(&mut p, &k.decide, &self.decide, &[], (n_seg, 1), count);
    }
}
