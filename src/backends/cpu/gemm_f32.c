#include "backends/cpu/gemm_f32.h"

#include "graph/fuse.h" /* CVM_FUSED_* activation codes */

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#include "backends/cpu/act512.h"
#define CVM_GEMM_X86 1
#endif

/* ------------------------------------------------------------ reference */

void cvm_sgemm_ref(int64_t M, int64_t N, int64_t K, float alpha, const float *a, int64_t rsa,
                   int64_t csa, const float *b, int64_t rsb, int64_t csb, float beta, float *c,
                   int64_t ldc)
{
    for (int64_t m = 0; m < M; m++)
        for (int64_t n = 0; n < N; n++) {
            float s = 0.0f;
            for (int64_t k = 0; k < K; k++)
                s += a[m * rsa + k * csa] * b[k * rsb + n * csb];
            float v = alpha * s;
            if (beta != 0.0f)
                v += beta * c[m * ldc + n];
            c[m * ldc + n] = v;
        }
}

/* --------------------------------------------------------- micro-kernels */

/* Writes the mr x nr corner of a computed tile t (row stride NR) into C. */
static void store_tile(const float *t, int NR, float *c, int64_t ldc, int mr, int nr, int acc,
                       const float *bias)
{
    for (int r = 0; r < mr; r++) {
        float *cr = c + r * ldc;
        const float *tr = t + r * NR;
        if (acc)
            for (int j = 0; j < nr; j++)
                cr[j] += tr[j];
        else {
            float bv = bias ? bias[r] : 0.0f;
            for (int j = 0; j < nr; j++)
                cr[j] = tr[j] + bv;
        }
    }
}

/* Portable kernel: plain loops over a small accumulator the compiler keeps
 * in vector registers. */
#define G_MR 4
#define G_NR 16
static void ukr_generic(int64_t kc, const float *a, const float *b, float *c, int64_t ldc, int mr,
                        int nr, int acc, const float *bias)
{
    float t[G_MR * G_NR];
    for (int i = 0; i < G_MR * G_NR; i++)
        t[i] = 0.0f;
    for (int64_t k = 0; k < kc; k++) {
        for (int r = 0; r < G_MR; r++) {
            float av = a[r];
            for (int j = 0; j < G_NR; j++)
                t[r * G_NR + j] += av * b[j];
        }
        a += G_MR;
        b += G_NR;
    }
    store_tile(t, G_NR, c, ldc, mr, nr, acc, bias);
}

#ifdef CVM_GEMM_X86

/* AVX2: 6 rows x 16 columns = 12 ymm accumulators. */
__attribute__((target("avx2,fma"))) static void ukr_avx2(int64_t kc, const float *a,
                                                         const float *b, float *c, int64_t ldc,
                                                         int mr, int nr, int acc,
                                                         const float *bias)
{
    __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
    __m256 c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
    for (int64_t k = 0; k < kc; k++) {
        __m256 b0 = _mm256_loadu_ps(b), b1 = _mm256_loadu_ps(b + 8);
        __m256 av;
        av = _mm256_broadcast_ss(a + 0);
        c00 = _mm256_fmadd_ps(av, b0, c00);
        c01 = _mm256_fmadd_ps(av, b1, c01);
        av = _mm256_broadcast_ss(a + 1);
        c10 = _mm256_fmadd_ps(av, b0, c10);
        c11 = _mm256_fmadd_ps(av, b1, c11);
        av = _mm256_broadcast_ss(a + 2);
        c20 = _mm256_fmadd_ps(av, b0, c20);
        c21 = _mm256_fmadd_ps(av, b1, c21);
        av = _mm256_broadcast_ss(a + 3);
        c30 = _mm256_fmadd_ps(av, b0, c30);
        c31 = _mm256_fmadd_ps(av, b1, c31);
        av = _mm256_broadcast_ss(a + 4);
        c40 = _mm256_fmadd_ps(av, b0, c40);
        c41 = _mm256_fmadd_ps(av, b1, c41);
        av = _mm256_broadcast_ss(a + 5);
        c50 = _mm256_fmadd_ps(av, b0, c50);
        c51 = _mm256_fmadd_ps(av, b1, c51);
        a += 6;
        b += 16;
    }
    if (mr == 6 && nr == 16) {
#define AVX2_ROW(r, x0, x1)                                                      \
    do {                                                                         \
        float *cr = c + (r) * ldc;                                               \
        if (acc) {                                                               \
            x0 = _mm256_add_ps(x0, _mm256_loadu_ps(cr));                         \
            x1 = _mm256_add_ps(x1, _mm256_loadu_ps(cr + 8));                     \
        } else if (bias) {                                                       \
            __m256 bv = _mm256_broadcast_ss(bias + (r));                         \
            x0 = _mm256_add_ps(x0, bv);                                          \
            x1 = _mm256_add_ps(x1, bv);                                          \
        }                                                                        \
        _mm256_storeu_ps(cr, x0);                                                \
        _mm256_storeu_ps(cr + 8, x1);                                            \
    } while (0)
        AVX2_ROW(0, c00, c01);
        AVX2_ROW(1, c10, c11);
        AVX2_ROW(2, c20, c21);
        AVX2_ROW(3, c30, c31);
        AVX2_ROW(4, c40, c41);
        AVX2_ROW(5, c50, c51);
#undef AVX2_ROW
        return;
    }
    float t[6 * 16];
    _mm256_storeu_ps(t + 0, c00);
    _mm256_storeu_ps(t + 8, c01);
    _mm256_storeu_ps(t + 16, c10);
    _mm256_storeu_ps(t + 24, c11);
    _mm256_storeu_ps(t + 32, c20);
    _mm256_storeu_ps(t + 40, c21);
    _mm256_storeu_ps(t + 48, c30);
    _mm256_storeu_ps(t + 56, c31);
    _mm256_storeu_ps(t + 64, c40);
    _mm256_storeu_ps(t + 72, c41);
    _mm256_storeu_ps(t + 80, c50);
    _mm256_storeu_ps(t + 88, c51);
    store_tile(t, 16, c, ldc, mr, nr, acc, bias);
}

