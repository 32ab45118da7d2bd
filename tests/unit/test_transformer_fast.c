/* The vector fast paths of the transformer operators against plain loops in
 * double precision, over row lengths that exercise every tail. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "base/threadpool.h"
#include "graph/fuse.h"
#include "runtime/session.h"
#include "op_test.h"

static float frand(uint32_t *s)
{
    *s = *s * 1664525u + 1013904223u;
    return (float)((*s >> 8) & 0xFFFF) / 65536.0f;
}

/* Runs Softmax or LogSoftmax over the last axis of [rows, n] and checks it
 * against softmax computed in double from the same inputs. */
static void check_softmax_rows(const char *op, int64_t rows, int64_t n, float spread,
                               cvm_threadpool *pool)
{
    int64_t dims[2] = {rows, n};
    float *x = malloc(sizeof(float) * (size_t)(rows * n));
    assert_non_null(x);
    uint32_t seed = (uint32_t)(rows * 131 + n);
    for (int64_t i = 0; i < rows * n; i++)
        x[i] = (frand(&seed) - 0.5f) * spread;
    cvm_node *node;
    cvm_graph *g = mk(op, 1, 1, &node);
    attr_i(node, "axis", -1);
    cvm_tensor *in = tens(CVM_DTYPE_FLOAT32, 2, dims, x), *out = NULL;
    const cvm_tensor *ins[1] = {in};
    assert_int_equal(cvm_node_eval(node, 17, 1, ins, 1, &out, pool), CVM_OK);
    const float *y = out->data;
    int is_log = strcmp(op, "LogSoftmax") == 0;
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * n;
        double mx = xr[0], sum = 0.0;
        for (int64_t i = 1; i < n; i++)
            mx = xr[i] > mx ? xr[i] : mx;
        for (int64_t i = 0; i < n; i++)
            sum += exp((double)xr[i] - mx);
        for (int64_t i = 0; i < n; i++) {
            double want = is_log ? (double)xr[i] - mx - log(sum) : exp((double)xr[i] - mx) / sum;
            double got = y[r * n + i];
            double tol = 2e-6 * fabs(want) + (is_log ? 2e-6 * (fabs(mx) + 1.0) : 1e-9);
            if (fabs(got - want) > tol)
                fail_msg("%s rows %lld n %lld: [%lld,%lld] = %.9g, want %.9g", op, (long long)rows,
                         (long long)n, (long long)r, (long long)i, got, want);
        }
    }
    cvm_tensor_free(in);
    cvm_tensor_free(out);
    cvm_graph_free(g);
    free(x);
}

static void test_softmax_rows(void **st)
{
    (void)st;
    static const int64_t ns[] = {1, 2, 3, 15, 16, 17, 31, 32, 33, 47, 64, 145, 300, 580};
    cvm_threadpool *pool = NULL;
    assert_int_equal(cvm_threadpool_create(2, &pool), CVM_OK);
    for (size_t k = 0; k < sizeof ns / sizeof ns[0]; k++) {
        check_softmax_rows("Softmax", 7, ns[k], 8.0f, NULL);
        check_softmax_rows("Softmax", 5, ns[k], 60.0f, pool);
        check_softmax_rows("LogSoftmax", 3, ns[k], 20.0f, NULL);
    }
    cvm_threadpool_free(pool);
}

/* A NaN anywhere in a row makes that row NaN and leaves its neighbours alone;
 * very negative entries underflow to (almost) zero, not to NaN. */
static void test_softmax_special(void **st)
{
    (void)st;
    enum { N = 37 };
    float x[3 * N];
    for (int i = 0; i < 3 * N; i++)
        x[i] = (float)(i % N % 5);
    x[N + 20] = NAN;
    x[2 * N + 3] = -1e30f;
    x[2 * N + 36] = -INFINITY;
    int64_t dims[2] = {3, N};
    cvm_node *node;
    cvm_graph *g = mk("Softmax", 1, 1, &node);
    cvm_tensor *in = tens(CVM_DTYPE_FLOAT32, 2, dims, x), *out = NULL;
    const cvm_tensor *ins[1] = {in};
    assert_int_equal(cvm_node_eval(node, 17, 1, ins, 1, &out, NULL), CVM_OK);
    const float *y = out->data;
    double s0 = 0.0;
    for (int i = 0; i < N; i++)
        s0 += exp((double)(i % 5));
    for (int i = 0; i < N; i++)
        assert_float_equal(y[i], exp((double)(i % 5)) / s0, 1e-7);
    for (int i = 0; i < N; i++)
        assert_true(isnan(y[N + i]));
    double s2 = 0.0;
    for (int i = 0; i < N; i++)
        if (i != 3 && i != 36)
            s2 += exp((double)(i % 5));
    for (int i = 0; i < N; i++) {
        double want = i == 3 || i == 36 ? 0.0 : exp((double)(i % 5)) / s2;
        assert_false(isnan(y[2 * N + i]));
        assert_float_equal(y[2 * N + i], want, 1e-7);
    }
    cvm_tensor_free(in);
    cvm_tensor_free(out);
    cvm_graph_free(g);
}

