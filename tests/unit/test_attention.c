/* FusedAttention: MatMul -> Softmax -> MatMul becomes one node where it
 * should (and only there), and the fused kernel matches softmax(Q Kt) V
 * computed in double over odd shapes, row blocks, long key sequences,
 * broadcast batch dims and 1 and 2 threads, as well as the unfused ops. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "graph/fuse.h"
#include "graph/graph.h"
#include "runtime/session.h"
#include "op_test.h"

static void input(cvm_graph *g, const char *name, int ndim, const int64_t *dims)
{
    int v = val(g, name);
    g->values[v].dtype = CVM_DTYPE_FLOAT32;
    g->values[v].ndim = ndim;
    for (int d = 0; d < ndim; d++)
        g->values[v].dims[d].value = dims[d];
    g->inputs = realloc(g->inputs, (size_t)(g->n_inputs + 1) * sizeof(int));
    assert_non_null(g->inputs);
    g->inputs[g->n_inputs++] = v;
}

typedef struct shape {
    int rq, rk, rv;
    int64_t q[4], k[4], v[4];
} shape;

/* y = MatMul(Softmax(MatMul(q, kt), axis), v); axis_kind 0: -1 (by
 * default), 1: the last axis by number, 2: axis 0 (not a row softmax);
 * scores_out: the scores are also a graph output. */
static cvm_graph *attention_graph(const shape *s, int axis_kind, int scores_out)
{
    cvm_graph *g;
    assert_int_equal(cvm_graph_create(&g), CVM_OK);
    input(g, "q", s->rq, s->q);
    input(g, "kt", s->rk, s->k);
    input(g, "v", s->rv, s->v);
    node(g, "MatMul", 2, (const char *[]){"q", "kt"}, "s");
    cvm_node *sm = node(g, "Softmax", 1, (const char *[]){"s"}, "p");
    if (axis_kind) {
        int rs = s->rq > s->rk ? s->rq : s->rk;
        attr_i(sm, "axis", axis_kind == 1 ? rs - 1 : 0);
        if (axis_kind == 1) {
            /* a numbered axis needs the scores' rank declared */
            int sv = val(g, "s");
            g->values[sv].ndim = rs;
        }
    }
    node(g, "MatMul", 2, (const char *[]){"p", "v"}, "y");
    g->outputs = malloc(2 * sizeof(int));
    assert_non_null(g->outputs);
    g->outputs[g->n_outputs++] = val(g, "y");
    if (scores_out)
        g->outputs[g->n_outputs++] = val(g, "s");
    return g;
}

static int64_t numel(int r, const int64_t *d)
{
    int64_t n = 1;
    for (int i = 0; i < r; i++)
        n *= d[i];
    return n;
}

static cvm_tensor *filled(int r, const int64_t *d, unsigned seed, float scale)
{
    cvm_tensor *t = NULL;
    assert_int_equal(cvm_tensor_create(CVM_DTYPE_FLOAT32, r, d, &t), CVM_OK);
    float *p = t->data;
    for (int64_t i = 0; i < numel(r, d); i++) {
        seed = seed * 1103515245u + 12345u;
        p[i] = ((float)((seed >> 16) % 2001) / 1000.0f - 1.0f) * scale;
    }
    return t;
}

/* Element offset of batch index b (over the output batch dims bd[0..nb))
 * in an operand of rank r and dims d (its batch dims right-aligned). */
static int64_t batch_off(int64_t b, int nb, const int64_t *bd, int r, const int64_t *d)
{
    int64_t off = 0, st = d[r - 2] * d[r - 1];
    for (int i = nb - 1; i >= 0; i--) {
        int64_t pos = b % bd[i];
        b /= bd[i];
        int it = i - (nb - (r - 2));
        int64_t di = it >= 0 ? d[it] : 1;
        if (di != 1)
            off += pos * st;
        st *= di;
    }
    return off;
}

