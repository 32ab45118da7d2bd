/* MaxPool (with Indices), AveragePool, LpPool and the global pools.  1-D and
 * 2-D windows are handled as 3-D ones with leading extents of 1. */
#include <float.h>
#include <math.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define POOL_X86 1
#endif

#include "backends/cpu/clones.h"
#include "backends/cpu/nn_kernels.h"
#include "graph/shape_nn.h"

enum { POOL_MAX, POOL_AVG, POOL_LP };

#include "backends/cpu/cpu_features.h"

typedef struct pool_job {
    int kind;
    cvm_dtype dt;
    int64_t in[3], k[3], s[3], d[3], pb[3], pe[3], out[3];
    int64_t IN, OUT, C;
    int count_include_pad, col_major;
    float p;
    const void *x;
    void *y;
    int64_t *idx;
} pool_job;

static float load_x(const pool_job *j, int64_t i)
{
    switch (j->dt) {
    case CVM_DTYPE_INT8:
        return ((const int8_t *)j->x)[i];
    case CVM_DTYPE_UINT8:
        return ((const uint8_t *)j->x)[i];
    default:
        return ((const float *)j->x)[i];
    }
}

static void store_y(const pool_job *j, int64_t i, float v)
{
    switch (j->dt) {
    case CVM_DTYPE_INT8:
        ((int8_t *)j->y)[i] = (int8_t)v;
        break;
    case CVM_DTYPE_UINT8:
        ((uint8_t *)j->y)[i] = (uint8_t)v;
        break;
    default:
        ((float *)j->y)[i] = v;
    }
}

/* Window indices a in [lo, hi) land inside the input; those in [lo, pad_hi)
 * (with lo taken from the padded start) land inside input + padding. */
static void window_range(int64_t st, int64_t k, int64_t d, int64_t in, int64_t pe, int64_t *lo,
                         int64_t *hi, int64_t *n_padded)
{
    int64_t a = st < 0 ? (-st + d - 1) / d : 0;
    int64_t b = in - 1 - st < 0 ? 0 : (in - 1 - st) / d + 1;
    int64_t c = in + pe - 1 - st < 0 ? 0 : (in + pe - 1 - st) / d + 1;
    *lo = a < k ? a : k;
    *hi = b < k ? b : k;
    if (*hi < *lo)
        *hi = *lo;
    *n_padded = c < k ? c : k;
}

#define POOL_ROW_MAX 2048

/* Float MaxPool over 2-D windows without dilation or indices, done
 * separably: the max down each window's rows into a row buffer padded with
 * -inf, then the max across it.  k_h + k_w comparisons per output instead of
 * k_h * k_w (SPPF runs three 5x5 pools on every YOLO). */
CVM_CPU_CLONES static void
maxpool2d_planes(void *arg, size_t begin, size_t end)
{
    const pool_job *j = arg;
    const int64_t H = j->in[1], W = j->in[2], OH = j->out[1], OW = j->out[2];
    const int64_t KH = j->k[1], KW = j->k[2], SH = j->s[1], SW = j->s[2];
    const int64_t PH = j->pb[1], PW = j->pb[2];
    const int64_t len = (OW - 1) * SW + KW; /* padded row extent the windows read */
    float buf[POOL_ROW_MAX];
    for (size_t pl = begin; pl < end; pl++) {
        const float *x = (const float *)j->x + (int64_t)pl * j->IN;
        float *y = (float *)j->y + (int64_t)pl * j->OUT;
        for (int64_t oh = 0; oh < OH; oh++) {
            for (int64_t i = 0; i < len; i++)
                buf[i] = -INFINITY;
            /* buf[PW + w] = max over the window's rows of x[ih][w] */
            int64_t h0 = oh * SH - PH, h1 = h0 + KH;
            h0 = h0 < 0 ? 0 : h0;
            h1 = h1 > H ? H : h1;
            int64_t w1 = W < len - PW ? W : len - PW; /* columns a window can reach */
            float *b = buf + PW;
            for (int64_t ih = h0; ih < h1; ih++) {
                const float *xr = x + ih * W;
                for (int64_t w = 0; w < w1; w++)
                    b[w] = xr[w] > b[w] ? xr[w] : b[w];
            }
            float *yr = y + oh * OW;
            if (SW == 1) {
                for (int64_t ow = 0; ow < OW; ow++)
                    yr[ow] = buf[ow];
                for (int64_t q = 1; q < KW; q++)
                    for (int64_t ow = 0; ow < OW; ow++)
                        yr[ow] = buf[ow + q] > yr[ow] ? buf[ow + q] : yr[ow];
            } else
                for (int64_t ow = 0; ow < OW; ow++) {
                    float m = buf[ow * SW];
                    for (int64_t q = 1; q < KW; q++)
                        m = buf[ow * SW + q] > m ? buf[ow * SW + q] : m;
                    yr[ow] = m;
                }
        }
    }
}

