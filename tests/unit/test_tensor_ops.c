/* Data-movement and shape operators, one node at a time through
 * cvm_node_eval.  Expected values are hand-derived or computed with numpy. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/half.h"
#include "base/status.h"
#include "base/tensor.h"
#include "base/threadpool.h"
#include "graph/graph.h"
#include "graph/schema.h"
#include "runtime/eval.h"

#define NDIMS(...) (int)(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t)), (int64_t[]){__VA_ARGS__}
#define F32(...) (float[]){__VA_ARGS__}
#define I64(...) (int64_t[]){__VA_ARGS__}
#define I32(...) (int32_t[]){__VA_ARGS__}

/* ------------------------------------------------------------ test utilities */

static cvm_graph *g_graph;

static cvm_node *mk(const char *op, int n_in, int n_out)
{
    int in[16], out[16], idx;
    char name[16];
    cvm_graph_free(g_graph);
    assert_int_equal(cvm_graph_create(&g_graph), CVM_OK);
    for (int i = 0; i < n_in; i++) {
        snprintf(name, sizeof name, "in%d", i);
        assert_int_equal(cvm_graph_value(g_graph, name, &in[i]), CVM_OK);
    }
    for (int i = 0; i < n_out; i++) {
        snprintf(name, sizeof name, "out%d", i);
        assert_int_equal(cvm_graph_value(g_graph, name, &out[i]), CVM_OK);
    }
    assert_int_equal(cvm_graph_add_node(g_graph, op, "", "n0", n_in, in, n_out, out, &idx), CVM_OK);
    return &g_graph->nodes[idx];
}

static cvm_attr *add_attr(cvm_node *n, const char *name, cvm_attr_type t)
{
    n->attrs = realloc(n->attrs, (size_t)(n->n_attr + 1) * sizeof *n->attrs);
    assert_non_null(n->attrs);
    cvm_attr *a = &n->attrs[n->n_attr++];
    memset(a, 0, sizeof *a);
    a->name = strdup(name);
    a->type = t;
    return a;
}

static void a_int(cvm_node *n, const char *name, int64_t v) { add_attr(n, name, CVM_ATTR_INT)->i = v; }
static void a_float(cvm_node *n, const char *name, float v) { add_attr(n, name, CVM_ATTR_FLOAT)->f = v; }

static void a_ints(cvm_node *n, const char *name, size_t cnt, const int64_t *v)
{
    cvm_attr *a = add_attr(n, name, CVM_ATTR_INTS);
    a->n = cnt;
    a->ints = malloc(cnt ? cnt * sizeof *v : 1);
    memcpy(a->ints, v, cnt * sizeof *v);
}

static void a_str(cvm_node *n, const char *name, const char *s)
{
    cvm_attr *a = add_attr(n, name, CVM_ATTR_STRING);
    a->s = strdup(s);
    a->s_len = strlen(s);
}

static cvm_tensor *mkt(cvm_dtype dt, int ndim, const int64_t *dims, const void *vals)
{
    cvm_tensor *t;
    assert_int_equal(cvm_tensor_create(dt, ndim, dims, &t), CVM_OK);
    if (vals && t->nbytes)
        memcpy(t->data, vals, t->nbytes);
    return t;
}

static void a_tensor(cvm_node *n, const char *name, cvm_tensor *t) { add_attr(n, name, CVM_ATTR_TENSOR)->t = t; }

#define TF(...) mkt(CVM_DTYPE_FLOAT32, __VA_ARGS__)
#define TI64(...) mkt(CVM_DTYPE_INT64, __VA_ARGS__)
#define TI32(...) mkt(CVM_DTYPE_INT32, __VA_ARGS__)

static cvm_tensor *tf16(int ndim, const int64_t *dims, const float *vals)
{
    cvm_tensor *t = mkt(CVM_DTYPE_FLOAT16, ndim, dims, NULL);
    for (int64_t i = 0; i < cvm_tensor_numel(t); i++)
        ((uint16_t *)t->data)[i] = cvm_f32_to_f16(vals[i]);
    return t;
}

static cvm_tensor *g_out[8];

/* Runs the node; inputs are freed, outputs land in g_out. */
static cvm_status run(cvm_node *n, int opset, int n_in, cvm_tensor **in, int n_out)
{
    for (int i = 0; i < 8; i++) {
        cvm_tensor_free(g_out[i]);
        g_out[i] = NULL;
    }
    cvm_status s = cvm_node_eval(n, opset, n_in, (const cvm_tensor *const *)in, n_out, g_out, NULL);
    for (int i = 0; i < n_in; i++)
        cvm_tensor_free(in[i]);
    return s;
}

static void check_shape(const cvm_tensor *t, int ndim, const int64_t *dims)
{
    assert_non_null(t);
    assert_int_equal(t->ndim, ndim);
    for (int i = 0; i < ndim; i++)
        assert_int_equal(t->dims[i], dims[i]);
}

static void expect_f(int k, int ndim, const int64_t *dims, const float *v)
{
    check_shape(g_out[k], ndim, dims);
    assert_int_equal(g_out[k]->dtype, CVM_DTYPE_FLOAT32);
    for (int64_t i = 0; i < cvm_tensor_numel(g_out[k]); i++)
        assert_float_equal(((float *)g_out[k]->data)[i], v[i], 1e-6);
}

static void expect_i64(int k, int ndim, const int64_t *dims, const int64_t *v)
{
    check_shape(g_out[k], ndim, dims);
    assert_int_equal(g_out[k]->dtype, CVM_DTYPE_INT64);
    for (int64_t i = 0; i < cvm_tensor_numel(g_out[k]); i++)
        assert_int_equal(((int64_t *)g_out[k]->data)[i], v[i]);
}

static void expect_i32(int k, int ndim, const int64_t *dims, const int32_t *v)
{
    check_shape(g_out[k], ndim, dims);
    assert_int_equal(g_out[k]->dtype, CVM_DTYPE_INT32);
    for (int64_t i = 0; i < cvm_tensor_numel(g_out[k]); i++)
        assert_int_equal(((int32_t *)g_out[k]->data)[i], v[i]);
}

static void expect_f16(int k, int ndim, const int64_t *dims, const float *v)
{
    check_shape(g_out[k], ndim, dims);
    assert_int_equal(g_out[k]->dtype, CVM_DTYPE_FLOAT16);
    for (int64_t i = 0; i < cvm_tensor_numel(g_out[k]); i++)
        assert_int_equal(((uint16_t *)g_out[k]->data)[i], cvm_f32_to_f16(v[i]));
}

static void expect_error(cvm_status got, cvm_status want, const char *needle)
{
    assert_int_equal(got, want);
    if (needle && !strstr(cvm_last_error(), needle))
        fail_msg("error '%s' does not mention '%s'", cvm_last_error(), needle);
}

static int teardown(void **st)
{
    (void)st;
    for (int i = 0; i < 8; i++) {
        cvm_tensor_free(g_out[i]);
        g_out[i] = NULL;
    }
    cvm_graph_free(g_graph);
    g_graph = NULL;
    return 0;
}

/* Runs only shape inference with input 1's data withheld. */
static cvm_status infer_without_data(cvm_node *n, int opset, int n_in, cvm_tensor **in, int hide)
{
    cvm_tensor hdr = *in[hide], out = {0};
    hdr.data = NULL;
    const cvm_tensor *use[8];
    for (int i = 0; i < n_in; i++)
        use[i] = i == hide ? &hdr : in[i];
    cvm_tensor *outs[1] = {&out};
    const cvm_op_schema *s = cvm_schema_find("", n->op_type);
    assert_non_null(s);
    cvm_status st = cvm_node_infer(s, n, opset, n_in, use, 1, outs);
    for (int i = 0; i < n_in; i++)
        cvm_tensor_free(in[i]);
    return st;
}

