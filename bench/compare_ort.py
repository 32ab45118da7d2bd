#!/usr/bin/env python3
"""cvmodels vs ONNX Runtime on the same ONNX file, same input, same thread count.

usage: compare_ort.py [--lib build/libcvm.so] [--threads 1,2] [--runs 30] [--warmup 3]
                      [--rounds 3] [--shared ../shared] [--markdown] [--no-peak]
                      [--peak-seconds 0.5] [--precision fp32|bf16] [MODEL.onnx ...]

Without model arguments it times the real models of the shared folder that the
engine targets first.  The two engines run in alternating blocks (--rounds of
them, each of --runs/--rounds timed runs after --warmup), and every block of
either engine runs in a fresh child process: ORT's intra-op threads keep
spinning long after a run (measured here: a 2-thread cvmodels run of YOLO11n
took 38 ms instead of 20 ms even 50 ms after an ORT run in the same process),
so sharing a process or interleaving single runs would charge ORT's idle
spinning to cvmodels.  Both engines see the same machine over the same
period, and each child reports its own peak resident memory (the session
build, the runs and the interpreter; see rss_peak_mb for why not ru_maxrss).

Each round runs every thread count of both engines, so the speed-ups printed
after the table (median on one thread over the median on N, per engine) also
compare the same period.  The table reports medians and p90, the ratio
cvmodels/ORT of the medians,
session build time (median over the blocks), the GFLOP/s each achieved
(multiply-adds of Conv/ConvTranspose/MatMul/Gemm counted twice), that rate as
a share of the machine's measured peak at the same thread count (fp32, or bf16
with --precision bf16, for cvmodels)
(bench/peak_fma.c, compiled with the system C compiler, $CC or cc, into a
temporary folder), and the peak RSS of each engine's child process.
--markdown prints the table in the layout of docs/PERFORMANCE.md.
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
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

# onnx and onnxruntime are imported where they are used, so that a cvmodels
# child process does not carry onnxruntime in its resident memory.
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
    import onnx
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


COUNTED_OPS = ("Conv", "ConvTranspose", "MatMul", "Gemm")


def ort_shapes(model, feeds, names):
    """Shapes of the tensors `names` from one ONNX Runtime run that returns them
    (on one thread, so that no pool of ORT's keeps spinning in this process)."""
    import onnx
    import onnxruntime as ort
    m = onnx.ModelProto()
    m.CopyFrom(model)
    known = {o.name for o in m.graph.output}
    types = {vi.name: vi.type.tensor_type.elem_type for vi in m.graph.value_info}
    for n in names:
        if n not in known:
            m.graph.output.append(onnx.helper.make_tensor_value_info(
                n, types.get(n) or onnx.TensorProto.FLOAT, None))
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    sess = ort.InferenceSession(m.SerializeToString(), so, providers=["CPUExecutionProvider"])
    outs = sess.run(names, feeds)
    return {n: list(o.shape) for n, o in zip(names, outs)}


def count_flops(path, feeds):
    """Multiply-adds x2 of Conv, ConvTranspose, MatMul and Gemm.  Shapes come from
    ONNX shape inference; where it leaves a dimension of such a node unknown
    (DEIMv2's shapes depend on values computed at run time), from one ONNX Runtime
    run that returns those tensors."""
    import onnx
    from onnx import shape_inference
    m = onnx.load(path)
    for i in m.graph.input:
        if i.name in feeds:
            t = i.type.tensor_type
            for d, v in zip(t.shape.dim, feeds[i.name].shape):
                d.dim_value = v
    try:
        inferred = shape_inference.infer_shapes(m, data_prop=True)
    except Exception:
        inferred = m
    shapes = {}
    for vi in list(inferred.graph.value_info) + list(inferred.graph.input) + list(inferred.graph.output):
        dims = [d.dim_value for d in vi.type.tensor_type.shape.dim]
        if dims and all(d > 0 for d in dims):
            shapes[vi.name] = dims
    for init in m.graph.initializer:
        shapes[init.name] = list(init.dims)
    unknown = sorted({x for n in m.graph.node if n.op_type in COUNTED_OPS
                      for x in list(n.input[:2]) + [n.output[0]] if x and x not in shapes})
    if unknown:
        try:
            shapes.update(ort_shapes(inferred, feeds, unknown))
        except Exception as e:
            print(f"# {os.path.basename(path)}: no shapes for {len(unknown)} tensors ({e}); "
                  "GFLOP/s counts only the known ones", file=sys.stderr)
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




# Row names of the docs/PERFORMANCE.md table for the default models.
DOC_NAMES = {"yolov8n/yolov8n_deq_fp32.onnx": "YOLOv8n 640", "yolo11n/yolo11n_deq_fp32.onnx": "YOLO11n 320",
             "yolov8n-seg/yolov8n-seg_deq_fp32.onnx": "YOLOv8n-seg 320", "yolox-nano/yolox_nano.onnx": "YOLOX-nano 416",
             "nanodet-m/nanodet_m_416.onnx": "NanoDet-m 416", "ppocr-v4/ch_PP-OCRv4_det_infer.onnx": "PP-OCRv4 det 320",
             "ppocr-v4/ch_PP-OCRv4_rec_infer.onnx": "PP-OCRv4 rec 48x320",
             "deimv2-atto/deimv2_atto_coco_deq_fp32.onnx": "DEIMv2-atto 320"}


def measure_peak(threads, seconds, bf16=False):
    """Compiles and runs bench/peak_fma.c (its bf16 peak with bf16=True); returns
    (isa, {threads: GFLOP/s}), or (None, {}) with a warning."""
    cc = os.environ.get("CC") or "cc"
    tmp = tempfile.mkdtemp(prefix="cvm-peak-")
    try:
        exe = os.path.join(tmp, "peak_fma")
        try:
            r = subprocess.run([cc, "-O2", "-pthread", os.path.join(HERE, "peak_fma.c"), "-o", exe],
                               capture_output=True, text=True)
        except OSError as e:
            print(f"warning: cannot run the C compiler {cc} ({e}), no % of peak", file=sys.stderr)
            return None, {}
        if r.returncode != 0:
            print(f"warning: compiling peak_fma.c with {cc} failed, no % of peak:\n{r.stderr}", file=sys.stderr)
            return None, {}
        r = subprocess.run([exe, "--seconds", str(seconds)] + (["--bf16"] if bf16 else []) +
                           [str(t) for t in threads], capture_output=True, text=True)
        if r.returncode != 0:
            print(f"warning: peak_fma failed, no % of peak: {r.stderr.strip()}", file=sys.stderr)
            return None, {}
        rows = [json.loads(line) for line in r.stdout.splitlines() if line.strip()]
        return rows[0]["isa"], {row["threads"]: row["gflops"] for row in rows}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def run_child(args):
    """Runs this script as a child; returns its last stdout line as JSON and its peak RSS in MB."""
    with tempfile.TemporaryFile() as err:
        p = subprocess.Popen([sys.executable, os.path.abspath(__file__)] + args, stdout=subprocess.PIPE,
                             stderr=err)
        out = p.stdout.read().decode()
        p.stdout.close()
        _, status, ru = os.wait4(p.pid, 0)
        p.returncode = os.waitstatus_to_exitcode(status)
        if p.returncode != 0:
            err.seek(0)
            raise SystemExit(f"child {' '.join(args)} failed ({p.returncode}):\n"
                             f"{err.read().decode(errors='replace')}")
    block = json.loads(out.strip().splitlines()[-1])
    if block.get("peak_rss_mb") is None:
        block["peak_rss_mb"] = ru.ru_maxrss / 1024.0  # Linux reports kilobytes
    return block


def rss_peak_mb():
    """This process's peak resident memory so far (VmHWM), or None off Linux.

    Not ru_maxrss: Linux carries the parent's high-water mark at fork into the
    child's ru_maxrss across exec, so a child of this (large) parent would
    report the parent's size.  VmHWM belongs to the child's own address space.
    """
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return None


def timed_runs(run, feeds, runs, warmup):
    for _ in range(warmup):
        run(feeds)
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        run(feeds)
        times.append((time.perf_counter() - t0) * 1e3)
    return times


def load_feeds(npz):
    with np.load(npz) as z:
        return {k: np.ascontiguousarray(z[k]) for k in z.files}


def cvm_block(lib_path, path, feeds_npz, threads, runs, warmup, precision="fp32"):
    """Child process: one block of cvmodels runs, printed as JSON."""
    feeds = load_feeds(feeds_npz)
    lib = cvm_ctypes.Library(lib_path)
    base = rss_peak_mb()
    t0 = time.perf_counter()
    s = cvm_ctypes.Session(lib, path, int(threads), precision=precision)
    load = (time.perf_counter() - t0) * 1e3
    times = timed_runs(s.run, feeds, int(runs), int(warmup))
    peak = rss_peak_mb()
    s.close()
    print(json.dumps({"load_ms": load, "times": times, "base_rss_mb": base, "peak_rss_mb": peak}))


def ort_block(path, feeds_npz, threads, runs, warmup):
    """Child process: one block of ONNX Runtime runs, printed as JSON."""
    import onnxruntime as ort
    feeds = load_feeds(feeds_npz)
    so = ort.SessionOptions()
    so.intra_op_num_threads = int(threads)
    so.inter_op_num_threads = 1
    so.log_severity_level = 3
    base = rss_peak_mb()
    t0 = time.perf_counter()
    s = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    load = (time.perf_counter() - t0) * 1e3
    times = timed_runs(lambda f: s.run(None, f), feeds, int(runs), int(warmup))
    print(json.dumps({"load_ms": load, "times": times, "base_rss_mb": base, "peak_rss_mb": rss_peak_mb()}))


def opt(v, fmt, width=0):
    """v formatted, or '-' when it could not be measured; right-aligned in width."""
    return (format(v, fmt) if v is not None else "-").rjust(width)


def bench_model(a, path, lib_path, thread_counts, peak, cvm_peak, per_block, bases, tmp):
    """Prints the table rows of one model (one per thread count)."""
    md = a.markdown
    feeds = feeds_for(path)
    flops = count_flops(path, feeds)
    feeds_npz = os.path.join(tmp, "feeds.npz")
    np.savez(feeds_npz, **feeds)
    rel = os.path.relpath(path, os.path.join(a.shared, "models"))
    name = DOC_NAMES.get(rel) if md else None
    name = name or (rel if not rel.startswith("..") else path)
    # Every round runs each thread count of both engines, so that the
    # speed-ups (one thread count against another) compare blocks of the same
    # minutes, as the ratios between the engines do: on a shared host the
    # speed drifts by 10-20% from one minute to the next.
    res = {thr: {eng: {"times": [], "loads": [], "rss": []} for eng in ("cvm", "ort")}
           for thr in thread_counts}
    for _ in range(a.rounds):
        for thr in thread_counts:
            for eng in ("cvm", "ort"):
                args = [f"--{eng}-block", path, feeds_npz, str(thr), str(per_block), str(a.warmup)]
                block = run_child(args + (["--lib", lib_path, "--precision", a.precision] if eng == "cvm" else []))
                r = res[thr][eng]
                r["times"] += block["times"]
                r["loads"].append(block["load_ms"])
                r["rss"].append(block["peak_rss_mb"])
                bases[eng].append(block["base_rss_mb"])
    medians = {}
    for thr in thread_counts:
        ct, ot = res[thr]["cvm"]["times"], res[thr]["ort"]["times"]
        cm, om = statistics.median(ct), statistics.median(ot)
        medians[thr] = (cm, om)
        c_load, o_load = statistics.median(res[thr]["cvm"]["loads"]), statistics.median(res[thr]["ort"]["loads"])
        c_rss, o_rss = max(res[thr]["cvm"]["rss"]), max(res[thr]["ort"]["rss"])
        c_gf = flops / cm / 1e6 if flops else None
        o_gf = flops / om / 1e6 if flops else None
        pk, cpk = peak.get(thr), cvm_peak.get(thr)
        c_pc = 100.0 * c_gf / cpk if c_gf and cpk else None
        o_pc = 100.0 * o_gf / pk if o_gf and pk else None
        if md:
            print(f"| {name} | {thr} | {cm:.1f} | {om:.1f} | {cm / om:.2f} | {c_load:.1f} | {o_load:.1f} | "
                  f"{opt(c_gf, '.1f')} | {opt(o_gf, '.1f')} | {opt(c_pc, '.0f')} | {opt(o_pc, '.0f')} | "
                  f"{c_rss:.1f} | {o_rss:.1f} |", flush=True)
        else:
            print(f"{name[-42:]:42} {thr:>3} {cm:9.2f} {pct(ct, .9):8.2f} {om:9.2f} {pct(ot, .9):8.2f} "
                  f"{cm / om:6.2f} {opt(c_gf, '.1f', 9)} {opt(o_gf, '.1f', 9)} {opt(c_pc, '.1f', 8)} "
                  f"{opt(o_pc, '.1f', 8)} {c_load:9.1f} {o_load:9.1f} {c_rss:8.1f} {o_rss:8.1f}", flush=True)
    return name, medians


def print_speedups(rows, thread_counts, md):
    """Median time on one thread over the median on each other thread count, per engine."""
    more = [t for t in thread_counts if t != 1]
    if 1 not in thread_counts or not more:
        return
    head = ["model"] + [f"{eng} 1->{t}" for t in more for eng in ("cvm", "ORT")]
    if md:
        print("\nSpeed-up over one thread (medians of the same rounds):\n")
        print("| " + " | ".join(head) + " |")
        print("|" + "---|" * len(head))
    else:
        print("# speed-up over one thread (medians of the same rounds)")
        print(f"{'model':42} " + " ".join(f"{h:>10}" for h in head[1:]))
    for name, med in rows:
        vals = [med[1][i] / med[t][i] for t in more for i in (0, 1)]
        if md:
            print(f"| {name} | " + " | ".join(f"{v:.2f}" for v in vals) + " |")
        else:
            print(f"{name[-42:]:42} " + " ".join(f"{v:10.2f}" for v in vals))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lib", default="build/libcvm.so")
    ap.add_argument("--precision", default="fp32", choices=["fp32", "bf16"],
                    help="cvmodels' session precision (ONNX Runtime always runs fp32)")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--shared", default=os.environ.get("CVM_SHARED_DIR", "../shared"))
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--markdown", action="store_true", help="print the table as in docs/PERFORMANCE.md")
    ap.add_argument("--no-peak", action="store_true", help="skip the fp32 peak measurement")
    ap.add_argument("--peak-seconds", type=float, default=0.5, help="peak_fma time per thread count")
    # Child processes: the feeds come as an .npz written by the parent, so
    # that neither child imports onnx to build them.
    ap.add_argument("--ort-block", nargs=5, metavar=("MODEL", "FEEDS", "THREADS", "RUNS", "WARMUP"),
                    help=argparse.SUPPRESS)
    ap.add_argument("--cvm-block", nargs=5, metavar=("MODEL", "FEEDS", "THREADS", "RUNS", "WARMUP"),
                    help=argparse.SUPPRESS)
    ap.add_argument("models", nargs="*")
    a = ap.parse_args()
    if a.ort_block:
        return ort_block(*a.ort_block)
    if a.cvm_block:
        return cvm_block(a.lib, *a.cvm_block, precision=a.precision)
    import onnxruntime as ort
    lib_path = os.path.abspath(a.lib)
    if not os.path.exists(lib_path):
        raise SystemExit(f"{a.lib}: no such library (build libcvm.so first, or pass --lib)")
    thread_counts = [int(t) for t in a.threads.split(",")]
    models = a.models or [os.path.join(a.shared, "models", m) for m in DEFAULT_MODELS]
    isa, peak = (None, {}) if a.no_peak else measure_peak(thread_counts, a.peak_seconds)
    # cvmodels' share is of the peak of the arithmetic it runs: in bf16 the
    # bf16 peak (AMX tiles or AVX512_BF16), ORT's always of the fp32 peak
    cvm_isa, cvm_peak = isa, peak
    if a.precision == "bf16" and not a.no_peak:
        cvm_isa, cvm_peak = measure_peak(thread_counts, a.peak_seconds, bf16=True)
    per_block = max(1, a.runs // a.rounds)
    md = a.markdown
    intro = (f"onnxruntime {ort.__version__}; {a.rounds} alternating blocks of {per_block} timed runs per engine, "
             f"{a.warmup} warm-up runs per block, each block in a fresh process; {time.strftime('%Y-%m-%d')}")
    if a.precision != "fp32":
        intro += f"; cvmodels in {a.precision} precision, ONNX Runtime in fp32"
    if peak:
        intro += ("; measured fp32 peak (bench/peak_fma.c, " + isa + "): " +
                  ", ".join(f"{g:.1f} GFLOP/s on {t} thread{'s' if t > 1 else ''}" for t, g in peak.items()))
    if a.precision == "bf16" and cvm_peak:
        intro += ("; measured bf16 peak (bench/peak_fma.c --bf16, " + cvm_isa + "): " +
                  ", ".join(f"{g:.1f} GFLOP/s on {t} thread{'s' if t > 1 else ''}" for t, g in cvm_peak.items()) +
                  " (cvm % peak is of this one)")
    if md:
        print(intro + ".\n")
        print("| model | threads | cvm ms | ORT ms | ratio | cvm load ms | ORT load ms | cvm GFLOP/s | ORT GFLOP/s "
              "| cvm % peak | ORT % peak | cvm RSS MB | ORT RSS MB |")
        print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    else:
        print("# " + intro)
        print(f"{'model':42} {'thr':>3} {'cvm ms':>9} {'p90':>8} {'ort ms':>9} {'p90':>8} {'ratio':>6} "
              f"{'cvm GF/s':>9} {'ort GF/s':>9} {'cvm %pk':>8} {'ort %pk':>8} {'cvm load':>9} {'ort load':>9} "
              f"{'cvm RSS':>8} {'ort RSS':>8}")
    bases = {"cvm": [], "ort": []}
    tmp = tempfile.mkdtemp(prefix="cvm-bench-")
    speedups = []
    try:
        for path in models:
            speedups.append(bench_model(a, path, lib_path, thread_counts, peak, cvm_peak, per_block, bases,
                                        tmp))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print_speedups(speedups, thread_counts, md)
    if bases["cvm"] and None not in bases["cvm"] + bases["ort"]:
        note = (f"RSS = peak resident memory (VmHWM) of the engine's child process, which includes Python: "
                f"{statistics.median(bases['cvm']):.1f} MB (cvmodels child) and {statistics.median(bases['ort']):.1f} MB "
                f"(ORT child, onnxruntime imported) before the session was built.")
        print(("\n" if md else "# ") + note)


if __name__ == "__main__":
    main()
