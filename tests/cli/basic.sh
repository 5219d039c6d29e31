#!/usr/bin/env bash
# CLI basics: help, version, exit codes, key validation, commands without their data fail clearly.
set -u
BIN="$1"
fail=0
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"  # expect
expect 0 "usage: fracture TASK" -- help
expect 0 "usage: fracture TASK" -- --help
expect 2 "usage: fracture TASK" --
expect 0 "^fracture [0-9]" -- version
expect 0 "^cpu: onednn [a-z0-9_]*, aten [A-Z0-9 ]*, kernels [a-z0-9]*, bf16 [a-z]*$" -- version
expect 2 "did you mean 'detect'" -- detct train
expect 2 "needs a mode" -- detect
expect 1 "did you mean 'epochs'" -- synth epoch=3
expect 1 "expects an integer" -- synth n=many
expect 1 "expects true or false" -- check strict=perhaps
expect 1 "key=value" -- synth =3
# found by fuzzing (tests/fuzz/targets/config_keys.cpp): nested values were an "internal error"
expect 1 "key 'detectors' expects a list of plain values like \[a, b\], got '\[a,\[b\]\]'" -- synth 'detectors=[a,[b]]'
printf '[a, b]: 3\n' > "${TMPDIR:-/tmp}/fracture_basic_$$.yaml"
expect 1 "fracture_basic_$$.yaml:1: expected a key name, got a list" -- synth cfg="${TMPDIR:-/tmp}/fracture_basic_$$.yaml"
rm -f "${TMPDIR:-/tmp}/fracture_basic_$$.yaml"
# every key in help has a type and a meaning
"$BIN" help | grep -q "imgsz *(int, default 224)" || { echo "FAIL: help lacks typed imgsz"; fail=1; }
# the study commands without their data fail with exit 1 and the message naming what is missing
MODEL_REQUIRED="^error: fracture classify: key 'model' is required: resnet18, mobilenet_v3_small, efficientnet_b0 or all$"
expect 1 "$MODEL_REQUIRED" -- classify train
expect 1 "$MODEL_REQUIRED" -- classify cv
expect 1 "^error: detect train: data= must name a data.yaml$" -- detect train
expect 1 "^error: detect val: data= must name a data.yaml$" -- detect val
expect 1 "^error: detect predict: source= must name an image, a folder or a DICOM file$" -- detect predict
[ $fail -eq 0 ] && echo "cli basic: all passed"
exit $fail
