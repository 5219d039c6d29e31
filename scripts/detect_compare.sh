#!/usr/bin/env bash
# Trains YOLOv8 n, s and m with one schedule on one dataset, validates each on the val and test
# splits, and prints one table (overall and per class) built from each run's metrics.csv. This is
# the study's detector comparison; the README's table was made with it.
#
#   bash scripts/detect_compare.sh build DATA.yaml OUT [key=value ...]
#   bash scripts/detect_compare.sh build runs/demo/synthetic/data.yaml runs/compare epochs=8 imgsz=256
#
# Extra key=value arguments go to every `detect train` (epochs, imgsz, batch, seed, ...); imgsz is
# also used for validation. SCALES (default "n s m") picks the sizes. Writes OUT/compare.md and
# OUT/compare.csv; the runs are OUT/detect/yolov8{n,s,m}[_val|_test].
set -euo pipefail
BUILD="${1:?usage: detect_compare.sh BUILD DATA.yaml OUT [key=value ...]}"
DATA="${2:?missing DATA.yaml}"
OUT="${3:?missing OUT folder}"
shift 3
BIN="$BUILD/fracture"
IMGSZ=640
for kv in "$@"; do
  case "$kv" in imgsz=*) IMGSZ="${kv#imgsz=}" ;; esac
done
mkdir -p "$OUT"
CSV="$OUT/compare.csv.tmp"
echo "model,split,class,images,instances,precision,recall,map50,map50_95,train_seconds" > "$CSV"
for s in ${SCALES:-n s m}; do
  m="yolov8$s"
  if [ -f "$OUT/detect/$m/weights/best.safetensors" ] && [ -f "$OUT/detect/$m/train_seconds" ]; then
    echo "compare: $m already trained in $OUT/detect/$m, reusing it"
  else
    echo "compare: training $m $*"
    rm -rf "$OUT/detect/$m"
    t0=$(date +%s)
    "$BIN" detect train data="$DATA" model="$m" project="$OUT" name="$m" "$@"
    echo $(( $(date +%s) - t0 )) > "$OUT/detect/$m/train_seconds"
  fi
  secs=$(cat "$OUT/detect/$m/train_seconds")
  for split in val test; do
    rm -rf "$OUT/detect/${m}_$split"
    "$BIN" detect val model="$OUT/detect/$m" data="$DATA" split="$split" imgsz="$IMGSZ" project="$OUT" \
      name="${m}_$split" > /dev/null
    tail -n +2 "$OUT/detect/${m}_$split/metrics.csv" | sed "s/^/$m,$split,/; s/\$/,$secs/" >> "$CSV"
  done
done
mv "$CSV" "$OUT/compare.csv"

# Markdown: overall rows, then mAP50 / mAP50-95 per class and split.
{
  echo "| model | split | P | R | mAP50 | mAP50-95 | train time (s) |"
  echo "|---|---|---|---|---|---|---|"
  awk -F, 'NR > 1 && $3 == "all" { printf "| %s | %s | %.3f | %.3f | %.3f | %.3f | %s |\n", $1, $2, $6, $7, $8, $9, $10 }' \
    "$OUT/compare.csv"
  echo
  echo "| model | split | class | instances | P | R | mAP50 | mAP50-95 |"
  echo "|---|---|---|---|---|---|---|---|"
  awk -F, 'NR > 1 && $3 != "all" { gsub(/"/, "", $3); printf "| %s | %s | %s | %s | %.3f | %.3f | %.3f | %.3f |\n", $1, $2, $3, $5, $6, $7, $8, $9 }' \
    "$OUT/compare.csv"
} > "$OUT/compare.md.tmp"
mv "$OUT/compare.md.tmp" "$OUT/compare.md"
cat "$OUT/compare.md"
