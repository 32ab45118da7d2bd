#!/usr/bin/env bash
# Builds cvmodels and runs every test: unit tests, ONNX conformance, real
# models against ONNX Runtime, the vision pipeline, the hub, reliability;
# then the whole suite again under ASan+UBSan.
set -euo pipefail
cd "$(dirname "$0")/.."
JOBS=${JOBS:-2}
scripts/setup_python.sh
PY="$PWD/.venv/bin/python"
SHARED="${CVM_SHARED_DIR:-$PWD/../shared}"

cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DCVM_WERROR=ON -DCVM_TESTS=ON -DCVM_PYTHON="$PY" \
  -DCVM_SHARED_DIR="$SHARED" >/dev/null
cmake --build build -j"$JOBS"

cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DCVM_WERROR=ON -DCVM_SANITIZE=ON -DCVM_TESTS=ON \
  -DCVM_PYTHON="$PY" -DCVM_SHARED_DIR="$SHARED" >/dev/null
cmake --build build-asan -j"$JOBS"

# The whole suite again under ASan+UBSan (the soak's memory figures mean
# nothing there, so it is left out of that build; about 3 minutes on 2 cores).
echo "== sanitizer build (ASan+UBSan): all tests"
(cd build-asan && ASAN_OPTIONS=detect_leaks=1 ctest --output-on-failure -j"$JOBS")

echo "== release build: all tests"
(cd build && ctest --output-on-failure)
