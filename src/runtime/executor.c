/* Running a plan: the loop that every inference goes through. */
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
    const cvm_tensor **in; /* max_io scratch pointer arrays */
    cvm_tensor **out;
    unsigned char *arena;
} run_block;

static size_t align_up(size_t x) { return (x + 63) & ~(size_t)63; }

static void *block_alloc(const cvm_plan *p)
{
    size_t sz = align_up(p->arena_bytes) + align_up(sizeof(run_block)) +
                align_up((size_t)p->n_values * sizeof(cvm_tensor)) +
                align_up((size_t)p->n_values * sizeof(cvm_tensor *)) +
                2 * align_up((size_t)(p->max_io + 1) * sizeof(void *));
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
    off += align_up((size_t)(p->max_io + 1) * sizeof(void *));
    b->out = (cvm_tensor **)(m + off);
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
            int r = w;
            while (p->values[r].alias_of >= 0)
                r = p->values[r].alias_of;
            if (r == v)
                b->vt[w].data = (char *)target + (pw->offset - pv->offset);
        }
    }
    for (int i = 0; i < p->n_steps && st == CVM_OK; i++) {
        const cvm_plan_step *s = &p->steps[i];
        const cvm_node *node = &g->nodes[s->node];
        if (s->skip)
            continue;
        struct timespec t0;
        if (p->prof_ns)
            clock_gettime(CLOCK_MONOTONIC, &t0);
        for (int j = 0; j < node->n_in; j++)
            b->in[j] = node->in[j] >= 0 ? &b->vt[node->in[j]] : NULL;
        if (s->dynamic || s->promote) {
            st = run_evaluated(node, s, b, pool, max_tensor_bytes);
        } else {
            for (int j = 0; j < node->n_out; j++)
                b->out[j] = node->out[j] >= 0 ? &b->vt[node->out[j]] : NULL;
            cvm_kernel_ctx kc = {.node = node, .opset = node->opset, .n_in = node->n_in,
                                 .n_out = node->n_out, .in = b->in, .out = b->out, .state = s->state,
                                 .scratch = s->scratch_bytes ? b->arena + s->scratch_offset : NULL,
                                 .pool = pool};
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
