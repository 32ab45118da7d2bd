/* Shape inference for convolution, pooling, normalisation, matrix products,
 * Einsum, the softmax family and Dropout. */
#include "graph/shape_nn.h"

#include <string.h>

#include "graph/schema_tables.h"

#define SHP(t, buf) cvm_shape_str((t)->ndim, (t)->dims, buf, sizeof buf)

static cvm_status need_float(const cvm_infer_ctx *c, int i)
{
    const cvm_tensor *t = c->in[i];
    if (t && !cvm_dtype_is_float(t->dtype))
        return cvm_node_error(c->node, CVM_E_TYPE, "input %d has type %s; a float type is required",
                              i, cvm_dtype_name(t->dtype));
    return CVM_OK;
}

static void same_as_input(const cvm_infer_ctx *c, int o, int i)
{
    if (o < c->n_out && c->out[o])
        cvm_set_shape(c->out[o], c->in[i]->dtype, c->in[i]->ndim, c->in[i]->dims);
}

/* ------------------------------------------------------------- geometry */

/* Reads an ints attribute that must have exactly nsp entries, or fills def. */
static cvm_status spatial_attr(const cvm_node *n, const char *name, int nsp, int64_t def,
                               int64_t min, int64_t *out)
{
    size_t cnt = 0;
    const int64_t *v = cvm_attr_ints(n, name, &cnt);
    if (!v) {
        for (int i = 0; i < nsp; i++)
            out[i] = def;
        return CVM_OK;
    }
    if (cnt != (size_t)nsp)
        return cvm_node_error(n, CVM_E_SHAPE, "attribute %s has %zu values; %d spatial dims need %d",
                              name, cnt, nsp, nsp);
    for (int i = 0; i < nsp; i++) {
        /* bounded so that (kernel - 1) * dilation and out * stride cannot overflow */
        if (v[i] < min || v[i] > ((int64_t)1 << 24))
            return cvm_node_error(n, CVM_E_SHAPE, "attribute %s[%d] = %lld is out of range", name, i,
                                  (long long)v[i]);
        out[i] = v[i];
    }
    return CVM_OK;
}

static cvm_status read_pads(const cvm_node *n, int nsp, cvm_nn_geom *g)
{
    size_t cnt = 0;
    const int64_t *p = cvm_attr_ints(n, "pads", &cnt);
    for (int i = 0; i < nsp; i++)
        g->pb[i] = g->pe[i] = 0;
    if (!p)
        return CVM_OK;
    if (cnt != (size_t)(2 * nsp))
        return cvm_node_error(n, CVM_E_SHAPE, "attribute pads has %zu values; %d spatial dims need %d",
                              cnt, nsp, 2 * nsp);
    for (int i = 0; i < nsp; i++) {
        if (p[i] < 0 || p[i + nsp] < 0 || p[i] > ((int64_t)1 << 40) || p[i + nsp] > ((int64_t)1 << 40))
            return cvm_node_error(n, CVM_E_SHAPE, "pads must be non-negative and sane");
        g->pb[i] = p[i];
        g->pe[i] = p[i + nsp];
    }
    return CVM_OK;
}

static cvm_status common_geom(const cvm_node *n, int nsp, const int64_t *in, const int64_t *kernel,
                              cvm_nn_geom *g)
{
    if (nsp < 1 || nsp > CVM_NN_MAX_SPATIAL)
        return cvm_node_error(n, CVM_E_UNSUPPORTED, "%d spatial dims; 1 to %d are supported", nsp,
                              CVM_NN_MAX_SPATIAL);
    memset(g, 0, sizeof *g);
    g->nsp = nsp;
    for (int i = 0; i < nsp; i++) {
        if (kernel[i] < 1 || kernel[i] > ((int64_t)1 << 30))
            return cvm_node_error(n, CVM_E_SHAPE, "kernel extent %lld in spatial dim %d is invalid",
                                  (long long)kernel[i], i);
        if (in[i] < 0)
            return cvm_node_error(n, CVM_E_SHAPE, "negative input extent");
        g->in[i] = in[i];
        g->k[i] = kernel[i];
    }
    size_t cnt;
    const int64_t *ks = cvm_attr_ints(n, "kernel_shape", &cnt);
    if (ks) {
        if (cnt != (size_t)nsp)
            return cvm_node_error(n, CVM_E_SHAPE, "kernel_shape has %zu values; %d spatial dims", cnt,
                                  nsp);
        for (int i = 0; i < nsp; i++)
            if (ks[i] != kernel[i])
                return cvm_node_error(n, CVM_E_SHAPE,
                                      "kernel_shape[%d] = %lld disagrees with the weights' %lld", i,
                                      (long long)ks[i], (long long)kernel[i]);
    }
    CVM_TRY(spatial_attr(n, "strides", nsp, 1, 1, g->s));
    CVM_TRY(spatial_attr(n, "dilations", nsp, 1, 1, g->d));
    return read_pads(n, nsp, g);
}

