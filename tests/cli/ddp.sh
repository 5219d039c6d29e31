#!/usr/bin/env bash
# Data-parallel classify on loopback (engine/distributed.h): 2 processes with batch 4 each
# against 1 process with batch 8, same seed, give the same weights within float rounding (the
# backbone frozen: its BatchNorm is then in eval mode, so no statistic depends on how a batch is
# split; resnet18: no dropout); a rank killed mid-run stops the launcher at once, naming the rank;
# a classify cv killed and resumed by 2 processes pools the same metrics as one never killed; a
# missing rank, ranks with different keys and a command that is not data-parallel are clear errors.
# $1 = fracture binary; cwd = build/tests.
set -euo pipefail
BIN=$1
TMP=$(mktemp -d "$PWD/ddp.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
export TMPDIR="$TMP"  # the other ranks' scratch projects (a rank killed with SIGKILL leaves its own)
"$BIN" synth out="$TMP/data" n=48 imgsz=64 seed=4 difficulty=easy > /dev/null 2>&1
# a manifest with an even number of training images (32), so two ranks split every epoch exactly
/usr/bin/python3 - "$TMP/data" <<'PY'
import csv, sys
d = sys.argv[1]
rows = list(csv.DictReader(open(f"{d}/classification.csv")))
pos = [r for r in rows if r["label"] == "1"]
neg = [r for r in rows if r["label"] == "0"]
assert len(pos) >= 20 and len(neg) >= 20, (len(pos), len(neg))
out = []
for i, r in enumerate(pos[:20] + neg[:20]):
    k = i % 20
    r["split"] = "train" if k < 16 else "val" if k < 18 else "test"
    out.append(r)
w = csv.DictWriter(open(f"{d}/ddp.csv", "w", newline=""), fieldnames=list(rows[0].keys()))
w.writeheader()
w.writerows(out)
PY
COMMON="data=$TMP/data/ddp.csv model=resnet18 epochs=2 imgsz=32 finetune=head workers=1 threads=1 seed=5
        project=$TMP/runs patience=100"
# shellcheck disable=SC2086
"$BIN" classify train $COMMON batch=8 name=one > /dev/null 2> "$TMP/one.err"
# shellcheck disable=SC2086
"$BIN" classify train $COMMON batch=4 name=two nproc=2 > "$TMP/two.out" 2> "$TMP/two.err" ||
  { cat "$TMP/two.err"; exit 1; }
test ! -e "$TMP/runs/classify/two2" || { echo "rank 1 wrote a run directory"; exit 1; }
grep -q "nproc: 2 processes on 127.0.0.1:" "$TMP/two.err"
PYTHONPATH="$(dirname "$0")" /usr/bin/python3 - "$TMP/runs/classify/one" "$TMP/runs/classify/two" <<'PY'
import csv, sys
import numpy as np
from safetensors_read import safetensors

one, two = sys.argv[1], sys.argv[2]
wa, wb = safetensors(f"{one}/weights/best.safetensors"), safetensors(f"{two}/weights/best.safetensors")
assert wa.keys() == wb.keys()
worst = max(float(np.abs(wa[k].astype(np.float64) - wb[k]).max()) for k in wa)
# Tolerance: the two ranks' mean gradients averaged equal the 8-image mean up to float32 summation
# order (about 1e-7 relative); two epochs of AdamW (lr 1e-3) move a weight by at most about 1e-3 x
# steps, so rounding-level differences stay far below 1e-5.
assert worst < 1e-5, worst
moved = max(float(np.abs(wa[k]).max()) for k in wa if k.startswith("fc."))
ra = list(csv.DictReader(open(f"{one}/results.csv")))
rb = list(csv.DictReader(open(f"{two}/results.csv")))
assert len(ra) == len(rb) == 2, (len(ra), len(rb))
for x, y in zip(ra, rb):
    for k in ("train_loss", "val_loss", "val_auroc"):
        assert abs(float(x[k]) - float(y[k])) < 1e-5, (k, x[k], y[k])
print(f"ddp: max |w(2 x batch 4) - w(1 x batch 8)| = {worst:.2e}")
PY
# a rank killed mid-run: the launcher stops the other at once and names the rank
# shellcheck disable=SC2086
"$BIN" classify train $COMMON batch=4 epochs=50 name=killed nproc=2 > /dev/null 2> "$TMP/killed.err" &
LAUNCHER=$!
for _ in $(seq 1 600); do
  [ "$(pgrep -P $LAUNCHER | wc -l)" -ge 2 ] && grep -q "epoch 1/50" "$TMP/killed.err" 2> /dev/null && break
  sleep 0.1
done
VICTIM=$(pgrep -P $LAUNCHER | sort -n | tail -1)
kill -9 "$VICTIM"
START=$(date +%s)
if wait $LAUNCHER; then echo "expected the launcher to fail"; exit 1; fi
[ $(( $(date +%s) - START )) -lt 30 ] || { echo "the launcher took too long to stop"; exit 1; }
grep -q "error: nproc: rank 1 of 2 was killed by signal 9; stopping the others" "$TMP/killed.err" ||
  { cat "$TMP/killed.err"; exit 1; }
[ "$(pgrep -P $LAUNCHER | wc -l)" -eq 0 ] || { echo "a rank outlived the launcher"; exit 1; }
# ranks started by hand (as torchrun or srun would): the one killed is named by the survivor, which
# stops within seconds, not after dist_timeout (300 s)
for victim in 1 0; do
  PORT=$((20000 + RANDOM % 20000))
  for r in 0 1; do
    # shellcheck disable=SC2086
    RANK=$r WORLD_SIZE=2 MASTER_PORT=$PORT "$BIN" classify train $COMMON batch=4 epochs=50 name=hand$victim \
      > /dev/null 2> "$TMP/hand$victim.$r.err" &
    eval "PID$r=\$!"
  done
  for _ in $(seq 1 600); do grep -q "epoch 1/50" "$TMP/hand$victim.0.err" 2> /dev/null && break; sleep 0.1; done
  if [ "$victim" = 1 ]; then kill -9 "$PID1"; SURVIVOR=$PID0; S=0; else kill -9 "$PID0"; SURVIVOR=$PID1; S=1; fi
  START=$(date +%s)
  if wait "$SURVIVOR"; then echo "expected rank $S to fail when rank $victim died"; exit 1; fi
  wait 2> /dev/null || true
  [ $(( $(date +%s) - START )) -lt 40 ] || { echo "rank $S took too long to stop"; exit 1; }
  grep -q "distributed: rank $S of 2: .* failed: rank $victim of 2 lost" "$TMP/hand$victim.$S.err" ||
    { cat "$TMP/hand$victim.$S.err"; exit 1; }
done
# rank 1 with no rank 0 at the address: a clear error naming it
PORT=$((20000 + RANDOM % 20000))
# shellcheck disable=SC2086
if RANK=1 WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT=$PORT "$BIN" classify train $COMMON batch=4 name=nomaster \
  dist_timeout=3 > /dev/null 2> "$TMP/nomaster.err"; then echo "expected: no master"; exit 1; fi
grep -q "distributed: rank 1 of 2: no rendezvous at 127.0.0.1:$PORT within 3 s (is rank 0 up and the address reachable?)" \
  "$TMP/nomaster.err" || { cat "$TMP/nomaster.err"; exit 1; }
# torchrun's environment by hand: rank 1 never comes -> rank 0 stops after dist_timeout, naming the address
PORT=$((20000 + RANDOM % 20000))
# shellcheck disable=SC2086
if RANK=0 WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT=$PORT "$BIN" classify train $COMMON batch=4 name=alone \
  dist_timeout=3 > /dev/null 2> "$TMP/alone.err"; then echo "expected: no rendezvous"; exit 1; fi
grep -Eq "distributed: rank 0 of 2: .*127.0.0.1:$PORT.* within 3 s" "$TMP/alone.err" || { cat "$TMP/alone.err"; exit 1; }
# ranks with different keys: both refuse, naming the rank
PORT=$((20000 + RANDOM % 20000))
# shellcheck disable=SC2086
RANK=0 WORLD_SIZE=2 MASTER_PORT=$PORT "$BIN" classify train $COMMON batch=4 name=m0 dist_timeout=20 > /dev/null 2> "$TMP/m0.err" &
P0=$!
# shellcheck disable=SC2086
RANK=1 WORLD_SIZE=2 MASTER_PORT=$PORT "$BIN" classify train $COMMON batch=2 name=m1 dist_timeout=20 > /dev/null 2> "$TMP/m1.err" || true
wait $P0 || true
grep -q "distributed: rank 1's resolved keys differs from rank 0's" "$TMP/m0.err" || { cat "$TMP/m0.err"; exit 1; }
# a command that is not data-parallel
if RANK=0 WORLD_SIZE=2 "$BIN" detect val data="$TMP/data/data.yaml" > /dev/null 2> "$TMP/det.err"; then
  echo "expected: detect val refused"; exit 1; fi
grep -q "does not run data-parallel (classify train, classify cv and detect train do)" "$TMP/det.err"
# classify cv killed with SIGKILL after its first fold (both ranks), resumed by 2 processes: every
# rank resumes from rank 0's files, skips the same fold, and the pooled metrics are the same bytes
# as a data-parallel run never killed
CV="$COMMON batch=4 folds=2 repeats=1"
# shellcheck disable=SC2086
"$BIN" classify cv $CV name=cvtwo nproc=2 > /dev/null 2> "$TMP/cvtwo.err" || { cat "$TMP/cvtwo.err"; exit 1; }
# shellcheck disable=SC2086
"$BIN" classify cv $CV name=cvkilled nproc=2 > /dev/null 2> "$TMP/cvkilled.err" &
LAUNCHER=$!
for _ in $(seq 1 1200); do
  [ -f "$TMP/runs/classify/cvkilled/folds/resnet18/r0f0/fold.json" ] && break
  sleep 0.05
done
pkill -9 -P $LAUNCHER || true
wait $LAUNCHER || true
test -f "$TMP/runs/classify/cvkilled/folds/resnet18/r0f0/fold.json" || { cat "$TMP/cvkilled.err"; exit 1; }
test ! -f "$TMP/runs/classify/cvkilled/metrics.json" || { echo "the cv run finished before it was killed"; exit 1; }
"$BIN" classify cv resume="$TMP/runs/classify/cvkilled" nproc=2 threads=1 > /dev/null 2> "$TMP/cvresume.err" ||
  { cat "$TMP/cvresume.err"; exit 1; }
cmp "$TMP/runs/classify/cvtwo/metrics.json" "$TMP/runs/classify/cvkilled/metrics.json"
# NCCL on this CPU build: refused with the reason
# shellcheck disable=SC2086
if RANK=0 WORLD_SIZE=2 "$BIN" classify train $COMMON backend=nccl > /dev/null 2> "$TMP/nccl.err"; then
  echo "expected: nccl refused"; exit 1; fi
grep -q "backend=nccl: this fracture is built on a CPU libtorch" "$TMP/nccl.err" || { cat "$TMP/nccl.err"; exit 1; }
echo "ddp: ok"
