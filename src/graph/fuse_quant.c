#include "graph/fuse_quant.h"

#include <stdlib.h>
#include <string.h>

#include "base/tensor.h"

static cvm_status infer_conv_integer_scaled(const cvm_infer_ctx *c)
{
    const cvm_tensor *s = c->n_in > 4 ? c->in[4] : NULL;
    int64_t numel;
    if (!s || s->dtype != CVM_DTYPE_FLOAT32 || !cvm_shape_numel(s->ndim, s->dims, &numel) || numel != 1 ||
        s->ndim > 1)
        return cvm_node_error(c->node, CVM_E_SHAPE, "scale must be one float32 value of rank 0 or 1");
    /* The convolution's own checks and shape, then its float output type. */
    const cvm_op_schema *ci = cvm_schema_find("", "ConvInteger");
    if (!ci || !ci->infer)
        return cvm_node_error(c->node, CVM_E_INTERNAL, "no ConvInteger schema");
    cvm_infer_ctx sub = *c;
    sub.n_in = 4;
    CVM_TRY(ci->infer(&sub));
    cvm_tensor *y = c->out[0];
    cvm_set_shape(y, CVM_DTYPE_FLOAT32, y->ndim, y->dims);
    return CVM_OK;
}

const cvm_op_schema cvm_schemas_quant_fused[] = {
    {"cvm", "ConvIntegerScaled", 5, 5, 1, 1, infer_conv_integer_scaled, 0},
    {0},
};

static int is_op(const cvm_node *n, const char *type)
{
    return (!n->domain[0] || strcmp(n->domain, "ai.onnx") == 0) && strcmp(n->op_type, type) == 0;
}

/* A constant float32 holding one value, of rank 0 or 1 (so that multiplying
 * by it never changes the other operand's shape). */
static int const_scalar(const cvm_graph *g, int v)
{
    if (v < 0 || v >= g->n_values)
        return 0;
    const cvm_tensor *t = g->values[v].init;
    int64_t numel;
    return t && t->data && t->dtype == CVM_DTYPE_FLOAT32 && t->ndim <= 1 &&
           cvm_shape_numel(t->ndim, t->dims, &numel) && numel == 1;
}

typedef struct fq_ctx {
    cvm_graph *g;
    int *uses, *cons, *prod;
    char *dead;
} fq_ctx;

/* S is one float: a constant, or Mul(DynamicQuantizeLinear's scale, constant)
 * as the quantiser writes x_scale * w_scale. */
static int scalar_value(const fq_ctx *f, int v)
{
    if (const_scalar(f->g, v))
        return 1;
    int p = v >= 0 ? f->prod[v] : -1;
    if (p < 0)
        return 0;
    const cvm_node *m = &f->g->nodes[p];
    if (!is_op(m, "Mul") || m->n_in != 2 || m->n_out != 1)
        return 0;
    for (int i = 0; i < 2; i++) {
        int a = m->in[i], b = m->in[1 - i];
        int q = a >= 0 ? f->prod[a] : -1;
        if (q >= 0 && is_op(&f->g->nodes[q], "DynamicQuantizeLinear") && f->g->nodes[q].n_out > 1 &&
            f->g->nodes[q].out[1] == a && const_scalar(f->g, b))
            return 1;
    }
    return 0;
}

static cvm_node *sole(const fq_ctx *f, int v)
{
    if (v < 0 || v >= f->g->n_values || f->uses[v] != 1 || f->cons[v] < 0 || f->dead[f->cons[v]])
        return NULL;
    return &f->g->nodes[f->cons[v]];
}

