"""A stand-in for the Roboflow weights API and its file storage, for tests.

Binds 127.0.0.1 on an ephemeral port only.  Model ids select behaviours
(flaky API, wrong md5, truncated or stalled bodies, hostile file handles, ...);
the server counts what it was asked so that tests can check, e.g., that two
processes downloaded a file once.  Python standard library only.
"""
import hashlib
import http.server
import json
import random
import sys
import threading
import time
import urllib.parse

GOOD_KEY = "good-key-123456"


def _blob(seed, size):
    """Deterministic pseudo-random bytes, distinct per seed."""
    out = bytearray()
    counter = 0
    while len(out) < size:
        out += hashlib.sha256(f"{seed}:{counter}".encode()).digest()
        counter += 1
    return bytes(out[:size])


def _big_blob(seed, size):
    """Deterministic bytes for files of several MiB (faster than _blob)."""
    return random.Random(seed).randbytes(size)


def _md5(data):
    return hashlib.md5(data).hexdigest()


INFERENCE_CONFIG = {
    "network_input": {
        "training_input_size": {"height": 160, "width": 160},
        "dynamic_spatial_size_supported": False,
        "color_mode": "rgb",
        "resize_mode": "letterbox",
        "padding_value": 114,
        "input_channels": 3,
        "scaling_factor": 255,
        "normalization": None,
    },
    "post_processing": {"type": "nms", "fused": False},
}


