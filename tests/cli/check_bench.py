#!/usr/bin/env python3
"""`cvm bench` checks (standard library only).

usage: check_bench.py json|errors CVM TESTS_DATA_DIR WORK_DIR

json:   a package (tests/data/packages/yolo26-det-160 with the random-weight
        export as weights), a bare .onnx with --arch/--task and a raw graph are
        benchmarked with --runs 2 --json; every field of the report is checked
        for presence, type and consistency (stage medians add up to at most the
        total, p90 >= median, runs/threads echoed).
errors: a vision model without --image, a missing image, a missing .onnx, a
        bare .onnx given an image but no --arch and a package without weights
        must fail with the right exit code and a message naming the problem.
"""
import json
import os
import shutil
import subprocess
import sys

FAILS = []


def check(cond, what):
    if not cond:
        FAILS.append(what)
        print("FAIL:", what)


def run(cvm, *args):
    r = subprocess.run([cvm, "bench", *args], capture_output=True, text=True, timeout=60)
    return r.returncode, r.stdout, r.stderr


def number(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool) and v == v


def make_package(data, work):
    pkg = os.path.join(work, "yolo26-det-160")
    shutil.rmtree(work, ignore_errors=True)
    shutil.copytree(os.path.join(data, "packages", "yolo26-det-160"), pkg)
    shutil.copy(os.path.join(data, "exports", "end2end", "yolo26-det-tiny-160.onnx"),
                os.path.join(pkg, "weights.onnx"))
    return pkg


def check_model_report(label, rc, out, err, arch, threads):
    check(rc == 0, f"{label}: exit code {rc}, stderr: {err.strip()}")
    if rc != 0:
        return
    lines = [ln for ln in out.splitlines() if ln.strip()]
    check(len(lines) == 1, f"{label}: expected one JSON line, got {len(lines)}")
    try:
        rep = json.loads(lines[0])
    except (ValueError, IndexError) as e:
        check(False, f"{label}: not JSON ({e}): {out!r}")
        return
    for key in ("load_ms", "median_ms", "p90_ms", "peak_rss_mb", "decode_ms"):
        check(number(rep.get(key)) and rep[key] >= 0, f"{label}: {key} = {rep.get(key)!r}")
    check(rep.get("load_ms", 0) > 0, f"{label}: load_ms must be > 0")
    check(rep.get("peak_rss_mb", 0) > 1, f"{label}: peak_rss_mb = {rep.get('peak_rss_mb')}")
    check(rep.get("runs") == 2, f"{label}: runs = {rep.get('runs')!r}")
    check(rep.get("threads") == threads, f"{label}: threads = {rep.get('threads')!r}")
    check(rep.get("precision") == "fp32", f"{label}: precision = {rep.get('precision')!r}")
    check(rep.get("architecture") == arch, f"{label}: architecture = {rep.get('architecture')!r}")
    check(rep.get("task") == "object-detection", f"{label}: task = {rep.get('task')!r}")
    check(isinstance(rep.get("image_width"), int) and rep["image_width"] > 0, f"{label}: image_width")
    check(isinstance(rep.get("image_height"), int) and rep["image_height"] > 0, f"{label}: image_height")
    check(isinstance(rep.get("results"), int) and rep["results"] >= 0, f"{label}: results")
    if number(rep.get("median_ms")) and number(rep.get("p90_ms")):
        check(rep["p90_ms"] >= rep["median_ms"], f"{label}: p90_ms < median_ms")
    stage_sum = 0.0
    for key in ("pre_ms", "infer_ms", "post_ms"):
        st = rep.get(key)
        if not isinstance(st, dict):
            check(False, f"{label}: {key} is not an object: {st!r}")
            continue
        ok = all(number(st.get(k)) and st[k] >= 0 for k in ("median", "p90"))
        check(ok, f"{label}: {key} = {st!r}")
        if ok:
            check(st["p90"] >= st["median"], f"{label}: {key} p90 < median")
            stage_sum += st["median"]
    check(number(rep.get("infer_ms", {}).get("median")) and rep["infer_ms"]["median"] > 0,
          f"{label}: inference median must be > 0")
    # With two runs each median is a mean, so the stage medians add up to the
    # mean of the per-run stage sums, which the timed total contains.
    if number(rep.get("median_ms")):
        check(stage_sum <= rep["median_ms"] + 0.01,
              f"{label}: stage medians add to {stage_sum:.3f} ms > total {rep['median_ms']:.3f} ms")


