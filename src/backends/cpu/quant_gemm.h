/*
 * Integer dot products for the quantized kernels.  Operands are int16 with
 * their zero points already subtracted (u8/s8 minus a zero point always fits),
 * so one code path serves every u8/s8 combination, and the int16 x int16 ->
 * int32 multiply-add pattern vectorises to pmaddwd-style instructions.
 */
#ifndef CVM_BACKENDS_CPU_QUANT_GEMM_H
#define CVM_BACKENDS_CPU_QUANT_GEMM_H

#include <stdint.h>

/* Rounds K up so rows can be zero-padded to a whole number of vectors. */
static inline int64_t cvm_q_kpad(int64_t k) { return (k + 15) & ~(int64_t)15; }

/* r[i][j] = dot(a_i, b_j) over K for 4 rows of a and 2 rows of b. */
static inline void cvm_q_dot4x2(const int16_t *restrict a0, const int16_t *restrict a1,
                                const int16_t *restrict a2, const int16_t *restrict a3,
                                const int16_t *restrict b0, const int16_t *restrict b1, int64_t K,
                                int32_t r[8])
{
    int32_t s00 = 0, s01 = 0, s10 = 0, s11 = 0, s20 = 0, s21 = 0, s30 = 0, s31 = 0;
    for (int64_t k = 0; k < K; k++) {
        int32_t x0 = b0[k], x1 = b1[k];
        s00 += a0[k] * x0;
        s01 += a0[k] * x1;
        s10 += a1[k] * x0;
        s11 += a1[k] * x1;
        s20 += a2[k] * x0;
        s21 += a2[k] * x1;
        s30 += a3[k] * x0;
        s31 += a3[k] * x1;
    }
    r[0] = s00, r[1] = s01, r[2] = s10, r[3] = s11, r[4] = s20, r[5] = s21, r[6] = s30, r[7] = s31;
}

static inline int32_t cvm_q_dot(const int16_t *restrict a, const int16_t *restrict b, int64_t K)
{
    int32_t s = 0;
    for (int64_t k = 0; k < K; k++)
        s += a[k] * b[k];
    return s;
}

/*
 * C[m][n] = dot(A[m], B[n]) for m < M, n < N; A rows are lda apart, B rows
 * ldb apart, C rows ldc apart.
 */
static inline void cvm_q_gemm_nt(const int16_t *A, int64_t lda, const int16_t *B, int64_t ldb, int32_t *C,
                                 int64_t ldc, int64_t M, int64_t N, int64_t K)
{
    int64_t m = 0;
    for (; m + 4 <= M; m += 4) {
        const int16_t *a0 = A + m * lda, *a1 = a0 + lda, *a2 = a1 + lda, *a3 = a2 + lda;
        int32_t *c0 = C + m * ldc;
        int64_t n = 0;
        int32_t r[8];
        for (; n + 2 <= N; n += 2) {
            cvm_q_dot4x2(a0, a1, a2, a3, B + n * ldb, B + (n + 1) * ldb, K, r);
            c0[n] = r[0], c0[n + 1] = r[1];
            c0[ldc + n] = r[2], c0[ldc + n + 1] = r[3];
            c0[2 * ldc + n] = r[4], c0[2 * ldc + n + 1] = r[5];
            c0[3 * ldc + n] = r[6], c0[3 * ldc + n + 1] = r[7];
        }
        for (; n < N; n++) {
            const int16_t *b = B + n * ldb;
            c0[n] = cvm_q_dot(a0, b, K);
            c0[ldc + n] = cvm_q_dot(a1, b, K);
            c0[2 * ldc + n] = cvm_q_dot(a2, b, K);
            c0[3 * ldc + n] = cvm_q_dot(a3, b, K);
        }
    }
    for (; m < M; m++)
        for (int64_t n = 0; n < N; n++)
            C[m * ldc + n] = cvm_q_dot(A + m * lda, B + n * ldb, K);
}

#endif
