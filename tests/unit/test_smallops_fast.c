/* The vector paths of MaxPool, nearest Resize, strided Slice copies and
 * Transpose against plain loops written here, over odd shapes, on both the
 * vector and the portable code (CVM_CPU_NO_AVX512), inline and on a pool. */
#include <setjmp.h>
#include <stdlib.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "base/tensor.h"
#include "base/threadpool.h"
#include "graph/fuse.h"
#include "graph/graph.h"
#include "op_test.h"
#include "runtime/session.h"

/* Test hook of the CPU backend: nonzero sends these kernels down their
 * portable paths. */

static cvm_threadpool *pool2;

static uint32_t rng_state = 12345u;

static float rnd(void)
{
    rng_state = rng_state * 1664525u + 1013904223u;
    return (float)((rng_state >> 8) & 0xffff) / 4096.0f - 8.0f;
}

static void fill(cvm_tensor *t)
{
    float *p = t->data;
    for (int64_t i = 0; i < cvm_tensor_numel(t); i++)
        p[i] = rnd();
}

/* Runs `n` on `in` with every combination of path and pool; compares each
 * result with `want` exactly (all these ops only move or pick values). */
static void run_all_ways(cvm_node *n, int opset, int n_in, cvm_tensor **in, const float *want,
                         int64_t numel)
{
    for (int portable = 0; portable < 2; portable++)
        for (int use_pool = 0; use_pool < 2; use_pool++) {
            cvm_tensor *out[1] = {NULL};
            if (portable)
                setenv("CVM_CPU_NO_AVX512", "1", 1);
            cvm_status st = cvm_node_eval(n, opset, n_in, (const cvm_tensor *const *)in, 1, out,
                                          use_pool ? pool2 : NULL);
            unsetenv("CVM_CPU_NO_AVX512");
            assert_int_equal(st, CVM_OK);
            assert_int_equal(cvm_tensor_numel(out[0]), numel);
            const float *got = out[0]->data;
            for (int64_t i = 0; i < numel; i++)
                if (!(got[i] == want[i] || (isnan(got[i]) && isnan(want[i]))))
                    fail_msg("element %lld: got %g, want %g (portable %d, pool %d)", (long long)i,
                             got[i], want[i], portable, use_pool);
            cvm_tensor_free(out[0]);
        }
}

/* ------------------------------------------------------------------ MaxPool */

typedef struct mp_case {
    int64_t n, c, h, w, kh, kw, sh, sw, pt, pl, pb, pr;
    int nan;
} mp_case;

static void test_maxpool(void **st)
{
    (void)st;
    static const mp_case cases[] = {
        {1, 128, 13, 13, 5, 5, 1, 1, 2, 2, 2, 2, 0},     /* YOLOX SPP */
        {1, 16, 13, 13, 9, 9, 1, 1, 4, 4, 4, 4, 0},
        {1, 16, 13, 13, 13, 13, 1, 1, 6, 6, 6, 6, 0},
        {1, 8, 20, 20, 5, 5, 1, 1, 2, 2, 2, 2, 0},       /* YOLOv8 SPPF */
        {2, 3, 17, 33, 3, 3, 2, 2, 1, 1, 1, 1, 0},       /* stem pool, odd */
        {2, 3, 114, 114, 3, 3, 2, 2, 1, 1, 1, 1, 0},     /* more than one band */
        {1, 2, 7, 40, 4, 6, 3, 1, 0, 2, 3, 5, 1},        /* asymmetric pads, NaNs */
        {3, 1, 1, 31, 1, 7, 1, 2, 0, 3, 0, 3, 1},        /* one row */
        {1, 2, 9, 5, 9, 5, 1, 1, 0, 0, 0, 0, 0},         /* one output */
        {1, 3, 6, 70, 2, 17, 1, 1, 1, 16, 0, 16, 0},     /* wide kernel, rows > 64 */
        {1, 1, 300, 3000, 3, 3, 1, 1, 1, 1, 1, 1, 0},    /* a band is a few rows */
    };
    for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
        const mp_case *k = &cases[ci];
        cvm_node *n;
        cvm_graph *g = mk("MaxPool", 1, 1, &n);
        attr_ints(n, "kernel_shape", 2, (int64_t[]){k->kh, k->kw});
        attr_ints(n, "strides", 2, (int64_t[]){k->sh, k->sw});
        attr_ints(n, "pads", 4, (int64_t[]){k->pt, k->pl, k->pb, k->pr});
        cvm_tensor *x = tens(CVM_DTYPE_FLOAT32, 4, (int64_t[]){k->n, k->c, k->h, k->w}, NULL);
        fill(x);
        float *xp = x->data;
        if (k->nan)
            for (int64_t i = 0; i < cvm_tensor_numel(x); i += 7)
                xp[i] = NAN;
        int64_t oh = (k->h + k->pt + k->pb - k->kh) / k->sh + 1;
        int64_t ow = (k->w + k->pl + k->pr - k->kw) / k->sw + 1;
        int64_t numel = k->n * k->c * oh * ow;
        float *want = malloc(sizeof(float) * (size_t)numel);
        assert_non_null(want);
        int64_t o = 0;
        for (int64_t p = 0; p < k->n * k->c; p++)
            for (int64_t i = 0; i < oh; i++)
                for (int64_t j = 0; j < ow; j++) {
                    float m = -INFINITY;
                    for (int64_t a = 0; a < k->kh; a++)
                        for (int64_t b = 0; b < k->kw; b++) {
                            int64_t r = i * k->sh - k->pt + a, c = j * k->sw - k->pl + b;
                            if (r < 0 || r >= k->h || c < 0 || c >= k->w)
                                continue;
                            float v = xp[(p * k->h + r) * k->w + c];
                            m = v > m ? v : m; /* padding and NaN never win */
                        }
                    want[o++] = m;
                }
        run_all_ways(n, 12, 1, &x, want, numel);
        free(want);
        cvm_tensor_free(x);
        cvm_graph_free(g);
    }
}

