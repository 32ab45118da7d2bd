/*
 * Schemas of the elementwise operators: unary maths and activations,
 * broadcasting binary and variadic operators, Where, Clip, Cast, Identity.
 */
#include <string.h>

#include "graph/schema_tables.h"

static const char *node_name(const cvm_node *n) { return n->name ? n->name : ""; }

static cvm_status infer_same(const cvm_infer_ctx *c)
{
    const cvm_tensor *x = c->in[0];
    if (x->dtype == CVM_DTYPE_STRING)
        return cvm_node_error(c->node, CVM_E_UNSUPPORTED, "string tensors are not supported");
    if (c->out[0])
        cvm_set_shape(c->out[0], x->dtype, x->ndim, x->dims);
    return CVM_OK;
}

static cvm_status infer_to_bool(const cvm_infer_ctx *c)
{
    const cvm_tensor *x = c->in[0];
    if (c->out[0])
        cvm_set_shape(c->out[0], CVM_DTYPE_BOOL, x->ndim, x->dims);
    return CVM_OK;
}

static cvm_status infer_gelu(const cvm_infer_ctx *c)
{
    const char *ap = cvm_attr_string(c->node, "approximate", "none");
    if (strcmp(ap, "none") != 0 && strcmp(ap, "tanh") != 0)
        return cvm_node_error(c->node, CVM_E_PARSE,
                              "approximate is '%s'; expected 'none' or 'tanh'", ap);
    return infer_same(c);
}

static cvm_status infer_celu(const cvm_infer_ctx *c)
{
    /* Celu divides by alpha. */
    if (cvm_attr_float(c->node, "alpha", 1.0f) == 0.0f)
        return cvm_node_error(c->node, CVM_E_PARSE, "alpha must not be 0");
    return infer_same(c);
}

/*
 * Before opset 7 the arithmetic and comparison operators broadcast only when
 * the 'broadcast' attribute was set, and then aligned B with A starting at
 * 'axis' (or at the trailing dims).  This maps B's shape onto the numpy shape
 * that means the same; the CPU kernels repeat the same rule.
 */
static cvm_status legacy_b_shape(const cvm_infer_ctx *c, int *nb, int64_t *bd)
{
    const cvm_tensor *a = c->in[0], *b = c->in[1];
    *nb = b->ndim;
    for (int i = 0; i < b->ndim; i++)
        bd[i] = b->dims[i];
    if (c->opset >= 7 || cvm_attr_int(c->node, "broadcast", 0) == 0 ||
        !cvm_node_attr(c->node, "axis"))
        return CVM_OK;
    int64_t axis = cvm_attr_int(c->node, "axis", 0);
    if (axis < 0)
        axis += a->ndim;
    if (axis < 0 || axis > a->ndim || axis + b->ndim > a->ndim)
        return cvm_node_error(c->node, CVM_E_SHAPE,
                              "legacy broadcast axis %lld does not fit B of rank %d into A of rank %d",
                              (long long)cvm_attr_int(c->node, "axis", 0), b->ndim, a->ndim);
    int k = 0;
    for (int i = 0; i < a->ndim; i++)
        bd[i] = (i >= axis && k < b->ndim) ? b->dims[k++] : 1;
    *nb = a->ndim;
    return CVM_OK;
}

static cvm_status broadcast_err(const cvm_infer_ctx *c, cvm_status st)
{
    return cvm_error_wrap(st, "%s node '%s'", c->node->op_type, node_name(c->node));
}

static cvm_status infer_binary_impl(const cvm_infer_ctx *c, cvm_dtype out_dt, int same_type)
{
    const cvm_tensor *a = c->in[0], *b = c->in[1];
    if (same_type && a->dtype != b->dtype)
        return cvm_node_error(c->node, CVM_E_TYPE, "inputs have different types %s and %s",
                              cvm_dtype_name(a->dtype), cvm_dtype_name(b->dtype));
    int nb, nout;
    int64_t bd[CVM_MAX_DIMS], od[CVM_MAX_DIMS];
    CVM_TRY(legacy_b_shape(c, &nb, bd));
    cvm_status st = cvm_broadcast_shape(a->ndim, a->dims, nb, bd, &nout, od);
    if (st != CVM_OK)
        return broadcast_err(c, st);
    if (c->out[0])
        cvm_set_shape(c->out[0], out_dt, nout, od);
    return CVM_OK;
}

