#!/usr/bin/env bash
# fracture weights inspect / convert on a torchvision mobilenet_v3_small state dict saved by torch.save.
# $1 = fracture binary, $2 = source dir; cwd = build/tests.
set -euo pipefail
BIN=$1
TMP=$(mktemp -d "$PWD/weights_cli.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
/usr/bin/python3 -c "import torch, torchvision; torch.manual_seed(0); torch.save(torchvision.models.mobilenet_v3_small(num_classes=1).state_dict(), '$TMP/m.pth')"
"$BIN" weights inspect file="$TMP/m.pth" > "$TMP/inspect.txt"
grep -q "architecture: mobilenet_v3_small (1 classes, 3 input channels)" "$TMP/inspect.txt"
grep -q "tensors:      244" "$TMP/inspect.txt"
"$BIN" weights convert file="$TMP/m.pth" out="$TMP/m.safetensors"
"$BIN" weights convert file="$TMP/m.safetensors" out="$TMP/back.pth"
/usr/bin/python3 -c "
import torch
a = torch.load('$TMP/m.pth'); b = torch.load('$TMP/back.pth')
assert list(a) == list(b), 'key order changed'
assert all(torch.equal(a[k], b[k]) for k in a), 'values changed'
"
# errors: missing key, bad output extension, truncated file
if "$BIN" weights inspect 2>/dev/null; then echo "expected failure without file="; exit 1; fi
if "$BIN" weights convert file="$TMP/m.pth" out="$TMP/m.txt" 2>/dev/null; then echo "expected failure for .txt"; exit 1; fi
head -c 1000 "$TMP/m.pth" > "$TMP/cut.pth"
if "$BIN" weights inspect file="$TMP/cut.pth" 2> "$TMP/err.txt"; then echo "expected failure for truncated file"; exit 1; fi
grep -q "cut.pth" "$TMP/err.txt"
echo "cli weights: ok"
