/*
 * Bilinear resizers that reproduce two reference libraries to the bit.
 *
 * OpenCV (cv2.resize INTER_LINEAR, 8-bit): separable fixed point.  Per
 * destination column the source position fx = (dx + 0.5) * scale - 0.5 is
 * computed in double, rounded to float, split into floor and fraction, and
 * the two weights (1 - f, f) are scaled by 2048 and rounded to int16.  Source
 * rows are filtered horizontally into int32 (value * 2048), then pairs of
 * rows are blended with the vertical weights.  That last step has two
 * arithmetic forms in OpenCV: the SIMD loop drops 4 bits before a 16-bit
 * high multiply and rounds by 2 bits, the scalar tail rounds the exact
 * 22-bit product.  OpenCV 5 (checked against cv2 5.0 with resize_parity.py)
 * gives the SIMD form for every element, tails included, which is the
 * default here; OpenCV 4.x's split (vector prefix, exact scalar tail) is kept
 * as an option.  An exact 2x downscale takes OpenCV's INTER_AREA shortcut
 * (rounded 2x2 mean).
 *
 * Pillow (Image.resize BILINEAR): a triangle filter whose support widens
 * with the downscale factor (antialiasing), coefficients normalised in
 * double and rounded to 22-bit fixed point, two passes with the
 * intermediate rounded to uint8 (horizontal first unless the height shrinks
 * much more than the width, as Pillow 13 decides).  RGBA is premultiplied
 * around the resize, as Pillow converts RGBA to RGBa first.
 */
#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/status.h"
#include "image/resize_internal.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#if defined(__clang__)
/* The coefficient arithmetic must round exactly as written. */
#pragma STDC FP_CONTRACT OFF
#endif

static cvm_status check_views(const cvm_image_view *src, const cvm_image_view *dst, const char *fn)
{
    if (!src || !dst || !src->pixels || !dst->pixels)
        return cvm_errorf(CVM_E_INVALID_ARG, "%s: NULL image", fn);
    if (src->channels != dst->channels || src->channels < 1 || src->channels > 4)
        return cvm_errorf(CVM_E_INVALID_ARG, "%s: channel counts differ or are invalid (%d -> %d)", fn,
                          src->channels, dst->channels);
    if (src->format != dst->format)
        return cvm_errorf(CVM_E_INVALID_ARG, "%s: pixel formats differ (%d -> %d)", fn, (int)src->format,
                          (int)dst->format);
    if (src->width < 1 || src->height < 1 || dst->width < 1 || dst->height < 1)
        return cvm_errorf(CVM_E_INVALID_ARG, "%s: empty image (%dx%d -> %dx%d)", fn, src->width, src->height,
                          dst->width, dst->height);
    size_t cn = (size_t)src->channels;
    if (src->stride < (size_t)src->width * cn || dst->stride < (size_t)dst->width * cn)
        return cvm_errorf(CVM_E_INVALID_ARG, "%s: stride below width*channels", fn);
    return CVM_OK;
}

static void copy_rows(const cvm_image_view *src, cvm_image_view *dst)
{
    size_t row = (size_t)src->width * (size_t)src->channels;
    for (int y = 0; y < src->height; y++)
        memmove(dst->pixels + (size_t)y * dst->stride, src->pixels + (size_t)y * src->stride, row);
}

/* ================================================================ OpenCV */

#define CV_COEF_BITS 11
#define CV_COEF_SCALE (1 << CV_COEF_BITS)

static short cv_round_coef(float v)
{
    /* saturate_cast<short>(float): round half to even, then clamp. */
    long r = lrintf(v);
    return (short)(r < SHRT_MIN ? SHRT_MIN : r > SHRT_MAX ? SHRT_MAX : r);
}

static inline int floor_to_int(float v)
{
    int i = (int)v;
    return i - (i > v);
}