/* MatMul [batch..., M, K] x [..., K, N] against a plain loop in double; the
 * shapes reach the path that packs A once (N wider than one GEMM tile, or
 * two threads splitting a narrow N) with odd M, K and N. */
static void check_matmul(int64_t ba, int64_t bb, int64_t M, int64_t K, int64_t N,
                         cvm_threadpool *pool)
{
    int64_t bt = ba > bb ? ba : bb;
    int64_t ad[3] = {ba, M, K}, bd[3] = {bb, K, N};
    float *a = malloc(sizeof(float) * (size_t)(ba * M * K));
    float *b = malloc(sizeof(float) * (size_t)(bb * K * N));
    assert_non_null(a);
    assert_non_null(b);
    uint32_t seed = (uint32_t)(M * 7 + K * 3 + N);
    for (int64_t i = 0; i < ba * M * K; i++)
        a[i] = frand(&seed) - 0.5f;
    for (int64_t i = 0; i < bb * K * N; i++)
        b[i] = frand(&seed) - 0.5f;
    cvm_node *node;
    cvm_graph *g = mk("MatMul", 2, 1, &node);
    cvm_tensor *ta = tens(CVM_DTYPE_FLOAT32, 3, ad, a), *tb = tens(CVM_DTYPE_FLOAT32, 3, bd, b);
    cvm_tensor *out = NULL;
    const cvm_tensor *ins[2] = {ta, tb};
    assert_int_equal(cvm_node_eval(node, 13, 2, ins, 1, &out, pool), CVM_OK);
    assert_int_equal(out->ndim, 3);
    assert_int_equal(out->dims[0], bt);
    const float *y = out->data;
    for (int64_t p = 0; p < bt; p++)
        for (int64_t m = 0; m < M; m++)
            for (int64_t n = 0; n < N; n++) {
                const float *ar = a + (ba == 1 ? 0 : p) * M * K + m * K;
                const float *bc = b + (bb == 1 ? 0 : p) * K * N + n;
                double want = 0.0, mag = 0.0;
                for (int64_t k = 0; k < K; k++) {
                    want += (double)ar[k] * bc[k * N];
                    mag += fabs((double)ar[k] * bc[k * N]);
                }
                double got = y[(p * M + m) * N + n];
                if (fabs(got - want) > 1e-5 * mag + 1e-6)
                    fail_msg("MatMul %lldx%lldx%lld batch %lld: [%lld,%lld,%lld] = %.9g, want %.9g",
                             (long long)M, (long long)K, (long long)N, (long long)bt,
                             (long long)p, (long long)m, (long long)n, got, want);
            }
    cvm_tensor_free(ta);
    cvm_tensor_free(tb);
    cvm_tensor_free(out);
    cvm_graph_free(g);
    free(a);
    free(b);
}

static void test_matmul_packed_a(void **st)
{
    (void)st;
    cvm_threadpool *pool = NULL;
    assert_int_equal(cvm_threadpool_create(2, &pool), CVM_OK);
    cvm_threadpool *pools[2] = {NULL, pool};
    for (int t = 0; t < 2; t++) {
        check_matmul(1, 1, 37, 300, 301, pools[t]);  /* two K chunks, two N tiles */
        check_matmul(3, 3, 29, 65, 259, pools[t]);   /* batched, N just over a tile */
        check_matmul(3, 1, 9, 19, 520, pools[t]);    /* B broadcast over the batch */
        check_matmul(1, 2, 13, 33, 45, pools[t]);    /* A broadcast, narrow N */
        check_matmul(1, 1, 8, 513, 97, pools[t]);    /* one panel of rows, three K chunks */
        check_matmul(1, 1, 3, 7, 600, pools[t]);     /* fewer rows than a panel */
        check_matmul(2, 2, 150, 40, 300, pools[t]);  /* several packing groups of rows */
        check_matmul(1, 1, 45, 70, 384, pools[t]);   /* N of one and a half tiles      */
        check_matmul(1, 1, 19, 33, 768, pools[t]);   /* three N tiles                  */
    }
    cvm_threadpool_free(pool);
}

