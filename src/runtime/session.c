#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backends/backend.h"
#include "graph/fuse.h"
#include "onnx/onnx_loader.h"
#include "runtime/plan.h"
#include "runtime/session.h"

#define DEFAULT_MAX_TENSOR_BYTES ((size_t)1 << 32)
/* Plans kept per session: one per distinct set of input shapes seen recently. */
#define MAX_CACHED_PLANS 8

struct cvm_session {
    cvm_graph *g;
    int *order;
    cvm_session_options opts;
    cvm_threadpool *pool;
    pthread_mutex_t lock;      /* guards plans and stats */
    cvm_plan *plans;           /* most recently used first */
    int n_plans;
    cvm_session_stats stats;
    int planning_eagerly;      /* plan_eagerly is building the only plan there will be */
};

cvm_status cvm_session_options_init(cvm_session_options *o)
{
    if (!o)
        return cvm_errorf(CVM_E_INVALID_ARG, "cvm_session_options_init: options is NULL");
    memset(o, 0, sizeof *o);
    o->threads = 0;
    o->optimize = 1;
    o->max_tensor_bytes = DEFAULT_MAX_TENSOR_BYTES;
    return CVM_OK;
}

/* Reports every operator the graph uses that this build cannot run, at once,
 * rather than failing on the first. */
static cvm_status check_operators(const cvm_graph *g)
{
    char msg[768];
    size_t k = 0;
    int missing = 0;
    msg[0] = '\0';
    for (int i = 0; i < g->n_nodes; i++) {
        const cvm_node *n = &g->nodes[i];
        if (cvm_schema_find(n->domain, n->op_type) && cvm_backend_cpu()->find_kernel(n->domain, n->op_type))
            continue;
        int seen = 0;
        for (int j = 0; j < i && !seen; j++)
            seen = strcmp(g->nodes[j].op_type, n->op_type) == 0 && strcmp(g->nodes[j].domain, n->domain) == 0;
        if (seen)
            continue;
        missing++;
        if (k < sizeof msg - 64)
            k += (size_t)snprintf(msg + k, sizeof msg - k, "%s%s%s%s", missing > 1 ? ", " : "",
                                  n->domain[0] ? n->domain : "", n->domain[0] ? "." : "", n->op_type);
    }
    if (missing)
        return cvm_errorf(CVM_E_UNSUPPORTED, "the model uses %d operator%s that cvmodels does not support: %s",
                          missing, missing > 1 ? "s" : "", msg);
    return CVM_OK;
}

static void plan_release(cvm_session *s, cvm_plan *p)
{
    pthread_mutex_lock(&s->lock);
    int free_it = --p->refs == 0;
    pthread_mutex_unlock(&s->lock);
    if (free_it)
        cvm_plan_free(p);
}

static int same_shapes(const cvm_plan *p, const cvm_tensor *const *inputs)
{
    for (int i = 0; i < p->n_inputs; i++) {
        const cvm_tensor *a = &p->input_shapes[i], *b = inputs[i];
        if (a->dtype != b->dtype || a->ndim != b->ndim)
            return 0;
        for (int d = 0; d < a->ndim; d++)
            if (a->dims[d] != b->dims[d])
                return 0;
    }
    return 1;
}

