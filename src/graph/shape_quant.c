/* Shapes of the quantization operators. */
#include <string.h>

#include "backends/cpu/quant_geom.h"
#include "graph/schema_tables.h"

static int is_q8(cvm_dtype t) { return t == CVM_DTYPE_INT8 || t == CVM_DTYPE_UINT8; }

static int is_qtype(cvm_dtype t)
{
    return is_q8(t) || t == CVM_DTYPE_INT16 || t == CVM_DTYPE_UINT16;
}

/* Checks that scale (and zero point) fit x for per-tensor, per-axis or
 * blocked quantization. */
static cvm_status check_qparams(const cvm_infer_ctx *c, const cvm_tensor *x, const cvm_tensor *s,
                                const cvm_tensor *zp)
{
    char a[96], b[96];
    if (zp && (zp->ndim != s->ndim || memcmp(zp->dims, s->dims, sizeof(int64_t) * (size_t)s->ndim) != 0))
        return cvm_node_error(c->node, CVM_E_SHAPE, "zero point %s and scale %s differ in shape",
                              cvm_shape_str(zp->ndim, zp->dims, a, sizeof a),
                              cvm_shape_str(s->ndim, s->dims, b, sizeof b));
    int64_t n;
    if (!cvm_shape_numel(s->ndim, s->dims, &n))
        return cvm_node_error(c->node, CVM_E_SHAPE, "bad scale shape");
    if (s->ndim == 0 || (s->ndim == 1 && n == 1 && c->opset < 13))
        return CVM_OK;
    if (c->opset < 13 && n != 1)
        return cvm_node_error(c->node, CVM_E_SHAPE, "scale must be a scalar before opset 13");
    int axis;
    int64_t av = cvm_attr_int(c->node, "axis", 1);
    if (x->ndim == 0 || av < -x->ndim || av >= x->ndim)
        return cvm_node_error(c->node, CVM_E_SHAPE, "axis %lld is out of range for rank %d", (long long)av,
                              x->ndim);
    CVM_TRY(cvm_norm_axis(av, x->ndim, c->node->op_type, &axis));
    int64_t bs = c->opset >= 21 ? cvm_attr_int(c->node, "block_size", 0) : 0;
    if (bs < 0)
        return cvm_node_error(c->node, CVM_E_SHAPE, "block_size %lld is negative", (long long)bs);
    if (bs == 0) {
        if (s->ndim == 1 && n == 1)
            return CVM_OK;
        if (s->ndim != 1 || s->dims[0] != x->dims[axis])
            return cvm_node_error(c->node, CVM_E_SHAPE, "per-axis scale %s does not fit axis %d of %s",
                                  cvm_shape_str(s->ndim, s->dims, a, sizeof a), axis,
                                  cvm_shape_str(x->ndim, x->dims, b, sizeof b));
        return CVM_OK;
    }
    if (s->ndim != x->ndim)
        return cvm_node_error(c->node, CVM_E_SHAPE, "blocked scale must have the input's rank");
    for (int i = 0; i < x->ndim; i++) {
        int64_t want = i == axis ? (x->dims[i] + bs - 1) / bs : x->dims[i];
        if (s->dims[i] != want)
            return cvm_node_error(c->node, CVM_E_SHAPE, "blocked scale %s does not fit %s with block_size %lld",
                                  cvm_shape_str(s->ndim, s->dims, a, sizeof a),
                                  cvm_shape_str(x->ndim, x->dims, b, sizeof b), (long long)bs);
    }
    return CVM_OK;
}

static cvm_status infer_quantize(const cvm_infer_ctx *c)
{
    const cvm_tensor *x = c->in[0], *s = c->in[1], *zp = c->n_in > 2 ? c->in[2] : NULL;
    if (!cvm_dtype_is_float(x->dtype) && x->dtype != CVM_DTYPE_INT32)
        return cvm_node_error(c->node, CVM_E_TYPE, "input type %s is not supported", cvm_dtype_name(x->dtype));
    if (!cvm_dtype_is_float(s->dtype))
        return cvm_node_error(c->node, CVM_E_TYPE, "scale type %s is not supported", cvm_dtype_name(s->dtype));
    cvm_dtype out = CVM_DTYPE_UINT8;
    if (zp)
        out = zp->dtype;
    else if (c->opset >= 21 && cvm_attr_int(c->node, "output_dtype", 0))
        out = (cvm_dtype)cvm_attr_int(c->node, "output_dtype", 0);
    if (!is_qtype(out))
        return cvm_node_error(c->node, CVM_E_UNSUPPORTED, "output type %s is not supported",
                              cvm_dtype_name(out));
    CVM_TRY(check_qparams(c, x, s, zp));
    cvm_set_shape(c->out[0], out, x->ndim, x->dims);
    return CVM_OK;
}

