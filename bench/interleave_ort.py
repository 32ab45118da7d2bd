#!/usr/bin/env python3
"""cvmodels against ONNX Runtime on one thread, both in one process.

    python bench/interleave_ort.py [--lib build/libcvm.so] [--rounds 30] [--per 3]
                                   [--shared ../shared] [--bf16] [MODEL.onnx ...]

compare_ort.py runs every block of either engine in a fresh process, because
ORT's intra-op threads keep spinning after a run.  On one thread ORT has no
intra-op threads, so the two engines can share a process and alternate in
short blocks (--per timed runs each, the order rotated every round): on a
shared machine whose speed drifts by tens of percent within a minute, both
then see the same slow and fast moments, and the best and 10th-percentile
runs of each engine give a ratio that repeats far better than medians taken
minutes apart.  Prints per model the best, 10th-percentile and median times
of each engine and the ratios cvmodels/ORT of the three; --bf16 adds
cvmodels with bf16 precision as a third engine (ratios against ORT's fp32).  Without model
arguments it times the models of compare_ort.py's default list.
"""
import argparse
import os
import sys
import time

# numpy's OpenBLAS threads spin after a BLAS call and take CPU time from the
# engines being timed (seen in perf profiles of these scripts)
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import cvm_ctypes  # noqa: E402
import compare_ort  # noqa: E402


def stats(ts):
    a = np.sort(np.asarray(ts))
    return a[0], a[len(a) // 10], a[len(a) // 2]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("models", nargs="*")
    ap.add_argument("--lib", default="build/libcvm.so")
    ap.add_argument("--rounds", type=int, default=30)
    ap.add_argument("--per", type=int, default=3, help="timed runs per block")
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--shared", default=os.environ.get("CVM_SHARED_DIR", "../shared"))
    ap.add_argument("--bf16", action="store_true",
                    help="also time cvmodels with --precision bf16 in the same rotation (AMX or AVX512_BF16 CPUs)")
    a = ap.parse_args()
    import onnxruntime as ort
    if not os.path.exists(a.lib):
        sys.exit(f"{a.lib}: no such library (build libcvm.so first, or pass --lib)")
    lib = cvm_ctypes.Library(os.path.abspath(a.lib))
    models = a.models or [os.path.join(a.shared, "models", m) for m in compare_ort.DEFAULT_MODELS]
    print(f"# onnxruntime {ort.__version__}; 1 thread; one process; {a.rounds} rounds of {a.per} runs "
          f"per engine, order rotated every round; {time.strftime('%Y-%m-%d')}")
    print(f"{'model':44s} {'cvm best':>9s} {'p10':>8s} {'p50':>8s} {'ORT best':>9s} {'p10':>8s} {'p50':>8s}"
          f" {'r best':>7s} {'r p10':>7s} {'r p50':>7s}" +
          (f" {'bf16 best':>9s} {'p50':>8s} {'rb best':>7s} {'rb p50':>7s}" if a.bf16 else ""))
    for path in models:
        feeds = compare_ort.feeds_for(path)
        so = ort.SessionOptions()
        so.intra_op_num_threads = 1
        so.inter_op_num_threads = 1
        so.log_severity_level = 3
        runs = {"cvm": cvm_ctypes.Session(lib, path, 1).run,
                "ort": (lambda s: (lambda f: s.run(None, f)))(
                    ort.InferenceSession(path, so, providers=["CPUExecutionProvider"]))}
        if a.bf16:
            runs["bf16"] = cvm_ctypes.Session(lib, path, 1, precision="bf16").run
        engines = list(runs)
        for run in runs.values():
            for _ in range(a.warmup):
                run(feeds)
        times = {e: [] for e in engines}
        for r in range(a.rounds):
            k = r % len(engines)
            order = engines[k:] + engines[:k]
            for eng in order:
                runs[eng](feeds)  # its data back in cache after the other engine's block
                for _ in range(a.per):
                    t0 = time.perf_counter()
                    runs[eng](feeds)
                    times[eng].append((time.perf_counter() - t0) * 1e3)
        c, o = stats(times["cvm"]), stats(times["ort"])
        rel = os.path.relpath(path, os.path.join(a.shared, "models"))
        name = rel if not rel.startswith("..") else path
        print(f"{name[-44:]:44s} {c[0]:9.2f} {c[1]:8.2f} {c[2]:8.2f} {o[0]:9.2f} {o[1]:8.2f} {o[2]:8.2f}"
              f" {c[0] / o[0]:7.2f} {c[1] / o[1]:7.2f} {c[2] / o[2]:7.2f}" +
              ((lambda b: f" {b[0]:9.2f} {b[2]:8.2f} {b[0] / o[0]:7.2f} {b[2] / o[2]:7.2f}")(stats(times["bf16"]))
               if a.bf16 else ""), flush=True)


if __name__ == "__main__":
    main()
