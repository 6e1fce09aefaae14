//! `cargo bench --bench model`: time per image of the diffusion feature extractor (VAE encoder,
//! UNet slice, whole), per input size and device, with the device memory burn's allocator holds.
//!
//! `MODEL=/path/to/converted SIZES=512,1024 DEVICES=cpu,gpu RUNS=2 cargo bench --bench model`.
//! `cpu` is burn-flex; `gpu` is burn on wgpu (the same WGSL as the browser; lavapipe on a machine
//! without a GPU, a software floor). Run as a test (`cargo test --all-targets`, no `--bench`) it
//! does one pass of the tiny fixture model, as a smoke test. Results go to BENCHMARKS.md.
//!
//! `STAGES=1` prints, instead of the timings, where the device memory goes: the peak in use within
//! the VAE encoder and within each UNet stage of one pass (`STAGES=unet`: the UNet alone, on a zero
//! latent).
//!
//! `CLIP=/path/to/clip-folder SIZES=1024,2048 DEVICES=cpu,gpu cargo bench --bench model` times a
//! CLIP folder's naming instead (see `clip_bench`).
//!
//! `CONVS=1 SIZES=1024 RUNS=5` times, instead, the convolutions the VAE and the UNet slice run at
//! each size, on the GPU: our GEMM (src/gpu/gemm/) beside burn's own convolution on the same inputs, best of `RUNS` after one warm-up, with the rate each
//! reaches; then the stride-1 ones by Winograd (src/gpu/winograd/, what the models run) beside our GEMM.
//!
//! `CONVS=cpu SIZES=512 RUNS=3` times the same stride-1 convolutions on the CPU (`model::host`):
//! Winograd, what the models run, beside the direct method.
//!
//! `OPS=1 SIZES=1024 RUNS=5` times the memory-bound steps on the GPU, our kernels beside the same
//! computation in burn's ops: the GroupNorm + SiLU of the VAE's levels and of the UNet slice
//! (src/gpu/group_norm/), then attention's scaled softmax on their score blocks (src/gpu/softmax/).
//!
//! `RUNS=0` times only the first (cold) run. "peak reserved" is the most device memory burn's
//! allocator held at once during the runs of that row (weights included), polled every 10 ms
//! from a second thread; the allocator only changes between kernel launches, so on a slow
//! device nearly every state is seen.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use burn::tensor::Device;
use diffcut::model::{native_device, read_f32, DiffusionModel};

