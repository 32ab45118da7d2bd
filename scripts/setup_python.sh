#!/usr/bin/env bash
# Creates .venv with the Python references the tests compare against
# (onnxruntime, onnx, numpy, opencv-python-headless, pillow).  Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/python ] || ! .venv/bin/python -c "import onnx, onnxruntime, numpy, cv2, PIL" 2>/dev/null; then
  python3 -m venv .venv
  .venv/bin/pip install -q --upgrade pip
  .venv/bin/pip install -q -r tests/requirements.txt
fi
