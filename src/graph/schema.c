#include "graph/schema.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "graph/fuse.h" /* cvm_schemas_fused */
#include "graph/schema_tables.h"

/* Each group of operators contributes one table, terminated by an entry with
 * type == NULL.  Listing them here (not by linker tricks) keeps static
 * linking and dead-code elimination predictable. */
static const cvm_op_schema *const tables[] = {
    cvm_schemas_elementwise, cvm_schemas_nn, cvm_schemas_tensor, cvm_schemas_reduce,
    cvm_schemas_quant, cvm_schemas_fused, cvm_schemas_detection,
};

static int domain_eq(const char *a, const char *b)
{
    if (!a || !*a || strcmp(a, "ai.onnx") == 0)
        a = "";
    if (!b || !*b || strcmp(b, "ai.onnx") == 0)
        b = "";
    return strcmp(a, b) == 0;
}

const cvm_op_schema *cvm_schema_find(const char *domain, const char *type)
{
    for (size_t t = 0; t < sizeof tables / sizeof tables[0]; t++)
        for (const cvm_op_schema *s = tables[t]; s->type; s++)
            if (strcmp(s->type, type) == 0 && domain_eq(s->domain, domain))
                return s;
    return NULL;
}

void cvm_schema_each(void (*fn)(const cvm_op_schema *s, void *arg), void *arg)
{
    for (size_t t = 0; t < sizeof tables / sizeof tables[0]; t++)
        for (const cvm_op_schema *s = tables[t]; s->type; s++)
            fn(s, arg);
}

void cvm_set_shape(cvm_tensor *out, cvm_dtype dt, int ndim, const int64_t *dims)
{
    out->dtype = dt;
    out->ndim = ndim;
    for (int i = 0; i < ndim; i++)
        out->dims[i] = dims[i];
}

cvm_status cvm_broadcast_shape(int na, const int64_t *a, int nb, const int64_t *b, int *nout,
                               int64_t *out)
{
    int n = na > nb ? na : nb;
    int64_t res[CVM_MAX_DIMS];
    for (int i = 0; i < n; i++) {
        int64_t da = i < n - na ? 1 : a[i - (n - na)];
        int64_t db = i < n - nb ? 1 : b[i - (n - nb)];
        if (da == db || db == 1)
            res[i] = da;
        else if (da == 1)
            res[i] = db;
        else {
            char sa[128], sb[128];
            return cvm_errorf(CVM_E_SHAPE, "shapes %s and %s do not broadcast",
                              cvm_shape_str(na, a, sa, sizeof sa), cvm_shape_str(nb, b, sb, sizeof sb));
        }
    }
    for (int i = 0; i < n; i++)
        out[i] = res[i];
    *nout = n;
    return CVM_OK;
}

cvm_status cvm_norm_axis(int64_t axis, int rank, const char *op, int *out)
{
    int64_t a = axis < 0 ? axis + rank : axis;
    if (a < 0 || a >= (rank ? rank : 1))
        return cvm_errorf(CVM_E_SHAPE, "%s: axis %lld is out of range for rank %d", op,
                          (long long)axis, rank);
    *out = (int)a;
    return CVM_OK;
}

cvm_status cvm_node_error(const cvm_node *n, cvm_status s, const char *fmt, ...)
{
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return cvm_errorf(s, "%s node '%s': %s", n->op_type, n->name ? n->name : "", msg);
}
