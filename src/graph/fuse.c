/*
 * Conv fusion.  Each Conv is grown greedily along its single-consumer chain:
 *   Conv -> [BatchNormalization] -> [Mul/Add by scalars] -> [activation]
 *        -> [Add residual] -> [activation]
 * where the activation is Relu, LeakyRelu, Sigmoid, HardSigmoid, HardSwish,
 * Clip, SiLU written as Mul(x, Sigmoid(x)), HardSwish written as
 * x * Clip(x + 3, 0, 6) / 6, or Gelu.  A BatchNormalization is only
 * folded when the convolution's weights and the normalisation's parameters
 * are constant; an activation after the Add is only taken when there was none
 * before it.  Every value that disappears must have no other consumer and
 * must not be a graph output, so the graph computes the same outputs.
 * Other passes fold the five-node exact GELU into one Gelu (first, so that
 * convolutions and linear layers can absorb it), Transpose -> Softmax ->
 * Transpose into one Softmax over the matching axis (and at most one
 * transpose), MatMul -> Softmax -> MatMul (attention) into FusedAttention,
 * MatMul + bias [+ activation] into FusedMatMul,
 * ConvInteger -> Cast -> Mul into one scaled integer convolution, and
 * convolutions of one input that differ only in their weights into one
 * followed by a Split.
 */
#include "graph/fuse.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/str.h"
#include "base/tensor.h"
#include "graph/fuse_elementwise.h"

typedef struct fuse_ctx {
    cvm_graph *g;
    int *uses;        /* consumers per value (+1 when it is a graph output) */
    int *cons;        /* the last consumer seen, enough for single-use values */
    int *prod;        /* producing node per value when the pass started, or -1 */
    char *dead;       /* nodes absorbed into a FusedConv */
    int nv;           /* values when the pass started (later ones are new constants) */
} fuse_ctx;

static int is_op(const cvm_node *n, const char *type)
{
    return (!n->domain[0] || strcmp(n->domain, "ai.onnx") == 0) && strcmp(n->op_type, type) == 0;
}

/* The one live node consuming value v, when v has exactly one use. */
static cvm_node *sole_consumer(const fuse_ctx *f, int v)
{
    if (v < 0 || v >= f->nv || f->uses[v] != 1 || f->cons[v] < 0 || f->dead[f->cons[v]])
        return NULL;
    return &f->g->nodes[f->cons[v]];
}

static const cvm_tensor *const_f32(const fuse_ctx *f, const cvm_node *n, int i)
{
    if (i >= n->n_in || n->in[i] < 0)
        return NULL;
    const cvm_tensor *t = f->g->values[n->in[i]].init;
    return t && t->dtype == CVM_DTYPE_FLOAT32 && t->data ? t : NULL;
}

static int scalar_f32(const fuse_ctx *f, const cvm_node *n, int i, float *out)
{
    const cvm_tensor *t = const_f32(f, n, i);
    int64_t numel;
    if (!t || !cvm_shape_numel(t->ndim, t->dims, &numel) || numel != 1)
        return 0;
    *out = *(const float *)t->data;
    return 1;
}

static int other_input(const cvm_node *n, int v);
static int scalar_is(const fuse_ctx *f, const cvm_node *n, int i, float want);

/* HardSwish written out (PaddleOCR's exports): v * Clip(v + 3, 0, 6) / 6,
 * the last step a Div by 6 or a Mul by 1/6.  v's two uses must be the Add
 * and the Mul.  Returns the output value and the four nodes, or -1. */
static int match_hardswish(const fuse_ctx *f, int v, int nodes[4], int *n_nodes)
{
    cvm_graph *g = f->g;
    const cvm_node *add = NULL, *mul = NULL;
    for (int i = 0; i < g->n_nodes; i++) {
        const cvm_node *n = &g->nodes[i];
        if (f->dead[i] || n->n_in != 2 || n->n_out != 1 || (n->in[0] != v && n->in[1] != v))
            continue;
        if (is_op(n, "Add") && !add)
            add = n;
        else if (is_op(n, "Mul") && !mul)
            mul = n;
        else
            return -1;
    }
    if (!add || !mul || add->out[0] < 0)
        return -1;
    int three = other_input(add, v);
    if (three < 0 || !scalar_is(f, add, add->in[0] == three ? 0 : 1, 3.0f))
        return -1;
    cvm_node *clip = sole_consumer(f, add->out[0]);
    if (!clip || !is_op(clip, "Clip") || clip->n_out != 1 || clip->out[0] < 0 ||
        clip->in[0] != add->out[0])
        return -1;
    float lo = -1.0f, hi = -1.0f;
    if (clip->opset < 11) {
        lo = cvm_attr_float(clip, "min", -1.0f);
        hi = cvm_attr_float(clip, "max", -1.0f);
    } else if (!(clip->n_in > 2 && scalar_f32(f, clip, 1, &lo) && scalar_f32(f, clip, 2, &hi))) {
        return -1;
    }
    if (lo != 0.0f || hi != 6.0f || other_input(mul, v) != clip->out[0] || mul->out[0] < 0)
        return -1;
    cvm_node *d = sole_consumer(f, mul->out[0]);
    if (!d || d->n_in != 2 || d->n_out != 1 || d->out[0] < 0 || d->in[0] != mul->out[0] ||
        !((is_op(d, "Div") && scalar_is(f, d, 1, 6.0f)) ||
          (is_op(d, "Mul") && scalar_is(f, d, 1, 1.0f / 6.0f))))
        return -1;
    nodes[0] = (int)(add - g->nodes);
    nodes[1] = (int)(clip - g->nodes);
    nodes[2] = (int)(mul - g->nodes);
    nodes[3] = (int)(d - g->nodes);
    *n_nodes = 4;
    return d->out[0];
}

/* Recognises an activation node consuming value v (with v's single use, or
 * SiLU's two uses by a Sigmoid and a Mul).  On success returns the value it
 * produces and the nodes it spans (1 or 2). */
static int match_activation(const fuse_ctx *f, int v, int *act, float *alpha, float *beta,
                            int nodes[4], int *n_nodes)
{
    cvm_graph *g = f->g;
    if (v < 0 || v >= f->nv)
        return -1;
    if (f->uses[v] == 2) {
        int hs = match_hardswish(f, v, nodes, n_nodes);
        if (hs >= 0) {
            *act = CVM_FUSED_HARD_SWISH;
            *alpha = *beta = 0.0f;
            return hs;
        }
        /* SiLU: Sigmoid(v) and Mul(v, Sigmoid(v)) are v's only uses */
        for (int i = 0; i < g->n_nodes; i++) {
            const cvm_node *s = &g->nodes[i];
            if (f->dead[i] || !is_op(s, "Sigmoid") || s->n_in != 1 || s->in[0] != v ||
                s->n_out != 1)
                continue;
            cvm_node *m = sole_consumer(f, s->out[0]);
            if (!m || !is_op(m, "Mul") || m->n_in != 2 || m->n_out != 1)
                return -1;
            if (!((m->in[0] == v && m->in[1] == s->out[0]) ||
                  (m->in[1] == v && m->in[0] == s->out[0])))
                return -1;
            *act = CVM_FUSED_SILU;
            *alpha = *beta = 0.0f;
            nodes[0] = i;
            nodes[1] = (int)(m - g->nodes);
            *n_nodes = 2;
            return m->out[0];
        }
        return -1;
    }
    cvm_node *n = sole_consumer(f, v);
    if (!n || n->n_out != 1 || n->n_in < 1 || n->in[0] != v)
        return -1;
    if (is_op(n, "Relu") && n->n_in == 1) {
        *act = CVM_FUSED_RELU;
        *alpha = *beta = 0.0f;
    } else if (is_op(n, "LeakyRelu") && n->n_in == 1) {
        *act = CVM_FUSED_LEAKY_RELU;
        *alpha = cvm_attr_float(n, "alpha", 0.01f);
        *beta = 0.0f;
    } else if (is_op(n, "Sigmoid") && n->n_in == 1) {
        *act = CVM_FUSED_SIGMOID;
        *alpha = *beta = 0.0f;
    } else if (is_op(n, "HardSigmoid") && n->n_in == 1) {
        *act = CVM_FUSED_HARD_SIGMOID;
        *alpha = cvm_attr_float(n, "alpha", 0.2f);
        *beta = cvm_attr_float(n, "beta", 0.5f);
    } else if (is_op(n, "HardSwish") && n->n_in == 1) {
        *act = CVM_FUSED_HARD_SWISH;
        *alpha = *beta = 0.0f;
    } else if (is_op(n, "Gelu") && n->n_in == 1 &&
               strcmp(cvm_attr_string(n, "approximate", "none"), "none") == 0) {
        *act = CVM_FUSED_GELU;
        *alpha = *beta = 0.0f;
    } else if (is_op(n, "Clip")) {
        float lo = -3.402823466e38f, hi = 3.402823466e38f;
        if (n->opset < 11) {
            lo = cvm_attr_float(n, "min", lo);
            hi = cvm_attr_float(n, "max", hi);
        } else {
            /* min/max are inputs since opset 11: fuse only known scalars */
            if (n->n_in > 1 && n->in[1] >= 0 && !scalar_f32(f, n, 1, &lo))
                return -1;
            if (n->n_in > 2 && n->in[2] >= 0 && !scalar_f32(f, n, 2, &hi))
                return -1;
        }
        if (isnan(lo) || isnan(hi))
            return -1;
        *act = CVM_FUSED_CLIP;
        *alpha = lo;
        *beta = hi;
    } else
        return -1;
    nodes[0] = (int)(n - g->nodes);
    *n_nodes = 1;
    return n->out[0];
}

/* A residual Add consuming v: returns the Add's output, and the other operand
 * in *res.  Constant operands are left alone (they are biases, not residuals). */
