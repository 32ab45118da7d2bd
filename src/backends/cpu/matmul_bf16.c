/* bf16 MatMul on AMX tiles or AVX512_BF16 (see matmul_bf16.h). */
#include "backends/cpu/matmul_bf16.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "base/half.h"
#include "base/status.h"

#ifdef CVM_BF16_X86
#include "backends/cpu/act512.h"
#endif

static int64_t ceil_div(int64_t a, int64_t b)
{
    return (a + b - 1) / b;
}

cvm_status cvm_mbf_prepare(cvm_mbf *p, int kind, int64_t M, int64_t N, int64_t K, const float *b,
                           int64_t rsb, int64_t csb, float alpha, int slots)
{
    memset(p, 0, sizeof *p);
    if (kind == CVM_BF16_NONE)
        return cvm_errorf(CVM_E_UNSUPPORTED, "bf16 MatMul: this CPU has neither AMX-BF16 nor "
                          "AVX512_BF16");
    p->kind = kind;
    p->M = M;
    p->N = N;
    p->K = K;
    p->slots = slots < 1 ? 1 : slots;
    p->mpad = ceil_div(M, 32) * 32;
    p->npad = ceil_div(N, 32) * 32;
    int64_t kp = ceil_div(K, 2);
    p->nkb = kp > 0 ? ceil_div(kp, 16) : 1;
    p->kb = kp > 0 ? ceil_div(kp, p->nkb) : 1;
    /* A worker's column chunk of B (K x nc bf16) stays within ~256 KiB of L2. */
    int64_t nc = (128 * 1024 / (p->nkb * p->kb * 2 > 0 ? p->nkb * p->kb * 2 : 1)) / 32 * 32;
    p->nc = nc < 32 ? 32 : nc > p->npad ? p->npad : nc;
    size_t elems = (size_t)p->npad * (size_t)(p->nkb * p->kb) * 2;
    p->w = calloc(elems ? elems : 1, sizeof *p->w);
    if (!p->w)
        return cvm_errorf(CVM_E_NOMEM, "out of memory packing bf16 weights");
    uint16_t *d = p->w;
    for (int64_t nb = 0; nb < p->npad / 16; nb++)
        for (int64_t kk = 0; kk < p->nkb; kk++)
            for (int64_t r = 0; r < p->kb; r++)
                for (int64_t c = 0; c < 16; c++)
                    for (int e = 0; e < 2; e++) {
                        int64_t n = nb * 16 + c, k = (kk * p->kb + r) * 2 + e;
                        *d++ = n < N && k < K ? cvm_f32_to_bf16(alpha * b[k * rsb + n * csb]) : 0;
                    }
    return CVM_OK;
}

void cvm_mbf_free(cvm_mbf *p)
{
    free(p->w);
    p->w = NULL;
}

/* a as bf16 tiles: [mpad / 16][nkb][16][kb][2] */
static size_t a_bytes(const cvm_mbf *p)
{
    return ((size_t)p->mpad * (size_t)(p->nkb * p->kb) * 4 + 63) & ~(size_t)63;
}

enum { STAGE_LD = 32 };

static size_t stage_bytes(void)
{
    return 32 * STAGE_LD * sizeof(float);
}

size_t cvm_mbf_scratch_bytes(const cvm_mbf *p)
{
    return a_bytes(p) + (size_t)p->slots * stage_bytes() + 128;
}

typedef struct mbf_job {
    const cvm_mbf *p;
    const float *a, *bias;
    int64_t lda, ldy;
    float *y;
    const cvm_gemm_epi *epi;
    uint16_t *at;     /* a as tiles */
    float *stage;     /* per slot: one 32 x 32 block of sums */
    int64_t nchunks, mgroups, items;
    atomic_long next;
} mbf_job;

