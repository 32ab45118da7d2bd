#!/usr/bin/env python3
"""Writes the ONNX loader's seed corpus (fuzz/corpus/onnx_loader/) and the
small fixtures of tests/unit/test_onnx_loader.c (tests/data/onnx/).

The values here are chosen by hand; the C test checks the same numbers, so
a loader that decodes an encoding wrongly fails the test.

Usage: python tools/make_fuzz_corpus.py   (needs the onnx and numpy packages)
"""
import os
import struct

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CORPUS = os.path.join(ROOT, "fuzz", "corpus", "onnx_loader")
FIXTURES = os.path.join(ROOT, "tests", "data", "onnx")


def typed(name, dtype, dims, vals):
    """A tensor stored in the typed field (float_data, int32_data, ...)."""
    return helper.make_tensor(name, dtype, dims, vals, raw=False)


def raw(name, arr):
    return numpy_helper.from_array(arr, name)


def features_model():
    """Exercises every encoding and attribute kind the loader supports."""
    inits = [
        raw("w_raw", np.array([[1.0, 2.0, 3.0]], dtype=np.float32)),
        typed("w_f32", TensorProto.FLOAT, [2], [0.5, -1.5]),
        typed("w_f16", TensorProto.FLOAT16, [2], [1.0, -2.0]),      # int32_data holds the bits
        typed("w_bf16", TensorProto.BFLOAT16, [1], [1.0]),
        typed("w_bool", TensorProto.BOOL, [3], [True, False, True]),
        typed("w_i8", TensorProto.INT8, [2], [-128, 127]),
        typed("w_u8", TensorProto.UINT8, [2], [0, 255]),
        typed("w_i16", TensorProto.INT16, [1], [-300]),
        typed("w_u16", TensorProto.UINT16, [1], [65535]),
        typed("w_i32", TensorProto.INT32, [2], [-7, 2147483647]),
        typed("w_i64", TensorProto.INT64, [3], [-1, 0, 1 << 40]),
        typed("w_f64", TensorProto.DOUBLE, [1], [0.25]),
        typed("w_u32", TensorProto.UINT32, [1], [4000000000]),
        typed("w_u64", TensorProto.UINT64, [1], [(1 << 64) - 1]),
        raw("w_empty", np.zeros((0, 3), dtype=np.float32)),
        raw("w_scalar", np.array(42, dtype=np.int64)),
        raw("w_f16raw", np.array([1.0, 0.5], dtype=np.float16)),
    ]

    then_g = helper.make_graph([helper.make_node("Identity", ["A"], ["t_out"])], "then_body", [],
                               [helper.make_tensor_value_info("t_out", TensorProto.FLOAT, None)])
    else_g = helper.make_graph([helper.make_node("Neg", ["A"], ["e_out"])], "else_body", [],
                               [helper.make_tensor_value_info("e_out", TensorProto.FLOAT, None)])
    nodes = [
        helper.make_node("Constant", [], ["c_float"], value_float=2.5),
        helper.make_node("Constant", [], ["c_floats"], value_floats=[1.0, 2.0]),
        helper.make_node("Constant", [], ["c_int"], value_int=7),
        helper.make_node("Constant", [], ["c_ints"], value_ints=[1, -2, 3]),
        helper.make_node("Constant", [], ["c_tensor"],
                         value=typed("ct", TensorProto.INT8, [2], [-1, 5])),
        helper.make_node("Add", ["X", "w_raw"], ["A"], name="add0"),
        helper.make_node("Custom", ["A", "", "c_float"], ["B", ""], name="custom0", domain="com.example",
                         f=0.5, i=-3, s=b"a\x00b", t=typed("tt", TensorProto.INT64, [1], [9]),
                         floats=[1.5, 2.5], ints=[4, -5, 6], strings=[b"x", b"yz"],
                         tensors=[typed("t0", TensorProto.FLOAT, [1], [1.0]),
                                  typed("t1", TensorProto.INT32, [2], [2, 3])],
                         graphs=[then_g]),
        helper.make_node("Other", ["B"], ["C"], name="other0", domain="com.unknown"),
        helper.make_node("If", ["cond"], ["D"], name="if0", then_branch=then_g, else_branch=else_g),
    ]
    graph = helper.make_graph(
        nodes, "features",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, ["N", 3]),
         helper.make_tensor_value_info("cond", TensorProto.BOOL, [])],
        [helper.make_tensor_value_info("C", TensorProto.FLOAT, ["N", 3]),
         helper.make_tensor_value_info("D", TensorProto.FLOAT, None)],
        initializer=inits,
        value_info=[helper.make_tensor_value_info("A", TensorProto.FLOAT, ["N", 3]),
                    helper.make_tensor_sequence_value_info("B", TensorProto.FLOAT, None)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17),
                                                    helper.make_opsetid("com.example", 2)])
    model.ir_version = 8
    # protobuf-python always writes packed repeated fields; the C test builds
    # the unpacked encodings itself.
    return model.SerializeToString()


