/* Shapes of reductions, ArgMax/ArgMin, Resize/Upsample and GridSample. */
#include <string.h>

#include "graph/reduce_axes.h"
#include "graph/resize_params.h"
#include "graph/schema_tables.h"

static int is_int_reducible(const char *op, cvm_dtype t)
{
    if (t == CVM_DTYPE_INT32 || t == CVM_DTYPE_INT64 || t == CVM_DTYPE_UINT32 || t == CVM_DTYPE_UINT64)
        return 1;
    if (t == CVM_DTYPE_INT8 || t == CVM_DTYPE_UINT8 || t == CVM_DTYPE_BOOL)
        return strcmp(op, "ReduceMax") == 0 || strcmp(op, "ReduceMin") == 0;
    return 0;
}

static cvm_status infer_reduce(const cvm_infer_ctx *c)
{
    const cvm_tensor *x = c->in[0];
    if (!cvm_dtype_is_float(x->dtype) && !is_int_reducible(c->node->op_type, x->dtype))
        return cvm_node_error(c->node, CVM_E_TYPE, "input type %s is not supported",
                              cvm_dtype_name(x->dtype));
    int reduce[CVM_MAX_DIMS], noop;
    cvm_status st = cvm_reduce_axes(c->node, c->opset, c->n_in, c->in, x->ndim, reduce, &noop);
    if (st != CVM_OK)
        return st;
    int keep = cvm_attr_int(c->node, "keepdims", 1) != 0;
    int64_t dims[CVM_MAX_DIMS];
    int nd = 0;
    for (int i = 0; i < x->ndim; i++) {
        if (!reduce[i])
            dims[nd++] = x->dims[i];
        else if (keep)
            dims[nd++] = 1;
    }
    cvm_set_shape(c->out[0], x->dtype, nd, dims);
    return CVM_OK;
}

static cvm_status infer_argminmax(const cvm_infer_ctx *c)
{
    const cvm_tensor *x = c->in[0];
    if (x->dtype == CVM_DTYPE_STRING || x->dtype == CVM_DTYPE_BOOL || !cvm_dtype_size(x->dtype))
        return cvm_node_error(c->node, CVM_E_TYPE, "input type %s is not supported",
                              cvm_dtype_name(x->dtype));
    int axis;
    int64_t a = cvm_attr_int(c->node, "axis", 0);
    if (x->ndim == 0 || a < -x->ndim || a >= x->ndim)
        return cvm_node_error(c->node, CVM_E_SHAPE, "axis %lld is out of range for rank %d",
                              (long long)a, x->ndim);
    CVM_TRY(cvm_norm_axis(a, x->ndim, c->node->op_type, &axis));
    if (x->dims[axis] == 0)
        return cvm_node_error(c->node, CVM_E_SHAPE, "cannot take the %s of an empty axis %d",
                              c->node->op_type, axis);
    int keep = cvm_attr_int(c->node, "keepdims", 1) != 0;
    int64_t dims[CVM_MAX_DIMS];
    int nd = 0;
    for (int i = 0; i < x->ndim; i++) {
        if (i != axis)
            dims[nd++] = x->dims[i];
        else if (keep)
            dims[nd++] = 1;
    }
    cvm_set_shape(c->out[0], CVM_DTYPE_INT64, nd, dims);
    return CVM_OK;
}

static cvm_status infer_resize(const cvm_infer_ctx *c)
{
    const cvm_tensor *x = c->in[0];
    if (!cvm_dtype_size(x->dtype) || x->dtype == CVM_DTYPE_STRING)
        return cvm_node_error(c->node, CVM_E_TYPE, "input type %s is not supported",
                              cvm_dtype_name(x->dtype));
    if (x->ndim < 1)
        return cvm_node_error(c->node, CVM_E_SHAPE, "input must have rank 1 or more");
    cvm_resize_params p;
    cvm_status st = cvm_resize_params_get(c->node, c->opset, x, c->n_in, c->in, &p);
    if (st != CVM_OK)
        return st;
    cvm_set_shape(c->out[0], x->dtype, x->ndim, p.out);
    return CVM_OK;
}

static cvm_status infer_gridsample(const cvm_infer_ctx *c)
{
    const cvm_tensor *x = c->in[0], *g = c->in[1];
    if (x->ndim < 3 || g->ndim != x->ndim)
        return cvm_node_error(c->node, CVM_E_SHAPE, "X (rank %d) and grid (rank %d) must have equal rank >= 3",
                              x->ndim, g->ndim);
    if (g->dims[0] != x->dims[0] || g->dims[g->ndim - 1] != x->ndim - 2)
        return cvm_node_error(c->node, CVM_E_SHAPE,
                              "grid must be [N, ..., %d] with N = %lld, got N = %lld and last dim %lld",
                              x->ndim - 2, (long long)x->dims[0], (long long)g->dims[0],
                              (long long)g->dims[g->ndim - 1]);
    if (!cvm_dtype_is_float(g->dtype))
        return cvm_node_error(c->node, CVM_E_TYPE, "grid must be float, not %s", cvm_dtype_name(g->dtype));
    int64_t dims[CVM_MAX_DIMS];
    dims[0] = x->dims[0];
    dims[1] = x->dims[1];
    for (int i = 2; i < x->ndim; i++)
        dims[i] = g->dims[i - 1];
    cvm_set_shape(c->out[0], x->dtype, x->ndim, dims);
    return CVM_OK;
}

const cvm_op_schema cvm_schemas_reduce[] = {
    {"", "ReduceSum", 1, 2, 1, 1, infer_reduce, 0},
    {"", "ReduceMean", 1, 2, 1, 1, infer_reduce, 0},
    {"", "ReduceMax", 1, 2, 1, 1, infer_reduce, 0},
    {"", "ReduceMin", 1, 2, 1, 1, infer_reduce, 0},
    {"", "ReduceProd", 1, 2, 1, 1, infer_reduce, 0},
    {"", "ReduceL1", 1, 2, 1, 1, infer_reduce, 0},
    {"", "ReduceL2", 1, 2, 1, 1, infer_reduce, 0},
    {"", "ReduceLogSum", 1, 2, 1, 1, infer_reduce, 0},
    {"", "ReduceLogSumExp", 1, 2, 1, 1, infer_reduce, 0},
    {"", "ReduceSumSquare", 1, 2, 1, 1, infer_reduce, 0},
    {"", "ArgMax", 1, 1, 1, 1, infer_argminmax, 0},
    {"", "ArgMin", 1, 1, 1, 1, infer_argminmax, 0},
    {"", "Resize", 1, 4, 1, 1, infer_resize, 0},
    {"", "Upsample", 1, 2, 1, 1, infer_resize, 0},
    {"", "GridSample", 2, 2, 1, 1, infer_gridsample, 0},
    {0},
};