/* ------------------------------------------------------------- AveragePool */

typedef struct ap_case {
    int64_t n, c, h, w, kh, kw, sh, sw, pt, pl, pb, pr;
    int include_pad;
} ap_case;

static void test_averagepool(void **st)
{
    (void)st;
    static const ap_case cases[] = {
        {1, 64, 20, 20, 2, 2, 2, 2, 0, 0, 0, 0, 0},      /* DEIMv2's downsampling */
        {2, 3, 17, 33, 3, 3, 2, 2, 1, 1, 1, 1, 0},       /* padding left out of the count */
        {2, 3, 17, 33, 3, 3, 2, 2, 1, 1, 1, 1, 1},       /* ... and counted */
        {1, 2, 7, 40, 4, 6, 3, 1, 0, 2, 3, 5, 1},        /* asymmetric pads */
        {3, 1, 1, 31, 1, 7, 1, 2, 0, 3, 0, 3, 0},        /* one row */
        {1, 2, 9, 5, 9, 5, 1, 1, 0, 0, 0, 0, 0},         /* one output */
    };
    for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
        const ap_case *k = &cases[ci];
        cvm_node *n;
        cvm_graph *g = mk("AveragePool", 1, 1, &n);
        attr_ints(n, "kernel_shape", 2, (int64_t[]){k->kh, k->kw});
        attr_ints(n, "strides", 2, (int64_t[]){k->sh, k->sw});
        attr_ints(n, "pads", 4, (int64_t[]){k->pt, k->pl, k->pb, k->pr});
        attr_i(n, "count_include_pad", k->include_pad);
        cvm_tensor *x = tens(CVM_DTYPE_FLOAT32, 4, (int64_t[]){k->n, k->c, k->h, k->w}, NULL);
        fill(x);
        const float *xp = x->data;
        int64_t oh = (k->h + k->pt + k->pb - k->kh) / k->sh + 1;
        int64_t ow = (k->w + k->pl + k->pr - k->kw) / k->sw + 1;
        int64_t numel = k->n * k->c * oh * ow;
        float *want = malloc(sizeof(float) * (size_t)numel);
        assert_non_null(want);
        int64_t o = 0;
        for (int64_t p = 0; p < k->n * k->c; p++)
            for (int64_t i = 0; i < oh; i++)
                for (int64_t j = 0; j < ow; j++) {
                    float sum = 0.0f;
                    int64_t inside = 0;
                    for (int64_t a = 0; a < k->kh; a++)
                        for (int64_t b = 0; b < k->kw; b++) {
                            int64_t r = i * k->sh - k->pt + a, c = j * k->sw - k->pl + b;
                            if (r < 0 || r >= k->h || c < 0 || c >= k->w)
                                continue;
                            sum += xp[(p * k->h + r) * k->w + c];
                            inside++;
                        }
                    want[o++] = sum / (float)(k->include_pad ? k->kh * k->kw : inside);
                }
        /* the sums run in the same order, so the results are exact */
        run_all_ways(n, 19, 1, &x, want, numel);
        free(want);
        cvm_tensor_free(x);
        cvm_graph_free(g);
    }
}

