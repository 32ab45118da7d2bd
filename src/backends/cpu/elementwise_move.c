/* Data movement among the elementwise operators: Cast, CastLike, Identity
 * and Where.  They handle every element type themselves. */
#include <string.h>

#include "backends/cpu/elementwise_internal.h"

static cvm_status check_io(const cvm_kernel_ctx *c, int n_in)
{
    if (c->n_in < n_in || c->n_out < 1 || !c->out[0])
        return cvm_node_error(c->node, CVM_E_PARSE, "needs %d inputs and one output", n_in);
    for (int i = 0; i < n_in; i++)
        if (!c->in[i])
            return cvm_node_error(c->node, CVM_E_PARSE, "input %d is missing", i);
    return CVM_OK;
}

typedef struct cast_arg {
    cvm_dtype from, to;
    const char *x;
    char *y;
    size_t ex, ey;
} cast_arg;

static void cast_range(void *arg, size_t b, size_t e)
{
    const cast_arg *a = arg;
    cvm_convert(a->from, a->x + b * a->ex, a->to, a->y + b * a->ey, (int64_t)(e - b));
}

cvm_status cvm_ew_run_cast(const cvm_kernel_ctx *c)
{
    CVM_TRY(check_io(c, 1));
    const cvm_tensor *x = c->in[0];
    cvm_tensor *y = c->out[0];
    const size_t ex = cvm_dtype_size(x->dtype), ey = cvm_dtype_size(y->dtype);
    if (!ex || !ey)
        return cvm_node_error(c->node, CVM_E_UNSUPPORTED, "cannot cast %s to %s",
                              cvm_dtype_name(x->dtype), cvm_dtype_name(y->dtype));
    const int64_t n = cvm_tensor_numel(x);
    if (n != cvm_tensor_numel(y))
        return cvm_node_error(c->node, CVM_E_SHAPE, "input and output sizes differ");
    if (n == 0)
        return CVM_OK;
    if (x->dtype == y->dtype) {
        if (x->data != y->data)
            memmove(y->data, x->data, (size_t)n * ex);
        return CVM_OK;
    }
    cast_arg a = {x->dtype, y->dtype, x->data, y->data, ex, ey};
    cvm_parallel_for(c->pool, (size_t)n, CVM_EW_GRAIN, cast_range, &a);
    return CVM_OK;
}

cvm_status cvm_ew_run_identity(const cvm_kernel_ctx *c)
{
    CVM_TRY(check_io(c, 1));
    const cvm_tensor *x = c->in[0];
    cvm_tensor *y = c->out[0];
    const int64_t n = cvm_tensor_numel(x);
    if (x->dtype != y->dtype || n != cvm_tensor_numel(y))
        return cvm_node_error(c->node, CVM_E_SHAPE, "output differs from the input in type or size");
    if (n && x->data != y->data)
        memmove(y->data, x->data, (size_t)n * cvm_dtype_size(x->dtype));
    return CVM_OK;
}

/* Where's inner loop: the fast form when all three advance together,
 * otherwise steps of 0 or 1 per input. */
#define WHERE_LOOP(T)                                                                         \
    static void where_loop_##T(const void *restrict vc, const void *restrict va,              \
                               const void *restrict vb, void *restrict vy, const int *contig, \
                               size_t n)                                                      \
    {                                                                                         \
        const uint8_t *cond = vc;                                                             \
        const T *a = va, *b = vb;                                                             \
        T *y = vy;                                                                            \
        if (contig[0] && contig[1] && contig[2]) {                                            \
            /* a bit mask instead of ?: so that gcc vectorises it */                       \
            CVM_EW_FOR(i, n, const T m = (T)((T)0 - (T)(cond[i] != 0));                       \
                       y[i] = (T)((a[i] & m) | (b[i] & (T)~m)));                                \
            return;                                                                           \
        }                                                                                     \
        const size_t sc = (size_t)contig[0], sa = (size_t)contig[1], sb = (size_t)contig[2];  \
        for (size_t i = 0; i < n; i++)                                                        \
            y[i] = cond[i * sc] ? a[i * sa] : b[i * sb];                                      \
    }                                                                                         \
    static void where_span_##T(const void *user, const char *const *src, const int *contig,   \
                               char *y, size_t n)                                             \
    {                                                                                         \
        (void)user;                                                                           \
        where_loop_##T(src[0], src[1], src[2], y, contig, n);                                 \
    }

WHERE_LOOP(uint8_t)
WHERE_LOOP(uint16_t)
WHERE_LOOP(uint32_t)
WHERE_LOOP(uint64_t)

cvm_status cvm_ew_run_where(const cvm_kernel_ctx *c)
{
    CVM_TRY(check_io(c, 3));
    const cvm_tensor *cond = c->in[0], *a = c->in[1], *b = c->in[2];
    cvm_tensor *y = c->out[0];
    if (cond->dtype != CVM_DTYPE_BOOL || a->dtype != b->dtype || a->dtype != y->dtype)
        return cvm_node_error(c->node, CVM_E_TYPE, "condition must be bool and X, Y, output one type");
    const size_t es = cvm_dtype_size(a->dtype);
    cvm_ew_span_fn span = es == 1   ? where_span_uint8_t
                           : es == 2 ? where_span_uint16_t
                           : es == 4 ? where_span_uint32_t
                           : es == 8 ? where_span_uint64_t
                                     : NULL;
    if (!span)
        return cvm_node_error(c->node, CVM_E_UNSUPPORTED, "no CPU kernel for %s",
                              cvm_dtype_name(a->dtype));
    const cvm_ew_operand in[3] = {
        {cond->data, 1, cond->ndim, cond->dims},
        {a->data, es, a->ndim, a->dims},
        {b->data, es, b->ndim, b->dims},
    };
    cvm_status st = cvm_ew_broadcast(c->pool, 3, in, y->data, es, y->ndim, y->dims, span, NULL);
    if (st != CVM_OK)
        return cvm_error_wrap(st, "Where node '%s'", c->node->name ? c->node->name : "");
    return CVM_OK;
}
