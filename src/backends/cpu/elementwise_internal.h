/* Shared pieces of the CPU elementwise kernels (elementwise*.c). */
#ifndef CVM_BACKENDS_CPU_ELEMENTWISE_INTERNAL_H
#define CVM_BACKENDS_CPU_ELEMENTWISE_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "backends/backend.h"
#include "graph/schema.h" /* cvm_node_error */

/* Elements per parallel task: large enough that thread hand-off is noise. */
#define CVM_EW_GRAIN ((size_t)16384)

/* A loop over [0, n) written so that gcc vectorises it at -O2: its cheap
 * cost model only takes loops whose trip count is a known multiple of the
 * vector width, so the body runs in blocks of 16 and then over the tail. */
#define CVM_EW_FOR(i, n, ...)                                        \
    do {                                                             \
        const size_t ew_n_ = (n);                                    \
        size_t ew_b_ = 0;                                            \
        for (; ew_b_ + 16 <= ew_n_; ew_b_ += 16)                     \
            for (size_t ew_j_ = 0; ew_j_ < 16; ew_j_++) {            \
                const size_t i = ew_b_ + ew_j_;                      \
                __VA_ARGS__;                                         \
            }                                                        \
        for (; ew_b_ < ew_n_; ew_b_++) {                             \
            const size_t i = ew_b_;                                  \
            __VA_ARGS__;                                             \
        }                                                            \
    } while (0)

/* How a span of a binary operator reads its inputs: both contiguous, or one
 * or both repeated from a single element. */
enum { CVM_EW_VV = 0, CVM_EW_VS = 1, CVM_EW_SV = 2, CVM_EW_SS = 3 };

/* y[0..n) = op(a, b) over one span, in the given mode. */
typedef void (*cvm_ew_bin_fn)(const void *a, const void *b, void *y, size_t n, int mode);

typedef enum cvm_ew_binop {
    CVM_EW_ADD, CVM_EW_SUB, CVM_EW_MUL, CVM_EW_DIV,
    CVM_EW_MOD,   /* sign of the divisor (Python %) */
    CVM_EW_FMOD,  /* sign of the dividend (C fmod / %) */
    CVM_EW_POW,
    CVM_EW_EQ, CVM_EW_GT, CVM_EW_GE, CVM_EW_LT, CVM_EW_LE,
    CVM_EW_AND, CVM_EW_OR, CVM_EW_XOR,
    CVM_EW_SHL, CVM_EW_SHR,
    CVM_EW_BAND, CVM_EW_BOR, CVM_EW_BXOR,
    CVM_EW_MAX, CVM_EW_MIN,
    CVM_EW_PRELU
} cvm_ew_binop;

/* The span function for op on inputs of types ta/tb, or NULL when this build
 * has no such kernel. */
cvm_ew_bin_fn cvm_ew_binop_fn(cvm_ew_binop op, cvm_dtype ta, cvm_dtype tb);

/* Parameters of the unary operators, read from attributes or inputs. */
typedef struct cvm_ew_params {
    float alpha, beta, gamma;
    int flag0, flag1;
    int has_lo, has_hi;
    unsigned char lo[8], hi[8]; /* Clip bounds in the input's element type */
} cvm_ew_params;

typedef void (*cvm_ew_un_fn)(const void *x, void *y, size_t n, const cvm_ew_params *p);

/* One input of a broadcasting operator; dims are right-aligned against the
 * output's and each is 1 or the output's dim. */
typedef struct cvm_ew_operand {
    const void *data;
    size_t esz;
    int ndim;
    const int64_t *dims;
} cvm_ew_operand;

/* Computes y[0..n) from one span of every input: src[k] points at input k's
 * first element, which repeats over the span when contig[k] is 0 and
 * advances by one element per output element when it is 1. */
typedef void (*cvm_ew_span_fn)(const void *user, const char *const *src, const int *contig,
                               char *y, size_t n);

/* Runs a broadcasting operator of up to 3 inputs over the output shape,
 * merging dims so that the inner spans are as long as possible, split over
 * the pool. */
cvm_status cvm_ew_broadcast(cvm_threadpool *pool, int nin, const cvm_ew_operand *in, void *y,
                            size_t ey, int ny, const int64_t *ydims, cvm_ew_span_fn span,
                            const void *user);

/* Kernels defined in the other elementwise files. */
cvm_status cvm_ew_run_cast(const cvm_kernel_ctx *c);
cvm_status cvm_ew_run_identity(const cvm_kernel_ctx *c);
cvm_status cvm_ew_run_where(const cvm_kernel_ctx *c);
/* All unary operators (including Clip, IsNaN/IsInf and the activations);
 * prepare stores the operator's description as the state. */
cvm_status cvm_ew_prepare_unary(const cvm_kernel_ctx *c, void **state, size_t *scratch);
cvm_status cvm_ew_run_unary(const cvm_kernel_ctx *c);

#endif
