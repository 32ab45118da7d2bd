/* The fast convolution paths (vector im2col gather, FusedConv epilogues,
 * separable MaxPool) against naive loops written here, and the fusion pass
 * against the same graph run unfused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backends/cpu/gemm_f32.h"
#include "base/threadpool.h"
#include "graph/fuse.h"
#include "graph/graph.h"
#include "runtime/eval.h"
#include "runtime/session.h"

static cvm_threadpool *pool2;

/* ------------------------------------------------------------- helpers */

static cvm_tensor *tens(int ndim, const int64_t *dims)
{
    cvm_tensor *t = NULL;
    assert_int_equal(cvm_tensor_create(CVM_DTYPE_FLOAT32, ndim, dims, &t), CVM_OK);
    return t;
}

static void fill_rand(float *d, int64_t n, unsigned *seed)
{
    for (int64_t i = 0; i < n; i++) {
        *seed = *seed * 1103515245u + 12345u;
        d[i] = (float)((*seed >> 16) % 2001) / 1000.0f - 1.0f;
    }
}

static void expect_close(const float *got, const float *want, int64_t n, float tol)
{
    for (int64_t i = 0; i < n; i++) {
        float d = fabsf(got[i] - want[i]);
        if (!(d <= tol * (1.0f + fabsf(want[i])))) {
            print_error("element %lld: got %g want %g\n", (long long)i, got[i], want[i]);
            fail();
        }
    }
}

static cvm_attr *add_attr(cvm_node *n, const char *name, cvm_attr_type ty)
{
    cvm_attr *a = realloc(n->attrs, (size_t)(n->n_attr + 1) * sizeof *a);
    assert_non_null(a);
    n->attrs = a;
    a = &n->attrs[n->n_attr++];
    memset(a, 0, sizeof *a);
    a->name = strdup(name);
    a->type = ty;
    return a;
}

static void set_ints(cvm_node *n, const char *name, int cnt, const int64_t *v)
{
    cvm_attr *a = add_attr(n, name, CVM_ATTR_INTS);
    a->ints = malloc((size_t)cnt * sizeof(int64_t));
    memcpy(a->ints, v, (size_t)cnt * sizeof(int64_t));
    a->n = (size_t)cnt;
}

static void set_int(cvm_node *n, const char *name, int64_t v) { add_attr(n, name, CVM_ATTR_INT)->i = v; }
static void set_float(cvm_node *n, const char *name, float v) { add_attr(n, name, CVM_ATTR_FLOAT)->f = v; }
static void set_str(cvm_node *n, const char *name, const char *v)
{
    cvm_attr *a = add_attr(n, name, CVM_ATTR_STRING);
    a->s = strdup(v);
    a->s_len = strlen(v);
}

/* A one-node graph: inputs i0.., outputs o0... */
static cvm_graph *one_node(const char *op, const char *domain, int n_in, int n_out)
{
    cvm_graph *g;
    assert_int_equal(cvm_graph_create(&g), CVM_OK);
    int in[8], out[8];
    char name[16];
    for (int i = 0; i < n_in; i++) {
        snprintf(name, sizeof name, "i%d", i);
        assert_int_equal(cvm_graph_value(g, name, &in[i]), CVM_OK);
    }
    for (int i = 0; i < n_out; i++) {
        snprintf(name, sizeof name, "o%d", i);
        assert_int_equal(cvm_graph_value(g, name, &out[i]), CVM_OK);
    }
    assert_int_equal(cvm_graph_add_node(g, op, domain, "n0", n_in, in, n_out, out, NULL), CVM_OK);
    return g;
}

typedef struct conv2d {
    int64_t N, C, M, G, H, W, KH, KW, SH, SW, DH, DW, PT, PL, PB, PR;
} conv2d;

static int64_t out_h(const conv2d *c) { return (c->H + c->PT + c->PB - c->DH * (c->KH - 1) - 1) / c->SH + 1; }
static int64_t out_w(const conv2d *c) { return (c->W + c->PL + c->PR - c->DW * (c->KW - 1) - 1) / c->SW + 1; }

/* mag (may be NULL) receives, per output, the sum of the magnitudes of the
 * products: float rounding grows with it, not with the (cancelling) result. */
static void naive_conv2d(const conv2d *c, const float *x, const float *w, const float *b, float *y,
                         float *mag)
{
    int64_t OH = out_h(c), OW = out_w(c), Cg = c->C / c->G, Mg = c->M / c->G;
    for (int64_t n = 0; n < c->N; n++)
        for (int64_t m = 0; m < c->M; m++)
            for (int64_t oh = 0; oh < OH; oh++)
                for (int64_t ow = 0; ow < OW; ow++) {
                    double s = b ? b[m] : 0.0, a = b ? fabs(b[m]) : 0.0;
                    int64_t g = m / Mg;
                    for (int64_t ci = 0; ci < Cg; ci++)
                        for (int64_t kh = 0; kh < c->KH; kh++)
                            for (int64_t kw = 0; kw < c->KW; kw++) {
                                int64_t ih = oh * c->SH - c->PT + kh * c->DH;
                                int64_t iw = ow * c->SW - c->PL + kw * c->DW;
                                if (ih < 0 || ih >= c->H || iw < 0 || iw >= c->W)
                                    continue;
                                double t = (double)x[((n * c->C + g * Cg + ci) * c->H + ih) *
                                                         c->W + iw] *
                                           w[((m * Cg + ci) * c->KH + kh) * c->KW + kw];
                                s += t;
                                a += fabs(t);
                            }
                    y[((n * c->M + m) * OH + oh) * OW + ow] = (float)s;
                    if (mag)
                        mag[((n * c->M + m) * OH + oh) * OW + ow] = (float)a;
                }
}

static double ref_act(int act, double v, double alpha, double beta)
{
    switch (act) {
    case CVM_FUSED_RELU: return v > 0 ? v : 0;
    case CVM_FUSED_LEAKY_RELU: return v >= 0 ? v : v * alpha;
    case CVM_FUSED_SIGMOID: return 1.0 / (1.0 + exp(-v));
    case CVM_FUSED_SILU: return v / (1.0 + exp(-v));
    case CVM_FUSED_HARD_SIGMOID: return fmin(1.0, fmax(0.0, alpha * v + beta));
    case CVM_FUSED_HARD_SWISH: return v * fmin(1.0, fmax(0.0, v / 6.0 + 0.5));
    case CVM_FUSED_CLIP: return fmin(beta, fmax(alpha, v));
    default: return v;
    }
}

static const char *act_names[] = {"", "Relu", "LeakyRelu", "Sigmoid", "SiLU", "HardSigmoid",
                                  "HardSwish", "Clip"};

/* Runs Conv or FusedConv (act >= 0) and compares with the naive result.
 * res_kind: 0 none, 1 full shape, 2 one value per channel [M,1,1],
 * 3 one value per column [W] (broadcast along N, C and H). */
