#!/usr/bin/env bash
# The model on a lent NVIDIA GPU machine (the `device` tool): `diffcut features --model-device gpu`
# (burn on wgpu through Vulkan: the same WGSL the browser runs) beside PyTorch fp16 on the same
# card. Not run in CI.
#
# That machine has PyTorch + CUDA and NVIDIA's Vulkan driver but no Vulkan loader, no diffusers,
# no internet and no Rust, and at most 64 MiB travel with the working tree. So the binary and the
# loader are carried, and the weights are made there (random, SSD-1B's shapes, same compute):
#
#   cargo build --release --bin diffcut && cargo bench --bench model --no-run && mkdir -p .devbin .gl && \
#     strip -o .devbin/diffcut "$CARGO_TARGET_DIR/release/diffcut" && \
#     strip -o .devbin/model-bench "$(ls -t "$CARGO_TARGET_DIR"/release/deps/model-* | grep -v '\.d$' | head -1)" && \
#     /work/venv/bin/pip download --no-deps -d .devbin/wheels diffusers==0.42.1 importlib_metadata zipp safetensors
#   o='-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/amd64'
#   (cd .gl && apt-get $o download libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2)
#   (add /.devbin/ and /.gl/ to .git/info/exclude), then run this script there with
#   carry [".devbin", ".gl"].
#
# burn's CUDA backend is not an option: its build downloads an LLVM bundle (tracel-llvm-bundler),
# which this workplace's network refuses.
#
# Prepared but not yet run (no GPU was lent to the session that wrote it).
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT="${OUT:-/tmp/out}"
mkdir -p "$OUT"
for f in .gl/*.deb; do dpkg -x "$f" /; done
ldconfig
export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
export __EGL_VENDOR_LIBRARY_FILENAMES=/usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json
export PYTHONPATH="$PWD/.devbin/py${PYTHONPATH:+:$PYTHONPATH}"
python3 -m pip install --no-index --no-deps --target .devbin/py .devbin/wheels/*.whl >/dev/null
nvidia-smi --query-gpu=name,memory.total --format=csv | tee "$OUT/gpu.txt"

# Random weights with SSD-1B's shapes, converted to q8.
python3 models/make_full_random.py --out /tmp/full-random --dtypes q8 2>&1 | tail -5

# Our model on wgpu/Vulkan: the first run compiles the shaders; then steady state, per size.
MODEL=/tmp/full-random/converted-q8 SIZES=512,1024 DEVICES=gpu RUNS=5 .devbin/model-bench --bench | tee "$OUT/burn_wgpu.txt" || true
for size in 512 1024; do
  for run in 1 2 3; do
    /usr/bin/time -f "wgpu size=$size run=$run %e s %M KiB" .devbin/diffcut features samples/coffee.jpg \
      --model /tmp/full-random/converted-q8 --size "$size" --model-device gpu --out "$OUT/f_$size.npy" 2>&1 | tail -1
  done
done | tee -a "$OUT/burn_wgpu.txt"

# Where the device memory goes at 1024 (burn's allocator, per stage; weights included).
STAGES=1 MODEL=/tmp/full-random/converted-q8 SIZES=1024 DEVICES=gpu .devbin/model-bench --bench | tee "$OUT/burn_wgpu_memory.txt" || true

# PyTorch fp16 (and the VAE in fp32, as the official code runs it) on the same card, with the
# peak memory of each part beyond the weights.
python3 benches/model/torch_timing.py --source /tmp/full-random --sizes 512,1024 | tee "$OUT/torch.txt"
