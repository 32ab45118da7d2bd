"""Reference pipeline for cvmodels' vision models, written from the contract
(Roboflow inference-models, reference sections 5.1-5.4) with numpy, OpenCV,
Pillow and onnxruntime.  It reads the same package folders as `cvm predict`
and returns plain Python results:

    {"width": W, "height": H, "task": ...,
     "detections": [{"box": [x1, y1, x2, y2], "confidence": c, "class_id": k,
                     "mask": bool HxW array or None, "keypoints": [(x, y, conf), ...]}],
     "classes": [confidences], "top": k, "predicted": [ids]}
"""
import json
import os

import cv2
import numpy as np
import onnxruntime as ort
from PIL import Image


# ------------------------------------------------------------------ package

def _num(v, default=None):
    if v is None:
        return default
    if isinstance(v, str):
        return float(v)
    return float(v)


class Package:
    def __init__(self, folder):
        self.folder = folder
        with open(os.path.join(folder, "model_config.json")) as f:
            mc = json.load(f)
        self.arch = mc["model_architecture"]
        self.task = mc["task_type"]
        weights = mc.get("weights") or "weights.onnx"
        self.weights = weights if os.path.isabs(weights) else os.path.join(folder, weights)
        with open(os.path.join(folder, "inference_config.json")) as f:
            ic = json.load(f)
        ipp = ic.get("image_pre_processing") or {}
        ni = ic["network_input"]
        crop = ipp.get("static-crop") or {}
        self.crop = None
        if crop.get("enabled"):
            self.crop = [int(_num(crop[k])) for k in ("x_min", "y_min", "x_max", "y_max")]
        self.grayscale = bool((ipp.get("grayscale") or {}).get("enabled"))
        contrast = ipp.get("contrast") or {}
        self.contrast = contrast.get("type") if contrast.get("enabled") else None
        tis = ni["training_input_size"]
        self.size = (int(_num(tis["width"])), int(_num(tis["height"])))
        dvr = ni.get("dataset_version_resize_dimensions")
        self.dvr = (int(_num(dvr["width"])), int(_num(dvr["height"]))) if dvr else None
        self.resize = ni["resize_mode"]
        self.pad = int(_num(ni.get("padding_value"), 0))
        self.color = ni.get("color_mode", "rgb")
        self.scaling = _num(ni.get("scaling_factor"))
        norm = ni.get("normalization")
        self.norm = (np.array(norm[0], np.float32), np.array(norm[1], np.float32)) if norm else None
        pp = ic.get("post_processing") or {}
        self.fused = bool(pp.get("fused"))
        ops = ic.get("class_names_operations") or []
        self.removed = [o["class_name"] for o in ops if o.get("type") == "class_name_removal"]
        with open(os.path.join(folder, "class_names.txt")) as f:
            self.raw_names = [l.strip() for l in f if l.strip()]
        self.names = [n for n in self.raw_names if n not in self.removed]
        self.kp = None
        kp_path = os.path.join(folder, "keypoints_metadata.json")
        if os.path.exists(kp_path):
            with open(kp_path) as f:
                meta = json.load(f)
            self.kp = {int(e["object_class_id"]): len(e["keypoints"]) for e in meta}
        if self.resize == "fit-longer-edge":
            if self.arch == "rfdetr":
                self.resize = "stretch"
            else:
                self.resize, self.pad = "letterbox", 127
        self.session = ort.InferenceSession(self.weights, providers=["CPUExecutionProvider"])


# ------------------------------------------------------------ pre-processing

