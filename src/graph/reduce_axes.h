/*
 * Which axes a Reduce* node reduces.  Shared by shape inference and the CPU
 * kernel so that both read the axes attribute/input the same way.
 */
#ifndef CVM_BACKENDS_CPU_REDUCE_AXES_H
#define CVM_BACKENDS_CPU_REDUCE_AXES_H

#include <string.h>

#include "graph/schema.h"

/* Opset from which each reduction takes its axes as an input. */
static inline int cvm_reduce_axes_input_opset(const char *op)
{
    return strcmp(op, "ReduceSum") == 0 ? 13 : 18;
}

static inline cvm_status cvm_reduce_axes(const cvm_node *node, int opset, int n_in, const cvm_tensor *const *in,
                           int rank, int reduce[CVM_MAX_DIMS], int *noop)
{
    const int64_t *axes = NULL;
    int64_t n_axes = 0;
    const cvm_tensor *at = NULL;
    *noop = 0;
    if (opset >= cvm_reduce_axes_input_opset(node->op_type)) {
        at = n_in > 1 ? in[1] : NULL;
        if (at) {
            if (at->ndim > 1 || at->dtype != CVM_DTYPE_INT64)
                return cvm_node_error(node, CVM_E_TYPE, "axes must be a 1-D int64 tensor");
            n_axes = at->ndim == 0 ? 1 : at->dims[0];
            if (n_axes > 0 && !at->data)
                return CVM_E_DYNAMIC;
        }
        if (n_axes == 0 && cvm_attr_int(node, "noop_with_empty_axes", 0))
            *noop = 1;
    } else {
        size_t n = 0;
        axes = cvm_attr_ints(node, "axes", &n);
        n_axes = (int64_t)n;
    }
    for (int i = 0; i < rank; i++)
        reduce[i] = n_axes == 0 && !*noop;
    for (int64_t k = 0; k < n_axes; k++) {
        int64_t a = at ? ((const int64_t *)at->data)[k] : axes[k];
        int ax;
        if (a < -rank || a >= rank || cvm_norm_axis(a, rank, node->op_type, &ax) != CVM_OK)
            return cvm_node_error(node, CVM_E_SHAPE, "axis %lld is out of range for rank %d",
                                  (long long)a, rank);
        reduce[ax] = 1;
    }
    return CVM_OK;
}

#endif
