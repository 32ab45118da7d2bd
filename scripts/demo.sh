#!/usr/bin/env bash
# Builds cvmodels and runs a real model (YOLOv8n, 640x640) on the test pattern,
# writing its output tensor to out/.
set -euo pipefail
cd "$(dirname "$0")/.."
SHARED="${CVM_SHARED_DIR:-$PWD/../shared}"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DCVM_TESTS=OFF >/dev/null
cmake --build build -j2 --target cvm_cli
build/cvm run "$SHARED/models/yolov8n/yolov8n_deq_fp32.onnx" --out out --runs 5
