#!/usr/bin/env bash
# Official DiffCut recursive NCut vs the float64 reference (quirk and clean) vs the Rust CLI, on
# smooth random fields. Nothing from the official repository is stored here: pass its path.
#
#   OFFICIAL=/path/to/DiffCut(checkout or git dir) bash benches/official/side_by_side.sh [WORK_DIR]
#
# Env: PYTHON (default python3; needs numpy, scipy, torch), TAU (0.5), ALPHA (10), REPEAT (3),
#      DIFFCUT (a built `diffcut` binary; default: skip the Rust column unless it exists at
#      ${CARGO_TARGET_DIR:-target}/release/diffcut).
# Fields: 32x32x1280 seeds 1..5 and 16x16x1280 seeds 1..2 (smooth_field.py, sigma 3).
set -euo pipefail
cd "$(dirname "$0")/../.."
: "${OFFICIAL:?set OFFICIAL to the official DiffCut checkout or git dir}"
PY=${PYTHON:-python3}; TAU=${TAU:-0.5}; ALPHA=${ALPHA:-10}; REPEAT=${REPEAT:-3}
WORK=${1:-/tmp/diffcut_side_by_side}
DIFFCUT=${DIFFCUT:-${CARGO_TARGET_DIR:-target}/release/diffcut}
mkdir -p "$WORK"/{fields,official,ref_quirk,ref_clean,rust}

for s in 1 2 3 4 5; do
  $PY tests/reference/smooth_field.py --size 32 32 --channels 1280 --seed $s --out "$WORK/fields/smooth32_s$s.npy"
done
for s in 1 2; do
  $PY tests/reference/smooth_field.py --size 16 16 --channels 1280 --seed $s --out "$WORK/fields/smooth16_s$s.npy"
done

$PY benches/official/run_official.py --repo "$OFFICIAL" "$WORK"/fields/*.npy --tau "$TAU" --alpha "$ALPHA" \
  --device cpu --out-dir "$WORK/official" --repeat "$REPEAT" | tee "$WORK/official.jsonl"

for f in "$WORK"/fields/*.npy; do
  b=$(basename "$f" .npy)
  $PY tests/reference/ncut_reference.py "$f" --tau "$TAU" --alpha "$ALPHA" --out "$WORK/ref_quirk/$b.labels.npy" >/dev/null
  $PY tests/reference/ncut_reference.py "$f" --tau "$TAU" --alpha "$ALPHA" --clean --out "$WORK/ref_clean/$b.labels.npy" >/dev/null
  if [ -x "$DIFFCUT" ]; then
    "$DIFFCUT" ncut "$f" --tau "$TAU" --alpha "$ALPHA" --out "$WORK/rust/$b.labels.npy" >/dev/null
  fi
done 2>/dev/null

echo "== official vs reference (quirk)"; $PY benches/official/compare.py "$WORK/official" "$WORK/ref_quirk"
echo "== official vs reference (clean)"; $PY benches/official/compare.py "$WORK/official" "$WORK/ref_clean"
if [ -x "$DIFFCUT" ]; then
  echo "== official vs rust"; $PY benches/official/compare.py "$WORK/official" "$WORK/rust"
  echo "== reference (quirk) vs rust"; $PY benches/official/compare.py "$WORK/ref_quirk" "$WORK/rust"
fi
