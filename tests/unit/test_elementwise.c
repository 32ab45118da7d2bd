/*
 * Elementwise operators through cvm_node_eval.  Expected values are either
 * derived by hand or computed with numpy (float64, then rounded) and pasted
 * in as literals.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/half.h"
#include "base/status.h"
#include "base/tensor.h"
#include "base/threadpool.h"
#include "graph/graph.h"
#include "runtime/eval.h"

#define D(...) ((const int64_t[]){__VA_ARGS__})
#define F(...) ((const float[]){__VA_ARGS__})
#define NDIMS(...) ((int)(sizeof((const int64_t[]){__VA_ARGS__}) / sizeof(int64_t)))

typedef struct op_t {
    cvm_graph *g;
    cvm_node *n;
} op_t;

static op_t op_new(const char *type, int n_in)
{
    op_t o;
    assert_int_equal(cvm_graph_create(&o.g), CVM_OK);
    int in[8], out[1], idx;
    char name[16];
    for (int i = 0; i < n_in; i++) {
        snprintf(name, sizeof name, "in%d", i);
        assert_int_equal(cvm_graph_value(o.g, name, &in[i]), CVM_OK);
    }
    assert_int_equal(cvm_graph_value(o.g, "out", &out[0]), CVM_OK);
    assert_int_equal(cvm_graph_add_node(o.g, type, "", "n1", n_in, in, 1, out, &idx), CVM_OK);
    o.n = &o.g->nodes[idx];
    return o;
}

static cvm_attr *attr_add(op_t *o, const char *name, cvm_attr_type t)
{
    cvm_node *n = o->n;
    cvm_attr *a = realloc(n->attrs, sizeof *a * (size_t)(n->n_attr + 1));
    assert_non_null(a);
    n->attrs = a;
    a = &n->attrs[n->n_attr++];
    memset(a, 0, sizeof *a);
    a->name = strdup(name);
    a->type = t;
    return a;
}

static void attr_f(op_t *o, const char *name, float f) { attr_add(o, name, CVM_ATTR_FLOAT)->f = f; }
static void attr_i(op_t *o, const char *name, int64_t i) { attr_add(o, name, CVM_ATTR_INT)->i = i; }
static void attr_s(op_t *o, const char *name, const char *s)
{
    cvm_attr *a = attr_add(o, name, CVM_ATTR_STRING);
    a->s = strdup(s);
    a->s_len = strlen(s);
}

static cvm_tensor *mk(cvm_dtype dt, int nd, const int64_t *dims, const void *vals)
{
    cvm_tensor *t;
    assert_int_equal(cvm_tensor_create(dt, nd, dims, &t), CVM_OK);
    if (vals && t->nbytes)
        memcpy(t->data, vals, t->nbytes);
    return t;
}

/* Runs o on inputs (freed afterwards) and returns the status; *out gets the
 * single output. */
static cvm_status run_op(op_t *o, int opset, int n_in, cvm_tensor **in, cvm_tensor **out,
                         cvm_threadpool *pool)
{
    *out = NULL;
    cvm_status s = cvm_node_eval(o->n, opset, n_in, (const cvm_tensor *const *)in, 1, out, pool);
    for (int i = 0; i < n_in; i++)
        cvm_tensor_free(in[i]);
    return s;
}

static void op_free(op_t *o) { cvm_graph_free(o->g); }

static void expect_shape(const cvm_tensor *t, cvm_dtype dt, int nd, const int64_t *dims)
{
    assert_non_null(t);
    assert_int_equal(t->dtype, dt);
    assert_int_equal(t->ndim, nd);
    for (int i = 0; i < nd; i++)
        assert_int_equal(t->dims[i], dims[i]);
}

static void expect_f32(const cvm_tensor *t, int nd, const int64_t *dims, const float *v, float rtol)
{
    expect_shape(t, CVM_DTYPE_FLOAT32, nd, dims);
    const float *d = t->data;
    for (int64_t i = 0; i < cvm_tensor_numel(t); i++) {
        if (isnan(v[i])) {
            assert_true(isnan(d[i]));
            continue;
        }
        float tol = rtol * fabsf(v[i]) + 1e-7f;
        if (d[i] != v[i] && !(fabsf(d[i] - v[i]) <= tol)) {
            print_error("element %lld: got %.9g expected %.9g\n", (long long)i, d[i], v[i]);
            fail();
        }
    }
}

/* One binary float32 operator end to end. */
static cvm_status binary_f32(const char *op, int na, const int64_t *ad, const float *av, int nb,
                             const int64_t *bd, const float *bv, cvm_tensor **out)
{
    op_t o = op_new(op, 2);
    cvm_tensor *in[2] = {mk(CVM_DTYPE_FLOAT32, na, ad, av), mk(CVM_DTYPE_FLOAT32, nb, bd, bv)};
    cvm_status s = run_op(&o, 17, 2, in, out, NULL);
    op_free(&o);
    return s;
}

static void unary_check(const char *op, const float *x, const float *want, float rtol,
                        void (*attrs)(op_t *))
{
    op_t o = op_new(op, 1);
    if (attrs)
        attrs(&o);
    cvm_tensor *in[1] = {mk(CVM_DTYPE_FLOAT32, 1, D(8), x)}, *out;
    assert_int_equal(run_op(&o, 20, 1, in, &out, NULL), CVM_OK);
    expect_f32(out, 1, D(8), want, rtol);
    cvm_tensor_free(out);
    op_free(&o);
}

/* ------------------------------------------------------------ broadcasting */