/* Finds or builds the plan for these input shapes and takes a reference. */
static cvm_status plan_acquire(cvm_session *s, const cvm_tensor *const *inputs, cvm_plan **out)
{
    pthread_mutex_lock(&s->lock);
    cvm_plan *prev = NULL;
    for (cvm_plan *p = s->plans; p; prev = p, p = p->next) {
        if (!same_shapes(p, inputs))
            continue;
        if (prev) { /* move to front */
            prev->next = p->next;
            p->next = s->plans;
            s->plans = p;
        }
        p->refs++;
        pthread_mutex_unlock(&s->lock);
        *out = p;
        return CVM_OK;
    }
    /* Build under the lock: concurrent first runs with the same shapes then
     * share one plan instead of building it twice. */
    int ni = s->g->n_inputs;
    cvm_tensor *hdr = calloc((size_t)(ni ? ni : 1), sizeof *hdr);
    if (!hdr) {
        pthread_mutex_unlock(&s->lock);
        return cvm_errorf(CVM_E_NOMEM, "out of memory");
    }
    for (int i = 0; i < ni; i++)
        hdr[i] = *inputs[i];
    cvm_plan_options po = {.optimize = s->opts.optimize, .max_tensor_bytes = s->opts.max_tensor_bytes,
                           .pool = s->pool, .profile = s->opts.profile,
                           .release_weights = s->planning_eagerly, .precision = s->opts.precision};
    cvm_plan *p = NULL;
    cvm_status st = cvm_plan_build(s->g, s->order, hdr, &po, &p);
    free(hdr);
    if (st != CVM_OK) {
        pthread_mutex_unlock(&s->lock);
        return st;
    }
    p->next = s->plans;
    s->plans = p;
    s->n_plans++;
    p->refs++; /* the caller's reference; the cache holds the first */
    /* Evict the least recently used plans that are not running. */
    if (s->n_plans > MAX_CACHED_PLANS) {
        cvm_plan **link = &s->plans;
        int kept = 0;
        while (*link) {
            cvm_plan *q = *link;
            if (++kept > MAX_CACHED_PLANS && q != p) {
                *link = q->next;
                s->n_plans--;
                if (--q->refs == 0)
                    cvm_plan_free(q);
                continue;
            }
            link = &q->next;
        }
    }
    s->stats.nodes_planned = (size_t)p->n_steps;
    s->stats.nodes_viewed = 0;
    for (int i = 0; i < p->n_steps; i++)
        s->stats.nodes_viewed += p->steps[i].skip;
    s->stats.nodes_side_by_side = 0;
    for (int i = 0; i < p->n_regions; i++)
        s->stats.nodes_side_by_side += (size_t)p->regions[i].n;
    s->stats.side_by_side_regions = (size_t)p->n_regions;
    s->stats.nodes_folded = p->nodes_folded;
    s->stats.arena_bytes = p->arena_bytes;
    s->stats.naive_bytes = p->naive_bytes;
    pthread_mutex_unlock(&s->lock);
    *out = p;
    return CVM_OK;
}

/* Builds the plan right away when every input shape is fixed, so that load
 * errors and prepacking happen at load time rather than on the first run. */
static cvm_status plan_eagerly(cvm_session *s)
{
    const cvm_graph *g = s->g;
    cvm_tensor *hdr = calloc((size_t)(g->n_inputs ? g->n_inputs : 1), sizeof *hdr);
    const cvm_tensor **ptr = calloc((size_t)(g->n_inputs ? g->n_inputs : 1), sizeof *ptr);
    cvm_status st = CVM_OK;
    if (!hdr || !ptr) {
        st = cvm_errorf(CVM_E_NOMEM, "out of memory");
        goto done;
    }
    for (int i = 0; i < g->n_inputs; i++) {
        const cvm_value *v = &g->values[g->inputs[i]];
        if (v->ndim < 0 || !cvm_dtype_valid((int)v->dtype))
            goto done;
        for (int d = 0; d < v->ndim; d++)
            if (v->dims[d].value < 0)
                goto done;
        hdr[i].dtype = v->dtype;
        hdr[i].ndim = v->ndim;
        for (int d = 0; d < v->ndim; d++)
            hdr[i].dims[d] = v->dims[d].value;
        ptr[i] = &hdr[i];
    }
    cvm_plan *p;
    /* With every input shape fixed, this is the only plan the session will
     * ever build (runs with other shapes or dtypes are refused before
     * planning), so constants that a kernel has copied into its own form
     * can go (see cvm_plan_options.release_weights). */
    s->planning_eagerly = 1;
    st = plan_acquire(s, ptr, &p);
    s->planning_eagerly = 0;
    if (st == CVM_OK)
        plan_release(s, p);
done:
    free(hdr);
    free(ptr);
    return st;
}