/* AVX-512: 8 rows x 32 columns = 16 zmm accumulators; B is read once per k
 * step and reused by 8 broadcasts.  Edges use masked loads and stores.
 * With packb, B comes unpacked (row stride ldb) and is stored to bpack as it
 * is read (cvm_gemm_ukr_packb); both forms are instances of this body. */
__attribute__((target("avx512f"), always_inline)) static inline void
ukr8x32(int packb, int ahead, int half, int64_t kc, const float *a, const float *b, int64_t ldb,
        float *bpack, float *c, int64_t ldc, int mr, int nr, int acc, const float *bias,
        const cvm_gemm_epi *epi, const float *res, int64_t ldr)
{
    __m512 c00 = _mm512_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
    __m512 c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
    __m512 c60 = c00, c61 = c00, c70 = c00, c71 = c00;
    __mmask16 m0 = nr >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << nr) - 1u);
    __mmask16 m1 = nr >= 32 ? (__mmask16)0xFFFF
                            : nr > 16 ? (__mmask16)((1u << (nr - 16)) - 1u) : (__mmask16)0;
#define AVX512_STEP(r, x0, x1)                 \
    do {                                       \
        __m512 av = _mm512_set1_ps(a[r]);      \
        x0 = _mm512_fmadd_ps(av, b0, x0);      \
        if (!half)                             \
            x1 = _mm512_fmadd_ps(av, b1, x1);  \
    } while (0)
    for (int64_t k = 0; k < kc; k++) {
        __m512 b0, b1;
        if (packb) {
            /* this row's columns two panels on, read two calls later: the
             * hardware prefetchers do not follow kc rows at once (on lone
             * layers one panel ahead measured slower than the separate
             * packing pass and two faster; in YOLOX-nano one to three panels
             * were alike, four and eight slower) */
            if (ahead) {
                _mm_prefetch((const char *)(b + 64), _MM_HINT_T0);
                _mm_prefetch((const char *)(b + 80), _MM_HINT_T0);
            }
            b0 = _mm512_maskz_loadu_ps(m0, b);
            b1 = _mm512_maskz_loadu_ps(m1, b + 16);
            _mm512_store_ps(bpack, b0);
            _mm512_store_ps(bpack + 16, b1);
            b += ldb;
            bpack += 32;
        } else {
            /* B panels come from L2 (a MatMul's packed weights): fetch 16
             * steps ahead, which the L1 streamer alone does not keep up with
             * (~12% on RF-DETR's linear layers; prefetches past the end never
             * fault). */
            _mm_prefetch((const char *)(b + 512), _MM_HINT_T0);
            _mm_prefetch((const char *)(b + 512 + 16), _MM_HINT_T0);
            b0 = _mm512_loadu_ps(b);
            b1 = _mm512_loadu_ps(b + 16);
            b += 32;
        }
        /* The next row panel of A, one panel ahead: prepacked weights come
         * from L3 (YOLO11n's are 14 MB as run) and the prefetchers did not
         * keep up with a panel that only a few column panels share (10x10
         * and 20x20 maps): YOLOv8n and YOLO11n 4-6% faster on one thread,
         * 1-5% on two.  Past the last panel it touches nothing harmful. */
        _mm_prefetch((const char *)(a + 8 * kc), _MM_HINT_T0);
        AVX512_STEP(0, c00, c01);
        AVX512_STEP(1, c10, c11);
        AVX512_STEP(2, c20, c21);
        AVX512_STEP(3, c30, c31);
        AVX512_STEP(4, c40, c41);
        AVX512_STEP(5, c50, c51);
        AVX512_STEP(6, c60, c61);
        AVX512_STEP(7, c70, c71);
        a += 8;
    }
#undef AVX512_STEP
    if (epi && epi->act == CVM_FUSED_SILU && !res && !acc && mr == 8) {
        /* The SiLU after nearly every YOLO convolution, without the per-row
         * branches and dispatch: the 16 sigmoids interleave instead of
         * running as a few latency chains at a time. */
#define SILU_BIAS(r, x0, x1)                                \
    do {                                                    \
        __m512 bv = _mm512_set1_ps(bias ? bias[r] : 0.0f);  \
        x0 = _mm512_add_ps(x0, bv);                         \
        x1 = _mm512_add_ps(x1, bv);                         \
    } while (0)
#define SILU(x) x = _mm512_mul_ps(x, cvm_sigmoid512(x))
#define SILU_STORE(r, x0, x1)                               \
    do {                                                    \
        _mm512_mask_storeu_ps(c + (r) * ldc, m0, x0);       \
        _mm512_mask_storeu_ps(c + (r) * ldc + 16, m1, x1);  \
    } while (0)
        SILU_BIAS(0, c00, c01);
        SILU_BIAS(1, c10, c11);
        SILU_BIAS(2, c20, c21);
        SILU_BIAS(3, c30, c31);
        SILU_BIAS(4, c40, c41);
        SILU_BIAS(5, c50, c51);
        SILU_BIAS(6, c60, c61);
        SILU_BIAS(7, c70, c71);
        SILU(c00); SILU(c10); SILU(c20); SILU(c30); SILU(c40); SILU(c50); SILU(c60); SILU(c70);
        if (!half) {
            SILU(c01); SILU(c11); SILU(c21); SILU(c31); SILU(c41); SILU(c51); SILU(c61); SILU(c71);
        }
        SILU_STORE(0, c00, c01);
        SILU_STORE(1, c10, c11);
        SILU_STORE(2, c20, c21);
        SILU_STORE(3, c30, c31);
        SILU_STORE(4, c40, c41);
        SILU_STORE(5, c50, c51);
        SILU_STORE(6, c60, c61);
        SILU_STORE(7, c70, c71);
#undef SILU_BIAS
#undef SILU
#undef SILU_STORE
        return;
    }