/* ------------------------------------------------------------------ Resize */

static double nn_src(const char *ctm, int64_t o, int64_t in, int64_t out, double s)
{
    if (strcmp(ctm, "asymmetric") == 0)
        return (double)o / s;
    if (strcmp(ctm, "align_corners") == 0)
        return out > 1 ? (double)o * (double)(in - 1) / (double)(out - 1) : 0.0;
    if (strcmp(ctm, "tf_half_pixel_for_nn") == 0)
        return ((double)o + 0.5) / s;
    if (strcmp(ctm, "pytorch_half_pixel") == 0 && out <= 1)
        return 0.0;
    return ((double)o + 0.5) / s - 0.5; /* half_pixel, pytorch_half_pixel */
}

static int64_t nn_round(const char *nm, double x, int64_t in)
{
    double r;
    if (strcmp(nm, "floor") == 0)
        r = floor(x);
    else if (strcmp(nm, "ceil") == 0)
        r = ceil(x);
    else if (strcmp(nm, "round_prefer_ceil") == 0)
        r = floor(x + 0.5);
    else
        r = x - floor(x) == 0.5 ? floor(x) : floor(x + 0.5);
    if (r < 0)
        r = 0;
    if (r > (double)(in - 1))
        r = (double)(in - 1);
    return (int64_t)r;
}

static void resize_case(int rank, const int64_t *dims, const float *scales, const char *ctm,
                        const char *nm)
{
    cvm_node *n;
    cvm_graph *g = mk("Resize", 3, 1, &n);
    n->in[1] = -1; /* no roi */
    attr_s(n, "mode", "nearest");
    attr_s(n, "coordinate_transformation_mode", ctm);
    attr_s(n, "nearest_mode", nm);
    cvm_tensor *x = tens(CVM_DTYPE_FLOAT32, rank, dims, NULL);
    fill(x);
    cvm_tensor *sc = tens(CVM_DTYPE_FLOAT32, 1, (int64_t[]){rank}, scales);
    int64_t od[8], numel = 1, istr[8];
    for (int d = rank - 1, st = 1; d >= 0; d--) {
        od[d] = (int64_t)floor((double)dims[d] * scales[d]);
        numel *= od[d];
        istr[d] = st;
        st *= (int)dims[d];
    }
    float *want = malloc(sizeof(float) * (size_t)numel);
    assert_non_null(want);
    const float *xp = x->data;
    for (int64_t o = 0; o < numel; o++) {
        int64_t rem = o, off = 0;
        for (int d = rank - 1; d >= 0; d--) {
            int64_t i = rem % od[d];
            rem /= od[d];
            off += nn_round(nm, nn_src(ctm, i, dims[d], od[d], scales[d]), dims[d]) * istr[d];
        }
        want[o] = xp[off];
    }
    cvm_tensor *in[3] = {x, NULL, sc};
    run_all_ways(n, 13, 3, in, want, numel);
    free(want);
    cvm_tensor_free(x);
    cvm_tensor_free(sc);
    cvm_graph_free(g);
}

