#!/usr/bin/env bash
# Data-parallel YOLOv8n training on loopback (engine/detect_train.h, engine/sync_batchnorm.h):
# 2 processes (global batch 4, 2 each) against 1 process with batch 4 from the same seed give the
# same weights up to float rounding: SyncBatchNorm makes every BatchNorm see the whole batch, the
# loss is normalised by the whole batch's target-score sum, and gradients are averaged. "Rounding"
# is measured, not assumed: the same single-process run with 2 threads instead of 1 (other
# summation orders) sets the scale, and the data-parallel run must stay within 4 times it, while
# sync_bn=false (per-rank BatchNorm) must not. SGD, because Adam turns rounding-level differences
# of near-zero gradients into whole lr-sized steps. A run killed with SIGKILL after its first
# checkpoint and resumed by 2 processes ends with the same bytes as one never killed; resumed by 1
# process, with the same weights up to rounding. $1 = fracture binary; cwd = build/tests.
set -euo pipefail
BIN=$1
TMP=$(mktemp -d "$PWD/ddp_detect.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
export TMPDIR="$TMP"
"$BIN" synth out="$TMP/d" n=40 imgsz=64 seed=1 > /dev/null 2>&1
# an even number of training images (29 -> 28), so two ranks split every epoch without padding
first=$(find "$TMP/d/images/train" -type f | sort | head -1)
stem=$(basename "${first%.*}")
mv "$first" "$TMP/d/images/val/"
mv "$TMP/d/labels/train/$stem.txt" "$TMP/d/labels/val/"
[ "$(find "$TMP/d/images/train" -type f | wc -l)" -eq 28 ]
COMMON="data=$TMP/d/data.yaml model=yolov8n imgsz=64 batch=4 workers=1 threads=1 seed=3 project=$TMP/runs
        mosaic=0 patience=100 optimizer=SGD"
# shellcheck disable=SC2086
"$BIN" detect train $COMMON epochs=3 name=one > /dev/null 2> "$TMP/one.err" || { cat "$TMP/one.err"; exit 1; }
# shellcheck disable=SC2086
"$BIN" detect train $COMMON epochs=3 name=one_t2 threads=2 > /dev/null 2> "$TMP/one_t2.err" || { cat "$TMP/one_t2.err"; exit 1; }
# shellcheck disable=SC2086
"$BIN" detect train $COMMON epochs=3 name=two nproc=2 > /dev/null 2> "$TMP/two.err" || { cat "$TMP/two.err"; exit 1; }
# shellcheck disable=SC2086
"$BIN" detect train $COMMON epochs=3 name=nosync nproc=2 sync_bn=false > /dev/null 2> "$TMP/nosync.err" ||
  { cat "$TMP/nosync.err"; exit 1; }
test ! -e "$TMP/runs/detect/two2" || { echo "rank 1 wrote a run directory"; exit 1; }

# killed after the first checkpoint (both ranks, SIGKILL), then resumed by 2 processes and by 1
# shellcheck disable=SC2086
"$BIN" detect train $COMMON epochs=3 name=killed nproc=2 > /dev/null 2> "$TMP/killed.err" &
LAUNCHER=$!
for _ in $(seq 1 1200); do
  [ -f "$TMP/runs/detect/killed/weights/last_state.json" ] && break
  sleep 0.1
done
[ -f "$TMP/runs/detect/killed/weights/last_state.json" ] || { cat "$TMP/killed.err"; exit 1; }
pkill -9 -P $LAUNCHER || true
wait $LAUNCHER || true
grep -q '"epochs_done": [12],' "$TMP/runs/detect/killed/weights/last_state.json"
cp -r "$TMP/runs/detect/killed" "$TMP/runs/detect/killed1"
"$BIN" detect train resume="$TMP/runs/detect/killed" nproc=2 threads=1 > /dev/null 2> "$TMP/resume2.err" ||
  { cat "$TMP/resume2.err"; exit 1; }
"$BIN" detect train resume="$TMP/runs/detect/killed1" threads=1 > /dev/null 2> "$TMP/resume1.err" ||
  { cat "$TMP/resume1.err"; exit 1; }
grep -q "resumed by 1 process(es), the checkpoint was written by 2" "$TMP/resume1.err" || { cat "$TMP/resume1.err"; exit 1; }

PYTHONPATH="$(dirname "$0")" /usr/bin/python3 - "$TMP/runs/detect" <<'PY'
import csv, sys
import numpy as np
from safetensors_read import safetensors

runs = sys.argv[1]
ref = safetensors(f"{runs}/one/weights/last.safetensors")

def worst(name, base="one"):
    a, w = safetensors(f"{runs}/{base}/weights/last.safetensors"), safetensors(f"{runs}/{name}/weights/last.safetensors")
    assert w.keys() == a.keys(), name
    return max(float(np.abs(w[k] - a[k]).max()) for k in a)

scale = worst("one_t2")
tol = 4 * max(scale, 2e-5)
for name in ("two", "killed1"):
    d = worst(name)
    print(f"ddp_detect: max |w({name}) - w(one process)| = {d:.2e} (1 vs 2 threads: {scale:.2e}, tolerance {tol:.2e})")
    assert d <= tol, (name, d, tol)
d = worst("nosync")
print(f"ddp_detect: sync_bn=false: {d:.2e}")
assert d > tol, ("per-rank BatchNorm should differ from one process", d, tol)
d = worst("killed", base="two")
print(f"ddp_detect: killed and resumed by 2 processes vs never killed: {d:.2e}")
assert d == 0.0, d
for name in ("two", "killed", "killed1"):
    rows = list(csv.DictReader(open(f"{runs}/{name}/results.csv")))
    assert [r["epoch"] for r in rows] == ["1", "2", "3"], (name, rows)
PY
echo "ddp_detect: ok"
