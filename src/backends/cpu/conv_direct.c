/* Direct 3x3 convolution, output channels in the lanes (see conv_direct.h). */
#include "backends/cpu/conv_direct.h"

#include <stdlib.h>
#include <string.h>

#include "base/bigmem.h"
#include "base/status.h"

#if defined(__x86_64__)
#include <immintrin.h>
#include "backends/cpu/act512.h"
#define CVM_CDIR_X86 1
#endif

#define CP 32  /* output channels per panel */
#define NPX 12 /* most pixels per tile: 24 accumulators */

int cvm_cdir_usable(int64_t H, int64_t W, int64_t OH, int64_t OW, int64_t stride, int64_t pt,
                    int64_t pl)
{
#ifdef CVM_CDIR_X86
    if (!__builtin_cpu_supports("avx512f") || (stride != 1 && stride != 2) || H < 1 || W < 1 ||
        OH < 1 || OW < 1 || pt < 0 || pl < 0 || pt > 2 || pl > 1)
        return 0;
    /* Only the first pixel's left tap and the last pixel's right tap may
     * fall outside the row (one column of padding each side). */
    for (int64_t ow = 0; ow < OW; ow++)
        for (int kw = 0; kw < 3; kw++) {
            int64_t col = ow * stride - pl + kw;
            if ((col < 0 || col >= W) && !(ow == 0 && kw == 0) && !(ow == OW - 1 && kw == 2))
                return 0;
        }
    return 1;
#else
    (void)H, (void)W, (void)OH, (void)OW, (void)stride, (void)pt, (void)pl;
    return 0;
#endif
}

void cvm_cdir_free(cvm_cdir *d)
{
    if (!d)
        return;
    cvm_big_free(d->Wp);
    free(d->zero);
    d->Wp = d->zero = NULL;
}

cvm_status cvm_cdir_prepare(cvm_cdir *d, int64_t N, int64_t C, int64_t M, int64_t H, int64_t W,
                            int64_t OH, int64_t OW, int64_t stride, int64_t pt, int64_t pl,
                            const float *weights, int slots)
{
    memset(d, 0, sizeof *d);
    d->N = N, d->C = C, d->M = M, d->H = H, d->W = W, d->OH = OH, d->OW = OW;
    d->s = stride, d->pt = pt, d->pl = pl;
    d->panels = (M + CP - 1) / CP;
    d->slots = slots < 1 ? 1 : slots;
    int64_t K = C * 9;
    if (C > INT64_MAX / 9 / CP || (uint64_t)d->panels * (uint64_t)K > SIZE_MAX / CP / sizeof(float))
        return cvm_errorf(CVM_E_LIMIT, "direct convolution weights of %lld x %lld channels too large",
                          (long long)M, (long long)C);
    d->Wp = cvm_big_alloc((size_t)(d->panels * K * CP) * sizeof(float));
    /* a zero row read from 16 floats before its start to past any tap */
    d->zero = calloc((size_t)(W * stride + 64), sizeof(float));
    if (!d->Wp || !d->zero) {
        cvm_cdir_free(d);
        return cvm_errorf(CVM_E_NOMEM, "out of memory packing direct convolution weights");
    }
    for (int64_t m = 0; m < M; m++) {
        float *dst = d->Wp + (m / CP) * K * CP + m % CP;
        const float *src = weights + m * K;
        for (int64_t k = 0; k < K; k++)
            dst[k * CP] = src[k];
    }
    return CVM_OK;
}

#ifdef CVM_CDIR_X86

#define AVX512 __attribute__((target("avx512f")))

/* r[i][j] -> r[j][i] for a 16 x 16 block of floats. */
AVX512 static inline void transpose16(__m512 r[16])
{
    __m512 t[16], u[16];
    for (int i = 0; i < 16; i += 2) {
        t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
    }
    /* u[4g + c]: rows 4g..4g+3 of columns c, c + 4, c + 8, c + 12 */
    for (int g = 0; g < 16; g += 4) {
        __m512d t0 = _mm512_castps_pd(t[g]), t1 = _mm512_castps_pd(t[g + 1]);
        __m512d t2 = _mm512_castps_pd(t[g + 2]), t3 = _mm512_castps_pd(t[g + 3]);
        u[g] = _mm512_castpd_ps(_mm512_unpacklo_pd(t0, t2));
        u[g + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(t0, t2));
        u[g + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(t1, t3));
        u[g + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(t1, t3));
    }
    /* t[c] (rows 0-7) and t[c + 4] (rows 8-15): columns c and c + 8 in
     * halves; t[c + 8], t[c + 12]: columns c + 4 and c + 12 */
    for (int c = 0; c < 4; c++) {
        t[c] = _mm512_shuffle_f32x4(u[c], u[c + 4], 0x88);
        t[c + 4] = _mm512_shuffle_f32x4(u[c + 8], u[c + 12], 0x88);
        t[c + 8] = _mm512_shuffle_f32x4(u[c], u[c + 4], 0xdd);
        t[c + 12] = _mm512_shuffle_f32x4(u[c + 8], u[c + 12], 0xdd);
    }
    for (int c = 0; c < 4; c++) {
        r[c] = _mm512_shuffle_f32x4(t[c], t[c + 4], 0x88);
        r[c + 8] = _mm512_shuffle_f32x4(t[c], t[c + 4], 0xdd);
        r[c + 4] = _mm512_shuffle_f32x4(t[c + 8], t[c + 12], 0x88);
        r[c + 12] = _mm512_shuffle_f32x4(t[c + 8], t[c + 12], 0xdd);
    }
}