static int match_residual(const fuse_ctx *f, int v, int *res, int *node)
{
    cvm_node *n = sole_consumer(f, v);
    if (!n || !is_op(n, "Add") || n->n_in != 2 || n->n_out != 1 || n->in[0] == n->in[1])
        return -1;
    int other = n->in[0] == v ? n->in[1] : n->in[0];
    if (other < 0 || f->g->values[other].init)
        return -1;
    *res = other;
    *node = (int)(n - f->g->nodes);
    return n->out[0];
}

/* A new constant value named after `base`. */
static cvm_status add_const(cvm_graph *g, const char *base, const char *suffix, cvm_tensor *t,
                            int *index)
{
    char name[512];
    for (int k = 0;; k++) {
        snprintf(name, sizeof name, "%s/%s%s%d", base, suffix, k ? "_" : "", k ? k : 0);
        if (k == 0)
            snprintf(name, sizeof name, "%s/%s", base, suffix);
        if (cvm_graph_find_value(g, name) < 0)
            break;
        if (k > 1000)
            return cvm_errorf(CVM_E_INTERNAL, "fusion: no free value name for %s", base);
    }
    CVM_TRY(cvm_graph_value(g, name, index));
    cvm_value *v = &g->values[*index];
    v->init = t;
    v->dtype = t->dtype;
    v->ndim = t->ndim;
    for (int d = 0; d < t->ndim; d++)
        v->dims[d].value = t->dims[d];
    return CVM_OK;
}

/* Makes the new weights nw [M, ...] and bias nb [M] constants of the graph
 * (W and B may be shared with other nodes, so they are not changed in place)
 * and points convolution ci at them; takes ownership of both tensors. */
static cvm_status set_folded_weights(fuse_ctx *f, int ci, cvm_tensor *nw, cvm_tensor *nb,
                                     const char *tag)
{
    cvm_graph *g = f->g;
    const cvm_node *conv = &g->nodes[ci];
    char base[256], suffix[64];
    snprintf(base, sizeof base, "%s", conv->name && conv->name[0] ? conv->name : "conv");
    int wi, bi;
    snprintf(suffix, sizeof suffix, "%s_W", tag);
    cvm_status st = add_const(g, base, suffix, nw, &wi);
    if (st != CVM_OK) {
        cvm_tensor_free(nw);
        cvm_tensor_free(nb);
        return st;
    }
    snprintf(suffix, sizeof suffix, "%s_B", tag);
    st = add_const(g, base, suffix, nb, &bi);
    if (st != CVM_OK) {
        cvm_tensor_free(nb);
        return st;
    }
    cvm_node *cv = &g->nodes[ci];
    if (cv->n_in < 3) {
        int *in = realloc(cv->in, 3 * sizeof(int));
        if (!in)
            return cvm_errorf(CVM_E_NOMEM, "out of memory fusing %s", base);
        cv->in = in;
        cv->n_in = 3;
        cv->in[2] = -1;
    }
    if (cv->in[1] < f->nv)
        f->uses[cv->in[1]]--;
    if (cv->in[2] >= 0 && cv->in[2] < f->nv)
        f->uses[cv->in[2]]--;
    cv->in[1] = wi;
    cv->in[2] = bi;
    return CVM_OK;
}

/* Whether bn is an inference-mode BatchNormalization whose scale, shift,
 * mean and variance (into p) are constants of M channels, with only its
 * first output used; *eps gets its epsilon. */
static int inference_bn(fuse_ctx *f, const cvm_node *bn, int64_t M, const cvm_tensor *p[4], float *eps)
{
    if (bn->n_in != 5 || bn->n_out < 1 || cvm_attr_int(bn, "training_mode", 0) != 0 ||
        cvm_attr_int(bn, "spatial", 1) != 1)
        return 0;
    for (int o = 1; o < bn->n_out; o++)
        if (bn->out[o] >= 0)
            return 0;
    for (int i = 0; i < 4; i++) {
        p[i] = const_f32(f, bn, i + 1);
        if (!p[i] || p[i]->ndim != 1 || p[i]->dims[0] != M)
            return 0;
    }
    *eps = cvm_attr_float(bn, "epsilon", 1e-5f);
    return 1;
}

/* New float32 weights of w's shape and a bias of M values (both freed on
 * failure). */
static cvm_status new_weights(const cvm_tensor *w, int64_t M, cvm_tensor **nw, cvm_tensor **nb)
{
    *nw = *nb = NULL;
    CVM_TRY(cvm_tensor_create(CVM_DTYPE_FLOAT32, w->ndim, w->dims, nw));
    cvm_status st = cvm_tensor_create(CVM_DTYPE_FLOAT32, 1, &M, nb);
    if (st != CVM_OK) {
        cvm_tensor_free(*nw);
        *nw = NULL;
    }
    return st;
}

/* Conv(X, W, B) -> BatchNormalization: scales W per output channel and
 * rewrites B, into new constants (W and B may be shared with other nodes). */
static cvm_status fold_batchnorm(fuse_ctx *f, int ci, const cvm_node *bn, int *folded)
{
    cvm_graph *g = f->g;
    *folded = 0;
    cvm_node *conv = &g->nodes[ci];
    const cvm_tensor *w = const_f32(f, conv, 1);
    const cvm_tensor *b = conv->n_in > 2 && conv->in[2] >= 0 ? const_f32(f, conv, 2) : NULL;
    if (!w || w->ndim < 3 || (conv->n_in > 2 && conv->in[2] >= 0 && !b))
        return CVM_OK;
    int64_t M = w->dims[0], numel;
    if (!cvm_shape_numel(w->ndim, w->dims, &numel) || M <= 0)
        return CVM_OK;
    const cvm_tensor *p[4];
    float eps;
    if (!inference_bn(f, bn, M, p, &eps) || (b && (b->ndim != 1 || b->dims[0] != M)))
        return CVM_OK;
    cvm_tensor *nw, *nb;
    CVM_TRY(new_weights(w, M, &nw, &nb));
    const float *sc = p[0]->data, *sh = p[1]->data, *mean = p[2]->data, *var = p[3]->data;
    const float *wd = w->data, *bd = b ? b->data : NULL;
    float *nwd = nw->data, *nbd = nb->data;
    int64_t per = numel / M;
    for (int64_t m = 0; m < M; m++) {
        double s = (double)sc[m] / sqrt((double)var[m] + (double)eps);
        for (int64_t i = 0; i < per; i++)
            nwd[m * per + i] = (float)(wd[m * per + i] * s);
        nbd[m] = (float)(((bd ? (double)bd[m] : 0.0) - mean[m]) * s + sh[m]);
    }
    CVM_TRY(set_folded_weights(f, ci, nw, nb, "bn_folded"));
    *folded = 1;
    return CVM_OK;
}

/* Conv -> Mul(scalar) / Add(scalar) ... (PP-LCNet's "learnable affine"
 * after each convolution in PaddleOCR): folded into new W' = W * scale and
 * B' = B * scale + shift.  *y advances past the absorbed nodes. */
static cvm_status fold_scalar_affine(fuse_ctx *f, int ci, int *y, int *absorbed, int *n_abs,
                                     int positive, double *shift_out)
{
    cvm_graph *g = f->g;
    const cvm_node *conv = &g->nodes[ci];
    const cvm_tensor *w = const_f32(f, conv, 1);
    const cvm_tensor *b = conv->n_in > 2 && conv->in[2] >= 0 ? const_f32(f, conv, 2) : NULL;
    if (!w || w->ndim < 3 || (conv->n_in > 2 && conv->in[2] >= 0 && !b))
        return CVM_OK;
    int64_t M = w->dims[0], numel;
    if (!cvm_shape_numel(w->ndim, w->dims, &numel) || M <= 0 ||
        (b && (b->ndim != 1 || b->dims[0] != M)))
        return CVM_OK;
    double scale = 1.0, shift = 0.0;
    int v = *y, taken[4], n = 0;
    while (n < 4) {
        cvm_node *op = sole_consumer(f, v);
        if (!op || op->n_in != 2 || op->n_out != 1 || op->out[0] < 0 ||
            !(is_op(op, "Mul") || is_op(op, "Add")))
            break;
        int k = other_input(op, v);
        float c;
        int ki = op->in[0] == k ? 0 : 1;
        /* a one-element constant of higher rank would broadcast the output up */
        if (k < 0 || k == v || !scalar_f32(f, op, ki, &c) || !isfinite(c) ||
            const_f32(f, op, ki)->ndim > w->ndim)
            break;
        if (is_op(op, "Mul")) {
            scale *= c;
            shift *= c;
        } else {
            shift += c;
        }
        taken[n++] = (int)(op - g->nodes);
        v = op->out[0];
    }
    if (n == 0 || (positive && !(scale > 0.0)))
        return CVM_OK;
    if (shift_out)
        *shift_out = shift;
    cvm_tensor *nw, *nb;
    CVM_TRY(new_weights(w, M, &nw, &nb));
    const float *wd = w->data, *bd = b ? b->data : NULL;
    float *nwd = nw->data, *nbd = nb->data;
    for (int64_t i = 0; i < numel; i++)
        nwd[i] = (float)(wd[i] * scale);
    for (int64_t m = 0; m < M; m++)
        nbd[m] = (float)((bd ? (double)bd[m] : 0.0) * scale + shift);
    CVM_TRY(set_folded_weights(f, ci, nw, nb, "affine_folded"));
    for (int i = 0; i < n; i++)
        absorbed[(*n_abs)++] = taken[i];
    *y = v;
    return CVM_OK;
}