/* ------------------------------------------------------------ Reshape */

static void test_reshape(void **st)
{
    (void)st;
    float x[24];
    for (int i = 0; i < 24; i++)
        x[i] = (float)i;
    cvm_node *n = mk("Reshape", 2, 1);
    cvm_tensor *in[2] = {TF(NDIMS(2, 3, 4), x), TI64(NDIMS(3), I64(0, -1, 2))};
    assert_int_equal(run(n, 13, 2, in, 1), CVM_OK);
    expect_f(0, NDIMS(2, 6, 2), x);

    /* allowzero: 0 is a real zero extent. */
    n = mk("Reshape", 2, 1);
    a_int(n, "allowzero", 1);
    in[0] = TF(NDIMS(0, 3), NULL);
    in[1] = TI64(NDIMS(2), I64(3, 0));
    assert_int_equal(run(n, 14, 2, in, 1), CVM_OK);
    check_shape(g_out[0], NDIMS(3, 0));

    /* opset 1: shape is an attribute. */
    n = mk("Reshape", 1, 1);
    a_ints(n, "shape", 2, I64(4, -1));
    in[0] = TF(NDIMS(2, 3, 4), x);
    assert_int_equal(run(n, 1, 1, in, 1), CVM_OK);
    expect_f(0, NDIMS(4, 6), x);

    n = mk("Reshape", 2, 1);
    in[0] = TF(NDIMS(2, 3, 4), x);
    in[1] = TI64(NDIMS(2), I64(-1, -1));
    expect_error(run(n, 13, 2, in, 1), CVM_E_SHAPE, "more than one -1");
    n = mk("Reshape", 2, 1);
    in[0] = TF(NDIMS(2, 3, 4), x);
    in[1] = TI64(NDIMS(2), I64(5, 5));
    expect_error(run(n, 13, 2, in, 1), CVM_E_SHAPE, "n0");

    n = mk("Reshape", 2, 1);
    in[0] = TF(NDIMS(2, 3, 4), x);
    in[1] = TI64(NDIMS(2), I64(4, 6));
    assert_int_equal(infer_without_data(n, 13, 2, in, 1), CVM_E_DYNAMIC);
}

/* ----------------------------------------------------------- Transpose */

static void test_transpose(void **st)
{
    (void)st;
    int64_t x[24];
    for (int i = 0; i < 24; i++)
        x[i] = i;
    cvm_node *n = mk("Transpose", 1, 1);
    a_ints(n, "perm", 3, I64(0, 2, 1));
    cvm_tensor *in[1] = {TI64(NDIMS(2, 3, 4), x)};
    assert_int_equal(run(n, 13, 1, in, 1), CVM_OK);
    expect_i64(0, NDIMS(2, 4, 3), I64(0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11, 12, 16, 20, 13, 17, 21, 14, 18, 22, 15, 19, 23));

    n = mk("Transpose", 1, 1);
    float xf[24];
    for (int i = 0; i < 24; i++)
        xf[i] = (float)i * 0.5f;
    in[0] = tf16(NDIMS(2, 3, 4), xf);
    assert_int_equal(run(n, 13, 1, in, 1), CVM_OK);
    /* Default perm reverses the axes. */
    int64_t order[24] = {0, 12, 4, 16, 8, 20, 1, 13, 5, 17, 9, 21, 2, 14, 6, 18, 10, 22, 3, 15, 7, 19, 11, 23};
    float want[24];
    for (int i = 0; i < 24; i++)
        want[i] = (float)order[i] * 0.5f;
    expect_f16(0, NDIMS(4, 3, 2), want);

    n = mk("Transpose", 1, 1);
    a_ints(n, "perm", 2, I64(0, 0));
    in[0] = TF(NDIMS(2, 2), F32(1, 2, 3, 4));
    expect_error(run(n, 13, 1, in, 1), CVM_E_SHAPE, "permutation");
}

/* Large transposes take the blocked and threaded paths; compare them with
 * the index formula. */
static void test_transpose_large(void **st)
{
    (void)st;
    cvm_threadpool *pool;
    assert_int_equal(cvm_threadpool_create(3, &pool), CVM_OK);
    const int64_t A = 3, B = 301, C = 257;
    cvm_tensor *x = mkt(CVM_DTYPE_FLOAT32, NDIMS(A, B, C), NULL);
    float *xd = x->data;
    for (int64_t i = 0; i < A * B * C; i++)
        xd[i] = (float)i;
    static const int64_t perms[3][3] = {{0, 2, 1}, {2, 1, 0}, {1, 0, 2}};
    for (int p = 0; p < 3; p++) {
        cvm_node *n = mk("Transpose", 1, 1);
        a_ints(n, "perm", 3, perms[p]);
        cvm_tensor *out = NULL;
        const cvm_tensor *ins[1] = {x};
        assert_int_equal(cvm_node_eval(n, 13, 1, ins, 1, &out, pool), CVM_OK);
        int64_t d[3] = {x->dims[perms[p][0]], x->dims[perms[p][1]], x->dims[perms[p][2]]};
        int64_t xs[3] = {B * C, C, 1};
        const float *o = out->data;
        for (int64_t i = 0; i < d[0]; i++)
            for (int64_t j = 0; j < d[1]; j++)
                for (int64_t k = 0; k < d[2]; k++) {
                    int64_t src = i * xs[perms[p][0]] + j * xs[perms[p][1]] + k * xs[perms[p][2]];
                    if (o[(i * d[1] + j) * d[2] + k] != (float)src)
                        fail_msg("perm %d mismatch at %lld,%lld,%lld", p, (long long)i, (long long)j, (long long)k);
                }
        cvm_tensor_free(out);
    }
    cvm_tensor_free(x);
    cvm_threadpool_free(pool);
}

/* ------------------------------------------------------ Concat, Split */

static void test_concat(void **st)
{
    (void)st;
    cvm_node *n = mk("Concat", 3, 1);
    a_int(n, "axis", -1);
    cvm_tensor *in[3] = {TI64(NDIMS(2, 2), I64(1, 2, 3, 4)), TI64(NDIMS(2, 1), I64(5, 6)),
                         TI64(NDIMS(2, 0), NULL)};
    assert_int_equal(run(n, 13, 3, in, 1), CVM_OK);
    expect_i64(0, NDIMS(2, 3), I64(1, 2, 5, 3, 4, 6));

    n = mk("Concat", 2, 1);
    a_int(n, "axis", 0);
    in[0] = TF(NDIMS(1, 2), F32(1, 2));
    in[1] = TF(NDIMS(2, 2), F32(3, 4, 5, 6));
    assert_int_equal(run(n, 13, 2, in, 1), CVM_OK);
    expect_f(0, NDIMS(3, 2), F32(1, 2, 3, 4, 5, 6));

    n = mk("Concat", 2, 1);
    a_int(n, "axis", 0);
    in[0] = TF(NDIMS(1, 2), F32(1, 2));
    in[1] = TF(NDIMS(1, 3), F32(3, 4, 5));
    expect_error(run(n, 13, 2, in, 1), CVM_E_SHAPE, "[1,3]");
    n = mk("Concat", 2, 1);
    a_int(n, "axis", 0);
    in[0] = TF(NDIMS(1, 2), F32(1, 2));
    in[1] = TI64(NDIMS(1, 2), I64(3, 4));
    expect_error(run(n, 13, 2, in, 1), CVM_E_TYPE, "int64");
}

/* Concats of long rows shared among 2 and 3 threads: parts of unequal
 * lengths, one not a multiple of 16 floats, a short one and an empty one;
 * every element is checked against its source. */