cvm_status cvm_nn_window_geom(const cvm_node *n, int nsp, const int64_t *in, const int64_t *kernel,
                              int use_ceil, cvm_nn_geom *g)
{
    CVM_TRY(common_geom(n, nsp, in, kernel, g));
    const char *ap = cvm_attr_string(n, "auto_pad", "NOTSET");
    int ceil_mode = use_ceil ? (int)cvm_attr_int(n, "ceil_mode", 0) : 0;
    for (int i = 0; i < nsp; i++) {
        int64_t dk = (g->k[i] - 1) * g->d[i] + 1;
        if (strcmp(ap, "SAME_UPPER") == 0 || strcmp(ap, "SAME_LOWER") == 0) {
            int64_t out = (g->in[i] + g->s[i] - 1) / g->s[i];
            int64_t total = (out - 1) * g->s[i] + dk - g->in[i];
            if (total < 0)
                total = 0;
            int64_t small = total / 2;
            g->pb[i] = ap[5] == 'U' ? small : total - small;
            g->pe[i] = total - g->pb[i];
            g->out[i] = out;
            continue;
        }
        if (strcmp(ap, "VALID") == 0)
            g->pb[i] = g->pe[i] = 0;
        else if (strcmp(ap, "NOTSET") != 0)
            return cvm_node_error(n, CVM_E_UNSUPPORTED, "auto_pad '%s' is not a valid value", ap);
        int64_t span = g->in[i] + g->pb[i] + g->pe[i] - dk;
        if (span < 0) {
            char b[96];
            return cvm_node_error(n, CVM_E_SHAPE,
                                  "window of %lld (dilated) does not fit padded input %s in dim %d",
                                  (long long)dk, cvm_shape_str(nsp, in, b, sizeof b), i);
        }
        int64_t out = (ceil_mode ? (span + g->s[i] - 1) / g->s[i] : span / g->s[i]) + 1;
        /* A last window that would start inside the end padding is dropped. */
        if (ceil_mode && (out - 1) * g->s[i] >= g->in[i] + g->pb[i])
            out--;
        g->out[i] = out;
    }
    return CVM_OK;
}

cvm_status cvm_nn_convtranspose_geom(const cvm_node *n, int nsp, const int64_t *in,
                                     const int64_t *kernel, cvm_nn_geom *g)
{
    CVM_TRY(common_geom(n, nsp, in, kernel, g));
    int64_t opad[CVM_NN_MAX_SPATIAL];
    CVM_TRY(spatial_attr(n, "output_padding", nsp, 0, 0, opad));
    size_t cnt = 0;
    const int64_t *os = cvm_attr_ints(n, "output_shape", &cnt);
    if (os && cnt != (size_t)nsp && cnt != (size_t)nsp + 2)
        return cvm_node_error(n, CVM_E_SHAPE, "output_shape has %zu values; expected %d", cnt, nsp);
    if (os && cnt == (size_t)nsp + 2)
        os += 2;
    const char *ap = cvm_attr_string(n, "auto_pad", "NOTSET");
    int same = strcmp(ap, "SAME_UPPER") == 0 || strcmp(ap, "SAME_LOWER") == 0;
    if (!same && strcmp(ap, "NOTSET") != 0 && strcmp(ap, "VALID") != 0)
        return cvm_node_error(n, CVM_E_UNSUPPORTED, "auto_pad '%s' is not a valid value", ap);
    for (int i = 0; i < nsp; i++) {
        if (opad[i] >= g->s[i] && opad[i] >= g->d[i])
            return cvm_node_error(n, CVM_E_SHAPE,
                                  "output_padding %lld must be smaller than stride or dilation",
                                  (long long)opad[i]);
        int64_t dk = (g->k[i] - 1) * g->d[i] + 1;
        int64_t full = g->s[i] * (g->in[i] > 0 ? g->in[i] - 1 : 0) + opad[i] + dk;
        if (os || same) {
            int64_t out = os ? os[i] : g->in[i] * g->s[i];
            if (out < 0)
                return cvm_node_error(n, CVM_E_SHAPE, "output_shape[%d] is negative", i);
            int64_t total = full - out;
            if (total <= 0)
                g->pb[i] = 0; /* a larger requested output just extends the end */
            else
                g->pb[i] = strcmp(ap, "SAME_UPPER") == 0 ? total / 2 : total - total / 2;
            g->pe[i] = total - g->pb[i];
            g->out[i] = out;
        } else {
            if (strcmp(ap, "VALID") == 0)
                g->pb[i] = g->pe[i] = 0;
            g->out[i] = full - g->pb[i] - g->pe[i];
            if (g->out[i] < 0)
                return cvm_node_error(n, CVM_E_SHAPE, "pads exceed the output in spatial dim %d", i);
        }
    }
    return CVM_OK;
}

