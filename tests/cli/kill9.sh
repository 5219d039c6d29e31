#!/usr/bin/env bash
# Kill -9 anywhere (docs/reliability.md). classify cv, detect train, a distributed detect train (2
# processes) and a study are each run once uninterrupted, then again at the same path in chains of
# up to two SIGKILLs and a final resume. A kill comes at a random time (a share of the uninterrupted
# run's duration) or in the middle of a random atomic write (FRACTURE_TEST_KILL_AT_WRITE=N: the N-th
# write stops half-written and the process SIGKILLs itself). After every kill each file of the run
# directory must be whole (tests/tools/run_intact.py); the resumed run must end with exactly the files
# of the uninterrupted one, byte for byte, and no temp file left.
#   KILL9_POINTS  chains per command (default 2, the sample `make test` runs; docs/reliability.md has a longer sweep)
#   KILL9_SEED    seed of the kill points (default 1; printed with every kill, so a failure can be replayed)
#   KILL9_ONLY    run only the commands whose name matches this regex (cv|detect|ddp|study)
# $1 = fracture binary, $2 = source dir; cwd = build/tests.
set -euo pipefail
trap 'echo "kill9.sh: line $LINENO failed" >&2' ERR
BIN=$1
SRC=$2
POINTS=${KILL9_POINTS:-2}
SEED=${KILL9_SEED:-1}
ONLY=${KILL9_ONLY:-.}
RANDOM=$SEED
TMP=$(mktemp -d "$PWD/kill9.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
INTACT="/usr/bin/python3 $SRC/tests/tools/run_intact.py"
"$BIN" synth out="$TMP/data" n=40 imgsz=64 seed=1 difficulty=easy > /dev/null 2>&1

fail() {
  echo "kill9: $*" >&2
  exit 1
}

# Runs "$@" in its own process group; with $KILL_MS > 0 SIGKILLs the whole group after that many ms.
# Prints the exit status (137 when killed).
run_group() {
  local pid status=0
  setsid "$@" > /dev/null 2>> "$TMP/log.err" &
  pid=$!
  if [ "${KILL_MS:-0}" -gt 0 ]; then
    local t=$KILL_MS
    sleep "$((t / 1000)).$(printf %03d $((t % 1000)))"
    kill -9 -- "-$pid" 2> /dev/null || true
  fi
  wait "$pid" || status=$?
  # a rank or worker of a killed group may outlive the leader by a moment
  for _ in $(seq 50); do pgrep -g "$pid" > /dev/null || break; sleep 0.1; done
  echo "$status"
}

# A file without its wall-clock fields, the only bytes two runs of one seed may differ in: the last
# column of results.csv (seconds: Ultralytics' `time`, the classifier's epoch time) and the JSON
# fields "elapsed_s" and "*seconds".
untimed() {
  case "$1" in
    */results.csv) sed 's/,[^,]*$//' "$1" ;;
    *.json) grep -vE '"(elapsed_s|[a-z_]*seconds)":' "$1" ;;
    *) cat "$1" ;;
  esac
}

# Runs "$@" in its own process group and SIGKILLs the group as soon as FILE ($1) exists (at most 60 s).
kill_when() {
  local file=$1 pid
  shift
  setsid "$@" > /dev/null 2>> "$TMP/log.err" &
  pid=$!
  for _ in $(seq 6000); do [ -f "$file" ] && break; sleep 0.01; done
  kill -9 -- "-$pid" 2> /dev/null || true
  wait "$pid" 2> /dev/null || true
}

# the files of two run directories, byte for byte but for untimed's fields
same_files() {
  local a=$1 b=$2
  diff <(cd "$a" && find . -type f | sort) <(cd "$b" && find . -type f | sort) > "$TMP/sets.diff" ||
    { cat "$TMP/sets.diff" >&2; fail "$3: the file sets differ (< uninterrupted, > killed and resumed)"; }
  while read -r f; do
    cmp -s "$a/$f" "$b/$f" || cmp -s <(untimed "$a/$f") <(untimed "$b/$f") ||
      fail "$3: $f differs from the uninterrupted run"
  done < <(cd "$a" && find . -type f | sort)
}