/*
 * Float MaxPool over 2-D windows (no dilation, indices or ceil_mode) on a
 * -inf padded copy of a band of rows, with window maxima built by doubling:
 * max over 2s = max of two overlapping maxima over s, and a window of K
 * (P <= K < 2P, P a power of two) is the max of the P-windows at 0 and K-P.
 * Max is exact whatever the grouping, so this takes log2(K) + 1 vector passes
 * per axis instead of K - 1 (SPP's 13x13 window on 13x13 planes).  NaNs
 * become -inf in the copy, so they are ignored like in the window loop.
 */
#define MP_CAP 8192 /* floats of the per-thread band buffer (on the stack) */

typedef struct mp_geom {
    int64_t H, W, OH, OW, KH, KW, SH, SW, PH, PW, Wp, band;
} mp_geom;

/* a[i] = max(a[i], a[i + d]) for i < n, ascending: every read is at or after
 * the element being written, so no value is read after it changed. */
CVM_CPU_CLONES static void vmax_shift_c(float *a, int64_t n, int64_t d)
{
    for (int64_t i = 0; i < n; i++)
        a[i] = a[i + d] > a[i] ? a[i + d] : a[i];
}

CVM_CPU_CLONES static void copy_nonan_c(float *restrict dst, const float *restrict src, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        dst[i] = src[i] == src[i] ? src[i] : -INFINITY;
}

/* Window max of K along a flat array of n floats whose axis steps by `unit`:
 * afterwards a[i] = max over t < K of a[i + t * unit], for i < n - (K-1)*unit. */
static void window_max(float *a, int64_t n, int64_t K, int64_t unit)
{
    int64_t s = 1;
    while (2 * s <= K && n - (2 * s - 1) * unit > 0) {
        vmax_shift_c(a, n - (2 * s - 1) * unit, s * unit);
        s *= 2;
    }
    if (K > s && n - (K - 1) * unit > 0)
        vmax_shift_c(a, n - (K - 1) * unit, (K - s) * unit);
}

typedef struct mp_job {
    mp_geom g;
    int vec; /* take maxpool2d_bands_512 */
    const float *x;
    float *y;
} mp_job;

static void maxpool2d_bands(void *arg, size_t begin, size_t end)
{
    const mp_job *j = arg;
    const mp_geom *g = &j->g;
    const int64_t Wp = g->Wp;
    /* columns of an input row that land in the padded row */
    const int64_t wc = g->W < Wp - g->PW ? g->W : Wp - g->PW;
    float buf[MP_CAP];
    for (size_t pl = begin; pl < end; pl++) {
        const float *x = j->x + (int64_t)pl * g->H * g->W;
        float *y = j->y + (int64_t)pl * g->OH * g->OW;
        for (int64_t ob0 = 0; ob0 < g->OH; ob0 += g->band) {
            int64_t nb = g->OH - ob0 < g->band ? g->OH - ob0 : g->band;
            int64_t R = (nb - 1) * g->SH + g->KH;
            for (int64_t r = 0; r < R; r++) {
                float *b = buf + r * Wp;
                int64_t ih = ob0 * g->SH + r - g->PH;
                if (ih < 0 || ih >= g->H || wc <= 0) {
                    for (int64_t i = 0; i < Wp; i++)
                        b[i] = -INFINITY;
                    continue;
                }
                for (int64_t i = 0; i < g->PW; i++)
                    b[i] = -INFINITY;
                copy_nonan_c(b + g->PW, x + ih * g->W, wc);
                for (int64_t i = g->PW + wc; i < Wp; i++)
                    b[i] = -INFINITY;
            }
            window_max(buf, R * Wp, g->KH, Wp);
            if (g->SH == 1)
                window_max(buf, nb * Wp, g->KW, 1);
            else
                for (int64_t r = 0; r < nb; r++)
                    window_max(buf + r * g->SH * Wp, Wp, g->KW, 1);
            for (int64_t r = 0; r < nb; r++) {
                const float *b = buf + r * g->SH * Wp;
                float *yr = y + (ob0 + r) * g->OW;
                if (g->SW == 1)
                    memcpy(yr, b, (size_t)g->OW * sizeof(float));
                else
                    for (int64_t ow = 0; ow < g->OW; ow++)
                        yr[ow] = b[ow * g->SW];
            }
        }
    }
}

