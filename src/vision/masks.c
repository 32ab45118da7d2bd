#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/status.h"
#include "vision/postprocess.h"

/* ------------------------------------------------------------- unpadding */

typedef struct unpad_plan {
    int add_t, add_b, add_l, add_r;  /* zero rows/cols added (negative pads) */
    int cut_t, cut_b, cut_l, cut_r;  /* rows/cols removed after that */
    int oh, ow;
} unpad_plan;

static cvm_status plan_unpad(int mh, int mw, const cvm_preproc_meta *m, int infer_w, int infer_h,
                             unpad_plan *p)
{
    if (infer_w <= 0 || infer_h <= 0 || mh <= 0 || mw <= 0)
        return cvm_errorf(CVM_E_SHAPE, "mask %dx%d for a %dx%d input is not usable", mw, mh, infer_w, infer_h);
    double sh = (double)mh / infer_h, sw = (double)mw / infer_w;
    /* Python's round() on the scaled pads: half to even. */
    int t = (int)nearbyint(sh * m->pad_top), b = (int)nearbyint(sh * m->pad_bottom);
    int l = (int)nearbyint(sw * m->pad_left), r = (int)nearbyint(sw * m->pad_right);
    memset(p, 0, sizeof *p);
    p->add_t = t < 0 ? -t : 0;
    p->add_b = b < 0 ? -b : 0;
    p->add_l = l < 0 ? -l : 0;
    p->add_r = r < 0 ? -r : 0;
    p->cut_t = t > 0 ? t : 0;
    p->cut_b = b > 0 ? b : 0;
    p->cut_l = l > 0 ? l : 0;
    p->cut_r = r > 0 ? r : 0;
    long oh = (long)mh + p->add_t + p->add_b - p->cut_t - p->cut_b;
    long ow = (long)mw + p->add_l + p->add_r - p->cut_l - p->cut_r;
    if (oh <= 0 || ow <= 0)
        return cvm_errorf(CVM_E_SHAPE, "letterbox padding (%d,%d,%d,%d) leaves nothing of a %dx%d mask",
                          m->pad_left, m->pad_top, m->pad_right, m->pad_bottom, mw, mh);
    p->oh = (int)oh;
    p->ow = (int)ow;
    return CVM_OK;
}

cvm_status cvm_mask_unpad_size(int mh, int mw, const cvm_preproc_meta *meta, int infer_w, int infer_h,
                               int *oh, int *ow)
{
    unpad_plan p;
    CVM_TRY(plan_unpad(mh, mw, meta, infer_w, infer_h, &p));
    *oh = p.oh;
    *ow = p.ow;
    return CVM_OK;
}

cvm_status cvm_mask_unpad(const float *m, int mh, int mw, const cvm_preproc_meta *meta, int infer_w,
                          int infer_h, float *out, int *oh, int *ow)
{
    unpad_plan p;
    CVM_TRY(plan_unpad(mh, mw, meta, infer_w, infer_h, &p));
    /* Row y of the output is row (y + cut_t) of the zero-extended map, i.e.
     * source row y + cut_t - add_t when that is inside. */
    for (int y = 0; y < p.oh; y++) {
        int sy = y + p.cut_t - p.add_t;
        float *o = out + (size_t)y * p.ow;
        if (sy < 0 || sy >= mh) {
            memset(o, 0, (size_t)p.ow * sizeof *o);
            continue;
        }
        for (int x = 0; x < p.ow; x++) {
            int sx = x + p.cut_l - p.add_l;
            o[x] = (sx < 0 || sx >= mw) ? 0.0f : m[(size_t)sy * mw + sx];
        }
    }
    *oh = p.oh;
    *ow = p.ow;
    return CVM_OK;
}

/* ---------------------------------------------------------- proto masks */