static void test_resize_nearest(void **st)
{
    (void)st;
    static const char *const modes[][2] = {
        {"asymmetric", "floor"},        {"asymmetric", "round_prefer_floor"},
        {"asymmetric", "round_prefer_ceil"}, {"asymmetric", "ceil"},
        {"half_pixel", "round_prefer_floor"}, {"half_pixel", "round_prefer_ceil"},
        {"half_pixel", "floor"},        {"pytorch_half_pixel", "round_prefer_floor"},
        {"align_corners", "round_prefer_floor"}, {"tf_half_pixel_for_nn", "floor"},
    };
    static const float f4[][4] = {{1, 1, 2, 2}, {1, 1, 3, 3}, {1, 1, 4, 4}, {1, 1, 2, 3},
                                  {1, 1, 1, 2}, {1, 1, 2, 1}, {1, 2, 2, 2}, {1, 1, 5, 16}};
    for (size_t m = 0; m < sizeof modes / sizeof modes[0]; m++)
        for (size_t k = 0; k < sizeof f4 / sizeof f4[0]; k++)
            resize_case(4, (int64_t[]){2, 3, 5, 7}, f4[k], modes[m][0], modes[m][1]);
    resize_case(4, (int64_t[]){1, 128, 13, 13}, (float[]){1, 1, 2, 2}, "asymmetric", "floor");
    resize_case(4, (int64_t[]){1, 4, 26, 37}, (float[]){1, 1, 2, 2}, "asymmetric", "floor");
    resize_case(4, (int64_t[]){1, 4, 9, 40}, (float[]){1, 1, 3, 3}, "half_pixel", "round_prefer_floor");
    resize_case(4, (int64_t[]){3, 2, 4, 129}, (float[]){1, 1, 4, 4}, "asymmetric", "floor");
    resize_case(5, (int64_t[]){1, 2, 3, 4, 5}, (float[]){1, 1, 1, 2, 2}, "asymmetric", "floor");
    resize_case(5, (int64_t[]){1, 2, 3, 4, 5}, (float[]){1, 1, 2, 2, 2}, "asymmetric", "floor");
    resize_case(2, (int64_t[]){7, 19}, (float[]){2, 2}, "asymmetric", "floor");
}

/* --------------------------------------------------------------- Transpose */

static void transpose_case(int rank, const int64_t *dims, const int64_t *perm)
{
    cvm_node *n;
    cvm_graph *g = mk("Transpose", 1, 1, &n);
    attr_ints(n, "perm", (size_t)rank, perm);
    cvm_tensor *x = tens(CVM_DTYPE_FLOAT32, rank, dims, NULL);
    fill(x);
    int64_t od[8], istr[8], numel = cvm_tensor_numel(x);
    for (int d = rank - 1, st = 1; d >= 0; d--) {
        istr[d] = st;
        st *= (int)dims[d];
    }
    for (int d = 0; d < rank; d++)
        od[d] = dims[perm[d]];
    float *want = malloc(sizeof(float) * (size_t)(numel ? numel : 1));
    assert_non_null(want);
    const float *xp = x->data;
    for (int64_t o = 0; o < numel; o++) {
        int64_t rem = o, off = 0;
        for (int d = rank - 1; d >= 0; d--) {
            off += (rem % od[d]) * istr[perm[d]];
            rem /= od[d];
        }
        want[o] = xp[off];
    }
    run_all_ways(n, 13, 1, &x, want, numel);
    free(want);
    cvm_tensor_free(x);
    cvm_graph_free(g);
}

static void test_transpose(void **st)
{
    (void)st;
    transpose_case(3, (int64_t[]){1, 85, 3549}, (int64_t[]){0, 2, 1}); /* YOLOX head */
    transpose_case(2, (int64_t[]){16, 16}, (int64_t[]){1, 0});
    transpose_case(2, (int64_t[]){8, 8}, (int64_t[]){1, 0});
    transpose_case(2, (int64_t[]){17, 33}, (int64_t[]){1, 0});
    transpose_case(2, (int64_t[]){300, 9}, (int64_t[]){1, 0});
    transpose_case(2, (int64_t[]){9, 1000}, (int64_t[]){1, 0});
    transpose_case(3, (int64_t[]){3, 31, 47}, (int64_t[]){0, 2, 1});
    transpose_case(4, (int64_t[]){2, 3, 20, 50}, (int64_t[]){0, 1, 3, 2});
    transpose_case(4, (int64_t[]){2, 19, 5, 23}, (int64_t[]){0, 2, 3, 1}); /* NCHW -> NHWC */
    transpose_case(4, (int64_t[]){2, 5, 23, 19}, (int64_t[]){0, 3, 1, 2}); /* NHWC -> NCHW */
    transpose_case(3, (int64_t[]){4, 130, 3}, (int64_t[]){2, 1, 0});
    transpose_case(3, (int64_t[]){1, 2000, 700}, (int64_t[]){0, 2, 1}); /* many units */
}

/* ------------------------------------------------------------------- Slice */