static void test_add_shapes(void **st)
{
    (void)st;
    cvm_tensor *y;
    /* same shape */
    assert_int_equal(binary_f32("Add", 2, D(2, 2), F(1, 2, 3, 4), 2, D(2, 2), F(10, 20, 30, 40), &y),
                     CVM_OK);
    expect_f32(y, 2, D(2, 2), F(11, 22, 33, 44), 0);
    cvm_tensor_free(y);
    /* scalar on either side */
    assert_int_equal(binary_f32("Sub", 0, NULL, F(10), 2, D(1, 3), F(1, 2, 3), &y), CVM_OK);
    expect_f32(y, 2, D(1, 3), F(9, 8, 7), 0);
    cvm_tensor_free(y);
    assert_int_equal(binary_f32("Div", 1, D(3), F(1, 2, 3), 0, NULL, F(2), &y), CVM_OK);
    expect_f32(y, 1, D(3), F(0.5f, 1, 1.5f), 0);
    cvm_tensor_free(y);
    /* per-channel [1,C,1,1] against [N,C,H,W] */
    float x[2 * 3 * 2], want[12];
    for (int i = 0; i < 12; i++) {
        x[i] = (float)i;
        want[i] = (float)i * (float)(1 + (i / 2) % 3);
    }
    assert_int_equal(binary_f32("Mul", 4, D(2, 3, 2, 1), x, 4, D(1, 3, 1, 1), F(1, 2, 3), &y), CVM_OK);
    expect_f32(y, 4, D(2, 3, 2, 1), want, 0);
    cvm_tensor_free(y);
    /* both sides broadcast: [3,1] + [1,4] */
    assert_int_equal(binary_f32("Add", 2, D(3, 1), F(0, 10, 20), 2, D(1, 4), F(1, 2, 3, 4), &y), CVM_OK);
    expect_f32(y, 2, D(3, 4), F(1, 2, 3, 4, 11, 12, 13, 14, 21, 22, 23, 24), 0);
    cvm_tensor_free(y);
    /* rank mismatch: [2,1,3] - [2,1] -> [2,2,3] */
    assert_int_equal(binary_f32("Sub", 3, D(2, 1, 3), F(1, 2, 3, 4, 5, 6), 2, D(2, 1), F(1, 10), &y),
                     CVM_OK);
    expect_f32(y, 3, D(2, 2, 3), F(0, 1, 2, -9, -8, -7, 3, 4, 5, -6, -5, -4), 0);
    cvm_tensor_free(y);
    /* trailing-dim vector [W] against [N,H,W] */
    assert_int_equal(binary_f32("Add", 3, D(2, 1, 2), F(1, 2, 3, 4), 1, D(2), F(10, 20), &y), CVM_OK);
    expect_f32(y, 3, D(2, 1, 2), F(11, 22, 13, 24), 0);
    cvm_tensor_free(y);
    /* zero-size dims broadcast against 1 */
    assert_int_equal(binary_f32("Add", 2, D(0, 3), NULL, 2, D(1, 3), F(1, 2, 3), &y), CVM_OK);
    expect_shape(y, CVM_DTYPE_FLOAT32, 2, D(0, 3));
    cvm_tensor_free(y);
    assert_int_equal(binary_f32("Mul", 2, D(2, 1), F(1, 2), 1, D(0), NULL, &y), CVM_OK);
    expect_shape(y, CVM_DTYPE_FLOAT32, 2, D(2, 0));
    cvm_tensor_free(y);
}

static void test_broadcast_errors(void **st)
{
    (void)st;
    cvm_tensor *y;
    assert_int_equal(binary_f32("Add", 2, D(2, 3), NULL, 1, D(4), NULL, &y), CVM_E_SHAPE);
    assert_null(y);
    const char *msg = cvm_last_error();
    assert_non_null(strstr(msg, "[2,3]"));
    assert_non_null(strstr(msg, "[4]"));
    assert_non_null(strstr(msg, "Add"));
    assert_int_equal(binary_f32("Add", 1, D(0), NULL, 1, D(3), NULL, &y), CVM_E_SHAPE);

    /* wrong input counts */
    op_t o = op_new("Add", 1);
    cvm_tensor *in1[1] = {mk(CVM_DTYPE_FLOAT32, 1, D(2), NULL)};
    assert_int_not_equal(run_op(&o, 17, 1, in1, &y, NULL), CVM_OK);
    assert_null(y);
    op_free(&o);
    o = op_new("Relu", 2);
    cvm_tensor *in2[2] = {mk(CVM_DTYPE_FLOAT32, 1, D(2), NULL), mk(CVM_DTYPE_FLOAT32, 1, D(2), NULL)};
    assert_int_not_equal(run_op(&o, 17, 2, in2, &y, NULL), CVM_OK);
    op_free(&o);

    /* mismatched types and unsupported dtypes */
    o = op_new("Add", 2);
    cvm_tensor *in3[2] = {mk(CVM_DTYPE_FLOAT32, 1, D(2), NULL), mk(CVM_DTYPE_INT32, 1, D(2), NULL)};
    assert_int_equal(run_op(&o, 17, 2, in3, &y, NULL), CVM_E_TYPE);
    op_free(&o);
    o = op_new("Sqrt", 1);
    cvm_tensor *in4[1] = {mk(CVM_DTYPE_INT32, 1, D(2), NULL)};
    assert_int_equal(run_op(&o, 17, 1, in4, &y, NULL), CVM_E_UNSUPPORTED);
    assert_non_null(strstr(cvm_last_error(), "int32"));
    op_free(&o);
}

static void test_legacy_broadcast(void **st)
{
    (void)st;
    /* opset 6: B [3] aligned with axis 1 of A [2,3,2] */
    op_t o = op_new("Add", 2);
    attr_i(&o, "broadcast", 1);
    attr_i(&o, "axis", 1);
    float a[12] = {0};
    cvm_tensor *in[2] = {mk(CVM_DTYPE_FLOAT32, 3, D(2, 3, 2), a),
                         mk(CVM_DTYPE_FLOAT32, 1, D(3), F(1, 2, 3))}, *y;
    assert_int_equal(run_op(&o, 6, 2, in, &y, NULL), CVM_OK);
    expect_f32(y, 3, D(2, 3, 2), F(1, 1, 2, 2, 3, 3, 1, 1, 2, 2, 3, 3), 0);
    cvm_tensor_free(y);
    op_free(&o);
}

/* A large per-channel and a same-shape case over a pool, against a naive
 * loop written here. */
