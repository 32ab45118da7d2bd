"""End-to-end checks of model-id resolution against the local fixture server.

usage: run_hub_tests.py HUB_CLIENT YOLO_ONNX WORK_DIR

Each case runs the C client (tests/hub/hub_client.c) as a separate process,
so locking, kill -9 and two concurrent loaders are real processes.
"""
import glob
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fixture_server import GOOD_KEY, FixtureServer  # noqa: E402

CLIENT = os.path.abspath(sys.argv[1])
YOLO = os.path.abspath(sys.argv[2])
WORK = os.path.abspath(sys.argv[3])
FAILURES = []


def env_for(server_url, home, **extra):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("ROBOFLOW_", "CVM_HUB_", "SECURE_GATEWAY", "LICENSE_SERVER", "OFFLINE_MODE"))}
    env.update({"INFERENCE_HOME": home, "ROBOFLOW_API_HOST": server_url, "CVM_HUB_RETRY_BASE_MS": "10",
                "CVM_HUB_CONNECT_TIMEOUT_S": "2", "CVM_HUB_API_TIMEOUT_S": "5", "CVM_HUB_LOCK_TIMEOUT_S": "60"})
    env.update({k: str(v) for k, v in extra.items()})
    return env


def parse(out):
    res = {"report": []}
    for line in out.splitlines():
        tag, _, rest = line.partition(" ")
        if tag == "REPORT":
            res["report"].append(rest)
        elif tag in ("PACKAGE", "ERROR", "PROGRESS", "LOADED"):
            res[tag] = rest
    return res


def run(model, env, *args, timeout=60):
    p = subprocess.run([CLIENT, model, *args], env=env, capture_output=True, text=True, timeout=timeout)
    r = parse(p.stdout)
    r["rc"] = p.returncode
    r["stdout"] = p.stdout + p.stderr
    return r


def check(name, cond, detail=""):
    if cond:
        print(f"ok   {name}")
    else:
        print(f"FAIL {name}\n{detail}")
        FAILURES.append(name)


def leftovers(home):
    """Partial downloads and temp files that must not survive a failure."""
    return [p for p in glob.glob(os.path.join(home, "**", "*"), recursive=True)
            if p.endswith((".partial", ".tmp", ".ranges"))]


def blob_ok(home, data):
    """The cache holds exactly `data` under its md5."""
    path = os.path.join(home, "shared-blobs", hashlib.md5(data).hexdigest())
    return os.path.isfile(path) and open(path, "rb").read() == data


def journal_done(path):
    """Bytes a parallel download's journal says are in place."""
    try:
        lines = open(path).read().splitlines()[1:]
        return sum(int(c) - int(a) for a, _, c in (ln.split() for ln in lines))
    except (OSError, ValueError):
        return 0


