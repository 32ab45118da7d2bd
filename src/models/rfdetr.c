/* RF-DETR detection and segmentation (reference §5.4): sigmoid scores, flat
 * top-k over queries x classes, class remapping, no NMS. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/status.h"
#include "models/model.h"
#include "vision/postprocess.h"

typedef struct outs_idx {
    int boxes, logits, masks;
} outs_idx;

/* By name when the export uses the usual ones, else by shape. */
static cvm_status pick_outputs(const cvm_model *m, const int *ndim, const int64_t (*dims)[CVM_MAX_DIMS],
                               outs_idx *ix)
{
    ix->boxes = ix->logits = ix->masks = -1;
    for (size_t i = 0; i < m->n_out; i++) {
        const char *n = m->out_names[i];
        if (!strcmp(n, "dets") || !strcmp(n, "pred_boxes") || !strcmp(n, "boxes"))
            ix->boxes = (int)i;
        else if (!strcmp(n, "labels") || !strcmp(n, "pred_logits") || !strcmp(n, "logits"))
            ix->logits = (int)i;
        else if (!strcmp(n, "masks") || !strcmp(n, "pred_masks"))
            ix->masks = (int)i;
    }
    for (size_t i = 0; i < m->n_out; i++) {
        if ((int)i == ix->boxes || (int)i == ix->logits || (int)i == ix->masks)
            continue;
        if (ndim[i] == 4 && ix->masks < 0)
            ix->masks = (int)i;
        else if (ndim[i] == 3 && dims[i][2] == 4 && ix->boxes < 0)
            ix->boxes = (int)i;
        else if (ndim[i] == 3 && ix->logits < 0)
            ix->logits = (int)i;
    }
    if (ix->boxes < 0 || ix->logits < 0)
        return cvm_errorf(CVM_E_SHAPE, "'%s': RF-DETR needs box (1,Q,4) and logit (1,Q,C) outputs",
                          m->pkg->weights);
    if (m->pkg->task == CVM_TASK_INSTANCE_SEGMENTATION && ix->masks < 0)
        return cvm_errorf(CVM_E_SHAPE, "'%s': RF-DETR segmentation needs a mask output (1,Q,H,W)", m->pkg->weights);
    return CVM_OK;
}

static int class_allowed_rf(const cvm_infer_params *p, int c)
{
    if (!p->classes || !p->n_classes)
        return 1;
    for (size_t i = 0; i < p->n_classes; i++)
        if (p->classes[i] == c)
            return 1;
    return 0;
}

cvm_status cvm_rfdetr_prepare(cvm_model *m)
{
    int ndim[16];
    int64_t dims[16][CVM_MAX_DIMS];
    size_t n = m->n_out < 16 ? m->n_out : 16;
    for (size_t i = 0; i < n; i++) {
        ndim[i] = m->out_info[i].ndim;
        memcpy(dims[i], m->out_info[i].dims, sizeof dims[i]);
    }
    outs_idx ix;
    CVM_TRY(pick_outputs(m, ndim, (const int64_t(*)[CVM_MAX_DIMS])dims, &ix));
    if (!m->pkg->n_classes) {
        /* A bare file: every logit column but the last (no-object) names a class. */
        int64_t c = dims[ix.logits][2];
        if (c <= 1)
            return cvm_errorf(CVM_E_INVALID_ARG, "'%s': give a class names file", m->pkg->weights);
        return cvm_model_fill_numeric_names(m, (size_t)(c - 1));
    }
    return CVM_OK;
}