def mode_json(cvm, data, work):
    image = os.path.join(data, "image", "exif_orient_1.jpg")
    pkg = make_package(data, work)
    rc, out, err = run(cvm, pkg, "--image", image, "--runs", "2", "--warmup", "1", "--json")
    check_model_report("package", rc, out, err, "yolo26", 1)

    onnx_file = os.path.join(data, "exports", "yolov8-det-tiny-160.onnx")
    rc, out, err = run(cvm, onnx_file, "--arch", "yolov8", "--task", "object-detection", "--image", image,
                       "--runs", "2", "--warmup", "0", "--threads", "2", "--json")
    check_model_report("bare .onnx with --arch", rc, out, err, "yolov8", 2)

    rc, out, err = run(cvm, pkg, "--image", image, "--runs", "2", "--warmup", "0")
    check(rc == 0 and "inference" in out and "post-process" in out,
          f"text report: exit code {rc}, stdout {out!r}, stderr {err.strip()}")

    # A raw graph keeps its report: no stage fields.
    rc, out, err = run(cvm, onnx_file, "--runs", "2", "--warmup", "0", "--json")
    check(rc == 0, f"raw graph: exit code {rc}, stderr: {err.strip()}")
    try:
        rep = json.loads(out) if rc == 0 else None
    except ValueError as e:
        rep = None
        check(False, f"raw graph: not JSON ({e}): {out!r}")
    if rep is not None:
        want = {"model", "load_ms", "median_ms", "p90_ms", "min_ms", "runs", "warmup", "threads", "precision",
                "peak_rss_mb"}
        check(set(rep) == want, f"raw graph: keys {sorted(rep)}")
        check(rep.get("runs") == 2, f"raw graph: runs = {rep.get('runs')!r}")

    # bf16 where the CPU has it; otherwise a clear refusal naming the precision.
    rc, out, err = run(cvm, onnx_file, "--runs", "2", "--warmup", "0", "--precision", "bf16", "--json")
    if rc == 0:
        rep = json.loads(out)
        check(rep.get("precision") == "bf16", f"raw graph bf16: precision = {rep.get('precision')!r}")
    else:
        check(rc == 1 and "bf16" in err and "AVX512_BF16" in err,
              f"raw graph bf16 refused: exit code {rc}, stderr {err.strip()!r}")


def mode_errors(cvm, data, work):
    image = os.path.join(data, "image", "exif_orient_1.jpg")
    pkg = make_package(data, work)
    onnx_file = os.path.join(data, "exports", "yolov8-det-tiny-160.onnx")

    rc, out, err = run(cvm, pkg, "--runs", "2", "--json")
    check(rc == 2 and "--image" in err and not out.strip(),
          f"no --image: exit code {rc}, stderr {err.strip()!r}, stdout {out!r}")

    missing = os.path.join(work, "no-such-image.jpg")
    rc, out, err = run(cvm, pkg, "--image", missing, "--runs", "2")
    check(rc == 1 and "no-such-image.jpg" in err and not out.strip(),
          f"missing image: exit code {rc}, stderr {err.strip()!r}")

    missing_model = os.path.join(work, "no-such-model.onnx")
    rc, out, err = run(cvm, missing_model, "--image", image, "--runs", "2")
    check(rc == 1 and "no-such-model.onnx" in err, f"missing model: exit code {rc}, stderr {err.strip()!r}")

    rc, out, err = run(cvm, onnx_file, "--image", image, "--runs", "2")
    check(rc == 2 and "--arch" in err, f"bare .onnx without --arch: exit code {rc}, stderr {err.strip()!r}")

    no_weights = os.path.join(data, "packages", "yolo26-det-160")
    rc, out, err = run(cvm, no_weights, "--image", image, "--runs", "2")
    check(rc == 1 and "weights" in err, f"package without weights: exit code {rc}, stderr {err.strip()!r}")

    rc, out, err = run(cvm, pkg, "--image", image, "--runs", "2", "--precision", "fp64")
    check(rc == 2 and "--precision" in err and "fp64" in err,
          f"--precision fp64: exit code {rc}, stderr {err.strip()!r}")

    rc, out, err = run(cvm, pkg, "--image", image, "--runs", "0")
    check(rc == 2 and "--runs" in err, f"--runs 0: exit code {rc}, stderr {err.strip()!r}")


def main():
    if len(sys.argv) != 5 or sys.argv[1] not in ("json", "errors"):
        sys.exit(__doc__)
    mode, cvm, data, work = sys.argv[1:]
    work = os.path.join(work, mode)
    (mode_json if mode == "json" else mode_errors)(cvm, data, work)
    if FAILS:
        sys.exit(f"{len(FAILS)} check(s) failed")
    print(f"cvm bench {mode}: all checks passed")


if __name__ == "__main__":
    main()