static cvm_status set_attr(cvm_node *n, const char *name, cvm_attr_type type, float fv,
                           int64_t iv, const char *sv)
{
    cvm_attr *a = NULL;
    for (int i = 0; i < n->n_attr; i++)
        if (strcmp(n->attrs[i].name, name) == 0) {
            a = &n->attrs[i];
            cvm_attr_clear(a);
            break;
        }
    if (!a) {
        cvm_attr *na = realloc(n->attrs, (size_t)(n->n_attr + 1) * sizeof *na);
        if (!na)
            return cvm_errorf(CVM_E_NOMEM, "out of memory fusing %s", n->name ? n->name : "");
        n->attrs = na;
        a = &n->attrs[n->n_attr];
        memset(a, 0, sizeof *a);
        n->n_attr++;
    }
    memset(a, 0, sizeof *a);
    a->name = cvm_strdup(name);
    a->type = type;
    a->f = fv;
    a->i = iv;
    if (sv) {
        a->s = cvm_strdup(sv);
        a->s_len = a->s ? strlen(sv) : 0;
    }
    if (!a->name || (sv && !a->s))
        return cvm_errorf(CVM_E_NOMEM, "out of memory fusing %s", n->name ? n->name : "");
    return CVM_OK;
}

static const char *act_name(int act)
{
    switch (act) {
    case CVM_FUSED_RELU: return "Relu";
    case CVM_FUSED_LEAKY_RELU: return "LeakyRelu";
    case CVM_FUSED_SIGMOID: return "Sigmoid";
    case CVM_FUSED_SILU: return "SiLU";
    case CVM_FUSED_HARD_SIGMOID: return "HardSigmoid";
    case CVM_FUSED_HARD_SWISH: return "HardSwish";
    case CVM_FUSED_CLIP: return "Clip";
    case CVM_FUSED_GELU: return "Gelu";
    default: return "";
    }
}

/* The epilogue a FusedConv (or ConvIntegerScaled) takes over: an activation
 * and a residual Add after the node, either first. */
typedef struct epi_match {
    int act, add_first, res; /* res: the residual value, or -1 */
    float alpha, beta;
} epi_match;

/* Matches the epilogue that consumes v, appending its nodes to absorbed;
 * returns the value it ends in (v when nothing matches). */
static int match_epilogue(const fuse_ctx *f, int v, epi_match *e, int *absorbed, int *n_abs)
{
    int nodes[4], nn, addn;
    *e = (epi_match){.act = CVM_FUSED_NONE, .res = -1};
    int w = match_activation(f, v, &e->act, &e->alpha, &e->beta, nodes, &nn);
    if (w >= 0) {
        for (int i = 0; i < nn; i++)
            absorbed[(*n_abs)++] = nodes[i];
        v = w;
    }
    w = match_residual(f, v, &e->res, &addn);
    if (w < 0)
        return v;
    absorbed[(*n_abs)++] = addn;
    v = w;
    if (e->act == CVM_FUSED_NONE) {
        e->add_first = 1;
        w = match_activation(f, v, &e->act, &e->alpha, &e->beta, nodes, &nn);
        if (w >= 0) {
            for (int i = 0; i < nn; i++)
                absorbed[(*n_abs)++] = nodes[i];
            v = w;
        }
    }
    return v;
}

/* Drops absorbed nodes; their inputs (the residual, which the fused node
 * reads instead, excepted) lose a use each, for later matches. */
static void absorb_nodes(fuse_ctx *f, const int *absorbed, int n_abs, int res)
{
    for (int a = 0; a < n_abs; a++) {
        const cvm_node *d = &f->g->nodes[absorbed[a]];
        for (int i = 0; i < d->n_in; i++)
            if (d->in[i] >= 0 && d->in[i] < f->nv && d->in[i] != res)
                f->uses[d->in[i]]--;
        f->dead[absorbed[a]] = 1;
    }
}

static cvm_status set_epilogue_attrs(cvm_node *n, const epi_match *e)
{
    CVM_TRY(set_attr(n, "activation", CVM_ATTR_STRING, 0.0f, 0, act_name(e->act)));
    CVM_TRY(set_attr(n, "alpha", CVM_ATTR_FLOAT, e->alpha, 0, NULL));
    CVM_TRY(set_attr(n, "beta", CVM_ATTR_FLOAT, e->beta, 0, NULL));
    return set_attr(n, "add_first", CVM_ATTR_INT, 0.0f, e->add_first, NULL);
}

/* Makes node n a `type` node of `domain` with n_in inputs (the slots past
 * its current inputs hold -1 for the caller to fill). */
static cvm_status retype(cvm_node *n, const char *type, const char *domain, int n_in)
{
    int *in = realloc(n->in, sizeof(int) * (size_t)n_in);
    char *t = cvm_strdup(type), *dom = cvm_strdup(domain);
    if (in)
        n->in = in;
    if (!in || !t || !dom) {
        free(t);
        free(dom);
        return cvm_errorf(CVM_E_NOMEM, "out of memory fusing %s", n->name ? n->name : type);
    }
    for (int i = n->n_in; i < n_in; i++)
        n->in[i] = -1;
    n->n_in = n_in;
    free(n->op_type);
    free(n->domain);
    n->op_type = t;
    n->domain = dom;
    return CVM_OK;
}

static cvm_status retype_fused(cvm_node *n, const char *type, int n_in)
{
    return retype(n, type, CVM_FUSED_DOMAIN, n_in);
}

static cvm_status make_fused_conv(cvm_node *conv, const epi_match *e);

static cvm_status fuse_conv(fuse_ctx *f, int ci)
{
    cvm_graph *g = f->g;
    cvm_node *conv = &g->nodes[ci];
    if (conv->n_out != 1 || conv->n_in < 2 || conv->n_in > 3 || conv->in[0] < 0 ||
        conv->in[1] < 0 || conv->out[0] < 0)
        return CVM_OK;
    int y = conv->out[0];
    int absorbed[16], n_abs = 0;
    cvm_node *bn = sole_consumer(f, y);
    if (bn && is_op(bn, "BatchNormalization")) {
        int bni = (int)(bn - g->nodes), folded;
        CVM_TRY(fold_batchnorm(f, ci, bn, &folded));
        conv = &g->nodes[ci];
        if (folded) {
            absorbed[n_abs++] = bni;
            y = g->nodes[bni].out[0];
        }
    }
    CVM_TRY(fold_scalar_affine(f, ci, &y, absorbed, &n_abs, 0, NULL));
    conv = &g->nodes[ci];
    epi_match e;
    y = match_epilogue(f, y, &e, absorbed, &n_abs);
    if (e.act == CVM_FUSED_RELU && e.res < 0) {
        /* Relu -> Mul/Add by scalars (HGNetv2's "learnable affine" in
         * DEIMv2): for a scale s > 0, s * relu(x) + b = max(s x + b, b), a
         * Clip from b of the convolution with W and B scaled by s and b
         * added, so the affine pass over the map goes too. */
        int before = n_abs;
        double shift = 0.0;
        CVM_TRY(fold_scalar_affine(f, ci, &y, absorbed, &n_abs, 1, &shift));
        conv = &g->nodes[ci];
        if (n_abs > before) {
            e.act = CVM_FUSED_CLIP;
            e.alpha = (float)shift;
            e.beta = FLT_MAX;
        }
    }
    int res = e.res;
    if (n_abs == 0)
        return CVM_OK;
    absorb_nodes(f, absorbed, n_abs, res);
    conv->out[0] = y;
    if (e.act == CVM_FUSED_NONE && res < 0)
        return CVM_OK; /* a plain Conv with folded weights */
    return make_fused_conv(conv, &e);
}

/* Turns Conv node conv into a FusedConv with epilogue e. */
static cvm_status make_fused_conv(cvm_node *conv, const epi_match *e)
{
    const int res = e->res, had = conv->n_in;
    CVM_TRY(retype_fused(conv, "FusedConv", 4));
    conv->in[3] = res;
    conv->n_in = res >= 0 ? 4 : (had < 3 ? had : 3);
    return set_epilogue_attrs(conv, e);
}

/*
 * Sigmoid(Concat(Reshape(Conv_1), ..., Reshape(Conv_n))) -> Concat of the
 * Reshapes of FusedConvs that end in the Sigmoid (a Reshape or Concat moves
 * values without changing them, so an elementwise function commutes with
 * both).  YOLOv8's and YOLO11's class scores: the sigmoid of [80, 8400]
 * was a pass of its own over 2.7 MB; in the convolutions' epilogues it is
 * applied in registers.  Every Conv (plain, no epilogue yet), Reshape and
 * the Concat must feed only the next node; the Concat then writes the
 * Sigmoid's output value.
 */
static cvm_status push_sigmoid(fuse_ctx *f, int si)
{
    cvm_graph *g = f->g;
    const cvm_node *sg = &g->nodes[si];
    if (sg->n_in != 1 || sg->n_out != 1 || sg->in[0] < 0 || sg->in[0] >= f->nv || sg->out[0] < 0)
        return CVM_OK;
    int x = sg->in[0], ci = f->prod[x];
    if (ci < 0 || f->dead[ci] || f->uses[x] != 1 || !is_op(&g->nodes[ci], "Concat"))
        return CVM_OK;
    const cvm_node *cat = &g->nodes[ci];
    if (cat->n_out != 1 || cat->n_in < 1 || cat->n_in > 16)
        return CVM_OK;
    int convs[16];
    for (int i = 0; i < cat->n_in; i++) {
        int v = cat->in[i];
        if (v < 0 || v >= f->nv || f->uses[v] != 1 || f->prod[v] < 0 || f->dead[f->prod[v]])
            return CVM_OK;
        const cvm_node *p = &g->nodes[f->prod[v]];
        if (is_op(p, "Reshape")) {
            v = p->in[0];
            if (p->n_in < 1 || v < 0 || v >= f->nv || f->uses[v] != 1 || f->prod[v] < 0 ||
                f->dead[f->prod[v]])
                return CVM_OK;
            p = &g->nodes[f->prod[v]];
        }
        if (!is_op(p, "Conv") || p->n_out != 1 || p->out[0] != v)
            return CVM_OK;
        convs[i] = (int)(p - g->nodes);
    }
    const epi_match e = {.act = CVM_FUSED_SIGMOID, .res = -1};
    for (int i = 0; i < cat->n_in; i++)
        CVM_TRY(make_fused_conv(&g->nodes[convs[i]], &e));
    g->nodes[ci].out[0] = g->nodes[si].out[0];
    f->uses[x]--;
    f->dead[si] = 1;
    return CVM_OK;
}

