/* Steps run side by side (runtime/schedule.c): which stretches are chosen,
 * and that running them so gives the same outputs as running every step in
 * turn, run after run and from several threads at once. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/threadpool.h"
#include "graph/fuse.h"
#include "graph/graph.h"
#include "runtime/plan.h"
#include "runtime/session.h"

#include "op_test.h"

static void fill_rand(float *d, int64_t n, unsigned seed, float scale)
{
    for (int64_t i = 0; i < n; i++) {
        seed = seed * 1103515245u + 12345u;
        d[i] = scale * ((float)((seed >> 16) % 2001) / 1000.0f - 1.0f);
    }
}

/* y = 3x3 Conv + Relu, C -> C channels, weights from `seed` */
static void conv(cvm_graph *g, const char *x, const char *y, int64_t C, unsigned seed)
{
    char wn[32];
    snprintf(wn, sizeof wn, "w_%s", y);
    int w = val(g, wn);
    int64_t wd[4] = {C, C, 3, 3};
    assert_int_equal(cvm_tensor_create(CVM_DTYPE_FLOAT32, 4, wd, &g->values[w].init), CVM_OK);
    fill_rand(g->values[w].init->data, C * C * 9, seed, 1.0f / sqrtf((float)(C * 9)));
    char cn[40];
    snprintf(cn, sizeof cn, "%s_pre", y);
    cvm_node *n = node(g, "Conv", 2, (const char *[]){x, wn}, cn);
    int64_t pads[4] = {1, 1, 1, 1};
    attr_ints(n, "pads", 4, pads);
    node(g, "Relu", 1, (const char *[]){cn}, y);
}

/* Two branches of four 3x3 layers on a C x S x S map, crossing once
 * (b3 reads a2 + b2); outputs the Concat of both ends (a view of the two
 * last layers' buffers at batch 1) and a3 + b3, which is read inside the
 * branches' stretch and is a graph output too. */
static cvm_graph *branches(int64_t C, int64_t S)
{
    cvm_graph *g;
    assert_int_equal(cvm_graph_create(&g), CVM_OK);
    int x = val(g, "x");
    g->values[x].dtype = CVM_DTYPE_FLOAT32;
    g->values[x].ndim = 4;
    int64_t xd[4] = {1, C, S, S};
    for (int d = 0; d < 4; d++)
        g->values[x].dims[d].value = xd[d];
    g->inputs = malloc(sizeof(int));
    g->inputs[g->n_inputs++] = x;
    conv(g, "x", "a1", C, 1);
    conv(g, "a1", "a2", C, 2);
    conv(g, "a2", "a3", C, 3);
    conv(g, "a3", "a4", C, 4);
    node(g, "Relu", 1, (const char *[]){"x"}, "rx"); /* keeps a1 and b1 apart */
    conv(g, "rx", "b1", C, 5);
    conv(g, "b1", "b2", C, 6);
    node(g, "Add", 2, (const char *[]){"a2", "b2"}, "m");
    conv(g, "m", "b3", C, 7);
    conv(g, "b3", "b4", C, 8);
    node(g, "Add", 2, (const char *[]){"a3", "b3"}, "z");
    attr_i(node(g, "Concat", 2, (const char *[]){"a4", "b4"}, "y"), "axis", 1);
    g->outputs = malloc(2 * sizeof(int));
    g->outputs[g->n_outputs++] = val(g, "y");
    g->outputs[g->n_outputs++] = val(g, "z");
    return g;
}

static cvm_session *session(int64_t C, int64_t S, int threads)
{
    cvm_session_options o;
    cvm_session_options_init(&o);
    o.threads = threads;
    cvm_session *s;
    assert_int_equal(cvm_session_create_from_graph(branches(C, S), &o, &s), CVM_OK);
    return s;
}

static void run(cvm_session *s, const cvm_tensor *x, cvm_tensor **out)
{
    const char *name = "x";
    assert_int_equal(cvm_session_run(s, 1, &name, &x, 2, NULL, out), CVM_OK);
}

static cvm_tensor *input(int64_t C, int64_t S)
{
    int64_t xd[4] = {1, C, S, S};
    cvm_tensor *x;
    assert_int_equal(cvm_tensor_create(CVM_DTYPE_FLOAT32, 4, xd, &x), CVM_OK);
    fill_rand(x->data, cvm_tensor_numel(x), 99, 1.0f);
    return x;
}

/* 64 channels at 20x20: every layer is small enough that splitting it
 * loses, and the branches are wide enough to fill two threads. */
