/* Kernels of the neural-network group, split over conv.c, pool.c, norm.c,
 * matmul.c, softmax.c and einsum.c and listed in nn.c. */
#ifndef CVM_BACKENDS_CPU_NN_KERNELS_H
#define CVM_BACKENDS_CPU_NN_KERNELS_H

#include <stdint.h>
#include <stdlib.h>

#include "backends/backend.h"

/* Overflow-checked a * b for sizes; false on overflow or negatives. */
static inline int cvm_nn_mul(int64_t a, int64_t b, int64_t *out)
{
    if (a < 0 || b < 0)
        return 0;
    if (a != 0 && b > INT64_MAX / a)
        return 0;
    *out = a * b;
    return 1;
}

cvm_status cvm_nn_conv_prepare(const cvm_kernel_ctx *c, void **state, size_t *scratch);
cvm_status cvm_nn_conv_run(const cvm_kernel_ctx *c);
cvm_status cvm_nn_convt_prepare(const cvm_kernel_ctx *c, void **state, size_t *scratch);
cvm_status cvm_nn_convt_run(const cvm_kernel_ctx *c);
void cvm_nn_free_state(void *state);

cvm_status cvm_nn_pool_run(const cvm_kernel_ctx *c);
cvm_status cvm_nn_global_pool_run(const cvm_kernel_ctx *c);

cvm_status cvm_nn_batchnorm_run(const cvm_kernel_ctx *c);
cvm_status cvm_nn_instancenorm_run(const cvm_kernel_ctx *c);
cvm_status cvm_nn_layernorm_run(const cvm_kernel_ctx *c);
cvm_status cvm_nn_groupnorm_run(const cvm_kernel_ctx *c);
cvm_status cvm_nn_lpnorm_run(const cvm_kernel_ctx *c);
cvm_status cvm_nn_lrn_run(const cvm_kernel_ctx *c);

void cvm_nn_mm_release(void *state);
/* y[j] = act(y[j] (+ r[j*rstride] when add_first)) (+ r[j*rstride] otherwise), for
 * the fused epilogues' code paths that are not in registers; act is a
 * CVM_FUSED_* code, r may be NULL, rstride is 1 or 0. */
void cvm_act_row(float *y, int64_t n, const float *r, int64_t rstride, int act, int add_first,
                 float alpha, float beta);
cvm_status cvm_nn_gemm_prepare(const cvm_kernel_ctx *c, void **state, size_t *scratch);
cvm_status cvm_nn_gemm_run(const cvm_kernel_ctx *c);
cvm_status cvm_nn_matmul_prepare(const cvm_kernel_ctx *c, void **state, size_t *scratch);
cvm_status cvm_nn_matmul_run(const cvm_kernel_ctx *c);

cvm_status cvm_nn_softmax_run(const cvm_kernel_ctx *c);
cvm_status cvm_nn_softmax_dot_run(const cvm_kernel_ctx *c);
/* Softmax of `rows` contiguous rows of n floats, x to y (may be the same),
 * on the calling thread: the row kernel of Softmax over the last axis. */
void cvm_softmax_rows(const float *x, float *y, int64_t rows, int64_t n);
cvm_status cvm_nn_attention_prepare(const cvm_kernel_ctx *c, void **state, size_t *scratch);
cvm_status cvm_nn_attention_run(const cvm_kernel_ctx *c);
void cvm_nn_attention_release(void *state);
cvm_status cvm_nn_dropout_run(const cvm_kernel_ctx *c);
cvm_status cvm_nn_einsum_run(const cvm_kernel_ctx *c);

/* Kernels of the fused operators (domain "cvm", fused.c). */
extern const cvm_kernel_def cvm_cpu_kernels_fused[];

#endif