/*
 * Sibling convolutions: Convs (or FusedConvs without a residual) that read
 * the same input with the same attributes and epilogue and differ only in
 * their output channels become one convolution over the concatenated
 * weights, followed by a Split along the channels.  YOLOv8's detection head
 * reads each level's map with a box branch and a class branch (and a mask
 * branch in -seg): one convolution transforms the input once (a Winograd
 * input transform is a quarter of a 20x20 256->80 layer) and gives the
 * workers one larger layer to share.  With a batch of one the Split costs
 * nothing (its outputs are views of the fused output, alias.c); with more
 * it is a copy, small beside a convolution of 3x3 or larger kernels, which
 * is why 1x1 convolutions are left alone.
 */
#define SIB_MAX 8

static int fused_conv_node(const cvm_node *n)
{
    return n->domain && strcmp(n->domain, CVM_FUSED_DOMAIN) == 0 &&
           strcmp(n->op_type, "FusedConv") == 0;
}

/* Whether a and b carry the same attributes (same names, types, values). */
static int same_attrs(const cvm_node *a, const cvm_node *b)
{
    if (a->n_attr != b->n_attr)
        return 0;
    for (int i = 0; i < a->n_attr; i++) {
        const cvm_attr *x = &a->attrs[i], *y = NULL;
        for (int j = 0; j < b->n_attr && !y; j++)
            if (strcmp(b->attrs[j].name, x->name) == 0)
                y = &b->attrs[j];
        if (!y || x->type != y->type)
            return 0;
        switch (x->type) {
        case CVM_ATTR_FLOAT:
            if (memcmp(&x->f, &y->f, sizeof x->f) != 0)
                return 0;
            break;
        case CVM_ATTR_INT:
            if (x->i != y->i)
                return 0;
            break;
        case CVM_ATTR_STRING:
            if (x->s_len != y->s_len || (x->s_len && memcmp(x->s, y->s, x->s_len) != 0))
                return 0;
            break;
        case CVM_ATTR_INTS:
            if (x->n != y->n || (x->n && memcmp(x->ints, y->ints, x->n * sizeof(int64_t)) != 0))
                return 0;
            break;
        case CVM_ATTR_FLOATS:
            if (x->n != y->n || (x->n && memcmp(x->floats, y->floats, x->n * sizeof(float)) != 0))
                return 0;
            break;
        default:
            return 0;
        }
    }
    return 1;
}

/* A convolution that can join its siblings: one group, constant float32
 * weights of a kernel with at least 9 taps, a constant bias or none, no
 * residual input. */
static int sibling_candidate(const fuse_ctx *f, int i)
{
    const cvm_node *n = &f->g->nodes[i];
    if (f->dead[i] || !(is_op(n, "Conv") || fused_conv_node(n)) || n->n_out != 1 ||
        n->out[0] < 0 || n->n_in < 2 || n->n_in > 3 || n->in[0] < 0 || n->in[0] >= f->nv ||
        cvm_attr_int(n, "group", 1) != 1)
        return 0;
    const cvm_tensor *w = const_f32(f, n, 1);
    if (!w || w->ndim < 3 || w->dims[0] <= 0)
        return 0;
    int64_t taps = 1;
    for (int d = 2; d < w->ndim; d++)
        taps *= w->dims[d];
    if (taps < 9)
        return 0;
    if (n->n_in > 2 && n->in[2] >= 0) {
        const cvm_tensor *b = const_f32(f, n, 2);
        if (!b || b->ndim != 1 || b->dims[0] != w->dims[0])
            return 0;
    }
    return 1;
}

static int sibling_of(const fuse_ctx *f, int i, int j)
{
    const cvm_node *a = &f->g->nodes[i], *b = &f->g->nodes[j];
    if (b->n_in < 1 || a->in[0] != b->in[0] || !sibling_candidate(f, j) ||
        strcmp(a->op_type, b->op_type) != 0 || !same_attrs(a, b))
        return 0;
    const cvm_tensor *wa = const_f32(f, a, 1), *wb = const_f32(f, b, 1);
    if (wa->ndim != wb->ndim)
        return 0;
    for (int d = 1; d < wa->ndim; d++)
        if (wa->dims[d] != wb->dims[d])
            return 0;
    return 1;
}

/* Frees the data of constant v once no node reads it (the siblings' own
 * weights after they are stacked: 2.3 MB of YOLOv8n's head). */
static void free_unread(fuse_ctx *f, int v)
{
    if (v < 0 || v >= f->nv || f->uses[v] != 0)
        return;
    cvm_tensor *t = f->g->values[v].init;
    if (t && t->owns_data && t->data) {
        free(t->data);
        t->data = NULL;
    }
}

/* Node `at` becomes Split(v, split) with the siblings' outputs. */
static cvm_status make_split(fuse_ctx *f, int at, int v, int split, const int *outs, int n)
{
    cvm_node *s = &f->g->nodes[at];
    int *out = realloc(s->out, (size_t)n * sizeof(int));
    if (!out)
        return cvm_errorf(CVM_E_NOMEM, "out of memory fusing %s", s->name ? s->name : "Conv");
    s->out = out;
    for (int i = 0; i < s->n_in; i++)
        if (s->in[i] >= 0 && s->in[i] < f->nv)
            f->uses[s->in[i]]--;
    CVM_TRY(retype(s, "Split", "", 2));
    s->in[0] = v;
    s->in[1] = split;
    memcpy(s->out, outs, (size_t)n * sizeof(int));
    s->n_out = n;
    if (s->opset < 13)
        s->opset = 13; /* the sizes as an input */
    for (int i = 0; i < s->n_attr; i++)
        cvm_attr_clear(&s->attrs[i]);
    free(s->attrs);
    s->attrs = NULL;
    s->n_attr = 0;
    return set_attr(s, "axis", CVM_ATTR_INT, 0.0f, 1, NULL);
}

static cvm_status fuse_siblings(fuse_ctx *f, int i)
{
    cvm_graph *g = f->g;
    if (!sibling_candidate(f, i))
        return CVM_OK;
    int sib[SIB_MAX], n = 0;
    sib[n++] = i;
    for (int j = i + 1; j < g->n_nodes && n < SIB_MAX; j++)
        if (sibling_of(f, i, j))
            sib[n++] = j;
    if (n < 2)
        return CVM_OK;
    const cvm_tensor *w0 = const_f32(f, &g->nodes[i], 1);
    int64_t K = 0, per = 1;
    for (int d = 1; d < w0->ndim; d++)
        per *= w0->dims[d];
    for (int k = 0; k < n; k++)
        K += const_f32(f, &g->nodes[sib[k]], 1)->dims[0];
    char base[256], vname[300];
    snprintf(base, sizeof base, "%s", g->nodes[i].name && g->nodes[i].name[0] ? g->nodes[i].name : "conv");
    snprintf(vname, sizeof vname, "%s/siblings_out", base);
    if (cvm_graph_find_value(g, vname) >= 0)
        return CVM_OK; /* a name clash: leave the siblings apart */
    int64_t wd[CVM_MAX_DIMS], nsib = n;
    memcpy(wd, w0->dims, sizeof(int64_t) * (size_t)w0->ndim);
    wd[0] = K;
    cvm_tensor *nw = NULL, *nb = NULL, *sp = NULL;
    cvm_status st = cvm_tensor_create(CVM_DTYPE_FLOAT32, w0->ndim, wd, &nw);
    if (st == CVM_OK)
        st = cvm_tensor_create(CVM_DTYPE_FLOAT32, 1, &K, &nb);
    if (st == CVM_OK)
        st = cvm_tensor_create(CVM_DTYPE_INT64, 1, &nsib, &sp);
    if (st != CVM_OK) {
        cvm_tensor_free(nw);
        cvm_tensor_free(nb);
        return st;
    }
    float *wp = nw->data, *bp = nb->data;
    int64_t *spd = sp->data;
    int outs[SIB_MAX], old_w[SIB_MAX], old_b[SIB_MAX];
    for (int k = 0; k < n; k++) {
        const cvm_node *c = &g->nodes[sib[k]];
        const cvm_tensor *w = const_f32(f, c, 1);
        const cvm_tensor *b = c->n_in > 2 && c->in[2] >= 0 ? const_f32(f, c, 2) : NULL;
        int64_t m = w->dims[0];
        memcpy(wp, w->data, sizeof(float) * (size_t)(m * per));
        if (b)
            memcpy(bp, b->data, sizeof(float) * (size_t)m);
        else
            memset(bp, 0, sizeof(float) * (size_t)m);
        wp += m * per;
        bp += m;
        spd[k] = m;
        outs[k] = c->out[0];
        old_w[k] = c->in[1];
        old_b[k] = c->n_in > 2 ? c->in[2] : -1;
    }
    int si;
    st = add_const(g, base, "siblings_split", sp, &si);
    if (st != CVM_OK) {
        cvm_tensor_free(sp);
        cvm_tensor_free(nw);
        cvm_tensor_free(nb);
        return st;
    }
    CVM_TRY(set_folded_weights(f, i, nw, nb, "siblings"));
    int v;
    CVM_TRY(cvm_graph_value(g, vname, &v));
    g->nodes[i].out[0] = v;
    /* the second sibling's node becomes the Split, the others go */
    CVM_TRY(make_split(f, sib[1], v, si, outs, n));
    for (int k = 2; k < n; k++) {
        const cvm_node *c = &g->nodes[sib[k]];
        for (int q = 0; q < c->n_in; q++)
            if (c->in[q] >= 0 && c->in[q] < f->nv)
                f->uses[c->in[q]]--;
        f->dead[sib[k]] = 1;
    }
    for (int k = 0; k < n; k++) {
        free_unread(f, old_w[k]);
        free_unread(f, old_b[k]);
    }
    return CVM_OK;
}

