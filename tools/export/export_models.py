#!/usr/bin/env python3
"""Exports ONNX test models from the real upstream Python packages, with random
weights, so the engine can be tested on the graph structures people actually run.

Nothing here downloads weights: every model is built from its architecture
description (an ultralytics yaml, an RF-DETR config, a transformers config) and
initialised from a fixed seed. After the framework's own initialisation, every
parameter that it left constant (norm scales of 1, biases and BatchNorm running
means of 0, running variances of 1, zero-initialised heads) is redrawn from the
same seeded generator, so that no layer degenerates into an identity or a
constant and BatchNorm folding produces real biases. The graph structure is
exactly what the package exports; only the numbers differ from a trained model.

Two groups:
  fixtures  small models (< 1.5 MB each) committed under tests/data/exports/,
            shrunk by width/size but built and exported by the package's own code
  large     full-size models for benchmarking, written outside the repository
            (default: <tmp>/cvm-exports-large, or $CVM_EXPORTS_LARGE)

usage:
  export_models.py [--group fixtures|large|all] [--only NAME[,NAME...]]
                   [--out DIR] [--large-out DIR] [--list] [--manifest-only]

Run it with the interpreter of the export environment (docs/EXPORTS.md).
After the fixtures group it checks every fixture in onnxruntime on the test
pattern p[n,c,h,w] = ((c*97 + h*13 + w*7) % 256) / 255 and rewrites
tests/data/exports/MANIFEST.md.
"""
import argparse
import contextlib
import copy
import hashlib
import json
import os
import random
import shutil
import sys
import tempfile
from collections import Counter
from pathlib import Path

# onnxslim's symbolic shape inference names dims by iterating sets of sympy
# expressions; with randomised string hashing the value_info dim strings of
# dynamic exports change from run to run. A fixed hash seed keeps files
# byte-identical; it must be set before the interpreter starts, hence the re-exec.
if os.environ.get("PYTHONHASHSEED") != "0":
    os.environ["PYTHONHASHSEED"] = "0"
    os.execv(sys.executable, [sys.executable] + sys.argv)

