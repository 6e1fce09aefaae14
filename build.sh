#!/usr/bin/env bash
# DiffCut-rs build entry point.
#
#   ./build.sh            build the native `diffcut` CLI (release), then the browser app (`web`)
#   ./build.sh cli        build only the native CLI
#   ./build.sh web        build only the browser app: the crate for wasm32 (feature `web`),
#                         wasm-bindgen --target web, wasm-opt (npm's binaryen), then the site (Vite,
#                         TypeScript checked) → www/dist/  (needs Node.js ≥ 20 and npm)
#   ./build.sh serve      serve www/dist on http://127.0.0.1:8080 (PORT, HOST override); when it
#                         is missing, the page is built and served first and the diffusion module
#                         after it (diffusion mode says it is being built until then)
#   ./build.sh demo       segment a bundled sample photo → out/ (mask, overlay, tree)
#   ./build.sh test       run every test (unit, integration, golden, CLI), the Python package's
#                         (python/: wheel + pytest, needs python3 with venv), then the browser
#                         WebGPU tests in wasm-tests/ (headless Chromium; installs what they need
#                         with scripts/install-deps.sh, see wasm-tests/README.md), then the web
#                         app's tests (www/: vitest unit tests, then end to end in headless Chromium)
#   ./build.sh bench      run the benchmarks (cargo bench), see BENCHMARKS.md
#   ./build.sh fuzz       the long fuzz run of every parser of outside bytes, natively (tests/fuzz.rs)
#                         then the page's (www/test/fuzz, FUZZ_RUNS = 10 000 inputs per property):
#                         100 000 inputs per cheap target
#                         (.npy, tree JSON, image, label PNG), 10 000 model folders, 3 000 CLI
#                         runs; prints the count per target (RELIABILITY.md). FUZZ_ITERS,
#                         FUZZ_MODEL_ITERS, FUZZ_CLI_ITERS and FUZZ_SEED override; the test stage
#                         runs the same targets briefly.
#
# Set CARGO_TARGET_DIR to share a build cache between checkouts. The wasm32 build of wasm-tests/
# goes to CARGO_TARGET_DIR_WASM (default: "$CARGO_TARGET_DIR-wasm" when CARGO_TARGET_DIR is set,
# else wasm-tests/target); the web app's wasm32 build to CARGO_TARGET_DIR_WEB (default: the
# native target dir, under wasm32-unknown-unknown/). SKIP_BROWSER_TESTS=1 skips the browser
# stages, loudly (never in CI).
set -euo pipefail
cd "$(dirname "$0")"
# The repository's root: paths below are built from it, never from the working directory (some
# stages run commands inside other folders).
ROOT="$PWD"

need_cargo() {
  if ! command -v cargo >/dev/null 2>&1; then
    echo "error: cargo not found. Install Rust from https://rustup.rs (stable ≥ 1.95), then re-run." >&2
    exit 1
  fi
}

# Where cargo puts what it builds: CARGO_TARGET_DIR, else what cargo itself says (a
# `build.target-dir` in a cargo config or CARGO_BUILD_TARGET_DIR move it from ./target, and the
# paths below, the CLI handed to the Python tests among them, must follow). Asked once.
target_dir() {
  if [ -n "${CARGO_TARGET_DIR:-}" ]; then echo "$CARGO_TARGET_DIR"; return; fi
  if [ -z "${_TARGET_DIR:-}" ]; then
    _TARGET_DIR="$(cargo metadata --manifest-path "$ROOT/Cargo.toml" --no-deps --format-version 1 --locked 2>/dev/null \
      | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')"
    _TARGET_DIR="${_TARGET_DIR:-$ROOT/target}"
  fi
  echo "$_TARGET_DIR"
}

wasm_target_dir() {
  if [ -n "${CARGO_TARGET_DIR_WASM:-}" ]; then echo "$CARGO_TARGET_DIR_WASM"
  elif [ -n "${CARGO_TARGET_DIR:-}" ]; then echo "${CARGO_TARGET_DIR%/}-wasm"
  else echo "$ROOT/wasm-tests/target"; fi
}

stage() { printf '\n==> %s  [%d s]\n' "$*" "$SECONDS"; }

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

# --- the browser app (www/) -------------------------------------------------------------------
web_target_dir() { echo "${CARGO_TARGET_DIR_WEB:-$(target_dir)}"; }

need_node() {
  if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    echo "error: node and npm not found. The browser app needs Node.js >= 20 with npm (https://nodejs.org)." >&2
    exit 1
  fi
}

