#!/usr/bin/env bash
# `make bench`: the two side-by-side speed benchmarks (C++ against PyTorch Python and ONNX Runtime on
# this machine; the ONNX Runtime side needs npm and the npm registry, scripts/ort_peer.sh),
# with the arguments the README's Speed tables were measured with. Prints tables; never fails on a
# speed. Usage: bash scripts/bench.sh [BUILD_DIR]   (default build)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
cmake --build "$BUILD" --target classifier_bench yolov8_bench
echo "== classifiers (bench/classifier_bench.cpp vs bench/classifier_bench.py) =="
"$BUILD/bench/classifier_bench" imgsz=224 iters=5 infer_iters=6 threads=2 cl=1 repeat=3
echo "== YOLOv8 (bench/yolov8_bench.cpp vs bench/yolov8_bench.py) =="
"$BUILD/bench/yolov8_bench" imgsz=640 scales=nsm runs=3 threads=2 train_imgsz=320 train_batch=8 iters=3 repeat=3