static cvm_status infer_dequantize(const cvm_infer_ctx *c)
{
    const cvm_tensor *x = c->in[0], *s = c->in[1], *zp = c->n_in > 2 ? c->in[2] : NULL;
    if (!is_qtype(x->dtype) && x->dtype != CVM_DTYPE_INT32)
        return cvm_node_error(c->node, CVM_E_TYPE, "input type %s is not supported", cvm_dtype_name(x->dtype));
    if (zp && zp->dtype != x->dtype)
        return cvm_node_error(c->node, CVM_E_TYPE, "zero point type %s differs from input type %s",
                              cvm_dtype_name(zp->dtype), cvm_dtype_name(x->dtype));
    if (!cvm_dtype_is_float(s->dtype))
        return cvm_node_error(c->node, CVM_E_TYPE, "scale type %s is not supported", cvm_dtype_name(s->dtype));
    CVM_TRY(check_qparams(c, x, s, zp));
    cvm_set_shape(c->out[0], c->opset >= 19 ? s->dtype : CVM_DTYPE_FLOAT32, x->ndim, x->dims);
    return CVM_OK;
}

static cvm_status infer_dynq(const cvm_infer_ctx *c)
{
    const cvm_tensor *x = c->in[0];
    if (!cvm_dtype_is_float(x->dtype))
        return cvm_node_error(c->node, CVM_E_TYPE, "input type %s is not supported", cvm_dtype_name(x->dtype));
    cvm_set_shape(c->out[0], CVM_DTYPE_UINT8, x->ndim, x->dims);
    if (c->n_out > 1 && c->out[1])
        cvm_set_shape(c->out[1], CVM_DTYPE_FLOAT32, 0, NULL);
    if (c->n_out > 2 && c->out[2])
        cvm_set_shape(c->out[2], CVM_DTYPE_UINT8, 0, NULL);
    return CVM_OK;
}

/* Zero point of an integer conv/matmul operand: scalar, or 1-D of `n`. */
static cvm_status check_zp(const cvm_infer_ctx *c, const cvm_tensor *zp, cvm_dtype want, int64_t n,
                           const char *what)
{
    if (!zp)
        return CVM_OK;
    if (zp->dtype != want)
        return cvm_node_error(c->node, CVM_E_TYPE, "%s zero point is %s, the operand is %s", what,
                              cvm_dtype_name(zp->dtype), cvm_dtype_name(want));
    int64_t k;
    if (!cvm_shape_numel(zp->ndim, zp->dims, &k) || (k != 1 && (zp->ndim != 1 || k != n)))
        return cvm_node_error(c->node, CVM_E_SHAPE, "%s zero point must be a scalar or hold %lld values", what,
                              (long long)n);
    return CVM_OK;
}

static cvm_status conv_out(const cvm_infer_ctx *c, const cvm_tensor *x, const cvm_tensor *w, cvm_dtype dt)
{
    cvm_conv_geom g;
    CVM_TRY(cvm_conv_geom_get(c->node, x, w, &g));
    int64_t dims[CVM_MAX_DIMS];
    dims[0] = g.N;
    dims[1] = g.M;
    for (int i = 0; i < g.nsp; i++)
        dims[2 + i] = g.out[i];
    cvm_set_shape(c->out[0], dt, x->ndim, dims);
    return CVM_OK;
}

static cvm_status infer_conv_integer(const cvm_infer_ctx *c)
{
    const cvm_tensor *x = c->in[0], *w = c->in[1];
    if (!is_q8(x->dtype) || !is_q8(w->dtype))
        return cvm_node_error(c->node, CVM_E_TYPE, "types %s and %s are not supported",
                              cvm_dtype_name(x->dtype), cvm_dtype_name(w->dtype));
    CVM_TRY(check_zp(c, c->n_in > 2 ? c->in[2] : NULL, x->dtype, 1, "input"));
    CVM_TRY(check_zp(c, c->n_in > 3 ? c->in[3] : NULL, w->dtype, w->ndim ? w->dims[0] : 0, "weight"));
    return conv_out(c, x, w, CVM_DTYPE_INT32);
}

static cvm_status mm_out(const cvm_infer_ctx *c, const cvm_tensor *a, const cvm_tensor *b, cvm_dtype dt)
{
    int nd = 0;
    int64_t dims[CVM_MAX_DIMS + 2];
    CVM_TRY(cvm_matmul_shape(c->node, a, b, &nd, dims));
    if (nd > CVM_MAX_DIMS)
        return cvm_node_error(c->node, CVM_E_SHAPE, "output rank %d is too high", nd);
    cvm_set_shape(c->out[0], dt, nd, dims);
    return CVM_OK;
}

