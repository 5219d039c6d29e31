#!/usr/bin/env bash
# classify cv shard=i/n: three shards as separate processes, started together, into one shared run
# directory; the last to finish pools the folds. The pooled files must equal a single process's
# byte for byte. Also: merge=true on a finished run, merge=true with folds missing, bad shard keys.
# $1 = fracture binary; cwd = build/tests.
set -euo pipefail
BIN=$1
TMP=$(mktemp -d "$PWD/cv_shards.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
trap 'echo "cv_shards.sh: line $LINENO failed: $BASH_COMMAND"; tail -3 "$TMP"/*.err 2> /dev/null' ERR
"$BIN" synth out="$TMP/data" n=48 imgsz=64 seed=2 difficulty=easy > /dev/null 2>&1
COMMON="data=$TMP/data/classification.csv model=mobilenet_v3_small folds=3 repeats=2 epochs=1 imgsz=32
        batch=8 workers=1 threads=1 project=$TMP/runs seed=3"
# shellcheck disable=SC2086
"$BIN" classify cv $COMMON name=one > /dev/null 2> "$TMP/one.err"
pids=()
for i in 0 1 2; do
  # shellcheck disable=SC2086
  "$BIN" classify cv $COMMON name=sharded shard=$i/3 > "$TMP/shard$i.out" 2> "$TMP/shard$i.err" &
  pids+=($!)
done
for p in "${pids[@]}"; do wait "$p" || { echo "a shard failed:"; cat "$TMP"/shard*.err; exit 1; }; done
A="$TMP/runs/classify/one" B="$TMP/runs/classify/sharded"
test ! -e "$TMP/runs/classify/sharded2" || { echo "a shard made its own directory"; exit 1; }
# 2 repeats x 3 folds = 6 jobs (r0f0, r0f1, r0f2, r1f0, ...): shard i trains jobs i and i + 3
for i in 0 1 2; do
  n=$(grep -c "done in" "$TMP/shard$i.err" || true)
  want=2
  [ "$n" -eq "$want" ] || { echo "shard $i trained $n folds, expected $want"; cat "$TMP/shard$i.err"; exit 1; }
done
for f in metrics.json summary.csv summary.md oof_predictions.csv operating_points.csv calibration.csv comparisons.csv \
         curves.json splits.csv; do
  cmp "$A/$f" "$B/$f" || { echo "sharded run differs from one process in $f"; exit 1; }
done
grep -q "every fold is done; pooling 6 folds" "$TMP"/shard*.err
# merge=true: a finished run pools again to the same bytes; with a fold missing it refuses, counted
cp "$B/metrics.json" "$TMP/metrics_first.json"
"$BIN" classify cv resume="$B" merge=true > /dev/null 2>&1
cmp "$TMP/metrics_first.json" "$B/metrics.json"
rm "$B/folds/mobilenet_v3_small/r1f0/fold.json"
if "$BIN" classify cv resume="$B" merge=true > /dev/null 2> "$TMP/err.txt"; then echo "expected: merge refused"; exit 1; fi
grep -q "merge=true: 1 of 6 folds of .* are not done (first: mobilenet_v3_small r1f0)" "$TMP/err.txt" || { cat "$TMP/err.txt"; exit 1; }
# a shard started again does only its own missing job (r1f0 is job 3: shard 0)
# shellcheck disable=SC2086
"$BIN" classify cv $COMMON name=sharded shard=0/3 > /dev/null 2> "$TMP/again.err"
[ "$(grep -c "done in" "$TMP/again.err")" -eq 1 ] || { cat "$TMP/again.err"; exit 1; }
cmp "$TMP/metrics_first.json" "$B/metrics.json"
# errors
for bad in 3/3 x/2 1 -1/2; do
  # shellcheck disable=SC2086
  if "$BIN" classify cv $COMMON name=bad shard=$bad > /dev/null 2> "$TMP/err.txt"; then echo "expected failure: shard=$bad"; exit 1; fi
  grep -q "key 'shard': expected i/n with 0 <= i < n" "$TMP/err.txt" || { cat "$TMP/err.txt"; exit 1; }
done
# shellcheck disable=SC2086
if "$BIN" classify cv $COMMON shard=0/2 > /dev/null 2> "$TMP/err.txt"; then echo "expected failure: no name"; exit 1; fi
grep -q "needs name=" "$TMP/err.txt"
# shellcheck disable=SC2086
if "$BIN" classify cv $COMMON name=sharded shard=0/3 epochs=2 > /dev/null 2> "$TMP/err.txt"; then
  echo "expected failure: a shard with other keys"; exit 1; fi
grep -q "epochs: run has 1, command line has 2" "$TMP/err.txt"
echo "cv_shards: 3 shards pooled byte-identical to one process"
