#!/usr/bin/env bash
# Runs `cvm predict` (decode, pre-process, inference, post-process, JSON with
# RLE masks, annotated JPEG and PNG) on the committed test packages under
# valgrind memcheck: any invalid access, use of uninitialised memory or leak
# fails the script.  Not in CI: it takes minutes.
#
# usage: scripts/valgrind_vision.sh [CVM_BINARY]
# The packages are the vision tests' fixtures (tests/data/packages) with the
# weights they are compared on: one per task and family.
# Valgrind has no AVX-512, so under it the library takes its AVX2 paths.
set -euo pipefail
cd "$(dirname "$0")/.."
cvm=${1:-build/cvm}
shared=${CVM_SHARED_DIR:-../shared}
images=$shared/images
coco=$shared/models/labels/coco80.txt
ex=tests/data/exports
# fixture | weights | class names (empty: the fixture's own)
cases=(
    "yolov8-det-640-crop-gray-stretch|$shared/models/yolov8n/yolov8n_deq_fp32.onnx|$coco"
    "yolov8-seg-320-crop-fit|$shared/models/yolov8n-seg/yolov8n-seg_deq_fp32.onnx|$coco"
    "yolo11-det-320-clahe|$shared/models/yolo11n/yolo11n_deq_fp32.onnx|$coco"
    "yolov8-pose-160|$ex/yolov8-pose-tiny-160.onnx|"
    "yolov8-cls-224|$ex/yolov8-cls-tiny-224.onnx|"
    "vit-mlc-64|$ex/vit-tiny-64.onnx|"
    "yolov5-det-160|$ex/yolov5-det-tiny-160.onnx|"
    "yolov10-det-160|$ex/end2end/yolov10-det-tiny-160.onnx|"
    "rfdetr-seg-192-twostep|$ex/rfdetr-seg-tiny-192.onnx|"
)
if [ ! -x "$cvm" ]; then
    echo "no cvm binary at $cvm (build first, or pass its path)" >&2
    exit 2
fi
if [ ! -f "$images/dog.jpg" ]; then
    echo "no test images in $images (set CVM_SHARED_DIR)" >&2
    exit 2
fi
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
status=0
for case in "${cases[@]}"; do
    IFS='|' read -r name weights names <<<"$case"
    pkg="$out/pkg-$name"
    mkdir -p "$pkg"
    for f in tests/data/packages/"$name"/*; do ln -s "$PWD/$f" "$pkg/"; done
    ln -s "$(realpath "$weights")" "$pkg/weights.onnx"
    [ -n "$names" ] && ln -sf "$(realpath "$names")" "$pkg/class_names.txt"
    log="$out/$name.log"
    t0=$(date +%s)
    set +e
    valgrind --tool=memcheck --leak-check=full --show-leak-kinds=definite,indirect,possible \
        --errors-for-leak-kinds=definite,indirect,possible --track-origins=yes \
        --error-exitcode=99 --log-file="$log" \
        "$cvm" predict "$pkg" "$images/dog.jpg" "$images/chelsea.png" --threads 2 --json --rle \
        --save "$out/save-$name" >"$out/$name.json" 2>"$out/err"
    rc=$?
    set -e
    case $rc in
        0) res=clean ;;
        99) res="MEMCHECK ERRORS"; status=1 ;;
        *) res="cvm failed (exit $rc: $(head -c 300 "$out/err"))"; status=1 ;;
    esac
    errs=$(grep -m1 "ERROR SUMMARY" "$log" | sed 's/.*ERROR SUMMARY: //')
    heap=$(grep -m1 "total heap usage" "$log" | sed 's/.*total heap usage: //')
    saved=$(ls "$out/save-$name" 2>/dev/null | wc -l)
    echo "$name: $res in $(( $(date +%s) - t0 )) s; errors: $errs; heap: $heap; pictures saved: $saved"
    [ $rc -eq 99 ] && sed -n '1,80p' "$log"
done
exit $status