static void test_parallel(void **st)
{
    (void)st;
    cvm_threadpool *pool;
    assert_int_equal(cvm_threadpool_create(3, &pool), CVM_OK);
    const int64_t N = 2, C = 5, H = 61, W = 67;
    cvm_tensor *x = mk(CVM_DTYPE_FLOAT32, 4, D(N, C, H, W), NULL);
    cvm_tensor *b = mk(CVM_DTYPE_FLOAT32, 4, D(1, C, 1, 1), NULL);
    float *xv = x->data, *bv = b->data;
    for (int64_t i = 0; i < N * C * H * W; i++)
        xv[i] = (float)(i % 1000) * 0.5f;
    for (int64_t c = 0; c < C; c++)
        bv[c] = (float)(c + 1);
    cvm_tensor *keep;
    assert_int_equal(cvm_tensor_clone(x, &keep), CVM_OK);
    op_t o = op_new("Sub", 2);
    cvm_tensor *in[2] = {x, b}, *y;
    assert_int_equal(run_op(&o, 14, 2, in, &y, pool), CVM_OK);
    const float *yv = y->data, *kv = keep->data;
    for (int64_t i = 0; i < N * C * H * W; i++)
        assert_true(yv[i] == kv[i] - (float)((i / (H * W)) % C + 1));
    cvm_tensor_free(y);
    op_free(&o);

    o = op_new("Sigmoid", 1);
    cvm_tensor *in1[1] = {keep};
    assert_int_equal(cvm_tensor_clone(keep, &keep), CVM_OK);
    assert_int_equal(run_op(&o, 13, 1, in1, &y, pool), CVM_OK);
    yv = y->data;
    kv = keep->data;
    for (int64_t i = 0; i < N * C * H * W; i++)
        assert_true(fabs(yv[i] - 1.0 / (1.0 + exp(-(double)kv[i]))) < 1e-6);
    cvm_tensor_free(y);
    cvm_tensor_free(keep);
    op_free(&o);
    cvm_threadpool_free(pool);
}

/* ------------------------------------------------------------------- unary */

static const float UX[8] = {-3.0f, -1.5f, -0.5f, 0.0f, 0.25f, 1.0f, 2.5f, 4.0f};

static void a_elu(op_t *o) { attr_f(o, "alpha", 0.5f); }
static void a_celu(op_t *o) { attr_f(o, "alpha", 2.0f); }
static void a_leaky(op_t *o) { attr_f(o, "alpha", 0.1f); }
static void a_shrink(op_t *o)
{
    attr_f(o, "lambd", 1.0f);
    attr_f(o, "bias", 0.5f);
}
static void a_gelu_tanh(op_t *o) { attr_s(o, "approximate", "tanh"); }

static void test_unary_float(void **st)
{
    (void)st;
    const float r = 2e-6f;
    unary_check("Sigmoid", UX, F(0.0474258732f, 0.182425524f, 0.377540669f, 0.5f, 0.562176501f,
                                 0.731058579f, 0.92414182f, 0.98201379f), r, NULL);
    unary_check("Gelu", UX, F(-0.00404969409f, -0.100210802f, -0.154268769f, 0, 0.149676581f,
                              0.841344746f, 2.48447584f, 3.99987332f), 1e-5f, NULL);
    unary_check("Gelu", UX, F(-0.00363739208f, -0.100428423f, -0.15428599f, 0, 0.149675351f,
                              0.841191991f, 2.48491573f, 3.99992975f), 1e-5f, a_gelu_tanh);
    unary_check("Selu", UX, F(-1.67056873f, -1.36581436f, -0.69175819f, 0, 0.262675256f,
                              1.05070102f, 2.62675256f, 4.20280409f), r, NULL);
    unary_check("Elu", UX, F(-0.475106466f, -0.38843492f, -0.19673467f, 0, 0.25f, 1, 2.5f, 4), r,
                a_elu);
    unary_check("HardSwish", UX, F(0, -0.375f, -0.208333333f, 0, 0.135416667f, 0.666666667f,
                                   2.29166667f, 4), r, NULL);
    unary_check("Softplus", UX, F(0.0485873516f, 0.201413278f, 0.474076984f, 0.693147181f,
                                  0.82593942f, 1.31326169f, 2.57888973f, 4.01814993f), r, NULL);
    unary_check("Mish", UX, F(-0.145647461f, -0.298099742f, -0.220743775f, 0, 0.16957241f,
                              0.865098388f, 2.4713923f, 3.99741281f), 1e-5f, NULL);
    unary_check("Celu", UX, F(-1.55373968f, -1.05526689f, -0.442398434f, 0, 0.25f, 1, 2.5f, 4), r,
                a_celu);
    unary_check("Erf", UX, F(-0.99997791f, -0.966105146f, -0.520499878f, 0, 0.27632639f,
                             0.842700793f, 0.999593048f, 0.999999985f), r, NULL);
    unary_check("Tanh", UX, F(-0.995054754f, -0.905148254f, -0.462117157f, 0, 0.244918662f,
                              0.761594156f, 0.986614298f, 0.9993293f), r, NULL);
    unary_check("Round", F(0.5f, 1.5f, 2.5f, -0.5f, -1.5f, -2.5f, 2.4f, -2.6f),
                F(0, 2, 2, 0, -2, -2, 2, -3), 0, NULL);
    unary_check("Shrink", UX, F(-2.5f, -1, 0, 0, 0, 0, 2, 3.5f), 0, a_shrink);
    unary_check("HardSigmoid", UX, F(0, 0.2f, 0.4f, 0.5f, 0.55f, 0.7f, 1, 1), r, NULL);
    unary_check("Softsign", UX, F(-0.75f, -0.6f, -0.333333333f, 0, 0.2f, 0.5f, 0.714285714f, 0.8f),
                r, NULL);
    unary_check("LeakyRelu", UX, F(-0.3f, -0.15f, -0.05f, 0, 0.25f, 1, 2.5f, 4), r, a_leaky);
    unary_check("Relu", UX, F(0, 0, 0, 0, 0.25f, 1, 2.5f, 4), 0, NULL);
    unary_check("ThresholdedRelu", UX, F(0, 0, 0, 0, 0, 0, 2.5f, 4), 0, NULL);
    unary_check("Sign", UX, F(-1, -1, -1, 0, 1, 1, 1, 1), 0, NULL);
    unary_check("Abs", UX, F(3, 1.5f, 0.5f, 0, 0.25f, 1, 2.5f, 4), 0, NULL);
    unary_check("Neg", UX, F(3, 1.5f, 0.5f, 0, -0.25f, -1, -2.5f, -4), 0, NULL);
    unary_check("Floor", UX, F(-3, -2, -1, 0, 0, 1, 2, 4), 0, NULL);
    unary_check("Ceil", UX, F(-3, -1, 0, 0, 1, 1, 3, 4), 0, NULL);
    unary_check("Reciprocal", UX, F(-1.0f / 3, -1.0f / 1.5f, -2, INFINITY, 4, 1, 0.4f, 0.25f), r, NULL);
    unary_check("Sqrt", UX, F(NAN, NAN, NAN, 0, 0.5f, 1, 1.58113883f, 2), r, NULL);

    /* a bad Gelu mode is refused */
    op_t o = op_new("Gelu", 1);
    attr_s(&o, "approximate", "fast");
    cvm_tensor *in[1] = {mk(CVM_DTYPE_FLOAT32, 1, D(2), NULL)}, *y;
    assert_int_equal(run_op(&o, 20, 1, in, &y, NULL), CVM_E_PARSE);
    op_free(&o);
}

