//! Smoke test of the browser GPU path: a WGSL compute kernel on WebGPU in headless Chromium
//! (SwiftShader), with asynchronous read-back. Fails, never skips, when there is no adapter.

use diffcut_wasm_tests::{gpu, log, Gpu};
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

/// y = 2x + 1, one invocation per element, bounds-checked (n need not divide the workgroup).
const AFFINE_WGSL: &str = r#"
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.x;
    if (i < arrayLength(&y)) {
        y[i] = 2.0 * x[i] + 1.0;
    }
}
"#;

#[wasm_bindgen_test]
async fn wgsl_affine_kernel_on_webgpu() {
    let t0 = js_now();
    let gpu = gpu().await;
    let n = 1000usize;
    let x: Vec<f32> = (0..n).map(|i| i as f32 * 0.5 - 100.0).collect();

    let scope = gpu.device.push_error_scope(wgpu::ErrorFilter::Validation);
    let xb = gpu.storage_from("x", &x);
    let yb = gpu.storage_out("y", n);
    let module = gpu.device.create_shader_module(wgpu::ShaderModuleDescriptor {
        label: Some("affine"),
        source: wgpu::ShaderSource::Wgsl(AFFINE_WGSL.into()),
    });
    let pipeline = gpu.device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
        label: Some("affine"),
        layout: None,
        module: &module,
        entry_point: Some("main"),
        compilation_options: Default::default(),
        cache: None,
    });
    let bind = gpu.device.create_bind_group(&wgpu::BindGroupDescriptor {
        label: Some("affine"),
        layout: &pipeline.get_bind_group_layout(0),
        entries: &[
            wgpu::BindGroupEntry {
                binding: 0,
                resource: xb.as_entire_binding(),
            },
            wgpu::BindGroupEntry {
                binding: 1,
                resource: yb.as_entire_binding(),
            },
        ],
    });
    let mut enc = gpu.device.create_command_encoder(&Default::default());
    {
        let mut pass = enc.begin_compute_pass(&Default::default());
        pass.set_pipeline(&pipeline);
        pass.set_bind_group(0, &bind, &[]);
        pass.dispatch_workgroups(n.div_ceil(64) as u32, 1, 1);
    }
    gpu.queue.submit([enc.finish()]);
    let y = gpu.read_f32(&yb).await;
    Gpu::assert_no_validation_error(scope).await;

    assert_eq!(y.len(), n);
    for (i, (&xi, &yi)) in x.iter().zip(&y).enumerate() {
        assert_eq!(yi, 2.0 * xi + 1.0, "y[{i}] for x = {xi}");
    }
    log(&format!(
        "affine kernel over {n} floats OK in {:.1} ms (incl. device)",
        js_now() - t0
    ));
}

fn js_now() -> f64 {
    js_sys::Date::now()
}