/* ----------------------------------------------------------------- conv */

static cvm_status infer_conv(const cvm_infer_ctx *c)
{
    const cvm_tensor *x = c->in[0], *w = c->in[1];
    const cvm_tensor *b = c->n_in > 2 ? c->in[2] : NULL;
    char sx[128], sw[128], sb[128];
    CVM_TRY(need_float(c, 0));
    if (x->ndim < 3 || w->ndim != x->ndim)
        return cvm_node_error(c->node, CVM_E_SHAPE, "input %s and weights %s: need [N,C,spatial...] "
                              "and weights of the same rank", SHP(x, sx), SHP(w, sw));
    int64_t group = cvm_attr_int(c->node, "group", 1);
    if (group < 1)
        return cvm_node_error(c->node, CVM_E_SHAPE, "group %lld must be positive", (long long)group);
    if (w->dims[0] % group != 0 || x->dims[1] != w->dims[1] * group)
        return cvm_node_error(c->node, CVM_E_SHAPE,
                              "input %s has %lld channels but weights %s with group %lld expect %lld "
                              "(and %lld output channels must divide by the group)",
                              SHP(x, sx), (long long)x->dims[1], SHP(w, sw), (long long)group,
                              (long long)(w->dims[1] * group), (long long)w->dims[0]);
    if (b && (b->ndim != 1 || b->dims[0] != w->dims[0]))
        return cvm_node_error(c->node, CVM_E_SHAPE, "bias %s does not match weights %s", SHP(b, sb),
                              SHP(w, sw));
    int nsp = x->ndim - 2;
    cvm_nn_geom g;
    CVM_TRY(cvm_nn_window_geom(c->node, nsp, x->dims + 2, w->dims + 2, 0, &g));
    int64_t od[CVM_MAX_DIMS] = {x->dims[0], w->dims[0]};
    for (int i = 0; i < nsp; i++)
        od[2 + i] = g.out[i];
    cvm_set_shape(c->out[0], x->dtype, x->ndim, od);
    return CVM_OK;
}

static cvm_status infer_convtranspose(const cvm_infer_ctx *c)
{
    const cvm_tensor *x = c->in[0], *w = c->in[1];
    const cvm_tensor *b = c->n_in > 2 ? c->in[2] : NULL;
    char sx[128], sw[128], sb[128];
    CVM_TRY(need_float(c, 0));
    if (x->ndim < 3 || w->ndim != x->ndim)
        return cvm_node_error(c->node, CVM_E_SHAPE, "input %s and weights %s: need [N,C,spatial...] "
                              "and weights of the same rank", SHP(x, sx), SHP(w, sw));
    int64_t group = cvm_attr_int(c->node, "group", 1);
    if (group < 1 || group > x->dims[1] + 1)
        return cvm_node_error(c->node, CVM_E_SHAPE, "group %lld is invalid", (long long)group);
    if (x->dims[1] != w->dims[0] || w->dims[0] % group != 0)
        return cvm_node_error(c->node, CVM_E_SHAPE,
                              "input %s has %lld channels but weights %s with group %lld expect %lld",
                              SHP(x, sx), (long long)x->dims[1], SHP(w, sw), (long long)group,
                              (long long)w->dims[0]);
    int64_t m = w->dims[1] * group;
    if (b && (b->ndim != 1 || b->dims[0] != m))
        return cvm_node_error(c->node, CVM_E_SHAPE, "bias %s does not match %lld output channels",
                              SHP(b, sb), (long long)m);
    int nsp = x->ndim - 2;
    cvm_nn_geom g;
    CVM_TRY(cvm_nn_convtranspose_geom(c->node, nsp, x->dims + 2, w->dims + 2, &g));
    int64_t od[CVM_MAX_DIMS] = {x->dims[0], m};
    for (int i = 0; i < nsp; i++)
        od[2 + i] = g.out[i];
    cvm_set_shape(c->out[0], x->dtype, x->ndim, od);
    return CVM_OK;
}

/* ------------------------------------------------------------- pooling */

