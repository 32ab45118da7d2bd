/* The strided-copy engine behind Transpose, Slice, Expand, Tile and the
 * depth/space rearrangements. */
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define TC_X86 1
#endif

#include "backends/cpu/clones.h"
#include "backends/cpu/cpu_features.h"
#include "backends/cpu/tensor_internal.h"

/* Below this many bytes a copy is not worth waking the pool for. */
#define PAR_MIN_BYTES ((size_t)1 << 18)
/* Each thread's share of a parallel copy is at least this big. */
#define PAR_CHUNK_BYTES ((size_t)1 << 16)
/* Tile edge of the blocked 2-D transpose: 32x32 elements of up to 8 bytes
 * keep both the source lines and the destination rows in L1. */
#define TB 32
/* Output bytes per unit of the AVX-512 transpose (see cvm_strided_copy). */
#define TB_VEC_BYTES ((size_t)128 << 10)

void cvm_row_strides(int ndim, const int64_t *dims, int64_t *strides)
{
    int64_t s = 1;
    for (int i = ndim - 1; i >= 0; i--) {
        strides[i] = s;
        s *= dims[i];
    }
}

int64_t cvm_dims_prod(const int64_t *dims, int from, int to)
{
    int64_t p = 1;
    for (int i = from; i < to; i++)
        p *= dims[i];
    return p;
}

cvm_status cvm_elem_size(const cvm_kernel_ctx *c, cvm_dtype dt, size_t *es)
{
    *es = cvm_dtype_size(dt);
    if (!*es)
        return cvm_node_error(c->node, CVM_E_UNSUPPORTED, "element type %s is not supported",
                              cvm_dtype_name(dt));
    return CVM_OK;
}

typedef struct memcpy_job {
    char *dst;
    const char *src;
} memcpy_job;

static void memcpy_range(void *arg, size_t b, size_t e)
{
    memcpy_job *j = arg;
    memcpy(j->dst + b, j->src + b, e - b);
}

void cvm_par_memcpy(cvm_threadpool *pool, void *dst, const void *src, size_t n)
{
    if (!n || dst == src)
        return;
    if (!pool || n < PAR_MIN_BYTES) {
        memcpy(dst, src, n);
        return;
    }
    memcpy_job j = {dst, src};
    cvm_parallel_for(pool, n, PAR_CHUNK_BYTES, memcpy_range, &j);
}

/* Every second float (YOLOX's Focus slices, Slice with step 2): a loop
 * with a constant stride that the AVX-512 and AVX2 clones turn into
 * permutes of two loads, against one scalar load per element. */
CVM_CPU_CLONES static void copy_every_2nd_f32(uint32_t *restrict d, const uint32_t *restrict s,
                                              int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        d[i] = s[2 * i];
}

/* Strided element gather into a contiguous run. */
static void copy_strided(char *dst, const char *src, int64_t n, int64_t stride, size_t es)
{
    if (es == 4 && stride == 2) {
        copy_every_2nd_f32((uint32_t *)dst, (const uint32_t *)src, n);
        return;
    }
    switch (es) {
#define CASE(N, T)                                       \
    case N: {                                            \
        T *d = (T *)dst;                                 \
        const T *s = (const T *)src;                     \
        for (int64_t i = 0; i < n; i++)                  \
            d[i] = s[i * stride];                        \
        break;                                           \
    }
        CASE(1, uint8_t)
        CASE(2, uint16_t)
        CASE(4, uint32_t)
        CASE(8, uint64_t)
#undef CASE
    default:
        for (int64_t i = 0; i < n; i++)
            memcpy(dst + (size_t)i * es, src + i * stride * (int64_t)es, es);
    }
}

/* dst[r][c] = src[r + c * sc] for r < R, c < C (dst rows of length C). */
static void transpose_block(char *dst, const char *src, int64_t r0, int64_t r1, int64_t C, int64_t sc,
                            size_t es)
{
    for (int64_t c0 = 0; c0 < C; c0 += TB) {
        int64_t c1 = c0 + TB < C ? c0 + TB : C;
        switch (es) {
#define CASE(N, T)                                                   \
    case N: {                                                        \
        T *d = (T *)dst;                                             \
        const T *s = (const T *)src;                                 \
        for (int64_t r = r0; r < r1; r++)                            \
            for (int64_t c = c0; c < c1; c++)                        \
                d[r * C + c] = s[r + c * sc];                        \
        break;                                                       \
    }
            CASE(1, uint8_t)
            CASE(2, uint16_t)
            CASE(4, uint32_t)
            CASE(8, uint64_t)
#undef CASE
        default:
            for (int64_t r = r0; r < r1; r++)
                for (int64_t c = c0; c < c1; c++)
                    memcpy(dst + (size_t)(r * C + c) * es, src + (r + c * sc) * (int64_t)es, es);
        }
    }
}

