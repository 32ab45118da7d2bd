/* The bf16 implicit-GEMM convolution (backends/cpu/conv_bf16.c), both its
 * AMX and its AVX512_BF16 kernels, against loops written here in double
 * over the same bf16-rounded inputs and weights: with identical rounding
 * the only difference left is the order of the float32 sums, so the
 * tolerance can be tight enough to catch a wrong tap, pair or pad. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cvm/cvm.h"

#include "backends/backend.h"
#include "backends/cpu/conv_bf16.h"
#include "backends/cpu/gemm_f32.h"
#include "base/half.h"
#include "base/threadpool.h"
#include "graph/fuse.h"
#include "graph/graph.h"
#include "runtime/session.h"
#include "bf16_test.h"

static cvm_threadpool *pool2;

/* ------------------------------------------------------------- helpers */

typedef struct shape {
    int64_t N, C, M, H, W, KH, KW, sh, sw, dh, dw, pt, pl, pb, pr;
} shape;

/* Chosen to reach every branch of the packing and of both kernels: odd
 * channel counts (a half-empty last pair), one short K block and several,
 * M off the 16- and 32-row blocks, strides 1, 2 (vector gather) and 3
 * (scalar gather), dilation, asymmetric and oversized pads, tiny and wide
 * images, and flat position counts off a multiple of 32. */
static const shape cases[] = {
    /* N  C   M   H   W  KH KW sh sw dh dw pt pl pb pr */
    {1, 1, 1, 5, 6, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0},
    {1, 2, 5, 7, 9, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1},
    {1, 3, 16, 9, 11, 3, 3, 2, 2, 1, 1, 1, 0, 0, 1},
    {1, 17, 17, 10, 13, 5, 5, 1, 1, 1, 1, 2, 2, 2, 2},
    {1, 33, 40, 8, 9, 1, 7, 1, 2, 1, 1, 0, 3, 0, 2},
    {1, 80, 40, 6, 7, 3, 1, 1, 1, 1, 1, 1, 0, 2, 0},
    {1, 17, 16, 11, 12, 3, 3, 1, 1, 2, 2, 2, 2, 2, 2},
    {1, 3, 5, 13, 14, 3, 3, 3, 3, 1, 1, 1, 1, 0, 0},
    {1, 5, 17, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0},
    {1, 2, 5, 2, 2, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1},
    {1, 3, 16, 1, 2, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1},
    {1, 4, 16, 3, 70, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1},
    {1, 5, 5, 4, 70, 1, 3, 1, 2, 1, 1, 0, 1, 0, 0},
    {2, 6, 20, 7, 10, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1},
    {1, 2, 1, 15, 17, 5, 5, 2, 2, 1, 1, 2, 1, 2, 1},
    {1, 3, 5, 9, 8, 3, 3, 2, 1, 1, 1, 1, 0, 1, 0},
    {1, 4, 17, 6, 13, 3, 3, 1, 3, 1, 1, 0, 1, 0, 1},
    {1, 3, 5, 5, 5, 3, 3, 1, 1, 1, 1, 3, 3, 3, 3},
    {1, 33, 40, 12, 12, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1},
    {2, 17, 40, 9, 11, 5, 5, 2, 1, 2, 1, 4, 2, 3, 2},
};
#define NCASES ((int)(sizeof cases / sizeof cases[0]))

static int64_t out_h(const shape *s) { return (s->H + s->pt + s->pb - s->dh * (s->KH - 1) - 1) / s->sh + 1; }
static int64_t out_w(const shape *s) { return (s->W + s->pl + s->pr - s->dw * (s->KW - 1) - 1) / s->sw + 1; }

typedef struct conv_data {
    shape s;
    int64_t OH, OW, ny;
    float *x, *w, *bias, *res;
    double *ref; /* conv + bias, from the bf16-rounded x and w */
    double *mag; /* sum of |products| and |bias|: what float32 rounding grows with */
} conv_data;