/* 2x2 rounded mean: OpenCV's INTER_AREA fast path, taken for INTER_LINEAR
 * when both scale factors are exactly 2. */
static void cv_area_half(const cvm_image_view *src, cvm_image_view *dst)
{
    int cn = src->channels;
    for (int y = 0; y < dst->height; y++) {
        const uint8_t *s0 = src->pixels + (size_t)(2 * y) * src->stride;
        const uint8_t *s1 = s0 + src->stride;
        uint8_t *d = dst->pixels + (size_t)y * dst->stride;
        for (int x = 0; x < dst->width; x++) {
            const uint8_t *a = s0 + (size_t)(2 * x) * (size_t)cn, *b = s1 + (size_t)(2 * x) * (size_t)cn;
            for (int c = 0; c < cn; c++)
                d[x * cn + c] = (uint8_t)((a[c] + a[c + cn] + b[c] + b[c + cn] + 2) >> 2);
        }
    }
}

/* The horizontal pass by 16 outputs (one channel of one column each) at a
 * time, for CPUs with byte permutes (AVX512_VBMI): a chunk's two source
 * bytes per output lie within 64 bytes of its first one whenever the
 * source is at most ~3.5x wider, so one load and one permute put each
 * output's two bytes side by side, and one multiply-add of 16-bit pairs
 * gives p0 a0 + p1 a1, the same integers as the scalar loop. */
typedef struct cv_hchunk {
    int base;          /* byte of the chunk's first output's first tap in a source row */
    int ok;            /* every tap within 64 bytes of base */
    uint64_t mask;     /* the bytes of the 64 inside the row */
    uint8_t idx[32];   /* per output: its two taps' bytes from base */
    int16_t coef[32];  /* per output: the two weights */
} cv_hchunk;

typedef struct cv_htab {
    int *ofs;      /* first source pixel per destination column */
    short *alpha;  /* two weights per destination column */
    int xmax;      /* columns >= xmax read one source pixel at full weight */
    cv_hchunk *chunks; /* with byte permutes: the first nchunks * 16 outputs */
    int nchunks;
} cv_htab;

/* Outputs e0..e1-1 (channel e % cn of column e / cn, all below xmax). */
static void cv_hresize_span(const uint8_t *S, int *D, const cv_htab *t, int cn, int e0, int e1)
{
    for (int e = e0; e < e1; e++) {
        int x = e / cn, c = e % cn;
        const uint8_t *p = S + (size_t)t->ofs[x] * (size_t)cn + c;
        D[e] = p[0] * t->alpha[2 * x] + p[cn] * t->alpha[2 * x + 1];
    }
}

#if defined(__x86_64__)

__attribute__((target("avx512f,avx512bw,avx512vbmi"))) static void cv_hresize_vbmi(const uint8_t *S, int *D,
                                                                                     const cv_htab *t, int cn)
{
    for (int k = 0; k < t->nchunks; k++) {
        const cv_hchunk *h = &t->chunks[k];
        if (!h->ok) {
            cv_hresize_span(S, D, t, cn, 16 * k, 16 * k + 16);
            continue;
        }
        __m512i win = _mm512_maskz_loadu_epi8(h->mask, S + h->base);
        __m512i idx = _mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)h->idx));
        __m256i pairs = _mm512_castsi512_si256(_mm512_permutexvar_epi8(idx, win));
        __m512i w = _mm512_loadu_si512(h->coef);
        _mm512_storeu_si512(D + 16 * k, _mm512_madd_epi16(_mm512_cvtepu8_epi16(pairs), w));
    }
}
#endif