#ifdef POOL_X86
__attribute__((target("avx512f"), always_inline)) static inline __mmask16 mask_n(int64_t n)
{
    return n >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << n) - 1u);
}

__attribute__((target("avx512f"), always_inline)) static inline void
window_max_512(float *a, int64_t n, int64_t K, int64_t unit)
{
    int64_t s = 1;
    while (s <= K) {
        /* doubling steps, then the last overlapping one */
        int64_t d = 2 * s <= K ? s : K - s, w = 2 * s <= K ? 2 * s : K;
        int64_t m = n - (w - 1) * unit;
        if (d == 0 || m <= 0)
            break;
        d *= unit;
        int64_t i = 0;
        for (; i + 16 <= m; i += 16)
            _mm512_storeu_ps(a + i, _mm512_max_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(a + i + d)));
        if (i < m) {
            __mmask16 k = mask_n(m - i);
            _mm512_mask_storeu_ps(a + i, k, _mm512_max_ps(_mm512_maskz_loadu_ps(k, a + i),
                                                          _mm512_maskz_loadu_ps(k, a + i + d)));
        }
        if (w == K)
            break;
        s = w;
    }
}

/* maxpool2d_bands in one vector routine: rows are copied in under masks with
 * the padding lanes set to -inf, outputs leave under masks too (a plane of
 * 13x13 would otherwise spend more on calls than on the maxima). */
__attribute__((target("avx512f"))) static void maxpool2d_bands_512(void *arg, size_t begin,
                                                                  size_t end)
{
    const mp_job *j = arg;
    const mp_geom *g = &j->g;
    const int64_t Wp = g->Wp, PW = g->PW;
    const int64_t wc = g->W < Wp - PW ? g->W : Wp - PW;
    const __m512 ninf = _mm512_set1_ps(-INFINITY);
    float buf[MP_CAP];
    /* Lanes of each 16-column chunk of a padded row that hold input columns
     * (the same for every row): padded column i is input column i - PW. */
    __mmask16 fm[MP_CAP / 16];
    const int64_t chunks = (Wp + 15) / 16;
    for (int64_t c = 0; c < chunks; c++) {
        int64_t lo = PW - 16 * c, hi = PW + wc - 16 * c;
        lo = lo < 0 ? 0 : lo > 16 ? 16 : lo;
        hi = hi < 0 ? 0 : hi > 16 ? 16 : hi;
        fm[c] = hi > lo ? (__mmask16)(mask_n(hi) & ~mask_n(lo)) : 0;
    }
    const __mmask16 last = mask_n(Wp - 16 * (chunks - 1));
    for (size_t pl = begin; pl < end; pl++) {
        const float *x = j->x + (int64_t)pl * g->H * g->W;
        float *y = j->y + (int64_t)pl * g->OH * g->OW;
        for (int64_t ob0 = 0; ob0 < g->OH; ob0 += g->band) {
            int64_t nb = g->OH - ob0 < g->band ? g->OH - ob0 : g->band;
            int64_t R = (nb - 1) * g->SH + g->KH;
            for (int64_t r = 0; r < R; r++) {
                float *b = buf + r * Wp;
                int64_t ih = ob0 * g->SH + r - g->PH;
                int inside = ih >= 0 && ih < g->H && wc > 0;
                /* masked lanes are never read, so the row base may sit
                 * before the row (it is not dereferenced there) */
                const float *xr = inside ? x + ih * g->W : x;
                for (int64_t c = 0; c < chunks; c++) {
                    __m512 v = ninf;
                    __mmask16 k = inside ? fm[c] : 0;
                    if (k) {
                        v = _mm512_mask_loadu_ps(ninf, k, xr + (16 * c - PW));
                        v = _mm512_mask_mov_ps(ninf, _mm512_cmp_ps_mask(v, v, _CMP_ORD_Q), v);
                    }
                    if (c + 1 < chunks)
                        _mm512_storeu_ps(b + 16 * c, v);
                    else
                        _mm512_mask_storeu_ps(b + 16 * c, last, v);
                }
            }
            window_max_512(buf, R * Wp, g->KH, Wp);
            if (g->SH == 1)
                window_max_512(buf, nb * Wp, g->KW, 1);
            else
                for (int64_t r = 0; r < nb; r++)
                    window_max_512(buf + r * g->SH * Wp, Wp, g->KW, 1);
            for (int64_t r = 0; r < nb; r++) {
                const float *b = buf + r * g->SH * Wp;
                float *yr = y + (ob0 + r) * g->OW;
                if (g->SW == 1)
                    for (int64_t i = 0; i < g->OW; i += 16)
                        _mm512_mask_storeu_ps(yr + i, mask_n(g->OW - i),
                                              _mm512_maskz_loadu_ps(mask_n(g->OW - i), b + i));
                else
                    for (int64_t ow = 0; ow < g->OW; ow++)
                        yr[ow] = b[ow * g->SW];
            }
        }
    }
}
#endif

