#!/usr/bin/env bash
# Every GPU bench on an NVIDIA machine, in one run: the recursive NCut and PAMR in our WGSL beside
# the CPU path, then the diffusion model (`diffcut features --model-device gpu`: burn on wgpu
# through Vulkan, the same WGSL the browser runs) beside PyTorch fp16 on the same card, with the
# peak device memory of both. Not run in CI. Results go to BENCHMARKS.md ("On a real GPU" for the
# NCut and PAMR, "On a GPU" for the model).
#
# Needs: Linux x86-64, an NVIDIA GPU with its driver and Vulkan ICD, Python 3 with PyTorch + CUDA,
# about 8 GB of RAM and 4 GB of disk for the random-weight model (made here: SSD-1B's shapes, the
# same compute; models/make_full_random.py). Rust is not needed on that machine: build the
# binaries on any x86-64 Linux machine first, into .devbin/ (xz-compressed binaries are
# unpacked here; diffcut is optional):
#
#   cargo build --release --bin diffcut && mkdir -p .devbin && \
#     strip -o .devbin/diffcut "$CARGO_TARGET_DIR/release/diffcut" && \
#     for b in model ncut_gpu pamr_gpu; do strip -o .devbin/$b-bench "$(cargo bench --bench $b \
#       --no-run 2>&1 | sed -n 's/.*Executable .*(\(.*\))$/\1/p')"; done && \
#     xz -T0 -6 .devbin/diffcut .devbin/*-bench
#
# Optional, for a machine without network access or without these packages:
#   - .devbin/wheels/: `pip download --no-deps -d .devbin/wheels diffusers==0.42.1 importlib_metadata
#     lazy-importer` (installed into .devbin/py, not system-wide);
#   - .gl/: the Vulkan loader and glvnd libraries as Debian packages, `apt-get download libvulkan1
#     libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2` (unpacked into / when present).
#
# Environment: OUT (results folder, default bench-out/), SCRATCH (the random model, default
# $TMPDIR/diffcut-device-bench), VK_DRIVER_FILES / __EGL_VENDOR_LIBRARY_FILENAMES (found in the
# usual NVIDIA locations when unset), FULL_RANDOM (a folder models/make_full_random.py already made:
# not built again), NCUT_GRIDS (default 16,32,48,64), PAMR_SIZES (512,1024,2048), MODEL_SIZES
# (512,1024).
#
# Each step has a time limit and the run goes on past a failed one, so one run gives all it can;
# the limits add up to about 15 minutes at most (a run on a fresh H200 took 2).
# The random model is built on half the CPU cores while the NCut and PAMR benches run on the
# other half (their CPU columns are then 8-core figures on a 16-core machine).
#
# burn's CUDA backend is not an option: its build downloads an LLVM bundle (tracel-llvm-bundler).
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT="${OUT:-bench-out}"
SCRATCH="${SCRATCH:-${TMPDIR:-/tmp}/diffcut-device-bench}"
mkdir -p "$OUT" "$SCRATCH"
if compgen -G ".gl/*.deb" >/dev/null; then
  for f in .gl/*.deb; do dpkg -x "$f" /; done
  ldconfig
fi
for f in .devbin/*.xz; do [ -f "$f" ] && xz -d -f "$f" && chmod +x "${f%.xz}"; done
first_file() { for f in "$@"; do [ -f "$f" ] && { echo "$f"; return; }; done; }
: "${VK_DRIVER_FILES:=$(first_file /usr/share/vulkan/icd.d/nvidia_icd.json /etc/vulkan/icd.d/nvidia_icd.json \
  /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json)}"
: "${__EGL_VENDOR_LIBRARY_FILENAMES:=$(first_file /usr/share/glvnd/egl_vendor.d/10_nvidia.json \
  /usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json)}"
# Exported only when found: an empty VK_DRIVER_FILES would hide every Vulkan driver.
[ -n "$VK_DRIVER_FILES" ] && export VK_DRIVER_FILES || unset VK_DRIVER_FILES
[ -n "$__EGL_VENDOR_LIBRARY_FILENAMES" ] && export __EGL_VENDOR_LIBRARY_FILENAMES || unset __EGL_VENDOR_LIBRARY_FILENAMES
if compgen -G ".devbin/wheels/*.whl" >/dev/null; then
  export PYTHONPATH="$PWD/.devbin/py${PYTHONPATH:+:$PYTHONPATH}"
  python3 -m pip install -q --no-index --no-deps --no-compile --target .devbin/py .devbin/wheels/*.whl >/dev/null
fi
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/gpu.txt"

# step SECONDS LOG COMMAND...: runs COMMAND for at most SECONDS, appending its output to LOG.
step() {
  local limit=$1 log=$2
  shift 2
  echo "== $* (limit ${limit} s, at ${SECONDS} s)" | tee -a "$log"
  timeout "$limit" "$@" 2>&1 | tee -a "$log"
  echo "== exit ${PIPESTATUS[0]} at ${SECONDS} s" | tee -a "$log"
}

# CPU halves: the model is built on one while the NCut and PAMR benches run on the other.
cpus=$(nproc)
half=$((cpus > 1 ? cpus / 2 : 1))
pin_build=() pin_bench=()
if [ "$cpus" -ge 4 ] && command -v taskset >/dev/null; then
  pin_build=(taskset -c "$half-$((cpus - 1))")
  pin_bench=(taskset -c "0-$((half - 1))")
  export RAYON_NUM_THREADS=$half
fi

MODEL_SIZES="${MODEL_SIZES:-512,1024}"
big=$(tr , '\n' <<<"$MODEL_SIZES" | sort -n | tail -1)

# Random weights with SSD-1B's shapes, converted to q8, in the background.
full="${FULL_RANDOM:-$SCRATCH/full-random}"
build=
if [ -z "${FULL_RANDOM:-}" ]; then
  (OMP_NUM_THREADS=$half step 330 "$OUT/make_model.txt" ${pin_build[@]+"${pin_build[@]}"} \
    python3 models/make_full_random.py --out "$full" --dtypes q8 --sizes "$MODEL_SIZES" >/dev/null) &
  build=$!
fi

# The recursive NCut (dispatches, readbacks, levels beside the time) and PAMR, each beside the
# CPU path in the same run.
GRIDS="${NCUT_GRIDS:-16,32,48,64}" RUNS=10 step 120 "$OUT/ncut_gpu.txt" ${pin_bench[@]+"${pin_bench[@]}"} .devbin/ncut_gpu-bench --bench
SIZES="${PAMR_SIZES:-512,1024,2048}" step 90 "$OUT/pamr_gpu.txt" ${pin_bench[@]+"${pin_bench[@]}"} .devbin/pamr_gpu-bench --bench
[ -n "$build" ] && wait "$build"
unset RAYON_NUM_THREADS
model="$full/converted-q8"
[ -f "$model/manifest.json" ] || { echo "no model: see $OUT/make_model.txt"; exit 1; }

# PyTorch fp16 (and the VAE in fp32, as the official code runs it) on the same card, with the
# peak memory of each part beyond the weights.
step 100 "$OUT/torch.txt" python3 benches/model/torch_timing.py --source "$full" --sizes "$MODEL_SIZES" --runs 10

# Our model on wgpu/Vulkan: the first run compiles the shaders; then steady state, per size.
MODEL="$model" SIZES="$MODEL_SIZES" DEVICES=gpu RUNS=5 step 150 "$OUT/burn_wgpu.txt" .devbin/model-bench --bench

# The models' convolutions and largest products alone: our GEMM beside burn's own kernels, same inputs.
CONVS=1 SIZES="$MODEL_SIZES" RUNS=5 step 90 "$OUT/convs.txt" .devbin/model-bench --bench
# GroupNorm + SiLU and attention's softmax alone: our kernels beside burn's ops, same inputs.
OPS=1 SIZES="$MODEL_SIZES" RUNS=5 step 60 "$OUT/ops.txt" .devbin/model-bench --bench

# Where the GPU time goes at the largest size, per kernel (cubecl's profiler; its log, xz-compressed).
CUBECL_DEBUG_LOG="$SCRATCH/cubecl.log" CUBECL_DEBUG_OPTION=profile-medium MODEL="$model" SIZES="$big" \
  DEVICES=gpu RUNS=1 step 90 "$OUT/profile.txt" .devbin/model-bench --bench
[ -f "$SCRATCH/cubecl.log" ] && xz -T0 -6 -c "$SCRATCH/cubecl.log" > "$OUT/cubecl.log.xz"

# Where the device memory goes at the largest size (1024) (burn's allocator, per stage; weights included).
STAGES=1 MODEL="$model" SIZES="$big" DEVICES=gpu step 60 "$OUT/burn_wgpu_memory.txt" .devbin/model-bench --bench

# The whole command, loading included (with its peak memory where GNU time is there), when
# .devbin/diffcut is there.
timed=(bash -c 'time "$@"' time)
[ -x /usr/bin/time ] && timed=(/usr/bin/time -f "%e s %M KiB")
if [ -x .devbin/diffcut ]; then
  for run in 1 2; do
    step 60 "$OUT/burn_wgpu.txt" "${timed[@]}" .devbin/diffcut features samples/coffee.jpg --model "$model" \
      --size "$big" --model-device gpu --out "$SCRATCH/features.npy"
  done
fi
