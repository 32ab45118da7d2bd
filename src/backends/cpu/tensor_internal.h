/* Shared pieces of the CPU data-movement kernels (tensor*.c). */
#ifndef CVM_BACKENDS_CPU_TENSOR_INTERNAL_H
#define CVM_BACKENDS_CPU_TENSOR_INTERNAL_H

#include <string.h>

#include "backends/backend.h"
#include "graph/shape_tensor.h"

/* Tile views its output as [r0, d0, r1, d1, ...], hence twice the rank. */
#define CVM_STRIDED_MAX_DIMS (2 * CVM_MAX_DIMS)

/* A view of the input: output element at multi-index i (row-major over dims)
 * comes from input element offset + sum(i[d] * stride[d]).  Strides are in
 * elements and may be 0 (broadcast) or negative (reversed slices). */
typedef struct cvm_strided {
    int ndim;
    int64_t dims[CVM_STRIDED_MAX_DIMS];
    int64_t stride[CVM_STRIDED_MAX_DIMS];
    int64_t offset;
} cvm_strided;

/* Fills the contiguous dst from src through the view `v` (modified: dims are
 * merged where the strides allow). */
void cvm_strided_copy(cvm_threadpool *pool, const void *src, void *dst, size_t esize, cvm_strided *v);
/* memcpy, split over the pool when large. */
void cvm_par_memcpy(cvm_threadpool *pool, void *dst, const void *src, size_t n);
/* Row-major element strides of a shape. */
void cvm_row_strides(int ndim, const int64_t *dims, int64_t *strides);
/* Product of dims[from..to). */
int64_t cvm_dims_prod(const int64_t *dims, int from, int to);
/* Element size of dt, or CVM_E_UNSUPPORTED naming the node. */
cvm_status cvm_elem_size(const cvm_kernel_ctx *c, cvm_dtype dt, size_t *es);
/* Copies `n` bytes where n is usually a single element. */
static inline void cvm_copy_small(void *dst, const void *src, size_t n)
{
    switch (n) {
    case 1: *(uint8_t *)dst = *(const uint8_t *)src; break;
    case 2: memcpy(dst, src, 2); break;
    case 4: memcpy(dst, src, 4); break;
    case 8: memcpy(dst, src, 8); break;
    default: memcpy(dst, src, n); break;
    }
}

/* Kernels defined outside tensor.c. */
cvm_status cvm_k_gather(const cvm_kernel_ctx *c);
cvm_status cvm_k_gather_elements(const cvm_kernel_ctx *c);
cvm_status cvm_k_gather_nd(const cvm_kernel_ctx *c);
cvm_status cvm_k_scatter_elements(const cvm_kernel_ctx *c);
cvm_status cvm_k_scatter_nd(const cvm_kernel_ctx *c);
cvm_status cvm_k_nonzero(const cvm_kernel_ctx *c);
cvm_status cvm_k_compress(const cvm_kernel_ctx *c);
cvm_status cvm_k_topk_prepare(const cvm_kernel_ctx *c, void **state, size_t *scratch);
cvm_status cvm_k_topk(const cvm_kernel_ctx *c);
cvm_status cvm_k_onehot(const cvm_kernel_ctx *c);

cvm_status cvm_k_pad(const cvm_kernel_ctx *c);
cvm_status cvm_k_range(const cvm_kernel_ctx *c);
cvm_status cvm_k_constant_of_shape(const cvm_kernel_ctx *c);
cvm_status cvm_k_constant(const cvm_kernel_ctx *c);
cvm_status cvm_k_shape(const cvm_kernel_ctx *c);
cvm_status cvm_k_size(const cvm_kernel_ctx *c);
cvm_status cvm_k_trilu(const cvm_kernel_ctx *c);
cvm_status cvm_k_cumsum(const cvm_kernel_ctx *c);
cvm_status cvm_k_eye_like(const cvm_kernel_ctx *c);
cvm_status cvm_k_reverse_sequence(const cvm_kernel_ctx *c);

#endif
