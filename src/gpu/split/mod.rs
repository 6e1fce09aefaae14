//! `split.wgsl`: the next level's layout from this level's cut decisions, on the GPU.
//! CPU reference: [`crate::ncut::split`], the rule both trees follow.

use super::{dispatch, pass, sweep, Kernel, Shared, Slot};

/// Threads per workgroup of `count` and `scatter`, one per segment (the host sizes the grid).
pub(crate) const WG: u32 = 64;

/// The constants `split.wgsl` takes from here: the layout of `sweep.wgsl`'s decisions it reads.
pub(crate) const SHARED: &[(&str, Shared)] = &[
    ("OUT", Shared::U32(sweep::OUT as u32)),
    ("OUT_NCUT", Shared::U32(sweep::at::NCUT as u32)),
    ("OUT_THETA", Shared::U32(sweep::at::THETA as u32)),
    ("WG", Shared::U32(WG)),
];

/// `split.wgsl` without its constants.
pub(crate) const WGSL: &str = include_str!("split.wgsl");

#[repr(C)]
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
pub(crate) struct Params {
    pub tau_max: f32,
    pub use_excluded: u32,
    pub _pad: [u32; 2],
}

/// Binding numbers of `split.wgsl`.
pub(crate) mod b {
    pub const PARAMS: u32 = 0;
    pub const RANGES: u32 = 1;
    pub const Y: u32 = 2;
    pub const OUT: u32 = 3;
    pub const EXCLUDED: u32 = 4;
    pub const ORDER: u32 = 5;
    pub const SIDE: u32 = 6;
    pub const COUNTS: u32 = 7;
    pub const NEXT: u32 = 8;
    pub const ORDER2: u32 = 9;
    pub const SEG2: u32 = 10;
}

pub(crate) struct Kernels {
    count: Kernel,
    scan: Kernel,
    scatter: Kernel,
}

impl Kernels {
    pub fn new(device: &wgpu::Device) -> Self {
        let module = super::shader(device, "split.wgsl", SHARED, WGSL);
        use Slot::{ParamsFixed as P, Read as R, ReadWrite as RW};
        Self {
            count: Kernel::new(
                device,
                &module,
                "count",
                &[
                    (b::PARAMS, P),
                    (b::RANGES, R),
                    (b::Y, R),
                    (b::OUT, R),
                    (b::EXCLUDED, R),
                    (b::ORDER, R),
                    (b::SIDE, RW),
                    (b::COUNTS, RW),
                ],
            ),
            scan: Kernel::new(
                device,
                &module,
                "scan",
                &[(b::RANGES, R), (b::COUNTS, RW), (b::NEXT, RW)],
            ),
            scatter: Kernel::new(
                device,
                &module,
                "scatter",
                &[
                    (b::RANGES, R),
                    (b::ORDER, R),
                    (b::SIDE, RW),
                    (b::COUNTS, RW),
                    (b::NEXT, RW),
                    (b::ORDER2, RW),
                    (b::SEG2, RW),
                ],
            ),
        }
    }
}

pub(crate) struct Groups {
    count: wgpu::BindGroup,
    scan: wgpu::BindGroup,
    scatter: wgpu::BindGroup,
}

impl Groups {
    pub fn new(device: &wgpu::Device, k: &Kernels, buffers: &[(u32, &wgpu::Buffer)]) -> Self {
        let size = std::mem::size_of::<Params>() as u64;
        Self {
            count: k.count.bind(device, buffers, size),
            scan: k.scan.bind(device, buffers, size),
            scatter: k.scatter.bind(device, buffers, size),
        }
    }

    /// Records the split of at most `n_seg` segments into the next level's layout.
    pub fn encode(&self, k: &Kernels, e: &mut wgpu::CommandEncoder, n_seg: u32, count: &mut u64) {
        let mut p = pass(e);
        let groups = n_seg.div_ceil(WG).max(1);
        dispatch(&mut p, &k.count, &self.count, &[], (groups, 1), count);
        dispatch(&mut p, &k.scan, &self.scan, &[], (1, 1), count);
        dispatch(&mut p, &k.scatter, &self.scatter, &[], (groups, 1), count);
    }
}
