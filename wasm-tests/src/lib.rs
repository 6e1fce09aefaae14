//! Helpers shared by DiffCut-rs's browser tests: WebGPU in headless Chromium through
//! wasm-bindgen-test. See README.md for how to run them.
//!
//! Everything is `async`: a browser cannot block on the GPU, so device creation and
//! read-back go through promises (`map_async` + a oneshot channel, never `device.poll(Wait)`).
//!
//! A missing WebGPU adapter is a test FAILURE (a panic), never a skip: CI must not pass
//! without having run the GPU code.

#[cfg(not(target_arch = "wasm32"))]
compile_error!(
    "diffcut-wasm-tests only runs in a browser: `cargo test --target wasm32-unknown-unknown` \
     (the default inside wasm-tests/), see wasm-tests/README.md"
);

pub use wgpu;

use wgpu::util::DeviceExt;

/// A WebGPU adapter with its device and queue.
pub struct Gpu {
    pub adapter: wgpu::Adapter,
    pub device: wgpu::Device,
    pub queue: wgpu::Queue,
}

/// Logs to the browser console (wasm-bindgen-test shows it with the test's output).
pub fn log(msg: &str) {
    web_sys::console::log_1(&msg.into());
}

/// Opens the browser's WebGPU adapter and a device with the adapter's own limits.
///
/// Panics, failing the test, when the browser offers no WebGPU adapter.
pub async fn gpu() -> Gpu {
    if !wgpu::util::is_browser_webgpu_supported().await {
        panic!(
            "no WebGPU adapter: navigator.gpu is missing or requestAdapter() returned null. \
             Chromium needs the flags in wasm-tests/webdriver.json (--enable-unsafe-webgpu, \
             --enable-unsafe-swiftshader, ...); see wasm-tests/README.md"
        );
    }
    let instance = wgpu::Instance::new(wgpu::InstanceDescriptor {
        backends: wgpu::Backends::BROWSER_WEBGPU,
        ..wgpu::InstanceDescriptor::new_without_display_handle()
    });
    let adapter = instance
        .request_adapter(&wgpu::RequestAdapterOptions::default())
        .await
        .unwrap_or_else(|e| panic!("no WebGPU adapter: {e}"));
    let info = adapter.get_info();
    let limits = adapter.limits();
    log(&format!(
        "WebGPU adapter: {:?} ({:?}, {:?}); max_storage_buffer_binding_size={} \
         max_compute_invocations_per_workgroup={} shader_f16={}",
        info.name,
        info.device_type,
        info.backend,
        limits.max_storage_buffer_binding_size,
        limits.max_compute_invocations_per_workgroup,
        adapter.features().contains(wgpu::Features::SHADER_F16),
    ));
    let (device, queue) = adapter
        .request_device(&wgpu::DeviceDescriptor {
            label: Some("diffcut-wasm-tests"),
            required_limits: limits,
            ..Default::default()
        })
        .await
        .unwrap_or_else(|e| panic!("WebGPU request_device failed: {e}"));
    Gpu { adapter, device, queue }
}

impl Gpu {
    /// A read-only storage buffer holding `data`.
    pub fn storage_from(&self, label: &str, data: &[f32]) -> wgpu::Buffer {
        self.device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some(label),
            contents: bytemuck::cast_slice(data),
            usage: wgpu::BufferUsages::STORAGE,
        })
    }

    /// A writable storage buffer of `len` f32s that can be read back with [`Gpu::read_f32`].
    pub fn storage_out(&self, label: &str, len: usize) -> wgpu::Buffer {
        self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(label),
            size: (len * std::mem::size_of::<f32>()) as u64,
            usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC,
            mapped_at_creation: false,
        })
    }

    /// Copies `src` (which needs `COPY_SRC`) to a staging buffer and maps it asynchronously.
    pub async fn read_f32(&self, src: &wgpu::Buffer) -> Vec<f32> {
        let size = src.size();
        let staging = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("readback"),
            size,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let mut enc = self.device.create_command_encoder(&Default::default());
        enc.copy_buffer_to_buffer(src, 0, &staging, 0, size);
        self.queue.submit([enc.finish()]);

        let (tx, rx) = futures_channel::oneshot::channel();
        staging.slice(..).map_async(wgpu::MapMode::Read, move |r| {
            let _ = tx.send(r);
        });
        rx.await
            .expect("map_async callback dropped")
            .unwrap_or_else(|e| panic!("map_async failed: {e}"));
        let out =
            bytemuck::cast_slice::<u8, f32>(&staging.slice(..).get_mapped_range().expect("mapped range")).to_vec();
        staging.unmap();
        out
    }

    /// Fails the test if anything in `scope` raised a WebGPU validation error.
    pub async fn assert_no_validation_error(scope: wgpu::ErrorScopeGuard) {
        if let Some(err) = scope.pop().await {
            panic!("WebGPU validation error: {err}");
        }
    }
}

/// `diffcut`'s own [`diffcut::gpu::GpuContext`] on the browser's WebGPU adapter.
///
/// Asked up to three times, a second apart: on a loaded machine headless Chromium's GPU process
/// (SwiftShader) has been seen to answer `requestAdapter()` with no adapter once, right after the
/// previous browser session closed. Each miss is logged; a third miss fails the test.
pub async fn diffcut_gpu() -> diffcut::gpu::GpuContext {
    let mut last = None;
    for attempt in 1..=3 {
        match diffcut::gpu::GpuContext::new().await {
            Ok(ctx) => {
                log(&format!("GpuContext on {} (attempt {attempt})", ctx.adapter));
                return ctx;
            }
            Err(e) => {
                log(&format!("attempt {attempt}: {e}"));
                last = Some(e);
                sleep_ms(1000).await;
            }
        }
    }
    panic!(
        "a WebGPU adapter (see wasm-tests/webdriver.json): {:?}",
        last.expect("three attempts")
    );
}

/// Waits `ms` milliseconds (a `setTimeout` promise).
pub async fn sleep_ms(ms: i32) {
    let promise = js_sys::Promise::new(&mut |resolve, _| {
        let global = js_sys::global();
        let set_timeout = js_sys::Reflect::get(&global, &"setTimeout".into()).expect("setTimeout exists");
        let set_timeout: js_sys::Function = set_timeout.into();
        set_timeout
            .call2(&global, &resolve, &ms.into())
            .expect("setTimeout works");
    });
    wasm_bindgen_futures::JsFuture::from(promise)
        .await
        .expect("a timer never rejects");
}

/// The Gram tiles of `diffcut::ncut::affinity::tile_products` for the benchmark's helper worker
/// (`tests/bench.rs`), which instantiates this same test module, as the page's `gramTiles`:
/// `x` normalised features `[n, c]`, `tiles` flat `(row, col)` pairs.
#[cfg(feature = "bench")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn bench_gram_tiles(x: &[f32], c: u32, tiles: &[u32]) -> Vec<f32> {
    use diffcut::ncut::{affinity::tile_products, wire};
    let c = c as usize;
    tile_products(x, x.len() / c, c, &wire::decode_tiles(tiles).unwrap()).unwrap()
}

/// `diffcut::ncut::grow_subtree` for the benchmark's helper worker, as the page's `growSubtree`.
#[cfg(feature = "bench")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn bench_grow_subtree(w: Vec<f32>, excluded: &[u8], params: &[f64]) -> Vec<f64> {
    use diffcut::ncut::{grow_subtree, wire};
    let nodes = grow_subtree(wire::decode_job(w, excluded, params).unwrap()).unwrap();
    wire::encode_nodes(&nodes)
}
