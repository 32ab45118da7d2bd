/* Session, plan and executor on graphs built in memory. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "graph/graph.h"
#include "runtime/memplan.h"
#include "runtime/session.h"

static int val(cvm_graph *g, const char *name)
{
    int v;
    assert_int_equal(cvm_graph_value(g, name, &v), CVM_OK);
    return v;
}

static void node(cvm_graph *g, const char *op, const char *a, const char *b, const char *out)
{
    int in[2] = {val(g, a), b ? val(g, b) : -1};
    int o = val(g, out);
    int idx;
    assert_int_equal(cvm_graph_add_node(g, op, "", out, b ? 2 : 1, in, 1, &o, &idx), CVM_OK);
    g->nodes[idx].opset = 13;
}

static void declare_input(cvm_graph *g, const char *name)
{
    int v = val(g, name);
    g->values[v].dtype = CVM_DTYPE_FLOAT32;
    g->values[v].ndim = 2;
    g->values[v].dims[0].value = -1; /* symbolic batch */
    g->values[v].dims[1].value = 4;
    g->inputs = realloc(g->inputs, sizeof(int) * (size_t)(g->n_inputs + 1));
    g->inputs[g->n_inputs++] = v;
}

static void declare_output(cvm_graph *g, const char *name)
{
    g->outputs = realloc(g->outputs, sizeof(int) * (size_t)(g->n_outputs + 1));
    g->outputs[g->n_outputs++] = val(g, name);
}

/* y = Reshape(Relu(x + w), Shape(Relu(x + w))) * 2, plus a dead branch. */
static cvm_graph *small_graph(void)
{
    cvm_graph *g;
    assert_int_equal(cvm_graph_create(&g), CVM_OK);
    declare_input(g, "x");
    int w = val(g, "w");
    int64_t d4 = 4;
    assert_int_equal(cvm_tensor_create(CVM_DTYPE_FLOAT32, 1, &d4, &g->values[w].init), CVM_OK);
    float *wd = g->values[w].init->data;
    for (int i = 0; i < 4; i++)
        wd[i] = (float)i - 1.5f;
    int two = val(g, "two");
    assert_int_equal(cvm_tensor_create(CVM_DTYPE_FLOAT32, 0, NULL, &g->values[two].init), CVM_OK);
    *(float *)g->values[two].init->data = 2.0f;
    node(g, "Add", "x", "w", "sum");
    node(g, "Relu", "sum", NULL, "act");
    node(g, "Shape", "act", NULL, "shape");
    node(g, "Reshape", "act", "shape", "same");
    node(g, "Mul", "same", "two", "y");
    node(g, "Mul", "x", "x", "dead");
    declare_output(g, "y");
    return g;
}

static void expect_output(const cvm_tensor *x, const cvm_tensor *y)
{
    assert_int_equal(y->ndim, 2);
    assert_int_equal(y->dims[0], x->dims[0]);
    const float *xd = x->data, *yd = y->data;
    for (int64_t i = 0; i < cvm_tensor_numel(x); i++) {
        float s = xd[i] + ((float)(i % 4) - 1.5f);
        assert_float_equal(yd[i], s > 0 ? 2 * s : 0, 0);
    }
}

static cvm_tensor *make_input(int64_t n, float base)
{
    int64_t dims[2] = {n, 4};
    cvm_tensor *x;
    assert_int_equal(cvm_tensor_create(CVM_DTYPE_FLOAT32, 2, dims, &x), CVM_OK);
    for (int64_t i = 0; i < n * 4; i++)
        ((float *)x->data)[i] = base + (float)(i % 7) - 3.0f;
    return x;
}

