/* Shared by the bf16 kernel tests (test_conv_bf16.c, test_matmul_bf16.c):
 * the inputs they fill, bf16 rounding for their double references, the
 * kernels this machine can run; their session tests build graphs with
 * op_test.h's val() and node().  Include after <cmocka.h>. */
#ifndef CVM_TESTS_BF16_TEST_H
#define CVM_TESTS_BF16_TEST_H

#include <stdint.h>

#include "backends/backend.h"
#include "backends/cpu/bf16_tiles.h"
#include "base/half.h"
#include "graph/graph.h"
#include "op_test.h"

/* Floats after the outputs, holding CANARY, that a kernel must not touch. */
#define GUARD 16
#define CANARY 12345.0f

static inline float lcg(unsigned *seed)
{
    *seed = *seed * 1103515245u + 12345u;
    return (float)((*seed >> 16) % 2001) / 1000.0f - 1.0f;
}

/* Values in [-1, 1], with exact zeros and a few of magnitude 8 among them. */
static inline void fill(float *d, int64_t n, unsigned seed)
{
    for (int64_t i = 0; i < n; i++) {
        float v = lcg(&seed);
        d[i] = i % 11 == 3 ? 0.0f : i % 13 == 5 ? (v < 0 ? -8.0f : 8.0f) : v;
    }
}

static inline float bf(float v)
{
    return cvm_bf16_to_f32(cvm_f32_to_bf16(v));
}

/* The kernels this machine can run: the AVX512_BF16 one wherever there is
 * any bf16 support, AMX on top where the CPU and OS allow it. */
static inline int kinds(int *k)
{
    int n = 0, best = cvm_bf16_kind();
    if (best >= CVM_BF16_AVX512)
        k[n++] = CVM_BF16_AVX512;
    if (best == CVM_BF16_AMX)
        k[n++] = CVM_BF16_AMX;
    return n;
}

#endif
