/*
 * The float32 GEMM core shared by Conv, ConvTranspose, MatMul and Gemm.
 *
 * C[M,N] (=|+=) A[M,K] * B[K,N] (+ per-row bias), computed Goto-style: K is
 * cut into chunks of CVM_GEMM_KC, A into panels of kernel->mr rows and B into
 * panels of kernel->nr columns, each stored contiguously ("packed") so that
 * the micro-kernel streams both with unit stride.  Operands reach the driver
 * through callbacks that return packed blocks, so that a constant operand can
 * be packed once in prepare() (the callback just returns a pointer into it)
 * and a convolution can pack its im2col columns straight from the image.
 */
#ifndef CVM_BACKENDS_CPU_GEMM_F32_H
#define CVM_BACKENDS_CPU_GEMM_F32_H

#include <stddef.h>
#include <stdint.h>

#include "base/threadpool.h"

#define CVM_GEMM_KC 384 /* most K per chunk (see cvm_gemm_kc) */
#define CVM_GEMM_MC 128 /* rows of A packed at a time when A is not prepacked */
#define CVM_GEMM_NC 256 /* columns of B packed at a time (per thread) */
#define CVM_GEMM_MAX_SLOTS 64

/* The K chunk of a product of depth K: K cut into the fewest chunks of at
 * most CVM_GEMM_KC, all of one length (the last may be shorter).  Every pass
 * over C after the first reloads and stores the whole output again, so
 * RF-DETR's and DINOv2's depth-384 layers run as one chunk, not 256 + 128,
 * and an im2col depth of 576 as two of 288, not 256 + 256 + 64.  Packers and
 * readers of a packed operand use the same chunks. */
static inline int64_t cvm_gemm_kc(int64_t K)
{
    if (K <= CVM_GEMM_KC)
        return CVM_GEMM_KC;
    int64_t n = (K + 255) / 256;
    return (K + n - 1) / n;
}

/* A register-blocked micro-kernel: computes the mr x nr tile
 *   C = A_panel * B_panel (+ bias[r])   when acc == 0
 *   C += A_panel * B_panel              when acc != 0
 * where the panels hold kc steps of MR (resp. NR) values, zero padded, and
 * only the top-left mr x nr corner (mr <= MR, nr <= NR) is stored. */
typedef void (*cvm_gemm_ukr)(int64_t kc, const float *a, const float *b, float *c, int64_t ldc,
                             int mr, int nr, int acc, const float *bias);

/* An epilogue applied to a finished tile in registers, before it is stored:
 *   C = act(A*B + bias (+ R when add_first)) (+ R otherwise)
 * act is one of the CVM_FUSED_* codes of graph/fuse.h; R (may be NULL) is
 * read at res[r * ldr + j] for the tile's row r and column j. */
typedef struct cvm_gemm_epi {
    int act, add_first;
    float alpha, beta;
} cvm_gemm_epi;

/* A micro-kernel with the epilogue; called only for a tile's last K chunk. */
typedef void (*cvm_gemm_ukr_epi)(int64_t kc, const float *a, const float *b, float *c,
                                 int64_t ldc, int mr, int nr, int acc, const float *bias,
                                 const cvm_gemm_epi *epi, const float *res, int64_t ldr);

/* Like cvm_gemm_ukr_epi (epi may be NULL), but B is read unpacked, row k
 * of the panel at b + k * ldb (only the first nr columns; the rest count as
 * zero), and written packed to bpack (kc * nr floats) on the way, so that
 * the other row panels of the tile read the packed copy.  With `ahead`, the
 * rows' columns two panels on are prefetched (the caller's next calls);
 * without, nothing past this panel is touched. */
typedef void (*cvm_gemm_ukr_packb)(int64_t kc, const float *a, const float *b, int64_t ldb,
                                   float *bpack, float *c, int64_t ldc, int mr, int nr, int acc,
                                   const float *bias, const cvm_gemm_epi *epi, const float *res,
                                   int64_t ldr, int ahead);

typedef struct cvm_gemm_kernel {
    const char *name;
    int mr, nr;
    cvm_gemm_ukr ukr;
    cvm_gemm_ukr_epi ukr_epi; /* NULL: the driver falls back on the op's epilogue callback */
    cvm_gemm_ukr_packb ukr_packb; /* NULL: B always comes through get_b */
} cvm_gemm_kernel;

/* The fastest kernel this CPU supports (chosen once). */
const cvm_gemm_kernel *cvm_gemm_kernel_best(void);
/* The kernel for products of M rows: the 12-row AVX-512 one where the best
 * is the 8-row one, M >= 48 and 12-row panels pad M hardly more (its B
 * panels, which stream from L2, then feed 24 FMAs per pair of vectors
 * instead of 16); else the best.  CVM_GEMM_TALL=0 in the environment keeps
 * the best. */
const cvm_gemm_kernel *cvm_gemm_kernel_rows(int64_t M);
/* "avx512", "avx512_12", "avx2" or "generic"; NULL when unknown or unsupported here. */
const cvm_gemm_kernel *cvm_gemm_kernel_named(const char *name);

/* Plain triple loop, the reference the fast paths are tested against:
 * C[m*ldc+n] = alpha * sum_k A(m,k) B(k,n) + beta * C[m*ldc+n], with
 * A(m,k) = a[m*rsa + k*csa] and B(k,n) = b[k*rsb + n*csb].  beta == 0 ignores C. */
void cvm_sgemm_ref(int64_t M, int64_t N, int64_t K, float alpha, const float *a, int64_t rsa,
                   int64_t csa, const float *b, int64_t rsb, int64_t csb, float beta, float *c,
                   int64_t ldc);

