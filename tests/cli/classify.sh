#!/usr/bin/env bash
# fracture classify train / val / predict / cv end to end on a tiny synthetic set (mobilenet_v3_small,
# 32 px, 1 epoch), the files each writes, torchvision loading the saved weights, and error cases.
# $1 = fracture binary, $2 = source dir; cwd = build/tests.
set -euo pipefail
BIN=$1
TMP=$(mktemp -d "$PWD/classify_cli.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
# with DICOM copies when the build has DCMTK (predict reads them), else PNG only
"$BIN" synth out="$TMP/data" n=40 imgsz=64 seed=1 difficulty=easy dicom=true > /dev/null 2>&1 ||
  { rm -rf "$TMP/data"; "$BIN" synth out="$TMP/data" n=40 imgsz=64 seed=1 difficulty=easy > /dev/null 2>&1; }
COMMON="model=mobilenet_v3_small imgsz=32 batch=8 epochs=1 workers=1 project=$TMP/runs"

# train: train split, early stopping / T on val, metrics on test
"$BIN" classify train data="$TMP/data/classification.csv" $COMMON > "$TMP/train.txt" 2> "$TMP/train.err"
RUN="$TMP/runs/classify/train"
for f in args.yaml run.json splits.csv results.csv calibration.json fold.json weights/best.safetensors metrics.json \
         oof_predictions.csv summary.md roc_curve.png pr_curve.png reliability_diagram.png; do
  test -s "$RUN/$f" || { echo "train: missing $f"; exit 1; }
done
# the plots are real PNGs of the plot size, not blank
/usr/bin/python3 - "$RUN" <<'EOF'
import sys
from PIL import Image
for name in ("roc_curve.png", "pr_curve.png", "reliability_diagram.png"):
    im = Image.open(f"{sys.argv[1]}/{name}").convert("L")
    assert im.size == (900, 650), (name, im.size)
    lo, hi = im.getextrema()
    assert hi - lo > 100, (name, "blank")
EOF
grep -q "metrics below are on 'test'" "$TMP/train.txt"
grep -q "epoch 1/1: train_loss" "$TMP/train.err"
head -1 "$RUN/results.csv" | grep -qx "epoch,train_loss,val_loss,val_auroc,lr,seconds"
# torchvision loads the weights by key (safetensors read by hand: 8-byte length, JSON header, data)
/usr/bin/python3 - "$RUN/weights/best.safetensors" <<'EOF'
import json, struct, sys, torch, torchvision
raw = open(sys.argv[1], 'rb').read()
n = struct.unpack('<Q', raw[:8])[0]
hdr = json.loads(raw[8:8 + n]); data = raw[8 + n:]
dt = {'F32': torch.float32, 'I64': torch.int64}
sd = {}
for k, v in hdr.items():
    if k == '__metadata__': continue
    a, b = v['data_offsets']
    sd[k] = torch.frombuffer(bytearray(data[a:b]), dtype=dt[v['dtype']]).reshape(v['shape'])
m = torchvision.models.mobilenet_v3_small(num_classes=1)
m.load_state_dict(sd, strict=True)
EOF

# val on the test split and predict on a folder and on one image
"$BIN" classify val model="$RUN" split=test project="$TMP/runs" workers=1 > "$TMP/val.txt"
test -s "$TMP/runs/classify/val/metrics.json"
grep -q "| auroc |" "$TMP/val.txt"
/usr/bin/python3 -c "
import json; m = json.load(open('$TMP/runs/classify/val/metrics.json'))
assert m['split'] == 'test' and m['calibration']['method'] == 'temperature' and m['calibration']['temperature'] > 0, m
for k in ('auroc', 'ap', 'brier', 'accuracy', 'precision', 'recall', 'specificity', 'f1', 'ece', 'citl', 'slope'):
    v = m['metrics'][k]; assert v['ci_low'] <= v['value'] <= v['ci_high'], (k, v)
"
"$BIN" classify predict model="$RUN" source="$TMP/data/images/test" project="$TMP/runs" threshold=0.3 workers=1 \
  > "$TMP/pred.txt"
N_IMG=$(ls "$TMP/data/images/test" | wc -l)
N_ROWS=$(($(wc -l < "$TMP/runs/classify/predict/predictions.csv") - 1))
test "$N_IMG" = "$N_ROWS" || { echo "predict: $N_ROWS rows for $N_IMG images"; exit 1; }
head -1 "$TMP/runs/classify/predict/predictions.csv" | \
  grep -qx "image,logit,probability,calibrated_probability,threshold,prediction"
ONE=$(ls "$TMP/data/images/test" | head -1)
"$BIN" classify predict model="$RUN" source="$TMP/data/images/test/$ONE" project="$TMP/runs" | grep -q "$ONE"
if [ -d "$TMP/data/dicom/test" ]; then
  DCM=$(ls "$TMP/data/dicom/test" | head -1)
  "$BIN" classify predict model="$RUN" source="$TMP/data/dicom/test/$DCM" project="$TMP/runs" | grep -q "calibrated="
fi

# calibration=platt: fitted on val into calibration.json, and what val and predict apply
"$BIN" classify train data="$TMP/data/classification.csv" $COMMON calibration=platt name=platt > "$TMP/platt.txt" 2>&1
"$BIN" classify predict model="$TMP/runs/classify/platt" source="$TMP/data/images/test" project="$TMP/runs" \
  name=platt_pred workers=1 > /dev/null
/usr/bin/python3 - "$TMP/runs/classify/platt" "$TMP/runs/classify/platt_pred/predictions.csv" <<'PY'
import csv, json, math, sys
c = json.load(open(sys.argv[1] + '/calibration.json'))
assert c['method'] == 'platt' and 'temperature' not in c, c
rows = list(csv.DictReader(open(sys.argv[2])))
assert rows
for r in rows:
    want = 1 / (1 + math.exp(c['a'] * float(r['logit']) + c['b']))
    assert abs(float(r['calibrated_probability']) - want) < 1e-6, (r, want)
oof = list(csv.DictReader(open(sys.argv[1] + '/oof_predictions.csv')))
assert all(r['calibration'] == 'platt' and float(r['platt_a']) == c['a'] for r in oof), oof[0]
m = json.load(open(sys.argv[1] + '/metrics.json'))['models']['mobilenet_v3_small']
assert m['calibration']['method'] == 'platt' and m['calibration']['after']['citl']['value'] is not None, m['calibration']
PY
grep -q "platt calibration" "$TMP/runs/classify/platt/summary.md"

# cv: 2 folds x 1 repeat; each fold's files, the study outputs, resume of a finished run
"$BIN" classify cv data="$TMP/data/classification.csv" $COMMON folds=2 repeats=1 > "$TMP/cv.txt" 2> "$TMP/cv.err"
CV="$TMP/runs/classify/cv"
for f in r0f0 r0f1; do
  for g in best.safetensors results.csv fold.json calibration.json; do
    test -s "$CV/folds/mobilenet_v3_small/$f/$g" || { echo "cv: missing $f/$g"; exit 1; }
  done
done
test -s "$CV/metrics.json" && test -s "$CV/oof_predictions.csv"
grep -q "mobilenet_v3_small" "$TMP/cv.txt"
# resume of a finished run: every fold skipped (not retrained), the pooled files written again with
# the same bytes
( cd "$CV" && find . -type f -exec md5sum {} + | sort -k2 ) > "$TMP/before.txt"
"$BIN" classify cv resume="$CV" workers=1 > /dev/null 2> "$TMP/resume.err"
for f in r0f0 r0f1; do
  grep -q "mobilenet_v3_small $f: done before (fold.json), skipped" "$TMP/resume.err" ||
    { echo "cv resume: $f not skipped"; cat "$TMP/resume.err"; exit 1; }
done
( cd "$CV" && find . -type f -exec md5sum {} + | sort -k2 ) > "$TMP/after.txt"
diff "$TMP/before.txt" "$TMP/after.txt" || { echo "cv resume of a finished run changed its files"; exit 1; }
"$BIN" classify val model="$CV/folds/mobilenet_v3_small/r0f1" split=test project="$TMP/runs" name=cvval > /dev/null 2>&1
# a cv fold's split=test is its own held-out outer fold: the same images and logits as its out-of-fold rows
/usr/bin/python3 - "$CV/oof_predictions.csv" "$TMP/runs/classify/cvval/predictions.csv" <<'PY'
import csv, sys
oof = {r['image']: float(r['logit']) for r in csv.DictReader(open(sys.argv[1]))
       if r['model'] == 'mobilenet_v3_small' and r['repeat'] == '0' and r['fold'] == '1'}
val = {r['image']: float(r['logit']) for r in csv.DictReader(open(sys.argv[2]))}
assert oof and set(val) == set(oof), (len(val), len(oof))
for k in oof:
    assert abs(val[k] - oof[k]) <= 1e-4 * max(1.0, abs(oof[k])), (k, val[k], oof[k])
PY

# errors: exit 1 with a message naming the problem
expect_fail() {  # expect_fail PATTERN ARGS...
  local pat=$1; shift
  if "$BIN" "$@" > /dev/null 2> "$TMP/err.txt"; then echo "expected failure: $*"; exit 1; fi
  grep -q "$pat" "$TMP/err.txt" || { echo "message lacks '$pat':"; cat "$TMP/err.txt"; exit 1; }
}
expect_fail "unknown model 'resnet50'" classify train data="$TMP/data/classification.csv" model=resnet50
expect_fail "key 'calibration': expected temperature, platt or none, got 'isotonic'" classify train \
  data="$TMP/data/classification.csv" $COMMON calibration=isotonic
expect_fail "folds=30" classify cv data="$TMP/data/classification.csv" $COMMON folds=30
expect_fail "epochs" classify cv resume="$CV" epochs=5
expect_fail "no such run directory" classify predict model="$TMP/nope" source="$TMP/data/images/test"
rm "$RUN/calibration.json"
expect_fail "calibration.json" classify predict model="$RUN" source="$TMP/data/images/test"
echo "cli classify: ok"
