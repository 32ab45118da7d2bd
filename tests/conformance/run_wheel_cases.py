#!/usr/bin/env python3
"""Generates the onnx wheel's node cases (once per onnx version) and runs the
conformance runner over them. usage: run_wheel_cases.py RUNNER WORKDIR EXCLUDE"""
import os
import subprocess
import sys

import onnx

runner, work, exclude = sys.argv[1:4]
stamp = os.path.join(work, "onnx-version")
if not (os.path.exists(stamp) and open(stamp).read() == onnx.__version__):
    subprocess.run([sys.executable, os.path.join(os.path.dirname(__file__), "gen_node_tests.py"), work],
                   check=True)
    with open(stamp, "w") as f:
        f.write(onnx.__version__)
print(f"onnx {onnx.__version__} node cases in {work}/node", flush=True)
sys.exit(subprocess.run([runner, "--exclude", exclude, os.path.join(work, "node")]).returncode)
