/* Running a plan: the loop that every inference goes through. */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/tensor.h"
#include "runtime/eval.h"
#include "runtime/plan.h"

/*
 * One block per concurrent run holds the arena and the per-value headers, so
 * a steady-state run allocates nothing: blocks return to the plan's free list
 * and the next run picks one up.
 */
typedef struct run_block {
    cvm_tensor *vt;        /* per value: header with data pointer for this run */
    cvm_tensor **dyn;      /* per value: run-time allocated tensor (dynamic steps) */
    const cvm_tensor **in; /* pointer arrays of max_io + 1 each, one pair per */
    cvm_tensor **out;      /* thread that runs steps at once (io_slots) */
    atomic_int *done;      /* per step, inside regions: finished in this run */
    unsigned char *arena;
} run_block;

static size_t align_up(size_t x) { return (x + 63) & ~(size_t)63; }

/* Threads that run steps at the same time: those of a region, or the caller. */
static size_t io_slots(const cvm_plan *p)
{
    return p->n_regions && p->region_threads > 1 ? (size_t)p->region_threads : 1;
}

static void *block_alloc(const cvm_plan *p)
{
    const size_t io = io_slots(p) * (size_t)(p->max_io + 1) * sizeof(void *);
    size_t sz = align_up(p->arena_bytes) + align_up(sizeof(run_block)) +
                align_up((size_t)p->n_values * sizeof(cvm_tensor)) +
                align_up((size_t)p->n_values * sizeof(cvm_tensor *)) + 2 * align_up(io) +
                align_up((size_t)(p->n_steps + 1) * sizeof(atomic_int));
    unsigned char *m = aligned_alloc(64, align_up(sz));
    if (!m)
        return NULL;
    run_block *b = (run_block *)m;
    size_t off = align_up(sizeof(run_block));
    b->arena = m + off;
    off += align_up(p->arena_bytes);
    b->vt = (cvm_tensor *)(m + off);
    off += align_up((size_t)p->n_values * sizeof(cvm_tensor));
    b->dyn = (cvm_tensor **)(m + off);
    off += align_up((size_t)p->n_values * sizeof(cvm_tensor *));
    b->in = (const cvm_tensor **)(m + off);
    off += align_up(io);
    b->out = (cvm_tensor **)(m + off);
    off += align_up(io);
    b->done = (atomic_int *)(m + off);
    for (int i = 0; i <= p->n_steps; i++)
        atomic_init(&b->done[i], 0);
    return b;
}

static run_block *take_block(cvm_plan *p)
{
    run_block *b = NULL;
    pthread_mutex_lock(&p->arena_lock);
    if (p->n_free_arenas > 0)
        b = p->free_arenas[--p->n_free_arenas];
    pthread_mutex_unlock(&p->arena_lock);
    return b ? b : block_alloc(p);
}

static void give_block(cvm_plan *p, run_block *b)
{
    pthread_mutex_lock(&p->arena_lock);
    if (p->n_free_arenas == p->cap_free_arenas) {
        int cap = p->cap_free_arenas ? p->cap_free_arenas * 2 : 4;
        void **na = realloc(p->free_arenas, (size_t)cap * sizeof *na);
        if (!na) {
            pthread_mutex_unlock(&p->arena_lock);
            free(b);
            return;
        }
        p->free_arenas = na;
        p->cap_free_arenas = cap;
    }
    p->free_arenas[p->n_free_arenas++] = b;
    pthread_mutex_unlock(&p->arena_lock);
}

/* Nodes whose shapes are known only now, and float16/float64 nodes computed
 * in float32, go through the one-node evaluator. */
static cvm_status run_evaluated(const cvm_node *node, const cvm_plan_step *s, run_block *b,
                                cvm_threadpool *pool, size_t max_bytes)
{
    cvm_tensor *tmp[64] = {0};
    CVM_TRY(cvm_node_eval_limited(node, node->opset, node->n_in, b->in, node->n_out, tmp, pool, max_bytes));
    for (int j = 0; j < node->n_out; j++) {
        int v = node->out[j];
        if (v < 0)
            continue;
        if (s->dynamic) {
            b->dyn[v] = tmp[j];
            b->vt[v] = *tmp[j];
            b->vt[v].owns_data = 0;
        } else {
            cvm_tensor *dst = &b->vt[v];
            if (tmp[j]->dtype != dst->dtype || tmp[j]->nbytes != dst->nbytes) {
                for (int k = 0; k < node->n_out; k++)
                    cvm_tensor_free(tmp[k]);
                return cvm_node_error(node, CVM_E_INTERNAL,
                                      "output %d changed type or size between planning and running", j);
            }
            memcpy(dst->data, tmp[j]->data, dst->nbytes);
            cvm_tensor_free(tmp[j]);
        }
    }
    return CVM_OK;
}

