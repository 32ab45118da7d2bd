/*
 * Winograd F(4x4, 3x3) for 3x3, stride-1, undilated, ungrouped 2-D
 * convolutions with constant weights: each 4x4 output tile costs 36
 * multiplies per (input, output) channel pair instead of 144.
 *
 * Only built for the AVX-512 GEMM kernel (8 x 32 tiles): the tile transforms
 * work on 16 tiles per vector, and 32 tiles make one packed GEMM panel, so
 * that the input transform writes the GEMM's B operand in place.
 */
#ifndef CVM_BACKENDS_CPU_CONV_WINOGRAD_H
#define CVM_BACKENDS_CPU_CONV_WINOGRAD_H

#include <stddef.h>
#include <stdint.h>

#include "backends/cpu/gemm_f32.h"
#include "base/threadpool.h"
#include "cvm/cvm.h"

typedef struct cvm_wino {
    const cvm_gemm_kernel *kern;
    int64_t N, C, K;          /* images, input and output channels */
    int64_t H, W, OH, OW;     /* input and output extents */
    int64_t pt, pl;           /* top and left padding */
    int64_t TH, TW, T;        /* tile rows, tile columns, tiles per image */
    int64_t blocks;           /* blocks of 32 tiles per image */
    int64_t mpart;            /* output channels rounded up to the kernel's mr */
    int gsplit;               /* items are the 16-tile groups of blocks (few blocks, 2+ workers) */
    int wsplit;               /* equal shares of columns x channel panels (few blocks, 2+ workers) */
    int csplit;               /* one block shared by input channels, then output channels */
    int slots;                /* workers the scratch is sized for */
    float *U;                 /* 36 transformed weight matrices, each prepacked as GEMM A */
    size_t u_stride;          /* floats per matrix */
    size_t slot_floats;       /* scratch per worker */
} cvm_wino;

/* Called on each finished run of output positions o0..o0+len-1 of channel
 * `oc` of image `n` (bias already added) for the fused activation/residual. */
typedef void (*cvm_wino_epi)(const void *ctx, int64_t n, int64_t oc, int64_t o0, int64_t len,
                             float *y);

/* What happens to the transformed output before and after it is stored. */
typedef struct cvm_wino_out {
    const float *bias;         /* per output channel, or NULL */
    const cvm_gemm_epi *epi;   /* activation (and residual) applied in registers, or NULL */
    const float *res;          /* residual of the output's full shape for epi, or NULL */
    int64_t res_n, res_c;      /* its strides per image and per channel */
    cvm_wino_epi span;         /* otherwise: run on each stored row (NULL: none) */
    const void *span_ctx;
} cvm_wino_out;

/* Whether the fast path applies on this CPU for these extents. */
int cvm_wino_usable(const cvm_gemm_kernel *kern, int64_t C, int64_t K, int64_t OH, int64_t OW);

/* Transforms and packs the weights [K, C, 3, 3]; `slots` workers. */
cvm_status cvm_wino_prepare(cvm_wino *w, const cvm_gemm_kernel *kern, int64_t N, int64_t C,
                            int64_t K, int64_t H, int64_t W, int64_t OH, int64_t OW, int64_t pt,
                            int64_t pl, const float *weights, int slots);
size_t cvm_wino_scratch_bytes(const cvm_wino *w);
void cvm_wino_run(const cvm_wino *w, const float *x, float *y, const cvm_wino_out *out,
                  cvm_threadpool *pool, void *scratch);
void cvm_wino_free(cvm_wino *w);

#endif