static void test_run_and_fold(void **st)
{
    (void)st;
    cvm_session *s;
    assert_int_equal(cvm_session_create_from_graph(small_graph(), NULL, &s), CVM_OK);
    const char *name = "x";
    for (int64_t n = 1; n <= 12; n += 11) { /* two shapes, two plans */
        cvm_tensor *x = make_input(n, 0.25f), *y = NULL;
        assert_int_equal(cvm_session_run(s, 1, &name, (const cvm_tensor *const *)&x, 1, NULL, &y), CVM_OK);
        expect_output(x, y);
        cvm_tensor_free(x);
        cvm_tensor_free(y);
    }
    cvm_session_stats stats;
    assert_int_equal(cvm_session_get_stats(s, &stats), CVM_OK);
    assert_int_equal(stats.nodes_in_model, 6);
    assert_int_equal(stats.nodes_folded, 1);  /* Shape */
    assert_int_equal(stats.nodes_planned, 4); /* Add Relu Reshape Mul; the dead Mul is gone */
    assert_int_equal(stats.nodes_viewed, 1);  /* the Reshape reads Relu's buffer in place */
    assert_true(stats.arena_bytes < stats.naive_bytes);
    cvm_session_free(s);
}

/* a = Relu(x); s0, s1 = Split(a, axis 1); b = Neg(s1); c = Concat(s0, s1, b);
 * y = c * 2; z = a + a (a read again after the Concat).  With a batch of 1 the
 * Split and the Concat become views (a and b are produced inside c); with a
 * batch of 3 the slices are not contiguous and both copy. */
static cvm_graph *views_graph(int n_out, const char *const *out_names)
{
    cvm_graph *g;
    assert_int_equal(cvm_graph_create(&g), CVM_OK);
    declare_input(g, "x");
    int two = val(g, "two");
    assert_int_equal(cvm_tensor_create(CVM_DTYPE_FLOAT32, 0, NULL, &g->values[two].init), CVM_OK);
    *(float *)g->values[two].init->data = 2.0f;
    node(g, "Relu", "x", NULL, "a");
    int idx, in3[3], outs[2] = {val(g, "s0"), val(g, "s1")};
    in3[0] = val(g, "a");
    assert_int_equal(cvm_graph_add_node(g, "Split", "", "split", 1, in3, 2, outs, &idx), CVM_OK);
    g->nodes[idx].opset = 13;
    g->nodes[idx].attrs = calloc(1, sizeof(cvm_attr));
    g->nodes[idx].n_attr = 1;
    g->nodes[idx].attrs[0].name = strdup("axis");
    g->nodes[idx].attrs[0].type = CVM_ATTR_INT;
    g->nodes[idx].attrs[0].i = 1;
    node(g, "Neg", "s1", NULL, "b");
    in3[0] = val(g, "s0"), in3[1] = val(g, "s1"), in3[2] = val(g, "b");
    int c = val(g, "c");
    assert_int_equal(cvm_graph_add_node(g, "Concat", "", "concat", 3, in3, 1, &c, &idx), CVM_OK);
    g->nodes[idx].opset = 13;
    g->nodes[idx].attrs = calloc(1, sizeof(cvm_attr));
    g->nodes[idx].n_attr = 1;
    g->nodes[idx].attrs[0].name = strdup("axis");
    g->nodes[idx].attrs[0].type = CVM_ATTR_INT;
    g->nodes[idx].attrs[0].i = 1;
    node(g, "Mul", "c", "two", "y");
    node(g, "Add", "a", "a", "z");
    for (int i = 0; i < n_out; i++)
        declare_output(g, out_names[i]);
    return g;
}

static void test_views(void **st)
{
    (void)st;
    static const char *const yz[2] = {"y", "z"};
    cvm_graph *g = views_graph(2, yz);
    cvm_session *s;
    assert_int_equal(cvm_session_create_from_graph(g, NULL, &s), CVM_OK);
    const char *name = "x";
    for (int64_t n = 1; n <= 3; n += 2) {
        cvm_tensor *x = make_input(n, -0.5f), *out[2] = {NULL, NULL};
        assert_int_equal(cvm_session_run(s, 1, &name, (const cvm_tensor *const *)&x, 2, NULL, out),
                         CVM_OK);
        const float *xd = x->data, *yd = out[0]->data, *zd = out[1]->data;
        assert_int_equal(out[0]->dims[1], 6);
        for (int64_t r = 0; r < n; r++)
            for (int j = 0; j < 4; j++) {
                float a = xd[r * 4 + j] > 0 ? xd[r * 4 + j] : 0.0f;
                assert_float_equal(yd[r * 6 + j], 2 * a, 0);
                assert_float_equal(zd[r * 4 + j], a + a, 0);
                if (j >= 2)
                    assert_float_equal(yd[r * 6 + 2 + j], -2 * a, 0);
            }
        cvm_session_stats stats;
        assert_int_equal(cvm_session_get_stats(s, &stats), CVM_OK);
        assert_int_equal(stats.nodes_viewed, n == 1 ? 2 : 0);
        cvm_tensor_free(x);
        cvm_tensor_free(out[0]);
        cvm_tensor_free(out[1]);
    }
    cvm_session_free(s);
}