/* Gemm with transposed operands, alpha and a bias on the packed-A path. */
static void test_gemm_packed_a(void **st)
{
    (void)st;
    enum { M = 21, K = 270, N = 384 };
    float *a = malloc(sizeof(float) * M * K), *b = malloc(sizeof(float) * K * N);
    float cb[N];
    assert_non_null(a);
    assert_non_null(b);
    uint32_t seed = 99;
    for (int i = 0; i < M * K; i++)
        a[i] = frand(&seed) - 0.5f;
    for (int i = 0; i < K * N; i++)
        b[i] = frand(&seed) - 0.5f;
    for (int i = 0; i < N; i++)
        cb[i] = frand(&seed);
    cvm_threadpool *pool = NULL;
    assert_int_equal(cvm_threadpool_create(2, &pool), CVM_OK);
    for (int t = 0; t < 2; t++) {
        cvm_node *node;
        cvm_graph *g = mk("Gemm", 3, 1, &node);
        attr_i(node, "transA", 1);
        attr_i(node, "transB", 1);
        attr_f(node, "alpha", 0.75f);
        attr_f(node, "beta", 2.0f);
        /* stored transposed: a is [K, M], b is [N, K] */
        int64_t ad[2] = {K, M}, bd[2] = {N, K}, cd[1] = {N};
        cvm_tensor *ta = tens(CVM_DTYPE_FLOAT32, 2, ad, a), *tb = tens(CVM_DTYPE_FLOAT32, 2, bd, b);
        cvm_tensor *tc = tens(CVM_DTYPE_FLOAT32, 1, cd, cb), *out = NULL;
        const cvm_tensor *ins[3] = {ta, tb, tc};
        assert_int_equal(cvm_node_eval(node, 13, 3, ins, 1, &out, t ? pool : NULL), CVM_OK);
        const float *y = out->data;
        for (int m = 0; m < M; m++)
            for (int n = 0; n < N; n++) {
                double acc = 0.0, mag = 0.0;
                for (int k = 0; k < K; k++) {
                    acc += (double)a[k * M + m] * b[n * K + k];
                    mag += fabs((double)a[k * M + m] * b[n * K + k]);
                }
                double want = 0.75 * acc + 2.0 * cb[n];
                if (fabs(y[m * N + n] - want) > 1e-5 * (mag + 2.0 * fabs(cb[n])) + 1e-6)
                    fail_msg("Gemm [%d,%d] = %.9g, want %.9g", m, n, y[m * N + n], want);
            }
        cvm_tensor_free(ta);
        cvm_tensor_free(tb);
        cvm_tensor_free(tc);
        cvm_tensor_free(out);
        cvm_graph_free(g);
    }
    cvm_threadpool_free(pool);
    free(a);
    free(b);
}

/* Bilinear GridSample against the definition, in double: zero padding (taps
 * outside read 0) and border padding (the coordinate clamped into the image),
 * both corner conventions, pixel counts that leave partial vector blocks. */
static double gs_ref(const float *x, int64_t H, int64_t W, double gx, double gy, int align,
                     int border)
{
    double vx = align ? (gx + 1.0) / 2.0 * (double)(W - 1) : ((gx + 1.0) * (double)W - 1.0) / 2.0;
    double vy = align ? (gy + 1.0) / 2.0 * (double)(H - 1) : ((gy + 1.0) * (double)H - 1.0) / 2.0;
    if (border) {
        vx = vx < 0 ? 0 : vx > (double)(W - 1) ? (double)(W - 1) : vx;
        vy = vy < 0 ? 0 : vy > (double)(H - 1) ? (double)(H - 1) : vy;
    }
    double fx = floor(vx), fy = floor(vy), s = 0.0;
    for (int a = 0; a < 2; a++)
        for (int c = 0; c < 2; c++) {
            int64_t iy = (int64_t)fy + a, ix = (int64_t)fx + c;
            double w = (a ? vy - fy : 1.0 - (vy - fy)) * (c ? vx - fx : 1.0 - (vx - fx));
            if (border) {
                iy = iy < 0 ? 0 : iy >= H ? H - 1 : iy;
                ix = ix < 0 ? 0 : ix >= W ? W - 1 : ix;
            } else if (iy < 0 || iy >= H || ix < 0 || ix >= W) {
                continue;
            }
            s += w * x[iy * W + ix];
        }
    return s;
}