/* The chunk table for source rows of sw pixels (NULL chunks: none). */
static cvm_status cv_hchunks(cv_htab *t, int sw, int cn)
{
    t->chunks = NULL;
    t->nchunks = 0;
#if defined(__x86_64__)
    if (!__builtin_cpu_supports("avx512vbmi") || !__builtin_cpu_supports("avx512bw"))
        return CVM_OK;
    int n = t->xmax * cn / 16;
    if (n < 1)
        return CVM_OK;
    t->chunks = malloc(sizeof(cv_hchunk) * (size_t)n);
    if (!t->chunks)
        return cvm_errorf(CVM_E_NOMEM, "cvm_resize_bilinear_cv: out of memory for %d columns", t->xmax);
    t->nchunks = n;
    const int64_t row = (int64_t)sw * cn;
    for (int k = 0; k < n; k++) {
        cv_hchunk *h = &t->chunks[k];
        int e0 = 16 * k;
        h->base = t->ofs[e0 / cn] * cn; /* ofs only grows with the column */
        h->ok = 1;
        for (int i = 0; i < 16; i++) {
            int e = e0 + i, x = e / cn;
            int64_t p0 = (int64_t)t->ofs[x] * cn + e % cn - h->base;
            if (p0 < 0 || p0 + cn > 63)
                h->ok = 0;
            h->idx[2 * i] = (uint8_t)(p0 & 63);
            h->idx[2 * i + 1] = (uint8_t)((p0 + cn) & 63);
            h->coef[2 * i] = t->alpha[2 * x];
            h->coef[2 * i + 1] = t->alpha[2 * x + 1];
        }
        int64_t left = row - h->base;
        h->mask = left >= 64 ? ~(uint64_t)0 : ((uint64_t)1 << left) - 1;
    }
#else
    (void)sw, (void)cn;
#endif
    return CVM_OK;
}

static void cv_hresize(const uint8_t *S, int *D, const cv_htab *t, int dw, int cn)
{
    const short *al = t->alpha;
    int x = 0;
#if defined(__x86_64__)
    if (t->nchunks > 0) {
        cv_hresize_vbmi(S, D, t, cn);
        int e = 16 * t->nchunks;
        cv_hresize_span(S, D, t, cn, e, t->xmax * cn);
        x = t->xmax;
    }
#endif
    switch (x < t->xmax ? cn : 0) {
    case 0:
        break;
    case 1:
        for (; x < t->xmax; x++) {
            const uint8_t *p = S + t->ofs[x];
            D[x] = p[0] * al[2 * x] + p[1] * al[2 * x + 1];
        }
        break;
    case 3:
        for (; x < t->xmax; x++) {
            const uint8_t *p = S + (size_t)t->ofs[x] * 3;
            int a0 = al[2 * x], a1 = al[2 * x + 1];
            D[3 * x] = p[0] * a0 + p[3] * a1;
            D[3 * x + 1] = p[1] * a0 + p[4] * a1;
            D[3 * x + 2] = p[2] * a0 + p[5] * a1;
        }
        break;
    default:
        for (; x < t->xmax; x++) {
            const uint8_t *p = S + (size_t)t->ofs[x] * (size_t)cn;
            int a0 = al[2 * x], a1 = al[2 * x + 1];
            for (int c = 0; c < cn; c++)
                D[cn * x + c] = p[c] * a0 + p[c + cn] * a1;
        }
        break;
    }
    for (; x < dw; x++) {
        const uint8_t *p = S + (size_t)t->ofs[x] * (size_t)cn;
        for (int c = 0; c < cn; c++)
            D[cn * x + c] = p[c] * CV_COEF_SCALE;
    }
}

static inline uint8_t sat_u8(int v) { return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v); }

#if defined(__x86_64__)
/* The SIMD form below on 16 columns at a time: the same integer steps
 * (an arithmetic shift, a 32-bit product, a shift) lane by lane, so the
 * bytes are the same; negative sums clamp to 0 before the unsigned
 * saturating narrowing. */
