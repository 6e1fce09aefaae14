//! `affinity.wgsl`: `W = minmax(X̂X̂ᵀ)^α` and the rows holding an exact zero, on the GPU.
//! CPU reference: [`crate::ncut::affinity()`].

use super::{dispatch, pass, Kernel, Shared, Slot};

/// Side of the square tiles of `gram` and `power` (their workgroups are TILE × TILE; the host
/// sizes their grids in tiles).
pub(crate) const TILE: u32 = 16;

/// The constants `affinity.wgsl` takes from here.
pub(crate) const SHARED: &[(&str, Shared)] = &[
    ("TILE", Shared::U32(TILE)),
    // Threads of `gram` (one per tile entry) and of `reduce_minmax`, which share its arrays.
    ("TILE_AREA", Shared::U32(TILE * TILE)),
];

/// `affinity.wgsl` without its constants.
pub(crate) const WGSL: &str = include_str!("affinity.wgsl");

/// Uniform parameters of `affinity.wgsl` (16 bytes).
#[repr(C)]
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
pub(crate) struct Params {
    pub n: u32,
    pub c: u32,
    pub alpha: f32,
    pub tiles_x: u32,
}

pub(crate) struct Kernels {
    normalize: Kernel,
    gram: Kernel,
    reduce: Kernel,
    power: Kernel,
}

/// Binding numbers of `affinity.wgsl`.
pub(crate) mod b {
    pub const PARAMS: u32 = 0;
    pub const X: u32 = 1;
    pub const S: u32 = 2;
    pub const PARTIAL: u32 = 3;
    pub const MINMAX: u32 = 4;
    pub const ZERO_ROW: u32 = 5;
}

impl Kernels {
    pub fn new(device: &wgpu::Device) -> Self {
        let module = super::shader(device, "affinity.wgsl", SHARED, WGSL);
        use Slot::{ParamsFixed as P, ReadWrite as RW};
        Self {
            normalize: Kernel::new(device, &module, "normalize", &[(b::PARAMS, P), (b::X, RW)]),
            gram: Kernel::new(
                device,
                &module,
                "gram",
                &[(b::PARAMS, P), (b::X, RW), (b::S, RW), (b::PARTIAL, RW)],
            ),
            reduce: Kernel::new(
                device,
                &module,
                "reduce_minmax",
                &[(b::PARAMS, P), (b::PARTIAL, RW), (b::MINMAX, RW)],
            ),
            power: Kernel::new(
                device,
                &module,
                "power",
                &[(b::PARAMS, P), (b::S, RW), (b::MINMAX, RW), (b::ZERO_ROW, RW)],
            ),
        }
    }
}

/// The bind groups of one problem size.
pub(crate) struct Groups {
    normalize: wgpu::BindGroup,
    gram: wgpu::BindGroup,
    reduce: wgpu::BindGroup,
    power: wgpu::BindGroup,
    n: u32,
    tiles: u32,
}

impl Groups {
    pub fn new(device: &wgpu::Device, k: &Kernels, n: u32, buffers: &[(u32, &wgpu::Buffer)]) -> Self {
        let size = std::mem::size_of::<Params>() as u64;
        Self {
            normalize: k.normalize.bind(device, buffers, size),
            gram: k.gram.bind(device, buffers, size),
            reduce: k.reduce.bind(device, buffers, size),
            power: k.power.bind(device, buffers, size),
            n,
            tiles: tiles(n),
        }
    }

    /// Records the four passes: normalise, Gram + tile min/max, global min/max, power.
    pub fn encode(&self, k: &Kernels, encoder: &mut wgpu::CommandEncoder, count: &mut u64) {
        let mut p = pass(encoder);
        dispatch(&mut p, &k.normalize, &self.normalize, &[], (self.n, 1), count);
        dispatch(&mut p, &k.gram, &self.gram, &[], (self.tiles, self.tiles), count);
        dispatch(&mut p, &k.reduce, &self.reduce, &[], (1, 1), count);
        dispatch(&mut p, &k.power, &self.power, &[], (self.tiles, self.tiles), count);
    }
}

/// `tiles_x` for an `n`-node problem.
pub(crate) fn tiles(n: u32) -> u32 {
    n.div_ceil(TILE)
}

/// Computes `W` on the GPU and reads it back (for tests and tools; the tree never reads `W`).
pub async fn affinity_gpu(
    ctx: &super::GpuContext,
    features: &crate::ncut::FeatureGrid,
    alpha: f32,
) -> crate::Result<crate::ncut::Affinity> {
    crate::ncut::affinity::check_alpha(alpha)?;
    let (n, c) = (features.cells(), features.c);
    ctx.check_size("the N×N affinity matrix", super::f32_bytes(&[n, n]))?;
    ctx.check_size("the N×C feature matrix", super::f32_bytes(&[n, c]))?;
    let bytes = |count: usize| (count * 4) as u64;
    let n32 = n as u32;
    let x = ctx.storage("features", bytes(n * c));
    let s = ctx.storage("affinity", bytes(n * n));
    let partial = ctx.storage("tile min/max", bytes(2 * (tiles(n32) * tiles(n32)) as usize));
    let minmax = ctx.storage("min/max", 8);
    let zero_row = ctx.storage("zero rows", bytes(n));
    let params = ctx.device.create_buffer(&wgpu::BufferDescriptor {
        label: Some("affinity params"),
        size: 16,
        usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    });
    let staging = ctx.device.create_buffer(&wgpu::BufferDescriptor {
        label: Some("readback"),
        size: bytes(n * n) + 8,
        usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    });
    ctx.queue.write_buffer(&x, 0, bytemuck::cast_slice(&features.data));
    ctx.queue.write_buffer(
        &params,
        0,
        bytemuck::bytes_of(&Params {
            n: n32,
            c: c as u32,
            alpha,
            tiles_x: tiles(n32),
        }),
    );
    let groups = Groups::new(
        &ctx.device,
        &ctx.affinity,
        n32,
        &[
            (b::PARAMS, &params),
            (b::X, &x),
            (b::S, &s),
            (b::PARTIAL, &partial),
            (b::MINMAX, &minmax),
            (b::ZERO_ROW, &zero_row),
        ],
    );
    let mut enc = ctx.device.create_command_encoder(&Default::default());
    let mut count = 0;
    groups.encode(&ctx.affinity, &mut enc, &mut count);
    let back = ctx
        .read_back(enc, &staging, &[(&s, 0, bytes(n * n)), (&minmax, 0, 8)])
        .await?;
    let mm = super::f32s(&back[1]);
    Ok(crate::ncut::Affinity {
        n,
        w: super::f32s(&back[0]),
        constant: !(mm[1] > mm[0]),
    })
}
