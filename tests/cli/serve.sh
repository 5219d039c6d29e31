#!/usr/bin/env bash
# fracture serve on loopback (serve/http.h): answers equal `fracture predict` on the same files
# (tests/tools/serve_client: 200 requests over 4 connections, one in ten malformed); health, model,
# metrics; every bad input gets its 4xx with a JSON error and the service keeps serving; a full
# queue answers 503 with Retry-After; SIGTERM answers the request in flight, then exits 0; no client
# file name reaches the log. Every server is bounded (max_requests or SIGTERM, and `timeout`).
# $1 = fracture binary; cwd = build/tests.
set -euo pipefail
BIN=$1
CLIENT=$PWD/serve_client
TMP=$(mktemp -d "$PWD/serve.XXXXXX")
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill -9 "$p" 2> /dev/null || true; done; rm -rf "$TMP"; }
trap cleanup EXIT
export TMPDIR="$TMP"
"$BIN" synth out="$TMP/data" n=60 imgsz=64 seed=1 difficulty=easy > /dev/null 2>&1
"$BIN" study data="$TMP/data/data.yaml" cls_data="$TMP/data/classification.csv" model=mobilenet_v3_small epochs=1 \
  imgsz=32 batch=8 folds=2 repeats=1 detectors=[yolov8n] det_epochs=1 det_imgsz=64 workers=1 project="$TMP/runs" \
  name=s > /dev/null 2>&1
S="$TMP/runs/study/s"
"$BIN" predict model="$S" source="$TMP/data/images/test" project="$TMP/runs" name=ref workers=1 > /dev/null 2>&1
REF="$TMP/runs/predict/ref/predictions.json"

start() {  # $1 = log name, then keys; sets PORT and PID
  local log=$1; shift
  rm -f "$TMP/port"
  timeout 300 "$BIN" serve model="$S" port=0 port_file="$TMP/port" workers=1 "$@" > "$TMP/$log.out" 2> "$TMP/$log.err" &
  PID=$!
  PIDS+=("$PID")
  for _ in $(seq 1 300); do [ -s "$TMP/port" ] && break; sleep 0.1; done
  [ -s "$TMP/port" ] || { cat "$TMP/$log.err"; exit 1; }
  PORT=$(cat "$TMP/port")
}

start main max_requests=400
URL="http://127.0.0.1:$PORT"
grep -q '"ready":true' <<< "$(curl -sf "$URL/health")"
curl -sf "$URL/v1/model" | /usr/bin/python3 -c 'import json,sys; m=json.load(sys.stdin); assert m["classifier"]["architecture"]=="mobilenet_v3_small" and m["detector"]["name"]=="yolov8n" and m["batching"]["max_batch"]==8, m'
# answers: 200 requests, one in ten malformed, 4 connections
"$CLIENT" port="$PORT" expected="$REF" requests=200 concurrency=4 bad_every=10 > "$TMP/load.json" ||
  { cat "$TMP/load.json"; exit 1; }