typedef struct tile_args {
    const float *xn;   /* image n, channel 0 */
    const float *w;    /* the panel's packed weights */
    const float *zrow; /* zero row (16 floats of margin before it) */
    int64_t C, H, W, HW;
    int64_t ih0;       /* input row of kh = 0 */
    int64_t c0;        /* input column of the first pixel's kw = 0 */
    int left, right;   /* the first pixel's left tap / last pixel's right tap is padding */
    float *t;          /* out: 32 x 16 sums, channel-major (pixels NP.. undefined) */
} tile_args;

/* One tile of NP pixels at stride S: half = only the panel's first 16
 * channels exist.  Loop over (input channel, kernel row), three taps each. */
#define CDIR_TILE(NP, S, HALF)                                                                   \
    AVX512 static void tile_##NP##_##S##_##HALF(const tile_args *ta)                               \
    {                                                                                            \
        __m512 a0[NP], a1[NP];                                                                   \
        for (int p = 0; p < NP; p++)                                                             \
            a0[p] = a1[p] = _mm512_setzero_ps();                                                 \
        const float *w = ta->w;                                                                  \
        const float *z = ta->zrow;                                                               \
        for (int64_t ci = 0; ci < ta->C; ci++) {                                                 \
            const float *xc = ta->xn + ci * ta->HW;                                              \
            for (int kh = 0; kh < 3; kh++) {                                                     \
                int64_t ih = ta->ih0 + kh;                                                       \
                const float *px = (ih < 0 || ih >= ta->H ? z : xc + ih * ta->W) + ta->c0;        \
                const float *pl0 = ta->left ? z : px;                                            \
                const float *pr2 = ta->right ? z : px + (NP - 1) * S + 2;                        \
                /* the next tile's part of this row: rows of an image past L2    \
                 * are read one line per plane, which the prefetchers miss */      \
                _mm_prefetch((const char *)(px + NP * S + 16), _MM_HINT_T0);                     \
                _Pragma("GCC unroll 3") for (int kw = 0; kw < 3; kw++)                           \
                {                                                                                \
                    _mm_prefetch((const char *)(w + 512), _MM_HINT_T0);                          \
                    if (!HALF)                                                                   \
                        _mm_prefetch((const char *)(w + 528), _MM_HINT_T0);                      \
                    __m512 b0 = _mm512_loadu_ps(w);                                              \
                    __m512 b1 = HALF ? _mm512_setzero_ps() : _mm512_loadu_ps(w + 16);            \
                    w += CP;                                                                     \
                    _Pragma("GCC unroll 12") for (int p = 0; p < NP; p++)                        \
                    {                                                                            \
                        const float *a = kw == 0 && p == 0        ? pl0                          \
                                         : kw == 2 && p == NP - 1 ? pr2                          \
                                                                  : px + p * S + kw;             \
                        __m512 v = _mm512_set1_ps(*a);                                           \
                        a0[p] = _mm512_fmadd_ps(v, b0, a0[p]);                                   \
                        if (!HALF)                                                               \
                            a1[p] = _mm512_fmadd_ps(v, b1, a1[p]);                               \
                    }                                                                            \
                }                                                                                \
            }                                                                                    \
        }                                                                                        \
        __m512 r[16];                                                                            \
        for (int p = 0; p < 16; p++)                                                             \
            r[p] = p < NP ? a0[p] : _mm512_setzero_ps();                                         \
        transpose16(r);                                                                          \
        for (int c = 0; c < 16; c++)                                                             \
            _mm512_storeu_ps(ta->t + c * 16, r[c]);                                              \
        if (!HALF) {                                                                             \
            for (int p = 0; p < 16; p++)                                                         \
                r[p] = p < NP ? a1[p] : _mm512_setzero_ps();                                     \
            transpose16(r);                                                                      \
            for (int c = 0; c < 16; c++)                                                         \
                _mm512_storeu_ps(ta->t + 256 + c * 16, r[c]);                                    \
        }                                                                                        \
    }

#define CDIR_NP(NP)          \
    CDIR_TILE(NP, 1, 0)      \
    CDIR_TILE(NP, 1, 1)      \
    CDIR_TILE(NP, 2, 0)      \
    CDIR_TILE(NP, 2, 1)