static void test_isnan_isinf(void **st)
{
    (void)st;
    const float x[4] = {NAN, INFINITY, -INFINITY, 1.0f};
    op_t o = op_new("IsNaN", 1);
    cvm_tensor *in[1] = {mk(CVM_DTYPE_FLOAT32, 1, D(4), x)}, *y;
    assert_int_equal(run_op(&o, 13, 1, in, &y, NULL), CVM_OK);
    expect_shape(y, CVM_DTYPE_BOOL, 1, D(4));
    assert_memory_equal(y->data, ((const uint8_t[]){1, 0, 0, 0}), 4);
    cvm_tensor_free(y);
    op_free(&o);

    o = op_new("IsInf", 1);
    attr_i(&o, "detect_positive", 0);
    in[0] = mk(CVM_DTYPE_FLOAT32, 1, D(4), x);
    assert_int_equal(run_op(&o, 10, 1, in, &y, NULL), CVM_OK);
    assert_memory_equal(y->data, ((const uint8_t[]){0, 0, 1, 0}), 4);
    cvm_tensor_free(y);
    op_free(&o);
}

static void test_clip(void **st)
{
    (void)st;
    /* opset 6: attributes */
    op_t o = op_new("Clip", 1);
    attr_f(&o, "min", -1.0f);
    attr_f(&o, "max", 2.0f);
    cvm_tensor *in[3] = {mk(CVM_DTYPE_FLOAT32, 1, D(4), F(-3, 0.5f, 3, NAN))}, *y;
    assert_int_equal(run_op(&o, 6, 1, in, &y, NULL), CVM_OK);
    expect_f32(y, 1, D(4), F(-1, 0.5f, 2, NAN), 0);
    cvm_tensor_free(y);
    op_free(&o);

    /* opset 13: optional inputs, min omitted */
    o = op_new("Clip", 3);
    in[0] = mk(CVM_DTYPE_FLOAT32, 1, D(4), F(-3, 0.5f, 3, -INFINITY));
    in[1] = NULL;
    in[2] = mk(CVM_DTYPE_FLOAT32, 0, NULL, F(1));
    assert_int_equal(run_op(&o, 13, 3, in, &y, NULL), CVM_OK);
    expect_f32(y, 1, D(4), F(-3, 0.5f, 1, -INFINITY), 0);
    cvm_tensor_free(y);
    op_free(&o);

    /* integer clip */
    o = op_new("Clip", 3);
    const int8_t xi[4] = {-128, -5, 5, 127}, lo = -10, hi = 10;
    in[0] = mk(CVM_DTYPE_INT8, 1, D(4), xi);
    in[1] = mk(CVM_DTYPE_INT8, 0, NULL, &lo);
    in[2] = mk(CVM_DTYPE_INT8, 0, NULL, &hi);
    assert_int_equal(run_op(&o, 13, 3, in, &y, NULL), CVM_OK);
    assert_memory_equal(y->data, ((const int8_t[]){-10, -5, 5, 10}), 4);
    cvm_tensor_free(y);

    /* a non-scalar bound is refused */
    in[0] = mk(CVM_DTYPE_FLOAT32, 1, D(3), NULL);
    in[1] = mk(CVM_DTYPE_FLOAT32, 1, D(2), NULL);
    in[2] = NULL;
    assert_int_equal(run_op(&o, 13, 3, in, &y, NULL), CVM_E_SHAPE);
    op_free(&o);
}

/* ---------------------------------------------------------------- integers */