static cvm_status infer_matmul_integer(const cvm_infer_ctx *c)
{
    const cvm_tensor *a = c->in[0], *b = c->in[1];
    if (!is_q8(a->dtype) || !is_q8(b->dtype))
        return cvm_node_error(c->node, CVM_E_TYPE, "types %s and %s are not supported",
                              cvm_dtype_name(a->dtype), cvm_dtype_name(b->dtype));
    int64_t m = a->ndim >= 2 ? a->dims[a->ndim - 2] : 1, n = b->ndim >= 2 ? b->dims[b->ndim - 1] : 1;
    CVM_TRY(check_zp(c, c->n_in > 2 ? c->in[2] : NULL, a->dtype, m, "A"));
    CVM_TRY(check_zp(c, c->n_in > 3 ? c->in[3] : NULL, b->dtype, n, "B"));
    return mm_out(c, a, b, CVM_DTYPE_INT32);
}

static cvm_status check_scale(const cvm_infer_ctx *c, int i, int64_t n, const char *what)
{
    const cvm_tensor *s = c->in[i];
    int64_t k;
    if (!s || !cvm_dtype_is_float(s->dtype) || !cvm_shape_numel(s->ndim, s->dims, &k) ||
        (k != 1 && (s->ndim != 1 || k != n)))
        return cvm_node_error(c->node, CVM_E_SHAPE, "%s scale must be float with 1 or %lld values", what,
                              (long long)n);
    return CVM_OK;
}

static cvm_status infer_qlinear_conv(const cvm_infer_ctx *c)
{
    const cvm_tensor *x = c->in[0], *w = c->in[3], *yzp = c->in[7];
    if (!is_q8(x->dtype) || !is_q8(w->dtype) || !is_q8(yzp->dtype))
        return cvm_node_error(c->node, CVM_E_TYPE, "types %s, %s, %s are not supported", cvm_dtype_name(x->dtype),
                              cvm_dtype_name(w->dtype), cvm_dtype_name(yzp->dtype));
    int64_t m = w->ndim ? w->dims[0] : 0;
    CVM_TRY(check_scale(c, 1, 1, "input"));
    CVM_TRY(check_scale(c, 4, m, "weight"));
    CVM_TRY(check_scale(c, 6, 1, "output"));
    CVM_TRY(check_zp(c, c->in[2], x->dtype, 1, "input"));
    CVM_TRY(check_zp(c, c->in[5], w->dtype, m, "weight"));
    CVM_TRY(check_zp(c, c->in[7], yzp->dtype, 1, "output"));
    const cvm_tensor *bias = c->n_in > 8 ? c->in[8] : NULL;
    if (bias && (bias->dtype != CVM_DTYPE_INT32 || bias->ndim != 1 || bias->dims[0] != m))
        return cvm_node_error(c->node, CVM_E_SHAPE, "bias must be int32 with %lld values", (long long)m);
    return conv_out(c, x, w, yzp->dtype);
}

static cvm_status infer_qlinear_matmul(const cvm_infer_ctx *c)
{
    const cvm_tensor *a = c->in[0], *b = c->in[3], *yzp = c->in[7];
    if (!is_q8(a->dtype) || !is_q8(b->dtype) || !is_q8(yzp->dtype))
        return cvm_node_error(c->node, CVM_E_TYPE, "types %s, %s, %s are not supported", cvm_dtype_name(a->dtype),
                              cvm_dtype_name(b->dtype), cvm_dtype_name(yzp->dtype));
    int64_t m = a->ndim >= 2 ? a->dims[a->ndim - 2] : 1, n = b->ndim >= 2 ? b->dims[b->ndim - 1] : 1;
    CVM_TRY(check_scale(c, 1, m, "A"));
    CVM_TRY(check_scale(c, 4, n, "B"));
    CVM_TRY(check_scale(c, 6, 1, "output"));
    CVM_TRY(check_zp(c, c->in[2], a->dtype, m, "A"));
    CVM_TRY(check_zp(c, c->in[5], b->dtype, n, "B"));
    CVM_TRY(check_zp(c, c->in[7], yzp->dtype, 1, "output"));
    return mm_out(c, a, b, yzp->dtype);
}

const cvm_op_schema cvm_schemas_quant[] = {
    {"", "QuantizeLinear", 2, 3, 1, 1, infer_quantize, 0},
    {"", "DequantizeLinear", 2, 3, 1, 1, infer_dequantize, 0},
    {"", "DynamicQuantizeLinear", 1, 1, 1, 3, infer_dynq, 0},
    {"", "ConvInteger", 2, 4, 1, 1, infer_conv_integer, 0},
    {"", "MatMulInteger", 2, 4, 1, 1, infer_matmul_integer, 0},
    {"", "QLinearConv", 8, 9, 1, 1, infer_qlinear_conv, 0},
    {"", "QLinearMatMul", 8, 8, 1, 1, infer_qlinear_matmul, 0},
    {0},
};