static void test_concat_large(void **st)
{
    (void)st;
    static const int64_t cols[4] = {6400, 1603, 5, 0};
    const int64_t rows = 37, total = 6400 + 1603 + 5;
    for (int threads = 2; threads <= 3; threads++) {
        cvm_threadpool *pool;
        assert_int_equal(cvm_threadpool_create(threads, &pool), CVM_OK);
        cvm_tensor *x[4];
        for (int i = 0; i < 4; i++) {
            x[i] = mkt(CVM_DTYPE_FLOAT32, NDIMS(1, rows, cols[i]), NULL);
            float *d = x[i]->data;
            for (int64_t k = 0; k < rows * cols[i]; k++)
                d[k] = (float)(i * 1000000 + k);
        }
        cvm_node *n = mk("Concat", 4, 1);
        a_int(n, "axis", 2);
        cvm_tensor *out = NULL;
        const cvm_tensor *ins[4] = {x[0], x[1], x[2], x[3]};
        assert_int_equal(cvm_node_eval(n, 13, 4, ins, 1, &out, pool), CVM_OK);
        check_shape(out, NDIMS(1, rows, total));
        const float *o = out->data;
        for (int64_t r = 0; r < rows; r++)
            for (int64_t c = 0, i = 0, base = 0; c < total; c++) {
                while (c - base >= cols[i])
                    base += cols[i++];
                float want = (float)(i * 1000000 + r * cols[i] + (c - base));
                if (o[r * total + c] != want)
                    fail_msg("%d threads: row %lld column %lld: %g, want %g", threads, (long long)r,
                             (long long)c, o[r * total + c], want);
            }
        cvm_tensor_free(out);
        for (int i = 0; i < 4; i++)
            cvm_tensor_free(x[i]);
        cvm_threadpool_free(pool);
    }
}

static void test_split(void **st)
{
    (void)st;
    /* opset 13: sizes as an input. */
    cvm_node *n = mk("Split", 2, 2);
    a_int(n, "axis", -1);
    cvm_tensor *in[2] = {TF(NDIMS(2, 3), F32(1, 2, 3, 4, 5, 6)), TI64(NDIMS(2), I64(1, 2))};
    assert_int_equal(run(n, 13, 2, in, 2), CVM_OK);
    expect_f(0, NDIMS(2, 1), F32(1, 4));
    expect_f(1, NDIMS(2, 2), F32(2, 3, 5, 6));

    /* opset 11: sizes as an attribute. */
    n = mk("Split", 1, 2);
    a_ints(n, "split", 2, I64(2, 4));
    in[0] = TI64(NDIMS(6), I64(1, 2, 3, 4, 5, 6));
    assert_int_equal(run(n, 11, 1, in, 2), CVM_OK);
    expect_i64(0, NDIMS(2), I64(1, 2));
    expect_i64(1, NDIMS(4), I64(3, 4, 5, 6));

    /* Equal parts by default. */
    n = mk("Split", 1, 3);
    in[0] = TI64(NDIMS(6), I64(1, 2, 3, 4, 5, 6));
    assert_int_equal(run(n, 13, 1, in, 3), CVM_OK);
    expect_i64(2, NDIMS(2), I64(5, 6));

    /* opset 18 num_outputs: ceil-sized chunks, smaller last one. */
    n = mk("Split", 1, 3);
    a_int(n, "num_outputs", 3);
    in[0] = TI64(NDIMS(7), I64(1, 2, 3, 4, 5, 6, 7));
    assert_int_equal(run(n, 18, 1, in, 3), CVM_OK);
    expect_i64(0, NDIMS(3), I64(1, 2, 3));
    expect_i64(1, NDIMS(3), I64(4, 5, 6));
    expect_i64(2, NDIMS(1), I64(7));

    n = mk("Split", 1, 3);
    in[0] = TI64(NDIMS(7), I64(1, 2, 3, 4, 5, 6, 7));
    expect_error(run(n, 13, 1, in, 3), CVM_E_SHAPE, "evenly");
    n = mk("Split", 2, 2);
    in[0] = TI64(NDIMS(7), I64(1, 2, 3, 4, 5, 6, 7));
    in[1] = TI64(NDIMS(2), I64(3, 3));
    expect_error(run(n, 13, 2, in, 2), CVM_E_SHAPE, "add up");
}

/* --------------------------------------------------------------- Slice */

static void test_slice(void **st)
{
    (void)st;
    int64_t x[20];
    for (int i = 0; i < 20; i++)
        x[i] = i;
    /* Negative step with start/end inside the range: x[8:1:-3]. */
    cvm_node *n = mk("Slice", 5, 1);
    cvm_tensor *in[5] = {TI64(NDIMS(10), x), TI64(NDIMS(1), I64(8)), TI64(NDIMS(1), I64(1)),
                         TI64(NDIMS(1), I64(0)), TI64(NDIMS(1), I64(-3))};
    assert_int_equal(run(n, 13, 5, in, 1), CVM_OK);
    expect_i64(0, NDIMS(3), I64(8, 5, 2));

    /* INT64_MAX end clamps: x[2::3]; int32 parameters. */
    n = mk("Slice", 5, 1);
    in[0] = TI64(NDIMS(10), x);
    in[1] = TI32(NDIMS(1), I32(2));
    in[2] = TI32(NDIMS(1), I32(INT32_MAX));
    in[3] = TI32(NDIMS(1), I32(-1));
    in[4] = TI32(NDIMS(1), I32(3));
    assert_int_equal(run(n, 13, 5, in, 1), CVM_OK);
    expect_i64(0, NDIMS(3), I64(2, 5, 8));

    /* 2-D, x[3::-2, 1:] via INT64_MIN end and axes omitted. */
    n = mk("Slice", 5, 1);
    in[0] = TI64(NDIMS(4, 5), x);
    in[1] = TI64(NDIMS(2), I64(-1, 1));
    in[2] = TI64(NDIMS(2), I64(INT64_MIN, INT64_MAX));
    in[3] = NULL;
    in[4] = TI64(NDIMS(2), I64(-2, 1));
    n->in[3] = -1;
    assert_int_equal(run(n, 13, 5, in, 1), CVM_OK);
    expect_i64(0, NDIMS(2, 4), I64(16, 17, 18, 19, 6, 7, 8, 9));

    /* opset 1: attributes; start beyond the end gives an empty result. */
    n = mk("Slice", 1, 1);
    a_ints(n, "starts", 2, I64(1, 7));
    a_ints(n, "ends", 2, I64(3, 9));
    a_ints(n, "axes", 2, I64(0, -1));
    in[0] = TI64(NDIMS(4, 5), x);
    assert_int_equal(run(n, 1, 1, in, 1), CVM_OK);
    check_shape(g_out[0], NDIMS(2, 0));
    n = mk("Slice", 1, 1);
    a_ints(n, "starts", 1, I64(1));
    a_ints(n, "ends", 1, I64(1000));
    in[0] = TF(NDIMS(2, 2), F32(1, 2, 3, 4));
    assert_int_equal(run(n, 9, 1, in, 1), CVM_OK);
    expect_f(0, NDIMS(1, 2), F32(3, 4));

    n = mk("Slice", 5, 1);
    in[0] = TI64(NDIMS(10), x);
    in[1] = TI64(NDIMS(1), I64(0));
    in[2] = TI64(NDIMS(1), I64(5));
    in[3] = TI64(NDIMS(1), I64(0));
    in[4] = TI64(NDIMS(1), I64(0));
    expect_error(run(n, 13, 5, in, 1), CVM_E_INVALID_ARG, "step");
    n = mk("Slice", 3, 1);
    in[0] = TI64(NDIMS(10), x);
    in[1] = TI64(NDIMS(1), I64(0));
    in[2] = TI64(NDIMS(1), I64(5));
    assert_int_equal(infer_without_data(n, 13, 3, in, 2), CVM_E_DYNAMIC);
}

