#!/usr/bin/env python3
"""Writes the ONNX per-operator test cases that the installed `onnx` wheel
generates (its backend/test/case/node modules) to DIR/node/test_*/, in the
same layout as Debian's libonnx-testdata, so that the conformance runner can
cover operator versions newer than the Debian snapshot.

usage: gen_node_tests.py DIR
"""
import json
import os
import sys
import warnings


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    out = os.path.join(sys.argv[1], "node")
    warnings.simplefilter("ignore")
    import numpy as np  # noqa: F401  (the case generators need it)
    from onnx import TensorProto, numpy_helper
    import onnx.backend.test.case.node as node_cases

    os.makedirs(out, exist_ok=True)
    written = 0
    for case in node_cases.collect_testcases(None) if _takes_arg(node_cases.collect_testcases) \
            else node_cases.collect_testcases():
        d = os.path.join(out, case.name)
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, "model.onnx"), "wb") as f:
            f.write(case.model.SerializeToString())
        if case.rtol is not None or case.atol is not None:
            with open(os.path.join(d, "tolerance.json"), "w") as f:
                json.dump({"rtol": case.rtol, "atol": case.atol}, f)
        for i, (inputs, outputs) in enumerate(case.data_sets):
            ds = os.path.join(d, f"test_data_set_{i}")
            os.makedirs(ds, exist_ok=True)
            for kind, values, decl in (("input", inputs, case.model.graph.input),
                                        ("output", outputs, case.model.graph.output)):
                for j, v in enumerate(values):
                    if not decl[j].type.HasField("tensor_type"):
                        continue  # sequences, maps, optionals: not tensors, not ours
                    t = v if isinstance(v, TensorProto) else numpy_helper.from_array(v, decl[j].name)
                    with open(os.path.join(ds, f"{kind}_{j}.pb"), "wb") as f:
                        f.write(t.SerializeToString())
        written += 1
    print(f"wrote {written} node test cases to {out}")
    return 0


def _takes_arg(fn):
    import inspect
    return len(inspect.signature(fn).parameters) > 0


if __name__ == "__main__":
    sys.exit(main())
