#include "runtime/schedule.h"

#include <stdlib.h>
#include <string.h>

#include "base/status.h"

/*
 * Splitting one small operator between two cores costs more than it saves:
 * a 20x20 3x3 convolution of YOLO11n at 320 took 0.144 ms on one thread and
 * 0.149 on two, since each core repeats part of the work, reads what the
 * other wrote, and waits for it at the end.  Where the graph has
 * independent branches (a detector's heads next to its neck), two such
 * operators can instead run at the same time, one per core.  This file
 * picks the stretches of consecutive steps where that is expected to pay,
 * from a cost model of each step on one thread and split over two, and a
 * simulation of the two threads claiming the stretch's steps in turn, in
 * step order or, where that leaves a thread waiting, in an order from list
 * scheduling (the plan's order runs YOLOv8n's P4 head after the neck layers
 * it could run beside: 4.50 ms simulated against 3.57 in the list's).
 *
 * The model, in nanoseconds on one thread, was fitted to the per-node
 * times (`cvm run --profile-all`) of YOLO11n, YOLOv8n and YOLOX-nano on the
 * 2-core Xeons of docs/PERFORMANCE.md: a microsecond per step; convolutions
 * and matrix products at 60 multiply-adds per ns (Winograd's 3x3 stride-1
 * convolutions 140, 105 on maps under 40x40) plus their activations at 40
 * bytes per ns; everything else (copies, resizes, pooling, depthwise
 * convolutions) at 20 bytes per ns of activations read and written.  How a
 * step splits and how it runs alone next to another is in split_ns() and
 * solo_ns().  The model only chooses; it cannot make a run wrong: the
 * executor waits for every input whatever order the steps are claimed in,
 * and buffers are laid out for any order (overlap.c).
 */

#define MAX_LEN 48          /* steps per region considered */
#define MAX_SOLO_NS 2.5e6   /* longer steps split well, and the fit covered steps up to ~2 ms */
#define REGION_NS 8000.0    /* starting and ending a region: one job of the pool */

typedef struct sched {
    const cvm_graph *g;
    const cvm_plan *p;
    const int *def_step;
    int n;
    double *solo, *split;   /* per step, estimated ns on one thread and split over two */
    char *allowed;          /* per step: may run inside a region */
    int *pstart, *prod;     /* per step: the unskipped steps it reads from (CSR) */
    double *finish;         /* simulation scratch, per step */
} sched;

static double numel(const cvm_tensor *t)
{
    double n = 1;
    for (int d = 0; d < t->ndim; d++)
        n *= (double)t->dims[d];
    return n;
}

static int is_op(const cvm_node *n, const char *op) { return strcmp(n->op_type, op) == 0; }

enum { SPLITS_WELL, SPLITS_POORLY, MEMORY_BOUND };

/* Estimated ns of step s on one thread, and *kind: how it splits.
 * Operators that only move data (copies, resizes, pooling, depthwise
 * convolutions) split well over two cores, each streaming its half, and
 * lose to the other core's traffic when run alone next to it. */
static double one_thread_ns(const cvm_graph *g, const cvm_plan *p, const cvm_plan_step *s,
                            int *kind)
{
    *kind = MEMORY_BOUND;
    if (s->skip)
        return 0;
    const cvm_node *n = &g->nodes[s->node];
    double bytes = 0;
    for (int j = 0; j < n->n_in; j++)
        if (n->in[j] >= 0 && p->values[n->in[j]].kind != CVM_VAL_CONST)
            bytes += (double)p->values[n->in[j]].t.nbytes;
    for (int j = 0; j < n->n_out; j++)
        if (n->out[j] >= 0)
            bytes += (double)p->values[n->out[j]].t.nbytes;
    double ns = 1000.0 + bytes / 20.0;
    if (n->n_out < 1 || n->out[0] < 0 || n->n_in < 2 || n->in[0] < 0 || n->in[1] < 0)
        return ns;
    const double mem = 1000.0 + bytes / 40.0; /* next to the arithmetic */
    const cvm_tensor *y = &p->values[n->out[0]].t;
    const cvm_tensor *a = &p->values[n->in[0]].t, *w = &p->values[n->in[1]].t;
    if ((is_op(n, "Conv") || is_op(n, "FusedConv")) && w->ndim >= 3 && w->dims[1] > 1) {
        double taps = 1;
        for (int d = 1; d < w->ndim; d++)
            taps *= (double)w->dims[d];
        size_t ns_count = 0;
        const int64_t *st = cvm_attr_ints(n, "strides", &ns_count);
        int stride1 = 1;
        for (size_t d = 0; st && d < ns_count; d++)
            stride1 &= st[d] == 1;
        int wino = w->ndim == 4 && w->dims[2] == 3 && w->dims[3] == 3 && stride1 &&
                   cvm_attr_int(n, "group", 1) == 1;
        int small = y->ndim == 4 && y->dims[2] * y->dims[3] < 1600;
        *kind = wino && small ? SPLITS_POORLY : SPLITS_WELL;
        return mem + numel(y) * taps / (wino ? (small ? 105.0 : 140.0) : 60.0);
    }
    if ((is_op(n, "MatMul") || is_op(n, "FusedMatMul")) && a->ndim >= 1) {
        *kind = SPLITS_WELL;
        return mem + numel(y) * (double)a->dims[a->ndim - 1] / 60.0;
    }
    if (is_op(n, "Gemm") && a->ndim == 2) {
        *kind = SPLITS_WELL;
        return mem + numel(y) * (double)a->dims[cvm_attr_int(n, "transA", 0) ? 0 : 1] / 60.0;
    }
    return ns; /* depthwise convolutions too: memory-bound */
}