/* Graph outputs are computed in place in the returned (or given) tensors
 * unless they are views: the Concat's output c holds a and b as views, a
 * is also read after it, c is asked for twice and the view s1 once; with a
 * batch of 3 nothing is a view.  Every output against the formula, from
 * cvm_session_run and from cvm_session_run_into (twice, over stale data). */
static void test_outputs_in_place(void **st)
{
    (void)st;
    static const char *const names[5] = {"c", "a", "z", "c", "s1"};
    cvm_graph *g = views_graph(5, names);
    cvm_session *s;
    assert_int_equal(cvm_session_create_from_graph(g, NULL, &s), CVM_OK);
    const char *name = "x";
    for (int64_t n = 1; n <= 3; n += 2) {
        cvm_tensor *x = make_input(n, -0.5f);
        const int64_t w[5] = {6, 4, 4, 6, 2};
        for (int mode = 0; mode < 3; mode++) {
            cvm_tensor *out[5] = {NULL};
            if (mode == 0) {
                assert_int_equal(cvm_session_run(s, 1, &name, (const cvm_tensor *const *)&x, 5, NULL, out),
                                 CVM_OK);
            } else {
                for (int i = 0; i < 5; i++) {
                    int64_t d[2] = {n, w[i]};
                    assert_int_equal(cvm_tensor_create(CVM_DTYPE_FLOAT32, 2, d, &out[i]), CVM_OK);
                    memset(out[i]->data, 0x7F, out[i]->nbytes);
                }
                assert_int_equal(cvm_session_run_into(s, 1, &name, (const cvm_tensor *const *)&x, 5, NULL,
                                                      out),
                                 CVM_OK);
            }
            const float *xd = x->data;
            for (int64_t r = 0; r < n; r++)
                for (int j = 0; j < 4; j++) {
                    float a = xd[r * 4 + j] > 0 ? xd[r * 4 + j] : 0.0f;
                    for (int k = 0; k < 4; k += 3) {
                        const float *c = out[k]->data;
                        assert_float_equal(c[r * 6 + j], a, 0);
                        if (j >= 2)
                            assert_float_equal(c[r * 6 + 2 + j], -a, 0);
                    }
                    assert_float_equal(((const float *)out[1]->data)[r * 4 + j], a, 0);
                    assert_float_equal(((const float *)out[2]->data)[r * 4 + j], a + a, 0);
                    if (j >= 2)
                        assert_float_equal(((const float *)out[4]->data)[r * 2 + j - 2], a, 0);
                }
            for (int i = 0; i < 5; i++)
                cvm_tensor_free(out[i]);
        }
        cvm_session_stats stats;
        assert_int_equal(cvm_session_get_stats(s, &stats), CVM_OK);
        assert_int_equal(stats.nodes_viewed, n == 1 ? 2 : 0);
        cvm_tensor_free(x);
    }
    cvm_session_free(s);
}

