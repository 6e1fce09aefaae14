#!/usr/bin/env bash
# The diffusion model on an NVIDIA GPU: `diffcut features --model-device gpu` (burn on wgpu through
# Vulkan: the same WGSL the browser runs) beside PyTorch fp16 on the same card, with the peak device
# memory of both. Not run in CI. Results go to BENCHMARKS.md ("On a GPU").
#
# Needs: Linux x86-64, an NVIDIA GPU with its driver and Vulkan ICD, Python 3 with PyTorch + CUDA,
# about 8 GB of RAM and 4 GB of disk for the random-weight model (made here: SSD-1B's shapes, the
# same compute; models/make_full_random.py). Rust is not needed on that machine: build the two
# binaries on any x86-64 Linux machine first, into .devbin/:
#
#   cargo build --release --bin diffcut && cargo bench --bench model --no-run && mkdir -p .devbin && \
#     strip -o .devbin/diffcut "$CARGO_TARGET_DIR/release/diffcut" && \
#     strip -o .devbin/model-bench "$(ls -t "$CARGO_TARGET_DIR"/release/deps/model-* | grep -v '\.d$' | head -1)"
#
# Optional, for a machine without network access or without these packages:
#   - .devbin/wheels/: `pip download --no-deps -d .devbin/wheels diffusers==0.42.1 importlib_metadata
#     zipp safetensors` (installed into .devbin/py, not system-wide);
#   - .gl/: the Vulkan loader and glvnd libraries as Debian packages, `apt-get download libvulkan1
#     libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2` (unpacked into / when present).
#
# Environment: OUT (results folder, default bench-out/), SCRATCH (the random model, default
# $TMPDIR/diffcut-device-bench), VK_DRIVER_FILES / __EGL_VENDOR_LIBRARY_FILENAMES (found in the
# usual NVIDIA locations when unset).
#
# burn's CUDA backend is not an option: its build downloads an LLVM bundle (tracel-llvm-bundler).
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT="${OUT:-bench-out}"
SCRATCH="${SCRATCH:-${TMPDIR:-/tmp}/diffcut-device-bench}"
mkdir -p "$OUT" "$SCRATCH"
if compgen -G ".gl/*.deb" >/dev/null; then
  for f in .gl/*.deb; do dpkg -x "$f" /; done
  ldconfig
fi
first_file() { for f in "$@"; do [ -f "$f" ] && { echo "$f"; return; }; done; }
: "${VK_DRIVER_FILES:=$(first_file /usr/share/vulkan/icd.d/nvidia_icd.json /etc/vulkan/icd.d/nvidia_icd.json \
  /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json)}"
: "${__EGL_VENDOR_LIBRARY_FILENAMES:=$(first_file /usr/share/glvnd/egl_vendor.d/10_nvidia.json \
  /usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json)}"
export VK_DRIVER_FILES __EGL_VENDOR_LIBRARY_FILENAMES
if compgen -G ".devbin/wheels/*.whl" >/dev/null; then
  export PYTHONPATH="$PWD/.devbin/py${PYTHONPATH:+:$PYTHONPATH}"
  python3 -m pip install --no-index --no-deps --target .devbin/py .devbin/wheels/*.whl >/dev/null
fi
nvidia-smi --query-gpu=name,memory.total --format=csv | tee "$OUT/gpu.txt"

# Random weights with SSD-1B's shapes, converted to q8.
python3 models/make_full_random.py --out "$SCRATCH/full-random" --dtypes q8 2>&1 | tail -5

# Our model on wgpu/Vulkan: the first run compiles the shaders; then steady state, per size.
MODEL="$SCRATCH/full-random/converted-q8" SIZES=512,1024 DEVICES=gpu RUNS=5 .devbin/model-bench --bench | tee "$OUT/burn_wgpu.txt" || true
for size in 512 1024; do
  for run in 1 2 3; do
    /usr/bin/time -f "wgpu size=$size run=$run %e s %M KiB" .devbin/diffcut features samples/coffee.jpg \
      --model "$SCRATCH/full-random/converted-q8" --size "$size" --model-device gpu --out "$OUT/f_$size.npy" 2>&1 | tail -1
  done
done | tee -a "$OUT/burn_wgpu.txt"

# Where the device memory goes at 1024 (burn's allocator, per stage; weights included).
STAGES=1 MODEL="$SCRATCH/full-random/converted-q8" SIZES=1024 DEVICES=gpu .devbin/model-bench --bench | tee "$OUT/burn_wgpu_memory.txt" || true

# PyTorch fp16 (and the VAE in fp32, as the official code runs it) on the same card, with the
# peak memory of each part beyond the weights.
python3 benches/model/torch_timing.py --source "$SCRATCH/full-random" --sizes 512,1024 | tee "$OUT/torch.txt"
