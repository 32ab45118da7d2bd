"""Development-time check that cvmodels and Roboflow's inference-models share one
model cache (INFERENCE_HOME) in both directions, for a YOLOv8n package.

Not part of ctest: it needs the `inference-models` pip package and torch.

usage: python cache_interop.py CVM_BINARY YOLO_ONNX IMAGE [WORK_DIR]

Run it with the Python that has inference-models installed.  Each
inference-models step runs in a fresh interpreter because inference-models
decides OFFLINE_MODE and INFERENCE_HOME once, at import.

  a) cvmodels downloads `hub-test/yolo` from the local fixture server into
     INFERENCE_HOME; the server is stopped; inference-models loads the same
     model id with OFFLINE_MODE=True (the API host points at a closed port
     too) and runs it on the image.
  b) inference-models downloads it into a fresh INFERENCE_HOME with
     OFFLINE_MODE_WARM_UP=True (what inference-models itself needs in order to
     serve that model offline later); the server is stopped; cvmodels loads it
     with --offline and predicts.
  c) each then loads online over the other's cache, and both still load the
     result offline.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fixture_server import FixtureServer  # noqa: E402

CVM = os.path.abspath(sys.argv[1])
YOLO = os.path.abspath(sys.argv[2])
IMAGE = os.path.abspath(sys.argv[3])
WORK = os.path.abspath(sys.argv[4]) if len(sys.argv) > 4 else tempfile.mkdtemp(prefix="cvm-interop-")
MODEL_ID = "hub-test/yolo"
DEAD_HOST = "http://127.0.0.1:9"
FAILURES = []

IM_LOAD = r"""
import json, sys
import numpy as np
from PIL import Image
from inference_models import AutoModel
model = AutoModel.from_pretrained(sys.argv[1], device="cpu", verbose=True)
image = np.asarray(Image.open(sys.argv[2]).convert("RGB"))[:, :, ::-1].copy()
out = model(image)
det = out[0]
print("IM_RESULT " + json.dumps({
    "package": model.resolved_model.model_package_id if getattr(model, "resolved_model", None) else None,
    "class_names": list(model.class_names),
    "boxes": int(det.xyxy.shape[0]),
}))
"""

VALIDATE_ENTRIES = r"""
import glob, json, os, sys
from inference_models.models.auto_loaders.auto_resolution_cache import AutoResolutionCacheEntry
paths = glob.glob(os.path.join(sys.argv[1], "auto-resolution-cache", "*.json"))
for p in paths:
    AutoResolutionCacheEntry.model_validate(json.load(open(p)))