cvm_status cvm_session_create_from_graph(cvm_graph *g, const cvm_session_options *opts,
                                         cvm_session **out)
{
    cvm_session *s = calloc(1, sizeof *s);
    if (!s) {
        cvm_graph_free(g);
        return cvm_errorf(CVM_E_NOMEM, "out of memory creating a session");
    }
    pthread_mutex_init(&s->lock, NULL);
    s->g = g;
    if (opts)
        s->opts = *opts;
    else
        cvm_session_options_init(&s->opts);
    if (s->opts.threads < 0) {
        cvm_session_free(s);
        return cvm_errorf(CVM_E_INVALID_ARG, "session option threads is %d; use 0 for all cores or a positive count",
                          opts->threads);
    }
    if (s->opts.precision != CVM_PRECISION_FP32 && s->opts.precision != CVM_PRECISION_BF16) {
        cvm_session_free(s);
        return cvm_errorf(CVM_E_INVALID_ARG, "session option precision is %d; use CVM_PRECISION_FP32 "
                          "(0) or CVM_PRECISION_BF16 (1)", (int)opts->precision);
    }
    if (s->opts.precision == CVM_PRECISION_BF16 && cvm_bf16_kind() == 0) {
        cvm_session_free(s);
        return cvm_errorf(CVM_E_UNSUPPORTED, "bf16 precision needs a CPU with AMX-BF16 or "
                          "AVX512_BF16 (and an OS that enables AVX-512); this one has neither");
    }
    if (!s->opts.max_tensor_bytes)
        s->opts.max_tensor_bytes = DEFAULT_MAX_TENSOR_BYTES;
    s->stats.nodes_in_model = (size_t)g->n_nodes;
    for (int v = 0; v < g->n_values; v++)
        if (g->values[v].init)
            s->stats.weight_bytes += g->values[v].init->nbytes;
    cvm_status st = s->opts.optimize ? cvm_graph_fuse(g) : CVM_OK; // fuse hook
    if (st == CVM_OK)
        st = check_operators(g);
    if (st == CVM_OK) {
        s->order = malloc(sizeof(int) * (size_t)(g->n_nodes ? g->n_nodes : 1));
        st = s->order ? cvm_graph_toposort(g, s->order) : cvm_errorf(CVM_E_NOMEM, "out of memory");
    }
    if (st == CVM_OK)
        st = cvm_threadpool_create(s->opts.threads, &s->pool);
    if (st == CVM_OK)
        st = plan_eagerly(s);
    if (st != CVM_OK) {
        cvm_session_free(s);
        return st;
    }
    *out = s;
    return CVM_OK;
}

cvm_status cvm_session_create(const char *path, const cvm_session_options *opts, cvm_session **out)
{
    if (!out)
        return cvm_errorf(CVM_E_INVALID_ARG, "cvm_session_create: out is NULL");
    *out = NULL;
    if (!path)
        return cvm_errorf(CVM_E_INVALID_ARG, "cvm_session_create: path is NULL");
    cvm_graph *g = NULL;
    cvm_status st = cvm_onnx_load_file(path, 0, &g);
    if (st != CVM_OK)
        return cvm_error_wrap(st, "%s", path);
    st = cvm_session_create_from_graph(g, opts, out);
    if (st != CVM_OK)
        return cvm_error_wrap(st, "%s", path);
    return CVM_OK;
}

cvm_status cvm_session_create_from_memory(const void *data, size_t size, const char *base_dir,
                                          const cvm_session_options *opts, cvm_session **out)
{
    if (!out)
        return cvm_errorf(CVM_E_INVALID_ARG, "cvm_session_create_from_memory: out is NULL");
    *out = NULL;
    if (!data && size)
        return cvm_errorf(CVM_E_INVALID_ARG, "cvm_session_create_from_memory: data is NULL");
    cvm_graph *g = NULL;
    CVM_TRY(cvm_onnx_load_memory(data, size, base_dir, &g));
    return cvm_session_create_from_graph(g, opts, out);
}

