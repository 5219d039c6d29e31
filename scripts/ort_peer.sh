#!/usr/bin/env bash
# Installs the ONNX Runtime peer of the speed benchmarks (bench/ort_peer.js): onnxruntime-node at the
# version and sha512 integrity pinned in bench/ort/package-lock.json, from the npm registry, with
# --ignore-scripts (its postinstall only fetches GPU libraries; the CPU build ships in the package).
# A benchmark tool, never a dependency of fracture itself. Prints the install folder (give it to
# the benches as ort_dir=...). Cached: a second call with the same lockfile installs nothing.
#   bash scripts/ort_peer.sh [DIR]   (default ~/.cache/fracture/ort-peer)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DIR=${1:-${XDG_CACHE_HOME:-$HOME/.cache}/fracture/ort-peer}
command -v npm > /dev/null || { echo "ort_peer: npm is missing (apt-get install npm)" >&2; exit 1; }
mkdir -p "$DIR"
if ! cmp -s "$ROOT/bench/ort/package-lock.json" "$DIR/package-lock.json" ||
   [ ! -f "$DIR/node_modules/onnxruntime-node/package.json" ]; then
  cp "$ROOT/bench/ort/package.json" "$ROOT/bench/ort/package-lock.json" "$DIR/"
  (cd "$DIR" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error > /dev/null) ||
    { echo "ort_peer: npm ci failed in $DIR (needs the npm registry)" >&2; exit 1; }
fi
echo "$DIR"
