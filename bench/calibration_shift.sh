#!/usr/bin/env bash
# Calibration under class weighting, before and after, on a strongly imbalanced synthetic set:
# the same cross-validated classifier (class_weights=true, so pos_weight = n_neg / n_pos shifts
# every logit by about log(pos_weight)) calibrated by calibration=temperature and platt, and the
# calibration figures of each study side by side (docs/classification.md keeps the table). The
# "none" row is the uncalibrated sigmoid(logit) of the same folds: each study's "before" figures.
#   bash bench/calibration_shift.sh build/fracture [OUT_DIR]
# Environment: N (images, 1000), RATE (fracture_rate, 0.12), EPOCHS (8), MODEL (mobilenet_v3_small).
set -euo pipefail
BIN=$1
OUT=${2:-runs/calibration_shift}
N=${N:-1000}; RATE=${RATE:-0.12}; EPOCHS=${EPOCHS:-8}; MODEL=${MODEL:-mobilenet_v3_small}
mkdir -p "$OUT"
"$BIN" synth out="$OUT/data" n="$N" imgsz=128 seed=3 fracture_rate="$RATE" > /dev/null
for method in temperature platt; do
  if [ ! -s "$OUT/classify/$method/metrics.json" ]; then
    "$BIN" classify cv data="$OUT/data/classification.csv" model="$MODEL" folds=3 repeats=1 epochs="$EPOCHS" \
      imgsz=96 class_weights=true calibration="$method" seed=0 project="$OUT" name="$method" > /dev/null
  fi
done
/usr/bin/python3 - "$OUT" "$MODEL" <<'PY'
import json, sys
out, model = sys.argv[1], sys.argv[2]
print(f"| calibration | ECE before | ECE after | Brier after | intercept before | intercept after | slope after | AUROC |")
print("|---|---|---|---|---|---|---|---|")
f = lambda d: f"{d['value']:.3f} ({d['ci_low']:.3f}-{d['ci_high']:.3f})"
for method in ("temperature", "platt"):
    m = json.load(open(f"{out}/classify/{method}/metrics.json"))["models"][model]
    c = m["calibration"]
    if method == "temperature":  # the same folds' logits, uncalibrated
        print(f"| none | {f(c['before']['ece'])} | {f(c['before']['ece'])} | {f(c['before']['brier'])} | "
              f"{f(c['before']['citl'])} | {f(c['before']['citl'])} | {f(c['before']['slope'])} | {f(m['auroc'])} |")
    print(f"| {method} | {f(c['before']['ece'])} | {f(c['after']['ece'])} | {f(c['after']['brier'])} | "
          f"{f(c['before']['citl'])} | {f(c['after']['citl'])} | {f(c['after']['slope'])} | {f(m['auroc'])} |")
    if c.get("warning"): print(f"  warning: {c['warning']}")
PY
