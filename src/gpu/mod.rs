//! The recursive NCut on the GPU, in our own WGSL compute shaders (wgpu: Vulkan, Metal, DX12
//! natively; WebGPU in the browser).
//!
//! One folder per shader, each with its host code and tested against the CPU implementation in
//! [`crate::ncut`], which is its reference:
//!
//! | kernel | computes | CPU reference |
//! | --- | --- | --- |
//! | [`affinity`] | `W = minmax(X̂X̂ᵀ)^α`, zero rows | [`crate::ncut::affinity()`] |
//! | [`lanczos`] | every region's degrees and whole Lanczos process (`D_S^-1/2 W_S D_S^-1/2 x`, full re-orthogonalisation) in one workgroup per region, Ritz vectors | [`crate::ncut::lanczos`] |
//! | [`sweep`] | sign flip, 100 thresholds, NCut of each, the best cut | [`crate::ncut::bipartition`] |
//! | [`split`] | the next level's regions from the cuts | [`crate::ncut::split`] (the rule both trees follow) |
//! | [`pamr`] | PAMR refinement: neighbour weights, propagation, argmax, 3×3 median | [`crate::refine::pamr()`] |
//! | `gemm` (feature `model`) | the diffusion model's convolutions (implicit GEMM) and matrix products, on burn's device | `model::host::conv2d_direct`, burn's matmul |
//! | `group_norm` (feature `model`) | GroupNorm's per-group sums, normalization and SiLU, on burn's device | f64 on the host, burn's ops |
//! | `softmax` (feature `model`) | attention's `softmax(scale · scores)`, on burn's device | f64 on the host, burn's softmax |
//! | `winograd` (feature `model`) | the 3×3 stride-1 convolutions by F(2×2, 3×3): the transforms around 16 products of `gemm`, on burn's device | `model::host::conv2d_direct` |
//!
//! The last four run on burn's buffers, launched through cubecl's client by `cube` (with a test
//! that compiles each of their variants).
//!
//! [`tree`] drives them level by level with one readback per level (this level's Lanczos
//! coefficients for the `f64` tridiagonal solve, with the previous level's decisions), and
//! nothing created inside the Lanczos loop.
//!
//! Constants a kernel shares with the host (the 100 thresholds, the decision layout, workgroup
//! sizes, …) are defined once in the kernel's `mod.rs` (`SHARED`) and prepended to its WGSL as
//! `const` declarations (`prelude`); the `.wgsl` files use the names only.
//!
//! [`GpuContext::new`] opens its own wgpu device and queue. The diffusion model (`src/model/`)
//! opens burn's wgpu device separately, so today the model and these kernels run on **two wgpu
//! devices with two queues** (each on the adapter it picked). [`GpuContext::from_device`] can wrap
//! any existing wgpu device — burn 0.22's `init_with_setup` returns its own (`WgpuSetup::{device,
//! queue}`, the same wgpu version) — but nothing passes it one yet.

pub mod affinity;
#[cfg(feature = "model")]
pub mod cube;
#[cfg(feature = "model")]
pub mod gemm;
#[cfg(feature = "model")]
pub mod group_norm;
pub mod lanczos;
pub mod pamr;
#[cfg(feature = "model")]
pub mod softmax;
pub mod split;
pub mod sweep;
pub mod tree;
#[cfg(feature = "model")]
pub mod winograd;

use std::sync::{Arc, Mutex};

use crate::{Error, Result};

pub use tree::{segment_tree_gpu, GpuStats};

/// A number a kernel shares with the host (or with the CPU path), defined once in Rust and handed
/// to the kernel's WGSL as a `const` declaration prepended to its source ([`shader`]). The WGSL
/// files use these names and never spell the numbers; `tests::kernels_spell_no_shared_number`
/// checks that, and `tests::kernels_see_the_hosts_values` reads the values back from the GPU.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Shared {
    /// `const NAME: u32 = …u;`
    U32(u32),
    /// `const NAME: f32 = …f;` (the shortest decimal that reads back as this `f32`).
    F32(f32),
    /// `const NAME = …;`, an abstract float: WGSL folds expressions of it in double precision
    /// before rounding to `f32`, exactly as it would a literal (`1.0 - SIGN_TIE`).
    Abstract(f64),
}