__attribute__((target("avx512f"))) static int cv_vresize_512(const int *S0, const int *S1, uint8_t *d, int b0,
                                                              int b1, int end)
{
    const __m512i w0 = _mm512_set1_epi32(b0), w1 = _mm512_set1_epi32(b1), two = _mm512_set1_epi32(2);
    const __m512i zero = _mm512_setzero_si512();
    int x = 0;
    for (; x + 16 <= end; x += 16) {
        __m512i m0 = _mm512_srai_epi32(_mm512_mullo_epi32(_mm512_srai_epi32(_mm512_loadu_si512(S0 + x), 4), w0), 16);
        __m512i m1 = _mm512_srai_epi32(_mm512_mullo_epi32(_mm512_srai_epi32(_mm512_loadu_si512(S1 + x), 4), w1), 16);
        __m512i v = _mm512_srai_epi32(_mm512_add_epi32(_mm512_add_epi32(m0, m1), two), 2);
        _mm_storeu_si128((__m128i *)(d + x), _mm512_cvtusepi32_epi8(_mm512_max_epi32(v, zero)));
    }
    return x;
}
#endif

static void cv_vresize(const int *S0, const int *S1, uint8_t *d, int b0, int b1, int width, int lanes)
{
    int x = 0;
    if (lanes >= 0) {
        /* The SIMD form: both rows lose 4 bits, are multiplied by the int16
         * weight keeping the high 16 bits, summed and rounded by 2 bits. */
        int vend = lanes == 0 ? width : width / lanes * lanes;
#if defined(__x86_64__)
        if (__builtin_cpu_supports("avx512f"))
            x = cv_vresize_512(S0, S1, d, b0, b1, vend);
#endif
        for (; x < vend; x++) {
            int m0 = ((S0[x] >> 4) * b0) >> 16;
            int m1 = ((S1[x] >> 4) * b1) >> 16;
            d[x] = sat_u8((m0 + m1 + 2) >> 2);
        }
    }
    for (; x < width; x++)
        d[x] = sat_u8((S0[x] * b0 + S1[x] * b1 + (1 << 21)) >> 22);
}

typedef struct cv_job {
    const cvm_image_view *src;
    cvm_image_view *dst;
    const cv_htab *ht;
    const int *yofs;
    const short *beta;
    int *rows;      /* per part: two horizontally filtered rows */
    int parts, lanes;
} cv_job;

/* Destination rows of parts [b, e): each part keeps its own two cached
 * source rows, so the parts are independent and give the same bytes as
 * one pass. */
static void cv_rows(void *arg, size_t b, size_t e)
{
    const cv_job *j = arg;
    const cvm_image_view *src = j->src;
    int dw = j->dst->width, dh = j->dst->height, cn = src->channels;
    size_t width = (size_t)dw * (size_t)cn;
    for (size_t part = b; part < e; part++) {
        int y0 = (int)((int64_t)dh * (int64_t)part / j->parts);
        int y1 = (int)((int64_t)dh * (int64_t)(part + 1) / j->parts);
        int *buf[2] = {j->rows + part * 2 * width, j->rows + part * 2 * width + width};
        int tag[2] = {-1, -1};
        for (int dy = y0; dy < y1; dy++) {
            const int *r[2];
            for (int k = 0; k < 2; k++) {
                int sy = j->yofs[2 * dy + k];
                int slot = tag[0] == sy ? 0 : tag[1] == sy ? 1 : -1;
                if (slot < 0) {
                    /* Replace the slot the other tap of this row does not use. */
                    int other = k == 1 ? j->yofs[2 * dy] : -2;
                    slot = tag[0] == other ? 1 : 0;
                    cv_hresize(src->pixels + (size_t)sy * src->stride, buf[slot], j->ht, dw, cn);
                    tag[slot] = sy;
                }
                r[k] = buf[slot];
            }
            cv_vresize(r[0], r[1], j->dst->pixels + (size_t)dy * j->dst->stride, j->beta[2 * dy],
                       j->beta[2 * dy + 1], (int)width, j->lanes);
        }
    }
}