static cvm_status infer_binary(const cvm_infer_ctx *c)
{
    return infer_binary_impl(c, c->in[0]->dtype, 1);
}

static cvm_status infer_compare(const cvm_infer_ctx *c)
{
    return infer_binary_impl(c, CVM_DTYPE_BOOL, 1);
}

static cvm_status infer_pow(const cvm_infer_ctx *c)
{
    return infer_binary_impl(c, c->in[0]->dtype, 0);
}

static cvm_status infer_mod(const cvm_infer_ctx *c)
{
    int64_t f = cvm_attr_int(c->node, "fmod", 0);
    if (f != 0 && f != 1)
        return cvm_node_error(c->node, CVM_E_PARSE, "fmod is %lld; expected 0 or 1", (long long)f);
    return infer_binary(c);
}

static cvm_status infer_bitshift(const cvm_infer_ctx *c)
{
    const char *d = cvm_attr_string(c->node, "direction", "");
    if (strcmp(d, "LEFT") != 0 && strcmp(d, "RIGHT") != 0)
        return cvm_node_error(c->node, CVM_E_PARSE, "direction is '%s'; expected LEFT or RIGHT", d);
    return infer_binary(c);
}

static cvm_status infer_prelu(const cvm_infer_ctx *c)
{
    const cvm_tensor *x = c->in[0], *s = c->in[1];
    if (x->dtype != s->dtype)
        return cvm_node_error(c->node, CVM_E_TYPE, "X is %s but slope is %s",
                              cvm_dtype_name(x->dtype), cvm_dtype_name(s->dtype));
    /* Old exporters give a per-channel slope as [C] for an [N,C,...] input. */
    int ns = s->ndim;
    int64_t sd[CVM_MAX_DIMS];
    for (int i = 0; i < ns; i++)
        sd[i] = s->dims[i];
    if (ns == 1 && x->ndim >= 3 && s->dims[0] == x->dims[1] && s->dims[0] != x->dims[x->ndim - 1]) {
        ns = x->ndim - 1;
        for (int i = 0; i < ns; i++)
            sd[i] = i == 0 ? s->dims[0] : 1;
    }
    int nout;
    int64_t od[CVM_MAX_DIMS];
    cvm_status st = cvm_broadcast_shape(x->ndim, x->dims, ns, sd, &nout, od);
    if (st != CVM_OK)
        return broadcast_err(c, st);
    int same = nout == x->ndim;
    for (int i = 0; same && i < nout; i++)
        same = od[i] == x->dims[i];
    if (!same) {
        char a[128], b[128];
        return cvm_node_error(c->node, CVM_E_SHAPE, "slope %s does not broadcast to X %s",
                              cvm_shape_str(s->ndim, s->dims, b, sizeof b),
                              cvm_shape_str(x->ndim, x->dims, a, sizeof a));
    }
    if (c->out[0])
        cvm_set_shape(c->out[0], x->dtype, x->ndim, x->dims);
    return CVM_OK;
}