/* A constant operand of binary node n (other than value v) holding one
 * value per channel of an output [N, M, spatial...]: numel M, M at the
 * channel position, ones elsewhere. */
static const cvm_tensor *per_channel_const(fuse_ctx *f, const cvm_node *n, int v, int64_t M, int out_rank)
{
    if (n->n_in != 2 || n->n_out != 1 || n->out[0] < 0)
        return NULL;
    int ki = n->in[0] == v ? 1 : 0;
    if (n->in[1 - ki] != v)
        return NULL;
    const cvm_tensor *t = const_f32(f, n, ki);
    int64_t numel;
    if (!t || t->ndim < out_rank - 1 || t->ndim > out_rank || !cvm_shape_numel(t->ndim, t->dims, &numel) ||
        numel != M)
        return NULL;
    int ch = t->ndim - (out_rank - 1); /* the channel's position in t */
    for (int d = 0; d < t->ndim; d++)
        if (t->dims[d] != (d == ch ? M : 1))
            return NULL;
    return t;
}

/* ConvTranspose(X, W[, B]) -> [Add(per-channel constant)] ->
 * [BatchNormalization]: PP-OCR's DB head exports the bias as an Add and
 * normalises after it, two passes over the upsampled map (PP-OCRv4 det:
 * 0.37 ms of 11, the normalisation not split among threads).  Both go into
 * the bias, the normalisation's scale into the weights [C, M, k...] (one
 * group) per output channel m. */
static cvm_status fuse_convtranspose_bn(fuse_ctx *f, int ci)
{
    cvm_graph *g = f->g;
    const cvm_node *ct = &g->nodes[ci];
    if (ct->n_out != 1 || ct->n_in < 2 || ct->n_in > 3 || ct->in[0] < 0 || ct->in[1] < 0 ||
        ct->out[0] < 0 || cvm_attr_int(ct, "group", 1) != 1)
        return CVM_OK;
    const cvm_tensor *w = const_f32(f, ct, 1);
    const cvm_tensor *b = ct->n_in > 2 && ct->in[2] >= 0 ? const_f32(f, ct, 2) : NULL;
    if (!w || w->ndim < 3 || (ct->n_in > 2 && ct->in[2] >= 0 && !b))
        return CVM_OK;
    int64_t C = w->dims[0], M = w->dims[1], numel;
    if (!cvm_shape_numel(w->ndim, w->dims, &numel) || C <= 0 || M <= 0 ||
        (b && (b->ndim != 1 || b->dims[0] != M)))
        return CVM_OK;
    int y = ct->out[0], absorbed[2], n_abs = 0;
    const cvm_tensor *addc = NULL, *p[4] = {NULL};
    cvm_node *n = sole_consumer(f, y);
    if (n && is_op(n, "Add") && (addc = per_channel_const(f, n, y, M, w->ndim)) != NULL) {
        absorbed[n_abs++] = (int)(n - g->nodes);
        y = n->out[0];
        n = sole_consumer(f, y);
    }
    float eps = 1e-5f;
    int has_bn = n && is_op(n, "BatchNormalization") && inference_bn(f, n, M, p, &eps);
    if (has_bn) {
        absorbed[n_abs++] = (int)(n - g->nodes);
        y = n->out[0];
    }
    if (n_abs == 0)
        return CVM_OK;
    cvm_tensor *nw, *nb;
    CVM_TRY(new_weights(w, M, &nw, &nb));
    const float *wd = w->data, *bd = b ? b->data : NULL, *ad = addc ? addc->data : NULL;
    float *nwd = nw->data, *nbd = nb->data;
    int64_t per = numel / (C * M);
    for (int64_t m = 0; m < M; m++) {
        double bias = (bd ? (double)bd[m] : 0.0) + (ad ? (double)ad[m] : 0.0), s = 1.0;
        if (has_bn) {
            const float *sc = p[0]->data, *sh = p[1]->data, *mean = p[2]->data, *var = p[3]->data;
            s = (double)sc[m] / sqrt((double)var[m] + (double)eps);
            bias = (bias - mean[m]) * s + sh[m];
        }
        for (int64_t c = 0; c < C; c++)
            for (int64_t i = 0; i < per; i++)
                nwd[(c * M + m) * per + i] = (float)(wd[(c * M + m) * per + i] * s);
        nbd[m] = (float)bias;
    }
    CVM_TRY(set_folded_weights(f, ci, nw, nb, "bn_folded"));
    absorb_nodes(f, absorbed, n_abs, -1);
    g->nodes[ci].out[0] = y;
    return CVM_OK;
}

/* Transpose(perm P) -> Softmax or LogSoftmax over axis a -> Transpose(Q)
 * (YOLOv8's DFL head) is a softmax over axis P[a] of the untransposed
 * tensor followed by one transpose by R = P[Q[i]], or none when R is the
 * identity: the softmax kernel walks the strided axis, and the transpose
 * left over usually keeps the last axis, which is a row copy. */
static cvm_status fuse_transposed_softmax(fuse_ctx *f, int ti)
{
    cvm_graph *g = f->g;
    cvm_node *t1 = &g->nodes[ti];
    size_t np = 0, nq = 0;
    const int64_t *P = cvm_attr_ints(t1, "perm", &np);
    if (!P || np < 1 || np > CVM_MAX_DIMS || t1->n_in != 1 || t1->n_out != 1 || t1->in[0] < 0 ||
        t1->out[0] < 0)
        return CVM_OK;
    cvm_node *sm = sole_consumer(f, t1->out[0]);
    if (!sm || !(is_op(sm, "Softmax") || is_op(sm, "LogSoftmax")) || sm->n_in != 1 ||
        sm->n_out != 1 || sm->out[0] < 0)
        return CVM_OK;
    cvm_node *t2 = sole_consumer(f, sm->out[0]);
    if (!t2 || !is_op(t2, "Transpose") || t2->n_out != 1 || t2->out[0] < 0)
        return CVM_OK;
    const int64_t *Q = cvm_attr_ints(t2, "perm", &nq);
    if (!Q || nq != np)
        return CVM_OK;
    int rank = (int)np, seen[CVM_MAX_DIMS] = {0}, seen_q[CVM_MAX_DIMS] = {0}, identity = 1;
    int64_t R[CVM_MAX_DIMS];
    for (int i = 0; i < rank; i++) {
        if (P[i] < 0 || P[i] >= rank || Q[i] < 0 || Q[i] >= rank || seen[P[i]]++ ||
            seen_q[Q[i]]++)
            return CVM_OK;
    }
    /* What is left of the two transposes: T2(T1(x)) = transpose(x, R). */
    for (int i = 0; i < rank; i++) {
        R[i] = P[Q[i]];
        identity &= R[i] == i;
    }
    int64_t a = cvm_attr_int(sm, "axis", sm->opset >= 13 ? -1 : 1);
    if (a < 0)
        a += rank;
    if (a < 0 || a >= rank || (sm->opset < 13 && a != rank - 1))
        return CVM_OK; /* before opset 13 the op flattens from the axis on */
    int si = (int)(sm - g->nodes), t2i = (int)(t2 - g->nodes);
    CVM_TRY(set_attr(sm, "axis", CVM_ATTR_INT, 0.0f, P[a], NULL));
    if (sm->opset < 13)
        sm->opset = 13;
    sm = &g->nodes[si];
    sm->in[0] = g->nodes[ti].in[0];
    f->dead[ti] = 1;
    if (identity) {
        sm->out[0] = g->nodes[t2i].out[0];
        f->dead[t2i] = 1;
        return CVM_OK;
    }
    /* T2 now transposes the softmax's output by R; a permutation that keeps
     * the last axis in place copies whole rows. */
    cvm_attr *pa = NULL;
    t2 = &g->nodes[t2i];
    for (int i = 0; i < t2->n_attr; i++)
        if (strcmp(t2->attrs[i].name, "perm") == 0)
            pa = &t2->attrs[i];
    if (!pa || pa->n != (size_t)rank)
        return cvm_errorf(CVM_E_INTERNAL, "fusion: perm of %s vanished", t2->name ? t2->name : "");
    for (int i = 0; i < rank; i++)
        pa->ints[i] = R[i];
    return CVM_OK;
}

/* Value v's producer-less scalar constant equals `want` (within float rounding). */
/*
 * Softmax(X [N, G, K, A], axis 2) -> Transpose(perm 0, 2, 1, 3) -> Conv(W
 * [1, K, 1, 1], no bias, 1x1, stride 1, no padding, one group) is
 * SoftmaxDot(X, W) [N, 1, G, A]: YOLOv8's and YOLO11's box decode (the
 * expectation over 16 distance bins), which wrote, transposed and read
 * back the [4, 16, 8400] softmax; now one pass reads X once.  Runs after
 * the transposed-softmax fold, which leaves this form.
 */
static int ones_or_absent(const cvm_node *n, const char *name, int64_t one, int count)
{
    size_t k = 0;
    const int64_t *v = cvm_attr_ints(n, name, &k);
    if (!v)
        return 1;
    if ((int)k != count)
        return 0;
    for (size_t i = 0; i < k; i++)
        if (v[i] != one)
            return 0;
    return 1;
}