/* softmax(q kt) v in double, written to a freshly allocated array. */
static double *reference(const shape *s, const float *q, const float *k, const float *v,
                         int *nb_out, int64_t *bd, int64_t *batch)
{
    int nb = 0;
    int rs[3] = {s->rq, s->rk, s->rv};
    const int64_t *ds[3] = {s->q, s->k, s->v};
    for (int t = 0; t < 3; t++)
        nb = rs[t] - 2 > nb ? rs[t] - 2 : nb;
    *batch = 1;
    for (int i = 0; i < nb; i++) {
        bd[i] = 1;
        for (int t = 0; t < 3; t++) {
            int it = i - (nb - (rs[t] - 2));
            if (it >= 0 && ds[t][it] != 1)
                bd[i] = ds[t][it];
        }
        *batch *= bd[i];
    }
    *nb_out = nb;
    int64_t L = s->q[s->rq - 2], D = s->q[s->rq - 1], S = s->k[s->rk - 1],
            Dv = s->v[s->rv - 1];
    double *y = calloc((size_t)(*batch * L * Dv) + 1, sizeof(double));
    double *row = malloc(sizeof(double) * (size_t)(S + 1));
    assert_true(y && row);
    for (int64_t b = 0; b < *batch; b++) {
        const float *qb = q + batch_off(b, nb, bd, s->rq, s->q);
        const float *kb = k + batch_off(b, nb, bd, s->rk, s->k);
        const float *vb = v + batch_off(b, nb, bd, s->rv, s->v);
        for (int64_t i = 0; i < L; i++) {
            double mx = -INFINITY, sum = 0.0;
            for (int64_t j = 0; j < S; j++) {
                double acc = 0.0;
                for (int64_t d = 0; d < D; d++)
                    acc += (double)qb[i * D + d] * kb[d * S + j];
                row[j] = acc;
                mx = acc > mx ? acc : mx;
            }
            for (int64_t j = 0; j < S; j++)
                sum += row[j] = exp(row[j] - mx);
            for (int64_t c = 0; c < Dv; c++) {
                double acc = 0.0;
                for (int64_t j = 0; j < S; j++)
                    acc += row[j] / sum * vb[j * Dv + c];
                y[(b * L + i) * Dv + c] = acc;
            }
        }
    }
    free(row);
    return y;
}

static int count_op(const cvm_graph *g, const char *op)
{
    int n = 0;
    for (int i = 0; i < g->n_nodes; i++)
        n += strcmp(g->nodes[i].op_type, op) == 0;
    return n;
}

static const shape shapes[] = {
    /* heads x odd sequence lengths and head sizes */
    {4, 4, 4, {2, 3, 37, 16}, {2, 3, 16, 53}, {2, 3, 53, 24}},
    /* several row blocks, the last partial; keys beyond one K chunk */
    {4, 4, 4, {1, 2, 300, 64}, {1, 2, 64, 1100}, {1, 2, 1100, 40}},
    /* broadcast batch dims, a rank-2 V, one query row */
    {3, 3, 2, {3, 1, 8}, {1, 8, 7}, {7, 9}},
    {4, 3, 4, {2, 5, 1, 12}, {5, 12, 33}, {1, 5, 33, 17}},
    /* empty head size (uniform weights: the mean of V) and no keys (zeros) */
    {3, 3, 3, {2, 5, 0}, {2, 0, 6}, {2, 6, 3}},
    {3, 3, 3, {2, 5, 4}, {2, 4, 0}, {2, 0, 3}},
    /* RF-DETR's window attention */
    {4, 4, 4, {16, 6, 101, 64}, {16, 6, 64, 101}, {16, 6, 101, 64}},
};