static void run_case(const conv2d *c, int with_bias, int act, int res_kind, int add_first,
                     cvm_threadpool *p)
{
    int64_t OH = out_h(c), OW = out_w(c);
    int64_t xd[4] = {c->N, c->C, c->H, c->W}, wd[4] = {c->M, c->C / c->G, c->KH, c->KW};
    int64_t yd[4] = {c->N, c->M, OH, OW};
    int fused = act >= 0;
    int n_in = fused && res_kind ? 4 : with_bias ? 3 : 2;
    cvm_tensor *in[4] = {tens(4, xd), tens(4, wd), NULL, NULL}, *out[1] = {NULL};
    unsigned seed = (unsigned)(c->C * 131 + c->M * 7 + c->W);
    fill_rand(in[0]->data, cvm_tensor_numel(in[0]), &seed);
    fill_rand(in[1]->data, cvm_tensor_numel(in[1]), &seed);
    if (with_bias) {
        in[2] = tens(1, &c->M);
        fill_rand(in[2]->data, c->M, &seed);
    }
    int64_t rstride[4] = {0, 0, 0, 0};
    if (fused && res_kind) {
        if (res_kind == 1) {
            in[3] = tens(4, yd);
            rstride[0] = c->M * OH * OW;
            rstride[1] = OH * OW;
            rstride[2] = OW;
            rstride[3] = 1;
        } else if (res_kind == 2) {
            int64_t rd[3] = {c->M, 1, 1};
            in[3] = tens(3, rd);
            rstride[1] = 1;
        } else {
            in[3] = tens(1, &OW);
            rstride[3] = 1;
        }
        fill_rand(in[3]->data, cvm_tensor_numel(in[3]), &seed);
    }
    cvm_graph *g = one_node(fused ? "FusedConv" : "Conv", fused ? CVM_FUSED_DOMAIN : "", n_in, 1);
    cvm_node *n = &g->nodes[0];
    if (n_in == 4 && !with_bias)
        n->in[2] = -1;
    int64_t v[4] = {c->SH, c->SW};
    set_ints(n, "strides", 2, v);
    v[0] = c->DH;
    v[1] = c->DW;
    set_ints(n, "dilations", 2, v);
    int64_t pads[4] = {c->PT, c->PL, c->PB, c->PR};
    set_ints(n, "pads", 4, pads);
    set_int(n, "group", c->G);
    float alpha = act == CVM_FUSED_CLIP ? -0.3f : act == CVM_FUSED_HARD_SIGMOID ? 0.25f : 0.1f;
    float beta = act == CVM_FUSED_CLIP ? 0.45f : 0.4f;
    if (fused) {
        set_str(n, "activation", act_names[act]);
        if (act == CVM_FUSED_LEAKY_RELU || act == CVM_FUSED_CLIP || act == CVM_FUSED_HARD_SIGMOID)
            set_float(n, "alpha", alpha);
        if (act == CVM_FUSED_CLIP || act == CVM_FUSED_HARD_SIGMOID)
            set_float(n, "beta", beta);
        set_int(n, "add_first", add_first);
    }
    assert_int_equal(cvm_node_eval(n, 17, n_in, (const cvm_tensor *const *)in, 1, out, p), CVM_OK);
    assert_int_equal(out[0]->ndim, 4);
    for (int i = 0; i < 4; i++)
        assert_int_equal(out[0]->dims[i], yd[i]);
    cvm_tensor *ref = tens(4, yd);
    float *r = ref->data;
    float *mag = malloc((size_t)cvm_tensor_numel(ref) * sizeof(float));
    assert_non_null(mag);
    naive_conv2d(c, in[0]->data, in[1]->data, with_bias ? in[2]->data : NULL, r, mag);
    if (fused) {
        const float *rd = in[3] ? in[3]->data : NULL;
        for (int64_t i0 = 0; i0 < c->N; i0++)
            for (int64_t i1 = 0; i1 < c->M; i1++)
                for (int64_t i2 = 0; i2 < OH; i2++)
                    for (int64_t i3 = 0; i3 < OW; i3++) {
                        float *y = &r[((i0 * c->M + i1) * OH + i2) * OW + i3];
                        double rv = rd ? rd[i0 * rstride[0] + i1 * rstride[1] + i2 * rstride[2] +
                                            i3 * rstride[3]] : 0.0;
                        double t = *y + (add_first ? rv : 0.0);
                        t = ref_act(act, t, alpha, beta);
                        *y = (float)(t + (add_first ? 0.0 : rv));
                    }
    }
    /* 2e-5 relative, or 3e-6 of the products' magnitude: Winograd's
     * transforms (entries up to 5 and 8) amplify rounding; measured over
     * these shapes: at most 1.7e-6 of the magnitude with Winograd, 3.2e-7
     * with the im2col path (CVM_WINOGRAD=0). */
    const float *got = out[0]->data;
    for (int64_t i = 0; i < cvm_tensor_numel(ref); i++) {
        float d = fabsf(got[i] - r[i]);
        if (!(d <= 2e-5f * (1.0f + fabsf(r[i])) + 3e-6f * mag[i])) {
            print_error("element %lld: got %g want %g (magnitude %g)\n", (long long)i, got[i],
                        r[i], mag[i]);
            fail();
        }
    }
    free(mag);
    cvm_tensor_free(ref);
    for (int i = 0; i < 4; i++)
        cvm_tensor_free(in[i]);
    cvm_tensor_free(out[0]);
    cvm_graph_free(g);
}

/* ----------------------------------------------------------------- tests */

static const conv2d shapes[] = {
    /* N C  M  G  H   W   KH KW SH SW DH DW PT PL PB PR */
    {1, 3, 16, 1, 23, 70, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1},  /* the first YOLO layer, odd extents */
    {2, 5, 11, 1, 7, 37, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1},   /* panels straddle output rows */
    {1, 4, 9, 1, 9, 33, 5, 5, 2, 2, 1, 1, 2, 3, 2, 1},    /* stride 2, uneven pads */
    {1, 6, 7, 1, 6, 50, 3, 3, 1, 1, 2, 2, 2, 2, 2, 2},    /* dilation 2 */
    {1, 3, 5, 1, 5, 5, 3, 3, 1, 1, 1, 1, 0, 0, 0, 0},     /* output narrower than a panel */
    {1, 2, 8, 1, 4, 130, 1, 7, 1, 1, 1, 1, 0, 3, 0, 3},   /* 1x7 kernel, wide rows */
    {1, 3, 4, 1, 8, 9, 3, 3, 3, 3, 1, 1, 1, 1, 1, 1},     /* stride 3: the generic gather */
    {1, 8, 24, 1, 6, 6, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0},    /* pointwise */
    /* pointwise, B packed by the kernel (1 and 2 threads): K in two chunks, 13
     * rows (a short row panel), 340 columns (two tiles, a short panel) */
    {2, 500, 13, 1, 20, 17, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0},
    {1, 12, 10, 2, 9, 31, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0},  /* grouped pointwise */
    {1, 6, 6, 6, 11, 13, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1},   /* depthwise */
    {2, 4, 8, 4, 9, 10, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1},    /* depthwise x2, stride 2 */
    {1, 300, 20, 1, 5, 7, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1},  /* K over one chunk */
    {1, 8, 8, 8, 13, 41, 5, 5, 2, 2, 1, 1, 2, 1, 2, 3},   /* depthwise 5x5 s2, rows > 16 */
    {1, 16, 16, 16, 20, 35, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1}, /* depthwise, 3 vector runs per row */
    /* depthwise tall enough for the 8-row tiles, with rows left over */
    {1, 5, 5, 5, 40, 19, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1},   /* 3x3 stride 2 */
    {1, 4, 8, 4, 37, 23, 5, 5, 1, 1, 1, 1, 2, 2, 2, 2},   /* 5x5, two outputs per channel */
    {1, 3, 3, 3, 45, 50, 5, 5, 2, 2, 1, 1, 2, 1, 2, 2},   /* 5x5 stride 2, uneven pads */
    {1, 2, 2, 2, 30, 17, 3, 3, 1, 1, 1, 1, 0, 0, 0, 0},   /* no padding */
    {1, 2, 2, 2, 31, 17, 3, 3, 2, 2, 1, 1, 0, 0, 1, 1},   /* stride 2, padding bottom-right only */
    {1, 4, 4, 4, 13, 13, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1},   /* 13 rows: tiles of 8, 4 and 1 */
    {1, 2, 2, 2, 3, 13, 3, 3, 1, 1, 1, 1, 2, 1, 2, 1},    /* rows wholly in the padding */
    {1, 1, 1, 1, 2, 2100, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1},  /* wider than the zero row */
};

#if defined(__x86_64__)
#include <immintrin.h>

#include "backends/cpu/act512.h"

__attribute__((target("avx512f"))) static void sigmoid16(const float *x, float *y)
{
    _mm512_storeu_ps(y, cvm_sigmoid512(_mm512_loadu_ps(x)));
}

__attribute__((target("avx512f"))) static void gelu16(const float *x, float *y)
{
    _mm512_storeu_ps(y, cvm_gelu512(_mm512_loadu_ps(x)));
}
#endif

/* The in-register sigmoid of the fused SiLU against double precision: the
 * absolute error stays within 2e-7 and, down to -80 where the result is
 * tiny, the relative error within 1e-6; infinities give 0 and 1, NaN stays
 * NaN, and no result is a denormal. */
static void test_sigmoid512_accuracy(void **st)
{
    (void)st;
#if defined(__x86_64__)
    if (!__builtin_cpu_supports("avx512f"))
        skip();
    double max_abs = 0.0, max_rel = 0.0;
    float x[16], y[16];
    for (int64_t i = -1600000; i < 1600000; i += 16) {
        for (int l = 0; l < 16; l++)
            x[l] = (float)(i + l) * 1e-4f * ((i + l) % 7 == 0 ? 8.0f : 1.0f); /* to +-1280 */
        sigmoid16(x, y);
        for (int l = 0; l < 16; l++) {
            double want = 1.0 / (1.0 + exp(-(double)x[l]));
            double d = fabs((double)y[l] - want);
            assert_true(fpclassify(y[l]) != FP_SUBNORMAL);
            if (d > max_abs)
                max_abs = d;
            if (x[l] >= -80.0f && d / want > max_rel)
                max_rel = d / want;
        }
    }
    assert_true(max_abs <= 2e-7);
    assert_true(max_rel <= 1e-6);
    for (int l = 0; l < 16; l++)
        x[l] = l % 4 == 0 ? INFINITY : l % 4 == 1 ? -INFINITY : l % 4 == 2 ? NAN : -87.5f;
    sigmoid16(x, y);
    for (int l = 0; l < 16; l++) {
        if (l % 4 == 0)
            assert_true(y[l] == 1.0f);
        else if (l % 4 == 2)
            assert_true(isnan(y[l]));
        else
            assert_true(y[l] >= 0.0f && y[l] < 1e-37f && fpclassify(y[l]) != FP_SUBNORMAL);
    }
#else
    skip();
#endif
}

/* The in-register GELU of FusedMatMul against x/2 (1 + erf(x / sqrt 2)) in
 * double: the error stays within 3e-7 max(1, |x|) (about 2.5 float ulps) from
 * -1000 to 1000
 * (where erf saturates, too), very negative inputs give -0 or tiny
 * negatives, never positives, +inf gives +inf and NaN stays NaN. */