/* -------------------------------------------------------------- Gather */

static void test_gather(void **st)
{
    (void)st;
    cvm_node *n = mk("Gather", 2, 1);
    cvm_tensor *in[3] = {TF(NDIMS(3, 2), F32(1, 2, 3, 4, 5, 6)), TI32(NDIMS(2, 2), I32(0, -1, 1, 2))};
    assert_int_equal(run(n, 13, 2, in, 1), CVM_OK);
    expect_f(0, NDIMS(2, 2, 2), F32(1, 2, 5, 6, 3, 4, 5, 6));

    n = mk("Gather", 2, 1);
    a_int(n, "axis", -1);
    in[0] = tf16(NDIMS(2, 3), F32(1, 2, 3, 4, 5, 6));
    in[1] = TI64(0, NULL, I64(-1));
    assert_int_equal(run(n, 13, 2, in, 1), CVM_OK);
    expect_f16(0, NDIMS(2), F32(3, 6));

    n = mk("Gather", 2, 1);
    in[0] = TF(NDIMS(3, 2), F32(1, 2, 3, 4, 5, 6));
    in[1] = TI64(NDIMS(2), I64(1, 3));
    expect_error(run(n, 13, 2, in, 1), CVM_E_INVALID_ARG, "index 3");
    n = mk("Gather", 2, 1);
    in[0] = TF(NDIMS(3, 2), F32(1, 2, 3, 4, 5, 6));
    in[1] = TI64(NDIMS(1), I64(-4));
    expect_error(run(n, 13, 2, in, 1), CVM_E_INVALID_ARG, "n0");
    n = mk("Gather", 2, 1);
    in[0] = TF(NDIMS(3, 2), F32(1, 2, 3, 4, 5, 6));
    in[1] = TF(NDIMS(1), F32(0));
    expect_error(run(n, 13, 2, in, 1), CVM_E_TYPE, "indices");

    n = mk("GatherElements", 2, 1);
    a_int(n, "axis", 1);
    in[0] = TI64(NDIMS(2, 2), I64(1, 2, 3, 4));
    in[1] = TI64(NDIMS(2, 2), I64(0, 0, 1, 0));
    assert_int_equal(run(n, 13, 2, in, 1), CVM_OK);
    expect_i64(0, NDIMS(2, 2), I64(1, 1, 4, 3));
    n = mk("GatherElements", 2, 1);
    in[0] = TI64(NDIMS(3, 3), I64(0, 1, 2, 3, 4, 5, 6, 7, 8));
    in[1] = TI32(NDIMS(2, 3), I32(-1, -2, 0, 2, 0, 1));
    assert_int_equal(run(n, 13, 2, in, 1), CVM_OK);
    expect_i64(0, NDIMS(2, 3), I64(6, 4, 2, 6, 1, 5));
    n = mk("GatherElements", 2, 1);
    in[0] = TI64(NDIMS(3, 3), I64(0, 1, 2, 3, 4, 5, 6, 7, 8));
    in[1] = TI32(NDIMS(1, 1), I32(3));
    expect_error(run(n, 13, 2, in, 1), CVM_E_INVALID_ARG, "index 3");

    /* GatherND with batch_dims = 1. */
    n = mk("GatherND", 2, 1);
    a_int(n, "batch_dims", 1);
    in[0] = TI64(NDIMS(2, 2, 2), I64(0, 1, 2, 3, 4, 5, 6, 7));
    in[1] = TI64(NDIMS(2, 1), I64(1, 0));
    assert_int_equal(run(n, 13, 2, in, 1), CVM_OK);
    expect_i64(0, NDIMS(2, 2), I64(2, 3, 4, 5));
    /* Spec example: full-rank tuples. */
    n = mk("GatherND", 2, 1);
    in[0] = TF(NDIMS(2, 2), F32(0, 1, 2, 3));
    in[1] = TI64(NDIMS(2, 2), I64(0, 0, -1, 1));
    assert_int_equal(run(n, 11, 2, in, 1), CVM_OK);
    expect_f(0, NDIMS(2), F32(0, 3));
    n = mk("GatherND", 2, 1);
    in[0] = TF(NDIMS(2, 2), F32(0, 1, 2, 3));
    in[1] = TI64(NDIMS(1, 2), I64(0, 2));
    expect_error(run(n, 11, 2, in, 1), CVM_E_INVALID_ARG, "index 2");
}

/* ------------------------------------------------------------- Scatter */

static void test_scatter(void **st)
{
    (void)st;
    /* Spec example with duplicate indices and reduction add. */
    cvm_node *n = mk("ScatterElements", 3, 1);
    a_int(n, "axis", 1);
    a_str(n, "reduction", "add");
    cvm_tensor *in[3] = {TF(NDIMS(1, 5), F32(1, 2, 3, 4, 5)), TI64(NDIMS(1, 2), I64(1, 1)),
                         TF(NDIMS(1, 2), F32(1.1f, 2.1f))};
    assert_int_equal(run(n, 16, 3, in, 1), CVM_OK);
    expect_f(0, NDIMS(1, 5), F32(1, 5.2f, 3, 4, 5));

    n = mk("ScatterElements", 3, 1);
    a_str(n, "reduction", "max");
    in[0] = TI64(NDIMS(3), I64(5, 5, 5));
    in[1] = TI32(NDIMS(3), I32(0, -1, 0));
    in[2] = TI64(NDIMS(3), I64(7, 2, 9));
    assert_int_equal(run(n, 18, 3, in, 1), CVM_OK);
    expect_i64(0, NDIMS(3), I64(9, 5, 5));

    n = mk("ScatterElements", 3, 1);
    a_str(n, "reduction", "max");
    in[0] = TI64(NDIMS(3), I64(5, 5, 5));
    in[1] = TI32(NDIMS(3), I32(0, -1, 0));
    in[2] = TI64(NDIMS(3), I64(7, 2, 9));
    expect_error(run(n, 16, 3, in, 1), CVM_E_UNSUPPORTED, "max");

    /* Deprecated Scatter (opset 9) = ScatterElements without reduction. */
    n = mk("Scatter", 3, 1);
    in[0] = TF(NDIMS(3, 3), F32(0, 0, 0, 0, 0, 0, 0, 0, 0));
    in[1] = TI64(NDIMS(2, 3), I64(1, 0, 2, 0, 2, 1));
    in[2] = TF(NDIMS(2, 3), F32(1.0f, 1.1f, 1.2f, 2.0f, 2.1f, 2.2f));
    assert_int_equal(run(n, 9, 3, in, 1), CVM_OK);
    expect_f(0, NDIMS(3, 3), F32(2.0f, 1.1f, 0, 1.0f, 0, 2.2f, 0, 2.1f, 1.2f));

    n = mk("ScatterElements", 3, 1);
    in[0] = TF(NDIMS(3), F32(0, 0, 0));
    in[1] = TI64(NDIMS(1), I64(-4));
    in[2] = TF(NDIMS(1), F32(1));
    expect_error(run(n, 13, 3, in, 1), CVM_E_INVALID_ARG, "index -4");

    /* ScatterND: spec example 1 and a mul reduction on slices. */
    n = mk("ScatterND", 3, 1);
    in[0] = TF(NDIMS(8), F32(1, 2, 3, 4, 5, 6, 7, 8));
    in[1] = TI64(NDIMS(4, 1), I64(4, 3, 1, 7));
    in[2] = TF(NDIMS(4), F32(9, 10, 11, 12));
    assert_int_equal(run(n, 13, 3, in, 1), CVM_OK);
    expect_f(0, NDIMS(8), F32(1, 11, 3, 10, 9, 6, 7, 12));

    n = mk("ScatterND", 3, 1);
    a_str(n, "reduction", "mul");
    in[0] = TI32(NDIMS(2, 2), I32(1, 2, 3, 4));
    in[1] = TI64(NDIMS(2, 1), I64(1, -1));
    in[2] = TI32(NDIMS(2, 2), I32(2, 3, 10, 10));
    assert_int_equal(run(n, 16, 3, in, 1), CVM_OK);
    expect_i32(0, NDIMS(2, 2), I32(1, 2, 60, 120));

    n = mk("ScatterND", 3, 1);
    in[0] = TF(NDIMS(2), F32(1, 2));
    in[1] = TI64(NDIMS(1, 1), I64(2));
    in[2] = TF(NDIMS(1), F32(1));
    expect_error(run(n, 13, 3, in, 1), CVM_E_INVALID_ARG, "index 2");
}

