#include "runtime/overlap.h"

#include <stdint.h>
#include <stdlib.h>

#include "base/status.h"

/*
 * Run one after the other, steps give each buffer a lifetime from its first
 * to its last access, and two buffers may share memory when those intervals
 * are disjoint.  Inside a region the order is known only partly: a step
 * happens before another of the same region only if the second reads,
 * through any chain, what the first wrote.  Widening every buffer a region
 * touches to the whole region is safe but kept YOLO11n's head buffers all
 * apart (arena 4.0 -> 9.6 MiB, slower for the lost reuse in cache), so
 * buffers are compared by their accesses instead: A may take B's memory
 * when every step that touches B happens before every step that writes A.
 * Skipped steps (views) touch nothing and are left out.
 */

struct cvm_overlap {
    int n_steps;
    int *reg;              /* per step: its region, or -1 */
    int *first;            /* per region: its first step */
    uint64_t *anc;         /* per step in a region: the region's steps it depends on, by offset */
    int *a_start, *acc;    /* per request: steps touching it (CSR); n_steps = after the run */
    int *w_start, *wr;     /* per request: steps writing it */
};

void cvm_overlap_free(cvm_overlap *o)
{
    if (!o)
        return;
    free(o->reg);
    free(o->first);
    free(o->anc);
    free(o->a_start);
    free(o->acc);
    free(o->w_start);
    free(o->wr);
    free(o);
}

/* Every access goes through note(), in two passes: counting (acc NULL),
 * then filling. */
typedef struct fill {
    int *a_start, *acc, *w_start, *wr;
    int *a_fill, *w_fill;
} fill;

static void note(fill *f, int q, int step, int writes)
{
    if (!f->acc) {
        f->a_start[q + 1]++;
        if (writes)
            f->w_start[q + 1]++;
        return;
    }
    f->acc[f->a_start[q] + f->a_fill[q]++] = step;
    if (writes)
        f->wr[f->w_start[q] + f->w_fill[q]++] = step;
}

/* The request holding value v's buffer, or -1. */
static int request_of(const cvm_plan *p, const int *req_of, int v)
{
    return v >= 0 && p->values[v].kind == CVM_VAL_ARENA ? req_of[cvm_plan_root(p, v)] : -1;
}

static void walk(const cvm_graph *g, const cvm_plan *p, const int *req_of, const int *req_value,
                 size_t n_req, fill *f)
{
    for (int s = 0; s < p->n_steps; s++) {
        if (p->steps[s].skip)
            continue;
        const cvm_node *node = &g->nodes[p->steps[s].node];
        for (int j = 0; j < node->n_in; j++) {
            int q = request_of(p, req_of, node->in[j]);
            if (q >= 0)
                note(f, q, s, 0);
        }
        for (int j = 0; j < node->n_out; j++) {
            int q = request_of(p, req_of, node->out[j]);
            if (q >= 0)
                note(f, q, s, 1);
        }
    }
    for (int v = 0; v < p->n_values; v++) {
        int q = request_of(p, req_of, v);
        if (q >= 0 && p->values[v].last_use >= p->n_steps)
            note(f, q, p->n_steps, 0); /* a graph output: read after the run */
    }
    for (size_t q = 0; q < n_req; q++) {
        int rv = req_value[q];
        if (rv >= 0)
            continue;
        int s = -1 - rv;
        if (s < p->n_steps) {
            note(f, (int)q, s, 1);
            continue;
        }
        const cvm_plan_region *r = &p->regions[s - p->n_steps];
        for (int k = 0; k < r->n; k++)
            note(f, (int)q, r->order[k], 1);
    }
}

