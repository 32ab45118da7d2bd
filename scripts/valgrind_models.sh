#!/usr/bin/env bash
# Runs `cvm run` on a few small models under valgrind memcheck: any invalid
# access, use of uninitialised memory or leak fails the script.
#
# usage: scripts/valgrind_models.sh [CVM_BINARY] [MODEL.onnx...]
#   default binary: build/cvm; default models: three small exports.
# Valgrind runs code ~30-50x slower, so keep the models small.
set -euo pipefail
cd "$(dirname "$0")/.."
cvm=${1:-build/cvm}
shift || true
if [ $# -eq 0 ]; then
    set -- tests/data/exports/yolov8-cls-tiny-224.onnx \
           tests/data/exports/vit-tiny-64.onnx \
           tests/data/exports/yolov8-det-tiny-160.onnx
fi
if [ ! -x "$cvm" ]; then
    echo "no cvm binary at $cvm (build first, or pass its path)" >&2
    exit 2
fi
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
status=0
for m in "$@"; do
    log="$out/$(basename "$m").log"
    t0=$(date +%s)
    # Symbolic dims (batch, height, width) get batch 1 and the size in the
    # file name ("-160"), else 224.
    shape=()
    if name=$(basename "$m" .onnx) && [[ $name =~ -([0-9]+)(-|$) ]]; then
        size=${BASH_REMATCH[1]}
    else
        size=224
    fi
    # --threads 2: the worker pool is exercised too; --runs 2: the second
    # run takes the steady-state path (cached plan, reused arena).
    args=(run "$m" --threads 2 --runs 2 --out "$out/o")
    if ! "$cvm" "${args[@]}" --runs 1 >/dev/null 2>"$out/err"; then
        if grep -q "symbolic dims" "$out/err"; then
            input=$(sed -n "s/.*input '\([^']*\)' has symbolic dims.*/\1/p" "$out/err")
            shape=(--shape "$input=1x3x${size}x${size}")
        fi
    fi
    # Exit code 99 is valgrind's own verdict; anything else non-zero is cvm's.
    set +e
    valgrind --tool=memcheck --leak-check=full --show-leak-kinds=definite,indirect,possible \
        --errors-for-leak-kinds=definite,indirect,possible --track-origins=yes \
        --error-exitcode=99 --log-file="$log" \
        "$cvm" "${args[@]}" "${shape[@]}" >/dev/null 2>"$out/err"
    rc=$?
    set -e
    case $rc in
        0) res=clean ;;
        99) res="MEMCHECK ERRORS"; status=1 ;;
        *) res="cvm failed (exit $rc: $(head -c 300 "$out/err"))"; status=1 ;;
    esac
    errs=$(grep -m1 "ERROR SUMMARY" "$log" | sed 's/.*ERROR SUMMARY: //')
    heap=$(grep -m1 "total heap usage" "$log" | sed 's/.*total heap usage: //')
    echo "$(basename "$m"): $res in $(( $(date +%s) - t0 )) s; errors: $errs; heap: $heap"
    [ $rc -eq 99 ] && sed -n '1,80p' "$log"
done
exit $status