static cvm_status infer_pool(const cvm_infer_ctx *c)
{
    const cvm_tensor *x = c->in[0];
    char sx[128];
    const char *op = c->node->op_type;
    int is_max = strcmp(op, "MaxPool") == 0;
    if (is_max) {
        if (x->dtype != CVM_DTYPE_INT8 && x->dtype != CVM_DTYPE_UINT8)
            CVM_TRY(need_float(c, 0));
    } else
        CVM_TRY(need_float(c, 0));
    if (x->ndim < 3)
        return cvm_node_error(c->node, CVM_E_SHAPE, "input %s needs [N,C,spatial...]", SHP(x, sx));
    int nsp = x->ndim - 2;
    size_t cnt = 0;
    const int64_t *ks = cvm_attr_ints(c->node, "kernel_shape", &cnt);
    if (!ks)
        return cvm_node_error(c->node, CVM_E_SHAPE, "attribute kernel_shape is required");
    if (cnt != (size_t)nsp)
        return cvm_node_error(c->node, CVM_E_SHAPE, "kernel_shape has %zu values for input %s", cnt,
                              SHP(x, sx));
    if (cvm_attr_int(c->node, "storage_order", 0) != 0 &&
        cvm_attr_int(c->node, "storage_order", 0) != 1)
        return cvm_node_error(c->node, CVM_E_SHAPE, "storage_order must be 0 or 1");
    cvm_nn_geom g;
    CVM_TRY(cvm_nn_window_geom(c->node, nsp, x->dims + 2, ks, 1, &g));
    int64_t od[CVM_MAX_DIMS] = {x->dims[0], x->dims[1]};
    for (int i = 0; i < nsp; i++)
        od[2 + i] = g.out[i];
    cvm_set_shape(c->out[0], x->dtype, x->ndim, od);
    if (c->n_out > 1 && c->out[1]) {
        if (!is_max)
            return cvm_node_error(c->node, CVM_E_SHAPE, "%s has one output", op);
        cvm_set_shape(c->out[1], CVM_DTYPE_INT64, x->ndim, od);
    }
    return CVM_OK;
}

static cvm_status infer_global_pool(const cvm_infer_ctx *c)
{
    const cvm_tensor *x = c->in[0];
    char sx[128];
    CVM_TRY(need_float(c, 0));
    if (x->ndim < 3)
        return cvm_node_error(c->node, CVM_E_SHAPE, "input %s needs [N,C,spatial...]", SHP(x, sx));
    int64_t od[CVM_MAX_DIMS];
    for (int i = 0; i < x->ndim; i++)
        od[i] = i < 2 ? x->dims[i] : 1;
    cvm_set_shape(c->out[0], x->dtype, x->ndim, od);
    return CVM_OK;
}

/* ------------------------------------------------------------ norms */

static cvm_status check_channel_param(const cvm_infer_ctx *c, int i, int64_t want, int64_t alt)
{
    const cvm_tensor *t = c->in[i];
    char st[128];
    int64_t n = 0;
    if (!cvm_shape_numel(t->ndim, t->dims, &n) || (n != want && n != alt))
        return cvm_node_error(c->node, CVM_E_SHAPE, "input %d has shape %s; expected %lld values", i,
                              SHP(t, st), (long long)want);
    return CVM_OK;
}

static cvm_status infer_batchnorm(const cvm_infer_ctx *c)
{
    const cvm_tensor *x = c->in[0];
    char sx[128];
    for (int i = 0; i < 5; i++)
        CVM_TRY(need_float(c, i));
    if (x->ndim < 2)
        return cvm_node_error(c->node, CVM_E_SHAPE, "input %s needs [N,C,...]", SHP(x, sx));
    if (cvm_attr_int(c->node, "training_mode", 0) != 0)
        return cvm_node_error(c->node, CVM_E_UNSUPPORTED,
                              "training_mode=1 (batch statistics) is not supported for inference");
    int64_t spatial = 1;
    for (int i = 2; i < x->ndim; i++)
        spatial *= x->dims[i] > 0 ? x->dims[i] : 1;
    /* Before opset 7, spatial=0 gave one parameter per (C, spatial...) element. */
    int64_t alt = x->dims[1] * spatial;
    for (int i = 1; i < 5; i++)
        CVM_TRY(check_channel_param(c, i, x->dims[1], alt));
    same_as_input(c, 0, 0);
    /* Old opsets declare running statistics outputs; inference leaves them equal to the inputs. */
    for (int o = 1; o < c->n_out && o < 5; o++)
        if (c->out[o])
            same_as_input(c, o, o == 1 || o == 3 ? 3 : 4);
    return CVM_OK;
}

