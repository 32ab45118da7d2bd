"""Development-time cross-check: `cvm predict` against the real Roboflow
`inference-models` package (when it can be installed; it pulls torch), on the
same cases as compare.py.  Run with the Python that has inference-models:

    python tests/vision/check_inference_models.py build/cvm ../shared [case,case...]
"""
import json
import os
import subprocess
import sys
import tempfile

import cv2
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import compare  # noqa: E402
from inference_models import AutoModel  # noqa: E402


def to_ref(model, pkg_task, result, W, H):
    if pkg_task == "classification":
        c = result.confidence[0].numpy().astype(float)
        return {"classes": c.tolist(), "top": int(result.class_id[0])}
    if pkg_task == "multi-label-classification":
        r = result[0]
        return {"classes": r.confidence.numpy().astype(float).tolist(),
                "predicted": [int(i) for i in r.class_ids.numpy().ravel()]}
    if pkg_task == "keypoint-detection":
        kps, dets = result
        kps, dets = kps[0], dets[0]
    else:
        dets = result[0]
        kps = None
    out = {"detections": []}
    for i in range(len(dets.class_id)):
        d = {"box": dets.xyxy[i].numpy().astype(float).tolist(), "confidence": float(dets.confidence[i]),
             "class_id": int(dets.class_id[i]), "mask": None, "keypoints": None}
        if pkg_task == "instance-segmentation":
            d["mask"] = dets.mask[i].numpy().astype(bool)
        if kps is not None:
            xy = kps.xy[i].numpy()
            cf = kps.confidence[i].numpy()
            d["keypoints"] = [(float(xy[j, 0]), float(xy[j, 1]), float(cf[j])) for j in range(len(cf))]
        out["detections"].append(d)
    return out


def main():
    cvm, shared = sys.argv[1], sys.argv[2]
    here = os.path.dirname(os.path.abspath(__file__))
    exports = os.path.join(here, "..", "data", "exports")
    fixtures = os.path.join(here, "..", "data", "packages")
    failures = 0
    with tempfile.TemporaryDirectory(prefix="cvm-im-") as tmp:
        only = sys.argv[3].split(",") if len(sys.argv) > 3 else None
        for name, fixture, weights, names, conf, images, *opt in compare.CASES:
            opt = opt[0] if opt else {}
            max_det = opt.get("max_det", 300)
            if only and name not in only:
                continue
            pkg_dir = os.path.join(tmp, name)
            compare.assemble(os.path.join(fixtures, fixture), compare.resolve(weights, shared, exports),
                             compare.resolve(names, shared, exports) if names else None, pkg_dir)
            task = json.load(open(os.path.join(pkg_dir, "model_config.json")))["task_type"]
            try:
                model = AutoModel.from_pretrained(pkg_dir, onnx_execution_providers=["CPUExecutionProvider"])
            except Exception as e:  # noqa: BLE001
                print("SKIP %s: inference-models cannot load it: %s" % (name, str(e).splitlines()[0][:200]))
                continue
            paths = [os.path.join(shared, "images", i) for i in images]
            run = subprocess.run([cvm, "predict", pkg_dir] + paths + ["--json", "--rle", "--conf", str(conf),
                                                                "--max-det", str(max_det)],
                                 capture_output=True, text=True)
            lines = [json.loads(l) for l in run.stdout.splitlines() if l.strip()]
            for path, ours in zip(paths, lines):
                bgr = cv2.imread(path, cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION)
                kw = {} if task == "classification" else {"confidence": conf}
                if task not in ("classification", "multi-label-classification"):
                    # The reference's own defaults differ per family; pass ours.
                    kw.update(iou_threshold=0.3, max_detections=max_det)
                ref = to_ref(model, task, model(bgr, **kw), bgr.shape[1], bgr.shape[0])
                if "predicted" in ref:
                    ok, problems, st = compare.compare_multilabel(ours, ref, conf)
                elif "classes" in ref:
                    ok, problems, st = compare.compare_classes(ours, ref)
                else:
                    ok, problems, st = compare.compare_detections(ours, ref, conf)
                n_ref = len(ref.get("detections", ref.get("classes", [])))
                print("%s %-30s %-18s cvm %3d im %3d matched %3d  max|dconf| %.5f  max|dbox| %.2f  min mask IoU %.4f"
                      % ("ok  " if ok else "FAIL", name, os.path.basename(path), len(ours["predictions"]), n_ref,
                         st["matched"], st["dconf"], st["dbox"], st["miou"]))
                for p in problems[:4]:
                    print("       " + p)
                failures += not ok
    print("%d failure(s)" % failures)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