CDIR_NP(1)
CDIR_NP(2)
CDIR_NP(3)
CDIR_NP(4)
CDIR_NP(5)
CDIR_NP(6)
CDIR_NP(7)
CDIR_NP(8)
CDIR_NP(9)
CDIR_NP(10)
CDIR_NP(11)
CDIR_NP(12)

typedef void (*tile_fn)(const tile_args *);
#define CDIR_ROW(NP) {{tile_##NP##_1_0, tile_##NP##_1_1}, {tile_##NP##_2_0, tile_##NP##_2_1}}
static const tile_fn tiles[NPX][2][2] = {CDIR_ROW(1), CDIR_ROW(2),  CDIR_ROW(3),  CDIR_ROW(4),
                                         CDIR_ROW(5), CDIR_ROW(6),  CDIR_ROW(7),  CDIR_ROW(8),
                                         CDIR_ROW(9), CDIR_ROW(10), CDIR_ROW(11), CDIR_ROW(12)};

typedef struct cdir_job {
    const cvm_cdir *d;
    const float *x;
    float *y;
    const cvm_wino_out *out;
    cvm_ranges ranges;
} cdir_job;

/* One output row of one image for one panel of channels, in tiles of up to
 * 12 pixels of nearly equal width (a 40-wide row as four of 10, not three of
 * 12 and one of 4). */
AVX512 static void cdir_item(const cdir_job *jb, int64_t item)
{
    const cvm_cdir *d = jb->d;
    const cvm_wino_out *out = jb->out;
    const cvm_gemm_epi *e = out->epi;
    int64_t mp = item % d->panels, rest = item / d->panels;
    int64_t oh = rest % d->OH, n = rest / d->OH;
    int64_t m0 = mp * CP, mc = d->M - m0 < CP ? d->M - m0 : CP;
    int half = mc <= 16;
    tile_args ta = {.xn = jb->x + n * d->C * d->H * d->W, .w = d->Wp + mp * d->C * 9 * CP,
                    .zrow = d->zero + 16, .C = d->C, .H = d->H, .W = d->W, .HW = d->H * d->W,
                    .ih0 = oh * d->s - d->pt};
    float t[16 * CP];
    ta.t = t;
    int64_t groups = (d->OW + NPX - 1) / NPX;
    int64_t ow0 = 0;
    for (int64_t g = 0; g < groups; g++) {
        int np = (int)(d->OW / groups + (g < d->OW % groups));
        ta.c0 = ow0 * d->s - d->pl;
        ta.left = ta.c0 < 0;
        ta.right = (ow0 + np - 1) * d->s - d->pl + 2 >= d->W;
        tiles[np - 1][d->s - 1][half](&ta);
        const __mmask16 pm = (__mmask16)((1u << np) - 1u);
        for (int64_t j = 0; j < mc; j++) {
            int64_t m = m0 + j;
            __m512 v = _mm512_loadu_ps(t + j * 16);
            v = _mm512_add_ps(v, _mm512_set1_ps(out->bias ? out->bias[m] : 0.0f));
            int64_t o = oh * d->OW + ow0;
            float *yr = jb->y + (n * d->M + m) * d->OH * d->OW + o;
            if (e)
                v = cvm_epi512(v, e, out->res ? out->res + n * out->res_n + m * out->res_c + o
                                              : NULL, pm);
            _mm512_mask_storeu_ps(yr, pm, v);
            if (out->span)
                out->span(out->span_ctx, n, m, o, np, yr);
        }
        ow0 += np;
    }
}

static void cdir_slot(void *arg, size_t begin, size_t end)
{
    cdir_job *jb = arg;
    for (size_t sl = begin; sl < end; sl++) {
        /* rows first from the worker's own range: the image region it
         * wrote in the layer before (see cvm_ranges) */
        int cursor = 0;
        for (int64_t it; (it = cvm_ranges_next(&jb->ranges, &cursor)) >= 0;)
            cdir_item(jb, it);
    }
}

void cvm_cdir_run(const cvm_cdir *d, const float *x, float *y, const cvm_wino_out *out,
                  cvm_threadpool *pool)
{
    cdir_job jb = {.d = d, .x = x, .y = y, .out = out};
    int64_t items = d->N * d->OH * d->panels;
    int T = pool ? cvm_threadpool_size(pool) : 1;
    if (T > d->slots)
        T = d->slots;
    if ((int64_t)T > items)
        T = (int)items;
    if (T < 1)
        T = 1;
    cvm_ranges_init(&jb.ranges, items, T);
    cvm_parallel_for(pool, (size_t)T, 1, cdir_slot, &jb);
}

#else

void cvm_cdir_run(const cvm_cdir *d, const float *x, float *y, const cvm_wino_out *out,
                  cvm_threadpool *pool)
{
    /* cvm_cdir_usable() is false off x86-64: never reached. */
    (void)d, (void)x, (void)y, (void)out, (void)pool;
}

#endif
