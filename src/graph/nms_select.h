/*
 * ONNX NonMaxSuppression's selection, shared by its shape inference (the
 * number of selected boxes is the output's first dim) and its CPU kernel.
 * Per batch and class: candidates above score_threshold (strictly) sorted by
 * score, ties to the lower box index; a candidate is kept unless its IoU with
 * an already kept box exceeds iou_threshold; at most max_per_class kept.
 */
#ifndef CVM_GRAPH_NMS_SELECT_H
#define CVM_GRAPH_NMS_SELECT_H

#include <math.h>
#include <stdint.h>
#include <stdlib.h>

typedef struct cvm_nms_problem {
    const float *boxes;   /* [B, N, 4] */
    const float *scores;  /* [B, C, N] */
    int64_t B, C, N;
    int64_t max_per_class;
    float iou_threshold, score_threshold;
    int has_score_threshold;
    int center_point_box; /* 0: [y1, x1, y2, x2] corners in any order; 1: [xc, yc, w, h] */
} cvm_nms_problem;

typedef struct cvm_nms_cand {
    float score;
    int64_t index;
} cvm_nms_cand;

static inline int cvm_nms_cand_cmp(const void *pa, const void *pb)
{
    const cvm_nms_cand *a = pa, *b = pb;
    /* descending score (NaN last), then ascending index */
    int an = isnan(a->score), bn = isnan(b->score);
    if (an != bn)
        return an - bn;
    if (!an && a->score != b->score)
        return a->score > b->score ? -1 : 1;
    return a->index < b->index ? -1 : a->index > b->index;
}

static inline void cvm_nms_extent(const float *b, int center, float *x0, float *y0, float *x1, float *y1)
{
    if (center) {
        float hw = b[2] / 2, hh = b[3] / 2;
        *x0 = b[0] - hw; *x1 = b[0] + hw;
        *y0 = b[1] - hh; *y1 = b[1] + hh;
    } else {
        *x0 = fminf(b[1], b[3]); *x1 = fmaxf(b[1], b[3]);
        *y0 = fminf(b[0], b[2]); *y1 = fmaxf(b[0], b[2]);
    }
}

static inline int cvm_nms_suppresses(const float *a, const float *b, int center, float thr)
{
    float ax0, ay0, ax1, ay1, bx0, by0, bx1, by1;
    cvm_nms_extent(a, center, &ax0, &ay0, &ax1, &ay1);
    cvm_nms_extent(b, center, &bx0, &by0, &bx1, &by1);
    float ix0 = fmaxf(ax0, bx0), ix1 = fminf(ax1, bx1);
    if (ix1 <= ix0)
        return 0;
    float iy0 = fmaxf(ay0, by0), iy1 = fminf(ay1, by1);
    if (iy1 <= iy0)
        return 0;
    float inter = (ix1 - ix0) * (iy1 - iy0);
    float area_a = (ax1 - ax0) * (ay1 - ay0), area_b = (bx1 - bx0) * (by1 - by0);
    float uni = area_a + area_b - inter;
    if (inter <= 0 || area_a <= 0 || area_b <= 0 || uni <= 0)
        return 0;
    return inter / uni > thr;
}

/* Runs the selection; writes (batch, class, box) triples to out when it is
 * not NULL and returns how many were selected, or -1 when out of memory. */
static inline int64_t cvm_nms_select(const cvm_nms_problem *p, int64_t *out)
{
    if (p->max_per_class <= 0 || p->N == 0)
        return 0;
    cvm_nms_cand *cand = malloc(sizeof *cand * (size_t)p->N);
    int64_t *kept = malloc(sizeof *kept * (size_t)p->N);
    if (!cand || !kept) {
        free(cand);
        free(kept);
        return -1;
    }
    int64_t total = 0;
    for (int64_t b = 0; b < p->B; b++) {
        const float *boxes = p->boxes + b * p->N * 4;
        for (int64_t c = 0; c < p->C; c++) {
            const float *sc = p->scores + (b * p->C + c) * p->N;
            int64_t nc = 0;
            for (int64_t i = 0; i < p->N; i++)
                if (!p->has_score_threshold || sc[i] > p->score_threshold)
                    cand[nc++] = (cvm_nms_cand){sc[i], i};
            qsort(cand, (size_t)nc, sizeof *cand, cvm_nms_cand_cmp);
            int64_t nk = 0;
            for (int64_t i = 0; i < nc && nk < p->max_per_class; i++) {
                const float *box = boxes + cand[i].index * 4;
                int keep = 1;
                for (int64_t k = 0; k < nk && keep; k++)
                    keep = !cvm_nms_suppresses(box, boxes + kept[k] * 4, p->center_point_box, p->iou_threshold);
                if (!keep)
                    continue;
                kept[nk++] = cand[i].index;
                if (out) {
                    out[total * 3] = b;
                    out[total * 3 + 1] = c;
                    out[total * 3 + 2] = cand[i].index;
                }
                total++;
            }
        }
    }
    free(cand);
    free(kept);
    return total;
}

#endif