/// The WGSL `const` declarations of `consts`.
pub(crate) fn prelude(consts: &[(&str, Shared)]) -> String {
    let mut out = String::from("// Constants shared with the host, generated from Rust (gpu/mod.rs, `prelude`).\n");
    for (name, value) in consts {
        // `{:e}` prints the shortest decimal that parses back to the same value.
        out += &match value {
            Shared::U32(v) => format!("const {name}: u32 = {v}u;\n"),
            Shared::F32(v) => format!("const {name}: f32 = {v:e}f;\n"),
            Shared::Abstract(v) => format!("const {name} = {v:e};\n"),
        };
    }
    out
}

/// Compiles a kernel: `consts` as WGSL declarations ([`prelude`]), then its `body`.
pub(crate) fn shader(device: &wgpu::Device, label: &str, consts: &[(&str, Shared)], body: &str) -> wgpu::ShaderModule {
    device.create_shader_module(wgpu::ShaderModuleDescriptor {
        label: Some(label),
        source: wgpu::ShaderSource::Wgsl(format!("{}{body}", prelude(consts)).into()),
    })
}

/// Buffer usages of our storage buffers.
const STORAGE: wgpu::BufferUsages = wgpu::BufferUsages::STORAGE
    .union(wgpu::BufferUsages::COPY_DST)
    .union(wgpu::BufferUsages::COPY_SRC);

/// How a binding is used by a kernel (explicit layouts: each entry point declares only what it
/// uses, so no pipeline needs more than 7 storage buffers).
#[derive(Clone, Copy)]
pub(crate) enum Slot {
    /// Uniform parameters, at a dynamic offset.
    Params,
    /// Uniform parameters at a fixed offset.
    ParamsFixed,
    Read,
    ReadWrite,
}

/// A compute pipeline with its explicit bind group layout.
pub(crate) struct Kernel {
    pub pipeline: wgpu::ComputePipeline,
    pub layout: wgpu::BindGroupLayout,
    pub bindings: Vec<u32>,
}

impl Kernel {
    pub fn new(device: &wgpu::Device, module: &wgpu::ShaderModule, entry: &str, slots: &[(u32, Slot)]) -> Self {
        let entries: Vec<wgpu::BindGroupLayoutEntry> = slots
            .iter()
            .map(|&(binding, slot)| wgpu::BindGroupLayoutEntry {
                binding,
                visibility: wgpu::ShaderStages::COMPUTE,
                ty: match slot {
                    Slot::Params | Slot::ParamsFixed => wgpu::BindingType::Buffer {
                        ty: wgpu::BufferBindingType::Uniform,
                        has_dynamic_offset: matches!(slot, Slot::Params),
                        min_binding_size: None,
                    },
                    Slot::Read | Slot::ReadWrite => wgpu::BindingType::Buffer {
                        ty: wgpu::BufferBindingType::Storage {
                            read_only: matches!(slot, Slot::Read),
                        },
                        has_dynamic_offset: false,
                        min_binding_size: None,
                    },
                },
                count: None,
            })
            .collect();
        let layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some(entry),
            entries: &entries,
        });
        let pipeline_layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some(entry),
            bind_group_layouts: &[Some(&layout)],
            immediate_size: 0,
        });
        let pipeline = device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: Some(entry),
            layout: Some(&pipeline_layout),
            module,
            entry_point: Some(entry),
            compilation_options: Default::default(),
            cache: None,
        });
        Self {
            pipeline,
            layout,
            bindings: slots.iter().map(|s| s.0).collect(),
        }
    }

    /// A bind group over `buffers` (indexed by binding number); `params_size` is the size of one
    /// uniform slot when the kernel reads parameters.
    pub fn bind(&self, device: &wgpu::Device, buffers: &[(u32, &wgpu::Buffer)], params_size: u64) -> wgpu::BindGroup {
        let entries: Vec<wgpu::BindGroupEntry> = self
            .bindings
            .iter()
            .map(|&b| {
                let buf = buffers
                    .iter()
                    .find(|(i, _)| *i == b)
                    .unwrap_or_else(|| panic!("kernel binding {b} has no buffer"))
                    .1;
                let resource = if b == 0 {
                    wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                        buffer: buf,
                        offset: 0,
                        size: wgpu::BufferSize::new(params_size),
                    })
                } else {
                    buf.as_entire_binding()
                };
                wgpu::BindGroupEntry { binding: b, resource }
            })
            .collect();
        device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: None,
            layout: &self.layout,
            entries: &entries,
        })
    }
}