# Set before any framework import: nothing may reach a hub or a font server.
for _k in ("YOLO_OFFLINE", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE"):
    os.environ.setdefault(_k, "1")
os.environ.setdefault("YOLO_VERBOSE", "False")
os.environ.setdefault("TQDM_DISABLE", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
FIXTURE_DIR = REPO / "tests" / "data" / "exports"
SEED = 0
FIXTURE_LIMIT = 1_500_000
FIXTURES_TOTAL_LIMIT = 16_000_000


def default_large_dir():
    return Path(os.environ.get("CVM_EXPORTS_LARGE") or Path(tempfile.gettempdir()) / "cvm-exports-large")


# --------------------------------------------------------------------------- seeding / weights

def seed_all(seed=SEED):
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


@torch.no_grad()
def redraw_constant_parameters(module, seed=SEED):
    """Redraws every floating parameter (and BatchNorm running statistic) whose
    elements are all equal. Such tensors are init artefacts (LayerNorm gamma=1,
    bias=0, zero-initialised output heads); left alone they would make folded
    BatchNorm biases zero and some heads input-independent, which weakens tests.
    Non-constant tensors (random conv/linear weights, fixed DFL ramps) are kept."""
    gen = torch.Generator().manual_seed(seed + 1)
    redrawn = 0
    tensors = [(n, p) for n, p in module.named_parameters()]
    for mn, m in module.named_modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm) and m.track_running_stats:
            tensors.append((mn + ".running_mean", m.running_mean))
            tensors.append((mn + ".running_var", m.running_var))
    seen = set()
    for name, t in tensors:
        if t is None or not t.is_floating_point() or t.numel() == 0 or id(t) in seen:
            continue
        seen.add(id(t))
        first = t.reshape(-1)[0].item()
        if not bool(torch.all(t == first)):
            continue
        if first == 1.0 or name.endswith("running_var"):
            new = torch.rand(t.shape, generator=gen) + 0.5          # scales / variances: [0.5, 1.5)
        else:
            new = torch.randn(t.shape, generator=gen) * 0.05 + first  # biases, means, zero heads
        t.copy_(new.to(t.dtype))
        redrawn += 1
    return redrawn


# --------------------------------------------------------------------------- ultralytics

def _ultra_yaml(base_yaml, scale, width=None, depth=None, max_channels=None, nc=None):
    """Returns the model dict of a packaged ultralytics yaml, optionally with the
    chosen scale's [depth, width, max_channels] replaced (the shrunk fixtures)."""
    from ultralytics.nn.tasks import yaml_model_load
    d = copy.deepcopy(yaml_model_load(base_yaml))
    d_, w_, m_ = d["scales"][scale]
    d["scales"] = {scale: [depth if depth is not None else d_,
                           width if width is not None else w_,
                           max_channels if max_channels is not None else m_]}
    if nc is not None:
        d["nc"] = nc
    d["scale"] = scale
    return d


@torch.no_grad()
def shift_class_biases(model, shift):
    """Detect heads start their class logits at the prior log(5 / nc / (640 / stride)^2)
    (scores near 0.001). Random weights barely move them, so every anchor sits at the
    same tiny score; moving the logits' bias into the sigmoid's slope gives scores that
    vary with the input, and thresholds that select some boxes and not others."""
    head = model.model[-1]
    for attr in ("cv3", "one2one_cv3"):
        for branch in getattr(head, attr, None) or []:
            convs = [m for m in branch.modules() if isinstance(m, torch.nn.Conv2d)]
            convs[-1].bias.add_(shift)


def export_ultralytics(spec, dest):
    from ultralytics import YOLO
    import yaml as pyyaml

    cfg = spec["cfg"]
    with tempfile.TemporaryDirectory(prefix="cvm-export-") as tmp, contextlib.chdir(tmp):
        d = _ultra_yaml(cfg["yaml"], cfg["scale"], cfg.get("width"), cfg.get("depth"),
                        cfg.get("max_channels"), cfg.get("nc"))
        d.pop("yaml_file", None)
        # The file name carries the scale letter, as the packaged names do.
        yaml_path = Path(tmp) / cfg["yaml"].replace(".yaml", "-export.yaml")
        yaml_path.write_text(pyyaml.safe_dump(d, sort_keys=False))
        seed_all()
        model = YOLO(str(yaml_path), task=spec.get("task"))
        redraw_constant_parameters(model.model)
        if cfg.get("cls_bias_shift"):
            shift_class_biases(model.model, cfg["cls_bias_shift"])
        # NMS fused into the graph bakes its thresholds in; they are export arguments.
        fused = {k: cfg[k] for k in ("nms", "conf", "iou", "max_det") if k in cfg}
        out = model.export(format="onnx", imgsz=spec["imgsz"], opset=spec["opset"],
                           dynamic=cfg.get("dynamic", False), simplify=cfg.get("simplify", True),
                           device="cpu", verbose=False, **fused)
        _strip_volatile_metadata(out)
        shutil.move(out, dest)


def _strip_volatile_metadata(path):
    """The ultralytics exporter stamps the export date into metadata_props;
    dropping it keeps regenerated files byte-identical."""
    import onnx
    m = onnx.load(path)
    keep = [p for p in m.metadata_props if p.key != "date"]
    del m.metadata_props[:]
    m.metadata_props.extend(keep)
    onnx.save(m, path)


# --------------------------------------------------------------------------- rf-detr

@contextlib.contextmanager
def _small_rfdetr(hidden, layers, heads, mlp_ratio, ffn):
    """Two RF-DETR sizes are not reachable through ModelConfig: the DINOv2
    encoder comes from a JSON shipped in the package (small = 384 wide, 12
    layers), and the decoder FFN width from ModelDefaults.dim_feedforward
    (2048). For the fixtures both are narrowed for the duration of the build;
    the classes, the forward code and the exporter stay the package's."""
    import dataclasses
    import rfdetr._namespace as ns
    import rfdetr.models.backbone.dinov2 as dn
    orig_get, orig_width, orig_ns = dn.get_config, dict(dn.size_to_width), ns._namespace_from_configs

    def get_config(size, use_registers):
        c = orig_get(size, use_registers)
        c.update(hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads, mlp_ratio=mlp_ratio)
        return c

    def namespace_from_configs(model_config, train_config, defaults=ns.MODEL_DEFAULTS):
        return orig_ns(model_config, train_config, dataclasses.replace(defaults, dim_feedforward=ffn))

    dn.get_config = get_config
    dn.size_to_width["small"] = hidden
    ns._namespace_from_configs = namespace_from_configs
    try:
        yield
    finally:
        dn.get_config = orig_get
        dn.size_to_width.clear()
        dn.size_to_width.update(orig_width)
        ns._namespace_from_configs = orig_ns


@contextlib.contextmanager
def _no_dinov2_download():
    """With pretrain_weights=None, RF-DETR still asks the hub for the DINOv2
    encoder weights whenever its patch size and positional grid match DINOv2's
    (RF-DETR Base: patch 14, 37x37). Offline that raises; the replacement builds
    the same encoder class from the same config, as the package itself does for
    every other variant, leaving its weights random."""
    import rfdetr.models.backbone.dinov2 as dn
    cls = dn.WindowedDinov2WithRegistersBackbone
    orig = cls.__dict__.get("from_pretrained")  # normally inherited from PreTrainedModel

    def from_pretrained(klass, name, *args, config=None, **kwargs):
        return klass(config)

    cls.from_pretrained = classmethod(from_pretrained)
    try:
        yield
    finally:
        if orig is None:
            del cls.from_pretrained
        else:
            cls.from_pretrained = orig


def export_rfdetr(spec, dest):
    import rfdetr
    cfg = spec["cfg"]
    cls = getattr(rfdetr, cfg["class"], None)
    if cls is None:
        import rfdetr.variants as rv
        cls = getattr(rv, cfg["class"])
    kwargs = dict(cfg.get("kwargs", {}))
    shrink = cfg.get("encoder")
    with tempfile.TemporaryDirectory(prefix="cvm-export-") as tmp:
        with (_small_rfdetr(**shrink) if shrink else contextlib.nullcontext()), _no_dinov2_download():
            seed_all()
            model = cls(pretrain_weights=None, device="cpu", **kwargs)
        redraw_constant_parameters(model.model.model)
        out = model.export(output_dir=tmp, opset_version=spec["opset"], verbose=False)
        shutil.move(str(out), dest)


# --------------------------------------------------------------------------- transformers

def export_transformers(spec, dest):
    import transformers
    cfg = spec["cfg"]
    config_cls = getattr(transformers, cfg["config_class"])
    model_cls = getattr(transformers, cfg["model_class"])
    seed_all()
    config = config_cls(**cfg["config"])
    model = model_cls(config).eval()
    redraw_constant_parameters(model)
    size = spec["imgsz"]
    dummy = torch.zeros(1, config.num_channels, size, size)

    class Wrapper(torch.nn.Module):
        """Returns the named tensors positionally (torch.onnx needs tensors, not a ModelOutput)."""
        def __init__(self, inner, keys):
            super().__init__()
            self.inner, self.keys = inner, keys

        def forward(self, pixel_values):
            out = self.inner(pixel_values=pixel_values)
            return tuple(out[k] for k in self.keys)

    keys = cfg["outputs"]
    torch.onnx.export(Wrapper(model, keys), (dummy,), str(dest), opset_version=spec["opset"],
                      input_names=["pixel_values"], output_names=list(keys),
                      do_constant_folding=True, dynamo=False)


# --------------------------------------------------------------------------- the catalogue

def _u(name, yaml, scale, imgsz, task, group, opset=18, subdir="", **cfg):
    cfg.update(yaml=yaml, scale=scale)
    return dict(name=name, kind="ultralytics", group=group, imgsz=imgsz, opset=opset, task=task, cfg=cfg,
                subdir=subdir)


TINY_YOLO = dict(width=0.0625, max_channels=256, nc=10)
TINY_ENCODER = dict(hidden=48, layers=4, heads=2, mlp_ratio=2, ffn=128)

SPECS = [
    # Shrunk ultralytics fixtures: packaged yaml, scale n, width and max_channels cut down and
    # fewer classes (the detect head's class branch is max(ch, nc) wide and dominates the size).
    _u("yolov8-det-tiny-160", "yolov8n.yaml", "n", 160, "detect", "fixtures", **TINY_YOLO),
    _u("yolov8-det-tiny-160-dynamic", "yolov8n.yaml", "n", 160, "detect", "fixtures", **TINY_YOLO, dynamic=True),
    _u("yolov8-det-tiny-320-noslim", "yolov8n.yaml", "n", 320, "detect", "fixtures", **TINY_YOLO, simplify=False),
    _u("yolo11-det-tiny-160", "yolo11n.yaml", "n", 160, "detect", "fixtures", **TINY_YOLO),
    _u("yolov8-seg-tiny-160", "yolov8n-seg.yaml", "n", 160, "segment", "fixtures", **TINY_YOLO),
    _u("yolo11-seg-tiny-160", "yolo11n-seg.yaml", "n", 160, "segment", "fixtures", **TINY_YOLO),
    _u("yolov8-pose-tiny-160", "yolov8n-pose.yaml", "n", 160, "pose", "fixtures", width=0.0625, max_channels=256),
    _u("yolov8-cls-tiny-224", "yolov8n-cls.yaml", "n", 224, "classify", "fixtures", **TINY_YOLO),
    # NMS-free heads (output (B, 300, 6) = x1, y1, x2, y2, score, class) and NMS fused into the
    # graph (same layout, thresholds baked in; low enough that random weights give boxes).
    # nms=False selects the one-to-one head; the default (None) exports the one-to-many head.
    # Class logits shifted so that scores spread over (0, 1) (shift_class_biases).
    # They go to the end2end/ subfolder (see fixture_path).
    _u("yolov10-det-tiny-160", "yolov10n.yaml", "n", 160, "detect", "fixtures", **TINY_YOLO, nms=False,
       cls_bias_shift=6.5, subdir="end2end"),
    _u("yolo26-det-tiny-160", "yolo26n.yaml", "n", 160, "detect", "fixtures", **TINY_YOLO, nms=False,
       cls_bias_shift=6.5, subdir="end2end"),
    _u("yolov8-det-tiny-160-nms", "yolov8n.yaml", "n", 160, "detect", "fixtures", **TINY_YOLO,
       cls_bias_shift=6.5, nms=True, conf=0.25, iou=0.7, max_det=100, subdir="end2end"),
    # Full-size ultralytics models, package yaml unchanged.
    _u("yolov8n-640", "yolov8n.yaml", "n", 640, "detect", "large"),
    _u("yolov8s-640", "yolov8s.yaml", "s", 640, "detect", "large"),
    _u("yolov8m-640", "yolov8m.yaml", "m", 640, "detect", "large"),
    _u("yolo11n-640", "yolo11n.yaml", "n", 640, "detect", "large"),
    _u("yolov8n-seg-640", "yolov8n-seg.yaml", "n", 640, "segment", "large"),
    _u("yolo11n-seg-640", "yolo11n-seg.yaml", "n", 640, "segment", "large"),
    _u("yolov8n-pose-640", "yolov8n-pose.yaml", "n", 640, "pose", "large"),
    _u("yolov8n-cls-224", "yolov8n-cls.yaml", "n", 224, "classify", "large"),
    # RF-DETR.
    dict(name="rfdetr-det-tiny-192", kind="rfdetr", group="fixtures", imgsz=192, opset=17,
         cfg={"class": "RFDETRNano", "encoder": TINY_ENCODER,
              "kwargs": dict(resolution=192, positional_encoding_size=12, out_feature_indexes=[2, 4],
                             hidden_dim=32, sa_nheads=2, ca_nheads=4, dec_layers=2, num_queries=30,
                             num_select=30, num_classes=10)}),
    dict(name="rfdetr-seg-tiny-192", kind="rfdetr", group="fixtures", imgsz=192, opset=17,
         cfg={"class": "RFDETRSegNano", "encoder": TINY_ENCODER,
              "kwargs": dict(resolution=192, positional_encoding_size=16, out_feature_indexes=[2, 4],
                             hidden_dim=32, sa_nheads=2, ca_nheads=4, dec_layers=2, num_queries=30,
                             num_select=30, num_classes=10)}),
    dict(name="rfdetr-nano-384", kind="rfdetr", group="large", imgsz=384, opset=17, cfg={"class": "RFDETRNano"}),
    dict(name="rfdetr-base-560", kind="rfdetr", group="large", imgsz=560, opset=17, cfg={"class": "RFDETRBase"}),
    dict(name="rfdetr-seg-nano-312", kind="rfdetr", group="large", imgsz=312, opset=17,
         cfg={"class": "RFDETRSegNano"}),
    dict(name="rfdetr-seg-preview-432", kind="rfdetr", group="large", imgsz=432, opset=17,
         cfg={"class": "RFDETRSegPreview"}),
    # transformers: tiny configs, exported with torch.onnx (TorchScript exporter).
    dict(name="vit-tiny-64", kind="transformers", group="fixtures", imgsz=64, opset=17,
         cfg=dict(config_class="ViTConfig", model_class="ViTForImageClassification", outputs=["logits"],
                  config=dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=2, intermediate_size=128,
                              image_size=64, patch_size=8, num_labels=10))),
    dict(name="dinov2-tiny-64", kind="transformers", group="fixtures", imgsz=64, opset=17,
         cfg=dict(config_class="Dinov2Config", model_class="Dinov2ForImageClassification", outputs=["logits"],
                  config=dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=2, mlp_ratio=2,
                              image_size=64, patch_size=8, num_labels=10))),
    dict(name="dinov2-backbone-tiny-64", kind="transformers", group="fixtures", imgsz=64, opset=17,
         cfg=dict(config_class="Dinov2Config", model_class="Dinov2Model",
                  outputs=["last_hidden_state", "pooler_output"],
                  config=dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=2, mlp_ratio=2,
                              image_size=64, patch_size=8))),
]
PACKAGE_OF = {"ultralytics": "ultralytics", "rfdetr": "rfdetr", "transformers": "transformers"}