static cvm_status infer_instancenorm(const cvm_infer_ctx *c)
{
    const cvm_tensor *x = c->in[0];
    char sx[128];
    for (int i = 0; i < 3; i++)
        CVM_TRY(need_float(c, i));
    if (x->ndim < 3)
        return cvm_node_error(c->node, CVM_E_SHAPE, "input %s needs [N,C,spatial...]", SHP(x, sx));
    CVM_TRY(check_channel_param(c, 1, x->dims[1], x->dims[1]));
    CVM_TRY(check_channel_param(c, 2, x->dims[1], x->dims[1]));
    same_as_input(c, 0, 0);
    return CVM_OK;
}

/* Unidirectional broadcast of t to the trailing `n` dims `to`. */
static int broadcasts_to(const cvm_tensor *t, int n, const int64_t *to)
{
    if (t->ndim > n)
        return 0;
    for (int i = 0; i < t->ndim; i++) {
        int64_t d = t->dims[t->ndim - 1 - i], e = to[n - 1 - i];
        if (d != e && d != 1)
            return 0;
    }
    return 1;
}

static cvm_status infer_layernorm(const cvm_infer_ctx *c)
{
    const cvm_tensor *x = c->in[0];
    char sx[128], ss[128];
    for (int i = 0; i < c->n_in; i++)
        CVM_TRY(need_float(c, i));
    int axis;
    CVM_TRY(cvm_norm_axis(cvm_attr_int(c->node, "axis", -1), x->ndim, "LayerNormalization", &axis));
    for (int i = 1; i < c->n_in && i < 3; i++)
        if (c->in[i] && !broadcasts_to(c->in[i], x->ndim - axis, x->dims + axis))
            return cvm_node_error(c->node, CVM_E_SHAPE,
                                  "input %d %s does not broadcast to the normalised dims of %s "
                                  "(axis %d)", i, SHP(c->in[i], ss), SHP(x, sx), axis);
    same_as_input(c, 0, 0);
    int64_t sd[CVM_MAX_DIMS];
    for (int i = 0; i < x->ndim; i++)
        sd[i] = i < axis ? x->dims[i] : 1;
    cvm_dtype st = (cvm_dtype)cvm_attr_int(c->node, "stash_type", 1);
    if (!cvm_dtype_is_float(st))
        st = CVM_DTYPE_FLOAT32;
    for (int o = 1; o < c->n_out && o < 3; o++)
        if (c->out[o])
            cvm_set_shape(c->out[o], st, x->ndim, sd);
    return CVM_OK;
}

static cvm_status infer_groupnorm(const cvm_infer_ctx *c)
{
    const cvm_tensor *x = c->in[0];
    char sx[128];
    for (int i = 0; i < 3; i++)
        CVM_TRY(need_float(c, i));
    if (x->ndim < 3)
        return cvm_node_error(c->node, CVM_E_SHAPE, "input %s needs [N,C,spatial...]", SHP(x, sx));
    int64_t g = cvm_attr_int(c->node, "num_groups", 0);
    if (g < 1 || x->dims[1] % g != 0)
        return cvm_node_error(c->node, CVM_E_SHAPE, "num_groups %lld must divide the %lld channels of %s",
                              (long long)g, (long long)x->dims[1], SHP(x, sx));
    /* Opset 18 had one scale per group, opset 21 one per channel. */
    CVM_TRY(check_channel_param(c, 1, x->dims[1], g));
    CVM_TRY(check_channel_param(c, 2, x->dims[1], g));
    same_as_input(c, 0, 0);
    return CVM_OK;
}

static cvm_status infer_same_float_axis(const cvm_infer_ctx *c)
{
    CVM_TRY(need_float(c, 0));
    const cvm_tensor *x = c->in[0];
    const char *op = c->node->op_type;
    if (strcmp(op, "LpNormalization") == 0) {
        int a;
        CVM_TRY(cvm_norm_axis(cvm_attr_int(c->node, "axis", -1), x->ndim, op, &a));
        int64_t p = cvm_attr_int(c->node, "p", 2);
        if (p != 1 && p != 2)
            return cvm_node_error(c->node, CVM_E_UNSUPPORTED, "p = %lld; only 1 and 2 are defined",
                                  (long long)p);
    } else if (strcmp(op, "LRN") == 0) {
        char sx[128];
        if (x->ndim < 3)
            return cvm_node_error(c->node, CVM_E_SHAPE, "input %s needs [N,C,spatial...]", SHP(x, sx));
        if (cvm_attr_int(c->node, "size", 0) < 1)
            return cvm_node_error(c->node, CVM_E_SHAPE, "attribute size must be positive");
    } else {
        /* Softmax family: a single axis from opset 13, a 2-D coercion point before. */
        int a;
        int64_t def = c->opset >= 13 ? -1 : 1;
        if (x->ndim == 0)
            return cvm_node_error(c->node, CVM_E_SHAPE, "input must have rank >= 1");
        CVM_TRY(cvm_norm_axis(cvm_attr_int(c->node, "axis", def), x->ndim, op, &a));
    }
    same_as_input(c, 0, 0);
    return CVM_OK;
}

