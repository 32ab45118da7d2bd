/* The bf16 MatMul with a constant B (backends/cpu/matmul_bf16.c), both its
 * AMX and its AVX512_BF16 kernels, against loops written here in double
 * over the same bf16-rounded operands: with identical rounding the only
 * difference left is the order of the float32 sums, so the tolerance can be
 * tight enough to catch a wrong pair, row, column or K block. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cvm/cvm.h"

#include "backends/backend.h"
#include "backends/cpu/gemm_f32.h"
#include "backends/cpu/matmul_bf16.h"
#include "base/half.h"
#include "base/threadpool.h"
#include "graph/fuse.h"
#include "graph/graph.h"
#include "runtime/session.h"
#include "bf16_test.h"

static cvm_threadpool *pool2;

/* ------------------------------------------------------------- helpers */

enum { EPI_NULL = -1 };

typedef struct mm_case {
    int64_t M, K, N;
    int64_t lda_pad, ldy_pad; /* lda = K + lda_pad, ldy = N + ldy_pad */
    int trans;                /* B given as [N][K]: rsb = 1, csb = K */
    float alpha;
    int bias;
    int act;                  /* EPI_NULL or a CVM_FUSED_* code */
} mm_case;

/* Every M, K and N the brief names, crossed so that each case reaches a
 * different branch: M off the 16- and 32-row blocks and over several of
 * them, odd K (the last pair half padding), K = 1 and 2 (one-pair tiles),
 * K past 32 (several K blocks, short last ones for 33, 513 and 1000), N off
 * the 16-column tiles and large enough against K for several column chunks
 * (K 513 and 1000 with N 1536), strided rows of a and y, B transposed. */
static const mm_case cases[] = {
    /* M   K     N  lda ldy tr alpha  bias act */
    {1, 1, 1, 0, 0, 0, 1.0f, 1, EPI_NULL},
    {2, 2, 3, 3, 2, 0, 1.0f, 1, CVM_FUSED_RELU},
    {15, 3, 16, 0, 0, 1, 1.0f, 0, EPI_NULL},
    {16, 31, 17, 5, 7, 0, 1.0f, 1, CVM_FUSED_GELU},
    {17, 32, 31, 0, 1, 1, 1.0f, 1, CVM_FUSED_RELU},
    {31, 33, 33, 2, 0, 0, 1.0f, 1, EPI_NULL},
    {32, 64, 96, 0, 0, 0, 1.0f, 1, CVM_FUSED_GELU},
    {33, 513, 1536, 7, 3, 0, 1.0f, 1, CVM_FUSED_RELU},
    {100, 1000, 33, 1, 5, 1, 1.0f, 1, EPI_NULL},
    {100, 33, 96, 0, 0, 0, 0.37f, 1, CVM_FUSED_RELU},
    {17, 1000, 1536, 0, 0, 1, 1.0f, 1, CVM_FUSED_GELU},
    {1, 513, 1536, 3, 0, 0, 1.0f, 0, CVM_FUSED_NONE},
    {2, 1, 17, 1, 1, 0, 1.0f, 1, EPI_NULL},
    {15, 2, 1, 3, 3, 1, 1.0f, 1, CVM_FUSED_RELU},
    {33, 3, 31, 0, 0, 0, 1.0f, 1, CVM_FUSED_GELU},
    {31, 31, 3, 0, 0, 1, 1.0f, 0, CVM_FUSED_RELU},
    {16, 64, 1, 2, 0, 0, 1.0f, 1, EPI_NULL},
    {32, 32, 16, 0, 4, 0, 1.0f, 1, CVM_FUSED_NONE},
    {100, 2, 1536, 0, 0, 1, 1.0f, 1, CVM_FUSED_RELU},
    {1, 1000, 3, 0, 0, 0, 1.0f, 1, CVM_FUSED_GELU},
    {100, 64, 17, 1, 1, 1, 1.0f, 1, EPI_NULL},
};
#define NCASES ((int)(sizeof cases / sizeof cases[0]))

typedef struct mm_data {
    mm_case c;
    int64_t lda, ldy, rsb, csb, ny; /* ny: floats of y, padding included */
    float *a, *b, *bias;
    double *ref; /* a * B without bias, from the bf16-rounded a and alpha * B */
    double *mag; /* sum of |products|: what float32 rounding grows with */
} mm_data;

