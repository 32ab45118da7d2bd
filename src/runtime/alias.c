/*
 * Zero-copy views in the memory plan.
 *
 * Reshape-like nodes, Split and Concat only move bytes.  When the bytes of an
 * output are one contiguous piece of an input (or, for Concat, of the
 * output) the value can live inside the other value's buffer and the copy
 * disappears:
 *   - Reshape / Squeeze / Unsqueeze / Flatten: the output is the input;
 *   - Split with nothing but 1s before the axis: output j is the input's
 *     j-th slice;
 *   - Concat with nothing but 1s before the axis: each input that is still
 *     a buffer of its own (or a set of slices that exactly tile such a
 *     buffer, as a C2f block's Split halves do) is produced directly into
 *     its slice of the output.
 * Values are immutable once written, so a view is safe as long as the
 * buffer it points into lives as long as every view of it: the planner
 * gives each root buffer the union of its views' lifetimes.
 */
#include <stdlib.h>
#include <string.h>

#include "runtime/plan.h"

static int is_view_op(const cvm_node *n)
{
    if (n->domain && n->domain[0])
        return 0;
    return !strcmp(n->op_type, "Reshape") || !strcmp(n->op_type, "Squeeze") ||
           !strcmp(n->op_type, "Unsqueeze") || !strcmp(n->op_type, "Flatten");
}

/* Follows views to the buffer that holds v; *off accumulates the offset. */
static int root_of(const cvm_plan *p, int v, size_t *off)
{
    *off = 0;
    while (p->values[v].alias_of >= 0) {
        *off += p->values[v].alias_off;
        v = p->values[v].alias_of;
    }
    return v;
}

static int arena_value(const cvm_plan *p, int v)
{
    return v >= 0 && p->values[v].kind == CVM_VAL_ARENA;
}

/* Normalised axis attribute, or -1. */
static int axis_of(const cvm_node *n, int rank, int64_t dflt)
{
    int64_t a = cvm_attr_int(n, "axis", dflt);
    if (a < 0)
        a += rank;
    return a >= 0 && a < rank ? (int)a : -1;
}

static int ones_before(const cvm_tensor *t, int axis)
{
    for (int i = 0; i < axis; i++)
        if (t->dims[i] != 1)
            return 0;
    return 1;
}

static void view_reshape(cvm_plan *p, const cvm_node *n, cvm_plan_step *s)
{
    int x = n->in[0], y = n->out[0];
    if (!arena_value(p, x) || !arena_value(p, y) || p->values[x].t.nbytes != p->values[y].t.nbytes)
        return;
    p->values[y].alias_of = x;
    p->values[y].alias_off = 0;
    s->skip = true;
}

static void view_split(cvm_plan *p, const cvm_node *n, cvm_plan_step *s)
{
    int x = n->in[0];
    if (!arena_value(p, x))
        return;
    const cvm_tensor *xt = &p->values[x].t;
    int axis = axis_of(n, xt->ndim, 0);
    if (axis < 0 || !ones_before(xt, axis))
        return;
    /* An omitted output still takes its slice, of a size not known here. */
    for (int j = 0; j < n->n_out; j++)
        if (!arena_value(p, n->out[j]))
            return;
    size_t off = 0;
    for (int j = 0; j < n->n_out; j++) {
        int y = n->out[j];
        p->values[y].alias_of = x;
        p->values[y].alias_off = off;
        off += p->values[y].t.nbytes;
    }
    if (off != xt->nbytes) {
        for (int j = 0; j < n->n_out; j++)
            p->values[n->out[j]].alias_of = -1;
        return;
    }
    s->skip = true;
}

static void view_concat(cvm_plan *p, const cvm_node *n, cvm_plan_step *s)
{
    int y = n->out[0];
    if (!arena_value(p, y) || p->values[y].alias_of >= 0 || n->n_in > 64)
        return;
    const cvm_tensor *yt = &p->values[y].t;
    int axis = axis_of(n, yt->ndim, 1);
    if (axis < 0 || !ones_before(yt, axis))
        return;
    int root[64];
    size_t in_off[64], at[64], size[64], pos = 0;
    for (int k = 0; k < n->n_in; k++) {
        int v = n->in[k];
        root[k] = -1;
        if (v < 0)
            return;
        size[k] = p->values[v].t.nbytes;
        at[k] = pos;
        pos += size[k];
        if (arena_value(p, v)) {
            root[k] = root_of(p, v, &in_off[k]);
            if (!arena_value(p, root[k]) || root[k] == y)
                root[k] = -1;
        }
    }
    if (pos != yt->nbytes)
        return;
    int placed = 0;
    for (int k = 0; k < n->n_in; k++) {
        int r = root[k];
        if (r < 0 || at[k] < in_off[k])
            continue;
        size_t place = at[k] - in_off[k], covered = 0;
        int ok = place + p->values[r].t.nbytes <= yt->nbytes;
        /* Every input viewing r must sit where r's layout puts it, and
         * together they must cover r exactly (no other input inside it). */
        for (int i = 0; i < n->n_in && ok; i++) {
            if (root[i] != r)
                continue;
            if (at[i] - place != in_off[i] || at[i] < place)
                ok = 0;
            covered += size[i];
        }
        if (!ok || covered != p->values[r].t.nbytes)
            continue;
        p->values[r].alias_of = y;
        p->values[r].alias_off = place;
        for (int i = 0; i < n->n_in; i++)
            if (root[i] == r) {
                root[i] = -1;
                placed++;
            }
    }
    /* Inputs that stay outside are still copied; the kernel skips the ones
     * already in place. */
    if (placed == n->n_in)
        s->skip = true;
}

void cvm_plan_views(const cvm_graph *g, cvm_plan *p)
{
    for (int i = 0; i < p->n_steps; i++) {
        cvm_plan_step *s = &p->steps[i];
        const cvm_node *n = &g->nodes[s->node];
        if (s->dynamic || s->promote || n->n_in < 1 || n->n_out < 1 || n->out[0] < 0)
            continue;
        if (is_view_op(n) && n->n_out == 1)
            view_reshape(p, n, s);
        else if (!strcmp(n->op_type, "Split") && !(n->domain && n->domain[0]))
            view_split(p, n, s);
        else if (!strcmp(n->op_type, "Concat") && !(n->domain && n->domain[0]))
            view_concat(p, n, s);
    }
}