/* Packing a strided matrix X(i,j) = x[i*rs + j*cs], scaled by alpha. */
/* A block: rows m0..m0+mc, k k0..k0+kc into ceil(mc/mr) panels of kc*mr. */
void cvm_gemm_pack_a(const cvm_gemm_kernel *kern, const float *a, int64_t rs, int64_t cs,
                     int64_t m0, int64_t mc, int64_t k0, int64_t kc, float alpha, float *dst);
/* B block: k k0..k0+kc, columns n0..n0+nc into ceil(nc/nr) panels of kc*nr. */
void cvm_gemm_pack_b(const cvm_gemm_kernel *kern, const float *b, int64_t rs, int64_t cs,
                     int64_t k0, int64_t kc, int64_t n0, int64_t nc, float alpha, float *dst);

/* Whole-operand prepacking (for constant weights).  Sizes in floats. */
size_t cvm_gemm_packed_a_size(const cvm_gemm_kernel *kern, int64_t M, int64_t K);
size_t cvm_gemm_packed_b_size(const cvm_gemm_kernel *kern, int64_t K, int64_t N);
void cvm_gemm_prepack_a(const cvm_gemm_kernel *kern, int64_t M, int64_t K, const float *a,
                        int64_t rs, int64_t cs, float alpha, float *dst);
void cvm_gemm_prepack_b(const cvm_gemm_kernel *kern, int64_t K, int64_t N, const float *b,
                        int64_t rs, int64_t cs, float alpha, float *dst);
/* The packed block of a prepacked operand that the driver asks for (m0/n0 are
 * multiples of mr/nr, k0 a multiple of CVM_GEMM_KC). */
const float *cvm_gemm_packed_a_block(const cvm_gemm_kernel *kern, const float *packed, int64_t M,
                                     int64_t k0, int64_t kc, int64_t m0);
const float *cvm_gemm_packed_b_block(const cvm_gemm_kernel *kern, const float *packed, int64_t N,
                                     int64_t k0, int64_t kc, int64_t n0);

/* Operand callbacks: return the packed block, either a pointer into
 * prepacked data or `buf` after filling it (buf holds at least the block). */
typedef const float *(*cvm_gemm_get_a)(const void *ctx, int64_t batch, int64_t m0, int64_t mc,
                                       int64_t k0, int64_t kc, float *buf);
typedef const float *(*cvm_gemm_get_b)(const void *ctx, int64_t batch, int64_t k0, int64_t kc,
                                       int64_t n0, int64_t nc, float *buf);

typedef struct cvm_gemm_op {
    const cvm_gemm_kernel *kern;
    int64_t M, N, K;
    int64_t batch;               /* independent products, >= 1 */
    cvm_gemm_get_a get_a;
    cvm_gemm_get_b get_b;
    const void *ctx;             /* passed to the callbacks */
    /* Output of product b: c_of(ctx, b) with row stride ldc. */
    float *(*c_of)(const void *ctx, int64_t batch);
    int64_t ldc;
    /* Per-row bias of product b (NULL: none).  Ignored when accumulate. */
    const float *(*bias_of)(const void *ctx, int64_t batch);
    int accumulate;              /* add to C instead of overwriting it */
    /* Optional: called once for every finished mr x nr tile of C (after its
     * last K chunk), while the tile is still in L1, so that an activation or
     * a residual add costs no extra pass over memory.  m0/n0 locate the tile
     * in product `batch`; c points at its top-left element. */
    void (*epilogue)(const void *ctx, int64_t batch, int64_t m0, int mr, int64_t n0, int nr,
                     float *c, int64_t ldc);
    /* Optional, preferred over `epilogue` when the kernel has ukr_epi: the
     * epilogue in registers.  res_of returns the residual of product `batch`
     * at (row 0, column 0) with row stride *ldr and unit column stride, or
     * NULL for none. */
    const cvm_gemm_epi *epi;
    const float *(*res_of)(const void *ctx, int64_t batch, int64_t *ldr);
    /* get_b returns prepacked data without work: the driver may then cut
     * the rows of one N tile between workers at no cost in packing. */
    int b_prepacked;
    /* Optional: B of product `batch` as a plain matrix, B(k, n) = p[k * ldb
     * + n] (a 1x1 convolution's input).  With a kernel that has ukr_packb,
     * and when no N tile is cut into row parts between workers, the first
     * row panel of each tile packs B while it multiplies, instead of a
     * separate packing pass over the tile before it; get_b is then not
     * called. */
    const float *(*raw_b_of)(const void *ctx, int64_t batch, int64_t *ldb);
} cvm_gemm_op;

/* Worker slots to size scratch for, given the pool a kernel will run on. */
int cvm_gemm_slots(const cvm_threadpool *pool);
/* Scratch bytes for `slots` concurrent workers. */
size_t cvm_gemm_scratch_bytes(const cvm_gemm_kernel *kern, int slots);
/* Runs op over the pool; scratch holds cvm_gemm_scratch_bytes(kern, slots). */
void cvm_gemm_run(const cvm_gemm_op *op, cvm_threadpool *pool, void *scratch, int slots);

/* Convenience for plain strided operands:
 * C = A*B (+bias) or C += A*B, A(m,k) = a[m*rsa+k*csa], B(k,n) = b[k*rsb+n*csb]. */
void cvm_sgemm_strided(const cvm_gemm_kernel *kern, int64_t M, int64_t N, int64_t K, const float *a,
                       int64_t rsa, int64_t csa, const float *b, int64_t rsb, int64_t csb, float *c,
                       int64_t ldc, const float *bias, int accumulate, cvm_threadpool *pool,
                       void *scratch, int slots);

#endif
