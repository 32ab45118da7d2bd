/*
 * CPU kernels of the elementwise operators: the broadcasting engine, the
 * binary and variadic operators, PRelu, and the kernel table.  Unary maths
 * lives in elementwise_unary.c, the span functions of the binary operators in
 * elementwise_binops.c, data movement (Cast, Identity, Where) in
 * elementwise_move.c.
 */
#include <string.h>

#include "backends/cpu/clones.h"
#include "backends/cpu/elementwise_internal.h"
#include "backends/cpu/kernel_tables.h"
#include "graph/fuse.h" /* CVM_FUSED_DOMAIN */

/* ------------------------------------------------------------ broadcasting */

typedef struct ew_plan {
    int nin, nd;
    int64_t dims[CVM_MAX_DIMS];
    int64_t stride[3][CVM_MAX_DIMS]; /* in elements; 0 along broadcast dims */
    const char *src[3];
    size_t esz[3];
    char *y;
    size_t ey;
    int contig[3];
    cvm_ew_span_fn span;
    const void *user;
} ew_plan;

/* Walks output elements [begin, end) one inner row (or part of one) at a time. */
static void ew_range(void *arg, size_t begin, size_t end)
{
    const ew_plan *p = arg;
    const int nd = p->nd;
    int64_t idx[CVM_MAX_DIMS];
    uint64_t rem = begin;
    for (int d = nd - 1; d >= 0; d--) {
        idx[d] = (int64_t)(rem % (uint64_t)p->dims[d]);
        rem /= (uint64_t)p->dims[d];
    }
    const int64_t inner = p->dims[nd - 1];
    size_t pos = begin;
    while (pos < end) {
        const char *src[3] = {NULL, NULL, NULL};
        for (int k = 0; k < p->nin; k++) {
            int64_t off = 0;
            for (int d = 0; d < nd; d++)
                off += idx[d] * p->stride[k][d];
            src[k] = p->src[k] + (size_t)off * p->esz[k];
        }
        size_t len = (size_t)(inner - idx[nd - 1]);
        if (len > end - pos)
            len = end - pos;
        p->span(p->user, src, p->contig, p->y + pos * p->ey, len);
        pos += len;
        idx[nd - 1] = 0;
        for (int d = nd - 2; d >= 0; d--) {
            if (++idx[d] < p->dims[d])
                break;
            idx[d] = 0;
        }
    }
}

