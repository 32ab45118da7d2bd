/* The Ultralytics YOLO family (v5, v8, v9, v11, v12; v10 and YOLO26
 * NMS-free; fused-NMS packages): detection, instance segmentation with
 * prototype masks, keypoints and classification (reference §5.3). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/status.h"
#include "base/tensor.h"
#include "models/model.h"
#include "vision/postprocess.h"

static size_t max_keypoints(const cvm_package *p)
{
    size_t k = 0;
    for (size_t i = 0; i < p->n_kp; i++)
        if (p->kp[i].n > k)
            k = p->kp[i].n;
    return k;
}

static const cvm_kp_class *kp_of(const cvm_package *p, int class_id)
{
    for (size_t i = 0; i < p->n_kp; i++)
        if (p->kp[i].class_id == class_id)
            return &p->kp[i];
    return NULL;
}

/* Where things are in the raw output. */
typedef struct layout {
    int rowwise;        /* (1, M, 6+extra) rows [x1,y1,x2,y2,conf,cls,...] */
    int yolov5;         /* (1, N, 5+C) rows [cx,cy,w,h,obj,cls...] */
    int main_out, proto_out;
    int64_t n, stride;  /* candidates; values per candidate */
    int64_t nc;         /* class columns */
    int64_t n_mask;     /* prototype coefficients */
    int64_t n_kp;       /* keypoint slots */
} layout;

static cvm_status find_outputs(const cvm_model *m, const int64_t (*dims)[CVM_MAX_DIMS], const int *ndim,
                               layout *L)
{
    L->main_out = L->proto_out = -1;
    for (size_t i = 0; i < m->n_out; i++) {
        if (ndim[i] == 3 && L->main_out < 0)
            L->main_out = (int)i;
        else if (ndim[i] == 4 && L->proto_out < 0)
            L->proto_out = (int)i;
    }
    if (L->main_out < 0)
        return cvm_errorf(CVM_E_SHAPE, "'%s': no output of rank 3 (expected (1, 4+classes, anchors))",
                          m->pkg->weights);
    if (m->pkg->task == CVM_TASK_INSTANCE_SEGMENTATION && L->proto_out < 0)
        return cvm_errorf(CVM_E_SHAPE, "'%s': instance segmentation needs a prototype output of rank 4",
                          m->pkg->weights);
    (void)dims;
    return CVM_OK;
}

/* Works out the layout from the output shapes (declared or actual). */
static cvm_status make_layout(const cvm_model *m, const int64_t (*dims)[CVM_MAX_DIMS], const int *ndim, layout *L)
{
    memset(L, 0, sizeof *L);
    CVM_TRY(find_outputs(m, dims, ndim, L));
    const int64_t *d = dims[L->main_out];
    const cvm_package *p = m->pkg;
    int64_t nm = 0;
    if (p->task == CVM_TASK_INSTANCE_SEGMENTATION) {
        nm = dims[L->proto_out][1];
        if (nm <= 0 || nm > 4096)
            return cvm_errorf(CVM_E_SHAPE, "prototype output has %lld channels", (long long)nm);
    }
    if (d[0] != 1 && d[0] > 0)
        return cvm_errorf(CVM_E_SHAPE, "output batch is %lld (1 expected)", (long long)d[0]);
    L->rowwise = m->nms_free || p->post_fused;
    L->yolov5 = !strcmp(p->architecture, "yolov5");
    int64_t width;
    if (L->rowwise || L->yolov5) {
        L->n = d[1];
        width = d[2];
    } else {
        L->n = d[2];
        width = d[1];
    }
    L->stride = width;
    L->n_mask = nm;
    int64_t fixed = L->rowwise ? 6 : (L->yolov5 ? 5 : 4);
    int64_t extra_kp = 0;
    if (p->task == CVM_TASK_KEYPOINT_DETECTION) {
        int64_t k = (int64_t)max_keypoints(p);
        if (k == 0) {
            /* Without metadata: one class unless names say otherwise. */
            int64_t nc = p->n_classes ? (int64_t)p->n_classes : 1;
            if (!L->rowwise)
                k = (width - fixed - nc) / 3;
            else
                k = (width - fixed) / 3;
        }
        extra_kp = 3 * k;
        L->n_kp = k;
    }
    L->nc = L->rowwise ? 0 : width - fixed - nm - extra_kp;
    if (width <= 0 || L->n < 0 || (!L->rowwise && L->nc <= 0) || (L->rowwise && width < fixed + nm + extra_kp))
        return cvm_errorf(CVM_E_SHAPE, "output shape [%lld,%lld,%lld] does not fit %s %s (%lld mask coefficients, %lld keypoints)",
                          (long long)d[0], (long long)d[1], (long long)d[2], p->architecture,
                          cvm_task_string(p->task), (long long)nm, (long long)L->n_kp);
    if (!L->rowwise && p->n_classes && (size_t)L->nc != p->n_classes)
        return cvm_errorf(CVM_E_SHAPE, "output shape [%lld,%lld,%lld] has %lld class columns but class_names.txt lists %zu",
                          (long long)d[0], (long long)d[1], (long long)d[2], (long long)L->nc, p->n_classes);
    return CVM_OK;
}

