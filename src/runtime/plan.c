#include "runtime/plan.h"

#include <stdlib.h>
#include <string.h>

#include "runtime/eval.h"
#include "runtime/memplan.h"
#include "runtime/overlap.h"
#include "runtime/schedule.h"

cvm_status cvm_graph_toposort(const cvm_graph *g, int *order)
{
    int nn = g->n_nodes, nv = g->n_values;
    int *producer = malloc(sizeof(int) * (size_t)(nv ? nv : 1));
    int *indeg = calloc((size_t)(nn ? nn : 1), sizeof(int));
    int *cons_start = calloc((size_t)nv + 1, sizeof(int));
    int total_edges = 0;
    for (int i = 0; i < nn; i++)
        total_edges += g->nodes[i].n_in;
    int *cons = malloc(sizeof(int) * (size_t)(total_edges ? total_edges : 1));
    int *fill = calloc((size_t)nv + 1, sizeof(int));
    cvm_status st = CVM_OK;
    if (!producer || !indeg || !cons_start || !cons || !fill) {
        st = cvm_errorf(CVM_E_NOMEM, "out of memory sorting the graph");
        goto done;
    }
    for (int v = 0; v < nv; v++)
        producer[v] = -1;
    for (int i = 0; i < nn; i++)
        for (int j = 0; j < g->nodes[i].n_out; j++) {
            int v = g->nodes[i].out[j];
            if (v < 0)
                continue;
            if (producer[v] >= 0 || g->values[v].init) {
                st = cvm_errorf(CVM_E_PARSE, "value '%s' is produced twice (node '%s')",
                                g->values[v].name, g->nodes[i].name);
                goto done;
            }
            producer[v] = i;
        }
    /* Consumers per value (CSR) and in-degrees counted per edge. */
    for (int i = 0; i < nn; i++)
        for (int j = 0; j < g->nodes[i].n_in; j++) {
            int v = g->nodes[i].in[j];
            if (v >= 0 && producer[v] >= 0) {
                cons_start[v + 1]++;
                indeg[i]++;
            }
        }
    for (int v = 0; v < nv; v++)
        cons_start[v + 1] += cons_start[v];
    for (int i = 0; i < nn; i++)
        for (int j = 0; j < g->nodes[i].n_in; j++) {
            int v = g->nodes[i].in[j];
            if (v >= 0 && producer[v] >= 0)
                cons[cons_start[v] + fill[v]++] = i;
        }
    /* Kahn's algorithm; seeding in file order keeps the schedule close to the
     * exporter's, which is usually a good order for memory reuse. */
    int head = 0, tail = 0;
    for (int i = 0; i < nn; i++)
        if (indeg[i] == 0)
            order[tail++] = i;
    while (head < tail) {
        int n = order[head++];
        for (int j = 0; j < g->nodes[n].n_out; j++) {
            int v = g->nodes[n].out[j];
            if (v < 0)
                continue;
            for (int c = cons_start[v]; c < cons_start[v + 1]; c++)
                if (--indeg[cons[c]] == 0)
                    order[tail++] = cons[c];
        }
    }
    if (tail != nn) {
        for (int i = 0; i < nn; i++)
            if (indeg[i] > 0) {
                st = cvm_errorf(CVM_E_PARSE, "the graph has a cycle through node '%s' (%s)",
                                g->nodes[i].name, g->nodes[i].op_type);
                break;
            }
    }
done:
    free(producer);
    free(indeg);
    free(cons_start);
    free(cons);
    free(fill);
    return st;
}

void cvm_plan_free(cvm_plan *p)
{
    if (!p)
        return;
    for (int i = 0; i < p->n_steps; i++) {
        cvm_plan_step *s = &p->steps[i];
        if (s->state && s->kernel && s->kernel->release)
            s->kernel->release(s->state);
    }
    cvm_plan_regions_free(p);
    free(p->steps);
    free((void *)p->prof_ns);
    free((void *)p->prof_calls);
    for (int v = 0; v < p->n_values; v++)
        cvm_tensor_free(p->values[v].owned);
    free(p->values);
    free(p->input_shapes);
    for (int i = 0; i < p->n_free_arenas; i++)
        free(p->free_arenas[i]);
    free(p->free_arenas);
    pthread_mutex_destroy(&p->arena_lock);
    free(p);
}