static void test_gelu512_accuracy(void **st)
{
    (void)st;
#if defined(__x86_64__)
    if (!__builtin_cpu_supports("avx512f"))
        skip();
    double worst = 0.0;
    float x[16], y[16];
    for (int64_t i = -1000000; i < 1000000; i += 16) {
        for (int l = 0; l < 16; l++)
            x[l] = (float)(i + l) * 1e-5f * ((i + l) % 11 == 0 ? 100.0f : 1.0f);
        gelu16(x, y);
        for (int l = 0; l < 16; l++) {
            double v = x[l], want = 0.5 * v * (1.0 + erf(v / sqrt(2.0)));
            double d = fabs((double)y[l] - want) / fmax(1.0, fabs(v));
            if (d > worst)
                worst = d;
            if (v < 0)
                assert_true(y[l] <= 0.0f);
        }
    }
    assert_true(worst <= 3e-7);
    for (int l = 0; l < 16; l++)
        x[l] = l % 3 == 0 ? INFINITY : l % 3 == 1 ? NAN : -3e38f;
    gelu16(x, y);
    for (int l = 0; l < 16; l++) {
        if (l % 3 == 0)
            assert_true(y[l] == INFINITY);
        else if (l % 3 == 1)
            assert_true(isnan(y[l]));
        else
            assert_true(y[l] <= 0.0f && y[l] > -1e-30f);
    }
#else
    skip();
#endif
}

static void test_conv_gather_odd_shapes(void **st)
{
    (void)st;
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        run_case(&shapes[i], (int)(i & 1), -1, 0, 0, pool2);
        run_case(&shapes[i], (int)!(i & 1), -1, 0, 0, NULL);
    }
}

static void test_fused_conv_epilogues(void **st)
{
    (void)st;
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
        for (int act = CVM_FUSED_NONE; act <= CVM_FUSED_CLIP; act++)
            for (int res = 0; res < 4; res++) {
                if (res == 0 && act == CVM_FUSED_NONE)
                    continue;
                int add_first = (int)((i + (size_t)act + (size_t)res) & 1);
                run_case(&shapes[i], (act + res) & 1, act, res, add_first,
                         (act & 1) ? pool2 : NULL);
            }
}

/* 3x3 stride-1 layers with at least 8 channels each way take the Winograd
 * F(4x4,3x3) path on AVX-512 machines: extents that are not multiples of
 * the 4x4 tile, tile rows narrower and wider than the 16-tile vectors and
 * the 32-tile blocks, asymmetric and zero padding, more input channels
 * than one GEMM K chunk, a batch of 2, output channels that do not fill
 * the last 8-row panel, and a last block of 16 tiles or fewer (multiplied
 * as a 16-column panel). */
static const conv2d wino_shapes[] = {
    /* N C   M   G  H   W   KH KW SH SW DH DW PT PL PB PR */
    {1, 8, 8, 1, 13, 13, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1},  /* 16 tiles, the last row and column partial */
    {2, 9, 13, 1, 23, 70, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1},
    {1, 16, 24, 1, 7, 129, 3, 3, 1, 1, 1, 1, 0, 2, 1, 0},
    {1, 12, 40, 1, 37, 5, 3, 3, 1, 1, 1, 1, 2, 0, 0, 2},
    {1, 300, 17, 1, 17, 19, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1},
    {1, 32, 64, 1, 40, 40, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1},
    {1, 10, 8, 1, 18, 18, 3, 3, 1, 1, 1, 1, 0, 0, 0, 0}, /* no padding */
    {1, 64, 24, 1, 40, 40, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1}, /* 100 tiles: 3 blocks and 4 tiles */
    {2, 8, 17, 1, 16, 17, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1},  /* 20 tiles per image, one block */
    /* one block whose transformed weights exceed 512 KiB: on two threads
     * its output channels are shared out (64->72), or first its input
     * channels (160->72), not its tile groups */
    {1, 64, 72, 1, 18, 18, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1},
    {1, 160, 72, 1, 18, 18, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1},
    /* equal shares of columns x channel panels on two threads: 12 blocks
     * and 16 tiles (a block split by channels between the workers), and
     * three images of a block and 4 tiles (a share across images) */
    {1, 8, 20, 1, 80, 80, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1},
    {3, 16, 20, 1, 24, 24, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1},
    /* one block shared by input channels on two threads, then by output
     * channels (the 18x18 160->72 and 300-channel shapes above take the
     * same path), here with 391 channels, packed as weight chunks of 196
     * and 195 and cut by the halves one channel into the second chunk */
    {1, 391, 20, 1, 17, 18, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1},
};

/* 3x3 layers with at least 32 input channels and an input within 2 MB take
 * the direct kernel (output channels in the lanes) where Winograd does
 * not: stride 2, and stride 1 under 16 tiles.  Odd extents (the last
 * pixel's right tap and the bottom row in the padding), a one-pixel-wide
 * output (both edge taps in one pixel), padding only at the bottom and
 * right or two rows at the top, rows cut into several tiles, output
 * channels that end in a half (<= 16) or partial panel, and a batch of 2. */
static const conv2d direct_shapes[] = {
    /* N C   M   G  H   W   KH KW SH SW DH DW PT PL PB PR */
    {1, 64, 32, 1, 20, 20, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1},
    {2, 32, 48, 1, 17, 31, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1},
    {1, 40, 40, 1, 10, 10, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1},
    {1, 33, 16, 1, 3, 50, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1},
    {1, 32, 8, 1, 9, 1, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1},
    {1, 32, 20, 1, 12, 26, 3, 3, 2, 2, 1, 1, 0, 0, 1, 1},
    {1, 32, 16, 1, 8, 8, 3, 3, 1, 1, 1, 1, 2, 1, 0, 1},
    {1, 96, 72, 1, 26, 50, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1},
};

static void test_conv_direct(void **st)
{
    (void)st;
    for (size_t i = 0; i < sizeof direct_shapes / sizeof direct_shapes[0]; i++) {
        run_case(&direct_shapes[i], (int)(i & 1), -1, 0, 0, pool2);
        run_case(&direct_shapes[i], (int)!(i & 1), -1, 0, 0, NULL);
        run_case(&direct_shapes[i], 1, CVM_FUSED_SILU, 1, 0, pool2);
        run_case(&direct_shapes[i], 0, CVM_FUSED_RELU, 3, 1, NULL);
        run_case(&direct_shapes[i], 1, CVM_FUSED_NONE, 2, 0, pool2);
    }
}

static void test_conv_winograd(void **st)
{
    (void)st;
    for (size_t i = 0; i < sizeof wino_shapes / sizeof wino_shapes[0]; i++) {
        run_case(&wino_shapes[i], (int)(i & 1), -1, 0, 0, pool2);
        run_case(&wino_shapes[i], (int)!(i & 1), -1, 0, 0, NULL);
        run_case(&wino_shapes[i], 1, CVM_FUSED_SILU, 1, 0, pool2);
        /* a full residual added before the activation */
        run_case(&wino_shapes[i], 0, CVM_FUSED_SILU, 1, 1, (i & 1) ? pool2 : NULL);
        run_case(&wino_shapes[i], 0, CVM_FUSED_RELU, 3, 1, NULL);
        run_case(&wino_shapes[i], 1, CVM_FUSED_NONE, 2, 0, pool2);
    }
    /* three workers: shares in thirds, one block's input channels in thirds */
    cvm_threadpool *pool3;
    assert_int_equal(cvm_threadpool_create(3, &pool3), CVM_OK);
    for (size_t i = 0; i < sizeof wino_shapes / sizeof wino_shapes[0]; i++)
        run_case(&wino_shapes[i], 1, CVM_FUSED_SILU, 1, 0, pool3);
    cvm_threadpool_free(pool3);
}

static void test_fused_conv_errors(void **st)
{
    (void)st;
    int64_t xd[4] = {1, 2, 5, 5}, wd[4] = {3, 2, 3, 3}, rd[4] = {1, 3, 4, 4};
    cvm_tensor *in[4] = {tens(4, xd), tens(4, wd), NULL, tens(4, rd)}, *out[1] = {NULL};
    memset(in[0]->data, 0, in[0]->nbytes);
    memset(in[1]->data, 0, in[1]->nbytes);
    memset(in[3]->data, 0, in[3]->nbytes);
    cvm_graph *g = one_node("FusedConv", CVM_FUSED_DOMAIN, 4, 1);
    g->nodes[0].in[2] = -1;
    set_str(&g->nodes[0], "activation", "SiLU");
    /* the residual [1,3,4,4] does not fit the output [1,3,3,3] */
    assert_int_not_equal(cvm_node_eval(&g->nodes[0], 17, 4, (const cvm_tensor *const *)in, 1, out,
                                       NULL), CVM_OK);
    assert_non_null(strstr(cvm_last_error(), "residual"));
    cvm_graph_free(g);
    g = one_node("FusedConv", CVM_FUSED_DOMAIN, 2, 1);
    set_str(&g->nodes[0], "activation", "Swish2");
    assert_int_not_equal(cvm_node_eval(&g->nodes[0], 17, 2, (const cvm_tensor *const *)in, 1, out,
                                       NULL), CVM_OK);
    assert_non_null(strstr(cvm_last_error(), "Swish2"));
    cvm_graph_free(g);
    for (int i = 0; i < 4; i++)
        cvm_tensor_free(in[i]);
}