static void data_make(mm_data *d, const mm_case *c, unsigned seed)
{
    memset(d, 0, sizeof *d);
    d->c = *c;
    const int64_t M = c->M, K = c->K, N = c->N;
    d->lda = K + c->lda_pad;
    d->ldy = N + c->ldy_pad;
    d->rsb = c->trans ? 1 : N;
    d->csb = c->trans ? K : 1;
    d->ny = M * d->ldy;
    /* a exactly M rows of lda: a read past the last row is a heap overflow
     * under ASan */
    d->a = malloc(sizeof(float) * (size_t)(M * d->lda));
    d->b = malloc(sizeof(float) * (size_t)(K * N));
    d->bias = malloc(sizeof(float) * (size_t)N);
    d->ref = malloc(sizeof(double) * (size_t)(M * N));
    d->mag = malloc(sizeof(double) * (size_t)(M * N));
    assert_true(d->a && d->b && d->bias && d->ref && d->mag);
    fill(d->a, M * d->lda, seed);
    /* Columns of a past K are not part of it: NaN there poisons any sum a
     * K tail read too far (NaN times a zero weight is still NaN). */
    for (int64_t m = 0; m < M; m++)
        for (int64_t k = K; k < d->lda; k++)
            d->a[m * d->lda + k] = NAN;
    fill(d->b, K * N, seed * 7 + 1);
    fill(d->bias, N, seed * 13 + 2);
    float *ar = malloc(sizeof(float) * (size_t)(M * K)), *br = malloc(sizeof(float) * (size_t)(K * N));
    assert_true(ar && br);
    for (int64_t m = 0; m < M; m++)
        for (int64_t k = 0; k < K; k++)
            ar[m * K + k] = bf(d->a[m * d->lda + k]);
    for (int64_t k = 0; k < K; k++)
        for (int64_t n = 0; n < N; n++)
            br[k * N + n] = bf(c->alpha * d->b[k * d->rsb + n * d->csb]);
    for (int64_t m = 0; m < M; m++)
        for (int64_t n = 0; n < N; n++) {
            double acc = 0.0, mag = 0.0;
            for (int64_t k = 0; k < K; k++) {
                double t = (double)ar[m * K + k] * br[k * N + n];
                acc += t;
                mag += fabs(t);
            }
            d->ref[m * N + n] = acc;
            d->mag[m * N + n] = mag;
        }
    free(ar);
    free(br);
}

static void data_free(mm_data *d)
{
    free(d->a);
    free(d->b);
    free(d->bias);
    free(d->ref);
    free(d->mag);
}

/* Runs one product into y (ny + GUARD floats): outputs start as NaN so that
 * any the kernel skips fail the comparison, and the canary in the row
 * padding and behind the end catches writes outside the outputs. */
static void run_into(const mm_data *d, int kind, cvm_threadpool *pool, int slots, int with_bias,
                     const cvm_gemm_epi *epi, float *y)
{
    const mm_case *c = &d->c;
    for (int64_t m = 0; m < c->M; m++)
        for (int64_t n = 0; n < d->ldy; n++)
            y[m * d->ldy + n] = n < c->N ? NAN : CANARY;
    for (int i = 0; i < GUARD; i++)
        y[d->ny + i] = CANARY;
    cvm_mbf p;
    assert_int_equal(cvm_mbf_prepare(&p, kind, c->M, c->N, c->K, d->b, d->rsb, d->csb, c->alpha,
                                     slots),
                     CVM_OK);
    void *scratch = malloc(cvm_mbf_scratch_bytes(&p));
    assert_non_null(scratch);
    cvm_mbf_run(&p, d->a, d->lda, y, d->ldy, with_bias ? d->bias : NULL, epi, pool, scratch);
    free(scratch);
    cvm_mbf_free(&p);
}

static double ref_act(int act, double v)
{
    switch (act) {
    case CVM_FUSED_RELU: return v > 0 ? v : 0;
    case CVM_FUSED_GELU: return 0.5 * v * (1.0 + erf(v * 0.70710678118654752));
    default: return v;
    }
}

/* y against act(ref + bias); the padding columns and the guard must still
 * hold the canary.  GELU's slope reaches 1.13, and its in-register erf adds
 * an error relative to the input. */