static cvm_status fuse_softmax_dot(fuse_ctx *f, int si)
{
    cvm_graph *g = f->g;
    cvm_node *sm = &g->nodes[si];
    if (sm->n_in != 1 || sm->n_out != 1 || sm->in[0] < 0 || sm->out[0] < 0 || sm->opset < 13)
        return CVM_OK;
    /* rank 4 by the Transpose's perm; the axis then is 2 or -2 */
    int64_t axis = cvm_attr_int(sm, "axis", -1);
    if (axis != 2 && axis != -2)
        return CVM_OK;
    cvm_node *t = sole_consumer(f, sm->out[0]);
    size_t np = 0;
    const int64_t *P = t && is_op(t, "Transpose") ? cvm_attr_ints(t, "perm", &np) : NULL;
    if (!P || np != 4 || P[0] != 0 || P[1] != 2 || P[2] != 1 || P[3] != 3 || t->n_out != 1 ||
        t->out[0] < 0)
        return CVM_OK;
    cvm_node *cv = sole_consumer(f, t->out[0]);
    if (!cv || !is_op(cv, "Conv") || cv->n_in != 2 || cv->n_out != 1 || cv->out[0] < 0 ||
        cv->in[0] != t->out[0] || cvm_attr_int(cv, "group", 1) != 1 ||
        !ones_or_absent(cv, "strides", 1, 2) || !ones_or_absent(cv, "dilations", 1, 2) ||
        !ones_or_absent(cv, "pads", 0, 4) || strcmp(cvm_attr_string(cv, "auto_pad", "NOTSET"), "NOTSET") != 0)
        return CVM_OK;
    const cvm_tensor *w = const_f32(f, cv, 1);
    if (!w || w->ndim != 4 || w->dims[0] != 1 || w->dims[2] != 1 || w->dims[3] != 1 ||
        w->dims[1] < 1)
        return CVM_OK;
    int ti = (int)(t - g->nodes), cvi = (int)(cv - g->nodes);
    CVM_TRY(retype_fused(sm, "SoftmaxDot", 2));
    sm->in[1] = g->nodes[cvi].in[1];
    sm->out[0] = g->nodes[cvi].out[0];
    f->dead[ti] = 1;
    f->dead[cvi] = 1;
    return CVM_OK;
}

static int scalar_is(const fuse_ctx *f, const cvm_node *n, int i, float want)
{
    float v;
    return scalar_f32(f, n, i, &v) && fabsf(v - want) <= 1e-6f * fabsf(want);
}

/* The other input of a two-input node, when input `v` is one of them. */
static int other_input(const cvm_node *n, int v)
{
    if (n->n_in != 2)
        return -1;
    return n->in[0] == v ? n->in[1] : n->in[1] == v ? n->in[0] : -1;
}

/* Exact GELU as exporters write it (PyTorch's nn.GELU in RF-DETR's and
 * DINOv2's MLPs):
 *   0.5 * (x * (1 + Erf(x / sqrt(2))))   (any operand order; x * 0.70710678 for the Div)
 * becomes one Gelu node: one pass over the tensor instead of five. */
static cvm_status fuse_gelu(fuse_ctx *f, int di)
{
    cvm_graph *g = f->g;
    cvm_node *d = &g->nodes[di];
    if (d->n_in != 2 || d->n_out != 1 || d->out[0] < 0 || d->in[0] < 0)
        return CVM_OK;
    int x = d->in[0];
    if (!((is_op(d, "Div") && scalar_is(f, d, 1, 1.41421356f)) ||
          (is_op(d, "Mul") && scalar_is(f, d, 1, 0.70710678f))))
        return CVM_OK;
    cvm_node *e = sole_consumer(f, d->out[0]);
    if (!e || !is_op(e, "Erf") || e->n_out != 1 || e->out[0] < 0)
        return CVM_OK;
    cvm_node *a = sole_consumer(f, e->out[0]);
    if (!a || !is_op(a, "Add") || a->n_out != 1 || a->out[0] < 0)
        return CVM_OK;
    int one = other_input(a, e->out[0]);
    if (one < 0 || !scalar_is(f, a, a->in[0] == one ? 0 : 1, 1.0f))
        return CVM_OK;
    cvm_node *m1 = sole_consumer(f, a->out[0]);
    if (!m1 || !is_op(m1, "Mul") || m1->n_out != 1 || m1->out[0] < 0 ||
        other_input(m1, a->out[0]) != x)
        return CVM_OK;
    cvm_node *m2 = sole_consumer(f, m1->out[0]);
    if (!m2 || !is_op(m2, "Mul") || m2->n_out != 1 || m2->out[0] < 0)
        return CVM_OK;
    int half = other_input(m2, m1->out[0]);
    if (half < 0 || !scalar_is(f, m2, m2->in[0] == half ? 0 : 1, 0.5f))
        return CVM_OK;
    int m2i = (int)(m2 - g->nodes);
    int dead[4] = {di, (int)(e - g->nodes), (int)(a - g->nodes), (int)(m1 - g->nodes)};
    char *type = cvm_strdup("Gelu");
    if (!type)
        return cvm_errorf(CVM_E_NOMEM, "out of memory fusing GELU");
    m2 = &g->nodes[m2i];
    free(m2->op_type);
    m2->op_type = type;
    m2->in[0] = x;
    m2->n_in = 1;
    m2->opset = m2->opset < 20 ? 20 : m2->opset;
    CVM_TRY(set_attr(m2, "approximate", CVM_ATTR_STRING, 0.0f, 0, "none"));
    for (int k = 0; k < 4; k++)
        f->dead[dead[k]] = 1;
    /* x fed the Div and the first Mul; now only the Gelu */
    if (x < f->nv) {
        f->uses[x]--;
        f->cons[x] = m2i;
    }
    return CVM_OK;
}

/* MatMul(A, W) + bias [-> activation] with W a constant matrix and bias N
 * constants (a linear layer) becomes FusedMatMul(A, W, bias): the bias and
 * the activation are applied to the GEMM's tiles in registers instead of in
 * two more passes over the output. */
static cvm_status fuse_matmul(fuse_ctx *f, int mi)
{
    cvm_graph *g = f->g;
    cvm_node *mm = &g->nodes[mi];
    if (mm->n_in != 2 || mm->n_out != 1 || mm->in[0] < 0 || mm->in[1] < 0 || mm->out[0] < 0)
        return CVM_OK;
    const cvm_tensor *w = const_f32(f, mm, 1);
    if (!w || w->ndim != 2)
        return CVM_OK;
    int64_t N = w->dims[1];
    cvm_node *add = sole_consumer(f, mm->out[0]);
    if (!add || !is_op(add, "Add") || add->n_out != 1 || add->out[0] < 0)
        return CVM_OK;
    int bias = other_input(add, mm->out[0]);
    if (bias < 0 || bias >= f->nv)
        return CVM_OK;
    const cvm_tensor *bt = const_f32(f, add, add->in[0] == bias ? 0 : 1);
    int64_t nb = 1;
    for (int i = 0; bt && i < bt->ndim; i++) {
        /* [N] or [1, ..., 1, N]: the bias varies along the last axis only */
        if (i < bt->ndim - 1 && bt->dims[i] != 1)
            return CVM_OK;
        nb *= bt->dims[i];
    }
    if (!bt || bt->ndim < 1 || nb != N)
        return CVM_OK;
    int y = add->out[0], nodes[4], nn = 0, act = CVM_FUSED_NONE;
    float alpha = 0.0f, beta = 0.0f;
    int addi = (int)(add - g->nodes);
    int v = match_activation(f, y, &act, &alpha, &beta, nodes, &nn);
    if (v >= 0)
        y = v;
    else
        nn = 0;
    CVM_TRY(retype_fused(mm, "FusedMatMul", 3));
    mm->in[2] = bias;
    mm->out[0] = y;
    CVM_TRY(set_attr(mm, "activation", CVM_ATTR_STRING, 0.0f, 0, act_name(act)));
    CVM_TRY(set_attr(&g->nodes[mi], "alpha", CVM_ATTR_FLOAT, alpha, 0, NULL));
    CVM_TRY(set_attr(&g->nodes[mi], "beta", CVM_ATTR_FLOAT, beta, 0, NULL));
    f->dead[addi] = 1;
    for (int i = 0; i < nn; i++)
        f->dead[nodes[i]] = 1;
    return CVM_OK;
}

/* A lower bound of value v's rank from what the graph says before shapes
 * are inferred: declared, left by a Transpose (its perm) or a Reshape to a
 * constant shape, or at least an operand's for an elementwise op (the
 * attention scale).  -1 when nothing is known. */
static int min_rank(const fuse_ctx *f, int v, int depth)
{
    const cvm_graph *g = f->g;
    if (v < 0 || v >= f->nv || depth > 4)
        return -1;
    if (g->values[v].ndim >= 0)
        return g->values[v].ndim;
    int p = f->prod[v];
    if (p < 0)
        return -1;
    const cvm_node *n = &g->nodes[p];
    size_t np = 0;
    if (is_op(n, "Transpose") && cvm_attr_ints(n, "perm", &np) && np > 0)
        return (int)np;
    if (is_op(n, "Reshape") && n->n_in == 2 && n->in[1] >= 0 && g->values[n->in[1]].init &&
        g->values[n->in[1]].init->ndim == 1)
        return (int)g->values[n->in[1]].init->dims[0];
    if ((is_op(n, "Mul") || is_op(n, "Div") || is_op(n, "Add") || is_op(n, "Sub")) &&
        n->n_in == 2) {
        int r0 = min_rank(f, n->in[0], depth + 1), r1 = min_rank(f, n->in[1], depth + 1);
        return r0 > r1 ? r0 : r1;
    }
    return -1;
}