def ir3_model():
    """IR 3 lists initializers among the graph inputs."""
    w = raw("W", np.ones((2, 2), dtype=np.float32))
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["X", "W"], ["Y"])], "ir3",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, [1, 2]),
         helper.make_tensor_value_info("W", TensorProto.FLOAT, [2, 2])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [1, 2])], initializer=[w])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 7)])
    model.ir_version = 3
    return model.SerializeToString()


def ext_model(location, offset, length):
    t = TensorProto()
    t.name = "W"
    t.data_type = TensorProto.FLOAT
    t.dims.extend([2, 2])
    t.data_location = TensorProto.EXTERNAL
    for k, v in (("location", location), ("offset", str(offset)), ("length", str(length))):
        e = t.external_data.add()
        e.key, e.value = k, v
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["X", "W"], ["Y"])], "ext",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, [1, 2])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [1, 2])], initializer=[t])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    return model.SerializeToString()


def raw_mismatch_model():
    t = TensorProto()
    t.name = "W"
    t.data_type = TensorProto.FLOAT
    t.dims.extend([2, 2])
    t.raw_data = b"\0" * 12  # shape needs 16
    graph = helper.make_graph([helper.make_node("Relu", ["W"], ["Y"])], "bad", [],
                              [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [2, 2])],
                              initializer=[t])
    return helper.make_model(graph).SerializeToString()


def conv_model():
    rng = np.random.default_rng(0)
    w = raw("W", rng.standard_normal((4, 3, 3, 3)).astype(np.float32))
    b = raw("B", np.zeros(4, dtype=np.float32))
    shape = raw("shape", np.array([1, -1], dtype=np.int64))
    nodes = [helper.make_node("Conv", ["X", "W", "B"], ["c"], pads=[1, 1, 1, 1], strides=[1, 1]),
             helper.make_node("Relu", ["c"], ["r"]),
             helper.make_node("Reshape", ["r", "shape"], ["Y"])]
    graph = helper.make_graph(nodes, "conv",
                              [helper.make_tensor_value_info("X", TensorProto.FLOAT, [1, 3, 8, 8])],
                              [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [1, 256])],
                              initializer=[w, b, shape])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]).SerializeToString()


def write(folder, name, data):
    assert len(data) < 64 * 1024, name
    with open(os.path.join(folder, name), "wb") as f:
        f.write(data)


def main():
    os.makedirs(CORPUS, exist_ok=True)
    os.makedirs(FIXTURES, exist_ok=True)
    feats = features_model()
    ir3 = ir3_model()
    conv = conv_model()
    ext_ok = ext_model("ext_weights.bin", 8, 16)
    for name, data in (("features.onnx", feats), ("ir3.onnx", ir3), ("ext_ok.onnx", ext_ok),
                       ("ext_dotdot.onnx", ext_model("../ext_weights.bin", 0, 16)),
                       ("ext_abs.onnx", ext_model("/etc/passwd", 0, 16)),
                       ("ext_short.onnx", ext_model("ext_weights.bin", 16, 16)),
                       ("raw_mismatch.onnx", raw_mismatch_model())):
        write(FIXTURES, name, data)
    # 8 bytes of padding, then 1.0 2.0 3.0 4.0, then 4 bytes more.
    write(FIXTURES, "ext_weights.bin",
          b"\xee" * 8 + struct.pack("<4f", 1.0, 2.0, 3.0, 4.0) + b"\xee" * 4)
    write(FIXTURES, "tensor_f32.pb",
          raw("x", np.array([[1.0, -2.0], [0.5, 8.0]], dtype=np.float32)).SerializeToString())
    write(FIXTURES, "tensor_i64.pb", typed("idx", TensorProto.INT64, [3], [5, -6, 7]).SerializeToString())

    seeds = {"features.onnx": feats, "ir3.onnx": ir3, "conv.onnx": conv, "ext.onnx": ext_ok,
             "raw_mismatch.onnx": raw_mismatch_model()}
    for name, data in list(seeds.items()):
        seeds["trunc_" + name] = data[: len(data) * 2 // 3]
    flipped = bytearray(feats)
    for i in range(7, len(flipped), 97):
        flipped[i] ^= 0x5a
    seeds["flipped_features.onnx"] = bytes(flipped)
    seeds["group_wire.onnx"] = bytes([0x0B, 0x0C])          # field 1 start/end group
    seeds["huge_len.onnx"] = bytes([0x3A, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F])
    seeds["empty.onnx"] = b""
    for name, data in seeds.items():
        write(CORPUS, name, data)
    total = sum(os.path.getsize(os.path.join(CORPUS, f)) for f in os.listdir(CORPUS))
    assert total < 2 * 1024 * 1024
    print(f"wrote {len(seeds)} seeds ({total} bytes) and fixtures to {FIXTURES}")


if __name__ == "__main__":
    main()
