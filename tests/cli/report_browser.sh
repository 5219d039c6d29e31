#!/usr/bin/env bash
# The study's report.html in a real browser: headless Chromium (Debian's chromium, installed by
# scripts/install_deps.sh) with every host name unresolvable, so the page must work offline. It
# must draw every chart (the page marks <body data-charts-rendered="N">, N = its chart count), log
# nothing to the console (errors, Vega warnings), and show every sample radiograph. The screenshot
# is kept: build/tests/report_screenshot.png. $1 = fracture binary; cwd = build/tests.
set -euo pipefail
BIN=$1
TMP=$(mktemp -d "$PWD/report_browser.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
CHROME=$(command -v chromium || command -v chromium-browser || true)
[ -n "$CHROME" ] || { echo "report_browser: chromium is not installed (scripts/install_deps.sh installs it)"; exit 1; }
"$BIN" synth out="$TMP/data" n=60 imgsz=64 seed=1 difficulty=easy > /dev/null 2>&1
"$BIN" study data="$TMP/data/data.yaml" cls_data="$TMP/data/classification.csv" model=mobilenet_v3_small epochs=1 \
  imgsz=32 batch=8 folds=2 repeats=1 detectors=[yolov8n] det_epochs=2 det_imgsz=64 workers=1 project="$TMP/runs" \
  name=s > /dev/null 2> "$TMP/study.err"
R="$TMP/runs/study/s/report.html"
test -s "$R" || { echo "no report.html"; cat "$TMP/study.err"; exit 1; }
# nothing is fetched: no element loads from a URL (the vendored scripts are inline)
if grep -Eq '<(script|link|img)[^>]+(src|href)="(https?:)?//' "$R"; then echo "report.html loads from the network"; exit 1; fi
CHARTS=$(grep -o '<div class="chart" id="[^"]*">' "$R" | wc -l)
IMGS=$(grep -o 'src="data:image/png;base64,' "$R" | wc -l)
SAMPLES=$(/usr/bin/python3 -c "import json,sys; print(len(json.load(open(sys.argv[1]))))" "$TMP/runs/study/s/samples/samples.json")
[ "$CHARTS" -ge 8 ] || { echo "expected at least 8 charts, the page has $CHARTS"; exit 1; }
[ "$IMGS" -eq "$SAMPLES" ] && [ "$SAMPLES" -ge 1 ] || { echo "sample images: $IMGS in the page, $SAMPLES in samples.json"; exit 1; }
FLAGS=(--headless --no-sandbox --disable-gpu --disable-dev-shm-usage --hide-scrollbars --no-first-run
       --host-resolver-rules="MAP * ~NOTFOUND" --enable-logging=stderr --v=0 --virtual-time-budget=20000
       --user-data-dir="$TMP/profile")
timeout 120 "$CHROME" "${FLAGS[@]}" --dump-dom "file://$R" > "$TMP/dom.html" 2> "$TMP/chrome.err"
if grep -q "INFO:CONSOLE" "$TMP/chrome.err"; then echo "console messages:"; grep "INFO:CONSOLE" "$TMP/chrome.err"; exit 1; fi
BODY=$(grep -o '<body[^>]*>' "$TMP/dom.html" | tail -1)  # the scripts' text can hold "<body>" too
case "$BODY" in *data-chart-error*) echo "a chart failed: $BODY"; exit 1;; esac
case "$BODY" in *"data-charts-rendered=\"$CHARTS\""*) ;; *)
  echo "not every chart rendered (want $CHARTS): $BODY"; tail -5 "$TMP/chrome.err"; exit 1;; esac
# each chart element holds an SVG drawing with marks
/usr/bin/python3 - "$TMP/dom.html" "$CHARTS" <<'PY'
import re, sys
dom, n = open(sys.argv[1]).read(), int(sys.argv[2])
parts = re.split(r'<div class="chart[^"]*" id="', dom)[1:]
assert len(parts) == n, (len(parts), n)
for p in parts:
    cid = p.split('"', 1)[0]
    body = p.split("</figure>", 1)[0]
    assert "<svg" in body and ("<path" in body or "<rect" in body), f"chart {cid} has no SVG marks"
PY
timeout 120 "$CHROME" "${FLAGS[@]}" --window-size=1280,2600 --screenshot="$TMP/shot.png" "file://$R" > /dev/null 2>&1
test -s "$TMP/shot.png" || { echo "no screenshot"; exit 1; }
cp "$TMP/shot.png" "$PWD/report_screenshot.png"
echo "report_browser: $CHARTS charts and $IMGS sample radiographs rendered offline; screenshot $PWD/report_screenshot.png"