/* The same step alone on one of two busy threads: its input often comes
 * from the other core (YOLO11n's head and neck layers took 12 us more on
 * average side by side than on one thread). */
static double solo_ns(double one, int kind)
{
    return one > 0 ? (kind == MEMORY_BOUND ? 1.2 : 1.0) * one + 10000.0 : 0;
}

/* The same step split over both threads: half, plus what splitting costs
 * (waking the other thread, waiting for it, reading what it wrote): 3 us,
 * 6% of the first 400 us and 2% of the rest, fitted to the per-node times
 * of YOLO11n, YOLOv8n and YOLOX-nano on one and two threads (3.7 us at 15
 * us, 10 at 87, 30 at 410, 50 at 1800); a Winograd layer on a map smaller
 * than 40x40 (a block or two of tiles to share, parts of it repeated by
 * both) lost 0.19-0.35 of its one-thread time. */
static double split_ns(double one, int kind)
{
    if (one <= 0)
        return 0;
    if (kind == MEMORY_BOUND)
        return 0.5 * one + 3000.0;
    double first = one < 400000.0 ? one : 400000.0;
    return 0.5 * one + 3000.0 + 0.06 * first + (kind == SPLITS_POORLY ? 0.2 : 0.02) * one;
}

/* The unskipped steps that step k reads from, looking through skipped
 * steps (views), into s->prod. */
static cvm_status build_producers(sched *s)
{
    const cvm_plan *p = s->p;
    int cap = 4 * s->n + 16, used = 0;
    int *stack = malloc(sizeof(int) * (size_t)(s->n + 1));
    int *stamp = malloc(sizeof(int) * (size_t)(s->n + 1));
    s->prod = malloc(sizeof(int) * (size_t)cap);
    if (!stack || !stamp || !s->prod) {
        free(stack);
        free(stamp);
        return cvm_errorf(CVM_E_NOMEM, "out of memory scheduling steps");
    }
    for (int k = 0; k < s->n; k++)
        stamp[k] = -1;
    for (int k = 0; k < s->n; k++) {
        s->pstart[k] = used;
        int sp = 0;
        stack[sp++] = k;
        stamp[k] = k;
        while (sp > 0) {
            const cvm_node *node = &s->g->nodes[p->steps[stack[--sp]].node];
            for (int j = 0; j < node->n_in; j++) {
                int v = node->in[j];
                int d = v >= 0 ? s->def_step[v] : -1;
                if (d < 0 || d >= s->n || stamp[d] == k)
                    continue;
                stamp[d] = k;
                if (p->steps[d].skip) {
                    if (sp < s->n + 1)
                        stack[sp++] = d;
                    continue;
                }
                if (used == cap) {
                    cap *= 2;
                    int *np = realloc(s->prod, sizeof(int) * (size_t)cap);
                    if (!np) {
                        free(stack);
                        free(stamp);
                        return cvm_errorf(CVM_E_NOMEM, "out of memory scheduling steps");
                    }
                    s->prod = np;
                }
                s->prod[used++] = d;
            }
        }
    }
    s->pstart[s->n] = used;
    free(stack);
    free(stamp);
    return CVM_OK;
}

/* Makespan of steps [a, b] on two threads that each claim the next
 * unskipped step of `order` (or of the steps in order, when NULL) as they
 * come free and wait for what it reads. */