#define AVX512_ROW(r, x0, x1)                                                    \
    do {                                                                         \
        if ((r) < mr) {                                                          \
            float *cr = c + (r) * ldc;                                           \
            if (acc) {                                                           \
                x0 = _mm512_add_ps(x0, _mm512_maskz_loadu_ps(m0, cr));           \
                x1 = _mm512_add_ps(x1, _mm512_maskz_loadu_ps(m1, cr + 16));      \
            } else if (bias) {                                                   \
                __m512 bv = _mm512_set1_ps(bias[r]);                             \
                x0 = _mm512_add_ps(x0, bv);                                      \
                x1 = _mm512_add_ps(x1, bv);                                      \
            }                                                                    \
            if (epi) {                                                           \
                __m512 r0 = x0, r1 = x1;                                         \
                if (res) {                                                       \
                    r0 = _mm512_maskz_loadu_ps(m0, res + (r) * ldr);             \
                    r1 = _mm512_maskz_loadu_ps(m1, res + (r) * ldr + 16);        \
                }                                                                \
                if (res && epi->add_first) {                                     \
                    x0 = _mm512_add_ps(x0, r0);                                  \
                    x1 = _mm512_add_ps(x1, r1);                                  \
                }                                                                \
                x0 = cvm_act512(x0, epi);                                            \
                x1 = cvm_act512(x1, epi);                                            \
                if (res && !epi->add_first) {                                    \
                    x0 = _mm512_add_ps(x0, r0);                                  \
                    x1 = _mm512_add_ps(x1, r1);                                  \
                }                                                                \
            }                                                                    \
            _mm512_mask_storeu_ps(cr, m0, x0);                                   \
            _mm512_mask_storeu_ps(cr + 16, m1, x1);                              \
        }                                                                        \
    } while (0)
    AVX512_ROW(0, c00, c01);
    AVX512_ROW(1, c10, c11);
    AVX512_ROW(2, c20, c21);
    AVX512_ROW(3, c30, c31);
    AVX512_ROW(4, c40, c41);
    AVX512_ROW(5, c50, c51);
    AVX512_ROW(6, c60, c61);
    AVX512_ROW(7, c70, c71);
#undef AVX512_ROW
}

__attribute__((target("avx512f"))) static void ukr_avx512_epi(int64_t kc, const float *a,
                                                              const float *b, float *c,
                                                              int64_t ldc, int mr, int nr,
                                                              int acc, const float *bias,
                                                              const cvm_gemm_epi *epi,
                                                              const float *res, int64_t ldr)
{
    /* A panel's last 16 columns or fewer (a 10x10 map's 100 columns end
     * in a panel of 4) take half the FMAs. */
    if (nr <= 16)
        ukr8x32(0, 0, 1, kc, a, b, 0, NULL, c, ldc, mr, nr, acc, bias, epi, res, ldr);
    else
        ukr8x32(0, 0, 0, kc, a, b, 0, NULL, c, ldc, mr, nr, acc, bias, epi, res, ldr);
}

__attribute__((target("avx512f"))) static void ukr_avx512_packb(
    int64_t kc, const float *a, const float *b, int64_t ldb, float *bpack, float *c, int64_t ldc,
    int mr, int nr, int acc, const float *bias, const cvm_gemm_epi *epi, const float *res,
    int64_t ldr, int ahead)
{
    if (nr <= 16 && ahead)
        ukr8x32(1, 1, 1, kc, a, b, ldb, bpack, c, ldc, mr, nr, acc, bias, epi, res, ldr);
    else if (nr <= 16)
        ukr8x32(1, 0, 1, kc, a, b, ldb, bpack, c, ldc, mr, nr, acc, bias, epi, res, ldr);
    else if (ahead)
        ukr8x32(1, 1, 0, kc, a, b, ldb, bpack, c, ldc, mr, nr, acc, bias, epi, res, ldr);
    else
        ukr8x32(1, 0, 0, kc, a, b, ldb, bpack, c, ldc, mr, nr, acc, bias, epi, res, ldr);
}

/* 12 x 32: for products whose B panels stream from L2 (a MatMul's packed
 * weights, kc x 32 floats per panel), 24 FMAs per k step share the two B
 * vectors instead of 16, so B's traffic per FMA falls by a third.  Convolution
 * weights keep the 8-row kernel: their channel counts are multiples of 8, and
 * 12-row panels would pad 16 rows to 24. */
__attribute__((target("avx512f"))) static void ukr_avx512_12_epi(int64_t kc, const float *a,
                                                                 const float *b, float *c,
                                                                 int64_t ldc, int mr, int nr,
                                                                 int acc, const float *bias,
                                                                 const cvm_gemm_epi *epi,
                                                                 const float *res, int64_t ldr)
{
    __m512 x0[12], x1[12];
#pragma GCC unroll 12
    for (int r = 0; r < 12; r++)
        x0[r] = x1[r] = _mm512_setzero_ps();
    for (int64_t k = 0; k < kc; k++) {
        _mm_prefetch((const char *)(b + 512), _MM_HINT_T0);
        _mm_prefetch((const char *)(b + 512 + 16), _MM_HINT_T0);
        /* the next row panel of A, as in ukr8x32 */
        _mm_prefetch((const char *)(a + 12 * kc), _MM_HINT_T0);
        __m512 b0 = _mm512_loadu_ps(b), b1 = _mm512_loadu_ps(b + 16);
#pragma GCC unroll 12
        for (int r = 0; r < 12; r++) {
            __m512 av = _mm512_set1_ps(a[r]);
            x0[r] = _mm512_fmadd_ps(av, b0, x0[r]);
            x1[r] = _mm512_fmadd_ps(av, b1, x1[r]);
        }
        a += 12;
        b += 32;
    }
    __mmask16 m0 = nr >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << nr) - 1u);
    __mmask16 m1 = nr >= 32 ? (__mmask16)0xFFFF
                            : nr > 16 ? (__mmask16)((1u << (nr - 16)) - 1u) : (__mmask16)0;