/* -------------------------------------------------- Expand, Tile, Pad */

static void test_expand_tile(void **st)
{
    (void)st;
    cvm_node *n = mk("Expand", 2, 1);
    cvm_tensor *in[3] = {TI64(NDIMS(3, 1), I64(1, 2, 3)), TI64(NDIMS(3), I64(2, 1, 4))};
    assert_int_equal(run(n, 13, 2, in, 1), CVM_OK);
    expect_i64(0, NDIMS(2, 3, 4), I64(1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3));
    n = mk("Expand", 2, 1);
    in[0] = TI64(NDIMS(3, 2), I64(1, 2, 3, 4, 5, 6));
    in[1] = TI64(NDIMS(2), I64(2, 2));
    expect_error(run(n, 13, 2, in, 1), CVM_E_SHAPE, "broadcast");

    n = mk("Tile", 2, 1);
    in[0] = TI64(NDIMS(2, 2), I64(1, 2, 3, 4));
    in[1] = TI64(NDIMS(2), I64(2, 3));
    assert_int_equal(run(n, 13, 2, in, 1), CVM_OK);
    expect_i64(0, NDIMS(4, 6), I64(1, 2, 1, 2, 1, 2, 3, 4, 3, 4, 3, 4, 1, 2, 1, 2, 1, 2, 3, 4, 3, 4, 3, 4));
    /* Tile-1: repeat count and axis as inputs. */
    n = mk("Tile", 3, 1);
    in[0] = TF(NDIMS(2, 2), F32(1, 2, 3, 4));
    in[1] = TI64(0, NULL, I64(2));
    in[2] = TI64(0, NULL, I64(1));
    assert_int_equal(run(n, 1, 3, in, 1), CVM_OK);
    expect_f(0, NDIMS(2, 4), F32(1, 2, 1, 2, 3, 4, 3, 4));
    n = mk("Tile", 2, 1);
    in[0] = TI64(NDIMS(2, 2), I64(1, 2, 3, 4));
    in[1] = TI64(NDIMS(2), I64(1, -1));
    expect_error(run(n, 13, 2, in, 1), CVM_E_SHAPE, "negative");
    n = mk("Tile", 2, 1);
    in[0] = TI64(NDIMS(2, 2), I64(1, 2, 3, 4));
    in[1] = TI64(NDIMS(2), I64(1000000, 1000000));
    expect_error(run(n, 13, 2, in, 1), CVM_E_LIMIT, NULL);
}

static void test_pad(void **st)
{
    (void)st;
    const float x[6] = {1.0f, 1.2f, 2.3f, 3.4f, 4.5f, 5.7f};
    cvm_node *n = mk("Pad", 2, 1);
    a_str(n, "mode", "reflect");
    cvm_tensor *in[4] = {TF(NDIMS(3, 2), x), TI64(NDIMS(4), I64(0, 2, 0, 0))};
    assert_int_equal(run(n, 13, 2, in, 1), CVM_OK);
    expect_f(0, NDIMS(3, 4), F32(1.0f, 1.2f, 1.0f, 1.2f, 2.3f, 3.4f, 2.3f, 3.4f, 4.5f, 5.7f, 4.5f, 5.7f));

    n = mk("Pad", 2, 1);
    a_str(n, "mode", "edge");
    in[0] = TF(NDIMS(3, 2), x);
    in[1] = TI64(NDIMS(4), I64(0, 2, 0, 0));
    assert_int_equal(run(n, 13, 2, in, 1), CVM_OK);
    expect_f(0, NDIMS(3, 4), F32(1.0f, 1.0f, 1.0f, 1.2f, 2.3f, 2.3f, 2.3f, 3.4f, 4.5f, 4.5f, 4.5f, 5.7f));

    n = mk("Pad", 2, 1);
    a_str(n, "mode", "wrap");
    in[0] = TF(NDIMS(3, 2), x);
    in[1] = TI64(NDIMS(4), I64(1, 3, 1, 1));
    assert_int_equal(run(n, 19, 2, in, 1), CVM_OK);
    expect_f(0, NDIMS(5, 6),
             F32(5.7f, 4.5f, 5.7f, 4.5f, 5.7f, 4.5f, 1.2f, 1.0f, 1.2f, 1.0f, 1.2f, 1.0f, 3.4f, 2.3f, 3.4f, 2.3f, 3.4f,
                 2.3f, 5.7f, 4.5f, 5.7f, 4.5f, 5.7f, 4.5f, 1.2f, 1.0f, 1.2f, 1.0f, 1.2f, 1.0f));

    /* Reflection further than the extent bounces back and forth. */
    n = mk("Pad", 2, 1);
    a_str(n, "mode", "reflect");
    in[0] = TF(NDIMS(3), F32(1, 2, 3));
    in[1] = TI64(NDIMS(2), I64(5, 4));
    assert_int_equal(run(n, 13, 2, in, 1), CVM_OK);
    expect_f(0, NDIMS(12), F32(2, 1, 2, 3, 2, 1, 2, 3, 2, 1, 2, 3));

    /* Constant value input and negative pads (crop), int64 data. */
    n = mk("Pad", 3, 1);
    in[0] = TI64(NDIMS(3, 4), I64(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11));
    in[1] = TI64(NDIMS(4), I64(1, -1, 0, -1));
    in[2] = TI64(0, NULL, I64(9));
    assert_int_equal(run(n, 13, 3, in, 1), CVM_OK);
    expect_i64(0, NDIMS(4, 2), I64(9, 9, 1, 2, 5, 6, 9, 10));

    /* opset 2: pads and value as attributes. */
    n = mk("Pad", 1, 1);
    a_ints(n, "pads", 2, I64(1, 2));
    a_float(n, "value", 7.5f);
    in[0] = tf16(NDIMS(2), F32(1, 2));
    assert_int_equal(run(n, 2, 1, in, 1), CVM_OK);
    expect_f16(0, NDIMS(5), F32(7.5f, 1, 2, 7.5f, 7.5f));

    /* opset 18: axes select which pads apply. */
    n = mk("Pad", 4, 1);
    in[0] = TF(NDIMS(2, 2), F32(1, 2, 3, 4));
    in[1] = TI64(NDIMS(2), I64(1, 0));
    in[2] = NULL;
    in[3] = TI64(NDIMS(1), I64(-1));
    n->in[2] = -1;
    assert_int_equal(run(n, 18, 4, in, 1), CVM_OK);
    expect_f(0, NDIMS(2, 3), F32(0, 1, 2, 0, 3, 4));

    n = mk("Pad", 2, 1);
    in[0] = TF(NDIMS(2, 2), F32(1, 2, 3, 4));
    in[1] = TI64(NDIMS(4), I64(0, -3, 0, 0));
    expect_error(run(n, 13, 2, in, 1), CVM_E_SHAPE, "crop");
    n = mk("Pad", 2, 1);
    a_str(n, "mode", "wrap");
    in[0] = TF(NDIMS(2, 2), F32(1, 2, 3, 4));
    in[1] = TI64(NDIMS(4), I64(0, 1, 0, 0));
    expect_error(run(n, 13, 2, in, 1), CVM_E_UNSUPPORTED, "wrap");
    n = mk("Pad", 2, 1);
    in[0] = TF(NDIMS(2, 2), F32(1, 2, 3, 4));
    in[1] = TI64(NDIMS(4), I64(0, 1, 0, 0));
    assert_int_equal(infer_without_data(n, 13, 2, in, 1), CVM_E_DYNAMIC);
}