cvm_status cvm_yolo_prepare(cvm_model *m)
{
    const cvm_package *p = m->pkg;
    if (p->task == CVM_TASK_CLASSIFICATION || p->task == CVM_TASK_MULTI_LABEL_CLASSIFICATION) {
        const cvm_value_info *o = &m->out_info[0];
        if (m->n_out < 1 || o->ndim != 2)
            return cvm_errorf(CVM_E_SHAPE, "'%s': classification expects an output (1, classes)", p->weights);
        int64_t c = o->dims[1];
        if (c > 0 && p->n_classes && (size_t)c != p->n_classes)
            return cvm_errorf(CVM_E_SHAPE, "output has %lld classes but class_names.txt lists %zu", (long long)c,
                              p->n_classes);
        if (!p->n_classes && c <= 0)
            return cvm_errorf(CVM_E_INVALID_ARG, "'%s': the class count is symbolic; give a class names file",
                              p->weights);
        return cvm_model_fill_numeric_names(m, (size_t)c);
    }
    int64_t dims[16][CVM_MAX_DIMS];
    int ndim[16];
    size_t n = m->n_out < 16 ? m->n_out : 16;
    for (size_t i = 0; i < n; i++) {
        ndim[i] = m->out_info[i].ndim;
        memcpy(dims[i], m->out_info[i].dims, sizeof dims[i]);
    }
    layout L;
    /* Symbolic dims (-1) are checked again on the real outputs. */
    int symbolic = 0;
    for (size_t i = 0; i < n; i++)
        for (int k = 0; k < ndim[i]; k++)
            symbolic |= dims[i][k] < 0;
    if (symbolic && !p->n_classes)
        return cvm_errorf(CVM_E_INVALID_ARG, "'%s' has symbolic output sizes; give a class names file", p->weights);
    if (symbolic)
        return CVM_OK;
    CVM_TRY(make_layout(m, (const int64_t(*)[CVM_MAX_DIMS])dims, ndim, &L));
    if (L.rowwise && !p->n_classes)
        return cvm_errorf(CVM_E_INVALID_ARG, "'%s': NMS-free outputs do not tell the class count; give a class names file",
                          p->weights);
    return cvm_model_fill_numeric_names(m, (size_t)L.nc);
}

/* ---------------------------------------------------------------- infer */

typedef struct cand {
    size_t n, cap;
    float *xyxy, *score;
    int *cls;
    int64_t *anchor;
} cand;

static void cand_free(cand *c)
{
    free(c->xyxy);
    free(c->score);
    free(c->cls);
    free(c->anchor);
}

static int cand_push(cand *c, float x1, float y1, float x2, float y2, float s, int cls, int64_t a)
{
    if (c->n == c->cap) {
        size_t nc = c->cap ? c->cap * 2 : 256;
        float *xy = realloc(c->xyxy, nc * 4 * sizeof *xy);
        if (!xy)
            return 0;
        c->xyxy = xy;
        float *sc = realloc(c->score, nc * sizeof *sc);
        if (!sc)
            return 0;
        c->score = sc;
        int *cl = realloc(c->cls, nc * sizeof *cl);
        if (!cl)
            return 0;
        c->cls = cl;
        int64_t *an = realloc(c->anchor, nc * sizeof *an);
        if (!an)
            return 0;
        c->anchor = an;
        c->cap = nc;
    }
    float *b = c->xyxy + 4 * c->n;
    b[0] = x1;
    b[1] = y1;
    b[2] = x2;
    b[3] = y2;
    c->score[c->n] = s;
    c->cls[c->n] = cls;
    c->anchor[c->n] = a;
    c->n++;
    return 1;
}

static int class_allowed(const cvm_infer_params *p, int c)
{
    if (!p->classes || !p->n_classes)
        return 1;
    for (size_t i = 0; i < p->n_classes; i++)
        if (p->classes[i] == c)
            return 1;
    return 0;
}

