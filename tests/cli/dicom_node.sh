#!/usr/bin/env bash
# fracture dicom-node end to end with DCMTK's own tools on loopback: storescu sends radiographs,
# storescp (AE DEST) receives what the node sends back: per radiograph a Secondary Capture overlay
# and an Enhanced SR in the original's study, the SR's result equal to `fracture predict` on the
# same file; a calling AE outside allowed_calling is refused; an object without pixel data gets
# status 0xC000 and the node goes on; no patient attribute reaches the log; SIGTERM stops it (exit 0).
# A dataset whose Pixel Data claims 4 GB behind 64 bytes (sent raw by tests/tools/dicom_raw_store.py)
# gets 0xC000 without the node reserving the 4 GB.
# $1 = fracture binary, $2 = source dir; cwd = build/tests.
set -euo pipefail
BIN=$1
SRC=$2
TMP=$(mktemp -d "$PWD/dicom_node.XXXXXX")
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill -9 "$p" 2> /dev/null || true; done; rm -rf "$TMP"; }
trap cleanup EXIT
trap 'echo "dicom_node.sh: line $LINENO failed: $BASH_COMMAND"; tail -5 "$TMP/node.err" 2> /dev/null' ERR
export TMPDIR="$TMP"
free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
"$BIN" synth out="$TMP/data" n=60 imgsz=64 seed=1 difficulty=easy > /dev/null 2>&1
"$BIN" study data="$TMP/data/data.yaml" cls_data="$TMP/data/classification.csv" model=mobilenet_v3_small epochs=1 \
  imgsz=32 batch=8 folds=2 repeats=1 detectors=[yolov8n] det_epochs=1 det_imgsz=64 workers=1 project="$TMP/runs" \
  name=s > /dev/null 2>&1
S="$TMP/runs/study/s"
"$BIN" synth out="$TMP/dcm" n=6 imgsz=64 seed=2 dicom=true > /dev/null 2>&1
mapfile -t DCMS < <(find "$TMP/dcm" -name '*.dcm' | sort | head -3)
"$BIN" predict model="$S" source="${DCMS[0]}" project="$TMP/runs" name=ref workers=1 > /dev/null 2>&1

DEST_PORT=$(free_port)
mkdir -p "$TMP/out"
timeout 300 storescp -aet DEST -od "$TMP/out" "$DEST_PORT" > "$TMP/storescp.log" 2>&1 &
PIDS+=("$!")
NODE_PORT=$(free_port)
timeout 300 "$BIN" dicom-node model="$S" ae_title=FRACTURE dicom_port="$NODE_PORT" dest="DEST@127.0.0.1:$DEST_PORT" \
  allowed_calling=[STORESCU] workers=1 > "$TMP/node.out" 2> "$TMP/node.err" &
NODE=$!
PIDS+=("$NODE")
for _ in $(seq 1 300); do grep -q "listening" "$TMP/node.out" 2> /dev/null && break; sleep 0.1; done
grep -q "listening as FRACTURE on port $NODE_PORT" "$TMP/node.out" || { cat "$TMP/node.err"; exit 1; }
sleep 0.5

# two radiographs in one association
storescu -aet STORESCU -aec FRACTURE 127.0.0.1 "$NODE_PORT" "${DCMS[0]}" "${DCMS[1]}" > "$TMP/scu.log" 2>&1 ||
  { cat "$TMP/scu.log" "$TMP/node.err"; exit 1; }
