"""bench/compare_ort.py's FLOP count (the GFLOP/s and % of peak columns) on
small graphs whose multiply-adds are known: a convolution, a matrix product,
and a convolution whose input shape comes from a value given at run time
(a Reshape to a shape fed as an input), which ONNX shape inference cannot
know and the count must take from an ONNX Runtime run.

usage: check_flops.py REPO_ROOT
"""
import os
import sys
import tempfile

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

sys.path.insert(0, os.path.join(sys.argv[1], "bench"))
import compare_ort  # noqa: E402


def save(nodes, inputs, outputs, inits, path):
    g = helper.make_graph(nodes, "g", inputs, outputs, inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 8
    onnx.save(m, path)


def weights(name, *shape):
    return numpy_helper.from_array(np.full(shape, 0.1, np.float32), name)


def main():
    failures = []
    with tempfile.TemporaryDirectory() as tmp:
        # Conv 3 -> 4 channels, 3x3, on 8x8 with padding, then MatMul [1,4,64] x [64,5]
        p = os.path.join(tmp, "conv_matmul.onnx")
        save([helper.make_node("Conv", ["x", "w", "b"], ["c"], pads=[1, 1, 1, 1]),
              helper.make_node("Reshape", ["c", "s"], ["r"]),
              helper.make_node("MatMul", ["r", "m"], ["y"])],
             [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
             [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
             [weights("w", 4, 3, 3, 3), weights("b", 4), weights("m", 64, 5),
              numpy_helper.from_array(np.array([1, 4, 64], np.int64), "s")], p)
        want = 2 * (4 * 8 * 8) * (3 * 3 * 3) + 2 * (4 * 5) * 64
        feeds = {"x": np.ones((1, 3, 8, 8), np.float32)}
        got = compare_ort.count_flops(p, feeds)
        if got != want:
            failures.append(f"conv+matmul: {got} FLOPs, expected {want}")

        # the convolution's input shape is a run-time value: [1, 48] -> [1, 3, 4, 4]
        p = os.path.join(tmp, "runtime_shape.onnx")
        save([helper.make_node("Reshape", ["x", "shape"], ["r"]),
              helper.make_node("Conv", ["r", "w"], ["y"], pads=[1, 1, 1, 1])],
             [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 48]),
              helper.make_tensor_value_info("shape", TensorProto.INT64, [4])],
             [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
             [weights("w", 2, 3, 3, 3)], p)
        want = 2 * (2 * 4 * 4) * (3 * 3 * 3)
        feeds = {"x": np.ones((1, 48), np.float32), "shape": np.array([1, 3, 4, 4], np.int64)}
        got = compare_ort.count_flops(p, feeds)
        if got != want:
            failures.append(f"run-time shape: {got} FLOPs, expected {want}")
    for f in failures:
        print("FAIL", f)
    if failures:
        sys.exit(1)
    print("FLOP counts as expected")


if __name__ == "__main__":
    main()
