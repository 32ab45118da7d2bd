/*
 * Elementwise chain fusion.  PP-OCRv4's and HGNetv2's "learnable affine"
 * blocks follow an activation with Mul by a scalar and Add of a scalar: two
 * full passes over the feature map that become one ScaleShift.  (A scale or
 * bias before the activation is already folded into the convolution.)
 */
#include "graph/fuse_elementwise.h"

#include <stdlib.h>
#include <string.h>

#include "base/str.h"
#include "base/tensor.h"
#include "graph/fuse.h"

static int is_std_op(const cvm_node *n, const char *type)
{
    return (!n->domain[0] || strcmp(n->domain, "ai.onnx") == 0) && strcmp(n->op_type, type) == 0;
}

/* Input slot i of n holds a float32 constant of one element: its value and rank. */
static int const_scalar(const cvm_graph *g, const cvm_node *n, int i, float *val, int *rank)
{
    if (i >= n->n_in || n->in[i] < 0 || n->in[i] >= g->n_values)
        return 0;
    const cvm_tensor *t = g->values[n->in[i]].init;
    int64_t numel;
    if (!t || t->dtype != CVM_DTYPE_FLOAT32 || !t->data ||
        !cvm_shape_numel(t->ndim, t->dims, &numel) || numel != 1)
        return 0;
    *val = *(const float *)t->data;
    *rank = t->ndim;
    return 1;
}

/* A binary node with one scalar constant operand: the other operand's slot. */
static int scalar_operand(const cvm_graph *g, const cvm_node *n, float *val, int *rank)
{
    if (n->n_in != 2 || n->n_out != 1 || n->out[0] < 0)
        return -1;
    if (const_scalar(g, n, 1, val, rank) && n->in[0] >= 0)
        return 0;
    if (const_scalar(g, n, 0, val, rank) && n->in[1] >= 0)
        return 1;
    return -1;
}

/* Turns node n into ScaleShift(x) with the given attributes. */
static cvm_status make_scale_shift(cvm_node *n, int x, int y, float scale, float bias, int rank)
{
    cvm_attr *attrs = calloc(3, sizeof *attrs);
    char *op = cvm_strdup("ScaleShift"), *dom = cvm_strdup(CVM_FUSED_DOMAIN);
    const char *names[3] = {"scale", "bias", "min_rank"};
    int ok = attrs && op && dom;
    for (int i = 0; ok && i < 3; i++) {
        attrs[i].name = cvm_strdup(names[i]);
        ok = attrs[i].name != NULL;
    }
    if (!ok) {
        for (int i = 0; attrs && i < 3; i++)
            free(attrs[i].name);
        free(attrs);
        free(op);
        free(dom);
        return cvm_errorf(CVM_E_NOMEM, "out of memory fusing %s", n->name ? n->name : "");
    }
    attrs[0].type = CVM_ATTR_FLOAT;
    attrs[0].f = scale;
    attrs[1].type = CVM_ATTR_FLOAT;
    attrs[1].f = bias;
    attrs[2].type = CVM_ATTR_INT;
    attrs[2].i = rank;
    for (int a = 0; a < n->n_attr; a++)
        cvm_attr_clear(&n->attrs[a]);
    free(n->attrs);
    n->attrs = attrs;
    n->n_attr = 3;
    free(n->op_type);
    free(n->domain);
    n->op_type = op;
    n->domain = dom;
    n->opset = 1;
    n->n_in = 1;
    n->in[0] = x;
    n->out[0] = y;
    return CVM_OK;
}

cvm_status cvm_fuse_elementwise(cvm_graph *g)
{
    if (!g)
        return cvm_errorf(CVM_E_INVALID_ARG, "cvm_fuse_elementwise: graph is NULL");
    const int nv = g->n_values, nn = g->n_nodes;
    if (nn == 0)
        return CVM_OK;
    int *uses = calloc((size_t)(nv ? nv : 1), sizeof(int));
    int *cons = malloc(sizeof(int) * (size_t)(nv ? nv : 1));
    char *dead = calloc((size_t)nn, 1);
    cvm_status st = CVM_OK;
    if (!uses || !cons || !dead) {
        st = cvm_errorf(CVM_E_NOMEM, "out of memory fusing the graph");
        goto done;
    }
    for (int v = 0; v < nv; v++)
        cons[v] = -1;
    for (int i = 0; i < nn; i++)
        for (int k = 0; k < g->nodes[i].n_in; k++) {
            int v = g->nodes[i].in[k];
            if (v < 0)
                continue;
            if (v >= nv) {
                st = cvm_errorf(CVM_E_INTERNAL, "fusion: node %d refers to value %d of %d", i, v, nv);
                goto done;
            }
            uses[v]++;
            cons[v] = i;
        }
    for (int i = 0; i < g->n_outputs; i++)
        if (g->outputs[i] >= 0 && g->outputs[i] < nv)
            uses[g->outputs[i]]++;
    for (int i = 0; i < nn && st == CVM_OK; i++) {
        cvm_node *mul = &g->nodes[i];
        if (dead[i] || !is_std_op(mul, "Mul"))
            continue;
        float scale, bias;
        int rs, rb;
        int xs = scalar_operand(g, mul, &scale, &rs);
        int mv = mul->n_out == 1 ? mul->out[0] : -1;
        if (xs < 0 || mv < 0 || mv >= nv || uses[mv] != 1 || cons[mv] < 0 || dead[cons[mv]])
            continue;
        cvm_node *add = &g->nodes[cons[mv]];
        if (!is_std_op(add, "Add"))
            continue;
        int ys = scalar_operand(g, add, &bias, &rb);
        if (ys < 0 || add->in[ys] != mv)
            continue;
        int x = mul->in[xs], y = add->out[0];
        dead[cons[mv]] = 1;
        st = make_scale_shift(mul, x, y, scale, bias, rs > rb ? rs : rb);
    }
    if (st != CVM_OK)
        goto done;
    int k = 0;
    for (int i = 0; i < nn; i++) {
        if (dead[i]) {
            cvm_node_clear(&g->nodes[i]);
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
    free(uses);
    free(cons);
    free(dead);
    return st;
}