class Fixtures:
    def __init__(self, yolo_onnx_path=None):
        self.lock = threading.Lock()
        self.files = {}          # name -> bytes
        self.models = {}         # model id -> list of pages (each a list of packages)
        self.file_gets = {}      # name -> number of GET requests
        self.range_gets = {}     # name -> number of GET requests with a Range header
        self.range_log = {}      # name -> list of Range header values, in arrival order
        self.bytes_sent = {}     # name -> body bytes written
        self.api_calls = {}      # model id -> number of API requests
        # file name -> "truncate-once" | "stall-once" | "slow" | "ignore-range" | "wrong-range"
        self.behaviour = {}
        # file name -> (lo, hi, "cut-once" | "cut-always" | "503-once"): what a
        # ranged request starting in [lo, hi) gets
        self.segment_fault = {}
        self.faults_done = set()
        self._build(yolo_onnx_path)

    # -- fixture construction ------------------------------------------------

    def add_file(self, name, data):
        self.files[name] = data
        return name

    def _standard_files(self, tag, weights=None, weights_size=4096):
        weights = weights if weights is not None else _blob(tag + "-weights", weights_size)
        names = self.add_file(f"{tag}-weights.onnx", weights)
        classes = self.add_file(f"{tag}-class_names.txt", b"".join(f"class{i}\n".encode() for i in range(10)))
        cfg = self.add_file(f"{tag}-inference_config.json", json.dumps(INFERENCE_CONFIG).encode())
        return [("weights.onnx", names), ("class_names.txt", classes), ("inference_config.json", cfg)]

    @staticmethod
    def package(pid, backend="onnx", files=(), quant="fp32", trusted=True, md5_override=None, **manifest):
        m = {"type": f"{backend}-model-package-v1" if backend != "hf" else "hf-model-package-v1",
             "backendType": backend, "quantization": quant, "dynamicBatchSize": True}
        m.update(manifest)
        return {"type": "external-model-package-v1", "packageId": pid, "trustedSource": trusted,
                "modelFeatures": None, "packageManifest": m,
                "packageFiles": [{"fileHandle": h, "fileName": n, "md5Hash": (md5_override or {}).get(h)}
                                 for h, n in files]}

    def _build(self, yolo_onnx_path):
        P = self.package
        ok = self._standard_files("ok")
        self.models["hub-test/ok"] = [[
            P("trtpkg", "trt", [("engine.plan", ok[0][1])], quant="fp16", dynamicBatchSize=False, staticBatchSize=1),
            P("okpkg", "onnx", ok, opset=17),
            P("torchpkg", "torch", [("weights.pth", ok[0][1])]),
        ]]
        self.models["flaky/1"] = [[P("flakypkg", "onnx", self._standard_files("flaky"))]]
        self.models["down/1"] = [[P("downpkg", "onnx", self._standard_files("down"))]]
        self.models["slowapi/1"] = [[P("slowapipkg", "onnx", self._standard_files("slowapi"))]]
        self.models["private/1"] = [[P("privpkg", "onnx", self._standard_files("priv"))]]
        bad = self._standard_files("badmd5")
        self.models["badmd5/1"] = [[P("badpkg", "onnx", bad,
                                      md5_override={"weights.onnx": "0" * 32})]]
        tr = self._standard_files("trunc", weights_size=256 * 1024)
        self.behaviour[tr[0][1]] = "truncate-once"
        self.models["truncated/1"] = [[P("truncpkg", "onnx", tr)]]
        st = self._standard_files("stall", weights_size=256 * 1024)
        self.behaviour[st[0][1]] = "stall-once"
        self.models["stall/1"] = [[P("stallpkg", "onnx", st)]]
        for tag in ("slow", "killme"):
            sl = self._standard_files(tag, weights_size=3 * 1024 * 1024)
            self.behaviour[sl[0][1]] = "slow"
            self.models[f"{tag}/1"] = [[P(f"{tag}pkg", "onnx", sl)]]
        hostile_handles = ["../../evil.txt", "/tmp/evil-abs.txt", "sub/../../evil.txt", "CON",
                           "model_config.json", "x.lock"]
        hf = self._standard_files("hostile")
        self.models["hostile/1"] = [[
            P(f"hostile{i}", "onnx", hf + [(h, hf[1][1])]) for i, h in enumerate(hostile_handles)
        ] + [P("..", "onnx", hf)]]
        self.models["paged/1"] = [
            [P("pagedtrt", "trt", [("engine.plan", ok[0][1])], dynamicBatchSize=False, staticBatchSize=1)],
            [P("pagedonnx", "onnx", self._standard_files("paged"))],
        ]
        # parallel ranged downloads (the tests lower the size threshold)
        mib = 1024 * 1024
        for tag, size, how in (("par", 4 * mib, None), ("parcut", 4 * mib, None), ("par503", 4 * mib, None),
                               ("parfail", 4 * mib, None), ("parignore", 4 * mib, "ignore-range"),
                               ("parwrong", 4 * mib, "wrong-range"), ("parkill", 8 * mib, "slow")):
            files = self._standard_files(tag, weights=_big_blob(tag, size))
            if how:
                self.behaviour[files[0][1]] = how
            self.models[f"{tag}/1"] = [[P(f"{tag}pkg", "onnx", files)]]
        self.segment_fault["parcut-weights.onnx"] = (2 * mib, 2 * mib + 1, "cut-once")
        self.segment_fault["par503-weights.onnx"] = (3 * mib, 3 * mib + 1, "503-once")
        self.segment_fault["parfail-weights.onnx"] = (1 * mib, 2 * mib, "cut-always")
        pb = self._standard_files("parbadmd5", weights=_big_blob("parbadmd5", 4 * mib))
        self.models["parbadmd5/1"] = [[P("parbadmd5pkg", "onnx", pb, md5_override={"weights.onnx": "0" * 32})]]
        if yolo_onnx_path:
            with open(yolo_onnx_path, "rb") as f:
                weights = f.read()
            self.models["hub-test/yolo"] = [[P("yolopkg", "onnx", self._standard_files("yolo", weights=weights),
                                               dynamicBatchSize=False, staticBatchSize=1, opset=18)]]

    # -- responses ------------------------------------------------------------

    def metadata_page(self, model_id, page, base):
        pages = self.models[model_id]
        pkgs = []
        for p in pages[page]:
            p = json.loads(json.dumps(p))
            for f in p["packageFiles"]:
                name = f.pop("fileName")
                if f["md5Hash"] is None:
                    f["md5Hash"] = _md5(self.files[name])
                f["downloadUrl"] = f"{base}/files/{name}?signature=abc"
            pkgs.append(p)
        return {"modelMetadata": {
            "type": "external-model-metadata-v1", "modelId": model_id, "modelArchitecture": "yolov8",
            "modelVariant": None, "taskType": "object-detection", "modelDependencies": None,
            "nextPage": f"page{page + 1}" if page + 1 < len(pages) else None, "modelPackages": pkgs}}


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):  # keep test output readable
        pass

    def _json(self, code, obj):
        body = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        fx = self.server.fixtures
        url = urllib.parse.urlparse(self.path)
        q = urllib.parse.parse_qs(url.query)
        if url.path == "/models/v1/external/weights":
            return self._api(fx, q)
        if url.path.startswith("/files/"):
            return self._file(fx, url.path[len("/files/"):])
        self._json(404, {"error": "no such route"})

    def _api(self, fx, q):
        model_id = q.get("modelId", [""])[0]
        with fx.lock:
            fx.api_calls[model_id] = fx.api_calls.get(model_id, 0) + 1
            n = fx.api_calls[model_id]
        auth = self.headers.get("Authorization")
        if model_id == "private/1" and auth != f"Bearer {GOOD_KEY}":
            return self._json(401, {"error": "unauthorized"})
        if model_id not in fx.models:
            return self._json(404, {"error": "not found"})
        if model_id == "flaky/1" and n == 1:
            return self._json(503, {"error": "try again"})
        if model_id == "down/1":
            return self._json(503, {"error": "down"})
        if model_id == "slowapi/1":
            time.sleep(3)
        start = q.get("startAfter", [None])[0]
        page = int(start[4:]) if start and start.startswith("page") else 0
        if page >= len(fx.models[model_id]):
            return self._json(400, {"error": "bad cursor"})
        host = self.headers.get("Host")
        self._json(200, fx.metadata_page(model_id, page, f"http://{host}"))

    def _file(self, fx, name):
        data = fx.files.get(name)
        if data is None:
            return self._json(404, {"error": "no such file"})
        rng = self.headers.get("Range")
        with fx.lock:
            fx.file_gets[name] = fx.file_gets.get(name, 0) + 1
            first = fx.file_gets[name] == 1
            if rng:
                fx.range_gets[name] = fx.range_gets.get(name, 0) + 1
                fx.range_log.setdefault(name, []).append(rng)
        how = fx.behaviour.get(name)
        size = len(data)
        start, end = 0, size - 1
        if rng and how != "ignore-range":
            try:
                unit, _, spec = rng.partition("=")
                a, _, b = spec.partition("-")
                start = int(a)
                end = min(int(b), size - 1) if b else size - 1
                if unit != "bytes" or start > end:
                    raise ValueError
            except ValueError:
                start = size
            if start >= size:
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{size}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
        ranged = rng is not None and how != "ignore-range"
        fault = None
        sf = fx.segment_fault.get(name)
        if ranged and sf and sf[0] <= start < sf[1]:
            with fx.lock:
                if sf[2] == "cut-always" or (name, start) not in fx.faults_done:
                    fault = sf[2]
                    fx.faults_done.add((name, start))
        if fault == "503-once":
            return self._json(503, {"error": "busy"})
        if ranged and how == "wrong-range" and start > 0:
            start += 1  # claims and sends a range other than the one asked for
        body = data[start:end + 1]
        self.send_response(206 if ranged else 200)
        self.send_header("Accept-Ranges", "bytes")
        if ranged:
            self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        try:
            if fault in ("cut-once", "cut-always") or (how == "truncate-once" and first):
                self._send(fx, name, body[: len(body) // 2])
                self.close_connection = True
                return
            if how == "stall-once" and first:
                self._send(fx, name, body[: len(body) // 2])
                time.sleep(4)
                self.close_connection = True
                return
            if how == "slow":
                for off in range(0, len(body), 64 * 1024):
                    self._send(fx, name, body[off: off + 64 * 1024])
                    time.sleep(0.04)
                return
            self._send(fx, name, body)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _send(self, fx, name, chunk):
        self.wfile.write(chunk)
        self.wfile.flush()
        with fx.lock:
            fx.bytes_sent[name] = fx.bytes_sent.get(name, 0) + len(chunk)


class _Server(http.server.ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        # Clients that time out on purpose close their end mid-response.
        if not isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            super().handle_error(request, client_address)


class FixtureServer:
    def __init__(self, yolo_onnx_path=None):
        self.fixtures = Fixtures(yolo_onnx_path)
        self.httpd = _Server(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.httpd.fixtures = self.fixtures
        self.port = self.httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=10)


if __name__ == "__main__":
    with FixtureServer(sys.argv[1] if len(sys.argv) > 1 else None) as s:
        print(s.url, flush=True)
        try:
            while True:
                time.sleep(1)
        except KeyboardInterrupt:
            pass
