/* Shared by the bf16 kernel tests (test_conv_bf16.c, test_matmul_bf16.c):
 * the inputs they fill, bf16 rounding for their double references, the
 * kernels this machine can run, and the graph building of their session
 * tests.  Include after <cmocka.h>. */
#ifndef CVM_TESTS_BF16_TEST_H
#define CVM_TESTS_BF16_TEST_H

#include <stdint.h>

#include "backends/backend.h"
#include "backends/cpu/bf16_tiles.h"
#include "base/half.h"
#include "graph/graph.h"

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

/* Graph building for the session tests: a value's index, and a node of
 * opset 13 from value names. */
static inline int val(cvm_graph *g, const char *name)
{
    int v;
    assert_int_equal(cvm_graph_value(g, name, &v), CVM_OK);
    return v;
}

static inline void node(cvm_graph *g, const char *op, int n_in, const char *const *in,
                        const char *out)
{
    int iv[4], o = val(g, out);
    for (int i = 0; i < n_in; i++)
        iv[i] = val(g, in[i]);
    int idx;
    assert_int_equal(cvm_graph_add_node(g, op, "", out, n_in, iv, 1, &o, &idx), CVM_OK);
    g->nodes[idx].opset = 13;
}

#endif
