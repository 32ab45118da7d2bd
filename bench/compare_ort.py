#!/usr/bin/env python3
"""cvmodels vs ONNX Runtime on the same ONNX file, same input, same thread count.

usage: compare_ort.py [--lib build/libcvm.so] [--threads 1,2] [--runs 30] [--warmup 3]
                      [--shared ../shared] [MODEL.onnx ...]

Without model arguments it times the real models of the shared folder that the
engine targets first.  The two engines run in alternating blocks (--rounds of
them, each of --runs/--rounds timed runs after --warmup), and every ONNX
Runtime block runs in a fresh child process: ORT's intra-op threads keep
spinning long after a run (measured here: a 2-thread cvmodels run of YOLO11n
took 38 ms instead of 20 ms even 50 ms after an ORT run in the same process),
so sharing a process or interleaving single runs would charge ORT's idle
spinning to cvmodels.  Both engines see the same machine over the same
period.  The table reports medians and p90, the ratio cvmodels/ORT of the
medians, session build time, and the GFLOP/s each achieved (multiply-adds of
Conv/ConvTranspose/MatMul/Gemm counted twice).
"""
import argparse
import glob
import json
import os
import statistics
import subprocess
import sys
import time

import numpy as np
import onnx
import onnxruntime as ort
from onnx import shape_inference

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cvm_ctypes  # noqa: E402

DEFAULT_MODELS = ["yolov8n/yolov8n_deq_fp32.onnx", "yolo11n/yolo11n_deq_fp32.onnx",
                  "yolov8n-seg/yolov8n-seg_deq_fp32.onnx", "yolox-nano/yolox_nano.onnx",
                  "nanodet-m/nanodet_m_416.onnx", "ppocr-v4/ch_PP-OCRv4_det_infer.onnx",
                  "ppocr-v4/ch_PP-OCRv4_rec_infer.onnx", "deimv2-atto/deimv2_atto_coco_deq_fp32.onnx"]


def pattern(shape, nhwc=False):
    if nhwc:
        n, h, w, c = shape
        hh, ww, cc = np.meshgrid(np.arange(h), np.arange(w), np.arange(c), indexing="ij")
    else:
        n, c, h, w = shape
        cc, hh, ww = np.meshgrid(np.arange(c), np.arange(h), np.arange(w), indexing="ij")
    p = ((cc * 97 + hh * 13 + ww * 7) % 256) / 255.0
    return np.ascontiguousarray(np.broadcast_to(p, shape).astype(np.float32))


def feeds_for(path):
    golden = os.path.join(os.path.dirname(path), "golden_pattern_ort.json")
    spec = None
    if os.path.exists(golden):
        spec = json.load(open(golden))["models"].get(os.path.basename(path))
    feeds = {}
    if spec:
        for name, s in spec["inputs"].items():
            feeds[name] = (np.array(s["value"], dtype=np.int64) if "value" in s
                           else pattern(s["shape"], s.get("layout") == "NHWC"))
        return feeds
    m = onnx.load(path, load_external_data=False)
    inits = {i.name for i in m.graph.initializer}
    for i in m.graph.input:
        if i.name in inits:
            continue
        dims = [d.dim_value if d.dim_value > 0 else 1 for d in i.type.tensor_type.shape.dim]
        if len(dims) != 4:
            raise SystemExit(f"{path}: input {i.name} is not 4-D; give a golden_pattern_ort.json")
        feeds[i.name] = pattern(dims)
    return feeds


def count_flops(path, feeds):
    """Multiply-adds x2 of Conv, ConvTranspose, MatMul and Gemm, from inferred shapes."""
    m = onnx.load(path)
    for i in m.graph.input:
        if i.name in feeds:
            t = i.type.tensor_type
            for d, v in zip(t.shape.dim, feeds[i.name].shape):
                d.dim_value = v
    try:
        m = shape_inference.infer_shapes(m, data_prop=True)
    except Exception:
        return None
    shapes = {}
    for vi in list(m.graph.value_info) + list(m.graph.input) + list(m.graph.output):
        shapes[vi.name] = [d.dim_value for d in vi.type.tensor_type.shape.dim]
    for init in m.graph.initializer:
        shapes[init.name] = list(init.dims)
    total = 0
    for n in m.graph.node:
        try:
            if n.op_type == "Conv":
                w, y = shapes[n.input[1]], shapes[n.output[0]]
                total += 2 * int(np.prod(y)) * int(np.prod(w[1:]))
            elif n.op_type == "ConvTranspose":
                x, w = shapes[n.input[0]], shapes[n.input[1]]
                total += 2 * int(np.prod(x)) * int(np.prod(w[1:]))
            elif n.op_type in ("MatMul", "Gemm"):
                a, y = shapes[n.input[0]], shapes[n.output[0]]
                k = a[-1] if not (n.op_type == "Gemm" and any(at.name == "transA" and at.i for at in n.attribute)) else a[0]
                total += 2 * int(np.prod(y)) * k
        except (KeyError, IndexError):
            continue
    return total or None


