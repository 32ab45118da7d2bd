"""Bit-exactness of the two bilinear resizers against the libraries they
reproduce: cv2.resize(INTER_LINEAR) and PIL.Image.resize(BILINEAR).

usage: resize_parity.py path/to/resize_tool [--cases N] [--seed S] [--lanes L]
Exit status 0 when every case matches to the byte.
"""
import argparse
import os
import subprocess
import sys

try:
    import cv2
    import numpy as np
    from PIL import Image
except ImportError as e:  # reported as skipped by CTest (SKIP_RETURN_CODE 77)
    print(f"resize_parity: reference library missing ({e}); skipped")
    sys.exit(77)


class Tool:
    """The resize_tool driver, kept running for all cases."""

    def __init__(self, path):
        self.p = subprocess.Popen([os.path.abspath(path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE)

    def resize(self, kind, src, dw, dh, lanes=0):
        sh, sw = src.shape[:2]
        cn = 1 if src.ndim == 2 else src.shape[2]
        self.p.stdin.write(f"{kind} {sw} {sh} {cn} {dw} {dh} {lanes}\n".encode())
        self.p.stdin.write(np.ascontiguousarray(src).tobytes())
        self.p.stdin.flush()
        line = self.p.stdout.readline().decode().strip()
        if line != "ok":
            raise RuntimeError(f"resize_tool: {line or 'no answer'}")
        n = dw * dh * cn
        data = self.p.stdout.read(n)
        shape = (dh, dw) if cn == 1 else (dh, dw, cn)
        return np.frombuffer(data, np.uint8).reshape(shape)

    def close(self):
        self.p.stdin.close()
        self.p.wait()


def cases(rng, n):
    """(sw, sh, dw, dh, channels): fixed edge cases first, then random ones."""
    fixed = [(1, 1, 1, 1), (1, 1, 7, 5), (7, 5, 1, 1), (1, 9, 4, 3), (9, 1, 3, 4), (2, 2, 1, 1),
             (640, 480, 320, 240), (320, 240, 640, 480), (101, 77, 50, 38), (4000, 3000, 640, 480),
             (1280, 720, 640, 360), (640, 360, 1280, 720), (33, 17, 66, 34), (100, 100, 33, 33),
             (100, 100, 300, 300), (3, 3, 1000, 2), (1000, 2, 3, 3), (17, 19, 17, 40), (17, 19, 40, 19),
             (512, 512, 640, 640), (810, 1080, 480, 640), (5, 4, 2, 2), (6, 4, 3, 2), (6, 4, 2, 2)]
    out = []
    for i, (sw, sh, dw, dh) in enumerate(fixed):
        for cn in (1, 3, 4):
            out.append((sw, sh, dw, dh, cn))
    while len(out) < n:
        kind = rng.integers(0, 4)
        sw, sh = int(rng.integers(1, 400)), int(rng.integers(1, 400))
        if kind == 0:  # upscale
            dw, dh = int(rng.integers(sw, 3 * sw + 2)), int(rng.integers(sh, 3 * sh + 2))
        elif kind == 1:  # downscale
            dw, dh = int(rng.integers(1, sw + 1)), int(rng.integers(1, sh + 1))
        elif kind == 2:  # integer factors
            f = int(rng.integers(2, 5))
            if rng.integers(0, 2):
                dw, dh = sw * f, sh * f
            else:
                dw, dh = max(1, sw // f), max(1, sh // f)
                sw, sh = dw * f, dh * f
        else:  # anything
            dw, dh = int(rng.integers(1, 500)), int(rng.integers(1, 500))
        out.append((sw, sh, dw, dh, int(rng.choice([1, 3, 4]))))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("tool")
    ap.add_argument("--cases", type=int, default=330)
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--lanes", type=int, default=0, help="OpenCV 4.x vector width in 16-bit lanes (0 = OpenCV 5)")
    ap.add_argument("--only", choices=["cv", "pil"], default=None)
    args = ap.parse_args()
    cv2.setNumThreads(1)
    tool = Tool(args.tool)
    rng = np.random.default_rng(args.seed)
    totals = {"cv": [0, 0, 0], "pil": [0, 0, 0]}  # cases, failing cases, differing bytes
    for sw, sh, dw, dh, cn in cases(rng, args.cases):
        shape = (sh, sw) if cn == 1 else (sh, sw, cn)
        # Mix smooth gradients with noise so that rounding boundaries are hit.
        src = rng.integers(0, 256, shape, dtype=np.uint8)
        if rng.integers(0, 2):
            ramp = (np.arange(sw)[None, :] * 7 + np.arange(sh)[:, None] * 3) % 256
            if cn > 1:
                ramp = ramp[..., None]
            src = np.clip(ramp + src.astype(np.int32) // 16, 0, 255).astype(np.uint8)
        if cn == 4 and rng.integers(0, 2):
            src[..., 3] = rng.choice([0, 255, 128, 1], size=(sh, sw))
        checks = []
        if args.only in (None, "cv"):
            ref = cv2.resize(src, (dw, dh), interpolation=cv2.INTER_LINEAR)
            got = tool.resize("cv", src, dw, dh, args.lanes)
            checks.append(("cv", ref.reshape(got.shape), got))
        if args.only in (None, "pil"):
            mode = {1: "L", 3: "RGB", 4: "RGBA"}[cn]
            ref = np.asarray(Image.fromarray(src, mode).resize((dw, dh), Image.BILINEAR))
            got = tool.resize("pil", src, dw, dh)
            checks.append(("pil", ref, got))
        for name, ref, got in checks:
            diff = int(np.count_nonzero(ref != got))
            t = totals[name]
            t[0] += 1
            t[2] += diff
            if diff:
                t[1] += 1
                if t[1] <= 10:
                    idx = np.argwhere(ref != got)[0]
                    print(f"{name}: {sw}x{sh}x{cn} -> {dw}x{dh}: {diff} bytes differ, first at {tuple(idx)}"
                          f" ref {ref[tuple(idx)]} got {got[tuple(idx)]}")
    tool.close()
    ok = True
    for name, (n, bad, diff) in totals.items():
        if n:
            print(f"{name}: {n} cases, {bad} with differences, {diff} differing bytes")
            ok = ok and bad == 0
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
