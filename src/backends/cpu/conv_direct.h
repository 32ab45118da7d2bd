/*
 * Direct 3x3 convolution with the output channels in the vector lanes, for
 * the stride-2 layers that halve a map and for stride-1 layers on maps too
 * small for Winograd (YOLO's 10x10 stage).
 *
 * A tile is up to 12 neighbouring output pixels of one row by 32 output
 * channels (24 accumulators): every step broadcasts one input value per
 * pixel straight from the image (stride 1 or 2 apart) and multiplies it by
 * 32 packed weights.  There is no im2col panel to gather (a quarter of an
 * im2col stride-2 layer's time went to gathering) and the weights are read
 * in the order they were packed at session build.  Rows in the padding read
 * a zero row; the only columns in the padding are the first pixel's left
 * tap and the last pixel's right tap, which read a zero instead.
 */
#ifndef CVM_BACKENDS_CPU_CONV_DIRECT_H
#define CVM_BACKENDS_CPU_CONV_DIRECT_H

#include <stddef.h>
#include <stdint.h>

#include "backends/cpu/conv_winograd.h" /* cvm_wino_out: the same output description */
#include "base/threadpool.h"
#include "cvm/cvm.h"

typedef struct cvm_cdir {
    int64_t N, C, M;          /* images, input and output channels */
    int64_t H, W, OH, OW;     /* input and output extents */
    int64_t s, pt, pl;        /* stride (both axes), top and left padding */
    int64_t panels;           /* 32-channel weight panels */
    float *Wp;                /* panels x (C * 9) x 32 packed weights */
    float *zero;              /* a zero row wide enough for any tap, 16 floats of margin */
    int slots;
} cvm_cdir;

/* Whether this CPU and geometry take the direct path: AVX-512, a 3x3
 * undilated kernel, equal strides of 1 or 2, and no padding beyond one
 * column on each side. */
int cvm_cdir_usable(int64_t H, int64_t W, int64_t OH, int64_t OW, int64_t stride, int64_t pt,
                    int64_t pl);

/* Packs the weights [M, C, 3, 3]. */
cvm_status cvm_cdir_prepare(cvm_cdir *d, int64_t N, int64_t C, int64_t M, int64_t H, int64_t W,
                            int64_t OH, int64_t OW, int64_t stride, int64_t pt, int64_t pl,
                            const float *weights, int slots);
void cvm_cdir_run(const cvm_cdir *d, const float *x, float *y, const cvm_wino_out *out,
                  cvm_threadpool *pool);
void cvm_cdir_free(cvm_cdir *d);

#endif