def _clip_redistribute(hist, clim):
    """Clip one tile histogram at clim and hand the excess back out: first an
    even share to every bin, then single counts spread over the bins still
    under the limit, in strides (scikit-image's order, which the maps keep)."""
    excess = int(np.maximum(hist - clim, 0).sum())
    hist = np.minimum(hist, clim)
    share = excess // hist.size
    upper = clim - share
    low = hist < upper
    excess -= int(low.sum()) * share
    hist[low] += share
    mid = (hist >= upper) & (hist < clim)
    excess -= int((clim - hist[mid]).sum())
    hist[mid] = clim
    while excess > 0:
        before = excess
        for start in range(hist.size):
            under = hist < clim
            step = max(1, int(under.sum()) // excess)
            pos = np.arange(start, hist.size, step)
            pos = pos[under[pos]]
            hist[pos] += 1
            excess -= len(pos)
            if excess <= 0:
                break
        if excess == before:
            break
    return hist


def _clahe(img, clip_limit=0.03):
    """skimage.exposure.equalize_adapthist(img / 255, clip_limit) * 255 -> uint8
    on a 3-channel uint8 image, in the reference's float32 arithmetic: CLAHE of
    the HSV value, 14-bit levels, 256 bins, tiles of 1/8 of each side."""
    f = img.astype(np.float32) / np.float32(255)
    r, g, b = f[..., 0], f[..., 1], f[..., 2]
    v = f.max(-1)
    delta = v - f.min(-1)
    nz = delta != 0
    safe = np.where(nz, delta, np.float32(1))
    s = np.where(nz, delta / np.where(nz, v, np.float32(1)), np.float32(0)).astype(np.float32)
    hue = np.zeros_like(v)
    hue = np.where(r == v, (g - b) / safe, hue)
    hue = np.where(g == v, np.float32(2) + (b - r) / safe, hue)
    hue = np.where(b == v, np.float32(4) + (r - g) / safe, hue)
    hue = np.where(nz, np.mod(hue / np.float32(6), np.float32(1)), np.float32(0)).astype(np.float32)
    lev = np.clip(np.rint(v * np.float32(65535)), 0, 65535).astype(np.float64)
    lo, hi = lev.min(), lev.max()
    lev = np.rint((lev - lo) / (hi - lo) * 16383.0) if hi > lo else np.minimum(lev, 16383)
    bins = lev.astype(np.int64) // (1 + 16384 // 256)
    H, W = bins.shape
    k0, k1 = max(H // 8, 1), max(W // 8, 1)
    p0, p1 = k0 // 2, k1 // 2
    e0, e1 = (k0 - H % k0) % k0 + (k0 + 1) // 2, (k1 - W % k1) % k1 + (k1 + 1) // 2
    padded = np.pad(bins, ((p0, e0), (p1, e1)), mode="reflect")
    n0, n1 = padded.shape[0] // k0 - 1, padded.shape[1] // k1 - 1
    ke = k0 * k1
    clim = max(int(clip_limit * ke), 1) if clip_limit > 0 else ke
    maps = np.zeros((n0, n1, 256), np.int64)
    for i in range(n0):
        for j in range(n1):
            tile = padded[p0 + i * k0:p0 + (i + 1) * k0, p1 + j * k1:p1 + (j + 1) * k1]
            hist = _clip_redistribute(np.bincount(tile.ravel(), minlength=256).astype(np.int64), clim)
            maps[i, j] = np.minimum(np.cumsum(hist).astype(np.float64) * (16383 / ke), 16383).astype(np.int64)
    # Pixel (y, x) sits at padded (y + p0, x + p1), between tile centres
    # block-1 and block (clamped at the border).
    ys, xs = np.arange(H) + p0, np.arange(W) + p1
    by, bx = ys // k0, xs // k1
    cy, cx = (ys % k0) / k0, (xs % k1) / k1
    t0, t1 = np.clip(by - 1, 0, n0 - 1), np.clip(by, 0, n0 - 1)
    u0, u1 = np.clip(bx - 1, 0, n1 - 1), np.clip(bx, 0, n1 - 1)
    acc = np.zeros((H, W), np.float32)
    for ty, wy in ((t0, 1 - cy), (t1, cy)):
        for tx, wx in ((u0, 1 - cx), (u1, cx)):
            m = maps[ty[:, None], tx[None, :], bins]
            acc += (m * (wx[None, :] * wy[:, None])).astype(np.float32)
    eq = acc.astype(np.uint16).astype(np.float32)
    lo, hi = eq.min(), eq.max()
    v = (eq - lo) / np.float32(hi - lo) if hi > lo else np.clip(eq, 0, 1)
    h6 = hue * np.float32(6)
    sector = np.floor(h6)
    fr = h6 - sector
    p = v * (np.float32(1) - s)
    q = v * (np.float32(1) - fr * s)
    t = v * (np.float32(1) - (np.float32(1) - fr) * s)
    sector = sector.astype(np.uint8) % 6
    table = [(v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q)]
    out = np.zeros(img.shape, np.float32)
    for k, chans in enumerate(table):
        sel = sector == k
        for c in range(3):
            out[..., c][sel] = chans[c][sel]
    return (out * np.float32(255)).astype(np.uint8)


def _contrast(img, kind):
    if kind is None:
        return img
    if kind == "Adaptive Equalization":
        return _clahe(img)
    if kind == "Contrast Stretching":
        p2, p98 = np.percentile(img, (2, 98))
        x = np.clip(img.astype(np.float64), p2, p98)
        x = (x - p2) / (p98 - p2) * 255.0 if p98 > p2 else x
        return x.astype(np.uint8)
    if kind == "Histogram Equalization":
        f = img.astype(np.float64) / 255.0
        lo, hi = f.min(), f.max()
        hist, edges = np.histogram(f.ravel(), bins=256, range=(lo, hi))
        centers = (edges[:-1] + edges[1:]) / 2
        cdf = hist.cumsum() / hist.sum()
        out = np.interp(f.ravel(), centers, cdf).reshape(f.shape)
        return (out * 255).astype(np.uint8)
    raise NotImplementedError(kind)


def _prepare(pkg, bgr):
    h, w = bgr.shape[:2]
    meta = {"orig": (w, h), "crop": (0, 0), "pads": (0, 0, 0, 0), "nonsquare": None}
    img = bgr
    if pkg.crop:
        x0 = int(pkg.crop[0] / 100 * w)
        y0 = int(pkg.crop[1] / 100 * h)
        x1 = int(pkg.crop[2] / 100 * w)
        y1 = int(pkg.crop[3] / 100 * h)
        img = img[y0:y1, x0:x1]
        meta["crop"] = (x0, y0)
    if pkg.grayscale:
        g = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
        img = np.stack([g, g, g], axis=-1)
    img = _contrast(img, pkg.contrast)
    meta["after"] = (img.shape[1], img.shape[0])
    return np.ascontiguousarray(img), meta


def _geometry(img, mode, W, H, pad, meta):
    h, w = img.shape[:2]
    if mode == "stretch":
        canvas = cv2.resize(img, (W, H), interpolation=cv2.INTER_LINEAR)
        meta["scale"] = (W / w, H / h)
    elif mode in ("letterbox", "letterbox-reflect-edges"):
        s = min(W / w, H / h)
        nw, nh = int(w * s), int(h * s)
        top, left = int((H - nh) / 2), int((W - nw) / 2)
        canvas = np.full((H, W, 3), pad, np.uint8)
        canvas[top:top + nh, left:left + nw] = cv2.resize(img, (nw, nh), interpolation=cv2.INTER_LINEAR)
        meta["pads"] = (left, top, W - left - nw, H - top - nh)
        meta["scale"] = (s, s)
    elif mode == "center-crop":
        canvas = np.zeros((H, W, 3), np.uint8)
        pads = []
        src, dst = [], []
        for size, target in ((w, W), (h, H)):
            if size <= target:
                before = (target - size) // 2
                pads.append((before, target - size - before))
                src.append(slice(0, size))
                dst.append(slice(before, before + size))
            else:
                off = (size - target) // 2
                pads.append((-off, -(size - target - off)))
                src.append(slice(off, off + target))
                dst.append(slice(0, target))
        canvas[dst[1], dst[0]] = img[src[1], src[0]]
        meta["pads"] = (pads[0][0], pads[1][0], pads[0][1], pads[1][1])
        meta["scale"] = (1.0, 1.0)
    elif mode == "fit-longer-edge":
        if W / w < H / h:
            W, H = W, round(W / w * h)
        else:
            W, H = round(H / h * w), H
        canvas = cv2.resize(img, (W, H), interpolation=cv2.INTER_LINEAR)
        meta["scale"] = (W / w, H / h)
    else:
        raise NotImplementedError(mode)
    meta["infer"] = (W, H)
    return canvas


def preprocess(pkg, bgr):
    img, meta = _prepare(pkg, bgr)
    canvas = _geometry(img, pkg.resize, pkg.size[0], pkg.size[1], pkg.pad, meta).astype(np.float32)
    x = canvas.transpose(2, 0, 1)[None]
    if pkg.color == "rgb":
        x = x[:, ::-1]
    x = np.ascontiguousarray(x, dtype=np.float32)
    if pkg.scaling:
        x = x / np.float32(pkg.scaling)
    if pkg.norm is not None:
        x = (x - pkg.norm[0][None, :, None, None]) / pkg.norm[1][None, :, None, None]
    return x.astype(np.float32), meta


def preprocess_rfdetr(pkg, bgr):
    W, H = pkg.size
    if pkg.dvr and pkg.resize != "stretch":
        img, meta = _prepare(pkg, bgr)
        mode = "center-crop" if pkg.resize == "center-crop" else "letterbox"
        src = _geometry(img, mode, pkg.dvr[0], pkg.dvr[1], pkg.pad, meta)
        meta["nonsquare"] = meta["infer"]
    else:
        src, meta = _prepare(pkg, bgr)
        meta["scale"] = (W / src.shape[1], H / src.shape[0])
    meta["infer"] = (W, H)
    rgb = src[:, :, ::-1] if pkg.color == "rgb" else src
    pil = Image.fromarray(np.ascontiguousarray(rgb)).resize((W, H), Image.BILINEAR)
    x = np.asarray(pil).astype(np.float32).transpose(2, 0, 1)[None] / np.float32(255)
    if pkg.norm is not None:
        x = (x - pkg.norm[0][None, :, None, None]) / pkg.norm[1][None, :, None, None]
    elif pkg.scaling and pkg.scaling != 255:
        x = x * np.float32(255 / pkg.scaling)
    return np.ascontiguousarray(x, dtype=np.float32), meta


# ----------------------------------------------------------- post-processing

def nms(boxes, scores, classes, iou_thr):
    """torchvision batched_nms: greedy, score descending (stable), IoU > thr."""
    order = np.argsort(-scores, kind="stable")
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    suppressed = np.zeros(len(order), bool)
    keep = []
    for r, i in enumerate(order):
        if suppressed[r]:
            continue
        keep.append(i)
        rest = order[r + 1:]
        xx1 = np.maximum(boxes[i, 0], boxes[rest, 0])
        yy1 = np.maximum(boxes[i, 1], boxes[rest, 1])
        xx2 = np.minimum(boxes[i, 2], boxes[rest, 2])
        yy2 = np.minimum(boxes[i, 3], boxes[rest, 3])
        inter = np.clip(xx2 - xx1, 0, None) * np.clip(yy2 - yy1, 0, None)
        with np.errstate(divide="ignore", invalid="ignore"):
            iou = inter / (areas[i] + areas[rest] - inter)
        same = classes[rest] == classes[i] if classes is not None else np.ones(len(rest), bool)
        suppressed[r + 1:] |= same & (iou > iou_thr)
    return np.array(keep, dtype=np.int64)


def rescale_boxes(b, meta):
    b = b.astype(np.float32).copy()
    pl, pt = meta["pads"][0], meta["pads"][1]
    sw, sh = np.float32(meta["scale"][0]), np.float32(meta["scale"][1])
    b[:, [0, 2]] = (b[:, [0, 2]] - np.float32(pl)) / sw
    b[:, [1, 3]] = (b[:, [1, 3]] - np.float32(pt)) / sh
    b[:, [0, 2]] += np.float32(meta["crop"][0])
    b[:, [1, 3]] += np.float32(meta["crop"][1])
    W, H = meta["orig"]
    b[:, [0, 2]] = np.clip(b[:, [0, 2]], 0, W)
    b[:, [1, 3]] = np.clip(b[:, [1, 3]], 0, H)
    return np.round(b)  # numpy rounds half to even, like torch


def _resize_weights(n_in, n_out):
    """torchvision resize(antialias=True), bilinear: triangle filter."""
    scale = n_in / n_out
    support = scale if scale >= 1 else 1.0
    inv = 1 / scale if scale >= 1 else 1.0
    M = np.zeros((n_out, n_in))
    for i in range(n_out):
        c = scale * (i + 0.5)
        lo = max(int(c - support + 0.5), 0)
        hi = min(int(c + support + 0.5), n_in)
        j = np.arange(lo, hi)
        w = np.clip(1 - np.abs((j - c + 0.5) * inv), 0, None)
        M[i, lo:hi] = w / w.sum()
    return M


def _unpad(m, meta, infer_w, infer_h):
    mh, mw = m.shape
    pl, pt, pr, pb = meta["pads"]
    t, b = round(mh / infer_h * pt), round(mh / infer_h * pb)
    l, r = round(mw / infer_w * pl), round(mw / infer_w * pr)
    m = np.pad(m, ((max(-t, 0), max(-b, 0)), (max(-l, 0), max(-r, 0))))
    t, b, l, r = max(t, 0), max(b, 0), max(l, 0), max(r, 0)
    return m[t:m.shape[0] - b, l:m.shape[1] - r]


def _place_mask(m, meta, infer_w, infer_h, thr):
    m = _unpad(m, meta, infer_w, infer_h)
    aw, ah = meta["after"]
    up = _resize_weights(m.shape[0], ah) @ m.astype(np.float64) @ _resize_weights(m.shape[1], aw).T
    W, H = meta["orig"]
    full = np.zeros((H, W), bool)
    x0, y0 = meta["crop"]
    full[y0:y0 + ah, x0:x0 + aw] = up > thr
    return full


def _sigmoid(x):
    return 1 / (1 + np.exp(-x.astype(np.float64)))


NMS_FREE = ("yolov10", "yolo26")


def _yolo_end2end(pkg, out, meta, conf, max_det, res):
    """Outputs that need no NMS, rows [x1, y1, x2, y2, conf, cls, ...] in
    network-input pixels: YOLOv10/YOLO26 heads keep conf > thr and the first
    max_detections rows; packages with NMS fused into the graph keep
    conf >= thr and nothing else.  Rows keep the model's order."""
    rows = out.astype(np.float32)
    cf = rows[:, 4]
    if pkg.fused:
        rows = rows[cf >= np.float32(conf)]
    else:
        rows = rows[cf > np.float32(conf)][:max_det]
    final = rescale_boxes(rows[:, :4], meta) if len(rows) else np.zeros((0, 4))
    for n, r in enumerate(rows):
        res["detections"].append({"box": final[n].tolist(), "confidence": float(r[4]), "class_id": int(r[5]),
                                  "mask": None, "keypoints": None})
    return res


def _yolov5(pkg, rows, meta, conf, iou, max_det, agnostic, res):
    """Original YOLOv5 head, rows [cx, cy, w, h, objectness, class scores...]:
    candidates are the rows whose objectness passes the threshold; each is
    reported with its best class score (not objectness x class score)."""
    rows = rows.astype(np.float32)
    sel = rows[:, 4] > np.float32(conf)
    scores = rows[sel, 5:]
    cls = scores.argmax(1)
    cf = scores.max(1)
    cxcy, wh = rows[sel, :2], rows[sel, 2:4]
    half = wh / np.float32(2)
    xyxy = np.concatenate([cxcy - half, cxcy + half], 1).astype(np.float32)
    keep = nms(xyxy, cf, None if agnostic else cls, iou)[:max_det]
    final = rescale_boxes(xyxy[keep], meta) if len(keep) else np.zeros((0, 4))
    for n, i in enumerate(keep):
        res["detections"].append({"box": final[n].tolist(), "confidence": float(cf[i]), "class_id": int(cls[i]),
                                  "mask": None, "keypoints": None})
    return res


def yolo(pkg, bgr, conf, iou, max_det, agnostic=False, kp_thr=0.0):
    x, meta = preprocess(pkg, bgr)
    outs = pkg.session.run(None, {pkg.session.get_inputs()[0].name: x})
    W, H = meta["orig"]
    res = {"width": W, "height": H, "task": pkg.task, "detections": []}
    if pkg.task in ("classification", "multi-label-classification"):
        logits = outs[0][0].astype(np.float64)
        if pkg.task == "classification":
            p = logits if pkg.fused else np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum()
            res["classes"] = p.tolist()
            res["top"] = int(np.argmax(p))
        else:
            p = logits if pkg.fused else _sigmoid(logits)
            res["classes"] = p.tolist()
            res["predicted"] = [int(i) for i in np.argwhere(p >= conf).ravel()]
        return res
    if pkg.task == "object-detection" and (pkg.fused or pkg.arch in NMS_FREE):
        return _yolo_end2end(pkg, outs[0][0], meta, conf, max_det, res)
    if pkg.arch == "yolov5":
        return _yolov5(pkg, outs[0][0], meta, conf, iou, max_det, agnostic, res)
    out = outs[0][0]
    protos = None
    nm = 0
    if pkg.task == "instance-segmentation":
        protos = [o for o in outs if o.ndim == 4][0][0]
        out = [o for o in outs if o.ndim == 3][0][0]
        nm = protos.shape[0]
    nc = len(pkg.raw_names)
    k = max(pkg.kp.values()) if pkg.kp else 0
    boxes = out[:4].T
    scores = out[4:4 + nc]
    cls = scores.argmax(0)
    cf = scores.max(0)
    sel = cf > conf
    cxcy, wh = boxes[sel, :2], boxes[sel, 2:]
    xyxy = np.concatenate([cxcy - wh / 2, cxcy + wh / 2], 1).astype(np.float32)
    cf, cls = cf[sel], cls[sel]
    anchors = np.nonzero(sel)[0]
    keep = nms(xyxy, cf, None if agnostic else cls, iou)[:max_det]
    final = rescale_boxes(xyxy[keep], meta) if len(keep) else np.zeros((0, 4))
    for n, i in enumerate(keep):
        d = {"box": final[n].tolist(), "confidence": float(cf[i]), "class_id": int(cls[i]), "mask": None,
             "keypoints": None}
        a = anchors[i]
        if protos is not None:
            coef = out[4 + nc:4 + nc + nm, a].astype(np.float64)
            m = _sigmoid(np.einsum("chw,c->hw", protos.astype(np.float64), coef))
            bx = np.round(xyxy[i] * np.float32(0.25))
            rows = np.arange(m.shape[0])[:, None]
            cols = np.arange(m.shape[1])[None, :]
            m = m * ((cols >= bx[0]) & (cols < bx[2]) & (rows >= bx[1]) & (rows < bx[3]))
            d["mask"] = _place_mask(m, meta, meta["infer"][0], meta["infer"][1], 0.5)
        if pkg.task == "keypoint-detection":
            kps = []
            n_cls = pkg.kp.get(int(cls[i]), k) if pkg.kp else k
            for j in range(k):
                kx, ky, kc = out[4 + nc + 3 * j:4 + nc + 3 * j + 3, a]
                if j >= n_cls or kc < kp_thr:
                    kps.append((0.0, 0.0, 0.0))
                    continue
                kx = (np.float32(kx) - np.float32(meta["pads"][0])) / np.float32(meta["scale"][0]) + meta["crop"][0]
                ky = (np.float32(ky) - np.float32(meta["pads"][1])) / np.float32(meta["scale"][1]) + meta["crop"][1]
                kps.append((float(np.round(kx)), float(np.round(ky)), float(kc)))
            d["keypoints"] = kps
        res["detections"].append(d)
    return res


def rfdetr(pkg, bgr, conf, max_det=300):
    x, meta = preprocess_rfdetr(pkg, bgr)
    sess = pkg.session
    names = [o.name for o in sess.get_outputs()]
    outs = dict(zip(names, sess.run(None, {sess.get_inputs()[0].name: x})))
    boxes, logits = outs["dets"][0], outs["labels"][0]
    masks = outs.get("masks")
    Q, C = logits.shape
    p = _sigmoid(logits).astype(np.float32).ravel()
    order = np.argsort(-p, kind="stable")[:Q]
    W, H = meta["orig"]
    res = {"width": W, "height": H, "task": pkg.task, "detections": []}
    if pkg.removed:
        remap, k = {}, 0
        for i, n in enumerate(pkg.raw_names):
            if n not in pkg.removed:
                remap[i] = k
                k += 1
    dw, dh = meta["nonsquare"] or meta["infer"]
    seg = pkg.task == "instance-segmentation"
    for f in order:
        q, col = divmod(int(f), C)
        if pkg.removed:
            if col not in remap:
                continue
            cls = remap[col]
        else:
            if col >= len(pkg.names):
                continue
            cls = col
        if not p[f] > conf:
            continue
        if seg and len(res["detections"]) >= max_det:
            break
        cx, cy, bw, bh = boxes[q].astype(np.float32)
        b = np.array([[(cx - np.float32(0.5) * bw) * dw, (cy - np.float32(0.5) * bh) * dh,
                       (cx + np.float32(0.5) * bw) * dw, (cy + np.float32(0.5) * bh) * dh]], np.float32)
        d = {"box": rescale_boxes(b, meta)[0].tolist(), "confidence": float(p[f]), "class_id": cls,
             "mask": None, "keypoints": None}
        if seg:
            d["mask"] = _place_mask(masks[0][q], meta, dw, dh, 0.0)
        res["detections"].append(d)
    return res


def predict(pkg, path, conf, iou=0.3, max_det=300, agnostic=False):
    bgr = cv2.imread(path, cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION)
    if pkg.arch == "rfdetr":
        return rfdetr(pkg, bgr, conf, max_det)
    return yolo(pkg, bgr, conf, iou, max_det, agnostic)
