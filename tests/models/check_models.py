#!/usr/bin/env python3
"""Runs every ONNX model in the shared models folder through `cvm run` and
through ONNX Runtime on the same input (the deterministic pattern the
golden_pattern_ort.json files describe), and compares every output.

usage: check_models.py CVM_BINARY SHARED_DIR WORKDIR [--filter SUBSTR] [--extra DIR]...

Tolerances (max |cvm - ort| over an output, relative to that output's scale,
scale = max |ort| or 1 if that is 0):
  float graphs:                      1e-4
  dynamically quantized int8 graphs: max(QUANT_TOL, 1.5 x S), where S is how
  far ONNX Runtime's own output moves when its input is perturbed by about two
  float32 ulps (measured here, worst of 3 perturbations).  DynamicQuantizeLinear
  rounds x/scale to integers, so a last-bit difference in a float activation
  moves a quantized value by one step and the steps propagate; S measures how
  much that moves this model's output (yolov8n_int8: 0.037, isnet: 0.064).
Models that end in a TopK (DETR post-processing: scores sorted, labels and
boxes gathered by the same indices) are compared as ranked lists: scores
element by element, and labels/boxes within each run of near-tied scores
(|difference| <= 1e-5 of the scale) as a set, because a last-bit difference in
two nearly equal scores legitimately swaps their places.
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
# Models with symbolic dims run again at other sizes (the same plan machinery
# must resolve every shape from the actual input).
OTHER_SHAPES = {
    "yunet_n_dynamic.onnx": [{"input": [1, 3, 480, 640]}, {"input": [2, 3, 160, 224]}],
    "yunet_s_dynamic.onnx": [{"input": [1, 3, 288, 416]}],
    "ch_PP-OCRv4_det_infer.onnx": [{"x": [1, 3, 480, 640]}],
    "ch_PP-OCRv4_rec_infer.onnx": [{"x": [2, 3, 48, 640]}],
    "ch_ppocr_mobile_v2.0_cls_infer.onnx": [{"x": [3, 3, 48, 192]}],
}
# model file -> (sorted score output, outputs gathered in the same order)
RANKED = {"deimv2_atto_coco_deq_fp32.onnx": ("scores", ["labels", "boxes"]),
          "deimv2_atto_coco_int8.onnx": ("scores", ["labels", "boxes"])}


# NMS-free exports whose single output is [B, M, 6] rows (x1, y1, x2, y2, score,
# class) sorted by a TopK: rows whose scores are near-tied may swap places.
RANKED_ROWS = {"yolov10-det-tiny-160.onnx": ("output0", 4), "yolo26-det-tiny-160.onnx": ("output0", 4)}


def tie_runs(scores):
    """Index runs [a, b) of a sorted score vector whose neighbours are near-tied."""
    s = scores.reshape(-1)
    scale = float(np.max(np.abs(s))) or 1.0
    runs, a = [], 0
    for i in range(1, len(s) + 1):
        if i == len(s) or abs(float(s[i]) - float(s[i - 1])) > 1e-5 * scale:
            runs.append((a, i))
            a = i
    return runs


def ranked_equal(ref, got, score_name, follow, tol):
    """Compares outputs gathered in score order, allowing swaps within near-ties."""
    bad = []
    runs = tie_runs(ref[score_name])
    for name in follow:
        r = ref[name].reshape(ref[score_name].size, -1).astype(np.float64)
        g = got[name].reshape(ref[score_name].size, -1).astype(np.float64)
        scale = float(np.max(np.abs(r))) or 1.0
        for a, b in runs:
            rr = sorted(map(tuple, np.round(r[a:b] / (scale * tol * 10), 0)))
            gg = sorted(map(tuple, np.round(g[a:b] / (scale * tol * 10), 0)))
            if b - a == 1:
                if np.max(np.abs(r[a] - g[a])) > tol * scale:
                    bad.append(f"{name}[{a}]: {g[a].tolist()} vs ort {r[a].tolist()}")
                    break
            elif rr != gg and np.max(np.abs(np.sort(r[a:b], 0) - np.sort(g[a:b], 0))) > tol * scale:
                bad.append(f"{name}[{a}:{b}] (near-tied scores) differ as a set")
                break
    return bad


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


def rounding_sensitivity(sess, feeds, ref):
    """Worst relative move of ORT's float outputs under ~2-ulp input perturbations."""
    rng = np.random.default_rng(0)
    worst = 0.0
    for _ in range(3):
        pert = {k: (v * (1 + 2.0 ** -22 * rng.choice([-1, 1], size=v.shape))).astype(v.dtype)
                if v.dtype == np.float32 else v for k, v in feeds.items()}
        for (name, a), b in zip(ref.items(), sess.run(None, pert)):
            if a.dtype.kind == "f" and a.size:
                scale = max(float(np.max(np.abs(a))), 1e-2)
                worst = max(worst, float(np.max(np.abs(a - b))) / scale)
    return worst


def declared_feeds(path):
    """Pattern inputs for every graph input, from its declared shape."""
    import onnx
    m = onnx.load(path, load_external_data=False)
    inits = {i.name for i in m.graph.initializer}
    feeds = {}
    for i in m.graph.input:
        if i.name in inits:
            continue
        t = i.type.tensor_type
        # symbolic batch -> 1, symbolic spatial dims -> 224 (a multiple of the
        # 32-pixel YOLO stride and of the 14-pixel ViT patch)
        dims = [d.dim_value if d.dim_value > 0 else (1 if k == 0 else 224) for k, d in enumerate(t.shape.dim)]
        if t.elem_type != 1 or len(dims) != 4:
            raise SystemExit(f"{path}: input {i.name} is not a 4-D float tensor")
        feeds[i.name] = pattern(dims, "NCHW")
    return feeds


