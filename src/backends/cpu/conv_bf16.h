/* 2-D convolution in bfloat16 with float32 sums (the opt-in bf16 precision).
 *
 * An implicit GEMM: the worker that takes a band of output rows copies the
 * input rows the band reads into "pair planes" of its own, each holding two
 * neighbouring channels as interleaved bf16 pairs over the zero-padded image
 * (split into stride phases when the stride is not 1), so that for any kernel
 * tap the 16 pairs x 16 output positions a tile product needs are 16 rows of
 * 64 contiguous bytes at a fixed stride: no im2col, no Winograd (whose
 * transforms would lose bf16's few bits).  Output positions run over the
 * padded width; the few columns past the image are computed and dropped.
 * AMX tiles do the products where the CPU and the kernel allow them,
 * AVX512_BF16 dot products otherwise. */
#ifndef CVM_BACKENDS_CPU_CONV_BF16_H
#define CVM_BACKENDS_CPU_CONV_BF16_H

#include <stddef.h>
#include <stdint.h>

#include "base/threadpool.h"
#include "cvm/cvm.h"

#include "backends/cpu/bf16_tiles.h"
#include "backends/cpu/gemm_f32.h"

typedef struct cvm_cbf {
    int kind;
    int64_t N, C, M, H, W, OH, OW;
    int64_t sh, sw, dh, dw, pt, pl, KH, KW;
    int64_t Wq;           /* width of one stride phase of the padded image */
    int64_t nph;          /* stride phases (sh * sw) */
    int64_t R, Rq;        /* output rows per band, phase rows a band reads */
    int64_t nbands;       /* bands per image */
    int64_t bpos;         /* positions computed per full band (R * Wq rounded up to 32) */
    int64_t plane;        /* 4-byte pairs from one pair plane to the next in a band buffer */
    int ntaps;
    int64_t *tap;         /* pair offset of each tap inside a band's plane */
    int64_t cp;           /* channel pairs holding data, ceil(C / 2) */
    int64_t kb, nkb;      /* pairs per K block (at most 16) and K blocks; kb * nkb >= cp */
    int64_t mblk;         /* 16-row blocks of output channels */
    uint16_t *w;          /* [mblk][tap][nkb][16][kb][2] */
    int slots;
} cvm_cbf;

/* Output side of a run, as for Winograd: y = act(conv + bias [+ res]) [+ res]
 * in registers when epi is set (res: the output's full shape, or NULL);
 * otherwise y receives conv + bias and span, when set, finishes each
 * written run of outputs in place: positions o0..o0+len-1 of channel oc of
 * image n. */
typedef struct cvm_cbf_out {
    const float *bias;
    const cvm_gemm_epi *epi;
    const float *res;
    int64_t res_n, res_c;
    void (*span)(const void *ctx, int64_t n, int64_t oc, int64_t o0, int64_t len, float *y);
    const void *span_ctx;
} cvm_cbf_out;

/* Builds the packed weights.  Dilations and strides of at least 1; pads
 * the begin pads (the end pads follow from the output size). */
cvm_status cvm_cbf_prepare(cvm_cbf *p, int kind, int64_t N, int64_t C, int64_t M, int64_t H,
                           int64_t W, int64_t KH, int64_t KW, int64_t OH, int64_t OW, int64_t sh,
                           int64_t sw, int64_t dh, int64_t dw, int64_t pt, int64_t pl,
                           const float *w, int slots);
void cvm_cbf_free(cvm_cbf *p);
size_t cvm_cbf_scratch_bytes(const cvm_cbf *p);
void cvm_cbf_run(const cvm_cbf *p, const float *x, float *y, const cvm_cbf_out *out,
                 cvm_threadpool *pool, void *scratch);

#endif
