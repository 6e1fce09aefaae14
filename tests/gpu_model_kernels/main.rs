//! The kernels of ours that run on burn's wgpu device for the diffusion model (src/gpu/gemm,
//! src/gpu/group_norm, src/gpu/softmax, src/gpu/winograd), on lavapipe in CI, against their references: one test
//! binary for the four (each links burn and wgpu).
#![cfg(all(feature = "model", feature = "gpu"))]

#[path = "../common/mod.rs"]
mod common;

mod gemm;
mod group_norm;
mod softmax;
mod winograd;
