#!/usr/bin/env bash
# The main job on the built-in default: generate the synthetic radiograph set, validate it, and run
# `fracture study` on it: the classification study (three backbones, cross-validated, calibrated,
# with CIs), a YOLOv8n detector trained, validated and tested, and the detector against the
# classifiers on the same images, into one study directory with summary.md. Called by `make demo`
# after the build.
#
# Schedule (environment overrides): the defaults are sized to finish within 15 minutes on 2 CPU
# cores (docs/study.md has the measurements behind them), not the study's full one (folds=5
# repeats=3, 100 epochs: DEMO_SCALE=full). DEMO_FAST=1 runs a minutes-long smoke version.
set -euo pipefail
BUILD="${1:-build}"
BIN="$BUILD/fracture"
DEMO="${DEMO_DIR:-runs/demo}"
DATA="$DEMO/synthetic"
N="${DEMO_N:-1200}"
IMGSZ="${DEMO_IMGSZ:-256}"
DIFFICULTY="${DEMO_DIFFICULTY:-easy}"
DETECTORS="[yolov8n]"
if [ "${DEMO_FAST:-0}" = "1" ]; then
  N="${DEMO_N:-600}"; CLS="folds=3 repeats=1 epochs=1 imgsz=64"; CLS_MODEL=mobilenet_v3_small
  DET_EPOCHS=1; DET_IMGSZ=128
elif [ "${DEMO_SCALE:-demo}" = "full" ]; then
  # the reference study's schedule: 5 folds x 3 repeats, 100 epochs (early stopping), YOLOv8n/s/m at 640 px
  CLS="folds=5 repeats=3 epochs=100 imgsz=224"; CLS_MODEL=all
  DET_EPOCHS=100; DET_IMGSZ=640; DETECTORS="[yolov8n,yolov8s,yolov8m]"; IMGSZ="${DEMO_IMGSZ:-640}"
  DIFFICULTY="${DEMO_DIFFICULTY:-medium}"
else
  CLS="folds=${DEMO_FOLDS:-3} repeats=${DEMO_REPEATS:-1} epochs=${DEMO_CLS_EPOCHS:-6} imgsz=${DEMO_CLS_IMGSZ:-64}"
  CLS_MODEL="${DEMO_CLS_MODEL:-all}"
  DET_EPOCHS="${DEMO_DET_EPOCHS:-25}"; DET_IMGSZ="${DEMO_DET_IMGSZ:-160}"
fi

mkdir -p "$DEMO"
# Always (re)generated: a few seconds, deterministic, and a set left by an older generator version
# or other DEMO_N/DEMO_IMGSZ is replaced (synth only overwrites its own earlier output).
echo "demo: generating $N synthetic radiographs ($DIFFICULTY) at ${IMGSZ}px into $DATA"
"$BIN" synth out="$DATA" n="$N" imgsz="$IMGSZ" seed=0 difficulty="$DIFFICULTY"
echo "demo: validating the dataset"
"$BIN" check data="$DATA/data.yaml" report="$DEMO/check.json"

echo "demo: the study (fracture study): classifiers model=$CLS_MODEL $CLS; detectors $DETECTORS det_epochs=$DET_EPOCHS det_imgsz=$DET_IMGSZ"
# Resumable: an interrupted demo continues where it stopped when run again (resume= of the study
# directory); a finished one is re-reported without retraining.
STUDY="$DEMO/study/study"
if [ -f "$STUDY/study.json" ]; then
  "$BIN" study resume="$STUDY" > /dev/null
else
  # cls_data: the classifiers read the manifest with patient ids, so their folds are grouped by patient
  "$BIN" study data="$DATA/data.yaml" cls_data="$DATA/classification.csv" model="$CLS_MODEL" $CLS detectors="$DETECTORS" det_epochs="$DET_EPOCHS" \
    det_imgsz="$DET_IMGSZ" project="$DEMO" name=study seed=0 > /dev/null
fi
sed -n '/^## Findings/,/^## Classification/p' "$STUDY/summary.md" | sed '$d'
REPORT="$STUDY/summary.md"
[ -f "$STUDY/report.html" ] && REPORT="$STUDY/report.html (and summary.md)"
echo "demo: done. Dataset $DATA; check report $DEMO/check.json; study report $REPORT"