# True when a resume ended with STATUS ($1) refusing a run that had written all its files before an
# earlier kill (detect train, as Ultralytics: "nothing to resume"): a kill after the last write, while
# the processes were exiting (a distributed run's ranks take a while). same_files still compares
# every file with the uninterrupted run's.
finished_before() {
  [ "$1" = 1 ] && grep -q "nothing to resume" "$TMP/log.err" &&
    echo "kill9: the run had finished before the kill: its resume refused, as it should"
}

# scenario NAME RUN_DIR WRITES START... -- RESUME...   (RUN_DIR relative to $TMP, where START
# writes; WRITES about the number of atomic writes of a run: the range of the write kills)
scenario() {
  local name=$1 run=$2 writes=$3
  shift 3
  [[ $name =~ $ONLY ]] || return 0
  local start=() resume=() seen=0
  for a in "$@"; do
    if [ "$a" = "--" ]; then seen=1; elif [ $seen = 0 ]; then start+=("$a"); else resume+=("$a"); fi
  done
  rm -rf "${TMP:?}/$run"
  local t0 t1 status
  t0=$(date +%s%N)
  status=$(KILL_MS=0 run_group "$BIN" "${start[@]}")
  t1=$(date +%s%N)
  [ "$status" = 0 ] || { cat "$TMP/log.err" >&2; fail "$name: the uninterrupted run failed ($status)"; }
  local ms=$(((t1 - t0) / 1000000))
  $INTACT "$TMP/$run" --no-temp || fail "$name: the uninterrupted run left broken or temp files"
  rm -rf "$TMP/ref_$name"
  mv "$TMP/$run" "$TMP/ref_$name"
  echo "kill9: $name: uninterrupted in $ms ms"
  for ((p = 1; p <= POINTS; ++p)); do
    rm -rf "${TMP:?}/$run"
    local cmd=("${start[@]}") kills=0 what
    while :; do
      : > "$TMP/log.err"
      if [ $kills -ge 2 ]; then
        status=$(KILL_MS=0 run_group "$BIN" "${cmd[@]}")
        [ "$status" = 0 ] || finished_before "$status" ||
          { cat "$TMP/log.err" >&2; fail "$name chain $p: the final resume failed ($status)"; }
        break
      fi
      if [ $((RANDOM % 2)) = 0 ]; then
        local at=$((100 + RANDOM * ms / 32768))
        what="SIGKILL after $at ms"
        status=$(KILL_MS=$at run_group "$BIN" "${cmd[@]}")
      else
        local n=$((1 + RANDOM % writes))
        what="SIGKILL in atomic write $n"
        status=$(KILL_MS=0 run_group env FRACTURE_TEST_KILL_AT_WRITE=$n "$BIN" "${cmd[@]}")
      fi
      kills=$((kills + 1))
      echo "kill9: $name chain $p: $what (seed $SEED): exit $status"
      if [ ! -f "$TMP/$run/args.yaml" ]; then  # killed before the run had its args.yaml: start again
        rm -rf "${TMP:?}/$run"
        cmd=("${start[@]}")
        continue
      fi
      $INTACT "$TMP/$run" || fail "$name chain $p: a broken file after $what"
      [ "$status" = 0 ] && break  # it finished before the kill
      finished_before "$status" && break
      cmd=("${resume[@]}")
    done
    $INTACT "$TMP/$run" --no-temp || fail "$name chain $p: broken or temp files after the resumed run"
    same_files "$TMP/ref_$name" "$TMP/$run" "$name chain $p"
    echo "kill9: $name chain $p: resumed run identical to the uninterrupted one"
  done
}

CV="classify cv data=$TMP/data/classification.csv model=mobilenet_v3_small epochs=2 imgsz=32 batch=8 folds=2 repeats=1
    workers=1 threads=1 seed=3 project=$TMP/runs name=cv"