/* Sets up the band kernel when the pool fits it; 0 when it does not. */
static int maxpool_band_setup(const pool_job *j, const cvm_node *n, mp_job *m)
{
    if (j->kind != POOL_MAX || j->dt != CVM_DTYPE_FLOAT32 || j->idx || j->in[0] != 1 || j->k[0] != 1 ||
        j->d[1] != 1 || j->d[2] != 1 || j->OUT <= 0 || cvm_attr_int(n, "ceil_mode", 0) != 0 ||
        j->pb[1] < 0 || j->pb[2] < 0 || j->pb[1] >= j->k[1] || j->pb[2] >= j->k[2])
        return 0;
    mp_geom *g = &m->g;
    g->H = j->in[1];
    g->W = j->in[2];
    g->OH = j->out[1];
    g->OW = j->out[2];
    g->KH = j->k[1];
    g->KW = j->k[2];
    g->SH = j->s[1];
    g->SW = j->s[2];
    g->PH = j->pb[1];
    g->PW = j->pb[2];
    if (g->KH < 1 || g->KW < 1 || g->SH < 1 || g->SW < 1 || g->OW > MP_CAP || g->KW > MP_CAP ||
        g->SW > MP_CAP)
        return 0;
    g->Wp = (g->OW - 1) * g->SW + g->KW;
    if (g->Wp > MP_CAP || g->KH > MP_CAP / g->Wp)
        return 0;
    /* output rows per band: (band - 1) * SH + KH padded rows must fit */
    int64_t rows = MP_CAP / g->Wp;
    g->band = (rows - g->KH) / g->SH + 1;
    if (g->band < 1)
        return 0;
    m->vec = 0;
#ifdef POOL_X86
    m->vec = cvm_cpu_avx512_allowed();
#endif
    m->x = j->x;
    m->y = j->y;
    return 1;
}