/* Whether `d` can receive output value v as it is now (type, shape, room). */
static cvm_status check_into(const cvm_graph *g, const cvm_tensor *src, const cvm_tensor *d, int v)
{
    int same = d->dtype == src->dtype && d->ndim == src->ndim;
    for (int k = 0; same && k < src->ndim; k++)
        same = d->dims[k] == src->dims[k];
    char a[128], c[128];
    if (!same)
        return cvm_errorf(CVM_E_SHAPE, "output '%s' is %s %s; the tensor given for it is %s %s",
                          g->values[v].name, cvm_dtype_name(src->dtype),
                          cvm_shape_str(src->ndim, src->dims, a, sizeof a), cvm_dtype_name(d->dtype),
                          cvm_shape_str(d->ndim, d->dims, c, sizeof c));
    if (src->nbytes && (!d->data || d->nbytes < src->nbytes))
        return cvm_errorf(CVM_E_INVALID_ARG, "the tensor given for output '%s' holds %zu bytes at %p; "
                          "%zu are needed", g->values[v].name, d->nbytes, d->data, src->nbytes);
    return CVM_OK;
}

/* Whether a caller's output buffer shares memory with an input of this run
 * (then it is written only after the run, as before). */
static int overlaps_inputs(const cvm_plan *p, const run_block *b, const cvm_tensor *d)
{
    const char *lo = d->data, *hi = lo + d->nbytes;
    for (int v = 0; v < p->n_values; v++) {
        if (p->values[v].kind != CVM_VAL_INPUT || !b->vt[v].data)
            continue;
        const char *a = b->vt[v].data, *e = a + b->vt[v].nbytes;
        if (a < hi && lo < e)
            return 1;
    }
    return 0;
}

/* One step, with `in` and `out` as its pointer arrays (the run block's, or
 * a region thread's own). */
static cvm_status run_step(const cvm_graph *g, cvm_plan *p, int i, run_block *b,
                           const cvm_tensor **in, cvm_tensor **out, void *scratch,
                           cvm_threadpool *pool, size_t max_tensor_bytes)
{
    const cvm_plan_step *s = &p->steps[i];
    const cvm_node *node = &g->nodes[s->node];
    cvm_status st;
    struct timespec t0;
    if (p->prof_ns)
        clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int j = 0; j < node->n_in; j++)
        in[j] = node->in[j] >= 0 ? &b->vt[node->in[j]] : NULL;
    if (s->dynamic || s->promote) {
        st = run_evaluated(node, s, b, pool, max_tensor_bytes);
    } else {
        for (int j = 0; j < node->n_out; j++)
            out[j] = node->out[j] >= 0 ? &b->vt[node->out[j]] : NULL;
        cvm_kernel_ctx kc = {.node = node, .opset = node->opset, .n_in = node->n_in,
                             .n_out = node->n_out, .in = in, .out = out, .state = s->state,
                             .scratch = s->scratch_bytes ? scratch : NULL, .pool = pool};
        st = s->kernel->run(&kc);
    }
    if (p->prof_ns) {
        struct timespec t1;
        clock_gettime(CLOCK_MONOTONIC, &t1);
        long long ns = (long long)(t1.tv_sec - t0.tv_sec) * 1000000000LL + (t1.tv_nsec - t0.tv_nsec);
        atomic_fetch_add_explicit(&p->prof_ns[i], (unsigned long long)(ns > 0 ? ns : 0),
                                  memory_order_relaxed);
        atomic_fetch_add_explicit(&p->prof_calls[i], 1ULL, memory_order_relaxed);
    }
    return st;
}