static void data_make(conv_data *d, const shape *s, unsigned seed)
{
    memset(d, 0, sizeof *d);
    d->s = *s;
    d->OH = out_h(s);
    d->OW = out_w(s);
    assert_true(d->OH > 0 && d->OW > 0);
    int64_t nx = s->N * s->C * s->H * s->W, nw = s->M * s->C * s->KH * s->KW;
    d->ny = s->N * s->M * d->OH * d->OW;
    d->x = malloc(sizeof(float) * (size_t)nx);
    d->w = malloc(sizeof(float) * (size_t)nw);
    d->bias = malloc(sizeof(float) * (size_t)s->M);
    d->res = malloc(sizeof(float) * (size_t)d->ny);
    d->ref = malloc(sizeof(double) * (size_t)d->ny);
    d->mag = malloc(sizeof(double) * (size_t)d->ny);
    assert_true(d->x && d->w && d->bias && d->res && d->ref && d->mag);
    fill(d->x, nx, seed);
    fill(d->w, nw, seed * 7 + 1);
    fill(d->bias, s->M, seed * 13 + 2);
    fill(d->res, d->ny, seed * 17 + 3);
    float *xr = malloc(sizeof(float) * (size_t)nx), *wr = malloc(sizeof(float) * (size_t)nw);
    assert_true(xr && wr);
    for (int64_t i = 0; i < nx; i++)
        xr[i] = bf(d->x[i]);
    for (int64_t i = 0; i < nw; i++)
        wr[i] = bf(d->w[i]);
    for (int64_t n = 0; n < s->N; n++)
        for (int64_t m = 0; m < s->M; m++)
            for (int64_t oy = 0; oy < d->OH; oy++)
                for (int64_t ox = 0; ox < d->OW; ox++) {
                    double acc = d->bias[m], a = fabs(d->bias[m]);
                    for (int64_t c = 0; c < s->C; c++)
                        for (int64_t ky = 0; ky < s->KH; ky++)
                            for (int64_t kx = 0; kx < s->KW; kx++) {
                                int64_t iy = oy * s->sh - s->pt + ky * s->dh;
                                int64_t ix = ox * s->sw - s->pl + kx * s->dw;
                                if (iy < 0 || iy >= s->H || ix < 0 || ix >= s->W)
                                    continue;
                                double t = (double)xr[((n * s->C + c) * s->H + iy) * s->W + ix] *
                                           wr[((m * s->C + c) * s->KH + ky) * s->KW + kx];
                                acc += t;
                                a += fabs(t);
                            }
                    int64_t o = ((n * s->M + m) * d->OH + oy) * d->OW + ox;
                    d->ref[o] = acc;
                    d->mag[o] = a;
                }
    free(xr);
    free(wr);
}

static void data_free(conv_data *d)
{
    free(d->x);
    free(d->w);
    free(d->bias);
    free(d->res);
    free(d->ref);
    free(d->mag);
}

static double ref_act(int act, double v)
{
    switch (act) {
    case CVM_FUSED_RELU: return v > 0 ? v : 0;
    case CVM_FUSED_SILU: return v / (1.0 + exp(-v));
    default: return v;
    }
}

/* Runs one convolution into y (ny + GUARD floats): outputs start as NaN so
 * that any the kernel skips fail the comparison, and the canary behind them
 * catches writes past the end. */
static void run_into(const conv_data *d, int kind, cvm_threadpool *pool, int slots,
                     const cvm_cbf_out *out, float *y)
{
    const shape *s = &d->s;
    for (int64_t i = 0; i < d->ny; i++)
        y[i] = NAN;
    for (int i = 0; i < GUARD; i++)
        y[d->ny + i] = CANARY;
    cvm_cbf p;
    assert_int_equal(cvm_cbf_prepare(&p, kind, s->N, s->C, s->M, s->H, s->W, s->KH, s->KW, d->OH,
                                     d->OW, s->sh, s->sw, s->dh, s->dw, s->pt, s->pl, d->w, slots),
                     CVM_OK);
    void *scratch = malloc(cvm_cbf_scratch_bytes(&p));
    assert_non_null(scratch);
    cvm_cbf_run(&p, d->x, y, out, pool, scratch);
    free(scratch);
    cvm_cbf_free(&p);
    for (int i = 0; i < GUARD; i++)
        assert_true(y[d->ny + i] == CANARY);
}

/* y against act(ref [+ res]) [+ res] (scale * . + shift when a span
 * callback transformed it); the absolute term covers results that cancel
 * to near zero, the relative one the in-register sigmoid. */