#ifdef TC_X86
/* 16x16 float transpose in registers: 32-bit then 64-bit interleaves inside
 * each 128-bit lane leave u[4q + m] holding, per lane l, column 4l + m of
 * input rows 4q..4q+3; two rounds of 128-bit lane shuffles gather the four
 * lanes of a column. */
__attribute__((target("avx512f"), always_inline)) static inline void tr16(__m512 r[16])
{
    __m512 t[16], u[16];
    for (int i = 0; i < 8; i++) {
        t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    for (int q = 0; q < 4; q++) {
        __m512d a = _mm512_castps_pd(t[4 * q]), b = _mm512_castps_pd(t[4 * q + 1]);
        __m512d c = _mm512_castps_pd(t[4 * q + 2]), d = _mm512_castps_pd(t[4 * q + 3]);
        u[4 * q + 0] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, c));
        u[4 * q + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, c));
        u[4 * q + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(b, d));
        u[4 * q + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(b, d));
    }
    for (int m = 0; m < 4; m++) {
        __m512 va = _mm512_shuffle_f32x4(u[m], u[4 + m], 0x88);
        __m512 vb = _mm512_shuffle_f32x4(u[m], u[4 + m], 0xDD);
        __m512 wa = _mm512_shuffle_f32x4(u[8 + m], u[12 + m], 0x88);
        __m512 wb = _mm512_shuffle_f32x4(u[8 + m], u[12 + m], 0xDD);
        r[m] = _mm512_shuffle_f32x4(va, wa, 0x88);
        r[8 + m] = _mm512_shuffle_f32x4(va, wa, 0xDD);
        r[4 + m] = _mm512_shuffle_f32x4(vb, wb, 0x88);
        r[12 + m] = _mm512_shuffle_f32x4(vb, wb, 0xDD);
    }
}

/* One 16x16 tile: d[k][i] = s[i][k] for k < nr, i < nc (row strides sc and
 * C).  Constant trip counts so that the tile lives in registers. */
__attribute__((target("avx512f"), always_inline)) static inline void
tile16(float *d, const float *s, int64_t C, int64_t sc, int64_t nr, int64_t nc)
{
    __m512 v[16];
    if (nr == 16 && nc == 16) {
#pragma GCC unroll 16
        for (int i = 0; i < 16; i++)
            v[i] = _mm512_loadu_ps(s + i * sc);
        tr16(v);
#pragma GCC unroll 16
        for (int k = 0; k < 16; k++)
            _mm512_storeu_ps(d + k * C, v[k]);
        return;
    }
    __mmask16 mr = (__mmask16)((1u << nr) - 1u), mc = (__mmask16)((1u << nc) - 1u);
#pragma GCC unroll 16
    for (int i = 0; i < 16; i++)
        v[i] = i < nc ? _mm512_maskz_loadu_ps(mr, s + i * sc) : _mm512_setzero_ps();
    tr16(v);
#pragma GCC unroll 16
    for (int k = 0; k < 16; k++)
        if (k < nr)
            _mm512_mask_storeu_ps(d + k * C, mc, v[k]);
}

/* transpose_block for 4-byte elements in 16x16 tiles, a band of 16 source
 * rows at a time walked along the rows. */
__attribute__((target("avx512f"))) static void transpose_block_512(float *dst, const float *src,
                                                                  int64_t r0, int64_t r1, int64_t C,
                                                                  int64_t sc)
{
    for (int64_t c0 = 0; c0 < C; c0 += 16) {
        int64_t nc = C - c0 < 16 ? C - c0 : 16;
        for (int64_t rb = r0; rb < r1; rb += 16)
            tile16(dst + rb * C + c0, src + rb + c0 * sc, C, sc, r1 - rb < 16 ? r1 - rb : 16, nc);
    }
}
#endif

enum { K_MEMCPY, K_STRIDED, K_TRANSPOSE };

typedef struct strided_job {
    const char *src;
    char *dst;
    size_t es;
    const cvm_strided *v;
    int kind;
    int n_outer;      /* dims that index whole units */
    int64_t tiles;    /* K_TRANSPOSE: row tiles per 2-D block */
    int vec;          /* K_TRANSPOSE of 4-byte elements in AVX-512 tiles */
    int64_t tb;       /* K_TRANSPOSE: output rows per unit */
} strided_job;

/* Input element offset of the outer multi-index `idx`. */
static int64_t outer_offset(const cvm_strided *v, const int64_t *idx, int n)
{
    int64_t off = v->offset;
    for (int d = 0; d < n; d++)
        off += idx[d] * v->stride[d];
    return off;
}

static void unravel(const int64_t *dims, int n, int64_t u, int64_t *idx)
{
    for (int d = n - 1; d >= 0; d--) {
        idx[d] = u % dims[d];
        u /= dims[d];
    }
}