cvm_status cvm_ew_broadcast(cvm_threadpool *pool, int nin, const cvm_ew_operand *in, void *y,
                            size_t ey, int ny, const int64_t *ydims, cvm_ew_span_fn span,
                            const void *user)
{
    int64_t numel;
    if (nin < 1 || nin > 3 || ny < 0 || ny > CVM_MAX_DIMS || !cvm_shape_numel(ny, ydims, &numel))
        return cvm_errorf(CVM_E_INTERNAL, "elementwise: bad broadcast request");
    if (numel == 0)
        return CVM_OK;
    int64_t raw[3][CVM_MAX_DIMS];
    int bad = 0;
    for (int k = 0; k < nin; k++) {
        const int n = in[k].ndim;
        bad = k;
        if (n < 0 || n > ny)
            goto mismatch;
        int64_t stride = 1;
        for (int i = ny - 1; i >= 0; i--) {
            const int j = i - (ny - n);
            if (j < 0) {
                raw[k][i] = 0;
                continue;
            }
            const int64_t d = in[k].dims[j];
            if (d == ydims[i] && d != 1)
                raw[k][i] = stride;
            else if (d == 1)
                raw[k][i] = 0;
            else
                goto mismatch;
            stride *= d;
        }
    }

    ew_plan p = {.nin = nin, .y = y, .ey = ey, .span = span, .user = user};
    for (int k = 0; k < nin; k++) {
        p.src[k] = in[k].data;
        p.esz[k] = in[k].esz;
    }
    /* Drop dims of size 1 and merge neighbours that every input walks
     * contiguously (or not at all), so that same-shape, scalar and
     * per-channel cases become one or two long loops. */
    int nd = 0;
    for (int i = 0; i < ny; i++) {
        if (ydims[i] == 1)
            continue;
        int merge = nd > 0;
        for (int k = 0; merge && k < nin; k++)
            merge = p.stride[k][nd - 1] == raw[k][i] * ydims[i];
        if (merge) {
            p.dims[nd - 1] *= ydims[i];
            for (int k = 0; k < nin; k++)
                p.stride[k][nd - 1] = raw[k][i];
        } else {
            p.dims[nd] = ydims[i];
            for (int k = 0; k < nin; k++)
                p.stride[k][nd] = raw[k][i];
            nd++;
        }
    }
    if (nd == 0) {
        nd = 1;
        p.dims[0] = 1;
        for (int k = 0; k < nin; k++)
            p.stride[k][0] = 0;
    }
    p.nd = nd;
    for (int k = 0; k < nin; k++) {
        if (p.stride[k][nd - 1] > 1)
            return cvm_errorf(CVM_E_INTERNAL, "elementwise: inner stride %lld",
                              (long long)p.stride[k][nd - 1]);
        p.contig[k] = p.stride[k][nd - 1] == 1;
    }
    cvm_parallel_for(pool, (size_t)numel, CVM_EW_GRAIN, ew_range, &p);
    return CVM_OK;

mismatch: {
    char s1[128], s2[128];
    const int n = in[bad].ndim < 0 ? 0 : in[bad].ndim > CVM_MAX_DIMS ? CVM_MAX_DIMS : in[bad].ndim;
    return cvm_errorf(CVM_E_SHAPE, "elementwise: input %d shape %s does not broadcast to output %s",
                      bad, cvm_shape_str(n, in[bad].dims, s1, sizeof s1),
                      cvm_shape_str(ny, ydims, s2, sizeof s2));
}
}

/* ---------------------------------------------------------- binary operators */

static void bin_span(const void *user, const char *const *src, const int *contig, char *y, size_t n)
{
    const cvm_ew_bin_fn fn = *(const cvm_ew_bin_fn *)user;
    const int mode = (contig[0] ? 0 : CVM_EW_SV) | (contig[1] ? 0 : CVM_EW_VS);
    fn(src[0], src[1], y, n, mode);
}

static cvm_status ew_binary(cvm_threadpool *pool, cvm_ew_bin_fn fn, const void *a, cvm_dtype ta,
                            int na, const int64_t *ad, const void *b, cvm_dtype tb, int nb,
                            const int64_t *bd, cvm_tensor *y)
{
    const cvm_ew_operand in[2] = {
        {a, cvm_dtype_size(ta), na, ad},
        {b, cvm_dtype_size(tb), nb, bd},
    };
    return cvm_ew_broadcast(pool, 2, in, y->data, cvm_dtype_size(y->dtype), y->ndim, y->dims,
                            bin_span, &fn);
}

static const char *nname(const cvm_node *n) { return n->name ? n->name : ""; }

static cvm_status wrap(const cvm_kernel_ctx *c, cvm_status st)
{
    if (st == CVM_OK)
        return st;
    return cvm_error_wrap(st, "%s node '%s'", c->node->op_type, nname(c->node));
}

static cvm_ew_binop resolve_op(const cvm_kernel_ctx *c, cvm_ew_binop op)
{
    if (op == CVM_EW_MOD && cvm_attr_int(c->node, "fmod", 0) == 1)
        return CVM_EW_FMOD;
    if (op == CVM_EW_SHL && strcmp(cvm_attr_string(c->node, "direction", ""), "RIGHT") == 0)
        return CVM_EW_SHR;
    return op;
}

static cvm_status check_binary(const cvm_kernel_ctx *c, cvm_ew_binop op, cvm_ew_bin_fn *fn)
{
    const cvm_tensor *a = c->in[0], *b = c->in[1];
    *fn = cvm_ew_binop_fn(resolve_op(c, op), a->dtype, b->dtype);
    if (!*fn)
        return cvm_node_error(c->node, CVM_E_UNSUPPORTED, "no CPU kernel for %s and %s inputs",
                              cvm_dtype_name(a->dtype), cvm_dtype_name(b->dtype));
    return CVM_OK;
}