def parallel_cases(srv):
    fx = srv.fixtures
    url = srv.url
    mib = 1024 * 1024
    par_env = {"CVM_DOWNLOAD_PARALLEL_MIN_BYTES": mib, "CVM_DOWNLOAD_CONNECTIONS": 4}

    # a 4 MiB file over 4 connections: the first GET learns the size and keeps
    # the first quarter; three ranged GETs fetch the rest
    home = fresh_home("par")
    data = fx.files["par-weights.onnx"]
    r = run("par/1", env_for(url, home, **par_env))
    want = {f"bytes={i * mib}-{(i + 1) * mib - 1}" for i in (1, 2, 3)}
    log = fx.range_log.get("par-weights.onnx", [])
    prog = [int(x) for x in r.get("PROGRESS", "0 0 0").split()]
    check("parallel: 4 connections, distinct ranges, identical bytes",
          r["rc"] == 0 and fx.file_gets.get("par-weights.onnx") == 4 and len(log) == 3 and set(log) == want
          and blob_ok(home, data) and not leftovers(home), r["stdout"] + str(log))
    check("parallel: progress counts bytes across segments",
          prog[1] == len(data), str(prog))

    home = fresh_home("par1")
    r = run("par/1", env_for(url, home, CVM_DOWNLOAD_PARALLEL_MIN_BYTES=mib, CVM_DOWNLOAD_CONNECTIONS=1))
    check("parallel: CVM_DOWNLOAD_CONNECTIONS=1 keeps one stream",
          r["rc"] == 0 and fx.file_gets.get("par-weights.onnx") == 5 and len(fx.range_log["par-weights.onnx"]) == 3
          and blob_ok(home, data), r["stdout"])

    # the third segment is cut half way: only it is asked for again, from
    # where it stopped
    home = fresh_home("parcut")
    r = run("parcut/1", env_for(url, home, **par_env))
    log = fx.range_log.get("parcut-weights.onnx", [])
    resumed = [x for x in log if x.startswith("bytes=") and 2 * mib < int(x[6:].split("-")[0]) < 3 * mib]
    check("parallel: a segment cut short resumes from its position",
          r["rc"] == 0 and len(log) == 4 and len(resumed) == 1 and resumed[0].endswith(f"-{3 * mib - 1}")
          and blob_ok(home, fx.files["parcut-weights.onnx"]) and not leftovers(home), r["stdout"] + str(log))

    home = fresh_home("par503")
    r = run("par503/1", env_for(url, home, **par_env))
    log = fx.range_log.get("par503-weights.onnx", [])
    check("parallel: a segment answered 503 is retried",
          r["rc"] == 0 and log.count(f"bytes={3 * mib}-{4 * mib - 1}") == 2
          and blob_ok(home, fx.files["par503-weights.onnx"]), r["stdout"] + str(log))

    home = fresh_home("parfail")
    r = run("parfail/1", env_for(url, home, CVM_HUB_MAX_TRIES=2, **par_env))
    err = r.get("ERROR", "")
    check("parallel: a segment that keeps failing gives a clear error",
          r["rc"] == 1 and "segment 2 of 4" in err and f"bytes {mib}-{2 * mib - 1}" in err and "2 attempts" in err
          and not os.path.exists(os.path.join(home, "shared-blobs", hashlib.md5(
              fx.files["parfail-weights.onnx"]).hexdigest())), r["stdout"])

    # servers whose ranges cannot be trusted: one stream, never a corrupt file
    for tag, what in (("parignore", "a server ignoring Range"), ("parwrong", "a wrong Content-Range")):
        home = fresh_home(tag)
        r = run(f"{tag}/1", env_for(url, home, **par_env))
        check(f"parallel: {what} falls back to one stream, file correct",
              r["rc"] == 0 and blob_ok(home, fx.files[f"{tag}-weights.onnx"]) and not leftovers(home), r["stdout"])

    home = fresh_home("parbadmd5")
    r = run("parbadmd5/1", env_for(url, home, **par_env))
    blobs = os.listdir(os.path.join(home, "shared-blobs")) if os.path.isdir(os.path.join(home, "shared-blobs")) else []
    check("parallel: MD5 mismatch rejected, nothing left in the cache",
          r["rc"] == 1 and "MD5" in r.get("ERROR", "") and "4 connections" in r.get("ERROR", "")
          and not [b for b in blobs if not b.startswith(".") and b != hashlib.md5(b"").hexdigest()
                   and b not in (hashlib.md5(fx.files[f"parbadmd5-{n}"]).hexdigest()
                                 for n in ("class_names.txt", "inference_config.json"))]
          and not leftovers(home), r["stdout"] + str(blobs))

    # kill -9 while four segments stream; the next load resumes each one
    home = fresh_home("parkill")
    env = env_for(url, home, **par_env)
    p = subprocess.Popen([CLIENT, "parkill/1"], env=env, stdout=subprocess.DEVNULL)
    data = fx.files["parkill-weights.onnx"]
    journal = os.path.join(home, "shared-blobs", hashlib.md5(data).hexdigest() + ".partial.ranges")
    done_at_kill = 0
    deadline = time.time() + 20
    while time.time() < deadline and p.poll() is None:
        done_at_kill = journal_done(journal)
        if done_at_kill >= 2 * mib:
            break
        time.sleep(0.02)
    p.send_signal(signal.SIGKILL)
    p.wait(timeout=10)
    n_before = len(fx.range_log.get("parkill-weights.onnx", []))
    r = run("parkill/1", env)
    later = fx.range_log.get("parkill-weights.onnx", [])[n_before:]
    starts = [int(x[6:].split("-")[0]) for x in later]
    check("parallel: kill -9 mid-download, next load resumes the segments",
          done_at_kill >= 2 * mib and r["rc"] == 0 and len(later) >= 1
          and all(s % (2 * mib) != 0 for s in starts) and any("resuming" in x for x in r["report"])
          and blob_ok(home, data) and not leftovers(home),
          f"done_at_kill={done_at_kill} later={later}\n" + r["stdout"])