cvm_status cvm_overlap_build(const cvm_graph *g, const cvm_plan *p, const int *req_value,
                             size_t n_req, cvm_overlap **out)
{
    *out = NULL;
    int ns = p->n_steps, nv = p->n_values;
    cvm_overlap *o = calloc(1, sizeof *o);
    int *req_of = malloc(sizeof(int) * (size_t)(nv ? nv : 1));
    fill f = {0};
    if (o) {
        o->n_steps = ns;
        o->reg = malloc(sizeof(int) * (size_t)(ns ? ns : 1));
        o->first = malloc(sizeof(int) * (size_t)(p->n_regions ? p->n_regions : 1));
        o->anc = calloc((size_t)(ns ? ns : 1), sizeof(uint64_t));
        o->a_start = calloc(n_req + 1, sizeof(int));
        o->w_start = calloc(n_req + 1, sizeof(int));
    }
    if (!o || !req_of || !o->reg || !o->first || !o->anc || !o->a_start || !o->w_start)
        goto nomem;
    for (int s = 0; s < ns; s++)
        o->reg[s] = -1;
    for (int r = 0; r < p->n_regions; r++) {
        const cvm_plan_region *rg = &p->regions[r];
        o->first[r] = rg->first;
        for (int s = rg->first; s <= rg->last; s++)
            o->reg[s] = r;
        /* claims follow a topological order: deps come first */
        for (int k = 0; k < rg->n; k++) {
            int s = rg->order[k];
            for (int e = rg->dep_start[k]; e < rg->dep_start[k + 1]; e++) {
                int d = rg->deps[e];
                if (d - rg->first < 64)
                    o->anc[s] |= o->anc[d] | (uint64_t)1 << (d - rg->first);
            }
        }
    }
    for (int v = 0; v < nv; v++)
        req_of[v] = -1;
    for (size_t q = 0; q < n_req; q++)
        if (req_value[q] >= 0)
            req_of[req_value[q]] = (int)q;
    f.a_start = o->a_start;
    f.w_start = o->w_start;
    walk(g, p, req_of, req_value, n_req, &f);
    for (size_t q = 0; q < n_req; q++) {
        o->a_start[q + 1] += o->a_start[q];
        o->w_start[q + 1] += o->w_start[q];
    }
    o->acc = malloc(sizeof(int) * (size_t)(o->a_start[n_req] + 1));
    o->wr = malloc(sizeof(int) * (size_t)(o->w_start[n_req] + 1));
    f.a_fill = calloc(n_req + 1, sizeof(int));
    f.w_fill = calloc(n_req + 1, sizeof(int));
    if (!o->acc || !o->wr || !f.a_fill || !f.w_fill)
        goto nomem;
    f.acc = o->acc;
    f.wr = o->wr;
    walk(g, p, req_of, req_value, n_req, &f);
    free(f.a_fill);
    free(f.w_fill);
    free(req_of);
    *out = o;
    return CVM_OK;
nomem:
    free(f.a_fill);
    free(f.w_fill);
    free(req_of);
    cvm_overlap_free(o);
    return cvm_errorf(CVM_E_NOMEM, "out of memory laying out buffers");
}

/* Whether step x is over before step y starts in every run. */
static int before(const cvm_overlap *o, int x, int y)
{
    if (x >= o->n_steps)
        return 0;
    if (y >= o->n_steps)
        return 1;
    int r = o->reg[x];
    if (r >= 0 && r == o->reg[y]) {
        int off = x - o->first[r];
        return off < 64 && (o->anc[y] >> off & 1);
    }
    return x < y;
}

/* Every access of request a happens before every write of request b. */
static int all_before(const cvm_overlap *o, size_t a, size_t b)
{
    if (o->w_start[b] == o->w_start[b + 1])
        return 0;
    for (int i = o->a_start[a]; i < o->a_start[a + 1]; i++)
        for (int j = o->w_start[b]; j < o->w_start[b + 1]; j++)
            if (!before(o, o->acc[i], o->wr[j]))
                return 0;
    return 1;
}

int cvm_overlap_conflict(void *overlap, size_t i, size_t j)
{
    const cvm_overlap *o = overlap;
    return !all_before(o, i, j) && !all_before(o, j, i);
}