static void test_slice_strided(void **st)
{
    (void)st;
    /* x[n, c, h0::sh, w0::sw] with sizes that leave partial vectors */
    static const int64_t cases[][8] = {
        {1, 3, 416, 416, 0, 0, 2, 2}, {1, 3, 416, 416, 1, 1, 2, 2}, {2, 3, 21, 35, 1, 0, 2, 2},
        {1, 2, 9, 64, 0, 1, 3, 2},    {1, 1, 5, 33, 1, 1, 1, 2},    {2, 2, 7, 50, 2, 3, 2, 3},
    };
    for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
        const int64_t *k = cases[ci];
        cvm_node *n;
        cvm_graph *g = mk("Slice", 5, 1, &n);
        cvm_tensor *x = tens(CVM_DTYPE_FLOAT32, 4, k, NULL);
        fill(x);
        cvm_tensor *in[5] = {x, tens(CVM_DTYPE_INT64, 1, (int64_t[]){2}, (int64_t[]){k[4], k[5]}),
                             tens(CVM_DTYPE_INT64, 1, (int64_t[]){2}, (int64_t[]){1000, 1000}),
                             tens(CVM_DTYPE_INT64, 1, (int64_t[]){2}, (int64_t[]){2, 3}),
                             tens(CVM_DTYPE_INT64, 1, (int64_t[]){2}, (int64_t[]){k[6], k[7]})};
        int64_t oh = (k[2] - k[4] + k[6] - 1) / k[6], ow = (k[3] - k[5] + k[7] - 1) / k[7];
        int64_t numel = k[0] * k[1] * oh * ow, o = 0;
        float *want = malloc(sizeof(float) * (size_t)numel);
        assert_non_null(want);
        const float *xp = x->data;
        for (int64_t p = 0; p < k[0] * k[1]; p++)
            for (int64_t i = 0; i < oh; i++)
                for (int64_t j = 0; j < ow; j++)
                    want[o++] = xp[(p * k[2] + k[4] + i * k[6]) * k[3] + k[5] + j * k[7]];
        run_all_ways(n, 13, 5, in, want, numel);
        free(want);
        for (int i = 0; i < 5; i++)
            cvm_tensor_free(in[i]);
        cvm_graph_free(g);
    }
}

/* ------------------------------------------------- Slice(Slice(x)) merging */

static int gval(cvm_graph *g, const char *name)
{
    int v;
    assert_int_equal(cvm_graph_value(g, name, &v), CVM_OK);
    return v;
}

static void gconst(cvm_graph *g, const char *name, int64_t a)
{
    int v = gval(g, name);
    assert_int_equal(cvm_tensor_create(CVM_DTYPE_INT64, 1, (int64_t[]){1}, &g->values[v].init), CVM_OK);
    *(int64_t *)g->values[v].init->data = a;
}

/* Slice(in, starts, ends, axes, steps) -> out, each parameter one constant */
static void gslice(cvm_graph *g, const char *in, const char *out, int64_t start, int64_t end,
                   int64_t axis, int64_t step)
{
    char nm[4][64];
    const int64_t v[4] = {start, end, axis, step};
    int iv[5] = {gval(g, in)}, o = gval(g, out), idx;
    for (int k = 0; k < 4; k++) {
        snprintf(nm[k], sizeof nm[k], "%s_p%d", out, k);
        gconst(g, nm[k], v[k]);
        iv[k + 1] = gval(g, nm[k]);
    }
    assert_int_equal(cvm_graph_add_node(g, "Slice", "", out, 5, iv, 1, &o, &idx), CVM_OK);
    g->nodes[idx].opset = 13;
}

static const char *const slice_outs[] = {"a", "b", "c", "d", "e", "r1"};
#define N_SLICE_OUTS 6

/* a = x[:, :, 0::2, 0::2] (Focus), b and c share the inner r2 = x[:, :, 1::2],
 * d slices r2's axis again (not merged), e has negative starts and steps,
 * r1 is also a graph output (kept beside a). */