static void check(const mm_data *d, const float *y, int with_bias, const cvm_gemm_epi *epi,
                  const char *what, int ci, int kind)
{
    const mm_case *c = &d->c;
    for (int64_t m = 0; m < c->M; m++)
        for (int64_t n = 0; n < d->ldy; n++) {
            float got = y[m * d->ldy + n];
            if (n >= c->N) {
                if (got != CANARY) {
                    print_error("%s case %d kind %s: padding y[%lld][%lld] written (%.9g)\n",
                                what, ci, cvm_bf16_kind_name(kind), (long long)m, (long long)n,
                                (double)got);
                    fail();
                }
                continue;
            }
            double b = with_bias ? d->bias[n] : 0.0;
            double v = d->ref[m * c->N + n] + b;
            int act = epi ? epi->act : CVM_FUSED_NONE;
            double want = ref_act(act, v);
            double tol = 1e-5 * (d->mag[m * c->N + n] + fabs(b)) + 1e-6;
            if (act == CVM_FUSED_GELU)
                tol = 1.2 * tol + 1e-6 * fabs(v);
            tol += 1e-6 * fabs(want);
            if (!(fabs((double)got - want) <= tol)) {
                print_error("%s case %d kind %s: y[%lld][%lld] = %.9g, want %.9g (tol %.3g)\n",
                            what, ci, cvm_bf16_kind_name(kind), (long long)m, (long long)n,
                            (double)got, want, tol);
                fail();
            }
        }
    for (int i = 0; i < GUARD; i++)
        assert_true(y[d->ny + i] == CANARY);
}

/* ------------------------------------------------------------------ tests */

static void test_bf16_matmul_matches_reference(void **st)
{
    (void)st;
    int k[2], nk = kinds(k);
    if (nk == 0)
        skip();
    for (int ci = 0; ci < NCASES; ci++) {
        mm_data d;
        data_make(&d, &cases[ci], 100u + (unsigned)ci);
        float *y = malloc(sizeof(float) * (size_t)(d.ny + GUARD));
        assert_non_null(y);
        cvm_gemm_epi epi = {cases[ci].act, 1, 0.0f, 0.0f};
        const cvm_gemm_epi *e = cases[ci].act == EPI_NULL ? NULL : &epi;
        for (int ki = 0; ki < nk; ki++) {
            for (int pi = 0; pi < 2; pi++)
                for (int slots = 1; slots <= 3; slots += 2) {
                    run_into(&d, k[ki], pi ? pool2 : NULL, slots, cases[ci].bias, e, y);
                    check(&d, y, cases[ci].bias, e, "case", ci, k[ki]);
                }
            /* The other bias setting, with a ReLU where the case has none
             * and none where it has one, so that every case also sees the
             * epilogue's other half. */
            cvm_gemm_epi relu = {CVM_FUSED_RELU, 1, 0.0f, 0.0f};
            const cvm_gemm_epi *e2 = e ? NULL : &relu;
            run_into(&d, k[ki], pool2, 3, !cases[ci].bias, e2, y);
            check(&d, y, !cases[ci].bias, e2, "flipped", ci, k[ki]);
        }
        free(y);
        data_free(&d);
    }
}