def fixture_path(folder, spec):
    """Fixtures whose rows come out in an order that last-bit differences may
    permute (a TopK over near-tied scores inside the graph), or that need an
    operator the engine lacks, live in a subfolder: the engine-vs-ORT test
    compares the top level element by element."""
    return folder / spec.get("subdir", "") / (spec["name"] + ".onnx")


def _version(dist):
    from importlib.metadata import version
    return version(dist)


EXPORTERS = {"ultralytics": export_ultralytics, "rfdetr": export_rfdetr, "transformers": export_transformers}


# --------------------------------------------------------------------------- checking / manifest

def pattern(shape):
    n, c, h, w = shape
    cc, hh, ww = np.meshgrid(np.arange(c), np.arange(h), np.arange(w), indexing="ij")
    p = ((cc * 97 + hh * 13 + ww * 7) % 256) / 255.0
    return np.ascontiguousarray(np.broadcast_to(p, (n, c, h, w)).astype(np.float32))


# Attributes whose values decide which kernel path a node needs; the manifest
# lists the distinct combinations each fixture uses.
NOTABLE_ATTRS = {
    "Conv": ("group", "dilations", "strides", "kernel_shape"),
    "ConvTranspose": ("group", "strides", "kernel_shape", "output_padding"),
    "MaxPool": ("kernel_shape", "strides", "pads", "ceil_mode"),
    "Resize": ("mode", "coordinate_transformation_mode", "nearest_mode", "cubic_coeff_a", "antialias",
               "exclude_outside"),
    "GridSample": ("mode", "padding_mode", "align_corners"),
    "TopK": ("axis", "largest", "sorted"),
    "Softmax": ("axis",),
    "LayerNormalization": ("axis", "epsilon"),
    "Cast": ("to",),
    "Gemm": ("transA", "transB", "alpha", "beta"),
    "ReduceMean": ("axes", "keepdims"),
    "ReduceSum": ("keepdims", "noop_with_empty_axes"),
    "ReduceMax": ("axes", "keepdims"),
    "Split": ("axis",),
}