static void check(const conv_data *d, const float *y, const cvm_gemm_epi *epi, const float *res,
                  double scale, double shift, const char *what, int c, int kind)
{
    for (int64_t i = 0; i < d->ny; i++) {
        double v = d->ref[i], r = res ? res[i] : 0.0;
        if (epi) {
            if (res && epi->add_first)
                v += r;
            v = ref_act(epi->act, v);
            if (res && !epi->add_first)
                v += r;
        }
        double want = scale * v + shift;
        double tol = scale * (1e-5 * d->mag[i] + 1e-6) + 1e-6 * (fabs(want) + fabs(r));
        if (!(fabs((double)y[i] - want) <= tol)) {
            print_error("%s case %d kind %s: y[%lld] = %.9g, want %.9g (tol %.3g)\n", what, c,
                        cvm_bf16_kind_name(kind), (long long)i, (double)y[i], want, tol);
            fail();
        }
    }
}

/* ------------------------------------------------------------------ tests */

static void test_bf16_conv_matches_reference(void **st)
{
    (void)st;
    int k[2], nk = kinds(k);
    if (nk == 0)
        skip();
    for (int c = 0; c < NCASES; c++) {
        conv_data d;
        data_make(&d, &cases[c], 100u + (unsigned)c);
        float *y = malloc(sizeof(float) * (size_t)(d.ny + GUARD));
        assert_non_null(y);
        cvm_cbf_out out = {.bias = d.bias};
        for (int ki = 0; ki < nk; ki++)
            for (int pi = 0; pi < 2; pi++)
                for (int slots = 1; slots <= 3; slots += 2) {
                    run_into(&d, k[ki], pi ? pool2 : NULL, slots, &out, y);
                    check(&d, y, NULL, NULL, 1.0, 0.0, "plain", c, k[ki]);
                }
        /* Without bias the outputs are the bare sums (the magnitudes keep
         * |bias|: a slightly looser bound only). */
        for (int64_t i = 0; i < d.ny; i++)
            d.ref[i] -= d.bias[i / (d.OH * d.OW) % d.s.M];
        cvm_cbf_out nob = {.bias = NULL};
        for (int ki = 0; ki < nk; ki++) {
            run_into(&d, k[ki], pool2, 3, &nob, y);
            check(&d, y, NULL, NULL, 1.0, 0.0, "no bias", c, k[ki]);
        }
        free(y);
        data_free(&d);
    }
}

typedef struct span_rec {
    int64_t N, M, OHW;
    const float *y;
    atomic_int *count;
    atomic_int *bad;
} span_rec;

/* Counts each position handed over (workers may call this concurrently)
 * and transforms it so the test can see the callback's writes stick. */
static void span_cb(const void *ctx, int64_t n, int64_t oc, int64_t o0, int64_t len, float *y)
{
    const span_rec *r = ctx;
    if (n < 0 || n >= r->N || oc < 0 || oc >= r->M || o0 < 0 || len <= 0 || o0 + len > r->OHW ||
        y != r->y + (n * r->M + oc) * r->OHW + o0) {
        atomic_fetch_add(r->bad, 1);
        return;
    }
    for (int64_t i = 0; i < len; i++) {
        atomic_fetch_add(&r->count[(n * r->M + oc) * r->OHW + o0 + i], 1);
        y[i] = 2.0f * y[i] + 1.0f;
    }
}

static void test_bf16_conv_epilogue(void **st)
{
    (void)st;
    int k[2], nk = kinds(k);
    if (nk == 0)
        skip();
    static const int pick[] = {4, 6, 13, 19};
    for (size_t pc = 0; pc < sizeof pick / sizeof pick[0]; pc++) {
        int c = pick[pc];
        conv_data d;
        data_make(&d, &cases[c], 300u + (unsigned)c);
        float *y = malloc(sizeof(float) * (size_t)(d.ny + GUARD));
        atomic_int *count = malloc(sizeof(atomic_int) * (size_t)d.ny);
        assert_true(y && count);
        const cvm_gemm_epi silu = {CVM_FUSED_SILU, 0, 0.0f, 0.0f};
        const cvm_gemm_epi relu0 = {CVM_FUSED_RELU, 0, 0.0f, 0.0f};
        const cvm_gemm_epi relu1 = {CVM_FUSED_RELU, 1, 0.0f, 0.0f};
        const cvm_gemm_epi silu1 = {CVM_FUSED_SILU, 1, 0.0f, 0.0f};
        const struct {
            const cvm_gemm_epi *epi;
            int with_res;
            const char *what;
        } v[] = {
            {&silu, 0, "silu"},
            {&relu0, 1, "relu then residual"},
            {&relu1, 1, "residual then relu"},
            {&silu1, 1, "residual then silu"},
        };
        const int64_t OHW = d.OH * d.OW;
        for (int ki = 0; ki < nk; ki++)
            for (int pi = 0; pi < 2; pi++) {
                cvm_threadpool *pool = pi ? pool2 : NULL;
                for (size_t vi = 0; vi < sizeof v / sizeof v[0]; vi++) {
                    cvm_cbf_out out = {.bias = d.bias, .epi = v[vi].epi,
                                       .res = v[vi].with_res ? d.res : NULL,
                                       .res_n = d.s.M * OHW, .res_c = OHW};
                    run_into(&d, k[ki], pool, 3, &out, y);
                    check(&d, y, v[vi].epi, out.res, 1.0, 0.0, v[vi].what, c, k[ki]);
                }
                atomic_int bad = 0;
                for (int64_t i = 0; i < d.ny; i++)
                    atomic_init(&count[i], 0);
                span_rec rec = {.N = d.s.N, .M = d.s.M, .OHW = OHW, .y = y, .count = count,
                                .bad = &bad};
                cvm_cbf_out out = {.bias = d.bias, .span = span_cb, .span_ctx = &rec};
                run_into(&d, k[ki], pool, 3, &out, y);
                assert_int_equal(atomic_load(&bad), 0);
                for (int64_t i = 0; i < d.ny; i++)
                    if (atomic_load(&count[i]) != 1) {
                        print_error("span case %d kind %s: output %lld visited %d times\n", c,
                                    cvm_bf16_kind_name(k[ki]), (long long)i,
                                    atomic_load(&count[i]));
                        fail();
                    }
                check(&d, y, NULL, NULL, 2.0, 1.0, "span", c, k[ki]);
            }
        free(count);
        free(y);
        data_free(&d);
    }
}