/* A region (see schedule.c): every thread of the pool claims the region's
 * steps in order and runs each alone, after waiting for the steps of the
 * region it reads from.  Claims follow a topological order, so whatever
 * step a thread waits for was claimed earlier by a thread that is running
 * it or waiting for something claimed earlier still: a run never waits in
 * a cycle, and one thread alone (a worker that never woke up, or a pool
 * busy with another run) runs the whole region in order. */
typedef struct region_job {
    const cvm_graph *g;
    cvm_plan *p;
    const cvm_plan_region *r;
    run_block *b;
    size_t max_tensor_bytes;
    atomic_int next;
    atomic_int failed; /* set by the first step that fails: the others stop */
    cvm_status st;
    char msg[1024];
} region_job;

static void region_thread(void *arg, size_t begin, size_t end)
{
    region_job *j = arg;
    const cvm_plan_region *r = j->r;
    /* the pointer arrays and area of this chunk: no two threads hold the
     * same chunk (chunk 0's arrays are the ones the steps outside regions
     * use, idle meanwhile) */
    const size_t io = begin * (size_t)(j->p->max_io + 1);
    const cvm_tensor **in = j->b->in + io;
    cvm_tensor **out = j->b->out + io;
    void *scratch = j->b->arena + r->scratch_offset + begin * r->scratch_bytes;
    (void)end;
    for (;;) {
        int k = atomic_fetch_add_explicit(&j->next, 1, memory_order_relaxed);
        if (k >= r->n || atomic_load_explicit(&j->failed, memory_order_relaxed))
            return;
        int step = r->order[k];
        for (int e = r->dep_start[k]; e < r->dep_start[k + 1]; e++)
            while (!atomic_load_explicit(&j->b->done[r->deps[e]], memory_order_acquire)) {
                if (atomic_load_explicit(&j->failed, memory_order_relaxed))
                    return;
                cvm_cpu_relax();
            }
        cvm_status st =
            run_step(j->g, j->p, step, j->b, in, out, scratch, NULL, j->max_tensor_bytes);
        if (st != CVM_OK) {
            int expected = 0;
            if (atomic_compare_exchange_strong(&j->failed, &expected, 1)) {
                j->st = st;
                snprintf(j->msg, sizeof j->msg, "%s", cvm_last_error());
            }
            return;
        }
        atomic_store_explicit(&j->b->done[step], 1, memory_order_release);
    }
}

static cvm_status run_region(const cvm_graph *g, cvm_plan *p, const cvm_plan_region *r,
                             run_block *b, cvm_threadpool *pool, size_t max_tensor_bytes)
{
    for (int k = 0; k < r->n; k++)
        atomic_store_explicit(&b->done[r->order[k]], 0, memory_order_relaxed);
    region_job j = {.g = g, .p = p, .r = r, .b = b, .max_tensor_bytes = max_tensor_bytes};
    atomic_init(&j.next, 0);
    atomic_init(&j.failed, 0);
    cvm_parallel_for(pool, (size_t)cvm_threadpool_size(pool), 1, region_thread, &j);
    if (atomic_load(&j.failed))
        return cvm_errorf(j.st, "%s", j.msg);
    return CVM_OK;
}