static cvm_status cv_resize(const cvm_image_view *src, cvm_image_view *dst, int lanes, int plain_h,
                            cvm_threadpool *pool)
{
    CVM_TRY(check_views(src, dst, "cvm_resize_bilinear_cv"));
    int sw = src->width, sh = src->height, dw = dst->width, dh = dst->height, cn = src->channels;
    if (sw == dw && sh == dh) {
        copy_rows(src, dst);
        return CVM_OK;
    }
    double inv_x = (double)dw / sw, inv_y = (double)dh / sh;
    double scale_x = 1. / inv_x, scale_y = 1. / inv_y;
    long isx = lrint(scale_x), isy = lrint(scale_y);
    if (isx == 2 && isy == 2 && fabs(scale_x - (double)isx) < DBL_EPSILON &&
        fabs(scale_y - (double)isy) < DBL_EPSILON) {
        cv_area_half(src, dst);
        return CVM_OK;
    }

    /* Parts of at least 16 rows: each re-filters up to two source rows the
     * part before it also filtered. */
    int parts = pool ? cvm_threadpool_size(pool) : 1;
    if (parts > dh / 16)
        parts = dh / 16;
    if (parts < 1)
        parts = 1;
    size_t width = (size_t)dw * (size_t)cn;
    int *xofs = malloc(sizeof(int) * (size_t)dw);
    short *alpha = malloc(sizeof(short) * 2 * (size_t)dw);
    int *yofs = malloc(sizeof(int) * 2 * (size_t)dh);
    short *beta = malloc(sizeof(short) * 2 * (size_t)dh);
    int *rows = malloc(sizeof(int) * width * 2 * (size_t)parts);
    if (!xofs || !alpha || !yofs || !beta || !rows) {
        free(xofs), free(alpha), free(yofs), free(beta), free(rows);
        return cvm_errorf(CVM_E_NOMEM, "cvm_resize_bilinear_cv: out of memory for %dx%d", dw, dh);
    }
    cv_htab ht = {xofs, alpha, dw, NULL, 0};
    for (int dx = 0; dx < dw; dx++) {
        float fx = (float)((dx + 0.5) * scale_x - 0.5);
        int sx = floor_to_int(fx);
        fx -= (float)sx;
        if (sx < 0)
            fx = 0.f, sx = 0;
        if (sx + 1 >= sw) {
            if (ht.xmax > dx)
                ht.xmax = dx;
            if (sx >= sw - 1)
                fx = 0.f, sx = sw - 1;
        }
        xofs[dx] = sx;
        alpha[2 * dx] = cv_round_coef((1.f - fx) * CV_COEF_SCALE);
        alpha[2 * dx + 1] = cv_round_coef(fx * CV_COEF_SCALE);
    }
    for (int dy = 0; dy < dh; dy++) {
        float fy = (float)((dy + 0.5) * scale_y - 0.5);
        int sy = floor_to_int(fy);
        fy -= (float)sy;
        /* Rows outside the image repeat the edge row; the weights are kept. */
        yofs[2 * dy] = sy < 0 ? 0 : sy >= sh ? sh - 1 : sy;
        yofs[2 * dy + 1] = sy + 1 < 0 ? 0 : sy + 1 >= sh ? sh - 1 : sy + 1;
        beta[2 * dy] = cv_round_coef((1.f - fy) * CV_COEF_SCALE);
        beta[2 * dy + 1] = cv_round_coef(fy * CV_COEF_SCALE);
    }
    cvm_status st = plain_h ? CVM_OK : cv_hchunks(&ht, sw, cn);
    if (st == CVM_OK) {
        cv_job job = {src, dst, &ht, yofs, beta, rows, parts, lanes};
        cvm_parallel_for(parts > 1 ? pool : NULL, (size_t)parts, 1, cv_rows, &job);
    }
    free(ht.chunks);
    free(xofs), free(alpha), free(yofs), free(beta), free(rows);
    return st;
}