/usr/bin/python3 - "$TMP/load.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
assert r["wrong"] == 0 and r["transport_failures"] == 0, r
assert r["statuses"].get("200") == 180, r
PY
# bad inputs, one by one: status and JSON error
IMG=$(ls "$TMP"/data/images/test/*.png | head -1)
code() { curl -s -o "$TMP/body" -w '%{http_code}' "$@"; }
[ "$(code -X POST --data-binary 'hello' "$URL/v1/predict")" = 415 ]
grep -q '"error":"the body is not a PNG, JPEG, TIFF, BMP or DICOM Part 10 file"' "$TMP/body"
# a GIF: recognised by the image sniffer, not a format we decode
[ "$(code -X POST --data-binary 'GIF89a\x01\x00\x01\x00' "$URL/v1/predict")" = 415 ]
[ "$(code -X POST -H 'Content-Length: 0' "$URL/v1/predict")" = 400 ]
# 2 GB declared: refused from the header, before a byte of the body is read
[ "$(code -m 20 -X POST -H 'Content-Type: application/octet-stream' -H 'Content-Length: 2147483648' \
     --data-binary @"$IMG" "$URL/v1/predict")" = 413 ]
grep -q "over the limit of 67108864 bytes" "$TMP/body"
[ "$(code -F "file=@$IMG;filename=../../etc/passwd" "$URL/v1/predict")" = 400 ]
grep -q "plain name" "$TMP/body"
[ "$(code -F "other=@$IMG" "$URL/v1/predict")" = 400 ]
head -c 300 "$IMG" > "$TMP/trunc.png"
[ "$(code -X POST --data-binary @"$TMP/trunc.png" "$URL/v1/predict")" = 422 ]
grep -q "truncated" "$TMP/body"
# a DICOM without pixel data
"$BIN" synth out="$TMP/dcm" n=2 imgsz=64 seed=2 dicom=true > /dev/null 2>&1
DCM=$(find "$TMP/dcm" -name '*.dcm' | head -1)
dcmodify -q -nb -ea "(7fe0,0010)" "$DCM"
[ "$(code -X POST -H 'Content-Type: application/dicom' --data-binary @"$DCM" "$URL/v1/predict")" = 422 ]
grep -qi "pixel" "$TMP/body" || { cat "$TMP/body"; exit 1; }
[ "$(code "$URL/nope")" = 404 ]
grep -q '"status":404' "$TMP/body"
# a slow client: the body never completes -> a JSON 400 after read_timeout, the service goes on
/usr/bin/python3 - "$PORT" <<'PY'
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\nContent-Length: 1000\r\n\r\n\x89PNG")
s.settimeout(30)
t = time.time()
data = b""
while b'"error"' not in data:
    chunk = s.recv(4096)
    if not chunk:
        break
    data += chunk
assert data.startswith(b"HTTP/1.1 400") and b'"error"' in data, data
assert time.time() - t < 25, time.time() - t
PY
# a client's file name never reaches the log; the multipart answer names it
[ "$(code -F "file=@$IMG;filename=DOE_JOHN.png" "$URL/v1/predict")" = 200 ]
grep -q '"file": "DOE_JOHN.png"' "$TMP/body"
[ "$(code -F "file=@$TMP/trunc.png;filename=DOE_JANE.png" "$URL/v1/predict")" = 422 ]
grep -q "DOE_JANE.png" "$TMP/body"
! grep -q "DOE_J" "$TMP/main.err" || { echo "a client file name reached the log"; exit 1; }
# found by fuzzing (tests/fuzz/targets/http_request.cpp): a file name (or header) that is not UTF-8
# made the JSON answer throw, which cpp-httplib turned into a bare 500; now U+FFFD stands for it
[ "$(code -F "file=@$IMG;filename=$(printf 'r\xe9sum\xe9.png')" "$URL/v1/predict")" = 200 ]
/usr/bin/python3 -c 'import json,sys; f=json.load(open(sys.argv[1]))["file"]; assert f == "r\ufffdsum\ufffd.png", f' "$TMP/body"
[ "$(code -F "file=@$IMG;filename=x.png" "$URL/v1/predict?overlay=true")" = 200 ]
/usr/bin/python3 -c 'import base64,json,sys; b=base64.b64decode(json.load(open(sys.argv[1]))["overlay_png_base64"]); assert b[:8]==b"\x89PNG\r\n\x1a\n"' "$TMP/body"
curl -sf "$URL/metrics" > "$TMP/metrics.txt"
grep -q 'fracture_requests_total{route="/v1/predict",status="200"}' "$TMP/metrics.txt"
grep -q 'fracture_errors_total{kind="too_large"} 1' "$TMP/metrics.txt"
grep -q '^fracture_queue_depth 0' "$TMP/metrics.txt"
grep -q '^fracture_request_seconds_count' "$TMP/metrics.txt"
# the uploads folder is empty after the answers (nothing is kept)
[ -z "$(find "$TMP" -path '*fracture-serve-*' -type f)" ] || { echo "uploads were kept"; exit 1; }
kill -TERM "$PID"; wait "$PID"

# back-pressure: queue 1, the worker waiting 1 s for a fuller batch: of 12 requests at once, the
# ones beyond the queue get 503 with Retry-After; SIGTERM then answers the ones in flight, exit 0
start small queue=1 max_batch=8 max_wait_ms=1000
/usr/bin/python3 - "$PORT" "$IMG" "$PID" <<'PY'
import http.client, os, signal, sys, threading, time
port, img, pid = int(sys.argv[1]), open(sys.argv[2], "rb").read(), int(sys.argv[3])
res, lock = [], threading.Lock()
def one():
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    c.request("POST", "/v1/predict", body=img, headers={"Content-Type": "image/png"})
    r = c.getresponse()
    with lock:
        res.append((r.status, r.getheader("Retry-After"), r.read()))
ts = [threading.Thread(target=one) for _ in range(12)]
for t in ts: t.start()
time.sleep(0.4)
os.kill(pid, signal.SIGTERM)  # while the queued request waits for its batch
for t in ts: t.join()
codes = sorted(s for s, _, _ in res)
assert codes.count(200) >= 1 and codes.count(503) >= 1 and set(codes) <= {200, 503}, codes
assert all(ra == "1" for s, ra, _ in res if s == 503), res
PY
wait "$PID"  # exit status 0: stopped by the signal after answering
grep -q "serve: stopped (signal)" "$TMP/small.err"
echo "serve: ok"
