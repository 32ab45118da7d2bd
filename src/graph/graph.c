#include "graph/graph.h"

#include <stdlib.h>
#include <string.h>

#include "base/status.h"
#include "base/str.h"

/* Names are never NULL in the IR: a missing one becomes "". */
static char *dup_str(const char *s) { return cvm_strdup(s ? s : ""); }

cvm_status cvm_graph_create(cvm_graph **out)
{
    *out = calloc(1, sizeof **out);
    if (!*out)
        return cvm_errorf(CVM_E_NOMEM, "out of memory creating a graph");
    return CVM_OK;
}

void cvm_attr_clear(cvm_attr *a)
{
    free(a->name);
    free(a->s);
    cvm_tensor_free(a->t);
    cvm_graph_free(a->g);
    free(a->floats);
    free(a->ints);
    if (a->strings)
        for (size_t i = 0; i < a->n; i++)
            free(a->strings[i]);
    free(a->strings);
    if (a->tensors)
        for (size_t i = 0; i < a->n; i++)
            cvm_tensor_free(a->tensors[i]);
    free(a->tensors);
    if (a->graphs)
        for (size_t i = 0; i < a->n; i++)
            cvm_graph_free(a->graphs[i]);
    free(a->graphs);
    memset(a, 0, sizeof *a);
}

void cvm_node_clear(cvm_node *n)
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

void cvm_graph_free(cvm_graph *g)
{
    if (!g)
        return;
    for (int i = 0; i < g->n_values; i++) {
        cvm_value *v = &g->values[i];
        free(v->name);
        for (int d = 0; d < CVM_MAX_DIMS; d++)
            free(v->dims[d].param);
        cvm_tensor_free(v->init);
    }
    free(g->values);
    for (int i = 0; i < g->n_nodes; i++)
        cvm_node_clear(&g->nodes[i]);
    free(g->nodes);
    free(g->inputs);
    free(g->outputs);
    for (int i = 0; i < g->n_opsets; i++)
        free(g->opsets[i].domain);
    free(g->opsets);
    free(g->name);
    free(g);
}

int cvm_graph_find_value(const cvm_graph *g, const char *name)
{
    /* Linear scan: graphs have at most a few thousand values and lookups
     * happen at load time only. The loader keeps its own hash for bulk work. */
    for (int i = 0; i < g->n_values; i++)
        if (strcmp(g->values[i].name, name) == 0)
            return i;
    return -1;
}

cvm_status cvm_graph_value(cvm_graph *g, const char *name, int *index)
{
    int i = cvm_graph_find_value(g, name);
    if (i >= 0) {
        *index = i;
        return CVM_OK;
    }
    if (g->n_values == g->cap_values) {
        int cap = g->cap_values ? g->cap_values * 2 : 64;
        cvm_value *nv = realloc(g->values, (size_t)cap * sizeof *nv);
        if (!nv)
            return cvm_errorf(CVM_E_NOMEM, "out of memory growing the value table");
        g->values = nv;
        g->cap_values = cap;
    }
    cvm_value *v = &g->values[g->n_values];
    memset(v, 0, sizeof *v);
    v->name = dup_str(name);
    if (!v->name)
        return cvm_errorf(CVM_E_NOMEM, "out of memory");
    v->ndim = -1;
    v->producer = -1;
    for (int d = 0; d < CVM_MAX_DIMS; d++)
        v->dims[d].value = -1;
    *index = g->n_values++;
    return CVM_OK;
}

cvm_status cvm_graph_add_node(cvm_graph *g, const char *op_type, const char *domain,
                              const char *name, int n_in, const int *in, int n_out,
                              const int *out, int *index)
{
    if (g->n_nodes == g->cap_nodes) {
        int cap = g->cap_nodes ? g->cap_nodes * 2 : 64;
        cvm_node *nn = realloc(g->nodes, (size_t)cap * sizeof *nn);
        if (!nn)
            return cvm_errorf(CVM_E_NOMEM, "out of memory growing the node table");
        g->nodes = nn;
        g->cap_nodes = cap;
    }
    cvm_node *n = &g->nodes[g->n_nodes];
    memset(n, 0, sizeof *n);
    n->op_type = dup_str(op_type);
    n->domain = dup_str(domain);
    n->name = dup_str(name);
    n->in = malloc(sizeof(int) * (size_t)(n_in ? n_in : 1));
    n->out = malloc(sizeof(int) * (size_t)(n_out ? n_out : 1));
    if (!n->op_type || !n->domain || !n->name || !n->in || !n->out) {
        free(n->op_type); free(n->domain); free(n->name); free(n->in); free(n->out);
        return cvm_errorf(CVM_E_NOMEM, "out of memory adding a node");
    }
    n->n_in = n_in;
    n->n_out = n_out;
    if (n_in)
        memcpy(n->in, in, sizeof(int) * (size_t)n_in);
    if (n_out)
        memcpy(n->out, out, sizeof(int) * (size_t)n_out);
    if (index)
        *index = g->n_nodes;
    g->n_nodes++;
    return CVM_OK;
}

const cvm_attr *cvm_node_attr(const cvm_node *n, const char *name)
{
    for (int i = 0; i < n->n_attr; i++)
        if (strcmp(n->attrs[i].name, name) == 0)
            return &n->attrs[i];
    return NULL;
}

int64_t cvm_attr_int(const cvm_node *n, const char *name, int64_t def)
{
    const cvm_attr *a = cvm_node_attr(n, name);
    if (!a)
        return def;
    if (a->type == CVM_ATTR_INT)
        return a->i;
    if (a->type == CVM_ATTR_FLOAT)
        return (int64_t)a->f;
    return def;
}

float cvm_attr_float(const cvm_node *n, const char *name, float def)
{
    const cvm_attr *a = cvm_node_attr(n, name);
    if (!a)
        return def;
    if (a->type == CVM_ATTR_FLOAT)
        return a->f;
    if (a->type == CVM_ATTR_INT)
        return (float)a->i;
    return def;
}

const char *cvm_attr_string(const cvm_node *n, const char *name, const char *def)
{
    const cvm_attr *a = cvm_node_attr(n, name);
    return a && a->type == CVM_ATTR_STRING && a->s ? a->s : def;
}

const int64_t *cvm_attr_ints(const cvm_node *n, const char *name, size_t *count)
{
    const cvm_attr *a = cvm_node_attr(n, name);
    if (!a || a->type != CVM_ATTR_INTS) {
        *count = 0;
        return NULL;
    }
    *count = a->n;
    return a->ints;
}

const float *cvm_attr_floats(const cvm_node *n, const char *name, size_t *count)
{
    const cvm_attr *a = cvm_node_attr(n, name);
    if (!a || a->type != CVM_ATTR_FLOATS) {
        *count = 0;
        return NULL;
    }
    *count = a->n;
    return a->floats;
}