static void test_bf16_matmul_scratch(void **st)
{
    (void)st;
    int k[2], nk = kinds(k);
    if (nk == 0)
        skip();
    enum { LEAD = 64, TAIL = 256 };
    /* several row blocks and column chunks (more work items than workers),
     * a half-empty last K pair, strided rows */
    static const int pick[] = {7, 8, 9};
    for (size_t pc = 0; pc < sizeof pick / sizeof pick[0]; pc++) {
        int ci = pick[pc];
        mm_data d;
        data_make(&d, &cases[ci], 500u + (unsigned)ci);
        const mm_case *c = &d.c;
        float *y = malloc(sizeof(float) * (size_t)(d.ny + GUARD));
        float *y2 = malloc(sizeof(float) * (size_t)(d.ny + GUARD));
        assert_true(y && y2);
        cvm_gemm_epi epi = {c->act, 1, 0.0f, 0.0f};
        const cvm_gemm_epi *e = c->act == EPI_NULL ? NULL : &epi;
        /* As many slots as workers: every slot's staging block is used, up
         * to the end of the scratch. */
        for (int ki = 0; ki < nk; ki++)
            for (int slots = 1; slots <= 2; slots++) {
                cvm_threadpool *pool = slots == 2 ? pool2 : NULL;
                cvm_mbf p;
                assert_int_equal(cvm_mbf_prepare(&p, k[ki], c->M, c->N, c->K, d.b, d.rsb, d.csb,
                                                 c->alpha, slots),
                                 CVM_OK);
                size_t bytes = cvm_mbf_scratch_bytes(&p);
                /* The kernel aligns its areas itself: misaligned starts use
                 * up the slack cvm_mbf_scratch_bytes allows for that. */
                static const size_t offs[] = {0, 1, 8, 63};
                for (size_t oi = 0; oi < sizeof offs / sizeof offs[0]; oi++) {
                    unsigned char *buf = malloc(LEAD + bytes + TAIL);
                    assert_non_null(buf);
                    unsigned char *scratch = buf + LEAD + offs[oi];
                    memset(buf, 0xa5, LEAD + offs[oi]);
                    memset(scratch, 0xff, bytes); /* NaN as float, NaN as bf16 */
                    memset(scratch + bytes, 0xa5, TAIL - offs[oi]);
                    for (int64_t m = 0; m < c->M; m++)
                        for (int64_t n = 0; n < d.ldy; n++)
                            y[m * d.ldy + n] = y2[m * d.ldy + n] = n < c->N ? NAN : CANARY;
                    for (int i = 0; i < GUARD; i++)
                        y[d.ny + i] = y2[d.ny + i] = CANARY;
                    cvm_mbf_run(&p, d.a, d.lda, y, d.ldy, c->bias ? d.bias : NULL, e, pool,
                                scratch);
                    for (size_t i = 0; i < LEAD + offs[oi]; i++)
                        assert_int_equal(buf[i], 0xa5);
                    for (size_t i = 0; i < TAIL - offs[oi]; i++)
                        assert_int_equal(scratch[bytes + i], 0xa5);
                    for (int64_t m = 0; m < c->M; m++)
                        for (int64_t n = 0; n < c->N; n++)
                            assert_true(isfinite(y[m * d.ldy + n]));
                    check(&d, y, c->bias, e, "scratch", ci, k[ki]);
                    /* What one run leaves in the scratch must not leak into
                     * the next. */
                    cvm_mbf_run(&p, d.a, d.lda, y2, d.ldy, c->bias ? d.bias : NULL, e, pool,
                                scratch);
                    assert_memory_equal(y, y2, sizeof(float) * (size_t)(d.ny + GUARD));
                    free(buf);
                }
                cvm_mbf_free(&p);
            }
        free(y);
        free(y2);
        data_free(&d);
    }
}

/* ------------------------------------------------------ through a session */

static void constant(cvm_graph *g, const char *name, int ndim, const int64_t *dims, unsigned seed)
{
    int v = val(g, name);
    assert_int_equal(cvm_tensor_create(CVM_DTYPE_FLOAT32, ndim, dims, &g->values[v].init), CVM_OK);
    fill(g->values[v].init->data, cvm_tensor_numel(g->values[v].init), seed);
}

static void input(cvm_graph *g, const char *name, int ndim, const int64_t *dims)
{
    int x = val(g, name);
    g->values[x].dtype = CVM_DTYPE_FLOAT32;
    g->values[x].ndim = ndim;
    for (int d = 0; d < ndim; d++)
        g->values[x].dims[d].value = dims[d];
    g->inputs[g->n_inputs++] = x;
}

enum { SM = 40, SK = 70, SN = 50 };

/* A linear layer: y = [Relu](MatMul(x, w) + b), x [1,SM,SK], w [SK,SN]
 * constant (the fusion pass turns it into a FusedMatMul). */
static cvm_graph *linear_graph(int relu)
{
    cvm_graph *g;
    assert_int_equal(cvm_graph_create(&g), CVM_OK);
    g->inputs = malloc(sizeof(int));
    assert_non_null(g->inputs);
    input(g, "x", 3, (const int64_t[]){1, SM, SK});
    const int64_t wd[2] = {SK, SN}, bd = SN;
    constant(g, "w", 2, wd, 31);
    constant(g, "b", 1, &bd, 32);
    node(g, "MatMul", 2, (const char *[]){"x", "w"}, "m");
    node(g, "Add", 2, (const char *[]){"m", "b"}, relu ? "a" : "y");
    if (relu)
        node(g, "Relu", 1, (const char *[]){"a"}, "y");
    g->outputs = malloc(sizeof(int));
    assert_non_null(g->outputs);
    g->outputs[g->n_outputs++] = val(g, "y");
    return g;
}

/* y = MatMul(x, w) with w a second input: nothing to pack ahead. */
static cvm_graph *two_input_graph(void)
{
    cvm_graph *g;
    assert_int_equal(cvm_graph_create(&g), CVM_OK);
    g->inputs = malloc(2 * sizeof(int));
    assert_non_null(g->inputs);
    input(g, "x", 3, (const int64_t[]){1, SM, SK});
    input(g, "w", 2, (const int64_t[]){SK, SN});
    node(g, "MatMul", 2, (const char *[]){"x", "w"}, "y");
    g->outputs = malloc(sizeof(int));
    assert_non_null(g->outputs);
    g->outputs[g->n_outputs++] = val(g, "y");
    return g;
}