static void pool_planes(void *arg, size_t begin, size_t end)
{
    const pool_job *j = arg;
    int is_f32 = j->dt == CVM_DTYPE_FLOAT32;
    for (size_t pl = begin; pl < end; pl++) {
        int64_t xoff = (int64_t)pl * j->IN, yoff = (int64_t)pl * j->OUT;
        const float *xf = (const float *)j->x + (is_f32 ? xoff : 0);
        int64_t o = 0;
        for (int64_t od = 0; od < j->out[0]; od++) {
            int64_t sd = od * j->s[0] - j->pb[0], lo0, hi0, np0;
            window_range(sd, j->k[0], j->d[0], j->in[0], j->pe[0], &lo0, &hi0, &np0);
            for (int64_t oh = 0; oh < j->out[1]; oh++) {
                int64_t sh = oh * j->s[1] - j->pb[1], lo1, hi1, np1;
                window_range(sh, j->k[1], j->d[1], j->in[1], j->pe[1], &lo1, &hi1, &np1);
                for (int64_t ow = 0; ow < j->out[2]; ow++, o++) {
                    int64_t sw = ow * j->s[2] - j->pb[2], lo2, hi2, np2;
                    window_range(sw, j->k[2], j->d[2], j->in[2], j->pe[2], &lo2, &hi2, &np2);
                    float best = -INFINITY, sum = 0.0f;
                    int64_t best_i = -1;
                    for (int64_t a = lo0; a < hi0; a++) {
                        int64_t id = sd + a * j->d[0];
                        for (int64_t b = lo1; b < hi1; b++) {
                            int64_t ih = sh + b * j->d[1];
                            int64_t rowpos = (id * j->in[1] + ih) * j->in[2];
                            if (is_f32 && !j->idx) {
                                const float *xr = xf + rowpos + sw;
                                if (j->kind == POOL_MAX)
                                    for (int64_t cc = lo2; cc < hi2; cc++) {
                                        float v = xr[cc * j->d[2]];
                                        best = v > best ? v : best;
                                    }
                                else if (j->kind == POOL_AVG)
                                    for (int64_t cc = lo2; cc < hi2; cc++)
                                        sum += xr[cc * j->d[2]];
                                else
                                    for (int64_t cc = lo2; cc < hi2; cc++) {
                                        float v = xr[cc * j->d[2]];
                                        sum += j->p == 2.0f ? v * v : powf(fabsf(v), j->p);
                                    }
                                continue;
                            }
                            for (int64_t cc = lo2; cc < hi2; cc++) {
                                int64_t iw = sw + cc * j->d[2];
                                int64_t pos = rowpos + iw;
                                float v = load_x(j, xoff + pos);
                                if (j->kind == POOL_MAX) {
                                    if (v > best || best_i < 0) {
                                        best = v;
                                        best_i = j->col_major
                                                     ? (iw * j->in[1] + ih) * j->in[0] + id
                                                     : pos;
                                    }
                                } else if (j->kind == POOL_AVG)
                                    sum += v;
                                else
                                    sum += j->p == 2.0f ? v * v : powf(fabsf(v), j->p);
                            }
                        }
                    }
                    int64_t inside = (hi0 - lo0) * (hi1 - lo1) * (hi2 - lo2);
                    float r;
                    if (j->kind == POOL_MAX)
                        r = best;
                    else if (j->kind == POOL_AVG) {
                        /* padded count: window positions before the end padding's end */
                        int64_t cnt = j->count_include_pad ? np0 * np1 * np2 : inside;
                        r = cnt > 0 ? sum / (float)cnt : 0.0f;
                    } else
                        r = j->p == 2.0f ? sqrtf(sum) : powf(sum, 1.0f / j->p);
                    store_y(j, yoff + o, r);
                    if (j->idx)
                        j->idx[yoff + o] = best_i < 0 ? -1 : xoff + best_i;
                }
            }
        }
    }
}

/* Float AveragePool over 2-D windows without dilation: each output column's
 * window range (three divisions) is worked out once per call rather than
 * once per output, which cost more than the sums of small windows (DEIMv2's
 * 2x2 pools: ~110 ns per output).  Same summation order and counts as
 * pool_planes, so the results are identical. */
