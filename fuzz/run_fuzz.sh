#!/bin/sh
# Builds the libFuzzer targets with clang into build-fuzz and runs one.
# Usage: fuzz/run_fuzz.sh TARGET [SECONDS] [extra libFuzzer flags...]
#   e.g. fuzz/run_fuzz.sh onnx_loader 300
# The seed corpus is fuzz/corpus/<target>/; new inputs go to
# build-fuzz/corpus/<target>/ so the committed seeds stay small, and crashes
# to build-fuzz/crashes/<target>/.  CVM_FUZZ_BUILD names another build folder
# (relative to the repository root), so that several runs do not share one.
set -eu
if [ $# -lt 1 ]; then
    echo "usage: $0 TARGET [SECONDS] [libFuzzer flags...]" >&2
    exit 2
fi
target=${1#fuzz_}
seconds=${2:-60}
shift
[ $# -gt 0 ] && shift
root=$(cd "$(dirname "$0")/.." && pwd)
build="$root/${CVM_FUZZ_BUILD:-build-fuzz}"
jobs=${CVM_FUZZ_JOBS:-2}
# The fuzz build lets UBSan recover; stop at the first report instead so that
# undefined behaviour is saved as a crash input.
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}

CC=${CC:-clang} cmake -S "$root" -B "$build" -DCVM_FUZZ=ON -DCVM_TESTS=OFF \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j"$jobs" --target "fuzz_$target"

seeds="$root/fuzz/corpus/$target"
work="$build/corpus/$target"
crashes="$build/crashes/$target"
mkdir -p "$work" "$crashes"
set -- -max_total_time="$seconds" -artifact_prefix="$crashes/" -print_final_stats=1 \
    -rss_limit_mb=2048 -timeout=10 "$@"
if [ -d "$seeds" ]; then
    exec "$build/fuzz_$target" "$@" "$work" "$seeds"
fi
exec "$build/fuzz_$target" "$@" "$work"