/// A wgpu device and queue with our compiled kernels.
pub struct GpuContext {
    pub device: wgpu::Device,
    pub queue: wgpu::Queue,
    /// The adapter's name, backend and kind, for reports.
    pub adapter: String,
    pub(crate) limits: wgpu::Limits,
    pub(crate) affinity: affinity::Kernels,
    pub(crate) lanczos: lanczos::Kernels,
    pub(crate) sweep: sweep::Kernels,
    pub(crate) split: split::Kernels,
    pub(crate) pamr: pamr::Kernels,
    /// The first uncaptured device error or loss, reported at the next readback.
    pub(crate) failure: Arc<Mutex<Option<String>>>,
}

impl GpuContext {
    /// Opens the default adapter (high-performance preference) with all of its limits.
    pub async fn new() -> Result<Self> {
        let instance = wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env());
        let adapter = instance
            .request_adapter(&wgpu::RequestAdapterOptions {
                power_preference: wgpu::PowerPreference::HighPerformance,
                force_fallback_adapter: false,
                compatible_surface: None,
                apply_limit_buckets: false,
            })
            .await
            .map_err(|e| {
                Error::Gpu(format!(
                    "no GPU adapter with compute support was found ({e}); use --device cpu"
                ))
            })?;
        let info = adapter.get_info();
        let (device, queue) = adapter
            .request_device(&wgpu::DeviceDescriptor {
                label: Some("diffcut"),
                required_limits: adapter.limits(),
                ..Default::default()
            })
            .await
            .map_err(|e| Error::Gpu(format!("cannot open {}: {e}", info.name)))?;
        Ok(Self::from_device(
            device,
            queue,
            format!("{} ({:?}, {:?})", info.name, info.backend, info.device_type),
        ))
    }

    /// Wraps an existing device (e.g. the one burn-wgpu opened), compiling our kernels on it.
    pub fn from_device(device: wgpu::Device, queue: wgpu::Queue, adapter: String) -> Self {
        let failure = Arc::new(Mutex::new(None::<String>));
        let f = failure.clone();
        device.on_uncaptured_error(Arc::new(move |e: wgpu::Error| {
            let mut slot = f.lock().unwrap_or_else(|p| p.into_inner());
            slot.get_or_insert_with(|| e.to_string());
        }));
        let f = failure.clone();
        device.set_device_lost_callback(move |reason, msg| {
            let mut slot = f.lock().unwrap_or_else(|p| p.into_inner());
            slot.get_or_insert_with(|| format!("device lost ({reason:?}): {msg}"));
        });
        let limits = device.limits();
        let affinity = affinity::Kernels::new(&device);
        let lanczos = lanczos::Kernels::new(&device);
        let sweep = sweep::Kernels::new(&device);
        let split = split::Kernels::new(&device);
        let pamr = pamr::Kernels::new(&device);
        Self {
            device,
            queue,
            adapter,
            limits,
            affinity,
            lanczos,
            sweep,
            split,
            pamr,
            failure,
        }
    }

    /// The largest buffer (and storage binding) this device accepts.
    pub fn max_buffer(&self) -> u64 {
        self.limits
            .max_storage_buffer_binding_size
            .min(self.limits.max_buffer_size)
    }

    /// [`Error::GpuLimit`] when `bytes` (from [`f32_bytes`], which cannot wrap) is beyond one
    /// buffer. Every size is checked this way before the buffers are made, so that the `usize`
    /// arithmetic that lays them out afterwards cannot wrap either, even on wasm32.
    pub(crate) fn check_size(&self, what: &'static str, bytes: u64) -> Result<()> {
        if bytes > self.max_buffer() {
            return Err(Error::GpuLimit {
                what,
                needed: bytes,
                limit: self.max_buffer(),
            });
        }
        Ok(())
    }

    pub(crate) fn storage(&self, label: &str, bytes: u64) -> wgpu::Buffer {
        self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(label),
            size: bytes.max(16),
            usage: STORAGE,
            mapped_at_creation: false,
        })
    }

    fn failed(&self) -> Result<()> {
        match self.failure.lock().unwrap_or_else(|p| p.into_inner()).clone() {
            Some(msg) => Err(Error::Gpu(msg)),
            None => Ok(()),
        }
    }

    /// Copies `regions` (buffer, byte offset, byte length) into `staging` back to back, submits
    /// `encoder` and waits for the map: one readback. Returns the bytes of each region.
    pub(crate) async fn read_back(
        &self,
        mut encoder: wgpu::CommandEncoder,
        staging: &wgpu::Buffer,
        regions: &[(&wgpu::Buffer, u64, u64)],
    ) -> Result<Vec<Vec<u8>>> {
        let mut at = 0u64;
        for &(buf, offset, len) in regions {
            encoder.copy_buffer_to_buffer(buf, offset, staging, at, len);
            at += len.next_multiple_of(4);
        }
        self.queue.submit([encoder.finish()]);
        let slice = staging.slice(..at.max(4));
        let (tx, rx) = futures_channel::oneshot::channel();
        slice.map_async(wgpu::MapMode::Read, move |r| {
            let _ = tx.send(r);
        });
        #[cfg(not(target_arch = "wasm32"))]
        self.device
            .poll(wgpu::PollType::wait_indefinitely())
            .map_err(|e| Error::Gpu(format!("waiting for the GPU: {e}")))?;
        let mapped = rx
            .await
            .map_err(|_| Error::Gpu("the device was lost before the result came back".into()))?;
        self.failed()?;
        mapped.map_err(|e| Error::Gpu(format!("reading results back: {e}")))?;
        let out = {
            let view = slice
                .get_mapped_range()
                .map_err(|e| Error::Gpu(format!("reading results back: {e}")))?;
            let mut out = Vec::with_capacity(regions.len());
            let mut at = 0usize;
            for &(_, _, len) in regions {
                out.push(view[at..at + len as usize].to_vec());
                at += (len as usize).next_multiple_of(4);
            }
            out
        };
        staging.unmap();
        Ok(out)
    }
}