void cvm_session_free(cvm_session *s)
{
    if (!s)
        return;
    while (s->plans) {
        cvm_plan *p = s->plans;
        s->plans = p->next;
        cvm_plan_free(p);
    }
    cvm_threadpool_free(s->pool);
    free(s->order);
    cvm_graph_free(s->g);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

static cvm_status value_info(const cvm_graph *g, int v, cvm_value_info *info)
{
    const cvm_value *val = &g->values[v];
    memset(info, 0, sizeof *info);
    info->name = val->name;
    info->dtype = val->dtype;
    info->ndim = val->ndim;
    for (int d = 0; d < val->ndim && d < CVM_MAX_DIMS; d++) {
        info->dims[d] = val->dims[d].value;
        info->dim_names[d] = val->dims[d].param;
    }
    return CVM_OK;
}

cvm_status cvm_session_input_count(const cvm_session *s, size_t *n)
{
    if (!s || !n)
        return cvm_errorf(CVM_E_INVALID_ARG, "cvm_session_input_count: NULL argument");
    *n = (size_t)s->g->n_inputs;
    return CVM_OK;
}

cvm_status cvm_session_output_count(const cvm_session *s, size_t *n)
{
    if (!s || !n)
        return cvm_errorf(CVM_E_INVALID_ARG, "cvm_session_output_count: NULL argument");
    *n = (size_t)s->g->n_outputs;
    return CVM_OK;
}

cvm_status cvm_session_input_info(const cvm_session *s, size_t i, cvm_value_info *info)
{
    if (!s || !info)
        return cvm_errorf(CVM_E_INVALID_ARG, "cvm_session_input_info: NULL argument");
    if (i >= (size_t)s->g->n_inputs)
        return cvm_errorf(CVM_E_INVALID_ARG, "input index %zu out of range (the model has %d inputs)", i,
                          s->g->n_inputs);
    return value_info(s->g, s->g->inputs[i], info);
}

cvm_status cvm_session_output_info(const cvm_session *s, size_t i, cvm_value_info *info)
{
    if (!s || !info)
        return cvm_errorf(CVM_E_INVALID_ARG, "cvm_session_output_info: NULL argument");
    if (i >= (size_t)s->g->n_outputs)
        return cvm_errorf(CVM_E_INVALID_ARG, "output index %zu out of range (the model has %d outputs)", i,
                          s->g->n_outputs);
    return value_info(s->g, s->g->outputs[i], info);
}

cvm_status cvm_session_get_stats(const cvm_session *s, cvm_session_stats *st)
{
    if (!s || !st)
        return cvm_errorf(CVM_E_INVALID_ARG, "cvm_session_get_stats: NULL argument");
    pthread_mutex_lock((pthread_mutex_t *)&s->lock);
    *st = s->stats;
    pthread_mutex_unlock((pthread_mutex_t *)&s->lock);
    return CVM_OK;
}

/* Checks a fed tensor against the model's declaration of that input. */
static cvm_status check_input(const cvm_value *v, const cvm_tensor *t)
{
    char a[160], b[160];
    if (!t)
        return cvm_errorf(CVM_E_INVALID_ARG, "input '%s': tensor is NULL", v->name);
    if (t->ndim < 0 || t->ndim > CVM_MAX_DIMS)
        return cvm_errorf(CVM_E_SHAPE, "input '%s': rank %d is invalid", v->name, t->ndim);
    size_t need;
    if (!cvm_shape_nbytes(t->dtype, t->ndim, t->dims, &need))
        return cvm_errorf(CVM_E_SHAPE, "input '%s': shape %s with dtype %s is invalid", v->name,
                          cvm_shape_str(t->ndim, t->dims, a, sizeof a), cvm_dtype_name(t->dtype));
    if (need && (!t->data || t->nbytes < need))
        return cvm_errorf(CVM_E_INVALID_ARG, "input '%s': buffer holds %zu bytes, shape needs %zu", v->name,
                          t->data ? t->nbytes : 0, need);
    if (v->dtype != CVM_DTYPE_UNDEFINED && t->dtype != v->dtype)
        return cvm_errorf(CVM_E_TYPE, "input '%s' must be %s, got %s", v->name, cvm_dtype_name(v->dtype),
                          cvm_dtype_name(t->dtype));
    if (v->ndim >= 0) {
        int bad = v->ndim != t->ndim;
        for (int d = 0; d < v->ndim && !bad; d++)
            bad = v->dims[d].value >= 0 && v->dims[d].value != t->dims[d];
        if (bad) {
            int64_t decl[CVM_MAX_DIMS];
            for (int d = 0; d < v->ndim; d++)
                decl[d] = v->dims[d].value;
            return cvm_errorf(CVM_E_SHAPE, "input '%s' must have shape %s (-1 = any), got %s", v->name,
                              cvm_shape_str(v->ndim, decl, a, sizeof a), cvm_shape_str(t->ndim, t->dims, b, sizeof b));
        }
    }
    return CVM_OK;
}

/* cvm_session_run (into = 0: new output tensors) and cvm_session_run_into
 * (into = 1: the caller's). */
static cvm_status session_run(cvm_session *s, size_t n_inputs, const char *const *input_names,
                              const cvm_tensor *const *inputs, size_t n_outputs,
                              const char *const *output_names, cvm_tensor **outputs, int into)
{
    const char *fn = into ? "cvm_session_run_into" : "cvm_session_run";
    if (!s)
        return cvm_errorf(CVM_E_INVALID_ARG, "%s: session is NULL", fn);
    if (n_inputs && (!input_names || !inputs))
        return cvm_errorf(CVM_E_INVALID_ARG, "%s: %zu inputs but %s is NULL", fn, n_inputs,
                          !input_names ? "input_names" : "inputs");
    if (n_outputs && !outputs)
        return cvm_errorf(CVM_E_INVALID_ARG, "%s: %zu outputs requested but outputs is NULL", fn,
                          n_outputs);
    const cvm_graph *g = s->g;
    for (size_t i = 0; i < n_outputs; i++) {
        if (!into)
            outputs[i] = NULL;
        else if (!outputs[i])
            return cvm_errorf(CVM_E_INVALID_ARG, "%s: output tensor %zu is NULL", fn, i);
    }
    if (!output_names && n_outputs != (size_t)g->n_outputs)
        return cvm_errorf(CVM_E_INVALID_ARG, "%s: %zu outputs requested but the model has %d", fn,
                          n_outputs, g->n_outputs);
    if (n_outputs > (size_t)g->n_values)
        return cvm_errorf(CVM_E_INVALID_ARG, "%s: too many outputs requested", fn);
    int ni = g->n_inputs;
    /* Small graphs (nearly all vision models) use stack arrays so that a
     * steady-state run allocates only its output tensors (nothing at all
     * with cvm_session_run_into). */
    const cvm_tensor *feed_small[16] = {0};
    int out_small[16];
    const cvm_tensor **feed = ni <= 16 ? feed_small : calloc((size_t)ni, sizeof *feed);
    int *out_value = n_outputs <= 16 ? out_small : calloc(n_outputs, sizeof *out_value);
    cvm_status st = CVM_OK;
    if (!feed || !out_value) {
        st = cvm_errorf(CVM_E_NOMEM, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < n_inputs; i++) {
        if (!input_names[i]) {
            st = cvm_errorf(CVM_E_INVALID_ARG, "input name %zu is NULL", i);
            goto done;
        }
        int k = 0;
        while (k < ni && strcmp(g->values[g->inputs[k]].name, input_names[i]) != 0)
            k++;
        if (k == ni) {
            st = cvm_errorf(CVM_E_NOT_FOUND, "the model has no input named '%s'", input_names[i]);
            goto done;
        }
        if (feed[k]) {
            st = cvm_errorf(CVM_E_INVALID_ARG, "input '%s' is given twice", input_names[i]);
            goto done;
        }
        st = check_input(&g->values[g->inputs[k]], inputs[i]);
        if (st != CVM_OK)
            goto done;
        feed[k] = inputs[i];
    }
    for (int k = 0; k < ni; k++)
        if (!feed[k]) {
            st = cvm_errorf(CVM_E_INVALID_ARG, "input '%s' was not given", g->values[g->inputs[k]].name);
            goto done;
        }
    for (size_t i = 0; i < n_outputs; i++) {
        if (!output_names) {
            out_value[i] = g->outputs[i];
            continue;
        }
        int k = 0;
        while (k < g->n_outputs && (!output_names[i] || strcmp(g->values[g->outputs[k]].name, output_names[i]) != 0))
            k++;
        if (k == g->n_outputs) {
            st = cvm_errorf(CVM_E_NOT_FOUND, "the model has no output named '%s'",
                            output_names[i] ? output_names[i] : "(null)");
            goto done;
        }
        out_value[i] = g->outputs[k];
    }
    cvm_plan *p;
    st = plan_acquire(s, feed, &p);
    if (st != CVM_OK)
        goto done;
    st = cvm_plan_run(g, p, feed, (int)n_outputs, out_value, outputs, into, s->pool,
                      s->opts.max_tensor_bytes);
    plan_release(s, p);
done:
    if (feed != feed_small)
        free(feed);
    if (out_value != out_small)
        free(out_value);
    return st;
}

cvm_status cvm_session_run(cvm_session *s, size_t n_inputs, const char *const *input_names,
                           const cvm_tensor *const *inputs, size_t n_outputs,
                           const char *const *output_names, cvm_tensor **outputs)
{
    return session_run(s, n_inputs, input_names, inputs, n_outputs, output_names, outputs, 0);
}

cvm_status cvm_session_run_into(cvm_session *s, size_t n_inputs, const char *const *input_names,
                                const cvm_tensor *const *inputs, size_t n_outputs,
                                const char *const *output_names, cvm_tensor *const *outputs)
{
    return session_run(s, n_inputs, input_names, inputs, n_outputs, output_names,
                       (cvm_tensor **)outputs, 1);
}

static int node_by_time_desc(const void *a, const void *b)
{
    const cvm_node_time *x = a, *y = b;
    return x->total_ms < y->total_ms ? 1 : x->total_ms > y->total_ms ? -1 : 0;
}

static void append_shape(char *buf, size_t cap, const char *sep, const cvm_tensor *t)
{
    size_t len = strlen(buf);
    char sh[96];
    if (len + 1 < cap)
        snprintf(buf + len, cap - len, "%s%s", sep, cvm_shape_str(t->ndim, t->dims, sh, sizeof sh));
}

/* The timings of every node that ran, summed over all cached plans, for the
 * profile getters (`fn` names the caller in errors); *acc is malloc'd. */
static cvm_status node_times(const cvm_session *s, const char *fn, const size_t *n, int out_missing,
                             cvm_node_time **acc_out, size_t *used_out)
{
    if (!s || !n || out_missing)
        return cvm_errorf(CVM_E_INVALID_ARG, "%s: %s is NULL", fn,
                          !s ? "session" : !n ? "n" : "out");
    if (!s->opts.profile)
        return cvm_errorf(CVM_E_INVALID_ARG, "%s: the session was created without options.profile",
                          fn);
    cvm_session *ms = (cvm_session *)s; /* the lock is the only thing touched */
    pthread_mutex_lock(&ms->lock);
    size_t max = (size_t)s->g->n_nodes;
    cvm_node_time *acc = calloc(max ? max : 1, sizeof *acc);
    int *slot = malloc((max ? max : 1) * sizeof *slot);
    if (!acc || !slot) {
        pthread_mutex_unlock(&ms->lock);
        free(acc);
        free(slot);
        return cvm_errorf(CVM_E_NOMEM, "out of memory");
    }
    for (size_t k = 0; k < max; k++)
        slot[k] = -1;
    size_t used = 0;
    for (const cvm_plan *p = s->plans; p; p = p->next) {
        if (!p->prof_ns)
            continue;
        for (int i = 0; i < p->n_steps; i++) {
            if (p->steps[i].skip)
                continue;
            int id = p->steps[i].node;
            const cvm_node *nd = &s->g->nodes[id];
            if (slot[id] < 0) {
                cvm_node_time *e = &acc[used];
                slot[id] = (int)used++;
                if (nd->name && nd->name[0])
                    snprintf(e->name, sizeof e->name, "%s", nd->name);
                else
                    snprintf(e->name, sizeof e->name, "#%d", id);
                snprintf(e->op_type, sizeof e->op_type, "%s", nd->op_type);
                /* Shapes of the most recently used plan (the list's head). */
                for (int j = 0; j < nd->n_in; j++) {
                    if (nd->in[j] < 0)
                        continue;
                    append_shape(e->shapes, sizeof e->shapes, e->shapes[0] ? " " : "",
                                 &p->values[nd->in[j]].t);
                }
                if (nd->n_out > 0 && nd->out[0] >= 0)
                    append_shape(e->shapes, sizeof e->shapes, " -> ", &p->values[nd->out[0]].t);
            }
            cvm_node_time *e = &acc[slot[id]];
            e->calls += (size_t)atomic_load_explicit(&p->prof_calls[i], memory_order_relaxed);
            e->total_ms += (double)atomic_load_explicit(&p->prof_ns[i], memory_order_relaxed) / 1e6;
        }
    }
    pthread_mutex_unlock(&ms->lock);
    free(slot);
    *acc_out = acc;
    *used_out = used;
    return CVM_OK;
}

cvm_status cvm_session_get_node_profile(const cvm_session *s, cvm_node_time *out, size_t cap,
                                        size_t *n)
{
    cvm_node_time *acc;
    size_t used;
    if (n)
        *n = 0;
    CVM_TRY(node_times(s, "cvm_session_get_node_profile", n, cap && !out, &acc, &used));
    qsort(acc, used, sizeof *acc, node_by_time_desc);
    for (size_t k = 0; k < used && k < cap; k++)
        out[k] = acc[k];
    *n = used;
    free(acc);
    return CVM_OK;
}

static int by_time_desc(const void *a, const void *b)
{
    const cvm_op_time *x = a, *y = b;
    return x->total_ms < y->total_ms ? 1 : x->total_ms > y->total_ms ? -1 : 0;
}

/* The node timings grouped by operator type. */
cvm_status cvm_session_get_profile(const cvm_session *s, cvm_op_time *out, size_t cap, size_t *n)
{
    cvm_node_time *nodes;
    size_t n_nodes, used = 0;
    if (n)
        *n = 0;
    CVM_TRY(node_times(s, "cvm_session_get_profile", n, cap && !out, &nodes, &n_nodes));
    cvm_op_time *acc = calloc(n_nodes ? n_nodes : 1, sizeof *acc);
    if (!acc) {
        free(nodes);
        return cvm_errorf(CVM_E_NOMEM, "out of memory");
    }
    for (size_t i = 0; i < n_nodes; i++) {
        size_t k = 0;
        while (k < used && strcmp(acc[k].op_type, nodes[i].op_type) != 0)
            k++;
        if (k == used)
            snprintf(acc[used++].op_type, sizeof acc[0].op_type, "%s", nodes[i].op_type);
        acc[k].nodes++;
        acc[k].calls += nodes[i].calls;
        acc[k].total_ms += nodes[i].total_ms;
    }
    free(nodes);
    qsort(acc, used, sizeof *acc, by_time_desc);
    for (size_t k = 0; k < used && k < cap; k++)
        out[k] = acc[k];
    *n = used;
    free(acc);
    return CVM_OK;
}

cvm_threadpool *cvm_session_pool(const cvm_session *s)
{
    return s ? s->pool : NULL;
}