def _dims(vi):
    return [d.dim_value if d.HasField("dim_value") else (d.dim_param or "?") for d in vi.type.tensor_type.shape.dim]


def inspect_model(path, imgsz):
    """Runs the file in onnxruntime on the test pattern and collects what the
    manifest records. Symbolic input dims are filled with 1 (batch) / imgsz."""
    import onnx
    import onnxruntime as ort
    m = onnx.load(str(path))
    onnx.checker.check_model(m)
    init = {i.name for i in m.graph.initializer}
    ops = Counter()
    variants = {}

    def walk(g):
        for n in g.node:
            ops[(n.domain or "ai.onnx") + ":" + n.op_type if n.domain not in ("", "ai.onnx") else n.op_type] += 1
            if n.op_type in NOTABLE_ATTRS:
                attrs = []
                for a in n.attribute:
                    if a.name not in NOTABLE_ATTRS[n.op_type]:
                        continue
                    v = onnx.helper.get_attribute_value(a)
                    v = v.decode() if isinstance(v, bytes) else (list(v) if isinstance(v, (list, tuple)) else v)
                    if n.op_type == "Cast" and a.name == "to":
                        v = onnx.TensorProto.DataType.Name(v)
                    attrs.append(f"{a.name}={v}")
                variants.setdefault(n.op_type, set()).add(", ".join(sorted(attrs)) or "defaults")
            for a in n.attribute:
                if a.type == onnx.AttributeProto.GRAPH:
                    walk(a.g)
                for sg in a.graphs:
                    walk(sg)
    walk(m.graph)
    inputs = [(i.name, _dims(i), onnx.TensorProto.DataType.Name(i.type.tensor_type.elem_type))
              for i in m.graph.input if i.name not in init]
    outputs_decl = [(o.name, _dims(o), onnx.TensorProto.DataType.Name(o.type.tensor_type.elem_type))
                    for o in m.graph.output]
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    feeds = {}
    for name, dims, _ in inputs:
        shape = [d if isinstance(d, int) and d > 0 else (1 if k == 0 else imgsz) for k, d in enumerate(dims)]
        feeds[name] = pattern(shape)
    res = sess.run(None, feeds)
    outs = []
    for (name, dims, dt), v in zip(outputs_decl, res):
        v = np.asarray(v)
        finite = bool(np.all(np.isfinite(v))) if v.dtype.kind == "f" else True
        outs.append(dict(name=name, declared=dims, dtype=dt, shape=list(v.shape), finite=finite,
                         min=float(v.min()) if v.size else 0.0, max=float(v.max()) if v.size else 0.0,
                         std=float(v.astype(np.float64).std()) if v.size else 0.0))
    opsets = {(o.domain or "ai.onnx"): o.version for o in m.opset_import}
    meta = {p.key: p.value for p in m.metadata_props}
    return dict(ops=ops, variants={k: sorted(v) for k, v in variants.items()}, inputs=inputs, outputs=outs, opsets=opsets, nodes=sum(ops.values()),
                producer=f"{m.producer_name} {m.producer_version}".strip(), meta=meta,
                feed_shapes={k: list(v.shape) for k, v in feeds.items()})


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def describe_config(spec):
    c = dict(spec["cfg"])
    if spec["kind"] == "ultralytics":
        parts = [f"yaml `{c['yaml']}` (packaged), scale `{c['scale']}`"]
        changed = {k: c[k] for k in ("depth", "width", "max_channels", "nc") if k in c}
        if "cls_bias_shift" in c:
            changed["class-logit bias shift"] = c["cls_bias_shift"]
        if changed:
            parts.append("scale overridden: " + ", ".join(f"{k}={v}" for k, v in changed.items()))
        parts.append(f"task {spec['task']}")
        fused = "".join(f", {k}={c[k]}" for k in ("nms", "conf", "iou", "max_det") if k in c)
        parts.append(f"export(format=onnx, imgsz={spec['imgsz']}, opset={spec['opset']}, "
                     f"dynamic={c.get('dynamic', False)}, simplify={c.get('simplify', True)}{fused})")
        return "; ".join(parts)
    if spec["kind"] == "rfdetr":
        parts = [f"`{c['class']}(pretrain_weights=None"
                 + "".join(f", {k}={v}" for k, v in c.get("kwargs", {}).items()) + ")`"]
        if c.get("encoder"):
            e = c["encoder"]
            parts.append(f"DINOv2 encoder JSON narrowed to hidden_size={e['hidden']}, "
                         f"num_hidden_layers={e['layers']}, num_attention_heads={e['heads']}, mlp_ratio={e['mlp_ratio']}; "
                         f"ModelDefaults.dim_feedforward={e['ffn']}")
        parts.append(f"`.export(opset_version={spec['opset']})`")
        return "; ".join(parts)
    return (f"`{c['model_class']}({c['config_class']}("
            + ", ".join(f"{k}={v}" for k, v in c["config"].items())
            + f"))`; torch.onnx.export(dynamo=False, opset_version={spec['opset']}), outputs {c['outputs']}")