/// One dispatch in `pass`, counted. Callers record a whole sequence in one compute pass: a pass per
/// dispatch costs tens of microseconds each on a real GPU, and thousands of them per tree would
/// dominate the run time.
pub(crate) fn dispatch(
    pass: &mut wgpu::ComputePass<'_>,
    kernel: &Kernel,
    group: &wgpu::BindGroup,
    offsets: &[u32],
    grid: (u32, u32),
    count: &mut u64,
) {
    pass.set_pipeline(&kernel.pipeline);
    pass.set_bind_group(0, group, offsets);
    pass.dispatch_workgroups(grid.0, grid.1, 1);
    *count += 1;
}

/// A compute pass on `encoder`.
pub(crate) fn pass(encoder: &mut wgpu::CommandEncoder) -> wgpu::ComputePass<'_> {
    encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
        label: None,
        timestamp_writes: None,
    })
}

/// A 2-D grid of at most 65 535 workgroups per side covering `groups` workgroups.
pub(crate) fn grid(groups: u32) -> (u32, u32) {
    let x = groups.clamp(1, 65_535);
    (x, groups.div_ceil(x).max(1))
}

/// Reinterprets little-endian bytes as `f32`s.
pub(crate) fn f32s(bytes: &[u8]) -> Vec<f32> {
    bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}