static cvm_status check_limit(const cvm_node *n, const cvm_value *v, const cvm_tensor *t,
                              size_t max_bytes, size_t *bytes)
{
    size_t nb;
    if (!cvm_shape_nbytes(t->dtype, t->ndim, t->dims, &nb)) {
        char sh[160];
        return cvm_node_error(n, CVM_E_SHAPE, "output '%s' has an invalid shape %s or dtype %s", v->name,
                              cvm_shape_str(t->ndim, t->dims, sh, sizeof sh), cvm_dtype_name(t->dtype));
    }
    if (max_bytes && nb > max_bytes)
        return cvm_node_error(n, CVM_E_LIMIT, "output '%s' would take %zu bytes, over the %zu-byte limit",
                              v->name, nb, max_bytes);
    *bytes = nb;
    return CVM_OK;
}

/* Evaluates a node whose inputs are all known and stores its outputs as plan
 * constants. */
static cvm_status fold_node(const cvm_graph *g, cvm_plan *p, const cvm_node *node,
                            const cvm_tensor *const *in, const cvm_plan_options *o)
{
    cvm_tensor *out[64] = {0};
    CVM_TRY(cvm_node_eval_limited(node, node->opset, node->n_in, in, node->n_out, out, o->pool,
                                  o->max_tensor_bytes));
    for (int j = 0; j < node->n_out; j++) {
        int v = node->out[j];
        if (v < 0)
            continue;
        cvm_plan_value *pv = &p->values[v];
        pv->kind = CVM_VAL_CONST;
        pv->owned = out[j];
        pv->t = *out[j];
        pv->t.owns_data = 0;
    }
    (void)g;
    return CVM_OK;
}

/* release_weights: readers[v] = nodes reading v (+1 for a graph input or
 * output), or NULL when nothing may be released. */
static int *count_readers(const cvm_graph *g)
{
    int *r = calloc((size_t)(g->n_values ? g->n_values : 1), sizeof *r);
    if (!r)
        return NULL;
    for (int i = 0; i < g->n_nodes; i++)
        for (int j = 0; j < g->nodes[i].n_in; j++)
            if (g->nodes[i].in[j] >= 0 && g->nodes[i].in[j] < g->n_values)
                r[g->nodes[i].in[j]]++;
    for (int i = 0; i < g->n_outputs; i++)
        if (g->outputs[i] >= 0)
            r[g->outputs[i]]++;
    for (int i = 0; i < g->n_inputs; i++)
        if (g->inputs[i] >= 0)
            r[g->inputs[i]]++;
    return r;
}

/* Frees the data of the constants whose only reader, `node`, has just
 * copied them into its state (bits of `released`). */
static void release_inputs(const cvm_graph *g, cvm_plan *p, const cvm_node *node,
                           unsigned released, const int *readers)
{
    for (int j = 0; j < node->n_in && j < 32; j++) {
        int v = node->in[j];
        if (!(released >> j & 1u) || v < 0 || readers[v] != 1)
            continue;
        cvm_tensor *t = g->values[v].init;
        if (!t || !t->owns_data || !t->data || p->values[v].t.data != t->data)
            continue;
        free(t->data);
        t->data = NULL;
        p->values[v].t.data = NULL;
    }
}

static int in_region(const cvm_plan *p, int step)
{
    for (int r = 0; r < p->n_regions; r++)
        if (p->regions[r].first <= step && step <= p->regions[r].last)
            return 1;
    return 0;
}