def pct(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(q * (len(xs) - 1))))]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lib", default="build/libcvm.so")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--shared", default=os.environ.get("CVM_SHARED_DIR", "../shared"))
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--ort-block", nargs=4, metavar=("MODEL", "THREADS", "RUNS", "WARMUP"),
                    help=argparse.SUPPRESS)
    ap.add_argument("models", nargs="*")
    a = ap.parse_args()
    if a.ort_block:
        return ort_block(*a.ort_block)
    lib = cvm_ctypes.Library(a.lib)
    models = a.models or [os.path.join(a.shared, "models", m) for m in DEFAULT_MODELS]
    print(f"# onnxruntime {ort.__version__}; {a.rounds} alternating blocks, {a.runs} timed runs per engine, "
          f"{a.warmup} warm-up runs per block; {time.strftime('%Y-%m-%d')}")
    print(f"{'model':42} {'thr':>3} {'cvm ms':>9} {'p90':>8} {'ort ms':>9} {'p90':>8} {'ratio':>6} "
          f"{'cvm GF/s':>9} {'ort GF/s':>9} {'cvm load':>9} {'ort load':>9}")
    per_block = max(1, a.runs // a.rounds)
    for path in models:
        feeds = feeds_for(path)
        flops = count_flops(path, feeds)
        for thr in [int(t) for t in a.threads.split(",")]:
            t0 = time.perf_counter()
            cs = cvm_ctypes.Session(lib, path, thr)
            c_load = (time.perf_counter() - t0) * 1e3
            ct, ot, o_loads = [], [], []
            for _ in range(a.rounds):
                for _ in range(a.warmup):
                    cs.run(feeds)
                for _ in range(per_block):
                    t0 = time.perf_counter()
                    cs.run(feeds)
                    ct.append((time.perf_counter() - t0) * 1e3)
                r = subprocess.run([sys.executable, os.path.abspath(__file__), "--ort-block", path, str(thr),
                                    str(per_block), str(a.warmup)], capture_output=True, text=True, check=True)
                block = json.loads(r.stdout.strip().splitlines()[-1])
                ot += block["times"]
                o_loads.append(block["load_ms"])
            cm, om = statistics.median(ct), statistics.median(ot)
            gf = lambda ms: f"{flops / ms / 1e6:9.1f}" if flops else f"{'-':>9}"
            name = os.path.relpath(path, os.path.join(a.shared, "models")) if a.shared in path else path
            print(f"{name[-42:]:42} {thr:>3} {cm:9.2f} {pct(ct, .9):8.2f} {om:9.2f} {pct(ot, .9):8.2f} "
                  f"{cm / om:6.2f} {gf(cm)} {gf(om)} {c_load:9.1f} {statistics.median(o_loads):9.1f}", flush=True)
            cs.close()


def ort_block(path, threads, runs, warmup):
    """Child process: one block of ONNX Runtime runs, printed as JSON."""
    feeds = feeds_for(path)
    so = ort.SessionOptions()
    so.intra_op_num_threads = int(threads)
    so.inter_op_num_threads = 1
    so.log_severity_level = 3
    t0 = time.perf_counter()
    s = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    load = (time.perf_counter() - t0) * 1e3
    for _ in range(int(warmup)):
        s.run(None, feeds)
    times = []
    for _ in range(int(runs)):
        t0 = time.perf_counter()
        s.run(None, feeds)
        times.append((time.perf_counter() - t0) * 1e3)
    print(json.dumps({"load_ms": load, "times": times}))

if __name__ == "__main__":
    main()
