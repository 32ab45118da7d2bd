#include <stdlib.h>

#include "vision/postprocess.h"

/* Merge sort keeps equal scores in input order without relying on qsort's
 * unspecified tie handling (torchvision sorts stably). */
static void merge_pass(size_t *a, size_t *tmp, size_t n, const float *s)
{
    for (size_t width = 1; width < n; width *= 2) {
        for (size_t lo = 0; lo < n; lo += 2 * width) {
            size_t mid = lo + width < n ? lo + width : n;
            size_t hi = lo + 2 * width < n ? lo + 2 * width : n;
            size_t i = lo, j = mid, k = lo;
            while (i < mid && j < hi)
                tmp[k++] = (s[a[j]] > s[a[i]]) ? a[j++] : a[i++];
            while (i < mid)
                tmp[k++] = a[i++];
            while (j < hi)
                tmp[k++] = a[j++];
        }
        for (size_t i = 0; i < n; i++)
            a[i] = tmp[i];
    }
}

static int sort_with(size_t *idx, size_t n, const float *scores, size_t *tmp)
{
    if (n < 2)
        return 1;
    size_t *t = tmp ? tmp : malloc(n * sizeof *t);
    if (!t)
        return 0;
    merge_pass(idx, t, n, scores);
    if (!tmp)
        free(t);
    return 1;
}

void cvm_sort_by_score(size_t *idx, size_t n, const float *scores)
{
    if (!sort_with(idx, n, scores, NULL)) {
        /* Out of memory: insertion sort needs none (and stays stable). */
        for (size_t i = 1; i < n; i++) {
            size_t v = idx[i], j = i;
            while (j > 0 && scores[idx[j - 1]] < scores[v]) {
                idx[j] = idx[j - 1];
                j--;
            }
            idx[j] = v;
        }
    }
}

size_t cvm_nms(const float *xyxy, const float *scores, const int *classes, size_t n, float iou_thr,
               size_t max_keep, size_t *keep, size_t *scratch)
{
    if (n == 0 || max_keep == 0)
        return 0;
    size_t *own = NULL;
    if (!scratch) {
        if (n > SIZE_MAX / (2 * sizeof(size_t)))
            return (size_t)-1;
        own = malloc(2 * n * sizeof *own);
        if (!own)
            return (size_t)-1;
        scratch = own;
    }
    size_t *order = scratch, *tmp = scratch + n;
    for (size_t i = 0; i < n; i++)
        order[i] = i;
    sort_with(order, n, scores, tmp);
    /* tmp now doubles as the suppressed flags, indexed by rank. */
    for (size_t i = 0; i < n; i++)
        tmp[i] = 0;
    size_t nk = 0;
    for (size_t r = 0; r < n && nk < max_keep; r++) {
        if (tmp[r])
            continue;
        size_t i = order[r];
        keep[nk++] = i;
        const float *a = xyxy + 4 * i;
        float area_a = (a[2] - a[0]) * (a[3] - a[1]);
        for (size_t q = r + 1; q < n; q++) {
            if (tmp[q])
                continue;
            size_t j = order[q];
            if (classes && classes[j] != classes[i])
                continue;
            const float *b = xyxy + 4 * j;
            float xx1 = a[0] > b[0] ? a[0] : b[0];
            float yy1 = a[1] > b[1] ? a[1] : b[1];
            float xx2 = a[2] < b[2] ? a[2] : b[2];
            float yy2 = a[3] < b[3] ? a[3] : b[3];
            float w = xx2 - xx1, h = yy2 - yy1;
            if (w < 0)
                w = 0;
            if (h < 0)
                h = 0;
            float inter = w * h;
            float area_b = (b[2] - b[0]) * (b[3] - b[1]);
            float iou = inter / (area_a + area_b - inter);
            if (iou > iou_thr)
                tmp[q] = 1;
        }
    }
    free(own);
    return nk;
}
