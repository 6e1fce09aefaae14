//! `pamr.wgsl`: PAMR refinement (docs/ALGORITHM.md §5.3) on the GPU. CPU reference: [`crate::refine::pamr()`].
//!
//! One call builds its buffers and bind groups once, records every pass into one command buffer
//! and reads back once:
//!
//! ```text
//! affinity (each row band)                          softmax weights, computed once
//! for each label chunk:
//!     init                                          one-hot labels → bilinear (align_corners)
//!     iterations × propagate (each row band)        ping-pong between two mask buffers
//!     argmax                                        running best over the chunks, in label order
//! median                                            3×3, edges repeated
//! ```
//!
//! # Tiling
//! Two arrays can outgrow one storage binding (often 128 MiB in browsers):
//! - the weights, `P·H·W` floats (256 MiB for the demo preset at 1024²): they are split into
//!   **row bands**, one buffer per band `[P, rows, W]`, each within the limit. A band's propagate
//!   pass reads the whole mask (neighbours up to 64 rows away) and writes its own rows.
//! - the mask, `K·H·W` floats (4 MiB per label at 1024²): it is processed in **label chunks**.
//!   Propagation never mixes labels, so each chunk runs all its iterations on its own in one
//!   ping-pong pair sized for the largest chunk, and the argmax keeps a running (value, label) per
//!   pixel. GPU memory for the mask is then `2·chunk·H·W` floats whatever K is. The mask is
//!   stored four labels to a `vec4` (`[⌈kc/4⌉, H, W]`, unused lanes 0), so a chunk is a multiple
//!   of 4 labels unless it holds them all.
//!
//! Anything that cannot be tiled (the image `3·H·W` floats, four mask planes `4·H·W` floats, one
//! row of weights `P·W` floats) must fit one binding, or the call returns [`Error::GpuLimit`]:
//! with 128 MiB bindings that allows up to 8.3 M pixels (e.g. 2896²).
//!
//! The 3×3 median is a kernel too (9 reads per pixel), so only the labels come back.

use super::{dispatch, grid, pass, u32s, GpuContext, Kernel, Shared, Slot};
use crate::image_io::RgbImage;
use crate::labels::LabelMap;
use crate::refine::pamr::{ImageRef, PamrConfig, Prepared};
use crate::{Error, Result};

/// Uniform parameters of `pamr.wgsl` (48 bytes), one 256-byte slot per dispatch variant.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, bytemuck::Pod, bytemuck::Zeroable)]
pub(crate) struct Params {
    pub w: u32,
    pub h: u32,
    pub y0: u32,
    pub rows: u32,
    pub k0: u32,
    pub kc: u32,
    pub nd: u32,
    pub lw: u32,
    pub first: u32,
    pub _pad: [u32; 3],
}

/// Bytes between parameter slots (the WebGPU minimum uniform offset alignment).
const SLOT: u64 = 256;
/// Invocations per workgroup.
pub(crate) const WG: u32 = 64;

/// The constants `pamr.wgsl` takes from here.
pub(crate) const SHARED: &[(&str, Shared)] = &[("WG", Shared::U32(WG))];

/// `pamr.wgsl` without its constants.
pub(crate) const WGSL: &str = include_str!("pamr.wgsl");

/// Binding numbers of `pamr.wgsl`.
pub(crate) mod b {
    pub const PARAMS: u32 = 0;
    pub const DIL: u32 = 1;
    pub const IMG: u32 = 2;
    pub const AFF_OUT: u32 = 3;
    pub const AFF: u32 = 4;
    pub const TAPS: u32 = 5;
    pub const LAB: u32 = 6;
    pub const SRC: u32 = 7;
    pub const DST: u32 = 8;
    pub const BEST: u32 = 9;
    pub const ARG: u32 = 10;
    pub const ARG_IN: u32 = 11;
    pub const LABELS_OUT: u32 = 12;
}

pub(crate) struct Kernels {
    affinity: Kernel,
    init: Kernel,
    propagate: Kernel,
    argmax: Kernel,
    median: Kernel,
}