def write_manifest(records, path):
    total = sum(r["size"] for r in records)
    all_ops = Counter()  # op -> number of fixtures using it
    for r in records:
        all_ops.update(r["info"]["ops"].keys())
    lines = [
        "# Exported model fixtures",
        "",
        "Small ONNX files exported by the upstream Python packages themselves, with random",
        "weights (seeded; nothing downloaded), so the engine is tested on real exporter graphs.",
        "Generated by `tools/export/export_models.py` (see `docs/EXPORTS.md`); do not edit by hand.",
        "",
        "Weights: the framework's own initialisation from `torch.manual_seed(0)`, then every",
        "parameter it left constant (norm scales, zero biases, BatchNorm running stats,",
        "zero-initialised heads) redrawn from a seeded generator. Test input: the pattern",
        "`p[n,c,h,w] = ((c*97 + h*13 + w*7) % 256) / 255` (float32); symbolic dims are fed batch 1",
        "and the export size. Reference outputs are not stored: compute them with onnxruntime.",
        "",
        "Files under `end2end/` end in a TopK over near-tied scores or in NonMaxSuppression:",
        "their rows may legitimately come out permuted, so they are checked through",
        "`cvm predict` against tests/vision/oracle.py rather than element by element.",
        "",
        f"{len(records)} files, {total} bytes in total.",
        "",
        "| file | source | input | outputs (on the pattern) | bytes |",
        "| --- | --- | --- | --- | --- |",
    ]
    for r in records:
        i = r["info"]
        ins = "<br>".join(f"`{n}` {d}" for n, d, _ in i["inputs"])
        outs = "<br>".join(f"`{o['name']}` {o['shape']}" for o in i["outputs"])
        lines.append(f"| `{r['file']}` | {r['package']} | {ins} | {outs} | {r['size']} |")
    lines += ["", "## Operators needed by all fixtures together", "",
              "Operator (number of fixtures that use it):", "",
              ", ".join(f"{k} ({v})" for k, v in sorted(all_ops.items())), ""]
    for r in records:
        i, s = r["info"], r["spec"]
        lines += [f"## {r['file']}", "",
                  f"- source: {r['package']} (torch {torch.__version__})",
                  f"- config: {describe_config(s)}",
                  f"- imgsz: {s['imgsz']}; opset: "
                  + ", ".join(f"{k} {v}" for k, v in sorted(i["opsets"].items())),
                  f"- producer: {i['producer']}",
                  f"- bytes: {r['size']}; sha256: `{r['sha256']}`",
                  "- inputs: " + "; ".join(f"`{n}` {dt} {d}" for n, d, dt in i["inputs"])]
        for o in i["outputs"]:
            lines.append(f"- output `{o['name']}` {o['dtype']} declared {o['declared']}, on the pattern "
                         f"{o['shape']}, range [{o['min']:.4g}, {o['max']:.4g}], std {o['std']:.4g}"
                         + ("" if o["finite"] else ", NOT FINITE"))
        lines += [f"- onnxruntime on the pattern: ran, feeds {i['feed_shapes']}",
                  f"- nodes: {i['nodes']}; ops: "
                  + ", ".join(f"{k} {v}" for k, v in sorted(i["ops"].items()))]
        for op, vs in sorted(i["variants"].items()):
            lines.append(f"  - {op}: " + "; ".join(f"[{v}]" for v in vs))
        lines += [f"- regenerate: `python tools/export/export_models.py --only {s['name']}`", ""]
    Path(path).write_text("\n".join(lines))