/* --------------------------------------- Squeeze, Unsqueeze, Flatten */

static void test_squeeze_family(void **st)
{
    (void)st;
    cvm_node *n = mk("Squeeze", 1, 1);
    a_ints(n, "axes", 1, I64(-1));
    cvm_tensor *in[2] = {TF(NDIMS(1, 2, 1), F32(1, 2))};
    assert_int_equal(run(n, 11, 1, in, 1), CVM_OK);
    expect_f(0, NDIMS(1, 2), F32(1, 2));
    n = mk("Squeeze", 1, 1);
    in[0] = TF(NDIMS(1, 2, 1), F32(1, 2));
    assert_int_equal(run(n, 13, 1, in, 1), CVM_OK);
    expect_f(0, NDIMS(2), F32(1, 2));
    n = mk("Squeeze", 2, 1);
    in[0] = TF(NDIMS(1, 2, 1), F32(1, 2));
    in[1] = TI64(NDIMS(1), I64(1));
    expect_error(run(n, 13, 2, in, 1), CVM_E_SHAPE, "extent 2");

    n = mk("Unsqueeze", 1, 1);
    a_ints(n, "axes", 2, I64(0, 3));
    in[0] = TI64(NDIMS(2, 3), I64(1, 2, 3, 4, 5, 6));
    assert_int_equal(run(n, 11, 1, in, 1), CVM_OK);
    expect_i64(0, NDIMS(1, 2, 3, 1), I64(1, 2, 3, 4, 5, 6));
    n = mk("Unsqueeze", 2, 1);
    in[0] = TI64(NDIMS(2, 3), I64(1, 2, 3, 4, 5, 6));
    in[1] = TI64(NDIMS(2), I64(-1, 1));
    assert_int_equal(run(n, 13, 2, in, 1), CVM_OK);
    check_shape(g_out[0], NDIMS(2, 1, 3, 1));
    n = mk("Unsqueeze", 2, 1);
    in[0] = TI64(NDIMS(2, 3), I64(1, 2, 3, 4, 5, 6));
    in[1] = TI64(NDIMS(2), I64(1, 1));
    expect_error(run(n, 13, 2, in, 1), CVM_E_SHAPE, "twice");

    n = mk("Flatten", 1, 1);
    a_int(n, "axis", -1);
    in[0] = TF(NDIMS(2, 1, 3), F32(1, 2, 3, 4, 5, 6));
    assert_int_equal(run(n, 13, 1, in, 1), CVM_OK);
    expect_f(0, NDIMS(2, 3), F32(1, 2, 3, 4, 5, 6));
    n = mk("Flatten", 1, 1);
    a_int(n, "axis", 0);
    in[0] = TF(NDIMS(2, 3), F32(1, 2, 3, 4, 5, 6));
    assert_int_equal(run(n, 13, 1, in, 1), CVM_OK);
    check_shape(g_out[0], NDIMS(1, 6));
}

/* -------------------------------------------- DepthToSpace, SpaceToDepth */

static void test_depth_space(void **st)
{
    (void)st;
    int64_t x[32];
    for (int i = 0; i < 32; i++)
        x[i] = i;
    cvm_node *n = mk("DepthToSpace", 1, 1);
    a_int(n, "blocksize", 2);
    cvm_tensor *in[1] = {TI64(NDIMS(1, 8, 2, 2), x)};
    assert_int_equal(run(n, 13, 1, in, 1), CVM_OK);
    expect_i64(0, NDIMS(1, 2, 4, 4), I64(0, 8, 1, 9, 16, 24, 17, 25, 2, 10, 3, 11, 18, 26, 19, 27, 4, 12, 5, 13, 20, 28,
                                         21, 29, 6, 14, 7, 15, 22, 30, 23, 31));
    n = mk("DepthToSpace", 1, 1);
    a_int(n, "blocksize", 2);
    a_str(n, "mode", "CRD");
    in[0] = TI64(NDIMS(1, 8, 2, 2), x);
    assert_int_equal(run(n, 13, 1, in, 1), CVM_OK);
    expect_i64(0, NDIMS(1, 2, 4, 4), I64(0, 4, 1, 5, 8, 12, 9, 13, 2, 6, 3, 7, 10, 14, 11, 15, 16, 20, 17, 21, 24, 28,
                                         25, 29, 18, 22, 19, 23, 26, 30, 27, 31));
    n = mk("SpaceToDepth", 1, 1);
    a_int(n, "blocksize", 2);
    in[0] = TI64(NDIMS(1, 2, 4, 4), x);
    assert_int_equal(run(n, 13, 1, in, 1), CVM_OK);
    expect_i64(0, NDIMS(1, 8, 2, 2), I64(0, 2, 8, 10, 16, 18, 24, 26, 1, 3, 9, 11, 17, 19, 25, 27, 4, 6, 12, 14, 20, 22,
                                         28, 30, 5, 7, 13, 15, 21, 23, 29, 31));
    /* opset 28 SpaceToDepth CRD: output channels are [C, b, b]. */
    n = mk("SpaceToDepth", 1, 1);
    a_int(n, "blocksize", 2);
    a_str(n, "mode", "CRD");
    in[0] = TI64(NDIMS(1, 2, 4, 4), x);
    assert_int_equal(run(n, 28, 1, in, 1), CVM_OK);
    expect_i64(0, NDIMS(1, 8, 2, 2), I64(0, 2, 8, 10, 1, 3, 9, 11, 4, 6, 12, 14, 5, 7, 13, 15, 16, 18, 24, 26, 17, 19,
                                         25, 27, 20, 22, 28, 30, 21, 23, 29, 31));
    n = mk("DepthToSpace", 1, 1);
    a_int(n, "blocksize", 3);
    in[0] = TI64(NDIMS(1, 8, 2, 2), x);
    expect_error(run(n, 13, 1, in, 1), CVM_E_SHAPE, "blocksize");
}

/* ------------------------------------- Range, ConstantOfShape, Constant */

