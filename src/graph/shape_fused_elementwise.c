/* Schemas of the operators that cvm_fuse_elementwise creates. */
#include "graph/fuse_elementwise.h"

cvm_status cvm_infer_scale_shift(const cvm_infer_ctx *c)
{
    const cvm_tensor *x = c->in[0];
    int64_t r = cvm_attr_int(c->node, "min_rank", 0);
    if (r < 0 || r > CVM_MAX_DIMS)
        return cvm_node_error(c->node, CVM_E_SHAPE, "min_rank %lld is outside 0..%d", (long long)r,
                              CVM_MAX_DIMS);
    if (x->dtype != CVM_DTYPE_FLOAT32)
        return cvm_node_error(c->node, CVM_E_TYPE, "ScaleShift takes float32, got %s",
                              cvm_dtype_name(x->dtype));
    int nd = x->ndim > (int)r ? x->ndim : (int)r, lead = nd - x->ndim;
    int64_t dims[CVM_MAX_DIMS];
    for (int i = 0; i < nd; i++)
        dims[i] = i < lead ? 1 : x->dims[i - lead];
    cvm_set_shape(c->out[0], CVM_DTYPE_FLOAT32, nd, dims);
    return CVM_OK;
}