# The wasm-bindgen CLI must be exactly the version of the wasm-bindgen crate in Cargo.lock;
# installed here when it is not (a one-off build of a few minutes).
need_wasm_bindgen() {
  local want have
  want="$(awk '$0 == "name = \"wasm-bindgen\"" { w = 1; next } w && /^version = / { gsub(/"/, "", $3); print $3; exit }' Cargo.lock)"
  have="$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')" || true
  if [ "$have" != "$want" ]; then
    stage "installing wasm-bindgen-cli $want (it must match the wasm-bindgen crate; was: ${have:-missing})"
    # No --locked: its lockfile pins crates some registry mirrors lack.
    cargo install wasm-bindgen-cli --version "$want" --force
  fi
}

# npm ci in www/ (PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD: the tests drive Debian's Chromium, never a
# downloaded one). With "if-stale", only when package-lock.json changed since the last install.
web_npm_ci() {
  if [ "${1:-}" = if-stale ] && [ -f www/node_modules/.package-lock.json ] \
     && [ ! www/package-lock.json -nt www/node_modules/.package-lock.json ]; then
    return 0
  fi
  stage "web: npm ci (www/)"
  (cd www && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund)
}

# Builds the crate for wasm32 with cargo features $1 into the wasm-bindgen package $2 (www/pkg or
# www/pkg-model), then shrinks it with wasm-opt at level $3 (-O1, -O2, ...; no-opt: not at all).
# Extra environment for cargo in $4.. (profile).
build_wasm_pkg() {
  local features=$1 pkg=$2 opt=$3 dir wasm t0=$SECONDS
  shift 3
  dir="$(web_target_dir)"
  if command -v rustup >/dev/null 2>&1 && ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
    stage "adding the wasm32-unknown-unknown target (rustup)"
    rustup target add wasm32-unknown-unknown
  fi
  stage "web: the crate for wasm32 (features $features → $pkg; target dir $dir)"
  env CARGO_TARGET_DIR="$dir" CARGO_PROFILE_RELEASE_DEBUG=0 "$@" \
    cargo build --release --locked --lib --target wasm32-unknown-unknown --no-default-features --features "$features"
  wasm="$dir/wasm32-unknown-unknown/release/diffcut.wasm"
  need_wasm_bindgen
  rm -rf "$pkg"
  wasm-bindgen --target web --out-dir "$pkg" --out-name diffcut "$wasm"
  if [ "$opt" = no-opt ]; then
    :
  elif [ -x www/node_modules/.bin/wasm-opt ]; then
    # The feature flags are those rustc's wasm32 target emits by default, and SIMD128
    # (.cargo/config.toml).
    www/node_modules/.bin/wasm-opt "$opt" --enable-bulk-memory --enable-nontrapping-float-to-int \
      --enable-sign-ext --enable-mutable-globals --enable-reference-types --enable-multivalue --enable-simd \
      "$pkg/diffcut_bg.wasm" -o "$pkg/diffcut_bg.wasm"
  else
    echo "note: www/node_modules/.bin/wasm-opt (npm's binaryen) not found; the wasm is not size-optimised"
  fi
  echo "wasm ($pkg): $(wc -c <"$pkg/diffcut_bg.wasm") bytes, $(gzip -9 -c "$pkg/diffcut_bg.wasm" | wc -c) gzipped ($((SECONDS - t0)) s)"
}

build_wasm_startup() {
  # The page's start-up module: weight-free features + the WGSL NCut. Fat LTO with one codegen
  # unit: 15 % less wasm after wasm-opt (gzipped), for the same CPU time cold.
  # -O2: within 2 % of -O3's size (gzipped) in two thirds of the time.
  build_wasm_pkg web,gpu www/pkg -O2 CARGO_PROFILE_RELEASE_LTO=true CARGO_PROFILE_RELEASE_CODEGEN_UNITS=1
}

build_wasm_model() {
  # The diffusion module (burn on WebGPU + the same API), loaded by the worker only when the
  # diffusion mode is chosen. No LTO: burn's graph is large, and a fat-LTO link of it on two
  # cores costs many minutes for a module that is downloaded once and cached. -O1 (about 2
  # minutes on two cores) takes it from 30.6 to 19.2 MB (4.9 → 3.7 MB gzipped): less to download
  # where the host does not compress, and less for the browser to compile; -O2 gains 2 % more
  # for twice the time.
  build_wasm_pkg web,gpu,model www/pkg-model -O1
}

build_wasm() {
  build_wasm_startup
  build_wasm_model
}

# While `./build.sh serve` builds the diffusion module after serving the page, www/pkg-model holds
# a stand-in with the same files and types, whose module says so when the page loads it.
MODEL_PLACEHOLDER_MARK="diffcut: stand-in for the diffusion module"

write_model_placeholder() {
  rm -rf www/pkg-model
  mkdir -p www/pkg-model
  : >www/pkg-model/diffcut_bg.wasm
  cat >www/pkg-model/diffcut.js <<EOF
// $MODEL_PLACEHOLDER_MARK, written by ./build.sh serve and replaced when the module is built.
export default async function init() {
  throw new Error("diffusion mode is still being built (./build.sh serve builds it after the page and says when it is ready): reload the page then");
}
export class DiffCut {
  static async create() {
    throw new Error("diffusion mode is still being built");
  }
}
EOF
  cat >www/pkg-model/diffcut.d.ts <<EOF
// $MODEL_PLACEHOLDER_MARK.
export default function init(input: { module_or_path: string | BufferSource }): Promise<unknown>;
export declare class DiffCut {
  static create(preferGpu?: boolean | null): Promise<never>;
}
EOF
}

model_is_placeholder() { grep -qs "$MODEL_PLACEHOLDER_MARK" www/pkg-model/diffcut.js; }

build_site() {
  stage "web: the site (tsc + vite build) → www/dist/"
  (cd www && npm run --silent build)
}

build_web() {
  need_cargo
  need_node
  web_npm_ci if-stale
  build_wasm
  build_site
  echo "built www/dist/ (./build.sh serve to open it)"
}

# ./build.sh serve on a page without its diffusion module (a fresh clone): the start-up module and
# the site are built and served at once; the diffusion module is built while the page is open, and
# the site rebuilt beside the served one and swapped in (a reload then has diffusion mode).
serve_then_build_model() {
  need_cargo
  web_npm_ci if-stale
  [ -f www/pkg/diffcut_bg.wasm ] || build_wasm_startup
  if [ ! -f www/pkg-model/diffcut_bg.wasm ] || model_is_placeholder; then
    write_model_placeholder
  fi
  build_site
  node www/scripts/serve.mjs www/dist &
  local server=$!
  trap 'kill "$server" 2>/dev/null || true' EXIT INT TERM
  if model_is_placeholder; then
    stage "serving the page; building the diffusion module now (until then diffusion mode says it is being built)"
    build_wasm_model
    stage "web: the site again, with the diffusion module (www/dist.next → www/dist)"
    (cd www && npx --no-install tsc --noEmit -p tsconfig.json &&
      npx --no-install vite build --logLevel warn --outDir dist.next --emptyOutDir)
    rm -rf www/dist.old
    mv www/dist www/dist.old && mv www/dist.next www/dist && rm -rf www/dist.old
    echo "diffusion mode is ready: reload the page"
  fi
  wait "$server"
}

# --- ./build.sh test, one function per stage ------------------------------------------------
test_native() {
  stage "native tests: cargo test --release --locked --all-targets"
  cargo test --release --locked --all-targets
}

test_format() {
  # rustfmt.toml at the top covers both crates. Skipped, with a note, where rustfmt is missing
  # (a minimal rustup profile); `rustup component add rustfmt` adds it.
  if ! cargo fmt --version >/dev/null 2>&1; then
    echo "note: rustfmt not installed (rustup component add rustfmt): format not checked"
    return 0
  fi
  stage "format: cargo fmt --check (the crate, wasm-tests/ and python/)"
  cargo fmt --check
  (cd wasm-tests && cargo fmt --check)
  (cd python && cargo fmt --check)
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

need_python() {
  if ! command -v python3 >/dev/null 2>&1 || ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then
    echo "error: python3 with venv and ensurepip is needed for the Python package's tests" \
      "(Debian: apt-get install python3-venv)" >&2
    exit 1
  fi
}

test_python() {
  # The wheel as a user gets it (maturin, abi3), installed into a virtual environment kept in the
  # target dir, then python/tests against the CLI built by test_native. Without the `model`
  # feature by default: with it, burn is compiled once more (about 10 minutes on two cores), so
  # its one test, of the thin diffusion
  # wrappers, is skipped (loudly) here; DIFFCUT_PY_FEATURES=model runs it too.
  local t0=$SECONDS venv wheels features="${DIFFCUT_PY_FEATURES:-}" require=0
  need_python
  venv="$(target_dir)/python-venv"
  wheels="$(target_dir)/wheels"
  stage "Python package: a venv with python/requirements-test.txt"
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check -r python/requirements-test.txt
  stage "Python package: the abi3 wheel (maturin build --release${features:+ --features $features})"
  rm -rf "$wheels"
  # Its own target dir: the crate built there as a dependency with other features once left an
  # artifact that the root's next `cargo test` took for its own.
  (cd python && CARGO_TARGET_DIR="$(target_dir)/python-build" "$venv/bin/maturin" build --quiet --release --locked \
     ${features:+--features "$features"} --interpreter "$venv/bin/python" -o "$wheels")
  "$venv/bin/pip" install -q --disable-pip-version-check --force-reinstall --no-deps "$wheels"/diffcut-*.whl
  case ",$features," in *,model,*) require=1 ;; esac
  stage "Python package: pytest python/tests (golden, CLI parity, official generate_masks, Ray)"
  # From an empty folder: a working directory holding python/diffcut (the sources, without the
  # compiled module) would shadow the installed wheel, in the tests and in Ray's workers, which
  # start where the driver runs.
  local here=$ROOT run bin
  bin="$(target_dir)/release/diffcut"
  run="$(mktemp -d)"
  (cd "$run" && DIFFCUT_BIN="$bin" DIFFCUT_REQUIRE_MODEL=$require \
     "$venv/bin/pytest" "$here/python/tests" -c "$here/python/pyproject.toml" --rootdir "$here/python" \
     -q -rs -p no:cacheprovider)
  rm -rf "$run"
  echo "Python package: built and tested in $((SECONDS - t0)) s"
}

test_web_unit() {
  need_node
  web_npm_ci
  stage "web app unit tests: vitest (www/test, the pure TypeScript)"
  (cd www && npm test)
}

test_web_e2e() {
  local t0=$SECONDS
  build_web
  stage "web app end to end: www/e2e in headless Chromium (served on 127.0.0.1)"
  (cd www && CHROMIUM="${CHROMIUM:-/usr/bin/chromium}" npm run test:e2e)
  echo "web app: built and tested end to end in $((SECONDS - t0)) s; screenshots and timings in www/test-results/"
}

cmd="${1:-build}"
case "$cmd" in
  build|cli)
    need_cargo
    cargo build --release --locked
    echo "built $(target_dir)/release/diffcut"
    if [ "$cmd" = build ]; then
      build_web
    fi
    ;;
  web)
    build_web
    ;;
  serve)
    need_node
    if [ -f www/dist/index.html ] && ! model_is_placeholder; then
      exec node www/scripts/serve.mjs www/dist
    fi
    serve_then_build_model
    ;;
  demo)
    need_cargo
    cargo build --release --locked
    mkdir -p out
    sample="${2:-samples/astronaut.jpg}"
    stem="$(basename "${sample%.*}")"
    "$(target_dir)/release/diffcut" segment "$sample" \
      --out "out/$stem.mask.png" --overlay "out/$stem.overlay.png" --tree "out/$stem.tree.json"
    echo "wrote out/$stem.mask.png, out/$stem.overlay.png and out/$stem.tree.json"
    ;;
  test)
    need_cargo
    ensure_xdg_runtime_dir
    # First: the native GPU tests need lavapipe (mesa-vulkan-drivers) as much as the browser
    # tests need Chromium.
    install_test_deps
    test_format
    test_native
    test_doc
    test_python
    if ! browser_tests_skipped; then
      test_browser
    fi
    test_web_unit
    if ! browser_tests_skipped; then
      test_web_e2e
    fi
    stage "all tests passed"
    ;;
  bench)
    need_cargo
    cargo bench --locked --bench ncut
    ;;
  fuzz)
    need_cargo
    ensure_xdg_runtime_dir
    export FUZZ_ITERS="${FUZZ_ITERS:-100000}" FUZZ_MODEL_ITERS="${FUZZ_MODEL_ITERS:-10000}" FUZZ_CLIP_ITERS="${FUZZ_CLIP_ITERS:-3000}" \
      FUZZ_CLI_ITERS="${FUZZ_CLI_ITERS:-3000}"
    stage "fuzz: the long run ($FUZZ_ITERS inputs per cheap target, $FUZZ_MODEL_ITERS model folders, $FUZZ_CLI_ITERS CLI runs)"
    log="$(mktemp)"
    t0=$SECONDS
    rc=0
    cargo test --release --locked --test fuzz -- --nocapture --test-threads 1 2>&1 | tee "$log" || rc=$?
    stage "fuzz: counts ($(date -u +%Y-%m-%d), $((SECONDS - t0)) s)"
    grep -oE 'fuzz [a-z_]+: [0-9]+ inputs.*' "$log" || true
    rm -f "$log"
    [ "$rc" -eq 0 ] || exit "$rc"
    # The page's parsers: fast-check properties on FUZZ_RUNS inputs each (www/FUZZ.md).
    need_node
    web_npm_ci if-stale
    export FUZZ_RUNS="${FUZZ_RUNS:-10000}"
    stage "fuzz: the page's parsers ($FUZZ_RUNS inputs per property, www/test/fuzz)"
    (cd www && npm run test:fuzz)
    ;;
  *)
    echo "usage: ./build.sh [build|cli|web|serve|demo|test|bench|fuzz]" >&2
    exit 2
    ;;
esac
