#!/usr/bin/env bash
# Install what the GPU / browser tests need on a fresh Debian 12 machine (idempotent).
#
#   scripts/install-deps.sh          install whatever is missing
#   scripts/install-deps.sh --check  install nothing; report what is missing and exit 1 if anything is
#
# What it sets up:
#   - apt: mesa-vulkan-drivers libvulkan1   (lavapipe: CPU Vulkan, so native wgpu finds an adapter)
#          chromium chromium-driver         (headless browser with WebGPU on SwiftShader)
#   - rustup target wasm32-unknown-unknown
#   - wasm-bindgen-cli (wasm-bindgen + wasm-bindgen-test-runner) at EXACTLY the version of the
#     `wasm-bindgen` crate in wasm-tests/Cargo.lock; the CLI refuses to process a .wasm built with
#     any other version. Building it takes ~10 min on 2 cores, once.
#
# Apt needs root: when not root and packages are missing, it prints the sudo command and exits 1.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(mesa-vulkan-drivers libvulkan1 chromium chromium-driver)
LOCKFILE=wasm-tests/Cargo.lock

check_only=0
case "${1:-}" in
  --check) check_only=1 ;;
  "") ;;
  *) echo "usage: scripts/install-deps.sh [--check]" >&2; exit 2 ;;
esac

missing=0
say() { echo "[install-deps] $*"; }

# --- 1. apt packages --------------------------------------------------------------------------
install_apt_packages() {
  local need=() p
  for p in "${APT_PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
      need+=("$p")
    fi
  done
  if [ ${#need[@]} -eq 0 ]; then
    say "apt packages present: ${APT_PACKAGES[*]}"
    return
  fi
  if [ "$check_only" = 1 ]; then
    say "MISSING apt packages: ${need[*]}  (install: sudo apt-get update && sudo apt-get install -y ${need[*]})"
    missing=1
    return
  fi
  if [ "$(id -u)" != 0 ]; then
    echo "[install-deps] error: missing apt packages and not root. Run:" >&2
    echo "  sudo apt-get update && sudo apt-get install -y ${need[*]}" >&2
    exit 1
  fi
  say "apt-get install ${need[*]}"
  apt-get update
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${need[@]}"
}

# --- 2. rustup target -------------------------------------------------------------------------
install_wasm_target() {
  if ! command -v rustup >/dev/null 2>&1; then
    echo "[install-deps] error: rustup not found; install Rust from https://rustup.rs" >&2
    exit 1
  fi
  if rustup target list --installed | grep -qx wasm32-unknown-unknown; then
    say "rust target present: wasm32-unknown-unknown"
  elif [ "$check_only" = 1 ]; then
    say "MISSING rust target (install: rustup target add wasm32-unknown-unknown)"
    missing=1
  else
    say "rustup target add wasm32-unknown-unknown"
    rustup target add wasm32-unknown-unknown
  fi
}

# --- 3. wasm-bindgen-cli, same version as the wasm-bindgen crate in the lockfile ---------------
locked_wasm_bindgen_version() {
  # The `version = "..."` line that follows `name = "wasm-bindgen"` in the lockfile.
  awk '$0 == "name = \"wasm-bindgen\"" { want = 1; next }
       want && /^version = / { gsub(/"/, "", $3); print $3; exit }' "$LOCKFILE"
}

install_wasm_bindgen_cli() {
  local want have_bg have_runner
  want="$(locked_wasm_bindgen_version)"
  if [ -z "$want" ]; then
    echo "[install-deps] error: no wasm-bindgen entry in $LOCKFILE" >&2
    exit 1
  fi
  have_bg="$(wasm-bindgen --version 2>/dev/null | awk '{print $2}' || true)"
  have_runner="$(wasm-bindgen-test-runner --version 2>/dev/null | awk '{print $2}' || true)"
  if [ "$have_bg" = "$want" ] && [ "$have_runner" = "$want" ]; then
    say "wasm-bindgen-cli $want present (matches $LOCKFILE)"
    return
  fi
  if [ "$check_only" = 1 ]; then
    say "MISSING wasm-bindgen-cli $want (have: ${have_bg:-none}); install: cargo install wasm-bindgen-cli --version $want"
    missing=1
    return
  fi
  say "cargo install wasm-bindgen-cli --version $want (have: ${have_bg:-none}); ~10 min on 2 cores"
  # No --locked: the CLI's own lockfile pins crates (webpki-roots 1.0.11) that the registry
  # mirror here does not serve; resolving afresh works. Build in cargo's temporary directory,
  # not in a shared CARGO_TARGET_DIR.
  local t0=$SECONDS
  env -u CARGO_TARGET_DIR cargo install wasm-bindgen-cli --version "$want" --force
  say "wasm-bindgen-cli $want installed in $((SECONDS - t0)) s"
}

install_apt_packages
install_wasm_target
install_wasm_bindgen_cli

if [ "$missing" = 1 ]; then
  say "some dependencies are missing (see above)"
  exit 1
fi
say "versions: $(chromium --version 2>/dev/null | head -1); $(chromedriver --version 2>/dev/null | head -1 | cut -d' ' -f1-2); $(wasm-bindgen --version)"