static void test_integer_arith(void **st)
{
    (void)st;
    cvm_tensor *in[2], *y;
    /* Div truncates; /0 gives 0; INT_MIN / -1 wraps instead of trapping */
    op_t o = op_new("Div", 2);
    const int32_t a32[5] = {-7, 7, 5, INT32_MIN, INT32_MIN}, b32[5] = {2, -2, 0, -1, 1};
    in[0] = mk(CVM_DTYPE_INT32, 1, D(5), a32);
    in[1] = mk(CVM_DTYPE_INT32, 1, D(5), b32);
    assert_int_equal(run_op(&o, 14, 2, in, &y, NULL), CVM_OK);
    expect_shape(y, CVM_DTYPE_INT32, 1, D(5));
    assert_memory_equal(y->data, ((const int32_t[]){-3, -3, 0, INT32_MIN, INT32_MIN}), 20);
    cvm_tensor_free(y);
    const int64_t a64[3] = {INT64_MIN, -9, 9}, b64[3] = {-1, 0, 4};
    in[0] = mk(CVM_DTYPE_INT64, 1, D(3), a64);
    in[1] = mk(CVM_DTYPE_INT64, 1, D(3), b64);
    assert_int_equal(run_op(&o, 14, 2, in, &y, NULL), CVM_OK);
    assert_memory_equal(y->data, ((const int64_t[]){INT64_MIN, 0, 2}), 24);
    cvm_tensor_free(y);
    op_free(&o);

    /* wrap-around of int8 add and uint8 sub/mul */
    o = op_new("Add", 2);
    in[0] = mk(CVM_DTYPE_INT8, 1, D(2), ((const int8_t[]){127, -128}));
    in[1] = mk(CVM_DTYPE_INT8, 0, NULL, ((const int8_t[]){1}));
    assert_int_equal(run_op(&o, 14, 2, in, &y, NULL), CVM_OK);
    assert_memory_equal(y->data, ((const int8_t[]){-128, -127}), 2);
    cvm_tensor_free(y);
    op_free(&o);
    o = op_new("Sub", 2);
    in[0] = mk(CVM_DTYPE_UINT8, 1, D(2), ((const uint8_t[]){3, 200}));
    in[1] = mk(CVM_DTYPE_UINT8, 1, D(2), ((const uint8_t[]){5, 100}));
    assert_int_equal(run_op(&o, 14, 2, in, &y, NULL), CVM_OK);
    assert_memory_equal(y->data, ((const uint8_t[]){254, 100}), 2);
    cvm_tensor_free(y);
    op_free(&o);
    o = op_new("Mul", 2);
    in[0] = mk(CVM_DTYPE_INT32, 1, D(1), ((const int32_t[]){65536}));
    in[1] = mk(CVM_DTYPE_INT32, 1, D(1), ((const int32_t[]){65536}));
    assert_int_equal(run_op(&o, 14, 2, in, &y, NULL), CVM_OK);
    assert_int_equal(((int32_t *)y->data)[0], 0);
    cvm_tensor_free(y);
    op_free(&o);

    /* Mod: fmod=0 follows the divisor's sign, fmod=1 the dividend's; /0 -> 0 */
    const int32_t ma[5] = {-7, 7, -7, 7, 3}, mb[5] = {3, 3, -3, -3, 0};
    o = op_new("Mod", 2);
    in[0] = mk(CVM_DTYPE_INT32, 1, D(5), ma);
    in[1] = mk(CVM_DTYPE_INT32, 1, D(5), mb);
    assert_int_equal(run_op(&o, 13, 2, in, &y, NULL), CVM_OK);
    assert_memory_equal(y->data, ((const int32_t[]){2, 1, -1, -2, 0}), 20);
    cvm_tensor_free(y);
    op_free(&o);
    o = op_new("Mod", 2);
    attr_i(&o, "fmod", 1);
    in[0] = mk(CVM_DTYPE_INT32, 1, D(5), ma);
    in[1] = mk(CVM_DTYPE_INT32, 1, D(5), mb);
    assert_int_equal(run_op(&o, 13, 2, in, &y, NULL), CVM_OK);
    assert_memory_equal(y->data, ((const int32_t[]){-1, 1, -1, 1, 0}), 20);
    cvm_tensor_free(y);
    in[0] = mk(CVM_DTYPE_FLOAT32, 1, D(2), F(-7.5f, 7.5f));
    in[1] = mk(CVM_DTYPE_FLOAT32, 1, D(2), F(2, -2));
    assert_int_equal(run_op(&o, 13, 2, in, &y, NULL), CVM_OK);
    expect_f32(y, 1, D(2), F(-1.5f, 1.5f), 0);
    cvm_tensor_free(y);
    op_free(&o);

    /* integer unary: Abs/Neg of INT_MIN wrap, Sign */
    o = op_new("Abs", 1);
    in[0] = mk(CVM_DTYPE_INT32, 1, D(3), ((const int32_t[]){INT32_MIN, -5, 6}));
    assert_int_equal(run_op(&o, 13, 1, in, &y, NULL), CVM_OK);
    assert_memory_equal(y->data, ((const int32_t[]){INT32_MIN, 5, 6}), 12);
    cvm_tensor_free(y);
    op_free(&o);
    o = op_new("Sign", 1);
    in[0] = mk(CVM_DTYPE_INT64, 1, D(3), ((const int64_t[]){-9, 0, 4}));
    assert_int_equal(run_op(&o, 13, 1, in, &y, NULL), CVM_OK);
    assert_memory_equal(y->data, ((const int64_t[]){-1, 0, 1}), 24);
    cvm_tensor_free(y);
    op_free(&o);
}

static void test_compare_logic(void **st)
{
    (void)st;
    cvm_tensor *in[2], *y;
    op_t o = op_new("Greater", 2);
    in[0] = mk(CVM_DTYPE_INT64, 2, D(2, 2), ((const int64_t[]){1, 5, -3, 7}));
    in[1] = mk(CVM_DTYPE_INT64, 1, D(2), ((const int64_t[]){2, 5}));
    assert_int_equal(run_op(&o, 13, 2, in, &y, NULL), CVM_OK);
    expect_shape(y, CVM_DTYPE_BOOL, 2, D(2, 2));
    assert_memory_equal(y->data, ((const uint8_t[]){0, 0, 0, 1}), 4);
    cvm_tensor_free(y);
    op_free(&o);

    o = op_new("Equal", 2);
    in[0] = mk(CVM_DTYPE_FLOAT32, 1, D(3), F(1, NAN, 3));
    in[1] = mk(CVM_DTYPE_FLOAT32, 1, D(3), F(1, NAN, 4));
    assert_int_equal(run_op(&o, 13, 2, in, &y, NULL), CVM_OK);
    assert_memory_equal(y->data, ((const uint8_t[]){1, 0, 0}), 3);
    cvm_tensor_free(y);
    op_free(&o);

    const uint8_t ba[4] = {0, 0, 1, 1}, bb[4] = {0, 1, 0, 1};
    const char *ops[3] = {"And", "Or", "Xor"};
    const uint8_t want[3][4] = {{0, 0, 0, 1}, {0, 1, 1, 1}, {0, 1, 1, 0}};
    for (int k = 0; k < 3; k++) {
        o = op_new(ops[k], 2);
        in[0] = mk(CVM_DTYPE_BOOL, 1, D(4), ba);
        in[1] = mk(CVM_DTYPE_BOOL, 1, D(4), bb);
        assert_int_equal(run_op(&o, 7, 2, in, &y, NULL), CVM_OK);
        assert_memory_equal(y->data, want[k], 4);
        cvm_tensor_free(y);
        op_free(&o);
    }

    o = op_new("Not", 1);
    in[0] = mk(CVM_DTYPE_BOOL, 1, D(2), ((const uint8_t[]){0, 1}));
    assert_int_equal(run_op(&o, 1, 1, in, &y, NULL), CVM_OK);
    assert_memory_equal(y->data, ((const uint8_t[]){1, 0}), 2);
    cvm_tensor_free(y);
    op_free(&o);
}

