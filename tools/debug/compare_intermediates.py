#!/usr/bin/env python3
"""Finds the first node where cvmodels and ONNX Runtime disagree: exposes every
intermediate float tensor as a graph output, runs both on the test pattern and
prints the values whose relative error exceeds a limit, in graph order.

usage: compare_intermediates.py LIBCVM MODEL.onnx [--limit 1e-4] [--top 15]
"""
import argparse
import os
import sys
import tempfile

import numpy as np
import onnx
import onnxruntime as ort
from onnx import shape_inference

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "bench"))
import compare_ort  # noqa: E402
import cvm_ctypes  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("lib")
    ap.add_argument("model")
    ap.add_argument("--limit", type=float, default=1e-4)
    ap.add_argument("--top", type=int, default=15)
    a = ap.parse_args()
    feeds = compare_ort.feeds_for(a.model)
    m = shape_inference.infer_shapes(onnx.load(a.model))
    have = {o.name for o in m.graph.output}
    order = []
    for n in m.graph.node:
        for o in n.output:
            if o and o not in have:
                m.graph.output.append(onnx.ValueInfoProto(name=o))
                have.add(o)
            order.append((o, n.op_type, n.name))
    with tempfile.TemporaryDirectory() as d:
        p = os.path.join(d, "all.onnx")
        onnx.save(m, p)
        so = ort.SessionOptions()
        so.log_severity_level = 3
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        s = ort.InferenceSession(p, so, providers=["CPUExecutionProvider"])
        names = [o.name for o in s.get_outputs()]
        ref = dict(zip(names, s.run(None, feeds)))
        cs = cvm_ctypes.Session(cvm_ctypes.Library(a.lib), p, 1)
        got = dict(zip(cs.output_names, cs.run(feeds)))
    shown = 0
    for name, op, node in order:
        if name not in ref or name not in got:
            continue
        r, g = ref[name], got[name]
        if r.shape != g.shape:
            print(f"{op:16} {node[:40]:40} {name[:40]:40} shape {g.shape} vs {r.shape}")
            shown += 1
        elif r.dtype.kind == "f" and r.size:
            scale = float(np.max(np.abs(r))) or 1.0
            err = float(np.max(np.abs(g.astype(np.float64) - r))) / scale
            if err > a.limit:
                print(f"{op:16} {node[:40]:40} {name[:40]:40} rel err {err:.3g} (scale {scale:.3g})")
                shown += 1
        elif r.size and not np.array_equal(r, g):
            print(f"{op:16} {node[:40]:40} {name[:40]:40} {int(np.sum(r != g))} of {r.size} differ")
            shown += 1
        if shown >= a.top:
            break
    if not shown:
        print("all intermediates agree")


if __name__ == "__main__":
    main()