# shellcheck disable=SC2086
scenario cv runs/classify/cv 40 $CV -- classify cv resume="$TMP/runs/classify/cv" workers=1 threads=1
DET="detect train data=$TMP/data/data.yaml model=yolov8n epochs=3 imgsz=64 batch=8 workers=1 threads=1 seed=3
     warmup_epochs=1 close_mosaic=1 project=$TMP/runs name=det"
# shellcheck disable=SC2086
scenario detect runs/detect/det 40 $DET -- detect train resume="$TMP/runs/detect/det" workers=1 threads=1
# shellcheck disable=SC2086
scenario ddp runs/detect/ddp 40 ${DET/name=det/name=ddp} nproc=2 -- detect train resume="$TMP/runs/detect/ddp" \
  nproc=2 workers=1 threads=1
STUDY="study data=$TMP/data/data.yaml cls_data=$TMP/data/classification.csv model=mobilenet_v3_small epochs=1
       imgsz=32 batch=8 folds=2 repeats=1 detectors=[yolov8n] det_epochs=2 det_imgsz=64 workers=1 threads=1
       project=$TMP/runs name=study"
# shellcheck disable=SC2086
scenario study runs/study/study 120 $STUDY -- study resume="$TMP/runs/study/study" workers=1 threads=1

# Killed inside its second atomic write, right after args.yaml (classify cv: run.json; study:
# study.json, the folder's marker): the resume runs it from the start in place (a sweep, seed 11,
# found these refused as "not a run directory")
born() {  # NAME RUN_DIR MARKER "TASK [MODE]" START...
  local name=$1 run=$2 marker=$3 task=$4
  shift 4
  [[ $name =~ $ONLY ]] || return 0
  rm -rf "${TMP:?}/$run"
  (env FRACTURE_TEST_KILL_AT_WRITE=2 "$BIN" "$@" > /dev/null 2>&1) 2> /dev/null || true
  [ -f "$TMP/$run/args.yaml" ] && [ ! -f "$TMP/$run/$marker" ] || fail "$name: not killed between args.yaml and $marker"
  # shellcheck disable=SC2086
  "$BIN" $task resume="$TMP/$run" workers=1 threads=1 > /dev/null 2> "$TMP/born.err" ||
    { cat "$TMP/born.err" >&2; fail "$name: the resume of a run killed at birth failed"; }
  grep -q "stopped before it began (no $marker): running it from the start" "$TMP/born.err" ||
    fail "$name: the resume did not say it starts over"
  same_files "$TMP/ref_$name" "$TMP/$run" "$name killed at birth"
  echo "kill9: $name killed right after args.yaml: resumed from the start to the uninterrupted run"
}
# shellcheck disable=SC2086
born cv runs/classify/cv run.json "classify cv" $CV
# shellcheck disable=SC2086
born study runs/study/study study.json "study" $STUDY