static void test_attention_values(void **st)
{
    (void)st;
    for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
        const shape *s = &shapes[si];
        cvm_graph *g = attention_graph(s, (int)(si % 2), 0);
        assert_int_equal(cvm_graph_fuse(g), CVM_OK);
        assert_int_equal(g->n_nodes, 1);
        assert_string_equal(g->nodes[0].op_type, "FusedAttention");
        cvm_graph_free(g);
        /* scores spread over several units, so that the softmax is not flat */
        cvm_tensor *in[3] = {filled(s->rq, s->q, 11 + (unsigned)si, 1.5f),
                             filled(s->rk, s->k, 23 + (unsigned)si, 1.5f),
                             filled(s->rv, s->v, 37 + (unsigned)si, 1.0f)};
        int nb;
        int64_t bd[4], batch;
        double *want = reference(s, in[0]->data, in[1]->data, in[2]->data, &nb, bd, &batch);
        int64_t n = batch * s->q[s->rq - 2] * s->v[s->rv - 1];
        const char *names[3] = {"q", "kt", "v"};
        float *unfused = NULL;
        for (int k = 0; k < 3; k++) {
            cvm_session_options o;
            cvm_session_options_init(&o);
            o.optimize = k > 0;
            o.threads = k == 2 ? 2 : 1;
            cvm_session *ss;
            assert_int_equal(cvm_session_create_from_graph(attention_graph(s, (int)(si % 2), 0),
                                                           &o, &ss),
                             CVM_OK);
            cvm_tensor *y = NULL;
            assert_int_equal(cvm_session_run(ss, 3, names, (const cvm_tensor *const *)in, 1, NULL,
                                             &y),
                             CVM_OK);
            assert_int_equal(cvm_tensor_numel(y), n);
            const float *yd = y->data;
            for (int64_t i = 0; i < n; i++) {
                if (!(fabs(yd[i] - want[i]) <= 2e-5 * (1.0 + fabs(want[i]))))
                    fail_msg("shape %zu session %d: element %lld = %.8g, want %.8g", si, k,
                             (long long)i, yd[i], want[i]);
                if (k == 0)
                    continue;
                if (!(fabsf(yd[i] - unfused[i]) <= 1e-5f * (1.0f + fabsf(unfused[i]))))
                    fail_msg("shape %zu: fused %.8g, unfused %.8g", si, yd[i], unfused[i]);
            }
            if (k == 0) {
                unfused = malloc(sizeof(float) * (size_t)n + 1);
                assert_non_null(unfused);
                memcpy(unfused, yd, sizeof(float) * (size_t)n);
            }
            cvm_tensor_free(y);
            cvm_session_free(ss);
        }
        free(unfused);
        free(want);
        for (int t = 0; t < 3; t++)
            cvm_tensor_free(in[t]);
    }
}

/* Where the pattern is not a row softmax between two products of matrices,
 * or the scores are needed elsewhere, the three nodes stay. */
static void test_attention_not_fused(void **st)
{
    (void)st;
    const shape *s = &shapes[0];
    cvm_graph *g = attention_graph(s, 2, 0); /* softmax over axis 0 */
    assert_int_equal(cvm_graph_fuse(g), CVM_OK);
    assert_int_equal(count_op(g, "FusedAttention"), 0);
    assert_int_equal(count_op(g, "Softmax"), 1);
    cvm_graph_free(g);
    g = attention_graph(s, 0, 1); /* the scores are an output */
    assert_int_equal(cvm_graph_fuse(g), CVM_OK);
    assert_int_equal(count_op(g, "FusedAttention"), 0);
    cvm_graph_free(g);
    /* a vector operand: MatMul's rows change meaning */
    shape vec = {1, 2, 2, {8}, {8, 7}, {7, 9}};
    g = attention_graph(&vec, 0, 0);
    assert_int_equal(cvm_graph_fuse(g), CVM_OK);
    assert_int_equal(count_op(g, "FusedAttention"), 0);
    cvm_graph_free(g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_attention_values),
        cmocka_unit_test(test_attention_not_fused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