cvm_status cvm_resize_bilinear_cv_lanes(const cvm_image_view *src, cvm_image_view *dst, int lanes)
{
    return cv_resize(src, dst, lanes, 0, NULL);
}

cvm_status cvm_resize_bilinear_cv_pool(const cvm_image_view *src, cvm_image_view *dst, cvm_threadpool *pool)
{
    return cv_resize(src, dst, 0, 0, pool);
}

cvm_status cvm_resize_bilinear_cv_plain_h(const cvm_image_view *src, cvm_image_view *dst)
{
    return cv_resize(src, dst, 0, 1, NULL);
}

cvm_status cvm_resize_bilinear_cv(const cvm_image_view *src, cvm_image_view *dst)
{
    return cvm_resize_bilinear_cv_lanes(src, dst, 0);
}

/* ================================================================ Pillow */

#define PIL_PRECISION_BITS (32 - 8 - 2)

typedef struct pil_coefs {
    int ksize;
    int *bounds; /* (first source index, tap count) per output */
    int *kk;     /* ksize fixed-point weights per output */
} pil_coefs;

static double pil_triangle(double x)
{
    if (x < 0.0)
        x = -x;
    return x < 1.0 ? 1.0 - x : 0.0;
}

static cvm_status pil_precompute(int in_size, int out_size, pil_coefs *c)
{
    float in0 = 0.f, in1 = (float)in_size;
    double scale = (double)(in1 - in0) / out_size;
    double filterscale = scale < 1.0 ? 1.0 : scale;
    double support = 1.0 * filterscale;
    int ksize = (int)ceil(support) * 2 + 1;
    c->ksize = ksize;
    c->bounds = malloc(sizeof(int) * 2 * (size_t)out_size);
    c->kk = malloc(sizeof(int) * (size_t)ksize * (size_t)out_size);
    double *k = malloc(sizeof(double) * (size_t)ksize);
    if (!c->bounds || !c->kk || !k) {
        free(c->bounds), free(c->kk), free(k);
        c->bounds = NULL, c->kk = NULL;
        return cvm_errorf(CVM_E_NOMEM, "cvm_resize_bilinear_pil: out of memory for coefficients");
    }
    double ss = 1.0 / filterscale;
    for (int xx = 0; xx < out_size; xx++) {
        double center = in0 + (xx + 0.5) * scale;
        double ww = 0.0;
        int xmin = (int)(center - support + 0.5);
        if (xmin < 0)
            xmin = 0;
        int xmax = (int)(center + support + 0.5);
        if (xmax > in_size)
            xmax = in_size;
        xmax -= xmin;
        if (xmax > ksize)
            xmax = ksize; /* cannot happen; keeps the writes in bounds */
        if (xmax < 0)
            xmax = 0;
        for (int x = 0; x < xmax; x++) {
            double w = pil_triangle((x + xmin - center + 0.5) * ss);
            k[x] = w;
            ww += w;
        }
        int *kk = c->kk + (size_t)xx * (size_t)ksize;
        for (int x = 0; x < xmax; x++) {
            double v = ww != 0.0 ? k[x] / ww : k[x];
            kk[x] = v < 0 ? (int)(-0.5 + v * (1 << PIL_PRECISION_BITS))
                          : (int)(0.5 + v * (1 << PIL_PRECISION_BITS));
        }
        for (int x = xmax; x < ksize; x++)
            kk[x] = 0;
        c->bounds[2 * xx] = xmin;
        c->bounds[2 * xx + 1] = xmax;
    }
    free(k);
    return CVM_OK;
}

static inline uint8_t pil_clip8(int v)
{
    v >>= PIL_PRECISION_BITS;
    return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
}