#pragma GCC unroll 12
    for (int r = 0; r < 12; r++) {
        if (r >= mr)
            break;
        float *cr = c + r * ldc;
        __m512 y0 = x0[r], y1 = x1[r];
        if (acc) {
            y0 = _mm512_add_ps(y0, _mm512_maskz_loadu_ps(m0, cr));
            y1 = _mm512_add_ps(y1, _mm512_maskz_loadu_ps(m1, cr + 16));
        } else if (bias) {
            __m512 bv = _mm512_set1_ps(bias[r]);
            y0 = _mm512_add_ps(y0, bv);
            y1 = _mm512_add_ps(y1, bv);
        }
        if (epi) {
            __m512 r0 = y0, r1 = y1;
            if (res) {
                r0 = _mm512_maskz_loadu_ps(m0, res + r * ldr);
                r1 = _mm512_maskz_loadu_ps(m1, res + r * ldr + 16);
            }
            if (res && epi->add_first) {
                y0 = _mm512_add_ps(y0, r0);
                y1 = _mm512_add_ps(y1, r1);
            }
            y0 = cvm_act512(y0, epi);
            y1 = cvm_act512(y1, epi);
            if (res && !epi->add_first) {
                y0 = _mm512_add_ps(y0, r0);
                y1 = _mm512_add_ps(y1, r1);
            }
        }
        _mm512_mask_storeu_ps(cr, m0, y0);
        _mm512_mask_storeu_ps(cr + 16, m1, y1);
    }
}

__attribute__((target("avx512f"))) static void ukr_avx512_12(int64_t kc, const float *a,
                                                             const float *b, float *c,
                                                             int64_t ldc, int mr, int nr, int acc,
                                                             const float *bias)
{
    ukr_avx512_12_epi(kc, a, b, c, ldc, mr, nr, acc, bias, NULL, NULL, 0);
}

__attribute__((target("avx512f"))) static void ukr_avx512(int64_t kc, const float *a,
                                                          const float *b, float *c, int64_t ldc,
                                                          int mr, int nr, int acc,
                                                          const float *bias)
{
    ukr_avx512_epi(kc, a, b, c, ldc, mr, nr, acc, bias, NULL, NULL, 0);
}
#endif

static const cvm_gemm_kernel k_generic = {"generic", G_MR, G_NR, ukr_generic, NULL, NULL};
#ifdef CVM_GEMM_X86
static const cvm_gemm_kernel k_avx2 = {"avx2", 6, 16, ukr_avx2, NULL, NULL};
static const cvm_gemm_kernel k_avx512 = {"avx512", 8, 32, ukr_avx512, ukr_avx512_epi,
                                         ukr_avx512_packb};
static const cvm_gemm_kernel k_avx512_12 = {"avx512_12", 12, 32, ukr_avx512_12,
                                            ukr_avx512_12_epi, NULL};
#endif