def fresh_home(name):
    home = os.path.join(WORK, name)
    shutil.rmtree(home, ignore_errors=True)
    os.makedirs(home)
    return home


def main():
    shutil.rmtree(WORK, ignore_errors=True)
    os.makedirs(WORK)
    t0 = time.time()
    with FixtureServer(YOLO) as srv:
        fx = srv.fixtures
        url = srv.url

        # load by id: TRT and torch packages skipped with reasons, ONNX chosen, files verified
        home = fresh_home("main")
        r = run("hub-test/ok", env_for(url, home), "--verbose")
        pkg = r.get("PACKAGE", "")
        check("load by id", r["rc"] == 0 and pkg.endswith("/okpkg")
              and os.path.isfile(os.path.join(pkg, "weights.onnx"))
              and os.path.isfile(os.path.join(pkg, "model_config.json")), r["stdout"])
        rep = "\n".join(r["report"])
        check("report explains skipped packages", "skipped trtpkg" in rep and "TensorRT" in rep
              and "skipped torchpkg" in rep and "candidate 1: okpkg" in rep, rep)
        check("cache layout: slug folder and shared blobs",
              "/models-cache/v2-hub-test-ok-" in pkg and os.path.islink(os.path.join(pkg, "weights.onnx"))
              and os.path.realpath(os.path.join(pkg, "weights.onnx")).startswith(os.path.join(home, "shared-blobs")),
              pkg)
        prog = r.get("PROGRESS", "0 0 0").split()
        check("progress callback", int(prog[0]) > 0 and int(prog[1]) > 0, r["stdout"])

        # inference-models' offline-weights registry record, checked against
        # the server's own md5s and a slug computed here with hashlib
        slug = "v2-hub-test-ok-" + hashlib.blake2s(b"hub-test/ok", digest_size=16).hexdigest()
        rec_path = os.path.join(home, "offline-weights-registry", slug + ".json")
        rec = json.load(open(rec_path)) if os.path.isfile(rec_path) else {}
        pk = (rec.get("packages") or [{}])[0]
        want = {h: hashlib.md5(fx.files["ok-" + h]).hexdigest()
                for h in ("weights.onnx", "class_names.txt", "inference_config.json")}
        check("offline-weights registry record for inference-models",
              rec.get("format_version") == 1 and rec.get("canonical_model_id") == "hub-test/ok"
              and len(rec.get("packages", [])) == 1 and pk.get("package_id") == "okpkg"
              and pk.get("backend") == "onnx" and pk.get("cache_model_id") is None
              and pk.get("onnx_package_details", {}).get("opset") == 17
              and {a["file_handle"]: a["md5_hash"] for a in pk.get("artifacts", [])} == want
              and rec.get("model", {}).get("model_architecture") == "yolov8" and rec.get("proven") == {},
              json.dumps(rec, indent=1))

        # a manifest written by inference-models (offline_manifest_version)
        # lists its files under package_artifacts; cvmodels honours that list
        # and never rewrites such a manifest
        cfg_path = os.path.join(pkg, "model_config.json")
        original_cfg = open(cfg_path, "rb").read()
        arts = [{"file_handle": h, "md5_hash": m, "unhashed": False, "sha256_hash": None, "source_hash": None,
                 "storage": "shared_blob"} for h, m in sorted(want.items())]
        theirs = {"offline_manifest_version": 4, "model_architecture": "yolov8", "task_type": "object-detection",
                  "backend_type": "onnx", "quantization": "fp32", "model_id": "hub-test/ok",
                  "canonical_model_id": "hub-test/ok", "package_artifacts": arts + [dict(arts[0], file_handle="x.bin")]}
        with open(cfg_path, "w") as f:
            json.dump(theirs, f)
        r = run("hub-test/ok", env_for(url, home), "--offline")
        check("inference-models manifest: its package_artifacts are required",
              r["rc"] == 1 and "x.bin missing" in r.get("ERROR", ""), r["stdout"])
        theirs["package_artifacts"] = arts
        mine = json.dumps(theirs).encode()
        with open(cfg_path, "wb") as f:
            f.write(mine)
        shutil.rmtree(os.path.join(home, "auto-resolution-cache"))
        r = run("hub-test/ok", env_for(url, home))
        check("inference-models manifest: left byte for byte after a download",
              r["rc"] == 0 and r.get("PACKAGE") == pkg and open(cfg_path, "rb").read() == mine, r["stdout"])
        with open(cfg_path, "wb") as f:
            f.write(original_cfg)

        calls = fx.api_calls.get("hub-test/ok", 0)
        r = run("hub-test/ok", env_for(url, home))
        check("auto-resolution cache: second load makes no API call",
              r["rc"] == 0 and fx.api_calls.get("hub-test/ok", 0) == calls, r["stdout"])

        r = run("hub-test/ok", env_for("http://127.0.0.1:9", home), "--offline")
        check("offline load from cache", r["rc"] == 0 and r.get("PACKAGE") == pkg, r["stdout"])
        for f in glob.glob(os.path.join(home, "auto-resolution-cache", "*")):
            os.remove(f)
        r = run("hub-test/ok", env_for("http://127.0.0.1:9", home, CVM_HUB_MAX_TRIES=1))
        check("API unreachable: falls back to the cached package with a note",
              r["rc"] == 0 and r.get("PACKAGE") == pkg and any("unreachable" in x for x in r["report"]), r["stdout"])
        r = run("other/7", env_for(url, home), "--offline")
        check("offline, not cached: clear message",
              r["rc"] == 1 and "offline" in r.get("ERROR", "") and "other/7" in r.get("ERROR", "")
              and "NOT_FOUND" in r.get("ERROR", ""), r["stdout"])

        # end to end with a real ONNX graph
        r = run("hub-test/yolo", env_for(url, home), "--load")
        check("real package downloads and loads in the engine", r["rc"] == 0 and "LOADED" in r, r["stdout"])

        # transient API failure, then success
        r = run("flaky/1", env_for(url, home))
        check("503 then success", r["rc"] == 0 and fx.api_calls.get("flaky/1") == 2, r["stdout"])
        r = run("down/1", env_for(url, home, CVM_HUB_MAX_TRIES=3))
        check("503 every time: bounded retries, clear error",
              r["rc"] == 1 and fx.api_calls.get("down/1") == 3 and "503" in r.get("ERROR", ""), r["stdout"])

        # timeouts
        t = time.time()
        r = run("slowapi/1", env_for(url, home, CVM_HUB_API_TIMEOUT_S=1, CVM_HUB_MAX_TRIES=2))
        check("API timeout", r["rc"] == 1 and "imeout" in r.get("ERROR", "") and time.time() - t < 10, r["stdout"])
        home_st = fresh_home("stall")
        t = time.time()
        r = run("stall/1", env_for(url, home_st, CVM_HUB_STALL_TIMEOUT_S=1))
        check("stalled transfer: timed out, resumed, verified",
              r["rc"] == 0 and fx.range_gets.get("stall-weights.onnx", 0) >= 1 and time.time() - t < 10, r["stdout"])

        # authorisation and missing models
        r = run("private/1", env_for(url, home))
        check("401 without key names ROBOFLOW_API_KEY", r["rc"] == 1 and "ROBOFLOW_API_KEY" in r.get("ERROR", "")
              and "401" in r.get("ERROR", ""), r["stdout"])
        r = run("private/1", env_for(url, home, ROBOFLOW_API_KEY="bad-key-999999"))
        err = r.get("ERROR", "")
        check("401 with a wrong key: masked key and its source", r["rc"] == 1 and "'bad-" in err
              and "bad-key-999999" not in err and "ROBOFLOW_API_KEY" in err, r["stdout"])
        r = run("private/1", env_for(url, home, ROBOFLOW_API_KEY=GOOD_KEY))
        check("right key loads", r["rc"] == 0, r["stdout"])
        r = run("missing/1", env_for(url, home))
        check("404 message", r["rc"] == 1 and "does not exist" in r.get("ERROR", "")
              and "NOT_FOUND" in r.get("ERROR", ""), r["stdout"])

        # integrity
        home_md5 = fresh_home("md5")
        r = run("badmd5/1", env_for(url, home_md5))
        blobs = os.listdir(os.path.join(home_md5, "shared-blobs")) if os.path.isdir(
            os.path.join(home_md5, "shared-blobs")) else []
        check("MD5 mismatch rejected, nothing left in the cache",
              r["rc"] == 1 and "MD5" in r.get("ERROR", "") and "0" * 32 not in [b for b in blobs]
              and not leftovers(home_md5)
              and not os.path.exists(glob.glob(os.path.join(home_md5, "models-cache", "*"))[0] + "/badpkg/model_config.json"),
              r["stdout"] + str(blobs))
        home_tr = fresh_home("trunc")
        r = run("truncated/1", env_for(url, home_tr))
        check("truncated body resumed with a Range request",
              r["rc"] == 0 and fx.range_gets.get("trunc-weights.onnx", 0) >= 1 and not leftovers(home_tr),
              r["stdout"])

        # pagination
        r = run("paged/1", env_for(url, home))
        check("pagination", r["rc"] == 0 and r.get("PACKAGE", "").endswith("/pagedonnx"), r["stdout"])

        # hostile handles and package ids
        home_h = fresh_home("hostile")
        r = run("hostile/1", env_for(url, home_h))
        err = r.get("ERROR", "")
        check("hostile file handles rejected, each named",
              r["rc"] == 1 and err.count("unsafe file handle") >= 5 and "package id" in err
              and not os.path.exists(os.path.join(WORK, "evil.txt"))
              and not os.path.exists(os.path.join(home_h, "evil.txt"))
              and not os.path.exists("/tmp/evil-abs.txt"), r["stdout"])

        # two processes at once: one download, both succeed
        home2 = fresh_home("two")
        env = env_for(url, home2)
        procs = [subprocess.Popen([CLIENT, "slow/1"], env=env, stdout=subprocess.PIPE, text=True) for _ in range(2)]
        outs = [parse(p.communicate(timeout=60)[0]) for p in procs]
        check("two concurrent loaders: both succeed, one download",
              all(p.returncode == 0 for p in procs) and outs[0].get("PACKAGE") == outs[1].get("PACKAGE")
              and fx.file_gets.get("slow-weights.onnx") == 1, str(outs) + str(fx.file_gets))

        # kill -9 in the middle of a download; the next load recovers
        home_k = fresh_home("kill")
        env = env_for(url, home_k)
        p = subprocess.Popen([CLIENT, "killme/1"], env=env, stdout=subprocess.DEVNULL)
        partial = None
        deadline = time.time() + 20
        while time.time() < deadline and p.poll() is None:
            found = glob.glob(os.path.join(home_k, "shared-blobs", "*.partial"))
            if found and os.path.getsize(found[0]) > 512 * 1024:
                partial = found[0]
                break
            time.sleep(0.02)
        p.send_signal(signal.SIGKILL)
        p.wait(timeout=10)
        size_at_kill = os.path.getsize(partial) if partial else 0
        r = run("killme/1", env)
        check("kill -9 mid-download: next load resumes and verifies",
              partial is not None and r["rc"] == 0 and fx.range_gets.get("killme-weights.onnx", 0) >= 1
              and any("resuming" in x for x in r["report"]) and not leftovers(home_k),
              f"partial={partial} size={size_at_kill}\n" + r["stdout"])

        parallel_cases(srv)

    print(f"{len(FAILURES)} failure(s) in {time.time() - t0:.1f} s")
    if not FAILURES:
        shutil.rmtree(WORK, ignore_errors=True)
    return 1 if FAILURES else 0


if __name__ == "__main__":
    sys.exit(main())