impl Kernels {
    pub fn new(device: &wgpu::Device) -> Self {
        let module = super::shader(device, "pamr.wgsl", SHARED, WGSL);
        use Slot::{Params as P, Read as R, ReadWrite as RW};
        Self {
            affinity: Kernel::new(
                device,
                &module,
                "affinity",
                &[(b::PARAMS, P), (b::DIL, R), (b::IMG, R), (b::AFF_OUT, RW)],
            ),
            init: Kernel::new(
                device,
                &module,
                "init",
                &[(b::PARAMS, P), (b::TAPS, R), (b::LAB, R), (b::DST, RW)],
            ),
            propagate: Kernel::new(
                device,
                &module,
                "propagate",
                &[(b::PARAMS, P), (b::DIL, R), (b::AFF, R), (b::SRC, R), (b::DST, RW)],
            ),
            argmax: Kernel::new(
                device,
                &module,
                "argmax",
                &[(b::PARAMS, P), (b::SRC, R), (b::BEST, RW), (b::ARG, RW)],
            ),
            median: Kernel::new(
                device,
                &module,
                "median",
                &[(b::PARAMS, P), (b::ARG_IN, R), (b::LABELS_OUT, RW)],
            ),
        }
    }
}

/// Options of [`pamr_gpu_with`].
#[derive(Clone, Copy, Debug, Default)]
pub struct PamrGpuOptions {
    /// Largest storage binding to use, in bytes; `None` uses the device's ([`GpuContext::max_buffer`]).
    /// A smaller value forces the row-band and label-chunk tiling (tests).
    pub max_binding: Option<u64>,
}

/// What [`pamr_gpu_with`] returns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PamrGpuOutput {
    /// Argmax over the refined mask, before the median, `[H, W]`.
    pub argmax: Vec<u32>,
    /// The final labels (after the 3×3 median), `[H, W]`: what [`pamr_gpu`] returns.
    pub labels: Vec<u32>,
    /// Label chunks the mask was processed in (1 unless `K·H·W` floats exceed a binding).
    pub label_chunks: usize,
    /// Row bands the weights were stored in (1 unless `P·H·W` floats exceed a binding).
    pub row_bands: usize,
    /// Compute dispatches recorded.
    pub dispatches: u64,
}

/// PAMR on the GPU: same inputs and result as [`crate::refine::pamr::pamr`] (up to float ties).
///
/// # Errors
/// As the CPU version for bad inputs; [`Error::GpuLimit`] when the image, one mask plane or one
/// row of weights exceeds a storage binding; [`Error::Gpu`] when the device fails.
pub async fn pamr_gpu(ctx: &GpuContext, image: &RgbImage, labels: &LabelMap, cfg: &PamrConfig) -> Result<LabelMap> {
    let out = pamr_gpu_with(ctx, ImageInput::Rgb8(image), labels, cfg, PamrGpuOptions::default()).await?;
    LabelMap::new(
        out.labels,
        image.width() as usize,
        image.height() as usize,
        labels.segments(),
    )
}

/// [`pamr_gpu`] for a float image `[H, W, 3]` in [0, 1] (see [`crate::refine::pamr::pamr_f32`]).
///
/// # Errors
/// As [`pamr_gpu`].
pub async fn pamr_gpu_f32(
    ctx: &GpuContext,
    rgb: &[f32],
    width: usize,
    height: usize,
    labels: &LabelMap,
    cfg: &PamrConfig,
) -> Result<LabelMap> {
    let image = ImageInput::F32 { rgb, width, height };
    let out = pamr_gpu_with(ctx, image, labels, cfg, PamrGpuOptions::default()).await?;
    LabelMap::new(out.labels, width, height, labels.segments())
}

/// The image given to [`pamr_gpu_with`].
#[derive(Clone, Copy)]
pub enum ImageInput<'a> {
    /// 8-bit RGB, used as `value / 255`.
    Rgb8(&'a RgbImage),
    /// `[H, W, 3]` in [0, 1].
    F32 {
        rgb: &'a [f32],
        width: usize,
        height: usize,
    },
}