/* Value j of candidate a. */
static inline float at(const float *o, const layout *L, int64_t a, int64_t j)
{
    return (L->rowwise || L->yolov5) ? o[a * L->stride + j] : o[j * L->n + a];
}

static cvm_status classify(cvm_model *m, const cvm_tensor *o, const cvm_infer_params *prm, cvm_result_priv *r)
{
    const cvm_package *p = m->pkg;
    if (o->ndim != 2 || o->dims[0] != 1 || (size_t)o->dims[1] != m->n_names)
        return cvm_errorf(CVM_E_SHAPE, "classification output has shape %lldx%lld for %zu classes",
                          (long long)(o->ndim > 0 ? o->dims[0] : 0), (long long)(o->ndim > 1 ? o->dims[1] : 0),
                          m->n_names);
    size_t n = m->n_names;
    const float *x = o->data;
    cvm_class_score *cs = calloc(n ? n : 1, sizeof *cs);
    if (!cs)
        return cvm_errorf(CVM_E_NOMEM, "out of memory");
    int multi = p->task == CVM_TASK_MULTI_LABEL_CLASSIFICATION;
    if (multi) {
        for (size_t i = 0; i < n; i++)
            cs[i].confidence = p->post_fused ? x[i] : 1.0f / (1.0f + expf(-x[i]));
    } else if (!p->post_fused) {
        float mx = x[0];
        for (size_t i = 1; i < n; i++)
            mx = x[i] > mx ? x[i] : mx;
        double sum = 0;
        for (size_t i = 0; i < n; i++)
            sum += exp((double)x[i] - mx);
        for (size_t i = 0; i < n; i++)
            cs[i].confidence = (float)(exp((double)x[i] - mx) / sum);
    } else {
        for (size_t i = 0; i < n; i++)
            cs[i].confidence = x[i];
    }
    int top = 0;
    for (size_t i = 0; i < n; i++) {
        cs[i].class_id = (int)i;
        cs[i].class_name = r->names[i];
        if (cs[i].confidence > cs[top].confidence)
            top = (int)i;
    }
    r->pub.classes = cs;
    r->pub.n_classes = n;
    r->pub.top_class = top;
    if (multi) {
        float thr = prm->confidence >= 0 ? prm->confidence : m->def_conf;
        r->predicted = malloc((n ? n : 1) * sizeof *r->predicted);
        if (!r->predicted)
            return cvm_errorf(CVM_E_NOMEM, "out of memory");
        size_t k = 0;
        for (size_t i = 0; i < n; i++)
            if (cs[i].confidence >= thr && class_allowed(prm, (int)i))
                r->predicted[k++] = i;
        r->pub.predicted = r->predicted;
        r->pub.n_predicted = k;
    }
    return CVM_OK;
}

static cvm_status masks_for(const layout *L, const float *o, const cvm_tensor *protos,
                            const cvm_preproc_meta *meta, const float *boxes, const int64_t *anchors, size_t n,
                            cvm_detection *dets)
{
    if (protos->ndim != 4 || protos->dims[0] != 1 || protos->dims[1] != L->n_mask)
        return cvm_errorf(CVM_E_SHAPE, "prototype output has the wrong shape");
    int nm = (int)L->n_mask, ph = (int)protos->dims[2], pw = (int)protos->dims[3];
    int oh, ow;
    CVM_TRY(cvm_mask_unpad_size(ph, pw, meta, meta->infer_w, meta->infer_h, &oh, &ow));
    float *map = malloc((size_t)ph * pw * sizeof *map);
    float *un = malloc((size_t)oh * ow * sizeof *un);
    float *coef = malloc((size_t)nm * sizeof *coef);
    cvm_status s = CVM_OK;
    if (!map || !un || !coef)
        s = cvm_errorf(CVM_E_NOMEM, "masks: out of memory");
    int64_t base = L->rowwise ? 6 : 4 + L->nc;
    for (size_t i = 0; i < n && s == CVM_OK; i++) {
        for (int k = 0; k < nm; k++)
            coef[k] = at(o, L, anchors[i], base + k);
        cvm_yolo_proto_mask(protos->data, nm, ph, pw, coef, boxes + 4 * i, map);
        int uh, uw;
        s = cvm_mask_unpad(map, ph, pw, meta, meta->infer_w, meta->infer_h, un, &uh, &uw);
        if (s != CVM_OK)
            break;
        cvm_mask_job job = {un, uw, uh, meta->after_w, meta->after_h, meta->crop_x, meta->crop_y, 0.5f};
        s = cvm_mask_render(&job, &dets[i]);
    }
    free(map);
    free(un);
    free(coef);
    return s;
}