/* Scaled dot-product attention as exporters write it,
 *   MatMul(Softmax(MatMul(Q, Kt), last axis), V)
 * (the scale already applied to Q and Kt upstream), becomes
 * FusedAttention(Q, Kt, V): the kernel takes a block of query rows through
 * both products and the softmax while the scores are in cache, where the
 * three ops wrote and re-read the whole [heads, L, S] score tensor (63 MB
 * in RF-DETR base's global attention).  Every operand must have rank >= 2
 * as far as the graph shows before shapes are known: a vector operand
 * changes what MatMul's result rows are. */
static cvm_status fuse_attention(fuse_ctx *f, int mi)
{
    cvm_graph *g = f->g;
    cvm_node *m1 = &g->nodes[mi];
    if (m1->n_in != 2 || m1->n_out != 1 || m1->in[0] < 0 || m1->in[1] < 0 || m1->out[0] < 0)
        return CVM_OK;
    cvm_node *sm = sole_consumer(f, m1->out[0]);
    if (!sm || !is_op(sm, "Softmax") || sm->n_in != 1 || sm->n_out != 1 || sm->out[0] < 0)
        return CVM_OK;
    cvm_node *m2 = sole_consumer(f, sm->out[0]);
    if (!m2 || !is_op(m2, "MatMul") || m2->n_in != 2 || m2->n_out != 1 || m2->out[0] < 0 ||
        m2->in[0] != sm->out[0] || m2->in[1] < 0 || m2->in[1] == sm->out[0])
        return CVM_OK;
    if (min_rank(f, m1->in[0], 0) < 2 || min_rank(f, m1->in[1], 0) < 2 ||
        min_rank(f, m2->in[1], 0) < 2)
        return CVM_OK;
    /* the row softmax: axis -1, or the last axis of a declared rank */
    int64_t axis = cvm_attr_int(sm, "axis", sm->opset >= 13 ? -1 : 1);
    if (axis != -1 && axis != (int64_t)g->values[m1->out[0]].ndim - 1)
        return CVM_OK;
    int m2i = (int)(m2 - g->nodes);
    int q = m1->in[0], kt = m1->in[1];
    CVM_TRY(retype_fused(m2, "FusedAttention", 3));
    m2->in[2] = m2->in[1];
    m2->in[0] = q;
    m2->in[1] = kt;
    f->dead[mi] = 1;
    f->dead[(int)(sm - g->nodes)] = 1;
    /* Q and Kt now feed the fused node instead of the first MatMul */
    for (int k = 0; k < 2; k++) {
        int v = g->nodes[m2i].in[k];
        if (v < f->nv && f->cons[v] == mi)
            f->cons[v] = m2i;
    }
    return CVM_OK;
}

/* Pow(x, 2) with a constant float exponent (DEIMv2's and DETR variance
 * terms) is Mul(x, x): the same correctly rounded square without a powf
 * call per element. */
static cvm_status square_pow(fuse_ctx *f, int pi)
{
    cvm_node *n = &f->g->nodes[pi];
    if (n->n_in != 2 || n->n_out != 1 || n->in[0] < 0 || !scalar_is(f, n, 1, 2.0f))
        return CVM_OK;
    float e;
    if (!scalar_f32(f, n, 1, &e) || e != 2.0f || const_f32(f, n, 1)->ndim > 0)
        return CVM_OK; /* a rank > 0 exponent would broadcast x's shape up */
    char *type = cvm_strdup("Mul");
    if (!type)
        return cvm_errorf(CVM_E_NOMEM, "out of memory rewriting %s", n->name ? n->name : "Pow");
    if (n->in[1] < f->nv)
        f->uses[n->in[1]]--;
    free(n->op_type);
    n->op_type = type;
    n->in[1] = n->in[0];
    if (n->in[0] < f->nv)
        f->uses[n->in[0]]++;
    return CVM_OK;
}

/* ConvInteger(X, W, xz, wz) -> Cast(to float) -> Mul(., S), with S a
 * one-element float, is what dynamic quantisation emits per convolution.
 * It becomes ConvIntegerScaled(X, W, xz, wz, S) = float(ConvInteger) * S, so
 * the kernel converts and scales each tile while it is in cache and the
 * int32 tensor never reaches memory; bit for bit the three nodes' result
 * (int32 to float rounds to nearest in both, then one float multiply). */
/* A constant float32 holding one value, of rank 0 or 1 (so that multiplying
 * by it never changes the other operand's shape). */
static int const_scalar(const cvm_graph *g, int v)
{
    if (v < 0 || v >= g->n_values)
        return 0;
    const cvm_tensor *t = g->values[v].init;
    int64_t numel;
    return t && t->data && t->dtype == CVM_DTYPE_FLOAT32 && t->ndim <= 1 &&
           cvm_shape_numel(t->ndim, t->dims, &numel) && numel == 1;
}

/* S is one float: a constant, or Mul(DynamicQuantizeLinear's scale, constant)
 * as the quantiser writes x_scale * w_scale. */
static int quant_scale(const fuse_ctx *f, int v)
{
    if (const_scalar(f->g, v))
        return 1;
    int p = v >= 0 ? f->prod[v] : -1;
    if (p < 0)
        return 0;
    const cvm_node *m = &f->g->nodes[p];
    if (!is_op(m, "Mul") || m->n_in != 2 || m->n_out != 1)
        return 0;
    for (int i = 0; i < 2; i++) {
        int a = m->in[i], b = m->in[1 - i];
        int q = a >= 0 ? f->prod[a] : -1;
        if (q >= 0 && is_op(&f->g->nodes[q], "DynamicQuantizeLinear") && f->g->nodes[q].n_out > 1 &&
            f->g->nodes[q].out[1] == a && const_scalar(f->g, b))
            return 1;
    }
    return 0;
}

/* What follows a ConvIntegerScaled in dynamically quantised YOLOs: the bias
 * Add (of Reshape(bias), a computed tensor here, so matched as a residual)
 * and the SiLU, i.e. y = act(conv * S + r), as FusedConv's epilogue: three
 * passes over the output fewer, applied to each tile while it is in cache. */
static cvm_status fuse_conv_integer_epilogue(fuse_ctx *f, int ci)
{
    int absorbed[8], n_abs = 0;
    epi_match e;
    int y = match_epilogue(f, f->g->nodes[ci].out[0], &e, absorbed, &n_abs);
    if (n_abs == 0)
        return CVM_OK;
    absorb_nodes(f, absorbed, n_abs, e.res);
    cvm_node *conv = &f->g->nodes[ci];
    conv->out[0] = y;
    if (e.res >= 0) {
        int *in = realloc(conv->in, 6 * sizeof(int));
        if (!in)
            return cvm_errorf(CVM_E_NOMEM, "out of memory fusing %s", conv->name ? conv->name : "");
        in[5] = e.res;
        conv->in = in;
        conv->n_in = 6;
    }
    return set_epilogue_attrs(conv, &e);
}

static cvm_status fuse_conv_integer(fuse_ctx *f, int ci)
{
    cvm_graph *g = f->g;
    cvm_node *conv = &g->nodes[ci];
    if (conv->n_out != 1 || conv->n_in < 2 || conv->n_in > 4)
        return CVM_OK;
    cvm_node *cast = sole_consumer(f, conv->out[0]);
    if (!cast || !is_op(cast, "Cast") || cast->n_in != 1 || cast->n_out != 1 ||
        cvm_attr_int(cast, "to", 0) != CVM_DTYPE_FLOAT32)
        return CVM_OK;
    cvm_node *mul = sole_consumer(f, cast->out[0]);
    if (!mul || !is_op(mul, "Mul") || mul->n_in != 2 || mul->n_out != 1)
        return CVM_OK;
    int s = mul->in[0] == cast->out[0] ? mul->in[1] : mul->in[0];
    if (s == cast->out[0] || !quant_scale(f, s))
        return CVM_OK;
    CVM_TRY(retype_fused(conv, "ConvIntegerScaled", 5));
    conv->in[4] = s;
    conv->out[0] = mul->out[0];
    f->dead[cast - g->nodes] = 1;
    f->dead[mul - g->nodes] = 1;
    return fuse_conv_integer_epilogue(f, ci);
}

static cvm_status merge_slices(fuse_ctx *f, int si);

/* Identity of a constant (exporters share one weight or bias between
 * layers that way, as RF-DETR's decoder does) is read as the constant itself,
 * so that the passes below see a constant operand; the Identity goes.  Its
 * output stays when the graph returns it. */
static void bypass_const_identity(fuse_ctx *f)
{
    cvm_graph *g = f->g;
    for (int i = 0; i < g->n_nodes; i++) {
        cvm_node *n = &g->nodes[i];
        if (!is_op(n, "Identity") || n->n_in != 1 || n->n_out != 1 || n->in[0] < 0 ||
            n->out[0] < 0 || n->in[0] >= f->nv || n->out[0] >= f->nv || !g->values[n->in[0]].init)
            continue;
        int from = n->out[0], to = n->in[0], returned = 0;
        for (int k = 0; k < g->n_outputs; k++)
            returned |= g->outputs[k] == from;
        if (returned)
            continue;
        for (int j = 0; j < g->n_nodes; j++)
            for (int k = 0; k < g->nodes[j].n_in; k++)
                if (g->nodes[j].in[k] == from)
                    g->nodes[j].in[k] = to;
        f->dead[i] = 1;
    }
}