static void test_bits(void **st)
{
    (void)st;
    cvm_tensor *in[2], *y;
    op_t o = op_new("BitShift", 2);
    attr_s(&o, "direction", "LEFT");
    in[0] = mk(CVM_DTYPE_UINT8, 1, D(3), ((const uint8_t[]){1, 0x81, 7}));
    in[1] = mk(CVM_DTYPE_UINT8, 1, D(3), ((const uint8_t[]){3, 1, 200}));
    assert_int_equal(run_op(&o, 11, 2, in, &y, NULL), CVM_OK);
    assert_memory_equal(y->data, ((const uint8_t[]){8, 2, 0}), 3);
    cvm_tensor_free(y);
    op_free(&o);
    o = op_new("BitShift", 2);
    attr_s(&o, "direction", "RIGHT");
    in[0] = mk(CVM_DTYPE_UINT64, 1, D(2), ((const uint64_t[]){UINT64_MAX, 16}));
    in[1] = mk(CVM_DTYPE_UINT64, 0, NULL, ((const uint64_t[]){4}));
    assert_int_equal(run_op(&o, 11, 2, in, &y, NULL), CVM_OK);
    assert_memory_equal(y->data, ((const uint64_t[]){UINT64_MAX >> 4, 1}), 16);
    cvm_tensor_free(y);
    op_free(&o);

    /* signed shifts (opset 28): arithmetic right shift, out-of-range counts
     * leave only the sign fill */
    o = op_new("BitShift", 2);
    attr_s(&o, "direction", "RIGHT");
    in[0] = mk(CVM_DTYPE_INT8, 1, D(4), ((const int8_t[]){-8, -8, 4, -1}));
    in[1] = mk(CVM_DTYPE_INT8, 1, D(4), ((const int8_t[]){1, 8, 9, -16}));
    assert_int_equal(run_op(&o, 28, 2, in, &y, NULL), CVM_OK);
    assert_memory_equal(y->data, ((const int8_t[]){-4, -1, 0, -1}), 4);
    cvm_tensor_free(y);
    op_free(&o);
    o = op_new("BitShift", 2);
    attr_s(&o, "direction", "LEFT");
    in[0] = mk(CVM_DTYPE_INT8, 1, D(3), ((const int8_t[]){64, 1, -64}));
    in[1] = mk(CVM_DTYPE_INT8, 1, D(3), ((const int8_t[]){1, 7, -1}));
    assert_int_equal(run_op(&o, 28, 2, in, &y, NULL), CVM_OK);
    assert_memory_equal(y->data, ((const int8_t[]){-128, -128, 0}), 3);
    cvm_tensor_free(y);
    op_free(&o);

    o = op_new("BitwiseXor", 2);
    in[0] = mk(CVM_DTYPE_INT16, 1, D(2), ((const int16_t[]){0x0ff0, -1}));
    in[1] = mk(CVM_DTYPE_INT16, 1, D(2), ((const int16_t[]){0x00ff, 1}));
    assert_int_equal(run_op(&o, 18, 2, in, &y, NULL), CVM_OK);
    assert_memory_equal(y->data, ((const int16_t[]){0x0f0f, -2}), 4);
    cvm_tensor_free(y);
    op_free(&o);
    o = op_new("BitwiseNot", 1);
    in[0] = mk(CVM_DTYPE_UINT16, 1, D(1), ((const uint16_t[]){0x00ff}));
    assert_int_equal(run_op(&o, 18, 1, in, &y, NULL), CVM_OK);
    assert_int_equal(((uint16_t *)y->data)[0], 0xff00);
    cvm_tensor_free(y);
    op_free(&o);
}

static void test_pow_mixed(void **st)
{
    (void)st;
    cvm_tensor *in[2], *y;
    op_t o = op_new("Pow", 2);
    in[0] = mk(CVM_DTYPE_FLOAT32, 1, D(3), F(2, -3, 4));
    in[1] = mk(CVM_DTYPE_INT64, 1, D(3), ((const int64_t[]){3, 2, -1}));
    assert_int_equal(run_op(&o, 15, 2, in, &y, NULL), CVM_OK);
    expect_f32(y, 1, D(3), F(8, 9, 0.25f), 0);
    cvm_tensor_free(y);
    in[0] = mk(CVM_DTYPE_INT32, 1, D(4), ((const int32_t[]){2, 3, -2, 5}));
    in[1] = mk(CVM_DTYPE_FLOAT32, 1, D(4), F(10, 0.5f, 3, -1));
    assert_int_equal(run_op(&o, 15, 2, in, &y, NULL), CVM_OK);
    expect_shape(y, CVM_DTYPE_INT32, 1, D(4));
    assert_memory_equal(y->data, ((const int32_t[]){1024, 1, -8, 0}), 16);
    cvm_tensor_free(y);
    in[0] = mk(CVM_DTYPE_INT64, 1, D(3), ((const int64_t[]){3, -1, 7}));
    in[1] = mk(CVM_DTYPE_INT64, 1, D(3), ((const int64_t[]){39, -3, 0}));
    assert_int_equal(run_op(&o, 15, 2, in, &y, NULL), CVM_OK);
    assert_memory_equal(y->data, ((const int64_t[]){4052555153018976267LL, -1, 1}), 24);
    cvm_tensor_free(y);
    op_free(&o);
}

/* ---------------------------------------------------- variadic, Where, PRelu */