const cvm_gemm_kernel *cvm_gemm_kernel_named(const char *name)
{
    if (strcmp(name, "generic") == 0)
        return &k_generic;
#ifdef CVM_GEMM_X86
    __builtin_cpu_init();
    if (strcmp(name, "avx2") == 0 && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        return &k_avx2;
    if (strcmp(name, "avx512") == 0 && __builtin_cpu_supports("avx512f"))
        return &k_avx512;
    if (strcmp(name, "avx512_12") == 0 && __builtin_cpu_supports("avx512f"))
        return &k_avx512_12;
#endif
    return NULL;
}

const cvm_gemm_kernel *cvm_gemm_kernel_best(void)
{
    /* Races here are benign: every thread computes the same answer. */
    static const cvm_gemm_kernel *volatile best;
    const cvm_gemm_kernel *k = best;
    if (k)
        return k;
    k = cvm_gemm_kernel_named("avx512");
    if (!k)
        k = cvm_gemm_kernel_named("avx2");
    if (!k)
        k = &k_generic;
    best = k;
    return k;
}

const cvm_gemm_kernel *cvm_gemm_kernel_rows(int64_t M)
{
    const cvm_gemm_kernel *k = cvm_gemm_kernel_best();
    const char *env = getenv("CVM_GEMM_TALL");
    if (M < 48 || (env && strcmp(env, "0") == 0) || strcmp(k->name, "avx512") != 0)
        return k;
    /* 12-row panels only where they pad M by at most 4% more than 8-row
     * ones: 96, 128, 256, 384 or 580 rows, not 64 (72) or 80 (84) */
    int64_t p8 = (M + 7) / 8 * 8, p12 = (M + 11) / 12 * 12;
    if (p12 * 100 > p8 * 104)
        return k;
    const cvm_gemm_kernel *t = cvm_gemm_kernel_named("avx512_12");
    return t ? t : k;
}

/* --------------------------------------------------------------- packing */

#ifdef CVM_GEMM_X86
/* Eight or twelve row-major rows into an MR-wide A panel: 8x8 blocks
 * transposed in registers, rows 8..11 through 4x4 transposes of 128-bit
 * halves (a MatMul's activations arrive row-major, and a scalar gather of one
 * float per row per k cost more than the GEMM on some layers).  Returns how
 * many k were packed (a multiple of 8). */
__attribute__((target("avx2"))) static int64_t pack_a_t(const float *src, int64_t rs, int64_t kc,
                                                       int MR, float *dst)
{
    int64_t k = 0;
    for (; k + 8 <= kc; k += 8) {
        __m256 r0 = _mm256_loadu_ps(src + 0 * rs + k), r1 = _mm256_loadu_ps(src + 1 * rs + k);
        __m256 r2 = _mm256_loadu_ps(src + 2 * rs + k), r3 = _mm256_loadu_ps(src + 3 * rs + k);
        __m256 r4 = _mm256_loadu_ps(src + 4 * rs + k), r5 = _mm256_loadu_ps(src + 5 * rs + k);
        __m256 r6 = _mm256_loadu_ps(src + 6 * rs + k), r7 = _mm256_loadu_ps(src + 7 * rs + k);
        __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1);
        __m256 t2 = _mm256_unpacklo_ps(r2, r3), t3 = _mm256_unpackhi_ps(r2, r3);
        __m256 t4 = _mm256_unpacklo_ps(r4, r5), t5 = _mm256_unpackhi_ps(r4, r5);
        __m256 t6 = _mm256_unpacklo_ps(r6, r7), t7 = _mm256_unpackhi_ps(r6, r7);
        __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE);
        __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xEE);
        __m256 u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xEE);
        __m256 u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xEE);
        /* column j of the 8x8 block: k + j for rows 0..7 */
        const __m256 col[8] = {
            _mm256_permute2f128_ps(u0, u4, 0x20), _mm256_permute2f128_ps(u1, u5, 0x20),
            _mm256_permute2f128_ps(u2, u6, 0x20), _mm256_permute2f128_ps(u3, u7, 0x20),
            _mm256_permute2f128_ps(u0, u4, 0x31), _mm256_permute2f128_ps(u1, u5, 0x31),
            _mm256_permute2f128_ps(u2, u6, 0x31), _mm256_permute2f128_ps(u3, u7, 0x31)};
        float *d = dst + k * MR;
        for (int j = 0; j < 8; j++)
            _mm256_storeu_ps(d + j * MR, col[j]);
        if (MR == 12) {
            /* rows 8..11: q_j holds k+j in its low half and k+j+4 in its high half */
            __m256 s8 = _mm256_loadu_ps(src + 8 * rs + k), s9 = _mm256_loadu_ps(src + 9 * rs + k);
            __m256 s10 = _mm256_loadu_ps(src + 10 * rs + k);
            __m256 s11 = _mm256_loadu_ps(src + 11 * rs + k);
            __m256 v0 = _mm256_unpacklo_ps(s8, s9), v1 = _mm256_unpackhi_ps(s8, s9);
            __m256 v2 = _mm256_unpacklo_ps(s10, s11), v3 = _mm256_unpackhi_ps(s10, s11);
            const __m256 q[4] = {_mm256_shuffle_ps(v0, v2, 0x44), _mm256_shuffle_ps(v0, v2, 0xEE),
                                 _mm256_shuffle_ps(v1, v3, 0x44), _mm256_shuffle_ps(v1, v3, 0xEE)};
            for (int j = 0; j < 4; j++) {
                _mm_storeu_ps(d + j * 12 + 8, _mm256_castps256_ps128(q[j]));
                _mm_storeu_ps(d + (j + 4) * 12 + 8, _mm256_extractf128_ps(q[j], 1));
            }
        }
    }
    return k;
}
#endif

void cvm_gemm_pack_a(const cvm_gemm_kernel *kern, const float *a, int64_t rs, int64_t cs,
                     int64_t m0, int64_t mc, int64_t k0, int64_t kc, float alpha, float *dst)
{
    const int MR = kern->mr;
    for (int64_t p = 0; p < mc; p += MR) {
        int rows = mc - p < MR ? (int)(mc - p) : MR;
        const float *src = a + (m0 + p) * rs + k0 * cs;
#ifdef CVM_GEMM_X86
        if (cs == 1 && alpha == 1.0f && (MR == 8 || MR == 12) && rows == MR &&
            __builtin_cpu_supports("avx2")) {
            int64_t k = pack_a_t(src, rs, kc, MR, dst);
            dst += k * MR;
            for (; k < kc; k++) {
                for (int r = 0; r < MR; r++)
                    dst[r] = src[r * rs + k];
                dst += MR;
            }
            continue;
        }
#endif
        if (cs == 1 && alpha == 1.0f) {
            for (int64_t k = 0; k < kc; k++) {
                int r = 0;
                for (; r < rows; r++)
                    dst[r] = src[r * rs + k];
                for (; r < MR; r++)
                    dst[r] = 0.0f;
                dst += MR;
            }
        } else {
            for (int64_t k = 0; k < kc; k++) {
                int r = 0;
                for (; r < rows; r++)
                    dst[r] = alpha * src[r * rs + k * cs];
                for (; r < MR; r++)
                    dst[r] = 0.0f;
                dst += MR;
            }
        }
    }
}

#ifdef CVM_GEMM_X86
/* Unit-stride B into 32-wide panels with masked vector copies: the rows are
 * short (128 bytes), so a memcpy call per row costs more than the copy. */
__attribute__((target("avx512f"))) static void pack_b_nr32(const float *b, int64_t rs, int64_t k0,
                                                           int64_t kc, int64_t n0, int64_t nc,
                                                           float *dst)
{
    for (int64_t p = 0; p < nc; p += 32) {
        int cols = nc - p < 32 ? (int)(nc - p) : 32;
        const float *src = b + k0 * rs + n0 + p;
        if (cols == 32) {
            for (int64_t k = 0; k < kc; k++) {
                _mm512_storeu_ps(dst, _mm512_loadu_ps(src));
                _mm512_storeu_ps(dst + 16, _mm512_loadu_ps(src + 16));
                src += rs;
                dst += 32;
            }
        } else {
            __mmask16 m0 = cols >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << cols) - 1u);
            __mmask16 m1 = cols > 16 ? (__mmask16)((1u << (cols - 16)) - 1u) : (__mmask16)0;
            for (int64_t k = 0; k < kc; k++) {
                _mm512_storeu_ps(dst, _mm512_maskz_loadu_ps(m0, src));
                _mm512_storeu_ps(dst + 16, _mm512_maskz_loadu_ps(m1, src + 16));
                src += rs;
                dst += 32;
            }
        }
    }
}
#endif