static cvm_status infer_variadic(const cvm_infer_ctx *c)
{
    int n = 0;
    int64_t d[CVM_MAX_DIMS];
    const cvm_tensor *first = NULL;
    for (int i = 0; i < c->n_in; i++) {
        const cvm_tensor *t = c->in[i];
        if (!t)
            return cvm_node_error(c->node, CVM_E_PARSE, "input %d is missing", i);
        if (!first) {
            first = t;
            n = t->ndim;
            for (int k = 0; k < n; k++)
                d[k] = t->dims[k];
            continue;
        }
        if (t->dtype != first->dtype)
            return cvm_node_error(c->node, CVM_E_TYPE, "input %d is %s but input 0 is %s", i,
                                  cvm_dtype_name(t->dtype), cvm_dtype_name(first->dtype));
        cvm_status st = cvm_broadcast_shape(n, d, t->ndim, t->dims, &n, d);
        if (st != CVM_OK)
            return broadcast_err(c, st);
    }
    if (c->out[0])
        cvm_set_shape(c->out[0], first->dtype, n, d);
    return CVM_OK;
}

static cvm_status infer_where(const cvm_infer_ctx *c)
{
    const cvm_tensor *cond = c->in[0], *x = c->in[1], *y = c->in[2];
    if (cond->dtype != CVM_DTYPE_BOOL)
        return cvm_node_error(c->node, CVM_E_TYPE, "condition is %s; expected bool",
                              cvm_dtype_name(cond->dtype));
    if (x->dtype != y->dtype)
        return cvm_node_error(c->node, CVM_E_TYPE, "X is %s but Y is %s", cvm_dtype_name(x->dtype),
                              cvm_dtype_name(y->dtype));
    int n;
    int64_t d[CVM_MAX_DIMS];
    cvm_status st = cvm_broadcast_shape(cond->ndim, cond->dims, x->ndim, x->dims, &n, d);
    if (st == CVM_OK)
        st = cvm_broadcast_shape(n, d, y->ndim, y->dims, &n, d);
    if (st != CVM_OK)
        return broadcast_err(c, st);
    if (c->out[0])
        cvm_set_shape(c->out[0], x->dtype, n, d);
    return CVM_OK;
}

static int scalar_like(const cvm_tensor *t)
{
    int64_t n;
    return cvm_shape_numel(t->ndim, t->dims, &n) && n == 1;
}

static cvm_status infer_clip(const cvm_infer_ctx *c)
{
    const cvm_tensor *x = c->in[0];
    if (c->opset < 11) {
        if (c->n_in > 1)
            return cvm_node_error(c->node, CVM_E_PARSE,
                                  "takes min and max as attributes before opset 11, got %d inputs",
                                  c->n_in);
    } else {
        for (int i = 1; i < c->n_in && i < 3; i++) {
            const cvm_tensor *t = c->in[i];
            if (!t)
                continue;
            if (!scalar_like(t)) {
                char b[128];
                return cvm_node_error(c->node, CVM_E_SHAPE, "%s must be a scalar, got shape %s",
                                      i == 1 ? "min" : "max", cvm_shape_str(t->ndim, t->dims, b, sizeof b));
            }
            if (t->dtype != x->dtype)
                return cvm_node_error(c->node, CVM_E_TYPE, "%s is %s but input is %s",
                                      i == 1 ? "min" : "max", cvm_dtype_name(t->dtype),
                                      cvm_dtype_name(x->dtype));
        }
    }
    return infer_same(c);
}

static int cast_target_ok(int64_t to)
{
    return to >= 0 && to <= 64 && cvm_dtype_valid((int)to);
}

static cvm_status infer_cast(const cvm_infer_ctx *c)
{
    const cvm_tensor *x = c->in[0];
    const cvm_attr *a = cvm_node_attr(c->node, "to");
    if (!a || a->type != CVM_ATTR_INT)
        return cvm_node_error(c->node, CVM_E_PARSE, "the 'to' attribute is missing");
    if (a->i == CVM_DTYPE_STRING || x->dtype == CVM_DTYPE_STRING)
        return cvm_node_error(c->node, CVM_E_UNSUPPORTED, "casting to or from string is not supported");
    if (!cast_target_ok(a->i))
        return cvm_node_error(c->node, CVM_E_UNSUPPORTED, "cannot cast to element type %lld",
                              (long long)a->i);
    if (c->out[0])
        cvm_set_shape(c->out[0], (cvm_dtype)a->i, x->ndim, x->dims);
    return CVM_OK;
}

