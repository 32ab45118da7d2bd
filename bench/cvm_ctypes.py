"""Minimal ctypes binding to libcvm for benchmarks and tests (not a product API)."""
import ctypes
import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # see compare_ort.py
import numpy as np

MAX_DIMS = 8
DTYPES = {1: np.float32, 2: np.uint8, 3: np.int8, 4: np.uint16, 5: np.int16, 6: np.int32, 7: np.int64,
          9: np.bool_, 10: np.float16, 11: np.float64, 12: np.uint32, 13: np.uint64}
CODES = {np.dtype(v): k for k, v in DTYPES.items()}


class Tensor(ctypes.Structure):
    _fields_ = [("dtype", ctypes.c_int), ("ndim", ctypes.c_int), ("dims", ctypes.c_int64 * MAX_DIMS),
                ("data", ctypes.c_void_p), ("nbytes", ctypes.c_size_t), ("owns_data", ctypes.c_int)]


class Options(ctypes.Structure):
    # must match cvm_session_options in include/cvm/cvm.h field for field
    _fields_ = [("threads", ctypes.c_int), ("optimize", ctypes.c_int), ("max_tensor_bytes", ctypes.c_size_t),
                ("profile", ctypes.c_int), ("precision", ctypes.c_int)]

PRECISIONS = {"fp32": 0, "bf16": 1}


class Stats(ctypes.Structure):
    # must match cvm_session_stats in include/cvm/cvm.h
    _fields_ = [(n, ctypes.c_size_t) for n in ("nodes_in_model", "nodes_planned", "nodes_folded",
                                                "arena_bytes", "naive_bytes", "weight_bytes",
                                                "nodes_viewed", "nodes_side_by_side",
                                                "side_by_side_regions")]


class ValueInfo(ctypes.Structure):
    _fields_ = [("name", ctypes.c_char_p), ("dtype", ctypes.c_int), ("ndim", ctypes.c_int),
                ("dims", ctypes.c_int64 * MAX_DIMS), ("dim_names", ctypes.c_char_p * MAX_DIMS)]


class NodeTime(ctypes.Structure):
    # must match cvm_node_time in include/cvm/cvm.h
    _fields_ = [("name", ctypes.c_char * 64), ("op_type", ctypes.c_char * 48), ("shapes", ctypes.c_char * 160),
                ("calls", ctypes.c_size_t), ("total_ms", ctypes.c_double)]


class CvmError(RuntimeError):
    pass


class Library:
    def __init__(self, path):
        self.lib = ctypes.CDLL(os.path.abspath(path))
        L = self.lib
        L.cvm_last_error.restype = ctypes.c_char_p
        L.cvm_session_create.argtypes = [ctypes.c_char_p, ctypes.POINTER(Options), ctypes.POINTER(ctypes.c_void_p)]
        L.cvm_session_free.argtypes = [ctypes.c_void_p]
        L.cvm_session_options_init.argtypes = [ctypes.POINTER(Options)]
        L.cvm_session_run.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.POINTER(ctypes.c_char_p),
                                      ctypes.POINTER(ctypes.POINTER(Tensor)), ctypes.c_size_t,
                                      ctypes.c_void_p, ctypes.POINTER(ctypes.POINTER(Tensor))]
        L.cvm_tensor_free.argtypes = [ctypes.POINTER(Tensor)]
        L.cvm_session_output_count.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_size_t)]
        L.cvm_session_output_info.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.POINTER(ValueInfo)]
        L.cvm_session_get_stats.argtypes = [ctypes.c_void_p, ctypes.POINTER(Stats)]
        L.cvm_session_get_node_profile.argtypes = [ctypes.c_void_p, ctypes.POINTER(NodeTime), ctypes.c_size_t,
                                                   ctypes.POINTER(ctypes.c_size_t)]

    def check(self, status):
        if status != 0:
            raise CvmError(self.lib.cvm_last_error().decode())


class Session:
    def __init__(self, lib, path, threads=0, profile=False, precision="fp32"):
        self.L = lib
        o = Options()
        lib.lib.cvm_session_options_init(ctypes.byref(o))
        o.threads = threads
        o.profile = 1 if profile else 0
        o.precision = PRECISIONS[precision]
        self.h = ctypes.c_void_p()
        lib.check(lib.lib.cvm_session_create(path.encode(), ctypes.byref(o), ctypes.byref(self.h)))
        n = ctypes.c_size_t()
        lib.lib.cvm_session_output_count(self.h, ctypes.byref(n))
        self.n_out = n.value
        self.output_names = []
        for i in range(self.n_out):
            vi = ValueInfo()
            lib.lib.cvm_session_output_info(self.h, i, ctypes.byref(vi))
            self.output_names.append(vi.name.decode())

    def stats(self):
        s = Stats()
        self.L.lib.cvm_session_get_stats(self.h, ctypes.byref(s))
        return {n: getattr(s, n) for n, _ in Stats._fields_}

    def node_profile(self):
        """{node name: (op type, shapes, total ms over all runs so far)} (profile=True sessions)."""
        n = ctypes.c_size_t()
        self.L.check(self.L.lib.cvm_session_get_node_profile(self.h, None, 0, ctypes.byref(n)))
        buf = (NodeTime * max(1, n.value))()
        self.L.check(self.L.lib.cvm_session_get_node_profile(self.h, buf, n.value, ctypes.byref(n)))
        return {t.name.decode(): (t.op_type.decode(), t.shapes.decode(), t.total_ms) for t in buf[:n.value]}

    def run(self, feeds):
        """feeds: dict name -> contiguous numpy array. Returns a list of numpy outputs."""
        names = (ctypes.c_char_p * len(feeds))(*[k.encode() for k in feeds])
        keep = []
        ptrs = (ctypes.POINTER(Tensor) * len(feeds))()
        for i, arr in enumerate(feeds.values()):
            arr = np.ascontiguousarray(arr)
            keep.append(arr)
            t = Tensor(CODES[arr.dtype], arr.ndim, (ctypes.c_int64 * MAX_DIMS)(*arr.shape),
                       arr.ctypes.data, arr.nbytes, 0)
            keep.append(t)
            ptrs[i] = ctypes.pointer(t)
        outs = (ctypes.POINTER(Tensor) * self.n_out)()
        self.L.check(self.L.lib.cvm_session_run(self.h, len(feeds), names, ptrs, self.n_out, None, outs))
        result = []
        for i in range(self.n_out):
            t = outs[i].contents
            shape = tuple(t.dims[:t.ndim])
            dt = np.dtype(DTYPES[t.dtype])
            buf = (ctypes.c_char * t.nbytes).from_address(t.data) if t.nbytes else b""
            result.append(np.frombuffer(bytes(buf), dtype=dt).reshape(shape))
            self.L.lib.cvm_tensor_free(outs[i])
        return result

    def close(self):
        if self.h:
            self.L.lib.cvm_session_free(self.h)
            self.h = None

    def __del__(self):
        self.close()