void cvm_gemm_pack_b(const cvm_gemm_kernel *kern, const float *b, int64_t rs, int64_t cs,
                     int64_t k0, int64_t kc, int64_t n0, int64_t nc, float alpha, float *dst)
{
    const int NR = kern->nr;
#ifdef CVM_GEMM_X86
    if (kern == &k_avx512 && cs == 1 && alpha == 1.0f) {
        pack_b_nr32(b, rs, k0, kc, n0, nc, dst);
        return;
    }
#endif
    for (int64_t p = 0; p < nc; p += NR) {
        int cols = nc - p < NR ? (int)(nc - p) : NR;
        const float *src = b + k0 * rs + (n0 + p) * cs;
        for (int64_t k = 0; k < kc; k++) {
            const float *s = src + k * rs;
            int j = 0;
            if (cs == 1) {
                if (alpha == 1.0f) {
                    memcpy(dst, s, (size_t)cols * sizeof(float));
                    j = cols;
                } else
                    for (; j < cols; j++)
                        dst[j] = alpha * s[j];
            } else
                for (; j < cols; j++)
                    dst[j] = alpha * s[j * cs];
            for (; j < NR; j++)
                dst[j] = 0.0f;
            dst += NR;
        }
    }
}

static int64_t round_up(int64_t v, int64_t m) { return (v + m - 1) / m * m; }

size_t cvm_gemm_packed_a_size(const cvm_gemm_kernel *kern, int64_t M, int64_t K)
{
    return (size_t)(round_up(M, kern->mr) * (K > 0 ? K : 1));
}

size_t cvm_gemm_packed_b_size(const cvm_gemm_kernel *kern, int64_t K, int64_t N)
{
    return (size_t)(round_up(N, kern->nr) * (K > 0 ? K : 1));
}

/* Layout of a prepacked operand: K chunk by K chunk; within a chunk starting
 * at k0 (length kc), panel p of the padded M (or N) extent starts at
 * k0 * padded + p * kc * panel_width. */
void cvm_gemm_prepack_a(const cvm_gemm_kernel *kern, int64_t M, int64_t K, const float *a,
                        int64_t rs, int64_t cs, float alpha, float *dst)
{
    int64_t Mp = round_up(M, kern->mr);
    const int64_t kcs = cvm_gemm_kc(K);
    for (int64_t k0 = 0; k0 < K; k0 += kcs) {
        int64_t kc = K - k0 < kcs ? K - k0 : kcs;
        cvm_gemm_pack_a(kern, a, rs, cs, 0, M, k0, kc, alpha, dst + k0 * Mp);
    }
}

void cvm_gemm_prepack_b(const cvm_gemm_kernel *kern, int64_t K, int64_t N, const float *b,
                        int64_t rs, int64_t cs, float alpha, float *dst)
{
    int64_t Np = round_up(N, kern->nr);
    const int64_t kcs = cvm_gemm_kc(K);
    for (int64_t k0 = 0; k0 < K; k0 += kcs) {
        int64_t kc = K - k0 < kcs ? K - k0 : kcs;
        cvm_gemm_pack_b(kern, b, rs, cs, k0, kc, 0, N, alpha, dst + k0 * Np);
    }
}

const float *cvm_gemm_packed_a_block(const cvm_gemm_kernel *kern, const float *packed, int64_t M,
                                     int64_t k0, int64_t kc, int64_t m0)
{
    /* The m0 / mr whole panels before m0 each hold kc * mr floats. */
    return packed + k0 * round_up(M, kern->mr) + m0 * kc;
}

const float *cvm_gemm_packed_b_block(const cvm_gemm_kernel *kern, const float *packed, int64_t N,
                                     int64_t k0, int64_t kc, int64_t n0)
{
    return packed + k0 * round_up(N, kern->nr) + n0 * kc;
}

/* ---------------------------------------------------------------- driver */

int cvm_gemm_slots(const cvm_threadpool *pool)
{
    int n = pool ? cvm_threadpool_size(pool) : cvm_cpu_count();
    if (n < 1)
        n = 1;
    if (n > CVM_GEMM_MAX_SLOTS)
        n = CVM_GEMM_MAX_SLOTS;
    return n;
}

#define SLOT_FLOATS (CVM_GEMM_KC * (CVM_GEMM_NC + CVM_GEMM_MC) + 64)

size_t cvm_gemm_scratch_bytes(const cvm_gemm_kernel *kern, int slots)
{
    (void)kern;
    if (slots < 1)
        slots = 1;
    /* Panel widths never exceed 32, so NC and MC (multiples of 32) hold whole panels. */
    return (size_t)slots * SLOT_FLOATS * sizeof(float) + 64;
}

typedef struct gemm_job {
    const cvm_gemm_op *op;
    float *scratch;
    int slots;
    int64_t npanels; /* NR-wide column panels per product */
    int64_t ntiles;  /* N tiles per product: tile t holds panels
                      * [npanels*t/ntiles, npanels*(t+1)/ntiles) */
    int64_t msplit;  /* M parts per (product, N tile) */
    int64_t items;
    cvm_ranges ranges;           /* the items, when dynamic */
    int dynamic;
    int packb; /* B from op->raw_b_of, packed by the kernel (ukr_packb) */
} gemm_job;

/* Whether item `it` ends one of several workers' ranges (see cvm_ranges):
 * the columns after it are another worker's (after the last range, the
 * first worker's at the start of the next row). */
static int range_end(const gemm_job *j, int64_t it)
{
    for (int i = 0; j->slots > 1 && i < j->slots; i++)
        if (j->items * (i + 1) / j->slots == it + 1)
            return 1;
    return 0;
}

