#!/usr/bin/env bash
# Builds the library, the concurrency driver and the runtime unit tests with
# ThreadSanitizer in their own build folder and runs them.  Any data race,
# lock-order inversion or thread leak fails the script.
#
# usage: scripts/tsan.sh [BUILD_DIR]      (default: build-tsan)
#   CC=gcc|clang (default: clang if installed, else gcc), JOBS (default 2),
#   TSAN_ITERS runs per thread of the concurrency driver (default 3).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build-tsan}
jobs=${JOBS:-2}
iters=${TSAN_ITERS:-3}
if [ -z "${CC:-}" ]; then
    if command -v clang >/dev/null; then CC=clang; else CC=gcc; fi
fi
export CC
# halt_on_error: the first race is the answer; second_deadlock_stack helps
# reading lock-order reports.
export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1:report_thread_leaks=1}

cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCVM_WERROR=ON \
    -DCMAKE_C_FLAGS="-fsanitize=thread -fno-omit-frame-pointer" \
    -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=thread" \
    -DCMAKE_SHARED_LINKER_FLAGS="-fsanitize=thread" >/dev/null
cmake --build "$build" -j"$jobs" --target rel_concurrency test_runtime test_base test_schedule

model=tests/data/exports/yolov8-det-tiny-160.onnx
dyn=tests/data/exports/yolov8-det-tiny-160-dynamic.onnx
t0=$(date +%s)
echo "== tsan: unit tests (runtime, base, steps side by side)"
(cd "$build/tests" && ./test_runtime && ./test_base && ./test_schedule)
echo "== tsan: one session, 8 threads; parallel create/free"
"$build/tests/rel_concurrency" "$model" --threads 8 --iters "$iters" --variants 8 --create 1 --pool 2
echo "== tsan: plan cache under concurrent shapes (eviction included)"
"$build/tests/rel_concurrency" "$dyn" --threads 8 --iters 2 --sizes 32,64,96,128,160,192,224,256,288,320 \
    --create 0 --pool 2
echo "== tsan: clean ($(( $(date +%s) - t0 )) s of tests)"
