/* MatMul with a constant right-hand side in bfloat16 with float32 sums (the
 * opt-in bf16 precision): y[M,N] = act(a[M,K] * B[K,N] + bias[N]).
 *
 * B is packed once as 16-column AMX tiles of K pairs; per run the rows of a
 * are converted to bf16 once (a row's K pairs are its neighbouring values,
 * so a tile row is the row itself), then workers take column chunks whose B
 * tiles stay in L2 and sweep the rows.  AMX tiles where the CPU and the
 * kernel allow them, AVX512_BF16 dot products otherwise. */
#ifndef CVM_BACKENDS_CPU_MATMUL_BF16_H
#define CVM_BACKENDS_CPU_MATMUL_BF16_H

#include <stddef.h>
#include <stdint.h>

#include "backends/cpu/bf16_tiles.h"
#include "backends/cpu/gemm_f32.h"
#include "base/threadpool.h"
#include "cvm/cvm.h"

typedef struct cvm_mbf {
    int kind;
    int64_t M, N, K;
    int64_t mpad, npad;   /* M and N rounded up to 32 */
    int64_t kb, nkb;      /* K pairs per block (at most 16) and blocks; kb * nkb >= ceil(K / 2) */
    int64_t nc;           /* columns per work item, a multiple of 32 */
    uint16_t *w;          /* [npad / 16][nkb][kb][16][2] */
    int slots;
} cvm_mbf;

/* Packs B (element (k, n) at b[k * rsb + n * csb], times alpha). */
cvm_status cvm_mbf_prepare(cvm_mbf *p, int kind, int64_t M, int64_t N, int64_t K, const float *b,
                           int64_t rsb, int64_t csb, float alpha, int slots);
void cvm_mbf_free(cvm_mbf *p);
size_t cvm_mbf_scratch_bytes(const cvm_mbf *p);
/* Row m of a at a + m * lda, of y at y + m * ldy; bias (per column) and epi
 * (activation after the bias) may be NULL. */
void cvm_mbf_run(const cvm_mbf *p, const float *a, int64_t lda, float *y, int64_t ldy,
                 const float *bias, const cvm_gemm_epi *epi, cvm_threadpool *pool, void *scratch);

#endif
