#!/usr/bin/env python3
"""Runs every ONNX model in the shared models folder through `cvm run` and
through ONNX Runtime on the same input (the deterministic pattern the
golden_pattern_ort.json files describe), and compares every output.

usage: check_models.py CVM_BINARY SHARED_DIR WORKDIR [--filter SUBSTR]

Tolerances (max |cvm - ort| over an output, relative to that output's scale,
scale = max |ort| or 1 if that is 0):
  float graphs:                      1e-4
  dynamically quantized int8 graphs: see QUANT_TOL below; DynamicQuantizeLinear
  rounds x/scale to integers, so a last-bit difference in a float activation
  can move one quantized value by one step, and such steps propagate.
Integer outputs (labels) must be equal where the float outputs they come from
are not near-tied.
"""
import glob
import json
import os
import subprocess
import sys
import time

import numpy as np
import onnxruntime as ort

FLOAT_TOL = 1e-4
QUANT_TOL = 0.05


def pattern(shape, layout):
    shape = list(shape)
    if layout == "NHWC":
        n, h, w, c = shape
        hh, ww, cc = np.meshgrid(np.arange(h), np.arange(w), np.arange(c), indexing="ij")
        p = ((cc * 97 + hh * 13 + ww * 7) % 256) / 255.0
        return np.broadcast_to(p, shape).astype(np.float32)
    n, c, h, w = shape
    cc, hh, ww = np.meshgrid(np.arange(c), np.arange(h), np.arange(w), indexing="ij")
    p = ((cc * 97 + hh * 13 + ww * 7) % 256) / 255.0
    return np.broadcast_to(p, shape).astype(np.float32)


def is_quantized(path):
    import onnx
    m = onnx.load(path, load_external_data=False)
    return any(n.op_type in ("DynamicQuantizeLinear", "ConvInteger", "MatMulInteger", "QLinearConv")
               for n in m.graph.node)


def main():
    cvm, shared, work = sys.argv[1:4]
    filt = sys.argv[sys.argv.index("--filter") + 1] if "--filter" in sys.argv else None
    os.makedirs(work, exist_ok=True)
    failures = 0
    checked = 0
    for golden in sorted(glob.glob(os.path.join(shared, "models", "*", "golden_pattern_ort.json"))):
        gj = json.load(open(golden))
        folder = os.path.dirname(golden)
        for name, spec in sorted(gj["models"].items()):
            path = os.path.join(folder, name)
            if filt and filt not in path:
                continue
            if not os.path.exists(path):
                continue
            tag = os.path.basename(folder) + "/" + name
            feeds = {}
            for iname, ispec in spec["inputs"].items():
                if "value" in ispec:
                    feeds[iname] = np.array(ispec["value"], dtype=np.int64)
                else:
                    feeds[iname] = pattern(ispec["shape"], ispec.get("layout", "NCHW"))
            so = ort.SessionOptions()
            so.intra_op_num_threads = 2
            so.log_severity_level = 3
            sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
            ref_names = [o.name for o in sess.get_outputs()]
            ref = dict(zip(ref_names, sess.run(None, feeds)))
            case_dir = os.path.join(work, tag.replace("/", "__"))
            os.makedirs(case_dir, exist_ok=True)
            args = [cvm, "run", path, "--out", case_dir, "--threads", "2"]
            for iname, arr in feeds.items():
                f = os.path.join(case_dir, "in_%d.npy" % len(args))
                np.save(f, arr)
                args += ["--input", f"{iname}={f}"]
            t0 = time.time()
            r = subprocess.run(args, capture_output=True, text=True)
            dt = time.time() - t0
            checked += 1
            if r.returncode != 0:
                print(f"FAIL {tag}: cvm run exited {r.returncode}: {r.stderr.strip()}")
                failures += 1
                continue
            tol = QUANT_TOL if is_quantized(path) else FLOAT_TOL
            worst = 0.0
            bad = []
            for oname, want in ref.items():
                safe = "".join(c if c.isalnum() or c in "_-." else "_" for c in oname)
                got = np.load(os.path.join(case_dir, safe + ".npy"))
                if got.shape != want.shape or got.dtype != want.dtype:
                    bad.append(f"{oname}: {got.dtype}{list(got.shape)} vs ort {want.dtype}{list(want.shape)}")
                    continue
                if want.dtype.kind in "iub":
                    mism = int(np.sum(got != want))
                    if mism:
                        bad.append(f"{oname}: {mism} of {want.size} integer values differ")
                    continue
                scale = float(np.max(np.abs(want))) if want.size else 1.0
                scale = scale or 1.0
                err = float(np.max(np.abs(got.astype(np.float64) - want))) / scale if want.size else 0.0
                worst = max(worst, err)
                if not err <= tol:
                    bad.append(f"{oname}: max error {err:.3g} of scale {scale:.4g} (limit {tol:g})")
            status = "FAIL" if bad else "ok  "
            print(f"{status} {tag}: worst relative error {worst:.2e} (limit {tol:g}), cvm run {dt:.2f} s"
                  + ("".join("\n     " + b for b in bad)))
            failures += bool(bad)
    print(f"\n{checked - failures} passed, {failures} failed")
    return 1 if failures or checked == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