fn env_list(name: &str, default: &str) -> Vec<String> {
    std::env::var(name)
        .unwrap_or_else(|_| default.into())
        .split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

/// Waits for the device's queued work (burn is lazy on the GPU).
fn sync(device: &Device) {
    device.sync().expect("device sync");
}

/// The largest `bytes_reserved` (and `bytes_in_use`) of burn's allocator seen while it runs.
struct PeakMemory {
    stop: Arc<AtomicBool>,
    reserved: Arc<AtomicU64>,
    in_use: Arc<AtomicU64>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl PeakMemory {
    fn start(device: &Device) -> Option<Self> {
        device.memory_pool_usage()?;
        let (stop, reserved, in_use) = (
            Arc::new(AtomicBool::new(false)),
            Arc::new(AtomicU64::new(0)),
            Arc::new(AtomicU64::new(0)),
        );
        let (d, s, r, u) = (device.clone(), stop.clone(), reserved.clone(), in_use.clone());
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                if let Some(usage) = d.memory_pool_usage() {
                    r.fetch_max(usage.bytes_reserved, Ordering::Relaxed);
                    u.fetch_max(usage.bytes_in_use, Ordering::Relaxed);
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        });
        Some(Self {
            stop,
            reserved,
            in_use,
            thread: Some(thread),
        })
    }

    /// (peak reserved, peak in use) in bytes since the start or the last `take`, which starts anew
    /// from what is held now.
    fn take(&self, device: &Device) -> (u64, u64) {
        let now = device.memory_pool_usage().unwrap_or_default();
        let r = self
            .reserved
            .swap(now.bytes_reserved, Ordering::Relaxed)
            .max(now.bytes_reserved);
        let u = self
            .in_use
            .swap(now.bytes_in_use, Ordering::Relaxed)
            .max(now.bytes_in_use);
        (r, u)
    }

    /// (peak reserved, peak in use) in bytes.
    fn finish(mut self, device: &Device) -> (u64, u64) {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.take().map(|t| t.join());
        if let Some(usage) = device.memory_pool_usage() {
            self.reserved.fetch_max(usage.bytes_reserved, Ordering::Relaxed);
            self.in_use.fetch_max(usage.bytes_in_use, Ordering::Relaxed);
        }
        (
            self.reserved.load(Ordering::Relaxed),
            self.in_use.load(Ordering::Relaxed),
        )
    }
}

/// One pass with the peak device memory of each stage: the VAE encoder (unless `unet_only`: a zero
/// latent instead), then each stage the UNet traces.
fn stage_memory(model: &DiffusionModel, device: &Device, image: &image::RgbImage, size: u32, unet_only: bool) {
    let mib = |b: u64| b as f64 / 1048576.0;
    let Some(peak) = PeakMemory::start(device) else {
        println!("(this device reports no memory)");
        return;
    };
    let show = |stage: &str| {
        sync(device);
        let (r, u) = peak.take(device);
        println!("| {size} | {stage} | {:.0} MiB | {:.0} MiB |", mib(u), mib(r));
    };
    println!("| size | stage | peak in use | peak reserved |");
    println!("|---|---|---|---|");
    show("(before)");
    let latent = if unet_only {
        let s = size as usize / 8;
        burn::tensor::Tensor::<4>::zeros([1, 4, s, s], device)
    } else {
        let input = DiffusionModel::preprocess(image, size).unwrap();
        let latent = model.encode(input, size).unwrap();
        show("VAE encoder");
        latent
    };
    let noisy = model.add_noise(latent, size, &model.default_noise(size)).unwrap();
    let z = model.unet(noisy, size, &mut |name, _| show(name)).unwrap();
    drop(pollster::block_on(read_f32(z)).unwrap());
    show("hook (ẑ)");
    peak.finish(device);
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// `CLIP=folder`: the image part of a CLIP folder (models/convert_clip.py) naming a photo's
/// segments (a 4×4 grid of blocks, 16 segments, VOC's precomputed classifier) per size and device:
/// the dense map, then pooling, heads and scores, with the allocator's peak.
fn clip_bench(dir: &str, devices: &[String], sizes: &[u32], runs: usize, image: &image::RgbImage) {
    use diffcut::naming::{LabelSet, Labels, Namer, Parts};
    use diffcut::segmenter::Device as Where;
    println!("CLIP: {dir}");
    println!("| device | size | load | dense map (best of {runs}) | name 16 segments (dense map included) | first run | peak reserved (in use) |");
    println!("|---|---|---|---|---|---|---|");
    let (w, h) = image.dimensions();
    let labels: Vec<u32> = (0..w * h).map(|i| (i % w) * 4 / w + 4 * ((i / w) * 4 / h)).collect();
    let mib = |b: u64| b as f64 / 1048576.0;
    for dev in devices {
        let place = if dev == "gpu" { Where::Gpu } else { Where::Cpu };
        let device = native_device(dev == "gpu").expect("device");
        let t = Instant::now();
        let namer = Namer::from_dir(std::path::Path::new(dir), Parts::Image, place).expect("CLIP folder");
        let classifier = pollster::block_on(namer.classifier(&Labels::Set(LabelSet::Voc))).expect("voc");
        sync(&device);
        let load = t.elapsed();
        for &size in sizes {
            let peak = PeakMemory::start(&device);
            let first = Instant::now();
            pollster::block_on(namer.name(image, &labels, [h as usize, w as usize], &classifier, size)).expect("names");
            let first = first.elapsed();
            let (mut dense, mut naming) = (Duration::MAX, Duration::MAX);
            for _ in 0..runs {
                let t0 = Instant::now();
                pollster::block_on(namer.dense(image, size)).expect("dense");
                let t1 = Instant::now();
                let names = pollster::block_on(namer.name(image, &labels, [h as usize, w as usize], &classifier, size));
                let t2 = Instant::now();
                assert_eq!(names.expect("names").segments.len(), 16);
                dense = dense.min(t1 - t0);
                naming = naming.min(t2 - t1);
            }
            let peak = peak
                .map(|p| p.finish(&device))
                .map(|(r, u)| format!("{:.0} MiB ({:.0} MiB)", mib(r), mib(u)))
                .unwrap_or_else(|| "n/a".into());
            let best = |d: Duration| {
                if runs == 0 {
                    "—".to_string()
                } else {
                    format!("{:.0} ms", ms(d))
                }
            };
            println!(
                "| {dev} | {size} | {:.0} ms | {} | {} | {:.0} ms | {peak} |",
                ms(load),
                best(dense),
                best(naming),
                ms(first)
            );
        }
    }
}

/// The best of `runs` timings of `f` after a warm-up call, with the warm-up's result.
fn best_of(
    device: &Device,
    runs: usize,
    f: &dyn Fn() -> burn::tensor::Tensor<4>,
) -> (Duration, burn::tensor::Tensor<4>) {
    let y = f();
    sync(device);
    let mut best = Duration::MAX;
    for _ in 0..runs.max(1) {
        let t = Instant::now();
        let _ = f();
        sync(device);
        best = best.min(t.elapsed());
    }
    (best, y)
}

/// One table row: burn's and ours timed on the same inputs, their rates and largest difference.
fn compare(
    device: &Device,
    runs: usize,
    label: &str,
    gflop: f64,
    burns: &dyn Fn() -> burn::tensor::Tensor<4>,
    ours: &dyn Fn() -> burn::tensor::Tensor<4>,
) {
    let rate = |d: Duration| format!("{:.2} ms ({:.1} TFLOP/s)", ms(d), gflop / d.as_secs_f64() / 1e3);
    let (t_ours, y_ours) = best_of(device, runs, ours);
    let (t_burn, y_burn) = best_of(device, runs, burns);
    let diff = (y_ours - y_burn).abs().max().into_scalar::<f32>();
    println!(
        "| {label} | {gflop:.1} | {} | {} | {:.2} | {diff:.2e} |",
        rate(t_burn),
        rate(t_ours),
        t_ours.as_secs_f64() / t_burn.as_secs_f64()
    );
}

/// One row of `OPS=1`'s tables: burn's ops and ours timed on the same input of `mb` megabytes,
/// their ratio and largest difference.
fn compare_pass(
    device: &Device,
    runs: usize,
    label: &str,
    mb: f64,
    burns: &dyn Fn() -> burn::tensor::Tensor<4>,
    ours: &dyn Fn() -> burn::tensor::Tensor<4>,
) {
    let (t_ours, y_ours) = best_of(device, runs, ours);
    let (t_burn, y_burn) = best_of(device, runs, burns);
    let diff = (y_ours - y_burn).abs().max().into_scalar::<f32>();
    println!(
        "| {label} | {mb:.0} | {:.2} ms | {:.2} ms | {:.2} | {diff:.2e} |",
        ms(t_burn),
        ms(t_ours),
        t_ours.as_secs_f64() / t_burn.as_secs_f64()
    );
}

/// `OPS=1`: GroupNorm (32 groups, two-pass statistics) + SiLU on the GPU at the models' maps, our
/// kernels beside burn's ops composed as `model::layers::GroupNorm` composes them where ours
/// decline (three staged reductions per sum); then attention's `softmax(scale · scores)`.
fn ops_bench(sizes: &[u32], runs: usize) {
    use burn::tensor::activation::{silu, softmax};
    use burn::tensor::{Tensor, TensorData};
    use diffcut::gpu::{group_norm, softmax::scaled_softmax};
    let device = native_device(true).expect("a GPU");
    let t = |shape: &[usize], seed| {
        let n = shape.iter().product();
        TensorData::new(diffcut::synth::uniform(n, seed), shape.to_vec())
    };
    let (g, eps) = (32, 1e-6);
    println!("| size, GroupNorm + SiLU (C, map) | MB | burn's ops | ours | ours / burn's | max |ours − burn's| |");
    println!("|---|---|---|---|---|---|");
    for &size in sizes {
        let s = size as usize;
        for (c, side) in [
            (128, s),
            (256, s / 2),
            (512, s / 4),
            (512, s / 8),
            (320, s / 8),
            (640, s / 16),
        ] {
            let x = Tensor::<4>::from_data(t(&[1, c, side, side], 1), &device);
            let gamma = Tensor::<1>::from_data(t(&[c], 2), &device);
            let beta = Tensor::<1>::from_data(t(&[c], 3), &device);
            let n = ((c / g) * side * side) as f64;
            let burns = || {
                let sums = |v: Tensor<4>| {
                    v.sum_dim(3)
                        .reshape([1, c, side])
                        .sum_dim(2)
                        .reshape([1, g, c / g])
                        .sum_dim(2)
                };
                let mean = sums(x.clone()) / n;
                let d = x.clone().reshape([1, g, c / g, side * side]) - mean.clone().reshape([1, g, 1, 1]);
                let std = (sums(d.square().reshape([1, c, side, side])) / n + eps).sqrt();
                let normed =
                    ((x.clone().reshape([1, g, (c / g) * side * side]) - mean) / std).reshape([1, c, side, side]);
                silu(normed * gamma.clone().reshape([1, c, 1, 1]) + beta.clone().reshape([1, c, 1, 1]))
            };
            let ours = || {
                let mean = group_norm::sums(&x, g, None).expect("our kernel") / n;
                let std = (group_norm::sums(&x, g, Some(&mean)).expect("our kernel") / n + eps).sqrt();
                group_norm::apply(&x, g, &mean, &std, &gamma, &beta, true).expect("our kernel")
            };
            let mb = (c * side * side * 4) as f64 / 1e6;
            compare_pass(&device, runs, &format!("{size}, {c}, {side}²"), mb, &burns, &ours);
        }
    }
    // One score block of each attention at each size, as `model::layers::attention` cuts them:
    // the VAE's mid-block attention, one head over (S/8)² keys (blocks of query rows within the
    // chunk budget); down_blocks.1's, 10 heads of 64 over (S/16)² (one head per block when the
    // whole would not fit).
    println!();
    println!("| size, softmax(scale · scores) (heads × rows × keys) | MB | burn's ops | ours | ours / burn's | max |ours − burn's| |");
    println!("|---|---|---|---|---|---|");
    for &size in sizes {
        let s = size as usize;
        let budget = diffcut::model::layers::ATTENTION_CHUNK_VALUES;
        let unet_keys = s * s / 256;
        let unet_heads = if 10 * unet_keys * unet_keys <= budget { 10 } else { 1 };
        for (heads, keys, scale) in [(1, s * s / 64, 512f64), (unet_heads, unet_keys, 64f64)] {
            let rows = (budget / keys).clamp(1, keys);
            let scale = 1.0 / scale.sqrt();
            let x = Tensor::<4>::from_data(t(&[1, heads, rows, keys], 4), &device) * 8.0;
            let burns = || softmax(x.clone() * scale, 3);
            let ours = || scaled_softmax(&x, scale as f32).expect("our kernel");
            let mb = (heads * rows * keys * 4) as f64 / 1e6;
            compare_pass(
                &device,
                runs,
                &format!("{size}, {heads} × {rows} × {keys}"),
                mb,
                &burns,
                &ours,
            );
        }
    }
}

/// The models' stride-1 3×3 convolutions that go by Winograd at input size `s`: `(C_in, C_out,
/// map side)` of the VAE's levels, then of the UNet slice's, those `layers::winograd_takes` gives
/// it (the smallest maps go directly).
fn winograd_geometries(s: usize) -> Vec<(usize, usize, usize)> {
    [
        (128, 128, s),
        (256, 256, s / 2),
        (512, 512, s / 4),
        (512, 512, s / 8),
        (320, 320, s / 8),
        (640, 640, s / 16),
        (1280, 1280, s / 32),
    ]
    .into_iter()
    .filter(|&(c_in, c_out, side)| diffcut::model::layers::winograd_takes(c_in, c_out, [3, 3], 1, [1, side, side]))
    .collect()
}

/// `CONVS=1`: our GEMM beside burn's on the GPU: the models' convolutions at each size
/// (`(c_in, c_out, map side, stride)`, 3×3 with the models' padding), then their largest products.
fn conv_bench(sizes: &[u32], runs: usize) {
    use burn::tensor::module;
    use burn::tensor::ops::ConvOptions;
    use burn::tensor::{Tensor, TensorData};
    use diffcut::gpu::{gemm, winograd};
    let device = native_device(true).expect("a GPU");
    let random = |shape: &[usize], seed| {
        let n = shape.iter().product();
        TensorData::new(diffcut::synth::uniform(n, seed), shape.to_vec())
    };
    let t4 = |shape: [usize; 4], seed| Tensor::<4>::from_data(random(&shape, seed), &device);
    println!(
        "| size, conv (C_in → C_out, map, stride) | GFLOP | burn's | ours | ours / burn's | max |ours − burn's| |"
    );
    println!("|---|---|---|---|---|---|");
    for &size in sizes {
        let s = size as usize;
        // The VAE's levels (128, 256, 512 channels at S, S/2, S/4, S/8; its downsample pads the
        // bottom and right only), then the UNet slice's (320 and 640 at S/8, S/16).
        let geometries = [
            (128, 128, s, 1),
            (128, 128, s, 2),
            (256, 256, s / 2, 1),
            (512, 512, s / 4, 1),
            (512, 512, s / 8, 1),
            (320, 320, s / 8, 1),
            (640, 640, s / 16, 1),
        ];
        for (c_in, c_out, side, stride) in geometries {
            let padding = if stride == 2 {
                [(0, 1), (0, 1)]
            } else {
                [(1, 1), (1, 1)]
            };
            let x = t4([1, c_in, side, side], 1);
            let weight = t4([c_out, c_in, 3, 3], 2);
            let bias = Tensor::<1>::from_data(random(&[c_out], 3), &device);
            let options = ConvOptions::new_with_padding([stride; 2], padding, [1, 1], 1);
            let out_side = (side + padding[0].0 + padding[0].1 - 3) / stride + 1;
            let gflop = 2.0 * (c_in * c_out * 9 * out_side * out_side) as f64 / 1e9;
            compare(
                &device,
                runs,
                &format!("{size}, {c_in} → {c_out}, {side}², {stride}"),
                gflop,
                &|| module::conv2d(x.clone(), weight.clone(), Some(bias.clone()), options.clone()),
                &|| gemm::conv2d(&x, &weight, &bias, stride, padding).expect("our kernel"),
            );
        }
    }
    // The stride-1 ones again: Winograd (what the models run) beside our direct GEMM; the rate
    // is the direct convolution's FLOP over the time, so the ratio of rates is the speed-up.
    println!();
    println!(
        "| size, conv (C_in → C_out, map, stride) | GFLOP (direct) | our direct GEMM | Winograd F(2×2, 3×3) | Winograd / GEMM | max |Winograd − GEMM| |"
    );
    println!("|---|---|---|---|---|---|");
    for &size in sizes {
        let s = size as usize;
        for (c_in, c_out, side) in winograd_geometries(s) {
            let padding = [(1, 1), (1, 1)];
            let x = t4([1, c_in, side, side], 1);
            let weight = t4([c_out, c_in, 3, 3], 2);
            let bias = Tensor::<1>::from_data(random(&[c_out], 3), &device);
            let gflop = 2.0 * (c_in * c_out * 9 * side * side) as f64 / 1e9;
            compare(
                &device,
                runs,
                &format!("{size}, {c_in} → {c_out}, {side}², 1"),
                gflop,
                &|| gemm::conv2d(&x, &weight, &bias, 1, padding).expect("our GEMM"),
                &|| winograd::conv2d(&x, &weight, &bias, 1, padding).expect("Winograd"),
            );
        }
    }
    // The products of the models at 1024: the VAE's mid-block attention (one block of query rows,
    // 512 channels, 16 384 keys), the UNet slice's attention (10 heads of 64 over 4096 tokens) and
    // a feed-forward layer (Wᵀ read transposed).
    let products: [(&str, Tensor<4>, Tensor<4>); 5] = [
        (
            "VAE Q·Kᵀ, 1024 rows × 16384 keys × 512",
            t4([1, 1, 1024, 512], 1),
            t4([1, 1, 16384, 512], 2).swap_dims(2, 3),
        ),
        (
            "VAE scores·V, 1024 × 512 × 16384",
            t4([1, 1, 1024, 16384], 3),
            t4([1, 1, 16384, 512], 4),
        ),
        (
            "UNet Q·Kᵀ, 10 heads, 4096 × 4096 × 64",
            t4([1, 10, 4096, 64], 5),
            t4([1, 10, 4096, 64], 6).swap_dims(2, 3),
        ),
        (
            "UNet scores·V, 10 heads, 4096 × 64 × 4096",
            t4([1, 10, 4096, 4096], 7),
            t4([1, 10, 4096, 64], 8),
        ),
        (
            "UNet feed-forward, 4096 × 5120 × 640",
            t4([1, 1, 4096, 640], 9),
            t4([1, 1, 5120, 640], 10).swap_dims(2, 3),
        ),
    ];
    println!();
    println!("| product | GFLOP | burn's | ours | ours / burn's | max |ours − burn's| |");
    println!("|---|---|---|---|---|---|");
    for (label, a, b) in products {
        let [_, batches, m, k] = a.dims();
        let gflop = 2.0 * (batches * m * k * b.dims()[3]) as f64 / 1e9;
        compare(&device, runs, label, gflop, &|| a.clone().matmul(b.clone()), &|| {
            gemm::matmul(&a, &b).expect("our kernel")
        });
    }
}

/// `CONVS=cpu`: the CPU's convolutions (`model::host`, both cores): Winograd beside the direct
/// method on the models' stride-1 3×3 convolutions at each size, best of `runs` after a warm-up.
fn cpu_conv_bench(sizes: &[u32], runs: usize) {
    use burn::tensor::{Tensor, TensorData};
    use diffcut::model::host;
    let device = native_device(false).expect("the CPU");
    let random = |shape: &[usize], seed| {
        let n = shape.iter().product();
        TensorData::new(diffcut::synth::uniform(n, seed), shape.to_vec())
    };
    println!(
        "| size, conv (C_in → C_out, map, stride) | GFLOP (direct) | direct (im2col + GEMM) | Winograd F(2×2, 3×3) | Winograd / direct | max |Winograd − direct| |"
    );
    println!("|---|---|---|---|---|---|");
    for &size in sizes {
        let s = size as usize;
        for (c_in, c_out, side) in winograd_geometries(s) {
            let padding = [(1, 1), (1, 1)];
            let x = Tensor::<4>::from_data(random(&[1, c_in, side, side], 1), &device);
            let weight = Tensor::<4>::from_data(random(&[c_out, c_in, 3, 3], 2), &device);
            let bias = Tensor::<1>::from_data(random(&[c_out], 3), &device);
            let gflop = 2.0 * (c_in * c_out * 9 * side * side) as f64 / 1e9;
            compare(
                &device,
                runs,
                &format!("{size}, {c_in} → {c_out}, {side}², 1"),
                gflop,
                &|| host::conv2d_direct(x.clone(), weight.clone(), &bias, 1, padding),
                &|| host::conv2d(x.clone(), weight.clone(), &bias, 1, padding),
            );
        }
    }
}

fn main() {
    // As the CLI does: freed activations are reused, not unmapped and faulted in again.
    diffcut::model::keep_freed_memory();
    let benchmarking = std::env::args().any(|a| a == "--bench");
    let root = env!("CARGO_MANIFEST_DIR");
    if let Ok(dir) = std::env::var("CLIP") {
        let sizes: Vec<u32> = env_list("SIZES", "1024")
            .iter()
            .map(|s| s.parse().expect("SIZES"))
            .collect();
        let runs = std::env::var("RUNS").ok().and_then(|r| r.parse().ok()).unwrap_or(1);
        let image = image::open(format!("{root}/samples/coffee.jpg"))
            .expect("sample")
            .to_rgb8();
        clip_bench(&dir, &env_list("DEVICES", "cpu"), &sizes, runs, &image);
        return;
    }
    let default_model = format!("{root}/tests/fixtures/model/ssd-tiny/q8");
    let model_dir = std::env::var("MODEL").unwrap_or(default_model);
    let sizes: Vec<u32> = env_list("SIZES", if benchmarking { "512,1024" } else { "128" })
        .iter()
        .map(|s| s.parse().expect("SIZES=512,1024"))
        .collect();
    let devices = env_list("DEVICES", "cpu");
    let runs: usize = std::env::var("RUNS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(if benchmarking { 2 } else { 1 });
    let image = image::open(format!("{root}/samples/coffee.jpg"))
        .expect("samples/coffee.jpg")
        .to_rgb8();

    if std::env::var("CONVS").is_ok_and(|v| v == "cpu") {
        cpu_conv_bench(&sizes, runs);
        return;
    }
    if std::env::var("CONVS").is_ok() {
        conv_bench(&sizes, runs);
        return;
    }
    if std::env::var("OPS").is_ok() {
        ops_bench(&sizes, runs);
        return;
    }
    let stages = std::env::var("STAGES").ok();
    println!("model: {model_dir}");
    if stages.is_none() {
        println!("| device | size | load | VAE | UNet slice | whole (best of {runs}) | first run | peak reserved (in use) | held after |");
        println!("|---|---|---|---|---|---|---|---|---|");
    }
    for dev in &devices {
        let device = native_device(dev == "gpu").expect("device");
        let t = Instant::now();
        let model = DiffusionModel::load_dir(std::path::Path::new(&model_dir), &device, false).expect("model");
        sync(&device);
        let load = t.elapsed();
        if let Some(u) = device.memory_pool_usage() {
            println!(
                "({dev}: the model holds {:.1} MiB of device memory once loaded)",
                u.bytes_in_use as f64 / 1048576.0
            );
        }
        for &size in &sizes {
            if let Some(stages) = &stages {
                stage_memory(&model, &device, &image, size, stages == "unet");
                continue;
            }
            let noise = model.default_noise(size);
            let peak = PeakMemory::start(&device);
            let first = Instant::now();
            pollster::block_on(model.features(&image, size, &noise)).expect("features");
            let first = first.elapsed();
            let (mut vae, mut unet, mut whole) = (Duration::MAX, Duration::MAX, Duration::MAX);
            for _ in 0..runs {
                let t0 = Instant::now();
                let input = DiffusionModel::preprocess(&image, size).unwrap();
                let latent = model.encode(input, size).unwrap();
                sync(&device);
                let t1 = Instant::now();
                let noisy = model.add_noise(latent, size, &noise).unwrap();
                let z = model.unet(noisy, size, &mut |_, _| {}).unwrap();
                let values = pollster::block_on(read_f32(z)).unwrap();
                let t2 = Instant::now();
                assert!(values.iter().all(|v| v.is_finite()));
                vae = vae.min(t1 - t0);
                unet = unet.min(t2 - t1);
                whole = whole.min(t2 - t0);
            }
            let mib = |b: u64| b as f64 / 1048576.0;
            let peak = peak
                .map(|p| p.finish(&device))
                .map(|(r, u)| format!("{:.0} MiB ({:.0} MiB)", mib(r), mib(u)))
                .unwrap_or_else(|| "n/a".into());
            let best = |d: Duration| {
                if runs == 0 {
                    "—".to_string()
                } else {
                    format!("{:.0} ms", ms(d))
                }
            };
            let held = device
                .memory_pool_usage()
                .map(|u| {
                    format!(
                        "{:.0} MiB reserved, {:.0} MiB in use",
                        mib(u.bytes_reserved),
                        mib(u.bytes_in_use)
                    )
                })
                .unwrap_or_else(|| "n/a".into());
            println!(
                "| {dev} | {size} | {:.0} ms | {} | {} | {} | {:.0} ms | {peak} | {held} |",
                ms(load),
                best(vae),
                best(unet),
                best(whole),
                ms(first)
            );
        }
    }
}