static void test_generators(void **st)
{
    (void)st;
    cvm_node *n = mk("Range", 3, 1);
    cvm_tensor *in[3] = {TF(0, NULL, F32(1)), TF(0, NULL, F32(5)), TF(0, NULL, F32(1.5f))};
    assert_int_equal(run(n, 11, 3, in, 1), CVM_OK);
    expect_f(0, NDIMS(3), F32(1, 2.5f, 4));
    n = mk("Range", 3, 1);
    in[0] = TI32(0, NULL, I32(10));
    in[1] = TI32(0, NULL, I32(6));
    in[2] = TI32(0, NULL, I32(-3));
    assert_int_equal(run(n, 11, 3, in, 1), CVM_OK);
    expect_i32(0, NDIMS(2), I32(10, 7));
    n = mk("Range", 3, 1);
    in[0] = TI64(0, NULL, I64(INT64_MIN));
    in[1] = TI64(0, NULL, I64(INT64_MAX));
    in[2] = TI64(0, NULL, I64(1));
    expect_error(run(n, 11, 3, in, 1), CVM_E_LIMIT, NULL);
    n = mk("Range", 3, 1);
    in[0] = TI64(0, NULL, I64(0));
    in[1] = TI64(0, NULL, I64(5));
    in[2] = TI64(0, NULL, I64(0));
    expect_error(run(n, 11, 3, in, 1), CVM_E_INVALID_ARG, "delta");

    n = mk("ConstantOfShape", 1, 1);
    in[0] = TI64(NDIMS(2), I64(2, 3));
    assert_int_equal(run(n, 9, 1, in, 1), CVM_OK);
    expect_f(0, NDIMS(2, 3), F32(0, 0, 0, 0, 0, 0));
    n = mk("ConstantOfShape", 1, 1);
    a_tensor(n, "value", TI64(NDIMS(1), I64(-7)));
    in[0] = TI64(NDIMS(1), I64(3));
    assert_int_equal(run(n, 9, 1, in, 1), CVM_OK);
    expect_i64(0, NDIMS(3), I64(-7, -7, -7));
    n = mk("ConstantOfShape", 1, 1);
    in[0] = TI64(NDIMS(0), NULL);
    assert_int_equal(run(n, 9, 1, in, 1), CVM_OK);
    expect_f(0, 0, NULL, F32(0));
    n = mk("ConstantOfShape", 1, 1);
    in[0] = TI64(NDIMS(1), I64(1000000000000LL));
    expect_error(run(n, 9, 1, in, 1), CVM_E_LIMIT, "n0");
    n = mk("ConstantOfShape", 1, 1);
    in[0] = TI64(NDIMS(1), I64(-1));
    expect_error(run(n, 9, 1, in, 1), CVM_E_SHAPE, "negative");

    n = mk("Constant", 0, 1);
    a_ints(n, "value_ints", 3, I64(4, 5, 6));
    assert_int_equal(run(n, 13, 0, in, 1), CVM_OK);
    expect_i64(0, NDIMS(3), I64(4, 5, 6));
    n = mk("Constant", 0, 1);
    a_float(n, "value_float", 2.5f);
    assert_int_equal(run(n, 13, 0, in, 1), CVM_OK);
    expect_f(0, 0, NULL, F32(2.5f));
    n = mk("Constant", 0, 1);
    a_tensor(n, "value", TF(NDIMS(2), F32(1, 2)));
    assert_int_equal(run(n, 13, 0, in, 1), CVM_OK);
    expect_f(0, NDIMS(2), F32(1, 2));
}

/* ----------------------------------------------- Shape, Size, NonZero */

static void test_shape_size(void **st)
{
    (void)st;
    /* The input has no data at all: only its header may be read. */
    cvm_tensor hdr = {.dtype = CVM_DTYPE_FLOAT32, .ndim = 4, .dims = {2, 3, 5, 7}};
    const cvm_tensor *ins[1] = {&hdr};
    cvm_tensor *out = NULL;
    cvm_node *n = mk("Shape", 1, 1);
    assert_int_equal(cvm_node_eval(n, 13, 1, ins, 1, &out, NULL), CVM_OK);
    g_out[0] = out;
    expect_i64(0, NDIMS(4), I64(2, 3, 5, 7));
    n = mk("Shape", 1, 1);
    a_int(n, "start", -3);
    a_int(n, "end", -1);
    assert_int_equal(cvm_node_eval(n, 15, 1, ins, 1, &out, NULL), CVM_OK);
    cvm_tensor_free(g_out[0]);
    g_out[0] = out;
    expect_i64(0, NDIMS(2), I64(3, 5));
    n = mk("Shape", 1, 1);
    a_int(n, "start", 10);
    assert_int_equal(cvm_node_eval(n, 15, 1, ins, 1, &out, NULL), CVM_OK);
    cvm_tensor_free(g_out[0]);
    g_out[0] = out;
    check_shape(g_out[0], NDIMS(0));
    n = mk("Size", 1, 1);
    assert_int_equal(cvm_node_eval(n, 13, 1, ins, 1, &out, NULL), CVM_OK);
    cvm_tensor_free(g_out[0]);
    g_out[0] = out;
    expect_i64(0, 0, NULL, I64(210));
    assert_true(cvm_schema_find("", "Shape")->flags & CVM_SCHEMA_SHAPE_ONLY);
    assert_true(cvm_schema_find("", "Size")->flags & CVM_SCHEMA_SHAPE_ONLY);

    n = mk("NonZero", 1, 1);
    cvm_tensor *in[1] = {TF(NDIMS(2, 3), F32(0, 2, -0.0f, 1, 0, 3))};
    assert_int_equal(run(n, 13, 1, in, 1), CVM_OK);
    expect_i64(0, NDIMS(2, 3), I64(0, 1, 1, 1, 0, 2));
    n = mk("NonZero", 1, 1);
    in[0] = TF(NDIMS(2), F32(0, 0));
    assert_int_equal(run(n, 13, 1, in, 1), CVM_OK);
    check_shape(g_out[0], NDIMS(1, 0));
    n = mk("NonZero", 1, 1);
    in[0] = TF(NDIMS(2), F32(0, 0));
    assert_int_equal(infer_without_data(n, 13, 1, in, 0), CVM_E_DYNAMIC);
}

/* ---------------------------------------------------------------- TopK */

/* TopK(x of dims [2], k) opset 11 into g_out[0..1]. */
static void run_topk(int largest, int axis, int64_t dims[2], float *x, int64_t k)
{
    cvm_node *n = mk("TopK", 2, 2);
    a_int(n, "largest", largest);
    a_int(n, "axis", axis);
    cvm_tensor *in[2] = {mkt(CVM_DTYPE_FLOAT32, 2, dims, x), TI64(NDIMS(1), I64(k))};
    assert_int_equal(run(n, 11, 2, in, 2), CVM_OK);
}

static void test_topk(void **st)
{
    (void)st;
    /* Ties keep the lower index first. */
    cvm_node *n = mk("TopK", 2, 2);
    cvm_tensor *in[2] = {TF(NDIMS(2, 4), F32(1, 3, 3, 2, 5, 5, 5, 5)), TI64(NDIMS(1), I64(3))};
    assert_int_equal(run(n, 11, 2, in, 2), CVM_OK);
    expect_f(0, NDIMS(2, 3), F32(3, 3, 2, 5, 5, 5));
    expect_i64(1, NDIMS(2, 3), I64(1, 2, 3, 0, 1, 2));

    n = mk("TopK", 2, 2);
    a_int(n, "largest", 0);
    a_int(n, "axis", 0);
    in[0] = TI64(NDIMS(3, 2), I64(4, -1, 2, -1, 9, -5));
    in[1] = TI64(NDIMS(1), I64(2));
    assert_int_equal(run(n, 11, 2, in, 2), CVM_OK);
    expect_i64(0, NDIMS(2, 2), I64(2, -5, 4, -1));
    expect_i64(1, NDIMS(2, 2), I64(1, 2, 0, 0));

    /* opset 1: k is an attribute; float16 values. */
    n = mk("TopK", 1, 2);
    a_int(n, "k", 2);
    in[0] = tf16(NDIMS(4), F32(0.5f, 2, -1, 7));
    assert_int_equal(run(n, 1, 1, in, 2), CVM_OK);
    expect_f16(0, NDIMS(2), F32(7, 2));
    expect_i64(1, NDIMS(2), I64(3, 1));

    n = mk("TopK", 2, 2);
    in[0] = TF(NDIMS(3), F32(1, 2, 3));
    in[1] = TI64(NDIMS(1), I64(4));
    expect_error(run(n, 11, 2, in, 2), CVM_E_INVALID_ARG, "k = 4");

    /* A small k takes the heap path (37) or the insertion list (4, 16):
     * its values and indices must be the first k of the full stable sort
     * (k = n), with many ties and NaNs, largest and smallest, along a
     * non-last axis too. */
    enum { R = 3, A = 1000 };
    static const int Ks[3] = {37, 4, 16};
    static float xv[R * A];
    unsigned seed = 99;
    for (int i = 0; i < R * A; i++) {
        seed = seed * 1103515245u + 12345u;
        xv[i] = (float)((seed >> 16) % 23) - 11.0f; /* 23 levels: ties everywhere */
        if (i % 97 == 5)
            xv[i] = NAN;
    }
    for (int largest = 0; largest < 2; largest++)
        for (int axis = 0; axis < 2; axis++) {
            int64_t dims[2] = {axis ? R : A, axis ? A : R};
            /* axis 0: the same numbers seen as [A, R] */
            run_topk(largest, axis, dims, xv, A);
            cvm_tensor *full_v = g_out[0], *full_i = g_out[1];
            g_out[0] = g_out[1] = NULL;
            for (int ks = 0; ks < 3; ks++) {
                const int K = Ks[ks];
                run_topk(largest, axis, dims, xv, K);
                const float *fv = full_v->data, *kv = g_out[0]->data;
                const int64_t *fi = full_i->data, *ki = g_out[1]->data;
                for (int r = 0; r < R; r++)
                    for (int k = 0; k < K; k++) {
                        int64_t a = axis ? (int64_t)r * A + k : (int64_t)k * R + r;
                        int64_t b = axis ? (int64_t)r * K + k : (int64_t)k * R + r;
                        assert_int_equal(ki[b], fi[a]);
                        assert_true(kv[b] == fv[a] || (isnan(kv[b]) && isnan(fv[a])));
                    }
            }
            cvm_tensor_free(full_v);
            cvm_tensor_free(full_i);
        }
}

