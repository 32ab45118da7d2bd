"""Times one 64 MiB file download through the C client with 1 and with 4
connections against the local fixture server (loopback: the numbers show the
overhead of the parallel path, not the gain on a real network).

usage: bench_download.py HUB_CLIENT [RUNS]
"""
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fixture_server import FixtureServer, _big_blob  # noqa: E402


def main():
    client = os.path.abspath(sys.argv[1])
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    work = tempfile.mkdtemp(prefix="cvm-bench-dl-")
    with FixtureServer() as srv:
        fx = srv.fixtures
        files = fx._standard_files("big", weights=_big_blob("big", 64 * 1024 * 1024))
        fx.models["big/1"] = [[fx.package("bigpkg", "onnx", files)]]
        for conns in (1, 4) * runs:
            home = os.path.join(work, "home")
            shutil.rmtree(home, ignore_errors=True)
            env = dict(os.environ, INFERENCE_HOME=home, ROBOFLOW_API_HOST=srv.url, CVM_DOWNLOAD_CONNECTIONS=str(conns))
            t = time.perf_counter()
            p = subprocess.run([client, "big/1"], env=env, capture_output=True, text=True)
            dt = time.perf_counter() - t
            print(f"connections={conns} rc={p.returncode} {dt:.3f} s {64 / dt:.0f} MiB/s", flush=True)
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
