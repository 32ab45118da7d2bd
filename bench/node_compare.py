#!/usr/bin/env python3
"""Node by node: where cvmodels spends more or less time than ONNX Runtime.

    python bench/node_compare.py MODEL.onnx [--lib build/libcvm.so] [--threads 1]
                                 [--rounds 20] [--per 3] [--top 25]

Both engines run in one process in alternating blocks (as interleave_ort.py
does), each with its per-node profiler on.  After every run the per-node time
of that run is taken (cvmodels: the difference of its accumulated node
profile; ORT: its profiler's node events), and each node keeps its best run:
the best of many runs is what a busy, drifting host moves least.  Nodes are
matched by name (ORT's NCHWc convolutions, named after their output
tensor, are mapped back to the name of the node that produced it).  cvmodels' fused nodes keep the name of the Conv or MatMul
they grew from, so the ORT side of a match is that node alone, and ORT nodes
that cvmodels folded into a neighbour (the Sigmoid and Mul of a SiLU, a
BatchNorm, a bias Add) are listed as unmatched.  With more than one thread
ORT's profile runs its own thread pool, so the per-node figures are only
indicative there; the whole-run ratio is printed too.
"""
import argparse
import glob
import json
import os
import sys
import tempfile
import time

# numpy's OpenBLAS threads spin after a BLAS call and take CPU time from the
# engines being timed (seen in perf profiles of these scripts)
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import cvm_ctypes  # noqa: E402
import compare_ort  # noqa: E402


