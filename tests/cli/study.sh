#!/usr/bin/env bash
# fracture study end to end on a tiny synthetic set (one classifier, 2-fold CV, 1 epoch; YOLOv8n,
# 2 epochs at 64 px): the study directory's files, the comparison's protocol, a resumed finished
# study (nothing retrained, same bytes) and a study killed with SIGKILL then resumed (same bytes as
# one never killed). $1 = fracture binary, $2 = source dir; cwd = build/tests.
set -euo pipefail
BIN=$1
TMP=$(mktemp -d "$PWD/study_cli.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
"$BIN" synth out="$TMP/data" n=60 imgsz=64 seed=1 difficulty=easy > /dev/null 2>&1
# the "other hospital": another seed and difficulty, scored with the frozen models
# (with DICOM copies when the build has DCMTK: predict reads them)
"$BIN" synth out="$TMP/ext" n=40 imgsz=64 seed=7 difficulty=hard dicom=true > /dev/null 2>&1 ||
  { rm -rf "$TMP/ext"; "$BIN" synth out="$TMP/ext" n=40 imgsz=64 seed=7 difficulty=hard > /dev/null 2>&1; }
# cls_data: the classifiers read the CSV manifest (patient ids), the detectors data.yaml; matched by path
COMMON="data=$TMP/data/data.yaml cls_data=$TMP/data/classification.csv model=mobilenet_v3_small epochs=1 imgsz=32 batch=8 folds=2 repeats=1
        detectors=[yolov8n] det_epochs=2 det_imgsz=64 workers=1 project=$TMP/runs external=$TMP/ext/data.yaml"
# shellcheck disable=SC2086
"$BIN" study $COMMON name=full > "$TMP/full.txt" 2> "$TMP/full.err"
S="$TMP/runs/study/full"
for f in args.yaml study.json summary.md compare.json compare.csv compare_tests.csv detection.csv \
         classify/cv/metrics.json classify/cv/oof_predictions.csv detect/yolov8n/weights/best.safetensors \
         detect/yolov8n/metrics.json detect/yolov8n_test/metrics.json detect/yolov8n_test/predictions.json \
         external.json external.csv detect/yolov8n_external/metrics.json pointing_game.json; do
  test -s "$S/$f" || { echo "study: missing $f"; exit 1; }
done
grep -q "study: $S (report: $S/summary.md, $S/report.html)" "$TMP/full.txt"
grep -q "grouped by patient_id" "$TMP/full.err"
for h in "## Findings" "synthetic images at a reduced schedule" "Best classifier: mobilenet_v3_small" \
         "Detector yolov8n against classifier mobilenet_v3_small" "## Detection" "| yolov8n | test | all |" \
         "## External validation" "External validation** (40 images)" "Grad-CAM pointing game"; do
  grep -qF "$h" "$S/summary.md" || { echo "summary.md lacks '$h'"; exit 1; }
done
# the comparison: classifiers and detectors on the same test images, scored by the out-of-fold
# probabilities and the highest box confidence of the test run's predictions.json
/usr/bin/python3 - "$S" <<'PY'
import csv, json, sys
s = sys.argv[1]
c = json.load(open(f"{s}/compare.json"))
names = [x["name"] for x in c["scores"]]
assert names == ["mobilenet_v3_small", "yolov8n", "fused"], names
assert c["fusion"]["classifier"] == "mobilenet_v3_small" and len(c["fusion"]["coef"]) == 2, c["fusion"]
pairs = {(t["a"], t["b"]) for t in c["tests"]}
assert ("yolov8n", "mobilenet_v3_small") in pairs and ("fused", "yolov8n") in pairs, pairs
test = json.load(open(f"{s}/detect/yolov8n_test/predictions.json"))
assert c["n_test"] == len(test), (c["n_test"], len(test))
# the detector's test AUROC recomputed here from predictions.json and the OOF labels (sklearn)
from sklearn.metrics import roc_auc_score
import os
oof = {}
for r in csv.DictReader(open(f"{s}/classify/cv/oof_predictions.csv")):
    oof[os.path.realpath(r["image"])] = int(r["label"])
y, sc = [], []
for im in test:
    y.append(oof[os.path.realpath(im["file"])])
    sc.append(max([b["conf"] for b in im["boxes"]], default=0.0))
det = [x for x in c["scores"] if x["name"] == "yolov8n"][0]
assert abs(roc_auc_score(y, sc) - det["metrics"]["auroc"]["value"]) < 1e-12, (roc_auc_score(y, sc), det)
# external validation: frozen models at the development threshold; internal figures from the CV
e = json.load(open(f"{s}/external.json"))
dev = json.load(open(f"{s}/classify/cv/metrics.json"))["models"]["mobilenet_v3_small"]
assert e["n_images"] == 40, e["n_images"]
row = e["classifiers"][0]
assert row["model"] == "mobilenet_v3_small"
youden = [o for o in dev["operating_points"] if o["criterion"] == "youden"][0]
assert row["threshold"] == youden["threshold_mean"], (row["threshold"], youden)
f = row["figures"]
assert f["auroc"]["internal"] == dev["auroc"]["value"], (f["auroc"], dev["auroc"])
assert abs(f["auroc"]["change"] - (f["auroc"]["value"] - dev["auroc"]["value"])) < 1e-12
for k in ("ece", "citl", "slope", "brier", "recall", "specificity"):
    assert k in f, k
assert e["detectors"][0]["model"] == "yolov8n", e["detectors"]
# Grad-CAM pointing game: the test images with a fracture box, hits within them, chance in (0, 1)
g = json.load(open(f"{s}/pointing_game.json"))
n_frac = sum(1 for im in test if oof[os.path.realpath(im["file"])] == 1)
assert g["model"] == "mobilenet_v3_small" and g["n_images"] == n_frac and 0 <= g["hits"] <= n_frac, (g, n_frac)
assert 0 < g["chance"] < 1, g
PY
# resume of a finished study: nothing retrained, the same files
# shellcheck disable=SC2086
"$BIN" study resume="$S" workers=1 > "$TMP/again.txt" 2> "$TMP/again.err"
grep -q "done before (fold.json), skipped" "$TMP/again.err"
grep -q "yolov8n: trained before (metrics.json), kept" "$TMP/again.err"
cmp "$S/summary.md" <(cat "$S/summary.md")
cp "$S/compare.json" "$TMP/compare_first.json"
cmp "$TMP/compare_first.json" "$S/compare.json"
# killed with SIGKILL three times, each when a given file appears (after the first fold, after the
# detector's first checkpoint, after its test evaluation), resumed: the same bytes as never killed
K="$TMP/runs/study/killed"
kill_when() {  # $1 = file under the study that triggers the kill; then the command to run
  local f=$1; shift
  "$@" > /dev/null 2>&1 &
  local pid=$! i
  for i in $(seq 1 6000); do
    [ -e "$K/$f" ] && break
    kill -0 "$pid" 2> /dev/null || break
    sleep 0.01
  done
  kill -9 "$pid" 2> /dev/null || true
  wait "$pid" 2> /dev/null || true
}
# shellcheck disable=SC2086
kill_when classify/cv/folds/mobilenet_v3_small/r0f0/fold.json "$BIN" study $COMMON name=killed
test -d "$K" || { echo "the killed study made no directory"; exit 1; }
kill_when detect/yolov8n/weights/last_state.json "$BIN" study resume="$K" workers=1
test -e "$K/detect/yolov8n/weights/last_state.json" || { echo "the detector's checkpoint never appeared"; exit 1; }
kill_when detect/yolov8n_test/metrics.json "$BIN" study resume="$K" workers=1
"$BIN" study resume="$K" workers=1 > /dev/null 2>&1
for f in compare.json compare.csv detection.csv summary.md classify/cv/metrics.json detect/yolov8n_test/metrics.json \
         external.json pointing_game.json; do
  cmp "$S/$f" "$K/$f" || { echo "killed+resumed study differs in $f"; exit 1; }
done
# sharded (shard=i/2, name=): two processes started together, each training its share of the jobs
# (shard 0: fold job 0 and the detector; shard 1: fold job 1); the one that finishes last writes
# the report: the same bytes as one process
# shellcheck disable=SC2086
"$BIN" study $COMMON name=sharded shard=0/2 > "$TMP/sh0.txt" 2>&1 &
P0=$!
# shellcheck disable=SC2086
"$BIN" study $COMMON name=sharded shard=1/2 > "$TMP/sh1.txt" 2>&1 || { cat "$TMP/sh1.txt"; exit 1; }
wait $P0 || { cat "$TMP/sh0.txt"; exit 1; }
H="$TMP/runs/study/sharded"
test ! -e "$TMP/runs/study/sharded2" || { echo "a shard made its own study directory"; exit 1; }
# shard 1 (one fold) ends long before shard 0 (a fold and a detector) and leaves the report to it
grep -q "this shard's jobs are done; the report comes when the last shard finishes" "$TMP/sh1.txt" ||
  { cat "$TMP/sh1.txt"; exit 1; }
for f in compare.json compare.csv detection.csv summary.md classify/cv/metrics.json detect/yolov8n_test/metrics.json \
         external.json pointing_game.json; do
  cmp "$S/$f" "$H/$f" || { echo "sharded study differs in $f"; exit 1; }
done
# shellcheck disable=SC2086
if "$BIN" study $COMMON shard=0/2 > /dev/null 2> "$TMP/noname.err"; then echo "expected: shard without name"; exit 1; fi
grep -q "shard=0/2 needs name=" "$TMP/noname.err" || { cat "$TMP/noname.err"; exit 1; }
# fracture predict with the study: a folder (one unusable file counted, strict=false), one PNG, one DICOM
mkdir -p "$TMP/scans"
cp "$TMP"/ext/images/test/*.png "$TMP/scans/"
head -c 200 "$(ls "$TMP"/ext/images/test/*.png | head -1)" > "$TMP/scans/broken.png"  # a truncated PNG
"$BIN" predict model="$S" source="$TMP/scans" strict=false project="$TMP/runs" name=folder workers=1 \
  > "$TMP/pred.txt" 2> "$TMP/pred.err"
grep -q "1 unusable files left out" "$TMP/pred.txt"
/usr/bin/python3 - "$S" "$TMP/runs/predict/folder" "$TMP/scans" <<'PY'
import json, os, sys
from PIL import Image
s, run, scans = sys.argv[1:]
dev = json.load(open(f"{s}/classify/cv/metrics.json"))["models"]["mobilenet_v3_small"]
cut = {o["criterion"]: o["threshold_mean"] for o in dev["operating_points"]}
preds = json.load(open(f"{run}/predictions.json"))
pngs = sorted(f for f in os.listdir(scans) if f != "broken.png")
assert len(preds) == len(pngs), (len(preds), len(pngs))
for p in preds:
    assert 0 <= p["probability"] <= 1 and p["threshold"] == cut["youden"], p
    assert p["fractured"] == (p["probability"] >= p["threshold"]), p
    lo, hi = cut["sensitivity>=0.95"], cut["specificity>=0.90"]
    want = "positive" if p["probability"] >= max(lo, hi) else "negative" if p["probability"] < min(lo, hi) else "doubtful"
    assert p["triage"] == want, (p, lo, hi)
    assert p["detector"] == "yolov8n" and isinstance(p["boxes"], list)
    im = Image.open(f"{run}/{p['overlay']}")
    assert im.size == (p["width"], p["height"]) and im.mode == "RGB", (im.size, im.mode, p)
PY
ONE=$(ls "$TMP/ext/images/test" | head -1)
"$BIN" predict model="$S" source="$TMP/ext/images/test/$ONE" project="$TMP/runs" workers=1 | grep -q "$ONE"
# Grad-CAM on an inner layer (gradcam_layer), and a layer the backbone does not have
"$BIN" predict model="$S" source="$TMP/ext/images/test/$ONE" project="$TMP/runs" name=inner gradcam_layer=features.8 \
  workers=1 > /dev/null
test -s "$TMP/runs/predict/inner/predictions.json"
if "$BIN" predict model="$S" source="$TMP/ext/images/test/$ONE" project="$TMP/runs" gradcam_layer=layer4 \
  > /dev/null 2> "$TMP/err.txt"; then echo "expected failure: gradcam_layer=layer4 on mobilenet_v3_small"; exit 1; fi
grep -q "Grad-CAM layer 'layer4': expected one of features.0, " "$TMP/err.txt"
if [ -d "$TMP/ext/dicom/test" ]; then
  DCM=$(ls "$TMP/ext/dicom/test" | head -1)
  "$BIN" predict model="$S" source="$TMP/ext/dicom/test/$DCM" project="$TMP/runs" name=dcm workers=1 > /dev/null
  test -s "$TMP/runs/predict/dcm/${DCM%.*}.png"
fi
# a classify cv run alone (probability, triage, Grad-CAM; no boxes) and a detect run alone (boxes only)
"$BIN" predict model="$S/classify/cv" source="$TMP/scans" strict=false project="$TMP/runs" name=cvonly workers=1 > /dev/null 2>&1
"$BIN" predict model="$S/detect/yolov8n" source="$TMP/scans" strict=false project="$TMP/runs" name=detonly workers=1 > /dev/null 2>&1
/usr/bin/python3 - "$TMP/runs/predict" <<'PY'
import json, sys
d = sys.argv[1]
full = {p["file"]: p for p in json.load(open(f"{d}/folder/predictions.json"))}
cv = json.load(open(f"{d}/cvonly/predictions.json"))
det = json.load(open(f"{d}/detonly/predictions.json"))
assert len(cv) == len(det) == len(full)
for p in cv:  # the same classifier as the study's: the same probability and triage
    q = full[p["file"]]
    assert p["probability"] == q["probability"] and p["triage"] == q["triage"] and p["boxes"] == [] and p["detector"] == "", p
for p in det:  # the same detector as the study's: the same boxes, no classifier fields
    q = full[p["file"]]
    assert p["probability"] is None and p["triage"] is None and p["boxes"] == q["boxes"], (p, q)
PY
if "$BIN" predict model="$TMP/data" source="$TMP/scans" > /dev/null 2> "$TMP/err.txt"; then
  echo "expected failure: predict with a dataset as model"; exit 1; fi
grep -q "fracture predict takes a study directory (runs/study/<name>), a classify cv run" "$TMP/err.txt"

# errors
if "$BIN" study data="$TMP/data/data.yaml" detectors=[yolov9n] project="$TMP/runs" > /dev/null 2> "$TMP/err.txt"; then
  echo "expected failure for detectors=[yolov9n]"; exit 1; fi
grep -q "key 'detectors': expected yolov8n, yolov8s or yolov8m, got 'yolov9n'" "$TMP/err.txt"
test ! -e "$TMP/runs/study/study" || { echo "a refused study left a directory"; exit 1; }
if "$BIN" study resume="$TMP/data" > /dev/null 2> "$TMP/err.txt"; then echo "expected failure: resume of a non-study"; exit 1; fi
# ... and writes nothing into that folder (a synth dataset has an args.yaml too)
[ ! -e "$TMP/data/study.json" ] || { echo "resume of a dataset folder wrote study.json into it"; exit 1; }
grep -q "not a fracture study directory" "$TMP/err.txt"
echo "cli study: ok"