print("valid", len(paths))
"""


def clean_env(home, host, **extra):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("ROBOFLOW_", "CVM_HUB_", "OFFLINE_MODE", "_ROBOFLOW_INFERENCE_"))}
    env.update({"INFERENCE_HOME": home, "ROBOFLOW_API_HOST": host, "CVM_HUB_CONNECT_TIMEOUT_S": "2",
                "CVM_HUB_API_TIMEOUT_S": "5", "CVM_HUB_MAX_TRIES": "2", "CVM_HUB_RETRY_BASE_MS": "10"})
    env.update({k: str(v) for k, v in extra.items()})
    return env


def run(cmd, env, timeout=300):
    p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    return p.returncode, p.stdout, p.stderr


def run_im(home, host, **extra):
    rc, out, err = run([sys.executable, "-c", IM_LOAD, MODEL_ID, IMAGE], clean_env(home, host, **extra))
    res = None
    for line in out.splitlines():
        if line.startswith("IM_RESULT "):
            res = json.loads(line[len("IM_RESULT "):])
    return rc, res, out + err


def run_cvm(home, host, *args):
    return run([CVM, "predict", MODEL_ID, IMAGE, *args], clean_env(home, host))


def check(name, cond, detail=""):
    print(f"{'ok  ' if cond else 'FAIL'} {name}")
    if not cond:
        print("    " + detail[-4000:].replace("\n", "\n    "))
        FAILURES.append(name)


def tree(home):
    lines = []
    for root, dirs, files in os.walk(home):
        dirs.sort()
        for f in sorted(files):
            p = os.path.join(root, f)
            lines.append(os.path.relpath(p, home) + (" -> " + os.readlink(p) if os.path.islink(p) else ""))
    return "\n".join(lines)


def main():
    os.makedirs(WORK, exist_ok=True)

    # a) cvmodels writes, inference-models reads
    home_a = os.path.join(WORK, "home-a")
    shutil.rmtree(home_a, ignore_errors=True)
    with FixtureServer(YOLO) as s:
        rc, out, err = run_cvm(home_a, s.url)
        check("a: cvmodels downloads from the server", rc == 0, out + err)
        files_seen = sorted(s.fixtures.file_gets)
    print("    cache written by cvmodels:\n      " + tree(home_a).replace("\n", "\n      "))
    print(f"    files fetched: {files_seen}")
    # inference-models deletes auto-resolution entries it cannot parse, so
    # ours must validate against its schema
    rc, out, err = run([sys.executable, "-c", VALIDATE_ENTRIES, home_a], clean_env(home_a, DEAD_HOST))
    check("a: cvmodels' auto-resolution entry validates as inference-models' AutoResolutionCacheEntry",
          rc == 0 and "valid 1" in out, out + err)
    rc, res, log = run_im(home_a, DEAD_HOST, OFFLINE_MODE="True")
    check("a: inference-models loads it with OFFLINE_MODE=True and predicts",
          rc == 0 and res and res["package"] == "yolopkg" and len(res["class_names"]) == 10, log)
    if res:
        print(f"    inference-models: {res}")
    # Without OFFLINE_MODE, inference-models reuses a cached package without
    # the API only through its auto-resolution entry, whose key hashes its
    # loading options and a fingerprint of the Python runtime (torch,
    # onnxruntime, providers, ...).  cvmodels cannot compute that key, so here
    # inference-models needs the API (or OFFLINE_MODE); recorded, not failed.
    rc, res, log = run_im(home_a, DEAD_HOST)
    print(f"note a: inference-models without OFFLINE_MODE, API down, cvmodels-only cache: "
          f"{'loaded' if rc == 0 else 'needs the API (' + log.strip().splitlines()[-1][:120] + ')'}")

    # b) inference-models writes, cvmodels reads
    home_b = os.path.join(WORK, "home-b")
    shutil.rmtree(home_b, ignore_errors=True)
    with FixtureServer(YOLO) as s:
        rc, res, log = run_im(home_b, s.url, OFFLINE_MODE_WARM_UP="True")
        check("b: inference-models downloads from the server", rc == 0 and res and res["package"] == "yolopkg", log)
    print("    cache written by inference-models:\n      " + tree(home_b).replace("\n", "\n      "))
    rc, out, err = run_cvm(home_b, DEAD_HOST, "--offline")
    check("b: cvmodels loads it with --offline and predicts", rc == 0 and "detections" in out, out + err)
    if rc == 0:
        print("    cvmodels: " + out.strip().replace("\n", " ")[:300])
    rc, out, err = run_cvm(home_b, DEAD_HOST)
    check("b: cvmodels loads it with the API unreachable (falls back to the cache)", rc == 0, out + err)
    rc, res, log = run_im(home_b, DEAD_HOST)
    check("b: inference-models reloads its own cache with the API down (reference)", rc == 0 and res is not None,
          log)
    # and inference-models itself can serve b offline, as a reference point
    rc, res, log = run_im(home_b, DEAD_HOST, OFFLINE_MODE="True")
    check("b: inference-models reloads its own cache offline (reference)", rc == 0 and res is not None, log)

    # c) a cache both wrote to, in either order, stays usable by both
    with FixtureServer(YOLO) as s:
        rc, out, err = run_cvm(home_b, s.url)
        check("c: cvmodels online over inference-models' cache", rc == 0, out + err)
        rc, res, log = run_im(home_a, s.url)
        check("c: inference-models online over cvmodels' cache", rc == 0 and res is not None, log)
    for home, tag in ((home_a, "cvmodels first"), (home_b, "inference-models first")):
        rc, res, log = run_im(home, DEAD_HOST, OFFLINE_MODE="True")
        check(f"c: inference-models offline afterwards ({tag})", rc == 0 and res is not None, log)
        rc, out, err = run_cvm(home, DEAD_HOST, "--offline")
        check(f"c: cvmodels offline afterwards ({tag})", rc == 0 and "detections" in out, out + err)

    print("all interop checks passed" if not FAILURES else f"{len(FAILURES)} failed: {FAILURES}")
    return 1 if FAILURES else 0


if __name__ == "__main__":
    sys.exit(main())