static void test_variadic(void **st)
{
    (void)st;
    cvm_tensor *in[3], *y;
    const char *ops[4] = {"Sum", "Mean", "Max", "Min"};
    /* [2,1] , [3] , scalar -> [2,3] */
    const float want[4][6] = {
        {11, 12, 13, 21, 22, 23}, {11 / 3.0f, 4, 13 / 3.0f, 7, 22 / 3.0f, 23 / 3.0f},
        {10, 10, 10, 11, 11, 11}, {0, 1, 1, 0, 1, 2}};
    for (int k = 0; k < 4; k++) {
        op_t o = op_new(ops[k], 3);
        in[0] = mk(CVM_DTYPE_FLOAT32, 2, D(2, 1), F(1, 11));
        in[1] = mk(CVM_DTYPE_FLOAT32, 1, D(3), F(0, 1, 2));
        in[2] = mk(CVM_DTYPE_FLOAT32, 0, NULL, F(10));
        assert_int_equal(run_op(&o, 13, 3, in, &y, NULL), CVM_OK);
        expect_f32(y, 2, D(2, 3), want[k], 1e-6f);
        cvm_tensor_free(y);
        op_free(&o);
    }
    op_t o = op_new("Max", 2);
    in[0] = mk(CVM_DTYPE_UINT32, 1, D(2), ((const uint32_t[]){1, 4000000000u}));
    in[1] = mk(CVM_DTYPE_UINT32, 1, D(2), ((const uint32_t[]){2, 3}));
    assert_int_equal(run_op(&o, 13, 2, in, &y, NULL), CVM_OK);
    assert_memory_equal(y->data, ((const uint32_t[]){2, 4000000000u}), 8);
    cvm_tensor_free(y);
    op_free(&o);
    o = op_new("Min", 1);
    in[0] = mk(CVM_DTYPE_FLOAT32, 1, D(2), F(5, -5));
    assert_int_equal(run_op(&o, 13, 1, in, &y, NULL), CVM_OK);
    expect_f32(y, 1, D(2), F(5, -5), 0);
    cvm_tensor_free(y);
    op_free(&o);
    o = op_new("Sum", 2);
    in[0] = mk(CVM_DTYPE_FLOAT32, 1, D(2), NULL);
    in[1] = mk(CVM_DTYPE_FLOAT32, 1, D(3), NULL);
    assert_int_equal(run_op(&o, 13, 2, in, &y, NULL), CVM_E_SHAPE);
    op_free(&o);
}

static void test_where(void **st)
{
    (void)st;
    cvm_tensor *in[3], *y;
    op_t o = op_new("Where", 3);
    /* cond [2,1], X [3], Y scalar -> [2,3] */
    in[0] = mk(CVM_DTYPE_BOOL, 2, D(2, 1), ((const uint8_t[]){1, 0}));
    in[1] = mk(CVM_DTYPE_INT64, 1, D(3), ((const int64_t[]){1, 2, 3}));
    in[2] = mk(CVM_DTYPE_INT64, 0, NULL, ((const int64_t[]){-1}));
    assert_int_equal(run_op(&o, 16, 3, in, &y, NULL), CVM_OK);
    expect_shape(y, CVM_DTYPE_INT64, 2, D(2, 3));
    assert_memory_equal(y->data, ((const int64_t[]){1, 2, 3, -1, -1, -1}), 48);
    cvm_tensor_free(y);
    /* float16 data passes through untouched */
    const uint16_t hx[2] = {0x3c00, 0x7e00}, hy[2] = {0xc000, 0x0001};
    in[0] = mk(CVM_DTYPE_BOOL, 1, D(2), ((const uint8_t[]){0, 1}));
    in[1] = mk(CVM_DTYPE_FLOAT16, 1, D(2), hx);
    in[2] = mk(CVM_DTYPE_FLOAT16, 1, D(2), hy);
    assert_int_equal(run_op(&o, 16, 3, in, &y, NULL), CVM_OK);
    expect_shape(y, CVM_DTYPE_FLOAT16, 1, D(2));
    assert_memory_equal(y->data, ((const uint16_t[]){0xc000, 0x7e00}), 4);
    cvm_tensor_free(y);
    /* cond must be bool */
    in[0] = mk(CVM_DTYPE_FLOAT32, 1, D(2), NULL);
    in[1] = mk(CVM_DTYPE_FLOAT32, 1, D(2), NULL);
    in[2] = mk(CVM_DTYPE_FLOAT32, 1, D(2), NULL);
    assert_int_equal(run_op(&o, 16, 3, in, &y, NULL), CVM_E_TYPE);
    op_free(&o);
}

static void test_prelu(void **st)
{
    (void)st;
    cvm_tensor *in[2], *y;
    op_t o = op_new("PRelu", 2);
    const float x[8] = {-1, 2, -3, 4, -5, 6, -7, 8};
    const float want[8] = {-0.1f, 2, -0.3f, 4, -1.0f, 6, -1.4f, 8};
    /* [1,2,2,2] with slope [2,1,1] (opset 9+) and legacy [2] (opset 6) */
    in[0] = mk(CVM_DTYPE_FLOAT32, 4, D(1, 2, 2, 2), x);
    in[1] = mk(CVM_DTYPE_FLOAT32, 3, D(2, 1, 1), F(0.1f, 0.2f));
    assert_int_equal(run_op(&o, 16, 2, in, &y, NULL), CVM_OK);
    expect_f32(y, 4, D(1, 2, 2, 2), want, 1e-6f);
    cvm_tensor_free(y);
    in[0] = mk(CVM_DTYPE_FLOAT32, 4, D(1, 2, 2, 3), NULL);
    in[1] = mk(CVM_DTYPE_FLOAT32, 1, D(2), F(0.1f, 0.2f));
    assert_int_equal(run_op(&o, 6, 2, in, &y, NULL), CVM_OK);
    expect_shape(y, CVM_DTYPE_FLOAT32, 4, D(1, 2, 2, 3));
    cvm_tensor_free(y);
    /* a slope that would grow X is refused */
    in[0] = mk(CVM_DTYPE_FLOAT32, 1, D(1), NULL);
    in[1] = mk(CVM_DTYPE_FLOAT32, 1, D(3), NULL);
    assert_int_equal(run_op(&o, 16, 2, in, &y, NULL), CVM_E_SHAPE);
    op_free(&o);
}

/* ------------------------------------------------------------ Cast, Identity */

static cvm_tensor *cast(cvm_tensor *x, cvm_dtype to)
{
    op_t o = op_new("Cast", 1);
    attr_i(&o, "to", to);
    cvm_tensor *in[1] = {x}, *y;
    assert_int_equal(run_op(&o, 19, 1, in, &y, NULL), CVM_OK);
    op_free(&o);
    expect_shape(y, to, y->ndim, y->dims);
    return y;
}