CVM_CPU_CLONES static void avgpool2d_planes(void *arg, size_t begin, size_t end)
{
    const pool_job *j = arg;
    const int64_t H = j->in[1], W = j->in[2], OH = j->out[1], OW = j->out[2];
    /* input columns and padded counts: within the row (int32 keeps the
     * three tables at 24 KB of stack) */
    int32_t clo[POOL_ROW_MAX], chi[POOL_ROW_MAX], cnp[POOL_ROW_MAX];
    for (int64_t ow = 0; ow < OW; ow++) {
        int64_t sw = ow * j->s[2] - j->pb[2], lo, hi, np;
        window_range(sw, j->k[2], 1, W, j->pe[2], &lo, &hi, &np);
        clo[ow] = (int32_t)(sw + lo);
        chi[ow] = (int32_t)(sw + hi);
        cnp[ow] = (int32_t)np;
    }
    for (size_t pl = begin; pl < end; pl++) {
        const float *x = (const float *)j->x + (int64_t)pl * j->IN;
        float *y = (float *)j->y + (int64_t)pl * j->OUT;
        for (int64_t oh = 0; oh < OH; oh++) {
            int64_t sh = oh * j->s[1] - j->pb[1], lo, hi, np;
            window_range(sh, j->k[1], 1, H, j->pe[1], &lo, &hi, &np);
            for (int64_t ow = 0; ow < OW; ow++) {
                float sum = 0.0f;
                for (int64_t ih = sh + lo; ih < sh + hi; ih++)
                    for (int64_t iw = clo[ow]; iw < chi[ow]; iw++)
                        sum += x[ih * W + iw];
                int64_t cnt = j->count_include_pad ? np * cnp[ow]
                                                   : (hi - lo) * (int64_t)(chi[ow] - clo[ow]);
                y[oh * OW + ow] = cnt > 0 ? sum / (float)cnt : 0.0f;
            }
        }
    }
}

cvm_status cvm_nn_pool_run(const cvm_kernel_ctx *c)
{
    const cvm_tensor *x = c->in[0];
    const char *op = c->node->op_type;
    pool_job j;
    memset(&j, 0, sizeof j);
    j.kind = strcmp(op, "MaxPool") == 0 ? POOL_MAX : strcmp(op, "AveragePool") == 0 ? POOL_AVG : POOL_LP;
    j.dt = x->dtype;
    if (j.dt != CVM_DTYPE_FLOAT32 &&
        !(j.kind == POOL_MAX && (j.dt == CVM_DTYPE_INT8 || j.dt == CVM_DTYPE_UINT8)))
        return cvm_node_error(c->node, CVM_E_UNSUPPORTED, "type %s is not supported",
                              cvm_dtype_name(j.dt));
    int nsp = x->ndim - 2;
    size_t cnt;
    const int64_t *ks = cvm_attr_ints(c->node, "kernel_shape", &cnt);
    cvm_nn_geom g;
    CVM_TRY(cvm_nn_window_geom(c->node, nsp, x->dims + 2, ks, 1, &g));
    int off = 3 - nsp;
    for (int i = 0; i < 3; i++) {
        j.in[i] = j.k[i] = j.s[i] = j.d[i] = j.out[i] = 1;
        j.pb[i] = j.pe[i] = 0;
    }
    for (int i = 0; i < nsp; i++) {
        j.in[off + i] = g.in[i];
        j.k[off + i] = g.k[i];
        j.s[off + i] = g.s[i];
        j.d[off + i] = g.d[i];
        j.pb[off + i] = g.pb[i];
        j.pe[off + i] = g.pe[i];
        j.out[off + i] = g.out[i];
    }
    j.IN = j.in[0] * j.in[1] * j.in[2];
    j.OUT = j.out[0] * j.out[1] * j.out[2];
    j.count_include_pad = (int)cvm_attr_int(c->node, "count_include_pad", 0);
    j.col_major = cvm_attr_int(c->node, "storage_order", 0) == 1;
    j.p = (float)cvm_attr_int(c->node, "p", 2);
    if (j.kind == POOL_LP && j.p <= 0.0f)
        return cvm_node_error(c->node, CVM_E_UNSUPPORTED, "p must be positive");
    j.x = x->data;
    j.y = c->out[0]->data;
    j.idx = c->n_out > 1 && c->out[1] ? c->out[1]->data : NULL;
    int64_t planes = x->dims[0] * x->dims[1];
    mp_job mj;
    if (maxpool_band_setup(&j, c->node, &mj)) {
#ifdef POOL_X86
        if (mj.vec) {
            cvm_parallel_for(c->pool, (size_t)planes, 1, maxpool2d_bands_512, &mj);
            return CVM_OK;
        }
#endif
        cvm_parallel_for(c->pool, (size_t)planes, 1, maxpool2d_bands, &mj);
        return CVM_OK;
    }
    if (j.kind == POOL_MAX && j.dt == CVM_DTYPE_FLOAT32 && !j.idx && j.in[0] == 1 &&
        j.k[0] == 1 && j.d[1] == 1 && j.d[2] == 1 && j.OUT > 0 && j.pb[2] >= 0 &&
        (j.out[2] - 1) * j.s[2] + j.k[2] <= POOL_ROW_MAX && j.pb[2] < j.k[2]) {
        cvm_parallel_for(c->pool, (size_t)planes, 1, maxpool2d_planes, &j);
        return CVM_OK;
    }
    if (j.kind == POOL_AVG && j.dt == CVM_DTYPE_FLOAT32 && j.in[0] == 1 && j.k[0] == 1 &&
        j.d[1] == 1 && j.d[2] == 1 && j.out[2] <= POOL_ROW_MAX && j.in[2] <= INT32_MAX / 2 &&
        j.k[2] <= INT32_MAX / 2) {
        cvm_parallel_for(c->pool, (size_t)planes, 1, avgpool2d_planes, &j);
        return CVM_OK;
    }
    cvm_parallel_for(c->pool, (size_t)planes, 1, pool_planes, &j);
    return CVM_OK;
}