/* Same rule as the schema: before opset 7, 'broadcast' with 'axis' aligns B
 * with A at axis. */
static cvm_status legacy_b_dims(const cvm_kernel_ctx *c, int *nb, int64_t *bd)
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
        return cvm_node_error(c->node, CVM_E_SHAPE, "legacy broadcast axis does not fit");
    int k = 0;
    for (int i = 0; i < a->ndim; i++)
        bd[i] = (i >= axis && k < b->ndim) ? b->dims[k++] : 1;
    *nb = a->ndim;
    return CVM_OK;
}

static cvm_status prepare_binary(const cvm_kernel_ctx *c, cvm_ew_binop op)
{
    cvm_ew_bin_fn fn;
    return check_binary(c, op, &fn);
}

static cvm_status run_binary(const cvm_kernel_ctx *c, cvm_ew_binop op)
{
    const cvm_tensor *a = c->in[0], *b = c->in[1];
    cvm_ew_bin_fn fn;
    CVM_TRY(check_binary(c, op, &fn));
    int nb;
    int64_t bd[CVM_MAX_DIMS];
    CVM_TRY(legacy_b_dims(c, &nb, bd));
    return wrap(c, ew_binary(c->pool, fn, a->data, a->dtype, a->ndim, a->dims, b->data, b->dtype,
                             nb, bd, c->out[0]));
}

#define BINARY_KERNEL(Name, OP)                                                               \
    static cvm_status prepare_##Name(const cvm_kernel_ctx *c, void **state, size_t *scratch) \
    {                                                                                         \
        (void)state;                                                                          \
        (void)scratch;                                                                        \
        return prepare_binary(c, OP);                                                         \
    }                                                                                         \
    static cvm_status run_##Name(const cvm_kernel_ctx *c) { return run_binary(c, OP); }

BINARY_KERNEL(Add, CVM_EW_ADD)
BINARY_KERNEL(Sub, CVM_EW_SUB)
BINARY_KERNEL(Mul, CVM_EW_MUL)
BINARY_KERNEL(Div, CVM_EW_DIV)
BINARY_KERNEL(Pow, CVM_EW_POW)
BINARY_KERNEL(Mod, CVM_EW_MOD)
BINARY_KERNEL(BitShift, CVM_EW_SHL)
BINARY_KERNEL(BitwiseAnd, CVM_EW_BAND)
BINARY_KERNEL(BitwiseOr, CVM_EW_BOR)
BINARY_KERNEL(BitwiseXor, CVM_EW_BXOR)
BINARY_KERNEL(Equal, CVM_EW_EQ)
BINARY_KERNEL(Greater, CVM_EW_GT)
BINARY_KERNEL(GreaterOrEqual, CVM_EW_GE)
BINARY_KERNEL(Less, CVM_EW_LT)
BINARY_KERNEL(LessOrEqual, CVM_EW_LE)
BINARY_KERNEL(And, CVM_EW_AND)
BINARY_KERNEL(Or, CVM_EW_OR)
BINARY_KERNEL(Xor, CVM_EW_XOR)

/* ------------------------------------------------------------------- PRelu */

static cvm_status prepare_PRelu(const cvm_kernel_ctx *c, void **state, size_t *scratch)
{
    (void)state;
    (void)scratch;
    return prepare_binary(c, CVM_EW_PRELU);
}

static cvm_status run_PRelu(const cvm_kernel_ctx *c)
{
    const cvm_tensor *x = c->in[0], *s = c->in[1];
    cvm_ew_bin_fn fn;
    CVM_TRY(check_binary(c, CVM_EW_PRELU, &fn));
    /* The schema's reading of a legacy [C] slope as per-channel. */
    int ns = s->ndim;
    int64_t sd[CVM_MAX_DIMS];
    for (int i = 0; i < ns; i++)
        sd[i] = s->dims[i];
    if (ns == 1 && x->ndim >= 3 && s->dims[0] == x->dims[1] && s->dims[0] != x->dims[x->ndim - 1]) {
        ns = x->ndim - 1;
        for (int i = 0; i < ns; i++)
            sd[i] = i == 0 ? s->dims[0] : 1;
    }
    return wrap(c, ew_binary(c->pool, fn, x->data, x->dtype, x->ndim, x->dims, s->data, s->dtype,
                             ns, sd, c->out[0]));
}

