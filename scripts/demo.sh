#!/usr/bin/env bash
# The main job on the built-in default: generate the synthetic radiograph set, validate it,
# and run what the study can run so far. Called by `make demo` after the build.
set -euo pipefail
BUILD="${1:-build}"
BIN="$BUILD/fracture"
DEMO="${DEMO_DIR:-runs/demo}"
DATA="$DEMO/synthetic"
N="${DEMO_N:-600}"
IMGSZ="${DEMO_IMGSZ:-256}"

mkdir -p "$DEMO"
if [ -f "$DATA/data.yaml" ]; then
  echo "demo: reusing $DATA (delete it to regenerate)"
else
  echo "demo: generating $N synthetic radiographs at ${IMGSZ}px into $DATA"
  "$BIN" synth out="$DATA" n="$N" imgsz="$IMGSZ" seed=0
fi
echo "demo: validating the dataset"
"$BIN" check data="$DATA/data.yaml" report="$DEMO/check.json"
echo "demo: done. Dataset: $DATA, check report: $DEMO/check.json"