/* ------------------------------------------------ Trilu, CumSum, misc */

static void test_trilu_cumsum(void **st)
{
    (void)st;
    int64_t x[12];
    for (int i = 0; i < 12; i++)
        x[i] = i + 1;
    cvm_node *n = mk("Trilu", 2, 1);
    cvm_tensor *in[3] = {TI64(NDIMS(3, 4), x), TI64(0, NULL, I64(1))};
    assert_int_equal(run(n, 14, 2, in, 1), CVM_OK);
    expect_i64(0, NDIMS(3, 4), I64(0, 2, 3, 4, 0, 0, 7, 8, 0, 0, 0, 12));
    n = mk("Trilu", 2, 1);
    a_int(n, "upper", 0);
    in[0] = TI64(NDIMS(3, 4), x);
    in[1] = TI64(0, NULL, I64(-1));
    assert_int_equal(run(n, 14, 2, in, 1), CVM_OK);
    expect_i64(0, NDIMS(3, 4), I64(0, 0, 0, 0, 5, 0, 0, 0, 9, 10, 0, 0));
    n = mk("Trilu", 2, 1);
    in[0] = TI64(NDIMS(3, 4), x);
    in[1] = TI64(0, NULL, I64(INT64_MIN));
    assert_int_equal(run(n, 14, 2, in, 1), CVM_OK);
    expect_i64(0, NDIMS(3, 4), x);

    n = mk("CumSum", 2, 1);
    a_int(n, "exclusive", 1);
    a_int(n, "reverse", 1);
    in[0] = TI64(NDIMS(2, 4), I64(3, 1, 3, 2, 0, 5, 5, -1));
    in[1] = TI32(0, NULL, I32(-1));
    assert_int_equal(run(n, 14, 2, in, 1), CVM_OK);
    expect_i64(0, NDIMS(2, 4), I64(6, 5, 2, 0, 9, 4, -1, 0));
    n = mk("CumSum", 2, 1);
    in[0] = TF(NDIMS(2, 4), F32(3, 1, 3, 2, 0, 5, 5, -1));
    in[1] = TI64(0, NULL, I64(0));
    assert_int_equal(run(n, 14, 2, in, 1), CVM_OK);
    expect_f(0, NDIMS(2, 4), F32(3, 1, 3, 2, 3, 6, 8, 1));
    n = mk("CumSum", 2, 1);
    in[0] = tf16(NDIMS(3), F32(0.5f, 0.25f, 1));
    in[1] = TI64(0, NULL, I64(0));
    assert_int_equal(run(n, 14, 2, in, 1), CVM_OK);
    expect_f16(0, NDIMS(3), F32(0.5f, 0.75f, 1.75f));

    n = mk("OneHot", 3, 1);
    a_int(n, "axis", 0);
    in[0] = TI64(NDIMS(4), I64(0, -1, 2, 5));
    in[1] = TF(0, NULL, F32(3));
    in[2] = TF(NDIMS(2), F32(0, 1));
    assert_int_equal(run(n, 11, 3, in, 1), CVM_OK);
    expect_f(0, NDIMS(3, 4), F32(1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0));

    n = mk("EyeLike", 1, 1);
    a_int(n, "k", 1);
    a_int(n, "dtype", CVM_DTYPE_INT32);
    in[0] = TF(NDIMS(3, 3), NULL);
    assert_int_equal(run(n, 9, 1, in, 1), CVM_OK);
    expect_i32(0, NDIMS(3, 3), I32(0, 1, 0, 0, 0, 1, 0, 0, 0));

    n = mk("Compress", 2, 1);
    a_int(n, "axis", 1);
    uint8_t cond[3] = {0, 1, 1};
    in[0] = TI64(NDIMS(2, 3), I64(0, 1, 2, 3, 4, 5));
    in[1] = mkt(CVM_DTYPE_BOOL, NDIMS(3), cond);
    assert_int_equal(run(n, 11, 2, in, 1), CVM_OK);
    expect_i64(0, NDIMS(2, 2), I64(1, 2, 4, 5));
    n = mk("Compress", 2, 1);
    uint8_t cond2[5] = {1, 0, 0, 1, 1};
    in[0] = TI64(NDIMS(2, 3), I64(0, 1, 2, 3, 4, 5));
    in[1] = mkt(CVM_DTYPE_BOOL, NDIMS(5), cond2);
    assert_int_equal(run(n, 11, 2, in, 1), CVM_OK);
    expect_i64(0, NDIMS(3), I64(0, 3, 4));

    int64_t t[16];
    for (int i = 0; i < 16; i++)
        t[i] = i;
    n = mk("ReverseSequence", 2, 1);
    in[0] = TI64(NDIMS(4, 4), t);
    in[1] = TI64(NDIMS(4), I64(4, 3, 2, 1));
    assert_int_equal(run(n, 10, 2, in, 1), CVM_OK);
    expect_i64(0, NDIMS(4, 4), I64(12, 9, 6, 3, 8, 5, 2, 7, 4, 1, 10, 11, 0, 13, 14, 15));
    n = mk("ReverseSequence", 2, 1);
    in[0] = TI64(NDIMS(4, 4), t);
    in[1] = TI64(NDIMS(4), I64(4, 5, 2, 1));
    expect_error(run(n, 10, 2, in, 1), CVM_E_INVALID_ARG, "sequence length 5");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_reshape, teardown),
        cmocka_unit_test_teardown(test_transpose, teardown),
        cmocka_unit_test_teardown(test_transpose_large, teardown),
        cmocka_unit_test_teardown(test_concat, teardown),
        cmocka_unit_test_teardown(test_concat_large, teardown),
        cmocka_unit_test_teardown(test_split, teardown),
        cmocka_unit_test_teardown(test_slice, teardown),
        cmocka_unit_test_teardown(test_gather, teardown),
        cmocka_unit_test_teardown(test_scatter, teardown),
        cmocka_unit_test_teardown(test_expand_tile, teardown),
        cmocka_unit_test_teardown(test_pad, teardown),
        cmocka_unit_test_teardown(test_squeeze_family, teardown),
        cmocka_unit_test_teardown(test_depth_space, teardown),
        cmocka_unit_test_teardown(test_generators, teardown),
        cmocka_unit_test_teardown(test_shape_size, teardown),
        cmocka_unit_test_teardown(test_topk, teardown),
        cmocka_unit_test_teardown(test_trilu_cumsum, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