/* --------------------------------------------------------------- variadic */

typedef struct scale_arg {
    float *y;
    float k;
} scale_arg;

static void scale_range(void *arg, size_t b, size_t e)
{
    const scale_arg *s = arg;
    float *restrict y = s->y;
    const float k = s->k;
    CVM_EW_FOR(i, e - b, y[b + i] *= k);
}

static cvm_status check_variadic(const cvm_kernel_ctx *c, cvm_ew_binop op, int mean,
                                 cvm_ew_bin_fn *fn)
{
    *fn = NULL;
    if (c->n_in < 1 || !c->in[0])
        return cvm_node_error(c->node, CVM_E_PARSE, "needs at least one input");
    cvm_dtype t = c->in[0]->dtype;
    for (int i = 1; i < c->n_in; i++)
        if (!c->in[i] || c->in[i]->dtype != t)
            return cvm_node_error(c->node, CVM_E_TYPE, "input %d is missing or not %s", i,
                                  cvm_dtype_name(t));
    *fn = cvm_ew_binop_fn(op, t, t);
    if (!*fn || (mean && t != CVM_DTYPE_FLOAT32))
        return cvm_node_error(c->node, CVM_E_UNSUPPORTED, "no CPU kernel for %s inputs",
                              cvm_dtype_name(t));
    return CVM_OK;
}

static cvm_status run_variadic(const cvm_kernel_ctx *c, cvm_ew_binop op, int mean)
{
    cvm_ew_bin_fn fn;
    CVM_TRY(check_variadic(c, op, mean, &fn));
    cvm_tensor *y = c->out[0];
    const cvm_tensor *x0 = c->in[0];
    if (c->n_in == 1) {
        const int64_t n = cvm_tensor_numel(x0);
        if (n != cvm_tensor_numel(y))
            return cvm_node_error(c->node, CVM_E_SHAPE, "output size differs from the input's");
        if (n && y->data != x0->data)
            memmove(y->data, x0->data, (size_t)n * cvm_dtype_size(y->dtype));
        return CVM_OK;
    }
    const cvm_tensor *x1 = c->in[1];
    CVM_TRY(wrap(c, ew_binary(c->pool, fn, x0->data, x0->dtype, x0->ndim, x0->dims, x1->data,
                              x1->dtype, x1->ndim, x1->dims, y)));
    /* Fold the rest into the output in place: each output element depends
     * only on the same element of the running result. */
    for (int i = 2; i < c->n_in; i++) {
        const cvm_tensor *xi = c->in[i];
        CVM_TRY(wrap(c, ew_binary(c->pool, fn, y->data, y->dtype, y->ndim, y->dims, xi->data,
                                  xi->dtype, xi->ndim, xi->dims, y)));
    }
    if (mean) {
        scale_arg s = {y->data, 1.0f / (float)c->n_in};
        cvm_parallel_for(c->pool, (size_t)cvm_tensor_numel(y), CVM_EW_GRAIN, scale_range, &s);
    }
    return CVM_OK;
}

#define VARIADIC_KERNEL(Name, OP, MEAN)                                                       \
    static cvm_status prepare_##Name(const cvm_kernel_ctx *c, void **state, size_t *scratch) \
    {                                                                                         \
        (void)state;                                                                          \
        (void)scratch;                                                                        \
        cvm_ew_bin_fn fn;                                                                     \
        return check_variadic(c, OP, MEAN, &fn);                                              \
    }                                                                                         \
    static cvm_status run_##Name(const cvm_kernel_ctx *c) { return run_variadic(c, OP, MEAN); }