def ort_node_times(prof_path):
    """Per-run lists of {node name: µs} from an ORT profile file."""
    with open(prof_path) as f:
        events = json.load(f)
    runs, cur = [], None
    for ev in events:
        if ev.get("cat") == "Session" and ev.get("name") == "model_run":
            continue
        if ev.get("cat") != "Node" or not ev.get("name", "").endswith("_kernel_time"):
            continue
        name = ev["name"][: -len("_kernel_time")]
        # ORT's NCHWc layout pass renames a Conv after its output tensor
        for suffix in ("_nchwc", "_output_0"):
            if name.endswith(suffix):
                name = name[: -len(suffix)]
        if cur is None or name in cur:
            cur = {}
            runs.append(cur)
        cur[name] = cur.get(name, 0.0) + ev["dur"]
    return runs


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("model")
    ap.add_argument("--lib", default="build/libcvm.so")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--per", type=int, default=3)
    ap.add_argument("--top", type=int, default=25)
    a = ap.parse_args()
    import onnxruntime as ort
    if not os.path.exists(a.lib):
        sys.exit(f"{a.lib}: no such library (build libcvm.so first, or pass --lib)")
    lib = cvm_ctypes.Library(os.path.abspath(a.lib))
    feeds = compare_ort.feeds_for(a.model)
    tmp = tempfile.mkdtemp(prefix="cvm-nodecmp-")
    so = ort.SessionOptions()
    so.intra_op_num_threads = a.threads
    so.inter_op_num_threads = 1
    so.log_severity_level = 3
    so.enable_profiling = True
    so.profile_file_prefix = os.path.join(tmp, "ort")
    osess = ort.InferenceSession(a.model, so, providers=["CPUExecutionProvider"])
    csess = cvm_ctypes.Session(lib, a.model, a.threads, profile=True)
    for _ in range(3):
        osess.run(None, feeds)
        csess.run(feeds)
    cbest, cinfo, prev = {}, {}, csess.node_profile()
    wall = {"cvm": [], "ort": []}
    for r in range(a.rounds):
        for eng in (("cvm", "ort") if r % 2 == 0 else ("ort", "cvm")):
            for _ in range(a.per):
                t0 = time.perf_counter()
                (csess.run if eng == "cvm" else (lambda f: osess.run(None, f)))(feeds)
                wall[eng].append((time.perf_counter() - t0) * 1e3)
                if eng == "cvm":
                    cur = csess.node_profile()
                    for name, (op, shapes, tot) in cur.items():
                        ms = tot - prev.get(name, (0, 0, 0.0))[2]
                        cinfo[name] = (op, shapes)
                        cbest[name] = min(cbest.get(name, ms), ms)
                    prev = cur
    osess.end_profiling()
    files = glob.glob(os.path.join(tmp, "ort*.json"))
    oruns = ort_node_times(files[0]) if files else []
    for f in files:
        os.remove(f)
    os.rmdir(tmp)
    # ORT names a node it rewrote after its output tensor: map those back to
    # the model's node that produced the tensor
    import onnx
    producer, nodes = {}, {}
    for node in onnx.load(a.model, load_external_data=False).graph.node:
        nodes[node.name] = node
        for out in node.output:
            producer.setdefault(out, node.name)
    obest = {}
    for run in oruns[3:]:  # the warm-up runs first
        for name, us in run.items():
            if name not in cbest and name in producer:
                name = producer[name]
            obest[name] = min(obest.get(name, us / 1e3), us / 1e3)
    # What cvmodels fused into a node (a SiLU's Sigmoid and Mul, a residual
    # Add, ...) ORT runs as nodes of its own, named after the model's node
    # (a fusion of ORT's own appends "/<Fusion>/").  Charge each such node to
    # the cvmodels node it hangs from, so that "ORT+" compares like with like.
    fusable = {"Sigmoid", "Mul", "Add", "Relu", "Clip", "HardSigmoid", "HardSwish", "LeakyRelu",
               "BatchNormalization", "Div"}
    oplus = {}
    for name, ms in obest.items():
        if name in cbest:
            oplus[name] = oplus.get(name, 0.0) + ms
            continue
        base = name.split("/")
        orig = next(("/".join(base[:i]) for i in range(len(base), 0, -1)
                     if "/".join(base[:i]) in nodes), None)
        for _ in range(4):  # up through other fused-away nodes
            if orig is None or orig in cbest or nodes[orig].op_type not in fusable:
                break
            ins = [producer.get(t) for t in nodes[orig].input]
            orig = next((p for p in ins if p in cbest), next((p for p in ins if p), None))
        if orig in cbest:
            oplus[orig] = oplus.get(orig, 0.0) + ms
    cw, ow = min(wall["cvm"]), min(wall["ort"])
    print(f"# {a.model}: {a.threads} thread(s), {a.rounds} rounds of {a.per} runs; best whole run cvm {cw:.2f} ms, "
          f"ORT {ow:.2f} ms, ratio {cw / ow:.2f}; sums of per-node bests cvm {sum(cbest.values()):.2f}, "
          f"ORT {sum(obest.values()):.2f} ms")
    rows = []
    for name, ms in cbest.items():
        rows.append((ms - oplus.get(name, 0.0), name, ms, obest.get(name), oplus.get(name)))
    rows.sort(reverse=True)
    nan = float("nan")
    print("# ORT = ORT's node of the same name; ORT+ = that plus the ORT nodes of what cvmodels fused "
          "into it; diff = cvm - ORT+")
    print(f"{'node':40s} {'op':12s} {'cvm ms':>8s} {'ORT ms':>8s} {'ORT+ ms':>8s} {'diff':>8s}  shapes")
    for d, name, ms, o, op_ in rows[: a.top]:
        op, shapes = cinfo[name]
        print(f"{name[-40:]:40s} {op[:12]:12s} {ms:8.3f} {o if o is not None else nan:8.3f} "
              f"{op_ if op_ is not None else nan:8.3f} {d:8.3f}  {shapes}")
    unmatched = sorted(((v, k) for k, v in obest.items() if k not in cbest), reverse=True)
    charged = sum(oplus.values()) - sum(v for k, v in obest.items() if k in cbest)
    print(f"# of which charged to a fused cvmodels node (in ORT+): {charged:.2f} ms")
    print(f"# ORT nodes with no cvmodels node of that name: {len(unmatched)}, {sum(v for v, _ in unmatched):.2f} ms; "
          f"largest: " + ", ".join(f"{k} {v:.3f}" for v, k in unmatched[:8]))
    print("# cvmodels faster by most (against ORT+): " + ", ".join(
        f"{n} {d:+.3f}" for d, n, _, _, o in sorted(rows)[:8] if o is not None))


if __name__ == "__main__":
    main()
