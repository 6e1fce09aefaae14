//! `cargo bench --bench vae_bands`: the VAE encoder alone on row bands (`src/model/banded.rs`),
//! per input size: wall time, CPU seconds, the band rows per level, peak RSS and burn's pool
//! usage. With `BUDGET=max` every level is one band, which gives the unbanded figures to compare.
//! The whole extractor is timed by `cargo bench --bench model`. Results are in BENCHMARKS.md.
//!
//! `MODEL=path/to/converted-q8 SIZES=512,1024 DEVICES=cpu,gpu [BUDGET=bytes|max] cargo bench
//! --bench vae_bands`. A full-size folder with SSD-1B's shapes comes from
//! `python3 models/make_full_random.py --dtypes q8` (random weights, the same compute). `cpu` is
//! burn-flex, `gpu` burn on wgpu. Peak RSS and CPU time are read from `/proc` (Linux). Run as a
//! test (`cargo test --all-targets`, no `--bench` argument) it does one pass of the tiny fixture
//! model, as a smoke test.

use std::path::Path;
use std::time::Instant;

use burn::tensor::{Device, Tensor, TensorData};
use diffcut::model::banded::BAND_BYTES;
use diffcut::model::vae::VaeEncoder;
use diffcut::model::weights::WeightStore;
use diffcut::model::{native_device, read_f32, Manifest, ModelConfig};

/// A `VaeEncoder` loaded straight from a model folder (every shard is uploaded; the store is not
/// finished, so the UNet's tensors are simply left in it).
fn load_vae(dir: &Path, device: &Device) -> VaeEncoder {
    let manifest = Manifest::from_json(&std::fs::read(dir.join("manifest.json")).unwrap()).unwrap();
    let config = ModelConfig::from_json(&std::fs::read(dir.join(&manifest.config)).unwrap()).unwrap();
    let mut store = WeightStore::new(device, false);
    for shard in manifest.shards() {
        let bytes = std::fs::read(dir.join(&shard.name)).unwrap();
        store.add_shard(&shard.name, &bytes).unwrap();
    }
    VaeEncoder::load(&mut store, &config.vae).unwrap()
}

/// Peak resident set size of this process (VmHWM), in bytes.
fn peak_rss() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// User + system CPU seconds of this process so far (all threads).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which is in parentheses): utime and stime are 14 and 15.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

/// Resets VmHWM to the current RSS (Linux ≥ 4.0).
fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

fn mib(b: u64) -> f64 {
    b as f64 / (1 << 20) as f64
}

fn bench(dir: &Path, device: &Device, sizes: &[usize], budget: usize, label: &str) {
    let t = Instant::now();
    let vae = load_vae(dir, device);
    println!(
        "[{label}] loaded {} in {:.1} s",
        dir.display(),
        t.elapsed().as_secs_f64()
    );
    for &s in sizes {
        let plan = vae.band_plan(1, s, s, budget);
        println!("[{label}] S={s}: band rows per level {plan:?}");
        let x = Tensor::<4>::from_data(
            TensorData::new(diffcut::synth::uniform(3 * s * s, s as u64), [1, 3, s, s]),
            device,
        );
        let _ = device.sync();
        reset_peak_rss();
        let rss0 = peak_rss().unwrap_or(0);
        let cpu0 = cpu_seconds();
        let t = Instant::now();
        let latent = if budget == BAND_BYTES {
            vae.encode(x)
        } else {
            vae.encode_with_budget(x, budget)
        };
        let values = pollster::block_on(read_f32(latent)).unwrap();
        let secs = t.elapsed().as_secs_f64();
        let cpu = cpu_seconds() - cpu0;
        let rss = peak_rss().unwrap_or(0);
        let finite = values.iter().all(|v| v.is_finite());
        let pool = device
            .memory_pool_usage()
            .map(|u| {
                format!(
                    "pool: bytes_in_use {} ({:.1} MiB), bytes_reserved {} ({:.1} MiB)",
                    u.bytes_in_use,
                    mib(u.bytes_in_use),
                    u.bytes_reserved,
                    mib(u.bytes_reserved)
                )
            })
            .unwrap_or_else(|| "pool: not reported".into());
        let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
        println!(
            "[{label}] S={s}: load average {}",
            load.split_whitespace().take(3).collect::<Vec<_>>().join(" ")
        );
        println!(
            "[{label}] S={s}: VAE {secs:.2} s ({cpu:.1} CPU s), latent {} values (finite: {finite}), peak RSS {:.0} MiB (+{:.0} MiB over {:.0} MiB before the run); {pool}",
            values.len(),
            mib(rss),
            mib(rss.saturating_sub(rss0)),
            mib(rss0),
        );
        assert!(finite, "the latent has non-finite values");
    }
}

fn main() {
    let benchmarking = std::env::args().any(|a| a == "--bench");
    let root = env!("CARGO_MANIFEST_DIR");
    let model = std::env::var("MODEL").unwrap_or_else(|_| format!("{root}/tests/fixtures/model/ssd-tiny/q8"));
    let sizes: Vec<usize> = std::env::var("SIZES")
        .unwrap_or_else(|_| (if benchmarking { "512,1024" } else { "64" }).into())
        .split(',')
        .map(|s| s.trim().parse().expect("SIZES=512,1024"))
        .collect();
    let devices = std::env::var("DEVICES").unwrap_or_else(|_| "cpu".into());
    let budget = match std::env::var("BUDGET").as_deref() {
        Err(_) => BAND_BYTES,
        Ok("max") => usize::MAX,
        Ok(v) => v.parse().expect("BUDGET: bytes or `max`"),
    };
    for dev in devices.split(',').map(str::trim).filter(|d| !d.is_empty()) {
        let device = native_device(dev == "gpu").expect("device");
        let label = if dev == "gpu" { "wgpu" } else { "cpu/flex" };
        bench(Path::new(&model), &device, &sizes, budget, label);
    }
}