static double simulate(const sched *s, int a, int b, const int *order, int n_order)
{
    double free_at[2] = {0, 0}, end = 0;
    int count = order ? n_order : b - a + 1;
    for (int i = 0; i < count; i++) {
        int k = order ? order[i] : a + i;
        if (s->p->steps[k].skip)
            continue;
        int t = free_at[1] < free_at[0];
        double start = free_at[t];
        for (int e = s->pstart[k]; e < s->pstart[k + 1]; e++) {
            int d = s->prod[e];
            if (d >= a && s->finish[d] > start)
                start = s->finish[d];
        }
        s->finish[k] = start + s->solo[k];
        free_at[t] = s->finish[k];
        if (s->finish[k] > end)
            end = s->finish[k];
    }
    return end;
}

/* A claim order for [a, b] from list scheduling: each time a thread comes
 * free it takes, of the steps whose inputs are claimed, one that can start
 * at once and has the longest path to the end of the region after it, or
 * else the one that can start soonest.  Returns the number of steps. */
static int list_order(const sched *s, int a, int b, int *order, double *level, char *taken)
{
    int n = 0;
    for (int k = b; k >= a; k--) {
        taken[k - a] = (char)s->p->steps[k].skip;
        level[k - a] = s->solo[k];
    }
    for (int k = b; k >= a; k--)
        for (int e = s->pstart[k]; e < s->pstart[k + 1]; e++) {
            int d = s->prod[e];
            if (d >= a && level[d - a] < s->solo[d] + level[k - a])
                level[d - a] = s->solo[d] + level[k - a];
        }
    double free_at[2] = {0, 0};
    for (;;) {
        int t = free_at[1] < free_at[0], best = -1;
        double best_start = 0;
        for (int k = a; k <= b; k++) {
            if (taken[k - a])
                continue;
            double start = free_at[t];
            int ready = 1;
            for (int e = s->pstart[k]; e < s->pstart[k + 1] && ready; e++) {
                int d = s->prod[e];
                if (d < a)
                    continue;
                if (!taken[d - a])
                    ready = 0;
                else if (s->finish[d] > start)
                    start = s->finish[d];
            }
            if (!ready)
                continue;
            if (best < 0 || start < best_start ||
                (start == best_start && level[k - a] > level[best - a])) {
                best = k;
                best_start = start;
            }
        }
        if (best < 0)
            break;
        taken[best - a] = 1;
        s->finish[best] = best_start + s->solo[best];
        free_at[t] = s->finish[best];
        order[n++] = best;
    }
    return n;
}

static cvm_status add_region(const sched *s, cvm_plan *p, int a, int b, int *order, double *level,
                             char *taken)
{
    int n = list_order(s, a, b, order, level, taken);
    /* keep the step order where the list is no better by the model */
    double listed = simulate(s, a, b, order, n), plain = simulate(s, a, b, NULL, 0);
    if (plain <= listed) {
        n = 0;
        for (int k = a; k <= b; k++)
            if (!p->steps[k].skip)
                order[n++] = k;
    }
    cvm_plan_region *r = &p->regions[p->n_regions];
    memset(r, 0, sizeof *r);
    r->first = a;
    r->last = b;
    r->n = n;
    int n_deps = 0;
    for (int i = 0; i < n; i++)
        for (int e = s->pstart[order[i]]; e < s->pstart[order[i] + 1]; e++)
            n_deps += s->prod[e] >= a;
    r->order = malloc(sizeof(int) * (size_t)(n > 0 ? n : 1));
    r->dep_start = malloc(sizeof(int) * (size_t)(n > 0 ? n + 1 : 1));
    r->deps = malloc(sizeof(int) * (size_t)(n_deps > 0 ? n_deps : 1));
    if (!r->order || !r->dep_start || !r->deps) {
        free(r->order);
        free(r->dep_start);
        free(r->deps);
        return cvm_errorf(CVM_E_NOMEM, "out of memory scheduling steps");
    }
    n_deps = 0;
    for (int i = 0; i < n; i++) {
        r->order[i] = order[i];
        r->dep_start[i] = n_deps;
        for (int e = s->pstart[order[i]]; e < s->pstart[order[i] + 1]; e++)
            if (s->prod[e] >= a)
                r->deps[n_deps++] = s->prod[e];
    }
    r->dep_start[n] = n_deps;
    p->n_regions++;
    return CVM_OK;
}

void cvm_plan_regions_free(cvm_plan *p)
{
    for (int i = 0; i < p->n_regions; i++) {
        free(p->regions[i].order);
        free(p->regions[i].dep_start);
        free(p->regions[i].deps);
    }
    free(p->regions);
    p->regions = NULL;
    p->n_regions = 0;
}

