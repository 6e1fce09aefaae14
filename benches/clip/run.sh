#!/usr/bin/env bash
# Naming a photo's segments with the full-size CLIP: `diffcut name` (burn-flex, CPU) beside PyTorch
# (open_clip, CPU, the same weights, image, mask and classifier), with peak memory. Not run in CI.
#
#   benches/clip/run.sh FULL PHOTO [SIZE]
#
# FULL is the folder of benches/clip/make_full_random.py (with converted-q8/); SIZE defaults to 1024.
set -euo pipefail
FULL=$1 PHOTO=$2 SIZE=${3:-1024}
BIN=${DIFFCUT_BIN:-target/release/diffcut}
PY=${PYTHON:-python3}
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
"$BIN" segment "$PHOTO" --out "$W/mask.png" >/dev/null 2>&1
echo "machine: $(nproc) cores, $(uname -m); photo $PHOTO; size $SIZE; mask from \`diffcut segment\`"
for run in 1 2; do
  /usr/bin/time -f "%e s wall, %M KiB peak RSS" "$BIN" name "$PHOTO" --clip "$FULL/converted-q8" --mask "$W/mask.png" \
    --labels voc --size "$SIZE" --json "$W/ours.json" 2>"$W/ours.err" || { cat "$W/ours.err"; exit 1; }
  echo "diffcut name (q8, cpu), run $run: $(tail -1 "$W/ours.err")"
done
/usr/bin/time -f "%e s wall, %M KiB peak RSS" "$PY" "$(dirname "$0")/torch_name.py" --full "$FULL" --image "$PHOTO" \
  --mask "$W/mask.png" --size "$SIZE" --json "$W/torch.json" >"$W/torch.out" 2>"$W/torch.err" || { cat "$W/torch.err"; exit 1; }
echo "PyTorch fp32 (cpu, 2 threads): $(tail -1 "$W/torch.err"); stages $(cat "$W/torch.out")"
"$PY" - "$W/ours.json" "$W/torch.json" <<'PYEOF'
import json, sys
a = json.load(open(sys.argv[1]))["segments"]; b = json.load(open(sys.argv[2]))["segments"]
same = sum(x["class"] == y["class"] for x, y in zip(a, b))
worst = max(abs(p - q) for x, y in zip(a, b) for p, q in zip(x["scores"], y["scores"]))
print(f"segments {len(a)}; same class {same}/{len(b)}; largest score difference {worst:.4f} (q8 vs float32)")
PYEOF