def check_case(cvm, path, name, tag, feeds, work):
    """Runs one model on one input through cvm and ORT; returns (ok, report line)."""
    so = ort.SessionOptions()
    so.intra_op_num_threads = 2
    so.log_severity_level = 3
    sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    ref = dict(zip([o.name for o in sess.get_outputs()], sess.run(None, feeds)))
    case_dir = os.path.join(work, tag.replace("/", "__").replace(" ", "_"))
    os.makedirs(case_dir, exist_ok=True)
    args = [cvm, "run", path, "--out", case_dir, "--threads", "2"]
    for k, (iname, arr) in enumerate(feeds.items()):
        f = os.path.join(case_dir, f"input_{k}.npy")
        np.save(f, arr)
        args += ["--input", f"{iname}={f}"]
    t0 = time.time()
    r = subprocess.run(args, capture_output=True, text=True)
    dt = time.time() - t0
    if r.returncode != 0:
        return False, f"FAIL {tag}: cvm run exited {r.returncode}: {r.stderr.strip()}"
    tol = FLOAT_TOL
    if is_quantized(path):
        tol = max(QUANT_TOL, 1.5 * rounding_sensitivity(sess, feeds, ref))
    outs = {}
    for oname in ref:
        safe = "".join(c if c.isalnum() or c in "_-." else "_" for c in oname)
        outs[oname] = np.load(os.path.join(case_dir, safe + ".npy"))
    bad, worst = [], 0.0
    ranked = RANKED.get(name)
    if ranked and all(outs[o].shape == ref[o].shape for o in [ranked[0]] + ranked[1]):
        bad += ranked_equal(ref, outs, ranked[0], ranked[1], tol)
    rows = RANKED_ROWS.get(name)
    if rows and outs[rows[0]].shape == ref[rows[0]].shape:
        o, col = rows
        r2 = {"s": ref[o][0, :, col], "rows": ref[o][0]}
        g2 = {"s": outs[o][0, :, col], "rows": outs[o][0]}
        bad += ranked_equal(r2, g2, "s", ["rows"], tol)
        ranked = ("s", [o])
    for oname, want in ref.items():
        if ranked and oname in ranked[1]:
            continue
        got = outs[oname]
        if got.shape != want.shape or got.dtype != want.dtype:
            bad.append(f"{oname}: {got.dtype}{list(got.shape)} vs ort {want.dtype}{list(want.shape)}")
            continue
        if want.dtype.kind in "iub":
            mism = int(np.sum(got != want))
            if mism:
                bad.append(f"{oname}: {mism} of {want.size} integer values differ")
            continue
        # Floor the scale at 1e-2: ORT's Sigmoid is a rational approximation whose
        # relative error grows for x < -10 (6.5x at x = -18, measured against
        # float64), so an output made only of tiny probabilities (YuNet's obj_*)
        # must not be judged relative to its own 1e-5 scale.
        scale = max(float(np.max(np.abs(want))) if want.size else 1.0, 1e-2)
        err = float(np.max(np.abs(got.astype(np.float64) - want))) / scale if want.size else 0.0
        worst = max(worst, err)
        if not err <= tol:
            bad.append(f"{oname}: max error {err:.3g} of scale {scale:.4g} (limit {tol:g})")
    line = (f"{'FAIL' if bad else 'ok  '} {tag}: worst relative error {worst:.2e} (limit {tol:g}), "
            f"cvm run {dt:.2f} s" + "".join("\n     " + b for b in bad))
    return not bad, line


def main():
    cvm, shared, work = sys.argv[1:4]
    filt = sys.argv[sys.argv.index("--filter") + 1] if "--filter" in sys.argv else None
    os.makedirs(work, exist_ok=True)
    passed = failed = 0
    for golden in sorted(glob.glob(os.path.join(shared, "models", "*", "golden_pattern_ort.json"))):
        folder = os.path.dirname(golden)
        for name, spec in sorted(json.load(open(golden))["models"].items()):
            path = os.path.join(folder, name)
            if (filt and filt not in path) or not os.path.exists(path):
                continue
            for variant in [{}] + OTHER_SHAPES.get(name, []):
                feeds = {}
                for iname, ispec in spec["inputs"].items():
                    if "value" in ispec:
                        feeds[iname] = np.array(variant.get(iname, ispec["value"]), dtype=np.int64)
                    else:
                        feeds[iname] = pattern(variant.get(iname, ispec["shape"]), ispec.get("layout", "NCHW"))
                tag = os.path.basename(folder) + "/" + name
                if variant:
                    tag += " " + ",".join(f"{k}={list(feeds[k].shape)}" for k in variant)
                ok, line = check_case(cvm, path, name, tag, feeds, work)
                print(line, flush=True)
                passed += ok
                failed += not ok
    # Random-weight exports from the upstream packages (tests/data/exports):
    # inputs come from the declared shapes.
    for extra in [sys.argv[i + 1] for i, a in enumerate(sys.argv) if a == "--extra"]:
        for path in sorted(glob.glob(os.path.join(extra, "*.onnx"))):
            if filt and filt not in path:
                continue
            feeds = declared_feeds(path)
            ok, line = check_case(cvm, path, os.path.basename(path), "exports/" + os.path.basename(path), feeds, work)
            print(line, flush=True)
            passed += ok
            failed += not ok
    print(f"\n{passed} passed, {failed} failed")
    return 1 if failed or passed == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