cvm_status cvm_yolo_infer(cvm_model *m, const cvm_image_view *img, const cvm_infer_params *prm, cvm_result_priv *r)
{
    const cvm_package *p = m->pkg;
    cvm_preproc_meta meta;
    cvm_tensor *outs[CVM_MODEL_MAX_OUTPUTS] = {0};
    double pre_ms = 0, infer_ms = 0;
    cvm_status s = cvm_model_forward(m, img, cvm_preprocess, outs, &meta, &pre_ms, &infer_ms);
    if (s != CVM_OK)
        return s;
    double t2 = cvm_now_ms();
    cand c = {0};
    size_t *keep = NULL;
    float *boxes = NULL;
    int64_t *anchors = NULL;
    float *best = NULL; /* per candidate: best class score and class (class-major layout) */
    int *best_cls = NULL;
    if (p->task == CVM_TASK_CLASSIFICATION || p->task == CVM_TASK_MULTI_LABEL_CLASSIFICATION) {
        s = classify(m, outs[0], prm, r);
        goto done;
    }
    int64_t dims[16][CVM_MAX_DIMS];
    int ndim[16];
    for (size_t i = 0; i < m->n_out; i++) {
        ndim[i] = outs[i]->ndim;
        memcpy(dims[i], outs[i]->dims, sizeof dims[i]);
    }
    layout L;
    if ((s = make_layout(m, (const int64_t(*)[CVM_MAX_DIMS])dims, ndim, &L)) != CVM_OK)
        goto done;
    if (!L.rowwise && (size_t)L.nc != m->n_names) {
        s = cvm_errorf(CVM_E_SHAPE, "output has %lld class columns for %zu class names", (long long)L.nc, m->n_names);
        goto done;
    }
    const float *o = outs[L.main_out]->data;
    const float thr = prm->confidence >= 0 ? prm->confidence : m->def_conf;
    const float iou = prm->iou >= 0 ? prm->iou : m->def_iou;
    const int max_det = prm->max_detections > 0 ? prm->max_detections : m->def_max_det;
    const float kp_thr = prm->keypoint_confidence >= 0 ? prm->keypoint_confidence : m->def_kp_conf;
    /* The best class of every candidate, for the class-major layout
     * ([4 + classes, candidates]): found one class row at a time, so that
     * the scores are read in order rather than 80 rows apart per candidate
     * (the first of equal scores wins, as in the per-candidate scan). */
    if (!L.rowwise && !L.yolov5 && L.nc > 0) {
        best = malloc((size_t)L.n * sizeof *best);
        best_cls = malloc((size_t)L.n * sizeof *best_cls);
        if (!best || !best_cls) {
            s = cvm_errorf(CVM_E_NOMEM, "out of memory");
            goto done;
        }
        cvm_best_class(o + 4 * L.n, L.nc, L.n, best, best_cls);
    }
    /* Candidates over the confidence threshold. */
    int ok = 1;
    for (int64_t a = 0; a < L.n && ok; a++) {
        float score;
        int cls = 0;
        float x1, y1, x2, y2;
        if (L.rowwise) {
            score = at(o, &L, a, 4);
            /* Fused NMS keeps >=, NMS-free heads keep > (as the reference). */
            if (p->post_fused ? !(score >= thr) : !(score > thr))
                continue;
            float cf = at(o, &L, a, 5);
            cls = (int)cf;
            if (cls < 0 || (size_t)cls >= m->n_names)
                continue;
            x1 = at(o, &L, a, 0);
            y1 = at(o, &L, a, 1);
            x2 = at(o, &L, a, 2);
            y2 = at(o, &L, a, 3);
        } else {
            int64_t c0 = L.yolov5 ? 5 : 4;
            if (L.yolov5 && !(at(o, &L, a, 4) > thr))
                continue;
            if (best) {
                score = best[a];
                cls = best_cls[a];
            } else {
                score = at(o, &L, a, c0);
                for (int64_t k = 1; k < L.nc; k++) {
                    float v = at(o, &L, a, c0 + k);
                    if (v > score) {
                        score = v;
                        cls = (int)k;
                    }
                }
            }
            if (!L.yolov5 && !(score > thr))
                continue;
            float cx = at(o, &L, a, 0), cy = at(o, &L, a, 1);
            float hw = at(o, &L, a, 2) / 2, hh = at(o, &L, a, 3) / 2;
            x1 = cx - hw;
            y1 = cy - hh;
            x2 = cx + hw;
            y2 = cy + hh;
        }
        if (!class_allowed(prm, cls))
            continue;
        ok = cand_push(&c, x1, y1, x2, y2, score, cls, a);
    }
    if (!ok) {
        s = cvm_errorf(CVM_E_NOMEM, "out of memory");
        goto done;
    }
    size_t nk = 0;
    keep = malloc((c.n ? c.n : 1) * sizeof *keep);
    if (!keep) {
        s = cvm_errorf(CVM_E_NOMEM, "out of memory");
        goto done;
    }
    if (L.rowwise) {
        /* NMS-free heads keep the first max_detections rows; a graph with NMS
         * fused in has applied its own limit, and the reference filters its
         * rows by confidence only. */
        size_t limit = p->post_fused ? c.n : (size_t)max_det;
        for (size_t i = 0; i < c.n && nk < limit; i++)
            keep[nk++] = i;
    } else {
        int agnostic = prm->class_agnostic;
        nk = cvm_nms(c.xyxy, c.score, agnostic ? NULL : c.cls, c.n, iou, (size_t)max_det, keep, NULL);
        if (nk == (size_t)-1) {
            s = cvm_errorf(CVM_E_NOMEM, "NMS: out of memory");
            goto done;
        }
    }
    r->pub.dets = calloc(nk ? nk : 1, sizeof *r->pub.dets);
    boxes = malloc((nk ? nk : 1) * 4 * sizeof *boxes);
    anchors = malloc((nk ? nk : 1) * sizeof *anchors);
    if (!r->pub.dets || !boxes || !anchors) {
        s = cvm_errorf(CVM_E_NOMEM, "out of memory");
        goto done;
    }
    r->pub.n = nk;
    for (size_t i = 0; i < nk; i++) {
        size_t k = keep[i];
        cvm_detection *d = &r->pub.dets[i];
        float b[4];
        memcpy(b, c.xyxy + 4 * k, sizeof b);
        memcpy(boxes + 4 * i, b, sizeof b);
        anchors[i] = c.anchor[k];
        cvm_rescale_box(&meta, b);
        d->x1 = cvm_round_half_even(b[0]);
        d->y1 = cvm_round_half_even(b[1]);
        d->x2 = cvm_round_half_even(b[2]);
        d->y2 = cvm_round_half_even(b[3]);
        d->confidence = c.score[k];
        d->class_id = c.cls[k];
        d->class_name = r->names[d->class_id];
        if (p->task == CVM_TASK_KEYPOINT_DETECTION && L.n_kp > 0) {
            d->keypoints = calloc((size_t)L.n_kp, sizeof *d->keypoints);
            if (!d->keypoints) {
                s = cvm_errorf(CVM_E_NOMEM, "out of memory");
                goto done;
            }
            d->n_keypoints = (size_t)L.n_kp;
            const cvm_kp_class *kc = kp_of(p, d->class_id);
            size_t nkc;
            const char *const *kn = cvm_result_kp_names(&r->pub, d->class_id, &nkc);
            int64_t base = L.rowwise ? 6 + L.n_mask : 4 + L.nc + L.n_mask;
            for (int64_t j = 0; j < L.n_kp; j++) {
                cvm_keypoint *kp = &d->keypoints[j];
                kp->name = kn && (size_t)j < nkc ? kn[j] : NULL;
                float x = at(o, &L, c.anchor[k], base + 3 * j), y = at(o, &L, c.anchor[k], base + 3 * j + 1);
                float cf = at(o, &L, c.anchor[k], base + 3 * j + 2);
                if ((kc && (size_t)j >= kc->n) || cf < kp_thr)
                    continue;
                cvm_rescale_point(&meta, &x, &y);
                kp->x = cvm_round_half_even(x);
                kp->y = cvm_round_half_even(y);
                kp->confidence = cf;
            }
        }
    }
    if (p->task == CVM_TASK_INSTANCE_SEGMENTATION)
        s = masks_for(&L, o, outs[L.proto_out], &meta, boxes, anchors, nk, r->pub.dets);
done:
    cand_free(&c);
    free(best);
    free(best_cls);
    free(keep);
    free(boxes);
    free(anchors);
    for (size_t i = 0; i < m->n_out; i++)
        cvm_tensor_free(outs[i]);
    double t3 = cvm_now_ms();
    r->pub.times.preprocess_ms = pre_ms;
    r->pub.times.inference_ms = infer_ms;
    r->pub.times.postprocess_ms = t3 - t2;
    return s;
}
