#!/usr/bin/env bash
# Builds cvmodels, packages the real YOLOv8n (COCO, 640 letterbox) from the
# shared models folder, and detects objects in a photo: JSON on stdout, the
# annotated picture in out/.
set -euo pipefail
cd "$(dirname "$0")/.."
SHARED="${CVM_SHARED_DIR:-$PWD/../shared}"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j2 --target cvm_cli
build/cvm package create --arch yolov8 --task object-detection \
  --weights "$SHARED/models/yolov8n/yolov8n_deq_fp32.onnx" --classes "$SHARED/models/labels/coco80.txt" \
  --size 640 --resize letterbox --pad 114 --out out/yolov8n-package
build/cvm predict out/yolov8n-package "$SHARED/images/dog.jpg" --conf 0.25 --json --save out/
echo "annotated picture: out/dog.jpg"