static void naive_maxpool(const float *x, float *y, int64_t P, int64_t H, int64_t W, int64_t OH,
                          int64_t OW, int64_t K, int64_t S, int64_t pad)
{
    for (int64_t p = 0; p < P; p++)
        for (int64_t oh = 0; oh < OH; oh++)
            for (int64_t ow = 0; ow < OW; ow++) {
                float m = -INFINITY;
                for (int64_t a = 0; a < K; a++)
                    for (int64_t b = 0; b < K; b++) {
                        int64_t ih = oh * S - pad + a, iw = ow * S - pad + b;
                        if (ih >= 0 && ih < H && iw >= 0 && iw < W && x[(p * H + ih) * W + iw] > m)
                            m = x[(p * H + ih) * W + iw];
                    }
                y[(p * OH + oh) * OW + ow] = m;
            }
}

static void test_maxpool_separable(void **st)
{
    (void)st;
    static const int64_t cases[][6] = {
        /* C H W K S pad (ceil_mode for the last one) */
        {3, 20, 20, 5, 1, 2}, {2, 9, 13, 3, 2, 1}, {4, 8, 7, 2, 2, 0}, {1, 5, 6, 3, 1, 0},
        {2, 7, 11, 3, 2, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int64_t C = cases[i][0], H = cases[i][1], W = cases[i][2], K = cases[i][3];
        int64_t S = cases[i][4], pad = cases[i][5];
        int ceil_mode = i == 4;
        int64_t OH = (H + 2 * pad - K + (ceil_mode ? S - 1 : 0)) / S + 1;
        int64_t OW = (W + 2 * pad - K + (ceil_mode ? S - 1 : 0)) / S + 1;
        int64_t xd[4] = {1, C, H, W}, yd[4] = {1, C, OH, OW};
        cvm_tensor *in[1] = {tens(4, xd)}, *out[1] = {NULL};
        unsigned seed = (unsigned)(i + 5);
        fill_rand(in[0]->data, cvm_tensor_numel(in[0]), &seed);
        cvm_graph *g = one_node("MaxPool", "", 1, 1);
        int64_t ks[2] = {K, K}, ss[2] = {S, S}, pads[4] = {pad, pad, pad, pad};
        set_ints(&g->nodes[0], "kernel_shape", 2, ks);
        set_ints(&g->nodes[0], "strides", 2, ss);
        set_ints(&g->nodes[0], "pads", 4, pads);
        if (ceil_mode)
            set_int(&g->nodes[0], "ceil_mode", 1);
        assert_int_equal(cvm_node_eval(&g->nodes[0], 12, 1, (const cvm_tensor *const *)in, 1, out,
                                       i & 1 ? pool2 : NULL), CVM_OK);
        for (int d = 0; d < 4; d++)
            assert_int_equal(out[0]->dims[d], yd[d]);
        cvm_tensor *ref = tens(4, yd);
        naive_maxpool(in[0]->data, ref->data, C, H, W, OH, OW, K, S, pad);
        expect_close(out[0]->data, ref->data, cvm_tensor_numel(ref), 0.0f);
        cvm_tensor_free(ref);
        cvm_tensor_free(in[0]);
        cvm_tensor_free(out[0]);
        cvm_graph_free(g);
    }
}

/* -------------------------------------------------------- fusion pass */

static int val(cvm_graph *g, const char *name)
{
    int v;
    assert_int_equal(cvm_graph_value(g, name, &v), CVM_OK);
    return v;
}

static void node(cvm_graph *g, const char *op, int n_in, const char *const *in, const char *out)
{
    int iv[6], o = val(g, out);
    for (int i = 0; i < n_in; i++)
        iv[i] = in[i] ? val(g, in[i]) : -1;
    int idx;
    assert_int_equal(cvm_graph_add_node(g, op, "", out, n_in, iv, 1, &o, &idx), CVM_OK);
    g->nodes[idx].opset = 13;
}

/* A graph whose one input "x" is float32 of the given shape. */
static cvm_graph *input_graph(int ndim, const int64_t *xd)
{
    cvm_graph *g;
    assert_int_equal(cvm_graph_create(&g), CVM_OK);
    int x = val(g, "x");
    g->values[x].dtype = CVM_DTYPE_FLOAT32;
    g->values[x].ndim = ndim;
    for (int d = 0; d < ndim; d++)
        g->values[x].dims[d].value = xd[d];
    g->inputs = malloc(sizeof(int));
    g->inputs[g->n_inputs++] = x;
    return g;
}

/* Appends value `name` to the graph's outputs. */
static void add_output(cvm_graph *g, const char *name)
{
    int *o = realloc(g->outputs, sizeof(int) * (size_t)(g->n_outputs + 1));
    assert_non_null(o);
    g->outputs = o;
    g->outputs[g->n_outputs++] = val(g, name);
}

static void constant(cvm_graph *g, const char *name, int ndim, const int64_t *dims, unsigned seed,
                     float lo)
{
    int v = val(g, name);
    assert_int_equal(cvm_tensor_create(CVM_DTYPE_FLOAT32, ndim, dims, &g->values[v].init), CVM_OK);
    float *d = g->values[v].init->data;
    fill_rand(d, cvm_tensor_numel(g->values[v].init), &seed);
    for (int64_t i = 0; i < cvm_tensor_numel(g->values[v].init); i++)
        d[i] = lo > 0 ? lo + fabsf(d[i]) : d[i];
}

/*   a = SiLU(BN(Conv(x))) + Conv(x)       fused: BN folded, SiLU, residual
 *   b = Relu(Conv(a) + a)                 fused: add_first, Relu
 *   c = Conv(b), also a graph output      not fused with its Sigmoid
 *   y = Sigmoid(c) * b                    Mul not of the SiLU form */
static cvm_graph *pass_graph(void)
{
    int64_t xd[4] = {1, 4, 9, 12};
    cvm_graph *g = input_graph(4, xd);
    int64_t w4[4] = {4, 4, 3, 3}, c4 = 4;
    constant(g, "w1", 4, w4, 1, 0);
    constant(g, "b1", 1, &c4, 2, 0);
    constant(g, "w2", 4, w4, 3, 0);
    constant(g, "w3", 4, w4, 4, 0);
    constant(g, "w4", 4, w4, 5, 0);
    constant(g, "scale", 1, &c4, 6, 0);
    constant(g, "shift", 1, &c4, 7, 0);
    constant(g, "mean", 1, &c4, 8, 0);
    constant(g, "var", 1, &c4, 9, 0.5f);
    node(g, "Conv", 3, (const char *[]){"x", "w1", "b1"}, "c1");
    node(g, "BatchNormalization", 5, (const char *[]){"c1", "scale", "shift", "mean", "var"}, "bn");
    node(g, "Sigmoid", 1, (const char *[]){"bn"}, "sg");
    node(g, "Mul", 2, (const char *[]){"sg", "bn"}, "silu");
    node(g, "Conv", 2, (const char *[]){"x", "w2"}, "c2");
    node(g, "Add", 2, (const char *[]){"silu", "c2"}, "a");
    node(g, "Conv", 2, (const char *[]){"a", "w3"}, "c3");
    node(g, "Add", 2, (const char *[]){"a", "c3"}, "s3");
    node(g, "Relu", 1, (const char *[]){"s3"}, "b");
    node(g, "Conv", 2, (const char *[]){"b", "w4"}, "c");
    node(g, "Sigmoid", 1, (const char *[]){"c"}, "sc");
    node(g, "Mul", 2, (const char *[]){"sc", "b"}, "y");
    for (int i = 0; i < g->n_nodes; i++)
        if (strcmp(g->nodes[i].op_type, "Conv") == 0) {
            int64_t pads[4] = {1, 1, 1, 1};
            set_ints(&g->nodes[i], "pads", 4, pads);
        }
    add_output(g, "y");
    add_output(g, "c");
    return g;
}

static void test_fusion_pass(void **st)
{
    (void)st;
    cvm_graph *g = pass_graph();
    assert_int_equal(cvm_graph_fuse(g), CVM_OK);
    int fused = 0, convs = 0;
    for (int i = 0; i < g->n_nodes; i++) {
        const cvm_node *n = &g->nodes[i];
        assert_true(strcmp(n->op_type, "BatchNormalization") != 0 && strcmp(n->op_type, "Relu") != 0);
        fused += strcmp(n->op_type, "FusedConv") == 0;
        convs += strcmp(n->op_type, "Conv") == 0;
    }
    /* c2 and c stay plain convolutions, c1 and c3 absorb their chains */
    assert_int_equal(fused, 2);
    assert_int_equal(convs, 2);
    assert_int_equal(g->n_nodes, 6);
    cvm_graph_free(g);

    /* The fused graph computes what the unfused one does. */
    cvm_session_options o;
    cvm_session_options_init(&o);
    cvm_session *s[2];
    for (int k = 0; k < 2; k++) {
        o.optimize = k;
        o.threads = 1 + k;
        assert_int_equal(cvm_session_create_from_graph(pass_graph(), &o, &s[k]), CVM_OK);
    }
    int64_t xd[4] = {1, 4, 9, 12};
    cvm_tensor *x = tens(4, xd), *y[2][2];
    unsigned seed = 11;
    fill_rand(x->data, cvm_tensor_numel(x), &seed);
    const char *name = "x";
    for (int k = 0; k < 2; k++)
        assert_int_equal(cvm_session_run(s[k], 1, &name, (const cvm_tensor *const *)&x, 2, NULL,
                                         y[k]), CVM_OK);
    for (int j = 0; j < 2; j++)
        expect_close(y[1][j]->data, y[0][j]->data, cvm_tensor_numel(y[0][j]), 1e-5f);
    for (int k = 0; k < 2; k++) {
        cvm_tensor_free(y[k][0]);
        cvm_tensor_free(y[k][1]);
        cvm_session_free(s[k]);
    }
    cvm_tensor_free(x);
}

/* x [1,4,6,10] -> Transpose(P) -> (Log)Softmax(axis) -> Transpose(Q) -> y, for
 * (P, Q) pairs whose composition is the identity or a row-keeping
 * permutation (YOLOv8's DFL head), and an opset-11 Softmax; the pass must
 * leave one softmax (and at most one transpose) computing the same y. */
static cvm_graph *softmax_graph(const int64_t *P, const int64_t *Q, const char *op, int opset,
                                int64_t axis)
{
    int64_t xd[4] = {1, 4, 6, 10};
    cvm_graph *g = input_graph(4, xd);
    node(g, "Transpose", 1, (const char *[]){"x"}, "t1");
    set_ints(&g->nodes[0], "perm", 4, P);
    node(g, op, 1, (const char *[]){"t1"}, "s");
    g->nodes[1].opset = opset;
    set_int(&g->nodes[1], "axis", axis);
    node(g, "Transpose", 1, (const char *[]){"s"}, "y");
    set_ints(&g->nodes[2], "perm", 4, Q);
    add_output(g, "y");
    return g;
}

static void test_transposed_softmax(void **st)
{
    (void)st;
    static const struct {
        int64_t P[4], Q[4];
        const char *op;
        int opset;
        int64_t axis;
        int nodes_left;
    } cases[] = {
        {{0, 3, 1, 2}, {0, 3, 2, 1}, "Softmax", 13, -1, 2},    /* YOLOv8 DFL: R = (0,2,1,3) */
        {{0, 2, 3, 1}, {0, 3, 1, 2}, "LogSoftmax", 13, 1, 1},  /* inverse pair: one softmax */
        {{0, 3, 1, 2}, {0, 2, 3, 1}, "Softmax", 11, 3, 1},     /* old opset, last axis */
        {{0, 3, 1, 2}, {0, 2, 3, 1}, "Softmax", 11, 2, 3},     /* old opset, flattening: kept */
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        cvm_graph *g = softmax_graph(cases[c].P, cases[c].Q, cases[c].op, cases[c].opset,
                                     cases[c].axis);
        assert_int_equal(cvm_graph_fuse(g), CVM_OK);
        assert_int_equal(g->n_nodes, cases[c].nodes_left);
        cvm_graph_free(g);
        cvm_session_options o;
        cvm_session_options_init(&o);
        cvm_session *s[2];
        for (int k = 0; k < 2; k++) {
            o.optimize = k;
            assert_int_equal(cvm_session_create_from_graph(
                                 softmax_graph(cases[c].P, cases[c].Q, cases[c].op,
                                               cases[c].opset, cases[c].axis),
                                 &o, &s[k]),
                             CVM_OK);
        }
        int64_t xd[4] = {1, 4, 6, 10};
        cvm_tensor *x = tens(4, xd), *y[2];
        unsigned seed = 5 + (unsigned)c;
        fill_rand(x->data, cvm_tensor_numel(x), &seed);
        const char *name = "x";
        for (int k = 0; k < 2; k++)
            assert_int_equal(cvm_session_run(s[k], 1, &name, (const cvm_tensor *const *)&x, 1,
                                             NULL, &y[k]), CVM_OK);
        assert_int_equal(y[0]->ndim, y[1]->ndim);
        for (int d = 0; d < y[0]->ndim; d++)
            assert_int_equal(y[0]->dims[d], y[1]->dims[d]);
        expect_close(y[1]->data, y[0]->data, cvm_tensor_numel(y[0]), 1e-6f);
        for (int k = 0; k < 2; k++) {
            cvm_tensor_free(y[k]);
            cvm_session_free(s[k]);
        }
        cvm_tensor_free(x);
    }
}

static void scalar_const(cvm_graph *g, const char *name, float v)
{
    int id = val(g, name);
    int64_t one = 1;
    assert_int_equal(cvm_tensor_create(CVM_DTYPE_FLOAT32, 1, &one, &g->values[id].init), CVM_OK);
    *(float *)g->values[id].init->data = v;
}

/* y = 0.5 * (x * (1 + Erf(x / sqrt 2))) written as exporters do, in two
 * operand orders and with x * (1/sqrt 2); `one` other than 1 must not match. */
static cvm_graph *gelu_graph(int variant, float one)
{
    int64_t xd[2] = {3, 37};
    cvm_graph *g = input_graph(2, xd);
    scalar_const(g, "c", variant == 1 ? 0.70710678f : 1.41421356f);
    scalar_const(g, "one", one);
    scalar_const(g, "half", 0.5f);
    node(g, variant == 1 ? "Mul" : "Div", 2, (const char *[]){"x", "c"}, "d");
    node(g, "Erf", 1, (const char *[]){"d"}, "e");
    if (variant == 2) {
        node(g, "Add", 2, (const char *[]){"one", "e"}, "a");
        node(g, "Mul", 2, (const char *[]){"a", "x"}, "m");
        node(g, "Mul", 2, (const char *[]){"half", "m"}, "y");
    } else {
        node(g, "Add", 2, (const char *[]){"e", "one"}, "a");
        node(g, "Mul", 2, (const char *[]){"x", "a"}, "m");
        node(g, "Mul", 2, (const char *[]){"m", "half"}, "y");
    }
    add_output(g, "y");
    return g;
}

static void test_gelu_fusion(void **st)
{
    (void)st;
    for (int variant = 0; variant < 4; variant++) {
        float one = variant == 3 ? 2.0f : 1.0f; /* variant 3: not a GELU */
        cvm_graph *g = gelu_graph(variant, one);
        assert_int_equal(cvm_graph_fuse(g), CVM_OK);
        assert_int_equal(g->n_nodes, variant == 3 ? 5 : 1);
        if (variant != 3)
            assert_string_equal(g->nodes[0].op_type, "Gelu");
        cvm_graph_free(g);
        cvm_session_options o;
        cvm_session_options_init(&o);
        cvm_session *s[2];
        for (int k = 0; k < 2; k++) {
            o.optimize = k;
            assert_int_equal(cvm_session_create_from_graph(gelu_graph(variant, one), &o, &s[k]),
                             CVM_OK);
        }
        int64_t xd[2] = {3, 37};
        cvm_tensor *x = tens(2, xd), *y[2];
        float *xv = x->data;
        for (int i = 0; i < 3 * 37; i++)
            xv[i] = (float)(i - 55) * 0.11f; /* -6 .. 6 */
        const char *name = "x";
        for (int k = 0; k < 2; k++)
            assert_int_equal(cvm_session_run(s[k], 1, &name, (const cvm_tensor *const *)&x, 1,
                                             NULL, &y[k]), CVM_OK);
        expect_close(y[1]->data, y[0]->data, 3 * 37, 1e-6f);
        for (int k = 0; k < 2; k++) {
            cvm_tensor_free(y[k]);
            cvm_session_free(s[k]);
        }
        cvm_tensor_free(x);
    }
}

/* y = act(x[2,M,K] @ W[K,N] + b[N]) for act in {none, Relu, SiLU, GELU}:
 * fused into one FusedMatMul, same values as unfused.  shared: W and b reach
 * the MatMul and Add through Identity nodes, as exporters write weights
 * shared between layers. */
static cvm_graph *linear_graph(int64_t M, int64_t K, int64_t N, int act, int bias_first,
                               int shared)
{
    int64_t xd[3] = {2, M, K};
    cvm_graph *g = input_graph(3, xd);
    int64_t wd[2] = {K, N}, bd[2] = {1, N};
    constant(g, "w", 2, wd, 3, 0);
    constant(g, "b", 2, bd, 4, 0);
    const char *w = "w", *b = "b";
    if (shared) {
        node(g, "Identity", 1, (const char *[]){"w"}, "w_shared");
        node(g, "Identity", 1, (const char *[]){"b"}, "b_shared");
        w = "w_shared";
        b = "b_shared";
    }
    node(g, "MatMul", 2, (const char *[]){"x", w}, "mm");
    if (bias_first)
        node(g, "Add", 2, (const char *[]){b, "mm"}, act ? "lin" : "y");
    else
        node(g, "Add", 2, (const char *[]){"mm", b}, act ? "lin" : "y");
    if (act == 1)
        node(g, "Relu", 1, (const char *[]){"lin"}, "y");
    if (act == 2) {
        node(g, "Sigmoid", 1, (const char *[]){"lin"}, "sg");
        node(g, "Mul", 2, (const char *[]){"lin", "sg"}, "y");
    }
    if (act == 3) {
        node(g, "Gelu", 1, (const char *[]){"lin"}, "y");
        g->nodes[g->n_nodes - 1].opset = 20;
    }
    add_output(g, "y");
    return g;
}

static void test_linear_fusion(void **st)
{
    (void)st;
    static const int64_t shapes[][3] = {{1, 7, 5}, {9, 37, 45}, {33, 300, 70}};
    for (size_t si = 0; si < 3; si++)
        for (int act = 0; act < 4; act++) {
            int64_t M = shapes[si][0], K = shapes[si][1], N = shapes[si][2];
            int shared = (int)(si + (size_t)act) & 1;
            cvm_graph *g = linear_graph(M, K, N, act, act & 1, shared);
            assert_int_equal(cvm_graph_fuse(g), CVM_OK);
            assert_int_equal(g->n_nodes, 1);
            assert_string_equal(g->nodes[0].op_type, "FusedMatMul");
            cvm_graph_free(g);
            cvm_session_options o;
            cvm_session_options_init(&o);
            cvm_session *s[2];
            for (int k = 0; k < 2; k++) {
                o.optimize = k;
                o.threads = 1 + k;
                assert_int_equal(cvm_session_create_from_graph(
                                     linear_graph(M, K, N, act, act & 1, shared), &o, &s[k]),
                                 CVM_OK);
            }
            int64_t xd[3] = {2, M, K};
            cvm_tensor *x = tens(3, xd), *y[2];
            unsigned seed = 17 + (unsigned)act;
            fill_rand(x->data, cvm_tensor_numel(x), &seed);
            const char *name = "x";
            for (int k = 0; k < 2; k++)
                assert_int_equal(cvm_session_run(s[k], 1, &name, (const cvm_tensor *const *)&x, 1,
                                                 NULL, &y[k]), CVM_OK);
            assert_int_equal(cvm_tensor_numel(y[0]), 2 * M * N);
            expect_close(y[1]->data, y[0]->data, 2 * M * N, 1e-5f);
            for (int k = 0; k < 2; k++) {
                cvm_tensor_free(y[k]);
                cvm_session_free(s[k]);
            }
            cvm_tensor_free(x);
        }
}

/* Runs two copies of a graph with input "x" of shape xd, one planned
 * without the fusion passes and one with them, on the same random input;
 * the outputs must agree within 1e-5.  Takes both graphs. */
static void expect_fused_matches(cvm_graph *plain, cvm_graph *fused, const int64_t xd[4], unsigned seed)
{
    cvm_session_options o;
    cvm_session_options_init(&o);
    cvm_session *ss[2];
    cvm_graph *gs[2] = {plain, fused};
    for (int k = 0; k < 2; k++) {
        o.optimize = k;
        assert_int_equal(cvm_session_create_from_graph(gs[k], &o, &ss[k]), CVM_OK);
    }
    cvm_tensor *x = tens(4, xd), *y[2];
    fill_rand(x->data, cvm_tensor_numel(x), &seed);
    const char *name = "x";
    for (int k = 0; k < 2; k++)
        assert_int_equal(cvm_session_run(ss[k], 1, &name, (const cvm_tensor *const *)&x, 1, NULL, &y[k]),
                         CVM_OK);
    expect_close(y[1]->data, y[0]->data, cvm_tensor_numel(y[0]), 1e-5f);
    for (int k = 0; k < 2; k++) {
        cvm_tensor_free(y[k]);
        cvm_session_free(ss[k]);
    }
    cvm_tensor_free(x);
}

/* PaddleOCR's conv block: Conv -> Mul(scale) -> Add(shift) -> HardSwish
 * written out as v * Clip(v + 3, 0, 6) / 6 (variant 1: * (1/6) and an
 * opset-11 Clip with min/max inputs; variant 2: a Clip to 0..5, which is
 * not HardSwish: the affine still folds, the rest stays). */
static cvm_graph *ocr_graph(int variant)
{
    int64_t xd[4] = {1, 3, 11, 9};
    cvm_graph *g = input_graph(4, xd);
    int64_t wd[4] = {8, 3, 3, 3}, c8 = 8;
    constant(g, "w", 4, wd, 21, 0);
    constant(g, "b", 1, &c8, 22, 0);
    scalar_const(g, "s", 1.7f);
    scalar_const(g, "t", -0.4f);
    scalar_const(g, "three", 3.0f);
    scalar_const(g, "zero", 0.0f);
    scalar_const(g, "six", variant == 2 ? 5.0f : 6.0f);
    scalar_const(g, "div", variant == 1 ? 1.0f / 6.0f : 6.0f);
    node(g, "Conv", 3, (const char *[]){"x", "w", "b"}, "c");
    int64_t pads[4] = {1, 1, 1, 1};
    set_ints(&g->nodes[0], "pads", 4, pads);
    node(g, "Mul", 2, (const char *[]){"s", "c"}, "cs");
    node(g, "Add", 2, (const char *[]){"cs", "t"}, "v");
    node(g, "Add", 2, (const char *[]){"v", "three"}, "v3");
    if (variant == 1) {
        node(g, "Clip", 3, (const char *[]){"v3", "zero", "six"}, "cl");
        g->nodes[g->n_nodes - 1].opset = 11;
    } else {
        node(g, "Clip", 1, (const char *[]){"v3"}, "cl");
        g->nodes[g->n_nodes - 1].opset = 9;
        set_float(&g->nodes[g->n_nodes - 1], "min", 0.0f);
        set_float(&g->nodes[g->n_nodes - 1], "max", variant == 2 ? 5.0f : 6.0f);
    }
    node(g, "Mul", 2, (const char *[]){"cl", "v"}, "m");
    node(g, variant == 1 ? "Mul" : "Div", 2, (const char *[]){"m", "div"}, "y");
    add_output(g, "y");
    return g;
}

static void test_affine_and_hardswish_fusion(void **st)
{
    (void)st;
    for (int variant = 0; variant < 3; variant++) {
        cvm_graph *g = ocr_graph(variant);
        assert_int_equal(cvm_graph_fuse(g), CVM_OK);
        /* the Mul and Add fold into the weights; HardSwish joins the conv */
        assert_int_equal(g->n_nodes, variant == 2 ? 5 : 1);
        if (variant != 2) {
            assert_string_equal(g->nodes[0].op_type, "FusedConv");
            assert_string_equal(cvm_attr_string(&g->nodes[0], "activation", ""), "HardSwish");
        }
        cvm_graph_free(g);
        int64_t xd[4] = {1, 3, 11, 9};
        expect_fused_matches(ocr_graph(variant), ocr_graph(variant), xd, 31 + (unsigned)variant);
    }
}

/* HGNetv2's block: Conv -> Relu -> Mul(s) -> Add(b).  With s > 0 the
 * affine joins the convolution as a Clip from b (s relu(x) + b =
 * max(s x + b, b)); with s < 0 it must stay (it is not a Clip then).  The
 * fused and unfused sessions agree either way. */
static cvm_graph *lab_graph(float scale)
{
    int64_t xd[4] = {1, 5, 9, 13};
    cvm_graph *g = input_graph(4, xd);
    int64_t wd[4] = {12, 5, 3, 3}, c12 = 12;
    constant(g, "w", 4, wd, 41, 0);
    constant(g, "b", 1, &c12, 42, 0);
    scalar_const(g, "s", scale);
    scalar_const(g, "t", -0.3f);
    node(g, "Conv", 3, (const char *[]){"x", "w", "b"}, "c");
    int64_t pads[4] = {1, 1, 1, 1};
    set_ints(&g->nodes[0], "pads", 4, pads);
    node(g, "Relu", 1, (const char *[]){"c"}, "r");
    node(g, "Mul", 2, (const char *[]){"r", "s"}, "rs");
    node(g, "Add", 2, (const char *[]){"t", "rs"}, "y");
    add_output(g, "y");
    return g;
}

static void test_relu_affine_fusion(void **st)
{
    (void)st;
    for (int neg = 0; neg < 2; neg++) {
        float scale = neg ? -0.8f : 1.3f;
        cvm_graph *g = lab_graph(scale);
        assert_int_equal(cvm_graph_fuse(g), CVM_OK);
        if (!neg) {
            assert_int_equal(g->n_nodes, 1);
            assert_string_equal(g->nodes[0].op_type, "FusedConv");
            assert_string_equal(cvm_attr_string(&g->nodes[0], "activation", ""), "Clip");
            assert_true(cvm_attr_float(&g->nodes[0], "alpha", 0.0f) == -0.3f);
        } else {
            assert_true(g->n_nodes > 1); /* the Mul and Add stay */
        }
        cvm_graph_free(g);
        int64_t xd[4] = {1, 5, 9, 13};
        expect_fused_matches(lab_graph(scale), lab_graph(scale), xd, 5 + (unsigned)neg);
    }
}

/* YOLOv8's class scores: Sigmoid(Concat(Reshape(Conv 1x1), Reshape(Conv
 * 3x3 stride 2))), both reshaped to [1, 6, -1].  The sigmoid goes into
 * both convolutions as their activation and the Concat writes y; when the
 * second convolution already ends in a Relu (variant 1) nothing moves. */
static cvm_graph *score_graph(int variant)
{
    int64_t xd[4] = {1, 5, 8, 8};
    cvm_graph *g = input_graph(4, xd);
    int64_t w1d[4] = {6, 5, 1, 1}, w2d[4] = {6, 5, 3, 3}, c6 = 6, three = 3;
    constant(g, "w1", 4, w1d, 51, 0);
    constant(g, "b1", 1, &c6, 52, 0);
    constant(g, "w2", 4, w2d, 53, 0);
    int sv = val(g, "shape");
    assert_int_equal(cvm_tensor_create(CVM_DTYPE_INT64, 1, &three, &g->values[sv].init), CVM_OK);
    int64_t *sh = g->values[sv].init->data;
    sh[0] = 1, sh[1] = 6, sh[2] = -1;
    node(g, "Conv", 3, (const char *[]){"x", "w1", "b1"}, "c1");
    node(g, "Conv", 2, (const char *[]){"x", "w2"}, "c2");
    int64_t pads[4] = {1, 1, 1, 1}, strides[2] = {2, 2};
    set_ints(&g->nodes[1], "pads", 4, pads);
    set_ints(&g->nodes[1], "strides", 2, strides);
    if (variant == 1)
        node(g, "Relu", 1, (const char *[]){"c2"}, "c2r");
    node(g, "Reshape", 2, (const char *[]){"c1", "shape"}, "r1");
    node(g, "Reshape", 2, (const char *[]){variant == 1 ? "c2r" : "c2", "shape"}, "r2");
    node(g, "Concat", 2, (const char *[]){"r1", "r2"}, "cat");
    set_int(&g->nodes[g->n_nodes - 1], "axis", 2);
    node(g, "Sigmoid", 1, (const char *[]){"cat"}, "y");
    add_output(g, "y");
    return g;
}

static void test_sigmoid_into_convs(void **st)
{
    (void)st;
    for (int variant = 0; variant < 2; variant++) {
        cvm_graph *g = score_graph(variant);
        assert_int_equal(cvm_graph_fuse(g), CVM_OK);
        int fused = 0, sigmoids = 0;
        for (int i = 0; i < g->n_nodes; i++) {
            if (strcmp(g->nodes[i].op_type, "Sigmoid") == 0)
                sigmoids++;
            if (strcmp(g->nodes[i].op_type, "FusedConv") == 0) {
                assert_string_equal(cvm_attr_string(&g->nodes[i], "activation", ""),
                                    variant == 0 ? "Sigmoid" : "Relu");
                fused++;
            }
        }
        assert_int_equal(sigmoids, variant == 0 ? 0 : 1);
        assert_int_equal(fused, variant == 0 ? 2 : 1); /* variant 1: the Conv -> Relu */
        cvm_graph_free(g);
        int64_t xd[4] = {1, 5, 8, 8};
        expect_fused_matches(score_graph(variant), score_graph(variant), xd, 61 + (unsigned)variant);
    }
}

/* YOLOv8's DFL box decode as exported: x [1, 4, 16, 10] -> Transpose(0, 3,
 * 1, 2) -> Softmax(axis 3) -> Transpose(0, 3, 2, 1) -> Conv(W [1, 16, 1, 1])
 * -> [1, 1, 4, 10].  The two transposes fold into the softmax's axis and
 * one Transpose, and that with the Conv into one SoftmaxDot; a Conv with a
 * bias (variant 1) stays as it is. */
static cvm_graph *dfl_graph(int variant)
{
    int64_t xd[4] = {1, 4, 16, 10};
    cvm_graph *g = input_graph(4, xd);
    int64_t wd[4] = {1, 16, 1, 1}, one = 1;
    constant(g, "w", 4, wd, 71, 0);
    constant(g, "b", 1, &one, 72, 0);
    node(g, "Transpose", 1, (const char *[]){"x"}, "t1");
    int64_t p1[4] = {0, 3, 1, 2}, p2[4] = {0, 3, 2, 1}, zeros[4] = {0, 0, 0, 0};
    set_ints(&g->nodes[0], "perm", 4, p1);
    node(g, "Softmax", 1, (const char *[]){"t1"}, "sm");
    set_int(&g->nodes[1], "axis", 3);
    node(g, "Transpose", 1, (const char *[]){"sm"}, "t2");
    set_ints(&g->nodes[2], "perm", 4, p2);
    node(g, "Conv", variant == 1 ? 3 : 2, (const char *[]){"t2", "w", "b"}, "y");
    set_ints(&g->nodes[3], "pads", 4, zeros);
    add_output(g, "y");
    return g;
}

/* The SoftmaxDot kernel against the formula in double: 16 bins (held in
 * registers on AVX-512) and 40 (the generic items), columns that end in a
 * partial vector and a partial 64-column block, a batch and several
 * groups, one bin, a NaN in one column (only that column turns NaN), on
 * one and two threads. */
static void test_softmax_dot_kernel(void **st)
{
    (void)st;
    static const int64_t shapes[][4] = {{2, 3, 16, 37}, {1, 2, 40, 70}, {1, 1, 1, 5}, {1, 4, 16, 130}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        for (int threads = 1; threads <= 2; threads++) {
            const int64_t *xd = shapes[s], K = xd[2], A = xd[3], outer = xd[0] * xd[1];
            int64_t wd[4] = {1, K, 1, 1};
            cvm_tensor *in[2] = {tens(4, xd), tens(4, wd)}, *out[1] = {NULL};
            unsigned seed = 91 + (unsigned)s;
            fill_rand(in[0]->data, cvm_tensor_numel(in[0]), &seed);
            fill_rand(in[1]->data, K, &seed);
            float *x = in[0]->data, *w = in[1]->data;
            for (int64_t i = 0; i < cvm_tensor_numel(in[0]); i++)
                x[i] = x[i] * 12.0f + 80.0f; /* e^x alone would overflow */
            if (s == 3)
                x[2 * A + 17] = NAN; /* outer 0, bin 2, column 17 */
            cvm_graph *g = one_node("SoftmaxDot", CVM_FUSED_DOMAIN, 2, 1);
            assert_int_equal(cvm_node_eval(&g->nodes[0], 17, 2, (const cvm_tensor *const *)in, 1,
                                           out, threads == 2 ? pool2 : NULL),
                             CVM_OK);
            assert_int_equal(out[0]->ndim, 4);
            assert_int_equal(out[0]->dims[1], 1);
            assert_int_equal(out[0]->dims[2], xd[1]);
            const float *y = out[0]->data;
            for (int64_t o = 0; o < outer; o++)
                for (int64_t a = 0; a < A; a++) {
                    double mx = -INFINITY, sum = 0.0, dot = 0.0;
                    for (int64_t k = 0; k < K; k++)
                        mx = fmax(mx, x[(o * K + k) * A + a]);
                    for (int64_t k = 0; k < K; k++) {
                        double e = exp(x[(o * K + k) * A + a] - mx);
                        sum += e;
                        dot += e * w[k];
                    }
                    float got = y[o * A + a];
                    if (s == 3 && o == 0 && a == 17) {
                        assert_true(isnan(got));
                        continue;
                    }
                    float want = (float)(dot / sum);
                    if (!(fabsf(got - want) <= 1e-5f * (1.0f + fabsf(want))))
                        fail_msg("shape %zu, %d threads, row %lld column %lld: %g, want %g", s, threads,
                                 (long long)o, (long long)a, got, want);
                }
            cvm_tensor_free(in[0]);
            cvm_tensor_free(in[1]);
            cvm_tensor_free(out[0]);
            cvm_graph_free(g);
        }
}

static void test_softmax_dot_fusion(void **st)
{
    (void)st;
    for (int variant = 0; variant < 2; variant++) {
        cvm_graph *g = dfl_graph(variant);
        assert_int_equal(cvm_graph_fuse(g), CVM_OK);
        if (variant == 0) {
            assert_int_equal(g->n_nodes, 1);
            assert_string_equal(g->nodes[0].op_type, "SoftmaxDot");
        } else {
            assert_int_equal(g->n_nodes, 3); /* Softmax, Transpose, Conv */
        }
        cvm_graph_free(g);
        int64_t xd[4] = {1, 4, 16, 10};
        expect_fused_matches(dfl_graph(variant), dfl_graph(variant), xd, 81 + (unsigned)variant);
    }
}

/* Five convolutions of x:  a (3x3, Relu, 4 channels), b (3x3, Relu, no
 * bias, 6), d (3x3, Relu, 3) are siblings and become one convolution of 13
 * channels and a Split; c (1x1) and e (3x3 ending in a Sigmoid) stay apart.
 * y = Concat(d, e, c, b, a), the Split's outputs out of their order. */
static cvm_graph *sibling_graph(int64_t batch)
{
    int64_t xd[4] = {batch, 5, 8, 8};
    cvm_graph *g = input_graph(4, xd);
    static const char *const names[5] = {"a", "b", "c", "d", "e"};
    static const int64_t ks[5] = {4, 6, 2, 3, 2}, kw[5] = {3, 3, 1, 3, 3};
    int64_t pads[4] = {1, 1, 1, 1};
    for (int i = 0; i < 5; i++) {
        char w[8], b[8], cv[8];
        snprintf(w, sizeof w, "w%s", names[i]);
        snprintf(b, sizeof b, "b%s", names[i]);
        snprintf(cv, sizeof cv, "c%s", names[i]);
        int64_t wd[4] = {ks[i], 5, kw[i], kw[i]};
        constant(g, w, 4, wd, 81 + (unsigned)i, 0);
        constant(g, b, 1, &ks[i], 91 + (unsigned)i, 0);
        node(g, "Conv", i == 1 ? 2 : 3, (const char *[]){"x", w, b}, i == 2 ? "c" : cv);
        if (kw[i] == 3)
            set_ints(&g->nodes[g->n_nodes - 1], "pads", 4, pads);
        if (i != 2)
            node(g, i == 4 ? "Sigmoid" : "Relu", 1, (const char *[]){cv}, names[i]);
    }
    node(g, "Concat", 5, (const char *[]){"d", "e", "c", "b", "a"}, "y");
    set_int(&g->nodes[g->n_nodes - 1], "axis", 1);
    add_output(g, "y");
    return g;
}

static void test_sibling_convs(void **st)
{
    (void)st;
    cvm_graph *g = sibling_graph(1);
    assert_int_equal(cvm_graph_fuse(g), CVM_OK);
    int fused = 0, convs = 0, splits = 0;
    for (int i = 0; i < g->n_nodes; i++) {
        const cvm_node *n = &g->nodes[i];
        if (strcmp(n->op_type, "FusedConv") == 0) {
            const cvm_tensor *w = g->values[n->in[1]].init;
            int relu = strcmp(cvm_attr_string(n, "activation", ""), "Relu") == 0;
            assert_int_equal(w->dims[0], relu ? 13 : 2);
            fused++;
        } else if (strcmp(n->op_type, "Conv") == 0) {
            convs++;
        } else if (strcmp(n->op_type, "Split") == 0) {
            assert_int_equal(n->n_out, 3);
            const int64_t *sz = g->values[n->in[1]].init->data;
            assert_true(sz[0] == 4 && sz[1] == 6 && sz[2] == 3);
            splits++;
        }
    }
    assert_int_equal(fused, 2);
    assert_int_equal(convs, 1);
    assert_int_equal(splits, 1);
    /* the stacked siblings' own weights are no longer read: freed */
    static const char *const gone[] = {"wa", "ba", "wb", "wd", "bd"}, *const kept[] = {"wc", "we"};
    for (size_t k = 0; k < sizeof gone / sizeof gone[0]; k++)
        assert_null(g->values[cvm_graph_find_value(g, gone[k])].init->data);
    for (size_t k = 0; k < sizeof kept / sizeof kept[0]; k++)
        assert_non_null(g->values[cvm_graph_find_value(g, kept[k])].init->data);
    cvm_graph_free(g);
    /* batch 1: the Split's outputs are views; batch 2: copies */
    for (int64_t batch = 1; batch <= 2; batch++) {
        int64_t xd[4] = {batch, 5, 8, 8};
        expect_fused_matches(sibling_graph(batch), sibling_graph(batch), xd, 100 + (unsigned)batch);
    }
}

/* Pow(x, 2) with a rank-0 constant exponent becomes Mul(x, x), bit for bit;
 * a [1]-shaped exponent (which would broadcast a scalar x up) stays Pow. */
static cvm_graph *pow_graph(int rank1)
{
    int64_t xd[2] = {5, 7};
    cvm_graph *g = input_graph(2, xd);
    int e = val(g, "two");
    int64_t one = 1;
    assert_int_equal(cvm_tensor_create(CVM_DTYPE_FLOAT32, rank1, &one, &g->values[e].init), CVM_OK);
    *(float *)g->values[e].init->data = 2.0f;
    node(g, "Pow", 2, (const char *[]){"x", "two"}, "y");
    add_output(g, "y");
    return g;
}

/* y = Conv(Conv(x, w1), w2) + Conv(Relu(x), w2): 3x3 layers that take the
 * Winograd path (the Relu keeps the two convolutions of x apart, which
 * would otherwise become one over both weights).  With a fixed input shape
 * the session frees w1 (its only reader keeps transformed weights) but not
 * w2 (two readers); batch < 0 makes the batch symbolic, so nothing may be
 * freed. */
static cvm_graph *shared_weight_graph(int64_t batch)
{
    int64_t xd[4] = {batch, 8, 14, 17};
    cvm_graph *g = input_graph(4, xd);
    int64_t wd[4] = {8, 8, 3, 3}, pads[4] = {1, 1, 1, 1};
    constant(g, "w1", 4, wd, 41, 0);
    constant(g, "w2", 4, wd, 42, 0);
    node(g, "Conv", 2, (const char *[]){"x", "w1"}, "a");
    set_ints(&g->nodes[g->n_nodes - 1], "pads", 4, pads);
    node(g, "Conv", 2, (const char *[]){"a", "w2"}, "b");
    set_ints(&g->nodes[g->n_nodes - 1], "pads", 4, pads);
    node(g, "Relu", 1, (const char *[]){"x"}, "xr");
    node(g, "Conv", 2, (const char *[]){"xr", "w2"}, "c");
    set_ints(&g->nodes[g->n_nodes - 1], "pads", 4, pads);
    node(g, "Add", 2, (const char *[]){"b", "c"}, "y");
    add_output(g, "y");
    return g;
}

static void test_weights_released(void **st)
{
    (void)st;
    cvm_session *s[2];
    cvm_graph *g[2];
    for (int k = 0; k < 2; k++) {
        g[k] = shared_weight_graph(k == 0 ? 2 : -1);
        assert_int_equal(cvm_session_create_from_graph(g[k], NULL, &s[k]), CVM_OK);
    }
    /* the session owns the graph; look at its constants by name */
    for (int k = 0; k < 2; k++)
        for (int v = 0; v < g[k]->n_values; v++) {
            const char *n = g[k]->values[v].name;
            if (!g[k]->values[v].init || !n)
                continue;
            int freed = g[k]->values[v].init->data == NULL;
            if (strcmp(n, "w1") == 0)
                assert_int_equal(freed, k == 0 && cvm_gemm_kernel_best() ==
                                                      cvm_gemm_kernel_named("avx512"));
            else
                assert_false(freed);
        }
    int64_t xd[4] = {2, 8, 14, 17};
    cvm_tensor *x = tens(4, xd), *y[2];
    unsigned seed = 5;
    fill_rand(x->data, cvm_tensor_numel(x), &seed);
    const char *name = "x";
    /* twice on the fixed-shape session: the plan is reused, not rebuilt */
    for (int r = 0; r < 2; r++) {
        for (int k = 0; k < 2; k++)
            assert_int_equal(cvm_session_run(s[k], 1, &name, (const cvm_tensor *const *)&x, 1,
                                             NULL, &y[k]), CVM_OK);
        expect_close(y[0]->data, y[1]->data, cvm_tensor_numel(y[1]), 1e-5f);
        for (int k = 0; k < 2; k++)
            cvm_tensor_free(y[k]);
    }
    /* another shape is refused before any planning */
    int64_t bad[4] = {1, 8, 14, 17};
    cvm_tensor *x1 = tens(4, bad);
    assert_int_not_equal(cvm_session_run(s[0], 1, &name, (const cvm_tensor *const *)&x1, 1, NULL,
                                         &y[0]), CVM_OK);
    cvm_tensor_free(x1);
    cvm_tensor_free(x);
    for (int k = 0; k < 2; k++)
        cvm_session_free(s[k]);
}

static void test_square_pow(void **st)
{
    (void)st;
    for (int rank1 = 0; rank1 < 2; rank1++) {
        cvm_graph *g = pow_graph(rank1);
        assert_int_equal(cvm_graph_fuse(g), CVM_OK);
        assert_string_equal(g->nodes[0].op_type, rank1 ? "Pow" : "Mul");
        cvm_graph_free(g);
        cvm_session_options o;
        cvm_session_options_init(&o);
        cvm_session *ss[2];
        for (int k = 0; k < 2; k++) {
            o.optimize = k;
            assert_int_equal(cvm_session_create_from_graph(pow_graph(rank1), &o, &ss[k]), CVM_OK);
        }
        int64_t xd[2] = {5, 7};
        cvm_tensor *x = tens(2, xd), *y[2];
        unsigned seed = 41;
        fill_rand(x->data, 35, &seed);
        ((float *)x->data)[3] = INFINITY;
        ((float *)x->data)[4] = -0.0f;
        const char *name = "x";
        for (int k = 0; k < 2; k++)
            assert_int_equal(cvm_session_run(ss[k], 1, &name, (const cvm_tensor *const *)&x, 1,
                                             NULL, &y[k]), CVM_OK);
        assert_memory_equal(y[0]->data, y[1]->data, 35 * sizeof(float));
        for (int k = 0; k < 2; k++) {
            cvm_tensor_free(y[k]);
            cvm_session_free(ss[k]);
        }
        cvm_tensor_free(x);
    }
}

static int setup(void **st)
{
    (void)st;
    return cvm_threadpool_create(2, &pool2) == CVM_OK ? 0 : -1;
}

static int teardown(void **st)
{
    (void)st;
    cvm_threadpool_free(pool2);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sigmoid512_accuracy),
        cmocka_unit_test(test_gelu512_accuracy),
        cmocka_unit_test(test_conv_gather_odd_shapes),
        cmocka_unit_test(test_fused_conv_epilogues),
        cmocka_unit_test(test_conv_winograd),
        cmocka_unit_test(test_conv_direct),
        cmocka_unit_test(test_fused_conv_errors),
        cmocka_unit_test(test_maxpool_separable),
        cmocka_unit_test(test_fusion_pass),
        cmocka_unit_test(test_transposed_softmax),
        cmocka_unit_test(test_gelu_fusion),
        cmocka_unit_test(test_linear_fusion),
        cmocka_unit_test(test_affine_and_hardswish_fusion),
        cmocka_unit_test(test_relu_affine_fusion),
        cmocka_unit_test(test_sigmoid_into_convs),
        cmocka_unit_test(test_softmax_dot_fusion),
        cmocka_unit_test(test_softmax_dot_kernel),
        cmocka_unit_test(test_sibling_convs),
        cmocka_unit_test(test_square_pow),
        cmocka_unit_test(test_weights_released),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
