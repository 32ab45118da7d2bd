#!/usr/bin/env python3
"""Compare two builds of libcvm on the same models, in one process.

    python bench/ab_libs.py --lib-a OLD/libcvm.so --lib-b NEW/libcvm.so [--threads 1]
                            [--rounds 30] [--per 3] MODEL.onnx [MODEL.onnx ...]

On a shared machine whose speed drifts from second to second, two separate
benchmark runs of a few percent apart say nothing.  Here both libraries are
loaded into one process (each keeps its own symbols) and run the same model
on the same input in alternating blocks of --per runs, the order of the two
flipped every round, so that both see the same slow and fast moments.  The
session created first tends to run a few percent faster (where its memory
lands), so every model is measured twice, with either library's session
created first, and the two ratios are combined by their geometric mean.

Prints, per model and creation order, the minimum, 10th percentile and median
time of each library and the ratios B/A (below 1: B is faster), then the
combined ratios.  Inputs: the model folder's golden_pattern_ort.json or the
test pattern of compare_ort.py for 4-D inputs, else seeded normal values of
the declared shape (symbolic dimensions as 1).
"""
import argparse
import math
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


def feeds_for(path):
    try:
        return compare_ort.feeds_for(path)
    except SystemExit:
        import onnx
        m = onnx.load(path, load_external_data=False)
        inits = {i.name for i in m.graph.initializer}
        rng = np.random.default_rng(0)
        feeds = {}
        for i in m.graph.input:
            if i.name in inits:
                continue
            dims = [d.dim_value if d.dim_value > 0 else 1 for d in i.type.tensor_type.shape.dim]
            feeds[i.name] = rng.standard_normal(dims).astype(np.float32)
        return feeds


def stats(ts):
    a = np.sort(np.asarray(ts))
    return a[0], a[len(a) // 10], a[len(a) // 2]


def one_order(libs, first, path, feeds, threads, rounds, per, warmup):
    order = [first, "B" if first == "A" else "A"]
    sessions = {k: cvm_ctypes.Session(libs[k], path, threads) for k in order}
    for k in order:
        for _ in range(warmup):
            sessions[k].run(feeds)
    times = {"A": [], "B": []}
    for r in range(rounds):
        for k in (("A", "B") if r % 2 == 0 else ("B", "A")):
            sessions[k].run(feeds)  # back in cache after the other library's block
            for _ in range(per):
                t0 = time.perf_counter()
                sessions[k].run(feeds)
                times[k].append((time.perf_counter() - t0) * 1e3)
    for s in sessions.values():
        s.close()
    return stats(times["A"]), stats(times["B"])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("models", nargs="+")
    ap.add_argument("--lib-a", required=True, help="the reference build")
    ap.add_argument("--lib-b", required=True, help="the build under test")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=30)
    ap.add_argument("--per", type=int, default=3, help="timed runs per block")
    ap.add_argument("--warmup", type=int, default=3)
    a = ap.parse_args()
    if os.path.realpath(a.lib_a) == os.path.realpath(a.lib_b):
        sys.exit("--lib-a and --lib-b are the same file; copy one to compare a build with itself")
    libs = {"A": cvm_ctypes.Library(a.lib_a), "B": cvm_ctypes.Library(a.lib_b)}
    print(f"# A = {a.lib_a}, B = {a.lib_b}; {a.threads} thread(s); {a.rounds} rounds of "
          f"{a.per} runs per library and creation order")
    print(f"{'model':40s} {'first':>5s} {'A min':>8s} {'A p10':>8s} {'B min':>8s} {'B p10':>8s}"
          f" {'B/A min':>8s} {'B/A p10':>8s} {'B/A p50':>8s}")
    for path in a.models:
        feeds = feeds_for(path)
        ratios = []
        for first in ("A", "B"):
            sa, sb = one_order(libs, first, path, feeds, a.threads, a.rounds, a.per, a.warmup)
            r = [sb[i] / sa[i] for i in range(3)]
            ratios.append(r)
            print(f"{os.path.basename(path)[:40]:40s} {first:>5s} {sa[0]:8.3f} {sa[1]:8.3f} "
                  f"{sb[0]:8.3f} {sb[1]:8.3f} {r[0]:8.3f} {r[1]:8.3f} {r[2]:8.3f}")
        g = [math.sqrt(ratios[0][i] * ratios[1][i]) for i in range(3)]
        print(f"{os.path.basename(path)[:40]:40s} {'both':>5s} {'':8s} {'':8s} {'':8s} {'':8s} "
              f"{g[0]:8.3f} {g[1]:8.3f} {g[2]:8.3f}")


if __name__ == "__main__":
    main()