static void test_profile(void **st)
{
    (void)st;
    cvm_session_options o;
    assert_int_equal(cvm_session_options_init(&o), CVM_OK);
    o.profile = 1;
    cvm_session *s;
    assert_int_equal(cvm_session_create_from_graph(small_graph(), &o, &s), CVM_OK);
    const char *name = "x";
    for (int r = 0; r < 3; r++) {
        cvm_tensor *x = make_input(2, 0.5f), *y = NULL;
        assert_int_equal(cvm_session_run(s, 1, &name, (const cvm_tensor *const *)&x, 1, NULL, &y),
                         CVM_OK);
        cvm_tensor_free(x);
        cvm_tensor_free(y);
    }
    cvm_op_time t[8];
    size_t n = 0;
    assert_int_equal(cvm_session_get_profile(s, t, 8, &n), CVM_OK);
    /* Add, Relu, Mul run; the Reshape is a view and the Shape folded */
    assert_int_equal(n, 3);
    for (size_t i = 0; i < n; i++) {
        assert_true(!strcmp(t[i].op_type, "Add") || !strcmp(t[i].op_type, "Relu") ||
                    !strcmp(t[i].op_type, "Mul"));
        assert_int_equal(t[i].nodes, 1);
        assert_int_equal(t[i].calls, 3);
        assert_true(t[i].total_ms >= 0.0);
        if (i)
            assert_true(t[i].total_ms <= t[i - 1].total_ms);
    }
    /* a short array still reports the full count */
    assert_int_equal(cvm_session_get_profile(s, t, 1, &n), CVM_OK);
    assert_int_equal(n, 3);
    assert_int_not_equal(cvm_session_get_profile(s, NULL, 4, &n), CVM_OK);
    /* per node: the same three, named as in the graph, with their shapes */
    cvm_node_time nt[8];
    assert_int_equal(cvm_session_get_node_profile(s, nt, 8, &n), CVM_OK);
    assert_int_equal(n, 3);
    int seen = 0;
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(nt[i].calls, 3);
        if (i)
            assert_true(nt[i].total_ms <= nt[i - 1].total_ms);
        if (!strcmp(nt[i].name, "sum")) {
            seen++;
            assert_string_equal(nt[i].op_type, "Add");
            assert_non_null(strstr(nt[i].shapes, "[2,4]"));
            assert_non_null(strstr(nt[i].shapes, " -> [2,4]"));
        }
    }
    assert_int_equal(seen, 1);
    assert_int_equal(cvm_session_get_node_profile(s, nt, 1, &n), CVM_OK);
    assert_int_equal(n, 3);
    assert_int_not_equal(cvm_session_get_node_profile(s, NULL, 4, &n), CVM_OK);
    cvm_session_free(s);
    /* without options.profile: a clear error */
    assert_int_equal(cvm_session_create_from_graph(small_graph(), NULL, &s), CVM_OK);
    assert_int_not_equal(cvm_session_get_profile(s, t, 8, &n), CVM_OK);
    assert_non_null(strstr(cvm_last_error(), "profile"));
    assert_int_not_equal(cvm_session_get_node_profile(s, nt, 8, &n), CVM_OK);
    assert_non_null(strstr(cvm_last_error(), "profile"));
    cvm_session_free(s);
}

static void test_input_errors(void **st)
{
    (void)st;
    cvm_session *s;
    assert_int_equal(cvm_session_create_from_graph(small_graph(), NULL, &s), CVM_OK);
    cvm_tensor *y = NULL;
    const char *bad_name = "nope";
    cvm_tensor *x = make_input(2, 0);
    assert_int_equal(cvm_session_run(s, 1, &bad_name, (const cvm_tensor *const *)&x, 1, NULL, &y),
                     CVM_E_NOT_FOUND);
    assert_non_null(strstr(cvm_last_error(), "nope"));
    assert_int_equal(cvm_session_run(s, 0, NULL, NULL, 1, NULL, &y), CVM_E_INVALID_ARG);
    assert_non_null(strstr(cvm_last_error(), "'x' was not given"));
    int64_t dims[2] = {2, 5};
    cvm_tensor *wrong;
    assert_int_equal(cvm_tensor_create(CVM_DTYPE_FLOAT32, 2, dims, &wrong), CVM_OK);
    const char *name = "x";
    assert_int_equal(cvm_session_run(s, 1, &name, (const cvm_tensor *const *)&wrong, 1, NULL, &y), CVM_E_SHAPE);
    assert_non_null(strstr(cvm_last_error(), "[-1,4]"));
    cvm_tensor_free(wrong);
    assert_int_equal(cvm_tensor_create(CVM_DTYPE_INT64, 2, (int64_t[]){2, 4}, &wrong), CVM_OK);
    assert_int_equal(cvm_session_run(s, 1, &name, (const cvm_tensor *const *)&wrong, 1, NULL, &y), CVM_E_TYPE);
    cvm_tensor_free(wrong);
    assert_null(y);
    cvm_tensor_free(x);
    cvm_session_free(s);
}