VARIADIC_KERNEL(Sum, CVM_EW_ADD, 0)
VARIADIC_KERNEL(Mean, CVM_EW_ADD, 1)
VARIADIC_KERNEL(Max, CVM_EW_MAX, 0)
VARIADIC_KERNEL(Min, CVM_EW_MIN, 0)

/* -------------------------------------------------------------- ScaleShift */

typedef struct ss_job {
    const float *x;
    float *y;
    float scale, bias;
} ss_job;

CVM_CPU_CLONES static void ss_range(void *arg, size_t b, size_t e)
{
    const ss_job *j = arg;
    const float *x = j->x;
    float *y = j->y;
    const float s = j->scale, o = j->bias;
    for (size_t i = b; i < e; i++) {
        /* two statements: the product is rounded before the sum (no FMA
         * contraction), as the Mul and Add this replaces computed it */
        float t = x[i] * s;
        y[i] = t + o;
    }
}

/* ScaleShift (created by the fusion pass): Y = X * scale + bias, in place or not. */
static cvm_status run_ScaleShift(const cvm_kernel_ctx *c)
{
    const cvm_tensor *x = c->in[0];
    cvm_tensor *y = c->out[0];
    if (x->dtype != CVM_DTYPE_FLOAT32 || y->dtype != CVM_DTYPE_FLOAT32)
        return cvm_node_error(c->node, CVM_E_UNSUPPORTED, "ScaleShift of %s",
                              cvm_dtype_name(x->dtype));
    const int64_t n = cvm_tensor_numel(x);
    if (n != cvm_tensor_numel(y))
        return cvm_node_error(c->node, CVM_E_SHAPE, "output size differs from the input's");
    ss_job j = {x->data, y->data, cvm_attr_float(c->node, "scale", 1.0f),
                cvm_attr_float(c->node, "bias", 0.0f)};
    cvm_parallel_for(c->pool, (size_t)n, CVM_EW_GRAIN, ss_range, &j);
    return CVM_OK;
}

/* ------------------------------------------------------------------ table */

#define K(Name) {"", #Name, prepare_##Name, NULL, run_##Name, 0}
#define U(Name) {"", Name, cvm_ew_prepare_unary, NULL, cvm_ew_run_unary, 0}

const cvm_kernel_def cvm_cpu_kernels_elementwise[] = {
    K(Add), K(Sub), K(Mul), K(Div), K(Pow), K(Mod), K(BitShift), K(BitwiseAnd), K(BitwiseOr),
    K(BitwiseXor), K(Equal), K(Greater), K(GreaterOrEqual), K(Less), K(LessOrEqual), K(And),
    K(Or), K(Xor), K(PRelu), K(Sum), K(Mean), K(Max), K(Min),
    U("Abs"), U("Acos"), U("Acosh"), U("Asin"), U("Asinh"), U("Atan"), U("Atanh"), U("Ceil"),
    U("Cos"), U("Cosh"), U("Erf"), U("Exp"), U("Floor"), U("Log"), U("Neg"), U("Reciprocal"),
    U("Round"), U("Sigmoid"), U("Sign"), U("Sin"), U("Sinh"), U("Sqrt"), U("Tan"), U("Tanh"),
    U("Relu"), U("Softplus"), U("Softsign"), U("IsNaN"), U("IsInf"), U("Not"), U("BitwiseNot"),
    U("Elu"), U("Selu"), U("Celu"), U("LeakyRelu"), U("HardSigmoid"), U("HardSwish"), U("Gelu"),
    U("Mish"), U("ThresholdedRelu"), U("Shrink"), U("Clip"),
    {"", "Cast", NULL, NULL, cvm_ew_run_cast, CVM_KERNEL_ANY_FLOAT},
    {"", "CastLike", NULL, NULL, cvm_ew_run_cast, CVM_KERNEL_ANY_FLOAT},
    {"", "Identity", NULL, NULL, cvm_ew_run_identity, CVM_KERNEL_ANY_FLOAT},
    {"", "Where", NULL, NULL, cvm_ew_run_where, CVM_KERNEL_ANY_FLOAT},
    {CVM_FUSED_DOMAIN, "ScaleShift", NULL, NULL, run_ScaleShift, 0},
    {0},
};