static void test_bf16_conv_scratch_untouched_outside(void **st)
{
    (void)st;
    int k[2], nk = kinds(k);
    if (nk == 0)
        skip();
    enum { LEAD = 64, TAIL = 256 };
    static const int pick[] = {4, 13};
    for (size_t pc = 0; pc < sizeof pick / sizeof pick[0]; pc++) {
        int c = pick[pc];
        conv_data d;
        data_make(&d, &cases[c], 500u + (unsigned)c);
        const shape *s = &d.s;
        float *y = malloc(sizeof(float) * (size_t)d.ny), *y2 = malloc(sizeof(float) * (size_t)d.ny);
        assert_true(y && y2);
        cvm_cbf_out out = {.bias = d.bias};
        /* As many slots as workers: every slot's accumulators are used, up
         * to the end of the scratch. */
        for (int ki = 0; ki < nk; ki++)
            for (int slots = 1; slots <= 2; slots++) {
                cvm_threadpool *pool = slots == 2 ? pool2 : NULL;
                cvm_cbf p;
                assert_int_equal(cvm_cbf_prepare(&p, k[ki], s->N, s->C, s->M, s->H, s->W, s->KH,
                                                 s->KW, d.OH, d.OW, s->sh, s->sw, s->dh, s->dw,
                                                 s->pt, s->pl, d.w, slots),
                                 CVM_OK);
                size_t bytes = cvm_cbf_scratch_bytes(&p);
                /* The kernel aligns its areas itself: misaligned starts use
                 * up the slack cvm_cbf_scratch_bytes allows for that. */
                static const size_t offs[] = {0, 1, 8, 63};
                for (size_t oi = 0; oi < sizeof offs / sizeof offs[0]; oi++) {
                    unsigned char *buf = malloc(LEAD + bytes + TAIL);
                    assert_non_null(buf);
                    unsigned char *scratch = buf + LEAD + offs[oi];
                    memset(buf, 0xa5, LEAD + offs[oi]);
                    memset(scratch, 0xff, bytes); /* NaN as float, huge as bf16 pairs */
                    memset(scratch + bytes, 0xa5, TAIL - offs[oi]);
                    for (int64_t i = 0; i < d.ny; i++)
                        y[i] = NAN;
                    cvm_cbf_run(&p, d.x, y, &out, pool, scratch);
                    for (size_t i = 0; i < LEAD + offs[oi]; i++)
                        assert_int_equal(buf[i], 0xa5);
                    for (size_t i = 0; i < TAIL - offs[oi]; i++)
                        assert_int_equal(scratch[bytes + i], 0xa5);
                    for (int64_t i = 0; i < d.ny; i++)
                        assert_true(isfinite(y[i]));
                    check(&d, y, NULL, NULL, 1.0, 0.0, "scratch", c, k[ki]);
                    /* What one run leaves in the scratch must not leak into
                     * the next. */
                    cvm_cbf_run(&p, d.x, y2, &out, pool, scratch);
                    assert_memory_equal(y, y2, sizeof(float) * (size_t)d.ny);
                    free(buf);
                }
                cvm_cbf_free(&p);
            }
        free(y);
        free(y2);
        data_free(&d);
    }
}