static cvm_status infer_castlike(const cvm_infer_ctx *c)
{
    const cvm_tensor *x = c->in[0], *like = c->in[1];
    if (like->dtype == CVM_DTYPE_STRING || x->dtype == CVM_DTYPE_STRING)
        return cvm_node_error(c->node, CVM_E_UNSUPPORTED, "casting to or from string is not supported");
    if (!cvm_dtype_valid((int)like->dtype))
        return cvm_node_error(c->node, CVM_E_UNSUPPORTED, "cannot cast to element type %d",
                              (int)like->dtype);
    if (c->out[0])
        cvm_set_shape(c->out[0], like->dtype, x->ndim, x->dims);
    return CVM_OK;
}

#define UNARY(name) {"", name, 1, 1, 1, 1, infer_same, 0}
#define BINARY(name, fn) {"", name, 2, 2, 1, 1, fn, 0}

const cvm_op_schema cvm_schemas_elementwise[] = {
    UNARY("Abs"), UNARY("Acos"), UNARY("Acosh"), UNARY("Asin"), UNARY("Asinh"), UNARY("Atan"),
    UNARY("Atanh"), UNARY("Ceil"), UNARY("Cos"), UNARY("Cosh"), UNARY("Erf"), UNARY("Exp"),
    UNARY("Floor"), UNARY("Log"), UNARY("Neg"), UNARY("Reciprocal"), UNARY("Round"),
    UNARY("Sigmoid"), UNARY("Sign"), UNARY("Sin"), UNARY("Sinh"), UNARY("Sqrt"), UNARY("Tan"),
    UNARY("Tanh"), UNARY("Relu"), UNARY("Softplus"), UNARY("Softsign"), UNARY("Not"),
    UNARY("BitwiseNot"), UNARY("Elu"), UNARY("Selu"), UNARY("LeakyRelu"), UNARY("HardSigmoid"),
    UNARY("HardSwish"), UNARY("Mish"), UNARY("ThresholdedRelu"), UNARY("Shrink"),
    UNARY("Identity"),
    {"", "Celu", 1, 1, 1, 1, infer_celu, 0},
    {"", "Gelu", 1, 1, 1, 1, infer_gelu, 0},
    {"", "IsNaN", 1, 1, 1, 1, infer_to_bool, 0},
    {"", "IsInf", 1, 1, 1, 1, infer_to_bool, 0},
    {"", "Clip", 1, 3, 1, 1, infer_clip, 0},
    {"", "PRelu", 2, 2, 1, 1, infer_prelu, 0},
    BINARY("Add", infer_binary), BINARY("Sub", infer_binary), BINARY("Mul", infer_binary),
    BINARY("Div", infer_binary), BINARY("Pow", infer_pow), BINARY("Mod", infer_mod),
    BINARY("BitShift", infer_bitshift), BINARY("BitwiseAnd", infer_binary),
    BINARY("BitwiseOr", infer_binary), BINARY("BitwiseXor", infer_binary),
    BINARY("Equal", infer_compare), BINARY("Greater", infer_compare),
    BINARY("GreaterOrEqual", infer_compare), BINARY("Less", infer_compare),
    BINARY("LessOrEqual", infer_compare), BINARY("And", infer_compare),
    BINARY("Or", infer_compare), BINARY("Xor", infer_compare),
    {"", "Sum", 1, -1, 1, 1, infer_variadic, 0},
    {"", "Mean", 1, -1, 1, 1, infer_variadic, 0},
    {"", "Max", 1, -1, 1, 1, infer_variadic, 0},
    {"", "Min", 1, -1, 1, 1, infer_variadic, 0},
    {"", "Where", 3, 3, 1, 1, infer_where, 0},
    {"", "Cast", 1, 1, 1, 1, infer_cast, 0},
    {"", "CastLike", 2, 2, 1, 1, infer_castlike, 0},
    {0},
};