static void test_cast(void **st)
{
    (void)st;
    /* float32 -> float16 -> float32: exact for representable values, rounded
     * to nearest otherwise (0.1 -> 0.0999755859375), overflow to inf */
    const float fv[6] = {1.0f, -2.5f, 0.1f, 65504.0f, 70000.0f, 0.0f};
    cvm_tensor *h = cast(mk(CVM_DTYPE_FLOAT32, 1, D(6), fv), CVM_DTYPE_FLOAT16);
    const uint16_t *hv = h->data;
    assert_int_equal(hv[0], 0x3c00);
    assert_int_equal(hv[1], 0xc100);
    assert_int_equal(hv[3], 0x7bff);
    assert_int_equal(hv[4], 0x7c00);
    cvm_tensor *f = cast(h, CVM_DTYPE_FLOAT32);
    expect_f32(f, 1, D(6), F(1.0f, -2.5f, 0.0999755859375f, 65504.0f, INFINITY, 0.0f), 0);
    /* float -> int truncates toward zero */
    cvm_tensor *i = cast(mk(CVM_DTYPE_FLOAT32, 1, D(3), F(-2.7f, 2.7f, 100.0f)), CVM_DTYPE_INT32);
    assert_memory_equal(i->data, ((const int32_t[]){-2, 2, 100}), 12);
    /* int64 -> double -> int64 keeps values up to 2^53 */
    const int64_t big[2] = {(1LL << 53), -123456789012LL};
    cvm_tensor *d = cast(mk(CVM_DTYPE_INT64, 1, D(2), big), CVM_DTYPE_FLOAT64);
    cvm_tensor *back = cast(d, CVM_DTYPE_INT64);
    assert_memory_equal(back->data, big, 16);
    /* bool and bfloat16 */
    cvm_tensor *b = cast(mk(CVM_DTYPE_FLOAT32, 1, D(3), F(0.0f, -0.5f, 3.0f)), CVM_DTYPE_BOOL);
    assert_memory_equal(b->data, ((const uint8_t[]){0, 1, 1}), 3);
    cvm_tensor *bf = cast(mk(CVM_DTYPE_FLOAT32, 1, D(2), F(1.0f, -3.0f)), CVM_DTYPE_BFLOAT16);
    assert_memory_equal(bf->data, ((const uint16_t[]){0x3f80, 0xc040}), 4);
    cvm_tensor *u8 = cast(mk(CVM_DTYPE_INT32, 1, D(2), ((const int32_t[]){300, -1})), CVM_DTYPE_UINT8);
    assert_memory_equal(u8->data, ((const uint8_t[]){44, 255}), 2);
    cvm_tensor_free(f);
    cvm_tensor_free(i);
    cvm_tensor_free(back);
    cvm_tensor_free(b);
    cvm_tensor_free(bf);
    cvm_tensor_free(u8);

    /* CastLike takes the type of its second input */
    op_t o = op_new("CastLike", 2);
    cvm_tensor *in[2] = {mk(CVM_DTYPE_FLOAT64, 1, D(2), ((const double[]){1.5, -7.25})),
                         mk(CVM_DTYPE_FLOAT16, 0, NULL, NULL)}, *y;
    assert_int_equal(run_op(&o, 15, 2, in, &y, NULL), CVM_OK);
    expect_shape(y, CVM_DTYPE_FLOAT16, 1, D(2));
    assert_memory_equal(y->data, ((const uint16_t[]){0x3e00, 0xc740}), 4);
    cvm_tensor_free(y);
    op_free(&o);

    /* string and unknown targets are refused */
    o = op_new("Cast", 1);
    attr_i(&o, "to", CVM_DTYPE_STRING);
    in[0] = mk(CVM_DTYPE_FLOAT32, 1, D(1), NULL);
    assert_int_equal(run_op(&o, 13, 1, in, &y, NULL), CVM_E_UNSUPPORTED);
    op_free(&o);
    o = op_new("Cast", 1);
    attr_i(&o, "to", 1234);
    in[0] = mk(CVM_DTYPE_FLOAT32, 1, D(1), NULL);
    assert_int_equal(run_op(&o, 13, 1, in, &y, NULL), CVM_E_UNSUPPORTED);
    op_free(&o);
}

static void test_identity_and_promotion(void **st)
{
    (void)st;
    op_t o = op_new("Identity", 1);
    const double dv[3] = {1.0 / 3, 2e300, -0.0};
    cvm_tensor *in[2] = {mk(CVM_DTYPE_FLOAT64, 1, D(3), dv)}, *y;
    assert_int_equal(run_op(&o, 16, 1, in, &y, NULL), CVM_OK);
    expect_shape(y, CVM_DTYPE_FLOAT64, 1, D(3));
    assert_memory_equal(y->data, dv, sizeof dv);
    cvm_tensor_free(y);
    op_free(&o);

    /* float16 Add is computed in float32 and comes back as float16 */
    o = op_new("Add", 2);
    in[0] = mk(CVM_DTYPE_FLOAT16, 1, D(2), ((const uint16_t[]){0x3c00, 0x4000})); /* 1, 2 */
    in[1] = mk(CVM_DTYPE_FLOAT16, 0, NULL, ((const uint16_t[]){0x3800}));          /* 0.5 */
    assert_int_equal(run_op(&o, 14, 2, in, &y, NULL), CVM_OK);
    expect_shape(y, CVM_DTYPE_FLOAT16, 1, D(2));
    assert_memory_equal(y->data, ((const uint16_t[]){0x3e00, 0x4100}), 4);
    cvm_tensor_free(y);
    op_free(&o);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_add_shapes),
        cmocka_unit_test(test_broadcast_errors),
        cmocka_unit_test(test_legacy_broadcast),
        cmocka_unit_test(test_parallel),
        cmocka_unit_test(test_unary_float),
        cmocka_unit_test(test_isnan_isinf),
        cmocka_unit_test(test_clip),
        cmocka_unit_test(test_integer_arith),
        cmocka_unit_test(test_compare_logic),
        cmocka_unit_test(test_bits),
        cmocka_unit_test(test_pow_mixed),
        cmocka_unit_test(test_variadic),
        cmocka_unit_test(test_where),
        cmocka_unit_test(test_prelu),
        cmocka_unit_test(test_cast),
        cmocka_unit_test(test_identity_and_promotion),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