#ifdef CVM_BF16_X86
/* Converts 16-row blocks [begin, end) of a; rows past M are zero. */
CVM_TARGET_BF16 static void pack_rows(void *arg, size_t begin, size_t end)
{
    const mbf_job *j = arg;
    const cvm_mbf *p = j->p;
    const int64_t kw = p->kb * 2; /* bf16 per tile row */
    for (size_t rb = begin; rb < end; rb++)
        for (int64_t kk = 0; kk < p->nkb; kk++) {
            uint16_t *t = j->at + ((int64_t)rb * p->nkb + kk) * 16 * kw;
            int64_t k0 = kk * kw, cnt = p->K - k0 < kw ? p->K - k0 : kw;
            if (cnt < 0)
                cnt = 0;
            for (int64_t i = 0; i < 16; i++) {
                int64_t m = (int64_t)rb * 16 + i;
                uint16_t *row = t + i * kw;
                if (m >= p->M) {
                    memset(row, 0, (size_t)kw * 2);
                    continue;
                }
                const float *src = j->a + m * j->lda + k0;
                for (int64_t q = 0; q < kw; q += 16) {
                    int64_t c = cnt - q < 16 ? (cnt - q > 0 ? cnt - q : 0) : 16;
                    int64_t w = kw - q < 16 ? kw - q : 16;
                    __m512 v = _mm512_maskz_loadu_ps((__mmask16)((1u << c) - 1), src + q);
                    __m256i h = (__m256i)_mm512_cvtneps_pbh(v);
                    _mm256_mask_storeu_epi16(row + q, (__mmask16)((1u << w) - 1), h);
                }
            }
        }
}

/* Sums of rows m0..m0+31 and columns n0..n0+31 into stage[32][STAGE_LD]. */
CVM_TARGET_AMX static void amx_block(const cvm_mbf *p, const uint16_t *at, int64_t m0, int64_t n0,
                                     float *stage)
{
    const int64_t tile = 16 * p->kb * 2; /* bf16 per tile */
    const uint16_t *a0 = at + (m0 / 16) * p->nkb * tile, *a1 = a0 + p->nkb * tile;
    const uint16_t *b0 = p->w + (n0 / 16) * p->nkb * tile, *b1 = b0 + p->nkb * tile;
    _tile_zero(0);
    _tile_zero(1);
    _tile_zero(2);
    _tile_zero(3);
    for (int64_t kk = 0; kk < p->nkb; kk++) {
        _tile_loadd(4, a0 + kk * tile, p->kb * 4);
        _tile_loadd(6, b0 + kk * tile, 64);
        _tile_loadd(7, b1 + kk * tile, 64);
        _tile_dpbf16ps(0, 4, 6);
        _tile_dpbf16ps(1, 4, 7);
        _tile_loadd(5, a1 + kk * tile, p->kb * 4);
        _tile_dpbf16ps(2, 5, 6);
        _tile_dpbf16ps(3, 5, 7);
    }
    _tile_stored(0, stage, STAGE_LD * 4);
    _tile_stored(1, stage + 16, STAGE_LD * 4);
    _tile_stored(2, stage + 16 * STAGE_LD, STAGE_LD * 4);
    _tile_stored(3, stage + 16 * STAGE_LD + 16, STAGE_LD * 4);
}

/* The same block with AVX512_BF16: 8 rows x 32 columns at a time. */
CVM_TARGET_BF16 static void avx512_block(const cvm_mbf *p, const uint16_t *at, int64_t m0,
                                         int64_t n0, float *stage)
{
    const int64_t kb = p->kb, tile = 16 * kb; /* dwords per tile */
    const uint32_t *aq = (const uint32_t *)at, *bq = (const uint32_t *)p->w;
    for (int h = 0; h < 4; h++) {
        const uint32_t *a = aq + ((m0 + h * 8) / 16) * p->nkb * tile + ((h * 8) % 16) * kb;
        const uint32_t *b0 = bq + (n0 / 16) * p->nkb * tile, *b1 = b0 + p->nkb * tile;
        __m512 s[8][2];
        for (int i = 0; i < 8; i++)
            s[i][0] = s[i][1] = _mm512_setzero_ps();
        for (int64_t kk = 0; kk < p->nkb; kk++, a += tile, b0 += tile, b1 += tile)
            for (int64_t r = 0; r < kb; r++) {
                __m512bh v0 = (__m512bh)_mm512_loadu_si512(b0 + r * 16);
                __m512bh v1 = (__m512bh)_mm512_loadu_si512(b1 + r * 16);
                for (int i = 0; i < 8; i++) {
                    __m512bh av = (__m512bh)_mm512_set1_epi32((int)a[i * kb + r]);
                    s[i][0] = _mm512_dpbf16_ps(s[i][0], av, v0);
                    s[i][1] = _mm512_dpbf16_ps(s[i][1], av, v1);
                }
            }
        for (int i = 0; i < 8; i++) {
            _mm512_storeu_ps(stage + (h * 8 + i) * STAGE_LD, s[i][0]);
            _mm512_storeu_ps(stage + (h * 8 + i) * STAGE_LD + 16, s[i][1]);
        }
    }
}