static void gemm_item(const gemm_job *j, float *bbuf, float *abuf, int64_t item)
{
    const int edge = range_end(j, item);
    const cvm_gemm_op *op = j->op;
    const int MR = op->kern->mr, NR = op->kern->nr;
    int64_t ms = item % j->msplit;
    int64_t rest = item / j->msplit;
    int64_t tile = rest % j->ntiles;
    int64_t b = rest / j->ntiles;
    int64_t n0 = j->npanels * tile / j->ntiles * NR;
    int64_t n1 = j->npanels * (tile + 1) / j->ntiles * NR;
    int64_t nc = (n1 < op->N ? n1 : op->N) - n0;
    int64_t mpanels = (op->M + MR - 1) / MR;
    int64_t m_lo = mpanels * ms / j->msplit * MR;
    int64_t m_hi = mpanels * (ms + 1) / j->msplit * MR;
    if (m_hi > op->M)
        m_hi = op->M;
    if (m_lo >= m_hi || nc <= 0)
        return;
    float *c = op->c_of(op->ctx, b);
    const float *bias = op->bias_of && !op->accumulate ? op->bias_of(op->ctx, b) : NULL;
    int64_t ldr = 0;
    const float *res = op->epi && op->res_of ? op->res_of(op->ctx, b, &ldr) : NULL;
    int in_regs = op->epi && op->kern->ukr_epi;
    int64_t ldb = 0;
    const float *raw_b = j->packb ? op->raw_b_of(op->ctx, b, &ldb) : NULL;
    const int64_t kcs = cvm_gemm_kc(op->K);
    for (int64_t k0 = 0; k0 < op->K; k0 += kcs) {
        int64_t kc = op->K - k0 < kcs ? op->K - k0 : kcs;
        int acc = op->accumulate || k0 > 0;
        int last = k0 + kc >= op->K;
        /* raw: B unpacked, packed by the first row panel's kernel calls */
        const float *raw = NULL, *bp = bbuf;
        if (raw_b)
            raw = raw_b + k0 * ldb + n0;
        else
            bp = op->get_b(op->ctx, b, k0, kc, n0, nc, bbuf);
        /* Blocks start on panel boundaries: a prepacked A is addressed by
         * whole panels, and MC (128) is not a multiple of every MR (6). */
        const int64_t mstep = CVM_GEMM_MC / MR * MR;
        for (int64_t m0 = m_lo; m0 < m_hi; m0 += mstep) {
            int64_t mc = m_hi - m0 < mstep ? m_hi - m0 : mstep;
            const float *ap = op->get_a(op->ctx, b, m0, mc, k0, kc, abuf);
            for (int64_t i = 0; i < mc; i += MR) {
                int mr = mc - i < MR ? (int)(mc - i) : MR;
                const float *api = ap + i * kc;
                const float *bi = bias ? bias + m0 + i : NULL;
                float *crow = c + (m0 + i) * op->ldc + n0;
                for (int64_t jn = 0; jn < nc; jn += NR) {
                    int nr = nc - jn < NR ? (int)(nc - jn) : NR;
                    if (raw && m0 == m_lo && i == 0) {
                        int e = last && in_regs;
                        /* no prefetch past the last tile of a worker's
                         * range: those columns are the next worker's (the
                         * region it wrote in the layer before), and reading
                         * them pulls its lines over (a chain of 20x20 1x1
                         * layers on two threads: 16-18% more time summed over
                         * both than on one, 10-11% without) */
                        op->kern->ukr_packb(kc, api, raw + jn, ldb, bbuf + jn * kc, crow + jn,
                                            op->ldc, mr, nr, acc, acc ? NULL : bi,
                                            e ? op->epi : NULL,
                                            e && res ? res + (m0 + i) * ldr + n0 + jn : NULL, ldr,
                                            !edge || jn + 3 * NR <= nc);
                    } else if (last && in_regs)
                        op->kern->ukr_epi(kc, api, bp + jn * kc, crow + jn, op->ldc, mr, nr, acc,
                                          acc ? NULL : bi, op->epi,
                                          res ? res + (m0 + i) * ldr + n0 + jn : NULL, ldr);
                    else
                        op->kern->ukr(kc, api, bp + jn * kc, crow + jn, op->ldc, mr, nr, acc,
                                      acc ? NULL : bi);
                    if (last && !in_regs && op->epilogue)
                        op->epilogue(op->ctx, b, m0 + i, mr, n0 + jn, nr, crow + jn, op->ldc);
                }
            }
        }
    }
}

static void gemm_slot(void *arg, size_t begin, size_t end)
{
    gemm_job *j = arg;
    for (size_t s = begin; s < end; s++) {
        float *base = j->scratch + s * SLOT_FLOATS;
        float *bbuf = base;
        float *abuf = base + (size_t)CVM_GEMM_KC * CVM_GEMM_NC;
        if (j->dynamic) {
            /* for a convolution each core gets the image region it wrote
             * in the layer before (see cvm_ranges) */
            int cursor = 0;
            for (int64_t it; (it = cvm_ranges_next(&j->ranges, &cursor)) >= 0;)
                gemm_item(j, bbuf, abuf, it);
            continue;
        }
        int64_t lo = j->items * (int64_t)s / j->slots;
        int64_t hi = j->items * (int64_t)(s + 1) / j->slots;
        for (int64_t it = lo; it < hi; it++)
            gemm_item(j, bbuf, abuf, it);
    }
}