/// [`pamr_gpu`] with options, returning the labels before and after the median and how the
/// work was tiled.
///
/// # Errors
/// As [`pamr_gpu`].
pub async fn pamr_gpu_with(
    ctx: &GpuContext,
    image: ImageInput<'_>,
    labels: &LabelMap,
    cfg: &PamrConfig,
    opts: PamrGpuOptions,
) -> Result<PamrGpuOutput> {
    let image = match image {
        ImageInput::Rgb8(img) => ImageRef::Rgb8(img),
        ImageInput::F32 { rgb, width, height } => ImageRef::F32 { rgb, width, height },
    };
    let prep = Prepared::new(image, labels, cfg)?;
    let segments = labels.segments();
    let (w, h) = (prep.width, prep.height);
    let hw = w * h;
    let nd = prep.dilations.len();
    let p = 8 * nd;
    // Indices in the shader are u32 element offsets: keep every binding under 2 GiB.
    let limit = opts.max_binding.unwrap_or(u64::MAX).min(ctx.max_buffer()).min(1 << 31);
    let bytes = |floats: usize| (floats as u64) * 4;
    let check = |what: &'static str, needed: u64| {
        if needed > limit {
            Err(Error::GpuLimit { what, needed, limit })
        } else {
            Ok(())
        }
    };
    check("the PAMR image (3·H·W floats)", bytes(3 * hw))?;
    check("four PAMR mask planes (a vec4 per pixel)", bytes(4 * hw))?;
    check("the PAMR label map", bytes(labels.labels().len()))?;
    check("one image row of PAMR weights (P·W floats)", bytes(p * w))?;
    check("the PAMR resize taps", bytes(3 * (w + h)))?;

    // Label chunks (a multiple of 4 labels, or all of them) for the mask, row bands for the weights.
    let chunk = segments.min((limit / bytes(4 * hw)) as usize * 4);
    let chunks = segments.div_ceil(chunk);
    let quads = chunk.div_ceil(4);
    let band_rows = h.min((limit / bytes(p * w)) as usize);
    let bands = h.div_ceil(band_rows);
    let u = |v: usize| v as u32;

    let dev = &ctx.device;
    let upload = |label: &str, data: &[u8]| {
        let buf = ctx.storage(label, data.len() as u64);
        ctx.queue.write_buffer(&buf, 0, data);
        buf
    };
    let dil: Vec<i32> = prep.dilations.iter().map(|&d| d as i32).collect();
    let taps: Vec<u32> = prep
        .ytaps
        .iter()
        .chain(&prep.xtaps)
        .flat_map(|&(i0, i1, l)| [u(i0), u(i1), l.to_bits()])
        .collect();
    let dil_buf = upload("pamr dilations", bytemuck::cast_slice(&dil));
    let img_buf = upload("pamr image", bytemuck::cast_slice(&prep.planar));
    let taps_buf = upload("pamr taps", bytemuck::cast_slice(&taps));
    let lab_buf = upload("pamr labels", bytemuck::cast_slice(labels.labels()));
    let band_bufs: Vec<wgpu::Buffer> = (0..bands)
        .map(|i| ctx.storage("pamr weights band", bytes(p * w * band_rows.min(h - i * band_rows))))
        .collect();
    let mask = [
        ctx.storage("pamr mask a", bytes(4 * quads * hw)),
        ctx.storage("pamr mask b", bytes(4 * quads * hw)),
    ];
    let best = ctx.storage("pamr best", bytes(hw));
    let arg = ctx.storage("pamr argmax", bytes(hw));
    let out = ctx.storage("pamr labels", bytes(hw));
    let staging = dev.create_buffer(&wgpu::BufferDescriptor {
        label: Some("pamr readback"),
        size: 2 * bytes(hw),
        usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    });

    // Parameter slots: one per band (affinity), per chunk (init, argmax), per chunk × band
    // (propagate), and the median.
    let base = Params {
        w: u(w),
        h: u(h),
        nd: u(nd),
        lw: u(labels.width()),
        ..Default::default()
    };
    let band = |i: usize| Params {
        y0: u(i * band_rows),
        rows: u(band_rows.min(h - i * band_rows)),
        ..base
    };
    let chunk_of = |c: usize| Params {
        k0: u(c * chunk),
        kc: u(chunk.min(segments - c * chunk)),
        first: u32::from(c == 0),
        ..base
    };
    let mut slots: Vec<Params> = (0..bands).map(band).collect();
    let chunk_slot = slots.len();
    slots.extend((0..chunks).map(chunk_of));
    let prop_slot = slots.len();
    for c in 0..chunks {
        for i in 0..bands {
            slots.push(Params {
                k0: chunk_of(c).k0,
                kc: chunk_of(c).kc,
                ..band(i)
            });
        }
    }
    let median_slot = slots.len();
    slots.push(base);
    let mut param_bytes = vec![0u8; slots.len() * SLOT as usize];
    for (i, s) in slots.iter().enumerate() {
        param_bytes[i * SLOT as usize..][..std::mem::size_of::<Params>()].copy_from_slice(bytemuck::bytes_of(s));
    }
    let params = dev.create_buffer(&wgpu::BufferDescriptor {
        label: Some("pamr params"),
        size: param_bytes.len() as u64,
        usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    });
    ctx.queue.write_buffer(&params, 0, &param_bytes);

    let k = &ctx.pamr;
    let size = std::mem::size_of::<Params>() as u64;
    let common = [
        (b::PARAMS, &params),
        (b::DIL, &dil_buf),
        (b::IMG, &img_buf),
        (b::TAPS, &taps_buf),
        (b::LAB, &lab_buf),
        (b::BEST, &best),
        (b::ARG, &arg),
        (b::ARG_IN, &arg),
        (b::LABELS_OUT, &out),
    ];
    fn join<'a>(a: &[(u32, &'a wgpu::Buffer)], b: &[(u32, &'a wgpu::Buffer)]) -> Vec<(u32, &'a wgpu::Buffer)> {
        a.iter().chain(b).copied().collect()
    }
    let affinity_groups: Vec<wgpu::BindGroup> = band_bufs
        .iter()
        .map(|bb| k.affinity.bind(dev, &join(&common, &[(b::AFF_OUT, bb)]), size))
        .collect();
    let init_group = k.init.bind(dev, &join(&common, &[(b::DST, &mask[0])]), size);
    // propagate_groups[band][s]: reads mask s, writes mask 1 − s.
    let propagate_groups: Vec<[wgpu::BindGroup; 2]> = band_bufs
        .iter()
        .map(|bb| {
            std::array::from_fn(|s| {
                k.propagate.bind(
                    dev,
                    &join(&common, &[(b::AFF, bb), (b::SRC, &mask[s]), (b::DST, &mask[1 - s])]),
                    size,
                )
            })
        })
        .collect();
    let argmax_groups: [wgpu::BindGroup; 2] =
        std::array::from_fn(|s| k.argmax.bind(dev, &join(&common, &[(b::SRC, &mask[s])]), size));
    let median_group = k.median.bind(dev, &join(&common, &[]), size);

    let off = |slot: usize| [(slot as u64 * SLOT) as u32];
    let groups = |threads: usize| grid(u((threads as u64).div_ceil(u64::from(WG)) as usize));
    let mut enc = dev.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("pamr") });
    let mut count = 0u64;
    let mut p = pass(&mut enc);
    for (i, group) in affinity_groups.iter().enumerate() {
        dispatch(
            &mut p,
            &k.affinity,
            group,
            &off(i),
            groups(band(i).rows as usize * w),
            &mut count,
        );
    }
    for c in 0..chunks {
        let kc = chunk_of(c).kc as usize;
        dispatch(
            &mut p,
            &k.init,
            &init_group,
            &off(chunk_slot + c),
            groups(hw),
            &mut count,
        );
        for it in 0..cfg.iterations as usize {
            for (i, pair) in propagate_groups.iter().enumerate() {
                let threads = band(i).rows as usize * w * kc.div_ceil(4);
                dispatch(
                    &mut p,
                    &k.propagate,
                    &pair[it % 2],
                    &off(prop_slot + c * bands + i),
                    groups(threads),
                    &mut count,
                );
            }
        }
        dispatch(
            &mut p,
            &k.argmax,
            &argmax_groups[cfg.iterations as usize % 2],
            &off(chunk_slot + c),
            groups(hw),
            &mut count,
        );
    }
    dispatch(
        &mut p,
        &k.median,
        &median_group,
        &off(median_slot),
        groups(hw),
        &mut count,
    );
    drop(p);
    let back = ctx
        .read_back(enc, &staging, &[(&arg, 0, bytes(hw)), (&out, 0, bytes(hw))])
        .await?;
    Ok(PamrGpuOutput {
        argmax: u32s(&back[0]),
        labels: u32s(&back[1]),
        label_chunks: chunks,
        row_bands: bands,
        dispatches: count,
    })
}