# Disk full (a file-size limit, ulimit -f): the run killed after its first checkpoint is resumed
# with every file limited to 4 MiB; the second checkpoint's weights cannot be written: a clear error,
# the first checkpoint still in force and whole; resumed without the limit: the uninterrupted run.
if [[ detect =~ $ONLY ]]; then
  R="$TMP/runs/detect/det"
  rm -rf "$R"
  # shellcheck disable=SC2086
  kill_when "$R/weights/last_state.json" "$BIN" $DET
  grep -q '"epochs_done": 1,' "$R/weights/last_state.json" || fail "disk full: no first checkpoint to start from"
  status=0
  (ulimit -f 4096 && "$BIN" detect train resume="$R" workers=1 threads=1) > /dev/null 2> "$TMP/full.err" || status=$?
  [ "$status" = 1 ] || { cat "$TMP/full.err" >&2; fail "disk full: exit $status, expected 1 (an error, not a crash)"; }
  grep -q "write failed after .* bytes: File too large (disk full, or over a file-size limit?); the previous version of the file, if any, is kept" \
    "$TMP/full.err" || { cat "$TMP/full.err" >&2; fail "disk full: the error does not say what happened"; }
  grep -q '"epochs_done": 1,' "$R/weights/last_state.json" || fail "disk full: the first checkpoint is no longer in force"
  $INTACT "$R" || fail "disk full: a broken file"
  "$BIN" detect train resume="$R" workers=1 threads=1 > /dev/null 2> "$TMP/full.err" ||
    { cat "$TMP/full.err" >&2; fail "disk full: the resume after the limit failed"; }
  $INTACT "$R" --no-temp || fail "disk full: broken or temp files after the resume"
  same_files "$TMP/ref_detect" "$R" "disk full"
  echo "kill9: disk full: refused with a clear error, first checkpoint kept, resumed to the uninterrupted run"
  # killed before its first checkpoint (args.yaml written, no weights/last_state.json): the resume
  # trains it from the start in place (found by a 6-chain sweep, seed 7: it was refused)
  rm -rf "$R"
  # shellcheck disable=SC2086
  kill_when "$R/args.yaml" "$BIN" $DET
  [ ! -f "$R/weights/last_state.json" ] || fail "early kill: came too late (a checkpoint exists)"
  "$BIN" detect train resume="$R" workers=1 threads=1 > /dev/null 2> "$TMP/early.err" ||
    { cat "$TMP/early.err" >&2; fail "early kill: the resume failed"; }
  grep -q "has no checkpoint yet (stopped before its first epoch ended): training it from the start" "$TMP/early.err" ||
    fail "early kill: the resume did not say it starts over"
  same_files "$TMP/ref_detect" "$R" "early kill"
  echo "kill9: killed before its first checkpoint: resumed from the start to the uninterrupted run"
  # killed inside a checkpoint's cleanup, after its state (resume_e3_*) and before the previous set
  # was removed, with only the final validation left (CI, seed 1, in a study): the resume removes
  # what the state does not name and ends with the uninterrupted run's files
  rm -rf "$R"
  cp -r "$TMP/ref_detect" "$R"
  rm "$R/metrics.json"
  cp "$R/weights/resume_e3_ema.safetensors" "$R/weights/resume_e2_ema.safetensors"
  "$BIN" detect train resume="$R" workers=1 threads=1 > /dev/null 2> "$TMP/cleanup.err" ||
    { cat "$TMP/cleanup.err" >&2; fail "killed in the cleanup: the resume failed"; }
  same_files "$TMP/ref_detect" "$R" "killed in the cleanup"
  echo "kill9: killed in a checkpoint's cleanup: the resume removed the stale resume files"
  # a run directory damaged outside fracture is refused, naming the file (never an internal error)
  head -c 40 "$TMP/ref_detect/weights/last_state.json" > "$R/weights/last_state.json"
  status=0
  "$BIN" detect train resume="$R" > /dev/null 2> "$TMP/damaged.err" || status=$?
  [ "$status" = 1 ] && grep -q "last_state.json: not valid JSON" "$TMP/damaged.err" ||
    { cat "$TMP/damaged.err" >&2; fail "a damaged last_state.json: exit $status"; }
  echo "kill9: a damaged last_state.json is refused naming it"
fi
# Killed after its last file (metrics.json) while the ranks were exiting (CI, seed 1, a SIGKILL at
# 93% of the run's time): every file is there; the resume refuses with "nothing to resume" (exit 1).
if [[ ddp =~ $ONLY ]]; then
  R="$TMP/runs/detect/ddp"
  rm -rf "$R"
  # shellcheck disable=SC2086
  kill_when "$R/metrics.json" "$BIN" ${DET/name=det/name=ddp} nproc=2
  status=0
  "$BIN" detect train resume="$R" nproc=2 workers=1 threads=1 > /dev/null 2> "$TMP/done.err" || status=$?
  [ "$status" = 1 ] && grep -q "already finished its training (3 epochs) and final validation; nothing to resume" \
    "$TMP/done.err" || { cat "$TMP/done.err" >&2; fail "killed after the last file: the resume ended $status"; }
  $INTACT "$R" --no-temp || fail "killed after the last file: broken or temp files"
  same_files "$TMP/ref_ddp" "$R" "killed after the last file"
  echo "kill9: killed after its last file: the resume refuses (nothing to resume), the files are the uninterrupted run's"
fi
echo "kill9: passed (seed $SEED, $POINTS chains per command)"