cvm_status cvm_plan_build(const cvm_graph *g, const int *order, const cvm_tensor *inputs,
                          const cvm_plan_options *o, cvm_plan **out)
{
    *out = NULL;
    int nv = g->n_values, nn = g->n_nodes;
    cvm_plan *p = calloc(1, sizeof *p);
    if (!p)
        return cvm_errorf(CVM_E_NOMEM, "out of memory building a plan");
    pthread_mutex_init(&p->arena_lock, NULL);
    p->n_values = nv;
    p->values = calloc((size_t)(nv ? nv : 1), sizeof *p->values);
    p->steps = calloc((size_t)(nn ? nn : 1), sizeof *p->steps);
    p->input_shapes = calloc((size_t)(g->n_inputs ? g->n_inputs : 1), sizeof *p->input_shapes);
    int *producer = malloc(sizeof(int) * (size_t)(nv ? nv : 1));
    int *def_step = malloc(sizeof(int) * (size_t)(nv ? nv : 1));
    char *needed = calloc((size_t)(nn ? nn : 1), 1);
    int *stack = malloc(sizeof(int) * (size_t)(nv ? nv : 1));
    /* NULL (nothing released) also when it cannot be allocated */
    int *readers = o->release_weights ? count_readers(g) : NULL;
    cvm_mem_request *req = NULL;
    int *req_value = NULL;
    cvm_status st = CVM_OK;
    if (!p->values || !p->steps || !p->input_shapes || !producer || !def_step || !needed || !stack) {
        st = cvm_errorf(CVM_E_NOMEM, "out of memory building a plan");
        goto fail;
    }
    for (int v = 0; v < nv; v++)
        p->values[v].alias_of = -1;
    p->n_inputs = g->n_inputs;
    for (int i = 0; i < g->n_inputs; i++) {
        p->input_shapes[i] = inputs[i];
        p->input_shapes[i].data = NULL;
        p->input_shapes[i].owns_data = 0;
        if (!cvm_shape_nbytes(inputs[i].dtype, inputs[i].ndim, inputs[i].dims, &p->input_shapes[i].nbytes)) {
            char sh[160];
            st = cvm_errorf(CVM_E_SHAPE, "graph input '%s': shape %s with dtype %s is invalid or too large",
                            g->values[g->inputs[i]].name, cvm_shape_str(inputs[i].ndim, inputs[i].dims, sh, sizeof sh),
                            cvm_dtype_name(inputs[i].dtype));
            goto fail;
        }
    }

    /* Dead-node removal: keep only what the graph outputs depend on. */
    for (int v = 0; v < nv; v++) {
        producer[v] = -1;
        def_step[v] = -1;
    }
    for (int i = 0; i < nn; i++)
        for (int j = 0; j < g->nodes[i].n_out; j++)
            if (g->nodes[i].out[j] >= 0)
                producer[g->nodes[i].out[j]] = i;
    int sp = 0;
    for (int i = 0; i < g->n_outputs; i++)
        stack[sp++] = g->outputs[i];
    while (sp > 0) {
        int v = stack[--sp];
        int n = producer[v];
        if (n < 0 || needed[n])
            continue;
        needed[n] = 1;
        for (int j = 0; j < g->nodes[n].n_in; j++) {
            int u = g->nodes[n].in[j];
            if (u >= 0 && producer[u] >= 0 && !needed[producer[u]] && sp < nv)
                stack[sp++] = u;
        }
    }

    for (int v = 0; v < nv; v++) {
        if (g->values[v].init) {
            p->values[v].kind = CVM_VAL_CONST;
            p->values[v].t = *g->values[v].init;
            p->values[v].t.owns_data = 0;
        }
    }
    for (int i = 0; i < g->n_inputs; i++) {
        cvm_plan_value *pv = &p->values[g->inputs[i]];
        pv->kind = CVM_VAL_INPUT;
        pv->t = p->input_shapes[i];
        pv->input_index = i;
    }

    for (int k = 0; k < nn; k++) {
        int ni = order[k];
        if (!needed[ni])
            continue;
        const cvm_node *node = &g->nodes[ni];
        if (node->n_in > 64 || node->n_out > 64) {
            st = cvm_node_error(node, CVM_E_UNSUPPORTED, "more than 64 inputs or outputs");
            goto fail;
        }
        const cvm_op_schema *schema = cvm_schema_find(node->domain, node->op_type);
        if (!schema) {
            st = cvm_node_error(node, CVM_E_UNSUPPORTED, "operator '%s' is not supported", node->op_type);
            goto fail;
        }
        const cvm_tensor *in[64];
        bool dyn = false, all_const = true, shapes_known = true;
        for (int j = 0; j < node->n_in; j++) {
            int v = node->in[j];
            in[j] = NULL;
            if (v < 0)
                continue;
            cvm_plan_value *pv = &p->values[v];
            if (pv->kind == CVM_VAL_UNUSED) {
                st = cvm_node_error(node, CVM_E_PARSE,
                                    "input '%s' is neither a graph input, an initializer nor produced by a node",
                                    g->values[v].name);
                goto fail;
            }
            if (pv->kind == CVM_VAL_DYNAMIC) {
                dyn = true;
                shapes_known = false;
            }
            if (pv->kind != CVM_VAL_CONST)
                all_const = false;
            in[j] = &pv->t;
        }
        if (!dyn && o->optimize && !(schema->flags & CVM_SCHEMA_NO_FOLD) &&
            (all_const || (schema->flags & CVM_SCHEMA_SHAPE_ONLY && shapes_known))) {
            st = fold_node(g, p, node, in, o);
            if (st != CVM_OK)
                goto fail;
            p->nodes_folded++;
            continue;
        }
        cvm_plan_step *s = &p->steps[p->n_steps];
        s->node = ni;
        s->schema = schema;
        s->kernel = cvm_backend_cpu()->find_kernel(node->domain, node->op_type);
        if (!s->kernel) {
            st = cvm_node_error(node, CVM_E_UNSUPPORTED, "operator '%s' has no CPU kernel", node->op_type);
            goto fail;
        }
        cvm_tensor hdr[64];
        cvm_tensor *hp[64];
        memset(hdr, 0, sizeof hdr);
        for (int j = 0; j < node->n_out; j++)
            hp[j] = node->out[j] >= 0 ? &hdr[j] : NULL;
        if (!dyn) {
            st = cvm_node_infer(schema, node, node->opset, node->n_in, in, node->n_out, hp);
            if (st == CVM_E_DYNAMIC)
                dyn = true;
            else if (st != CVM_OK)
                goto fail;
            st = CVM_OK;
        }
        s->dynamic = dyn;
        for (int j = 0; j < node->n_out; j++) {
            int v = node->out[j];
            if (v < 0)
                continue;
            cvm_plan_value *pv = &p->values[v];
            def_step[v] = p->n_steps;
            pv->last_use = p->n_steps;
            if (dyn) {
                pv->kind = CVM_VAL_DYNAMIC;
                continue;
            }
            size_t nb = 0;
            st = check_limit(node, &g->values[v], &hdr[j], o->max_tensor_bytes, &nb);
            if (st != CVM_OK)
                goto fail;
            pv->kind = CVM_VAL_ARENA;
            pv->t = hdr[j];
            pv->t.data = NULL;
            pv->t.nbytes = nb;
            pv->t.owns_data = 0;
            p->naive_bytes += nb;
        }
        if (!dyn) {
            s->promote = cvm_needs_f32_promotion(s->kernel, node->n_in, in);
            if (!s->promote && s->kernel->prepare) {
                cvm_tensor *outs[64];
                for (int j = 0; j < node->n_out; j++)
                    outs[j] = node->out[j] >= 0 ? &p->values[node->out[j]].t : NULL;
                cvm_kernel_ctx kc = {.node = node, .opset = node->opset, .n_in = node->n_in,
                                     .n_out = node->n_out, .in = in, .out = outs, .pool = o->pool,
                                     .released = &s->released, .precision = o->precision};
                st = s->kernel->prepare(&kc, &s->state, &s->scratch_bytes);
                if (st != CVM_OK)
                    goto fail;
                if (readers)
                    release_inputs(g, p, node, s->released, readers);
            }
        }
        if (node->n_in + node->n_out > p->max_io)
            p->max_io = node->n_in + node->n_out;
        p->n_steps++;
    }

    /* Lifetimes: a buffer lives from its producing step to its last reader;
     * graph outputs live to the end of the run. */
    for (int i = 0; i < p->n_steps; i++) {
        const cvm_node *node = &g->nodes[p->steps[i].node];
        for (int j = 0; j < node->n_in; j++)
            if (node->in[j] >= 0 && p->values[node->in[j]].last_use < i)
                p->values[node->in[j]].last_use = i;
    }
    for (int i = 0; i < g->n_outputs; i++) {
        int v = g->outputs[i];
        if (p->values[v].kind == CVM_VAL_UNUSED) {
            st = cvm_errorf(CVM_E_PARSE, "graph output '%s' is not produced by any node", g->values[v].name);
            goto fail;
        }
        p->values[v].last_use = p->n_steps;
    }
    if (o->optimize) {
        cvm_plan_views(g, p);
        /* (before def_step below becomes per buffer instead of per value) */
        st = cvm_plan_regions(g, p, def_step, o->pool ? cvm_threadpool_size(o->pool) : 1);
        if (st != CVM_OK)
            goto fail;
    }
    /* A buffer that holds views lives from the first of them to be written
     * to the last to be read. */
    for (int v = 0; v < nv; v++) {
        if (p->values[v].kind != CVM_VAL_ARENA || p->values[v].alias_of < 0)
            continue;
        int r = cvm_plan_root(p, v);
        if (def_step[v] < def_step[r])
            def_step[r] = def_step[v];
        if (p->values[v].last_use > p->values[r].last_use)
            p->values[r].last_use = p->values[v].last_use;
    }
    int n_req = 0;
    for (int v = 0; v < nv; v++)
        n_req += p->values[v].kind == CVM_VAL_ARENA && p->values[v].alias_of < 0;
    for (int i = 0; i < p->n_steps; i++)
        n_req += p->steps[i].scratch_bytes > 0 && !in_region(p, i);
    for (int i = 0; i < p->n_regions; i++) {
        cvm_plan_region *rg = &p->regions[i];
        for (int k = rg->first; k <= rg->last; k++)
            if (p->steps[k].scratch_bytes > rg->scratch_bytes)
                rg->scratch_bytes = p->steps[k].scratch_bytes;
        rg->scratch_bytes = (rg->scratch_bytes + 63) & ~(size_t)63;
        n_req += rg->scratch_bytes > 0;
    }
    req = calloc((size_t)(n_req ? n_req : 1), sizeof *req);
    req_value = calloc((size_t)(n_req ? n_req : 1), sizeof *req_value);
    if (!req || !req_value) {
        st = cvm_errorf(CVM_E_NOMEM, "out of memory planning buffers");
        goto fail;
    }
    int r = 0;
    for (int v = 0; v < nv; v++)
        if (p->values[v].kind == CVM_VAL_ARENA && p->values[v].alias_of < 0) {
            req[r].bytes = p->values[v].t.nbytes;
            req[r].first = def_step[v];
            req[r].last = p->values[v].last_use;
            req_value[r++] = v;
        }
    for (int i = 0; i < p->n_steps; i++)
        if (p->steps[i].scratch_bytes && !in_region(p, i)) {
            req[r].bytes = p->steps[i].scratch_bytes;
            req[r].first = req[r].last = i;
            p->naive_bytes += req[r].bytes;
            req_value[r++] = -1 - i;
        }
    /* (regions after the steps: req_value -1 - n_steps - region) */
    for (int i = 0; i < p->n_regions; i++)
        if (p->regions[i].scratch_bytes) {
            req[r].bytes = p->regions[i].scratch_bytes * (size_t)p->region_threads;
            req[r].first = p->regions[i].first;
            req[r].last = p->regions[i].last;
            p->naive_bytes += req[r].bytes;
            req_value[r++] = -1 - p->n_steps - i;
        }
    if (p->n_regions) {
        cvm_overlap *ov = NULL;
        st = cvm_overlap_build(g, p, req_value, (size_t)n_req, &ov);
        if (st == CVM_OK)
            st = cvm_memplan_assign_with(req, (size_t)n_req, &p->arena_bytes,
                                         cvm_overlap_conflict, ov);
        cvm_overlap_free(ov);
    } else {
        st = cvm_memplan_assign(req, (size_t)n_req, &p->arena_bytes);
    }
    if (st != CVM_OK)
        goto fail;
    for (int i = 0; i < n_req; i++) {
        if (req_value[i] >= 0)
            p->values[req_value[i]].offset = req[i].offset;
        else if (-1 - req_value[i] < p->n_steps)
            p->steps[-1 - req_value[i]].scratch_offset = req[i].offset;
        else
            p->regions[-1 - req_value[i] - p->n_steps].scratch_offset = req[i].offset;
    }
    /* run one after the other (on another pool), a region's steps share its
     * first area */
    for (int i = 0; i < p->n_regions; i++)
        for (int k = p->regions[i].first; k <= p->regions[i].last; k++)
            p->steps[k].scratch_offset = p->regions[i].scratch_offset;
    for (int v = 0; v < nv; v++) {
        if (p->values[v].kind != CVM_VAL_ARENA || p->values[v].alias_of < 0)
            continue;
        size_t off = 0;
        int r = v;
        while (p->values[r].alias_of >= 0) {
            off += p->values[r].alias_off;
            r = p->values[r].alias_of;
        }
        p->values[v].offset = p->values[r].offset + off;
    }
    if (o->profile) {
        p->prof_ns = calloc((size_t)(p->n_steps ? p->n_steps : 1), sizeof *p->prof_ns);
        p->prof_calls = calloc((size_t)(p->n_steps ? p->n_steps : 1), sizeof *p->prof_calls);
        if (!p->prof_ns || !p->prof_calls) {
            st = cvm_errorf(CVM_E_NOMEM, "out of memory for operator timings");
            goto fail;
        }
    }
    free(req);
    free(req_value);
    free(producer);
    free(def_step);
    free(needed);
    free(stack);
    free(readers);
    p->refs = 1;
    *out = p;
    return CVM_OK;
fail:
    free(req);
    free(req_value);
    free(producer);
    free(def_step);
    free(needed);
    free(stack);
    free(readers);
    cvm_plan_free(p);
    return st;
}