void cvm_yolo_proto_mask(const float *protos, int nm, int ph, int pw, const float *coeffs, const float box[4],
                         float *out)
{
    memset(out, 0, (size_t)ph * pw * sizeof *out);
    /* Box in proto space: x 0.25, rounded half to even (torch.round). */
    float x1 = nearbyintf(box[0] * 0.25f), y1 = nearbyintf(box[1] * 0.25f);
    float x2 = nearbyintf(box[2] * 0.25f), y2 = nearbyintf(box[3] * 0.25f);
    int c0 = x1 <= 0 ? 0 : (x1 >= pw ? pw : (int)ceilf(x1));
    int c1 = x2 <= 0 ? 0 : (x2 >= pw ? pw : (int)ceilf(x2));
    int r0 = y1 <= 0 ? 0 : (y1 >= ph ? ph : (int)ceilf(y1));
    int r1 = y2 <= 0 ? 0 : (y2 >= ph ? ph : (int)ceilf(y2));
    size_t plane = (size_t)ph * pw;
    for (int y = r0; y < r1; y++) {
        for (int x = c0; x < c1; x++) {
            size_t o = (size_t)y * pw + x;
            float acc = 0;
            for (int k = 0; k < nm; k++)
                acc += coeffs[k] * protos[k * plane + o];
            out[o] = 1.0f / (1.0f + expf(-acc));
        }
    }
}

/* --------------------------------------------------------- mask resize */

/* Per-axis resampling taps as torchvision's resize(antialias=True) with the
 * bilinear (triangle) filter: plain half-pixel bilinear when enlarging,
 * a widened triangle when shrinking. */
typedef struct axis_taps {
    int *start, *count;
    float *w;
    int max_taps;
} axis_taps;

static void taps_free(axis_taps *a)
{
    free(a->start);
    free(a->count);
    free(a->w);
}

static cvm_status taps_make(int in, int out, axis_taps *a)
{
    memset(a, 0, sizeof *a);
    double scale = (double)in / out;
    double support = scale >= 1.0 ? scale : 1.0;
    double inv = scale >= 1.0 ? 1.0 / scale : 1.0;
    int max_taps = (int)ceil(support) * 2 + 1;
    a->start = malloc((size_t)out * sizeof *a->start);
    a->count = malloc((size_t)out * sizeof *a->count);
    a->w = malloc((size_t)out * max_taps * sizeof *a->w);
    if (!a->start || !a->count || !a->w) {
        taps_free(a);
        return cvm_errorf(CVM_E_NOMEM, "mask resize: out of memory");
    }
    a->max_taps = max_taps;
    for (int i = 0; i < out; i++) {
        double center = scale * (i + 0.5);
        long lo = (long)(center - support + 0.5);
        if (lo < 0)
            lo = 0;
        long hi = (long)(center + support + 0.5);
        if (hi > in)
            hi = in;
        int n = (int)(hi - lo);
        if (n > max_taps)
            n = max_taps;
        if (n < 1) {
            /* Cannot happen for in, out >= 1; keep one tap to stay safe. */
            lo = lo >= in ? in - 1 : lo;
            n = 1;
        }
        double total = 0, ws[256];
        double *wv = n <= 256 ? ws : NULL;
        float *dst = a->w + (size_t)i * max_taps;
        for (int j = 0; j < n; j++) {
            double x = ((double)j + lo - center + 0.5) * inv;
            double f = fabs(x) < 1.0 ? 1.0 - fabs(x) : 0.0;
            if (wv)
                wv[j] = f;
            dst[j] = (float)f;
            total += f;
        }
        for (int j = 0; j < n; j++)
            dst[j] = total != 0 ? (float)((wv ? wv[j] : dst[j]) / total) : 0.0f;
        a->start[i] = (int)lo;
        a->count[i] = n;
    }
    return CVM_OK;
}

/* First and last output index whose taps reach [s0, s1]; returns 0 if none. */
static int taps_range(const axis_taps *a, int out, int s0, int s1, int *o0, int *o1)
{
    int first = -1, last = -1;
    for (int i = 0; i < out; i++) {
        int lo = a->start[i], hi = a->start[i] + a->count[i] - 1;
        if (hi >= s0 && lo <= s1) {
            if (first < 0)
                first = i;
            last = i;
        }
    }
    *o0 = first;
    *o1 = last;
    return first >= 0;
}

