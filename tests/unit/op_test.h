/* Shared helpers for the operator unit tests: one node in a fresh graph,
 * its attributes, input tensors and expectations (cmocka asserts), and
 * graphs of several nodes built from value names. */
#ifndef CVM_TESTS_OP_TEST_H
#define CVM_TESTS_OP_TEST_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/eval.h"

static inline cvm_graph *mk(const char *op, int n_in, int n_out, cvm_node **node)
{
    cvm_graph *g;
    assert_int_equal(cvm_graph_create(&g), CVM_OK);
    int in[16], out[8];
    char name[16];
    for (int i = 0; i < n_in; i++) {
        snprintf(name, sizeof name, "i%d", i);
        assert_int_equal(cvm_graph_value(g, name, &in[i]), CVM_OK);
    }
    for (int i = 0; i < n_out; i++) {
        snprintf(name, sizeof name, "o%d", i);
        assert_int_equal(cvm_graph_value(g, name, &out[i]), CVM_OK);
    }
    int idx;
    assert_int_equal(cvm_graph_add_node(g, op, "", "n", n_in, in, n_out, out, &idx), CVM_OK);
    *node = &g->nodes[idx];
    return g;
}

/* Graph building by name for the session tests: a value's index, and a
 * node of opset 13 (at most 4 inputs, one output). */
static inline int val(cvm_graph *g, const char *name)
{
    int v;
    assert_int_equal(cvm_graph_value(g, name, &v), CVM_OK);
    return v;
}

static inline cvm_node *node(cvm_graph *g, const char *op, int n_in, const char *const *in,
                             const char *out)
{
    int iv[4], o = val(g, out);
    for (int i = 0; i < n_in; i++)
        iv[i] = val(g, in[i]);
    int idx;
    assert_int_equal(cvm_graph_add_node(g, op, "", out, n_in, iv, 1, &o, &idx), CVM_OK);
    g->nodes[idx].opset = 13;
    return &g->nodes[idx];
}

static inline cvm_attr *add_attr(cvm_node *n, const char *name, cvm_attr_type t)
{
    cvm_attr *a = realloc(n->attrs, sizeof(cvm_attr) * (size_t)(n->n_attr + 1));
    assert_non_null(a);
    n->attrs = a;
    a = &n->attrs[n->n_attr++];
    memset(a, 0, sizeof *a);
    a->name = strdup(name);
    a->type = t;
    return a;
}

static inline void attr_i(cvm_node *n, const char *name, int64_t v) { add_attr(n, name, CVM_ATTR_INT)->i = v; }
static inline void attr_f(cvm_node *n, const char *name, float v) { add_attr(n, name, CVM_ATTR_FLOAT)->f = v; }

static inline void attr_s(cvm_node *n, const char *name, const char *v)
{
    cvm_attr *a = add_attr(n, name, CVM_ATTR_STRING);
    a->s = strdup(v);
    a->s_len = strlen(v);
}

static inline void attr_ints(cvm_node *n, const char *name, size_t k, const int64_t *v)
{
    cvm_attr *a = add_attr(n, name, CVM_ATTR_INTS);
    a->n = k;
    a->ints = malloc(sizeof(int64_t) * (k ? k : 1));
    memcpy(a->ints, v, sizeof(int64_t) * k);
}

static inline void attr_floats(cvm_node *n, const char *name, size_t k, const float *v)
{
    cvm_attr *a = add_attr(n, name, CVM_ATTR_FLOATS);
    a->n = k;
    a->floats = malloc(sizeof(float) * (k ? k : 1));
    memcpy(a->floats, v, sizeof(float) * k);
}

static inline cvm_tensor *tens(cvm_dtype dt, int ndim, const int64_t *dims, const void *data)
{
    cvm_tensor *t;
    assert_int_equal(cvm_tensor_create(dt, ndim, dims, &t), CVM_OK);
    if (data && t->nbytes)
        memcpy(t->data, data, t->nbytes);
    return t;
}

static inline void expect_shape(const cvm_tensor *t, int ndim, const int64_t *dims)
{
    assert_int_equal(t->ndim, ndim);
    for (int i = 0; i < ndim; i++)
        assert_int_equal(t->dims[i], dims[i]);
}

static inline void expect_f32(const cvm_tensor *t, const float *want, int64_t n, float tol)
{
    assert_int_equal(t->dtype, CVM_DTYPE_FLOAT32);
    assert_int_equal(cvm_tensor_numel(t), n);
    const float *got = t->data;
    for (int64_t i = 0; i < n; i++) {
        if (isnan(want[i])) {
            assert_true(isnan(got[i]));
        } else if (isinf(want[i])) {
            assert_true(got[i] == want[i]);
        } else if (fabsf(got[i] - want[i]) > tol * (1.0f + fabsf(want[i]))) {
            fail_msg("element %lld: got %.9g, want %.9g", (long long)i, got[i], want[i]);
        }
    }
}

#endif