static cvm_status fuse_one(fq_ctx *f, int ci)
{
    cvm_graph *g = f->g;
    cvm_node *conv = &g->nodes[ci];
    if (conv->n_out != 1 || conv->n_in < 2 || conv->n_in > 4)
        return CVM_OK;
    cvm_node *cast = sole(f, conv->out[0]);
    if (!cast || !is_op(cast, "Cast") || cast->n_in != 1 || cast->n_out != 1 ||
        cvm_attr_int(cast, "to", 0) != CVM_DTYPE_FLOAT32)
        return CVM_OK;
    cvm_node *mul = sole(f, cast->out[0]);
    if (!mul || !is_op(mul, "Mul") || mul->n_in != 2 || mul->n_out != 1)
        return CVM_OK;
    int s = mul->in[0] == cast->out[0] ? mul->in[1] : mul->in[0];
    if (s == cast->out[0] || !scalar_value(f, s))
        return CVM_OK;
    int *in = malloc(sizeof(int) * 5);
    char *type = malloc(sizeof "ConvIntegerScaled"), *dom = malloc(sizeof "cvm");
    if (!in || !type || !dom) {
        free(in);
        free(type);
        free(dom);
        return cvm_errorf(CVM_E_NOMEM, "out of memory fusing %s", conv->name ? conv->name : "ConvInteger");
    }
    memcpy(type, "ConvIntegerScaled", sizeof "ConvIntegerScaled");
    memcpy(dom, "cvm", sizeof "cvm");
    for (int i = 0; i < 4; i++)
        in[i] = i < conv->n_in ? conv->in[i] : -1;
    in[4] = s;
    free(conv->in);
    conv->in = in;
    conv->n_in = 5;
    free(conv->op_type);
    conv->op_type = type;
    free(conv->domain);
    conv->domain = dom;
    conv->out[0] = mul->out[0];
    f->dead[cast - g->nodes] = 1;
    f->dead[mul - g->nodes] = 1;
    return CVM_OK;
}

static void clear_node(cvm_node *n)
{
    free(n->name);
    free(n->op_type);
    free(n->domain);
    free(n->in);
    free(n->out);
    for (int a = 0; a < n->n_attr; a++)
        cvm_attr_clear(&n->attrs[a]);
    free(n->attrs);
    memset(n, 0, sizeof *n);
}

cvm_status cvm_graph_fuse_quant(cvm_graph *g)
{
    if (!g)
        return cvm_errorf(CVM_E_INVALID_ARG, "cvm_graph_fuse_quant: graph is NULL");
    if (g->n_nodes == 0 || !cvm_schema_find("cvm", "ConvIntegerScaled"))
        return CVM_OK;
    int nv = g->n_values;
    fq_ctx f = {g, NULL, NULL, NULL, NULL};
    f.uses = calloc((size_t)nv + 1, sizeof(int));
    f.cons = malloc(sizeof(int) * ((size_t)nv + 1));
    f.prod = malloc(sizeof(int) * ((size_t)nv + 1));
    f.dead = calloc((size_t)g->n_nodes, 1);
    cvm_status st = CVM_OK;
    if (!f.uses || !f.cons || !f.prod || !f.dead) {
        st = cvm_errorf(CVM_E_NOMEM, "out of memory fusing the graph");
        goto done;
    }
    for (int v = 0; v < nv; v++)
        f.cons[v] = f.prod[v] = -1;
    for (int i = 0; i < g->n_nodes; i++) {
        const cvm_node *n = &g->nodes[i];
        for (int k = 0; k < n->n_in; k++) {
            int v = n->in[k];
            if (v < 0)
                continue;
            if (v >= nv) {
                st = cvm_errorf(CVM_E_INTERNAL, "fusion: node %d refers to value %d of %d", i, v, nv);
                goto done;
            }
            f.uses[v]++;
            f.cons[v] = i;
        }
        for (int k = 0; k < n->n_out; k++)
            if (n->out[k] >= 0 && n->out[k] < nv)
                f.prod[n->out[k]] = i;
    }
    for (int i = 0; i < g->n_outputs; i++)
        if (g->outputs[i] >= 0 && g->outputs[i] < nv)
            f.uses[g->outputs[i]]++;
    for (int i = 0; i < g->n_nodes && st == CVM_OK; i++)
        if (!f.dead[i] && is_op(&g->nodes[i], "ConvInteger"))
            st = fuse_one(&f, i);
    int k = 0;
    for (int i = 0; i < g->n_nodes; i++) {
        if (f.dead[i]) {
            clear_node(&g->nodes[i]);
            continue;
        }
        if (k != i)
            g->nodes[k] = g->nodes[i];
        k++;
    }
    g->n_nodes = k;
    for (int v = 0; v < g->n_values; v++)
        g->values[v].producer = -1;
    for (int i = 0; i < g->n_nodes; i++)
        for (int o = 0; o < g->nodes[i].n_out; o++)
            if (g->nodes[i].out[o] >= 0)
                g->values[g->nodes[i].out[o]].producer = i;
done:
    free(f.uses);
    free(f.cons);
    free(f.prod);
    free(f.dead);
    return st;
}