static void pil_horizontal(const uint8_t *s, uint8_t *d, int dw, int cn, const pil_coefs *c)
{
    const int half = 1 << (PIL_PRECISION_BITS - 1);
    for (int xx = 0; xx < dw; xx++) {
        int xmin = c->bounds[2 * xx], n = c->bounds[2 * xx + 1];
        const int *k = c->kk + (size_t)xx * (size_t)c->ksize;
        const uint8_t *p = s + (size_t)xmin * (size_t)cn;
        if (cn == 3) {
            int s0 = half, s1 = half, s2 = half;
            for (int x = 0; x < n; x++, p += 3) {
                s0 += p[0] * k[x];
                s1 += p[1] * k[x];
                s2 += p[2] * k[x];
            }
            d[3 * xx] = pil_clip8(s0), d[3 * xx + 1] = pil_clip8(s1), d[3 * xx + 2] = pil_clip8(s2);
        } else if (cn == 1) {
            int s0 = half;
            for (int x = 0; x < n; x++)
                s0 += p[x] * k[x];
            d[xx] = pil_clip8(s0);
        } else {
            int acc[4] = {half, half, half, half};
            for (int x = 0; x < n; x++, p += cn)
                for (int ch = 0; ch < cn; ch++)
                    acc[ch] += p[ch] * k[x];
            for (int ch = 0; ch < cn; ch++)
                d[cn * xx + ch] = pil_clip8(acc[ch]);
        }
    }
}

/* One output row from `n` input rows starting at `rows[0]` (stride apart). */
static void pil_vertical_row(const uint8_t *first, size_t stride, int n, const int *k, uint8_t *d, int width,
                             int *acc)
{
    const int half = 1 << (PIL_PRECISION_BITS - 1);
    for (int x = 0; x < width; x++)
        acc[x] = half;
    for (int y = 0; y < n; y++) {
        const uint8_t *s = first + (size_t)y * stride;
        int w = k[y];
        for (int x = 0; x < width; x++)
            acc[x] += s[x] * w;
    }
    for (int x = 0; x < width; x++)
        d[x] = pil_clip8(acc[x]);
}

static inline uint8_t muldiv255(unsigned a, unsigned b)
{
    unsigned t = a * b + 128;
    return (uint8_t)(((t >> 8) + t) >> 8);
}