for _ in $(seq 1 100); do [ "$(find "$TMP/out" -type f | wc -l)" -ge 4 ] && break; sleep 0.1; done
[ "$(find "$TMP/out" -type f | wc -l)" -eq 4 ] || { ls -l "$TMP/out"; cat "$TMP/node.err"; exit 1; }
# dcmdump's output read whole before any grep (grep -q on a pipe could SIGPIPE dcmdump under pipefail)
dump() { local out; out=$(dcmdump -Un "$@"); printf '%s\n' "$out"; }
tag_of() { dump +P "$1" "$2" | sed -n '1s/.*\[\(.*\)\].*/\1/p'; }   # the first (top-level) value
study_of() { tag_of StudyInstanceUID "$1"; }
STUDY0=$(study_of "${DCMS[0]}")
SOP0=$(dcmdump -Un +P SOPInstanceUID "${DCMS[0]}" | sed 's/.*\[\(.*\)\].*/\1/')
SC=0; SR=0
for f in "$TMP"/out/*; do
  cls=$(tag_of SOPClassUID "$f")
  case "$cls" in
    1.2.840.10008.5.1.4.1.1.7) SC=$((SC + 1)); [ "$(tag_of PhotometricInterpretation "$f")" = RGB ] ;;
    1.2.840.10008.5.1.4.1.1.88.22) SR=$((SR + 1)) ;;
    *) echo "unexpected SOP class $cls"; exit 1 ;;
  esac
  # every result references an original's study
  s=$(study_of "$f")
  [ "$s" = "$STUDY0" ] || [ "$s" = "$(study_of "${DCMS[1]}")" ] || { echo "result outside the original study"; exit 1; }
  if [ "$cls" = 1.2.840.10008.5.1.4.1.1.88.22 ] && grep -q "$SOP0" <<< "$(dump "$f")"; then
    cp "$f" "$TMP/sr0.dcm"
  fi
done
[ "$SC" -eq 2 ] && [ "$SR" -eq 2 ] || { echo "SC $SC SR $SR"; exit 1; }
# the SR of radiograph 0 names the original's series in its evidence, and holds fracture predict's JSON
SERIES0=$(dcmdump -Un +P SeriesInstanceUID "${DCMS[0]}" | sed 's/.*\[\(.*\)\].*/\1/')
dcmdump -Un +P "CurrentRequestedProcedureEvidenceSequence" "$TMP/sr0.dcm" > /dev/null
grep -q "\[$SERIES0\].*SeriesInstanceUID" <<< "$(dump "$TMP/sr0.dcm")" || { echo "the SR does not name the original series"; exit 1; }
dcmdump -Un +L +P TextValue "$TMP/sr0.dcm" > "$TMP/sr0.txt"
/usr/bin/python3 - "$TMP/sr0.txt" "$TMP/runs/predict/ref/predictions.json" <<'PY'
import json, re, sys
text = open(sys.argv[1]).read()
m = re.search(r'\[(\{.*\})\]', text)
assert m, text[:500]
got = json.loads(m.group(1))
want = json.load(open(sys.argv[2]))[0]
for k in ("file", "overlay"):
    got.pop(k, None); want.pop(k, None)
assert got.keys() == want.keys(), (got.keys(), want.keys())
for k in want:
    if isinstance(want[k], float):
        assert abs(got[k] - want[k]) <= 1e-6, (k, got[k], want[k])
    else:
        assert got[k] == want[k], (k, got[k], want[k])
PY
# a calling AE not allowed: refused at association
if storescu -aet EVIL -aec FRACTURE 127.0.0.1 "$NODE_PORT" "${DCMS[2]}" > "$TMP/evil.log" 2>&1; then
  echo "expected the association from EVIL to be refused"; exit 1; fi
grep -q "calling AE 'EVIL' refused" "$TMP/node.err"
# an object without pixel data: status 0xC000, and the node goes on
cp "${DCMS[2]}" "$TMP/nopixel.dcm"
dcmodify -q -nb -ea "(7fe0,0010)" "$TMP/nopixel.dcm"
storescu -v -aet STORESCU -aec FRACTURE 127.0.0.1 "$NODE_PORT" "$TMP/nopixel.dcm" > "$TMP/nopix.log" 2>&1 || true
grep -q "Received Store Response (Error: CannotUnderstand)" "$TMP/nopix.log" || { cat "$TMP/nopix.log"; exit 1; }
grep -q "not predicted, status 0xC000" "$TMP/node.err"
# Pixel Data claiming 4 GB (0xF0000000 bytes) with 64 behind it: refused from the received file,
# and the node's address space (VmPeak) does not grow by the claim. Parsed in memory, as before, the
# dataset made DCMTK reserve the claimed length (VmPeak 1.18 -> 5.10 GB) and abort the association.
NODE_FRACTURE=$(pgrep -P "$NODE" -f dicom-node)
peak() { awk '/^VmPeak/ {print $2}' "/proc/$NODE_FRACTURE/status"; }   # kB
PEAK0=$(peak)
STATUS=$(/usr/bin/python3 "$SRC/tests/tools/dicom_raw_store.py" 127.0.0.1 "$NODE_PORT" FRACTURE STORESCU 4026531840)
[ "$STATUS" = 0xC000 ] || { echo "4 GB claim: status $STATUS"; tail -3 "$TMP/node.err"; exit 1; }
PEAK1=$(peak)
[ $((PEAK1 - PEAK0)) -lt 1048576 ] || { echo "4 GB claim: VmPeak grew from $PEAK0 to $PEAK1 kB"; exit 1; }
grep -q "(unreadable): not predicted, status 0xC000: the received object is not readable DICOM" "$TMP/node.err" ||
  { tail -3 "$TMP/node.err"; exit 1; }
storescu -aet STORESCU -aec FRACTURE 127.0.0.1 "$NODE_PORT" "${DCMS[2]}" > /dev/null 2>&1
# no patient attribute in the log
PID0=$(dcmdump -Un +P PatientID "${DCMS[0]}" | sed 's/.*\[\(.*\)\].*/\1/')
[ -n "$PID0" ] && ! grep -qF "$PID0" "$TMP/node.err" || { echo "a patient ID reached the log"; exit 1; }
! grep -qF "$SOP0" "$TMP/node.err" || { echo "a SOP Instance UID reached the log"; exit 1; }
kill -TERM "$NODE"
wait "$NODE"
grep -q "dicom-node: stopped (signal)" "$TMP/node.err"
echo "dicom_node: ok"