/* ----------------------------------------------------------- products */

static cvm_status infer_gemm(const cvm_infer_ctx *c)
{
    const cvm_tensor *a = c->in[0], *b = c->in[1];
    const cvm_tensor *cc = c->n_in > 2 ? c->in[2] : NULL;
    char sa[128], sb[128], scc[128];
    if (a->dtype != b->dtype || (cc && cc->dtype != a->dtype))
        return cvm_node_error(c->node, CVM_E_TYPE, "inputs have types %s, %s%s%s", cvm_dtype_name(a->dtype),
                              cvm_dtype_name(b->dtype), cc ? ", " : "", cc ? cvm_dtype_name(cc->dtype) : "");
    if (a->ndim != 2 || b->ndim != 2)
        return cvm_node_error(c->node, CVM_E_SHAPE, "A %s and B %s must be matrices", SHP(a, sa),
                              SHP(b, sb));
    int ta = cvm_attr_int(c->node, "transA", 0) != 0, tb = cvm_attr_int(c->node, "transB", 0) != 0;
    int64_t M = ta ? a->dims[1] : a->dims[0], K = ta ? a->dims[0] : a->dims[1];
    int64_t K2 = tb ? b->dims[1] : b->dims[0], N = tb ? b->dims[0] : b->dims[1];
    if (K != K2)
        return cvm_node_error(c->node, CVM_E_SHAPE, "A %s (transA=%d) and B %s (transB=%d) disagree on K",
                              SHP(a, sa), ta, SHP(b, sb), tb);
    int64_t od[2] = {M, N};
    if (cc && !broadcasts_to(cc, 2, od))
        return cvm_node_error(c->node, CVM_E_SHAPE, "C %s does not broadcast to [%lld,%lld]",
                              SHP(cc, scc), (long long)M, (long long)N);
    cvm_set_shape(c->out[0], a->dtype, 2, od);
    return CVM_OK;
}

static cvm_status infer_matmul(const cvm_infer_ctx *c)
{
    const cvm_tensor *a = c->in[0], *b = c->in[1];
    char sa[128], sb[128];
    if (a->dtype != b->dtype)
        return cvm_node_error(c->node, CVM_E_TYPE, "inputs have types %s and %s",
                              cvm_dtype_name(a->dtype), cvm_dtype_name(b->dtype));
    if (a->ndim < 1 || b->ndim < 1)
        return cvm_node_error(c->node, CVM_E_SHAPE, "operands %s and %s must have rank >= 1",
                              SHP(a, sa), SHP(b, sb));
    int64_t ka = a->dims[a->ndim - 1];
    int64_t kb = b->ndim == 1 ? b->dims[0] : b->dims[b->ndim - 2];
    if (ka != kb)
        return cvm_node_error(c->node, CVM_E_SHAPE, "operands %s and %s disagree on K (%lld vs %lld)",
                              SHP(a, sa), SHP(b, sb), (long long)ka, (long long)kb);
    int nba = a->ndim > 2 ? a->ndim - 2 : 0, nbb = b->ndim > 2 ? b->ndim - 2 : 0;
    int64_t bd[CVM_MAX_DIMS];
    int nb = 0;
    cvm_status s = cvm_broadcast_shape(nba, a->dims, nbb, b->dims, &nb, bd);
    if (s != CVM_OK)
        return cvm_node_error(c->node, CVM_E_SHAPE, "batch dims of %s and %s do not broadcast",
                              SHP(a, sa), SHP(b, sb));
    int64_t od[CVM_MAX_DIMS];
    int n = 0;
    for (int i = 0; i < nb; i++)
        od[n++] = bd[i];
    if (a->ndim >= 2)
        od[n++] = a->dims[a->ndim - 2];
    if (b->ndim >= 2)
        od[n++] = b->dims[b->ndim - 1];
    cvm_set_shape(c->out[0], a->dtype, n, od);
    return CVM_OK;
}

/* -------------------------------------------------------------- einsum */

static int letter_id(char ch)
{
    if (ch >= 'a' && ch <= 'z')
        return ch - 'a';
    if (ch >= 'A' && ch <= 'Z')
        return 26 + ch - 'A';
    return -1;
}