static void test_branches_side_by_side(void **st)
{
    (void)st;
    const int64_t C = 64, S = 20;
    cvm_session *one = session(C, S, 1), *two = session(C, S, 2);
    cvm_tensor *x = input(C, S), *want[2], *got[2];
    run(one, x, want);
    run(two, x, got);
    cvm_session_stats stats;
    assert_int_equal(cvm_session_get_stats(two, &stats), CVM_OK);
    assert_true(stats.side_by_side_regions >= 1);
    assert_true(stats.nodes_side_by_side >= 6);
    assert_int_equal(cvm_session_get_stats(one, &stats), CVM_OK);
    assert_int_equal(stats.nodes_side_by_side, 0);
    for (int k = 0; k < 2; k++)
        expect_f32(got[k], want[k]->data, cvm_tensor_numel(want[k]), 1e-5f);
    /* the threads meet in another order every run: the result must not move */
    for (int r = 0; r < 30; r++) {
        cvm_tensor *again[2];
        run(two, x, again);
        for (int k = 0; k < 2; k++) {
            expect_f32(again[k], got[k]->data, cvm_tensor_numel(got[k]), 0);
            cvm_tensor_free(again[k]);
        }
    }
    for (int k = 0; k < 2; k++) {
        cvm_tensor_free(want[k]);
        cvm_tensor_free(got[k]);
    }
    cvm_tensor_free(x);
    cvm_session_free(one);
    cvm_session_free(two);
}

typedef struct job {
    cvm_session *s;
    const cvm_tensor *x, *const *want;
    int bad;
} job;

static void *runner(void *arg)
{
    job *j = arg;
    const char *name = "x";
    for (int r = 0; r < 10; r++) {
        cvm_tensor *out[2] = {NULL, NULL};
        if (cvm_session_run(j->s, 1, &name, &j->x, 2, NULL, out) != CVM_OK) {
            j->bad++;
            continue;
        }
        for (int k = 0; k < 2; k++) {
            const float *p = out[k]->data, *q = j->want[k]->data;
            if (memcmp(p, q, out[k]->nbytes) != 0)
                j->bad++;
            cvm_tensor_free(out[k]);
        }
    }
    return NULL;
}

/* Runs from four threads at once on one 2-thread session: one holds the
 * pool, the others run the regions inline, one step after another, with
 * their own arenas; all agree bit for bit with a lone run. */