cvm_status cvm_resize_bilinear_pil(const cvm_image_view *src, cvm_image_view *dst)
{
    CVM_TRY(check_views(src, dst, "cvm_resize_bilinear_pil"));
    int sw = src->width, sh = src->height, dw = dst->width, dh = dst->height, cn = src->channels;
    if (sw == dw && sh == dh) {
        copy_rows(src, dst); /* Pillow returns a plain copy */
        return CVM_OK;
    }
    int need_h = dw != sw, need_v = dh != sh;
    pil_coefs cv = {0, NULL, NULL}, ch = {0, NULL, NULL};
    uint8_t *pre = NULL, *tmp = NULL;
    int *acc = NULL;
    cvm_status s = pil_precompute(sh, dh, &cv);
    if (s != CVM_OK)
        return s;
    if (need_h && (s = pil_precompute(sw, dw, &ch)) != CVM_OK)
        goto done;

    /* RGBA: Pillow resizes premultiplied alpha (mode RGBa). */
    const uint8_t *in = src->pixels;
    size_t in_stride = src->stride;
    int premul = src->format == CVM_PIXEL_RGBA8 && cn == 4;
    if (premul) {
        pre = malloc((size_t)sw * 4 * (size_t)sh);
        if (!pre) {
            s = cvm_errorf(CVM_E_NOMEM, "cvm_resize_bilinear_pil: out of memory");
            goto done;
        }
        for (int y = 0; y < sh; y++) {
            const uint8_t *p = src->pixels + (size_t)y * src->stride;
            uint8_t *q = pre + (size_t)y * (size_t)sw * 4;
            for (int x = 0; x < sw; x++, p += 4, q += 4) {
                q[0] = muldiv255(p[0], p[3]);
                q[1] = muldiv255(p[1], p[3]);
                q[2] = muldiv255(p[2], p[3]);
                q[3] = p[3];
            }
        }
        in = pre;
        in_stride = (size_t)sw * 4;
    }

    size_t drow = (size_t)dw * (size_t)cn;
    acc = malloc(sizeof(int) * (size_t)(sw > dw ? sw : dw) * (size_t)cn);
    if (!acc) {
        s = cvm_errorf(CVM_E_NOMEM, "cvm_resize_bilinear_pil: out of memory");
        goto done;
    }
    /* Pillow runs the vertical pass first when the height shrinks by more
     * than twice as many pixels as the width does (to make the horizontal
     * pass cheaper); the uint8 rounding between passes makes the order
     * visible in the result. */
    int horizontal_first = !(sh - dh > 0 && sh - dh > (sw - dw) * 2);
    if (horizontal_first) {
        /* Horizontal pass over the rows the vertical pass will read. */
        int first = 0, nrows = sh;
        if (need_v) {
            first = cv.bounds[0];
            nrows = cv.bounds[2 * dh - 2] + cv.bounds[2 * dh - 1] - first;
        }
        if (need_h) {
            uint8_t *target = dst->pixels;
            size_t tstride = dst->stride;
            if (need_v) {
                tmp = malloc(drow * (size_t)(nrows > 0 ? nrows : 1));
                if (!tmp) {
                    s = cvm_errorf(CVM_E_NOMEM, "cvm_resize_bilinear_pil: out of memory");
                    goto done;
                }
                target = tmp;
                tstride = drow;
            }
            for (int y = 0; y < nrows; y++)
                pil_horizontal(in + (size_t)(first + y) * in_stride, target + (size_t)y * tstride, dw, cn, &ch);
            in = tmp;
            in_stride = drow;
            for (int yy = 0; yy < dh; yy++)
                cv.bounds[2 * yy] -= first;
        }
        if (need_v)
            for (int yy = 0; yy < dh; yy++)
                pil_vertical_row(in + (size_t)cv.bounds[2 * yy] * in_stride, in_stride, cv.bounds[2 * yy + 1],
                                 cv.kk + (size_t)yy * (size_t)cv.ksize, dst->pixels + (size_t)yy * dst->stride,
                                 (int)drow, acc);
    } else {
        /* Vertical pass over the full width, then horizontal. */
        size_t srow = (size_t)sw * (size_t)cn;
        uint8_t *target = dst->pixels;
        size_t tstride = dst->stride;
        if (need_h) {
            tmp = malloc(srow * (size_t)dh);
            if (!tmp) {
                s = cvm_errorf(CVM_E_NOMEM, "cvm_resize_bilinear_pil: out of memory");
                goto done;
            }
            target = tmp;
            tstride = srow;
        }
        for (int yy = 0; yy < dh; yy++)
            pil_vertical_row(in + (size_t)cv.bounds[2 * yy] * in_stride, in_stride, cv.bounds[2 * yy + 1],
                             cv.kk + (size_t)yy * (size_t)cv.ksize, target + (size_t)yy * tstride, (int)srow, acc);
        if (need_h)
            for (int yy = 0; yy < dh; yy++)
                pil_horizontal(tmp + (size_t)yy * srow, dst->pixels + (size_t)yy * dst->stride, dw, cn, &ch);
    }
    if (premul) {
        for (int y = 0; y < dh; y++) {
            uint8_t *q = dst->pixels + (size_t)y * dst->stride;
            for (int x = 0; x < dw; x++, q += 4) {
                unsigned a = q[3];
                if (a != 0 && a != 255)
                    for (int c = 0; c < 3; c++) {
                        unsigned v = 255u * q[c] / a;
                        q[c] = (uint8_t)(v > 255 ? 255 : v);
                    }
            }
        }
    }
done:
    free(cv.bounds), free(cv.kk), free(ch.bounds), free(ch.kk);
    free(pre), free(tmp), free(acc);
    return s;
}
