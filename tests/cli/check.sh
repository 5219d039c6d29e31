#!/usr/bin/env bash
# fracture check: the clean FracAtlas fixture passes (exit 0, summary); a broken dataset built in a
# temp dir fails (exit 1) naming the files, in both strict=false (all findings) and strict=true
# (first error) modes; report=FILE writes JSON; nothing is written into the dataset folder.
set -u
BIN="$1"
SRC="$2"
FIX="$SRC/tests/fixtures/fracatlas-sample"
fail=0
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
check() {  # check CODE PATTERN -- ARGS...
  local code="$1" pat="$2"; shift 3
  local out rc
  out=$("$BIN" "$@" 2>&1); rc=$?
  if [ "$rc" != "$code" ]; then echo "FAIL: fracture $* exited $rc, expected $code"; echo "$out"; fail=1; return; fi
  if ! grep -q -- "$pat" <<<"$out"; then echo "FAIL: fracture $*: output lacks '$pat'"; echo "$out"; fail=1; fi
}
before=$(cd "$FIX" && find . -printf '%p %s %T@\n' | sort)
check 0 "train: 12 images (12 decoded), 0 background; boxes per class: fractured" -- check data="$FIX/data.yaml"
check 0 "0 errors, 0 warnings" -- check data="$FIX/data.yaml" strict=false
check 0 "val: 11 images (11 decoded), 11 background" -- check data="$FIX/data.yaml" report="$T/report.json"
grep -q '"errors": 0' "$T/report.json" || { echo "FAIL: report.json lacks errors: 0"; fail=1; }
check 1 "inside the dataset folder" -- check data="$FIX/data.yaml" report="$FIX/report.json"
check 1 "key 'data' is required" -- check
after=$(cd "$FIX" && find . -printf '%p %s %T@\n' | sort)
[ "$before" == "$after" ] || { echo "FAIL: fracture check changed the fixture folder"; fail=1; }

# Broken dataset: cross-split copy, corrupt image, class index >= nc.
B="$T/bad"
mkdir -p "$B/images/train" "$B/images/val" "$B/labels/train" "$B/labels/val"
cp "$FIX/images/fractured/IMG0000599.jpg" "$B/images/train/a.jpg"
cp "$FIX/labels/fractured/IMG0000599.txt" "$B/labels/train/a.txt"
cp "$FIX/images/negatives/IMG0000323.jpg" "$B/images/train/n.jpg"
cp "$FIX/images/fractured/IMG0000599.jpg" "$B/images/val/leak.jpg"
cp "$FIX/images/negatives/IMG0000529.jpg" "$B/images/val/v.jpg"
head -c 2000 "$FIX/images/negatives/IMG0000727.jpg" > "$B/images/val/corrupt.jpg"
cp "$FIX/images/negatives/IMG0001266.jpg" "$B/images/train/badcls.jpg"
printf '2 0.5 0.5 0.1 0.1\n' > "$B/labels/train/badcls.txt"
printf 'train: images/train\nval: images/val\nnames: [fractured]\n' > "$B/data.yaml"
check 1 "leak.jpg: byte-identical to .*a.jpg in split 'train' and in split 'val'" -- check data="$B/data.yaml" strict=false
check 1 "corrupt.jpg: cannot decode" -- check data="$B/data.yaml" strict=false
check 1 "badcls.txt:1: class index 2 is out of range" -- check data="$B/data.yaml" strict=false
check 1 "3 errors, 0 warnings" -- check data="$B/data.yaml" strict=false report="$T/bad.json"
grep -q '"errors": 3' "$T/bad.json" || { echo "FAIL: bad.json lacks errors: 3"; fail=1; }
# strict=true stops at the first error (the loader's bad class line) and names the file.
check 1 "badcls.txt:1: class index 2" -- check data="$B/data.yaml" strict=true
out=$("$BIN" check data="$B/data.yaml" strict=true 2>&1)
if grep -q "corrupt.jpg" <<<"$out"; then echo "FAIL: strict=true went on past the first error"; echo "$out"; fail=1; fi
[ $fail -eq 0 ] && echo "cli check: all passed"
exit $fail