static void test_gridsample_bilinear(void **st)
{
    (void)st;
    enum { N = 2, C = 3, H = 5, W = 7, HO = 3, WO = 27 };
    float x[N * C * H * W], grid[N * HO * WO * 2];
    uint32_t seed = 5;
    for (int i = 0; i < N * C * H * W; i++)
        x[i] = frand(&seed) * 4.0f - 2.0f;
    for (int i = 0; i < N * HO * WO * 2; i++)
        grid[i] = frand(&seed) * 2.6f - 1.3f; /* some taps fall outside */
    grid[0] = -1.0f, grid[1] = 1.0f;          /* corners and an exact pixel centre */
    grid[2] = 1.0f, grid[3] = -1.0f;
    grid[4] = 0.0f, grid[5] = 0.0f;
    cvm_threadpool *pool = NULL;
    assert_int_equal(cvm_threadpool_create(2, &pool), CVM_OK);
    for (int cfg = 0; cfg < 6; cfg++) {
        int align = cfg & 1, border = (cfg >> 1) == 1, threads = cfg >= 4;
        cvm_node *node;
        cvm_graph *g = mk("GridSample", 2, 1, &node);
        attr_s(node, "mode", "bilinear");
        attr_s(node, "padding_mode", border ? "border" : "zeros");
        attr_i(node, "align_corners", align);
        int64_t xd[4] = {N, C, H, W}, gd[4] = {N, HO, WO, 2};
        cvm_tensor *tx = tens(CVM_DTYPE_FLOAT32, 4, xd, x), *tg = tens(CVM_DTYPE_FLOAT32, 4, gd, grid);
        cvm_tensor *out = NULL;
        const cvm_tensor *ins[2] = {tx, tg};
        assert_int_equal(cvm_node_eval(node, 16, 2, ins, 1, &out, threads ? pool : NULL), CVM_OK);
        const float *y = out->data;
        for (int n = 0; n < N; n++)
            for (int c = 0; c < C; c++)
                for (int p = 0; p < HO * WO; p++) {
                    const float *gp = grid + (n * HO * WO + p) * 2;
                    double want = gs_ref(x + (n * C + c) * H * W, H, W, gp[0], gp[1], align, border);
                    double got = y[(n * C + c) * HO * WO + p];
                    if (fabs(got - want) > 1e-5)
                        fail_msg("GridSample align %d border %d: [%d,%d,%d] = %.9g, want %.9g",
                                 align, border, n, c, p, got, want);
                }
        cvm_tensor_free(tx);
        cvm_tensor_free(tg);
        cvm_tensor_free(out);
        cvm_graph_free(g);
    }
    cvm_threadpool_free(pool);
}

/* ------------------------------------------------------------ ScaleShift */

static int gval(cvm_graph *g, const char *name)
{
    int v;
    assert_int_equal(cvm_graph_value(g, name, &v), CVM_OK);
    return v;
}

static void gnode(cvm_graph *g, const char *op, int a, int b, int out)
{
    int in[2] = {a, b}, idx;
    assert_int_equal(cvm_graph_add_node(g, op, "", "", 2, in, 1, &out, &idx), CVM_OK);
    g->nodes[idx].opset = 13;
}

static int gscalar(cvm_graph *g, const char *name, int rank, float v)
{
    int id = gval(g, name);
    int64_t one = 1;
    assert_int_equal(cvm_tensor_create(CVM_DTYPE_FLOAT32, rank, &one, &g->values[id].init), CVM_OK);
    *(float *)g->values[id].init->data = v;
    return id;
}

/*   y = (x * 0.37) + (-1.25)         fused (constant on either side)
 *   z = (1.5 * y) + 0.5, with y * 1.5 also an output: not fused
 * Shapes [2,3,5,7] so that the fused output keeps x's shape. */