static cvm_graph *slice_graph(const int64_t *xd)
{
    cvm_graph *g;
    assert_int_equal(cvm_graph_create(&g), CVM_OK);
    int x = gval(g, "x");
    g->values[x].dtype = CVM_DTYPE_FLOAT32;
    g->values[x].ndim = 4;
    for (int d = 0; d < 4; d++)
        g->values[x].dims[d].value = xd[d];
    g->inputs = malloc(sizeof(int));
    g->inputs[g->n_inputs++] = x;
    const int64_t big = INT64_MAX;
    gslice(g, "x", "r1", 0, big, 2, 2);
    gslice(g, "r1", "a", 0, big, 3, 2);
    gslice(g, "x", "r2", 1, big, 2, 2);
    gslice(g, "r2", "b", 0, big, 3, 2);
    gslice(g, "r2", "c", 1, big, 3, 2);
    gslice(g, "r2", "d", 1, big, 2, 2);
    gslice(g, "x", "r3", -3, -1, 3, 1);
    gslice(g, "r3", "e", 5, 0, 2, -2);
    g->outputs = malloc(sizeof(int) * N_SLICE_OUTS);
    for (int i = 0; i < N_SLICE_OUTS; i++)
        g->outputs[g->n_outputs++] = gval(g, slice_outs[i]);
    return g;
}

static void test_slice_merge(void **st)
{
    (void)st;
    const int64_t xd[4] = {2, 3, 11, 15};
    cvm_graph *g = slice_graph(xd);
    assert_int_equal(cvm_graph_fuse(g), CVM_OK);
    /* r1 stays for the graph output and r2 for d; r3 has no consumer left */
    int on_x = 0;
    for (int i = 0; i < g->n_nodes; i++)
        on_x += g->nodes[i].in[0] == cvm_graph_find_value(g, "x");
    assert_int_equal(g->n_nodes, 7);  /* r3 merged into e and gone */
    assert_int_equal(on_x, 6);        /* r1, a, r2, b, c, e read x; d reads r2 */
    cvm_graph_free(g);

    cvm_tensor *x;
    assert_int_equal(cvm_tensor_create(CVM_DTYPE_FLOAT32, 4, xd, &x), CVM_OK);
    fill(x);
    const float *xp = x->data;
    cvm_tensor *y[2][N_SLICE_OUTS];
    for (int k = 0; k < 2; k++) {
        cvm_session_options o;
        cvm_session_options_init(&o);
        o.optimize = k;
        o.threads = 1 + k;
        cvm_session *s;
        assert_int_equal(cvm_session_create_from_graph(slice_graph(xd), &o, &s), CVM_OK);
        const char *name = "x";
        assert_int_equal(cvm_session_run(s, 1, &name, (const cvm_tensor *const *)&x, N_SLICE_OUTS,
                                         slice_outs, y[k]),
                         CVM_OK);
        cvm_session_free(s);
    }
    /* the merged graph against the unmerged one, element for element */
    for (int i = 0; i < N_SLICE_OUTS; i++) {
        assert_int_equal(y[0][i]->ndim, y[1][i]->ndim);
        for (int d = 0; d < y[0][i]->ndim; d++)
            assert_int_equal(y[0][i]->dims[d], y[1][i]->dims[d]);
        assert_memory_equal(y[0][i]->data, y[1][i]->data, y[0][i]->nbytes);
    }
    /* and a (the Focus slice) and e against plain loops */
    const float *a = y[1][0]->data, *e = y[1][4]->data;
    int64_t o = 0;
    for (int64_t p = 0; p < xd[0] * xd[1]; p++)
        for (int64_t i = 0; i < xd[2]; i += 2)
            for (int64_t j = 0; j < xd[3]; j += 2)
                assert_true(a[o++] == xp[(p * xd[2] + i) * xd[3] + j]);
    assert_int_equal(o, cvm_tensor_numel(y[1][0]));
    o = 0;
    for (int64_t p = 0; p < xd[0] * xd[1]; p++)
        for (int64_t i = 5; i > 0; i -= 2)
            for (int64_t j = xd[3] - 3; j < xd[3] - 1; j++)
                assert_true(e[o++] == xp[(p * xd[2] + i) * xd[3] + j]);
    assert_int_equal(o, cvm_tensor_numel(y[1][4]));
    for (int k = 0; k < 2; k++)
        for (int i = 0; i < N_SLICE_OUTS; i++)
            cvm_tensor_free(y[k][i]);
    cvm_tensor_free(x);
}

int main(void)
{
    if (cvm_threadpool_create(2, &pool2) != CVM_OK)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_maxpool),
        cmocka_unit_test(test_averagepool),
        cmocka_unit_test(test_resize_nearest),
        cmocka_unit_test(test_transpose),
        cmocka_unit_test(test_slice_strided),
        cmocka_unit_test(test_slice_merge),
    };
    int r = cmocka_run_group_tests(tests, NULL, NULL);
    cvm_threadpool_free(pool2);
    return r;
}