/* Runs graph g (consumed) at precision pr on x (and w when not NULL). */
static cvm_tensor *session_run(cvm_graph *g, cvm_precision pr, const cvm_tensor *x,
                               const cvm_tensor *w)
{
    cvm_session_options o;
    cvm_session_options_init(&o);
    o.precision = pr;
    o.threads = 2;
    cvm_session *s = NULL;
    assert_int_equal(cvm_session_create_from_graph(g, &o, &s), CVM_OK);
    const char *names[2] = {"x", "w"};
    const cvm_tensor *in[2] = {x, w};
    cvm_tensor *y = NULL;
    assert_int_equal(cvm_session_run(s, w ? 2 : 1, names, in, 1, NULL, &y), CVM_OK);
    cvm_session_free(s);
    assert_int_equal(y->ndim, 3);
    assert_int_equal(y->dims[0], 1);
    assert_int_equal(y->dims[1], SM);
    assert_int_equal(y->dims[2], SN);
    return y;
}

static void test_bf16_matmul_session(void **st)
{
    (void)st;
    if (cvm_bf16_kind() == CVM_BF16_NONE) {
        cvm_session_options o;
        cvm_session_options_init(&o);
        o.precision = CVM_PRECISION_BF16;
        cvm_session *s = NULL;
        assert_int_equal(cvm_session_create_from_graph(linear_graph(1), &o, &s),
                         CVM_E_UNSUPPORTED);
        return;
    }
    cvm_tensor *x, *w;
    assert_int_equal(cvm_tensor_create(CVM_DTYPE_FLOAT32, 3, (const int64_t[]){1, SM, SK}, &x),
                     CVM_OK);
    assert_int_equal(cvm_tensor_create(CVM_DTYPE_FLOAT32, 2, (const int64_t[]){SK, SN}, &w),
                     CVM_OK);
    fill(x->data, cvm_tensor_numel(x), 33);
    fill(w->data, cvm_tensor_numel(w), 34);
    const int64_t n = (int64_t)SM * SN;

    for (int relu = 0; relu < 2; relu++) {
        cvm_tensor *y32 = session_run(linear_graph(relu), CVM_PRECISION_FP32, x, NULL);
        cvm_tensor *y16 = session_run(linear_graph(relu), CVM_PRECISION_BF16, x, NULL);
        const float *a = y32->data, *b = y16->data;
        double amax = 0.0, dmax = 0.0;
        int neg = 0;
        for (int64_t i = 0; i < n; i++) {
            amax = fmax(amax, fabs(a[i]));
            dmax = fmax(dmax, fabs((double)a[i] - b[i]));
            neg += b[i] < 0;
        }
        assert_true(amax > 1.0);
        if (!(dmax <= 2e-2 * amax)) {
            print_error("relu %d: bf16 and fp32 differ by %.6g, max |y| %.6g\n", relu, dmax, amax);
            fail();
        }
        /* the activation made it into the bf16 path */
        assert_true(relu ? neg == 0 : neg > 0);
        /* bf16 operands lose bits float32 keeps: identical outputs would
         * mean the session never took the bf16 path. */
        assert_true(memcmp(a, b, sizeof(float) * (size_t)n) != 0);
        cvm_tensor_free(y32);
        cvm_tensor_free(y16);
    }

    /* A B that is not constant cannot be packed at prepare: the bf16
     * session must still run it, in float32, exactly as the FP32 one. */
    cvm_tensor *y32 = session_run(two_input_graph(), CVM_PRECISION_FP32, x, w);
    cvm_tensor *y16 = session_run(two_input_graph(), CVM_PRECISION_BF16, x, w);
    const float *a = y32->data;
    double amax = 0.0;
    for (int64_t i = 0; i < n; i++)
        amax = fmax(amax, fabs(a[i]));
    assert_true(amax > 1.0);
    assert_memory_equal(y32->data, y16->data, sizeof(float) * (size_t)n);
    cvm_tensor_free(y32);
    cvm_tensor_free(y16);
    cvm_tensor_free(x);
    cvm_tensor_free(w);
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
        cmocka_unit_test(test_bf16_matmul_matches_reference),
        cmocka_unit_test(test_bf16_matmul_scratch),
        cmocka_unit_test(test_bf16_matmul_session),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