cvm_status cvm_rfdetr_infer(cvm_model *m, const cvm_image_view *img, const cvm_infer_params *prm,
                            cvm_result_priv *r)
{
    const cvm_package *p = m->pkg;
    cvm_preproc_meta meta;
    cvm_tensor *outs[CVM_MODEL_MAX_OUTPUTS] = {0};
    double pre_ms = 0, infer_ms = 0;
    cvm_status s = cvm_model_forward(m, img, cvm_preprocess_rfdetr, outs, &meta, &pre_ms, &infer_ms);
    if (s != CVM_OK)
        return s;
    double t2 = cvm_now_ms();
    size_t *order = NULL, *sel = NULL;
    float *prob = NULL, *unpad = NULL;
    int ndim[16];
    int64_t dims[16][CVM_MAX_DIMS];
    for (size_t i = 0; i < m->n_out; i++) {
        ndim[i] = outs[i]->ndim;
        memcpy(dims[i], outs[i]->dims, sizeof dims[i]);
    }
    outs_idx ix;
    if ((s = pick_outputs(m, ndim, (const int64_t(*)[CVM_MAX_DIMS])dims, &ix)) != CVM_OK)
        goto done;
    const cvm_tensor *tb = outs[ix.boxes], *tl = outs[ix.logits], *tm = ix.masks >= 0 ? outs[ix.masks] : NULL;
    if (tb->ndim != 3 || tl->ndim != 3 || tb->dims[0] != 1 || tl->dims[0] != 1 || tb->dims[2] != 4 ||
        tb->dims[1] != tl->dims[1]) {
        s = cvm_errorf(CVM_E_SHAPE, "RF-DETR outputs: boxes and logits do not fit (1,Q,4) and (1,Q,C)");
        goto done;
    }
    int64_t Q = tl->dims[1], C = tl->dims[2];
    int seg = p->task == CVM_TASK_INSTANCE_SEGMENTATION;
    if (seg && (!tm || tm->ndim != 4 || tm->dims[0] != 1 || tm->dims[1] != Q)) {
        s = cvm_errorf(CVM_E_SHAPE, "RF-DETR mask output does not fit (1,%lld,H,W)", (long long)Q);
        goto done;
    }
    size_t QC = (size_t)(Q * C);
    prob = malloc((QC ? QC : 1) * sizeof *prob);
    order = malloc((QC ? QC : 1) * sizeof *order);
    sel = malloc(((size_t)Q ? (size_t)Q : 1) * sizeof *sel);
    if (!prob || !order || !sel) {
        s = cvm_errorf(CVM_E_NOMEM, "out of memory");
        goto done;
    }
    const float *lg = tl->data;
    const float thr = prm->confidence >= 0 ? prm->confidence : m->def_conf;
    /* Flat top-k (k = queries) over sigmoid(queries x classes), then the
     * confidence test.  Only scores over the threshold can survive it, and
     * everything ranked above such a score is over it too, so sorting just
     * those gives the same entries in the same order as sorting all Q x C
     * (27300 for 300 queries of 91 columns: 2 ms, most of post-processing). */
    size_t over = 0;
    for (size_t i = 0; i < QC; i++) {
        prob[i] = 1.0f / (1.0f + expf(-lg[i]));
        if (prob[i] > thr)
            order[over++] = i;
    }
    cvm_sort_by_score(order, over, prob);
    size_t max_det = seg ? (size_t)(prm->max_detections > 0 ? prm->max_detections : m->def_max_det) : (size_t)-1;
    size_t n = 0;
    for (size_t i = 0; i < (size_t)Q && i < over && n < max_det; i++) {
        size_t f = order[i];
        int col = (int)(f % (size_t)C);
        int cls;
        if (p->n_removed)
            cls = (size_t)col < m->n_col_class ? m->col_class[col] : -1;
        else
            cls = (size_t)col < m->n_names ? col : -1; /* no-object column */
        if (cls < 0 || !(prob[f] > thr) || !class_allowed_rf(prm, cls))
            continue;
        sel[n++] = f;
    }
    r->pub.dets = calloc(n ? n : 1, sizeof *r->pub.dets);
    if (!r->pub.dets) {
        s = cvm_errorf(CVM_E_NOMEM, "out of memory");
        goto done;
    }
    r->pub.n = n;
    int dw = meta.nonsquare_w ? meta.nonsquare_w : meta.infer_w;
    int dh = meta.nonsquare_w ? meta.nonsquare_h : meta.infer_h;
    int mh = seg ? (int)tm->dims[2] : 0, mw = seg ? (int)tm->dims[3] : 0;
    int uh = 0, uw = 0;
    if (seg) {
        if ((s = cvm_mask_unpad_size(mh, mw, &meta, dw, dh, &uh, &uw)) != CVM_OK)
            goto done;
        if (!(unpad = malloc((size_t)uh * uw * sizeof *unpad))) {
            s = cvm_errorf(CVM_E_NOMEM, "out of memory");
            goto done;
        }
    }
    const float *bx = tb->data;
    for (size_t i = 0; i < n; i++) {
        size_t f = sel[i], q = f / (size_t)C;
        int col = (int)(f % (size_t)C);
        cvm_detection *d = &r->pub.dets[i];
        const float *b = bx + 4 * q;
        float hw = 0.5f * b[2], hh = 0.5f * b[3];
        float box[4] = {(b[0] - hw) * (float)dw, (b[1] - hh) * (float)dh, (b[0] + hw) * (float)dw,
                        (b[1] + hh) * (float)dh};
        cvm_rescale_box(&meta, box);
        d->x1 = cvm_round_half_even(box[0]);
        d->y1 = cvm_round_half_even(box[1]);
        d->x2 = cvm_round_half_even(box[2]);
        d->y2 = cvm_round_half_even(box[3]);
        d->confidence = prob[f];
        d->class_id = p->n_removed ? m->col_class[col] : col;
        d->class_name = r->names[d->class_id];
        if (seg) {
            const float *mq = (const float *)tm->data + q * (size_t)mh * mw;
            int oh, ow;
            if ((s = cvm_mask_unpad(mq, mh, mw, &meta, dw, dh, unpad, &oh, &ow)) != CVM_OK)
                goto done;
            cvm_mask_job job = {unpad, ow, oh, meta.after_w, meta.after_h, meta.crop_x, meta.crop_y, 0.0f};
            if ((s = cvm_mask_render(&job, d)) != CVM_OK)
                goto done;
        }
    }
done:
    free(prob);
    free(order);
    free(sel);
    free(unpad);
    for (size_t i = 0; i < m->n_out; i++)
        cvm_tensor_free(outs[i]);
    double t3 = cvm_now_ms();
    r->pub.times.preprocess_ms = pre_ms;
    r->pub.times.inference_ms = infer_ms;
    r->pub.times.postprocess_ms = t3 - t2;
    return s;
}