static void test_graph_errors(void **st)
{
    (void)st;
    cvm_graph *g;
    cvm_session *s = NULL;
    /* a cycle */
    assert_int_equal(cvm_graph_create(&g), CVM_OK);
    declare_input(g, "x");
    node(g, "Add", "x", "b", "a");
    node(g, "Relu", "a", NULL, "b");
    declare_output(g, "b");
    assert_int_equal(cvm_session_create_from_graph(g, NULL, &s), CVM_E_PARSE);
    assert_non_null(strstr(cvm_last_error(), "cycle"));
    /* unknown operators are all named */
    assert_int_equal(cvm_graph_create(&g), CVM_OK);
    declare_input(g, "x");
    node(g, "FrobnicateA", "x", NULL, "a");
    node(g, "FrobnicateB", "a", NULL, "b");
    node(g, "FrobnicateA", "b", NULL, "c");
    declare_output(g, "c");
    assert_int_equal(cvm_session_create_from_graph(g, NULL, &s), CVM_E_UNSUPPORTED);
    assert_non_null(strstr(cvm_last_error(), "2 operators"));
    assert_non_null(strstr(cvm_last_error(), "FrobnicateB"));
    /* a value nobody produces */
    assert_int_equal(cvm_graph_create(&g), CVM_OK);
    declare_input(g, "x");
    node(g, "Add", "x", "ghost", "a");
    declare_output(g, "a");
    assert_int_equal(cvm_session_create_from_graph(g, NULL, &s), CVM_OK);
    cvm_tensor *x = make_input(1, 0), *y = NULL;
    const char *name = "x";
    assert_int_equal(cvm_session_run(s, 1, &name, (const cvm_tensor *const *)&x, 1, NULL, &y), CVM_E_PARSE);
    assert_non_null(strstr(cvm_last_error(), "ghost"));
    cvm_tensor_free(x);
    cvm_session_free(s);
}

typedef struct job {
    cvm_session *s;
    int id, failures;
} job;

static void *worker(void *arg)
{
    job *j = arg;
    const char *name = "x";
    for (int r = 0; r < 50; r++) {
        int64_t n = 1 + (j->id + r) % 3; /* three shapes in flight at once */
        cvm_tensor *x = make_input(n, (float)j->id), *y = NULL;
        if (cvm_session_run(j->s, 1, &name, (const cvm_tensor *const *)&x, 1, NULL, &y) != CVM_OK) {
            j->failures++;
        } else {
            const float *xd = x->data, *yd = y->data;
            for (int64_t i = 0; i < n * 4; i++) {
                float s = xd[i] + ((float)(i % 4) - 1.5f);
                if (yd[i] != (s > 0 ? 2 * s : 0))
                    j->failures++;
            }
        }
        cvm_tensor_free(x);
        cvm_tensor_free(y);
    }
    return NULL;
}

static void test_concurrent_runs(void **st)
{
    (void)st;
    cvm_session_options o;
    cvm_session_options_init(&o);
    o.threads = 2;
    cvm_session *s;
    assert_int_equal(cvm_session_create_from_graph(small_graph(), &o, &s), CVM_OK);
    pthread_t t[6];
    job jobs[6];
    for (int i = 0; i < 6; i++) {
        jobs[i] = (job){.s = s, .id = i};
        pthread_create(&t[i], NULL, worker, &jobs[i]);
    }
    for (int i = 0; i < 6; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(jobs[i].failures, 0);
    }
    cvm_session_free(s);
}

