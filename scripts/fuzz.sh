#!/usr/bin/env bash
# `make fuzz` (docs/reliability.md): builds the libFuzzer targets with clang into build-fuzz/ and runs
# each on a working copy of its corpus, one after another, until RUNS executions or SECONDS seconds.
# Prints one table row per target (executions, speed, coverage, corpus, crashes) and appends it to
# build-fuzz/fuzz_table.md; crash, leak and timeout inputs go to build-fuzz/artifacts/<target>/.
# With MERGE=1 the inputs that add coverage are merged (minimised) into tests/fuzz/corpus/<target>/.
#   TARGETS="yolo_labels coco_json" RUNS=10000000 SECONDS_PER_TARGET=3600 MALLOC_LIMIT_MB=512 bash scripts/fuzz.sh
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
B=${BUILD_FUZZ:-$ROOT/build-fuzz}
RUNS=${RUNS:-10000000}
SECS=${SECONDS_PER_TARGET:-3600}
# libFuzzer's malloc limit defaults to its RSS limit (4 GB): a reservation below that which is never
# touched went unseen (808 MB from a 638-byte deflated DICOM). No single allocation of a target
# should approach this with the targets' max_pixels of 4 M.
MALLOC_MB=${MALLOC_LIMIT_MB:-512}
bash "$ROOT/scripts/install_deps.sh" --fuzz
bash "$ROOT/scripts/install_deps.sh"
if [ ! -f "$B/build.ninja" ]; then
  CC=clang CXX=clang++ cmake -S "$ROOT" -B "$B" -G Ninja -DCMAKE_BUILD_TYPE=Release -DFRACTURE_FUZZ=ON \
    -DFRACTURE_BUILD_BENCH=OFF > /dev/null
fi
ALL=$(cd "$ROOT/tests/fuzz/targets" && ls ./*.cpp | sed 's|./||; s|\.cpp$||')
TARGETS=${TARGETS:-$ALL}
# shellcheck disable=SC2086
cmake --build "$B" --target $(for t in $TARGETS; do echo "fuzz_$t"; done)
cd "$B"
[ -f fuzz_table.md ] || printf '| target | executions | exec/s | seconds | coverage (edges) | features | corpus | crashes |\n|---|---:|---:|---:|---:|---:|---:|---:|\n' > fuzz_table.md
for t in $TARGETS; do
  mkdir -p "work/$t" "artifacts/$t"
  cp -n "$ROOT/tests/fuzz/corpus/$t/"* "work/$t/" 2> /dev/null || true
  dict=()
  [ -f "$ROOT/tests/fuzz/dict/$t.dict" ] && dict=(-dict="$ROOT/tests/fuzz/dict/$t.dict")
  log="artifacts/$t/fuzz.log"
  start=$(date +%s)
  status=0
  ASAN_OPTIONS=detect_leaks=1 LSAN_OPTIONS=suppressions="$ROOT/tests/fuzz/lsan.supp" UBSAN_OPTIONS=print_stacktrace=1 \
    "./tests/fuzz/fuzz_$t" "work/$t" "${dict[@]}" \
    -runs="$RUNS" -max_total_time="$SECS" -max_len=65536 -timeout=25 -rss_limit_mb=4096 -malloc_limit_mb="$MALLOC_MB" -print_final_stats=1 \
    -artifact_prefix="artifacts/$t/" > "$log" 2>&1 || status=$?
  secs=$(($(date +%s) - start))
  execs=$(awk '/stat::number_of_executed_units:/ {v = $2} END {print v}' "$log")
  speed=$(awk '/stat::average_exec_per_sec:/ {v = $2} END {print v}' "$log")
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | awk '{print $2}')
  ft=$(grep -o 'ft: [0-9]*' "$log" | tail -1 | awk '{print $2}')
  corp=$(find "work/$t" -type f | wc -l)
  crashes=$(find "artifacts/$t" -type f ! -name fuzz.log | wc -l)
  row="| $t | ${execs:-?} | ${speed:-?} | $secs | ${cov:-?} | ${ft:-?} | $corp | $crashes |"
  echo "$row" | tee -a fuzz_table.md
  if [ "$status" != 0 ]; then
    echo "fuzz: $t stopped with status $status; the log's end:" >&2
    tail -30 "$log" >&2
  fi
  if [ "${MERGE:-0}" = 1 ]; then
    # the inputs that add coverage (libFuzzer names them by their SHA-1), less those already kept
    rm -rf "merged/$t" && mkdir -p "merged/$t"
    "./tests/fuzz/fuzz_$t" -merge=1 -rss_limit_mb=4096 "merged/$t" "$ROOT/tests/fuzz/corpus/$t" "work/$t" > /dev/null 2>&1 || true
    have=$(sha1sum "$ROOT/tests/fuzz/corpus/$t/"* | cut -d' ' -f1)
    for f in "merged/$t"/*; do
      grep -qx "$(basename "$f")" <<< "$have" || cp "$f" "$ROOT/tests/fuzz/corpus/$t/"
    done
  fi
done
