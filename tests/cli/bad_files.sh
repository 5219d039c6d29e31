#!/usr/bin/env bash
# Datasets as downloaded hold files that are not images: with strict=false a run leaves them out
# before splitting, says how many, lists them with reasons in the run's skipped.csv, and finishes;
# with strict=true it stops at the first, named. classify train / val / predict and detect train /
# predict on a tiny synthetic set with a truncated JPEG, a zero-byte PNG, a text file named .png and
# a listed file that does not exist.
# $1 = fracture binary, $2 = source dir; cwd = build/tests.
set -uo pipefail
BIN=$1
fail=0
source "$2/tests/cli/lib.sh"
TMP=$(mktemp -d "$PWD/bad_files_cli.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
"$BIN" synth out="$TMP/data" n=40 imgsz=64 seed=2 difficulty=easy > /dev/null 2>&1 || { echo "synth failed"; exit 1; }
D="$TMP/data"

# The bad files, as a user's download has them (the dataset folder is only read by fracture).
mkdir -p "$D/bad"
/usr/bin/python3 - "$D" <<'PY' || { echo "could not write the bad files"; exit 1; }
import io, sys
import numpy as np
from PIL import Image
d = sys.argv[1]
buf = io.BytesIO()
Image.fromarray((np.random.default_rng(0).random((64, 64)) * 255).astype(np.uint8)).save(buf, "JPEG")
jpg = buf.getvalue()
assert jpg[-2:] == b"\xff\xd9"
open(f"{d}/bad/truncated.jpg", "wb").write(jpg[: len(jpg) // 2])                # no FF D9 end marker
open(f"{d}/bad/empty.png", "wb").close()                                         # zero bytes
open(f"{d}/bad/notes.png", "w").write("not an image\n")                          # wrong content
PY
# Classification manifest: the good rows plus the bad ones (train split, both classes; paths are
# relative to the manifest's folder).
M="$D/manifest.csv"
cp "$D/classification.csv" "$M"
head -1 "$M" | grep -qx "path,label,patient_id,split" || { echo "unexpected manifest header"; exit 1; }
printf '%s\n' "bad/truncated.jpg,0,PBAD,train" "bad/empty.png,1,PBAD,train" "bad/notes.png,0,PBAD,train" >> "$M"
# M2 also lists a file that does not exist: the manifest reader's own skip (strict=false), listed too
M2="$D/manifest2.csv"
cp "$M" "$M2" && echo "bad/missing.png,1,PBAD,train" >> "$M2"
COMMON="model=mobilenet_v3_small imgsz=32 batch=8 epochs=1 workers=1 project=$TMP/runs"

# strict=true (the default) stops at the first unusable file, named with its reason.
expect 1 "truncated.jpg: JPEG data is truncated or corrupt (no end-of-image marker FF D9 at the end)" -- \
  classify train data="$M" $COMMON name=strict
# strict=false: left out before splitting, counted, listed, and the run finishes.
expect 0 "3 of .* images cannot be read and are left out" -- classify train data="$M2" $COMMON strict=false name=lenient
RUN="$TMP/runs/classify/lenient"
test -s "$RUN/weights/best.safetensors" || { echo "FAIL: lenient train wrote no weights"; fail=1; }
# (a reason holding a comma is quoted, as csv.h writes it)
for want in 'truncated.jpg,train,"?JPEG data is truncated' 'empty.png,train,"?file is empty \(0 bytes\)' \
            'notes.png,train,"?unknown image format' 'manifest2.csv,,"?line [0-9]+: image .*missing.png not found'; do
  grep -Eq "$want" "$RUN/skipped.csv" || { echo "FAIL: skipped.csv lacks '$want'"; cat "$RUN/skipped.csv"; fail=1; }
done
[ "$(wc -l < "$RUN/skipped.csv")" = 5 ] || { echo "FAIL: skipped.csv should have a header and 4 rows"; fail=1; }
# no unusable image reached the splits
if grep -q "bad/" "$RUN/splits.csv"; then echo "FAIL: an unusable image is in splits.csv"; fail=1; fi
# a clean dataset writes skipped.csv with its header only
"$BIN" classify train data="$D/classification.csv" $COMMON name=clean > /dev/null 2>&1 || { echo "FAIL: clean train"; fail=1; }
[ "$(cat "$TMP/runs/classify/clean/skipped.csv")" = "image,split,reason" ] || { echo "FAIL: clean skipped.csv"; fail=1; }
# val on a dataset with bad files, and predict on a folder holding them
expect 0 "classify val" -- classify val model="$RUN" data="$M" split=test strict=false workers=1 \
  project="$TMP/runs" name=val
mkdir -p "$TMP/mixed" && cp "$D/bad/truncated.jpg" "$TMP/mixed/" && cp "$(ls "$D"/images/test/*.png | head -2 | tail -1)" "$TMP/mixed/ok.png"
expect 0 "1 of 2 images cannot be read and are left out" -- classify predict model="$RUN" source="$TMP/mixed" strict=false \
  workers=1 project="$TMP/runs" name=predict_mixed
grep -q "ok.png" "$TMP/runs/classify/predict_mixed/predictions.csv" || { echo "FAIL: predict lost the good image"; fail=1; }
expect 1 "truncated.jpg: JPEG data is truncated" -- classify predict model="$RUN" source="$TMP/mixed" workers=1 \
  project="$TMP/runs" name=predict_strict
# truncated=load on the command line reads the truncated JPEG in the screen and in the loader alike
expect 0 "results saved" -- classify predict model="$RUN" source="$TMP/mixed" workers=1 truncated=load \
  project="$TMP/runs" name=predict_load
grep -q "truncated.jpg" "$TMP/runs/classify/predict_load/predictions.csv" ||
  { echo "FAIL: truncated=load did not predict the truncated image"; fail=1; }

# detect train: a truncated image in the train split of a YOLO set (the set is copied: ours to change)
cp -r "$D" "$TMP/det"
cp "$D/bad/truncated.jpg" "$TMP/det/images/train/zz_truncated.jpg"
: > "$TMP/det/images/val/zz_empty.png"
expect 1 "zz_truncated.jpg: JPEG data is truncated" -- detect train data="$TMP/det/data.yaml" model=yolov8n epochs=1 \
  imgsz=64 batch=8 workers=1 project="$TMP/runs" name=dstrict
expect 0 "2 of .* images cannot be read and are left out" -- detect train data="$TMP/det/data.yaml" model=yolov8n \
  epochs=1 imgsz=64 batch=8 workers=1 strict=false project="$TMP/runs" name=dlenient
grep -Eq 'zz_truncated.jpg,train,"?JPEG data is truncated' "$TMP/runs/detect/dlenient/skipped.csv" &&
  grep -Eq 'zz_empty.png,val,"?file is empty' "$TMP/runs/detect/dlenient/skipped.csv" ||
  { echo "FAIL: detect skipped.csv"; cat "$TMP/runs/detect/dlenient/skipped.csv"; fail=1; }
expect 0 "left out" -- detect predict model="$TMP/runs/detect/dlenient" source="$TMP/det/images/train" imgsz=64 \
  strict=false project="$TMP/runs" name=dpred
# validate=decode finds the same files by decoding them
expect 0 "2 of .* images cannot be read and are left out" -- detect val model="$TMP/runs/detect/dlenient" \
  data="$TMP/det/data.yaml" split=val imgsz=64 batch=8 workers=1 strict=false validate=decode project="$TMP/runs" name=dval
expect 1 "key 'validate' must be fast, decode or off" -- detect val model="$TMP/runs/detect/dlenient" \
  data="$TMP/det/data.yaml" validate=maybe project="$TMP/runs"
# a DICOM whose header claims 65535 x 65535 pixels (4.3 G; the file is 5 KB): refused from the header,
# naming the limit, before any pixel buffer is made
if command -v dcmodify > /dev/null && "$BIN" synth out="$TMP/claim" n=2 imgsz=64 seed=2 dicom=true > /dev/null 2>&1; then
  cp "$(find "$TMP/claim" -name '*.dcm' | sort | head -1)" "$TMP/claim.dcm"
  dcmodify -q -nb -m "(0028,0010)=65535" -m "(0028,0011)=65535" "$TMP/claim.dcm"
  expect 1 "claim.dcm: image is 65535 x 65535 = 4294836225 pixels, above max_pixels = 150000000 (memory guard)" -- \
    classify predict model="$RUN" source="$TMP/claim.dcm" workers=1 project="$TMP/runs"
fi
# Resource limits: each refused in bounded time and memory, naming the limit it hit.
# - a PNG whose header claims 30,000 x 30,000 pixels (a 100-byte file)
/usr/bin/python3 - "$TMP/big.png" <<'PY'
import struct, sys, zlib
def chunk(t, d):
    return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)
ihdr = struct.pack(">IIBBBBB", 30000, 30000, 8, 0, 0, 0, 0)
open(sys.argv[1], "wb").write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b""))
PY
expect 1 "big.png: image is 30000 x 30000 = 900000000 pixels, above max_pixels = 150000000" -- \
  classify predict model="$RUN" source="$TMP/big.png" workers=1 project="$TMP/runs"
# - a YOLO label file of 10 million lines (180 MB): refused unread, the rest of the set checked
cp -r "$D" "$TMP/huge"
lab=$(find "$TMP/huge/labels/train" -name '*.txt' | sort | head -1)
yes "0 0.5 0.5 0.1 0.1" | head -n 10000000 > "$lab"
expect 1 "$(basename "$lab"): label file of 180000000 bytes is over the limit of 16 MiB" -- \
  check data="$TMP/huge/data.yaml" validate=off
rm -rf "$TMP/huge"
# - COCO JSON nested 100,000 deep
/usr/bin/python3 -c "import sys; open(sys.argv[1], 'w').write('[' * 100000 + ']' * 100000)" "$TMP/deep.json"
expect 1 "deep.json: JSON nested more than 64 levels deep" -- check data="$TMP/deep.json"
exit $fail