cvm_status cvm_einsum_parse(const cvm_node *n, int n_in, const cvm_tensor *const *in, cvm_einsum *e)
{
    const char *eq = cvm_attr_string(n, "equation", NULL);
    if (!eq)
        return cvm_node_error(n, CVM_E_SHAPE, "attribute equation is required");
    if (n_in < 1 || n_in > CVM_EINSUM_MAX_IN)
        return cvm_node_error(n, CVM_E_UNSUPPORTED, "%d operands; 1 to %d are supported", n_in,
                              CVM_EINSUM_MAX_IN);
    memset(e, 0, sizeof *e);
    e->n_in = n_in;
    for (int i = 0; i < CVM_EINSUM_MAX_LABELS; i++)
        e->dim[i] = -1;
    int count[CVM_EINSUM_MAX_LABELS] = {0};
    int max_ell = 0, any_ell = 0;
    const char *p = eq;
    int term = 0;
    /* Pass 1: the input terms. */
    for (;;) {
        if (term >= n_in)
            return cvm_node_error(n, CVM_E_SHAPE, "equation '%s' has more terms than the %d inputs", eq,
                                  n_in);
        const cvm_tensor *t = in[term];
        if (!t)
            return cvm_node_error(n, CVM_E_SHAPE, "operand %d is missing", term);
        int letters[CVM_MAX_DIMS + 1], nl = 0, ell_pos = -1;
        while (*p && *p != ',' && *p != '-') {
            if (*p == ' ') {
                p++;
                continue;
            }
            if (*p == '.') {
                if (strncmp(p, "...", 3) != 0 || ell_pos >= 0)
                    return cvm_node_error(n, CVM_E_SHAPE, "equation '%s' has a malformed ellipsis", eq);
                ell_pos = nl;
                p += 3;
                continue;
            }
            int id = letter_id(*p);
            if (id < 0)
                return cvm_node_error(n, CVM_E_SHAPE, "equation '%s' has invalid character '%c'", eq, *p);
            if (nl >= t->ndim)
                return cvm_node_error(n, CVM_E_SHAPE, "term %d of '%s' has more labels than the rank %d "
                                      "of its operand", term, eq, t->ndim);
            letters[nl++] = id;
            p++;
        }
        int ell = t->ndim - nl;
        if (ell < 0 || (ell > 0 && ell_pos < 0)) {
            char st[128];
            return cvm_node_error(n, CVM_E_SHAPE, "term %d of '%s' does not match operand shape %s",
                                  term, eq, SHP(t, st));
        }
        if (ell_pos >= 0) {
            any_ell = 1;
            if (ell > max_ell)
                max_ell = ell;
        }
        e->rank[term] = t->ndim;
        int ax = 0;
        for (int i = 0; i <= nl; i++) {
            if (i == ell_pos)
                for (int j = 0; j < ell; j++)
                    e->label[term][ax++] = -1 - j; /* resolved once max_ell is known */
            if (i < nl)
                e->label[term][ax++] = letters[i];
        }
        e->rank[term] = ax;
        term++;
        if (*p == ',') {
            p++;
            continue;
        }
        break;
    }
    if (term != n_in)
        return cvm_node_error(n, CVM_E_SHAPE, "equation '%s' has %d terms for %d inputs", eq, term, n_in);
    /* Resolve ellipsis axes to right-aligned ids and collect extents. */
    for (int t = 0; t < n_in; t++) {
        int ell = 0;
        for (int a = 0; a < e->rank[t]; a++)
            if (e->label[t][a] < 0)
                ell++;
        for (int a = 0; a < e->rank[t]; a++) {
            int id = e->label[t][a];
            if (id < 0)
                id = e->label[t][a] = 52 + (max_ell - ell) + (-1 - id);
            int64_t d = in[t]->dims[a];
            if (e->dim[id] < 0 || e->dim[id] == 1)
                e->dim[id] = d;
            else if (d != e->dim[id] && !(id >= 52 && d == 1)) {
                char st[128];
                return cvm_node_error(n, CVM_E_SHAPE, "label extent mismatch in '%s': operand %d %s has "
                                      "%lld where %lld was seen", eq, t, SHP(in[t], st), (long long)d,
                                      (long long)e->dim[id]);
            }
            count[id]++;
        }
    }
    /* The output term. */
    while (*p == ' ')
        p++;
    if (*p == '-') {
        if (p[1] != '>')
            return cvm_node_error(n, CVM_E_SHAPE, "equation '%s' is malformed", eq);
        p += 2;
        int seen[CVM_EINSUM_MAX_LABELS] = {0};
        for (; *p; p++) {
            if (*p == ' ')
                continue;
            if (*p == '.') {
                if (strncmp(p, "...", 3) != 0)
                    return cvm_node_error(n, CVM_E_SHAPE, "equation '%s' has a malformed ellipsis", eq);
                for (int j = 0; j < max_ell; j++) {
                    if (e->out_rank >= CVM_MAX_DIMS)
                        return cvm_node_error(n, CVM_E_SHAPE, "output of '%s' has too many dims", eq);
                    e->out_label[e->out_rank++] = 52 + j;
                }
                p += 2;
                continue;
            }
            int id = letter_id(*p);
            if (id < 0 || count[id] == 0 || seen[id])
                return cvm_node_error(n, CVM_E_SHAPE, "output label '%c' of '%s' is invalid, unknown "
                                      "or repeated", *p, eq);
            seen[id] = 1;
            if (e->out_rank >= CVM_MAX_DIMS)
                return cvm_node_error(n, CVM_E_SHAPE, "output of '%s' has too many dims", eq);
            e->out_label[e->out_rank++] = id;
        }
    } else if (*p) {
        return cvm_node_error(n, CVM_E_SHAPE, "equation '%s' is malformed", eq);
    } else {
        /* Implicit output: the ellipsis, then labels used once, in ASCII order. */
        (void)any_ell;
        for (int j = 0; j < max_ell; j++)
            e->out_label[e->out_rank++] = 52 + j;
        for (int id = 26; id < 52; id++)
            if (count[id] == 1 && e->out_rank < CVM_MAX_DIMS)
                e->out_label[e->out_rank++] = id;
        for (int id = 0; id < 26; id++)
            if (count[id] == 1 && e->out_rank < CVM_MAX_DIMS)
                e->out_label[e->out_rank++] = id;
    }
    return CVM_OK;
}