static cvm_graph *affine_graph(int keep_mid)
{
    cvm_graph *g;
    assert_int_equal(cvm_graph_create(&g), CVM_OK);
    int x = gval(g, "x");
    g->values[x].dtype = CVM_DTYPE_FLOAT32;
    g->values[x].ndim = 4;
    int64_t xd[4] = {2, 3, 5, 7};
    for (int d = 0; d < 4; d++)
        g->values[x].dims[d].value = xd[d];
    g->inputs = malloc(sizeof(int));
    g->inputs[g->n_inputs++] = x;
    int s1 = gscalar(g, "s1", 0, 0.37f), b1 = gscalar(g, "b1", 1, -1.25f);
    int s2 = gscalar(g, "s2", 1, 1.5f), b2 = gscalar(g, "b2", 0, 0.5f);
    int m1 = gval(g, "m1"), y = gval(g, "y"), m2 = gval(g, "m2"), z = gval(g, "z");
    gnode(g, "Mul", x, s1, m1);
    gnode(g, "Add", b1, m1, y);
    gnode(g, "Mul", s2, y, m2);
    gnode(g, "Add", m2, b2, z);
    g->outputs = malloc(3 * sizeof(int));
    g->outputs[g->n_outputs++] = y;
    g->outputs[g->n_outputs++] = z;
    if (keep_mid)
        g->outputs[g->n_outputs++] = m2;
    return g;
}

static void test_scale_shift_fusion(void **st)
{
    (void)st;
    for (int keep = 0; keep < 2; keep++) {
        cvm_graph *g = affine_graph(keep);
        assert_int_equal(cvm_graph_fuse(g), CVM_OK);
        int ss = 0;
        for (int i = 0; i < g->n_nodes; i++)
            ss += strcmp(g->nodes[i].op_type, "ScaleShift") == 0;
        assert_int_equal(ss, keep ? 1 : 2);
        assert_int_equal(g->n_nodes, keep ? 3 : 2);
        cvm_graph_free(g);
    }
    /* The fused graph computes exactly what the Mul and Add did. */
    cvm_session_options o;
    cvm_session_options_init(&o);
    cvm_session *s[2];
    for (int k = 0; k < 2; k++) {
        o.optimize = k;
        o.threads = 1 + k;
        assert_int_equal(cvm_session_create_from_graph(affine_graph(0), &o, &s[k]), CVM_OK);
    }
    int64_t xd[4] = {2, 3, 5, 7};
    cvm_tensor *x = NULL, *y[2][2];
    assert_int_equal(cvm_tensor_create(CVM_DTYPE_FLOAT32, 4, xd, &x), CVM_OK);
    uint32_t seed = 3;
    float *xp = x->data;
    for (int64_t i = 0; i < cvm_tensor_numel(x); i++)
        xp[i] = frand(&seed) * 20.0f - 10.0f;
    const char *name = "x";
    for (int k = 0; k < 2; k++)
        assert_int_equal(cvm_session_run(s[k], 1, &name, (const cvm_tensor *const *)&x, 2, NULL,
                                         y[k]), CVM_OK);
    for (int j = 0; j < 2; j++) {
        assert_int_equal(y[1][j]->ndim, 4);
        assert_memory_equal(y[1][j]->dims, xd, sizeof xd);
        const float *a = y[0][j]->data, *b = y[1][j]->data;
        for (int64_t i = 0; i < cvm_tensor_numel(x); i++) {
            volatile float t = xp[i] * 0.37f; /* the reference, rounded as Mul does */
            float want = j == 0 ? t + -1.25f : 0.0f;
            if (j == 0)
                assert_true(a[i] == want);
            assert_true(a[i] == b[i]);
        }
    }
    for (int k = 0; k < 2; k++) {
        for (int j = 0; j < 2; j++)
            cvm_tensor_free(y[k][j]);
        cvm_session_free(s[k]);
    }
    cvm_tensor_free(x);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_softmax_rows),
        cmocka_unit_test(test_softmax_special),
        cmocka_unit_test(test_matmul_packed_a),
        cmocka_unit_test(test_gemm_packed_a),
        cmocka_unit_test(test_gridsample_bilinear),
        cmocka_unit_test(test_scale_shift_fusion),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
