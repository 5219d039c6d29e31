#!/usr/bin/env bash
# fracture detect train / val / predict end to end on a tiny synthetic set, plus error cases.
# $1 = fracture binary, $2 = source dir; cwd = build/tests.
set -euo pipefail
BIN=$1
SRC=$2
TMP=$(mktemp -d "$PWD/detect_cli.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
"$BIN" synth out="$TMP/d" n=30 imgsz=64 seed=1 > /dev/null 2>&1
D="$TMP/d/data.yaml"

# train: 1 epoch
"$BIN" detect train data="$D" model=yolov8n epochs=1 imgsz=64 batch=4 workers=1 project="$TMP/runs" > "$TMP/train.txt" 2>&1
RUN="$TMP/runs/detect/train"
for f in args.yaml results.csv metrics.json curves.json curves.csv predictions.json weights/last.safetensors \
         weights/best.safetensors weights/names.json weights/resume_e1_optimizer.safetensors weights/last_state.json; do
  [ -f "$RUN/$f" ] || { echo "missing $RUN/$f"; cat "$TMP/train.txt"; exit 1; }
done
# curve plots (Ultralytics' names), when some class has ground truth: decodable 900x650 PNGs
/usr/bin/python3 - "$RUN" <<'PY'
import json, os, sys
from PIL import Image
run = sys.argv[1]
classes = json.load(open(os.path.join(run, 'curves.json')))['classes']
for f in ['PR_curve.png', 'F1_curve.png', 'P_curve.png', 'R_curve.png']:
    p = os.path.join(run, f)
    if not classes:
        assert not os.path.exists(p), p
        continue
    im = Image.open(p)
    assert im.size == (900, 650), (f, im.size)
    assert len(set(im.convert('RGB').getdata())) > 10, f + ' looks blank'
cm = Image.open(os.path.join(run, 'confusion_matrix.png'))  # always: nc + background rows
assert cm.size[0] > 300 and cm.size[1] > 300, cm.size
PY
[ "$(wc -l < "$RUN/results.csv")" -eq 2 ] || { echo "results.csv should have a header and 1 row"; exit 1; }
head -1 "$RUN/results.csv" | grep -q "^epoch,train/box_loss,train/cls_loss,train/dfl_loss,metrics/precision(B)"
# safetensors header carries Ultralytics keys
/usr/bin/python3 - "$RUN/weights/best.safetensors" <<'PY'
import json, struct, sys
b = open(sys.argv[1], 'rb').read()
n = struct.unpack('<Q', b[:8])[0]
h = json.loads(b[8:8 + n])
for k in ('model.0.conv.weight', 'model.22.cv3.2.2.weight', 'model.22.dfl.conv.weight', 'model.0.bn.running_var'):
    assert k in h, k
assert h['model.22.cv3.0.2.weight']['shape'][0] == 7, h['model.22.cv3.0.2.weight']
PY

# val on the test split, from the run directory
"$BIN" detect val model="$RUN" data="$D" split=test imgsz=64 project="$TMP/runs" > "$TMP/val.txt" 2>&1
grep -q "mAP50-95" "$TMP/val.txt"
grep -q "^ *all " "$TMP/val.txt"
/usr/bin/python3 - "$TMP/runs/detect/val/metrics.json" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
for k in ('precision', 'recall', 'map50', 'map50_95', 'per_class', 'confusion_matrix'):
    assert k in m, k
assert len(m['confusion_matrix']['matrix_pred_by_true']) == 8
assert m['confusion_matrix']['names'][-1] == 'background'
assert 0 <= m['map50_95'] <= m['map50'] <= 1
for name, c in m['per_class'].items():
    assert c['instances'] > 0 and c['images'] > 0, name
# metrics.csv: the same numbers as a table, overall row first
import csv, os
rows = list(csv.DictReader(open(os.path.join(os.path.dirname(sys.argv[1]), 'metrics.csv'))))
assert rows[0]['class'] == 'all' and abs(float(rows[0]['map50']) - m['map50']) < 1e-6, rows[0]
assert sorted(r['class'] for r in rows[1:]) == sorted(m['per_class']), rows
for r in rows[1:]:
    assert abs(float(r['map50_95']) - m['per_class'][r['class']]['map50_95']) < 1e-6, r
assert m['matching'] == 'ultralytics' and m['rect'] is True, (m['matching'], m['rect'])
PY
# The same predictions (predictions.json) scored by tests/oracle/ultralytics_val_ref.py, which follows
# Ultralytics 8.1.0's validator step by step: detect val must print its P, R, mAP50 and mAP50-95.
score_with_reference() {  # run_dir rule
  /usr/bin/python3 - "$1" "$2" "$SRC/tests/oracle/ultralytics_val_ref.py" <<'PY'
import json, os, subprocess, sys, tempfile
run, rule, ref = sys.argv[1:4]
m = json.load(open(os.path.join(run, 'metrics.json')))
nc = len(m['confusion_matrix']['names']) - 1
images = [{'preds': [b['xyxy'] + [b['conf'], b['class']] for b in im['boxes']],
           'gts': [[l['class']] + l['xyxy'] for l in im['labels']]} for im in json.load(open(os.path.join(run, 'predictions.json')))]
with tempfile.TemporaryDirectory() as d:
    json.dump({'nc': nc, 'images': images}, open(os.path.join(d, 'in.json'), 'w'))
    # an untrained model's confidences tie exactly: break ties by position as fracture does
    subprocess.run([sys.executable, ref, os.path.join(d, 'in.json'), os.path.join(d, 'out.json')], check=True,
                   env=dict(os.environ, FRACTURE_REF_STABLE_TIES='1'))
    r = json.load(open(os.path.join(d, 'out.json')))[rule]
tp = sum(row[0] for row in r['tp'])
print(f"{rule}: {sum(len(i['preds']) for i in images)} predictions, {tp} true at IoU 0.5; "
      f"ours mAP50 {m['map50']:.6f} P {m['precision']:.6f}, reference {r['map50']:.6f} P {r['mp']:.6f}")
assert tp > 0, 'the comparison needs some true positives'
for ours, theirs in (('precision', 'mp'), ('recall', 'mr'), ('map50', 'map50'), ('map50_95', 'map')):
    assert abs(m[ours] - r[theirs]) < 1e-6, (ours, m[ours], r[theirs])
PY
}
score_with_reference "$TMP/runs/detect/val" ultralytics
# the other matching rule and square letterboxing are recorded; a bad rule names the key and the choices
"$BIN" detect val model="$RUN" data="$D" split=test imgsz=64 matching=coco rect=false project="$TMP/runs" name=val_coco > /dev/null 2>&1
/usr/bin/python3 -c "import json,sys; m=json.load(open(sys.argv[1])); assert m['matching']=='coco' and m['rect'] is False, m" \
  "$TMP/runs/detect/val_coco/metrics.json"
score_with_reference "$TMP/runs/detect/val_coco" coco
if "$BIN" detect val model="$RUN" data="$D" split=test imgsz=64 matching=greedy project="$TMP/runs" 2> "$TMP/err_m.txt"; then
  echo "matching=greedy should fail"; exit 1
fi
grep -q "hungarian" "$TMP/err_m.txt" || { cat "$TMP/err_m.txt"; exit 1; }

# predict: a folder, and a non-square image of another size
/usr/bin/python3 - "$TMP/wide.png" <<'PY'
import struct, sys, zlib
w, h = 150, 70
raw = b''.join(b'\x00' + bytes((x * 255 // w) for x in range(w)) for y in range(h))
def chunk(t, d): return struct.pack('>I', len(d)) + t + d + struct.pack('>I', zlib.crc32(t + d) & 0xffffffff)
png = b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', w, h, 8, 0, 0, 0, 0)) + chunk(b'IDAT', zlib.compress(raw)) + chunk(b'IEND', b'')
open(sys.argv[1], 'wb').write(png)
PY
"$BIN" detect predict model="$RUN/weights/best.safetensors" source="$TMP/d/images/val" imgsz=64 conf=0.001 project="$TMP/runs" > /dev/null 2>&1
P="$TMP/runs/detect/predict"
n_img=$(ls "$TMP/d/images/val" | wc -l)
[ "$(ls "$P"/*.png | wc -l)" -eq "$n_img" ] || { echo "expected $n_img annotated PNGs"; exit 1; }
"$BIN" detect predict model="$RUN" source="$TMP/wide.png" imgsz=64 conf=0.001 project="$TMP/runs" > /dev/null 2>&1
/usr/bin/python3 - "$TMP/runs/detect/predict2/wide.json" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
assert (j['width'], j['height']) == (150, 70), j
for b in j['boxes']:
    x1, y1, x2, y2 = b['xyxy']
    assert 0 <= x1 <= x2 <= 150 and 0 <= y1 <= y2 <= 70, b
    assert b['name'] and 0.001 <= b['confidence'] <= 1
PY
[ -f "$TMP/runs/detect/predict2/wide.png" ]
# the same image letterboxed to the square (rect=false): boxes still inside the original image
"$BIN" detect predict model="$RUN" source="$TMP/wide.png" imgsz=64 conf=0.001 rect=false project="$TMP/runs" name=square > /dev/null 2>&1
/usr/bin/python3 - "$TMP/runs/detect/square/wide.json" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
assert (j['width'], j['height']) == (150, 70) and j['boxes'], j
for b in j['boxes']:
    x1, y1, x2, y2 = b['xyxy']
    assert 0 <= x1 <= x2 <= 150 and 0 <= y1 <= y2 <= 70, b
PY

# precision=bf16 (where the build has oneDNN): on a CPU with native bf16 the same image gives the same
# boxes as fp32 up to bf16 rounding (confidences within 0.05, box corners within 2 px at this 150x70
# image); on one without (AVX2, SSE4.1: run under ONEDNN_MAX_CPU_ISA by ctest's isa_* tests) one
# warning and exactly the fp32 answer. Bad values are refused.
if "$BIN" detect predict model="$RUN" source="$TMP/wide.png" imgsz=64 conf=0.001 precision=bf16 \
     project="$TMP/runs" name=bf16 > /dev/null 2> "$TMP/bf16err.txt"; then
  exact=0
  if grep -q "running fp32 instead" "$TMP/bf16err.txt"; then
    exact=1
    [ "$(grep -c 'precision=bf16' "$TMP/bf16err.txt")" = 1 ] || { echo "expected one bf16 warning"; cat "$TMP/bf16err.txt"; exit 1; }
  fi
  /usr/bin/python3 - "$TMP/runs/detect/predict2/wide.json" "$TMP/runs/detect/bf16/wide.json" "$exact" <<'PY'
import json, sys
a, b = (json.load(open(f))['boxes'] for f in sys.argv[1:3])
if sys.argv[3] == '1':
    assert a == b, 'bf16 fell back to fp32 but the boxes differ'
    sys.exit(0)
top = lambda bs: sorted(bs, key=lambda x: -x['confidence'])[:5]
assert len(a) > 0 and len(b) > 0, (len(a), len(b))
for x, y in zip(top(a), top(b)):
    assert abs(x['confidence'] - y['confidence']) < 0.05, (x, y)
    assert max(abs(p - q) for p, q in zip(x['xyxy'], y['xyxy'])) < 2.0, (x, y)
PY
else
  grep -q "needs a build with oneDNN" "$TMP/bf16err.txt" || { cat "$TMP/bf16err.txt"; exit 1; }
fi
if "$BIN" detect predict model="$RUN" source="$TMP/wide.png" imgsz=64 precision=fp16 project="$TMP/runs" 2> "$TMP/err_p.txt"; then
  echo "expected failure for precision=fp16"; exit 1
fi
grep -q "must be fp32 or bf16" "$TMP/err_p.txt" || { cat "$TMP/err_p.txt"; exit 1; }

# DICOM input (when the binary was built with DICOM)
if "$BIN" synth out="$TMP/dcm" n=3 imgsz=64 seed=2 dicom=true > /dev/null 2>&1; then
  DCM=$(find "$TMP/dcm" -name '*.dcm' | head -1)
  "$BIN" detect predict model="$RUN" source="$DCM" imgsz=64 project="$TMP/runs" name=dcm > /dev/null 2>&1
  ls "$TMP/runs/detect/dcm/"*.png > /dev/null
fi

# errors: bad model path, class-count mismatch
if "$BIN" detect val model="$TMP/nope.safetensors" data="$D" 2> "$TMP/err1.txt"; then echo "expected failure for a missing model"; exit 1; fi
grep -q "nope.safetensors" "$TMP/err1.txt"
/usr/bin/python3 - "$D" "$TMP/d/data8.yaml" <<'PY'
import sys, yaml
y = yaml.safe_load(open(sys.argv[1]))
names = y['names'] if isinstance(y['names'], list) else [y['names'][k] for k in sorted(y['names'])]
y['names'] = names + ['extra class']
y.pop('nc', None)
yaml.safe_dump(y, open(sys.argv[2], 'w'))
PY
if "$BIN" detect val model="$RUN" data="$TMP/d/data8.yaml" imgsz=64 project="$TMP/runs" 2> "$TMP/err2.txt"; then
  echo "expected failure for 8 dataset classes vs a 7-class model"; exit 1
fi
grep -q "8 classes but the model" "$TMP/err2.txt" || { cat "$TMP/err2.txt"; exit 1; }
echo "cli detect: ok"