cvm_status cvm_plan_regions(const cvm_graph *g, cvm_plan *p, const int *def_step, int threads)
{
    const char *env = getenv("CVM_REGIONS");
    int n = p->n_steps;
    if (threads != 2 || n < 2 || (env && strcmp(env, "0") == 0))
        return CVM_OK;
    sched s = {.g = g, .p = p, .def_step = def_step, .n = n};
    s.solo = malloc(sizeof(double) * (size_t)n);
    s.split = malloc(sizeof(double) * (size_t)n);
    s.allowed = malloc((size_t)n);
    s.pstart = malloc(sizeof(int) * (size_t)(n + 1));
    s.finish = malloc(sizeof(double) * (size_t)n);
    double *best = malloc(sizeof(double) * (size_t)(n + 1));
    int *from = malloc(sizeof(int) * (size_t)(n + 1));
    int *order = malloc(sizeof(int) * MAX_LEN);
    double *level = malloc(sizeof(double) * MAX_LEN);
    char *taken = malloc(MAX_LEN);
    cvm_status st = CVM_OK;
    if (!s.solo || !s.split || !s.allowed || !s.pstart || !s.finish || !best || !from || !order ||
        !level || !taken) {
        st = cvm_errorf(CVM_E_NOMEM, "out of memory scheduling steps");
        goto done;
    }
    for (int k = 0; k < n; k++) {
        const cvm_plan_step *ps = &p->steps[k];
        int kind;
        double one = one_thread_ns(g, p, ps, &kind);
        s.solo[k] = solo_ns(one, kind);
        s.split[k] = split_ns(one, kind);
        s.allowed[k] = !ps->dynamic && !ps->promote && s.solo[k] <= MAX_SOLO_NS;
    }
    st = build_producers(&s);
    if (st != CVM_OK)
        goto done;
    /* best[j]: the most time saved in steps [0, j) by disjoint regions,
     * the last of which starts at from[j] (-1: step j-1 is not in one) */
    best[0] = 0;
    from[0] = -1;
    int regions = 0;
    for (int j = 1; j <= n; j++) {
        best[j] = best[j - 1];
        from[j] = -1;
        double split = 0, solo = 0;
        for (int a = j - 1; a >= 0 && j - a <= MAX_LEN && s.allowed[a]; a--) {
            split += s.split[a];
            solo += s.solo[a];
            /* two threads need at least half the steps' time alone: a
             * bound that spares the simulations of most stretches */
            const double margin = split * 0.05 > 30000.0 ? split * 0.05 : 30000.0;
            const double need = split - REGION_NS - margin;
            if (j - a < 2 || solo / 2 >= need)
                continue;
            double t = simulate(&s, a, j - 1, NULL, 0);
            if (t >= need) /* claimed in the list's order instead of step order */
                t = simulate(&s, a, j - 1, order, list_order(&s, a, j - 1, order, level, taken));
            double gain = split - t - REGION_NS;
            if (t < need && best[a] + gain > best[j]) {
                best[j] = best[a] + gain;
                from[j] = a;
            }
        }
    }
    for (int j = n; j > 0;)
        if (from[j] >= 0) {
            regions++;
            j = from[j];
        } else {
            j--;
        }
    if (!regions)
        goto done;
    p->regions = calloc((size_t)regions, sizeof *p->regions);
    if (!p->regions) {
        st = cvm_errorf(CVM_E_NOMEM, "out of memory scheduling steps");
        goto done;
    }
    /* from the back: fill regions[regions-1 .. 0], then count them in */
    int *firsts = malloc(sizeof(int) * (size_t)regions);
    int *lasts = malloc(sizeof(int) * (size_t)regions);
    if (!firsts || !lasts) {
        free(firsts);
        free(lasts);
        st = cvm_errorf(CVM_E_NOMEM, "out of memory scheduling steps");
        goto done;
    }
    int r = regions;
    for (int j = n; j > 0;)
        if (from[j] >= 0) {
            r--;
            firsts[r] = from[j];
            lasts[r] = j - 1;
            j = from[j];
        } else {
            j--;
        }
    for (r = 0; r < regions && st == CVM_OK; r++)
        st = add_region(&s, p, firsts[r], lasts[r], order, level, taken);
    free(firsts);
    free(lasts);
    if (st != CVM_OK)
        cvm_plan_regions_free(p);
    else
        p->region_threads = threads;
done:
    free(s.solo);
    free(s.split);
    free(s.allowed);
    free(s.pstart);
    free(s.prod);
    free(s.finish);
    free(best);
    free(from);
    free(order);
    free(level);
    free(taken);
    return st;
}