static void gemm_k0(const cvm_gemm_op *op)
{
    /* An empty sum: C is the bias (or zero), or unchanged when accumulating. */
    if (op->accumulate)
        return;
    for (int64_t b = 0; b < op->batch; b++) {
        float *c = op->c_of(op->ctx, b);
        const float *bias = op->bias_of ? op->bias_of(op->ctx, b) : NULL;
        for (int64_t m = 0; m < op->M; m++)
            for (int64_t n = 0; n < op->N; n++)
                c[m * op->ldc + n] = bias ? bias[m] : 0.0f;
        if (op->epilogue)
            for (int64_t m = 0; m < op->M; m++)
                op->epilogue(op->ctx, b, m, 1, 0, (int)(op->N < INT32_MAX ? op->N : INT32_MAX),
                             c + m * op->ldc, op->ldc);
    }
}

void cvm_gemm_run(const cvm_gemm_op *op, cvm_threadpool *pool, void *scratch, int slots)
{
    if (op->M <= 0 || op->N <= 0 || op->batch <= 0)
        return;
    if (op->K <= 0) {
        gemm_k0(op);
        return;
    }
    int T = pool ? cvm_threadpool_size(pool) : 1;
    if (T > slots)
        T = slots;
    if (T < 1)
        T = 1;
    const int MR = op->kern->mr, NR = op->kern->nr;
    gemm_job j = {.op = op, .slots = T};
    j.scratch = (float *)(((uintptr_t)scratch + 63) & ~(uintptr_t)63);
    /* Tiles of at most NC columns, as equal as whole panels allow.  With
     * few tiles per worker, their count is rounded up to a multiple of the
     * workers: a 40x40 map (50 panels) in 7 tiles of up to 8 panels left
     * one of two workers with 4 tiles and the other with 3, a quarter of
     * the second idle; 8 tiles of 6-7 panels split evenly. */
    const int64_t max_panels = CVM_GEMM_NC / NR;
    j.npanels = (op->N + NR - 1) / NR;
    j.ntiles = (j.npanels + max_panels - 1) / max_panels;
    if (T > 1 && op->batch * j.ntiles < 8 * (int64_t)T) {
        int64_t t = j.ntiles;
        while (t < j.npanels && (op->batch * t) % T != 0)
            t++;
        if ((op->batch * t) % T == 0)
            j.ntiles = t;
    }
    j.msplit = 1;
    /* With prepacked B, rows are cut too, for about 4 items per worker:
     * free of packing, and the dynamic hand-out below has room to even out
     * a worker that runs slower (RF-DETR nano on 2 threads of a shared VM:
     * 9-13% faster by the best run than fixed shares, in alternation). */
    int64_t per = T > 1 && op->b_prepacked ? 4 * (int64_t)T : T;
    if (op->batch * j.ntiles < per) {
        int64_t mpanels = (op->M + MR - 1) / MR;
        int64_t want = (per + op->batch * j.ntiles - 1) / (op->batch * j.ntiles);
        if (per > T && want > mpanels / 4)
            want = mpanels / 4 > 0 ? mpanels / 4 : 1; /* parts of 4+ panels */
        j.msplit = want < mpanels ? want : mpanels;
    }
    j.items = op->batch * j.ntiles * j.msplit;
    j.dynamic = T > 1;
    if (j.items < T)
        j.slots = T = (int)j.items;
    cvm_ranges_init(&j.ranges, j.items, T);
    /* Packing B inside the first row panel's kernel calls saves a pass over
     * the tile: 1.0-2.5% of YOLOX-nano, YOLO11n, YOLOv8n and NanoDet on one
     * thread (in-process alternation).  On two threads each worker packs the
     * N tiles it takes into its own buffer, as long as no tile is cut into
     * row parts (which would each pack it again): 1-3% on the same four
     * models (`bench/ab_libs.py`, two runs of 15 rounds). */
    j.packb = (T == 1 || j.msplit == 1) && op->raw_b_of && op->kern->ukr_packb;
    cvm_parallel_for(pool, (size_t)T, 1, gemm_slot, &j);
}

/* ------------------------------------------------------ strided wrapper */

typedef struct strided_ctx {
    const cvm_gemm_kernel *kern;
    const float *a, *b;
    int64_t rsa, csa, rsb, csb;
    float *c;
    const float *bias;
} strided_ctx;

static const float *strided_a(const void *vctx, int64_t batch, int64_t m0, int64_t mc, int64_t k0,
                              int64_t kc, float *buf)
{
    const strided_ctx *s = vctx;
    (void)batch;
    cvm_gemm_pack_a(s->kern, s->a, s->rsa, s->csa, m0, mc, k0, kc, 1.0f, buf);
    return buf;
}

static const float *strided_b(const void *vctx, int64_t batch, int64_t k0, int64_t kc, int64_t n0,
                              int64_t nc, float *buf)
{
    const strided_ctx *s = vctx;
    (void)batch;
    cvm_gemm_pack_b(s->kern, s->b, s->rsb, s->csb, k0, kc, n0, nc, 1.0f, buf);
    return buf;
}

static float *strided_c(const void *vctx, int64_t batch)
{
    (void)batch;
    return ((const strided_ctx *)vctx)->c;
}

static const float *strided_bias(const void *vctx, int64_t batch)
{
    (void)batch;
    return ((const strided_ctx *)vctx)->bias;
}

void cvm_sgemm_strided(const cvm_gemm_kernel *kern, int64_t M, int64_t N, int64_t K, const float *a,
                       int64_t rsa, int64_t csa, const float *b, int64_t rsb, int64_t csb, float *c,
                       int64_t ldc, const float *bias, int accumulate, cvm_threadpool *pool,
                       void *scratch, int slots)
{
    strided_ctx s = {kern, a, b, rsa, csa, rsb, csb, c, bias};
    cvm_gemm_op op = {.kern = kern, .M = M, .N = N, .K = K, .batch = 1, .get_a = strided_a,
                      .get_b = strided_b, .ctx = &s, .c_of = strided_c, .ldc = ldc,
                      .bias_of = strided_bias, .accumulate = accumulate};
    cvm_gemm_run(&op, pool, scratch, slots);
}
