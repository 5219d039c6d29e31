#!/usr/bin/env bash
# Load test of `fracture serve` on loopback (docs/serving.md): a small study on synthetic 256 px
# radiographs, then `requests` POSTs at 1, 4 and 16 connections, one in ten malformed
# (build/tests/serve_client checks every answer against `fracture predict` on the same files), the
# server's peak RSS (VmHWM) after each level, and single-image `fracture predict` (one process per
# image: loading included) for comparison. Usage, from the checkout after building:
#   bash bench/serve_load.sh [requests=10000]
set -euo pipefail
N=${1:-10000}
B=$PWD/build/fracture
C=$PWD/build/tests/serve_client
W=$(mktemp -d /tmp/serve_load.XXXXXX)
trap 'kill -9 $(jobs -p) 2> /dev/null || true; rm -rf "$W"' EXIT
"$B" synth out="$W/data" n=200 imgsz=256 seed=3 > /dev/null 2>&1
"$B" study data="$W/data/data.yaml" cls_data="$W/data/classification.csv" model=mobilenet_v3_small epochs=2 imgsz=64 \
  batch=16 folds=3 repeats=1 detectors=[yolov8n] det_epochs=2 det_imgsz=160 workers=1 project="$W/runs" name=s \
  > /dev/null 2>&1
S="$W/runs/study/s"
"$B" predict model="$S" source="$W/data/images/test" project="$W/runs" name=ref workers=1 > /dev/null 2>&1
REF="$W/runs/predict/ref/predictions.json"
IMGS=$(ls "$W"/data/images/test/*.png | wc -l)
echo "study: $(cat "$S/classify/cv/run.json" | tr -d '\n' | head -c 80) ; $IMGS test images, 256 px"
# single-image fracture predict: wall time of the whole process (model loading included), 5 runs
for i in 1 2 3 4 5; do
  f=$(ls "$W"/data/images/test/*.png | sed -n "${i}p")
  /usr/bin/time -f "%e %M" -o "$W/t$i" "$B" predict model="$S" source="$f" project="$W/runs" name=one$i workers=1 > /dev/null 2>&1
done
echo "fracture predict, one image per process: wall s and peak RSS KiB: $(cat "$W"/t? | tr '\n' ' ')"
rm -f "$W/port"
"$B" serve model="$S" port=0 port_file="$W/port" workers=1 > /dev/null 2> "$W/serve.err" &
PID=$!
for _ in $(seq 1 300); do [ -s "$W/port" ] && break; sleep 0.1; done
PORT=$(cat "$W/port")
echo "| connections | requests | 200 | 4xx | 503 | wrong | req/s | p50 ms | p95 ms | p99 ms | server peak RSS MiB |"
echo "|---|---|---|---|---|---|---|---|---|---|---|"
for c in 1 4 16; do
  "$C" port="$PORT" expected="$REF" requests="$N" concurrency="$c" bad_every=10 > "$W/r$c.json" || true
  HWM=$(awk '/VmHWM/ {print $2}' /proc/$PID/status)
  /usr/bin/python3 - "$W/r$c.json" "$HWM" <<'PY'
import json, sys
r = json.load(open(sys.argv[1])); st = r["statuses"]
four = sum(v for k, v in st.items() if k.startswith("4"))
print(f"| {r['concurrency']} | {r['requests']} | {st.get('200', 0)} | {four} | {st.get('503', 0)} | {r['wrong']} "
      f"| {r['requests_per_s']:.1f} | {r['good_p50_ms']:.1f} | {r['good_p95_ms']:.1f} | {r['good_p99_ms']:.1f} "
      f"| {int(sys.argv[2]) / 1024:.0f} |")
if r["first_wrong"]: print("first wrong:", r["first_wrong"])
PY
done
kill -TERM $PID; wait $PID
grep -c "batch of [2-9]" "$W/serve.err" | sed 's/^/answers from batches of 2 or more: /'

# The DICOM node: 100 associations from DCMTK's storescu, one radiograph each (one in ten without
# pixel data), results to DCMTK's storescp; seconds per association (C-STORE answered after the
# prediction and the delivery of both results) and the node's peak RSS.
"$B" synth out="$W/dcm" n=40 imgsz=256 seed=4 dicom=true > /dev/null 2>&1
mapfile -t D < <(find "$W/dcm" -name '*.dcm' | sort)
cp "${D[0]}" "$W/nopixel.dcm"; dcmodify -q -nb -ea "(7fe0,0010)" "$W/nopixel.dcm"
port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
DP=$(port); NP=$(port)
mkdir -p "$W/out"
storescp -aet DEST -od "$W/out" "$DP" > /dev/null 2>&1 &
SCP=$!
"$B" dicom-node model="$S" dicom_port="$NP" dest="DEST@127.0.0.1:$DP" workers=1 > "$W/node.out" 2> "$W/node.err" &
NODE=$!
for _ in $(seq 1 300); do grep -q listening "$W/node.out" 2> /dev/null && break; sleep 0.1; done
: > "$W/assoc.txt"
for i in $(seq 0 99); do
  if [ $((i % 10)) -eq 9 ]; then f="$W/nopixel.dcm"; else f="${D[$((i % ${#D[@]}))]}"; fi
  s=$(date +%s.%N)
  storescu -aet SCU -aec FRACTURE 127.0.0.1 "$NP" "$f" > /dev/null 2>&1 || true
  echo "$(date +%s.%N) $s" | awk '{print ($1 - $2) * 1000}' >> "$W/assoc.txt"
done
HWM=$(awk '/VmHWM/ {print $2}' /proc/$NODE/status)
kill -TERM $NODE; wait $NODE || true
kill $SCP; wait $SCP 2> /dev/null || true
/usr/bin/python3 - "$W/assoc.txt" "$HWM" "$(find "$W/out" -type f | wc -l)" "$(grep -c 'status 0xC000' "$W/node.err")" \
  "$(grep -c 'overlay and SR sent' "$W/node.err")" <<'PY'
import sys
ms = sorted(float(x) for x in open(sys.argv[1]))
p = lambda q: ms[min(len(ms) - 1, int(q / 100 * len(ms)))]
print(f"dicom-node: {len(ms)} associations, {sys.argv[5]} predicted (overlay + SR sent), {sys.argv[4]} refused "
      f"with 0xC000, {sys.argv[3]} result objects received by storescp; per association p50 {p(50):.0f} ms, "
      f"p95 {p(95):.0f} ms, p99 {p(99):.0f} ms (storescu process start included); node peak RSS "
      f"{int(sys.argv[2]) / 1024:.0f} MiB")
PY
