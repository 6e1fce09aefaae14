//! Helpers shared by the model tests (tests/model.rs, tests/model_banded.rs): devices, the
//! fixture models of tests/fixtures/model/ and their expected tensors, an error measure.
#![allow(dead_code)] // each test crate uses its own subset

use std::path::{Path, PathBuf};

use burn::tensor::Device;
use diffcut::model::native_device;
use diffcut::npy;

/// burn-flex.
pub fn cpu() -> Device {
    native_device(false).unwrap()
}

/// burn-wgpu (lavapipe in CI); fails loudly without an adapter.
pub fn gpu() -> Device {
    native_device(true).expect("a wgpu adapter (install mesa-vulkan-drivers for lavapipe)")
}

/// A fixture model's folder (models/make_tiny.py wrote it).
pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/model")
        .join(name)
}

/// One of diffusers' tensors for a fixture model: (shape, values).
pub fn expected(model: &str, file: &str) -> (Vec<usize>, Vec<f32>) {
    let bytes = std::fs::read(fixture(model).join("expected").join(file)).expect(file);
    let header = npy::parse(&bytes).unwrap().0;
    npy::read_f32(&bytes, header.shape.len()).unwrap()
}

/// max |a − b| / max |b|.
pub fn rel_err(a: &[f32], b: &[f32]) -> f64 {
    assert_eq!(a.len(), b.len(), "lengths");
    let scale = b.iter().fold(0f64, |m, &v| m.max(v.abs() as f64)).max(1e-30);
    a.iter().zip(b).fold(0f64, |m, (&p, &q)| m.max((p - q).abs() as f64)) / scale
}