/// Reinterprets little-endian bytes as `u32`s.
pub(crate) fn u32s(bytes: &[u8]) -> Vec<u32> {
    bytes
        .chunks_exact(4)
        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}

/// Bytes of a 32-bit array of shape `dims`, in `u64` and saturating: `[n, n]` for 65 536 cells
/// would wrap a wasm32 `usize` to zero.
pub(crate) fn f32_bytes(dims: &[usize]) -> u64 {
    dims.iter().fold(4u64, |acc, &d| acc.saturating_mul(d as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    type Constants = &'static [(&'static str, Shared)];

    /// Every kernel with the constants it takes from the host, and its WGSL body.
    const KERNELS: &[(&str, Constants, &str)] = &[
        ("affinity", affinity::SHARED, affinity::WGSL),
        ("lanczos", lanczos::SHARED, lanczos::WGSL),
        ("sweep", sweep::SHARED, sweep::WGSL),
        ("split", split::SHARED, split::WGSL),
        ("pamr", pamr::SHARED, pamr::WGSL),
        #[cfg(feature = "model")]
        ("gemm", gemm::SHARED, gemm::WGSL),
        #[cfg(feature = "model")]
        ("group_norm", group_norm::SHARED, group_norm::WGSL),
        #[cfg(feature = "model")]
        ("softmax", softmax::SHARED, softmax::WGSL),
        #[cfg(feature = "model")]
        ("winograd", winograd::SHARED, winograd::WGSL),
    ];

    /// The numeric literals of WGSL `source` outside comments and binding attributes (binding
    /// numbers are the layout, spelled on both sides of necessity), as written.
    fn literals(source: &str) -> Vec<String> {
        let mut out = Vec::new();
        for line in source.lines() {
            let code = line.split("//").next().unwrap_or("");
            let code = match code.find("var<") {
                Some(at) if code.trim_start().starts_with('@') => &code[at..],
                _ => code,
            };
            let chars: Vec<char> = code.chars().collect();
            let mut i = 0;
            while i < chars.len() {
                let starts =
                    chars[i].is_ascii_digit() && (i == 0 || !(chars[i - 1].is_alphanumeric() || chars[i - 1] == '_'));
                if !starts {
                    i += 1;
                    continue;
                }
                let mut j = i;
                while j < chars.len() {
                    let c = chars[j];
                    let exponent_sign = (c == '-' || c == '+') && matches!(chars[j - 1], 'e' | 'E');
                    if c.is_alphanumeric() || c == '.' || exponent_sign {
                        j += 1;
                    } else {
                        break;
                    }
                }
                out.push(chars[i..j].iter().collect());
                i = j;
            }
        }
        out
    }

    /// A literal's value, suffix dropped (`0x…` and other forms: `None`).
    fn value(literal: &str) -> Option<f64> {
        literal.trim_end_matches(['u', 'i', 'f', 'h']).parse().ok()
    }

    #[test]
    fn kernels_spell_no_shared_number() {
        for (name, shared, body) in KERNELS {
            // Values that would betray a constant written out: each shared value, and the halves
            // and predecessors the kernels derive from them (reduction strides, T − 1). Small
            // integers (below 8: layout offsets, modes, a hash's shifts) are everywhere in index
            // arithmetic and say nothing, derived or not.
            let mut stale: Vec<f64> = Vec::new();
            for (cname, v) in shared.iter() {
                assert!(
                    !body.contains(&format!("const {cname}")),
                    "{name}.wgsl declares {cname} itself; it comes from the host"
                );
                assert!(
                    body.contains(cname),
                    "{name}.wgsl does not use the shared constant {cname}"
                );
                match *v {
                    Shared::U32(u) if u >= 8 => {
                        let derived = [u, u - 1, u / 2].into_iter().filter(|&d| d >= 8);
                        stale.extend(derived.map(f64::from));
                    }
                    Shared::U32(_) => {}
                    Shared::F32(f) => stale.push(f64::from(f)),
                    Shared::Abstract(f) => stale.push(f),
                }
            }
            for lit in literals(body) {
                let Some(v) = value(&lit) else { continue };
                assert!(
                    !stale.iter().any(|&s| (s - v).abs() <= 1e-6 * s.abs()),
                    "{name}.wgsl spells {lit}, the value of a constant shared with the host"
                );
            }
        }
    }

    #[test]
    fn the_prelude_carries_rusts_values() {
        let p = prelude(sweep::SHARED);
        assert!(p.contains(&format!("const T: u32 = {}u;", crate::ncut::bipartition::THRESHOLDS)));
        assert!(p.contains(&format!("const OUT: u32 = {}u;", sweep::OUT)));
        assert!(p.contains("const SPAN = 9.9e-1;"));
        assert!(p.contains("const SIGN_TIE = 1e-6;"));
        // Every value reads back as itself through the decimal written.
        for (_, shared, _) in KERNELS {
            for line in prelude(shared).lines().skip(1) {
                let (decl, lit) = line.trim_end_matches(';').split_once(" = ").unwrap();
                let name = decl.trim_start_matches("const ").split(':').next().unwrap().trim();
                let v = shared.iter().find(|(n, _)| *n == name).unwrap().1;
                match v {
                    Shared::U32(u) => assert_eq!(lit, format!("{u}u")),
                    Shared::F32(f) => assert_eq!(lit.trim_end_matches('f').parse::<f32>().unwrap(), f),
                    Shared::Abstract(f) => assert_eq!(lit.parse::<f64>().unwrap(), f),
                }
            }
        }
        // These replaced WGSL literals that were rounded through f64 (abstract floats): writing
        // them as f32 literals must give the same bits.
        assert_eq!(1e-6f64 as f32, lanczos::BREAKDOWN);
        assert_eq!(3.0e38f64 as f32, sweep::NO_CUT);
    }

    /// Compiles a probe kernel over each kernel's prelude on the device and reads every constant
    /// back: what the WGSL compiler made of the generated text is Rust's value (as `f32` for the
    /// abstract floats, which is how the kernels use them).
    #[test]
    fn kernels_see_the_hosts_values() {
        let ctx = pollster::block_on(GpuContext::new()).expect("a GPU adapter (lavapipe)");
        for (name, shared, _) in KERNELS {
            let mut body = String::from(
                "@group(0) @binding(1) var<storage, read_write> o: array<u32>;\n\
                 @compute @workgroup_size(1)\nfn probe() {\n",
            );
            let mut want = Vec::new();
            for (i, (cname, v)) in shared.iter().enumerate() {
                let (expr, bits) = match *v {
                    Shared::U32(u) => (cname.to_string(), u),
                    Shared::F32(f) => (format!("bitcast<u32>({cname})"), f.to_bits()),
                    Shared::Abstract(f) => (format!("bitcast<u32>(f32({cname}))"), (f as f32).to_bits()),
                };
                body += &format!("    o[{i}] = {expr};\n");
                want.push(bits);
            }
            body += "}\n";
            let module = shader(&ctx.device, name, shared, &body);
            let kernel = Kernel::new(&ctx.device, &module, "probe", &[(1, Slot::ReadWrite)]);
            let bytes = (want.len() * 4) as u64;
            let o = ctx.storage("probe", bytes);
            // The probe binds at 1 (binding 0 is reserved for parameters by `Kernel::bind`).
            let group = kernel.bind(&ctx.device, &[(1, &o)], 0);
            let staging = ctx.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("probe readback"),
                size: bytes.max(16),
                usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            });
            let mut enc = ctx.device.create_command_encoder(&Default::default());
            {
                let mut p = pass(&mut enc);
                dispatch(&mut p, &kernel, &group, &[], (1, 1), &mut 0);
            }
            let back = pollster::block_on(ctx.read_back(enc, &staging, &[(&o, 0, bytes)])).unwrap();
            assert_eq!(u32s(&back[0]), want, "{name}: the GPU's constants differ from Rust's");
        }
    }
}