static cvm_status infer_einsum(const cvm_infer_ctx *c)
{
    cvm_einsum e;
    for (int i = 1; i < c->n_in; i++)
        if (c->in[i] && c->in[i]->dtype != c->in[0]->dtype)
            return cvm_node_error(c->node, CVM_E_TYPE, "operands have types %s and %s",
                                  cvm_dtype_name(c->in[0]->dtype), cvm_dtype_name(c->in[i]->dtype));
    CVM_TRY(cvm_einsum_parse(c->node, c->n_in, c->in, &e));
    int64_t od[CVM_MAX_DIMS];
    for (int i = 0; i < e.out_rank; i++)
        od[i] = e.dim[e.out_label[i]];
    cvm_set_shape(c->out[0], c->in[0]->dtype, e.out_rank, od);
    return CVM_OK;
}

/* ------------------------------------------------------------- dropout */

static cvm_status infer_dropout(const cvm_infer_ctx *c)
{
    const cvm_tensor *x = c->in[0];
    same_as_input(c, 0, 0);
    if (c->n_out > 1 && c->out[1])
        cvm_set_shape(c->out[1], c->opset >= 10 ? CVM_DTYPE_BOOL : x->dtype, x->ndim, x->dims);
    return CVM_OK;
}

const cvm_op_schema cvm_schemas_nn[] = {
    {"", "Conv", 2, 3, 1, 1, infer_conv, 0},
    {"", "ConvTranspose", 2, 3, 1, 1, infer_convtranspose, 0},
    {"", "MaxPool", 1, 1, 1, 2, infer_pool, 0},
    {"", "AveragePool", 1, 1, 1, 1, infer_pool, 0},
    {"", "LpPool", 1, 1, 1, 1, infer_pool, 0},
    {"", "GlobalAveragePool", 1, 1, 1, 1, infer_global_pool, 0},
    {"", "GlobalMaxPool", 1, 1, 1, 1, infer_global_pool, 0},
    {"", "GlobalLpPool", 1, 1, 1, 1, infer_global_pool, 0},
    {"", "BatchNormalization", 5, 5, 1, 5, infer_batchnorm, 0},
    {"", "InstanceNormalization", 3, 3, 1, 1, infer_instancenorm, 0},
    {"", "LayerNormalization", 2, 3, 1, 3, infer_layernorm, 0},
    {"", "GroupNormalization", 3, 3, 1, 1, infer_groupnorm, 0},
    {"", "LpNormalization", 1, 1, 1, 1, infer_same_float_axis, 0},
    {"", "LRN", 1, 1, 1, 1, infer_same_float_axis, 0},
    {"", "Gemm", 2, 3, 1, 1, infer_gemm, 0},
    {"", "MatMul", 2, 2, 1, 1, infer_matmul, 0},
    {"", "Einsum", 1, -1, 1, 1, infer_einsum, 0},
    {"", "Softmax", 1, 1, 1, 1, infer_same_float_axis, 0},
    {"", "LogSoftmax", 1, 1, 1, 1, infer_same_float_axis, 0},
    {"", "Hardmax", 1, 1, 1, 1, infer_same_float_axis, 0},
    {"", "Dropout", 1, 3, 1, 2, infer_dropout, 0},
    {0},
};