typedef struct gpool_job {
    int kind;
    float p;
    int64_t n;
    const float *x;
    float *y;
} gpool_job;

static void gpool_planes(void *arg, size_t begin, size_t end)
{
    const gpool_job *j = arg;
    for (size_t pl = begin; pl < end; pl++) {
        const float *x = j->x + (int64_t)pl * j->n;
        float r;
        /* Eight independent chains: one running max or sum waited on each
         * add's latency (PP-OCRv4 det's [96, 80x80] mean took 0.33 ms). */
        const int64_t n = j->n, n8 = n & ~(int64_t)7;
        if (j->kind == POOL_MAX) {
            float m[8];
            for (int k = 0; k < 8; k++)
                m[k] = -INFINITY;
            for (int64_t i = 0; i < n8; i += 8)
                for (int k = 0; k < 8; k++)
                    m[k] = x[i + k] > m[k] ? x[i + k] : m[k];
            r = -INFINITY;
            for (int k = 0; k < 8; k++)
                r = m[k] > r ? m[k] : r;
            for (int64_t i = n8; i < n; i++)
                r = x[i] > r ? x[i] : r;
        } else if (j->kind == POOL_AVG) {
            double a[8] = {0};
            for (int64_t i = 0; i < n8; i += 8)
                for (int k = 0; k < 8; k++)
                    a[k] += x[i + k];
            double s = ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]));
            for (int64_t i = n8; i < n; i++)
                s += x[i];
            r = n ? (float)(s / (double)n) : 0.0f;
        } else {
            double s = 0.0;
            for (int64_t i = 0; i < j->n; i++)
                s += pow(fabs((double)x[i]), j->p);
            r = (float)pow(s, 1.0 / j->p);
        }
        j->y[pl] = r;
    }
}

cvm_status cvm_nn_global_pool_run(const cvm_kernel_ctx *c)
{
    const cvm_tensor *x = c->in[0];
    if (x->dtype != CVM_DTYPE_FLOAT32)
        return cvm_node_error(c->node, CVM_E_UNSUPPORTED, "type %s is not supported",
                              cvm_dtype_name(x->dtype));
    const char *op = c->node->op_type;
    gpool_job j = {strcmp(op, "GlobalMaxPool") == 0 ? POOL_MAX
                   : strcmp(op, "GlobalAveragePool") == 0 ? POOL_AVG : POOL_LP,
                   (float)cvm_attr_int(c->node, "p", 2), 1, x->data, c->out[0]->data};
    for (int i = 2; i < x->ndim; i++)
        j.n *= x->dims[i];
    if (j.kind == POOL_LP && j.p <= 0.0f)
        return cvm_node_error(c->node, CVM_E_UNSUPPORTED, "p must be positive");
    cvm_parallel_for(c->pool, (size_t)(x->dims[0] * x->dims[1]), 4, gpool_planes, &j);
    return CVM_OK;
}