cvm_status cvm_mask_render(const cvm_mask_job *job, cvm_detection *det)
{
    det->mask = NULL;
    det->mask_x = det->mask_y = det->mask_w = det->mask_h = 0;
    const int sw = job->map_w, sh = job->map_h, W = job->out_w, H = job->out_h;
    if (sw <= 0 || sh <= 0 || W <= 0 || H <= 0)
        return cvm_errorf(CVM_E_SHAPE, "mask %dx%d -> %dx%d is not usable", sw, sh, W, H);
    const float thr = job->threshold;
    /* A convex combination exceeds thr only if one of its inputs does, so the
     * set pixels' bounding box in the map bounds the work. */
    int sx0 = sw, sx1 = -1, sy0 = sh, sy1 = -1;
    for (int y = 0; y < sh; y++) {
        const float *row = job->map + (size_t)y * sw;
        for (int x = 0; x < sw; x++)
            if (row[x] > thr) {
                if (x < sx0)
                    sx0 = x;
                if (x > sx1)
                    sx1 = x;
                if (y < sy0)
                    sy0 = y;
                sy1 = y;
            }
    }
    if (sx1 < 0)
        return CVM_OK;
    axis_taps ax, ay;
    CVM_TRY(taps_make(sw, W, &ax));
    cvm_status s = taps_make(sh, H, &ay);
    if (s != CVM_OK) {
        taps_free(&ax);
        return s;
    }
    int ox0, ox1, oy0, oy1;
    float *tmp = NULL;
    uint8_t *full = NULL;
    if (!taps_range(&ax, W, sx0, sx1, &ox0, &ox1) || !taps_range(&ay, H, sy0, sy1, &oy0, &oy1))
        goto out;
    int rw = ox1 - ox0 + 1, rh = oy1 - oy0 + 1;
    int row0 = ay.start[oy0], row1 = ay.start[oy1] + ay.count[oy1];  /* source rows needed */
    for (int y = oy0; y <= oy1; y++) {
        if (ay.start[y] < row0)
            row0 = ay.start[y];
        if (ay.start[y] + ay.count[y] > row1)
            row1 = ay.start[y] + ay.count[y];
    }
    int nrows = row1 - row0;
    tmp = malloc((size_t)nrows * rw * sizeof *tmp);
    full = calloc((size_t)rw * rh, 1);
    if (!tmp || !full) {
        s = cvm_errorf(CVM_E_NOMEM, "mask %dx%d: out of memory", rw, rh);
        goto out;
    }
    /* Horizontal pass over the needed rows, then vertical. */
    for (int r = 0; r < nrows; r++) {
        const float *src = job->map + (size_t)(row0 + r) * sw;
        float *dst = tmp + (size_t)r * rw;
        for (int x = ox0; x <= ox1; x++) {
            const float *w = ax.w + (size_t)x * ax.max_taps;
            const float *p = src + ax.start[x];
            float acc = 0;
            for (int k = 0; k < ax.count[x]; k++)
                acc += w[k] * p[k];
            dst[x - ox0] = acc;
        }
    }
    int bx0 = rw, bx1 = -1, by0 = rh, by1 = -1;
    for (int y = oy0; y <= oy1; y++) {
        const float *w = ay.w + (size_t)y * ay.max_taps;
        int base = ay.start[y] - row0;
        uint8_t *o = full + (size_t)(y - oy0) * rw;
        for (int x = 0; x < rw; x++) {
            float acc = 0;
            for (int k = 0; k < ay.count[y]; k++)
                acc += w[k] * tmp[(size_t)(base + k) * rw + x];
            if (acc > thr) {
                o[x] = 1;
                if (x < bx0)
                    bx0 = x;
                if (x > bx1)
                    bx1 = x;
                if (y - oy0 < by0)
                    by0 = y - oy0;
                by1 = y - oy0;
            }
        }
    }
    if (bx1 < 0)
        goto out;
    int mw = bx1 - bx0 + 1, mh = by1 - by0 + 1;
    uint8_t *m = malloc((size_t)mw * mh);
    if (!m) {
        s = cvm_errorf(CVM_E_NOMEM, "mask %dx%d: out of memory", mw, mh);
        goto out;
    }
    for (int y = 0; y < mh; y++)
        memcpy(m + (size_t)y * mw, full + (size_t)(y + by0) * rw + bx0, (size_t)mw);
    det->mask = m;
    det->mask_w = mw;
    det->mask_h = mh;
    det->mask_x = job->off_x + ox0 + bx0;
    det->mask_y = job->off_y + oy0 + by0;
out:
    free(tmp);
    free(full);
    taps_free(&ax);
    taps_free(&ay);
    return s;
}
