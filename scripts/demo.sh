#!/usr/bin/env bash
# The main job on the built-in default: generate the synthetic radiograph set, validate it, run the
# classification study (three backbones, cross-validated, calibrated, with CIs) and train, validate
# and test a YOLOv8n detector. Called by `make demo` after the build. Every step writes its own run
# directory under $DEMO (numbered, never overwritten).
#
# Schedule (environment overrides): the defaults are a short schedule sized for 2 CPU cores, not the
# study's full one (folds=5 repeats=3, 100 epochs). DEMO_FAST=1 runs a minutes-long smoke version.
set -euo pipefail
BUILD="${1:-build}"
BIN="$BUILD/fracture"
DEMO="${DEMO_DIR:-runs/demo}"
DATA="$DEMO/synthetic"
N="${DEMO_N:-1200}"
IMGSZ="${DEMO_IMGSZ:-256}"
if [ "${DEMO_FAST:-0}" = "1" ]; then
  N="${DEMO_N:-600}"; CLS="folds=3 repeats=1 epochs=1 imgsz=64"; CLS_MODEL=mobilenet_v3_small
  DET_EPOCHS=1; DET_IMGSZ=128
else
  CLS="folds=${DEMO_FOLDS:-3} repeats=${DEMO_REPEATS:-1} epochs=${DEMO_CLS_EPOCHS:-12} imgsz=${DEMO_CLS_IMGSZ:-96}"
  CLS_MODEL="${DEMO_CLS_MODEL:-all}"
  DET_EPOCHS="${DEMO_DET_EPOCHS:-30}"; DET_IMGSZ="${DEMO_DET_IMGSZ:-256}"
fi

mkdir -p "$DEMO"
# Always (re)generated: a few seconds, deterministic, and a set left by an older generator version
# or other DEMO_N/DEMO_IMGSZ is replaced (synth only overwrites its own earlier output).
echo "demo: generating $N synthetic radiographs at ${IMGSZ}px into $DATA"
"$BIN" synth out="$DATA" n="$N" imgsz="$IMGSZ" seed=0
echo "demo: validating the dataset"
"$BIN" check data="$DATA/data.yaml" report="$DEMO/check.json"

echo "demo: classification study: model=$CLS_MODEL $CLS"
"$BIN" classify cv data="$DATA/classification.csv" model="$CLS_MODEL" $CLS project="$DEMO" name=study seed=0

echo "demo: YOLOv8n detector: epochs=$DET_EPOCHS imgsz=$DET_IMGSZ"
"$BIN" detect train data="$DATA/data.yaml" model=yolov8n epochs="$DET_EPOCHS" imgsz="$DET_IMGSZ" project="$DEMO" \
  name=yolov8n seed=0
# the newest run directory of that name (yolov8n, yolov8n2, ...: runs are numbered, never overwritten)
DET_RUN=$(for d in "$DEMO"/detect/yolov8n "$DEMO"/detect/yolov8n[0-9]*; do if [ -d "$d" ]; then echo "$d"; fi; done |
  sort -V | tail -1)
"$BIN" detect val model="$DET_RUN" data="$DATA/data.yaml" split=test imgsz="$DET_IMGSZ" project="$DEMO" name=yolov8n_test

echo "demo: done. Dataset $DATA; check report $DEMO/check.json; study $DEMO/classify/study*/summary.md;"
echo "      detector $DET_RUN (results.csv, metrics.json) and its test-split metrics $DEMO/detect/yolov8n_test*/"