static void strided_range(void *arg, size_t b, size_t e)
{
    const strided_job *j = arg;
    const cvm_strided *v = j->v;
    size_t es = j->es;
    int n = v->ndim;
    int64_t idx[CVM_STRIDED_MAX_DIMS];
    if (j->kind == K_TRANSPOSE) {
        int64_t R = v->dims[n - 2], C = v->dims[n - 1], sc = v->stride[n - 1];
        for (size_t u = b; u < e; u++) {
            int64_t o = (int64_t)u / j->tiles, t = (int64_t)u % j->tiles;
            unravel(v->dims, j->n_outer, o, idx);
            const char *s = j->src + outer_offset(v, idx, j->n_outer) * (int64_t)es;
            char *d = j->dst + (size_t)(o * R * C) * es;
            int64_t r0 = t * j->tb, r1 = r0 + j->tb < R ? r0 + j->tb : R;
#ifdef TC_X86
            if (j->vec) {
                transpose_block_512((float *)(void *)d, (const float *)(const void *)s, r0, r1, C, sc);
                continue;
            }
#endif
            transpose_block(d, s, r0, r1, C, sc, es);
        }
        return;
    }
    int64_t row = v->dims[n - 1], sr = v->stride[n - 1];
    size_t row_bytes = (size_t)row * es;
    unravel(v->dims, j->n_outer, (int64_t)b, idx);
    int64_t off = outer_offset(v, idx, j->n_outer);
    for (size_t u = b; u < e; u++) {
        char *d = j->dst + u * row_bytes;
        if (j->kind == K_MEMCPY)
            memcpy(d, j->src + off * (int64_t)es, row_bytes);
        else
            copy_strided(d, j->src + off * (int64_t)es, row, sr, es);
        /* Odometer step over the outer dims, keeping `off` in sync. */
        for (int k = j->n_outer - 1; k >= 0; k--) {
            off += v->stride[k];
            if (++idx[k] < v->dims[k])
                break;
            off -= v->stride[k] * v->dims[k];
            idx[k] = 0;
        }
    }
}

void cvm_strided_copy(cvm_threadpool *pool, const void *src, void *dst, size_t es, cvm_strided *v)
{
    /* Drop unit dims, then merge neighbours whose strides chain, so that
     * e.g. a transpose that keeps the last axes becomes a few long memcpys. */
    int n = 0;
    for (int i = 0; i < v->ndim; i++) {
        if (v->dims[i] == 0)
            return;
        if (v->dims[i] == 1)
            continue;
        if (n > 0 && v->stride[n - 1] == v->stride[i] * v->dims[i]) {
            v->dims[n - 1] *= v->dims[i];
            v->stride[n - 1] = v->stride[i];
            continue;
        }
        v->dims[n] = v->dims[i];
        v->stride[n] = v->stride[i];
        n++;
    }
    v->ndim = n;
    if (n == 0) {
        memcpy(dst, (const char *)src + v->offset * (int64_t)es, es);
        return;
    }
    strided_job j = {.src = src, .dst = dst, .es = es, .v = v};
    int64_t units;
    size_t unit_bytes;
    if (v->stride[n - 1] == 1) {
        if (n == 1) {
            cvm_par_memcpy(pool, dst, (const char *)src + v->offset * (int64_t)es, (size_t)v->dims[0] * es);
            return;
        }
        j.kind = K_MEMCPY;
    } else if (n >= 2 && v->stride[n - 2] == 1 && v->dims[n - 2] >= 8 && v->dims[n - 1] >= 8) {
        j.kind = K_TRANSPOSE;
    } else {
        j.kind = K_STRIDED;
    }
    if (j.kind == K_TRANSPOSE) {
#ifdef TC_X86
        j.vec = es == 4 && cvm_cpu_avx512_allowed();
#endif
        j.n_outer = n - 2;
        /* The vector tiles walk 16 source rows at a time down the unit:
         * a tall unit reads long runs of each (which the prefetcher
         * follows) while its output block stays in L2. */
        j.tb = TB;
        if (j.vec) {
            int64_t rows = (int64_t)(TB_VEC_BYTES / ((size_t)v->dims[n - 1] * es));
            j.tb = rows < TB ? TB : rows & ~(int64_t)15;
        }
        j.tiles = (v->dims[n - 2] + j.tb - 1) / j.tb;
        units = cvm_dims_prod(v->dims, 0, n - 2) * j.tiles;
        unit_bytes = (size_t)(j.tb * v->dims[n - 1]) * es;
    } else {
        j.n_outer = n - 1;
        units = cvm_dims_prod(v->dims, 0, n - 1);
        unit_bytes = (size_t)v->dims[n - 1] * es;
    }
    size_t total = (size_t)units * unit_bytes;
    if (!pool || total < PAR_MIN_BYTES || units < 2) {
        strided_range(&j, 0, (size_t)units);
        return;
    }
    size_t grain = PAR_CHUNK_BYTES / (unit_bytes ? unit_bytes : 1);
    cvm_parallel_for(pool, (size_t)units, grain ? grain : 1, strided_range, &j);
}