static void test_concurrent_runs_with_regions(void **st)
{
    (void)st;
    const int64_t C = 64, S = 20;
    cvm_session *two = session(C, S, 2);
    cvm_tensor *x = input(C, S), *want[2];
    run(two, x, want);
    pthread_t t[4];
    job jobs[4];
    for (int i = 0; i < 4; i++) {
        jobs[i] = (job){.s = two, .x = x, .want = (const cvm_tensor *const *)want};
        assert_int_equal(pthread_create(&t[i], NULL, runner, &jobs[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(jobs[i].bad, 0);
    }
    for (int k = 0; k < 2; k++)
        cvm_tensor_free(want[k]);
    cvm_tensor_free(x);
    cvm_session_free(two);
}

/* Large layers split well: at 64 channels and 96x96 no stretch is chosen;
 * CVM_REGIONS=0 turns them off for the small map too. */
static void test_no_regions(void **st)
{
    (void)st;
    cvm_session *big = session(64, 96, 2);
    cvm_session_stats stats;
    cvm_tensor *x = input(64, 96), *out[2];
    run(big, x, out);
    assert_int_equal(cvm_session_get_stats(big, &stats), CVM_OK);
    assert_int_equal(stats.nodes_side_by_side, 0);
    for (int k = 0; k < 2; k++)
        cvm_tensor_free(out[k]);
    cvm_tensor_free(x);
    cvm_session_free(big);
    setenv("CVM_REGIONS", "0", 1);
    cvm_session *off = session(64, 20, 2);
    x = input(64, 20);
    run(off, x, out);
    assert_int_equal(cvm_session_get_stats(off, &stats), CVM_OK);
    assert_int_equal(stats.nodes_side_by_side, 0);
    unsetenv("CVM_REGIONS");
    for (int k = 0; k < 2; k++)
        cvm_tensor_free(out[k]);
    cvm_tensor_free(x);
    cvm_session_free(off);
}

/* A plan's region run by one thread in a given claim order: from inside a
 * job of the same pool, so that the region's own job runs inline. */
typedef struct inline_run {
    const cvm_graph *g;
    cvm_plan *p;
    cvm_threadpool *pool;
    const cvm_tensor *x;
    int out_value[2];
    cvm_tensor *out[2];
    cvm_status st;
} inline_run;

static void run_inline(void *arg, size_t begin, size_t end)
{
    inline_run *r = arg;
    if (begin != 0)
        return;
    (void)end;
    const cvm_tensor *in[1] = {r->x};
    r->st = cvm_plan_run(r->g, r->p, in, 2, r->out_value, r->out, 0, r->pool, 1u << 30);
}

/* Any order of a region's steps that respects what they read must give the
 * same outputs, bit for bit: buffers are laid out for every such order, not
 * only the one the threads usually take.  Each order runs on one thread,
 * so a buffer given to two values that may be alive at once shows up every
 * time, not only when the threads happen to meet in a bad order. */
static void test_any_order(void **st)
{
    (void)st;
    const int64_t C = 64, S = 20;
    cvm_graph *g = branches(C, S);
    assert_int_equal(cvm_graph_fuse(g), CVM_OK);
    int *order = malloc(sizeof(int) * (size_t)g->n_nodes);
    assert_int_equal(cvm_graph_toposort(g, order), CVM_OK);
    cvm_threadpool *pool;
    assert_int_equal(cvm_threadpool_create(2, &pool), CVM_OK);
    cvm_tensor hdr;
    memset(&hdr, 0, sizeof hdr);
    hdr.dtype = CVM_DTYPE_FLOAT32;
    hdr.ndim = 4;
    hdr.dims[0] = 1, hdr.dims[1] = C, hdr.dims[2] = S, hdr.dims[3] = S;
    cvm_plan_options po = {.optimize = 1, .max_tensor_bytes = 1u << 30, .pool = pool};
    cvm_plan *p;
    assert_int_equal(cvm_plan_build(g, order, &hdr, &po, &p), CVM_OK);
    assert_true(p->n_regions >= 1);
    cvm_tensor *x = input(C, S);
    inline_run r = {.g = g, .p = p, .pool = pool, .x = x,
                    .out_value = {g->outputs[0], g->outputs[1]}};
    cvm_parallel_for(pool, 2, 1, run_inline, &r);
    assert_int_equal(r.st, CVM_OK);
    cvm_tensor *want[2] = {r.out[0], r.out[1]};
    unsigned seed = 7;
    for (int trial = 0; trial < 40; trial++) {
        /* a random claim order: each time, any step whose inputs in the
         * region are already claimed */
        for (int k = 0; k < p->n_regions; k++) {
            cvm_plan_region *rg = &p->regions[k];
            int n = rg->n, *old = malloc(sizeof(int) * (size_t)n);
            int *starts = malloc(sizeof(int) * (size_t)(n + 1));
            int *deps = malloc(sizeof(int) * (size_t)(rg->dep_start[n] + 1));
            char *done = calloc((size_t)n, 1);
            memcpy(old, rg->order, sizeof(int) * (size_t)n);
            memcpy(starts, rg->dep_start, sizeof(int) * (size_t)(n + 1));
            memcpy(deps, rg->deps, sizeof(int) * (size_t)rg->dep_start[n]);
            int e = 0;
            for (int i = 0; i < n; i++) {
                int ready[64], nr = 0;
                for (int a = 0; a < n && nr < 64; a++) {
                    if (done[a])
                        continue;
                    int ok = 1;
                    for (int d = starts[a]; d < starts[a + 1] && ok; d++)
                        for (int b = 0; b < n; b++)
                            if (old[b] == deps[d] && !done[b])
                                ok = 0;
                    if (ok)
                        ready[nr++] = a;
                }
                assert_true(nr > 0);
                seed = seed * 1103515245u + 12345u;
                int a = ready[(seed >> 16) % (unsigned)nr];
                done[a] = 1;
                rg->order[i] = old[a];
                rg->dep_start[i] = e;
                for (int d = starts[a]; d < starts[a + 1]; d++)
                    rg->deps[e++] = deps[d];
            }
            rg->dep_start[n] = e;
            free(old);
            free(starts);
            free(deps);
            free(done);
        }
        r.out[0] = r.out[1] = NULL;
        cvm_parallel_for(pool, 2, 1, run_inline, &r);
        assert_int_equal(r.st, CVM_OK);
        for (int k = 0; k < 2; k++) {
            expect_f32(r.out[k], want[k]->data, cvm_tensor_numel(want[k]), 0);
            cvm_tensor_free(r.out[k]);
        }
    }
    for (int k = 0; k < 2; k++)
        cvm_tensor_free(want[k]);
    cvm_tensor_free(x);
    cvm_plan_free(p);
    cvm_threadpool_free(pool);
    free(order);
    cvm_graph_free(g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_branches_side_by_side),
        cmocka_unit_test(test_concurrent_runs_with_regions),
        cmocka_unit_test(test_any_order),
        cmocka_unit_test(test_no_regions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
