#!/usr/bin/env bash
# DiffCut-rs build entry point.
#
#   ./build.sh            build the native `diffcut` CLI (release)
#   ./build.sh demo       segment a bundled sample photo → out/ (mask, overlay, tree)
#   ./build.sh test       run every test (unit, integration, golden, CLI), then the browser
#                         WebGPU tests in wasm-tests/ (headless Chromium; installs what they need
#                         with scripts/install-deps.sh, see wasm-tests/README.md)
#   ./build.sh bench      run the benchmarks (cargo bench), see BENCHMARKS.md
#
# Set CARGO_TARGET_DIR to share a build cache between checkouts. The wasm32 build of wasm-tests/
# goes to CARGO_TARGET_DIR_WASM (default: "$CARGO_TARGET_DIR-wasm" when CARGO_TARGET_DIR is set,
# else wasm-tests/target). SKIP_BROWSER_TESTS=1 skips the browser stage, loudly (never in CI).
set -euo pipefail
cd "$(dirname "$0")"

need_cargo() {
  if ! command -v cargo >/dev/null 2>&1; then
    echo "error: cargo not found. Install Rust from https://rustup.rs (stable ≥ 1.85), then re-run." >&2
    exit 1
  fi
}

target_dir() { echo "${CARGO_TARGET_DIR:-$PWD/target}"; }

wasm_target_dir() {
  if [ -n "${CARGO_TARGET_DIR_WASM:-}" ]; then echo "$CARGO_TARGET_DIR_WASM"
  elif [ -n "${CARGO_TARGET_DIR:-}" ]; then echo "${CARGO_TARGET_DIR%/}-wasm"
  else echo "$PWD/wasm-tests/target"; fi
}

stage() { printf '\n==> %s\n' "$*"; }

# Mesa/EGL print "XDG_RUNTIME_DIR is invalid or not set" for every wgpu instance when it is unset
# (harmless, but it buries the test output): give the test run a private one.
ensure_xdg_runtime_dir() {
  if [ -z "${XDG_RUNTIME_DIR:-}" ] || [ ! -d "$XDG_RUNTIME_DIR" ]; then
    XDG_RUNTIME_DIR="$(mktemp -d)"
    chmod 700 "$XDG_RUNTIME_DIR"
    export XDG_RUNTIME_DIR
    trap 'rm -rf "$XDG_RUNTIME_DIR"' EXIT
  fi
}

# --- ./build.sh test, one function per stage ------------------------------------------------
test_native() {
  stage "native tests: cargo test --release --locked --all-targets"
  cargo test --release --locked --all-targets
}

test_doc() {
  stage "doc tests: cargo test --release --locked --doc"
  cargo test --release --locked --doc
}

browser_tests_skipped() {
  if [ "${SKIP_BROWSER_TESTS:-0}" = 1 ]; then
    stage "browser WebGPU tests: SKIPPED because SKIP_BROWSER_TESTS=1 (GPU code NOT tested)"
    return 0
  fi
  return 1
}

install_test_deps() {
  # Idempotent: apt (Vulkan/lavapipe, chromium, chromedriver; needs root, else it prints the
  # sudo command and fails), the wasm32 rustup target, wasm-bindgen-cli matching the lockfile.
  stage "browser test dependencies: scripts/install-deps.sh"
  scripts/install-deps.sh
}

test_browser() {
  local dir log passed rc=0
  dir="$(wasm_target_dir)"
  stage "browser WebGPU tests: wasm-tests/ in headless Chromium (target dir $dir)"
  log="$(mktemp)"
  # A missing WebGPU adapter fails the test (it panics), and a failing test fails the build.
  # Release: SwiftShader runs the kernels on the CPU and the CPU reference runs as wasm, both slow
  # unoptimised; the runner's default 20 s per test is too short for them.
  (cd wasm-tests && CHROMEDRIVER="${CHROMEDRIVER:-/usr/bin/chromedriver}" CARGO_TARGET_DIR="$dir" \
     WASM_BINDGEN_TEST_TIMEOUT="${WASM_BINDGEN_TEST_TIMEOUT:-600}" \
     cargo test --release --locked --target wasm32-unknown-unknown) 2>&1 | tee "$log" || rc=$?
  # Refuse a green run that ran no browser test at all (a filter, a runner that found nothing).
  passed="$(sed -n 's/^test result: ok\. \([0-9]*\) passed.*/\1/p' "$log" | awk '{s += $1} END {print s + 0}')"
  rm -f "$log"
  if [ "$rc" -ne 0 ]; then
    echo "error: the browser WebGPU tests failed (exit status $rc)" >&2
    exit "$rc"
  fi
  if [ "$passed" -lt 1 ]; then
    echo "error: the browser test run passed no tests; the GPU code was not exercised" >&2
    exit 1
  fi
  echo "browser WebGPU tests: $passed passed"
}

cmd="${1:-build}"
case "$cmd" in
  build)
    need_cargo
    cargo build --release --locked
    echo "built $(target_dir)/release/diffcut"
    ;;
  demo)
    need_cargo
    cargo build --release --locked
    mkdir -p out
    sample="${2:-samples/astronaut.jpg}"
    stem="$(basename "${sample%.*}")"
    "$(target_dir)/release/diffcut" segment "$sample" --tau 0.5 --alpha 10 \
      --out "out/$stem.mask.png" --overlay "out/$stem.overlay.png" --tree "out/$stem.tree.json"
    echo "wrote out/$stem.mask.png, out/$stem.overlay.png and out/$stem.tree.json"
    ;;
  test)
    need_cargo
    ensure_xdg_runtime_dir
    # First: the native GPU tests need lavapipe (mesa-vulkan-drivers) as much as the browser
    # tests need Chromium.
    install_test_deps
    test_native
    test_doc
    if ! browser_tests_skipped; then
      test_browser
    fi
    stage "all tests passed"
    ;;
  bench)
    need_cargo
    cargo bench --locked --bench ncut
    ;;
  *)
    echo "usage: ./build.sh [build|demo|test|bench]" >&2
    exit 2
    ;;
esac