cvm_status cvm_plan_run(const cvm_graph *g, cvm_plan *p, const cvm_tensor *const *inputs,
                        int n_out, const int *out_value, cvm_tensor **outputs, int into,
                        cvm_threadpool *pool, size_t max_tensor_bytes)
{
    run_block *b = take_block(p);
    if (!b)
        return cvm_errorf(CVM_E_NOMEM, "out of memory for a %zu-byte activation arena", p->arena_bytes);
    for (int v = 0; v < p->n_values; v++) {
        const cvm_plan_value *pv = &p->values[v];
        b->vt[v] = pv->t;
        b->dyn[v] = NULL;
        if (pv->kind == CVM_VAL_INPUT) {
            b->vt[v] = *inputs[pv->input_index];
            b->vt[v].owns_data = 0;
        }
        else if (pv->kind == CVM_VAL_ARENA)
            b->vt[v].data = b->arena + pv->offset;
    }
    cvm_status st = CVM_OK;
    /* Graph outputs computed in the arena are computed straight into the
     * tensors returned (or given, with `into`) instead of being copied out
     * at the end: YOLOv8n's 2.7 MB output was a single-threaded memcpy of
     * every run.  An output that is a view of another buffer, or given
     * twice, is still copied. */
    unsigned char direct[64] = {0};
    if (!into)
        for (int i = 0; i < n_out; i++)
            outputs[i] = NULL;
    for (int i = 0; i < n_out && st == CVM_OK; i++) {
        int v = out_value[i];
        const cvm_plan_value *pv = &p->values[v];
        void *target = NULL;
        if (pv->kind == CVM_VAL_DYNAMIC)
            continue; /* its shape is known after the run */
        if (into) {
            st = check_into(g, &b->vt[v], outputs[i], v);
            if (st == CVM_OK && outputs[i]->nbytes && !overlaps_inputs(p, b, outputs[i]))
                target = outputs[i]->data;
        } else {
            st = cvm_tensor_create_uninit(b->vt[v].dtype, b->vt[v].ndim, b->vt[v].dims, &outputs[i]);
            if (st == CVM_OK)
                target = outputs[i]->data;
        }
        if (st != CVM_OK || !target || i >= 64 || pv->kind != CVM_VAL_ARENA || pv->alias_of >= 0 ||
            !pv->t.nbytes)
            continue;
        int twice = 0;
        for (int k = 0; k < i; k++)
            twice |= out_value[k] == v;
        if (twice)
            continue;
        direct[i] = 1;
        for (int w = 0; w < p->n_values; w++) {
            const cvm_plan_value *pw = &p->values[w];
            if (pw->kind != CVM_VAL_ARENA || (w != v && pw->alias_of < 0))
                continue;
            if (cvm_plan_root(p, w) == v)
                b->vt[w].data = (char *)target + (pw->offset - pv->offset);
        }
    }
    /* Regions run side by side only on the pool they were chosen for; on
     * any other their steps run one after the other like the rest (their
     * buffers are laid out for either). */
    const int regions = pool && p->n_regions && cvm_threadpool_size(pool) == p->region_threads;
    int next_region = 0;
    for (int i = 0; i < p->n_steps && st == CVM_OK; i++) {
        const cvm_plan_step *s = &p->steps[i];
        const cvm_node *node = &g->nodes[s->node];
        if (regions && next_region < p->n_regions && p->regions[next_region].first == i) {
            /* (no step of a region reads a run-time tensor: none to release) */
            st = run_region(g, p, &p->regions[next_region], b, pool, max_tensor_bytes);
            i = p->regions[next_region++].last;
            continue;
        }
        if (s->skip)
            continue;
        st = run_step(g, p, i, b, b->in, b->out, b->arena + s->scratch_offset, pool,
                      max_tensor_bytes);
        /* Release run-time tensors as soon as their last reader is done. */
        for (int j = 0; j < node->n_in; j++) {
            int v = node->in[j];
            if (v >= 0 && b->dyn[v] && p->values[v].last_use == i) {
                cvm_tensor_free(b->dyn[v]);
                b->dyn[v] = NULL;
            }
        }
    }
    for (int i = 0; i < n_out && st == CVM_OK; i++) {
        const cvm_tensor *src = &b->vt[out_value[i]];
        if (direct[i])
            continue;
        if (into) {
            /* a dynamic output's shape is known only now */
            st = check_into(g, src, outputs[i], out_value[i]);
            if (st == CVM_OK && src->nbytes)
                memmove(outputs[i]->data, src->data, src->nbytes);
            continue;
        }
        if (!outputs[i]) /* dynamic */
            st = cvm_tensor_create_uninit(src->dtype, src->ndim, src->dims, &outputs[i]);
        if (st == CVM_OK && outputs[i]->nbytes)
            memcpy(outputs[i]->data, src->data, outputs[i]->nbytes);
    }
    if (st != CVM_OK && !into)
        for (int i = 0; i < n_out; i++) {
            cvm_tensor_free(outputs[i]);
            outputs[i] = NULL;
        }
    for (int v = 0; v < p->n_values; v++)
        if (b->dyn[v]) {
            cvm_tensor_free(b->dyn[v]);
            b->dyn[v] = NULL;
        }
    give_block(p, b);
    return st;
}
