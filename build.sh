#!/usr/bin/env bash
# DiffCut-rs build entry point.
#
#   ./build.sh            build the native `diffcut` CLI (release)
#   ./build.sh demo       segment a bundled sample photo → out/ (mask, overlay, tree)
#   ./build.sh test       run every test (unit, integration, golden, CLI)
#   ./build.sh bench      run the benchmarks (cargo bench), see BENCHMARKS.md
#
# Set CARGO_TARGET_DIR to share a build cache between checkouts.
set -euo pipefail
cd "$(dirname "$0")"

need_cargo() {
  if ! command -v cargo >/dev/null 2>&1; then
    echo "error: cargo not found. Install Rust from https://rustup.rs (stable ≥ 1.85), then re-run." >&2
    exit 1
  fi
}

target_dir() { echo "${CARGO_TARGET_DIR:-$PWD/target}"; }

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
    sample="${2:-samples/astronaut.png}"
    stem="$(basename "${sample%.*}")"
    "$(target_dir)/release/diffcut" segment "$sample" --tau 0.5 --alpha 10 \
      --out "out/$stem.mask.png" --overlay "out/$stem.overlay.png" --tree "out/$stem.tree.json"
    echo "wrote out/$stem.mask.png, out/$stem.overlay.png and out/$stem.tree.json"
    ;;
  test)
    need_cargo
    cargo test --release --locked --all-targets
    cargo test --release --locked --doc
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