cvm_status cvm_graph_fuse(cvm_graph *g)
{
    if (!g)
        return cvm_errorf(CVM_E_INVALID_ARG, "cvm_graph_fuse: graph is NULL");
    if (g->n_nodes == 0)
        return CVM_OK;
    int nv = g->n_values;
    fuse_ctx f = {g, NULL, NULL, NULL, NULL, nv};
    f.uses = calloc((size_t)(nv ? nv : 1), sizeof(int));
    f.cons = malloc(sizeof(int) * (size_t)(nv ? nv : 1));
    f.prod = malloc(sizeof(int) * (size_t)(nv ? nv : 1));
    f.dead = calloc((size_t)g->n_nodes, 1);
    cvm_status st = CVM_OK;
    if (!f.uses || !f.cons || !f.prod || !f.dead) {
        st = cvm_errorf(CVM_E_NOMEM, "out of memory fusing the graph");
        goto done;
    }
    for (int v = 0; v < nv; v++)
        f.cons[v] = f.prod[v] = -1;
    bypass_const_identity(&f);
    for (int i = 0; i < g->n_nodes; i++) {
        const cvm_node *n = &g->nodes[i];
        for (int k = 0; k < n->n_in; k++) {
            int v = n->in[k];
            if (v < 0)
                continue;
            if (v >= nv) {
                st = cvm_errorf(CVM_E_INTERNAL, "fusion: node %d refers to value %d of %d", i, v, nv);
                goto done;
            }
            f.uses[v]++;
            f.cons[v] = i;
        }
        for (int k = 0; k < n->n_out; k++)
            if (n->out[k] >= 0 && n->out[k] < nv)
                f.prod[n->out[k]] = i;
    }
    for (int i = 0; i < g->n_outputs; i++)
        if (g->outputs[i] >= 0 && g->outputs[i] < nv)
            f.uses[g->outputs[i]]++;
    int n0 = g->n_nodes;
    /* the int8 chains first, while every producer is the original one */
    for (int i = 0; i < n0 && st == CVM_OK; i++)
        if (!f.dead[i] && is_op(&g->nodes[i], "ConvInteger"))
            st = fuse_conv_integer(&f, i);
    /* GELU before the Conv and MatMul passes, which can then absorb it */
    for (int i = 0; i < n0 && st == CVM_OK; i++)
        if (!f.dead[i] && (is_op(&g->nodes[i], "Div") || is_op(&g->nodes[i], "Mul")))
            st = fuse_gelu(&f, i);
    for (int i = 0; i < n0 && st == CVM_OK; i++)
        if (!f.dead[i] && is_op(&g->nodes[i], "Conv"))
            st = fuse_conv(&f, i);
    for (int i = 0; i < n0 && st == CVM_OK; i++)
        if (!f.dead[i] && is_op(&g->nodes[i], "Sigmoid"))
            st = push_sigmoid(&f, i);
    for (int i = 0; i < n0 && st == CVM_OK; i++)
        if (!f.dead[i])
            st = fuse_siblings(&f, i);
    for (int i = 0; i < n0 && st == CVM_OK; i++)
        if (!f.dead[i] && is_op(&g->nodes[i], "ConvTranspose"))
            st = fuse_convtranspose_bn(&f, i);
    for (int i = 0; i < n0 && st == CVM_OK; i++)
        if (!f.dead[i] && is_op(&g->nodes[i], "Transpose"))
            st = fuse_transposed_softmax(&f, i);
    for (int i = 0; i < n0 && st == CVM_OK; i++)
        if (!f.dead[i] && is_op(&g->nodes[i], "Softmax"))
            st = fuse_softmax_dot(&f, i);
    for (int i = 0; i < n0 && st == CVM_OK; i++)
        if (!f.dead[i] && is_op(&g->nodes[i], "MatMul"))
            st = fuse_attention(&f, i);
    for (int i = 0; i < n0 && st == CVM_OK; i++)
        if (!f.dead[i] && is_op(&g->nodes[i], "MatMul"))
            st = fuse_matmul(&f, i);
    for (int i = 0; i < n0 && st == CVM_OK; i++)
        if (!f.dead[i] && is_op(&g->nodes[i], "Pow"))
            st = square_pow(&f, i);
    for (int i = 0; i < n0 && st == CVM_OK; i++)
        if (!f.dead[i] && is_op(&g->nodes[i], "Slice"))
            st = merge_slices(&f, i);
    /* Drop the absorbed nodes and renumber the producers. */
    int k = 0;
    for (int i = 0; i < g->n_nodes; i++) {
        if (i < n0 && f.dead[i]) {
            cvm_node_clear(&g->nodes[i]);
            continue;
        }
        if (k != i)
            g->nodes[k] = g->nodes[i];
        k++;
    }
    g->n_nodes = k;
    for (int v = 0; v < g->n_values; v++)
        g->values[v].producer = -1;
    for (int i = 0; i < g->n_nodes; i++)
        for (int o = 0; o < g->nodes[i].n_out; o++)
            if (g->nodes[i].out[o] >= 0)
                g->values[g->nodes[i].out[o]].producer = i;
    if (st == CVM_OK)
        st = cvm_fuse_elementwise(g); /* elementwise chains (fuse_elementwise.c) */
done:
    free(f.uses);
    free(f.cons);
    free(f.prod);
    free(f.dead);
    return st;
}

/*
 * Slice(Slice(x)) with constant starts/ends/axes/steps on disjoint,
 * non-negative axes is one Slice of x: slicing one axis leaves the extent of
 * the others alone, so the outer slice's clamping sees the same lengths.
 * YOLOX's Focus takes rows then columns of every other pixel; merged, the
 * half-size intermediate is never written.  Each consumer of the inner Slice
 * gets its own merged Slice; the inner one goes when none is left.
 */
#define SLICE_MAX_AXES 8

/* Reads Slice input i (a constant int32/int64 vector) into v; count in *n.
 * An omitted axes or steps input gives 0..len-1 or ones (len = *n). */
static int slice_const(const fuse_ctx *f, const cvm_node *s, int i, int64_t *v, int *n)
{
    if (i >= s->n_in || s->in[i] < 0) {
        if (i < 3)
            return 0;
        for (int k = 0; k < *n; k++)
            v[k] = i == 3 ? k : 1;
        return 1;
    }
    const cvm_tensor *t = f->g->values[s->in[i]].init;
    int64_t numel;
    if (!t || !t->data || t->ndim != 1 || (t->dtype != CVM_DTYPE_INT64 && t->dtype != CVM_DTYPE_INT32) ||
        !cvm_shape_numel(t->ndim, t->dims, &numel) || numel < 1 || numel > SLICE_MAX_AXES)
        return 0;
    if (i > 1 && numel != *n)
        return 0;
    *n = (int)numel;
    for (int64_t k = 0; k < numel; k++)
        v[k] = cvm_tensor_get_i64(t, k);
    return 1;
}

static int slice_params(const fuse_ctx *f, const cvm_node *s, int64_t p[4][SLICE_MAX_AXES], int *n)
{
    if (!is_op(s, "Slice") || s->n_in < 3 || s->n_in > 5 || s->n_out != 1 || s->in[0] < 0)
        return 0;
    *n = 0;
    for (int i = 1; i < 5; i++)
        if (!slice_const(f, s, i, p[i - 1], n))
            return 0;
    for (int a = 0; a < *n; a++) {
        if (p[2][a] < 0 || p[3][a] == 0)
            return 0;
        for (int b = 0; b < a; b++)
            if (p[2][a] == p[2][b])
                return 0;
    }
    return 1;
}

static cvm_status merge_slices(fuse_ctx *f, int si)
{
    cvm_node *outer = &f->g->nodes[si];
    int v = outer->n_in > 0 ? outer->in[0] : -1;
    if (v < 0 || v >= f->nv || f->prod[v] < 0 || f->dead[f->prod[v]])
        return CVM_OK;
    int ii = f->prod[v];
    if (ii == si)
        return CVM_OK;
    const cvm_node *inner = &f->g->nodes[ii];
    int64_t po[4][SLICE_MAX_AXES], pi[4][SLICE_MAX_AXES];
    int no, ni;
    if (!slice_params(f, outer, po, &no) || !slice_params(f, inner, pi, &ni) ||
        no + ni > SLICE_MAX_AXES)
        return CVM_OK;
    for (int a = 0; a < no; a++)
        for (int b = 0; b < ni; b++)
            if (po[2][a] == pi[2][b])
                return CVM_OK;
    int idx[4];
    const char *sfx[4] = {"starts", "ends", "axes", "steps"};
    const char *base = outer->name && outer->name[0] ? outer->name : "Slice";
    int64_t len = no + ni;
    for (int q = 0; q < 4; q++) {
        cvm_tensor *t;
        CVM_TRY(cvm_tensor_create(CVM_DTYPE_INT64, 1, &len, &t));
        int64_t *d = t->data;
        memcpy(d, pi[q], sizeof(int64_t) * (size_t)ni);
        memcpy(d + ni, po[q], sizeof(int64_t) * (size_t)no);
        cvm_status st = add_const(f->g, base, sfx[q], t, &idx[q]);
        if (st != CVM_OK) {
            cvm_tensor_free(t);
            return st;
        }
    }
    /* add_const may have moved the node array's values, not the nodes */
    outer = &f->g->nodes[si];
    inner = &f->g->nodes[ii];
    if (outer->n_in < 5) {
        int *in = realloc(outer->in, sizeof(int) * 5);
        if (!in)
            return cvm_errorf(CVM_E_NOMEM, "out of memory merging %s", base);
        for (int k = outer->n_in; k < 5; k++)
            in[k] = -1;
        outer->in = in;
        outer->n_in = 5;
    }
    for (int k = 1; k < 5; k++) {
        if (outer->in[k] >= 0 && outer->in[k] < f->nv)
            f->uses[outer->in[k]]--;
        outer->in[k] = idx[k - 1];
    }
    int x = inner->in[0];
    outer->in[0] = x;
    if (x < f->nv)
        f->uses[x]++;
    if (--f->uses[v] == 0) {
        f->dead[ii] = 1;
        for (int k = 0; k < inner->n_in; k++)
            if (inner->in[k] >= 0 && inner->in[k] < f->nv)
                f->uses[inner->in[k]]--;
    }
    return CVM_OK;
}