static uint16_t bits16(float f)
{
    return cvm_f32_to_bf16(f);
}

static float from_bits(uint32_t u)
{
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static void test_bf16_rounding(void **st)
{
    (void)st;
    /* Exact halfway cases go to the even neighbour, in either direction. */
    assert_int_equal(bits16(from_bits(0x3f808000u)), 0x3f80); /* 1 + 2^-8 -> 1 */
    assert_int_equal(bits16(from_bits(0x3f818000u)), 0x3f82); /* 1 + 3*2^-8 -> 1 + 2^-6 */
    assert_int_equal(bits16(from_bits(0xbf808000u)), 0xbf80);
    assert_int_equal(bits16(from_bits(0x3f808001u)), 0x3f81); /* just past halfway */
    assert_int_equal(bits16(from_bits(0x3f807fffu)), 0x3f80);
    assert_int_equal(bits16(from_bits(0x7f7fffffu)), 0x7f80); /* FLT_MAX overflows to inf */
    assert_int_equal(bits16(INFINITY), 0x7f80);
    assert_int_equal(bits16(-INFINITY), 0xff80);
    assert_true(isnan(cvm_bf16_to_f32(bits16(NAN))));
    /* a NaN whose payload is all in the dropped bits must not become inf */
    assert_true(isnan(cvm_bf16_to_f32(bits16(from_bits(0x7f800001u)))));
    assert_true(isnan(cvm_bf16_to_f32(bits16(from_bits(0xff800001u)))));
    assert_true(cvm_bf16_to_f32(0x3f81) == 1.0078125f);

    /* The kernel's own conversion (in the input packing) rounds the same
     * way: a 1x1 convolution with weight 1 returns bf16(x) exactly. */
    int k[2], nk = kinds(k);
    if (nk == 0)
        return;
    enum { H = 3, W = 21 };
    static const uint32_t xb[] = {0x3f808000u, 0x3f818000u, 0xbf808000u, 0x3f808001u,
                                  0x3f807fffu, 0x40c08000u, 0xc2fe8000u, 0x3c238000u};
    float x[H * W], y[H * W], one = 1.0f;
    unsigned seed = 9;
    for (int i = 0; i < H * W; i++)
        x[i] = i < (int)(sizeof xb / sizeof xb[0]) ? from_bits(xb[i]) : lcg(&seed) * 100.0f;
    cvm_cbf_out out = {.bias = NULL};
    for (int ki = 0; ki < nk; ki++) {
        cvm_cbf p;
        assert_int_equal(cvm_cbf_prepare(&p, k[ki], 1, 1, 1, H, W, 1, 1, H, W, 1, 1, 1, 1, 0, 0,
                                         &one, 1),
                         CVM_OK);
        void *scratch = malloc(cvm_cbf_scratch_bytes(&p));
        assert_non_null(scratch);
        cvm_cbf_run(&p, x, y, &out, NULL, scratch);
        for (int i = 0; i < H * W; i++)
            if (y[i] != bf(x[i])) {
                print_error("kind %s: x %.9g gave %.9g, want %.9g\n", cvm_bf16_kind_name(k[ki]),
                            (double)x[i], (double)y[i], (double)bf(x[i]));
                fail();
            }
        free(scratch);
        cvm_cbf_free(&p);
    }
}

/* ------------------------------------------------------ through a session */

static void set_ints(cvm_node *n, const char *name, int cnt, const int64_t *v)
{
    cvm_attr *a = realloc(n->attrs, (size_t)(n->n_attr + 1) * sizeof *a);
    assert_non_null(a);
    n->attrs = a;
    a = &n->attrs[n->n_attr++];
    memset(a, 0, sizeof *a);
    a->name = strdup(name);
    a->type = CVM_ATTR_INTS;
    a->ints = malloc((size_t)cnt * sizeof(int64_t));
    memcpy(a->ints, v, (size_t)cnt * sizeof(int64_t));
    a->n = (size_t)cnt;
}

static void constant(cvm_graph *g, const char *name, int ndim, const int64_t *dims, unsigned seed)
{
    int v = val(g, name);
    assert_int_equal(cvm_tensor_create(CVM_DTYPE_FLOAT32, ndim, dims, &g->values[v].init), CVM_OK);
    fill(g->values[v].init->data, cvm_tensor_numel(g->values[v].init), seed);
}

/* y = Relu(Conv(x, w, b)), x [1,8,12,15], w [16,8,3,3], asymmetric pads. */
static cvm_graph *conv_graph(void)
{
    cvm_graph *g;
    assert_int_equal(cvm_graph_create(&g), CVM_OK);
    int x = val(g, "x");
    g->values[x].dtype = CVM_DTYPE_FLOAT32;
    g->values[x].ndim = 4;
    const int64_t xd[4] = {1, 8, 12, 15};
    for (int d = 0; d < 4; d++)
        g->values[x].dims[d].value = xd[d];
    g->inputs = malloc(sizeof(int));
    g->inputs[g->n_inputs++] = x;
    const int64_t wd[4] = {16, 8, 3, 3}, bd = 16, pads[4] = {1, 0, 2, 1};
    constant(g, "w", 4, wd, 21);
    constant(g, "b", 1, &bd, 22);
    node(g, "Conv", 3, (const char *[]){"x", "w", "b"}, "c");
    set_ints(&g->nodes[0], "pads", 4, pads);
    node(g, "Relu", 1, (const char *[]){"c"}, "y");
    g->outputs = malloc(sizeof(int));
    g->outputs[g->n_outputs++] = val(g, "y");
    return g;
}

static void test_bf16_session(void **st)
{
    (void)st;
    cvm_session_options o;
    cvm_session_options_init(&o);
    cvm_session *s = NULL;
    o.precision = (cvm_precision)7;
    assert_int_equal(cvm_session_create_from_graph(conv_graph(), &o, &s), CVM_E_INVALID_ARG);
    assert_non_null(strstr(cvm_last_error(), "precision"));

    o.precision = CVM_PRECISION_BF16;
    o.threads = 2;
    if (cvm_bf16_kind() == CVM_BF16_NONE) {
        assert_int_equal(cvm_session_create_from_graph(conv_graph(), &o, &s), CVM_E_UNSUPPORTED);
        return;
    }
    cvm_session *ss[2];
    for (int k = 0; k < 2; k++) {
        o.precision = k ? CVM_PRECISION_BF16 : CVM_PRECISION_FP32;
        assert_int_equal(cvm_session_create_from_graph(conv_graph(), &o, &ss[k]), CVM_OK);
    }
    const int64_t xd[4] = {1, 8, 12, 15};
    cvm_tensor *x, *y[2];
    assert_int_equal(cvm_tensor_create(CVM_DTYPE_FLOAT32, 4, xd, &x), CVM_OK);
    fill(x->data, cvm_tensor_numel(x), 23);
    const char *name = "x";
    for (int k = 0; k < 2; k++)
        assert_int_equal(cvm_session_run(ss[k], 1, &name, (const cvm_tensor *const *)&x, 1, NULL,
                                         &y[k]),
                         CVM_OK);
    assert_int_equal(y[0]->ndim, 4);
    assert_int_equal(y[1]->ndim, 4);
    const int64_t yd[4] = {1, 16, 13, 14};
    for (int d = 0; d < 4; d++) {
        assert_int_equal(y[0]->dims[d], yd[d]);
        assert_int_equal(y[1]->dims[d], yd[d]);
    }
    int64_t n = cvm_tensor_numel(y[0]);
    const float *a = y[0]->data, *b = y[1]->data;
    double amax = 0.0, dmax = 0.0;
    for (int64_t i = 0; i < n; i++) {
        amax = fmax(amax, fabs(a[i]));
        dmax = fmax(dmax, fabs((double)a[i] - b[i]));
    }
    assert_true(amax > 1.0);
    assert_true(dmax <= 2e-2 * amax);
    /* bf16 inputs lose bits float32 keeps: identical outputs would mean
     * the session never took the bf16 path. */
    assert_true(memcmp(a, b, sizeof(float) * (size_t)n) != 0);
    for (int k = 0; k < 2; k++) {
        cvm_tensor_free(y[k]);
        cvm_session_free(ss[k]);
    }
    cvm_tensor_free(x);
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
        cmocka_unit_test(test_bf16_rounding),
        cmocka_unit_test(test_bf16_conv_matches_reference),
        cmocka_unit_test(test_bf16_conv_epilogue),
        cmocka_unit_test(test_bf16_conv_scratch_untouched_outside),
        cmocka_unit_test(test_bf16_session),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
