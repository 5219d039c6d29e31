#!/usr/bin/env bash
# fracture synth end to end: files, labels, determinism, refusal of foreign folders, bad keys/values.
set -u
BIN="$1"
fail=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
check() { if ! eval "$1"; then echo "FAIL: $2"; fail=1; fi; }
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"  # expect

out="$tmp/ds"
expect 0 "wrote 30 images" -- synth out="$out" n=30 imgsz=64 seed=1
check '[ -f "$out/data.yaml" ] && grep -q "nc: 7" "$out/data.yaml"' "data.yaml with nc: 7"
check 'grep -q "train: images/train" "$out/data.yaml"' "data.yaml train path"
check '[ "$(head -1 "$out/classification.csv")" = "path,label,patient_id,split" ]' "classification.csv header"
check '[ "$(wc -l < "$out/classification.csv")" -eq 31 ]' "classification.csv has 30 rows"
check '[ "$(find "$out/images" -name "*.png" | wc -l)" -eq 30 ]' "30 PNG images"
check '[ "$(find "$out/labels" -name "*.txt" | wc -l)" -eq 30 ]' "30 label files"
check 'grep -q "seed: 1" "$out/README.md"' "README.md states the seed"
check 'grep -q "^seed: 1$" "$out/args.yaml" && grep -q "^n: 30$" "$out/args.yaml"' "args.yaml holds the resolved arguments"
check 'head -c 8 "$(find "$out/images" -name "*.png" | head -1)" | od -c | grep -q "P   N   G"' "PNG magic"
# every label line: class 0..6 and four numbers in [0, 1]
bad=$(cat "$out"/labels/*/*.txt | awk 'NF!=5 || $1<0 || $1>6 || $2<=0 || $2>1 || $3<=0 || $3>1 || $4<=0 || $4>1 || $5<=0 || $5>1' | wc -l)
check '[ "$bad" -eq 0 ]' "label lines valid ($bad bad)"
# labels in the CSV agree with the label files (fractured iff a box of a class other than 4)
while IFS=, read -r path label pid split; do
  [ "$path" = "path" ] && continue
  lab="$out/${path/images\//labels/}"; lab="${lab%.png}.txt"
  want=$(awk '$1!=4{f=1} END{print f+0}' "$lab")
  [ "$want" = "$label" ] || { echo "FAIL: $path label $label but boxes say $want"; fail=1; }
done < "$out/classification.csv"
# same seed again into the same (previous synth) folder: byte-identical files
sum1=$(cd "$out" && find images labels -type f | sort | xargs md5sum | md5sum)
expect 0 "wrote 30 images" -- synth out="$out" n=30 imgsz=64 seed=1 workers=1
sum2=$(cd "$out" && find images labels -type f | sort | xargs md5sum | md5sum)
check '[ "$sum1" = "$sum2" ]' "same seed gives identical files"
# a folder that is not ours is refused and left untouched
mkdir -p "$tmp/mine" && echo keep > "$tmp/mine/notes.txt"
expect 1 "not a previous" -- synth out="$tmp/mine" n=5 imgsz=32
check '[ "$(cat "$tmp/mine/notes.txt")" = keep ] && [ ! -e "$tmp/mine/images" ]' "foreign folder untouched"
# bad keys and values
expect 1 "unknown key" -- synth out="$tmp/x" nn=5
expect 1 "bits must be 8 or 16" -- synth out="$tmp/x" n=5 bits=12
expect 1 "difficulty must be easy, medium or hard" -- synth out="$tmp/x" n=5 difficulty=extreme
expect 1 "expects an integer" -- synth out="$tmp/x" n=five
expect 1 "fracture_rate" -- synth out="$tmp/x" n=5 fracture_rate=2
[ $fail -eq 0 ] && echo "cli synth: all passed"
exit $fail