/* Bias and activation on the valid part of a block, into y. */
CVM_TARGET_BF16 static void block_out(const mbf_job *j, int64_t m0, int64_t n0, const float *stage)
{
    const cvm_mbf *p = j->p;
    int64_t rows = p->M - m0 < 32 ? p->M - m0 : 32;
    __m512 bias[2];
    __mmask16 mk[2];
    for (int h = 0; h < 2; h++) {
        int64_t c = p->N - n0 - 16 * h;
        c = c < 0 ? 0 : c > 16 ? 16 : c;
        mk[h] = (__mmask16)((1u << c) - 1);
        bias[h] = j->bias ? _mm512_maskz_loadu_ps(mk[h], j->bias + n0 + 16 * h) : _mm512_setzero_ps();
    }
    for (int64_t i = 0; i < rows; i++) {
        float *dst = j->y + (m0 + i) * j->ldy + n0;
        for (int h = 0; h < 2; h++) {
            if (!mk[h])
                continue;
            __m512 v = _mm512_add_ps(_mm512_loadu_ps(stage + i * STAGE_LD + 16 * h), bias[h]);
            if (j->epi)
                v = cvm_act512(v, j->epi);
            _mm512_mask_storeu_ps(dst + 16 * h, mk[h], v);
        }
    }
}

static void mbf_slot(void *arg, size_t begin, size_t end)
{
    mbf_job *j = arg;
    const cvm_mbf *p = j->p;
    const int64_t mblocks = p->mpad / 32, per = ceil_div(mblocks, j->mgroups);
    for (size_t s = begin; s < end; s++) {
        float *stage = j->stage + s * (stage_bytes() / sizeof(float));
        if (p->kind == CVM_BF16_AMX)
            cvm_amx_config(p->kb);
        for (;;) {
            int64_t it = atomic_fetch_add_explicit(&j->next, 1, memory_order_relaxed);
            if (it >= j->items)
                break;
            int64_t nch = it % j->nchunks, g = it / j->nchunks;
            int64_t n0 = nch * p->nc, n1 = n0 + p->nc < p->npad ? n0 + p->nc : p->npad;
            int64_t mb0 = g * per, mb1 = mb0 + per < mblocks ? mb0 + per : mblocks;
            for (int64_t mb = mb0; mb < mb1; mb++)
                for (int64_t n = n0; n < n1; n += 32) {
                    if (p->kind == CVM_BF16_AMX)
                        amx_block(p, j->at, mb * 32, n, stage);
                    else
                        avx512_block(p, j->at, mb * 32, n, stage);
                    block_out(j, mb * 32, n, stage);
                }
        }
        if (p->kind == CVM_BF16_AMX)
            cvm_amx_release();
    }
}
#endif

void cvm_mbf_run(const cvm_mbf *p, const float *a, int64_t lda, float *y, int64_t ldy,
                 const float *bias, const cvm_gemm_epi *epi, cvm_threadpool *pool, void *scratch)
{
#ifdef CVM_BF16_X86
    if (p->M <= 0 || p->N <= 0)
        return;
    char *base = (char *)(((uintptr_t)scratch + 63) & ~(uintptr_t)63);
    mbf_job j = {.p = p, .a = a, .bias = bias, .lda = lda, .ldy = ldy, .y = y, .epi = epi,
                 .at = (uint16_t *)base, .stage = (float *)(base + a_bytes(p))};
    int T = pool ? cvm_threadpool_size(pool) : 1;
    if (T > p->slots)
        T = p->slots;
    if (T < 1)
        T = 1;
    const int64_t mblocks = p->mpad / 32;
    j.nchunks = ceil_div(p->npad, p->nc);
    /* a few items per worker to even out; rows are split only when the
     * columns alone give too few */
    int64_t want = 4 * (int64_t)T;
    j.mgroups = j.nchunks >= want ? 1 : ceil_div(want, j.nchunks);
    if (j.mgroups > mblocks)
        j.mgroups = mblocks;
    j.items = j.nchunks * j.mgroups;
    if (T > j.items)
        T = (int)j.items;
    atomic_init(&j.next, 0);
    cvm_parallel_for(pool, (size_t)(p->mpad / 16), 1, pack_rows, &j);
    cvm_parallel_for(pool, (size_t)T, 1, mbf_slot, &j);
#else
    (void)p, (void)a, (void)lda, (void)y, (void)ldy, (void)bias, (void)epi, (void)pool,
        (void)scratch;
#endif
}