static void test_memplan_reuse(void **st)
{
    (void)st;
    /* a chain a->b->c->d: a and c can share, b and d can share */
    cvm_mem_request r[4] = {
        {.bytes = 1000, .first = 0, .last = 1},
        {.bytes = 1000, .first = 1, .last = 2},
        {.bytes = 1000, .first = 2, .last = 3},
        {.bytes = 1000, .first = 3, .last = 4},
    };
    size_t total;
    assert_int_equal(cvm_memplan_assign(r, 4, &total), CVM_OK);
    assert_int_equal(total, 2 * 1024);
    for (int i = 0; i < 4; i++)
        for (int j = i + 1; j < 4; j++)
            if (r[i].first <= r[j].last && r[j].first <= r[i].last)
                assert_true(r[i].offset + 1000 <= r[j].offset || r[j].offset + 1000 <= r[i].offset);
}

/* cvm_session_run_into: the output lands in the caller's tensor (a
 * wrapped buffer here, reused over runs and shapes); a tensor of the wrong
 * shape, type or size, or a NULL one, is refused with the output named. */
static void test_run_into(void **st)
{
    (void)st;
    cvm_session *s;
    assert_int_equal(cvm_session_create_from_graph(small_graph(), NULL, &s), CVM_OK);
    const char *name = "x";
    float buf[12 * 4 + 1];
    for (int64_t n = 1; n <= 12; n += 11) {
        cvm_tensor *x = make_input(n, 0.25f), *y = NULL;
        int64_t dims[2] = {n, 4};
        assert_int_equal(cvm_tensor_wrap(CVM_DTYPE_FLOAT32, 2, dims, buf, sizeof buf, &y), CVM_OK);
        for (int rep = 0; rep < 2; rep++) {
            memset(buf, 0xFF, sizeof buf);
            assert_int_equal(cvm_session_run_into(s, 1, &name, (const cvm_tensor *const *)&x, 1,
                                                  NULL, &y),
                             CVM_OK);
            expect_output(x, y);
        }
        cvm_tensor_free(y);
        cvm_tensor_free(x);
    }
    cvm_tensor *x = make_input(3, 0.25f), *y = NULL;
    int64_t wrong[2] = {3, 5};
    assert_int_equal(cvm_tensor_create(CVM_DTYPE_FLOAT32, 2, wrong, &y), CVM_OK);
    assert_int_equal(cvm_session_run_into(s, 1, &name, (const cvm_tensor *const *)&x, 1, NULL, &y),
                     CVM_E_SHAPE);
    assert_non_null(strstr(cvm_last_error(), "output 'y'"));
    assert_non_null(strstr(cvm_last_error(), "[3,5]"));
    cvm_tensor_free(y);
    int64_t right[2] = {3, 4};
    assert_int_equal(cvm_tensor_create(CVM_DTYPE_INT32, 2, right, &y), CVM_OK);
    assert_int_equal(cvm_session_run_into(s, 1, &name, (const cvm_tensor *const *)&x, 1, NULL, &y),
                     CVM_E_SHAPE);
    cvm_tensor_free(y);
    assert_int_equal(cvm_tensor_wrap(CVM_DTYPE_FLOAT32, 2, right, buf, sizeof buf, &y), CVM_OK);
    y->nbytes = 8; /* a buffer that cannot hold the output */
    assert_int_equal(cvm_session_run_into(s, 1, &name, (const cvm_tensor *const *)&x, 1, NULL, &y),
                     CVM_E_INVALID_ARG);
    assert_non_null(strstr(cvm_last_error(), "holds 8 bytes"));
    cvm_tensor_free(y);
    cvm_tensor *none = NULL;
    assert_int_equal(cvm_session_run_into(s, 1, &name, (const cvm_tensor *const *)&x, 1, NULL,
                                          &none),
                     CVM_E_INVALID_ARG);
    cvm_tensor_free(x);
    cvm_session_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_run_and_fold),
        cmocka_unit_test(test_views),
        cmocka_unit_test(test_outputs_in_place),
        cmocka_unit_test(test_profile),
        cmocka_unit_test(test_input_errors),
        cmocka_unit_test(test_graph_errors),
        cmocka_unit_test(test_concurrent_runs),
        cmocka_unit_test(test_memplan_reuse),
        cmocka_unit_test(test_run_into),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
