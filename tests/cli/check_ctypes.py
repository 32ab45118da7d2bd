"""The benchmarks' ctypes structures (bench/cvm_ctypes.py) against the C ones
in include/cvm/cvm.h, field for field: a structure missing a field that the
library writes (cvm_session_get_stats fills the whole C struct) would let it
write past the Python buffer.

usage: check_ctypes.py REPO_ROOT
"""
import re
import sys

MIRRORS = {"Tensor": "cvm_tensor", "Options": "cvm_session_options", "Stats": "cvm_session_stats",
           "ValueInfo": "cvm_value_info", "NodeTime": "cvm_node_time"}


def c_fields(header, name):
    m = re.search(r"typedef struct %s \{(.*?)\} %s;" % (name, name), header, re.S)
    if not m:
        raise SystemExit("%s not found in cvm.h" % name)
    body = re.sub(r"/\*.*?\*/", "", m.group(1), flags=re.S)
    fields = []
    for decl in body.split(";"):
        decl = decl.strip()
        if not decl:
            continue
        for part in decl.split(","):
            ident = re.findall(r"([A-Za-z_][A-Za-z0-9_]*)\s*(?:\[[^\]]*\])?\s*$", part.strip())
            if not ident:
                raise SystemExit("cannot read the declaration %r in %s" % (decl, name))
            fields.append(ident[0])
    return fields


def main():
    root = sys.argv[1]
    sys.path.insert(0, root + "/bench")
    import cvm_ctypes
    header = open(root + "/include/cvm/cvm.h").read()
    bad = 0
    for py, c in MIRRORS.items():
        want = c_fields(header, c)
        got = [f[0] for f in getattr(cvm_ctypes, py)._fields_]
        if got != want:
            print("bench/cvm_ctypes.py %s: fields %s, but %s in cvm.h has %s" % (py, got, c, want))
            bad += 1
        else:
            print("%s matches %s (%d fields)" % (py, c, len(want)))
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