def write_large_index(records, folder):
    data = [dict(file=r["file"], package=r["package"], imgsz=r["spec"]["imgsz"], bytes=r["size"],
                 sha256=r["sha256"], inputs=r["info"]["inputs"],
                 outputs=[{k: o[k] for k in ("name", "shape", "dtype")} for o in r["info"]["outputs"]],
                 ops=dict(sorted(r["info"]["ops"].items())), attributes=r["info"]["variants"],
                 config=describe_config(r["spec"]))
            for r in records]
    (Path(folder) / "index.json").write_text(json.dumps(data, indent=1))


# --------------------------------------------------------------------------- main

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--group", choices=["fixtures", "large", "all"], default="fixtures")
    ap.add_argument("--only", help="comma-separated names (see --list)")
    ap.add_argument("--out", default=str(FIXTURE_DIR))
    ap.add_argument("--large-out", default=str(default_large_dir()))
    ap.add_argument("--list", action="store_true")
    ap.add_argument("--manifest-only", action="store_true",
                    help="re-check the existing fixtures and rewrite MANIFEST.md without exporting")
    a = ap.parse_args()

    if a.list:
        for s in SPECS:
            print(f"{s['name']:32s} {s['group']:9s} {s['kind']}")
        return 0
    wanted = set(a.only.split(",")) if a.only else None
    if wanted:
        unknown = wanted - {s["name"] for s in SPECS}
        if unknown:
            sys.exit(f"unknown names: {sorted(unknown)} (see --list)")
    groups = {"fixtures", "large"} if a.group == "all" else {a.group}
    todo = [s for s in SPECS if (s["name"] in wanted if wanted else s["group"] in groups)]

    # Absolute: the ultralytics exporter runs inside a temporary working directory.
    folders = {"fixtures": Path(a.out).resolve(), "large": Path(a.large_out).resolve()}
    failures = []
    for s in todo:
        folder = folders[s["group"]]
        folder.mkdir(parents=True, exist_ok=True)
        dest = fixture_path(folder, s)
        dest.parent.mkdir(parents=True, exist_ok=True)
        if a.manifest_only:
            continue
        print(f"== {s['name']} -> {dest}", flush=True)
        try:
            EXPORTERS[s["kind"]](s, dest)
            size = dest.stat().st_size
            print(f"   {size} bytes  sha256 {sha256(dest)}", flush=True)
            if s["group"] == "fixtures" and size > FIXTURE_LIMIT:
                failures.append(f"{s['name']}: {size} bytes exceeds the fixture limit {FIXTURE_LIMIT}")
        except Exception as e:  # one broken exporter must not stop the others
            import traceback
            traceback.print_exc()
            failures.append(f"{s['name']}: {type(e).__name__}: {e}")

    # Manifest (fixtures) / index (large) over everything present in the folder,
    # so a partial --only run still leaves a complete manifest.
    for group in sorted({s["group"] for s in todo} if wanted else groups):
        folder = folders[group]
        records = []
        for s in SPECS:
            f = fixture_path(folder, s)
            if s["group"] != group or not f.exists():
                continue
            package = PACKAGE_OF[s["kind"]] + " " + _version(PACKAGE_OF[s["kind"]])
            try:
                info = inspect_model(f, s["imgsz"])
            except Exception as e:
                failures.append(f"{s['name']}: onnxruntime check failed: {type(e).__name__}: {e}")
                continue
            bad = [o["name"] for o in info["outputs"] if not o["finite"]]
            if bad:
                failures.append(f"{s['name']}: non-finite outputs {bad}")
            records.append(dict(file=f.relative_to(folder).as_posix(), spec=s, info=info, size=f.stat().st_size, sha256=sha256(f),
                                package=package))
            print(f"   checked {f.name}: {info['nodes']} nodes, ops {sorted(info['ops'])}", flush=True)
        if group == "fixtures" and records:
            total = sum(r["size"] for r in records)
            if total > FIXTURES_TOTAL_LIMIT:
                failures.append(f"fixtures total {total} bytes exceeds {FIXTURES_TOTAL_LIMIT}")
            write_manifest(records, folder / "MANIFEST.md")
        elif group == "large" and records:
            write_large_index(records, folder)

    if failures:
        print("\nFAILED:\n  " + "\n  ".join(failures))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
